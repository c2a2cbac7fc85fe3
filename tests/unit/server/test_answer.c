/*
 * The answer engine against an in-memory store: raw query bytes in, raw
 * response bytes out, responses checked by parsing them with ldns.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/error.h"
#include "common/ring.h"
#include "server/dns/answer.h"
#include "server/dns/dnswire.h"
#include "server/registry/store.h"

#include "tests/engine_fixture.h"
#include "tests/unit/server/answer_test.h"

#define ZONE ENGINE_ZONE

static struct engine_fixture fx;
static uint8_t out[65535];
static struct answer_result res;
static uint64_t lease_id;

static void setup_cfg(bool stable)
{
	struct answer_config cfg;
	engine_fixture_config(&cfg);
	cfg.stable_subsets = stable;
	cr_assert_eq(engine_fixture_open(&fx, &cfg, true), 0);
	const struct store_lease *l;
	cr_assert_eq(store_lease_open(fx.st, 1, 42, 1000, &l), 0);
	lease_id = 42;
}

static void setup(void)
{
	setup_cfg(false);
}

static void teardown(void)
{
	engine_fixture_close(&fx);
}

static uint64_t reg_full(const char *svc, const char *proto, const char *host, unsigned port,
		const char *addr, unsigned weight, enum store_status status, uint64_t lease)
{
	return answer_test_register(fx.st, svc, proto, host, port, addr, weight, status, lease);
}

static uint64_t reg(const char *svc, const char *proto, const char *host, unsigned port,
		const char *addr)
{
	return reg_full(svc, proto, host, port, addr, 10, STORE_STATUS_UP, 0);
}

static ldns_pkt *ask_raw(const uint8_t *q, size_t len, enum answer_transport t)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(5353)};
	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	struct answer_client c = {t, (struct sockaddr *)&sin};
	answer_process(fx.an, q, len, &c, 5000, out, t == ANSWER_UDP ? 4096 : sizeof(out), &res);
	if (res.action == ANSWER_DROP) {
		return NULL;
	}
	cr_assert_leq(res.len, t == ANSWER_UDP ? 4096 : 65535);
	ldns_pkt *p = NULL;
	cr_assert_eq(ldns_wire2pkt(&p, out, res.len), LDNS_STATUS_OK, "response does not parse");
	return p;
}

static ldns_pkt *ask(const char *name, uint16_t qtype, int edns, enum answer_transport t)
{
	uint8_t q[600];
	size_t len = answer_test_query(q, name, qtype, edns);
	return ask_raw(q, len, t);
}

static ldns_rr *section_rr(ldns_pkt *p, ldns_pkt_section s, size_t i)
{
	ldns_rr_list *l = s == LDNS_SECTION_ANSWER      ? ldns_pkt_answer(p)
			  : s == LDNS_SECTION_AUTHORITY ? ldns_pkt_authority(p)
							: ldns_pkt_additional(p);
	return ldns_rr_list_rr(l, i);
}

TestSuite(answer, .init = setup, .fini = teardown);

Test(answer, srv_with_additional_addresses)
{
	reg("web", "tcp", "web1.lon6.example.net", 8080, "10.0.0.1");
	reg("web", "tcp", "web2.lon6.example.net", 8081, "2001:db8::2");
	ldns_pkt *p = ask("_web._tcp." ZONE, DNSWIRE_SRV, 0, ANSWER_UDP);
	cr_assert_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	cr_expect(ldns_pkt_aa(p));
	cr_expect(ldns_pkt_rd(p), "RD echoed");
	cr_expect(!ldns_pkt_ra(p));
	cr_assert_eq(ldns_pkt_ancount(p), 2);
	cr_assert_eq(ldns_pkt_arcount(p), 2);
	for (size_t i = 0; i < 2; i++) {
		ldns_rr *rr = section_rr(p, LDNS_SECTION_ANSWER, i);
		cr_expect_eq(ldns_rr_get_type(rr), LDNS_RR_TYPE_SRV);
		cr_expect_eq(ldns_rr_ttl(rr), 5);
		char *owner = ldns_rdf2str(ldns_rr_owner(rr));
		cr_expect_str_eq(owner, "_web._tcp." ZONE);
		free(owner);
		ldns_rr *add = section_rr(p, LDNS_SECTION_ADDITIONAL, i);
		cr_expect(ldns_rr_get_type(add) == LDNS_RR_TYPE_A ||
				ldns_rr_get_type(add) == LDNS_RR_TYPE_AAAA);
	}
	ldns_pkt_free(p);
}

/* A host whose instances registered different addresses (a multi-homed
 * host registered per port, or one port without an address): its SRV
 * target gets the union, each address once, whichever instance comes
 * first in the answer. */
Test(answer, srv_glue_is_the_union_of_a_hosts_addresses)
{
	reg("dup", "tcp", "same.lon6.example.net", 1, NULL);
	reg("dup", "tcp", "same.lon6.example.net", 2, "10.0.0.10");
	reg("dup", "tcp", "same.lon6.example.net", 3, "10.0.0.11");
	reg("dup", "tcp", "same.lon6.example.net", 4, "10.0.0.10");
	reg("dup", "tcp", "same.lon6.example.net", 5, "2001:db8::13");
	for (int round = 0; round < 10; round++) {
		ldns_pkt *p = ask("_dup._tcp." ZONE, DNSWIRE_SRV, 0, ANSWER_UDP);
		cr_assert_eq(ldns_pkt_ancount(p), 5);
		cr_assert_eq(ldns_pkt_arcount(p), 3);
		char got[3][64];
		for (size_t i = 0; i < 3; i++) {
			char *a = ldns_rdf2str(
					ldns_rr_rdf(section_rr(p, LDNS_SECTION_ADDITIONAL, i), 0));
			snprintf(got[i], sizeof(got[i]), "%s", a);
			free(a);
		}
		cr_expect_str_eq(got[0], "10.0.0.10");
		cr_expect_str_eq(got[1], "10.0.0.11");
		cr_expect_str_eq(got[2], "2001:db8::13");
		ldns_pkt_free(p);
	}
}

/* Instances of one host registered apart (interleaved with other hosts'):
 * each host's address goes into the additional section once. */
Test(answer, srv_glue_once_per_host_whatever_the_registration_order)
{
	static const char *hosts[] = {"a.lon6.example.net", "b.lon6.example.net",
			"c.lon6.example.net", "d.lon6.example.net"};
	static const char *addrs[] = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"};
	for (int k = 0; k < 12; k++) {
		reg("web", "tcp", hosts[(k * 3) % 4], (uint16_t)(8000 + k), addrs[(k * 3) % 4]);
	}
	for (int round = 0; round < 20; round++) {
		ldns_pkt *p = ask("_web._tcp." ZONE, DNSWIRE_SRV, 4096, ANSWER_TCP);
		cr_assert_eq(ldns_pkt_ancount(p), 12);
		cr_assert_eq(ldns_pkt_arcount(p), 4, "one A per host (ldns keeps the OPT apart)");
		bool seen[4] = {false};
		for (size_t i = 0; i < 4; i++) {
			ldns_rr *add = section_rr(p, LDNS_SECTION_ADDITIONAL, i);
			cr_assert_eq(ldns_rr_get_type(add), LDNS_RR_TYPE_A);
			char *owner = ldns_rdf2str(ldns_rr_owner(add));
			char *a = ldns_rdf2str(ldns_rr_rdf(add, 0));
			int h = owner[0] - 'a';
			cr_assert(h >= 0 && h < 4, "%s", owner);
			cr_expect_not(seen[h], "%s twice", owner);
			seen[h] = true;
			cr_expect_str_eq(a, addrs[h], "%s", owner);
			free(owner);
			free(a);
		}
		ldns_pkt_free(p);
	}
}

Test(answer, srv_targets_uncompressed_owners_compressed)
{
	reg("web", "tcp", "web1.lon6.example.net", 8080, NULL);
	ldns_pkt *p = ask("_web._tcp." ZONE, DNSWIRE_SRV, 0, ANSWER_UDP);
	ldns_pkt_free(p);
	/* header 12 + question (name 36 + 4): the answer's owner is a pointer
	 * to 12, and the target is written out in full. */
	size_t qend = 12 + strlen("_web._tcp." ZONE) + 1 + 4;
	cr_expect_eq(out[qend], 0xc0);
	cr_expect_eq(out[qend + 1], 12);
	const uint8_t target[] = "\004web1\004lon6\007example\003net";
	cr_expect_eq(memcmp(out + qend + 2 + 10 + 6, target, sizeof(target)), 0);
}

