/*
 * The UDP workers' two I/O paths (server/dns/dnsio_uring.c, dnsio.c):
 * the parser of the buffers a multishot recvmsg fills (every length the
 * kernel writes checked against the buffer), the choice at start (io_uring
 * where the kernel takes it; where it is refused, here by a seccomp filter,
 * auto falls back to recvmmsg and uring fails with a clear error), and
 * queries answered by worker threads on each path.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "common/addr.h"
#include "common/error.h"
#include "server/config.h"
#include "server/dns/dnsio.h"
#include "server/dns/dnsio_internal.h"
#include "server/dns/dnswire.h"
#include "server/net/acl.h"
#include "server/registry/store.h"
#include "tests/unit/server/dnsio_fixture.h"
#include "tests/unit/server/free_port.h"

/* ---- the buffer parser ---------------------------------------------------- */

#define HEAD (sizeof(struct dnsio_recv_out) + DNSIO_RECV_NAME + DNSIO_RECV_CONTROL)

static uint8_t buf[DNSIO_RECV_BUF];

/* A buffer as the kernel fills it: header, name, control, payload. */
static size_t fill(uint32_t namelen, uint32_t controllen, uint32_t payloadlen, uint32_t flags,
		size_t stored)
{
	memset(buf, 0, sizeof(buf));
	struct dnsio_recv_out o = {namelen, controllen, payloadlen, flags};
	memcpy(buf, &o, sizeof(o));
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(5353)};
	inet_pton(AF_INET, "127.0.0.9", &sin.sin_addr);
	memcpy(buf + sizeof(o), &sin, sizeof(sin));
	struct cmsghdr c = {.cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo)),
			.cmsg_level = IPPROTO_IP,
			.cmsg_type = IP_PKTINFO};
	memcpy(buf + sizeof(o) + DNSIO_RECV_NAME, &c, sizeof(c));
	memset(buf + HEAD, 0xAB, stored);
	return HEAD + stored;
}

Test(dnsio_recv, a_query_with_its_packet_info)
{
	size_t len = fill(sizeof(struct sockaddr_in), CMSG_SPACE(sizeof(struct in_pktinfo)), 40, 0,
			40);
	struct dnsio_recv rx;
	cr_assert_eq(dnsio_recv_parse(buf, len, &rx), 0);
	cr_expect_eq(rx.addr->sa_family, AF_INET);
	cr_expect_eq(rx.addrlen, sizeof(struct sockaddr_in));
	cr_expect_eq(ntohs(((const struct sockaddr_in *)rx.addr)->sin_port), 5353);
	cr_assert_not_null(rx.control);
	cr_expect_eq(rx.controllen, CMSG_SPACE(sizeof(struct in_pktinfo)));
	cr_expect_eq(rx.payload, buf + HEAD);
	cr_expect_eq(rx.len, 40);
	cr_expect_not(rx.truncated);
}

Test(dnsio_recv, no_control_and_an_empty_payload)
{
	size_t len = fill(sizeof(struct sockaddr_in6), 0, 0, 0, 0);
	struct dnsio_recv rx;
	cr_assert_eq(dnsio_recv_parse(buf, len, &rx), 0);
	cr_expect_null(rx.control);
	cr_expect_eq(rx.len, 0);
	cr_expect_not(rx.truncated);
}

Test(dnsio_recv, truncated_control_is_not_trusted)
{
	struct dnsio_recv rx;
	size_t len = fill(16, CMSG_SPACE(sizeof(struct in_pktinfo)), 12, MSG_CTRUNC, 12);
	cr_assert_eq(dnsio_recv_parse(buf, len, &rx), 0);
	cr_expect_null(rx.control, "MSG_CTRUNC");
	len = fill(16, DNSIO_RECV_CONTROL + 8, 12, 0, 12);
	cr_assert_eq(dnsio_recv_parse(buf, len, &rx), 0);
	cr_expect_null(rx.control, "longer than its area");
	len = fill(16, sizeof(struct cmsghdr) - 1, 12, 0, 12);
	cr_assert_eq(dnsio_recv_parse(buf, len, &rx), 0);
	cr_expect_null(rx.control, "shorter than a header");
}

