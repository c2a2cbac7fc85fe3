/*
 * tests/faults/lmdbfault.c - fault injection at the LMDB boundary, for tests.
 *
 * Model: an LD_PRELOAD shim. It wraps mdb_txn_commit(), mdb_put(),
 * mdb_del() and mdb_env_set_mapsize() (the real ones are found with dlsym(RTLD_NEXT)) and
 * makes a chosen call fail with a chosen LMDB or errno code, so that the
 * real rosterd meets a full map, an I/O error or a panic exactly where the
 * real library would report one. The product carries no switch for it.
 *
 * It imitates what LMDB does on the same failure, so that the caller sees
 * nothing LMDB itself would not do:
 * - a failed mdb_txn_commit() frees the transaction (the real one is
 *   aborted), as LMDB documents;
 * - a failed mdb_put() or mdb_del() leaves its transaction in the error state: every
 *   later put or delete in it fails with MDB_BAD_TXN and its commit aborts it and
 *   returns MDB_BAD_TXN (LMDB sets MDB_TXN_ERROR). A nested transaction's
 *   error is its own: its parent goes on once it is aborted.
 * - a failed mdb_env_set_mapsize() leaves the map as it was.
 * - a commit of a transaction that changed nothing writes nothing in LMDB,
 *   so no disk fault can fail it: only commits of transactions that wrote
 *   (a put or a delete, theirs or a committed nested one's) are failed.
 * Read-only transactions are never failed.
 *
 * Configured by the environment, read once at the first wrapped call:
 *   LMDBFAULT_CALL   commit | put | del | mapsize   which call fails (unset:
 *                    none; the shim then only passes calls through)
 *   LMDBFAULT_ERROR  MAP_FULL | PANIC | EIO | ENOSPC | <number>   (default EIO)
 *   LMDBFAULT_TXN    top | nested | any   which write transactions' commits,
 *                    puts and deletes count (default any); ignored for mapsize
 * and when a matching call fails, one of (default: every matching call):
 *   LMDBFAULT_NTH    N      only the Nth matching call (1-based)
 *   LMDBFAULT_AFTER  N      every matching call after the first N
 *   LMDBFAULT_WHILE  PATH   every matching call while PATH exists
 *   LMDBFAULT_ONCE   PATH   the first matching call while PATH exists; the
 *                           shim then removes PATH (one shot, armed by the
 *                           test when it wants it)
 *   LMDBFAULT_LOG    PATH   one line appended per injected failure
 *                           ("<call> <code> <count>"), so that a test can
 *                           prove the fault happened
 *
 * Threads: any; one mutex guards the counters and the transaction table.
 * Must not: change what a call does when it is not failed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum fault_call { FAULT_NONE, FAULT_COMMIT, FAULT_PUT, FAULT_DEL, FAULT_MAPSIZE };
enum fault_txn { FAULT_TXN_ANY, FAULT_TXN_TOP, FAULT_TXN_NESTED };
enum fault_when { WHEN_ALWAYS, WHEN_NTH, WHEN_AFTER, WHEN_WHILE, WHEN_ONCE };

/* Write transactions alive at once: one top-level and its nested ones
 * (LMDB allows one writer per environment). */
#define TXN_SLOTS 64

struct txn_slot {
	MDB_txn *txn;
	MDB_txn *parent; /* NULL: top-level */
	bool failed;     /* a put failed in it: LMDB's MDB_TXN_ERROR */
	bool dirty;      /* it wrote something */
};

struct fault {
	pthread_mutex_t lock;
	bool configured;
	enum fault_call call;
	enum fault_txn txn;
	enum fault_when when;
	int error;
	unsigned long n;
	unsigned long count; /* matching calls so far */
	char path[4096];
	char log[4096];
	struct txn_slot slots[TXN_SLOTS];
	int (*real_commit)(MDB_txn *);
	int (*real_put)(MDB_txn *, MDB_dbi, MDB_val *, MDB_val *, unsigned);
	int (*real_del)(MDB_txn *, MDB_dbi, MDB_val *, MDB_val *);
	int (*real_cursor_put)(MDB_cursor *, MDB_val *, MDB_val *, unsigned);
	int (*real_cursor_del)(MDB_cursor *, unsigned);
	int (*real_mapsize)(MDB_env *, size_t);
	int (*real_begin)(MDB_env *, MDB_txn *, unsigned, MDB_txn **);
	void (*real_abort)(MDB_txn *);
};

static struct fault F = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void die(const char *what)
{
	fprintf(stderr, "lmdbfault: %s\n", what);
	abort();
}

static void *real(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);
	if (f == NULL) {
		die(name);
	}
	return f;
}

