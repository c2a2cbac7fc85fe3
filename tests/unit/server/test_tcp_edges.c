/*
 * The TCP server (server/net/tcp.c) on the paths a well-behaved client never
 * takes: an opened hook that refuses, a client that resets (idle, or with
 * our output queued and reading paused), a graceful close behind a queued
 * answer, a peer that never sends its FIN while we linger, a protocol
 * without an expired hook, an empty send, and a failed accept(2) (through
 * tests/faults/sysfault.c, preloaded: the listener must keep accepting).
 * Real sockets on 127.0.0.1; every test ends with uv_loop_close() == 0.
 *
 * The protocol: lines ending in '\n'. "BIG" queues 4 MiB in 64 KiB sends,
 * "GBIG" does so then closes gracefully, "BYE" answers "bye" and closes
 * gracefully, "ZERO" sends nothing and answers "z"; others are echoed.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "allocfail.h"
#include "common/error.h"
#include "server/net/tcp.h"
#include "tcp_fixture.h"

struct edge_conn {
	size_t len;
	char buf[256];
};

static struct {
	int opened;
	int closed[NET_TCP_CLOSE_STOP + 1];
	int closed_total;
	int stopped;
	bool refuse_open;
} n;

static int edge_opened(struct net_tcp_conn *c)
{
	(void)c;
	n.opened++;
	return n.refuse_open ? -1 : 0;
}

static void edge_alloc(struct net_tcp_conn *c, char **base, size_t *len)
{
	struct edge_conn *ec = net_tcp_conn_data(c);
	*base = ec->buf + ec->len;
	*len = sizeof(ec->buf) - ec->len;
}

static void edge_big(struct net_tcp_conn *c)
{
	for (size_t sent = 0; sent < BIG_BYTES && !net_tcp_conn_backlogged(c); sent += BIG_CHUNK) {
		if (net_tcp_conn_send(c, big, BIG_CHUNK) < 0) {
			return;
		}
	}
}

static void edge_serve(struct net_tcp_conn *c, const char *line, size_t len)
{
	net_tcp_conn_frame_done(c);
	if (len == 3 && memcmp(line, "BIG", 3) == 0) {
		edge_big(c);
	} else if (len == 4 && memcmp(line, "GBIG", 4) == 0) {
		edge_big(c);
		cr_expect_gt(net_tcp_conn_queued(c), 0, "the answer is still queued");
		net_tcp_conn_close_graceful(c);
		net_tcp_conn_close_graceful(c); /* once */
		net_tcp_conn_frame_done(c);     /* no new deadline once closing */
		cr_expect_eq(net_tcp_conn_send(c, "x", 1), RS_EIO, "nothing after a close");
	} else if (len == 3 && memcmp(line, "BYE", 3) == 0) {
		cr_expect_eq(net_tcp_conn_send(c, "bye\n", 4), 0);
		net_tcp_conn_close_graceful(c);
	} else if (len == 4 && memcmp(line, "MANY", 4) == 0) {
		/* More buffers than one try_write takes: queued whole, in order. */
		static char digits[] = "0123456789";
		struct iovec v[11];
		for (size_t k = 0; k < 10; k++) {
			v[k] = (struct iovec){digits + k, 1};
		}
		v[10] = (struct iovec){"\n", 1};
		cr_expect_eq(net_tcp_conn_sendv(c, v, 11), 0);
	} else if (len == 4 && memcmp(line, "ZERO", 4) == 0) {
		struct iovec none[2] = {{big, 0}, {big, 0}};
		cr_expect_eq(net_tcp_conn_sendv(c, none, 2), 0);
		cr_expect_eq(net_tcp_conn_queued(c), 0);
		cr_expect_eq(net_tcp_conn_send(c, "z\n", 2), 0);
	} else {
		struct iovec v[2] = {{(void *)line, len}, {"\n", 1}};
		(void)net_tcp_conn_sendv(c, v, 2);
	}
}

