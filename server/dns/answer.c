/*
 * answer_process() and the engine's life cycle. A query is pre-validated
 * (dnswire.c), classified (answer_classify.c), accounted, then answered by
 * its kind: an error reply, or a reply in one of our zones from a prepared
 * answer (answer_cache.c) or a negative answer, written by answer_write.c.
 */
#include "server/dns/answer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/error.h"
#include "server/registry/store.h"

/* FORMERR and NOTIMP replies per second and per engine (NSD's
 * ERROR_RATELIMIT): garbage must not turn us into a reflector. */
#define ERROR_RATE 100u

struct proto_find {
	const uint8_t *label;
	bool found;
};

static int proto_find_cb(const struct store_service *svc, void *ud)
{
	struct proto_find *f = ud;
	size_t n = f->label[0] - 1u;
	if (strlen(svc->protocol) == n && memcmp(svc->protocol, f->label + 2, n) == 0) {
		f->found = true;
		return 1;
	}
	return 0;
}

/* Is "_<proto>" an empty non-terminal (some service has that protocol)?
 * Resolvers doing QNAME minimisation (RFC 9156) ask for it, and NXDOMAIN
 * there would deny every name below it (RFC 8020). Rare query: a scan. */
static bool proto_exists(const struct answer *a, const uint8_t *label)
{
	struct proto_find f = {label, false};
	if (label[0] < 2) {
		return false;
	}
	/* Out of memory: say it exists (NODATA), never deny names below it. */
	return store_service_foreach(a->store, proto_find_cb, &f) != 0 || f.found;
}

/* The SOA serial: the published version's (xfr_zone.h), or the store
 * revision's low 32 bits without a publisher. */
static uint64_t soa_serial(const struct answer *a)
{
	if (a->published != NULL && a->published->valid) {
		return a->published->serial;
	}
	return store_revision(a->store);
}

static void soa_refresh(struct answer *a, struct answer_zone *z)
{
	uint64_t rev = soa_serial(a);
	if (!z->soa_built || z->soa.tag_rev != rev) {
		if (answer_build_soa(a, z, rev) != 0) {
			z->soa_built = false;
		}
	}
}

/* Answer a question in the report zone (SPEC: Client error reports).
 * @return false when the report rate limit says to drop it. */
static bool report_query(struct answer *a, const struct answer_zone *z,
		const struct answer_client *c, uint64_t now_ms, struct answer_result *res)
{
	const struct dnswire_query *q = &a->q;
	unsigned nrel = q->nlabels - z->nlabels;
	if (a->report != NULL && !report_admit(a->report, c->addr, now_ms)) {
		/* Over the limit: dropped over UDP (no amplification), answered
		 * over TCP but neither logged nor counted as a report. TCP cannot
		 * amplify, and a drop there closes the connection, with every
		 * query pipelined behind it (a resolver multiplexes its clients'). */
		res->report = false;
		return c->transport == ANSWER_TCP;
	}
	bool ok = nrel == 4;
	for (unsigned i = 0; ok && i < 4; i++) {
		const uint8_t *l = answer_label_at(q, i);
		ok = rs_label_check((const char *)l + 1, l[0], 0) == 0;
		res->fields.label[i] = l + 1;
		res->fields.len[i] = l[0];
	}
	res->fields.qtype = q->qtype;
	if (a->report != NULL) {
		if (ok) {
			report_count(a->report, &res->fields);
		} else {
			report_count_malformed(a->report);
		}
	}
	res->report = ok;
	return true;
}

static uint64_t max_rev(const struct store_service *s, uint64_t *count)
{
	uint64_t rev = 0;
	*count = 0;
	for (; s != NULL; s = s->name_next) {
		rev = s->revision > rev ? s->revision : rev;
		(*count)++;
	}
	return rev;
}

/* ANSWER_KIND_HOST: the A or AAAA of a service name (ANY: A, else AAAA).
 * @return 0, or RS_ENOMEM (answered SERVFAIL). */
