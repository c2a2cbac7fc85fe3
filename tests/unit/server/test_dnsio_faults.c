/*
 * The DNS transport (server/dns/dnsio*.c) and NOTIFY (server/dns/notify.c)
 * when a system call fails that never fails on loopback: socket(),
 * setsockopt(), bind(), getsockname(), eventfd(), epoll, io_uring's setup,
 * a worker thread that does not start, sendmmsg() and a NOTIFY's sendmsg().
 * Run under tests/faults/sysfault.c (LD_PRELOAD, set by meson); each test
 * arms one failure through sysfault_set() and checks what is promised: a
 * start that fails says which address and what, leaves no handle open and
 * succeeds once the call works; a worker that stops says so and the others
 * answer its queries; a reply that cannot be sent is counted and the next
 * one goes out.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/addr.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/wire.h"
#include "server/config.h"
#include "server/dns/dnsio.h"
#include "server/dns/dnsio_internal.h"
#include "server/dns/dnswire.h"
#include "server/dns/notify.h"
#include "server/registry/store.h"
#include "tests/unit/server/dnsio_fixture.h"
#include "tests/unit/server/free_port.h"

typedef void (*sysfault_set_fn)(const char *calls, const char *path, unsigned long nth, int err);
typedef unsigned long (*sysfault_struck_fn)(void);

static sysfault_set_fn fault_set;
static sysfault_struck_fn fault_struck;

/* stderr goes to a file while a test runs: the log lines are read back. */
static char logpath[64];
static int saved_stderr = -1;

static void setup(void)
{
	fault_set = (sysfault_set_fn)dlsym(RTLD_DEFAULT, "sysfault_set");
	fault_struck = (sysfault_struck_fn)dlsym(RTLD_DEFAULT, "sysfault_struck");
	cr_assert_not_null(fault_set, "run under tests/faults/sysfault.c (LD_PRELOAD)");
	cr_assert_not_null(fault_struck);
	fault_set("", NULL, 0, EIO);
	snprintf(logpath, sizeof(logpath), "/tmp/roster-dnsio-faults-log-XXXXXX");
	int fd = mkstemp(logpath);
	cr_assert_geq(fd, 0);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	cr_assert_geq(dup2(fd, STDERR_FILENO), 0);
	close(fd);
}

static void teardown(void)
{
	fault_set("", NULL, 0, EIO);
	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	unlink(logpath);
}

/* Has a line containing @p text been logged? */
static bool logged(const char *text)
{
	static char buf[65536];
	int fd = open(logpath, O_RDONLY);
	cr_assert_geq(fd, 0);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return strstr(buf, text) != NULL;
}

TestSuite(dnsio_faults, .init = setup, .fini = teardown, .timeout = 60);

/* ---- a DNS module on a private loop ---------------------------------------- */

static uv_loop_t loop;
static struct server_config cfg;
static struct store *store;
static char datadir[64];
static uint16_t port;
static int family; /* of the address queries are sent to */

/* The loop, a store with one instance, and the configuration for @p host
 * ("127.0.0.1", "0.0.0.0", "::") on a free port. */
