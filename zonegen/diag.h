/*
 * zonegen/diag.h - the findings of a run: errors that refuse the output and
 * warnings that do not.
 *
 * Every check of roster-zonegen reports here, with a message that names the
 * host, record or file at fault. Messages go to a stream (stderr in the
 * binary, NULL in unit tests) as "error: ..." lines; after the first
 * ZG_DIAG_PRINT_MAX errors only the count goes on, so that a broken
 * inventory of 100,000 hosts does not flood the terminal. The first and the
 * last message are kept for tests and the summary. One thread.
 */
#pragma once

#include <stddef.h>
#include <stdio.h>

#define ZG_DIAG_PRINT_MAX 100
#define ZG_DIAG_MSG_MAX 512

struct zg_diag {
	FILE *out; /**< where messages go; NULL keeps them silent */
	size_t errors;
	size_t warnings;
	char first[ZG_DIAG_MSG_MAX]; /**< the first error message, "" when none */
	char last[ZG_DIAG_MSG_MAX];  /**< the last message of either kind */
};

/** Prepare an empty diagnostics record writing to @p out (may be NULL). */
void zg_diag_init(struct zg_diag *d, FILE *out);

/** Record an error: the run's output will be refused. */
void zg_diag_error(struct zg_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Record a warning: reported, output still written. */
void zg_diag_warn(struct zg_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Print "N more errors not shown" when messages were suppressed. */
void zg_diag_finish(struct zg_diag *d);
