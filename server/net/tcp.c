#include "server/net/tcp.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/addr.h"
#include "common/error.h"
#include "common/log.h"
#include "server/net/conncap.h"

/* Buffers one send may hold before it is copied whole into the queue. */
#define SEND_IOV_MAX 8

struct net_tcp_listener {
	uv_tcp_t tcp;
	struct net_tcp *t;
	bool pending; /* a connection waits for memory (listener_connection_cb()) */
};

struct net_tcp {
	uv_loop_t *loop;
	struct net_tcp_config cfg;
	struct net_tcp_listener *listeners;
	size_t nlisteners;
	int handles; /* open listener handles, and the retry timer */
	/* Retries the accepts that found no memory (listener_connection_cb()). */
	uv_timer_t retry;
	uint64_t retry_ms;
	struct net_tcp_conn *conns;
	struct conncap cap;
	struct net_tcp_counters counters;
	bool stopping;
	char discard[4096]; /* where a lingering connection's bytes go */
};

struct net_tcp_conn {
	uv_tcp_t tcp;
	uv_timer_t timer; /* the deadline, then the linger bound */
	uv_shutdown_t sreq;
	struct net_tcp *t;
	struct net_tcp_conn *prev, *next;
	struct conncap_ticket ticket;
	struct sockaddr_storage peer;
	char peer_text[RS_ADDR_TEXT_MAX];
	int handles;     /* open handles: freed when it reaches 0 */
	unsigned writes; /* queued write requests not yet called back */
	enum net_tcp_close_reason reason;
	bool opened;      /* admitted, and ops->opened ran */
	bool closing;     /* uv_close() called */
	bool graceful;    /* to close once the queue is written */
	bool lingering;   /* our FIN sent: discarding until theirs */
	bool user_paused; /* net_tcp_conn_read_pause() */
	bool backlogged;  /* NET_TCP_OVERFLOW_PAUSE: reading stopped */
	bool reading;
	bool timed_out; /* counted in timed_out: once per connection */
	alignas(max_align_t) unsigned char data[];
};

/* A queued write: only what uv_try_write() did not take, copied. */
struct net_tcp_wreq {
	uv_write_t req;
	struct net_tcp_conn *c;
	char bytes[];
};

/* Retrying an accept that found no memory: from 10 ms, doubling, to 1 s. */
#define ACCEPT_RETRY_MIN_MS 10u
#define ACCEPT_RETRY_MAX_MS 1000u

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void accept_retry_cb(uv_timer_t *h);
static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* ---- the set ------------------------------------------------------------- */

static void tcp_maybe_free(struct net_tcp *t)
{
	if (!t->stopping || t->handles > 0 || t->conns != NULL) {
		return;
	}
	void (*stopped)(void *) = t->cfg.stopped;
	void *user = t->cfg.user;
	conncap_deinit(&t->cap);
	free(t->listeners);
	free(t);
	if (stopped != NULL) {
		stopped(user);
	}
}

void net_tcp_limits_set(struct net_tcp *t, const struct net_tcp_limits *lim)
{
	t->cfg.limits = *lim;
}

const struct net_tcp_counters *net_tcp_counters_get(const struct net_tcp *t)
{
	return &t->counters;
}

/* ---- one connection: reading, the deadline, closing ------------------------- */

static void conn_handle_close_cb(uv_handle_t *h)
{
	struct net_tcp_conn *c = h->data;
	if (--c->handles > 0) {
		return;
	}
	struct net_tcp *t = c->t;
	if (c->opened && t->cfg.ops->closed != NULL) {
		t->cfg.ops->closed(c, c->reason);
	}
	conncap_release(&t->cap, &c->ticket);
	if (c->prev != NULL) {
		c->prev->next = c->next;
	} else {
		t->conns = c->next;
	}
	if (c->next != NULL) {
		c->next->prev = c->prev;
	}
	t->counters.open--;
	free(c);
	tcp_maybe_free(t);
}