static void edge_read(struct net_tcp_conn *c, const char *data, size_t len)
{
	(void)data;
	struct edge_conn *ec = net_tcp_conn_data(c);
	ec->len += len;
	tcp_fixture_lines(c, ec->buf, &ec->len, edge_serve);
}

static void edge_closed(struct net_tcp_conn *c, enum net_tcp_close_reason why)
{
	(void)c;
	n.closed[why]++;
	n.closed_total++;
}

static void edge_stopped(void *user)
{
	cr_expect_eq(user, &n);
	n.stopped++;
}

/* No expired, drained or resumed hook: the deadline closes, and counts, on
 * its own; a paused connection resumes reading on its own. */
static const struct net_tcp_ops edge_ops = {
		.opened = edge_opened,
		.alloc = edge_alloc,
		.read = edge_read,
		.closed = edge_closed,
};

static void setup(void)
{
	memset(&n, 0, sizeof(n));
	tcp_fixture_init();
}

static void teardown(void)
{
	net_tcp_stop(tcp);
	net_tcp_stop(tcp); /* a second stop does nothing */
	tcp = NULL;
	net_tcp_stop(NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_expect_eq(n.stopped, 1, "stopped runs once");
	tcp_fixture_fini();
}

TestSuite(tcp_edges, .init = setup, .fini = teardown);

static void start(struct net_tcp_limits lim, enum net_tcp_overflow overflow, uint32_t linger_ms)
{
	tcp_fixture_start((struct net_tcp_config){
			.name = "edge",
			.note = "(test)",
			.backlog = 16,
			.limits = lim,
			.overflow = overflow,
			.linger_ms = linger_ms,
			.conn_size = sizeof(struct edge_conn),
			.ops = &edge_ops,
			.user = &n,
			.stopped = edge_stopped,
	});
}

static bool paused(void)
{
	return counters()->paused >= 1;
}

static bool one_closed(void)
{
	return n.closed_total >= 1;
}

/* A client, connected and accepted; @p rcvbuf > 0 shrinks its receive
 * buffer first (a slow reader). */
static int client(int rcvbuf)
{
	return tcp_fixture_accepted(tcp_fixture_socket(rcvbuf));
}

/* Close @p fd with a reset (SO_LINGER 0) instead of a FIN. */
static void reset(int fd)
{
	struct linger l = {1, 0};
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)), 0);
	close(fd);
}

/* Read everything until EOF (or 5 s of silence); the byte count. */
static size_t drain(int fd, bool *eof)
{
	static char b[1 << 16];
	size_t total = 0;
	*eof = false;
	while (pump_readable(fd, 5000)) {
		ssize_t got = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (got == 0) {
			*eof = true;
			break;
		}
		if (got < 0 && errno != EAGAIN) {
			break;
		}
		total += got > 0 ? (size_t)got : 0;
	}
	return total;
}

Test(tcp_edges, an_opened_hook_that_fails_closes_the_connection)
{
	start(roomy, NET_TCP_OVERFLOW_CLOSE, 2000);
	n.refuse_open = true;
	int fd = client(0);
	cr_assert(pump_until(one_closed, 3000));
	cr_expect_eq(n.opened, 1);
	cr_expect_eq(n.closed[NET_TCP_CLOSE_LOCAL], 1);
	bool eof;
	cr_expect_eq(drain(fd, &eof), 0);
	cr_expect(eof, "the client sees the close");
	cr_expect_eq(counters()->open, 0);
	close(fd);
}

Test(tcp_edges, a_client_reset_closes_its_connection_as_an_error)
{
	start(roomy, NET_TCP_OVERFLOW_CLOSE, 2000);
	int fd = client(0);
	say(fd, "hi\n");
	cr_assert(pump_readable(fd, 3000));
	reset(fd);
	cr_assert(pump_until(one_closed, 3000));
	cr_expect_eq(n.closed[NET_TCP_CLOSE_ERROR], 1, "a reset is an error, not an EOF");
	cr_expect_eq(n.closed[NET_TCP_CLOSE_EOF], 0);
}