static void env_init(const char *host)
{
	cr_assert_eq(uv_loop_init(&loop), 0);
	snprintf(datadir, sizeof(datadir), "/tmp/roster-dnsio-faults-XXXXXX");
	cr_assert_not_null(mkdtemp(datadir));
	port = test_free_port();
	family = strchr(host, ':') != NULL ? AF_INET6 : AF_INET;
	char dns[96];
	snprintf(dns, sizeof(dns), family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
	char *argv[] = {"rosterd", "--site", "lon6", "--domain", "example.net", "--dns", dns,
			"--data", datadir, "--report-zone", "report.example.net", NULL};
	char err[256];
	config_defaults(&cfg);
	cr_assert_eq(config_parse(&cfg, 11, argv, err, sizeof(err)), 0, "%s", err);
	store = store_new(&cfg.limits, NULL, NULL, 0);
	cr_assert_not_null(store);
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
}

static int start(uint32_t threads, enum dnsio_io io, struct dnsio **out, char *err, size_t errsz)
{
	static const char *ns[1];
	const struct dnsio_context ctx = {
			.loop = &loop,
			.store = store,
			.cfg = dnsio_fixture_config(&cfg, ns, threads, io),
	};
	return dnsio_start(&ctx, out, err, errsz);
}

/* Stop @p d (NULL after a failed start) and check nothing was left open. */
static void finish(struct dnsio *d)
{
	dnsio_stop(d);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_expect_eq(uv_loop_close(&loop), 0, "a handle was left open");
	store_free(store);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", datadir);
	cr_expect_eq(system(cmd), 0);
}

static size_t soa_query(uint8_t *q, uint16_t id)
{
	static const uint8_t name[] = "\x08services\x04lon6\x07"
				      "example\x03net";
	memset(q, 0, 12);
	rs_wire_store_u16(q, id);
	q[5] = 1;
	memcpy(q + 12, name, sizeof(name));
	size_t len = 12 + sizeof(name);
	rs_wire_store_u16(q + len, DNSWIRE_SOA);
	rs_wire_store_u16(q + len + 2, 1);
	return len + 4;
}

static socklen_t server_addr(struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		s6->sin6_addr = in6addr_loopback;
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	inet_pton(AF_INET, "127.0.0.1", &s4->sin_addr);
	return sizeof(*s4);
}

/* One SOA query from a socket of its own (a flow of its own): was it
 * answered within @p wait_ms? The loop runs meanwhile. */
static bool ask_one(int wait_ms)
{
	int s = socket(family, SOCK_DGRAM, 0);
	cr_assert_geq(s, 0);
	struct sockaddr_storage to;
	socklen_t tl = server_addr(&to);
	uint8_t q[64], r[512];
	size_t len = soa_query(q, 0x5eed);
	cr_assert_eq(sendto(s, q, len, 0, (struct sockaddr *)&to, tl), (ssize_t)len);
	bool ok = false;
	uint64_t end = rs_clock_mono_ms() + (uint64_t)wait_ms;
	while (!ok && rs_clock_mono_ms() < end) {
		uv_run(&loop, UV_RUN_NOWAIT);
		struct pollfd p = {s, POLLIN, 0};
		if (poll(&p, 1, 1) == 1) {
			ssize_t k = recv(s, r, sizeof(r), 0);
			ok = k > 12 && dnswire_get16(r) == 0x5eed && dnswire_get16(r + 6) == 1;
		}
	}
	close(s);
	return ok;
}

/* @p n queries, each from its own socket: how many were answered. */
static int ask_each(int n)
{
	int got = 0;
	for (int i = 0; i < n; i++) {
		got += ask_one(2000);
	}
	return got;
}

/* Run the loop until @p cond holds, at most @p ms. */
static bool wait_for(bool (*cond)(void *), void *arg, int ms)
{
	uint64_t end = rs_clock_mono_ms() + (uint64_t)ms;
	while (!cond(arg)) {
		if (rs_clock_mono_ms() >= end) {
			return false;
		}
		uv_run(&loop, UV_RUN_NOWAIT);
		(void)poll(NULL, 0, 1);
	}
	return true;
}

static bool struck_cond(void *arg)
{
	return fault_struck() >= *(unsigned long *)arg;
}

/* ---- starts that fail -------------------------------------------------------- */

struct start_fault {
	const char *host;
	uint32_t threads;
	enum dnsio_io io;
	const char *call, *path;
	unsigned long nth;
	int err;
	const char *want; /* in the error message */
};

/* Arm @p f, start (refused, with its message, nothing left open), then
 * start again with the call working and answer. */
static void start_fault_run(const struct start_fault *f)
{
	env_init(f->host);
	fault_set(f->call, f->path, f->nth, f->err);
	struct dnsio *d = (struct dnsio *)1;
	char err[256] = "";
	int rc = start(f->threads, f->io, &d, err, sizeof(err));
	unsigned long struck = fault_struck();
	fault_set("", NULL, 0, EIO);
	cr_expect_geq(struck, 1, "%s(%s) was never called", f->call, f->path ? f->path : "");
	cr_expect_lt(rc, 0, "%s(%s) failed, yet the start succeeded", f->call, f->path);
	cr_expect_null(d);
	cr_expect(strstr(err, f->want) != NULL, "%s(%s): '%s' lacks '%s'", f->call, f->path, err,
			f->want);
	uv_run(&loop, UV_RUN_DEFAULT); /* what was opened closes */
	if (rc == 0) {
		finish(d);
		return;
	}
	cr_assert_eq(start(f->threads, f->io, &d, err, sizeof(err)), 0, "%s after %s: %s", f->host,
			f->call, err);
	cr_expect(ask_one(2000), "%s after %s(%s): not answered", f->host, f->call, f->path);
	finish(d);
}

Test(dnsio_faults, failed_sockets_and_threads_refuse_the_start)
{
	const struct start_fault faults[] = {
			{"127.0.0.1", 0, DNSIO_IO_AUTO, "socket", "udp4", 0, EMFILE,
					"(udp): Too many open files"},
			{"127.0.0.1", 0, DNSIO_IO_AUTO, "bind", "udp4 127.0.0.1", 0, EADDRINUSE,
					"(udp): Address already in use"},
			{"0.0.0.0", 0, DNSIO_IO_AUTO, "setsockopt", "udp4 IP_PKTINFO", 0, EPERM,
					"(udp): Operation not permitted"},
			{"::", 0, DNSIO_IO_AUTO, "setsockopt", "udp6 IPV6_RECVPKTINFO", 0, EPERM,
					"(udp): Operation not permitted"},
			{"::1", 0, DNSIO_IO_AUTO, "bind", "udp6 [::1]", 0, EADDRNOTAVAIL,
					"(udp): Cannot assign requested address"},
			/* libuv's poll handle checks the socket with epoll_ctl(). */
			{"127.0.0.1", 0, DNSIO_IO_AUTO, "epoll_ctl", "udp4", 0, ENOMEM, "(udp): "},
			{"127.0.0.1", 0, DNSIO_IO_AUTO, "socket", "tcp4", 0, EMFILE,
					"dns listener"},
			{"127.0.0.1", 2, DNSIO_IO_MMSG, "setsockopt", "udp4 SO_REUSEPORT", 0, EPERM,
					"(udp): Operation not permitted"},
			{"127.0.0.1", 1, DNSIO_IO_MMSG, "eventfd", NULL, 0, EMFILE,
					"dns: eventfd: Too many open files"},
			{"127.0.0.1", 1, DNSIO_IO_MMSG, "epoll_create1", NULL, 0, EMFILE,
					"cannot start 1 worker threads (mmsg)"},
			{"127.0.0.1", 1, DNSIO_IO_MMSG, "epoll_ctl", "udp4", 0, ENOMEM,
					"cannot start 1 worker threads (mmsg)"},
			{"127.0.0.1", 1, DNSIO_IO_MMSG, "epoll_ctl", "eventfd", 0, ENOMEM,
					"cannot start 1 worker threads (mmsg)"},
			/* The second worker's own socket (SO_REUSEPORT): where to bind
			 * it, then the bind (the probe's, the first socket's, its). */
			{"127.0.0.1", 2, DNSIO_IO_MMSG, "getsockname", "udp4", 0, ENOBUFS,
					"cannot start 2 worker threads (mmsg)"},
			{"127.0.0.1", 2, DNSIO_IO_MMSG, "bind", "udp4", 3, EACCES,
					"cannot start 2 worker threads (mmsg)"},
			/* The first worker runs, the second does not start: the first
			 * is stopped and joined. */
			{"127.0.0.1", 2, DNSIO_IO_MMSG, "pthread_create", NULL, 2, EAGAIN,
					"cannot start 2 worker threads (mmsg)"},
	};
	for (size_t k = 0; k < sizeof(faults) / sizeof(faults[0]); k++) {
		start_fault_run(&faults[k]);
	}
}

/* An address in use for a moment (a predecessor's io_uring sockets, which
 * the kernel lets go of after the process has gone) is waited for: the
 * first bind of the main loop's socket, or a second worker's own socket,
 * refused once, and the start goes on and answers. (Refused for good, it
 * is "address in use" a second later: failed_sockets_and_threads_...) */
Test(dnsio_faults, an_address_in_use_for_a_moment_is_waited_for)
{
	static const struct {
		uint32_t threads;
		unsigned long nth;
	} cases[] = {{0, 1}, {1, 1}, {2, 3}};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		env_init("127.0.0.1");
		fault_set("bind", "udp4", cases[k].nth, EADDRINUSE);
		struct dnsio *d;
		char err[256] = "";
		int rc = start(cases[k].threads, DNSIO_IO_MMSG, &d, err, sizeof(err));
		unsigned long struck = fault_struck();
		fault_set("", NULL, 0, EIO);
		cr_assert_eq(rc, 0, "%u threads: %s", cases[k].threads, err);
		cr_expect_eq(struck, 1, "%u threads: the bind was refused once", cases[k].threads);
		cr_expect(ask_one(2000), "%u threads: not answered", cases[k].threads);
		finish(d);
	}
}