static void conn_close_now(struct net_tcp_conn *c, enum net_tcp_close_reason why)
{
	if (c->closing) {
		return;
	}
	c->closing = true;
	c->reason = why;
	c->reading = false;
	/* uv_close() stops reading and calls back every queued write and the
	 * shutdown with UV_ECANCELED before the close callback. */
	uv_close((uv_handle_t *)&c->tcp, conn_handle_close_cb);
	uv_close((uv_handle_t *)&c->timer, conn_handle_close_cb);
}

/* Read when the protocol wants bytes (admitted, not paused by it or by a
 * full queue, no close under way), or while lingering, to discard. */
static void conn_read_update(struct net_tcp_conn *c)
{
	bool want = !c->closing && (c->lingering || (c->opened && !c->graceful && !c->user_paused &&
								    !c->backlogged));
	if (want == c->reading) {
		return;
	}
	c->reading = want;
	if (!want) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		return;
	}
	int rc = uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb);
	if (rc < 0) {
		rs_log_debug("%s %s: cannot read: %s", c->t->cfg.name, c->peer_text,
				uv_strerror(rc));
		conn_close_now(c, NET_TCP_CLOSE_ERROR);
	}
}

static void conn_timer_cb(uv_timer_t *h);

/* One connection is one timeout in the counters, however many deadlines it
 * met (an answer at the deadline, then that answer's write not taken). */
static void conn_timeout_count(struct net_tcp_conn *c)
{
	if (!c->timed_out) {
		c->timed_out = true;
		c->t->counters.timed_out++;
	}
}

static void conn_deadline_start(struct net_tcp_conn *c, uint64_t ms)
{
	uv_timer_start(&c->timer, conn_timer_cb, ms, 0);
}

static void conn_timer_cb(uv_timer_t *h)
{
	struct net_tcp_conn *c = h->data;
	struct net_tcp *t = c->t;
	if (c->lingering) {
		conn_close_now(c, NET_TCP_CLOSE_LOCAL);
		return;
	}
	if (c->graceful) {
		/* Its last answer was not taken within the idle time: counted,
		 * unless the deadline that answered counted it already. */
		conn_timeout_count(c);
		conn_close_now(c, NET_TCP_CLOSE_TIMEOUT);
		return;
	}
	bool counted = !c->opened || t->cfg.ops->expired == NULL || t->cfg.ops->expired(c);
	if (!counted && !c->closing && !c->lingering) {
		conn_deadline_start(c, t->cfg.limits.idle_ms);
		return;
	}
	if (counted) {
		conn_timeout_count(c);
	}
	if (c->closing || c->lingering) {
		return;
	}
	if (c->graceful) {
		conn_deadline_start(c, t->cfg.limits.idle_ms); /* bounds the answer's write */
		return;
	}
	conn_close_now(c, NET_TCP_CLOSE_TIMEOUT);
}

static void conn_shutdown_cb(uv_shutdown_t *req, int status)
{
	struct net_tcp_conn *c = req->data;
	if (status < 0 && !c->closing) {
		conn_close_now(c, NET_TCP_CLOSE_ERROR);
	}
}

/* The queue is written: send our FIN, then discard until theirs or the
 * linger bound (RFC 9112 9.6: a close(2) with unread bytes in the socket
 * sends a reset, which can destroy the answer before the client read it). */
static void conn_linger_start(struct net_tcp_conn *c)
{
	struct net_tcp *t = c->t;
	c->lingering = true;
	c->sreq.data = c;
	if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, conn_shutdown_cb) < 0) {
		conn_close_now(c, NET_TCP_CLOSE_LOCAL); /* an error return never calls back */
		return;
	}
	uint32_t ms = t->cfg.linger_ms < t->cfg.limits.idle_ms ? t->cfg.linger_ms
							       : t->cfg.limits.idle_ms;
	conn_deadline_start(c, ms);
	conn_read_update(c);
}

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct net_tcp_conn *c = h->data;
	if (c->lingering) {
		buf->base = c->t->discard;
		buf->len = sizeof(c->t->discard);
		return;
	}
	char *base = NULL;
	size_t len = 0;
	c->t->cfg.ops->alloc(c, &base, &len);
	buf->base = base;
	buf->len = len;
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct net_tcp_conn *c = s->data;
	if (nread < 0) {
		if (nread == UV_EOF) {
			conn_close_now(c, c->lingering ? NET_TCP_CLOSE_LOCAL : NET_TCP_CLOSE_EOF);
			return;
		}
		rs_log_debug("%s %s: read error: %s", c->t->cfg.name, c->peer_text,
				uv_strerror((int)nread));
		conn_close_now(c, NET_TCP_CLOSE_ERROR);
		return;
	}
	if (nread == 0 || c->lingering || c->closing) {
		return; /* nothing, or discarded */
	}
	c->t->cfg.ops->read(c, buf->base, (size_t)nread);
}

