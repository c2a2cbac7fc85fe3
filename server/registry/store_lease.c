/*
 * The lease table (by id) and the expiry wheel the leases are filed in (see
 * store_internal.h for the layering; store_expiry.c turns the wheel).
 */
#include "server/registry/store_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

static uint32_t hash_u64(uint64_t v)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdULL;
	v ^= v >> 33;
	return (uint32_t)v;
}

static void **lease_next(void *e)
{
	return (void **)&((struct store_lease *)e)->hash_next;
}

static uint32_t lease_hash(void *e)
{
	return hash_u64(((struct store_lease *)e)->id);
}

/* ---- leases ------------------------------------------------------------- */

int store_lease_table_init(struct store *s)
{
	return store_table_init(&s->leases, 1024);
}

void store_lease_table_free(struct store *s)
{
	store_table_free(&s->leases, lease_next, free);
	free(s->leases.buckets);
	memset(&s->leases, 0, sizeof(s->leases));
}

struct store_lease *store_lease_lookup(const struct store *s, uint64_t id)
{
	struct store_lease *l = s->leases.buckets[hash_u64(id) & (s->leases.nbuckets - 1)];
	while (l != NULL && l->id != id) {
		l = l->hash_next;
	}
	return l;
}

int store_lease_add(struct store *s, uint64_t id, uint32_t ttl_ms, uint64_t now_mono,
		struct store_lease **out)
{
	if (id == 0 || store_lease_lookup(s, id) != NULL) {
		return RS_EEXIST;
	}
	struct store_lease *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		return RS_ENOMEM;
	}
	l->id = id;
	l->ttl_ms = ttl_ms;
	l->expires_mono = now_mono + ttl_ms;
	store_table_grow(&s->leases, lease_next, lease_hash);
	size_t b = lease_hash(l) & (s->leases.nbuckets - 1);
	l->hash_next = s->leases.buckets[b];
	s->leases.buckets[b] = l;
	s->leases.count++;
	s->sizes.leases++;
	store_wheel_insert(s, l);
	*out = l;
	return 0;
}

void store_lease_drop(struct store *s, struct store_lease *l)
{
	store_wheel_remove(s, l);
	size_t b = lease_hash(l) & (s->leases.nbuckets - 1);
	struct store_lease **pp = (struct store_lease **)&s->leases.buckets[b];
	while (*pp != l) {
		pp = &(*pp)->hash_next;
	}
	*pp = l->hash_next;
	s->leases.count--;
	s->sizes.leases--;
	if (l->overdue) {
		s->noverdue--;
	}
	free(l);
}

/* ---- the wheel ---------------------------------------------------------- */

uint64_t store_tick_of(uint64_t mono)
{
	return mono / STORE_TICK_MS;
}

void store_wheel_insert(struct store *s, struct store_lease *l)
{
	uint64_t t = store_tick_of(l->expires_mono);
	if (t < s->wheel_tick) {
		t = s->wheel_tick;
	}
	uint32_t slot = (uint32_t)(t & WHEEL_MASK);
	l->wheel_slot = slot;
	l->in_wheel = true;
	l->wheel_prev = NULL;
	l->wheel_next = s->wheel[slot];
	if (l->wheel_next != NULL) {
		l->wheel_next->wheel_prev = l;
	}
	s->wheel[slot] = l;
}

void store_wheel_remove(struct store *s, struct store_lease *l)
{
	if (!l->in_wheel) {
		return;
	}
	l->in_wheel = false;
	if (l->wheel_prev != NULL) {
		l->wheel_prev->wheel_next = l->wheel_next;
	} else {
		s->wheel[l->wheel_slot] = l->wheel_next;
	}
	if (l->wheel_next != NULL) {
		l->wheel_next->wheel_prev = l->wheel_prev;
	}
	l->wheel_prev = l->wheel_next = NULL;
}

uint32_t store_bucket_ms(const struct store *s)
{
	return s->limits.preserve_window_ms / PRESERVE_BUCKETS + 1;
}
