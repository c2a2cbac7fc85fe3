#include "server/http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/error.h"
#include "common/log.h"
#include "roster/version.h"
#include "server/net/tcp.h"

/* How long a closing connection drains what the client still sends. */
#define HTTP_LINGER_MS 2000u

/* A connection's state (net_tcp_conn_data()). */
struct http_conn {
	struct net_tcp_conn *tcp;
	bool writing;    /* a response is queued: reading stops until it is written */
	size_t len;      /* bytes in buf */
	size_t consumed; /* head bytes of the request being answered */
	char buf[HTTP_REQUEST_MAX];
};

struct http {
	struct http_context ctx;
	struct net_tcp *tcp;
	struct http_counters counters;
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

/* HTTP's limits as the TCP layer's: no per-source cap (see http.h), and no
 * bound on the queue: one response at a time is in it. */
static struct net_tcp_limits tcp_limits(const struct http_limits *lim)
{
	return (struct net_tcp_limits){.max_conns = lim->max_conns,
			.max_per_source = UINT32_MAX,
			.idle_ms = lim->idle_ms,
			.max_outbuf = UINT64_MAX};
}

void http_limits_set(struct http *http, const struct http_limits *lim)
{
	if (http != NULL) {
		http->ctx.limits = *lim;
		struct net_tcp_limits tl = tcp_limits(lim);
		net_tcp_limits_set(http->tcp, &tl);
	}
}

const struct http_counters *http_counters_get(struct http *http)
{
	const struct net_tcp_counters *t = net_tcp_counters_get(http->tcp);
	http->counters.connections = t->open;
	http->counters.accepted = t->accepted;
	http->counters.rejected = t->rejected + t->denied;
	http->counters.timed_out = t->timed_out;
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

/* Skip the empty lines before the request line (RFC 9112 2.2) and find the
 * LF that ends it. @return 0 with *pp at the request line and *lf set;
 * RS_EAGAIN to read more; RS_EPROTO for what cannot become a request line. */
static int request_line_find(const char **pp, const char *end, const char **lf)
{
	const char *p = *pp;
	while (p < end && (*p == '\r' || *p == '\n')) {
		if (*p == '\r' && (p + 1 == end || p[1] != '\n')) {
			if (p + 1 == end) {
				return RS_EAGAIN;
			}
			return RS_EPROTO;
		}
		p += *p == '\r' ? 2 : 1;
	}
	*pp = p;
	*lf = line_end(p, end);
	if (*lf != NULL) {
		return 0;
	}
	/* Refuse what cannot become a request line (a TLS hello, binary
	 * noise) now, rather than after waiting for a line end. */
	for (const char *c = p; c < end; c++) {
		if ((unsigned char)*c < 0x20 ? *c != '\r' : (unsigned char)*c >= 0x7f) {
			return RS_EPROTO;
		}
	}
	return p < end && !is_tchar((unsigned char)*p) ? RS_EPROTO : RS_EAGAIN;
}

/* What the header fields say about the request's framing and connection. */
struct head_fields {
	unsigned hosts;
	bool close, keep; /* Connection options */
	bool chunked;     /* a Transfer-Encoding */
	long long clen;   /* Content-Length; -1: none */
};

/* RFC 9112 6.3: Content-Length is digits only; repeated values must agree. */
static int content_length(const char *v, const char *ve, long long *clen)
{
	long long n = 0;
	if (v == ve || ve - v > 12) {
		return RS_EPROTO;
	}
	for (const char *c = v; c < ve; c++) {
		if (*c < '0' || *c > '9') {
			return RS_EPROTO;
		}
		n = n * 10 + (*c - '0');
	}
	if (*clen >= 0 && *clen != n) {
		return RS_EPROTO;
	}
	*clen = n;
	return 0;
}

/* One field line [p, le), without its line end: checked, and noted in @p h
 * when it is a field we read. @return 0 or RS_EPROTO. */
static int field_line(const char *p, const char *le, struct head_fields *h)
{
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
		h->hosts++;
	} else if (token_eq(n, nlen, "connection")) {
		connection_options(p, ve, &h->close, &h->keep);
	} else if (token_eq(n, nlen, "transfer-encoding")) {
		h->chunked = true;
	} else if (token_eq(n, nlen, "content-length")) {
		return content_length(p, ve, &h->clen);
	}
	return 0;
}

int http_request_parse(const char *buf, size_t len, struct http_request *req)
{
	const char *p = buf;
	const char *end = buf + len;
	const char *lf = NULL;
	memset(req, 0, sizeof(*req));
	int rc = request_line_find(&p, end, &lf);
	if (rc == 0) {
		rc = request_line(p, line_content_end(p, lf), req);
	}
	if (rc < 0) {
		return rc;
	}
	struct head_fields h = {.clen = -1};
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
		rc = field_line(p, le, &h);
		if (rc < 0) {
			return rc;
		}
	}
	/* RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one in 1.0. */
	if ((req->minor == 1 && h.hosts != 1) || h.hosts > 1) {
		return RS_EPROTO;
	}
	/* RFC 9112 6.1: both framings at once is how requests get smuggled. */
	if (h.chunked && h.clen >= 0) {
		return RS_EPROTO;
	}
	req->has_body = h.chunked || h.clen > 0;
	req->keep_alive = !h.close && (req->minor == 1 || h.keep);
	req->head_len = (size_t)(lf + 1 - buf);
	return 0;
}

