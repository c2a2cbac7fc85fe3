/*
 * server/dns/report.h - client error reports over DNS (`--report-zone`).
 *
 * A query for <code>.<version>.<platform>.<nonce>.<report-zone> is a report.
 * This module owns what happens to one once the answer engine has parsed it:
 *   - a per-source rate limit (token bucket per IPv4 /24 or IPv6 /56, in a
 *     fixed table: no allocation per source, a collision evicts the older
 *     bucket, which can only make the limit more lenient for that pair);
 *   - counters per code (the first REPORT_MAX_CODES distinct codes get their
 *     own counter, later ones are counted as "other"), plus malformed reports;
 *   - the log: one JSON line per report appended to <data-dir>/client-reports.log;
 *     when the file would pass its size cap it is renamed to
 *     client-reports.log.1 (replacing the previous one) and a new one begins.
 *
 * The limiter and counters are pure (time is passed in); report_log_write()
 * does file I/O and is called by the transport (dnsio), never by the answer
 * engine. Thread-safe: DNS worker threads share one struct report (a mutex
 * around each call; reports are rate-limited, so it is never hot).
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/linelog.h"

#define REPORT_MAX_CODES 64
#define REPORT_LIMIT_SLOTS 4096

/** One parsed report: labels as received (lower-cased), not NUL-terminated. */
struct report_fields {
	const uint8_t *label[4]; /**< code, version, platform, nonce */
	uint8_t len[4];
	uint16_t qtype;
};

struct report_code_count {
	char code[64];
	uint64_t count;
};

struct report_bucket {
	uint8_t prefix[8]; /**< /24 or /56 of the source, family in [7] */
	uint64_t last_ms;
	double tokens;
};

struct report {
	pthread_mutex_t mu;
	uint32_t rate; /**< reports per second per prefix; 0: no limit */
	struct report_code_count codes[REPORT_MAX_CODES];
	size_t ncodes;
	uint64_t other; /**< codes past REPORT_MAX_CODES */
	uint64_t malformed;
	uint64_t limited; /**< reports dropped by the rate limit */
	struct report_bucket buckets[REPORT_LIMIT_SLOTS];
	/* The log (common/linelog.h: capped, whole lines). */
	struct rs_linelog log;
};

/**
 * Prepare @p r (caller's storage; it is large, allocate it with the server).
 * @param rate reports per second per source prefix; 0 disables the limit.
 */
void report_init(struct report *r, uint32_t rate);

/**
 * May a report (or a malformed one) from @p src be answered now?
 * Takes a token from the source's bucket.
 * @param now_ms a monotonic time in milliseconds.
 * @return true if admitted; false if over the limit (counted in ->limited).
 */
bool report_admit(struct report *r, const struct sockaddr *src, uint64_t now_ms);

/**
 * Change the rate limit (as report_init()'s @p rate) and the log's size cap
 * (as report_log_open()'s @p max_bytes) of a running report, and open the
 * log's file again (SIGHUP: after logrotate renamed it).
 */
void report_limits_set(struct report *r, uint32_t rate, uint64_t log_max);

/** Count a well-formed report under its code. */
void report_count(struct report *r, const struct report_fields *f);

/** Count a malformed report. */
void report_count_malformed(struct report *r);

/**
 * Open (append) the log at <dir>/client-reports.log.
 * @param max_bytes size cap before rotation; 0 means 16 MiB.
 * @return 0, or a negative errno-style code.
 */
__attribute__((warn_unused_result)) int report_log_open(
		struct report *r, const char *dir, uint64_t max_bytes);

/**
 * Append one JSON line for a report. Errors are counted in ->log_errors, not
 * returned: a full disk must not stop DNS.
 * @param wall_ms wall-clock time, ms since the epoch.
 */
void report_log_write(struct report *r, const struct report_fields *f, const struct sockaddr *src,
		uint64_t wall_ms);

/** Close the log. Safe to call twice. */
void report_log_close(struct report *r);

/** The counters of a struct report, as one consistent copy. */
struct report_counters {
	struct report_code_count codes[REPORT_MAX_CODES]; /**< in the order first seen */
	size_t ncodes;
	uint64_t other; /**< codes past REPORT_MAX_CODES */
	uint64_t malformed;
	uint64_t limited;
	uint64_t log_errors;
};

/**
 * Copy @p r's counters under its mutex (the DNS worker threads count
 * concurrently), for the stats snapshot. Read-only: @p r is not changed.
 */
void report_counters_get(const struct report *r, struct report_counters *out);
