/*
 * server/http: the request parser on tables of good and malformed heads,
 * the pages rendered from a store, and the listener on a private loop
 * (keep-alive, pipelining, limits, timeouts), which must leave no handle
 * behind (uv_loop_close() == 0).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "allocfail.h"
#include "common/error.h"
#include "server/http/http.h"
#include "server/http/metrics.h"
#include "server/server.h"
#include "server/registry/store.h"
#include "server/stats.h"

/* ---- the parser ------------------------------------------------------------ */

/* Cases hold their text by value: criterion runs each case in a child
 * process, where pointers into the parent's data are not to be trusted. */
struct bad_case {
	char name[40];
	char text[160];
	int rc;
};

ParameterizedTestParameters(http, malformed_heads_are_refused)
{
	static struct bad_case cases[] = {
			{"no method", " / HTTP/1.1\r\nHost: a\r\n\r\n", RS_EPROTO},
			{"two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", RS_EPROTO},
			{"no target", "GET HTTP/1.1\r\nHost: a\r\n\r\n", RS_EPROTO},
			{"relative target", "GET metrics HTTP/1.1\r\nHost: a\r\n\r\n", RS_EPROTO},
			{"absolute-form", "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", RS_EPROTO},
			{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", RS_EPROTO},
			{"no version", "GET /\r\nHost: a\r\n\r\n", RS_EPROTO},
			{"HTTP/0.9 style", "GET /\r\n\r\n", RS_EPROTO},
			{"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", RS_EPROTO},
			{"version garbage", "GET / HTTP/1.x\r\nHost: a\r\n\r\n", RS_EPROTO},
			{"trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", RS_EPROTO},
			{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", RS_ENOTSUP},
			{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", RS_ENOTSUP},
			{"control in target", "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", RS_EPROTO},
			{"8-bit in target", "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", RS_EPROTO},
			{"method with slash", "GE/T / HTTP/1.1\r\nHost: a\r\n\r\n", RS_EPROTO},
			{"no Host in 1.1", "GET / HTTP/1.1\r\n\r\n", RS_EPROTO},
			{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", RS_EPROTO},
			{"two Hosts in 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
					RS_EPROTO},
			{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", RS_EPROTO},
			{"no colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", RS_EPROTO},
			{"empty name", "GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n", RS_EPROTO},
			{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", RS_EPROTO},
			{"control in value", "GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", RS_EPROTO},
			{"DEL in value", "GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", RS_EPROTO},
			{"bare CR in value", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", RS_EPROTO},
			{"bare CR before request", "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n",
					RS_EPROTO},
			{"bad Content-Length",
					"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n",
					RS_EPROTO},
			{"signed Content-Length",
					"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
					RS_EPROTO},
			{"huge Content-Length",
					"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: "
					"99999999999999\r\n\r\n",
					RS_EPROTO},
			{"conflicting Content-Length",
					"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: "
					"1\r\nContent-Length: "
					"2\r\n\r\n",
					RS_EPROTO},
			{"Content-Length and chunked",
					"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
					"Transfer-Encoding: chunked\r\n\r\n",
					RS_EPROTO},
			{"binary garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
					RS_EPROTO},
			{"TLS hello, incomplete", "\x16\x03\x01\x02\x00\x01\x00", RS_EPROTO},
			{"NUL in partial header", "GET / HTTP/1.1\r\nHost: a\r\nX: \0", RS_EPROTO},
			{"incomplete request line", "GET / HTTP/1.1", RS_EAGAIN},
			{"incomplete head", "GET / HTTP/1.1\r\nHost: a\r\n", RS_EAGAIN},
			{"incomplete header", "GET / HTTP/1.1\r\nHost: a", RS_EAGAIN},
			{"only a CR", "\r", RS_EAGAIN},
			{"empty", "", RS_EAGAIN},
	};
	return cr_make_param_array(struct bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *c, http, malformed_heads_are_refused)
{
	struct http_request req;
	size_t len = strlen(c->text);
	if (strcmp(c->name, "NUL in partial header") == 0) {
		len++; /* its text ends in an embedded NUL */
	}
	cr_expect_eq(http_request_parse(c->text, len, &req), c->rc, "%s: got %d, want %d", c->name,
			http_request_parse(c->text, len, &req), c->rc);
}

struct good_case {
	char text[160];
	enum http_method method;
	char path[16];
	unsigned minor;
	bool keep_alive;
	bool has_body;
};

ParameterizedTestParameters(http, valid_heads_parse)
{
	static struct good_case cases[] = {
			{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_METHOD_GET, "/", 1, true, false},
			{"HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_METHOD_HEAD, "/metrics",
					1, true, false},
			{"GET /metrics?name[]=x HTTP/1.1\r\nhOsT:a\r\n\r\n", HTTP_METHOD_GET,
					"/metrics", 1, true, false},
			{"GET / HTTP/1.1\nHost: a\n\n", HTTP_METHOD_GET, "/", 1, true, false},
			{"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_METHOD_GET, "/", 1, true,
					false},
			{"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", HTTP_METHOD_GET,
					"/", 1, false, false},
			{"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n",
					HTTP_METHOD_GET, "/", 1, false, false},
			{"GET / HTTP/1.0\r\n\r\n", HTTP_METHOD_GET, "/", 0, false, false},
			{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", HTTP_METHOD_GET, "/",
					0, true, false},
			{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", HTTP_METHOD_GET,
					"/", 1, true, false},
			{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: "
			 "5\r\n\r\n",
					HTTP_METHOD_GET, "/", 1, true, true},
			{"POST /v1/services HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
			 "chunked\r\n\r\n",
					HTTP_METHOD_OTHER, "/v1/services", 1, true, true},
			{"get / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_METHOD_OTHER, "/", 1, true,
					false},
			{"GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: caf\xc3\xa9\t \r\n\r\n",
					HTTP_METHOD_GET, "/", 1, true, false},
	};
	return cr_make_param_array(struct good_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct good_case *c, http, valid_heads_parse)
{
	struct http_request req;
	size_t len = strlen(c->text);
	cr_assert_eq(http_request_parse(c->text, len, &req), 0, "%s", c->text);
	cr_expect_eq(req.method, c->method);
	cr_expect_eq(req.path_len, strlen(c->path));
	cr_expect_eq(memcmp(req.path, c->path, req.path_len), 0);
	cr_expect_eq(req.minor, c->minor);
	cr_expect_eq(req.keep_alive, c->keep_alive, "%s", c->text);
	cr_expect_eq(req.has_body, c->has_body, "%s", c->text);
	cr_expect_eq(req.head_len, len);
}

Test(http, pipelined_heads_parse_one_at_a_time)
{
	const char two[] = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n";
	struct http_request req;
	cr_assert_eq(http_request_parse(two, strlen(two), &req), 0);
	cr_expect_eq(req.path_len, 2);
	cr_expect_eq(req.path[1], 'a');
	cr_assert_eq(http_request_parse(two + req.head_len, strlen(two) - req.head_len, &req), 0);
	cr_expect_eq(req.path[1], 'b');
}

Test(http, every_prefix_of_a_valid_head_asks_for_more)
{
	const char head[] = "GET /metrics HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n";
	struct http_request req;
	for (size_t n = 0; n < strlen(head); n++) {
		cr_expect_eq(http_request_parse(head, n, &req), RS_EAGAIN, "prefix of %zu", n);
	}
}

/* ---- a server on a private loop ------------------------------------------------- */

struct fixture {
	uv_loop_t loop;
	struct server srv; /* what the pages render */
	struct http *http;
	struct sockaddr_storage addr;
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	cr_assert_eq(uv_loop_init(&f->loop), 0);
	f->srv.loop = &f->loop;
	config_defaults(&f->srv.cfg);
	snprintf(f->srv.cfg.site, sizeof(f->srv.cfg.site), "lon6");
	snprintf(f->srv.cfg.zone, sizeof(f->srv.cfg.zone), "services.lon6.example.net.");
	f->srv.store = store_new(&f->srv.cfg.limits, NULL, NULL, 0);
	cr_assert_not_null(f->srv.store);
}

static void fixture_deinit(struct fixture *f)
{
	store_free(f->srv.store);
	cr_expect_eq(uv_loop_close(&f->loop), 0, "handles left on the loop");
}

static void register_one(struct fixture *f, const char *service, const char *host, uint32_t port,
		enum store_status st)
{
	struct store_registration reg = {.service = service,
			.protocol = "http",
			.host = host,
			.port = port,
			.status = st};
	bool created;
	uint64_t rev;
	cr_assert_eq(store_register(f->srv.store, &reg, 0, 1764115200000ull, &created, &rev), 0);
}

/* Render a page as rosterd does (server.c's http_render_cb): a snapshot of
 * the server, then the page. */
static int page_render(struct fixture *f, enum http_page page, struct rs_buf *t)
{
	struct stats_snapshot snap;
	server_stats_collect(&f->srv, &snap);
	return page == HTTP_PAGE_METRICS    ? metrics_prometheus_render(&snap, t)
	       : page == HTTP_PAGE_SERVICES ? metrics_services_json(&snap, f->srv.store, t)
					    : metrics_status_html(&snap, f->srv.store, t);
}

static char *render(struct fixture *f, enum http_page page)
{
	struct rs_buf t = {0};
	cr_assert_eq(page_render(f, page, &t), 0);
	char *s = malloc(t.len + 1);
	memcpy(s, t.data, t.len);
	s[t.len] = '\0';
	rs_buf_deinit(&t);
	return s;
}

Test(metrics, families_and_samples_follow_the_store)
{
	struct fixture f;
	fixture_init(&f);
	register_one(&f, "web", "web1.lon6.example.net", 80, STORE_STATUS_UP);
	register_one(&f, "web", "web2.lon6.example.net", 80, STORE_STATUS_STARTING);
	char *m = render(&f, HTTP_PAGE_METRICS);
	const char *want[] = {
			"# TYPE roster_dns_queries_total counter\n",
			"# TYPE roster_dns_responses_total counter\n",
			"# TYPE roster_dns_truncated_total counter\n",
			"# TYPE roster_dns_partial_answers_total counter\n",
			"# TYPE roster_dns_bytes_total counter\n",
			"# TYPE roster_client_reports_total counter\n",
			"\nroster_registrations_total 2\n",
			"\nroster_instances{status=\"up\"} 1\n",
			"\nroster_instances{status=\"starting\"} 1\n",
			"\nroster_leases 0\n",
			"\nroster_heartbeats_total 0\n",
			"\nroster_expirations_total 0\n",
			"\nroster_self_preservation 0\n",
			"\nroster_api_connections 0\n",
			"\nroster_store_bytes 0\n",
			"\nroster_build_info{version=\"",
			"zone=\"services.lon6.example.net.\"} 1\n",
	};
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		cr_expect_not_null(strstr(m, want[k]), "missing: %s", want[k]);
	}
	free(m);
	fixture_deinit(&f);
}

Test(metrics, json_and_page_list_the_services)
{
	struct fixture f;
	fixture_init(&f);
	register_one(&f, "web", "web1.lon6.example.net", 80, STORE_STATUS_UP);
	register_one(&f, "db", "db1.lon6.example.net", 5432, STORE_STATUS_UP);
	char *j = render(&f, HTTP_PAGE_SERVICES);
	cr_expect_not_null(strstr(j, "\"service\":\"db\""));
	cr_expect_not_null(strstr(j, "\"host\":\"web1.lon6.example.net.\",\"port\":80"));
	cr_expect_not_null(strstr(j, "\"mode\":\"normal\""));
	cr_expect_lt(strstr(j, "\"db\""), strstr(j, "\"web\""), "stable order");
	free(j);
	char *h = render(&f, HTTP_PAGE_STATUS);
	cr_expect_not_null(strstr(h, "<code>web1.lon6.example.net.:80</code>"));
	cr_expect_not_null(strstr(h, ">NORMAL<"));
	cr_expect_not_null(strstr(h, "</html>\n"));
	free(h);
	fixture_deinit(&f);
}

/* A client on the same loop: connects, writes one buffer, reads to EOF. */
struct client {
	uv_tcp_t tcp;
	uv_connect_t conn;
	uv_write_t wreq;
	const char *send;
	size_t send_len;
	char got[65536];
	size_t got_len;
	int eof;
	int closed;
	struct fixture *f;
	bool stop_server_at_eof;
};

static void client_close_cb(uv_handle_t *h)
{
	struct client *c = h->data;
	c->closed++;
}

static void client_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct client *c = h->data;
	buf->base = c->got + c->got_len;
	buf->len = sizeof(c->got) - 1 - c->got_len;
}

static void client_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	struct client *c = s->data;
	if (nread < 0) {
		c->eof++;
		c->got[c->got_len] = '\0';
		uv_close((uv_handle_t *)&c->tcp, client_close_cb);
		if (c->stop_server_at_eof) {
			http_stop(c->f->http);
			c->f->http = NULL;
		}
		return;
	}
	c->got_len += (size_t)nread;
}

static void client_write_cb(uv_write_t *req, int status)
{
	(void)req;
	cr_expect_eq(status, 0);
}

static void client_connect_cb(uv_connect_t *req, int status)
{
	struct client *c = req->data;
	cr_assert_eq(status, 0, "connect: %s", uv_strerror(status));
	uv_read_start((uv_stream_t *)&c->tcp, client_alloc_cb, client_read_cb);
	if (c->send_len > 0) {
		uv_buf_t b = uv_buf_init((char *)c->send, (unsigned)c->send_len);
		cr_assert_eq(uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, client_write_cb), 0);
	}
}

static uint16_t port_free(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/* The listener's render callback. */
static int fixture_render(void *owner, enum http_page page, char **body, size_t *len)
{
	struct fixture *f = owner;
	struct rs_buf out = {0};
	int rc = page_render(f, page, &out);
	if (rc < 0) {
		rs_buf_deinit(&out);
		return rc;
	}
	*body = rs_buf_steal(&out, len);
	return 0;
}

static void server_up(struct fixture *f, uint32_t max_conns, uint32_t idle_ms)
{
	uv_ip4_addr("127.0.0.1", port_free(), (struct sockaddr_in *)&f->addr);
	const struct http_context ctx = {
			.loop = &f->loop,
			.listen = &f->addr,
			.nlisten = 1,
			.limits = {.max_conns = max_conns, .idle_ms = idle_ms},
			.render = fixture_render,
			.owner = f,
	};
	char err[256];
	cr_assert_eq(http_start(&ctx, &f->http, err, sizeof(err)), 0, "%s", err);
}

static void client_start(struct fixture *f, struct client *c, const char *send, size_t len)
{
	memset(c, 0, sizeof(*c));
	c->f = f;
	c->send = send;
	c->send_len = len;
	uv_tcp_init(&f->loop, &c->tcp);
	c->tcp.data = c;
	c->conn.data = c;
	cr_assert_eq(uv_tcp_connect(&c->conn, &c->tcp, (const struct sockaddr *)&f->addr,
				     client_connect_cb),
			0);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle)) {
		n++;
	}
	return n;
}

Test(http_loop, keep_alive_pipelining_and_errors_in_order)
{
	struct fixture f;
	fixture_init(&f);
	server_up(&f, 8, 5000);
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
				  "HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n"
				  "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n"
				  "DELETE / HTTP/1.1\r\nHost: a\r\n\r\n"
				  "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
	struct client c;
	client_start(&f, &c, req, sizeof(req) - 1);
	c.stop_server_at_eof = true;
	cr_assert_eq(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
	cr_expect_eq(c.eof, 1);
	cr_expect_eq(c.closed, 1);
	const char *p = c.got;
	const char *order[] = {"HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found",
			"HTTP/1.1 405 Method Not Allowed"};
	for (size_t k = 0; k < 4; k++) {
		p = strstr(p, order[k]);
		cr_assert_not_null(p, "response %zu (%s) missing in:\n%s", k, order[k], c.got);
		p++;
	}
	/* The 405 closed the connection: the fifth request is not answered. */
	cr_expect_eq(count(c.got, "HTTP/1.1 "), 4, "%s", c.got);
	cr_expect_not_null(strstr(c.got, "Allow: GET, HEAD\r\n"));
	/* HEAD: a Content-Length, but no body (the next status line follows). */
	cr_expect_eq(count(c.got, "# TYPE"), 0);
	/* Stopped at the client's EOF: freed once its last handle closed (the
	 * loop ended; uv_loop_close() and the leak checker say the rest). */
	fixture_deinit(&f);
}

Test(http_loop, connection_limit_answers_503)
{
	struct fixture f;
	fixture_init(&f);
	server_up(&f, 1, 300);
	struct client a, b;
	client_start(&f, &a, "", 0); /* holds the only slot until its idle timeout */
	client_start(&f, &b, "", 0);
	a.stop_server_at_eof = b.stop_server_at_eof = true;
	cr_assert_eq(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
	/* Whichever was accepted second was refused; the other, idle, was
	 * closed without a word. */
	struct client *refused = strstr(b.got, "503") != NULL ? &b : &a;
	struct client *idle = refused == &b ? &a : &b;
	cr_expect_not_null(strstr(refused->got, "HTTP/1.1 503 "), "%s|%s", a.got, b.got);
	cr_expect_eq(idle->got_len, 0, "%s", idle->got);
	cr_expect_eq(a.eof + b.eof, 2);
	fixture_deinit(&f);
}

Test(http_loop, slow_request_gets_408_then_close)
{
	struct fixture f;
	fixture_init(&f);
	server_up(&f, 8, 200);
	static const char part[] = "GET /metrics HTTP/1.1\r\nHo";
	struct client c;
	client_start(&f, &c, part, sizeof(part) - 1);
	c.stop_server_at_eof = true;
	uint64_t t0 = uv_hrtime();
	cr_assert_eq(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
	cr_expect_not_null(strstr(c.got, "HTTP/1.1 408 "), "%s", c.got);
	cr_expect_geq((uv_hrtime() - t0) / 1000000u, 150);
	fixture_deinit(&f);
}

Test(http_loop, oversized_head_gets_431)
{
	struct fixture f;
	fixture_init(&f);
	server_up(&f, 8, 2000);
	/* Exactly the limit: the server has read every byte when it answers, so
	 * it closes with a FIN, not a reset that could eat the answer. */
	static char big[HTTP_REQUEST_MAX];
	int n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX: ");
	memset(big + n, 'a', sizeof(big) - (size_t)n);
	struct client c;
	client_start(&f, &c, big, sizeof(big));
	c.stop_server_at_eof = true;
	cr_assert_eq(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
	cr_expect_not_null(strstr(c.got, "HTTP/1.1 431 "), "%s", c.got);
	fixture_deinit(&f);
}

/* ---- out of memory (tests/faults/allocfail.h, jansson's allocator) ---------- */

/* jansson allocates through json_set_alloc_funcs(): fail its Nth call. */
static size_t json_calls, json_fail_at;

static void *json_failing_malloc(size_t n)
{
	json_calls++;
	return json_fail_at != 0 && json_calls == json_fail_at ? NULL : malloc(n);
}

static void populate(struct fixture *f, int n)
{
	for (int k = 0; k < n; k++) {
		char host[64];
		snprintf(host, sizeof(host), "node%d.lon6.example.net", k);
		register_one(f, k % 2 ? "web" : "db", host, 80,
				k % 3 ? STORE_STATUS_UP : STORE_STATUS_DOWN);
	}
}

/* The same page apart from the process's own figures (CPU time, memory),
 * which move between two renders. */
static bool same_page(const char *got, size_t len, const char *want)
{
	const char *g = got, *ge = got + len, *w = want;
	while (g < ge && *w != '\0') {
		const char *gn = memchr(g, '\n', (size_t)(ge - g));
		const char *wn = strchr(w, '\n');
		size_t gl = gn != NULL ? (size_t)(gn - g) : (size_t)(ge - g);
		size_t wl = wn != NULL ? (size_t)(wn - w) : strlen(w);
		bool process = strncmp(g, "process_", 8) == 0 && strncmp(w, "process_", 8) == 0;
		if (!process && (gl != wl || memcmp(g, w, gl) != 0)) {
			return false;
		}
		g += gl + (gn != NULL);
		w += wl + (wn != NULL);
	}
	return g == ge && *w == '\0';
}

/* Each page with each allocation failing in turn: RS_ENOMEM, or the very
 * page that renders without failures; a short page (the old silent failure
 * of store_service_foreach(), test_api_ops.c) is counted, and must not be. */
static void each_page_failure(enum http_page page, bool through_json, int *short_pages)
{
	struct fixture f;
	fixture_init(&f);
	populate(&f, 30);
	char *want = render(&f, page);
	int refused = 0;
	for (size_t k = 1;; k++) {
		cr_assert_lt(k, 2000);
		struct rs_buf t = {0};
		int rc;
		bool struck;
		if (through_json) {
			json_calls = 0;
			json_fail_at = k;
			json_set_alloc_funcs(json_failing_malloc, free);
			rc = page_render(&f, page, &t);
			json_set_alloc_funcs(malloc, free);
			struck = json_calls >= k;
		} else {
			allocfail_arm(k);
			rc = page_render(&f, page, &t);
			struck = allocfail_struck();
			allocfail_disarm();
		}
		if (!struck) {
			cr_assert_eq(rc, 0);
			cr_assert(same_page(t.data, t.len, want), "page %d", page);
			rs_buf_deinit(&t);
			break;
		}
		if (rc == 0) {
			/* Rendered all the same: only a short list may differ. */
			cr_assert(!same_page(t.data, t.len, want), "allocation %zu: struck unseen",
					k);
			cr_assert_lt(t.len, strlen(want), "allocation %zu: a different page", k);
			(*short_pages)++;
		} else {
			cr_assert_eq(rc, RS_ENOMEM, "allocation %zu: %s", k, rs_strerror(rc));
			refused++;
		}
		rs_buf_deinit(&t);
	}
	cr_expect_geq(refused, 1, "page %d", page);
	free(want);
	fixture_deinit(&f);
}

Test(metrics, every_page_is_whole_or_refused_when_memory_fails)
{
	int short_pages = 0;
	each_page_failure(HTTP_PAGE_METRICS, false, &short_pages);
	cr_expect_eq(short_pages, 0, "the metrics page lists no services");
	each_page_failure(HTTP_PAGE_STATUS, false, &short_pages);
	each_page_failure(HTTP_PAGE_SERVICES, false, &short_pages);
	each_page_failure(HTTP_PAGE_SERVICES, true, &short_pages);
	cr_expect_eq(short_pages, 0, "a page listing fewer services than there are");
}

Test(metrics, the_status_page_marks_a_service_with_none_up)
{
	struct fixture f;
	fixture_init(&f);
	register_one(&f, "web", "a.lon6.example.net", 80, STORE_STATUS_DOWN);
	register_one(&f, "web", "b.lon6.example.net", 80, STORE_STATUS_STARTING);
	char *h = render(&f, HTTP_PAGE_STATUS);
	cr_expect_not_null(strstr(h, "<td class=\"n DOWN\"><b>0</b></td>"), "%s", h);
	cr_expect_not_null(strstr(h, ">DOWN<"), "%s", h);
	free(h);
	fixture_deinit(&f);
}

/* ---- a response bigger than the socket takes at once ------------------------ */

/* The server stops reading while a response waits to be written, and
 * answers the requests pipelined behind it once it has gone, in order. */
Test(http_loop, pipelined_requests_behind_a_big_response_are_answered_in_order)
{
	struct fixture f;
	fixture_init(&f);
	populate(&f, 40000); /* /v1/services of about 7 MB: more than a socket holds */
	server_up(&f, 8, 5000);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	int small = 4096;
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	cr_assert_eq(connect(fd, (const struct sockaddr *)&f.addr, sizeof(struct sockaddr_in)), 0);
	static const char req[] = "GET /v1/services HTTP/1.1\r\nHost: a\r\n\r\n"
				  "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
	cr_assert_eq(send(fd, req, sizeof(req) - 1, 0), (ssize_t)(sizeof(req) - 1));
	size_t cap = 16u << 20, have = 0;
	char *got = malloc(cap);
	cr_assert_not_null(got);
	bool eof = false;
	uint64_t end = uv_hrtime() / 1000000u + 20000;
	while (!eof && uv_hrtime() / 1000000u < end) {
		uv_run(&f.loop, UV_RUN_NOWAIT);
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 1) <= 0) {
			continue;
		}
		/* Small reads: the server's writes must wait for the reader. */
		ssize_t n = recv(fd, got + have, cap - 1 - have < 2048 ? cap - 1 - have : 2048,
				MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			eof = true;
		} else if (n > 0) {
			have += (size_t)n;
		}
	}
	got[have] = '\0';
	cr_assert(eof, "the second answer closes: %zu bytes", have);
	cr_assert_eq(count(got, "HTTP/1.1 200 OK"), 2);
	const char *second = strstr(got + 1, "HTTP/1.1 200 OK");
	cr_assert_not_null(second);
	/* The first is whole: its body is as long as it says. */
	const char *cl = strstr(got, "Content-Length: ");
	cr_assert_not_null(cl);
	size_t len = strtoul(cl + 16, NULL, 10);
	const char *body = strstr(got, "\r\n\r\n") + 4;
	cr_expect_gt(len, 5u << 20, "more than the socket buffers (4 MiB at most)");
	cr_expect_eq((size_t)(second - body), len);
	cr_expect(body[len - 1] == '}' || (body[len - 1] == '\n' && body[len - 2] == '}'));
	close(fd);
	free(got);
	http_stop(f.http);
	cr_assert_eq(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
	fixture_deinit(&f);
}

/* A page that cannot be rendered is a 500 that says why, and the
 * connection closes; the next connection is served. HTTP/1.0 keep-alive is
 * answered in kind. */
static size_t json_calls_loop;

static void *json_failing_always(size_t n)
{
	(void)n;
	json_calls_loop++;
	return NULL;
}

Test(http_loop, a_page_that_cannot_be_rendered_is_a_500)
{
	struct fixture f;
	fixture_init(&f);
	register_one(&f, "web", "web1.lon6.example.net", 80, STORE_STATUS_UP);
	server_up(&f, 8, 2000);
	static const char req[] = "GET /v1/services HTTP/1.1\r\nHost: a\r\n\r\n"
				  "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
	struct client c;
	client_start(&f, &c, req, sizeof(req) - 1);
	json_set_alloc_funcs(json_failing_always, free);
	uint64_t end = uv_hrtime() / 1000000u + 3000;
	while (c.eof == 0 && uv_hrtime() / 1000000u < end) {
		uv_run(&f.loop, UV_RUN_NOWAIT);
		poll(NULL, 0, 1);
	}
	json_set_alloc_funcs(malloc, free);
	cr_assert_eq(c.eof, 1, "closed after the 500");
	cr_expect_gt(json_calls_loop, 0);
	cr_expect_not_null(strstr(c.got, "HTTP/1.1 500 "), "%s", c.got);
	cr_expect_not_null(strstr(c.got, "out of memory\n"), "%s", c.got);
	cr_expect_eq(count(c.got, "HTTP/1.1 "), 1, "nothing after it: %s", c.got);
	struct client d;
	static const char ten[] = "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
	client_start(&f, &d, ten, sizeof(ten) - 1);
	end = uv_hrtime() / 1000000u + 3000;
	while (strstr(d.got, "\r\n\r\n") == NULL && uv_hrtime() / 1000000u < end) {
		uv_run(&f.loop, UV_RUN_NOWAIT);
		poll(NULL, 0, 1);
		d.got[d.got_len] = '\0';
	}
	cr_expect_not_null(strstr(d.got, " 200 OK\r\n"), "%s", d.got);
	cr_expect_not_null(strstr(d.got, "Connection: keep-alive\r\n"), "%s", d.got);
	cr_expect_eq(d.eof, 0, "kept open");
	uv_close((uv_handle_t *)&d.tcp, NULL);
	http_stop(f.http);
	cr_assert_eq(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
	fixture_deinit(&f);
}

Test(http_loop, a_server_that_cannot_be_allocated_says_so)
{
	struct fixture f;
	fixture_init(&f);
	uv_ip4_addr("127.0.0.1", port_free(), (struct sockaddr_in *)&f.addr);
	const struct http_context ctx = {
			.loop = &f.loop,
			.listen = &f.addr,
			.nlisten = 1,
			.limits = {.max_conns = 8, .idle_ms = 1000},
			.render = fixture_render,
			.owner = &f,
	};
	char err[256] = "";
	struct http *h = NULL;
	allocfail_arm(1);
	int rc = http_start(&ctx, &h, err, sizeof(err));
	allocfail_disarm();
	cr_expect_eq(rc, RS_ENOMEM);
	cr_expect_str_eq(err, "http: out of memory");
	cr_expect_null(h);
	uv_run(&f.loop, UV_RUN_DEFAULT);
	fixture_deinit(&f);
}