/* ---- writing ------------------------------------------------------------------ */

static void conn_write_cb(uv_write_t *req, int status)
{
	struct net_tcp_wreq *w = (struct net_tcp_wreq *)req;
	struct net_tcp_conn *c = w->c;
	struct net_tcp *t = c->t;
	free(w);
	c->writes--;
	if (c->closing) {
		return;
	}
	if (status < 0) {
		rs_log_debug("%s %s: write failed: %s", t->cfg.name, c->peer_text,
				uv_strerror(status));
		conn_close_now(c, NET_TCP_CLOSE_ERROR);
		return;
	}
	if (c->backlogged && uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) <
					     t->cfg.limits.max_outbuf / 2) {
		c->backlogged = false;
		conn_read_update(c);
		if (!c->closing && !c->graceful && t->cfg.ops->resumed != NULL) {
			t->cfg.ops->resumed(c);
		}
		if (c->closing) {
			return;
		}
	}
	if (c->writes > 0) {
		return;
	}
	if (c->graceful) {
		if (!c->lingering) {
			conn_linger_start(c);
		}
	} else if (t->cfg.ops->drained != NULL) {
		t->cfg.ops->drained(c);
	}
}

/* Queue what the socket did not take (bytes past @p skip of @p iov). */
static int conn_queue(
		struct net_tcp_conn *c, const struct iovec *iov, size_t n, size_t skip, size_t left)
{
	struct net_tcp_wreq *w = malloc(sizeof(*w) + left);
	if (w == NULL) {
		conn_close_now(c, NET_TCP_CLOSE_ERROR);
		return RS_ENOMEM;
	}
	size_t at = 0;
	for (size_t k = 0; k < n; k++) {
		size_t len = iov[k].iov_len;
		if (skip >= len) {
			skip -= len;
			continue;
		}
		memcpy(w->bytes + at, (const char *)iov[k].iov_base + skip, len - skip);
		at += len - skip;
		skip = 0;
	}
	w->c = c;
	uv_buf_t b = uv_buf_init(w->bytes, (unsigned)left);
	int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, conn_write_cb);
	if (rc < 0) {
		free(w); /* an error return never calls back */
		rs_log_debug("%s %s: write failed: %s", c->t->cfg.name, c->peer_text,
				uv_strerror(rc));
		conn_close_now(c, NET_TCP_CLOSE_ERROR);
		return RS_EIO;
	}
	c->writes++;
	return 0;
}