static int host_lookup(struct answer *a, const struct answer_prep **out, bool *exists)
{
	const struct dnswire_query *q = &a->q;
	uint16_t qtype = q->qtype;
	if ((qtype == DNSWIRE_A || qtype == DNSWIRE_AAAA) &&
			(*out = answer_cache_fresh(a, qtype)) != NULL) {
		return 0; /* nothing changed since it was built or checked */
	}
	const uint8_t *l = answer_label_at(q, 0);
	const struct store_service *s =
			store_service_find_name(a->store, (const char *)l + 1, l[0]);
	*exists = s != NULL;
	if (s != NULL && qtype == DNSWIRE_ANY) {
		qtype = DNSWIRE_A;
	}
	if (s == NULL || (qtype != DNSWIRE_A && qtype != DNSWIRE_AAAA)) {
		return 0;
	}
	uint64_t n;
	uint64_t rev = max_rev(s, &n);
	const struct answer_prep *p = answer_cache_get(a, qtype, rev, n, ANSWER_PREP_ADDR, s);
	if (p != NULL && p->n == 0 && q->qtype == DNSWIRE_ANY) {
		p = answer_cache_get(a, DNSWIRE_AAAA, rev, n, ANSWER_PREP_ADDR, s);
	}
	*out = p;
	return p != NULL ? 0 : RS_ENOMEM;
}

/* ANSWER_KIND_SERVICE (SRV) and ANSWER_KIND_RING (_ring TXT) of
 * _<service>._<proto>. @return 0, or RS_ENOMEM (answered SERVFAIL). */
static int service_lookup(
		struct answer *a, enum answer_kind k, const struct answer_prep **out, bool *exists)
{
	const struct dnswire_query *q = &a->q;
	bool srv = k == ANSWER_KIND_SERVICE;
	if (srv && q->qtype == DNSWIRE_SRV && (*out = answer_cache_fresh(a, DNSWIRE_SRV)) != NULL) {
		return 0;
	}
	/* _<svc>._<proto>, _ring._<svc>._<proto> or <n>._ring._<svc>._<proto>. */
	uint32_t shard = 0;
	unsigned at = srv ? 0 : 1;
	if (!srv && q->nlabels > 1 && answer_label_at(q, 0)[1] != '_') {
		shard = answer_ring_shard_label(answer_label_at(q, 0));
		at = 2;
	}
	const uint8_t *ls = answer_label_at(q, at);
	const uint8_t *lp = answer_label_at(q, at + 1);
	const struct store_service *s = NULL;
	if (ls[0] >= 2 && ls[1] == '_' && lp[0] >= 2 && lp[1] == '_') {
		s = store_service_find(a->store, (const char *)ls + 2, ls[0] - 1u,
				(const char *)lp + 2, lp[0] - 1u);
	}
	*exists = s != NULL;
	uint16_t want = srv ? DNSWIRE_SRV : DNSWIRE_TXT;
	bool typed = q->qtype == want || q->qtype == DNSWIRE_ANY;
	/* Whether a shard's name exists is the ring's to say, for every type
	 * alike: another type is NODATA or NXDOMAIN as TXT would be. */
	if (s == NULL || (!typed && shard == 0)) {
		return 0;
	}
	enum answer_prep_kind kind = srv ? ANSWER_PREP_SRV : ANSWER_PREP_RING;
	*out = answer_cache_get(a, want, s->revision, shard, kind, s);
	if (*out == NULL) {
		return RS_ENOMEM;
	}
	if (shard > (*out)->ring_shards) {
		*exists = false; /* a shard the ring does not have: no such name */
	}
	if (!typed) {
		*out = NULL;
	}
	return 0;
}

static void drop(struct answer *a, struct answer_result *res)
{
	a->counters.dropped++;
	res->action = ANSWER_DROP;
}

/* A question in zone @p z (kinds from ANSWER_KIND_APEX_SOA on): a prepared
 * RRset, _status, or a negative answer with the zone's SOA. */
