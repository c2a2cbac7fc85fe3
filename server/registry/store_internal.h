/*
 * server/registry/store_internal.h - what store.c and store_expiry.c share: the
 * store's layout and the helpers both halves use. Not for other modules:
 * everything else reaches the store through store.h.
 */
#pragma once

#include "server/registry/store.h"

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

	/* Expired instances held for --keep-last (store_expiry.c), each at
	 * index service_slot; also listed on their service. */
	struct store_instance **pending;
	size_t npending;
	size_t pending_cap;
	uint64_t pending_sweep_mono; /* when to look for holds that ended */

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

/* The same without freeing it or releasing its service: the caller owns it
 * afterwards (store.c). */
void store_instance_detach(struct store *s, struct store_instance *i,
		enum store_remove_reason reason);

/* Free a service with no instance left, and its pending ones (store.c). */
void store_service_release(struct store *s, struct store_service *svc);

/* Make room for one more instance in the service's array (store.c). */
int store_service_reserve(struct store_service *svc);

/* Link an instance into the tables, its service and lease @p l (or NULL);
 * cannot fail after store_service_reserve() (store.c). */
int store_instance_link(struct store *s, struct store_instance *i, struct store_service *svc,
		struct store_lease *l);

/* The live instance of this identity, or NULL (store.c). */
struct store_instance *store_instance_lookup(const struct store *s,
		const struct store_service *svc, const char *host, size_t hlen, uint16_t port);

/* Mark an instance stale or fresh, bumping the revision (store.c). */
void store_stale_set(struct store *s, struct store_instance *i, bool stale);

/* Detach an instance from its lease (store.c). */
void store_lease_unlink(struct store_instance *i);

/* Forget a lease: tables and wheel; frees it (store.c). */
void store_lease_drop(struct store *s, struct store_lease *l);

/* Hold an instance stale under --keep-last (store.c); cannot fail after
 * store_kept_reserve(). */
int store_kept_reserve(struct store *s);
int store_kept_add(struct store *s, struct store_instance *i, uint64_t now_mono);
void store_kept_remove(struct store *s, struct store_instance *i);

/* Forget the pending copy of an identity, if any (store_expiry.c). */
void store_pending_forget(struct store *s, struct store_service *svc, const char *host,
		size_t hlen, uint16_t port);

/* Free every pending instance of a service (store_expiry.c). */
void store_pending_drop_all(struct store *s, struct store_service *svc);

/* The expiry wheel (store_expiry.c). */
uint64_t store_tick_of(uint64_t mono);
void store_wheel_insert(struct store *s, struct store_lease *l);
void store_wheel_remove(struct store *s, struct store_lease *l);

/* Width of one self-preservation bucket, ms (store_expiry.c). */
uint32_t store_bucket_ms(const struct store *s);
