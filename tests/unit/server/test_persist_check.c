/* persist_check.c and persist_files.c: the damage check, backup, prune,
 * restore and reset on real LMDB files. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "server/registry/persist.h"

static char *tmpdir(void)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/roster-check-XXXXXX");
	cr_assert_not_null(mkdtemp(path));
	return path;
}

static void rmrf(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

/* A store in @p dir opened by persist (marker and all), then @p n raw
 * records of 100 bytes put into its instances database. */
static void make_store(const char *dir, int n)
{
	struct persist *p;
	char err[512];
	cr_assert_eq(persist_open(dir, 64 << 20, 64 << 20, &p, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(persist_close(p), 0);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 4), 0);
	cr_assert_eq(mdb_env_set_mapsize(env, 64 << 20), 0);
	cr_assert_eq(mdb_env_open(env, dir, 0, 0640), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "instances", 0, &dbi), 0);
	uint8_t val[100];
	memset(val, 0x5a, sizeof(val));
	for (int k = 1; k <= n; k++) {
		uint8_t key[8];
		for (int b = 0; b < 8; b++) {
			key[b] = (uint8_t)((uint64_t)k >> (56 - 8 * b));
		}
		MDB_val kv = {8, key}, vv = {sizeof(val), val};
		cr_assert_eq(mdb_put(txn, dbi, &kv, &vv, MDB_APPEND), 0);
	}
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void path_of(char *out, size_t n, const char *dir, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static void overwrite(const char *file, off_t at, const void *bytes, size_t len)
{
	int fd = open(file, O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, bytes, len, at), (ssize_t)len);
	close(fd);
}

Test(persist_check, a_sound_store_passes_with_every_record_counted)
{
	char *dir = tmpdir();
	make_store(dir, 20000);
	char data[128], err[1024];
	path_of(data, sizeof(data), dir, "data.mdb");
	struct persist_check_stats st;
	cr_assert_eq(persist_check_file(data, &st, err, sizeof(err)), 0, "%s", err);
	cr_expect_geq(st.entries, 20000);
	cr_expect_gt(st.pages, 2);
	char note[256];
	cr_assert_eq(persist_check_dir(dir, &st, note, sizeof(note), err, sizeof(err)), 0, "%s",
			err);
	cr_expect_str_empty(note);
	rmrf(dir);
}

Test(persist_check, a_new_directory_is_a_new_store)
{
	char *dir = tmpdir();
	char note[256], err[1024];
	struct persist_check_stats st;
	cr_assert_eq(persist_check_dir(dir, &st, note, sizeof(note), err, sizeof(err)), 0, "%s",
			err);
	cr_expect_eq(st.file_bytes, 0);
	rmrf(dir);
}

/* Each damage: what is done to the file, and a word the message must hold. */
struct damage {
	const char *name;
	void (*apply)(const char *file);
	const char *word;
};

static void truncate_half(const char *file)
{
	struct stat sb;
	cr_assert_eq(stat(file, &sb), 0);
	cr_assert_eq(truncate(file, sb.st_size / 2), 0);
}

static void meta0_magic(const char *file)
{
	overwrite(file, 16, "\0\0\0\0", 4);
}

static void meta1_version(const char *file)
{
	overwrite(file, 4096 + 20, "\x07\0\0\0", 4);
}

static void random_block(const char *file)
{
	struct stat sb;
	cr_assert_eq(stat(file, &sb), 0);
	uint8_t junk[4096];
	srand(7);
	for (size_t k = 0; k < sizeof(junk); k++) {
		junk[k] = (uint8_t)rand();
	}
	overwrite(file, sb.st_size / 2 / 4096 * 4096, junk, sizeof(junk));
}

static void zero_leaf(const char *file)
{
	uint8_t zero[4096] = {0};
	overwrite(file, 4096 * 10, zero, sizeof(zero));
}

/* A leaf's first node claims a value larger than its page: reads look fine,
 * a delete of that record would move memory past the page. */
