/*
 * persist on the loop thread: opening the environment, the store's hooks
 * (each write encoded into the pending batch), handing batches to the
 * writer and taking them back. See persist.h for the model and
 * persist_internal.h for the layering.
 */
#include "server/registry/persist.h"
#include "server/registry/persist_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/file.h"

/* The room a batch needs in the map is estimated from the bytes of its keys
 * and values: every page a write touches is copied before it is changed, and
 * a batch's writes share pages, so twice its bytes, plus slack for branch
 * pages, the free list and the meta pages. At the maximum size a put is
 * refused once the estimate passes REFUSE_AT_PCT of the map, which keeps room
 * for deletes, expiries and the commit's own pages: those must not fail. */
#define ROOM_FACTOR 2
#define ROOM_SLACK (64u * 1024)
#define REFUSE_AT_PCT 90

/* A batch buffer that grew past this is given back once it is empty. */
#define BATCH_KEEP_MAX (16u << 20)

/* ---- batches ---------------------------------------------------------------- */

static void batch_reset(struct persist_batch *b)
{
	if (b->buf.cap > BATCH_KEEP_MAX) {
		rs_buf_deinit(&b->buf);
	} else {
		rs_buf_reset(&b->buf);
	}
	b->nops = 0;
	b->bytes = 0;
	b->revision_dirty = false;
}

static bool batch_has_writes(const struct persist_batch *b)
{
	return b->nops > 0 || b->revision_dirty;
}

/* Append one write to the pending batch. */
static int batch_add(struct persist *p, enum persist_op_kind kind, enum persist_db db,
		const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
	struct persist_batch *b = p->pending;
	if (!rs_buf_reserve(&b->buf, sizeof(struct persist_op) + klen + vlen)) {
		/* This write fails alone, as a failed mutation does: the batch
		 * keeps its writes and takes the next ones (the buffer is intact
		 * after a failed growth; only its sticky failure is forgotten). */
		b->buf.err = 0;
		return RS_ENOMEM;
	}
	struct persist_op op = {(uint8_t)kind, (uint8_t)db, (uint16_t)klen, (uint32_t)vlen};
	rs_buf_add(&b->buf, &op, sizeof(op));
	rs_buf_add(&b->buf, key, klen);
	rs_buf_add(&b->buf, val, vlen);
	b->nops++;
	b->bytes += klen + vlen;
	return 0;
}

/* Would @p more bytes of puts still fit once the map is as large as it may
 * grow? Counts a refusal when not. */
static bool room_refused(struct persist *p, size_t more)
{
	uint64_t bytes = p->pending->bytes + p->inflight_bytes + more;
	uint64_t need = p->used_bytes + ROOM_FACTOR * bytes + ROOM_SLACK;
	if (need * 100 <= p->map_max * REFUSE_AT_PCT) {
		return false;
	}
	p->refusals++;
	return true;
}

/* ---- store hooks -------------------------------------------------------- */

static int op_begin(void *ctx)
{
	struct persist *p = ctx;
	if (p->panic) {
		return RS_ESTORE_PANIC;
	}
	if (p->depth == PERSIST_NEST_MAX) {
		return RS_ESTORE;
	}
	const struct persist_batch *b = p->pending;
	p->marks[p->depth++] = (struct persist_mark){
			b->buf.len, b->nops, b->bytes, b->revision, b->revision_dirty};
	return 0;
}

static int op_commit(void *ctx)
{
	struct persist *p = ctx;
	if (p->depth > 0) {
		p->depth--;
	}
	return 0;
}

/* Take the mutation's writes out again. A record number it took stays
 * taken: an instance may keep it, and numbers need not be dense. */
static void op_abort(void *ctx)
{
	struct persist *p = ctx;
	if (p->depth == 0) {
		return;
	}
	const struct persist_mark *m = &p->marks[--p->depth];
	struct persist_batch *b = p->pending;
	b->buf.len = m->len;
	b->nops = m->nops;
	b->bytes = m->bytes;
	b->revision = m->revision;
	b->revision_dirty = m->revision_dirty;
}

