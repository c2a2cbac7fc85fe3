/*
 * The one TCP server (server/net/tcp.c) on a private loop, with real sockets
 * on 127.0.0.1 and a small line protocol plugged in: the caps in all and per
 * source with the protocol's refusal word, the admit hook, limits reloaded
 * for the next connection, the idle and per-frame deadline (a client
 * trickling one byte at a time is closed all the same), backpressure with a
 * slow reader (closed, or paused then resumed), close-once with the free in
 * the close callback, the graceful close, and stop. Every test counts the
 * callbacks and ends with uv_loop_close() == 0.
 *
 * The protocol: lines ending in '\n'. Each whole line is a frame
 * (net_tcp_conn_frame_done()); "BIG" queues 4 MiB, "QUIT" closes (twice,
 * then gracefully: close-once), "BYE" answers "bye" and closes gracefully,
 * "KEEP" makes the deadline keep the connection, "LATE" makes it answer
 * "late" and close gracefully; any other line is echoed.
 * A refused connection gets "no <why>\n".
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "allocfail.h"
#include "common/error.h"
#include "server/net/tcp.h"
#include "tcp_fixture.h"

struct line_conn {
	bool keep; /* expired says: keep it */
	bool late; /* expired answers "late" and closes gracefully */
	size_t len;
	char buf[256];
};

/* What the callbacks saw. */
static struct {
	int opened;
	int refused[NET_TCP_REFUSED_DENIED + 1];
	int reads;
	int lines;
	int expired;
	int drained;
	int resumed;
	int lines_after_resume; /* lines read after a resume */
	int closed[NET_TCP_CLOSE_STOP + 1];
	int closed_total;
	int closed_inside_read; /* closed callbacks run from inside a read callback */
	int stopped;
	int big_rc; /* the first failed send of "BIG", or 0 */
	bool in_read;
	bool deny_all;
} n;

static int line_opened(struct net_tcp_conn *c)
{
	(void)c;
	n.opened++;
	return 0;
}

static void line_refused(struct net_tcp_conn *c, enum net_tcp_refusal why)
{
	static const char *const words[] = {
			"no total\n", "no source\n", "no memory\n", "no denied\n"};
	n.refused[why]++;
	cr_expect_eq(net_tcp_conn_send(c, words[why], strlen(words[why])), 0);
}

static void line_alloc(struct net_tcp_conn *c, char **base, size_t *len)
{
	struct line_conn *lc = net_tcp_conn_data(c);
	*base = lc->buf + lc->len;
	*len = sizeof(lc->buf) - lc->len;
}

static void line_big(struct net_tcp_conn *c)
{
	for (size_t sent = 0; sent < BIG_BYTES; sent += BIG_CHUNK) {
		int rc = net_tcp_conn_send(c, big, BIG_CHUNK);
		if (rc < 0) {
			n.big_rc = rc;
			return;
		}
		if (net_tcp_conn_backlogged(c)) {
			return; /* paused: the rest would only queue */
		}
	}
}

/* One whole line: answer it. */
static void line_serve(struct net_tcp_conn *c, const char *line, size_t len)
{
	struct line_conn *lc = net_tcp_conn_data(c);
	n.lines++;
	if (n.resumed > 0) {
		n.lines_after_resume++;
	}
	net_tcp_conn_frame_done(c);
	if (len == 3 && memcmp(line, "BIG", 3) == 0) {
		line_big(c);
	} else if (len == 4 && memcmp(line, "QUIT", 4) == 0) {
		net_tcp_conn_close(c);
		net_tcp_conn_close(c);
		net_tcp_conn_close_graceful(c);
		cr_expect(net_tcp_conn_closing(c));
		cr_expect_lt(net_tcp_conn_send(c, "x", 1), 0, "nothing is sent once closing");
	} else if (len == 3 && memcmp(line, "BYE", 3) == 0) {
		cr_expect_eq(net_tcp_conn_send(c, "bye\n", 4), 0);
		net_tcp_conn_close_graceful(c);
	} else if (len == 4 && memcmp(line, "KEEP", 4) == 0) {
		lc->keep = true;
	} else if (len == 4 && memcmp(line, "LATE", 4) == 0) {
		lc->late = true;
	} else {
		struct iovec v[2] = {{(void *)line, len}, {"\n", 1}};
		(void)net_tcp_conn_sendv(c, v, 2);
	}
}