Test(answer, starting_and_down_not_served)
{
	reg_full("db", "tcp", "db1.lon6.example.net", 1, "10.0.0.1", 1, STORE_STATUS_STARTING, 0);
	reg_full("db", "tcp", "db2.lon6.example.net", 1, "10.0.0.2", 1, STORE_STATUS_UP, 0);
	struct store_key k = {"db", "tcp", "db2.lon6.example.net", 1};
	uint64_t rev;
	cr_assert_eq(store_status_set(fx.st, &k, STORE_STATUS_DOWN, 0, &rev), 0);
	ldns_pkt *p = ask("_db._tcp." ZONE, DNSWIRE_SRV, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	cr_expect_eq(ldns_pkt_ancount(p), 0, "no UP instance: NODATA");
	cr_expect_eq(ldns_pkt_nscount(p), 1);
	ldns_pkt_free(p);
	p = ask("db." ZONE, DNSWIRE_A, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_ancount(p), 0);
	ldns_pkt_free(p);
}

Test(answer, a_and_aaaa_deduplicated_across_protocols)
{
	reg("api", "tcp", "h1.lon6.example.net", 1, "10.0.0.1");
	reg("api", "tcp", "h1.lon6.example.net", 2, "10.0.0.1");
	reg("api", "udp", "h2.lon6.example.net", 3, "10.0.0.2");
	reg("api", "udp", "h3.lon6.example.net", 3, "2001:db8::3");
	ldns_pkt *p = ask("api." ZONE, DNSWIRE_A, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_ancount(p), 2);
	ldns_pkt_free(p);
	p = ask("api." ZONE, DNSWIRE_AAAA, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);
}

Test(answer, a_first_address_follows_weights)
{
	reg_full("w", "tcp", "h1.lon6.example.net", 1, "10.0.0.1", 90, STORE_STATUS_UP, 0);
	reg_full("w", "tcp", "h2.lon6.example.net", 1, "10.0.0.2", 10, STORE_STATUS_UP, 0);
	int first1 = 0;
	for (int i = 0; i < 2000; i++) {
		ldns_pkt *p = ask("w." ZONE, DNSWIRE_A, 0, ANSWER_UDP);
		cr_assert_eq(ldns_pkt_ancount(p), 2);
		const ldns_rdf *r = ldns_rr_rdf(section_rr(p, LDNS_SECTION_ANSWER, 0), 0);
		first1 += ldns_rdf_data(r)[3] == 1;
		ldns_pkt_free(p);
	}
	cr_expect(first1 > 1700 && first1 < 1900, "10.0.0.1 first %d/2000 times, expected ~1800",
			first1);
}

Test(answer, srv_order_is_shuffled)
{
	char host[64];
	for (int i = 0; i < 5; i++) {
		snprintf(host, sizeof(host), "h%d.lon6.example.net", i);
		reg("s", "tcp", host, 80, NULL);
	}
	int seen[5] = {0};
	for (int i = 0; i < 500; i++) {
		ldns_pkt *p = ask("_s._tcp." ZONE, DNSWIRE_SRV, 0, ANSWER_UDP);
		char *t = ldns_rdf2str(ldns_rr_rdf(section_rr(p, LDNS_SECTION_ANSWER, 0), 3));
		seen[t[1] - '0']++;
		free(t);
		ldns_pkt_free(p);
	}
	for (int i = 0; i < 5; i++) {
		cr_expect_gt(seen[i], 50, "h%d first only %d/500 times", i, seen[i]);
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

Test(answer, ring_txt_one_string_per_vnode_sorted)
{
	reg("c", "tcp", "c1.lon6.example.net", 11211, NULL);
	reg("c", "tcp", "c2.lon6.example.net", 11211, NULL);
	ldns_pkt *p = ask("_ring._c._tcp." ZONE, DNSWIRE_TXT, 0, ANSWER_TCP);
	cr_assert_eq(ldns_pkt_ancount(p), 1);
	ldns_rr *rr = section_rr(p, LDNS_SECTION_ANSWER, 0);
	cr_assert_eq(ldns_rr_rd_count(rr), 2 * RS_RING_VNODES);
	uint32_t want[2 * RS_RING_VNODES];
	for (unsigned v = 0; v < RS_RING_VNODES; v++) {
		want[v] = rs_ring_token("c1.lon6.example.net.", 11211, v);
		want[RS_RING_VNODES + v] = rs_ring_token("c2.lon6.example.net.", 11211, v);
	}
	qsort(want, 2 * RS_RING_VNODES, sizeof(want[0]), cmp_u32);
	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
		const ldns_rdf *s = ldns_rr_rdf(rr, i);
		char text[300];
		memcpy(text, ldns_rdf_data(s) + 1, ldns_rdf_data(s)[0]);
		text[ldns_rdf_data(s)[0]] = '\0';
		unsigned tok, port;
		char host[256];
		cr_assert_eq(sscanf(text, "%8x %255s %u", &tok, host, &port), 3, "%s", text);
		cr_expect_eq(tok, want[i], "string %zu: %s", i, text);
		cr_expect_eq(port, 11211);
	}
	ldns_pkt_free(p);
}

/* The strings of the TXT RRs of @p p's answer, appended to @p tok (tokens)
 * and counted in @p n. */
static void ring_tokens(ldns_pkt *p, uint32_t *tok, size_t *n)
{
	for (size_t r = 0; r < ldns_pkt_ancount(p); r++) {
		ldns_rr *rr = section_rr(p, LDNS_SECTION_ANSWER, r);
		for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
			const ldns_rdf *s = ldns_rr_rdf(rr, i);
			char text[300];
			memcpy(text, ldns_rdf_data(s) + 1, ldns_rdf_data(s)[0]);
			text[ldns_rdf_data(s)[0]] = '\0';
			unsigned t;
			cr_assert_eq(sscanf(text, "%8x", &t), 1, "%s", text);
			tok[(*n)++] = t;
		}
	}
}

/* A ring too large for one RR is whole over shards: _ring says how many,
 * <k>._ring holds shard k (in token order), their union is every vnode of
 * every instance; shard 0, N+1 and a leading zero are no such name. */
Test(answer, large_ring_is_whole_over_shards)
{
	enum { N = 400 };
	char host[64];
	static uint32_t want[N * RS_RING_VNODES], got[N * RS_RING_VNODES];
	for (int i = 0; i < N; i++) {
		snprintf(host, sizeof(host), "lon6-cache-a%04d.lon6.example.net", i);
		reg("c", "tcp", host, 11211, NULL);
		strcat(host, ".");
		for (unsigned v = 0; v < RS_RING_VNODES; v++) {
			want[i * RS_RING_VNODES + v] = rs_ring_token(host, 11211, v);
		}
	}
	ldns_pkt *p = ask("_ring._c._tcp." ZONE, DNSWIRE_TXT, 0, ANSWER_TCP);
	cr_assert_eq(ldns_pkt_ancount(p), 1);
	char *t = ldns_rdf2str(ldns_rr_rdf(section_rr(p, LDNS_SECTION_ANSWER, 0), 0));
	unsigned shards = 0;
	cr_assert_eq(sscanf(t, "\"shards=%u\"", &shards), 1, "%s", t);
	free(t);
	ldns_pkt_free(p);
	cr_assert(shards >= 2 && shards < 20, "%u shards", shards);
	size_t n = 0;
	for (unsigned k = 1; k <= shards; k++) {
		char name[128];
		snprintf(name, sizeof(name), "%u._ring._c._tcp." ZONE, k);
		p = ask(name, DNSWIRE_TXT, 0, ANSWER_TCP);
		cr_assert_eq(ldns_pkt_ancount(p), 1, "%s", name);
		size_t from = n;
		ring_tokens(p, got, &n);
		for (size_t i = from + 1; i < n; i++) {
			cr_expect_leq(got[i - 1], got[i], "%s in token order", name);
		}
		ldns_pkt_free(p);
	}
	cr_assert_eq(n, (size_t)N * RS_RING_VNODES);
	qsort(want, n, sizeof(want[0]), cmp_u32);
	qsort(got, n, sizeof(got[0]), cmp_u32);
	cr_expect_arr_eq(got, want, n * sizeof(got[0]), "the union is the whole ring");
	char none[3][128];
	snprintf(none[0], sizeof(none[0]), "0._ring._c._tcp." ZONE);
	snprintf(none[1], sizeof(none[1]), "%u._ring._c._tcp." ZONE, shards + 1);
	snprintf(none[2], sizeof(none[2]), "01._ring._c._tcp." ZONE);
	/* One name, one existence, whatever the type: a shard is NODATA for
	 * other types, a missing one NXDOMAIN for all. */
	const uint16_t types[] = {
			DNSWIRE_TXT, DNSWIRE_ANY, DNSWIRE_A, DNSWIRE_AAAA, DNSWIRE_SRV, DNSWIRE_NS};
	for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++) {
		for (int i = 0; i < 3; i++) {
			p = ask(none[i], types[ti], 0, ANSWER_TCP);
			cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN, "%s type %u",
					none[i], types[ti]);
			ldns_pkt_free(p);
		}
		if (types[ti] == DNSWIRE_TXT || types[ti] == DNSWIRE_ANY) {
			continue;
		}
		p = ask("1._ring._c._tcp." ZONE, types[ti], 0, ANSWER_TCP);
		cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR, "shard 1, type %u",
				types[ti]);
		cr_expect_eq(ldns_pkt_ancount(p), 0, "shard 1, type %u: no data", types[ti]);
		ldns_pkt_free(p);
	}
}

