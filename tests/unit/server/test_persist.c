#include <criterion/criterion.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "common/error.h"
#include "persist_fixture.h"
#include "server/registry/persist.h"
#include "server/registry/store.h"

Test(persist, round_trip_of_instances_leases_and_revision)
{
	const char *dir = persist_fixture_dir("roster-persist");
	struct persist *p;
	struct store *s = persist_fixture_open(dir, 1 << 20, 1 << 24, &p);
	const struct store_lease *l;
	cr_assert_eq(store_lease_open(s, 30, 0x1122334455667788ULL, 0, &l), 0);
	struct rs_addr addrs[2];
	cr_assert_eq(rs_addr_parse("10.1.2.3", &addrs[0]), 0);
	cr_assert_eq(rs_addr_parse("fd00::7", &addrs[1]), 0);
	struct store_meta meta[2] = {{"version", "1.2.3"}, {"zone", "b"}};
	struct store_registration r = {.service = "web",
			.protocol = "http",
			.host = "Web1.Example.Net",
			.port = 8080,
			.addrs = addrs,
			.naddrs = 2,
			.priority = 3,
			.weight = 40,
			.meta = meta,
			.nmeta = 2,
			.status = STORE_STATUS_STARTING,
			.lease = l->id};
	bool created;
	uint64_t rev;
	cr_assert_eq(store_register(s, &r, 0, 1700000000000ULL, &created, &rev), 0);
	struct store_registration perm = {
			.service = "db", .protocol = "tcp", .host = "db.example.net", .port = 5432};
	cr_assert_eq(store_register(s, &perm, 0, 1, &created, &rev), 0);
	cr_assert_eq(persist_batch_commit(p), 0);
	cr_expect_eq(persist_commits(p), 1, "one batch, one commit");
	store_free(s);
	cr_assert_eq(persist_close(p), 0);

	s = persist_fixture_open(dir, 1 << 20, 1 << 24, &p);
	uint64_t ni, nl, nd;
	cr_assert_eq(persist_load(p, s, 5000, &ni, &nl, &nd), 0);
	cr_expect_eq(ni, 2);
	cr_expect_eq(nl, 1);
	cr_expect_eq(nd, 0);
	cr_expect_eq(store_revision(s), rev);
	struct store_key k = {"web", "http", "web1.example.net", 8080};
	const struct store_instance *i = store_instance_find(s, &k);
	cr_assert_not_null(i);
	cr_expect_eq(i->weight, 40);
	cr_expect_eq(i->priority, 3);
	cr_expect_eq(i->status, STORE_STATUS_STARTING);
	cr_expect_eq(i->naddrs, 2);
	cr_expect_eq(rs_addr_cmp(&i->addrs[1], &addrs[1]), 0);
	cr_expect_str_eq(i->meta[0].value, "1.2.3");
	cr_expect_eq(i->registered_at_ms, 1700000000000ULL);
	cr_assert_not_null(i->lease);
	cr_expect_eq(i->lease->id, 0x1122334455667788ULL);
	cr_expect_eq(i->lease->expires_mono, 5000 + 30000, "a full TTL from the load");
	store_free(s);
	cr_assert_eq(persist_close(p), 0);
	persist_fixture_rmrf(dir);
}

Test(persist, writes_wait_in_one_batch_until_commit)
{
	const char *dir = persist_fixture_dir("roster-persist");
	struct persist *p;
	struct store *s = persist_fixture_open(dir, 1 << 20, 1 << 24, &p);
	cr_expect(!persist_batch_open(p));
	char host[64];
	for (int k = 0; k < 100; k++) {
		snprintf(host, sizeof(host), "h%d.example.net", k);
		struct store_registration r = {
				.service = "a", .protocol = "tcp", .host = host, .port = 1};
		bool created;
		uint64_t rev;
		cr_assert_eq(store_register(s, &r, 0, 0, &created, &rev), 0);
	}
	cr_expect(persist_batch_open(p));
	cr_expect_eq(persist_commits(p), 0, "nothing committed per request");
	cr_assert_eq(persist_batch_commit(p), 0);
	cr_expect(!persist_batch_open(p));
	cr_expect_eq(persist_commits(p), 1, "100 registrations, one commit");
	cr_expect_eq(persist_batch_commit(p), 0, "an empty commit is a no-op");
	cr_expect_eq(persist_commits(p), 1);
	store_free(s);
	persist_close(p);
	persist_fixture_rmrf(dir);
}

