#include "server/dns/answer.h"

#include <assert.h>
#include <ldns/ldns.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/error.h"
#include "common/name.h"
#include "common/ring.h"
#include "server/dns/cookie.h"
#include "server/dns/dnswire.h"
#include "server/registry/store.h"

/* SOA timers of the services zone. Refresh and retry are short because the
 * zone changes every few seconds; expire is long (robustness-catalogue 4.8:
 * secondaries should keep answering through a partition). */
#define SOA_REFRESH 60u
#define SOA_RETRY 30u
#define SOA_EXPIRE 604800u
/* The _ring TXT record is one RR; keep it well inside one TCP message. */
#define RING_RDATA_MAX 60000u
/* Offset of an SRV target in an RR body (type, class, TTL, RDLENGTH,
 * priority, weight, port). */
#define SRV_TARGET_OFF 16u
/* Compression pointers address the first 16 KiB of a message. */
#define PTR_MAX 0x3fffu
#define QNAME_PTR 0xc00cu /* the question name, always at offset 12 */
#define OPT_LEN 11u
#define EDE_LEN 6u
#define KEEPALIVE_LEN 6u
#define COOKIE_LEN (4u + COOKIE_CLIENT_LEN + COOKIE_SERVER_LEN)
/* FORMERR and NOTIMP replies per second and per engine (NSD's
 * ERROR_RATELIMIT): garbage must not turn us into a reflector. */
#define ERROR_RATE 100u
#define EDE_STALE_ANSWER 3u /* RFC 8914 4.4 */
#define EDE_OTHER 0u        /* RFC 8914 4.1, with EXTRA-TEXT */
#define EDE_TEXT_MAX 80u

struct bytes {
	uint8_t *p;
	size_t len;
	size_t cap;
};

static int bytes_put(struct bytes *b, const void *p, size_t n)
{
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap - b->len < n) {
			cap *= 2;
		}
		uint8_t *np = realloc(b->p, cap);
		if (np == NULL) {
			return RS_ENOMEM;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* One prepared RR: its body (everything after the owner) in prep->data. */
struct prep_rr {
	uint32_t off;
	uint16_t len;
	uint16_t target;     /* SRV: offset of the target in the body, else 0 */
	uint16_t target_len; /* SRV: wire length of the target */
	uint32_t add_off;    /* A/AAAA bodies of the target for the additional section */
	uint32_t add_len;
	double weight;       /* > 0 */
};

/* A prepared RRset for one (lower-cased qname, qtype). */
struct prep {
	struct prep *next;
	uint64_t tag_rev;
	uint64_t tag_n;
	uint64_t seen_rev;   /* store revision at which the tag was last found current */
	uint16_t qtype;
	uint8_t qlen;
	uint8_t qname[RS_NAME_WIRE_MAX];
	bool stale;          /* includes stale instances */
	uint32_t ring_in;    /* _ring: instances in the ring ... */
	uint32_t ring_of;    /* ... of the served ones (fewer: a stable subset) */
	bool shuffle;        /* reorder per query */
	bool weighted;       /* weighted order even when the whole set fits (A/AAAA) */
	bool uniform;        /* all weights equal: a plain shuffle is a weighted one */
	uint32_t n;
	uint32_t cap;
	size_t total;        /* answer octets, owners as 2-octet pointers */
	struct prep_rr *rr;
	struct bytes data;
};

struct zone {
	uint8_t wire[RS_NAME_WIRE_MAX];
	size_t len;
	unsigned nlabels;
	uint32_t neg_ttl;
	bool report;
	struct prep soa;     /* tag_rev: the revision it carries (serial) */
	bool soa_built;
	struct prep ns;
};

/* Per-query order scratch: one slot per RR of the largest prepared set. */
struct order {
	double key;
	uint32_t idx;
	uint32_t pos;        /* where the RR landed in the message */
};

struct answer {
	const struct store *store;
	uint64_t store_generation;
	struct report *report;
	uint32_t ttl;
	uint16_t udp_max;
	bool stable;
	uint8_t mname[RS_NAME_WIRE_MAX];
	size_t mname_len;
	uint8_t rname[RS_NAME_WIRE_MAX];
	size_t rname_len;
	struct zone zones[2];
	size_t nzones;
	struct prep **buckets;
	size_t nbuckets;
	size_t nentries;
	struct order *order;
	size_t order_cap;
	uint64_t rng;
	double err_tokens;
	uint64_t err_last_ms;
	struct dnswire_query q;
	/* DNS cookies: the secrets, and this query's server cookie when the
	 * reply carries one. */
	struct cookie_secrets cookie_secrets;
	bool cookies;
	bool cookie_send;
	uint8_t cookie_client[COOKIE_CLIENT_LEN];
	uint8_t cookie[COOKIE_SERVER_LEN];
	struct answer_counters counters;
};

/* ---- randomness -------------------------------------------------------- */

/* splitmix64: fast, no state beyond one word, good enough for shuffles. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* A uniform double in (0, 1]. */
static double rng_unit(uint64_t *s)
{
	return (double)((rng_next(s) >> 11) + 1) * (1.0 / 9007199254740992.0);
}

static void order_sort(struct order *o, size_t n)
{
	/* Shell sort (Ciura's gaps): in place, no allocation, fine to 2,500. */
	static const size_t gaps[] = {1750, 701, 301, 132, 57, 23, 10, 4, 1};
	for (size_t g = 0; g < sizeof(gaps) / sizeof(gaps[0]); g++) {
		size_t gap = gaps[g];
		for (size_t i = gap; i < n; i++) {
			struct order t = o[i];
			size_t j = i;
			while (j >= gap && o[j - gap].key > t.key) {
				o[j] = o[j - gap];
				j -= gap;
			}
			o[j] = t;
		}
	}
}

/* Below this many RRs a weighted order is drawn position by position
 * (O(n^2) additions, no logarithms): cheaper for the common small sets. */
#define WEIGHTED_SMALL 16

/* Weighted random order: each position is drawn among the RRs left with
 * probability proportional to their weights, i.e. the same distribution as
 * the key sort below, without a logarithm per RR. */
static void order_weighted_small(struct order *o, const struct prep *p, uint64_t *rng)
{
	double total = 0;
	for (uint32_t i = 0; i < p->n; i++) {
		o[i].idx = i;
		total += p->rr[i].weight;
	}
	for (uint32_t pos = 0; pos + 1 < p->n; pos++) {
		double r = rng_unit(rng) * total;
		uint32_t j = pos;
		for (double acc = p->rr[o[j].idx].weight; acc < r && j + 1 < p->n;) {
			acc += p->rr[o[++j].idx].weight;
		}
		uint32_t t = o[pos].idx;
		o[pos].idx = o[j].idx;
		o[j].idx = t;
		total -= p->rr[o[pos].idx].weight;
	}
}

/* Weighted random order (Efraimidis-Spirakis): sorting by -ln(u)/w puts an
 * RR first with probability proportional to its weight, and so on down. */
static void order_weighted(struct order *o, const struct prep *p, uint64_t *rng)
{
	if (p->n <= WEIGHTED_SMALL) {
		order_weighted_small(o, p, rng);
		return;
	}
	for (uint32_t i = 0; i < p->n; i++) {
		o[i].idx = i;
		o[i].key = -log(rng_unit(rng)) / p->rr[i].weight;
	}
	order_sort(o, p->n);
}

static void order_shuffle(struct order *o, uint32_t n, uint64_t *rng)
{
	for (uint32_t i = 0; i < n; i++) {
		o[i].idx = i;
	}
	for (uint32_t i = n; i > 1; i--) {
		uint32_t j = (uint32_t)(((rng_next(rng) >> 32) * i) >> 32);
		uint32_t t = o[i - 1].idx;
		o[i - 1].idx = o[j].idx;
		o[j].idx = t;
	}
}

/* ---- building prepared RRsets with ldns -------------------------------- */

static void prep_clear(struct prep *p)
{
	free(p->rr);
	free(p->data.p);
	p->rr = NULL;
	p->data = (struct bytes){0};
	p->n = p->cap = 0;
	p->total = 0;
	p->stale = false;
	p->ring_in = p->ring_of = 0;
}

static void prep_free(struct prep *p)
{
	if (p != NULL) {
		prep_clear(p);
		free(p);
	}
}

/*
 * Append the wire form of an RR built from @p rdfs to @p b, without an owner
 * (the owner is written per query, compressed). Takes ownership of the rdfs,
 * also on failure. ldns writes names in RDATA uncompressed here: no
 * compression table is passed, which is what RFC 2782 wants for SRV targets.
 */
static int rr_append(struct bytes *b, ldns_rr_type type, uint32_t ttl, ldns_rdf **rdfs,
		size_t n)
{
	int rc = RS_ENOMEM;
	ldns_buffer *buf = NULL;
	ldns_rr *rr = ldns_rr_new();
	for (size_t i = 0; i < n; i++) {
		if (rr == NULL || rdfs[i] == NULL || !ldns_rr_push_rdf(rr, rdfs[i])) {
			for (size_t j = i; j < n; j++) {
				ldns_rdf_deep_free(rdfs[j]);
			}
			goto out;
		}
	}
	ldns_rr_set_type(rr, type);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
	ldns_rr_set_ttl(rr, ttl);
	buf = ldns_buffer_new(512);
	if (buf == NULL || ldns_rr2buffer_wire(buf, rr, LDNS_SECTION_ANSWER) != LDNS_STATUS_OK) {
		goto out;
	}
	rc = bytes_put(b, ldns_buffer_begin(buf), ldns_buffer_position(buf));
out:
	ldns_buffer_free(buf);
	ldns_rr_free(rr);
	return rc;
}

static ldns_rdf *rdf_dname(const uint8_t *wire, size_t len)
{
	return ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, len, wire);
}