/* A ring small enough for one RR has no shard names, for any type. */
Test(answer, unsharded_ring_has_no_shard_names)
{
	reg("web", "tcp", "web1.lon6.example.net", 8080, NULL);
	const uint16_t types[] = {DNSWIRE_TXT, DNSWIRE_A, DNSWIRE_AAAA, DNSWIRE_SRV};
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		ldns_pkt *p = ask("1._ring._web._tcp." ZONE, types[t], 0, ANSWER_UDP);
		cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN, "type %u", types[t]);
		ldns_pkt_free(p);
	}
	ldns_pkt *p = ask("_ring._web._tcp." ZONE, DNSWIRE_A, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR, "_ring itself exists");
	cr_expect_eq(ldns_pkt_ancount(p), 0);
	ldns_pkt_free(p);
}

Test(answer, status_txt)
{
	reg("web", "tcp", "web1.lon6.example.net", 8080, NULL);
	ldns_pkt *p = ask("_status." ZONE, DNSWIRE_TXT, 0, ANSWER_UDP);
	cr_assert_eq(ldns_pkt_ancount(p), 1);
	char *s = ldns_rr2str(section_rr(p, LDNS_SECTION_ANSWER, 0));
	cr_expect(strstr(s, "\"mode=normal\"") != NULL, "%s", s);
	cr_expect(strstr(s, "\"instances=1\"") != NULL, "%s", s);
	cr_expect(strstr(s, "\"revision=") != NULL, "%s", s);
	free(s);
	ldns_pkt_free(p);
}

Test(answer, soa_serial_is_revision_and_ns)
{
	uint64_t rev = reg("web", "tcp", "web1.lon6.example.net", 8080, NULL);
	ldns_pkt *p = ask(ZONE, DNSWIRE_SOA, 0, ANSWER_UDP);
	cr_assert_eq(ldns_pkt_ancount(p), 1);
	ldns_rr *soa = section_rr(p, LDNS_SECTION_ANSWER, 0);
	cr_expect_eq(ldns_rdf2native_int32(ldns_rr_rdf(soa, 2)), (uint32_t)rev);
	cr_expect_eq(ldns_rdf2native_int32(ldns_rr_rdf(soa, 6)), 7, "minimum = negative TTL");
	cr_expect_eq(ldns_rr_ttl(soa), 7, "the larger of --ttl 5 and --negative-ttl 7");
	ldns_pkt_free(p);
	p = ask(ZONE, DNSWIRE_NS, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_ancount(p), 2);
	ldns_pkt_free(p);
}

