/*
 * server/registry/persist.h - the LMDB store under the data directory.
 *
 * The only server file that includes <lmdb.h>; LMDB's types and codes never
 * leave persist.c (codes become RS_ESTORE_FULL, RS_ESTORE, RS_ESTORE_PANIC).
 *
 * Model: group commit. Writes of one loop iteration go into one write
 * transaction (the batch), opened lazily by the first write; each store
 * mutation is a nested transaction inside it, so a failed mutation (e.g. a
 * full map) rolls back alone and the batch stays usable. The main loop
 * commits the batch once per iteration (persist_batch_commit()) and only
 * then answers the clients whose writes it holds: an acknowledged write is
 * on disk. Heartbeats write nothing.
 *
 * Records: instances keyed by identity, leases keyed by id (with their TTL),
 * and the revision. Encoding is our own fixed binary format, versioned by a
 * leading byte. On start every persisted lease gets a full TTL from the
 * start (the store does this in store_load_lease()).
 *
 * Full map: a put that hits MDB_MAP_FULL fails the mutation with
 * RS_ESTORE_FULL. The caller then calls persist_grow(), which commits the
 * batch so far and doubles the map up to the configured maximum, and retries
 * once. At the maximum the write is refused; reads, expiries and
 * deregistrations keep working (deletes rarely need new pages).
 *
 * Threads: main loop thread only. A write transaction begins and commits on
 * that thread; no read transaction stays open past loading.
 */
#pragma once

#include <stdint.h>

#include "server/registry/store.h"

struct persist;

/**
 * Open (creating if needed) the store in @p dir.
 * @param dir the data directory; created (one level) if missing.
 * @param map_size initial map size, bytes; an existing larger map is kept.
 * @param map_max the map never grows past this.
 * @param out set to the handle (close with persist_close()).
 * @param err buffer for a one-line message naming the problem.
 * @return 0, or a negative code (RS_EIO, RS_ENOSPC, -EACCES, ...) with @p err set.
 */
__attribute__((warn_unused_result)) int persist_open(const char *dir, uint64_t map_size,
		uint64_t map_max, struct persist **out, char *err, size_t errsz);

/**
 * Commit any open batch and close the environment. NULL-safe.
 * @return the commit's result (0 when nothing was open).
 */
int persist_close(struct persist *p);

/** The store hooks, for store_new(); the context is the persist handle. */
const struct store_persist_ops *persist_ops(void);

/**
 * Load everything into an empty store: leases (each given a full TTL from
 * @p now_mono), instances, and the revision. Records that no longer make
 * sense (an instance of a lease that is gone, an undecodable record) are
 * deleted and counted in @p dropped.
 * @return 0 or a negative code.
 */
__attribute__((warn_unused_result)) int persist_load(struct persist *p, struct store *s,
		uint64_t now_mono, uint64_t *instances, uint64_t *leases, uint64_t *dropped);

/** Is a batch open (writes waiting for persist_batch_commit())? */
int persist_batch_open(const struct persist *p);

/**
 * Commit the batch, making every write since the last commit durable.
 * @return 0 (also when no batch was open), RS_ESTORE_FULL, RS_ESTORE, or
 *         RS_ESTORE_PANIC (the environment is unusable: exit).
 */
__attribute__((warn_unused_result)) int persist_batch_commit(struct persist *p);

/**
 * Clear the reader slots of processes that died while reading the store
 * (mdb_reader_check(): an `mdb_stat` or backup killed mid-read pins old
 * pages and makes the map grow; robustness-catalogue 4.1). Cheap: the
 * server calls it at open and once a minute.
 * @return the number of slots cleared (>= 0), or a negative code.
 */
__attribute__((warn_unused_result)) int persist_readers_check(struct persist *p);

/**
 * Make room after RS_ESTORE_FULL: commit the batch and grow the map.
 * @return 0 when the map grew (retry the write), RS_ESTORE_FULL at the
 *         maximum, or another store error.
 */
__attribute__((warn_unused_result)) int persist_grow(struct persist *p);

/** Bytes in use by the store (pages used * page size). */
uint64_t persist_bytes(const struct persist *p);

/** Current map size in bytes. */
uint64_t persist_map_size(const struct persist *p);

/** Commits done (for tests and metrics). */
uint64_t persist_commits(const struct persist *p);
