/*
 * The prepared-answer cache (server/dns/answer_cache.c) through the
 * engine: its table doubles as entries come, keeps every entry when it
 * does, and is flushed when entries of names that went away dominate, so
 * its size stays bounded by the live services however many names come and
 * go. The sizes are read from the engine's internals (answer_internal.h).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "server/dns/answer.h"
#include "server/dns/answer_internal.h"
#include "server/dns/dnswire.h"
#include "server/registry/store.h"

#include "tests/engine_fixture.h"
#include "tests/unit/server/answer_test.h"

#define ZONE ENGINE_ZONE

static struct engine_fixture fx;
static uint8_t out[4096];

static void setup(void)
{
	answer_test_open(&fx);
}

static void teardown(void)
{
	engine_fixture_close(&fx);
}

TestSuite(answer_cache, .init = setup, .fini = teardown);

static void name_of(char *buf, size_t n, unsigned i)
{
	snprintf(buf, n, "svc%u", i);
}

/* The address registered for service @p i: 10.x.y.z from i. */
static void addr_of(char *buf, size_t n, unsigned i)
{
	snprintf(buf, n, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
}

static void add(unsigned i)
{
	char name[32], host[64], addr[32];
	name_of(name, sizeof(name), i);
	snprintf(host, sizeof(host), "h%u.lon6.example.net", i);
	addr_of(addr, sizeof(addr), i);
	answer_test_register(fx.st, name, "tcp", host, 80, addr, 1, STORE_STATUS_UP, 0);
}

static void del(unsigned i)
{
	char name[32], host[64];
	name_of(name, sizeof(name), i);
	snprintf(host, sizeof(host), "h%u.lon6.example.net", i);
	uint64_t rev;
	cr_assert_eq(store_deregister(fx.st, &(struct store_key){name, "tcp", host, 80}, &rev), 0);
}

/* Ask for the A of service @p i and check the answer: its one address when
 * @p present, else NXDOMAIN. */
static void check(unsigned i, bool present)
{
	char name[64];
	snprintf(name, sizeof(name), "svc%u." ZONE, i);
	uint8_t q[300];
	size_t len = answer_test_query(q, name, DNSWIRE_A, 0);
	struct answer_client c = {ANSWER_UDP, NULL};
	struct answer_result res;
	answer_process(fx.an, q, len, &c, 5000, out, sizeof(out), &res);
	cr_assert_eq(res.action, ANSWER_SEND);
	struct answer_test_rr rr[4];
	size_t n = answer_test_walk(out, res.len, rr, 4);
	if (!present) {
		cr_assert_eq(res.rcode, DNSWIRE_NXDOMAIN, "svc%u: rcode %u", i, res.rcode);
		return;
	}
	cr_assert_eq(res.rcode, DNSWIRE_NOERROR, "svc%u: rcode %u", i, res.rcode);
	cr_assert_eq(dnswire_get16(out + 6), 1, "svc%u: one A", i);
	cr_assert(n == 1 && rr[0].type == DNSWIRE_A && rr[0].rdlen == 4);
	const uint8_t *a = out + rr[0].rdata;
	cr_assert(a[0] == 10 && a[1] == ((i >> 16) & 255) && a[2] == ((i >> 8) & 255) &&
					a[3] == (i & 255),
			"svc%u: its own address", i);
}

/* 600 names: the table doubles from 256 buckets at 256 and at 512 entries,
 * rehashing what it holds: asked again, every name is answered from its
 * entry as it was (no rebuild), with its own address. */
Test(answer_cache, grows_by_doubling_and_keeps_every_entry)
{
	cr_assert_eq(fx.an->nbuckets, 256);
	for (unsigned i = 0; i < 600; i++) {
		add(i);
	}
	for (unsigned i = 0; i < 600; i++) {
		check(i, true);
		cr_assert_leq(fx.an->nentries, fx.an->nbuckets, "never more entries than buckets");
	}
	cr_expect_eq(fx.an->nentries, 600);
	cr_expect_eq(fx.an->nbuckets, 1024);
	uint64_t rebuilds = answer_counters_get(fx.an)->rebuilds;
	for (unsigned i = 0; i < 600; i++) {
		check(i, true);
	}
	cr_expect_eq(answer_counters_get(fx.an)->rebuilds, rebuilds, "found, not rebuilt");
	cr_expect_eq(fx.an->nentries, 600);
}

/* 4,200 names asked, then all of them gone: their entries linger (still
 * answered correctly: NXDOMAIN) until an entry is added while they number
 * over 8 x services + 4,096; then the table is flushed and holds one. */
Test(answer_cache, flushed_when_entries_of_gone_names_dominate)
{
	for (unsigned i = 0; i < 4200; i++) {
		add(i);
		check(i, true);
	}
	cr_assert_eq(fx.an->nentries, 4200);
	for (unsigned i = 0; i < 4200; i++) {
		del(i);
	}
	struct store_sizes sz;
	store_sizes_get(fx.st, &sz);
	cr_assert_eq(sz.services, 0);
	check(7, false);
	cr_expect_eq(fx.an->nentries, 4200, "a lookup alone flushes nothing");
	add(5000);
	check(5000, true);
	cr_expect_eq(fx.an->nentries, 1, "flushed, then the new entry");
	check(5000, true);
	check(9, false);
}

/* Names come and go, 300 at a time, 12,000 in all: the table never holds
 * more than 8 x the live services + 4,096 entries (+1, the one being
 * added), nor more buckets than that takes, and every answer is right. */
Test(answer_cache, bounded_under_churn)
{
	size_t most = 0;
	for (unsigned round = 0; round < 40; round++) {
		unsigned base = round * 300;
		for (unsigned i = base; i < base + 300; i++) {
			add(i);
			check(i, true);
			struct store_sizes sz;
			store_sizes_get(fx.st, &sz);
			cr_assert_leq(fx.an->nentries, 8 * sz.services + 4096 + 1);
			most = fx.an->nentries > most ? fx.an->nentries : most;
		}
		if (round > 0) {
			check(base - 1, false); /* gone last round */
		}
		for (unsigned i = base; i < base + 300; i++) {
			del(i);
		}
	}
	cr_expect_lt(most, 12000, "entries of gone names were dropped");
	cr_expect_leq(fx.an->nbuckets, 8192, "the table did not grow with the names");
}
