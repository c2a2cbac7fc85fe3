/*
 * Reconnect delays: backoff_next_within() draws under the lower of the
 * backoff's ceiling and a limit; the engine limits it to a third of the
 * lease's TTL while the registry may still hold the lease, so that a client
 * is back within the grace a restarted registry gives persisted leases (one
 * TTL), whatever backoff_max_ms.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "client/backoff.h"
#include "client_fixture.h"
#include "roster/client.h"

Test(backoff, next_within_never_exceeds_the_limit)
{
	struct backoff b;
	backoff_init(&b, 100, 10000, 42);
	for (int i = 0; i < 1000; i++) {
		cr_assert_leq(backoff_next_within(&b, 333), 333);
	}
	cr_expect_eq(backoff_cap(&b), 10000, "attempts still counted: the ceiling grew");
}

Test(backoff, next_within_below_the_ceiling_is_plain_backoff)
{
	struct backoff a, b;
	backoff_init(&a, 100, 10000, 7);
	backoff_init(&b, 100, 10000, 7);
	for (int i = 0; i < 50; i++) {
		/* A limit of 0 or above the ceiling changes nothing. */
		cr_assert_eq(backoff_next_within(&a, i % 2 == 0 ? 0 : 20000), backoff_next(&b));
	}
}

Test(backoff, next_within_stays_jittered_under_the_limit)
{
	struct backoff b;
	backoff_init(&b, 100, 10000, 3);
	for (int i = 0; i < 20; i++) {
		(void)backoff_next(&b); /* the ceiling reaches 10 s */
	}
	unsigned low = 0, high = 0;
	for (int i = 0; i < 1000; i++) {
		uint32_t d = backoff_next_within(&b, 1000);
		low += d < 500 ? 1 : 0;
		high += d >= 500 ? 1 : 0;
	}
	/* Uniform in [0, 1000], not piled on the limit. */
	cr_expect_gt(low, 350);
	cr_expect_gt(high, 350);
}

Test(engine, reconnects_within_a_third_of_the_ttl_while_a_lease_is_held)
{
	struct client_fixture f;
	client_fixture_start(
			&f, &(struct client_fixture_opts){.backoff_max_ms = 20000}); /* TTL 1 s */
	mock_run_until(&f.loop, &f.n.registered, 1, 2000);
	/* For 3 s the registry closes every connection at once (down, or
	 * restarting): the backoff's ceiling grows to 20 s, yet every attempt
	 * comes within a third of the TTL (333 ms) of the previous one. */
	f.m.refuse = 1;
	unsigned first = f.m.accepts;
	uint64_t prev = uv_now(&f.loop);
	mock_registry_drop_connections(&f.m);
	mock_run_for(&f.loop, 3000);
	uint64_t end = uv_now(&f.loop);
	unsigned last = f.m.accepts < MOCK_REGISTRY_MAX_ACCEPTS ? f.m.accepts
								: MOCK_REGISTRY_MAX_ACCEPTS;
	uint64_t worst = 0;
	for (unsigned i = first; i < last; i++) {
		uint64_t gap = f.m.accepted_at[i] - prev;
		worst = gap > worst ? gap : worst;
		prev = f.m.accepted_at[i];
	}
	worst = end - prev > worst ? end - prev : worst;
	cr_expect_gt(last - first, 5, "%u attempts", last - first);
	/* 333 ms, plus the connect and a loaded machine's scheduling. */
	cr_expect_leq(worst, 333 + 250, "%llu ms between attempts", (unsigned long long)worst);
	f.m.refuse = 0;
	mock_run_until(&f.loop, &f.n.registered, 2, 3000);
	cr_expect_eq(f.n.lease, 1, "the lease survived");
	client_fixture_stop(&f);
}