/* The report log cannot be opened: the start fails naming the directory. */
Test(dnsio_faults, report_log_that_cannot_open_refuses_the_start)
{
	const struct start_fault f = {"127.0.0.1", 0, DNSIO_IO_AUTO, "open", "client-reports", 0,
			EACCES, "dns: report log in /tmp/roster-dnsio-faults-"};
	start_fault_run(&f);
}

/* io_uring accepted by the probe, then refused for a worker's own ring: the
 * start fails with the path named (no silent fallback once chosen). */
Test(dnsio_faults, worker_ring_that_cannot_be_set_up_refuses_the_start)
{
	if (dnsio_uring_probe() != 0) {
		cr_log_warn("io_uring refused here: the ring's setup cannot fail later");
		return;
	}
	const struct start_fault faults[] = {
			{"127.0.0.1", 1, DNSIO_IO_URING, "io_uring_queue_init_params", NULL, 2,
					ENOMEM, "cannot start 1 worker threads (uring)"},
			{"127.0.0.1", 1, DNSIO_IO_URING, "io_uring_register_buf_ring", NULL, 2,
					ENOMEM, "cannot start 1 worker threads (uring)"},
	};
	for (size_t k = 0; k < sizeof(faults) / sizeof(faults[0]); k++) {
		start_fault_run(&faults[k]);
	}
}

