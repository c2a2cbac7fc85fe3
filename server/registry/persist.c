#include "server/registry/persist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <limits.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/file.h"

/* Record format version, the first byte of every value. Version 2 keys
 * instances by an append-only record number, the identity in the value. */
#define REC_VERSION 2

#define REC_FLAG_KEPT 0x01

struct persist {
	MDB_env *env;
	MDB_dbi instances;
	MDB_dbi leases;
	MDB_dbi meta;
	MDB_txn *batch; /* the loop iteration's write transaction */
	MDB_txn *child; /* the mutation in progress, nested in batch */
	int lock_fd;    /* holds the data dir's lock: one rosterd per store */
	uint64_t map_size;
	uint64_t map_max;
	uint64_t commits;
	int panic;
	uint8_t *vbuf; /* encoding buffer, grown to the largest record */
	size_t vcap;
	int lost_rc;   /* a batch lost by a failed commit or a failed put */
	uint64_t next_rec;        /* the next instance record number */
	uint64_t batch_bytes;     /* bytes put in the open batch, roughly */
	uint64_t revision;        /* written once per batch, at commit */
	bool revision_dirty;
	bool nested;              /* p->child is a nested transaction */
	unsigned writes;          /* puts and deletes done by the current mutation */
	char path[4096];          /* the data directory */
};

/* Grow the map after a commit once it is this full (per cent), so that a
 * batch rarely meets a full map; and at the maximum size, refuse new
 * records past the second mark, keeping room for deletes and for the
 * commit's own pages (the free list), which must never fail. */
#define GROW_AT_PCT 75
#define REFUSE_AT_PCT 90

static uint64_t used_bytes(const struct persist *p);

/* The one place LMDB codes are translated. */
static int map_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
		return RS_ESTORE_FULL;
	case MDB_PANIC:
	case MDB_CORRUPTED:
	case MDB_VERSION_MISMATCH:
	case MDB_INVALID:
		return RS_ESTORE_PANIC;
	case MDB_NOTFOUND:
		return RS_ENOENT;
	case ENOMEM:
		return RS_ENOMEM;
	case ENOSPC:
		return RS_ENOSPC;
	default:
		return rc > 0 && rc < 1000 ? -rc : RS_ESTORE;
	}
}

