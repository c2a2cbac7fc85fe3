#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zonegen/include.h"
#include "zonegen/report.h"

static struct zg_zone_result one(void)
{
	struct zg_zone_result r;
	memset(&r, 0, sizeof(r));
	r.name = "ash2.example.net.";
	r.state = ZG_STATE_CHANGED;
	r.serial = 2026112601;
	r.added = 3;
	r.removed = 1;
	zg_counts_add(&r.counts, 28, "AAAA", 10);
	zg_counts_add(&r.counts, 1, "A", 12);
	zg_counts_add(&r.counts, 6, "SOA", 1);
	return r;
}

Test(report, summary_names_zone_types_changes_serial)
{
	struct zg_zone_result r = one();
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	zg_report_summary(f, &r, 1);
	fclose(f);
	cr_expect_str_eq(text, "zone ash2.example.net. serial 2026112601 changed: 23 records "
			       "(A 12, AAAA 10, SOA 1), +3 -1\n");
	free(text);
}

Test(report, prometheus_has_per_zone_and_run_figures)
{
	struct zg_zone_result r = one();
	struct zg_run_result run = {.hosts = 22, .errors = 0, .seconds = 0.5, .started = 1e9};
	struct rs_buf b;
	rs_buf_init(&b);
	zg_report_prometheus(&b, &r, 1, &run);
	rs_buf_chr(&b, '\0');
	cr_assert_eq(rs_buf_error(&b), 0);
	cr_expect_not_null(strstr(b.data,
			"roster_zonegen_records{zone=\"ash2.example.net.\",type=\"A\"} 12\n"));
	cr_expect_not_null(strstr(
			b.data, "roster_zonegen_records_added{zone=\"ash2.example.net.\"} 3\n"));
	cr_expect_not_null(strstr(
			b.data, "roster_zonegen_serial{zone=\"ash2.example.net.\"} 2026112601\n"));
	cr_expect_not_null(strstr(b.data, "roster_zonegen_success 1\n"));
	cr_expect_not_null(strstr(b.data, "roster_zonegen_hosts 22\n"));
	rs_buf_deinit(&b);
}

Test(report, bind_limit_only_when_over_default)
{
	cr_expect_eq(zg_include_bind_limit(1), 0u);
	cr_expect_eq(zg_include_bind_limit(100), 0u);
	cr_expect_eq(zg_include_bind_limit(101), 1000u);
	cr_expect_eq(zg_include_bind_limit(2500), 5000u);
	cr_expect_eq(zg_include_bind_limit(2501), 6000u);
}
