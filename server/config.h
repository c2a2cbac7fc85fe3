/*
 * server/config.h - rosterd's settings: command-line flags and the config
 * file (`key = value`, one key per flag, same names without the dashes).
 *
 * Parsing is synchronous and happens on the main thread before the loop
 * starts (and again on SIGHUP for the reloadable limits). It validates every
 * value and reports the first problem as one line naming the flag or the
 * file and line; rosterd then exits 2.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "common/addr.h"
#include "server/registry/store.h"

#define CONFIG_MAX_LISTEN 8
#define CONFIG_MAX_SETTINGS 128 /* at least the table of config.c */
#define CONFIG_MAX_NS 8
#define CONFIG_MAX_XFR_ALLOW 64
#define CONFIG_MAX_NOTIFY 64

/** A list of prefixes (--api-allow, --dns-allow, --http-allow, --rrl-exempt). */
struct config_prefixes {
	struct rs_prefix p[CONFIG_MAX_XFR_ALLOW];
	size_t n;
};

struct config_listen {
	struct sockaddr_storage addrs[CONFIG_MAX_LISTEN];
	size_t n;
};

struct server_config {
	/* Identity. */
	char site[RS_LABEL_MAX + 1];
	char domain[RS_NAME_TEXT_MAX]; /**< canonical, trailing dot */
	char zone[RS_NAME_TEXT_MAX];   /**< services.<site>.<domain>. */

	/* Listeners (several addresses each, IPv4 and IPv6). */
	struct config_listen dns;  /**< default 127.0.0.1:8053 */
	struct config_listen api;  /**< default 127.0.0.1:7600 */
	struct config_listen http; /**< default 127.0.0.1:7680 */

	char data_dir[4096]; /**< default ./roster-data */
	char config_file[4096];
	/** The command line config_parse() read (main()'s argv, which outlives
	 * it): SIGHUP parses it again, so that it still wins over the file. */
	int argc;
	char **argv;
	/** Per setting, a hash of the values the config file gave it (0: none),
	 * so that SIGHUP can name the settings changed in the file that only a
	 * restart applies (config_reload()). Indexed like the settings table. */
	uint64_t file_sig[CONFIG_MAX_SETTINGS];
	int log_level;  /**< enum rs_log_level */
	int log_format; /**< enum rs_log_format; RS_LOG_FORMAT_AUTO by default */

	/* DNS. */
	uint32_t ttl;                             /**< answer TTL, s; default 5 */
	uint32_t negative_ttl;                    /**< NXDOMAIN/NODATA TTL, s; default 5 */
	char ns[CONFIG_MAX_NS][RS_NAME_TEXT_MAX]; /**< canonical; default ns1.<domain> */
	size_t nns;
	char report_zone[RS_NAME_TEXT_MAX]; /**< canonical, or "" */
	bool stable_subsets;
	uint16_t udp_max;                /**< largest UDP answer; default 1232 */
	uint32_t dns_tcp_idle_ms;        /**< default 10,000 */
	uint32_t dns_tcp_max_conns;      /**< default 1,000 */
	bool dns_cookies_off;            /**< --no-dns-cookies */
	char dns_cookie_secret[4096];    /**< "": <data_dir>/dns-cookie-secret */
	uint32_t dns_tcp_max_per_source; /**< per IPv4 /32 or IPv6 /64; default 100 */
	uint32_t dns_threads;            /**< UDP worker threads (default 1); 0: the main loop */
	int dns_io;                      /**< enum dnsio_io: the workers' UDP I/O (--dns-io) */
	uint32_t report_rate;            /**< reports per second per /24 or /56; default 50 */
	uint64_t report_log_max;         /**< bytes of report log; default 16 MiB */
	/** --xfr-allow: sources allowed to transfer the zone; none by default. */
	struct rs_prefix xfr_allow[CONFIG_MAX_XFR_ALLOW];
	size_t nxfr_allow;
	/** --notify: secondaries told of each new serial (RFC 1996); none by default. */
	struct sockaddr_storage notify[CONFIG_MAX_NOTIFY];
	size_t nnotify;
	uint32_t notify_interval_ms; /**< --notify-interval; default 50 ms */
	uint32_t xfr_warmup_ms;      /**< --xfr-warmup; default 60 s */
	/** --tsig-keyfile: TSIG keys (server/dns/tsig.h); "": none. */
	char tsig_keyfile[4096];
	/** --xfr-key: the key transfers must be signed with, canonical; "": none. */
	char xfr_key[RS_NAME_TEXT_MAX];
	/** --static: static instances, JSON Lines (server/registry/static.h);
	 * read at start and on SIGHUP; "": none. */
	char static_file[4096];