/* ---- record encoding ---------------------------------------------------- */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static void w_bytes(struct wbuf *b, const void *d, size_t n)
{
	if (b->err != 0 || b->len + n > b->cap) {
		b->err = RS_ERANGE;
		return;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void w_u8(struct wbuf *b, uint8_t v)
{
	w_bytes(b, &v, 1);
}

static void w_u16(struct wbuf *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	w_bytes(b, x, 2);
}

static void w_u32(struct wbuf *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	w_bytes(b, x, 4);
}

static void w_u64(struct wbuf *b, uint64_t v)
{
	w_u32(b, (uint32_t)(v >> 32));
	w_u32(b, (uint32_t)v);
}

struct rbuf {
	const uint8_t *p;
	size_t len, off;
	int err;
};

static const uint8_t *r_bytes(struct rbuf *b, size_t n)
{
	if (b->err != 0 || b->len - b->off < n) {
		b->err = RS_EPROTO;
		return NULL;
	}
	const uint8_t *p = b->p + b->off;
	b->off += n;
	return p;
}

static uint8_t r_u8(struct rbuf *b)
{
	const uint8_t *p = r_bytes(b, 1);
	return p != NULL ? p[0] : 0;
}

static uint16_t r_u16(struct rbuf *b)
{
	const uint8_t *p = r_bytes(b, 2);
	return p != NULL ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

static uint32_t r_u32(struct rbuf *b)
{
	const uint8_t *p = r_bytes(b, 4);
	return p != NULL ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
					   p[3]
			 : 0;
}

static uint64_t r_u64(struct rbuf *b)
{
	uint64_t hi = r_u32(b);
	return hi << 32 | r_u32(b);
}

/* Instance records are keyed by an append-only record number (8 octets,
 * big-endian, so that memcmp order is numeric order): new records go to the
 * end of the B-tree with MDB_APPEND and a burst of registrations dirties a
 * few pages instead of one page per registration (bench/registry measured
 * 8 KiB written per registration with identity keys, 264 bytes with these).
 * The identity lives in the value; the in-memory store is the index. */
static void rec_key(uint64_t rec, uint8_t out[8])
{
	struct wbuf b = {out, 0, 8, 0};
	w_u64(&b, rec);
}

static void w_str8(struct wbuf *b, const char *s, size_t n)
{
	w_u8(b, (uint8_t)n);
	w_bytes(b, s, n);
}

static int instance_value(const struct store_instance *i, struct wbuf *b)
{
	w_u8(b, REC_VERSION);
	w_u8(b, i->kept ? REC_FLAG_KEPT : 0);
	w_str8(b, i->service->name, strlen(i->service->name));
	w_str8(b, i->service->protocol, strlen(i->service->protocol));
	w_str8(b, i->host, i->host_len);
	w_u16(b, i->port);
	w_u16(b, i->priority);
	w_u16(b, i->weight);
	w_u8(b, i->status);
	w_u64(b, i->lease != NULL ? i->lease->id : 0);
	w_u64(b, i->registered_at_ms);
	w_u64(b, i->status_since_ms);
	w_u8(b, i->naddrs);
	for (uint8_t k = 0; k < i->naddrs; k++) {
		w_u8(b, i->addrs[k].family == AF_INET ? 4 : 6);
		w_bytes(b, i->addrs[k].bytes, rs_addr_len(&i->addrs[k]));
	}
	w_u8(b, i->nmeta);
	for (uint8_t k = 0; k < i->nmeta; k++) {
		size_t kl = strlen(i->meta[k].key), vl = strlen(i->meta[k].value);
		if (kl > 65535 || vl > 65535) {
			return RS_ERANGE;
		}
		w_u16(b, (uint16_t)kl);
		w_bytes(b, i->meta[k].key, kl);
		w_u16(b, (uint16_t)vl);
		w_bytes(b, i->meta[k].value, vl);
	}
	return b->err;
}

/* ---- store hooks -------------------------------------------------------- */

static int batch_ensure(struct persist *p)
{
	if (p->panic) {
		return RS_ESTORE_PANIC;
	}
	if (p->batch != NULL) {
		return 0;
	}
	int rc = mdb_txn_begin(p->env, NULL, 0, &p->batch);
	if (rc != 0) {
		p->batch = NULL;
		rc = map_err(rc);
		if (rc == RS_ESTORE_PANIC) {
			p->panic = 1;
		}
		return rc;
	}
	return 0;
}

/* A mutation normally writes straight into the batch. Only when the map is
 * getting full does it get a nested transaction, which can fail alone: a
 * nested transaction copies every page it touches, which costs more than
 * the rest of a registration. A direct put that fails poisons the batch;
 * it is then aborted and reported by persist_batch_commit(), so the replies
 * held for it become errors and the registry reloads from the disk. */
static bool want_nested(const struct persist *p)
{
	return (used_bytes(p) + 2 * p->batch_bytes) * 2 > p->map_size;
}

static int op_begin(void *ctx)
{
	struct persist *p = ctx;
	int rc = batch_ensure(p);
	if (rc < 0) {
		return rc;
	}
	p->writes = 0;
	if (!want_nested(p)) {
		p->child = p->batch;
		p->nested = false;
		return 0;
	}
	rc = mdb_txn_begin(p->env, p->batch, 0, &p->child);
	if (rc != 0) {
		p->child = NULL;
		return map_err(rc);
	}
	p->nested = true;
	return 0;
}

static int op_commit(void *ctx)
{
	struct persist *p = ctx;
	int rc = p->nested ? mdb_txn_commit(p->child) : 0;
	p->child = NULL;
	return map_err(rc);
}

static void op_abort(void *ctx)
{
	struct persist *p = ctx;
	if (p->child == NULL) {
		return;
	}
	if (p->nested) {
		mdb_txn_abort(p->child);
	} else if (p->writes > 0) {
		/* Part of the mutation is in the batch and cannot be taken
		 * out: give the batch up (see above). A mutation that failed
		 * before writing anything leaves the batch as it was. */
		mdb_txn_abort(p->batch);
		p->batch = NULL;
		if (p->lost_rc == 0) {
			p->lost_rc = RS_ESTORE;
		}
	}
	p->child = NULL;
}

static bool near_full(const struct persist *p)
{
	return p->map_size >= p->map_max && used_bytes(p) * 100 > p->map_size * REFUSE_AT_PCT;
}

static int op_instance_put(void *ctx, struct store_instance *i)
{
	struct persist *p = ctx;
	if (near_full(p)) {
		return RS_ESTORE_FULL;
	}
	size_t need = 64 + 3 * 256 + 17u * i->naddrs;
	for (uint8_t m = 0; m < i->nmeta; m++) {
		need += 4 + strlen(i->meta[m].key) + strlen(i->meta[m].value);
	}
	if (need > p->vcap) {
		uint8_t *nb = realloc(p->vbuf, need);
		if (nb == NULL) {
			return RS_ENOMEM;
		}
		p->vbuf = nb;
		p->vcap = need;
	}
	struct wbuf vb = {p->vbuf, 0, p->vcap, 0};
	int rc = instance_value(i, &vb);
	if (rc < 0) {
		return RS_ESTORE;
	}
	bool append = i->rec == 0;
	uint64_t rec = append ? p->next_rec : i->rec;
	uint8_t kbuf[8];
	rec_key(rec, kbuf);
	MDB_val k = {8, kbuf};
	MDB_val v = {vb.len, p->vbuf};
	rc = map_err(mdb_put(p->child, p->instances, &k, &v, append ? MDB_APPEND : 0));
	if (rc == 0) {
		p->writes++;
		p->batch_bytes += 8 + vb.len;
		if (append) {
			i->rec = rec;
			p->next_rec++;
		}
	}
	return rc;
}

static int op_instance_del(void *ctx, const struct store_instance *i)
{
	struct persist *p = ctx;
	if (i->rec == 0) {
		return 0; /* never written */
	}
	uint8_t kbuf[8];
	rec_key(i->rec, kbuf);
	MDB_val k = {8, kbuf};
	int rc = mdb_del(p->child, p->instances, &k, NULL);
	p->writes += rc == 0;
	return rc == MDB_NOTFOUND ? 0 : map_err(rc);
}

static void lease_key(uint64_t id, uint8_t out[8])
{
	struct wbuf b = {out, 0, 8, 0};
	w_u64(&b, id);
}

static int op_lease_put(void *ctx, const struct store_lease *l)
{
	struct persist *p = ctx;
	if (near_full(p)) {
		return RS_ESTORE_FULL;
	}
	uint8_t kbuf[8], vbuf[8];
	lease_key(l->id, kbuf);
	struct wbuf vb = {vbuf, 0, sizeof(vbuf), 0};
	w_u8(&vb, REC_VERSION);
	w_u32(&vb, l->ttl_ms);
	MDB_val k = {8, kbuf};
	MDB_val v = {vb.len, vbuf};
	int rc = mdb_put(p->child, p->leases, &k, &v, 0);
	p->writes += rc == 0;
	return map_err(rc);
}

static int op_lease_del(void *ctx, uint64_t id)
{
	struct persist *p = ctx;
	uint8_t kbuf[8];
	lease_key(id, kbuf);
	MDB_val k = {8, kbuf};
	int rc = mdb_del(p->child, p->leases, &k, NULL);
	p->writes += rc == 0;
	return rc == MDB_NOTFOUND ? 0 : map_err(rc);
}

static int op_revision_put(void *ctx, uint64_t revision)
{
	struct persist *p = ctx;
	p->revision = revision;
	p->revision_dirty = true; /* written once, by persist_batch_commit() */
	return 0;
}

static int revision_write(struct persist *p)
{
	uint8_t vbuf[8];
	struct wbuf vb = {vbuf, 0, sizeof(vbuf), 0};
	w_u64(&vb, p->revision);
	MDB_val k = {8, "revision"};
	MDB_val v = {8, vbuf};
	return map_err(mdb_put(p->batch, p->meta, &k, &v, 0));
}

static const struct store_persist_ops ops = {
	.begin = op_begin,
	.commit = op_commit,
	.abort = op_abort,
	.instance_put = op_instance_put,
	.instance_del = op_instance_del,
	.lease_put = op_lease_put,
	.lease_del = op_lease_del,
	.revision_put = op_revision_put,
};

const struct store_persist_ops *persist_ops(void)
{
	return &ops;
}

/* LMDB's lock file for its default 126 readers is 125 reader slots and a
 * header, 8,192 octets on x86-64 but more where pthread mutexes are larger
 * (8,256 on arm64; mdb_env_setup_locks()). A new file gets 16 KiB: over
 * that everywhere, and LMDB, finding the file larger than it needs, takes
 * its reader count from the size (about 250 slots), which costs nothing. */
#define LOCK_FILE_MIN 16384

/*
 * Give LMDB's lock file its blocks before LMDB maps it. LMDB extends the file
 * with ftruncate() and writes it through a shared mapping, so on a full disk
 * the first write to a page that has no block yet is a SIGBUS, at start or
 * later when a reader takes a slot on an untouched page, where every other
 * write fails with ENOSPC. Allocated here, a full disk is an error message.
 * An existing file keeps its size (LMDB derives its reader count from it).
 */
static int lock_file_prealloc(const char *dir)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/lock.mdb", dir) >= sizeof(path)) {
		return RS_ERANGE;
	}
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		return -errno;
	}
	struct stat st;
	int rc = fstat(fd, &st) < 0 ? -errno : 0;
	if (rc == 0) {
		off_t len = st.st_size > 0 ? st.st_size : LOCK_FILE_MIN;
		rc = -posix_fallocate(fd, 0, len);
	}
	close(fd);
	return rc;
}

