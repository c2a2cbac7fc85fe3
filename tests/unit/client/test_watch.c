/*
 * The engine's watches on a private loop against an in-process mock
 * registry that speaks the real frames: RESYNC callbacks that cancel other
 * watches (no use after free: run it in the ASan build too), and the resume
 * revision after the registry's revision went back (a registry restarted
 * from an empty data dir) and after a snapshot cut short, and a quiet watch
 * stream that is no unanswered request. Callback counters, and
 * uv_loop_close() == 0.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "client_fixture.h"
#include "mock_registry.h"
#include "proto/roster.pb-c.h"
#include "roster/client.h"

#define MAX_WATCHES 8

/* The registry's Watch side, served through the mock's hooks. */
struct mock_watches {
	struct mock_registry *m;
	uint64_t ids[MOCK_REGISTRY_MAX_CONNS][MAX_WATCHES]; /* by connection slot */
	size_t n_ids[MOCK_REGISTRY_MAX_CONNS];
	unsigned watches;    /* Watch requests received */
	uint64_t last_since; /* since_revision of the last one */
	unsigned cancels;
	unsigned cut_snapshots; /* snapshots still to send without their END */
	unsigned refuse;        /* Watch requests still to refuse (UNAVAILABLE) */
};

static size_t conn_slot(const struct mock_registry_conn *mc)
{
	return (size_t)(mc - mc->m->conns);
}

static void mock_event(struct mock_registry_conn *mc, uint64_t id,
		Roster__V1__WatchEvent__Kind kind, uint64_t revision, const char *host)
{
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	Roster__V1__WatchEvent ev = ROSTER__V1__WATCH_EVENT__INIT;
	Roster__V1__Instance in = ROSTER__V1__INSTANCE__INIT;
	r.id = id;
	ev.kind = kind;
	ev.revision = revision;
	if (host != NULL) {
		in.service = "web";
		in.protocol = "http";
		in.host = (char *)host;
		in.port = 80;
		ev.instance = &in;
	}
	r.result_case = ROSTER__V1__RESPONSE__RESULT_WATCH_EVENT;
	r.watch_event = &ev;
	mock_registry_send(mc, &r);
}

/* An UPSERT at the next revision to every watch of every connection. */
static void mock_change(struct mock_watches *mw, const char *host)
{
	struct mock_registry *m = mw->m;
	m->revision++;
	for (size_t i = 0; i < MOCK_REGISTRY_MAX_CONNS; i++) {
		struct mock_registry_conn *mc = &m->conns[i];
		for (size_t k = 0; mc->open == 1 && k < mw->n_ids[i]; k++) {
			mock_event(mc, mw->ids[i][k], ROSTER__V1__WATCH_EVENT__KIND__UPSERT,
					m->revision, host);
		}
	}
}

static void watches_accept_cb(struct mock_registry_conn *mc, void *ud)
{
	struct mock_watches *mw = ud;
	mw->n_ids[conn_slot(mc)] = 0;
}

/* Watch and CancelWatch; the rest is the mock's default. */
static int watches_request_cb(
		struct mock_registry_conn *mc, const Roster__V1__Request *rq, void *ud)
{
	struct mock_watches *mw = ud;
	struct mock_registry *m = mc->m;
	size_t slot = conn_slot(mc);
	switch (rq->op_case) {
	case ROSTER__V1__REQUEST__OP_WATCH: {
		uint64_t since = rq->watch->since_revision;
		mw->watches++;
		if (mw->refuse > 0) {
			mw->refuse--;
			Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
			r.id = rq->id;
			r.error = ROSTER__V1__ERROR_CODE__UNAVAILABLE;
			r.message = "refused by the test";
			mock_registry_send(mc, &r);
			return 1;
		}
		mw->last_since = since;
		cr_assert_lt(mw->n_ids[slot], MAX_WATCHES);
		mw->ids[slot][mw->n_ids[slot]++] = rq->id;
		/* As rosterd: a snapshot when the journal cannot serve @since (the
		 * mock keeps no journal: only "nothing missed" is served). */
		if (since == 0 || since != m->revision) {
			mock_event(mc, rq->id, ROSTER__V1__WATCH_EVENT__KIND__SNAPSHOT_BEGIN,
					m->revision, NULL);
			if (m->revision > 0) {
				/* A snapshot UPSERT carries its instance's own, older revision. */
				mock_event(mc, rq->id, ROSTER__V1__WATCH_EVENT__KIND__UPSERT, 1,
						"web1.example.net");
			}
			if (mw->cut_snapshots > 0) {
				mw->cut_snapshots--; /* the test cuts the connection */
				return 1;
			}
			mock_event(mc, rq->id, ROSTER__V1__WATCH_EVENT__KIND__SNAPSHOT_END,
					m->revision, NULL);
		}
		return 1;
	}
	case ROSTER__V1__REQUEST__OP_CANCEL_WATCH: {
		Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
		Roster__V1__CancelWatchResponse cw = ROSTER__V1__CANCEL_WATCH_RESPONSE__INIT;
		mw->cancels++;
		r.id = rq->id;
		r.result_case = ROSTER__V1__RESPONSE__RESULT_CANCEL_WATCH;
		r.cancel_watch = &cw;
		mock_registry_send(mc, &r);
		return 1;
	}
	default:
		return 0;
	}
}

