#include "server/api/api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/addr.h"
#include "common/arena.h"
#include "common/error.h"
#include "common/log.h"
#include "proto/frame.h"
#include "server/api/ops.h"
#include "server/api/watch.h"
#include "server/server.h"

struct conn {
	uv_tcp_t tcp;
	uv_timer_t idle;
	struct api *api;
	struct conn *prev, *next;
	struct conn *dirty_next;
	bool dirty;
	bool closing;
	bool close_after_flush;
	int handles;
	struct rs_frame_decoder dec;
	/* Replies held until the batch holding their writes has committed: a
	 * sealed generation first (api_seal(): its batch is being committed),
	 * then the one still being collected. Each counts its bytes of out,
	 * its writes (ids in write_ids) and its requests (of answered). */
	struct api_ops_out out;
	uint64_t *write_ids; /* write requests answered and not yet flushed */
	size_t nwrite_ids, write_ids_cap;
	size_t sealed_len;
	size_t nsealed_ids;
	uint32_t sealed_answered;
	struct api_watch *watches;
	size_t nwatches;
	struct conn *watch_prev, *watch_next; /* api->watchers, while nwatches > 0 */
	int strikes;
	uint32_t answered;   /* requests answered and not yet flushed */
	bool paused;         /* reading stopped until a flush brings answered down */
	struct conncap_ticket ticket; /* its place under the connection caps */
	char peer[RS_ADDR_TEXT_MAX];
};

struct wreq {
	uv_write_t req;
	uint8_t *buf;
};

struct listener {
	uv_tcp_t tcp;
	struct api *api;
};

struct api {
	struct server *srv;
	struct listener listeners[CONFIG_MAX_LISTEN];
	size_t nlisteners;
	int handles; /* open listener handles */
	struct conn *conns;
	struct conn *watchers; /* connections with at least one watch */
	struct conn *dirty;
	struct api_counters counters;
	struct conncap cap;      /* admission: global and per-source connection caps */
	struct rs_arena scratch; /* per-response encoding scratch */
	bool stopping;
	uint8_t rbuf[65536];     /* every read lands here and is consumed at once */
};

static void api_maybe_free(struct api *api);
static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* ---- output ---------------------------------------------------------------- */

static void conn_mark_dirty(struct conn *c)
{
	if (!c->dirty) {
		c->dirty = true;
		c->dirty_next = c->api->dirty;
		c->api->dirty = c;
	}
}

static int conn_reserve(struct conn *c, size_t need)
{
	if (need > c->out.cap) {
		size_t cap = c->out.cap == 0 ? 4096 : c->out.cap;
		while (cap < need) {
			cap *= 2;
		}
		uint8_t *nb = realloc(c->out.data, cap);
		if (nb == NULL) {
			return RS_ENOMEM;
		}
		c->out.data = nb;
		c->out.cap = cap;
	}
	return 0;
}

