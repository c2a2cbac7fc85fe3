/*
 * Full zone transfers: the zone as a sequence of framed DNS messages
 * (server/dns/xfr.h). RRsets come from the engine's builders
 * (answer_build.c) into scratch RRsets, subsets from answer_pick.c; this
 * file only lays them out in messages.
 */
#include "server/dns/xfr.h"

#include <string.h>

#include "common/error.h"
#include "server/dns/answer_internal.h"
#include "server/registry/store.h"

/* Compression pointers address the first 16 KiB of a message. */
#define PTR_MAX 0x3fffu
/* Room a secondary's answer keeps for its OPT record (cookie, EDE,
 * keepalive, padding alignment) besides the header and the question. */
#define XFR_OPT_SLACK 64u

/* The message being written: its octets live in out at start + 2. */
struct xfr_msg {
	struct answer *a;
	const struct answer_zone *z;
	const uint8_t *query;
	struct rs_buf *out;
	size_t max;
	size_t start; /* offset in out of the length prefix */
	uint16_t an;
	uint16_t apex; /* offset of the apex name in the message; 0: none yet */
	bool first;
	struct xfr_result *res;
	int rc; /* a build's failure: the walk stops */
};

static size_t msg_len(const struct xfr_msg *m)
{
	return m->out->len - m->start - 2;
}

/* Close the current message: its length prefix and answer count. */
static void msg_end(struct xfr_msg *m)
{
	if (rs_buf_error(m->out) != 0) {
		return;
	}
	dnswire_set16((uint8_t *)m->out->data + m->start + 2 + 6, m->an);
	if (m->a->tsig_sign) { /* RFC 8945 5.3.1: every message signed */
		int rc = answer_tsig_sign_framed(m->a, m->out, m->start);
		m->rc = m->rc != 0 ? m->rc : rc;
	}
	dnswire_set16((uint8_t *)m->out->data + m->start, (uint16_t)msg_len(m));
	m->res->messages++;
}

/* Open a message: the header, and the query's question in the first one. */
static void msg_begin(struct xfr_msg *m)
{
	const struct dnswire_query *q = &m->a->q;
	m->start = m->out->len;
	m->an = 0;
	m->apex = 0;
	uint8_t h[2 + DNSWIRE_HEADER] = {0};
	dnswire_set16(h + 2, q->id);
	/* RFC 5936 2.2.1: like any answer (RFC 1035 4.1.1); AA set. */
	dnswire_set16(h + 4, (uint16_t)(DNSWIRE_QR | DNSWIRE_AA |
					     (q->flags & (0x7800u | DNSWIRE_RD | DNSWIRE_CD))));
	if (m->first) {
		dnswire_set16(h + 6, 1);
	}
	rs_buf_add(m->out, h, sizeof(h));
	if (m->first) {
		rs_buf_add(m->out, m->query + DNSWIRE_HEADER, q->question_end - DNSWIRE_HEADER);
		m->apex = DNSWIRE_HEADER; /* the question is the apex (answer_transfer()) */
		m->first = false;
	}
}

/* Write an owner: its labels below the apex (@p rel), then a pointer to the
 * apex, or the apex itself the first time in a message.
 * @return the owner's offset in the message. */
static size_t owner_put(struct xfr_msg *m, const uint8_t *rel, size_t rel_len)
{
	size_t at = msg_len(m);
	rs_buf_add(m->out, rel, rel_len);
	if (m->apex != 0) {
		uint8_t ptr[2];
		dnswire_set16(ptr, (uint16_t)(0xc000u | m->apex));
		rs_buf_add(m->out, ptr, 2);
	} else {
		size_t apex = at + rel_len;
		rs_buf_add(m->out, m->z->wire, m->z->len);
		m->apex = apex <= PTR_MAX ? (uint16_t)apex : 0;
	}
	return at;
}

/* Octets the RRs @p idx[0..k) of @p p take with owner @p rel, written from
 * the message's present length. */
