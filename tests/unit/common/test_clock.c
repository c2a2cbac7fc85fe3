#include <criterion/criterion.h>
#include <time.h>

#include "common/clock.h"

Test(clock, monotonic_never_goes_back_and_units_agree)
{
	uint64_t ms0 = rs_clock_mono_ms();
	uint64_t ns0 = rs_clock_mono_ns();
	struct timespec pause = {0, 20 * 1000 * 1000};
	nanosleep(&pause, NULL);
	uint64_t ns1 = rs_clock_mono_ns();
	uint64_t ms1 = rs_clock_mono_ms();
	cr_expect_geq(ns1 - ns0, 20000000u, "slept 20 ms");
	cr_expect_geq(ms1 - ms0, 20u);
	cr_expect_leq(ms0, ns0 / 1000000u, "one clock: ms read first is not later");
	cr_expect_geq(ms1, ns1 / 1000000u);
}

Test(clock, wall_is_milliseconds_since_the_epoch)
{
	uint64_t ms = rs_clock_wall_ms();
	time_t now = time(NULL);
	cr_expect_geq(ms / 1000 + 1, (uint64_t)now);
	cr_expect_leq(ms / 1000, (uint64_t)now + 1);
	cr_expect_gt(ms, 1700000000000ULL, "after November 2023");
}
