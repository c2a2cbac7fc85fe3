/*
 * persist_record.c and persist_load.c: the record format read back from
 * bytes a damaged or foreign store may hold (every field cut short, a
 * wrong version, an unknown address family, strings past their room, bytes
 * left over, record number 0), and loading a store whose records no longer
 * make sense: each such record is dropped, counted and deleted from the
 * disk, the sound ones served; and the same load under allocation failures
 * (tests/faults/allocfail.h): RS_ENOMEM with nothing deleted, or the very
 * result of a load without failures.
 */
#include <criterion/criterion.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "allocfail.h"
#include "common/error.h"
#include "server/registry/persist_internal.h"
#include "server/registry/store.h"

/* ---- a record by hand ------------------------------------------------------------ */

struct rec {
	uint8_t b[512];
	size_t n;
};

static void put8(struct rec *r, uint8_t v)
{
	r->b[r->n++] = v;
}

static void put16(struct rec *r, uint16_t v)
{
	put8(r, (uint8_t)(v >> 8));
	put8(r, (uint8_t)v);
}

static void put64(struct rec *r, uint64_t v)
{
	for (int k = 7; k >= 0; k--) {
		put8(r, (uint8_t)(v >> (8 * k)));
	}
}

static void putstr8(struct rec *r, const char *s)
{
	put8(r, (uint8_t)strlen(s));
	memcpy(r->b + r->n, s, strlen(s));
	r->n += strlen(s);
}

static void putstr16(struct rec *r, const char *s)
{
	put16(r, (uint16_t)strlen(s));
	memcpy(r->b + r->n, s, strlen(s));
	r->n += strlen(s);
}

/* An instance record as version 2 writes it: web/tcp/@p host:8080 under
 * @p lease, one IPv4 and one IPv6 address, one metadata entry. Offsets of
 * the fields a case damages are returned through @p at. */
struct offsets {
	size_t version, service, naddrs, family4, family6, nmeta, meta_key, meta_value;
};

static struct rec instance_rec(const char *host, uint64_t lease, struct offsets *at)
{
	struct rec r = {.n = 0};
	struct offsets o;
	o.version = r.n;
	put8(&r, 2);
	put8(&r, 0);
	o.service = r.n;
	putstr8(&r, "web");
	putstr8(&r, "tcp");
	putstr8(&r, host);
	put16(&r, 8080);
	put16(&r, 1);
	put16(&r, 2);
	put8(&r, 2); /* up */
	put64(&r, lease);
	put64(&r, 1764115200000ull);
	put64(&r, 1764115200000ull);
	o.naddrs = r.n;
	put8(&r, 2);
	o.family4 = r.n;
	put8(&r, 4);
	put8(&r, 192), put8(&r, 0), put8(&r, 2), put8(&r, 1);
	o.family6 = r.n;
	put8(&r, 6);
	for (int k = 0; k < 16; k++) {
		put8(&r, (uint8_t)(k == 0 ? 0x20 : k));
	}
	o.nmeta = r.n;
	put8(&r, 1);
	o.meta_key = r.n;
	putstr16(&r, "zone");
	o.meta_value = r.n;
	putstr16(&r, "eu-1");
	if (at != NULL) {
		*at = o;
	}
	return r;
}

static int decode(const uint8_t *key, size_t klen, const struct rec *r, size_t strs_cap,
		struct store_registration *reg)
{
	static struct rs_addr addrs[256];
	static struct store_meta meta[256];
	static char strs[1024];
	uint64_t at, since;
	memset(reg, 0, sizeof(*reg));
	cr_assert_leq(strs_cap, sizeof(strs));
	return persist_instance_decode(
			key, klen, r->b, r->n, reg, addrs, meta, strs, strs_cap, &at, &since);
}

static const uint8_t key7[8] = {0, 0, 0, 0, 0, 0, 0, 7};

