#include "server/api/api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/arena.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "proto/frame.h"
#include "server/api/audit.h"
#include "server/api/ops.h"
#include "server/api/tokens.h"
#include "server/api/watch.h"
#include "server/net/tcp.h"

/* A request answered and not yet flushed, in the order answered. */
enum held_kind {
	HELD_WRITE, /* acknowledges a write: an error if its batch fails */
	HELD_READ,  /* answered from the state the batch built: ask again if it fails */
	HELD_KEEP,  /* does not depend on the batch (a backup's end): kept as it is */
};

struct held_reply {
	uint64_t id;
	enum held_kind kind;
	size_t start, end; /* HELD_KEEP: its bytes in out */
};

/* A connection's state (net_tcp_conn_data()). */
struct conn {
	struct net_tcp_conn *tcp;
	struct api *api;
	const char *peer; /* net_tcp_conn_peer_text(), for messages */
	struct conn *dirty_next;
	bool dirty;
	bool close_after_flush;
	bool close_after_sealed; /* a watcher whose stream carried a lost batch */
	struct rs_frame_decoder dec;
	/* Replies held until the batch holding their writes has committed: a
	 * sealed generation first (api_seal(): its batch is being committed),
	 * then the one still being collected. Each counts its bytes of out,
	 * its replies (in held) and its requests (of answered). */
	struct api_ops_out out;
	struct held_reply *held; /* replies not yet flushed */
	size_t nheld, held_cap;
	size_t sealed_len;
	size_t nsealed;        /* held[0..nsealed) are the sealed generation's */
	size_t nsealed_writes; /* of which writes */
	uint32_t sealed_answered;
	struct api_watch *watches;
	size_t nwatches;
	struct conn *watch_prev, *watch_next; /* api->watchers, while nwatches > 0 */
	int strikes;
	uint32_t refusals;      /* requests refused PERMISSION_DENIED (API_REFUSALS_MAX) */
	uint64_t partial_since; /* uv_now() when the frame being read began; 0: none */
	uint32_t answered;      /* requests answered and not yet flushed */
	bool paused;            /* reading stopped until a flush brings answered down */
	/* Authenticate: the token's digest, kept to find it again in a
	 * reloaded set (tokens_gen tells when to), and the view into the set. */
	bool authed;
	uint8_t digest[API_TOKEN_DIGEST];
	uint64_t tokens_gen;
	const struct api_token *token;
};

struct api {
	struct api_context ctx;
	struct api_limits lim;
	struct net_tcp *tcp;   /* the listeners and connections (server/net/tcp.h) */
	struct conn *watchers; /* connections with at least one watch */
	struct conn *dirty;
	struct api_counters counters;
	struct rs_arena scratch;   /* per-response encoding scratch */
	bool stopping;             /* api_stop(): the server committed everything */
	struct api_tokens *tokens; /* NULL: an open API */
	uint64_t tokens_gen;       /* bumped by each reload */
	struct rs_linelog audit;   /* --audit-log (closed: none) */
	uint64_t held_closed;      /* closed for holding over max_outbuf of replies */
	struct conn *backup_conn;  /* the connection whose Backup runs, or NULL */
	uint64_t backup_id;
	uint8_t rbuf[65536]; /* every read lands here and is consumed at once */
};

/* ---- output ---------------------------------------------------------------- */

