/*
 * server/dns/answer_internal.h - what the files of the DNS answer engine
 * share: the engine's state, prepared answers, the kinds of query, and the
 * functions each file offers the others. Private to server/dns/answer*.c
 * (and the engine's unit tests, which read the cache's sizes).
 *
 * Model
 *   The engine of answer.h, one concern per file; dependencies point down:
 *     answer.c           answer_process(): classify the query, switch on its
 *                        kind, look the name up, write the reply. The
 *                        engine's life cycle.
 *     answer_classify.c  what kind of query this is (enum answer_kind), from
 *                        the pre-validator's verdict, the checked question
 *                        and the zones we serve. Reads nothing else.
 *     answer_cache.c     prepared answers: a hash table of (lower-cased
 *                        qname, qtype) -> struct answer_prep tagged with the
 *                        revisions it was built from; rebuilt when the tag is
 *                        out of date; flushed when entries of vanished names
 *                        dominate; grown by doubling.
 *     answer_build.c     builds prepared RRsets with ldns (ldns_rr,
 *                        ldns_rr2buffer_wire).
 *     answer_pick.c      the per-query order of an RRset: shuffles, weighted
 *                        orders, and the subset that fits.
 *     answer_write.c     the response writer over the caller's buffer:
 *                        header, question, RRsets, negative answers, OPT.
 *   answer.c calls classify, cache, write, and build for the zones' SOA and
 *   NS; cache calls build; build and write call pick. None calls up.
 *
 * Threads
 *   As answer.h: one struct answer per thread; nothing here locks.
 *
 * Must not
 *   - Allocate on the hot path (a query answered from a current prepared
 *     entry): only building an entry, or growing the table, allocates.
 *   - Add indirect calls or copies of prepared data other than into the
 *     response: DNS CPU per query is measured against NSD (docs/dns.md).
 *   - Name an ldns type or include <ldns/ldns.h>: ldns is confined to
 *     answer_build.c (STYLE: a third-party header stays in one module).
 *   - Open sockets, read clocks, log (answer.h).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/name.h"
#include "server/dns/answer.h"
#include "server/dns/cookie.h"
#include "server/dns/dnswire.h"
#include "server/dns/tsig.h"

struct store_service;

/* ---- prepared answers (answer_cache.c, built by answer_build.c) ---------- */

/** One prepared RR: its body (everything after the owner) in prep->data. */
struct answer_prep_rr {
	uint32_t off;
	uint16_t len;
	uint16_t target;     /**< SRV: offset of the target in the body, else 0 */
	uint16_t target_len; /**< SRV: wire length of the target */
	uint32_t add_off;    /**< A/AAAA bodies of the target for the additional section */
	uint32_t add_len;
	double weight; /**< > 0 */
};

/** A prepared RRset for one (lower-cased qname, qtype). */
struct answer_prep {
	struct answer_prep *next;
	uint64_t tag_rev;
	uint64_t tag_n;
	uint64_t seen_rev; /**< store revision at which the tag was last found current */
	uint16_t qtype;
	uint8_t qlen;
	uint8_t qname[RS_NAME_WIRE_MAX];
	bool stale;       /**< includes stale instances */
	uint32_t ring_in; /**< _ring: instances in the ring ... */
	uint32_t ring_of; /**< ... of the served ones (fewer: host names too long for a string) */
	uint32_t ring_shards; /**< _ring: 0 when whole in one RR, else its shard count */
	bool shuffle;         /**< reorder per query */
	bool weighted;        /**< weighted order even when the whole set fits (A/AAAA) */
	bool uniform;         /**< all weights equal: a plain shuffle is a weighted one */
	uint32_t n;
	size_t cap;
	size_t total; /**< answer octets, owners as 2-octet pointers */
	struct answer_prep_rr *rr;
	struct rs_buf data; /**< the bodies of the RRs (written when built, read per query) */
};

/** What a cache entry is built from (answer_cache_get()). */
enum answer_prep_kind {
	ANSWER_PREP_SRV,  /**< the SRV RRset of a (service, protocol) */
	ANSWER_PREP_ADDR, /**< A or AAAA (the entry's qtype) of a service name */
	ANSWER_PREP_RING, /**< the _ring TXT of a (service, protocol) */
};

