/*
 * Loading the store from disk: every lease, every instance and the revision
 * into an empty store, deleting the records that no longer make sense. See
 * persist_internal.h for the layering.
 */
#include "server/registry/persist_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "common/error.h"
#include "server/registry/persist_record.h"

/* Where the records loading drops go before they are deleted:
 * DATA/records-dropped-<time>.txt, in mdb_dump's format (mdb_load -f puts
 * them back into a store), opened at the first one. A record that cannot
 * be written there stays in data.mdb. */
struct dropped_file {
	FILE *f;
	const char *db; /* the section being written */
	char path[4200];
	bool failed;
};

static void hex_line(FILE *f, const MDB_val *v)
{
	fputc(' ', f);
	for (size_t i = 0; i < v->mv_size; i++) {
		fprintf(f, "%02x", ((const uint8_t *)v->mv_data)[i]);
	}
	fputc('\n', f);
}

/* Keep @p k/@p v of database @p db; false when it could not be kept. */
static bool dropped_keep(struct dropped_file *d, const char *dir, const char *db, const MDB_val *k,
		const MDB_val *v)
{
	if (d->f == NULL && !d->failed) {
		snprintf(d->path, sizeof(d->path), "%s/records-dropped-%lld.txt", dir,
				(long long)time(NULL));
		d->f = fopen(d->path, "a");
		d->failed = d->f == NULL;
	}
	if (d->f == NULL) {
		return false;
	}
	if (d->db != db) {
		if (d->db != NULL) {
			fputs("DATA=END\n", d->f);
		}
		fprintf(d->f, "VERSION=3\nformat=bytevalue\ndatabase=%s\ntype=btree\nHEADER=END\n",
				db);
		d->db = db;
	}
	hex_line(d->f, k);
	hex_line(d->f, v);
	return fflush(d->f) == 0 && !ferror(d->f);
}

/* A record of a later format than this rosterd writes (REC_VERSION): one
 * that a newer rosterd wrote, and that this one must not take for garbage
 * (a downgrade would otherwise delete every record). */
static bool record_newer(const MDB_val *v)
{
	return v->mv_size > 0 && ((const uint8_t *)v->mv_data)[0] > REC_VERSION;
}

/* Everything is in memory after loading: let the kernel take back the
 * pages of data.mdb that loading touched, which would otherwise stay in our
 * RSS (about 180 bytes per instance). The map is read-only and shared (no
 * MDB_WRITEMAP), so MADV_DONTNEED only drops clean page-cache views; they
 * are read again from the file if LMDB needs them. LMDB does not tell where
 * its map is (me_mapaddr is set only with MDB_FIXEDMAP): /proc/self/maps
 * does. Best effort: any failure just leaves the pages resident. */
static void release_map(const struct persist *p)
{
	char want[4200];
	char real[4096];
	if (realpath(p->path, real) == NULL) {
		return;
	}
	snprintf(want, sizeof(want), "%s/data.mdb", real);
	FILE *f = fopen("/proc/self/maps", "r");
	if (f == NULL) {
		return;
	}
	char line[4608];
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long lo, hi;
		char perms[8];
		int path_at = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &lo, &hi, perms, &path_at) < 3 ||
				path_at == 0) {
			continue;
		}
		char *path = line + path_at;
		path[strcspn(path, "\n")] = '\0';
		if (strcmp(path, want) == 0 && perms[1] != 'w') {
			madvise((void *)lo, hi - lo, MADV_DONTNEED);
		}
	}
	fclose(f);
}

/* Every lease, each with a full TTL from @p now_mono. Returns an LMDB code
 * (ENOMEM when out of memory: a lease that could not be held in memory is
 * not one that no longer makes sense, and must not be deleted, nor its
 * instances with it). */
