/*
 * server/registry/store_internal.h - the store's layout and the helpers its
 * files share. Not for other modules: everything else reaches the store
 * through store.h.
 *
 * The files, each using only those above it in this list (never one below):
 *   store_instance.c  names, validation and the one-block instance allocation
 *   store_index.c     hash tables: services, instances; the kept and pending sets
 *   store_lease.c     the lease table and the expiry wheel
 *   store_journal.c   the change journal (Watch replay) and the change listener
 *   store.c           life cycle, the durable-write helpers, mutations, reads
 *   store_load.c      loading from disk at start, and store_reload()
 *   store_expiry.c    store_tick(): expiry, self-preservation, --keep-last
 *
 * Threads: as store.h (main loop only).
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
	uint64_t wheel_tick; /* every tick before this one has been processed */

	/* Instances kept by --keep-last after their lease expired. */
	struct store_instance **kept;
	size_t nkept;
	size_t kept_cap;

	/* Expired instances held for --keep-last, each at index service_slot;
	 * also listed on their service. */
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
	uint64_t reloads; /* store_reload() calls */

	struct rs_lockset *lock; /* store_set_lock(): readers on other threads */
};

/* The write side of store_set_lock()'s lock, around one public mutation. */
static inline void store_write_lock(struct store *s)
{
	if (s->lock != NULL) {
		rs_lockset_write_lock(s->lock);
	}
}

static inline void store_write_unlock(struct store *s)
{
	if (s->lock != NULL) {
		rs_lockset_write_unlock(s->lock);
	}
}

#define OP(s, name, ...)                                                                           \
	((s)->ops != NULL && (s)->ops->name != NULL ? (s)->ops->name((s)->ops_ctx, __VA_ARGS__) : 0)

/* ---- store_instance.c --------------------------------------------------- */

/* Canonical, validated names of a registration or key. */
struct names {
	char service[RS_LABEL_MAX + 1];
	char protocol[RS_LABEL_MAX + 1];
	char host[RS_NAME_TEXT_MAX];
	size_t service_len, protocol_len, host_len;
	uint8_t wire[RS_NAME_WIRE_MAX];
	size_t wire_len;
	uint16_t port;
};

/* Validate and canonicalise a key's names and port. */
int store_names_from_key(const struct store_key *key, struct names *n);

/* Validation shared by loading and registering: names, numbers, limits. */
int store_registration_check(const struct store *s, const struct store_registration *reg,
		struct names *n, struct store_limit_hit *hit);

/* Note which limit was exceeded in @p hit (if not NULL); returns RS_ELIMIT. */
int store_limit_exceeded(
		struct store_limit_hit *hit, enum store_limit kind, uint64_t value, uint64_t max);

/* One allocation holding an instance and everything it points to; only the
 * strings, addresses and metadata are set. NULL when out of memory. */
struct store_instance *store_instance_alloc(const char *host, size_t host_len, const uint8_t *wire,
		size_t wire_len, const struct rs_addr *addrs, size_t naddrs,
		const struct store_meta *meta, size_t nmeta);

/* A new, unlinked instance from a checked registration. */
struct store_instance *store_instance_build(
		const struct store_registration *reg, const struct names *n);

/* ---- store_index.c ------------------------------------------------------ */

/* Hash tables with a chain link in each object, reached through next_of. */
int store_table_init(struct table *t, size_t n);
void store_table_grow(struct table *t, void **(*next_of)(void *), uint32_t (*hash_of)(void *));
void store_table_reserve(struct table *t, uint64_t n);
/* Free every entry of a table, through its chain link; not the buckets. */
void store_table_free(struct table *t, void **(*next_of)(void *), void (*free_one)(void *));

/* The service and instance tables, and the kept and pending sets. */
int store_index_init(struct store *s);
/* Free them and every service and instance (live or pending). */
void store_index_free(struct store *s);

struct store_service *store_service_lookup(const struct store *s, const char *name, size_t nlen,
		const char *proto, size_t plen);
/* The first service of a name (others through name_next), or NULL. */
struct store_service *store_service_first(const struct store *s, const char *name, size_t nlen);
/* Find or create a service. NULL when out of memory. */
struct store_service *store_service_get(struct store *s, const struct names *n);
/* Free a service with no instance left, and its pending ones. */
void store_service_release(struct store *s, struct store_service *svc);
/* Make room for one more instance in the service's array. */
int store_service_reserve(struct store_service *svc);

