/*
 * The damage check: a store's files are looked at before LMDB maps them for
 * serving. LMDB has no checksums and trusts its pages: a damaged page makes
 * it abort on an assertion, read past the end of a truncated file (SIGBUS)
 * or follow a wild pointer (SIGSEGV). So:
 *   1. the two meta pages are read with pread() (no mapping) and checked:
 *      magic, version, page size, and that the pages they name fit in the
 *      file (a truncated file is found here, with the sizes in the message);
 *   2. a child process maps the file read-only and walks every B-tree (the
 *      free list, the main database, each of ours): every key in order,
 *      every value read to its last byte, the counts as the databases record
 *      them, every page number in the free list inside the file. A signal
 *      or an LMDB assertion in the child is damage; rosterd itself never
 *      touches a page before the walk passed.
 * The data directory's rules (an empty or missing data file where a store
 * existed, a damaged lock file) are in persist_check_dir().
 * See persist.h for the contract.
 */
#include "server/registry/persist.h"
#include "server/registry/persist_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"

/* LMDB's on-disk format (lmdb 0.9, mdb.c): a page header of 16 octets, and
 * on pages 0 and 1 a meta record after it. Offsets from the page's start. */
#define META_MAGIC 0xBEEFC0DEu
#define META_VERSION 1u
#define P_META 0x08u
#define OFF_FLAGS 10
#define OFF_MAGIC 16
#define OFF_VERSION 20
#define OFF_PSIZE 40 /* mm_dbs[FREE_DBI].md_pad holds the page size */
#define OFF_FREE_ROOT 80
#define OFF_MAIN_ROOT 128
#define OFF_LAST_PG 136
#define OFF_TXNID 144
#define META_LEN 152
#define P_INVALID UINT64_MAX

/* The lock file's header: mti_magic first (LMDB's MDB_MAGIC). */
#define LOCK_MAGIC META_MAGIC

/* The check's child may run this long per 10 MB of data file, at least
 * CHILD_MIN_S: a walk that loops on a damaged page must not hang start-up. */
#define CHILD_MIN_S 30
#define CHILD_S_PER_10MB 1

/* Exit codes of the child. */
#define CHILD_OK 0
#define CHILD_DAMAGED 3
#define CHILD_ERROR 4 /* the check could not run (memory, descriptors, I/O): no verdict */

#define MARKER_NAME "roster-store"

struct meta {
	uint64_t txnid, last_pg, free_root, main_root;
	uint32_t psize;
};

/* Read and check meta page @p n (at @p off). */
static int meta_read(int fd, int n, off_t off, struct meta *m, char *err, size_t errsz)
{
	uint8_t b[META_LEN];
	ssize_t got = pread(fd, b, sizeof(b), off);
	if (got < 0) {
		int e = errno;
		snprintf(err, errsz, "cannot read meta page %d: %s", n, strerror(e));
		return -e;
	}
	if ((size_t)got < sizeof(b)) {
		snprintf(err, errsz, "meta page %d is cut off (the file ends at %lld bytes)", n,
				(long long)(off + got));
		return RS_ESTORE_DAMAGED;
	}
	if (persist_rd32(b + OFF_MAGIC) != META_MAGIC) {
		snprintf(err, errsz,
				"meta page %d is damaged (magic 0x%08x, not an LMDB meta page)", n,
				persist_rd32(b + OFF_MAGIC));
		return RS_ESTORE_DAMAGED;
	}
	uint16_t flags;
	memcpy(&flags, b + OFF_FLAGS, 2);
	if (persist_rd32(b + OFF_VERSION) != META_VERSION || (flags & P_META) == 0) {
		snprintf(err, errsz, "meta page %d is damaged (version %u, flags 0x%x)", n,
				persist_rd32(b + OFF_VERSION), flags);
		return RS_ESTORE_DAMAGED;
	}
	m->psize = persist_rd32(b + OFF_PSIZE);
	m->free_root = persist_rd64(b + OFF_FREE_ROOT);
	m->main_root = persist_rd64(b + OFF_MAIN_ROOT);
	m->last_pg = persist_rd64(b + OFF_LAST_PG);
	m->txnid = persist_rd64(b + OFF_TXNID);
	if (m->psize < 512 || m->psize > 65536 || (m->psize & (m->psize - 1)) != 0) {
		snprintf(err, errsz, "meta page %d is damaged (page size %u)", n, m->psize);
		return RS_ESTORE_DAMAGED;
	}
	return 0;
}

