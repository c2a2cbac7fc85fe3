/*
 * Zone transfers (server/dns/xfr.c) and the IXFR query's authority SOA
 * (server/dns/dnswire.c): messages parsed back with ldns and walked raw.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <string.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/ring.h"
#include "server/dns/answer.h"
#include "server/dns/dnswire.h"
#include "server/dns/xfr.h"
#include "server/registry/store.h"

#include "tests/engine_fixture.h"
#include "tests/unit/server/answer_test.h"

#define ZONE ENGINE_ZONE
#define ZONE_WIRE_LEN 27u

/* The wall clock of the first version, ms since the epoch. */
#define WALL0 1700000000000ull

static struct engine_fixture fx;
static struct rs_prefix allow[2];
static uint64_t wall;

static void setup(void)
{
	struct answer_config cfg;
	engine_fixture_config(&cfg);
	cr_assert_eq(rs_prefix_parse("192.0.2.0/24", &allow[0]), 0);
	cr_assert_eq(rs_prefix_parse("2001:db8::/32", &allow[1]), 0);
	cfg.xfr_allow = allow;
	cfg.nxfr_allow = 2;
	cr_assert_eq(engine_fixture_open(&fx, &cfg, false), 0);
	wall = WALL0;
	cr_assert_eq(engine_fixture_zone(&fx, &cfg, wall), 0);
}

/* Publish a version if the store changed, 10 ms of wall clock later. */
static bool publish(void)
{
	bool published;
	wall += 10;
	cr_assert_eq(xfr_zone_publish(fx.zone, wall, &published), 0);
	return published;
}

static void teardown(void)
{
	engine_fixture_close(&fx);
}

static void reg(const char *svc, const char *proto, const char *host, unsigned port,
		const char *addr, unsigned weight)
{
	answer_test_register(fx.st, svc, proto, host, port, addr, weight, STORE_STATUS_UP, 0);
}

/* An IXFR query carrying an SOA with @p serial (owner: a pointer to the
 * question, MNAME and RNAME the root). */
static size_t ixfr_query(uint8_t *b, uint32_t serial)
{
	size_t len = answer_test_query(b, ZONE, DNSWIRE_IXFR, 0);
	b[9] = 1; /* NSCOUNT */
	uint8_t soa[12 + 22] = {0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 0, 0, 22, 0, 0};
	rs_wire_store_u32(soa + 14, serial);
	memcpy(b + len, soa, sizeof(soa));
	return len + sizeof(soa);
}

static struct answer_result ask(const uint8_t *q, size_t len, enum answer_transport t,
		const char *from, uint8_t *out)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(5353)};
	inet_pton(AF_INET, from, &sin.sin_addr);
	struct answer_client c = {t, (struct sockaddr *)&sin, 0, 0};
	struct answer_result res;
	answer_process(fx.an, q, len, &c, 5000, out, 65535, &res);
	return res;
}

/* The framed messages of @p b, parsed by ldns. @return how many. */
static size_t split(const struct rs_buf *b, ldns_pkt **pkts, size_t max, size_t msg_max)
{
	size_t n = 0;
	for (size_t off = 0; off < b->len;) {
		cr_assert_leq(off + 2, b->len);
		size_t len = dnswire_get16((const uint8_t *)b->data + off);
		cr_assert_leq(len, msg_max, "message %zu: %zu octets", n, len);
		cr_assert_leq(off + 2 + len, b->len);
		cr_assert_lt(n, max);
		cr_assert_eq(ldns_wire2pkt(&pkts[n], (const uint8_t *)b->data + off + 2, len),
				LDNS_STATUS_OK, "message %zu parses", n);
		/* At most one owner in a message spells the apex out: the others
		 * point at it (or at the question, in the first message). */
		struct answer_test_rr rr[4096];
		size_t nrr = answer_test_walk((const uint8_t *)b->data + off + 2, len, rr, 4096);
		size_t full = 0;
		for (size_t i = 0; i < nrr; i++) {
			full += rr[i].owner_len >= ZONE_WIRE_LEN;
		}
		cr_expect_leq(full, n == 0 ? 0u : 1u, "message %zu: %zu owners in full", n, full);
		off += 2 + len;
		n++;
	}
	return n;
}

