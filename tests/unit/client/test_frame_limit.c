/*
 * The engine against an in-process mock registry with a 64 KiB frame limit
 * that, as rosterd, answers an oversized frame with an error of id 0 and
 * closes: the registry's verdict is reported, the oversized endpoint is
 * refused, and the connection does not flap for the other endpoints. A
 * request over the default 1 MiB limit is not even sent.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "proto/frame.h"
#include "proto/roster.pb-c.h"
#include "roster/client.h"

#define MAX_CONNS 8

struct mock_conn {
	uv_tcp_t tcp;
	struct rs_frame_decoder dec;
	struct mock *m;
	int open;
};

struct mock {
	uv_tcp_t listener;
	struct mock_conn conns[MAX_CONNS];
	uint64_t leases[16];
	unsigned held[16]; /* instances per lease */
	size_t n_leases;
	uint64_t next_lease;
	uint64_t revision;
	unsigned opens, heartbeats, registers, lease_deregs, oversized, accepts;
	int port;
	int silent; /* read requests, answer none: a hung registry */
};

struct counters {
	unsigned connected, disconnected, lease, lease_lost, registered, heartbeat, deregistered;
	unsigned failed;
	int failed_error;
	char failed_host[64];
	char disconnect_msg[128];
	uint64_t leases_seen[8];
	size_t n_leases_seen;
};

static void write_done_cb(uv_write_t *w, int status)
{
	(void)status;
	free(w->data);
	free(w);
}

static void mock_send(struct mock_conn *mc, Roster__V1__Response *r)
{
	size_t len = roster__v1__response__get_packed_size(r);
	uint8_t *buf = malloc(len + RS_FRAME_HEADER);
	rs_frame_header_write(buf, (uint32_t)len);
	roster__v1__response__pack(r, buf + RS_FRAME_HEADER);
	uv_write_t *w = malloc(sizeof(*w));
	w->data = buf;
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)(len + RS_FRAME_HEADER));
	uv_write(w, (uv_stream_t *)&mc->tcp, &b, 1, write_done_cb);
}

static int lease_index(struct mock *m, uint64_t lease)
{
	for (size_t i = 0; i < m->n_leases; i++) {
		if (m->leases[i] == lease) {
			return (int)i;
		}
	}
	return -1;
}

static void mock_handle(struct mock_conn *mc, const Roster__V1__Request *rq)
{
	struct mock *m = mc->m;
	if (m->silent) {
		return;
	}
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	Roster__V1__OpenLeaseResponse ol = ROSTER__V1__OPEN_LEASE_RESPONSE__INIT;
	Roster__V1__HeartbeatResponse hb = ROSTER__V1__HEARTBEAT_RESPONSE__INIT;
	Roster__V1__RegisterResponse rg = ROSTER__V1__REGISTER_RESPONSE__INIT;
	Roster__V1__DeregisterResponse dr = ROSTER__V1__DEREGISTER_RESPONSE__INIT;
	r.id = rq->id;
	switch (rq->op_case) {
	case ROSTER__V1__REQUEST__OP_OPEN_LEASE:
		m->opens++;
		m->leases[m->n_leases] = m->next_lease++;
		m->held[m->n_leases] = 0;
		ol.lease = m->leases[m->n_leases++];
		ol.ttl_seconds = rq->open_lease->ttl_seconds;
		r.result_case = ROSTER__V1__RESPONSE__RESULT_OPEN_LEASE;
		r.open_lease = &ol;
		break;
	case ROSTER__V1__REQUEST__OP_HEARTBEAT: {
		int i = lease_index(m, rq->heartbeat->lease);
		m->heartbeats++;
		if (i < 0) {
			r.error = ROSTER__V1__ERROR_CODE__UNKNOWN_LEASE;
			r.message = "unknown lease";
			break;
		}
		hb.ttl_seconds = 1;
		hb.instances = m->held[i];
		r.result_case = ROSTER__V1__RESPONSE__RESULT_HEARTBEAT;
		r.heartbeat = &hb;
		break;
	}
	case ROSTER__V1__REQUEST__OP_REGISTER: {
		int i = lease_index(m, rq->register_->lease);
		m->registers++;
		if (i < 0) {
			r.error = ROSTER__V1__ERROR_CODE__UNKNOWN_LEASE;
			break;
		}
		m->held[i] = 1;
		rg.revision = ++m->revision;
		r.result_case = ROSTER__V1__RESPONSE__RESULT_REGISTER;
		r.register_ = &rg;
		break;
	}
	case ROSTER__V1__REQUEST__OP_DEREGISTER:
		if (rq->deregister->target_case == ROSTER__V1__DEREGISTER_REQUEST__TARGET_LEASE) {
			m->lease_deregs++;
			int i = lease_index(m, rq->deregister->lease);
			if (i >= 0) {
				m->leases[i] = 0;
			}
		}
		dr.revision = ++m->revision;
		r.result_case = ROSTER__V1__RESPONSE__RESULT_DEREGISTER;
		r.deregister = &dr;
		break;
	default:
		r.error = ROSTER__V1__ERROR_CODE__UNSUPPORTED;
		break;
	}
	mock_send(mc, &r);
}

