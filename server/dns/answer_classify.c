/*
 * The query classifier: what kind of query this is, from the pre-validator's
 * verdict, the checked question (lower-cased, with its label offsets) and the
 * zones we serve (SPEC DNS). Pure: no store lookup, no side effect, so
 * answer_process() can classify first and account afterwards.
 */
#include "server/dns/answer_internal.h"

#include <string.h>

#define CLASS_IN 1u /* RFC 1035 3.2.4 */

static bool label_is(const uint8_t *l, const char *text)
{
	size_t n = strlen(text);
	return l[0] == n && memcmp(l + 1, text, n) == 0;
}

uint32_t answer_ring_shard_label(const uint8_t *l)
{
	/* 1 to 99999, no leading zero: one spelling per shard. */
	if (l[0] == 0 || l[0] > 5 || l[1] == '0') {
		return 0;
	}
	uint32_t n = 0;
	for (unsigned i = 1; i <= l[0]; i++) {
		if (l[i] < '0' || l[i] > '9') {
			return 0;
		}
		n = n * 10 + (uint32_t)(l[i] - '0');
	}
	return n;
}

/* The longest of our zones that holds the question name, or NULL. */
static const struct answer_zone *zone_match(const struct answer *a, const struct dnswire_query *q)
{
	const struct answer_zone *best = NULL;
	for (size_t i = 0; i < a->nzones; i++) {
		const struct answer_zone *z = &a->zones[i];
		if (q->nlabels < z->nlabels || (best != NULL && best->nlabels >= z->nlabels)) {
			continue;
		}
		size_t off = q->nlabels == z->nlabels ? 0 : q->label_off[q->nlabels - z->nlabels];
		if (q->qname_len - off == z->len &&
				memcmp(q->qname_lower + off, z->wire, z->len) == 0) {
			best = z;
		}
	}
	return best;
}

/* A name inside @p z, by its labels below the apex (SPEC DNS). */
static enum answer_kind name_kind(const struct answer_zone *z, const struct dnswire_query *q)
{
	unsigned nrel = q->nlabels - z->nlabels;
	uint16_t qtype = q->qtype;
	if (nrel == 0) {
		if (qtype == DNSWIRE_SOA || qtype == DNSWIRE_ANY) {
			/* RFC 8482 4.2: one RRset is a minimal ANY answer. */
			return ANSWER_KIND_APEX_SOA;
		}
		return qtype == DNSWIRE_NS ? ANSWER_KIND_APEX_NS : ANSWER_KIND_NODATA;
	}
	if (z->report) {
		return ANSWER_KIND_REPORT;
	}
	const uint8_t *first = answer_label_at(q, 0);
	if (nrel == 1 && label_is(first, "_status")) {
		bool txt = qtype == DNSWIRE_TXT || qtype == DNSWIRE_ANY;
		return txt ? ANSWER_KIND_STATUS : ANSWER_KIND_NODATA;
	}
	if (nrel == 1) {
		return first[1] == '_' ? ANSWER_KIND_PROTO : ANSWER_KIND_HOST;
	}
	if (nrel == 2) {
		return ANSWER_KIND_SERVICE;
	}
	if (nrel == 3 && label_is(first, "_ring")) {
		return ANSWER_KIND_RING;
	}
	if (nrel == 4 && label_is(answer_label_at(q, 1), "_ring") &&
			answer_ring_shard_label(first) != 0) {
		return ANSWER_KIND_RING; /* <n>._ring._<svc>._<proto>: a shard */
	}
	return ANSWER_KIND_NXDOMAIN;
}

enum answer_kind answer_classify(
		const struct answer *a, enum dnswire_verdict v, const struct answer_zone **zone)
{
	const struct dnswire_query *q = &a->q;
	*zone = NULL;
	switch (v) {
	case DNSWIRE_OK:
		break;
	case DNSWIRE_DROP:
		return ANSWER_KIND_DROP;
	case DNSWIRE_REPLY_NOTIMP:
		return ANSWER_KIND_NOTIMP;
	case DNSWIRE_COOKIE_ONLY:
		if (a->cookies) {
			break;
		}
		/* What a server without cookies says (RFC 7873 5.4). */
		return ANSWER_KIND_MALFORMED;
	default:
		return ANSWER_KIND_MALFORMED;
	}
	if (q->opt_ok && q->edns_version > 0) {
		return ANSWER_KIND_BADVERS;
	}
	if (v == DNSWIRE_COOKIE_ONLY) {
		return ANSWER_KIND_COOKIE_ONLY;
	}
	const struct answer_zone *z = q->qclass == CLASS_IN ? zone_match(a, q) : NULL;
	if (z == NULL) {
		return ANSWER_KIND_REFUSED;
	}
	*zone = z;
	if (q->qtype == DNSWIRE_AXFR || q->qtype == DNSWIRE_IXFR) {
		return ANSWER_KIND_TRANSFER;
	}
	return name_kind(z, q);
}
