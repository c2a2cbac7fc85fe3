/*
 * client/eps.c - the endpoints on one registry connection (see eps.h).
 */
#include "client/eps.h"

#include <stdio.h>

void eps_sync(struct reg *r)
{
	struct roster_client *c = r->e->c;
	for (size_t i = 0; i < c->n_eps && r->state == REG_CONNECTED; i++) {
		struct ep *ep = c->eps[i];
		if (ep->acked[r->idx] == ep->gen || ep->sent[r->idx] == ep->gen ||
				ep->failed[r->idx] == ep->gen) {
			continue;
		}
		struct wire_request rq = {
				.op = ep->removed ? WIRE_DEREGISTER_INSTANCE : WIRE_REGISTER,
				.inst = &ep->inst,
				.lease = r->lease,
		};
		int rc = reg_send(r, &rq, ep->uid, ep->gen);
		if (rc == 0) {
			ep->sent[r->idx] = ep->gen;
		} else if (rc == ROSTER_ELIMIT) {
			/* This generation can never be sent: refused for good. */
			ep->failed[r->idx] = ep->gen;
			char msg[128];
			snprintf(msg, sizeof(msg),
					"the endpoint's request is over the registry's %u-byte frame "
					"limit; not sent",
					RS_FRAME_MAX_DEFAULT);
			reg_emit(r, ROSTER_EVENT_REGISTER_FAILED, rc, msg, &ep->inst, 0);
			pthread_cond_broadcast(&c->cond);
		}
	}
}

/* Errors a later retry may cure; anything else is the endpoint's fault.
 * PERMISSION_DENIED is retried too: a process that restarted registers its
 * identity under a new lease while its old lease still holds it, and is
 * refused until that lease expires (within its TTL); the retry on the next
 * heartbeat then takes it. A token outside its scopes is refused at every
 * retry, each one said by an event. */
static bool error_transient(int err)
{
	return err == ROSTER_EAGAIN || err == ROSTER_ESTORE || err == ROSTER_ESERVER ||
	       err == ROSTER_ETIMEDOUT || err == ROSTER_EPERM;
}

enum eps_ack eps_on_ack(struct reg *r, const struct pending *p, const struct wire_response *rs)
{
	struct roster_client *c = r->e->c;
	struct ep *ep = core_ep_by_uid(c, p->ep_uid);
	if (ep == NULL) {
		return EPS_ACK_DONE;
	}
	if (ep->sent[r->idx] == p->gen) {
		ep->sent[r->idx] = 0;
	}
	if (p->gen != ep->gen) {
		return EPS_ACK_RESYNC; /* send the new generation */
	}
	if (rs->error == ROSTER_ELEASE) {
		return EPS_ACK_LEASE_LOST;
	}
	if (p->op == WIRE_DEREGISTER_INSTANCE) {
		if (rs->error == 0 || rs->error == ROSTER_ENOENT) {
			ep->acked[r->idx] = ep->gen;
			(void)core_ep_drop_if_done(c, ep);
		}
		return EPS_ACK_DONE;
	}
	if (rs->error == 0) {
		ep->acked[r->idx] = ep->gen;
		reg_emit(r, ROSTER_EVENT_REGISTERED, 0, NULL, &ep->inst, rs->revision);
		pthread_cond_broadcast(&c->cond);
		return EPS_ACK_DONE;
	}
	if (!error_transient(rs->error)) {
		ep->failed[r->idx] = ep->gen;
	}
	reg_emit(r, ROSTER_EVENT_REGISTER_FAILED, rs->error, rs->message, &ep->inst, 0);
	pthread_cond_broadcast(&c->cond);
	return EPS_ACK_DONE;
}

void eps_on_verdict(struct reg *r, const struct wire_response *rs)
{
	struct roster_client *c = r->e->c;
	struct pending culprit = {0};
	bool found = false;
	for (size_t i = 0; rs->too_large && i < r->n_pend; i++) {
		/* Any frame larger than the refused one is in flight too. */
		if (r->pend[i].op == WIRE_REGISTER && (!found || r->pend[i].len > culprit.len)) {
			culprit = r->pend[i];
			found = true;
		}
	}
	reg_fail(r, rs->error, rs->message); /* forgets the pending table */
	struct ep *ep = found ? core_ep_by_uid(c, culprit.ep_uid) : NULL;
	if (ep != NULL && ep->gen == culprit.gen && !ep->removed) {
		ep->failed[r->idx] = ep->gen;
		reg_emit(r, ROSTER_EVENT_REGISTER_FAILED, ROSTER_ELIMIT, rs->message, &ep->inst, 0);
		pthread_cond_broadcast(&c->cond);
	}
}

void eps_on_held(struct reg *r, uint32_t count)
{
	struct roster_client *c = r->e->c;
	size_t held = 0, inflight = 0;
	for (size_t i = 0; i < c->n_eps; i++) {
		struct ep *ep = c->eps[i];
		held += (!ep->removed && ep->acked[r->idx] == ep->gen) ? 1 : 0;
		inflight += ep->sent[r->idx] != 0 ? 1 : 0;
	}
	if (inflight == 0 && count < held) {
		for (size_t i = 0; i < c->n_eps; i++) {
			if (!c->eps[i]->removed) {
				c->eps[i]->acked[r->idx] = 0;
			}
		}
	}
}

void eps_lease_lost(struct reg *r)
{
	struct roster_client *c = r->e->c;
	for (size_t i = 0; i < c->n_eps;) {
		struct ep *ep = c->eps[i];
		ep->sent[r->idx] = 0;
		ep->failed[r->idx] = 0;
		ep->acked[r->idx] = ep->removed ? ep->gen : 0;
		i += core_ep_drop_if_done(c, ep) ? 0 : 1;
	}
}

void eps_disconnected(struct reg *r)
{
	struct roster_client *c = r->e->c;
	for (size_t i = 0; i < c->n_eps; i++) {
		struct ep *ep = c->eps[i];
		ep->sent[r->idx] = 0;
		ep->failed[r->idx] = 0;
		if (!ep->removed) {
			ep->acked[r->idx] = 0;
		}
	}
}
