/*
 * client/engine.c - the libuv side of libroster: one connection and one
 * lease per registry, heartbeats, reconnects, re-registration, watches.
 *
 * Everything here runs on the engine's loop thread, with c->mu held for the
 * duration of each callback. A registry connection goes
 *   IDLE --timer--> CONNECTING --connect_cb--> CONNECTED --fail--> CLOSING
 *   --close_cb--> IDLE (backoff timer armed)
 * and, while CONNECTED, its lease goes NONE -> PENDING -> OK (or back to
 * NONE on UNKNOWN_LEASE). reg_sync() compares the wanted state with what the
 * registry acknowledged and sends the difference; it runs after every event
 * that could change either side.
 */
#include "client/engine.h"

#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "client/backoff.h"
#include "client/core.h"
#include "client/inst.h"
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
	enum lease_state lease_state;
	uint64_t lease;
	uint32_t ttl;
	uv_tcp_t tcp;
	uv_connect_t connect_req;
	uv_timer_t timer;
	struct rs_frame_decoder dec;
	struct pending *pend;
	size_t n_pend, cap_pend;
	uint64_t hb_id;   /**< the unanswered heartbeat, or 0 */
	uint64_t dereg_id; /**< the lease deregistration at shutdown, or 0 */
	struct backoff backoff;
};

struct engine {
	struct roster_client *c;
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
	bool closed;         /**< every handle closed or closing */
	size_t draining;     /**< lease deregistrations awaited at shutdown */
	size_t open_handles;
	struct backoff rng;  /**< heartbeat jitter */
	size_t watch_reg;    /**< the registry carrying the watches, or SIZE_MAX */
	size_t watch_prev;   /**< the one whose revisions the watches remember */
};

struct write_req {
	uv_write_t req;
	struct reg *r;
	uint8_t *buf;
};

static void reg_sync(struct reg *r);
static void reg_sync_watches(struct reg *r);
static void reg_fail(struct reg *r, int err, const char *why);
static void engine_close_all(struct engine *e);

static void emit(struct reg *r, enum roster_event_kind kind, int err, const char *msg,
		const struct roster_instance *ep, uint64_t revision)
{
	struct roster_client *c = r->e->c;
	struct roster_event ev = {
		.kind = kind,
		.registry = r->idx,
		.server = c->servers[r->idx],
		.lease = r->lease,
		.revision = revision,
		.endpoint = ep,
		.error = err,
		.message = msg != NULL ? msg : "",
	};
	core_emit(c, &ev);
}

static void handle_close_cb(uv_handle_t *h)
{
	struct engine *e = h->data;
	e->open_handles--;
}

static void close_handle(struct engine *e, uv_handle_t *h)
{
	if (!uv_is_closing(h)) {
		h->data = e;
		uv_close(h, handle_close_cb);
	}
}

/* ---- requests ---------------------------------------------------------- */

static void write_cb(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct reg *r = w->r;
	free(w->buf);
	free(w);
	if (status < 0 && r->state == REG_CONNECTED) {
		pthread_mutex_lock(&r->e->c->mu);
		reg_fail(r, ROSTER_EUNREACHABLE, uv_strerror(status));
		pthread_mutex_unlock(&r->e->c->mu);
	}
}

/* Send a request and remember what it was for. 0; ROSTER_ELIMIT when the
 * request is over the registry's frame limit (not sent, the connection
 * stays up); else the connection failed. */
