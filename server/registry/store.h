/*
 * server/registry/store.h - the in-memory registry: services, instances, leases,
 * expiry, self-preservation, the revision counter and the change journal.
 *
 * Model
 *   An instance is identified by (service, protocol, host, port). It belongs
 *   to at most one lease; an instance without a lease is permanent. One
 *   heartbeat renews a lease and so every instance under it. A lease expires
 *   no earlier than its TTL after its last renewal and no later than one
 *   expiry tick (STORE_TICK_MS) after that; expiry removes its instances.
 *   Every change bumps the revision (a 64-bit counter; the DNS SOA serial
 *   follows it) and is appended to the journal, which Watch and, later, IXFR
 *   read.
 *
 * Keep-last (--keep-last)
 *   Expiry alone never empties a service of fresh UP instances. An expiring
 *   UP instance whose service has none left on other leases is kept: stale,
 *   without a lease, persisted with a kept flag, aged out after
 *   keep_last_max_ms. One whose service still has fresh UP instances is
 *   removed as usual (journal, Watch, DNS and disk all see it go) but held in
 *   memory, "pending", for one TTL: the longest of its own lease's and those
 *   of the leases of the service's fresh UP instances. When an expiry (or a
 *   self-preservation hold) later takes the service's last fresh UP
 *   instance, its pending instances still within their hold come back as
 *   kept instances too: instances that stop renewing together are kept
 *   together, not only the one whose lease happened to go last. Registering
 *   or deregistering an identity forgets its pending copy.
 *   Pending instances are not written to disk: a restart gives every lease a
 *   full TTL again, so leases that stop together then expire together.
 *
 * What it must not do
 *   No I/O, no clock reads, no logging: callers pass the monotonic time
 *   (milliseconds, for liveness) and the wall time (milliseconds since the
 *   epoch, for display) into every call that needs them. Durable writes go
 *   through struct store_persist_ops, which server/registry/persist.c implements with
 *   LMDB and tests implement in memory. A mutation is written through the ops
 *   first and applied in memory only if the write succeeded, so a failed
 *   write leaves the store exactly as it was.
 *
 * Threads
 *   Owned by one thread (the main loop's), which alone mutates it and reads
 *   it without locking. Other threads (the DNS workers) may read it under
 *   the read side of a lock handed over with store_set_lock(): every
 *   public mutation then takes the write side for its own duration only, so
 *   a reader never sees one half done and sees each one as soon as its call
 *   returns. Leases (their table, deadlines, owners) and the counters are
 *   the main thread's alone: the readers never look at them, so what
 *   changes only those, a heartbeat of a lease that is not overdue above
 *   all, takes no lock (the writer would otherwise stop every DNS worker
 *   once per heartbeat, a fleet's most frequent write). Views returned by lookup functions (struct
 * store_instance *, struct store_service *) are borrowed and valid until the store is next
 *   modified; never keep one across a callback.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/lockset.h"
#include "common/name.h"

/** Granularity of the expiry wheel: a lease expires at most this late. */
#define STORE_TICK_MS 100u

#define STORE_TTL_DEFAULT_S 10u
#define STORE_TTL_MIN_S 1u
#define STORE_TTL_MAX_S 3600u

enum store_status {
	STORE_STATUS_STARTING = 1,
	STORE_STATUS_UP = 2,
	STORE_STATUS_DOWN = 3,
};

struct store_lease;
struct store_service;
struct store;

/** A metadata entry: key and value, NUL-terminated. */
struct store_meta {
	const char *key;
	const char *value;
};

/**
 * An instance as the store holds it. Read-only outside the store's files.
 * Strings point into the instance's own allocation.
 */
