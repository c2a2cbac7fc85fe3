#include "client/backoff.h"

#include "common/clock.h"

void backoff_init(struct backoff *b, uint32_t min_ms, uint32_t max_ms, uint64_t seed)
{
	b->min_ms = min_ms > 0 ? min_ms : 1;
	b->max_ms = max_ms >= b->min_ms ? max_ms : b->min_ms;
	b->attempt = 0;
	if (seed == 0) {
		seed = rs_clock_mono_ns() ^ (uint64_t)(uintptr_t)b;
	}
	b->rng = seed != 0 ? seed : 0x9e3779b97f4a7c15ULL;
}

static uint64_t rng_next(struct backoff *b)
{
	uint64_t x = b->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	b->rng = x;
	return x * 0x2545f4914f6cdd1dULL;
}

uint32_t backoff_uniform(struct backoff *b, uint32_t n)
{
	if (n == UINT32_MAX) {
		return (uint32_t)(rng_next(b) >> 32);
	}
	return (uint32_t)((rng_next(b) >> 32) % ((uint64_t)n + 1));
}

uint32_t backoff_cap(const struct backoff *b)
{
	/* Beyond 2^31 the product overflows; the cap is reached long before. */
	if (b->attempt >= 31) {
		return b->max_ms;
	}
	uint64_t cap = (uint64_t)b->min_ms << b->attempt;
	return cap < b->max_ms ? (uint32_t)cap : b->max_ms;
}

uint32_t backoff_next(struct backoff *b)
{
	return backoff_next_within(b, 0);
}

uint32_t backoff_next_within(struct backoff *b, uint32_t limit_ms)
{
	uint32_t cap = backoff_cap(b);
	if (limit_ms > 0 && limit_ms < cap) {
		cap = limit_ms;
	}
	uint32_t delay = backoff_uniform(b, cap);
	if (b->attempt < 31) {
		b->attempt++;
	}
	return delay;
}

void backoff_reset(struct backoff *b)
{
	b->attempt = 0;
}

uint32_t backoff_jitter(struct backoff *b, uint32_t base_ms, unsigned pct)
{
	uint32_t span = (uint32_t)((uint64_t)base_ms * pct / 100);
	return base_ms - span + backoff_uniform(b, 2 * span);
}