/* The map grows inside persist, without the caller's help; only at the
 * maximum is a write refused, at once (before any commit could fail), and
 * no commit fails. */
Test(persist, map_full_grows_then_refuses_and_keeps_what_was_acknowledged)
{
	const char *dir = persist_fixture_dir("roster-persist");
	struct persist *p;
	/* 1 MiB map that may grow to 2 MiB. */
	struct store *s = persist_fixture_open(dir, 1 << 20, 2 << 20, &p);
	int full = 0;
	uint32_t acked = 0;
	for (uint32_t k = 0; k < 5000 && !full; k++) {
		int rc = persist_fixture_add(s, "a", k, persist_fixture_blob());
		if (rc == RS_ESTORE_FULL) {
			full = 1;
			continue;
		}
		cr_assert_eq(rc, 0, "k=%u: %s", k, rs_strerror(rc));
		if (k % 50 == 49) {
			cr_assert_eq(persist_batch_commit(p), 0);
		}
		acked = k + 1;
	}
	cr_assert_eq(persist_batch_commit(p), 0);
	cr_expect_eq(persist_map_size(p), 2 << 20, "grew to the maximum");
	cr_expect_eq(persist_refusals(p), 1);
	cr_expect(full, "then refused");
	cr_expect_gt(acked, 500);
	/* Deletes still work when full. */
	struct store_key key = {"a", "tcp", "h0.example.net", 1};
	uint64_t rev;
	cr_expect_eq(store_deregister(s, &key, &rev), 0);
	cr_assert_eq(persist_batch_commit(p), 0);
	store_free(s);
	persist_close(p);

	cr_expect_eq(persist_fixture_loaded(dir, 1 << 20, 2 << 20), acked - 1,
			"every acknowledged registration is there");
	persist_fixture_rmrf(dir);
}

Test(persist, unusable_dir_is_a_clear_error)
{
	struct persist *p;
	char err[256] = "";
	cr_expect_lt(persist_open("/proc/version", 1 << 20, 1 << 20, &p, err, sizeof(err)), 0);
	cr_expect(strstr(err, "/proc/version") != NULL, "%s", err);
	cr_expect_lt(persist_open("/nonexistent/a/b", 1 << 20, 1 << 20, &p, err, sizeof(err)), 0);
	cr_expect(strstr(err, "/nonexistent/a/b") != NULL, "%s", err);
}

/* One rosterd per store: a second open of the same data dir is refused
 * while the first holds it, and allowed once it is closed. */