struct store_instance {
	struct store_service *service;
	struct store_lease *lease;         /**< NULL: permanent ("expires NEVER") */
	struct store_instance *lease_prev; /**< lease's instance list */
	struct store_instance *lease_next;
	struct store_instance *hash_next; /**< identity hash chain */
	uint32_t service_slot;            /**< index in service->instances (store-internal
					       index in the pending set while pending) */
	uint16_t port;
	uint16_t priority;
	uint16_t weight;
	uint8_t status;  /**< enum store_status */
	uint8_t stale;   /**< kept by self-preservation or keep-last */
	uint8_t kept;    /**< kept by --keep-last after its lease expired */
	uint8_t pending; /**< store-internal: expired, held for keep-last */
	uint8_t fixed;   /**< static (--static, server/registry/static.h): never written to
			  * disk, not changed by store_register() without .fixed,
			  * store_deregister() or store_status_set() */
	uint8_t naddrs;
	uint8_t nmeta;
	uint8_t host_len; /**< strlen(host) */
	uint8_t host_wire_len;
	uint32_t host_hash;        /**< rs_ring_hash(host): the DNS engine groups an SRV
				    * answer's instances by host with it (in what was padding) */
	uint64_t registered_at_ms; /**< wall clock */
	uint64_t status_since_ms;  /**< wall clock */
	union {
		uint64_t stale_since_mono;   /**< kept: monotonic, when it became stale */
		uint64_t pending_until_mono; /**< pending: monotonic, end of its hold */
	};
	uint64_t revision;             /**< revision of its last change */
	uint64_t rec;                  /**< persist's record number; 0 before the first write */
	const char *host;              /**< canonical: lower case, trailing dot */
	const uint8_t *host_wire;      /**< the same name in DNS wire form */
	const struct rs_addr *addrs;   /**< naddrs addresses */
	const struct store_meta *meta; /**< nmeta entries */
};

/** A (service, protocol) pair and its instances. */
struct store_service {
	char name[RS_LABEL_MAX + 1]; /**< lower case, no underscore */
	char protocol[RS_LABEL_MAX + 1];
	struct store_instance **instances; /**< every instance, any status */
	uint32_t ninstances;
	size_t cap;
	uint32_t nup;                      /**< instances with status UP */
	uint32_t nstale;                   /**< of which stale */
	uint32_t npending;                 /**< store-internal: expired instances held */
	uint64_t revision;                 /**< revision of its last change */
	struct store_instance *pending;    /**< store-internal: those, through lease_next */
	struct store_service *revive_next; /**< store-internal: a lease expiry's services to
						revive, while revive_queued */
	uint8_t revive_queued;
	struct store_service *hash_next;
	struct store_service *name_next; /**< other protocols of the same name */
};

/** A lease, read-only outside the store's files. */
struct store_lease {
	uint64_t id;
	uint32_t ttl_ms;
	uint32_t ninstances;
	uint64_t expires_mono;            /**< deadline on the monotonic clock */
	struct store_instance *instances; /**< list through lease_next */
	struct store_lease *hash_next;
	struct store_lease *wheel_prev;
	struct store_lease *wheel_next;
	uint32_t wheel_slot;
	bool overdue; /**< past its deadline, held by self-preservation */
	bool in_wheel;
	/** The API's, not the store's: who may act through the lease (a hash of
	 * the token name that opened it; server/api/ops.c); 0: anyone (an open
	 * API, or a lease loaded at start and not yet claimed). */
	uint64_t owner_tag;
};

/** What a registration asks for (borrowed input). */
struct store_registration {
	const char *service; /**< label, any case, no underscore */
	const char *protocol;
	const char *host; /**< host name, trailing dot optional */
	uint32_t port;    /**< 1..65535 */
	const struct rs_addr *addrs;
	size_t naddrs;
	uint32_t priority; /**< 0..65535 */
	uint32_t weight;   /**< 0..65535 */
	const struct store_meta *meta;
	size_t nmeta;
	enum store_status status; /**< STARTING or UP; 0 means UP */
	uint64_t lease;           /**< 0: permanent */
	bool kept;                /**< loading only: held stale by --keep-last */
	bool fixed;               /**< a static instance (--static); lease must be 0 */
	uint64_t rec;             /**< loading only: the record number on disk */
};

/** An instance identity (borrowed input). */
struct store_key {
	const char *service;
	const char *protocol;
	const char *host;
	uint32_t port;
};

/** Kinds of journal entries. */
enum store_change_kind {
	STORE_CHANGE_UPSERT = 1, /**< added or changed */
	STORE_CHANGE_REMOVE = 2,
};

