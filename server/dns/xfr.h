/*
 * server/dns/xfr.h - zone transfers of the services zone: AXFR (RFC 5936),
 * IXFR (RFC 1995) as the condensed difference from the journal or in full,
 * as the sequence of DNS messages a TCP connection carries; and IXFR over
 * UDP when the difference fits one datagram.
 *
 * Model
 *   answer_process() decides whether a transfer is allowed (--xfr-allow,
 *   TCP, the apex of the services zone; an IXFR that is up to date gets our
 *   SOA alone there, one over UDP the difference through xfr_ixfr_udp() or
 *   our SOA) and says ANSWER_TRANSFER; the transport then calls xfr_write()
 *   with the same query, which writes the whole transfer at once,
 *   synchronously, from the published version (server/dns/xfr_zone.h): it
 *   only changes on the loop thread, so the answer is consistent at one
 *   serial (docs/dns.md "Zone transfers").
 *
 *   AXFR, and IXFR when the journal does not reach back to the client's
 *   serial or the difference is larger than the zone: SOA, every RRset of
 *   the version, SOA. IXFR otherwise: SOA (new), SOA (the client's serial),
 *   the RRs deleted, SOA (new), the RRs added, SOA (new) (RFC 1995 4).
 *   Each message up to @c msg_max octets; an RRset of a full transfer is
 *   whole within one message when it fits one; owner names compressed
 *   within a message (the apex once, then pointers; an RR with the owner of
 *   the RR before it points at that owner); the first message carries the
 *   query's question, the others none (RFC 5936 2.2).
 *
 * Threads
 *   The engine's (answer.h): the thread that owns the store and the zone,
 *   with the engine answer_process() just used; xfr_ixfr_udp() also on a
 *   DNS worker thread under dnsio's store lock (it only reads the zone).
 *
 * Must not
 *   Open sockets, read clocks, log; name an ldns type.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "server/dns/answer.h"
#include "server/dns/xfr_zone.h"

/** What one transfer wrote. */
struct xfr_result {
	uint32_t messages;       /**< DNS messages written */
	uint32_t rrs;            /**< RRs, the SOAs included */
	uint32_t partial_rrsets; /**< RRsets that are a subset (full transfers) */
	bool incremental;        /**< an IXFR difference, not the whole zone */
};

/**
 * Write the transfer asked by @p msg: each message preceded by its 2-octet
 * length (RFC 1035 4.2.2 TCP framing), appended to @p out.
 * @pre answer_process() on @p a returned ANSWER_TRANSFER for @p msg, and
 *      nothing changed the zone or the engine since.
 * @param zone the published zone the engine's SOA serial comes from.
 * @param msg_max the largest message, 512..XFR_MSG_MAX (tests use small ones).
 * @param res filled (zero on failure).
 * @return 0; RS_ENOMEM, RS_ERANGE (an RR larger than @p msg_max allows) or
 *         RS_EINVAL (the precondition does not hold), after which @p out
 *         holds a framed SERVFAIL in place of the transfer (emptied first if
 *         the buffer itself failed). Counted in answer_counters.transfers
 *         and transfer_bytes either way.
 */
__attribute__((warn_unused_result)) int xfr_write(struct answer *a, const struct xfr_zone *zone,
		const uint8_t *msg, size_t msg_max, struct rs_buf *out, struct xfr_result *res);

/**
 * IXFR over UDP (an answer_ixfr_udp_cb; @p zone is the struct xfr_zone):
 * the difference from the query's serial, with an OPT when the query had
 * one, when the journal has it and it fits @p cap octets in one message.
 * @return the reply's length in @p out, or 0 (the engine answers our SOA).
 * @note Allocates; counts nothing (the engine does).
 */
size_t xfr_ixfr_udp(void *zone, struct answer *a, const uint8_t *msg, uint8_t *out, size_t cap);
