/*
 * The DNS transport on a private loop: UDP and pipelined TCP queries are
 * answered, the connection limit holds, and stopping leaves no handle
 * behind (uv_loop_close() == 0).
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
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
#include "server/config.h"
#include "server/dns/dnsio.h"
#include "server/dns/dnswire.h"
#include "server/registry/store.h"
#include "tests/unit/server/dnsio_fixture.h"
#include "tests/unit/server/free_port.h"

/* What rosterd's composition root would hold: the config, the store, and
 * the DNS module given its context. */
static uv_loop_t loop;
static struct {
	struct server_config cfg;
	struct store *store;
	struct dnsio *dnsio;
} srv;
static char datadir[64];
static uint16_t port;

static void setup(void)
{
	cr_assert_eq(uv_loop_init(&loop), 0);
	memset(&srv, 0, sizeof(srv));
	snprintf(datadir, sizeof(datadir), "/tmp/roster-dnsio-XXXXXX");
	cr_assert_not_null(mkdtemp(datadir));
	port = test_free_port();
	char dns[64];
	snprintf(dns, sizeof(dns), "127.0.0.1:%u", port);
	char *argv[] = {"rosterd", "--site", "lon6", "--domain", "example.net", "--dns", dns,
			"--data", datadir, "--tcp-max-connections", "2", NULL};
	char err[256];
	config_defaults(&srv.cfg);
	cr_assert_eq(config_parse(&srv.cfg, 11, argv, err, sizeof(err)), 0, "%s", err);
	srv.store = store_new(&srv.cfg.limits, NULL, NULL, 0);
	cr_assert_not_null(srv.store);
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
	cr_assert_eq(store_register(srv.store, &r, 0, 0, &created, &rev), 0);
	const struct server_config *cfg = &srv.cfg;
	const char *ns[] = {cfg->ns[0]};
	struct dnsio_context ctx = {
			.loop = &loop,
			.store = srv.store,
			.cfg = dnsio_fixture_config(cfg, ns, 0, DNSIO_IO_AUTO),
	};
	ctx.cfg.cookies = true;
	ctx.cfg.cookie_secret = "";
	cr_assert_eq(dnsio_start(&ctx, &srv.dnsio, err, sizeof(err)), 0, "%s", err);
}

static void teardown(void)
{
	dnsio_stop(srv.dnsio);
	srv.dnsio = NULL;
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_expect_eq(uv_loop_close(&loop), 0, "a handle was left open");
	store_free(srv.store);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", datadir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(dnsio, .init = setup, .fini = teardown);

static size_t query(uint8_t *b, uint16_t id, const char *name, uint16_t qtype)
{
	memset(b, 0, 12);
	b[0] = (uint8_t)(id >> 8);
	b[1] = (uint8_t)id;
	b[5] = 1;
	size_t n = 12;
	const char *p = name;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = (size_t)(dot - p);
		b[n++] = (uint8_t)l;
		memcpy(b + n, p, l);
		n += l;
		p = dot + 1;
	}
	b[n++] = 0;
	b[n++] = (uint8_t)(qtype >> 8);
	b[n++] = (uint8_t)qtype;
	b[n++] = 0;
	b[n++] = 1;
	return n;
}

/* Run the loop until @p fd is readable (or closed), at most ~2 s. */
static bool pump_until_readable(int fd)
{
	for (int i = 0; i < 2000; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		struct pollfd pfd = {fd, POLLIN, 0};
		if (poll(&pfd, 1, 1) > 0) {
			return true;
		}
	}
	return false;
}

Test(dnsio, udp_query_answered)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	uint8_t q[512], r[4096];
	size_t n = query(q, 7, "_web._tcp.services.lon6.example.net.", DNSWIRE_SRV);
	cr_assert_eq(sendto(s, q, n, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)n);
	cr_assert(pump_until_readable(s));
	ssize_t got = recv(s, r, sizeof(r), 0);
	cr_assert_gt(got, 12);
	cr_expect_eq(dnswire_get16(r), 7);
	cr_expect_eq(dnswire_get16(r + 6), 1, "one SRV");
	struct dnsio_counters ctr;
	dnsio_counters_get(srv.dnsio, &ctr);
	cr_expect_eq(ctr.bytes_in[ANSWER_UDP], n);
	cr_expect_eq(dnsio_queries_total(srv.dnsio), 1);
	close(s);
}

static int tcp_connect(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	cr_assert_eq(connect(s, (struct sockaddr *)&to, sizeof(to)), 0);
	return s;
}

Test(dnsio, tcp_pipelined_in_order)
{
	int s = tcp_connect();
	uint8_t buf[1024];
	size_t len = 0;
	for (uint16_t id = 1; id <= 3; id++) {
		size_t n = query(buf + len + 2, id, "services.lon6.example.net.", DNSWIRE_SOA);
		dnswire_set16(buf + len, (uint16_t)n);
		len += n + 2;
	}
	cr_assert_eq(send(s, buf, len, 0), (ssize_t)len);
	uint8_t in[8192];
	size_t have = 0;
	uint16_t want = 1;
	while (want <= 3) {
		cr_assert(pump_until_readable(s));
		ssize_t got = recv(s, in + have, sizeof(in) - have, 0);
		cr_assert_gt(got, 0);
		have += (size_t)got;
		while (have >= 2 && have >= 2u + dnswire_get16(in)) {
			size_t m = 2u + dnswire_get16(in);
			cr_expect_eq(dnswire_get16(in + 2), want, "answers in order");
			want++;
			memmove(in, in + m, have - m);
			have -= m;
		}
	}
	close(s);
}

