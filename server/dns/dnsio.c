#include "server/dns/dnsio.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/addr.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "server/dns/cookie.h"
#include "server/dns/dnswire.h"
#include "server/dns/xfr.h"
#include "server/net/tcp.h"
#include "server/registry/store.h"

#define UDP_BATCH 32
#define UDP_QUERY_MAX 4096
#define UDP_OUT_MAX 4096
/* Batches per readable callback: bounded so timers and TCP get their turn. */
#define UDP_ROUNDS 8
/* A worker's epoll data for stop_fd; a UDP socket's is its index in io->udp. */
#define WORKER_STOP UINT32_MAX

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

/* recvmmsg(2) and sendmmsg(2) without glibc's cancellation-point wrapper.
 * Once the process has a second thread (the LMDB writer, the DNS workers),
 * glibc wraps every cancellable call in __pthread_enable_asynccancel() and
 * __pthread_disable_asynccancel(): about 90 instructions per batch, a few
 * percent of a small query's cost. rosterd never cancels a thread, so the
 * plain system call is the same call without that cost. Both sockets are
 * non-blocking: nothing here can wait. */
static int udp_recvmmsg(int fd, struct mmsghdr *v, unsigned n)
{
	return (int)syscall(SYS_recvmmsg, fd, v, n, MSG_DONTWAIT, NULL);
}

static int udp_sendmmsg(int fd, struct mmsghdr *v, unsigned n)
{
	return (int)syscall(SYS_sendmmsg, fd, v, n, MSG_DONTWAIT);
}

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
};

/* Transfer scratch kept between transfers; a larger one is freed. */
#define XFR_KEEP (1u << 20)

static void workers_stop(struct dnsio *io)
{
	if (io->stop_fd >= 0) {
		uint64_t one = 1;
		(void)!write(io->stop_fd, &one, sizeof(one));
	}
	if (io->locked) {
		io->locked = false;
		pthread_rwlock_unlock(&io->lock);
	}
	for (size_t i = 0; i < io->nworkers; i++) {
		if (io->workers[i]->started) {
			pthread_join(io->workers[i]->thread, NULL);
			io->workers[i]->started = false;
		}
	}
}

static void io_free(struct dnsio *io)
{
	workers_stop(io);
	for (size_t i = 0; i < io->nworkers; i++) {
		struct dns_worker *w = io->workers[i];
		if (w->epfd >= 0) {
			close(w->epfd);
		}
		answer_free(w->answer);
		free(w);
	}
	free(io->workers);
	if (io->stop_fd >= 0) {
		close(io->stop_fd);
	}
	if (io->lock_init) {
		pthread_rwlock_destroy(&io->lock);
	}
	report_log_close(&io->report);
	answer_free(io->answer);
	rs_buf_deinit(&io->xbuf);
	explicit_bzero(&io->cookie_secrets, sizeof(io->cookie_secrets));
	free(io);
}

static void handle_closed(struct dnsio *io)
{
	if (--io->handles == 0 && io->stopping) {
		io_free(io);
	}
}

/* Follow what may change under us between batches: the store's content
 * (reloaded in place after a failed commit) and the limits SIGHUP reloads. */
static void dnsio_refresh(struct dnsio *io)
{
	answer_store_set(io->answer, io->store, store_reloads(io->store));
	io->report.rate = io->limits.report_rate;
	rs_linelog_set_max(&io->report.log, io->limits.report_log_max);
}

/* ---- UDP ---------------------------------------------------------------- */

static void udp_close_cb(uv_handle_t *h)
{
	struct dns_udp *u = h->data;
	close(u->s.fd);
	u->s.fd = -1;
	handle_closed(u->io);
}

/* The control message to send a reply to query @p m with: the query's
 * IP_PKTINFO or IPV6_PKTINFO as received. For IPv4 the kernel takes the
 * source from ipi_spec_dst, which it set to the query's destination (a local
 * unicast address; a local address of the interface for a broadcast), and
 * ignores ipi_addr; for IPv6 ipi6_addr is the destination, also a v4-mapped
 * one on a dual-stack socket, which the kernel's IPv4 path accepts. The
 * interface index is cleared (except for an IPv6 link-local destination,
 * which needs it): kept, it would force the reply out of the interface the
 * query came in on, past the routing table, and asymmetric routing (anycast,
 * several uplinks) would lose it. Returns the length, 0 when there is none. */