static int parse_error(const char *s)
{
	if (s == NULL || strcmp(s, "EIO") == 0) {
		return EIO;
	}
	if (strcmp(s, "MAP_FULL") == 0) {
		return MDB_MAP_FULL;
	}
	if (strcmp(s, "PANIC") == 0) {
		return MDB_PANIC;
	}
	if (strcmp(s, "ENOSPC") == 0) {
		return ENOSPC;
	}
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v == 0) {
		die("LMDBFAULT_ERROR: MAP_FULL, PANIC, EIO, ENOSPC or a non-zero number");
	}
	return (int)v;
}

static void set_path(const char *v)
{
	if (strlen(v) >= sizeof(F.path)) {
		die("path too long");
	}
	strcpy(F.path, v);
}

/* Called with F.lock held. */
static void configure(void)
{
	if (F.configured) {
		return;
	}
	F.configured = true;
	F.real_commit = (int (*)(MDB_txn *))real("mdb_txn_commit");
	F.real_put = (int (*)(MDB_txn *, MDB_dbi, MDB_val *, MDB_val *, unsigned))real("mdb_put");
	F.real_del = (int (*)(MDB_txn *, MDB_dbi, MDB_val *, MDB_val *))real("mdb_del");
	F.real_cursor_put = (int (*)(MDB_cursor *, MDB_val *, MDB_val *, unsigned))real(
			"mdb_cursor_put");
	F.real_cursor_del = (int (*)(MDB_cursor *, unsigned))real("mdb_cursor_del");
	F.real_mapsize = (int (*)(MDB_env *, size_t))real("mdb_env_set_mapsize");
	F.real_begin = (int (*)(MDB_env *, MDB_txn *, unsigned, MDB_txn **))real("mdb_txn_begin");
	F.real_abort = (void (*)(MDB_txn *))real("mdb_txn_abort");
	const char *call = getenv("LMDBFAULT_CALL");
	if (call == NULL || *call == '\0') {
		F.call = FAULT_NONE;
	} else if (strcmp(call, "commit") == 0) {
		F.call = FAULT_COMMIT;
	} else if (strcmp(call, "put") == 0) {
		F.call = FAULT_PUT;
	} else if (strcmp(call, "del") == 0) {
		F.call = FAULT_DEL;
	} else if (strcmp(call, "mapsize") == 0) {
		F.call = FAULT_MAPSIZE;
	} else {
		die("LMDBFAULT_CALL: commit, put, del or mapsize");
	}
	F.error = parse_error(getenv("LMDBFAULT_ERROR"));
	const char *txn = getenv("LMDBFAULT_TXN");
	if (txn == NULL || strcmp(txn, "any") == 0) {
		F.txn = FAULT_TXN_ANY;
	} else if (strcmp(txn, "top") == 0) {
		F.txn = FAULT_TXN_TOP;
	} else if (strcmp(txn, "nested") == 0) {
		F.txn = FAULT_TXN_NESTED;
	} else {
		die("LMDBFAULT_TXN: top, nested or any");
	}
	const char *v;
	F.when = WHEN_ALWAYS;
	if ((v = getenv("LMDBFAULT_NTH")) != NULL) {
		F.when = WHEN_NTH;
		F.n = strtoul(v, NULL, 10);
	} else if ((v = getenv("LMDBFAULT_AFTER")) != NULL) {
		F.when = WHEN_AFTER;
		F.n = strtoul(v, NULL, 10);
	} else if ((v = getenv("LMDBFAULT_WHILE")) != NULL) {
		F.when = WHEN_WHILE;
		set_path(v);
	} else if ((v = getenv("LMDBFAULT_ONCE")) != NULL) {
		F.when = WHEN_ONCE;
		set_path(v);
	}
	if ((v = getenv("LMDBFAULT_LOG")) != NULL) {
		if (strlen(v) >= sizeof(F.log)) {
			die("LMDBFAULT_LOG too long");
		}
		strcpy(F.log, v);
	}
}

static struct txn_slot *slot_of(const MDB_txn *txn)
{
	for (int i = 0; i < TXN_SLOTS; i++) {
		if (F.slots[i].txn == txn) {
			return &F.slots[i];
		}
	}
	return NULL;
}

static void slot_drop(const MDB_txn *txn)
{
	struct txn_slot *s = slot_of(txn);
	if (s != NULL) {
		memset(s, 0, sizeof(*s));
	}
}

static bool txn_matches(const struct txn_slot *s)
{
	if (s == NULL) {
		return false; /* read-only: never failed */
	}
	return F.txn == FAULT_TXN_ANY || (F.txn == FAULT_TXN_NESTED) == (s->parent != NULL);
}

/* Decide for one matching call; F.lock held. */
static bool fire(enum fault_call call)
{
	if (F.call != call) {
		return false;
	}
	F.count++;
	bool yes = false;
	switch (F.when) {
	case WHEN_ALWAYS:
		yes = true;
		break;
	case WHEN_NTH:
		yes = F.count == F.n;
		break;
	case WHEN_AFTER:
		yes = F.count > F.n;
		break;
	case WHEN_WHILE:
		yes = access(F.path, F_OK) == 0;
		break;
	case WHEN_ONCE:
		yes = unlink(F.path) == 0;
		break;
	}
	if (yes && F.log[0] != '\0') {
		static const char *names[] = {"none", "commit", "put", "del", "mapsize"};
		char line[128];
		int len = snprintf(
				line, sizeof(line), "%s %d %lu\n", names[call], F.error, F.count);
		int fd = open(F.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0) {
			if (write(fd, line, (size_t)len) != len) {
				/* the test will see the line missing */
			}
			close(fd);
		}
	}
	return yes;
}

int mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn)
{
	pthread_mutex_lock(&F.lock);
	configure();
	pthread_mutex_unlock(&F.lock);
	int rc = F.real_begin(env, parent, flags, txn);
	if (rc != 0 || (flags & MDB_RDONLY) != 0) {
		return rc;
	}
	pthread_mutex_lock(&F.lock);
	slot_drop(*txn); /* a handle freed while we were not looking */
	struct txn_slot *s = slot_of(NULL);
	if (s == NULL) {
		die("more write transactions at once than slots");
	}
	s->txn = *txn;
	s->parent = parent;
	s->failed = false;
	s->dirty = false;
	pthread_mutex_unlock(&F.lock);
	return rc;
}

void mdb_txn_abort(MDB_txn *txn)
{
	pthread_mutex_lock(&F.lock);
	configure();
	slot_drop(txn);
	pthread_mutex_unlock(&F.lock);
	F.real_abort(txn);
}

static void mark_dirty(const MDB_txn *txn)
{
	pthread_mutex_lock(&F.lock);
	struct txn_slot *s = slot_of(txn);
	if (s != NULL) {
		s->dirty = true;
	}
	pthread_mutex_unlock(&F.lock);
}

int mdb_txn_commit(MDB_txn *txn)
{
	pthread_mutex_lock(&F.lock);
	configure();
	struct txn_slot *s = slot_of(txn);
	struct txn_slot mine = s != NULL ? *s : (struct txn_slot){0};
	int rc = 0;
	if (mine.failed) {
		rc = MDB_BAD_TXN;
	} else if (mine.dirty && txn_matches(s) && fire(FAULT_COMMIT)) {
		rc = F.error;
	}
	slot_drop(txn);
	pthread_mutex_unlock(&F.lock);
	if (rc != 0) {
		/* LMDB: "the transaction handle is freed" whatever the outcome. */
		F.real_abort(txn);
		return rc;
	}
	rc = F.real_commit(txn);
	if (rc == 0 && mine.dirty && mine.parent != NULL) {
		mark_dirty(mine.parent); /* a nested commit's writes are its parent's now */
	}
	return rc;
}

/* A put or a delete: fails like LMDB, leaving its transaction unusable. */
static int write_fault(MDB_txn *txn, enum fault_call call)
{
	pthread_mutex_lock(&F.lock);
	configure();
	struct txn_slot *s = slot_of(txn);
	int rc = 0;
	if (s != NULL && s->failed) {
		rc = MDB_BAD_TXN;
	} else if (txn_matches(s) && fire(call)) {
		rc = F.error;
		s->failed = true;
	}
	pthread_mutex_unlock(&F.lock);
	return rc;
}

/* A real failure puts the transaction in the error state too; LMDB itself
 * answers the next calls then. */
int mdb_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data, unsigned int flags)
{
	int rc = write_fault(txn, FAULT_PUT);
	if (rc == 0 && (rc = F.real_put(txn, dbi, key, data, flags)) == 0) {
		mark_dirty(txn);
	}
	return rc;
}

int mdb_del(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data)
{
	int rc = write_fault(txn, FAULT_DEL);
	if (rc == 0 && (rc = F.real_del(txn, dbi, key, data)) == 0) {
		mark_dirty(txn);
	}
	return rc;
}

/* Cursor writes are passed through, only noted: a commit after them writes. */
int mdb_cursor_put(MDB_cursor *cur, MDB_val *key, MDB_val *data, unsigned int flags)
{
	pthread_mutex_lock(&F.lock);
	configure();
	pthread_mutex_unlock(&F.lock);
	int rc = F.real_cursor_put(cur, key, data, flags);
	if (rc == 0) {
		mark_dirty(mdb_cursor_txn(cur));
	}
	return rc;
}

int mdb_cursor_del(MDB_cursor *cur, unsigned int flags)
{
	pthread_mutex_lock(&F.lock);
	configure();
	pthread_mutex_unlock(&F.lock);
	int rc = F.real_cursor_del(cur, flags);
	if (rc == 0) {
		mark_dirty(mdb_cursor_txn(cur));
	}
	return rc;
}

int mdb_env_set_mapsize(MDB_env *env, size_t size)
{
	pthread_mutex_lock(&F.lock);
	configure();
	bool yes = fire(FAULT_MAPSIZE);
	pthread_mutex_unlock(&F.lock);
	return yes ? F.error : F.real_mapsize(env, size);
}
