/*
 * server/registry/static.h - static instances (--static FILE): declarative
 * permanent instances, shipped by config management to every registry of a
 * site, so that each registry serves them identically whatever it lost.
 *
 * Model
 *   The file is JSON Lines: one JSON object per line, the Register fields
 *   (service, protocol, host, port required; addresses, weight, priority,
 *   metadata, status optional; status "UP" (default), "STARTING" or
 *   "DOWN"). Blank lines and lines starting with '#' are skipped. The whole
 *   file is read and checked first (static_set_read()): one bad line and the
 *   file is refused with a message naming the line, and the caller keeps
 *   the set it has. A good set is then applied to the store
 *   (static_set_apply()): static instances the file no longer lists leave,
 *   each listed one is registered with .fixed (unchanged ones are not
 *   touched, so a reload of the same file changes no revision).
 *   The file is the record: static instances are never written to LMDB (a
 *   restart reads the file again); the API cannot change or remove them.
 *
 * Must not: log (the caller logs once, with the message), keep views into
 *   the store.
 *
 * Threads: the main loop thread (the store's).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "server/registry/store.h"

/** A checked --static file. */
struct static_set;

/**
 * Read and check a --static file.
 * @param limits the store's limits: an instance over them is a bad line.
 * @param out set to the set (free with static_set_free()) on success.
 * @param err on failure, one line: "FILE:LINE: what is wrong", or the
 *        reason the file cannot be read.
 * @return 0; RS_ECONF (a bad line), RS_ENOMEM, or a negated errno (open, read).
 */
__attribute__((warn_unused_result)) int static_set_read(const char *path,
		const struct store_limits *limits, struct static_set **out, char *err,
		size_t errsz);

/**
 * Write the file @p set was read from, as read, to @p dir/@p name (crash-
 * safe: rs_file_replace()): rosterd keeps the last good --static file in
 * its data dir, to serve at a start that finds the file bad.
 * @return 0, RS_ENOMEM (the copy in memory is incomplete), RS_ERANGE or a
 *         negated errno.
 */
__attribute__((warn_unused_result)) int static_set_save(
		const struct static_set *set, const char *dir, const char *name);

/** How many instances the set lists. */
size_t static_set_count(const struct static_set *set);

/** NULL-safe. */
void static_set_free(struct static_set *set);

/**
 * Make the store's static instances those of @p set: remove the static
 * instances it does not list, register (or update) every one it lists; an
 * instance of the same identity registered through the API becomes static.
 * @param set NULL: no static instance at all.
 * @param changed set to the number of instances added, changed or removed.
 * @param err on failure, one line naming the instance.
 * @return 0, or a store error (RS_ENOMEM, a persist error); on an error the
 *         store holds part of the change, and applying a set again
 *         (the same or another) completes it.
 */
__attribute__((warn_unused_result)) int static_set_apply(struct store *s,
		const struct static_set *set, uint64_t now_mono, uint64_t now_wall, size_t *changed,
		char *err, size_t errsz);
