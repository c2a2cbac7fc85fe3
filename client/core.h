/*
 * client/core.h - the state of a struct roster_client, shared by client.c
 * (the public calls, any thread) and engine.c (the libuv side).
 *
 * The wanted state (endpoints, watches) lives here under c->mu, a recursive
 * mutex: public calls lock it from any thread, and the engine holds it
 * while it runs one callback (so a user callback may call back into the
 * client on the loop thread). For each endpoint and each registry, the
 * generation the registry acknowledged (acked) and the one in flight (sent)
 * tell the engine what is left to send; a registry holds the wanted state
 * when acked == gen for every endpoint.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "client/cache.h"
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
	uint64_t req_id;       /**< id of the Watch request on the current connection */
	char *service;         /**< "" for every service */
	roster_watch_cb cb;
	void *ud;
	uint64_t last_revision; /**< where the registry's stream stands: resume from here */
	bool subscribed;       /**< a Watch request is active on the connection */
	bool in_snapshot;      /**< between SNAPSHOT_BEGIN and SNAPSHOT_END */
	bool resync_due;       /**< owed a RESYNC callback (engine.c, reg_watches_lost) */
};

struct engine;

struct roster_client {
	struct roster_config cfg;     /**< servers and cache_path point into this client */
	char **servers;
	struct sockaddr_storage *addrs;
	size_t n_servers;
	char *cache_path;

	/* The cache has its own lock: a query writing the cache file must not
	 * hold up the engine. */
	pthread_mutex_t cache_mu;
	struct cache cache;

	pthread_mutex_t mu; /**< recursive; guards everything below */
	pthread_cond_t cond;
	struct ep **eps;
	size_t n_eps, cap_eps;
	uint64_t next_uid;
	struct roster_watch *watches;
	uint64_t *cancels; /**< Watch ids to cancel on registry 0 */
	size_t n_cancels;
	uint64_t next_id;  /**< request ids */
	struct engine *engine; /**< NULL until started */
	bool engine_thread;    /**< started with roster_client_start() */
};

/** A fresh request id (c->mu held). */
uint64_t core_next_id(struct roster_client *c);

/** Find an endpoint by identity (c->mu held). @return it or NULL. */
struct ep *core_ep_find(struct roster_client *c, const struct roster_instance *id);

/** Drop an endpoint from the set and free it (c->mu held). */
void core_ep_drop(struct roster_client *c, struct ep *e);

/** Call the event callback, if any (c->mu held). */
void core_emit(struct roster_client *c, struct roster_event *ev);

/**
 * Start the engine on @p loop (own_loop: run it on a new thread).
 * @return 0, ROSTER_ENOMEM, or a negated errno.
 */
__attribute__((warn_unused_result)) int engine_start(struct roster_client *c, void *loop,
		bool own_thread);

/** Tell the engine that the wanted state changed. Any thread. */
void engine_kick(struct engine *e);

/**
 * Stop the engine: deregister leases, close handles. With its own thread,
 * blocks until the thread has ended and frees the engine; on the caller's
 * loop, starts the stop (c->engine is freed by engine_free()).
 */
void engine_stop(struct roster_client *c);

/** Free a stopped engine. NULL-safe. */
void engine_free(struct engine *e);
