#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "server/registry/store.h"

/* An in-memory stand-in for persist: counts writes, fails on demand. */
struct fake_disk {
	int puts, dels, lease_puts, lease_dels, commits, aborts;
	int fail_after; /* fail the n-th write (1-based); 0 never */
	int writes;
	int fail_code;
	int kept_puts;              /* instances written as kept by --keep-last */
	uint64_t rev_last, rev_max; /* revisions written: the last, the largest */
};

static int fd_write(struct fake_disk *d)
{
	d->writes++;
	if (d->fail_after != 0 && d->writes >= d->fail_after) {
		return d->fail_code;
	}
	return 0;
}

static int fd_begin(void *ctx)
{
	(void)ctx;
	return 0;
}
static int fd_commit(void *ctx)
{
	((struct fake_disk *)ctx)->commits++;
	return 0;
}
static void fd_abort(void *ctx)
{
	((struct fake_disk *)ctx)->aborts++;
}
static int fd_iput(void *ctx, struct store_instance *i)
{
	cr_assert_not_null(i->service, "persist needs the service to key the record");
	struct fake_disk *d = ctx;
	d->puts++;
	if (i->kept) {
		cr_assert_null(i->lease, "a kept instance is written without its lease");
		d->kept_puts++;
	}
	if (i->rec == 0) {
		i->rec = (uint64_t)d->puts; /* any non-zero, stable number */
	}
	return fd_write(ctx);
}
static int fd_idel(void *ctx, const struct store_instance *i)
{
	(void)i;
	((struct fake_disk *)ctx)->dels++;
	return fd_write(ctx);
}
static int fd_lput(void *ctx, const struct store_lease *l)
{
	(void)l;
	((struct fake_disk *)ctx)->lease_puts++;
	return fd_write(ctx);
}
static int fd_ldel(void *ctx, uint64_t id)
{
	(void)id;
	((struct fake_disk *)ctx)->lease_dels++;
	return fd_write(ctx);
}
static int fd_rev(void *ctx, uint64_t rev)
{
	struct fake_disk *d = ctx;
	d->rev_last = rev;
	if (rev > d->rev_max) {
		d->rev_max = rev;
	}
	return 0;
}

static const struct store_persist_ops fake_ops = {
		fd_begin, fd_commit, fd_abort, fd_iput, fd_idel, fd_lput, fd_ldel, fd_rev};

static struct store_limits limits(void)
{
	struct store_limits l;
	store_limits_default(&l);
	return l;
}

static struct store_registration reg(
		const char *svc, const char *host, uint32_t port, uint64_t lease)
{
	struct store_registration r;
	memset(&r, 0, sizeof(r));
	r.service = svc;
	r.protocol = "tcp";
	r.host = host;
	r.port = port;
	r.lease = lease;
	return r;
}

static void must_register(struct store *s, struct store_registration r, uint64_t now)
{
	bool created;
	uint64_t rev;
	int rc = store_register(s, &r, now, 1000, &created, &rev);
	cr_assert_eq(rc, 0, "register %s:%u: %s", r.host, r.port, rs_strerror(rc));
}

static uint64_t must_lease(struct store *s, uint32_t ttl, uint64_t id, uint64_t now)
{
	const struct store_lease *l;
	cr_assert_eq(store_lease_open(s, ttl, id, now, &l), 0);
	return l->id;
}

static uint32_t count(const struct store *s, const char *svc)
{
	const struct store_service *v = store_service_find(s, svc, strlen(svc), "tcp", 3);
	return v == NULL ? 0 : v->ninstances;
}

static uint32_t tick(struct store *s, uint64_t now)
{
	uint32_t n = 0;
	cr_assert_eq(store_tick(s, now, &n), 0);
	return n;
}

/* Starts on and off the expiry tick grid (STORE_TICK_MS): a lease whose
 * deadline falls on a tick boundary cannot tell an expiry rounded down to
 * the tick before from a correct one, so most starts are off it. */
Test(store, lease_expires_not_before_ttl_and_within_a_tick_after)
{
	static const uint64_t starts[] = {1000, 1001, 1037, 1050, 1099, 123457};
	for (size_t k = 0; k < sizeof(starts) / sizeof(starts[0]); k++) {
		uint64_t t0 = starts[k], deadline = t0 + 10000;
		struct store_limits l = limits();
		struct store *s = store_new(&l, NULL, NULL, t0);
		uint64_t lease = must_lease(s, 10, 42, t0);
		must_register(s, reg("web", "w1.example.net", 80, lease), t0);
		/* Every 10 ms up to the deadline, and a millisecond before it:
		 * still there. */
		for (uint64_t t = t0; t < deadline; t = t + 10 < deadline ? t + 10 : deadline - 1) {
			tick(s, t);
			cr_assert_eq(count(s, "web"), 1, "start %lu: expired early at t=%lu",
					(unsigned long)t0, (unsigned long)t);
			if (t == deadline - 1) {
				break;
			}
		}
		tick(s, deadline);
		/* Due now; gone no later than one tick after. */
		tick(s, deadline + STORE_TICK_MS + 1);
		cr_expect_eq(count(s, "web"), 0, "start %lu: still there a tick after the deadline",
				(unsigned long)t0);
		cr_expect_null(store_lease_find(s, 42));
		cr_expect_eq(store_counters_get(s)->expirations, 1);
		store_free(s);
	}
}

/* A reader (a DNS worker) inside its slot of the store's lock, until told
 * to leave. */
struct slot_holder {
	struct rs_lockset *lock;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool in, leave;
};

static void *hold_slot(void *arg)
{
	struct slot_holder *h = arg;
	rs_lockset_read_lock(h->lock, 0);
	pthread_mutex_lock(&h->mu);
	h->in = true;
	pthread_cond_broadcast(&h->cv);
	while (!h->leave) {
		pthread_cond_wait(&h->cv, &h->mu);
	}
	pthread_mutex_unlock(&h->mu);
	rs_lockset_read_unlock(h->lock, 0);
	return NULL;
}

/* Heartbeats are a fleet's most frequent write and change nothing a reader
 * sees (the deadline, a counter): one renews while a reader is inside its
 * slot, where a mutation would wait for the reader to leave (the test then
 * hangs until its timeout). */
Test(store, a_heartbeat_does_not_wait_for_the_readers, .timeout = 20)
{
	struct store_limits l = limits();
	struct store *s = store_new(&l, NULL, NULL, 1000);
	struct rs_lockset lock;
	cr_assert_eq(rs_lockset_init(&lock, 1), 0);
	store_set_lock(s, &lock);
	uint64_t lease = must_lease(s, 10, 42, 1000);
	must_register(s, reg("web", "w1.example.net", 80, lease), 1000);
	struct slot_holder h = {.lock = &lock};
	pthread_mutex_init(&h.mu, NULL);
	pthread_cond_init(&h.cv, NULL);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, hold_slot, &h), 0);
	pthread_mutex_lock(&h.mu);
	while (!h.in) {
		pthread_cond_wait(&h.cv, &h.mu);
	}
	pthread_mutex_unlock(&h.mu);
	const struct store_lease *sl = NULL;
	cr_expect_eq(store_lease_renew(s, lease, 5000, &sl), 0);
	cr_expect(sl != NULL && sl->expires_mono == 15000);
	cr_expect_eq(store_counters_get(s)->heartbeats, 1);
	cr_expect_eq(store_lease_renew(s, 7, 5000, NULL), RS_ELEASE);
	pthread_mutex_lock(&h.mu);
	h.leave = true;
	pthread_cond_broadcast(&h.cv);
	pthread_mutex_unlock(&h.mu);
	pthread_join(t, NULL);
	store_set_lock(s, NULL);
	store_free(s);
	rs_lockset_destroy(&lock);
}

/* A heartbeat renews the lease for its whole TTL, from the heartbeat: alive
 * one tick before the new deadline, gone one tick after it. */
Test(store, heartbeat_renews_for_the_whole_ttl)
{
	struct store_limits l = limits();
	struct store *s = store_new(&l, NULL, NULL, 1000);
	uint64_t lease = must_lease(s, 10, 42, 1000);
	must_register(s, reg("web", "w1.example.net", 80, lease), 1000);
	const uint64_t at = 6050, ttl = 10000;
	for (uint64_t t = 1000; t < at; t += 10) {
		tick(s, t);
	}
	cr_assert_eq(store_lease_renew(s, lease, at, NULL), 0);
	for (uint64_t t = at; t <= at + ttl - STORE_TICK_MS; t += 10) {
		tick(s, t);
		cr_assert_not_null(store_lease_find(s, lease), "expired at t=%lu, renewed at %lu",
				(unsigned long)t, (unsigned long)at);
	}
	cr_assert_eq(count(s, "web"), 1);
	tick(s, at + ttl + STORE_TICK_MS + 1);
	cr_expect_null(store_lease_find(s, lease));
	cr_expect_eq(count(s, "web"), 0);
	store_free(s);
}

