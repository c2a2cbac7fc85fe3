/*
 * server/dns/notify.h - NOTIFY (RFC 1996) from rosterd, the primary of the
 * services zone, to its secondaries (`--notify`, `--notify-interval`).
 *
 * Model
 *   The owner says when the zone has a new serial (notify_zone_changed());
 *   this module tells every target, over UDP, and makes sure each one heard:
 *     - one message: opcode NOTIFY, AA=1, the question `<apex> SOA IN` and,
 *       in the answer section, the apex SOA with the new serial (RFC 1996
 *       3.7; NSD, Knot and BIND read the serial there and skip a query when
 *       they already have it), a fresh random ID (libsodium);
 *     - coalescing, per target: at most one message per interval, leading
 *       edge. A change after a quiet interval leaves at once (inside the
 *       call); changes within the interval are folded into one message,
 *       sent when the interval ends, carrying the newest serial;
 *     - at most one outstanding NOTIFY per target. A reply matches it by ID,
 *       source address and port, QR=1 and opcode NOTIFY (and the signer's
 *       verify, when there is one). NOERROR acknowledges it; another rcode
 *       fails it (counted, logged, not retried: the target said no; the next
 *       serial tries again);
 *     - retries: no reply within NOTIFY_RETRY_FIRST_MS, the same message
 *       (same ID and serial, signed again) is sent again, the wait doubling
 *       up to NOTIFY_RETRY_MAX_MS, until acknowledged. A newer serial
 *       supersedes it: a new message, and the schedule restarts. A retry
 *       also waits out the interval. Compare: NSD resends every few seconds
 *       and gives up after 5 tries, BIND tries 3 times over 15 s (then over
 *       TCP), Knot waits its remote I/O timeout for each (and recent
 *       versions try failed ones again later, at a zone timer). rosterd
 *       starts sooner (its zone changes in milliseconds, and the target is
 *       usually one hop away) and never gives up (a secondary that comes
 *       back learns of the newest serial within the cap, 30 s, without
 *       waiting for its SOA refresh);
 *     - one unconnected UDP socket per address family that has a target,
 *       bound to the wildcard address and a port the kernel picks.
 *   Messages are built in a scratch buffer of NOTIFY_MSG_MAX octets, with
 *   room after them for a TSIG RR (the signer appends it).
 *
 * Threads: the loop's thread only (the one notify_start() was given).
 *
 * Must not: read the store or know where serials come from (the owner
 *   passes them); block; log per message (it logs a target's change of
 *   state: the first failure or silence, and its recovery).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct notify;
struct sockaddr_storage;
struct uv_loop_s;

/** The first wait for an acknowledgement, and the cap of its doubling. */
#define NOTIFY_RETRY_FIRST_MS 250u
#define NOTIFY_RETRY_MAX_MS 30000u
/** Scratch for one message: the NOTIFY (at most 12 + 259 + 12 + 530 octets)
 * and a TSIG RR (key name and algorithm up to 255 octets each, a 64-octet
 * MAC) appended by the signer. */
#define NOTIFY_MSG_MAX 2048u
/** The largest request MAC a signer keeps for verifying the reply. */
#define NOTIFY_MAC_MAX 64u

/**
 * Signing, e.g. TSIG (RFC 8945). Both run on the loop thread.
 *
 * sign: append the signature to @p msg (length @p *len, room for @p cap
 * octets), update @p *len and ARCOUNT; write the request MAC the reply
 * will be checked against into @p mac (NOTIFY_MAC_MAX octets) and its
 * length into @p *mac_len. Called for each transmission, retries included.
 * Return 0, or a negative code (the message is not sent; counted failed).
 *
 * verify: check a reply (@p msg, @p len) to the request whose MAC was
 * @p mac. Return 0 when it is good; otherwise the reply is ignored, as if
 * lost (logged once per target), and the retries go on.
 */
struct notify_signer {
	int (*sign)(void *ctx, uint8_t *msg, size_t *len, size_t cap, uint8_t *mac,
			size_t *mac_len);
	int (*verify)(void *ctx, const uint8_t *msg, size_t len, const uint8_t *mac,
			size_t mac_len);
	void *ctx;
};

/** What notify_new() needs. Strings and arrays are copied. */
struct notify_config {
	const char *zone;  /**< the apex, e.g. "services.lon6.example.net." */
	const char *mname; /**< SOA MNAME */
	const char *rname; /**< SOA RNAME */
	uint32_t ttl;      /**< of the SOA RR */
	uint32_t refresh, retry, expire, minimum;
	const struct sockaddr_storage *targets; /**< AF_INET or AF_INET6, with a port */
	size_t ntargets;                        /**< at least 1 */
	uint32_t interval_ms;                   /**< coalescing interval (0: none) */
	uint32_t retry_first_ms;                /**< 0: NOTIFY_RETRY_FIRST_MS */
	uint32_t retry_max_ms;                  /**< 0: NOTIFY_RETRY_MAX_MS */
};

/** Counters (roster_dns_notify_total{result}), over every target. */
struct notify_counters {
	uint64_t sent;    /**< new messages: a serial's first transmission */
	uint64_t retried; /**< transmissions again of the same message */
	uint64_t acked;   /**< answered NOERROR */
	uint64_t failed;  /**< answered with another rcode, or not sent (the
			       socket or the signer refused it) */
};

/**
 * Check @p cfg and build the module (no socket yet).
 * @param out set on success; free with notify_free().
 * @param err one line naming the problem.
 * @return 0; RS_EINVAL (no target, a bad name or address family), RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int notify_new(
		const struct notify_config *cfg, struct notify **out, char *err, size_t errsz);

/**
 * Open a UDP socket per address family that has a target, on @p loop, and
 * start listening for replies.
 * @param signer NULL: unsigned; else copied (its ctx borrowed until
 *        notify_free()).
 * @return 0, or a negative code with @p err set (the sockets opened so far
 *         are closed by notify_stop(), which the caller then calls).
 * @note Call once.
 */
__attribute__((warn_unused_result)) int notify_start(struct notify *n, struct uv_loop_s *loop,
		const struct notify_signer *signer, char *err, size_t errsz);

/**
 * Tell every target that the zone is at @p serial (see the model for the
 * coalescing). Cheap when called often: a serial already sent or waiting
 * changes nothing.
 * @note Ignored before notify_start() and after notify_stop(). NULL-safe.
 */
void notify_zone_changed(struct notify *n, uint32_t serial);

/**
 * Close the sockets and timers (outstanding NOTIFYs are dropped). The loop
 * must run for the close callbacks before notify_free(). Idempotent;
 * NULL-safe.
 */
void notify_stop(struct notify *n);

/**
 * Free the module. NULL-safe.
 * @pre never started, or stopped and the loop run since (every handle
 *      closed).
 */
void notify_free(struct notify *n);

/** Copy the counters into @p out. */
void notify_counters_get(const struct notify *n, struct notify_counters *out);
