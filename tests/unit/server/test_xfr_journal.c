/*
 * The journal of differences (server/dns/xfr_journal.c) and the versions it
 * records (server/dns/xfr_zone.c): condensing by hand-made changesets, the
 * bound in octets, the serial scheme, and the property that IXFR is right:
 * for random sequences of registrations, deregistrations, status and weight
 * changes on a real store, the difference from any serial in the journal,
 * applied to the AXFR content at that serial, gives the AXFR content now.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "server/dns/answer.h"
#include "server/dns/dnswire.h"
#include "server/dns/xfr.h"
#include "server/dns/xfr_journal.h"
#include "server/dns/xfr_zone.h"
#include "server/registry/store.h"

#include "tests/engine_fixture.h"
#include "tests/unit/server/answer_test.h"

#define ZONE ENGINE_ZONE
#define WALL0 1700000000000ull

/* ---- the journal alone ----------------------------------------------------- */

static void put(struct rs_buf *b, unsigned kind, const char *owner, uint8_t rdata)
{
	uint8_t body[11] = {0, 16, 0, 1, 0, 0, 0, 5, 0, 1, rdata};
	xfr_changeset_put(b, kind, (const uint8_t *)owner, strlen(owner), body, sizeof(body));
}

static bool listed(const uint8_t *const *v, size_t n, const char *owner, uint8_t rdata)
{
	for (size_t i = 0; i < n; i++) {
		if (xfr_rec_owner_len(v[i]) == strlen(owner) &&
				memcmp(xfr_rec_owner(v[i]), owner, strlen(owner)) == 0 &&
				xfr_rec_body(v[i])[10] == rdata) {
			return true;
		}
	}
	return false;
}

Test(xfr_journal, condensed_difference_cancels_and_lists_each_rr_once)
{
	struct xfr_journal j;
	xfr_journal_init(&j, 1 << 20);
	struct rs_buf b = {0};
	put(&b, XFR_RR_DEL, "\1a", 1); /* 10 -> 11: a1 out, b1 in */
	put(&b, XFR_RR_ADD, "\1b", 1);
	cr_assert_eq(xfr_journal_add(&j, 10, 11, &b), 0);
	cr_expect_eq(b.len, 0, "taken");
	put(&b, XFR_RR_DEL, "\1b", 1); /* 11 -> 12: b1 out again, a1 back, c1 in */
	put(&b, XFR_RR_ADD, "\1a", 1);
	put(&b, XFR_RR_ADD, "\1c", 1);
	cr_assert_eq(xfr_journal_add(&j, 11, 12, &b), 0);
	put(&b, XFR_RR_DEL, "\1c", 1); /* 12 -> 13: c1 out, a1 out, d1 in */
	put(&b, XFR_RR_DEL, "\1a", 1);
	put(&b, XFR_RR_ADD, "\1d", 1);
	cr_assert_eq(xfr_journal_add(&j, 12, 13, &b), 0);

	struct xfr_diff d;
	cr_assert_eq(xfr_journal_diff(&j, 10, &d), 0);
	cr_expect_eq(d.ndel, 1, "a1, once");
	cr_expect(listed(d.del, d.ndel, "\1a", 1));
	cr_expect_eq(d.nadd, 1, "d1: b1 and c1 came and went");
	cr_expect(listed(d.add, d.nadd, "\1d", 1));
	xfr_diff_free(&d);
	cr_assert_eq(xfr_journal_diff(&j, 11, &d), 0);
	cr_expect_eq(d.ndel, 1);
	cr_expect(listed(d.del, d.ndel, "\1b", 1), "a1 came back and went: b1 out only");
	cr_expect_eq(d.nadd, 1);
	cr_expect(listed(d.add, d.nadd, "\1d", 1));
	xfr_diff_free(&d);
	cr_expect_eq(xfr_journal_diff(&j, 13, &d), RS_ENOENT, "the newest: no changeset from it");
	cr_expect_eq(xfr_journal_diff(&j, 9, &d), RS_ENOENT, "never ours");
	xfr_journal_deinit(&j);
}

