/*
 * The engine under allocation failures (tests/faults/allocfail.h), against
 * the mock registry (whose own allocations never fail here): each
 * allocation on the way from connecting to a registered endpoint, then each
 * one of a heartbeat round, fails once in turn. The client must say so (a
 * DISCONNECTED event naming the shortage, where the failure cost the
 * connection), lose nothing (the endpoint ends up registered, once per
 * lease) and recover by itself once memory returns (heartbeats go on, the
 * lease is deregistered at stop). The same for a watch's stream: each
 * allocation from the Watch request to its snapshot's END fails once in
 * turn, and the watch ends up with a whole snapshot and the next change.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "allocfail.h"
#include "proto/roster.pb-c.h"
#include "client_fixture.h"
#include "roster/client.h"

#define MAX_K 400

/* A disconnect caused by a failed allocation names it: ours, or libuv's
 * when the read buffer could not be had. */
static bool names_memory(const char *msg)
{
	return strstr(msg, "out of memory") != NULL || strstr(msg, "no buffer space") != NULL;
}

static void expect_recovered(struct client_fixture *f, size_t k)
{
	cr_assert_not_null(
			mock_registry_instance_find(&f->m, "web", "http", "web1.example.net", 80),
			"k=%zu: the endpoint is registered", k);
	unsigned hb = f->n.heartbeat;
	mock_run_until(&f->loop, &f->n.heartbeat, hb + 2, 3000);
	cr_expect_eq(f->n.failed, 0, "k=%zu: nothing refused", k);
}

Test(engine_nomem, connecting_and_registering_survive_each_failed_allocation)
{
	size_t k, disconnects = 0;
	for (k = 1; k < MAX_K; k++) {
		struct client_fixture f;
		client_fixture_start(&f, NULL);
		allocfail_arm(k);
		mock_run_until(&f.loop, &f.n.registered, 1, 5000);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (f.n.disconnected > 0) {
			disconnects++;
			cr_expect(names_memory(f.n.disconnect_msg), "k=%zu: disconnected: %s", k,
					f.n.disconnect_msg);
		}
		expect_recovered(&f, k);
		client_fixture_stop(&f);
		if (!struck) {
			break;
		}
	}
	cr_assert_lt(k, MAX_K);
	cr_expect_gt(k, 5, "the path allocates: %zu", k);
	cr_expect_gt(disconnects, 0, "some failures cost the connection");
}

Test(engine_nomem, a_heartbeat_round_survives_each_failed_allocation)
{
	size_t k, disconnects = 0;
	for (k = 1; k < MAX_K; k++) {
		struct client_fixture f;
		client_fixture_start(&f, NULL);
		mock_run_until(&f.loop, &f.n.registered, 1, 2000);
		unsigned hb = f.n.heartbeat, dc = f.n.disconnected;
		allocfail_arm(k);
		mock_run_until(&f.loop, &f.n.heartbeat, hb + 1, 3000);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (f.n.disconnected > dc) {
			disconnects++;
			cr_expect(names_memory(f.n.disconnect_msg), "k=%zu: disconnected: %s", k,
					f.n.disconnect_msg);
		}
		expect_recovered(&f, k);
		client_fixture_stop(&f);
		if (!struck) {
			break;
		}
	}
	cr_assert_lt(k, MAX_K);
	cr_expect_gt(k, 2, "a heartbeat allocates: %zu", k);
	cr_expect_gt(disconnects, 0, "some failures cost the connection");
}

/* ---- a watch's stream ------------------------------------------------------ */

/* The registry's Watch side: a snapshot of one instance, then changes. */
struct watch_side {
	uint64_t ids[MOCK_REGISTRY_MAX_CONNS]; /* the last Watch of each connection */
	unsigned watches;
};

static void send_event(struct mock_registry_conn *mc, uint64_t id,
		Roster__V1__WatchEvent__Kind kind, uint64_t revision, const char *host)
{
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	Roster__V1__WatchEvent ev = ROSTER__V1__WATCH_EVENT__INIT;
	Roster__V1__Instance in = ROSTER__V1__INSTANCE__INIT;
	char *addrs[] = {"192.0.2.1", "2001:db8::1"};
	Roster__V1__Instance__MetadataEntry kv = ROSTER__V1__INSTANCE__METADATA_ENTRY__INIT;
	Roster__V1__Instance__MetadataEntry *meta[] = {&kv};
	/* Over one 16 KiB read: the frame decoder allocates its buffer too. */
	static char big[20001];
	memset(big, 'v', sizeof(big) - 1);
	kv.key = "blob";
	kv.value = big;
	r.id = id;
	ev.kind = kind;
	ev.revision = revision;
	if (host != NULL) {
		/* Strings, addresses and metadata: the decoder allocates for each. */
		in.service = "web";
		in.protocol = "http";
		in.host = (char *)host;
		in.port = 80;
		in.n_addresses = 2;
		in.addresses = addrs;
		in.n_metadata = 1;
		in.metadata = meta;
		ev.instance = &in;
	}
	r.result_case = ROSTER__V1__RESPONSE__RESULT_WATCH_EVENT;
	r.watch_event = &ev;
	mock_registry_send(mc, &r);
}

