/*
 * server/registry/persist.h - the LMDB store under the data directory.
 *
 * LMDB is included only by persist's files (persist*.c, through
 * persist_internal.h); its types and codes never leave them (codes become
 * RS_ESTORE_FULL, RS_ESTORE, RS_ESTORE_PANIC, or an errno code such as
 * RS_ENOSPC or RS_EIO).
 *
 * Model: group commit, off the loop thread. The store's hooks
 * (persist_ops()) encode each write (a key and a value, or a delete) into
 * an in-memory pending batch; a store mutation is a begin/commit pair
 * around its writes, and an abort takes them out again, so a failed
 * mutation leaves the batch as it was. Once per loop iteration the server
 * hands the pending batch to the writer thread (persist_batch_submit()),
 * which applies it in one write transaction and commits it (fdatasync),
 * while the loop goes on collecting the next batch. At most one batch is in
 * flight and one collects. When the writer is done, the loop is told
 * (uv_async) and persist_done_cb runs there: only then may the replies of
 * that batch's writes leave (an acknowledged write is on disk). Heartbeats
 * write nothing.
 *
 * A failed commit (EIO, a full disk) fails its batch and discards the one
 * collecting behind it, whose writes were made on top of the lost one: the
 * callback gets the error for both, and the caller rebuilds the store from
 * the disk (store_reload()). RS_ESTORE_PANIC: the environment is unusable,
 * nothing more is written; the process should exit.
 *
 * Records: instances keyed by an append-only record number, leases keyed by
 * id (with their TTL), and the revision (persist_record.h). On start every
 * persisted lease gets a full TTL from the start (the store does this in
 * store_load_lease()).
 *
 * Map growth is here and nowhere else. When a batch meets MDB_MAP_FULL, the
 * writer aborts it, doubles the map (up to the maximum) and applies it
 * again; after a commit that leaves the map over 75 % used it grows too.
 * Only when the map cannot grow any more is a write refused: each put
 * estimates the room the pending and in-flight batches need (their keys and
 * values, twice over for copy-on-write, plus slack, plus the pages in use at
 * the last commit) and at the maximum fails synchronously with
 * RS_ESTORE_FULL once that passes 90 % of it. Deletes are always accepted.
 *
 * Threads: everything here is called on the loop thread. The writer thread
 * owns every write transaction from persist_start() to persist_stop(); a
 * transaction begins and commits on one thread. Before persist_start() and
 * after persist_stop(), persist_batch_commit() and persist_load() run their
 * transactions on the calling thread. Nothing here reads LMDB for the DNS
 * threads: they read the in-memory store.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "server/registry/store.h"

struct persist;

/** How a batch ended, for persist_done_cb. */
struct persist_result {
	int rc;              /**< 0, or the commit's error (see persist_batch_commit()) */
	uint64_t map_before; /**< the map's size before the batch, bytes */
	uint64_t map_after;  /**< and after: larger when it grew for (or after) the batch */
};

/**
 * A batch handed to the writer is done (loop thread). When @c rc is
 * negative the batch collecting behind it was discarded too: the replies of
 * both must become errors, and the store be reloaded from disk (unless
 * @c rc is RS_ESTORE_PANIC: stop). Called also from persist_batch_wait()
 * and persist_batch_commit().
 */
typedef void (*persist_done_cb)(const struct persist_result *r, void *ud);

/**
 * Open (creating if needed) the store in @p dir. No thread is started.
 * @param dir the data directory; created (one level) if missing.
 * @param map_size initial map size, bytes; an existing larger map is kept.
 *        (LMDB opens a store whose data is larger at exactly its data size.)
 * @param map_max the map never grows past this.
 * @param out set to the handle (close with persist_close()).
 * @param err buffer for a one-line message naming the problem.
 * @return 0, or a negative code (RS_EIO, RS_ENOSPC, -EACCES, ...) with @p err set.
 */
__attribute__((warn_unused_result)) int persist_open(const char *dir, uint64_t map_size,
		uint64_t map_max, struct persist **out, char *err, size_t errsz);