/* Step 1: the meta pages against the file's size. */
static int metas_check(const char *file, struct persist_check_stats *st, unsigned *meta_idx,
		char *err, size_t errsz)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errsz, "cannot open: %s", strerror(e));
		return e == ENOENT ? RS_ENOENT : -e;
	}
	struct stat sb;
	int rc = fstat(fd, &sb) < 0 ? -errno : 0;
	struct meta m[2];
	if (rc == 0) {
		st->file_bytes = (uint64_t)sb.st_size;
		rc = meta_read(fd, 0, 0, &m[0], err, errsz);
	}
	if (rc == 0) {
		rc = meta_read(fd, 1, m[0].psize, &m[1], err, errsz);
	}
	close(fd);
	if (rc < 0) {
		return rc;
	}
	const struct meta *cur = m[1].txnid > m[0].txnid ? &m[1] : &m[0];
	*meta_idx = cur == &m[1] ? 1 : 0;
	uint64_t psize = m[0].psize;
	if (cur->last_pg >= (UINT64_MAX / psize) - 1) {
		snprintf(err, errsz, "meta page is damaged (last page %llu)",
				(unsigned long long)cur->last_pg);
		return RS_ESTORE_DAMAGED;
	}
	uint64_t need = (cur->last_pg + 1) * psize;
	if ((uint64_t)sb.st_size < need) {
		snprintf(err, errsz,
				"truncated: the file is %llu bytes, its meta page (transaction %llu) "
				"uses %llu",
				(unsigned long long)sb.st_size, (unsigned long long)cur->txnid,
				(unsigned long long)need);
		return RS_ESTORE_DAMAGED;
	}
	uint64_t roots[2] = {cur->free_root, cur->main_root};
	for (int k = 0; k < 2; k++) {
		if (roots[k] != P_INVALID && (roots[k] < 2 || roots[k] > cur->last_pg)) {
			snprintf(err, errsz,
					"meta page is damaged (a root page %llu outside pages 2-%llu)",
					(unsigned long long)roots[k],
					(unsigned long long)cur->last_pg);
			return RS_ESTORE_DAMAGED;
		}
	}
	st->pages = cur->last_pg + 1;
	st->psize = psize;
	return 0;
}

/* ---- step 2: the walk, in a child ------------------------------------------ */

/* A free-list record: a count, then that many page numbers. */
static int free_entry_check(const MDB_val *v, uint64_t last_pg, char *msg, size_t msgsz)
{
	if (v->mv_size < 8 || v->mv_size % 8 != 0 ||
			persist_rd64(v->mv_data) != v->mv_size / 8 - 1) {
		snprintf(msg, msgsz, "a free-list record is damaged (%zu bytes)", v->mv_size);
		return -1;
	}
	const uint8_t *p = v->mv_data;
	for (size_t k = 1; k < v->mv_size / 8; k++) {
		uint64_t pg = persist_rd64(p + 8 * k);
		if (pg < 2 || pg > last_pg) {
			snprintf(msg, msgsz, "the free list names page %llu, outside pages 2-%llu",
					(unsigned long long)pg, (unsigned long long)last_pg);
			return -1;
		}
	}
	return 0;
}

/* LMDB's order of keys: the free list's are native integers (txn ids);
 * every other database of ours uses the default, bytes then length. */
