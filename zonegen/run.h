/*
 * zonegen/run.h - one run of roster-zonegen, in order: read the inventories
 * and hand records, build and check the zones, compare each with the
 * previous output (serials, the drop guard), and unless refused or --check,
 * write the changed zones and the include files atomically, remove zones the
 * inventory no longer has (with --force), NOTIFY, report.
 *
 * main.c only turns flags into a zg_run_config. Blocking file and socket
 * I/O; one thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "common/name.h"
#include "zonegen/gen.h"

/** At most this many --inventory, --ns and --notify. */
#define ZG_LIST_MAX 64

enum zg_exit {
	ZG_EXIT_OK = 0,
	ZG_EXIT_REFUSED = 1, /**< invalid input, a failed check, or an I/O error */
	ZG_EXIT_USAGE = 2,
};

/** What the flags say, checked (names canonical, numbers in range). */
struct zg_run_config {
	char domain[RS_NAME_TEXT_MAX]; /**< --domain, canonical */
	const char *out; /**< --out: output dir, and where the previous output is read */
	const char *inventory[ZG_LIST_MAX]; /**< --inventory files */
	size_t ninventory;
	const char *records;                        /**< --records dir; NULL when none */
	char ns_buf[ZG_LIST_MAX][RS_NAME_TEXT_MAX]; /**< storage of ns[] */
	const char *ns[ZG_LIST_MAX];                /**< --ns, canonical; at least one */
	size_t nns;
	char hostmaster[RS_NAME_TEXT_MAX];           /**< --hostmaster, canonical */
	const char *commit;                          /**< --commit; NULL when none */
	uint32_t ttl;                                /**< --ttl */
	unsigned v4_prefix, v6_prefix;               /**< --reverse-prefix, --reverse6-prefix */
	bool serial_given;                           /**< --serial was given */
	uint32_t serial;                             /**< --serial */
	unsigned max_drop;                           /**< --max-drop, percent */
	bool force, check, shard_large, quiet;       /**< the flags of the same names */
	struct sockaddr_storage notify[ZG_LIST_MAX]; /**< --notify targets */
	const char *notify_text[ZG_LIST_MAX];        /**< ... as given, for messages */
	size_t nnotify;
	const char *metrics;       /**< --metrics file; NULL when none */
	const char *zone_path;     /**< --zone-path; NULL: the absolute path of out */
	const char *nsd_pattern;   /**< --nsd-pattern; NULL when none */
	const char *knot_template; /**< --knot-template; NULL when none */
	struct zg_services_ns services_ns[ZG_LIST_MAX]; /**< --services-ns NAME=ADDR */
	size_t nservices_ns;
};

/**
 * Run once.
 * @param cfg the configuration, borrowed.
 * @param out where the summary goes (stdout).
 * @param err where errors and warnings go (stderr).
 * @return ZG_EXIT_OK, or ZG_EXIT_REFUSED (the reasons are on @p err).
 */
__attribute__((warn_unused_result)) int zg_run(
		const struct zg_run_config *cfg, FILE *out, FILE *err);
