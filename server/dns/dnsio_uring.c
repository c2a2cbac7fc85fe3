/*
 * The UDP workers on io_uring (--dns-io, docs/dns.md "UDP I/O"): one ring
 * per worker, a multishot recvmsg per socket filling buffers from a
 * provided-buffer ring, and the replies as send requests submitted with
 * the next wait (a send that succeeds posts no completion). A worker makes
 * one system call (io_uring_enter) per wake-up, against epoll_wait,
 * recvmmsg and sendmmsg on the fallback path.
 * The ring is set up with IORING_SETUP_SINGLE_ISSUER and
 * IORING_SETUP_DEFER_TASKRUN: receives run in the worker's own context
 * when it waits, never as an interrupt of it. Nothing is allocated per
 * query: the buffers and send slots are the worker's, allocated at start.
 */
#include "server/dns/dnsio_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"

int dnsio_recv_parse(uint8_t *buf, size_t len, struct dnsio_recv *out)
{
	const size_t head = sizeof(struct dnsio_recv_out) + DNSIO_RECV_NAME + DNSIO_RECV_CONTROL;
	if (len < head || len > DNSIO_RECV_BUF) {
		return RS_EINVAL;
	}
	struct dnsio_recv_out o;
	memcpy(&o, buf, sizeof(o));
	uint8_t *name = buf + sizeof(o);
	uint8_t *control = name + DNSIO_RECV_NAME;
	uint8_t *payload = control + DNSIO_RECV_CONTROL;
	/* The kernel reports the full lengths; a name or control area cut short
	 * (MSG_CTRUNC) is not trusted. */
	if (o.namelen > DNSIO_RECV_NAME || o.namelen < sizeof(struct sockaddr_in)) {
		return RS_EINVAL;
	}
	memset(out, 0, sizeof(*out));
	out->addr = (const struct sockaddr *)name;
	out->addrlen = (socklen_t)o.namelen;
	if (o.controllen <= DNSIO_RECV_CONTROL && !(o.flags & MSG_CTRUNC) &&
			o.controllen >= sizeof(struct cmsghdr)) {
		out->control = control;
		out->controllen = o.controllen;
	}
	out->payload = payload;
	out->len = o.payloadlen;
	out->truncated = (o.flags & MSG_TRUNC) || o.payloadlen > len - head;
	return 0;
}

#ifndef ROSTER_URING

int dnsio_uring_probe(void)
{
	return -ENOTSUP;
}

int dnsio_uring_new(struct dns_worker *w)
{
	(void)w;
	return -ENOTSUP;
}

void dnsio_uring_run(struct dns_worker *w)
{
	(void)w;
}

void dnsio_uring_free(struct dns_worker *w)
{
	(void)w;
}

#else

#include <liburing.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

_Static_assert(sizeof(struct dnsio_recv_out) == sizeof(struct io_uring_recvmsg_out),
		"the kernel's recvmsg_out");

/* Provided buffers per worker (a power of two): a wake-up finds at most
 * this many datagrams before they are handed back. */
#define RECV_BUFS 128
/* Buffers start 64 octets apart; each is handed to the kernel as
 * DNSIO_RECV_BUF octets, never its padding, so a datagram over the query's
 * room comes back cut and flagged (MSG_TRUNC), not over the parser's bound. */
#define RECV_STRIDE ((DNSIO_RECV_BUF + 63) & ~(size_t)63)
#define RECV_GROUP 0
/* Replies in flight: sends complete as they are submitted (MSG_DONTWAIT:
 * a full socket fails the send, which is counted and dropped, as on the
 * fallback path), so two batches' worth is room to spare. */
#define SEND_SLOTS (2 * UDP_BATCH)
#define RING_SQ (2 * UDP_BATCH)
#define RING_CQ 1024

/* user_data: the kind in the high 32 bits, an index in the low ones. */
enum { TAG_RECV = 1, TAG_SEND = 2, TAG_STOP = 3 };
#define TAG(kind, i) (((uint64_t)(kind) << 32) | (uint32_t)(i))

struct uring_send {
	struct msghdr msg;
	struct iovec iov;
	struct sockaddr_storage addr;
	uint8_t buf[UDP_OUT_MAX];
	/* Last: clang takes CMSG_SPACE() for a variable size (a GNU extension
	 * anywhere but at the end). */
	union udp_cmsg ctl;
};