static void line_read(struct net_tcp_conn *c, const char *data, size_t len)
{
	(void)data;
	struct line_conn *lc = net_tcp_conn_data(c);
	n.reads++;
	n.in_read = true;
	lc->len += len;
	tcp_fixture_lines(c, lc->buf, &lc->len, line_serve);
	if (lc->len == sizeof(lc->buf)) {
		net_tcp_conn_close(c); /* a line too long */
	}
	n.in_read = false;
}

static bool line_expired(struct net_tcp_conn *c)
{
	struct line_conn *lc = net_tcp_conn_data(c);
	n.expired++;
	if (lc->late) {
		cr_expect_eq(net_tcp_conn_send(c, "late\n", 5), 0);
		net_tcp_conn_close_graceful(c);
	}
	return !lc->keep;
}

static void line_drained(struct net_tcp_conn *c)
{
	(void)c;
	n.drained++;
}

static void line_resumed(struct net_tcp_conn *c)
{
	n.resumed++;
	line_read(c, NULL, 0); /* the lines that waited */
}

static void line_closed(struct net_tcp_conn *c, enum net_tcp_close_reason why)
{
	(void)c;
	n.closed[why]++;
	n.closed_total++;
	if (n.in_read) {
		n.closed_inside_read++;
	}
}

static const struct net_tcp_ops line_ops = {
		.opened = line_opened,
		.refused = line_refused,
		.alloc = line_alloc,
		.read = line_read,
		.expired = line_expired,
		.drained = line_drained,
		.resumed = line_resumed,
		.closed = line_closed,
};

static void line_stopped(void *user)
{
	cr_expect_eq(user, &n);
	n.stopped++;
}

static bool admit_hook(void *user, const struct sockaddr *peer)
{
	(void)user;
	cr_expect_eq(peer->sa_family, AF_INET);
	return !n.deny_all;
}

/* ---- the fixture ------------------------------------------------------------ */

static void setup(void)
{
	memset(&n, 0, sizeof(n));
	tcp_fixture_init();
}

