/*
 * The DNS side under allocation failures (tests/faults/allocfail.h): the
 * answer engine's creation, its prepared answers (built on a query, so a
 * failure there is a SERVFAIL to that query and nothing else), the zone
 * versions and their journal, the transfers written from them, the TSIG
 * key file parser and the response-rate limiter. Each sweep fails the
 * k-th allocation for k = 1, 2, ... until the operation meets none, checks
 * the failure is clean (its error code or a SERVFAIL, nothing leaked under
 * ASan), and that the same operation then succeeds with nothing left
 * broken.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/error.h"
#include "server/dns/answer.h"
#include "server/dns/dnswire.h"
#include "server/dns/rrl.h"
#include "server/dns/tsig.h"
#include "server/dns/xfr.h"
#include "server/dns/xfr_zone.h"
#include "server/registry/store.h"
#include "tests/engine_fixture.h"
#include "tests/faults/allocfail.h"
#include "tests/unit/server/answer_test.h"

#define SWEEP_MAX 2000

static uint8_t out[65535];

static struct answer_result ask_from(struct answer *an, const uint8_t *q, size_t len,
		enum answer_transport t, const char *from)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(5353)};
	cr_assert_eq(inet_pton(AF_INET, from, &sin.sin_addr), 1);
	struct answer_client c = {t, (struct sockaddr *)&sin, 0, 0, false};
	struct answer_result res;
	answer_process(an, q, len, &c, 5000, out, sizeof(out), &res);
	return res;
}

static uint16_t rcode_of(const struct answer_result *r)
{
	cr_assert_geq(r->len, DNSWIRE_HEADER);
	return dnswire_get16(out + 2) & 0xf;
}

Test(answer_nomem, answer_new_fails_cleanly)
{
	struct store_limits lim;
	store_limits_default(&lim);
	struct store *st = store_new(&lim, NULL, NULL, ENGINE_T0_MS);
	cr_assert_not_null(st);
	struct answer_config cfg;
	engine_fixture_config(&cfg);
	struct rs_prefix allow;
	cr_assert_eq(rs_prefix_parse("192.0.2.0/24", &allow), 0);
	cfg.xfr_allow = &allow;
	cfg.nxfr_allow = 1;
	size_t k;
	for (k = 1; k < SWEEP_MAX; k++) {
		struct answer *an = NULL;
		allocfail_arm(k);
		int rc = answer_new(&cfg, st, NULL, &an);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (!struck) {
			cr_assert_eq(rc, 0);
			answer_free(an);
			break;
		}
		cr_expect_eq(rc, RS_ENOMEM, "failure %zu: %d", k, rc);
		cr_expect_null(an);
	}
	cr_expect_gt(k, 3, "answer_new() allocates several times");
	store_free(st);
}

Test(answer_nomem, bad_configuration_refused)
{
	struct answer_config cfg;
	engine_fixture_config(&cfg);
	struct answer *an = (struct answer *)1;
	cr_expect_eq(answer_new(NULL, NULL, NULL, &an), RS_EINVAL);
	cr_expect_null(an);
	struct answer_config c = cfg;
	c.nns = 0;
	cr_expect_eq(answer_new(&c, NULL, NULL, &an), RS_EINVAL);
	c = cfg;
	c.zone = "bad..zone.";
	cr_expect_eq(answer_new(&c, NULL, NULL, &an), RS_EINVAL, "a zone that is no name");
	c = cfg;
	c.report_zone = "bad..errors.";
	cr_expect_eq(answer_new(&c, NULL, NULL, &an), RS_EINVAL, "a report zone that is no name");
	c = cfg;
	c.domain = "..";
	cr_expect_eq(answer_new(&c, NULL, NULL, &an), RS_EINVAL, "a domain that is no name");
	static const char *bad_ns[] = {"ns..example."};
	c = cfg;
	c.ns = bad_ns;
	c.nns = 1;
	cr_expect_eq(answer_new(&c, NULL, NULL, &an), RS_EINVAL, "an NS that is no name");
	cr_expect_null(an);
	answer_free(NULL);
}

/* The store of the query tests: two services of two instances each, one
 * with both address families, a ring. */
