/*
 * The writer meeting a full map it cannot get out of, through the real
 * LMDB under tests/faults/lmdbfault.c (preloaded): puts that keep failing
 * MAP_FULL grow the map to --map-max and then refuse the batch naming the
 * limit; a map that cannot grow (mdb_env_set_mapsize() failing) refuses
 * the batch naming the size it is stuck at and the reason. In both, what
 * was committed before is all a reopened store loads. A panic at a commit
 * refuses every later write; an open whose map cannot be set or whose
 * store marker cannot be written (sysfault.c, also
 * preloaded) is refused naming the data dir, and the next open works.
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "common/error.h"
#include "persist_fixture.h"
#include "server/registry/persist.h"
#include "server/registry/store.h"

static const char *g_dir;
static char g_marker[96];
static uv_loop_t g_loop;
static struct persist_result g_last;
static char g_why[512];
static int g_results;

static void done_cb(const struct persist_result *r, void *ud)
{
	(void)ud;
	g_last = *r;
	snprintf(g_why, sizeof(g_why), "%s", r->why != NULL ? r->why : "");
	g_results++;
}

/* Calls of @p call fail with @p error while the marker exists. */
static void fail_while_marked(const char *call, const char *error)
{
	g_dir = persist_fixture_dir("roster-pfault");
	snprintf(g_marker, sizeof(g_marker), "%s.fail", g_dir);
	cr_assert_eq(setenv("LMDBFAULT_CALL", call, 1), 0);
	cr_assert_eq(setenv("LMDBFAULT_ERROR", error, 1), 0);
	cr_assert_eq(setenv("LMDBFAULT_WHILE", g_marker, 1), 0);
	cr_assert_eq(uv_loop_init(&g_loop), 0);
}

static void marker(bool on)
{
	if (on) {
		FILE *f = fopen(g_marker, "w");
		cr_assert_not_null(f);
		fclose(f);
	} else {
		cr_assert_eq(unlink(g_marker), 0);
	}
}

static struct store *open_started(uint64_t map, uint64_t max, struct persist **p)
{
	struct store *s = persist_fixture_open(g_dir, map, max, p);
	cr_assert_eq(persist_start(*p, &g_loop, done_cb, NULL), 0);
	return s;
}

static void close_stopped(struct store *s, struct persist *p)
{
	persist_stop(p);
	uv_run(&g_loop, UV_RUN_NOWAIT);
	store_free(s);
	persist_close(p);
}

/* Instances a fresh open of the store loads (no fault armed). */
static uint64_t loaded_instances(void)
{
	return persist_fixture_loaded(g_dir, 1 << 20, 64 << 20);
}

/* h<@p k>.example.net with 1 KB of metadata. */
static int add(struct store *s, uint32_t k)
{
	return persist_fixture_add(s, "a", k, persist_fixture_blob());
}

static void cleanup(void)
{
	persist_fixture_rmrf(g_dir);
	uv_loop_close(&g_loop);
}

Test(persist_faults, a_map_full_that_stays_grows_to_the_max_then_refuses_naming_it)
{
	fail_while_marked("put", "MAP_FULL");
	struct persist *p;
	struct store *s = open_started(1 << 20, 4 << 20, &p);
	cr_assert_eq(add(s, 0), 0);
	cr_assert_eq(persist_batch_commit(p), 0);
	cr_expect_eq(g_last.rc, 0);
	marker(true);
	cr_assert_eq(add(s, 1), 0, "applied in memory, its commit pending");
	cr_expect_eq(persist_batch_commit(p), RS_ESTORE_FULL);
	marker(false);
	cr_expect_eq(g_last.rc, RS_ESTORE_FULL);
	cr_expect_eq(persist_map_size(p), 4 << 20, "grown to --map-max for the retries");
	cr_expect_eq(g_last.map_before, 1 << 20);
	cr_expect_eq(g_last.map_after, 4 << 20);
	cr_expect_not_null(strstr(g_why, "the map is at --map-max, 4 MiB"), "%s", g_why);
	close_stopped(s, p);
	cr_expect_eq(loaded_instances(), 1, "the committed one, not the refused one");
	cleanup();
}

