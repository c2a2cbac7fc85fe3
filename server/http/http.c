#include "server/http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <uv.h>

#include "common/addr.h"
#include "common/error.h"
#include "common/log.h"
#include "server/http/metrics.h"
#include "server/server.h"
#include "server/stats.h"

#define HTTP_MAX_CONNS_DEFAULT 256u
#define HTTP_IDLE_MS_DEFAULT 10000u
/* How long a closing connection drains what the client still sends. */
#define HTTP_LINGER_MS 2000u

struct http_conn {
	uv_tcp_t tcp;
	uv_timer_t timer; /* request, write and keep-alive deadline */
	uv_write_t wreq;
	uv_shutdown_t sreq;
	struct http *http;
	struct http_conn *prev, *next;
	int handles; /* open handles: freed when it reaches 0 */
	bool closing;
	bool writing;
	bool close_after_write;
	bool lingering;  /* our FIN sent, discarding what still comes */
	size_t len;      /* bytes in buf */
	size_t consumed; /* head bytes of the request being answered */
	char *body;      /* owned while writing */
	struct conncap_ticket ticket; /* its place under the connection cap */
	char head[512];
	char peer[RS_ADDR_TEXT_MAX];
	char buf[HTTP_REQUEST_MAX];
};

struct http_listener {
	uv_tcp_t tcp;
	struct http *http;
};

struct http {
	struct server *srv;
	struct http_limits lim;
	struct http_listener listeners[CONFIG_MAX_LISTEN];
	size_t nlisteners;
	int handles; /* open listener handles */
	struct http_conn *conns;
	struct conncap cap; /* admission (the global cap only: see http.h) */
	struct http_counters counters;
	bool stopping;
};

static const struct {
	unsigned code;
	const char *reason;
} statuses[HTTP_STATUS_COUNT] = {
	[HTTP_STATUS_OK] = {200, "OK"},
	[HTTP_STATUS_BAD_REQUEST] = {400, "Bad Request"},
	[HTTP_STATUS_NOT_FOUND] = {404, "Not Found"},
	[HTTP_STATUS_METHOD_NOT_ALLOWED] = {405, "Method Not Allowed"},
	[HTTP_STATUS_REQUEST_TIMEOUT] = {408, "Request Timeout"},
	[HTTP_STATUS_HEADERS_TOO_LARGE] = {431, "Request Header Fields Too Large"},
	[HTTP_STATUS_INTERNAL_ERROR] = {500, "Internal Server Error"},
	[HTTP_STATUS_UNAVAILABLE] = {503, "Service Unavailable"},
	[HTTP_STATUS_VERSION_NOT_SUPPORTED] = {505, "HTTP Version Not Supported"},
};

unsigned http_status_code(enum http_status s)
{
	return s < HTTP_STATUS_COUNT ? statuses[s].code : 500;
}

void http_limits_default(struct http_limits *lim)
{
	lim->max_conns = HTTP_MAX_CONNS_DEFAULT;
	lim->idle_ms = HTTP_IDLE_MS_DEFAULT;
}

void http_limits_set(struct http *http, const struct http_limits *lim)
{
	if (http != NULL) {
		http->lim = *lim;
	}
}

const struct http_counters *http_counters_get(const struct http *http)
{
	return &http->counters;
}

/* ---- the request parser (pure) ------------------------------------------- */

/* RFC 9110 5.6.2: tchar. */
static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* RFC 9110 5.5: field-value characters (VCHAR, obs-text, SP, HTAB). */
static bool is_field_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* The LF ending the line that starts at p, or NULL while the line is not
 * complete. The callers check the bytes before it. */
static const char *line_end(const char *p, const char *end)
{
	return p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
}

/* Trim the line's CR (a bare CR anywhere else is rejected by the callers'
 * character checks) and return the content's end. */
static const char *line_content_end(const char *p, const char *lf)
{
	return lf > p && lf[-1] == '\r' ? lf - 1 : lf;
}

/* Header names and Connection options compare case-insensitively. */
static bool token_eq(const char *p, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(p, lit, n) == 0;
}