static void send_error(struct conn *c, uint64_t id, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void send_error(struct conn *c, uint64_t id, int rc, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->api->counters.errors++;
	if (api_ops_error_append(&c->out, id, rc, msg) < 0) {
		c->close_after_flush = true;
	}
	conn_mark_dirty(c);
}

static void watchers_add(struct conn *c)
{
	struct api *api = c->api;
	c->watch_prev = NULL;
	c->watch_next = api->watchers;
	if (api->watchers != NULL) {
		api->watchers->watch_prev = c;
	}
	api->watchers = c;
}

static void watchers_remove(struct conn *c)
{
	if (c->watch_prev != NULL) {
		c->watch_prev->watch_next = c->watch_next;
	} else {
		c->api->watchers = c->watch_next;
	}
	if (c->watch_next != NULL) {
		c->watch_next->watch_prev = c->watch_prev;
	}
	c->watch_prev = c->watch_next = NULL;
}

/* ---- connection life cycle -------------------------------------------------- */

static void conn_free(struct conn *c)
{
	struct api *api = c->api;
	if (c->prev != NULL) {
		c->prev->next = c->next;
	} else {
		api->conns = c->next;
	}
	if (c->next != NULL) {
		c->next->prev = c->prev;
	}
	if (c->dirty) {
		struct conn **pp = &api->dirty;
		while (*pp != c) {
			pp = &(*pp)->dirty_next;
		}
		*pp = c->dirty_next;
	}
	if (c->nwatches > 0) {
		watchers_remove(c);
	}
	rs_frame_decoder_deinit(&c->dec);
	api_ops_out_deinit(&c->out);
	free(c->write_ids);
	free(c->watches);
	conncap_release(&api->cap, &c->ticket);
	free(c);
	api->counters.connections--;
	api_maybe_free(api);
}

static void conn_handle_close_cb(uv_handle_t *h)
{
	struct conn *c = h->data;
	if (--c->handles == 0) {
		conn_free(c);
	}
}

static void conn_close(struct conn *c)
{
	if (c->closing) {
		return;
	}
	c->closing = true;
	uv_read_stop((uv_stream_t *)&c->tcp);
	uv_close((uv_handle_t *)&c->tcp, conn_handle_close_cb);
	uv_close((uv_handle_t *)&c->idle, conn_handle_close_cb);
}

static void conn_idle_cb(uv_timer_t *t)
{
	struct conn *c = t->data;
	if (c->nwatches > 0) {
		return; /* a watcher is silent by nature */
	}
	c->api->counters.idle_closed++;
	rs_log_debug("api %s: idle for %u ms, closing", c->peer, c->api->srv->cfg.api_idle_ms);
	conn_close(c);
}

static void write_cb(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = req->data;
	free(w->buf);
	free(w);
	if (status < 0 && !c->closing) {
		rs_log_debug("api %s: write failed: %s", c->peer, uv_strerror(status));
		conn_close(c);
	}
}

/* Write the first @p len bytes held, which answered @p nanswered requests,
 * @p nids of them writes, and forget them. */
static void conn_send(struct conn *c, size_t len, size_t nids, uint32_t nanswered)
{
	struct api *api = c->api;
	if (c->closing) {
		return;
	}
	if (len > 0) {
		struct wreq *w = malloc(sizeof(*w));
		if (w == NULL) {
			conn_close(c);
			return;
		}
		if (len == c->out.len) {
			w->buf = c->out.data;
			c->out.data = NULL;
			c->out.len = c->out.cap = 0;
		} else {
			/* A later generation stays behind, still held. */
			w->buf = malloc(len);
			if (w->buf == NULL) {
				free(w);
				conn_close(c);
				return;
			}
			memcpy(w->buf, c->out.data, len);
			memmove(c->out.data, c->out.data + len, c->out.len - len);
			c->out.len -= len;
		}
		w->req.data = c;
		uv_buf_t b = uv_buf_init((char *)w->buf, (unsigned)len);
		int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
		if (rc < 0) {
			/* An error return never calls the callback. */
			free(w->buf);
			free(w);
			conn_close(c);
			return;
		}
	}
	if (nids > 0) {
		c->nwrite_ids -= nids;
		memmove(c->write_ids, c->write_ids + nids, c->nwrite_ids * sizeof(*c->write_ids));
	}
	c->answered -= nanswered;
	c->sealed_len = c->nsealed_ids = 0;
	c->sealed_answered = 0;
	if (c->close_after_flush && c->out.len == 0) {
		conn_close(c);
		return;
	}
	if (c->paused && c->answered < api->srv->cfg.api_max_inflight) {
		c->paused = false;
		uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb);
	}
	/* A client that does not read its replies is cut off before its
	 * queue takes the server's memory (catalogue 3.12). */
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > api->srv->cfg.api_max_outbuf) {
		api->counters.slow_closed++;
		rs_log_notice("api %s: not reading its replies (%zu bytes queued), closing", c->peer,
				uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp));
		conn_close(c);
	}
}

/* Everything held goes: for a connection that waits for no commit. */
static void conn_flush(struct conn *c)
{
	conn_send(c, c->out.len, c->nwrite_ids, c->answered);
}

/* The sealed generation's batch did not reach the disk: none of its replies
 * may be acknowledged. Each of its writers gets an error instead; what was
 * collected after it stays held. */