/* ---- path MTU ---------------------------------------------------------------- */

/* The path MTU discovery setting of UDP socket @p fd (of the test's family). */
static int pmtu_of(int fd)
{
	int v = -1;
	socklen_t l = sizeof(v);
	int level = family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
	int name = family == AF_INET6 ? IPV6_MTU_DISCOVER : IP_MTU_DISCOVER;
	cr_assert_eq(getsockopt(fd, level, name, &v, &l), 0, "%s", strerror(errno));
	return v;
}

/* Every UDP socket, the main loop's and a worker's own, IPv4 and IPv6,
 * ignores path MTU updates (RFC 9715 R1): IP_PMTUDISC_OMIT, or _DONT where
 * the kernel refuses OMIT; where it refuses both, the socket still answers. */
Test(dnsio_faults, udp_sockets_ignore_path_mtu_updates)
{
	const char *hosts[] = {"127.0.0.1", "::1"};
	for (size_t h = 0; h < 2; h++) {
		for (uint32_t threads = 0; threads <= 2; threads += 2) {
			env_init(hosts[h]);
			struct dnsio *d;
			char err[256];
			cr_assert_eq(start(threads, DNSIO_IO_AUTO, &d, err, sizeof(err)), 0, "%s",
					err);
			cr_expect_eq(pmtu_of(d->udp[0].s.fd), IP_PMTUDISC_OMIT, "%s -t%u", hosts[h],
					threads);
			if (threads == 2) {
				cr_expect_eq(pmtu_of(d->workers[1]->sock[0].fd), IP_PMTUDISC_OMIT,
						"%s: a worker's own socket", hosts[h]);
			}
			cr_expect(ask_one(2000), "%s -t%u answered", hosts[h], threads);
			finish(d);
		}
		const char *what = h == 0 ? "udp4 IP_MTU_DISCOVER" : "udp6 IPV6_MTU_DISCOVER";
		/* The first attempt refused: the fallback. */
		env_init(hosts[h]);
		fault_set("setsockopt", what, 1, EINVAL);
		struct dnsio *d;
		char err[256];
		cr_assert_eq(start(0, DNSIO_IO_AUTO, &d, err, sizeof(err)), 0, "%s", err);
		fault_set("", NULL, 0, EIO);
		cr_expect_eq(pmtu_of(d->udp[0].s.fd), IP_PMTUDISC_DONT, "%s: OMIT refused",
				hosts[h]);
		cr_expect(ask_one(2000));
		finish(d);
		/* Every attempt refused: the socket keeps the kernel's default. */
		env_init(hosts[h]);
		fault_set("setsockopt", what, 0, EINVAL);
		cr_assert_eq(start(0, DNSIO_IO_AUTO, &d, err, sizeof(err)), 0, "%s", err);
		cr_expect_eq(fault_struck(), 2, "both settings tried");
		fault_set("", NULL, 0, EIO);
		cr_expect(ask_one(2000), "%s: answers without it", hosts[h]);
		finish(d);
	}
}

