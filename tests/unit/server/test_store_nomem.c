/* server/registry/store: every heap allocation on the path of each operation
 * fails once (tests/faults/allocfail.h), and the store must answer
 * RS_ENOMEM and be exactly as before (nothing applied, nothing announced,
 * nothing leaked under ASan), or, where the allocation only served the
 * journal or an index's growth, apply the operation and say so by falling
 * back (Watch gets RS_ERANGE: take a snapshot). Each case rebuilds the same
 * store from scratch, arms failure number k, and goes on until the
 * operation meets no failure. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "allocfail.h"
#include "common/error.h"
#include "server/registry/static.h"
#include "server/registry/store.h"

/* ---- the store's observable state, as text ------------------------------ */

struct text {
	char buf[1 << 16];
	size_t len;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && (size_t)n < sizeof(t->buf) - t->len, "fingerprint too long");
	t->len += (size_t)n;
}

static void put_instance(struct text *t, const struct store_instance *i)
{
	put(t, "  %s:%u st=%u stale=%u kept=%u rev=%llu lease=%llu prio=%u w=%u", i->host, i->port,
			i->status, i->stale, i->kept, (unsigned long long)i->revision,
			(unsigned long long)(i->lease != NULL ? i->lease->id : 0), i->priority,
			i->weight);
	for (unsigned k = 0; k < i->naddrs; k++) {
		put(t, " a%u", i->addrs[k].family);
	}
	for (unsigned k = 0; k < i->nmeta; k++) {
		put(t, " %s=%s", i->meta[k].key, i->meta[k].value);
	}
	put(t, "\n");
}

static int put_service(const struct store_service *svc, void *ud)
{
	struct text *t = ud;
	put(t, " %s.%s n=%u up=%u stale=%u rev=%llu\n", svc->name, svc->protocol, svc->ninstances,
			svc->nup, svc->nstale, (unsigned long long)svc->revision);
	/* The array's order is the store's business: list by identity. */
	char *lines[512];
	cr_assert_leq(svc->ninstances, 512);
	for (uint32_t k = 0; k < svc->ninstances; k++) {
		struct text one = {.len = 0};
		put_instance(&one, svc->instances[k]);
		lines[k] = strdup(one.buf);
	}
	for (uint32_t a = 0; a < svc->ninstances; a++) {
		for (uint32_t b = a + 1; b < svc->ninstances; b++) {
			if (strcmp(lines[b], lines[a]) < 0) {
				char *x = lines[a];
				lines[a] = lines[b];
				lines[b] = x;
			}
		}
	}
	for (uint32_t k = 0; k < svc->ninstances; k++) {
		put(t, "%s", lines[k]);
		free(lines[k]);
	}
	return 0;
}

static int put_entry(const struct store_journal_entry *e, void *ud)
{
	put(ud, " j%llu %d %d %s %s:%u\n", (unsigned long long)e->revision, e->kind, e->reason,
			e->service, e->copy->host, e->copy->port);
	return 0;
}

static int count_entry(const struct store_journal_entry *e, void *ud)
{
	(void)e;
	(*(int *)ud)++;
	return 0;
}

static const uint64_t lease_ids[] = {11, 12, 13, 14};

