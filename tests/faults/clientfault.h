/*
 * tests/faults/clientfault.h - make fsync(), close() or write() of a chosen file fail,
 * for libroster's unit tests (the cache file's write, client/cache.c).
 *
 * Model: a test executable linked with clientfault_link_args (meson) has
 * every call to fsync(), close() and write() made by the objects linked into it
 * routed through these wrappers (ld --wrap), as allocfail.h does for
 * allocations; calls made inside shared libraries are not. A disarmed
 * wrapper passes the call through. Armed, the next call on a descriptor
 * whose path (/proc/self/fd) contains the armed text fails once with the
 * armed errno, after doing what the kernel does on that failure: a failed
 * fsync() leaves the descriptor open, a failed close() has closed it
 * anyway (close(2): the descriptor is released whatever the error).
 *
 * Threads: plain globals, for single-threaded tests.
 */
#pragma once

#include <stdbool.h>

enum clientfault_call {
	CLIENTFAULT_FSYNC = 1,
	CLIENTFAULT_CLOSE,
	CLIENTFAULT_WRITE, /**< fails with the errno; with 0, writes nothing and returns 0 */
};

/** Fail the next @p call on a file whose path contains @p path_part, with
 * @p err (an errno value). */
void clientfault_arm(enum clientfault_call call, const char *path_part, int err);

/** Has the armed failure struck since clientfault_arm()? (Disarmed since.) */
bool clientfault_struck(void);