static void node_size(const char *file)
{
	int fd = open(file, O_RDWR);
	cr_assert_geq(fd, 0);
	for (off_t pg = 10; pg < 200; pg++) {
		uint8_t hdr[18];
		cr_assert_eq(pread(fd, hdr, sizeof(hdr), pg * 4096), (ssize_t)sizeof(hdr));
		uint16_t flags, ptr;
		memcpy(&flags, hdr + 10, 2);
		memcpy(&ptr, hdr + 16, 2);
		if (flags == 0x02) { /* a plain leaf */
			uint16_t big = 0x7fff;
			cr_assert_eq(pwrite(fd, &big, 2, pg * 4096 + ptr), 2);
			close(fd);
			return;
		}
	}
	cr_assert_fail("no leaf page found");
}

static void tiny(const char *file)
{
	cr_assert_eq(truncate(file, 100), 0);
}

/* Both meta pages alike, so that whichever is current holds the damage. */
static void both_metas(const char *file, off_t at, const void *bytes, size_t len)
{
	overwrite(file, at, bytes, len);
	overwrite(file, 4096 + at, bytes, len);
}

static void meta_page_size(const char *file)
{
	both_metas(file, 40, "\xe8\x03\0\0", 4); /* 1000: not a power of two */
}

static void meta_flags(const char *file)
{
	overwrite(file, 10, "\x01\0", 2); /* a branch page's flags on meta page 0 */
}

static void meta_last_page(const char *file)
{
	both_metas(file, 136, "\xff\xff\xff\xff\xff\xff\xff\x7f", 8);
}

static void meta_root(const char *file)
{
	both_metas(file, 128, "\x01\0\0\0\0\0\0\0", 8); /* page 1: a meta page */
}

static void meta1_cut(const char *file)
{
	cr_assert_eq(truncate(file, 4096 + 100), 0);
}

static void meta_page_size_small(const char *file)
{
	both_metas(file, 40, "\0\x01\0\0", 4); /* 256: a power of two, too small */
}

static void meta_page_size_large(const char *file)
{
	both_metas(file, 40, "\0\0\x02\0", 4); /* 131072: too large */
}

static void meta_root_past_last(const char *file)
{
	both_metas(file, 128, "\0\0\0\x10\0\0\0\0", 8); /* page 2^28 */
}

/* ---- damage only LMDB's own reads find (the page walk passes it) ---- */

/* The data file in memory: read whole, changed, written back. */
struct image {
	uint8_t *b;
	size_t len;
	uint64_t meta; /* the current meta page */
};

static void image_load(const char *file, struct image *im)
{
	struct stat sb;
	cr_assert_eq(stat(file, &sb), 0);
	im->len = (size_t)sb.st_size;
	im->b = malloc(im->len);
	cr_assert_not_null(im->b);
	int fd = open(file, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, im->b, im->len, 0), (ssize_t)im->len);
	close(fd);
	uint64_t t0, t1;
	memcpy(&t0, im->b + 144, 8);
	memcpy(&t1, im->b + 4096 + 144, 8);
	im->meta = t1 > t0 ? 1 : 0;
}

static void image_store(const char *file, struct image *im)
{
	overwrite(file, 0, im->b, im->len);
	free(im->b);
}

static uint16_t im16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static uint8_t *im_node(struct image *im, uint64_t pg, unsigned i)
{
	uint8_t *page = im->b + pg * 4096;
	return page + im16(page + 16 + 2 * i);
}

static unsigned im_nodes(struct image *im, uint64_t pg)
{
	return (im16(im->b + pg * 4096 + 12) - 16u) / 2u;
}

/* A leaf page of instances (8-byte keys, 100-byte values) that is not the
 * first (its first key is not 1). */
static uint64_t im_inst_leaf(struct image *im)
{
	for (uint64_t pg = 2; pg < im->len / 4096; pg++) {
		if (im16(im->b + pg * 4096 + 10) != 0x02 || im_nodes(im, pg) < 2) {
			continue;
		}
		uint8_t *n = im_node(im, pg, 0);
		if (im16(n + 6) == 8 && im16(n) == 100 && n[15] != 1) {
			return pg;
		}
	}
	cr_assert_fail("no leaf of instances");
	return 0;
}

/* The first key of a later leaf made smaller than every key before it:
 * each page is in order, the order across pages is not. */
