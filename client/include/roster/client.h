/*
 * roster/client.h - libroster, the C client of the Roster registry.
 *
 * A service registers its endpoints at startup and forgets about it:
 *
 *	struct roster_config cfg = {0};
 *	const char *servers[] = {"10.0.0.5:7600", "10.0.0.6:7600"};
 *	cfg.servers = servers;
 *	cfg.n_servers = 2;
 *	struct roster_client *c;
 *	roster_client_new(&cfg, &c);
 *	struct roster_instance me = {.service = "metadata", .protocol = "hm",
 *		.host = "lon6-metadataproxy-a133t.lon6.example.net", .port = 1234};
 *	roster_endpoint_add(c, &me);
 *	roster_client_start(c);          // background thread: lease + heartbeats
 *	...serve...
 *	roster_client_free(c);           // deregisters, stops the thread
 *
 * THE MODEL
 *
 * A client holds a set of endpoints (the "wanted" state) and, for each
 * registry in its list, one TCP connection and one lease. Its engine, running
 * on a libuv loop, makes every registry hold the wanted state:
 *   - connect; open a lease (OpenLease, ttl = cfg.ttl_seconds); register
 *     every endpoint under it; heartbeat every ttl/3 (+-10 % jitter);
 *   - on a connection error, an unanswered request (no reply within
 *     cfg.timeout_ms plus a heartbeat interval), or a registry restart,
 *     reconnect with jittered exponential backoff (full jitter: a uniform
 *     delay in [0, min(max, min * 2^attempt)], default min 100 ms, max
 *     10 s; while a lease may still be alive there, never over ttl/3, so
 *     the client is back within the TTL of grace a restarted registry
 *     gives every lease) and register every endpoint again under the
 *     surviving lease. Registering an identity
 *     again only updates it, so this is safe and idempotent;
 *   - on UNKNOWN_LEASE (the lease expired, or the registry lost it), open a
 *     new lease and register every endpoint again; no action of the service
 *     is needed;
 *   - on roster_client_stop()/roster_client_free(), deregister the lease (all
 *     its endpoints at once) at every reachable registry, waiting at most
 *     cfg.timeout_ms, then close.
 * Registries are independent: a registration reaches each of them, and one
 * registry being down does not delay the others.
 *
 * The engine runs either on its own thread with a private loop
 * (roster_client_start()) or on the caller's libuv loop
 * (roster_client_start_loop()), for programs that already run one.
 *
 * Queries (roster_query(), roster_list(), roster_stats()) and one-shot writes
 * (roster_instance_deregister(), roster_instance_set_status(),
 * roster_instance_register_permanent()) are synchronous: each opens short
 * connections to the registries in list order; a query takes the first
 * answer, a write goes to every registry (ROSTER_EPARTIAL when it reached
 * some only). They never wait behind, or delay, a heartbeat, and work with
 * or without a started engine.
 *
 * The last-known-good copy of every query answer is kept in memory (and in
 * cfg.cache_path when set: replaced atomically, and only when an answer's
 * content changed or the file's copy is over a minute older than the
 * memory's, so an unchanged answer costs no disk write). When no
 * registry answers, roster_query() returns that copy marked stale, for up to
 * cfg.max_stale_seconds (default 3600) after it was fetched; a copy dated
 * more than a minute in the future (a wrong clock, a damaged file) is never
 * served.
 *
 * CAVEATS
 *   - Synchronous calls block for up to cfg.timeout_ms per registry. Never
 *     call them on the loop thread of roster_client_start_loop(): use them
 *     from another thread, or before/after the loop runs.
 *   - Callbacks (cfg.event_cb, watch callbacks) run on the engine's loop
 *     thread. They must not block and must not call roster_client_stop() or
 *     roster_client_free(); they may call roster_endpoint_*() and
 *     roster_watch_*().
 *   - A registry that restarts with an empty data directory loses permanent
 *     registrations made by other tools; the engine re-registers only its
 *     own endpoints.
 *   - Every registry gets its own lease: lease ids are never shared.
 *   - The library installs no signal handlers. Its own thread blocks
 *     SIGPIPE and synchronous calls write with MSG_NOSIGNAL, so a registry
 *     vanishing mid-write is an error, not a signal. On the caller's loop
 *     (roster_client_start_loop()), libuv writes from the caller's thread:
 *     ignore SIGPIPE there, as libuv programs generally do.
 *
 * THREADING
 * Every function may be called from any thread, except where noted; a
 * struct roster_client serialises its own state with a mutex.
 *
 * ERRORS
 * Functions return 0 or a negative ROSTER_E* code (errno values are
 * negated, as in -ENOMEM). roster_strerror() describes a code, and
 * roster_errmsg() gives a one-line message naming the registry and the
 * server's own explanation for the last failed call on the calling thread.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <roster/version.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(ROSTER_BUILDING)
#define ROSTER_API __attribute__((visibility("default")))
#else
#define ROSTER_API
#endif
#define ROSTER_WUR __attribute__((warn_unused_result))

/** Error codes. Negative errno values pass through unchanged. */
enum roster_error {
	ROSTER_OK = 0,
	ROSTER_ENOMEM = -ENOMEM,
	ROSTER_EINVAL = -EINVAL,       /**< a bad argument (TTL, status, empty field...) */
	ROSTER_ENOENT = -ENOENT,       /**< no such instance or service */
	ROSTER_ETIMEDOUT = -ETIMEDOUT, /**< a registry did not answer in time */
	ROSTER_EAGAIN = -EAGAIN,       /**< the registry is shutting down or overloaded */
	ROSTER_ENOTSUP = -ENOTSUP,     /**< the registry does not know the operation */
	ROSTER_EPERM = -EPERM,         /**< refused: no token, a token outside its scopes,
					    or another lease's instance (final: do not retry) */
	ROSTER_ENAME = -1000,          /**< a service, protocol or host name is invalid */
	ROSTER_EADDR = -1010,          /**< not an IPv4 or IPv6 address */
	ROSTER_EPORT = -1011,          /**< a port outside 1..65535 */
	ROSTER_EPROTO = -1023,         /**< a malformed frame or message */
	ROSTER_ELEASE = -1030,         /**< the lease is unknown or expired */
	ROSTER_ELIMIT = -1031,         /**< a limit of the registry was reached */
	ROSTER_ESTORE = -1041,         /**< the registry could not store the change */
	ROSTER_EUNREACHABLE = -1100,   /**< no registry could be reached */
	ROSTER_ESERVER = -1101,        /**< the registry failed (internal error) */
	ROSTER_ESTATE = -1102,         /**< the call does not fit the client's state */
	ROSTER_EPARTIAL = -1103,       /**< a write was applied at some registries but
					* not at others (see roster_write_outcomes()) */
};