static ldns_rdf *rdf_addr(const struct rs_addr *ad)
{
	if (ad->family == AF_INET) {
		return ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4, ad->bytes);
	}
	return ldns_rdf_new_frm_data(LDNS_RDF_TYPE_AAAA, 16, ad->bytes);
}

/* Start an RR in @p p; its body is what rr_append() adds next. */
static int prep_rr_add(struct prep *p, size_t off, double weight)
{
	if (p->n == p->cap) {
		uint32_t cap = p->cap ? p->cap * 2 : 8;
		struct prep_rr *n = realloc(p->rr, cap * sizeof(*n));
		if (n == NULL) {
			return RS_ENOMEM;
		}
		p->rr = n;
		p->cap = cap;
	}
	size_t len = p->data.len - off;
	if (len > UINT16_MAX) {
		return RS_ERANGE;
	}
	p->rr[p->n++] = (struct prep_rr){
		.off = (uint32_t)off, .len = (uint16_t)len, .weight = weight > 0 ? weight : 1.0 / 64};
	p->total += 2 + len;
	return 0;
}

static int prep_finish(struct answer *a, struct prep *p)
{
	p->uniform = true;
	for (uint32_t i = 1; i < p->n; i++) {
		if (p->rr[i].weight != p->rr[0].weight) {
			p->uniform = false;
		}
	}
	if (p->n > a->order_cap) {
		struct order *o = realloc(a->order, p->n * sizeof(*o));
		if (o == NULL) {
			return RS_ENOMEM;
		}
		a->order = o;
		a->order_cap = p->n;
	}
	a->counters.rebuilds++;
	return 0;
}

static int soa_build(struct answer *a, struct zone *z, uint64_t revision)
{
	prep_clear(&z->soa);
	/* RFC 1982 serial arithmetic: the low 32 bits of the revision. */
	ldns_rdf *r[7] = {
		rdf_dname(a->mname, a->mname_len),
		rdf_dname(a->rname, a->rname_len),
		ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32, (uint32_t)revision),
		ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, SOA_REFRESH),
		ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, SOA_RETRY),
		ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, SOA_EXPIRE),
		ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, z->neg_ttl),
	};
	int rc = rr_append(&z->soa.data, LDNS_RR_TYPE_SOA, a->ttl, r, 7);
	if (rc == 0) {
		rc = prep_rr_add(&z->soa, 0, 1);
	}
	z->soa.tag_rev = revision;
	z->soa_built = rc == 0;
	return rc;
}

/* Is this instance served? STARTING and DOWN are not (SPEC DNS). */
static bool served(const struct store_instance *i)
{
	return i->status == STORE_STATUS_UP;
}

static int cmp_host(const void *x, const void *y)
{
	const struct store_instance *const *a = x, *const *b = y;
	int c = strcmp((*a)->host, (*b)->host);
	return c ? c : (*a < *b ? -1 : *a > *b);
}