static void keys_across_pages(const char *file)
{
	struct image im;
	image_load(file, &im);
	memset(im_node(&im, im_inst_leaf(&im), 0) + 8, 0, 8);
	image_store(file, &im);
}

/* The node at the lowest offset of a leaf, its key run on to 600 bytes
 * into its value and past it (inside the page, in order: its first eight
 * bytes stay). LMDB's keys are at most 511 bytes. */
static void key_too_long(const char *file)
{
	struct image im;
	image_load(file, &im);
	uint64_t pg = im_inst_leaf(&im);
	unsigned low = 0;
	for (unsigned i = 1; i < im_nodes(&im, pg); i++) {
		if (im_node(&im, pg, i) < im_node(&im, pg, low)) {
			low = i;
		}
	}
	uint8_t *n = im_node(&im, pg, low);
	cr_assert_geq(im.b + (pg + 1) * 4096 - n, 8 + 600 + 100, "room for the key");
	uint16_t big = 600;
	memcpy(n + 6, &big, 2);
	image_store(file, &im);
}

/* The main database's node of "instances" without its sub-database flag:
 * a plain record to the walk, a database LMDB will not open as one. */
static void subdb_flag_cleared(const char *file)
{
	struct image im;
	image_load(file, &im);
	uint64_t root;
	memcpy(&root, im.b + im.meta * 4096 + 128, 8);
	for (unsigned i = 0; i < im_nodes(&im, root); i++) {
		uint8_t *n = im_node(&im, root, i);
		if (im16(n + 6) == 9 && memcmp(n + 8, "instances", 9) == 0) {
			n[4] &= (uint8_t)~0x02;
			image_store(file, &im);
			return;
		}
	}
	cr_assert_fail("no node of instances");
}

static const struct damage cases[] = {
		{"truncated to half", truncate_half, "truncated"},
		{"meta page 0 magic", meta0_magic, "meta page 0"},
		{"meta page 1 version", meta1_version, "meta page 1"},
		{"4 KiB of random bytes", random_block, ""},
		{"a page zeroed", zero_leaf, ""},
		{"a node's size past its page", node_size, "runs past its page"},
		{"100 bytes", tiny, "meta page 0"},
		{"a page size of 1000", meta_page_size, "page size 1000"},
		{"meta page 0 flags", meta_flags, "flags 0x1"},
		{"a last page past any file", meta_last_page, "last page"},
		{"a root on a meta page", meta_root, "root page 1"},
		{"meta page 1 cut off", meta1_cut, "meta page 1 is cut off"},
		{"a page size of 256", meta_page_size_small, "page size 256"},
		{"a page size of 131072", meta_page_size_large, "page size 131072"},
		{"a root past the last page", meta_root_past_last, "root page 268435456"},
		{"keys out of order across pages", keys_across_pages,
				"keys out of order at record"},
		{"a key of 600 bytes", key_too_long, "keys out of order at record"},
		{"a sub-database node without its flag", subdb_flag_cleared,
				"database instances: MDB_INCOMPATIBLE"},
};

/* The parameter is an index: criterion may run a test in a fresh process
 * of the same binary, where pointers in a parameter would not hold. */
ParameterizedTestParameters(persist_check, damage_is_found_and_named)
{
	static int idx[sizeof(cases) / sizeof(cases[0])];
	for (size_t k = 0; k < sizeof(idx) / sizeof(idx[0]); k++) {
		idx[k] = (int)k;
	}
	return cr_make_param_array(int, idx, sizeof(idx) / sizeof(idx[0]));
}

ParameterizedTest(int *i, persist_check, damage_is_found_and_named)
{
	const struct damage *d = &cases[*i];
	char *dir = tmpdir();
	make_store(dir, 20000);
	char data[128], err[1024];
	path_of(data, sizeof(data), dir, "data.mdb");
	d->apply(data);
	struct persist_check_stats st;
	cr_assert_eq(persist_check_file(data, &st, err, sizeof(err)), RS_ESTORE_DAMAGED,
			"%s: not found damaged (%s)", d->name, err);
	cr_expect_not_null(strstr(err, d->word), "%s: '%s' not in '%s'", d->name, d->word, err);
	/* persist_open refuses it with the one line to print. */
	struct persist *p;
	cr_assert_eq(persist_open(dir, 1 << 20, 1 << 26, &p, err, sizeof(err)), RS_ESTORE_DAMAGED);
	cr_expect_not_null(strstr(err, "data.mdb is damaged"), "%s", err);
	cr_expect_not_null(strstr(err, "--reset-store"), "%s", err);
	cr_expect_null(strchr(err, '\n'), "one line: %s", err);
	rmrf(dir);
}