static int reg_send(struct reg *r, struct wire_request *rq, uint64_t ep_uid, uint64_t gen)
{
	struct roster_client *c = r->e->c;
	if (r->state != REG_CONNECTED) {
		return ROSTER_EUNREACHABLE;
	}
	rq->id = core_next_id(c);
	if (r->n_pend == r->cap_pend) {
		size_t cap = r->cap_pend > 0 ? r->cap_pend * 2 : 8;
		struct pending *p = realloc(r->pend, cap * sizeof(*p));
		if (p == NULL) {
			reg_fail(r, ROSTER_ENOMEM, "out of memory");
			return ROSTER_ENOMEM;
		}
		r->pend = p;
		r->cap_pend = cap;
	}
	struct write_req *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		reg_fail(r, ROSTER_ENOMEM, "out of memory");
		return ROSTER_ENOMEM;
	}
	size_t len = 0;
	int rc = wire_request_encode(rq, &w->buf, &len);
	if (rc == ROSTER_ELIMIT) {
		/* The registry would drop the connection over it, for every
		 * endpoint: the caller refuses this one request instead. */
		free(w);
		return rc;
	}
	if (rc != 0) {
		free(w);
		reg_fail(r, rc, rc == ROSTER_ENOMEM ? "out of memory" : roster_strerror(rc));
		return rc;
	}
	w->r = r;
	uv_buf_t b = uv_buf_init((char *)w->buf, (unsigned)len);
	rc = uv_write(&w->req, (uv_stream_t *)&r->tcp, &b, 1, write_cb);
	if (rc != 0) {
		free(w->buf);
		free(w);
		reg_fail(r, ROSTER_EUNREACHABLE, uv_strerror(rc));
		return ROSTER_EUNREACHABLE;
	}
	/* A watch's stream is matched against the watch list, not this table. */
	if (rq->op != WIRE_WATCH && rq->op != WIRE_CANCEL_WATCH) {
		r->pend[r->n_pend++] =
				(struct pending){rq->id, rq->op, ep_uid, gen, uv_now(r->e->loop), len};
	}
	return 0;
}

/* Take the pending entry of @p id out of the table. */
static int pending_take(struct reg *r, uint64_t id, struct pending *out)
{
	for (size_t i = 0; i < r->n_pend; i++) {
		if (r->pend[i].id == id) {
			*out = r->pend[i];
			r->pend[i] = r->pend[--r->n_pend];
			return 1;
		}
	}
	return 0;
}

/* The registry lost our lease (or the lease expired): everything of ours is
 * gone there; start again with a new lease. */
static void reg_lease_lost(struct reg *r, int err, const char *msg)
{
	struct roster_client *c = r->e->c;
	emit(r, ROSTER_EVENT_LEASE_LOST, err, msg, NULL, 0);
	r->lease = 0;
	r->lease_state = LEASE_NONE;
	for (size_t i = 0; i < c->n_eps;) {
		struct ep *ep = c->eps[i];
		ep->sent[r->idx] = 0;
		ep->failed[r->idx] = 0;
		ep->acked[r->idx] = ep->removed ? ep->gen : 0;
		i += core_ep_drop_if_done(c, ep) ? 0 : 1;
	}
}

static void reg_sync_eps(struct reg *r)
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
			emit(r, ROSTER_EVENT_REGISTER_FAILED, rc, msg, &ep->inst, 0);
			pthread_cond_broadcast(&c->cond);
		}
	}
}