/* Everything a reader of the store can see. @p journal: with the journal. */
static void fingerprint(const struct store *s, struct text *t, bool journal)
{
	t->len = 0;
	t->buf[0] = '\0';
	struct store_sizes z;
	store_sizes_get(s, &z);
	put(t,
			"rev=%llu leases=%llu inst=%llu svcs=%llu up=%llu down=%llu starting=%llu "
			"stale=%llu pending=%llu preserving=%d\n",
			(unsigned long long)store_revision(s), (unsigned long long)z.leases,
			(unsigned long long)z.instances, (unsigned long long)z.services,
			(unsigned long long)z.up, (unsigned long long)z.down,
			(unsigned long long)z.starting, (unsigned long long)z.stale,
			(unsigned long long)z.pending, store_preserving(s));
	for (size_t k = 0; k < sizeof(lease_ids) / sizeof(lease_ids[0]); k++) {
		const struct store_lease *l = store_lease_find(s, lease_ids[k]);
		if (l != NULL) {
			put(t, " lease %llu ttl=%u n=%u exp=%llu\n", (unsigned long long)l->id,
					l->ttl_ms, l->ninstances,
					(unsigned long long)l->expires_mono);
		}
	}
	if (store_service_foreach(s, put_service, t) != 0) {
		put(t, "(services: out of memory)\n");
	}
	if (journal) {
		put(t, "journal from %llu\n", (unsigned long long)store_journal_first(s));
		if (store_journal_foreach(s, 0, put_entry, t) == RS_ERANGE) {
			put(t, " (does not reach back to revision 1)\n");
		}
	}
}

/* ---- building stores ---------------------------------------------------- */

static int announced; /* changes the listener saw */

static void listener(const struct store_change *c, void *ud)
{
	(void)c;
	(void)ud;
	announced++;
}

static struct store_limits limits(bool keep_last)
{
	struct store_limits l;
	store_limits_default(&l);
	l.journal_max = 64;
	l.preserve_enabled = false;
	l.keep_last = keep_last;
	l.keep_last_max_ms = 60000;
	return l;
}

static struct store_registration reg(
		const char *svc, const char *host, uint32_t port, uint64_t lease)
{
	static const struct rs_addr addrs[2] = {{.family = AF_INET}, {.family = AF_INET6}};
	static const struct store_meta meta[2] = {{"zone", "a"}, {"ver", "1.2"}};
	struct store_registration r;
	memset(&r, 0, sizeof(r));
	r.service = svc;
	r.protocol = "tcp";
	r.host = host;
	r.port = port;
	r.lease = lease;
	r.addrs = addrs;
	r.naddrs = 2;
	r.meta = meta;
	r.nmeta = 2;
	return r;
}

static void must_register(struct store *s, struct store_registration r)
{
	bool created;
	uint64_t rev;
	int rc = store_register(s, &r, 1000, 5000, &created, &rev);
	cr_assert_eq(rc, 0, "register %s:%u: %s", r.host, r.port, rs_strerror(rc));
}

static void must_lease(struct store *s, uint32_t ttl_s, uint64_t id, uint64_t now)
{
	const struct store_lease *l;
	cr_assert_eq(store_lease_open(s, ttl_s, id, now, &l), 0);
}

/* Two services, a lease with two instances, one permanent instance. */
static struct store *populated(bool keep_last)
{
	struct store_limits l = limits(keep_last);
	struct store *s = store_new(&l, NULL, NULL, 1000);
	cr_assert_not_null(s);
	must_lease(s, 5, 11, 1000);
	must_lease(s, 5, 12, 1000);
	must_register(s, reg("web", "a.example", 80, 11));
	must_register(s, reg("web", "b.example", 80, 12));
	must_register(s, reg("db", "c.example", 5432, 0));
	store_set_listener(s, listener, NULL);
	announced = 0;
	return s;
}

/* ---- the loop ------------------------------------------------------------ */

/* What an operation did under one armed failure. */
enum outcome {
	CLEAN,   /* no failure met: the reference run */
	REFUSED, /* RS_ENOMEM, the store as before */
	DEGRADED /* applied; the journal could not follow */
};

typedef int (*op_fn)(struct store *s);
typedef struct store *(*build_fn)(void);

static struct text before, after, reference, reference_nj;

/* Fail allocation k = 1, 2, ... of @p op on a store from @p build. Every
 * failure must refuse cleanly or degrade as documented; the successful run
 * is the reference every degraded run must match apart from the journal.
 * @p want_ok the operation's result when nothing fails.
 * @return how many allocations the operation made. */
