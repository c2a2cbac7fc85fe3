/*
 * client/cache.h - the last-known-good copies of query answers.
 *
 * One entry per (service, protocol, include-down) key, replaced by every
 * successful answer. The file form is a JSON document
 *   {"version":1,"entries":[{"service":..,"protocol":..,"all":..,
 *    "result":<jsonify_result()>},...]}
 * written to "<path>.tmp.<pid>", fsync'ed and renamed over <path>, so a
 * reader (or a crash) sees the old file or the new one, never half of one.
 *
 * Not thread-safe: the client serialises access. No logging.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "roster/client.h"

struct cache_entry {
	char *service;
	char *protocol; /**< "" for every protocol */
	int all;
	struct roster_result *result;
};

struct cache {
	struct cache_entry *entries;
	size_t n, cap;
};

/** Release every entry. NULL-safe; the cache is empty and reusable after. */
void cache_deinit(struct cache *c);

/**
 * Store a copy of @p r under the key, replacing the previous one.
 * @return 0 or ROSTER_ENOMEM.
 */
__attribute__((warn_unused_result)) int cache_put(struct cache *c, const char *service,
		const char *protocol, int all, const struct roster_result *r);

/**
 * A copy of the entry for the key, marked stale, if it was fetched at most
 * @p max_age_ms before @p now_ms.
 * @param out set to the copy (free with roster_result_free()).
 * @return 0, ROSTER_ENOENT (no entry, or too old), ROSTER_ENOMEM.
 */
__attribute__((warn_unused_result)) int cache_get(const struct cache *c, const char *service,
		const char *protocol, int all, uint64_t now_ms, uint64_t max_age_ms,
		struct roster_result **out);

/**
 * Write the whole cache to @p path atomically.
 * @return 0, ROSTER_ENOMEM, or a negated errno of the failed file operation.
 */
__attribute__((warn_unused_result)) int cache_save(const struct cache *c, const char *path);

/**
 * Merge the entries of @p path into the cache (entries already there win).
 * @return 0, ROSTER_ENOENT (no file), ROSTER_EPROTO (not a cache file),
 *         ROSTER_ENOMEM.
 */
__attribute__((warn_unused_result)) int cache_load(struct cache *c, const char *path);
