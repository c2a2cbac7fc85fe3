/*
 * client/engine.h - the engine of a client: the libuv side of libroster,
 * started and stopped by client.c.
 *
 * Model: one connection and one lease per registry (reg.c, lease.c), the
 * endpoints sent and acknowledged (eps.c), the watches (watch.c); engine.c
 * starts and stops them and routes what each connection reports.
 *
 * Threads: everything runs on the engine's loop thread, with c->mu held for
 * the duration of each callback; engine_kick() and engine_stop() may be
 * called from any thread.
 *
 * Must not: call into client.c (the public calls sit above the engine).
 */
#pragma once

#include <stdbool.h>

#include "client/core.h"

/**
 * Start the engine on @p loop (own_thread: on a new loop, run on a new
 * thread; @p loop is then unused).
 * @return 0, ROSTER_ENOMEM, or a negated errno.
 */
__attribute__((warn_unused_result)) int engine_start(
		struct roster_client *c, void *loop, bool own_thread);

/** Tell the engine that the wanted state changed. Any thread. NULL-safe. */
void engine_kick(struct engine *e);

/**
 * Stop the engine: deregister leases, close handles. With its own thread,
 * blocks until the thread has ended and frees the engine; on the caller's
 * loop, starts the stop (c->engine is freed by engine_free()).
 */
void engine_stop(struct roster_client *c);

/** Free a stopped engine. NULL-safe. */
void engine_free(struct engine *e);
