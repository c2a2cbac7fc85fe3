/*
 * Reconnect delays: backoff_next_within() draws under the lower of the
 * backoff's ceiling and a limit; the engine limits it to a third of the
 * lease's TTL while the registry may still hold the lease, so that a client
 * is back within the grace a restarted registry gives persisted leases (one
 * TTL), whatever backoff_max_ms.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "client/backoff.h"
#include "mock_registry.h"
#include "roster/client.h"

Test(backoff, next_within_never_exceeds_the_limit)
{
	struct backoff b;
	backoff_init(&b, 100, 10000, 42);
	for (int i = 0; i < 1000; i++) {
		cr_assert_leq(backoff_next_within(&b, 333), 333);
	}
	cr_expect_eq(backoff_cap(&b), 10000, "attempts still counted: the ceiling grew");
}

Test(backoff, next_within_below_the_ceiling_is_plain_backoff)
{
	struct backoff a, b;
	backoff_init(&a, 100, 10000, 7);
	backoff_init(&b, 100, 10000, 7);
	for (int i = 0; i < 50; i++) {
		/* A limit of 0 or above the ceiling changes nothing. */
		cr_assert_eq(backoff_next_within(&a, i % 2 == 0 ? 0 : 20000), backoff_next(&b));
	}
}

Test(backoff, next_within_stays_jittered_under_the_limit)
{
	struct backoff b;
	backoff_init(&b, 100, 10000, 3);
	for (int i = 0; i < 20; i++) {
		(void)backoff_next(&b); /* the ceiling reaches 10 s */
	}
	unsigned low = 0, high = 0;
	for (int i = 0; i < 1000; i++) {
		uint32_t d = backoff_next_within(&b, 1000);
		low += d < 500 ? 1 : 0;
		high += d >= 500 ? 1 : 0;
	}
	/* Uniform in [0, 1000], not piled on the limit. */
	cr_expect_gt(low, 350);
	cr_expect_gt(high, 350);
}

struct counters {
	unsigned connected, disconnected, lease, lease_lost, registered, heartbeat, deregistered;
	uint64_t leases_seen[8];
	size_t n_leases_seen;
};

static void count_cb(const struct roster_event *ev, void *ud)
{
	struct counters *c = ud;
	switch (ev->kind) {
	case ROSTER_EVENT_CONNECTED:
		c->connected++;
		break;
	case ROSTER_EVENT_DISCONNECTED:
		c->disconnected++;
		break;
	case ROSTER_EVENT_LEASE:
		c->lease++;
		break;
	case ROSTER_EVENT_LEASE_LOST:
		c->lease_lost++;
		break;
	case ROSTER_EVENT_REGISTERED:
		c->registered++;
		cr_expect_str_eq(ev->endpoint->host, "web1.example.net");
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
	struct mock_registry m;
	struct counters n;
	struct roster_client *c;
	char server[32];
};

static void setup_client(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	cr_assert_eq(uv_loop_init(&f->loop), 0);
	mock_registry_start(&f->loop, &f->m, NULL, NULL);
	snprintf(f->server, sizeof(f->server), "127.0.0.1:%d", f->m.port);
	const char *servers[] = {f->server};
	struct roster_config cfg = {.servers = servers, .n_servers = 1, .ttl_seconds = 1,
		.backoff_min_ms = 10, .backoff_max_ms = 20000, .timeout_ms = 500,
		.event_cb = count_cb, .event_ud = &f->n};
	cr_assert_eq(roster_client_new(&cfg, &f->c), 0);
	struct roster_instance ep = {.service = "web", .protocol = "http",
		.host = "web1.example.net", .port = 80};
	cr_assert_eq(roster_endpoint_add(f->c, &ep), 0);
	cr_assert_eq(roster_client_start_loop(f->c, &f->loop), 0);
}

static void teardown_client(struct fixture *f)
{
	roster_client_stop(f->c);
	run_until(&f->loop, &f->n.deregistered, 1, 2000);
	mock_registry_stop(&f->m);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	cr_expect_eq(uv_loop_close(&f->loop), 0, "every handle closed");
	roster_client_free(f->c);
	cr_expect_eq(f->m.lease_deregs, 1);
}

/* Let the loop run for @p ms. */
static void run_for(uv_loop_t *loop, uint64_t ms)
{
	uv_timer_t tick;
	uv_timer_init(loop, &tick);
	uv_timer_start(&tick, tick_cb, 10, 10);
	uint64_t deadline = uv_now(loop) + ms;
	while (uv_now(loop) < deadline) {
		uv_run(loop, UV_RUN_ONCE);
	}
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
}

Test(engine, reconnects_within_a_third_of_the_ttl_while_a_lease_is_held)
{
	struct fixture f;
	setup_client(&f); /* TTL 1 s, backoff_max_ms 20 s */
	run_until(&f.loop, &f.n.registered, 1, 2000);
	/* For 3 s the registry closes every connection at once (down, or
	 * restarting): the backoff's ceiling grows to 20 s, yet every attempt
	 * comes within a third of the TTL (333 ms) of the previous one. */
	f.m.refuse = 1;
	unsigned first = f.m.accepts;
	uint64_t prev = uv_now(&f.loop);
	mock_registry_drop_connections(&f.m);
	run_for(&f.loop, 3000);
	uint64_t end = uv_now(&f.loop);
	unsigned last = f.m.accepts < MOCK_REGISTRY_MAX_ACCEPTS ? f.m.accepts
								: MOCK_REGISTRY_MAX_ACCEPTS;
	uint64_t worst = 0;
	for (unsigned i = first; i < last; i++) {
		uint64_t gap = f.m.accepted_at[i] - prev;
		worst = gap > worst ? gap : worst;
		prev = f.m.accepted_at[i];
	}
	worst = end - prev > worst ? end - prev : worst;
	cr_expect_gt(last - first, 5, "%u attempts", last - first);
	/* 333 ms, plus the connect and a loaded machine's scheduling. */
	cr_expect_leq(worst, 333 + 250, "%llu ms between attempts", (unsigned long long)worst);
	f.m.refuse = 0;
	run_until(&f.loop, &f.n.registered, 2, 3000);
	cr_expect_eq(f.n.lease, 1, "the lease survived");
	teardown_client(&f);
}