static void conn_fail_sealed(struct conn *c, int commit_rc)
{
	uint8_t *held = c->out.data;
	size_t held_len = c->out.len, tail = c->out.len - c->sealed_len;
	c->out.data = NULL;
	c->out.len = c->out.cap = 0;
	for (size_t k = 0; k < c->nsealed_ids; k++) {
		send_error(c, c->write_ids[k], commit_rc, "store commit failed: %s",
				rs_strerror(commit_rc));
	}
	c->sealed_len = c->out.len;
	if (tail > 0 && conn_reserve(c, c->out.len + tail) == 0) {
		memcpy(c->out.data + c->out.len, held + held_len - tail, tail);
		c->out.len += tail;
	} else if (tail > 0) {
		c->close_after_flush = true; /* out of memory: its later replies are lost */
	}
	free(held);
}

void api_seal(struct api *api)
{
	for (struct conn *c = api->dirty; c != NULL; c = c->dirty_next) {
		c->sealed_len = c->out.len;
		c->nsealed_ids = c->nwrite_ids;
		c->sealed_answered = c->answered;
	}
}

void api_flush(struct api *api, int commit_rc)
{
	struct conn *c = api->dirty;
	api->dirty = NULL;
	while (c != NULL) {
		struct conn *next = c->dirty_next;
		c->dirty = false;
		c->dirty_next = NULL;
		if (commit_rc < 0 && c->nsealed_ids > 0) {
			conn_fail_sealed(c, commit_rc);
		}
		if (commit_rc < 0 && c->nwatches > 0) {
			/* Its stream carried events of the lost batch. */
			c->close_after_flush = true;
		}
		if (api->stopping) {
			conn_flush(c); /* the server committed everything before */
		} else {
			conn_send(c, c->sealed_len, c->nsealed_ids, c->sealed_answered);
		}
		if (!c->closing && (c->out.len > 0 || c->paused)) {
			conn_mark_dirty(c); /* a later generation is still held */
		}
		c = next;
	}
}

/* ---- what an answer asks of the connection ----------------------------------- */

static void conn_note_write(struct conn *c, uint64_t id)
{
	if (c->nwrite_ids == c->write_ids_cap) {
		size_t cap = c->write_ids_cap == 0 ? 16 : c->write_ids_cap * 2;
		uint64_t *n = realloc(c->write_ids, cap * sizeof(*n));
		if (n == NULL) {
			return; /* worst case: one writer is not told of a failed commit */
		}
		c->write_ids = n;
		c->write_ids_cap = cap;
	}
	c->write_ids[c->nwrite_ids++] = id;
}

/* The watches live in the connection; the operations say when one starts
 * or ends (server/api/ops.h). */
static void conn_watch_add(struct conn *c, const struct api_watch *w)
{
	struct api_watch *nw = realloc(c->watches, (c->nwatches + 1) * sizeof(*nw));
	if (nw == NULL) {
		/* Its first events went out, the live ones could not follow. */
		c->close_after_flush = true;
		conn_mark_dirty(c);
		return;
	}
	c->watches = nw;
	if (c->nwatches++ == 0) {
		watchers_add(c);
	}
	c->watches[c->nwatches - 1] = *w;
}

static void conn_watch_cancel(struct conn *c, uint64_t id)
{
	for (size_t k = 0; k < c->nwatches; k++) {
		if (c->watches[k].id == id) {
			c->watches[k] = c->watches[--c->nwatches];
			if (c->nwatches == 0) {
				watchers_remove(c);
			}
			return;
		}
	}
}

void api_on_change(struct api *api, const struct store_change *ch)
{
	const char *svc = ch->instance->service->name;
	for (struct conn *c = api->watchers; c != NULL; c = c->watch_next) {
		if (c->closing) {
			continue;
		}
		struct api_watch_sink sink = {&c->out, &api->scratch, &api->counters.watch_events};
		for (size_t k = 0; k < c->nwatches; k++) {
			if (!api_watch_matches(&c->watches[k], svc)) {
				continue;
			}
			if (api_watch_change_append(&sink, c->watches[k].id, ch) < 0) {
				c->close_after_flush = true; /* cannot keep the stream whole */
			}
			conn_mark_dirty(c);
		}
	}
}

/* ---- dispatch ------------------------------------------------------------------ */

/* Stats' figures: the owner's snapshot of every module's counters. */
static void stats_collect_cb(struct stats_snapshot *out, void *ud)
{
	server_stats_collect(ud, out);
}

/* Answer one frame (server/api/ops.h), then do what the answer asks of the
 * connection. */