static void teardown(void)
{
	if (tcp != NULL) {
		net_tcp_stop(tcp);
		tcp = NULL;
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_expect_eq(n.stopped, 1, "stopped runs once");
	cr_expect_eq(n.closed_inside_read, 0, "a connection is freed in its close callback");
	tcp_fixture_fini();
}

TestSuite(tcp, .init = setup, .fini = teardown);

static void start(struct net_tcp_limits lim, enum net_tcp_overflow overflow, bool with_hook)
{
	tcp_fixture_start((struct net_tcp_config){
			.name = "test",
			.backlog = 16,
			.limits = lim,
			.overflow = overflow,
			.linger_ms = 2000,
			.conn_size = sizeof(struct line_conn),
			.ops = &line_ops,
			.user = &n,
			.admit = with_hook ? admit_hook : NULL,
			.stopped = line_stopped,
	});
}

/* A client from @p source (NULL: 127.0.0.1), connected and accepted. */
static int client(const char *source)
{
	int fd = tcp_fixture_socket(0);
	if (source != NULL) {
		struct sockaddr_in from = {.sin_family = AF_INET};
		inet_pton(AF_INET, source, &from.sin_addr);
		cr_assert_eq(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
	}
	return tcp_fixture_accepted(fd);
}

/* Read until @p want bytes or EOF; returns the bytes read, NUL-terminated. */
static size_t hear(int fd, char *buf, size_t cap, size_t want, bool *eof)
{
	size_t have = 0;
	*eof = false;
	while (have < want && have < cap - 1 && pump_readable(fd, 3000)) {
		ssize_t got = recv(fd, buf + have, cap - 1 - have, MSG_DONTWAIT);
		if (got == 0 || (got < 0 && errno != EAGAIN)) {
			*eof = true;
			break;
		}
		have += got > 0 ? (size_t)got : 0;
	}
	buf[have] = '\0';
	return have;
}

/* Is the server's side closed: EOF or a reset within @p ms? */
static bool closed_by_server(int fd, unsigned ms)
{
	char b[64];
	uint64_t end = now_ms() + ms;
	while (pump_readable(fd, (unsigned)(end > now_ms() ? end - now_ms() : 1))) {
		ssize_t got = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (got == 0 || (got < 0 && errno != EAGAIN)) {
			return true;
		}
		if (now_ms() >= end) {
			break;
		}
	}
	return false;
}

/* ---- admission ----------------------------------------------------------------- */

Test(tcp, over_the_total_cap_gets_the_refusal_word_then_a_close)
{
	start((struct net_tcp_limits){2, 100, 5000, UINT64_MAX}, NET_TCP_OVERFLOW_CLOSE, false);
	int a = client(NULL), b = client(NULL), c = client(NULL);
	char buf[64];
	bool eof;
	hear(c, buf, sizeof(buf), 100, &eof);
	cr_expect_str_eq(buf, "no total\n");
	cr_expect(eof, "closed after the word");
	cr_expect_eq(n.opened, 2);
	cr_expect_eq(n.refused[NET_TCP_REFUSED_TOTAL], 1);
	cr_expect_eq(counters()->accepted, 3);
	cr_expect_eq(counters()->rejected, 1);
	cr_expect_eq(counters()->rejected_source, 0);
	/* The admitted ones are served. */
	say(a, "ping\n");
	hear(a, buf, sizeof(buf), 5, &eof);
	cr_expect_str_eq(buf, "ping\n");
	/* Closing one gives its place back. */
	close(b);
	pump(50);
	cr_expect_eq(n.closed[NET_TCP_CLOSE_EOF], 1);
	cr_expect_eq(counters()->open, 1);
	int d = client(NULL);
	say(d, "again\n");
	hear(d, buf, sizeof(buf), 6, &eof);
	cr_expect_str_eq(buf, "again\n");
	cr_expect_eq(n.opened, 3);
	close(a);
	close(c);
	close(d);
}

Test(tcp, per_source_cap_refuses_one_source_and_serves_another)
{
	start((struct net_tcp_limits){100, 1, 5000, UINT64_MAX}, NET_TCP_OVERFLOW_CLOSE, false);
	int a = client("127.0.0.1");
	int b = client("127.0.0.1");
	char buf[64];
	bool eof;
	hear(b, buf, sizeof(buf), 100, &eof);
	cr_expect_str_eq(buf, "no source\n");
	cr_expect(eof);
	int c = client("127.0.0.2");
	say(c, "hi\n");
	hear(c, buf, sizeof(buf), 3, &eof);
	cr_expect_str_eq(buf, "hi\n");
	cr_expect_eq(n.refused[NET_TCP_REFUSED_SOURCE], 1);
	cr_expect_eq(counters()->rejected, 1);
	cr_expect_eq(counters()->rejected_source, 1);
	cr_expect_eq(n.opened, 2);
	close(a);
	close(b);
	close(c);
}

Test(tcp, reloaded_limits_apply_to_the_next_connection)
{
	start((struct net_tcp_limits){1, 100, 5000, UINT64_MAX}, NET_TCP_OVERFLOW_CLOSE, false);
	int a = client(NULL);
	int b = client(NULL);
	cr_expect(closed_by_server(b, 2000));
	cr_expect_eq(counters()->rejected, 1);
	net_tcp_limits_set(tcp, &(struct net_tcp_limits){2, 100, 5000, UINT64_MAX});
	int c = client(NULL);
	char buf[64];
	bool eof;
	say(c, "in\n");
	hear(c, buf, sizeof(buf), 3, &eof);
	cr_expect_str_eq(buf, "in\n");
	/* Lowered below the open count: nobody admitted is cut. */
	net_tcp_limits_set(tcp, &(struct net_tcp_limits){1, 100, 5000, UINT64_MAX});
	say(a, "still\n");
	hear(a, buf, sizeof(buf), 6, &eof);
	cr_expect_str_eq(buf, "still\n");
	int d = client(NULL);
	cr_expect(closed_by_server(d, 2000));
	cr_expect_eq(counters()->rejected, 2);
	close(a);
	close(b);
	close(c);
	close(d);
}

Test(tcp, admit_hook_refuses_before_the_caps)
{
	start(roomy, NET_TCP_OVERFLOW_CLOSE, true);
	n.deny_all = true;
	int a = client(NULL);
	char buf[64];
	bool eof;
	hear(a, buf, sizeof(buf), 100, &eof);
	cr_expect_str_eq(buf, "no denied\n");
	cr_expect(eof);
	cr_expect_eq(counters()->denied, 1);
	cr_expect_eq(counters()->rejected, 0, "not counted at the caps");
	n.deny_all = false;
	int b = client(NULL);
	say(b, "ok\n");
	hear(b, buf, sizeof(buf), 3, &eof);
	cr_expect_str_eq(buf, "ok\n");
	close(a);
	close(b);
}

/* ---- the deadline ------------------------------------------------------------- */

Test(tcp, a_silent_client_is_closed_at_the_idle_time)
{
	start((struct net_tcp_limits){100, 100, 150, UINT64_MAX}, NET_TCP_OVERFLOW_CLOSE, false);
	uint64_t t0 = now_ms();
	int a = client(NULL);
	cr_expect(closed_by_server(a, 3000));
	cr_expect_geq(now_ms() - t0, 140);
	cr_expect_eq(n.expired, 1);
	cr_expect_eq(n.closed[NET_TCP_CLOSE_TIMEOUT], 1);
	cr_expect_eq(counters()->timed_out, 1);
	close(a);
}

Test(tcp, trickled_bytes_do_not_extend_the_frame_deadline)
{
	start((struct net_tcp_limits){100, 100, 300, UINT64_MAX}, NET_TCP_OVERFLOW_CLOSE, false);
	int a = client(NULL);
	uint64_t t0 = now_ms();
	bool closed = false;
	/* One byte every 50 ms, never a whole line: the frame never completes,
	 * and the bytes do not restart the deadline. */
	for (int i = 0; i < 40 && !closed; i++) {
		if (send(a, "x", 1, MSG_NOSIGNAL) != 1) {
			closed = true;
			break;
		}
		closed = closed_by_server(a, 50);
	}
	cr_expect(closed || closed_by_server(a, 2000), "the trickling client was closed");
	uint64_t took = now_ms() - t0;
	cr_expect_geq(took, 290);
	cr_expect_lt(took, 1200, "closed at the deadline, not later (%llu ms)",
			(unsigned long long)took);
	cr_expect_gt(n.reads, 1, "its bytes were read");
	cr_expect_eq(n.lines, 0);
	cr_expect_eq(counters()->timed_out, 1);
	close(a);
}

Test(tcp, whole_frames_restart_the_deadline)
{
	start((struct net_tcp_limits){100, 100, 300, UINT64_MAX}, NET_TCP_OVERFLOW_CLOSE, false);
	int a = client(NULL);
	char buf[16];
	bool eof;
	/* A whole line every 100 ms for three times the idle time. */
	for (int i = 0; i < 9; i++) {
		say(a, "t\n");
		hear(a, buf, sizeof(buf), 2, &eof);
		cr_assert_str_eq(buf, "t\n", "line %d", i);
		pump(100);
	}
	cr_expect_eq(counters()->timed_out, 0);
	cr_expect(closed_by_server(a, 3000), "then the silence is closed");
	cr_expect_eq(counters()->timed_out, 1);
	close(a);
}

Test(tcp, expired_may_keep_a_connection)
{
	start((struct net_tcp_limits){100, 100, 100, UINT64_MAX}, NET_TCP_OVERFLOW_CLOSE, false);
	int a = client(NULL);
	say(a, "KEEP\n");
	cr_expect_not(closed_by_server(a, 450));
	cr_expect_geq(n.expired, 2, "asked at each deadline");
	cr_expect_eq(counters()->timed_out, 0, "kept ones are not counted");
	cr_expect_eq(n.closed_total, 0);
	close(a);
}

/* ---- writing and backpressure -------------------------------------------------- */

/* A client with a small receive buffer that does not read. */
static int slow_client(void)
{
	int fd = tcp_fixture_connect(tcp_fixture_socket(4096), &addr);
	pump(20);
	return fd;
}

Test(tcp, a_slow_reader_over_max_outbuf_is_closed)
{
	start((struct net_tcp_limits){100, 100, 5000, 256u << 10}, NET_TCP_OVERFLOW_CLOSE, false);
	int a = slow_client();
	say(a, "BIG\n");
	pump(100);
	cr_expect_eq(n.big_rc, RS_ELIMIT, "the send that passed the bound says so");
	cr_expect_eq(counters()->slow_closed, 1);
	cr_expect_eq(n.closed[NET_TCP_CLOSE_SLOW], 1);
	cr_expect_eq(counters()->open, 0);
	/* Others are served meanwhile. */
	int b = client(NULL);
	char buf[16];
	bool eof;
	say(b, "fine\n");
	hear(b, buf, sizeof(buf), 5, &eof);
	cr_expect_str_eq(buf, "fine\n");
	close(a);
	close(b);
}

Test(tcp, a_slow_reader_is_paused_then_resumed_in_order)
{
	start((struct net_tcp_limits){100, 100, 5000, 256u << 10}, NET_TCP_OVERFLOW_PAUSE, false);
	int a = slow_client();
	say(a, "BIG\n");
	pump(100);
	cr_expect_eq(counters()->paused, 1);
	cr_expect_eq(n.big_rc, 0, "nothing was refused: reading paused instead");
	cr_expect_eq(counters()->slow_closed, 0);
	int lines = n.lines;
	say(a, "after\n");
	pump(100);
	cr_expect_eq(n.lines, lines, "not read while paused");
	/* Now the client reads: the queue drains below half, reading resumes,
	 * and the waiting line is answered after the bytes already queued. */
	char *got = malloc(8u << 20);
	size_t have = 0;
	while (have < 5 || memcmp(got + have - 6, "after\n", 6) != 0) {
		cr_assert(pump_readable(a, 3000), "drained and answered (%zu bytes)", have);
		ssize_t r = recv(a, got + have, (8u << 20) - have, MSG_DONTWAIT);
		cr_assert_geq(r, 0);
		cr_assert_neq(r, 0, "not closed");
		have += r > 0 ? (size_t)r : 0;
	}
	cr_expect_eq(n.resumed, 1);
	cr_expect_eq(n.lines_after_resume, 1);
	cr_expect_geq(n.drained, 1);
	cr_expect_eq(counters()->open, 1);
	free(got);
	close(a);
}

/* ---- closing ----------------------------------------------------------------- */

Test(tcp, close_is_once_and_the_free_happens_in_the_close_callback)
{
	start(roomy, NET_TCP_OVERFLOW_CLOSE, false);
	int a = client(NULL);
	say(a, "QUIT\n");
	cr_expect(closed_by_server(a, 2000));
	pump(20);
	cr_expect_eq(n.closed_total, 1);
	cr_expect_eq(n.closed[NET_TCP_CLOSE_LOCAL], 1);
	cr_expect_eq(counters()->open, 0);
	close(a);
}

Test(tcp, graceful_close_sends_then_fin_then_drains)
{
	start(roomy, NET_TCP_OVERFLOW_CLOSE, false);
	int a = client(NULL);
	say(a, "BYE\nignored\n");
	char buf[64];
	bool eof;
	hear(a, buf, sizeof(buf), 100, &eof);
	cr_expect_str_eq(buf, "bye\n");
	cr_expect(eof, "our FIN after the answer");
	/* The server still drains what comes: no reset, the connection open. */
	say(a, "more bytes after the FIN\n");
	pump(50);
	cr_expect_eq(n.closed_total, 0, "lingering");
	cr_expect_eq(n.lines, 1, "nothing after BYE reached the protocol");
	close(a); /* their FIN ends it */
	pump(50);
	cr_expect_eq(n.closed[NET_TCP_CLOSE_LOCAL], 1);
	cr_expect_eq(counters()->open, 0);
}

Test(tcp, stop_closes_every_connection_once)
{
	start(roomy, NET_TCP_OVERFLOW_CLOSE, false);
	int a = client(NULL), b = client(NULL);
	say(a, "BIG\n"); /* queued output is dropped at stop */
	pump(20);
	net_tcp_stop(tcp);
	net_tcp_stop(tcp); /* idempotent until the last handle closed */
	tcp = NULL;
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_expect_eq(n.closed[NET_TCP_CLOSE_STOP], 2);
	cr_expect_eq(n.stopped, 1);
	cr_expect(closed_by_server(b, 100));
	close(a);
	close(b);
}

Test(tcp, a_failed_bind_names_the_address_and_stops_cleanly)
{
	start(roomy, NET_TCP_OVERFLOW_CLOSE, false);
	struct net_tcp *second = NULL;
	const struct net_tcp_config cfg = {
			.name = "again",
			.addrs = &addr, /* in use by the first */
			.naddrs = 1,
			.backlog = 16,
			.limits = roomy,
			.ops = &line_ops,
			.user = &n,
			.stopped = line_stopped,
	};
	char err[256] = "";
	cr_expect_eq(net_tcp_start(&loop, &cfg, &second, err, sizeof(err)), -EADDRINUSE);
	cr_expect_not_null(strstr(err, "again listener 127.0.0.1:"), "%s", err);
	cr_assert_not_null(second, "to be stopped by the caller");
	net_tcp_stop(second);
	pump(20); /* the first still listens: the loop would not end */
	cr_expect_eq(n.stopped, 1);
	n.stopped = 0; /* the first one's stop is counted by the teardown */
}

/* ---- out of memory (tests/faults/allocfail.h) -------------------------------- */

/* A client whose connect the kernel completed (its backlog), not yet
 * accepted by the server. */
static int client_unaccepted(void)
{
	return tcp_fixture_connect(tcp_fixture_socket(0), &addr);
}

static bool one_closed(void)
{
	return n.closed_total >= 1;
}

/* The connection's own allocation fails: it is not served then, but the
 * listener must go on accepting once memory is back. */
Test(tcp, a_connection_that_cannot_be_allocated_does_not_stop_the_listener)
{
	start(roomy, NET_TCP_OVERFLOW_CLOSE, false);
	allocfail_arm_from(1);
	int a = client_unaccepted();
	pump(30);
	bool struck = allocfail_struck();
	allocfail_disarm();
	cr_assert(struck, "the accept tried to allocate");
	cr_expect_eq(counters()->accepted, 0);
	cr_expect_eq(n.opened, 0);
	int b = client_unaccepted();
	/* libuv stops watching a listener whose connection callback did not
	 * call uv_accept() (the fd it took waits for that call): the retry
	 * timer takes "a" once memory is back, and the listener goes on. */
	cr_expect(pump_accepted(2, 3000), "both accepted once memory is back");
	cr_expect_eq(n.opened, 2, "a, which waited, and b");
	close(a);
	close(b);
}

/* The per-source table cannot grow: the connection is refused with the
 * protocol's word for it, counted, and the next one is served. */
Test(tcp, a_source_that_cannot_be_counted_is_refused_as_out_of_memory)
{
	start(roomy, NET_TCP_OVERFLOW_CLOSE, false);
	int refused = 0;
	int fds[8];
	int nfds = 0;
	/* The connection's own allocation is the 1st; the cap's come after. */
	for (size_t k = 2; k < 6 && refused == 0; k++) {
		allocfail_arm(k);
		int fd = client(NULL);
		allocfail_disarm();
		fds[nfds++] = fd;
		pump(5);
		refused = n.refused[NET_TCP_REFUSED_MEMORY];
		if (refused > 0) {
			char buf[64];
			bool eof;
			hear(fd, buf, sizeof(buf), 100, &eof);
			cr_expect_str_eq(buf, "no memory\n");
			cr_expect(eof, "closed after the word");
		}
	}
	cr_assert_eq(refused, 1, "no allocation of the admission failed it");
	cr_expect_geq(counters()->rejected, 1);
	int ok = client(NULL);
	say(ok, "hello\n");
	char buf[64];
	bool eof;
	hear(ok, buf, sizeof(buf), 6, &eof);
	cr_expect_str_eq(buf, "hello\n");
	close(ok);
	for (int k = 0; k < nfds; k++) {
		close(fds[k]);
	}
}

/* A send whose write request cannot be allocated closes the connection
 * (a reply cannot be dropped from the middle of a stream) and says so. */
Test(tcp, a_send_that_cannot_queue_closes_the_connection)
{
	start(roomy, NET_TCP_OVERFLOW_CLOSE, false);
	int a = client(NULL);
	/* Fill the socket so that sends must queue, then fail every queueing. */
	say(a, "BIG\n");
	pump(20);
	cr_assert(net_tcp_counters_get(tcp)->open == 1);
	allocfail_arm_from(1);
	say(a, "echo me\n");
	bool closed = closed_by_server(a, 500);
	bool struck = allocfail_struck();
	allocfail_disarm();
	cr_assert(struck, "the echo had to queue");
	cr_expect(closed);
	cr_expect_eq(n.closed[NET_TCP_CLOSE_ERROR], 1, "closed as an error");
	close(a);
}

/* A graceful close waits for its answer to be written, but no longer than
 * the idle time: a client that never reads is then closed as timed out. */
/* @p lines said by a client that never reads to a server whose idle time
 * is 300 ms: its connection is closed once, as timed out, and counted
 * once. The ms from the saying to the close. */
static uint64_t timed_out_after(const char *lines)
{
	start((struct net_tcp_limits){100, 100, 300, UINT64_MAX}, NET_TCP_OVERFLOW_CLOSE, false);
	int a = client(NULL);
	uint64_t t0 = now_ms();
	say(a, lines);
	pump_until(one_closed, 3000);
	uint64_t took = now_ms() - t0;
	cr_assert_eq(n.closed_total, 1);
	cr_expect_eq(n.closed[NET_TCP_CLOSE_TIMEOUT], 1, "closed as timed out");
	cr_expect_eq(counters()->timed_out, 1, "one connection counted %llu times",
			(unsigned long long)counters()->timed_out);
	close(a);
	return took;
}

Test(tcp, a_graceful_close_to_a_client_that_never_reads_times_out)
{
	uint64_t took = timed_out_after("BIG\nBYE\n");
	cr_expect_eq(n.lines, 2, "BIG and BYE were read");
	cr_expect_geq(took, 290, "not before the idle time: %llu ms", (unsigned long long)took);
}

/* The deadline's callback answers and closes gracefully while earlier
 * answers still wait: the idle time then bounds that write too, and the
 * connection is closed once. */
Test(tcp, an_answer_at_the_deadline_is_bounded_by_the_idle_time_too)
{
	/* One connection, one timeout (timed_out_after() checks it): the
	 * deadline that answered counts it, the answer's write timing out does
	 * not count it again (it once did: docs/testing.md, "Found on the way"). */
	uint64_t took = timed_out_after("BIG\nLATE\n");
	cr_expect_eq(n.expired, 1);
	cr_expect_geq(took, 590, "two idle times: %llu ms", (unsigned long long)took);
}

/* ---- starting and walking the set --------------------------------------------- */

static struct net_tcp_config config_at(struct sockaddr_storage *a, void (*stopped)(void *))
{
	return (struct net_tcp_config){
			.name = "test",
			.addrs = a,
			.naddrs = 1,
			.backlog = 16,
			.limits = roomy,
			.conn_size = sizeof(struct line_conn),
			.ops = &line_ops,
			.user = &n,
			.stopped = stopped,
	};
}

/* Either allocation of a listener set failing refuses the start whole (no
 * set to stop, one line naming it); the next start works. */
Test(tcp, a_listener_set_without_memory_is_refused_whole)
{
	struct sockaddr_storage a;
	tcp_fixture_loopback(&a);
	const struct net_tcp_config cfg = config_at(&a, line_stopped);
	for (size_t k = 1; k <= 2; k++) {
		struct net_tcp *t = NULL;
		char err[128] = "";
		allocfail_arm(k);
		int rc = net_tcp_start(&loop, &cfg, &t, err, sizeof(err));
		bool struck = allocfail_struck();
		allocfail_disarm();
		cr_assert(struck, "allocation %zu", k);
		cr_expect_eq(rc, RS_ENOMEM);
		cr_expect_null(t);
		cr_expect_str_eq(err, "test: out of memory");
	}
	start(roomy, NET_TCP_OVERFLOW_CLOSE, false);
	int c = client(NULL);
	say(c, "ping\n");
	char buf[64];
	bool eof;
	hear(c, buf, sizeof(buf), 5, &eof);
	cr_expect_str_eq(buf, "ping\n");
	close(c);
}

/* An address taken fails the start with the address named; the set is
 * stopped by its caller and frees itself (no stopped callback asked). */
Test(tcp, an_address_in_use_fails_the_start_naming_it)
{
	start(roomy, NET_TCP_OVERFLOW_CLOSE, false);
	struct sockaddr_storage taken = addr;
	const struct net_tcp_config cfg = config_at(&taken, NULL);
	struct net_tcp *t = NULL;
	char err[256] = "";
	int rc = net_tcp_start(&loop, &cfg, &t, err, sizeof(err));
	cr_expect_eq(rc, UV_EADDRINUSE, "%d", rc);
	cr_assert_not_null(t, "the caller stops what was made");
	char port[16];
	snprintf(port, sizeof(port), ":%u", ntohs(((struct sockaddr_in *)&taken)->sin_port));
	cr_expect(strstr(err, "test listener 127.0.0.1") != NULL && strstr(err, port) != NULL, "%s",
			err);
	net_tcp_stop(t);
	net_tcp_stop(t); /* idempotent */
	net_tcp_stop(NULL);
	pump(20);
	cr_expect_eq(n.stopped, 0, "the first set still runs");
}

static void close_each(struct net_tcp_conn *c, void *arg)
{
	(*(int *)arg)++;
	net_tcp_conn_close(c);
}

/* foreach visits every admitted connection not closing, and may close the
 * one it gets; a connection whose opened callback refuses is closed. */
Test(tcp, foreach_visits_the_open_connections_and_may_close_them)
{
	start(roomy, NET_TCP_OVERFLOW_CLOSE, false);
	int a = client(NULL), b = client(NULL);
	pump(20);
	int visited = 0;
	net_tcp_foreach(tcp, close_each, &visited);
	cr_expect_eq(visited, 2);
	cr_expect(closed_by_server(a, 2000));
	cr_expect(closed_by_server(b, 2000));
	cr_expect_eq(n.closed[NET_TCP_CLOSE_LOCAL], 2);
	visited = 0;
	net_tcp_foreach(tcp, close_each, &visited);
	cr_expect_eq(visited, 0, "closed ones are not visited");
	close(a);
	close(b);
}
