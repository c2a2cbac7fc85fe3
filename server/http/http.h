/*
 * server/http/http.h - rosterd's HTTP/1.1 listener: /metrics, /healthz,
 * /v1/services and the status page at /.
 *
 * A deliberately small server on rosterd's own libuv loop, rather than a
 * library: the pages read the store, which belongs to the loop thread.
 * libmicrohttpd could be driven from this loop (its epoll fd under a
 * uv_poll handle), but as a second connection machine with its own
 * timeouts and limits inside ours; h2o and civetweb bring their own loop or
 * threads. What is served is tiny (four GET resources for monitors and
 * people), so the whole of HTTP we need is a strict request-head parser and
 * a Content-Length response; see docs/operations.md.
 *
 * Model
 *   One request at a time per connection: reading stops while a response is
 *   written, and pipelined requests already read are answered in order after
 *   it. A request head (request line and header fields) must fit in
 *   HTTP_REQUEST_MAX bytes (431 otherwise) and arrive within the idle time
 *   (408; the timer is not reset by each byte, so a slow sender cannot hold
 *   a connection), a response must be taken within the idle time, an idle
 *   keep-alive connection is closed after it. Only GET and HEAD exist (405
 *   with Allow otherwise), requests with a body are refused (400), a
 *   malformed head gets 400 and a version other than HTTP/1.0 or 1.1 gets
 *   505; each of these closes the connection. Beyond the connection limit a
 *   new connection gets 503 and is closed. Listening, admission, the
 *   deadline, writing and the graceful close are server/net/tcp.h's, with
 *   the global cap only: the clients are a few monitors and people, often
 *   behind one proxy address, so a per-source cap would only say "the
 *   proxy" (the DNS and API listeners, facing the fleet, have one). A
 *   connection closed by the server after an answer is closed gracefully:
 *   FIN first, then what the client still sends is drained for up to 2 s,
 *   so that a TCP reset cannot destroy the answer before the client read it
 *   (RFC 9112 9.6).
 *
 * Transport only: the pages are rendered by the owner's render callback
 * (server/http/metrics.c in rosterd); of the other modules, it includes only
 * the TCP layer.
 * The request parser is a pure function, exposed for tests.
 *
 * Threads: main loop only. Connections are freed in their handles' close
 * callbacks, never inside their own read callback.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http;
struct sockaddr;
struct sockaddr_storage;
struct uv_loop_s;

/** Largest request head (request line and header fields), in bytes. */
#define HTTP_REQUEST_MAX 8192

/** Limits of the listener (rosterd's defaults are set with the other
 * options' in config_defaults(): 256 connections, 10 s). */
struct http_limits {
	uint32_t max_conns; /**< open connections */
	uint32_t idle_ms;   /**< to send a request, take a response, or stay idle */
};

/**
 * New limits (SIGHUP): the connection cap applies to the next connection,
 * the idle time to the next timer start. Open connections stay. NULL-safe.
 * @param lim copied.
 */
void http_limits_set(struct http *http, const struct http_limits *lim);

/** The response statuses the server sends, as counter indexes. */
enum http_status {
	HTTP_STATUS_OK,                    /**< 200 */
	HTTP_STATUS_BAD_REQUEST,           /**< 400 */
	HTTP_STATUS_NOT_FOUND,             /**< 404 */
	HTTP_STATUS_METHOD_NOT_ALLOWED,    /**< 405 */
	HTTP_STATUS_REQUEST_TIMEOUT,       /**< 408 */
	HTTP_STATUS_HEADERS_TOO_LARGE,     /**< 431 */
	HTTP_STATUS_INTERNAL_ERROR,        /**< 500 */
	HTTP_STATUS_UNAVAILABLE,           /**< 503 */
	HTTP_STATUS_VERSION_NOT_SUPPORTED, /**< 505 */
	HTTP_STATUS_COUNT
};