int net_tcp_conn_sendv(struct net_tcp_conn *c, const struct iovec *iov, size_t n)
{
	struct net_tcp *t = c->t;
	if (c->closing || c->graceful) {
		return RS_EIO;
	}
	size_t total = 0;
	for (size_t k = 0; k < n; k++) {
		total += iov[k].iov_len;
	}
	if (total == 0) {
		return 0;
	}
	size_t done = 0;
	if (c->writes == 0 && n <= SEND_IOV_MAX) {
		uv_buf_t b[SEND_IOV_MAX];
		for (size_t k = 0; k < n; k++) {
			b[k] = uv_buf_init(iov[k].iov_base, (unsigned)iov[k].iov_len);
		}
		int w = uv_try_write((uv_stream_t *)&c->tcp, b, (unsigned)n);
		if (w < 0 && w != UV_EAGAIN) {
			rs_log_debug("%s %s: write failed: %s", t->cfg.name, c->peer_text,
					uv_strerror(w));
			conn_close_now(c, NET_TCP_CLOSE_ERROR);
			return RS_EIO;
		}
		done = w > 0 ? (size_t)w : 0;
	}
	if (done == total) {
		return 0;
	}
	int rc = conn_queue(c, iov, n, done, total - done);
	if (rc < 0) {
		return rc;
	}
	size_t queued = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
	if (queued <= t->cfg.limits.max_outbuf) {
		return 0;
	}
	if (t->cfg.overflow == NET_TCP_OVERFLOW_CLOSE) {
		/* A client that does not read its replies is cut off before its
		 * queue takes the server's memory (robustness catalogue 3.12). */
		t->counters.slow_closed++;
		rs_log_notice("%s %s: not reading its replies (%zu bytes queued), closing",
				t->cfg.name, c->peer_text, queued);
		conn_close_now(c, NET_TCP_CLOSE_SLOW);
		return RS_ELIMIT;
	}
	if (!c->backlogged) {
		/* A slow reader: stop reading its requests until it reads ours,
		 * so its backlog cannot grow; the deadline still runs. */
		c->backlogged = true;
		t->counters.paused++;
		conn_read_update(c);
	}
	return 0;
}

int net_tcp_conn_send(struct net_tcp_conn *c, const void *data, size_t len)
{
	struct iovec v = {(void *)data, len};
	return net_tcp_conn_sendv(c, &v, 1);
}