static void populate(struct store *st)
{
	answer_test_register(st, "web", "tcp", "w1.example.net.", 80, "192.0.2.1", 1,
			STORE_STATUS_UP, 0);
	answer_test_register(st, "web", "tcp", "w2.example.net.", 80, "2001:db8::2", 3,
			STORE_STATUS_UP, 0);
	answer_test_register(st, "web", "udp", "w3.example.net.", 81, "192.0.2.3", 1,
			STORE_STATUS_UP, 0);
	answer_test_register(st, "db", "tcp", "d1.example.net.", 5432, "192.0.2.9", 1,
			STORE_STATUS_UP, 0);
}

/* Each kind of prepared answer, built under a failure: SERVFAIL, then the
 * same query answered once allocations pass again. */
struct query_case {
	const char *name;
	uint16_t qtype;
	uint16_t rcode; /* when nothing fails */
	uint16_t an;    /* answers when nothing fails */
};

Test(answer_nomem, prepared_answers_servfail_then_recover)
{
	static const struct query_case cases[] = {
			{"_web._tcp." ENGINE_ZONE, DNSWIRE_SRV, DNSWIRE_NOERROR, 2},
			{"_web._tcp." ENGINE_ZONE, DNSWIRE_ANY, DNSWIRE_NOERROR, 2},
			{"web." ENGINE_ZONE, DNSWIRE_A, DNSWIRE_NOERROR, 2},
			{"web." ENGINE_ZONE, DNSWIRE_AAAA, DNSWIRE_NOERROR, 1},
			{"web." ENGINE_ZONE, DNSWIRE_ANY, DNSWIRE_NOERROR, 2},
			{"_ring._web._tcp." ENGINE_ZONE, DNSWIRE_TXT, DNSWIRE_NOERROR, 1},
			{"_ring._db._tcp." ENGINE_ZONE, DNSWIRE_ANY, DNSWIRE_NOERROR, 1},
			{ENGINE_ZONE, DNSWIRE_SOA, DNSWIRE_NOERROR, 1},
			{"nothing." ENGINE_ZONE, DNSWIRE_A, DNSWIRE_NXDOMAIN, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct query_case *qc = &cases[i];
		struct engine_fixture fx = {0};
		answer_test_open(&fx);
		populate(fx.st);
		uint8_t q[512];
		size_t len = answer_test_query(q, qc->name, qc->qtype, 1232);
		size_t k;
		unsigned servfails = 0;
		uint64_t gen = 1;
		for (k = 1; k < SWEEP_MAX; k++) {
			/* A new generation: every prepared answer and the SOA are
			 * built again by the next query. */
			answer_store_set(fx.an, fx.st, gen++);
			allocfail_arm(k);
			struct answer_result r = ask_from(fx.an, q, len, ANSWER_UDP, "192.0.2.50");
			bool struck = allocfail_struck();
			allocfail_disarm();
			cr_assert_eq(r.action, ANSWER_SEND, "%s: failure %zu", qc->name, k);
			if (!struck) {
				break;
			}
			if (rcode_of(&r) == DNSWIRE_SERVFAIL) {
				servfails++;
				cr_expect_eq(dnswire_get16(out + 6), 0, "a SERVFAIL has no answer");
			} else {
				/* a failure the engine works around (a cache table
				 * that does not grow): the answer is whole */
				cr_expect_eq(rcode_of(&r), qc->rcode);
			}
			/* The same query at once, nothing failing: answered. */
			r = ask_from(fx.an, q, len, ANSWER_UDP, "192.0.2.50");
			cr_assert_eq(r.action, ANSWER_SEND);
			cr_expect_eq(rcode_of(&r), qc->rcode, "%s: after failure %zu", qc->name, k);
			cr_expect_eq(dnswire_get16(out + 6), qc->an, "%s: after failure %zu",
					qc->name, k);
		}
		cr_expect_lt(k, SWEEP_MAX);
		if (qc->qtype != DNSWIRE_SOA && qc->rcode == DNSWIRE_NOERROR) {
			cr_expect_gt(servfails, 0, "%s: some failure is a SERVFAIL", qc->name);
		}
		engine_fixture_close(&fx);
	}
}

/* The prepared-answer table grows with its entries; a growth that fails
 * leaves longer chains, and every answer is still right. */
Test(answer_nomem, cache_growth_failure_keeps_answers)
{
	struct engine_fixture fx = {0};
	answer_test_open(&fx);
	char svc[96];
	for (int i = 0; i < 300; i++) {
		snprintf(svc, sizeof(svc), "s%d", i);
		answer_test_register(fx.st, svc, "tcp", "h.example.net.", 80, "192.0.2.1", 1,
				STORE_STATUS_UP, 0);
	}
	uint8_t q[512];
	for (int i = 0; i < 300; i++) {
		snprintf(svc, sizeof(svc), "_s%d._tcp." ENGINE_ZONE, i);
		size_t len = answer_test_query(q, svc, DNSWIRE_SRV, 0);
		/* Fail the table's growth (the third allocation: the entry, its
		 * RR vector, then the table) whenever it is tried. */
		allocfail_arm(3);
		struct answer_result r = ask_from(fx.an, q, len, ANSWER_UDP, "192.0.2.50");
		allocfail_disarm();
		cr_assert_eq(r.action, ANSWER_SEND);
		if (rcode_of(&r) != DNSWIRE_NOERROR) {
			r = ask_from(fx.an, q, len, ANSWER_UDP, "192.0.2.50");
		}
		cr_expect_eq(rcode_of(&r), DNSWIRE_NOERROR, "%s", svc);
		cr_expect_eq(dnswire_get16(out + 6), 1, "%s", svc);
	}
	for (int i = 0; i < 300; i += 37) {
		snprintf(svc, sizeof(svc), "_s%d._tcp." ENGINE_ZONE, i);
		size_t len = answer_test_query(q, svc, DNSWIRE_SRV, 0);
		struct answer_result r = ask_from(fx.an, q, len, ANSWER_UDP, "192.0.2.50");
		cr_expect_eq(rcode_of(&r), DNSWIRE_NOERROR);
		cr_expect_eq(dnswire_get16(out + 6), 1);
	}
	engine_fixture_close(&fx);
}

struct srv_count {
	unsigned rrsets;
	size_t rrs;
};

/* The SRV RRset of _web._tcp in a version. */
static int srv_count_cb(const struct xfr_rrset *r, void *ud)
{
	struct srv_count *c = ud;
	if (r->type == DNSWIRE_SRV && r->owner_len == 10 &&
			memcmp(r->owner, "\4_web\4_tcp", 10) == 0) {
		c->rrsets++;
		c->rrs += r->n;
	}
	return 0;
}

/* Zone versions: creating the zone, publishing a version (a full rebuild
 * and an incremental one with its journal entry), under each failure. */
Test(answer_nomem, zone_versions_fail_cleanly)
{
	struct engine_fixture fx = {0};
	answer_test_open(&fx);
	populate(fx.st);
	struct answer_config cfg;
	engine_fixture_config(&cfg);
	size_t k;
	for (k = 1; k < SWEEP_MAX; k++) {
		struct xfr_zone *z = NULL;
		allocfail_arm(k);
		int rc = xfr_zone_new(&cfg, fx.st, XFR_JOURNAL_MAX_DEFAULT, 1000, 0, &z);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (!struck) {
			cr_assert_eq(rc, 0);
			xfr_zone_free(z);
			break;
		}
		cr_expect_eq(rc, RS_ENOMEM, "failure %zu", k);
		cr_expect_null(z);
	}
	cr_expect_lt(k, SWEEP_MAX);

	struct xfr_zone *z;
	cr_assert_eq(xfr_zone_new(&cfg, fx.st, XFR_JOURNAL_MAX_DEFAULT, 1000, 0, &z), 0);
	uint64_t wall = 2000;
	unsigned failures = 0;
	for (k = 1; k < SWEEP_MAX; k++) {
		/* one change, so a publish has work to do */
		char host[64];
		snprintf(host, sizeof(host), "n%zu.example.net.", k);
		answer_test_register(
				fx.st, "web", "tcp", host, 80, "192.0.2.77", 1, STORE_STATUS_UP, 0);
		uint32_t before = xfr_zone_serial(z);
		bool published = false;
		allocfail_arm(k);
		int rc = xfr_zone_publish(z, wall += 1000, &published);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (!struck) {
			cr_assert_eq(rc, 0);
			cr_expect(published);
			break;
		}
		failures++;
		cr_expect_eq(rc, RS_ENOMEM, "failure %zu: %d", k, rc);
		/* What was rebuilt is a version of its own serial, but not the
		 * store's: the zone stays stale, so the publisher retries. */
		cr_expect(published, "failure %zu: a version all the same", k);
		cr_expect_neq(xfr_zone_serial(z), before);
		cr_expect(xfr_zone_stale(z), "failure %zu: retried without another change", k);
		before = xfr_zone_serial(z);
		cr_assert_eq(xfr_zone_publish(z, wall += 1000, &published), 0);
		cr_expect(published, "failure %zu: published after", k);
		cr_expect_neq(xfr_zone_serial(z), before);
		cr_expect_not(xfr_zone_stale(z));
		struct srv_count sc = {0, 0};
		xfr_zone_foreach(z, srv_count_cb, &sc);
		cr_expect_eq(sc.rrsets, 1, "failure %zu", k);
		cr_expect_eq(sc.rrs, 2 + k, "failure %zu: every instance in the zone", k);
	}
	cr_expect_gt(failures, 0);
	cr_expect_gt(xfr_zone_counters_get(z)->failures, 0, "failures are counted");
	xfr_zone_free(z);
	engine_fixture_close(&fx);
}

/* An AXFR and an IXFR written under each failure: the transfer ends in
 * one SERVFAIL message and is counted failed, or is whole. */
Test(answer_nomem, transfers_servfail_on_failure)
{
	struct engine_fixture fx = {0};
	struct answer_config cfg;
	engine_fixture_config(&cfg);
	struct rs_prefix allow;
	cr_assert_eq(rs_prefix_parse("192.0.2.0/24", &allow), 0);
	cfg.xfr_allow = &allow;
	cfg.nxfr_allow = 1;
	cr_assert_eq(engine_fixture_open(&fx, &cfg, false), 0);
	populate(fx.st);
	cr_assert_eq(engine_fixture_zone(&fx, &cfg, 1000), 0);
	uint32_t old = xfr_zone_serial(fx.zone);
	answer_test_register(fx.st, "web", "tcp", "late.example.net.", 80, "192.0.2.99", 1,
			STORE_STATUS_UP, 0);
	bool published;
	cr_assert_eq(xfr_zone_publish(fx.zone, 5000, &published), 0);
	cr_assert(published);

	for (int ixfr = 0; ixfr < 2; ixfr++) {
		uint8_t q[512];
		size_t len = answer_test_query(
				q, ENGINE_ZONE, ixfr ? DNSWIRE_IXFR : DNSWIRE_AXFR, 0);
		if (ixfr) {
			q[9] = 1;
			uint8_t soa[12 + 22] = {0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 0, 0, 22, 0, 0};
			rs_wire_store_u32(soa + 14, old);
			memcpy(q + len, soa, sizeof(soa));
			len += sizeof(soa);
		}
		size_t k;
		unsigned failed = 0;
		for (k = 1; k < SWEEP_MAX; k++) {
			struct answer_result r = ask_from(fx.an, q, len, ANSWER_TCP, "192.0.2.7");
			cr_assert_eq(r.action, ANSWER_TRANSFER);
			struct rs_buf b;
			rs_buf_init(&b);
			struct xfr_result xr;
			allocfail_arm(k);
			int rc = xfr_write(fx.an, fx.zone, q, 65535, &b, &xr);
			bool struck = allocfail_struck();
			allocfail_disarm();
			if (!struck) {
				cr_assert_eq(rc, 0);
				cr_expect_gt(xr.messages, 0);
				rs_buf_deinit(&b);
				break;
			}
			if (rc == 0) {
				/* an IXFR whose difference could not be built is
				 * answered in full, as when the journal is gone */
				cr_expect(ixfr && !xr.incremental, "failure %zu", k);
				cr_expect_gt(xr.messages, 0);
				rs_buf_deinit(&b);
				continue;
			}
			failed++;
			cr_expect_eq(rc, RS_ENOMEM, "failure %zu: %d", k, rc);
			/* whatever was written, one SERVFAIL message ends it */
			cr_assert_geq(b.len, 2 + DNSWIRE_HEADER);
			size_t off = 0, last = 0;
			while (off < b.len) {
				last = off;
				off += 2 + dnswire_get16((const uint8_t *)b.data + off);
			}
			cr_assert_eq(off, b.len, "whole frames");
			cr_expect_eq(((const uint8_t *)b.data)[last + 2 + 3] & 0xf,
					DNSWIRE_SERVFAIL);
			rs_buf_deinit(&b);
		}
		cr_expect_lt(k, SWEEP_MAX);
		cr_expect_gt(failed, 0, "%s meets an allocation", ixfr ? "IXFR" : "AXFR");
		const struct answer_counters *ctr = answer_counters_get(fx.an);
		cr_expect_geq(ctr->transfers[ixfr ? ANSWER_XFR_IXFR : ANSWER_XFR_AXFR]
					    [ANSWER_XFR_FAILED],
				failed);
	}
	engine_fixture_close(&fx);
}

Test(answer_nomem, tsig_keyfile_fails_cleanly)
{
	static const char text[] = "key \"a.example.\" { algorithm hmac-sha256; secret "
				   "\"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\"; };\n"
				   "key b.example { algorithm hmac-sha512; secret "
				   "\"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\"; };\n"
				   "key c.example { algorithm hmac-sha256; secret "
				   "\"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\"; };\n";
	size_t k;
	for (k = 1; k < SWEEP_MAX; k++) {
		struct tsig_keyring *kr = NULL;
		char err[256] = "";
		allocfail_arm(k);
		int rc = tsig_keyring_parse(text, strlen(text), "keys", &kr, err, sizeof(err));
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (!struck) {
			cr_assert_eq(rc, 0, "%s", err);
			cr_expect_not_null(tsig_keyring_find(kr, "c.example."));
			tsig_keyring_free(kr);
			break;
		}
		cr_expect_eq(rc, RS_ENOMEM, "failure %zu: %d %s", k, rc, err);
		cr_expect_null(kr);
		cr_expect_not_null(strstr(err, "out of memory"), "failure %zu: '%s'", k, err);
	}
	cr_expect_gt(k, 1);
}

Test(answer_nomem, rrl_new_fails_cleanly)
{
	struct rrl_config cfg = {.rate = 5, .slip = 2, .slots = 1024, .seed = 7};
	size_t k;
	for (k = 1; k < SWEEP_MAX; k++) {
		struct rrl *r = NULL;
		allocfail_arm(k);
		int rc = rrl_new(&cfg, &r);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (!struck) {
			cr_assert_eq(rc, 0);
			rrl_free(r);
			break;
		}
		cr_expect_eq(rc, RS_ENOMEM);
		cr_expect_null(r);
	}
	cr_expect_gt(k, 2, "the limiter and its two tables");
}