/* The number after the highest instance record: where appends go on. */
static int last_rec(MDB_txn *txn, MDB_dbi dbi, uint64_t *next)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc != 0) {
		return rc;
	}
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	*next = 1;
	if (rc == 0 && k.mv_size == 8) {
		struct rbuf b = {k.mv_data, 8, 0, 0};
		*next = r_u64(&b) + 1;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

/* ---- open / close -------------------------------------------------------- */

int persist_open(const char *dir, uint64_t map_size, uint64_t map_max, struct persist **out,
		char *err, size_t errsz)
{
	struct stat st;
	if (stat(dir, &st) != 0) {
		if (errno != ENOENT || mkdir(dir, 0750) != 0) {
			int e = errno;
			snprintf(err, errsz, "data dir %s: %s", dir, strerror(e));
			return -e;
		}
	} else if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errsz, "data dir %s: not a directory", dir);
		return -ENOTDIR;
	}
	if (access(dir, R_OK | W_OK | X_OK) != 0) {
		int e = errno;
		snprintf(err, errsz, "data dir %s: %s", dir, strerror(e));
		return -e;
	}
	struct persist *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		snprintf(err, errsz, "out of memory");
		return RS_ENOMEM;
	}
	p->map_size = map_size;
	p->map_max = map_max;
	snprintf(p->path, sizeof(p->path), "%s", dir);
	/* LMDB lets several processes share an environment; a second rosterd
	 * on the same store would serve and expire the first one's leases. */
	int rc = rs_dir_lock(dir, true, &p->lock_fd);
	if (rc < 0) {
		if (rc == RS_EBUSY) {
			snprintf(err, errsz, "data dir %s is in use by another rosterd", dir);
		} else {
			snprintf(err, errsz, "data dir %s: cannot lock: %s", dir, strerror(-rc));
		}
		free(p);
		return rc;
	}
	rc = lock_file_prealloc(dir);
	if (rc < 0) {
		snprintf(err, errsz, "data dir %s: cannot allocate the LMDB lock file: %s", dir,
				rs_strerror(rc));
		close(p->lock_fd);
		free(p);
		return rc;
	}
	MDB_txn *txn = NULL;
	rc = mdb_env_create(&p->env);
	if (rc == 0) {
		rc = mdb_env_set_maxdbs(p->env, 4);
	}
	if (rc == 0) {
		rc = mdb_env_set_mapsize(p->env, map_size);
	}
	if (rc == 0) {
		/* Default, fully durable sync mode: no MDB_NOSYNC, no
		 * MDB_NOMETASYNC, no MDB_WRITEMAP (robustness catalogue 4.2).
		 * MDB_NOTLS: transactions are tied to the loop, not a thread. */
		rc = mdb_env_open(p->env, dir, MDB_NOTLS, 0640);
	}
	if (rc != 0) {
		snprintf(err, errsz, "data dir %s: cannot open the store: %s", dir, mdb_strerror(rc));
		goto fail;
	}
	/* A process killed while reading leaves reader slots behind; they
	 * pin old pages and make the map grow (catalogue 4.1). */
	if (persist_readers_check(p) < 0) {
		/* not fatal: the store works, and the tick tries again */
	}
	MDB_envinfo info;
	mdb_env_info(p->env, &info);
	if (info.me_mapsize > p->map_size) {
		p->map_size = info.me_mapsize; /* an existing store that grew */
	}
	if (p->map_max < p->map_size) {
		p->map_max = p->map_size;
	}
	rc = mdb_txn_begin(p->env, NULL, 0, &txn);
	if (rc == 0) {
		rc = mdb_dbi_open(txn, "instances", MDB_CREATE, &p->instances);
	}
	if (rc == 0) {
		rc = mdb_dbi_open(txn, "leases", MDB_CREATE, &p->leases);
	}
	if (rc == 0) {
		rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &p->meta);
	}
	if (rc == 0) {
		rc = last_rec(txn, p->instances, &p->next_rec);
	}
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (rc != 0) {
		snprintf(err, errsz, "data dir %s: cannot initialise the store: %s", dir,
				mdb_strerror(rc));
		goto fail;
	}
	*out = p;
	return 0;