static size_t udp_reply_cmsg(struct msghdr *m)
{
	if (m->msg_controllen < sizeof(struct cmsghdr) || (m->msg_flags & MSG_CTRUNC)) {
		return 0;
	}
	struct cmsghdr *c = CMSG_FIRSTHDR(m);
	if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
			c->cmsg_len == CMSG_LEN(sizeof(struct in_pktinfo))) {
		struct in_pktinfo pi;
		memcpy(&pi, CMSG_DATA(c), sizeof(pi));
		pi.ipi_ifindex = 0;
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(struct in_pktinfo));
	}
	if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
			c->cmsg_len == CMSG_LEN(sizeof(struct in6_pktinfo))) {
		struct in6_pktinfo pi;
		memcpy(&pi, CMSG_DATA(c), sizeof(pi));
		if (!IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr)) {
			pi.ipi6_ifindex = 0;
			memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		}
		return CMSG_SPACE(sizeof(struct in6_pktinfo));
	}
	return 0;
}

static bool addr_is_wildcard(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6) {
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	}
	return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
}

/* Open and bind the UDP socket of listen address @p sa. */
static int udp_socket_open(const struct sockaddr *sa, struct udp_sock *us)
{
	int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	/* No SO_REUSEADDR: on UDP it would let a second server bind the same
	 * port silently and steal its queries; "address in use" is the answer. */
	int one = 1;
	if (sa->sa_family == AF_INET6) {
		/* IPv4 has sockets of its own (--dns 0.0.0.0:53 beside [::]:53), so
		 * no v4-mapped traffic arrives here; udp_reply_cmsg() would handle
		 * it anyway. */
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	us->pktinfo = addr_is_wildcard(sa);
	if (us->pktinfo) {
		int rc = sa->sa_family == AF_INET6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO,
								     &one, sizeof(one))
						   : setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one,
								     sizeof(one));
		if (rc != 0) {
			int e = -errno;
			close(fd);
			return e;
		}
	}
	/* A burst of queries should wait in the socket, not be dropped. */
	int rcv = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						  : sizeof(struct sockaddr_in);
	if (bind(fd, sa, len) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	us->fd = fd;
	return 0;
}

/*
 * Read one batch from @p fd and answer it into @p b; returns the number of
 * datagrams read (0 when drained) and sets *@p nsend. The caller holds
 * whatever the engine needs (the store lock with workers).
 */
static int udp_batch_answer(struct udp_batch *b, const struct udp_sock *us, struct answer *a,
		struct report *rep, uint64_t now, struct dnsio_counters *ctr, int *nsend)
{
	*nsend = 0;
	if (b->armed != us) {
		for (int i = 0; i < UDP_BATCH; i++) {
			b->riov[i] = (struct iovec){b->rbuf[i], UDP_QUERY_MAX};
			b->rmsg[i].msg_hdr = (struct msghdr){
					.msg_name = &b->raddr[i],
					.msg_iov = &b->riov[i],
					.msg_iovlen = 1,
					.msg_control = us->pktinfo ? b->rctl[i].buf : NULL,
			};
		}
		b->armed = us;
		b->used = UDP_BATCH;
	}
	for (int i = 0; i < b->used; i++) {
		b->rmsg[i].msg_hdr.msg_namelen = sizeof(b->raddr[i]);
		b->rmsg[i].msg_hdr.msg_controllen = us->pktinfo ? sizeof(b->rctl[i].buf) : 0;
	}
	int n = udp_recvmmsg(us->fd, b->rmsg, UDP_BATCH);
	b->used = n > 0 ? n : 1; /* after a failure, reset the first anyway */
	if (n <= 0) {
		return 0; /* EAGAIN: drained; other errors (ICMP-induced) too */
	}
	struct answer_client c = {ANSWER_UDP, NULL, 0, (uint32_t)time(NULL)};
	int k = 0;
	for (int i = 0; i < n; i++) {
		size_t len = b->rmsg[i].msg_len;
		ctr->bytes_in[ANSWER_UDP] += len;
		if (b->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC) {
			continue; /* over 4 KiB: no query of ours is that large */
		}
		c.addr = (const struct sockaddr *)&b->raddr[i];
		struct answer_result res;
		answer_process(a, b->rbuf[i], len, &c, now, b->sbuf[k], UDP_OUT_MAX, &res);
		if (res.report) {
			report_log_write(rep, &res.fields, c.addr, rs_clock_wall_ms());
		}
		if (res.action != ANSWER_SEND) {
			continue;
		}
		ctr->bytes_out[ANSWER_UDP] += res.len;
		b->siov[k] = (struct iovec){b->sbuf[k], res.len};
		b->smsg[k].msg_hdr = (struct msghdr){
				.msg_name = &b->raddr[i],
				.msg_namelen = b->rmsg[i].msg_hdr.msg_namelen,
				.msg_iov = &b->siov[k],
				.msg_iovlen = 1,
		};
		if (us->pktinfo) {
			size_t cl = udp_reply_cmsg(&b->rmsg[i].msg_hdr);
			b->smsg[k].msg_hdr.msg_control = cl ? b->rctl[i].buf : NULL;
			b->smsg[k].msg_hdr.msg_controllen = cl;
		}
		k++;
	}
	*nsend = k;
	return n;
}

