/*
 * dnsio's parts, shared by its files (dnsio.c: UDP, the worker threads and
 * the life cycle; dnsio_tcp.c: DNS over TCP and transfers). Not for other
 * modules: they see server/dns/dnsio.h only.
 */
#pragma once

#include <netinet/in.h>
#include <stdio.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "server/dns/answer.h"
#include "server/dns/cookie.h"
#include "server/dns/dnswire.h"
#include "server/dns/dnsio.h"
#include "server/dns/refusal.h"
#include "server/dns/report.h"
#include "server/dns/rrl.h"
#include "server/net/tcp.h"
#include "server/registry/store.h"

#define UDP_BATCH 32
#define UDP_QUERY_MAX 4096
#define UDP_OUT_MAX 4096

/* A UDP socket and what its replies need. */
struct udp_sock {
	int fd;
	/* Bound to a wildcard address: queries carry their destination in an
	 * IP_PKTINFO / IPV6_PKTINFO control message, and replies are sent from
	 * it (a multi-homed host would otherwise answer from the address of the
	 * route back, which the client does not accept). */
	bool pktinfo;
};

struct dns_udp {
	uv_poll_t poll;
	struct udp_sock s;
	struct dnsio *io;
};

/* A TCP connection's state (net_tcp_conn_data()): the queries read so far. */
struct dns_conn {
	size_t rlen;
	uint8_t rbuf[2 + DNSIO_TCP_QUERY_MAX];
};

