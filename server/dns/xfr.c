/*
 * Zone transfers: the published version (xfr_zone.c) or a condensed
 * difference from its journal (xfr_journal.c) as a sequence of framed DNS
 * messages (server/dns/xfr.h). This file only lays RRs out in messages.
 */
#include "server/dns/xfr.h"

#include <string.h>

#include "common/error.h"
#include "server/dns/answer_internal.h"

/* Compression pointers address the first 16 KiB of a message. */
#define PTR_MAX 0x3fffu

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
	/* the owner of the last RR written in this message, for a pointer */
	const uint8_t *last;
	size_t last_len;
	size_t last_at;
	struct xfr_result *res;
	int rc;
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
	m->last = NULL;
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
		rs_buf_add(m->out, m->query + DNSWIRE_HEADER,
				m->a->q.question_end - DNSWIRE_HEADER);
		m->apex = DNSWIRE_HEADER; /* the question is the apex (answer_transfer()) */
		m->first = false;
	}
}

static bool owner_repeats(const struct xfr_msg *m, const uint8_t *rel, size_t rel_len)
{
	return m->last != NULL && m->last_len == rel_len && m->last_at <= PTR_MAX &&
	       memcmp(m->last, rel, rel_len) == 0;
}

/* Octets an owner takes written now. */
static size_t owner_size(const struct xfr_msg *m, const uint8_t *rel, size_t rel_len)
{
	if (owner_repeats(m, rel, rel_len)) {
		return 2;
	}
	return rel_len + (m->apex != 0 ? 2 : m->z->len);
}

/* Write an owner: a pointer to the last RR's owner when it is the same;
 * else its labels below the apex, then a pointer to the apex, or the apex
 * itself the first time in a message. */
static void owner_put(struct xfr_msg *m, const uint8_t *rel, size_t rel_len)
{
	uint8_t ptr[2];
	if (owner_repeats(m, rel, rel_len)) {
		dnswire_set16(ptr, (uint16_t)(0xc000u | m->last_at));
		rs_buf_add(m->out, ptr, 2);
		return;
	}
	size_t at = msg_len(m);
	rs_buf_add(m->out, rel, rel_len);
	if (m->apex != 0) {
		dnswire_set16(ptr, (uint16_t)(0xc000u | m->apex));
		rs_buf_add(m->out, ptr, 2);
	} else {
		size_t apex = at + rel_len;
		rs_buf_add(m->out, m->z->wire, m->z->len);
		m->apex = apex <= PTR_MAX ? (uint16_t)apex : 0;
	}
	m->last = rel;
	m->last_len = rel_len;
	m->last_at = rel_len > 0 ? at : m->apex;
}

/* One RR, in the current message or a new one. */
static void rr_put(struct xfr_msg *m, const uint8_t *rel, size_t rel_len, const uint8_t *body,
		size_t body_len)
{
	if (m->rc != 0) {
		return;
	}
	if (msg_len(m) + owner_size(m, rel, rel_len) + body_len > m->max) {
		msg_end(m);
		msg_begin(m);
		if (msg_len(m) + owner_size(m, rel, rel_len) + body_len > m->max) {
			m->rc = RS_ERANGE;
			return;
		}
	}
	owner_put(m, rel, rel_len);
	rs_buf_add(m->out, body, body_len);
	m->an++;
	m->res->rrs++;
}

static int rrset_cb(const struct xfr_rrset *r, void *ud)
{
	struct xfr_msg *m = ud;
	/* The RRset whole in one message when it fits one. */
	size_t need = r->owner_len + m->z->len + 2 * r->n;
	for (uint32_t i = 0; i < r->n; i++) {
		need += xfr_body_len((const uint8_t *)r->data.data + r->off[i]);
	}
	if (msg_len(m) + need > m->max && DNSWIRE_HEADER + need <= m->max && m->an > 0) {
		msg_end(m);
		msg_begin(m);
	}
	for (uint32_t i = 0; i < r->n; i++) {
		const uint8_t *b = (const uint8_t *)r->data.data + r->off[i];
		rr_put(m, r->owner, r->owner_len, b, xfr_body_len(b));
	}
	m->res->partial_rrsets += r->partial;
	return m->rc != 0;
}

static const uint8_t APEX[1] = {0};

/* SOA, every RRset of the version, SOA. */
static void write_full(
		struct xfr_msg *m, const struct xfr_zone *zone, const uint8_t *soa, size_t soa_len)
{
	rr_put(m, APEX, 0, soa, soa_len);
	xfr_zone_foreach(zone, rrset_cb, m);
	rr_put(m, APEX, 0, soa, soa_len); /* RFC 5936 2.2: SOA last */
}

/* RFC 1995 4: SOA new, SOA old, deletions, SOA new, additions, SOA new. */
static void write_diff(struct xfr_msg *m, const struct xfr_zone *zone, const struct xfr_diff *d,
		const uint8_t *soa, size_t soa_len, uint32_t from)
{
	uint8_t old[2 * RS_NAME_WIRE_MAX + 40];
	size_t old_len = xfr_zone_soa(zone, from, old);
	rr_put(m, APEX, 0, soa, soa_len);
	rr_put(m, APEX, 0, old, old_len);
	for (size_t i = 0; i < d->ndel; i++) {
		const uint8_t *r = d->del[i];
		rr_put(m, xfr_rec_owner(r), xfr_rec_owner_len(r), xfr_rec_body(r),
				xfr_rec_body_len(r));
	}
	rr_put(m, APEX, 0, soa, soa_len);
	for (size_t i = 0; i < d->nadd; i++) {
		const uint8_t *r = d->add[i];
		rr_put(m, xfr_rec_owner(r), xfr_rec_owner_len(r), xfr_rec_body(r),
				xfr_rec_body_len(r));
	}
	rr_put(m, APEX, 0, soa, soa_len);
	m->res->incremental = true;
}