static int op_instance_put(void *ctx, struct store_instance *i)
{
	struct persist *p = ctx;
	size_t need = persist_instance_size_max(i);
	if (need > p->vcap) {
		uint8_t *nb = realloc(p->vbuf, need);
		if (nb == NULL) {
			return RS_ENOMEM;
		}
		p->vbuf = nb;
		p->vcap = need;
	}
	size_t vlen;
	if (persist_instance_encode(i, p->vbuf, p->vcap, &vlen) < 0) {
		return RS_ESTORE;
	}
	if (room_refused(p, 8 + vlen)) {
		return RS_ESTORE_FULL;
	}
	bool append = i->rec == 0;
	uint64_t rec = append ? p->next_rec : i->rec;
	uint8_t key[8];
	persist_key(rec, key);
	int rc = batch_add(p, append ? PERSIST_OP_APPEND : PERSIST_OP_PUT, PERSIST_DB_INSTANCES,
			key, 8, p->vbuf, vlen);
	if (rc == 0 && append) {
		i->rec = rec;
		p->next_rec++;
	}
	return rc;
}

static int op_instance_del(void *ctx, const struct store_instance *i)
{
	if (i->rec == 0) {
		return 0; /* never written */
	}
	uint8_t key[8];
	persist_key(i->rec, key);
	return batch_add(ctx, PERSIST_OP_DEL, PERSIST_DB_INSTANCES, key, 8, NULL, 0);
}

static int op_lease_put(void *ctx, const struct store_lease *l)
{
	struct persist *p = ctx;
	uint8_t key[8], val[PERSIST_LEASE_VALUE];
	persist_key(l->id, key);
	persist_lease_encode(l->ttl_ms, val);
	if (room_refused(p, sizeof(key) + sizeof(val))) {
		return RS_ESTORE_FULL;
	}
	return batch_add(p, PERSIST_OP_PUT, PERSIST_DB_LEASES, key, 8, val, sizeof(val));
}

static int op_lease_del(void *ctx, uint64_t id)
{
	uint8_t key[8];
	persist_key(id, key);
	return batch_add(ctx, PERSIST_OP_DEL, PERSIST_DB_LEASES, key, 8, NULL, 0);
}

static int op_revision_put(void *ctx, uint64_t revision)
{
	struct persist *p = ctx;
	p->pending->revision = revision;
	p->pending->revision_dirty = true; /* written once, after the batch's writes */
	return 0;
}

static const struct store_persist_ops ops = {
		.begin = op_begin,
		.commit = op_commit,
		.abort = op_abort,
		.instance_put = op_instance_put,
		.instance_del = op_instance_del,
		.lease_put = op_lease_put,
		.lease_del = op_lease_del,
		.revision_put = op_revision_put,
};

const struct store_persist_ops *persist_ops(void)
{
	return &ops;
}

/* ---- handing batches to the writer ------------------------------------------- */

/* A batch is back from the writer: note what it did, and tell the owner. */
static void batch_finish(struct persist *p, struct persist_batch *b)
{
	char why[sizeof(b->why)];
	memcpy(why, b->why, sizeof(why));
	struct persist_result r = {b->rc, b->map_before, b->map_after, why};
	p->inflight = NULL;
	p->inflight_bytes = 0;
	p->commits++;
	p->last_rc = r.rc;
	p->map_size = b->map_after;
	p->used_bytes = b->used_bytes;
	batch_reset(b);
	if (r.rc == RS_ESTORE_PANIC) {
		p->panic = true;
	}
	if (r.rc < 0) {
		/* The writes collected since were made on top of the lost
		 * ones: they go too, and the store is rebuilt from the disk. */
		batch_reset(p->pending);
	}
	if (p->done_cb != NULL) {
		p->done_cb(&r, p->done_ud);
	}
}

int persist_batch_open(const struct persist *p)
{
	return batch_has_writes(p->pending);
}

bool persist_batch_busy(const struct persist *p)
{
	return p->inflight != NULL;
}

