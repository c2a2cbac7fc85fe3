/*
 * server/dns/xfr_zone.h - the published versions of the services zone: what
 * zone transfers carry and which serial the SOA says (docs/dns.md "Zone
 * versions and serials").
 *
 * Model
 *   A transfer carries a published version, not the live store. The current
 *   version is a table of RRsets, one per (owner, type), each in wire form
 *   (owner: the labels below the apex; RR bodies: type, class, TTL,
 *   RDLENGTH, RDATA), sorted and without duplicates: the apex NS, _status
 *   TXT, and per service its SRV RRset at _<svc>._<proto>, its _ring TXT,
 *   and the A/AAAA of <svc>, built by the answer engine's own builders
 *   (answer_build.c, through a private engine), only UP instances, an RRset
 *   too large for a secondary's answer as a stable weighted subset (each RR's
 *   key drawn from a hash of the RR itself, so a change to the set moves
 *   the subset by a few RRs). The SOA is not in the table: it is the
 *   serial's.
 *
 *   xfr_zone_publish() makes a new version when the store moved: it rebuilds
 *   only the services named by the store's change journal since the last
 *   version (all of them when the journal does not reach back, after a
 *   reload, and for the first version), compares each rebuilt RRset with
 *   the published one, and records the RRs deleted and added as the
 *   version's changeset in the journal of differences (xfr_journal.h). A
 *   version so costs in proportion to what changed.
 *
 *   Serial: max(previous + 1, wall-clock milliseconds mod 2^32) in RFC 1982
 *   arithmetic; the first version's is the clock's. Published at most once
 *   per millisecond (the publisher's interval is longer), it never runs
 *   ahead of the clock, so it does not go backwards across a restart or a
 *   wiped data dir, and two registries of a site carry serials near each
 *   other.
 *
 * Threads
 *   The store's (the loop thread). The answer engines of DNS worker threads
 *   read the published serial (xfr_zone_published()) and the journal (IXFR
 *   over UDP) under dnsio's store lock, each in its reader slot, as they
 *   read the store; xfr_zone_publish() takes its write side (xfr_zone_set_lock()).
 *
 * Must not
 *   Open sockets, read clocks (the caller passes the wall clock), log; name
 *   an ldns type.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/lockset.h"
#include "common/name.h"
#include "server/dns/answer.h"
#include "server/dns/xfr_journal.h"

struct store;
struct xfr_zone;

/** The largest DNS message over TCP. */
#define XFR_MSG_MAX 65535u
/** Room a secondary's answer keeps for its OPT record (cookie, EDE,
 * keepalive, padding alignment) besides the header and the question. */
#define XFR_OPT_SLACK 64u

/** The journal's default size: 16 MiB of changes. */
#define XFR_JOURNAL_MAX_DEFAULT (16u << 20)

/** One RRset of the current version (read-only outside xfr_zone.c). */
struct xfr_rrset {
	struct xfr_rrset *next; /**< hash chain */
	uint16_t type;
	uint8_t owner_len;
	bool partial;  /**< a stable subset of what queries answer */
	bool seen;     /**< xfr_zone.c: rebuilt by the current full rebuild */
	uint32_t n;    /**< RRs */
	uint32_t *off; /**< n offsets into data, in sorted order */
	struct rs_buf data;
	uint8_t owner[RS_NAME_WIRE_MAX]; /**< owner_len octets below the apex */
};

/** Counters of the publisher (metrics). */
struct xfr_zone_counters {
	uint64_t versions;      /**< versions published (roster_dns_zone_versions_total) */
	uint64_t rebuilds_all;  /**< versions built from every service */
	uint64_t failures;      /**< publications that failed (out of memory); retried */
	uint64_t journal_bytes; /**< now */
	uint64_t zone_bytes;    /**< now: the RRs of the version, owners as 2 octets */
	uint32_t serial;        /**< now (roster_dns_zone_serial) */
	bool warming; /**< the first version held (--xfr-warmup; roster_dns_zone_warming) */
};