static void answer_zone(struct answer *a, const uint8_t *msg, enum answer_kind k,
		struct answer_zone *z, const struct answer_client *c, uint64_t now_ms, uint8_t *out,
		size_t outcap, struct answer_result *res)
{
	soa_refresh(a, z);
	if (!z->soa_built) {
		answer_write_error(a, msg, out, outcap, DNSWIRE_SERVFAIL, true, res);
		return;
	}
	const struct answer_prep *p = NULL;
	bool exists = true;
	int rc = 0;
	switch (k) {
	case ANSWER_KIND_APEX_SOA:
		p = &z->soa;
		break;
	case ANSWER_KIND_APEX_NS:
		p = &z->ns;
		break;
	case ANSWER_KIND_NODATA:
		break;
	case ANSWER_KIND_STATUS:
		answer_write_zone(a, msg, out, outcap, c, z, ANSWER_BODY_STATUS, NULL, res);
		return;
	case ANSWER_KIND_REPORT:
		if (!report_query(a, z, c, now_ms, res)) {
			drop(a, res);
			return;
		}
		exists = false; /* SPEC: reports are answered NXDOMAIN */
		break;
	case ANSWER_KIND_PROTO:
		exists = proto_exists(a, answer_label_at(&a->q, 0));
		break;
	case ANSWER_KIND_HOST:
		rc = host_lookup(a, &p, &exists);
		break;
	case ANSWER_KIND_SERVICE:
	case ANSWER_KIND_RING:
		rc = service_lookup(a, k, &p, &exists);
		break;
	default:
		exists = false;
		break;
	}
	if (rc != 0) {
		answer_write_error(a, msg, out, outcap, DNSWIRE_SERVFAIL, true, res);
		return;
	}
	enum answer_body body = p != NULL && p->n > 0 ? ANSWER_BODY_RRSET
				: exists              ? ANSWER_BODY_NODATA
						      : ANSWER_BODY_NXDOMAIN;
	answer_write_zone(a, msg, out, outcap, c, z, body, p, res);
}

static enum answer_qtype_bucket qtype_bucket(uint16_t t)
{
	switch (t) {
	case DNSWIRE_A:
		return ANSWER_Q_A;
	case DNSWIRE_AAAA:
		return ANSWER_Q_AAAA;
	case DNSWIRE_SRV:
		return ANSWER_Q_SRV;
	case DNSWIRE_TXT:
		return ANSWER_Q_TXT;
	case DNSWIRE_SOA:
		return ANSWER_Q_SOA;
	case DNSWIRE_NS:
		return ANSWER_Q_NS;
	case DNSWIRE_ANY:
		return ANSWER_Q_ANY;
	default:
		return ANSWER_Q_OTHER;
	}
}

static bool error_admit(struct answer *a, uint64_t now_ms)
{
	if (now_ms > a->err_last_ms) {
		a->err_tokens += (double)(now_ms - a->err_last_ms) * ERROR_RATE / 1000.0;
		if (a->err_tokens > ERROR_RATE) {
			a->err_tokens = ERROR_RATE;
		}
		a->err_last_ms = now_ms;
	}
	if (a->err_tokens < 1.0) {
		return false;
	}
	a->err_tokens -= 1.0;
	return true;
}

/* Count a query that will be answered, and check its DNS cookie: every
 * reply from here on carries the cookie (RFC 7873 5.2). True when it
 * carried our valid server cookie: its source is not forged. */
static bool query_accept(struct answer *a, const uint8_t *msg, const struct answer_client *c)
{
	const struct dnswire_query *q = &a->q;
	a->counters.queries[qtype_bucket(q->qtype)][c->transport]++;
	bool good = false;
	if (q->opt_ok && q->cookie_len > 0 && a->cookies) {
		memcpy(a->cookie_client, msg + q->cookie_off, COOKIE_CLIENT_LEN);
		enum cookie_result cr = cookie_check(&a->cookie_secrets, msg + q->cookie_off,
				q->cookie_len, c->addr, c->wall_s, a->cookie);
		a->counters.cookies[cr]++;
		a->cookie_send = true;
		good = cr == COOKIE_GOOD;
	}
	return good;
}

/* The replies that carry no data: an rcode, the question, the OPT. */
static void answer_refuse(struct answer *a, const uint8_t *msg, enum answer_kind k,
		enum dnswire_verdict v, uint8_t *out, size_t outcap, struct answer_result *res)
{
	bool question = v != DNSWIRE_COOKIE_ONLY;
	switch (k) {
	case ANSWER_KIND_BADVERS: /* RFC 6891 6.1.3 */
		answer_write_error(a, msg, out, outcap, DNSWIRE_BADVERS, question, res);
		break;
	case ANSWER_KIND_COOKIE_ONLY: /* RFC 7873 5.4: it learns the server cookie */
		answer_write_error(a, msg, out, outcap, DNSWIRE_NOERROR, false, res);
		break;
	default:
		answer_write_error(a, msg, out, outcap, DNSWIRE_REFUSED, true, res);
		break;
	}
}