static size_t rrset_size(const struct xfr_msg *m, const struct answer_prep *p,
		const struct answer_order *o, uint32_t k, size_t rel_len)
{
	size_t first = rel_len + (m->apex != 0 ? 2 : m->z->len);
	size_t rest = msg_len(m) <= PTR_MAX ? 2 : rel_len + 2;
	size_t n = first - rest;
	for (uint32_t i = 0; i < k; i++) {
		n += rest + p->rr[o[i].idx].len;
	}
	return n;
}

/* One RRset at owner @p rel: whole, or the stable subset that a secondary
 * can answer in one message; in the current message, or a new one. */
static void rrset_put(
		struct xfr_msg *m, const struct answer_prep *p, const uint8_t *rel, size_t rel_len)
{
	struct answer *a = m->a;
	if (p->n == 0) {
		return;
	}
	size_t room = m->max - DNSWIRE_HEADER - (rel_len + m->z->len + 4) - XFR_OPT_SLACK;
	uint32_t k = p->n;
	bool partial = p->total > room || p->ring_in < p->ring_of;
	if (p->total > room) {
		k = answer_pick_stable(a, p, room);
	} else {
		for (uint32_t i = 0; i < k; i++) {
			a->order[i].idx = i;
		}
	}
	if (partial) {
		m->res->partial_rrsets++;
		a->counters.transfer_partial_rrsets++;
	}
	if (k == 0) {
		return; /* one RR larger than a message: a secondary could not answer it */
	}
	if (msg_len(m) + rrset_size(m, p, a->order, k, rel_len) > m->max) {
		msg_end(m);
		msg_begin(m);
	}
	size_t owner = 0;
	for (uint32_t i = 0; i < k; i++) {
		if (i == 0 || owner > PTR_MAX) {
			size_t at = owner_put(m, rel, rel_len);
			owner = i == 0 ? at : owner;
		} else {
			uint8_t ptr[2];
			dnswire_set16(ptr, (uint16_t)(0xc000u | owner));
			rs_buf_add(m->out, ptr, 2);
		}
		const struct answer_prep_rr *rr = &p->rr[a->order[i].idx];
		rs_buf_add(m->out, p->data.data + rr->off, rr->len);
		m->an++;
	}
	m->res->rrsets++;
}

/* A scratch RRset of one service (or of a name's services, for A/AAAA),
 * built by the engine's builder, written, and freed. */
static int built_put(struct xfr_msg *m, enum answer_prep_kind kind, uint16_t qtype, uint64_t rev,
		const struct store_service *svc, const uint8_t *rel, size_t rel_len)
{
	struct answer *a = m->a;
	struct answer_prep p;
	memset(&p, 0, sizeof(p));
	p.qtype = qtype;
	p.tag_rev = rev;
	uint64_t rebuilds = a->counters.rebuilds; /* that counter is the query cache's */
	int rc = answer_build_rrset(a, &p, kind, svc);
	a->counters.rebuilds = rebuilds;
	if (rc == 0) {
		rrset_put(m, &p, rel, rel_len);
		rc = rs_buf_error(m->out);
	}
	answer_build_clear(&p);
	return rc;
}

/* "_<a>._<b>" (or "<a>" alone) as wire labels after @p prefix. */
static size_t rel_name(uint8_t *w, const char *prefix, const char *a, const char *b)
{
	size_t n = 0;
	if (prefix != NULL) {
		size_t l = strlen(prefix);
		w[n++] = (uint8_t)l;
		memcpy(w + n, prefix, l);
		n += l;
	}
	const char *parts[2] = {a, b};
	for (int i = 0; i < 2 && parts[i] != NULL; i++) {
		size_t l = strlen(parts[i]);
		bool under = b != NULL;
		w[n++] = (uint8_t)(l + under);
		if (under) {
			w[n++] = '_';
		}
		memcpy(w + n, parts[i], l);
		n += l;
	}
	return n;
}

/* The RRsets of one service: SRV, _ring; and the A/AAAA of its name when it
 * is the first service of that name (store_service_find_name()). */
