/*
 * server/api/api.h - the registration API: protobuf frames over TCP.
 *
 * Owns the API's protocol: framing (proto/frame.h), decoding of Request
 * envelopes, dispatch into the store, encoding of Response envelopes,
 * Watch streams, and the limits that keep one client from disturbing the
 * others (frame size, requests in flight, malformed-frame strikes). The
 * connections are server/net/tcp.h's: listening, admission against the
 * caps in all and per source (a refused client gets one UNAVAILABLE frame
 * saying which cap), the deadline, the bounded write queue (a client that
 * does not read its replies is cut off past max_outbuf) and close.
 * protobuf-c's generated types are used only inside api.c.
 *
 * Deadline: a connection that sends nothing is closed after idle_ms, and so
 * is one whose frame does not arrive whole within idle_ms: the deadline
 * restarts only when a whole frame arrived, never on a partial one, so a
 * client trickling one byte at a time cannot hold a connection. A watcher
 * (a connection with a Watch) is silent by nature and exempt.
 *
 * Replies are not written as they are produced: each connection collects
 * the replies of one loop iteration in a buffer, and api_flush() writes
 * them all after the owner committed the iteration's batch, so a write is
 * acknowledged only once it is on disk, with one write per connection per
 * iteration. The TCP layer sees the bytes only then.
 *
 * The API includes no other module of rosterd but the store, persist (for
 * Stats' store size) and the TCP layer: what it needs of its owner (map
 * growth, the DNS figures of Stats) comes through struct api_context.
 *
 * Threads: main loop only. Connections are freed in their close callback,
 * never inside their own read callback.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/net/tcp.h"
#include "server/registry/store.h"

struct api;
struct persist;
struct report;
struct sockaddr_storage;
struct uv_loop_s;

/** Counters for Stats and /metrics. */
struct api_counters {
	uint64_t connections;        /**< open now */
	uint64_t accepted;
	uint64_t rejected;           /**< over a connection limit */
	uint64_t rejected_source;    /**< of which over the per-source limit */
	uint64_t requests;
	uint64_t errors;             /**< error responses sent */
	uint64_t malformed;          /**< frames that were not a valid Request */
	uint64_t oversized;          /**< frames over the limit */
	uint64_t idle_closed;        /**< closed at the deadline (idle, or a frame too slow) */
	uint64_t slow_closed;        /**< readers too slow for their output */
	uint64_t watch_events;
};

/** The API limits SIGHUP reloads (api_limits_set()). */
struct api_limits {
	/** Connections in all and per source, the deadline, queued reply bytes. */
	struct net_tcp_limits tcp;
	uint32_t max_frame;            /**< bytes of one frame */
	uint32_t max_inflight;         /**< requests answered per connection per iteration */
	uint32_t max_addresses;        /**< per instance */
	uint32_t max_metadata_entries; /**< per instance */
};

/** What the API is given at start. Pointers are borrowed for its life,
 * except listen (read during api_start() only). */
struct api_context {
	struct uv_loop_s *loop;
	/** The owner's store slot, read at each use: the owner rebuilds the
	 * store (maybe at a new address) after a failed commit. */
	struct store *const *store;
	struct persist *persist;               /**< Stats' store_bytes; may be NULL */
	const struct sockaddr_storage *listen; /**< the addresses to bind */
	size_t nlisten;
	struct api_limits limits;
	const char *site, *domain, *zone;      /**< Stats' identity */
	uint64_t start_mono;                   /**< uv_now() when the server started */
	/* What the API asks of its owner (all called on the loop thread). */
	void *owner;
	/** After RS_ESTORE_FULL: make room; true when the write should be retried once. */
	bool (*store_grow)(void *owner);
	/** Stats' dns_queries_total. Optional (0). */
	uint64_t (*dns_queries)(void *owner);
	/** Stats' client reports per code (borrowed for the call). Optional (none). */
	const struct report *(*dns_report)(void *owner);
};

/**
 * Create the API and bind its listeners.
 * @param ctx copied.
 * @param out set on success.
 * @param err one-line message naming the address on failure.
 * @return 0, or a negative code (e.g. -EADDRINUSE); on failure *out stays
 *         NULL and the listeners bound so far close on their own (run the
 *         loop).
 */
__attribute__((warn_unused_result)) int api_start(const struct api_context *ctx,
		struct api **out, char *err, size_t errsz);

/** Send what was collected, then close listeners and connections. The
 * struct is freed when the last handle closes (maybe before this returns):
 * @p api must not be used after this call. NULL-safe. */
void api_stop(struct api *api);

/**
 * Write every connection's collected replies. Called by the owner after
 * the iteration's batch committed.
 * @param commit_rc the commit's result: on failure, every reply of a write
 *        collected this iteration is replaced by the error it maps to
 *        (STORAGE_FULL for a full disk, else STORAGE_ERROR).
 */
void api_flush(struct api *api, int commit_rc);

/** The store's change listener: feeds Watch streams. */
void api_on_change(struct api *api, const struct store_change *change);

/** New limits (SIGHUP): copied; the frame size applies at once to every
 * connection, the caps to the next connection, the idle time to the next
 * deadline start. NULL-safe. */
void api_limits_set(struct api *api, const struct api_limits *lim);

/** Counters, refreshed from the listeners' at each call (borrowed; valid
 * until the next call or api_stop()). */
const struct api_counters *api_counters_get(struct api *api);