/** Status of an instance. */
enum roster_status {
	ROSTER_STATUS_UNSPECIFIED = 0, /**< in roster_endpoint_add(): UP */
	ROSTER_STARTING = 1,           /**< registered, not yet served */
	ROSTER_UP = 2,                 /**< served */
	ROSTER_DOWN = 3,               /**< draining or maintenance; not served */
};

/** How an instance ends. */
enum roster_expiry {
	ROSTER_EXPIRY_UNSPECIFIED = 0,
	ROSTER_TIMED = 1,  /**< lives while its lease is renewed */
	ROSTER_NEVER = 2,  /**< permanent until deregistered */
	ROSTER_STATIC = 3, /**< from the registry's --static file; not changed through the API */
};

/** One metadata entry. */
struct roster_meta {
	const char *key;
	const char *value;
};

/**
 * An instance of a service. As an argument, the caller owns every pointer
 * (the library copies what it keeps). As a result, the memory belongs to the
 * structure that returned it (see roster_result_free()).
 * Identity is (service, protocol, host, port).
 */
struct roster_instance {
	const char *service;  /**< a DNS label, no underscore: "metadata" */
	const char *protocol; /**< a DNS label, no underscore: "hm" */
	const char *host;     /**< host name; results carry it lower case with a trailing dot */
	uint16_t port;        /**< 1..65535 */
	const char *const *addresses; /**< IPv4/IPv6 text forms */
	size_t n_addresses;
	uint16_t priority; /**< SRV priority */
	uint16_t weight;   /**< SRV weight, also weights A/AAAA shuffles */
	const struct roster_meta *metadata;
	size_t n_metadata;
	enum roster_status status;
	/* Set by the registry; ignored in arguments. */
	uint64_t registered_at_ms; /**< wall clock, ms since the Unix epoch */
	uint64_t status_since_ms;  /**< wall clock of the last status change */
	enum roster_expiry expiry;
	uint64_t lease; /**< 0 for permanent instances */
	bool stale;     /**< kept by the registry's self-preservation */
	void *priv;     /**< the library's; NULL in arguments */
};