/** A zone we serve: the services zone, or the report zone. */
struct answer_zone {
	uint8_t wire[RS_NAME_WIRE_MAX];
	size_t len;
	unsigned nlabels;
	uint32_t neg_ttl;
	bool report;
	struct answer_prep soa; /**< tag_rev: the revision it carries (serial) */
	bool soa_built;
	struct answer_prep ns;
};

/** Per-query order scratch: one slot per RR of the largest prepared set. */
struct answer_order {
	double key;
	uint32_t idx;
	uint32_t pos; /**< where the RR landed in the message */
};

/* ---- the engine ----------------------------------------------------------- */

struct answer {
	const struct store *store;
	uint64_t store_generation;
	struct report *report;
	uint32_t ttl;
	uint16_t udp_max;
	bool stable;
	uint8_t mname[RS_NAME_WIRE_MAX];
	size_t mname_len;
	uint8_t rname[RS_NAME_WIRE_MAX];
	size_t rname_len;
	struct answer_zone zones[2];
	size_t nzones;
	/* the prepared-answer table (answer_cache.c) */
	struct answer_prep **buckets;
	size_t nbuckets; /**< a power of two */
	size_t nentries;
	/* order scratch (answer_pick.c), sized by answer_pick_reserve() */
	struct answer_order *order;
	size_t order_cap;
	uint64_t rng;
	double err_tokens;
	uint64_t err_last_ms;
	struct dnswire_query q;
	/* DNS cookies: the secrets, and this query's server cookie when the
	 * reply carries one. */
	struct cookie_secrets cookie_secrets;
	bool cookies;
	bool cookie_send;
	uint8_t cookie_client[COOKIE_CLIENT_LEN];
	uint8_t cookie[COOKIE_SERVER_LEN];
	struct answer_counters counters;
	/* --xfr-allow (a copy) */
	struct rs_prefix *xfr_allow;
	size_t nxfr_allow;
	/* the published zone's serial, and IXFR over UDP (answer_config) */
	const struct answer_published *published;
	answer_ixfr_udp_cb ixfr_udp;
	void *ixfr_udp_ud;
	/* TSIG (answer_tsig.c): the keys (borrowed), and this query's exchange:
	 * when tsig_sign, the reply (each message of a transfer) is signed at
	 * tsig_now, and the writers keep tsig_room octets free for it. */
	const struct tsig_keyring *tsig_keys;
	const struct tsig_key *xfr_key;
	struct tsig_state tsig;
	bool tsig_sign;
	size_t tsig_room;
	uint64_t tsig_now;
};

/** The wire offset of label @p i of the checked question's lower-cased name. */
static inline const uint8_t *answer_label_at(const struct dnswire_query *q, unsigned i)
{
	return q->qname_lower + q->label_off[i];
}

/* ---- answer_classify.c ---------------------------------------------------- */

/**
 * What kind of query this is: what answer_process() switches on. The kinds
 * before ANSWER_KIND_APEX_SOA are decided without a zone; from it on the
 * question lies in one of our zones.
 */
enum answer_kind {
	ANSWER_KIND_DROP = 0,    /**< not to be answered: shorter than a header, or QR=1 */
	ANSWER_KIND_MALFORMED,   /**< FORMERR, header only (rate-limited) */
	ANSWER_KIND_NOTIMP,      /**< an opcode other than QUERY (rate-limited) */
	ANSWER_KIND_BADVERS,     /**< EDNS version above 0 (RFC 6891 6.1.3) */
	ANSWER_KIND_COOKIE_ONLY, /**< no question, a COOKIE (RFC 7873 5.4) */
	ANSWER_KIND_REFUSED,     /**< outside our zones, or a class other than IN */
	ANSWER_KIND_TRANSFER,    /**< AXFR or IXFR */
	ANSWER_KIND_APEX_SOA,    /**< apex SOA, or apex ANY (RFC 8482 4.2) */
	ANSWER_KIND_APEX_NS,     /**< apex NS */
	ANSWER_KIND_NODATA,      /**< apex or _status, another type: exists, no data */
	ANSWER_KIND_STATUS,      /**< _status TXT or ANY */
	ANSWER_KIND_REPORT,      /**< a name below the report zone's apex */
	ANSWER_KIND_PROTO,       /**< _<proto>: an empty non-terminal, or no name */
	ANSWER_KIND_HOST,        /**< <service>: A/AAAA of its instances */
	ANSWER_KIND_SERVICE,     /**< two labels: SRV of _<service>._<proto> */
	ANSWER_KIND_RING,        /**< _ring and two labels, or <n>._ring...: the ring TXT */
	ANSWER_KIND_NXDOMAIN,    /**< deeper in the zone: no such name */
};