static size_t each_failure(
		build_fn build, op_fn op, int want_ok, bool strict, int *refused, int *degraded)
{
	*refused = *degraded = 0;
	struct text *degraded_runs = calloc(64, sizeof(struct text));
	int ndegraded = 0;
	size_t k;
	for (k = 1;; k++) {
		cr_assert_lt(k, 1000, "the operation never stops allocating");
		struct store *s = build();
		fingerprint(s, &before, true);
		uint64_t rev0 = store_revision(s);
		allocfail_arm(k);
		int rc = op(s);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (!struck) {
			cr_assert_eq(rc, want_ok, "clean run: %s", rs_strerror(rc));
			fingerprint(s, &reference, true);
			fingerprint(s, &reference_nj, false);
			store_free(s);
			break;
		}
		if (rc == RS_ENOMEM) {
			(*refused)++;
			fingerprint(s, &after, true);
			cr_assert_str_eq(after.buf, before.buf, "allocation %zu failed", k);
			cr_assert_eq(announced, 0, "allocation %zu: a refused change was announced",
					k);
		} else {
			cr_assert_eq(rc, want_ok, "allocation %zu failed: %s", k, rs_strerror(rc));
			(*degraded)++;
			cr_assert_lt(ndegraded, 64);
			fingerprint(s, &degraded_runs[ndegraded++], false);
			if (store_revision(s) > rev0) {
				/* Changes the journal missed: a watcher at rev0 must be
				 * told to take a snapshot, never be replayed a gap. */
				int n = 0;
				if (store_journal_foreach(s, rev0, count_entry, &n) == 0) {
					cr_assert_eq((uint64_t)n, store_revision(s) - rev0,
							"allocation %zu: the journal replays %d of "
							"%llu changes",
							k, n,
							(unsigned long long)(store_revision(s) -
									     rev0));
				}
			}
		}
		store_free(s);
	}
	for (int d = 0; strict && d < ndegraded; d++) {
		cr_assert_str_eq(degraded_runs[d].buf, reference_nj.buf, "degraded run %d", d);
	}
	free(degraded_runs);
	return k - 1;
}

/* ---- operations ---------------------------------------------------------- */

static struct store *empty_store(void)
{
	struct store_limits l = limits(false);
	struct store *s = store_new(&l, NULL, NULL, 1000);
	cr_assert_not_null(s);
	store_set_listener(s, listener, NULL);
	announced = 0;
	return s;
}

static struct store *populated_plain(void)
{
	return populated(false);
}

static struct store *populated_keep_last(void)
{
	return populated(true);
}

static int op_new_service(struct store *s)
{
	struct store_registration r = reg("mail", "m.example", 25, 11);
	bool created;
	uint64_t rev;
	return store_register(s, &r, 1000, 6000, &created, &rev);
}

static int op_new_instance_in_service(struct store *s)
{
	struct store_registration r = reg("web", "d.example", 8080, 11);
	bool created;
	uint64_t rev;
	return store_register(s, &r, 1000, 6000, &created, &rev);
}

static int op_update(struct store *s)
{
	struct store_registration r = reg("web", "a.example", 80, 11);
	r.priority = 7;
	r.nmeta = 1;
	bool created;
	uint64_t rev;
	return store_register(s, &r, 1000, 6000, &created, &rev);
}

static int op_lease_open(struct store *s)
{
	const struct store_lease *l;
	return store_lease_open(s, 5, 13, 1000, &l);
}

static int op_first_lease(struct store *s)
{
	const struct store_lease *l;
	return store_lease_open(s, 5, 11, 1000, &l);
}

static int op_first_register(struct store *s)
{
	struct store_registration r = reg("web", "a.example", 80, 0);
	bool created;
	uint64_t rev;
	return store_register(s, &r, 1000, 6000, &created, &rev);
}

static int op_deregister(struct store *s)
{
	struct store_key k = {"web", "tcp", "a.example", 80};
	uint64_t rev;
	return store_deregister(s, &k, &rev);
}

