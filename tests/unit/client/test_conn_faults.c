/*
 * The engine's connection errors, each met through the real kernel rather
 * than a switch in the product: a registry whose accept queue is full (its
 * SYNs dropped, so the connect never completes), a registry that resets
 * the connection between two writes, a registry that never answers the
 * deregistration at stop or goes away during it, a token the registry
 * refuses, a registry address no route reaches; and a process that cannot
 * open another file or start another thread when the engine starts.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "client/reg.h"
#include "client_fixture.h"
#include "roster/client.h"

/* ---- a registry whose SYNs are dropped ------------------------------------ */

struct conn_count {
	unsigned connected, disconnected;
};

static void conn_count_cb(const struct roster_event *ev, void *ud)
{
	struct conn_count *n = ud;
	n->connected += ev->kind == ROSTER_EVENT_CONNECTED ? 1 : 0;
	n->disconnected += ev->kind == ROSTER_EVENT_DISCONNECTED ? 1 : 0;
}

/* A listener with a backlog of 0 and one connection waiting in it: Linux
 * drops every further SYN while the queue is full (the client's connect
 * neither succeeds nor fails, it retransmits, 1 s later at the earliest). */
static int full_listener(int *port, int *filler)
{
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(ls, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(ls, 0), 0);
	socklen_t len = sizeof(sa);
	cr_assert_eq(getsockname(ls, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	*filler = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(*filler, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return ls;
}

static void loop_close_all(uv_loop_t *loop)
{
	uv_run(loop, UV_RUN_DEFAULT);
	cr_expect_eq(uv_loop_close(loop), 0, "every handle closed");
}

Test(conn_faults, a_connect_never_answered_is_abandoned_at_the_timeout_and_retried)
{
	int port, filler;
	int ls = full_listener(&port, &filler);
	char server[32];
	snprintf(server, sizeof(server), "127.0.0.1:%d", port);
	const char *servers[] = {server};
	struct conn_count n = {0};
	struct roster_config cfg = {.servers = servers,
			.n_servers = 1,
			.timeout_ms = 100,
			.backoff_min_ms = 10,
			.backoff_max_ms = 30,
			.event_cb = conn_count_cb,
			.event_ud = &n};
	struct roster_client *c = NULL;
	cr_assert_eq(roster_client_new(&cfg, &c), 0);
	uv_loop_t loop;
	cr_assert_eq(uv_loop_init(&loop), 0);
	cr_assert_eq(roster_client_start_loop(c, &loop), 0);

	/* 900 ms: no SYN is answered, each attempt is given up after 100 ms
	 * and a new one made after the backoff (10-30 ms). */
	mock_run_for(&loop, 900);
	struct reg *r = &c->engine->regs[0];
	cr_expect_eq(n.connected, 0);
	cr_expect_geq(r->backoff.attempt, 4, "attempts given up in 900 ms: %u", r->backoff.attempt);
	cr_expect_neq(r->state, REG_CONNECTED);

	/* Room in the queue: the next attempt, not a SYN retransmitted a
	 * second later, connects. */
	int taken = accept(ls, NULL, NULL);
	cr_assert_geq(taken, 0);
	uint64_t t0 = uv_now(&loop);
	mock_run_until(&loop, &n.connected, 1, 900);
	cr_expect_lt(uv_now(&loop) - t0, 900);

	roster_client_stop(c);
	loop_close_all(&loop);
	roster_client_free(c);
	close(taken);
	close(filler);
	close(ls);
}

Test(conn_faults, a_registry_address_no_route_reaches_is_retried_quietly)
{
	/* A multicast address: connect() fails at once (ENETUNREACH). */
	const char *servers[] = {"224.0.0.1:7600"};
	struct conn_count n = {0};
	struct roster_config cfg = {.servers = servers,
			.n_servers = 1,
			.timeout_ms = 100,
			.backoff_min_ms = 10,
			.backoff_max_ms = 30,
			.event_cb = conn_count_cb,
			.event_ud = &n};
	struct roster_client *c = NULL;
	cr_assert_eq(roster_client_new(&cfg, &c), 0);
	uv_loop_t loop;
	cr_assert_eq(uv_loop_init(&loop), 0);
	cr_assert_eq(roster_client_start_loop(c, &loop), 0);
	mock_run_for(&loop, 300);
	cr_expect_eq(n.connected + n.disconnected, 0, "never connected, so never lost");
	cr_expect_geq(c->engine->regs[0].backoff.attempt, 3);
	roster_client_stop(c);
	loop_close_all(&loop);
	roster_client_free(c);
}

/* ---- a reset between two writes ------------------------------------------- */

/* When the lease is granted, the registry resets the connection (SO_LINGER
 * 0, then close: an RST at once); the engine's next write, the Register
 * sent in the same callback, meets the reset. */
static void reset_at_lease_cb(const struct roster_event *ev, void *ud)
{
	struct client_fixture *f = ud;
	if (ev->kind != ROSTER_EVENT_LEASE || f->n.lease != 1) {
		return;
	}
	for (size_t i = 0; i < MOCK_REGISTRY_MAX_CONNS; i++) {
		struct mock_registry_conn *mc = &f->m.conns[i];
		uv_os_fd_t fd;
		if (mc->open == 1 && uv_fileno((uv_handle_t *)&mc->tcp, &fd) == 0) {
			struct linger lg = {.l_onoff = 1, .l_linger = 0};
			cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
		}
	}
	mock_registry_drop_connections(&f->m);
}

Test(conn_faults, a_reset_between_two_writes_reconnects_and_registers)
{
	struct client_fixture f;
	client_fixture_start(&f, &(struct client_fixture_opts){
						 .on_event = reset_at_lease_cb, .on_event_ud = &f});
	mock_run_until(&f.loop, &f.n.registered, 1, 3000);
	cr_expect_eq(f.n.disconnected, 1);
	cr_expect(strstr(f.n.disconnect_msg, "reset") != NULL ||
					strstr(f.n.disconnect_msg, "broken pipe") != NULL,
			"DISCONNECTED says why: '%s'", f.n.disconnect_msg);
	cr_expect_eq(f.n.connected, 2);
	cr_expect_eq(f.m.opens, 1, "the lease survived the reset");
	client_fixture_stop(&f);
}

/* ---- the deregistration at stop -------------------------------------------- */

static void stop_without_fixture_expectations(struct client_fixture *f)
{
	mock_registry_stop(&f->m);
	loop_close_all(&f->loop);
	roster_client_free(f->c);
}

Test(conn_faults, a_deregistration_never_answered_ends_at_the_timeout)
{
	struct client_fixture f;
	client_fixture_start(&f, &(struct client_fixture_opts){.timeout_ms = 200});
	mock_run_until(&f.loop, &f.n.registered, 1, 3000);
	f.m.park = MOCK_PARK(ROSTER__V1__REQUEST__OP_DEREGISTER);
	uint64_t t0 = uv_now(&f.loop);
	roster_client_stop(f.c);
	while (!f.c->engine->closed && uv_now(&f.loop) - t0 < 2000) {
		mock_run_for(&f.loop, 10);
	}
	uint64_t took = uv_now(&f.loop) - t0;
	cr_expect(f.c->engine->closed, "closed after the timeout");
	cr_expect_geq(took, 190, "not before the timeout: %llu ms", (unsigned long long)took);
	cr_expect_lt(took, 1000, "closed in %llu ms", (unsigned long long)took);
	cr_expect_eq(f.n.deregistered, 0, "never confirmed");
	stop_without_fixture_expectations(&f);
}

Test(conn_faults, a_registry_lost_during_the_deregistration_ends_the_stop_at_once)
{
	struct client_fixture f;
	client_fixture_start(&f, &(struct client_fixture_opts){.timeout_ms = 5000});
	mock_run_until(&f.loop, &f.n.registered, 1, 3000);
	f.m.park = MOCK_PARK(ROSTER__V1__REQUEST__OP_DEREGISTER);
	roster_client_stop(f.c);
	while (f.m.n_parked == 0) {
		mock_run_for(&f.loop, 10);
	}
	uint64_t t0 = uv_now(&f.loop);
	mock_registry_drop_connections(&f.m);
	while (!f.c->engine->closed && uv_now(&f.loop) - t0 < 3000) {
		mock_run_for(&f.loop, 10);
	}
	cr_expect(f.c->engine->closed);
	cr_expect_lt(uv_now(&f.loop) - t0, 1000, "not the 5 s timeout");
	cr_expect_eq(f.n.disconnected, 0, "a stopping client reports no disconnection");
	stop_without_fixture_expectations(&f);
}

/* ---- tokens ------------------------------------------------------------------ */

struct auth_seen {
	unsigned authenticates;
	char token[32];
	int refuse;
};

static int auth_hook(struct mock_registry_conn *mc, const Roster__V1__Request *rq, void *ud)
{
	struct auth_seen *a = ud;
	if (rq->op_case != ROSTER__V1__REQUEST__OP_AUTHENTICATE) {
		return 0;
	}
	a->authenticates++;
	snprintf(a->token, sizeof(a->token), "%s", rq->authenticate->token);
	if (!a->refuse) {
		return 0; /* the default: UNSUPPORTED, a registry from before tokens */
	}
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	r.id = rq->id;
	r.error = ROSTER__V1__ERROR_CODE__PERMISSION_DENIED;
	r.message = "token refused";
	mock_registry_send(mc, &r);
	return 1;
}

Test(conn_faults, a_token_is_sent_first_and_unsupported_is_ignored)
{
	struct auth_seen a = {0};
	struct mock_registry_ops ops = {.request = auth_hook};
	struct client_fixture f;
	client_fixture_start(&f,
			&(struct client_fixture_opts){.token = "t-secret", .ops = &ops, .ud = &a});
	mock_run_until(&f.loop, &f.n.registered, 1, 3000);
	cr_expect_eq(a.authenticates, 1);
	cr_expect_str_eq(a.token, "t-secret");
	cr_expect_eq(f.n.failed, 0);
	client_fixture_stop(&f);
}

Test(conn_faults, a_refused_token_is_reported_once)
{
	struct auth_seen a = {.refuse = 1};
	struct mock_registry_ops ops = {.request = auth_hook};
	struct client_fixture f;
	client_fixture_start(
			&f, &(struct client_fixture_opts){.token = "bad", .ops = &ops, .ud = &a});
	mock_run_until(&f.loop, &f.n.failed, 1, 3000);
	cr_expect_eq(f.n.failed_error, ROSTER_EPERM);
	cr_expect_str_eq(f.n.failed_host, "", "no endpoint: the token was refused");
	/* The mock serves what follows anyway (it checks no scope): the
	 * refusal is said once, not turned into a disconnection. */
	mock_run_until(&f.loop, &f.n.registered, 1, 3000);
	cr_expect_eq(f.n.failed, 1);
	cr_expect_eq(f.n.disconnected, 0);
	client_fixture_stop(&f);
}

/* ---- a process out of files or threads ---------------------------------------- */

Test(conn_faults, start_without_a_free_file_descriptor_fails_and_can_be_retried)
{
	struct roster_client *c = NULL;
	cr_assert_eq(roster_client_new(NULL, &c), 0);
	struct rlimit old;
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	int lowest = dup(0);
	cr_assert_geq(lowest, 0);
	close(lowest);
	/* No descriptor at or above the lowest free one: none at all. */
	struct rlimit tight = {.rlim_cur = (rlim_t)lowest, .rlim_max = old.rlim_max};
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &tight), 0);
	int rc = roster_client_start(c);
	struct roster_list *l = NULL;
	int lrc = roster_list(c, &l);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	cr_expect_eq(rc, -EMFILE, "start: %d", rc);
	cr_expect_eq(lrc, ROSTER_EUNREACHABLE, "a one-shot call cannot open its socket");
	cr_expect(strstr(roster_errmsg(), "127.0.0.1:7600") != NULL, "%s", roster_errmsg());
	cr_expect_null(c->engine, "nothing left started");
	cr_expect_eq(roster_client_start(c), 0, "started once files are free");
	roster_client_free(c);
}

Test(conn_faults, start_without_a_thread_fails_and_can_be_retried)
{
	struct roster_client *c = NULL;
	cr_assert_eq(roster_client_new(NULL, &c), 0);
	pthread_attr_t old, huge;
	cr_assert_eq(pthread_getattr_default_np(&old), 0);
	cr_assert_eq(pthread_attr_init(&huge), 0);
	/* A stack no machine here can map: pthread_create() fails (EAGAIN). */
	cr_assert_eq(pthread_attr_setstacksize(&huge, (size_t)1 << 46), 0);
	cr_assert_eq(pthread_setattr_default_np(&huge), 0);
	int rc = roster_client_start(c);
	cr_assert_eq(pthread_setattr_default_np(&old), 0);
	pthread_attr_destroy(&huge);
	pthread_attr_destroy(&old);
	cr_expect(rc == -EAGAIN || rc == -ENOMEM, "start: %d", rc);
	cr_expect_null(c->engine, "the loop was closed and freed");
	cr_expect_eq(roster_client_start(c), 0, "started once threads can be made");
	roster_client_free(c);
}

/* ---- a response larger than one read ------------------------------------------ */

static int big_heartbeat_hook(
		struct mock_registry_conn *mc, const Roster__V1__Request *rq, void *ud)
{
	char *msg = ud;
	if (rq->op_case != ROSTER__V1__REQUEST__OP_HEARTBEAT) {
		return 0;
	}
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	Roster__V1__HeartbeatResponse hb = ROSTER__V1__HEARTBEAT_RESPONSE__INIT;
	r.id = rq->id;
	hb.ttl_seconds = 1;
	hb.instances = 1;
	r.result_case = ROSTER__V1__RESPONSE__RESULT_HEARTBEAT;
	r.heartbeat = &hb;
	r.message = msg; /* 100 KiB: the frame spans several 16 KiB reads */
	mock_registry_send(mc, &r);
	return 1;
}

Test(conn_faults, a_response_spanning_several_reads_is_put_back_together)
{
	size_t len = 100 * 1024;
	char *msg = malloc(len + 1);
	cr_assert_not_null(msg);
	memset(msg, 'm', len);
	msg[len] = '\0';
	struct mock_registry_ops ops = {.request = big_heartbeat_hook};
	struct client_fixture f;
	client_fixture_start(&f, &(struct client_fixture_opts){.ops = &ops, .ud = msg});
	mock_run_until(&f.loop, &f.n.heartbeat, 3, 3000);
	cr_expect_eq(f.n.disconnected, 0);
	client_fixture_stop(&f);
	free(msg);
}
