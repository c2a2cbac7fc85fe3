/*
 * The damage check's page walk: every page of every B-tree of a mapped
 * LMDB file (the free list, the main database and each named database in
 * it), checked before anything of it is used, in the child process of
 * persist_check.c. A read through LMDB's cursors does not look at what a
 * write will trust (node offsets, the page's free space, node sizes): a
 * damaged node header reads fine and corrupts memory when rosterd deletes
 * the record. So each page is checked as LMDB's writer will use it:
 *   - its number in the file, its header's page number, its type, and the
 *     depth it is met at (every leaf at the database's depth);
 *   - the node offsets inside the page, above its free space, each node
 *     (header, key, inline value) inside the page, keys in order;
 *   - an overflow value's pages: in the file, their header, their count;
 *   - no page reached twice (a loop, two trees sharing a page), no page both
 *     in use and in the free list, every free-list page number in the file;
 *   - the counts each database records (branch, leaf and overflow pages,
 *     entries) against what was found.
 * The walk is bounded: at most one visit per page, a depth of at most 32.
 * Layout constants: lmdb 0.9's mdb.c (the format is frozen at version 1).
 */
#include "server/registry/persist_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGEHDR 16
#define P_BRANCH 0x01u
#define P_LEAF 0x02u
#define P_OVERFLOW 0x04u
#define P_LEAF2 0x20u
#define F_BIGDATA 0x01u
#define F_SUBDATA 0x02u
#define F_DUPDATA 0x04u
#define NODEHDR 8u
#define DB_LEN 48
#define DEPTH_MAX 32
#define NO_PAGE UINT64_MAX

/* An MDB_db record: the counts and root of one database. */
struct db_rec {
	uint16_t flags, depth;
	uint64_t branch, leaf, overflow, entries, root;
};

struct walk {
	const uint8_t *map;
	uint64_t psize, npages;
	uint8_t *seen; /* a bit per page */
	uint64_t *free_pages;
	size_t nfree, free_cap;
	char *msg;
	size_t msgsz;
	uint64_t records; /* entries of every database */
};

/* What one database's walk found. */
struct found {
	const char *name;
	bool free_db, main_db;
	uint16_t depth;
	uint64_t branch, leaf, overflow, entries;
};

static void db_rec_read(const uint8_t *p, struct db_rec *d)
{
	d->flags = persist_rd16(p + 4);
	d->depth = persist_rd16(p + 6);
	d->branch = persist_rd64(p + 8);
	d->leaf = persist_rd64(p + 16);
	d->overflow = persist_rd64(p + 24);
	d->entries = persist_rd64(p + 32);
	d->root = persist_rd64(p + 40);
}

static int damage(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int damage(struct walk *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->msg, w->msgsz, fmt, ap);
	va_end(ap);
	return -1;
}

/* Claim page @p pg for the tree being walked: in the file, met once. */
static int page_claim(struct walk *w, const struct found *f, uint64_t pg)
{
	if (pg < 2 || pg >= w->npages) {
		return damage(w, "database %s names page %llu, outside pages 2-%llu", f->name,
				(unsigned long long)pg, (unsigned long long)(w->npages - 1));
	}
	if (w->seen[pg / 8] & (1u << (pg % 8))) {
		return damage(w, "database %s reaches page %llu twice (a loop or a shared page)",
				f->name, (unsigned long long)pg);
	}
	w->seen[pg / 8] |= (uint8_t)(1u << (pg % 8));
	uint64_t hdr = persist_rd64(w->map + pg * w->psize);
	if (hdr != pg) {
		return damage(w, "page %llu of database %s is damaged (its header says page %llu)",
				(unsigned long long)pg, f->name, (unsigned long long)hdr);
	}
	return 0;
}

static int key_order(const struct found *f, const uint8_t *a, uint16_t alen, const uint8_t *b,
		uint16_t blen)
{
	if (f->free_db && alen == 8 && blen == 8) {
		uint64_t x = persist_rd64(a), y = persist_rd64(b);
		return x < y ? -1 : x > y;
	}
	size_t n = alen < blen ? alen : blen;
	int c = memcmp(a, b, n);
	return c != 0 ? c : (alen < blen ? -1 : alen > blen);
}