/* A received datagram waiting in the current batch. */
struct uring_query {
	uint16_t bid;
	uint16_t sock;
	struct dnsio_recv rx;
};

struct dns_uring {
	struct io_uring ring;
	bool ring_init;
	bool fixed; /* the sockets are the ring's registered files 0..nudp-1 */
	struct io_uring_buf_ring *br;
	uint8_t *bufs;      /* RECV_BUFS x RECV_STRIDE */
	struct msghdr tmpl; /* the recvmsg request: the areas' sizes */
	bool rearm[DNSIO_LISTEN_MAX];
	/* Datagrams received and not answered yet, oldest first: a ring as
	 * large as the buffer ring, since each holds a buffer. */
	struct uring_query q[RECV_BUFS];
	unsigned qhead, nq;
	uint16_t free[SEND_SLOTS];
	int nfree;
	/* Slots whose sends are queued and not yet taken by the kernel. */
	uint16_t queued[SEND_SLOTS];
	int nqueued;
	uint8_t scratch[UDP_OUT_MAX]; /* an answer with no slot to go in */
	struct uring_send send[SEND_SLOTS];
};

static int ring_setup(struct io_uring *ring)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	/* Disabled until the worker enables it: a single-issuer ring belongs
	 * to the thread that enables it, not to the one that set it up. */
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE |
		  IORING_SETUP_R_DISABLED;
	p.cq_entries = RING_CQ;
	return io_uring_queue_init_params(RING_SQ, ring, &p);
}

static int bufs_setup(struct dns_uring *u)
{
	size_t size = RECV_BUFS * sizeof(struct io_uring_buf);
	void *br = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (br == MAP_FAILED) {
		return -errno;
	}
	u->br = br;
	struct io_uring_buf_reg reg = {
			.ring_addr = (uint64_t)(uintptr_t)br,
			.ring_entries = RECV_BUFS,
			.bgid = RECV_GROUP,
	};
	int rc = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (rc < 0) {
		return rc;
	}
	io_uring_buf_ring_init(u->br);
	int mask = io_uring_buf_ring_mask(RECV_BUFS);
	for (int i = 0; i < RECV_BUFS; i++) {
		io_uring_buf_ring_add(u->br, u->bufs + (size_t)i * RECV_STRIDE, DNSIO_RECV_BUF,
				(unsigned short)i, mask, i);
	}
	io_uring_buf_ring_advance(u->br, RECV_BUFS);
	return 0;
}

static void uring_release(struct dns_uring *u)
{
	if (u->ring_init) {
		io_uring_queue_exit(&u->ring); /* unregisters the buffer ring */
	}
	if (u->br != NULL) {
		munmap(u->br, RECV_BUFS * sizeof(struct io_uring_buf));
	}
	free(u->bufs);
	free(u);
}

/* A ring and its receive buffers, as a worker uses them. */
static int uring_open(struct dns_uring **out)
{
	struct dns_uring *u = calloc(1, sizeof(*u));
	if (u == NULL) {
		return RS_ENOMEM;
	}
	int rc = ring_setup(&u->ring);
	u->ring_init = rc == 0;
	if (rc == 0) {
		/* Multishot recvmsg came in the same release (6.0) as
		 * SINGLE_ISSUER and before DEFER_TASKRUN (6.1): a ring set up with
		 * both has it. The buffer ring is 5.19. */
		u->bufs = malloc(RECV_BUFS * RECV_STRIDE);
		rc = u->bufs == NULL ? RS_ENOMEM : bufs_setup(u);
	}
	if (rc < 0) {
		uring_release(u);
		return rc;
	}
	*out = u;
	return 0;
}

int dnsio_uring_probe(void)
{
	struct dns_uring *u;
	int rc = uring_open(&u);
	if (rc == 0) {
		uring_release(u);
	}
	return rc;
}

/* After a submission: once the kernel has taken every queued request, the
 * queued sends are done (MSG_DONTWAIT: a send completes as it is issued,
 * never later; only a failure posts a completion, IOSQE_CQE_SKIP_SUCCESS)
 * and their slots free. A submission that left requests behind frees none:
 * a later one that takes them all frees them together. */
static void sends_settle(struct dns_uring *u)
{
	if (io_uring_sq_ready(&u->ring) == 0) {
		while (u->nqueued > 0) {
			u->free[u->nfree++] = u->queued[--u->nqueued];
		}
	}
}

