/*
 * common/linelog.h - an append-only log of whole lines with a size cap: the
 * client report log (server/dns/report.c) and the API audit log
 * (server/api/audit.c).
 *
 * Model
 *   Each line goes to the file in one write(2) on an O_APPEND descriptor, so
 *   a crash leaves whole lines behind it (the kernel appends the write as a
 *   unit); a write cut short by a full disk is truncated away again, so a
 *   JSON Lines reader never trips on half a line. When a line would take
 *   the file past its cap, the file is renamed to <path>.1 (replacing the
 *   previous one) and a new one begins: at most about twice the cap on
 *   disk. Failures are counted, never returned from a write: a full disk
 *   must not stop the server.
 *
 * Must not: log, allocate. Not thread-safe: callers that share one log
 * between threads lock around it (report.c does).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct rs_linelog {
	int fd; /**< -1 when closed */
	char path[4200];
	uint64_t max;    /**< bytes before rotation */
	uint64_t size;   /**< bytes in the current file */
	uint64_t errors; /**< failed or cut writes, failed rotations */
};

/** A closed log (caller's storage). */
void rs_linelog_init(struct rs_linelog *l);

/**
 * Open (append to) @p path, creating it 0640.
 * @param max_bytes the cap; 0 means 16 MiB.
 * @return 0, RS_ERANGE (path too long), or a negative errno.
 */
__attribute__((warn_unused_result)) int rs_linelog_open(
		struct rs_linelog *l, const char *path, uint64_t max_bytes);

/** A new cap (SIGHUP); 0 means 16 MiB. The next write applies it. */
void rs_linelog_set_max(struct rs_linelog *l, uint64_t max_bytes);

/**
 * Append one line (@p n bytes, its newline included). A closed log ignores
 * it; a failure counts in ->errors.
 */
void rs_linelog_write(struct rs_linelog *l, const char *line, size_t n);

/**
 * Open the log's path again and write there from now on (SIGHUP, after
 * logrotate renamed the file): a log that was never opened stays closed.
 * On failure the old descriptor stays.
 * @return 0, or a negative errno.
 */
__attribute__((warn_unused_result)) int rs_linelog_reopen(struct rs_linelog *l);

/** Close the log. Safe to call twice. */
void rs_linelog_close(struct rs_linelog *l);