static void dispatch(struct conn *c, const uint8_t *frame, size_t len)
{
	struct api *api = c->api;
	struct server *srv = api->srv;
	const struct api_ops_ctx ctx = {
		.store = srv->store,
		.limits = &srv->cfg.limits,
		.now_ms = uv_now(srv->loop),
		.wall_ms = server_wall_ms(),
		.stats = stats_collect_cb,
		.stats_ud = srv,
		.scratch = &api->scratch,
		.counters = &api->counters,
		.watches = c->watches,
		.nwatches = c->nwatches,
		.strikes = (unsigned)c->strikes,
	};
	struct api_ops_result res;
	size_t before = c->out.len;
	/* A write's watch events reach c->out through api_on_change() during
	 * the call, ahead of its reply. */
	api_ops_dispatch(&ctx, frame, len, &c->out, &res);
	if (c->out.len != before) {
		conn_mark_dirty(c);
	}
	if (res.flags & API_OPS_WRITE) {
		conn_note_write(c, res.id);
	}
	if (res.flags & API_OPS_MALFORMED) {
		c->strikes++;
	}
	if (res.flags & API_OPS_WATCH_START) {
		conn_watch_add(c, &res.watch);
	}
	if (res.flags & API_OPS_WATCH_CANCEL) {
		conn_watch_cancel(c, res.cancel_id);
	}
	if (res.flags & API_OPS_CLOSE) {
		if (res.flags & API_OPS_MALFORMED) {
			rs_log_notice("api %s: %d malformed frames, closing", c->peer, c->strikes);
		}
		c->close_after_flush = true;
		conn_mark_dirty(c);
	}
}

/* ---- reading --------------------------------------------------------------------- */

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct conn *c = h->data;
	buf->base = (char *)c->api->rbuf;
	buf->len = sizeof(c->api->rbuf);
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	if (nread < 0) {
		if (nread != UV_EOF) {
			rs_log_debug("api %s: read error: %s", c->peer, uv_strerror((int)nread));
		} else if (!rs_frame_decoder_idle(&c->dec)) {
			rs_log_debug("api %s: %s", c->peer, rs_strerror(RS_EFRAME_TRUNC));
		}
		conn_close(c);
		return;
	}
	if (nread == 0 || c->close_after_flush) {
		return;
	}
	uv_timer_again(&c->idle);
	const uint8_t *p = (const uint8_t *)buf->base;
	size_t left = (size_t)nread;
	while (left > 0 && !c->close_after_flush) {
		size_t used = 0;
		const uint8_t *frame = NULL;
		size_t flen = 0;
		int rc = rs_frame_decode(&c->dec, p, left, &used, &frame, &flen);
		if (rc < 0) {
			if (rc == RS_EFRAME_BIG) {
				c->api->counters.oversized++;
				send_error(c, 0, rc, "frame larger than the %u-byte limit",
						c->api->srv->cfg.api_max_frame);
			} else {
				c->api->counters.malformed++;
				send_error(c, 0, rc, "%s", rs_strerror(rc));
			}
			rs_log_notice("api %s: %s, closing", c->peer, rs_strerror(rc));
			c->close_after_flush = true;
			break;
		}
		p += used;
		left -= used;
		if (rc == 1) {
			dispatch(c, frame, flen);
			c->answered++;
		}
	}
	/* A client pipelining without bound gets at most --max-inflight
	 * requests answered per iteration (plus what its last read already
	 * held): reading resumes after the flush (catalogue 3.13). */
	if (c->answered >= c->api->srv->cfg.api_max_inflight && !c->paused && !c->closing) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->paused = true;
		conn_mark_dirty(c);
		rs_log_debug("api %s: %u requests in one iteration, reading paused", c->peer,
				c->answered);
	}
	/* The replies go out from the server's check handle, after the
	 * iteration's batch has committed. */
}

static void conn_reject_close_cb(uv_handle_t *h)
{
	free(h->data);
}

