/*
 * persist_walk.c, the damage check's page walk, called directly on a copy
 * in memory of a real LMDB file (the check runs it in a child process,
 * where a damaged page ends the child by its signal; here each damage is
 * one the walk must name without touching memory past the file). The store
 * has every kind of page the walk meets: branch and leaf pages of our three
 * named databases, overflow pages (values larger than a page) and a free
 * list (records deleted in a later transaction). Each case damages one
 * thing the way a torn write or a flipped bit would, and the walk must
 * refuse with a message naming it; the sound copy must pass with every
 * record counted. Also run under allocation failures (allocfail.h).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "allocfail.h"
#include "server/registry/persist_internal.h"

#define PS 4096u
#define NRECORDS 3000
#define NBIG 3

/* The file, read once per process. */
static struct {
	uint8_t *file;
	size_t len;
	uint64_t npages;
	unsigned meta;
	uint8_t *map; /* the copy each test damages */
} S;

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static void wr16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void wr64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* The store: NRECORDS small instances, NBIG values over a page, leases and
 * meta; then every third instance deleted (a free list). */
static void make_file(void)
{
	char dir[] = "/tmp/roster-walk-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi inst, leases, meta;
	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 4), 0);
	cr_assert_eq(mdb_env_set_mapsize(env, 64 << 20), 0);
	cr_assert_eq(mdb_env_open(env, dir, 0, 0640), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "instances", MDB_CREATE, &inst), 0);
	cr_assert_eq(mdb_dbi_open(txn, "leases", MDB_CREATE, &leases), 0);
	cr_assert_eq(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta), 0);
	static uint8_t val[3 * PS];
	memset(val, 0x5a, sizeof(val));
	for (int k = 1; k <= NRECORDS + NBIG; k++) {
		uint8_t key[8];
		for (int b = 0; b < 8; b++) {
			key[b] = (uint8_t)((uint64_t)k >> (56 - 8 * b));
		}
		MDB_val kv = {8, key}, vv = {k > NRECORDS ? 2 * PS + 100 : 100, val};
		cr_assert_eq(mdb_put(txn, inst, &kv, &vv, MDB_APPEND), 0);
		if (k <= 10) {
			cr_assert_eq(mdb_put(txn, leases, &kv, &vv, MDB_APPEND), 0);
		}
	}
	MDB_val mk = {8, "revision"}, mv = {8, val};
	cr_assert_eq(mdb_put(txn, meta, &mk, &mv, 0), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	for (int k = 1; k <= NRECORDS; k += 3) {
		uint8_t key[8];
		for (int b = 0; b < 8; b++) {
			key[b] = (uint8_t)((uint64_t)k >> (56 - 8 * b));
		}
		MDB_val kv = {8, key};
		cr_assert_eq(mdb_del(txn, inst, &kv, NULL), 0);
	}
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	char path[64];
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	int fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	struct stat sb;
	cr_assert_eq(fstat(fd, &sb), 0);
	S.len = (size_t)sb.st_size;
	S.file = malloc(S.len);
	cr_assert_not_null(S.file);
	cr_assert_eq(pread(fd, S.file, S.len, 0), (ssize_t)S.len);
	close(fd);
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
	/* The current meta page: the higher transaction id (offset 144). */
	S.meta = rd64(S.file + PS + 144) > rd64(S.file + 144) ? 1 : 0;
	S.npages = rd64(S.file + S.meta * PS + 136) + 1;
	cr_assert_leq(S.npages * PS, S.len);
}

static void setup(void)
{
	make_file();
	S.map = malloc(S.len);
	cr_assert_not_null(S.map);
	memcpy(S.map, S.file, S.len);
}

static void teardown(void)
{
	allocfail_disarm();
	free(S.map);
	free(S.file);
}

TestSuite(persist_walk, .init = setup, .fini = teardown);

static int walk(char *msg, size_t msgsz, uint64_t *records)
{
	msg[0] = '\0';
	return persist_walk_pages(S.map, PS, S.npages, S.meta, records, msg, msgsz);
}

/* ---- finding things in the file -------------------------------------------------- */

