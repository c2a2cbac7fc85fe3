/* zonegen's generator (inventory, hand records, zones, checks, zone text)
 * with each of its heap allocations failing in turn
 * (tests/faults/allocfail.h): every run either fails with RS_ENOMEM at the
 * step that met the failure, or writes exactly the zones of a run without
 * failures. A failure never turns into a check error (a run refused for a
 * fault it does not have) nor into different zones. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocfail.h"
#include "common/buf.h"
#include "common/error.h"
#include "zonegen/gen.h"

static const char *const NS[] = {"ns1.example.net.", "ns2.example.net."};

static const char FLEET[] =
		"{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.2.0.1\", \"ipv6\": \"2001:db8:2::1\"}\n"
		"{\"name\": \"ash2-web-a2\", \"ipv4\": \"10.2.0.2\"}\n"
		"{\"name\": \"ash2-db-b1\", \"ipv4\": \"10.2.1.1\", \"ipv6\": \"2001:db8:2::11\"}\n"
		"{\"name\": \"ash2-cache-c1\", \"ipv4\": \"10.2.2.1\"}\n"
		"{\"name\": \"lon6-web-a1\", \"ipv4\": \"10.6.0.1\"}\n"
		"{\"name\": \"lon6-web-a2\", \"ipv4\": \"10.6.0.2\"}\n"
		"{\"name\": \"lon6-db-a1\", \"ipv6\": \"2001:db8:6::1\"}\n"
		/* Not for the fast path (an array, an escape): read with jansson. */
		"{\"name\": \"lon6-api-a1\", \"ipv4\": [\"10.6.1.1\", \"10.6.1.2\"]}\n"
		"{\"name\": \"lon6-api\\u002da2\", \"ipv4\": \"10.6.1.3\"}\n";

static const char RECORDS[] = "www 300 IN CNAME ash2-web-a1\n"
			      "api IN CNAME web.roles.ash2.example.net.\n"
			      "ext IN CNAME www.example.org.\n"
			      "txt IN TXT \"v=spf1 -all\"\n"
			      "mx IN MX 10 ash2-web-a2\n";

/* One whole run: the zones' text, or the step's error. */
static int run(bool shard, struct rs_buf *out, size_t *errors)
{
	struct zg_options opt = {.domain = "example.net.",
			.ns = NS,
			.nns = 2,
			.hostmaster = "hostmaster.example.net.",
			.commit = "abc123",
			.ttl = 3600,
			.v4_prefix = 16,
			.v6_prefix = 48,
			.shard_large = shard};
	struct zg_diag diag;
	struct zg_inventory inv;
	struct zg_records recs;
	struct zg_gen gen;
	memset(&gen, 0, sizeof(gen));
	zg_diag_init(&diag, NULL);
	zg_inventory_init(&inv, opt.domain);
	zg_records_init(&recs);
	int rc = zg_inventory_parse(&inv, "inv", FLEET, strlen(FLEET), &diag);
	if (rc == 0) {
		rc = zg_records_parse(&recs, "static", RECORDS, strlen(RECORDS),
				"ash2.example.net.", 3600, &diag);
	}
	if (rc == 0) {
		rc = zg_gen_build(&gen, &opt, &inv, &recs, &diag);
	}
	for (size_t z = 0; rc == 0 && z < gen.nzones; z++) {
		struct zg_counts c;
		zg_gen_head(&gen, z, 42, out);
		zg_gen_deploy(&gen, out);
		rc = zg_gen_body(&gen, z, out, &c);
		if (rc == 0) {
			rs_buf_printf(out, "; %llu records\n", (unsigned long long)c.total);
			rc = rs_buf_error(out);
		}
	}
	*errors = diag.errors;
	zg_gen_deinit(&gen);
	zg_records_deinit(&recs);
	zg_inventory_deinit(&inv);
	return rc;
}

static void each_failure(bool shard)
{
	struct rs_buf want = {0};
	size_t errors = 0;
	cr_assert_eq(run(shard, &want, &errors), 0);
	cr_assert_eq(errors, 0);
	cr_assert_gt(want.len, 1000);
	int refused = 0, whole = 0;
	for (size_t k = 1;; k++) {
		cr_assert_lt(k, 5000, "the run never stops allocating");
		struct rs_buf got = {0};
		allocfail_arm(k);
		int rc = run(shard, &got, &errors);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (!struck) {
			cr_assert_eq(rc, 0);
			rs_buf_deinit(&got);
			break;
		}
		if (rc == 0) {
			/* Met a failure it could do without: the same zones. */
			cr_assert_eq(errors, 0, "allocation %zu: a check error from a failure", k);
			cr_assert(got.len == want.len && memcmp(got.data, want.data, got.len) == 0,
					"allocation %zu: different zones", k);
			whole++;
		} else {
			cr_assert_eq(rc, RS_ENOMEM, "allocation %zu: %s", k, rs_strerror(rc));
			cr_assert_eq(errors, 0, "allocation %zu: reported as a fault of the input",
					k);
			refused++;
		}
		rs_buf_deinit(&got);
	}
	cr_expect_geq(refused, 20, "%d refused, %d whole", refused, whole);
	rs_buf_deinit(&want);
}

Test(gen_nomem, a_run_fails_with_enomem_or_writes_the_same_zones)
{
	each_failure(false);
}

Test(gen_nomem, a_sharded_run_fails_with_enomem_or_writes_the_same_zones)
{
	each_failure(true);
}

/* The inventory is JSON lines; those the fast path does not take are read
 * with jansson, which allocates through json_set_alloc_funcs(): fail its
 * Nth allocation. The run must be refused (RS_ENOMEM, or an error in the
 * diagnostics, so that no zone is written), never write different zones.
 * jansson itself reports most of its allocation failures as syntax errors
 * ("string or '}' expected"), even as a host name it decoded wrongly: the
 * message can mislead, the refusal holds (docs/testing.md). */
static size_t json_calls, json_fail_at;

static void *json_failing_malloc(size_t n)
{
	json_calls++;
	return json_calls == json_fail_at ? NULL : malloc(n);
}

Test(gen_nomem, jansson_out_of_memory_refuses_the_run)
{
	struct rs_buf want = {0};
	size_t errors = 0;
	cr_assert_eq(run(false, &want, &errors), 0);
	int refused = 0;
	for (size_t k = 1;; k++) {
		cr_assert_lt(k, 5000);
		struct rs_buf got = {0};
		json_calls = 0;
		json_fail_at = k;
		json_set_alloc_funcs(json_failing_malloc, free);
		int rc = run(false, &got, &errors);
		json_set_alloc_funcs(malloc, free);
		bool struck = json_calls >= k;
		if (!struck) {
			cr_assert_eq(rc, 0);
			cr_assert_eq(errors, 0);
			rs_buf_deinit(&got);
			break;
		}
		if (rc == 0 && errors == 0) {
			cr_assert(got.len == want.len && memcmp(got.data, want.data, got.len) == 0,
					"allocation %zu: different zones", k);
		} else {
			cr_assert(rc == RS_ENOMEM || (rc == 0 && errors > 0), "allocation %zu: %s",
					k, rs_strerror(rc));
			refused++;
		}
		rs_buf_deinit(&got);
	}
	cr_expect_geq(refused, 5);
	rs_buf_deinit(&want);
}
