#include <criterion/criterion.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "server/registry/persist.h"
#include "server/registry/store.h"

static char *tmpdir(void)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/roster-persist-XXXXXX");
	cr_assert_not_null(mkdtemp(path));
	return path;
}

static void rmrf(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

static struct store *open_store(const char *dir, uint64_t map, uint64_t max, struct persist **p)
{
	char err[256];
	cr_assert_eq(persist_open(dir, map, max, p, err, sizeof(err)), 0, "%s", err);
	struct store_limits l;
	store_limits_default(&l);
	struct store *s = store_new(&l, persist_ops(), *p, 0);
	cr_assert_not_null(s);
	return s;
}

Test(persist, round_trip_of_instances_leases_and_revision)
{
	char *dir = tmpdir();
	struct persist *p;
	struct store *s = open_store(dir, 1 << 20, 1 << 24, &p);
	const struct store_lease *l;
	cr_assert_eq(store_lease_open(s, 30, 0x1122334455667788ULL, 0, &l), 0);
	struct rs_addr addrs[2];
	cr_assert_eq(rs_addr_parse("10.1.2.3", &addrs[0]), 0);
	cr_assert_eq(rs_addr_parse("fd00::7", &addrs[1]), 0);
	struct store_meta meta[2] = {{"version", "1.2.3"}, {"zone", "b"}};
	struct store_registration r = {.service = "web", .protocol = "http",
		.host = "Web1.Example.Net", .port = 8080, .addrs = addrs, .naddrs = 2,
		.priority = 3, .weight = 40, .meta = meta, .nmeta = 2,
		.status = STORE_STATUS_STARTING, .lease = l->id};
	bool created;
	uint64_t rev;
	cr_assert_eq(store_register(s, &r, 0, 1700000000000ULL, &created, &rev), 0);
	struct store_registration perm = {.service = "db", .protocol = "tcp",
		.host = "db.example.net", .port = 5432};
	cr_assert_eq(store_register(s, &perm, 0, 1, &created, &rev), 0);
	cr_assert_eq(persist_batch_commit(p), 0);
	cr_expect_eq(persist_commits(p), 1, "one batch, one commit");
	store_free(s);
	cr_assert_eq(persist_close(p), 0);

	s = open_store(dir, 1 << 20, 1 << 24, &p);
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
	rmrf(dir);
}

Test(persist, writes_wait_in_one_batch_until_commit)
{
	char *dir = tmpdir();
	struct persist *p;
	struct store *s = open_store(dir, 1 << 20, 1 << 24, &p);
	cr_expect(!persist_batch_open(p));
	char host[64];
	for (int k = 0; k < 100; k++) {
		snprintf(host, sizeof(host), "h%d.example.net", k);
		struct store_registration r = {.service = "a", .protocol = "tcp", .host = host,
			.port = 1};
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
	rmrf(dir);
}

Test(persist, map_full_grows_then_refuses_and_keeps_what_was_acknowledged)
{
	char *dir = tmpdir();
	struct persist *p;
	/* 1 MiB map that may grow to 2 MiB. */
	struct store *s = open_store(dir, 1 << 20, 2 << 20, &p);
	char host[64];
	char value[1000];
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	struct store_meta meta = {"blob", value};
	int grows = 0, full = 0;
	uint32_t acked = 0;
	for (uint32_t k = 0; k < 5000 && !full; k++) {
		snprintf(host, sizeof(host), "h%u.example.net", k);
		struct store_registration r = {.service = "a", .protocol = "tcp", .host = host,
			.port = 1, .meta = &meta, .nmeta = 1};
		bool created;
		uint64_t rev;
		int rc = store_register(s, &r, 0, 0, &created, &rev);
		if (rc == RS_ESTORE_FULL) {
			int g = persist_grow(p);
			if (g == 0) {
				grows++;
				rc = store_register(s, &r, 0, 0, &created, &rev);
			} else {
				cr_expect_eq(g, RS_ESTORE_FULL);
				full = 1;
				continue;
			}
		}
		cr_assert_eq(rc, 0, "k=%u: %s", k, rs_strerror(rc));
		if (k % 50 == 49) {
			cr_assert_eq(persist_batch_commit(p), 0);
		}
		acked = k + 1;
	}
	cr_assert_eq(persist_batch_commit(p), 0);
	cr_expect_leq(grows, 1);
	cr_expect_eq(persist_map_size(p), 2 << 20, "grew to the maximum");
	cr_expect(full, "then refused");
	cr_expect_gt(acked, 500);
	/* Deletes still work when full. */
	struct store_key key = {"a", "tcp", "h0.example.net", 1};
	uint64_t rev;
	cr_expect_eq(store_deregister(s, &key, &rev), 0);
	cr_assert_eq(persist_batch_commit(p), 0);
	store_free(s);
	persist_close(p);

	s = open_store(dir, 1 << 20, 2 << 20, &p);
	uint64_t ni, nl, nd;
	cr_assert_eq(persist_load(p, s, 0, &ni, &nl, &nd), 0);
	cr_expect_eq(ni, acked - 1, "every acknowledged registration is there");
	store_free(s);
	persist_close(p);
	rmrf(dir);
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
	char *dir = tmpdir();
	struct persist *p, *q;
	struct store *s = open_store(dir, 1 << 20, 1 << 22, &p);
	char err[256] = "";
	cr_assert_eq(persist_open(dir, 1 << 20, 1 << 22, &q, err, sizeof(err)), RS_EBUSY);
	cr_assert(strstr(err, "in use by another rosterd") != NULL, "%s", err);
	cr_assert(strstr(err, dir) != NULL, "%s", err);
	store_free(s);
	cr_assert_eq(persist_close(p), 0);
	cr_assert_eq(persist_open(dir, 1 << 20, 1 << 22, &q, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(persist_close(q), 0);
	rmrf(dir);
}

/* A process that dies inside a read transaction leaves its reader slot
 * behind (catalogue 4.1); the periodic check clears it. The reader is a
 * forked child with its own environment handle, like an `mdb_stat` run. */
Test(persist, dead_readers_slots_are_cleared)
{
	char *dir = tmpdir();
	struct persist *p;
	struct store *s = open_store(dir, 1 << 20, 1 << 22, &p);
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
	rmrf(dir);
}
