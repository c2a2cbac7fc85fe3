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
 * order on the connection, written at once with uv_try_write() and queued
 * only for what the socket did not take. Limits:
 *   - at most dns_tcp_max_conns connections, and dns_tcp_max_per_source from
 *     one IPv4 address or IPv6 /64 (server/net/conncap.h, through the shared
 *     server_tcp_accept()): over either, accept and close without a word;
 *   - a query over DNSIO_TCP_QUERY_MAX octets, or with a length prefix under
 *     12, closes the connection (robustness-catalogue 2.24/2.25);
 *   - the idle timer restarts only when a whole query arrived, so a client
 *     that trickles bytes, stalls mid-message or sends nothing is closed
 *     after dns_tcp_idle_ms;
 *   - a slow reader: when a connection's queued output passes
 *     DNSIO_TCP_OUTQ_MAX, reading from it stops until the queue drains (so
 *     its backlog cannot grow); if it does not drain, the idle timer closes
 *     it. Other clients are never blocked.
 *
 * Threads: by default everything runs on the main loop thread (the answer
 * engine reads the store, which that thread owns). With cfg.dns_threads = N
 * > 0, N worker threads answer UDP instead, each with its own answer engine
 * and buffers, reading from the same sockets (each sleeps in its own epoll
 * set with EPOLLEXCLUSIVE: one datagram wakes one worker, not all). They
 * read the store under the read side of a writer-preferring rwlock whose
 * write side the main thread holds whenever it runs, letting go only while
 * it waits for events (dnsio_wait(), called by server_run()); so the store
 * never changes under a worker, and a change is visible to every worker by
 * the time the main thread next waits, i.e. before the registration's reply
 * is written out.
 * TCP stays on the main thread. See docs/dns.md for the measurements.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/dns/answer.h"
#include "server/dns/report.h"

struct server;
struct dnsio;

#define DNSIO_TCP_QUERY_MAX 4096u
#define DNSIO_TCP_OUTQ_MAX (256u * 1024u)

/** Transport counters (roster_dns_bytes_total and friends). */
struct dnsio_counters {
	uint64_t bytes_in[2];                /**< [enum answer_transport] */
	uint64_t bytes_out[2];
	uint64_t udp_send_dropped;           /**< responses the socket did not take */
	uint64_t tcp_connections;            /**< open now */
	uint64_t tcp_accepted;
	uint64_t tcp_rejected;               /**< over the connection limit */
	uint64_t tcp_rejected_source;        /**< over the per-source connection limit */
	uint64_t tcp_idle_closed;
	uint64_t tcp_bad_length;             /**< closed for a bad length prefix */
	uint64_t tcp_read_paused;            /**< times a slow reader was paused */
};

/**
 * Create the DNS module and bind every cfg.dns address for UDP and TCP.
 * Opens the client-report log under cfg.data_dir when a report zone is set.
 * @param err a one-line message naming the address on failure.
 * @return 0, or a negative code (-EADDRINUSE, RS_ENOMEM, RS_EINVAL...).
 *         On failure nothing is left open except what dnsio_stop() closes;
 *         *out is set whenever anything was allocated, and the caller must
 *         call dnsio_stop() on it.
 */
__attribute__((warn_unused_result)) int dnsio_start(struct server *srv, struct dnsio **out,
		char *err, size_t errsz);

/**
 * Close sockets and connections. The struct is freed by the last close
 * callback; srv->dnsio is set to NULL at once. NULL-safe, idempotent.
 */
void dnsio_stop(struct dnsio *io);

/**
 * Transport counters, summed over the main thread and the workers.
 * @note Main thread only (it holds the lock the workers count under).
 */
void dnsio_counters_get(const struct dnsio *io, struct dnsio_counters *out);

/** The answer engines' counters (queries, rcodes, truncated, partial),
 * summed over the main thread and the workers. Main thread only. */
void dnsio_answer_counters(const struct dnsio *io, struct answer_counters *out);

/** Does DNS run UDP worker threads (cfg.dns_threads > 0) that are not stopped? */
bool dnsio_threaded(const struct dnsio *io);

/**
 * With worker threads: let go of the store lock, wait until @p fd (the
 * loop's backend fd) is readable or @p timeout_ms passes, take the lock
 * back. The main thread calls it instead of letting uv_run() block
 * (server_run()), so workers read the store only while the main thread
 * waits for events, and never see it change under them.
 */
void dnsio_wait(struct dnsio *io, int fd, int timeout_ms);

/** Queries answered or refused (not dropped garbage), both transports;
 * 0 for NULL (Stats' dns_queries_total). */
uint64_t dnsio_queries_total(const struct dnsio *io);

/** Client-report counters per code (borrowed; valid until dnsio_stop()). */
const struct report *dnsio_report(const struct dnsio *io);