/* ---- responses ------------------------------------------------------------ */

static void http_date(char out[40])
{
	time_t now = time(NULL);
	struct tm tm;
	/* RFC 9110 5.6.7: IMF-fixdate. */
	if (gmtime_r(&now, &tm) == NULL ||
			strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0) {
		out[0] = '\0';
	}
}

/* A response's head into @p out; its length, or 0 when it did not fit. */
static size_t response_head(char *out, size_t cap, enum http_status st, const char *type,
		size_t body_len, const struct http_request *req, bool keep)
{
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
	int n = snprintf(out, cap,
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
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/*
 * Send one response: a head and a body (borrowed; may be NULL). Reading
 * stops until it is written, which keeps one response in flight per
 * connection; a response that ends the connection closes it gracefully
 * once written (server/net/tcp.h: FIN first, then the client's bytes are
 * drained for a while, RFC 9112 9.6).
 */
static void conn_respond(struct net_tcp_conn *tc, const struct http_request *req,
		enum http_status st, const char *type, const char *body, size_t body_len,
		bool close)
{
	struct http *http = net_tcp_conn_user(tc);
	struct http_conn *h = net_tcp_conn_data(tc);
	http->counters.responses[st]++;
	bool keep = !close && req != NULL && req->keep_alive;
	bool head_only = req != NULL && req->method == HTTP_METHOD_HEAD;
	char head[512];
	size_t n = response_head(head, sizeof(head), st, type, body_len, req, keep);
	/* The head is all literals and numbers: it fits by construction. */
	if (n == 0) {
		net_tcp_conn_close(tc);
		return;
	}
	struct iovec v[2] = {{head, n}, {(void *)body, head_only || body == NULL ? 0 : body_len}};
	h->consumed = req != NULL ? req->head_len : h->len;
	/* The idle time now bounds how long the client may take to read. */
	net_tcp_conn_frame_done(tc);
	if (net_tcp_conn_sendv(tc, v, v[1].iov_len > 0 ? 2 : 1) < 0) {
		return; /* closing */
	}
	if (!keep) {
		net_tcp_conn_close_graceful(tc);
	} else if (net_tcp_conn_queued(tc) > 0) {
		h->writing = true;
		net_tcp_conn_read_pause(tc, true);
	}
}

static void conn_respond_text(struct net_tcp_conn *tc, const struct http_request *req,
		enum http_status st, const char *text, bool close)
{
	conn_respond(tc, req, st, "text/plain; charset=utf-8", text, strlen(text), close);
}

static bool path_is(const struct http_request *req, const char *lit)
{
	return req->path_len == strlen(lit) && memcmp(req->path, lit, req->path_len) == 0;
}

/* Route a parsed request to its page. */
static void conn_serve(struct net_tcp_conn *tc, const struct http_request *req)
{
	struct http *http = net_tcp_conn_user(tc);
	if (req->method == HTTP_METHOD_OTHER) {
		/* A body may follow that we will not read: close after. */
		conn_respond_text(tc, req, HTTP_STATUS_METHOD_NOT_ALLOWED,
				"only GET and HEAD are served here\n", true);
		return;
	}
	if (req->has_body) {
		conn_respond_text(
				tc, req, HTTP_STATUS_BAD_REQUEST, "a GET carries no body\n", true);
		return;
	}
	if (path_is(req, "/healthz")) {
		conn_respond_text(tc, req, HTTP_STATUS_OK, "ok\n", false);
		return;
	}
	enum http_page page;
	const char *type;
	if (path_is(req, "/metrics")) {
		page = HTTP_PAGE_METRICS;
		type = "text/plain; version=0.0.4; charset=utf-8";
	} else if (path_is(req, "/v1/services")) {
		page = HTTP_PAGE_SERVICES;
		type = "application/json";
	} else if (path_is(req, "/")) {
		page = HTTP_PAGE_STATUS;
		type = "text/html; charset=utf-8";
	} else {
		conn_respond_text(tc, req, HTTP_STATUS_NOT_FOUND,
				"not found: try /, /metrics, /healthz or /v1/services\n", false);
		return;
	}
	char *body = NULL;
	size_t len = 0;
	int rc = http->ctx.render(http->ctx.owner, page, &body, &len);
	if (rc < 0) {
		rs_log_error("http %s: cannot render %.*s: %s", net_tcp_conn_peer_text(tc),
				(int)req->path_len, req->path, rs_strerror(rc));
		conn_respond_text(tc, req, HTTP_STATUS_INTERNAL_ERROR, "out of memory\n", true);
		return;
	}
	conn_respond(tc, req, HTTP_STATUS_OK, type, body, len, false);
	free(body);
}

/* ---- connections (the TCP layer's callbacks) ------------------------------- */

/* Answer the request at the start of the buffer, if it is complete.
 * @return false when it is not (read more). */
static bool conn_answer(struct net_tcp_conn *tc, struct http_conn *h)
{
	struct http_request req;
	int rc = http_request_parse(h->buf, h->len, &req);
	if (rc == 0) {
		conn_serve(tc, &req);
	} else if (rc == RS_EAGAIN) {
		if (h->len < sizeof(h->buf)) {
			return false;
		}
		rs_log_debug("http %s: request head over %d bytes", net_tcp_conn_peer_text(tc),
				HTTP_REQUEST_MAX);
		conn_respond_text(tc, NULL, HTTP_STATUS_HEADERS_TOO_LARGE,
				"request head too large\n", true);
	} else if (rc == RS_ENOTSUP) {
		conn_respond_text(tc, NULL, HTTP_STATUS_VERSION_NOT_SUPPORTED,
				"HTTP/1.0 and HTTP/1.1 only\n", true);
	} else {
		rs_log_debug("http %s: malformed request", net_tcp_conn_peer_text(tc));
		conn_respond_text(tc, NULL, HTTP_STATUS_BAD_REQUEST, "malformed request\n", true);
	}
	return true;
}

/* A response is written: drop its request; the keep-alive wait begins. */
static void conn_response_done(struct net_tcp_conn *tc, struct http_conn *h)
{
	memmove(h->buf, h->buf + h->consumed, h->len - h->consumed);
	h->len -= h->consumed;
	h->consumed = 0;
	net_tcp_conn_frame_done(tc);
}

/* Answer the requests in the buffer in order, one at a time: the next
 * pipelined one only once the last response is written. */
static void conn_process(struct net_tcp_conn *tc)
{
	struct http_conn *h = net_tcp_conn_data(tc);
	while (!h->writing && !net_tcp_conn_closing(tc) && h->len > 0 && conn_answer(tc, h)) {
		if (!h->writing && !net_tcp_conn_closing(tc)) {
			conn_response_done(tc, h); /* written at once */
		}
	}
}

static int conn_opened(struct net_tcp_conn *tc)
{
	struct http_conn *h = net_tcp_conn_data(tc);
	h->tcp = tc;
	return 0;
}

static void conn_refused(struct net_tcp_conn *tc, enum net_tcp_refusal why)
{
	if (why == NET_TCP_REFUSED_DENIED) {
		return; /* outside --http-allow: closed without a word */
	}
	conn_respond_text(tc, NULL, HTTP_STATUS_UNAVAILABLE, "too many connections\n", true);
}

static void conn_alloc(struct net_tcp_conn *tc, char **base, size_t *len)
{
	struct http_conn *h = net_tcp_conn_data(tc);
	/* conn_answer() answers 431 before the buffer can be full here. */
	*base = h->buf + h->len;
	*len = sizeof(h->buf) - h->len;
}

static void conn_read(struct net_tcp_conn *tc, const char *data, size_t len)
{
	(void)data;
	struct http_conn *h = net_tcp_conn_data(tc);
	h->len += len;
	conn_process(tc);
}

static bool conn_expired(struct net_tcp_conn *tc)
{
	struct http_conn *h = net_tcp_conn_data(tc);
	if (!h->writing && h->len > 0) {
		/* Part of a request arrived, too slowly: say why we close. */
		conn_respond_text(tc, NULL, HTTP_STATUS_REQUEST_TIMEOUT, "request timeout\n", true);
	}
	return true;
}

static void conn_drained(struct net_tcp_conn *tc)
{
	struct http_conn *h = net_tcp_conn_data(tc);
	if (!h->writing) {
		return;
	}
	h->writing = false;
	conn_response_done(tc, h);
	net_tcp_conn_read_pause(tc, false);
	/* Keep-alive: the next request's bytes may already be here. */
	conn_process(tc);
}

static const struct net_tcp_ops http_tcp_ops = {
		.opened = conn_opened,
		.refused = conn_refused,
		.alloc = conn_alloc,
		.read = conn_read,
		.expired = conn_expired,
		.drained = conn_drained,
};

/* ---- start / stop ------------------------------------------------------ */

static void http_tcp_stopped(void *user)
{
	free(user);
}

int http_start(const struct http_context *ctx, struct http **out, char *err, size_t errsz)
{
	*out = NULL;
	struct http *http = calloc(1, sizeof(*http));
	if (http == NULL) {
		snprintf(err, errsz, "http: out of memory");
		return RS_ENOMEM;
	}
	http->ctx = *ctx;
	const struct net_tcp_config tc = {
			.name = "http",
			.addrs = ctx->listen,
			.naddrs = ctx->nlisten,
			.backlog = 128,
			.limits = tcp_limits(&ctx->limits),
			.overflow = NET_TCP_OVERFLOW_CLOSE, /* never reached: no bound */
			.linger_ms = HTTP_LINGER_MS,
			.conn_size = sizeof(struct http_conn),
			.ops = &http_tcp_ops,
			.user = http,
			.admit = ctx->admit,
			.admit_user = ctx->admit_user,
			.stopped = http_tcp_stopped,
	};
	int rc = net_tcp_start(ctx->loop, &tc, &http->tcp, err, errsz);
	if (rc < 0) {
		if (http->tcp == NULL) {
			free(http);
		} else {
			net_tcp_stop(http->tcp); /* frees http once its handles closed */
		}
		return rc;
	}
	*out = http;
	return 0;
}

void http_stop(struct http *http)
{
	if (http != NULL) {
		net_tcp_stop(http->tcp);
	}
}
