/*
 * The API's audit log lines (server/api/audit.h) written to a real file:
 * the fields, the escaping of what clients send, each refusal's reason and
 * its dry-run form, a line too long for its buffer refused whole and
 * counted, a closed log, and a write the disk refuses counted.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "server/api/audit.h"

static char g_dir[64];
static char g_path[128];
static struct rs_linelog g_log;

static void setup(void)
{
	snprintf(g_dir, sizeof(g_dir), "/tmp/roster-audit-XXXXXX");
	cr_assert_not_null(mkdtemp(g_dir));
	snprintf(g_path, sizeof(g_path), "%s/audit.log", g_dir);
	rs_linelog_init(&g_log);
	cr_assert_eq(rs_linelog_open(&g_log, g_path, 0), 0);
}

static void teardown(void)
{
	rs_linelog_close(&g_log);
	unlink(g_path);
	rmdir(g_dir);
}

/* The file's whole text (static storage). */
static const char *log_text(void)
{
	static char buf[16384];
	FILE *f = fopen(g_path, "r");
	cr_assert_not_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static struct api_ops_audit audit_of(const char *op, const char *target, int rc)
{
	struct api_ops_audit a = {.op = op, .rc = rc};
	snprintf(a.target, sizeof(a.target), "%s", target);
	return a;
}

TestSuite(audit, .init = setup, .fini = teardown);

Test(audit, an_accepted_write_names_time_source_token_op_and_instance)
{
	struct api_ops_audit a = audit_of("register", "_web._tcp h.example.net:443", 0);
	/* 2026-05-01T10:00:00.123Z */
	cr_assert(api_audit_write(&g_log, 1777629600123ull, "10.1.2.3:40000", "deploy", &a));
	cr_expect_str_eq(log_text(),
			"{\"time\":\"2026-05-01T10:00:00.123Z\",\"source\":\"10.1.2.3:40000\","
			"\"token\":\"deploy\",\"op\":\"register\","
			"\"instance\":\"_web._tcp h.example.net:443\",\"result\":\"OK\"}\n");
	cr_expect_eq(g_log.errors, 0);
}

Test(audit, no_token_is_null_and_no_op_is_request)
{
	struct api_ops_audit a = audit_of(NULL, "", RS_EINVAL);
	a.refusal = API_OPS_REFUSED_UNAUTHENTICATED;
	cr_assert(api_audit_write(&g_log, 0, "[::1]:1", NULL, &a));
	const char *t = log_text();
	cr_expect_not_null(
			strstr(t, "\"token\":null,\"op\":\"request\",\"instance\":\"\""), "%s", t);
	cr_expect_not_null(strstr(t, "\"reason\":\"unauthenticated\"}\n"), "%s", t);
	cr_expect_null(strstr(t, "\"result\":\"OK\""), "%s", t);
}

Test(audit, each_refusal_has_its_reason_and_a_dry_run_would_refuse)
{
	static const struct {
		enum api_ops_refusal r;
		const char *name;
	} cases[] = {
			{API_OPS_REFUSED_UNAUTHENTICATED, "unauthenticated"},
			{API_OPS_REFUSED_SCOPE, "scope"},
			{API_OPS_REFUSED_OWNER, "owner"},
			{API_OPS_REFUSED_BAD_TOKEN, "bad_token"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int dry = 0; dry < 2; dry++) {
			struct api_ops_audit a =
					audit_of("deregister", "lease 00ff", dry ? 0 : RS_EPERM);
			a.refusal = cases[i].r;
			a.dry_run = dry != 0;
			cr_assert(api_audit_write(&g_log, 0, "src", "t", &a));
		}
	}
	const char *t = log_text();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char want[80];
		snprintf(want, sizeof(want), "\"reason\":\"%s\"}", cases[i].name);
		cr_expect_not_null(strstr(t, want), "%s missing in %s", want, t);
		snprintf(want, sizeof(want), "\"result\":\"OK\",\"would_refuse\":\"%s\"}",
				cases[i].name);
		cr_expect_not_null(strstr(t, want), "%s missing in %s", want, t);
	}
	/* No reason on a line without a refusal. */
	rs_linelog_close(&g_log);
	unlink(g_path);
	cr_assert_eq(rs_linelog_open(&g_log, g_path, 0), 0);
	struct api_ops_audit a = audit_of("set_status", "x", 0);
	a.refusal = (enum api_ops_refusal)99;
	cr_assert(api_audit_write(&g_log, 0, "src", "t", &a));
	cr_expect_null(strstr(log_text(), "reason"), "%s", log_text());
	cr_expect_null(strstr(log_text(), "would_refuse"), "%s", log_text());
}