Test(persist_check, an_empty_or_missing_data_file_where_a_store_was_is_damage)
{
	char *dir = tmpdir();
	make_store(dir, 10);
	char data[128], err[1024], note[256];
	path_of(data, sizeof(data), dir, "data.mdb");
	struct persist_check_stats st;
	cr_assert_eq(truncate(data, 0), 0);
	cr_assert_eq(persist_check_dir(dir, &st, note, sizeof(note), err, sizeof(err)),
			RS_ESTORE_DAMAGED);
	cr_expect_not_null(strstr(err, "empty (0 bytes)"), "%s", err);
	cr_assert_eq(unlink(data), 0);
	cr_assert_eq(persist_check_dir(dir, &st, note, sizeof(note), err, sizeof(err)),
			RS_ESTORE_DAMAGED);
	cr_expect_not_null(strstr(err, "missing"), "%s", err);
	/* --reset-store: empty on purpose. */
	struct persist *p;
	cr_assert_eq(persist_open_flags(dir, 1 << 20, 1 << 26, PERSIST_OPEN_RESET, &p, err,
				     sizeof(err)),
			0, "%s", err);
	cr_expect_not_null(strstr(persist_open_note(p), "--reset-store"));
	cr_assert_eq(persist_close(p), 0);
	rmrf(dir);
}