	/* API limits (reloadable). */
	uint32_t api_max_conns;      /**< default 10,000 */
	uint32_t api_max_per_source; /**< per IPv4 /32 or IPv6 /64; default 1,024 */
	uint32_t api_max_frame;      /**< default 1 MiB */
	uint32_t api_idle_ms;      /**< default 60,000 (> 2 heartbeats at 1 h TTL? no: see docs) */
	uint32_t api_max_inflight; /**< unanswered requests per connection; default 1,024 */
	uint64_t api_max_outbuf;   /**< queued reply bytes per connection; default 8 MiB */

	/* API access control (SPEC "Access control and abuse limits"). */
	char api_tokens[4096];   /**< --api-tokens FILE, "" for an open API; reread on SIGHUP */
	bool api_open;           /**< --api-open: an open API on a non-loopback address */
	bool api_tokens_dry_run; /**< serve what tokens would refuse; log and count it (reloadable)
				  */
	char audit_log[4096];    /**< --audit-log FILE, or "" */
	uint64_t audit_log_max;  /**< bytes before rotation; default 64 MiB (reloadable) */

	/* HTTP limits (reloadable). */
	uint32_t http_max_conns; /**< default 256 */
	uint32_t http_idle_ms;   /**< default 10,000 */

	/* Access control and abuse limits (not reloadable). */
	struct config_prefixes api_allow;  /**< sources the API serves; none: all */
	struct config_prefixes dns_allow;  /**< sources DNS (UDP, TCP) answers; none: all */
	struct config_prefixes http_allow; /**< sources HTTP serves; none: all */
	bool acl_dry_run;                  /**< serve what the ACLs refuse; log, count it */
	uint32_t rrl_rate;                 /**< UDP responses/s per bucket; 0 (default): off */
	uint32_t rrl_slip;                 /**< every Nth limited one truncated; default 2 */
	struct config_prefixes rrl_exempt; /**< sources never rate limited */

	/* Store. */
	uint64_t map_size; /**< initial LMDB map; default 64 MiB */
	uint64_t map_max;  /**< growth limit; default 64 GiB */
	struct store_limits limits;

	/* Store files (docs/operations.md: backup, restore, damage). */
	bool reset_store;            /**< --reset-store: start empty, old files aside */
	char restore_file[4096];     /**< --restore FILE: install it and exit ("": none) */
	char backup_dir[4096];       /**< --backup-dir: scheduled backups ("": none) */
	uint32_t backup_interval_ms; /**< --backup-interval; default 1 h */
	uint32_t backup_keep;        /**< --backup-keep: newest kept; default 7 */
};

/**
 * Fill @p cfg with the defaults.
 */
void config_defaults(struct server_config *cfg);

/**
 * Parse argv (and the --config file, if given; flags on the command line win
 * over the file). On success the derived fields (zone, default NS) are set.
 * @param err buffer for a one-line message.
 * @return 0; 1 when --help or --version was printed (exit 0);
 *         RS_ECONF (or another negative code) with @p err set.
 */
__attribute__((warn_unused_result)) int config_parse(
		struct server_config *cfg, int argc, char **argv, char *err, size_t errsz);

/**
 * Re-read the config file for SIGHUP: the settings are parsed again as at
 * the start (defaults, then the file, then the command line over it), and
 * only the reloadable ones (limits, log level) change in @p cfg. A setting
 * taken out of the file goes back to its default (or its flag's value).
 * @param changed set to the names of the reloadable settings whose values
 *        changed ("max-connections, api-tokens-dry-run"), or "".
 * @param unapplied set to the names of the settings whose values changed in
 *        the file but take effect at a restart only ("site, dns"), or "".
 * @return 0, or a negative code with @p err set (cfg unchanged).
 */
__attribute__((warn_unused_result)) int config_reload(struct server_config *cfg, char *changed,
		size_t changedsz, char *unapplied, size_t unappliedsz, char *err, size_t errsz);

/** The usage text. */
void config_usage(FILE *out);

/**
 * Whether NS name @p i (cfg->ns) lies inside the zone it serves: it then
 * resolves only through an address of its own in that zone (no glue is
 * served), which start-up warns about.
 */
bool config_ns_in_zone(const struct server_config *cfg, size_t i);
