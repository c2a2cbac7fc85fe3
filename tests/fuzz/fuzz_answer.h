/*
 * tests/fuzz/fuzz_answer.h - what the fuzz targets that answer DNS queries
 * through the engine share (fuzz_dns.c, fuzz_recv.c): registering
 * instances in the engine fixture's store (tests/engine_fixture.h), and the
 * invariants every response must hold.
 */
#pragma once

#include <ldns/ldns.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/addr.h"
#include "server/dns/answer.h"
#include "server/dns/dnswire.h"
#include "server/registry/store.h"
#include "tests/engine_fixture.h"
#include "tests/fuzz/fuzz.h"

/* Register one instance of @p svc._@p proto in @p st at the fixture's
 * clock, permanent, weight 10, with at most one address (@p addr may be
 * NULL); abort() when the store refuses it. */
static inline void fuzz_register(struct store *st, const char *svc, const char *proto,
		const char *host, unsigned port, const char *addr, enum store_status status,
		const struct store_meta *meta, size_t nmeta)
{
	struct rs_addr ad[1];
	size_t n = 0;
	if (addr != NULL) {
		CHECK(rs_addr_parse(addr, &ad[0]) == 0);
		n = 1;
	}
	struct store_registration r = {
			.service = svc,
			.protocol = proto,
			.host = host,
			.port = port,
			.addrs = ad,
			.naddrs = n,
			.weight = 10,
			.status = status,
			.meta = meta,
			.nmeta = nmeta,
	};
	bool created;
	uint64_t rev;
	if (store_register(st, &r, ENGINE_T0_MS, 0, &created, &rev) < 0) {
		fprintf(stderr, "fuzz: cannot register %s %s:%u\n", svc, host, port);
		abort();
	}
}

/* The most a UDP response to query @p q may hold: 512 octets without EDNS,
 * the requestor's size (at least 512) capped at ENGINE_UDP_MAX with it, and
 * ENGINE_UDP_MAX for what the pre-validator does not take as a query. */
static inline size_t fuzz_udp_limit(const uint8_t *q, size_t qlen)
{
	struct dnswire_query dq;
	enum dnswire_verdict v = dnswire_query_check(q, qlen, &dq);
	if ((v == DNSWIRE_OK || v == DNSWIRE_COOKIE_ONLY) && dq.has_opt && dq.opt_ok) {
		size_t want = dq.edns_udp < 512 ? 512 : dq.edns_udp;
		return want < ENGINE_UDP_MAX ? want : ENGINE_UDP_MAX;
	}
	if (v == DNSWIRE_OK && !dq.has_opt) {
		return 512;
	}
	return ENGINE_UDP_MAX;
}

/* Check the response @p res that answer_process() wrote into @p out (@p cap
 * octets) for query @p q over transport @p t: within the cap and, over UDP,
 * within fuzz_udp_limit(); QR=1 and the query's ID; no TC over TCP; parsed
 * by ldns. abort() on a finding. @return the parsed response (to be freed
 * with ldns_pkt_free()), NULL when nothing is to be sent. */
static inline ldns_pkt *fuzz_response_check(const uint8_t *q, size_t qlen, enum answer_transport t,
		const uint8_t *out, size_t cap, const struct answer_result *res)
{
	if (res->action != ANSWER_SEND) {
		return NULL;
	}
	CHECK(res->len <= cap);
	CHECK(res->len >= DNSWIRE_HEADER);
	CHECK(qlen >= DNSWIRE_HEADER);
	CHECK(out[0] == q[0] && out[1] == q[1]);
	CHECK((dnswire_get16(out + 2) & DNSWIRE_QR) != 0);
	if (t == ANSWER_UDP) {
		CHECK(res->len <= fuzz_udp_limit(q, qlen));
	} else {
		CHECK(!res->truncated);
	}
	ldns_pkt *p = NULL;
	ldns_status s = ldns_wire2pkt(&p, out, res->len);
	if (s != LDNS_STATUS_OK) {
		fprintf(stderr, "fuzz: response does not parse: %s\n", ldns_get_errorstr_by_id(s));
		abort();
	}
	return p;
}
