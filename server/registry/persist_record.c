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

#include <stdbool.h>
#include <string.h>

#include "common/error.h"
#include "common/wire.h"

/* The encoders and decoders below run on common/wire.h's cursors, which
 * fail stickily: a record is written or read field by field and checked
 * once. A record that does not parse is RS_EPROTO to persist's callers,
 * whatever the cursor said (RS_ERANGE). */

static void w_str8(struct rs_wire_writer *w, const char *s, size_t n)
{
	rs_wire_write_u8(w, (uint8_t)n);
	rs_wire_write_bytes(w, s, n);
}

/* Copy @p l bytes of a string from @p r into @p strs at *@p so, NUL-terminated;
 * *@p out points at it. @return false when they are not there or do not fit. */
static bool r_str(struct rs_wire_reader *r, size_t l, char *strs, size_t strs_cap, size_t *so,
		const char **out)
{
	const uint8_t *t;
	if (rs_wire_read_view(r, l, &t) < 0 || *so + l + 1u > strs_cap) {
		return false;
	}
	memcpy(strs + *so, t, l);
	strs[*so + l] = '\0';
	*out = strs + *so;
	*so += l + 1u;
	return true;
}

/* ---- records -------------------------------------------------------------- */

void persist_key(uint64_t n, uint8_t out[8])
{
	rs_wire_store_u64(out, n);
}

uint64_t persist_key_value(const uint8_t key[8])
{
	return rs_wire_load_u64(key);
}

size_t persist_instance_size_max(const struct store_instance *i)
{
	size_t need = 64 + 3 * 256 + 17u * i->naddrs;
	for (uint8_t m = 0; m < i->nmeta; m++) {
		need += 4 + strlen(i->meta[m].key) + strlen(i->meta[m].value);
	}
	return need;
}

static int instance_encode(const struct store_instance *i, struct rs_wire_writer *w)
{
	rs_wire_write_u8(w, REC_VERSION);
	rs_wire_write_u8(w, i->kept ? REC_FLAG_KEPT : 0);
	w_str8(w, i->service->name, strlen(i->service->name));
	w_str8(w, i->service->protocol, strlen(i->service->protocol));
	w_str8(w, i->host, i->host_len);
	rs_wire_write_u16(w, i->port);
	rs_wire_write_u16(w, i->priority);
	rs_wire_write_u16(w, i->weight);
	rs_wire_write_u8(w, i->status);
	rs_wire_write_u64(w, i->lease != NULL ? i->lease->id : 0);
	rs_wire_write_u64(w, i->registered_at_ms);
	rs_wire_write_u64(w, i->status_since_ms);
	rs_wire_write_u8(w, i->naddrs);
	for (uint8_t k = 0; k < i->naddrs; k++) {
		rs_wire_write_u8(w, i->addrs[k].family == AF_INET ? 4 : 6);
		rs_wire_write_bytes(w, i->addrs[k].bytes, rs_addr_len(&i->addrs[k]));
	}
	rs_wire_write_u8(w, i->nmeta);
	for (uint8_t k = 0; k < i->nmeta; k++) {
		size_t kl = strlen(i->meta[k].key), vl = strlen(i->meta[k].value);
		if (kl > 65535 || vl > 65535) {
			return RS_ERANGE;
		}
		rs_wire_write_u16(w, (uint16_t)kl);
		rs_wire_write_bytes(w, i->meta[k].key, kl);
		rs_wire_write_u16(w, (uint16_t)vl);
		rs_wire_write_bytes(w, i->meta[k].value, vl);
	}
	return rs_wire_writer_error(w);
}

int persist_instance_encode(const struct store_instance *i, uint8_t *out, size_t cap, size_t *len)
{
	struct rs_wire_writer w;
	rs_wire_writer_init(&w, out, cap);
	int rc = instance_encode(i, &w);
	*len = w.len;
	return rc;
}

void persist_lease_encode(uint32_t ttl_ms, uint8_t out[PERSIST_LEASE_VALUE])
{
	out[0] = REC_VERSION;
	rs_wire_store_u32(out + 1, ttl_ms);
}

int persist_lease_decode(const uint8_t *val, size_t vlen, uint32_t *ttl_ms)
{
	struct rs_wire_reader r;
	rs_wire_reader_init(&r, val, vlen);
	uint8_t ver;
	rs_wire_read_u8(&r, &ver);
	rs_wire_read_u32(&r, ttl_ms);
	return rs_wire_reader_error(&r) != 0 || ver != REC_VERSION ? RS_EPROTO : 0;
}

int persist_instance_decode(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
		struct store_registration *reg, struct rs_addr *addrs, struct store_meta *meta,
		char *strs, size_t strs_cap, uint64_t *registered_at, uint64_t *status_since)
{
	if (klen != 8) {
		return RS_EPROTO;
	}
	reg->rec = persist_key_value(key);
	struct rs_wire_reader r;
	rs_wire_reader_init(&r, val, vlen);
	uint8_t ver, flags;
	rs_wire_read_u8(&r, &ver);
	if (ver != REC_VERSION) {
		return RS_EPROTO;
	}
	rs_wire_read_u8(&r, &flags);
	reg->kept = (flags & REC_FLAG_KEPT) != 0;
	/* The three names, NUL-terminated into strs; metadata follows them. */
	size_t so = 0;
	const char **names[3] = {&reg->service, &reg->protocol, &reg->host};
	for (int n = 0; n < 3; n++) {
		uint8_t l;
		rs_wire_read_u8(&r, &l);
		if (!r_str(&r, l, strs, strs_cap, &so, names[n])) {
			return RS_EPROTO;
		}
	}
	uint16_t port, priority, weight;
	uint8_t status, naddrs, nmeta;
	rs_wire_read_u16(&r, &port);
	rs_wire_read_u16(&r, &priority);
	rs_wire_read_u16(&r, &weight);
	rs_wire_read_u8(&r, &status);
	rs_wire_read_u64(&r, &reg->lease);
	rs_wire_read_u64(&r, registered_at);
	rs_wire_read_u64(&r, status_since);
	rs_wire_read_u8(&r, &naddrs);
	reg->port = port;
	reg->priority = priority;
	reg->weight = weight;
	reg->status = status;
	reg->naddrs = naddrs;
	for (size_t a = 0; a < naddrs; a++) {
		uint8_t fam;
		rs_wire_read_u8(&r, &fam);
		size_t n = fam == 4 ? 4 : 16;
		const uint8_t *bytes;
		if (rs_wire_read_view(&r, n, &bytes) < 0 || (fam != 4 && fam != 6)) {
			return RS_EPROTO;
		}
		memset(&addrs[a], 0, sizeof(addrs[a]));
		addrs[a].family = fam == 4 ? AF_INET : AF_INET6;
		memcpy(addrs[a].bytes, bytes, n);
	}
	reg->addrs = addrs;
	rs_wire_read_u8(&r, &nmeta);
	reg->nmeta = nmeta;
	for (size_t m = 0; m < nmeta; m++) {
		uint16_t kl, vl;
		rs_wire_read_u16(&r, &kl);
		if (!r_str(&r, kl, strs, strs_cap, &so, &meta[m].key)) {
			return RS_EPROTO;
		}
		rs_wire_read_u16(&r, &vl);
		if (!r_str(&r, vl, strs, strs_cap, &so, &meta[m].value)) {
			return RS_EPROTO;
		}
	}
	reg->meta = meta;
	bool whole = rs_wire_reader_error(&r) == 0 && rs_wire_reader_left(&r) == 0;
	return whole && reg->rec != 0 ? 0 : RS_EPROTO;
}