Test(dnsio, tcp_connection_limit_and_bad_prefix)
{
	int a = tcp_connect(), b = tcp_connect(), c = tcp_connect();
	/* The third is over the limit of 2: accepted, then closed. */
	cr_assert(pump_until_readable(c));
	uint8_t x[16];
	cr_expect_leq(recv(c, x, sizeof(x), 0), 0);
	struct dnsio_counters ctr;
	dnsio_counters_get(srv.dnsio, &ctr);
	cr_expect_eq(ctr.tcp_rejected, 1);
	/* A length prefix of 5 closes the connection. */
	uint8_t bad[] = {0, 5, 1, 2, 3, 4, 5};
	cr_assert_eq(send(a, bad, sizeof(bad), 0), (ssize_t)sizeof(bad));
	cr_assert(pump_until_readable(a));
	cr_expect_leq(recv(a, x, sizeof(x), 0), 0);
	dnsio_counters_get(srv.dnsio, &ctr);
	cr_expect_eq(ctr.tcp_bad_length, 1);
	close(a);
	close(b);
	close(c);
}

/* SIGHUP's new limits (dnsio_limits_set()) apply to the next connection:
 * one connection allowed, then three. */
Test(dnsio, new_limits_apply_to_the_next_connection)
{
	dnsio_limits_set(NULL, &(struct dnsio_limits){0}); /* NULL-safe */
	struct dnsio_limits lim = {
			1, 1, srv.cfg.dns_tcp_idle_ms, srv.cfg.report_rate, srv.cfg.report_log_max};
	dnsio_limits_set(srv.dnsio, &lim);
	int a = tcp_connect(), b = tcp_connect();
	cr_assert(pump_until_readable(b));
	uint8_t x[16];
	cr_expect_leq(recv(b, x, sizeof(x), 0), 0, "over the new limit of 1: closed");
	struct dnsio_counters ctr;
	dnsio_counters_get(srv.dnsio, &ctr);
	cr_expect_eq(ctr.tcp_rejected + ctr.tcp_rejected_source, 1);
	close(b);
	lim.tcp_max_conns = 3;
	lim.tcp_max_per_source = 3;
	dnsio_limits_set(srv.dnsio, &lim);
	int c = tcp_connect(), d = tcp_connect();
	uint8_t q[512];
	size_t n = query(q + 2, 9, "services.lon6.example.net.", DNSWIRE_SOA);
	dnswire_set16(q, (uint16_t)n);
	cr_assert_eq(send(d, q, n + 2, 0), (ssize_t)(n + 2));
	cr_assert(pump_until_readable(d));
	uint8_t r[1024];
	cr_expect_gt(recv(d, r, sizeof(r), 0), 14, "the third connection is answered");
	dnsio_counters_get(srv.dnsio, &ctr);
	cr_expect_eq(ctr.tcp_rejected + ctr.tcp_rejected_source, 1, "none refused under 3");
	cr_expect_eq(ctr.tcp_connections, 3);
	close(a);
	close(c);
	close(d);
}

/* A datagram over the 4 KiB buffer (MSG_TRUNC) is not answered and not a
 * query; the next one is. */
Test(dnsio, oversized_datagram_is_not_answered)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	static uint8_t big[5000];
	size_t n = query(big, 3, "services.lon6.example.net.", DNSWIRE_SOA);
	(void)n;
	cr_assert_eq(sendto(s, big, sizeof(big), 0, (struct sockaddr *)&to, sizeof(to)),
			(ssize_t)sizeof(big));
	uint8_t q[512], r[1024];
	n = query(q, 4, "services.lon6.example.net.", DNSWIRE_SOA);
	cr_assert_eq(sendto(s, q, n, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)n);
	cr_assert(pump_until_readable(s));
	cr_assert_gt(recv(s, r, sizeof(r), 0), 12);
	cr_expect_eq(dnswire_get16(r), 4, "the first answer is the second query's");
	cr_expect_eq(dnsio_queries_total(srv.dnsio), 1);
	close(s);
}

/* The NULL-safe and out-of-range accessors. */
Test(dnsio, accessors_without_a_module)
{
	cr_expect_eq(dnsio_queries_total(NULL), 0);
	cr_expect_eq(dnsio_zone_serial(NULL), 0);
	cr_expect_eq(dnsio_zone_serial(srv.dnsio), 0, "no zone without --xfr-allow");
	struct xfr_zone_counters zc;
	dnsio_zone_counters(NULL, &zc);
	cr_expect_eq(zc.versions, 0);
	dnsio_zone_counters(srv.dnsio, &zc);
	cr_expect_eq(zc.serial, 0);
	cr_expect_str_eq(dnsio_io_name((enum dnsio_io)7), "?");
	cr_expect_str_eq(dnsio_io_name(DNSIO_IO_AUTO), "auto");
	cr_expect_str_eq(dnsio_io_name(DNSIO_IO_MMSG), "mmsg");
}