Test(persist_record, a_sound_record_reads_back_whole)
{
	struct rec r = instance_rec("h1.example.net", 0x1234, NULL);
	struct store_registration reg;
	cr_assert_eq(decode(key7, 8, &r, 1024, &reg), 0);
	cr_expect_eq(reg.rec, 7);
	cr_expect_str_eq(reg.service, "web");
	cr_expect_str_eq(reg.protocol, "tcp");
	cr_expect_str_eq(reg.host, "h1.example.net");
	cr_expect_eq(reg.port, 8080);
	cr_expect_eq(reg.priority, 1);
	cr_expect_eq(reg.weight, 2);
	cr_expect_eq(reg.lease, 0x1234);
	cr_assert_eq(reg.naddrs, 2);
	cr_expect_eq(reg.addrs[0].family, AF_INET);
	cr_expect_eq(reg.addrs[1].family, AF_INET6);
	cr_assert_eq(reg.nmeta, 1);
	cr_expect_str_eq(reg.meta[0].key, "zone");
	cr_expect_str_eq(reg.meta[0].value, "eu-1");
}

Test(persist_record, every_damaged_record_is_refused)
{
	struct offsets o;
	struct rec sound = instance_rec("h1.example.net", 0, &o);
	struct store_registration reg;
	const uint8_t zero[8] = {0};
	/* The key: not 8 bytes, or record number 0. */
	cr_expect_eq(decode(key7, 7, &sound, 1024, &reg), RS_EPROTO);
	cr_expect_eq(decode(zero, 8, &sound, 1024, &reg), RS_EPROTO);
	/* Cut short after every byte. */
	for (size_t n = 0; n < sound.n; n++) {
		struct rec r = sound;
		r.n = n;
		cr_expect_eq(decode(key7, 8, &r, 1024, &reg), RS_EPROTO, "cut at %zu", n);
	}
	/* A byte too many. */
	struct rec r = sound;
	put8(&r, 0);
	cr_expect_eq(decode(key7, 8, &r, 1024, &reg), RS_EPROTO);
	/* Another version. */
	r = sound;
	r.b[o.version] = 1;
	cr_expect_eq(decode(key7, 8, &r, 1024, &reg), RS_EPROTO);
	/* An address family that is neither 4 nor 6. */
	r = sound;
	r.b[o.family6] = 5;
	cr_expect_eq(decode(key7, 8, &r, 1024, &reg), RS_EPROTO);
	/* Strings past the room given for them: the names, a key, a value. */
	cr_expect_eq(decode(key7, 8, &sound, 3, &reg), RS_EPROTO);
	cr_expect_eq(decode(key7, 8, &sound, 4 + 4 + 15 + 2, &reg), RS_EPROTO);
	cr_expect_eq(decode(key7, 8, &sound, 4 + 4 + 15 + 5 + 2, &reg), RS_EPROTO);
	cr_expect_eq(decode(key7, 8, &sound, 4 + 4 + 15 + 5 + 5, &reg), 0);
	/* A lease value: its version, its length. */
	uint8_t lv[PERSIST_LEASE_VALUE];
	uint32_t ttl = 0;
	persist_lease_encode(30000, lv);
	cr_expect_eq(persist_lease_decode(lv, sizeof(lv), &ttl), 0);
	cr_expect_eq(ttl, 30000);
	cr_expect_eq(persist_lease_decode(lv, sizeof(lv) - 1, &ttl), RS_EPROTO);
	lv[0] = 1;
	cr_expect_eq(persist_lease_decode(lv, sizeof(lv), &ttl), RS_EPROTO);
}

/* ---- loading ------------------------------------------------------------------- */

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/roster-load-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	allocfail_disarm();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(persist_load, .init = setup, .fini = teardown);

static void raw_put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kl, const void *v, size_t vl)
{
	MDB_val kv = {kl, (void *)k}, vv = {vl, (void *)v};
	cr_assert_eq(mdb_put(txn, dbi, &kv, &vv, 0), 0);
}

/* A store persist made, then records written beside it: two sound leases
 * and instances, and the ones that no longer make sense. */
