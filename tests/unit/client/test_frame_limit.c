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

#include "mock_registry.h"
#include "proto/frame.h"
#include "roster/client.h"

struct counters {
	unsigned connected, disconnected, lease, lease_lost, registered, heartbeat, deregistered;
	unsigned failed;
	int failed_error;
	char failed_host[64];
	char disconnect_msg[128];
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

struct fixture {
	uv_loop_t loop;
	struct mock_registry m;
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
	mock_registry_start(&f->loop, &f->m, NULL, NULL);
	f->m.max_frame = 65536; /* rosterd --max-frame 65536 */
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
	mock_run_until(&f->loop, &f->n.deregistered, 1, 2000);
	mock_registry_stop(&f->m);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	cr_expect_eq(uv_loop_close(&f->loop), 0, "every handle closed");
	roster_client_free(f->c);
	free(f->big);
}

Test(frame_limit, registry_verdict_refuses_the_endpoint_and_keeps_the_others)
{
	struct fixture f;
	setup_client(&f, 100000); /* under 1 MiB, over the registry's 64 KiB */
	mock_run_until(&f.loop, &f.n.failed, 1, 3000);
	cr_expect_eq(f.n.failed_error, ROSTER_ELIMIT);
	cr_expect_str_eq(f.n.failed_host, "web2.example.net");
	cr_expect(strstr(f.n.disconnect_msg, "65536-byte limit") != NULL,
			"DISCONNECTED says the registry's verdict: '%s'", f.n.disconnect_msg);
	mock_run_until(&f.loop, &f.n.registered, 1, 3000);
	/* Ten heartbeat intervals: the connection stays up. */
	mock_run_for(&f.loop, 3000);
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
	mock_run_until(&f.loop, &f.n.failed, 1, 3000);
	cr_expect_eq(f.n.failed_error, ROSTER_ELIMIT);
	cr_expect_str_eq(f.n.failed_host, "web2.example.net");
	mock_run_until(&f.loop, &f.n.registered, 1, 3000);
	mock_run_for(&f.loop, 1000);
	cr_expect_eq(f.m.oversized, 0, "never sent");
	cr_expect_eq(f.n.disconnected, 0);
	cr_expect_eq(f.m.accepts, 1);
	cr_expect_eq(f.n.failed, 1);
	teardown_client(&f);
}
