/*
 * server/api/ops.h - the registration API's operations: one request frame
 * in, its response frames out.
 *
 * Model
 *   api_ops_dispatch() is the whole API as one synchronous function, as
 *   NSD's query_process() is DNS: it unpacks one frame into a
 *   roster.v1.Request (protobuf-c, under a byte budget), runs the operation
 *   against the store, and appends the framed Response(s) to an output
 *   buffer the caller owns. What the transport must then do with the
 *   connection comes back as flags in a struct api_ops_result: hold the
 *   reply until the batch commits (a write), add or remove a watch, count a
 *   malformed frame, close after the flush.
 *
 *   Everything an operation reads comes in a narrow context (struct
 *   api_ops_ctx): the store, the limits, the clocks (read by the caller once
 *   per frame), a callback that fills a stats snapshot (Stats), the
 *   connection's watches and strikes, a scratch arena and the API's
 *   counters. Nothing else: no socket, no loop, no server.
 *
 *   Watch: a Watch is answered by its first events (a replay from the
 *   journal, or a snapshot), appended here; the transport then adds the
 *   watch to the connection and sends the live events that follow from the
 *   store's change listener, through server/api/watch.h.
 *
 *   Store changes made by a write reach the store's listener during the
 *   dispatch: a transport whose listener appends watch events to the same
 *   connection's buffer must pass that very buffer as @p out, so that
 *   events and replies stay in order.
 *
 * Must not: touch a socket, a timer or the disk; expose protobuf-c's
 *   generated types (they stay in the .c files of server/api, see
 *   convert.h);
 *   include the transports or the server (the stats come by callback).
 *
 * Threads: main loop only (the store is not thread-safe).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/name.h"
#include "server/api/counters.h"
#include "server/api/ops_out.h"
#include "server/api/tokens.h"
#include "server/api/watch.h"
#include "server/registry/store.h"

struct stats_snapshot;

/** Watches one connection may hold. */
#define API_OPS_MAX_WATCHES 64

/** Malformed frames a connection may send; the last one closes it. */
#define API_OPS_STRIKES 3

/** Fills @p out with a snapshot of the server's counters (server/stats.h). */
typedef void (*api_ops_stats_cb)(struct stats_snapshot *out, void *ud);

/** Start a backup to @p path for the request @p id (api_backup_done() answers
 * it later). @return 0 (started), RS_EBUSY, RS_EINVAL, or another code. */
typedef int (*api_ops_backup_cb)(const char *path, void *ud);

/** What the operations may read and count. Borrowed for one call. */
struct api_ops_ctx {
	struct store *store;
	const struct store_limits *limits; /**< max_addresses, max_metadata_entries */
	uint64_t now_ms;                   /**< monotonic, the store's clock: leases */
	uint64_t wall_ms;                  /**< wall clock, ms since the epoch: shown times */
	api_ops_stats_cb stats;            /**< for Stats; NULL: Stats is UNSUPPORTED */
	void *stats_ud;
	api_ops_backup_cb backup; /**< for Backup; NULL: Backup is UNSUPPORTED */
	void *backup_ud;
	struct rs_arena *scratch;        /**< per-response memory; reset before return */
	struct api_counters *counters;   /**< requests, errors, malformed, watch_events */
	const struct api_watch *watches; /**< the connection's watches (CancelWatch, the cap) */
	size_t nwatches;
	unsigned strikes; /**< malformed frames the connection sent so far */
	/** The token set (--api-tokens); NULL: the API is open, every
	 * request allowed but takeovers of another lease's instances. */
	const struct api_tokens *tokens;
	/** The connection's token (a view into @c tokens); NULL: it has not
	 * authenticated (or its token was revoked by a reload). */
	const struct api_token *token;
	/** Serve what the tokens would refuse (ownership still holds); the
	 * refusal is counted and audited with api_ops_audit.dry_run. */
	bool tokens_dry_run;
};