static const struct mock_registry_ops watches_ops = {
		.request = watches_request_cb,
		.accept = watches_accept_cb,
};

struct fixture;

/* One watch and what its callback saw. */
struct watcher {
	struct fixture *f;
	struct roster_watch *w;
	unsigned resyncs, snapshots, upserts;
	unsigned snapshot_upserts; /* UPSERT events inside snapshots */
	int in_snapshot;
	uint64_t last_end; /* revision of the last SNAPSHOT_END */
	uint64_t resync_revision;
	struct watcher *cancel_on_resync; /* cancel this watch from the RESYNC callback */
	int start_on_resync;              /* start watch 'spawned' from it */
};

struct fixture {
	uv_loop_t loop;
	struct mock_registry m;
	struct mock_watches mw;
	struct roster_client *c;
	char server[32];
	struct watcher a, b, spawned;
	unsigned ends;    /* SNAPSHOT_END events, all watches */
	unsigned resyncs; /* RESYNC events, all watches */
	unsigned upserts; /* UPSERT events outside snapshots, all watches */
};

static void watch_cb(const struct roster_watch_event *ev, void *ud)
{
	struct watcher *w = ud;
	struct fixture *f = w->f;
	switch (ev->kind) {
	case ROSTER_WATCH_SNAPSHOT_BEGIN:
		w->snapshots++;
		w->in_snapshot = 1;
		break;
	case ROSTER_WATCH_SNAPSHOT_END:
		w->in_snapshot = 0;
		w->last_end = ev->revision;
		f->ends++;
		break;
	case ROSTER_WATCH_UPSERT:
		if (!w->in_snapshot) {
			w->upserts++;
			f->upserts++;
		} else {
			w->snapshot_upserts++;
		}
		break;
	case ROSTER_WATCH_RESYNC:
		w->resyncs++;
		w->resync_revision = ev->revision;
		f->resyncs++;
		if (w->cancel_on_resync != NULL && w->cancel_on_resync->w != NULL) {
			roster_watch_cancel(f->c, w->cancel_on_resync->w);
			w->cancel_on_resync->w = NULL;
		}
		if (w->start_on_resync) {
			w->start_on_resync = 0;
			cr_assert_eq(roster_watch_start(f->c, "", watch_cb, &f->spawned,
						     &f->spawned.w),
					0);
		}
		break;
	default:
		break;
	}
}

static void setup_client(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->a.f = f->b.f = f->spawned.f = f;
	cr_assert_eq(uv_loop_init(&f->loop), 0);
	f->mw.m = &f->m;
	mock_registry_start(&f->loop, &f->m, &watches_ops, &f->mw);
	snprintf(f->server, sizeof(f->server), "127.0.0.1:%d", f->m.port);
	const char *servers[] = {f->server};
	struct roster_config cfg = {.servers = servers,
			.n_servers = 1,
			.ttl_seconds = 1,
			.backoff_min_ms = 10,
			.backoff_max_ms = 50,
			.timeout_ms = 500};
	cr_assert_eq(roster_client_new(&cfg, &f->c), 0);
	/* List order is newest first: b, then a. */
	cr_assert_eq(roster_watch_start(f->c, "", watch_cb, &f->a, &f->a.w), 0);
	cr_assert_eq(roster_watch_start(f->c, "", watch_cb, &f->b, &f->b.w), 0);
	cr_assert_eq(roster_client_start_loop(f->c, &f->loop), 0);
}

static void teardown_client(struct fixture *f)
{
	roster_client_stop(f->c);
	mock_registry_stop(&f->m);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	cr_expect_eq(uv_loop_close(&f->loop), 0, "every handle closed");
	roster_client_free(f->c); /* frees the watches still started */
}