Test(persist_faults, a_map_that_cannot_grow_refuses_the_batch_naming_why)
{
	fail_while_marked("mapsize", "12"); /* ENOMEM */
	struct persist *p;
	struct store *s = open_started(1 << 20, 16 << 20, &p);
	marker(true);
	uint32_t committed = 0;
	int rc = 0;
	int before = 0;
	for (uint32_t k = 0; k < 4000 && rc == 0; k++) {
		cr_assert_eq(add(s, k), 0, "k=%u", k);
		if (k % 20 == 19) {
			before = g_results;
			rc = persist_batch_commit(p);
			if (rc == 0) {
				committed = k + 1;
			}
		}
	}
	marker(false);
	cr_assert_eq(rc, RS_ESTORE_FULL, "the map never filled");
	cr_expect_gt(g_results, before, "the callback ran");
	cr_expect_eq(persist_map_size(p), 1 << 20, "the map stayed as it was");
	cr_expect_not_null(strstr(g_why, "the map cannot grow past 1 MiB (--map-max is 16 MiB)"),
			"%s", g_why);
	cr_expect_not_null(strstr(g_why, "free memory or disk space"), "%s", g_why);
	cr_expect_gt(committed, 100);
	close_stopped(s, p);
	cr_expect_eq(loaded_instances(), committed, "every committed write, nothing else");
	cleanup();
}

Test(persist_faults, after_a_panic_every_write_is_refused_and_none_reaches_the_disk)
{
	fail_while_marked("commit", "PANIC");
	struct persist *p;
	struct store *s = open_started(1 << 20, 4 << 20, &p);
	cr_assert_eq(add(s, 0), 0);
	cr_assert_eq(persist_batch_commit(p), 0);
	marker(true);
	cr_assert_eq(add(s, 1), 0);
	cr_expect_eq(persist_batch_commit(p), RS_ESTORE_PANIC);
	marker(false);
	cr_expect_eq(g_last.rc, RS_ESTORE_PANIC);
	/* The environment is unusable: no later write is taken. */
	cr_expect_eq(add(s, 2), RS_ESTORE_PANIC);
	cr_expect_eq(persist_batch_commit(p), 0, "nothing pending");
	uint64_t commits = persist_commits(p);
	cr_expect_eq(persist_batch_submit(p), 0);
	cr_expect_eq(persist_commits(p), commits);
	close_stopped(s, p);
	cr_expect_eq(loaded_instances(), 1, "only what was committed before the panic");
	cleanup();
}

Test(persist_faults, an_open_whose_map_cannot_be_set_is_refused_naming_the_dir)
{
	fail_while_marked("mapsize", "EIO");
	marker(true);
	struct persist *p = NULL;
	char err[512] = "";
	cr_expect_lt(persist_open(g_dir, 1 << 20, 4 << 20, &p, err, sizeof(err)), 0);
	cr_expect_null(p);
	cr_expect_not_null(strstr(err, g_dir), "%s", err);
	cr_expect_not_null(strstr(err, "cannot open the store"), "%s", err);
	marker(false);
	cr_expect_eq(loaded_instances(), 0, "the next open works");
	cleanup();
}

typedef void (*sysfault_set_fn)(const char *calls, const char *path, unsigned long nth, int err);

Test(persist_faults, a_store_marker_that_cannot_be_written_refuses_the_open)
{
	sysfault_set_fn fault_set = (sysfault_set_fn)dlsym(RTLD_DEFAULT, "sysfault_set");
	cr_assert_not_null(fault_set, "run under tests/faults/sysfault.c (LD_PRELOAD)");
	fail_while_marked("mapsize", "EIO"); /* not armed: no marker */
	static const char *const calls[] = {"open", "write", "fsync"};
	for (size_t k = 0; k < sizeof(calls) / sizeof(calls[0]); k++) {
		fault_set(calls[k], "roster-store", 0, ENOSPC);
		struct persist *p = NULL;
		char err[512] = "";
		int rc = persist_open(g_dir, 1 << 20, 4 << 20, &p, err, sizeof(err));
		fault_set("", NULL, 0, 0);
		cr_expect_lt(rc, 0, "%s", calls[k]);
		cr_expect_null(p);
		cr_expect_not_null(strstr(err, "cannot write the store marker"), "%s: %s", calls[k],
				err);
		cr_expect_not_null(strstr(err, g_dir), "%s", err);
		/* No marker half written: the next open writes it whole. */
		char path[160];
		snprintf(path, sizeof(path), "%s/roster-store", g_dir);
		unlink(path);
	}
	cr_expect_eq(loaded_instances(), 0, "the next open works");
	char path[160];
	snprintf(path, sizeof(path), "%s/roster-store", g_dir);
	cr_expect_eq(access(path, F_OK), 0, "and writes the marker");
	cleanup();
}
