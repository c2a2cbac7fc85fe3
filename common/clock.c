#include "common/clock.h"

#include <time.h>

/* clock_gettime() cannot fail for these two clocks with a valid pointer
 * (POSIX requires both); there is nothing to check. */
static uint64_t read_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t rs_clock_mono_ns(void)
{
	return read_ns(CLOCK_MONOTONIC);
}

uint64_t rs_clock_mono_ms(void)
{
	return read_ns(CLOCK_MONOTONIC) / 1000000u;
}

uint64_t rs_clock_wall_ms(void)
{
	return read_ns(CLOCK_REALTIME) / 1000000u;
}