static int key_cmp(MDB_dbi dbi, const MDB_val *a, const MDB_val *b)
{
	if (dbi == 0 && a->mv_size == 8 && b->mv_size == 8) {
		uint64_t x = persist_rd64(a->mv_data), y = persist_rd64(b->mv_data);
		return x < y ? -1 : x > y;
	}
	size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;
	int c = memcmp(a->mv_data, b->mv_data, n);
	return c != 0 ? c : (a->mv_size < b->mv_size ? -1 : a->mv_size > b->mv_size);
}

/* Every record of @p dbi: keys in order, values read whole, the count as
 * the database records it. */
static int db_walk(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t last_pg, uint64_t *entries,
		char *msg, size_t msgsz)
{
	MDB_stat ms;
	MDB_cursor *cur;
	int rc = mdb_stat(txn, dbi, &ms);
	if (rc == 0) {
		rc = mdb_cursor_open(txn, dbi, &cur);
	}
	if (rc != 0) {
		snprintf(msg, msgsz, "database %s: %s", name, mdb_strerror(rc));
		return -1;
	}
	static uint8_t prev[512];
	MDB_val pk = {0, prev}, k, v;
	uint64_t n = 0;
	volatile uint8_t sink = 0;
	int ret = 0;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), n++) {
		if (k.mv_size > sizeof(prev) || (n > 0 && key_cmp(dbi, &pk, &k) >= 0)) {
			snprintf(msg, msgsz, "database %s: keys out of order at record %llu", name,
					(unsigned long long)n);
			ret = -1;
			break;
		}
		memcpy(prev, k.mv_data, k.mv_size);
		pk.mv_size = k.mv_size;
		const uint8_t *d = v.mv_data;
		for (size_t i = 0; i < v.mv_size; i += 512) {
			sink ^= d[i];
		}
		if (v.mv_size > 0) {
			sink ^= d[v.mv_size - 1];
		}
		if (dbi == 0 && free_entry_check(&v, last_pg, msg, msgsz) < 0) {
			ret = -1;
			break;
		}
	}
	(void)sink;
	if (ret == 0 && rc != MDB_NOTFOUND) {
		snprintf(msg, msgsz, "database %s at record %llu: %s", name, (unsigned long long)n,
				mdb_strerror(rc));
		ret = -1;
	} else if (ret == 0 && n != ms.ms_entries) {
		snprintf(msg, msgsz, "database %s: %llu records walked, %llu recorded", name,
				(unsigned long long)n, (unsigned long long)ms.ms_entries);
		ret = -1;
	}
	mdb_cursor_close(cur);
	*entries += n;
	return ret;
}

/* An error of the system, not of the file: the check could not run (no
 * descriptor, no permission, a failed read), and the store must not be
 * called damaged, nor a restore or a reset advised. LMDB's own codes, and
 * the errnos a damaged file can cause (ENOMEM or EINVAL mapping a meta
 * page's garbage map size), are damage. */
static bool system_error(int rc)
{
	return rc == EMFILE || rc == ENFILE || rc == EACCES || rc == EPERM || rc == EIO ||
	       rc == EAGAIN || rc == EINTR;
}

