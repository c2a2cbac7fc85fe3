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
 * Replies are not written as they are produced: each connection holds them
 * in a buffer until the batch holding their writes has committed, so a
 * write is acknowledged only once it is on disk, with one write(2) per
 * connection per commit. With one batch committing while the next one
 * collects, the held replies come in two generations: api_seal() closes the
 * one of the batch handed to the writer, api_flush() writes it (or turns
 * its writes' replies into errors) once that batch committed.
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
 * Seal the replies held now: they belong to the batch the server has just
 * handed to the writer (or, when nothing is to commit, to none). Replies
 * collected later form the next generation. Sealing again before a flush
 * merges the two.
 */
void api_seal(struct api *api);

/**
 * Write every connection's sealed replies (the oldest generation held);
 * later ones stay held. Called by the server once the sealed generation's
 * batch committed, or right after api_seal() when there was nothing to
 * commit.
 * @param commit_rc the commit's result: on failure, every reply of a write
 *        in the sealed generation is replaced by the error it maps to
 *        (STORAGE_FULL for a full disk, else STORAGE_ERROR), and watch
 *        streams are closed once what they hold is out.
 */
void api_flush(struct api *api, int commit_rc);

/** The store's change listener: feeds Watch streams. */
void api_on_change(struct api *api, const struct store_change *change);

/** Apply reloaded limits (SIGHUP). */
void api_limits_reload(struct api *api);

/** Counters (borrowed, updated in place; struct in server/api/counters.h). */
const struct api_counters *api_counters_get(const struct api *api);