int persist_batch_submit(struct persist *p)
{
	if (p->inflight != NULL || !batch_has_writes(p->pending)) {
		return 0;
	}
	if (p->panic) {
		batch_reset(p->pending);
		return 0;
	}
	struct persist_batch *b = p->pending;
	p->pending = b == &p->batches[0] ? &p->batches[1] : &p->batches[0];
	p->inflight = b;
	p->inflight_bytes = b->bytes;
	if (!p->started) {
		persist_writer_run(p, b);
		batch_finish(p, b);
		return 1;
	}
	pthread_mutex_lock(&p->lock);
	p->work = b;
	p->work_done = false;
	pthread_cond_signal(&p->work_cond);
	pthread_mutex_unlock(&p->lock);
	return 1;
}

/* Take the batch back from the writer once it is done (@p block: wait). */
static struct persist_batch *batch_take(struct persist *p, bool block)
{
	pthread_mutex_lock(&p->lock);
	while (block && p->work != NULL && !p->work_done) {
		pthread_cond_wait(&p->done_cond, &p->lock);
	}
	struct persist_batch *b = p->work != NULL && p->work_done ? p->work : NULL;
	if (b != NULL) {
		p->work = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	return b;
}

static void async_cb(uv_async_t *h)
{
	struct persist *p = h->data;
	struct persist_batch *b = batch_take(p, false);
	if (b != NULL) {
		batch_finish(p, b);
	}
}

int persist_batch_wait(struct persist *p)
{
	if (p->inflight == NULL) {
		return 0;
	}
	struct persist_batch *b = batch_take(p, true);
	int rc = b->rc;
	batch_finish(p, b);
	return rc;
}

int persist_batch_commit(struct persist *p)
{
	int rc = 0;
	while (p->inflight != NULL || batch_has_writes(p->pending)) {
		if (p->inflight == NULL && persist_batch_submit(p) == 0) {
			break; /* the environment is unusable: nothing more goes */
		}
		persist_batch_wait(p); /* 0 when it was committed inline */
		rc = p->last_rc;
	}
	return rc;
}

int persist_start(struct persist *p, uv_loop_t *loop, persist_done_cb cb, void *ud)
{
	int rc = uv_async_init(loop, &p->async, async_cb);
	if (rc < 0) {
		return rc;
	}
	p->async.data = p;
	rc = persist_writer_start(p);
	if (rc < 0) {
		uv_close((uv_handle_t *)&p->async, NULL);
		return rc;
	}
	p->done_cb = cb;
	p->done_ud = ud;
	p->started = true;
	return 0;
}

void persist_stop(struct persist *p)
{
	if (p == NULL || !p->started) {
		return;
	}
	while (p->inflight != NULL) {
		persist_batch_wait(p); /* its callback may hand over another */
	}
	persist_writer_stop(p);
	p->started = false;
	p->done_cb = NULL;
	uv_close((uv_handle_t *)&p->async, NULL);
}

/* ---- open / close -------------------------------------------------------- */

/* LMDB's lock file for its default 126 readers is 125 reader slots and a
 * header, 8,192 octets on x86-64 but more where pthread mutexes are larger
 * (8,256 on arm64; mdb_env_setup_locks()). A new file gets 16 KiB: over
 * that everywhere, and LMDB, finding the file larger than it needs, takes
 * its reader count from the size (about 250 slots), which costs nothing. */
#define LOCK_FILE_MIN 16384

/*
 * Give LMDB's lock file its blocks before LMDB maps it. LMDB extends the file
 * with ftruncate() and writes it through a shared mapping, so on a full disk
 * the first write to a page that has no block yet is a SIGBUS, at start or
 * later when a reader takes a slot on an untouched page, where every other
 * write fails with ENOSPC. Allocated here, a full disk is an error message.
 * An existing file keeps its size (LMDB derives its reader count from it).
 */
static int lock_file_prealloc(const char *dir)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/lock.mdb", dir) >= sizeof(path)) {
		return RS_ERANGE;
	}
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		return -errno;
	}
	struct stat st;
	int rc = fstat(fd, &st) < 0 ? -errno : 0;
	if (rc == 0) {
		off_t len = st.st_size > 0 ? st.st_size : LOCK_FILE_MIN;
		rc = -posix_fallocate(fd, 0, len);
	}
	close(fd);
	return rc;
}