static uint8_t *page(uint64_t pg)
{
	return S.map + pg * PS;
}

static uint16_t page_flags(uint64_t pg)
{
	return rd16(page(pg) + 10);
}

static unsigned nodes(uint64_t pg)
{
	return (rd16(page(pg) + 12) - 16u) / 2u;
}

static uint8_t *node(uint64_t pg, unsigned i)
{
	return page(pg) + rd16(page(pg) + 16 + 2 * i);
}

/* The current meta's record of the free list (0) or the main database (1). */
static uint8_t *meta_db(int which)
{
	return page(S.meta) + 16 + (which == 0 ? 24 : 72);
}

/* The main database's leaf node of named database @p name: its value is the
 * database's record (flags at +4, depth at +6, counts, root at +40). */
static uint8_t *sub_db(const char *name)
{
	uint64_t root = rd64(meta_db(1) + 40);
	cr_assert_eq(page_flags(root), 0x02, "the main database is one leaf");
	for (unsigned i = 0; i < nodes(root); i++) {
		uint8_t *n = node(root, i);
		if (rd16(n + 6) == strlen(name) && memcmp(n + 8, name, strlen(name)) == 0) {
			return n;
		}
	}
	cr_assert_fail("no database %s", name);
	return NULL;
}

static uint8_t *sub_rec(const char *name)
{
	uint8_t *n = sub_db(name);
	return n + 8 + rd16(n + 6);
}

/* The first page of the instances database whose flags are @p flags. */
static uint64_t inst_page(uint16_t flags)
{
	uint64_t root = rd64(sub_rec("instances") + 40);
	if (flags == 0x01) {
		cr_assert_eq(page_flags(root), 0x01, "instances has branch pages");
		return root;
	}
	uint64_t child = rd16(node(root, 1)) | (uint64_t)rd16(node(root, 1) + 2) << 16;
	if (flags == 0x02) {
		return child;
	}
	for (uint64_t pg = 2; pg < S.npages; pg++) {
		if (page_flags(pg) == flags && rd64(page(pg)) == pg) {
			return pg;
		}
	}
	cr_assert_fail("no page with flags 0x%x", flags);
	return 0;
}

/* A leaf node of instances holding a value on overflow pages. */
static uint8_t *big_node(void)
{
	uint64_t root = rd64(sub_rec("instances") + 40);
	uint8_t *last = node(root, nodes(root) - 1);
	uint64_t leaf = rd16(last) | (uint64_t)rd16(last + 2) << 16;
	for (unsigned i = 0; i < nodes(leaf); i++) {
		if (rd16(node(leaf, i) + 4) & 0x01) {
			return node(leaf, i);
		}
	}
	cr_assert_fail("no value on overflow pages");
	return NULL;
}

/* The free list's first record (a leaf node): count, then page numbers. */
static uint8_t *free_node(void)
{
	uint64_t root = rd64(meta_db(0) + 40);
	cr_assert_neq(root, UINT64_MAX, "a free list");
	cr_assert_eq(page_flags(root), 0x02);
	return node(root, 0);
}

/* ---- the damages ------------------------------------------------------------------ */

static void child_outside(void)
{
	uint8_t *n = node(inst_page(0x01), 1);
	wr16(n, (uint16_t)(S.npages + 5));
	wr16(n + 2, 0);
}

static void child_twice(void)
{
	uint64_t br = inst_page(0x01);
	memcpy(node(br, 2), node(br, 1), 4);
}

static void header_pgno(void)
{
	wr64(page(inst_page(0x02)), 1);
}

static void leaf_flags(void)
{
	wr16(page(inst_page(0x02)) + 10, 0x08);
}

static void branch_too_deep(void)
{
	/* A branch where the depth says leaves. */
	wr16(sub_rec("instances") + 6, 1);
}

static void free_space(void)
{
	uint8_t *p = page(inst_page(0x02));
	wr16(p + 12, (uint16_t)(rd16(p + 14) + 2));
}

static void node_offset_odd(void)
{
	uint8_t *p = page(inst_page(0x02));
	wr16(p + 16, (uint16_t)(rd16(p + 16) + 1));
}