/* The child's work: returns its exit code, with @p msg set on damage. */
static int child_walk(const char *file, const struct persist_check_stats *st, unsigned meta,
		uint64_t *entries, char *msg, size_t msgsz)
{
	uint64_t last_pg = st->pages - 1;
	MDB_env *env;
	MDB_txn *txn;
	int rc = mdb_env_create(&env);
	if (rc == 0) {
		rc = mdb_env_set_maxdbs(env, 4);
	}
	if (rc == 0) {
		rc = mdb_env_open(env, file, MDB_RDONLY | MDB_NOLOCK | MDB_NOSUBDIR, 0);
	}
	if (rc == 0) {
		rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	}
	if (rc != 0) {
		snprintf(msg, msgsz, "LMDB cannot open it: %s", mdb_strerror(rc));
		return system_error(rc) ? CHILD_ERROR : CHILD_DAMAGED;
	}
	/* First every page as LMDB's writer will trust it, then LMDB's own
	 * reads (which check what the walk does not: the order across pages).
	 * The walk maps the file itself (mdb_env_info() gives the address a
	 * meta page recorded, not the mapping). */
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	size_t len = (size_t)(st->pages * st->psize);
	const uint8_t *map = fd < 0 ? MAP_FAILED : mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		snprintf(msg, msgsz, "cannot map it: %s", strerror(errno));
		return CHILD_ERROR;
	}
	uint64_t records = 0;
	if (persist_walk_pages(map, st->psize, st->pages, meta, &records, msg, msgsz) < 0) {
		return CHILD_DAMAGED;
	}
	if (db_walk(txn, 0, "free list", last_pg, entries, msg, msgsz) < 0 ||
			db_walk(txn, 1, "main", last_pg, entries, msg, msgsz) < 0) {
		return CHILD_DAMAGED;
	}
	static const char *const names[] = {"instances", "leases", "meta"};
	for (int d = 0; d < 3; d++) {
		MDB_dbi dbi;
		rc = mdb_dbi_open(txn, names[d], 0, &dbi);
		if (rc == MDB_NOTFOUND) {
			continue; /* a store made before its first commit */
		}
		if (rc != 0) {
			snprintf(msg, msgsz, "database %s: %s", names[d], mdb_strerror(rc));
			return CHILD_DAMAGED;
		}
		if (db_walk(txn, dbi, names[d], last_pg, entries, msg, msgsz) < 0) {
			return CHILD_DAMAGED;
		}
	}
	/* No abort or close: the process exits, and the mapping goes with it. */
	return CHILD_OK;
}

/* The first line of what the child wrote (its message, or LMDB's
 * assertion text), into @p out. */
static void first_line(const char *in, char *out, size_t outsz)
{
	size_t n = strcspn(in, "\n");
	snprintf(out, outsz, "%.*s", (int)n, in);
}

/* Read everything the child writes until it closes its end or @p timeout_ms
 * passes. Returns 0, -ETIMEDOUT on timeout, or -errno when the pipe cannot
 * be read (no verdict: not damage, and the child is not to be waited on
 * while it may still write). */
static int child_read(int fd, char *buf, size_t bufsz, int timeout_ms)
{
	size_t len = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long spent = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (spent >= timeout_ms) {
			buf[len] = '\0';
			return -ETIMEDOUT;
		}
		struct pollfd pfd = {fd, POLLIN, 0};
		int r = poll(&pfd, 1, (int)(timeout_ms - spent));
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			continue;
		}
		char tmp[512];
		ssize_t got = read(fd, tmp, sizeof(tmp));
		if (got < 0 && errno == EINTR) {
			continue;
		}
		if (got <= 0) {
			buf[len] = '\0';
			return got < 0 ? -errno : 0;
		}
		size_t take = (size_t)got < bufsz - 1 - len ? (size_t)got : bufsz - 1 - len;
		memcpy(buf + len, tmp, take);
		len += take;
	}
}

#ifdef ROSTER_COVERAGE
void __gcov_dump(void);
#endif