static struct rs_buf transfer(const uint8_t *q, size_t len, size_t msg_max, struct xfr_result *xr)
{
	uint8_t out[65535];
	publish();
	struct answer_result res = ask(q, len, ANSWER_TCP, "192.0.2.7", out);
	cr_assert_eq(res.action, ANSWER_TRANSFER);
	struct rs_buf b;
	rs_buf_init(&b);
	cr_assert_eq(xfr_write(fx.an, fx.zone, q, msg_max, &b, xr), 0);
	return b;
}

static size_t count_type(ldns_pkt **p, size_t n, ldns_rr_type t, const char *owner)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		ldns_rr_list *an = ldns_pkt_answer(p[i]);
		for (size_t j = 0; j < ldns_rr_list_rr_count(an); j++) {
			ldns_rr *rr = ldns_rr_list_rr(an, j);
			char *o = ldns_rdf2str(ldns_rr_owner(rr));
			if (ldns_rr_get_type(rr) == t && (owner == NULL || strcmp(o, owner) == 0)) {
				k++;
			}
			free(o);
		}
	}
	return k;
}

static void free_pkts(ldns_pkt **p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ldns_pkt_free(p[i]);
	}
}

static ldns_rr *first_rr(ldns_pkt *p)
{
	return ldns_rr_list_rr(ldns_pkt_answer(p), 0);
}

static ldns_rr *last_rr(ldns_pkt *p)
{
	ldns_rr_list *l = ldns_pkt_answer(p);
	return ldns_rr_list_rr(l, ldns_rr_list_rr_count(l) - 1);
}

TestSuite(xfr, .init = setup, .fini = teardown);

Test(xfr, axfr_holds_every_rrset_between_two_soas)
{
	reg("web", "http", "web-1.example.net", 80, "10.0.0.1", 10);
	reg("web", "http", "web-2.example.net", 81, "2001:db8::2", 10);
	reg("web", "grpc", "web-1.example.net", 90, "10.0.0.1", 10);
	answer_test_register(fx.st, "web", "http", "web-3.example.net", 82, "10.0.0.3", 10,
			STORE_STATUS_DOWN, 0);
	uint8_t q[512];
	size_t len = answer_test_query(q, ZONE, DNSWIRE_AXFR, 0);
	struct xfr_result xr;
	struct rs_buf b = transfer(q, len, XFR_MSG_MAX, &xr);
	ldns_pkt *p[4];
	size_t n = split(&b, p, 4, XFR_MSG_MAX);
	cr_assert_eq(n, 1);
	cr_expect_eq(xr.messages, 1);
	cr_expect_eq(ldns_pkt_id(p[0]), 0x1234);
	cr_expect_eq(ldns_pkt_qdcount(p[0]), 1);
	cr_expect(ldns_pkt_aa(p[0]));
	cr_expect_eq(ldns_rr_get_type(first_rr(p[0])), LDNS_RR_TYPE_SOA);
	cr_expect_eq(ldns_rr_get_type(last_rr(p[0])), LDNS_RR_TYPE_SOA);
	cr_expect_eq(count_type(p, n, LDNS_RR_TYPE_SOA, NULL), 2);
	cr_expect_eq(count_type(p, n, LDNS_RR_TYPE_NS, ZONE), 2);
	cr_expect_eq(count_type(p, n, LDNS_RR_TYPE_TXT, "_status." ZONE), 1);
	cr_expect_eq(count_type(p, n, LDNS_RR_TYPE_SRV, "_web._http." ZONE), 2, "UP only");
	cr_expect_eq(count_type(p, n, LDNS_RR_TYPE_SRV, "_web._grpc." ZONE), 1);
	cr_expect_eq(count_type(p, n, LDNS_RR_TYPE_TXT, "_ring._web._http." ZONE), 1);
	cr_expect_eq(count_type(p, n, LDNS_RR_TYPE_TXT, "_ring._web._grpc." ZONE), 1);
	cr_expect_eq(count_type(p, n, LDNS_RR_TYPE_A, "web." ZONE), 1, "deduplicated, UP only");
	cr_expect_eq(count_type(p, n, LDNS_RR_TYPE_AAAA, "web." ZONE), 1);
	cr_expect_eq(xr.partial_rrsets, 0);
	free_pkts(p, n);
	rs_buf_deinit(&b);
	cr_expect_eq(answer_counters_get(fx.an)->transfers[ANSWER_XFR_AXFR][ANSWER_XFR_FULL], 1);
}