Test(dnsio_recv, truncated_payload_is_marked)
{
	struct dnsio_recv rx;
	size_t len = fill(16, 0, UDP_QUERY_MAX + 100, MSG_TRUNC, UDP_QUERY_MAX);
	cr_assert_eq(dnsio_recv_parse(buf, len, &rx), 0);
	cr_expect(rx.truncated, "MSG_TRUNC");
	len = fill(16, 0, 100, 0, 50);
	cr_assert_eq(dnsio_recv_parse(buf, len, &rx), 0);
	cr_expect(rx.truncated, "more than the buffer holds, without the flag");
	len = fill(16, 0, 50, 0, 50);
	cr_assert_eq(dnsio_recv_parse(buf, len, &rx), 0);
	cr_expect_not(rx.truncated, "exactly what was stored");
}

Test(dnsio_recv, malformed_buffers_refused)
{
	struct dnsio_recv rx;
	fill(16, 0, 0, 0, 0);
	cr_expect_eq(dnsio_recv_parse(buf, HEAD - 1, &rx), RS_EINVAL, "shorter than the areas");
	cr_expect_eq(dnsio_recv_parse(buf, 0, &rx), RS_EINVAL, "empty");
	cr_expect_eq(dnsio_recv_parse(buf, DNSIO_RECV_BUF + 1, &rx), RS_EINVAL, "past the buffer");
	size_t len = fill(DNSIO_RECV_NAME + 1, 0, 0, 0, 0);
	cr_expect_eq(dnsio_recv_parse(buf, len, &rx), RS_EINVAL, "name longer than its area");
	len = fill(sizeof(struct sockaddr_in) - 1, 0, 0, 0, 0);
	cr_expect_eq(dnsio_recv_parse(buf, len, &rx), RS_EINVAL, "name shorter than an address");
	len = fill(0, 0, 0, 0, 0);
	cr_expect_eq(dnsio_recv_parse(buf, len, &rx), RS_EINVAL, "no name");
}

/* ---- the choice at start and the workers ---------------------------------- */

static uv_loop_t loop;
static struct server_config cfg;
static struct store *store;
static char datadir[64];
/* --dns-allow and response rate limiting for the next start() (none: off). */
static struct acl *start_acl;
static struct rrl_config start_rrl;

/* A DNS module on 127.0.0.1:@p port with @p threads workers on @p io. */
static int start(uint16_t port, uint32_t threads, enum dnsio_io io, struct dnsio **out, char *err,
		size_t errsz)
{
	cr_assert_eq(uv_loop_init(&loop), 0);
	snprintf(datadir, sizeof(datadir), "/tmp/roster-dnsio-uring-XXXXXX");
	cr_assert_not_null(mkdtemp(datadir));
	char dns[64];
	snprintf(dns, sizeof(dns), "127.0.0.1:%u", port);
	char *argv[] = {"rosterd", "--site", "lon6", "--domain", "example.net", "--dns", dns,
			"--data", datadir, NULL};
	config_defaults(&cfg);
	cr_assert_eq(config_parse(&cfg, 9, argv, err, errsz), 0, "%s", err);
	store = store_new(&cfg.limits, NULL, NULL, 0);
	struct rs_addr ad;
	cr_assert_eq(rs_addr_parse("10.0.0.1", &ad), 0);
	struct store_registration r = {.service = "web",
			.protocol = "tcp",
			.host = "web1.lon6.example.net",
			.port = 80,
			.addrs = &ad,
			.naddrs = 1};
	bool created;
	uint64_t rev;
	cr_assert_eq(store_register(store, &r, 0, 0, &created, &rev), 0);
	static const char *ns[1];
	struct dnsio_context ctx = {
			.loop = &loop,
			.store = store,
			.cfg = dnsio_fixture_config(&cfg, ns, threads, io),
	};
	ctx.cfg.acl = start_acl;
	ctx.cfg.rrl = start_rrl;
	return dnsio_start(&ctx, out, err, errsz);
}

