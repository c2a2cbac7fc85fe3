/*
 * server/dns/xfr_journal.h - the journal of zone differences that IXFR
 * answers from (RFC 1995): for each published version of the services zone,
 * the RRs it deleted from and added to the version before it, in wire form,
 * in a bounded in-memory ring (oldest dropped first).
 *
 * Model
 *   The publisher (server/dns/xfr_zone.h) appends one changeset per version:
 *   the serial it starts from, the serial it makes, and its RRs. An RR is a
 *   record of the changeset's buffer: [kind (XFR_RR_DEL or XFR_RR_ADD)]
 *   [owner length][owner: the labels below the apex, no terminator]
 *   [body length, 2 octets][body: type, class, TTL, RDLENGTH, RDATA]. Owners
 *   and RDATA names are canonical (lower case), so two equal RRs are equal
 *   octets.
 *   xfr_journal_diff() condenses the changesets from a serial to the newest
 *   one into one difference (RFC 1995 4): an RR added then deleted cancels
 *   out, so does one deleted then added again; every other RR is listed
 *   once, among the deletions or the additions.
 *
 * Threads
 *   None of its own: the publisher's (the loop thread). A diff borrows the
 *   journal's memory: valid until the next xfr_journal_add().
 *
 * Must not
 *   Know what a zone is: it stores and condenses octets.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/** Kinds of a changeset record. */
#define XFR_RR_DEL 0u
#define XFR_RR_ADD 1u

/** One version's difference from the one before it. */
struct xfr_changeset {
	uint32_t from; /**< the serial it applies to */
	uint32_t to;   /**< the serial it makes */
	struct rs_buf rrs;
};

/** The ring of changesets. Zero-initialise, then xfr_journal_init(). */
struct xfr_journal {
	struct xfr_changeset *v;
	size_t head, len, cap;
	size_t bytes;     /**< the changesets' records, octets */
	size_t max_bytes; /**< oldest changesets are dropped past it */
	uint64_t dropped; /**< changesets dropped for room */
};

/** A condensed difference: records (at their owner-length octet) borrowed
 * from the journal. */
struct xfr_diff {
	const uint8_t **del;
	size_t ndel;
	const uint8_t **add;
	size_t nadd;
	size_t bytes; /**< sum of owner + 2 + body over the RRs listed */
};

/** Prepare an empty journal holding at most @p max_bytes of records. */
void xfr_journal_init(struct xfr_journal *j, size_t max_bytes);

/** Free every changeset. NULL-safe; the journal is empty (and usable) again. */
void xfr_journal_deinit(struct xfr_journal *j);

/** Append one record to a changeset's buffer (failures are sticky in @p rrs). */
void xfr_changeset_put(struct rs_buf *rrs, unsigned kind, const uint8_t *owner, size_t owner_len,
		const uint8_t *body, size_t body_len);

/**
 * Append the changeset from serial @p from to @p to, then drop the oldest
 * ones while the journal holds more than max_bytes (the new one too, when
 * alone it is larger).
 * @param rrs its records: taken (emptied) whether or not this succeeds.
 * @return 0, or RS_ENOMEM (the journal is then emptied: a gap in it would
 *         make later diffs wrong, an empty one only makes IXFR answer in
 *         full).
 */
__attribute__((warn_unused_result)) int xfr_journal_add(
		struct xfr_journal *j, uint32_t from, uint32_t to, struct rs_buf *rrs);

/**
 * Condense the changesets from serial @p from to the newest into @p out
 * (RFC 1995 4). Deletions and additions keep the order of their last
 * change.
 * @return 0; RS_ENOENT when no changeset starts at @p from (dropped, or never
 *         ours); RS_ENOMEM. On failure @p out is empty.
 * @note @p out borrows the journal's records: free it with xfr_diff_free()
 *       before the next xfr_journal_add().
 */
__attribute__((warn_unused_result)) int xfr_journal_diff(
		const struct xfr_journal *j, uint32_t from, struct xfr_diff *out);

/** Free the arrays of a diff. NULL-safe. */
void xfr_diff_free(struct xfr_diff *d);

/** The owner length, owner, body length and body of record @p r. */
static inline size_t xfr_rec_owner_len(const uint8_t *r)
{
	return r[0];
}
static inline const uint8_t *xfr_rec_owner(const uint8_t *r)
{
	return r + 1;
}
static inline size_t xfr_rec_body_len(const uint8_t *r)
{
	return (size_t)r[1 + r[0]] << 8 | r[2 + r[0]];
}
static inline const uint8_t *xfr_rec_body(const uint8_t *r)
{
	return r + 3 + r[0];
}
