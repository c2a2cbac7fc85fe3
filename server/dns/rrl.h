/*
 * server/dns/rrl.h - DNS response rate limiting (--rrl-rate, --rrl-slip,
 * --rrl-exempt), as BIND and NSD do it: a forged-source flood must not
 * turn rosterd into a reflector, and must not cost it more than a table
 * look-up per response.
 *
 * Model
 *   Responses are counted per bucket: the source's prefix (an IPv4 /24, an
 *   IPv6 /56; an IPv4-mapped address is IPv4) and the class of the answer,
 *   read from the response bytes themselves:
 *     - positive (NOERROR with answers): per qname (lower-cased) and qtype:
 *       identical answers to one network share a bucket;
 *     - NODATA (NOERROR, no answer): per qname;
 *     - NXDOMAIN: one bucket per source prefix (per zone in BIND and NSD;
 *       rosterd answers for its zones only, so the random-subdomain flood a
 *       per-name bucket would miss lands in one bucket);
 *     - errors (REFUSED, FORMERR, SERVFAIL, NOTIMP, ...): one bucket per
 *       source prefix.
 *   Each bucket is a token bucket: @c rate responses a second, refilled
 *   continuously (millisecond steps), holding at most one second's worth
 *   (a burst of @c rate), a new bucket starting full. A response with a
 *   token goes out. One without is limited: every @c slip-th limited
 *   response of a bucket goes out truncated (TC=1, no records, the question
 *   only: a real client retries over TCP, which is never limited, and a
 *   forged victim gets a packet no larger than the query), the others are
 *   dropped (slip 0: all dropped; slip 1: all truncated). BIND's credit
 *   scheme, NSD's per-second counters and this token bucket agree on the
 *   steady state; the token bucket needs no per-second sweep.
 *
 *   Table: a fixed array of buckets allocated by rrl_new(), 4-way set
 *   associative, indexed by a seeded 64-bit hash of the bucket's key (so
 *   forged sources cannot aim at one set); a new key takes an empty way or
 *   the least recently used one of its set. A flood of distinct keys
 *   (spoofed sources) recycles buckets and never grows memory; an evicted
 *   bucket starts full again when its key returns, which errs on the side
 *   of answering. Nothing is allocated per response.
 *
 *   Sources in @c exempt are never limited. TCP is never limited: the
 *   caller applies this to UDP responses only.
 *
 * Threads: one table shared by every thread that answers UDP (the loop
 *   thread, or the --dns-threads workers), so that the rate is per source
 *   for the whole server whichever worker a datagram wakes. Buckets are
 *   guarded by RRL_LOCKS striped mutexes (by set), each held for the few
 *   instructions of one update: a worker never waits behind more than one
 *   bucket update.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct rrl;
struct rs_prefix;

/** Buckets of the table by default (2 MiB). */
#define RRL_SLOTS_DEFAULT 65536u
/** Ways per set. */
#define RRL_WAYS 4u
/** Lock stripes. */
#define RRL_LOCKS 64u

/** Settings of the limiter (copied by rrl_new()). */
struct rrl_config {
	uint32_t rate;                  /**< responses per second per bucket; > 0 */
	uint32_t slip;                  /**< every slip-th limited response is truncated; 0: none */
	const struct rs_prefix *exempt; /**< sources never limited; copied */
	size_t nexempt;
	size_t slots;  /**< buckets, a power of two >= RRL_WAYS; 0: RRL_SLOTS_DEFAULT */
	uint64_t seed; /**< of the bucket hash; 0: a random one */
};

/** What to do with one response. */
enum rrl_action {
	RRL_SEND = 0, /**< send it as it is */
	RRL_DROP,     /**< limited: send nothing */
	RRL_SLIP,     /**< limited: send what rrl_apply() left, truncated (TC=1) */
};

/** The class of a response: part of its bucket's key. */
enum rrl_class {
	RRL_POSITIVE = 1,
	RRL_NODATA,
	RRL_NXDOMAIN,
	RRL_ERROR,
};

/**
 * Create a limiter.
 * @return 0, RS_EINVAL (rate 0, slots not a power of two >= RRL_WAYS), RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int rrl_new(const struct rrl_config *cfg, struct rrl **out);

/** Free a limiter. NULL-safe. */
void rrl_free(struct rrl *r);

/**
 * Count one UDP response to @p src and decide its fate. For RRL_SLIP the
 * response is rewritten in place: TC=1, AA cleared, no records, the
 * question kept, and *@p len shortened.
 * @param src the client (NULL: never limited).
 * @param resp the response as the answer engine wrote it, @p len octets.
 * @param now_ms a monotonic clock in milliseconds.
 * @note Any thread.
 */
enum rrl_action rrl_apply(struct rrl *r, const struct sockaddr *src, uint8_t *resp, size_t *len,
		uint64_t now_ms);

/**
 * The class of a response (see the model). A message too short for a
 * header is RRL_ERROR.
 */
enum rrl_class rrl_classify(const uint8_t *resp, size_t len);
