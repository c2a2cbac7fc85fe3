/*
 * The lease of one registry connection (client/lease.c, and the timer of
 * client/reg.c that drives it), on a private loop against the in-process
 * mock registry: the heartbeat interval follows the TTL the registry
 * granted, not the one asked for; a registry slow to answer a heartbeat gets
 * no second one piled on it, and is not left while its answer is late by
 * less than a heartbeat interval past the timeout. Callback counters, and
 * uv_loop_close() == 0 at the end (the fixture's).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "client_fixture.h"
#include "mock_registry.h"
#include "roster/client.h"

/* ---- the granted TTL ------------------------------------------------------ */

struct lease_times {
	uv_loop_t *loop;
	uint32_t asked;       /* the TTL the OpenLease asked for */
	uint64_t opened_at;   /* uv_now() at the OpenLease */
	uint64_t first_hb_at; /* uv_now() at the first Heartbeat */
	unsigned heartbeats;
};

static int lease_times_request_cb(
		struct mock_registry_conn *mc, const Roster__V1__Request *rq, void *ud)
{
	struct lease_times *t = ud;
	(void)mc;
	if (rq->op_case == ROSTER__V1__REQUEST__OP_OPEN_LEASE) {
		t->asked = rq->open_lease->ttl_seconds;
		t->opened_at = uv_now(t->loop);
	} else if (rq->op_case == ROSTER__V1__REQUEST__OP_HEARTBEAT && t->heartbeats++ == 0) {
		t->first_hb_at = uv_now(t->loop);
	}
	return 0;
}

static const struct mock_registry_ops lease_times_ops = {.request = lease_times_request_cb};

Test(lease, heartbeat_interval_follows_the_granted_ttl)
{
	struct client_fixture f;
	struct lease_times t = {.loop = &f.loop};
	client_fixture_start(
			&f, &(struct client_fixture_opts){
					    .ttl_seconds = 3, .ops = &lease_times_ops, .ud = &t});
	f.m.grant_ttl = 1; /* the registry grants less than asked */
	mock_run_until(&f.loop, &f.n.registered, 1, 2000);
	mock_run_until(&f.loop, &t.heartbeats, 1, 2000);
	cr_expect_eq(t.asked, 3);
	/* A third of the granted 1 s (+-10 %), plus a loaded machine's delay; a
	 * third of the 3 s asked for would be 1 s: the lease expired by then. */
	uint64_t gap = t.first_hb_at - t.opened_at;
	cr_expect_leq(gap, 600, "first heartbeat %llu ms after the lease was opened",
			(unsigned long long)gap);
	cr_expect_geq(gap, 250, "first heartbeat %llu ms after the lease was opened",
			(unsigned long long)gap);
	cr_expect_eq(f.n.lease_lost, 0);
	client_fixture_stop(&f);
}

/* ---- a registry slow to answer heartbeats ------------------------------- */

/* Heartbeats are parked at the mock and answered SLOW_HB_MS after the first
 * one of a batch arrived. */
#define SLOW_HB_MS 850

struct slow {
	struct mock_registry *m;
	uv_timer_t timer;
	unsigned heartbeats;      /* Heartbeat requests received */
	unsigned most_unanswered; /* the most heartbeats unanswered at once */
};

static void slow_timer_cb(uv_timer_t *timer)
{
	struct slow *s = timer->data;
	mock_registry_unpark(s->m);
}

static int slow_request_cb(struct mock_registry_conn *mc, const Roster__V1__Request *rq, void *ud)
{
	struct slow *s = ud;
	(void)mc;
	if (rq->op_case != ROSTER__V1__REQUEST__OP_HEARTBEAT) {
		return 0;
	}
	s->heartbeats++;
	unsigned unanswered = (unsigned)s->m->n_parked + 1; /* only heartbeats park */
	s->most_unanswered = unanswered > s->most_unanswered ? unanswered : s->most_unanswered;
	if (!uv_is_active((uv_handle_t *)&s->timer)) {
		uv_timer_start(&s->timer, slow_timer_cb, SLOW_HB_MS, 0);
	}
	return 0; /* the default parks it */
}

static const struct mock_registry_ops slow_ops = {.request = slow_request_cb};

/*
 * TTL 2 s: a tick every 600-733 ms. Timeout 580 ms: a request is given up
 * on after 1180-1313 ms. Each heartbeat is answered 850 ms after it was
 * sent: later than the timeout and than the next tick, within the grace
 * (with room for a loaded machine on both sides).
 */
static void slow_start(struct client_fixture *f, struct slow *s)
{
	s->m = &f->m;
	client_fixture_start(f, &(struct client_fixture_opts){.ttl_seconds = 2,
						.timeout_ms = 580,
						.ops = &slow_ops,
						.ud = s});
	uv_timer_init(&f->loop, &s->timer);
	s->timer.data = s;
	f->m.park = MOCK_PARK(ROSTER__V1__REQUEST__OP_HEARTBEAT);
	mock_run_until(&f->loop, &f->n.registered, 1, 2000);
	mock_run_until(&f->loop, &f->n.heartbeat, 3, 6000);
}

static void slow_stop(struct client_fixture *f, struct slow *s)
{
	f->m.park = 0;
	mock_registry_unpark(&f->m);
	uv_close((uv_handle_t *)&s->timer, NULL);
	client_fixture_stop(f);
}

Test(lease, no_heartbeat_is_piled_on_an_unanswered_one)
{
	struct client_fixture f;
	struct slow s = {0};
	slow_start(&f, &s);
	cr_expect_eq(s.most_unanswered, 1, "%u heartbeats unanswered at once", s.most_unanswered);
	/* Every heartbeat sent was answered or is the one waiting. */
	cr_expect_leq(s.heartbeats, f.n.heartbeat + 1, "%u heartbeats sent, %u answered",
			s.heartbeats, f.n.heartbeat);
	slow_stop(&f, &s);
}

Test(lease, heartbeat_answered_late_within_the_grace_keeps_the_connection)
{
	struct client_fixture f;
	struct slow s = {0};
	slow_start(&f, &s);
	cr_expect_eq(f.n.disconnected, 0, "left the registry: %s", f.n.disconnect_msg);
	cr_expect_eq(f.n.connected, 1);
	cr_expect_eq(f.n.lease, 1);
	cr_expect_eq(f.m.registers, 1);
	slow_stop(&f, &s);
}