/**
 * Create the publisher over @p store, and publish the first version, or
 * hold it for @p hold_ms (a registry that started with an empty store, a
 * new or wiped data dir, while its site's other registries may hold the
 * site's instances). Held, the zone has no version: transfers are refused,
 * and the SOA serial (xfr_zone_published()) is XFR_HELD_SERIAL(): RFC 1982
 * makes it older than every clock serial from 24.8 days before the start
 * to an hour past the hold, the versions the site's other registries
 * publish meanwhile included, even on a clock an hour ahead of ours; so
 * secondaries listing several registries keep following the others until
 * the first xfr_zone_publish() (docs/dns.md "Zone versions").
 * @param cfg the answer engine's settings (copied into a private engine
 *        that builds the RRsets; its published and ixfr_udp are ignored).
 * @param store borrowed for the zone's life.
 * @param journal_max octets of changesets kept (XFR_JOURNAL_MAX_DEFAULT).
 * @param wall_ms the wall clock, ms since the epoch (the first serial).
 * @param hold_ms 0: publish now; else the --xfr-warmup the publisher
 *        (xfr_publish_start()) holds the first version for.
 * @param out set to the zone.
 * @return 0, RS_EINVAL (cfg), RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int xfr_zone_new(const struct answer_config *cfg,
		const struct store *store, size_t journal_max, uint64_t wall_ms, uint32_t hold_ms,
		struct xfr_zone **out);

/** How far past the end of a hold the held serial stays older than a
 * peer's clock serial: the clock skew between registries it tolerates. */
#define XFR_HELD_SKEW_MS 3600000u

/** The SOA serial of a zone held at @p wall_ms for @p hold_ms (RFC 1982:
 * 2^31 - 1 behind the hold's end plus XFR_HELD_SKEW_MS). */
#define XFR_HELD_SERIAL(wall_ms, hold_ms)                                                          \
	((uint32_t)((wall_ms) + (hold_ms) + XFR_HELD_SKEW_MS) - 0x7fffffffu)

/** Free the zone, its versions and journal. NULL-safe. */
void xfr_zone_free(struct xfr_zone *z);

/** Has the store changed since the published version? Cheap (two compares). */
bool xfr_zone_stale(const struct xfr_zone *z);

/**
 * Publish a new version if the store changed (xfr_zone_stale()).
 * @param wall_ms the wall clock, ms since the epoch.
 * @param published set to whether a version was published.
 * @return 0, or RS_ENOMEM: a version of what was rebuilt is still
 *         published under a new serial (the table changed, and one serial
 *         never names two contents), without a changeset (the journal is
 *         emptied, so IXFR from before it answers in full); the zone stays
 *         stale (xfr_zone_stale()), and the next call rebuilds every
 *         service.
 */
__attribute__((warn_unused_result)) int xfr_zone_publish(
		struct xfr_zone *z, uint64_t wall_ms, bool *published);

/**
 * Take the write side of @p lock around each later xfr_zone_publish(), for
 * threads that read the zone in its reader slots; NULL: none (the default).
 */
void xfr_zone_set_lock(struct xfr_zone *z, struct rs_lockset *lock);

/** The published serial. */
uint32_t xfr_zone_serial(const struct xfr_zone *z);

/** The serial for the answer engines (answer_config.published); valid for
 * the zone's life. */
const struct answer_published *xfr_zone_published(const struct xfr_zone *z);

/** The counters (borrowed; updated in place). */
const struct xfr_zone_counters *xfr_zone_counters_get(const struct xfr_zone *z);

/**
 * The SOA's body (type, class, TTL, RDLENGTH, RDATA) at @p serial, into
 * @p out (RS_NAME_WIRE_MAX * 2 + 40 octets). @return its length.
 */
size_t xfr_zone_soa(const struct xfr_zone *z, uint32_t serial, uint8_t *out);

/** Visit every RRset of the current version. @p cb returns nonzero to stop. */
void xfr_zone_foreach(
		const struct xfr_zone *z, int (*cb)(const struct xfr_rrset *r, void *ud), void *ud);

/** The zone's size in the unit of struct xfr_diff's bytes. */
size_t xfr_zone_bytes(const struct xfr_zone *z);

/** The journal of differences (borrowed: xfr_journal_diff() from it). */
const struct xfr_journal *xfr_zone_journal(const struct xfr_zone *z);

/** The length of an RR body in @p r's data at offset @p off. */
static inline size_t xfr_body_len(const uint8_t *body)
{
	return 10u + ((size_t)body[8] << 8 | body[9]);
}