static void make_damaged_store(void)
{
	struct persist *p;
	char err[512];
	cr_assert_eq(persist_open(dir, 1 << 20, 64 << 20, &p, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(persist_close(p), 0);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi inst, leases, meta;
	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 4), 0);
	cr_assert_eq(mdb_env_open(env, dir, 0, 0640), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "instances", MDB_CREATE, &inst), 0);
	cr_assert_eq(mdb_dbi_open(txn, "leases", MDB_CREATE, &leases), 0);
	cr_assert_eq(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta), 0);
	uint8_t k[8], v[PERSIST_LEASE_VALUE];
	/* Leases: two sound, a short key, a bad version, a TTL of 0. */
	persist_lease_encode(30000, v);
	persist_key(0x1111, k);
	raw_put(txn, leases, k, 8, v, sizeof(v));
	persist_key(0x2222, k);
	raw_put(txn, leases, k, 8, v, sizeof(v));
	raw_put(txn, leases, "abc", 3, v, sizeof(v));
	persist_key(0x3333, k);
	raw_put(txn, leases, k, 8, "\x01\0\0\x75\x30", 5);
	persist_lease_encode(0, v);
	persist_key(0x4444, k);
	raw_put(txn, leases, k, 8, v, sizeof(v));
	/* Instances: two sound (one permanent, one leased), one of a lease that
	 * is gone, one that does not decode, one with a bad name. */
	struct rec r = instance_rec("h1.example.net", 0, NULL);
	persist_key(1, k);
	raw_put(txn, inst, k, 8, r.b, r.n);
	r = instance_rec("h2.example.net", 0x1111, NULL);
	persist_key(2, k);
	raw_put(txn, inst, k, 8, r.b, r.n);
	r = instance_rec("h3.example.net", 0x9999, NULL);
	persist_key(3, k);
	raw_put(txn, inst, k, 8, r.b, r.n);
	persist_key(4, k);
	raw_put(txn, inst, k, 8, "\x02garbage", 8);
	r = instance_rec("bad_host!", 0, NULL);
	persist_key(5, k);
	raw_put(txn, inst, k, 8, r.b, r.n);
	uint8_t rev[8];
	persist_key(42, rev);
	raw_put(txn, meta, "revision", 8, rev, 8);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

struct loaded {
	int rc;
	uint64_t ninst, nleases, dropped, revision;
	size_t instances;
	char kept[4200]; /* persist_dropped_path() */
	unsigned newer;  /* persist_newer_record() */
};

static struct loaded load(void)
{
	struct persist *p;
	char err[512];
	cr_assert_eq(persist_open(dir, 1 << 20, 64 << 20, &p, err, sizeof(err)), 0, "%s", err);
	struct store_limits l;
	store_limits_default(&l);
	struct store *s = store_new(&l, persist_ops(), p, 1000);
	cr_assert_not_null(s);
	struct loaded out = {0};
	out.rc = persist_load(p, s, 1000, &out.ninst, &out.nleases, &out.dropped);
	snprintf(out.kept, sizeof(out.kept), "%s", persist_dropped_path(p));
	out.newer = persist_newer_record(p);
	out.revision = store_revision(s);
	struct store_sizes sz;
	store_sizes_get(s, &sz);
	out.instances = sz.instances;
	store_free(s);
	cr_assert_eq(persist_close(p), 0);
	return out;
}

Test(persist_load, records_that_no_longer_make_sense_are_dropped_from_the_disk)
{
	make_damaged_store();
	struct loaded a = load();
	cr_assert_eq(a.rc, 0);
	cr_expect_eq(a.nleases, 2);
	cr_expect_eq(a.ninst, 2);
	cr_expect_eq(a.instances, 2);
	cr_expect_eq(a.dropped, 3 + 3, "3 leases and 3 instances dropped, got %llu",
			(unsigned long long)a.dropped);
	cr_expect_eq(a.revision, 42);
	/* They were deleted: the next load finds only the sound ones. */
	struct loaded b = load();
	cr_assert_eq(b.rc, 0);
	cr_expect_eq(b.nleases, 2);
	cr_expect_eq(b.ninst, 2);
	cr_expect_eq(b.dropped, 0);
}

/* What a load drops is kept first, in mdb_dump's format: mdb_load puts the
 * 3 leases and 3 instances back into a store of their own. */
Test(persist_load, dropped_records_are_kept_in_a_file_mdb_load_reads)
{
	make_damaged_store();
	struct loaded a = load();
	cr_assert_eq(a.rc, 0);
	const char *kept = a.kept;
	cr_assert_eq(strncmp(kept, dir, strlen(dir)), 0, "in the data dir: %s", kept);
	char cmd[9000], out[256];
	snprintf(cmd, sizeof(cmd),
			"d=$(mktemp -d) && mdb_load -f '%s' \"$d\" && "
			"mdb_stat -s leases \"$d\" | grep Entries && "
			"mdb_stat -s instances \"$d\" | grep Entries; rm -rf \"$d\"",
			kept);
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	size_t n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	pclose(f);
	cr_expect_str_eq(out, "  Entries: 3\n  Entries: 3\n");
	unlink(kept);
}

