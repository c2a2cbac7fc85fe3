/*
 * server/dns/answer.h - the DNS answer engine: query bytes + store -> response
 * bytes. No sockets, no clocks, no logging (time comes in with the query).
 *
 * Model
 *   answer_process() takes one raw query and writes one raw response into
 *   the caller's buffer, and returns what to do with it (send or drop), like
 *   NSD's query_process(). The transport (server/dns/dnsio.c) owns the sockets.
 *
 *   1. Pre-validation (server/dns/dnswire.c): one linear pass over the raw bytes
 *      decides drop / FORMERR / NOTIMP, or yields the checked question and
 *      EDNS fields. ldns never sees a query byte.
 *   2. Classification (answer_classify.c) of the verdict and the question
 *      against the zones we serve: services.<site>.<domain> and the
 *      optional report zone (SPEC DNS), into one kind of query that
 *      answer_process() switches on.
 *   3. Positive answers come from prepared answers (answer_cache.c, built
 *      by answer_build.c, the only file that includes ldns): for each
 *      (lower-cased qname, qtype) the RRset is built once, with ldns (ldns_rr and
 *      ldns_rr2buffer_wire), into a compact form: each RR stored without its
 *      owner (type, class, TTL, RDLENGTH, RDATA), plus the A/AAAA of SRV
 *      targets for the additional section. An entry is tagged with the
 *      revision of what it was built from (the service's revision; for A/AAAA
 *      the largest revision and the count of the name's services) and is
 *      rebuilt when a lookup finds the tag out of date, so a change is
 *      visible from the moment the store applied it. SOA and NS are prepared
 *      per zone and per global revision.
 *   4. Per query, a small wire writer (answer_write.c; the order and
 *      subsets in answer_pick.c) over the caller's buffer copies the
 *      header id and flags, echoes the question as sent, appends the prepared
 *      RRs in a per-query order (SRV shuffled; A/AAAA in a weighted shuffle),
 *      owners compressed to a pointer at the question, SRV targets never
 *      compressed (RFC 2782), additional-section owners pointing at the SRV
 *      targets, then the OPT record (with EDE 3 "Stale Answer" when stale
 *      instances are included). A UDP answer that does not fit is sent with
 *      TC=1 and no records; over TCP an RRset too large for 65,535 octets is
 *      answered with a subset that fits (weighted random by instance weight,
 *      or seeded from the client address and revision with stable subsets).
 *
 *   The hot path allocates nothing: prepared entries and the permutation
 *   scratch are allocated when an entry is (re)built, and reused.
 *
 * Threads
 *   Not thread-safe: one struct answer per thread. It reads the store, which
 *   belongs to the main loop thread: an engine runs either on that thread or
 *   on a DNS worker thread that holds dnsio's store lock for reading
 *   (server/dns/dnsio.h). The report state it is given is shared and locks
 *   itself.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "server/dns/report.h"

struct store;
struct answer;
struct cookie_secrets;
struct rs_prefix;
struct tsig_key;
struct tsig_keyring;

/** The SOA timers of the services zone, s (answer_build.c explains them;
 * NOTIFY's SOA carries them too, server/dns/notify.h). */
#define ANSWER_SOA_REFRESH 60u
#define ANSWER_SOA_RETRY 30u
#define ANSWER_SOA_EXPIRE 604800u

/**
 * The TTL of the SOA record itself: the larger of --ttl and --negative-ttl.
 * A negative answer's SOA carries the smaller of the record's TTL and its
 * MINIMUM (RFC 2308 3), and MINIMUM is --negative-ttl: so negative answers
 * are cached --negative-ttl (SPEC), also above --ttl, here and at every
 * secondary that computes it from the transferred SOA.
 */
static inline uint32_t answer_soa_ttl(uint32_t ttl, uint32_t negative_ttl)
{
	return ttl > negative_ttl ? ttl : negative_ttl;
}

/**
 * The serial of the published zone version (server/dns/xfr_zone.h), which
 * its owner writes on the store's thread and the engine reads on each query
 * (under dnsio's store lock on a worker thread).
 */
struct answer_published {
	uint32_t serial;
	bool valid; /**< false: no version yet (the store revision's low 32 bits) */
	/** Held after a start with an empty store (--xfr-warmup): no version
	 * yet, transfers refused, and @c serial one the site's secondaries take
	 * for older than their own and the site's other registries' (xfr_zone_new()). */
	bool warming;
};

/**
 * IXFR over UDP from an older serial (RFC 1995 2): write the whole reply
 * (header, question, the difference, an OPT when the query had one) into
 * @p out when it fits in @p cap octets.
 * @param msg the query, checked into the engine (a->q).
 * @return the reply's length, or 0 when the difference is not known or does
 *         not fit (the engine then answers our SOA alone).
 */