/* ---- failures while running ---------------------------------------------------- */

struct dropped {
	struct dnsio *d;
	uint64_t want;
};

static bool dropped_cond(void *arg)
{
	struct dropped *x = arg;
	struct dnsio_counters c;
	dnsio_counters_get(x->d, &c);
	return c.udp_send_dropped >= x->want;
}

/* Replies the socket does not take are dropped and counted; the next ones
 * go out. @p call: what fails to send. */
static void send_fault_run(uint32_t threads, enum dnsio_io io, const char *call, const char *path)
{
	env_init("127.0.0.1");
	struct dnsio *d;
	char err[256];
	cr_assert_eq(start(threads, io, &d, err, sizeof(err)), 0, "%s", err);
	cr_assert(ask_one(2000), "answered before the fault");
	fault_set(call, path, 0, EAGAIN);
	for (int i = 0; i < 3; i++) {
		cr_expect_not(ask_one(50), "%s failed, yet a reply came", call);
	}
	struct dropped x = {d, 3};
	cr_expect(wait_for(dropped_cond, &x, 5000), "%s: 3 replies dropped and counted", call);
	fault_set("", NULL, 0, EIO);
	cr_expect_eq(ask_each(5), 5, "answered again once %s works", call);
	struct dnsio_counters c;
	dnsio_counters_get(d, &c);
	cr_expect_eq(c.udp_send_dropped, 3, "%s: one drop per reply", call);
	cr_expect_eq(dnsio_queries_total(d), 9, "each query answered, sent or not");
	finish(d);
}

Test(dnsio_faults, replies_not_sent_are_counted_and_the_next_go_out)
{
	send_fault_run(0, DNSIO_IO_AUTO, "sendmmsg", "udp4");
	send_fault_run(1, DNSIO_IO_MMSG, "sendmmsg", "udp4");
}

/* io_uring: a burst larger than the buffer ring and the send slots, its
 * replies held back (io_uring_submit() fails between batches, so no send
 * completes and frees a slot until the worker waits again): each query is
 * either answered or counted as dropped, none lost unaccounted, and the
 * receive goes on after the buffers ran out. The worker is held on the
 * store lock while the burst arrives, so that it all waits at once. */