/* The live instance of this identity, or NULL. */
struct store_instance *store_instance_lookup(const struct store *s, const struct store_service *svc,
		const char *host, size_t hlen, uint16_t port);
/* Link an instance into the tables, its service and lease @p l (or NULL);
 * cannot fail after store_service_reserve(). */
int store_instance_link(struct store *s, struct store_instance *i, struct store_service *svc,
		struct store_lease *l);
/* Unlink an instance from everything. Does not free it. */
void store_instance_unlink(struct store *s, struct store_instance *i);
/* Count an instance in (+1) or out (-1) of the status and stale sizes. */
void store_count_status(struct store *s, const struct store_instance *i, int delta);
/* Detach an instance from its lease. */
void store_lease_unlink(struct store_instance *i);

/* Hold an instance stale under --keep-last; store_kept_add() cannot fail
 * after store_kept_reserve(). */
int store_kept_reserve(struct store *s);
int store_kept_add(struct store *s, struct store_instance *i, uint64_t now_mono);
void store_kept_remove(struct store *s, struct store_instance *i);

/* Hold an expired instance, already detached from everything, for
 * @p hold_ms. @return false when out of memory (the caller frees it). */
bool store_pending_add(
		struct store *s, struct store_instance *i, uint32_t hold_ms, uint64_t now_mono);
void store_pending_unlink(struct store *s, struct store_instance *i);
void store_pending_free(struct store *s, struct store_instance *i);
/* Forget the pending copy of an identity, if any. */
void store_pending_forget(struct store *s, struct store_service *svc, const char *host, size_t hlen,
		uint16_t port);
/* Free every pending instance of a service. */
void store_pending_drop_all(struct store *s, struct store_service *svc);

/* ---- store_lease.c ------------------------------------------------------ */

int store_lease_table_init(struct store *s);
void store_lease_table_free(struct store *s);
struct store_lease *store_lease_lookup(const struct store *s, uint64_t id);
/* A new lease with a full TTL from @p now_mono, in the table and the wheel. */
int store_lease_add(struct store *s, uint64_t id, uint32_t ttl_ms, uint64_t now_mono,
		struct store_lease **out);
/* Forget a lease: table and wheel; frees it. */
void store_lease_drop(struct store *s, struct store_lease *l);
uint64_t store_tick_of(uint64_t mono);
void store_wheel_insert(struct store *s, struct store_lease *l);
void store_wheel_remove(struct store *s, struct store_lease *l);
/* Width of one self-preservation bucket, ms. */
uint32_t store_bucket_ms(const struct store *s);

/* ---- store_journal.c ---------------------------------------------------- */

int store_journal_init(struct store *s, uint32_t cap);
/* Drop every entry; the ring stays. */
void store_journal_clear(struct store *s);
void store_journal_free(struct store *s);
/* Record a change in the journal and tell the listener. */
void store_notify(struct store *s, enum store_change_kind kind, enum store_remove_reason reason,
		const struct store_instance *i);

/* ---- store.c ------------------------------------------------------------ */

/* Durable-write hooks around one mutation. */
int store_tx_begin(struct store *s);
int store_tx_commit(struct store *s);
void store_tx_abort(struct store *s);
/* Commit when @p rc is 0, else abort; returns the outcome. */
int store_tx_end(struct store *s, int rc);
/* One instance written (or removed) with the next revision, as one mutation. */
int store_write_instance(struct store *s, struct store_instance *i, bool remove);

/* Check a registration (loading or registering) and find its lease: NULL
 * for a permanent one. @return 0, RS_ELEASE, or the check's error. */
int store_registration_resolve(struct store *s, const struct store_registration *reg,
		struct names *n, struct store_limit_hit *hit, struct store_lease **lease);

/* Remove an instance in memory, bump the revision, notify, free. The caller
 * has already written the removal. */
void store_instance_remove(
		struct store *s, struct store_instance *i, enum store_remove_reason reason);
/* The same without freeing it or releasing its service: the caller owns it
 * afterwards. */
void store_instance_detach(
		struct store *s, struct store_instance *i, enum store_remove_reason reason);
/* Mark an instance stale or fresh, bumping the revision. */
void store_stale_set(struct store *s, struct store_instance *i, bool stale);