static void on_connection_cb(uv_stream_t *server, int status)
{
	struct listener *l = server->data;
	struct api *api = l->api;
	if (status < 0) {
		rs_log_warning("api: accept failed: %s", uv_strerror(status));
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return;
	}
	c->api = api;
	const struct conncap_limits lim = {api->srv->cfg.api_max_conns,
			api->srv->cfg.api_max_per_source};
	struct sockaddr_storage ss;
	int verdict = server_tcp_accept(api->srv, server, &c->tcp, c, &api->cap, &lim, "api", &ss,
			&c->ticket);
	if (verdict < 0) {
		uv_close((uv_handle_t *)&c->tcp, conn_reject_close_cb);
		return;
	}
	uv_timer_init(api->srv->loop, &c->idle);
	c->idle.data = c;
	c->handles = 2;
	c->next = api->conns;
	if (api->conns != NULL) {
		api->conns->prev = c;
	}
	api->conns = c;
	api->counters.connections++;
	api->counters.accepted++;
	rs_frame_decoder_init(&c->dec, api->srv->cfg.api_max_frame);
	if (ss.ss_family != AF_UNSPEC) {
		rs_endpoint_format((struct sockaddr *)&ss, c->peer);
	} else {
		snprintf(c->peer, sizeof(c->peer), "?");
	}
	if (verdict != CONNCAP_ADMIT || api->stopping) {
		/* Over a cap: say so and close (catalogue 3.10). The error frame
		 * is one small write; the client learns why instead of guessing. */
		api->counters.rejected++;
		if (verdict == CONNCAP_OVER_SOURCE) {
			api->counters.rejected_source++;
		}
		send_error(c, 0, RS_EAGAIN, "%s",
				api->stopping                   ? "server shutting down"
				: verdict == CONNCAP_OVER_SOURCE ? "per-source connection limit reached"
								 : "connection limit reached");
		c->close_after_flush = true;
		conn_flush(c);
		c->dirty = false;
		api->dirty = c->dirty_next;
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	uv_timer_start(&c->idle, conn_idle_cb, api->srv->cfg.api_idle_ms, api->srv->cfg.api_idle_ms);
	uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb);
}

/* ---- start / stop ------------------------------------------------------------------ */

static void api_maybe_free(struct api *api)
{
	if (api->stopping && api->handles == 0 && api->conns == NULL) {
		api->srv->api = NULL;
		rs_arena_deinit(&api->scratch);
		conncap_deinit(&api->cap);
		free(api);
	}
}

static void listener_close_cb(uv_handle_t *h)
{
	struct listener *l = h->data;
	l->api->handles--;
	api_maybe_free(l->api);
}

int api_start(struct server *srv, struct api **out, char *err, size_t errsz)
{
	struct api *api = calloc(1, sizeof(*api));
	if (api == NULL) {
		snprintf(err, errsz, "out of memory");
		return RS_ENOMEM;
	}
	api->srv = srv;
	conncap_init(&api->cap);
	rs_arena_init(&api->scratch, 64 * 1024);
	srv->api = api;
	*out = api;
	for (size_t k = 0; k < srv->cfg.api.n; k++) {
		struct listener *l = &api->listeners[k];
		l->api = api;
		api->handles++;
		api->nlisteners++;
		int rc = server_tcp_listen(srv, &l->tcp, l,
				(const struct sockaddr *)&srv->cfg.api.addrs[k], 1024, on_connection_cb,
				"api", err, errsz);
		if (rc < 0) {
			api_stop(api);
			return rc;
		}
		char text[RS_ADDR_TEXT_MAX];
		rs_endpoint_format((const struct sockaddr *)&srv->cfg.api.addrs[k], text);
		rs_log_info("api listening on %s", text);
	}
	return 0;
}

void api_stop(struct api *api)
{
	if (api == NULL || api->stopping) {
		return;
	}
	api->stopping = true;
	for (size_t k = 0; k < api->nlisteners; k++) {
		uv_close((uv_handle_t *)&api->listeners[k].tcp, listener_close_cb);
	}
	/* Replies already collected go out before the connections close. */
	for (struct conn *c = api->conns; c != NULL; c = c->next) {
		c->close_after_flush = true;
		conn_mark_dirty(c);
	}
	api_flush(api, 0);
	api_maybe_free(api);
}

void api_limits_reload(struct api *api)
{
	for (struct conn *c = api->conns; c != NULL; c = c->next) {
		c->dec.max = api->srv->cfg.api_max_frame;
		if (!c->closing) {
			uv_timer_set_repeat(&c->idle, api->srv->cfg.api_idle_ms);
		}
	}
}

const struct api_counters *api_counters_get(const struct api *api)
{
	return &api->counters;
}