/* A lease is never expired before its deadline, wherever the deadline falls
 * against the ticks: opened at 12,345 ms (TTL 1 s) and renewed d ms later,
 * for every d in 0..199, with a tick at every millisecond, it is there
 * until expires_mono (store.h: "no earlier than its TTL after its last
 * renewal") and gone within one tick after. A renewal that moves the
 * deadline past the tick boundary the lease was filed for makes the wheel
 * meet it before its deadline. */
Test(store, lease_never_expires_before_its_deadline_off_tick_boundaries)
{
	struct store_limits l = limits();
	const uint64_t open = 12345;
	for (uint64_t d = 0; d < 200; d++) {
		struct store *s = store_new(&l, NULL, NULL, open);
		uint64_t lease = must_lease(s, 1, 42, open);
		const struct store_lease *sl;
		for (uint64_t t = open; t < open + d; t++) {
			tick(s, t);
		}
		cr_assert_eq(store_lease_renew(s, lease, open + d, &sl), 0);
		uint64_t deadline = sl->expires_mono;
		cr_assert_eq(deadline, open + d + 1000);
		for (uint64_t t = open + d; t < deadline; t++) {
			tick(s, t);
			cr_assert_not_null(store_lease_find(s, lease),
					"renewed at +%lu: expired at %lu, before its deadline %lu",
					(unsigned long)d, (unsigned long)t,
					(unsigned long)deadline);
		}
		for (uint64_t t = deadline; t <= deadline + STORE_TICK_MS; t++) {
			tick(s, t);
		}
		cr_assert_null(store_lease_find(s, lease),
				"renewed at +%lu: still there a tick late", (unsigned long)d);
		store_free(s);
	}
}

Test(store, heartbeat_renews_all_instances_of_the_lease)
{
	struct store_limits l = limits();
	struct store *s = store_new(&l, NULL, NULL, 0);
	uint64_t lease = must_lease(s, 2, 7, 0);
	for (uint32_t p = 1; p <= 5; p++) {
		must_register(s, reg("web", "w1.example.net", p, lease), 0);
	}
	for (uint64_t t = 0; t < 20000; t += 500) {
		cr_assert_eq(store_lease_renew(s, lease, t, NULL), 0);
		tick(s, t);
	}
	cr_expect_eq(count(s, "web"), 5);
	tick(s, 19500 + 2000 + 2 * STORE_TICK_MS);
	cr_expect_eq(count(s, "web"), 0);
	cr_expect_eq(store_lease_renew(s, lease, 30000, NULL), RS_ELEASE);
	store_free(s);
}

Test(store, permanent_instances_never_expire)
{
	struct store_limits l = limits();
	struct store *s = store_new(&l, NULL, NULL, 0);
	must_register(s, reg("db", "db1.example.net", 5432, 0), 0);
	tick(s, 10ULL * 3600 * 1000);
	cr_expect_eq(count(s, "db"), 1);
	const struct store_service *v = store_service_find(s, "DB", 2, "TCP", 3);
	cr_assert_not_null(v, "lookups ignore case");
	cr_expect_null(v->instances[0]->lease);
	store_free(s);
}

Test(store, revision_bumps_on_every_change_only)
{
	struct store_limits l = limits();
	struct store *s = store_new(&l, NULL, NULL, 0);
	cr_expect_eq(store_revision(s), 0);
	must_register(s, reg("a", "h.example.net", 1, 0), 0);
	cr_expect_eq(store_revision(s), 1);
	must_register(s, reg("a", "h.example.net", 1, 0), 0); /* identical */
	cr_expect_eq(store_revision(s), 1);
	struct store_registration r = reg("a", "h.example.net", 1, 0);
	r.weight = 9;
	must_register(s, r, 0);
	cr_expect_eq(store_revision(s), 2);
	uint64_t rev;
	struct store_key k = {"a", "tcp", "h.example.net", 1};
	cr_expect_eq(store_status_set(s, &k, STORE_STATUS_DOWN, 5, &rev), 0);
	cr_expect_eq(rev, 3);
	cr_expect_eq(store_status_set(s, &k, STORE_STATUS_DOWN, 5, &rev), 0);
	cr_expect_eq(rev, 3, "no change, no bump");
	cr_expect_eq(store_deregister(s, &k, &rev), 0);
	cr_expect_eq(rev, 4);
	cr_expect_eq(store_deregister(s, &k, &rev), RS_ENOENT);
	store_free(s);
}

struct bad_reg {
	char service[80];
	char protocol[80];
	char host[300];
	uint32_t port;
	uint32_t weight;
	int expect;
};

