/*
 * server/registry/persist_record.h - the record format of the LMDB store
 * (persist_record.c): keys and values as bytes, no LMDB. Internal to
 * persist's files (persist_internal.h).
 *
 * Threads: pure functions, any thread.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "server/registry/store.h"

/* Record format version, the first byte of every value. Version 2 keys
 * instances by an append-only record number, the identity in the value. */
#define REC_VERSION 2
#define REC_FLAG_KEPT 0x01

/* Keys of instance records (the record number) and of leases (the id):
 * 8 octets, big-endian, so that memcmp order is numeric order. */
void persist_key(uint64_t n, uint8_t out[8]);
uint64_t persist_key_value(const uint8_t key[8]);

/* Bytes an instance's value can take at most (sizes the buffer). */
size_t persist_instance_size_max(const struct store_instance *i);
/* Encode an instance's value into @p out (@p cap bytes); @p len is set to
 * its length. @return 0, or RS_ERANGE when it does not fit. */
int persist_instance_encode(const struct store_instance *i, uint8_t *out, size_t cap, size_t *len);
/* Decode an instance record into @p reg (strings into @p strs). */
int persist_instance_decode(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
		struct store_registration *reg, struct rs_addr *addrs, struct store_meta *meta,
		char *strs, size_t strs_cap, uint64_t *registered_at, uint64_t *status_since);
/* A lease's value: version, TTL. */
#define PERSIST_LEASE_VALUE 5
void persist_lease_encode(uint32_t ttl_ms, uint8_t out[PERSIST_LEASE_VALUE]);
int persist_lease_decode(const uint8_t *val, size_t vlen, uint32_t *ttl_ms);