static void conn_mark_dirty(struct conn *c)
{
	if (!c->dirty) {
		c->dirty = true;
		c->dirty_next = c->api->dirty;
		c->api->dirty = c;
	}
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

/* Replies held for a connection count against --max-outbuf with what the
 * TCP layer queued: many Watch snapshots answered in one read, or a
 * watcher's events within one iteration, must not pile up in memory before
 * the layer sees a byte of them. Over the cap the connection is closed at
 * once and what it held dropped. @return true when it was closed. */
static bool conn_outbuf_check(struct conn *c)
{
	uint64_t held = c->out.len + net_tcp_conn_queued(c->tcp);
	if (held <= c->api->lim.tcp.max_outbuf || net_tcp_conn_closing(c->tcp)) {
		return false;
	}
	c->api->held_closed++;
	rs_log_notice("api %s: %llu reply bytes held and queued, over --max-outbuf %llu: "
		      "not reading its replies, closing",
			c->peer, (unsigned long long)held,
			(unsigned long long)c->api->lim.tcp.max_outbuf);
	net_tcp_conn_close(c->tcp);
	return true;
}

/* ---- connection life cycle (the TCP layer's callbacks) --------------------- */

/* What the connection holds besides its bytes, from its close callback
 * (ops->closed); the TCP layer frees the struct itself right after. */
static void conn_closed(struct net_tcp_conn *tc, enum net_tcp_close_reason why)
{
	struct conn *c = net_tcp_conn_data(tc);
	struct api *api = c->api;
	if (why == NET_TCP_CLOSE_EOF && !rs_frame_decoder_idle(&c->dec)) {
		rs_log_debug("api %s: %s", c->peer, rs_strerror(RS_EFRAME_TRUNC));
	}
	if (c->dirty) {
		struct conn **pp = &api->dirty;
		while (*pp != c) {
			pp = &(*pp)->dirty_next;
		}
		*pp = c->dirty_next;
		c->dirty = false;
	}
	if (c->nwatches > 0) {
		watchers_remove(c);
	}
	if (api->backup_conn == c) {
		api->backup_conn = NULL; /* the backup goes on; nobody to tell */
	}
	rs_frame_decoder_deinit(&c->dec);
	api_ops_out_deinit(&c->out);
	free(c->held);
	free(c->watches);
}

static bool conn_expired(struct net_tcp_conn *tc)
{
	struct conn *c = net_tcp_conn_data(tc);
	if (c->nwatches > 0 &&
			(c->partial_since == 0 || uv_now(c->api->ctx.loop) - c->partial_since <
								  c->api->lim.tcp.idle_ms)) {
		/* A watcher is silent by nature, but a frame it began must still
		 * arrive whole within the idle time (checked at each deadline:
		 * within twice that), or its buffer is held for nothing. */
		return false;
	}
	rs_log_debug("api %s: no whole frame for %u ms, closing", c->peer, c->api->lim.tcp.idle_ms);
	return true;
}

/* Write the first @p len bytes held, which answered @p nanswered requests,
 * with the first @p nids replies of held, and forget them. The TCP layer writes what the
 * socket takes and copies the rest into its queue; past max_outbuf queued it
 * cuts a client that does not read its replies off (catalogue 3.12). */
static void conn_send(struct conn *c, size_t len, size_t nids, uint32_t nanswered)
{
	if (net_tcp_conn_closing(c->tcp)) {
		return;
	}
	if (len > 0) {
		if (net_tcp_conn_send(c->tcp, c->out.data, len) < 0) {
			return; /* closing: a write error, or a slow reader */
		}
		if (len == c->out.len) {
			api_ops_out_deinit(&c->out); /* an idle connection holds no reply memory */
		} else {
			/* A later generation stays behind, still held. */
			memmove(c->out.data, c->out.data + len, c->out.len - len);
			c->out.len -= len;
		}
	}
	if (nids > 0) {
		c->nheld -= nids;
		memmove(c->held, c->held + nids, c->nheld * sizeof(*c->held));
	}
	for (size_t k = 0; k < c->nheld; k++) {
		c->held[k].start -= len; /* only HELD_KEEP's are read */
		c->held[k].end -= len;
	}
	c->answered -= nanswered;
	c->sealed_len = c->nsealed = c->nsealed_writes = 0;
	c->sealed_answered = 0;
	if ((c->close_after_flush && c->out.len == 0) || c->close_after_sealed) {
		/* A watcher of a lost batch goes now, not when its output runs
		 * dry: under a stream of writes it never would, and everything
		 * collected after the lost batch was built on it. */
		net_tcp_conn_close(c->tcp);
		return;
	}
	if (c->paused && c->answered < c->api->lim.max_inflight) {
		c->paused = false;
		net_tcp_conn_read_pause(c->tcp, false);
	}
}

/* Everything held goes: for a connection that waits for no commit. */
static void conn_flush(struct conn *c)
{
	conn_send(c, c->out.len, c->nheld, c->answered);
}

/* The sealed generation's batch did not reach the disk: none of its replies
 * may be acknowledged. Each of its writes gets an error instead, and each
 * read of it (answered from a state that included the lost writes) an
 * UNAVAILABLE to ask again: every request still gets its one reply. What
 * was collected after it stays held. */
static void conn_fail_sealed(struct conn *c, int commit_rc)
{
	uint8_t *held = c->out.data;
	size_t held_len = c->out.len, tail = c->out.len - c->sealed_len;
	c->out.data = NULL;
	c->out.len = c->out.cap = 0;
	for (size_t k = 0; k < c->nsealed; k++) {
		struct held_reply *h = &c->held[k];
		size_t start = c->out.len;
		if (h->kind == HELD_WRITE) {
			send_error(c, h->id, commit_rc, "store commit failed: %s",
					rs_strerror(commit_rc));
		} else if (h->kind == HELD_READ) {
			send_error(c, h->id, RS_EAGAIN,
					"not answered: a write before it in the same batch was "
					"not committed (%s); ask again",
					rs_strerror(commit_rc));
		} else if (api_ops_out_reserve(&c->out, c->out.len + h->end - h->start) == 0) {
			memcpy(c->out.data + c->out.len, held + h->start, h->end - h->start);
			c->out.len += h->end - h->start;
		} else {
			c->close_after_flush = true; /* out of memory: it cannot be told */
		}
		h->start = start;
		h->end = c->out.len;
	}
	for (size_t k = c->nsealed; k < c->nheld; k++) {
		c->held[k].start = c->held[k].start - c->sealed_len + c->out.len;
		c->held[k].end = c->held[k].end - c->sealed_len + c->out.len;
	}
	c->sealed_len = c->out.len;
	if (tail > 0 && api_ops_out_reserve(&c->out, c->out.len + tail) == 0) {
		memcpy(c->out.data + c->out.len, held + held_len - tail, tail);
		c->out.len += tail;
	} else if (tail > 0) {
		c->close_after_flush = true; /* out of memory: its later replies are lost */
	}
	free(held);
}

size_t api_seal(struct api *api)
{
	size_t writes = 0;
	for (struct conn *c = api->dirty; c != NULL; c = c->dirty_next) {
		c->sealed_len = c->out.len;
		c->nsealed = c->nheld;
		c->nsealed_writes = 0;
		for (size_t k = 0; k < c->nheld; k++) {
			c->nsealed_writes += c->held[k].kind == HELD_WRITE;
		}
		c->sealed_answered = c->answered;
		writes += c->nsealed_writes;
	}
	return writes;
}

void api_flush(struct api *api, int commit_rc)
{
	struct conn *c = api->dirty;
	api->dirty = NULL;
	while (c != NULL) {
		struct conn *next = c->dirty_next;
		c->dirty = false;
		c->dirty_next = NULL;
		if (commit_rc < 0 && c->nsealed_writes > 0) {
			conn_fail_sealed(c, commit_rc);
		}
		if (commit_rc < 0 && c->nwatches > 0) {
			/* Its stream carried events of the lost batch: the client
			 * must resynchronise (docs/registry.md). */
			c->close_after_sealed = true;
		}
		if (api->stopping) {
			conn_flush(c); /* the server committed everything before */
		} else {
			conn_send(c, c->sealed_len, c->nsealed, c->sealed_answered);
		}
		if (!net_tcp_conn_closing(c->tcp) && (c->out.len > 0 || c->paused)) {
			conn_mark_dirty(c); /* a later generation is still held */
		}
		c = next;
	}
}

/* ---- what an answer asks of the connection ----------------------------------- */

/* Note a reply held (the kind says what a failed commit makes of it). When
 * it cannot be noted, the connection closes after its flush: a failed
 * commit would otherwise leave that request without a reply for ever. */
static void conn_note(struct conn *c, uint64_t id, enum held_kind kind, size_t start)
{
	if (c->nheld == c->held_cap) {
		size_t cap = c->held_cap == 0 ? 16 : c->held_cap * 2;
		struct held_reply *n = realloc(c->held, cap * sizeof(*n));
		if (n == NULL) {
			c->close_after_flush = true;
			conn_mark_dirty(c);
			return;
		}
		c->held = n;
		c->held_cap = cap;
	}
	c->held[c->nheld++] = (struct held_reply){id, kind, start, c->out.len};
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
		if (net_tcp_conn_closing(c->tcp)) {
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
		(void)conn_outbuf_check(c);
	}
}

/* ---- dispatch ------------------------------------------------------------------ */

/* Answer one frame (server/api/ops.h), then do what the answer asks of the
 * connection. */
static void dispatch(struct conn *c, const uint8_t *frame, size_t len)
{
	struct api *api = c->api;
	if (c->tokens_gen != api->tokens_gen) {
		/* The set was reloaded: the same token, looked up again. */
		c->token = c->authed ? api_tokens_find(api->tokens, c->digest) : NULL;
		c->tokens_gen = api->tokens_gen;
	}
	const struct api_ops_ctx ctx = {
			.store = api->ctx.store,
			.limits = &api->lim.registration,
			.now_ms = uv_now(api->ctx.loop),
			.wall_ms = rs_clock_wall_ms(),
			.stats = api->ctx.stats,
			.stats_ud = api->ctx.stats_ud,
			.backup = api->ctx.backup,
			.backup_ud = api->ctx.backup_ud,
			.scratch = &api->scratch,
			.counters = &api->counters,
			.watches = c->watches,
			.nwatches = c->nwatches,
			.strikes = (unsigned)c->strikes,
			.tokens = api->tokens,
			.tokens_dry_run = api->lim.tokens_dry_run,
			.token = c->token,
	};
	struct api_ops_result res;
	size_t before = c->out.len;
	/* A write's watch events reach c->out through api_on_change() during
	 * the call, ahead of its reply. */
	api_ops_dispatch(&ctx, frame, len, &c->out, &res);
	if (c->out.len != before) {
		conn_mark_dirty(c);
	}
	if (!(res.flags & API_OPS_DEFERRED)) {
		/* Every request but a backup that started has its reply held. */
		conn_note(c, res.id, (res.flags & API_OPS_WRITE) ? HELD_WRITE : HELD_READ, before);
	}
	if (res.flags & API_OPS_MALFORMED) {
		c->strikes++;
	}
	if (res.flags & API_OPS_AUTH) {
		c->authed = res.token != NULL;
		c->token = res.token;
		if (res.token != NULL) {
			memcpy(c->digest, res.token->digest, sizeof(c->digest));
		}
	}
	if (res.flags & API_OPS_AUDIT) {
		const char *name = c->token != NULL ? c->token->name : NULL;
		if (api_audit_write(&api->audit, ctx.wall_ms, c->peer, name, &res.audit)) {
			api->counters.audit_lines++;
		}
	}
	if (res.flags & API_OPS_WATCH_START) {
		conn_watch_add(c, &res.watch);
	}
	if (res.flags & API_OPS_WATCH_CANCEL) {
		conn_watch_cancel(c, res.cancel_id);
	}
	if (res.flags & API_OPS_DEFERRED) {
		c->api->backup_conn = c;
		c->api->backup_id = res.id;
	}
	if (res.audit.refusal != API_OPS_REFUSED_NONE && !res.audit.dry_run &&
			++c->refusals == API_REFUSALS_MAX) {
		/* Each refusal is an audit line: a client that keeps asking what it
		 * may not do would otherwise rotate the audit history away. */
		rs_log_notice("api %s: %u requests refused, closing", c->peer, c->refusals);
		res.flags |= API_OPS_CLOSE;
	}
	if (res.flags & API_OPS_CLOSE) {
		if (res.flags & API_OPS_MALFORMED) {
			rs_log_notice("api %s: %d malformed frames, closing", c->peer, c->strikes);
		}
		c->close_after_flush = true;
		conn_mark_dirty(c);
	}
}

/* ---- reading ------------------------------------------------------------------- */

/* Decode and answer the frames in @p p (the replies are held, to be sent by
 * api_flush()). @return the frames that arrived whole. */
static size_t conn_read(struct conn *c, const uint8_t *p, size_t left)
{
	size_t frames = 0;
	while (left > 0 && !c->close_after_flush) {
		size_t used = 0;
		const uint8_t *frame = NULL;
		size_t flen = 0;
		int rc = rs_frame_decode(&c->dec, p, left, &used, &frame, &flen);
		if (rc < 0) {
			if (rc == RS_EFRAME_BIG) {
				c->api->counters.oversized++;
				send_error(c, 0, rc, "frame larger than the %u-byte limit",
						c->api->lim.max_frame);
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
			frames++;
			if (conn_outbuf_check(c)) {
				break;
			}
		}
	}
	return frames;
}

static void conn_alloc(struct net_tcp_conn *tc, char **base, size_t *len)
{
	struct conn *c = net_tcp_conn_data(tc);
	*base = (char *)c->api->rbuf;
	*len = sizeof(c->api->rbuf);
}

static void conn_read_op(struct net_tcp_conn *tc, const char *data, size_t len)
{
	struct conn *c = net_tcp_conn_data(tc);
	if (c->close_after_flush) {
		return; /* it broke the stream: nothing more is read from it */
	}
	/* The deadline restarts on whole frames only: a frame must arrive
	 * within the idle time, however its bytes are spread. */
	if (conn_read(c, (const uint8_t *)data, len) > 0) {
		net_tcp_conn_frame_done(tc);
		c->partial_since = 0; /* what is left began now */
	}
	if (rs_frame_decoder_idle(&c->dec)) {
		c->partial_since = 0;
	} else if (c->partial_since == 0) {
		c->partial_since = uv_now(c->api->ctx.loop);
	}
	/* A client pipelining without bound gets at most --max-inflight
	 * requests answered per batch (plus what its last read already held):
	 * reading resumes after the flush (catalogue 3.13). */
	if (c->answered >= c->api->lim.max_inflight && !c->paused && !net_tcp_conn_closing(tc)) {
		net_tcp_conn_read_pause(tc, true);
		c->paused = true;
		conn_mark_dirty(c);
		rs_log_debug("api %s: %u requests in one iteration, reading paused", c->peer,
				c->answered);
	}
	/* The replies go out from api_flush(), after the batch holding their
	 * writes has committed. */
}

static int conn_opened(struct net_tcp_conn *tc)
{
	struct conn *c = net_tcp_conn_data(tc);
	c->tcp = tc;
	c->api = net_tcp_conn_user(tc);
	c->peer = net_tcp_conn_peer_text(tc);
	c->tokens_gen = c->api->tokens_gen;
	rs_frame_decoder_init(&c->dec, c->api->lim.max_frame);
	return 0;
}

/* Over a cap: say so before the layer closes it (catalogue 3.10). The error
 * frame is one small write; the client learns why instead of guessing. */
static void conn_refused(struct net_tcp_conn *tc, enum net_tcp_refusal why)
{
	struct api *api = net_tcp_conn_user(tc);
	struct api_ops_out out = {0};
	const char *msg = why == NET_TCP_REFUSED_SOURCE   ? "per-source connection limit reached"
			  : why == NET_TCP_REFUSED_DENIED ? API_NOT_ADMITTED
							  : "connection limit reached";
	api->counters.errors++;
	if (api_ops_error_append(&out, 0, RS_EAGAIN, msg) == 0) {
		(void)net_tcp_conn_send(tc, out.data, out.len);
	}
	api_ops_out_deinit(&out);
}

static const struct net_tcp_ops api_tcp_ops = {
		.opened = conn_opened,
		.refused = conn_refused,
		.alloc = conn_alloc,
		.read = conn_read_op,
		.expired = conn_expired,
		.closed = conn_closed,
};

/* ---- start / stop ------------------------------------------------------------------ */

static void api_tcp_stopped(void *user)
{
	struct api *api = user;
	rs_arena_deinit(&api->scratch);
	api_tokens_free(api->tokens);
	rs_linelog_close(&api->audit);
	free(api);
}

/* The token file and the audit log, before any listener: a start that
 * cannot enforce what it was asked to does not serve. */
static int api_access_open(struct api *api, char *err, size_t errsz)
{
	const struct api_context *ctx = &api->ctx;
	if (ctx->tokens_path != NULL && ctx->tokens_path[0] != '\0') {
		char msg[512];
		int rc = api_tokens_load(ctx->tokens_path, &api->tokens, msg, sizeof(msg));
		if (rc < 0) {
			snprintf(err, errsz, "--api-tokens %s", msg);
			return rc;
		}
	}
	if (ctx->audit_path != NULL && ctx->audit_path[0] != '\0') {
		int rc = rs_linelog_open(&api->audit, ctx->audit_path, api->lim.audit_max);
		if (rc < 0) {
			snprintf(err, errsz, "--audit-log %s: %s", ctx->audit_path,
					rs_strerror(rc));
			return rc;
		}
	}
	return 0;
}

/* After a token reload: a Watch is one request, and its stream would go
 * on for a token that was removed or lost its read scope. Each such watch
 * ends PERMISSION_DENIED and its connection closes after the replies. */
static void watches_revoke(struct api *api)
{
	if (api->lim.tokens_dry_run) {
		return;
	}
	for (struct conn *c = api->watchers; c != NULL; c = c->watch_next) {
		const struct api_token *t =
				c->authed ? api_tokens_find(api->tokens, c->digest) : NULL;
		if (net_tcp_conn_closing(c->tcp) || (t != NULL && api_token_can_read(t))) {
			continue;
		}
		rs_log_notice("api %s: its token was removed or lost its read scope: its %zu "
			      "watch%s end",
				c->peer, c->nwatches, c->nwatches == 1 ? "" : "es");
		for (size_t k = 0; k < c->nwatches; k++) {
			send_error(c, c->watches[k].id, RS_EPERM,
					"permission denied: the token was revoked (or lost its read "
					"scope): the watch ends");
		}
		c->close_after_flush = true;
	}
}

int api_tokens_reload(struct api *api, char *err, size_t errsz)
{
	if (api == NULL || api->tokens == NULL) {
		return 0;
	}
	struct api_tokens *t = NULL;
	char msg[512];
	int rc = api_tokens_load(api->ctx.tokens_path, &t, msg, sizeof(msg));
	if (rc < 0) {
		api->counters.tokens_reload_failures++;
		snprintf(err, errsz, "--api-tokens %s", msg);
		return rc;
	}
	if (t->n != api->tokens->n) {
		rs_log_notice("--api-tokens: %zu tokens (were %zu)", t->n, api->tokens->n);
	}
	api_tokens_free(api->tokens);
	api->tokens = t;
	api->tokens_gen++;
	watches_revoke(api);
	return 0;
}

int api_start(const struct api_context *ctx, struct api **out, char *err, size_t errsz)
{
	*out = NULL;
	struct api *api = calloc(1, sizeof(*api));
	if (api == NULL) {
		snprintf(err, errsz, "api: out of memory");
		return RS_ENOMEM;
	}
	api->ctx = *ctx;
	api->lim = ctx->limits;
	rs_arena_init(&api->scratch, 64 * 1024);
	rs_linelog_init(&api->audit);
	int arc = api_access_open(api, err, errsz);
	if (arc < 0) {
		api_tcp_stopped(api);
		return arc;
	}
	const struct net_tcp_config tc = {
			.name = "api",
			.addrs = ctx->listen,
			.naddrs = ctx->nlisten,
			.backlog = 1024,
			.limits = ctx->limits.tcp,
			.overflow = NET_TCP_OVERFLOW_CLOSE,
			.conn_size = sizeof(struct conn),
			.ops = &api_tcp_ops,
			.user = api,
			.admit = ctx->admit,
			.admit_user = ctx->admit_user,
			.stopped = api_tcp_stopped,
	};
	int rc = net_tcp_start(ctx->loop, &tc, &api->tcp, err, errsz);
	if (rc < 0) {
		if (api->tcp == NULL) {
			api_tcp_stopped(api);
		} else {
			net_tcp_stop(api->tcp); /* frees api once its handles closed */
		}
		return rc;
	}
	*out = api;
	return 0;
}

static void conn_close_after_flush(struct net_tcp_conn *tc, void *arg)
{
	(void)arg;
	struct conn *c = net_tcp_conn_data(tc);
	c->close_after_flush = true;
	conn_mark_dirty(c);
}

void api_stop(struct api *api)
{
	if (api == NULL || api->stopping) {
		return;
	}
	api->stopping = true;
	/* Replies already held go out before the connections close. */
	net_tcp_foreach(api->tcp, conn_close_after_flush, NULL);
	api_flush(api, 0);
	net_tcp_stop(api->tcp);
}

static void conn_limits_apply(struct net_tcp_conn *tc, void *arg)
{
	struct conn *c = net_tcp_conn_data(tc);
	c->dec.max = *(const uint32_t *)arg;
}

void api_limits_set(struct api *api, const struct api_limits *lim)
{
	if (api == NULL) {
		return;
	}
	api->lim = *lim;
	rs_linelog_set_max(&api->audit, lim->audit_max);
	if (rs_linelog_reopen(&api->audit) < 0) {
		api->audit.errors++; /* the old file goes on */
	}
	net_tcp_limits_set(api->tcp, &lim->tcp);
	net_tcp_foreach(api->tcp, conn_limits_apply, &api->lim.max_frame);
}

const struct api_counters *api_counters_get(struct api *api)
{
	const struct net_tcp_counters *t = net_tcp_counters_get(api->tcp);
	api->counters.connections = t->open;
	api->counters.accepted = t->accepted;
	api->counters.rejected = t->rejected + t->denied;
	api->counters.rejected_source = t->rejected_source;
	api->counters.idle_closed = t->timed_out;
	api->counters.slow_closed = t->slow_closed + api->held_closed;
	api->counters.tokens = api->tokens != NULL ? api->tokens->n : 0;
	api->counters.audit_errors = api->audit.errors;
	return &api->counters;
}

void api_backup_done(struct api *api, int rc, uint64_t bytes, uint64_t duration_ms, const char *msg)
{
	if (api == NULL || api->backup_conn == NULL) {
		return;
	}
	struct conn *c = api->backup_conn;
	api->backup_conn = NULL;
	if (rc < 0) {
		api->counters.errors++;
	}
	size_t start = c->out.len;
	if (api_ops_backup_append(&c->out, api->backup_id, rc, bytes, duration_ms, msg) < 0) {
		c->close_after_flush = true;
	} else {
		conn_note(c, api->backup_id, HELD_KEEP, start);
	}
	conn_mark_dirty(c);
}