/** Kinds of engine events (struct roster_event). */
enum roster_event_kind {
	ROSTER_EVENT_CONNECTED = 1,   /**< a registry connection is up */
	ROSTER_EVENT_DISCONNECTED,    /**< it went down; error says why; reconnect follows */
	ROSTER_EVENT_LEASE,           /**< a lease was opened (lease = its id) */
	ROSTER_EVENT_LEASE_LOST,      /**< the registry did not know the lease; re-opening */
	ROSTER_EVENT_REGISTERED,      /**< an endpoint is registered (revision, endpoint) */
	ROSTER_EVENT_REGISTER_FAILED, /**< the registry refused an endpoint (error, message);
				       * ROSTER_ELIMIT also when a registry with a smaller
				       * --max-frame closed on its request */
	ROSTER_EVENT_HEARTBEAT,       /**< a heartbeat was acknowledged */
	ROSTER_EVENT_DEREGISTERED,    /**< the lease was closed at shutdown */
};

/**
 * An engine event. Borrowed for the callback only.
 */
struct roster_event {
	enum roster_event_kind kind;
	size_t registry;    /**< index into cfg.servers */
	const char *server; /**< cfg.servers[registry] */
	uint64_t lease;
	uint64_t revision; /**< REGISTERED: DNS serves the endpoint from here */
	/** REGISTERED, REGISTER_FAILED; NULL for the REGISTER_FAILED that says
	 * a registry refused the token (cfg.token), which is no one endpoint's */
	const struct roster_instance *endpoint;
	int error;           /**< DISCONNECTED, REGISTER_FAILED, LEASE_LOST */
	const char *message; /**< the registry's explanation, or "" */
};

/** Engine event callback; runs on the engine's loop thread. */
typedef void (*roster_event_cb)(const struct roster_event *ev, void *ud);

/** Client configuration. Zero fields take the documented defaults. */
struct roster_config {
	const char *const *servers; /**< "127.0.0.1:7600", "[::1]:7600"; copied */
	size_t n_servers;           /**< 0: {"127.0.0.1:7600"} */
	uint32_t ttl_seconds;       /**< lease TTL, 1..3600; 0: 10 */
	uint32_t timeout_ms;        /**< per-request and connect timeout; 0: 2000 */
	uint32_t backoff_min_ms;    /**< 0: 100 */
	uint32_t backoff_max_ms;    /**< 0: 10000; ttl/3 while a lease is at stake */
	uint32_t max_stale_seconds; /**< how long a stale copy is served; 0: 3600 */
	const char *cache_path;     /**< file for the last-known-good copies, or NULL */
	roster_event_cb event_cb;   /**< optional */
	void *event_ud;
	/** The API token for registries started with --api-tokens, or NULL;
	 * copied. Sent as Authenticate, the first request of every connection
	 * (the engine's and each one-shot call's). A registry that refuses it
	 * answers PERMISSION_DENIED (ROSTER_EPERM) to what follows; one
	 * without tokens accepts any. */
	const char *token;
};

struct roster_client;
struct uv_loop_s;

/**
 * The version of the library the program runs with, "MAJOR.MINOR.PATCH";
 * ROSTER_VERSION (roster/version.h) is the one it was compiled against.
 * @return a static string.
 */
ROSTER_API const char *roster_version(void);

/**
 * A human-readable description of a code.
 * @return a static string.
 */
ROSTER_API const char *roster_strerror(int err);

/**
 * A one-line message about the last failed call on this thread: what failed,
 * at which registry, and the registry's own message when it sent one.
 * @return a thread-local string, valid until the next libroster call on
 *         this thread; "" when there is none.
 */
ROSTER_API const char *roster_errmsg(void);

