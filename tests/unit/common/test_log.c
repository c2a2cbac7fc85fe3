/* common/log: level and format names, the three line formats, escaping and
 * truncation, and holding lines back until the start has succeeded. Each
 * test (its own process under criterion) points stderr at a file and reads
 * back exactly what was written. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wchar.h>

#include "common/error.h"
#include "common/log.h"

static char capture_path[64];

/* stderr into a fresh temporary file, for the rest of this test. */
static void capture(void)
{
	strcpy(capture_path, "/tmp/test_log_XXXXXX");
	int fd = mkstemp(capture_path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
}

/* Everything written to stderr since capture(); a static buffer. */
static const char *captured(void)
{
	static char text[65536 + 1];
	int fd = open(capture_path, O_RDONLY);
	cr_assert_geq(fd, 0);
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	cr_assert_geq(n, 0);
	text[n] = '\0';
	return text;
}

static size_t count_lines(const char *text)
{
	size_t n = 0;
	for (const char *p = text; *p != '\0'; p++) {
		n += *p == '\n';
	}
	return n;
}

static void fini(void)
{
	if (capture_path[0] != '\0') {
		unlink(capture_path);
	}
}

static bool matches(const char *text, const char *pattern)
{
	regex_t re;
	cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0, "%s", pattern);
	bool ok = regexec(&re, text, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

Test(log, every_level_name_parses_back_to_its_level)
{
	for (int l = RS_LOG_ERROR; l <= RS_LOG_DEBUG; l++) {
		cr_expect_eq(rs_log_level_parse(rs_log_level_name(l)), l, "%d", l);
	}
	cr_expect_str_eq(rs_log_level_name(RS_LOG_WARNING), "warning");
	cr_expect_str_eq(rs_log_level_name(-1), "?");
	cr_expect_str_eq(rs_log_level_name(RS_LOG_DEBUG + 1), "?");
}

Test(log, every_format_name_parses_back_to_its_format)
{
	for (int f = RS_LOG_FORMAT_AUTO; f <= RS_LOG_FORMAT_JSON; f++) {
		cr_expect_eq(rs_log_format_parse(rs_log_format_name(f)), f, "%d", f);
	}
	cr_expect_str_eq(rs_log_format_name(RS_LOG_FORMAT_JSON), "json");
	cr_expect_str_eq(rs_log_format_name(-1), "?");
	cr_expect_str_eq(rs_log_format_name(RS_LOG_FORMAT_JSON + 1), "?");
}

/* Names held by value: criterion runs each case in a process of its own. */
struct bad_name {
	char text[16];
};

static struct bad_name bad_names[] = {{""}, {"INFO"}, {"warn"}, {"err"}, {"info "}, {" debug"},
		{"jsonl"}, {"Text"}, {"journald"}, {"4"}};

ParameterizedTestParameters(log, bad_names_are_refused)
{
	return cr_make_param_array(
			struct bad_name, bad_names, sizeof(bad_names) / sizeof(bad_names[0]));
}

ParameterizedTest(struct bad_name *name, log, bad_names_are_refused)
{
	cr_expect_eq(rs_log_level_parse(name->text), RS_EINVAL, "'%s'", name->text);
	cr_expect_eq(rs_log_format_parse(name->text), RS_EINVAL, "'%s'", name->text);
}

Test(log, journal_stream_matches_only_stderr_itself, .fini = fini)
{
	capture();
	struct stat st;
	cr_assert_eq(fstat(STDERR_FILENO, &st), 0);
	char mine[64], other[64];
	snprintf(mine, sizeof(mine), "%llu:%llu", (unsigned long long)st.st_dev,
			(unsigned long long)st.st_ino);
	snprintf(other, sizeof(other), "%llu:%llu", (unsigned long long)st.st_dev,
			(unsigned long long)st.st_ino + 1);
	cr_expect_eq(rs_log_stderr_is_journal(mine), 1);
	cr_expect_eq(rs_log_stderr_is_journal(other), 0);
	cr_expect_eq(rs_log_stderr_is_journal(NULL), 0);
	cr_expect_eq(rs_log_stderr_is_journal(""), 0);
	cr_expect_eq(rs_log_stderr_is_journal("12"), 0);
	cr_expect_eq(rs_log_stderr_is_journal("x:y"), 0);
}

Test(log, auto_format_is_journal_only_on_the_journal_stream, .fini = fini)
{
	capture();
	struct stat st;
	cr_assert_eq(fstat(STDERR_FILENO, &st), 0);
	char mine[64];
	snprintf(mine, sizeof(mine), "%llu:%llu", (unsigned long long)st.st_dev,
			(unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", mine, 1);
	rs_log_set_format(RS_LOG_FORMAT_AUTO);
	cr_expect_eq(rs_log_get_format(), RS_LOG_FORMAT_JOURNAL);
	setenv("JOURNAL_STREAM", "1:1", 1);
	rs_log_set_format(RS_LOG_FORMAT_AUTO);
	cr_expect_eq(rs_log_get_format(), RS_LOG_FORMAT_TEXT);
	unsetenv("JOURNAL_STREAM");
	rs_log_set_format(RS_LOG_FORMAT_JSON);
	rs_log_set_format(RS_LOG_FORMAT_AUTO);
	cr_expect_eq(rs_log_get_format(), RS_LOG_FORMAT_TEXT);
}

Test(log, text_line_has_a_timestamp_the_level_and_one_line_per_event, .fini = fini)
{
	capture();
	rs_log_set_format(RS_LOG_FORMAT_TEXT);
	rs_log_warning("peer %s said \"%s\"", "127.0.0.1", "two\nlines");
	const char *out = captured();
	cr_expect(matches(out, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
			       "warning peer 127\\.0\\.0\\.1 said \"two lines\"\n$"),
			"%s", out);
}

Test(log, journal_line_carries_the_syslog_priority_and_no_timestamp, .fini = fini)
{
	capture();
	rs_log_set_format(RS_LOG_FORMAT_JOURNAL);
	rs_log_set_level(RS_LOG_DEBUG);
	rs_log_error("e");
	rs_log_warning("w");
	rs_log_notice("n");
	rs_log_info("i");
	rs_log_debug("d");
	cr_expect_str_eq(captured(), "<3>e\n<4>w\n<5>n\n<6>i\n<7>d\n");
}

Test(log, json_line_escapes_quotes_backslashes_and_control_characters, .fini = fini)
{
	capture();
	rs_log_set_format(RS_LOG_FORMAT_JSON);
	rs_log_error("a\"b\\c\nd\x01"
		     "e\tf");
	const char *out = captured();
	cr_expect(matches(out, "^\\{\"ts\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z\","
			       "\"level\":\"error\",\"msg\":\"a\\\\\"b\\\\\\\\c\\\\nd\\\\u0001e"
			       "\\\\u0009f\"\\}\n$"),
			"%s", out);
}

Test(log, json_message_too_long_is_cut_between_characters, .fini = fini)
{
	capture();
	rs_log_set_format(RS_LOG_FORMAT_JSON);
	/* 1,200 quotes escape to 2,400 bytes, more than a line holds. */
	char msg[1201];
	memset(msg, '"', 1200);
	msg[1200] = '\0';
	rs_log_info("%s", msg);
	const char *out = captured();
	size_t n = strlen(out);
	cr_assert_leq(n, 2048);
	cr_assert_str_eq(out + n - 3, "\"}\n");
	const char *body = strstr(out, "\"msg\":\"");
	cr_assert_not_null(body);
	body += strlen("\"msg\":\"");
	size_t len = (size_t)(out + n - 3 - body);
	cr_expect_gt(len, 1900);
	cr_expect_eq(len % 2, 0, "a half escape was written: %zu bytes", len);
	for (size_t i = 0; i < len; i += 2) {
		cr_assert(body[i] == '\\' && body[i + 1] == '"', "at %zu", i);
	}
}

Test(log, json_cut_never_splits_a_unicode_escape, .fini = fini)
{
	capture();
	rs_log_set_format(RS_LOG_FORMAT_JSON);
	char msg[1501];
	memset(msg, '\x02', 1500);
	msg[1500] = '\0';
	rs_log_info("%s", msg);
	const char *out = captured();
	const char *body = strstr(out, "\"msg\":\"") + strlen("\"msg\":\"");
	size_t len = strlen(body) - 3;
	cr_expect_eq(len % 6, 0, "%zu", len);
	cr_expect_str_eq(body + len, "\"}\n");
}

Test(log, text_message_too_long_is_cut_to_one_line, .fini = fini)
{
	capture();
	rs_log_set_format(RS_LOG_FORMAT_TEXT);
	char msg[3000];
	memset(msg, 'x', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	rs_log_info("%s", msg);
	const char *out = captured();
	cr_expect_eq(count_lines(out), 1);
	cr_expect_leq(strlen(out), 2048);
	cr_expect_eq(out[strlen(out) - 1], '\n');
	/* The message buffer holds 1,535 characters; all of them fit the line. */
	cr_expect_eq(strspn(strstr(out, "xxx"), "x"), 1535);
}

Test(log, message_that_cannot_be_formatted_is_logged_empty, .fini = fini)
{
	capture();
	rs_log_set_format(RS_LOG_FORMAT_JOURNAL);
	/* In the C locale a wide character above 0x7f has no encoding:
	 * vsnprintf() fails with EILSEQ. */
	const wchar_t wide[] = {0x100, 0};
	rs_log_error("%ls", wide);
	cr_expect_str_eq(captured(), "<3>\n");
}

Test(log, lines_above_the_level_are_not_written, .fini = fini)
{
	capture();
	rs_log_set_format(RS_LOG_FORMAT_JOURNAL);
	cr_expect(rs_log_enabled(RS_LOG_INFO));
	cr_expect_not(rs_log_enabled(RS_LOG_DEBUG));
	rs_log_set_level(RS_LOG_WARNING);
	cr_expect_not(rs_log_enabled(RS_LOG_NOTICE));
	cr_expect(rs_log_enabled(RS_LOG_ERROR));
	rs_log_info("no");
	rs_log_notice("no");
	rs_log_warning("yes");
	rs_log_debug("no");
	cr_expect_str_eq(captured(), "<4>yes\n");
}

Test(log, held_lines_are_written_at_release_in_order_filtered, .fini = fini)
{
	capture();
	rs_log_set_format(RS_LOG_FORMAT_JOURNAL);
	rs_log_hold();
	rs_log_info("opened a");
	rs_log_warning("odd b");
	rs_log_info("opened c");
	rs_log_error("bad d");
	cr_expect_str_eq(captured(), "");
	rs_log_release(RS_LOG_WARNING);
	cr_expect_str_eq(captured(), "<4>odd b\n<3>bad d\n");
	rs_log_info("after");
	cr_expect_str_eq(captured(), "<4>odd b\n<3>bad d\n<6>after\n");
	/* A second release has nothing left to write. */
	rs_log_release(RS_LOG_DEBUG);
	cr_expect_str_eq(captured(), "<4>odd b\n<3>bad d\n<6>after\n");
}

Test(log, release_at_debug_writes_every_held_line, .fini = fini)
{
	capture();
	rs_log_set_format(RS_LOG_FORMAT_JOURNAL);
	rs_log_hold();
	rs_log_info("a");
	rs_log_notice("b");
	rs_log_release(RS_LOG_DEBUG);
	cr_expect_str_eq(captured(), "<6>a\n<5>b\n");
}

Test(log, too_many_held_lines_are_written_at_once_and_holding_ends, .fini = fini)
{
	capture();
	rs_log_set_format(RS_LOG_FORMAT_JOURNAL);
	rs_log_hold();
	for (int i = 0; i < 64; i++) {
		rs_log_info("line %d", i);
	}
	cr_expect_str_eq(captured(), "", "64 lines fit");
	rs_log_info("line 64");
	const char *out = captured();
	cr_expect_eq(count_lines(out), 65);
	cr_expect(matches(out, "^<6>line 0\n<6>line 1\n"));
	cr_expect(matches(out, "<6>line 63\n<6>line 64\n$"));
	rs_log_info("line 65");
	cr_expect_eq(count_lines(captured()), 66, "no longer holding");
	/* A release after the overflow drops nothing and repeats nothing. */
	rs_log_release(RS_LOG_ERROR);
	cr_expect_eq(count_lines(captured()), 66);
}

Test(log, too_many_held_bytes_are_written_at_once_in_order, .fini = fini)
{
	capture();
	rs_log_set_format(RS_LOG_FORMAT_JOURNAL);
	char big[1501];
	memset(big, 'y', 1500);
	big[1500] = '\0';
	rs_log_hold();
	/* Each line is 1,505 bytes: ten fit the 16 KiB buffer, the 11th does not. */
	for (int i = 0; i < 10; i++) {
		rs_log_info("%d%s", i, big);
	}
	cr_expect_str_eq(captured(), "");
	rs_log_info("%d%s", 10, big);
	const char *out = captured();
	cr_expect_eq(count_lines(out), 11);
	cr_expect(matches(out, "^<6>0y"));
	cr_expect(matches(out, "\n<6>10y+\n$"));
}