/**
 * Classify the query checked into a->q.
 * @param v the pre-validator's verdict on it.
 * @param zone set to the zone that holds the question when the kind is
 *        ANSWER_KIND_TRANSFER, ANSWER_KIND_APEX_SOA or later, else to NULL.
 * @note Pure: reads a->q, the zones and whether cookies are on.
 */
enum answer_kind answer_classify(
		const struct answer *a, enum dnswire_verdict v, const struct answer_zone **zone);

/**
 * The shard number a label names (<n>._ring._<svc>._<proto>): 1 to 99,999
 * in decimal without a leading zero, else 0.
 * @param l a label in wire form (length octet first), lower-cased.
 */
uint32_t answer_ring_shard_label(const uint8_t *l);

/* ---- answer_tsig.c -------------------------------------------------------- */

/**
 * Verify the TSIG of a signed query (a->q.has_tsig; RFC 8945 5.2). On
 * success the reply will be signed (a->tsig_sign, a->tsig_room). On a
 * failure, the reply is written into @p out: FORMERR, or NOTAUTH with the
 * TSIG error (signed for BADTIME), counted for a transfer; except for a
 * transfer from a source outside --xfr-allow (@p outsider), which goes on
 * unsigned to be REFUSED like any other.
 * @return true to go on answering, false when @p res holds the reply.
 */
bool answer_tsig_check(struct answer *a, const uint8_t *msg, size_t len, bool transfer,
		bool outsider, const struct answer_client *c, uint8_t *out, size_t outcap,
		struct answer_result *res);

/**
 * Sign the reply of res->len octets in @p out (a->tsig_sign), within
 * @p outcap and, over UDP, the client's payload size. When the TSIG RR does
 * not fit, the reply becomes the question alone with TC=1, signed
 * (RFC 8945 5.3); when even that does not fit, it is dropped.
 */
void answer_tsig_sign(struct answer *a, uint8_t *out, size_t outcap, const struct answer_client *c,
		struct answer_result *res);

/**
 * Sign one message of a transfer in place (a->tsig_sign): the message after
 * the 2-octet length prefix at @p start in @p out, up to its end; the TSIG
 * RR is appended (the prefix is the caller's to write).
 * @return 0, or the buffer's error (RS_ENOMEM).
 */
__attribute__((warn_unused_result)) int answer_tsig_sign_framed(
		struct answer *a, struct rs_buf *out, size_t start);

/* ---- answer_cache.c ------------------------------------------------------- */

/** Allocate the empty table. @return 0 or RS_ENOMEM. */
__attribute__((warn_unused_result)) int answer_cache_init(struct answer *a);

/** Free every entry and the table. Accepts a table never allocated. */
void answer_cache_deinit(struct answer *a);

/** Drop every entry (the store changed under the engine). */
void answer_cache_flush(struct answer *a);

/**
 * The prepared RRset for the current question's name and @p qtype if it was
 * found current at the store's present revision, else NULL. Every change to
 * the store moves its revision on (server/registry/store.h), so such an
 * entry is what answer_cache_get() would return after the store lookups: the
 * caller skips them. An entry exists only for a name some service had, so it
 * also answers "does the name exist".
 * @note Hot path: allocates nothing. Valid until the next cache call.
 */
const struct answer_prep *answer_cache_fresh(struct answer *a, uint16_t qtype);

/**
 * The prepared RRset for the current question's name and @p qtype, rebuilt
 * from @p svc (by @p kind) if its tag differs from (@p rev, @p tag_n).
 * @return the entry (valid until the next cache call), or NULL when out of
 *         memory.
 */
const struct answer_prep *answer_cache_get(struct answer *a, uint16_t qtype, uint64_t rev,
		uint64_t tag_n, enum answer_prep_kind kind, const struct store_service *svc);

/* ---- answer_build.c ------------------------------------------------------- */

/** Free what a build put into @p p and zero its RRset. NULL fields are fine. */
void answer_build_clear(struct answer_prep *p);

/**
 * Build into the empty entry @p p (its qtype set) the RRset @p kind of
 * @p svc, then size the order scratch for it. For ANSWER_PREP_RING,
 * p->tag_n says which name: 0 the ring's own (the ring, or "shards=N"), k
 * its shard k (empty when there is no such shard).
 * @return 0, RS_ENOMEM, RS_ERANGE (an RR over 65,535 octets).
 */