/* A record of a later format (a downgrade after an upgrade): the load
 * stops, names the format, and deletes nothing. */
Test(persist_load, a_record_of_a_newer_format_stops_the_load_and_deletes_nothing)
{
	make_damaged_store();
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi inst;
	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 4), 0);
	cr_assert_eq(mdb_env_open(env, dir, 0, 0640), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "instances", 0, &inst), 0);
	uint8_t k[8];
	persist_key(9, k);
	uint8_t v[] = {REC_VERSION + 1, 1, 2, 3};
	raw_put(txn, inst, k, 8, v, sizeof(v));
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	for (int round = 0; round < 2; round++) {
		struct loaded a = load();
		cr_expect_eq(a.rc, RS_ENOTSUP);
		cr_expect_eq(a.newer, REC_VERSION + 1);
	}
	/* Nothing deleted: the sound records and the damaged ones are all there. */
	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 4), 0);
	cr_assert_eq(mdb_env_open(env, dir, MDB_RDONLY, 0640), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "instances", 0, &inst), 0);
	MDB_stat st;
	cr_assert_eq(mdb_stat(txn, inst, &st), 0);
	cr_expect_eq(st.ms_entries, 6);
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

Test(persist_load, a_load_without_memory_fails_whole_and_deletes_nothing)
{
	make_damaged_store();
	for (size_t k = 1;; k++) {
		/* Each round on a fresh copy of the damaged store. */
		struct persist *p;
		char err[512];
		cr_assert_eq(persist_open(dir, 1 << 20, 64 << 20, &p, err, sizeof(err)), 0, "%s",
				err);
		struct store_limits l;
		store_limits_default(&l);
		struct store *s = store_new(&l, persist_ops(), p, 1000);
		cr_assert_not_null(s);
		uint64_t ninst, nleases, dropped;
		allocfail_arm(k);
		int rc = persist_load(p, s, 1000, &ninst, &nleases, &dropped);
		bool struck = allocfail_struck();
		allocfail_disarm();
		store_free(s);
		cr_assert_eq(persist_close(p), 0);
		if (rc == 0) {
			/* A failure the load could take (the store's optional
			 * reservation), or none: the whole result. */
			cr_expect_eq(ninst, 2, "k=%zu", k);
			cr_expect_eq(nleases, 2, "k=%zu", k);
			if (!struck) {
				break;
			}
			make_damaged_store();
			continue;
		}
		cr_expect(struck, "k=%zu", k);
		cr_expect_eq(rc, RS_ENOMEM, "k=%zu: %d", k, rc);
		/* Nothing deleted: a load without failures still drops six. */
		struct loaded again = load();
		cr_expect_eq(again.dropped, 6, "k=%zu: records deleted by a failed load", k);
		make_damaged_store();
	}
}

/* ---- the store hooks and open, without memory ------------------------------------- */

Test(persist_load, a_write_without_memory_for_its_record_is_refused_and_never_half_written)
{
	struct persist *p;
	char err[512];
	cr_assert_eq(persist_open(dir, 1 << 20, 64 << 20, &p, err, sizeof(err)), 0, "%s", err);
	struct store_limits l;
	store_limits_default(&l);
	struct store *s = store_new(&l, persist_ops(), p, 1000);
	cr_assert_not_null(s);
	/* Large metadata: the record buffer must grow for it. */
	static char big[600];
	memset(big, 'v', sizeof(big) - 1);
	const struct store_meta meta[2] = {{"a", big}, {"b", big}};
	size_t ok = 0;
	for (size_t k = 1;; k++) {
		char host[64];
		snprintf(host, sizeof(host), "h%zu.example.net", k);
		struct store_registration r = {.service = "web",
				.protocol = "tcp",
				.host = host,
				.port = 1,
				.meta = meta,
				.nmeta = 2};
		bool created;
		uint64_t rev;
		allocfail_arm(k);
		int rc = store_register(s, &r, 1000, 1, &created, &rev);
		bool struck = allocfail_struck();
		allocfail_disarm();
		cr_expect(rc == 0 || rc == RS_ENOMEM, "k=%zu: %s", k, rs_strerror(rc));
		cr_expect(rc == 0 || struck, "k=%zu", k);
		ok += rc == 0;
		cr_assert_eq(persist_batch_commit(p), 0);
		if (!struck) {
			break;
		}
	}
	store_free(s);
	cr_assert_eq(persist_close(p), 0);
	/* What was acknowledged is on disk, whole; nothing else. */
	struct loaded a = load();
	cr_assert_eq(a.rc, 0);
	cr_expect_eq(a.ninst, ok);
	cr_expect_eq(a.dropped, 0, "a half-written record");
}

