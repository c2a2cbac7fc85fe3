/*
 * server/registry/persist_internal.h - what persist's files share: the
 * handle, the batch of encoded writes, and the record codec. Not for other
 * modules: everything else uses persist.h.
 *
 * Files (each uses only those above it):
 *   persist_record.c  the record format: encoding and decoding, no LMDB
 *   persist_writer.c  the writer thread: a batch into one LMDB transaction,
 *                     map growth, the commit
 *   persist.c         open and close, the store hooks (encoding into the
 *                     pending batch), handing batches to the writer
 *   persist_load.c    loading the store from disk
 *   persist_walk.c    the damage check's walk of every page of a mapped file
 *   persist_check.c   the damage check (the meta pages, a child's walk)
 *   persist_files.c   backup, restore, reset
 *
 * Threads: the loop thread owns everything but the fields marked "writer";
 * the two meet under persist.lock (the batch handed over and its result).
 */
#pragma once

#include <stdint.h>
#include <string.h>

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"
#include "server/registry/persist.h"
#include "server/registry/persist_record.h"

/* Grow the map after a commit once it is this full (per cent), so that a
 * batch rarely meets a full map. */
#define GROW_AT_PCT 75

/* The databases a write goes to. */
enum persist_db {
	PERSIST_DB_INSTANCES = 0,
	PERSIST_DB_LEASES = 1,
	PERSIST_DB_META = 2,
};

/* What a write does. */
enum persist_op_kind {
	PERSIST_OP_PUT = 1,
	PERSIST_OP_APPEND = 2, /* a put past the last key (MDB_APPEND) */
	PERSIST_OP_DEL = 3,
};

/* One write in a batch's buffer: this header, then the key, then the value. */
struct persist_op {
	uint8_t kind; /* enum persist_op_kind */
	uint8_t db;   /* enum persist_db */
	uint16_t klen;
	uint32_t vlen;
};

/* Where a mutation began, to take it out again (nested begin/abort). */
struct persist_mark {
	size_t len;
	size_t nops;
	uint64_t bytes;
	uint64_t revision;
	bool revision_dirty;
};

#define PERSIST_NEST_MAX 4

/* A batch: the writes of one or more loop iterations, encoded, in order. */
struct persist_batch {
	struct rs_buf buf; /* persist_op, key, value; persist_op, ... */
	size_t nops;
	uint64_t bytes;    /* keys and values, for the room estimate */
	uint64_t revision; /* written once, after the other writes */
	bool revision_dirty;
	/* The writer's result (writer; read by the loop after it is done). */
	int rc;              /* 0 or a negative code */
	uint64_t used_bytes; /* the map's pages in use after the commit */
	uint64_t map_before; /* the map's size before and after this batch */
	uint64_t map_after;
	char why[256]; /* a refusal for room: the limit met */
};

struct persist {
	MDB_env *env;
	MDB_dbi dbi[3]; /* by enum persist_db */
	int lock_fd;    /* holds the data dir's lock: one rosterd per store */
	uint64_t map_max;
	size_t psize;    /* the page size */
	char path[4096]; /* the data directory */
	char note[1024]; /* what opening did (persist_open_note()) */
	struct persist_check_stats check;
	/* Held for reading by a backup (its copy reads through the map), for
	 * writing by a map resize (which remaps it). */
	pthread_rwlock_t map_lock;

	/* Loop thread. */
	struct persist_batch batches[2];
	struct persist_batch *pending;  /* collecting writes */
	struct persist_batch *inflight; /* with the writer, or NULL */
	struct persist_mark marks[PERSIST_NEST_MAX];
	unsigned depth;          /* begin calls not yet committed or aborted */
	uint64_t next_rec;       /* the next instance record number */
	uint64_t inflight_bytes; /* its keys and values, for the room estimate */
	uint64_t map_size;       /* as of the last batch done */
	uint64_t used_bytes;     /* as of the last batch done */
	uint64_t commits;
	int last_rc;       /* the last batch done */
	uint64_t refusals; /* puts refused at --map-max */
	bool panic;
	uint8_t newer_record;    /* the record version the last load refused, or 0 */
	char dropped_path[4200]; /* where the last load kept what it dropped, or "" */
	uint8_t *vbuf;           /* encoding scratch, grown to the largest record */
	size_t vcap;
	persist_done_cb done_cb;
	void *done_ud;
	uv_async_t async; /* the writer's "done" */
	bool started;     /* the writer thread runs */

	/* Shared with the writer, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t work_cond;   /* the writer waits for work */
	pthread_cond_t done_cond;   /* persist_batch_wait() waits for it to finish */
	struct persist_batch *work; /* the batch handed over, until taken back */
	bool work_done;
	bool quit;
	pthread_t thread;

	/* Writer (or the loop thread while no writer runs). */
	uint64_t w_map_size;
};

/* ---- persist_writer.c ---------------------------------------------------- */

/* The one place LMDB codes are translated. */
int persist_map_err(int rc);

/* Bytes the map has in use (pages up to the last one used). Not while
 * another thread may resize the map. */
uint64_t persist_used_bytes(const struct persist *p);

/* Commit @p b in one write transaction on the calling thread, growing the
 * map on MDB_MAP_FULL up to map_max and redoing it; sets its result. */
void persist_writer_run(struct persist *p, struct persist_batch *b);

/* ---- persist_walk.c ------------------------------------------------------- */

/* Check every page of every B-tree of a mapped LMDB file of @p npages pages
 * of @p psize bytes, from meta page @p meta (0 or 1, the newer), before any
 * of it is used. Only in the damage check's child: it reads @p map. Returns
 * 0 with @p records set, or -1 with @p msg naming the damage. */
int persist_walk_pages(const uint8_t *map, uint64_t psize, uint64_t npages, unsigned meta,
		uint64_t *records, char *msg, size_t msgsz);

/* Start and stop the writer thread. */
int persist_writer_start(struct persist *p);
void persist_writer_stop(struct persist *p);

/* ---- the data file's own numbers (persist_check.c, persist_walk.c) -------- */

/* Is @p path a regular file (not followed through a symbolic link) whose
 * first meta page carries LMDB's magic: a store, or a copy of one? */
bool persist_file_is_lmdb(const char *path);

/* LMDB writes its meta and page headers in the host's byte order; these read
 * them from a mapped or read copy of the file, at any alignment. */
static inline uint16_t persist_rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static inline uint32_t persist_rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static inline uint64_t persist_rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}