Test(persist_check, a_damaged_lock_file_nobody_uses_is_moved_aside)
{
	char *dir = tmpdir();
	make_store(dir, 10);
	char lock[128], aside[160], err[1024], note[512];
	path_of(lock, sizeof(lock), dir, "lock.mdb");
	overwrite(lock, 0, "garbage!", 8);
	struct persist_check_stats st;
	cr_assert_eq(persist_check_dir(dir, &st, note, sizeof(note), err, sizeof(err)), 0, "%s",
			err);
	cr_expect_not_null(strstr(note, "was damaged"), "%s", note);
	snprintf(aside, sizeof(aside), "%s.damaged", lock);
	cr_expect_eq(access(aside, F_OK), 0);
	struct persist *p;
	cr_assert_eq(persist_open(dir, 1 << 20, 1 << 26, &p, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(persist_close(p), 0);
	rmrf(dir);
}

Test(persist_check, backup_is_checked_and_restored_and_prune_keeps_the_newest)
{
	char *dir = tmpdir();
	make_store(dir, 5000);
	struct persist *p;
	char err[1024], note[1024], bk[128];
	cr_assert_eq(persist_open(dir, 1 << 20, 1 << 26, &p, err, sizeof(err)), 0, "%s", err);
	uint64_t bytes = 0;
	/* Not among the store's own files: refused, nothing written. */
	path_of(bk, sizeof(bk), dir, "b.mdb");
	cr_expect_eq(persist_backup(p, bk, &bytes, err, sizeof(err)), RS_EINVAL);
	cr_expect_not_null(strstr(err, "in the store's own directory"), "%s", err);
	cr_expect_neq(access(bk, F_OK), 0);
	path_of(bk, sizeof(bk), dir, "data.mdb");
	cr_expect_eq(persist_backup(p, bk, &bytes, err, sizeof(err)), RS_EINVAL);
	/* A directory of its own (here below the store's, which is allowed). */
	path_of(bk, sizeof(bk), dir, "bk");
	cr_assert_eq(mkdir(bk, 0700), 0);
	path_of(bk, sizeof(bk), dir, "bk/b.mdb");
	cr_assert_eq(persist_backup(p, bk, &bytes, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(persist_close(p), 0);
	struct stat sb;
	cr_assert_eq(stat(bk, &sb), 0);
	cr_expect_eq((uint64_t)sb.st_size, bytes);
	struct persist_check_stats st;
	cr_assert_eq(persist_check_file(bk, &st, err, sizeof(err)), 0, "%s", err);
	cr_expect_geq(st.entries, 5000);
	/* Restore into a second directory. */
	char other[128];
	snprintf(other, sizeof(other), "%s/restored", dir);
	cr_assert_eq(persist_restore(other, bk, note, sizeof(note), err, sizeof(err)), 0, "%s",
			err);
	char data[160];
	path_of(data, sizeof(data), other, "data.mdb");
	cr_assert_eq(persist_check_file(data, &st, err, sizeof(err)), 0, "%s", err);
	cr_expect_geq(st.entries, 5000);
	/* Prune: only the schedule's names count, the oldest go. */
	const char *names[] = {"roster-backup-20260101T000000Z.mdb",
			"roster-backup-20260102T000000Z.mdb", "roster-backup-20260103T000000Z.mdb",
			"roster-backup-20260104T000000Z.mdb.tmp-1", "mine.mdb"};
	for (size_t k = 0; k < 5; k++) {
		char f[256];
		snprintf(f, sizeof(f), "%s/%s", dir, names[k]);
		FILE *fp = fopen(f, "w");
		cr_assert_not_null(fp);
		fclose(fp);
	}
	cr_assert_eq(persist_backup_prune(dir, 2), 1);
	char f[256];
	snprintf(f, sizeof(f), "%s/%s", dir, names[0]);
	cr_expect_neq(access(f, F_OK), 0);
	for (size_t k = 1; k < 5; k++) {
		snprintf(f, sizeof(f), "%s/%s", dir, names[k]);
		cr_expect_eq(access(f, F_OK), 0, "%s", names[k]);
	}
	rmrf(dir);
}

Test(persist_check, a_file_that_cannot_be_read_is_named_not_called_damaged)
{
	char *dir = tmpdir();
	char data[128], err[1024], note[256];
	struct persist_check_stats st;
	/* No file: ENOENT, for the caller to decide. */
	path_of(data, sizeof(data), dir, "data.mdb");
	cr_expect_eq(persist_check_file(data, &st, err, sizeof(err)), RS_ENOENT);
	cr_expect_not_null(strstr(err, "cannot open"), "%s", err);
	/* A directory where the data file should be: its read fails. */
	cr_assert_eq(mkdir(data, 0750), 0);
	int rc = persist_check_file(data, &st, err, sizeof(err));
	cr_expect_eq(rc, -EISDIR, "%d: %s", rc, err);
	cr_expect_not_null(strstr(err, "cannot read meta page 0"), "%s", err);
	rc = persist_check_dir(dir, &st, note, sizeof(note), err, sizeof(err));
	cr_expect_eq(rc, -EISDIR);
	cr_expect_not_null(strstr(err, "cannot check"), "%s", err);
	cr_assert_eq(rmdir(data), 0);
	/* A path too long for the files in it. */
	char deep[4200];
	memset(deep, 'd', sizeof(deep) - 1);
	deep[0] = '/';
	deep[sizeof(deep) - 1] = '\0';
	char long_err[4400];
	cr_expect_eq(persist_check_dir(deep, &st, note, sizeof(note), long_err, sizeof(long_err)),
			RS_ERANGE);
	cr_expect_not_null(strstr(long_err, "path too long"));
	cr_expect_eq(persist_marker_write(deep), RS_ERANGE);
	/* An empty lock file nobody uses: LMDB sizes it. */
	make_store(dir, 10);
	char lock[128];
	path_of(lock, sizeof(lock), dir, "lock.mdb");
	cr_assert_eq(truncate(lock, 0), 0);
	cr_expect_eq(persist_check_dir(dir, &st, note, sizeof(note), err, sizeof(err)), 0, "%s",
			err);
	cr_expect_str_empty(note);
	rmrf(dir);
}

/* Another process holding LMDB's lock file (a shared lock on its first
 * byte, as a reader does): a reset and a restore are refused naming it, and
 * so is a damaged lock file, which cannot be rebuilt under it. */
Test(persist_check, a_store_another_process_uses_is_not_reset_restored_or_rebuilt)
{
	char *dir = tmpdir();
	make_store(dir, 10);
	char lock[128], bk[160], err[1024], note[1024];
	path_of(lock, sizeof(lock), dir, "lock.mdb");
	snprintf(bk, sizeof(bk), "%s.bk.mdb", dir);
	struct persist *p;
	cr_assert_eq(persist_open(dir, 1 << 20, 1 << 26, &p, err, sizeof(err)), 0, "%s", err);
	uint64_t bytes;
	cr_assert_eq(persist_backup(p, bk, &bytes, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(persist_close(p), 0);
	int ready[2], stop[2];
	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(stop), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(stop[1]);
		int fd = open(lock, O_RDONLY);
		struct flock fl = {
				.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
		char c = fd >= 0 && fcntl(fd, F_SETLK, &fl) == 0 ? 'y' : 'n';
		(void)!write(ready[1], &c, 1);
		(void)!read(stop[0], &c, 1); /* until the parent closes it */
		_exit(0);
	}
	close(stop[0]);
	char c = 0;
	cr_assert_eq(read(ready[0], &c, 1), 1);
	cr_assert_eq(c, 'y', "the child holds the lock");
	char want[32];
	snprintf(want, sizeof(want), "process %d", (int)pid);
	cr_expect_eq(persist_reset(dir, note, sizeof(note), err, sizeof(err)), RS_EBUSY);
	cr_expect_not_null(strstr(err, want), "%s", err);
	cr_expect_eq(persist_restore(dir, bk, note, sizeof(note), err, sizeof(err)), RS_EBUSY);
	cr_expect_not_null(strstr(err, want), "%s", err);
	overwrite(lock, 0, "garbage!", 8);
	struct persist_check_stats st;
	cr_expect_eq(persist_check_dir(dir, &st, note, sizeof(note), err, sizeof(err)),
			RS_ESTORE_DAMAGED);
	cr_expect_not_null(strstr(err, want), "%s", err);
	/* Zeros where LMDB's magic is, or nothing at all, are a new lock file
	 * only when nobody holds it: here the holder's mutexes would be gone. */
	overwrite(lock, 0, "\0\0\0\0", 4);
	cr_expect_eq(persist_check_dir(dir, &st, note, sizeof(note), err, sizeof(err)),
			RS_ESTORE_DAMAGED);
	cr_expect_not_null(strstr(err, "magic 0x00000000"), "%s", err);
	cr_assert_eq(truncate(lock, 0), 0);
	cr_expect_eq(persist_check_dir(dir, &st, note, sizeof(note), err, sizeof(err)),
			RS_ESTORE_DAMAGED);
	cr_expect_not_null(strstr(err, want), "%s", err);
	overwrite(lock, 0, "garbage!", 8);
	close(stop[1]);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	close(ready[0]);
	close(ready[1]);
	/* Nobody uses it any more: the damaged lock file is moved aside. */
	cr_expect_eq(persist_check_dir(dir, &st, note, sizeof(note), err, sizeof(err)), 0, "%s",
			err);
	cr_expect_not_null(strstr(note, "was damaged"), "%s", note);
	unlink(bk);
	rmrf(dir);
}

Test(persist_check, an_empty_data_file_in_a_new_directory_is_a_new_store)
{
	char *dir = tmpdir();
	char data[128], err[1024], note[256];
	path_of(data, sizeof(data), dir, "data.mdb");
	FILE *f = fopen(data, "w");
	cr_assert_not_null(f);
	fclose(f);
	struct persist_check_stats st;
	cr_expect_eq(persist_check_dir(dir, &st, note, sizeof(note), err, sizeof(err)), 0, "%s",
			err);
	rmrf(dir);
}

/* A prune over more backups than its first array holds (16) keeps the
 * newest; one it cannot delete (a directory of that name) is not counted;
 * a directory that does not exist is its errno. */
Test(persist_check, prune_of_many_backups_keeps_the_newest_and_counts_deletions)
{
	char *dir = tmpdir();
	char f[256];
	for (int k = 1; k <= 20; k++) {
		snprintf(f, sizeof(f), "%s/roster-backup-202601%02dT000000Z.mdb", dir, k);
		FILE *fp = fopen(f, "w");
		cr_assert_not_null(fp);
		fclose(fp);
	}
	/* The oldest is a directory: unlink() refuses it. */
	snprintf(f, sizeof(f), "%s/roster-backup-20251231T000000Z.mdb", dir);
	cr_assert_eq(mkdir(f, 0700), 0);
	cr_expect_eq(persist_backup_prune(dir, 3), 17, "20 files and a directory, 3 kept");
	cr_expect_eq(access(f, F_OK), 0, "the directory stays");
	for (int k = 1; k <= 20; k++) {
		snprintf(f, sizeof(f), "%s/roster-backup-202601%02dT000000Z.mdb", dir, k);
		cr_expect_eq(access(f, F_OK) == 0, k >= 18, "day %d", k);
	}
	cr_expect_eq(persist_backup_prune(dir, 3), 0, "nothing more to delete");
	snprintf(f, sizeof(f), "%s/nonexistent", dir);
	cr_expect_eq(persist_backup_prune(f, 3), -ENOENT);
	rmrf(dir);
}

/* A store LMDB's own way: only the instances database (no leases, no meta:
 * a store before its first commit of those), keys where one begins the
 * next, an empty value, and a free list of several records (a reader held
 * across the commits keeps their pages from being reused). It passes, every
 * record counted. */
Test(persist_check, a_sound_store_of_rarer_shapes_passes)
{
	char *dir = tmpdir();
	MDB_env *env;
	MDB_txn *rd, *txn;
	MDB_dbi dbi;
	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 4), 0);
	cr_assert_eq(mdb_env_set_mapsize(env, 64 << 20), 0);
	cr_assert_eq(mdb_env_open(env, dir, MDB_NOTLS, 0640), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "instances", MDB_CREATE, &dbi), 0);
	static const char *const keys[] = {"a", "ab", "abc", "b"};
	for (size_t k = 0; k < 4; k++) {
		MDB_val kv = {strlen(keys[k]), (void *)keys[k]}, vv = {k == 0 ? 0 : 4, "vvvv"};
		cr_assert_eq(mdb_put(txn, dbi, &kv, &vv, 0), 0);
	}
	cr_assert_eq(mdb_txn_commit(txn), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &rd), 0);
	for (int round = 0; round < 3; round++) {
		cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
		MDB_val kv = {1, "b"}, vv = {4, &round};
		cr_assert_eq(mdb_put(txn, dbi, &kv, &vv, 0), 0);
		cr_assert_eq(mdb_txn_commit(txn), 0);
	}
	mdb_txn_abort(rd);
	MDB_stat fs;
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &rd), 0);
	cr_assert_eq(mdb_stat(rd, 0, &fs), 0);
	cr_assert_geq(fs.ms_entries, 2, "a free list of %zu records", fs.ms_entries);
	mdb_txn_abort(rd);
	mdb_env_close(env);
	char data[128], err[1024];
	path_of(data, sizeof(data), dir, "data.mdb");
	struct persist_check_stats st;
	cr_assert_eq(persist_check_file(data, &st, err, sizeof(err)), 0, "%s", err);
	/* the four records, the one database in main, the free list's */
	cr_expect_eq(st.entries, 4 + 1 + fs.ms_entries, "%llu", (unsigned long long)st.entries);
	rmrf(dir);
}