static int sqe_get(struct dns_uring *u, struct io_uring_sqe **out)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	if (sqe == NULL) {
		io_uring_submit(&u->ring); /* full: send what is queued first */
		sends_settle(u);
		sqe = io_uring_get_sqe(&u->ring);
	}
	*out = sqe;
	return sqe != NULL ? 0 : -EBUSY;
}

static int recv_arm(struct dns_uring *u, const struct udp_sock *us, size_t k)
{
	struct io_uring_sqe *sqe;
	int rc = sqe_get(u, &sqe);
	if (rc < 0) {
		return rc;
	}
	io_uring_prep_recvmsg_multishot(sqe, u->fixed ? (int)k : us->fd, &u->tmpl, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT | (u->fixed ? IOSQE_FIXED_FILE : 0);
	sqe->buf_group = RECV_GROUP;
	io_uring_sqe_set_data64(sqe, TAG(TAG_RECV, k));
	u->rearm[k] = false;
	return 0;
}

int dnsio_uring_new(struct dns_worker *w)
{
	struct dns_uring *u;
	int rc = uring_open(&u);
	if (rc < 0) {
		return rc;
	}
	u->tmpl.msg_namelen = DNSIO_RECV_NAME;
	u->tmpl.msg_controllen = DNSIO_RECV_CONTROL;
	for (int i = 0; i < SEND_SLOTS; i++) {
		u->free[u->nfree++] = (uint16_t)(SEND_SLOTS - 1 - i);
		u->send[i].msg.msg_name = &u->send[i].addr;
		u->send[i].msg.msg_iov = &u->send[i].iov;
		u->send[i].msg.msg_iovlen = 1;
		u->send[i].iov.iov_base = u->send[i].buf;
	}
	w->uring = u;
	return 0;
}

void dnsio_uring_free(struct dns_worker *w)
{
	if (w->uring != NULL) {
		uring_release(w->uring);
		w->uring = NULL;
	}
}

/* Queue the reply to query @p q, answered into slot @p s (@p len octets). */
static void send_queue(struct dns_uring *u, const struct udp_sock *us, int s,
		const struct uring_query *q, size_t len, struct dnsio_counters *ctr)
{
	struct uring_send *m = &u->send[s];
	memcpy(&m->addr, q->rx.addr, q->rx.addrlen);
	m->msg.msg_namelen = q->rx.addrlen;
	m->iov.iov_len = len;
	m->msg.msg_control = NULL;
	m->msg.msg_controllen = 0;
	if (us->pktinfo && q->rx.control != NULL) {
		memcpy(m->ctl.buf, q->rx.control, q->rx.controllen);
		m->msg.msg_control = m->ctl.buf;
		m->msg.msg_controllen = q->rx.controllen;
		size_t cl = dnsio_reply_cmsg(&m->msg);
		m->msg.msg_control = cl ? m->ctl.buf : NULL;
		m->msg.msg_controllen = cl;
	}
	struct io_uring_sqe *sqe;
	if (sqe_get(u, &sqe) < 0) {
		ctr->udp_send_dropped++;
		u->free[u->nfree++] = (uint16_t)s;
		return;
	}
	int fd = u->fixed ? (int)q->sock : us->fd;
	if (m->msg.msg_control == NULL) {
		/* A send with an address (Linux 6.1, as the ring's flags): the
		 * kernel copies no msghdr or iovec in. */
		io_uring_prep_send(sqe, fd, m->buf, len, MSG_DONTWAIT);
		io_uring_prep_send_set_addr(
				sqe, (const struct sockaddr *)&m->addr, (uint16_t)q->rx.addrlen);
	} else {
		io_uring_prep_sendmsg(sqe, fd, &m->msg, MSG_DONTWAIT);
	}
	/* A send that succeeds posts no completion: nothing to reap for it. */
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	if (u->fixed) {
		sqe->flags |= IOSQE_FIXED_FILE;
	}
	io_uring_sqe_set_data64(sqe, TAG(TAG_SEND, s));
	u->queued[u->nqueued++] = (uint16_t)s;
}

/* Answer the oldest @p n queries waiting in @p u, queue the replies, hand
 * the buffers back. The store lock is held only while answering. */
static void batch_answer(struct dns_worker *w, struct dns_uring *u, unsigned n)
{
	struct dnsio *io = w->io;
	struct dnsio_counters *ctr = &w->counters;
	uint64_t t0 = rs_clock_mono_ns();
	uint32_t wall = (uint32_t)time(NULL);
	int sent = 0;
	rs_lockset_read_lock(&io->lock, w->slot);
	answer_store_set(w->answer, io->store, store_reloads(io->store));
	for (unsigned i = 0; i < n && !io->stopping; i++) {
		const struct uring_query *q = &u->q[(u->qhead + i) % RECV_BUFS];
		ctr->bytes_in[ANSWER_UDP] += q->rx.len;
		if (q->rx.truncated) {
			continue; /* over 4 KiB: no query of ours is that large */
		}
		int s = u->nfree > 0 ? u->free[--u->nfree] : -1;
		uint8_t *out = s >= 0 ? u->send[s].buf : u->scratch;
		size_t len = dnsio_udp_answer(io, w->answer, q->rx.payload, q->rx.len, q->rx.addr,
				t0 / 1000000u, wall, out, ctr);
		if (len == 0 || s < 0) {
			if (s >= 0) {
				u->free[u->nfree++] = (uint16_t)s;
			} else if (len > 0) {
				ctr->udp_send_dropped++; /* no slot: as a full socket */
			}
			continue;
		}
		ctr->bytes_out[ANSWER_UDP] += len;
		send_queue(u, dnsio_worker_sock(w, q->sock), s, q, len, ctr);
		sent++;
	}
	rs_lockset_read_unlock(&io->lock, w->slot);
	int mask = io_uring_buf_ring_mask(RECV_BUFS);
	for (unsigned i = 0; i < n; i++) {
		uint16_t bid = u->q[(u->qhead + i) % RECV_BUFS].bid;
		io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * RECV_STRIDE, DNSIO_RECV_BUF,
				bid, mask, (int)i);
	}
	io_uring_buf_ring_advance(u->br, (int)n);
	u->qhead = (u->qhead + n) % RECV_BUFS;
	u->nq -= n;
	/* The replies leave with the next io_uring_enter(), at once: the
	 * histogram's end is when they are queued. */
	if (sent > 0) {
		rs_hist_observe(&ctr->udp_answer_time, rs_clock_mono_ns() - t0, (uint64_t)sent);
	}
}

