/*
 * The engine against an in-process mock registry with a 64 KiB frame limit
 * that, as rosterd, answers an oversized frame with an error of id 0 and
 * closes: the registry's verdict is reported, the oversized endpoint is
 * refused, and the connection does not flap for the other endpoints. An
 * endpoint over the default 1 MiB limit is refused when it is added. A
 * verdict held back (->hold_verdict) while the endpoint changes, one with
 * no Register in flight, and another error of id 0 blame no endpoint.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "client_fixture.h"
#include "proto/frame.h"
#include "roster/client.h"

Test(frame_limit, registry_verdict_refuses_the_endpoint_and_keeps_the_others)
{
	struct client_fixture f;
	/* web2's Register: under 1 MiB, over the registry's 64 KiB. */
	client_fixture_start(&f,
			&(struct client_fixture_opts){.max_frame = 65536, .big_value_len = 100000});
	mock_run_until(&f.loop, &f.n.failed, 1, 3000);
	cr_expect_eq(f.n.failed_error, ROSTER_ELIMIT);
	cr_expect_str_eq(f.n.failed_host, "web2.example.net");
	cr_expect(strstr(f.n.disconnect_msg, "65536-byte limit") != NULL,
			"DISCONNECTED says the registry's verdict: '%s'", f.n.disconnect_msg);
	mock_run_until(&f.loop, &f.n.registered, 1, 3000);
	/* Ten heartbeat intervals: the connection stays up. */
	mock_run_for(&f.loop, 3000);
	cr_expect_eq(f.m.oversized, 1, "the oversized Register sent %u times", f.m.oversized);
	cr_expect_eq(f.n.disconnected, 1, "%u disconnections", f.n.disconnected);
	cr_expect_leq(f.m.accepts, 2, "%u connections", f.m.accepts);
	cr_expect_eq(f.n.failed, 1);
	cr_expect_geq(f.n.heartbeat, 5);
	client_fixture_stop(&f);
}

Test(frame_limit, an_endpoint_over_the_default_limit_is_refused_when_added)
{
	struct client_fixture f;
	client_fixture_start(&f, &(struct client_fixture_opts){.max_frame = 65536});
	size_t n = RS_FRAME_MAX_DEFAULT + 1;
	char *big = malloc(n + 1);
	cr_assert_not_null(big);
	memset(big, 'a', n);
	big[n] = '\0';
	struct roster_meta meta = {.key = "blob", .value = big};
	struct roster_instance ep = {.service = "web",
			.protocol = "http",
			.host = "web2.example.net",
			.port = 80,
			.metadata = &meta,
			.n_metadata = 1};
	cr_expect_eq(roster_endpoint_add(f.c, &ep), ROSTER_ELIMIT);
	cr_expect(strstr(roster_errmsg(), "frame limit") != NULL, "'%s'", roster_errmsg());
	free(big);
	/* The client goes on with what it has; nothing oversized ever left. */
	mock_run_until(&f.loop, &f.n.registered, 1, 3000);
	mock_run_for(&f.loop, 1000);
	cr_expect_eq(f.m.oversized, 0, "never sent");
	cr_expect_eq(f.n.disconnected, 0);
	cr_expect_eq(f.n.failed, 0);
	client_fixture_stop(&f);
}

/*
 * The verdict's races (eps_on_verdict()): the registry is slow to refuse
 * web2's oversized Register (->hold_verdict), and meanwhile the client
 * changes web2. The verdict then blames no endpoint: the refused Register
 * is not what the client wants any more. The connection is still lost
 * (the registry closes it), and the client recovers on a new one.
 */
static void start_held(struct client_fixture *f)
{
	client_fixture_start(f,
			&(struct client_fixture_opts){.max_frame = 65536, .big_value_len = 100000});
	f->m.hold_verdict = 1;
	mock_run_until(&f->loop, &f->m.oversized, 1, 3000);
	mock_run_until(&f->loop, &f->n.registered, 1, 3000); /* web1, on the same connection */
}

static void release_held(struct client_fixture *f)
{
	f->m.hold_verdict = 0;
	cr_assert_eq(mock_registry_verdict(&f->m), 1);
	mock_run_until(&f->loop, &f->n.disconnected, 1, 3000);
	cr_expect(strstr(f->n.disconnect_msg, "65536-byte limit") != NULL,
			"DISCONNECTED says the registry's verdict: '%s'", f->n.disconnect_msg);
}