static void reg_sync_watches(struct reg *r)
{
	struct engine *e = r->e;
	struct roster_client *c = e->c;
	/* Watches ride on one registry at a time: the first that connects, and
	 * after it fails, the next one that is connected. */
	if (c->watches == NULL && c->n_cancels == 0) {
		return;
	}
	if (e->watch_reg != SIZE_MAX && e->watch_reg != r->idx) {
		return;
	}
	if (e->watch_reg == SIZE_MAX) {
		e->watch_reg = r->idx;
		if (e->watch_prev != r->idx) {
			/* Revisions are per registry: start the new one from a
			 * snapshot. */
			for (struct roster_watch *w = c->watches; w != NULL; w = w->next) {
				w->last_revision = 0;
			}
			e->watch_prev = r->idx;
		}
	}
	for (size_t i = 0; i < c->n_cancels && r->state == REG_CONNECTED; i++) {
		struct wire_request rq = {.op = WIRE_CANCEL_WATCH, .watch_id = c->cancels[i]};
		(void)reg_send(r, &rq, 0, 0);
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

static void reg_sync(struct reg *r)
{
	struct roster_client *c = r->e->c;
	if (r->state != REG_CONNECTED || r->e->stopping) {
		return;
	}
	reg_sync_watches(r);
	if (r->lease_state == LEASE_NONE && core_live_eps(c) > 0) {
		struct wire_request rq = {.op = WIRE_OPEN_LEASE, .ttl_seconds = c->cfg.ttl_seconds};
		if (reg_send(r, &rq, 0, 0) == 0) {
			r->lease_state = LEASE_PENDING;
		}
		return;
	}
	if (r->lease_state == LEASE_OK) {
		reg_sync_eps(r);
	}
}

/* ---- connection lifecycle ---------------------------------------------- */

static uint32_t heartbeat_ms(struct reg *r)
{
	uint32_t ttl = r->ttl > 0 ? r->ttl : r->e->c->cfg.ttl_seconds;
	uint32_t base = ttl * 1000u / 3u;
	return backoff_jitter(&r->e->rng, base > 0 ? base : 1, 10);
}

static void timer_cb(uv_timer_t *t);

/* The next reconnect delay. A registry that restarts keeps the leases it
 * persisted for one TTL of grace (SPEC): while it may still hold ours,
 * reconnect within a third of the TTL, which leaves a heartbeat interval
 * of margin, whatever backoff_max_ms says. With no lease at stake, the
 * plain backoff spares a registry that is down. */
static uint32_t reconnect_delay_ms(struct reg *r)
{
	uint32_t limit = 0;
	if (r->lease != 0) {
		uint32_t ttl = r->ttl > 0 ? r->ttl : r->e->c->cfg.ttl_seconds;
		limit = ttl * 1000u / 3u;
		limit = limit > 0 ? limit : 1;
	}
	return backoff_next_within(&r->backoff, limit);
}

static void tcp_close_cb(uv_handle_t *h)
{
	struct reg *r = h->data;
	struct engine *e = r->e;
	e->open_handles--;
	pthread_mutex_lock(&e->c->mu);
	r->state = REG_IDLE;
	if (!e->stopping) {
		uv_timer_start(&r->timer, timer_cb, reconnect_delay_ms(r), 0);
	}
	pthread_mutex_unlock(&e->c->mu);
}

/* The registry carrying the watches failed: tell each watch, then move them
 * to another connected registry, if any (else to the first that connects).
 *
 * A callback may cancel any watch (freeing it) or start new ones, so no
 * pointer into the list is kept across a callback: the watches owed a
 * RESYNC are marked first, then the list is searched again from its head
 * for the next marked one after each callback. A cancelled watch has left
 * the list and is never reached; a watch started meanwhile is not marked. */
static void reg_watches_lost(struct reg *r)
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
			reg_sync_watches(&e->regs[i]);
		}
	}
}

/* The connection is unusable: forget what was in flight, close, and let the
 * close callback arm the backoff timer. */
static void reg_fail(struct reg *r, int err, const char *why)
{
	struct engine *e = r->e;
	struct roster_client *c = e->c;
	if (r->state != REG_CONNECTED && r->state != REG_CONNECTING) {
		return;
	}
	bool was_connected = r->state == REG_CONNECTED;
	r->state = REG_CLOSING;
	uv_timer_stop(&r->timer);
	r->n_pend = 0;
	r->hb_id = 0;
	if (r->lease_state == LEASE_PENDING && r->lease == 0) {
		r->lease_state = LEASE_NONE;
	}
	if (r->lease_state == LEASE_OK || r->lease_state == LEASE_PENDING) {
		/* The lease may survive (the registry persists leases): check it
		 * first on reconnect, then register everything again. */
		r->lease_state = r->lease != 0 ? LEASE_PENDING : LEASE_NONE;
	}
	for (size_t i = 0; i < c->n_eps; i++) {
		struct ep *ep = c->eps[i];
		ep->sent[r->idx] = 0;
		ep->failed[r->idx] = 0;
		if (!ep->removed) {
			ep->acked[r->idx] = 0;
		}
	}
	rs_frame_decoder_deinit(&r->dec);
	if (r->dereg_id != 0) {
		r->dereg_id = 0;
		e->draining--;
	}
	if (was_connected && !e->stopping) {
		emit(r, ROSTER_EVENT_DISCONNECTED, err, why, NULL, 0);
		if (r->idx == e->watch_reg) {
			reg_watches_lost(r);
		}
	}
	r->tcp.data = r;
	uv_close((uv_handle_t *)&r->tcp, tcp_close_cb);
	if (e->stopping && e->draining == 0) {
		engine_close_all(e);
	}
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	size_t n = suggested < 16384 ? suggested : 16384;
	buf->base = malloc(n);
	buf->len = buf->base != NULL ? n : 0;
}

