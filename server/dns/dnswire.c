#include "server/dns/dnswire.h"

#include <string.h>

/*
 * Walk a name that may use compression (additional-section owners).
 * RFC 1035 4.1.4 says a pointer refers to a "prior occurrence"; like BIND
 * since 9.11.0-P2 we require every pointer to go strictly backwards from the
 * position it is read at, which alone rules out loops, and we cap hops too.
 * Returns the offset after the name as stored at @p off, or -1.
 */
static int name_skip(const uint8_t *msg, size_t len, size_t off)
{
	size_t end = 0; /* offset after the name at its first position */
	size_t total = 0;
	unsigned hops = 0;
	size_t pos = off;
	for (;;) {
		if (pos >= len) {
			return -1;
		}
		uint8_t c = msg[pos];
		if (c == 0) {
			total += 1;
			if (total > RS_NAME_WIRE_MAX) {
				return -1;
			}
			return (int)(end ? end : pos + 1);
		}
		if ((c & 0xc0) == 0xc0) {
			if (pos + 1 >= len || ++hops > DNSWIRE_MAX_HOPS) {
				return -1;
			}
			size_t target = ((size_t)(c & 0x3f) << 8) | msg[pos + 1];
			if (target < DNSWIRE_HEADER || target >= pos) {
				return -1;
			}
			if (end == 0) {
				end = pos + 2;
			}
			pos = target;
			continue;
		}
		if (c & 0xc0) {
			return -1; /* 0x40/0x80: extended and reserved label types */
		}
		total += 1u + c;
		if (total > RS_NAME_WIRE_MAX || pos + 1 + c > len) {
			return -1;
		}
		pos += 1u + c;
	}
}

/* Eight octets lower-cased at once (ASCII only, RFC 4343): 0x20 is added to
 * each octet in 'A'..'Z' and to no other, without a branch per octet. */
static inline uint64_t lower8(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101u;
	const uint64_t high = 0x8080808080808080u;
	uint64_t h = x & ~high; /* 7 low bits of each octet: the adds below never carry */
	uint64_t ge_a = h + (0x80u - 'A') * ones;
	uint64_t gt_z = h + (0x7fu - 'Z') * ones;
	uint64_t upper = (ge_a ^ gt_z) & ~x & high;
	return x | (upper >> 2);
}

/*
 * The question name: no pointers, lower-cased copy and label offsets.
 * The labels are walked first for their lengths only; the copy is then
 * lower-cased eight octets at a time over the whole name, length octets
 * included: they are at most 63, below 'A', so lower-casing leaves them be.
 */
static int qname_parse(const uint8_t *msg, size_t len, struct dnswire_query *q)
{
	size_t pos = DNSWIRE_HEADER;
	size_t n = 0;
	q->nlabels = 0;
	for (;;) {
		if (pos >= len) {
			return -1;
		}
		uint8_t c = msg[pos];
		if (c & 0xc0) {
			return -1;
		}
		if (n + 1u + c > RS_NAME_WIRE_MAX || pos + 1u + c > len) {
			return -1;
		}
		if (c == 0) {
			n++;
			break;
		}
		q->label_off[q->nlabels++] = (uint8_t)n;
		n += 1u + c;
		pos += 1u + c;
	}
	const uint8_t *src = msg + DNSWIRE_HEADER;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t x;
		memcpy(&x, src + i, 8);
		x = lower8(x);
		memcpy(q->qname_lower + i, &x, 8);
	}
	for (; i < n; i++) {
		q->qname_lower[i] = rs_ascii_lower(src[i]);
	}
	q->qname_off = DNSWIRE_HEADER;
	q->qname_len = (uint16_t)n;
	return (int)(pos + 1);
}