ParameterizedTestParameters(store, register_rejects_bad_values)
{
	static struct bad_reg cases[] = {
			{"bad_svc", "tcp", "h.example.net", 80, 0, RS_ENAME_CHAR},
			{"", "tcp", "h.example.net", 80, 0, RS_ENAME_EMPTY},
			{"web", "-x", "h.example.net", 80, 0, RS_ENAME_HYPHEN},
			{"web", "tcp", "h..example.net", 80, 0, RS_ENAME_EMPTY},
			{"web", "tcp", "10.0.0.1", 80, 0, RS_ENAME_NUMERIC},
			{"web", "tcp", "web1", 80, 0, RS_ENAME_SINGLE},
			{"web", "tcp", "web1.", 80, 0, RS_ENAME_SINGLE},
			{"web", "tcp", "h.example.net", 0, 0, RS_EPORT},
			{"web", "tcp", "h.example.net", 65536, 0, RS_EPORT},
			{"web", "tcp", "h.example.net", 80, 65536, RS_EINVAL},
	};
	return cr_make_param_array(struct bad_reg, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_reg *c, store, register_rejects_bad_values)
{
	struct store_limits l = limits();
	struct fake_disk d = {0};
	struct store *s = store_new(&l, &fake_ops, &d, 0);
	struct store_registration r = reg(c->service, c->host, c->port, 0);
	r.protocol = c->protocol;
	r.weight = c->weight;
	bool created;
	uint64_t rev;
	cr_expect_eq(store_register(s, &r, 0, 0, &created, &rev), c->expect);
	cr_expect_eq(d.puts, 0, "nothing written");
	cr_expect_eq(store_revision(s), 0);
	store_free(s);
}

Test(store, unknown_lease_and_limits)
{
	struct store_limits l = limits();
	l.max_instances_per_lease = 2;
	l.max_metadata_bytes = 10;
	struct store *s = store_new(&l, NULL, NULL, 0);
	bool created;
	uint64_t rev;
	struct store_registration r = reg("a", "h.example.net", 1, 999);
	cr_expect_eq(store_register(s, &r, 0, 0, &created, &rev), RS_ELEASE);
	uint64_t lease = must_lease(s, 10, 5, 0);
	must_register(s, reg("a", "h.example.net", 1, lease), 0);
	must_register(s, reg("a", "h.example.net", 2, lease), 0);
	r = reg("a", "h.example.net", 3, lease);
	cr_expect_eq(store_register(s, &r, 0, 0, &created, &rev), RS_ELIMIT);
	r = reg("a", "h.example.net", 1, lease); /* updating one it holds is fine */
	r.weight = 3;
	cr_expect_eq(store_register(s, &r, 0, 0, &created, &rev), 0);
	struct store_meta m = {"key", "a value too long"};
	r = reg("b", "h.example.net", 1, 0);
	r.meta = &m;
	r.nmeta = 1;
	cr_expect_eq(store_register(s, &r, 0, 0, &created, &rev), RS_ELIMIT);
	struct store_limit_hit hit = {0};
	cr_expect_eq(store_register_ex(s, &r, 0, 0, &created, &rev, &hit), RS_ELIMIT);
	cr_expect(hit.kind == STORE_LIMIT_METADATA_BYTES && hit.value == 19 && hit.max == 10);
	r = reg("a", "h.example.net", 3, lease);
	cr_expect_eq(store_register_ex(s, &r, 0, 0, &created, &rev, &hit), RS_ELIMIT);
	cr_expect(hit.kind == STORE_LIMIT_INSTANCES_PER_LEASE && hit.value == 3 && hit.max == 2);
	const struct store_lease *out;
	cr_expect_eq(store_lease_open(s, 3601, 6, 0, &out), RS_ETTL);
	cr_expect_eq(store_lease_open(s, 10, 5, 0, &out), RS_EEXIST);
	store_free(s);
}

/* --max-instances N: N instances are held, the (N+1)th new one is refused
 * naming the limit; updating one already held is not a new instance. */
Test(store, max_instances_refuses_the_next_new_instance)
{
	struct store_limits l = limits();
	l.max_instances = 3;
	struct store *s = store_new(&l, NULL, NULL, 0);
	for (uint32_t p = 1; p <= 3; p++) {
		must_register(s, reg("a", "h.example.net", p, 0), 0);
	}
	cr_assert_eq(count(s, "a"), 3);
	bool created;
	uint64_t rev;
	struct store_limit_hit hit = {0};
	struct store_registration r = reg("b", "h.example.net", 4, 0);
	cr_expect_eq(store_register_ex(s, &r, 0, 0, &created, &rev, &hit), RS_ELIMIT);
	cr_expect_eq(hit.kind, STORE_LIMIT_INSTANCES);
	cr_expect_eq(hit.value, 4);
	cr_expect_eq(hit.max, 3);
	cr_expect_eq(count(s, "b"), 0);
	r = reg("a", "h.example.net", 2, 0);
	r.weight = 5;
	cr_expect_eq(store_register(s, &r, 0, 0, &created, &rev), 0, "an update is not refused");
	cr_expect(!created);
	struct store_key k = {"a", "tcp", "h.example.net", 1};
	cr_assert_eq(store_deregister(s, &k, &rev), 0);
	r = reg("b", "h.example.net", 4, 0);
	cr_expect_eq(store_register(s, &r, 0, 0, &created, &rev), 0, "room again: 3 of 3");
	store_free(s);
}

Test(store, failed_write_leaves_memory_unchanged)
{
	struct store_limits l = limits();
	struct fake_disk d = {0};
	struct store *s = store_new(&l, &fake_ops, &d, 0);
	must_register(s, reg("a", "h1.example.net", 1, 0), 0);
	uint64_t rev0 = store_revision(s);
	d.fail_after = d.writes + 1;
	d.fail_code = RS_ESTORE_FULL;
	bool created;
	uint64_t rev;
	struct store_registration r = reg("b", "h2.example.net", 1, 0);
	cr_expect_eq(store_register(s, &r, 0, 0, &created, &rev), RS_ESTORE_FULL);
	cr_expect_eq(count(s, "b"), 0);
	cr_expect_null(store_service_find(s, "b", 1, "tcp", 3), "no empty service left behind");
	r = reg("a", "h1.example.net", 1, 0);
	r.weight = 7;
	cr_expect_eq(store_register(s, &r, 0, 0, &created, &rev), RS_ESTORE_FULL);
	const struct store_service *v = store_service_find(s, "a", 1, "tcp", 3);
	cr_expect_eq(v->instances[0]->weight, 0, "the old record stays");
	struct store_key k = {"a", "tcp", "h1.example.net", 1};
	cr_expect_eq(store_status_set(s, &k, STORE_STATUS_DOWN, 0, &rev), RS_ESTORE_FULL);
	cr_expect_eq(v->instances[0]->status, STORE_STATUS_UP);
	cr_expect_eq(v->nup, 1);
	cr_expect_eq(store_deregister(s, &k, &rev), RS_ESTORE_FULL);
	cr_expect_eq(count(s, "a"), 1);
	cr_expect_eq(store_revision(s), rev0);
	cr_expect_gt(d.aborts, 0);
	store_free(s);
}

Test(store, persisted_leases_get_full_ttl_after_load)
{
	struct store_limits l = limits();
	struct store *s = store_new(&l, NULL, NULL, 500000);
	cr_assert_eq(store_load_lease(s, 77, 10000, 500000), 0);
	struct store_registration r = reg("a", "h.example.net", 1, 77);
	cr_assert_eq(store_load_instance(s, &r, 1, 1, 500000), 0);
	r = reg("a", "h.example.net", 2, 78); /* its lease is gone */
	cr_expect_eq(store_load_instance(s, &r, 1, 1, 500000), RS_ELEASE);
	tick(s, 509999);
	cr_expect_eq(count(s, "a"), 1, "a full TTL of grace from the restart");
	tick(s, 510000 + 2 * STORE_TICK_MS);
	cr_expect_eq(count(s, "a"), 0);
	store_free(s);
}

/* 100 leases; 30 stop renewing at once. 15 % expire, then the registry
 * holds the rest (stale), says so, and leaves once the 70 that still renew
 * have done so for a whole window, expiring the held ones. */
Test(store, self_preservation_engages_and_rebases)
{
	struct store_limits l = limits();
	l.preserve_window_ms = 5000;
	struct store *s = store_new(&l, NULL, NULL, 0);
	for (uint64_t id = 1; id <= 100; id++) {
		must_lease(s, 1, id, 0);
		char host[64];
		snprintf(host, sizeof(host), "h%lu.example.net", (unsigned long)id);
		must_register(s, reg("web", host, 80, id), 0);
	}
	uint64_t t = 0;
	for (; t <= 4000; t += 100) {
		for (uint64_t id = 31; id <= 100; id++) {
			cr_assert_eq(store_lease_renew(s, id, t, NULL), 0);
		}
		tick(s, t);
	}
	cr_expect(store_preserving(s));
	struct store_sizes sz;
	store_sizes_get(s, &sz);
	cr_expect_eq(sz.instances, 100 - 15, "15 expired, the rest held: %lu",
			(unsigned long)sz.instances);
	cr_expect_eq(sz.stale, 15);
	/* One held lease comes back: not stale any more. */
	uint64_t back = 0;
	for (uint64_t id = 1; id <= 30 && back == 0; id++) {
		if (store_lease_find(s, id) != NULL) {
			back = id;
		}
	}
	cr_assert_neq(back, 0);
	cr_expect_eq(store_lease_renew(s, back, t, NULL), 0);
	store_sizes_get(s, &sz);
	cr_expect_eq(sz.stale, 14);
	for (; t <= 12000; t += 100) {
		cr_assert_eq(store_lease_renew(s, back, t, NULL), 0);
		for (uint64_t id = 31; id <= 100; id++) {
			cr_assert_eq(store_lease_renew(s, id, t, NULL), 0);
		}
		tick(s, t);
	}
	cr_expect(!store_preserving(s), "left once renewals recovered");
	store_sizes_get(s, &sz);
	cr_expect_eq(sz.instances, 71);
	cr_expect_eq(sz.stale, 0);
	/* Rebased: a later small expiry (6 of 71, under 15 %) does not
	 * re-enter it, though 6 + the 29 before would have. */
	for (; t <= 16000; t += 100) {
		for (uint64_t id = 37; id <= 100; id++) {
			cr_assert_eq(store_lease_renew(s, id, t, NULL), 0);
		}
		tick(s, t);
	}
	store_sizes_get(s, &sz);
	cr_expect_eq(sz.instances, 64, "the 6 (plus the revived one) expired normally");
	cr_expect(!store_preserving(s));
	store_free(s);
}

Test(store, self_preservation_holds_while_nothing_renews)
{
	struct store_limits l = limits();
	l.preserve_window_ms = 2000;
	struct store *s = store_new(&l, NULL, NULL, 0);
	for (uint64_t id = 1; id <= 50; id++) {
		must_lease(s, 1, id, 0);
		char host[64];
		snprintf(host, sizeof(host), "h%lu.example.net", (unsigned long)id);
		must_register(s, reg("web", host, 80, id), 0);
	}
	for (uint64_t t = 0; t <= 60000; t += 100) {
		tick(s, t);
	}
	cr_expect(store_preserving(s), "the registry's own partition: keep serving");
	/* The 10th expiry (>= preserve_min, > 15 % of 50) is held: 9 went. */
	cr_expect_eq(count(s, "web"), 50 - 9);
	store_free(s);
}

Test(store, keep_last_keeps_a_service_from_emptying)
{
	struct store_limits l = limits();
	l.keep_last = true;
	l.keep_last_max_ms = 60000;
	l.preserve_enabled = false;
	struct store *s = store_new(&l, NULL, NULL, 0);
	uint64_t a = must_lease(s, 1, 1, 0), b = must_lease(s, 1, 2, 0);
	must_register(s, reg("solo", "s1.example.net", 80, a), 0);
	must_register(s, reg("pair", "p1.example.net", 80, b), 0);
	must_register(s, reg("pair", "p2.example.net", 80, 0), 0);
	tick(s, 5000);
	const struct store_service *solo = store_service_find(s, "solo", 4, "tcp", 3);
	cr_assert_not_null(solo, "its last instance is kept");
	cr_expect(solo->instances[0]->stale);
	cr_expect_null(solo->instances[0]->lease);
	cr_expect_eq(count(s, "pair"), 1, "not the last one: removed");
	/* Re-registering makes it fresh again. */
	must_register(s, reg("solo", "s1.example.net", 80, 0), 5000);
	cr_expect(!store_service_find(s, "solo", 4, "tcp", 3)->instances[0]->stale);
	store_free(s);

	s = store_new(&l, NULL, NULL, 0);
	a = must_lease(s, 1, 1, 0);
	must_register(s, reg("solo", "s1.example.net", 80, a), 0);
	tick(s, 5000);
	cr_expect_eq(count(s, "solo"), 1);
	tick(s, 5000 + 60000);
	cr_expect_eq(count(s, "solo"), 0, "aged out after the maximum stale age");
	store_free(s);
}

/* Tick every STORE_TICK_MS from *now up to @p until, renewing @p renew
 * (ids, 0-terminated) at every step. */
static void run(struct store *s, uint64_t *now, uint64_t until, const uint64_t *renew)
{
	while (*now < until) {
		*now += STORE_TICK_MS;
		for (const uint64_t *id = renew; id != NULL && *id != 0; id++) {
			cr_assert_eq(store_lease_renew(s, *id, *now, NULL), 0);
		}
		tick(s, *now);
	}
}

static struct store_sizes sizes(const struct store *s)
{
	struct store_sizes sz;
	store_sizes_get(s, &sz);
	return sz;
}

/* Journal entries after @p since as "-host(reason) +host* ..." (* = stale). */
static int collect_stale(const struct store_journal_entry *e, void *ud)
{
	char *out = ud;
	size_t n = strlen(out);
	if (e->kind == STORE_CHANGE_REMOVE) {
		snprintf(out + n, 1024 - n, "-%s(%d) ", e->copy->host, (int)e->reason);
	} else {
		snprintf(out + n, 1024 - n, "+%s%s ", e->copy->host, e->copy->stale ? "*" : "");
	}
	return 0;
}

static uint32_t nstale(const struct store *s, const char *svc)
{
	const struct store_service *v = store_service_find(s, svc, strlen(svc), "tcp", 3);
	uint32_t n = 0;
	for (uint32_t k = 0; v != NULL && k < v->ninstances; k++) {
		const struct store_instance *i = v->instances[k];
		n += i->stale && i->kept && i->lease == NULL;
	}
	return n;
}

/* w1 of "web" on lease 1 at 0, w2 on lease 2 a tick later (TTL 1 s each):
 * they expire a tick apart, at 1,100 and 1,200. */
static void two_leases_a_tick_apart(struct store *s, uint64_t *now)
{
	uint64_t a = must_lease(s, 1, 1, *now);
	must_register(s, reg("web", "w1.example.net", 80, a), *now);
	run(s, now, *now + STORE_TICK_MS, NULL);
	uint64_t b = must_lease(s, 1, 2, *now);
	must_register(s, reg("web", "w2.example.net", 80, b), *now);
}

static struct store_limits keep_limits(void)
{
	struct store_limits l = limits();
	l.keep_last = true;
	l.keep_last_max_ms = 60000;
	l.preserve_enabled = false;
	return l;
}

/* The audit's case: two leases of one service stop renewing together and
 * expire one tick apart. Both instances are kept, not only the later one. */
Test(store, keep_last_keeps_every_lease_that_stops_together)
{
	struct store_limits l = keep_limits();
	struct fake_disk d = {0};
	struct store *s = store_new(&l, &fake_ops, &d, 0);
	uint64_t now = 0;
	two_leases_a_tick_apart(s, &now);
	uint64_t rev0 = store_revision(s);

	run(s, &now, 1100, NULL); /* lease 1 expired; lease 2 is still fresh */
	cr_expect_eq(count(s, "web"), 1, "not served while another is fresh");
	cr_expect_eq(sizes(s).pending, 1);
	cr_expect_eq(store_counters_get(s)->expirations, 1);
	cr_expect_eq(d.kept_puts, 0, "a pending instance is not written");

	run(s, &now, 1200, NULL); /* lease 2 expired: the service's last fresh one */
	cr_expect_eq(count(s, "web"), 2, "both kept");
	cr_expect_eq(nstale(s, "web"), 2, "both stale, kept, without a lease");
	cr_expect_eq(sizes(s).pending, 0);
	cr_expect_eq(sizes(s).stale, 2);
	cr_expect_eq(d.kept_puts, 2, "both written as kept: a restart keeps them");
	const struct store_service *v = store_service_find(s, "web", 3, "tcp", 3);
	cr_expect_eq(v->revision, store_revision(s), "the service's answers change at once");
	char out[1024] = "";
	cr_expect_eq(store_journal_foreach(s, rev0, collect_stale, out), 0);
	cr_expect_str_eq(out, "-w1.example.net.(2) +w2.example.net.* +w1.example.net.* ");

	run(s, &now, 1200 + 60000, NULL);
	cr_expect_eq(count(s, "web"), 0, "the maximum stale age still applies to both");
	cr_expect_eq(sizes(s).pending, 0);
	store_free(s);
}

/* --max-instances holds for pending instances coming back too: with the
 * registry at its limit when the service's last fresh instance expires, that
 * one is kept but the pending one is forgotten, not revived past the limit. */
Test(store, keep_last_revives_no_pending_instance_past_max_instances)
{
	struct store_limits l = keep_limits();
	l.max_instances = 2;
	struct store *s = store_new(&l, NULL, NULL, 0);
	uint64_t now = 0;
	two_leases_a_tick_apart(s, &now);
	run(s, &now, 1100, NULL); /* lease 1 expired: w1 pending, w2 fresh */
	cr_assert_eq(sizes(s).pending, 1);
	cr_assert_eq(sizes(s).instances, 1);
	must_register(s, reg("db", "d1.example.net", 5432, 0), now); /* 2 of 2 */
	run(s, &now, 1200, NULL); /* lease 2 expired: w2 kept; w1 would make 3 */
	cr_expect_eq(count(s, "web"), 1, "w2 kept, w1 not revived past the limit");
	cr_expect_eq(nstale(s, "web"), 1);
	cr_expect_eq(sizes(s).instances, 2);
	cr_expect_eq(sizes(s).pending, 0, "w1 forgotten");
	store_free(s);
}

/* One lease expires while another keeps renewing: its instance is removed
 * from service at once, held pending for one TTL, then forgotten. */
Test(store, keep_last_pending_instance_goes_after_one_ttl)
{
	struct store_limits l = keep_limits();
	struct store *s = store_new(&l, NULL, NULL, 0);
	uint64_t now = 0;
	uint64_t a = must_lease(s, 2, 1, 0), b = must_lease(s, 1, 2, 0);
	must_register(s, reg("web", "w1.example.net", 80, a), 0);
	must_register(s, reg("web", "w2.example.net", 80, b), 0);
	uint64_t renew[] = {b, 0};
	uint64_t rev0 = store_revision(s);
	run(s, &now, 2100, renew);
	cr_expect_eq(count(s, "web"), 1);
	struct store_key k = {"web", "tcp", "w1.example.net", 80};
	cr_expect_null(store_instance_find(s, &k), "pending is not an instance any more");
	cr_expect_eq(sizes(s).pending, 1);
	cr_expect_eq(sizes(s).instances, 1);
	cr_expect_eq(store_counters_get(s)->expirations, 1, "an ordinary expiry");
	char out[1024] = "";
	cr_expect_eq(store_journal_foreach(s, rev0, collect_stale, out), 0);
	cr_expect_str_eq(out, "-w1.example.net.(2) ", "Watch sees it expire");

	run(s, &now, 2100 + 2000 + STORE_TICK_MS, renew); /* its hold (one TTL, 2 s) ends */
	cr_expect_eq(sizes(s).pending, 0, "forgotten after one TTL");
	run(s, &now, 8000, NULL); /* then the last one expires: kept alone */
	cr_expect_eq(count(s, "web"), 1);
	cr_expect_null(store_instance_find(s, &k), "expired more than a TTL earlier: gone");
	cr_expect_eq(nstale(s, "web"), 1);
	store_free(s);
}

/* A pending instance comes back, kept, when the service's last fresh one
 * expires within its hold; registering or deregistering it again first
 * forgets the pending copy. */
Test(store, keep_last_pending_instances_kept_with_the_last_fresh_one)
{
	struct store_limits l = keep_limits();
	struct store *s = store_new(&l, NULL, NULL, 0);
	uint64_t now = 0;
	uint64_t a = must_lease(s, 5, 1, 0), b = must_lease(s, 1, 2, 0);
	uint64_t c = must_lease(s, 5, 3, 0), dl = must_lease(s, 5, 4, 0);
	must_register(s, reg("web", "w1.example.net", 80, a), 0);
	must_register(s, reg("web", "w2.example.net", 80, b), 0);
	must_register(s, reg("web", "w3.example.net", 80, c), 0);
	must_register(s, reg("web", "w4.example.net", 80, dl), 0);
	uint64_t renew[] = {b, 0, 0};
	run(s, &now, 5100, renew);
	cr_expect_eq(count(s, "web"), 1);
	cr_expect_eq(sizes(s).pending, 3);

	/* w3's host comes back on a new lease: fresh again, pending copy gone. */
	uint64_t e = must_lease(s, 1, 5, now);
	must_register(s, reg("web", "w3.example.net", 80, e), now);
	cr_expect_eq(sizes(s).pending, 2);
	renew[1] = e;
	/* w4 is deregistered: not found, but it must not come back either. */
	struct store_key k4 = {"web", "tcp", "w4.example.net", 80};
	uint64_t rev;
	cr_expect_eq(store_deregister(s, &k4, &rev), RS_ENOENT);
	cr_expect_eq(sizes(s).pending, 1);

	run(s, &now, 5500, renew);
	cr_expect_eq(count(s, "web"), 2);
	run(s, &now, 7000, NULL); /* b and e expire, ~1.5 s after w1: within its 5 s */
	cr_expect_eq(count(s, "web"), 3, "w1, w2, w3 kept; w4 not");
	cr_expect_eq(nstale(s, "web"), 3);
	cr_expect_null(store_instance_find(s, &k4));
	cr_expect_eq(sizes(s).pending, 0);
	/* A kept instance registered again is fresh, as before. */
	must_register(s, reg("web", "w1.example.net", 80, 0), now);
	cr_expect_eq(nstale(s, "web"), 2);
	store_free(s);
}

/* The last lease of a group that stops together may be the one that trips
 * self-preservation: it is held, stale, and those that expired just before
 * it are kept with it. */
Test(store, keep_last_pending_kept_when_self_preservation_holds_the_last_one)
{
	struct store_limits l = keep_limits();
	l.preserve_enabled = true;
	l.preserve_min = 2;
	l.preserve_fraction = 0.0;
	struct store *s = store_new(&l, NULL, NULL, 0);
	uint64_t now = 0;
	uint64_t o = must_lease(s, 1, 9, 0);
	must_register(s, reg("other", "o1.example.net", 80, o), 0);
	uint64_t a = must_lease(s, 1, 1, 0);
	must_register(s, reg("web", "w1.example.net", 80, a), 0);
	uint64_t renew[] = {o, 0};
	run(s, &now, 100, renew);
	uint64_t b = must_lease(s, 1, 2, now);
	must_register(s, reg("web", "w2.example.net", 80, b), now);
	run(s, &now, 1100, renew);
	cr_expect(!store_preserving(s));
	cr_expect_eq(count(s, "web"), 1);
	cr_expect_eq(sizes(s).pending, 1);
	run(s, &now, 1200, renew);
	cr_expect(store_preserving(s), "the second expiry is held");
	cr_expect_eq(count(s, "web"), 2, "w2 held, w1 kept");
	cr_expect_eq(nstale(s, "web"), 1, "w1 kept");
	cr_expect_eq(sizes(s).stale, 2);
	cr_expect_eq(sizes(s).pending, 0);
	store_free(s);
}

/* Leases with different TTLs stop renewing at once: the short one expires
 * first and is held for the longest TTL among its service's fresh leases, so
 * it is still there when the long one expires. */
Test(store, keep_last_holds_for_the_longest_ttl_of_the_service)
{
	struct store_limits l = keep_limits();
	struct store *s = store_new(&l, NULL, NULL, 0);
	uint64_t now = 0;
	uint64_t a = must_lease(s, 1, 1, 0), b = must_lease(s, 5, 2, 0);
	must_register(s, reg("web", "w1.example.net", 80, a), 0);
	must_register(s, reg("web", "w2.example.net", 80, b), 0);
	run(s, &now, 2500, NULL);
	cr_expect_eq(count(s, "web"), 1);
	cr_expect_eq(sizes(s).pending, 1, "held past its own 1 s TTL");
	run(s, &now, 5100, NULL);
	cr_expect_eq(count(s, "web"), 2, "kept with the 5 s one");
	cr_expect_eq(nstale(s, "web"), 2);
	store_free(s);
}

/* Without --keep-last nothing is held: leases that stop together all go. */
Test(store, without_keep_last_leases_that_stop_together_all_go)
{
	struct store_limits l = keep_limits();
	l.keep_last = false;
	struct store *s = store_new(&l, NULL, NULL, 0);
	uint64_t now = 0;
	two_leases_a_tick_apart(s, &now);
	run(s, &now, 1100, NULL);
	cr_expect_eq(count(s, "web"), 1);
	cr_expect_eq(sizes(s).pending, 0);
	run(s, &now, 1200, NULL);
	cr_expect_null(store_service_find(s, "web", 3, "tcp", 3));
	cr_expect_eq(sizes(s).stale, 0);
	cr_expect_eq(store_counters_get(s)->expirations, 2);
	store_free(s);
}

static int collect(const struct store_journal_entry *e, void *ud)
{
	char *out = ud;
	size_t n = strlen(out);
	snprintf(out + n, 256 - n, "%lu%c%s ", (unsigned long)e->revision,
			e->kind == STORE_CHANGE_UPSERT ? '+' : '-', e->copy->host);
	return 0;
}

Test(store, journal_replays_and_reports_when_too_old)
{
	struct store_limits l = limits();
	l.journal_max = 3;
	struct store *s = store_new(&l, NULL, NULL, 0);
	must_register(s, reg("a", "h1.example.net", 1, 0), 0);
	must_register(s, reg("a", "h2.example.net", 1, 0), 0);
	struct store_key k = {"a", "tcp", "h1.example.net", 1};
	uint64_t rev;
	cr_assert_eq(store_deregister(s, &k, &rev), 0);
	char out[256] = "";
	cr_expect_eq(store_journal_foreach(s, 1, collect, out), 0);
	cr_expect_str_eq(out, "2+h2.example.net. 3-h1.example.net. ");
	must_register(s, reg("a", "h3.example.net", 1, 0), 0);
	cr_expect_eq(store_journal_first(s), 2);
	out[0] = '\0';
	cr_expect_eq(store_journal_foreach(s, 0, collect, out), RS_ERANGE);
	cr_expect_eq(store_journal_foreach(s, 4, collect, out), 0, "up to date: nothing");
	cr_expect_str_eq(out, "");
	store_free(s);
}

Test(store, services_listed_in_order_and_freed_when_empty)
{
	struct store_limits l = limits();
	struct store *s = store_new(&l, NULL, NULL, 0);
	must_register(s, reg("b", "h.example.net", 1, 0), 0);
	must_register(s, reg("a", "h.example.net", 1, 0), 0);
	struct store_registration r = reg("a", "h.example.net", 1, 0);
	r.protocol = "udp";
	must_register(s, r, 0);
	const struct store_service *first = store_service_find_name(s, "a", 1);
	cr_assert_not_null(first);
	cr_assert_not_null(first->name_next, "both protocols of 'a'");
	struct store_key k = {"b", "tcp", "h.example.net", 1};
	uint64_t rev;
	cr_assert_eq(store_deregister(s, &k, &rev), 0);
	cr_expect_null(store_service_find_name(s, "b", 1));
	struct store_sizes sz;
	store_sizes_get(s, &sz);
	cr_expect_eq(sz.services, 2);
	store_free(s);
}

/* Many instances: tables grow, every one is still found. */
Test(store, hundred_thousand_instances)
{
	struct store_limits l = limits();
	l.journal_max = 1000;
	struct store *s = store_new(&l, NULL, NULL, 0);
	char host[64];
	for (uint32_t k = 0; k < 100000; k++) {
		snprintf(host, sizeof(host), "h%u.example.net", k / 10);
		must_register(s, reg(k % 2 ? "odd" : "even", host, 1000 + k % 10, 0), 0);
	}
	cr_expect_eq(count(s, "odd") + count(s, "even"), 100000);
	struct store_key key = {"odd", "tcp", "h777.example.net", 1001};
	cr_expect_not_null(store_instance_find(s, &key));
	store_free(s);
}

/* Pending instances revived while their lease's other instances are still
 * being expired must not write a revision below the one the expiry wrote:
 * the SOA serial and Watch resume from it after a restart. Two services on
 * the expiring lease, one of them with a pending instance. */
Test(store, keep_last_revive_never_writes_an_older_revision)
{
	struct store_limits l = keep_limits();
	struct fake_disk d = {0};
	struct store *s = store_new(&l, &fake_ops, &d, 0);
	uint64_t now = 0;
	uint64_t p1 = must_lease(s, 1, 1, 0);
	uint64_t two = must_lease(s, 2, 2, 0);
	uint64_t keep = must_lease(s, 30, 3, 0);
	must_register(s, reg("web", "w1.example.net", 80, p1), 0);
	must_register(s, reg("api", "a1.example.net", 80, two), 0);
	must_register(s, reg("api", "a3.example.net", 80, two), 0);
	must_register(s, reg("api", "a4.example.net", 80, two), 0);
	must_register(s, reg("web", "w2.example.net", 80, two), 0);
	must_register(s, reg("api", "a2.example.net", 80, keep), 0);
	uint64_t renew[] = {keep, 0};
	run(s, &now, 1100, renew);
	cr_assert_eq(sizes(s).pending, 1, "w1 is pending");
	d.rev_max = 0;
	run(s, &now, 2300, renew);
	cr_assert_eq(count(s, "web"), 2, "w1 revived and w2 kept");
	cr_assert_eq(d.rev_last, d.rev_max, "the disk's revision went from %llu back to %llu",
			(unsigned long long)d.rev_max, (unsigned long long)d.rev_last);
	cr_assert_eq(d.rev_last, store_revision(s), "disk %llu, memory %llu",
			(unsigned long long)d.rev_last, (unsigned long long)store_revision(s));
	store_free(s);
}

/* What the disk holds in reload_replaces_the_content_in_place: one lease and
 * its instance, at revision 7. */
static int reload_from_disk(struct store *s, uint64_t now_mono, void *ud)
{
	int *calls = ud;
	(*calls)++;
	int rc = store_load_lease(s, 9, 5000, now_mono);
	if (rc == 0) {
		struct store_registration r = reg("disk", "d1.example.net", 53, 9);
		r.rec = 1;
		rc = store_load_instance(s, &r, 1, 1, now_mono);
	}
	store_load_revision(s, 7);
	return rc;
}

static void count_changes(const struct store_change *c, void *ud)
{
	(void)c;
	(*(int *)ud)++;
}

/* A failed commit leaves memory ahead of the disk: the store is rebuilt
 * from the disk at the same address, listener, hooks and counters kept. */
Test(store, reload_replaces_the_content_in_place)
{
	struct store_limits l = limits();
	l.keep_last = true;
	struct fake_disk d = {0};
	struct store *s = store_new(&l, &fake_ops, &d, 0);
	int changes = 0, loads = 0;
	store_set_listener(s, count_changes, &changes);
	uint64_t lease = must_lease(s, 1, 3, 0);
	for (uint32_t p = 1; p <= 20; p++) {
		must_register(s, reg("mem", "m1.example.net", p, lease), 0);
	}
	must_register(s, reg("mem", "m2.example.net", 1, 0), 0);
	cr_assert_eq(tick(s, 1000 + 2 * STORE_TICK_MS), 1);
	struct store_sizes sz;
	store_sizes_get(s, &sz);
	cr_assert_eq(sz.pending, 20, "held for --keep-last: m2 is still fresh");
	cr_assert_eq(changes, 41);
	cr_assert_eq(store_reloads(s), 0);
	const struct store *before = s;

	cr_assert_eq(store_reload(s, 100, reload_from_disk, &loads), 0);
	cr_expect_eq(s, before);
	cr_expect_eq(loads, 1);
	cr_expect_eq(store_reloads(s), 1, "readers can tell the content was replaced");
	cr_expect_eq(count(s, "mem"), 0, "what only memory had is gone");
	cr_expect_null(store_lease_find(s, 3));
	cr_expect_eq(count(s, "disk"), 1);
	cr_expect_eq(store_revision(s), 7);
	cr_expect_eq(store_journal_first(s), 8, "the journal starts again");
	cr_expect_eq(store_counters_get(s)->registrations, 21, "counters are the process's");
	store_sizes_get(s, &sz);
	cr_expect_eq(sz.pending, 0);
	cr_expect_eq(sz.instances, 1);
	cr_expect_eq(sz.leases, 1);
	cr_expect_eq(sz.services, 1);
	const struct store_lease *dl = store_lease_find(s, 9);
	cr_assert_not_null(dl);
	cr_expect_eq(dl->expires_mono, 100 + 5000, "a full TTL from the reload");

	/* It goes on working: writes, the listener, expiry (the wheel was reset). */
	must_register(s, reg("mem", "m3.example.net", 1, 0), 100);
	cr_expect_eq(changes, 42);
	cr_expect_eq(store_revision(s), 8);
	cr_expect_eq(tick(s, 100 + 5000 + 2 * STORE_TICK_MS), 1, "the lease expires on time");
	cr_expect_null(store_lease_find(s, 9));
	store_sizes_get(s, &sz);
	cr_expect_eq(sz.stale, 1, "kept by --keep-last: the last of its service");
	cr_expect_eq(count(s, "mem"), 1);
	store_free(s);
}

/* ---- malformed registrations (beyond register_rejects_bad_values), refused
 * with nothing changed; their keys find, change and remove nothing -------- */

/* A registration as a table row holds it: by value, with what to break. */
struct malformed_reg {
	char what[48];
	char service[80], protocol[80], host[80];
	uint32_t port, priority, weight;
	int status;
	int naddrs;      /* good addresses, or -1: one of family AF_UNIX */
	int nmeta;       /* entries "kN"="v" */
	int meta_break;  /* 1: a NULL key, 2: a NULL value, 3: an empty key */
	bool null_field; /* the service pointer NULL */
	int want;
	enum store_limit limit; /* for RS_ELIMIT */
};

static struct malformed_reg malformed_regs[] = {
		{"service NULL", "web", "tcp", "h.example", 80, 0, 0, 0, 0, 0, 0, true,
				RS_ENAME_EMPTY, 0},
		{"protocol with a dot", "web", "t.cp", "h.example", 80, 0, 0, 0, 0, 0, 0, false,
				RS_ENAME_CHAR, 0},
		{"host with a space", "web", "tcp", "h example", 80, 0, 0, 0, 0, 0, 0, false,
				RS_ENAME_CHAR, 0},
		{"priority 65536", "web", "tcp", "h.example", 80, 65536, 0, 0, 0, 0, 0, false,
				RS_EINVAL, 0},
		{"status 4", "web", "tcp", "h.example", 80, 0, 0, 4, 0, 0, 0, false, RS_ESTATUS, 0},
		{"status -1", "web", "tcp", "h.example", 80, 0, 0, -1, 0, 0, 0, false, RS_ESTATUS,
				0},
		{"17 addresses", "web", "tcp", "h.example", 80, 0, 0, 0, 17, 0, 0, false, RS_ELIMIT,
				STORE_LIMIT_ADDRESSES},
		{"an AF_UNIX address", "web", "tcp", "h.example", 80, 0, 0, 0, -1, 0, 0, false,
				RS_EINVAL, 0},
		{"65 metadata entries", "web", "tcp", "h.example", 80, 0, 0, 0, 0, 65, 0, false,
				RS_ELIMIT, STORE_LIMIT_METADATA_ENTRIES},
		{"a NULL metadata key", "web", "tcp", "h.example", 80, 0, 0, 0, 0, 2, 1, false,
				RS_EINVAL, 0},
		{"a NULL metadata value", "web", "tcp", "h.example", 80, 0, 0, 0, 0, 2, 2, false,
				RS_EINVAL, 0},
		{"an empty metadata key", "web", "tcp", "h.example", 80, 0, 0, 0, 0, 2, 3, false,
				RS_EINVAL, 0},
};

ParameterizedTestParameters(store, malformed_registrations_name_their_fault_and_change_nothing)
{
	return cr_make_param_array(struct malformed_reg, malformed_regs,
			sizeof(malformed_regs) / sizeof(malformed_regs[0]));
}

ParameterizedTest(struct malformed_reg *b, store,
		malformed_registrations_name_their_fault_and_change_nothing)
{
	struct store_limits l = limits();
	struct store *s = store_new(&l, NULL, NULL, 0);
	cr_assert_not_null(s);
	struct rs_addr addrs[20];
	memset(addrs, 0, sizeof(addrs));
	for (int k = 0; k < 20; k++) {
		addrs[k].family = AF_INET;
		addrs[k].bytes[0] = 10;
		addrs[k].bytes[3] = (uint8_t)(k + 1);
	}
	if (b->naddrs < 0) {
		addrs[0].family = AF_UNIX;
	}
	static char keys[70][8];
	struct store_meta meta[70];
	for (int k = 0; k < 70; k++) {
		snprintf(keys[k], sizeof(keys[k]), "k%d", k);
		meta[k] = (struct store_meta){keys[k], "v"};
	}
	if (b->meta_break == 1) {
		meta[1].key = NULL;
	} else if (b->meta_break == 2) {
		meta[1].value = NULL;
	} else if (b->meta_break == 3) {
		meta[1].key = "";
	}
	struct store_registration r = {.service = b->null_field ? NULL : b->service,
			.protocol = b->protocol,
			.host = b->host,
			.port = b->port,
			.addrs = addrs,
			.naddrs = b->naddrs < 0 ? 1 : (size_t)b->naddrs,
			.priority = b->priority,
			.weight = b->weight,
			.meta = meta,
			.nmeta = (size_t)b->nmeta,
			.status = (enum store_status)b->status};
	bool created = true;
	uint64_t rev = 77;
	struct store_limit_hit hit = {0};
	int rc = store_register_ex(s, &r, 0, 1000, &created, &rev, &hit);
	cr_expect_eq(rc, b->want, "%s: %s", b->what, rs_strerror(rc));
	cr_expect_eq(hit.kind, b->limit, "%s", b->what);
	if (b->limit == STORE_LIMIT_ADDRESSES) {
		cr_expect_eq(hit.value, 17);
		cr_expect_eq(hit.max, 16);
	} else if (b->limit == STORE_LIMIT_METADATA_ENTRIES) {
		cr_expect_eq(hit.value, 65);
		cr_expect_eq(hit.max, 64);
	}
	cr_expect_eq(rev, 77, "%s: nothing answered", b->what);
	cr_expect_eq(store_revision(s), 0, "%s", b->what);
	struct store_sizes z;
	store_sizes_get(s, &z);
	cr_expect_eq(z.instances + z.services, 0, "%s", b->what);
	/* A key with the same fault finds, changes and removes nothing. */
	struct store_key key = {r.service, r.protocol, r.host, r.port};
	if (b->want != RS_EINVAL && b->want != RS_ESTATUS && b->want != RS_ELIMIT) {
		cr_expect_eq(store_deregister(s, &key, &rev), b->want, "%s", b->what);
		cr_expect_eq(store_status_set(s, &key, STORE_STATUS_DOWN, 1, &rev), b->want, "%s",
				b->what);
		cr_expect_null(store_instance_find(s, &key));
	}
	store_free(s);
}

/* An update whose only change is one metadata key or value, or one
 * address, is a change (a new revision); the identical one is not. */
Test(store, an_update_changing_one_metadata_entry_or_address_is_a_change)
{
	struct store_limits l = limits();
	struct store *s = store_new(&l, NULL, NULL, 0);
	struct rs_addr a[2] = {{.family = AF_INET, .bytes = {10, 0, 0, 1}},
			{.family = AF_INET, .bytes = {10, 0, 0, 2}}};
	struct store_meta m[2] = {{"zone", "a"}, {"ver", "1"}};
	struct store_registration r = reg("web", "h.example", 80, 0);
	r.addrs = a;
	r.naddrs = 2;
	r.meta = m;
	r.nmeta = 2;
	must_register(s, r, 0);
	uint64_t rev = store_revision(s);
	must_register(s, r, 0);
	cr_expect_eq(store_revision(s), rev, "identical: no change");
	m[1].value = "2";
	must_register(s, r, 0);
	cr_expect_eq(store_revision(s), ++rev, "a metadata value");
	m[1].key = "version";
	must_register(s, r, 0);
	cr_expect_eq(store_revision(s), ++rev, "a metadata key");
	a[1].bytes[3] = 3;
	must_register(s, r, 0);
	cr_expect_eq(store_revision(s), ++rev, "an address");
	must_register(s, r, 0);
	cr_expect_eq(store_revision(s), rev, "identical again");
	struct store_key key = {"web", "tcp", "h.example", 80};
	uint64_t r2;
	cr_expect_eq(store_status_set(s, &key, (enum store_status)0, 1, &r2), RS_ESTATUS);
	cr_expect_eq(store_status_set(s, &key, (enum store_status)9, 1, &r2), RS_ESTATUS);
	cr_expect_eq(store_revision(s), rev);
	store_free(s);
}

/* ---- expiry when the disk refuses: nothing changes, the next tick retries -- */

Test(store, an_expiry_the_disk_refuses_is_retried_on_the_next_tick)
{
	struct store_limits l = limits();
	l.preserve_enabled = false;
	struct fake_disk d = {0};
	struct store *s = store_new(&l, &fake_ops, &d, 0);
	uint64_t lease = must_lease(s, 1, 7, 0);
	must_register(s, reg("web", "h1.example.net", 80, lease), 0);
	must_register(s, reg("web", "h2.example.net", 80, lease), 0);
	uint64_t rev0 = store_revision(s);
	/* Fail the 1st write (a delete), the 2nd, the lease's: each time the
	 * tick fails and nothing changes. */
	for (int fail_at = 1; fail_at <= 3; fail_at++) {
		d.fail_after = d.writes + fail_at;
		d.fail_code = RS_ESTORE;
		uint32_t n = 99;
		cr_expect_eq(store_tick(s, 1200 + (uint64_t)fail_at * 100, &n), RS_ESTORE,
				"write %d", fail_at);
		cr_expect_eq(n, 0);
		cr_expect_not_null(
				store_lease_find(s, lease), "write %d: the lease stays", fail_at);
		cr_expect_eq(count(s, "web"), 2, "write %d: its instances too", fail_at);
		cr_expect_eq(store_revision(s), rev0);
	}
	d.fail_after = 0;
	cr_expect_eq(tick(s, 2000), 1, "expired once the disk takes it");
	cr_expect_null(store_lease_find(s, lease));
	cr_expect_eq(count(s, "web"), 0);
	cr_expect_eq(store_revision(s), rev0 + 2);
	store_free(s);
}

Test(store, a_kept_instance_the_disk_cannot_age_out_stays_until_it_can)
{
	struct store_limits l = limits();
	l.keep_last = true;
	l.keep_last_max_ms = 5000;
	l.preserve_enabled = false;
	struct fake_disk d = {0};
	struct store *s = store_new(&l, &fake_ops, &d, 0);
	uint64_t lease = must_lease(s, 1, 7, 0);
	must_register(s, reg("web", "h1.example.net", 80, lease), 0);
	cr_expect_eq(tick(s, 1200), 1);
	struct store_key k = {"web", "tcp", "h1.example.net", 80};
	cr_assert_not_null(store_instance_find(s, &k));
	cr_expect(store_instance_find(s, &k)->stale, "kept, stale");
	d.fail_after = d.writes + 1;
	d.fail_code = RS_ESTORE_FULL;
	uint32_t n;
	cr_expect_eq(store_tick(s, 7000, &n), RS_ESTORE_FULL);
	cr_expect_not_null(store_instance_find(s, &k), "still kept");
	d.fail_after = 0;
	cr_expect_eq(tick(s, 7100), 0);
	cr_expect_null(store_instance_find(s, &k), "aged out once the disk takes it");
	store_free(s);
}

/* A store whose hooks are all absent (a set of NULLs, as a caller that
 * persists nothing may pass) behaves as one without hooks: every change of
 * the lifecycle applies, nothing is written. */
Test(store, a_store_with_empty_hooks_runs_every_change)
{
	static const struct store_persist_ops none = {0};
	struct store_limits l = limits();
	l.keep_last = true;
	l.keep_last_max_ms = 60000;
	l.preserve_enabled = false;
	struct store *s = store_new(&l, &none, NULL, 0);
	cr_assert_not_null(s);
	const struct store_lease *lp;
	cr_expect_eq(store_lease_open(s, STORE_TTL_MAX_S + 1, 9, 0, &lp), RS_ETTL);
	cr_expect_eq(store_lease_open(s, 1, 0, 0, &lp), RS_EEXIST, "lease id 0");
	uint64_t a = must_lease(s, 1, 1, 0), b = must_lease(s, 1, 2, 0),
		 c = must_lease(s, 10, 3, 0);
	cr_expect_eq(store_lease_open(s, 1, 1, 0, &lp), RS_EEXIST, "lease id taken");
	must_register(s, reg("solo", "s1.example.net", 80, a), 0);
	must_register(s, reg("pair", "p1.example.net", 80, b), 0);
	must_register(s, reg("pair", "p2.example.net", 80, 0), 0);
	must_register(s, reg("pair", "p3.example.net", 80, c), 0);
	must_register(s, reg("pair", "p4.example.net", 80, c), 0);
	uint64_t rev = 0;
	struct store_key k3 = {"pair", "tcp", "p3.example.net", 80};
	cr_expect_eq(store_status_set(s, &k3, STORE_STATUS_DOWN, 1000, &rev), 0);
	struct store_key k2 = {"pair", "tcp", "p2.example.net", 80};
	cr_expect_eq(store_deregister(s, &k2, &rev), 0);
	uint32_t removed = 0;
	cr_expect_eq(store_lease_close(s, c, &removed), 0);
	cr_expect_eq(removed, 2);
	cr_expect_eq(count(s, "pair"), 1);
	tick(s, 5000);
	const struct store_service *solo = store_service_find(s, "solo", 4, "tcp", 3);
	cr_assert_not_null(solo, "the last instance of solo is kept");
	cr_expect(solo->instances[0]->stale);
	cr_expect_eq(count(s, "pair"), 1, "pair's last one kept too");
	must_register(s, reg("solo", "s1.example.net", 80, 0), 5000);
	cr_expect(!store_service_find(s, "solo", 4, "tcp", 3)->instances[0]->stale);
	tick(s, 5000 + 60000);
	cr_expect_eq(count(s, "pair"), 0, "aged out after the maximum stale age");
	cr_expect_eq(count(s, "solo"), 1, "fresh again: stays");
	cr_expect_gt(store_revision(s), 0);
	store_free(s);
}

/* Two pending instances whose holds end apart (each its own lease's TTL):
 * the sweep that forgets the first keeps the second until its own end. */
Test(store, keep_last_pending_holds_end_each_at_its_own_time)
{
	struct store_limits l = keep_limits();
	struct store *s = store_new(&l, NULL, NULL, 0);
	uint64_t now = 0;
	uint64_t a = must_lease(s, 1, 1, 0), c = must_lease(s, 2, 3, 0), b = must_lease(s, 1, 2, 0);
	must_register(s, reg("web", "w1.example.net", 80, a), 0);
	must_register(s, reg("web", "w3.example.net", 80, c), 0);
	must_register(s, reg("web", "w2.example.net", 80, b), 0);
	uint64_t renew[] = {b, 0};
	run(s, &now, 2100, renew); /* w1 pending until ~2.1 s, w3 until ~4.1 s */
	cr_expect_eq(count(s, "web"), 1);
	cr_expect_eq(sizes(s).pending, 2);
	run(s, &now, 3500, renew);
	cr_expect_eq(sizes(s).pending, 1, "w1's hold (1 s) ended, w3's (2 s) not");
	run(s, &now, 5500, renew);
	cr_expect_eq(sizes(s).pending, 0, "w3's hold ended too");
	cr_expect_eq(count(s, "web"), 1);
	store_free(s);
}

/* Hooks that refuse every write, with no begin, commit or abort: a lease
 * open and a lease close are refused with the hook's error and change
 * nothing in memory. */
static int refuse_lease_put(void *ctx, const struct store_lease *l)
{
	(void)ctx;
	(void)l;
	return RS_ESTORE_FULL;
}
static int refuse_instance_del(void *ctx, const struct store_instance *i)
{
	(void)ctx;
	(void)i;
	return RS_ESTORE;
}

Test(store, refused_writes_without_an_abort_hook_change_nothing)
{
	static const struct store_persist_ops refusing = {
			.lease_put = refuse_lease_put, .instance_del = refuse_instance_del};
	struct store_limits l = limits();
	struct store *s = store_new(&l, &refusing, NULL, 0);
	const struct store_lease *lp;
	cr_expect_eq(store_lease_open(s, 5, 1, 0, &lp), RS_ESTORE_FULL);
	cr_expect_eq(store_lease_renew(s, 1, 0, NULL), RS_ELEASE, "not opened");
	store_free(s);

	static const struct store_persist_ops no_del = {.instance_del = refuse_instance_del};
	s = store_new(&l, &no_del, NULL, 0);
	uint64_t a = must_lease(s, 5, 1, 0);
	must_register(s, reg("web", "w1.example.net", 80, a), 0);
	uint64_t rev = store_revision(s);
	uint32_t removed = 99;
	cr_expect_eq(store_lease_close(s, a, &removed), RS_ESTORE);
	cr_expect_eq(removed, 99, "not set on failure");
	cr_expect_eq(store_lease_renew(s, a, 0, NULL), 0, "the lease stays");
	cr_expect_eq(count(s, "web"), 1, "its instance stays");
	cr_expect_eq(store_revision(s), rev);
	struct store_key k = {"web", "tcp", "w1.example.net", 80};
	cr_expect_eq(store_deregister(s, &k, &rev), RS_ESTORE);
	cr_expect_eq(count(s, "web"), 1);
	store_free(s);
}

/* 100 leases, leases 1-30 stop renewing at 0: self-preservation holds 15
 * of them (the first 15 expired). */
static struct store *preserving_store(const struct store_persist_ops *ops, void *ctx, uint64_t *t)
{
	struct store_limits l = limits();
	l.preserve_window_ms = 5000;
	struct store *s = store_new(&l, ops, ctx, 0);
	cr_assert_not_null(s);
	for (uint64_t id = 1; id <= 100; id++) {
		must_lease(s, 1, id, 0);
		char host[64];
		snprintf(host, sizeof(host), "h%lu.example.net", (unsigned long)id);
		must_register(s, reg("web", host, 80, id), 0);
	}
	for (*t = 0; *t <= 4000; *t += 100) {
		for (uint64_t id = 31; id <= 100; id++) {
			cr_assert_eq(store_lease_renew(s, id, *t, NULL), 0);
		}
		tick(s, *t);
	}
	cr_assert(store_preserving(s));
	return s;
}

/* Every held lease comes back (the partition healed): self-preservation
 * ends at the next tick with nothing expired, nothing stale. */
Test(store, self_preservation_ends_when_every_held_lease_comes_back)
{
	uint64_t t;
	struct store *s = preserving_store(NULL, NULL, &t);
	struct store_sizes sz;
	store_sizes_get(s, &sz);
	cr_assert_eq(sz.stale, 15);
	for (; t <= 6000; t += 100) {
		for (uint64_t id = 1; id <= 100; id++) {
			if (store_lease_find(s, id) != NULL) {
				cr_assert_eq(store_lease_renew(s, id, t, NULL), 0);
			}
		}
		tick(s, t);
		if (!store_preserving(s)) {
			break;
		}
	}
	cr_expect(!store_preserving(s), "left as soon as nothing was held");
	cr_expect_leq(t, 4200, "at the first tick after the renewals (%llu)",
			(unsigned long long)t);
	store_sizes_get(s, &sz);
	cr_expect_eq(sz.instances, 85);
	cr_expect_eq(sz.stale, 0);
	store_free(s);
}

/* Renewals recovered, but the disk refuses the expiry of the held leases
 * when self-preservation is left: the tick says so, nothing is removed,
 * and it is left at a later tick, once the disk takes it. */
Test(store, leaving_self_preservation_the_disk_refuses_is_retried)
{
	struct fake_disk d = {0};
	uint64_t t;
	struct store *s = preserving_store(&fake_ops, &d, &t);
	d.fail_after = d.writes + 1;
	d.fail_code = RS_ESTORE_FULL;
	int failed = 0;
	for (; t <= 12000 && failed == 0; t += 100) {
		for (uint64_t id = 31; id <= 100; id++) {
			cr_assert_eq(store_lease_renew(s, id, t, NULL), 0);
		}
		uint32_t n = 0;
		int rc = store_tick(s, t, &n);
		if (rc < 0) {
			cr_expect_eq(rc, RS_ESTORE_FULL);
			failed++;
		}
	}
	cr_assert_eq(failed, 1, "leaving met the disk's refusal");
	cr_expect(store_preserving(s), "still preserving");
	struct store_sizes sz;
	store_sizes_get(s, &sz);
	cr_expect_eq(sz.instances, 85, "nothing removed");
	d.fail_after = 0;
	for (; t <= 14000 && store_preserving(s); t += 100) {
		for (uint64_t id = 31; id <= 100; id++) {
			cr_assert_eq(store_lease_renew(s, id, t, NULL), 0);
		}
		tick(s, t);
	}
	cr_expect(!store_preserving(s), "left once the disk takes it");
	store_sizes_get(s, &sz);
	cr_expect_eq(sz.instances, 70);
	cr_expect_eq(sz.stale, 0);
	store_free(s);
}

/* --keep-last: the last fresh instance of a service expires and is kept,
 * but the disk refuses the write that would keep the one that went a tick
 * before it (pending): that one stays pending, not served, and goes when
 * its hold ends; nothing half-written is served. */
Test(store, keep_last_a_pending_instance_the_disk_refuses_stays_pending)
{
	struct store_limits l = keep_limits();
	struct fake_disk d = {0};
	struct store *s = store_new(&l, &fake_ops, &d, 0);
	uint64_t now = 0;
	two_leases_a_tick_apart(s, &now);
	run(s, &now, 1100, NULL); /* lease 1 expired; lease 2 is still fresh */
	cr_assert_eq(sizes(s).pending, 1);
	/* Lease 2's expiry writes w2 kept and deletes the lease (two writes),
	 * then the revival writes w1: that third write fails. */
	d.fail_after = d.writes + 3;
	d.fail_code = RS_ESTORE_FULL;
	run(s, &now, 1200, NULL);
	cr_expect_eq(count(s, "web"), 1, "w2 kept, w1 not revived");
	cr_expect_eq(nstale(s, "web"), 1);
	cr_expect_eq(sizes(s).pending, 1, "w1 still pending");
	struct store_key k1 = {"web", "tcp", "w1.example.net", 80};
	cr_expect_null(store_instance_find(s, &k1));
	d.fail_after = 0;
	run(s, &now, 3000, NULL); /* w1's hold (its TTL, 1 s) ended */
	cr_expect_eq(sizes(s).pending, 0);
	cr_expect_eq(count(s, "web"), 1);
	store_free(s);
}