Test(frame_limit, a_verdict_on_a_superseded_register_fails_no_endpoint)
{
	struct client_fixture f;
	start_held(&f);
	struct roster_meta meta = {.key = "blob", .value = "small"};
	struct roster_instance web2 = {.service = "web",
			.protocol = "http",
			.host = "web2.example.net",
			.port = 80,
			.metadata = &meta,
			.n_metadata = 1};
	cr_assert_eq(roster_endpoint_add(f.c, &web2), 0); /* the update, under the limit */
	mock_run_for(&f.loop, 50); /* the update goes out behind the refused frame */
	release_held(&f);
	/* A new connection: web1 and the updated web2 registered. */
	mock_run_until(&f.loop, &f.n.registered, 3, 3000);
	cr_expect_eq(f.n.failed, 0, "the stale verdict failed %s", f.n.failed_host);
	cr_expect_eq(f.m.oversized, 1, "the oversized Register sent %u times", f.m.oversized);
	cr_expect_eq(f.n.disconnected, 1);
	client_fixture_stop(&f);
}

Test(frame_limit, a_verdict_on_a_removed_endpoint_fails_no_endpoint)
{
	struct client_fixture f;
	start_held(&f);
	struct roster_instance web2 = {.service = "web",
			.protocol = "http",
			.host = "web2.example.net",
			.port = 80};
	cr_assert_eq(roster_endpoint_remove(f.c, &web2), 0);
	mock_run_for(&f.loop, 50);
	release_held(&f);
	/* A new connection: web1 alone registered again, web2 never resent. */
	mock_run_until(&f.loop, &f.n.registered, 2, 3000);
	mock_run_for(&f.loop, 300);
	cr_expect_eq(f.n.failed, 0, "the stale verdict failed %s", f.n.failed_host);
	cr_expect_eq(f.n.registered, 2, "%u registrations", f.n.registered);
	cr_expect_eq(f.m.oversized, 1, "the oversized Register sent %u times", f.m.oversized);
	cr_expect_eq(f.n.disconnected, 1);
	client_fixture_stop(&f);
}

Test(frame_limit, a_verdict_with_no_register_in_flight_fails_no_endpoint)
{
	struct client_fixture f;
	client_fixture_start(&f, &(struct client_fixture_opts){.max_frame = 65536});
	mock_run_until(&f.loop, &f.n.registered, 1, 3000);
	/* Only heartbeats in flight, if anything: a verdict out of the blue. */
	cr_assert_eq(mock_registry_verdict(&f.m), 1);
	mock_run_until(&f.loop, &f.n.disconnected, 1, 3000);
	cr_expect(strstr(f.n.disconnect_msg, "65536-byte limit") != NULL, "'%s'",
			f.n.disconnect_msg);
	mock_run_until(&f.loop, &f.n.registered, 2, 3000);
	cr_expect_eq(f.n.failed, 0);
	client_fixture_stop(&f);
}

/* An error of id 0 that is not FRAME_TOO_LARGE (a registry going away):
 * the connection is given up and made again, no endpoint blamed. */
static int fail_second_heartbeat(
		struct mock_registry_conn *mc, const Roster__V1__Request *rq, void *ud)
{
	unsigned *n = ud;
	if (rq->op_case != ROSTER__V1__REQUEST__OP_HEARTBEAT || ++*n != 2) {
		return 0;
	}
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	r.error = ROSTER__V1__ERROR_CODE__UNAVAILABLE;
	r.message = "shutting down";
	mock_registry_send(mc, &r);
	return 1;
}

Test(frame_limit, an_error_of_id_zero_drops_the_connection_and_fails_no_endpoint)
{
	static const struct mock_registry_ops ops = {.request = fail_second_heartbeat};
	unsigned heartbeats = 0;
	struct client_fixture f;
	client_fixture_start(&f, &(struct client_fixture_opts){.ops = &ops, .ud = &heartbeats});
	mock_run_until(&f.loop, &f.n.disconnected, 1, 5000);
	cr_expect(strstr(f.n.disconnect_msg, "shutting down") != NULL, "'%s'", f.n.disconnect_msg);
	mock_run_until(&f.loop, &f.n.registered, 2, 3000);
	cr_expect_eq(f.n.failed, 0);
	client_fixture_stop(&f);
}