/**
 * Create a client. Connects to nothing yet; loads cfg->cache_path if it
 * exists (an unreadable or corrupt cache is ignored: it is only a cache).
 * @param cfg configuration, copied; NULL for every default.
 * @param out set to the new client on success.
 * @return 0, ROSTER_ENOMEM, ROSTER_EINVAL (TTL out of range, servers NULL),
 *         ROSTER_EADDR/ROSTER_EPORT (a server is not "ADDRESS:PORT").
 */
ROSTER_API ROSTER_WUR int roster_client_new(
		const struct roster_config *cfg, struct roster_client **out);

/**
 * Start the engine on a thread of its own with a private loop.
 * @return 0, ROSTER_ESTATE (already started), ROSTER_ENOMEM, or a negated
 *         errno from pthread_create()/libuv.
 */
ROSTER_API ROSTER_WUR int roster_client_start(struct roster_client *c);

/**
 * Start the engine on the caller's loop. Every engine callback then runs on
 * that loop's thread, and roster_client_stop() must be called on it.
 * @param loop a libuv loop (uv_loop_t *); it must outlive the engine.
 * @return 0, ROSTER_ESTATE, or a negated errno from libuv.
 */
ROSTER_API ROSTER_WUR int roster_client_start_loop(struct roster_client *c, struct uv_loop_s *loop);

/**
 * Stop the engine: deregister the lease at every connected registry (waiting
 * at most cfg.timeout_ms for the answers), close every handle.
 * With roster_client_start(), blocks until the thread has exited. With
 * roster_client_start_loop(), returns at once; the handles close as the
 * caller's loop runs (uv_run() returns when nothing else is active).
 * NULL-safe; a no-op when not started or already stopped.
 */
ROSTER_API void roster_client_stop(struct roster_client *c);

/**
 * Stop the engine if it runs (see roster_client_stop()), free everything.
 * Each query already wrote the cache file when its answer changed; only a
 * change whose write failed is tried once more here. NULL-safe. With roster_client_start_loop(),
 * call it only after the loop has run the engine's handles closed.
 */
ROSTER_API void roster_client_free(struct roster_client *c);

/**
 * Add an endpoint to the wanted set (or update it, when its identity is
 * already there). Registered with every registry under its lease as soon as
 * the engine is connected; before roster_client_start*(), only remembered.
 * Does not wait: outcomes come as ROSTER_EVENT_REGISTERED or
 * ROSTER_EVENT_REGISTER_FAILED events; see also roster_client_wait().
 * @param ep the endpoint; copied. status UNSPECIFIED means UP.
 * @return 0, ROSTER_ENOMEM, ROSTER_ENAME, ROSTER_EPORT, ROSTER_EADDR,
 *         ROSTER_EINVAL (a status that cannot be set, an empty metadata key),
 *         ROSTER_ELIMIT (its registration would be over the 1 MiB frame
 *         limit: no registry with the default --max-frame would read it).
 */
ROSTER_API ROSTER_WUR int roster_endpoint_add(
		struct roster_client *c, const struct roster_instance *ep);

/**
 * Remove an endpoint from the wanted set and deregister it everywhere.
 * Only the identity fields of @p ep are read.
 * @return 0, ROSTER_ENOENT (not in the set), ROSTER_ENAME, ROSTER_EPORT.
 */
ROSTER_API ROSTER_WUR int roster_endpoint_remove(
		struct roster_client *c, const struct roster_instance *ep);

/**
 * Change the status of an endpoint of the wanted set (e.g. STARTING -> UP
 * once ready, UP -> DOWN to drain), at every registry. Kept across
 * re-registrations.
 * @return 0, ROSTER_ENOENT, ROSTER_EINVAL (status UNSPECIFIED).
 */
ROSTER_API ROSTER_WUR int roster_endpoint_set_status(struct roster_client *c,
		const struct roster_instance *ep, enum roster_status status);

/**
 * Wait until every endpoint of the wanted set is settled since it was last
 * added or changed: registered by at least one registry, or refused by one
 * (invalid, over a limit). 0 therefore does not mean registered: a refusal
 * comes as ROSTER_EVENT_REGISTER_FAILED, and only the events tell the two
 * apart. Only with roster_client_start() (never on the engine's loop
 * thread).
 * @param timeout_ms how long to wait.
 * @return 0, ROSTER_ETIMEDOUT, ROSTER_ESTATE (engine not started on its own
 *         thread).
 */