static void key_past_page(void)
{
	wr16(node(inst_page(0x02), 0) + 6, 0x7000);
}

static void keys_out_of_order(void)
{
	uint8_t *p = page(inst_page(0x02));
	uint16_t a = rd16(p + 16), b = rd16(p + 18);
	wr16(p + 16, b);
	wr16(p + 18, a);
}

static void dupdata(void)
{
	uint8_t *n = node(inst_page(0x02), 0);
	wr16(n + 4, 0x04);
}

static void value_past_page(void)
{
	uint8_t *n = node(inst_page(0x02), 0);
	wr16(n, 0x7fff);
}

static void bigdata_past_page(void)
{
	/* The first node sits at the end of its page: a key that leaves no
	 * room for the overflow page's number. */
	uint64_t pg = inst_page(0x02);
	uint8_t *n = node(pg, 0);
	uint32_t room = PS - rd16(page(pg) + 16);
	wr16(n + 4, 0x01);
	wr16(n + 6, (uint16_t)(room - 8 - 4));
}

static void overflow_flags(void)
{
	uint8_t *n = big_node();
	uint64_t opg = rd64(n + 8 + rd16(n + 6));
	wr16(page(opg) + 10, 0x02);
}

static void overflow_count(void)
{
	uint8_t *n = big_node();
	uint64_t opg = rd64(n + 8 + rd16(n + 6));
	memcpy(page(opg) + 12, &(uint32_t){1}, 4);
}

static void overflow_outside(void)
{
	uint8_t *n = big_node();
	wr64(n + 8 + rd16(n + 6), S.npages + 1);
}

static void subdb_size(void)
{
	uint8_t *n = sub_db("leases");
	wr16(n, 40);
}

static void subdb_no_root(void)
{
	wr64(sub_rec("meta") + 40, UINT64_MAX);
}

static void subdb_depth(void)
{
	wr16(sub_rec("leases") + 6, 0);
}

static void subdb_deep(void)
{
	wr16(sub_rec("leases") + 6, 40);
}

static void subdb_entries(void)
{
	uint8_t *r = sub_rec("leases");
	wr64(r + 32, rd64(r + 32) + 1);
}

static void free_record_count(void)
{
	uint8_t *n = free_node();
	uint8_t *v = n + 8 + rd16(n + 6);
	wr64(v, rd64(v) + 1);
}

static void free_page_outside(void)
{
	uint8_t *n = free_node();
	uint8_t *v = n + 8 + rd16(n + 6);
	wr64(v + 8, S.npages + 3);
}

static void free_page_in_use(void)
{
	uint8_t *n = free_node();
	uint8_t *v = n + 8 + rd16(n + 6);
	wr64(v + 8, inst_page(0x01));
}

static void free_no_root(void)
{
	uint8_t *r = meta_db(0);
	wr64(r + 40, UINT64_MAX);
	wr16(r + 6, 0);
}

static void child_page_zero(void)
{
	uint8_t *n = node(inst_page(0x01), 1);
	wr16(n, 0);
	wr16(n + 2, 0);
}

static void free_space_header(void)
{
	wr16(page(inst_page(0x02)) + 12, 16); /* no room for even one node */
}

static void free_space_past_page(void)
{
	wr16(page(inst_page(0x02)) + 14, PS + 8);
}

static void free_space_odd(void)
{
	uint8_t *p = page(inst_page(0x02));
	wr16(p + 12, (uint16_t)(rd16(p + 12) - 1));
}

static void node_offset_low(void)
{
	uint8_t *p = page(inst_page(0x02));
	wr16(p + 16, (uint16_t)(rd16(p + 14) - 2)); /* in the free space */
}

static void node_offset_end(void)
{
	wr16(page(inst_page(0x02)) + 16, PS - 4); /* no room for its header */
}

static void overflow_past_file(void)
{
	/* A value so large that its overflow pages, counted right, run past
	 * the file's last page. */
	uint8_t *n = big_node();
	uint64_t opg = rd64(n + 8 + rd16(n + 6));
	uint32_t dsize = (uint32_t)(S.npages * PS);
	wr16(n, (uint16_t)dsize);
	wr16(n + 2, (uint16_t)(dsize >> 16));
	uint32_t want = (uint32_t)((16 - 1 + dsize) / PS + 1);
	memcpy(page(opg) + 12, &want, 4);
}

