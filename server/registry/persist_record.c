/*
 * The record format of the LMDB store: our own fixed binary encoding,
 * big-endian, versioned by a leading byte (REC_VERSION). Pure functions: no
 * LMDB here (see persist_internal.h for the layering).
 *
 * Instance records are keyed by an append-only record number (8 octets,
 * big-endian, so that memcmp order is numeric order): new records go to the
 * end of the B-tree with MDB_APPEND and a burst of registrations dirties a
 * few pages instead of one page per registration (bench/registry measured
 * 8 KiB written per registration with identity keys, 264 bytes with these).
 * The identity lives in the value; the in-memory store is the index.
 */
#include "server/registry/persist_record.h"

#include <string.h>

#include "common/error.h"

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

struct rbuf {
	const uint8_t *p;
	size_t len, off;
	int err;
};

/* ---- writing -------------------------------------------------------------- */

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

static void w_str8(struct wbuf *b, const char *s, size_t n)
{
	w_u8(b, (uint8_t)n);
	w_bytes(b, s, n);
}

/* ---- reading -------------------------------------------------------------- */

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

/* ---- records -------------------------------------------------------------- */

void persist_key(uint64_t n, uint8_t out[8])
{
	struct wbuf b = {out, 0, 8, 0};
	w_u64(&b, n);
}

uint64_t persist_key_value(const uint8_t key[8])
{
	struct rbuf b = {key, 8, 0, 0};
	return r_u64(&b);
}

size_t persist_instance_size_max(const struct store_instance *i)
{
	size_t need = 64 + 3 * 256 + 17u * i->naddrs;
	for (uint8_t m = 0; m < i->nmeta; m++) {
		need += 4 + strlen(i->meta[m].key) + strlen(i->meta[m].value);
	}
	return need;
}

static int instance_encode(const struct store_instance *i, struct wbuf *b)
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

int persist_instance_encode(const struct store_instance *i, uint8_t *out, size_t cap,
		size_t *len)
{
	struct wbuf b = {out, 0, cap, 0};
	int rc = instance_encode(i, &b);
	*len = b.len;
	return rc;
}

void persist_lease_encode(uint32_t ttl_ms, uint8_t out[PERSIST_LEASE_VALUE])
{
	struct wbuf b = {out, 0, PERSIST_LEASE_VALUE, 0};
	w_u8(&b, REC_VERSION);
	w_u32(&b, ttl_ms);
}

int persist_lease_decode(const uint8_t *val, size_t vlen, uint32_t *ttl_ms)
{
	struct rbuf b = {val, vlen, 0, 0};
	uint8_t ver = r_u8(&b);
	*ttl_ms = r_u32(&b);
	return b.err != 0 || ver != REC_VERSION ? RS_EPROTO : 0;
}

int persist_instance_decode(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
		struct store_registration *reg, struct rs_addr *addrs, struct store_meta *meta,
		char *strs, size_t strs_cap, uint64_t *registered_at, uint64_t *status_since)
{
	if (klen != 8) {
		return RS_EPROTO;
	}
	reg->rec = persist_key_value(key);
	struct rbuf b = {val, vlen, 0, 0};
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
