/*
 * client/core.h - the state of a struct roster_client and the helpers every
 * layer above it shares.
 *
 * Model: the wanted state (endpoints, watches) lives here under c->mu, a
 * recursive mutex: the public calls (client.c) lock it from any thread, and
 * the engine (engine.c and the files below it) holds it while it runs one
 * callback, so a user callback may call back into the client on the loop
 * thread. For each endpoint and each registry, the generation the registry
 * acknowledged (acked) and the one in flight (sent) tell the engine what is
 * left to send; a registry holds the wanted state when acked == gen for
 * every endpoint. Also here: the strings of error codes and statuses
 * (roster_strerror(), roster_status_name()), which jsonify.c and the engine
 * use too.
 *
 * Threads: the core_* functions need c->mu held (they do not lock); the
 * string functions are pure, any thread.
 *
 * Must not: call up into client.c, the engine, the cache or the network;
 * core.c sits below all of them. No logging.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "roster/client.h"

/** One endpoint of the wanted set. */
struct ep {
	struct roster_instance inst; /**< packed */
	uint64_t uid;                /**< never reused within a client */
	uint64_t gen;                /**< bumped by every change */
	bool removed;                /**< wanted absent: deregister, then drop */
	uint64_t *acked;             /**< per registry: the generation it holds */
	uint64_t *sent;              /**< per registry: the generation in flight, or 0 */
	uint64_t *failed;            /**< per registry: a generation it refused for good */
};

struct roster_watch {
	struct roster_watch *next;
	uint64_t req_id; /**< id of the Watch request on the current connection */
	char *service;   /**< "" for every service */
	roster_watch_cb cb;
	void *ud;
	uint64_t last_revision; /**< where the registry's stream stands: resume from here */
	bool subscribed;        /**< a Watch request is active on the connection */
	bool in_snapshot;       /**< between SNAPSHOT_BEGIN and SNAPSHOT_END */
	bool resync_due;        /**< owed a RESYNC callback (watch.c, watch_lost()) */
};

struct cache;
struct engine;

struct roster_client {
	struct roster_config cfg; /**< servers and cache_path point into this client */
	char **servers;
	struct sockaddr_storage *addrs;
	size_t n_servers;
	char *cache_path;
	char *token; /**< cfg.token's copy, or NULL */

	/* The last-known-good cache (cache.h), only client.c's queries use
	 * it. It has its own lock: a query writing the cache file must not
	 * hold up the engine. */
	pthread_mutex_t cache_mu;
	struct cache *cache;

	pthread_mutex_t mu; /**< recursive; guards everything below */
	pthread_cond_t cond;
	struct ep **eps;
	size_t n_eps, cap_eps;
	uint64_t next_uid;
	struct roster_watch *watches;
	uint64_t *cancels; /**< Watch ids to cancel on the registry carrying the watches */
	size_t n_cancels, cap_cancels;
	uint64_t next_id;      /**< request ids */
	struct engine *engine; /**< NULL until started */
	bool engine_thread;    /**< started with roster_client_start() */
};

/** A fresh request id (c->mu held). */
uint64_t core_next_id(struct roster_client *c);

/**
 * A new endpoint with zeroed per-registry generations (one slot per server
 * of @p c); the caller sets inst, uid and gen.
 * @return it (free with core_ep_free()), or NULL (no memory).
 */
struct ep *core_ep_new(const struct roster_client *c);

/** Free an endpoint and the instance it holds. NULL-safe. */
void core_ep_free(struct ep *e);

/** Find an endpoint by identity (c->mu held). @return it or NULL. */
struct ep *core_ep_find(struct roster_client *c, const struct roster_instance *id);

/** Find an endpoint by its uid (c->mu held). @return it or NULL. */
struct ep *core_ep_by_uid(struct roster_client *c, uint64_t uid);

/** Drop an endpoint from the set and free it (c->mu held). */
void core_ep_drop(struct roster_client *c, struct ep *e);

/**
 * Drop @p e if it is removed and every registry has dropped it (acked its
 * last generation) (c->mu held).
 * @return true when it was dropped (then @p e is freed).
 */
bool core_ep_drop_if_done(struct roster_client *c, struct ep *e);

/** How many endpoints are wanted present (c->mu held). */
size_t core_live_eps(const struct roster_client *c);

/** Call the event callback, if any (c->mu held). */
void core_emit(struct roster_client *c, struct roster_event *ev);
