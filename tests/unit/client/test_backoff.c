#include <criterion/criterion.h>

#include "client/backoff.h"

Test(backoff, cap_doubles_from_min_up_to_max)
{
	struct backoff b;
	backoff_init(&b, 100, 10000, 42);
	uint32_t want[] = {100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		cr_expect_eq(backoff_cap(&b), want[i], "attempt %zu: cap %u", i, backoff_cap(&b));
		(void)backoff_next(&b);
	}
}

Test(backoff, delays_are_full_jitter_within_the_cap)
{
	struct backoff b;
	backoff_init(&b, 100, 10000, 7);
	for (int round = 0; round < 50; round++) {
		uint32_t cap = backoff_cap(&b);
		uint32_t d = backoff_next(&b);
		cr_assert_leq(d, cap);
	}
	/* Full jitter spreads: over many draws at the cap, small and large
	 * delays both occur (a fleet must not reconnect in lockstep). */
	unsigned low = 0, high = 0;
	for (int i = 0; i < 1000; i++) {
		uint32_t d = backoff_next(&b);
		low += d < 2500 ? 1 : 0;
		high += d > 7500 ? 1 : 0;
	}
	cr_expect_gt(low, 150);
	cr_expect_gt(high, 150);
}

Test(backoff, reset_returns_to_the_minimum)
{
	struct backoff b;
	backoff_init(&b, 50, 1000, 1);
	for (int i = 0; i < 20; i++) {
		(void)backoff_next(&b);
	}
	cr_expect_eq(backoff_cap(&b), 1000);
	backoff_reset(&b);
	cr_expect_eq(backoff_cap(&b), 50);
	cr_expect_leq(backoff_next(&b), 50);
}

Test(backoff, degenerate_bounds_are_fixed_up)
{
	struct backoff b;
	backoff_init(&b, 0, 0, 0);
	cr_expect_eq(b.min_ms, 1);
	cr_expect_eq(b.max_ms, 1);
	cr_expect_neq(b.rng, 0);
	backoff_init(&b, 500, 100, 3);
	cr_expect_eq(b.max_ms, 500);
	for (int i = 0; i < 100; i++) {
		(void)backoff_next(&b); /* no overflow past 2^31 attempts of doubling */
	}
	cr_expect_eq(backoff_cap(&b), 500);
}

Test(backoff, heartbeat_jitter_stays_within_ten_percent)
{
	struct backoff b;
	backoff_init(&b, 1, 1, 99);
	uint32_t lo = UINT32_MAX, hi = 0;
	for (int i = 0; i < 2000; i++) {
		uint32_t d = backoff_jitter(&b, 3333, 10);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	cr_expect_geq(lo, 3000);
	cr_expect_leq(hi, 3666);
	cr_expect_lt(lo, 3100); /* it does spread */
	cr_expect_gt(hi, 3550);
}
