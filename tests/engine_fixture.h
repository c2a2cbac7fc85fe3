/*
 * tests/engine_fixture.h - the DNS answer engine over an in-memory store,
 * as the unit tests (test_answer.c, test_cookie.c) and the fuzz target
 * (fuzz_dns.c) set it up: no sockets, no LMDB, a clock the caller drives.
 *
 * engine_fixture_config() fills the configuration they share; each caller
 * changes what it tests (cookies, stable subsets) before
 * engine_fixture_open().
 */
#pragma once

#include <stdbool.h>

#include "common/error.h"
#include "server/dns/answer.h"
#include "server/dns/report.h"
#include "server/dns/xfr.h"
#include "server/dns/xfr_zone.h"
#include "server/registry/store.h"

#define ENGINE_ZONE "services.lon6.example.net."
#define ENGINE_UDP_MAX 1232

/* The store's clock at open, in ms; leases opened by the tests start here. */
#define ENGINE_T0_MS 1000

struct engine_fixture {
	struct store *st;
	struct answer *an;
	struct report rep;
	struct xfr_zone *zone; /* engine_fixture_zone(), else NULL */
};

/* services.lon6.example.net. under example.net., two name servers, the
 * error report zone, TTL 5, negative TTL 7, UDP payloads up to 1,232. */
static inline void engine_fixture_config(struct answer_config *cfg)
{
	static const char *ns[] = {"ns1.example.net.", "ns2.example.net."};
	*cfg = (struct answer_config){
			.zone = ENGINE_ZONE,
			.domain = "example.net.",
			.ns = ns,
			.nns = 2,
			.report_zone = "errors.example.net.",
			.ttl = 5,
			.negative_ttl = 7,
			.udp_max = ENGINE_UDP_MAX,
	};
}

/* An empty store (with --keep-last when @p keep_last) and an engine over it
 * configured by @p cfg. 0, or a negative error code with nothing held. */
static inline int engine_fixture_open(
		struct engine_fixture *f, const struct answer_config *cfg, bool keep_last)
{
	struct store_limits lim;
	store_limits_default(&lim);
	lim.keep_last = keep_last;
	f->st = store_new(&lim, NULL, NULL, ENGINE_T0_MS);
	if (f->st == NULL) {
		return RS_ENOMEM;
	}
	report_init(&f->rep, 50);
	int rc = answer_new(cfg, f->st, &f->rep, &f->an);
	if (rc < 0) {
		store_free(f->st);
		f->st = NULL;
	}
	return rc;
}

/* Publish zone versions over the fixture's store (server/dns/xfr_zone.h),
 * the first at @p wall_ms, and make the engine serve their serial and IXFR
 * over UDP from them: the engine is made again from @p cfg. 0, or a
 * negative error code (the fixture is then to be closed). */
static inline int engine_fixture_zone(
		struct engine_fixture *f, struct answer_config *cfg, uint64_t wall_ms)
{
	int rc = xfr_zone_new(cfg, f->st, XFR_JOURNAL_MAX_DEFAULT, wall_ms, 0, &f->zone);
	if (rc < 0) {
		return rc;
	}
	cfg->published = xfr_zone_published(f->zone);
	cfg->ixfr_udp = xfr_ixfr_udp;
	cfg->ixfr_udp_ud = f->zone;
	answer_free(f->an);
	f->an = NULL;
	return answer_new(cfg, f->st, &f->rep, &f->an);
}

static inline void engine_fixture_close(struct engine_fixture *f)
{
	xfr_zone_free(f->zone);
	f->zone = NULL;
	answer_free(f->an);
	store_free(f->st);
	f->an = NULL;
	f->st = NULL;
}