static void mock_alloc_cb(uv_handle_t *h, size_t n, uv_buf_t *b)
{
	(void)h;
	b->base = malloc(n);
	b->len = n;
}

static void mock_conn_close_cb(uv_handle_t *h)
{
	struct mock_conn *mc = h->data;
	rs_frame_decoder_deinit(&mc->dec);
	mc->open = 0;
}

static void mock_conn_close(struct mock_conn *mc)
{
	if (mc->open == 1) {
		mc->open = 2;
		uv_close((uv_handle_t *)&mc->tcp, mock_conn_close_cb);
	}
}

static void mock_shutdown_cb(uv_shutdown_t *req, int status)
{
	(void)status;
	mock_conn_close(req->data);
	free(req);
}

/* Close once the verdict is written: uv_close() would cancel the write. */
static void mock_conn_close_after_flush(struct mock_conn *mc)
{
	uv_read_stop((uv_stream_t *)&mc->tcp);
	uv_shutdown_t *req = malloc(sizeof(*req));
	req->data = mc;
	if (uv_shutdown(req, (uv_stream_t *)&mc->tcp, mock_shutdown_cb) != 0) {
		free(req);
		mock_conn_close(mc);
	}
}

static void mock_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct mock_conn *mc = s->data;
	if (n < 0) {
		mock_conn_close(mc);
		free(b->base);
		return;
	}
	const uint8_t *p = (const uint8_t *)b->base;
	size_t left = (size_t)n;
	while (left > 0) {
		size_t used;
		const uint8_t *f;
		size_t fl;
		int rc = rs_frame_decode(&mc->dec, p, left, &used, &f, &fl);
		if (rc < 0) {
			/* As rosterd: the verdict with id 0, then close. */
			Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
			r.error = ROSTER__V1__ERROR_CODE__FRAME_TOO_LARGE;
			r.message = "frame larger than the 65536-byte limit";
			mock_send(mc, &r);
			mc->m->oversized++;
			mock_conn_close_after_flush(mc);
			break;
		}
		p += used;
		left -= used;
		if (rc == 0) {
			break;
		}
		Roster__V1__Request *rq = roster__v1__request__unpack(NULL, fl, f);
		cr_assert_not_null(rq);
		mock_handle(mc, rq);
		roster__v1__request__free_unpacked(rq, NULL);
	}
	free(b->base);
}