fail:
	if (txn != NULL) {
		mdb_txn_abort(txn);
	}
	mdb_env_close(p->env);
	close(p->lock_fd);
	free(p);
	return map_err(rc);
}

int persist_close(struct persist *p)
{
	if (p == NULL) {
		return 0;
	}
	int rc = 0;
	if (p->child != NULL) {
		mdb_txn_abort(p->child);
	}
	if (p->batch != NULL) {
		rc = map_err(mdb_txn_commit(p->batch));
	}
	mdb_env_close(p->env);
	close(p->lock_fd);
	free(p->vbuf);
	free(p);
	return rc;
}

/* ---- batches -------------------------------------------------------------- */

int persist_readers_check(struct persist *p)
{
	int dead = 0;
	int rc = mdb_reader_check(p->env, &dead);
	return rc == 0 ? dead : map_err(rc);
}

int persist_batch_open(const struct persist *p)
{
	return p->batch != NULL;
}

static int map_resize(struct persist *p, uint64_t size)
{
	int rc = mdb_env_set_mapsize(p->env, size);
	if (rc != 0) {
		return map_err(rc);
	}
	p->map_size = size;
	return 0;
}

static uint64_t next_size(const struct persist *p)
{
	uint64_t next = p->map_size * 2;
	return next > p->map_max ? p->map_max : next;
}