static int build_srv(struct answer *a, struct prep *p, const struct store_service *svc)
{
	uint32_t n = 0;
	const struct store_instance **up = malloc((svc->ninstances + 1) * sizeof(*up));
	if (up == NULL) {
		return RS_ENOMEM;
	}
	for (uint32_t i = 0; i < svc->ninstances; i++) {
		if (served(svc->instances[i])) {
			up[n++] = svc->instances[i];
		}
	}
	/* Grouped by host so that each target's addresses go into the additional
	 * section once, attached to the first SRV of that host. */
	qsort(up, n, sizeof(*up), cmp_host);
	int rc = 0;
	for (uint32_t k = 0; k < n && rc == 0; k++) {
		const struct store_instance *in = up[k];
		size_t off = p->data.len;
		ldns_rdf *r[4] = {
			ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, in->priority),
			ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, in->weight),
			ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, in->port),
			rdf_dname(in->host_wire, in->host_wire_len),
		};
		rc = rr_append(&p->data, LDNS_RR_TYPE_SRV, a->ttl, r, 4);
		if (rc == 0) {
			rc = prep_rr_add(p, off, in->weight);
		}
		if (rc != 0) {
			break;
		}
		struct prep_rr *rr = &p->rr[p->n - 1];
		rr->target = SRV_TARGET_OFF;
		rr->target_len = in->host_wire_len;
		p->stale |= in->stale != 0;
		if (k > 0 && strcmp(up[k - 1]->host, in->host) == 0) {
			continue;
		}
		size_t add = p->data.len;
		for (uint8_t j = 0; j < in->naddrs && rc == 0; j++) {
			ldns_rdf *ar = rdf_addr(&in->addrs[j]);
			rc = rr_append(&p->data,
					in->addrs[j].family == AF_INET ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA,
					a->ttl, &ar, 1);
		}
		rr = &p->rr[p->n - 1]; /* unchanged by rr_append, but be explicit */
		rr->add_off = (uint32_t)add;
		rr->add_len = (uint32_t)(p->data.len - add);
	}
	free(up);
	p->shuffle = true;
	return rc;
}

struct addr_weight {
	struct rs_addr addr;
	double weight;
	bool stale;
};

static int cmp_addr_weight(const void *x, const void *y)
{
	return rs_addr_cmp(&((const struct addr_weight *)x)->addr,
			&((const struct addr_weight *)y)->addr);
}

/* A/AAAA of every UP instance of every protocol of the name, deduplicated;
 * an address shared by several instances weighs their sum. */
static int build_addr(struct answer *a, struct prep *p, const struct store_service *first,
		int family)
{
	size_t cap = 0, n = 0;
	for (const struct store_service *s = first; s != NULL; s = s->name_next) {
		for (uint32_t i = 0; i < s->ninstances; i++) {
			cap += s->instances[i]->naddrs;
		}
	}
	struct addr_weight *v = malloc((cap + 1) * sizeof(*v));
	if (v == NULL) {
		return RS_ENOMEM;
	}
	for (const struct store_service *s = first; s != NULL; s = s->name_next) {
		for (uint32_t i = 0; i < s->ninstances; i++) {
			const struct store_instance *in = s->instances[i];
			if (!served(in)) {
				continue;
			}
			for (uint8_t j = 0; j < in->naddrs; j++) {
				if (in->addrs[j].family == family) {
					v[n++] = (struct addr_weight){in->addrs[j], in->weight ? in->weight : 1.0 / 64,
							in->stale != 0};
				}
			}
		}
	}
	qsort(v, n, sizeof(*v), cmp_addr_weight);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		double w = v[i].weight;
		bool stale = v[i].stale;
		while (i + 1 < n && rs_addr_cmp(&v[i].addr, &v[i + 1].addr) == 0) {
			i++;
			w += v[i].weight;
			stale |= v[i].stale;
		}
		size_t off = p->data.len;
		ldns_rdf *r = rdf_addr(&v[i].addr);
		rc = rr_append(&p->data, family == AF_INET ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA, a->ttl,
				&r, 1);
		if (rc == 0) {
			rc = prep_rr_add(p, off, w);
		}
		p->stale |= stale;
	}
	free(v);
	p->shuffle = true;
	p->weighted = true;
	return rc;
}

struct ring_point {
	uint32_t token;
	uint16_t port;
	const struct store_instance *in;
};

static int cmp_ring_point(const void *x, const void *y)
{
	const struct ring_point *a = x, *b = y;
	if (a->token != b->token) {
		return a->token < b->token ? -1 : 1;
	}
	int c = strcmp(a->in->host, b->in->host);
	return c ? c : (a->port > b->port) - (a->port < b->port);
}

/* The ring as one TXT RR, one string per virtual node, sorted by token
 * (common/ring.h defines tokens and the order of equal tokens). */
/* The octets an instance's strings take in the ring's RDATA; 0 when its
 * string would not be a character-string (a host name near 253 octets). */
static size_t ring_instance_len(const struct store_instance *in)
{
	char port[8];
	int plen = snprintf(port, sizeof(port), "%u", in->port);
	/* Per string: "%08x", space, host, space, port. */
	size_t len = 8u + 1u + strlen(in->host) + 1u + (size_t)plen;
	return len > 255 ? 0 : RS_RING_VNODES * (1u + len);
}

static int cmp_ring_instance(const void *x, const void *y)
{
	const struct ring_point *a = x, *b = y;
	if (a->token != b->token) {
		return a->token < b->token ? -1 : 1;
	}
	int c = strcmp(a->in->host, b->in->host);
	if (c != 0) {
		return c;
	}
	/* (host, port) is unique in a service: a total order, whatever qsort does
	 * with equal elements, so every reader picks the same subset. */
	return a->in->port < b->in->port ? -1 : a->in->port > b->in->port;
}

/*
 * The ring of a service: one string per virtual node, in token order, in one
 * TXT record. A service with more instances than one record can hold (about
 * 150 with fleet-style host names) gets the ring of a stable subset of whole
 * instances: those whose vnode-0 token is lowest, as many as fit. Every
 * reader sees the same subset, which changes only by instances joining or
 * leaving it, so DNS readers agree with each other; never a ring cut in the
 * middle of the token space. The answer says so (EDE, partial counter).
 */
