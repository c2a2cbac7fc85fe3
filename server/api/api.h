/*
 * server/api/api.h - the registration API: protobuf frames over TCP.
 *
 * The transport of the API. Owns the API listeners and connections:
 * framing (proto/frame.h), the connections' watches and their live events,
 * and the limits that keep one client from disturbing the others
 * (connection count, in all and per source through the shared
 * server_tcp_accept(), frame size, idle time, queued output, pipelining).
 * Each frame is answered by api_ops_dispatch() (server/api/ops.h), which
 * unpacks the Request, runs it against the store and appends the
 * Response(s); this file does what the answer asks of the connection (hold
 * a write's reply, add or remove a watch, count a malformed frame, close).
 * Watch events are encoded by server/api/watch.h. protobuf-c's generated
 * types are used only inside server/api's .c files, never here.
 *
 * Replies are not written as they are produced: each connection collects
 * the replies of one loop iteration in a buffer, and api_flush() writes
 * them all after the server committed the iteration's batch, so a write is
 * acknowledged only once it is on disk, with one write(2) per connection
 * per iteration.
 *
 * Threads: main loop only. Connections are freed in their close callback,
 * never inside their own read callback.
 */
#pragma once

#include <stdint.h>

#include "server/api/counters.h"
#include "server/registry/store.h"

struct server;
struct api;

/**
 * Create the API and bind its listeners (cfg.api addresses).
 * @param err one-line message naming the address on failure.
 * @return 0, or a negative code (e.g. -EADDRINUSE).
 */
__attribute__((warn_unused_result)) int api_start(struct server *srv, struct api **out,
		char *err, size_t errsz);

/** Close listeners and connections. The struct is freed when the last
 * handle closes; srv->api is set to NULL then. */
void api_stop(struct api *api);

/**
 * Write every connection's collected replies. Called by the server after
 * the iteration's batch committed.
 * @param commit_rc the commit's result: on failure, every reply of a write
 *        collected this iteration is replaced by the error it maps to
 *        (STORAGE_FULL for a full disk, else STORAGE_ERROR).
 */
void api_flush(struct api *api, int commit_rc);

/** The store's change listener: feeds Watch streams. */
void api_on_change(struct api *api, const struct store_change *change);

/** Apply reloaded limits (SIGHUP). */
void api_limits_reload(struct api *api);

/** Counters (borrowed, updated in place; struct in server/api/counters.h). */
const struct api_counters *api_counters_get(const struct api *api);
