/*
 * server/server.h - rosterd's composition root: one struct server holding
 * every module, and the loop glue between them.
 *
 * Owns: the store and its LMDB persistence, the expiry tick, the per-
 * iteration group commit, and the fan-out of store changes to the API
 * (watchers) and DNS. Modules start in order (persist, store, api, dns,
 * http) and stop in reverse.
 *
 * Group commit: modules write through the store during an iteration; once
 * per iteration a uv_check handle hands the pending batch to persist's
 * writer thread if no batch is in flight (commit_pump), and seals the API's
 * held replies as that batch's. When the writer is done (commit_done_cb),
 * the API sends them (or errors, if the commit failed, and the store is
 * reloaded in place), and the next batch goes. Replies to writes leave only
 * after their commit; the loop never waits for the disk.
 *
 * Listeners: all three TCP listeners (DNS, API, HTTP) open with
 * server_tcp_listen() and accept through
 * server_tcp_accept(), which admits each connection against the module's
 * caps in all and per source (server/net/conncap.h). The modules keep only
 * what differs: how to say no, and what a connection holds.
 *
 * Threads: everything here runs on the main loop thread; persist's writer
 * thread commits the batches and reports each one back on this thread
 * (commit_done_cb, through uv_async).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "server/config.h"
#include "server/net/conncap.h"
#include "server/registry/persist.h"
#include "server/registry/store.h"

struct api;
struct dnsio;
struct http;
struct stats_snapshot;

struct server {
	uv_loop_t *loop;
	struct server_config cfg;
	struct persist *persist;
	struct store *store;
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
	uint64_t refusals_logged;    /**< persist_refusals() when we last said the map is full */
	uint64_t full_logged_mono;
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
 * Start the tick and the commit handle, then the API listeners.
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
 * Open one TCP listener of a module: init @p tcp on the loop (data set to
 * @p data), bind it to @p sa (IPv6 addresses only for IPv6) and listen.
 * The caller logs success: DNS names its UDP socket in the same line.
 * @param what the module's name, for messages ("api", "http", "dns").
 * @param err a one-line message naming the address on failure.
 * @return 0, or a libuv error code. The handle is initialised either way:
 *         the caller closes it.
 */
__attribute__((warn_unused_result)) int server_tcp_listen(struct server *srv, uv_tcp_t *tcp,
		void *data, const struct sockaddr *sa, int backlog, uv_connection_cb cb,
		const char *what, char *err, size_t errsz);

/**
 * The accept path of every TCP listener (DNS, API, HTTP): init @p client on
 * the loop (data set to @p data), accept it, read its peer address and admit
 * it against @p cap under @p lim (server/net/conncap.h: a global cap and a cap
 * per source, IPv4 /32 or IPv6 /64). Refusals are logged at debug level.
 * @param what the module's name, for messages ("dns", "api", "http").
 * @param peer its peer address (family AF_UNSPEC when it could not be read).
 * @param ticket zeroed; held when the connection is admitted.
 * @return CONNCAP_ADMIT (0): admitted; give @p ticket back with
 *         conncap_release() when the connection is freed.
 *         CONNCAP_OVER_TOTAL, CONNCAP_OVER_SOURCE, CONNCAP_NO_MEMORY (> 0):
 *         accepted but refused; the caller closes it at once, with a word
 *         first if its protocol has one (accept-and-close).
 *         A negative libuv code: uv_accept() failed.
 * @note @p client is initialised whatever the result: the caller closes it.
 */
__attribute__((warn_unused_result)) int server_tcp_accept(struct server *srv,
		uv_stream_t *listener, uv_tcp_t *client, void *data, struct conncap *cap,
		const struct conncap_limits *lim, const char *what, struct sockaddr_storage *peer,
		struct conncap_ticket *ticket);

/**
 * Copy every module's counters into @p out at this instant: the store's
 * sizes and counters, LMDB's figures, the API's, DNS's (answer engines,
 * transport and client reports, summed over the worker threads under their
 * locks) and HTTP's, with the identity (site, domain, zone) and the uptime.
 * A module that is not running (srv->api, srv->dnsio, srv->http or
 * srv->persist NULL) leaves its part zero, and stats_dns.running or
 * stats_http.running false. The renderers read only the snapshot
 * (server/stats.h).
 * @param srv srv->store must be open.
 * @param out overwritten.
 */
void server_stats_collect(const struct server *srv, struct stats_snapshot *out);

/** Milliseconds since the Unix epoch (wall clock, for display only). */
uint64_t server_wall_ms(void);