Test(persist, data_dir_in_use_is_refused)
{
	const char *dir = persist_fixture_dir("roster-persist");
	struct persist *p, *q;
	struct store *s = persist_fixture_open(dir, 1 << 20, 1 << 22, &p);
	char err[256] = "";
	cr_assert_eq(persist_open(dir, 1 << 20, 1 << 22, &q, err, sizeof(err)), RS_EBUSY);
	cr_assert(strstr(err, "in use by another rosterd") != NULL, "%s", err);
	cr_assert(strstr(err, dir) != NULL, "%s", err);
	store_free(s);
	cr_assert_eq(persist_close(p), 0);
	cr_assert_eq(persist_open(dir, 1 << 20, 1 << 22, &q, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(persist_close(q), 0);
	persist_fixture_rmrf(dir);
}

/* A process that dies inside a read transaction leaves its reader slot
 * behind (catalogue 4.1); the periodic check clears it. The reader is a
 * forked child with its own environment handle, like an `mdb_stat` run. */
Test(persist, dead_readers_slots_are_cleared)
{
	const char *dir = persist_fixture_dir("roster-persist");
	struct persist *p;
	struct store *s = persist_fixture_open(dir, 1 << 20, 1 << 22, &p);
	cr_assert_eq(persist_readers_check(p), 0, "no dead reader at first");
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		MDB_env *env;
		MDB_txn *txn;
		if (mdb_env_create(&env) != 0 || mdb_env_set_maxdbs(env, 8) != 0 ||
				mdb_env_open(env, dir, MDB_RDONLY, 0) != 0 ||
				mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0) {
			_exit(1);
		}
		_exit(0); /* no abort, no close: the slot stays */
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child opened a reader");
	cr_assert_eq(persist_readers_check(p), 1, "its slot is cleared");
	cr_assert_eq(persist_readers_check(p), 0, "and only once");
	store_free(s);
	cr_assert_eq(persist_close(p), 0);
	persist_fixture_rmrf(dir);
}

/* ---- the writer thread and map growth ------------------------------------ */

static void must_add(struct store *s, const char *svc, uint32_t k, const struct store_meta *meta)
{
	int rc = persist_fixture_add(s, svc, k, meta);
	cr_assert_eq(rc, 0, "%s k=%u: %s", svc, k, rs_strerror(rc));
}

/* Instance records on disk, as another process reading the store sees them
 * (a forked child with its own environment handle, like `mdb_stat`). */
static int disk_instances(const char *dir)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		MDB_env *env;
		MDB_txn *txn;
		MDB_dbi dbi;
		MDB_stat st;
		if (mdb_env_create(&env) != 0 || mdb_env_set_maxdbs(env, 8) != 0 ||
				mdb_env_open(env, dir, MDB_RDONLY, 0) != 0 ||
				mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0 ||
				mdb_dbi_open(txn, "instances", 0, &dbi) != 0 ||
				mdb_stat(txn, dbi, &st) != 0) {
			_exit(255);
		}
		mdb_txn_abort(txn);
		mdb_env_close(env);
		_exit(st.ms_entries > 254 ? 254 : (int)st.ms_entries);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

struct done_log {
	struct persist *p;
	const char *dir;
	bool hold; /* do not hand the next batch over */
	int n;
	struct persist_result r[4];
	int on_disk[4]; /* instance records on disk when batch n was done */
	int pending[4]; /* writes were collecting behind it */
	uint64_t commits[4];
};

/* What the server does when a batch is done: its replies may go now (here:
 * note what the disk holds at that moment), then the next batch goes. */
static void log_done_cb(const struct persist_result *r, void *ud)
{
	struct done_log *d = ud;
	cr_assert_lt(d->n, 4);
	d->r[d->n] = *r;
	d->on_disk[d->n] = d->dir != NULL ? disk_instances(d->dir) : -1;
	d->pending[d->n] = persist_batch_open(d->p);
	d->commits[d->n] = persist_commits(d->p);
	d->n++;
	if (!d->hold) {
		(void)persist_batch_submit(d->p);
	}
}

/* The writer on a private loop, reporting to @p d. */
static void writer_start(uv_loop_t *loop, struct persist *p, struct done_log *d)
{
	cr_assert_eq(uv_loop_init(loop), 0);
	cr_assert_eq(persist_start(p, loop, log_done_cb, d), 0);
}

static void run_until_done(uv_loop_t *loop, const struct done_log *d, int n)
{
	while (d->n < n) {
		uv_run(loop, UV_RUN_ONCE);
	}
}

static void writer_stop(uv_loop_t *loop, struct persist *p)
{
	persist_stop(p);
	uv_run(loop, UV_RUN_DEFAULT);
	cr_expect_eq(uv_loop_close(loop), 0, "nothing left on the loop");
}

/* One batch commits on the writer thread while the next one collects on the
 * loop; each is reported done only once it is on disk, in order. */
Test(persist, a_batch_collects_while_the_previous_one_commits)
{
	const char *dir = persist_fixture_dir("roster-persist");
	uv_loop_t loop;
	struct persist *p;
	struct store *s = persist_fixture_open(dir, 1 << 20, 1 << 24, &p);
	struct done_log d = {.p = p, .dir = dir};
	writer_start(&loop, p, &d);

	for (uint32_t k = 0; k < 10; k++) {
		must_add(s, "a", k, NULL);
	}
	cr_assert_eq(persist_batch_submit(p), 1, "batch A goes to the writer");
	cr_expect(persist_batch_busy(p));
	cr_expect(!persist_batch_open(p));
	for (uint32_t k = 0; k < 10; k++) {
		must_add(s, "b", k, NULL); /* the loop goes on: batch B collects */
	}
	cr_expect(persist_batch_open(p));
	cr_expect_eq(persist_batch_submit(p), 0, "one batch in flight at a time");
	cr_expect_eq(d.n, 0, "nothing is done before the loop hears of it");

	run_until_done(&loop, &d, 2);
	cr_expect_eq(d.r[0].rc, 0);
	cr_expect_eq(d.on_disk[0], 10, "A is on disk when A is done, B is not");
	cr_expect(d.pending[0], "B was still collecting");
	cr_expect_eq(d.commits[0], 1);
	cr_expect_eq(d.r[1].rc, 0);
	cr_expect_eq(d.on_disk[1], 20, "B is on disk when B is done");
	cr_expect(!d.pending[1]);
	cr_expect_eq(d.commits[1], 2);
	cr_expect(!persist_batch_busy(p));
	writer_stop(&loop, p);
	store_free(s);
	cr_assert_eq(persist_close(p), 0);
	persist_fixture_rmrf(dir);
}

/* Shutdown: the batch in flight is waited for (its callback runs), what is
 * pending is committed by persist_close(). */
Test(persist, stop_waits_for_the_batch_in_flight_and_close_commits_the_rest)
{
	const char *dir = persist_fixture_dir("roster-persist");
	uv_loop_t loop;
	struct persist *p;
	struct store *s = persist_fixture_open(dir, 1 << 20, 1 << 24, &p);
	struct done_log d = {.p = p, .hold = true};
	writer_start(&loop, p, &d);
	must_add(s, "a", 1, NULL);
	cr_assert_eq(persist_batch_submit(p), 1);
	must_add(s, "b", 1, NULL);
	writer_stop(&loop, p);
	cr_expect_eq(d.n, 1, "the batch in flight was reported");
	cr_expect(persist_batch_open(p), "b is still pending");
	store_free(s);
	cr_assert_eq(persist_close(p), 0);
	cr_expect_eq(d.n, 1, "no callback after persist_stop()");
	cr_expect_eq(disk_instances(dir), 2);
	persist_fixture_rmrf(dir);
}

/* Issue 14: a store whose data is larger than --map-size is mapped at
 * exactly the data's size, with no free room. The next batch must grow the
 * map, not be refused as "full" far below --map-max. */
Test(persist, a_store_reopened_at_its_data_size_grows_instead_of_refusing)
{
	const char *dir = persist_fixture_dir("roster-persist");
	const struct store_meta *meta = persist_fixture_blob();
	struct persist *p;
	struct store *s = persist_fixture_open(dir, 1 << 20, 1 << 26, &p);
	for (uint32_t k = 0; k < 2000; k++) {
		must_add(s, "a", k, meta);
		if (k % 100 == 99) {
			cr_assert_eq(persist_batch_commit(p), 0);
		}
	}
	cr_assert_gt(persist_map_size(p), 2 << 20, "it grew past 2 MiB on the way");
	store_free(s);
	cr_assert_eq(persist_close(p), 0);

	s = persist_fixture_open(dir, 1 << 20, 1 << 26, &p);
	uint64_t data = persist_bytes(p);
	cr_assert_gt(data, 2 << 20);
	cr_assert_eq(persist_map_size(p), data, "LMDB maps exactly the data: no room left");
	uint64_t ni, nl, nd;
	cr_assert_eq(persist_load(p, s, 0, &ni, &nl, &nd), 0);
	cr_assert_eq(ni, 2000);

	uv_loop_t loop;
	struct done_log d = {.p = p};
	writer_start(&loop, p, &d);
	for (uint32_t k = 0; k < 400; k++) {
		must_add(s, "b", k, meta); /* ~500 KiB in one batch */
	}
	cr_expect_eq(persist_refusals(p), 0, "nothing refused far below --map-max");
	cr_assert_eq(persist_batch_submit(p), 1);
	run_until_done(&loop, &d, 1);
	cr_expect_eq(d.r[0].rc, 0, "%s", rs_strerror(d.r[0].rc));
	cr_expect_eq(d.r[0].map_before, data);
	cr_expect_gt(d.r[0].map_after, data, "the map grew for the batch");
	cr_expect_eq(persist_map_size(p), d.r[0].map_after);
	writer_stop(&loop, p);
	store_free(s);
	cr_assert_eq(persist_close(p), 0);

	cr_expect_eq(persist_fixture_loaded(dir, 1 << 20, 1 << 26), 2400,
			"every acknowledged registration is there");
	persist_fixture_rmrf(dir);
}

/* The store's address never changes: after a failed commit the server
 * reloads it in place from the disk. */
static int load_cb(struct store *s, uint64_t now_mono, void *ud)
{
	uint64_t ni, nl, nd;
	return persist_load(ud, s, now_mono, &ni, &nl, &nd);
}

Test(persist, reload_in_place_keeps_the_address_and_loads_the_disk)
{
	const char *dir = persist_fixture_dir("roster-persist");
	struct persist *p;
	struct store *s = persist_fixture_open(dir, 1 << 20, 1 << 24, &p);
	for (uint32_t k = 0; k < 5; k++) {
		must_add(s, "a", k, NULL);
	}
	cr_assert_eq(persist_batch_commit(p), 0);
	uint64_t rev = store_revision(s);
	const struct store *before = s;
	cr_assert_eq(store_reload(s, 0, load_cb, p), 0);
	cr_expect_eq(s, before);
	cr_expect_eq(store_reloads(s), 1);
	cr_expect_eq(store_revision(s), rev);
	const struct store_service *v = store_service_find(s, "a", 1, "tcp", 3);
	cr_assert_not_null(v);
	cr_expect_eq(v->ninstances, 5);
	/* Writes go on after it, with record numbers past the loaded ones. */
	must_add(s, "a", 5, NULL);
	cr_assert_eq(persist_batch_commit(p), 0);
	store_free(s);
	cr_assert_eq(persist_close(p), 0);
	cr_expect_eq(disk_instances(dir), 6);
	persist_fixture_rmrf(dir);
}

/* A mutation refused part-way leaves none of its writes in the batch. A
 * lease expiring under --keep-last deletes its instance whose service has
 * other fresh ones, then rewrites its service's last one as kept; at
 * --map-max that rewrite is refused, so the expiry fails whole (and is tried
 * again later): the delete it wrote first must not reach the disk with the
 * next commit, or a restart loses an instance the registry still serves. */
Test(persist, an_expiry_refused_part_way_leaves_no_write_behind)
{
	const char *dir = persist_fixture_dir("roster-persist");
	struct persist *p;
	char err[256];
	cr_assert_eq(persist_open(dir, 1 << 20, 1 << 20, &p, err, sizeof(err)), 0, "%s", err);
	struct store_limits lim;
	store_limits_default(&lim);
	lim.keep_last = true;
	struct store *s = store_new(&lim, persist_ops(), p, 0);
	cr_assert_not_null(s);
	const struct store_lease *l;
	cr_assert_eq(store_lease_open(s, 1, 9, 0, &l), 0);
	char value[3000];
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	struct store_meta meta = {"blob", value};
	/* The last instance of "b" (kept on expiry: a 3 KB rewrite), a permanent
	 * "a", then the leased "a" (first on the lease's list: deleted first). */
	struct store_registration regs[] = {
			{.service = "b",
					.protocol = "tcp",
					.host = "k.example.net",
					.port = 1,
					.meta = &meta,
					.nmeta = 1,
					.lease = 9},
			{.service = "a", .protocol = "tcp", .host = "y.example.net", .port = 1},
			{.service = "a",
					.protocol = "tcp",
					.host = "x.example.net",
					.port = 1,
					.lease = 9},
	};
	bool created;
	uint64_t rev;
	for (size_t k = 0; k < 3; k++) {
		cr_assert_eq(store_register(s, &regs[k], 0, 0, &created, &rev), 0);
	}
	cr_assert_eq(persist_batch_commit(p), 0);
	/* Small registrations into the open batch until the next one is refused:
	 * what room is left is far less than the kept rewrite needs. */
	uint32_t filled = 0;
	for (;; filled++) {
		char host[64];
		snprintf(host, sizeof(host), "f%u.example.net", filled);
		struct store_registration r = {
				.service = "f", .protocol = "tcp", .host = host, .port = 1};
		int rc = store_register(s, &r, 0, 0, &created, &rev);
		if (rc == RS_ESTORE_FULL) {
			break;
		}
		cr_assert_eq(rc, 0, "%s", rs_strerror(rc));
		cr_assert_lt(filled, 100000, "never refused");
	}
	uint32_t expired;
	cr_expect_eq(store_tick(s, 1000 + 2 * STORE_TICK_MS, &expired), RS_ESTORE_FULL);
	struct store_key x = {"a", "tcp", "x.example.net", 1};
	cr_expect_not_null(store_instance_find(s, &x), "the failed expiry changed nothing");
	cr_assert_eq(persist_batch_commit(p), 0);
	store_free(s);
	cr_assert_eq(persist_close(p), 0);

	s = persist_fixture_open(dir, 1 << 20, 1 << 20, &p);
	uint64_t ni, nl, nd;
	cr_assert_eq(persist_load(p, s, 0, &ni, &nl, &nd), 0);
	cr_expect_not_null(store_instance_find(s, &x), "deleted on disk by the refused expiry");
	cr_expect_eq(ni, filled + 3);
	cr_expect_eq(nl, 1);
	store_free(s);
	cr_assert_eq(persist_close(p), 0);
	persist_fixture_rmrf(dir);
}