/**
 * Start the writer thread and attach its "done" handle to @p loop. Call
 * after persist_load().
 * @param cb called on the loop thread for every batch done; may be NULL.
 * @return 0, or RS_ENOMEM / a libuv or pthread error code.
 */
__attribute__((warn_unused_result)) int persist_start(
		struct persist *p, uv_loop_t *loop, persist_done_cb cb, void *ud);

/**
 * Wait until no batch is in flight (callbacks run, and a batch one of them
 * hands over is waited for too), stop and join the writer, and close the
 * handle (the loop must run once more before persist_close()). Writes
 * still pending stay pending; no callback runs after this. NULL-safe;
 * idempotent.
 */
void persist_stop(struct persist *p);

/**
 * Stop the writer if needed (see persist_stop(), which should come first
 * when it was started), commit what is pending, and close the environment.
 * NULL-safe.
 * @return the last commit's result (0 when nothing was pending).
 */
int persist_close(struct persist *p);

/** The store hooks, for store_new(); the context is the persist handle. */
const struct store_persist_ops *persist_ops(void);

/**
 * Load everything into an empty store: leases (each given a full TTL from
 * @p now_mono), instances, and the revision. Records that no longer make
 * sense (an instance of a lease that is gone, an undecodable record) are
 * deleted and counted in @p dropped. Runs its own transaction on the
 * calling thread: only while no batch is in flight (at open, or from the
 * done callback of a failed batch).
 * @return 0 or a negative code.
 */
__attribute__((warn_unused_result)) int persist_load(struct persist *p, struct store *s,
		uint64_t now_mono, uint64_t *instances, uint64_t *leases, uint64_t *dropped);

/** Are writes pending (collected, not yet handed to the writer)? */
int persist_batch_open(const struct persist *p);

/** Is a batch in flight (with the writer)? */
bool persist_batch_busy(const struct persist *p);

/**
 * Hand the pending batch to the writer, unless one is in flight or nothing
 * is pending. Without a writer (before persist_start()) it is committed at
 * once on the calling thread, and its callback runs before this returns.
 * @return 1 when a batch was handed over, 0 when not.
 */
int persist_batch_submit(struct persist *p);

/**
 * Wait for the batch in flight, if any; its callback runs before this
 * returns. Blocks the calling thread (tests and shutdown).
 * @return its result, or 0 when none was in flight.
 */
int persist_batch_wait(struct persist *p);

/**
 * Commit synchronously: wait for the batch in flight, then submit what is
 * pending and wait for it. Callbacks run for both. Tests and shutdown.
 * @return the pending batch's result: 0 (also when nothing was pending),
 *         RS_ESTORE_FULL (the map is at its maximum), RS_ENOSPC, RS_EIO,
 *         RS_ESTORE, or RS_ESTORE_PANIC (the environment is unusable: exit).
 *         When the batch in flight failed, the pending one was discarded
 *         and its error is returned.
 */
__attribute__((warn_unused_result)) int persist_batch_commit(struct persist *p);

/**
 * Clear the reader slots of processes that died while reading the store
 * (mdb_reader_check(): an `mdb_stat` or backup killed mid-read pins old
 * pages and makes the map grow; robustness-catalogue 4.1). Cheap: the
 * server calls it at open and once a minute. Safe while the writer runs.
 * @return the number of slots cleared (>= 0), or a negative code.
 */
__attribute__((warn_unused_result)) int persist_readers_check(struct persist *p);

/** Bytes in use by the store (pages used * page size), as of the last commit. */
uint64_t persist_bytes(const struct persist *p);

/** Current map size in bytes, as of the last commit. */
uint64_t persist_map_size(const struct persist *p);

/** The largest the map may grow to (--map-max, or the map's size if larger). */
uint64_t persist_map_max(const struct persist *p);

/** Commits done (batches handed to the writer and finished; for tests and metrics). */
uint64_t persist_commits(const struct persist *p);

/** Puts refused because the map is at its maximum (RS_ESTORE_FULL). */
uint64_t persist_refusals(const struct persist *p);
