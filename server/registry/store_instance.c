/*
 * Names, validation and allocation of instances: pure functions that read no
 * store state but its limits (see store_internal.h for the layering).
 */
#include "server/registry/store_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/error.h"
#include "common/ring.h"

/* One allocation per instance: the struct, then host text, host wire form,
 * addresses, the metadata array and its strings. Keeps RSS per instance
 * small and frees in one call. */
struct store_instance *store_instance_alloc(const char *host, size_t host_len, const uint8_t *wire,
		size_t wire_len, const struct rs_addr *addrs, size_t naddrs,
		const struct store_meta *meta, size_t nmeta)
{
	size_t meta_bytes = 0;
	for (size_t i = 0; i < nmeta; i++) {
		meta_bytes += strlen(meta[i].key) + strlen(meta[i].value) + 2;
	}
	size_t size = sizeof(struct store_instance);
	size_t addr_off = size;
	size += naddrs * sizeof(struct rs_addr);
	size = (size + 7) & ~(size_t)7;
	size_t meta_off = size;
	size += nmeta * sizeof(struct store_meta);
	size_t host_off = size;
	size += host_len + 1;
	size_t wire_off = size;
	size += wire_len;
	size_t strs_off = size;
	size += meta_bytes;

	unsigned char *block = malloc(size);
	if (block == NULL) {
		return NULL;
	}
	struct store_instance *inst = (struct store_instance *)block;
	memset(inst, 0, sizeof(*inst));
	struct rs_addr *a = (struct rs_addr *)(block + addr_off);
	size_t kept = 0;
	for (size_t k = 0; k < naddrs; k++) {
		size_t j = 0;
		while (j < kept && rs_addr_cmp(&a[j], &addrs[k]) != 0) {
			j++;
		}
		if (j == kept) { /* an address given twice is one (DNS has it once) */
			a[kept++] = addrs[k];
		}
	}
	inst->addrs = a;
	inst->naddrs = (uint8_t)kept;
	struct store_meta *m = (struct store_meta *)(block + meta_off);
	char *strs = (char *)(block + strs_off);
	for (size_t i = 0; i < nmeta; i++) {
		size_t kl = strlen(meta[i].key) + 1;
		size_t vl = strlen(meta[i].value) + 1;
		memcpy(strs, meta[i].key, kl);
		m[i].key = strs;
		strs += kl;
		memcpy(strs, meta[i].value, vl);
		m[i].value = strs;
		strs += vl;
	}
	inst->meta = m;
	inst->nmeta = (uint8_t)nmeta;
	char *h = (char *)(block + host_off);
	memcpy(h, host, host_len);
	h[host_len] = '\0';
	inst->host = h;
	inst->host_len = (uint8_t)host_len;
	inst->host_hash = rs_ring_hash(h, host_len);
	uint8_t *w = block + wire_off;
	memcpy(w, wire, wire_len);
	inst->host_wire = w;
	inst->host_wire_len = (uint8_t)wire_len;
	return inst;
}
static int label_lower(const char *in, char *out, size_t *len)
{
	size_t n = strlen(in);
	int rc = rs_label_check(in, n, 0);
	if (rc < 0) {
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		out[i] = (char)rs_ascii_lower((uint8_t)in[i]);
	}
	out[n] = '\0';
	*len = n;
	return 0;
}

int store_names_from_key(const struct store_key *key, struct names *n)
{
	if (key->service == NULL || key->protocol == NULL || key->host == NULL) {
		return RS_ENAME_EMPTY;
	}
	int rc = label_lower(key->service, n->service, &n->service_len);
	if (rc < 0) {
		return rc;
	}
	rc = label_lower(key->protocol, n->protocol, &n->protocol_len);
	if (rc < 0) {
		return rc;
	}
	rc = rs_name_canonical(key->host, 0, n->host);
	if (rc < 0) {
		return rc;
	}
	n->host_len = (size_t)rc;
	rc = rs_name_to_wire(n->host, 0, n->wire);
	if (rc < 0) {
		return rc;
	}
	n->wire_len = (size_t)rc;
	if (key->port < 1 || key->port > 65535) {
		return RS_EPORT;
	}
	n->port = (uint16_t)key->port;
	return 0;
}

/* Note which limit a registration exceeds, for a message that names it. */
int store_limit_exceeded(
		struct store_limit_hit *hit, enum store_limit kind, uint64_t value, uint64_t max)
{
	if (hit != NULL) {
		*hit = (struct store_limit_hit){.kind = kind, .value = value, .max = max};
	}
	return RS_ELIMIT;
}

/* Validation shared by loading and registering. */
int store_registration_check(const struct store *s, const struct store_registration *reg,
		struct names *n, struct store_limit_hit *hit)
{
	struct store_key key = {reg->service, reg->protocol, reg->host, reg->port};
	int rc = store_names_from_key(&key, n);
	if (rc < 0) {
		return rc;
	}
	if (reg->priority > 65535 || reg->weight > 65535) {
		return RS_EINVAL;
	}
	if (reg->status != 0 && reg->status != STORE_STATUS_STARTING &&
			reg->status != STORE_STATUS_UP && reg->status != STORE_STATUS_DOWN) {
		return RS_ESTATUS;
	}
	if (reg->naddrs > s->limits.max_addresses || reg->naddrs > 255) {
		return store_limit_exceeded(hit, STORE_LIMIT_ADDRESSES, reg->naddrs,
				s->limits.max_addresses < 255 ? s->limits.max_addresses : 255);
	}
	for (size_t k = 0; k < reg->naddrs; k++) {
		if (reg->addrs[k].family != AF_INET && reg->addrs[k].family != AF_INET6) {
			return RS_EINVAL;
		}
	}
	size_t meta_bytes = 0;
	if (reg->nmeta > s->limits.max_metadata_entries || reg->nmeta > 255) {
		return store_limit_exceeded(hit, STORE_LIMIT_METADATA_ENTRIES, reg->nmeta,
				s->limits.max_metadata_entries < 255
						? s->limits.max_metadata_entries
						: 255);
	}
	for (size_t k = 0; k < reg->nmeta; k++) {
		if (reg->meta[k].key == NULL || reg->meta[k].value == NULL ||
				reg->meta[k].key[0] == '\0') {
			return RS_EINVAL;
		}
		meta_bytes += strlen(reg->meta[k].key) + strlen(reg->meta[k].value);
	}
	if (meta_bytes > s->limits.max_metadata_bytes) {
		return store_limit_exceeded(hit, STORE_LIMIT_METADATA_BYTES, meta_bytes,
				s->limits.max_metadata_bytes);
	}
	return 0;
}

struct store_instance *store_instance_build(
		const struct store_registration *reg, const struct names *n)
{
	struct store_instance *i = store_instance_alloc(n->host, n->host_len, n->wire, n->wire_len,
			reg->addrs, reg->naddrs, reg->meta, reg->nmeta);
	if (i == NULL) {
		return NULL;
	}
	i->port = n->port;
	i->priority = (uint16_t)reg->priority;
	i->weight = (uint16_t)reg->weight;
	i->status = reg->status == 0 ? STORE_STATUS_UP : (uint8_t)reg->status;
	return i;
}
