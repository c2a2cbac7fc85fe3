/* zonegen/run: one run of roster-zonegen against files it cannot use (a
 * missing or unreadable inventory, --out that is a file or cannot be made,
 * a foreign or unreadable zone file in --out, a missing --records dir, a
 * run holding --out), each refused with a message naming the file and with
 * the previous output untouched; and a run with each heap allocation
 * failing in turn (tests/faults/allocfail.h): refused with "out of memory"
 * and the previous output whole, or the very output of a run without
 * failures. All or nothing. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "allocfail.h"
#include "common/file.h"
#include "zonegen/run.h"

static char dir[64];
static char inv_path[128], out_path[128];
static char err_text[8192];

static const char FLEET[] =
		"{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.2.0.1\", \"ipv6\": \"2001:db8:2::1\"}\n"
		"{\"name\": \"ash2-web-a2\", \"ipv4\": \"10.2.0.2\"}\n"
		"{\"name\": \"lon6-db-a1\", \"ipv4\": \"10.6.0.1\"}\n";
static const char MORE[] = "{\"name\": \"lon6-db-a2\", \"ipv4\": \"10.6.0.2\"}\n";

static void write_file(const char *path, const char *text, const char *mode)
{
	FILE *f = fopen(path, mode);
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

static void setup(void)
{
	/* tmpfs where there is one: the runs fsync every file they write. */
	strcpy(dir, "/dev/shm/test_zg_run_XXXXXX");
	if (mkdtemp(dir) == NULL) {
		strcpy(dir, "/tmp/test_zg_run_XXXXXX");
		cr_assert_not_null(mkdtemp(dir));
	}
	snprintf(inv_path, sizeof(inv_path), "%s/inv.jsonl", dir);
	snprintf(out_path, sizeof(out_path), "%s/out", dir);
	write_file(inv_path, FLEET, "w");
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(zg_run, .init = setup, .fini = teardown);

static void config(struct zg_run_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->domain, sizeof(c->domain), "example.net.");
	c->out = out_path;
	c->inventory[0] = inv_path;
	c->ninventory = 1;
	snprintf(c->ns_buf[0], sizeof(c->ns_buf[0]), "ns1.example.net.");
	c->ns[0] = c->ns_buf[0];
	c->nns = 1;
	snprintf(c->hostmaster, sizeof(c->hostmaster), "hostmaster.example.net.");
	c->ttl = 3600;
	c->v4_prefix = 16;
	c->v6_prefix = 48;
	c->serial_given = true;
	c->serial = 2026120701;
	c->max_drop = 100;
	c->quiet = true;
}

/* Run; what it wrote to stderr is in err_text. */
static int run(const struct zg_run_config *c)
{
	FILE *out = tmpfile(), *err = tmpfile();
	cr_assert(out != NULL && err != NULL);
	int ex = zg_run(c, out, err);
	rewind(err);
	size_t n = fread(err_text, 1, sizeof(err_text) - 1, err);
	err_text[n] = '\0';
	fclose(out);
	fclose(err);
	return ex;
}

/* Every file of @p path with its content, sorted by name; "" if absent. */
static char *snapshot(const char *path)
{
	char *text = NULL;
	size_t len = 0;
	FILE *s = open_memstream(&text, &len);
	struct dirent **names;
	int n = scandir(path, &names, NULL, alphasort);
	for (int k = 0; k < n; k++) {
		char file[512];
		snprintf(file, sizeof(file), "%s/%s", path, names[k]->d_name);
		struct stat st;
		if (names[k]->d_name[0] != '.' && stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
			fprintf(s, "== %s\n", names[k]->d_name);
			FILE *f = fopen(file, "r");
			char buf[4096];
			size_t got;
			while ((got = fread(buf, 1, sizeof(buf), f)) > 0) {
				fwrite(buf, 1, got, s);
			}
			fclose(f);
		} else if (names[k]->d_name[0] == '.' && strstr(names[k]->d_name, ".tmp") != NULL) {
			fprintf(s, "== leftover %s\n", names[k]->d_name);
		}
		free(names[k]);
	}
	if (n >= 0) {
		free(names);
	}
	fclose(s);
	return text;
}

Test(zg_run, a_clean_run_writes_every_zone_and_include)
{
	struct zg_run_config c;
	config(&c);
	cr_assert_eq(run(&c), ZG_EXIT_OK, "%s", err_text);
	char *s = snapshot(out_path);
	cr_expect_not_null(strstr(s, "== ash2.example.net.zone\n"), "%s", s);
	cr_expect_not_null(strstr(s, "== roles.lon6.example.net.zone\n"), "%s", s);
	cr_expect_not_null(strstr(s, "2026120701"), "the serial given");
	/* A second run changes nothing. */
	cr_assert_eq(run(&c), ZG_EXIT_OK, "%s", err_text);
	char *again = snapshot(out_path);
	cr_expect_str_eq(again, s);
	free(s);
	free(again);
}

Test(zg_run, a_missing_inventory_is_refused_naming_it)
{
	struct zg_run_config c;
	config(&c);
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/missing.jsonl", dir);
	c.inventory[0] = missing;
	cr_expect_eq(run(&c), ZG_EXIT_REFUSED);
	char want[256];
	snprintf(want, sizeof(want), "--inventory %s: No such file or directory", missing);
	cr_expect_not_null(strstr(err_text, want), "%s", err_text);
	cr_expect_not_null(strstr(err_text, "nothing written"), "%s", err_text);
	struct stat st;
	cr_expect_neq(stat(out_path, &st), 0, "--out is not even made");
}