static int load_leases(struct persist *p, MDB_txn *txn, struct store *s, uint64_t now_mono,
		uint64_t *nleases, uint64_t *dropped, struct dropped_file *df)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, p->dbi[PERSIST_DB_LEASES], &cur);
	if (rc != 0) {
		return rc;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint32_t ttl = 0;
		if (record_newer(&v)) {
			p->newer_record = ((const uint8_t *)v.mv_data)[0];
			rc = MDB_INCOMPATIBLE;
			break;
		}
		int lrc = k.mv_size < 8 || persist_lease_decode(v.mv_data, v.mv_size, &ttl) < 0
					  ? RS_EPROTO
					  : store_load_lease(s, persist_key_value(k.mv_data), ttl,
							    now_mono);
		if (lrc == RS_ENOMEM) {
			rc = ENOMEM;
			break;
		}
		if (lrc < 0) {
			if (dropped_keep(df, p->path, "leases", &k, &v)) {
				mdb_cursor_del(cur, 0);
			}
			(*dropped)++;
			continue;
		}
		(*nleases)++;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Scratch for decoding one instance record. Strings of one record are
 * never longer than the record. */
struct decode_scratch {
	struct rs_addr addrs[256];
	struct store_meta meta[256];
	char *strs;
	size_t strs_cap;
};

/* One instance record into the store: 0, RS_ENOMEM, or another negative
 * code for a record to drop. */
static int load_instance(struct store *s, const MDB_val *k, const MDB_val *v,
		struct decode_scratch *d, uint64_t now_mono)
{
	if (v->mv_size + 1 > d->strs_cap) {
		char *ns = realloc(d->strs, v->mv_size + 1);
		if (ns == NULL) {
			return RS_ENOMEM;
		}
		d->strs = ns;
		d->strs_cap = v->mv_size + 1;
	}
	struct store_registration reg;
	memset(&reg, 0, sizeof(reg));
	uint64_t at = 0, since = 0;
	int rc = persist_instance_decode(k->mv_data, k->mv_size, v->mv_data, v->mv_size, &reg,
			d->addrs, d->meta, d->strs, d->strs_cap, &at, &since);
	return rc < 0 ? rc : store_load_instance(s, &reg, at, since, now_mono);
}

/* Every instance. Returns an LMDB code (ENOMEM when out of memory). */
static int load_instances(struct persist *p, MDB_txn *txn, struct store *s, uint64_t now_mono,
		uint64_t nleases, uint64_t *ninstances, uint64_t *dropped, struct dropped_file *df)
{
	MDB_stat st;
	if (mdb_stat(txn, p->dbi[PERSIST_DB_INSTANCES], &st) == 0) {
		store_reserve(s, st.ms_entries, nleases);
	}
	struct decode_scratch *d = calloc(1, sizeof(*d));
	if (d == NULL) {
		return ENOMEM;
	}
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, p->dbi[PERSIST_DB_INSTANCES], &cur);
	if (rc != 0) {
		free(d);
		return rc;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (record_newer(&v)) {
			p->newer_record = ((const uint8_t *)v.mv_data)[0];
			rc = MDB_INCOMPATIBLE;
			break;
		}
		int drc = load_instance(s, &k, &v, d, now_mono);
		if (drc == RS_ENOMEM) {
			rc = ENOMEM;
			break;
		}
		if (drc < 0) {
			if (dropped_keep(df, p->path, "instances", &k, &v)) {
				mdb_cursor_del(cur, 0);
			}
			(*dropped)++;
			continue;
		}
		(*ninstances)++;
	}
	mdb_cursor_close(cur);
	free(d->strs);
	free(d);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

const char *persist_dropped_path(const struct persist *p)
{
	return p->dropped_path;
}

unsigned persist_newer_record(const struct persist *p)
{
	return p->newer_record;
}

unsigned persist_record_version(void)
{
	return REC_VERSION;
}

int persist_zone_claim(struct persist *p, const char *zone, char *err, size_t errsz)
{
	MDB_txn *txn = NULL;
	int rc = mdb_txn_begin(p->env, NULL, 0, &txn);
	if (rc != 0) {
		snprintf(err, errsz, "cannot read the store: %s", mdb_strerror(rc));
		return persist_map_err(rc);
	}
	MDB_val k = {4, "zone"};
	MDB_val v;
	size_t zl = strlen(zone);
	rc = mdb_get(txn, p->dbi[PERSIST_DB_META], &k, &v);
	if (rc == 0 && (v.mv_size != zl || memcmp(v.mv_data, zone, zl) != 0)) {
		snprintf(err, errsz,
				"the store in %s is the one of %.*s, not of %s: check --site and "
				"--domain, or restore this site's backup",
				p->path, (int)(v.mv_size < 256 ? v.mv_size : 256),
				(const char *)v.mv_data, zone);
		mdb_txn_abort(txn);
		return RS_ECONF;
	}
	if (rc == MDB_NOTFOUND) {
		rc = mdb_put(txn, p->dbi[PERSIST_DB_META], &k, &(MDB_val){zl, (void *)zone}, 0);
	}
	rc = rc == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), rc);
	if (rc != 0) {
		/* A full map or disk: serving what it holds matters more; the
		 * next open records it. */
		snprintf(err, errsz, "cannot record the zone in the store yet: %s",
				mdb_strerror(rc));
		return 1;
	}
	return 0;
}

int persist_load(struct persist *p, struct store *s, uint64_t now_mono, uint64_t *ninstances,
		uint64_t *nleases, uint64_t *dropped)
{
	*ninstances = *nleases = *dropped = 0;
	MDB_txn *txn = NULL;
	int rc = mdb_txn_begin(p->env, NULL, 0, &txn);
	if (rc != 0) {
		return persist_map_err(rc);
	}
	MDB_val v;
	rc = mdb_get(txn, p->dbi[PERSIST_DB_META], &(MDB_val){8, "revision"}, &v);
	if (rc == 0 && v.mv_size == 8) {
		store_load_revision(s, persist_key_value(v.mv_data));
	}
	struct dropped_file df = {0};
	p->newer_record = 0;
	p->dropped_path[0] = '\0';
	rc = load_leases(p, txn, s, now_mono, nleases, dropped, &df);
	if (rc == 0) {
		rc = load_instances(p, txn, s, now_mono, *nleases, ninstances, dropped, &df);
	}
	bool kept = true;
	if (df.f != NULL) {
		if (df.db != NULL) {
			fputs("DATA=END\n", df.f);
		}
		kept = fclose(df.f) == 0;
		snprintf(p->dropped_path, sizeof(p->dropped_path), "%s", df.path);
	}
	if (rc == 0 && kept) {
		rc = mdb_txn_commit(txn);
	} else {
		/* Not loaded, or their copy not safely written: the records
		 * dropped stay in data.mdb (the store holds the others). */
		mdb_txn_abort(txn);
	}
	if (rc == MDB_INCOMPATIBLE && p->newer_record != 0) {
		return RS_ENOTSUP; /* persist_newer_record() says which */
	}
	if (rc == 0) {
		release_map(p);
	}
	/* No batch is in flight: the map may be read here. */
	p->used_bytes = persist_used_bytes(p);
	return persist_map_err(rc);
}