Test(xfr, split_at_the_message_limit)
{
	char svc[32], host[64];
	for (int i = 0; i < 120; i++) {
		snprintf(svc, sizeof(svc), "s%03d", i);
		snprintf(host, sizeof(host), "h%03d.example.net", i);
		reg(svc, "tcp", host, 1000 + (unsigned)i, "10.0.0.1", 10);
	}
	uint8_t q[512];
	size_t len = answer_test_query(q, ZONE, DNSWIRE_AXFR, 0);
	struct xfr_result xr;
	struct rs_buf b = transfer(q, len, 1024, &xr);
	static ldns_pkt *p[512];
	size_t n = split(&b, p, 512, 1024);
	cr_assert_gt(n, 10);
	cr_expect_eq(xr.messages, n);
	for (size_t i = 0; i < n; i++) {
		cr_expect_eq(ldns_pkt_id(p[i]), 0x1234);
		cr_expect_eq(ldns_pkt_qdcount(p[i]), i == 0 ? 1 : 0, "question in the first only");
		cr_expect_gt(ldns_pkt_ancount(p[i]), 0);
	}
	cr_expect_eq(ldns_rr_get_type(first_rr(p[0])), LDNS_RR_TYPE_SOA);
	cr_expect_eq(ldns_rr_get_type(last_rr(p[n - 1])), LDNS_RR_TYPE_SOA);
	cr_expect_eq(count_type(p, n, LDNS_RR_TYPE_SOA, NULL), 2);
	cr_expect_eq(count_type(p, n, LDNS_RR_TYPE_SRV, NULL), 120);
	cr_expect_eq(count_type(p, n, LDNS_RR_TYPE_A, NULL), 120);
	cr_expect_eq(count_type(p, n, LDNS_RR_TYPE_TXT, NULL), 121, "_ring each, _status");
	free_pkts(p, n);
	rs_buf_deinit(&b);
}

/* The ring of _big._tcp in a transfer: "shards=N" at _ring, and shards
 * 1..N that hold every vnode of the @p instances, each once. */
static void ring_expect_whole(ldns_pkt **p, size_t n, size_t instances)
{
	unsigned shards = 0;
	size_t strings = 0, records = 0;
	for (size_t i = 0; i < n; i++) {
		ldns_rr_list *an = ldns_pkt_answer(p[i]);
		for (size_t j = 0; j < ldns_rr_list_rr_count(an); j++) {
			ldns_rr *rr = ldns_rr_list_rr(an, j);
			char *o = ldns_rdf2str(ldns_rr_owner(rr));
			if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_TXT &&
					strstr(o, "_ring._big") != NULL) {
				if (strcmp(o, "_ring._big._tcp." ZONE) == 0) {
					char *t = ldns_rdf2str(ldns_rr_rdf(rr, 0));
					cr_expect_eq(sscanf(t, "\"shards=%u\"", &shards), 1, "%s",
							t);
					free(t);
				} else {
					records++;
					strings += ldns_rr_rd_count(rr);
				}
			}
			free(o);
		}
	}
	cr_expect_gt(shards, 1);
	cr_expect_eq(records, shards, "one TXT per shard");
	cr_expect_eq(strings, instances * RS_RING_VNODES, "every vnode, once");
}