static int walk_in_child(const char *file, struct persist_check_stats *st, unsigned meta, char *err,
		size_t errsz)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		int e = errno;
		snprintf(err, errsz, "cannot start the check: %s", strerror(e));
		return -e;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pfd[0]);
		close(pfd[1]);
		snprintf(err, errsz, "cannot start the check: %s", strerror(e));
		return -e;
	}
	if (pid == 0) {
		/* LMDB's assertion messages go to stderr: into the pipe too.
		 * A damaged page must end the child by its signal, whoever
		 * handled it before (a sanitizer would turn it into a report). */
		close(pfd[0]);
		static const int sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
		for (size_t k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++) {
			signal(sigs[k], SIG_DFL);
		}
		dup2(pfd[1], STDERR_FILENO);
		char msg[512] = "";
		uint64_t n = 0;
		int code = child_walk(file, st, meta, &n, msg, sizeof(msg));
		char out[600];
		int len = code == CHILD_OK ? snprintf(out, sizeof(out), "ok %llu\n",
							     (unsigned long long)n)
					   : snprintf(out, sizeof(out), "%s\n", msg);
		if (write(pfd[1], out, (size_t)len) < 0) {
			code = CHILD_ERROR; /* its verdict is lost: no verdict */
		}
#ifdef ROSTER_COVERAGE
		/* _exit() skips gcov's exit hook: the walk's counters would be lost
		 * (a coverage build only, -Db_coverage=true). */
		__gcov_dump();
#endif
		_exit(code);
	}
	close(pfd[1]);
	char buf[1024];
	uint64_t limit_s = CHILD_MIN_S + st->file_bytes / (10u << 20) * CHILD_S_PER_10MB;
	int rd = child_read(pfd[0], buf, sizeof(buf), (int)(limit_s * 1000));
	close(pfd[0]);
	if (rd < 0) {
		kill(pid, SIGKILL);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
	}
	char line[512];
	first_line(buf, line, sizeof(line));
	if (rd == -ETIMEDOUT) {
		snprintf(err, errsz, "the B-tree walk did not finish in %llu s (a loop of pages?)",
				(unsigned long long)limit_s);
		return RS_ESTORE_DAMAGED;
	}
	if (rd < 0) {
		snprintf(err, errsz, "cannot read the B-tree walk's verdict: %s", strerror(-rd));
		return rd;
	}
	if (WIFSIGNALED(status)) {
		snprintf(err, errsz, "a damaged page: the B-tree walk died by signal %d (%s)%s%s",
				WTERMSIG(status), strsignal(WTERMSIG(status)),
				line[0] != '\0' ? ": " : "", line);
		return RS_ESTORE_DAMAGED;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_ERROR) {
		snprintf(err, errsz, "%s",
				line[0] != '\0' ? line : "the B-tree walk could not run");
		return RS_EIO;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != CHILD_OK) {
		snprintf(err, errsz, "%s", line[0] != '\0' ? line : "the B-tree walk failed");
		return RS_ESTORE_DAMAGED;
	}
	st->entries = strtoull(line + 3, NULL, 10);
	return 0;
}

int persist_check_file(const char *file, struct persist_check_stats *st, char *err, size_t errsz)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(st, 0, sizeof(*st));
	unsigned meta = 0;
	int rc = metas_check(file, st, &meta, err, errsz);
	if (rc == 0) {
		rc = walk_in_child(file, st, meta, err, errsz);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	st->ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	return rc;
}

bool persist_file_is_lmdb(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		return false;
	}
	struct stat st;
	uint8_t b[OFF_MAGIC + 4];
	bool lmdb = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    pread(fd, b, sizeof(b), 0) == (ssize_t)sizeof(b) &&
		    persist_rd32(b + OFF_MAGIC) == META_MAGIC;
	close(fd);
	return lmdb;
}

/* ---- the data directory ------------------------------------------------------ */

static int path_in(char *out, size_t outsz, const char *dir, const char *name)
{
	return (size_t)snprintf(out, outsz, "%s/%s", dir, name) < outsz ? 0 : RS_ERANGE;
}

/* LMDB's lock file is rebuilt by LMDB itself whenever the process opening
 * the store is its only user (mdb_env_setup_locks() takes an exclusive
 * fcntl lock on its first byte, then initialises it). A damaged lock file is
 * therefore harmless unless another process (an mdb_stat, a backup tool)
 * holds it; then its mutexes would be garbage, and we refuse. */
