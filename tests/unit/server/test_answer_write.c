/*
 * The response writer (server/dns/answer_write.c) and the subsets it asks
 * server/dns/answer_pick.c for, checked on the raw bytes: a TCP answer too
 * large for the buffer is the largest subset of whole records that fits,
 * octet for octet; SRV targets are never compressed (RFC 2782) while owners
 * are, and additional owners point at the targets or, past pointer reach,
 * spell them out; a UDP answer's limit is never under 512 octets.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "server/dns/answer.h"
#include "server/dns/dnswire.h"
#include "server/registry/store.h"

#include "tests/engine_fixture.h"
#include "tests/unit/server/answer_test.h"

#define ZONE ENGINE_ZONE
#define MAX_RR 4096

static struct engine_fixture fx;
static uint8_t out[65535];
static struct answer_result res;
static struct answer_test_rr rrs[MAX_RR];

static void setup(void)
{
	answer_test_open(&fx);
}

static void teardown(void)
{
	engine_fixture_close(&fx);
}

TestSuite(answer_write, .init = setup, .fini = teardown);

/* Octets of one SRV RR in an answer: owner pointer, fixed part, priority,
 * weight and port, then a target "h<4 digits>.lon6.example.net" (24). */
#define SRV_RR (2 + 10 + 6 + 24)

/* @p n instances of _<svc>._tcp, hosts "h<4 digits>.lon6.example.net", one
 * IPv4 address each, weights 1 to 5. */
static void many(const char *svc, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		char host[64], addr[32];
		snprintf(host, sizeof(host), "h%04u.lon6.example.net", i);
		snprintf(addr, sizeof(addr), "10.9.%u.%u", i / 250, i % 250 + 1);
		answer_test_register(fx.st, svc, "tcp", host, 1000 + i, addr, 1 + i % 5,
				STORE_STATUS_UP, 0);
	}
}

/* Ask for the SRV of _<svc>._tcp; the response is in out[0..res.len). */
static void ask_srv(const char *svc, enum answer_transport t, int edns, size_t cap)
{
	char name[128];
	snprintf(name, sizeof(name), "_%s._tcp." ZONE, svc);
	uint8_t q[300];
	size_t len = answer_test_query(q, name, DNSWIRE_SRV, edns);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(5353)};
	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	struct answer_client c = {t, (struct sockaddr *)&sin};
	answer_process(fx.an, q, len, &c, 5000, out, cap, &res);
	cr_assert_eq(res.action, ANSWER_SEND);
	cr_assert_leq(res.len, cap);
}

/* Ask for the A records of the service <svc> over UDP with an EDNS payload
 * size of @p edns; the response is in out[0..res.len). */
static void ask_a_udp(const char *svc, int edns)
{
	char name[128];
	snprintf(name, sizeof(name), "%s." ZONE, svc);
	uint8_t q[300];
	size_t len = answer_test_query(q, name, DNSWIRE_A, edns);
	struct answer_client c = {ANSWER_UDP, NULL};
	answer_process(fx.an, q, len, &c, 5000, out, 4096, &res);
	cr_assert_eq(res.action, ANSWER_SEND);
}

/* RFC 6891 6.2.5: an EDNS payload size under 512 is taken as 512. 28 A
 * records of "lo.<zone>" make 12 + 34 (question) + 28 * 16 + 11 (OPT) = 505
 * octets: whole at any advertised size from 1 to 512; a 29th (521) is TC. */
Test(answer_write, edns_size_under_512_means_512)
{
	const int sizes[] = {1, 200, 511, 512};
	many("lo", 28);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		ask_a_udp("lo", sizes[i]);
		cr_expect(!res.truncated, "EDNS %d: truncated", sizes[i]);
		cr_expect_eq(dnswire_get16(out + 2) & DNSWIRE_TC, 0, "EDNS %d: TC", sizes[i]);
		cr_expect_eq(dnswire_get16(out + 6), 28, "EDNS %d: %u A records", sizes[i],
				dnswire_get16(out + 6));
		cr_expect_eq(res.len, 505, "EDNS %d: %zu octets", sizes[i], res.len);
	}
	many("lo", 29);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		ask_a_udp("lo", sizes[i]);
		cr_expect(res.truncated, "EDNS %d: 521 octets do not fit", sizes[i]);
		cr_expect_eq(dnswire_get16(out + 6), 0);
		cr_expect_leq(res.len, 512);
	}
}

