#include "server/dns/dnsio.h"

#include "server/dns/dnsio_internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/addr.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "common/procstat.h"
#include "common/rseq.h"
#include "server/dns/cookie.h"
#include "server/dns/dnswire.h"
#include "server/dns/refusal.h"
#include "server/dns/xfr.h"
#include "server/dns/xfr_publish.h"
#include "server/dns/xfr_zone.h"
#include "server/net/acl.h"
#include "server/net/tcp.h"
#include "server/registry/store.h"

/* Batches per readable callback: bounded so timers and TCP get their turn. */
#define UDP_ROUNDS 8
/* A worker's epoll data for stop_fd; a UDP socket's is its index in io->udp. */
#define WORKER_STOP UINT32_MAX

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

static void workers_stop(struct dnsio *io)
{
	if (io->stop_fd >= 0) {
		uint64_t one = 1;
		(void)!write(io->stop_fd, &one, sizeof(one));
	}
	for (size_t i = 0; i < io->nworkers; i++) {
		if (io->workers[i]->started) {
			pthread_join(io->workers[i]->thread, NULL);
			io->workers[i]->started = false;
		}
	}
	if (io->lock_init) {
		/* No reader is left: the store and the zone change unlocked again
		 * (the store outlives us: the API commits what is pending). */
		store_set_lock(io->store, NULL);
		if (io->zone != NULL) {
			xfr_zone_set_lock(io->zone, NULL);
		}
	}
}

/* The sockets that only worker @p w reads (SO_REUSEPORT), closed when it
 * exits: the kernel then spreads their flows over the other workers'
 * sockets, so a worker that stopped on an error loses no queries. Its ring
 * goes first (a pending receive holds a reference to each socket). */
