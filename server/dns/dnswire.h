/*
 * server/dns/dnswire.h - the pre-validator of DNS queries and a small bounded
 * wire writer.
 *
 * Model
 *   Every query is checked here, in one linear pass over the raw bytes,
 *   before anything else reads it; only a query that passes reaches the
 *   answer engine. The pass enforces the rules of robustness-catalogue.md
 *   section 2 that ldns does not (ldns_wire2pkt() follows 65,535 pointer
 *   hops per name, parses every question QDCOUNT announces, accepts several
 *   OPT records and ignores trailing bytes), so no query byte is ever handed
 *   to ldns. The rules:
 *     - header: under 12 octets or QR=1 -> drop (never answer a response);
 *       opcode other than QUERY -> NOTIMP; QDCOUNT over 1, ANCOUNT != 0,
 *       NSCOUNT over 1, ARCOUNT over DNSWIRE_MAX_ADDITIONAL -> FORMERR;
 *       QDCOUNT 0 -> FORMERR, except a well-formed query whose OPT carries
 *       a COOKIE option (RFC 7873 5.4: a cookie-only query);
 *     - question name: no compression pointers at all (the question is the
 *       first name of the message, so a pointer could only point into the
 *       header or forwards), label lengths 0..63 (0x40-0xBF label types are
 *       FORMERR), at most 255 octets, inside the message;
 *     - authority section: exactly one SOA record for QTYPE IXFR (RFC 1995
 *       3: the client's version of the zone; its serial is kept), none for
 *       any other QTYPE; an IXFR without it, a record of another type, or
 *       an SOA whose RDATA is not two names and 20 octets -> FORMERR. Its
 *       names follow the additional records' rules; those in RDATA stay
 *       inside the RDATA;
 *     - additional records: owner names may use pointers, each strictly
 *       backwards, at most DNSWIRE_MAX_HOPS per name, total name <= 255;
 *       RDLENGTH inside the message;
 *     - OPT: at most one, owner root; options inside RDATA; a known option
 *       (COOKIE, TCP keepalive, padding, EDE, client subnet) at most once;
 *       COOKIE of 8 or 16..40 octets; edns-tcp-keepalive with a TIMEOUT from
 *       a client -> FORMERR (RFC 7828 3.2.1); unknown options ignored;
 *     - TSIG: last record, class ANY, once; otherwise FORMERR;
 *     - trailing bytes after the last counted record are ignored (lenient,
 *       like NSD without STRICT_MESSAGE_PARSE): the answer is built from the
 *       counted records only.
 *
 * Pure: no allocation, no I/O, any thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/name.h"
#include "common/wire.h"

#define DNSWIRE_HEADER 12
/** Records accepted in a query's additional section (OPT, TSIG, a few more). */
#define DNSWIRE_MAX_ADDITIONAL 4
/** Compression pointers followed per name in a query. */
#define DNSWIRE_MAX_HOPS 16

enum dnswire_type {
	DNSWIRE_A = 1,
	DNSWIRE_NS = 2,
	DNSWIRE_SOA = 6,
	DNSWIRE_TXT = 16,
	DNSWIRE_AAAA = 28,
	DNSWIRE_SRV = 33,
	DNSWIRE_OPT = 41,
	DNSWIRE_TSIG = 250,
	DNSWIRE_IXFR = 251,
	DNSWIRE_AXFR = 252,
	DNSWIRE_ANY = 255,
};

enum dnswire_rcode {
	DNSWIRE_NOERROR = 0,
	DNSWIRE_FORMERR = 1,
	DNSWIRE_SERVFAIL = 2,
	DNSWIRE_NXDOMAIN = 3,
	DNSWIRE_NOTIMP = 4,
	DNSWIRE_REFUSED = 5,
	DNSWIRE_NOTAUTH = 9,
	DNSWIRE_BADVERS = 16, /**< extended: needs an OPT record */
};

/** Header flag bits in the second 16-bit word. */
#define DNSWIRE_QR 0x8000u
#define DNSWIRE_AA 0x0400u
#define DNSWIRE_TC 0x0200u
#define DNSWIRE_RD 0x0100u
#define DNSWIRE_CD 0x0010u
#define DNSWIRE_OPCODE(flags) (((flags) >> 11) & 0xfu)