Test(xfr, huge_rrset_is_a_stable_subset)
{
	char host[64];
	for (int i = 0; i < 2500; i++) {
		snprintf(host, sizeof(host), "big-host-%04d.lon6.example.net", i);
		reg("big", "tcp", host, 9000, "10.1.0.1", (unsigned)(1 + i % 7));
	}
	uint8_t q[512];
	size_t len = answer_test_query(q, ZONE, DNSWIRE_AXFR, 0);
	char *first = NULL;
	for (int round = 0; round < 2; round++) {
		struct xfr_result xr;
		struct rs_buf b = transfer(q, len, XFR_MSG_MAX, &xr);
		static ldns_pkt *p[64];
		size_t n = split(&b, p, 64, XFR_MSG_MAX);
		size_t k = count_type(p, n, LDNS_RR_TYPE_SRV, "_big._tcp." ZONE);
		cr_expect(k > 500 && k < 2500, "%zu SRV", k);
		cr_expect_eq(xr.partial_rrsets, 1, "the SRV; the ring is sharded, whole");
		ring_expect_whole(p, n, 2500);
		/* the SRV RRset in one message, and the same at the same serial */
		ldns_rr_list *all = ldns_rr_list_new();
		for (size_t i = 0; i < n; i++) {
			size_t here = count_type(&p[i], 1, LDNS_RR_TYPE_SRV, NULL);
			cr_expect(here == 0 || here == k);
			ldns_rr_list *an = ldns_pkt_answer(p[i]);
			for (size_t j = 0; j < ldns_rr_list_rr_count(an); j++) {
				if (ldns_rr_get_type(ldns_rr_list_rr(an, j)) == LDNS_RR_TYPE_SRV) {
					ldns_rr_list_push_rr(
							all, ldns_rr_clone(ldns_rr_list_rr(an, j)));
				}
			}
		}
		ldns_rr_list_sort(all);
		char *text = ldns_rr_list2str(all);
		if (round == 0) {
			first = text;
		} else {
			cr_expect_str_eq(text, first, "the same subset every time");
			free(text);
		}
		ldns_rr_list_deep_free(all);
		free_pkts(p, n);
		rs_buf_deinit(&b);
	}
	free(first);
	cr_expect_eq(answer_counters_get(fx.an)->transfer_partial_rrsets, 2);
}

Test(xfr, acl_transports_and_ixfr)
{
	reg("web", "http", "web-1.example.net", 80, "10.0.0.1", 10);
	publish();
	uint32_t serial = xfr_zone_serial(fx.zone);
	uint8_t q[512], out[65535];
	size_t len = answer_test_query(q, ZONE, DNSWIRE_AXFR, 0);
	struct answer_result r = ask(q, len, ANSWER_TCP, "198.51.100.1", out);
	cr_expect_eq(r.action, ANSWER_SEND);
	cr_expect_eq(r.rcode, DNSWIRE_REFUSED, "outside --xfr-allow");
	r = ask(q, len, ANSWER_UDP, "192.0.2.7", out);
	cr_expect_eq(r.rcode, DNSWIRE_FORMERR, "AXFR over UDP");
	len = answer_test_query(q, "web." ZONE, DNSWIRE_AXFR, 0);
	r = ask(q, len, ANSWER_TCP, "192.0.2.7", out);
	cr_expect_eq(r.rcode, DNSWIRE_REFUSED, "not the apex");
	len = answer_test_query(q, "errors.example.net.", DNSWIRE_AXFR, 0);
	r = ask(q, len, ANSWER_TCP, "192.0.2.7", out);
	cr_expect_eq(r.rcode, DNSWIRE_REFUSED, "the report zone");

	len = ixfr_query(q, serial);
	r = ask(q, len, ANSWER_TCP, "192.0.2.7", out);
	cr_assert_eq(r.action, ANSWER_SEND, "up to date: our SOA alone");
	ldns_pkt *p;
	cr_assert_eq(ldns_wire2pkt(&p, out, r.len), LDNS_STATUS_OK);
	cr_expect_eq(ldns_pkt_ancount(p), 1);
	cr_expect_eq(ldns_rdf2native_int32(ldns_rr_rdf(first_rr(p), 2)), serial);
	ldns_pkt_free(p);
	len = ixfr_query(q, serial + 5);
	r = ask(q, len, ANSWER_TCP, "192.0.2.7", out);
	cr_expect_eq(r.action, ANSWER_SEND, "a client ahead of us: our SOA alone");
	len = ixfr_query(q, serial - 100000); /* older, and not in the journal */
	r = ask(q, len, ANSWER_UDP, "192.0.2.7", out);
	cr_assert_eq(r.action, ANSWER_SEND, "over UDP: our SOA alone");
	cr_assert_eq(ldns_wire2pkt(&p, out, r.len), LDNS_STATUS_OK);
	cr_expect_eq(ldns_pkt_ancount(p), 1);
	cr_expect_eq(ldns_rr_get_type(first_rr(p)), LDNS_RR_TYPE_SOA);
	ldns_pkt_free(p);
	r = ask(q, len, ANSWER_UDP, "198.51.100.1", out);
	cr_expect_eq(r.rcode, DNSWIRE_REFUSED, "IXFR over UDP outside the ACL");
	struct xfr_result xr;
	struct rs_buf b = transfer(q, len, XFR_MSG_MAX, &xr);
	ldns_pkt *m[4];
	size_t n = split(&b, m, 4, XFR_MSG_MAX);
	cr_expect_eq(count_type(m, n, LDNS_RR_TYPE_SOA, NULL), 2, "an older serial: in full");
	cr_expect_eq(ldns_pkt_get_rcode(m[0]), LDNS_RCODE_NOERROR);
	free_pkts(m, n);
	rs_buf_deinit(&b);
	const struct answer_counters *c = answer_counters_get(fx.an);
	cr_expect_eq(c->transfers[ANSWER_XFR_AXFR][ANSWER_XFR_REFUSED], 2);
	cr_expect_eq(c->transfers[ANSWER_XFR_AXFR][ANSWER_XFR_REFUSED_ACL], 1);
	cr_expect_eq(c->transfers[ANSWER_XFR_AXFR][ANSWER_XFR_FORMERR], 1);
	cr_expect_eq(c->transfers[ANSWER_XFR_IXFR][ANSWER_XFR_SOA], 3);
	cr_expect_eq(c->transfers[ANSWER_XFR_IXFR][ANSWER_XFR_REFUSED_ACL], 1);
	cr_expect_eq(c->transfers[ANSWER_XFR_IXFR][ANSWER_XFR_FULL], 1);
}