static int op_status(struct store *s)
{
	struct store_key k = {"web", "tcp", "b.example", 80};
	uint64_t rev;
	return store_status_set(s, &k, STORE_STATUS_DOWN, 7000, &rev);
}

static int op_lease_close(struct store *s)
{
	uint32_t removed;
	return store_lease_close(s, 11, &removed);
}

Test(store_nomem, store_new_fails_cleanly_at_each_allocation)
{
	struct store_limits l = limits(true);
	size_t k;
	for (k = 1;; k++) {
		allocfail_arm(k);
		struct store *s = store_new(&l, NULL, NULL, 1000);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (!struck) {
			cr_assert_not_null(s);
			store_free(s);
			break;
		}
		cr_assert_null(s, "allocation %zu failed, yet a store was made", k);
	}
	cr_expect_geq(k, 4, "a store is several allocations: %zu", k - 1);
}

Test(store_nomem, registration_of_a_new_service_is_refused_or_applied_whole)
{
	int refused, degraded;
	size_t n = each_failure(populated_plain, op_new_service, 0, true, &refused, &degraded);
	cr_expect_geq(refused, 3, "the instance, the service and its name: %d of %zu", refused, n);
	cr_expect_geq(degraded, 1, "the journal's copy");
	cr_expect(strstr(reference.buf, "m.example.:25") != NULL, "%s", reference.buf);
}

Test(store_nomem, registration_into_a_service_is_refused_or_applied_whole)
{
	int refused, degraded;
	each_failure(populated_plain, op_new_instance_in_service, 0, true, &refused, &degraded);
	cr_expect_geq(refused, 1);
	cr_expect_geq(degraded, 1);
	cr_expect(strstr(reference.buf, "d.example.:8080") != NULL);
}

Test(store_nomem, an_update_is_refused_or_applied_whole)
{
	int refused, degraded;
	each_failure(populated_plain, op_update, 0, true, &refused, &degraded);
	cr_expect_geq(refused, 1);
	cr_expect_geq(degraded, 1);
	cr_expect(strstr(reference.buf, "lease=11 prio=7 w=0 a2 a10 zone=a\n") != NULL, "%s",
			reference.buf);
}

Test(store_nomem, the_first_lease_and_registration_of_an_empty_store)
{
	int refused, degraded;
	each_failure(empty_store, op_first_lease, 0, true, &refused, &degraded);
	cr_expect_geq(refused, 1);
	each_failure(empty_store, op_first_register, 0, true, &refused, &degraded);
	cr_expect_geq(refused, 3);
}

Test(store_nomem, a_lease_open_is_refused_or_applied)
{
	int refused, degraded;
	each_failure(populated_plain, op_lease_open, 0, true, &refused, &degraded);
	cr_expect_geq(refused, 1);
	cr_expect(strstr(reference.buf, "lease 13 ttl=5000 n=0") != NULL);
}

Test(store_nomem, removals_and_status_changes_degrade_only_the_journal)
{
	int refused, degraded;
	each_failure(populated_plain, op_deregister, 0, true, &refused, &degraded);
	cr_expect_eq(refused, 0, "a removal needs no memory");
	cr_expect_geq(degraded, 1);
	cr_expect(strstr(reference_nj.buf, "a.example") == NULL);
	each_failure(populated_plain, op_status, 0, true, &refused, &degraded);
	cr_expect_eq(refused, 0);
	cr_expect_geq(degraded, 1);
	each_failure(populated_plain, op_lease_close, 0, true, &refused, &degraded);
	cr_expect_eq(refused, 0);
	cr_expect_geq(degraded, 1);
}

Test(store_nomem, an_unknown_key_is_refused_before_any_allocation)
{
	struct store *s = populated_plain();
	struct store_key k = {"web", "tcp", "zz.example", 80};
	uint64_t rev;
	allocfail_arm_from(1);
	cr_expect_eq(store_deregister(s, &k, &rev), RS_ENOENT);
	cr_expect_eq(store_status_set(s, &k, STORE_STATUS_DOWN, 1, &rev), RS_ENOENT);
	allocfail_disarm();
	store_free(s);
}

