/*
 * The response writer: a reply is written straight into the caller's buffer
 * (header, the question as sent, prepared RRs in a per-query order, the SOA
 * of a negative answer, the OPT record), bounded by the message limit of the
 * transport. Owners are compressed to a pointer at the question; SRV targets
 * never are (RFC 2782); additional-section owners point at the SRV targets.
 */
#include "server/dns/answer_internal.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "server/registry/store.h"

/* Compression pointers address the first 16 KiB of a message. */
#define PTR_MAX 0x3fffu
#define QNAME_PTR 0xc00cu /* the question name, always at offset 12 */
#define OPT_LEN 11u
#define EDE_LEN 6u
#define KEEPALIVE_LEN 6u
#define COOKIE_LEN (4u + COOKIE_CLIENT_LEN + COOKIE_SERVER_LEN)
#define EDE_STALE_ANSWER 3u /* RFC 8914 4.4 */
#define EDE_OTHER 0u        /* RFC 8914 4.1, with EXTRA-TEXT */
#define EDE_TEXT_MAX 80u

/* A reply being written. */
struct reply {
	struct dnswire_writer w;
	size_t limit; /* room for records: the message limit minus the OPT */
	uint16_t flags;
	uint16_t rcode; /* extended */
	uint16_t an, ns, ar;
	bool stale;
	bool opt;
	bool cookie;               /* the OPT carries our COOKIE (a->cookie) */
	uint32_t ring_in, ring_of; /* a partial ring: EDE "Other" saying how partial */
	uint16_t keepalive;        /* RFC 7828 TIMEOUT to send, 100 ms units; 0: none */
	size_t question_end;
};

static void reply_begin(struct answer *a, struct reply *r, const uint8_t *msg, uint8_t *out,
		size_t cap, bool question, bool aa)
{
	const struct dnswire_query *q = &a->q;
	dnswire_writer_init(&r->w, out, cap);
	/* RFC 1035 4.1.1: id copied; opcode and RD echoed; RFC 4035 3.1.6: CD too. */
	r->flags = (uint16_t)(DNSWIRE_QR | (q->flags & (0x7800u | DNSWIRE_RD | DNSWIRE_CD)) |
			      (aa ? DNSWIRE_AA : 0));
	r->an = r->ns = r->ar = 0;
	r->stale = false;
	r->ring_in = r->ring_of = 0;
	r->cookie = a->cookie_send;
	r->keepalive = 0;
	uint8_t h[DNSWIRE_HEADER] = {0};
	dnswire_set16(h, q->id);
	dnswire_put(&r->w, h, sizeof(h));
	if (question) {
		dnswire_put(&r->w, msg + DNSWIRE_HEADER, q->question_end - DNSWIRE_HEADER);
	}
	r->question_end = r->w.len;
}

/* The OPT record's options into @p o after its fixed part; @return the
 * record's length. */
static size_t opt_options(struct answer *a, const struct reply *r, uint8_t *o)
{
	size_t n = OPT_LEN;
	if (r->stale) {
		dnswire_set16(o + n, DNSWIRE_OPT_EDE);
		dnswire_set16(o + n + 2, 2);
		dnswire_set16(o + n + 4, EDE_STALE_ANSWER);
		n += EDE_LEN;
		a->counters.stale++;
	}
	if (r->ring_of != 0) {
		char text[EDE_TEXT_MAX + 1];
		int len = snprintf(text, sizeof(text),
				"ring of %u of %u instances; the whole ring is in the API",
				r->ring_in, r->ring_of);
		len = len < 0 ? 0 : len > (int)EDE_TEXT_MAX ? (int)EDE_TEXT_MAX : len;
		dnswire_set16(o + n, DNSWIRE_OPT_EDE);
		dnswire_set16(o + n + 2, (uint16_t)(2 + len));
		dnswire_set16(o + n + 4, EDE_OTHER);
		memcpy(o + n + EDE_LEN, text, (size_t)len);
		n += EDE_LEN + (size_t)len;
	}
	if (r->keepalive != 0) {
		dnswire_set16(o + n, DNSWIRE_OPT_KEEPALIVE);
		dnswire_set16(o + n + 2, 2);
		dnswire_set16(o + n + 4, r->keepalive);
		n += KEEPALIVE_LEN;
	}
	if (r->cookie) {
		/* RFC 7873 5.2: the client cookie as sent, then ours. */
		dnswire_set16(o + n, DNSWIRE_OPT_COOKIE);
		dnswire_set16(o + n + 2, COOKIE_CLIENT_LEN + COOKIE_SERVER_LEN);
		memcpy(o + n + 4, a->cookie_client, COOKIE_CLIENT_LEN);
		memcpy(o + n + 4 + COOKIE_CLIENT_LEN, a->cookie, COOKIE_SERVER_LEN);
		n += COOKIE_LEN;
	}
	return n;
}