static void worker_socks_close(struct dns_worker *w)
{
	dnsio_uring_free(w);
	if (!w->io->reuseport) {
		return;
	}
	for (size_t k = 0; k < w->io->nudp; k++) {
		struct udp_sock *us = dnsio_worker_sock(w, k);
		if (us->fd >= 0) {
			close(us->fd);
			us->fd = -1;
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
		for (size_t k = 0; k < w->nsock; k++) {
			if (w->sock[k].fd >= 0) {
				close(w->sock[k].fd);
			}
		}
		dnsio_uring_free(w);
		answer_free(w->answer);
		free(w);
	}
	free(io->workers);
	for (size_t k = 0; io->cfg.threads > 0 && k < io->nudp; k++) {
		if (io->udp[k].s.fd >= 0) {
			close(io->udp[k].s.fd); /* the workers' (no poll handle) */
		}
	}
	if (io->stop_fd >= 0) {
		close(io->stop_fd);
	}
	rs_lockset_destroy(&io->lock);
	report_log_close(&io->report);
	rrl_free(io->rrl);
	refusal_deinit(&io->refusals);
	answer_free(io->answer);
	xfr_zone_free(io->zone);
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

/* ---- UDP ---------------------------------------------------------------- */

static void udp_close_cb(uv_handle_t *h)
{
	struct dns_udp *u = h->data;
	close(u->s.fd);
	u->s.fd = -1;
	handle_closed(u->io);
}

static bool addr_is_wildcard(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6) {
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	}
	return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
}

/* Open and bind a UDP socket to listen address @p sa; with @p reuseport,
 * one of a group that shares it (SO_REUSEPORT). */
/* How long a UDP address in use is waited for at start: the kernel lets go
 * of the sockets of a process's io_uring rings only after the process has
 * gone (in a worker of its own: about 35 ms here, after an exit or a
 * kill -9 alike), so a rosterd restarted at once would find its own
 * predecessor's port still bound. A port another server holds is still
 * "address in use", a second later. */
#define BIND_WAIT_MS 1000

static int udp_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	for (int waited = 0;; waited += 10) {
		if (bind(fd, sa, len) == 0) {
			return 0;
		}
		if (errno != EADDRINUSE || waited >= BIND_WAIT_MS) {
			return -errno;
		}
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

/*
 * No path MTU discovery on the answers (RFC 9715 R1; NSD and Knot do the
 * same): a forged ICMP "fragmentation needed" cannot make the kernel cut
 * our answers into fragments an off-path attacker could replace, and IPv4
 * answers go without DF. IP_PMTUDISC_OMIT is Linux 3.15; before it, _DONT.
 * Answers are at most --udp-max octets (1232 unless raised), which fits
 * IPv6's minimum MTU. Best effort: a socket without it still answers.
 */
static void udp_pmtu_off(int fd, int family)
{
	int level = family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
	int name = family == AF_INET6 ? IPV6_MTU_DISCOVER : IP_MTU_DISCOVER;
	int omit = family == AF_INET6 ? IPV6_PMTUDISC_OMIT : IP_PMTUDISC_OMIT;
	int dont = family == AF_INET6 ? IPV6_PMTUDISC_DONT : IP_PMTUDISC_DONT;
	if (setsockopt(fd, level, name, &omit, sizeof(omit)) != 0) {
		(void)setsockopt(fd, level, name, &dont, sizeof(dont));
	}
}

static int udp_socket_open(const struct sockaddr *sa, bool reuseport, struct udp_sock *us)
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
		 * no v4-mapped traffic arrives here; dnsio_reply_cmsg() would handle
		 * it anyway. */
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	udp_pmtu_off(fd, sa->sa_family);
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
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						  : sizeof(struct sockaddr_in);
	int rc = udp_bind(fd, sa, len);
	if (rc != 0) {
		close(fd);
		return rc;
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
		struct dnsio *io, uint64_t now, struct dnsio_counters *ctr, int *nsend)
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
	uint32_t wall = (uint32_t)time(NULL);
	int k = 0;
	for (int i = 0; i < n; i++) {
		size_t len = b->rmsg[i].msg_len;
		ctr->bytes_in[ANSWER_UDP] += len;
		if (b->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC) {
			continue; /* over 4 KiB: no query of ours is that large */
		}
		size_t rlen = dnsio_udp_answer(io, a, b->rbuf[i], len,
				(const struct sockaddr *)&b->raddr[i], now, wall, b->sbuf[k], ctr);
		if (rlen == 0) {
			continue;
		}
		ctr->bytes_out[ANSWER_UDP] += rlen;
		b->siov[k] = (struct iovec){b->sbuf[k], rlen};
		b->smsg[k].msg_hdr = (struct msghdr){
				.msg_name = &b->raddr[i],
				.msg_namelen = b->rmsg[i].msg_hdr.msg_namelen,
				.msg_iov = &b->siov[k],
				.msg_iovlen = 1,
		};
		if (us->pktinfo) {
			size_t cl = dnsio_reply_cmsg(&b->rmsg[i].msg_hdr);
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

/* Count a sent batch of @p k answers begun at @p t0 (ns); returns the clock
 * now, or @p t0 when nothing was answered (no read at all then). */
static uint64_t udp_answer_timed(struct dnsio_counters *ctr, uint64_t t0, int k)
{
	if (k <= 0) {
		return t0;
	}
	uint64_t t1 = rs_clock_mono_ns();
	rs_hist_observe(&ctr->udp_answer_time, t1 - t0, (uint64_t)k);
	return t1;
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
	/* Answer time: one clock read per batch answered (its end is the next
	 * batch's start), shared by the batch's queries. */
	uint64_t t0 = rs_clock_mono_ns();
	for (int round = 0; round < UDP_ROUNDS; round++) {
		int k;
		int n = udp_batch_answer(&io->batch, &u->s, io->answer, io, now, &io->counters, &k);
		udp_batch_send(&io->batch, u->s.fd, k, &io->counters);
		t0 = udp_answer_timed(&io->counters, t0, k);
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
		rs_lockset_read_lock(&io->lock, w->slot);
		if (io->stopping) {
			rs_lockset_read_unlock(&io->lock, w->slot);
			return;
		}
		answer_store_set(w->answer, io->store, store_reloads(io->store));
		uint64_t t0 = rs_clock_mono_ns();
		int n = udp_batch_answer(
				&w->batch, us, w->answer, io, t0 / 1000000u, &w->counters, &k);
		rs_lockset_read_unlock(&io->lock, w->slot);
		/* Responses are plain bytes now: send without holding the lock. */
		udp_batch_send(&w->batch, us->fd, k, &w->counters);
		udp_answer_timed(&w->counters, t0, k);
		if (n < UDP_BATCH) {
			return;
		}
	}
}

/* The recvmmsg path's loop, until stop_fd is written or epoll fails. */
static void worker_epoll_run(struct dns_worker *w)
{
	struct epoll_event ev[DNSIO_LISTEN_MAX + 1];
	for (;;) {
		int n = epoll_wait(w->epfd, ev, DNSIO_LISTEN_MAX + 1, -1);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			rs_log_error("dns: worker: epoll_wait: %s; it stops", strerror(errno));
			return;
		}
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u32 == WORKER_STOP) {
				return;
			}
		}
		for (int i = 0; i < n; i++) {
			worker_serve(w, dnsio_worker_sock(w, ev[i].data.u32));
		}
	}
}

static void *worker_main(void *arg)
{
	struct dns_worker *w = arg;
	/* A worker sleeps and wakes about once per two queries at moderate
	 * rates; each wake-up would pay the kernel's update of glibc's rseq
	 * area (common/rseq.h): 2-4 % of the worker's CPU at 30,000 qps. */
	int rc = rs_rseq_unregister();
	if (rc < 0) {
		rs_log_debug("dns: a worker keeps its rseq registration: %s", strerror(-rc));
	}
	if (w->uring != NULL) {
		dnsio_uring_run(w);
	} else {
		worker_epoll_run(w);
	}
	worker_socks_close(w);
	return NULL;
}

/* Worker @p w's epoll set (the recvmmsg path). */
static int worker_epoll(struct dnsio *io, struct dns_worker *w)
{
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0) {
		return -errno;
	}
	for (size_t k = 0; k < io->nudp; k++) {
		struct epoll_event ev = {EPOLLIN | EPOLLEXCLUSIVE, {.u32 = (uint32_t)k}};
		/* Kernels before 4.5 ignore the flag: every worker wakes, and
		 * they still work. */
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, dnsio_worker_sock(w, k)->fd, &ev) != 0) {
			return -errno;
		}
	}
	/* Not exclusive: every worker must see it. */
	struct epoll_event stop = {EPOLLIN, {.u32 = WORKER_STOP}};
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, io->stop_fd, &stop) != 0) {
		return -errno;
	}
	return 0;
}