/* Register @p r with each of its allocations failing in turn until it
 * meets no failure: a refused try changes nothing. @return the tries that
 * were applied despite a failure (a table that could not grow). */
static int register_through_failures(struct store *s, const struct store_registration *r)
{
	struct store_key key = {r->service, r->protocol, r->host, r->port};
	uint64_t rev0 = store_revision(s);
	for (size_t k = 1;; k++) {
		bool created;
		uint64_t rev;
		allocfail_arm(k);
		int rc = store_register(s, r, 1000, 5000, &created, &rev);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (rc == RS_ENOMEM) {
			cr_assert_null(store_instance_find(s, &key), "%s", r->host);
			cr_assert_eq(store_revision(s), rev0);
			continue;
		}
		cr_assert_eq(rc, 0, "%s: %s", r->host, rs_strerror(rc));
		cr_assert_eq(store_revision(s), rev0 + 1);
		return struck ? 1 : 0;
	}
}

/* Growing the identity index (1,024 buckets), the service tables (64) and
 * the service's array past their first sizes, each allocation of each
 * registration failing in turn: a failed rehash keeps the old table (longer
 * chains), and every instance stays findable. */
Test(store_nomem, growth_under_failures_keeps_every_instance_findable)
{
	struct store_limits l = limits(false);
	l.journal_max = 0;
	struct store *s = store_new(&l, NULL, NULL, 1000);
	cr_assert_not_null(s);
	enum { NHOSTS = 1100, NSVCS = 70 };
	static char hosts[NHOSTS][32], svcs[NSVCS][16];
	int degraded = 0;
	for (int h = 0; h < NHOSTS; h++) {
		snprintf(hosts[h], sizeof(hosts[h]), "h%d.example", h);
		degraded += register_through_failures(
				s, &(struct store_registration){.service = "web",
						   .protocol = "tcp",
						   .host = hosts[h],
						   .port = 80});
	}
	cr_expect_geq(degraded, 1, "the instance index's rehash failed at least once");
	degraded = 0;
	for (int v = 0; v < NSVCS; v++) {
		snprintf(svcs[v], sizeof(svcs[v]), "s%d", v);
		degraded += register_through_failures(
				s, &(struct store_registration){.service = svcs[v],
						   .protocol = "udp",
						   .host = "x.example",
						   .port = 1});
	}
	cr_expect_geq(degraded, 2, "the service and name tables' rehash failed");
	for (int h = 0; h < NHOSTS; h++) {
		struct store_key key = {"web", "tcp", hosts[h], 80};
		cr_assert_not_null(store_instance_find(s, &key), "%s lost", hosts[h]);
	}
	for (int v = 0; v < NSVCS; v++) {
		cr_assert_not_null(store_service_find(s, svcs[v], strlen(svcs[v]), "udp", 3), "%s",
				svcs[v]);
		cr_assert_not_null(store_service_find_name(s, svcs[v], strlen(svcs[v])));
	}
	struct store_sizes z;
	store_sizes_get(s, &z);
	cr_expect_eq(z.instances, NHOSTS + NSVCS);
	cr_expect_eq(z.services, 1 + NSVCS);
	store_free(s);
}

Test(store_nomem, lease_table_growth_under_failures_keeps_every_lease)
{
	struct store_limits l = limits(false);
	struct store *s = store_new(&l, NULL, NULL, 1000);
	cr_assert_not_null(s);
	int refused = 0, degraded = 0;
	for (uint64_t id = 1; id <= 1100; id++) {
		for (size_t k = 1;; k++) {
			const struct store_lease *out;
			allocfail_arm(k);
			int rc = store_lease_open(s, 5, id, 1000, &out);
			bool struck = allocfail_struck();
			allocfail_disarm();
			if (rc == RS_ENOMEM) {
				refused++;
				cr_assert_null(store_lease_find(s, id));
				continue;
			}
			cr_assert_eq(rc, 0);
			degraded += struck;
			break;
		}
	}
	cr_expect_geq(refused, 1100);
	cr_expect_geq(degraded, 1, "the lease table's rehash failed");
	for (uint64_t id = 1; id <= 1100; id++) {
		cr_assert_not_null(
				store_lease_find(s, id), "lease %llu lost", (unsigned long long)id);
	}
	store_free(s);
}