typedef size_t (*answer_ixfr_udp_cb)(
		void *ud, struct answer *a, const uint8_t *msg, uint8_t *out, size_t cap);

/** Settings of the engine (copied by answer_new()). */
struct answer_config {
	const char *zone;      /**< "services.<site>.<domain>." */
	const char *domain;    /**< for the SOA RNAME hostmaster.<domain> */
	const char *const *ns; /**< NS targets, canonical text */
	size_t nns;
	const char *report_zone; /**< NULL or "" when not served */
	uint32_t ttl;            /**< answer TTL, s */
	uint32_t negative_ttl;   /**< SOA minimum and negative TTL, s */
	uint16_t udp_max;        /**< largest UDP answer (>= 512) */
	bool stable_subsets;
	/** DNS cookies (server/dns/cookie.h): copied; NULL: cookies off (a cookie
	 * option is then ignored, and a cookie-only query is FORMERR). */
	const struct cookie_secrets *cookies;
	/** Sources allowed zone transfers (--xfr-allow): copied; none (the
	 * default) refuses every transfer. */
	const struct rs_prefix *xfr_allow;
	size_t nxfr_allow;
	/** The published serial (borrowed for the engine's life); NULL: the
	 * SOA serial is the store revision's low 32 bits. */
	const struct answer_published *published;
	/** IXFR over UDP with a difference; NULL: our SOA alone. */
	answer_ixfr_udp_cb ixfr_udp;
	void *ixfr_udp_ud;
	/** TSIG keys (--tsig-keyfile, server/dns/tsig.h): borrowed for the
	 * engine's life. A query signed with one of them is answered signed;
	 * NULL: no keys (a signed query is answered NOTAUTH, BADKEY). */
	const struct tsig_keyring *tsig_keys;
	/** --xfr-key: a key of tsig_keys that transfers must be signed with,
	 * besides coming from an --xfr-allow source; NULL: the ACL alone. */
	const struct tsig_key *xfr_key;
};

enum answer_transport {
	ANSWER_UDP = 0,
	ANSWER_TCP = 1,
};

/** Query-type buckets for the counters (roster_dns_queries_total{qtype}). */
enum answer_qtype_bucket {
	ANSWER_Q_A = 0,
	ANSWER_Q_AAAA,
	ANSWER_Q_SRV,
	ANSWER_Q_TXT,
	ANSWER_Q_SOA,
	ANSWER_Q_NS,
	ANSWER_Q_ANY,
	ANSWER_Q_OTHER,
	ANSWER_Q_COUNT,
};

/** Zone transfer types and outcomes (roster_dns_transfers_total{type,result}). */
enum answer_xfr_type {
	ANSWER_XFR_AXFR = 0,
	ANSWER_XFR_IXFR,
	ANSWER_XFR_TYPES,
};

enum answer_xfr_result {
	ANSWER_XFR_FULL = 0,         /**< the whole zone, SOA to SOA (server/dns/xfr.h) */
	ANSWER_XFR_INCREMENTAL,      /**< IXFR: the condensed difference (RFC 1995 4) */
	ANSWER_XFR_SOA,              /**< IXFR answered with our SOA alone (up to date, or UDP) */
	ANSWER_XFR_REFUSED,          /**< not the apex, the report zone */
	ANSWER_XFR_FORMERR,          /**< AXFR over UDP (RFC 5936 4.2), a malformed TSIG */
	ANSWER_XFR_FAILED,           /**< out of memory: SERVFAIL */
	ANSWER_XFR_REFUSED_ACL,      /**< not from an --xfr-allow source: REFUSED */
	ANSWER_XFR_REFUSED_UNSIGNED, /**< --xfr-key set, the request unsigned: REFUSED */
	ANSWER_XFR_REFUSED_KEY,      /**< signed with a key other than --xfr-key: REFUSED */
	ANSWER_XFR_BADKEY,           /**< TSIG with an unknown key: NOTAUTH, BADKEY */
	ANSWER_XFR_BADSIG,           /**< TSIG MAC wrong: NOTAUTH, BADSIG */
	ANSWER_XFR_BADTIME,          /**< TSIG time outside the fudge: NOTAUTH, BADTIME */
	ANSWER_XFR_BADTRUNC,         /**< TSIG MAC truncated: NOTAUTH, BADTRUNC */
	ANSWER_XFR_REFUSED_WARMUP,   /**< no version yet (--xfr-warmup): REFUSED */
	ANSWER_XFR_RESULTS,
};