/* Worker @p w's own sockets (with io->reuseport), bound where io->udp's
 * are (a port 0 of the configuration is the one the kernel chose). */
static int worker_socks_open(struct dnsio *io, struct dns_worker *w)
{
	for (size_t k = 0; k < io->nudp; k++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		if (getsockname(io->udp[k].s.fd, (struct sockaddr *)&ss, &len) != 0) {
			return -errno;
		}
		int rc = udp_socket_open((const struct sockaddr *)&ss, true, &w->sock[k]);
		if (rc < 0) {
			return rc;
		}
		w->nsock++;
	}
	return 0;
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
		w->slot = io->nworkers;
		io->workers[io->nworkers++] = w;
		w->io = io;
		w->epfd = -1;
		int rc = i > 0 && io->reuseport ? worker_socks_open(io, w) : 0;
		if (rc == 0) {
			rc = answer_new(&io->acfg, io->store, &io->report, &w->answer);
		}
		if (rc == 0) {
			rc = io->io_used == DNSIO_IO_URING ? dnsio_uring_new(w)
							   : worker_epoll(io, w);
		}
		if (rc < 0) {
			return rc;
		}
	}
	/* Every worker is ready before one runs: a worker that stops at once
	 * (its wait failed) closes its sockets, and worker 0's are the ones the
	 * others' are bound beside (worker_socks_open()). */
	for (size_t i = 0; i < count; i++) {
		struct dns_worker *w = io->workers[i];
		int rc = pthread_create(&w->thread, NULL, worker_main, w);
		if (rc != 0) {
			return -rc;
		}
		w->started = true;
	}
	return 0;
}

/* Is @p sa free? With SO_REUSEPORT, a second rosterd (or anything of the
 * same user) could join our group and take a share of the queries
 * silently; a plain bind first makes "address in use" the answer, as
 * without workers. */
static int udp_probe(const struct sockaddr *sa)
{
	struct udp_sock probe;
	int rc = udp_socket_open(sa, false, &probe);
	if (rc == 0) {
		close(probe.fd);
	}
	return rc;
}

static int udp_open(struct dnsio *io, const struct sockaddr *sa, struct dns_udp *u)
{
	int rc = io->reuseport ? udp_probe(sa) : 0;
	if (rc == 0) {
		rc = udp_socket_open(sa, io->reuseport, &u->s);
	}
	if (rc < 0) {
		return rc;
	}
	u->io = io;
	if (io->cfg.threads > 0) {
		io->nudp++;
		return 0; /* the workers read it; io_free() closes it */
	}
	rc = uv_poll_init_socket(io->loop, &u->poll, u->s.fd);
	if (rc < 0) {
		close(u->s.fd);
		return rc;
	}
	u->poll.data = u;
	io->handles++;
	io->nudp++;
	return uv_poll_start(&u->poll, UV_READABLE, udp_readable_cb);
}