static int build_ring(struct answer *a, struct prep *p, const struct store_service *svc)
{
	size_t nin = 0;
	struct ring_point *ins = malloc(((size_t)svc->ninstances + 1) * sizeof(*ins));
	struct ring_point *pts = malloc(((size_t)svc->ninstances * RS_RING_VNODES + 1) * sizeof(*pts));
	if (ins == NULL || pts == NULL) {
		free(ins);
		free(pts);
		return RS_ENOMEM;
	}
	size_t bytes = 0;
	for (uint32_t i = 0; i < svc->ninstances; i++) {
		const struct store_instance *in = svc->instances[i];
		if (!served(in)) {
			continue;
		}
		p->ring_of++;
		size_t len = ring_instance_len(in);
		if (len > 0) {
			ins[nin++] = (struct ring_point){rs_ring_token(in->host, in->port, 0), in->port, in};
			bytes += len;
		}
	}
	if (bytes > RING_RDATA_MAX) {
		qsort(ins, nin, sizeof(*ins), cmp_ring_instance);
		size_t keep = 0;
		bytes = 0;
		while (keep < nin && bytes + ring_instance_len(ins[keep].in) <= RING_RDATA_MAX) {
			bytes += ring_instance_len(ins[keep++].in);
		}
		nin = keep;
	}
	p->ring_in = (uint32_t)nin;
	size_t n = 0;
	for (size_t i = 0; i < nin; i++) {
		const struct store_instance *in = ins[i].in;
		p->stale |= in->stale != 0;
		for (unsigned v = 0; v < RS_RING_VNODES; v++) {
			pts[n++] = (struct ring_point){rs_ring_token(in->host, in->port, v), in->port, in};
		}
	}
	int rc = 0;
	if (n > 0) {
		qsort(pts, n, sizeof(*pts), cmp_ring_point);
		/* Strings go straight into the RDATA; ldns gets them as one rdf each. */
		size_t off = p->data.len;
		uint8_t head[10] = {0, DNSWIRE_TXT, 0, 1};
		uint32_t ttl = a->ttl;
		head[4] = (uint8_t)(ttl >> 24);
		head[5] = (uint8_t)(ttl >> 16);
		head[6] = (uint8_t)(ttl >> 8);
		head[7] = (uint8_t)ttl;
		rc = bytes_put(&p->data, head, sizeof(head));
		size_t rdlen = 0;
		for (size_t i = 0; i < n && rc == 0; i++) {
			char s[300];
			int len = snprintf(s + 1, sizeof(s) - 1, "%08x %s %u", pts[i].token,
					pts[i].in->host, pts[i].port);
			s[0] = (char)len; /* <= 255: ring_instance_len() said so */
			rc = bytes_put(&p->data, s, (size_t)len + 1);
			rdlen += (size_t)len + 1;
		}
		if (rc == 0) {
			dnswire_set16(p->data.p + off + 8, (uint16_t)rdlen);
			rc = prep_rr_add(p, off, 1);
		}
	}
	free(ins);
	free(pts);
	return rc;
}

/* ---- the prepared-answer cache ----------------------------------------- */

/* The key's hash, eight octets per step (a name is read as whole words with
 * one multiply each, then its tail): lookups run on every query. */
static uint64_t hash_key(const uint8_t *name, size_t len, uint16_t qtype)
{
	const uint64_t m = 0x9e3779b97f4a7c15u;
	uint64_t h = (len << 16 | qtype) * m;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, name + i, 8);
		h = (h ^ w) * m;
		h ^= h >> 29;
	}
	uint64_t t = 0;
	memcpy(&t, name + i, len - i);
	h = (h ^ t) * m;
	return h ^ (h >> 32);
}

static void cache_flush(struct answer *a)
{
	for (size_t b = 0; b < a->nbuckets; b++) {
		struct prep *p = a->buckets[b];
		while (p != NULL) {
			struct prep *next = p->next;
			prep_free(p);
			p = next;
		}
		a->buckets[b] = NULL;
	}
	a->nentries = 0;
}

/* Entries exist only for names of services that existed; entries of
 * services that went away linger until the table is flushed, which happens
 * when it holds far more entries than there are services. */
static void cache_trim(struct answer *a)
{
	struct store_sizes sz;
	store_sizes_get(a->store, &sz);
	if (a->nentries > 8 * sz.services + 4096) {
		cache_flush(a);
	}
	if (a->nentries >= a->nbuckets && a->nbuckets < (1u << 20)) {
		size_t nb = a->nbuckets * 2;
		struct prep **b = calloc(nb, sizeof(*b));
		if (b == NULL) {
			return; /* longer chains, still correct */
		}
		for (size_t i = 0; i < a->nbuckets; i++) {
			struct prep *p = a->buckets[i];
			while (p != NULL) {
				struct prep *next = p->next;
				size_t h = hash_key(p->qname, p->qlen, p->qtype) & (nb - 1);
				p->next = b[h];
				b[h] = p;
				p = next;
			}
		}
		free(a->buckets);
		a->buckets = b;
		a->nbuckets = nb;
	}
}

enum prep_kind {
	PREP_SRV,
	PREP_ADDR,
	PREP_RING,
};

/* The link to the entry for the current question's name and @p qtype in
 * its chain (*link is NULL when there is none). */
static struct prep **prep_find(struct answer *a, uint16_t qtype, uint64_t hash)
{
	const struct dnswire_query *q = &a->q;
	struct prep **pp = &a->buckets[hash & (a->nbuckets - 1)];
	for (; *pp != NULL; pp = &(*pp)->next) {
		const struct prep *p = *pp;
		if (p->qtype == qtype && p->qlen == q->qname_len &&
				memcmp(p->qname, q->qname_lower, q->qname_len) == 0) {
			break;
		}
	}
	return pp;
}

/*
 * The prepared RRset for the current question's name and @p qtype if it was
 * found current at the store's present revision, else NULL. Every change to
 * the store moves its revision on (server/registry/store.h), so such an entry is what
 * prep_get() would return after the store lookups: the caller skips them.
 * An entry exists only for a name some service had, so it also answers
 * "does the name exist".
 */
static const struct prep *prep_fresh(struct answer *a, uint16_t qtype)
{
	const struct dnswire_query *q = &a->q;
	const struct prep *p = *prep_find(a, qtype, hash_key(q->qname_lower, q->qname_len, qtype));
	return p != NULL && p->seen_rev == store_revision(a->store) ? p : NULL;
}

/*
 * The prepared RRset for the current question's name and @p qtype, rebuilt
 * if its tag differs from (@p rev, @p tag_n). @return the entry, or NULL when
 * out of memory.
 */
static const struct prep *prep_get(struct answer *a, uint16_t qtype, uint64_t rev, uint64_t tag_n,
		enum prep_kind kind, const struct store_service *svc)
{
	const struct dnswire_query *q = &a->q;
	uint64_t hash = hash_key(q->qname_lower, q->qname_len, qtype);
	struct prep **pp = prep_find(a, qtype, hash);
	if (*pp != NULL) {
		struct prep *p = *pp;
		if (p->tag_rev == rev && p->tag_n == tag_n) {
			p->seen_rev = store_revision(a->store);
			return p;
		}
		*pp = p->next;
		prep_free(p);
		a->nentries--;
	}
	cache_trim(a); /* may flush or grow the table: index it afterwards */
	size_t h = hash & (a->nbuckets - 1);
	struct prep *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		return NULL;
	}
	p->qtype = qtype;
	p->qlen = (uint8_t)q->qname_len;
	memcpy(p->qname, q->qname_lower, q->qname_len);
	p->tag_rev = rev;
	p->tag_n = tag_n;
	p->seen_rev = store_revision(a->store);
	int rc;
	switch (kind) {
	case PREP_SRV:
		rc = build_srv(a, p, svc);
		break;
	case PREP_ADDR:
		rc = build_addr(a, p, svc, qtype == DNSWIRE_A ? AF_INET : AF_INET6);
		break;
	default:
		rc = build_ring(a, p, svc);
		break;
	}
	if (rc == 0) {
		rc = prep_finish(a, p);
	}
	if (rc != 0) {
		prep_free(p);
		return NULL;
	}
	p->next = a->buckets[h];
	a->buckets[h] = p;
	a->nentries++;
	return p;
}

