/*
 * The in-process registry of libroster's loop tests: see mock_registry.h.
 */
#include "mock_registry.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef MOCK_UNWRAPPED_ALLOC
/* Built into a test linked with allocfail (ld --wrap=malloc): the mock's own
 * allocations go to the real allocator, so that only the client's fail. */
void *__real_malloc(size_t n);
#define malloc __real_malloc
#endif

static void write_done_cb(uv_write_t *w, int status)
{
	(void)status;
	free(w->data);
	free(w);
}

void mock_registry_send(struct mock_registry_conn *mc, Roster__V1__Response *r)
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

static int lease_index(struct mock_registry *m, uint64_t lease)
{
	if (lease == 0) {
		return -1; /* no lease, not a forgotten slot */
	}
	for (size_t i = 0; i < m->n_leases; i++) {
		if (m->leases[i] == lease) {
			return (int)i;
		}
	}
	return -1;
}

struct mock_registry_instance *mock_registry_instance_find(struct mock_registry *m,
		const char *service, const char *protocol, const char *host, uint32_t port)
{
	for (size_t i = 0; i < MOCK_REGISTRY_MAX_INSTANCES; i++) {
		struct mock_registry_instance *e = &m->instances[i];
		if (e->used && e->port == port && strcmp(e->service, service) == 0 &&
				strcmp(e->protocol, protocol) == 0 && strcmp(e->host, host) == 0) {
			return e;
		}
	}
	return NULL;
}

/* Forget @p e; its lease, when still known, holds one fewer. */
static void instance_drop(struct mock_registry *m, struct mock_registry_instance *e)
{
	int i = lease_index(m, e->lease);
	if (i >= 0 && m->held[i] > 0) {
		m->held[i]--;
	}
	e->used = 0;
}

int mock_registry_instance_forget(struct mock_registry *m, const char *service,
		const char *protocol, const char *host, uint32_t port)
{
	struct mock_registry_instance *e =
			mock_registry_instance_find(m, service, protocol, host, port);
	if (e == NULL) {
		return 0;
	}
	instance_drop(m, e);
	return 1;
}

/* Forget every instance of @p lease, without touching its count. */
static void instances_of_lease_forget(struct mock_registry *m, uint64_t lease)
{
	for (size_t i = 0; i < MOCK_REGISTRY_MAX_INSTANCES; i++) {
		if (m->instances[i].used && m->instances[i].lease == lease) {
			m->instances[i].used = 0;
		}
	}
}

/* Register @p in under the lease of index @p li: an update when known. */
static void instance_put(struct mock_registry *m, int li, const Roster__V1__Instance *in)
{
	cr_assert_not_null(in, "mock: Register without an instance");
	if (m->held[li] == 0) {
		/* It holds none: a test may have zeroed the count. */
		instances_of_lease_forget(m, m->leases[li]);
	}
	struct mock_registry_instance *e = mock_registry_instance_find(
			m, in->service, in->protocol, in->host, in->port);
	if (e != NULL && e->lease == m->leases[li]) {
		e->status = in->status;
		return;
	}
	if (e != NULL) {
		instance_drop(m, e); /* moved from another lease */
	}
	for (size_t i = 0; e == NULL && i < MOCK_REGISTRY_MAX_INSTANCES; i++) {
		e = m->instances[i].used ? NULL : &m->instances[i];
	}
	cr_assert_not_null(e, "mock: too many instances");
	memset(e, 0, sizeof(*e));
	e->used = 1;
	snprintf(e->service, sizeof(e->service), "%s", in->service);
	snprintf(e->protocol, sizeof(e->protocol), "%s", in->protocol);
	snprintf(e->host, sizeof(e->host), "%s", in->host);
	e->port = in->port;
	e->lease = m->leases[li];
	e->status = in->status;
	m->held[li]++;
}