/* The number after the highest instance record: where appends go on. */
static int last_rec(MDB_txn *txn, MDB_dbi dbi, uint64_t *next)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc != 0) {
		return rc;
	}
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	*next = 1;
	if (rc == 0 && k.mv_size == 8) {
		*next = persist_key_value(k.mv_data) + 1;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

/* The data directory exists (one level is created), is a directory, and is
 * ours to use. */
static int dir_check(const char *dir, char *err, size_t errsz)
{
	struct stat st;
	if (stat(dir, &st) != 0) {
		if (errno != ENOENT || mkdir(dir, 0750) != 0) {
			int e = errno;
			snprintf(err, errsz, "data dir %s: %s", dir, strerror(e));
			return -e;
		}
	} else if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errsz, "data dir %s: not a directory", dir);
		return -ENOTDIR;
	}
	if (access(dir, R_OK | W_OK | X_OK) != 0) {
		int e = errno;
		snprintf(err, errsz, "data dir %s: %s", dir, strerror(e));
		return -e;
	}
	return 0;
}

/* Before LMDB opens the store, with the directory locked: a reset, the
 * damage check, the lock file's blocks. */
static int store_prepare(struct persist *p, unsigned flags, char *err, size_t errsz)
{
	const char *dir = p->path;
	int rc = 0;
	if (flags & PERSIST_OPEN_RESET) {
		rc = persist_reset(dir, p->note, sizeof(p->note), err, errsz);
	} else {
		rc = persist_check_dir(dir, &p->check, p->note, sizeof(p->note), err, errsz);
	}
	if (rc < 0) {
		return rc;
	}
	rc = lock_file_prealloc(dir);
	if (rc < 0) {
		snprintf(err, errsz, "data dir %s: cannot allocate the LMDB lock file: %s", dir,
				rs_strerror(rc));
	}
	return rc;
}

/* Open the environment and its databases; note the map's size and where
 * record numbers go on. Returns an LMDB code; @p what names the step. */
