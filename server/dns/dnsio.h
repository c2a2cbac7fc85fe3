/*
 * server/dns/dnsio.h - DNS over UDP and TCP on the main libuv loop.
 *
 * Owns the DNS sockets and connections, the answer engine (server/dns/answer.h)
 * and the client-report state (server/dns/report.h). It never builds an answer
 * itself: it hands each query's bytes to answer_process() and sends, or
 * does not send, what comes back.
 *
 * UDP: one non-blocking socket per listen address, watched with uv_poll;
 * when readable, queries are read in batches with recvmmsg(2), answered,
 * and the batch's responses leave with one sendmmsg(2) (NSD's model: the
 * per-datagram system calls are what an authoritative server spends its
 * time on). A response that cannot be sent at once (socket buffer full) is
 * dropped and counted, as a router would drop it; the client retries.
 * A socket bound to a wildcard address (0.0.0.0, ::) receives each query's
 * destination address (IP_PKTINFO / IPV6_PKTINFO) and sends the reply from
 * it, so a multi-homed host answers from the address that was asked.
 *
 * TCP (RFC 7766): length-prefixed queries, pipelined; responses go out in
 * order on the connection. The connections are server/net/tcp.h's (written
 * at once with uv_try_write(), queued only for what the socket did not
 * take); this module frames and answers. Limits:
 *   - at most tcp_max_conns connections, and tcp_max_per_source from one
 *     IPv4 address or IPv6 /64 (server/net/conncap.h, through the TCP
 *     layer): over either, accept and close without a word;
 *   - a query over DNSIO_TCP_QUERY_MAX octets, or with a length prefix under
 *     12, closes the connection (robustness-catalogue 2.24/2.25);
 *   - the deadline restarts only when a whole query arrived, so a client
 *     that trickles bytes, stalls mid-message or sends nothing is closed
 *     after tcp_idle_ms;
 *   - a slow reader: when a connection's queued output passes
 *     DNSIO_TCP_OUTQ_MAX, reading from it stops until the queue drains to
 *     half (so its backlog cannot grow; NET_TCP_OVERFLOW_PAUSE); if it does
 *     not drain, the deadline closes it. Other clients are never blocked.
 *
 * Threads: by default everything runs on the main loop thread (the answer
 * engine reads the store, which that thread owns). With cfg.dns_threads = N
 * > 0, N worker threads answer UDP instead, each with its own answer engine
 * and buffers, reading from the same sockets (each sleeps in its own epoll
 * set with EPOLLEXCLUSIVE: one datagram wakes one worker, not all). They
 * read the store and the published zone under a lock with a slot per
 * worker (common/lockset.h), once per batch; each mutation of the store or
 * the zone takes the write side for its own duration (store_set_lock(),
 * xfr_zone_set_lock()). So the store never changes under a worker, a change
 * is visible to every worker as soon as its call returns (before the
 * registration's reply is written out), and the main thread never holds the
 * lock while it waits, answers TCP or hands a commit to the writer.
 * cfg.io chooses the workers' I/O at start: io_uring (multishot recvmsg,
 * dnsio_uring.c) where the kernel allows it, else the epoll/recvmmsg path
 * above (docs/dns.md "UDP I/O").
 * TCP stays on the main thread. See docs/dns.md for the measurements.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hist.h"
#include "server/dns/answer.h"
#include "server/dns/report.h"
#include "server/dns/xfr_zone.h"
#include "server/dns/rrl.h"

struct acl;
struct dnsio;
struct sockaddr_storage;
struct store;
struct uv_loop_s;

#define DNSIO_TCP_QUERY_MAX 4096u
#define DNSIO_TCP_OUTQ_MAX (256u * 1024u)
#define DNSIO_LISTEN_MAX 8
#define DNSIO_NS_MAX 8

/** How the UDP worker threads read and send (--dns-io). */
enum dnsio_io {
	DNSIO_IO_AUTO,  /**< io_uring where the kernel allows it, else mmsg */
	DNSIO_IO_URING, /**< io_uring, or dnsio_start() fails */
	DNSIO_IO_MMSG,  /**< recvmmsg/sendmmsg woken by epoll */
};

/** The DNS limits SIGHUP reloads (dnsio_limits_set()). */
struct dnsio_limits {
	uint32_t tcp_max_conns;      /**< TCP connections in all */
	uint32_t tcp_max_per_source; /**< from one IPv4 address or IPv6 /64 */
	uint32_t tcp_idle_ms;        /**< the TCP deadline (idle, and per query) */
	uint32_t report_rate;        /**< client reports per second per /24 or /56 */
	uint64_t report_log_max;     /**< bytes of report log */
};

/** The DNS section of the configuration. Strings are borrowed for the
 * module's life; the listen array only during dnsio_start(). */