static bool xfr_allowed(const struct answer *a, const struct sockaddr *addr)
{
	for (size_t i = 0; i < a->nxfr_allow; i++) {
		if (rs_prefix_match(&a->xfr_allow[i], addr)) {
			return true;
		}
	}
	return false;
}

/* Is serial @p ours newer than the client's @p theirs (RFC 1982 3.2)? */
static bool serial_newer(uint32_t ours, uint32_t theirs)
{
	return ours != theirs && (uint32_t)(ours - theirs) < 0x80000000u;
}

/* The largest UDP reply to the query in a->q (RFC 6891 6.2.5). */
static size_t udp_limit(const struct answer *a, size_t outcap)
{
	size_t lim = 512;
	if (a->q.opt_ok && a->q.edns_udp > 512) {
		lim = a->q.edns_udp < a->udp_max ? a->q.edns_udp : a->udp_max;
	}
	return lim < outcap ? lim : outcap;
}

/* A refused transfer: counted by reason, and said in @p res for the log. */
static void transfer_refuse(struct answer *a, const uint8_t *msg, enum answer_xfr_result why,
		uint8_t *out, size_t outcap, struct answer_result *res)
{
	bool ixfr = a->q.qtype == DNSWIRE_IXFR;
	a->counters.transfers[ixfr ? ANSWER_XFR_IXFR : ANSWER_XFR_AXFR][why]++;
	answer_write_error(a, msg, out, outcap, DNSWIRE_REFUSED, true, res);
	res->xfr_refused = true;
	res->xfr_reason = (uint8_t)why;
	res->xfr_type = a->q.qtype;
}

/* AXFR and IXFR of zone @p z: refused, or our SOA alone (an IXFR that is up
 * to date, or over UDP: RFC 1995 2 and 4), or handed to xfr_write() by the
 * caller (ANSWER_TRANSFER). A TSIG that failed was answered before. */
static void answer_transfer(struct answer *a, const uint8_t *msg, struct answer_zone *z,
		const struct answer_client *c, uint8_t *out, size_t outcap,
		struct answer_result *res)
{
	const struct dnswire_query *q = &a->q;
	bool ixfr = q->qtype == DNSWIRE_IXFR;
	uint64_t *count = a->counters.transfers[ixfr ? ANSWER_XFR_IXFR : ANSWER_XFR_AXFR];
	if (!ixfr && c->transport == ANSWER_UDP) {
		count[ANSWER_XFR_FORMERR]++; /* RFC 5936 4.2 */
		answer_write_error(a, msg, out, outcap, DNSWIRE_FORMERR, true, res);
		return;
	}
	if (z->report || q->nlabels != z->nlabels) {
		transfer_refuse(a, msg, ANSWER_XFR_REFUSED, out, outcap, res);
		return;
	}
	if (!xfr_allowed(a, c->addr)) {
		transfer_refuse(a, msg, ANSWER_XFR_REFUSED_ACL, out, outcap, res);
		return;
	}
	if (a->xfr_key != NULL && !a->tsig_sign) {
		transfer_refuse(a, msg, ANSWER_XFR_REFUSED_UNSIGNED, out, outcap, res);
		return;
	}
	if (a->xfr_key != NULL && a->tsig.key != a->xfr_key) {
		transfer_refuse(a, msg, ANSWER_XFR_REFUSED_KEY, out, outcap, res);
		return;
	}
	if (a->published != NULL && a->published->warming) {
		/* No version yet: the secondaries keep the copy they have, from
		 * the site's other registries (docs/dns.md "Zone versions"). */
		transfer_refuse(a, msg, ANSWER_XFR_REFUSED_WARMUP, out, outcap, res);
		return;
	}
	soa_refresh(a, z);
	if (!z->soa_built) {
		count[ANSWER_XFR_FAILED]++;
		answer_write_error(a, msg, out, outcap, DNSWIRE_SERVFAIL, true, res);
		return;
	}
	bool older = serial_newer((uint32_t)z->soa.tag_rev, q->ixfr_serial);
	if (ixfr && older && c->transport == ANSWER_UDP && a->ixfr_udp != NULL) {
		/* RFC 1995 2: the difference when it fits one datagram */
		size_t cap = udp_limit(a, outcap) - a->tsig_room; /* signed: room for it */
		size_t len = a->ixfr_udp(a->ixfr_udp_ud, a, msg, out, cap);
		if (len > 0) {
			count[ANSWER_XFR_INCREMENTAL]++;
			a->counters.transfer_bytes[ANSWER_XFR_IXFR] += len;
			a->counters.responses[DNSWIRE_NOERROR]++;
			res->action = ANSWER_SEND;
			res->len = len;
			return;
		}
	}
	if (ixfr && (c->transport == ANSWER_UDP || !older)) {
		count[ANSWER_XFR_SOA]++;
		answer_write_zone(a, msg, out, outcap, c, z, ANSWER_BODY_RRSET, &z->soa, res);
		return;
	}
	res->action = ANSWER_TRANSFER; /* xfr_write() counts the outcome */
}

