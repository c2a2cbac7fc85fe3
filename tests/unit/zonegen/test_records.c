#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zonegen/records.h"

Test(records, origin_ttl_and_presentation)
{
	struct zg_records r;
	struct zg_diag d;
	zg_records_init(&r);
	zg_diag_init(&d, NULL);
	const char *text = "; hand records\n"
			   "www 300 IN CNAME web\n"
			   "$TTL 60\n"
			   "MAIL IN MX 10 mx1\n"
			   "$ORIGIN other.example.net.\n"
			   "txt IN TXT \"a b\" \"c\"\n"
			   "big IN TXT ( \"one\"\n"
			   "             \"two\" )\n";
	cr_assert_eq(zg_records_parse(&r, "f.zone", text, strlen(text), "ash2.example.net.", 3600,
				     &d),
			0);
	cr_assert_eq(d.errors, 0, "%s", d.first);
	cr_assert_eq(r.n, 4);
	cr_expect_str_eq(r.recs[0].owner, "www.ash2.example.net.");
	cr_expect_str_eq(r.recs[0].type_name, "CNAME");
	cr_expect_str_eq(r.recs[0].target, "web.ash2.example.net.");
	cr_expect_eq(r.recs[0].ttl, 300);
	cr_expect_eq(r.recs[0].line, 2);
	cr_expect_str_eq(r.recs[1].owner, "mail.ash2.example.net.", "owners are lower-cased");
	cr_expect_str_eq(r.recs[1].rdata, "10 mx1.ash2.example.net.");
	cr_expect_eq(r.recs[1].ttl, 60);
	cr_expect_str_eq(r.recs[2].owner, "txt.other.example.net.");
	cr_expect_str_eq(r.recs[2].rdata, "\"a b\" \"c\"");
	cr_expect_eq(r.recs[2].rdlen, 4 + 2);
	cr_expect_null(r.recs[2].target);
	cr_expect_eq(r.recs[3].line, 7, "a multi-line record keeps its first line");
	zg_records_deinit(&r);
	zg_records_deinit(NULL);
}

Test(records, directory_files_in_order_with_their_origin)
{
	char dir[] = "/tmp/zg-test-records.XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[256];
	const char *files[][2] = {
			{"b.zone", "x IN A 10.0.0.2\n"},
			{"ash2.example.net.zone", "x IN A 10.0.0.1\n"},
			{"notes~", "garbage\n"},
			{".hidden", "garbage\n"},
	};
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i][0]);
		FILE *f = fopen(path, "w");
		fputs(files[i][1], f);
		fclose(f);
	}
	struct zg_records r;
	struct zg_diag d;
	zg_records_init(&r);
	zg_diag_init(&d, NULL);
	cr_assert_eq(zg_records_load_dir(&r, dir, "example.net.", 3600, &d), 0);
	cr_assert_eq(d.errors, 0, "%s", d.first);
	cr_assert_eq(r.n, 2);
	cr_expect_str_eq(r.recs[0].owner, "x.ash2.example.net.", "named after its zone");
	cr_expect_str_eq(r.recs[1].owner, "x.example.net.", "any other file: the domain");
	cr_expect_not_null(strstr(r.recs[0].file, "ash2.example.net.zone"));
	zg_records_deinit(&r);
	struct zg_records r2;
	zg_records_init(&r2);
	cr_expect_lt(zg_records_load_dir(&r2, "/nonexistent-zg", "example.net.", 3600, &d), 0);
	cr_expect_not_null(strstr(d.last, "--records /nonexistent-zg"));
	zg_records_deinit(&r2);
}

/* The default $ORIGIN a file's name gives its records: the name without
 * ".zone" when it is the domain or a name under it (at a label boundary,
 * canonical), else the domain. */
struct origin_case {
	char file[80];
	char owner[80]; /* of "x" in that file; "" when the file is skipped */
};

ParameterizedTestParameters(records, a_file_name_gives_the_origin)
{
	static struct origin_case cases[] = {
			{"example.net.zone", "x.example.net."},
			{"EXAMPLE.Net.zone", "x.example.net."},
			{"lon6.example.net", "x.lon6.example.net."},
			{"_tcp.lon6.example.net.zone", "x._tcp.lon6.example.net."},
			{"badexample.net.zone", "x.example.net."},
			{"other.org.zone", "x.example.net."},
			{"zone", "x.example.net."},
			{"a..b.example.net.zone", "x.example.net."},
			{"net.zone", "x.example.net."},
			{"backup~", ""},
			{".example.net.zone", ""},
	};
	return cr_make_param_array(struct origin_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct origin_case *c, records, a_file_name_gives_the_origin)
{
	char dir[] = "/tmp/zg-test-origin.XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, c->file);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("x IN TXT \"t\"\n", f);
	fclose(f);
	/* Neither a directory nor a dangling link is read. */
	snprintf(path, sizeof(path), "%s/sub.zone", dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/gone.zone", dir);
	cr_assert_eq(symlink("/nonexistent-zg-target", path), 0);
	struct zg_records r;
	struct zg_diag d;
	zg_records_init(&r);
	zg_diag_init(&d, NULL);
	cr_assert_eq(zg_records_load_dir(&r, dir, "example.net.", 3600, &d), 0);
	cr_expect_eq(d.errors, 0, "%s: %s", c->file, d.first);
	if (c->owner[0] == '\0') {
		cr_expect_eq(r.n, 0, "%s is skipped", c->file);
	} else {
		cr_assert_eq(r.n, 1, "%s", c->file);
		cr_expect_str_eq(r.recs[0].owner, c->owner, "%s", c->file);
	}
	zg_records_deinit(&r);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}