struct dnsio_config {
	const struct sockaddr_storage *listen; /**< UDP and TCP on each */
	size_t nlisten;                        /**< at most DNSIO_LISTEN_MAX */
	/** What the answer engine serves. Its ns array is copied (at most
	 * DNSIO_NS_MAX names; the strings stay borrowed); its cookies are the
	 * module's own (see cookies). */
	struct answer_config answer;
	bool cookies;              /**< answer DNS Cookies (RFC 7873) */
	const char *cookie_secret; /**< its file; "": <data_dir>/dns-cookie-secret */
	const char *data_dir;      /**< the report log's directory */
	uint32_t threads;          /**< UDP worker threads; 0: the loop thread */
	enum dnsio_io io;          /**< the workers' UDP I/O (no effect without workers) */
	struct dnsio_limits limits;
	/* Zone versions (server/dns/xfr_zone.h), published only when transfers
	 * are allowed (answer.nxfr_allow > 0): without, the SOA serial is the
	 * store revision's low 32 bits and nothing is kept. */
	uint32_t xfr_interval_ms; /**< between versions; 0: XFR_PUBLISH_INTERVAL_DEFAULT_MS */
	/** > 0: publish no zone version for this long after the start (the
	 * store started empty, --xfr-warmup; xfr_zone_new()'s hold). */
	uint32_t xfr_hold_ms;
	size_t xfr_journal_max; /**< octets of differences; 0: XFR_JOURNAL_MAX_DEFAULT */
	/** NULL, or called on the loop thread after each new version with its
	 * serial (NOTIFY). */
	void (*on_version)(uint32_t serial, void *ud);
	void *on_version_ud;
	/** --dns-allow (server/net/acl.h), borrowed for the module's life;
	 * NULL: every source is answered. A refused TCP connection is closed at
	 * accept; a UDP query from a refused source is answered REFUSED (BIND's
	 * allow-query), the answer then rate limited like any other. */
	struct acl *acl;
	/** Response rate limiting of UDP answers (server/dns/rrl.h): rate 0
	 * (the default) is off, and costs nothing. Its exempt list is copied. */
	struct rrl_config rrl;
};

/** What the DNS module is given at start. */
struct dnsio_context {
	struct uv_loop_s *loop;
	/** The owner's store, borrowed for the module's life. It never moves:
	 * after a failed commit the owner reloads it in place, and
	 * store_reloads() tells the answer engines to drop what they prepared. */
	struct store *store;
	struct dnsio_config cfg;
};

/** Transport counters (roster_dns_bytes_total and friends). */
struct dnsio_counters {
	uint64_t bytes_in[2]; /**< [enum answer_transport] */
	uint64_t bytes_out[2];
	uint64_t udp_send_dropped; /**< responses the socket did not take */
	uint64_t tcp_connections;  /**< open now */
	uint64_t tcp_accepted;
	uint64_t tcp_rejected;        /**< over the connection limit */
	uint64_t tcp_rejected_source; /**< over the per-source connection limit */
	uint64_t tcp_idle_closed;
	uint64_t tcp_bad_length;        /**< closed for a bad length prefix */
	uint64_t tcp_read_paused;       /**< times a slow reader was paused */
	struct rs_hist udp_answer_time; /**< UDP: from a batch's read to its send, per query */
	uint64_t rrl_dropped;           /**< UDP responses dropped by the rate limit */
	uint64_t rrl_slipped;           /**< UDP responses sent truncated by the rate limit */
};

/**
 * Create the DNS module and bind every cfg.listen address for UDP and TCP.
 * Opens the client-report log under cfg.data_dir when a report zone is set.
 * @param ctx copied (see struct dnsio_config for what stays borrowed).
 * @param out set on success.
 * @param err a one-line message naming the address on failure.
 * @return 0, or a negative code (-EADDRINUSE, RS_ENOMEM, RS_EINVAL...).
 *         On failure *out stays NULL and what was opened is closing on its
 *         own (run the loop).
 */
__attribute__((warn_unused_result)) int dnsio_start(
		const struct dnsio_context *ctx, struct dnsio **out, char *err, size_t errsz);

/**
 * Close sockets and connections. The struct is freed by the last close
 * callback (maybe before this returns): @p io must not be used after this
 * call. NULL-safe.
 */
void dnsio_stop(struct dnsio *io);

/** New limits (SIGHUP): the TCP caps at the next connection, the idle time
 * at the next deadline start, the report limits at the next batch. Copied.
 * NULL-safe. */
void dnsio_limits_set(struct dnsio *io, const struct dnsio_limits *lim);

/**
 * Transport counters, summed over the main thread and the workers.
 * @note Main thread only (it holds the lock the workers count under).
 */
void dnsio_counters_get(const struct dnsio *io, struct dnsio_counters *out);

/**
 * Queries the kernel dropped at our UDP sockets (io->udp's and each
 * worker's own) before they were read, a full receive buffer mostly: the
 * sockets' drops in /proc/net/udp and udp6. Reads those files: for a stats
 * snapshot, not a loop. A counter: never less than an earlier return, so a
 * read that fails (or finds one of the two files unreadable) gives the
 * last count, not a fall a scraper would take for a restart.
 * @note Main thread only.
 */
uint64_t dnsio_udp_receive_drops(struct dnsio *io);

/** The answer engines' counters (queries, rcodes, truncated, partial),
 * summed over the main thread and the workers. Main thread only. */
void dnsio_answer_counters(const struct dnsio *io, struct answer_counters *out);

/** What the UDP workers use: DNSIO_IO_URING or DNSIO_IO_MMSG as chosen at
 * start; DNSIO_IO_AUTO when there are no workers (UDP is on the main loop,
 * with recvmmsg/sendmmsg). */
enum dnsio_io dnsio_io_used(const struct dnsio *io);

/** "auto", "uring" or "mmsg" for @p v ("?" when out of range). */
const char *dnsio_io_name(enum dnsio_io v);

/** The published zone's counters (versions, serial, journal and zone
 * octets); all zero when no zone is published. Main thread only. */
void dnsio_zone_counters(const struct dnsio *io, struct xfr_zone_counters *out);

/** The published serial (0 when no zone is published). Main thread only. */
uint32_t dnsio_zone_serial(const struct dnsio *io);

/** Queries answered or refused (not dropped garbage), both transports;
 * 0 for NULL (Stats' dns_queries_total). */
uint64_t dnsio_queries_total(const struct dnsio *io);

/** Client-report counters per code (borrowed; valid until dnsio_stop()). */
const struct report *dnsio_report(const struct dnsio *io);