/* 300 SRV RRs (12,600 octets) asked over TCP with buffers from 512 to 8,000
 * octets: the answer is exactly floor(room / 42) whole SRV RRs, room being
 * the buffer less header, question and OPT; the rest of the room takes
 * whole 16-octet A records of their targets; flagged partial, never TC. */
Test(answer_write, tcp_subset_is_the_most_whole_records_that_fit)
{
	many("sub", 300);
	const size_t qend = 12 + (1 + 4 + 1 + 4 + 27) + 4; /* _sub._tcp.<zone> SRV IN */
	const size_t caps[] = {512, 1000, 1232, 4096, 8000};
	for (size_t ci = 0; ci < sizeof(caps) / sizeof(caps[0]); ci++) {
		for (int edns = 0; edns <= 1; edns++) {
			size_t cap = caps[ci];
			ask_srv("sub", ANSWER_TCP, edns ? 4096 : 0, cap);
			size_t opt = edns ? 11 : 0;
			size_t room = cap - qend - opt;
			size_t k = room / SRV_RR;
			size_t add = (room - k * SRV_RR) / 16;
			cr_assert(k < 300, "a subset");
			cr_expect_eq(dnswire_get16(out + 6), k, "cap %zu edns %d: %u SRV, want %zu",
					cap, edns, dnswire_get16(out + 6), k);
			cr_expect_eq(dnswire_get16(out + 10), add + (edns ? 1 : 0),
					"cap %zu: additional", cap);
			cr_expect_eq(res.len, qend + k * SRV_RR + add * 16 + opt,
					"cap %zu edns %d: length", cap, edns);
			cr_expect(res.partial);
			cr_expect(!res.truncated);
			cr_expect_eq(dnswire_get16(out + 2) & DNSWIRE_TC, 0);
			size_t n = answer_test_walk(out, res.len, rrs, MAX_RR);
			for (size_t i = 0; i < k; i++) {
				cr_assert_eq(rrs[i].type, DNSWIRE_SRV);
				cr_assert_eq(rrs[i].rdlen, SRV_RR - 12, "record %zu whole", i);
			}
			for (size_t i = k; i < k + add; i++) {
				cr_assert_eq(rrs[i].type, DNSWIRE_A);
			}
			cr_assert_eq(n, k + add + (edns ? 1 : 0));
		}
	}
	/* Over UDP the same set is TC=1 with no records, never a subset. */
	ask_srv("sub", ANSWER_UDP, 1232, 4096);
	cr_expect(res.truncated);
	cr_expect(!res.partial);
	cr_expect_eq(dnswire_get16(out + 6), 0);
}

/* The offset of the name that @p at points to, or @p at if it is no pointer. */
static size_t pointed(const uint8_t *m, size_t at)
{
	return (m[at] & 0xc0) == 0xc0 ? (size_t)(dnswire_get16(m + at) & 0x3fff) : at;
}

/* Check one SRV response's raw bytes: every answer owner is the pointer
 * 0xC00C; every target is spelled out in labels ending in the root, no
 * pointer anywhere in it (RFC 2782), and fills the RDATA; every additional
 * owner is a pointer to the start of a target in the answer section, or,
 * when that target lies past 0x3FFF, the target spelled out in full.
 * @return the number of SRV RRs. */