static bool token_eq_exact(const char *p, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(p, lit, n) == 0;
}

/* Connection: a comma-separated list of tokens (RFC 9110 7.6.1). */
static void connection_options(const char *v, const char *end, bool *close, bool *keep)
{
	while (v < end) {
		while (v < end && (*v == ' ' || *v == '\t' || *v == ',')) {
			v++;
		}
		const char *t = v;
		while (v < end && *v != ',' && *v != ' ' && *v != '\t') {
			v++;
		}
		if (token_eq(t, (size_t)(v - t), "close")) {
			*close = true;
		} else if (token_eq(t, (size_t)(v - t), "keep-alive")) {
			*keep = true;
		}
	}
}

static int request_line(const char *p, const char *end, struct http_request *req)
{
	const char *m = p;
	while (p < end && is_tchar((unsigned char)*p)) {
		p++;
	}
	if (p == m || p == end || *p != ' ') {
		return RS_EPROTO;
	}
	/* RFC 9110 9.1: methods are case-sensitive. */
	if (token_eq_exact(m, (size_t)(p - m), "GET")) {
		req->method = HTTP_METHOD_GET;
	} else if (token_eq_exact(m, (size_t)(p - m), "HEAD")) {
		req->method = HTTP_METHOD_HEAD;
	} else {
		req->method = HTTP_METHOD_OTHER;
	}
	p++;
	/* origin-form only (RFC 9112 3.2.1): we are nobody's proxy. */
	const char *t = p;
	while (p < end && (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f) {
		p++;
	}
	if (p == t || *t != '/' || p == end || *p != ' ') {
		return RS_EPROTO;
	}
	const char *q = memchr(t, '?', (size_t)(p - t));
	req->path = t;
	req->path_len = (size_t)((q != NULL ? q : p) - t);
	p++;
	/* HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3), case-sensitive. */
	if (end - p != 8 || memcmp(p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' || p[6] != '.' ||
			p[7] < '0' || p[7] > '9') {
		return RS_EPROTO;
	}
	if (p[5] != '1' || p[7] > '1') {
		return RS_ENOTSUP;
	}
	req->minor = (unsigned)(p[7] - '0');
	return 0;
}

int http_request_parse(const char *buf, size_t len, struct http_request *req)
{
	const char *p = buf;
	const char *end = buf + len;
	memset(req, 0, sizeof(*req));
	/* RFC 9112 2.2: ignore empty lines before the request line. */
	while (p < end && (*p == '\r' || *p == '\n')) {
		if (*p == '\r' && (p + 1 == end || p[1] != '\n')) {
			if (p + 1 == end) {
				return RS_EAGAIN;
			}
			return RS_EPROTO;
		}
		p += *p == '\r' ? 2 : 1;
	}
	const char *lf = line_end(p, end);
	if (lf == NULL) {
		/* Refuse what cannot become a request line (a TLS hello, binary
		 * noise) now, rather than after waiting for a line end. */
		for (const char *c = p; c < end; c++) {
			if ((unsigned char)*c < 0x20 ? *c != '\r' : (unsigned char)*c >= 0x7f) {
				return RS_EPROTO;
			}
		}
		return p < end && !is_tchar((unsigned char)*p) ? RS_EPROTO : RS_EAGAIN;
	}
	int rc = request_line(p, line_content_end(p, lf), req);
	if (rc < 0) {
		return rc;
	}
	unsigned hosts = 0;
	bool close = false, keep = false, chunked = false;
	long long clen = -1;
	for (p = lf + 1;; p = lf + 1) {
		lf = line_end(p, end);
		if (lf == NULL) {
			/* Reject garbage as soon as it is seen, not only when full. */
			for (const char *c = p; c < end; c++) {
				if (!is_field_char((unsigned char)*c) && *c != '\r') {
					return RS_EPROTO;
				}
			}
			return RS_EAGAIN;
		}
		const char *le = line_content_end(p, lf);
		if (le == p) {
			break; /* the empty line: end of the head */
		}
		if (*p == ' ' || *p == '\t') {
			return RS_EPROTO; /* obs-fold (RFC 9112 5.2) */
		}
		const char *n = p;
		while (p < le && is_tchar((unsigned char)*p)) {
			p++;
		}
		/* RFC 9112 5.1: no whitespace between name and colon. */
		if (p == n || p == le || *p != ':') {
			return RS_EPROTO;
		}
		size_t nlen = (size_t)(p - n);
		p++;
		for (const char *c = p; c < le; c++) {
			if (!is_field_char((unsigned char)*c)) {
				return RS_EPROTO;
			}
		}
		while (p < le && (*p == ' ' || *p == '\t')) {
			p++;
		}
		const char *ve = le;
		while (ve > p && (ve[-1] == ' ' || ve[-1] == '\t')) {
			ve--;
		}
		if (token_eq(n, nlen, "host")) {
			hosts++;
		} else if (token_eq(n, nlen, "connection")) {
			connection_options(p, ve, &close, &keep);
		} else if (token_eq(n, nlen, "transfer-encoding")) {
			chunked = true;
		} else if (token_eq(n, nlen, "content-length")) {
			/* RFC 9112 6.3: digits only; repeated values must agree. */
			long long v = 0;
			if (p == ve || ve - p > 12) {
				return RS_EPROTO;
			}
			for (const char *c = p; c < ve; c++) {
				if (*c < '0' || *c > '9') {
					return RS_EPROTO;
				}
				v = v * 10 + (*c - '0');
			}
			if (clen >= 0 && clen != v) {
				return RS_EPROTO;
			}
			clen = v;
		}
	}
	/* RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one in 1.0. */
	if ((req->minor == 1 && hosts != 1) || hosts > 1) {
		return RS_EPROTO;
	}
	/* RFC 9112 6.1: both framings at once is how requests get smuggled. */
	if (chunked && clen >= 0) {
		return RS_EPROTO;
	}
	req->has_body = chunked || clen > 0;
	req->keep_alive = !close && (req->minor == 1 || keep);
	req->head_len = (size_t)(lf + 1 - buf);
	return 0;
}

/* ---- connections ------------------------------------------------------- */

static void http_maybe_free(struct http *http)
{
	if (http->stopping && http->handles == 0 && http->conns == NULL) {
		http->srv->http = NULL;
		conncap_deinit(&http->cap);
		free(http);
	}
}

static void conn_free(struct http_conn *c)
{
	struct http *http = c->http;
	if (c->prev != NULL) {
		c->prev->next = c->next;
	} else {
		http->conns = c->next;
	}
	if (c->next != NULL) {
		c->next->prev = c->prev;
	}
	free(c->body);
	conncap_release(&http->cap, &c->ticket);
	free(c);
	http->counters.connections--;
	http_maybe_free(http);
}

static void conn_handle_close_cb(uv_handle_t *h)
{
	struct http_conn *c = h->data;
	if (--c->handles == 0) {
		conn_free(c);
	}
}

static void conn_close(struct http_conn *c)
{
	if (c->closing) {
		return;
	}
	c->closing = true;
	uv_read_stop((uv_stream_t *)&c->tcp);
	uv_close((uv_handle_t *)&c->tcp, conn_handle_close_cb);
	uv_close((uv_handle_t *)&c->timer, conn_handle_close_cb);
}

static void conn_process(struct http_conn *c);
static void conn_timer_cb(uv_timer_t *t);
static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void conn_shutdown_cb(uv_shutdown_t *req, int status)
{
	struct http_conn *c = req->data;
	if (status < 0 && !c->closing) {
		conn_close(c);
	}
}

/*
 * Close after an answer that ends the connection, without losing it: a
 * close(2) with unread request bytes in the socket sends a reset, which
 * can destroy the answer before the client read it (RFC 9112 9.6). So
 * send our FIN first, then read and discard until the client's FIN or
 * HTTP_LINGER_MS, and only then close.
 */
static void conn_linger(struct http_conn *c)
{
	c->lingering = true;
	c->len = 0;
	c->sreq.data = c;
	if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, conn_shutdown_cb) < 0) {
		conn_close(c); /* an error return never calls the callback */
		return;
	}
	uv_timer_start(&c->timer, conn_timer_cb,
			HTTP_LINGER_MS < c->http->lim.idle_ms ? HTTP_LINGER_MS
							      : c->http->lim.idle_ms,
			0);
	uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb);
}