/** What the transport must do after a dispatch (bits of api_ops_result.flags). */
enum api_ops_flag {
	/** The reply acknowledges a write: hold it until the batch commits, and
	 * turn it into an error if the commit fails (api_ops_result.id). */
	API_OPS_WRITE = 1u << 0,
	/** The frame was not a Request: one more strike. */
	API_OPS_MALFORMED = 1u << 1,
	/** Close the connection after its replies are flushed: the last strike,
	 * or an output that could not be built whole (out of memory). */
	API_OPS_CLOSE = 1u << 2,
	/** Add api_ops_result.watch to the connection; its first events are in
	 * the output already. */
	API_OPS_WATCH_START = 1u << 3,
	/** Remove the connection's watch whose id is api_ops_result.cancel_id. */
	API_OPS_WATCH_CANCEL = 1u << 4,
	/** Authenticate succeeded: the connection's token is now
	 * api_ops_result.token (NULL with an open API). */
	API_OPS_AUTH = 1u << 5,
	/** Write api_ops_result.audit to the audit log. */
	API_OPS_AUDIT = 1u << 6,
	/** A backup started: its reply comes later (api_ops_backup_append()),
	 * for api_ops_result.id. */
	API_OPS_DEFERRED = 1u << 7,
};

/** Why a request was refused with PERMISSION_DENIED (counters, audit). */
enum api_ops_refusal {
	API_OPS_REFUSED_NONE = 0,
	API_OPS_REFUSED_UNAUTHENTICATED, /**< tokens configured, none presented */
	API_OPS_REFUSED_SCOPE,           /**< the token's scopes do not cover it */
	API_OPS_REFUSED_OWNER,           /**< another lease's instance */
	API_OPS_REFUSED_BAD_TOKEN,       /**< Authenticate with an unknown token */
};

/** What the audit log records of a write, or of any refused request. */
struct api_ops_audit {
	const char *op;   /**< "register", "deregister", ... (static) */
	char target[400]; /**< "_svc._proto host:port", "lease <hex>", or "" */
	int rc;           /**< 0: accepted; else the error answered */
	enum api_ops_refusal refusal;
	bool dry_run; /**< the refusal was not made (--api-tokens-dry-run) */
};

/** The outcome of one dispatch. */
struct api_ops_result {
	unsigned flags;                /**< enum api_ops_flag bits */
	uint64_t id;                   /**< the request's id (0 for a malformed frame) */
	struct api_watch watch;        /**< with API_OPS_WATCH_START */
	uint64_t cancel_id;            /**< with API_OPS_WATCH_CANCEL */
	const struct api_token *token; /**< with API_OPS_AUTH */
	struct api_ops_audit audit;    /**< with API_OPS_AUDIT */
};

/**
 * Answer one request frame.
 * @param frame one frame's payload (without its length prefix): a
 *        roster.v1.Request; anything else is answered MALFORMED (a strike,
 *        API_OPS_MALFORMED). A frame that could not be unpacked for lack of
 *        memory is answered UNAVAILABLE with its id, runs nothing, and is
 *        no strike.
 * @param out the response frames are appended (a Response for the request,
 *        an error Response, or a Watch's events).
 * @param res overwritten.
 * @note Errors are answers, not return values: every failure of the request
 *       is a Response with its error code and a message naming the value at
 *       fault. Out of memory for the output itself sets API_OPS_CLOSE.
 */
void api_ops_dispatch(const struct api_ops_ctx *ctx, const uint8_t *frame, size_t len,
		struct api_ops_out *out, struct api_ops_result *res);

/**
 * Append an error Response, for the transport's own refusals (a frame over
 * the limit, a connection over a cap, a failed commit).
 * @param rc the cause, mapped to its ErrorCode (e.g. RS_ESTORE_FULL and
 *        RS_ENOSPC to STORAGE_FULL, RS_EAGAIN to UNAVAILABLE).
 * @param msg the human-readable detail.
 * @return 0, or RS_ENOMEM (nothing appended).
 */
__attribute__((warn_unused_result)) int api_ops_error_append(
		struct api_ops_out *out, uint64_t id, int rc, const char *msg);

/**
 * Append the answer to a Backup request: a BackupResponse when @p rc is 0,
 * else the error @p rc maps to with @p msg.
 * @return 0, or RS_ENOMEM (the output could not grow).
 */
__attribute__((warn_unused_result)) int api_ops_backup_append(struct api_ops_out *out, uint64_t id,
		int rc, uint64_t bytes, uint64_t duration_ms, const char *msg);