static void stop(struct dnsio *d)
{
	dnsio_stop(d);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_expect_eq(uv_loop_close(&loop), 0, "a handle was left open");
	store_free(store);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", datadir);
	cr_expect_eq(system(cmd), 0);
}

/* @p n SOA queries sent at once, answered by the workers while the main
 * thread runs its loop; how many answers came. */
static int ask(uint16_t port, int n)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	static const uint8_t name[] = "\x08services\x04lon6\x07"
				      "example\x03net";
	for (int i = 0; i < n; i++) {
		uint8_t q[64] = {(uint8_t)(i >> 8), (uint8_t)i, 0, 0, 0, 1};
		memcpy(q + 12, name, sizeof(name));
		size_t len = 12 + sizeof(name);
		q[len++] = 0;
		q[len++] = DNSWIRE_SOA;
		q[len++] = 0;
		q[len++] = 1;
		cr_assert_eq(sendto(s, q, len, 0, (struct sockaddr *)&to, sizeof(to)),
				(ssize_t)len);
	}
	int got = 0;
	bool seen[256] = {false};
	for (int spins = 0; got < n && spins < 4000; spins++) {
		struct pollfd p = {s, POLLIN, 0};
		(void)poll(&p, 1, 1);
		uv_run(&loop, UV_RUN_NOWAIT);
		uint8_t r[512];
		ssize_t k;
		while ((k = recv(s, r, sizeof(r), MSG_DONTWAIT)) > 12) {
			uint16_t id = dnswire_get16(r);
			cr_expect_eq(dnswire_get16(r + 6), 1, "one SOA");
			cr_expect_not(seen[id % 256], "answered once");
			seen[id % 256] = true;
			got++;
		}
	}
	close(s);
	return got;
}

Test(dnsio_io, workers_answer_on_each_path)
{
	enum dnsio_io paths[] = {DNSIO_IO_MMSG, DNSIO_IO_URING};
	for (size_t p = 0; p < 2; p++) {
		if (paths[p] == DNSIO_IO_URING && dnsio_uring_probe() != 0) {
			continue; /* the refused case: refused_io_uring_falls_back */
		}
		uint16_t port = test_free_port();
		struct dnsio *d;
		char err[256];
		cr_assert_eq(start(port, 2, paths[p], &d, err, sizeof(err)), 0, "%s", err);
		cr_expect_eq(dnsio_io_used(d), paths[p]);
		cr_expect_eq(ask(port, 200), 200, "%s", dnsio_io_name(paths[p]));
		cr_expect_eq(dnsio_queries_total(d), 200);
		struct dnsio_counters c;
		dnsio_counters_get(d, &c);
		cr_expect_eq(c.bytes_in[ANSWER_UDP], 200 * 43u);
		cr_expect_eq(c.udp_send_dropped, 0);
		stop(d);
	}
}

/* A stream of SRV queries for _web._tcp from another thread, until told
 * to stop: the workers read the store while the main thread changes it. */
struct hammer {
	uint16_t port;
	volatile int stop;
	int answered;
};

static size_t srv_query(uint8_t *q, uint16_t id)
{
	static const uint8_t name[] = "\x04_web\x04_tcp\x08services\x04lon6\x07"
				      "example\x03net";
	memset(q, 0, 12);
	q[0] = (uint8_t)(id >> 8);
	q[1] = (uint8_t)id;
	q[5] = 1;
	memcpy(q + 12, name, sizeof(name));
	size_t len = 12 + sizeof(name);
	q[len++] = 0;
	q[len++] = 33; /* SRV */
	q[len++] = 0;
	q[len++] = 1;
	return len;
}

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(h->port)};
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	uint8_t q[128], r[1500];
	for (uint16_t id = 0; !h->stop; id++) {
		size_t len = srv_query(q, id);
		(void)sendto(s, q, len, 0, (struct sockaddr *)&to, sizeof(to));
		struct pollfd p = {s, POLLIN, 0};
		if (poll(&p, 1, 100) == 1 && recv(s, r, sizeof(r), 0) > 12) {
			h->answered++;
		}
	}
	close(s);
	return NULL;
}