Test(dnsio_faults, uring_burst_past_its_slots_is_answered_or_counted)
{
	if (dnsio_uring_probe() != 0) {
		cr_log_warn("io_uring refused here");
		return;
	}
	env_init("127.0.0.1");
	struct dnsio *d;
	char err[256];
	cr_assert_eq(start(1, DNSIO_IO_URING, &d, err, sizeof(err)), 0, "%s", err);
	cr_assert(ask_one(2000));
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	int big = 1 << 20;
	cr_assert_eq(setsockopt(s, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big)), 0);
	struct sockaddr_storage to;
	socklen_t tl = server_addr(&to);
	enum { BURST = 300 };
	fault_set("io_uring_submit", NULL, 0, EBUSY);
	rs_lockset_write_lock(&d->lock);
	for (int i = 0; i < BURST; i++) {
		uint8_t q[64];
		size_t len = soa_query(q, (uint16_t)i);
		cr_assert_eq(sendto(s, q, len, 0, (struct sockaddr *)&to, tl), (ssize_t)len);
	}
	rs_lockset_write_unlock(&d->lock);
	int answered = 0;
	uint64_t dropped = 0;
	uint64_t end = rs_clock_mono_ms() + 10000;
	while (answered + (int)dropped < BURST && rs_clock_mono_ms() < end) {
		uv_run(&loop, UV_RUN_NOWAIT);
		struct pollfd p = {s, POLLIN, 0};
		(void)poll(&p, 1, 1);
		uint8_t r[512];
		while (recv(s, r, sizeof(r), MSG_DONTWAIT) > 12) {
			answered++;
		}
		struct dnsio_counters c;
		dnsio_counters_get(d, &c);
		dropped = c.udp_send_dropped;
	}
	fault_set("", NULL, 0, EIO);
	close(s);
	cr_expect_eq(answered + (int)dropped, BURST, "answered %d, dropped %lu", answered,
			(unsigned long)dropped);
	cr_expect_eq(dnsio_queries_total(d), BURST + 1, "every query was answered");
	cr_expect_eq(ask_each(3), 3, "answered again");
	finish(d);
}

/* A worker that stopped has closed its own sockets (worker 0's are
 * io->udp's). */
static bool socket_closed_cond(void *arg)
{
	struct dnsio *d = arg;
	return __atomic_load_n(&d->udp[0].s.fd, __ATOMIC_ACQUIRE) < 0 ||
	       __atomic_load_n(&d->workers[1]->sock[0].fd, __ATOMIC_ACQUIRE) < 0;
}

/* A worker whose wait fails (epoll_wait, io_uring_enter) or whose ring
 * cannot be armed stops with an error line and closes its own sockets: the
 * kernel moves their flows to the other worker, so every query from 64
 * sources is still answered. */
static void worker_stop_run(enum dnsio_io io, const char *call, const char *path, const char *line)
{
	env_init("127.0.0.1");
	fault_set(call, path, 1, EIO);
	struct dnsio *d;
	char err[256];
	cr_assert_eq(start(2, io, &d, err, sizeof(err)), 0, "%s", err);
	unsigned long one = 1;
	cr_assert(wait_for(struck_cond, &one, 5000), "%s never failed", call);
	fault_set("", NULL, 0, EIO);
	/* Queries sent before its sockets closed would be lost with them. */
	cr_assert(wait_for(socket_closed_cond, d, 5000), "%s: no socket was closed", call);
	cr_expect_eq(ask_each(64), 64, "%s: the other worker answers every flow", call);
	finish(d); /* joins the worker that stopped, too */
	cr_expect(logged(line), "%s: no '%s' logged", call, line);
}

/* A wait interrupted or refused for a moment (EINTR; io_uring's EAGAIN,
 * EBUSY, ETIME) is waited again: the worker goes on answering and logs
 * nothing. */