/* answer_process() but for the signature of a signed reply. */
static void answer_query(struct answer *a, const uint8_t *msg, size_t qlen,
		const struct answer_client *c, uint64_t now_ms, uint8_t *out, size_t outcap,
		struct answer_result *res)
{
	enum dnswire_verdict v = dnswire_query_check(msg, qlen, &a->q);
	const struct answer_zone *z;
	enum answer_kind k = answer_classify(a, v, &z);
	if (k == ANSWER_KIND_DROP) {
		drop(a, res);
		return;
	}
	if (k == ANSWER_KIND_MALFORMED || k == ANSWER_KIND_NOTIMP) {
		if (!error_admit(a, now_ms)) {
			a->counters.error_limited++;
			drop(a, res);
			return;
		}
		/* NOTIMP (RFC 1035 4.1.1) and FORMERR: header only, no question. */
		uint16_t rcode = k == ANSWER_KIND_NOTIMP ? DNSWIRE_NOTIMP : DNSWIRE_FORMERR;
		answer_write_error(a, msg, out, outcap, rcode, false, res);
		return;
	}
	res->cookie_good = query_accept(a, msg, c);
	if (c->refused) { /* --dns-allow, BIND's allow-query: REFUSED */
		answer_write_error(a, msg, out, outcap, DNSWIRE_REFUSED, v != DNSWIRE_COOKIE_ONLY,
				res);
		return;
	}
	bool transfer = k == ANSWER_KIND_TRANSFER;
	if (a->q.has_tsig && !answer_tsig_check(a, msg, qlen, transfer,
					     transfer && !xfr_allowed(a, c->addr), c, out, outcap,
					     res)) {
		return;
	}
	if (transfer) {
		answer_transfer(a, msg, (struct answer_zone *)z, c, out, outcap, res);
		return;
	}
	if (z == NULL) {
		answer_refuse(a, msg, k, v, out, outcap, res);
		return;
	}
	/* The classifier only reads the zone; answering may rebuild its SOA. */
	answer_zone(a, msg, k, (struct answer_zone *)z, c, now_ms, out, outcap, res);
}

void answer_process(struct answer *a, const uint8_t *msg, size_t qlen,
		const struct answer_client *c, uint64_t now_ms, uint8_t *out, size_t outcap,
		struct answer_result *res)
{
	memset(res, 0, sizeof(*res));
	a->cookie_send = false;
	a->tsig_sign = false;
	a->tsig_room = 0;
	answer_query(a, msg, qlen, c, now_ms, out, outcap, res);
	/* Only a signed query pays for this (RFC 8945 5.3). */
	if (a->tsig_sign && res->action == ANSWER_SEND) {
		answer_tsig_sign(a, out, outcap, c, res);
	}
}

/* ---- life cycle -------------------------------------------------------- */

static int zone_init(struct answer *a, struct answer_zone *z, const char *name, uint32_t neg_ttl,
		const struct answer_config *cfg, bool report)
{
	int n = rs_name_to_wire(name, RS_NAME_UNDERSCORE | RS_NAME_NUMERIC_TOP, z->wire);
	if (n < 0) {
		return RS_EINVAL;
	}
	z->len = (size_t)n;
	z->nlabels = 0;
	for (size_t i = 0; z->wire[i] != 0; i += 1u + z->wire[i]) {
		z->nlabels++;
	}
	z->neg_ttl = neg_ttl;
	z->report = report;
	return answer_build_ns(a, z, cfg->ns, cfg->nns);
}

