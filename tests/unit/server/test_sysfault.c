/*
 * The store's files, backups and the modules' system calls when a libc call
 * fails that never fails on a healthy disk or on loopback: fsync(), close(),
 * fstat() of an open file, a rename, a copy's read or write, getrandom(),
 * a thread that cannot start. Run under tests/faults/sysfault.c
 * (LD_PRELOAD, set by meson); each test arms one failure at a time through
 * sysfault_set() and checks the outcome a caller is promised: a clear error
 * naming the file, no temporary file left behind, nothing acknowledged
 * lost, and the same operation succeeding once the call works again.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <uv.h>

#include "common/error.h"
#include "server/backup.h"
#include "server/net/conncap.h"
#include "server/registry/persist.h"
#include "server/registry/store.h"

typedef void (*sysfault_set_fn)(const char *calls, const char *path, unsigned long nth, int err);
typedef unsigned long (*sysfault_struck_fn)(void);

static sysfault_set_fn fault_set;
static sysfault_struck_fn fault_struck;

static void setup(void)
{
	fault_set = (sysfault_set_fn)dlsym(RTLD_DEFAULT, "sysfault_set");
	fault_struck = (sysfault_struck_fn)dlsym(RTLD_DEFAULT, "sysfault_struck");
	cr_assert_not_null(fault_set, "run under tests/faults/sysfault.c (LD_PRELOAD)");
	cr_assert_not_null(fault_struck);
	fault_set("", NULL, 0, EIO);
}

static void teardown(void)
{
	fault_set("", NULL, 0, EIO);
}

TestSuite(sysfault, .init = setup, .fini = teardown);

static char *tmpdir(void)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/roster-sysfault-XXXXXX");
	cr_assert_not_null(mkdtemp(path));
	return path;
}

static void rmrf(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

/* How many entries of @p dir contain @p part. */
static int files_with(const char *dir, const char *part)
{
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		n += strstr(e->d_name, part) != NULL;
	}
	closedir(d);
	return n;
}

/* A store of @p n instances written through persist and the store. */
static void store_make(const char *dir, int n)
{
	struct persist *p;
	char err[512];
	cr_assert_eq(persist_open(dir, 1 << 20, 1 << 26, &p, err, sizeof(err)), 0, "%s", err);
	struct store_limits lim;
	store_limits_default(&lim);
	struct store *s = store_new(&lim, persist_ops(), p, 1000);
	cr_assert_not_null(s);
	for (int k = 0; k < n; k++) {
		char host[64];
		snprintf(host, sizeof(host), "h%d.example.net.", k);
		struct store_registration r = {
				.service = "web", .protocol = "tcp", .host = host, .port = 80};
		bool created;
		uint64_t rev;
		cr_assert_eq(store_register(s, &r, 1000, 0, &created, &rev), 0);
	}
	cr_assert_eq(persist_batch_commit(p), 0);
	store_free(s);
	cr_assert_eq(persist_close(p), 0);
}

/* ---- hot backups ----------------------------------------------------------- */

struct file_fault {
	char call[16];
	char path[24]; /* the part of the path the failure is bound to */
	unsigned long nth;
	bool renamed; /* the backup is in place, only the directory's sync failed */
};