static void subdb_outside_main(void)
{
	uint8_t *n = node(inst_page(0x02), 0);
	wr16(n + 4, 0x02);
}

static void subdb_empty_name(void)
{
	/* The main database's first node: no key before it to be out of
	 * order with. */
	uint64_t root = rd64(meta_db(1) + 40);
	wr16(node(root, 0) + 6, 0);
}

static void subdb_long_name(void)
{
	/* The node with the most room after it, its name run on into the
	 * bytes after it (still in order: its first letters stay). */
	uint64_t root = rd64(meta_db(1) + 40);
	unsigned low = 0;
	for (unsigned i = 1; i < nodes(root); i++) {
		if (rd16(page(root) + 16 + 2 * i) < rd16(page(root) + 16 + 2 * low)) {
			low = i;
		}
	}
	cr_assert_gt(PS - rd16(page(root) + 16 + 2 * low), 8 + 70 + 48, "room for the name");
	wr16(node(root, low) + 6, 70);
}

static void subdb_no_root_depth(void)
{
	uint8_t *r = sub_rec("meta");
	wr64(r + 40, UINT64_MAX);
	wr64(r + 32, 0); /* no entries, but still a depth */
}

static void subdb_leaf_count(void)
{
	uint8_t *r = sub_rec("leases");
	wr64(r + 16, rd64(r + 16) + 1);
}

static void subdb_branch_count(void)
{
	uint8_t *r = sub_rec("instances");
	wr64(r + 8, rd64(r + 8) + 1);
}

static void subdb_overflow_count(void)
{
	uint8_t *r = sub_rec("instances");
	wr64(r + 24, rd64(r + 24) - 1);
}

static void free_record_short(void)
{
	uint8_t *n = free_node();
	wr16(n, 4);
	wr16(n + 2, 0);
}

static void free_record_odd(void)
{
	uint8_t *n = free_node();
	wr16(n, 12);
	wr16(n + 2, 0);
}

static void free_page_meta(void)
{
	uint8_t *n = free_node();
	uint8_t *v = n + 8 + rd16(n + 6);
	wr64(v + 8, 1);
}

struct damage {
	const char *name;
	void (*apply)(void);
	const char *word;
};