static void deregister_answer(struct mock_registry *m, const Roster__V1__DeregisterRequest *q,
		Roster__V1__Response *r, Roster__V1__DeregisterResponse *dr)
{
	if (q->target_case == ROSTER__V1__DEREGISTER_REQUEST__TARGET_LEASE) {
		m->lease_deregs++;
		int i = lease_index(m, q->lease);
		if (i >= 0) {
			instances_of_lease_forget(m, q->lease);
			m->leases[i] = 0;
			m->held[i] = 0;
		}
	} else {
		const Roster__V1__InstanceId *id = q->instance;
		m->instance_deregs++;
		cr_assert_not_null(id, "mock: Deregister without a target");
		struct mock_registry_instance *e = mock_registry_instance_find(
				m, id->service, id->protocol, id->host, id->port);
		if (e == NULL) {
			r->error = ROSTER__V1__ERROR_CODE__NOT_FOUND;
			r->message = "no such instance";
			return;
		}
		instance_drop(m, e);
	}
	dr->revision = ++m->revision;
	r->result_case = ROSTER__V1__RESPONSE__RESULT_DEREGISTER;
	r->deregister = dr;
}

/* The default answers: one lease-holding client's view of rosterd. */
static void request_answer(struct mock_registry_conn *mc, const Roster__V1__Request *rq)
{
	struct mock_registry *m = mc->m;
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	Roster__V1__OpenLeaseResponse ol = ROSTER__V1__OPEN_LEASE_RESPONSE__INIT;
	Roster__V1__HeartbeatResponse hb = ROSTER__V1__HEARTBEAT_RESPONSE__INIT;
	Roster__V1__RegisterResponse rg = ROSTER__V1__REGISTER_RESPONSE__INIT;
	Roster__V1__DeregisterResponse dr = ROSTER__V1__DEREGISTER_RESPONSE__INIT;
	r.id = rq->id;
	switch (rq->op_case) {
	case ROSTER__V1__REQUEST__OP_OPEN_LEASE:
		cr_assert_lt(m->n_leases, MOCK_REGISTRY_MAX_LEASES, "mock: too many leases");
		m->opens++;
		m->leases[m->n_leases] = m->next_lease++;
		m->held[m->n_leases] = 0;
		m->ttls[m->n_leases] =
				m->grant_ttl != 0 ? m->grant_ttl : rq->open_lease->ttl_seconds;
		ol.ttl_seconds = m->ttls[m->n_leases];
		ol.lease = m->leases[m->n_leases++];
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
		hb.ttl_seconds = m->ttls[i];
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
		instance_put(m, i, rq->register_->instance);
		rg.revision = ++m->revision;
		r.result_case = ROSTER__V1__RESPONSE__RESULT_REGISTER;
		r.register_ = &rg;
		break;
	}
	case ROSTER__V1__REQUEST__OP_DEREGISTER:
		deregister_answer(m, rq->deregister, &r, &dr);
		break;
	default:
		r.error = ROSTER__V1__ERROR_CODE__UNSUPPORTED;
		break;
	}
	mock_registry_send(mc, &r);
}

static void request_handle(struct mock_registry_conn *mc, const Roster__V1__Request *rq,
		const uint8_t *frame, size_t len)
{
	struct mock_registry *m = mc->m;
	if (m->silent) {
		return;
	}
	if (m->ops != NULL && m->ops->request != NULL && m->ops->request(mc, rq, m->ud)) {
		return;
	}
	if (m->park & MOCK_PARK(rq->op_case)) {
		cr_assert_lt(m->n_parked, MOCK_REGISTRY_MAX_PARKED,
				"mock: too many parked requests");
		struct mock_registry_parked *p = &m->parked[m->n_parked++];
		p->mc = mc;
		p->len = len;
		p->frame = malloc(len > 0 ? len : 1);
		cr_assert_not_null(p->frame);
		memcpy(p->frame, frame, len);
		return;
	}
	request_answer(mc, rq);
}

/* Drop the parked requests of @p mc (NULL: all of them). */
static void parked_drop(struct mock_registry *m, const struct mock_registry_conn *mc)
{
	size_t keep = 0;
	for (size_t i = 0; i < m->n_parked; i++) {
		if (mc == NULL || m->parked[i].mc == mc) {
			free(m->parked[i].frame);
		} else {
			m->parked[keep++] = m->parked[i];
		}
	}
	m->n_parked = keep;
}