/* Send a batch's responses: one sendmmsg for all, as far as it goes. */
static void udp_batch_send(struct udp_batch *b, int fd, int k, struct dnsio_counters *ctr)
{
	for (int sent = 0; sent < k;) {
		int m = udp_sendmmsg(fd, b->smsg + sent, (unsigned)(k - sent));
		if (m <= 0) {
			/* Skip the one that failed (e.g. unreachable) and go on. */
			ctr->udp_send_dropped++;
			sent++;
			continue;
		}
		sent += m;
	}
}

static void udp_readable_cb(uv_poll_t *h, int status, int events)
{
	struct dns_udp *u = h->data;
	struct dnsio *io = u->io;
	(void)events;
	if (status < 0) {
		return; /* a transient poll error: the next readiness retries */
	}
	uint64_t now = uv_now(io->loop);
	dnsio_refresh(io);
	for (int round = 0; round < UDP_ROUNDS; round++) {
		int k;
		int n = udp_batch_answer(
				&io->batch, &u->s, io->answer, &io->report, now, &io->counters, &k);
		udp_batch_send(&io->batch, u->s.fd, k, &io->counters);
		if (n < UDP_BATCH) {
			return;
		}
	}
}

static void worker_serve(struct dns_worker *w, const struct udp_sock *us)
{
	struct dnsio *io = w->io;
	for (int round = 0; round < UDP_ROUNDS; round++) {
		int k;
		pthread_rwlock_rdlock(&io->lock);
		if (io->stopping) {
			pthread_rwlock_unlock(&io->lock);
			return;
		}
		answer_store_set(w->answer, io->store, store_reloads(io->store));
		int n = udp_batch_answer(&w->batch, us, w->answer, &io->report, rs_clock_mono_ms(),
				&w->counters, &k);
		pthread_rwlock_unlock(&io->lock);
		/* Responses are plain bytes now: send without holding the lock. */
		udp_batch_send(&w->batch, us->fd, k, &w->counters);
		if (n < UDP_BATCH) {
			return;
		}
	}
}

static void *worker_main(void *arg)
{
	struct dns_worker *w = arg;
	struct dnsio *io = w->io;
	struct epoll_event ev[DNSIO_LISTEN_MAX + 1];
	for (;;) {
		int n = epoll_wait(w->epfd, ev, DNSIO_LISTEN_MAX + 1, -1);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			break;
		}
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u32 == WORKER_STOP) {
				return NULL;
			}
		}
		for (int i = 0; i < n; i++) {
			worker_serve(w, &io->udp[ev[i].data.u32].s);
		}
	}
	return NULL;
}