/* ---- expiry under --keep-last --------------------------------------------- */

static int op_expire_one_of_two(struct store *s)
{
	/* Lease 12 renewed, 11 not: a.example expires while b.example is fresh,
	 * so it is held pending for one TTL. */
	const struct store_lease *l;
	cr_assert_eq(store_lease_renew(s, 12, 5000, &l), 0);
	uint32_t n = 0;
	int rc = store_tick(s, 6200, &n);
	return rc == 0 ? (int)n : rc;
}

static int op_expire_both(struct store *s)
{
	uint32_t n = 0;
	int rc = store_tick(s, 6200, &n);
	return rc == 0 ? (int)n : rc;
}

Test(store_nomem, expiry_never_fails_and_never_serves_an_expired_lease_as_fresh)
{
	int refused, degraded;
	each_failure(populated_keep_last, op_expire_one_of_two, 1, false, &refused, &degraded);
	cr_expect_eq(refused, 0, "expiry has nothing to refuse");
	cr_expect(strstr(reference.buf, "pending=1") != NULL, "%s", reference.buf);
	each_failure(populated_keep_last, op_expire_both, 2, false, &refused, &degraded);
	cr_expect_eq(refused, 0);
	/* The last UP instances of web are kept, stale, without a lease. */
	cr_expect(strstr(reference.buf, "a.example.:80 st=2 stale=1 kept=1") != NULL, "%s",
			reference.buf);
}

/* A failed allocation while expiring: each run must still end with no
 * lease left and nothing served as fresh that had one. */
Test(store_nomem, expiry_with_each_allocation_failing_drops_or_keeps_whole_instances)
{
	for (size_t k = 1; k < 40; k++) {
		struct store *s = populated_keep_last();
		allocfail_arm(k);
		uint32_t n = 0;
		cr_assert_eq(store_tick(s, 6200, &n), 0);
		allocfail_disarm();
		cr_assert_eq(n, 2);
		struct store_sizes z;
		store_sizes_get(s, &z);
		cr_expect_eq(z.leases, 0);
		cr_expect_eq(z.instances - z.stale, 1, "only the permanent one is fresh (k %zu)",
				k);
		cr_expect_leq(z.stale, 2);
		/* Whatever was kept ages out; nothing is left behind. */
		cr_assert_eq(store_tick(s, 6200 + 61000, &n), 0);
		store_sizes_get(s, &z);
		cr_expect_eq(z.instances, 1, "k %zu", k);
		cr_expect_eq(z.pending, 0);
		store_free(s);
	}
}

/* A pending instance revived when the last fresh one of its service goes:
 * when that needs memory it cannot have, it stays pending (not served) and
 * goes after its hold. */
Test(store_nomem, revival_of_pending_instances_under_failures)
{
	for (size_t k = 1; k < 20; k++) {
		struct store *s = populated_keep_last();
		cr_assert_eq(op_expire_one_of_two(s), 1);
		allocfail_arm(k);
		uint32_t n = 0;
		cr_assert_eq(store_tick(s, 10100, &n), 0);
		allocfail_disarm();
		cr_assert_eq(n, 1);
		struct store_sizes z;
		store_sizes_get(s, &z);
		cr_expect_eq(z.leases, 0);
		cr_expect_eq(z.instances - z.stale, 1, "k %zu", k);
		cr_expect_eq(z.up - z.stale, 1, "k %zu", k);
		cr_assert_eq(store_tick(s, 10100 + 61000, &n), 0);
		store_sizes_get(s, &z);
		cr_expect_eq(z.instances, 1, "k %zu", k);
		cr_expect_eq(z.pending, 0, "k %zu", k);
		store_free(s);
	}
}