Test(watch, resync_callback_may_cancel_the_next_watch)
{
	struct fixture f;
	setup_client(&f);
	f.b.cancel_on_resync = &f.a; /* a follows b in the list */
	mock_run_until(&f.loop, &f.ends, 2, 2000);
	mock_registry_drop_connections(&f.m);
	mock_run_until(&f.loop, &f.resyncs, 1, 2000);
	cr_expect_eq(f.b.resyncs, 1);
	cr_expect_eq(f.a.resyncs, 0, "a cancelled watch gets no callback");
	cr_expect_null(f.a.w);
	/* The survivor subscribes again on the new connection. */
	mock_run_until(&f.loop, &f.ends, 3, 2000);
	cr_expect_eq(f.b.snapshots, 2);
	teardown_client(&f);
}

Test(watch, resync_callback_may_cancel_the_previous_watch_and_start_one)
{
	struct fixture f;
	setup_client(&f);
	f.a.cancel_on_resync = &f.b; /* b comes before a: already called */
	f.a.start_on_resync = 1;
	f.b.cancel_on_resync = &f.b; /* b cancels itself */
	mock_run_until(&f.loop, &f.ends, 2, 2000);
	mock_registry_drop_connections(&f.m);
	mock_run_until(&f.loop, &f.resyncs, 1, 2000);
	mock_run_until(&f.loop, &f.ends, 4, 2000); /* a and the new watch */
	cr_expect_eq(f.b.resyncs, 1);
	cr_expect_eq(f.a.resyncs, 1);
	cr_expect_eq(f.spawned.resyncs, 0, "a watch started by a RESYNC callback gets none");
	cr_expect_eq(f.spawned.snapshots, 1);
	teardown_client(&f);
}

/* The client with watch b only, the registry at @p revision. */
static void setup_one_watch(struct fixture *f, uint64_t revision)
{
	setup_client(f);
	roster_watch_cancel(f->c, f->a.w);
	f->a.w = NULL;
	f->m.revision = revision;
}

Test(watch, resume_revision_follows_the_stream_after_a_reset)
{
	struct fixture f;
	setup_one_watch(&f, 6);
	mock_run_until(&f.loop, &f.ends, 1, 2000);
	cr_expect_eq(f.b.last_end, 6);

	/* The registry comes back from an empty data dir: revision 0. */
	f.m.revision = 0;
	mock_registry_drop_connections(&f.m);
	mock_run_until(&f.loop, &f.ends, 2, 2000);
	cr_expect_eq(f.mw.last_since, 6, "resumed from what it had seen");
	cr_expect_eq(f.b.last_end, 0);
	mock_change(&f.mw, "q1.example.net"); /* revision 1 */
	mock_change(&f.mw, "q2.example.net"); /* revision 2 */
	mock_run_until(&f.loop, &f.upserts, 2, 2000);

	/* Another drop: the watch resumes from 2, the stream's revision, not
	 * from 6, which the new registry reaches later with other changes. */
	mock_registry_drop_connections(&f.m);
	unsigned before = f.mw.watches;
	mock_run_until(&f.loop, &f.mw.watches, before + 1, 2000);
	cr_expect_eq(f.b.resync_revision, 2);
	cr_expect_eq(f.mw.last_since, 2, "Watch since_revision %llu",
			(unsigned long long)f.mw.last_since);
	cr_expect_eq(f.ends, 2, "nothing missed: no new snapshot");
	teardown_client(&f);
}

Test(watch, snapshot_cut_short_is_asked_for_again_whole)
{
	struct fixture f;
	setup_one_watch(&f, 6);
	f.mw.cut_snapshots = 1;
	/* BEGIN at 6, then an instance's UPSERT at its own revision 1; the
	 * connection is lost before END. */
	mock_run_until(&f.loop, &f.b.snapshot_upserts, 1, 2000);
	cr_assert_eq(f.b.snapshots, 1);
	cr_assert_eq(f.ends, 0);
	mock_registry_drop_connections(&f.m);
	mock_run_until(&f.loop, &f.mw.watches, 2, 2000);
	/* Resuming from 1 would have a registry whose journal reaches back to
	 * 1 send only the changes since: the watch, told by BEGIN to forget
	 * what it had, would never get the whole state. */
	cr_expect_eq(f.mw.last_since, 0, "Watch since_revision %llu after a cut snapshot",
			(unsigned long long)f.mw.last_since);
	cr_expect_eq(f.b.resync_revision, 0);
	mock_run_until(&f.loop, &f.ends, 1, 2000);
	cr_expect_eq(f.b.last_end, 6);
	cr_expect_eq(f.b.snapshots, 2);
	teardown_client(&f);
}

/* A watch on the engine's client fixture: what its callback saw. */
struct quiet {
	unsigned ends, resyncs;
};

