/* common/file: atomic replacement (stage, commit, discard) and its failures
 * (a path too long, a missing directory, a write cut short by the file size
 * limit, a rename that cannot happen), directory sync and locks. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/file.h"

static char dir[64];

static void setup(void)
{
	/* tmpfs where there is one: every replacement fsyncs. */
	strcpy(dir, "/dev/shm/test_file_XXXXXX");
	if (mkdtemp(dir) == NULL) {
		strcpy(dir, "/tmp/test_file_XXXXXX");
		cr_assert_not_null(mkdtemp(dir));
	}
	umask(022);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

static char *path_in(const char *name)
{
	static char p[2][PATH_MAX];
	static int k;
	k ^= 1;
	snprintf(p[k], PATH_MAX, "%s/%s", dir, name);
	return p[k];
}

/* The content of @p name in the test's directory, or NULL if it is absent. */
static const char *slurp(const char *name)
{
	static char text[8192];
	int fd = open(path_in(name), O_RDONLY);
	if (fd < 0) {
		return NULL;
	}
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	cr_assert_geq(n, 0);
	text[n] = '\0';
	return text;
}

static bool exists(const char *name)
{
	struct stat st;
	return stat(path_in(name), &st) == 0;
}

static void put(const char *name, const char *text)
{
	struct iovec part = {(void *)text, strlen(text)};
	cr_assert_eq(rs_file_replace(dir, name, &part, 1, 0644), 0);
}

TestSuite(file, .init = setup, .fini = teardown);

