/*
 * client/lease.h - the lease of one registry connection: open it, check it
 * after a reconnect, renew it with heartbeats, lose it, give it back at
 * shutdown.
 *
 * Model: while CONNECTED, r->lease_state goes NONE -> PENDING (OpenLease
 * sent, or a known lease being checked with a heartbeat) -> OK, and back to
 * NONE when the registry no longer knows the lease (UNKNOWN_LEASE): every
 * endpoint is then registered again under a new one. A failed connection
 * keeps its lease to check on the next connection, since the registry
 * persists leases. One heartbeat at a time: a slow registry still holding
 * the last one does not get another.
 *
 * Threads: the engine's loop thread, c->mu held.
 *
 * Must not: sync endpoints or watches itself; the engine (engine.c) does it
 * after each lease event.
 */
#pragma once

#include <stdbool.h>

#include "client/reg.h"

/** Ask for a lease (OpenLease with the client's TTL): PENDING when sent. */
void lease_open(struct reg *r);

/** On a new connection with a lease: is it still known there? PENDING. */
void lease_check(struct reg *r);

/** At a heartbeat tick: renew an OK lease unless a heartbeat is unanswered. */
void lease_renew(struct reg *r);

/**
 * Ask the registry to drop the lease (DeregisterLease, at shutdown), if
 * connected with one.
 * @return true when the DeregisterLease was sent (its answer is awaited).
 */
bool lease_deregister(struct reg *r);

/**
 * The answer to OpenLease: the lease is OK (ROSTER_EVENT_LEASE), or the
 * connection fails on the registry's error.
 * @return true when the lease is OK (the heartbeat interval follows its TTL).
 */
bool lease_on_open(struct reg *r, const struct wire_response *rs);

/**
 * The answer to a heartbeat: the lease is OK (a checked lease becomes OK;
 * endpoints the registry no longer holds are to be registered again,
 * ROSTER_EVENT_HEARTBEAT), lost (UNKNOWN_LEASE, see lease_lost()), or the
 * connection fails on the registry's error.
 */
void lease_on_heartbeat(struct reg *r, const struct wire_response *rs);

/**
 * The answer to the DeregisterLease of lease_deregister()
 * (ROSTER_EVENT_DEREGISTERED).
 * @return true when it was that answer (the lease is given back).
 */
bool lease_on_deregister(struct reg *r, const struct wire_response *rs);

/**
 * The registry lost our lease (or it expired): everything of ours is gone
 * there (ROSTER_EVENT_LEASE_LOST); start again with a new lease.
 */
void lease_lost(struct reg *r, int err, const char *msg);

/**
 * The connection failed: no heartbeat is awaited, and a lease that was OK
 * or being checked is checked again on the next connection.
 * @return true when a lease deregistration (lease_deregister()) was cut
 *         short.
 */
bool lease_disconnected(struct reg *r);
