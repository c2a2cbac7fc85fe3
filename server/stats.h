/*
 * server/stats.h - one snapshot of every module's counters, for whoever
 * shows them.
 *
 * Model
 *   Counters flow one way. Each module counts in a plain struct of its own
 *   and updates it in place. The owner, server/server.c, copies them all at
 *   one instant into a struct stats_snapshot (server_stats_collect()). The
 *   renderers read only the snapshot: server/http/metrics.c (the Prometheus
 *   text of /metrics, the JSON of /v1/services, the status page) and the
 *   API's Stats operation (server/api/ops.c), which gets it through a
 *   callback. A renderer includes this header, never the module that counts.
 *
 *   The snapshot is a plain value: copies, no pointer into a module, so it
 *   stays valid as long as its storage, whatever runs afterwards.
 *
 * Must not: include a transport module's header (the API's transport
 *   includes its renderer, server/api/ops.h, and the owner includes both
 *   the transports and server/http/metrics.h; a renderer that included a
 *   transport would make a cycle). The API's counters have a header of their own for
 *   this (server/api/counters.h); the DNS transport's and HTTP's counters
 *   live in their transports' headers, so their figures are mirrored here
 *   field by field (struct stats_dns_transport, struct stats_http) and the
 *   owner copies them. The answer engine's and the client reports' counters
 *   come from logic headers below every transport and are held as they are.
 *
 * Threads: filled on the main loop thread (the DNS worker threads' figures
 *   are summed, and the reports copied, under their locks); a filled
 *   snapshot may be read anywhere.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hist.h"
#include "common/name.h"
#include "common/procstat.h"
#include "server/api/counters.h"
#include "server/dns/answer.h"
#include "server/dns/report.h"
#include "server/dns/xfr_zone.h"
#include "server/registry/store.h"

/** The registry: sizes, counters and state of the store. */
struct stats_store {
	struct store_sizes sizes;
	struct store_counters counters;
	uint64_t revision;
	uint64_t journal_first; /**< the oldest revision a Watch can replay from */
	bool preserving;        /**< self-preservation is on */
};

/** The LMDB store and the group commits. */
struct stats_persist {
	uint64_t bytes;     /**< in use; 0 without LMDB */
	uint64_t map_bytes; /**< the map's size; 0 without LMDB */
	uint64_t commits;
	uint64_t commit_failures; /**< group commits that failed */
	uint64_t map_max;         /**< --map-max: the largest the map grows to */
	struct rs_hist ack_time;  /**< writes: handed to the writer to acknowledged */
	uint64_t backups;         /**< hot backups written (server/backup.h) */
	uint64_t backup_failures;
	uint64_t backup_last_wall_ms; /**< end of the last backup, ms since the epoch; 0: none */
	uint64_t backup_last_duration_ms;
	uint64_t backup_last_bytes;
};

/** The DNS transport's counters (a copy of struct dnsio_counters, summed
 * over the main thread and the workers). */
struct stats_dns_transport {
	uint64_t bytes_in[2]; /**< [enum answer_transport] */
	uint64_t bytes_out[2];
	uint64_t udp_send_dropped;
	uint64_t udp_receive_drops; /**< the kernel's, at our sockets (/proc/net/udp) */
	uint64_t tcp_connections;   /**< open now */
	uint64_t tcp_accepted;
	uint64_t tcp_rejected;
	uint64_t tcp_rejected_source;
	uint64_t tcp_idle_closed;
	uint64_t tcp_bad_length;
	uint64_t tcp_read_paused;
	struct rs_hist udp_answer_time; /**< per UDP answer, read to send */
	uint64_t rrl_dropped;           /**< UDP responses dropped by --rrl-rate */
	uint64_t rrl_slipped; /**< UDP responses sent truncated by --rrl-rate (--rrl-slip) */
};

/** DNS: the answer engines, the transport and the client reports. */
struct stats_dns {
	bool running;                   /**< false: no DNS module (the rest is zero) */
	struct answer_counters answers; /**< summed over the engines */
	struct stats_dns_transport transport;
	struct report_counters reports;
	struct xfr_zone_counters zone; /**< published versions (zero without --xfr-allow) */
};

/** Statuses the HTTP listener counts (room for every enum http_status). */
#define STATS_HTTP_STATUSES 16

/** HTTP responses sent with one status code. */
struct stats_http_status {
	unsigned code; /**< e.g. 404 */
	uint64_t count;
};

/** The HTTP listener's counters (a copy of struct http_counters). */
struct stats_http {
	bool running;         /**< false: no HTTP module (the rest is zero) */
	uint64_t connections; /**< open now */
	uint64_t accepted;
	uint64_t rejected;
	uint64_t timed_out;
	struct stats_http_status responses[STATS_HTTP_STATUSES]; /**< in enum http_status order */
	size_t nresponses;
};

/** NOTIFY to the secondaries (a copy of struct notify_counters). */
struct stats_notify {
	bool running; /**< false: no --notify target (the rest is zero) */
	uint64_t sent;
	uint64_t retried;
	uint64_t acked;
	uint64_t failed;
};

/** The listeners with an address ACL (server/net/acl.h), in label order. */
enum stats_listener {
	STATS_LISTENER_API = 0,
	STATS_LISTENER_DNS,
	STATS_LISTENER_HTTP,
	STATS_LISTENERS,
};

/** The address ACLs' counters, per listener (zero without an ACL). */
struct stats_acl {
	uint64_t refused[STATS_LISTENERS]; /**< refused sources (connections, datagrams) */
	uint64_t dry_run[STATS_LISTENERS]; /**< would have been refused, served (--acl-dry-run) */
};

/** Static instances (--static, server/registry/static.h). */
struct stats_static {
	bool configured;      /**< --static was given */
	bool ok;              /**< the last read of the file was good */
	uint64_t instances;   /**< in the set being served */
	uint64_t loads;       /**< good reads applied, at start and on SIGHUP */
	uint64_t load_errors; /**< reads refused (the previous set stayed) */
};

/** Every figure rosterd shows, copied at one instant. */
struct stats_snapshot {
	char site[RS_LABEL_MAX + 1];
	char domain[RS_NAME_TEXT_MAX];
	char zone[RS_NAME_TEXT_MAX];
	uint64_t uptime_ms;     /**< since rosterd started (monotonic) */
	uint64_t start_wall_ms; /**< wall clock at start, ms since the epoch */
	struct stats_store store;
	struct stats_persist persist;
	struct api_counters api; /**< zero without an API module */
	struct stats_dns dns;
	struct stats_http http;
	struct stats_notify notify;
	struct rs_procstat process; /**< the process_* figures, read at collection */
	struct stats_acl acl;
	struct stats_static statics;
};