static int free_pages_add(struct walk *w, const uint8_t *v, uint64_t len)
{
	if (len < 8 || len % 8 != 0 || persist_rd64(v) != len / 8 - 1) {
		return damage(w, "a free-list record is damaged (%llu bytes)",
				(unsigned long long)len);
	}
	for (uint64_t k = 1; k < len / 8; k++) {
		uint64_t pg = persist_rd64(v + 8 * k);
		if (pg < 2 || pg >= w->npages) {
			return damage(w, "the free list names page %llu, outside pages 2-%llu",
					(unsigned long long)pg,
					(unsigned long long)(w->npages - 1));
		}
		if (w->nfree == w->free_cap) {
			size_t cap = w->free_cap ? w->free_cap * 2 : 1024;
			uint64_t *n = realloc(w->free_pages, cap * sizeof(*n));
			if (n == NULL) {
				return damage(w, "out of memory checking the free list");
			}
			w->free_pages = n;
			w->free_cap = cap;
		}
		w->free_pages[w->nfree++] = pg;
	}
	return 0;
}

static int db_walk(struct walk *w, const char *name, const struct db_rec *d, bool free_db,
		bool main_db);

/* A leaf node's value: inline, or on overflow pages; a named database in
 * the main one; a free-list record in the free one. */
static int leaf_value(struct walk *w, struct found *f, const uint8_t *node, uint16_t nflags,
		uint16_t ksize, uint64_t dsize, uint32_t room)
{
	const uint8_t *v = node + NODEHDR + ksize;
	if (nflags & F_DUPDATA) {
		return damage(w,
				"database %s: a node has flags 0x%x (no database here has "
				"duplicates)",
				f->name, nflags);
	}
	if (nflags & F_BIGDATA) {
		if (NODEHDR + ksize + 8u > room) {
			return damage(w, "database %s: a node runs past its page", f->name);
		}
		uint64_t pg = persist_rd64(v);
		if (page_claim(w, f, pg) < 0) {
			return -1;
		}
		const uint8_t *op = w->map + pg * w->psize;
		uint64_t want = (PAGEHDR - 1 + dsize) / w->psize + 1;
		if (!(persist_rd16(op + 10) & P_OVERFLOW) || persist_rd32(op + 12) != want ||
				pg + want > w->npages) {
			return damage(w, "overflow page %llu of database %s is damaged",
					(unsigned long long)pg, f->name);
		}
		for (uint64_t k = 1; k < want; k++) {
			w->seen[(pg + k) / 8] |= (uint8_t)(1u << ((pg + k) % 8));
		}
		f->overflow += want;
		v = op + PAGEHDR;
	} else if (NODEHDR + ksize + dsize > room) {
		return damage(w, "database %s: a node runs past its page", f->name);
	}
	if (f->free_db) {
		return free_pages_add(w, v, dsize);
	}
	if (nflags & F_SUBDATA) {
		if (!f->main_db || dsize != DB_LEN || ksize == 0 || ksize > 64) {
			return damage(w, "database %s: a damaged sub-database node", f->name);
		}
		char sub[65];
		memcpy(sub, node + NODEHDR, ksize);
		sub[ksize] = '\0';
		struct db_rec d;
		db_rec_read(v, &d);
		return db_walk(w, sub, &d, false, false);
	}
	return 0;
}