/* The SRV answer count of _web._tcp now, asked of the workers. */
static int srv_count(uint16_t port)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	uint8_t q[128], r[1500];
	size_t len = srv_query(q, 0xBEEF);
	int count = -1;
	for (int tries = 0; tries < 20 && count < 0; tries++) {
		(void)sendto(s, q, len, 0, (struct sockaddr *)&to, sizeof(to));
		struct pollfd p = {s, POLLIN, 0};
		if (poll(&p, 1, 200) == 1 && recv(s, r, sizeof(r), 0) > 12 &&
				dnswire_get16(r) == 0xBEEF) {
			count = dnswire_get16(r + 6);
		}
	}
	close(s);
	return count;
}

/* The main thread changes the store while the workers answer: each change
 * is seen whole by the next query (the store takes the workers' lock for
 * each mutation), and no worker reads freed memory (the ASan build). */
Test(dnsio_io, workers_see_each_change_as_it_returns)
{
	enum dnsio_io paths[] = {DNSIO_IO_MMSG, DNSIO_IO_URING};
	for (size_t p = 0; p < 2; p++) {
		if (paths[p] == DNSIO_IO_URING && dnsio_uring_probe() != 0) {
			continue;
		}
		uint16_t port = test_free_port();
		struct dnsio *d;
		char err[256];
		cr_assert_eq(start(port, 2, paths[p], &d, err, sizeof(err)), 0, "%s", err);
		struct hammer h = {.port = port};
		pthread_t t;
		cr_assert_eq(pthread_create(&t, NULL, hammer_main, &h), 0);
		struct rs_addr ad;
		cr_assert_eq(rs_addr_parse("10.0.0.2", &ad), 0);
		for (int i = 0; i < 300; i++) {
			char host[64];
			snprintf(host, sizeof(host), "web-%d.lon6.example.net", i);
			struct store_registration r = {.service = "web",
					.protocol = "tcp",
					.host = host,
					.port = 80,
					.addrs = &ad,
					.naddrs = 1};
			bool created;
			uint64_t rev;
			cr_assert_eq(store_register(store, &r, 0, 0, &created, &rev), 0);
			if (i % 10 == 0) {
				cr_assert_eq(srv_count(port), 2, "registered %s: %s", host,
						dnsio_io_name(paths[p]));
			}
			struct store_key k = {"web", "tcp", host, 80};
			cr_assert_eq(store_deregister(store, &k, &rev), 0);
			if (i % 10 == 5) {
				cr_assert_eq(srv_count(port), 1, "deregistered %s: %s", host,
						dnsio_io_name(paths[p]));
			}
		}
		/* The changes can all be made before the stream's first answer
		 * (a fast main thread): wait for one, bounded. */
		for (int spins = 0;
				spins < 2000 && __atomic_load_n(&h.answered, __ATOMIC_RELAXED) == 0;
				spins++) {
			(void)poll(NULL, 0, 1);
		}
		h.stop = 1;
		pthread_join(t, NULL);
		cr_expect_gt(h.answered, 0, "the stream was answered");
		stop(d);
	}
}

/* With two workers each reads sockets of its own (SO_REUSEPORT): queries
 * from 64 source ports are all answered, and both workers answer some. */
