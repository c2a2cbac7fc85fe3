/*
 * Client error reports: the per-prefix rate limit, per-code counters and the
 * size-capped JSON log.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server/dns/report.h"

static struct report rep;

static struct sockaddr_in v4(const char *a)
{
	struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(5300)};
	inet_pton(AF_INET, a, &s.sin_addr);
	return s;
}

static struct report_fields fields(const char *code)
{
	static const char *rest[] = {"v1-2", "android", "n0nce"};
	struct report_fields f = {.qtype = 1};
	f.label[0] = (const uint8_t *)code;
	f.len[0] = (uint8_t)strlen(code);
	for (int i = 0; i < 3; i++) {
		f.label[i + 1] = (const uint8_t *)rest[i];
		f.len[i + 1] = (uint8_t)strlen(rest[i]);
	}
	return f;
}

Test(report, limit_per_prefix_refills_over_time)
{
	report_init(&rep, 10);
	struct sockaddr_in a = v4("192.0.2.1"), b = v4("192.0.2.200"), c = v4("198.51.100.1");
	int ok = 0;
	for (int i = 0; i < 30; i++) {
		ok += report_admit(&rep, (struct sockaddr *)(i % 2 ? &a : &b), 1000);
	}
	cr_expect_eq(ok, 10, "one /24 shares one bucket of 10");
	cr_expect(report_admit(&rep, (struct sockaddr *)&c, 1000), "another /24 has its own");
	cr_expect(!report_admit(&rep, (struct sockaddr *)&a, 1050));
	cr_expect(report_admit(&rep, (struct sockaddr *)&a, 1200), "two tokens after 200 ms");
	cr_expect_eq(rep.limited, 21);
}

Test(report, counts_per_code_then_other)
{
	report_init(&rep, 0);
	char code[16];
	for (int i = 0; i < REPORT_MAX_CODES + 5; i++) {
		snprintf(code, sizeof(code), "e%d", i);
		struct report_fields f = fields(code);
		report_count(&rep, &f);
	}
	struct report_fields f = fields("e0");
	report_count(&rep, &f);
	cr_expect_eq(rep.ncodes, REPORT_MAX_CODES);
	cr_expect_eq(rep.codes[0].count, 2);
	cr_expect_eq(rep.other, 5);
	report_count_malformed(&rep);
	cr_expect_eq(rep.malformed, 1);
}

Test(report, log_lines_and_rotation)
{
	char dir[] = "/tmp/roster-report-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	report_init(&rep, 0);
	cr_assert_eq(report_log_open(&rep, dir, 600), 0);
	struct report_fields f = fields("e503");
	struct sockaddr_in a = v4("192.0.2.1");
	for (int i = 0; i < 10; i++) {
		report_log_write(&rep, &f, (struct sockaddr *)&a, 1795651200123ull);
	}
	report_log_close(&rep);
	char path[128], old[128];
	snprintf(path, sizeof(path), "%s/client-reports.log", dir);
	snprintf(old, sizeof(old), "%s/client-reports.log.1", dir);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_leq(st.st_size, 600);
	cr_assert_eq(stat(old, &st), 0, "rotated once the cap was reached");
	cr_expect_leq(st.st_size, 600);
	FILE *fp = fopen(path, "r");
	char line[512];
	cr_assert_not_null(fgets(line, sizeof(line), fp));
	fclose(fp);
	cr_expect_str_eq(line,
			"{\"time\":\"2026-11-26T00:00:00.123Z\",\"source\":\"192.0.2.1:5300\","
			"\"code\":\"e503\",\"version\":\"v1-2\",\"platform\":\"android\","
			"\"nonce\":\"n0nce\",\"qtype\":1}\n");
	cr_expect_eq(rep.log.errors, 0);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

/* IPv6 sources share a bucket per /56; a source without an address (a
 * test's, or one that could not be read) shares one with the others like
 * it; a rate of 0 admits everything. */
Test(report, ipv6_prefixes_and_no_source)
{
	report_init(&rep, 3);
	struct sockaddr_in6 a = {.sin6_family = AF_INET6}, b = a, c = a;
	inet_pton(AF_INET6, "2001:db8:0:100::1", &a.sin6_addr);
	inet_pton(AF_INET6, "2001:db8:0:1ff::2", &b.sin6_addr); /* same /56 */
	inet_pton(AF_INET6, "2001:db8:0:200::1", &c.sin6_addr); /* another /56 */
	int ok = 0;
	for (int i = 0; i < 6; i++) {
		ok += report_admit(&rep, (struct sockaddr *)(i % 2 ? &a : &b), 1000);
	}
	cr_expect_eq(ok, 3, "one /56, one bucket");
	cr_expect(report_admit(&rep, (struct sockaddr *)&c, 1000));
	ok = 0;
	for (int i = 0; i < 5; i++) {
		ok += report_admit(&rep, NULL, 0);
	}
	cr_expect_eq(ok, 3, "no source: one bucket, at time 0 too");
	struct report_counters rc;
	report_counters_get(&rep, &rc);
	cr_expect_eq(rc.limited, 5);

	report_init(&rep, 0);
	for (int i = 0; i < 100; i++) {
		cr_expect(report_admit(&rep, (struct sockaddr *)&a, 1000));
	}
	/* A log that is not open: nothing written, no error. */
	struct report_fields f = fields("e1");
	report_log_write(&rep, &f, NULL, 1000);
	report_counters_get(&rep, &rc);
	cr_expect_eq(rc.log_errors, 0);
	cr_expect_eq(rc.limited, 0);
}

Test(report, log_dir_name_too_long)
{
	char dir[5000];
	memset(dir, 'd', sizeof(dir) - 1);
	dir[0] = '/';
	dir[sizeof(dir) - 1] = '\0';
	report_init(&rep, 0);
	cr_expect_lt(report_log_open(&rep, dir, 600), 0);
}