ROSTER_API ROSTER_WUR int roster_client_wait(struct roster_client *c, uint32_t timeout_ms);

/**
 * The effective per-request timeout: cfg.timeout_ms, or its default (2000)
 * when that was 0. For sizing waits on the client's behalf (e.g. a
 * roster_client_wait() covering a connect and a few exchanges) without
 * repeating the library's default.
 * @return milliseconds, never 0.
 */
ROSTER_API uint32_t roster_client_timeout_ms(const struct roster_client *c);

/** Query flags. */
enum roster_query_flags {
	ROSTER_QUERY_ALL = 1 << 0,      /**< also STARTING and DOWN instances */
	ROSTER_QUERY_NO_CACHE = 1 << 1, /**< never answer from the stale copy */
};

/** The answer of roster_query(). Free with roster_result_free(). */
struct roster_result {
	struct roster_instance *instances;
	size_t n_instances;
	uint64_t revision;      /**< the registry's revision of the answer */
	bool preserving;        /**< the registry is in self-preservation */
	bool stale;             /**< no registry answered: this is the last known copy */
	uint64_t fetched_at_ms; /**< wall clock when the copy was fetched */
	char server[64];        /**< the registry that answered (for a stale copy: that
				 * fetched it) */
};

/**
 * Instances of a service, from the first registry that answers.
 * When none answers and a copy fetched less than cfg.max_stale_seconds ago
 * exists (memory, then cfg.cache_path), returns it with stale = true.
 * @param service the service; @param protocol the protocol or NULL for all.
 * @param flags ROSTER_QUERY_* flags.
 * @param out set to the result on success (also for zero instances).
 * @return 0, ROSTER_ENAME, ROSTER_ENOMEM, ROSTER_EUNREACHABLE (no registry
 *         answered and no usable copy), or an error the registry returned.
 * @note Blocks up to cfg.timeout_ms per registry. The result is owned by the
 *       caller and independent of the client.
 */
ROSTER_API ROSTER_WUR int roster_query(struct roster_client *c, const char *service,
		const char *protocol, unsigned flags, struct roster_result **out);

/** Free a query result. NULL-safe. */
ROSTER_API void roster_result_free(struct roster_result *r);

/** One service of roster_list(). */
struct roster_service {
	const char *service;
	const char *protocol;
	uint32_t up, down, starting, stale;
};

/** The answer of roster_list(). Free with roster_list_free(). */
struct roster_list {
	struct roster_service *services;
	size_t n_services;
	uint64_t revision;
	char server[64]; /**< the registry that answered */
};

/**
 * Every service of the first registry that answers, with instance counts.
 * @return 0, ROSTER_ENOMEM, ROSTER_EUNREACHABLE, or a registry error.
 */
ROSTER_API ROSTER_WUR int roster_list(struct roster_client *c, struct roster_list **out);

/** Free a list. NULL-safe. */
ROSTER_API void roster_list_free(struct roster_list *l);

/** Client error reports of one code (see roster_stats). */
struct roster_report_count {
	char code[64];
	uint64_t count;
};

#define ROSTER_STATS_MAX_REPORTS 64

/** Registry statistics (roster_stats()). A plain value: no memory to free. */
struct roster_stats {
	uint64_t revision;
	bool preserving;
	uint64_t leases, instances, instances_up, instances_stale, services;
	uint64_t heartbeats_total, registrations_total, expirations_total;
	uint64_t api_connections, store_bytes, uptime_ms, journal_first_revision;
	uint64_t dns_queries_total;
	char site[64];
	char domain[256];
	char zone[256];  /**< "services.<site>.<domain>." */
	char server[64]; /**< the registry that answered */
	/** Client error reports counted per code (--report-zone), the
	 * ROSTER_STATS_MAX_REPORTS largest counts. */
	struct roster_report_count reports[ROSTER_STATS_MAX_REPORTS];
	size_t n_reports;
};

/**
 * Statistics of the first registry that answers.
 * @return 0, ROSTER_EUNREACHABLE, or a registry error.
 */