/* ---- loading ------------------------------------------------------------- */

static int load_cb(struct store *s, uint64_t now_mono, void *ud)
{
	(void)ud;
	int rc = store_load_lease(s, 11, 5000, now_mono);
	if (rc == 0) {
		rc = store_load_lease(s, 12, 5000, now_mono);
	}
	struct store_registration r = reg("web", "a.example", 80, 11);
	if (rc == 0) {
		rc = store_load_instance(s, &r, 100, 200, now_mono);
	}
	r = reg("web", "k.example", 81, 0);
	r.kept = true;
	r.rec = 9;
	if (rc == 0) {
		rc = store_load_instance(s, &r, 100, 200, now_mono);
	}
	r = reg("db", "c.example", 5432, 0);
	if (rc == 0) {
		rc = store_load_instance(s, &r, 100, 200, now_mono);
	}
	store_load_revision(s, 42);
	return rc;
}

static int op_reload(struct store *s)
{
	return store_reload(s, 2000, load_cb, NULL);
}

Test(store_nomem, loading_fails_with_enomem_at_each_allocation)
{
	size_t k;
	int failures = 0;
	for (k = 1;; k++) {
		struct store *s = populated_keep_last();
		allocfail_arm(k);
		int rc = op_reload(s);
		bool struck = allocfail_struck();
		allocfail_disarm();
		cr_assert_eq(store_reloads(s), 1);
		if (!struck) {
			cr_assert_eq(rc, 0);
			fingerprint(s, &after, true);
			cr_expect(strstr(after.buf, "k.example.:81 st=2 stale=1") != NULL, "%s",
					after.buf);
			cr_expect(strstr(after.buf, "rev=42 leases=2 inst=3") != NULL, "%s",
					after.buf);
			store_free(s);
			break;
		}
		/* The caller stops on a failed reload; the store must still be
		 * freed whole (ASan) and never claim more than it loaded. */
		cr_expect_eq(rc, RS_ENOMEM, "allocation %zu: %s", k, rs_strerror(rc));
		failures++;
		store_free(s);
	}
	cr_expect_geq(failures, 6, "tables, leases, services, instances, the kept set");
}

Test(store_nomem, a_loaded_instance_twice_or_without_its_lease_is_refused)
{
	struct store_limits l = limits(true);
	struct store *s = store_new(&l, NULL, NULL, 1000);
	cr_assert_not_null(s);
	cr_assert_eq(store_load_lease(s, 11, 5000, 1000), 0);
	cr_expect_eq(store_load_lease(s, 11, 5000, 1000), RS_EEXIST);
	cr_expect_eq(store_load_lease(s, 0, 5000, 1000), RS_EEXIST);
	cr_expect_eq(store_load_lease(s, 12, 999, 1000), RS_ETTL);
	cr_expect_eq(store_load_lease(s, 12, 3600001, 1000), RS_ETTL);
	struct store_registration r = reg("web", "a.example", 80, 11);
	cr_assert_eq(store_load_instance(s, &r, 1, 2, 1000), 0);
	cr_expect_eq(store_load_instance(s, &r, 1, 2, 1000), RS_EEXIST);
	r = reg("web", "b.example", 80, 77);
	cr_expect_eq(store_load_instance(s, &r, 1, 2, 1000), RS_ELEASE);
	/* A kept record whose lease is on disk is its lease's, not kept. */
	r = reg("web", "c.example", 80, 11);
	r.kept = true;
	cr_assert_eq(store_load_instance(s, &r, 1, 2, 1000), 0);
	struct store_key key = {"web", "tcp", "c.example", 80};
	const struct store_instance *i = store_instance_find(s, &key);
	cr_assert_not_null(i);
	cr_expect_eq(i->stale, 0);
	cr_expect_not_null(i->lease);
	struct store_sizes z;
	store_sizes_get(s, &z);
	cr_expect_eq(z.instances, 2);
	cr_expect_eq(z.stale, 0);
	store_free(s);
}

