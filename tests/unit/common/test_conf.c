#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/error.h"

struct seen {
	char text[1024];
	int fail_on_key;
};

static int collect(const char *key, const char *value, unsigned line, void *ud)
{
	struct seen *s = ud;
	if (s->fail_on_key && strcmp(key, "bad") == 0) {
		return RS_EINVAL;
	}
	size_t n = strlen(s->text);
	snprintf(s->text + n, sizeof(s->text) - n, "%u:%s=%s|", line, key, value);
	return 0;
}

static char *write_tmp(const char *content)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/roster-conf-XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	return path;
}

Test(conf, parses_keys_values_comments_and_quotes)
{
	char *path = write_tmp("# comment\n"
			       "site = lon6\n"
			       "\n"
			       "  domain=example.net   # trailing comment\n"
			       "dns = 127.0.0.1:8053\n"
			       "dns = [::1]:8053\n"
			       "motd = \"  has # inside \"\n"
			       "url = a#b\n");
	struct seen s = {{0}, 0};
	char err[256] = "";
	cr_assert_eq(rs_conf_parse_file(path, collect, &s, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(s.text, "2:site=lon6|4:domain=example.net|5:dns=127.0.0.1:8053|"
				 "6:dns=[::1]:8053|7:motd=  has # inside |8:url=a#b|");
	unlink(path);
}

Test(conf, syntax_error_names_file_and_line)
{
	char *path = write_tmp("site = lon6\nthis line has no equals sign\n");
	struct seen s = {{0}, 0};
	char err[256] = "";
	cr_expect_eq(rs_conf_parse_file(path, collect, &s, err, sizeof(err)), RS_ECONF);
	cr_expect(strstr(err, ":2:") != NULL, "%s", err);
	unlink(path);
}

Test(conf, callback_error_stops_and_names_key)
{
	char *path = write_tmp("a = 1\nbad = 2\nc = 3\n");
	struct seen s = {{0}, 1};
	char err[256] = "";
	cr_expect_eq(rs_conf_parse_file(path, collect, &s, err, sizeof(err)), RS_EINVAL);
	cr_expect(strstr(err, "'bad'") != NULL, "%s", err);
	cr_expect_str_eq(s.text, "1:a=1|");
	unlink(path);
}

Test(conf, missing_file_is_an_errno_code)
{
	struct seen s = {{0}, 0};
	char err[256] = "";
	cr_expect_eq(rs_conf_parse_file("/nonexistent/roster.conf", collect, &s, err, sizeof(err)),
			RS_ENOENT);
	cr_expect(strstr(err, "/nonexistent/roster.conf") != NULL);
}