ROSTER_API ROSTER_WUR int roster_stats(struct roster_client *c, struct roster_stats *out);

/**
 * Ask the first configured registry (not the first that answers: a backup
 * is of one registry's store) for a hot backup of its store to @p path, a
 * file on the registry's host (absolute). Returns once the file is on disk.
 * Waits at least ROSTER_BACKUP_TIMEOUT_MS, or the client's timeout if
 * longer: a large store takes seconds to copy.
 * @param bytes set to the backup's size; @p duration_ms to how long it took
 *        (either may be NULL).
 * @return 0; ROSTER_EUNREACHABLE, ROSTER_ETIMEDOUT; or the registry's
 *         error (ROSTER_EINVAL for a relative path, ROSTER_EAGAIN when a
 *         backup runs, ROSTER_ENOTSUP from a registry without backups,
 *         ROSTER_ENOENT for a missing directory, ROSTER_ESERVER for another
 *         file error); roster_errmsg() names it.
 */
ROSTER_API ROSTER_WUR int roster_backup(
		struct roster_client *c, const char *path, uint64_t *bytes, uint64_t *duration_ms);

/** The least time roster_backup() waits for its answer. */
#define ROSTER_BACKUP_TIMEOUT_MS 600000u

/** What one registry did with a one-shot write (roster_write_outcomes()). */
enum roster_outcome_kind {
	ROSTER_OUTCOME_APPLIED = 1, /**< it made the change */
	ROSTER_OUTCOME_NOT_FOUND,   /**< it did not know the instance */
	ROSTER_OUTCOME_UNREACHABLE, /**< no answer: connect failed, timed out, a bad frame */
	ROSTER_OUTCOME_REFUSED,     /**< it answered with another error */
};

/** One registry's outcome of a one-shot write. */
struct roster_outcome {
	enum roster_outcome_kind kind;
	int error;         /**< 0 when applied; the registry's code, or why it did not answer */
	uint64_t revision; /**< APPLIED: the registry's revision after the change */
	char message[256]; /**< the registry's explanation (or the reason it did not
			    * answer); "" when applied */
};

/** roster_write_outcomes() lists at most this many registries. */
#define ROSTER_OUTCOMES_MAX 16

/**
 * Deregister one instance (any instance, not only this client's) at every
 * registry. Only the identity fields of @p id are read.
 *
 * One-shot writes (this, roster_instance_set_status() and
 * roster_instance_register_permanent()) go to every registry of the list;
 * each registry's outcome is applied, not found, refused or unreachable
 * (roster_write_outcomes()). The verdict does not depend on the order of
 * the list:
 *   - 0 when every registry applied it or did not know the instance, and at
 *     least one applied it;
 *   - ROSTER_EPARTIAL when one applied it but another refused it or did not
 *     answer: the change is live at some registries only, and nothing
 *     retries it (a permanent instance stays on, or is missing from, a
 *     registry that was down);
 *   - otherwise the worst outcome, refused > unreachable > not found:
 *     the registry's code (e.g. ROSTER_ELIMIT), ROSTER_EUNREACHABLE, or
 *     ROSTER_ENOENT when no registry knew the instance.
 * roster_errmsg() names the registry whose outcome decided the code.
 * @param revision set, when not NULL, to the revision of the first registry
 *        that applied it (also with ROSTER_EPARTIAL).
 * @return 0, ROSTER_EPARTIAL, ROSTER_ENOENT, ROSTER_EUNREACHABLE, a registry
 *         error, ROSTER_ENAME, ROSTER_EPORT.
 */
ROSTER_API ROSTER_WUR int roster_instance_deregister(
		struct roster_client *c, const struct roster_instance *id, uint64_t *revision);

/**
 * Set the status of one instance at every registry (see
 * roster_instance_deregister() for the outcome rules).
 * @return as roster_instance_deregister(), plus ROSTER_EINVAL for
 *         ROSTER_STATUS_UNSPECIFIED.
 */
ROSTER_API ROSTER_WUR int roster_instance_set_status(struct roster_client *c,
		const struct roster_instance *id, enum roster_status status, uint64_t *revision);

/**
 * Register one instance once at every registry, without a lease (permanent,
 * "expires NEVER") and without the engine (see roster_instance_deregister()
 * for the outcome rules).
 * @return as roster_instance_deregister(), plus the roster_endpoint_add() codes.
 */