/* The TCP server has closed (dnsio_tcp_open()). */
static void tcp_stopped(void *user)
{
	struct dnsio *io = user;
	io->tcp = NULL;
	handle_closed(io);
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
	refusal_init(&io->refusals);
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
	int rc = 0;
	if (io->acfg.nxfr_allow > 0) {
		rc = xfr_zone_new(&io->acfg, io->store,
				cfg->xfr_journal_max ? cfg->xfr_journal_max
						     : XFR_JOURNAL_MAX_DEFAULT,
				rs_clock_wall_ms(), cfg->xfr_hold_ms, &io->zone);
	}
	if (io->zone != NULL) {
		io->acfg.published = xfr_zone_published(io->zone);
		io->acfg.ixfr_udp = xfr_ixfr_udp;
		io->acfg.ixfr_udp_ud = io->zone;
	}
	if (rc == 0) {
		rc = answer_new(&io->acfg, io->store, &io->report, &io->answer);
	}
	if (rc == 0 && cfg->rrl.rate > 0) {
		rc = rrl_new(&cfg->rrl, &io->rrl);
	}
	if (rc < 0) {
		answer_free(io->answer);
		xfr_zone_free(io->zone);
		explicit_bzero(&io->cookie_secrets, sizeof(io->cookie_secrets));
		snprintf(err, errsz, "dns: cannot serve zone %s: %s", cfg->answer.zone,
				rs_strerror(rc));
		free(io);
		return rc;
	}
	*out = io;
	return 0;
}

/* What the workers read and send with (--dns-io), chosen once and logged:
 * io_uring when asked or allowed and the kernel takes it, else recvmmsg. */
static int io_choose(struct dnsio *io, char *err, size_t errsz)
{
	io->io_used = DNSIO_IO_MMSG;
	if (io->cfg.io == DNSIO_IO_MMSG) {
		return 0;
	}
	int rc = dnsio_uring_probe();
	if (rc == 0) {
		io->io_used = DNSIO_IO_URING;
		return 0;
	}
	if (io->cfg.io == DNSIO_IO_URING) {
		snprintf(err, errsz, "dns: --dns-io uring: io_uring refused: %s",
				rc == -ENOTSUP ? "rosterd was built without liburing"
					       : strerror(-rc));
		return rc;
	}
	rs_log_notice("dns: io_uring refused (%s): the UDP workers use recvmmsg/sendmmsg",
			rc == -ENOTSUP ? "built without liburing" : strerror(-rc));
	return 0;
}

/* The store lock for worker threads, the report log, the sockets, the
 * workers. On failure the caller stops @p io. */
