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

#include "client_fixture.h"
#include "roster/client.h"

Test(engine, registers_heartbeats_and_deregisters_on_stop)
{
	struct client_fixture f;
	client_fixture_start(&f, NULL);
	mock_run_until(&f.loop, &f.n.registered, 1, 2000);
	cr_expect_eq(f.n.connected, 1);
	cr_expect_eq(f.n.lease, 1);
	cr_expect_eq(f.m.opens, 1);
	/* TTL 1 s: a heartbeat about every 333 ms. */
	uint64_t t0 = uv_now(&f.loop);
	mock_run_until(&f.loop, &f.n.heartbeat, 4, 3000);
	uint64_t took = uv_now(&f.loop) - t0;
	cr_expect_geq(took, 900, "4 heartbeats in %llu ms", (unsigned long long)took);
	cr_expect_leq(took, 1800, "4 heartbeats in %llu ms", (unsigned long long)took);
	cr_expect_eq(f.m.registers, 1, "nothing registered twice while all is well");
	cr_expect_eq(f.n.disconnected, 0);
	client_fixture_stop(&f);
}

Test(engine, lost_lease_is_reopened_and_endpoints_registered_again)
{
	struct client_fixture f;
	client_fixture_start(&f, NULL);
	mock_run_until(&f.loop, &f.n.registered, 1, 2000);
	f.m.n_leases = 0; /* the registry forgets every lease */
	mock_run_until(&f.loop, &f.n.registered, 2, 3000);
	cr_expect_eq(f.n.lease_lost, 1);
	cr_expect_eq(f.n.lease, 2);
	cr_expect_eq(f.n.disconnected, 0, "a lost lease is not a lost connection");
	cr_expect_neq(f.n.leases_seen[0], f.n.leases_seen[1]);
	client_fixture_stop(&f);
}

Test(engine, dropped_connection_reconnects_and_registers_again)
{
	struct client_fixture f;
	client_fixture_start(&f, NULL);
	mock_run_until(&f.loop, &f.n.registered, 1, 2000);
	mock_registry_drop_connections(&f.m);
	mock_run_until(&f.loop, &f.n.registered, 2, 3000);
	cr_expect_eq(f.n.disconnected, 1);
	cr_expect_eq(f.n.connected, 2);
	cr_expect_eq(f.n.lease, 1, "the surviving lease is kept");
	cr_expect_eq(f.n.leases_seen[0], f.n.leases_seen[1]);
	client_fixture_stop(&f);
}

Test(engine, registry_that_lost_instances_gets_them_again)
{
	struct client_fixture f;
	client_fixture_start(&f, NULL);
	mock_run_until(&f.loop, &f.n.registered, 1, 2000);
	f.m.held[0] = 0; /* the lease survived, its instance did not */
	mock_run_until(&f.loop, &f.n.registered, 2, 3000);
	cr_expect_eq(f.n.lease_lost, 0);
	cr_expect_eq(f.m.opens, 1);
	client_fixture_stop(&f);
}

Test(engine, start_twice_and_bad_loop_are_refused)
{
	struct client_fixture f;
	client_fixture_start(&f, NULL);
	cr_expect_eq(roster_client_start_loop(f.c, &f.loop), ROSTER_ESTATE);
	cr_expect_eq(roster_client_start(f.c), ROSTER_ESTATE);
	cr_expect_eq(roster_client_wait(f.c, 10), ROSTER_ESTATE);
	mock_run_until(&f.loop, &f.n.registered, 1, 2000);
	client_fixture_stop(&f);
}

Test(engine, hung_registry_is_left_and_rejoined)
{
	struct client_fixture f;
	client_fixture_start(&f, NULL);
	mock_run_until(&f.loop, &f.n.registered, 1, 2000);
	f.m.silent = 1; /* TCP stays up, nothing is answered */
	mock_run_until(&f.loop, &f.n.disconnected, 1, 3000);
	f.m.silent = 0;
	mock_run_until(&f.loop, &f.n.registered, 2, 3000);
	cr_expect_eq(f.n.connected, 2);
	client_fixture_stop(&f);
}

Test(engine, registry_that_never_grants_a_lease_is_left)
{
	struct client_fixture f;
	client_fixture_start(&f, &(struct client_fixture_opts){.timeout_ms = 200, .silent = 1});
	/* The OpenLease is never answered: the connection is given up on. */
	mock_run_until(&f.loop, &f.n.disconnected, 1, 3000);
	f.m.silent = 0;
	mock_run_until(&f.loop, &f.n.registered, 1, 3000);
	client_fixture_stop(&f);
}