enum store_remove_reason {
	STORE_REMOVED_DEREGISTERED = 1,
	STORE_REMOVED_EXPIRED = 2,
	STORE_REMOVED_LEASE_CLOSED = 3,
	STORE_REMOVED_STALE_AGED = 4,
};

/**
 * One change, as the journal and the change listener see it.
 * For UPSERT, @c instance is the live instance (valid during the callback).
 * For REMOVE, @c instance is the instance being removed, still readable
 * during the callback and freed right after it.
 */
struct store_change {
	enum store_change_kind kind;
	enum store_remove_reason reason;
	uint64_t revision;
	const struct store_instance *instance;
};

/** Configurable limits and self-preservation settings. */
struct store_limits {
	uint32_t max_instances_per_lease; /**< default 1000 */
	uint32_t max_metadata_bytes;      /**< keys + values; default 4096 */
	uint32_t max_metadata_entries;    /**< default 64 */
	uint32_t max_addresses;           /**< per instance; default 16 */
	uint64_t max_instances;           /**< whole store; default 10,000,000 */
	/* Self-preservation (SPEC: Durability and availability). */
	double preserve_fraction;    /**< default 0.15 */
	uint32_t preserve_min;       /**< default 10 */
	uint32_t preserve_window_ms; /**< default 60,000 */
	bool preserve_enabled;       /**< default true */
	bool keep_last;              /**< --keep-last */
	uint64_t keep_last_max_ms;   /**< max stale age; default 1 h */
	uint32_t journal_max;        /**< entries kept for Watch/IXFR; default 100,000 */
};

/** Fill @p limits with the defaults above. */
void store_limits_default(struct store_limits *limits);

/**
 * Durable-write hooks. Each returns 0 or a negative code (RS_ESTORE_FULL,
 * RS_ESTORE, RS_ESTORE_PANIC, RS_ENOMEM); on failure the store applies
 * nothing. revision_put may only note the revision, to be written once with
 * the batch. A mutation calls begin, then puts/dels, then commit, or abort
 * after a failure; persist maps that onto a nested LMDB transaction inside
 * the loop iteration's batch. NULL ops (a purely in-memory store) are allowed.
 */
struct store_persist_ops {
	int (*begin)(void *ctx);
	int (*commit)(void *ctx);
	void (*abort)(void *ctx);
	/** Write an instance; on its first write (inst->rec == 0) persist
	 * assigns inst->rec, the record's number, which later puts and the
	 * delete use. */
	int (*instance_put)(void *ctx, struct store_instance *inst);
	int (*instance_del)(void *ctx, const struct store_instance *inst);
	int (*lease_put)(void *ctx, const struct store_lease *lease);
	int (*lease_del)(void *ctx, uint64_t lease_id);
	int (*revision_put)(void *ctx, uint64_t revision);
};

/** Called after every change is applied (e.g. to feed watchers). */
typedef void (*store_change_cb)(const struct store_change *change, void *ud);

/** Counters the store keeps for Stats and metrics. */
struct store_counters {
	uint64_t heartbeats;
	uint64_t registrations;
	uint64_t deregistrations;
	uint64_t expirations; /**< instances removed by expiry */
	uint64_t leases_expired;
	uint64_t preserve_entered;
};

/**
 * Create an empty store.
 * @param limits copied.
 * @param ops durable-write hooks, or NULL; borrowed for the store's life.
 * @param ops_ctx passed to every hook.
 * @param now_mono the monotonic time, ms.
 * @return the store (free with store_free()), or NULL when out of memory.
 */
struct store *store_new(const struct store_limits *limits, const struct store_persist_ops *ops,
		void *ops_ctx, uint64_t now_mono);

/** Free the store and everything in it. NULL-safe. Writes nothing. */
void store_free(struct store *s);

/** Set the change listener (one; NULL to remove). */
void store_set_listener(struct store *s, store_change_cb cb, void *ud);

/** Replace the limits (SIGHUP reload). Applies to later operations. */
void store_set_limits(struct store *s, const struct store_limits *limits);

