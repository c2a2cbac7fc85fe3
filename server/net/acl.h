/*
 * server/net/acl.h - the address ACL of one listener (--api-allow,
 * --dns-allow, --http-allow): which sources it serves, and a trace of the
 * ones it refuses.
 *
 * Model
 *   An ACL is a list of prefixes (common/addr.h's struct rs_prefix). A
 *   source inside one of them is allowed; any other is refused, or, with
 *   --acl-dry-run, served all the same and reported as one that would have
 *   been refused (the article's Docker upgrade: the source addresses
 *   changed and queries were refused for an hour before anyone noticed; a
 *   dry run shows which sources an ACL would cut before it cuts them).
 *   A listener without a list has no ACL at all (the owner passes none):
 *   nothing is checked, nothing is counted, nothing costs.
 *
 *   Each refusal (or dry-run match) is counted, and logged with its source
 *   address at most once per source per ACL_LOG_INTERVAL_MS. The memory of
 *   what was logged is a fixed table of ACL_LOG_SLOTS entries, 4-way set
 *   associative by a seeded hash of the address: a flood of spoofed
 *   sources recycles entries (the one logged longest ago goes, and its
 *   source may then be logged again sooner) but never grows it.
 *   On top of that, at most ACL_LOG_BURST lines a second per ACL are
 *   written; the refusals past them are counted (log_suppressed) and the
 *   next line says how many there were.
 *
 *   The TCP listeners apply it at accept (server/net/tcp.h's admit hook,
 *   acl_admit()): a refused connection is closed at once. DNS over UDP
 *   calls acl_check() per datagram before answering (server/dns/dnsio.c).
 *
 * Must not: parse configuration, touch a socket, allocate after acl_new().
 *
 * Threads: acl_check() and acl_admit() may run on several threads at once
 * (the DNS UDP workers and the loop thread): the prefix list is read-only,
 * the counters are atomic, and the log table is taken with a try-lock, so
 * a refusal never waits (when the table is busy, that line is skipped; the
 * count is not). acl_new() and acl_free() run on the owner's thread with
 * no check in flight.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct acl;
struct rs_prefix;

/** How long a source's refusals stay quiet after one was logged. */
#define ACL_LOG_INTERVAL_MS 60000u
/** Entries of the log table (a power of two), in sets of ACL_LOG_WAYS. */
#define ACL_LOG_SLOTS 1024u
#define ACL_LOG_WAYS 4u
/** Lines an ACL writes per second at most; the rest are counted. */
#define ACL_LOG_BURST 20u

/** What acl_check() decided. */
enum acl_verdict {
	ACL_ALLOW = 0, /**< inside the list */
	ACL_REFUSE,    /**< outside: refuse it (counted in refused) */
	ACL_DRY_RUN,   /**< outside, but --acl-dry-run: serve it (counted in dry_run) */
};

/** The counters of one ACL (acl_counters_get()). */
struct acl_counters {
	uint64_t refused;        /**< sources refused (connections, datagrams) */
	uint64_t dry_run;        /**< would have been refused; served (--acl-dry-run) */
	uint64_t logged;         /**< lines written */
	uint64_t log_suppressed; /**< refusals past ACL_LOG_BURST lines a second, not logged */
};

/**
 * Create an ACL.
 * @param name the listener, for messages and the metrics label: "api",
 *        "dns", "http"; borrowed for the ACL's life.
 * @param flag the flag that sets it ("--dns-allow"), for messages; borrowed.
 * @param allow the prefixes; copied. At least one.
 * @param n their number.
 * @param dry_run serve what would be refused (ACL_DRY_RUN instead of ACL_REFUSE).
 * @param out set to the ACL (free with acl_free()).
 * @return 0, RS_EINVAL (n == 0), RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int acl_new(const char *name, const char *flag,
		const struct rs_prefix *allow, size_t n, bool dry_run, struct acl **out);

/** Free an ACL. NULL-safe. */
void acl_free(struct acl *acl);

/**
 * Check a source: a match is ACL_ALLOW and costs a walk of the list; a
 * miss is counted and maybe logged (see the model).
 * @param peer the source (AF_INET or AF_INET6; an IPv4-mapped IPv6 address
 *        counts as its IPv4 address). NULL or another family never
 *        matches.
 * @param now_ms a monotonic clock in milliseconds (the log's pace).
 * @note Any thread.
 */
enum acl_verdict acl_check(struct acl *acl, const struct sockaddr *peer, uint64_t now_ms);

/**
 * acl_check() as server/net/tcp.h's admit hook: false for ACL_REFUSE.
 * @param acl a struct acl.
 * @note Reads the monotonic clock itself.
 */
bool acl_admit(void *acl, const struct sockaddr *peer);

/** Copy the counters (relaxed atomic reads). */
void acl_counters_get(const struct acl *acl, struct acl_counters *out);