/* The data directory's rarer cases: a path where the data file fits but
 * the marker's name does not; a data directory that is a file (no store
 * there to check: LMDB names the error); an empty data file next to a lock
 * file but no marker (a store existed: the lock file says so); the marker
 * written into a directory that does not exist. */
Test(persist_check, the_data_directorys_rarer_cases)
{
	char note[256], err[1024];
	struct persist_check_stats st;
	static char deep[PATH_MAX];
	/* "/data.mdb" fits in PATH_MAX, "/roster-store" does not */
	size_t dlen = PATH_MAX - 12;
	memset(deep, 'd', dlen);
	deep[0] = '/';
	deep[dlen] = '\0';
	static char long_err[PATH_MAX + 256];
	cr_expect_eq(persist_check_dir(deep, &st, note, sizeof(note), long_err, sizeof(long_err)),
			RS_ERANGE);
	cr_expect_not_null(strstr(long_err, "path too long"), "%.80s", long_err);
	char *dir = tmpdir();
	char file[160];
	path_of(file, sizeof(file), dir, "plain");
	FILE *f = fopen(file, "w");
	cr_assert_not_null(f);
	fclose(f);
	cr_expect_eq(persist_check_dir(file, &st, note, sizeof(note), err, sizeof(err)), 0, "%s",
			err);
	char data[128], lock[128];
	path_of(data, sizeof(data), dir, "data.mdb");
	path_of(lock, sizeof(lock), dir, "lock.mdb");
	f = fopen(data, "w");
	cr_assert_not_null(f);
	fclose(f);
	f = fopen(lock, "w");
	cr_assert_not_null(f);
	fclose(f);
	cr_expect_eq(persist_check_dir(dir, &st, note, sizeof(note), err, sizeof(err)),
			RS_ESTORE_DAMAGED);
	cr_expect_not_null(strstr(err, "empty (0 bytes)"), "%s", err);
	cr_expect_not_null(strstr(err, lock), "the lock file is named: %s", err);
	char missing[160];
	path_of(missing, sizeof(missing), dir, "no/such");
	cr_expect_eq(persist_marker_write(missing), -ENOENT);
	rmrf(dir);
}