/**
 * Take the write side of @p lock around every later mutation (the store_*
 * calls under "mutations", store_set_limits(), store_reload()), for other
 * threads that read the store in its reader slots (common/lockset.h);
 * NULL: no lock (the default). Set it before those readers start and clear it after they
 * stop. The loading calls (store_load_*, store_reserve()) take no lock:
 * they run before readers start, or inside store_reload(), which holds it.
 */
void store_set_lock(struct store *s, struct rs_lockset *lock);

/* ---- loading (start-up) ------------------------------------------------ */

/**
 * Add a persisted lease while loading; it gets a full TTL from @p now_mono
 * (SPEC: every persisted lease gets a full TTL of grace after a restart).
 * Writes nothing. @return 0, RS_EEXIST, RS_ETTL or RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int store_load_lease(
		struct store *s, uint64_t id, uint32_t ttl_ms, uint64_t now_mono);

/**
 * Add a persisted instance while loading. Writes nothing; the revision is
 * not bumped. A record with @c kept set comes back stale, kept by
 * --keep-last, with its stale age starting again at @p now_mono. An instance whose lease was not
 * loaded is dropped (returns RS_ELEASE) and the caller deletes it from disk.
 * @param registered_at_ms, status_since_ms wall-clock stamps from disk.
 * @return 0, RS_ELEASE, RS_EINVAL (bad names), RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int store_load_instance(struct store *s,
		const struct store_registration *reg, uint64_t registered_at_ms,
		uint64_t status_since_ms, uint64_t now_mono);

/** Set the revision read from disk (start-up). */
void store_load_revision(struct store *s, uint64_t revision);

/** Fills an empty store from disk for store_reload() (e.g. with persist_load()). */
typedef int (*store_load_cb)(struct store *s, uint64_t now_mono, void *ud);

/**
 * Rebuild the store in place from disk, after a failed commit left memory
 * ahead of the disk. Empties it (services, instances, leases, the kept and
 * pending sets, the journal, self-preservation) and calls @p load to fill it
 * again. The store keeps its address, limits, persistence hooks, listener
 * and counters; the revision is the one loaded. No change is announced to
 * the listener: store_reloads() counts one more, for readers that keep state
 * derived from the old content (prepared DNS answers tagged with revisions
 * that the reloaded store may reuse).
 * @return 0, RS_ENOMEM, or @p load's error; on failure the store holds what
 *         was loaded so far, and the caller should stop.
 */
__attribute__((warn_unused_result)) int store_reload(
		struct store *s, uint64_t now_mono, store_load_cb load, void *ud);

/** How many times the store was reloaded (store_reload()); 0 after store_new(). */
uint64_t store_reloads(const struct store *s);

/**
 * Size the tables for the counts about to be loaded, so that loading does
 * not rehash them again and again. Optional; failures are ignored (the
 * tables then grow as usual).
 */
void store_reserve(struct store *s, uint64_t instances, uint64_t leases);

/* ---- mutations --------------------------------------------------------- */

/**
 * Open a lease.
 * @param ttl_s 0 for the default, else STORE_TTL_MIN_S..STORE_TTL_MAX_S.
 * @param id a random, non-zero id chosen by the caller (unguessable ids
 *        keep one client from renewing another's lease).
 * @param out set to the lease (borrowed view).
 * @return 0, RS_ETTL, RS_EEXIST (id collision: pick another), RS_ENOMEM,
 *         or a persist error.
 */
__attribute__((warn_unused_result)) int store_lease_open(struct store *s, uint32_t ttl_s,
		uint64_t id, uint64_t now_mono, const struct store_lease **out);

/**
 * Renew a lease and so every instance under it. Writes nothing to disk
 * (SPEC: heartbeats need not be written). A lease held overdue by
 * self-preservation comes back to life and its instances stop being stale:
 * only then is the lock (store_set_lock()) taken, since only then does
 * something the readers see change.
 * @return 0, or RS_ELEASE if the lease is unknown or expired.
 */
__attribute__((warn_unused_result)) int store_lease_renew(
		struct store *s, uint64_t id, uint64_t now_mono, const struct store_lease **out);

