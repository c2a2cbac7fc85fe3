/*
 * client/cli/output.h - what the roster CLI prints: the spnameless-style
 * human lines and the --json documents (one JSON document per line, so
 * `watch --json` is JSON Lines).
 *
 * Times are UTC, "YYYY-MM-DD HH:MM:SS". Pure formatting onto a FILE*: no
 * network, no exit codes.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "client/cli/ringowner.h"
#include "roster/client.h"

/** "2026-11-25 00:58:07" (UTC) of @p ms since the epoch; "-" for 0. */
void output_time(uint64_t ms, char out[32]);

/**
 * One instance, spnameless style:
 * "host.:1234  (UP since 2026-11-25 00:58:07, expires TIMED)".
 */
void output_instance_line(FILE *f, const struct roster_instance *inst, bool show_protocol);

/**
 * A query answer. @p protocol is the one asked for, or NULL.
 * @param now_ms the wall clock, for the age of a stale copy.
 * @param stale_reason why the copy is stale (roster_errmsg()), or "".
 */
void output_query(FILE *f, bool json, const char *service, const char *protocol,
		const struct roster_result *r, uint64_t now_ms, const char *stale_reason);

/** The services of a registry. */
void output_list(FILE *f, bool json, const struct roster_list *l);

/** A registry's statistics. */
void output_stats(FILE *f, bool json, const struct roster_stats *s);

/** A backup written: its file, size and duration. */
void output_backup(FILE *f, bool json, const char *file, uint64_t bytes, uint64_t ms);

/** The client error reports counted by a registry (from its statistics). */
void output_reports(FILE *f, bool json, const struct roster_stats *s);

/**
 * One watch event, flushed at once (a watcher reads events as they come).
 * @return true, or false when the stream could not be written (errno says
 *         why: ENOSPC, EPIPE when the reader went away...).
 */
bool output_watch_event(FILE *f, bool json, const struct roster_watch_event *ev);

/** The owner of a key on a ring. */
void output_ring(FILE *f, bool json, const char *service, const char *protocol, const char *key,
		const struct roster_result *r, const struct ringowner *o);

/**
 * What each registry did with a one-shot write (roster_write_outcomes()),
 * in --server order: JSON output lists them as "outcomes" (the human lines
 * name only the ones that did not apply it, on stderr).
 */
struct output_outcomes {
	const struct roster_outcome *o;
	size_t n;
	const char *const *servers; /**< n names */
};

/**
 * The first line of `register`: "registered <host>:<port> as
 * _<service>._<protocol>.services.<site>.<domain> revision <N>".
 * @param zone the registry's zone ("services.lon6.example.net."), trailing
 *        dot optional.
 */
void output_registered(FILE *f, bool json, const struct roster_instance *inst, const char *zone,
		uint64_t revision, const char *server, bool permanent, uint64_t lease,
		const struct output_outcomes *oc);

/** A write's outcome: "deregistered ..." or "status ... UP ...". */
void output_change(FILE *f, bool json, const char *verb, const struct roster_instance *id,
		const char *status, uint64_t revision, const struct output_outcomes *oc);