static void mock_accept_cb(uv_stream_t *l, int status)
{
	struct mock *m = l->data;
	cr_assert_eq(status, 0);
	for (int i = 0; i < MAX_CONNS; i++) {
		struct mock_conn *mc = &m->conns[i];
		if (mc->open == 0) {
			uv_tcp_init(l->loop, &mc->tcp);
			mc->tcp.data = mc;
			mc->m = m;
			mc->open = 1;
			rs_frame_decoder_init(&mc->dec, 65536); /* rosterd --max-frame 65536 */
			m->accepts++;
			cr_assert_eq(uv_accept(l, (uv_stream_t *)&mc->tcp), 0);
			uv_read_start((uv_stream_t *)&mc->tcp, mock_alloc_cb, mock_read_cb);
			return;
		}
	}
	cr_assert_fail("mock: too many connections");
}

static void mock_start(uv_loop_t *loop, struct mock *m)
{
	memset(m, 0, sizeof(*m));
	m->next_lease = 100;
	struct sockaddr_in sa;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	uv_tcp_init(loop, &m->listener);
	m->listener.data = m;
	cr_assert_eq(uv_tcp_bind(&m->listener, (const struct sockaddr *)&sa, 0), 0);
	cr_assert_eq(uv_listen((uv_stream_t *)&m->listener, 16, mock_accept_cb), 0);
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	uv_tcp_getsockname(&m->listener, (struct sockaddr *)&ss, &len);
	m->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void mock_drop_connections(struct mock *m)
{
	for (int i = 0; i < MAX_CONNS; i++) {
		mock_conn_close(&m->conns[i]);
	}
}

static void mock_stop(struct mock *m)
{
	mock_drop_connections(m);
	uv_close((uv_handle_t *)&m->listener, NULL);
}

static void count_cb(const struct roster_event *ev, void *ud)
{
	struct counters *c = ud;
	switch (ev->kind) {
	case ROSTER_EVENT_CONNECTED:
		c->connected++;
		break;
	case ROSTER_EVENT_DISCONNECTED:
		c->disconnected++;
		snprintf(c->disconnect_msg, sizeof(c->disconnect_msg), "%s", ev->message);
		break;
	case ROSTER_EVENT_REGISTER_FAILED:
		c->failed++;
		c->failed_error = ev->error;
		snprintf(c->failed_host, sizeof(c->failed_host), "%s", ev->endpoint->host);
		break;
	case ROSTER_EVENT_LEASE:
		c->lease++;
		break;
	case ROSTER_EVENT_LEASE_LOST:
		c->lease_lost++;
		break;
	case ROSTER_EVENT_REGISTERED:
		c->registered++;
		cr_expect_str_eq(ev->endpoint->host, "web1.example.net", "only the small one");
		cr_expect_gt(ev->revision, 0);
		if (c->n_leases_seen < 8) {
			c->leases_seen[c->n_leases_seen++] = ev->lease;
		}
		break;
	case ROSTER_EVENT_HEARTBEAT:
		c->heartbeat++;
		break;
	case ROSTER_EVENT_DEREGISTERED:
		c->deregistered++;
		break;
	default:
		break;
	}
}

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

/* Run the loop until *flag >= want or @p ms pass. */
static void run_until(uv_loop_t *loop, const unsigned *flag, unsigned want, uint64_t ms)
{
	uv_timer_t tick;
	uv_timer_init(loop, &tick);
	uv_timer_start(&tick, tick_cb, 10, 10);
	uint64_t deadline = uv_now(loop) + ms;
	while (*flag < want && uv_now(loop) < deadline) {
		uv_run(loop, UV_RUN_ONCE);
	}
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	cr_assert_geq(*flag, want, "waited %llu ms for %u, have %u", (unsigned long long)ms, want,
			*flag);
}

struct fixture {
	uv_loop_t loop;
	struct mock m;
	struct counters n;
	struct roster_client *c;
	char server[32];
	char *big;
};

/* Two endpoints: web1 small, web2 with @p value_len bytes of metadata. */
static void setup_client(struct fixture *f, size_t value_len)
{
	memset(f, 0, sizeof(*f));
	cr_assert_eq(uv_loop_init(&f->loop), 0);
	mock_start(&f->loop, &f->m);
	snprintf(f->server, sizeof(f->server), "127.0.0.1:%d", f->m.port);
	const char *servers[] = {f->server};
	struct roster_config cfg = {.servers = servers, .n_servers = 1, .ttl_seconds = 1,
		.backoff_min_ms = 10, .backoff_max_ms = 50, .timeout_ms = 500,
		.event_cb = count_cb, .event_ud = &f->n};
	cr_assert_eq(roster_client_new(&cfg, &f->c), 0);
	struct roster_instance ep = {.service = "web", .protocol = "http",
		.host = "web1.example.net", .port = 80};
	cr_assert_eq(roster_endpoint_add(f->c, &ep), 0);
	f->big = malloc(value_len + 1);
	memset(f->big, 'a', value_len);
	f->big[value_len] = '\0';
	struct roster_meta meta = {.key = "blob", .value = f->big};
	struct roster_instance big = {.service = "web", .protocol = "http",
		.host = "web2.example.net", .port = 80, .metadata = &meta, .n_metadata = 1};
	cr_assert_eq(roster_endpoint_add(f->c, &big), 0);
	cr_assert_eq(roster_client_start_loop(f->c, &f->loop), 0);
}

static void teardown_client(struct fixture *f)
{
	roster_client_stop(f->c);
	run_until(&f->loop, &f->n.deregistered, 1, 2000);
	mock_stop(&f->m);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	cr_expect_eq(uv_loop_close(&f->loop), 0, "every handle closed");
	roster_client_free(f->c);
	free(f->big);
}

/* Let the engine run for @p ms. */
static void run_for(uv_loop_t *loop, uint64_t ms)
{
	unsigned never = 0;
	uv_timer_t tick;
	uv_timer_init(loop, &tick);
	uv_timer_start(&tick, tick_cb, 10, 10);
	uint64_t deadline = uv_now(loop) + ms;
	while (never == 0 && uv_now(loop) < deadline) {
		uv_run(loop, UV_RUN_ONCE);
	}
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
}

Test(frame_limit, registry_verdict_refuses_the_endpoint_and_keeps_the_others)
{
	struct fixture f;
	setup_client(&f, 100000); /* under 1 MiB, over the registry's 64 KiB */
	run_until(&f.loop, &f.n.failed, 1, 3000);
	cr_expect_eq(f.n.failed_error, ROSTER_ELIMIT);
	cr_expect_str_eq(f.n.failed_host, "web2.example.net");
	cr_expect(strstr(f.n.disconnect_msg, "65536-byte limit") != NULL,
			"DISCONNECTED says the registry's verdict: '%s'", f.n.disconnect_msg);
	run_until(&f.loop, &f.n.registered, 1, 3000);
	/* Ten heartbeat intervals: the connection stays up. */
	run_for(&f.loop, 3000);
	cr_expect_eq(f.m.oversized, 1, "the oversized Register sent %u times", f.m.oversized);
	cr_expect_eq(f.n.disconnected, 1, "%u disconnections", f.n.disconnected);
	cr_expect_leq(f.m.accepts, 2, "%u connections", f.m.accepts);
	cr_expect_eq(f.n.failed, 1);
	cr_expect_geq(f.n.heartbeat, 5);
	teardown_client(&f);
}

Test(frame_limit, request_over_the_default_limit_is_not_sent)
{
	struct fixture f;
	setup_client(&f, RS_FRAME_MAX_DEFAULT + 1);
	run_until(&f.loop, &f.n.failed, 1, 3000);
	cr_expect_eq(f.n.failed_error, ROSTER_ELIMIT);
	cr_expect_str_eq(f.n.failed_host, "web2.example.net");
	run_until(&f.loop, &f.n.registered, 1, 3000);
	run_for(&f.loop, 1000);
	cr_expect_eq(f.m.oversized, 0, "never sent");
	cr_expect_eq(f.n.disconnected, 0);
	cr_expect_eq(f.m.accepts, 1);
	cr_expect_eq(f.n.failed, 1);
	teardown_client(&f);
}
