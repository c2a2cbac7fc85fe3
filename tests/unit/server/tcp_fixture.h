/*
 * The TCP server (server/net/tcp.c) on a private loop with one listener on
 * 127.0.0.1 (the kernel picks the port), as test_tcp.c and test_tcp_edges.c
 * set it up: the loop, the set, its address, a zeroed 64 KiB chunk for the
 * protocols' big answers, and the client side (connect, wait for the
 * accept, send, pump the loop until something holds), and the line
 * splitting of their line protocols.
 *
 * One test file includes it: the state is that file's own (static). The
 * names are short as the tests use them everywhere. The file keeps its
 * protocol, its callback counters and its suite's init and fini, which call
 * tcp_fixture_init() first and tcp_fixture_fini() last.
 */
#pragma once

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#include "common/error.h"
#include "server/net/tcp.h"

#define BIG_BYTES (4u << 20)
#define BIG_CHUNK (64u << 10)

static uv_loop_t loop;
static struct net_tcp *tcp;          /* tcp_fixture_start()'s set, or NULL */
static struct sockaddr_storage addr; /* its listener's address */
static char *big;                    /* BIG_CHUNK zero bytes */

static const struct net_tcp_limits roomy = {100, 100, 5000, UINT64_MAX};

/* The suite's init: a private loop and the big chunk. */
static inline void tcp_fixture_init(void)
{
	cr_assert_eq(uv_loop_init(&loop), 0);
	big = calloc(1, BIG_CHUNK);
	cr_assert_not_null(big);
}

/* The suite's fini, once the set is stopped and the loop has run: nothing
 * was left open. */
static inline void tcp_fixture_fini(void)
{
	cr_expect_eq(uv_loop_close(&loop), 0, "a handle was left open");
	free(big);
}

/* @p a as 127.0.0.1, port 0 (the kernel picks). */
static inline void tcp_fixture_loopback(struct sockaddr_storage *a)
{
	memset(a, 0, sizeof(*a));
	struct sockaddr_in *sin = (struct sockaddr_in *)a;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* Start @p cfg on one listener on 127.0.0.1 (its addrs and naddrs are set
 * here) into tcp, and read the port it got into addr. */
static inline void tcp_fixture_start(struct net_tcp_config cfg)
{
	tcp_fixture_loopback(&addr);
	cfg.addrs = &addr;
	cfg.naddrs = 1;
	char err[256];
	cr_assert_eq(net_tcp_start(&loop, &cfg, &tcp, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(net_tcp_address(tcp, 0, &addr), 0);
	cr_assert_neq(((struct sockaddr_in *)&addr)->sin_port, 0);
	cr_expect_eq(net_tcp_address(tcp, 1, &(struct sockaddr_storage){0}), RS_ERANGE);
}

static inline const struct net_tcp_counters *counters(void)
{
	return net_tcp_counters_get(tcp);
}

static inline uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000u;
}

/* Run the loop for about @p ms. */
static inline void pump(unsigned ms)
{
	uint64_t end = now_ms() + ms;
	do {
		uv_run(&loop, UV_RUN_NOWAIT);
		poll(NULL, 0, 1);
	} while (now_ms() < end);
}

/* Run the loop until @p done() or @p ms passed; its last answer. */
static inline bool pump_until(bool (*done)(void), unsigned ms)
{
	uint64_t end = now_ms() + ms;
	while (!done() && now_ms() < end) {
		uv_run(&loop, UV_RUN_NOWAIT);
		poll(NULL, 0, 1);
	}
	return done();
}

/* Run the loop until @p fd is readable (data or EOF); false after @p ms. */
static inline bool pump_readable(int fd, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	do {
		uv_run(&loop, UV_RUN_NOWAIT);
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 1) > 0) {
			return true;
		}
	} while (now_ms() < end);
	return false;
}

static uint64_t accepted_want;

static inline bool accepted_enough(void)
{
	return counters()->accepted >= accepted_want;
}

/* Run the loop until the server accepted @p want connections in all;
 * false after @p ms. */
static inline bool pump_accepted(uint64_t want, unsigned ms)
{
	accepted_want = want;
	return pump_until(accepted_enough, ms);
}

/* A TCP socket; @p rcvbuf > 0 shrinks its receive buffer first (a slow
 * reader). */
static inline int tcp_fixture_socket(int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	if (rcvbuf > 0) {
		cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
	}
	return fd;
}

/* @p fd connected to @p a: the kernel completed it (its backlog), the
 * server may not have accepted it yet. */
static inline int tcp_fixture_connect(int fd, const struct sockaddr_storage *a)
{
	cr_assert_eq(connect(fd, (const struct sockaddr *)a, sizeof(struct sockaddr_in)), 0);
	return fd;
}

/* @p fd connected to the listener at addr and accepted by the server. */
static inline int tcp_fixture_accepted(int fd)
{
	uint64_t accepted = counters()->accepted;
	tcp_fixture_connect(fd, &addr);
	cr_assert(pump_accepted(accepted + 1, 3000), "the server accepted it");
	cr_assert_eq(counters()->accepted, accepted + 1, "the server accepted it, once");
	return fd;
}

/* The protocols' reading: each whole line ('\n' ended) of the @p *len
 * bytes at @p buf to @p serve (without its '\n') while @p c is neither
 * closing nor backlogged; what is left moves to the front, @p *len counts
 * it. */
static inline void tcp_fixture_lines(struct net_tcp_conn *c, char *buf, size_t *len,
		void (*serve)(struct net_tcp_conn *c, const char *line, size_t len))
{
	size_t off = 0;
	char *nl;
	while (!net_tcp_conn_closing(c) && !net_tcp_conn_backlogged(c) &&
			(nl = memchr(buf + off, '\n', *len - off)) != NULL) {
		size_t l = (size_t)(nl - (buf + off));
		serve(c, buf + off, l);
		off += l + 1;
	}
	memmove(buf, buf + off, *len - off);
	*len -= off;
}

static inline void say(int fd, const char *text)
{
	cr_assert_eq(send(fd, text, strlen(text), 0), (ssize_t)strlen(text));
}