/* ---- writing responses ------------------------------------------------- */

struct reply {
	struct dnswire_writer w;
	size_t limit;        /* room for records: the message limit minus the OPT */
	uint16_t flags;
	uint16_t rcode;      /* extended */
	uint16_t an, ns, ar;
	bool stale;
	bool opt;
	bool cookie;         /* the OPT carries our COOKIE (a->cookie) */
	uint32_t ring_in, ring_of; /* a partial ring: EDE "Other" saying how partial */
	uint16_t keepalive;  /* RFC 7828 TIMEOUT to send, 100 ms units; 0: none */
	size_t question_end;
};

static void reply_begin(struct answer *a, struct reply *r, const uint8_t *msg, uint8_t *out,
		size_t cap, bool question, bool aa)
{
	const struct dnswire_query *q = &a->q;
	dnswire_writer_init(&r->w, out, cap);
	/* RFC 1035 4.1.1: id copied; opcode and RD echoed; RFC 4035 3.1.6: CD too. */
	r->flags = (uint16_t)(DNSWIRE_QR | (q->flags & (0x7800u | DNSWIRE_RD | DNSWIRE_CD)) |
			(aa ? DNSWIRE_AA : 0));
	r->an = r->ns = r->ar = 0;
	r->stale = false;
	r->ring_in = r->ring_of = 0;
	r->cookie = a->cookie_send;
	r->keepalive = 0;
	uint8_t h[DNSWIRE_HEADER] = {0};
	dnswire_set16(h, q->id);
	dnswire_put(&r->w, h, sizeof(h));
	if (question) {
		dnswire_put(&r->w, msg + DNSWIRE_HEADER, q->question_end - DNSWIRE_HEADER);
	}
	r->question_end = r->w.len;
}

static void reply_end(struct answer *a, struct reply *r, struct answer_result *res)
{
	const struct dnswire_query *q = &a->q;
	if (r->opt) {
		/* RFC 6891 6.1.2/6.1.3: our payload size, extended rcode, version 0,
		 * DO copied (RFC 3225 3). */
		uint8_t o[OPT_LEN + 2 * EDE_LEN + EDE_TEXT_MAX + KEEPALIVE_LEN + COOKIE_LEN] = {
				0, 0, DNSWIRE_OPT};
		dnswire_set16(o + 3, a->udp_max);
		o[5] = (uint8_t)(r->rcode >> 4);
		o[7] = q->do_bit ? 0x80 : 0;
		size_t n = OPT_LEN;
		if (r->stale) {
			dnswire_set16(o + n, DNSWIRE_OPT_EDE);
			dnswire_set16(o + n + 2, 2);
			dnswire_set16(o + n + 4, EDE_STALE_ANSWER);
			n += EDE_LEN;
			a->counters.stale++;
		}
		if (r->ring_of != 0) {
			char text[EDE_TEXT_MAX + 1];
			int len = snprintf(text, sizeof(text),
					"ring of %u of %u instances; the whole ring is in the API",
					r->ring_in, r->ring_of);
			len = len < 0 ? 0 : len > (int)EDE_TEXT_MAX ? (int)EDE_TEXT_MAX : len;
			dnswire_set16(o + n, DNSWIRE_OPT_EDE);
			dnswire_set16(o + n + 2, (uint16_t)(2 + len));
			dnswire_set16(o + n + 4, EDE_OTHER);
			memcpy(o + n + EDE_LEN, text, (size_t)len);
			n += EDE_LEN + (size_t)len;
		}
		if (r->keepalive != 0) {
			dnswire_set16(o + n, DNSWIRE_OPT_KEEPALIVE);
			dnswire_set16(o + n + 2, 2);
			dnswire_set16(o + n + 4, r->keepalive);
			n += KEEPALIVE_LEN;
		}
		if (r->cookie) {
			/* RFC 7873 5.2: the client cookie as sent, then ours. */
			dnswire_set16(o + n, DNSWIRE_OPT_COOKIE);
			dnswire_set16(o + n + 2, COOKIE_CLIENT_LEN + COOKIE_SERVER_LEN);
			memcpy(o + n + 4, a->cookie_client, COOKIE_CLIENT_LEN);
			memcpy(o + n + 4 + COOKIE_CLIENT_LEN, a->cookie, COOKIE_SERVER_LEN);
			n += COOKIE_LEN;
		}
		dnswire_set16(o + 9, (uint16_t)(n - OPT_LEN));
		/* Room was reserved by the caller; the writer's cap still guards. */
		dnswire_put(&r->w, o, n);
		if (!r->w.overflow) {
			r->ar++;
		}
	}
	uint8_t *h = r->w.buf;
	dnswire_set16(h + 2, (uint16_t)(r->flags | (r->rcode & 0xf)));
	dnswire_set16(h + 4, r->question_end > DNSWIRE_HEADER ? 1 : 0);
	dnswire_set16(h + 6, r->an);
	dnswire_set16(h + 8, r->ns);
	dnswire_set16(h + 10, r->ar);
	res->action = ANSWER_SEND;
	res->len = r->w.len;
	res->rcode = r->rcode;
	res->truncated = (r->flags & DNSWIRE_TC) != 0;
	a->counters.responses[r->rcode < 24 ? r->rcode : 23]++;
	if (res->truncated) {
		a->counters.truncated++;
	}
}

/* An error reply: header, the question when it was parsed, OPT when the
 * query had one (RFC 6891 7: also for OPT-processing errors). */
static void reply_error(struct answer *a, const uint8_t *msg, uint8_t *out, size_t cap,
		uint16_t rcode, bool question, struct answer_result *res)
{
	struct reply r;
	reply_begin(a, &r, msg, out, cap, question, false);
	r.rcode = rcode;
	r.opt = a->q.has_opt;
	reply_end(a, &r, res);
}