int answer_new(const struct answer_config *cfg, const struct store *store, struct report *report,
		struct answer **out)
{
	*out = NULL;
	if (cfg == NULL || cfg->zone == NULL || cfg->domain == NULL || cfg->nns == 0) {
		return RS_EINVAL;
	}
	struct answer *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		return RS_ENOMEM;
	}
	int rc = RS_ENOMEM;
	a->store = store;
	a->report = report;
	a->ttl = cfg->ttl;
	a->udp_max = cfg->udp_max < 512 ? 512 : cfg->udp_max;
	a->stable = cfg->stable_subsets;
	if (cfg->cookies != NULL) {
		a->cookie_secrets = *cfg->cookies;
		a->cookies = true;
	}
	if (cfg->nxfr_allow > 0) {
		a->xfr_allow = calloc(cfg->nxfr_allow, sizeof(*a->xfr_allow));
		if (a->xfr_allow == NULL) {
			goto fail;
		}
		memcpy(a->xfr_allow, cfg->xfr_allow, cfg->nxfr_allow * sizeof(*a->xfr_allow));
		a->nxfr_allow = cfg->nxfr_allow;
	}
	a->published = cfg->published;
	a->ixfr_udp = cfg->ixfr_udp;
	a->ixfr_udp_ud = cfg->ixfr_udp_ud;
	a->tsig_keys = cfg->tsig_keys;
	a->xfr_key = cfg->xfr_key;
	a->err_tokens = ERROR_RATE;
	if (getrandom(&a->rng, sizeof(a->rng), 0) != sizeof(a->rng)) {
		a->rng = (uint64_t)(uintptr_t)a ^ 0x2545f4914f6cdd1du;
	}
	if (answer_cache_init(a) != 0) {
		goto fail;
	}
	int n = rs_name_to_wire(cfg->ns[0], RS_NAME_NUMERIC_TOP, a->mname);
	char rname[RS_NAME_TEXT_MAX + 16];
	snprintf(rname, sizeof(rname), "hostmaster.%s", cfg->domain);
	int m = rs_name_to_wire(rname, RS_NAME_NUMERIC_TOP, a->rname);
	if (n < 0 || m < 0) {
		rc = RS_EINVAL;
		goto fail;
	}
	a->mname_len = (size_t)n;
	a->rname_len = (size_t)m;
	rc = zone_init(a, &a->zones[0], cfg->zone, cfg->negative_ttl, cfg, false);
	if (rc != 0) {
		goto fail;
	}
	a->nzones = 1;
	if (cfg->report_zone != NULL && cfg->report_zone[0] != '\0') {
		/* SPEC: reports are answered NXDOMAIN with TTL 0. */
		rc = zone_init(a, &a->zones[1], cfg->report_zone, 0, cfg, true);
		if (rc != 0) {
			goto fail;
		}
		a->nzones = 2;
	}
	*out = a;
	return 0;
fail:
	answer_free(a);
	return rc;
}

void answer_store_set(struct answer *a, const struct store *store, uint64_t generation)
{
	if (a->store != store || a->store_generation != generation) {
		a->store = store;
		a->store_generation = generation;
		answer_cache_flush(a);
		a->zones[0].soa_built = a->zones[1].soa_built = false;
	}
}

void answer_free(struct answer *a)
{
	if (a == NULL) {
		return;
	}
	answer_cache_deinit(a);
	for (size_t i = 0; i < 2; i++) {
		answer_build_clear(&a->zones[i].soa);
		answer_build_clear(&a->zones[i].ns);
	}
	free(a->order);
	free(a->xfr_allow);
	explicit_bzero(&a->cookie_secrets, sizeof(a->cookie_secrets));
	explicit_bzero(&a->tsig, sizeof(a->tsig));
	free(a);
}

const struct answer_counters *answer_counters_get(const struct answer *a)
{
	return &a->counters;
}

const char *answer_xfr_result_name(unsigned r)
{
	static const char *const names[ANSWER_XFR_RESULTS] = {"full", "incremental", "soa",
			"refused", "formerr", "failed", "refused_acl", "refused_unsigned",
			"refused_key", "badkey", "badsig", "badtime", "badtrunc", "refused_warmup"};
	return r < ANSWER_XFR_RESULTS ? names[r] : "?";
}