/**
 * Close a lease: remove it and all its instances.
 * @param removed set to the number of instances removed.
 * @return 0, RS_ELEASE, or a persist error.
 */
__attribute__((warn_unused_result)) int store_lease_close(
		struct store *s, uint64_t id, uint32_t *removed);

/** Which limit a registration exceeded (store_register_ex()). */
enum store_limit {
	STORE_LIMIT_NONE = 0,
	STORE_LIMIT_ADDRESSES,           /**< addresses per instance */
	STORE_LIMIT_METADATA_ENTRIES,    /**< metadata entries per instance */
	STORE_LIMIT_METADATA_BYTES,      /**< metadata bytes per instance (--max-metadata) */
	STORE_LIMIT_INSTANCES_PER_LEASE, /**< --max-instances-per-lease */
	STORE_LIMIT_INSTANCES,           /**< instances in the store (--max-instances) */
};

/** The limit a refused registration hit, so that the refusal can name it. */
struct store_limit_hit {
	enum store_limit kind;
	uint64_t value; /**< what the registration would have made it */
	uint64_t max;   /**< the limit in force */
};

/**
 * Register or update an instance.
 * @param created set to true when the identity was new.
 * @param revision set to the revision from which it is served.
 * @return 0; RS_ENAME_* for bad names; RS_EPORT; RS_EINVAL (priority or
 *         weight over 65535, bad status); RS_ELEASE (unknown lease); RS_ELIMIT
 *         (instances per lease, metadata, addresses, store size); RS_ENOMEM;
 *         RS_EFIXED (the identity is static and @p reg is not, or @p reg is
 *         static with a lease); or a persist error (RS_ESTORE_FULL,
 *         RS_ESTORE, RS_ESTORE_PANIC). A static registration (.fixed) over
 *         an instance from the API takes its place, and its record leaves
 *         the disk.
 */
__attribute__((warn_unused_result)) int store_register(struct store *s,
		const struct store_registration *reg, uint64_t now_mono, uint64_t now_wall,
		bool *created, uint64_t *revision);

/**
 * store_register(), and when it returns RS_ELIMIT, which limit was hit.
 * @param hit NULL, or filled when RS_ELIMIT is returned (untouched otherwise).
 * @return as store_register().
 */
__attribute__((warn_unused_result)) int store_register_ex(struct store *s,
		const struct store_registration *reg, uint64_t now_mono, uint64_t now_wall,
		bool *created, uint64_t *revision, struct store_limit_hit *hit);

/**
 * Remove one instance.
 * @return 0, RS_ENOENT, RS_EFIXED (a static instance), RS_ENAME_*, RS_EPORT,
 *         or a persist error.
 */
__attribute__((warn_unused_result)) int store_deregister(
		struct store *s, const struct store_key *key, uint64_t *revision);

/**
 * Remove one static instance (the --static file no longer lists it).
 * @return 0, RS_ENOENT (no static instance of that identity), RS_ENAME_*,
 *         RS_EPORT, or a persist error (only the revision is written).
 */
__attribute__((warn_unused_result)) int store_fixed_remove(
		struct store *s, const struct store_key *key, uint64_t *revision);

/**
 * Change an instance's status.
 * @return 0, RS_ENOENT, RS_ESTATUS, RS_EFIXED (a static instance),
 *         RS_ENAME_*, RS_EPORT, or a persist error.
 */
__attribute__((warn_unused_result)) int store_status_set(struct store *s,
		const struct store_key *key, enum store_status status, uint64_t now_wall,
		uint64_t *revision);

/**
 * Advance time: expire leases whose deadline has passed (or hold them, in
 * self-preservation), age out keep-last stale instances, and enter or leave
 * self-preservation. Call every STORE_TICK_MS or so.
 * @param expired_leases set to the number of leases expired by this call.
 * @return 0, or a persist error (expiry is retried on the next tick).
 */
__attribute__((warn_unused_result)) int store_tick(
		struct store *s, uint64_t now_mono, uint32_t *expired_leases);

/* ---- reads ------------------------------------------------------------- */