__attribute__((warn_unused_result)) int answer_build_rrset(struct answer *a, struct answer_prep *p,
		enum answer_prep_kind kind, const struct store_service *svc);

/**
 * (Re)build the SOA of @p z with serial @p revision; sets z->soa_built.
 * @return 0, RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int answer_build_soa(
		struct answer *a, struct answer_zone *z, uint64_t revision);

/**
 * Build the NS RRset of @p z from @p nns canonical names.
 * @return 0, RS_EINVAL (not a name), RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int answer_build_ns(
		struct answer *a, struct answer_zone *z, const char *const *ns, size_t nns);

/* ---- answer_pick.c -------------------------------------------------------- */

/**
 * Make the order scratch hold at least @p n slots (freed by answer_free()).
 * @return 0, RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int answer_pick_reserve(struct answer *a, uint32_t n);

/**
 * Order the RRs of @p p for this query into a->order, and say how many of
 * them to write. When the whole set fits in @p room octets, every RR, in a
 * shuffled or weighted order as the entry asks; else (TCP only: the writer
 * truncates UDP) a weighted random subset of whole RRs that fits, seeded
 * from the client address with stable subsets.
 * @param partial set to whether the set did not fit.
 * @return the number of RRs, in a->order[0..], to write.
 */
uint32_t answer_pick_order(struct answer *a, const struct answer_prep *p, size_t room,
		const struct answer_client *c, bool *partial);

/**
 * answer_pick_order(), without a call for a set written in its stored order
 * that fits: one RR (an SOA, a name with one address, a service with one
 * instance), or a set never shuffled (NS).
 */
static inline uint32_t answer_pick(struct answer *a, const struct answer_prep *p, size_t room,
		const struct answer_client *c, bool *partial)
{
	if (p->total <= room && (p->n == 1 || !p->shuffle)) {
		for (uint32_t i = 0; i < p->n; i++) {
			a->order[i].idx = i;
		}
		*partial = false;
		return p->n;
	}
	return answer_pick_order(a, p, room, c, partial);
}

/* ---- answer_write.c ------------------------------------------------------- */

/** What the answer section of a reply in one of our zones holds. */
enum answer_body {
	ANSWER_BODY_RRSET,    /**< a prepared RRset with at least one RR */
	ANSWER_BODY_STATUS,   /**< the _status TXT, built from the store's live counts */
	ANSWER_BODY_NODATA,   /**< nothing: NOERROR, the zone's SOA in the authority section */
	ANSWER_BODY_NXDOMAIN, /**< nothing: NXDOMAIN, the zone's SOA in the authority section */
};

/** The longest _status TXT record body answer_status_body() writes. */
#define ANSWER_STATUS_BODY_MAX (10u + 7u * 64u)

/**
 * The _status TXT record without its owner (type, class, TTL 0, RDLENGTH,
 * the strings of docs/dns.md) from the state of @p st now, into @p out
 * (ANSWER_STATUS_BODY_MAX octets). @p serial: a published version's serial,
 * given after the mode (the transferred zone's record), or NULL (the one
 * answered live). @return its length.
 */
size_t answer_status_body(const struct store *st, const uint32_t *serial, uint8_t *out);

/**
 * Write a whole error reply into @p out: the header, the question when
 * @p question, the OPT when the query had one (RFC 6891 7: also for
 * OPT-processing errors); fills @p res.
 */
void answer_write_error(struct answer *a, const uint8_t *msg, uint8_t *out, size_t cap,
		uint16_t rcode, bool question, struct answer_result *res);

/**
 * Write a whole authoritative reply to a question in zone @p z into @p out,
 * within the message limit of the client's transport: header, question,
 * @p body (the RRset @p p for ANSWER_BODY_RRSET, NULL otherwise), the OPT;
 * fills @p res. A UDP RRset that does not fit becomes TC=1 with no records;
 * a TCP one a subset (answer_pick()). SRV answers carry the targets'
 * addresses in the additional section while they fit.
 */
void answer_write_zone(struct answer *a, const uint8_t *msg, uint8_t *out, size_t outcap,
		const struct answer_client *c, const struct answer_zone *z, enum answer_body body,
		const struct answer_prep *p, struct answer_result *res);