static size_t check_srv_bytes(void)
{
	size_t n = answer_test_walk(out, res.len, rrs, MAX_RR);
	size_t an = dnswire_get16(out + 6);
	static size_t targets[MAX_RR];
	for (size_t i = 0; i < an; i++) {
		cr_assert_eq(rrs[i].type, DNSWIRE_SRV);
		cr_assert_eq(rrs[i].owner_len, 2);
		cr_assert_eq(dnswire_get16(out + rrs[i].owner), 0xc00c, "owner compressed");
		size_t t = rrs[i].rdata + 6;
		targets[i] = t;
		size_t end = rrs[i].rdata + rrs[i].rdlen;
		while (out[t] != 0) {
			cr_assert_lt(out[t], 0x40, "SRV %zu: label %#x, a pointer?", i, out[t]);
			t += 1u + out[t];
			cr_assert_lt(t, end);
		}
		cr_assert_eq(t + 1, end, "the target fills the RDATA");
	}
	for (size_t i = an; i < n; i++) {
		if (rrs[i].type == DNSWIRE_OPT) {
			continue;
		}
		cr_assert(rrs[i].type == DNSWIRE_A || rrs[i].type == DNSWIRE_AAAA);
		size_t at = pointed(out, rrs[i].owner);
		size_t j = 0;
		if (at != rrs[i].owner) {
			while (j < an && targets[j] != at) {
				j++;
			}
			cr_assert_lt(j, an, "additional %zu points at a target", i);
			cr_assert_leq(at, 0x3fff);
			continue;
		}
		/* Spelled out: only for a target past pointer reach, and equal to it. */
		size_t len = rrs[i].owner_len;
		while (j < an && (targets[j] <= 0x3fff ||
						 memcmp(out + targets[j], out + at, len) != 0)) {
			j++;
		}
		cr_assert_lt(j, an, "additional %zu spells out a target past 0x3FFF", i);
	}
	return an;
}

/* Many shuffled answers, over UDP and TCP: targets never compressed, owners
 * always; every order is a permutation of the same five targets, and more
 * than one order shows up. */
Test(answer_write, srv_targets_never_compressed_owners_always)
{
	many("five", 5);
	char first[6][64] = {{0}};
	int orders = 0;
	for (int i = 0; i < 600; i++) {
		enum answer_transport t = i % 3 == 2 ? ANSWER_TCP : ANSWER_UDP;
		ask_srv("five", t, i % 3 == 1 ? 1232 : 0, t == ANSWER_TCP ? sizeof(out) : 4096);
		cr_assert_eq(check_srv_bytes(), 5);
		char seq[64];
		for (size_t k = 0; k < 5; k++) {
			seq[k] = (char)out[rrs[k].rdata + 6 + 5]; /* the last digit of "hNNNN" */
		}
		seq[5] = '\0';
		char sorted[6];
		memcpy(sorted, seq, sizeof(sorted));
		for (int a = 0; a < 5; a++) {
			for (int b = a + 1; b < 5; b++) {
				if (sorted[b] < sorted[a]) {
					char x = sorted[a];
					sorted[a] = sorted[b];
					sorted[b] = x;
				}
			}
		}
		cr_assert_str_eq(sorted, "01234", "a permutation of the five targets");
		int seen = 0;
		for (int k = 0; k < orders; k++) {
			seen |= strcmp(first[k], seq) == 0;
		}
		if (!seen && orders < 6) {
			strcpy(first[orders++], seq);
		}
	}
	cr_expect_gt(orders, 1, "shuffled");
}

/* 700 SRV RRs over TCP (29,400 octets) fit whole; their additional A
 * records point at targets below 0x4000 and spell out those past it. */
Test(answer_write, additional_owners_past_pointer_reach_spelled_out)
{
	many("wide", 700);
	for (int i = 0; i < 20; i++) {
		ask_srv("wide", ANSWER_TCP, 0, sizeof(out));
		cr_expect(!res.partial);
		cr_assert_eq(check_srv_bytes(), 700);
		size_t full = 0, ptr = 0;
		for (size_t k = 700; k < 700u + dnswire_get16(out + 10); k++) {
			full += rrs[k].owner_len != 2;
			ptr += rrs[k].owner_len == 2;
		}
		cr_expect_eq(full + ptr, 700, "every target's address");
		cr_expect_gt(full, 0, "some targets past 0x3FFF");
		cr_expect_gt(ptr, 0, "some targets within reach");
	}
}
