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
 * Damage (persist_check.c, persist_walk.c): persist_open() checks the data
 * file before LMDB maps it for serving (the meta pages against the file's
 * size, then in a child process every page of every B-tree checked as the
 * writer will trust it, then LMDB's own read of every record; a damaged
 * page kills the child, not rosterd), and refuses a damaged store with RS_ESTORE_DAMAGED and one
 * line naming the file and the damage. A data file that is empty or missing
 * where a store existed (the marker file "roster-store" or LMDB's lock file
 * is there) is damage, not a new store. A damaged lock file is moved aside
 * and rebuilt when no other process uses the store (LMDB itself
 * reinitialises it then), and refused when one does.
 *
 * Files (persist_files.c): a hot backup (persist_backup(), a compacted copy
 * made in its own read transaction, off the loop thread, renamed into
 * place), a restore (persist_restore(), offline) and a reset
 * (PERSIST_OPEN_RESET: the old files moved aside).
 *
 * Threads: everything here is called on the loop thread, but
 * persist_backup(), which runs on a thread of its own. The writer thread
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
	/** With RS_ESTORE_FULL: the limit that was met ("the map is at
	 * --map-max, 64 MiB", "the map cannot grow past ..."); else "".
	 * Valid during the callback. */
	const char *why;
};

/**
 * A batch handed to the writer is done (loop thread). When @c rc is
 * negative the batch collecting behind it was discarded too: the replies of
 * both must become errors, and the store be reloaded from disk (unless
 * @c rc is RS_ESTORE_PANIC: stop). Called also from persist_batch_wait()
 * and persist_batch_commit().
 */
typedef void (*persist_done_cb)(const struct persist_result *r, void *ud);

/** What the damage check found (persist_check_file()). */
struct persist_check_stats {
	uint64_t file_bytes; /**< the data file's size */
	uint64_t pages;      /**< pages in use, as its meta page says */
	uint64_t psize;      /**< its page size */
	uint64_t entries;    /**< records walked, in every database with the free list */
	double ms;           /**< how long the check took */
};

/** Flags of persist_open_flags(). */
enum persist_open_flag {
	/** Move the existing data file aside (data.mdb.reset-<time>) and start
	 * empty, even when it is damaged (--reset-store). */
	PERSIST_OPEN_RESET = 1u << 0,
};

/** Scheduled backups are named <dir>/roster-backup-<UTC time>.mdb. */
#define PERSIST_BACKUP_PREFIX "roster-backup-"

/**
 * Check one LMDB data file without letting a damaged page reach this
 * process: its meta pages (read, not mapped) against its size, then in a
 * forked child every page of every B-tree (persist_walk.c: page numbers,
 * types, depths, node offsets and sizes, overflow pages, pages reached once,
 * free pages not in use, the recorded counts), then every record read
 * through LMDB (keys in order, values read whole). Blocks for the walk (about a
 * second per 10 million records; a walk that does not end is stopped).
 * @param file the data file (a store's data.mdb, or a backup).
 * @param st filled in (also on failure, as far as it got).
 * @param err the damage, without the file's name ("truncated: ...").
 * @return 0; RS_ESTORE_DAMAGED; RS_ENOENT (no such file); another errno
 *         code (cannot read it, cannot fork, cannot read the walk's
 *         verdict); RS_EIO when the walk could not
 *         run for a reason of the system, not of the file (no descriptor,
 *         no permission, a failed read or map in the child, its verdict
 *         lost): no verdict, the store is not called damaged.
 */
__attribute__((warn_unused_result)) int persist_check_file(
		const char *file, struct persist_check_stats *st, char *err, size_t errsz);

/**
 * The damage rules of a data directory, before LMDB opens it: a missing or
 * empty data.mdb where a store existed is damage; a data file is checked
 * with persist_check_file(); a damaged lock file is moved aside when no other
 * process uses it (@p note then says so), refused when one does. Call with
 * the directory locked (persist_open() does).
 * @param note set to a line to log, or "" (what was done about the lock file).
 * @param err one line: the file, what is wrong, and the way out (restore,
 *        --reset-store; docs/operations.md).
 * @return 0 (also for a new store), RS_ESTORE_DAMAGED, or an errno code.
 */
__attribute__((warn_unused_result)) int persist_check_dir(const char *dir,
		struct persist_check_stats *st, char *note, size_t notesz, char *err, size_t errsz);

/**
 * Write the marker that says a store lives in @p dir (once; persist_open()
 * does it after its first open). Its presence makes a missing or empty
 * data file damage.
 * @return 0 or an errno code.
 */
__attribute__((warn_unused_result)) int persist_marker_write(const char *dir);

/**
 * Install @p file (a backup) as the store of @p dir, offline: the file is
 * checked (persist_check_file()), the directory locked (no rosterd may run
 * on it), the file copied in and fsync'd, the current data file moved aside
 * as data.mdb.before-restore-<time>, the copy renamed into place, and the
 * lock file dropped. Nothing is changed when the file is damaged; a
 * restore that fails after moving the old file aside puts it back (the
 * message says "the store is left as it was", or names the file when even
 * that failed).
 * @param note set to the line to print on success.
 * @return 0, RS_ESTORE_DAMAGED (the file), RS_EBUSY (a process uses the
 *         store), or an errno code; @p err names the problem.
 */