/* Room for the one control message a wildcard socket receives and sends. */
union udp_cmsg {
	struct cmsghdr align;
	uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

/* One batch of UDP queries and their responses (recvmmsg/sendmmsg). A
 * response's control message is the query's, sent back as received. */
struct udp_batch {
	struct mmsghdr rmsg[UDP_BATCH];
	struct iovec riov[UDP_BATCH];
	struct sockaddr_storage raddr[UDP_BATCH];
	union udp_cmsg rctl[UDP_BATCH];
	uint8_t rbuf[UDP_BATCH][UDP_QUERY_MAX];
	/* The socket rmsg[] is set up for, and how many entries the last
	 * recvmmsg filled: only those need their lengths reset (the kernel
	 * writes msg_namelen, msg_controllen and msg_flags back), so a batch of
	 * one does not rewrite all UDP_BATCH headers. */
	const struct udp_sock *armed;
	int used;
	struct mmsghdr smsg[UDP_BATCH];
	struct iovec siov[UDP_BATCH];
	uint8_t sbuf[UDP_BATCH][UDP_OUT_MAX];
};

/* A UDP worker thread: its own answer engine and buffers, the shared
 * sockets. It reads the store only in its slot of dnsio's lock.
 * It sleeps in its own epoll set, where the sockets are registered with
 * EPOLLEXCLUSIVE: a datagram arriving while every worker sleeps wakes one
 * of them, not all (with poll() each wake-up of N workers found work for
 * one), and whichever worker runs drains the one queue. */
struct dns_worker {
	pthread_t thread;
	struct dns_uring *uring; /* NULL: recvmmsg/sendmmsg on epoll (dnsio_uring.c) */
	struct dnsio *io;
	size_t slot; /* its reader slot in io->lock */
	/* With io->reuseport, the sockets it alone reads, one per listen
	 * address (worker 0's are io->udp's); nsock 0: it reads io->udp's. */
	struct udp_sock sock[DNSIO_LISTEN_MAX];
	size_t nsock;
	struct answer *answer;
	struct dnsio_counters counters; /* its UDP bytes and drops */
	bool started;
	int epfd;
	struct udp_batch batch;
};

struct dnsio {
	uv_loop_t *loop;
	struct store *store; /* the owner's; reloads in place (store_reloads()) */
	struct dnsio_config cfg;
	struct dnsio_limits limits;
	struct answer_config acfg;
	const char *ns[DNSIO_NS_MAX];         /* acfg.ns */
	struct cookie_secrets cookie_secrets; /* copied into each engine */
	struct answer *answer;                /* the main thread's: TCP, and UDP without workers */
	struct report report;
	struct rrl *rrl;             /* NULL: no response rate limiting */
	struct refusal_log refusals; /* which refused transfers to log */
	struct dnsio_counters counters;
	/* The most of the kernel's drops at our sockets read so far
	 * (dnsio_udp_receive_drops(), main thread): a counter never goes back. */
	uint64_t udp_drops_seen;
	struct dns_udp udp[DNSIO_LISTEN_MAX]; /* with workers: no poll handle */
	size_t nudp;
	/* More than one worker: each reads sockets of its own, bound to the
	 * same addresses with SO_REUSEPORT, so the kernel spreads the queries
	 * by flow and no socket's queue is written by two cores. */
	bool reuseport;
	struct net_tcp *tcp; /* DNS over TCP (server/net/tcp.h) */
	int handles;         /* open handles (the TCP set is one); the last frees */
	bool stopping;
	/* Worker threads (cfg.dns_threads > 0). They read the store and the
	 * published zone in their reader slot of @c lock; the store's and the
	 * zone's mutations take its write side, each for its own duration
	 * (store_set_lock(), xfr_zone_set_lock()), so workers never see one
	 * half done. */
	struct dns_worker **workers;
	size_t nworkers;
	struct rs_lockset lock; /* a reader slot per worker (dns_worker.slot) */
	bool lock_init;
	int stop_fd;            /* eventfd: workers exit */
	enum dnsio_io io_used;  /* what the workers use (DNSIO_IO_AUTO: no workers) */
	struct udp_batch batch; /* the main thread's */
	/* TCP response scratch: 2-octet length, then up to 65,535 octets. */
	uint8_t tbuf[2 + 65535];
	/* A zone transfer's framed messages (xfr_write()), between building and
	 * net_tcp_conn_send(); its memory is kept up to XFR_KEEP. */
	struct rs_buf xbuf;
	/* The published zone and its publisher (with --xfr-allow only). */
	struct xfr_zone *zone;
	struct xfr_publish *publish;
};

/* Transfer scratch kept between transfers; a larger one is freed. */
#define XFR_KEEP (1u << 20)

/* Worker @p w's socket for listen address @p k. */
static inline struct udp_sock *dnsio_worker_sock(struct dns_worker *w, size_t k)
{
	return w->nsock > 0 ? &w->sock[k] : &w->io->udp[k].s;
}

/* Follow the store's content between batches of the main thread's engine
 * (it is reloaded in place after a failed commit). */
static inline void dnsio_refresh(struct dnsio *io)
{
	answer_store_set(io->answer, io->store, store_reloads(io->store));
}

/* A refused transfer: logged with its source, at most once a minute per
 * source and reason (server/dns/refusal.h); always counted by the engine. */
static inline void dnsio_refusal_note(
		struct refusal_log *rl, const struct answer_result *res, const struct sockaddr *sa)
{
	if (!res->xfr_refused || !refusal_admit(rl, sa, res->xfr_reason, rs_clock_mono_ms())) {
		return;
	}
	char text[RS_ADDR_TEXT_MAX];
	if (rs_endpoint_format(sa, text) < 0) {
		snprintf(text, sizeof(text), "?");
	}
	rs_log_warning("dns: %s from %s refused: %s (logged once a minute per source and reason)",
			res->xfr_type == DNSWIRE_IXFR ? "IXFR" : "AXFR", text,
			answer_xfr_result_name(res->xfr_reason));
}

/** The TCP server's limits from dnsio's. */
struct net_tcp_limits dnsio_tcp_limits(const struct dnsio_limits *lim);

/** Start DNS over TCP on every listen address (dnsio_tcp.c); @p stopped
 * is called with @p io once the TCP server has closed after dnsio_stop().
 * @return 0, or a negative error code with @p err set. */
int dnsio_tcp_open(struct dnsio *io, void (*stopped)(void *), char *err, size_t errsz);

/** Answer one UDP query @p q of @p len octets from @p src into @p out
 * (UDP_OUT_MAX octets): the access list, the engine, the report log, the
 * refused-transfer log and rate limiting, as every UDP path does it.
 * @p now: the loop's milliseconds; @p wall: seconds since the epoch.
 * @return the response's length, 0 when nothing is to be sent. */
size_t dnsio_udp_answer(struct dnsio *io, struct answer *a, const uint8_t *q, size_t len,
		const struct sockaddr *src, uint64_t now, uint32_t wall, uint8_t *out,
		struct dnsio_counters *ctr);

/** The control message to send a reply to query @p m with: the query's
 * IP_PKTINFO or IPV6_PKTINFO as received, rewritten in place. For IPv4 the
 * kernel takes the source from ipi_spec_dst, which it set to the query's
 * destination, and ignores ipi_addr; for IPv6 ipi6_addr is the destination.
 * The interface index is cleared (except for an IPv6 link-local
 * destination, which needs it): kept, it would force the reply out of the
 * interface the query came in on, past the routing table, and asymmetric
 * routing (anycast, several uplinks) would lose it.
 * @return its length, 0 when there is none (or it was truncated, or its
 * cmsg_len runs past msg_controllen). */
size_t dnsio_reply_cmsg(struct msghdr *m);

/* ---- io_uring (dnsio_uring.c) ------------------------------------------ */

/** What the kernel writes at the start of a multishot recvmsg buffer
 * (struct io_uring_recvmsg_out), then the name, the control messages and
 * the payload, each area as large as the request's msghdr asked. */
struct dnsio_recv_out {
	uint32_t namelen;
	uint32_t controllen;
	uint32_t payloadlen;
	uint32_t flags;
};

/** One datagram as parsed from a provided buffer (pointers into it). */
struct dnsio_recv {
	const struct sockaddr *addr;
	socklen_t addrlen;
	uint8_t *control; /**< NULL when none or truncated */
	size_t controllen;
	const uint8_t *payload;
	size_t len;     /**< as received (may exceed what the buffer holds) */
	bool truncated; /**< the payload did not fit: not answered */
};

/** The areas of every provided buffer: room for a sockaddr_storage, one
 * packet-info control message and a UDP_QUERY_MAX query. */
#define DNSIO_RECV_NAME ((uint32_t)sizeof(struct sockaddr_storage))
#define DNSIO_RECV_CONTROL ((uint32_t)sizeof(union udp_cmsg))
#define DNSIO_RECV_BUF                                                                             \
	(sizeof(struct dnsio_recv_out) + DNSIO_RECV_NAME + DNSIO_RECV_CONTROL + UDP_QUERY_MAX)

/** Parse a multishot recvmsg completion of @p len octets (the CQE's result)
 * in buffer @p buf, whose request asked for DNSIO_RECV_NAME octets of name
 * and DNSIO_RECV_CONTROL of control. Checks every length the kernel wrote
 * against the buffer. @return 0, or RS_EINVAL for a malformed buffer. */
int dnsio_recv_parse(uint8_t *buf, size_t len, struct dnsio_recv *out);

/** Is io_uring usable here for the UDP workers (the features they need:
 * single issuer, deferred task work, a provided-buffer ring, multishot
 * recvmsg)? Sets up and tears down a small ring. @return 0, or the negative
 * errno of what was refused (-ENOSYS: no io_uring or seccomp; -EPERM:
 * kernel.io_uring_disabled; -EINVAL: too old a kernel). -ENOTSUP when
 * rosterd was built without liburing. */
int dnsio_uring_probe(void);

/** Set up worker @p w's ring: a multishot recvmsg on each UDP socket and a
 * poll on the stop eventfd. @return 0, or a negative errno. */
int dnsio_uring_new(struct dns_worker *w);

/** Worker @p w's loop on its ring, until the stop eventfd is written. */
void dnsio_uring_run(struct dns_worker *w);

/** Free worker @p w's ring (NULL-safe on w->uring). */
void dnsio_uring_free(struct dns_worker *w);