static void conn_write_cb(uv_write_t *req, int status)
{
	struct http_conn *c = req->data;
	c->writing = false;
	free(c->body);
	c->body = NULL;
	if (c->closing) {
		return;
	}
	if (status < 0) {
		rs_log_debug("http %s: write failed: %s", c->peer, uv_strerror(status));
		conn_close(c);
		return;
	}
	if (c->close_after_write) {
		conn_linger(c);
		return;
	}
	/* Keep-alive: the next request's bytes may already be here. */
	memmove(c->buf, c->buf + c->consumed, c->len - c->consumed);
	c->len -= c->consumed;
	c->consumed = 0;
	uv_timer_again(&c->timer);
	conn_process(c);
	if (!c->writing && !c->closing) {
		uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb);
	}
}

static void http_date(char out[40])
{
	time_t now = (time_t)(server_wall_ms() / 1000u);
	struct tm tm;
	/* RFC 9110 5.6.7: IMF-fixdate. */
	if (gmtime_r(&now, &tm) == NULL ||
			strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0) {
		out[0] = '\0';
	}
}

/*
 * Send one response: a head and an owned body (may be NULL). The body is
 * freed once written, also when the write fails. Reading stops until the
 * write completes, which keeps one response in flight per connection.
 */
static void conn_respond(struct http_conn *c, const struct http_request *req, enum http_status st,
		const char *type, char *body, size_t body_len, bool close)
{
	struct http *http = c->http;
	http->counters.responses[st]++;
	bool keep = !close && req != NULL && req->keep_alive;
	bool head_only = req != NULL && req->method == HTTP_METHOD_HEAD;
	/* The status page runs no script and loads nothing: say so to the browser. */
	const char *csp = "";
	if (strncmp(type, "text/html", 9) == 0) {
		csp = "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n";
	}
	const char *allow = st == HTTP_STATUS_METHOD_NOT_ALLOWED ? "Allow: GET, HEAD\r\n" : "";
	/* HTTP/1.1 keeps the connection by default, HTTP/1.0 only when told. */
	const char *connection = "";
	if (!keep) {
		connection = "Connection: close\r\n";
	} else if (req->minor == 0) {
		connection = "Connection: keep-alive\r\n";
	}
	char date[40];
	http_date(date);
	int n = snprintf(c->head, sizeof(c->head),
			"HTTP/1.1 %u %s\r\n"
			"Date: %s\r\n"
			"Server: rosterd/" ROSTER_VERSION "\r\n"
			"Content-Type: %s\r\n"
			"Content-Length: %zu\r\n"
			"Cache-Control: no-store\r\n"
			"X-Content-Type-Options: nosniff\r\n"
			"%s%s%s\r\n",
			statuses[st].code, statuses[st].reason, date, type, body_len, csp, allow,
			connection);
	/* The head is all literals and numbers: it fits by construction. */
	if (n < 0 || (size_t)n >= sizeof(c->head)) {
		free(body);
		conn_close(c);
		return;
	}
	uv_buf_t bufs[2] = {uv_buf_init(c->head, (unsigned)n),
			uv_buf_init(body, head_only || body == NULL ? 0 : (unsigned)body_len)};
	c->body = body;
	c->close_after_write = !keep;
	c->consumed = req != NULL ? req->head_len : c->len;
	c->writing = true;
	c->wreq.data = c;
	uv_read_stop((uv_stream_t *)&c->tcp);
	/* The idle time now bounds how long the client may take to read. */
	uv_timer_again(&c->timer);
	int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, bufs[1].len > 0 ? 2 : 1,
			conn_write_cb);
	if (rc < 0) {
		/* An error return never calls the callback. */
		c->writing = false;
		free(c->body);
		c->body = NULL;
		conn_close(c);
	}
}