static int page_walk(struct walk *w, struct found *f, uint64_t pg, unsigned depth)
{
	if (depth > DEPTH_MAX || page_claim(w, f, pg) < 0) {
		return depth > DEPTH_MAX ? damage(w, "database %s is deeper than %d", f->name,
							   DEPTH_MAX)
					 : -1;
	}
	const uint8_t *p = w->map + pg * w->psize;
	uint16_t flags = persist_rd16(p + 10), lower = persist_rd16(p + 12),
		 upper = persist_rd16(p + 14);
	bool branch = (flags & (P_BRANCH | P_LEAF | P_OVERFLOW | P_LEAF2)) == P_BRANCH;
	bool leaf = (flags & (P_BRANCH | P_LEAF | P_OVERFLOW | P_LEAF2)) == P_LEAF;
	if ((!branch && !leaf) || (leaf && depth != f->depth) || (branch && depth >= f->depth)) {
		return damage(w,
				"page %llu of database %s is damaged (flags 0x%x at depth %u of %u)",
				(unsigned long long)pg, f->name, flags, depth, f->depth);
	}
	if (lower < PAGEHDR + 2 || lower > upper || upper > w->psize || (lower - PAGEHDR) % 2) {
		return damage(w, "page %llu of database %s is damaged (free space %u-%u)",
				(unsigned long long)pg, f->name, lower, upper);
	}
	unsigned n = (lower - PAGEHDR) / 2u;
	const uint8_t *pk = NULL;
	uint16_t pklen = 0;
	for (unsigned i = 0; i < n; i++) {
		uint16_t off = persist_rd16(p + PAGEHDR + 2 * i);
		if (off < upper || off % 2 || (uint64_t)off + NODEHDR > w->psize) {
			return damage(w,
					"page %llu of database %s: node %u at offset %u, outside "
					"%u-%llu",
					(unsigned long long)pg, f->name, i, off, upper,
					(unsigned long long)w->psize);
		}
		const uint8_t *node = p + off;
		uint16_t lo = persist_rd16(node), hi = persist_rd16(node + 2),
			 nflags = persist_rd16(node + 4);
		uint16_t ksize = persist_rd16(node + 6);
		uint32_t room = (uint32_t)(w->psize - off);
		if (NODEHDR + ksize > room) {
			return damage(w, "page %llu of database %s: a key runs past the page",
					(unsigned long long)pg, f->name);
		}
		const uint8_t *key = node + NODEHDR;
		if ((!branch || i > 0) && pk != NULL && key_order(f, pk, pklen, key, ksize) >= 0) {
			return damage(w, "page %llu of database %s: keys out of order",
					(unsigned long long)pg, f->name);
		}
		if (!branch || i > 0) {
			pk = key;
			pklen = ksize;
		}
		int rc;
		if (branch) {
			uint64_t child = lo | (uint64_t)hi << 16 | (uint64_t)nflags << 32;
			rc = page_walk(w, f, child, depth + 1);
		} else {
			rc = leaf_value(w, f, node, nflags, ksize, lo | (uint64_t)hi << 16, room);
			f->entries++;
		}
		if (rc < 0) {
			return -1;
		}
	}
	if (branch) {
		f->branch++;
	} else {
		f->leaf++;
	}
	return 0;
}

static int db_walk(struct walk *w, const char *name, const struct db_rec *d, bool free_db,
		bool main_db)
{
	struct found f = {name, free_db, main_db, d->depth, 0, 0, 0, 0};
	if (d->root == NO_PAGE) {
		if (d->entries != 0 || d->depth != 0) {
			return damage(w, "database %s is damaged (no root, %llu entries)", name,
					(unsigned long long)d->entries);
		}
		return 0;
	}
	if (d->depth == 0 || d->depth > DEPTH_MAX) {
		return damage(w, "database %s is damaged (depth %u)", name, d->depth);
	}
	if (page_walk(w, &f, d->root, 1) < 0) {
		return -1;
	}
	if (f.branch != d->branch || f.leaf != d->leaf || f.overflow != d->overflow ||
			f.entries != d->entries) {
		return damage(w,
				"database %s: found %llu/%llu/%llu branch/leaf/overflow pages and %llu "
				"records, recorded %llu/%llu/%llu and %llu",
				name, (unsigned long long)f.branch, (unsigned long long)f.leaf,
				(unsigned long long)f.overflow, (unsigned long long)f.entries,
				(unsigned long long)d->branch, (unsigned long long)d->leaf,
				(unsigned long long)d->overflow, (unsigned long long)d->entries);
	}
	w->records += f.entries;
	return 0;
}

int persist_walk_pages(const uint8_t *map, uint64_t psize, uint64_t npages, unsigned meta,
		uint64_t *records, char *msg, size_t msgsz)
{
	struct walk w = {map, psize, npages, calloc(npages / 8 + 1, 1), NULL, 0, 0, msg, msgsz, 0};
	if (w.seen == NULL) {
		snprintf(msg, msgsz, "out of memory for the page walk");
		return -1;
	}
	const uint8_t *m = map + meta * psize + PAGEHDR;
	struct db_rec fdb, mdb;
	db_rec_read(m + 24, &fdb); /* mm_dbs[FREE_DBI], after magic, version, address, mapsize */
	db_rec_read(m + 72, &mdb); /* mm_dbs[MAIN_DBI] */
	int rc = db_walk(&w, "free list", &fdb, true, false);
	if (rc == 0) {
		rc = db_walk(&w, "main", &mdb, false, true);
	}
	for (size_t k = 0; rc == 0 && k < w.nfree; k++) {
		uint64_t pg = w.free_pages[k];
		if (w.seen[pg / 8] & (1u << (pg % 8))) {
			rc = damage(&w, "page %llu is in use and in the free list",
					(unsigned long long)pg);
		}
	}
	*records = w.records;
	free(w.seen);
	free(w.free_pages);
	return rc;
}