static const struct damage cases[] = {
		{"a child page outside the file", child_outside, "outside pages"},
		{"a child page named twice", child_twice, "twice"},
		{"a header with another page number", header_pgno, "its header says page 1"},
		{"a leaf with meta flags", leaf_flags, "flags 0x8"},
		{"a branch at the leaves' depth", branch_too_deep, "flags 0x1 at depth 1 of 1"},
		{"free space upside down", free_space, "free space"},
		{"a node at an odd offset", node_offset_odd, "node 0 at offset"},
		{"a key past its page", key_past_page, "a key runs past the page"},
		{"keys out of order", keys_out_of_order, "keys out of order"},
		{"a node with duplicates", dupdata, "duplicates"},
		{"a value past its page", value_past_page, "runs past its page"},
		{"an overflow number past its page", bigdata_past_page, "runs past its page"},
		{"an overflow page that is a leaf", overflow_flags, "overflow page"},
		{"an overflow page count", overflow_count, "overflow page"},
		{"an overflow page outside the file", overflow_outside, "outside pages"},
		{"a sub-database record of 40 bytes", subdb_size, "sub-database node"},
		{"a sub-database without root, with entries", subdb_no_root, "no root"},
		{"a sub-database of depth 0", subdb_depth, "depth 0"},
		{"a sub-database of depth 40", subdb_deep, "depth 40"},
		{"a sub-database's count of entries", subdb_entries, "records, recorded"},
		{"a free-list record's count", free_record_count, "free-list record is damaged"},
		{"a free page outside the file", free_page_outside, "the free list names page"},
		{"a page in use and free", free_page_in_use, "in use and in the free list"},
		{"a free list without root, with pages", free_no_root, "no root"},
		{"a child page 0", child_page_zero, "outside pages"},
		{"free space inside the header", free_space_header, "free space"},
		{"free space past the page", free_space_past_page, "free space"},
		{"an odd end of the node offsets", free_space_odd, "free space"},
		{"a node in the free space", node_offset_low, "node 0 at offset"},
		{"a node at the page's last bytes", node_offset_end, "node 0 at offset"},
		{"overflow pages past the file", overflow_past_file, "overflow page"},
		{"a sub-database node in instances", subdb_outside_main, "sub-database node"},
		{"a sub-database without a name", subdb_empty_name, "sub-database node"},
		{"a sub-database name of 70 bytes", subdb_long_name, "sub-database node"},
		{"a sub-database without root, with a depth", subdb_no_root_depth, "no root"},
		{"a sub-database's count of leaves", subdb_leaf_count, "records, recorded"},
		{"a sub-database's count of branches", subdb_branch_count, "records, recorded"},
		{"a sub-database's count of overflow pages", subdb_overflow_count,
				"records, recorded"},
		{"a free-list record of 4 bytes", free_record_short, "free-list record is damaged"},
		{"a free-list record of 12 bytes", free_record_odd, "free-list record is damaged"},
		{"a free page that is a meta page", free_page_meta, "the free list names page 1,"},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

Test(persist_walk, a_sound_file_passes_with_every_record_counted)
{
	char msg[512];
	uint64_t records = 0;
	cr_assert_eq(walk(msg, sizeof(msg), &records), 0, "%s", msg);
	/* Ours, the three named databases in main, and the free list's. */
	uint64_t ours = NRECORDS + NBIG - (NRECORDS + 2) / 3 + 10 + 1;
	cr_expect_geq(records, ours + 3, "%llu records", (unsigned long long)records);
	cr_expect_str_empty(msg);
}

ParameterizedTestParameters(persist_walk, each_damage_is_named)
{
	static int idx[NCASES];
	for (size_t k = 0; k < NCASES; k++) {
		idx[k] = (int)k;
	}
	return cr_make_param_array(int, idx, NCASES);
}

ParameterizedTest(int *i, persist_walk, each_damage_is_named)
{
	const struct damage *d = &cases[*i];
	d->apply();
	char msg[512];
	uint64_t records;
	cr_assert_eq(walk(msg, sizeof(msg), &records), -1, "%s: passed", d->name);
	cr_expect_not_null(strstr(msg, d->word), "%s: '%s' not in '%s'", d->name, d->word, msg);
}

/* The shorter of two keys that begin alike comes first (LMDB's order:
 * bytes, then length): a sound page, not damage. */
Test(persist_walk, a_key_that_prefixes_the_next_is_in_order)
{
	uint64_t pg = inst_page(0x02);
	uint8_t *n0 = node(pg, 0), *n1 = node(pg, 1);
	cr_assert_eq(memcmp(n0 + 8, n1 + 8, 7), 0, "neighbours share their first 7 bytes");
	wr16(n0 + 6, 7);
	char msg[512];
	uint64_t records = 0;
	cr_expect_eq(walk(msg, sizeof(msg), &records), 0, "%s", msg);
	wr16(n0 + 6, 8);
	wr16(n1 + 6, 7); /* the longer first: out of order */
	cr_expect_eq(walk(msg, sizeof(msg), &records), -1);
	cr_expect_not_null(strstr(msg, "keys out of order"), "%s", msg);
}

Test(persist_walk, without_memory_the_walk_fails_and_says_so)
{
	char msg[512];
	uint64_t records;
	for (size_t k = 1;; k++) {
		allocfail_arm(k);
		int rc = walk(msg, sizeof(msg), &records);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (!struck) {
			cr_expect_eq(rc, 0, "%s", msg);
			cr_expect_gt(k, 2, "the seen bits and the free pages");
			break;
		}
		cr_expect_eq(rc, -1, "k=%zu", k);
		cr_expect_not_null(strstr(msg, "out of memory"), "k=%zu: %s", k, msg);
	}
}