/* Backups and restores refused before they touch anything: a backup path
 * too long for its temporary name, a schedule's name that does not fit, a
 * damaged backup, a data directory that cannot be made, and one a running
 * rosterd holds. Each leaves the store as it was. */
Test(persist_check, backups_and_restores_refused_leave_the_store_as_it_was)
{
	char *dir = tmpdir();
	make_store(dir, 100);
	struct persist *p;
	char err[1024], note[1024], bk[160];
	cr_assert_eq(persist_open(dir, 1 << 20, 1 << 26, &p, err, sizeof(err)), 0, "%s", err);
	static char longpath[PATH_MAX];
	memset(longpath, 'b', sizeof(longpath) - 8);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 8] = '\0';
	uint64_t bytes = 0;
	static char long_err[PATH_MAX + 64];
	cr_expect_eq(persist_backup(p, longpath, &bytes, long_err, sizeof(long_err)), RS_ERANGE);
	cr_expect_not_null(strstr(long_err, "path too long"), "%.100s", long_err);
	char small[24];
	cr_expect_eq(persist_backup_name(small, sizeof(small), dir), RS_ERANGE);
	char name[256];
	cr_assert_eq(persist_backup_name(name, sizeof(name), dir), 0);
	cr_expect_not_null(strstr(name, "/roster-backup-"), "%s", name);
	snprintf(bk, sizeof(bk), "%s.bk.mdb", dir);
	cr_assert_eq(persist_backup(p, bk, &bytes, err, sizeof(err)), 0, "%s", err);
	/* The store is open (its directory locked): a restore into it is refused. */
	cr_expect_eq(persist_restore(dir, bk, note, sizeof(note), err, sizeof(err)), RS_EBUSY);
	cr_expect_not_null(strstr(err, "in use by a running rosterd"), "%s", err);
	cr_assert_eq(persist_close(p), 0);
	/* Into a directory whose parent does not exist. */
	char nowhere[200];
	snprintf(nowhere, sizeof(nowhere), "%s/no/such", dir);
	cr_expect_eq(persist_restore(nowhere, bk, note, sizeof(note), err, sizeof(err)), -ENOENT);
	cr_expect_not_null(strstr(err, "data dir"), "%s", err);
	/* A damaged backup. */
	cr_assert_eq(truncate(bk, 4096 * 2 + 100), 0);
	cr_expect_eq(persist_restore(dir, bk, note, sizeof(note), err, sizeof(err)),
			RS_ESTORE_DAMAGED);
	cr_expect_not_null(strstr(err, "is damaged"), "%s", err);
	cr_expect_not_null(strstr(err, "left as it was"), "%s", err);
	char data[128];
	path_of(data, sizeof(data), dir, "data.mdb");
	struct persist_check_stats st;
	cr_expect_eq(persist_check_file(data, &st, err, sizeof(err)), 0, "%s", err);
	cr_expect_geq(st.entries, 100);
	unlink(bk);
	rmrf(dir);
}