/* ---- the IXFR query's authority section (dnswire.c) ----------------------- */

Test(xfr, ixfr_authority_table)
{
	uint8_t q[600];
	struct dnswire_query dq;
	size_t len = ixfr_query(q, 0xdeadbeef);
	cr_expect_eq(dnswire_query_check(q, len, &dq), DNSWIRE_OK);
	cr_expect_eq(dq.ixfr_serial, 0xdeadbeef);

	/* two SOAs */
	len = ixfr_query(q, 7);
	memcpy(q + len, q + len - 34, 34);
	q[9] = 2;
	cr_expect_eq(dnswire_query_check(q, len + 34, &dq), DNSWIRE_REPLY_FORMERR, "two SOAs");
	/* an NS record in the authority section */
	len = ixfr_query(q, 7);
	q[len - 34 + 3] = DNSWIRE_NS;
	cr_expect_eq(dnswire_query_check(q, len, &dq), DNSWIRE_REPLY_FORMERR, "not an SOA");
	/* authority on a query other than IXFR */
	len = ixfr_query(q, 7);
	q[12 + ZONE_WIRE_LEN + 1] = DNSWIRE_SOA;
	cr_expect_eq(dnswire_query_check(q, len, &dq), DNSWIRE_REPLY_FORMERR, "SOA query");
	q[12 + ZONE_WIRE_LEN + 1] = DNSWIRE_AXFR;
	cr_expect_eq(dnswire_query_check(q, len, &dq), DNSWIRE_REPLY_FORMERR, "AXFR query");
	/* IXFR without its SOA */
	len = answer_test_query(q, ZONE, DNSWIRE_IXFR, 0);
	cr_expect_eq(dnswire_query_check(q, len, &dq), DNSWIRE_REPLY_FORMERR, "no SOA");
	/* SOA RDATA one octet short, and a name running past its RDATA */
	len = ixfr_query(q, 7);
	q[len - 34 + 11] = 21;
	cr_expect_eq(dnswire_query_check(q, len - 1, &dq), DNSWIRE_REPLY_FORMERR, "short");
	len = ixfr_query(q, 7);
	q[len - 22] = 30; /* MNAME: a 30-octet label */
	cr_expect_eq(dnswire_query_check(q, len, &dq), DNSWIRE_REPLY_FORMERR, "MNAME overrun");
	/* an RDATA longer than the message */
	len = ixfr_query(q, 7);
	q[len - 34 + 11] = 200;
	cr_expect_eq(dnswire_query_check(q, len, &dq), DNSWIRE_REPLY_FORMERR, "RDLENGTH overrun");
	/* an owner pointing forwards */
	len = ixfr_query(q, 7);
	q[len - 34 + 1] = 200;
	cr_expect_eq(dnswire_query_check(q, len, &dq), DNSWIRE_REPLY_FORMERR, "bad pointer");
}