Test(xfr_journal, bounded_in_octets_oldest_dropped)
{
	struct xfr_journal j;
	xfr_journal_init(&j, 200);
	struct rs_buf b = {0};
	for (uint32_t s = 0; s < 20; s++) {
		put(&b, XFR_RR_ADD, "\1x", (uint8_t)s); /* 16 octets each */
		put(&b, XFR_RR_ADD, "\1y", (uint8_t)s);
		cr_assert_eq(xfr_journal_add(&j, s, s + 1, &b), 0);
		cr_expect_leq(j.bytes, 200);
	}
	cr_expect_eq(j.len, 5, "34 octets each (17 a record)");
	cr_expect_eq(j.dropped, 15);
	struct xfr_diff d;
	cr_expect_eq(xfr_journal_diff(&j, 14, &d), RS_ENOENT, "dropped");
	cr_assert_eq(xfr_journal_diff(&j, 15, &d), 0);
	cr_expect_eq(d.nadd, 10);
	xfr_diff_free(&d);
	/* a changeset larger than the whole journal: nothing is left */
	for (int i = 0; i < 20; i++) {
		put(&b, XFR_RR_ADD, "\1z", (uint8_t)i);
	}
	cr_assert_eq(xfr_journal_add(&j, 20, 21, &b), 0);
	cr_expect_eq(j.len, 0);
	xfr_journal_deinit(&j);
}

/* ---- versions over a real store ------------------------------------------------ */

static struct engine_fixture fx;
static struct rs_prefix allow;
static uint64_t wall;

static void setup(void)
{
	struct answer_config cfg;
	engine_fixture_config(&cfg);
	cr_assert_eq(rs_prefix_parse("192.0.2.0/24", &allow), 0);
	cfg.xfr_allow = &allow;
	cfg.nxfr_allow = 1;
	cr_assert_eq(engine_fixture_open(&fx, &cfg, false), 0);
	wall = WALL0;
	cr_assert_eq(engine_fixture_zone(&fx, &cfg, wall), 0);
}

static void teardown(void)
{
	engine_fixture_close(&fx);
}

TestSuite(xfr_zone, .init = setup, .fini = teardown);

static bool publish_at(uint64_t at)
{
	bool published;
	cr_assert_eq(xfr_zone_publish(fx.zone, at, &published), 0);
	return published;
}

Test(xfr_zone, serial_follows_the_clock_and_never_goes_back)
{
	cr_expect_eq(xfr_zone_serial(fx.zone), (uint32_t)WALL0, "the first: the clock");
	cr_expect_not(publish_at(WALL0 + 5), "nothing changed: no version");
	answer_test_register(fx.st, "web", "tcp", "a.example.net", 80, "10.0.0.1", 1,
			STORE_STATUS_UP, 0);
	cr_expect(publish_at(WALL0 + 50));
	cr_expect_eq(xfr_zone_serial(fx.zone), (uint32_t)(WALL0 + 50));
	answer_test_register(fx.st, "web", "tcp", "b.example.net", 80, "10.0.0.2", 1,
			STORE_STATUS_UP, 0);
	cr_expect(publish_at(WALL0 + 20), "the clock stepped back");
	cr_expect_eq(xfr_zone_serial(fx.zone), (uint32_t)(WALL0 + 51), "previous + 1");
	/* a restart on a wiped data dir: a new zone over an empty store starts
	 * at the clock, newer than what the secondaries hold */
	struct xfr_zone *z2;
	struct answer_config cfg;
	engine_fixture_config(&cfg);
	struct store_limits lim;
	store_limits_default(&lim);
	struct store *empty = store_new(&lim, NULL, NULL, 0);
	cr_assert_eq(xfr_zone_new(&cfg, empty, 1 << 20, WALL0 + 1000, 0, &z2), 0);
	uint32_t s2 = xfr_zone_serial(z2);
	cr_expect(s2 != xfr_zone_serial(fx.zone) &&
					(uint32_t)(s2 - xfr_zone_serial(fx.zone)) < 0x80000000u,
			"newer in RFC 1982 terms");
	xfr_zone_free(z2);
	store_free(empty);
	/* across the 2^32 wrap: RFC 1982 arithmetic keeps it going up */
	answer_test_register(fx.st, "web", "tcp", "c.example.net", 80, "10.0.0.3", 1,
			STORE_STATUS_UP, 0);
	uint64_t wrap = ((WALL0 >> 32) + 1) << 32;
	cr_expect(publish_at(wrap + 3));
	cr_expect_eq(xfr_zone_serial(fx.zone), 3u);
}

