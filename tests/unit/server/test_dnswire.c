/*
 * The query pre-validator (server/dns/dnswire.c), called directly on bytes
 * built here: every rule of its header comment, each as a table of
 * malformed messages with the verdict it must give, and the fields it
 * fills for the well-formed ones.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "server/dns/dnswire.h"

/* A message under construction. */
struct msg {
	uint8_t b[1024];
	size_t n;
};

static void put(struct msg *m, const void *p, size_t n)
{
	cr_assert_leq(m->n + n, sizeof(m->b));
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void put8(struct msg *m, uint8_t v)
{
	put(m, &v, 1);
}

static void put16(struct msg *m, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	put(m, b, 2);
}

static void put32(struct msg *m, uint32_t v)
{
	put16(m, (uint16_t)(v >> 16));
	put16(m, (uint16_t)v);
}

/* A header: id 0xbeef, @p flags, the four counts. */
static void header(
		struct msg *m, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar)
{
	m->n = 0;
	put16(m, 0xbeef);
	put16(m, flags);
	put16(m, qd);
	put16(m, an);
	put16(m, ns);
	put16(m, ar);
}

/* A name from text ("." the root), no compression. */
static void name(struct msg *m, const char *text)
{
	if (strcmp(text, ".") != 0) {
		const char *p = text;
		while (*p) {
			const char *dot = strchr(p, '.');
			size_t l = dot ? (size_t)(dot - p) : strlen(p);
			put8(m, (uint8_t)l);
			put(m, p, l);
			p += l + (dot ? 1 : 0);
		}
	}
	put8(m, 0);
}

static void question(struct msg *m, const char *qname, uint16_t qtype)
{
	name(m, qname);
	put16(m, qtype);
	put16(m, 1);
}

/* A record's fixed part after its owner. */
static void rr_fixed(struct msg *m, uint16_t type, uint16_t cls, uint32_t ttl, uint16_t rdlen)
{
	put16(m, type);
	put16(m, cls);
	put32(m, ttl);
	put16(m, rdlen);
}

/* One EDNS option. */
static void option(struct msg *m, uint16_t code, uint16_t len)
{
	put16(m, code);
	put16(m, len);
	for (uint16_t i = 0; i < len; i++) {
		put8(m, (uint8_t)(0xa0 + i));
	}
}

/* An OPT record of @p rdlen octets whose options the caller writes. */
static void opt(struct msg *m, uint16_t udp, uint32_t ttl, uint16_t rdlen)
{
	put8(m, 0);
	rr_fixed(m, DNSWIRE_OPT, udp, ttl, rdlen);
}

/* A TSIG record (its RDATA is not read by the pre-validator). */
static void tsig(struct msg *m, uint16_t cls)
{
	name(m, "key");
	rr_fixed(m, DNSWIRE_TSIG, cls, 0, 4);
	put32(m, 0);
}

/* The SOA of an IXFR query, @p rdlen its RDLENGTH as written, the RDATA two
 * root names and the five numbers (22 octets) cut or padded to @p body. */
static void ixfr_soa(struct msg *m, uint16_t type, uint16_t rdlen, size_t body, uint32_t serial)
{
	put8(m, 0xc0);
	put8(m, 12); /* owner: a pointer at the question */
	rr_fixed(m, type, 1, 0, rdlen);
	uint8_t rd[64] = {0};
	rd[2] = (uint8_t)(serial >> 24);
	rd[3] = (uint8_t)(serial >> 16);
	rd[4] = (uint8_t)(serial >> 8);
	rd[5] = (uint8_t)serial;
	put(m, rd, body);
}

static enum dnswire_verdict check(const struct msg *m, struct dnswire_query *q)
{
	return dnswire_query_check(m->b, m->n, q);
}

Test(dnswire, short_or_response_dropped)
{
	struct msg m;
	struct dnswire_query q;
	header(&m, 0, 1, 0, 0, 0);
	for (size_t len = 0; len < DNSWIRE_HEADER; len++) {
		cr_expect_eq(dnswire_query_check(m.b, len, &q), DNSWIRE_DROP, "%zu octets", len);
	}
	question(&m, "a.example", DNSWIRE_A);
	cr_expect_eq(check(&m, &q), DNSWIRE_OK);
	m.b[2] |= 0x80; /* QR */
	cr_expect_eq(check(&m, &q), DNSWIRE_DROP, "a response is never answered");
}

Test(dnswire, well_formed_fields)
{
	struct msg m;
	struct dnswire_query q;
	header(&m, 0x0110, 1, 0, 0, 1); /* RD, CD */
	question(&m, "Ab.EXAMPLE", DNSWIRE_SRV);
	size_t qend = m.n;
	opt(&m, 1232, 0x00008000u, 12 + 4); /* version 0, DO */
	option(&m, DNSWIRE_OPT_COOKIE, 8);
	option(&m, DNSWIRE_OPT_KEEPALIVE, 0);
	cr_assert_eq(check(&m, &q), DNSWIRE_OK);
	cr_expect_eq(q.id, 0xbeef);
	cr_expect_eq(q.flags, 0x0110);
	cr_expect_eq(q.qtype, DNSWIRE_SRV);
	cr_expect_eq(q.qclass, 1);
	cr_expect_eq(q.question_end, qend);
	cr_expect_eq(q.qname_len, 12);
	cr_expect_eq(q.nlabels, 2);
	cr_expect_eq(q.label_off[0], 0);
	cr_expect_eq(q.label_off[1], 3);
	cr_expect_eq(memcmp(q.qname_lower, "\002ab\007example", 12), 0);
	cr_expect(q.has_opt && q.opt_ok && q.do_bit && q.keepalive);
	cr_expect_eq(q.edns_udp, 1232);
	cr_expect_eq(q.edns_version, 0);
	cr_expect_eq(q.cookie_len, 8);
	cr_expect_eq(q.cookie_off, qend + 11 + 4);
	cr_expect_not(q.has_tsig);

	/* EDNS version 1 and no DO: fields as sent, the engine says BADVERS. */
	header(&m, 0, 1, 0, 0, 1);
	question(&m, "example", DNSWIRE_A);
	opt(&m, 512, 0x00010000u, 0);
	cr_assert_eq(check(&m, &q), DNSWIRE_OK);
	cr_expect_eq(q.edns_version, 1);
	cr_expect_not(q.do_bit);
	cr_expect_eq(q.cookie_len, 0);

	/* The root as question. */
	header(&m, 0, 1, 0, 0, 0);
	question(&m, ".", DNSWIRE_NS);
	cr_assert_eq(check(&m, &q), DNSWIRE_OK);
	cr_expect_eq(q.nlabels, 0);
	cr_expect_eq(q.qname_len, 1);
	cr_expect_not(q.has_opt);
}

/* A header whose counts break a rule is FORMERR before any name is read. */
struct counts_case {
	uint16_t qd, an, ns, ar;
};

ParameterizedTestParameters(dnswire, bad_counts_formerr)
{
	static struct counts_case cases[] = {
			{2, 0, 0, 0}, /* two questions */
			{1, 1, 0, 0}, /* an answer */
			{1, 0, 2, 0}, /* two authority records */
			{1, 0, 0, DNSWIRE_MAX_ADDITIONAL + 1},
			{0, 0, 0, 0}, /* nothing at all */
			{65535, 65535, 65535, 65535},
	};
	return cr_make_param_array(struct counts_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct counts_case *c, dnswire, bad_counts_formerr)
{
	struct msg m;
	struct dnswire_query q;
	header(&m, 0, c->qd, c->an, c->ns, c->ar);
	question(&m, "example", DNSWIRE_A);
	cr_expect_eq(check(&m, &q), DNSWIRE_REPLY_FORMERR);
	cr_expect_eq(q.id, 0xbeef, "the id is known for the reply");
	cr_expect_not(q.has_opt);
}

/* Question names that break a rule, each a FORMERR. */
ParameterizedTestParameters(dnswire, bad_question_formerr)
{
	static int cases[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
	return cr_make_param_array(int, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(int *which, dnswire, bad_question_formerr)
{
	struct msg m;
	struct dnswire_query q;
	header(&m, 0, 1, 0, 0, 0);
	switch (*which) {
	case 0: /* a compression pointer, even at the header's end */
		put8(&m, 0xc0);
		put8(&m, 12);
		put32(&m, 0x00010001);
		break;
	case 1: /* extended label type 0x40 */
		put8(&m, 0x41);
		put8(&m, 'a');
		put8(&m, 0);
		put32(&m, 0x00010001);
		break;
	case 2: /* reserved label type 0x80 */
		put8(&m, 0x81);
		put8(&m, 'a');
		put8(&m, 0);
		put32(&m, 0x00010001);
		break;
	case 3: /* 256 octets: four labels of 63 and one of 2, plus the root */
		for (int i = 0; i < 4; i++) {
			put8(&m, 63);
			for (int j = 0; j < 63; j++) {
				put8(&m, 'x');
			}
		}
		put8(&m, 2);
		put8(&m, 'y');
		put8(&m, 'y');
		put8(&m, 0);
		put32(&m, 0x00010001);
		break;
	case 4: /* a label running past the end */
		put8(&m, 10);
		put(&m, "abc", 3);
		break;
	case 5: /* no root label: the message ends */
		put8(&m, 3);
		put(&m, "abc", 3);
		break;
	case 6: /* no QTYPE/QCLASS */
		name(&m, "example");
		put16(&m, 1);
		break;
	case 7: /* QTYPE OPT */
		question(&m, "example", DNSWIRE_OPT);
		break;
	case 8: /* QTYPE TSIG */
		question(&m, "example", DNSWIRE_TSIG);
		break;
	}
	cr_expect_eq(check(&m, &q), DNSWIRE_REPLY_FORMERR, "case %d", *which);
}

Test(dnswire, name_of_255_octets_accepted)
{
	struct msg m;
	struct dnswire_query q;
	header(&m, 0, 1, 0, 0, 0);
	for (int i = 0; i < 3; i++) {
		put8(&m, 63);
		for (int j = 0; j < 63; j++) {
			put8(&m, (uint8_t)('A' + j % 26));
		}
	}
	put8(&m, 61);
	for (int j = 0; j < 61; j++) {
		put8(&m, 'Z');
	}
	put8(&m, 0);
	put32(&m, 0x00010001);
	cr_assert_eq(check(&m, &q), DNSWIRE_OK);
	cr_expect_eq(q.qname_len, 255);
	cr_expect_eq(q.nlabels, 4);
	cr_expect_eq(q.qname_lower[1], 'a');
	cr_expect_eq(q.qname_lower[254 - 1], 'z');
}

/* The additional section's owners: pointers strictly backwards, at most
 * DNSWIRE_MAX_HOPS, 255 octets in all, inside the message. */
ParameterizedTestParameters(dnswire, bad_additional_owner_formerr)
{
	static int cases[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
	return cr_make_param_array(int, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(int *which, dnswire, bad_additional_owner_formerr)
{
	struct msg m;
	struct dnswire_query q;
	header(&m, 0, 1, 0, 0, 1);
	question(&m, "example", DNSWIRE_A);
	size_t here = m.n;
	switch (*which) {
	case 0: /* a pointer to itself */
		put8(&m, (uint8_t)(0xc0 | (here >> 8)));
		put8(&m, (uint8_t)here);
		break;
	case 1: /* a pointer forwards */
		put8(&m, (uint8_t)(0xc0 | ((here + 2) >> 8)));
		put8(&m, (uint8_t)(here + 2));
		put8(&m, 0);
		break;
	case 2: /* a pointer into the header */
		put8(&m, 0xc0);
		put8(&m, 4);
		break;
	case 3: /* half a pointer at the end */
		put8(&m, 0xc0);
		break;
	case 4: /* label type 0x80 */
		put8(&m, 0x80);
		break;
	case 5: /* a label past the end */
		put8(&m, 20);
		put(&m, "ab", 2);
		break;
	case 6: /* nothing where the owner should be */
		break;
	case 7: /* the owner whole, the fixed part cut */
		put8(&m, 0);
		put16(&m, DNSWIRE_OPT);
		put16(&m, 512);
		break;
	case 8: /* RDLENGTH past the end */
		opt(&m, 512, 0, 10);
		option(&m, 0, 2);
		break;
	}
	cr_expect_eq(check(&m, &q), DNSWIRE_REPLY_FORMERR, "case %d", *which);
}

Test(dnswire, owner_pointer_hops_bounded)
{
	/* The owner of the second additional record points at the last of a
	 * chain of links ("x" and a pointer to the link before) kept in the
	 * RDATA of the first; the first link points at the question. */
	for (unsigned hops = 1; hops <= DNSWIRE_MAX_HOPS + 1; hops++) {
		struct msg m;
		struct dnswire_query q;
		header(&m, 0, 1, 0, 0, 2);
		question(&m, "example", DNSWIRE_A);
		/* Record 1: an unknown type whose RDATA holds hops-1 links. */
		size_t rd_at = m.n + 1 + 10;
		put8(&m, 0);
		rr_fixed(&m, 65280, 1, 0, (uint16_t)(4 * (hops - 1)));
		size_t prev = 12; /* the question name */
		for (unsigned i = 0; i + 1 < hops; i++) {
			size_t at = rd_at + 4 * i;
			cr_assert_eq(m.n, at);
			put8(&m, 1);
			put8(&m, 'x');
			put8(&m, (uint8_t)(0xc0 | (prev >> 8)));
			put8(&m, (uint8_t)prev);
			prev = at;
		}
		put8(&m, (uint8_t)(0xc0 | (prev >> 8)));
		put8(&m, (uint8_t)prev);
		rr_fixed(&m, 65281, 1, 0, 0);
		enum dnswire_verdict want =
				hops <= DNSWIRE_MAX_HOPS ? DNSWIRE_OK : DNSWIRE_REPLY_FORMERR;
		cr_expect_eq(check(&m, &q), want, "%u hops", hops);
	}
}

Test(dnswire, owner_over_255_octets_through_pointers_formerr)
{
	/* Links of 63-octet labels, each pointing back: after four the name
	 * is over 255 octets even though each link is short. */
	for (unsigned links = 1; links <= 4; links++) {
		struct msg m;
		struct dnswire_query q;
		header(&m, 0, 1, 0, 0, 2);
		question(&m, "a", DNSWIRE_A); /* 3 octets */
		size_t rd_at = m.n + 1 + 10;
		put8(&m, 0);
		rr_fixed(&m, 65280, 1, 0, (uint16_t)(66 * links));
		size_t prev = 12;
		for (unsigned i = 0; i < links; i++) {
			cr_assert_eq(m.n, rd_at + 66 * i);
			put8(&m, 63);
			for (int j = 0; j < 63; j++) {
				put8(&m, 'n');
			}
			put8(&m, (uint8_t)(0xc0 | (prev >> 8)));
			put8(&m, (uint8_t)prev);
			prev = rd_at + 66 * i;
		}
		put8(&m, (uint8_t)(0xc0 | (prev >> 8)));
		put8(&m, (uint8_t)prev);
		rr_fixed(&m, 65281, 1, 0, 0);
		/* 3 + 64 * links octets */
		enum dnswire_verdict want =
				3 + 64 * links <= 255 ? DNSWIRE_OK : DNSWIRE_REPLY_FORMERR;
		cr_expect_eq(check(&m, &q), want, "%u links", links);
	}
}

/* OPT rules: one, owner root, options whole, known ones once, sizes. */
ParameterizedTestParameters(dnswire, bad_opt_formerr)
{
	static int cases[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	return cr_make_param_array(int, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(int *which, dnswire, bad_opt_formerr)
{
	struct msg m;
	struct dnswire_query q;
	header(&m, 0, 1, 0, 0, 1);
	question(&m, "example", DNSWIRE_A);
	switch (*which) {
	case 0: /* two OPTs */
		m.b[11] = 2;
		opt(&m, 512, 0, 0);
		opt(&m, 512, 0, 0);
		break;
	case 1: /* owner not the root */
		put8(&m, 1);
		put8(&m, 'x');
		put8(&m, 0);
		rr_fixed(&m, DNSWIRE_OPT, 512, 0, 0);
		break;
	case 2: /* an option header cut */
		opt(&m, 512, 0, 3);
		put(&m, "\0\1\0", 3);
		break;
	case 3: /* an option longer than the RDATA */
		opt(&m, 512, 0, 6);
		put16(&m, 99);
		put16(&m, 3);
		put16(&m, 0);
		break;
	case 4: /* COOKIE of 7 */
		opt(&m, 512, 0, 11);
		option(&m, DNSWIRE_OPT_COOKIE, 7);
		break;
	case 5: /* COOKIE of 15 */
		opt(&m, 512, 0, 19);
		option(&m, DNSWIRE_OPT_COOKIE, 15);
		break;
	case 6: /* COOKIE of 41 */
		opt(&m, 512, 0, 45);
		option(&m, DNSWIRE_OPT_COOKIE, 41);
		break;
	case 7: /* keepalive with a TIMEOUT from a client (RFC 7828 3.2.1) */
		opt(&m, 512, 0, 6);
		option(&m, DNSWIRE_OPT_KEEPALIVE, 2);
		break;
	case 8: /* two COOKIEs */
		opt(&m, 512, 0, 24);
		option(&m, DNSWIRE_OPT_COOKIE, 8);
		option(&m, DNSWIRE_OPT_COOKIE, 8);
		break;
	case 9: /* two client subnets */
		opt(&m, 512, 0, 8);
		option(&m, DNSWIRE_OPT_ECS, 0);
		option(&m, DNSWIRE_OPT_ECS, 0);
		break;
	case 10: /* two paddings */
		opt(&m, 512, 0, 8);
		option(&m, DNSWIRE_OPT_PADDING, 0);
		option(&m, DNSWIRE_OPT_PADDING, 0);
		break;
	case 11: /* two EDEs */
		opt(&m, 512, 0, 12);
		option(&m, DNSWIRE_OPT_EDE, 2);
		option(&m, DNSWIRE_OPT_EDE, 2);
		break;
	case 12: /* two keepalives */
		opt(&m, 512, 0, 8);
		option(&m, DNSWIRE_OPT_KEEPALIVE, 0);
		option(&m, DNSWIRE_OPT_KEEPALIVE, 0);
		break;
	}
	cr_expect_eq(check(&m, &q), DNSWIRE_REPLY_FORMERR, "case %d", *which);
	cr_expect(q.has_opt, "case %d: the OPT was seen", *which);
	cr_expect_not(q.opt_ok, "case %d: but it is not usable", *which);
}

Test(dnswire, opt_options_accepted)
{
	struct msg m;
	struct dnswire_query q;
	static const uint16_t cookie_sizes[] = {8, 16, 24, 40};
	for (size_t i = 0; i < sizeof(cookie_sizes) / sizeof(cookie_sizes[0]); i++) {
		uint16_t cl = cookie_sizes[i];
		header(&m, 0, 1, 0, 0, 1);
		question(&m, "example", DNSWIRE_A);
		/* every known option once, an unknown one twice */
		opt(&m, 4096, 0, (uint16_t)(4 * 7 + cl + 4 + 2 + 3 + 1 + 1));
		option(&m, DNSWIRE_OPT_ECS, 4);
		option(&m, DNSWIRE_OPT_COOKIE, cl);
		option(&m, DNSWIRE_OPT_KEEPALIVE, 0);
		option(&m, DNSWIRE_OPT_PADDING, 2);
		option(&m, DNSWIRE_OPT_EDE, 3);
		option(&m, 65001, 1);
		option(&m, 65001, 1);
		cr_assert_eq(check(&m, &q), DNSWIRE_OK, "cookie of %u", cl);
		cr_expect(q.opt_ok);
		cr_expect_eq(q.cookie_len, cl);
		cr_expect_eq(q.edns_udp, 4096);
		cr_expect(q.keepalive);
	}
}

ParameterizedTestParameters(dnswire, bad_tsig_formerr)
{
	static int cases[] = {0, 1, 2, 3};
	return cr_make_param_array(int, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(int *which, dnswire, bad_tsig_formerr)
{
	struct msg m;
	struct dnswire_query q;
	header(&m, 0, 1, 0, 0, 2);
	question(&m, "example", DNSWIRE_A);
	switch (*which) {
	case 0: /* not the last record */
		tsig(&m, 255);
		opt(&m, 512, 0, 0);
		break;
	case 1: /* twice */
		tsig(&m, 255);
		tsig(&m, 255);
		break;
	case 2: /* class IN */
		opt(&m, 512, 0, 0);
		tsig(&m, 1);
		break;
	case 3: /* the only record, class NONE */
		m.b[11] = 1;
		tsig(&m, 254);
		break;
	}
	cr_expect_eq(check(&m, &q), DNSWIRE_REPLY_FORMERR, "case %d", *which);
	cr_expect(q.has_tsig);
}

Test(dnswire, tsig_last_accepted)
{
	struct msg m;
	struct dnswire_query q;
	header(&m, 0, 1, 0, 0, 2);
	question(&m, "example", DNSWIRE_A);
	opt(&m, 1232, 0, 0);
	tsig(&m, 255);
	cr_assert_eq(check(&m, &q), DNSWIRE_OK);
	cr_expect(q.has_tsig && q.opt_ok);
}

/* RFC 1995 3: IXFR carries exactly one SOA in the authority section. */
Test(dnswire, ixfr_soa_serial_kept)
{
	struct msg m;
	struct dnswire_query q;
	header(&m, 0, 1, 0, 1, 1);
	question(&m, "example", DNSWIRE_IXFR);
	ixfr_soa(&m, DNSWIRE_SOA, 22, 22, 0x01020304);
	opt(&m, 1232, 0, 0);
	cr_assert_eq(check(&m, &q), DNSWIRE_OK);
	cr_expect_eq(q.qtype, DNSWIRE_IXFR);
	cr_expect_eq(q.ixfr_serial, 0x01020304);
	cr_expect(q.opt_ok, "the additional section is read after the SOA");
}

ParameterizedTestParameters(dnswire, bad_ixfr_formerr)
{
	static int cases[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
	return cr_make_param_array(int, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(int *which, dnswire, bad_ixfr_formerr)
{
	struct msg m;
	struct dnswire_query q;
	header(&m, 0, 1, 0, 1, 0);
	question(&m, "example", DNSWIRE_IXFR);
	switch (*which) {
	case 0: /* IXFR without its SOA */
		m.b[9] = 0;
		break;
	case 1: /* an SOA with another QTYPE */
		m.n -= 4;
		put16(&m, DNSWIRE_AXFR);
		put16(&m, 1);
		ixfr_soa(&m, DNSWIRE_SOA, 22, 22, 1);
		break;
	case 2: /* a record of another type */
		ixfr_soa(&m, DNSWIRE_NS, 22, 22, 1);
		break;
	case 3: /* RDATA one octet short */
		ixfr_soa(&m, DNSWIRE_SOA, 21, 21, 1);
		break;
	case 4: /* RDATA one octet long */
		ixfr_soa(&m, DNSWIRE_SOA, 23, 23, 1);
		break;
	case 5: /* RDLENGTH past the end */
		ixfr_soa(&m, DNSWIRE_SOA, 40, 22, 1);
		break;
	case 6: /* the fixed part cut */
		put8(&m, 0);
		put16(&m, DNSWIRE_SOA);
		break;
	case 7: /* the owner broken */
		put8(&m, 0xc0);
		put8(&m, 200);
		rr_fixed(&m, DNSWIRE_SOA, 1, 0, 22);
		put(&m, (uint8_t[22]){0}, 22);
		break;
	case 8: /* MNAME running out of the RDATA (a label of 30) */
		put8(&m, 0);
		rr_fixed(&m, DNSWIRE_SOA, 1, 0, 22);
		put8(&m, 30);
		put(&m, (uint8_t[21]){0}, 21);
		break;
	case 9: /* RNAME running out of the RDATA */
		put8(&m, 0);
		rr_fixed(&m, DNSWIRE_SOA, 1, 0, 3);
		put8(&m, 0);
		put8(&m, 5);
		put8(&m, 'a');
		put(&m, (uint8_t[30]){0}, 30);
		break;
	}
	cr_expect_eq(check(&m, &q), DNSWIRE_REPLY_FORMERR, "case %d", *which);
}

/* RFC 7873 5.4: no question, but a COOKIE: answered with the server cookie. */
Test(dnswire, cookie_only_query)
{
	struct msg m;
	struct dnswire_query q;
	header(&m, 0, 0, 0, 0, 1);
	opt(&m, 1232, 0, 12);
	option(&m, DNSWIRE_OPT_COOKIE, 8);
	cr_assert_eq(check(&m, &q), DNSWIRE_COOKIE_ONLY);
	cr_expect_eq(q.question_end, DNSWIRE_HEADER);
	cr_expect_eq(q.qtype, 0);
	cr_expect_eq(q.cookie_len, 8);
	cr_expect_eq(q.cookie_off, DNSWIRE_HEADER + 11 + 4);

	header(&m, 0, 0, 0, 0, 1);
	opt(&m, 1232, 0, 0);
	cr_expect_eq(check(&m, &q), DNSWIRE_REPLY_FORMERR, "no question and no cookie");

	header(&m, 0, 0, 0, 1, 1);
	opt(&m, 1232, 0, 12);
	option(&m, DNSWIRE_OPT_COOKIE, 8);
	cr_expect_eq(check(&m, &q), DNSWIRE_REPLY_FORMERR, "an SOA without an IXFR question");
}

/* Another opcode: NOTIMP, and the OPT found (RFC 6891 7) when the layout
 * parses; anything that does not parse just means no OPT. */
Test(dnswire, other_opcode_notimp_finds_opt)
{
	struct msg m;
	struct dnswire_query q;
	/* NOTIFY (opcode 4) with a question, an SOA answer and an OPT. */
	header(&m, 4u << 11, 1, 1, 0, 1);
	question(&m, "example", DNSWIRE_SOA);
	ixfr_soa(&m, DNSWIRE_SOA, 22, 22, 7);
	opt(&m, 1400, 0, 0);
	cr_assert_eq(check(&m, &q), DNSWIRE_REPLY_NOTIMP);
	cr_expect(q.has_opt && q.opt_ok);
	cr_expect_eq(q.edns_udp, 1400);

	/* An OPT in the answer section is not the OPT. */
	header(&m, 5u << 11, 0, 1, 0, 0);
	opt(&m, 1400, 0, 0);
	cr_assert_eq(check(&m, &q), DNSWIRE_REPLY_NOTIMP);
	cr_expect_not(q.has_opt);

	/* The second OPT is not read; an OPT owned by another name neither. */
	header(&m, 5u << 11, 0, 0, 0, 3);
	put8(&m, 1);
	put8(&m, 'x');
	put8(&m, 0);
	rr_fixed(&m, DNSWIRE_OPT, 999, 0, 0);
	opt(&m, 1300, 0, 0);
	opt(&m, 1500, 0, 0);
	cr_assert_eq(check(&m, &q), DNSWIRE_REPLY_NOTIMP);
	cr_expect(q.has_opt);
	cr_expect_eq(q.edns_udp, 1300);
}

ParameterizedTestParameters(dnswire, other_opcode_unparsable_notimp_without_opt)
{
	static int cases[] = {0, 1, 2, 3, 4};
	return cr_make_param_array(int, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(int *which, dnswire, other_opcode_unparsable_notimp_without_opt)
{
	struct msg m;
	struct dnswire_query q;
	header(&m, 2u << 11, 1, 0, 0, 1); /* STATUS */
	switch (*which) {
	case 0: /* the question's name broken */
		put8(&m, 0xc0);
		put8(&m, 99);
		put32(&m, 0x00010001);
		break;
	case 1: /* the question cut after its name */
		name(&m, "example");
		put16(&m, 1);
		break;
	case 2: /* the record's fixed part cut */
		question(&m, "example", DNSWIRE_A);
		put8(&m, 0);
		put16(&m, DNSWIRE_OPT);
		break;
	case 3: /* the record's RDATA past the end */
		question(&m, "example", DNSWIRE_A);
		opt(&m, 512, 0, 9);
		break;
	case 4: /* counts larger than the message */
		m.b[5] = 3;
		question(&m, "example", DNSWIRE_A);
		break;
	}
	cr_expect_eq(check(&m, &q), DNSWIRE_REPLY_NOTIMP, "case %d", *which);
	cr_expect_not(q.has_opt, "case %d", *which);
}

Test(dnswire, trailing_bytes_ignored)
{
	struct msg m;
	struct dnswire_query q;
	header(&m, 0, 1, 0, 0, 0);
	question(&m, "example", DNSWIRE_TXT);
	put(&m, "garbage", 7);
	cr_assert_eq(check(&m, &q), DNSWIRE_OK);
	cr_expect_eq(q.question_end, m.n - 7);
}

/* The writer stops at its cap and remembers it did. */
Test(dnswire, writer_bounded)
{
	uint8_t buf[8];
	struct dnswire_writer w;
	dnswire_writer_init(&w, buf, sizeof(buf));
	dnswire_put32(&w, 0x01020304);
	dnswire_put16(&w, 0x0506);
	cr_expect(dnswire_room(&w, 2));
	cr_expect_not(dnswire_room(&w, 3));
	dnswire_put32(&w, 0x0708090a);
	cr_expect(w.overflow);
	cr_expect_eq(w.len, 6, "nothing of the write that did not fit");
	dnswire_put16(&w, 0x0b0c);
	cr_expect_eq(w.len, 6, "nothing after an overflow either");
	cr_expect_not(dnswire_room(&w, 0));
	cr_expect_eq(dnswire_get16(buf + 4), 0x0506);
	dnswire_set16(buf, 0xfffe);
	cr_expect_eq(buf[0], 0xff);
	cr_expect_eq(buf[1], 0xfe);
}
