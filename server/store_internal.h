/*
 * server/store_internal.h - what store.c and store_expiry.c share: the
 * store's layout and the helpers both halves use. Not for other modules:
 * everything else reaches the store through store.h.
 */
#pragma once

#include "server/store.h"

/* Expiry wheel: 2^16 slots of STORE_TICK_MS cover 6,553 s, more than the
 * longest TTL, so a lease never waits a full turn past its deadline. */
#define WHEEL_BITS 16
#define WHEEL_SLOTS (1u << WHEEL_BITS)
#define WHEEL_MASK (WHEEL_SLOTS - 1)

/* Self-preservation counts expiries in buckets of window/BUCKETS. */
#define PRESERVE_BUCKETS 32

struct table {
	void **buckets;
	size_t nbuckets; /* power of two */
	size_t count;
};

struct journal {
	struct store_journal_entry *ring;
	uint32_t cap;
	uint32_t head; /* index of the oldest entry */
	uint32_t len;
};

struct store {
	struct store_limits limits;
	const struct store_persist_ops *ops;
	void *ops_ctx;
	store_change_cb listener;
	void *listener_ud;

	struct table services;      /* struct store_service, by (name, protocol) */
	struct table service_names; /* first struct store_service of a name */
	struct table instances;     /* struct store_instance, by identity */
	struct table leases;        /* struct store_lease, by id */

	struct store_lease **wheel;
	uint64_t wheel_tick;        /* every tick before this one has been processed */

	/* Instances kept by --keep-last after their lease expired. */
	struct store_instance **kept;
	size_t nkept;
	size_t kept_cap;

	uint64_t revision;
	uint64_t now_mono;
	struct store_counters counters;
	struct store_sizes sizes;

	/* Self-preservation. */
	bool preserving;
	uint32_t window_counts[PRESERVE_BUCKETS];
	uint64_t window_bucket;     /* absolute index of the current bucket */
	uint64_t last_overdue_mono; /* when a lease last went overdue */
	uint32_t noverdue;

	struct journal journal;
};


#define OP(s, name, ...) ((s)->ops != NULL && (s)->ops->name != NULL ? \
		(s)->ops->name((s)->ops_ctx, __VA_ARGS__) : 0)

/* Durable-write hooks around one mutation (store.c). */
int store_tx_begin(struct store *s);
int store_tx_commit(struct store *s);
void store_tx_abort(struct store *s);
/* Commit when @p rc is 0, else abort; returns the outcome. */
int store_tx_end(struct store *s, int rc);
/* One instance written (or removed) with the next revision, as one mutation. */
int store_write_instance(struct store *s, struct store_instance *i, bool remove);

/* Record a change in the journal and tell the listener (store.c). */
void store_notify(struct store *s, enum store_change_kind kind, enum store_remove_reason reason,
		const struct store_instance *i);

/* Remove an instance in memory, bump the revision, notify, free (store.c).
 * The caller has already written the removal. */
void store_instance_remove(struct store *s, struct store_instance *i,
		enum store_remove_reason reason);

/* Mark an instance stale or fresh, bumping the revision (store.c). */
void store_stale_set(struct store *s, struct store_instance *i, bool stale);

/* Detach an instance from its lease (store.c). */
void store_lease_unlink(struct store_instance *i);

/* Forget a lease: tables and wheel; frees it (store.c). */
void store_lease_drop(struct store *s, struct store_lease *l);

/* Hold an instance stale under --keep-last (store.c). */
int store_kept_add(struct store *s, struct store_instance *i, uint64_t now_mono);

/* The expiry wheel (store_expiry.c). */
uint64_t store_tick_of(uint64_t mono);
void store_wheel_insert(struct store *s, struct store_lease *l);
void store_wheel_remove(struct store *s, struct store_lease *l);

/* Width of one self-preservation bucket, ms (store_expiry.c). */
uint32_t store_bucket_ms(const struct store *s);