Test(audit, strings_from_clients_are_escaped)
{
	struct api_ops_audit a = audit_of("register", "a\"b\\c\nd\x01\x7f\xc3\xa9", 0);
	cr_assert(api_audit_write(&g_log, 0, "src", "to\"k", &a));
	const char *t = log_text();
	cr_expect_not_null(strstr(t, "\"token\":\"to\\\"k\""), "%s", t);
	cr_expect_not_null(
			strstr(t, "\"instance\":\"a\\\"b\\\\c\\u000ad\\u0001\\u007f\\u00c3\\u00a9\""),
			"%s", t);
	/* One line: the newline sent is escaped, the line's own ends it. */
	cr_expect_eq(strchr(t, '\n'), t + strlen(t) - 1, "%s", t);
}

Test(audit, a_line_too_long_is_refused_whole_and_counted)
{
	/* A token of 3000 bytes, each escaped to six: more than the line holds. */
	char *token = malloc(3001);
	cr_assert_not_null(token);
	memset(token, 0x01, 3000);
	token[3000] = '\0';
	struct api_ops_audit a = audit_of("register", "x", 0);
	cr_expect_not(api_audit_write(&g_log, 0, "src", token, &a));
	free(token);
	cr_expect_eq(g_log.errors, 1);
	cr_expect_str_eq(log_text(), "", "nothing of a cut line is written");
	/* A source past the line: the same. A target at its room (399 bytes,
	 * each escaped to six) still fits. */
	char *source = malloc(3100);
	cr_assert_not_null(source);
	memset(source, 's', 3099);
	source[3099] = '\0';
	cr_expect_not(api_audit_write(&g_log, 0, source, NULL, &a));
	free(source);
	struct api_ops_audit big = audit_of("register", "", 0);
	memset(big.target, 0x7f, sizeof(big.target) - 1);
	big.target[sizeof(big.target) - 1] = '\0';
	cr_expect(api_audit_write(&g_log, 0, "src", "t", &big), "399 bytes escaped still fit");
	cr_expect_eq(g_log.errors, 2);
	cr_expect_not_null(strstr(log_text(), "\\u007f\",\"result\""), "%s", log_text());
	/* The log goes on. */
	cr_expect(api_audit_write(&g_log, 0, "src", "t", &a));
	cr_expect_eq(g_log.errors, 2);
	cr_expect_not_null(
			strstr(log_text(),
					"\"token\":\"t\",\"op\":\"register\",\"instance\":\"x\""),
			"%s", log_text());
}

Test(audit, a_closed_log_writes_nothing)
{
	rs_linelog_close(&g_log);
	struct api_ops_audit a = audit_of("register", "x", 0);
	cr_expect_not(api_audit_write(&g_log, 0, "src", "t", &a));
	cr_expect_eq(g_log.errors, 0, "a closed log is no error");
	cr_expect_str_eq(log_text(), "");
}

Test(audit, a_write_the_disk_refuses_is_counted)
{
	/* /dev/full answers every write ENOSPC. */
	rs_linelog_close(&g_log);
	rs_linelog_init(&g_log);
	cr_assert_eq(rs_linelog_open(&g_log, "/dev/full", 0), 0);
	struct api_ops_audit a = audit_of("register", "x", 0);
	cr_expect_not(api_audit_write(&g_log, 0, "src", "t", &a));
	cr_expect_eq(g_log.errors, 1);
}