Test(xfr_zone, query_soa_carries_the_published_serial)
{
	answer_test_register(fx.st, "web", "tcp", "a.example.net", 80, "10.0.0.1", 1,
			STORE_STATUS_UP, 0);
	uint8_t q[512], out[4096];
	size_t len = answer_test_query(q, ZONE, DNSWIRE_SOA, 0);
	struct answer_client c = {ANSWER_UDP, NULL, 0, 0};
	struct answer_result r;
	answer_process(fx.an, q, len, &c, 0, out, sizeof(out), &r);
	ldns_pkt *p;
	cr_assert_eq(ldns_wire2pkt(&p, out, r.len), LDNS_STATUS_OK);
	ldns_rr *soa = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
	cr_expect_eq(ldns_rdf2native_int32(ldns_rr_rdf(soa, 2)), (uint32_t)WALL0,
			"not yet published: the version before");
	ldns_pkt_free(p);
	cr_assert(publish_at(WALL0 + 100));
	answer_process(fx.an, q, len, &c, 0, out, sizeof(out), &r);
	cr_assert_eq(ldns_wire2pkt(&p, out, r.len), LDNS_STATUS_OK);
	soa = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
	cr_expect_eq(ldns_rdf2native_int32(ldns_rr_rdf(soa, 2)), (uint32_t)(WALL0 + 100));
	ldns_pkt_free(p);
}

/* ---- the property ------------------------------------------------------------------ */

/* A zone's content: its RRs but the SOA, as sorted canonical text. */
struct content {
	char **rr;
	size_t n, cap;
};

static void content_add(struct content *c, const char *s)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->rr = realloc(c->rr, c->cap * sizeof(*c->rr));
		cr_assert_not_null(c->rr);
	}
	c->rr[c->n++] = strdup(s);
}

static ssize_t content_find(const struct content *c, const char *s)
{
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->rr[i], s) == 0) {
			return (ssize_t)i;
		}
	}
	return -1;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void content_free(struct content *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->rr[i]);
	}
	free(c->rr);
	memset(c, 0, sizeof(*c));
}

static void content_copy(struct content *to, const struct content *from)
{
	memset(to, 0, sizeof(*to));
	for (size_t i = 0; i < from->n; i++) {
		content_add(to, from->rr[i]);
	}
}

static bool content_equal(struct content *a, struct content *b)
{
	qsort(a->rr, a->n, sizeof(*a->rr), str_cmp);
	qsort(b->rr, b->n, sizeof(*b->rr), str_cmp);
	if (a->n != b->n) {
		return false;
	}
	for (size_t i = 0; i < a->n; i++) {
		if (strcmp(a->rr[i], b->rr[i]) != 0) {
			return false;
		}
	}
	return true;
}

/* The answer RRs of a framed transfer, in order, as text (owners lower
 * case), with the SOA serials in @p serial (0 for other RRs). */