__attribute__((warn_unused_result)) int persist_restore(const char *dir, const char *file,
		char *note, size_t notesz, char *err, size_t errsz);

/**
 * Move the store of @p dir aside (data.mdb.reset-<time>) and drop its lock
 * file; persist_open_flags() with PERSIST_OPEN_RESET calls it with the
 * directory locked. When dropping the lock file or syncing the directory
 * fails after the move, the data file is moved back: a failed reset leaves
 * the store as it was.
 * @return 0, RS_EBUSY (another process uses the store), or an errno code.
 */
__attribute__((warn_unused_result)) int persist_reset(
		const char *dir, char *note, size_t notesz, char *err, size_t errsz);

/**
 * Write a consistent, compacted copy of the store to @p path: to
 * @p path.tmp-<pid> in the copy's own read transaction (a snapshot of the
 * last commit before it began; writes go on meanwhile), fsync'd, renamed
 * to @p path, and the directory fsync'd. The map does not grow while it runs
 * (a batch that needs room waits for it).
 * @note Blocks for the copy: call it on a thread other than the loop's; at
 *       most one at a time per handle is expected but several are safe.
 * @param bytes set to the copy's size.
 * @return 0 or a negative code (an errno code such as -ENOSPC or -EACCES,
 *         RS_ESTORE, or RS_EINVAL for a @p path in the store's own
 *         directory or linked to its data.mdb, which the copy would replace);
 *         @p err names the file and the problem.
 */
__attribute__((warn_unused_result)) int persist_backup(
		struct persist *p, const char *path, uint64_t *bytes, char *err, size_t errsz);

/**
 * A scheduled backup's file name in @p dir (PERSIST_BACKUP_PREFIX, the UTC
 * time to the second, ".mdb").
 * @return 0 or RS_ERANGE.
 */
__attribute__((warn_unused_result)) int persist_backup_name(
		char *out, size_t outsz, const char *dir);

/**
 * Delete the oldest scheduled backups of @p dir beyond the newest @p keep
 * (files named by persist_backup_name(); nothing else is touched).
 * @return the number deleted, or a negative code.
 */
int persist_backup_prune(const char *dir, unsigned keep);

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
 * persist_open() with @p flags (enum persist_open_flag). Before LMDB opens
 * the store, the directory is locked and checked (persist_check_dir()).
 * @return as persist_open(), and RS_ESTORE_DAMAGED (not opened: @p err is
 *         the one line to print; exit 2).
 */
__attribute__((warn_unused_result)) int persist_open_flags(const char *dir, uint64_t map_size,
		uint64_t map_max, unsigned flags, struct persist **out, char *err, size_t errsz);

/**
 * What opening did that the operator should read (a reset, a lock file
 * rebuilt), or "". Valid until persist_close().
 */
const char *persist_open_note(const struct persist *p);

/** The damage check's figures from opening (zero for a new store). */
struct persist_check_stats persist_open_check(const struct persist *p);

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
 * Claim the store for @p zone (the services zone it serves): the first
 * open of a store records the zone in its meta table; a later one with
 * another zone is refused, so that a data dir or a restored backup of one
 * site is never served as another's (a copied unit with the wrong --site,
 * the wrong site's backup). A store from before the zone was recorded is
 * claimed by its next open. Runs its own write transaction on the calling
 * thread: before persist_start().
 * @return 0; 1 when the zone could not be recorded (a full map or disk:
 *         @p err says it, the store is served all the same); RS_ECONF
 *         (another zone's store; @p err names both), or a negative code
 *         (@p err says it).
 */
__attribute__((warn_unused_result)) int persist_zone_claim(
		struct persist *p, const char *zone, char *err, size_t errsz);

/**
 * Load everything into an empty store: leases (each given a full TTL from
 * @p now_mono), instances, and the revision. Records that no longer make
 * sense (an instance of a lease that is gone, an undecodable record) are
 * counted in @p dropped, written to a file of the data dir in mdb_dump's
 * format (persist_dropped_path()) and then deleted; one that cannot be
 * written there stays. A record of a later format than this rosterd's
 * (a downgrade) stops the load with nothing deleted. Runs its own
 * transaction on the calling thread: only while no batch is in flight (at
 * open, or from the done callback of a failed batch).
 * @return 0; RS_ENOTSUP (a newer record: persist_newer_record()); or a
 *         negative code.
 */
__attribute__((warn_unused_result)) int persist_load(struct persist *p, struct store *s,
		uint64_t now_mono, uint64_t *instances, uint64_t *leases, uint64_t *dropped);

/** After persist_load(): the file that holds the records it dropped, or "". */
const char *persist_dropped_path(const struct persist *p);

/** After persist_load() returned RS_ENOTSUP: the record version it found
 * (this rosterd writes persist_record_version()). */
unsigned persist_newer_record(const struct persist *p);

/** The record version this rosterd writes. */
unsigned persist_record_version(void);

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
