/*
 * libroster's one-shot calls (client/sync.c behind roster_query(),
 * roster_list(), roster_stats()) under allocation failures
 * (tests/faults/allocfail.h), against a registry that answers: each
 * allocation from the request's frame to the answer's last string fails
 * once in turn. One-shot writes go to two such registries. The call must give ROSTER_ENOMEM naming
 * the shortage, not blame the registry ("no registry answered", a protocol error) nor serve a stale
 * copy in its place, leak nothing (ASan), and succeed whole once memory returns. A Query's answer
 * is larger than one read, so the frame decoder's own buffer is among the allocations.
 *
 * The registry is a plain blocking thread in this process: it answers each
 * request from protobuf-c's own allocator and the stack, never through the
 * wrapped malloc(), so only the client's allocations count.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "allocfail.h"
#include "proto/roster.pb-c.h"
#include "roster/client.h"

#define MAX_K 600
#define N_INSTANCES 24
#define BIG_VALUE 1200 /* 24 x 1.2 KiB: an answer over one 16 KiB read */
#define WRITE_REVISION 43

/* How a registry thread treats each connection. */
enum registry_mode {
	SERVE,         /* answer every request */
	TURN_AWAY,     /* rosterd over its caps: an error of id 0, then close */
	HANG_UP_TOKEN, /* close on reading an Authenticate, unanswered */
	STRAY_FIRST,   /* a frame of id 0 and no error before each answer */
};

struct registry {
	int lfd, stop[2], port;
	enum registry_mode mode;
	pthread_t th;
};

static bool read_all(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r <= 0) {
			return false;
		}
		p += r;
		n -= (size_t)r;
	}
	return true;
}

static bool write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0) {
			return false;
		}
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static char big_value[BIG_VALUE + 1];

static void answer(int fd, const Roster__V1__Request *rq)
{
	static uint8_t out[65536];
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	Roster__V1__QueryResponse q = ROSTER__V1__QUERY_RESPONSE__INIT;
	Roster__V1__Instance in[N_INSTANCES], *ins[N_INSTANCES];
	char hosts[N_INSTANCES][32];
	char *addrs[] = {"192.0.2.1", "2001:db8::1"};
	Roster__V1__Instance__MetadataEntry kv = ROSTER__V1__INSTANCE__METADATA_ENTRY__INIT;
	Roster__V1__Instance__MetadataEntry *meta[] = {&kv};
	Roster__V1__ListResponse l = ROSTER__V1__LIST_RESPONSE__INIT;
	Roster__V1__ServiceSummary sv[2] = {
			ROSTER__V1__SERVICE_SUMMARY__INIT, ROSTER__V1__SERVICE_SUMMARY__INIT};
	Roster__V1__ServiceSummary *svs[] = {&sv[0], &sv[1]};
	Roster__V1__StatsResponse st = ROSTER__V1__STATS_RESPONSE__INIT;
	Roster__V1__RegisterResponse rg = ROSTER__V1__REGISTER_RESPONSE__INIT;
	Roster__V1__DeregisterResponse dr = ROSTER__V1__DEREGISTER_RESPONSE__INIT;
	Roster__V1__SetStatusResponse ss = ROSTER__V1__SET_STATUS_RESPONSE__INIT;
	r.id = rq->id;
	switch (rq->op_case) {
	case ROSTER__V1__REQUEST__OP_REGISTER:
		rg.revision = WRITE_REVISION;
		r.result_case = ROSTER__V1__RESPONSE__RESULT_REGISTER;
		r.register_ = &rg;
		break;
	case ROSTER__V1__REQUEST__OP_DEREGISTER:
		dr.revision = WRITE_REVISION;
		dr.removed = 1;
		r.result_case = ROSTER__V1__RESPONSE__RESULT_DEREGISTER;
		r.deregister = &dr;
		break;
	case ROSTER__V1__REQUEST__OP_SET_STATUS:
		ss.revision = WRITE_REVISION;
		r.result_case = ROSTER__V1__RESPONSE__RESULT_SET_STATUS;
		r.set_status = &ss;
		break;
	case ROSTER__V1__REQUEST__OP_QUERY:
		kv.key = "blob";
		kv.value = big_value;
		for (size_t i = 0; i < N_INSTANCES; i++) {
			in[i] = (Roster__V1__Instance)ROSTER__V1__INSTANCE__INIT;
			snprintf(hosts[i], sizeof(hosts[i]), "web%zu.example.net.", i);
			in[i].service = "web";
			in[i].protocol = "http";
			in[i].host = hosts[i];
			in[i].port = 80;
			in[i].status = ROSTER__V1__STATUS__UP;
			in[i].n_addresses = 2;
			in[i].addresses = addrs;
			in[i].n_metadata = 1;
			in[i].metadata = meta;
			ins[i] = &in[i];
		}
		q.n_instances = N_INSTANCES;
		q.instances = ins;
		q.revision = 42;
		r.result_case = ROSTER__V1__RESPONSE__RESULT_QUERY;
		r.query = &q;
		break;
	case ROSTER__V1__REQUEST__OP_LIST:
		sv[0].service = "web";
		sv[0].protocol = "http";
		sv[0].up = 3;
		sv[1].service = "db";
		sv[1].protocol = "tcp";
		sv[1].down = 1;
		l.n_services = 2;
		l.services = svs;
		l.revision = 42;
		r.result_case = ROSTER__V1__RESPONSE__RESULT_LIST;
		r.list = &l;
		break;
	case ROSTER__V1__REQUEST__OP_STATS:
		st.revision = 42;
		st.site = "lon6";
		st.domain = "example.net";
		st.zone = "services.lon6.example.net.";
		r.result_case = ROSTER__V1__RESPONSE__RESULT_STATS;
		r.stats = &st;
		break;
	default:
		r.error = ROSTER__V1__ERROR_CODE__UNSUPPORTED;
		break;
	}
	size_t n = roster__v1__response__get_packed_size(&r);
	cr_assert_leq(n + 4, sizeof(out));
	out[0] = (uint8_t)(n >> 24);
	out[1] = (uint8_t)(n >> 16);
	out[2] = (uint8_t)(n >> 8);
	out[3] = (uint8_t)n;
	roster__v1__response__pack(&r, out + 4);
	(void)write_all(fd, out, n + 4);
}

