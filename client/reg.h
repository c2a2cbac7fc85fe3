/*
 * client/reg.h - one registry connection of the engine, and the engine state
 * that its layers share.
 *
 * Model: a registry connection goes
 *   IDLE --timer--> CONNECTING --connect_cb--> CONNECTED --reg_fail()--> CLOSING
 *   --close_cb--> IDLE (backoff timer armed)
 * reg.c owns the socket, the frames in and out, the table of the requests in
 * flight (reg_send(), reg_pending_take()) and one timer per registry: the
 * reconnect delay while IDLE, the connect deadline while CONNECTING, the
 * heartbeat tick while CONNECTED. While CONNECTED, the registry's lease
 * (lease.c) goes NONE -> PENDING -> OK, or back to NONE on UNKNOWN_LEASE.
 *
 * What a connection sees goes up through the engine's struct reg_ops, which
 * engine.c provides. struct engine and struct reg are defined here, below
 * every engine file that reads them (lease.c, eps.c, watch.c, engine.c);
 * engine.c owns the engine's lifecycle.
 *
 * Threads: the engine's loop thread, with c->mu held (reg.c's libuv
 * callbacks take it).
 *
 * Must not: call the layers above it by name (only through reg_ops), or keep
 * a pointer into the client's lists across a callback.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "client/backoff.h"
#include "client/core.h"
#include "client/wire.h"
#include "proto/frame.h"

enum reg_state {
	REG_IDLE = 0,
	REG_CONNECTING,
	REG_CONNECTED,
	REG_CLOSING,
};

enum lease_state {
	LEASE_NONE = 0,
	LEASE_PENDING, /**< OpenLease sent, or a known lease being checked */
	LEASE_OK,
};

/** A request in flight on a connection, and what it was for. */
struct pending {
	uint64_t id;
	enum wire_op op;
	uint64_t ep_uid;
	uint64_t gen;
	uint64_t sent_ms; /**< loop time it was sent */
	size_t len;       /**< its frame's length */
};

struct reg {
	struct engine *e;
	size_t idx;
	enum reg_state state;
	enum lease_state lease_state; /**< lease.c */
	uint64_t lease;               /**< lease.c */
	uint32_t ttl;                 /**< lease.c: the TTL the registry granted */
	uv_tcp_t tcp;
	uv_connect_t connect_req;
	uv_timer_t timer;
	struct rs_frame_decoder dec;
	struct pending *pend;
	size_t n_pend, cap_pend;
	uint64_t hb_id;    /**< lease.c: the unanswered heartbeat, or 0 */
	uint64_t dereg_id; /**< lease.c: the lease deregistration at shutdown, or 0 */
	struct backoff backoff;
};

/** What a connection tells the engine (engine.c), c->mu held. */
struct reg_ops {
	/** The connection is up (CONNECTED and reading): send what it needs. */
	void (*connected)(struct reg *r);
	/** One response arrived; borrowed for the call. */
	void (*response)(struct reg *r, struct wire_response *rs);
	/** The heartbeat tick, while CONNECTED and no request is overdue. */
	void (*tick)(struct reg *r);
	/**
	 * The connection failed (reg_fail()): its socket is closing and what
	 * was in flight is forgotten. @p was_connected: it was CONNECTED (not
	 * still CONNECTING).
	 */
	void (*lost)(struct reg *r, int err, const char *why, bool was_connected);
};

struct engine {
	struct roster_client *c;
	const struct reg_ops *ops;
	uv_loop_t *loop;
	uv_loop_t own_loop;
	bool own;
	pthread_t thread;
	uv_async_t async;
	uv_timer_t stop_timer;
	struct reg *regs;
	size_t n;
	bool stop_requested; /**< set by another thread, seen by async_cb */
	bool stopping;
	bool closed;     /**< every handle closed or closing */
	size_t draining; /**< lease deregistrations awaited at shutdown */
	size_t open_handles;
	struct backoff rng; /**< heartbeat jitter */
	size_t watch_reg;   /**< watch.c: the registry carrying the watches, or SIZE_MAX */
	size_t watch_prev;  /**< watch.c: the one whose revisions the watches remember */
};

/**
 * Prepare registry @p idx of @p e (IDLE, its timer initialised and counted
 * in e->open_handles). Loop thread, or before the loop runs.
 */
void reg_init(struct reg *r, struct engine *e, size_t idx);

/** Connect now; a failure arms the reconnect timer. */
void reg_connect(struct reg *r);

/**
 * Send a request with a fresh id (set in @p rq) and remember what it was
 * for (@p ep_uid and @p gen: the endpoint generation it carries, or 0).
 * Watch requests are not remembered: their streams are matched against the
 * watch list.
 * @return 0; ROSTER_ELIMIT when the request is over the registry's frame
 *         limit (not sent, the connection stays up); else the connection
 *         failed (reg_fail() has run): ROSTER_EUNREACHABLE (not connected,
 *         or the write failed), ROSTER_ENOMEM.
 */
__attribute__((warn_unused_result)) int reg_send(
		struct reg *r, struct wire_request *rq, uint64_t ep_uid, uint64_t gen);

/**
 * Take the request in flight with id @p id out of the table.
 * @return true with @p out set, or false (not a request of this table).
 */
__attribute__((warn_unused_result)) bool reg_pending_take(
		struct reg *r, uint64_t id, struct pending *out);

/**
 * The connection is unusable: forget what was in flight, close the socket,
 * tell the engine (reg_ops.lost), and let the close callback arm the
 * reconnect timer (unless the engine is stopping). A no-op unless
 * CONNECTING or CONNECTED.
 */
void reg_fail(struct reg *r, int err, const char *why);

/** Restart the timer for a heartbeat interval from now (after a new TTL). */
void reg_heartbeat_restart(struct reg *r);

/** Fail the connection, if any, with ROSTER_ESTATE, and close the timer. */
void reg_close(struct reg *r);

/** Free what the connection holds, once its handles are closed. */
void reg_deinit(struct reg *r);

/**
 * Close one of the engine's handles, unless it is closing already; its
 * close callback counts it out of e->open_handles.
 */
void reg_close_handle(struct engine *e, uv_handle_t *h);

/** Report an event of this registry to the client's event callback. */
void reg_emit(struct reg *r, enum roster_event_kind kind, int err, const char *msg,
		const struct roster_instance *ep, uint64_t revision);
