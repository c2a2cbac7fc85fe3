/*
 * server/dns/xfr.h - full zone transfers (AXFR, RFC 5936; IXFR answered in
 * full, RFC 1995 4) of the services zone, as the sequence of DNS messages a
 * TCP connection carries.
 *
 * Model
 *   answer_process() decides whether a transfer is allowed (--xfr-allow,
 *   TCP, the apex of the services zone; an IXFR that is up to date or comes
 *   over UDP gets our SOA alone there) and says ANSWER_TRANSFER; the
 *   transport then calls xfr_write() with the same query, which writes the
 *   whole zone at once, synchronously, from the store as it is: the store
 *   only changes on the loop thread, so the answer is consistent at one
 *   serial (docs/dns.md "Zone transfers").
 *
 *   The zone holds what queries answer: the apex SOA and NS, _status TXT
 *   (a snapshot at the serial), and for each service its SRV RRset at
 *   _<svc>._<proto>, its _ring TXT, and the A/AAAA of each service name; only
 *   UP instances. Records are built by the engine's own builders
 *   (answer_build.c) into scratch RRsets, never copied from the query cache.
 *   SOA first and last; RRsets whole within one message; each message up to
 *   @c msg_max octets, owner names compressed within it (the apex once, then
 *   pointers; every RR of an RRset points at its first owner); the first
 *   message carries the query's question, the others none (RFC 5936 2.2).
 *   An RRset too large for a query answer of a secondary (a 65,535-octet
 *   message less the question and an OPT) is carried as the stable weighted
 *   subset of answer_pick_stable(), the same at a given serial for every
 *   secondary, and counted (answer_counters.transfer_partial_rrsets).
 *
 * Threads
 *   The engine's (answer.h): the thread that owns the store, with the engine
 *   answer_process() just used.
 *
 * Must not
 *   Open sockets, read clocks, log; name an ldns type (answer_build.c builds).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "server/dns/answer.h"

/** The largest DNS message over TCP. */
#define XFR_MSG_MAX 65535u

/** What one transfer wrote. */
struct xfr_result {
	uint32_t messages;       /**< DNS messages written */
	uint32_t rrsets;         /**< RRsets, the closing SOA included */
	uint32_t partial_rrsets; /**< of which a subset */
};

/**
 * Write the transfer asked by @p msg: each message preceded by its 2-octet
 * length (RFC 1035 4.2.2 TCP framing), appended to @p out.
 * @pre answer_process() on @p a returned ANSWER_TRANSFER for @p msg, and
 *      nothing changed the store or the engine since.
 * @param msg_max the largest message, 512..XFR_MSG_MAX (tests use small ones).
 * @param res filled (zero on failure).
 * @return 0; RS_ENOMEM (or RS_EINVAL when the precondition does not hold),
 *         after which @p out holds a framed SERVFAIL in place of the
 *         transfer (emptied first if the buffer itself failed). Counted in
 *         answer_counters.transfers either way.
 */
__attribute__((warn_unused_result)) int xfr_write(struct answer *a, const uint8_t *msg,
		size_t msg_max, struct rs_buf *out, struct xfr_result *res);