/* An error of id 0 (@p stray: none, only the id). */
static void send_id_zero(int fd, bool stray)
{
	uint8_t out[256];
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	if (!stray) {
		r.error = ROSTER__V1__ERROR_CODE__UNAVAILABLE;
		r.message = "too many connections";
	} else {
		r.message = "stray";
	}
	size_t n = roster__v1__response__get_packed_size(&r);
	cr_assert_leq(n + 4, sizeof(out));
	out[0] = out[1] = out[2] = 0;
	out[3] = (uint8_t)n;
	roster__v1__response__pack(&r, out + 4);
	(void)write_all(fd, out, n + 4);
}

static void serve_conn(const struct registry *g, int fd)
{
	static uint8_t body[65536];
	uint8_t hdr[4];
	while (read_all(fd, hdr, 4)) {
		size_t n = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 |
			   hdr[3];
		if (n > sizeof(body) || !read_all(fd, body, n)) {
			break;
		}
		Roster__V1__Request *rq = roster__v1__request__unpack(NULL, n, body);
		if (rq == NULL) {
			break;
		}
		if (g->mode == TURN_AWAY ||
				(g->mode == HANG_UP_TOKEN &&
						rq->op_case == ROSTER__V1__REQUEST__OP_AUTHENTICATE)) {
			if (g->mode == TURN_AWAY) {
				send_id_zero(fd, false);
			}
			roster__v1__request__free_unpacked(rq, NULL);
			break;
		}
		if (g->mode == STRAY_FIRST) {
			send_id_zero(fd, true);
		}
		answer(fd, rq);
		roster__v1__request__free_unpacked(rq, NULL);
	}
	close(fd);
}