static int watch_request_cb(struct mock_registry_conn *mc, const Roster__V1__Request *rq, void *ud)
{
	struct watch_side *ws = ud;
	if (rq->op_case != ROSTER__V1__REQUEST__OP_WATCH) {
		return 0;
	}
	uint64_t rev = mc->m->revision;
	ws->watches++;
	ws->ids[mc - mc->m->conns] = rq->id;
	send_event(mc, rq->id, ROSTER__V1__WATCH_EVENT__KIND__SNAPSHOT_BEGIN, rev, NULL);
	send_event(mc, rq->id, ROSTER__V1__WATCH_EVENT__KIND__UPSERT, 1, "web9.example.net");
	send_event(mc, rq->id, ROSTER__V1__WATCH_EVENT__KIND__SNAPSHOT_END, rev, NULL);
	return 1;
}

static const struct mock_registry_ops watch_ops = {.request = watch_request_cb};

struct watch_seen {
	unsigned ends, upserts, resyncs;
	int in_snapshot;
	char host[64]; /* the last UPSERT's */
	unsigned n_meta, n_addrs;
};

static void watch_seen_cb(const struct roster_watch_event *ev, void *ud)
{
	struct watch_seen *s = ud;
	switch (ev->kind) {
	case ROSTER_WATCH_SNAPSHOT_BEGIN:
		s->in_snapshot = 1;
		break;
	case ROSTER_WATCH_SNAPSHOT_END:
		s->in_snapshot = 0;
		s->ends++;
		break;
	case ROSTER_WATCH_UPSERT:
		s->upserts += s->in_snapshot ? 0 : 1;
		snprintf(s->host, sizeof(s->host), "%s", ev->instance->host);
		s->n_meta = (unsigned)ev->instance->n_metadata;
		s->n_addrs = (unsigned)ev->instance->n_addresses;
		break;
	case ROSTER_WATCH_RESYNC:
		s->resyncs++;
		break;
	default:
		break;
	}
}

Test(engine_nomem, a_watch_stream_survives_each_failed_allocation)
{
	size_t k, disconnects = 0;
	for (k = 1; k < MAX_K; k++) {
		struct watch_side ws = {0};
		struct watch_seen seen = {0};
		struct client_fixture f;
		struct roster_watch *w = NULL;
		client_fixture_start(
				&f, &(struct client_fixture_opts){.ops = &watch_ops, .ud = &ws});
		mock_run_until(&f.loop, &f.n.registered, 1, 2000);
		unsigned dc = f.n.disconnected;
		cr_assert_eq(roster_watch_start(f.c, "", watch_seen_cb, &seen, &w), 0);
		allocfail_arm(k);
		mock_run_until(&f.loop, &seen.ends, 1, 5000);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (f.n.disconnected > dc) {
			disconnects++;
			cr_expect(names_memory(f.n.disconnect_msg), "k=%zu: disconnected: %s", k,
					f.n.disconnect_msg);
		}
		cr_expect_str_eq(seen.host, "web9.example.net", "k=%zu", k);
		cr_expect_eq(seen.n_meta, 1, "k=%zu", k);
		cr_expect_eq(seen.n_addrs, 2, "k=%zu", k);
		/* A change after the snapshot reaches the watch. */
		struct mock_registry_conn *mc = NULL;
		for (size_t i = 0; i < MOCK_REGISTRY_MAX_CONNS; i++) {
			mc = f.m.conns[i].open == 1 && ws.ids[i] != 0 ? &f.m.conns[i] : mc;
		}
		cr_assert_not_null(mc, "k=%zu: a watch stream is open", k);
		f.m.revision++;
		send_event(mc, ws.ids[mc - f.m.conns], ROSTER__V1__WATCH_EVENT__KIND__UPSERT,
				f.m.revision, "web8.example.net");
		mock_run_until(&f.loop, &seen.upserts, 1, 3000);
		cr_expect_str_eq(seen.host, "web8.example.net", "k=%zu", k);
		expect_recovered(&f, k);
		roster_watch_cancel(f.c, w);
		client_fixture_stop(&f);
		if (!struck) {
			break;
		}
	}
	cr_assert_lt(k, MAX_K);
	cr_expect_gt(k, 5, "the stream allocates: %zu", k);
	cr_expect_gt(disconnects, 0, "some failures cost the connection");
}
