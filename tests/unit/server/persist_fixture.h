/*
 * tests/unit/server/persist_fixture.h - a store on real LMDB files in a
 * temporary directory, as test_persist.c and test_persist_faults.c open it:
 * the directory made and removed, persist opened there with a store on
 * top (default limits), registrations of h<k>.example.net port 1 (with a
 * 1 KB metadata value on request), and the count of instances a fresh open
 * loads.
 */
#pragma once

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/registry/persist.h"
#include "server/registry/store.h"

/* A new directory /tmp/<@p name>-XXXXXX; its path, in a buffer of the
 * fixture's that the next call reuses. */
static inline const char *persist_fixture_dir(const char *name)
{
	static char dir[64];
	snprintf(dir, sizeof(dir), "/tmp/%s-XXXXXX", name);
	cr_assert_not_null(mkdtemp(dir));
	return dir;
}

/* @p dir and all below it removed. */
static inline void persist_fixture_rmrf(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

/* persist open in @p dir (map @p map, growing to @p max) into @p p, and a
 * store with the default limits writing through it. */
static inline struct store *persist_fixture_open(
		const char *dir, uint64_t map, uint64_t max, struct persist **p)
{
	char err[256];
	cr_assert_eq(persist_open(dir, map, max, p, err, sizeof(err)), 0, "%s", err);
	struct store_limits l;
	store_limits_default(&l);
	struct store *s = store_new(&l, persist_ops(), *p, 0);
	cr_assert_not_null(s);
	return s;
}

/* The instances a fresh open of @p dir (map @p map, growing to @p max)
 * loads; closed again. */
static inline uint64_t persist_fixture_loaded(const char *dir, uint64_t map, uint64_t max)
{
	struct persist *p;
	struct store *s = persist_fixture_open(dir, map, max, &p);
	uint64_t ni, nl, nd;
	cr_assert_eq(persist_load(p, s, 0, &ni, &nl, &nd), 0);
	store_free(s);
	cr_assert_eq(persist_close(p), 0);
	return ni;
}

/* A 1 KB metadata entry: "blob" = 999 'v's. */
static inline const struct store_meta *persist_fixture_blob(void)
{
	static char value[1000];
	static struct store_meta meta = {"blob", value};
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	return &meta;
}

/* Register @p svc/tcp on h<@p k>.example.net port 1, with @p meta (one
 * entry) if not NULL; store_register()'s answer. */
static inline int persist_fixture_add(
		struct store *s, const char *svc, uint32_t k, const struct store_meta *meta)
{
	char host[64];
	snprintf(host, sizeof(host), "h%u.example.net", k);
	struct store_registration r = {.service = svc,
			.protocol = "tcp",
			.host = host,
			.port = 1,
			.meta = meta,
			.nmeta = meta != NULL};
	bool created;
	uint64_t rev;
	return store_register(s, &r, 0, 0, &created, &rev);
}
