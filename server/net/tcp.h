/*
 * server/net/tcp.h - rosterd's one TCP server: listen, accept, admit, the
 * deadline, a bounded write queue and close, for every TCP listener (the
 * registration API, DNS over TCP, HTTP, and whatever listens next).
 *
 * Model
 *   A struct net_tcp is one listener set: the sockets bound to a protocol's
 *   configured addresses (several, IPv4 and IPv6; an IPv6 address takes IPv6
 *   only), one admission table (server/net/conncap.h), its limits and its
 *   counters. The protocol never touches a socket: it plugs in a small table
 *   of callbacks (struct net_tcp_ops, Knot's udp_api_t in spirit) and gets
 *   bytes in (read), says when a whole frame arrived (frame_done), sends
 *   bytes out (send), and closes. Framing, parsing and answering stay in
 *   the protocol.
 *
 *   Accept: every connection is accepted (accept-and-close, NSD's
 *   tcp-reject-overflow: a client over a cap learns it at once instead of
 *   waiting in a backlog that is not drained), then admitted: first the
 *   optional admit hook (per-listener address ACLs), then the global and the
 *   per-source caps, read from the limits at each accept (a SIGHUP reload
 *   applies to the next connection; admitted ones are never cut). A refused
 *   connection gets the protocol's word (ops->refused: the API sends an error
 *   frame, HTTP a 503, DNS nothing) and is closed; an admitted one is handed
 *   to ops->opened and read from.
 *
 *   Deadline: one timer per connection, started at accept with the idle time,
 *   restarted only when the protocol says a whole frame arrived (or, for
 *   HTTP, a response started or ended): a client that sends nothing, stalls
 *   mid-frame or trickles one byte at a time is closed after the idle time
 *   all the same. ops->expired may keep a connection that is silent by
 *   nature (an API watcher) or answer before it closes (HTTP's 408).
 *
 *   Writes: net_tcp_conn_send() writes at once (uv_try_write) and copies into
 *   the queue only what the socket did not take. Past limits.max_outbuf
 *   queued bytes the listener's policy applies: CLOSE cuts the slow reader
 *   off (counted, logged), PAUSE stops reading from it until its queue
 *   drains to half (backpressure; ops->resumed then).
 *
 *   Close: once. net_tcp_conn_close() closes at once (queued output is
 *   dropped); net_tcp_conn_close_graceful() sends what is queued, then a
 *   FIN, then reads and discards what the client still sends until its FIN
 *   or the linger bound (so that a reset cannot destroy an answer before the
 *   client read it, RFC 9112 9.6), then closes. A connection is freed in
 *   its handles' close callback, never inside one of its own callbacks:
 *   ops->closed runs there, and the protocol's per-connection state
 *   (conn_size bytes, net_tcp_conn_data()) is freed right after it.
 *
 * Must not: parse, answer or log protocol content; reach the store or the
 * config; allocate per read (the protocol says where to read, ops->alloc).
 *
 * Threads: the loop thread of the listener set only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

struct uv_loop_s;
struct net_tcp;
struct net_tcp_conn;

/** The limits of one listener set; copied at start and by net_tcp_limits_set(). */
struct net_tcp_limits {
	uint32_t max_conns;      /**< open connections of the set */
	uint32_t max_per_source; /**< from one IPv4 address or IPv6 /64; UINT32_MAX: no cap */
	uint32_t idle_ms;        /**< the deadline: idle, and to complete a frame */
	uint64_t max_outbuf;     /**< queued output per connection; UINT64_MAX: no bound */
};

/** What to do with a connection whose queue passed limits.max_outbuf. */
enum net_tcp_overflow {
	NET_TCP_OVERFLOW_CLOSE, /**< a slow reader: close it (counted in slow_closed) */
	NET_TCP_OVERFLOW_PAUSE, /**< stop reading from it until its queue drains to half */
};

/** Why a connection was refused at accept. */
enum net_tcp_refusal {
	NET_TCP_REFUSED_TOTAL,  /**< the set's max_conns is reached */
	NET_TCP_REFUSED_SOURCE, /**< its source's max_per_source is reached */
	NET_TCP_REFUSED_MEMORY, /**< the admission table could not grow */
	NET_TCP_REFUSED_DENIED, /**< the admit hook said no */
};

