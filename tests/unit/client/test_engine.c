/*
 * The engine on a private loop against an in-process mock registry that
 * speaks the real frames: lease, heartbeats, re-registration after a lost
 * lease or a dropped connection, deregistration on stop. Callback counters,
 * and uv_loop_close() == 0 at the end of each test.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "mock_registry.h"
#include "roster/client.h"

struct counters {
	unsigned connected, disconnected, lease, lease_lost, registered, heartbeat, deregistered;
	uint64_t leases_seen[8];
	size_t n_leases_seen;
};

static void count_cb(const struct roster_event *ev, void *ud)
{
	struct counters *c = ud;
	switch (ev->kind) {
	case ROSTER_EVENT_CONNECTED:
		c->connected++;
		break;
	case ROSTER_EVENT_DISCONNECTED:
		c->disconnected++;
		break;
	case ROSTER_EVENT_LEASE:
		c->lease++;
		break;
	case ROSTER_EVENT_LEASE_LOST:
		c->lease_lost++;
		break;
	case ROSTER_EVENT_REGISTERED:
		c->registered++;
		cr_expect_str_eq(ev->endpoint->host, "web1.example.net");
		cr_expect_gt(ev->revision, 0);
		if (c->n_leases_seen < 8) {
			c->leases_seen[c->n_leases_seen++] = ev->lease;
		}
		break;
	case ROSTER_EVENT_HEARTBEAT:
		c->heartbeat++;
		break;
	case ROSTER_EVENT_DEREGISTERED:
		c->deregistered++;
		break;
	default:
		break;
	}
}

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

/* Run the loop until *flag >= want or @p ms pass. */
static void run_until(uv_loop_t *loop, const unsigned *flag, unsigned want, uint64_t ms)
{
	uv_timer_t tick;
	uv_timer_init(loop, &tick);
	uv_timer_start(&tick, tick_cb, 10, 10);
	uint64_t deadline = uv_now(loop) + ms;
	while (*flag < want && uv_now(loop) < deadline) {
		uv_run(loop, UV_RUN_ONCE);
	}
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	cr_assert_geq(*flag, want, "waited %llu ms for %u, have %u", (unsigned long long)ms, want,
			*flag);
}

struct fixture {
	uv_loop_t loop;
	struct mock_registry m;
	struct counters n;
	struct roster_client *c;
	char server[32];
};

static void setup_client(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	cr_assert_eq(uv_loop_init(&f->loop), 0);
	mock_registry_start(&f->loop, &f->m, NULL, NULL);
	snprintf(f->server, sizeof(f->server), "127.0.0.1:%d", f->m.port);
	const char *servers[] = {f->server};
	struct roster_config cfg = {.servers = servers, .n_servers = 1, .ttl_seconds = 1,
		.backoff_min_ms = 10, .backoff_max_ms = 50, .timeout_ms = 500,
		.event_cb = count_cb, .event_ud = &f->n};
	cr_assert_eq(roster_client_new(&cfg, &f->c), 0);
	struct roster_instance ep = {.service = "web", .protocol = "http",
		.host = "web1.example.net", .port = 80};
	cr_assert_eq(roster_endpoint_add(f->c, &ep), 0);
	cr_assert_eq(roster_client_start_loop(f->c, &f->loop), 0);
}

static void teardown_client(struct fixture *f)
{
	roster_client_stop(f->c);
	run_until(&f->loop, &f->n.deregistered, 1, 2000);
	mock_registry_stop(&f->m);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	cr_expect_eq(uv_loop_close(&f->loop), 0, "every handle closed");
	roster_client_free(f->c);
	cr_expect_eq(f->m.lease_deregs, 1);
}

Test(engine, registers_heartbeats_and_deregisters_on_stop)
{
	struct fixture f;
	setup_client(&f);
	run_until(&f.loop, &f.n.registered, 1, 2000);
	cr_expect_eq(f.n.connected, 1);
	cr_expect_eq(f.n.lease, 1);
	cr_expect_eq(f.m.opens, 1);
	/* TTL 1 s: a heartbeat about every 333 ms. */
	uint64_t t0 = uv_now(&f.loop);
	run_until(&f.loop, &f.n.heartbeat, 4, 3000);
	uint64_t took = uv_now(&f.loop) - t0;
	cr_expect_geq(took, 900, "4 heartbeats in %llu ms", (unsigned long long)took);
	cr_expect_leq(took, 1800, "4 heartbeats in %llu ms", (unsigned long long)took);
	cr_expect_eq(f.m.registers, 1, "nothing registered twice while all is well");
	cr_expect_eq(f.n.disconnected, 0);
	teardown_client(&f);
}

Test(engine, lost_lease_is_reopened_and_endpoints_registered_again)
{
	struct fixture f;
	setup_client(&f);
	run_until(&f.loop, &f.n.registered, 1, 2000);
	f.m.n_leases = 0; /* the registry forgets every lease */
	run_until(&f.loop, &f.n.registered, 2, 3000);
	cr_expect_eq(f.n.lease_lost, 1);
	cr_expect_eq(f.n.lease, 2);
	cr_expect_eq(f.n.disconnected, 0, "a lost lease is not a lost connection");
	cr_expect_neq(f.n.leases_seen[0], f.n.leases_seen[1]);
	teardown_client(&f);
}

