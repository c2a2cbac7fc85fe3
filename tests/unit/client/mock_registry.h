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
 *   OpenLease   a new lease (ids from 100), the TTL asked for (or
 *               ->grant_ttl);
 *   Heartbeat   the lease's TTL and how many instances it holds, or
 *               UNKNOWN_LEASE;
 *   Register    the instance, kept by identity under the lease (an update
 *               when the identity is known), a new revision; or
 *               UNKNOWN_LEASE;
 *   Deregister  an instance: forgets it, a new revision; NOT_FOUND when the
 *               identity is unknown. A lease: counts it, forgets the lease
 *               and its instances, a new revision;
 *   anything else UNSUPPORTED.
 * A test changes that through a request hook (answer a request itself, or
 * leave it to the default), the knobs below (e.g. ->park holds requests
 * back until mock_registry_unpark()), and the public fields (e.g.
 * n_leases = 0 forgets every lease, held[i] = 0 the instances of lease i),
 * and checks the counters and mock_registry_instance_find().
 *
 * What it does not do: keep services or more than each instance's identity,
 * lease and status, keep a journal, serve Watch (a test that needs it
 * answers Watch in its hook), limit anything but the frame size, or handle
 * more than MOCK_REGISTRY_MAX_CONNS connections, MOCK_REGISTRY_MAX_LEASES
 * leases, MOCK_REGISTRY_MAX_INSTANCES instances or MOCK_REGISTRY_MAX_PARKED
 * parked requests. Identities compare byte for byte (the client sends them
 * as it was given them). Anything the mock cannot make sense of (a frame it cannot decode
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
#define MOCK_REGISTRY_MAX_INSTANCES 32
#define MOCK_REGISTRY_MAX_PARKED 16
/** The ->park bit of a request kind (a Roster__V1__Request__OpCase). */
#define MOCK_PARK(op_case) (1u << (unsigned)(op_case))

struct mock_registry;

/** An instance the mock holds (slot of mock_registry.instances). */
struct mock_registry_instance {
	int used;
	char service[64], protocol[64], host[256];
	uint32_t port;
	uint64_t lease;            /**< the lease it was registered under */
	Roster__V1__Status status; /**< as its last Register sent it */
};

/** A request parked by ->park, answered by mock_registry_unpark(). */
struct mock_registry_parked {
	struct mock_registry_conn *mc;
	uint8_t *frame; /**< the request's bytes, a copy */
	size_t len;
};

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
typedef int (*mock_registry_request_cb)(
		struct mock_registry_conn *mc, const Roster__V1__Request *rq, void *ud);

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
	/** MOCK_PARK() bits: requests of these kinds, once the request hook
	 * declined them, are kept unanswered (and uncounted) until
	 * mock_registry_unpark(): a registry slow to answer them. */
	unsigned park;
	/** With max_frame: an oversized frame is counted and read no further,
	 * but its verdict is held back until mock_registry_verdict(): a
	 * registry slow to refuse, while the client changes its endpoints. */
	int hold_verdict;
	uint32_t grant_ttl; /**< 0: OpenLease grants the TTL asked for; N: N s */

	/* Registry state. */
	uint64_t leases[MOCK_REGISTRY_MAX_LEASES]; /**< 0: forgotten */
	/** Instances per lease. A test may zero one: the registry lost that
	 * lease's instances (the next Register under it starts afresh). */
	unsigned held[MOCK_REGISTRY_MAX_LEASES];
	uint32_t ttls[MOCK_REGISTRY_MAX_LEASES]; /**< the TTL granted, in s */
	size_t n_leases;
	uint64_t next_lease;
	uint64_t revision;
	struct mock_registry_instance instances[MOCK_REGISTRY_MAX_INSTANCES];
	struct mock_registry_parked parked[MOCK_REGISTRY_MAX_PARKED];
	size_t n_parked; /**< requests parked now */

	/* Counters. */
	unsigned opens, heartbeats, registers, lease_deregs;
	unsigned instance_deregs; /**< Deregister of an instance, known or not */
	unsigned oversized;       /**< frames over max_frame, answered with the verdict */
	unsigned accepts;         /**< connections accepted, refused ones included */
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
 * Answer every parked request, in the order they came, as the default
 * would have (the request hook is not asked again); a parked request of a
 * connection closed since is dropped. Parks nothing more by itself: clear
 * ->park first to stop parking.
 */
void mock_registry_unpark(struct mock_registry *m);

/**
 * Send FRAME_TOO_LARGE of id 0 on every open connection, then close each
 * once it is written, as rosterd refusing an oversized frame: the verdicts
 * held by ->hold_verdict, or (none held) a verdict out of the blue.
 * @return the number of connections given the verdict.
 */
unsigned mock_registry_verdict(struct mock_registry *m);

/**
 * The instance of this identity the registry holds, or NULL.
 * @return a view into @p m, valid until the mock next handles a request.
 */
struct mock_registry_instance *mock_registry_instance_find(struct mock_registry *m,
		const char *service, const char *protocol, const char *host, uint32_t port);

/**
 * Forget an instance, as when another client deregistered it (its lease
 * holds one fewer). @return 1 when it was held, else 0.
 */
int mock_registry_instance_forget(struct mock_registry *m, const char *service,
		const char *protocol, const char *host, uint32_t port);

/**
 * Run @p loop until *@p flag >= @p want (a test's event counter), or fail the
 * test after @p ms. A 10 ms tick keeps the loop turning while it waits.
 */
void mock_run_until(uv_loop_t *loop, const unsigned *flag, unsigned want, uint64_t ms);

/** Run @p loop for @p ms, whatever happens. */
void mock_run_for(uv_loop_t *loop, uint64_t ms);