/* RFC 6891 6.1.2 options; RFC 7873 5.2 cookie sizes; RFC 7828 3.2.1. */
static bool opt_options_ok(const uint8_t *msg, size_t off, size_t rdlen, struct dnswire_query *q)
{
	const uint8_t *p = msg + off;
	unsigned seen = 0;
	size_t i = 0;
	while (i < rdlen) {
		if (rdlen - i < 4) {
			return false;
		}
		uint16_t code = dnswire_get16(p + i);
		uint16_t olen = dnswire_get16(p + i + 2);
		i += 4;
		if (olen > rdlen - i) {
			return false;
		}
		unsigned bit = 0;
		switch (code) {
		case DNSWIRE_OPT_ECS:
			bit = 1;
			break;
		case DNSWIRE_OPT_COOKIE:
			bit = 2;
			if (olen != 8 && (olen < 16 || olen > 40)) {
				return false;
			}
			q->cookie_off = (uint16_t)(off + i);
			q->cookie_len = (uint8_t)olen;
			break;
		case DNSWIRE_OPT_KEEPALIVE:
			bit = 4;
			if (olen != 0) {
				return false;
			}
			q->keepalive = true;
			break;
		case DNSWIRE_OPT_PADDING:
			bit = 8;
			break;
		case DNSWIRE_OPT_EDE:
			bit = 16;
			break;
		default:
			break;
		}
		if (bit != 0) {
			if (seen & bit) {
				return false; /* CVE-2016-2088: duplicated known option */
			}
			seen |= bit;
		}
		i += olen;
	}
	return true;
}

/* The IXFR query's authority record (RFC 1995 3): one SOA, its serial kept.
 * @return the offset after it, or -1. */
static int ixfr_soa_parse(const uint8_t *msg, size_t len, size_t off, struct dnswire_query *q)
{
	int r = name_skip(msg, len, off);
	if (r < 0 || (size_t)r + 10 > len) {
		return -1;
	}
	off = (size_t)r;
	uint16_t type = dnswire_get16(msg + off);
	uint16_t rdlen = dnswire_get16(msg + off + 8);
	off += 10;
	if (type != DNSWIRE_SOA || rdlen > len - off) {
		return -1;
	}
	size_t end = off + rdlen;
	for (int i = 0; i < 2; i++) { /* MNAME, RNAME */
		r = name_skip(msg, end, off);
		if (r < 0) {
			return -1;
		}
		off = (size_t)r;
	}
	if (end - off != 20) {
		return -1; /* SERIAL REFRESH RETRY EXPIRE MINIMUM */
	}
	q->ixfr_serial = rs_wire_load_u32(msg + off);
	return (int)end;
}

/*
 * A message of an opcode we do not implement: its sections are walked only
 * to find an OPT record, because RFC 6891 7 wants one in the NOTIMP reply
 * when the query had one (its layout is the opcode's business, so anything
 * that does not parse just means no OPT: the reply is NOTIMP either way).
 */
static void opcode_other_scan(const uint8_t *msg, size_t len, struct dnswire_query *q)
{
	unsigned qd = dnswire_get16(msg + 4);
	unsigned rrs = (unsigned)dnswire_get16(msg + 6) + dnswire_get16(msg + 8);
	unsigned ar = dnswire_get16(msg + 10);
	size_t off = DNSWIRE_HEADER;
	for (unsigned i = 0; i < qd; i++) {
		int r = name_skip(msg, len, off);
		if (r < 0 || (size_t)r + 4 > len) {
			return;
		}
		off = (size_t)r + 4;
	}
	for (unsigned i = 0; i < rrs + ar; i++) {
		size_t owner = off;
		int r = name_skip(msg, len, off);
		if (r < 0 || (size_t)r + 10 > len) {
			return;
		}
		off = (size_t)r;
		uint16_t type = dnswire_get16(msg + off);
		uint16_t rdlen = dnswire_get16(msg + off + 8);
		if (rdlen > len - off - 10) {
			return;
		}
		if (i >= rrs && type == DNSWIRE_OPT && !q->has_opt && msg[owner] == 0) {
			q->has_opt = true;
			q->opt_ok = true;
			q->edns_udp = dnswire_get16(msg + off + 2);
		}
		off += 10u + rdlen;
	}
}

/* The fields a verdict may leave unset, cleared. */
static void query_reset(struct dnswire_query *q)
{
	q->has_opt = false;
	q->opt_ok = false;
	q->do_bit = false;
	q->has_tsig = false;
	q->keepalive = false;
	q->cookie_off = 0;
	q->cookie_len = 0;
	q->qtype = 0;
	q->qclass = 0;
	q->edns_version = 0;
	q->edns_udp = 0;
	q->ixfr_serial = 0;
	q->nlabels = 0;
	q->qname_len = 0;
}