static int workers_start(struct dnsio *io, size_t count)
{
	io->workers = calloc(count, sizeof(*io->workers));
	if (io->workers == NULL) {
		return RS_ENOMEM;
	}
	for (size_t i = 0; i < count; i++) {
		struct dns_worker *w = calloc(1, sizeof(*w));
		if (w == NULL) {
			return RS_ENOMEM;
		}
		io->workers[io->nworkers++] = w;
		w->io = io;
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (w->epfd < 0) {
			return -errno;
		}
		for (size_t k = 0; k < io->nudp; k++) {
			struct epoll_event ev = {EPOLLIN | EPOLLEXCLUSIVE, {.u32 = (uint32_t)k}};
			/* Kernels before 4.5 ignore the flag: every worker wakes,
			 * and they still work. */
			if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, io->udp[k].s.fd, &ev) != 0) {
				return -errno;
			}
		}
		/* Not exclusive: every worker must see it. */
		struct epoll_event stop = {EPOLLIN, {.u32 = WORKER_STOP}};
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, io->stop_fd, &stop) != 0) {
			return -errno;
		}
		int rc = answer_new(&io->acfg, io->store, &io->report, &w->answer);
		if (rc < 0) {
			return rc;
		}
		rc = pthread_create(&w->thread, NULL, worker_main, w);
		if (rc != 0) {
			return -rc;
		}
		w->started = true;
	}
	return 0;
}

static int udp_open(struct dnsio *io, const struct sockaddr *sa, struct dns_udp *u)
{
	int rc = udp_socket_open(sa, &u->s);
	if (rc < 0) {
		return rc;
	}
	rc = uv_poll_init_socket(io->loop, &u->poll, u->s.fd);
	if (rc < 0) {
		close(u->s.fd);
		return rc;
	}
	u->io = io;
	u->poll.data = u;
	io->handles++;
	io->nudp++;
	if (io->cfg.threads > 0) {
		return 0; /* the workers read it */
	}
	return uv_poll_start(&u->poll, UV_READABLE, udp_readable_cb);
}

/* ---- TCP (the connection machine is server/net/tcp.c's) ------------------ */

static void tcp_alloc(struct net_tcp_conn *tc, char **base, size_t *len)
{
	struct dns_conn *c = net_tcp_conn_data(tc);
	*base = (char *)c->rbuf + c->rlen;
	*len = sizeof(c->rbuf) - c->rlen;
}

/* A zone transfer (server/dns/xfr.h): the whole zone is built at once (a
 * snapshot at one serial) and handed to the connection in one send. The
 * DNS listener's overflow policy is PAUSE, so a transfer larger than
 * DNSIO_TCP_OUTQ_MAX is queued whole, never dropped: reading from this
 * connection stops until the queue drains to half, and the transfer must be
 * read within the TCP idle time (docs/dns.md "Zone transfers"). */
static void tcp_transfer(struct dnsio *io, struct net_tcp_conn *tc, const uint8_t *query)
{
	struct xfr_result xr;
	rs_buf_reset(&io->xbuf);
	(void)!xfr_write(io->answer, query, XFR_MSG_MAX, &io->xbuf, &xr); /* SERVFAIL in xbuf */
	io->counters.bytes_out[ANSWER_TCP] += io->xbuf.len;
	(void)net_tcp_conn_send(tc, io->xbuf.data, io->xbuf.len); /* a failure closes it */
	if (io->xbuf.cap > XFR_KEEP) {
		rs_buf_deinit(&io->xbuf);
	}
}

/* Answer every whole query in the buffer, in order (RFC 7766 6.2.1.1:
 * pipelined queries; we answer them in the order received), until the
 * connection's queue is too long (reading paused: the rest waits). */
static void tcp_process(struct net_tcp_conn *tc)
{
	struct dnsio *io = net_tcp_conn_user(tc);
	struct dns_conn *c = net_tcp_conn_data(tc);
	dnsio_refresh(io);
	uint32_t units = io->limits.tcp_idle_ms / 100;
	struct answer_client cl = {ANSWER_TCP, net_tcp_conn_peer(tc),
			(uint16_t)(units > UINT16_MAX ? UINT16_MAX : units), (uint32_t)time(NULL)};
	size_t off = 0;
	bool got = false;
	while (c->rlen - off >= 2 && !net_tcp_conn_closing(tc) && !net_tcp_conn_backlogged(tc)) {
		size_t qlen = dnswire_get16(c->rbuf + off);
		if (qlen < DNSWIRE_HEADER || qlen > DNSIO_TCP_QUERY_MAX) {
			/* RFC 7766 8 and catalogue 2.24: nothing sensible follows. */
			io->counters.tcp_bad_length++;
			net_tcp_conn_close(tc);
			return;
		}
		if (c->rlen - off < 2 + qlen) {
			break;
		}
		struct answer_result res;
		answer_process(io->answer, c->rbuf + off + 2, qlen, &cl, uv_now(io->loop),
				io->tbuf + 2, sizeof(io->tbuf) - 2, &res);
		off += 2 + qlen;
		got = true;
		if (res.report) {
			report_log_write(&io->report, &res.fields, cl.addr, rs_clock_wall_ms());
		}
		if (res.action == ANSWER_TRANSFER) {
			tcp_transfer(io, tc, c->rbuf + off - qlen);
			continue;
		}
		if (res.action != ANSWER_SEND) {
			/* Catalogue 2.1/2.2: garbage or a response closes the connection. */
			net_tcp_conn_close(tc);
			return;
		}
		dnswire_set16(io->tbuf, (uint16_t)res.len);
		io->counters.bytes_out[ANSWER_TCP] += res.len + 2;
		(void)net_tcp_conn_send(tc, io->tbuf, res.len + 2); /* a failure closes it */
	}
	if (off > 0) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	/* The deadline restarts only on a whole query: a client that trickles
	 * bytes or stalls mid-message is closed after the idle time. */
	if (got) {
		net_tcp_conn_frame_done(tc);
	}
}

