/*
 * client/watch.c - the watches on the engine's connections (see watch.h).
 */
#include "client/watch.h"

/* Make @p r the registry carrying the watches, if none does. */
static void watch_adopt(struct reg *r)
{
	struct engine *e = r->e;
	if (e->watch_reg != SIZE_MAX) {
		return;
	}
	e->watch_reg = r->idx;
	if (e->watch_prev != r->idx) {
		/* Revisions are per registry: start the new one from a snapshot. */
		for (struct roster_watch *w = e->c->watches; w != NULL; w = w->next) {
			w->last_revision = 0;
		}
		e->watch_prev = r->idx;
	}
}

void watch_sync(struct reg *r)
{
	struct engine *e = r->e;
	struct roster_client *c = e->c;
	if (c->watches == NULL && c->n_cancels == 0) {
		return;
	}
	if (e->watch_reg != SIZE_MAX && e->watch_reg != r->idx) {
		return;
	}
	watch_adopt(r);
	for (size_t i = 0; i < c->n_cancels && r->state == REG_CONNECTED; i++) {
		struct wire_request rq = {.op = WIRE_CANCEL_WATCH, .watch_id = c->cancels[i]};
		if (reg_send(r, &rq, 0, 0) != 0) {
			/* A failed connection ends the loop; a CancelWatch not
			 * sent only costs events that no watch matches. */
		}
	}
	c->n_cancels = 0;
	for (struct roster_watch *w = c->watches; w != NULL && r->state == REG_CONNECTED;
			w = w->next) {
		if (w->subscribed) {
			continue;
		}
		struct wire_request rq = {
				.op = WIRE_WATCH,
				.service = w->service,
				.since_revision = w->last_revision,
		};
		if (reg_send(r, &rq, 0, 0) != 0) {
			/* reg_send() failed the registry, and its RESYNC callbacks
			 * may have cancelled w: do not touch the list again. */
			return;
		}
		w->req_id = rq.id;
		w->subscribed = true;
		w->in_snapshot = false;
	}
}

/*
 * A callback may cancel any watch (freeing it) or start new ones, so no
 * pointer into the list is kept across a callback: the watches owed a
 * RESYNC are marked first, then the list is searched again from its head
 * for the next marked one after each callback. A cancelled watch has left
 * the list and is never reached; a watch started meanwhile is not marked.
 */
void watch_lost(struct reg *r)
{
	struct engine *e = r->e;
	struct roster_client *c = e->c;
	e->watch_reg = SIZE_MAX;
	for (struct roster_watch *w = c->watches; w != NULL; w = w->next) {
		w->resync_due = w->subscribed;
		w->subscribed = false;
		w->in_snapshot = false;
	}
	for (;;) {
		struct roster_watch *w = c->watches;
		while (w != NULL && !w->resync_due) {
			w = w->next;
		}
		if (w == NULL) {
			break;
		}
		w->resync_due = false;
		struct roster_watch_event ev = {.kind = ROSTER_WATCH_RESYNC,
				.revision = w->last_revision,
				.server = c->servers[r->idx]};
		w->cb(&ev, w->ud); /* may cancel w or any other watch */
	}
	for (size_t i = 0; i < e->n && e->watch_reg == SIZE_MAX; i++) {
		if (&e->regs[i] != r && e->regs[i].state == REG_CONNECTED) {
			watch_sync(&e->regs[i]);
		}
	}
}

/*
 * The stream's revision is authoritative, even when it goes down: a
 * registry restarted from an empty or restored data dir counts again from
 * 0, and resuming from a higher revision we saw before would skip every
 * change up to it. A snapshot's revision holds once it is complete (END):
 * one cut short must be asked for again whole, so nothing can be resumed
 * from BEGIN on. The UPSERTs between carry each instance's own, older
 * revision and say nothing about the stream. Outside a snapshot, events
 * come in revision order.
 */
static void watch_advance(struct roster_watch *w, const struct wire_response *rs)
{
	switch (rs->watch_kind) {
	case ROSTER_WATCH_SNAPSHOT_BEGIN:
		w->in_snapshot = true;
		w->last_revision = 0;
		break;
	case ROSTER_WATCH_SNAPSHOT_END:
		w->in_snapshot = false;
		w->last_revision = rs->revision;
		break;
	default:
		if (!w->in_snapshot) {
			w->last_revision = rs->revision;
		}
		break;
	}
}

void watch_on_event(struct reg *r, const struct wire_response *rs)
{
	struct roster_client *c = r->e->c;
	for (struct roster_watch *w = c->watches; w != NULL; w = w->next) {
		if (!w->subscribed || w->req_id != rs->id) {
			continue;
		}
		if (rs->error != 0 || rs->result != WIRE_RESULT_WATCH_EVENT) {
			/* The registry refused or ended the watch: try again at the
			 * next heartbeat tick, from a snapshot. */
			w->subscribed = false;
			w->in_snapshot = false;
			w->last_revision = 0;
			return;
		}
		watch_advance(w, rs);
		struct roster_watch_event ev = {
				.kind = rs->watch_kind,
				.revision = rs->revision,
				.instance = rs->watch_inst.service != NULL ? &rs->watch_inst : NULL,
				.reason = rs->reason,
				.server = c->servers[r->idx],
		};
		w->cb(&ev, w->ud); /* may cancel w: do not touch it after */
		return;
	}
}
