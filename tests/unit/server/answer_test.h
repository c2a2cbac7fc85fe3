/*
 * tests/unit/server/answer_test.h - what the answer engine's unit tests
 * (test_answer.c, test_answer_cache.c, test_answer_write.c) share: the
 * engine fixture opened, a query built by hand, a registration in one call,
 * and a walk over the raw sections of a response that checks every record
 * is whole.
 */
#pragma once

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/addr.h"
#include "server/dns/dnswire.h"
#include "server/registry/store.h"
#include "tests/engine_fixture.h"

/* The shared engine fixture (tests/engine_fixture.h) as configured there,
 * over an empty store without --keep-last. */
static inline void answer_test_open(struct engine_fixture *f)
{
	struct answer_config cfg;
	engine_fixture_config(&cfg);
	cr_assert_eq(engine_fixture_open(f, &cfg, false), 0);
}

/* A query built by hand: header (id 0x1234, RD), one question for @p name
 * (text, "." for the root), and an OPT advertising @p edns octets when
 * @p edns > 0. @return its length. */
static inline size_t answer_test_query(uint8_t *b, const char *name, uint16_t qtype, int edns)
{
	memset(b, 0, 12);
	b[0] = 0x12;
	b[1] = 0x34;
	b[2] = 0x01; /* RD */
	b[5] = 1;
	uint8_t w[255];
	size_t n = 0;
	if (strcmp(name, ".") == 0) {
		w[n++] = 0;
	} else {
		const char *p = name;
		while (*p) {
			const char *dot = strchr(p, '.');
			size_t l = dot ? (size_t)(dot - p) : strlen(p);
			w[n++] = (uint8_t)l;
			memcpy(w + n, p, l);
			n += l;
			p += l + (dot ? 1 : 0);
		}
		w[n++] = 0;
	}
	memcpy(b + 12, w, n);
	size_t len = 12 + n;
	b[len++] = (uint8_t)(qtype >> 8);
	b[len++] = (uint8_t)qtype;
	b[len++] = 0;
	b[len++] = 1;
	if (edns > 0) {
		b[11] = 1;
		uint8_t opt[11] = {0, 0, 41, (uint8_t)(edns >> 8), (uint8_t)edns, 0, 0, 0, 0, 0, 0};
		memcpy(b + len, opt, 11);
		len += 11;
	}
	return len;
}

/* Register (svc, proto, host, port) with @p addr (or none) in @p st.
 * @return the revision it is served from. */
static inline uint64_t answer_test_register(struct store *st, const char *svc, const char *proto,
		const char *host, unsigned port, const char *addr, unsigned weight,
		enum store_status status, uint64_t lease)
{
	struct rs_addr ad[2];
	size_t n = 0;
	if (addr != NULL) {
		cr_assert_eq(rs_addr_parse(addr, &ad[0]), 0);
		n = 1;
	}
	struct store_registration r = {
			.service = svc,
			.protocol = proto,
			.host = host,
			.port = port,
			.addrs = ad,
			.naddrs = n,
			.weight = weight,
			.status = status,
			.lease = lease,
	};
	bool created;
	uint64_t rev;
	cr_assert_eq(store_register(st, &r, 1000, 0, &created, &rev), 0);
	return rev;
}

/* One record of a response, as found by answer_test_walk(). */
struct answer_test_rr {
	size_t owner;     /* offset of the owner name */
	size_t owner_len; /* its octets in place (2 for a pointer) */
	uint16_t type;
	size_t rdata; /* offset of the RDATA */
	uint16_t rdlen;
};

/* The octets of the name at @p off as it stands (a pointer ends it);
 * 0 when it runs past @p len or uses a reserved label type. */
static inline size_t answer_test_name_len(const uint8_t *m, size_t len, size_t off)
{
	size_t at = off;
	while (at < len) {
		uint8_t c = m[at];
		if (c == 0) {
			return at + 1 - off;
		}
		if ((c & 0xc0) == 0xc0) {
			return at + 2 <= len ? at + 2 - off : 0;
		}
		if (c & 0xc0) {
			return 0;
		}
		at += 1u + c;
	}
	return 0;
}

/* Walk the answer, authority and additional records of the response
 * @p m of @p len octets into @p rr (up to @p max), asserting each is whole
 * and that the last ends at @p len exactly. @return the number of records. */
static inline size_t answer_test_walk(
		const uint8_t *m, size_t len, struct answer_test_rr *rr, size_t max)
{
	cr_assert_geq(len, 12);
	size_t off = 12;
	if (dnswire_get16(m + 4) == 1) {
		size_t qn = answer_test_name_len(m, len, off);
		cr_assert_gt(qn, 0, "question name whole");
		off += qn + 4;
	}
	size_t n = (size_t)dnswire_get16(m + 6) + dnswire_get16(m + 8) + dnswire_get16(m + 10);
	cr_assert_leq(n, max);
	for (size_t i = 0; i < n; i++) {
		size_t on = answer_test_name_len(m, len, off);
		cr_assert_gt(on, 0, "record %zu: owner whole", i);
		cr_assert_leq(off + on + 10, len, "record %zu: fixed part whole", i);
		rr[i] = (struct answer_test_rr){off, on, dnswire_get16(m + off + on), off + on + 10,
				dnswire_get16(m + off + on + 8)};
		off = rr[i].rdata + rr[i].rdlen;
		cr_assert_leq(off, len, "record %zu: RDATA whole", i);
	}
	cr_assert_eq(off, len, "nothing after the last record");
	return n;
}
