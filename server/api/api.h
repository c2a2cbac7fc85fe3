/*
 * server/api/api.h - the registration API: protobuf frames over TCP.
 *
 * The transport of the API: framing (proto/frame.h), the connections'
 * watches and their live events, held replies, and the limits that keep one
 * client from disturbing the others (frame size, requests in flight,
 * malformed-frame strikes). Each frame is answered by api_ops_dispatch()
 * (server/api/ops.h), which unpacks the Request, runs it against the store
 * and appends the Response(s); this file does what the answer asks of the
 * connection (hold a write's reply, add or remove a watch, count a
 * malformed frame, close). Watch events are encoded by server/api/watch.h.
 * protobuf-c's generated types are used only inside server/api's .c files,
 * never here.
 *
 * The connections are server/net/tcp.h's: listening, admission against the
 * caps in all and per source (a refused client gets one UNAVAILABLE frame
 * saying which cap), the deadline, the bounded write queue (a client that
 * does not read its replies is cut off past max_outbuf) and close. The
 * replies this file holds for a connection (until their batch commits)
 * count against max_outbuf with what the layer queued: a hundred Watch
 * snapshots answered in one read close the connection as soon as they
 * pass it, before they pile up (counted as slow_reader).
 *
 * Access control: with a token file (struct api_context.tokens_path) a
 * connection runs each request with the token its Authenticate presented
 * (server/api/tokens.h; ops.c refuses what the token does not cover).
 * The connection keeps its token's digest; after a reload it is looked up
 * again in the new set. Every write and every refusal goes to the audit
 * log when there is one (server/api/audit.h).
 *
 * Deadline: a connection that sends nothing is closed after idle_ms, and so
 * is one whose frame does not arrive whole within idle_ms: the deadline
 * restarts only when a whole frame arrived, never on a partial one, so a
 * client trickling one byte at a time cannot hold a connection. A watcher
 * (a connection with a Watch) is silent by nature and exempt.
 *
 * Replies are not written as they are produced: each connection holds them
 * in a buffer until the batch holding their writes has committed, so a
 * write is acknowledged only once it is on disk, with one write per
 * connection per commit. With one batch committing while the next one
 * collects, the held replies come in two generations: api_seal() closes the
 * one of the batch handed to the writer, api_flush() writes it (or turns
 * its writes' replies into errors) once that batch committed. The TCP layer
 * sees the bytes only then.
 *
 * Must not: include another module of rosterd but the store and the TCP
 * layer; what it needs of its owner (the figures of Stats) comes through
 * struct api_context.
 *
 * Threads: main loop only. Connections are freed in their close callback,
 * never inside their own read callback.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "server/api/counters.h"
#include "server/api/ops.h"
#include "server/net/tcp.h"
#include "server/registry/store.h"

/** What a source refused by the address list is told, in the UNAVAILABLE
 * frame (id 0) sent before the close. */
#define API_NOT_ADMITTED "not admitted: this address is not in the registry's --api-allow"

/** Requests one connection may have refused (PERMISSION_DENIED) before it
 * is closed after their replies: each is an audit line, and a client that
 * keeps asking what it may not do must not rotate the audit history away.
 * A client that reconnects starts again (and logs a line each time). */
#define API_REFUSALS_MAX 16u

struct api;
struct sockaddr_storage;
struct uv_loop_s;

/** The API limits SIGHUP reloads (api_limits_set()). */
struct api_limits {
	/** Connections in all and per source, the deadline, queued reply bytes. */
	struct net_tcp_limits tcp;
	uint32_t max_frame;    /**< bytes of one frame */
	uint32_t max_inflight; /**< requests answered per connection per batch */
	/** What a registration is checked against (api_ops_ctx.limits:
	 * addresses and metadata entries per instance). */
	struct store_limits registration;
	uint64_t audit_max; /**< bytes of --audit-log before rotation (0: 16 MiB) */
	/** --api-tokens-dry-run: what the tokens would refuse is served,
	 * counted and audited as a refusal that was not made. */
	bool tokens_dry_run;
};

/** What the API is given at start. Pointers are borrowed for its life,
 * except listen (read during api_start() only). */