/* The OPT record, then the header's counts and rcode; fills @p res. */
static void reply_end(struct answer *a, struct reply *r, struct answer_result *res)
{
	const struct dnswire_query *q = &a->q;
	if (r->opt) {
		/* RFC 6891 6.1.2/6.1.3: our payload size, extended rcode, version 0,
		 * DO copied (RFC 3225 3). */
		uint8_t o[OPT_LEN + 2 * EDE_LEN + EDE_TEXT_MAX + KEEPALIVE_LEN + COOKIE_LEN];
		/* Only the octets written are sent: clear the fixed part alone. */
		memset(o, 0, OPT_LEN);
		o[2] = DNSWIRE_OPT;
		dnswire_set16(o + 3, a->udp_max);
		o[5] = (uint8_t)(r->rcode >> 4);
		o[7] = q->do_bit ? 0x80 : 0;
		size_t n = opt_options(a, r, o);
		dnswire_set16(o + 9, (uint16_t)(n - OPT_LEN));
		/* Room was reserved by the caller; the writer's cap still guards. */
		dnswire_put(&r->w, o, n);
		if (!r->w.overflow) {
			r->ar++;
		}
	}
	uint8_t *h = r->w.buf;
	dnswire_set16(h + 2, (uint16_t)(r->flags | (r->rcode & 0xf)));
	dnswire_set16(h + 4, r->question_end > DNSWIRE_HEADER ? 1 : 0);
	dnswire_set16(h + 6, r->an);
	dnswire_set16(h + 8, r->ns);
	dnswire_set16(h + 10, r->ar);
	res->action = ANSWER_SEND;
	res->len = r->w.len;
	res->rcode = r->rcode;
	res->truncated = (r->flags & DNSWIRE_TC) != 0;
	a->counters.responses[r->rcode < 24 ? r->rcode : 23]++;
	if (res->truncated) {
		a->counters.truncated++;
	}
}

void answer_write_error(struct answer *a, const uint8_t *msg, uint8_t *out, size_t cap,
		uint16_t rcode, bool question, struct answer_result *res)
{
	struct reply r;
	reply_begin(a, &r, msg, out, cap, question, false);
	r.rcode = rcode;
	r.opt = a->q.has_opt;
	if (rcode == DNSWIRE_NOTIMP) {
		/* RD stays (RFC 1035 4.1.1; NSD and Knot copy it too); CD means
		 * something only in an answer to a standard query (RFC 4035
		 * 3.1.6), so it is not echoed for an opcode we do not know. */
		r.flags &= (uint16_t)~DNSWIRE_CD;
	}
	reply_end(a, &r, res);
}

/* Begin an authoritative NOERROR reply: header and question written, the
 * message limit of the transport set, room kept for the OPT and the options
 * it will carry. */
static void reply_start(struct answer *a, struct reply *r, const uint8_t *msg, uint8_t *out,
		size_t outcap, const struct answer_client *c)
{
	const struct dnswire_query *q = &a->q;
	size_t limit = 65535;
	if (c->transport == ANSWER_UDP) {
		/* RFC 6891 6.2.5: under 512 means 512; capped at our maximum. */
		limit = 512;
		if (q->opt_ok && q->edns_udp > 512) {
			limit = q->edns_udp < a->udp_max ? q->edns_udp : a->udp_max;
		}
	}
	if (limit > outcap) {
		limit = outcap;
	}
	limit -= a->tsig_room; /* a signed reply: room for the TSIG RR (answer_tsig.c) */
	reply_begin(a, r, msg, out, limit, true, true);
	r->opt = q->opt_ok;
	r->rcode = DNSWIRE_NOERROR;
	if (r->opt && q->keepalive && c->transport == ANSWER_TCP) {
		r->keepalive = c->keepalive; /* RFC 7828 3.3.2; never over UDP (3.2.1) */
	}
	/* Room for the OPT record and the options it will carry; EDE is added
	 * by write_rrset() when the RRset has stale instances. */
	r->limit = limit - (r->opt ? OPT_LEN : 0) - (r->keepalive ? KEEPALIVE_LEN : 0) -
		   (r->cookie ? COOKIE_LEN : 0);
}