/** @return the numeric code of @p s (e.g. 404). */
unsigned http_status_code(enum http_status s);

/** Counters for /metrics (http_counters_get()). */
struct http_counters {
	uint64_t connections; /**< open now */
	uint64_t accepted;
	uint64_t rejected;  /**< over the connection limit */
	uint64_t timed_out; /**< closed at the deadline (idle, or a request or response too slow) */
	uint64_t responses[HTTP_STATUS_COUNT];
};

enum http_method {
	HTTP_METHOD_OTHER = 0, /**< a valid token, but not one we serve */
	HTTP_METHOD_GET,
	HTTP_METHOD_HEAD,
};

/** A parsed request head. Views point into the parsed buffer. */
struct http_request {
	enum http_method method;
	const char *path; /**< origin-form target without its query */
	size_t path_len;
	unsigned minor;  /**< HTTP/1.<minor>: 0 or 1 */
	bool keep_alive; /**< the connection may serve another request */
	bool has_body;   /**< Content-Length > 0 or Transfer-Encoding */
	size_t head_len; /**< bytes of the head, its empty line included */
};

/**
 * Parse one request head at the start of @p buf (RFC 9112 sections 2-3
 * and 5, strictly: no obs-fold, no whitespace before a colon, exactly one
 * Host in HTTP/1.1, no conflicting Content-Length, not both Content-Length
 * and Transfer-Encoding). Empty lines before the request line are skipped
 * (RFC 9112 2.2). Both CRLF and a bare LF end a line.
 * @param buf bytes received, not NUL-terminated; may hold more than one request.
 * @param req filled on success; its views point into @p buf.
 * @return 0: a complete head (req->head_len bytes);
 *         RS_EAGAIN: incomplete, read more;
 *         RS_EPROTO: malformed (answer 400);
 *         RS_ENOTSUP: a well-formed HTTP version other than 1.0 and 1.1 (answer 505).
 */
__attribute__((warn_unused_result)) int http_request_parse(
		const char *buf, size_t len, struct http_request *req);

/** The pages the owner renders. */
enum http_page {
	HTTP_PAGE_METRICS,  /**< /metrics: the Prometheus text exposition */
	HTTP_PAGE_SERVICES, /**< /v1/services: JSON */
	HTTP_PAGE_STATUS,   /**< /: the HTML status page */
};

/** What the HTTP server is given at start. */
struct http_context {
	struct uv_loop_s *loop;
	const struct sockaddr_storage *listen; /**< the addresses; read at start only */
	size_t nlisten;
	struct http_limits limits;
	/**
	 * Render @p page into a malloc'd body (NULL when empty), which the
	 * server frees once sent. Called on the loop thread, between reads.
	 * @return 0, or a negative code (answered 500).
	 */
	int (*render)(void *owner, enum http_page page, char **body, size_t *len);
	void *owner;
	/** Consulted at each accept (--http-allow, server/net/acl.h's
	 * acl_admit()); false closes the connection without a word. NULL:
	 * every source is served. */
	bool (*admit)(void *admit_user, const struct sockaddr *peer);
	void *admit_user;
};

/**
 * Create the HTTP server and bind its listeners.
 * @param ctx copied.
 * @param out set on success.
 * @param err one-line message naming the address on failure.
 * @return 0, or a negative code (e.g. -EADDRINUSE); on failure *out stays
 *         NULL, the listeners bound so far close on their own (run the
 *         loop), and no callback runs.
 */
__attribute__((warn_unused_result)) int http_start(
		const struct http_context *ctx, struct http **out, char *err, size_t errsz);

/**
 * Close the listeners and every connection (a response being written is
 * cut). Memory is freed when the last handle has closed; @p http must not
 * be used after this call. NULL-safe.
 */
void http_stop(struct http *http);

/** Counters, refreshed from the listeners' at each call (borrowed; valid
 * until the next call or http_stop()). */
const struct http_counters *http_counters_get(struct http *http);