void mock_registry_unpark(struct mock_registry *m)
{
	struct mock_registry_parked todo[MOCK_REGISTRY_MAX_PARKED];
	size_t n = m->n_parked;
	memcpy(todo, m->parked, n * sizeof(todo[0]));
	m->n_parked = 0;
	for (size_t i = 0; i < n; i++) {
		/* Parked requests of a closed connection were dropped with it. */
		Roster__V1__Request *rq =
				roster__v1__request__unpack(NULL, todo[i].len, todo[i].frame);
		cr_assert_not_null(rq);
		request_answer(todo[i].mc, rq);
		roster__v1__request__free_unpacked(rq, NULL);
		free(todo[i].frame);
	}
}

static void conn_alloc_cb(uv_handle_t *h, size_t n, uv_buf_t *b)
{
	(void)h;
	b->base = malloc(n);
	b->len = n;
}

static void conn_close_cb(uv_handle_t *h)
{
	struct mock_registry_conn *mc = h->data;
	rs_frame_decoder_deinit(&mc->dec);
	mc->open = 0;
}

static void conn_close(struct mock_registry_conn *mc)
{
	if (mc->open == 1) {
		parked_drop(mc->m, mc);
		mc->open = 2;
		uv_close((uv_handle_t *)&mc->tcp, conn_close_cb);
	}
}

static void conn_shutdown_cb(uv_shutdown_t *req, int status)
{
	(void)status;
	conn_close(req->data);
	free(req);
}

/* Close once the verdict is written: uv_close() would cancel the write. */
static void conn_close_after_flush(struct mock_registry_conn *mc)
{
	uv_read_stop((uv_stream_t *)&mc->tcp);
	uv_shutdown_t *req = malloc(sizeof(*req));
	req->data = mc;
	if (uv_shutdown(req, (uv_stream_t *)&mc->tcp, conn_shutdown_cb) != 0) {
		free(req);
		conn_close(mc);
	}
}

/* As rosterd: the verdict with id 0, then close. */
static void conn_verdict_send(struct mock_registry_conn *mc)
{
	char msg[64];
	snprintf(msg, sizeof(msg), "frame larger than the %u-byte limit",
			(unsigned)mc->m->max_frame);
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	r.error = ROSTER__V1__ERROR_CODE__FRAME_TOO_LARGE;
	r.message = msg;
	mock_registry_send(mc, &r);
	conn_close_after_flush(mc);
}

static void conn_frame_refuse(struct mock_registry_conn *mc)
{
	mc->m->oversized++;
	if (mc->m->hold_verdict) {
		uv_read_stop((uv_stream_t *)&mc->tcp); /* mock_registry_verdict() answers */
		return;
	}
	conn_verdict_send(mc);
}

unsigned mock_registry_verdict(struct mock_registry *m)
{
	unsigned n = 0;
	for (size_t i = 0; i < MOCK_REGISTRY_MAX_CONNS; i++) {
		if (m->conns[i].open == 1) {
			conn_verdict_send(&m->conns[i]);
			n++;
		}
	}
	return n;
}

static void conn_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct mock_registry_conn *mc = s->data;
	if (n < 0) {
		conn_close(mc);
		free(b->base);
		return;
	}
	const uint8_t *p = (const uint8_t *)b->base;
	size_t left = (size_t)n;
	/* A hook may close the connection: nothing more is read from it then. */
	while (left > 0 && mc->open == 1) {
		size_t used;
		const uint8_t *f;
		size_t fl;
		int rc = rs_frame_decode(&mc->dec, p, left, &used, &f, &fl);
		if (rc < 0 && mc->m->max_frame != 0) {
			conn_frame_refuse(mc);
			break;
		}
		cr_assert_geq(rc, 0);
		p += used;
		left -= used;
		if (rc == 0) {
			break;
		}
		Roster__V1__Request *rq = roster__v1__request__unpack(NULL, fl, f);
		cr_assert_not_null(rq);
		request_handle(mc, rq, f, fl);
		roster__v1__request__free_unpacked(rq, NULL);
	}
	free(b->base);
}