Test(tcp_edges, a_reset_with_output_queued_and_reading_paused_closes_once)
{
	struct net_tcp_limits lim = roomy;
	lim.max_outbuf = 128u << 10;
	start(lim, NET_TCP_OVERFLOW_PAUSE, 2000);
	int fd = client(4096);
	say(fd, "BIG\n");
	cr_assert(pump_until(paused, 3000), "the slow reader was paused");
	reset(fd);
	cr_assert(pump_until(one_closed, 3000), "the failed write closes it");
	cr_expect_eq(n.closed[NET_TCP_CLOSE_ERROR], 1);
	cr_expect_eq(n.closed_total, 1);
	cr_expect_eq(counters()->open, 0);
}

Test(tcp_edges, a_graceful_close_behind_a_queued_answer_sends_it_all_first)
{
	start(roomy, NET_TCP_OVERFLOW_CLOSE, 2000);
	int fd = client(0);
	say(fd, "GBIG\n");
	bool eof;
	cr_expect_eq(drain(fd, &eof), BIG_BYTES, "the whole answer, then the FIN");
	cr_expect(eof);
	close(fd);
	cr_assert(pump_until(one_closed, 3000));
	cr_expect_eq(n.closed[NET_TCP_CLOSE_LOCAL], 1, "our close, after their FIN");
}

Test(tcp_edges, a_peer_that_never_sends_its_fin_is_cut_at_the_linger_bound)
{
	start(roomy, NET_TCP_OVERFLOW_CLOSE, 150);
	int fd = client(0);
	say(fd, "BYE\n");
	char b[16];
	cr_assert(pump_readable(fd, 3000));
	cr_expect_eq(recv(fd, b, sizeof(b), 0), 4);
	uint64_t t0 = now_ms();
	cr_assert(pump_until(one_closed, 3000), "the linger bound closes it");
	uint64_t took = now_ms() - t0;
	cr_expect_eq(n.closed[NET_TCP_CLOSE_LOCAL], 1);
	cr_expect_lt(took, 2000, "the linger bound (150 ms), not the idle time (5 s)");
	cr_expect_eq(counters()->timed_out, 0, "lingering is no timeout");
	close(fd);
}

Test(tcp_edges, without_an_expired_hook_the_deadline_closes_and_counts)
{
	struct net_tcp_limits lim = roomy;
	lim.idle_ms = 100;
	start(lim, NET_TCP_OVERFLOW_CLOSE, 2000);
	int fd = client(0);
	cr_assert(pump_until(one_closed, 3000));
	cr_expect_eq(n.closed[NET_TCP_CLOSE_TIMEOUT], 1);
	cr_expect_eq(counters()->timed_out, 1);
	close(fd);
}

Test(tcp_edges, an_empty_send_is_nothing_and_the_next_one_goes_out)
{
	start(roomy, NET_TCP_OVERFLOW_CLOSE, 2000);
	int fd = client(0);
	say(fd, "ZERO\n");
	char b[16];
	cr_assert(pump_readable(fd, 3000));
	cr_expect_eq(recv(fd, b, sizeof(b), 0), 2);
	cr_expect_eq(memcmp(b, "z\n", 2), 0);
	close(fd);
	cr_assert(pump_until(one_closed, 3000));
	cr_expect_eq(n.closed[NET_TCP_CLOSE_EOF], 1);
}

typedef void (*sysfault_set_fn)(const char *calls, const char *path, unsigned long nth, int err);
typedef unsigned long (*sysfault_struck_fn)(void);