static void on_response(struct reg *r, struct wire_response *rs);

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct reg *r = s->data;
	struct roster_client *c = r->e->c;
	pthread_mutex_lock(&c->mu);
	if (nread < 0) {
		reg_fail(r, ROSTER_EUNREACHABLE,
				nread == UV_EOF ? "connection closed by the registry"
						: uv_strerror((int)nread));
		goto out;
	}
	const uint8_t *p = (const uint8_t *)buf->base;
	size_t left = (size_t)nread;
	while (left > 0 && r->state == REG_CONNECTED) {
		size_t used = 0;
		const uint8_t *frame;
		size_t flen;
		int d = rs_frame_decode(&r->dec, p, left, &used, &frame, &flen);
		if (d < 0) {
			reg_fail(r, ROSTER_EPROTO, "bad frame from the registry");
			break;
		}
		p += used;
		left -= used;
		if (d == 0) {
			break;
		}
		struct wire_response rs;
		if (wire_response_decode(frame, flen, &rs) != 0) {
			reg_fail(r, ROSTER_EPROTO, "malformed response from the registry");
			break;
		}
		on_response(r, &rs);
		wire_response_deinit(&rs);
	}
out:
	free(buf->base);
	pthread_mutex_unlock(&c->mu);
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct reg *r = req->data;
	struct engine *e = r->e;
	struct roster_client *c = e->c;
	pthread_mutex_lock(&c->mu);
	if (r->state != REG_CONNECTING) {
		goto out; /* timed out and closing */
	}
	if (status < 0) {
		reg_fail(r, ROSTER_EUNREACHABLE, uv_strerror(status));
		goto out;
	}
	r->state = REG_CONNECTED;
	rs_frame_decoder_init(&r->dec, RS_FRAME_MAX_DEFAULT * 16);
	r->tcp.data = r;
	int rc = uv_read_start((uv_stream_t *)&r->tcp, alloc_cb, read_cb);
	if (rc != 0) {
		reg_fail(r, ROSTER_EUNREACHABLE, uv_strerror(rc));
		goto out;
	}
	emit(r, ROSTER_EVENT_CONNECTED, 0, NULL, NULL, 0);
	if (r->lease != 0) {
		/* Is our lease still known there? */
		struct wire_request rq = {.op = WIRE_HEARTBEAT, .lease = r->lease};
		if (reg_send(r, &rq, 0, 0) == 0) {
			r->hb_id = rq.id;
			r->lease_state = LEASE_PENDING;
		}
	} else {
		/* No backoff reset yet: only a working lease proves the registry
		 * healthy. Without endpoints there is no lease to wait for. */
		if (core_live_eps(c) == 0) {
			backoff_reset(&r->backoff);
		}
		reg_sync(r);
	}
	if (r->state == REG_CONNECTED) {
		uv_timer_start(&r->timer, timer_cb, heartbeat_ms(r), 0);
	}
out:
	pthread_mutex_unlock(&c->mu);
}

