/*
 * server/server.h - rosterd's composition root: one struct server holding
 * every module, and the loop glue between them.
 *
 * Owns: the store and its LMDB persistence, the expiry tick, the per-
 * iteration group commit, and the fan-out of store changes to the API
 * (watchers) and DNS. Modules start in order (persist, store, api, dns,
 * http) and stop in reverse.
 *
 * Group commit: modules write through the store during an iteration; a
 * uv_check handle commits the batch once per iteration, then tells the API
 * to send the replies it held (server_commit_cb). Replies to writes leave
 * only after their commit.
 *
 * Contexts: the API, DNS and HTTP modules never see this struct (the
 * renderers of server/http/metrics.c still read it). server_start() gives each
 * what it uses (the loop, the store, its own config section) and callbacks
 * for what it asks back (map growth, the DNS figures of the API's Stats, the
 * HTTP pages); server_limits_reload() hands each its reloaded section.
 *
 * Listeners: the three TCP listeners (the API, DNS over TCP, HTTP) are
 * server/net/tcp.h's, one listener set each, plugged in by their module;
 * admission (server/net/conncap.h), the deadline, the write queue and close
 * are written once there. The modules keep only what differs: framing, how
 * to say no, and what a connection holds.
 *
 * Threads: everything here runs on the main loop thread.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "server/config.h"
#include "server/registry/persist.h"
#include "server/registry/store.h"

struct api;
struct dnsio;
struct http;

struct server {
	uv_loop_t *loop;
	struct server_config cfg;
	struct persist *persist;
	struct store *store;
	uint64_t store_generation;   /**< bumped when the store is rebuilt from disk */
	struct api *api;
	struct dnsio *dnsio;
	struct http *http;

	uv_timer_t tick;             /**< expiry, every STORE_TICK_MS */
	uint64_t ticks;
	uv_check_t commit;           /**< group commit, once per iteration */
	uint64_t start_mono;         /**< uv_now() at start */
	uint64_t start_wall_ms;
	bool stopping;
	bool preserving_logged;      /**< last self-preservation state we logged */
	uint64_t commit_failures;
	int exit_code;
};

/**
 * Open the store and load it, before the loop runs. Logs what it loaded.
 * @param srv zeroed, with cfg and loop set.
 * @param err one-line message on failure.
 * @return 0, or a negative code (exit 2 for an unusable data dir).
 */
__attribute__((warn_unused_result)) int server_open(struct server *srv, char *err, size_t errsz);

/**
 * Start the tick and the commit handle, then the modules in order: the API,
 * DNS, HTTP (server_stop() stops them in reverse).
 * @return 0, or a negative code with @p err set (e.g. address in use).
 */
__attribute__((warn_unused_result)) int server_start(struct server *srv, char *err,
		size_t errsz);

/**
 * Run the loop until no handle is left (uv_run(UV_RUN_DEFAULT)); with DNS
 * worker threads, through dnsio_wait(), which lets the workers read the
 * store while this thread waits for events.
 */
void server_run(struct server *srv);

/**
 * Stop accepting, close every handle (the loop then runs until none is
 * left), commit what is pending. Idempotent.
 */
void server_stop(struct server *srv);

/** After the loop has ended: close LMDB, free everything. NULL-safe parts. */
void server_close(struct server *srv);

/**
 * Apply the reloaded settings in srv->cfg (SIGHUP): the store's limits and
 * each module's limits section. Open connections stay.
 */
void server_limits_reload(struct server *srv);

/**
 * Make room after RS_ESTORE_FULL and say whether to retry. Logs growth.
 * @return true when the map grew and the write should be retried once.
 */
bool server_store_grow(struct server *srv);