static void tcp_read(struct net_tcp_conn *tc, const char *data, size_t len)
{
	(void)data; /* it is at rbuf + rlen, where tcp_alloc() put it */
	struct dnsio *io = net_tcp_conn_user(tc);
	struct dns_conn *c = net_tcp_conn_data(tc);
	c->rlen += len;
	io->counters.bytes_in[ANSWER_TCP] += len;
	tcp_process(tc);
}

/* Over a cap: accept and close without a word (NSD tcp-reject-overflow),
 * so ops->refused is NULL. An expired connection closes (ops->expired
 * NULL). After a backpressure pause, the queries read before it. */
static const struct net_tcp_ops dns_tcp_ops = {
		.alloc = tcp_alloc,
		.read = tcp_read,
		.resumed = tcp_process,
};

static struct net_tcp_limits tcp_limits(const struct dnsio_limits *lim)
{
	return (struct net_tcp_limits){.max_conns = lim->tcp_max_conns,
			.max_per_source = lim->tcp_max_per_source,
			.idle_ms = lim->tcp_idle_ms,
			.max_outbuf = DNSIO_TCP_OUTQ_MAX};
}

static void tcp_stopped(void *user)
{
	struct dnsio *io = user;
	io->tcp = NULL;
	handle_closed(io);
}

static int tcp_open(struct dnsio *io, char *err, size_t errsz)
{
	const char *rz = io->cfg.answer.report_zone != NULL ? io->cfg.answer.report_zone : "";
	char note[2 * RS_NAME_TEXT_MAX + 32];
	snprintf(note, sizeof(note), "(udp, tcp) for %s%s%s", io->cfg.answer.zone,
			rz[0] != '\0' ? " and " : "", rz);
	const struct net_tcp_config tc = {
			.name = "dns",
			.note = note,
			.addrs = io->cfg.listen,
			.naddrs = io->cfg.nlisten,
			.backlog = 1024,
			.limits = tcp_limits(&io->limits),
			.overflow = NET_TCP_OVERFLOW_PAUSE,
			.conn_size = sizeof(struct dns_conn),
			.ops = &dns_tcp_ops,
			.user = io,
			.stopped = tcp_stopped,
	};
	int rc = net_tcp_start(io->loop, &tc, &io->tcp, err, errsz);
	if (io->tcp != NULL) {
		io->handles++;
	}
	return rc;
}

/* ---- life cycle ---------------------------------------------------------- */

/* The engine and what it needs: the answer configuration, the cookie
 * secrets, the report state. Nothing is on the loop yet. */