/** Counters kept by the engine. Read them with answer_counters_get(). */
struct answer_counters {
	uint64_t queries[ANSWER_Q_COUNT][2]; /**< [qtype bucket][transport] */
	uint64_t responses[24];              /**< by (extended) rcode */
	uint64_t dropped;                    /**< no reply: garbage, responses, rate limits */
	uint64_t error_limited;              /**< FORMERR/NOTIMP over 100 per second, dropped */
	uint64_t truncated;                  /**< UDP answers sent with TC=1 */
	uint64_t partial;                    /**< answers with a subset: TCP subsets, large _ring */
	uint64_t stale;                      /**< answers carrying EDE Stale Answer */
	uint64_t rebuilds;                   /**< prepared entries (re)built */
	uint64_t cookies[3];                 /**< by enum cookie_result: new, good, bad */
	uint64_t transfers[ANSWER_XFR_TYPES][ANSWER_XFR_RESULTS];
	uint64_t transfer_partial_rrsets;          /**< RRsets a transfer carried as a subset */
	uint64_t transfer_bytes[ANSWER_XFR_TYPES]; /**< octets of transfer replies (TCP framing
						      incl.) */
};

/** Who asked. */
struct answer_client {
	enum answer_transport transport;
	const struct sockaddr *addr; /**< may be NULL (tests) */
	/** TCP: the idle timeout to advertise in 100 ms units when the query
	 * carries edns-tcp-keepalive (RFC 7828 3.3.2); 0: never. Ignored on UDP. */
	uint16_t keepalive;
	/** Wall clock, seconds since the epoch: the timestamps of DNS cookies. */
	uint32_t wall_s;
	/** The source is outside the listener's ACL (--dns-allow): a valid
	 * query is answered REFUSED, whatever it asks; garbage is dropped. */
	bool refused;
};

enum answer_action {
	ANSWER_SEND = 0,
	ANSWER_DROP = 1,
	/** An allowed AXFR, or an IXFR from an older serial, over TCP: nothing was
	 * written; the caller calls xfr_write() (server/dns/xfr.h) with the same
	 * query before the next answer_process() on this engine. */
	ANSWER_TRANSFER = 2,
};

/** The outcome of one query. */
struct answer_result {
	enum answer_action action;
	size_t len;     /**< octets written (ANSWER_SEND) */
	uint16_t rcode; /**< (extended) rcode sent */
	bool truncated;
	bool partial;
	/** A transfer refused (REFUSED or NOTAUTH): log it with the source
	 * (docs/dns.md); @c xfr_reason is the enum answer_xfr_result counted. */
	bool xfr_refused;
	uint8_t xfr_reason;
	uint16_t xfr_type;           /**< its QTYPE (AXFR or IXFR) */
	bool cookie_good;            /**< the query carried our valid server cookie */
	bool report;                 /**< a client report to log: see @c fields */
	struct report_fields fields; /**< valid until the next answer_process() */
};

/**
 * Create an engine.
 * @param cfg copied.
 * @param store borrowed for the engine's life; read on each query.
 * @param report borrowed; counters and limiter for the report zone (may be
 *        NULL when no report zone is configured).
 * @param out set to the engine.
 * @return 0, RS_EINVAL (a zone or NS name that is not a valid name), RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int answer_new(const struct answer_config *cfg,
		const struct store *store, struct report *report, struct answer **out);

/**
 * Point the engine at a store, or tell it the store's content was replaced:
 * the server reloads its store in place from disk after a failed commit,
 * and the caller passes store_reloads() as @p generation. Prepared answers
 * are dropped when either changes: they were tagged with revisions of the
 * old content, which the reloaded one may reuse. Cheap when nothing changed.
 */
void answer_store_set(struct answer *a, const struct store *store, uint64_t generation);

/** Free the engine and its prepared answers. NULL-safe. */
void answer_free(struct answer *a);

/**
 * Answer one query.
 * @param q the raw query; @param qlen its length (any bytes, any length).
 * @param client transport and source address.
 * @param now_ms monotonic milliseconds (report rate limit).
 * @param out buffer for the response, at least 512 octets; 65,535 for TCP.
 * @param outcap its size; the response never exceeds it.
 * @param res the outcome: ANSWER_DROP (send nothing), ANSWER_SEND with
 *        res->len octets in @p out, or (TCP only) ANSWER_TRANSFER.
 * @note Never fails: a failure to build an answer (out of memory) is answered
 *       SERVFAIL.
 */
void answer_process(struct answer *a, const uint8_t *q, size_t qlen,
		const struct answer_client *client, uint64_t now_ms, uint8_t *out, size_t outcap,
		struct answer_result *res);

/** The engine's counters (borrowed; updated in place by answer_process()). */
const struct answer_counters *answer_counters_get(const struct answer *a);

/** The label of a transfer result in roster_dns_transfers_total{result}
 * and in the log ("full", "refused_acl", "badsig"...); "?" out of range. */
const char *answer_xfr_result_name(unsigned r);