/**
 * Find a (service, protocol). Names compare case-insensitively.
 * @param service, protocol labels, not NUL-terminated.
 * @return a borrowed view, or NULL.
 */
const struct store_service *store_service_find(const struct store *s, const char *service,
		size_t service_len, const char *protocol, size_t protocol_len);

/**
 * First (service, protocol) with this service name; follow ->name_next for
 * the others. @return a borrowed view, or NULL.
 */
const struct store_service *store_service_find_name(
		const struct store *s, const char *service, size_t service_len);

/** Find an instance by identity. @return a borrowed view, or NULL. */
const struct store_instance *store_instance_find(
		const struct store *s, const struct store_key *key);

/**
 * May a write that presents @p lease change the instance @p key (SPEC:
 * "Ownership")? An instance registered under a lease is changed only
 * through that lease; a permanent instance (or a stale one kept without
 * its lease), an absent one, or one whose lease is overdue (past its
 * deadline, held only by self-preservation: its owner is gone) may be
 * written by anyone the caller's own checks allow.
 * @param lease the lease the write presents (0: none, a permanent write).
 * @param owner NULL, or set to the owning lease's id when refused.
 * @return 0; RS_EPERM (another lease's instance); RS_ENAME_*, RS_EPORT for
 *         a key that cannot exist.
 */
__attribute__((warn_unused_result)) int store_owner_check(const struct store *s,
		const struct store_key *key, uint64_t lease, uint64_t *owner);

/** Find a lease. @return a borrowed view, or NULL. */
const struct store_lease *store_lease_find(const struct store *s, uint64_t id);

/**
 * Set a lease's owner_tag (the API's: see struct store_lease). Not a
 * change of the registry: nothing is written, no revision moves, and DNS
 * never reads it. No-op for an unknown lease.
 */
void store_lease_set_owner(struct store *s, uint64_t id, uint64_t tag);

/**
 * Iterate over services in a stable order (sorted by name, then protocol).
 * @param cb return non-zero to stop.
 * @return 0 (every service visited, or @p cb stopped it); RS_ENOMEM (the
 *         sorted view could not be made: nothing was visited, and the caller
 *         must not take that for an empty registry).
 */
__attribute__((warn_unused_result)) int store_service_foreach(const struct store *s,
		int (*cb)(const struct store_service *svc, void *ud), void *ud);

/** The current revision. */
uint64_t store_revision(const struct store *s);

/** Is the store in self-preservation? */
bool store_preserving(const struct store *s);

/**
 * Counts: leases, instances, services, up, stale. Pending instances (expired,
 * held by --keep-last in case the rest of their service follows) are not
 * instances any more: they count only in @c pending.
 */
struct store_sizes {
	uint64_t leases;
	uint64_t instances;
	uint64_t services;
	uint64_t up;
	uint64_t down;
	uint64_t starting;
	uint64_t stale;
	uint64_t pending; /**< expired, held by --keep-last, not served */
};
void store_sizes_get(const struct store *s, struct store_sizes *out);

/** The store's counters (borrowed; updated in place). */
const struct store_counters *store_counters_get(const struct store *s);

/* ---- journal ----------------------------------------------------------- */

/** A journal entry: a copy of what changed, owned by the journal. */
struct store_journal_entry {
	uint64_t revision;
	enum store_change_kind kind;
	enum store_remove_reason reason;
	char service[RS_LABEL_MAX + 1];
	char protocol[RS_LABEL_MAX + 1];
	/** A detached copy of the instance as it was after (UPSERT) or before
	 * (REMOVE) the change; its service and lease pointers are NULL. */
	const struct store_instance *copy;
};

/**
 * Oldest revision the journal can replay from: a Watch asking for changes
 * after revision R can be served from the journal iff R + 1 >= this value.
 */
uint64_t store_journal_first(const struct store *s);

/**
 * Visit journal entries with revision > @p since, oldest first.
 * @return 0, or RS_ERANGE when the journal no longer reaches back to
 *         @p since + 1 (send a snapshot instead).
 */
int store_journal_foreach(const struct store *s, uint64_t since,
		int (*cb)(const struct store_journal_entry *e, void *ud), void *ud);