static int service_cb(const struct store_service *s, void *ud)
{
	struct xfr_msg *m = ud;
	uint8_t rel[RS_NAME_WIRE_MAX];
	size_t n = rel_name(rel, NULL, s->name, s->protocol);
	int rc = built_put(m, ANSWER_PREP_SRV, DNSWIRE_SRV, s->revision, s, rel, n);
	if (rc == 0) {
		n = rel_name(rel, "_ring", s->name, s->protocol);
		rc = built_put(m, ANSWER_PREP_RING, DNSWIRE_TXT, s->revision, s, rel, n);
	}
	const struct store_service *head =
			store_service_find_name(m->a->store, s->name, strlen(s->name));
	if (rc == 0 && head == s) {
		uint64_t rev = 0;
		for (const struct store_service *t = s; t != NULL; t = t->name_next) {
			rev = t->revision > rev ? t->revision : rev;
		}
		n = rel_name(rel, NULL, s->name, NULL);
		rc = built_put(m, ANSWER_PREP_ADDR, DNSWIRE_A, rev, s, rel, n);
		if (rc == 0) {
			rc = built_put(m, ANSWER_PREP_ADDR, DNSWIRE_AAAA, rev, s, rel, n);
		}
	}
	m->rc = rc;
	return rc != 0; /* nonzero stops store_service_foreach() */
}

/* _status TXT: one RR, built as a query would get it. */
static void status_put(struct xfr_msg *m)
{
	static const uint8_t rel[] = {7, '_', 's', 't', 'a', 't', 'u', 's'};
	struct answer_prep p;
	memset(&p, 0, sizeof(p));
	uint8_t body[ANSWER_STATUS_BODY_MAX];
	size_t len = answer_status_body(m->a, body);
	struct answer_prep_rr rr = {.off = 0, .len = (uint16_t)len, .weight = 1};
	p.rr = &rr;
	p.n = 1;
	p.total = 2 + len;
	p.data.data = (char *)body;
	p.data.len = len;
	rrset_put(m, &p, rel, sizeof(rel));
}

static void fail_servfail(struct answer *a, const uint8_t *msg, struct rs_buf *out)
{
	uint8_t e[2 + 512];
	struct answer_result r;
	answer_write_error(a, msg, e + 2, sizeof(e) - 2, DNSWIRE_SERVFAIL, true, &r);
	dnswire_set16(e, (uint16_t)r.len);
	rs_buf_add(out, e, r.len + 2);
}

int xfr_write(struct answer *a, const uint8_t *msg, size_t msg_max, struct rs_buf *out,
		struct xfr_result *res)
{
	memset(res, 0, sizeof(*res));
	const struct answer_zone *z = &a->zones[0];
	bool ixfr = a->q.qtype == DNSWIRE_IXFR;
	uint64_t *count = a->counters.transfers[ixfr ? ANSWER_XFR_IXFR : ANSWER_XFR_AXFR];
	size_t start = out->len;
	int rc = RS_ENOMEM;
	if (msg_max < 512 || msg_max > XFR_MSG_MAX || !z->soa_built ||
			z->soa.tag_rev != store_revision(a->store)) {
		rc = RS_EINVAL; /* not what answer_process() left: a caller's bug */
		goto fail;
	}
	/* a->tsig_room: the TSIG RR each message carries when signed. */
	struct xfr_msg m = {a, z, msg, out, msg_max - a->tsig_room, 0, 0, 0, true, res, 0};
	msg_begin(&m);
	static const uint8_t apex[1] = {0};
	rrset_put(&m, &z->soa, apex, 0);
	rrset_put(&m, &z->ns, apex, 0);
	status_put(&m);
	store_service_foreach(a->store, service_cb, &m);
	rrset_put(&m, &z->soa, apex, 0); /* RFC 5936 2.2: SOA last */
	msg_end(&m);
	if (m.rc != 0 || rs_buf_error(out) != 0) {
		goto fail;
	}
	count[ANSWER_XFR_FULL]++;
	a->counters.responses[DNSWIRE_NOERROR]++;
	return 0;
fail:
	count[ANSWER_XFR_FAILED]++;
	memset(res, 0, sizeof(*res));
	if (rs_buf_error(out) != 0) {
		rs_buf_reset(out); /* its failure is sticky: start it again */
	} else {
		out->len = start;
	}
	fail_servfail(a, msg, out);
	return rc;
}
