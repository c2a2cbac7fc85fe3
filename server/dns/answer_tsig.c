/*
 * TSIG in the answer engine (RFC 8945): verify a signed query before it is
 * answered, sign its reply after, and sign each message of a transfer. The
 * signing itself is server/dns/tsig.c's; this file decides what a failure
 * is answered with and keeps the room the signature needs. Only a query
 * that carries a TSIG RR comes here: an unsigned one costs a flag test.
 */
#include "server/dns/answer_internal.h"

#include <string.h>

#include "common/error.h"

/* The transfer result a TSIG failure is counted as. */
static enum answer_xfr_result xfr_result_of(enum tsig_verdict v, uint16_t error)
{
	if (v == TSIG_FORMERR) {
		return ANSWER_XFR_FORMERR;
	}
	switch (error) {
	case TSIG_BADKEY:
		return ANSWER_XFR_BADKEY;
	case TSIG_BADTIME:
		return ANSWER_XFR_BADTIME;
	case TSIG_BADTRUNC:
		return ANSWER_XFR_BADTRUNC;
	default:
		return ANSWER_XFR_BADSIG;
	}
}

bool answer_tsig_check(struct answer *a, const uint8_t *msg, size_t len, bool transfer,
		bool outsider, const struct answer_client *c, uint8_t *out, size_t outcap,
		struct answer_result *res)
{
	a->tsig_now = c->wall_s;
	enum tsig_verdict v = tsig_request_verify(a->tsig_keys, msg, len, a->tsig_now, &a->tsig);
	if (v == TSIG_OK) {
		a->tsig_sign = true;
		a->tsig_room = tsig_size(&a->tsig);
		return true;
	}
	if (outsider) {
		return true; /* REFUSED for its source, unsigned, whatever it signed */
	}
	if (transfer) {
		enum answer_xfr_result why = xfr_result_of(v, a->tsig.error);
		bool ixfr = a->q.qtype == DNSWIRE_IXFR;
		a->counters.transfers[ixfr ? ANSWER_XFR_IXFR : ANSWER_XFR_AXFR][why]++;
		res->xfr_refused = true;
		res->xfr_reason = (uint8_t)why;
		res->xfr_type = a->q.qtype;
	}
	if (v == TSIG_FORMERR) {
		answer_write_error(a, msg, out, outcap, DNSWIRE_FORMERR, true, res);
		return false;
	}
	/* RFC 8945 5.2: NOTAUTH, the TSIG error in our TSIG RR (answer_process()
	 * signs it: without a MAC for BADKEY and BADSIG). */
	a->tsig_sign = true;
	a->tsig_room = tsig_size(&a->tsig);
	answer_write_error(a, msg, out, outcap - a->tsig_room, DNSWIRE_NOTAUTH, true, res);
	return false;
}

void answer_tsig_sign(struct answer *a, uint8_t *out, size_t outcap, const struct answer_client *c,
		struct answer_result *res)
{
	const struct dnswire_query *q = &a->q;
	if (c->transport == ANSWER_UDP) {
		/* The UDP size the writers kept to (RFC 6891 6.2.5), TSIG included. */
		size_t limit = 512;
		if (q->opt_ok && q->edns_udp > 512) {
			limit = q->edns_udp < a->udp_max ? q->edns_udp : a->udp_max;
		}
		outcap = limit < outcap ? limit : outcap;
	}
	size_t len = res->len;
	if (tsig_response_sign(&a->tsig, out, &len, outcap, a->tsig_now) == 0) {
		res->len = len;
		return;
	}
	/* RFC 8945 5.3: the signature must go out; the records need not. The
	 * header and the question, TC=1, no records. */
	len = q->question_end;
	uint16_t flags = dnswire_get16(out + 2);
	dnswire_set16(out + 2, (uint16_t)(flags | DNSWIRE_TC));
	memset(out + 6, 0, 6);
	if (len <= outcap && tsig_response_sign(&a->tsig, out, &len, outcap, a->tsig_now) == 0) {
		res->len = len;
		res->truncated = true;
		return;
	}
	a->counters.dropped++;
	res->action = ANSWER_DROP;
}

int answer_tsig_sign_framed(struct answer *a, struct rs_buf *out, size_t start)
{
	size_t room = tsig_size(&a->tsig);
	if (!rs_buf_reserve(out, room)) {
		return RS_ENOMEM;
	}
	uint8_t *msg = (uint8_t *)out->data + start + 2;
	size_t len = out->len - start - 2;
	if (tsig_response_sign(&a->tsig, msg, &len, len + room, a->tsig_now) != 0) {
		return RS_EINVAL; /* tsig_size() said the room it needs */
	}
	out->len = start + 2 + len;
	return 0;
}