size_t net_tcp_conn_queued(const struct net_tcp_conn *c)
{
	return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

/* ---- what a protocol asks of its connection ----------------------------------- */

void *net_tcp_conn_data(struct net_tcp_conn *c)
{
	return c->data;
}

void *net_tcp_conn_user(const struct net_tcp_conn *c)
{
	return c->t->cfg.user;
}

const struct sockaddr *net_tcp_conn_peer(const struct net_tcp_conn *c)
{
	return (const struct sockaddr *)&c->peer;
}

const char *net_tcp_conn_peer_text(const struct net_tcp_conn *c)
{
	return c->peer_text;
}

void net_tcp_conn_frame_done(struct net_tcp_conn *c)
{
	if (!c->closing && !c->graceful) {
		conn_deadline_start(c, c->t->cfg.limits.idle_ms);
	}
}

void net_tcp_conn_read_pause(struct net_tcp_conn *c, bool pause)
{
	c->user_paused = pause;
	conn_read_update(c);
}

bool net_tcp_conn_backlogged(const struct net_tcp_conn *c)
{
	return c->backlogged;
}

void net_tcp_conn_close(struct net_tcp_conn *c)
{
	conn_close_now(c, NET_TCP_CLOSE_LOCAL);
}

void net_tcp_conn_close_graceful(struct net_tcp_conn *c)
{
	if (c->closing || c->graceful) {
		return;
	}
	c->graceful = true;
	conn_read_update(c);
	if (c->writes == 0) {
		conn_linger_start(c);
	}
}

bool net_tcp_conn_closing(const struct net_tcp_conn *c)
{
	return c->closing || c->graceful;
}

/* ---- accepting ------------------------------------------------------------------ */

static const char *refusal_text(enum net_tcp_refusal why)
{
	switch (why) {
	case NET_TCP_REFUSED_TOTAL:
		return "connection limit reached";
	case NET_TCP_REFUSED_SOURCE:
		return "per-source connection limit reached";
	case NET_TCP_REFUSED_MEMORY:
		return "out of memory";
	case NET_TCP_REFUSED_DENIED:
		return "not admitted";
	}
	return "?";
}

/* The admit hook, then the caps. @return -1 when admitted, else the refusal. */
static int conn_admit(struct net_tcp *t, struct net_tcp_conn *c)
{
	const struct sockaddr *peer = (const struct sockaddr *)&c->peer;
	if (t->cfg.admit != NULL && !t->cfg.admit(t->cfg.admit_user, peer)) {
		t->counters.denied++;
		return NET_TCP_REFUSED_DENIED;
	}
	const struct conncap_limits lim = {t->cfg.limits.max_conns, t->cfg.limits.max_per_source};
	switch (conncap_admit(
			&t->cap, peer->sa_family == AF_UNSPEC ? NULL : peer, &lim, &c->ticket)) {
	case CONNCAP_ADMIT:
		return -1;
	case CONNCAP_OVER_TOTAL:
		t->counters.rejected++;
		return NET_TCP_REFUSED_TOTAL;
	case CONNCAP_OVER_SOURCE:
		t->counters.rejected++;
		t->counters.rejected_source++;
		return NET_TCP_REFUSED_SOURCE;
	case CONNCAP_NO_MEMORY:
		break;
	}
	t->counters.rejected++;
	return NET_TCP_REFUSED_MEMORY;
}

static void conn_refuse(struct net_tcp_conn *c, enum net_tcp_refusal why)
{
	struct net_tcp *t = c->t;
	rs_log_debug("%s %s: refused: %s", t->cfg.name, c->peer_text, refusal_text(why));
	if (t->cfg.ops->refused != NULL) {
		t->cfg.ops->refused(c, why);
	}
	if (!c->graceful) {
		conn_close_now(c, NET_TCP_CLOSE_LOCAL);
	}
}

static void listener_connection_cb(uv_stream_t *server, int status)
{
	struct net_tcp_listener *l = server->data;
	struct net_tcp *t = l->t;
	if (status < 0) {
		rs_log_warning("%s: accept failed: %s", t->cfg.name, uv_strerror(status));
		return;
	}
	struct net_tcp_conn *c = calloc(1, sizeof(*c) + t->cfg.conn_size);
	if (c == NULL) {
		/* libuv took the connection's fd and stops watching the listener
		 * until uv_accept() takes it: retry soon, with backoff, or the
		 * listener would never accept again. The client just waits. */
		l->pending = true;
		if (!t->stopping && !uv_is_active((uv_handle_t *)&t->retry)) {
			t->retry_ms = t->retry_ms == 0                        ? ACCEPT_RETRY_MIN_MS
				      : t->retry_ms * 2 > ACCEPT_RETRY_MAX_MS ? ACCEPT_RETRY_MAX_MS
									      : t->retry_ms * 2;
			uv_timer_start(&t->retry, accept_retry_cb, t->retry_ms, 0);
		}
		return;
	}
	t->retry_ms = 0;
	c->t = t;
	uv_tcp_init(t->loop, &c->tcp);
	uv_timer_init(t->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->handles = 2;
	c->next = t->conns;
	if (t->conns != NULL) {
		t->conns->prev = c;
	}
	t->conns = c;
	t->counters.open++;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		conn_close_now(c, NET_TCP_CLOSE_ERROR);
		return;
	}
	t->counters.accepted++;
	int len = sizeof(c->peer);
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &len) < 0) {
		c->peer.ss_family = AF_UNSPEC; /* it reset already; counted as "unknown" */
		snprintf(c->peer_text, sizeof(c->peer_text), "?");
	} else {
		rs_endpoint_format((const struct sockaddr *)&c->peer, c->peer_text);
	}
	/* Started for refused ones too: it bounds a refusal's graceful close. */
	conn_deadline_start(c, t->cfg.limits.idle_ms);
	int refusal = conn_admit(t, c);
	if (refusal >= 0) {
		conn_refuse(c, (enum net_tcp_refusal)refusal);
		return;
	}
	c->opened = true;
	uv_tcp_nodelay(&c->tcp, 1);
	if (t->cfg.ops->opened != NULL && t->cfg.ops->opened(c) < 0) {
		conn_close_now(c, NET_TCP_CLOSE_LOCAL);
		return;
	}
	conn_read_update(c);
}

/* ---- start / stop ------------------------------------------------------------- */

