/*
 * server/backup.h - hot backups of the store: on request (the API's Backup)
 * and on a schedule (--backup-dir, --backup-interval, --backup-keep).
 *
 * Model: one backup at a time. It runs persist_backup() on a libuv
 * thread-pool thread (uv_queue_work), never on the loop: the copy takes its
 * own LMDB read transaction, so registrations go on being committed while
 * it runs, and the copy holds exactly what was committed when it began.
 * Its end (and the schedule's pruning) comes back to the loop thread, where
 * the counters are updated and the requester's callback runs.
 *
 * Must not: touch the store or the API; it is handed the persist handle
 * and reports through callbacks.
 *
 * Threads: every function here runs on the loop thread.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "server/registry/persist.h"

struct backup;

/** What backups did (for /metrics and Stats). */
struct backup_counters {
	uint64_t done;         /**< backups written */
	uint64_t failures;     /**< backups that failed */
	uint64_t last_wall_ms; /**< wall clock of the last backup's end (0: none yet) */
	uint64_t last_duration_ms;
	uint64_t last_bytes; /**< the last backup's size */
	bool running;
};

/** A backup ended (loop thread): @p rc 0 or negative, @p msg the error line. */
typedef void (*backup_done_cb)(
		int rc, uint64_t bytes, uint64_t duration_ms, const char *msg, void *ud);

/**
 * Create the backups of @p p; with @p dir non-empty, start the schedule (the
 * first backup one interval after start).
 * @param dir scheduled backups' directory ("": none); created (one level).
 * @return 0, or a negative code (RS_ENOMEM, an errno code for @p dir) with
 *         @p err set.
 */
__attribute__((warn_unused_result)) int backup_start(uv_loop_t *loop, struct persist *p,
		const char *dir, uint32_t interval_ms, uint32_t keep, struct backup **out,
		char *err, size_t errsz);

/**
 * Back up to @p path now.
 * @param cb called on the loop thread when it ends (not when this fails).
 * @return 0 (started), RS_EBUSY (a backup runs), RS_EINVAL (not an absolute
 *         path), or a libuv code.
 */
__attribute__((warn_unused_result)) int backup_run(
		struct backup *b, const char *path, backup_done_cb cb, void *ud);

/** The counters. NULL-safe (zeros). */
struct backup_counters backup_counters_get(const struct backup *b);

/**
 * Stop the schedule; a backup that runs finishes (the loop must run for its
 * end), its callback is not called, and the struct is freed then. NULL-safe.
 */
void backup_stop(struct backup *b);