static void conn_respond_text(struct http_conn *c, const struct http_request *req,
		enum http_status st, const char *text, bool close)
{
	size_t n = strlen(text);
	char *body = malloc(n);
	if (body == NULL) {
		conn_close(c);
		return;
	}
	memcpy(body, text, n);
	conn_respond(c, req, st, "text/plain; charset=utf-8", body, n, close);
}

static bool path_is(const struct http_request *req, const char *lit)
{
	return req->path_len == strlen(lit) && memcmp(req->path, lit, req->path_len) == 0;
}

/* Route a parsed request to its page. */
static void conn_serve(struct http_conn *c, const struct http_request *req)
{
	struct server *srv = c->http->srv;
	if (req->method == HTTP_METHOD_OTHER) {
		/* A body may follow that we will not read: close after. */
		conn_respond_text(c, req, HTTP_STATUS_METHOD_NOT_ALLOWED,
				"only GET and HEAD are served here\n", true);
		return;
	}
	if (req->has_body) {
		conn_respond_text(c, req, HTTP_STATUS_BAD_REQUEST, "a GET carries no body\n", true);
		return;
	}
	if (path_is(req, "/healthz")) {
		conn_respond_text(c, req, HTTP_STATUS_OK, "ok\n", false);
		return;
	}
	struct metrics_text out = {0};
	const char *type;
	int rc;
	struct stats_snapshot snap;
	if (path_is(req, "/metrics")) {
		type = "text/plain; version=0.0.4; charset=utf-8";
		server_stats_collect(srv, &snap);
		rc = metrics_prometheus_render(&snap, &out);
	} else if (path_is(req, "/v1/services")) {
		type = "application/json";
		server_stats_collect(srv, &snap);
		rc = metrics_services_json(&snap, srv->store, &out);
	} else if (path_is(req, "/")) {
		type = "text/html; charset=utf-8";
		server_stats_collect(srv, &snap);
		rc = metrics_status_html(&snap, srv->store, &out);
	} else {
		conn_respond_text(c, req, HTTP_STATUS_NOT_FOUND,
				"not found: try /, /metrics, /healthz or /v1/services\n", false);
		return;
	}
	if (rc < 0) {
		metrics_text_deinit(&out);
		rs_log_error("http %s: cannot render %.*s: %s", c->peer, (int)req->path_len,
				req->path, rs_strerror(rc));
		conn_respond_text(c, req, HTTP_STATUS_INTERNAL_ERROR, "out of memory\n", true);
		return;
	}
	size_t len;
	char *body = metrics_text_steal(&out, &len);
	conn_respond(c, req, HTTP_STATUS_OK, type, body, len, false);
}

