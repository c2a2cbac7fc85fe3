/*
 * client/eps.h - the endpoints of the wanted set on one registry connection:
 * what is left to send, and what each answer does to it.
 *
 * Model: for each endpoint and registry, ep->acked is the generation the
 * registry holds, ep->sent the one in flight, ep->failed one it refused for
 * good (core.h). eps_sync() sends every endpoint whose generation is none
 * of these (Register, or DeregisterInstance for a removed one); an answer
 * settles the generation it carried. A removed endpoint that every registry
 * has dropped is forgotten.
 *
 * Threads: the engine's loop thread, c->mu held.
 *
 * Must not: touch the lease (lease.c) or the watches (watch.c); an answer
 * that says the lease is lost is reported to the caller.
 */
#pragma once

#include <stdint.h>

#include "client/reg.h"

/** Send what the registry lacks (lease OK, connection up). */
void eps_sync(struct reg *r);

/** What an endpoint's answer asks of the engine. */
enum eps_ack {
	EPS_ACK_DONE = 0,   /**< nothing more */
	EPS_ACK_RESYNC,     /**< the endpoint changed meanwhile: sync again */
	EPS_ACK_LEASE_LOST, /**< the registry no longer knows the lease */
};

/**
 * The answer to a Register or DeregisterInstance of @p p: the generation is
 * acknowledged (ROSTER_EVENT_REGISTERED), refused (for good unless the
 * error is transient: ROSTER_EVENT_REGISTER_FAILED), or outdated.
 * @return what the engine does next.
 */
enum eps_ack eps_on_ack(struct reg *r, const struct pending *p, const struct wire_response *rs);

/**
 * A connection-level error (id 0), sent by the registry just before it
 * closes the connection: fail it with the registry's code and message.
 * After FRAME_TOO_LARGE, the largest Register in flight is the culprit: its
 * generation is refused for good on this registry, or every reconnect would
 * send it again and have the connection, with every other endpoint, dropped
 * again.
 */
void eps_on_verdict(struct reg *r, const struct wire_response *rs);

/**
 * A heartbeat's count of the instances the registry holds under the lease:
 * with nothing in flight, fewer than it acknowledged means its store was
 * lost or rolled back; every endpoint is registered again.
 */
void eps_on_held(struct reg *r, uint32_t count);

/** The lease is lost: the registry holds none of ours (removed ones are done). */
void eps_lease_lost(struct reg *r);

/** The connection failed: nothing is in flight, and what it held is unknown. */
void eps_disconnected(struct reg *r);