static void reg_connect(struct reg *r)
{
	struct engine *e = r->e;
	int rc = uv_tcp_init(e->loop, &r->tcp);
	if (rc != 0) {
		uv_timer_start(&r->timer, timer_cb, reconnect_delay_ms(r), 0);
		return;
	}
	e->open_handles++;
	r->tcp.data = r;
	(void)uv_tcp_nodelay(&r->tcp, 1);
	r->connect_req.data = r;
	r->state = REG_CONNECTING;
	rc = uv_tcp_connect(&r->connect_req, &r->tcp,
			(const struct sockaddr *)&e->c->addrs[r->idx], connect_cb);
	if (rc != 0) {
		reg_fail(r, ROSTER_EUNREACHABLE, uv_strerror(rc));
		return;
	}
	uv_timer_start(&r->timer, timer_cb, e->c->cfg.timeout_ms, 0);
}

/* Has a request (heartbeat or other) waited longer than the timeout plus a
 * heartbeat interval? A registry under load may answer late, and a
 * reconnect would only add to its load, so one late tick is tolerated; an
 * OpenLease or Register never answered is caught the same way. */
static int reg_stalled(struct reg *r)
{
	uint64_t now = uv_now(r->e->loop);
	uint64_t limit = (uint64_t)r->e->c->cfg.timeout_ms + heartbeat_ms(r);
	for (size_t i = 0; i < r->n_pend; i++) {
		if (now - r->pend[i].sent_ms > limit) {
			return 1;
		}
	}
	return 0;
}

static void timer_cb(uv_timer_t *t)
{
	struct reg *r = t->data;
	struct roster_client *c = r->e->c;
	pthread_mutex_lock(&c->mu);
	switch (r->state) {
	case REG_IDLE:
		if (!r->e->stopping) {
			reg_connect(r);
		}
		break;
	case REG_CONNECTING:
		reg_fail(r, ROSTER_ETIMEDOUT, "connect timed out");
		break;
	case REG_CONNECTED:
		if (reg_stalled(r)) {
			/* The registry or the path is dead even if TCP is not. */
			reg_fail(r, ROSTER_ETIMEDOUT, "registry not answering");
			break;
		}
		/* A slow registry still has our last heartbeat: do not pile more
		 * on it (it renews the lease when it gets to it). */
		if (r->lease_state == LEASE_OK && r->hb_id == 0) {
			struct wire_request rq = {.op = WIRE_HEARTBEAT, .lease = r->lease};
			if (reg_send(r, &rq, 0, 0) == 0) {
				r->hb_id = rq.id;
			}
		}
		reg_sync(r); /* retry what failed for transient reasons */
		if (r->state == REG_CONNECTED) {
			uv_timer_start(&r->timer, timer_cb, heartbeat_ms(r), 0);
		}
		break;
	case REG_CLOSING:
		break;
	}
	pthread_mutex_unlock(&c->mu);
}

/* ---- responses ----------------------------------------------------------- */

static void on_lease_ok(struct reg *r)
{
	r->lease_state = LEASE_OK;
	backoff_reset(&r->backoff);
}

static void on_heartbeat(struct reg *r, struct wire_response *rs)
{
	struct roster_client *c = r->e->c;
	r->hb_id = 0;
	if (rs->error == ROSTER_ELEASE) {
		reg_lease_lost(r, rs->error, rs->message);
		reg_sync(r);
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
		on_lease_ok(r);
	}
	/* The registry holds fewer of our endpoints than it acknowledged (its
	 * store was lost or rolled back): register them again. */
	size_t held = 0, inflight = 0;
	for (size_t i = 0; i < c->n_eps; i++) {
		struct ep *ep = c->eps[i];
		held += (!ep->removed && ep->acked[r->idx] == ep->gen) ? 1 : 0;
		inflight += ep->sent[r->idx] != 0 ? 1 : 0;
	}
	if (inflight == 0 && rs->count < held) {
		for (size_t i = 0; i < c->n_eps; i++) {
			if (!c->eps[i]->removed) {
				c->eps[i]->acked[r->idx] = 0;
			}
		}
	}
	emit(r, ROSTER_EVENT_HEARTBEAT, 0, NULL, NULL, 0);
	reg_sync(r);
}