/** Why a connection closed (ops->closed). */
enum net_tcp_close_reason {
	NET_TCP_CLOSE_LOCAL,   /**< net_tcp_conn_close(), or a graceful close ended */
	NET_TCP_CLOSE_EOF,     /**< the peer's FIN */
	NET_TCP_CLOSE_ERROR,   /**< a read or write error (the peer reset, most often) */
	NET_TCP_CLOSE_TIMEOUT, /**< the deadline passed */
	NET_TCP_CLOSE_SLOW,    /**< its queue passed max_outbuf (NET_TCP_OVERFLOW_CLOSE) */
	NET_TCP_CLOSE_STOP,    /**< net_tcp_stop() */
};

/**
 * What a protocol plugs in. Every callback gets the connection; its
 * listener's user pointer is net_tcp_conn_user(), its own state
 * net_tcp_conn_data(). Optional ones may be NULL.
 */
struct net_tcp_ops {
	/** An admitted connection (its data zeroed). @return 0, or a negative
	 * code to close it at once (closed still runs). Optional. */
	int (*opened)(struct net_tcp_conn *c);
	/** A refused connection (opened never ran): say no with
	 * net_tcp_conn_send(), or net_tcp_conn_close_graceful() after it. The
	 * layer closes it on return unless a graceful close is under way.
	 * Optional: NULL closes without a word. */
	void (*refused)(struct net_tcp_conn *c, enum net_tcp_refusal why);
	/** Where the next read lands: at least one byte. */
	void (*alloc)(struct net_tcp_conn *c, char **base, size_t *len);
	/** @p len > 0 bytes arrived at the place alloc gave. */
	void (*read)(struct net_tcp_conn *c, const char *data, size_t len);
	/** The deadline passed. @return true: counted in timed_out, and closed
	 * unless the callback started a graceful close (whose write the deadline,
	 * restarted, then bounds); false: kept, the deadline restarts, nothing
	 * counted. Optional: NULL closes. */
	bool (*expired)(struct net_tcp_conn *c);
	/** Everything queued has been written. Optional. */
	void (*drained)(struct net_tcp_conn *c);
	/** NET_TCP_OVERFLOW_PAUSE: the queue drained to half, reading resumed;
	 * bytes read before the pause may wait in the protocol. Optional. */
	void (*resumed)(struct net_tcp_conn *c);
	/** From the close callback of an admitted connection, once, before its
	 * data is freed: release what the data points to. Optional. */
	void (*closed)(struct net_tcp_conn *c, enum net_tcp_close_reason why);
};

/** Counters of one listener set, updated in place (net_tcp_counters_get()). */
struct net_tcp_counters {
	uint64_t open;            /**< connections now, refused ones included until closed */
	uint64_t accepted;        /**< accepted, admitted or refused */
	uint64_t rejected;        /**< refused at a cap (total, per source, table memory) */
	uint64_t rejected_source; /**< of which at the per-source cap */
	uint64_t denied;          /**< refused by the admit hook (not in rejected) */
	uint64_t timed_out;       /**< closed (or answered, then closed) at the deadline */
	uint64_t slow_closed;     /**< closed for more than max_outbuf queued */
	uint64_t paused;          /**< times reading paused for a full queue */
};

/** A listener set. Copied by net_tcp_start(); the pointers are borrowed for its life. */
struct net_tcp_config {
	const char *name; /**< "api", "dns", "http": for messages */
	const char *note; /**< appended to each "listening on" line; may be NULL */
	const struct sockaddr_storage *addrs; /**< bound at start; only read then */
	size_t naddrs;
	int backlog;
	struct net_tcp_limits limits;
	enum net_tcp_overflow overflow;
	uint32_t linger_ms; /**< bound of a graceful close's drain (also
				 by idle_ms); 0: close at its FIN */
	size_t conn_size;   /**< bytes of protocol state per connection */
	const struct net_tcp_ops *ops;
	void *user; /**< net_tcp_conn_user() */
	/** Consulted first for each accepted connection (e.g. an address ACL);
	 * false refuses it (NET_TCP_REFUSED_DENIED). Optional: NULL admits all. */
	bool (*admit)(void *admit_user, const struct sockaddr *peer);
	void *admit_user;
	/** After net_tcp_stop(), once every handle closed and the set was freed
	 * (every ops->closed has run before). Optional. */
	void (*stopped)(void *user);
};

/**
 * Create a listener set on @p loop and listen on every address; once all
 * are bound, log "<name> listening on <address>[ <note>]" for each (info).
 * @param out set to the listener set whenever it was allocated, also on
 *        failure: the caller then calls net_tcp_stop() on it (the addresses
 *        bound so far close; cfg->stopped runs once they have).
 * @param err a one-line message naming the address on failure.
 * @return 0; RS_ENOMEM (*out NULL); or a negative libuv (errno) code of a
 *         bind or listen, e.g. -EADDRINUSE.
 */
