/*
 * tests/faults/allocfail.h - make a chosen heap allocation of the code under
 * test fail, for unit tests.
 *
 * Model: a test executable linked with allocfail_link_args (meson) has
 * every call to malloc(), calloc(), realloc() and strdup() made by the
 * objects linked into it (ours: common, rosterd's modules, libroster's
 * static core) routed through allocfail's wrappers (ld --wrap). Calls made
 * inside shared libraries (libc itself, libuv, LMDB, criterion) are not
 * routed, so only our own handling of a failed allocation is exercised.
 * Disarmed, a wrapper only counts and passes the call through.
 *
 * The usual test: arm failure number k, run the operation, check that it
 * failed cleanly (its error code, nothing changed, nothing leaked under
 * ASan), for k = 1, 2, ... until the operation no longer meets a failure:
 * then every allocation on its path has been failed once.
 *
 * Threads: the counters are plain globals, for single-threaded tests.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/** Fail the @p nth allocation from now (1-based), and only that one. */
void allocfail_arm(size_t nth);

/** Fail every allocation from the @p nth from now on. */
void allocfail_arm_from(size_t nth);

/** Stop failing; allocations pass through again. */
void allocfail_disarm(void);

/** Has an armed failure struck since the last allocfail_arm*()? */
bool allocfail_struck(void);

/** Allocations counted since the last allocfail_arm*() or allocfail_disarm(). */
size_t allocfail_count(void);