struct api_context {
	struct uv_loop_s *loop;
	/** The owner's store. It never moves: after a failed commit the owner
	 * reloads it in place. */
	struct store *store;
	const struct sockaddr_storage *listen; /**< the addresses to bind */
	size_t nlisten;
	struct api_limits limits;
	/** Fills Stats' snapshot of the server's counters (server/stats.h),
	 * on the loop thread. NULL: Stats is UNSUPPORTED. */
	api_ops_stats_cb stats;
	void *stats_ud;
	/** Consulted at each accept (--api-allow, server/net/acl.h's
	 * acl_admit()); false refuses the connection: an UNAVAILABLE frame
	 * API_NOT_ADMITTED, then close. NULL: every source is served. */
	bool (*admit)(void *admit_user, const struct sockaddr *peer);
	void *admit_user;
	/** --api-tokens: the token file (read at start and by
	 * api_tokens_reload()); NULL or "": an open API. */
	const char *tokens_path;
	/** --audit-log: the audit log's path; NULL or "": none. */
	const char *audit_path;
	/** Starts a backup for Backup; its end is told with api_backup_done().
	 * NULL: Backup is UNSUPPORTED. */
	api_ops_backup_cb backup;
	void *backup_ud;
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
__attribute__((warn_unused_result)) int api_start(
		const struct api_context *ctx, struct api **out, char *err, size_t errsz);

/** Send every reply held (the owner committed everything before), then
 * close listeners and connections. The struct is freed when the last
 * handle closes (maybe before this returns): @p api must not be used after
 * this call. NULL-safe. */
void api_stop(struct api *api);

/**
 * Seal the replies held now: they belong to the batch the server has just
 * handed to the writer (or, when nothing is to commit, to none). Replies
 * collected later form the next generation. Sealing again before a flush
 * merges the two.
 * @return the writes whose replies are sealed now (for the owner's
 *         acknowledgement-time histogram).
 */
size_t api_seal(struct api *api);

/**
 * Write every connection's sealed replies (the oldest generation held);
 * later ones stay held. Called by the server once the sealed generation's
 * batch committed, or right after api_seal() when there was nothing to
 * commit.
 * @param commit_rc the commit's result: on failure, every reply of a write
 *        in the sealed generation is replaced by the error it maps to
 *        (STORAGE_FULL for a full disk, else STORAGE_ERROR), every other
 *        reply of that connection's sealed generation (answered from a
 *        state holding the lost writes) by UNAVAILABLE "ask again", except
 *        a backup's end, which is kept; every request keeps exactly one
 *        reply. Watch streams are closed once what they hold is out.
 */
void api_flush(struct api *api, int commit_rc);

/**
 * The backup a Backup request started has ended: its reply is queued for
 * the connection that asked (sent with the next flush), unless that
 * connection is gone. NULL-safe.
 * @param rc 0, or the failure with @p msg naming it.
 */
void api_backup_done(
		struct api *api, int rc, uint64_t bytes, uint64_t duration_ms, const char *msg);

/** The store's change listener: feeds Watch streams. */
void api_on_change(struct api *api, const struct store_change *change);

/** New limits (SIGHUP): copied; the frame size applies at once to every
 * connection, the caps to the next connection, the idle time to the next
 * deadline start; the audit log's file is opened again (after logrotate
 * renamed it). NULL-safe. */
void api_limits_set(struct api *api, const struct api_limits *lim);

/**
 * Read the token file again (SIGHUP). On success the new set applies to
 * every later request, on every connection: a connection whose token is
 * gone from the file is unauthenticated from its next request on. On
 * failure the old set stays in force and tokens_reload_failures counts it.
 * @param err one line naming the file and line at fault.
 * @return 0 (also when the API has no token file: nothing to do), or the
 *         api_tokens_load() error.
 */
__attribute__((warn_unused_result)) int api_tokens_reload(struct api *api, char *err, size_t errsz);

/** Counters, refreshed from the listeners' at each call (borrowed, struct
 * in server/api/counters.h; valid until the next call or api_stop()). */
const struct api_counters *api_counters_get(struct api *api);