static void *registry_main(void *arg)
{
	struct registry *g = arg;
	for (;;) {
		struct pollfd p[2] = {{.fd = g->lfd, .events = POLLIN},
				{.fd = g->stop[0], .events = POLLIN}};
		if (poll(p, 2, -1) < 0 || p[1].revents != 0) {
			return NULL;
		}
		int fd = accept(g->lfd, NULL, NULL);
		if (fd >= 0) {
			serve_conn(g, fd);
		}
	}
}

static void registry_start(struct registry *g)
{
	memset(big_value, 'x', BIG_VALUE);
	g->lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(g->lfd, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	cr_assert_eq(bind(g->lfd, (struct sockaddr *)&sa, len), 0);
	cr_assert_eq(listen(g->lfd, 8), 0);
	cr_assert_eq(getsockname(g->lfd, (struct sockaddr *)&sa, &len), 0);
	g->port = ntohs(sa.sin_port);
	cr_assert_eq(pipe(g->stop), 0);
	cr_assert_eq(pthread_create(&g->th, NULL, registry_main, g), 0);
}

static void registry_stop(struct registry *g)
{
	cr_assert_eq(write(g->stop[1], "x", 1), 1);
	pthread_join(g->th, NULL);
	close(g->lfd);
	close(g->stop[0]);
	close(g->stop[1]);
}

static struct registry reg, reg2;
static struct roster_client *client;
static char server[32], server2[32];

/* reg (and reg2 when @p nregs is 2) started in the modes they hold, and a
 * client of them, in that order, with @p token (or none). */
static void start_client(size_t nregs, const char *token)
{
	registry_start(&reg);
	snprintf(server, sizeof(server), "127.0.0.1:%d", reg.port);
	if (nregs == 2) {
		registry_start(&reg2);
		snprintf(server2, sizeof(server2), "127.0.0.1:%d", reg2.port);
	}
	const char *servers[] = {server, server2};
	struct roster_config cfg = {
			.servers = servers, .n_servers = nregs, .timeout_ms = 3000, .token = token};
	cr_assert_eq(roster_client_new(&cfg, &client), 0);
}

static void setup(void)
{
	start_client(1, NULL);
}

static void teardown(void)
{
	roster_client_free(client);
	registry_stop(&reg);
}

static void expect_query(const struct roster_result *r, size_t k)
{
	cr_assert_eq(r->n_instances, N_INSTANCES, "k=%zu", k);
	cr_expect_eq(r->revision, 42, "k=%zu", k);
	cr_expect_not(r->stale, "k=%zu", k);
	for (size_t i = 0; i < r->n_instances; i++) {
		const struct roster_instance *in = &r->instances[i];
		cr_expect_eq(in->n_addresses, 2, "k=%zu", k);
		cr_assert_eq(in->n_metadata, 1, "k=%zu", k);
		cr_expect_eq(strlen(in->metadata[0].value), BIG_VALUE, "k=%zu", k);
	}
}

/* A failed call: ENOMEM, the shortage named, nothing handed out. */
static void expect_enomem(int rc, const char *what, size_t k)
{
	cr_expect_eq(rc, ROSTER_ENOMEM, "%s k=%zu: rc %d (%s)", what, k, rc, roster_errmsg());
	cr_expect(strstr(roster_errmsg(), "out of memory") != NULL, "%s k=%zu: %s", what, k,
			roster_errmsg());
}

Test(sync_nomem, a_query_fails_whole_for_want_of_memory, .init = setup, .fini = teardown)
{
	size_t k, failed = 0;
	/* A copy in the cache first: a call short of memory must not serve it. */
	struct roster_result *r = NULL;
	cr_assert_eq(roster_query(client, "web", "http", 0, &r), 0);
	roster_result_free(r);
	for (k = 1; k < MAX_K; k++) {
		r = NULL;
		allocfail_arm(k);
		int rc = roster_query(client, "web", "http", 0, &r);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (rc == 0) {
			/* Only the cache's own copy may be short: best effort. */
			expect_query(r, k);
		} else {
			failed++;
			expect_enomem(rc, "query", k);
			cr_expect_null(r, "k=%zu", k);
		}
		roster_result_free(r);
		r = NULL;
		cr_assert_eq(roster_query(client, "web", "http", 0, &r), 0, "k=%zu: recovers", k);
		expect_query(r, k);
		roster_result_free(r);
		if (!struck) {
			break;
		}
	}
	cr_assert_lt(k, MAX_K);
	cr_expect_gt(failed, N_INSTANCES, "the answer allocates per instance: %zu", failed);
}

Test(sync_nomem, a_list_fails_whole_for_want_of_memory, .init = setup, .fini = teardown)
{
	size_t k;
	for (k = 1; k < MAX_K; k++) {
		struct roster_list *l = NULL;
		allocfail_arm(k);
		int rc = roster_list(client, &l);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (struck) {
			expect_enomem(rc, "list", k);
			cr_expect_null(l, "k=%zu", k);
		} else {
			cr_assert_eq(rc, 0, "%s", roster_errmsg());
		}
		roster_list_free(l);
		l = NULL;
		cr_assert_eq(roster_list(client, &l), 0, "k=%zu: recovers", k);
		cr_assert_eq(l->n_services, 2);
		cr_expect_str_eq(l->services[1].service, "db");
		cr_expect_str_eq(l->server, server);
		roster_list_free(l);
		if (!struck) {
			break;
		}
	}
	cr_assert_lt(k, MAX_K);
	cr_expect_gt(k, 2, "a list allocates: %zu", k);
}

/* roster_stats() with each allocation failing once in turn: ENOMEM when
 * one failed, whole after each. The number of allocations + 1. */
static size_t stats_under_failures(void)
{
	size_t k;
	for (k = 1; k < MAX_K; k++) {
		struct roster_stats s;
		allocfail_arm(k);
		int rc = roster_stats(client, &s);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (struck) {
			expect_enomem(rc, "stats", k);
		} else {
			cr_assert_eq(rc, 0, "%s", roster_errmsg());
		}
		cr_assert_eq(roster_stats(client, &s), 0, "k=%zu: recovers: %s", k,
				roster_errmsg());
		cr_expect_str_eq(s.zone, "services.lon6.example.net.");
		cr_expect_eq(s.revision, 42);
		if (!struck) {
			break;
		}
	}
	cr_assert_lt(k, MAX_K);
	return k;
}

Test(sync_nomem, stats_fail_whole_for_want_of_memory, .init = setup, .fini = teardown)
{
	size_t k = stats_under_failures();
	cr_expect_gt(k, 1, "stats allocate: %zu", k);
}

/*
 * One-shot writes (call_all()) to two registries, each allocation failing
 * once in turn. A shortage on the way to one registry makes that registry's
 * outcome UNREACHABLE carrying ROSTER_ENOMEM and its text (the
 * registry may or may not hold the change: here it does not), the other
 * APPLIED, the whole ROSTER_EPARTIAL with the first applied revision; a
 * shortage before any registry is asked is ROSTER_ENOMEM with no outcome.
 * Each time the same write succeeds whole after.
 */
static void setup2(void)
{
	start_client(2, NULL);
}

static void teardown2(void)
{
	roster_client_free(client);
	registry_stop(&reg);
	registry_stop(&reg2);
}

enum write_op { W_DEREGISTER, W_STATUS, W_PERMANENT };

static int do_write(enum write_op op, uint64_t *rev)
{
	static const char *addrs[] = {"192.0.2.7"};
	static const struct roster_meta md[] = {{.key = "blob", .value = big_value}};
	struct roster_instance in = {.service = "web",
			.protocol = "http",
			.host = "web7.example.net.",
			.port = 8080,
			.addresses = addrs,
			.n_addresses = 1,
			.metadata = md,
			.n_metadata = 1};
	switch (op) {
	case W_DEREGISTER:
		return roster_instance_deregister(client, &in, rev);
	case W_STATUS:
		return roster_instance_set_status(client, &in, ROSTER_DOWN, rev);
	default:
		return roster_instance_register_permanent(client, &in, rev);
	}
}

/* The failed registry's outcome: unreachable for want of memory. */
static void expect_short_outcome(const struct roster_outcome *o, size_t k)
{
	cr_expect_eq(o->kind, ROSTER_OUTCOME_UNREACHABLE, "k=%zu", k);
	cr_expect_eq(o->error, ROSTER_ENOMEM, "k=%zu: %d", k, o->error);
	cr_expect_str_eq(o->message, roster_strerror(ROSTER_ENOMEM), "k=%zu", k);
}

/* One write made with the @p k-th allocation failing. */
struct short_write {
	int rc;
	bool struck;  /* the allocation was made (and failed) */
	uint64_t rev; /* the revision it gave */
	const struct roster_outcome *o;
	size_t n; /* outcomes in o */
};

static struct short_write write_failing_at(enum write_op op, size_t k)
{
	struct short_write w = {.rev = 0};
	allocfail_arm(k);
	w.rc = do_write(op, &w.rev);
	w.struck = allocfail_struck();
	allocfail_disarm();
	w.n = roster_write_outcomes(&w.o);
	return w;
}

static void write_under_failures(enum write_op op, const char *what)
{
	size_t k, partial = 0;
	for (k = 1; k < MAX_K; k++) {
		struct short_write w = write_failing_at(op, k);
		if (w.rc == ROSTER_EPARTIAL) {
			partial++;
			cr_assert_eq(w.n, 2, "%s k=%zu", what, k);
			cr_expect_eq(w.rev, WRITE_REVISION, "%s k=%zu", what, k);
			int bad = w.o[0].kind == ROSTER_OUTCOME_APPLIED ? 1 : 0;
			cr_expect_eq(w.o[1 - bad].kind, ROSTER_OUTCOME_APPLIED, "%s k=%zu", what,
					k);
			cr_expect_eq(w.o[1 - bad].revision, WRITE_REVISION, "%s k=%zu", what, k);
			expect_short_outcome(&w.o[bad], k);
			cr_expect(strstr(roster_errmsg(), roster_strerror(ROSTER_ENOMEM)) != NULL,
					"%s k=%zu: %s", what, k, roster_errmsg());
			cr_expect(strstr(roster_errmsg(), bad == 0 ? server : server2) != NULL,
					"%s k=%zu: names the registry: %s", what, k,
					roster_errmsg());
		} else if (w.rc != 0) {
			/* Short before any registry was asked (the frame check). */
			expect_enomem(w.rc, what, k);
			cr_expect_eq(w.n, 0, "%s k=%zu", what, k);
		} else {
			cr_assert(!w.struck, "%s k=%zu: a shortage passed for success", what, k);
			cr_assert_eq(w.n, 2);
			cr_expect_eq(w.rev, WRITE_REVISION);
		}
		uint64_t again = 0;
		cr_assert_eq(do_write(op, &again), 0, "%s k=%zu: recovers: %s", what, k,
				roster_errmsg());
		cr_expect_eq(again, WRITE_REVISION);
		if (!w.struck) {
			break;
		}
	}
	cr_assert_lt(k, MAX_K);
	cr_expect_geq(partial, 2, "%s: each registry's exchange allocates: %zu", what, partial);
}

Test(sync_nomem, a_deregister_short_of_memory_is_partial, .init = setup2, .fini = teardown2)
{
	write_under_failures(W_DEREGISTER, "deregister");
}

Test(sync_nomem, a_status_short_of_memory_is_partial, .init = setup2, .fini = teardown2)
{
	write_under_failures(W_STATUS, "status");
}

Test(sync_nomem, a_permanent_register_short_of_memory_is_partial, .init = setup2, .fini = teardown2)
{
	write_under_failures(W_PERMANENT, "register");
}

/* One registry: a shortage there is ROSTER_EUNREACHABLE, its outcome says why. */
Test(sync_nomem, a_write_to_one_registry_short_of_memory_is_unreachable, .init = setup,
		.fini = teardown)
{
	size_t k;
	for (k = 1; k < MAX_K; k++) {
		struct short_write w = write_failing_at(W_STATUS, k);
		if (w.struck) {
			cr_expect_eq(w.rc, ROSTER_EUNREACHABLE, "k=%zu: %d (%s)", k, w.rc,
					roster_errmsg());
			cr_assert_eq(w.n, 1, "k=%zu", k);
			expect_short_outcome(&w.o[0], k);
			cr_expect_eq(w.rev, 0, "k=%zu: no revision without an applied write", k);
		} else {
			cr_assert_eq(w.rc, 0, "%s", roster_errmsg());
		}
		cr_assert_eq(do_write(W_STATUS, &w.rev), 0, "k=%zu: recovers", k);
		if (!w.struck) {
			break;
		}
	}
	cr_assert_lt(k, MAX_K);
	cr_expect_gt(k, 1, "a write allocates: %zu", k);
}

/*
 * Registries that do not answer the call: one turns every connection away
 * (an error of id 0, as rosterd over its caps), one hangs up on a token.
 */
static void start_two(enum registry_mode first, const char *token)
{
	reg.mode = first;
	reg2.mode = SERVE;
	start_client(2, token);
}

Test(sync_nomem, a_registry_turning_the_call_away_passes_it_to_the_next, .fini = teardown2)
{
	start_two(TURN_AWAY, NULL);
	struct roster_stats s;
	cr_assert_eq(roster_stats(client, &s), 0, "%s", roster_errmsg());
	cr_expect_str_eq(s.zone, "services.lon6.example.net.");
	struct roster_list *l = NULL;
	cr_assert_eq(roster_list(client, &l), 0, "%s", roster_errmsg());
	cr_expect_str_eq(l->server, server2, "answered by the second");
	roster_list_free(l);
	/* A write: not applied where it was turned away, nor said applied. */
	uint64_t rev = 0;
	cr_expect_eq(do_write(W_STATUS, &rev), ROSTER_EPARTIAL, "%s", roster_errmsg());
	cr_expect_eq(rev, WRITE_REVISION);
	const struct roster_outcome *o = NULL;
	cr_assert_eq(roster_write_outcomes(&o), 2);
	cr_expect_eq(o[0].kind, ROSTER_OUTCOME_UNREACHABLE);
	cr_expect_eq(o[0].error, ROSTER_EUNREACHABLE);
	cr_expect_eq(o[1].kind, ROSTER_OUTCOME_APPLIED);
}

Test(sync_nomem, a_registry_hanging_up_on_the_token_passes_it_to_the_next, .fini = teardown2)
{
	start_two(HANG_UP_TOKEN, "s3cret");
	struct roster_stats s;
	/* The second registry knows no Authenticate (UNSUPPORTED): no bar. */
	cr_assert_eq(roster_stats(client, &s), 0, "%s", roster_errmsg());
	cr_expect_eq(s.revision, 42);
	uint64_t rev = 0;
	cr_expect_eq(do_write(W_DEREGISTER, &rev), ROSTER_EPARTIAL, "%s", roster_errmsg());
	const struct roster_outcome *o = NULL;
	cr_assert_eq(roster_write_outcomes(&o), 2);
	cr_expect_eq(o[0].kind, ROSTER_OUTCOME_UNREACHABLE);
	cr_expect_eq(o[1].kind, ROSTER_OUTCOME_APPLIED);
}

/* With a token, the Authenticate's own frame is among the allocations. */
Test(sync_nomem, stats_with_a_token_fail_whole_for_want_of_memory, .fini = teardown)
{
	reg.mode = SERVE;
	start_client(1, "s3cret");
	size_t k = stats_under_failures();
	cr_expect_gt(k, 2, "the token's frame allocates too: %zu", k);
}

/* A frame of id 0 that carries no error is a stray, not a verdict: skipped. */
Test(sync_nomem, a_stray_frame_of_id_zero_is_skipped, .fini = teardown2)
{
	start_two(STRAY_FIRST, NULL);
	struct roster_list *l = NULL;
	cr_assert_eq(roster_list(client, &l), 0, "%s", roster_errmsg());
	cr_expect_str_eq(l->server, server, "answered by the first");
	cr_expect_eq(l->n_services, 2);
	roster_list_free(l);
	uint64_t rev = 0;
	cr_expect_eq(do_write(W_STATUS, &rev), 0, "%s", roster_errmsg());
	cr_expect_eq(rev, WRITE_REVISION);
}