/* Answer the request at the start of the buffer, if it is complete. */
static void conn_process(struct http_conn *c)
{
	if (c->writing || c->closing || c->len == 0) {
		return;
	}
	struct http_request req;
	int rc = http_request_parse(c->buf, c->len, &req);
	if (rc == 0) {
		conn_serve(c, &req);
	} else if (rc == RS_EAGAIN) {
		if (c->len == sizeof(c->buf)) {
			rs_log_debug("http %s: request head over %d bytes", c->peer,
					HTTP_REQUEST_MAX);
			conn_respond_text(c, NULL, HTTP_STATUS_HEADERS_TOO_LARGE,
					"request head too large\n", true);
		}
	} else if (rc == RS_ENOTSUP) {
		conn_respond_text(c, NULL, HTTP_STATUS_VERSION_NOT_SUPPORTED,
				"HTTP/1.0 and HTTP/1.1 only\n", true);
	} else {
		rs_log_debug("http %s: malformed request", c->peer);
		conn_respond_text(c, NULL, HTTP_STATUS_BAD_REQUEST, "malformed request\n", true);
	}
}

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct http_conn *c = h->data;
	/* conn_process() answers 431 before the buffer can be full here. */
	buf->base = c->buf + c->len;
	buf->len = sizeof(c->buf) - c->len;
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	struct http_conn *c = s->data;
	if (nread < 0) {
		if (nread != UV_EOF) {
			rs_log_debug("http %s: read error: %s", c->peer, uv_strerror((int)nread));
		}
		conn_close(c);
		return;
	}
	if (c->lingering) {
		return; /* discarded: alloc hands out the whole buffer again */
	}
	c->len += (size_t)nread;
	conn_process(c);
}

