/*
 * The step every UDP path shares (dnsio.c's recvmmsg batches,
 * dnsio_uring.c's io_uring workers): one query answered, and its reply's
 * packet-info control message. Declared in dnsio_internal.h.
 */
#include "server/dns/dnsio_internal.h"

#include <string.h>

#include "common/clock.h"
#include "server/net/acl.h"

size_t dnsio_reply_cmsg(struct msghdr *m)
{
	if (m->msg_controllen < sizeof(struct cmsghdr) || (m->msg_flags & MSG_CTRUNC)) {
		return 0;
	}
	struct cmsghdr *c = CMSG_FIRSTHDR(m);
	/* A message longer than what was received would be read, and sent
	 * back, partly from whatever the buffer held before (fuzz_recv). */
	if (c->cmsg_len > m->msg_controllen) {
		return 0;
	}
	if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
			c->cmsg_len == CMSG_LEN(sizeof(struct in_pktinfo))) {
		struct in_pktinfo pi;
		memcpy(&pi, CMSG_DATA(c), sizeof(pi));
		pi.ipi_ifindex = 0;
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(struct in_pktinfo));
	}
	if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
			c->cmsg_len == CMSG_LEN(sizeof(struct in6_pktinfo))) {
		struct in6_pktinfo pi;
		memcpy(&pi, CMSG_DATA(c), sizeof(pi));
		if (!IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr)) {
			pi.ipi6_ifindex = 0;
			memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		}
		return CMSG_SPACE(sizeof(struct in6_pktinfo));
	}
	return 0;
}

/* Response rate limiting (server/dns/rrl.h) of one UDP answer: false when
 * it is dropped; a slipped one goes out shortened, TC=1. Not applied when
 * off, nor to a query that carried our valid server cookie (its source is
 * not forged: RFC 7873 5.3, BIND does the same). */
static bool udp_rrl(struct dnsio *io, const struct sockaddr *src, struct answer_result *res,
		uint8_t *resp, uint64_t now, struct dnsio_counters *ctr)
{
	if (io->rrl == NULL || res->cookie_good) {
		return true;
	}
	switch (rrl_apply(io->rrl, src, resp, &res->len, now)) {
	case RRL_SEND:
		return true;
	case RRL_SLIP:
		ctr->rrl_slipped++;
		return true;
	case RRL_DROP:
		break;
	}
	ctr->rrl_dropped++;
	return false;
}

size_t dnsio_udp_answer(struct dnsio *io, struct answer *a, const uint8_t *q, size_t len,
		const struct sockaddr *src, uint64_t now, uint32_t wall, uint8_t *out,
		struct dnsio_counters *ctr)
{
	struct answer_client c = {ANSWER_UDP, src, 0, wall};
	/* --dns-allow: a refused source is answered REFUSED (BIND's allow-query). */
	c.refused = io->cfg.acl != NULL && acl_check(io->cfg.acl, src, now) == ACL_REFUSE;
	struct answer_result res;
	answer_process(a, q, len, &c, now, out, UDP_OUT_MAX, &res);
	if (res.report) {
		report_log_write(&io->report, &res.fields, src, rs_clock_wall_ms());
	}
	if (res.xfr_refused) {
		dnsio_refusal_note(&io->refusals, &res, src);
	}
	if (res.action != ANSWER_SEND || !udp_rrl(io, src, &res, out, now, ctr)) {
		return 0;
	}
	return res.len;
}
