/*
 * zonegen/report.h - what a run did, for people (one summary line per zone)
 * and for monitoring (Prometheus textfile format, e.g. for node_exporter's
 * textfile collector). Pure text; one thread.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"
#include "zonegen/gen.h"

enum zg_zone_state {
	ZG_STATE_NEW, /**< no previous file */
	ZG_STATE_CHANGED,
	ZG_STATE_UNCHANGED,
	ZG_STATE_REMOVED, /**< a previous zone the inventory no longer has */
};

struct zg_zone_result {
	const char *name; /**< the zone, canonical */
	enum zg_zone_state state;
	uint32_t serial;
	uint64_t prev_records; /**< 0 when there was no previous file */
	uint64_t prev_deploy;  /**< of which _deploy TXT (not inventory records) */
	uint64_t added, removed;
	struct zg_counts counts;
};

/** What the whole run did. */
struct zg_run_result {
	uint64_t hosts;
	uint64_t errors;
	bool refused; /**< the output was refused (errors or the drop guard) */
	bool check;   /**< --check: nothing was written */
	double seconds;
	double started; /**< wall-clock seconds since the epoch */
};

/** The state's word in the summary: "new", "changed", "unchanged", "removed". */
const char *zg_state_name(enum zg_zone_state s);

/**
 * One line per zone:
 * "zone ash2.example.net. serial 2026112601 changed: 20004 records (A 10000,
 *  AAAA 10000, NS 2, SOA 1, TXT 1), +3 -1"
 */
void zg_report_summary(FILE *out, const struct zg_zone_result *zones, size_t n);

/**
 * The same figures as Prometheus text: roster_zonegen_records{zone,type},
 * roster_zonegen_records_added{zone}, roster_zonegen_records_removed{zone},
 * roster_zonegen_serial{zone}, roster_zonegen_zone_changed{zone},
 * roster_zonegen_hosts, roster_zonegen_errors, roster_zonegen_success,
 * roster_zonegen_duration_seconds, roster_zonegen_last_run_timestamp_seconds.
 */
void zg_report_prometheus(struct rs_buf *out, const struct zg_zone_result *zones, size_t n,
		const struct zg_run_result *run);
