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
 * sockets. It reads the store only under the read side of dnsio's lock.
 * It sleeps in its own epoll set, where the sockets are registered with
 * EPOLLEXCLUSIVE: a datagram arriving while every worker sleeps wakes one
 * of them, not all (with poll() each wake-up of N workers found work for
 * one), and whichever worker runs drains the one queue. */
struct dns_worker {
	pthread_t thread;
	struct dnsio *io;
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
	struct dns_udp udp[DNSIO_LISTEN_MAX];
	size_t nudp;
	struct net_tcp *tcp; /* DNS over TCP (server/net/tcp.h) */
	int handles;         /* open handles (the TCP set is one); the last frees */
	bool stopping;
	/* Worker threads (cfg.dns_threads > 0). The main thread holds the write
	 * side of @c lock whenever it runs, and lets go of it only while it
	 * waits for events (dnsio_wait()), so workers never see the store
	 * change under them. */
	struct dns_worker **workers;
	size_t nworkers;
	pthread_rwlock_t lock;
	bool lock_init;
	bool locked;            /* by the main thread */
	int stop_fd;            /* eventfd: workers exit */
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

/* Transfer scratch kept between transfers; a larger one is freed. */
#define XFR_KEEP (1u << 20)

/* Follow what may change under us between batches: the store's content
 * (reloaded in place after a failed commit) and the limits SIGHUP reloads. */
static inline void dnsio_refresh(struct dnsio *io)
{
	answer_store_set(io->answer, io->store, store_reloads(io->store));
	io->report.rate = io->limits.report_rate;
	rs_linelog_set_max(&io->report.log, io->limits.report_log_max);
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
