/*
 * client/lease.c - the lease of one registry connection (see lease.h).
 */
#include "client/lease.h"

#include "client/eps.h"

static void lease_ok(struct reg *r)
{
	r->lease_state = LEASE_OK;
	/* Only a working lease proves the registry healthy. */
	backoff_reset(&r->backoff);
}

/* A heartbeat on the lease; its id is the unanswered heartbeat's. */
static bool heartbeat_send(struct reg *r)
{
	struct wire_request rq = {.op = WIRE_HEARTBEAT, .lease = r->lease};
	if (reg_send(r, &rq, 0, 0) != 0) {
		return false;
	}
	r->hb_id = rq.id;
	return true;
}

void lease_open(struct reg *r)
{
	struct wire_request rq = {.op = WIRE_OPEN_LEASE, .ttl_seconds = r->e->c->cfg.ttl_seconds};
	if (reg_send(r, &rq, 0, 0) == 0) {
		r->lease_state = LEASE_PENDING;
	}
}

void lease_check(struct reg *r)
{
	if (heartbeat_send(r)) {
		r->lease_state = LEASE_PENDING;
	}
}

void lease_renew(struct reg *r)
{
	/* A slow registry still has our last heartbeat: do not pile more on
	 * it (it renews the lease when it gets to it). */
	if (r->lease_state == LEASE_OK && r->hb_id == 0) {
		(void)heartbeat_send(r);
	}
}

bool lease_deregister(struct reg *r)
{
	if (r->state != REG_CONNECTED || r->lease == 0) {
		return false;
	}
	struct wire_request rq = {.op = WIRE_DEREGISTER_LEASE, .lease = r->lease};
	if (reg_send(r, &rq, 0, 0) != 0) {
		return false;
	}
	r->dereg_id = rq.id;
	return true;
}

bool lease_on_open(struct reg *r, const struct wire_response *rs)
{
	if (rs->error != 0) {
		reg_fail(r, rs->error, rs->message);
		return false;
	}
	r->lease = rs->lease;
	r->ttl = rs->ttl_seconds;
	lease_ok(r);
	reg_emit(r, ROSTER_EVENT_LEASE, 0, NULL, NULL, 0);
	return true;
}

void lease_on_heartbeat(struct reg *r, const struct wire_response *rs)
{
	r->hb_id = 0;
	if (rs->error == ROSTER_ELEASE) {
		lease_lost(r, rs->error, rs->message);
		return;
	}
	if (rs->error != 0) {
		reg_fail(r, rs->error, rs->message);
		return;
	}
	if (rs->ttl_seconds > 0) {
		r->ttl = rs->ttl_seconds;
	}
	if (r->lease_state == LEASE_PENDING) {
		lease_ok(r);
	}
	eps_on_held(r, rs->count);
	reg_emit(r, ROSTER_EVENT_HEARTBEAT, 0, NULL, NULL, 0);
}

bool lease_on_deregister(struct reg *r, const struct wire_response *rs)
{
	if (r->dereg_id != rs->id) {
		return false;
	}
	r->dereg_id = 0;
	reg_emit(r, ROSTER_EVENT_DEREGISTERED, rs->error, rs->message, NULL, rs->revision);
	r->lease = 0;
	return true;
}

void lease_lost(struct reg *r, int err, const char *msg)
{
	reg_emit(r, ROSTER_EVENT_LEASE_LOST, err, msg, NULL, 0);
	r->lease = 0;
	r->lease_state = LEASE_NONE;
	eps_lease_lost(r);
}

bool lease_disconnected(struct reg *r)
{
	r->hb_id = 0;
	if (r->lease_state == LEASE_PENDING && r->lease == 0) {
		r->lease_state = LEASE_NONE;
	}
	if (r->lease_state == LEASE_OK || r->lease_state == LEASE_PENDING) {
		/* The lease may survive (the registry persists leases): check it
		 * first on reconnect, then register everything again. */
		r->lease_state = r->lease != 0 ? LEASE_PENDING : LEASE_NONE;
	}
	bool cut = r->dereg_id != 0;
	r->dereg_id = 0;
	return cut;
}