enum dnswire_verdict dnswire_query_check(const uint8_t *msg, size_t len, struct dnswire_query *q)
{
	query_reset(q);
	if (len < DNSWIRE_HEADER) {
		return DNSWIRE_DROP;
	}
	q->id = dnswire_get16(msg);
	q->flags = dnswire_get16(msg + 2);
	if (q->flags & DNSWIRE_QR) {
		return DNSWIRE_DROP;
	}
	if (DNSWIRE_OPCODE(q->flags) != 0) {
		opcode_other_scan(msg, len, q);
		return DNSWIRE_REPLY_NOTIMP;
	}
	uint16_t qd = dnswire_get16(msg + 4);
	uint16_t an = dnswire_get16(msg + 6);
	uint16_t ns = dnswire_get16(msg + 8);
	uint16_t ar = dnswire_get16(msg + 10);
	/* QDCOUNT 0 is read on only for a cookie-only query (RFC 7873 5.4). */
	if (qd > 1 || an != 0 || ns > 1 || ar > DNSWIRE_MAX_ADDITIONAL || (qd == 0 && ar == 0)) {
		return DNSWIRE_REPLY_FORMERR;
	}
	q->question_end = DNSWIRE_HEADER;
	if (qd == 1) {
		int pos = qname_parse(msg, len, q);
		if (pos < 0 || (size_t)pos + 4 > len) {
			return DNSWIRE_REPLY_FORMERR;
		}
		q->qtype = dnswire_get16(msg + pos);
		q->qclass = dnswire_get16(msg + pos + 2);
		q->question_end = (uint16_t)(pos + 4);
	}
	size_t off = q->question_end;
	/* RFC 1995 3: an IXFR carries the client's SOA, and only an IXFR does. */
	if ((ns == 1) != (qd == 1 && q->qtype == DNSWIRE_IXFR)) {
		return DNSWIRE_REPLY_FORMERR;
	}
	if (ns == 1) {
		int r = ixfr_soa_parse(msg, len, off, q);
		if (r < 0) {
			return DNSWIRE_REPLY_FORMERR;
		}
		off = (size_t)r;
	}

	bool bad = false;
	for (unsigned i = 0; i < ar; i++) {
		size_t owner = off;
		int r = name_skip(msg, len, off);
		if (r < 0 || (size_t)r + 10 > len) {
			return DNSWIRE_REPLY_FORMERR;
		}
		off = (size_t)r;
		uint16_t type = dnswire_get16(msg + off);
		uint16_t cls = dnswire_get16(msg + off + 2);
		uint32_t ttl = rs_wire_load_u32(msg + off + 4);
		uint16_t rdlen = dnswire_get16(msg + off + 8);
		off += 10;
		if (rdlen > len - off) {
			return DNSWIRE_REPLY_FORMERR;
		}
		if (q->has_tsig) {
			bad = true; /* RFC 8945 5.1: TSIG must be the last record */
		}
		if (type == DNSWIRE_OPT) {
			if (q->has_opt) {
				bad = true; /* RFC 6891 6.1.1: more than one OPT */
			}
			q->has_opt = true;
			if (msg[owner] != 0 || !opt_options_ok(msg, off, rdlen, q)) {
				bad = true;
			} else {
				q->edns_udp = cls;
				q->edns_version = (uint8_t)(ttl >> 16);
				q->do_bit = (ttl & 0x8000u) != 0;
			}
		} else if (type == DNSWIRE_TSIG) {
			if (q->has_tsig || cls != 255) {
				bad = true;
			}
			q->has_tsig = true;
		}
		off += rdlen;
	}
	q->opt_ok = q->has_opt && !bad;
	if (bad) {
		return DNSWIRE_REPLY_FORMERR;
	}
	if (qd == 0) {
		return q->cookie_len > 0 ? DNSWIRE_COOKIE_ONLY : DNSWIRE_REPLY_FORMERR;
	}
	/* RFC 1035 3.2.3: meta types are questions only; OPT is never a QTYPE. */
	if (q->qtype == DNSWIRE_OPT || q->qtype == DNSWIRE_TSIG) {
		return DNSWIRE_REPLY_FORMERR;
	}
	return DNSWIRE_OK;
}