static void quiet_cb(const struct roster_watch_event *ev, void *ud)
{
	struct quiet *q = ud;
	q->ends += ev->kind == ROSTER_WATCH_SNAPSHOT_END ? 1 : 0;
	q->resyncs += ev->kind == ROSTER_WATCH_RESYNC ? 1 : 0;
}

Test(watch, quiet_stream_is_not_an_unanswered_request)
{
	struct mock_watches mw = {0};
	struct client_fixture f;
	struct quiet q = {0};
	struct roster_watch *w = NULL;
	mw.m = &f.m;
	client_fixture_start(&f, &(struct client_fixture_opts){.ops = &watches_ops, .ud = &mw});
	cr_assert_eq(roster_watch_start(f.c, "", quiet_cb, &q, &w), 0);
	mock_run_until(&f.loop, &q.ends, 1, 2000);
	/* Nothing changes: the stream stays silent past the timeout plus a
	 * heartbeat interval (500 + 333 ms) while the lease is renewed. A
	 * stream is not a request waiting for its answer: the registry is not
	 * left as hung. */
	unsigned hb = f.n.heartbeat;
	mock_run_until(&f.loop, &f.n.heartbeat, hb + 4, 3000);
	cr_expect_eq(f.n.disconnected, 0, "left the registry: %s", f.n.disconnect_msg);
	cr_expect_eq(q.resyncs, 0);
	cr_expect_eq(mw.watches, 1, "%u Watch requests", mw.watches);
	roster_watch_cancel(f.c, w);
	client_fixture_stop(&f);
}

/* The registry refuses a Watch (it is busy): the watch is asked for again,
 * from a snapshot, at a later heartbeat tick, on the same connection; its
 * callback hears nothing of the refusal. */
Test(watch, refused_watch_is_asked_for_again)
{
	struct mock_watches mw = {.refuse = 1};
	struct client_fixture f;
	struct quiet q = {0};
	struct roster_watch *w = NULL;
	mw.m = &f.m;
	client_fixture_start(&f, &(struct client_fixture_opts){.ops = &watches_ops, .ud = &mw});
	f.m.revision = 4;
	cr_assert_eq(roster_watch_start(f.c, "", quiet_cb, &q, &w), 0);
	mock_run_until(&f.loop, &mw.watches, 2, 3000);
	mock_run_until(&f.loop, &q.ends, 1, 2000);
	cr_expect_eq(mw.last_since, 0, "asked again from a snapshot");
	cr_expect_eq(f.n.disconnected, 0, "left the registry: %s", f.n.disconnect_msg);
	cr_expect_eq(q.resyncs, 0);
	roster_watch_cancel(f.c, w);
	client_fixture_stop(&f);
}

/* Two watches, one cancelled: the CancelWatch's answer and the events for
 * the cancelled one pass the other watch by; it alone hears the change. */
struct heard {
	unsigned ends, upserts;
};

static void heard_cb(const struct roster_watch_event *ev, void *ud)
{
	struct heard *h = ud;
	h->ends += ev->kind == ROSTER_WATCH_SNAPSHOT_END ? 1 : 0;
	h->upserts += ev->kind == ROSTER_WATCH_UPSERT ? 1 : 0;
}

Test(watch, cancelled_watch_hears_nothing_and_the_other_goes_on)
{
	struct mock_watches mw = {0};
	struct client_fixture f;
	struct heard ha = {0}, hb = {0};
	struct roster_watch *wa = NULL, *wb = NULL;
	mw.m = &f.m;
	client_fixture_start(&f, &(struct client_fixture_opts){.ops = &watches_ops, .ud = &mw});
	cr_assert_eq(roster_watch_start(f.c, "", heard_cb, &ha, &wa), 0);
	cr_assert_eq(roster_watch_start(f.c, "", heard_cb, &hb, &wb), 0);
	mock_run_until(&f.loop, &ha.ends, 1, 2000);
	mock_run_until(&f.loop, &hb.ends, 1, 2000);
	roster_watch_cancel(f.c, wa);
	mock_run_until(&f.loop, &mw.cancels, 1, 2000);
	/* The mock still sends to both ids: the cancelled one's is a stray. */
	mock_change(&mw, "q1.example.net");
	mock_run_until(&f.loop, &hb.upserts, 1, 2000);
	unsigned beats = f.n.heartbeat;
	mock_run_until(&f.loop, &f.n.heartbeat, beats + 1, 2000);
	cr_expect_eq(ha.upserts, 0, "the cancelled watch heard a change");
	cr_expect_eq(hb.upserts, 1);
	cr_expect_eq(f.n.disconnected, 0, "left the registry: %s", f.n.disconnect_msg);
	roster_watch_cancel(f.c, wb);
	client_fixture_stop(&f);
}
