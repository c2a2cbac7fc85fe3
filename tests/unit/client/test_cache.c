#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/cache.h"
#include "client/inst.h"

static struct roster_result *result(uint64_t fetched, const char *host)
{
	struct roster_result *r = inst_result_new(1);
	const char *addrs[] = {"10.0.0.1"};
	struct roster_meta meta[] = {{"k", "v"}};
	struct roster_instance in = {.service = "db",
			.protocol = "tcp",
			.host = host,
			.port = 5432,
			.addresses = addrs,
			.n_addresses = 1,
			.metadata = meta,
			.n_metadata = 1,
			.status = ROSTER_UP,
			.expiry = ROSTER_TIMED,
			.lease = 77,
			.registered_at_ms = 1,
			.status_since_ms = 2};
	cr_assert_eq(inst_pack(&r->instances[0], &in), 0);
	r->n_instances = 1;
	r->revision = 10;
	r->fetched_at_ms = fetched;
	snprintf(r->server, sizeof(r->server), "127.0.0.1:7600");
	return r;
}

Test(cache, serves_a_stale_copy_until_max_age)
{
	struct cache c = {0};
	struct roster_result *r = result(1000000, "db1.example.net.");
	cr_assert_eq(cache_put(&c, "db", "tcp", 0, r), 0);
	roster_result_free(r);
	struct roster_result *got = NULL;
	cr_assert_eq(cache_get(&c, "db", "tcp", 0, 1000000 + 3600000, 3600000, &got), 0);
	cr_expect(got->stale);
	cr_expect_eq(got->revision, 10);
	cr_expect_str_eq(got->instances[0].host, "db1.example.net.");
	roster_result_free(got);
	/* One millisecond past max age: refused. */
	cr_expect_eq(cache_get(&c, "db", "tcp", 0, 1000000 + 3600001, 3600000, &got),
			ROSTER_ENOENT);
	/* Other keys do not match. */
	cr_expect_eq(cache_get(&c, "db", NULL, 0, 1000000, 3600000, &got), ROSTER_ENOENT);
	cr_expect_eq(cache_get(&c, "db", "tcp", 1, 1000000, 3600000, &got), ROSTER_ENOENT);
	cr_expect_eq(cache_get(&c, "web", "tcp", 0, 1000000, 3600000, &got), ROSTER_ENOENT);
	/* A copy from the near future (the clock stepped back) is served;
	 * one from far ahead is not (finding 10: it was served forever). */
	cr_expect_eq(cache_get(&c, "db", "tcp", 0, 1000000 - 60000, 1, &got), 0);
	roster_result_free(got);
	cr_expect_eq(cache_get(&c, "db", "tcp", 0, 5, 1, &got), ROSTER_ENOENT);
	cache_deinit(&c);
}

Test(cache, put_replaces_the_entry_of_a_key)
{
	struct cache c = {0};
	struct roster_result *a = result(1, "a.example.net."), *b = result(2, "b.example.net.");
	cr_assert_eq(cache_put(&c, "db", NULL, 0, a), 0);
	cr_assert_eq(cache_put(&c, "db", "", 0, b), 0); /* NULL and "" are one key */
	cr_expect_eq(c.n, 1);
	struct roster_result *got = NULL;
	cr_assert_eq(cache_get(&c, "db", NULL, 0, 2, 10, &got), 0);
	cr_expect_str_eq(got->instances[0].host, "b.example.net.");
	roster_result_free(got);
	roster_result_free(a);
	roster_result_free(b);
	cache_deinit(&c);
	cache_deinit(NULL);
}

/* A busy site moves the registry's revision at every write anywhere: an
 * answer that differs only in it is not a change to write to disk (the
 * file would be rewritten and fsync'ed at nearly every query); one whose
 * instances changed is. */
Test(cache, only_a_changed_answer_makes_the_file_dirty)
{
	struct cache c = {0};
	struct roster_result *a = result(1, "a.example.net."), *b = result(2, "a.example.net."),
			     *d = result(3, "d.example.net.");
	b->revision = a->revision + 500;
	cr_assert_eq(cache_put(&c, "db", NULL, 0, a), 0);
	c.dirty = false;
	cr_assert_eq(cache_put(&c, "db", NULL, 0, b), 0);
	cr_expect_not(c.dirty, "only the registry's revision moved");
	cr_assert_eq(cache_put(&c, "db", NULL, 0, d), 0);
	cr_expect(c.dirty, "an instance changed");
	roster_result_free(a);
	roster_result_free(b);
	roster_result_free(d);
	cache_deinit(&c);
}