__attribute__((warn_unused_result)) int net_tcp_start(struct uv_loop_s *loop,
		const struct net_tcp_config *cfg, struct net_tcp **out, char *err, size_t errsz);

/**
 * Close the listeners and every connection at once (queued output is
 * dropped; ops->closed runs with NET_TCP_CLOSE_STOP). The set is freed, and
 * cfg->stopped called, once the last handle closed, which may be before
 * this returns (nothing open). NULL-safe, idempotent.
 */
void net_tcp_stop(struct net_tcp *t);

/** New limits (SIGHUP): caps at the next accept, idle time at the next
 * deadline start, max_outbuf at the next send. */
void net_tcp_limits_set(struct net_tcp *t, const struct net_tcp_limits *lim);

/** Counters (borrowed, updated in place; valid until the set is freed). */
const struct net_tcp_counters *net_tcp_counters_get(const struct net_tcp *t);

/**
 * The address listener @p k (in cfg.addrs order) is bound to: its port when
 * port 0 was asked.
 * @return 0, RS_ERANGE for no such listener, or a negative libuv code.
 */
__attribute__((warn_unused_result)) int net_tcp_address(
		const struct net_tcp *t, size_t k, struct sockaddr_storage *out);

/** Call @p fn for every admitted connection not closing; @p fn may close the one it gets. */
void net_tcp_foreach(struct net_tcp *t, void (*fn)(struct net_tcp_conn *c, void *arg), void *arg);

/* ---- one connection ----------------------------------------------------- */

/** Its protocol state: cfg.conn_size bytes, zeroed at accept, suitably aligned. */
void *net_tcp_conn_data(struct net_tcp_conn *c);

/** Its listener set's cfg.user. */
void *net_tcp_conn_user(const struct net_tcp_conn *c);

/** Its peer address; family AF_UNSPEC when it could not be read. */
const struct sockaddr *net_tcp_conn_peer(const struct net_tcp_conn *c);

/** Its peer as text ("192.0.2.1:53000", "[2001:db8::1]:53000", "?"), for
 * messages; valid for the connection's life. */
const char *net_tcp_conn_peer_text(const struct net_tcp_conn *c);

/**
 * Send bytes: written at once as far as the socket takes them, the rest
 * copied into the queue (the caller's buffers are free again on return).
 * Then the overflow policy: over max_outbuf queued, NET_TCP_OVERFLOW_CLOSE
 * closes the connection (NET_TCP_CLOSE_SLOW, logged at notice level) and
 * NET_TCP_OVERFLOW_PAUSE stops reading from it.
 * @return 0 (written, queued, or queued and reading paused); RS_EIO when
 *         the connection was closing already or the write failed (it is
 *         closing now); RS_ENOMEM when the rest could not be queued
 *         (closing now); RS_ELIMIT when it was closed as a slow reader.
 */
int net_tcp_conn_sendv(struct net_tcp_conn *c, const struct iovec *iov, size_t n);

/** net_tcp_conn_sendv() of one buffer. */
int net_tcp_conn_send(struct net_tcp_conn *c, const void *data, size_t len);

/** Bytes queued, not yet written. */
size_t net_tcp_conn_queued(const struct net_tcp_conn *c);

/** A whole frame arrived (or, for a protocol that bounds its writes too, a
 * response started or ended): restart the deadline with the idle time. */
void net_tcp_conn_frame_done(struct net_tcp_conn *c);

/** The protocol's own pause (HTTP while it writes, the API past its
 * in-flight requests): no read until it resumes. Independent of the
 * overflow pause. */
void net_tcp_conn_read_pause(struct net_tcp_conn *c, bool pause);

/** Is reading paused because its queue passed max_outbuf (NET_TCP_OVERFLOW_PAUSE)? */
bool net_tcp_conn_backlogged(const struct net_tcp_conn *c);

/** Close at once; queued output is dropped. Once: later calls do nothing. */
void net_tcp_conn_close(struct net_tcp_conn *c);

/** Close after what is queued was written: FIN, then discard what comes
 * until the peer's FIN or min(linger_ms, idle_ms), then close. No read
 * reaches the protocol any more. Once, like net_tcp_conn_close(). */
void net_tcp_conn_close_graceful(struct net_tcp_conn *c);

/** Has a close (at once or graceful) begun? */
bool net_tcp_conn_closing(const struct net_tcp_conn *c);