Test(file, replace_writes_the_parts_in_order_with_the_mode)
{
	struct iovec parts[] = {{"zone ", 5}, {"", 0}, {"body\n", 5}};
	cr_assert_eq(rs_file_replace(dir, "z.zone", parts, 3, 0640), 0);
	cr_expect_str_eq(slurp("z.zone"), "zone body\n");
	struct stat st;
	cr_assert_eq(stat(path_in("z.zone"), &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0640);
	cr_expect_not(exists(".z.zone.tmp"), "the temporary file is gone");
}

Test(file, replace_swaps_the_whole_content)
{
	put("f", "old content, longer than the new\n");
	put("f", "new\n");
	cr_expect_str_eq(slurp("f"), "new\n");
}

Test(file, stage_leaves_the_old_file_until_commit)
{
	put("f", "old\n");
	struct iovec part = {"new\n", 4};
	cr_assert_eq(rs_file_stage(dir, "f", &part, 1, 0644), 0);
	cr_expect_str_eq(slurp("f"), "old\n");
	cr_expect_str_eq(slurp(".f.tmp"), "new\n");
	cr_assert_eq(rs_file_commit(dir, "f"), 0);
	cr_expect_str_eq(slurp("f"), "new\n");
	cr_expect_not(exists(".f.tmp"));
}

Test(file, discard_removes_the_staged_file_and_keeps_the_old)
{
	put("f", "old\n");
	struct iovec part = {"new\n", 4};
	cr_assert_eq(rs_file_stage(dir, "f", &part, 1, 0644), 0);
	rs_file_discard(dir, "f");
	cr_expect_not(exists(".f.tmp"));
	cr_expect_str_eq(slurp("f"), "old\n");
	/* Nothing staged: a no-op. */
	rs_file_discard(dir, "f");
	cr_expect_str_eq(slurp("f"), "old\n");
}

Test(file, commit_without_a_staged_file_is_enoent)
{
	put("f", "old\n");
	cr_expect_eq(rs_file_commit(dir, "f"), -ENOENT);
	cr_expect_str_eq(slurp("f"), "old\n");
}

Test(file, a_path_too_long_is_erange_and_touches_nothing)
{
	char name[PATH_MAX];
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	struct iovec part = {"x", 1};
	cr_expect_eq(rs_file_stage(dir, name, &part, 1, 0644), RS_ERANGE);
	cr_expect_eq(rs_file_replace(dir, name, &part, 1, 0644), RS_ERANGE);
	cr_expect_eq(rs_file_commit(dir, name), RS_ERANGE);
	rs_file_discard(dir, name);
	/* The temporary name is the longer: a name whose temporary path is
	 * just too long is refused although its final path would fit. */
	size_t fit = PATH_MAX - 1 - strlen(dir) - strlen("/.") - strlen(".tmp");
	name[fit + 1] = '\0';
	cr_expect_eq(rs_file_stage(dir, name, &part, 1, 0644), RS_ERANGE);
	cr_expect_eq(rs_file_commit(dir, name), RS_ERANGE);
}

Test(file, stage_in_a_missing_directory_is_enoent)
{
	char missing[PATH_MAX];
	snprintf(missing, sizeof(missing), "%s/no/such", dir);
	struct iovec part = {"x", 1};
	cr_expect_eq(rs_file_stage(missing, "f", &part, 1, 0644), -ENOENT);
	cr_expect_eq(rs_file_replace(missing, "f", &part, 1, 0644), -ENOENT);
}

Test(file, a_write_cut_short_leaves_the_old_file_and_no_temporary)
{
	put("f", "old\n");
	/* The file size limit makes the kernel write part of a buffer, then
	 * refuse the rest with EFBIG (SIGXFSZ ignored), as a full disk would. */
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit rl = {100, 100};
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	char big[300];
	memset(big, 'b', sizeof(big));
	struct iovec parts[] = {{"head\n", 5}, {big, sizeof(big)}};
	cr_expect_eq(rs_file_replace(dir, "f", parts, 2, 0644), -EFBIG);
	cr_expect_str_eq(slurp("f"), "old\n");
	cr_expect_not(exists(".f.tmp"));
	cr_expect_eq(rs_file_stage(dir, "g", parts, 2, 0644), -EFBIG);
	cr_expect_not(exists(".g.tmp"));
	cr_expect_not(exists("g"));
}

Test(file, a_rename_that_fails_discards_the_staged_file)
{
	/* A non-empty directory where the file should go: rename(2) refuses. */
	cr_assert_eq(mkdir(path_in("f"), 0755), 0);
	cr_assert_eq(mkdir(path_in("f/sub"), 0755), 0);
	struct iovec part = {"new\n", 4};
	cr_expect_eq(rs_file_replace(dir, "f", &part, 1, 0644), -EISDIR);
	cr_expect_not(exists(".f.tmp"));
	cr_expect(exists("f/sub"));
	/* By halves, the staged file stays for the caller to discard. */
	cr_assert_eq(rs_file_stage(dir, "f", &part, 1, 0644), 0);
	cr_expect_eq(rs_file_commit(dir, "f"), -EISDIR);
	cr_expect(exists(".f.tmp"));
}

Test(file, dir_sync_needs_an_existing_directory)
{
	cr_expect_eq(rs_dir_sync(dir), 0);
	cr_expect_eq(rs_dir_sync(path_in("missing")), -ENOENT);
	put("f", "x");
	cr_expect_eq(rs_dir_sync(path_in("f")), -ENOTDIR);
}

Test(file, an_exclusive_lock_keeps_every_other_holder_out)
{
	int a, b;
	cr_assert_eq(rs_dir_lock(dir, true, &a), 0);
	cr_expect_geq(a, 0);
	/* flock(2) locks belong to the open file: a second open is another
	 * holder, as another process would be. */
	cr_expect_eq(rs_dir_lock(dir, true, &b), RS_EBUSY);
	cr_expect_eq(b, -1);
	cr_expect_eq(rs_dir_lock(dir, false, &b), RS_EBUSY);
	cr_expect_eq(b, -1);
	close(a);
	cr_expect_eq(rs_dir_lock(dir, true, &b), 0, "closing releases the lock");
	close(b);
}

Test(file, shared_locks_coexist_and_keep_an_exclusive_one_out)
{
	int a, b, c;
	cr_assert_eq(rs_dir_lock(dir, false, &a), 0);
	cr_assert_eq(rs_dir_lock(dir, false, &b), 0);
	cr_expect_eq(rs_dir_lock(dir, true, &c), RS_EBUSY);
	close(a);
	close(b);
	cr_expect_eq(rs_dir_lock(dir, true, &c), 0);
	close(c);
}

Test(file, lock_of_a_missing_or_non_directory_fails)
{
	int fd;
	cr_expect_eq(rs_dir_lock(path_in("missing"), true, &fd), -ENOENT);
	cr_expect_eq(fd, -1);
	put("f", "x");
	cr_expect_eq(rs_dir_lock(path_in("f"), true, &fd), -ENOTDIR);
	cr_expect_eq(fd, -1);
}