Test(zg_run, an_inventory_that_is_a_directory_is_refused)
{
	struct zg_run_config c;
	config(&c);
	c.inventory[0] = dir;
	cr_expect_eq(run(&c), ZG_EXIT_REFUSED);
	char want[256];
	snprintf(want, sizeof(want), "--inventory %s: ", dir);
	cr_expect_not_null(strstr(err_text, want), "%s", err_text);
}

Test(zg_run, out_that_is_a_file_is_refused_and_left_alone)
{
	struct zg_run_config c;
	config(&c);
	c.out = inv_path;
	cr_expect_eq(run(&c), ZG_EXIT_REFUSED);
	char want[256];
	snprintf(want, sizeof(want), "--out %s: Not a directory", inv_path);
	cr_expect_not_null(strstr(err_text, want), "%s", err_text);
	char *s = snapshot(dir);
	cr_expect_not_null(strstr(s, FLEET), "the inventory is untouched");
	free(s);
}

Test(zg_run, out_under_a_missing_parent_cannot_be_made)
{
	struct zg_run_config c;
	config(&c);
	char deep[160];
	snprintf(deep, sizeof(deep), "%s/no/such/out", dir);
	c.out = deep;
	cr_expect_eq(run(&c), ZG_EXIT_REFUSED);
	char want[256];
	snprintf(want, sizeof(want), "cannot create --out %s: No such file or directory", deep);
	cr_expect_not_null(strstr(err_text, want), "%s", err_text);
}

Test(zg_run, a_check_run_writes_nothing_even_where_out_is_missing)
{
	struct zg_run_config c;
	config(&c);
	c.check = true;
	cr_expect_eq(run(&c), ZG_EXIT_OK, "%s", err_text);
	struct stat st;
	cr_expect_neq(stat(out_path, &st), 0);
}

Test(zg_run, a_foreign_zone_file_is_never_overwritten)
{
	struct zg_run_config c;
	config(&c);
	cr_assert_eq(mkdir(out_path, 0755), 0);
	char zone[200];
	snprintf(zone, sizeof(zone), "%s/ash2.example.net.zone", out_path);
	write_file(zone, "; hand-made\n@ IN SOA a. b. 1 2 3 4 5\n", "w");
	cr_expect_eq(run(&c), ZG_EXIT_REFUSED);
	cr_expect_not_null(strstr(err_text, "exists but is not a roster-zonegen zone file"), "%s",
			err_text);
	char *s = snapshot(out_path);
	cr_expect_str_eq(s, "== ash2.example.net.zone\n; hand-made\n@ IN SOA a. b. 1 2 3 4 5\n",
			"nothing else written");
	free(s);
}

Test(zg_run, a_zone_path_that_is_a_directory_cannot_be_read)
{
	struct zg_run_config c;
	config(&c);
	cr_assert_eq(mkdir(out_path, 0755), 0);
	char zone[200];
	snprintf(zone, sizeof(zone), "%s/ash2.example.net.zone", out_path);
	cr_assert_eq(mkdir(zone, 0755), 0);
	cr_expect_eq(run(&c), ZG_EXIT_REFUSED);
	char want[256];
	snprintf(want, sizeof(want), "cannot read %s: ", zone);
	cr_expect_not_null(strstr(err_text, want), "%s", err_text);
}

Test(zg_run, a_missing_records_dir_is_refused)
{
	struct zg_run_config c;
	config(&c);
	char none[160];
	snprintf(none, sizeof(none), "%s/records", dir);
	c.records = none;
	cr_expect_eq(run(&c), ZG_EXIT_REFUSED);
	cr_expect_not_null(strstr(err_text, none), "%s", err_text);
}

Test(zg_run, a_second_run_on_the_same_out_is_refused)
{
	struct zg_run_config c;
	config(&c);
	cr_assert_eq(run(&c), ZG_EXIT_OK, "%s", err_text);
	int fd;
	cr_assert_eq(rs_dir_lock(out_path, true, &fd), 0);
	cr_expect_eq(run(&c), ZG_EXIT_REFUSED);
	cr_expect_not_null(
			strstr(err_text, "another roster-zonegen run is using it"), "%s", err_text);
	close(fd);
}

/* Each allocation of a run that changes two zones fails in turn: refused
 * with "out of memory" and the previous output as it was, or the output
 * of a run without failures. */
Test(zg_run, each_allocation_failing_leaves_the_output_whole)
{
	struct zg_run_config c;
	config(&c);
	/* The reference: the second run's output, without failures. */
	cr_assert_eq(run(&c), ZG_EXIT_OK, "%s", err_text);
	char *before = snapshot(out_path);
	write_file(inv_path, MORE, "a");
	cr_assert_eq(run(&c), ZG_EXIT_OK, "%s", err_text);
	char *after = snapshot(out_path);
	cr_assert_str_neq(before, after);
	int refused = 0;
	for (size_t k = 1;; k++) {
		cr_assert_lt(k, 3000);
		/* Back to the first output. */
		char cmd[200];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", out_path);
		cr_assert_eq(system(cmd), 0);
		write_file(inv_path, FLEET, "w");
		cr_assert_eq(run(&c), ZG_EXIT_OK, "%s", err_text);
		write_file(inv_path, MORE, "a");
		allocfail_arm(k);
		int ex = run(&c);
		bool struck = allocfail_struck();
		allocfail_disarm();
		char *now = snapshot(out_path);
		if (ex == ZG_EXIT_OK) {
			cr_assert_str_eq(now, after, "allocation %zu: different output", k);
		} else {
			cr_assert_not_null(strstr(err_text, "out of memory"), "allocation %zu: %s",
					k, err_text);
			cr_assert_str_eq(now, before, "allocation %zu: the output changed", k);
			refused++;
		}
		free(now);
		if (!struck) {
			cr_assert_eq(ex, ZG_EXIT_OK);
			break;
		}
	}
	cr_expect_geq(refused, 20);
	free(before);
	free(after);
}
