/*
 * tests/unit/client/mock_registry.h - an in-process registry for libroster's
 * loop tests.
 *
 * What it does: listens on 127.0.0.1 (a port the kernel picks, in ->port) on
 * the test's own loop, accepts up to MOCK_REGISTRY_MAX_CONNS connections,
 * decodes the real length-prefixed frames (proto/frame.h) into
 * Roster__V1__Request and answers with Roster__V1__Response frames of the
 * same id. By default it answers as rosterd would for one lease-holding
 * client:
 *   OpenLease   a new lease (ids from 100), the TTL asked for;
 *   Heartbeat   TTL 1 s and whether the lease holds anything, or
 *               UNKNOWN_LEASE;
 *   Register    marks the lease as holding an instance, a new revision, or
 *               UNKNOWN_LEASE;
 *   Deregister  a new revision; for a lease target, counts it and forgets
 *               the lease;
 *   anything else UNSUPPORTED.
 * A test changes that through a request hook (answer a request itself, or
 * leave it to the default), the knobs below, and the public fields (e.g.
 * n_leases = 0 forgets every lease), and checks the counters.
 *
 * What it does not do: keep instances or services (a lease only "holds
 * something" or not), keep a journal, serve Watch (a test that needs it
 * answers Watch in its hook), limit anything but the frame size, or handle
 * more than MOCK_REGISTRY_MAX_CONNS connections or MOCK_REGISTRY_MAX_LEASES
 * leases. Anything the mock cannot make sense of (a frame it cannot decode
 * where no limit is played, a request that does not unpack, a failed accept)
 * fails the test with a criterion assertion: link it into criterion tests
 * only.
 *
 * Single-threaded: everything runs on the loop given to
 * mock_registry_start(), from the test's own uv_run() calls. The mock's
 * protobuf types appear in this header on purpose: it stands in for the
 * registry's transport, and tests build the responses their hooks send.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "proto/frame.h"
#include "proto/roster.pb-c.h"

#define MOCK_REGISTRY_MAX_CONNS 8
#define MOCK_REGISTRY_MAX_LEASES 16
/** Accept times kept in accepted_at[]; accepts counts on beyond. */
#define MOCK_REGISTRY_MAX_ACCEPTS 512

struct mock_registry;

/** One accepted connection; a slot of mock_registry.conns. */
struct mock_registry_conn {
	uv_tcp_t tcp;
	struct rs_frame_decoder dec;
	struct mock_registry *m;
	int open; /**< 0 free, 1 open, 2 closing */
};

/**
 * A request, before the default handling (and never while ->silent).
 * @return nonzero when the hook dealt with it (answered it with
 *         mock_registry_send(), or chose not to answer); 0 for the default.
 */
typedef int (*mock_registry_request_cb)(struct mock_registry_conn *mc,
		const Roster__V1__Request *rq, void *ud);

/** A connection accepted into a slot (not one refused by ->refuse). */
typedef void (*mock_registry_accept_cb)(struct mock_registry_conn *mc, void *ud);

/** A test's hooks; either may be NULL. */
struct mock_registry_ops {
	mock_registry_request_cb request;
	mock_registry_accept_cb accept;
};

struct mock_registry {
	uv_tcp_t listener;
	struct mock_registry_conn conns[MOCK_REGISTRY_MAX_CONNS];
	const struct mock_registry_ops *ops;
	void *ud; /**< the hooks' @p ud */
	int port;

	/* Knobs: a test may change them at any time. */
	int silent; /**< read requests, answer none: a hung registry */
	int refuse; /**< accept and close at once: a registry still starting */
	/**
	 * 0: the default limit (RS_FRAME_MAX_DEFAULT), and a frame the mock
	 * cannot decode fails the test (the client must never send one).
	 * N: rosterd --max-frame N: an oversized frame is answered with
	 * FRAME_TOO_LARGE of id 0, and the connection closed once that is
	 * written. Read when a connection is accepted.
	 */
	uint32_t max_frame;

	/* Registry state. */
	uint64_t leases[MOCK_REGISTRY_MAX_LEASES]; /**< 0: forgotten */
	unsigned held[MOCK_REGISTRY_MAX_LEASES];   /**< instances per lease (0 or 1) */
	size_t n_leases;
	uint64_t next_lease;
	uint64_t revision;

	/* Counters. */
	unsigned opens, heartbeats, registers, lease_deregs;
	unsigned oversized; /**< frames over max_frame, answered with the verdict */
	unsigned accepts;   /**< connections accepted, refused ones included */
	uint64_t accepted_at[MOCK_REGISTRY_MAX_ACCEPTS]; /**< uv_now() of each accept */
};

/**
 * Zero @p m and start listening on @p loop. Fails the test if it cannot.
 * @param ops the test's hooks, or NULL; borrowed until mock_registry_stop().
 * @param ud passed to the hooks.
 */
void mock_registry_start(uv_loop_t *loop, struct mock_registry *m,
		const struct mock_registry_ops *ops, void *ud);

/**
 * Close every connection and the listener. The handles are closed once the
 * test runs its loop again (uv_run(UV_RUN_DEFAULT) before uv_loop_close()).
 */
void mock_registry_stop(struct mock_registry *m);

/** Close every open connection, as a registry that went away; keep listening. */
void mock_registry_drop_connections(struct mock_registry *m);

/**
 * Frame @p r and queue it on @p mc. @p r is borrowed for the call: it may live
 * on the caller's stack.
 */
void mock_registry_send(struct mock_registry_conn *mc, Roster__V1__Response *r);

/**
 * Run @p loop until *@p flag >= @p want (a test's event counter), or fail the
 * test after @p ms. A 10 ms tick keeps the loop turning while it waits.
 */
void mock_run_until(uv_loop_t *loop, const unsigned *flag, unsigned want, uint64_t ms);

/** Run @p loop for @p ms, whatever happens. */
void mock_run_for(uv_loop_t *loop, uint64_t ms);