/* The difference from @p from when the journal has it and it is smaller
 * than the zone. @return 0 with @p d filled, or nonzero (send in full). */
static int diff_get(const struct xfr_zone *zone, uint32_t from, struct xfr_diff *d)
{
	int rc = xfr_journal_diff(xfr_zone_journal(zone), from, d);
	if (rc == 0 && d->bytes >= xfr_zone_bytes(zone)) {
		xfr_diff_free(d);
		rc = RS_ERANGE;
	}
	return rc;
}

static void fail_servfail(struct answer *a, const uint8_t *msg, struct rs_buf *out)
{
	uint8_t e[2 + 512];
	struct answer_result r;
	answer_write_error(a, msg, e + 2, sizeof(e) - 2, DNSWIRE_SERVFAIL, true, &r);
	dnswire_set16(e, (uint16_t)r.len);
	rs_buf_add(out, e, r.len + 2);
}

int xfr_write(struct answer *a, const struct xfr_zone *zone, const uint8_t *msg, size_t msg_max,
		struct rs_buf *out, struct xfr_result *res)
{
	memset(res, 0, sizeof(*res));
	const struct answer_zone *z = &a->zones[0];
	bool ixfr = a->q.qtype == DNSWIRE_IXFR;
	enum answer_xfr_type type = ixfr ? ANSWER_XFR_IXFR : ANSWER_XFR_AXFR;
	uint64_t *count = a->counters.transfers[type];
	size_t start = out->len;
	uint32_t serial = zone != NULL ? xfr_zone_serial(zone) : 0;
	int rc = RS_ENOMEM;
	struct xfr_diff d = {0};
	if (zone == NULL || msg_max < 512 || msg_max > XFR_MSG_MAX || !z->soa_built ||
			(uint32_t)z->soa.tag_rev != serial) {
		rc = RS_EINVAL; /* not what answer_process() left: a caller's bug */
		goto fail;
	}
	uint8_t soa[2 * RS_NAME_WIRE_MAX + 40];
	size_t soa_len = xfr_zone_soa(zone, serial, soa);
	struct xfr_msg m = {.a = a,
			.z = z,
			.query = msg,
			.out = out,
			.max = msg_max - a->tsig_room, /* signed: each message carries it */
			.first = true,
			.res = res};
	msg_begin(&m);
	if (ixfr && diff_get(zone, a->q.ixfr_serial, &d) == 0) {
		write_diff(&m, zone, &d, soa, soa_len, a->q.ixfr_serial);
	} else {
		write_full(&m, zone, soa, soa_len);
	}
	xfr_diff_free(&d);
	msg_end(&m);
	rc = m.rc;
	if (rc != 0 || rs_buf_error(out) != 0) {
		rc = rc != 0 ? rc : RS_ENOMEM;
		goto fail;
	}
	count[res->incremental ? ANSWER_XFR_INCREMENTAL : ANSWER_XFR_FULL]++;
	a->counters.transfer_partial_rrsets += res->partial_rrsets;
	a->counters.responses[DNSWIRE_NOERROR]++;
	a->counters.transfer_bytes[type] += out->len - start;
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
	a->counters.transfer_bytes[type] += out->len - start;
	return rc;
}

/* The OPT of a UDP reply: root owner, our payload size, no options. */
#define OPT_LEN 11u

size_t xfr_ixfr_udp(void *zone_ud, struct answer *a, const uint8_t *msg, uint8_t *out, size_t cap)
{
	const struct xfr_zone *zone = zone_ud;
	const struct answer_zone *z = &a->zones[0];
	bool opt = a->q.has_opt;
	struct xfr_diff d;
	if (cap < 512 || !z->soa_built || diff_get(zone, a->q.ixfr_serial, &d) != 0) {
		return 0;
	}
	uint8_t soa[2 * RS_NAME_WIRE_MAX + 40];
	size_t soa_len = xfr_zone_soa(zone, xfr_zone_serial(zone), soa);
	struct rs_buf b;
	rs_buf_init(&b);
	struct xfr_result res = {0};
	struct xfr_msg m = {.a = a,
			.z = z,
			.query = msg,
			.out = &b,
			.max = cap - (opt ? OPT_LEN : 0),
			.first = true,
			.res = &res};
	msg_begin(&m);
	write_diff(&m, zone, &d, soa, soa_len, a->q.ixfr_serial);
	msg_end(&m);
	xfr_diff_free(&d);
	size_t len = 0;
	if (m.rc == 0 && rs_buf_error(&b) == 0 && res.messages == 1) {
		len = b.len - 2;
		memcpy(out, b.data + 2, len);
		if (opt) { /* RFC 6891 7: a reply to a query with an OPT has one */
			static const uint8_t o[OPT_LEN] = {0, 0, 41};
			memcpy(out + len, o, OPT_LEN);
			dnswire_set16(out + len + 3, a->udp_max);
			dnswire_set16(out + 10, 1); /* ARCOUNT */
			len += OPT_LEN;
		}
	}
	rs_buf_deinit(&b);
	return len;
}