/* ---- static instances (--static) ------------------------------------------ */

/* Twenty lines (past the set's first size), each with addresses and
 * metadata. */
static void static_file(char *path, size_t pathsz)
{
	snprintf(path, pathsz, "/tmp/roster-static-nomem-XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	FILE *f = fdopen(fd, "w");
	cr_assert_not_null(f);
	for (int k = 0; k < 20; k++) {
		fprintf(f,
				"{\"service\":\"web\",\"protocol\":\"tcp\",\"host\":\"s%d.example.net\","
				"\"port\":80,\"addresses\":[\"192.0.2.%d\",\"2001:db8::%d\"],"
				"\"metadata\":{\"zone\":\"eu-%d\",\"az\":\"b\"},\"status\":\"DOWN\"}\n",
				k, k + 1, k + 1, k);
	}
	cr_assert_eq(fclose(f), 0);
}

Test(store_nomem, a_static_file_read_without_memory_is_refused_whole)
{
	char path[64];
	static_file(path, sizeof(path));
	struct store_limits l;
	store_limits_default(&l);
	for (size_t k = 1;; k++) {
		struct static_set *set = NULL;
		char err[512] = "";
		allocfail_arm(k);
		int rc = static_set_read(path, &l, &set, err, sizeof(err));
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (rc == 0) {
			cr_expect_eq(static_set_count(set), 20, "k=%zu", k);
			static_set_free(set);
			if (!struck) {
				break;
			}
			continue; /* jansson's own allocations are not ours to fail */
		}
		cr_expect(struck, "k=%zu: %s", k, err);
		cr_expect_null(set);
		cr_expect_not_null(strstr(err, path), "k=%zu: %s", k, err);
	}
	unlink(path);
}

Test(store_nomem, a_static_set_applied_without_memory_completes_on_the_next_apply)
{
	char path[64];
	static_file(path, sizeof(path));
	struct store_limits l;
	store_limits_default(&l);
	struct static_set *set = NULL;
	char err[512];
	cr_assert_eq(static_set_read(path, &l, &set, err, sizeof(err)), 0, "%s", err);
	struct text clean, now;
	struct store *s = store_new(&l, NULL, NULL, 0);
	cr_assert_not_null(s);
	size_t changed = 0;
	cr_assert_eq(static_set_apply(s, set, 0, 1, &changed, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(changed, 20);
	fingerprint(s, &clean, false);
	store_free(s);
	for (size_t k = 1;; k++) {
		s = store_new(&l, NULL, NULL, 0);
		cr_assert_not_null(s);
		allocfail_arm(k);
		int rc = static_set_apply(s, set, 0, 1, &changed, err, sizeof(err));
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (rc < 0) {
			cr_expect(struck, "k=%zu: %s", k, err);
			cr_expect_eq(rc, RS_ENOMEM, "k=%zu: %s", k, err);
			/* Applying the same set again completes it. */
			cr_assert_eq(static_set_apply(s, set, 0, 1, &changed, err, sizeof(err)), 0,
					"%s", err);
		}
		fingerprint(s, &now, false);
		cr_expect_str_eq(now.buf, clean.buf, "k=%zu", k);
		store_free(s);
		if (!struck) {
			break;
		}
	}
	/* An empty set removes them all. */
	s = store_new(&l, NULL, NULL, 0);
	cr_assert_eq(static_set_apply(s, set, 0, 1, &changed, err, sizeof(err)), 0);
	cr_assert_eq(static_set_apply(s, NULL, 0, 1, &changed, err, sizeof(err)), 0);
	cr_expect_eq(changed, 20);
	store_free(s);
	static_set_free(set);
	unlink(path);
}