/** EDNS option codes the pre-validator knows. */
#define DNSWIRE_OPT_ECS 8
#define DNSWIRE_OPT_COOKIE 10
#define DNSWIRE_OPT_KEEPALIVE 11
#define DNSWIRE_OPT_PADDING 12
#define DNSWIRE_OPT_EDE 15

/** What the pre-validator decided. */
enum dnswire_verdict {
	DNSWIRE_OK = 0, /**< a well-formed QUERY: answer it */
	DNSWIRE_DROP,   /**< no reply (short header, QR=1) */
	DNSWIRE_REPLY_FORMERR,
	DNSWIRE_REPLY_NOTIMP,
	DNSWIRE_COOKIE_ONLY, /**< QDCOUNT 0 with a COOKIE: no question, answer it */
};

/** A checked query. Offsets index the raw message. */
struct dnswire_query {
	uint16_t id;
	uint16_t flags; /**< second header word as sent */
	uint16_t qtype; /**< 0 without a question (cookie-only) */
	uint16_t qclass;
	uint16_t qname_off;                    /**< always DNSWIRE_HEADER */
	uint16_t qname_len;                    /**< wire length, root included */
	uint16_t question_end;                 /**< offset after QTYPE/QCLASS */
	uint8_t nlabels;                       /**< labels of the qname, root excluded */
	uint8_t label_off[128];                /**< offset of each label's length octet in qname */
	uint8_t qname_lower[RS_NAME_WIRE_MAX]; /**< lower-cased wire qname */
	bool has_opt;                          /**< an OPT record was present (even a bad one) */
	bool opt_ok;                           /**< the OPT record passed every check */
	bool do_bit;
	bool has_tsig;
	bool keepalive;      /**< an (empty) edns-tcp-keepalive option */
	uint16_t cookie_off; /**< COOKIE option data in the message */
	uint8_t cookie_len;  /**< its length (8 or 16..40); 0: none */
	uint8_t edns_version;
	uint16_t edns_udp;    /**< requestor's payload size as sent */
	uint32_t ixfr_serial; /**< IXFR: the serial of the SOA in the authority section */
};

/**
 * Check a query (see the header comment for the rules).
 * @param msg the raw message; @param len its length.
 * @param q filled as far as parsing got: on DNSWIRE_REPLY_FORMERR/NOTIMP the
 *        id, flags and has_opt/opt_ok fields are valid; on DNSWIRE_COOKIE_ONLY
 *        the EDNS fields and the cookie (question_end is the header's end).
 * @return the verdict. Never fails otherwise.
 */
enum dnswire_verdict dnswire_query_check(const uint8_t *msg, size_t len, struct dnswire_query *q);

/**
 * A bounded writer over a caller's buffer. Writes past the end set
 * @c overflow and write nothing; callers check it once at the end of a
 * section and roll back to a mark.
 */
struct dnswire_writer {
	uint8_t *buf;
	size_t cap; /**< hard limit of this message */
	size_t len;
	bool overflow;
};

static inline void dnswire_writer_init(struct dnswire_writer *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->overflow = false;
}

/** Is there room for @p n more octets? */
static inline bool dnswire_room(const struct dnswire_writer *w, size_t n)
{
	return !w->overflow && w->cap - w->len >= n;
}

static inline void dnswire_put(struct dnswire_writer *w, const void *p, size_t n)
{
	if (!dnswire_room(w, n)) {
		w->overflow = true;
		return;
	}
	__builtin_memcpy(w->buf + w->len, p, n);
	w->len += n;
}

/* The big-endian helpers of the writer and the parsers: common/wire.h's,
 * under the names the DNS code (dnsio, the answer engine, their tests) uses. */
static inline void dnswire_put16(struct dnswire_writer *w, uint16_t v)
{
	uint8_t b[2];
	rs_wire_store_u16(b, v);
	dnswire_put(w, b, 2);
}

static inline void dnswire_put32(struct dnswire_writer *w, uint32_t v)
{
	uint8_t b[4];
	rs_wire_store_u32(b, v);
	dnswire_put(w, b, 4);
}

static inline uint16_t dnswire_get16(const uint8_t *p)
{
	return rs_wire_load_u16(p);
}

static inline void dnswire_set16(uint8_t *p, uint16_t v)
{
	rs_wire_store_u16(p, v);
}