static int io_new(const struct dnsio_context *ctx, struct dnsio **out, char *err, size_t errsz)
{
	const struct dnsio_config *cfg = &ctx->cfg;
	if (cfg->nlisten > DNSIO_LISTEN_MAX || cfg->answer.nns > DNSIO_NS_MAX) {
		snprintf(err, errsz, "dns: at most %d addresses and %d NS names", DNSIO_LISTEN_MAX,
				DNSIO_NS_MAX);
		return RS_EINVAL;
	}
	struct dnsio *io = calloc(1, sizeof(*io));
	if (io == NULL) {
		snprintf(err, errsz, "dns: out of memory");
		return RS_ENOMEM;
	}
	rs_buf_init(&io->xbuf);
	io->loop = ctx->loop;
	io->store = ctx->store;
	io->cfg = *cfg;
	io->limits = cfg->limits;
	io->stop_fd = -1;
	report_init(&io->report, cfg->limits.report_rate);
	io->acfg = cfg->answer;
	for (size_t i = 0; i < cfg->answer.nns; i++) {
		io->ns[i] = cfg->answer.ns[i];
	}
	io->acfg.ns = io->ns;
	io->acfg.cookies = cfg->cookies ? &io->cookie_secrets : NULL;
	if (cfg->cookies) {
		char path[4200];
		if (cfg->cookie_secret[0] != '\0') {
			snprintf(path, sizeof(path), "%s", cfg->cookie_secret);
		} else {
			snprintf(path, sizeof(path), "%s/dns-cookie-secret", cfg->data_dir);
		}
		int rc = cookie_secrets_load(path, &io->cookie_secrets, err, errsz);
		if (rc < 0) {
			explicit_bzero(&io->cookie_secrets, sizeof(io->cookie_secrets));
			free(io);
			return rc;
		}
	}
	int rc = answer_new(&io->acfg, io->store, &io->report, &io->answer);
	if (rc < 0) {
		explicit_bzero(&io->cookie_secrets, sizeof(io->cookie_secrets));
		snprintf(err, errsz, "dns: cannot serve zone %s: %s", cfg->answer.zone,
				rs_strerror(rc));
		free(io);
		return rc;
	}
	*out = io;
	return 0;
}

/* The store lock for worker threads, the report log, the sockets, the
 * workers. On failure the caller stops @p io. */
static int io_open(struct dnsio *io, char *err, size_t errsz)
{
	const struct dnsio_config *cfg = &io->cfg;
	int rc;
	if (cfg->threads > 0) {
		/* Writers first: a registration must not wait behind a stream of
		 * worker batches. */
		pthread_rwlockattr_t attr;
		pthread_rwlockattr_init(&attr);
		pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&io->lock, &attr);
		pthread_rwlockattr_destroy(&attr);
		io->lock_init = true;
		pthread_rwlock_wrlock(&io->lock);
		io->locked = true;
		io->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (io->stop_fd < 0) {
			rc = -errno;
			snprintf(err, errsz, "dns: eventfd: %s", strerror(-rc));
			return rc;
		}
	}
	const char *rz = cfg->answer.report_zone != NULL ? cfg->answer.report_zone : "";
	if (rz[0] != '\0') {
		rc = report_log_open(&io->report, cfg->data_dir, cfg->limits.report_log_max);
		if (rc < 0) {
			snprintf(err, errsz, "dns: report log in %s: %s", cfg->data_dir,
					strerror(-rc));
			return rc;
		}
	}
	for (size_t i = 0; i < cfg->nlisten; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&cfg->listen[i];
		rc = udp_open(io, sa, &io->udp[io->nudp]);
		if (rc < 0) {
			char text[RS_ADDR_TEXT_MAX];
			rs_endpoint_format(sa, text);
			snprintf(err, errsz, "dns listener %s (udp): %s", text, strerror(-rc));
			return rc;
		}
	}
	rc = tcp_open(io, err, errsz); /* it logs each address, UDP's bound before */
	if (rc < 0) {
		return rc;
	}
	if (cfg->threads > 0) {
		rc = workers_start(io, cfg->threads);
		if (rc < 0) {
			snprintf(err, errsz, "dns: cannot start %u worker threads: %s",
					cfg->threads, rs_strerror(rc));
			return rc;
		}
		rs_log_info("dns: %u UDP worker threads", cfg->threads);
	}
	return 0;
}

int dnsio_start(const struct dnsio_context *ctx, struct dnsio **out, char *err, size_t errsz)
{
	*out = NULL;
	struct dnsio *io;
	int rc = io_new(ctx, &io, err, errsz);
	if (rc < 0) {
		return rc;
	}
	rc = io_open(io, err, errsz);
	if (rc < 0) {
		dnsio_stop(io);
		return rc;
	}
	*out = io;
	return 0;
}

