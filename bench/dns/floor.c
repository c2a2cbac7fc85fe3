/*
 * floor: the I/O floor of a UDP DNS server on this machine, for bench/dns.
 *
 * The same io_uring loop as rosterd's workers (server/dns/dnsio_uring.c: a
 * multishot recvmsg into a provided-buffer ring, sends with an address and
 * IOSQE_CQE_SKIP_SUCCESS submitted with the next wait, SINGLE_ISSUER and
 * DEFER_TASKRUN, registered socket), but no DNS work: each query comes back
 * as its own header with QR set, its question, and zeros up to the
 * length of rosterd's answer to it (-s), which dnsperf counts as a
 * response. What this process spends per query is what receiving and
 * sending costs, the part no answer engine can remove; bench/dns prints it
 * beside rosterd and NSD to show how much of their cost is the kernel's.
 *
 * Not a server: no parsing, no checks beyond the 12-octet header. Used on
 * 127.0.0.1 only, by bench/dns/bench.py.
 *
 *   floor -p PORT -s OCTETS
 */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFS 128
#define BUF_SIZE 2048
#define SLOTS 128 /* more than the submission queue holds: a slot is free again before reuse */
#define REPLY_MAX 1232
#define DNS_HEADER 12

struct slot {
	struct sockaddr_in addr;
	uint8_t buf[REPLY_MAX];
};

static int fail(const char *what, int err)
{
	fprintf(stderr, "floor: %s: %s\n", what, strerror(err));
	return 1;
}

static int udp_open(int port)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
			.sin_port = htons((uint16_t)port),
			.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		return -errno;
	}
	return fd;
}

int main(int argc, char **argv)
{
	int port = 0, size = 0, opt;
	while ((opt = getopt(argc, argv, "p:s:")) != -1) {
		if (opt == 'p') {
			port = atoi(optarg);
		} else if (opt == 's') {
			size = atoi(optarg);
		} else {
			fprintf(stderr, "usage: floor -p PORT -s OCTETS\n");
			return 2;
		}
	}
	if (port <= 0 || port > 65535 || size < DNS_HEADER || size > REPLY_MAX) {
		fprintf(stderr, "floor: -p 1..65535 and -s %d..%d are required\n", DNS_HEADER,
				REPLY_MAX);
		return 2;
	}
	int fd = udp_open(port);
	if (fd < 0) {
		return fail("socket", -fd);
	}

	struct io_uring ring;
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
	p.cq_entries = 1024;
	int rc = io_uring_queue_init_params(64, &ring, &p);
	if (rc < 0) {
		return fail("io_uring_queue_init_params", -rc);
	}
	rc = io_uring_register_files(&ring, &fd, 1);
	if (rc < 0) {
		return fail("io_uring_register_files", -rc);
	}
	(void)io_uring_register_ring_fd(&ring);

	uint8_t *bufs = malloc((size_t)BUFS * BUF_SIZE);
	struct slot *slots = calloc(SLOTS, sizeof(*slots));
	struct io_uring_buf_ring *br = mmap(NULL, BUFS * sizeof(struct io_uring_buf),
			PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (bufs == NULL || slots == NULL || br == MAP_FAILED) {
		return fail("memory", ENOMEM);
	}
	struct io_uring_buf_reg reg = {
			.ring_addr = (uint64_t)(uintptr_t)br, .ring_entries = BUFS, .bgid = 0};
	rc = io_uring_register_buf_ring(&ring, &reg, 0);
	if (rc < 0) {
		return fail("io_uring_register_buf_ring", -rc);
	}
	int mask = io_uring_buf_ring_mask(BUFS);
	io_uring_buf_ring_init(br);
	for (int i = 0; i < BUFS; i++) {
		io_uring_buf_ring_add(br, bufs + (size_t)i * BUF_SIZE, BUF_SIZE, (unsigned short)i,
				mask, i);
	}
	io_uring_buf_ring_advance(br, BUFS);

	struct msghdr tmpl = {.msg_namelen = sizeof(struct sockaddr_in)};
	bool armed = false;
	unsigned next = 0;
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		if (!armed) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			io_uring_prep_recvmsg_multishot(sqe, 0, &tmpl, 0);
			sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
			sqe->buf_group = 0;
			armed = true;
		}
		rc = io_uring_submit_and_wait(&ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			return fail("io_uring_submit_and_wait", -rc);
		}
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe)
		{
			seen++;
			if (!(cqe->flags & IORING_CQE_F_MORE)) {
				armed = false;
			}
			if (cqe->res < 0 || !(cqe->flags & IORING_CQE_F_BUFFER)) {
				continue;
			}
			unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
			uint8_t *b = bufs + (size_t)bid * BUF_SIZE;
			struct io_uring_recvmsg_out *o =
					io_uring_recvmsg_validate(b, cqe->res, &tmpl);
			size_t qlen = o != NULL ? io_uring_recvmsg_payload_length(
								  o, cqe->res, &tmpl)
						: 0;
			if (qlen >= DNS_HEADER && qlen <= (size_t)size &&
					o->namelen == sizeof(struct sockaddr_in)) {
				struct slot *s = &slots[next++ % SLOTS];
				memcpy(&s->addr, io_uring_recvmsg_name(o), sizeof(s->addr));
				memcpy(s->buf, io_uring_recvmsg_payload(o, &tmpl), qlen);
				memset(s->buf + qlen, 0, (size_t)size - qlen);
				s->buf[2] |= 0x80; /* QR */
				struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
				if (sqe == NULL) {
					io_uring_submit(&ring);
					sqe = io_uring_get_sqe(&ring);
				}
				io_uring_prep_send(sqe, 0, s->buf, (size_t)size, MSG_DONTWAIT);
				io_uring_prep_send_set_addr(
						sqe, (struct sockaddr *)&s->addr, sizeof(s->addr));
				sqe->flags |= IOSQE_FIXED_FILE | IOSQE_CQE_SKIP_SUCCESS;
			}
			io_uring_buf_ring_add(br, b, BUF_SIZE, (unsigned short)bid, mask, 0);
			io_uring_buf_ring_advance(br, 1);
		}
		io_uring_cq_advance(&ring, seen);
	}
}
