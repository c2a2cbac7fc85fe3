/* The cache file is written only when it would say something new, and a
 * copy dated in the future is not served forever. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/cache.h"
#include "client/inst.h"

static struct roster_result *result(uint64_t fetched, uint64_t revision, const char *host)
{
	struct roster_result *r = inst_result_new(1);
	struct roster_instance in = {.service = "db",
			.protocol = "tcp",
			.host = host,
			.port = 5432,
			.status = ROSTER_UP,
			.expiry = ROSTER_TIMED,
			.lease = 77};
	cr_assert_eq(inst_pack(&r->instances[0], &in), 0);
	r->n_instances = 1;
	r->revision = revision;
	r->fetched_at_ms = fetched;
	snprintf(r->server, sizeof(r->server), "127.0.0.1:7600");
	return r;
}

static void put(struct cache *c, uint64_t fetched, uint64_t revision, const char *host)
{
	struct roster_result *r = result(fetched, revision, host);
	cr_assert_eq(cache_put(c, "db", "tcp", 0, r), 0);
	roster_result_free(r);
}

static ino_t inode_of(const char *path)
{
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	return st.st_ino;
}

Test(cachefile, an_unchanged_answer_is_not_written_again)
{
	char path[] = "/tmp/roster-cachefile-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	struct cache c = {0};
	put(&c, 1000000, 10, "db1.example.net.");
	cr_assert(cache_save_due(&c, 60000), "a new entry must be written");
	cr_assert_eq(cache_save(&c, path), 0);
	ino_t first = inode_of(path);
	cr_expect_not(cache_save_due(&c, 60000));

	/* Fetched again a second later, same content: nothing to write. */
	put(&c, 1001000, 10, "db1.example.net.");
	cr_expect_not(cache_save_due(&c, 60000));

	/* A new revision, another server, other instances: each is a change. */
	put(&c, 1002000, 11, "db1.example.net.");
	cr_expect(cache_save_due(&c, 60000), "revision changed");
	cr_assert_eq(cache_save(&c, path), 0);
	cr_expect_neq(inode_of(path), first, "the file was replaced");
	put(&c, 1003000, 11, "db2.example.net.");
	cr_expect(cache_save_due(&c, 60000), "instances changed");
	cr_assert_eq(cache_save(&c, path), 0);
	struct roster_result *r = result(1004000, 11, "db2.example.net.");
	snprintf(r->server, sizeof(r->server), "127.0.0.1:7601");
	cr_assert_eq(cache_put(&c, "db", "tcp", 0, r), 0);
	roster_result_free(r);
	cr_expect(cache_save_due(&c, 60000), "server changed");
	cr_assert_eq(cache_save(&c, path), 0);

	/* Unchanged, but the file's copy lags by more than the refresh
	 * interval: written, so a later process can still serve it. */
	r = result(1004000 + 60001, 11, "db2.example.net.");
	snprintf(r->server, sizeof(r->server), "127.0.0.1:7601");
	cr_assert_eq(cache_put(&c, "db", "tcp", 0, r), 0);
	roster_result_free(r);
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
	put(&c, 99999999999999ull, 10, "db1.example.net."); /* year 5138 */
	struct roster_result *got = NULL;
	cr_expect_eq(cache_get(&c, "db", "tcp", 0, now, 3600000, &got), ROSTER_ENOENT);
	/* within the skew: a clock stepped back a little */
	put(&c, now + CACHE_SKEW_MS, 10, "db1.example.net.");
	cr_assert_eq(cache_get(&c, "db", "tcp", 0, now, 3600000, &got), 0);
	cr_expect(got->stale);
	roster_result_free(got);
	put(&c, now + CACHE_SKEW_MS + 1, 10, "db1.example.net.");
	cr_expect_eq(cache_get(&c, "db", "tcp", 0, now, 3600000, &got), ROSTER_ENOENT);
	cache_deinit(&c);
}

Test(cachefile, a_file_copy_dated_in_the_future_is_replaced)
{
	char path[] = "/tmp/roster-cachefile-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	uint64_t now = 1700000000000ull;
	struct cache c = {0};
	put(&c, now + 3600000, 10, "db1.example.net."); /* the clock was 1 h ahead */
	cr_assert_eq(cache_save(&c, path), 0);
	cache_deinit(&c);
	/* The clock corrected, a new process answers the same content live. */
	struct cache l = {0};
	cr_assert_eq(cache_load(&l, path), 0);
	put(&l, now, 10, "db1.example.net.");
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
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	struct cache c = {0};
	put(&c, 1000000, 10, "db1.example.net.");
	cr_assert_eq(cache_save(&c, path), 0);
	/* The same revision with a second instance (a registry that lost a
	 * write and got it back): a change. */
	struct roster_result *r = inst_result_new(2);
	struct roster_instance in = {.service = "db",
			.protocol = "tcp",
			.host = "db1.example.net.",
			.port = 5432,
			.status = ROSTER_UP,
			.expiry = ROSTER_TIMED,
			.lease = 77};
	cr_assert_eq(inst_pack(&r->instances[0], &in), 0);
	in.host = "db2.example.net.";
	cr_assert_eq(inst_pack(&r->instances[1], &in), 0);
	r->n_instances = 2;
	r->revision = 10;
	r->fetched_at_ms = 1001000;
	snprintf(r->server, sizeof(r->server), "127.0.0.1:7600");
	cr_assert_eq(cache_put(&c, "db", "tcp", 0, r), 0);
	roster_result_free(r);
	cr_expect(cache_save_due(&c, 60000), "instance count changed");
	cr_assert_eq(cache_save(&c, path), 0);
	/* One instance again, the registry now preserving: a change too. */
	r = result(1002000, 10, "db1.example.net.");
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
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	uint64_t now = 1700000000000ull;
	struct cache c = {0};
	put(&c, now + 1000, 10, "db1.example.net."); /* a clock 1 s ahead wrote it */
	cr_assert_eq(cache_save(&c, path), 0);
	cache_deinit(&c);
	struct cache l = {0};
	cr_assert_eq(cache_load(&l, path), 0);
	put(&l, now, 10, "db1.example.net.");
	cr_expect_not(cache_save_due(&l, 60000), "1 s ahead is within the refresh interval");
	put(&l, now + 30000, 10, "db1.example.net.");
	cr_expect_not(cache_save_due(&l, 60000), "29 s behind is too");
	cache_deinit(&l);
	unlink(path);
}
