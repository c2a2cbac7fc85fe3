/*
 * client/backoff.h - jittered exponential backoff for reconnects.
 *
 * "Full jitter": the n-th delay after a failure is uniform in
 * [0, min(max, min_ms * 2^n)] (n from 0), so a fleet that lost its registry
 * at the same moment spreads its reconnects instead of arriving in waves.
 * A success resets n.
 *
 * Pure (its own PRNG state), no I/O, one user at a time.
 */
#pragma once

#include <stdint.h>

struct backoff {
	uint32_t min_ms;
	uint32_t max_ms;
	unsigned attempt;
	uint64_t rng; /**< xorshift64* state, never 0 */
};

/**
 * Prepare a backoff. @p seed 0 picks one from the clock and the address of
 * @p b. @p min_ms 0 becomes 1; @p max_ms below @p min_ms becomes @p min_ms.
 */
void backoff_init(struct backoff *b, uint32_t min_ms, uint32_t max_ms, uint64_t seed);

/** The next delay in ms, and count one more attempt. */
uint32_t backoff_next(struct backoff *b);

/**
 * The next delay in ms, drawn as by backoff_next() but under
 * min(backoff_cap(), @p limit_ms), and count one more attempt. Full jitter
 * stays uniform below the lower ceiling. @p limit_ms 0: no limit.
 */
uint32_t backoff_next_within(struct backoff *b, uint32_t limit_ms);

/** The current ceiling: min(max, min * 2^attempt). */
uint32_t backoff_cap(const struct backoff *b);

/** Forget the failures (after a success). */
void backoff_reset(struct backoff *b);

/** A uniform random number in [0, n] from the backoff's PRNG. */
uint32_t backoff_uniform(struct backoff *b, uint32_t n);

/** @p base_ms with +-@p pct percent of uniform jitter (heartbeat spacing). */
uint32_t backoff_jitter(struct backoff *b, uint32_t base_ms, unsigned pct);
