/*
 * common/clock.h - the two clocks Roster reads: monotonic time for
 * durations, deadlines and timeouts, and wall-clock time for what a person
 * or another host reads (log lines, registration times, serials).
 *
 * Owns: the reading of CLOCK_MONOTONIC and CLOCK_REALTIME and their
 * conversion to integer milliseconds or nanoseconds.
 *
 * Must not: be used for a deadline on the wall clock (it jumps), or replace
 * a loop's cached time: code on a libuv loop uses uv_now(), which is what
 * its timers compare against.
 *
 * Threads: any; no state.
 */
#pragma once

#include <stdint.h>

/** Monotonic time in milliseconds since an arbitrary start (boot, usually). */
uint64_t rs_clock_mono_ms(void);

/** Monotonic time in nanoseconds since the same start as rs_clock_mono_ms(). */
uint64_t rs_clock_mono_ns(void);

/** Wall-clock time: milliseconds since the Unix epoch, UTC. */
uint64_t rs_clock_wall_ms(void);