static size_t transfer_rrs(const struct rs_buf *b, char ***out, uint32_t **serial)
{
	size_t n = 0, cap = 0;
	*out = NULL;
	*serial = NULL;
	for (size_t off = 0; off < b->len;) {
		size_t len = dnswire_get16((const uint8_t *)b->data + off);
		ldns_pkt *p;
		cr_assert_eq(ldns_wire2pkt(&p, (const uint8_t *)b->data + off + 2, len),
				LDNS_STATUS_OK);
		ldns_rr_list *an = ldns_pkt_answer(p);
		for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				*out = realloc(*out, cap * sizeof(**out));
				*serial = realloc(*serial, cap * sizeof(**serial));
			}
			ldns_rr *rr = ldns_rr_list_rr(an, i);
			ldns_rr2canonical(rr);
			bool soa = ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA;
			(*serial)[n] = soa ? ldns_rdf2native_int32(ldns_rr_rdf(rr, 2)) : 0;
			(*out)[n++] = soa ? strdup("SOA") : ldns_rr2str(rr);
		}
		ldns_pkt_free(p);
		off += 2 + len;
	}
	return n;
}

static void strs_free(char **v, uint32_t *serial, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i]);
	}
	free(v);
	free(serial);
}

static struct rs_buf xfr(uint16_t qtype, uint32_t from, size_t msg_max, struct xfr_result *xr)
{
	uint8_t q[512], out[65535];
	size_t len = answer_test_query(q, ZONE, qtype, 0);
	if (qtype == DNSWIRE_IXFR) {
		q[9] = 1; /* NSCOUNT: an SOA with the client's serial */
		uint8_t soa[12 + 22] = {0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 0, 0, 22, 0, 0};
		rs_wire_store_u32(soa + 14, from);
		memcpy(q + len, soa, sizeof(soa));
		len += sizeof(soa);
	}
	struct sockaddr_in sin = {.sin_family = AF_INET};
	inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
	struct answer_client c = {ANSWER_TCP, (struct sockaddr *)&sin, 0, 0};
	struct answer_result r;
	answer_process(fx.an, q, len, &c, 0, out, sizeof(out), &r);
	cr_assert_eq(r.action, ANSWER_TRANSFER);
	struct rs_buf b = {0};
	int wrc = xfr_write(fx.an, fx.zone, q, msg_max, &b, xr);
	cr_assert_eq(wrc, 0, "xfr_write: %d (msg_max %zu)", wrc, msg_max);
	return b;
}

static void axfr_content(struct content *c)
{
	struct xfr_result xr;
	struct rs_buf b = xfr(DNSWIRE_AXFR, 0, XFR_MSG_MAX, &xr);
	char **v;
	uint32_t *serial;
	size_t n = transfer_rrs(&b, &v, &serial);
	cr_assert_geq(n, 2);
	cr_assert_eq(serial[0], xfr_zone_serial(fx.zone));
	cr_assert_eq(serial[n - 1], xfr_zone_serial(fx.zone));
	memset(c, 0, sizeof(*c));
	for (size_t i = 1; i + 1 < n; i++) {
		cr_assert_eq(serial[i], 0, "one SOA at each end only");
		cr_assert_lt(content_find(c, v[i]), 0, "no RR twice: %s", v[i]);
		content_add(c, v[i]);
	}
	strs_free(v, serial, n);
	rs_buf_deinit(&b);
}

/* Apply the IXFR from @p from (content @p old) and compare with @p now.
 * @return whether the answer was a difference (not the whole zone). */