static void free_handle_cb(uv_handle_t *h)
{
	free(h);
}

static void listener_accept_cb(uv_stream_t *l, int status)
{
	struct mock_registry *m = l->data;
	cr_assert_eq(status, 0);
	if (m->accepts < MOCK_REGISTRY_MAX_ACCEPTS) {
		m->accepted_at[m->accepts] = uv_now(l->loop);
	}
	m->accepts++;
	if (m->refuse) {
		uv_tcp_t *t = malloc(sizeof(*t));
		uv_tcp_init(l->loop, t);
		cr_assert_eq(uv_accept(l, (uv_stream_t *)t), 0);
		uv_close((uv_handle_t *)t, free_handle_cb);
		return;
	}
	for (int i = 0; i < MOCK_REGISTRY_MAX_CONNS; i++) {
		struct mock_registry_conn *mc = &m->conns[i];
		if (mc->open == 0) {
			uv_tcp_init(l->loop, &mc->tcp);
			mc->tcp.data = mc;
			mc->m = m;
			mc->open = 1;
			rs_frame_decoder_init(&mc->dec,
					m->max_frame != 0 ? m->max_frame : RS_FRAME_MAX_DEFAULT);
			cr_assert_eq(uv_accept(l, (uv_stream_t *)&mc->tcp), 0);
			if (m->ops != NULL && m->ops->accept != NULL) {
				m->ops->accept(mc, m->ud);
			}
			uv_read_start((uv_stream_t *)&mc->tcp, conn_alloc_cb, conn_read_cb);
			return;
		}
	}
	cr_assert_fail("mock: too many connections");
}

void mock_registry_start(uv_loop_t *loop, struct mock_registry *m,
		const struct mock_registry_ops *ops, void *ud)
{
	memset(m, 0, sizeof(*m));
	m->ops = ops;
	m->ud = ud;
	m->next_lease = 100;
	struct sockaddr_in sa;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	uv_tcp_init(loop, &m->listener);
	m->listener.data = m;
	cr_assert_eq(uv_tcp_bind(&m->listener, (const struct sockaddr *)&sa, 0), 0);
	cr_assert_eq(uv_listen((uv_stream_t *)&m->listener, 16, listener_accept_cb), 0);
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	uv_tcp_getsockname(&m->listener, (struct sockaddr *)&ss, &len);
	m->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

void mock_registry_drop_connections(struct mock_registry *m)
{
	for (int i = 0; i < MOCK_REGISTRY_MAX_CONNS; i++) {
		conn_close(&m->conns[i]);
	}
}

void mock_registry_stop(struct mock_registry *m)
{
	mock_registry_drop_connections(m);
	parked_drop(m, NULL);
	uv_close((uv_handle_t *)&m->listener, NULL);
}

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

/* Turn @p loop until @p ms pass or, with @p flag, *@p flag >= @p want. */
static void run(uv_loop_t *loop, const unsigned *flag, unsigned want, uint64_t ms)
{
	uv_timer_t tick;
	uv_timer_init(loop, &tick);
	uv_timer_start(&tick, tick_cb, 10, 10);
	uint64_t deadline = uv_now(loop) + ms;
	while ((flag == NULL || *flag < want) && uv_now(loop) < deadline) {
		uv_run(loop, UV_RUN_ONCE);
	}
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
}

void mock_run_until(uv_loop_t *loop, const unsigned *flag, unsigned want, uint64_t ms)
{
	run(loop, flag, want, ms);
	cr_assert_geq(*flag, want, "waited %llu ms for %u, have %u", (unsigned long long)ms, want,
			*flag);
}

void mock_run_for(uv_loop_t *loop, uint64_t ms)
{
	run(loop, NULL, 0, ms);
}