Test(cache, file_roundtrip_is_atomic_and_complete)
{
	char dir[] = "/tmp/roster-cache-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/cache.json", dir);
	struct cache c = {0};
	for (int i = 0; i < 20; i++) {
		char svc[16];
		snprintf(svc, sizeof(svc), "svc%d", i);
		struct roster_result *r = result(1000 + (uint64_t)i, "db1.example.net.");
		cr_assert_eq(cache_put(&c, svc, i % 2 ? "tcp" : NULL, i % 3 == 0, r), 0);
		roster_result_free(r);
	}
	cr_assert_eq(cache_save(&c, path), 0);
	cache_deinit(&c);
	struct cache d = {0};
	cr_assert_eq(cache_load(&d, path), 0);
	cr_expect_eq(d.n, 20);
	struct roster_result *got = NULL;
	cr_assert_eq(cache_get(&d, "svc7", "tcp", 0, 1007, 1, &got), 0);
	cr_expect_eq(got->fetched_at_ms, 1007);
	cr_expect_str_eq(got->server, "127.0.0.1:7600");
	struct roster_instance *in = &got->instances[0];
	cr_expect_str_eq(in->addresses[0], "10.0.0.1");
	cr_expect_str_eq(in->metadata[0].key, "k");
	cr_expect_eq(in->lease, 77);
	cr_expect_eq(in->expiry, ROSTER_TIMED);
	cr_expect_eq(in->status, ROSTER_UP);
	cr_expect_eq(in->status_since_ms, 2);
	roster_result_free(got);
	cache_deinit(&d);
	/* Nothing but the cache file is left behind. */
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) -eq 1", dir);
	cr_expect_eq(system(cmd), 0);
	unlink(path);
	rmdir(dir);
}

Test(cache, missing_or_corrupt_files_are_reported)
{
	struct cache c = {0};
	cr_expect_eq(cache_load(&c, "/nonexistent/roster-cache.json"), ROSTER_ENOENT);
	char path[] = "/tmp/roster-cache-bad-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	const char *docs[] = {"{not json", "[]", "{\"version\":2,\"entries\":[]}",
			"{\"version\":1,\"entries\":[{\"service\":\"a\"}]}",
			"{\"version\":1,\"entries\":[{\"service\":\"a\",\"protocol\":\"\",\"all\":false,"
			"\"result\":{\"revision\":1}}]}",
			"{\"version\":1,\"entries\":{}}", "{\"version\":\"1\",\"entries\":[]}",
			"{\"version\":1,\"entries\":[{\"service\":\"a\",\"protocol\":\"\",\"all\":false,"
			"\"result\":{\"revision\":1,\"preserving\":false,\"stale\":false,"
			"\"fetched_at_ms\":5,\"server\":\"x:1\",\"instances\":{}}}]}"};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		FILE *f = fopen(path, "w");
		fputs(docs[i], f);
		fclose(f);
		cr_expect_eq(cache_load(&c, path), ROSTER_EPROTO, "%s", docs[i]);
		cache_deinit(&c);
	}
	close(fd);
	unlink(path);
	cr_expect_neq(cache_save(&c, "/nonexistent/dir/cache.json"), 0);
}

/* Files in @p dir whose name starts with @p prefix. */
static int files_like(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	int n = 0;
	for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	}
	closedir(d);
	return n;
}

/* A save that fails leaves the old file, no temporary file, and the cache
 * still dirty (it is tried again later). */
Test(cache, a_failed_save_keeps_the_old_file_and_stays_dirty)
{
	char dir[] = "/tmp/roster-cache-fail.XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/cache.json", dir);
	struct cache c = {0};
	struct roster_result *r = result(1000000, "db1.example.net.");
	cr_assert_eq(cache_put(&c, "db", "tcp", 0, r), 0);
	cr_assert_eq(cache_save(&c, path), 0);
	struct stat before;
	cr_assert_eq(stat(path, &before), 0);
	struct roster_result *r2 = result(2000000, "db2.example.net.");
	cr_assert_eq(cache_put(&c, "db", "tcp", 0, r2), 0);
	cr_assert(c.dirty);

	/* Its directory is gone. */
	char missing[PATH_MAX];
	snprintf(missing, sizeof(missing), "%s/no/cache.json", dir);
	cr_expect_eq(cache_save(&c, missing), -ENOENT);
	/* The name is too long for the temporary file. */
	char longp[4200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	cr_expect_eq(cache_save(&c, longp), -ENAMETOOLONG);
	/* The write is cut short (the file size limit, as a full disk would). */
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit rl;
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	struct rlimit small = {16, rl.rlim_max};
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
	cr_expect_eq(cache_save(&c, path), -EFBIG);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	/* The rename cannot replace a directory. */
	char asdir[PATH_MAX];
	snprintf(asdir, sizeof(asdir), "%s/sub", dir);
	cr_assert_eq(mkdir(asdir, 0755), 0);
	char inner[PATH_MAX];
	snprintf(inner, sizeof(inner), "%s/sub/x", dir);
	FILE *f = fopen(inner, "w");
	cr_assert_not_null(f);
	fclose(f);
	cr_expect_eq(cache_save(&c, asdir), -EISDIR);

	cr_expect(c.dirty, "still to be written");
	cr_expect_eq(files_like(dir, "cache.json.tmp"), 0, "no temporary file left");
	cr_expect_eq(files_like(dir, "sub.tmp"), 0);
	struct stat after;
	cr_assert_eq(stat(path, &after), 0);
	cr_expect_eq(after.st_size, before.st_size, "the old file as it was");
	struct cache back = {0};
	cr_assert_eq(cache_load(&back, path), 0);
	struct roster_result *got = NULL;
	cr_assert_eq(cache_get(&back, "db", "tcp", 0, 1000000, 3600000, &got), 0);
	cr_expect_str_eq(got->instances[0].host, "db1.example.net.");
	roster_result_free(got);
	/* Once it can, the save goes through and the cache is clean. */
	cr_expect_eq(cache_save(&c, path), 0);
	cr_expect_not(c.dirty);
	cache_deinit(&back);
	cache_deinit(&c);
	roster_result_free(r);
	roster_result_free(r2);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}