Test(dnsio_io, each_worker_reads_its_own_socket)
{
	enum dnsio_io paths[] = {DNSIO_IO_MMSG, DNSIO_IO_URING};
	for (size_t p = 0; p < 2; p++) {
		if (paths[p] == DNSIO_IO_URING && dnsio_uring_probe() != 0) {
			continue;
		}
		uint16_t port = test_free_port();
		struct dnsio *d;
		char err[256];
		cr_assert_eq(start(port, 2, paths[p], &d, err, sizeof(err)), 0, "%s", err);
		cr_assert(d->reuseport);
		cr_expect_eq(d->workers[0]->nsock, 0, "worker 0 reads the first sockets");
		cr_expect_eq(d->workers[1]->nsock, 1, "worker 1 has its own");
		cr_expect_neq(d->workers[1]->sock[0].fd, d->udp[0].s.fd);
		int answered = 0;
		for (int i = 0; i < 64; i++) {
			answered += srv_count(port) == 1;
		}
		cr_expect_eq(answered, 64, "%s", dnsio_io_name(paths[p]));
		for (size_t k = 0; k < 2; k++) {
			cr_expect_gt(d->workers[k]->counters.bytes_in[ANSWER_UDP], 0,
					"worker %zu answered nothing (%s)", k,
					dnsio_io_name(paths[p]));
		}
		stop(d);
	}
}

/* SO_REUSEPORT must not let a second server share the port silently: a
 * port taken, by another rosterd with workers or by a plain socket, is
 * "address in use". The second DNS module starts in a child, with its own
 * loop and store; its exit code is what failed. */
static int second_start_child(uint16_t port)
{
	struct dnsio *d2 = NULL;
	char err[256];
	int rc = start(port, 2, DNSIO_IO_MMSG, &d2, err, sizeof(err));
	if (rc != -EADDRINUSE || d2 != NULL) {
		return 1;
	}
	return strstr(err, "(udp)") != NULL && strstr(err, "in use") != NULL ? 0 : 2;
}

/* A forked child's end: in a coverage build (ROSTER_COVERAGE) its
 * counters are written first (_exit() skips that, and what only the child
 * ran would show as never run). */
#ifdef ROSTER_COVERAGE
void __gcov_dump(void);
#endif

static void child_exit(int code)
{
#ifdef ROSTER_COVERAGE
	__gcov_dump();
#endif
	_exit(code);
}

static int second_start(uint16_t port)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		child_exit(second_start_child(port));
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