void dnsio_limits_set(struct dnsio *io, const struct dnsio_limits *lim)
{
	if (io == NULL) {
		return;
	}
	io->limits = *lim; /* the report's rate and cap: at the next dnsio_refresh() */
	if (io->tcp != NULL) {
		struct net_tcp_limits tl = tcp_limits(lim);
		net_tcp_limits_set(io->tcp, &tl);
	}
}

bool dnsio_threaded(const struct dnsio *io)
{
	return io != NULL && io->nworkers > 0 && !io->stopping;
}

void dnsio_wait(struct dnsio *io, int fd, int timeout_ms)
{
	dnsio_refresh(io);
	io->locked = false;
	pthread_rwlock_unlock(&io->lock);
	struct pollfd p = {fd, POLLIN, 0};
	(void)poll(&p, 1, timeout_ms);
	pthread_rwlock_wrlock(&io->lock);
	io->locked = true;
}

void dnsio_stop(struct dnsio *io)
{
	if (io == NULL || io->stopping) {
		return;
	}
	io->stopping = true;
	io->handles++; /* held while stopping: a close callback may run inside net_tcp_stop() */
	workers_stop(io);
	for (size_t i = 0; i < io->nudp; i++) {
		uv_poll_stop(&io->udp[i].poll);
		uv_close((uv_handle_t *)&io->udp[i].poll, udp_close_cb);
	}
	net_tcp_stop(io->tcp);
	handle_closed(io);
}

void dnsio_counters_get(const struct dnsio *io, struct dnsio_counters *out)
{
	*out = io->counters;
	if (io->tcp != NULL) {
		const struct net_tcp_counters *t = net_tcp_counters_get(io->tcp);
		out->tcp_connections = t->open;
		out->tcp_accepted = t->accepted - t->rejected - t->denied;
		out->tcp_rejected = t->rejected - t->rejected_source;
		out->tcp_rejected_source = t->rejected_source;
		out->tcp_idle_closed = t->timed_out;
		out->tcp_read_paused = t->paused;
	}
	for (size_t i = 0; i < io->nworkers; i++) {
		const struct dnsio_counters *w = &io->workers[i]->counters;
		out->bytes_in[ANSWER_UDP] += w->bytes_in[ANSWER_UDP];
		out->bytes_out[ANSWER_UDP] += w->bytes_out[ANSWER_UDP];
		out->udp_send_dropped += w->udp_send_dropped;
	}
}

static void answer_counters_add(struct answer_counters *to, const struct answer_counters *c)
{
	for (int t = 0; t < ANSWER_Q_COUNT; t++) {
		to->queries[t][ANSWER_UDP] += c->queries[t][ANSWER_UDP];
		to->queries[t][ANSWER_TCP] += c->queries[t][ANSWER_TCP];
	}
	for (size_t r = 0; r < sizeof(c->responses) / sizeof(c->responses[0]); r++) {
		to->responses[r] += c->responses[r];
	}
	to->dropped += c->dropped;
	to->error_limited += c->error_limited;
	to->truncated += c->truncated;
	to->partial += c->partial;
	to->stale += c->stale;
	to->rebuilds += c->rebuilds;
	for (size_t k = 0; k < sizeof(c->cookies) / sizeof(c->cookies[0]); k++) {
		to->cookies[k] += c->cookies[k];
	}
	for (int t = 0; t < ANSWER_XFR_TYPES; t++) {
		for (int r = 0; r < ANSWER_XFR_RESULTS; r++) {
			to->transfers[t][r] += c->transfers[t][r];
		}
	}
	to->transfer_partial_rrsets += c->transfer_partial_rrsets;
}

void dnsio_answer_counters(const struct dnsio *io, struct answer_counters *out)
{
	memset(out, 0, sizeof(*out));
	answer_counters_add(out, answer_counters_get(io->answer));
	for (size_t i = 0; i < io->nworkers; i++) {
		answer_counters_add(out, answer_counters_get(io->workers[i]->answer));
	}
}

uint64_t dnsio_queries_total(const struct dnsio *io)
{
	if (io == NULL) {
		return 0;
	}
	struct answer_counters c;
	dnsio_answer_counters(io, &c);
	uint64_t n = 0;
	for (int t = 0; t < ANSWER_Q_COUNT; t++) {
		n += c.queries[t][ANSWER_UDP] + c.queries[t][ANSWER_TCP];
	}
	return n;
}

const struct report *dnsio_report(const struct dnsio *io)
{
	return &io->report;
}