static void worker_wait_retried(enum dnsio_io io, const char *call, const char *path, int err)
{
	env_init("127.0.0.1");
	fault_set(call, path, 1, err);
	struct dnsio *d;
	char msg[256];
	cr_assert_eq(start(1, io, &d, msg, sizeof(msg)), 0, "%s", msg);
	unsigned long one = 1;
	cr_assert(wait_for(struck_cond, &one, 5000), "%s never failed", call);
	cr_expect_eq(ask_each(4), 4, "%s: %s, and the worker goes on", call, strerror(err));
	finish(d);
	cr_expect_not(logged("it stops"), "%s: %s stopped the worker", call, strerror(err));
}

Test(dnsio_faults, a_wait_interrupted_is_waited_again)
{
	worker_wait_retried(DNSIO_IO_MMSG, "epoll_wait", "udp4", EINTR);
	if (dnsio_uring_probe() != 0) {
		return;
	}
	const int errs[] = {EINTR, EAGAIN, EBUSY, ETIME};
	for (size_t k = 0; k < sizeof(errs) / sizeof(errs[0]); k++) {
		worker_wait_retried(DNSIO_IO_URING, "io_uring_submit_and_wait", NULL, errs[k]);
	}
}

Test(dnsio_faults, a_worker_that_stops_loses_no_queries)
{
	worker_stop_run(DNSIO_IO_MMSG, "epoll_wait", "udp4",
			"dns: worker: epoll_wait: Input/output error; it stops");
	if (dnsio_uring_probe() != 0) {
		return;
	}
	worker_stop_run(DNSIO_IO_URING, "io_uring_submit_and_wait", NULL,
			"dns: io_uring worker: Input/output error; it stops");
	worker_stop_run(DNSIO_IO_URING, "io_uring_register", NULL,
			"dns: io_uring worker cannot start: Input/output error");
}

/* Sockets the ring cannot take as registered files (the second
 * io_uring_register of a lone worker, after enabling its ring) are named by
 * their descriptors: the worker answers on a loopback address (sends with
 * an address) and on a wildcard one (sendmsg with the packet-info back),
 * and when told to stop it has nothing to unregister. */
Test(dnsio_faults, sockets_the_ring_cannot_register_are_used_by_fd)
{
	if (dnsio_uring_probe() != 0) {
		return;
	}
	static const char *hosts[] = {"127.0.0.1", "0.0.0.0"};
	for (size_t h = 0; h < 2; h++) {
		env_init(hosts[h]);
		fault_set("io_uring_register", NULL, 2, EIO);
		struct dnsio *d;
		char err[256];
		cr_assert_eq(start(1, DNSIO_IO_URING, &d, err, sizeof(err)), 0, "%s", err);
		unsigned long one = 1;
		cr_assert(wait_for(struck_cond, &one, 5000), "%s: the registration never failed",
				hosts[h]);
		fault_set("", NULL, 0, EIO);
		cr_expect_eq(ask_each(4), 4, "%s: answered through the descriptors", hosts[h]);
		finish(d);
		cr_expect_not(logged("io_uring worker"), "%s: nothing to say about it", hosts[h]);
	}
}

/* ---- NOTIFY ----------------------------------------------------------------- */

static struct notify *notify_make(const char *target)
{
	struct sockaddr_storage ss;
	cr_assert_eq(rs_endpoint_parse(target, 53, &ss), 0, "%s", target);
	const struct notify_config nc = {.zone = "services.lon6.example.net.",
			.mname = "ns1.example.net.",
			.rname = "hostmaster.example.net.",
			.ttl = 5,
			.refresh = 60,
			.retry = 30,
			.expire = 604800,
			.minimum = 5,
			.targets = &ss,
			.ntargets = 1,
			.retry_first_ms = 20,
			.retry_max_ms = 40};
	struct notify *n;
	char err[256];
	cr_assert_eq(notify_new(&nc, &n, err, sizeof(err)), 0, "%s", err);
	return n;
}