Test(tcp_edges, a_failed_accept_is_logged_and_the_listener_keeps_accepting)
{
	sysfault_set_fn fault_set = (sysfault_set_fn)dlsym(RTLD_DEFAULT, "sysfault_set");
	sysfault_struck_fn struck = (sysfault_struck_fn)dlsym(RTLD_DEFAULT, "sysfault_struck");
	cr_assert_not_null(fault_set, "run with tests/faults/sysfault preloaded");
	cr_assert_not_null(struck);
	start(roomy, NET_TCP_OVERFLOW_CLOSE, 2000);
	fault_set("accept4", "tcp4", 1, EPERM);
	int fd = client(0); /* the failed accept, then libuv's next one takes it */
	cr_expect_eq(struck(), 1, "accept4 failed once");
	fault_set("", NULL, 0, EIO);
	cr_expect_eq(counters()->accepted, 1);
	say(fd, "ping\n");
	char b[16];
	cr_assert(pump_readable(fd, 3000));
	cr_expect_eq(recv(fd, b, sizeof(b), 0), 5, "served after the failed accept");
	cr_expect_eq(memcmp(b, "ping\n", 5), 0);
	close(fd);
	cr_assert(pump_until(one_closed, 3000));
}

Test(tcp_edges, a_paused_slow_reader_resumes_without_hooks_once_it_reads)
{
	struct net_tcp_limits lim = roomy;
	lim.max_outbuf = 128u << 10;
	start(lim, NET_TCP_OVERFLOW_PAUSE, 2000);
	int fd = client(4096);
	say(fd, "BIG\n");
	cr_assert(pump_until(paused, 3000), "the slow reader was paused");
	static char b[1 << 16];
	size_t got = 0;
	while (got < BIG_CHUNK * 2 && pump_readable(fd, 3000)) {
		ssize_t r = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		got += r > 0 ? (size_t)r : 0;
	}
	cr_assert_geq(got, BIG_CHUNK * 2, "the answer arrives");
	/* Everything queued arrives; then a new line is served again. */
	uint64_t end = now_ms() + 5000;
	while (now_ms() < end && pump_readable(fd, 200)) {
		(void)recv(fd, b, sizeof(b), MSG_DONTWAIT);
	}
	say(fd, "ping\n");
	cr_assert(pump_readable(fd, 3000), "served after the resume");
	ssize_t r = recv(fd, b, sizeof(b), 0);
	cr_expect_eq(r, 5);
	cr_expect_eq(memcmp(b, "ping\n", 5), 0);
	cr_expect_eq(n.closed_total, 0);
	close(fd);
	cr_assert(pump_until(one_closed, 3000));
	cr_expect_eq(n.closed[NET_TCP_CLOSE_EOF], 1);
}

Test(tcp_edges, more_buffers_than_one_write_takes_go_out_in_order)
{
	start(roomy, NET_TCP_OVERFLOW_CLOSE, 2000);
	int fd = client(0);
	say(fd, "MANY\nMANY\n");
	char b[64];
	size_t have = 0;
	while (have < 22 && pump_readable(fd, 3000)) {
		ssize_t r = recv(fd, b + have, sizeof(b) - 1 - have, MSG_DONTWAIT);
		have += r > 0 ? (size_t)r : 0;
	}
	b[have] = '\0';
	cr_expect_str_eq(b, "0123456789\n0123456789\n");
	close(fd);
	cr_assert(pump_until(one_closed, 3000));
}

static bool stopped(void)
{
	return n.stopped == 1;
}

Test(tcp_edges, a_set_without_addresses_starts_and_stops)
{
	const struct net_tcp_config cfg = {
			.name = "none",
			.naddrs = 0,
			.limits = roomy,
			.ops = &edge_ops,
			.user = &n,
			.stopped = edge_stopped,
	};
	char err[64];
	cr_assert_eq(net_tcp_start(&loop, &cfg, &tcp, err, sizeof(err)), 0, "%s", err);
	struct sockaddr_storage a;
	cr_expect_eq(net_tcp_address(tcp, 0, &a), RS_ERANGE);
	net_tcp_stop(tcp);
	tcp = NULL;
	cr_expect(pump_until(stopped, 3000));
}

/* ---- accepts without memory, over two listeners (tests/faults/allocfail.h) */

static struct sockaddr_storage addrs2[2];