Test(xfr, huge_rrset_subset_moves_little_on_a_change)
{
	char host[64];
	for (int i = 0; i < 2500; i++) {
		snprintf(host, sizeof(host), "big-host-%04d.lon6.example.net", i);
		reg("big", "tcp", host, 9000, "10.1.0.1", (unsigned)(1 + i % 7));
	}
	publish();
	uint32_t from = xfr_zone_serial(fx.zone);
	reg("big", "tcp", "big-host-new.lon6.example.net", 9000, "10.1.0.1", 3);
	uint8_t q[512];
	size_t len = ixfr_query(q, from);
	struct xfr_result xr;
	struct rs_buf b = transfer(q, len, XFR_MSG_MAX, &xr);
	cr_expect(xr.incremental);
	static ldns_pkt *p[16];
	size_t n = split(&b, p, 16, XFR_MSG_MAX);
	size_t srv = count_type(p, n, LDNS_RR_TYPE_SRV, NULL);
	/* one joins, at most a few at the margin leave: not a new subset */
	cr_expect(srv <= 8, "%zu SRV RRs in the difference", srv);
	free_pkts(p, n);
	rs_buf_deinit(&b);
}

/* xfr_write() called against its contract (no zone, a message size out of
 * 512..XFR_MSG_MAX, a zone published after answer_process() chose the
 * serial): RS_EINVAL, a SERVFAIL written instead, counted as failed. */
Test(xfr, a_callers_bug_is_a_servfail)
{
	reg("web", "http", "web-1.example.net", 80, "10.0.0.1", 10);
	uint8_t q[512], out[65535];
	size_t len = answer_test_query(q, ZONE, DNSWIRE_AXFR, 0);
	publish();
	struct answer_result res = ask(q, len, ANSWER_TCP, "192.0.2.7", out);
	cr_assert_eq(res.action, ANSWER_TRANSFER);
	const struct {
		bool zone;
		size_t msg_max;
	} bad[] = {{false, XFR_MSG_MAX}, {true, 511}, {true, XFR_MSG_MAX + 1}};
	for (size_t k = 0; k <= sizeof(bad) / sizeof(bad[0]); k++) {
		if (k == sizeof(bad) / sizeof(bad[0])) {
			/* A newer version than the one the SOA was built at. */
			reg("web", "http", "web-2.example.net", 81, "10.0.0.2", 10);
			cr_assert(publish());
		}
		struct rs_buf b;
		rs_buf_init(&b);
		struct xfr_result xr;
		bool last = k == sizeof(bad) / sizeof(bad[0]);
		int rc = xfr_write(fx.an, last || bad[k].zone ? fx.zone : NULL, q,
				last ? XFR_MSG_MAX : bad[k].msg_max, &b, &xr);
		cr_expect_eq(rc, RS_EINVAL, "case %zu", k);
		cr_assert_geq(b.len, 2 + DNSWIRE_HEADER, "case %zu: a framed reply", k);
		const uint8_t *m = (const uint8_t *)b.data + 2;
		cr_expect_eq(m[3] & 0xf, DNSWIRE_SERVFAIL, "case %zu", k);
		cr_expect_eq(xr.messages, 0);
		rs_buf_deinit(&b);
	}
	cr_expect_eq(answer_counters_get(fx.an)->transfers[ANSWER_XFR_AXFR][ANSWER_XFR_FAILED], 4);
}