/* Additional section: A/AAAA of the targets of the @p k SRV RRs written, while
 * they fit (RFC 2181 9: dropping additional data never sets TC). Owners point
 * at the target in the SRV RDATA when it lies within pointer reach. Each
 * record is checked against the limit before it is copied. */
static void write_additional(
		struct answer *a, struct reply *r, const struct answer_prep *p, uint32_t k)
{
	const struct answer_order *o = a->order;
	uint8_t *out = r->w.buf;
	size_t len = r->w.len;
	for (uint32_t i = 0; i < k; i++) {
		const struct answer_prep_rr *rr = &p->rr[o[i].idx];
		const uint8_t *ab = (const uint8_t *)p->data.data + rr->add_off;
		size_t left = rr->add_len;
		size_t tpos = o[i].pos + rr->target;
		const uint8_t *tname = (const uint8_t *)p->data.data + rr->off + rr->target;
		size_t tlen = rr->target_len;
		while (left >= 10) {
			size_t blen = 10u + dnswire_get16(ab + 8);
			size_t olen = tpos <= PTR_MAX ? 2 : tlen;
			if (len + olen + blen > r->limit) {
				r->w.len = len;
				return;
			}
			if (tpos <= PTR_MAX) {
				dnswire_set16(out + len, (uint16_t)(0xc000u | tpos));
			} else {
				memcpy(out + len, tname, tlen);
			}
			memcpy(out + len + olen, ab, blen);
			len += olen + blen;
			r->ar++;
			ab += blen;
			left -= blen;
		}
	}
	r->w.len = len;
}

/* A prepared RRset into the answer section: UDP answers that do not fit
 * become TC=1 with no records; TCP ones a subset. */
static void write_rrset(struct answer *a, struct reply *r, const struct answer_prep *p,
		const struct answer_client *c, struct answer_result *res)
{
	bool stale = p->stale && a->q.opt_ok;
	if (stale) {
		r->limit -= EDE_LEN; /* the EDE option will go into the OPT */
	}
	bool partial_ring = p->ring_in < p->ring_of;
	if (partial_ring && a->q.opt_ok) {
		r->limit -= EDE_LEN + EDE_TEXT_MAX; /* room for the EDE saying so */
	}
	if (p->total > r->limit - r->w.len && c->transport == ANSWER_UDP) {
		/* RFC 2181 9 / RFC 7766: TC=1, no records, the resolver retries on TCP. */
		r->flags |= DNSWIRE_TC;
		return;
	}
	if (r->w.overflow) {
		return; /* cannot happen: the header and question always fit in 512 */
	}
	r->stale = stale;
	if (partial_ring) {
		/* A ring of a subset of the instances: say so, as for any partial
		 * answer, and in an EDE the person at dig can read. */
		res->partial = true;
		a->counters.partial++;
		if (a->q.opt_ok) {
			r->ring_in = p->ring_in;
			r->ring_of = p->ring_of;
		}
	}
	bool partial;
	uint32_t k = answer_pick(a, p, r->limit - r->w.len, c, &partial);
	struct answer_order *o = a->order;
	/* The k RRs fit (the whole set was checked against the room above, or
	 * answer_pick() chose k to fit it), and the room is inside the writer's
	 * cap: copy them without a bound check per RR. */
	uint8_t *out = r->w.buf;
	size_t len = r->w.len;
	for (uint32_t i = 0; i < k; i++) {
		const struct answer_prep_rr *rr = &p->rr[o[i].idx];
		o[i].pos = (uint32_t)(len + 2);
		dnswire_set16(out + len, QNAME_PTR);
		memcpy(out + len + 2, (const uint8_t *)p->data.data + rr->off, rr->len);
		len += 2u + rr->len;
	}
	assert(len <= r->limit && r->limit <= r->w.cap);
	r->w.len = len;
	r->an = (uint16_t)k;
	if (partial) {
		res->partial = true;
		a->counters.partial++;
	}
	if (p->qtype == DNSWIRE_SRV) {
		write_additional(a, r, p, k); /* only SRV targets have additional data */
	}
}