Test(engine, dropped_connection_reconnects_and_registers_again)
{
	struct fixture f;
	setup_client(&f);
	run_until(&f.loop, &f.n.registered, 1, 2000);
	mock_registry_drop_connections(&f.m);
	run_until(&f.loop, &f.n.registered, 2, 3000);
	cr_expect_eq(f.n.disconnected, 1);
	cr_expect_eq(f.n.connected, 2);
	cr_expect_eq(f.n.lease, 1, "the surviving lease is kept");
	cr_expect_eq(f.n.leases_seen[0], f.n.leases_seen[1]);
	teardown_client(&f);
}

Test(engine, registry_that_lost_instances_gets_them_again)
{
	struct fixture f;
	setup_client(&f);
	run_until(&f.loop, &f.n.registered, 1, 2000);
	f.m.held[0] = 0; /* the lease survived, its instance did not */
	run_until(&f.loop, &f.n.registered, 2, 3000);
	cr_expect_eq(f.n.lease_lost, 0);
	cr_expect_eq(f.m.opens, 1);
	teardown_client(&f);
}

Test(engine, start_twice_and_bad_loop_are_refused)
{
	struct fixture f;
	setup_client(&f);
	cr_expect_eq(roster_client_start_loop(f.c, &f.loop), ROSTER_ESTATE);
	cr_expect_eq(roster_client_start(f.c), ROSTER_ESTATE);
	cr_expect_eq(roster_client_wait(f.c, 10), ROSTER_ESTATE);
	run_until(&f.loop, &f.n.registered, 1, 2000);
	teardown_client(&f);
}

Test(engine, hung_registry_is_left_and_rejoined)
{
	struct fixture f;
	setup_client(&f);
	run_until(&f.loop, &f.n.registered, 1, 2000);
	f.m.silent = 1; /* TCP stays up, nothing is answered */
	run_until(&f.loop, &f.n.disconnected, 1, 3000);
	f.m.silent = 0;
	run_until(&f.loop, &f.n.registered, 2, 3000);
	cr_expect_eq(f.n.connected, 2);
	teardown_client(&f);
}

Test(engine, registry_that_never_grants_a_lease_is_left)
{
	struct fixture f;
	memset(&f, 0, sizeof(f));
	cr_assert_eq(uv_loop_init(&f.loop), 0);
	mock_registry_start(&f.loop, &f.m, NULL, NULL);
	f.m.silent = 1;
	snprintf(f.server, sizeof(f.server), "127.0.0.1:%d", f.m.port);
	const char *servers[] = {f.server};
	struct roster_config cfg = {.servers = servers, .n_servers = 1, .ttl_seconds = 1,
		.backoff_min_ms = 10, .backoff_max_ms = 50, .timeout_ms = 200,
		.event_cb = count_cb, .event_ud = &f.n};
	cr_assert_eq(roster_client_new(&cfg, &f.c), 0);
	struct roster_instance ep = {.service = "web", .protocol = "http",
		.host = "web1.example.net", .port = 80};
	cr_assert_eq(roster_endpoint_add(f.c, &ep), 0);
	cr_assert_eq(roster_client_start_loop(f.c, &f.loop), 0);
	/* The OpenLease is never answered: the connection is given up on. */
	run_until(&f.loop, &f.n.disconnected, 1, 3000);
	f.m.silent = 0;
	run_until(&f.loop, &f.n.registered, 1, 3000);
	teardown_client(&f);
}

Test(engine, bad_configurations_are_refused)
{
	struct roster_client *c = NULL;
	struct roster_config cfg = {.n_servers = 1};
	cr_expect_eq(roster_client_new(&cfg, &c), ROSTER_EINVAL);
	const char *bad[] = {"localhost:7600"};
	struct roster_config cfg2 = {.servers = bad, .n_servers = 1};
	cr_expect_eq(roster_client_new(&cfg2, &c), ROSTER_EADDR);
	cr_expect(strstr(roster_errmsg(), "server 'localhost:7600'") != NULL, "%s", roster_errmsg());
	const char *noport[] = {"127.0.0.1"};
	struct roster_config cfg3 = {.servers = noport, .n_servers = 1};
	cr_expect_eq(roster_client_new(&cfg3, &c), ROSTER_EPORT);
	struct roster_config cfg4 = {.ttl_seconds = 3601};
	cr_expect_eq(roster_client_new(&cfg4, &c), ROSTER_EINVAL);
	cr_expect_null(c);
	/* NULL: every default (127.0.0.1:7600, TTL 10 s). */
	cr_assert_eq(roster_client_new(NULL, &c), 0);
	struct roster_instance bad_ep = {.service = "web", .protocol = "http", .host = "h..x",
		.port = 1};
	cr_expect_eq(roster_endpoint_add(c, &bad_ep), ROSTER_ENAME);
	cr_expect(strstr(roster_errmsg(), "invalid host 'h..x'") != NULL, "%s", roster_errmsg());
	struct roster_instance ep = {.service = "web", .protocol = "http", .host = "h.example.net",
		.port = 1};
	cr_expect_eq(roster_endpoint_remove(c, &ep), ROSTER_ENOENT);
	cr_expect_eq(roster_endpoint_add(c, &ep), 0);
	cr_expect_eq(roster_endpoint_set_status(c, &ep, ROSTER_STATUS_UNSPECIFIED), ROSTER_EINVAL);
	cr_expect_eq(roster_endpoint_set_status(c, &ep, ROSTER_DOWN), 0);
	cr_expect_eq(roster_endpoint_remove(c, &ep), 0); /* not started: just forgotten */
	cr_expect_eq(roster_endpoint_remove(c, &ep), ROSTER_ENOENT);
	roster_client_free(c);
	roster_client_free(NULL);
}