int persist_batch_commit(struct persist *p)
{
	if (p->lost_rc != 0) {
		/* Writes made after the loss in this iteration go too: memory is
		 * rebuilt from the disk, which must not hold anything it lacks. */
		if (p->batch != NULL) {
			mdb_txn_abort(p->batch);
			p->batch = NULL;
		}
		p->batch_bytes = 0;
		p->revision_dirty = false;
		int lost = p->lost_rc;
		p->lost_rc = 0;
		return lost;
	}
	if (p->batch == NULL) {
		return 0;
	}
	int rc = 0;
	if (p->revision_dirty) {
		rc = revision_write(p);
	}
	if (rc == 0) {
		rc = map_err(mdb_txn_commit(p->batch));
	} else {
		mdb_txn_abort(p->batch);
	}
	p->batch = NULL;
	p->batch_bytes = 0;
	p->revision_dirty = false;
	p->commits++;
	if (rc == RS_ESTORE_PANIC) {
		p->panic = 1;
	}
	if (rc == 0 && p->map_size < p->map_max &&
			used_bytes(p) * 100 > p->map_size * GROW_AT_PCT) {
		/* No transaction is open now: the one moment we may resize. */
		map_resize(p, next_size(p));
	}
	return rc;
}

int persist_grow(struct persist *p)
{
	int rc = persist_batch_commit(p);
	if (rc < 0) {
		/* The batch is gone with the failed commit: the next
		 * persist_batch_commit() reports it, so that the replies held
		 * for it are turned into errors. */
		p->lost_rc = rc;
		return rc;
	}
	if (p->map_size >= p->map_max) {
		return RS_ESTORE_FULL;
	}
	return map_resize(p, next_size(p));
}