/* Errors a later retry may cure; anything else is the endpoint's fault. */
static int error_transient(int err)
{
	return err == ROSTER_EAGAIN || err == ROSTER_ESTORE || err == ROSTER_ESERVER ||
			err == ROSTER_ETIMEDOUT;
}

static void on_endpoint_ack(struct reg *r, const struct pending *p, struct wire_response *rs)
{
	struct roster_client *c = r->e->c;
	struct ep *ep = core_ep_by_uid(c, p->ep_uid);
	if (ep == NULL) {
		return;
	}
	if (ep->sent[r->idx] == p->gen) {
		ep->sent[r->idx] = 0;
	}
	if (p->gen != ep->gen) {
		reg_sync(r); /* changed meanwhile: send the new generation */
		return;
	}
	if (rs->error == ROSTER_ELEASE) {
		reg_lease_lost(r, rs->error, rs->message);
		reg_sync(r);
		return;
	}
	if (p->op == WIRE_DEREGISTER_INSTANCE) {
		if (rs->error == 0 || rs->error == ROSTER_ENOENT) {
			ep->acked[r->idx] = ep->gen;
			(void)core_ep_drop_if_done(c, ep);
		}
		return;
	}
	if (rs->error == 0) {
		ep->acked[r->idx] = ep->gen;
		emit(r, ROSTER_EVENT_REGISTERED, 0, NULL, &ep->inst, rs->revision);
		pthread_cond_broadcast(&c->cond);
		return;
	}
	if (!error_transient(rs->error)) {
		ep->failed[r->idx] = ep->gen;
	}
	emit(r, ROSTER_EVENT_REGISTER_FAILED, rs->error, rs->message, &ep->inst, 0);
	pthread_cond_broadcast(&c->cond);
}

static void on_watch_event(struct reg *r, struct wire_response *rs)
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
		/* The stream's revision is authoritative, even when it goes down:
		 * a registry restarted from an empty or restored data dir counts
		 * again from 0, and resuming from a higher revision we saw before
		 * would skip every change up to it. A snapshot's revision holds
		 * once it is complete (END): one cut short must be asked for again
		 * whole, so nothing can be resumed from BEGIN on. The UPSERTs
		 * between carry each instance's own, older revision and say nothing
		 * about the stream. Outside a snapshot, events come in revision
		 * order. */
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

/* An error with id 0 is the registry's verdict on the whole connection,
 * sent just before it closes it: report its code and message. After
 * FRAME_TOO_LARGE, the culprit is the largest Register in flight (any frame
 * larger than the refused one is in flight too): its endpoint's generation
 * is refused for good on this registry, or every reconnect would send it
 * again and have the connection, with every other endpoint, dropped again. */
static void on_connection_verdict(struct reg *r, const struct wire_response *rs)
{
	struct roster_client *c = r->e->c;
	struct pending culprit = {0};
	bool found = false;
	for (size_t i = 0; rs->too_large && i < r->n_pend; i++) {
		if (r->pend[i].op == WIRE_REGISTER && (!found || r->pend[i].len > culprit.len)) {
			culprit = r->pend[i];
			found = true;
		}
	}
	reg_fail(r, rs->error, rs->message); /* forgets the pending table */
	struct ep *ep = found ? core_ep_by_uid(c, culprit.ep_uid) : NULL;
	if (ep != NULL && ep->gen == culprit.gen && !ep->removed) {
		ep->failed[r->idx] = ep->gen;
		emit(r, ROSTER_EVENT_REGISTER_FAILED, ROSTER_ELIMIT, rs->message, &ep->inst, 0);
		pthread_cond_broadcast(&c->cond);
	}
}

