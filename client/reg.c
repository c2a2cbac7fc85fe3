/*
 * client/reg.c - one registry connection: connect and reconnect, frames in
 * and out, the requests in flight, the per-registry timer (see reg.h).
 */
#include "client/reg.h"

#include <stdlib.h>

#include "common/buf.h"
#include "common/error.h"

static void timer_cb(uv_timer_t *t);

void reg_emit(struct reg *r, enum roster_event_kind kind, int err, const char *msg,
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

void reg_close_handle(struct engine *e, uv_handle_t *h)
{
	if (!uv_is_closing(h)) {
		h->data = e;
		uv_close(h, handle_close_cb);
	}
}

/* ---- requests ---------------------------------------------------------- */

struct write_req {
	uv_write_t req;
	struct reg *r;
	uint8_t *buf;
};

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

int reg_send(struct reg *r, struct wire_request *rq, uint64_t ep_uid, uint64_t gen)
{
	struct roster_client *c = r->e->c;
	if (r->state != REG_CONNECTED) {
		return ROSTER_EUNREACHABLE;
	}
	rq->id = core_next_id(c);
	struct write_req *w = NULL;
	/* Room for one more entry in the table of requests in flight. */
	if (RS_ARRAY_GROW(r->pend, r->cap_pend, r->n_pend + 1) < 0 ||
			(w = calloc(1, sizeof(*w))) == NULL) {
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
		r->pend[r->n_pend++] = (struct pending){
				rq->id, rq->op, ep_uid, gen, uv_now(r->e->loop), len};
	}
	return 0;
}

bool reg_pending_take(struct reg *r, uint64_t id, struct pending *out)
{
	for (size_t i = 0; i < r->n_pend; i++) {
		if (r->pend[i].id == id) {
			*out = r->pend[i];
			r->pend[i] = r->pend[--r->n_pend];
			return true;
		}
	}
	return false;
}

/* ---- timing ------------------------------------------------------------- */

static uint32_t heartbeat_ms(struct reg *r)
{
	uint32_t ttl = r->ttl > 0 ? r->ttl : r->e->c->cfg.ttl_seconds;
	uint32_t base = ttl * 1000u / 3u;
	return backoff_jitter(&r->e->rng, base > 0 ? base : 1, 10);
}

void reg_heartbeat_restart(struct reg *r)
{
	uv_timer_start(&r->timer, timer_cb, heartbeat_ms(r), 0);
}

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

/* Has a request (heartbeat or other) waited longer than the timeout plus a
 * heartbeat interval? A registry under load may answer late, and a
 * reconnect would only add to its load, so one late tick is tolerated; an
 * OpenLease or Register never answered is caught the same way. */
static bool reg_stalled(struct reg *r)
{
	uint64_t now = uv_now(r->e->loop);
	uint64_t limit = (uint64_t)r->e->c->cfg.timeout_ms + heartbeat_ms(r);
	for (size_t i = 0; i < r->n_pend; i++) {
		if (now - r->pend[i].sent_ms > limit) {
			return true;
		}
	}
	return false;
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
		r->e->ops->tick(r);
		if (r->state == REG_CONNECTED) {
			reg_heartbeat_restart(r);
		}
		break;
	case REG_CLOSING:
		break;
	}
	pthread_mutex_unlock(&c->mu);
}

/* ---- connection lifecycle ---------------------------------------------- */

void reg_init(struct reg *r, struct engine *e, size_t idx)
{
	const struct roster_config *cfg = &e->c->cfg;
	r->e = e;
	r->idx = idx;
	uv_timer_init(e->loop, &r->timer);
	r->timer.data = r;
	e->open_handles++;
	backoff_init(&r->backoff, cfg->backoff_min_ms, cfg->backoff_max_ms, 0);
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

void reg_fail(struct reg *r, int err, const char *why)
{
	if (r->state != REG_CONNECTED && r->state != REG_CONNECTING) {
		return;
	}
	bool was_connected = r->state == REG_CONNECTED;
	r->state = REG_CLOSING;
	uv_timer_stop(&r->timer);
	r->n_pend = 0;
	rs_frame_decoder_deinit(&r->dec);
	r->tcp.data = r;
	uv_close((uv_handle_t *)&r->tcp, tcp_close_cb);
	r->e->ops->lost(r, err, why, was_connected);
}

void reg_close(struct reg *r)
{
	if (r->state == REG_CONNECTED || r->state == REG_CONNECTING) {
		reg_fail(r, ROSTER_ESTATE, "client stopping");
	}
	reg_close_handle(r->e, (uv_handle_t *)&r->timer);
}

void reg_deinit(struct reg *r)
{
	free(r->pend);
	r->pend = NULL;
	r->n_pend = r->cap_pend = 0;
	rs_frame_decoder_deinit(&r->dec);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	size_t n = suggested < 16384 ? suggested : 16384;
	buf->base = malloc(n);
	buf->len = buf->base != NULL ? n : 0;
}

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
			reg_fail(r, d == RS_ENOMEM ? ROSTER_ENOMEM : ROSTER_EPROTO,
					d == RS_ENOMEM ? "out of memory"
						       : "bad frame from the registry");
			break;
		}
		p += used;
		left -= used;
		if (d == 0) {
			break;
		}
		struct wire_response rs;
		int rc = wire_response_decode(frame, flen, &rs);
		if (rc != 0) {
			/* Our own shortage is no fault of the registry's. */
			reg_fail(r, rc,
					rc == ROSTER_ENOMEM
							? "out of memory"
							: "malformed response from the registry");
			break;
		}
		r->e->ops->response(r, &rs);
		wire_response_deinit(&rs);
	}
out:
	free(buf->base);
	pthread_mutex_unlock(&c->mu);
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct reg *r = req->data;
	struct roster_client *c = r->e->c;
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
	if (c->cfg.token != NULL) {
		/* First on the connection; what the engine sends next is
		 * pipelined behind it and runs with its scopes. */
		struct wire_request rq = {.op = WIRE_AUTHENTICATE, .token = c->cfg.token};
		if (reg_send(r, &rq, 0, 0) != 0) {
			goto out; /* the connection failed with it */
		}
	}
	if (r->state == REG_CONNECTED) {
		r->e->ops->connected(r);
	}
	if (r->state == REG_CONNECTED) {
		reg_heartbeat_restart(r);
	}
out:
	pthread_mutex_unlock(&c->mu);
}

void reg_connect(struct reg *r)
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
	rc = uv_tcp_connect(&r->connect_req, &r->tcp, (const struct sockaddr *)&e->c->addrs[r->idx],
			connect_cb);
	if (rc != 0) {
		reg_fail(r, ROSTER_EUNREACHABLE, uv_strerror(rc));
		return;
	}
	uv_timer_start(&r->timer, timer_cb, e->c->cfg.timeout_ms, 0);
}