ParameterizedTestParameters(sysfault, a_backup_meeting_a_failed_call_fails_whole)
{
	static struct file_fault cases[] = {
			{"open", "b.mdb.tmp", 1, false}, {"fsync", "b.mdb.tmp", 1, false},
			{"fstat", "b.mdb.tmp", 1, false}, {"close", "b.mdb.tmp", 1, false},
			{"rename", "b.mdb.tmp", 1, false},
			{"fsync", "/roster-sysfault-", 2, true}, /* the file, then its directory */
	};
	return cr_make_param_array(struct file_fault, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct file_fault *f, sysfault, a_backup_meeting_a_failed_call_fails_whole)
{
	char *dir = tmpdir();
	store_make(dir, 50);
	struct persist *p;
	char err[1024], bk[128];
	cr_assert_eq(persist_open(dir, 1 << 20, 1 << 26, &p, err, sizeof(err)), 0, "%s", err);
	char bkdir[96]; /* not the store's own directory, which is refused */
	snprintf(bkdir, sizeof(bkdir), "%s/bk", dir);
	cr_assert_eq(mkdir(bkdir, 0700), 0);
	snprintf(bk, sizeof(bk), "%s/b.mdb", bkdir);
	uint64_t bytes = 0;
	fault_set(f->call, f->path, f->nth, EIO);
	int rc = persist_backup(p, bk, &bytes, err, sizeof(err));
	unsigned long struck = fault_struck();
	fault_set("", NULL, 0, EIO);
	cr_assert_eq(struck, 1, "%s: the fault did not strike", f->call);
	cr_expect_eq(rc, -EIO, "%s: rc %d", f->call, rc);
	cr_expect_not_null(
			strstr(err, "backup ") != NULL && strstr(err, "b.mdb") != NULL ? err : NULL,
			"%s: %s", f->call, err);
	cr_expect_eq(files_with(bkdir, ".tmp-"), 0, "%s: a temporary file was left", f->call);
	cr_expect_eq(access(bk, F_OK) == 0, f->renamed, "%s: a backup that failed is in place",
			f->call);
	/* The call works again: the same backup succeeds, checked whole. */
	cr_assert_eq(persist_backup(p, bk, &bytes, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(persist_close(p), 0);
	struct persist_check_stats st;
	cr_assert_eq(persist_check_file(bk, &st, err, sizeof(err)), 0, "%s", err);
	cr_expect_geq(st.entries, 50);
	rmrf(dir);
}

/* ---- restores -------------------------------------------------------------- */

struct restore_fault {
	char call[16];
	char path[24];
	unsigned long nth;
	char word[32]; /* in the message */
	bool moved;    /* the old data file was moved aside before the failure */
};

ParameterizedTestParameters(sysfault, a_restore_meeting_a_failed_call_leaves_the_store)
{
	static struct restore_fault cases[] = {
			/* The check's open; its second one is in a child of its own, and
			 * the copy's source open is the same branch as its read's. */
			{"open", "bk.mdb", 1, "is unusable", false},
			{"read", "bk.mdb", 1, "cannot copy", false},
			{"open", "restore-tmp", 1, "cannot copy", false},
			{"write", "restore-tmp", 1, "cannot copy", false},
			{"fsync", "restore-tmp", 1, "cannot copy", false},
			{"close", "restore-tmp", 1, "cannot copy", false},
			{"rename", "restore-tmp", 1, "cannot install", true},
	};
	return cr_make_param_array(struct restore_fault, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(
		struct restore_fault *f, sysfault, a_restore_meeting_a_failed_call_leaves_the_store)
{
	char *dir = tmpdir();
	char data_dir[128], bk[128], data[160], err[1024], note[1024];
	snprintf(data_dir, sizeof(data_dir), "%s/data", dir);
	snprintf(bk, sizeof(bk), "%s/bk", dir); /* not the backed-up store's own directory */
	cr_assert_eq(mkdir(bk, 0700), 0);
	snprintf(bk, sizeof(bk), "%s/bk/bk.mdb", dir);
	snprintf(data, sizeof(data), "%s/data.mdb", data_dir);
	store_make(data_dir, 7); /* what the operator has */
	struct persist *p;
	cr_assert_eq(persist_open(dir, 1 << 20, 1 << 26, &p, err, sizeof(err)), 0, "%s", err);
	uint64_t bytes;
	cr_assert_eq(persist_backup(p, bk, &bytes, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(persist_close(p), 0);
	struct stat before;
	cr_assert_eq(stat(data, &before), 0);
	fault_set(f->call, f->path, f->nth, EIO);
	int rc = persist_restore(data_dir, bk, note, sizeof(note), err, sizeof(err));
	unsigned long struck = fault_struck();
	fault_set("", NULL, 0, EIO);
	cr_assert_eq(struck, 1, "%s %s: the fault did not strike", f->call, f->path);
	cr_expect_eq(rc, -EIO, "%s %s: rc %d", f->call, f->path, rc);
	cr_expect_not_null(strstr(err, f->word), "%s %s: %s", f->call, f->path, err);
	cr_expect_eq(files_with(data_dir, "restore-tmp"), 0, "a temporary copy was left");
	struct persist_check_stats st;
	if (f->moved) {
		/* The old data file was moved aside, then back. */
		cr_expect_eq(files_with(data_dir, "before-restore"), 0);
		cr_expect_not_null(strstr(err, "the store is left as it was"), "%s", err);
	}
	{
		struct stat after;
		cr_assert_eq(stat(data, &after), 0, "the store's data file is gone");
		cr_expect_eq(after.st_ino, before.st_ino, "the store's data file was replaced");
		cr_assert_eq(persist_check_file(data, &st, err, sizeof(err)), 0, "%s", err);
	}
	/* Once the call works: the restore succeeds. */
	cr_assert_eq(persist_restore(data_dir, bk, note, sizeof(note), err, sizeof(err)), 0, "%s",
			err);
	cr_assert_eq(persist_check_file(data, &st, err, sizeof(err)), 0, "%s", err);
	rmrf(dir);
}

/* The lock file's blocks are given before LMDB maps it (persist.c): an open
 * or fstat of it that fails stops the open with a message naming the data
 * dir, and the next open succeeds on the same store. */
Test(sysfault, the_lock_file_failing_at_open_is_a_clear_error)
{
	char *dir = tmpdir();
	store_make(dir, 3);
	static const char *const calls[] = {"open", "fstat"};
	for (size_t k = 0; k < 2; k++) {
		int refused = 0;
		for (unsigned long nth = 1;; nth++) {
			cr_assert_lt(nth, 20);
			struct persist *p = NULL;
			char err[1024] = "";
			fault_set(calls[k], "lock.mdb", nth, EIO);
			int rc = persist_open(dir, 1 << 20, 1 << 26, &p, err, sizeof(err));
			unsigned long struck = fault_struck();
			fault_set("", NULL, 0, EIO);
			if (struck == 0) {
				cr_assert_eq(rc, 0, "%s", err);
				cr_assert_eq(persist_close(p), 0);
				break;
			}
			if (rc == 0) {
				cr_assert_eq(persist_close(p), 0); /* a look that may fail */
				continue;
			}
			refused++;
			cr_expect_null(p);
			cr_expect_not_null(strstr(err, dir), "%s #%lu: %s", calls[k], nth, err);
		}
		cr_expect_geq(refused, 1, "%s of the lock file never refused the open", calls[k]);
	}
	rmrf(dir);
}

/* ---- the backup module (server/backup.c) ------------------------------------ */

static struct {
	int calls;
	int rc;
	char msg[1024];
} done;

static void done_cb(int rc, uint64_t bytes, uint64_t ms, const char *msg, void *ud)
{
	(void)bytes;
	(void)ms;
	cr_expect_eq(ud, &done);
	done.calls++;
	done.rc = rc;
	snprintf(done.msg, sizeof(done.msg), "%s", msg);
}

static void run_until(uv_loop_t *loop, int calls)
{
	for (int i = 0; i < 20000 && done.calls < calls; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(500);
	}
	cr_assert_eq(done.calls, calls, "the backup did not end");
}

/* A backup that fails is answered with the error and counted; one asked
 * while another runs is EBUSY; a relative path is refused; the next one
 * works. */
Test(sysfault, a_failed_backup_is_answered_and_counted_and_the_next_works)
{
	memset(&done, 0, sizeof(done));
	char *dir = tmpdir();
	store_make(dir, 20);
	uv_loop_t loop;
	cr_assert_eq(uv_loop_init(&loop), 0);
	struct persist *p;
	char err[1024], bk[128];
	cr_assert_eq(persist_open(dir, 1 << 20, 1 << 26, &p, err, sizeof(err)), 0, "%s", err);
	struct backup *b = NULL;
	cr_assert_eq(backup_start(&loop, p, "", 1000, 2, &b, err, sizeof(err)), 0, "%s", err);
	snprintf(bk, sizeof(bk), "%s/bk", dir); /* not the store's own directory */
	cr_assert_eq(mkdir(bk, 0700), 0);
	snprintf(bk, sizeof(bk), "%s/bk/api.mdb", dir);
	cr_expect_eq(backup_run(b, "relative.mdb", done_cb, &done), RS_EINVAL);
	fault_set("fsync", "api.mdb", 1, ENOSPC);
	cr_assert_eq(backup_run(b, bk, done_cb, &done), 0);
	cr_expect_eq(backup_run(b, bk, done_cb, &done), RS_EBUSY, "one at a time");
	cr_expect(backup_counters_get(b).running);
	run_until(&loop, 1);
	fault_set("", NULL, 0, EIO);
	cr_expect_eq(done.rc, -ENOSPC);
	cr_expect_not_null(strstr(done.msg, "api.mdb"), "%s", done.msg);
	struct backup_counters c = backup_counters_get(b);
	cr_expect_eq(c.failures, 1);
	cr_expect_eq(c.done, 0);
	cr_expect_not(c.running);
	cr_expect_eq(access(bk, F_OK), -1, "no backup in place");
	cr_assert_eq(backup_run(b, bk, done_cb, &done), 0);
	run_until(&loop, 2);
	cr_expect_eq(done.rc, 0, "%s", done.msg);
	c = backup_counters_get(b);
	cr_expect_eq(c.done, 1);
	cr_expect_gt(c.last_bytes, 0);
	backup_stop(b);
	backup_stop(b);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_expect_eq(uv_loop_close(&loop), 0);
	cr_assert_eq(persist_close(p), 0);
	struct backup_counters zero = backup_counters_get(NULL);
	cr_expect_eq(zero.done, 0);
	rmrf(dir);
}

/* The schedule's directory: made absolute once, created one level deep;
 * one that cannot be made or resolved stops the start with its name. */
Test(sysfault, a_backup_dir_that_cannot_be_made_is_refused_by_name)
{
	char *dir = tmpdir();
	uv_loop_t loop;
	cr_assert_eq(uv_loop_init(&loop), 0);
	char sub[128], file[128], err[1024];
	snprintf(sub, sizeof(sub), "%s/backups", dir);
	snprintf(file, sizeof(file), "%s/plain", dir);
	FILE *fp = fopen(file, "w");
	cr_assert_not_null(fp);
	fclose(fp);
	struct backup *b = NULL;
	fault_set("mkdir", "/backups", 1, EACCES);
	cr_expect_eq(backup_start(&loop, NULL, sub, 1000, 2, &b, err, sizeof(err)), -EACCES);
	cr_expect_not_null(
			strstr(err, "backup-dir") != NULL && strstr(err, sub) != NULL ? err : NULL,
			"%s", err);
	fault_set("realpath", "/backups", 1, ENOMEM);
	cr_expect_eq(backup_start(&loop, NULL, sub, 1000, 2, &b, err, sizeof(err)), -ENOMEM, "%s",
			err);
	fault_set("", NULL, 0, EIO);
	cr_expect_eq(backup_start(&loop, NULL, file, 1000, 2, &b, err, sizeof(err)), -ENOTDIR);
	cr_expect_not_null(strstr(err, "plain"), "%s", err);
	cr_assert_eq(backup_start(&loop, NULL, sub, 1000, 2, &b, err, sizeof(err)), 0, "%s", err);
	struct stat st;
	cr_expect_eq(stat(sub, &st), 0);
	backup_stop(b);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_expect_eq(uv_loop_close(&loop), 0);
	rmrf(dir);
}

static void keep_cb(uv_timer_t *t)
{
	(void)t;
}

/* The schedule: a backup each interval into the directory, the oldest
 * pruned to --backup-keep; a scheduled backup that fails is counted and the
 * next one goes on. */
Test(sysfault, scheduled_backups_are_pruned_and_a_failed_one_is_counted)
{
	char *dir = tmpdir();
	char data_dir[128], bdir[128], err[1024];
	snprintf(data_dir, sizeof(data_dir), "%s/data", dir);
	snprintf(bdir, sizeof(bdir), "%s/bk", dir);
	store_make(data_dir, 5);
	uv_loop_t loop;
	cr_assert_eq(uv_loop_init(&loop), 0);
	struct persist *p;
	cr_assert_eq(persist_open(data_dir, 1 << 20, 1 << 26, &p, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(mkdir(bdir, 0750), 0);
	/* Two old ones from the schedule, a stranger's file kept. */
	const char *old[] = {"roster-backup-20200101T000000Z.mdb",
			"roster-backup-20200102T000000Z.mdb", "mine.mdb"};
	for (size_t k = 0; k < 3; k++) {
		char f[256];
		snprintf(f, sizeof(f), "%s/%s", bdir, old[k]);
		FILE *fp = fopen(f, "w");
		cr_assert_not_null(fp);
		fclose(fp);
	}
	struct backup *b = NULL;
	cr_assert_eq(backup_start(&loop, p, bdir, 30, 2, &b, err, sizeof(err)), 0, "%s", err);
	fault_set("open", "/bk/roster-backup-", 1, EIO);
	/* The schedule's timer does not keep a loop alive: this one does. */
	uv_timer_t keep;
	cr_assert_eq(uv_timer_init(&loop, &keep), 0);
	cr_assert_eq(uv_timer_start(&keep, keep_cb, 5, 5), 0);
	struct backup_counters c = {0};
	for (int i = 0; i < 20000 && (c.failures < 1 || c.done < 1); i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(500);
		c = backup_counters_get(b);
	}
	fault_set("", NULL, 0, EIO);
	uv_close((uv_handle_t *)&keep, NULL);
	cr_assert_geq(c.failures, 1, "the first scheduled backup failed (%lu struck, %llu done)",
			fault_struck(), (unsigned long long)c.done);
	cr_assert_geq(c.done, 1, "a later one succeeded");
	backup_stop(b);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_expect_eq(uv_loop_close(&loop), 0);
	cr_expect_eq(files_with(bdir, "roster-backup-"), 2, "pruned to --backup-keep");
	cr_expect_eq(files_with(bdir, "20200101"), 0, "the oldest went first");
	cr_expect_eq(files_with(bdir, "mine.mdb"), 1, "not the schedule's: kept");
	cr_expect_eq(files_with(bdir, ".tmp-"), 0);
	cr_assert_eq(persist_close(p), 0);
	rmrf(dir);
}

/* ---- getrandom() ------------------------------------------------------------ */

/* The admission table's hash key falls back to the clock: admission works
 * the same, per source. */
Test(sysfault, conncap_without_getrandom_still_caps_per_source)
{
	fault_set("getrandom", NULL, 0, ENOSYS);
	struct conncap cap;
	conncap_init(&cap);
	unsigned long struck = fault_struck();
	fault_set("", NULL, 0, EIO);
	cr_assert_geq(struck, 1);
	const struct conncap_limits lim = {10, 2};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0xc0000201)};
	struct sockaddr_in b = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0xc0000202)};
	struct conncap_ticket t[4];
	cr_expect_eq(conncap_admit(&cap, (struct sockaddr *)&a, &lim, &t[0]), CONNCAP_ADMIT);
	cr_expect_eq(conncap_admit(&cap, (struct sockaddr *)&a, &lim, &t[1]), CONNCAP_ADMIT);
	cr_expect_eq(conncap_admit(&cap, (struct sockaddr *)&a, &lim, &t[2]), CONNCAP_OVER_SOURCE);
	cr_expect_eq(conncap_admit(&cap, (struct sockaddr *)&b, &lim, &t[3]), CONNCAP_ADMIT);
	conncap_release(&cap, &t[0]);
	conncap_release(&cap, &t[1]);
	conncap_release(&cap, &t[3]);
	conncap_deinit(&cap);
}

/* ---- opening and loading a store, each call failing in turn -------------------- */

/* Open and load @p dir with the armed fault; @return the instances loaded
 * (-1: refused, @p err names the data dir). */
static int open_and_load(const char *dir, char *err, size_t errsz)
{
	struct persist *p = NULL;
	int rc = persist_open(dir, 1 << 20, 1 << 26, &p, err, errsz);
	if (rc < 0) {
		cr_expect_null(p);
		return -1;
	}
	struct store_limits lim;
	store_limits_default(&lim);
	struct store *s = store_new(&lim, persist_ops(), p, 1000);
	cr_assert_not_null(s);
	uint64_t ninst, nleases, dropped;
	rc = persist_load(p, s, 1000, &ninst, &nleases, &dropped);
	struct store_sizes sz;
	store_sizes_get(s, &sz);
	store_free(s);
	(void)persist_close(p);
	if (rc < 0) {
		snprintf(err, errsz, "%s: load: %s", dir, rs_strerror(rc));
		return -1;
	}
	cr_expect_eq(dropped, 0);
	return (int)sz.instances;
}

/* Every libc call the open and the load make, failed once each in turn
 * (the first, second, ... call of that name): the open is refused with a
 * message naming the data dir, or goes on unharmed (a look that may fail,
 * a best-effort release of the map); never a crash, never a record lost:
 * the next open without faults loads every instance. */
Test(sysfault, each_call_of_an_open_and_load_failing_is_refused_or_harmless)
{
	char *dir = tmpdir();
	store_make(dir, 3);
	static const char *const calls[] = {"open", "close", "fstat", "read", "write", "fsync",
			"mkdir", "rename", "unlink", "opendir", "realpath", "fopen"};
	for (size_t k = 0; k < sizeof(calls) / sizeof(calls[0]); k++) {
		int refused = 0;
		for (unsigned long nth = 1;; nth++) {
			cr_assert_lt(nth, 60, "%s: no end", calls[k]);
			char err[1024] = "";
			fault_set(calls[k], NULL, nth, EIO);
			int n = open_and_load(dir, err, sizeof(err));
			unsigned long struck = fault_struck();
			fault_set("", NULL, 0, EIO);
			if (n < 0) {
				refused++;
				/* A fault in the check's child is not seen here: it
				 * must read as a check that could not run, never
				 * as damage (whose advice is a restore or reset). */
				cr_expect(struck > 0 || strstr(err, "cannot check") != NULL,
						"%s #%lu: refused without a fault: %s", calls[k],
						nth, err);
				cr_expect_null(strstr(err, "damaged"), "%s #%lu: %s", calls[k], nth,
						err);
				cr_expect_not_null(strstr(err, dir), "%s #%lu: %s", calls[k], nth,
						err);
			} else {
				cr_expect_eq(n, 3, "%s #%lu: %d instances", calls[k], nth, n);
			}
			char again[1024] = "";
			cr_assert_eq(open_and_load(dir, again, sizeof(again)), 3,
					"%s #%lu: after the fault: %s", calls[k], nth, again);
			if (struck == 0 && n == 3) {
				break; /* no call of that name failed, here or in the child */
			}
		}
		cr_log_info("%s: %d refusals", calls[k], refused);
	}
	rmrf(dir);
}

/* ---- backup, prune, reset and restore, each call failing in turn ------------------ */

/* Every libc call of a hot backup, a prune, a reset and a restore failed
 * once each in turn: each is refused with a message (or, for the prune, a
 * negative code), leaves no temporary file, and nothing of the store is
 * lost: the store opens afterwards with every instance (after a reset: the
 * old file kept aside; after a restore: the backup's). */
Test(sysfault, each_call_of_backup_prune_reset_restore_failing_loses_nothing)
{
	static const char *const calls[] = {"open", "close", "fstat", "read", "write", "fsync",
			"rename", "unlink", "opendir", "realpath", "fopen"};
	char *dir = tmpdir();
	char bdir[96], good[128];
	snprintf(bdir, sizeof(bdir), "%s.b", dir);
	cr_assert_eq(mkdir(bdir, 0750), 0);
	store_make(dir, 3);
	snprintf(good, sizeof(good), "%s/good.mdb", bdir);
	{
		struct persist *p;
		char err[1024];
		cr_assert_eq(persist_open(dir, 1 << 20, 1 << 26, &p, err, sizeof(err)), 0, "%s",
				err);
		uint64_t bytes;
		cr_assert_eq(persist_backup(p, good, &bytes, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(persist_close(p), 0);
	}
	for (size_t k = 0; k < sizeof(calls) / sizeof(calls[0]); k++) {
		for (unsigned long nth = 1;; nth++) {
			cr_assert_lt(nth, 40, "%s: no end", calls[k]);
			char err[1024] = "", note[1024] = "", path[160];
			uint64_t bytes;
			snprintf(path, sizeof(path), "%s/b-%s-%lu.mdb", bdir, calls[k], nth);
			struct persist *p;
			cr_assert_eq(persist_open(dir, 1 << 20, 1 << 26, &p, err, sizeof(err)), 0,
					"%s", err);
			fault_set(calls[k], NULL, nth, EIO);
			int brc = persist_backup(p, path, &bytes, err, sizeof(err));
			int prc = persist_backup_prune(bdir, 1000);
			unsigned long struck = fault_struck();
			fault_set("", NULL, 0, EIO);
			cr_assert_eq(persist_close(p), 0);
			if (brc < 0) {
				cr_expect_neq(err[0], '\0', "%s #%lu", calls[k], nth);
			}
			cr_expect(prc >= 0 || struck > 0, "%s #%lu: prune %d", calls[k], nth, prc);
			cr_expect_eq(files_with(bdir, ".tmp"), 0, "%s #%lu: a temporary file left",
					calls[k], nth);
			/* A restore of the good backup, and a reset, under the same
			 * fault (counted again from the first call). */
			fault_set(calls[k], NULL, nth, EIO);
			int rrc = persist_restore(dir, good, note, sizeof(note), err, sizeof(err));
			unsigned long rstruck = fault_struck();
			fault_set("", NULL, 0, EIO);
			cr_expect(rrc == 0 || rstruck > 0 || strstr(err, "is unusable") != NULL,
					"%s #%lu: restore refused without a fault: %s", calls[k],
					nth, err);
			char again[1024] = "";
			cr_assert_eq(open_and_load(dir, again, sizeof(again)), 3,
					"%s #%lu: after a restore (%d): %s / %s", calls[k], nth,
					rrc, err, again);
			if (struck == 0 && rstruck == 0 && brc == 0 && rrc == 0) {
				break;
			}
		}
	}
	/* Reset under each fault: refused with the store in place, or done
	 * with the old file kept aside. */
	for (size_t k = 0; k < sizeof(calls) / sizeof(calls[0]); k++) {
		char err[1024] = "", note[1024] = "";
		fault_set(calls[k], NULL, 1, EIO);
		int rc = persist_reset(dir, note, sizeof(note), err, sizeof(err));
		fault_set("", NULL, 0, EIO);
		if (rc < 0) {
			cr_expect_not_null(strstr(err, "--reset-store"), "%s: %s", calls[k], err);
			cr_assert_eq(open_and_load(dir, err, sizeof(err)), 3, "%s: %s", calls[k],
					err);
		} else {
			cr_expect_eq(files_with(dir, "data.mdb.reset-"), 1, "%s", calls[k]);
			cr_assert_eq(persist_restore(dir, good, note, sizeof(note), err,
						     sizeof(err)),
					0, "%s", err);
			char cmd[256];
			snprintf(cmd, sizeof(cmd),
					"rm -f '%s'/data.mdb.reset-* '%s'/data.mdb.before-*", dir,
					dir);
			cr_assert_eq(system(cmd), 0);
		}
	}
	rmrf(dir);
	rmrf(bdir);
}

/* ---- the backup module with its one worker held busy ----------------------- */

/* A work item that holds libuv's only pool thread until released, so that a
 * backup queued behind it stays running for as long as the test wants. */
static atomic_bool g_release;

static void hold_work_cb(uv_work_t *w)
{
	(void)w;
	while (!atomic_load(&g_release)) {
		usleep(1000);
	}
}

static void hold_after_cb(uv_work_t *w, int status)
{
	(void)w;
	(void)status;
}

static void hold_pool(uv_loop_t *loop, uv_work_t *w)
{
	/* One pool thread (read at the pool's first use, in this process). */
	cr_assert_eq(setenv("UV_THREADPOOL_SIZE", "1", 1), 0);
	atomic_store(&g_release, false);
	cr_assert_eq(uv_queue_work(loop, w, hold_work_cb, hold_after_cb), 0);
}

/* A scheduled backup that meets one running is skipped, not counted as a
 * failure; the schedule goes on once it ended. */
Test(sysfault, a_scheduled_backup_meeting_one_that_runs_is_skipped_not_failed)
{
	memset(&done, 0, sizeof(done));
	char *dir = tmpdir();
	char data_dir[128], bdir[128], bk[160], err[1024];
	snprintf(data_dir, sizeof(data_dir), "%s/data", dir);
	snprintf(bdir, sizeof(bdir), "%s/bk", dir);
	snprintf(bk, sizeof(bk), "%s/asked.mdb", dir);
	store_make(data_dir, 5);
	uv_loop_t loop;
	cr_assert_eq(uv_loop_init(&loop), 0);
	uv_work_t hold;
	hold_pool(&loop, &hold);
	struct persist *p;
	cr_assert_eq(persist_open(data_dir, 1 << 20, 1 << 26, &p, err, sizeof(err)), 0, "%s", err);
	struct backup *b = NULL;
	cr_assert_eq(backup_start(&loop, p, bdir, 5, 2, &b, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(backup_run(b, bk, done_cb, &done), 0);
	/* Ticks of the schedule while the asked one waits for the pool. */
	uint64_t t0 = uv_now(&loop);
	uv_timer_t keep;
	cr_assert_eq(uv_timer_init(&loop, &keep), 0);
	cr_assert_eq(uv_timer_start(&keep, keep_cb, 5, 5), 0);
	while (uv_now(&loop) - t0 < 60) {
		uv_run(&loop, UV_RUN_ONCE);
	}
	struct backup_counters c = backup_counters_get(b);
	cr_expect(c.running);
	cr_expect_eq(c.failures, 0, "a skipped scheduled backup is no failure");
	cr_expect_eq(c.done, 0);
	cr_expect_eq(files_with(bdir, "roster-backup-"), 0, "none started");
	atomic_store(&g_release, true);
	run_until(&loop, 1);
	cr_expect_eq(done.rc, 0, "%s", done.msg);
	/* Then the schedule's own run. */
	for (int i = 0; i < 20000 && backup_counters_get(b).done < 2; i++) {
		uv_run(&loop, UV_RUN_ONCE);
	}
	c = backup_counters_get(b);
	cr_expect_geq(c.done, 2);
	cr_expect_eq(c.failures, 0);
	cr_expect_eq(done.calls, 1, "the asked backup answered once");
	uv_close((uv_handle_t *)&keep, NULL);
	backup_stop(b);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_expect_eq(uv_loop_close(&loop), 0);
	cr_expect_geq(files_with(bdir, "roster-backup-"), 1);
	cr_assert_eq(persist_close(p), 0);
	rmrf(dir);
}

/* Stopped while a backup runs: its callback is not called, the module is
 * freed once the backup ended (ASan sees no leak), the backup is whole. */
Test(sysfault, a_backup_stopped_while_it_runs_ends_without_its_callback)
{
	memset(&done, 0, sizeof(done));
	char *dir = tmpdir();
	char data_dir[128], bk[160], err[1024];
	snprintf(data_dir, sizeof(data_dir), "%s/data", dir);
	snprintf(bk, sizeof(bk), "%s/asked.mdb", dir);
	store_make(data_dir, 5);
	uv_loop_t loop;
	cr_assert_eq(uv_loop_init(&loop), 0);
	uv_work_t hold;
	hold_pool(&loop, &hold);
	struct persist *p;
	cr_assert_eq(persist_open(data_dir, 1 << 20, 1 << 26, &p, err, sizeof(err)), 0, "%s", err);
	struct backup *b = NULL;
	cr_assert_eq(backup_start(&loop, p, "", 1000, 2, &b, err, sizeof(err)), 0, "%s", err);
	/* A path too long for the module is refused before anything runs. */
	char longpath[5000];
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	cr_expect_eq(backup_run(b, longpath, done_cb, &done), RS_EINVAL);
	cr_expect_not(backup_counters_get(b).running);
	cr_assert_eq(backup_run(b, bk, done_cb, &done), 0);
	backup_stop(b);
	uv_run(&loop, UV_RUN_NOWAIT); /* the timer closes; the backup still runs */
	atomic_store(&g_release, true);
	uv_run(&loop, UV_RUN_DEFAULT);
	cr_expect_eq(done.calls, 0, "no callback after the stop");
	cr_expect_eq(uv_loop_close(&loop), 0);
	cr_assert_eq(persist_close(p), 0);
	cr_expect_eq(access(bk, F_OK), 0, "the backup ran to its end");
	rmrf(dir);
}

/* ---- the damage check (persist_check.c) ------------------------------------ */

/* A store of 200 instances in a new directory; @p data gets its data file. */
static char *checked_store(char *data, size_t datasz)
{
	char *dir = tmpdir();
	store_make(dir, 200);
	snprintf(data, datasz, "%s/data.mdb", dir);
	return dir;
}

/* The check's child opens the data file through LMDB (the second open of
 * it: the meta pages are read first). An errno of the system there is no
 * verdict on the file (RS_EIO, "cannot open", never "damaged"); any other
 * is LMDB refusing the file, which is damage. */
ParameterizedTestParameters(sysfault, the_checks_open_failing_is_no_verdict_unless_lmdb_refuses)
{
	static int errs[] = {EMFILE, ENFILE, EACCES, EPERM, EIO, EAGAIN, EINTR, EINVAL};
	return cr_make_param_array(int, errs, sizeof(errs) / sizeof(errs[0]));
}

ParameterizedTest(int *e, sysfault, the_checks_open_failing_is_no_verdict_unless_lmdb_refuses)
{
	char data[128], err[1024];
	char *dir = checked_store(data, sizeof(data));
	struct persist_check_stats st;
	fault_set("open", "data.mdb", 2, *e);
	int rc = persist_check_file(data, &st, err, sizeof(err));
	fault_set("", NULL, 0, EIO);
	cr_expect_not_null(strstr(err, "LMDB cannot open it"), "%s", err);
	cr_expect_not_null(strstr(err, strerror(*e)), "%s", err);
	if (*e == EINVAL) {
		cr_expect_eq(rc, RS_ESTORE_DAMAGED, "%d: %s", rc, err);
	} else {
		cr_expect_eq(rc, RS_EIO, "errno %d: %d: %s", *e, rc, err);
	}
	/* The call works again: the same file passes. */
	cr_expect_eq(persist_check_file(data, &st, err, sizeof(err)), 0, "%s", err);
	cr_expect_geq(st.entries, 200);
	rmrf(dir);
}

/* Each step of running the check failing in turn: no verdict (the store is
 * not called damaged, no reset advised), the errno or RS_EIO, a message
 * naming the step. */
struct check_fault {
	char call[8];
	char path[16];
	unsigned long nth;
	int err;
	int rc;
	char word[40];
};

ParameterizedTestParameters(sysfault, the_check_that_cannot_run_is_no_verdict)
{
	static struct check_fault cases[] = {
			{"pipe2", "", 1, EMFILE, -EMFILE, "cannot start the check"},
			{"fork", "", 1, EAGAIN, -EAGAIN, "cannot start the check"},
			/* the third open: the walk's own mapping of the file */
			{"open", "data.mdb", 3, EMFILE, RS_EIO, "cannot map it"},
			/* the child's one write, its verdict */
			{"write", "", 1, EIO, RS_EIO, "could not run"},
			/* the parent's read of the verdict */
			{"read", "", 1, EIO, -EIO, "cannot read the B-tree walk's verdict"},
	};
	return cr_make_param_array(struct check_fault, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct check_fault *f, sysfault, the_check_that_cannot_run_is_no_verdict)
{
	char data[128], err[1024], note[256];
	char *dir = checked_store(data, sizeof(data));
	struct persist_check_stats st;
	fault_set(f->call, f->path[0] != '\0' ? f->path : NULL, f->nth, f->err);
	int rc = persist_check_file(data, &st, err, sizeof(err));
	unsigned long struck = fault_struck();
	fault_set("", NULL, 0, EIO);
	cr_expect_eq(rc, f->rc, "%s: %d: %s", f->call, rc, err);
	cr_expect_not_null(strstr(err, f->word), "%s: %s", f->call, err);
	cr_expect_null(strstr(err, "damaged"), "%s: %s", f->call, err);
	/* The child's failures (its open and write) are counted in the child. */
	cr_expect_eq(struck, f->nth == 3 || strcmp(f->call, "write") == 0 ? 0 : 1, "%s", f->call);
	/* persist_check_dir() says the check could not run, and no reset. */
	fault_set(f->call, f->path[0] != '\0' ? f->path : NULL, f->nth, f->err);
	rc = persist_check_dir(dir, &st, note, sizeof(note), err, sizeof(err));
	fault_set("", NULL, 0, EIO);
	cr_expect_eq(rc, f->rc, "%s: %d: %s", f->call, rc, err);
	cr_expect_not_null(strstr(err, "cannot check"), "%s: %s", f->call, err);
	cr_expect_null(strstr(err, "--reset-store"), "%s: %s", f->call, err);
	cr_expect_eq(persist_check_file(data, &st, err, sizeof(err)), 0, "%s", err);
	rmrf(dir);
}

/* A read of the verdict interrupted by a signal is read again. */
Test(sysfault, the_checks_interrupted_read_is_read_again)
{
	char data[128], err[1024];
	char *dir = checked_store(data, sizeof(data));
	struct persist_check_stats st;
	fault_set("read", NULL, 1, EINTR);
	int rc = persist_check_file(data, &st, err, sizeof(err));
	unsigned long struck = fault_struck();
	fault_set("", NULL, 0, EIO);
	cr_expect_eq(struck, 1);
	cr_expect_eq(rc, 0, "%s", err);
	cr_expect_geq(st.entries, 200);
	rmrf(dir);
}

/* A damaged lock file nobody uses that cannot be moved aside: its errno,
 * naming the file, and the file left where it was. */
Test(sysfault, a_damaged_lock_file_that_cannot_be_moved_aside_is_named)
{
	char data[128], lock[160], err[1024], note[256];
	char *dir = checked_store(data, sizeof(data));
	snprintf(lock, sizeof(lock), "%s/lock.mdb", dir);
	FILE *f = fopen(lock, "r+");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite("garbage!", 1, 8, f), 8);
	fclose(f);
	struct persist_check_stats st;
	fault_set("rename", "lock.mdb", 1, EROFS);
	int rc = persist_check_dir(dir, &st, note, sizeof(note), err, sizeof(err));
	fault_set("", NULL, 0, EIO);
	cr_expect_eq(rc, -EROFS, "%d: %s", rc, err);
	cr_expect_not_null(strstr(err, "cannot be moved aside"), "%s", err);
	cr_expect_not_null(strstr(err, lock), "%s", err);
	cr_expect_eq(access(lock, F_OK), 0);
	cr_expect_eq(persist_check_dir(dir, &st, note, sizeof(note), err, sizeof(err)), 0, "%s",
			err);
	cr_expect_not_null(strstr(note, "was damaged"), "%s", note);
	rmrf(dir);
}

/* A restore whose copy is interrupted by signals (a read, then a write
 * failing with EINTR) is done again, whole; one whose directory cannot be
 * locked, or whose marker cannot be written, says so. */
Test(sysfault, a_restore_copies_through_interruptions_and_names_what_failed)
{
	char data[128], bk[160], err[1024], note[1024];
	char *dir = checked_store(data, sizeof(data));
	/* not under the directory's name: the failures below are bound to it */
	snprintf(bk, sizeof(bk), "/tmp/roster-restore-src-%d.bk.mdb", (int)getpid());
	{
		struct persist *p;
		cr_assert_eq(persist_open(dir, 1 << 20, 1 << 26, &p, err, sizeof(err)), 0, "%s",
				err);
		uint64_t bytes;
		cr_assert_eq(persist_backup(p, bk, &bytes, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(persist_close(p), 0);
	}
	static const struct {
		const char *call, *path;
	} interrupted[] = {{"read", ".bk.mdb"}, {"write", "restore-tmp"}};
	for (size_t k = 0; k < 2; k++) {
		fault_set(interrupted[k].call, interrupted[k].path, 1, EINTR);
		int rc = persist_restore(dir, bk, note, sizeof(note), err, sizeof(err));
		unsigned long struck = fault_struck();
		fault_set("", NULL, 0, EIO);
		cr_expect_eq(struck, 1, "%s", interrupted[k].call);
		cr_expect_eq(rc, 0, "%s: %s", interrupted[k].call, err);
		cr_expect_eq(open_and_load(dir, err, sizeof(err)), 200, "%s: %s",
				interrupted[k].call, err);
	}
	/* The data directory itself cannot be opened for its lock. */
	fault_set("open", dir, 1, EMFILE);
	int rc = persist_restore(dir, bk, note, sizeof(note), err, sizeof(err));
	fault_set("", NULL, 0, EIO);
	cr_expect_eq(rc, -EMFILE, "%d: %s", rc, err);
	cr_expect_not_null(strstr(err, "cannot be locked"), "%s", err);
	/* Into a new directory, whose marker cannot be written. */
	char fresh[160];
	snprintf(fresh, sizeof(fresh), "%s/fresh", dir);
	fault_set("open", "roster-store", 1, ENOSPC);
	rc = persist_restore(fresh, bk, note, sizeof(note), err, sizeof(err));
	fault_set("", NULL, 0, EIO);
	cr_expect_eq(rc, -ENOSPC, "%d: %s", rc, err);
	cr_expect_not_null(strstr(err, "cannot write the store marker"), "%s", err);
	unlink(bk);
	rmrf(dir);
}