static int env_open(struct persist *p, uint64_t map_size, const char **what)
{
	*what = "cannot open the store";
	int rc = mdb_env_create(&p->env);
	if (rc == 0) {
		rc = mdb_env_set_maxdbs(p->env, 4);
	}
	if (rc == 0) {
		rc = mdb_env_set_mapsize(p->env, map_size);
	}
	if (rc == 0) {
		/* Default, fully durable sync mode: no MDB_NOSYNC, no
		 * MDB_NOMETASYNC, no MDB_WRITEMAP (robustness catalogue 4.2).
		 * MDB_NOTLS: read transactions are not tied to a thread. */
		rc = mdb_env_open(p->env, p->path, MDB_NOTLS, 0640);
	}
	if (rc != 0) {
		return rc;
	}
	*what = "cannot initialise the store";
	/* A process killed while reading leaves reader slots behind; they
	 * pin old pages and make the map grow (catalogue 4.1). */
	if (persist_readers_check(p) < 0) {
		/* not fatal: the store works, and the tick tries again */
	}
	MDB_envinfo info;
	MDB_stat st;
	mdb_env_info(p->env, &info);
	mdb_env_stat(p->env, &st);
	p->psize = st.ms_psize;
	/* An existing store that grew, or one whose data is larger than the
	 * map asked for: LMDB then maps exactly its data. */
	p->map_size = info.me_mapsize > map_size ? info.me_mapsize : map_size;
	p->w_map_size = p->map_size;
	if (p->map_max < p->map_size) {
		p->map_max = p->map_size;
	}
	p->used_bytes = persist_used_bytes(p);
	MDB_txn *txn;
	rc = mdb_txn_begin(p->env, NULL, 0, &txn);
	if (rc != 0) {
		return rc;
	}
	static const char *const names[] = {"instances", "leases", "meta"};
	for (int d = 0; d < 3 && rc == 0; d++) {
		rc = mdb_dbi_open(txn, names[d], MDB_CREATE, &p->dbi[d]);
	}
	if (rc == 0) {
		rc = last_rec(txn, p->dbi[PERSIST_DB_INSTANCES], &p->next_rec);
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

int persist_open(const char *dir, uint64_t map_size, uint64_t map_max, struct persist **out,
		char *err, size_t errsz)
{
	return persist_open_flags(dir, map_size, map_max, 0, out, err, errsz);
}

int persist_open_flags(const char *dir, uint64_t map_size, uint64_t map_max, unsigned flags,
		struct persist **out, char *err, size_t errsz)
{
	int rc = dir_check(dir, err, errsz);
	if (rc < 0) {
		return rc;
	}
	struct persist *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		snprintf(err, errsz, "out of memory");
		return RS_ENOMEM;
	}
	p->map_max = map_max;
	p->pending = &p->batches[0];
	snprintf(p->path, sizeof(p->path), "%s", dir);
	/* LMDB lets several processes share an environment; a second rosterd
	 * on the same store would serve and expire the first one's leases. */
	rc = rs_dir_lock(dir, true, &p->lock_fd);
	if (rc < 0) {
		if (rc == RS_EBUSY) {
			snprintf(err, errsz, "data dir %s is in use by another rosterd", dir);
		} else {
			snprintf(err, errsz, "data dir %s: cannot lock: %s", dir, strerror(-rc));
		}
		free(p);
		return rc;
	}
	rc = store_prepare(p, flags, err, errsz);
	if (rc < 0) {
		close(p->lock_fd);
		free(p);
		return rc;
	}
	const char *what;
	rc = env_open(p, map_size, &what);
	if (rc != 0) {
		snprintf(err, errsz, "data dir %s: %s: %s", dir, what, mdb_strerror(rc));
		mdb_env_close(p->env);
		close(p->lock_fd);
		free(p);
		return persist_map_err(rc);
	}
	rc = persist_marker_write(dir);
	if (rc < 0) {
		snprintf(err, errsz, "data dir %s: cannot write the store marker: %s", dir,
				rs_strerror(rc));
		mdb_env_close(p->env);
		close(p->lock_fd);
		free(p);
		return rc;
	}
	pthread_rwlock_init(&p->map_lock, NULL);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work_cond, NULL);
	pthread_cond_init(&p->done_cond, NULL);
	*out = p;
	return 0;
}

int persist_close(struct persist *p)
{
	if (p == NULL) {
		return 0;
	}
	if (p->started) {
		/* persist_stop() should have come first, on the loop thread. */
		while (p->inflight != NULL) {
			persist_batch_wait(p);
		}
		persist_writer_stop(p);
		p->started = false;
	}
	p->done_cb = NULL;
	int rc = persist_batch_commit(p);
	mdb_env_close(p->env);
	close(p->lock_fd);
	for (int k = 0; k < 2; k++) {
		rs_buf_deinit(&p->batches[k].buf);
	}
	free(p->vbuf);
	pthread_mutex_destroy(&p->lock);
	pthread_rwlock_destroy(&p->map_lock);
	pthread_cond_destroy(&p->work_cond);
	pthread_cond_destroy(&p->done_cond);
	free(p);
	return rc;
}

/* ---- the rest -------------------------------------------------------------- */

int persist_readers_check(struct persist *p)
{
	int dead = 0;
	int rc = mdb_reader_check(p->env, &dead);
	return rc == 0 ? dead : persist_map_err(rc);
}

uint64_t persist_bytes(const struct persist *p)
{
	return p->used_bytes;
}

uint64_t persist_map_size(const struct persist *p)
{
	return p->map_size;
}

uint64_t persist_map_max(const struct persist *p)
{
	return p->map_max;
}

uint64_t persist_commits(const struct persist *p)
{
	return p->commits;
}

const char *persist_open_note(const struct persist *p)
{
	return p->note;
}

struct persist_check_stats persist_open_check(const struct persist *p)
{
	return p->check;
}

uint64_t persist_refusals(const struct persist *p)
{
	return p->refusals;
}
