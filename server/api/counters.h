/*
 * server/api/counters.h - the registration API's counters.
 *
 * A plain struct in a header of its own: the API (server/api/api.c and the
 * operations in server/api/ops.c) updates it in place, the owner copies it
 * into the stats snapshot (server/stats.h), and the renderers read the copy
 * without including the API.
 *
 * Must not: include anything but <stdint.h>.
 *
 * Threads: main loop only.
 */
#pragma once

#include <stdint.h>

/** Counters for Stats and /metrics. */
struct api_counters {
	uint64_t connections; /**< open now */
	uint64_t accepted;
	uint64_t rejected;        /**< over a connection limit, or not admitted */
	uint64_t rejected_source; /**< of which over the per-source limit */
	uint64_t requests;
	uint64_t errors;      /**< error responses sent */
	uint64_t malformed;   /**< frames that were not a valid Request */
	uint64_t oversized;   /**< frames over the limit */
	uint64_t idle_closed; /**< closed at the deadline (idle, or a frame too slow) */
	uint64_t slow_closed; /**< readers too slow for their output */
	uint64_t watch_events;
	/* Access control (roster_api_refused_total{reason}). */
	uint64_t refused_unauthenticated; /**< no Authenticate before the request */
	uint64_t refused_scope;           /**< outside the token's scopes */
	uint64_t refused_owner;           /**< another lease's instance */
	uint64_t refused_bad_token;       /**< Authenticate with an unknown token */
	uint64_t tokens;                  /**< tokens loaded now */
	uint64_t tokens_reload_failures;  /**< SIGHUPs whose token file was refused */
	uint64_t audit_lines;             /**< lines written to --audit-log */
	uint64_t audit_errors;            /**< lines lost (full disk, failed rotation) */
};
