/*
 * The writer: one batch of encoded writes into one LMDB write transaction,
 * committed (fdatasync) on the writer thread, and the map grown when it is
 * full. Without a writer thread (before persist_start(), after
 * persist_stop()) the same code runs on the calling thread. See
 * persist_internal.h for the layering and persist.h for the model.
 */
#include "server/registry/persist_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"

int persist_map_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
		return RS_ESTORE_FULL;
	case MDB_PANIC:
	case MDB_CORRUPTED:
	case MDB_VERSION_MISMATCH:
	case MDB_INVALID:
		return RS_ESTORE_PANIC;
	case MDB_NOTFOUND:
		return RS_ENOENT;
	case ENOMEM:
		return RS_ENOMEM;
	case ENOSPC:
		return RS_ENOSPC;
	default:
		return rc > 0 && rc < 1000 ? -rc : RS_ESTORE;
	}
}

uint64_t persist_used_bytes(const struct persist *p)
{
	MDB_envinfo info;
	mdb_env_info(p->env, &info);
	return (uint64_t)(info.me_last_pgno + 1) * p->psize;
}

/* The batch's writes, in order, then the revision. */
static int batch_apply(struct persist *p, const struct persist_batch *b, MDB_txn *txn)
{
	size_t off = 0;
	while (off < b->buf.len) {
		struct persist_op op;
		memcpy(&op, b->buf.data + off, sizeof(op));
		off += sizeof(op);
		MDB_val k = {op.klen, b->buf.data + off};
		off += op.klen;
		MDB_val v = {op.vlen, b->buf.data + off};
		off += op.vlen;
		int rc;
		if (op.kind == PERSIST_OP_DEL) {
			rc = mdb_del(txn, p->dbi[op.db], &k, NULL);
			rc = rc == MDB_NOTFOUND ? 0 : rc;
		} else {
			unsigned flags = op.kind == PERSIST_OP_APPEND ? MDB_APPEND : 0;
			rc = mdb_put(txn, p->dbi[op.db], &k, &v, flags);
		}
		if (rc != 0) {
			return rc;
		}
	}
	if (b->revision_dirty) {
		uint8_t rev[8];
		persist_key(b->revision, rev);
		MDB_val k = {8, "revision"};
		MDB_val v = {8, rev};
		return mdb_put(txn, p->dbi[PERSIST_DB_META], &k, &v, 0);
	}
	return 0;
}

static int batch_commit_once(struct persist *p, const struct persist_batch *b)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(p->env, NULL, 0, &txn);
	if (rc != 0) {
		return rc;
	}
	rc = batch_apply(p, b, txn);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

/* No write transaction is open in the process when this runs (the
 * writer's is over, and the loop thread opens none while a batch is in
 * flight). A resize unmaps and maps the file again, so no read may be
 * under way either: a backup's copy holds map_lock for reading. @p wait:
 * wait for a backup to finish (the batch needs the room); else grow later. */
static int map_grow(struct persist *p, bool wait)
{
	uint64_t next = p->w_map_size * 2;
	next = next > p->map_max ? p->map_max : next;
	if (wait) {
		pthread_rwlock_wrlock(&p->map_lock);
	} else if (pthread_rwlock_trywrlock(&p->map_lock) != 0) {
		return EBUSY;
	}
	int rc = mdb_env_set_mapsize(p->env, next);
	pthread_rwlock_unlock(&p->map_lock);
	if (rc == 0) {
		p->w_map_size = next;
	}
	return rc;
}

/* Why a batch was refused for room, naming the limit that was met. */
static void full_why(struct persist *p, struct persist_batch *b, int lmdb_rc, int grow_rc)
{
	if (lmdb_rc == MDB_TXN_FULL) {
		snprintf(b->why, sizeof(b->why),
				"the batch touches more pages than one LMDB transaction may");
	} else if (p->w_map_size >= p->map_max) {
		snprintf(b->why, sizeof(b->why),
				"the map is at --map-max, %llu MiB (raise --map-max)",
				(unsigned long long)(p->map_max >> 20));
	} else {
		snprintf(b->why, sizeof(b->why),
				"the map cannot grow past %llu MiB (--map-max is %llu MiB): %s "
				"(free memory or disk space)",
				(unsigned long long)(p->w_map_size >> 20),
				(unsigned long long)(p->map_max >> 20), mdb_strerror(grow_rc));
	}
}

void persist_writer_run(struct persist *p, struct persist_batch *b)
{
	b->map_before = p->w_map_size;
	b->why[0] = '\0';
	int rc, grow_rc = 0;
	for (;;) {
		rc = batch_commit_once(p, b);
		/* Full: grow and apply the whole batch again (it still has
		 * every write). A store reopened with a map smaller than its
		 * data starts at exactly the data's size and comes here first.
		 * Nothing is lost meanwhile: the batch is retried here, and the
		 * loop never sees the failure it recovered from. */
		if (rc != MDB_MAP_FULL || p->w_map_size >= p->map_max ||
				(grow_rc = map_grow(p, true)) != 0) {
			break;
		}
	}
	uint64_t used = persist_used_bytes(p);
	if (rc == 0 && p->w_map_size < p->map_max && used * 100 > p->w_map_size * GROW_AT_PCT) {
		/* Grow ahead, so that the next batch rarely meets a full map
		 * (not while a backup reads: the next batch grows it then). */
		(void)map_grow(p, false);
	}
	if (rc == MDB_MAP_FULL || rc == MDB_TXN_FULL) {
		full_why(p, b, rc, grow_rc);
	}
	b->rc = persist_map_err(rc);
	b->used_bytes = used;
	b->map_after = p->w_map_size;
}

/* ---- the thread ----------------------------------------------------------- */

static void *writer_main(void *arg)
{
	struct persist *p = arg;
	pthread_mutex_lock(&p->lock);
	while (!p->quit) {
		if (p->work == NULL || p->work_done) {
			pthread_cond_wait(&p->work_cond, &p->lock);
			continue;
		}
		struct persist_batch *b = p->work;
		pthread_mutex_unlock(&p->lock);
		persist_writer_run(p, b);
		pthread_mutex_lock(&p->lock);
		p->work_done = true;
		pthread_cond_broadcast(&p->done_cond);
		/* uv_async_send() is the one libuv call that is safe from
		 * another thread; several sends may wake the loop once. */
		uv_async_send(&p->async);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int persist_writer_start(struct persist *p)
{
	p->quit = false;
	int rc = pthread_create(&p->thread, NULL, writer_main, p);
	return rc == 0 ? 0 : -rc;
}

void persist_writer_stop(struct persist *p)
{
	pthread_mutex_lock(&p->lock);
	p->quit = true;
	pthread_cond_signal(&p->work_cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
}