/* The order of a prepared RRset for this query, and how many RRs fit. */
static uint32_t answer_order(struct answer *a, const struct prep *p, const struct reply *r,
		const struct answer_client *c, bool *partial)
{
	struct order *o = a->order;
	size_t room = r->limit - r->w.len;
	*partial = p->total > room;
	if (*partial) {
		/* Only over TCP (the caller truncates UDP): a weighted random subset;
		 * with stable subsets, seeded by the client address and the revision
		 * of the set, so a client sees the same subset until the set changes. */
		uint64_t seed = a->rng;
		if (a->stable && c->addr != NULL) {
			seed = p->tag_rev * 0x9e3779b97f4a7c15u;
			const uint8_t *b = (const uint8_t *)c->addr;
			/* the address bytes only: a new connection has a new port */
			size_t from = c->addr->sa_family == AF_INET6
					? offsetof(struct sockaddr_in6, sin6_addr)
					: offsetof(struct sockaddr_in, sin_addr);
			size_t to = c->addr->sa_family == AF_INET6 ? from + 16 : from + 4;
			for (size_t i = from; i < to; i++) {
				seed = (seed ^ b[i]) * 0x100000001b3u;
			}
			order_weighted(o, p, &seed);
		} else {
			order_weighted(o, p, &a->rng);
		}
		uint32_t k = 0;
		size_t used = 0;
		while (k < p->n && used + 2 + p->rr[o[k].idx].len <= room) {
			used += 2 + p->rr[o[k].idx].len;
			k++;
		}
		return k;
	}
	if (p->shuffle && p->n > 1) {
		if (p->weighted && !p->uniform) {
			order_weighted(o, p, &a->rng);
		} else {
			order_shuffle(o, p->n, &a->rng);
		}
	} else {
		for (uint32_t i = 0; i < p->n; i++) {
			o[i].idx = i;
		}
	}
	return p->n;
}

/* Write a prepared RRset into the answer section: UDP answers that do not
 * fit become TC=1 with no records; TCP ones a subset. */
static void write_rrset(struct answer *a, struct reply *r, const struct prep *p,
		const struct answer_client *c, struct answer_result *res)
{
	bool stale = p->stale && a->q.opt_ok;
	if (stale) {
		r->limit -= EDE_LEN; /* the EDE option will go into the OPT */
	}
	bool partial_ring = p->ring_in < p->ring_of;
	if (partial_ring && a->q.opt_ok) {
		r->limit -= EDE_LEN + EDE_TEXT_MAX; /* room for the EDE saying so */
	}
	if (p->total > r->limit - r->w.len && c->transport == ANSWER_UDP) {
		/* RFC 2181 9 / RFC 7766: TC=1, no records, the resolver retries on TCP. */
		r->flags |= DNSWIRE_TC;
		return;
	}
	if (r->w.overflow) {
		return; /* cannot happen: the header and question always fit in 512 */
	}
	r->stale = stale;
	if (partial_ring) {
		/* A ring of a subset of the instances: say so, as for any partial
		 * answer, and in an EDE the person at dig can read. */
		res->partial = true;
		a->counters.partial++;
		if (a->q.opt_ok) {
			r->ring_in = p->ring_in;
			r->ring_of = p->ring_of;
		}
	}
	bool partial;
	uint32_t k = answer_order(a, p, r, c, &partial);
	struct order *o = a->order;
	/* The k RRs fit (the whole set was checked against the room above, or
	 * answer_order() chose k to fit it), and the room is inside the writer's
	 * cap: copy them without a bound check per RR. */
	uint8_t *out = r->w.buf;
	size_t len = r->w.len;
	for (uint32_t i = 0; i < k; i++) {
		const struct prep_rr *rr = &p->rr[o[i].idx];
		o[i].pos = (uint32_t)(len + 2);
		dnswire_set16(out + len, QNAME_PTR);
		memcpy(out + len + 2, p->data.p + rr->off, rr->len);
		len += 2u + rr->len;
	}
	assert(len <= r->limit && r->limit <= r->w.cap);
	r->w.len = len;
	r->an = (uint16_t)k;
	if (partial) {
		res->partial = true;
		a->counters.partial++;
	}
	if (p->qtype != DNSWIRE_SRV) {
		return; /* only SRV targets have additional data */
	}
	/* Additional section: A/AAAA of SRV targets while they fit (RFC 2181 9:
	 * dropping additional data never sets TC). Owners point at the target in
	 * the SRV RDATA when it lies within pointer reach. Each record is checked
	 * against the limit before it is copied. */
	for (uint32_t i = 0; i < k; i++) {
		const struct prep_rr *rr = &p->rr[o[i].idx];
		const uint8_t *ab = p->data.p + rr->add_off;
		size_t left = rr->add_len;
		size_t tpos = o[i].pos + rr->target;
		const uint8_t *tname = p->data.p + rr->off + rr->target;
		size_t tlen = rr->target_len;
		while (left >= 10) {
			size_t blen = 10u + dnswire_get16(ab + 8);
			size_t olen = tpos <= PTR_MAX ? 2 : tlen;
			if (len + olen + blen > r->limit) {
				r->w.len = len;
				return;
			}
			if (tpos <= PTR_MAX) {
				dnswire_set16(out + len, (uint16_t)(0xc000u | tpos));
			} else {
				memcpy(out + len, tname, tlen);
			}
			memcpy(out + len + olen, ab, blen);
			len += olen + blen;
			r->ar++;
			ab += blen;
			left -= blen;
		}
	}
	r->w.len = len;
}

/* SOA of @p z in the authority section (RFC 2308 3: TTL = SOA minimum). */
static void write_negative(struct answer *a, struct reply *r, const struct zone *z)
{
	const struct dnswire_query *q = &a->q;
	uint16_t apex = (uint16_t)(DNSWIRE_HEADER + (q->nlabels > z->nlabels
			? q->label_off[q->nlabels - z->nlabels] : 0));
	size_t at = r->w.len;
	if (at + 2 + z->soa.data.len > r->limit) {
		/* Only with very long NS names and a 512-octet limit: the SOA is
		 * optional data here, the rcode says it all. */
		return;
	}
	dnswire_put16(&r->w, (uint16_t)(0xc000u | apex));
	dnswire_put(&r->w, z->soa.data.p, z->soa.data.len);
	if (!r->w.overflow) {
		uint8_t *ttl = r->w.buf + at + 2 + 4;
		ttl[0] = (uint8_t)(z->neg_ttl >> 24);
		ttl[1] = (uint8_t)(z->neg_ttl >> 16);
		ttl[2] = (uint8_t)(z->neg_ttl >> 8);
		ttl[3] = (uint8_t)z->neg_ttl;
		r->ns = 1;
	}
}