static void notify_finish(struct notify *n)
{
	notify_stop(n);
	uv_run(&loop, UV_RUN_DEFAULT);
	notify_free(n);
	cr_expect_eq(uv_loop_close(&loop), 0, "a handle was left open");
}

/* Its sockets cannot be opened or bound: notify_start() fails naming what. */
Test(dnsio_faults, notify_without_a_socket_does_not_start)
{
	const struct {
		const char *target, *call, *path, *want;
	} faults[] = {
			{"127.0.0.1:5300", "socket", "udp4", "notify: cannot open a UDP socket"},
			{"[::1]:5300", "bind", "udp6", "notify: cannot bind an IPv6 UDP socket"},
			{"127.0.0.1:5300", "bind", "udp4",
					"notify: cannot bind an IPv4 UDP socket"},
	};
	for (size_t k = 0; k < sizeof(faults) / sizeof(faults[0]); k++) {
		cr_assert_eq(uv_loop_init(&loop), 0);
		struct notify *n = notify_make(faults[k].target);
		fault_set(faults[k].call, faults[k].path, 0, EACCES);
		char err[256] = "";
		int rc = notify_start(n, &loop, NULL, err, sizeof(err));
		fault_set("", NULL, 0, EIO);
		cr_expect_lt(rc, 0);
		cr_expect(strstr(err, faults[k].want) != NULL, "'%s' lacks '%s'", err,
				faults[k].want);
		notify_finish(n);
	}
}

struct acked {
	struct notify *n;
	int secondary;
};

/* The secondary: acknowledge each NOTIFY it has received. */
static bool acked_cond(void *arg)
{
	struct acked *a = arg;
	uint8_t m[600];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t k;
	while ((k = recvfrom(a->secondary, m, sizeof(m), MSG_DONTWAIT, (struct sockaddr *)&from,
				&fl)) >= 12) {
		rs_wire_store_u16(m + 2, (uint16_t)(rs_wire_load_u16(m + 2) | DNSWIRE_QR));
		(void)sendto(a->secondary, m, (size_t)k, 0, (struct sockaddr *)&from, fl);
	}
	struct notify_counters c;
	notify_counters_get(a->n, &c);
	return c.acked >= 1;
}

static bool failed_cond(void *arg)
{
	struct notify_counters c;
	notify_counters_get(arg, &c);
	return c.failed >= 2;
}

/* A NOTIFY the socket refuses is counted as failed, logged once ("cannot
 * send"), and retried; once the socket sends, the secondary acknowledges it
 * and that is logged too. */
Test(dnsio_faults, notify_unsendable_is_retried_until_it_goes_out)
{
	cr_assert_eq(uv_loop_init(&loop), 0);
	int sec = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	cr_assert_eq(bind(sec, (struct sockaddr *)&sin, sizeof(sin)), 0);
	socklen_t sl = sizeof(sin);
	cr_assert_eq(getsockname(sec, (struct sockaddr *)&sin, &sl), 0);
	char target[64];
	snprintf(target, sizeof(target), "127.0.0.1:%u", ntohs(sin.sin_port));
	struct notify *n = notify_make(target);
	char err[256];
	cr_assert_eq(notify_start(n, &loop, NULL, err, sizeof(err)), 0, "%s", err);
	fault_set("sendmsg", "udp4", 0, ENOBUFS);
	notify_zone_changed(n, 7);
	cr_expect(wait_for(failed_cond, n, 5000), "the sends failed and were counted");
	fault_set("", NULL, 0, EIO);
	struct acked a = {n, sec};
	cr_expect(wait_for(acked_cond, &a, 5000), "acknowledged once the socket sends");
	struct notify_counters c;
	notify_counters_get(n, &c);
	cr_expect_geq(c.retried, 1, "the one that went out was a retry");
	cr_expect_eq(c.sent, 0, "the first transmission never went out");
	notify_finish(n);
	close(sec);
	cr_expect(logged("notify: cannot send to 127.0.0.1:"), "the failure is logged");
	cr_expect(logged("acknowledged serial 7"), "the recovery is logged");
}