static int io_open(struct dnsio *io, char *err, size_t errsz)
{
	const struct dnsio_config *cfg = &io->cfg;
	int rc;
	io->reuseport = cfg->threads > 1;
	if (cfg->threads > 0) {
		/* A reader slot per worker: a batch writes no cache line another
		 * worker writes (common/lockset.h). */
		rc = rs_lockset_init(&io->lock, cfg->threads);
		if (rc < 0) {
			snprintf(err, errsz, "dns: out of memory");
			return rc;
		}
		io->lock_init = true;
		/* Each change to what the workers read takes the write side for
		 * its own duration only: the main thread never holds it while it
		 * waits, answers TCP or commits. */
		store_set_lock(io->store, &io->lock);
		if (io->zone != NULL) {
			xfr_zone_set_lock(io->zone, &io->lock);
		}
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
	rc = dnsio_tcp_open(
			io, tcp_stopped, err, errsz); /* it logs each address, UDP's bound before */
	if (rc < 0) {
		return rc;
	}
	if (io->zone != NULL) {
		uint32_t iv = cfg->xfr_interval_ms ? cfg->xfr_interval_ms
						   : XFR_PUBLISH_INTERVAL_DEFAULT_MS;
		rc = xfr_publish_start(io->loop, io->zone, iv, cfg->xfr_hold_ms, cfg->on_version,
				cfg->on_version_ud, &io->publish);
		if (rc < 0) {
			snprintf(err, errsz, "dns: cannot publish the zone: %s", rs_strerror(rc));
			return rc;
		}
	}
	if (cfg->threads > 0) {
		rc = io_choose(io, err, errsz);
		if (rc < 0) {
			return rc;
		}
		rc = workers_start(io, cfg->threads);
		if (rc < 0) {
			snprintf(err, errsz, "dns: cannot start %u worker threads (%s): %s",
					cfg->threads, dnsio_io_name(io->io_used), rs_strerror(rc));
			return rc;
		}
		rs_log_info("dns: %u UDP worker threads on %s", cfg->threads,
				io->io_used == DNSIO_IO_URING ? "io_uring" : "recvmmsg/sendmmsg");
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
	io->limits = *lim;
	report_limits_set(&io->report, lim->report_rate, lim->report_log_max);
	if (io->tcp != NULL) {
		struct net_tcp_limits tl = dnsio_tcp_limits(lim);
		net_tcp_limits_set(io->tcp, &tl);
	}
}

enum dnsio_io dnsio_io_used(const struct dnsio *io)
{
	return io->nworkers > 0 ? io->io_used : DNSIO_IO_AUTO;
}

const char *dnsio_io_name(enum dnsio_io v)
{
	switch (v) {
	case DNSIO_IO_AUTO:
		return "auto";
	case DNSIO_IO_URING:
		return "uring";
	case DNSIO_IO_MMSG:
		return "mmsg";
	}
	return "?";
}

void dnsio_stop(struct dnsio *io)
{
	if (io == NULL || io->stopping) {
		return;
	}
	if (io->lock_init) {
		rs_lockset_write_lock(&io->lock); /* the workers read it under the lock */
		io->stopping = true;
		rs_lockset_write_unlock(&io->lock);
	} else {
		io->stopping = true;
	}
	io->handles++; /* held while stopping: a close callback may run inside net_tcp_stop() */
	workers_stop(io);
	xfr_publish_stop(io->publish);
	io->publish = NULL;
	for (size_t i = 0; io->cfg.threads == 0 && i < io->nudp; i++) {
		uv_poll_stop(&io->udp[i].poll);
		uv_close((uv_handle_t *)&io->udp[i].poll, udp_close_cb);
	}
	net_tcp_stop(io->tcp);
	handle_closed(io);
}

/* The inode of socket @p fd; 0 when it is not open. */
static uint64_t fd_inode(int fd)
{
	struct stat st;
	return fd >= 0 && fstat(fd, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* A worker's fd goes -1 when it stops (its thread closes it). */
uint64_t dnsio_udp_receive_drops(struct dnsio *io)
{
	/* io->udp's and up to 64 workers' (config.c's bound on --dns-threads). */
	uint64_t inodes[DNSIO_LISTEN_MAX * 65];
	size_t n = 0;
	for (size_t i = 0; i < io->nudp; i++) {
		inodes[n++] = fd_inode(__atomic_load_n(&io->udp[i].s.fd, __ATOMIC_ACQUIRE));
	}
	for (size_t w = 0; w < io->nworkers; w++) {
		const struct dns_worker *wk = io->workers[w];
		for (size_t k = 0; k < wk->nsock && n < sizeof(inodes) / sizeof(inodes[0]); k++) {
			inodes[n++] = fd_inode(__atomic_load_n(&wk->sock[k].fd, __ATOMIC_ACQUIRE));
		}
	}
	uint64_t drops = 0;
	if (rs_procstat_udp_drops(inodes, n, &drops) == 0 && drops > io->udp_drops_seen) {
		io->udp_drops_seen = drops;
	}
	return io->udp_drops_seen;
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
		out->rrl_dropped += w->rrl_dropped;
		out->rrl_slipped += w->rrl_slipped;
		rs_hist_add(&out->udp_answer_time, &w->udp_answer_time);
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
	for (int t = 0; t < ANSWER_XFR_TYPES; t++) {
		to->transfer_bytes[t] += c->transfer_bytes[t];
	}
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

void dnsio_zone_counters(const struct dnsio *io, struct xfr_zone_counters *out)
{
	memset(out, 0, sizeof(*out));
	if (io != NULL && io->zone != NULL) {
		*out = *xfr_zone_counters_get(io->zone);
	}
}

uint32_t dnsio_zone_serial(const struct dnsio *io)
{
	return io != NULL && io->zone != NULL ? xfr_zone_serial(io->zone) : 0;
}