/* One receive completion: a datagram into the batch, or a multishot
 * request that ended (re-armed after the batch). */
static void recv_done(struct dns_uring *u, const struct io_uring_cqe *cqe)
{
	uint32_t k = (uint32_t)cqe->user_data;
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		u->rearm[k] = true; /* e.g. -ENOBUFS: every buffer was in use */
	}
	if (cqe->res < 0 || !(cqe->flags & IORING_CQE_F_BUFFER)) {
		return;
	}
	uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
	/* Never full: each entry holds one of the RECV_BUFS buffers. */
	struct uring_query *q = &u->q[(u->qhead + u->nq) % RECV_BUFS];
	if (u->nq == RECV_BUFS || dnsio_recv_parse(u->bufs + (size_t)bid * RECV_STRIDE,
						  (size_t)cqe->res, &q->rx) < 0) {
		int mask = io_uring_buf_ring_mask(RECV_BUFS);
		io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * RECV_STRIDE, DNSIO_RECV_BUF,
				bid, mask, 0);
		io_uring_buf_ring_advance(u->br, 1);
		return;
	}
	q->bid = bid;
	q->sock = (uint16_t)k;
	u->nq++;
}

/* Take every completion there is: sends free their slots, datagrams join
 * the queue; false when the worker is to stop. */
static bool reap(struct dns_uring *u, struct dnsio_counters *ctr)
{
	struct io_uring_cqe *cqe;
	while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
		uint32_t kind = (uint32_t)(cqe->user_data >> 32);
		if (kind == TAG_STOP) {
			return false;
		}
		if (kind == TAG_SEND) {
			ctr->udp_send_dropped++; /* only a failed send completes */
		} else if (kind == TAG_RECV) {
			recv_done(u, cqe);
		}
		io_uring_cqe_seen(&u->ring, cqe);
	}
	return true;
}

/* Answer what arrived, in batches of UDP_BATCH; false when the worker is
 * to stop. */
