/* libroster without a registry, under allocation failures
 * (tests/faults/allocfail.h): roster_client_new(), the wanted set
 * (roster_endpoint_add() before the engine runs), watches, and the
 * last-known-good cache (put, get, load). Each failure must give
 * ROSTER_ENOMEM with nothing half done, or, where only the cache could not
 * be read, a working client that starts cold. Also the public calls' bad
 * input, refused before anything is sent. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allocfail.h"
#include "client/cache.h"
#include "client/inst.h"
#include "common/clock.h"
#include "roster/client.h"

/* A port nothing listens on: every exchange is refused at once. */
static const char *const dead_servers[] = {"127.0.0.1:1", "[::1]:1", "127.0.0.1:2"};

static struct roster_result *result(uint64_t fetched, const char *host)
{
	struct roster_result *r = inst_result_new(1);
	cr_assert_not_null(r);
	const char *addrs[] = {"10.0.0.1", "2001:db8::1"};
	struct roster_meta meta[] = {{"k", "v"}, {"zone", "b"}};
	struct roster_instance in = {.service = "db",
			.protocol = "tcp",
			.host = host,
			.port = 5432,
			.addresses = addrs,
			.n_addresses = 2,
			.metadata = meta,
			.n_metadata = 2,
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

static char cache_path[64];

/* A cache file with two entries, fetched now. */
static void write_cache_file(void)
{
	strcpy(cache_path, "/tmp/test_client_nomem_XXXXXX");
	int fd = mkstemp(cache_path);
	cr_assert_geq(fd, 0);
	close(fd);
	struct cache c = {0};
	struct roster_result *r = result(rs_clock_wall_ms(), "db1.example.net.");
	cr_assert_eq(cache_put(&c, "db", "tcp", 0, r), 0);
	cr_assert_eq(cache_put(&c, "db", NULL, 1, r), 0);
	roster_result_free(r);
	cr_assert_eq(cache_save(&c, cache_path), 0);
	cache_deinit(&c);
}

static void remove_cache_file(void)
{
	if (cache_path[0] != '\0') {
		unlink(cache_path);
	}
}

Test(client_nomem, client_new_fails_whole_or_starts_cold, .fini = remove_cache_file)
{
	write_cache_file();
	struct roster_config cfg = {
			.servers = dead_servers, .n_servers = 3, .cache_path = cache_path};
	int refused = 0, cold = 0;
	for (size_t k = 1;; k++) {
		struct roster_client *c = (struct roster_client *)&cfg; /* must stay untouched */
		allocfail_arm(k);
		int rc = roster_client_new(&cfg, &c);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (rc == ROSTER_ENOMEM) {
			cr_assert(struck);
			cr_assert_eq((void *)c, (void *)&cfg, "allocation %zu: out set on failure",
					k);
			cr_expect(strstr(roster_errmsg(), "out of memory") != NULL, "%s",
					roster_errmsg());
			refused++;
			continue;
		}
		cr_assert_eq(rc, 0, "allocation %zu: %s", k, roster_strerror(rc));
		/* No registry answers: the query is served from the cache, or,
		 * when the cache could not be loaded, fails as unreachable. A
		 * copy is never partial. */
		struct roster_result *r = NULL;
		rc = roster_query(c, "db", "tcp", 0, &r);
		if (struck) {
			cr_assert(rc == 0 || rc == ROSTER_EUNREACHABLE, "allocation %zu: %s", k,
					roster_strerror(rc));
			cold += rc == ROSTER_EUNREACHABLE;
		} else {
			cr_assert_eq(rc, 0, "%s", roster_errmsg());
		}
		if (rc == 0) {
			cr_expect(r->stale);
			cr_assert_eq(r->n_instances, 1);
			cr_expect_str_eq(r->instances[0].host, "db1.example.net.");
			cr_expect_eq(r->instances[0].n_addresses, 2);
			cr_expect_eq(r->instances[0].n_metadata, 2);
			roster_result_free(r);
		}
		roster_client_free(c);
		if (!struck) {
			break;
		}
	}
	cr_expect_geq(refused, 5, "the client, its tables, each server name, the cache path");
	cr_expect_geq(cold, 1, "a cache that could not be loaded starts cold");
}

static struct roster_instance endpoint(const char *host)
{
	static const char *const addrs[] = {"10.1.0.1", "10.1.0.2", "fd00::1"};
	static const struct roster_meta meta[] = {{"version", "2.1"}, {"az", "b"}};
	struct roster_instance ep = {.service = "api",
			.protocol = "tcp",
			.host = host,
			.port = 8443,
			.addresses = addrs,
			.n_addresses = 3,
			.metadata = meta,
			.n_metadata = 2,
			.priority = 3,
			.weight = 7,
			.status = ROSTER_STARTING};
	return ep;
}

Test(client_nomem, an_endpoint_is_added_whole_or_not_at_all)
{
	struct roster_config cfg = {.servers = dead_servers, .n_servers = 1};
	struct roster_client *c = NULL;
	cr_assert_eq(roster_client_new(&cfg, &c), 0);
	int refused = 0;
	for (int h = 0; h < 20; h++) {
		char host[32];
		snprintf(host, sizeof(host), "node%d.example", h);
		struct roster_instance ep = endpoint(host);
		for (size_t k = 1;; k++) {
			allocfail_arm(k);
			int rc = roster_endpoint_add(c, &ep);
			bool struck = allocfail_struck();
			allocfail_disarm();
			if (rc == ROSTER_ENOMEM) {
				refused++;
				cr_assert(struck);
				cr_expect(strstr(roster_errmsg(), host) != NULL, "%s",
						roster_errmsg());
				/* Not in the wanted set: its status cannot be set. */
				cr_assert_eq(roster_endpoint_set_status(c, &ep, ROSTER_UP),
						ROSTER_ENOENT, "allocation %zu", k);
				continue;
			}
			cr_assert_eq(rc, 0, "%s", roster_errmsg());
			cr_assert_not(struck);
			break;
		}
		cr_assert_eq(roster_endpoint_set_status(c, &ep, ROSTER_UP), 0);
	}
	cr_expect_geq(refused, 20 * 3, "the copy's strings and arrays, the set's growth");
	/* Updating one that is there: a failure keeps the old copy. */
	struct roster_instance ep = endpoint("node0.example");
	ep.priority = 9;
	for (size_t k = 1;; k++) {
		allocfail_arm(k);
		int rc = roster_endpoint_add(c, &ep);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (!struck) {
			cr_assert_eq(rc, 0);
			break;
		}
		cr_assert_eq(rc, ROSTER_ENOMEM);
		cr_assert_eq(roster_endpoint_set_status(c, &ep, ROSTER_DOWN), 0, "still there");
	}
	cr_assert_eq(roster_endpoint_remove(c, &ep), 0);
	cr_expect_eq(roster_endpoint_set_status(c, &ep, ROSTER_UP), ROSTER_ENOENT);
	cr_expect_eq(roster_endpoint_remove(c, &ep), ROSTER_ENOENT);
	roster_client_free(c);
}

static void watch_cb(const struct roster_watch_event *ev, void *ud)
{
	(void)ev;
	(void)ud;
	cr_assert_fail("no event without an engine");
}

Test(client_nomem, a_watch_is_started_whole_or_not_at_all)
{
	struct roster_client *c = NULL;
	cr_assert_eq(roster_client_new(NULL, &c), 0);
	int refused = 0;
	for (size_t k = 1;; k++) {
		struct roster_watch *w = (struct roster_watch *)c;
		allocfail_arm(k);
		int rc = roster_watch_start(c, "api", watch_cb, NULL, &w);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (!struck) {
			cr_assert_eq(rc, 0);
			roster_watch_cancel(c, w);
			break;
		}
		cr_assert_eq(rc, ROSTER_ENOMEM);
		cr_assert_eq((void *)w, (void *)c, "out set on failure");
		refused++;
	}
	cr_expect_geq(refused, 2);
	roster_watch_cancel(c, NULL);
	roster_client_free(c);
}

/* ---- the cache ------------------------------------------------------------ */

Test(client_nomem, cache_put_failing_keeps_the_old_copy)
{
	struct cache c = {0};
	struct roster_result *old = result(1000, "old.example.");
	struct roster_result *neu = result(2000, "new.example.");
	cr_assert_eq(cache_put(&c, "db", "tcp", 0, old), 0);
	int refused = 0;
	for (size_t k = 1;; k++) {
		allocfail_arm(k);
		int rc = cache_put(&c, "db", "tcp", 0, neu);
		bool struck = allocfail_struck();
		allocfail_disarm();
		struct roster_result *got = NULL;
		cr_assert_eq(cache_get(&c, "db", "tcp", 0, 2000, 3600000, &got), 0);
		if (!struck) {
			cr_assert_eq(rc, 0);
			cr_expect_str_eq(got->instances[0].host, "new.example.");
			roster_result_free(got);
			break;
		}
		cr_assert_eq(rc, ROSTER_ENOMEM);
		cr_expect_str_eq(got->instances[0].host, "old.example.", "allocation %zu", k);
		roster_result_free(got);
		refused++;
	}
	cr_expect_geq(refused, 1, "the copy");
	/* A new key: a failure adds no entry. */
	refused = 0;
	for (size_t k = 1;; k++) {
		allocfail_arm(k);
		int rc = cache_put(&c, "web", NULL, 1, neu);
		bool struck = allocfail_struck();
		allocfail_disarm();
		struct roster_result *got = NULL;
		int grc = cache_get(&c, "web", NULL, 1, 2000, 3600000, &got);
		if (!struck) {
			cr_assert_eq(rc, 0);
			cr_assert_eq(grc, 0);
			roster_result_free(got);
			break;
		}
		cr_assert_eq(rc, ROSTER_ENOMEM);
		cr_assert_eq(grc, ROSTER_ENOENT, "allocation %zu", k);
		cr_expect_eq(c.n, 1);
		refused++;
	}
	cr_expect_geq(refused, 4, "the copy, the table, the key's two strings: %d", refused);
	roster_result_free(old);
	roster_result_free(neu);
	cache_deinit(&c);
}

Test(client_nomem, cache_get_failing_returns_nothing)
{
	struct cache c = {0};
	struct roster_result *r = result(1000, "db.example.");
	cr_assert_eq(cache_put(&c, "db", "tcp", 0, r), 0);
	roster_result_free(r);
	for (size_t k = 1;; k++) {
		struct roster_result *got = (struct roster_result *)&c;
		allocfail_arm(k);
		int rc = cache_get(&c, "db", "tcp", 0, 1000, 3600000, &got);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (!struck) {
			cr_assert_eq(rc, 0);
			cr_expect(got->stale);
			roster_result_free(got);
			break;
		}
		cr_assert_eq(rc, ROSTER_ENOMEM);
		cr_assert_eq((void *)got, (void *)&c, "out set on failure");
	}
	cache_deinit(&c);
}

Test(client_nomem, cache_load_failing_reports_enomem_and_keeps_what_was_there,
		.fini = remove_cache_file)
{
	write_cache_file();
	int refused = 0;
	for (size_t k = 1;; k++) {
		struct cache c = {0};
		struct roster_result *mine = result(5000, "mine.example.");
		cr_assert_eq(cache_put(&c, "db", "tcp", 0, mine), 0);
		roster_result_free(mine);
		c.dirty = false;
		allocfail_arm(k);
		int rc = cache_load(&c, cache_path);
		bool struck = allocfail_struck();
		allocfail_disarm();
		struct roster_result *got = NULL;
		cr_assert_eq(cache_get(&c, "db", "tcp", 0, 5000, 3600000, &got), 0);
		cr_expect_str_eq(got->instances[0].host, "mine.example.", "memory's entry wins");
		roster_result_free(got);
		cr_expect_not(c.dirty, "loading never makes the cache dirty");
		if (!struck) {
			cr_assert_eq(rc, 0);
			cr_expect_eq(c.n, 2);
			cache_deinit(&c);
			break;
		}
		cr_assert_eq(rc, ROSTER_ENOMEM, "allocation %zu: %d", k, rc);
		cr_expect_leq(c.n, 2);
		refused++;
		cache_deinit(&c);
	}
	cr_expect_geq(refused, 5);
}

/* ---- bad input, refused before anything is sent ----------------------- */

struct bad_query {
	char service[80];
	char protocol[80];
	bool protocol_null;
};

static struct bad_query bad_queries[] = {
		{"", "tcp", false},
		{"-api", "tcp", false},
		{"api-", "tcp", false},
		{"_api", "tcp", false},
		{"a.b", "tcp", false},
		{"api", "_tcp", false},
		{"api", "t cp", false},
		{"api", "-tcp", false},
		{"a123456789012345678901234567890123456789012345678901234567890123", "tcp", false},
		{"api", "a123456789012345678901234567890123456789012345678901234567890123", false},
};

ParameterizedTestParameters(client_nomem, bad_names_are_refused_before_sending)
{
	return cr_make_param_array(struct bad_query, bad_queries,
			sizeof(bad_queries) / sizeof(bad_queries[0]));
}

ParameterizedTest(struct bad_query *q, client_nomem, bad_names_are_refused_before_sending)
{
	struct roster_config cfg = {.servers = dead_servers, .n_servers = 1};
	struct roster_client *c = NULL;
	cr_assert_eq(roster_client_new(&cfg, &c), 0);
	struct roster_result *r = NULL;
	int rc = roster_query(c, q->service, q->protocol, 0, &r);
	cr_expect_eq(rc, ROSTER_ENAME, "'%s' '%s': %s", q->service, q->protocol,
			roster_strerror(rc));
	cr_expect_null(r);
	cr_expect(strstr(roster_errmsg(), "invalid") != NULL, "%s", roster_errmsg());
	if (strchr(q->protocol, '_') == NULL && strchr(q->protocol, ' ') == NULL &&
			q->protocol[0] != '-' && strlen(q->protocol) < 64) {
		struct roster_watch *w = NULL;
		cr_expect_eq(roster_watch_start(c, q->service, watch_cb, NULL, &w),
				q->service[0] == '\0' ? 0 : ROSTER_ENAME, "'%s'", q->service);
		roster_watch_cancel(c, w);
	}
	roster_client_free(c);
}

Test(client_nomem, a_watch_needs_a_callback_and_a_status_must_be_settable)
{
	struct roster_client *c = NULL;
	cr_assert_eq(roster_client_new(NULL, &c), 0);
	struct roster_watch *w = NULL;
	cr_expect_eq(roster_watch_start(c, "api", NULL, NULL, &w), ROSTER_EINVAL);
	cr_expect_null(w);
	struct roster_instance ep = endpoint("a.example");
	cr_assert_eq(roster_endpoint_add(c, &ep), 0);
	cr_expect_eq(roster_endpoint_set_status(c, &ep, ROSTER_STATUS_UNSPECIFIED), ROSTER_EINVAL);
	cr_expect_eq(roster_endpoint_set_status(c, &ep, (enum roster_status)4), ROSTER_EINVAL);
	struct roster_instance other = endpoint("b.example");
	cr_expect_eq(roster_endpoint_set_status(c, &other, ROSTER_UP), ROSTER_ENOENT);
	cr_expect(strstr(roster_errmsg(), "not registered") != NULL, "%s", roster_errmsg());
	cr_expect_eq(roster_instance_set_status(c, &ep, (enum roster_status)0, NULL),
			ROSTER_EINVAL);
	cr_expect_eq(roster_instance_set_status(c, &ep, (enum roster_status)9, NULL),
			ROSTER_EINVAL);
	roster_client_free(c);
}

Test(client_nomem, every_code_has_its_own_description_and_every_status_a_name)
{
	static const int codes[] = {ROSTER_ENOMEM, ROSTER_EINVAL, ROSTER_ENOENT, ROSTER_ETIMEDOUT,
			ROSTER_EAGAIN, ROSTER_ENOTSUP, ROSTER_ENAME, ROSTER_EADDR, ROSTER_EPORT,
			ROSTER_EPROTO, ROSTER_ELEASE, ROSTER_ELIMIT, ROSTER_ESTORE,
			ROSTER_EUNREACHABLE, ROSTER_ESERVER, ROSTER_ESTATE, ROSTER_EPARTIAL};
	size_t n = sizeof(codes) / sizeof(codes[0]);
	for (size_t i = 0; i < n; i++) {
		const char *d = roster_strerror(codes[i]);
		cr_expect(d != NULL && d[0] != '\0' && strcmp(d, "unknown error") != 0, "%d",
				codes[i]);
		for (size_t j = 0; j < i; j++) {
			cr_expect_str_neq(d, roster_strerror(codes[j]), "%d and %d", codes[i],
					codes[j]);
		}
	}
	cr_expect_str_eq(roster_strerror(ROSTER_EAGAIN),
			"registry unavailable (shutting down or overloaded)");
	cr_expect_str_eq(roster_strerror(-5000), "unknown error");
	cr_expect_str_eq(roster_status_name(ROSTER_STARTING), "STARTING");
	cr_expect_str_eq(roster_status_name(ROSTER_UP), "UP");
	cr_expect_str_eq(roster_status_name(ROSTER_DOWN), "DOWN");
	cr_expect_str_eq(roster_status_name(ROSTER_STATUS_UNSPECIFIED), "UNSPECIFIED");
	cr_expect_str_eq(roster_status_name((enum roster_status)42), "UNSPECIFIED");
}
