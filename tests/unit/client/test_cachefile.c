/* The cache file is written only when it would say something new, and a
 * copy dated in the future is not served forever. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache_fixture.h"
#include "client/cache.h"
#include "client/inst.h"

static ino_t inode_of(const char *path)
{
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	return st.st_ino;
}

/* Revision 11 of db2.example.net. fetched at @p fetched, from another
 * server: 127.0.0.1:7601. */
static void put_from_7601(struct cache *c, uint64_t fetched)
{
	struct roster_result *r = cache_fixture_result(fetched, 11, "db2.example.net.");
	snprintf(r->server, sizeof(r->server), "127.0.0.1:7601");
	cr_assert_eq(cache_put(c, "db", "tcp", 0, r), 0);
	roster_result_free(r);
}

Test(cachefile, an_unchanged_answer_is_not_written_again)
{
	char path[] = "/tmp/roster-cachefile-XXXXXX";
	cache_fixture_file(path);
	struct cache c = {0};
	cache_fixture_put(&c, 1000000, 10, "db1.example.net.");
	cr_assert(cache_save_due(&c, 60000), "a new entry must be written");
	cr_assert_eq(cache_save(&c, path), 0);
	ino_t first = inode_of(path);
	cr_expect_not(cache_save_due(&c, 60000));

	/* Fetched again a second later, same content: nothing to write. */
	cache_fixture_put(&c, 1001000, 10, "db1.example.net.");
	cr_expect_not(cache_save_due(&c, 60000));

	/* A new revision alone (a write elsewhere in the site) is not a
	 * change; other instances or another server are. */
	cache_fixture_put(&c, 1002000, 11, "db1.example.net.");
	cr_expect_not(cache_save_due(&c, 60000), "only the registry's revision moved");
	cache_fixture_put(&c, 1003000, 11, "db2.example.net.");
	cr_expect(cache_save_due(&c, 60000), "instances changed");
	cr_assert_eq(cache_save(&c, path), 0);
	cr_expect_neq(inode_of(path), first, "the file was replaced");
	put_from_7601(&c, 1004000);
	cr_expect(cache_save_due(&c, 60000), "server changed");
	cr_assert_eq(cache_save(&c, path), 0);

	/* Unchanged, but the file's copy lags by more than the refresh
	 * interval: written, so a later process can still serve it. */
	put_from_7601(&c, 1004000 + 60001);
	cr_expect(cache_save_due(&c, 60000));
	cache_deinit(&c);

	/* Loaded from the file: in the file already, nothing to write. */
	struct cache l = {0};
	cr_assert_eq(cache_load(&l, path), 0);
	cr_expect_not(cache_save_due(&l, 60000));
	cache_deinit(&l);
	unlink(path);
}

Test(cachefile, a_copy_dated_far_in_the_future_is_not_served)
{
	struct cache c = {0};
	uint64_t now = 1700000000000ull;
	cache_fixture_put(&c, 99999999999999ull, 10, "db1.example.net."); /* year 5138 */
	struct roster_result *got = NULL;
	cr_expect_eq(cache_get(&c, "db", "tcp", 0, now, 3600000, &got), ROSTER_ENOENT);
	/* within the skew: a clock stepped back a little */
	cache_fixture_put(&c, now + CACHE_SKEW_MS, 10, "db1.example.net.");
	cr_assert_eq(cache_get(&c, "db", "tcp", 0, now, 3600000, &got), 0);
	cr_expect(got->stale);
	roster_result_free(got);
	cache_fixture_put(&c, now + CACHE_SKEW_MS + 1, 10, "db1.example.net.");
	cr_expect_eq(cache_get(&c, "db", "tcp", 0, now, 3600000, &got), ROSTER_ENOENT);
	cache_deinit(&c);
}

Test(cachefile, a_file_copy_dated_in_the_future_is_replaced)
{
	char path[] = "/tmp/roster-cachefile-XXXXXX";
	cache_fixture_file(path);
	uint64_t now = 1700000000000ull;
	struct cache c = {0};
	cache_fixture_put(&c, now + 3600000, 10, "db1.example.net."); /* the clock was 1 h ahead */
	cr_assert_eq(cache_save(&c, path), 0);
	cache_deinit(&c);
	/* The clock corrected, a new process answers the same content live. */
	struct cache l = {0};
	cr_assert_eq(cache_load(&l, path), 0);
	cache_fixture_put(&l, now, 10, "db1.example.net.");
	cr_expect(cache_save_due(&l, 60000), "the file's copy, 1 h ahead, is served by nobody");
	cr_assert_eq(cache_save(&l, path), 0);
	cache_deinit(&l);
	/* A later process, during an outage, has that copy to serve. */
	struct cache m = {0};
	cr_assert_eq(cache_load(&m, path), 0);
	struct roster_result *got = NULL;
	cr_assert_eq(cache_get(&m, "db", "tcp", 0, now + 180000, 3600000, &got), 0);
	cr_expect(got->stale);
	roster_result_free(got);
	cache_deinit(&m);
	unlink(path);
}

Test(cachefile, another_instance_count_or_preservation_is_a_change)
{
	char path[] = "/tmp/roster-cachefile-XXXXXX";
	cache_fixture_file(path);
	struct cache c = {0};
	cache_fixture_put(&c, 1000000, 10, "db1.example.net.");
	cr_assert_eq(cache_save(&c, path), 0);
	/* The same revision with a second instance (a registry that lost a
	 * write and got it back): a change. */
	const char *const two[] = {"db1.example.net.", "db2.example.net."};
	struct roster_result *r = cache_fixture_result_of(1001000, 10, two, 2);
	cr_assert_eq(cache_put(&c, "db", "tcp", 0, r), 0);
	roster_result_free(r);
	cr_expect(cache_save_due(&c, 60000), "instance count changed");
	cr_assert_eq(cache_save(&c, path), 0);
	/* One instance again, the registry now preserving: a change too. */
	r = cache_fixture_result(1002000, 10, "db1.example.net.");
	cr_assert_eq(cache_put(&c, "db", "tcp", 0, r), 0);
	cr_assert_eq(cache_save(&c, path), 0);
	r->preserving = true;
	r->fetched_at_ms = 1003000;
	cr_assert_eq(cache_put(&c, "db", "tcp", 0, r), 0);
	roster_result_free(r);
	cr_expect(cache_save_due(&c, 60000), "self-preservation changed");
	cache_deinit(&c);
	unlink(path);
}

Test(cachefile, a_file_copy_a_little_ahead_is_kept)
{
	char path[] = "/tmp/roster-cachefile-XXXXXX";
	cache_fixture_file(path);
	uint64_t now = 1700000000000ull;
	struct cache c = {0};
	cache_fixture_put(&c, now + 1000, 10, "db1.example.net."); /* a clock 1 s ahead wrote it */
	cr_assert_eq(cache_save(&c, path), 0);
	cache_deinit(&c);
	struct cache l = {0};
	cr_assert_eq(cache_load(&l, path), 0);
	cache_fixture_put(&l, now, 10, "db1.example.net.");
	cr_expect_not(cache_save_due(&l, 60000), "1 s ahead is within the refresh interval");
	cache_fixture_put(&l, now + 30000, 10, "db1.example.net.");
	cr_expect_not(cache_save_due(&l, 60000), "29 s behind is too");
	cache_deinit(&l);
	unlink(path);
}