static bool ixfr_check(
		uint32_t from, const struct content *old, struct content *now, size_t msg_max)
{
	struct xfr_result xr;
	struct rs_buf b = xfr(DNSWIRE_IXFR, from, msg_max, &xr);
	char **v;
	uint32_t *serial;
	size_t n = transfer_rrs(&b, &v, &serial);
	uint32_t cur = xfr_zone_serial(fx.zone);
	cr_assert_geq(n, 2);
	cr_assert_eq(serial[0], cur);
	struct content got;
	if (serial[1] != 0) { /* RFC 1995 4: SOA new, SOA old, dels, SOA new, adds, SOA new */
		cr_assert(xr.incremental);
		cr_assert_eq(serial[1], from);
		content_copy(&got, old);
		size_t i = 2;
		for (; serial[i] == 0; i++) {
			ssize_t k = content_find(&got, v[i]);
			cr_assert_geq(k, 0, "deleting an RR the old zone has: %s", v[i]);
			free(got.rr[k]);
			got.rr[k] = got.rr[--got.n];
		}
		cr_assert_eq(serial[i++], cur);
		for (; serial[i] == 0; i++) {
			cr_assert_lt(content_find(&got, v[i]), 0, "adding an RR twice: %s", v[i]);
			content_add(&got, v[i]);
		}
		cr_assert_eq(serial[i], cur);
		cr_assert_eq(i + 1, n, "the last SOA ends it");
	} else {
		cr_assert_not(xr.incremental);
		memset(&got, 0, sizeof(got));
		for (size_t i = 1; i + 1 < n; i++) {
			content_add(&got, v[i]);
		}
	}
	cr_expect(content_equal(&got, now), "IXFR from %u to %u gives the AXFR content", from, cur);
	content_free(&got);
	strs_free(v, serial, n);
	rs_buf_deinit(&b);
	return xr.incremental;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* One random change to the store: register (new or a weight change),
 * deregister, or change a status, among a few services and hosts. */
static void random_change(uint64_t *rng)
{
	static const char *svc[] = {"web", "api", "db"};
	static const char *proto[] = {"tcp", "udp"};
	char host[64], addr[64];
	unsigned h = (unsigned)(rng_next(rng) % 12);
	snprintf(host, sizeof(host), "h%u.example.net", h);
	if (h % 3 == 0) {
		snprintf(addr, sizeof(addr), "2001:db8::%u", h % 5 + 1);
	} else {
		snprintf(addr, sizeof(addr), "10.0.0.%u", h % 5 + 1); /* shared addresses */
	}
	struct store_key k = {svc[rng_next(rng) % 3], proto[rng_next(rng) % 2], host,
			8000 + (uint32_t)(rng_next(rng) % 2)};
	uint64_t rev;
	switch (rng_next(rng) % 4) {
	case 0:
	case 1:
		answer_test_register(fx.st, k.service, k.protocol, host, k.port, addr,
				(unsigned)(rng_next(rng) % 4), STORE_STATUS_UP, 0);
		break;
	case 2:
		(void)!store_deregister(fx.st, &k, &rev);
		break;
	default:
		(void)!store_status_set(fx.st, &k,
				rng_next(rng) % 2 ? STORE_STATUS_DOWN : STORE_STATUS_UP, 0, &rev);
		break;
	}
}

#define VERSIONS 60

static int largest_cb(const struct xfr_rrset *r, void *ud)
{
	size_t *max = ud;
	for (uint32_t i = 0; i < r->n; i++) {
		size_t n = r->owner_len + xfr_body_len((const uint8_t *)r->data.data + r->off[i]);
		*max = n > *max ? n : *max;
	}
	return 0;
}

/* Small messages (many of them) that still hold the largest RR of any
 * version so far (a deletion carries an old one). */
static size_t largest_rr;

static size_t small_msg(void)
{
	xfr_zone_foreach(fx.zone, largest_cb, &largest_rr);
	size_t max = largest_rr + 12 + 64 + 100;
	return max < 512 ? 512 : max;
}

Test(xfr_zone, ixfr_applied_to_axfr_at_old_serial_gives_axfr_now)
{
	static const uint64_t seeds[] = {1, 7, 0x9e3779b97f4a7c15u, 12345};
	size_t incremental = 0, checked = 0;
	for (size_t si = 0; si < sizeof(seeds) / sizeof(seeds[0]); si++) {
		teardown();
		setup();
		uint64_t rng = seeds[si];
		largest_rr = 0;
		struct content past[VERSIONS];
		uint32_t serials[VERSIONS];
		size_t nv = 0;
		axfr_content(&past[nv]);
		serials[nv++] = xfr_zone_serial(fx.zone);
		while (nv < VERSIONS) {
			int changes = 1 + (int)(rng_next(&rng) % 5);
			for (int i = 0; i < changes; i++) {
				random_change(&rng);
			}
			wall += 1 + rng_next(&rng) % 3;
			if (!publish_at(wall)) {
				continue; /* nothing the store counts as a change */
			}
			axfr_content(&past[nv]);
			serials[nv] = xfr_zone_serial(fx.zone);
			(void)small_msg();
			/* a few random old serials, and the one just before */
			for (int t = 0; t < 3; t++) {
				size_t old = t == 0 ? nv - 1 : rng_next(&rng) % nv;
				size_t msg = t == 2 ? small_msg() : XFR_MSG_MAX;
				incremental += ixfr_check(serials[old], &past[old], &past[nv], msg);
				checked++;
			}
			nv++;
		}
		for (size_t i = 0; i < nv; i++) {
			content_free(&past[i]);
		}
	}
	cr_expect_gt(incremental, checked / 4, "differences: %zu of %zu", incremental, checked);
}

Test(xfr_zone, ixfr_over_udp_when_it_fits)
{
	answer_test_register(fx.st, "web", "tcp", "a.example.net", 80, "10.0.0.1", 1,
			STORE_STATUS_UP, 0);
	for (int i = 0; i < 40; i++) {
		char host[64];
		snprintf(host, sizeof(host), "filler-%02d.example.net", i);
		answer_test_register(
				fx.st, "fill", "tcp", host, 80, "10.0.1.1", 1, STORE_STATUS_UP, 0);
	}
	cr_assert(publish_at(WALL0 + 10));
	uint32_t from = xfr_zone_serial(fx.zone);
	struct store_key web = {"web", "tcp", "a.example.net", 80};
	uint64_t rev;
	cr_assert_eq(store_deregister(fx.st, &web, &rev), 0);
	cr_assert(publish_at(WALL0 + 20));
	uint8_t q[512], out[4096];
	size_t len;
	/* the SOA after the OPT: the additional section comes after authority,
	 * so build it without the OPT and put the OPT last */
	len = answer_test_query(q, ZONE, DNSWIRE_IXFR, 0);
	q[9] = 1;
	uint8_t soa[12 + 22] = {0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 0, 0, 22, 0, 0};
	rs_wire_store_u32(soa + 14, from);
	memcpy(q + len, soa, sizeof(soa));
	len += sizeof(soa);
	uint8_t opt[11] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
	memcpy(q + len, opt, sizeof(opt));
	len += sizeof(opt);
	q[11] = 1;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
	struct answer_client c = {ANSWER_UDP, (struct sockaddr *)&sin, 0, 0};
	struct answer_result r;
	answer_process(fx.an, q, len, &c, 0, out, sizeof(out), &r);
	cr_assert_eq(r.action, ANSWER_SEND);
	ldns_pkt *p;
	cr_assert_eq(ldns_wire2pkt(&p, out, r.len), LDNS_STATUS_OK);
	size_t an = ldns_pkt_ancount(p);
	cr_expect_gt(an, 4, "the difference: %zu RRs", an);
	cr_expect(ldns_pkt_edns(p), "with an OPT");
	ldns_pkt_free(p);
	const struct answer_counters *ac = answer_counters_get(fx.an);
	cr_expect_eq(ac->transfers[ANSWER_XFR_IXFR][ANSWER_XFR_INCREMENTAL], 1);

	/* a difference too large for 512 octets (no OPT): our SOA alone */
	for (int i = 0; i < 40; i++) {
		char host[64];
		snprintf(host, sizeof(host), "filler-%02d.example.net", i);
		struct store_key k = {"fill", "tcp", host, 80};
		cr_assert_eq(store_deregister(fx.st, &k, &rev), 0);
	}
	cr_assert(publish_at(WALL0 + 30));
	len -= sizeof(opt);
	q[11] = 0;
	answer_process(fx.an, q, len, &c, 0, out, sizeof(out), &r);
	cr_assert_eq(ldns_wire2pkt(&p, out, r.len), LDNS_STATUS_OK);
	cr_expect_eq(ldns_pkt_ancount(p), 1, "our SOA alone");
	ldns_pkt_free(p);
	cr_expect_eq(ac->transfers[ANSWER_XFR_IXFR][ANSWER_XFR_SOA], 1);
}

Test(xfr_zone, journal_gone_or_difference_too_large_answers_in_full)
{
	answer_test_register(fx.st, "web", "tcp", "a.example.net", 80, "10.0.0.1", 1,
			STORE_STATUS_UP, 0);
	cr_assert(publish_at(WALL0 + 10));
	uint32_t s1 = xfr_zone_serial(fx.zone);
	/* the whole zone replaced: the difference is larger than the zone */
	struct store_key k = {"web", "tcp", "a.example.net", 80};
	uint64_t rev;
	cr_assert_eq(store_deregister(fx.st, &k, &rev), 0);
	answer_test_register(fx.st, "api", "tcp", "b.example.net", 80, "10.0.0.2", 1,
			STORE_STATUS_UP, 0);
	cr_assert(publish_at(WALL0 + 20));
	struct content now;
	axfr_content(&now);
	struct content none = {0};
	cr_expect_not(ixfr_check(s1, &none, &now, XFR_MSG_MAX), "in full");
	cr_expect_not(ixfr_check(s1 - 777, &none, &now, XFR_MSG_MAX), "not in the journal");
	content_free(&now);
}

/* How many RRs of @p c have an owner containing @p part. */
static size_t content_count(const struct content *c, const char *part)
{
	size_t k = 0;
	for (size_t i = 0; i < c->n; i++) {
		k += strstr(c->rr[i], part) != NULL;
	}
	return k;
}

/* A ring that grows past one record is published sharded (docs/dns.md):
 * "shards=N" at _ring and shards 1..N; shrinking back deletes every shard.
 * Each step's IXFR applied to the step before gives the AXFR after. */
Test(xfr_zone, ring_shards_come_and_go_with_the_ring)
{
	struct content before, big, after;
	axfr_content(&before);
	uint32_t s0 = xfr_zone_serial(fx.zone);
	char host[64];
	for (int i = 0; i < 400; i++) {
		snprintf(host, sizeof(host), "lon6-cache-a%04d.lon6.example.net", i);
		answer_test_register(fx.st, "cache", "tcp", host, 11211, "10.0.0.1", 1,
				STORE_STATUS_UP, 0);
	}
	wall += 100;
	cr_assert(publish_at(wall));
	axfr_content(&big);
	uint32_t s1 = xfr_zone_serial(fx.zone);
	cr_expect_eq(content_count(&big, "\"shards="), 1, "_ring says how many");
	size_t shards = content_count(&big, "._ring._cache._tcp.");
	cr_expect_geq(shards, 2, "%zu shards", shards);
	(void)ixfr_check(s0, &before, &big, XFR_MSG_MAX);
	for (int i = 0; i < 395; i++) {
		snprintf(host, sizeof(host), "lon6-cache-a%04d.lon6.example.net", i);
		struct store_key k = {"cache", "tcp", host, 11211};
		uint64_t rev;
		cr_assert_eq(store_deregister(fx.st, &k, &rev), 0);
	}
	wall += 100;
	cr_assert(publish_at(wall));
	axfr_content(&after);
	cr_expect_eq(content_count(&after, "._ring._cache._tcp."), 0, "no shard left behind");
	cr_expect_eq(content_count(&after, "\"shards="), 0);
	cr_expect_eq(content_count(&after, "_ring._cache._tcp."), 1, "the ring, whole in one RR");
	(void)ixfr_check(s1, &big, &after, XFR_MSG_MAX);
	(void)ixfr_check(s0, &before, &after, XFR_MSG_MAX);
	content_free(&before);
	content_free(&big);
	content_free(&after);
}