/* A zone held after a start with an empty store (--xfr-warmup): no version,
 * transfers refused, and an SOA serial that RFC 1982 puts before every clock
 * serial of the last 24 days and every one the site's other registries
 * publish during the hold, so that secondaries keep following them; its
 * first version then has the clock's serial. */
Test(xfr, a_held_zone_refuses_transfers_and_is_older_than_its_peers)
{
	struct answer_config cfg;
	engine_fixture_config(&cfg);
	cfg.xfr_allow = allow;
	cfg.nxfr_allow = 2;
	struct xfr_zone *z = NULL;
	const uint32_t hold = 600000;
	cr_assert_eq(xfr_zone_new(&cfg, fx.st, XFR_JOURNAL_MAX_DEFAULT, WALL0, hold, &z), 0);
	const struct answer_published *pub = xfr_zone_published(z);
	cr_expect(pub->valid && pub->warming);
	uint32_t held = pub->serial;
	cr_expect_eq(xfr_zone_counters_get(z)->warming, true);
	/* Older than a peer's serial of 24 days before the start, of a second
	 * before it, ... */
	for (uint64_t ago = 1000; ago <= 86400000ull * 24; ago *= 10) {
		uint32_t peer = (uint32_t)(WALL0 - ago);
		cr_expect((int32_t)(held - peer) < 0, "%llu ms ago", (unsigned long long)ago);
	}
	/* ... and than the versions a peer publishes during the hold, on a
	 * clock up to an hour ahead of ours (which the doctor would take for a
	 * serial ahead of the clock otherwise). */
	for (uint64_t after = 1; after < hold + XFR_HELD_SKEW_MS; after += 60000) {
		uint32_t peer = (uint32_t)(WALL0 + after);
		cr_expect((int32_t)(held - peer) < 0, "%llu ms after the start",
				(unsigned long long)after);
	}
	cr_expect(xfr_zone_stale(z), "its first version is due");
	cfg.published = pub;
	struct answer *an = NULL;
	cr_assert_eq(answer_new(&cfg, fx.st, &fx.rep, &an), 0);
	reg("web", "http", "web-1.example.net", 80, "10.0.0.1", 10);
	uint8_t q[512], out[65535];
	size_t len = answer_test_query(q, ZONE, DNSWIRE_AXFR, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(5353)};
	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	struct answer_client c = {ANSWER_TCP, (struct sockaddr *)&sin, 0, 0};
	struct answer_result r;
	answer_process(an, q, len, &c, 5000, out, sizeof(out), &r);
	cr_expect_eq(r.rcode, DNSWIRE_REFUSED);
	cr_expect_eq(answer_counters_get(an)->transfers[ANSWER_XFR_AXFR][ANSWER_XFR_REFUSED_WARMUP],
			1);
	len = answer_test_query(q, ZONE, DNSWIRE_SOA, 0);
	c.transport = ANSWER_UDP;
	answer_process(an, q, len, &c, 5000, out, sizeof(out), &r);
	ldns_pkt *p;
	cr_assert_eq(ldns_wire2pkt(&p, out, r.len), LDNS_STATUS_OK);
	cr_expect_eq(ldns_rdf2native_int32(ldns_rr_rdf(first_rr(p), 2)), held);
	ldns_pkt_free(p);
	bool published = false;
	cr_assert_eq(xfr_zone_publish(z, WALL0 + 60000, &published), 0);
	cr_expect(published && !pub->warming && !xfr_zone_counters_get(z)->warming);
	cr_expect_eq(pub->serial, (uint32_t)(WALL0 + 60000));
	len = answer_test_query(q, ZONE, DNSWIRE_AXFR, 0);
	c.transport = ANSWER_TCP;
	answer_process(an, q, len, &c, 5000, out, sizeof(out), &r);
	cr_expect_eq(r.action, ANSWER_TRANSFER, "a version: transferred");
	answer_free(an);
	xfr_zone_free(z);
}