static void conn_timer_cb(uv_timer_t *t)
{
	struct http_conn *c = t->data;
	if (c->lingering) {
		conn_close(c);
		return;
	}
	c->http->counters.timed_out++;
	if (!c->writing && c->len > 0) {
		/* Part of a request arrived, too slowly: say why we close. */
		conn_respond_text(c, NULL, HTTP_STATUS_REQUEST_TIMEOUT, "request timeout\n", true);
		return; /* the timer, restarted, bounds that write too */
	}
	conn_close(c);
}

static void on_connection_cb(uv_stream_t *server, int status)
{
	struct http_listener *l = server->data;
	struct http *http = l->http;
	if (status < 0) {
		rs_log_warning("http: accept failed: %s", uv_strerror(status));
		return;
	}
	struct http_conn *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return;
	}
	c->http = http;
	const struct conncap_limits lim = {http->lim.max_conns, UINT32_MAX};
	struct sockaddr_storage ss;
	int verdict = server_tcp_accept(http->srv, server, &c->tcp, c, &http->cap, &lim, "http",
			&ss, &c->ticket);
	if (verdict < 0) {
		uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
		return;
	}
	uv_timer_init(http->srv->loop, &c->timer);
	c->timer.data = c;
	c->handles = 2;
	c->next = http->conns;
	if (http->conns != NULL) {
		http->conns->prev = c;
	}
	http->conns = c;
	http->counters.connections++;
	http->counters.accepted++;
	if (ss.ss_family != AF_UNSPEC) {
		rs_endpoint_format((struct sockaddr *)&ss, c->peer);
	} else {
		snprintf(c->peer, sizeof(c->peer), "?");
	}
	uv_timer_start(&c->timer, conn_timer_cb, http->lim.idle_ms, http->lim.idle_ms);
	if (verdict != CONNCAP_ADMIT) {
		http->counters.rejected++;
		conn_respond_text(c, NULL, HTTP_STATUS_UNAVAILABLE, "too many connections\n", true);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb);
}

/* ---- start / stop ------------------------------------------------------ */

static void listener_close_cb(uv_handle_t *h)
{
	struct http_listener *l = h->data;
	l->http->handles--;
	http_maybe_free(l->http);
}

int http_start(struct server *srv, const struct http_limits *lim, char *err, size_t errsz)
{
	struct http *http = calloc(1, sizeof(*http));
	if (http == NULL) {
		snprintf(err, errsz, "out of memory");
		return RS_ENOMEM;
	}
	http->srv = srv;
	http->lim = *lim;
	conncap_init(&http->cap);
	srv->http = http;
	for (size_t k = 0; k < srv->cfg.http.n; k++) {
		struct http_listener *l = &http->listeners[k];
		l->http = http;
		http->handles++;
		http->nlisteners++;
		int rc = server_tcp_listen(srv, &l->tcp, l,
				(const struct sockaddr *)&srv->cfg.http.addrs[k], 128, on_connection_cb,
				"http", err, errsz);
		if (rc < 0) {
			http_stop(http);
			return rc;
		}
		char text[RS_ADDR_TEXT_MAX];
		rs_endpoint_format((const struct sockaddr *)&srv->cfg.http.addrs[k], text);
		rs_log_info("http listening on %s", text);
	}
	return 0;
}

void http_stop(struct http *http)
{
	if (http == NULL || http->stopping) {
		return;
	}
	http->stopping = true;
	for (size_t k = 0; k < http->nlisteners; k++) {
		uv_close((uv_handle_t *)&http->listeners[k].tcp, listener_close_cb);
	}
	for (struct http_conn *c = http->conns; c != NULL; c = c->next) {
		conn_close(c);
	}
	http_maybe_free(http);
}