/* The accepts that found no memory, again (listener_connection_cb()). */
static void accept_retry_cb(uv_timer_t *h)
{
	struct net_tcp *t = h->data;
	for (size_t k = 0; k < t->nlisteners && !t->stopping; k++) {
		struct net_tcp_listener *l = &t->listeners[k];
		if (l->pending) {
			l->pending = false;
			listener_connection_cb((uv_stream_t *)&l->tcp, 0);
		}
	}
}

static void retry_close_cb(uv_handle_t *h)
{
	struct net_tcp *t = h->data;
	t->handles--;
	tcp_maybe_free(t);
}

static void listener_close_cb(uv_handle_t *h)
{
	struct net_tcp_listener *l = h->data;
	l->t->handles--;
	tcp_maybe_free(l->t);
}

int net_tcp_start(struct uv_loop_s *loop, const struct net_tcp_config *cfg, struct net_tcp **out,
		char *err, size_t errsz)
{
	*out = NULL;
	struct net_tcp *t = calloc(1, sizeof(*t));
	struct net_tcp_listener *ls = calloc(cfg->naddrs > 0 ? cfg->naddrs : 1, sizeof(*ls));
	if (t == NULL || ls == NULL) {
		free(t);
		free(ls);
		snprintf(err, errsz, "%s: out of memory", cfg->name);
		return RS_ENOMEM;
	}
	t->loop = loop;
	t->cfg = *cfg;
	t->listeners = ls;
	conncap_init(&t->cap);
	uv_timer_init(loop, &t->retry);
	t->retry.data = t;
	t->handles++;
	*out = t;
	for (size_t k = 0; k < cfg->naddrs; k++) {
		struct net_tcp_listener *l = &t->listeners[k];
		const struct sockaddr *sa = (const struct sockaddr *)&cfg->addrs[k];
		l->t = t;
		uv_tcp_init(loop, &l->tcp);
		l->tcp.data = l;
		t->handles++;
		t->nlisteners++;
		int rc = uv_tcp_bind(&l->tcp, sa, sa->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
		if (rc == 0) {
			rc = uv_listen((uv_stream_t *)&l->tcp, cfg->backlog,
					listener_connection_cb);
		}
		if (rc < 0) {
			char text[RS_ADDR_TEXT_MAX];
			rs_endpoint_format(sa, text);
			snprintf(err, errsz, "%s listener %s: %s", cfg->name, text,
					uv_strerror(rc));
			return rc;
		}
	}
	for (size_t k = 0; k < cfg->naddrs; k++) {
		char text[RS_ADDR_TEXT_MAX];
		rs_endpoint_format((const struct sockaddr *)&cfg->addrs[k], text);
		rs_log_info("%s listening on %s%s%s", cfg->name, text, cfg->note != NULL ? " " : "",
				cfg->note != NULL ? cfg->note : "");
	}
	return 0;
}

void net_tcp_stop(struct net_tcp *t)
{
	if (t == NULL || t->stopping) {
		return;
	}
	t->stopping = true;
	uv_close((uv_handle_t *)&t->retry, retry_close_cb);
	for (size_t k = 0; k < t->nlisteners; k++) {
		uv_close((uv_handle_t *)&t->listeners[k].tcp, listener_close_cb);
	}
	for (struct net_tcp_conn *c = t->conns; c != NULL; c = c->next) {
		conn_close_now(c, NET_TCP_CLOSE_STOP);
	}
	tcp_maybe_free(t);
}

int net_tcp_address(const struct net_tcp *t, size_t k, struct sockaddr_storage *out)
{
	if (k >= t->nlisteners) {
		return RS_ERANGE;
	}
	int len = sizeof(*out);
	return uv_tcp_getsockname(&t->listeners[k].tcp, (struct sockaddr *)out, &len);
}

void net_tcp_foreach(struct net_tcp *t, void (*fn)(struct net_tcp_conn *c, void *arg), void *arg)
{
	struct net_tcp_conn *next;
	for (struct net_tcp_conn *c = t->conns; c != NULL; c = next) {
		next = c->next; /* unlinked only in its close callback, later */
		if (c->opened && !c->closing && !c->graceful) {
			fn(c, arg);
		}
	}
}