Test(dnsio_io, reuseport_still_refuses_a_taken_port)
{
	uint16_t port = test_free_port();
	struct dnsio *d;
	char err[256];
	cr_assert_eq(start(port, 2, DNSIO_IO_MMSG, &d, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(second_start(port), 0, "a rosterd with workers holds the port");
	stop(d);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	cr_assert_eq(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_expect_eq(second_start(port), 0, "a plain socket holds the port");
	close(s);
}

Test(dnsio_io, no_workers_no_path)
{
	uint16_t port = test_free_port();
	struct dnsio *d;
	char err[256];
	cr_assert_eq(start(port, 0, DNSIO_IO_URING, &d, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(dnsio_io_used(d), DNSIO_IO_AUTO, "UDP is the main loop's");
	stop(d);
}

/* io_uring_setup(2) fails with ENOSYS from here on, as under a container's
 * seccomp profile. */
static void refuse_io_uring(void)
{
	struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof(f) / sizeof(f[0]), f};
	cr_assert_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	cr_assert_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
}

/* In a child under the filter: auto falls back and answers, uring fails
 * with an error naming the refusal. The child's exit code is what failed. */
static int refused_child(void)
{
	refuse_io_uring();
	if (dnsio_uring_probe() != -ENOSYS && dnsio_uring_probe() != -ENOTSUP) {
		return 1;
	}
	uint16_t port = test_free_port();
	struct dnsio *d;
	char err[256];
	if (start(port, 1, DNSIO_IO_AUTO, &d, err, sizeof(err)) != 0) {
		return 2;
	}
	if (dnsio_io_used(d) != DNSIO_IO_MMSG) {
		return 3;
	}
	if (ask(port, 50) != 50) {
		return 4;
	}
	stop(d);
	int rc = start(test_free_port(), 1, DNSIO_IO_URING, &d, err, sizeof(err));
	if (rc == 0 || d != NULL || strstr(err, "--dns-io uring: io_uring refused") == NULL) {
		return 5;
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	store_free(store);
	return 0;
}

Test(dnsio_io, refused_io_uring_falls_back)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		child_exit(refused_child());
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "the child died");
	cr_expect_eq(WEXITSTATUS(status), 0, "step %d failed", WEXITSTATUS(status));
}

/* ---- the reply's control message ------------------------------------------- */

union cmsg_room {
	struct cmsghdr align;
	uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

/* A received message with one control message of @p level, @p type and
 * @p datalen octets of @p data. */
static void cmsg_fill(struct msghdr *m, union cmsg_room *room, int level, int type,
		const void *data, size_t datalen)
{
	memset(m, 0, sizeof(*m));
	memset(room, 0, sizeof(*room));
	m->msg_control = room->buf;
	m->msg_controllen = CMSG_SPACE(datalen);
	struct cmsghdr *c = CMSG_FIRSTHDR(m);
	c->cmsg_level = level;
	c->cmsg_type = type;
	c->cmsg_len = CMSG_LEN(datalen);
	memcpy(CMSG_DATA(c), data, datalen);
}

Test(dnsio_cmsg, ipv4_keeps_the_destination_and_drops_the_interface)
{
	struct in_pktinfo pi = {.ipi_ifindex = 3};
	inet_pton(AF_INET, "192.0.2.7", &pi.ipi_spec_dst);
	struct msghdr m;
	union cmsg_room room;
	cmsg_fill(&m, &room, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
	cr_assert_eq(dnsio_reply_cmsg(&m), CMSG_SPACE(sizeof(pi)));
	struct in_pktinfo out;
	memcpy(&out, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(out));
	cr_expect_eq(out.ipi_ifindex, 0);
	cr_expect_eq(out.ipi_spec_dst.s_addr, pi.ipi_spec_dst.s_addr);
}

Test(dnsio_cmsg, ipv6_drops_the_interface_unless_link_local)
{
	struct in6_pktinfo pi = {.ipi6_ifindex = 4};
	inet_pton(AF_INET6, "2001:db8::53", &pi.ipi6_addr);
	struct msghdr m;
	union cmsg_room room;
	cmsg_fill(&m, &room, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof(pi));
	cr_assert_eq(dnsio_reply_cmsg(&m), CMSG_SPACE(sizeof(pi)));
	struct in6_pktinfo out;
	memcpy(&out, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(out));
	cr_expect_eq(out.ipi6_ifindex, 0, "a global destination: routed back");
	inet_pton(AF_INET6, "fe80::1", &pi.ipi6_addr);
	cmsg_fill(&m, &room, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof(pi));
	cr_assert_eq(dnsio_reply_cmsg(&m), CMSG_SPACE(sizeof(pi)));
	memcpy(&out, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(out));
	cr_expect_eq(out.ipi6_ifindex, 4, "link-local needs its interface");
}

Test(dnsio_cmsg, anything_else_is_no_control_message)
{
	struct msghdr m;
	union cmsg_room room;
	struct in_pktinfo pi4 = {.ipi_ifindex = 1};
	struct in6_pktinfo pi6 = {.ipi6_ifindex = 1};
	int hops = 64;
	cmsg_fill(&m, &room, IPPROTO_IP, IP_PKTINFO, &pi4, sizeof(pi4));
	m.msg_flags = MSG_CTRUNC;
	cr_expect_eq(dnsio_reply_cmsg(&m), 0, "cut short");
	cmsg_fill(&m, &room, IPPROTO_IP, IP_PKTINFO, &pi4, sizeof(pi4));
	m.msg_controllen = sizeof(struct cmsghdr) - 1;
	cr_expect_eq(dnsio_reply_cmsg(&m), 0, "shorter than a header");
	cmsg_fill(&m, &room, IPPROTO_IPV6, IPV6_PKTINFO, &pi6, sizeof(pi6));
	m.msg_controllen = CMSG_LEN(sizeof(pi6)) - 12;
	cr_expect_eq(dnsio_reply_cmsg(&m), 0, "longer than what was received");
	cmsg_fill(&m, &room, IPPROTO_IP, IP_PKTINFO, &pi4, sizeof(pi4) - 4);
	cr_expect_eq(dnsio_reply_cmsg(&m), 0, "IPv4 of the wrong length");
	cmsg_fill(&m, &room, IPPROTO_IP, IP_TTL, &hops, sizeof(hops));
	cr_expect_eq(dnsio_reply_cmsg(&m), 0, "IPv4, another type");
	cmsg_fill(&m, &room, IPPROTO_IPV6, IPV6_PKTINFO, &pi6, sizeof(pi6) - 4);
	cr_expect_eq(dnsio_reply_cmsg(&m), 0, "IPv6 of the wrong length");
	cmsg_fill(&m, &room, IPPROTO_IPV6, IPV6_HOPLIMIT, &hops, sizeof(hops));
	cr_expect_eq(dnsio_reply_cmsg(&m), 0, "IPv6, another type");
	cmsg_fill(&m, &room, SOL_SOCKET, SCM_RIGHTS, &hops, sizeof(hops));
	cr_expect_eq(dnsio_reply_cmsg(&m), 0, "another level");
}

/* ---- the access list, rate limiting and oversized datagrams on workers ------ */

/* One SOA query from its own socket; the reply's rcode and TC bit, or -1
 * when none came within 500 ms. */
static int ask_rcode(uint16_t port, bool *tc)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	uint8_t q[128], r[1500];
	size_t len = srv_query(q, 0x0a0b);
	int rcode = -1;
	cr_assert_eq(sendto(s, q, len, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)len);
	for (int spins = 0; spins < 500 && rcode < 0; spins++) {
		struct pollfd p = {s, POLLIN, 0};
		(void)poll(&p, 1, 1);
		uv_run(&loop, UV_RUN_NOWAIT);
		if (recv(s, r, sizeof(r), MSG_DONTWAIT) > 12 && dnswire_get16(r) == 0x0a0b) {
			rcode = r[3] & 0xf;
			*tc = (r[2] & 0x02) != 0;
		}
	}
	close(s);
	return rcode;
}

static const enum dnsio_io all_paths[] = {DNSIO_IO_MMSG, DNSIO_IO_URING};
static const uint32_t all_threads[] = {0, 1, 1};

/* --dns-allow on every UDP path (the main loop, each worker path): a source
 * outside is answered REFUSED and counted by the ACL. */
Test(dnsio_io, acl_refuses_on_every_path)
{
	struct rs_prefix p;
	cr_assert_eq(rs_prefix_parse("192.0.2.0/24", &p), 0);
	for (size_t k = 0; k < 3; k++) {
		enum dnsio_io io = k == 0 ? DNSIO_IO_AUTO : all_paths[k - 1];
		if (io == DNSIO_IO_URING && dnsio_uring_probe() != 0) {
			continue;
		}
		cr_assert_eq(acl_new("dns", "--dns-allow", &p, 1, false, &start_acl), 0);
		uint16_t port = test_free_port();
		struct dnsio *d;
		char err[256];
		cr_assert_eq(start(port, all_threads[k], io, &d, err, sizeof(err)), 0, "%s", err);
		bool tc = false;
		cr_expect_eq(ask_rcode(port, &tc), DNSWIRE_REFUSED, "%s", dnsio_io_name(io));
		struct acl_counters ac;
		acl_counters_get(start_acl, &ac);
		cr_expect_eq(ac.refused, 1);
		stop(d);
		acl_free(start_acl);
		start_acl = NULL;
	}
}

/* Response rate limiting on every UDP path: at 1 a second with slip 2,
 * a burst from one source is answered once, then slipped (TC=1) or
 * dropped, and each is counted. */
Test(dnsio_io, rrl_limits_on_every_path)
{
	for (size_t k = 0; k < 3; k++) {
		enum dnsio_io io = k == 0 ? DNSIO_IO_AUTO : all_paths[k - 1];
		if (io == DNSIO_IO_URING && dnsio_uring_probe() != 0) {
			continue;
		}
		start_rrl = (struct rrl_config){.rate = 1, .slip = 2, .seed = 1};
		uint16_t port = test_free_port();
		struct dnsio *d;
		char err[256];
		cr_assert_eq(start(port, all_threads[k], io, &d, err, sizeof(err)), 0, "%s", err);
		int answered = 0, slipped = 0;
		for (int i = 0; i < 8; i++) {
			bool tc = false;
			int rc = ask_rcode(port, &tc);
			answered += rc == 0 && !tc;
			slipped += rc == 0 && tc;
		}
		struct dnsio_counters c;
		dnsio_counters_get(d, &c);
		cr_expect_geq(answered, 1, "%s", dnsio_io_name(io));
		cr_expect_lt(answered, 8, "%s: limited", dnsio_io_name(io));
		cr_expect_eq(c.rrl_slipped, (uint64_t)slipped, "%s", dnsio_io_name(io));
		cr_expect_gt(c.rrl_dropped, 0, "%s", dnsio_io_name(io));
		cr_expect_eq(answered + slipped + (int)c.rrl_dropped, 8, "%s", dnsio_io_name(io));
		stop(d);
		start_rrl = (struct rrl_config){0};
	}
}

/* A datagram over the 4 KiB buffer is not answered on either worker path,
 * and its octets are counted; the next query is answered. 4,100 octets is
 * over the query buffer but within a provided buffer's padding (io_uring
 * buffers are a multiple of 64 octets apart): it must still be a truncated
 * datagram, not a malformed completion dropped uncounted. */
Test(dnsio_io, oversized_datagram_is_not_answered_by_workers)
{
	static const size_t sizes[] = {6000, 4100};
	for (size_t p = 0; p < 2; p++) {
		if (all_paths[p] == DNSIO_IO_URING && dnsio_uring_probe() != 0) {
			continue;
		}
		uint16_t port = test_free_port();
		struct dnsio *d;
		char err[256];
		cr_assert_eq(start(port, 1, all_paths[p], &d, err, sizeof(err)), 0, "%s", err);
		const char *path = dnsio_io_name(all_paths[p]);
		uint64_t before = 0;
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			int s = socket(AF_INET, SOCK_DGRAM, 0);
			struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
			inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
			static uint8_t big[6000];
			(void)srv_query(big, 1);
			cr_assert_eq(sendto(s, big, sizes[i], 0, (struct sockaddr *)&to,
						     sizeof(to)),
					(ssize_t)sizes[i]);
			close(s);
			bool tc = false;
			cr_expect_eq(ask_rcode(port, &tc), 0, "%s", path);
			cr_expect_eq(dnsio_queries_total(d), i + 1,
					"%s: the %zu-octet one is no query", path, sizes[i]);
			struct dnsio_counters c;
			dnsio_counters_get(d, &c);
			cr_expect_geq(c.bytes_in[ANSWER_UDP], before + 4096,
					"%s: %zu octets counted", path, sizes[i]);
			before = c.bytes_in[ANSWER_UDP];
		}
		stop(d);
	}
}

/* More listen addresses or NS names than the module holds: refused at
 * start with the limits named. */
Test(dnsio_io, too_many_addresses_or_names)
{
	uv_loop_t l;
	cr_assert_eq(uv_loop_init(&l), 0);
	static const char *ns[DNSIO_NS_MAX + 1];
	struct sockaddr_storage listen[DNSIO_LISTEN_MAX + 1];
	memset(listen, 0, sizeof(listen));
	for (size_t k = 0; k < 2; k++) {
		struct dnsio_context ctx = {
				.loop = &l,
				.cfg = {.listen = listen,
						.nlisten = k == 0 ? DNSIO_LISTEN_MAX + 1 : 1,
						.answer = {.zone = "services.lon6.example.net.",
								.ns = ns,
								.nns = k == 1 ? DNSIO_NS_MAX + 1
									      : 1}},
		};
		struct dnsio *d = (struct dnsio *)1;
		char err[256] = "";
		cr_expect_eq(dnsio_start(&ctx, &d, err, sizeof(err)), RS_EINVAL);
		cr_expect_null(d);
		cr_expect_str_eq(err, "dns: at most 8 addresses and 8 NS names");
	}
	cr_expect_eq(uv_loop_close(&l), 0);
}
