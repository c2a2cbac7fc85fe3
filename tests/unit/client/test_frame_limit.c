/*
 * The engine against an in-process mock registry with a 64 KiB frame limit
 * that, as rosterd, answers an oversized frame with an error of id 0 and
 * closes: the registry's verdict is reported, the oversized endpoint is
 * refused, and the connection does not flap for the other endpoints. An
 * endpoint over the default 1 MiB limit is refused when it is added.
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
