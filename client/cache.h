/*
 * client/cache.h - the last-known-good copies of query answers.
 *
 * One entry per (service, protocol, include-down) key, replaced by every
 * successful answer. The file is rewritten only when it would say something
 * new (cache_save_due()): an answer whose content (revision, server,
 * instances...) differs from the stored one, or a copy in the file whose
 * fetch time lags the memory's by more than the refresh interval (so that a
 * later process still finds a copy young enough to serve). An unchanged
 * answer costs no write and no fsync. The file form is a JSON document
 *   {"version":1,"entries":[{"service":..,"protocol":..,"all":..,
 *    "result":<jsonify_result()>},...]}
 * written to "<path>.tmp.<pid>", fsync'ed and renamed over <path>, so a
 * reader (or a crash) sees the old file or the new one, never half of one.
 *
 * Not thread-safe: the client serialises access. No logging.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "roster/client.h"

struct cache_entry {
	char *service;
	char *protocol; /**< "" for every protocol */
	int all;
	struct roster_result *result;
	uint64_t saved_ms; /**< fetched_at_ms of this key's copy in the file, 0 if none */
};

struct cache {
	struct cache_entry *entries;
	size_t n, cap;
	bool dirty; /**< a content change is not in the file yet */
};

/** Release every entry. NULL-safe; the cache is empty and reusable after. */
void cache_deinit(struct cache *c);

/**
 * Store a copy of @p r under the key, replacing the previous one. Marks the
 * cache dirty when the content differs from the stored copy (the fetch time
 * and the stale flag are not content).
 * @return 0 or ROSTER_ENOMEM.
 */
__attribute__((warn_unused_result)) int cache_put(struct cache *c, const char *service,
		const char *protocol, int all, const struct roster_result *r);

/** How far in the future a copy's fetch time may be (the clock stepped
 * back a little since) and the copy still count as fresh. */
#define CACHE_SKEW_MS 60000

/**
 * A copy of the entry for the key, marked stale, if it was fetched at most
 * @p max_age_ms before @p now_ms, or at most CACHE_SKEW_MS after it (a copy
 * dated further in the future is not served at all: its age is unknown).
 * @param out set to the copy (free with roster_result_free()).
 * @return 0, ROSTER_ENOENT (no entry, or too old), ROSTER_ENOMEM.
 */
__attribute__((warn_unused_result)) int cache_get(const struct cache *c, const char *service,
		const char *protocol, int all, uint64_t now_ms, uint64_t max_age_ms,
		struct roster_result **out);

/**
 * Does the file need writing? True when the cache is dirty, or when an
 * entry's copy in the file was fetched more than @p refresh_ms before the
 * copy in memory (or is not in the file at all).
 */
bool cache_save_due(const struct cache *c, uint64_t refresh_ms);

/**
 * Write the whole cache to @p path atomically; on success the cache is
 * clean and every entry's saved_ms is its fetch time.
 * @return 0, ROSTER_ENOMEM, or a negated errno of the failed file operation.
 */
__attribute__((warn_unused_result)) int cache_save(struct cache *c, const char *path);

/**
 * Merge the entries of @p path into the cache (entries already there win).
 * @return 0, ROSTER_ENOENT (no file), ROSTER_EPROTO (not a cache file),
 *         ROSTER_ENOMEM.
 */
__attribute__((warn_unused_result)) int cache_load(struct cache *c, const char *path);
