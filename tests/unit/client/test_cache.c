#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
			"\"result\":{\"revision\":1}}]}"};
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