Test(answer, nodata_and_nxdomain_carry_soa)
{
	reg("web", "tcp", "web1.lon6.example.net", 8080, "10.0.0.1");
	ldns_pkt *p = ask("_web._tcp." ZONE, DNSWIRE_A, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	cr_expect_eq(ldns_pkt_ancount(p), 0);
	cr_assert_eq(ldns_pkt_nscount(p), 1);
	ldns_rr *soa = section_rr(p, LDNS_SECTION_AUTHORITY, 0);
	cr_expect_eq(ldns_rr_get_type(soa), LDNS_RR_TYPE_SOA);
	/* SPEC: the negative TTL, 7, above --ttl 5. RFC 2308 3 takes
	 * min(MINIMUM 7, the SOA's own TTL), which answer_soa_ttl() makes 7. */
	cr_expect_eq(ldns_rr_ttl(soa), 7);
	cr_expect_eq(ldns_rdf2native_int32(ldns_rr_rdf(soa, 6)), 7);
	char *o = ldns_rdf2str(ldns_rr_owner(soa));
	cr_expect_str_eq(o, ZONE);
	free(o);
	ldns_pkt_free(p);
	p = ask("nope." ZONE, DNSWIRE_A, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	cr_expect(ldns_pkt_aa(p));
	cr_expect_eq(ldns_pkt_nscount(p), 1);
	ldns_pkt_free(p);
	p = ask("a.b.c.d._web._tcp." ZONE, DNSWIRE_SRV, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(p);
}

Test(answer, protocol_label_is_an_empty_non_terminal)
{
	reg("web", "tcp", "web1.lon6.example.net", 8080, NULL);
	ldns_pkt *p = ask("_tcp." ZONE, DNSWIRE_A, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ldns_pkt_free(p);
	p = ask("_udp." ZONE, DNSWIRE_A, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(p);
}

Test(answer, refused_outside_zone_and_other_classes)
{
	ldns_pkt *p = ask("example.org.", DNSWIRE_A, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	cr_expect(!ldns_pkt_aa(p));
	ldns_pkt_free(p);
	p = ask("lon6.example.net.", DNSWIRE_SOA, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED, "parent of the zone");
	ldns_pkt_free(p);
	uint8_t q[512];
	size_t len = answer_test_query(q, ZONE, DNSWIRE_SOA, 0);
	q[len - 1] = 3; /* CH */
	p = ask_raw(q, len, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	ldns_pkt_free(p);
}

Test(answer, any_is_minimal)
{
	reg("web", "tcp", "web1.lon6.example.net", 8080, "10.0.0.1");
	ldns_pkt *p = ask(ZONE, DNSWIRE_ANY, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_ancount(p), 1);
	cr_expect_eq(ldns_rr_get_type(section_rr(p, LDNS_SECTION_ANSWER, 0)), LDNS_RR_TYPE_SOA);
	ldns_pkt_free(p);
	p = ask("_web._tcp." ZONE, DNSWIRE_ANY, 0, ANSWER_UDP);
	cr_expect_eq(ldns_rr_get_type(section_rr(p, LDNS_SECTION_ANSWER, 0)), LDNS_RR_TYPE_SRV);
	ldns_pkt_free(p);
}

Test(answer, case_insensitive_question_echoed_as_sent)
{
	reg("web", "tcp", "web1.lon6.example.net", 8080, NULL);
	const char *name = "_WEB._Tcp.Services.LON6.example.NET.";
	ldns_pkt *p = ask(name, DNSWIRE_SRV, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_ancount(p), 1);
	char *q = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(p), 0)));
	cr_expect_str_eq(q, name);
	free(q);
	ldns_pkt_free(p);
}

Test(answer, change_visible_at_once)
{
	reg("web", "tcp", "web1.lon6.example.net", 8080, NULL);
	ldns_pkt *p = ask("_web._tcp." ZONE, DNSWIRE_SRV, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);
	reg("web", "tcp", "web2.lon6.example.net", 8080, NULL);
	p = ask("_web._tcp." ZONE, DNSWIRE_SRV, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_ancount(p), 2);
	ldns_pkt_free(p);
	struct store_key k = {"web", "tcp", "web1.lon6.example.net", 8080};
	uint64_t rev;
	cr_assert_eq(store_deregister(fx.st, &k, &rev), 0);
	cr_assert_eq(store_deregister(fx.st,
				     &(struct store_key){
						     "web", "tcp", "web2.lon6.example.net", 8080},
				     &rev),
			0);
	p = ask("_web._tcp." ZONE, DNSWIRE_SRV, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(p);
	p = ask(ZONE, DNSWIRE_SOA, 0, ANSWER_UDP);
	cr_expect_eq(ldns_rdf2native_int32(ldns_rr_rdf(section_rr(p, LDNS_SECTION_ANSWER, 0), 2)),
			(uint32_t)rev);
	ldns_pkt_free(p);
}

static void many(const char *svc, int n, bool v6)
{
	char host[128], addr[64];
	for (int i = 0; i < n; i++) {
		snprintf(host, sizeof(host), "lon6-%s-a%04d.lon6.example.net", svc, i);
		if (v6) {
			snprintf(addr, sizeof(addr), "2001:db8::%x", i + 1);
		} else {
			snprintf(addr, sizeof(addr), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255,
					i & 255);
		}
		reg_full(svc, "tcp", host, 8000, addr, (unsigned)(1 + i % 4), STORE_STATUS_UP, 0);
	}
}

Test(answer, edns_sizes_and_truncation)
{
	many("big", 40, false);
	/* Without EDNS: 512 octets, so 40 SRV do not fit: TC=1, no records. */
	ldns_pkt *p = ask("_big._tcp." ZONE, DNSWIRE_SRV, 0, ANSWER_UDP);
	cr_expect(ldns_pkt_tc(p));
	cr_expect_eq(ldns_pkt_ancount(p), 0);
	cr_expect_eq(ldns_pkt_nscount(p), 0);
	cr_expect_eq(ldns_pkt_arcount(p), 0);
	cr_expect_leq(res.len, 512);
	ldns_pkt_free(p);
	/* EDNS 4096 is capped at 1232: still does not fit (40 * ~52). */
	p = ask("_big._tcp." ZONE, DNSWIRE_SRV, 4096, ANSWER_UDP);
	cr_expect(ldns_pkt_tc(p));
	cr_expect_eq(ldns_pkt_ancount(p), 0);
	cr_expect(ldns_pkt_edns(p), "OPT kept on a truncated answer");
	cr_expect_eq(ldns_pkt_edns_udp_size(p), 1232);
	ldns_pkt_free(p);
	/* TCP: all of them. */
	p = ask("_big._tcp." ZONE, DNSWIRE_SRV, 0, ANSWER_TCP);
	cr_expect(!ldns_pkt_tc(p));
	cr_expect_eq(ldns_pkt_ancount(p), 40);
	ldns_pkt_free(p);
	/* A: 40 * 16 octets fit in 1232 but not 512. */
	p = ask("big." ZONE, DNSWIRE_A, 1232, ANSWER_UDP);
	cr_expect(!ldns_pkt_tc(p));
	cr_expect_eq(ldns_pkt_ancount(p), 40);
	cr_expect_leq(res.len, 1232);
	ldns_pkt_free(p);
	/* EDNS under 512 means 512 (RFC 6891 6.2.5). */
	p = ask("big." ZONE, DNSWIRE_A, 100, ANSWER_UDP);
	cr_expect(ldns_pkt_tc(p));
	cr_expect_leq(res.len, 512);
	ldns_pkt_free(p);
}

Test(answer, srv_additional_dropped_before_truncating)
{
	many("mid", 9, false);
	/* 9 SRV (~55 octets each) fit in 1232 with some of their A records. */
	ldns_pkt *p = ask("_mid._tcp." ZONE, DNSWIRE_SRV, 1232, ANSWER_UDP);
	cr_expect(!ldns_pkt_tc(p));
	cr_expect_eq(ldns_pkt_ancount(p), 9);
	cr_expect_leq(res.len, 1232);
	ldns_pkt_free(p);
	p = ask("_mid._tcp." ZONE, DNSWIRE_SRV, 0, ANSWER_UDP);
	cr_expect(!ldns_pkt_tc(p) || ldns_pkt_ancount(p) == 0);
	cr_expect_leq(res.len, 512);
	ldns_pkt_free(p);
}

Test(answer, big_rrset_over_tcp_is_a_weighted_subset)
{
	many("role", 2500, false);
	ldns_pkt *p = ask("_role._tcp." ZONE, DNSWIRE_SRV, 0, ANSWER_TCP);
	cr_assert_not_null(p);
	cr_expect(!ldns_pkt_tc(p));
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	cr_expect_gt(ldns_pkt_ancount(p), 900);
	cr_expect_lt(ldns_pkt_ancount(p), 2500);
	cr_expect_leq(res.len, 65535);
	cr_expect(res.partial);
	cr_expect_eq(answer_counters_get(fx.an)->partial, 1);
	/* Weight 4 instances are more likely in than weight 1 ones. */
	int w1 = 0, w4 = 0;
	for (size_t i = 0; i < ldns_pkt_ancount(p); i++) {
		unsigned w = ldns_rdf2native_int16(
				ldns_rr_rdf(section_rr(p, LDNS_SECTION_ANSWER, i), 1));
		w1 += w == 1;
		w4 += w == 4;
	}
	cr_expect_gt(w4, w1 * 2, "weight 4: %d, weight 1: %d", w4, w1);
	ldns_pkt_free(p);
	/* 2,500 AAAA (28 octets each) do not fit either. */
	many("role6", 2500, true);
	p = ask("role6." ZONE, DNSWIRE_AAAA, 0, ANSWER_TCP);
	cr_expect_gt(ldns_pkt_ancount(p), 2000);
	cr_expect_leq(res.len, 65535);
	ldns_pkt_free(p);
}

static int cmp_cstr(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The SRV targets of @p p, sorted (the subset), newline-separated into
 * @p buf; @p first gets the first one as answered. */
static void answers_of(ldns_pkt *p, char *buf, size_t n, char *first, size_t firstsz)
{
	size_t k = ldns_pkt_ancount(p);
	char **t = calloc(k + 1, sizeof(*t));
	cr_assert_not_null(t);
	for (size_t i = 0; i < k; i++) {
		t[i] = ldns_rdf2str(ldns_rr_rdf(section_rr(p, LDNS_SECTION_ANSWER, i), 3));
	}
	snprintf(first, firstsz, "%s", k > 0 ? t[0] : "");
	qsort(t, k, sizeof(*t), cmp_cstr);
	buf[0] = '\0';
	for (size_t i = 0; i < k; i++) {
		strncat(buf, t[i], n - strlen(buf) - 2);
		strcat(buf, "\n");
		free(t[i]);
	}
	free(t);
}

/* SPEC: with --stable-subsets, the same subset for the same client until
 * the set changes; its order is still each query's (a client that takes
 * the first SRV must not always get the same instance). */
Test(answer, stable_subsets_same_for_same_client)
{
	teardown();
	setup_cfg(true);
	many("role", 2000, false);
	static char a[200000], b[200000];
	char first_a[300], first_b[300];
	ldns_pkt *p = ask("_role._tcp." ZONE, DNSWIRE_SRV, 0, ANSWER_TCP);
	answers_of(p, a, sizeof(a), first_a, sizeof(first_a));
	ldns_pkt_free(p);
	cr_expect(res.partial);
	int other_first = 0;
	for (int i = 0; i < 8; i++) {
		p = ask("_role._tcp." ZONE, DNSWIRE_SRV, 0, ANSWER_TCP);
		answers_of(p, b, sizeof(b), first_b, sizeof(first_b));
		ldns_pkt_free(p);
		cr_expect_str_eq(a, b, "the same subset");
		other_first += strcmp(first_a, first_b) != 0;
	}
	cr_expect_gt(other_first, 4, "the order is each query's");
}

Test(answer, stale_answer_ede)
{
	const struct store_lease *l;
	cr_assert_eq(store_lease_open(fx.st, 1, 77, 1000, &l), 0);
	reg_full("k", "tcp", "k1.lon6.example.net", 1, "10.0.0.1", 1, STORE_STATUS_UP, 77);
	uint32_t expired;
	for (uint64_t t = 1000; t < 4000; t += 100) {
		cr_assert_eq(store_tick(fx.st, t, &expired), 0);
	}
	ldns_pkt *p = ask("_k._tcp." ZONE, DNSWIRE_SRV, 0, ANSWER_UDP);
	cr_assert_eq(ldns_pkt_ancount(p), 1, "keep-last keeps the last instance");
	cr_expect(!ldns_pkt_edns(p));
	ldns_pkt_free(p);
	uint8_t q[512];
	size_t len = answer_test_query(q, "_k._tcp." ZONE, DNSWIRE_SRV, 1232);
	p = ask_raw(q, len, ANSWER_UDP);
	ldns_pkt_free(p);
	/* OPT at the end: ... 00 0f 00 02 00 03 (EDE 3, Stale Answer). */
	const uint8_t ede[] = {0, 15, 0, 2, 0, 3};
	cr_expect_eq(memcmp(out + res.len - 6, ede, 6), 0);
}

Test(answer, badvers)
{
	uint8_t q[512];
	size_t len = answer_test_query(q, ZONE, DNSWIRE_SOA, 1232);
	q[len - 5] = 1; /* VERSION 1 */
	ldns_pkt *p = ask_raw(q, len, ANSWER_UDP);
	cr_expect_eq(res.rcode, 16);
	cr_expect_eq(ldns_pkt_ancount(p), 0);
	cr_expect(ldns_pkt_edns(p));
	cr_expect_eq(ldns_pkt_edns_extended_rcode(p), 1);
	cr_expect_eq(ldns_pkt_edns_version(p), 0);
	ldns_pkt_free(p);
}

Test(answer, opcodes_other_than_query_notimp)
{
	for (unsigned op = 1; op < 16; op++) {
		uint8_t q[512];
		size_t len = answer_test_query(q, ZONE, DNSWIRE_SOA, 0);
		q[2] = (uint8_t)((q[2] & 0x87) | (op << 3));
		ldns_pkt *p = ask_raw(q, len, ANSWER_UDP);
		cr_assert_not_null(p);
		cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOTIMPL, "opcode %u", op);
		ldns_pkt_free(p);
	}
}

/* RFC 6891 7: the OPT of the query comes back with the NOTIMP; RD is
 * copied, CD is not (a NOTIFY here: rosterd sends them, it takes none). */
Test(answer, notimp_keeps_opt_and_rd_not_cd)
{
	for (int edns = 0; edns <= 1; edns++) {
		uint8_t q[512];
		size_t len = answer_test_query(q, ZONE, DNSWIRE_SOA, edns ? 1232 : 0);
		q[2] = (uint8_t)((q[2] & 0x87) | (4u << 3)); /* NOTIFY */
		q[3] |= 0x10;                                /* CD */
		ldns_pkt *p = ask_raw(q, len, ANSWER_UDP);
		cr_assert_not_null(p);
		cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOTIMPL);
		cr_expect_eq(ldns_pkt_edns(p), edns == 1, "edns %d", edns);
		cr_expect(ldns_pkt_rd(p));
		cr_expect_not(ldns_pkt_cd(p));
		ldns_pkt_free(p);
	}
}

Test(answer, trailing_bytes_ignored)
{
	uint8_t q[512];
	size_t len = answer_test_query(q, ZONE, DNSWIRE_SOA, 0);
	memset(q + len, 0xab, 20);
	ldns_pkt *p = ask_raw(q, len + 20, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	cr_expect_eq(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);
}

Test(answer, axfr_refused)
{
	ldns_pkt *p = ask(ZONE, DNSWIRE_AXFR, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_FORMERR);
	ldns_pkt_free(p);
	p = ask(ZONE, DNSWIRE_AXFR, 0, ANSWER_TCP);
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	ldns_pkt_free(p);
}

/* An IXFR query for @p name, with the client's SOA (serial 1) in the
 * authority section when @p soa, as RFC 1995 3 has it. @return its length. */
static size_t ixfr_query(uint8_t *b, const char *name, bool soa)
{
	size_t len = answer_test_query(b, name, DNSWIRE_IXFR, 0);
	if (soa) {
		b[9] = 1; /* NSCOUNT */
		const uint8_t rr[12 + 22] = {
				0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 0, 0, 22, 0, 0, 0, 0, 0, 1};
		memcpy(b + len, rr, sizeof(rr));
		len += sizeof(rr);
	}
	return len;
}

/* IXFR is never answered as an ordinary query of its name, from a client not
 * allowed transfers, at the apex or below, with or without its SOA: REFUSED
 * (docs/dns.md), or FORMERR where the query is malformed for this server
 * (IXFR over UDP without the SOA; with the SOA before IXFR parses it);
 * never NOERROR, never an answer record. */
Test(answer, ixfr_refused_like_axfr)
{
	reg("web", "tcp", "web1.lon6.example.net", 8080, "10.0.0.1");
	const char *names[] = {ZONE, "_web._tcp." ZONE};
	for (int k = 0; k < 8; k++) {
		const char *name = names[k & 1];
		bool soa = (k & 2) != 0;
		enum answer_transport t = k & 4 ? ANSWER_TCP : ANSWER_UDP;
		uint8_t q[600];
		ldns_pkt *p = ask_raw(q, ixfr_query(q, name, soa), t);
		cr_assert_not_null(p);
		ldns_pkt_rcode rc = ldns_pkt_get_rcode(p);
		if (!soa && t == ANSWER_UDP) {
			cr_expect_eq(rc, LDNS_RCODE_FORMERR, "%s over UDP", name);
		}
		cr_expect(rc == LDNS_RCODE_REFUSED || rc == LDNS_RCODE_FORMERR,
				"%s over %s, %s the SOA: rcode %d", name,
				t == ANSWER_TCP ? "TCP" : "UDP", soa ? "with" : "without", rc);
		cr_expect_eq(ldns_pkt_ancount(p), 0);
		ldns_pkt_free(p);
	}
}

/* _status ANY gets the TXT record, as _status TXT does; other types NODATA. */
Test(answer, status_any_is_the_txt)
{
	reg("web", "tcp", "web1.lon6.example.net", 8080, NULL);
	ldns_pkt *p = ask("_status." ZONE, DNSWIRE_ANY, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	cr_assert_eq(ldns_pkt_ancount(p), 1);
	ldns_rr *rr = section_rr(p, LDNS_SECTION_ANSWER, 0);
	cr_expect_eq(ldns_rr_get_type(rr), LDNS_RR_TYPE_TXT);
	char *s = ldns_rr2str(rr);
	cr_expect(strstr(s, "\"instances=1\"") != NULL, "%s", s);
	free(s);
	ldns_pkt_free(p);
	p = ask("_status." ZONE, DNSWIRE_A, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	cr_expect_eq(ldns_pkt_ancount(p), 0);
	ldns_pkt_free(p);
}

/* Only _ring._<service>._<proto>.<zone> is the ring: a name below it, a
 * _ring label deeper in the tree (whose next labels name a service that
 * exists), or another label in its place, is NXDOMAIN. */
Test(answer, names_below_the_ring_are_nxdomain)
{
	reg("c", "tcp", "c1.lon6.example.net", 11211, NULL);
	ldns_pkt *p = ask("_ring._c._tcp." ZONE, DNSWIRE_TXT, 0, ANSWER_TCP);
	cr_assert_eq(ldns_pkt_ancount(p), 1, "the ring itself");
	ldns_pkt_free(p);
	const char *names[] = {"x._ring._c._tcp." ZONE, "_ring._ring._c._tcp." ZONE,
			"1._ring._c._tcp." ZONE, /* a shard of a ring that fits: none */
			"_ring._c._tcp.x." ZONE, "_ring._c._tcp._tcp." ZONE, "x._c._tcp." ZONE,
			"_rings._c._tcp." ZONE};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		for (int any = 0; any < 2; any++) {
			p = ask(names[i], any ? DNSWIRE_ANY : DNSWIRE_TXT, 0, ANSWER_TCP);
			cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN, "%s", names[i]);
			cr_expect_eq(ldns_pkt_ancount(p), 0, "%s", names[i]);
			ldns_pkt_free(p);
		}
	}
}

Test(answer, report_zone)
{
	ldns_pkt *p = ask("e42.v1-2.android.n0nce.errors.example.net.", DNSWIRE_A, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	cr_assert_eq(ldns_pkt_nscount(p), 1);
	cr_expect_eq(ldns_rr_ttl(section_rr(p, LDNS_SECTION_AUTHORITY, 0)), 0);
	cr_expect_eq(ldns_rdf2native_int32(
				     ldns_rr_rdf(section_rr(p, LDNS_SECTION_AUTHORITY, 0), 6)),
			0);
	cr_expect(res.report);
	cr_expect_eq(res.fields.len[0], 3);
	ldns_pkt_free(p);
	cr_expect_eq(fx.rep.ncodes, 1);
	cr_expect_str_eq(fx.rep.codes[0].code, "e42");
	p = ask("bad.errors.example.net.", DNSWIRE_A, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	cr_expect(!res.report);
	cr_expect_eq(fx.rep.malformed, 1);
	ldns_pkt_free(p);
	/* Rate limit: 50 per second per /24, the time does not move here. */
	int answered = 0;
	for (int i = 0; i < 100; i++) {
		p = ask("e1.v1.linux.x.errors.example.net.", DNSWIRE_TXT, 0, ANSWER_UDP);
		answered += p != NULL;
		ldns_pkt_free(p);
	}
	cr_expect_eq(answered, 48);
	cr_expect_eq(fx.rep.limited, 52);
	p = ask("errors.example.net.", DNSWIRE_SOA, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_ancount(p), 1, "the report zone's apex answers");
	ldns_pkt_free(p);
}

/* ---- malformed queries: a table ----------------------------------------- */

struct bad_case {
	const char *what;
	uint8_t bytes[300];
	size_t len;
	int expect; /* rcode, or -1 for a drop */
};

#define Q_ZONE                                                                                     \
	8, 's', 'e', 'r', 'v', 'i', 'c', 'e', 's', 4, 'l', 'o', 'n', '6', 7, 'e', 'x', 'a', 'm',   \
			'p', 'l', 'e', 3, 'n', 'e', 't', 0
#define HDR(qd, an, ns, ar) 0xab, 0xcd, 0x01, 0x00, 0, qd, 0, an, 0, ns, 0, ar

ParameterizedTestParameters(answer, malformed_table)
{
	static struct bad_case cases[] = {
			{"empty", {0}, 0, -1},
			{"one NUL", {0}, 1, -1},
			{"11 octets", {HDR(1, 0, 0, 0)}, 11, -1},
			{"header only", {HDR(1, 0, 0, 0)}, 12, 1},
			{"QR=1 (a response)",
					{0xab, 0xcd, 0x81, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0,
							1},
					17, -1},
			{"QDCOUNT 0", {HDR(0, 0, 0, 0)}, 12, 1},
			{"QDCOUNT 2", {HDR(2, 0, 0, 0), Q_ZONE, 0, 6, 0, 1, Q_ZONE, 0, 6, 0, 1},
					12 + 62, 1},
			{"ANCOUNT 1", {HDR(1, 1, 0, 0), Q_ZONE, 0, 6, 0, 1}, 12 + 31, 1},
			{"NSCOUNT 1", {HDR(1, 0, 1, 0), Q_ZONE, 0, 6, 0, 1}, 12 + 31, 1},
			{"ARCOUNT 9", {HDR(1, 0, 0, 9), Q_ZONE, 0, 6, 0, 1}, 12 + 31, 1},
			{"question cut in the name", {HDR(1, 0, 0, 0), 8, 's', 'e', 'r'}, 16, 1},
			{"question without type", {HDR(1, 0, 0, 0), Q_ZONE}, 12 + 27, 1},
			{"question without class", {HDR(1, 0, 0, 0), Q_ZONE, 0, 6}, 12 + 29, 1},
			{"pointer in question to itself", {HDR(1, 0, 0, 0), 0xc0, 12, 0, 6, 0, 1},
					18, 1},
			{"pointer in question to header", {HDR(1, 0, 0, 0), 0xc0, 0, 0, 6, 0, 1},
					18, 1},
			{"pointer past the end", {HDR(1, 0, 0, 0), 0xff, 0xff, 0, 6, 0, 1}, 18, 1},
			{"label type 0x40", {HDR(1, 0, 0, 0), 0x41, 'a', 0, 0, 6, 0, 1}, 19, 1},
			{"label type 0x80", {HDR(1, 0, 0, 0), 0x80, 0, 0, 6, 0, 1}, 18, 1},
			{"additional owner label type 0x40",
					{HDR(1, 0, 0, 1), Q_ZONE, 0, 6, 0, 1, 0x41, 'a', 0, 0, 1, 0,
							1, 0, 0, 0, 0, 0, 0},
					12 + 31 + 13, 1},
			{"additional owner label type 0x80",
					{HDR(1, 0, 0, 1), Q_ZONE, 0, 6, 0, 1, 0x81, 'a', 0, 0, 1, 0,
							1, 0, 0, 0, 0, 0, 0},
					12 + 31 + 13, 1},
			{"OPT with non-root owner",
					{HDR(1, 0, 0, 1), Q_ZONE, 0, 6, 0, 1, 1, 'a', 0, 0, 41, 4,
							0xd0, 0, 0, 0, 0, 0, 0},
					12 + 31 + 13, 1},
			{"two OPT",
					{HDR(1, 0, 0, 2), Q_ZONE, 0, 6, 0, 1, 0, 0, 41, 4, 0xd0, 0,
							0, 0, 0, 0, 0, 0, 0, 41, 4, 0xd0, 0, 0, 0,
							0, 0, 0},
					12 + 31 + 22, 1},
			{"OPT RDLENGTH past end",
					{HDR(1, 0, 0, 1), Q_ZONE, 0, 6, 0, 1, 0, 0, 41, 4, 0xd0, 0,
							0, 0, 0, 0, 9},
					12 + 31 + 11, 1},
			{"OPT option overruns RDATA",
					{HDR(1, 0, 0, 1), Q_ZONE, 0, 6, 0, 1, 0, 0, 41, 4, 0xd0, 0,
							0, 0, 0, 0, 6, 0, 3, 0, 9, 1, 2},
					12 + 31 + 17, 1},
			{"COOKIE of 5 octets",
					{HDR(1, 0, 0, 1), Q_ZONE, 0, 6, 0, 1, 0, 0, 41, 4, 0xd0, 0,
							0, 0, 0, 0, 9, 0, 10, 0, 5, 1, 2, 3, 4, 5},
					12 + 31 + 20, 1},
			{"two COOKIE options",
					{HDR(1, 0, 0, 1), Q_ZONE, 0, 6, 0, 1, 0, 0, 41, 4, 0xd0, 0,
							0, 0, 0, 0, 24, 0, 10, 0, 8, 1, 2, 3, 4, 5,
							6, 7, 8, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7,
							8},
					12 + 31 + 35, 1},
			{"keepalive with a timeout",
					{HDR(1, 0, 0, 1), Q_ZONE, 0, 6, 0, 1, 0, 0, 41, 4, 0xd0, 0,
							0, 0, 0, 0, 6, 0, 11, 0, 2, 0, 100},
					12 + 31 + 17, 1},
			{"additional owner pointer loop",
					{HDR(1, 0, 0, 1), Q_ZONE, 0, 6, 0, 1, 0xc0, 43, 0, 1, 0, 1,
							0, 0, 0, 0, 0, 0},
					12 + 31 + 12, 1},
			{"additional owner pointer forwards",
					{HDR(1, 0, 0, 1), Q_ZONE, 0, 6, 0, 1, 0xc0, 50, 0, 1, 0, 1,
							0, 0, 0, 0, 0, 0},
					12 + 31 + 12, 1},
			{"TSIG not last",
					{HDR(1, 0, 0, 2), Q_ZONE, 0, 6, 0, 1, 0, 0, 250, 0, 255, 0,
							0, 0, 0, 0, 0, 0, 0, 41, 4, 0xd0, 0, 0, 0,
							0, 0, 0},
					12 + 31 + 22, 1},
			{"QTYPE OPT", {HDR(1, 0, 0, 0), Q_ZONE, 0, 41, 0, 1}, 12 + 31, 1},
			{"unknown option ignored",
					{HDR(1, 0, 0, 1), Q_ZONE, 0, 6, 0, 1, 0, 0, 41, 4, 0xd0, 0,
							0, 0, 0, 0, 6, 0xfe, 0x01, 0, 2, 1, 2},
					12 + 31 + 17, 0},
			{"backwards pointer in additional is fine",
					{HDR(1, 0, 0, 1), Q_ZONE, 0, 6, 0, 1, 0xc0, 12, 0, 1, 0, 1,
							0, 0, 0, 0, 0, 0},
					12 + 31 + 12, 0},
			{"TSIG with an empty RDATA",
					{HDR(1, 0, 0, 1), Q_ZONE, 0, 6, 0, 1, 0, 0, 250, 0, 255, 0,
							0, 0, 0, 0, 0},
					12 + 31 + 11, 1},
			{"TSIG RDATA cut short",
					{HDR(1, 0, 0, 1), Q_ZONE, 0, 6, 0, 1, 0, 0, 250, 0, 255, 0,
							0, 0, 0, 0, 13, 11, 'h', 'm', 'a', 'c', '-',
							's', 'h', 'a', '2', '5', '6', 0},
					12 + 31 + 11 + 13, 1},
			{"TSIG class IN",
					{HDR(1, 0, 0, 1), Q_ZONE, 0, 6, 0, 1, 0, 0, 250, 0, 1, 0, 0,
							0, 0, 0, 0},
					12 + 31 + 11, 1},
			/* Well formed, a key we do not hold: RFC 8945 5.2.1 BADKEY. */
			{"TSIG of an unknown key",
					{HDR(1, 0, 0, 1), Q_ZONE, 0, 6, 0, 1, 0, 0, 250, 0, 255, 0,
							0, 0, 0, 0, 29, 11, 'h', 'm', 'a', 'c', '-',
							's', 'h', 'a', '2', '5', '6', 0, 0, 0, 0, 0,
							0, 0, 1, 44, 0, 0, 0xab, 0xcd, 0, 0, 0, 0},
					12 + 31 + 11 + 29, 9},
			/* The same TSIG with an OPT after it: RFC 8945 5.1 says
			 * FORMERR, not the unknown key's NOTAUTH (the row "TSIG
			 * not last" is FORMERR for its empty RDATA alone). */
			{"a well-formed TSIG not last",
					{HDR(1, 0, 0, 2), Q_ZONE, 0, 6, 0, 1, 0, 0, 250, 0, 255, 0,
							0, 0, 0, 0, 29, 11, 'h', 'm', 'a', 'c', '-',
							's', 'h', 'a', '2', '5', '6', 0, 0, 0, 0, 0,
							0, 0, 1, 44, 0, 0, 0xab, 0xcd, 0, 0, 0, 0,
							0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0},
					12 + 31 + 11 + 29 + 11, 1},
	};
	return cr_make_param_array(struct bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *c, answer, malformed_table)
{
	ldns_pkt *p = ask_raw(c->bytes, c->len, ANSWER_UDP);
	if (c->expect < 0) {
		cr_expect_null(p, "%s: expected a drop", c->what);
		ldns_pkt_free(p);
		return;
	}
	cr_assert_not_null(p, "%s: dropped", c->what);
	cr_expect_eq(ldns_pkt_get_rcode(p), c->expect, "%s: rcode %d", c->what,
			ldns_pkt_get_rcode(p));
	cr_expect_eq(ldns_pkt_id(p), 0xabcd, "%s: id kept", c->what);
	cr_expect(ldns_pkt_qr(p));
	ldns_pkt_free(p);
}

/* A query for the apex SOA whose second additional record's owner reaches
 * the name "a." through @p hops compression pointers: its own pointer, then
 * a chain of hops - 1 pointers inside the first record's RDATA, each one
 * strictly backwards from the one before. @return the query's length. */
static size_t pointer_chain_query(uint8_t *q, unsigned hops)
{
	const uint8_t head[] = {HDR(1, 0, 0, 2), Q_ZONE, 0, 6, 0, 1};
	size_t n = sizeof(head);
	memcpy(q, head, n);
	unsigned chain = hops - 1;
	/* Record 1: root owner, a private type, RDATA "a." then the chain. */
	const uint8_t rr1[] = {0, 0xff, 0x00, 0, 1, 0, 0, 0, 0};
	memcpy(q + n, rr1, sizeof(rr1));
	n += sizeof(rr1);
	dnswire_set16(q + n, (uint16_t)(3 + 2 * chain));
	n += 2;
	size_t target = n;
	q[n++] = 1, q[n++] = 'a', q[n++] = 0;
	for (unsigned i = 0; i < chain; i++) {
		dnswire_set16(q + n, (uint16_t)(0xc000u | target));
		target = n;
		n += 2;
	}
	/* Record 2: A, its owner a pointer to the last link of the chain. */
	dnswire_set16(q + n, (uint16_t)(0xc000u | target));
	n += 2;
	const uint8_t rr2[] = {0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 192, 0, 2, 1};
	memcpy(q + n, rr2, sizeof(rr2));
	return n + sizeof(rr2);
}

/* dnswire.c follows at most 16 compression pointers per name: a chain of
 * 16 is answered, 17 is FORMERR (header only). Fails if the limit were 17. */
Test(answer, pointer_chain_of_16_answered_17_formerr)
{
	uint8_t q[200];
	ldns_pkt *p = ask_raw(q, pointer_chain_query(q, 16), ANSWER_UDP);
	cr_assert_not_null(p, "16 hops: dropped");
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	cr_expect_eq(ldns_pkt_ancount(p), 1, "16 hops: the SOA");
	ldns_pkt_free(p);
	p = ask_raw(q, pointer_chain_query(q, 17), ANSWER_UDP);
	cr_assert_not_null(p, "17 hops: dropped, not FORMERR");
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_FORMERR);
	cr_expect_eq(ldns_pkt_qdcount(p), 0, "FORMERR is header only");
	cr_expect_eq(ldns_pkt_ancount(p), 0);
	ldns_pkt_free(p);
}

/* Names built to the limits: 63-octet labels pass, 64 does not; 255 octets
 * pass, 256 do not. */
Test(answer, name_length_limits)
{
	uint8_t q[600] = {HDR(1, 0, 0, 0)};
	size_t n = 12;
	/* 64-octet label: 0x40 is a reserved label type. */
	q[n++] = 64;
	memset(q + n, 'a', 64);
	n += 64;
	q[n++] = 0;
	q[n++] = 0, q[n++] = 1, q[n++] = 0, q[n++] = 1;
	ldns_pkt *p = ask_raw(q, n, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_FORMERR);
	ldns_pkt_free(p);
	/* 4 labels of 63 + root = 257 octets: over 255. */
	n = 12;
	for (int i = 0; i < 4; i++) {
		q[n++] = 63;
		memset(q + n, 'b', 63);
		n += 63;
	}
	q[n++] = 0;
	q[n++] = 0, q[n++] = 1, q[n++] = 0, q[n++] = 1;
	p = ask_raw(q, n, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_FORMERR);
	ldns_pkt_free(p);
	/* 3 x 63 + 61 + 5 length octets... exactly 255: parsed, REFUSED (not ours). */
	n = 12;
	for (int i = 0; i < 3; i++) {
		q[n++] = 63;
		memset(q + n, 'c', 63);
		n += 63;
	}
	q[n++] = 61;
	memset(q + n, 'd', 61);
	n += 61;
	q[n++] = 0;
	q[n++] = 0, q[n++] = 1, q[n++] = 0, q[n++] = 1;
	p = ask_raw(q, n, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	ldns_pkt_free(p);
}

/* Random bytes from a fixed seed, and random mutations of a valid query:
 * every outcome is a drop or a response that parses and fits. */
Test(answer, random_bytes_never_crash)
{
	reg("web", "tcp", "web1.lon6.example.net", 8080, "10.0.0.1");
	uint64_t s = 0x5eed;
	uint8_t q[512];
	for (int i = 0; i < 20000; i++) {
		size_t len;
		if (i % 2) {
			len = (size_t)((s = s * 6364136223846793005u + 1442695040888963407u) >>
					      33) %
			      300;
			for (size_t j = 0; j < len; j++) {
				q[j] = (uint8_t)((s = s * 6364136223846793005u + 1) >> 56);
			}
		} else {
			len = answer_test_query(q, "_web._tcp." ZONE, DNSWIRE_SRV, 1232);
			for (int m = 0; m < 3; m++) {
				s = s * 6364136223846793005u + 1442695040888963407u;
				q[(s >> 40) % len] = (uint8_t)(s >> 24);
			}
		}
		struct answer_client c = {ANSWER_UDP, NULL};
		answer_process(fx.an, q, len, &c, 5000, out, 4096, &res);
		if (res.action == ANSWER_SEND) {
			cr_assert_leq(res.len, 1232);
			cr_assert_geq(res.len, 12);
			ldns_pkt *p = NULL;
			cr_assert_eq(ldns_wire2pkt(&p, out, res.len), LDNS_STATUS_OK, "case %d", i);
			ldns_pkt_free(p);
		}
	}
}

/* RFC 7828: over TCP, an edns-tcp-keepalive in the query gets our idle
 * timeout back; over UDP the option is ignored. */
Test(answer, tcp_keepalive_advertised)
{
	uint8_t q[512];
	size_t len = answer_test_query(q, ZONE, DNSWIRE_SOA, 1232);
	/* OPT RDLENGTH 4: option 11, length 0. */
	q[len - 1] = 4;
	const uint8_t ka[] = {0, 11, 0, 0};
	memcpy(q + len, ka, sizeof(ka));
	len += sizeof(ka);
	struct answer_client c = {ANSWER_TCP, NULL, 100};
	answer_process(fx.an, q, len, &c, 0, out, sizeof(out), &res);
	cr_assert_eq(res.action, ANSWER_SEND);
	const uint8_t want[] = {0, 11, 0, 2, 0, 100};
	cr_expect_eq(memcmp(out + res.len - 6, want, 6), 0, "TIMEOUT 100 (10 s)");
	ldns_pkt *p = NULL;
	cr_assert_eq(ldns_wire2pkt(&p, out, res.len), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	c.transport = ANSWER_UDP;
	answer_process(fx.an, q, len, &c, 0, out, 4096, &res);
	cr_expect_neq(memcmp(out + res.len - 6, want, 6), 0, "never over UDP");
}

/* Error replies are rate-limited (catalogue 2.19, NSD's ERROR_RATELIMIT). */
Test(answer, error_replies_rate_limited)
{
	uint8_t q[12] = {0xab, 0xcd, 0x01, 0x00}; /* QDCOUNT 0: FORMERR */
	struct answer_client c = {ANSWER_UDP, NULL, 0};
	int sent = 0;
	for (int i = 0; i < 150; i++) {
		answer_process(fx.an, q, sizeof(q), &c, 10000, out, 512, &res);
		sent += res.action == ANSWER_SEND;
	}
	cr_expect_eq(sent, 100);
	cr_expect_eq(answer_counters_get(fx.an)->error_limited, 50);
	answer_process(fx.an, q, sizeof(q), &c, 10100, out, 512, &res);
	cr_expect_eq(res.action, ANSWER_SEND, "ten more per 100 ms");
	/* Good queries are not limited. */
	ldns_pkt *p = ask(ZONE, DNSWIRE_SOA, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);
}

/* The first A record follows the weights for three addresses too, and a
 * set too large for the small-set draw (the key sort) as well. */
Test(answer, weighted_first_position_proportions)
{
	reg_full("p", "tcp", "h1.lon6.example.net", 1, "10.0.0.1", 1, STORE_STATUS_UP, 0);
	reg_full("p", "tcp", "h2.lon6.example.net", 1, "10.0.0.2", 2, STORE_STATUS_UP, 0);
	reg_full("p", "tcp", "h3.lon6.example.net", 1, "10.0.0.3", 7, STORE_STATUS_UP, 0);
	char host[64], addr[32];
	for (int i = 0; i < 30; i++) {
		snprintf(host, sizeof(host), "b%d.lon6.example.net", i);
		snprintf(addr, sizeof(addr), "10.1.0.%d", i + 1);
		reg_full("q", "tcp", host, 1, addr, i == 0 ? 30 : 1, STORE_STATUS_UP, 0);
	}
	int first[4] = {0}, big = 0;
	for (int i = 0; i < 4000; i++) {
		ldns_pkt *p = ask("p." ZONE, DNSWIRE_A, 0, ANSWER_UDP);
		first[ldns_rdf_data(ldns_rr_rdf(section_rr(p, LDNS_SECTION_ANSWER, 0), 0))[3]]++;
		ldns_pkt_free(p);
		p = ask("q." ZONE, DNSWIRE_A, 1232, ANSWER_UDP);
		big += ldns_rdf_data(ldns_rr_rdf(section_rr(p, LDNS_SECTION_ANSWER, 0), 0))[3] == 1;
		ldns_pkt_free(p);
	}
	cr_expect(first[1] > 300 && first[1] < 500, "weight 1: %d/4000", first[1]);
	cr_expect(first[2] > 680 && first[2] < 920, "weight 2: %d/4000", first[2]);
	cr_expect(first[3] > 2650 && first[3] < 2950, "weight 7: %d/4000", first[3]);
	cr_expect(big > 1860 && big < 2140, "weight 30 of 59: %d/4000", big);
}

/* The UDP limit is used to the octet: room is kept only for the OPT record
 * and the options this answer carries. 12 + 33 (question) + 11 (OPT) + 73 A
 * records of 16 octets = 1,224 <= 1,232; a 74th would make 1,240. */
Test(answer, udp_limit_used_to_the_octet)
{
	char host[64], addr[32];
	for (int i = 0; i < 74; i++) {
		snprintf(host, sizeof(host), "h%d.lon6.example.net", i);
		snprintf(addr, sizeof(addr), "10.3.0.%d", i + 1);
		reg(i < 73 ? "x" : "y", "tcp", host, 1, addr);
		if (i == 72) {
			ldns_pkt *p = ask("x." ZONE, DNSWIRE_A, 1232, ANSWER_UDP);
			cr_expect(!ldns_pkt_tc(p));
			cr_expect_eq(ldns_pkt_ancount(p), 73);
			cr_expect_eq(res.len, 1224);
			ldns_pkt_free(p);
		}
	}
	reg("x", "tcp", "h73.lon6.example.net", 1, "10.3.0.74");
	ldns_pkt *p = ask("x." ZONE, DNSWIRE_A, 1232, ANSWER_UDP);
	cr_expect(ldns_pkt_tc(p), "74 A records need 1,240 octets");
	ldns_pkt_free(p);
}

/* The question name is lower-cased eight octets at a time: every octet value
 * (around 'A' and 'Z', with the high bit, at every offset in a word) must come
 * out as rs_ascii_lower() makes it, length octets untouched. */
Test(answer, qname_lowered_like_ascii_lower_for_every_octet)
{
	for (unsigned shift = 0; shift < 8; shift++) {
		uint8_t msg[12 + 255 + 4] = {0, 1, 0, 0, 0, 1};
		uint8_t want[255];
		size_t n = 0;
		unsigned v = shift; /* octet values 0..255 in turn, shifted per pass */
		while (n + 1 + 60 + 1 <= 255 - 1) {
			uint8_t len = (uint8_t)(1 + (n + shift) % 60);
			msg[12 + n] = want[n] = len;
			n++;
			for (uint8_t i = 0; i < len; i++, n++) {
				uint8_t c = (uint8_t)(v++ % 256);
				msg[12 + n] = c;
				want[n] = rs_ascii_lower(c);
			}
		}
		msg[12 + n] = want[n] = 0;
		n++;
		dnswire_set16(msg + 12 + n, DNSWIRE_A);
		dnswire_set16(msg + 12 + n + 2, 1);
		struct dnswire_query q;
		cr_assert_eq(dnswire_query_check(msg, 12 + n + 4, &q), DNSWIRE_OK, "shift %u",
				shift);
		cr_assert_eq(q.qname_len, n);
		cr_assert_eq(memcmp(q.qname_lower, want, n), 0, "shift %u", shift);
	}
}

/* An instance whose ring strings cannot be character-strings (a host name
 * near 253 octets) is left out of the ring: the answer is partial, and says
 * so in an EDE "Other" (RFC 8914 4.1) when the query has EDNS. */
Test(answer, ring_without_an_instance_says_so_in_an_ede)
{
	char host[260] = "";
	for (int i = 0; i < 4; i++) {
		strcat(host, "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh."); /* 63 */
	}
	strcat(host, "example"); /* 259 characters is too long: keep 250 */
	host[250] = '\0';
	if (host[249] == '.') {
		host[249] = 'x';
	}
	reg("c", "tcp", host, 11211, NULL);
	reg("c", "tcp", "c1.lon6.example.net", 11211, NULL);
	for (int edns = 0; edns < 2; edns++) {
		ldns_pkt *p = ask("_ring._c._tcp." ZONE, DNSWIRE_TXT, edns ? 1232 : 0, ANSWER_TCP);
		cr_assert_not_null(p);
		cr_expect(res.partial, "a ring without an instance is partial");
		cr_assert_eq(ldns_pkt_ancount(p), 1);
		ldns_rr *rr = section_rr(p, LDNS_SECTION_ANSWER, 0);
		cr_expect_eq(ldns_rr_rd_count(rr), RS_RING_VNODES, "the other instance's strings");
		ldns_pkt_free(p);
		/* The EDE in the raw OPT: code 0 and its text. */
		const char *text = "ring of 1 of 2 instances; the whole ring is in the API";
		size_t tl = strlen(text);
		bool found = false;
		for (size_t i = 0; i + 6 + tl <= res.len; i++) {
			if (dnswire_get16(out + i) == DNSWIRE_OPT_EDE &&
					dnswire_get16(out + i + 2) == 2 + tl &&
					dnswire_get16(out + i + 4) == 0 &&
					memcmp(out + i + 6, text, tl) == 0) {
				found = true;
			}
		}
		cr_expect_eq(found, edns == 1, "EDE present only with EDNS (edns %d)", edns);
	}
	const struct answer_counters *ctr = answer_counters_get(fx.an);
	cr_expect_geq(ctr->partial, 2);
}

/* A worker's engine handed another store (a reload, dnsio's store lock)
 * forgets every prepared answer: the new store's answers at once. */
Test(answer, store_set_flushes_prepared_answers)
{
	reg("web", "tcp", "a.lon6.example.net", 80, "192.0.2.1");
	ldns_pkt *p = ask("_web._tcp." ZONE, DNSWIRE_SRV, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);
	struct store_limits lim;
	store_limits_default(&lim);
	struct store *other = store_new(&lim, NULL, NULL, ENGINE_T0_MS);
	cr_assert_not_null(other);
	answer_test_register(other, "web", "tcp", "b.lon6.example.net", 80, "192.0.2.2", 1,
			STORE_STATUS_UP, 0);
	answer_test_register(other, "web", "tcp", "c.lon6.example.net", 80, "192.0.2.3", 1,
			STORE_STATUS_UP, 0);
	answer_store_set(fx.an, other, 1);
	p = ask("_web._tcp." ZONE, DNSWIRE_SRV, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_ancount(p), 2, "the other store's instances");
	ldns_pkt_free(p);
	/* The same store and generation again: nothing to do. */
	answer_store_set(fx.an, other, 1);
	p = ask("_web._tcp." ZONE, DNSWIRE_SRV, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_ancount(p), 2);
	ldns_pkt_free(p);
	answer_store_set(fx.an, fx.st, 2);
	p = ask("_web._tcp." ZONE, DNSWIRE_SRV, 0, ANSWER_UDP);
	cr_expect_eq(ldns_pkt_ancount(p), 1, "back to the first store");
	ldns_pkt_free(p);
	store_free(other);
}
