/*
 * The cache file when the disk fails under it (tests/faults/clientfault.h:
 * fsync(), close() or write() of the temporary file fails): the save is refused with
 * the errno, the temporary file is removed, the file keeps its last good
 * copy, the entries stay due, and the next save that works writes them.
 * roster_client_free()'s last save failing the same way leaves the file as
 * it was.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache_fixture.h"
#include "client/cache.h"
#include "client/core.h"
#include "client/inst.h"
#include "clientfault.h"

/* Revision @p revision, instance db<revision>.example.net., fetched at
 * 1000000 + @p revision. */
static void put(struct cache *c, uint64_t revision)
{
	/* A host per revision: a revision alone is not a change to write. */
	char host[64];
	snprintf(host, sizeof(host), "db%llu.example.net.", (unsigned long long)revision);
	cache_fixture_put(c, 1000000 + revision, revision, host);
}

/* The revision the file holds, as a new process would load it. */
static uint64_t file_revision(const char *path)
{
	struct cache l = {0};
	cr_assert_eq(cache_load(&l, path), 0);
	struct roster_result *got = NULL;
	cr_assert_eq(cache_get(&l, "db", "tcp", 0, 1000000, 3600000, &got), 0);
	uint64_t rev = got->revision;
	roster_result_free(got);
	cache_deinit(&l);
	return rev;
}

static size_t temporaries(const char *path)
{
	char pattern[256];
	snprintf(pattern, sizeof(pattern), "%s.tmp.*", path);
	glob_t g;
	size_t n = glob(pattern, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
	globfree(&g);
	return n;
}

/* @p want: what cache_save() returns (-err for a failed call). */
static void failed_save_keeps_the_last_good_copy(enum clientfault_call call, int err, int want)
{
	char path[] = "/tmp/roster-cachefault-XXXXXX";
	cache_fixture_file(path);
	struct cache c = {0};
	put(&c, 10);
	cr_assert_eq(cache_save(&c, path), 0);
	put(&c, 11);
	cr_assert(cache_save_due(&c, 60000));
	clientfault_arm(call, ".tmp.", err);
	cr_expect_eq(cache_save(&c, path), want);
	cr_expect(clientfault_struck(), "the fault struck the temporary file");
	cr_expect_eq(temporaries(path), 0, "the temporary file was removed");
	cr_expect_eq(file_revision(path), 10, "the file keeps its last good copy");
	cr_expect(cache_save_due(&c, 60000), "still to be written");
	cr_assert_eq(cache_save(&c, path), 0, "the next save works");
	cr_expect_eq(file_revision(path), 11);
	cr_expect_not(cache_save_due(&c, 60000));
	cache_deinit(&c);
	unlink(path);
}

static void a_failed_save_keeps_the_last_good_copy(enum clientfault_call call, int err)
{
	failed_save_keeps_the_last_good_copy(call, err, -err);
}

Test(cachefault, fsync_failing_refuses_the_save)
{
	a_failed_save_keeps_the_last_good_copy(CLIENTFAULT_FSYNC, EIO);
}

Test(cachefault, close_failing_refuses_the_save)
{
	/* NFS reports a failed write-back at close(). */
	a_failed_save_keeps_the_last_good_copy(CLIENTFAULT_CLOSE, ENOSPC);
}

Test(cachefault, the_last_save_at_free_failing_leaves_the_file_as_it_was)
{
	char path[] = "/tmp/roster-cachefault-XXXXXX";
	cache_fixture_file(path);
	struct cache c = {0};
	put(&c, 10);
	cr_assert_eq(cache_save(&c, path), 0);
	cache_deinit(&c);
	struct roster_config cfg = {.cache_path = path};
	struct roster_client *cl = NULL;
	cr_assert_eq(roster_client_new(&cfg, &cl), 0);
	/* A newer answer, not yet written (its save failed, say). */
	put(cl->cache, 12);
	cr_assert(cl->cache->dirty);
	clientfault_arm(CLIENTFAULT_FSYNC, ".tmp.", EIO);
	roster_client_free(cl);
	cr_expect(clientfault_struck(), "free tried to write it once more");
	cr_expect_eq(file_revision(path), 10);
	cr_expect_eq(temporaries(path), 0);
	/* Without the fault, free writes it. */
	cr_assert_eq(roster_client_new(&cfg, &cl), 0);
	put(cl->cache, 12);
	roster_client_free(cl);
	cr_expect_eq(file_revision(path), 12);
	unlink(path);
}

Test(cachefault, write_failing_refuses_the_save)
{
	a_failed_save_keeps_the_last_good_copy(CLIENTFAULT_WRITE, ENOSPC);
}

Test(cachefault, a_write_that_writes_nothing_is_an_io_error)
{
	/* write() returning 0 for a count above 0: no progress, no errno. */
	failed_save_keeps_the_last_good_copy(CLIENTFAULT_WRITE, 0, -EIO);
}

Test(cachefault, an_interrupted_write_is_made_again)
{
	char path[] = "/tmp/roster-cachefault-XXXXXX";
	cache_fixture_file(path);
	struct cache c = {0};
	put(&c, 10);
	clientfault_arm(CLIENTFAULT_WRITE, ".tmp.", EINTR);
	cr_expect_eq(cache_save(&c, path), 0);
	cr_expect(clientfault_struck(), "the write was interrupted once");
	cr_expect_eq(file_revision(path), 10, "and written whole after");
	cr_expect_not(cache_save_due(&c, 60000));
	cr_expect_eq(temporaries(path), 0);
	cache_deinit(&c);
	unlink(path);
}