/* _status TXT: built per query from live counts (it is a monitoring record). */
static void write_status(struct answer *a, struct reply *r)
{
	struct store_sizes sz;
	store_sizes_get(a->store, &sz);
	char s[6][64];
	int n[6];
	n[0] = snprintf(s[0], sizeof(s[0]), "mode=%s",
			store_preserving(a->store) ? "preserving" : "normal");
	n[1] = snprintf(s[1], sizeof(s[1]), "revision=%llu",
			(unsigned long long)store_revision(a->store));
	n[2] = snprintf(s[2], sizeof(s[2]), "leases=%llu", (unsigned long long)sz.leases);
	n[3] = snprintf(s[3], sizeof(s[3]), "instances=%llu", (unsigned long long)sz.instances);
	n[4] = snprintf(s[4], sizeof(s[4]), "up=%llu", (unsigned long long)sz.up);
	n[5] = snprintf(s[5], sizeof(s[5]), "stale=%llu", (unsigned long long)sz.stale);
	size_t rdlen = 0;
	for (int i = 0; i < 6; i++) {
		rdlen += 1u + (size_t)n[i];
	}
	dnswire_put16(&r->w, QNAME_PTR);
	dnswire_put16(&r->w, DNSWIRE_TXT);
	dnswire_put16(&r->w, 1);
	dnswire_put32(&r->w, 0); /* monitors want it fresh */
	dnswire_put16(&r->w, (uint16_t)rdlen);
	for (int i = 0; i < 6; i++) {
		uint8_t len = (uint8_t)n[i];
		dnswire_put(&r->w, &len, 1);
		dnswire_put(&r->w, s[i], (size_t)n[i]);
	}
	r->an = 1;
}

/* ---- classification ---------------------------------------------------- */

static const uint8_t *label_at(const struct dnswire_query *q, unsigned i)
{
	return q->qname_lower + q->label_off[i];
}

static bool label_is(const uint8_t *l, const char *text)
{
	size_t n = strlen(text);
	return l[0] == n && memcmp(l + 1, text, n) == 0;
}

static const struct zone *zone_match(const struct answer *a, const struct dnswire_query *q)
{
	const struct zone *best = NULL;
	for (size_t i = 0; i < a->nzones; i++) {
		const struct zone *z = &a->zones[i];
		if (q->nlabels < z->nlabels || (best != NULL && best->nlabels >= z->nlabels)) {
			continue;
		}
		size_t off = q->nlabels == z->nlabels ? 0 : q->label_off[q->nlabels - z->nlabels];
		if (q->qname_len - off == z->len && memcmp(q->qname_lower + off, z->wire, z->len) == 0) {
			best = z;
		}
	}
	return best;
}

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
	store_service_foreach(a->store, proto_find_cb, &f);
	return f.found;
}

static void soa_refresh(struct answer *a, struct zone *z)
{
	uint64_t rev = store_revision(a->store);
	if (!z->soa_built || z->soa.tag_rev != rev) {
		if (soa_build(a, z, rev) != 0) {
			z->soa_built = false;
		}
	}
}