static int lock_file_check(const char *dir, char *note, size_t notesz, char *err, size_t errsz)
{
	char path[PATH_MAX], aside[PATH_MAX + 16];
	if (path_in(path, sizeof(path), dir, "lock.mdb") < 0) {
		return RS_ERANGE;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return 0; /* none yet: LMDB makes one */
	}
	uint8_t b[4] = {0};
	ssize_t got = pread(fd, b, 4, 0);
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
	int lk = fcntl(fd, F_GETLK, &fl);
	close(fd); /* we held no lock on it: closing releases nothing */
	uint32_t magic = persist_rd32(b);
	bool in_use = lk == 0 && fl.l_type != F_UNLCK;
	if (got == 4 && (magic == LOCK_MAGIC || (magic == 0 && !in_use))) {
		return 0; /* sound, or never initialised (a new, zero-filled file) */
	}
	if (got == 0 && !in_use) {
		return 0; /* empty: LMDB sizes and initialises it */
	}
	if (in_use) {
		snprintf(err, errsz,
				"the lock file %s is damaged (magic 0x%08x) and process %d uses the "
				"store: stop it and start rosterd again (LMDB rebuilds the lock file "
				"when no other process uses it)",
				path, magic, (int)fl.l_pid);
		return RS_ESTORE_DAMAGED;
	}
	snprintf(aside, sizeof(aside), "%s.damaged", path);
	if (rename(path, aside) < 0) {
		int e = errno;
		snprintf(err, errsz, "the lock file %s is damaged and cannot be moved aside: %s",
				path, strerror(e));
		return -e;
	}
	snprintf(note, notesz,
			"the lock file %s was damaged (magic 0x%08x); no other process used the "
			"store, so a new one is made (the old one is kept as %s)",
			path, magic, aside);
	return 0;
}

int persist_check_dir(const char *dir, struct persist_check_stats *st, char *note, size_t notesz,
		char *err, size_t errsz)
{
	char data[PATH_MAX], lock[PATH_MAX], marker[PATH_MAX];
	if (path_in(data, sizeof(data), dir, "data.mdb") < 0 ||
			path_in(lock, sizeof(lock), dir, "lock.mdb") < 0 ||
			path_in(marker, sizeof(marker), dir, MARKER_NAME) < 0) {
		snprintf(err, errsz, "data dir %s: path too long", dir);
		return RS_ERANGE;
	}
	memset(st, 0, sizeof(*st));
	note[0] = '\0';
	struct stat sb;
	bool had_marker = access(marker, F_OK) == 0;
	bool had_lock = access(lock, F_OK) == 0;
	char what[2 * PATH_MAX + 1024];
	int rc;
	if (stat(data, &sb) < 0) {
		if (errno != ENOENT || !had_marker) {
			return 0; /* a new store (or an error LMDB will name) */
		}
		snprintf(what, sizeof(what), "it is missing, but a store existed here (%s)",
				marker);
		rc = RS_ESTORE_DAMAGED;
	} else if (sb.st_size == 0 && (had_marker || had_lock)) {
		snprintf(what, sizeof(what), "it is empty (0 bytes), but a store existed here (%s)",
				had_marker ? marker : lock);
		rc = RS_ESTORE_DAMAGED;
	} else if (sb.st_size == 0) {
		return 0;
	} else {
		rc = persist_check_file(data, st, what, sizeof(what));
	}
	if (rc == 0) {
		rc = lock_file_check(dir, note, notesz, what, sizeof(what));
		if (rc < 0) {
			snprintf(err, errsz, "store %s: %s", dir, what);
			return rc;
		}
		return 0;
	}
	if (rc == RS_ESTORE_DAMAGED) {
		snprintf(err, errsz,
				"store %s is damaged: %s; not served: restore a backup or start empty "
				"with --reset-store (docs/operations.md, \"Damage\")",
				data, what);
	} else {
		snprintf(err, errsz, "store %s: cannot check: %s", data, what);
	}
	return rc;
}

int persist_marker_write(const char *dir)
{
	char marker[PATH_MAX];
	if (path_in(marker, sizeof(marker), dir, MARKER_NAME) < 0) {
		return RS_ERANGE;
	}
	if (access(marker, F_OK) == 0) {
		return 0;
	}
	int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0) {
		return errno == EEXIST ? 0 : -errno;
	}
	static const char text[] =
			"a roster store lives here: data.mdb missing or empty is damage\n";
	int rc = write(fd, text, sizeof(text) - 1) == (ssize_t)sizeof(text) - 1 ? 0 : -EIO;
	if (rc == 0 && fsync(fd) < 0) {
		rc = -errno;
	}
	close(fd);
	return rc;
}