static void on_response(struct reg *r, struct wire_response *rs)
{
	struct engine *e = r->e;
	struct pending p;
	if (rs->id == 0 && rs->error != 0) {
		on_connection_verdict(r, rs);
		return;
	}
	if (rs->result == WIRE_RESULT_WATCH_EVENT || !pending_take(r, rs->id, &p)) {
		/* A watch's event or its refusal; anything else unknown is a
		 * stray (e.g. the answer to a CancelWatch) and ignored. */
		on_watch_event(r, rs);
		return;
	}
	switch (p.op) {
	case WIRE_OPEN_LEASE:
		if (rs->error != 0) {
			reg_fail(r, rs->error, rs->message);
			return;
		}
		r->lease = rs->lease;
		r->ttl = rs->ttl_seconds;
		on_lease_ok(r);
		emit(r, ROSTER_EVENT_LEASE, 0, NULL, NULL, 0);
		reg_sync(r);
		/* The heartbeat interval follows the granted TTL. */
		uv_timer_start(&r->timer, timer_cb, heartbeat_ms(r), 0);
		break;
	case WIRE_HEARTBEAT:
		on_heartbeat(r, rs);
		break;
	case WIRE_REGISTER:
	case WIRE_DEREGISTER_INSTANCE:
		on_endpoint_ack(r, &p, rs);
		break;
	case WIRE_DEREGISTER_LEASE:
		if (r->dereg_id == rs->id) {
			r->dereg_id = 0;
			emit(r, ROSTER_EVENT_DEREGISTERED, rs->error, rs->message, NULL, rs->revision);
			r->lease = 0;
			e->draining--;
			if (e->draining == 0) {
				engine_close_all(e);
			}
		}
		break;
	default:
		break;
	}
}

/* ---- engine lifecycle ---------------------------------------------------- */

static void engine_close_all(struct engine *e)
{
	if (e->closed) {
		return;
	}
	e->closed = true;
	uv_timer_stop(&e->stop_timer);
	for (size_t i = 0; i < e->n; i++) {
		struct reg *r = &e->regs[i];
		if (r->state == REG_CONNECTED || r->state == REG_CONNECTING) {
			reg_fail(r, ROSTER_ESTATE, "client stopping");
		}
		close_handle(e, (uv_handle_t *)&r->timer);
	}
	close_handle(e, (uv_handle_t *)&e->async);
	close_handle(e, (uv_handle_t *)&e->stop_timer);
}

static void stop_timer_cb(uv_timer_t *t)
{
	struct engine *e = t->data;
	pthread_mutex_lock(&e->c->mu);
	engine_close_all(e);
	pthread_mutex_unlock(&e->c->mu);
}

/* Deregister every lease we hold, then close (c->mu held, loop thread). */
static void engine_begin_stop(struct engine *e)
{
	if (e->stopping) {
		return;
	}
	e->stopping = true;
	for (size_t i = 0; i < e->n; i++) {
		struct reg *r = &e->regs[i];
		uv_timer_stop(&r->timer);
		if (r->state == REG_CONNECTED && r->lease != 0) {
			struct wire_request rq = {.op = WIRE_DEREGISTER_LEASE, .lease = r->lease};
			if (reg_send(r, &rq, 0, 0) == 0) {
				r->dereg_id = rq.id;
				e->draining++;
			}
		}
	}
	if (e->draining == 0) {
		engine_close_all(e);
		return;
	}
	e->stop_timer.data = e;
	uv_timer_start(&e->stop_timer, stop_timer_cb, e->c->cfg.timeout_ms, 0);
}

static void async_cb(uv_async_t *a)
{
	struct engine *e = a->data;
	pthread_mutex_lock(&e->c->mu);
	if (e->stop_requested) {
		engine_begin_stop(e);
	} else if (!e->stopping) {
		for (size_t i = 0; i < e->n; i++) {
			reg_sync(&e->regs[i]);
		}
	}
	pthread_mutex_unlock(&e->c->mu);
}

