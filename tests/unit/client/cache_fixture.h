/*
 * tests/unit/client/cache_fixture.h - the answers and files of the cache
 * file's tests (test_cachefile.c, test_cachefault.c): one instance of
 * db/tcp on port 5432 with lease 77, as the registry at 127.0.0.1:7600
 * answered it, put into a cache; and an empty file to save the cache to.
 */
#pragma once

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "client/cache.h"
#include "client/inst.h"

/* db/tcp on @p host, port 5432, up, timed, lease 77. */
static inline struct roster_instance cache_fixture_instance(const char *host)
{
	return (struct roster_instance){.service = "db",
			.protocol = "tcp",
			.host = host,
			.port = 5432,
			.status = ROSTER_UP,
			.expiry = ROSTER_TIMED,
			.lease = 77};
}

/* An answer of revision @p revision fetched at @p fetched ms from
 * 127.0.0.1:7600: cache_fixture_instance() of each of the @p n @p hosts.
 * The caller frees it. */
static inline struct roster_result *cache_fixture_result_of(
		uint64_t fetched, uint64_t revision, const char *const *hosts, size_t n)
{
	struct roster_result *r = inst_result_new(n);
	cr_assert_not_null(r);
	for (size_t k = 0; k < n; k++) {
		struct roster_instance in = cache_fixture_instance(hosts[k]);
		cr_assert_eq(inst_pack(&r->instances[k], &in), 0);
	}
	r->n_instances = n;
	r->revision = revision;
	r->fetched_at_ms = fetched;
	snprintf(r->server, sizeof(r->server), "127.0.0.1:7600");
	return r;
}

/* The same with one instance, of @p host. */
static inline struct roster_result *cache_fixture_result(
		uint64_t fetched, uint64_t revision, const char *host)
{
	return cache_fixture_result_of(fetched, revision, &host, 1);
}

/* cache_fixture_result() put into @p c as the answer for db/tcp. */
static inline void cache_fixture_put(
		struct cache *c, uint64_t fetched, uint64_t revision, const char *host)
{
	struct roster_result *r = cache_fixture_result(fetched, revision, host);
	cr_assert_eq(cache_put(c, "db", "tcp", 0, r), 0);
	roster_result_free(r);
}

/* An empty file made from @p path, a mkstemp(3) template ending in
 * XXXXXX, which it names then. The caller unlinks it. */
static inline void cache_fixture_file(char *path)
{
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
}