static bool drain(struct dns_worker *w, struct dns_uring *u)
{
	if (!reap(u, &w->counters)) {
		return false;
	}
	while (u->nq > 0) {
		batch_answer(w, u, u->nq < UDP_BATCH ? u->nq : UDP_BATCH);
		if (u->nq > 0) {
			/* This batch's replies now: once the kernel has taken
			 * them, their slots are free for the next batch. */
			io_uring_submit(&u->ring);
			sends_settle(u);
			if (!reap(u, &w->counters)) {
				return false;
			}
		}
	}
	for (size_t k = 0; k < w->io->nudp; k++) {
		if (u->rearm[k]) {
			(void)recv_arm(u, dnsio_worker_sock(w, k), k);
		}
	}
	return true;
}

/* The worker's sockets as the ring's registered files, and the ring's own
 * fd registered with the worker's thread: a request then takes no
 * reference on its socket's file, nor io_uring_enter() on the ring's. Both
 * are optional: without them the requests name the fds. The files go
 * through syscall(2), as enabling the ring does, where the tests' fault
 * shim reaches them (liburing's wrappers are system call instructions of
 * their own). */
static void files_register(struct dns_worker *w, struct dns_uring *u)
{
	int fds[DNSIO_LISTEN_MAX];
	size_t n = w->io->nudp < DNSIO_LISTEN_MAX ? w->io->nudp : DNSIO_LISTEN_MAX;
	for (size_t k = 0; k < n; k++) {
		fds[k] = dnsio_worker_sock(w, k)->fd;
	}
	u->fixed = n == w->io->nudp &&
		   syscall(__NR_io_uring_register, u->ring.ring_fd, IORING_REGISTER_FILES, fds,
				   (unsigned)n) == 0;
	(void)io_uring_register_ring_fd(&u->ring);
}

/* On the worker's thread: the ring becomes its own, then a multishot
 * recvmsg on each socket and a poll on the stop eventfd. */
static int uring_arm(struct dns_worker *w, struct dns_uring *u)
{
	struct dnsio *io = w->io;
	/* liburing 2.3 declares io_uring_enable_rings() but does not export it. */
	int rc = (int)syscall(__NR_io_uring_register, u->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS,
			NULL, 0);
	rc = rc < 0 ? -errno : 0;
	if (rc == 0) {
		files_register(w, u);
	}
	for (size_t k = 0; rc == 0 && k < io->nudp; k++) {
		rc = recv_arm(u, dnsio_worker_sock(w, k), k);
	}
	struct io_uring_sqe *sqe = NULL;
	if (rc == 0) {
		rc = sqe_get(u, &sqe);
	}
	if (rc == 0) {
		/* The stop eventfd is written once and never read: it stays
		 * readable, and every worker's poll sees it. */
		io_uring_prep_poll_add(sqe, io->stop_fd, POLLIN);
		io_uring_sqe_set_data64(sqe, TAG(TAG_STOP, 0));
	}
	return rc;
}

/* The worker's loop: answers until it is told to stop or its wait fails. */
static void uring_loop(struct dns_worker *w, struct dns_uring *u)
{
	for (;;) {
		/* Submits the replies queued by the last batch (they are sent
		 * before the call returns) and sleeps until the next datagram. A
		 * receive that could not be re-armed (no submission entry: the
		 * queue was full and io_uring_submit() failed) is retried after
		 * this wait, which must then not wait for a datagram: none would
		 * come, and the worker would sleep while its socket fills. */
		bool armed = true;
		for (size_t k = 0; k < w->io->nudp; k++) {
			armed = armed && !u->rearm[k];
		}
		int rc = io_uring_submit_and_wait(&u->ring, armed ? 1u : 0u);
		sends_settle(u);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY && rc != -ETIME) {
			rs_log_error("dns: io_uring worker: %s; it stops", strerror(-rc));
			return;
		}
		if (!drain(w, u)) {
			return;
		}
	}
}

void dnsio_uring_run(struct dns_worker *w)
{
	struct dns_uring *u = w->uring;
	int arm = uring_arm(w, u);
	if (arm < 0) {
		rs_log_error("dns: io_uring worker cannot start: %s", strerror(-arm));
	} else {
		uring_loop(w, u);
	}
	if (u->fixed) {
		/* The ring holds its own references to the sockets: a worker that
		 * stops closes them (dnsio.c), and until the ring lets go too the
		 * kernel would keep handing them their share of the flows. */
		(void)syscall(__NR_io_uring_register, u->ring.ring_fd, IORING_UNREGISTER_FILES,
				NULL, 0u);
		u->fixed = false;
	}
}

#endif