static void *engine_thread_main(void *arg)
{
	struct engine *e = arg;
	/* libuv writes with write(2): a registry that vanished mid-write would
	 * raise SIGPIPE, which kills the host process by default. Blocked here,
	 * the write fails with EPIPE instead; the host's own threads keep their
	 * signal dispositions. */
	sigset_t pipe;
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, NULL);
	uv_run(e->loop, UV_RUN_DEFAULT);
	return NULL;
}

int engine_start(struct roster_client *c, void *loop, bool own_thread)
{
	struct engine *e = calloc(1, sizeof(*e));
	if (e == NULL) {
		return ROSTER_ENOMEM;
	}
	e->regs = calloc(c->n_servers, sizeof(*e->regs));
	if (e->regs == NULL) {
		free(e);
		return ROSTER_ENOMEM;
	}
	e->c = c;
	e->n = c->n_servers;
	e->own = own_thread;
	int rc = 0;
	if (own_thread) {
		rc = uv_loop_init(&e->own_loop);
		if (rc != 0) {
			free(e->regs);
			free(e);
			return rc;
		}
		e->loop = &e->own_loop;
	} else {
		e->loop = loop;
	}
	backoff_init(&e->rng, 1, 1, 0);
	e->watch_reg = SIZE_MAX;
	e->watch_prev = SIZE_MAX;
	/* Handles are initialised before the loop thread exists or, on the
	 * caller's loop, on its thread: no race with callbacks. */
	uv_async_init(e->loop, &e->async, async_cb);
	e->async.data = e;
	uv_timer_init(e->loop, &e->stop_timer);
	e->stop_timer.data = e;
	e->open_handles = 2;
	for (size_t i = 0; i < e->n; i++) {
		struct reg *r = &e->regs[i];
		r->e = e;
		r->idx = i;
		uv_timer_init(e->loop, &r->timer);
		r->timer.data = r;
		e->open_handles++;
		backoff_init(&r->backoff, c->cfg.backoff_min_ms, c->cfg.backoff_max_ms, 0);
	}
	c->engine = e;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < e->n; i++) {
		reg_connect(&e->regs[i]);
	}
	pthread_mutex_unlock(&c->mu);
	if (own_thread) {
		rc = pthread_create(&e->thread, NULL, engine_thread_main, e);
		if (rc != 0) {
			/* Nothing runs the loop: close everything and run it here. */
			pthread_mutex_lock(&c->mu);
			e->stopping = true;
			engine_close_all(e);
			pthread_mutex_unlock(&c->mu);
			uv_run(e->loop, UV_RUN_DEFAULT);
			(void)uv_loop_close(e->loop);
			c->engine = NULL;
			free(e->regs);
			free(e);
			return -rc;
		}
	}
	return 0;
}

void engine_kick(struct engine *e)
{
	if (e != NULL && !e->closed) {
		uv_async_send(&e->async);
	}
}

void engine_stop(struct roster_client *c)
{
	struct engine *e = c->engine;
	if (e == NULL) {
		return;
	}
	if (!e->own) {
		pthread_mutex_lock(&c->mu);
		engine_begin_stop(e);
		pthread_mutex_unlock(&c->mu);
		return;
	}
	pthread_mutex_lock(&c->mu);
	bool joinable = !e->stop_requested;
	e->stop_requested = true;
	if (!e->closed) {
		uv_async_send(&e->async);
	}
	pthread_mutex_unlock(&c->mu);
	if (joinable) {
		pthread_join(e->thread, NULL);
		/* Every handle is closed: the loop must have nothing left. */
		int rc = uv_loop_close(e->loop);
		(void)rc;
	}
}

void engine_free(struct engine *e)
{
	if (e == NULL) {
		return;
	}
	for (size_t i = 0; i < e->n; i++) {
		free(e->regs[i].pend);
		rs_frame_decoder_deinit(&e->regs[i].dec);
	}
	free(e->regs);
	free(e);
}