ROSTER_API ROSTER_WUR int roster_instance_register_permanent(
		struct roster_client *c, const struct roster_instance *inst, uint64_t *revision);

/**
 * Each registry's outcome of the last one-shot write (roster_instance_*())
 * made on the calling thread, in the order of cfg.servers; only the first
 * ROSTER_OUTCOMES_MAX registries are listed. Empty when that write failed
 * before sending anything (an invalid argument).
 * @param out set to the thread-local array, valid until the next one-shot
 *        write on this thread.
 * @return the number of entries.
 */
ROSTER_API size_t roster_write_outcomes(const struct roster_outcome **out);

/** Kinds of watch events. */
enum roster_watch_kind {
	ROSTER_WATCH_SNAPSHOT_BEGIN = 1, /**< a full state follows: forget what you had */
	ROSTER_WATCH_SNAPSHOT_END = 2,   /**< the snapshot is complete at revision */
	ROSTER_WATCH_UPSERT = 3,         /**< an instance was added or changed */
	ROSTER_WATCH_REMOVE = 4,         /**< an instance was removed (reason says why) */
	ROSTER_WATCH_RESYNC = 5,         /**< the connection was lost; a snapshot or the
					  * missed changes follow on reconnect */
};

/** A watch event; borrowed for the callback only. */
struct roster_watch_event {
	enum roster_watch_kind kind;
	uint64_t revision;
	const struct roster_instance *instance; /**< UPSERT, REMOVE; else NULL */
	const char *reason;                     /**< REMOVE: "deregistered", "expired"... */
	const char *server;
};

/** Watch callback; runs on the engine's loop thread. */
typedef void (*roster_watch_cb)(const struct roster_watch_event *ev, void *ud);

struct roster_watch;

/**
 * Watch changes of a service (or of all, with NULL). Watches ride on one
 * registry at a time: the first one to connect. Starts with a
 * snapshot; after a reconnect to the same registry, resumes from the last
 * revision seen (the registry sends a snapshot instead when its journal does
 * not reach back that far); when that registry fails and another one is
 * connected, continues there from a snapshot (revisions are per registry).
 * @param out set to the watch handle, to pass to roster_watch_cancel().
 * @return 0, ROSTER_ENAME, ROSTER_ENOMEM.
 * @note Events arrive only while the engine runs.
 */
ROSTER_API ROSTER_WUR int roster_watch_start(struct roster_client *c, const char *service,
		roster_watch_cb cb, void *ud, struct roster_watch **out);

/**
 * Cancel a watch; no callback of it runs after this returns (on the loop
 * thread) or after the next loop iteration (other threads). Frees @p w.
 * NULL-safe.
 */
ROSTER_API void roster_watch_cancel(struct roster_client *c, struct roster_watch *w);

/**
 * The registries of a site, from the sites file the roster CLI reads
 * (SITE ADDRESS:PORT lines, '#' comments; a site on several lines has
 * several registries, in file order). Pass them as cfg.servers so the
 * program registers with every registry of its site, as `roster -s SITE`
 * does.
 * @param site the site ("lon6").
 * @param path the file; NULL: $ROSTER_SITES, else /etc/roster/sites.conf.
 * @param out set to an array of @p n "ADDRESS:PORT" strings; free it with
 *        roster_site_servers_free().
 * @return 0; ROSTER_ENOENT (the site is not in the file), ROSTER_EINVAL (a
 *         malformed line, or one registry listed twice for the site),
 *         ROSTER_EADDR, ROSTER_ELIMIT (over 64 registries), ROSTER_ENOMEM,
 *         or a negated errno (the file cannot be read); roster_errmsg()
 *         names the file and line.
 */
ROSTER_API ROSTER_WUR int roster_site_servers(
		const char *site, const char *path, char ***out, size_t *n);

/** Free what roster_site_servers() returned. NULL-safe. */
ROSTER_API void roster_site_servers_free(char **servers, size_t n);

/** "STARTING", "UP", "DOWN" or "UNSPECIFIED". */
ROSTER_API const char *roster_status_name(enum roster_status status);

#ifdef __cplusplus
}
#endif