static void start2(void)
{
	for (int k = 0; k < 2; k++) {
		tcp_fixture_loopback(&addrs2[k]);
	}
	const struct net_tcp_config cfg = {
			.name = "two",
			.addrs = addrs2,
			.naddrs = 2,
			.backlog = 16,
			.limits = roomy,
			.linger_ms = 2000,
			.conn_size = sizeof(struct edge_conn),
			.ops = &edge_ops,
			.user = &n,
			.stopped = edge_stopped,
	};
	char err[256];
	cr_assert_eq(net_tcp_start(&loop, &cfg, &tcp, err, sizeof(err)), 0, "%s", err);
	for (int k = 0; k < 2; k++) {
		cr_assert_eq(net_tcp_address(tcp, (size_t)k, &addrs2[k]), 0);
	}
}

static int connect_to(const struct sockaddr_storage *a)
{
	return tcp_fixture_connect(tcp_fixture_socket(0), a);
}

static bool two_opened(void)
{
	return n.opened == 2;
}

static bool two_closed(void)
{
	return n.closed_total >= 2;
}

Test(tcp_edges, accepts_without_memory_on_two_listeners_are_both_retried)
{
	start2();
	allocfail_arm_from(1);
	int a = connect_to(&addrs2[0]);
	int b = connect_to(&addrs2[1]);
	/* Both listeners meet the failure; one retry timer serves them. */
	pump(200);
	bool struck = allocfail_struck();
	allocfail_disarm();
	cr_expect(struck);
	cr_expect_eq(n.opened, 0, "nothing opened without memory");
	cr_assert(pump_until(two_opened, 3000), "both accepted once memory is back");
	cr_expect_eq(counters()->accepted, 2);
	close(a);
	close(b);
	pump_until(two_closed, 3000);
	cr_expect_eq(n.closed[NET_TCP_CLOSE_EOF], 2);
}

Test(tcp_edges, a_stop_while_an_accept_waits_for_memory_ends_cleanly)
{
	start2();
	allocfail_arm_from(1);
	int a = connect_to(&addrs2[0]);
	pump(100);
	bool struck = allocfail_struck();
	allocfail_disarm();
	cr_expect(struck);
	net_tcp_stop(tcp);
	tcp = NULL;
	cr_expect(pump_until(stopped, 3000), "stopped with an accept pending");
	cr_expect_eq(n.opened, 0);
	close(a);
}

/* ---- foreach skips what is not open ---------------------------------------- */

static void count_each(struct net_tcp_conn *c, void *arg)
{
	(void)c;
	++*(int *)arg;
}

static bool one_refused_open(void)
{
	return n.opened >= 1 && n.closed_total >= 1;
}

Test(tcp_edges, foreach_skips_lingering_and_refused_connections)
{
	start(roomy, NET_TCP_OVERFLOW_CLOSE, 5000);
	n.refuse_open = true;
	int r = client(0);
	cr_assert(pump_until(one_refused_open, 3000));
	n.refuse_open = false;
	int g = client(0);
	say(g, "BYE\n");
	char b[8];
	cr_assert(pump_readable(g, 3000));
	cr_expect_eq(recv(g, b, sizeof(b), 0), 4);
	int o = client(0);
	int seen = 0;
	net_tcp_foreach(tcp, count_each, &seen);
	cr_expect_eq(seen, 1, "only the open one; not the lingering nor the refused");
	cr_expect_eq(counters()->open, 2, "the lingering one is still counted open");
	close(r);
	close(g);
	close(o);
}

Test(tcp_edges, a_reset_right_behind_a_request_closes_once_as_an_error)
{
	start(roomy, NET_TCP_OVERFLOW_CLOSE, 2000);
	int fd = client(0);
	say(fd, "ping\nping\nping\n");
	reset(fd); /* the answers meet a reset socket, or the read does */
	cr_assert(pump_until(one_closed, 3000));
	cr_expect_eq(n.closed_total, 1);
	cr_expect_eq(n.closed[NET_TCP_CLOSE_EOF], 0, "a reset is no EOF");
	cr_expect_eq(n.closed[NET_TCP_CLOSE_ERROR], 1);
}