Test(engine, bad_configurations_are_refused)
{
	struct roster_client *c = NULL;
	struct roster_config cfg = {.n_servers = 1};
	cr_expect_eq(roster_client_new(&cfg, &c), ROSTER_EINVAL);
	const char *bad[] = {"localhost:7600"};
	struct roster_config cfg2 = {.servers = bad, .n_servers = 1};
	cr_expect_eq(roster_client_new(&cfg2, &c), ROSTER_EADDR);
	cr_expect(strstr(roster_errmsg(), "server 'localhost:7600'") != NULL, "%s",
			roster_errmsg());
	const char *noport[] = {"127.0.0.1"};
	struct roster_config cfg3 = {.servers = noport, .n_servers = 1};
	cr_expect_eq(roster_client_new(&cfg3, &c), ROSTER_EPORT);
	struct roster_config cfg4 = {.ttl_seconds = 3601};
	cr_expect_eq(roster_client_new(&cfg4, &c), ROSTER_EINVAL);
	cr_expect_null(c);
	/* NULL: every default (127.0.0.1:7600, TTL 10 s). */
	cr_assert_eq(roster_client_new(NULL, &c), 0);
	struct roster_instance bad_ep = {
			.service = "web", .protocol = "http", .host = "h..x", .port = 1};
	cr_expect_eq(roster_endpoint_add(c, &bad_ep), ROSTER_ENAME);
	cr_expect(strstr(roster_errmsg(), "invalid host 'h..x'") != NULL, "%s", roster_errmsg());
	struct roster_instance ep = {
			.service = "web", .protocol = "http", .host = "h.example.net", .port = 1};
	cr_expect_eq(roster_endpoint_remove(c, &ep), ROSTER_ENOENT);
	cr_expect_eq(roster_endpoint_add(c, &ep), 0);
	cr_expect_eq(roster_endpoint_set_status(c, &ep, ROSTER_STATUS_UNSPECIFIED), ROSTER_EINVAL);
	cr_expect_eq(roster_endpoint_set_status(c, &ep, ROSTER_DOWN), 0);
	cr_expect_eq(roster_endpoint_remove(c, &ep), 0); /* not started: just forgotten */
	cr_expect_eq(roster_endpoint_remove(c, &ep), ROSTER_ENOENT);
	roster_client_free(c);
	roster_client_free(NULL);
}

/* A registry that answers with bytes that are not what it should send:
 * the client drops that connection naming why, reconnects, and registers
 * again once the registry behaves. */
struct garbage {
	const uint8_t *bytes;
	size_t len;
	unsigned sent;
};

static int garbage_request(struct mock_registry_conn *mc, const Roster__V1__Request *rq, void *ud)
{
	struct garbage *g = ud;
	if (rq->op_case != ROSTER__V1__REQUEST__OP_REGISTER || g->sent > 0) {
		return 0;
	}
	g->sent++;
	uv_buf_t b = uv_buf_init((char *)g->bytes, (unsigned)g->len);
	cr_assert_eq(uv_try_write((uv_stream_t *)&mc->tcp, &b, 1), (int)g->len);
	return 1;
}

static void expect_garbage_dropped(const uint8_t *bytes, size_t len, const char *why)
{
	struct garbage g = {bytes, len, 0};
	const struct mock_registry_ops ops = {.request = garbage_request};
	struct client_fixture f;
	client_fixture_start(&f, &(struct client_fixture_opts){.ops = &ops, .ud = &g});
	mock_run_until(&f.loop, &f.n.disconnected, 1, 3000);
	cr_expect_not_null(strstr(f.n.disconnect_msg, why), "'%s' not in '%s'", why,
			f.n.disconnect_msg);
	cr_expect_eq(f.n.registered, 0, "nothing was registered by the garbage");
	mock_run_until(&f.loop, &f.n.registered, 1, 3000);
	cr_expect_eq(f.n.connected, 2);
	cr_expect_eq(g.sent, 1);
	client_fixture_stop(&f);
}

Test(engine, a_zero_length_frame_from_the_registry_drops_the_connection)
{
	static const uint8_t empty[] = {0, 0, 0, 0};
	expect_garbage_dropped(empty, sizeof(empty), "bad frame from the registry");
}

Test(engine, a_frame_that_is_not_a_response_drops_the_connection)
{
	/* A frame of three bytes: field 1 with wire type 7, no protobuf. */
	static const uint8_t junk[] = {0, 0, 0, 3, 0x0f, 0xff, 0xff};
	expect_garbage_dropped(junk, sizeof(junk), "malformed response from the registry");
}