Test(persist_load, an_open_without_memory_or_on_a_file_is_refused_by_name)
{
	struct persist *p = NULL;
	char err[512];
	allocfail_arm(1);
	cr_expect_eq(persist_open(dir, 1 << 20, 64 << 20, &p, err, sizeof(err)), RS_ENOMEM);
	allocfail_disarm();
	cr_expect_null(p);
	cr_expect_str_eq(err, "out of memory");
	char file[96];
	snprintf(file, sizeof(file), "%s/file", dir);
	FILE *f = fopen(file, "w");
	cr_assert_not_null(f);
	fclose(f);
	cr_expect_eq(persist_open(file, 1 << 20, 64 << 20, &p, err, sizeof(err)), -ENOTDIR);
	cr_expect_not_null(strstr(err, "not a directory"), "%s", err);
	char deep[128];
	snprintf(deep, sizeof(deep), "%s/no/such", dir);
	cr_expect_eq(persist_open(deep, 1 << 20, 64 << 20, &p, err, sizeof(err)), -ENOENT);
	cr_expect_not_null(strstr(err, deep), "%s", err);
	cr_expect_eq(persist_close(NULL), 0);
}

/* A data dir below a file is refused with stat()'s errno (not ENOENT: no
 * directory is made); a map limit below the map size is raised to it. */
Test(persist_load, a_dir_below_a_file_is_refused_and_a_low_map_limit_is_raised)
{
	struct persist *p = NULL;
	char err[512];
	char file[96], below[128];
	snprintf(file, sizeof(file), "%s/file", dir);
	FILE *f = fopen(file, "w");
	cr_assert_not_null(f);
	fclose(f);
	snprintf(below, sizeof(below), "%s/data", file);
	cr_expect_eq(persist_open(below, 1 << 20, 64 << 20, &p, err, sizeof(err)), -ENOTDIR);
	cr_expect_null(p);
	cr_expect_not_null(strstr(err, "data dir "), "%s", err);
	cr_expect_not_null(strstr(err, below), "%s", err);
	char store[96];
	snprintf(store, sizeof(store), "%s/store", dir);
	cr_assert_eq(persist_open(store, 8 << 20, 1 << 20, &p, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(persist_map_size(p), 8 << 20);
	cr_expect_eq(persist_map_max(p), 8 << 20, "raised to the map size");
	cr_expect_eq(persist_close(p), 0);
}

/* LMDB's codes and errnos as the store's errors. */
Test(persist_load, lmdb_codes_map_to_the_store_errors)
{
	cr_expect_eq(persist_map_err(MDB_SUCCESS), 0);
	cr_expect_eq(persist_map_err(MDB_MAP_FULL), RS_ESTORE_FULL);
	cr_expect_eq(persist_map_err(MDB_TXN_FULL), RS_ESTORE_FULL);
	cr_expect_eq(persist_map_err(MDB_PANIC), RS_ESTORE_PANIC);
	cr_expect_eq(persist_map_err(MDB_CORRUPTED), RS_ESTORE_PANIC);
	cr_expect_eq(persist_map_err(MDB_VERSION_MISMATCH), RS_ESTORE_PANIC);
	cr_expect_eq(persist_map_err(MDB_INVALID), RS_ESTORE_PANIC);
	cr_expect_eq(persist_map_err(MDB_NOTFOUND), RS_ENOENT);
	cr_expect_eq(persist_map_err(ENOMEM), RS_ENOMEM);
	cr_expect_eq(persist_map_err(ENOSPC), RS_ENOSPC);
	cr_expect_eq(persist_map_err(EIO), -EIO, "another errno as itself");
	cr_expect_eq(persist_map_err(MDB_KEYEXIST), RS_ESTORE, "another LMDB code");
	cr_expect_eq(persist_map_err(5000), RS_ESTORE, "no errno that large");
}
