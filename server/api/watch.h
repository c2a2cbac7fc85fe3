/*
 * server/api/watch.h - Watch streams: the events of one watch, appended as
 * response frames.
 *
 * Model
 *   A watch follows one service (or every service) from a revision on. Its
 *   first events replay the journal after that revision or, when the
 *   journal does not reach back so far or the client asked for revision 0,
 *   are a snapshot: SNAPSHOT_BEGIN, an UPSERT for every instance,
 *   SNAPSHOT_END (api_watch_open(), from the Watch operation in ops.c).
 *   Then comes one event per store change the watch matches
 *   (api_watch_change_append(), which the transport calls from the store's
 *   change listener for every watch of every connection).
 *
 *   Every event is a Response whose id is the Watch request's id.
 *
 * Must not: hold watches (the transport's connections do, as struct
 *   api_watch), touch a socket or change the store.
 *
 * Threads: main loop only.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/name.h"
#include "server/api/ops_out.h"
#include "server/registry/store.h"

/** One Watch a connection holds. */
struct api_watch {
	uint64_t id;                    /**< the Watch request's id, in every event */
	char service[RS_LABEL_MAX + 1]; /**< lower-case; "" for every service */
};

/** Where a watch's events go. Borrowed for one call. */
struct api_watch_sink {
	struct api_ops_out *out;  /**< events are appended */
	struct rs_arena *scratch; /**< encoding memory, reset after each event */
	uint64_t *events;         /**< incremented per event (api_counters.watch_events) */
};

/** @return whether @p w follows @p service (a lower-case label). */
bool api_watch_matches(const struct api_watch *w, const char *service);

/**
 * Append the first events of watch @p w: the journal's changes after
 * @p since that @p w matches, or a snapshot of the instances it matches.
 * @return 0, or RS_ENOMEM: the stream could not be built whole (close the
 *         connection after its flush: a gap in a stream must not pass
 *         unseen).
 */
__attribute__((warn_unused_result)) int api_watch_open(const struct store *store,
		const struct api_watch *w, uint64_t since, const struct api_watch_sink *sink);

/**
 * Append the event of one store change for the watch whose id is
 * @p watch_id (the caller checked api_watch_matches()).
 * @return 0, or RS_ENOMEM (as for api_watch_open()).
 */
__attribute__((warn_unused_result)) int api_watch_change_append(const struct api_watch_sink *sink,
		uint64_t watch_id, const struct store_change *ch);