/* SOA of @p z in the authority section (RFC 2308 3). */
static void write_negative(struct answer *a, struct reply *r, const struct answer_zone *z)
{
	const struct dnswire_query *q = &a->q;
	uint16_t apex = (uint16_t)(DNSWIRE_HEADER +
				   (q->nlabels > z->nlabels ? q->label_off[q->nlabels - z->nlabels]
							    : 0));
	size_t at = r->w.len;
	if (at + 2 + z->soa.data.len > r->limit) {
		/* Only with very long NS names and a 512-octet limit: the SOA is
		 * optional data here, the rcode says it all. */
		return;
	}
	dnswire_put16(&r->w, (uint16_t)(0xc000u | apex));
	dnswire_put(&r->w, z->soa.data.data, z->soa.data.len);
	if (!r->w.overflow) {
		/* RFC 2308 3: the smaller of the SOA's MINIMUM and its own TTL,
		 * which answer_soa_ttl() keeps at or above MINIMUM. */
		rs_wire_store_u32(r->w.buf + at + 2 + 4, z->neg_ttl);
		r->ns = 1;
	}
}

size_t answer_status_body(const struct store *st, const uint32_t *serial, uint8_t *out)
{
	struct store_sizes sz;
	store_sizes_get(st, &sz);
	char s[7][64];
	int n[7];
	int k = 0;
	n[k] = snprintf(s[k], sizeof(s[k]), "mode=%s",
			store_preserving(st) ? "preserving" : "normal");
	k++;
	if (serial != NULL) {
		n[k] = snprintf(s[k], sizeof(s[k]), "serial=%u", *serial);
		k++;
	}
	n[k] = snprintf(s[k], sizeof(s[k]), "revision=%llu",
			(unsigned long long)store_revision(st));
	k++;
	n[k] = snprintf(s[k], sizeof(s[k]), "leases=%llu", (unsigned long long)sz.leases);
	k++;
	n[k] = snprintf(s[k], sizeof(s[k]), "instances=%llu", (unsigned long long)sz.instances);
	k++;
	n[k] = snprintf(s[k], sizeof(s[k]), "up=%llu", (unsigned long long)sz.up);
	k++;
	n[k] = snprintf(s[k], sizeof(s[k]), "stale=%llu", (unsigned long long)sz.stale);
	k++;
	size_t len = 10;
	for (int i = 0; i < k; i++) {
		out[len] = (uint8_t)n[i];
		memcpy(out + len + 1, s[i], (size_t)n[i]);
		len += 1u + (size_t)n[i];
	}
	dnswire_set16(out, DNSWIRE_TXT);
	dnswire_set16(out + 2, 1);
	rs_wire_store_u32(out + 4, 0); /* monitors want it fresh */
	dnswire_set16(out + 8, (uint16_t)(len - 10));
	return len;
}

/* _status TXT: built per query from live counts (it is a monitoring record). */
static void write_status(struct answer *a, struct reply *r)
{
	uint8_t body[ANSWER_STATUS_BODY_MAX];
	size_t len = answer_status_body(a->store, NULL, body);
	dnswire_put16(&r->w, QNAME_PTR);
	dnswire_put(&r->w, body, len);
	r->an = 1;
}

void answer_write_zone(struct answer *a, const uint8_t *msg, uint8_t *out, size_t outcap,
		const struct answer_client *c, const struct answer_zone *z, enum answer_body body,
		const struct answer_prep *p, struct answer_result *res)
{
	struct reply r;
	reply_start(a, &r, msg, out, outcap, c);
	switch (body) {
	case ANSWER_BODY_RRSET:
		write_rrset(a, &r, p, c, res);
		break;
	case ANSWER_BODY_STATUS:
		write_status(a, &r);
		break;
	case ANSWER_BODY_NXDOMAIN:
		r.rcode = DNSWIRE_NXDOMAIN;
		write_negative(a, &r, z);
		break;
	default:
		write_negative(a, &r, z);
		break;
	}
	reply_end(a, &r, res);
}