static uint64_t used_bytes(const struct persist *p)
{
	return persist_bytes(p);
}

uint64_t persist_bytes(const struct persist *p)
{
	MDB_envinfo info;
	MDB_stat st;
	mdb_env_info(p->env, &info);
	mdb_env_stat(p->env, &st);
	return (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
}

uint64_t persist_map_size(const struct persist *p)
{
	return p->map_size;
}

uint64_t persist_commits(const struct persist *p)
{
	return p->commits;
}

/* ---- loading ---------------------------------------------------------------- */

static int decode_instance(const MDB_val *k, const MDB_val *v, struct store_registration *reg,
		struct rs_addr *addrs, struct store_meta *meta, char *strs, size_t strs_cap,
		uint64_t *registered_at, uint64_t *status_since)
{
	if (k->mv_size != 8) {
		return RS_EPROTO;
	}
	struct rbuf kb = {k->mv_data, 8, 0, 0};
	reg->rec = r_u64(&kb);
	struct rbuf b = {v->mv_data, v->mv_size, 0, 0};
	if (r_u8(&b) != REC_VERSION) {
		return RS_EPROTO;
	}
	uint8_t flags = r_u8(&b);
	reg->kept = (flags & REC_FLAG_KEPT) != 0;
	/* The three names, NUL-terminated into strs; metadata follows them. */
	size_t so = 0;
	const char **names[3] = {&reg->service, &reg->protocol, &reg->host};
	for (int n = 0; n < 3; n++) {
		uint8_t l = r_u8(&b);
		const uint8_t *t = r_bytes(&b, l);
		if (t == NULL || so + l + 1u > strs_cap) {
			return RS_EPROTO;
		}
		memcpy(strs + so, t, l);
		strs[so + l] = '\0';
		*names[n] = strs + so;
		so += l + 1u;
	}
	reg->port = r_u16(&b);
	reg->priority = r_u16(&b);
	reg->weight = r_u16(&b);
	reg->status = r_u8(&b);
	reg->lease = r_u64(&b);
	*registered_at = r_u64(&b);
	*status_since = r_u64(&b);
	reg->naddrs = r_u8(&b);
	for (size_t a = 0; a < reg->naddrs; a++) {
		uint8_t fam = r_u8(&b);
		size_t n = fam == 4 ? 4 : 16;
		const uint8_t *bytes = r_bytes(&b, n);
		if (bytes == NULL || (fam != 4 && fam != 6)) {
			return RS_EPROTO;
		}
		memset(&addrs[a], 0, sizeof(addrs[a]));
		addrs[a].family = fam == 4 ? AF_INET : AF_INET6;
		memcpy(addrs[a].bytes, bytes, n);
	}
	reg->addrs = addrs;
	reg->nmeta = r_u8(&b);
	for (size_t m = 0; m < reg->nmeta; m++) {
		for (int kv = 0; kv < 2; kv++) {
			uint16_t l = r_u16(&b);
			const uint8_t *s = r_bytes(&b, l);
			if (s == NULL || so + l + 1 > strs_cap) {
				return RS_EPROTO;
			}
			memcpy(strs + so, s, l);
			strs[so + l] = '\0';
			if (kv == 0) {
				meta[m].key = strs + so;
			} else {
				meta[m].value = strs + so;
			}
			so += l + 1u;
		}
	}
	reg->meta = meta;
	return b.err != 0 || b.off != b.len || reg->rec == 0 ? RS_EPROTO : 0;
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

int persist_load(struct persist *p, struct store *s, uint64_t now_mono, uint64_t *ninstances,
		uint64_t *nleases, uint64_t *dropped)
{
	*ninstances = *nleases = *dropped = 0;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	int rc = mdb_txn_begin(p->env, NULL, 0, &txn);
	if (rc != 0) {
		return map_err(rc);
	}
	MDB_val k, v;
	rc = mdb_get(txn, p->meta, &(MDB_val){8, "revision"}, &v);
	if (rc == 0 && v.mv_size == 8) {
		struct rbuf b = {v.mv_data, 8, 0, 0};
		store_load_revision(s, r_u64(&b));
	}

	rc = mdb_cursor_open(txn, p->leases, &cur);
	if (rc != 0) {
		goto out;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct rbuf kb = {k.mv_data, k.mv_size, 0, 0};
		struct rbuf vb = {v.mv_data, v.mv_size, 0, 0};
		uint64_t id = r_u64(&kb);
		uint8_t ver = r_u8(&vb);
		uint32_t ttl_ms = r_u32(&vb);
		if (kb.err != 0 || vb.err != 0 || ver != REC_VERSION ||
				store_load_lease(s, id, ttl_ms, now_mono) < 0) {
			mdb_cursor_del(cur, 0);
			(*dropped)++;
			continue;
		}
		(*nleases)++;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	if (rc != MDB_NOTFOUND) {
		goto out;
	}

	MDB_stat st;
	if (mdb_stat(txn, p->instances, &st) == 0) {
		store_reserve(s, st.ms_entries, *nleases);
	}
	rc = mdb_cursor_open(txn, p->instances, &cur);
	if (rc != 0) {
		goto out;
	}
	/* Strings of one record are never longer than the record. */
	struct rs_addr *addrs = malloc(256 * sizeof(*addrs));
	struct store_meta *meta = malloc(256 * sizeof(*meta));
	char *strs = NULL;
	size_t strs_cap = 0;
	if (addrs == NULL || meta == NULL) {
		free(addrs);
		free(meta);
		rc = ENOMEM;
		goto out;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct store_registration reg;
		memset(&reg, 0, sizeof(reg));
		uint64_t at = 0, since = 0;
		if (v.mv_size + 1 > strs_cap) {
			char *ns = realloc(strs, v.mv_size + 1);
			if (ns == NULL) {
				rc = ENOMEM;
				break;
			}
			strs = ns;
			strs_cap = v.mv_size + 1;
		}
		int drc = decode_instance(&k, &v, &reg, addrs, meta, strs, strs_cap, &at, &since);
		if (drc == 0) {
			drc = store_load_instance(s, &reg, at, since, now_mono);
		}
		if (drc == RS_ENOMEM) {
			rc = ENOMEM;
			break;
		}
		if (drc < 0) {
			mdb_cursor_del(cur, 0);
			(*dropped)++;
			continue;
		}
		(*ninstances)++;
	}
	if (rc == MDB_NOTFOUND) {
		rc = 0;
	}
	free(addrs);
	free(meta);
	free(strs);
out:
	if (cur != NULL) {
		mdb_cursor_close(cur);
	}
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
	} else {
		mdb_txn_abort(txn);
	}
	if (rc == 0) {
		release_map(p);
	}
	return map_err(rc);
}