/* Answer a question in the report zone (SPEC: Client error reports). */
static bool report_query(struct answer *a, const struct zone *z,
		const struct answer_client *c, uint64_t now_ms, struct answer_result *res)
{
	const struct dnswire_query *q = &a->q;
	unsigned nrel = q->nlabels - z->nlabels;
	if (a->report != NULL && !report_admit(a->report, c->addr, now_ms)) {
		return false;
	}
	bool ok = nrel == 4;
	for (unsigned i = 0; ok && i < 4; i++) {
		const uint8_t *l = label_at(q, i);
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

static enum answer_qtype_bucket qtype_bucket(uint16_t t)
{
	switch (t) {
	case DNSWIRE_A: return ANSWER_Q_A;
	case DNSWIRE_AAAA: return ANSWER_Q_AAAA;
	case DNSWIRE_SRV: return ANSWER_Q_SRV;
	case DNSWIRE_TXT: return ANSWER_Q_TXT;
	case DNSWIRE_SOA: return ANSWER_Q_SOA;
	case DNSWIRE_NS: return ANSWER_Q_NS;
	case DNSWIRE_ANY: return ANSWER_Q_ANY;
	default: return ANSWER_Q_OTHER;
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

void answer_process(struct answer *a, const uint8_t *msg, size_t qlen,
		const struct answer_client *c, uint64_t now_ms, uint8_t *out, size_t outcap,
		struct answer_result *res)
{
	struct dnswire_query *q = &a->q;
	memset(res, 0, sizeof(*res));
	a->cookie_send = false;
	enum dnswire_verdict v = dnswire_query_check(msg, qlen, q);
	if (v == DNSWIRE_DROP) {
		a->counters.dropped++;
		res->action = ANSWER_DROP;
		return;
	}
	if (v == DNSWIRE_COOKIE_ONLY && !a->cookies) {
		v = DNSWIRE_REPLY_FORMERR; /* what a server without cookies says (RFC 7873 5.4) */
	}
	if (v != DNSWIRE_OK && v != DNSWIRE_COOKIE_ONLY) {
		if (!error_admit(a, now_ms)) {
			a->counters.dropped++;
			a->counters.error_limited++;
			res->action = ANSWER_DROP;
			return;
		}
		/* NOTIMP (RFC 1035 4.1.1) and FORMERR: header only, no question. */
		reply_error(a, msg, out, outcap,
				v == DNSWIRE_REPLY_NOTIMP ? DNSWIRE_NOTIMP : DNSWIRE_FORMERR, false, res);
		return;
	}
	a->counters.queries[qtype_bucket(q->qtype)][c->transport]++;
	if (q->opt_ok && q->cookie_len > 0 && a->cookies) {
		/* Every reply from here on carries the cookie (RFC 7873 5.2). */
		memcpy(a->cookie_client, msg + q->cookie_off, COOKIE_CLIENT_LEN);
		enum cookie_result cr = cookie_check(&a->cookie_secrets, msg + q->cookie_off,
				q->cookie_len, c->addr, c->wall_s, a->cookie);
		a->counters.cookies[cr]++;
		a->cookie_send = true;
	}
	bool question = v != DNSWIRE_COOKIE_ONLY;
	if (q->opt_ok && q->edns_version > 0) {
		reply_error(a, msg, out, outcap, DNSWIRE_BADVERS, question, res); /* RFC 6891 6.1.3 */
		return;
	}
	if (q->has_tsig) {
		/* We hold no TSIG keys: RFC 8945 5.2 "key not known" -> NOTAUTH. */
		reply_error(a, msg, out, outcap, DNSWIRE_NOTAUTH, question, res);
		return;
	}
	if (!question) {
		/* RFC 7873 5.4: a cookie-only query learns the server cookie. */
		reply_error(a, msg, out, outcap, DNSWIRE_NOERROR, false, res);
		return;
	}
	const struct zone *z = q->qclass == LDNS_RR_CLASS_IN ? zone_match(a, q) : NULL;
	if (z == NULL) {
		reply_error(a, msg, out, outcap, DNSWIRE_REFUSED, true, res);
		return;
	}
	if (q->qtype == DNSWIRE_AXFR || q->qtype == DNSWIRE_IXFR) {
		/* No transfers yet: RFC 5936 4.2 FORMERR over UDP, refused over TCP. */
		reply_error(a, msg, out, outcap,
				c->transport == ANSWER_UDP ? DNSWIRE_FORMERR : DNSWIRE_REFUSED, true, res);
		return;
	}
	soa_refresh(a, (struct zone *)z);
	if (!z->soa_built) {
		reply_error(a, msg, out, outcap, DNSWIRE_SERVFAIL, true, res);
		return;
	}

	struct reply r;
	size_t limit = 65535;
	if (c->transport == ANSWER_UDP) {
		/* RFC 6891 6.2.5: under 512 means 512; capped at our maximum. */
		limit = 512;
		if (q->opt_ok && q->edns_udp > 512) {
			limit = q->edns_udp < a->udp_max ? q->edns_udp : a->udp_max;
		}
	}
	if (limit > outcap) {
		limit = outcap;
	}
	reply_begin(a, &r, msg, out, limit, true, true);
	r.opt = q->opt_ok;
	r.rcode = DNSWIRE_NOERROR;
	if (r.opt && q->keepalive && c->transport == ANSWER_TCP) {
		r.keepalive = c->keepalive; /* RFC 7828 3.3.2; never over UDP (3.2.1) */
	}
	/* Room for the OPT record and the options it will carry; EDE is added
	 * by write_rrset() when the RRset has stale instances. */
	r.limit = limit - (r.opt ? OPT_LEN : 0) - (r.keepalive ? KEEPALIVE_LEN : 0) -
			(r.cookie ? COOKIE_LEN : 0);

	unsigned nrel = q->nlabels - z->nlabels;
	uint16_t qtype = q->qtype;
	const struct prep *p = NULL;
	bool exists = false;

	if (nrel == 0) {
		exists = true;
		if (qtype == DNSWIRE_SOA || qtype == DNSWIRE_ANY) {
			p = &z->soa; /* RFC 8482 4.2: one RRset is a minimal ANY answer */
		} else if (qtype == DNSWIRE_NS) {
			p = &z->ns;
		}
	} else if (z->report) {
		if (!report_query(a, z, c, now_ms, res)) {
			a->counters.dropped++;
			res->action = ANSWER_DROP;
			return;
		}
	} else if (nrel == 1 && label_is(label_at(q, 0), "_status")) {
		exists = true;
		if (qtype == DNSWIRE_TXT || qtype == DNSWIRE_ANY) {
			write_status(a, &r);
		}
	} else if (nrel == 1 && label_at(q, 0)[1] == '_') {
		exists = proto_exists(a, label_at(q, 0));
	} else if (nrel == 1 && (qtype == DNSWIRE_A || qtype == DNSWIRE_AAAA) &&
			(p = prep_fresh(a, qtype)) != NULL) {
		exists = true; /* nothing changed since it was built or checked */
	} else if (nrel == 1) {
		const uint8_t *l = label_at(q, 0);
		const struct store_service *s = store_service_find_name(a->store, (const char *)l + 1,
				l[0]);
		exists = s != NULL;
		if (exists && qtype == DNSWIRE_ANY) {
			qtype = DNSWIRE_A;
		}
		if (exists && (qtype == DNSWIRE_A || qtype == DNSWIRE_AAAA)) {
			uint64_t n;
			uint64_t rev = max_rev(s, &n);
			p = prep_get(a, qtype, rev, n, PREP_ADDR, s);
			if (p != NULL && p->n == 0 && q->qtype == DNSWIRE_ANY) {
				p = prep_get(a, DNSWIRE_AAAA, rev, n, PREP_ADDR, s);
			}
			if (p == NULL) {
				goto servfail;
			}
		}
	} else if (nrel == 2 && qtype == DNSWIRE_SRV && (p = prep_fresh(a, qtype)) != NULL) {
		exists = true;
	} else if (nrel == 2 || (nrel == 3 && label_is(label_at(q, 0), "_ring"))) {
		const uint8_t *ls = label_at(q, nrel - 2);
		const uint8_t *lp = label_at(q, nrel - 1);
		const struct store_service *s = NULL;
		if (ls[0] >= 2 && ls[1] == '_' && lp[0] >= 2 && lp[1] == '_') {
			s = store_service_find(a->store, (const char *)ls + 2, ls[0] - 1u,
					(const char *)lp + 2, lp[0] - 1u);
		}
		exists = s != NULL;
		uint16_t want = nrel == 2 ? DNSWIRE_SRV : DNSWIRE_TXT;
		if (exists && (qtype == want || qtype == DNSWIRE_ANY)) {
			p = prep_get(a, want, s->revision, 0, nrel == 2 ? PREP_SRV : PREP_RING, s);
			if (p == NULL) {
				goto servfail;
			}
		}
	}

	if (p != NULL && p->n > 0) {
		write_rrset(a, &r, p, c, res);
	} else if (r.an == 0) {
		if (!exists) {
			r.rcode = DNSWIRE_NXDOMAIN;
		}
		write_negative(a, &r, z);
	}
	reply_end(a, &r, res);
	return;
servfail:
	reply_error(a, msg, out, outcap, DNSWIRE_SERVFAIL, true, res);
}

/* ---- life cycle -------------------------------------------------------- */

static int zone_init(struct answer *a, struct zone *z, const char *name, uint32_t neg_ttl,
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
	for (size_t i = 0; i < cfg->nns; i++) {
		uint8_t w[RS_NAME_WIRE_MAX];
		int wl = rs_name_to_wire(cfg->ns[i], RS_NAME_NUMERIC_TOP, w);
		if (wl < 0) {
			return RS_EINVAL;
		}
		size_t off = z->ns.data.len;
		ldns_rdf *r = rdf_dname(w, (size_t)wl);
		int rc = rr_append(&z->ns.data, LDNS_RR_TYPE_NS, a->ttl, &r, 1);
		if (rc == 0) {
			rc = prep_rr_add(&z->ns, off, 1);
		}
		if (rc != 0) {
			return rc;
		}
	}
	return prep_finish(a, &z->ns);
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
	a->err_tokens = ERROR_RATE;
	if (getrandom(&a->rng, sizeof(a->rng), 0) != sizeof(a->rng)) {
		a->rng = (uint64_t)(uintptr_t)a ^ 0x2545f4914f6cdd1du;
	}
	a->nbuckets = 256;
	a->buckets = calloc(a->nbuckets, sizeof(*a->buckets));
	if (a->buckets == NULL) {
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
		cache_flush(a);
		a->zones[0].soa_built = a->zones[1].soa_built = false;
	}
}

void answer_free(struct answer *a)
{
	if (a == NULL) {
		return;
	}
	if (a->buckets != NULL) {
		cache_flush(a);
	}
	free(a->buckets);
	for (size_t i = 0; i < 2; i++) {
		prep_clear(&a->zones[i].soa);
		prep_clear(&a->zones[i].ns);
	}
	free(a->order);
	explicit_bzero(&a->cookie_secrets, sizeof(a->cookie_secrets));
	free(a);
}

const struct answer_counters *answer_counters_get(const struct answer *a)
{
	return &a->counters;
}
