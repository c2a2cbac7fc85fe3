/*
 * server/server.h - rosterd's composition root: one struct server holding
 * every module, and the loop glue between them.
 *
 * Owns: the store and its LMDB persistence, the expiry tick, the per-
 * iteration group commit, and the fan-out of store changes to the API
 * (watchers) and DNS, and of committed serials to NOTIFY. Modules start in
 * order (persist, store, api, dns, http, notify) and stop in reverse.
 *
 * Group commit: modules write through the store during an iteration; once
 * per iteration a uv_check handle hands the pending batch to persist's
 * writer thread if no batch is in flight (commit_pump), and seals the API's
 * held replies as that batch's. When the writer is done (commit_done_cb),
 * the API sends them (or errors, if the commit failed, and the store is
 * reloaded in place), and the next batch goes. Replies to writes leave only
 * after their commit; the loop never waits for the disk.
 *
 * Contexts: the API, DNS and HTTP modules never see this struct, nor do
 * the renderers (they read a stats snapshot, server/stats.h). server_start()
 * gives each module what it uses (the loop, the store, its own config
 * section) and callbacks for what it asks back (the API's Stats snapshot,
 * the HTTP pages, both from server_stats_collect());
 * server_limits_reload() hands each its reloaded section.
 *
 * Listeners: the three TCP listeners (the API, DNS over TCP, HTTP) are
 * server/net/tcp.h's, one listener set each, plugged in by their module;
 * admission (server/net/conncap.h), the deadline, the write queue and close
 * are written once there. The modules keep only what differs: framing, how
 * to say no, and what a connection holds.
 *
 * Threads: everything here runs on the main loop thread; persist's writer
 * thread commits the batches and reports each one back on this thread
 * (commit_done_cb, through uv_async).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/hist.h"
#include "server/config.h"
#include "server/registry/persist.h"
#include "server/registry/store.h"

struct acl;
struct api;
struct dnsio;
struct http;
struct notify;
struct stats_snapshot;
struct static_set;

struct server {
	uv_loop_t *loop;
	struct server_config cfg;
	struct persist *persist;
	struct store *store;
	struct api *api;
	struct dnsio *dnsio;
	struct http *http;
	struct notify *notify;     /**< NULL without --notify */
	struct tsig_keyring *tsig; /**< --tsig-keyfile's keys, or NULL */
	/** The address ACLs, [enum stats_listener]; NULL: that listener has
	 * none (--api-allow, --dns-allow, --http-allow). */
	struct acl *acl[3];
	struct backup *backup; /**< hot backups (server/backup.h) */
	/** With --xfr-allow and --xfr-warmup: the store held no lease and no
	 * instance at start (a new or wiped data dir), so the first zone
	 * version waits (docs/dns.md "Zone versions"). */
	uint32_t xfr_hold_ms;

	uv_timer_t tick; /**< expiry, every STORE_TICK_MS */
	uint64_t ticks;
	uv_check_t commit;   /**< group commit, once per iteration */
	uint64_t start_mono; /**< uv_now() at start */
	uint64_t start_wall_ms;
	bool stopping;
	bool preserving_logged; /**< last self-preservation state we logged */
	uint64_t commit_failures;
	struct rs_hist ack_time;  /**< writes: batch handed to the writer -> replies sent */
	uint64_t ack_start_ns;    /**< when the batch in flight went to the writer */
	size_t ack_writes;        /**< its writes; 0: none in flight */
	uint64_t refusals_logged; /**< persist_refusals() when we last said the map is full */
	uint64_t full_logged_mono;
	int exit_code;
	struct static_set *statics;  /**< --static: the set served, or NULL */
	bool static_ok;              /**< the last read of --static was good */
	uint64_t static_loads;       /**< good reads applied */
	uint64_t static_load_errors; /**< refused reads (the set served stayed) */
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
 * DNS, HTTP, NOTIFY with --notify (server_stop() stops them in reverse).
 * @return 0, or a negative code with @p err set (e.g. address in use).
 */
__attribute__((warn_unused_result)) int server_start(struct server *srv, char *err, size_t errsz);

/** Run the loop until no handle is left (uv_run(UV_RUN_DEFAULT)). */
void server_run(struct server *srv);

/**
 * Stop accepting, close every handle (the loop then runs until none is
 * left), commit what is pending. Idempotent.
 */
void server_stop(struct server *srv);

/** After the loop has ended: close LMDB, free everything. NULL-safe parts. */
void server_close(struct server *srv);

/**
 * Read --static (srv->cfg.static_file) and make the store's static
 * instances its set; logs the outcome (one line naming the file's bad line
 * when it is refused). A refused file leaves the set being served as it
 * was; counted in srv->static_loads and static_load_errors. A no-op without --static.
 * @return 0, or the error that refused the file.
 */
int server_static_load(struct server *srv);

/**
 * Apply the reloaded settings in srv->cfg (SIGHUP): the store's limits and
 * each module's limits section. Open connections stay.
 */
void server_limits_reload(struct server *srv);

/**
 * Copy every module's counters into @p out at this instant: the store's
 * sizes and counters, LMDB's figures, the API's, DNS's (answer engines,
 * transport and client reports, summed over the worker threads under their
 * locks) and HTTP's, with the identity (site, domain, zone) and the uptime.
 * A module that is not running (srv->api, srv->dnsio, srv->http or
 * srv->persist NULL) leaves its part zero, and stats_dns.running or
 * stats_http.running false. The renderers read only the snapshot
 * (server/stats.h). Reads no file: the kernel's figures, which cost a
 * walk of /proc, are server_stats_collect_os()'s.
 * @param srv srv->store must be open.
 * @param out overwritten.
 */
void server_stats_collect(const struct server *srv, struct stats_snapshot *out);

/**
 * Add what the kernel keeps of us to a snapshot server_stats_collect()
 * filled: the process figures (/proc/self: CPU, memory, open descriptors,
 * one directory entry each) and the queries dropped at our UDP sockets
 * (/proc/net/udp and udp6, one line per socket on the host). Only the
 * pages that show them pay for the reads (/metrics); the API's Stats, the
 * status page and the services list do not.
 * @note Main thread only.
 */
void server_stats_collect_os(const struct server *srv, struct stats_snapshot *out);
