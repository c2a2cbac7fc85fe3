/*
 * The published versions of the services zone (server/dns/xfr_zone.h): the
 * current version's RRsets in a hash table, rebuilt per changed service
 * with the answer engine's builders, each rebuilt RRset compared with the
 * published one into the version's changeset.
 */
#include "server/dns/xfr_zone.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hash.h"
#include "common/wire.h"
#include "server/dns/answer_internal.h"
#include "server/registry/store.h"

#define BUCKETS_MIN 256u

struct xfr_zone {
	const struct store *store;
	struct answer *b; /* a private engine: its builders and order scratch */
	struct answer_published pub;
	bool have;     /* a version is published */
	bool need_all; /* the next version rebuilds every service */
	uint64_t rev;  /* the store's revision and reloads at the version */
	uint64_t gen;
	struct xfr_rrset **buckets;
	size_t nbuckets; /* a power of two */
	size_t nrrsets;
	uint8_t soa[2 * RS_NAME_WIRE_MAX + 40];
	size_t soa_len;
	size_t soa_serial_off;
	struct xfr_journal journal;
	struct xfr_zone_counters counters;
	struct rs_lockset *lock; /* xfr_zone_set_lock() */
};

/* A service key the store's journal named. */
struct svc_key {
	char name[RS_LABEL_MAX + 1];
	char proto[RS_LABEL_MAX + 1];
};

/* An RR body (type, class, TTL, RDLENGTH, RDATA). */
struct body {
	const uint8_t *p;
	size_t len;
};

/* ---- the table ------------------------------------------------------------- */

/* The bucket of an RRset. Kept as it was (FNV-1a seeded with the type, no
 * finaliser) although only a table index: xfr_zone_foreach() walks the
 * buckets in order, so it decides the order of RRsets in an AXFR. */
static uint64_t rrset_hash(const uint8_t *owner, size_t len, uint16_t type)
{
	return rs_fnv1a64(RS_FNV1A64_BASIS ^ type, owner, len);
}

static struct xfr_rrset **rrset_slot(
		struct xfr_zone *z, const uint8_t *owner, size_t len, uint16_t type)
{
	struct xfr_rrset **pp = &z->buckets[rrset_hash(owner, len, type) & (z->nbuckets - 1)];
	for (; *pp != NULL; pp = &(*pp)->next) {
		const struct xfr_rrset *r = *pp;
		if (r->type == type && r->owner_len == len && memcmp(r->owner, owner, len) == 0) {
			break;
		}
	}
	return pp;
}

static void rrset_free(struct xfr_rrset *r)
{
	if (r != NULL) {
		free(r->off);
		rs_buf_deinit(&r->data);
		free(r);
	}
}

/* Double the table when it holds more RRsets than buckets (best effort). */
static void table_grow(struct xfr_zone *z)
{
	if (z->nrrsets < z->nbuckets) {
		return;
	}
	size_t n = z->nbuckets * 2;
	struct xfr_rrset **b = calloc(n, sizeof(*b));
	if (b == NULL) {
		return; /* longer chains */
	}
	for (size_t i = 0; i < z->nbuckets; i++) {
		for (struct xfr_rrset *r = z->buckets[i], *next; r != NULL; r = next) {
			next = r->next;
			struct xfr_rrset **pp =
					&b[rrset_hash(r->owner, r->owner_len, r->type) & (n - 1)];
			r->next = *pp;
			*pp = r;
		}
	}
	free(z->buckets);
	z->buckets = b;
	z->nbuckets = n;
}

static int body_cmp(const void *x, const void *y)
{
	const struct body *a = x, *b = y;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->p, b->p, n);
	return c != 0 ? c : (a->len > b->len) - (a->len < b->len);
}

/* Octets of one RR in the unit of struct xfr_diff. */
static size_t rr_size(size_t owner_len, size_t body_len)
{
	return 2 + owner_len + body_len;
}

/* The RRs of @p old missing from @p v (deletions) and those of @p v missing
 * from @p old (additions), into the changeset @p cs; both sorted. */
static void rrset_diff(struct xfr_zone *z, const struct xfr_rrset *old, const struct body *v,
		size_t n, const uint8_t *owner, size_t olen, struct rs_buf *cs)
{
	uint32_t i = 0;
	size_t j = 0;
	uint32_t on = old != NULL ? old->n : 0;
	while (i < on || j < n) {
		struct body o = {0};
		if (i < on) {
			o.p = (const uint8_t *)old->data.data + old->off[i];
			o.len = xfr_body_len(o.p);
		}
		int c = i == on ? 1 : j == n ? -1 : body_cmp(&o, &v[j]);
		if (c < 0) {
			xfr_changeset_put(cs, XFR_RR_DEL, owner, olen, o.p, o.len);
			z->counters.zone_bytes -= rr_size(olen, o.len);
			i++;
		} else if (c > 0) {
			xfr_changeset_put(cs, XFR_RR_ADD, owner, olen, v[j].p, v[j].len);
			z->counters.zone_bytes += rr_size(olen, v[j].len);
			j++;
		} else {
			i++;
			j++;
		}
	}
}

/* Make the RRset (owner, type) hold the @p n bodies of @p v (any order,
 * duplicates allowed), recording the difference in @p cs. */
static int rrset_set(struct xfr_zone *z, const uint8_t *owner, size_t olen, uint16_t type,
		struct body *v, size_t n, bool partial, struct rs_buf *cs)
{
	if (n > 0) { /* v is NULL for a deletion */
		qsort(v, n, sizeof(*v), body_cmp);
	}
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (m == 0 || body_cmp(&v[m - 1], &v[i]) != 0) {
			v[m++] = v[i];
		}
	}
	struct xfr_rrset **pp = rrset_slot(z, owner, olen, type);
	struct xfr_rrset *r = *pp;
	struct xfr_rrset *nr = NULL;
	if (m > 0) {
		nr = calloc(1, sizeof(*nr));
		if (nr == NULL || (nr->off = malloc(m * sizeof(*nr->off))) == NULL) {
			rrset_free(nr);
			return RS_ENOMEM;
		}
		for (size_t i = 0; i < m; i++) {
			nr->off[i] = (uint32_t)nr->data.len;
			rs_buf_add(&nr->data, v[i].p, v[i].len);
		}
		if (rs_buf_error(&nr->data) != 0) {
			rrset_free(nr);
			return RS_ENOMEM;
		}
		nr->type = type;
		nr->owner_len = (uint8_t)olen;
		memcpy(nr->owner, owner, olen);
		nr->n = (uint32_t)m;
		nr->partial = partial;
		nr->seen = true;
	}
	rrset_diff(z, r, v, m, owner, olen, cs);
	if (r != NULL) {
		*pp = r->next;
		rrset_free(r);
		z->nrrsets--;
	}
	if (nr != NULL) {
		nr->next = *pp;
		*pp = nr;
		z->nrrsets++;
		table_grow(z);
	}
	return rs_buf_error(cs);
}

/* ---- building ---------------------------------------------------------------- */

/* "_<a>._<b>" (or "<a>" alone) as wire labels after @p prefix. */
static size_t rel_name(uint8_t *w, const char *prefix, const char *a, const char *b)
{
	size_t n = 0;
	if (prefix != NULL) {
		size_t l = strlen(prefix);
		w[n++] = (uint8_t)l;
		memcpy(w + n, prefix, l);
		n += l;
	}
	const char *parts[2] = {a, b};
	for (int i = 0; i < 2 && parts[i] != NULL; i++) {
		size_t l = strlen(parts[i]);
		bool under = b != NULL;
		w[n++] = (uint8_t)(l + under);
		if (under) {
			w[n++] = '_';
		}
		memcpy(w + n, parts[i], l);
		n += l;
	}
	return n;
}

/* An RR's place in a weighted order (Efraimidis-Spirakis: -ln(u)/w) with
 * u drawn from a hash of the RR itself, not from a sequence: an RR keeps its
 * key whatever else joins or leaves the set, so a change to a large set
 * moves its subset by the RRs that changed and the few at the margin, and
 * the difference IXFR carries stays small. */
struct keyed {
	double key;
	uint32_t idx;
};

static int keyed_cmp(const void *x, const void *y)
{
	const struct keyed *a = x, *b = y;
	return (a->key > b->key) - (a->key < b->key);
}

/* The subset of @p p that fits in @p room, by the keys above, into @p v.
 * @return how many RRs, or -1 when out of memory. */
static long subset_pick(const struct answer_prep *p, size_t room, struct body *v)
{
	struct keyed *k = malloc((p->n + 1) * sizeof(*k));
	if (k == NULL) {
		return -1;
	}
	for (uint32_t i = 0; i < p->n; i++) {
		const uint8_t *b = (const uint8_t *)p->data.data + p->rr[i].off;
		/* FNV-1a, then half of fmix64: every secondary gets this subset,
		 * so the values must not change (common/hash.h). */
		uint64_t h = rs_fmix64_half(rs_fnv1a64(RS_FNV1A64_BASIS, b, p->rr[i].len));
		double u = ((double)(h >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
		k[i] = (struct keyed){-log(u) / p->rr[i].weight, i};
	}
	qsort(k, p->n, sizeof(*k), keyed_cmp);
	size_t used = 0;
	long n = 0;
	for (uint32_t i = 0; i < p->n && used + 2 + p->rr[k[i].idx].len <= room; i++) {
		const struct answer_prep_rr *rr = &p->rr[k[i].idx];
		used += 2 + rr->len;
		v[n++] = (struct body){(const uint8_t *)p->data.data + rr->off, rr->len};
	}
	free(k);
	return n;
}

/* Rebuild one RRset from the store: @p kind of @p svc (NULL: gone), the
 * stable subset a secondary can answer when it is too large. */
/* rrset_build() of part @p tag_n of an RRset (a ring's shard,
 * answer_build_rrset()); sets @p shards (when not NULL) to the ring's shard
 * count. */
static int rrset_build_part(struct xfr_zone *z, enum answer_prep_kind kind, uint16_t qtype,
		uint64_t rev, uint64_t tag_n, const struct store_service *svc, const uint8_t *owner,
		size_t olen, struct rs_buf *cs, uint32_t *shards)
{
	struct answer *a = z->b;
	struct answer_prep p;
	memset(&p, 0, sizeof(p));
	p.qtype = qtype;
	p.tag_rev = rev;
	p.tag_n = tag_n;
	int rc = svc != NULL ? answer_build_rrset(a, &p, kind, svc) : 0;
	struct body *v = malloc((p.n + 1) * sizeof(*v));
	if (rc == 0 && v == NULL) {
		rc = RS_ENOMEM;
	}
	if (rc == 0) {
		/* A secondary answers the RRset in one message: the header, the
		 * question (the owner), the RRs, its OPT (xfr.h). */
		size_t room = XFR_MSG_MAX - DNSWIRE_HEADER - (olen + a->zones[0].len + 4) -
			      XFR_OPT_SLACK;
		long k = p.n;
		bool partial = p.total > room || p.ring_in < p.ring_of;
		if (p.total > room) {
			k = subset_pick(&p, room, v);
		} else {
			for (uint32_t i = 0; i < p.n; i++) {
				v[i] = (struct body){(const uint8_t *)p.data.data + p.rr[i].off,
						p.rr[i].len};
			}
		}
		rc = k < 0 ? RS_ENOMEM
			   : rrset_set(z, owner, olen, qtype, v, (size_t)k, partial, cs);
	}
	free(v);
	if (shards != NULL) {
		*shards = p.ring_shards;
	}
	answer_build_clear(&p);
	return rc;
}

static int rrset_build(struct xfr_zone *z, enum answer_prep_kind kind, uint16_t qtype, uint64_t rev,
		const struct store_service *svc, const uint8_t *owner, size_t olen,
		struct rs_buf *cs)
{
	return rrset_build_part(z, kind, qtype, rev, 0, svc, owner, olen, cs, NULL);
}

/* The SRV and _ring RRsets of (name, proto). */
static int service_rebuild(
		struct xfr_zone *z, const char *name, const char *proto, struct rs_buf *cs)
{
	const struct store_service *s =
			store_service_find(z->store, name, strlen(name), proto, strlen(proto));
	uint8_t rel[RS_NAME_WIRE_MAX];
	uint64_t rev = s != NULL ? s->revision : 0;
	size_t n = rel_name(rel, NULL, name, proto);
	int rc = rrset_build(z, ANSWER_PREP_SRV, DNSWIRE_SRV, rev, s, rel, n, cs);
	if (rc == 0) {
		n = rel_name(rel, "_ring", name, proto);
		uint32_t shards = 0;
		rc = rrset_build_part(
				z, ANSWER_PREP_RING, DNSWIRE_TXT, rev, 0, s, rel, n, cs, &shards);
		/* A sharded ring (docs/dns.md): <k>._ring... for k = 1..N, and the
		 * shards of a larger N before are deleted (they run from 1 up). */
		uint8_t srel[RS_NAME_WIRE_MAX];
		for (uint32_t k = 1; rc == 0; k++) {
			int l = snprintf((char *)srel + 1, 8, "%u", k);
			srel[0] = (uint8_t)l;
			memcpy(srel + 1 + l, rel, n);
			size_t sn = n + 1 + (size_t)l;
			if (k > shards && *rrset_slot(z, srel, sn, DNSWIRE_TXT) == NULL) {
				break;
			}
			rc = rrset_build_part(z, ANSWER_PREP_RING, DNSWIRE_TXT, rev, k,
					k <= shards ? s : NULL, srel, sn, cs, NULL);
		}
	}
	return rc;
}

/* The A and AAAA RRsets of <name>, over every protocol of the name. */
static int name_rebuild(struct xfr_zone *z, const char *name, struct rs_buf *cs)
{
	const struct store_service *head = store_service_find_name(z->store, name, strlen(name));
	uint64_t rev = 0;
	for (const struct store_service *t = head; t != NULL; t = t->name_next) {
		rev = t->revision > rev ? t->revision : rev;
	}
	uint8_t rel[RS_NAME_WIRE_MAX];
	size_t n = rel_name(rel, NULL, name, NULL);
	int rc = rrset_build(z, ANSWER_PREP_ADDR, DNSWIRE_A, rev, head, rel, n, cs);
	if (rc == 0) {
		rc = rrset_build(z, ANSWER_PREP_ADDR, DNSWIRE_AAAA, rev, head, rel, n, cs);
	}
	return rc;
}

/* _status TXT of a version (docs/dns.md): the counts at it, TTL 0. */
static int status_rebuild(struct xfr_zone *z, uint32_t serial, struct rs_buf *cs)
{
	static const uint8_t rel[] = {7, '_', 's', 't', 'a', 't', 'u', 's'};
	uint8_t out[ANSWER_STATUS_BODY_MAX];
	size_t len = answer_status_body(z->store, &serial, out);
	struct body b = {out, len};
	return rrset_set(z, rel, sizeof(rel), DNSWIRE_TXT, &b, 1, false, cs);
}

struct all_walk {
	struct xfr_zone *z;
	struct rs_buf *cs;
	int rc;
};

static int all_service_cb(const struct store_service *s, void *ud)
{
	struct all_walk *w = ud;
	w->rc = service_rebuild(w->z, s->name, s->protocol, w->cs);
	if (w->rc == 0 && store_service_find_name(w->z->store, s->name, strlen(s->name)) == s) {
		w->rc = name_rebuild(w->z, s->name, w->cs);
	}
	return w->rc != 0;
}

/* Every RRset from the store; those no service made any more are deleted. */
static int rebuild_all(struct xfr_zone *z, struct rs_buf *cs)
{
	for (size_t i = 0; i < z->nbuckets; i++) {
		for (struct xfr_rrset *r = z->buckets[i]; r != NULL; r = r->next) {
			r->seen = false;
		}
	}
	const struct answer_prep *ns = &z->b->zones[0].ns;
	struct body v[64];
	size_t n = 0;
	for (uint32_t i = 0; i < ns->n && n < 64; i++) {
		v[n++] = (struct body){
				(const uint8_t *)ns->data.data + ns->rr[i].off, ns->rr[i].len};
	}
	static const uint8_t apex[1] = {0};
	int rc = rrset_set(z, apex, 0, DNSWIRE_NS, v, n, false, cs);
	struct all_walk w = {z, cs, 0};
	if (rc == 0) {
		rc = store_service_foreach(z->store, all_service_cb, &w);
		rc = rc != 0 ? rc : w.rc; /* never a version without some services */
	}
	for (size_t i = 0; rc == 0 && i < z->nbuckets; i++) {
		for (struct xfr_rrset *r = z->buckets[i], *next; r != NULL; r = next) {
			next = r->next;
			if (!r->seen && !(r->type == DNSWIRE_TXT && r->owner_len == 8 &&
							memcmp(r->owner, "\7_status", 8) == 0)) {
				uint8_t owner[RS_NAME_WIRE_MAX];
				memcpy(owner, r->owner, r->owner_len);
				rc = rrset_set(z, owner, r->owner_len, r->type, NULL, 0, false, cs);
			}
		}
	}
	z->counters.rebuilds_all++;
	return rc;
}

/* ---- incremental ----------------------------------------------------------- */

struct key_list {
	struct svc_key *v;
	size_t n, cap;
	int rc;
};

static int key_collect_cb(const struct store_journal_entry *e, void *ud)
{
	struct key_list *l = ud;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct svc_key *v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL) {
			l->rc = RS_ENOMEM;
			return 1;
		}
		l->v = v;
		l->cap = cap;
	}
	memcpy(l->v[l->n].name, e->service, sizeof(e->service));
	memcpy(l->v[l->n].proto, e->protocol, sizeof(e->protocol));
	l->n++;
	return 0;
}

static int key_cmp(const void *x, const void *y)
{
	const struct svc_key *a = x, *b = y;
	int c = strcmp(a->name, b->name);
	return c != 0 ? c : strcmp(a->proto, b->proto);
}

/* The services the store's journal names since the version: rebuilt, and
 * the addresses of their names. @return RS_ERANGE when the journal does not
 * reach back (rebuild all). */
static int rebuild_changed(struct xfr_zone *z, struct rs_buf *cs)
{
	struct key_list l = {0};
	int rc = store_journal_foreach(z->store, z->rev, key_collect_cb, &l);
	if (rc == 0) {
		rc = l.rc;
	}
	if (rc == 0) {
		qsort(l.v, l.n, sizeof(*l.v), key_cmp);
	}
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		if (i > 0 && key_cmp(&l.v[i - 1], &l.v[i]) == 0) {
			continue;
		}
		rc = service_rebuild(z, l.v[i].name, l.v[i].proto, cs);
		if (rc == 0 && (i == 0 || strcmp(l.v[i - 1].name, l.v[i].name) != 0)) {
			rc = name_rebuild(z, l.v[i].name, cs);
		}
	}
	free(l.v);
	return rc;
}

/* ---- versions ---------------------------------------------------------------- */

/* max(previous + 1, the clock) in RFC 1982 arithmetic (docs/dns.md "Serial"). */
static uint32_t serial_next(const struct xfr_zone *z, uint64_t wall_ms)
{
	uint32_t clock = (uint32_t)wall_ms;
	if (!z->have) {
		return clock;
	}
	uint32_t next = z->pub.serial + 1u;
	return clock != next && (uint32_t)(clock - next) < 0x80000000u ? clock : next;
}

bool xfr_zone_stale(const struct xfr_zone *z)
{
	return !z->have || z->rev != store_revision(z->store) || z->gen != store_reloads(z->store);
}

static int publish(struct xfr_zone *z, uint64_t wall_ms, bool *published)
{
	*published = false;
	if (!xfr_zone_stale(z)) {
		return 0;
	}
	struct rs_buf cs;
	rs_buf_init(&cs);
	uint32_t serial = serial_next(z, wall_ms);
	bool all = !z->have || z->need_all || z->gen != store_reloads(z->store);
	int rc = all ? RS_ERANGE : rebuild_changed(z, &cs);
	if (rc == RS_ERANGE) {
		rc = rebuild_all(z, &cs);
	}
	if (rc == 0) {
		rc = status_rebuild(z, serial, &cs);
	}
	/* Even a failed rebuild left the table changed: it becomes a version
	 * of its own serial (never two contents under one serial), without a
	 * changeset (IXFR from before it answers in full), and the next one
	 * rebuilds everything. That version is not the store's: the zone stays
	 * stale (rev and gen kept), so the publisher tries again without
	 * waiting for another change of the store. */
	z->need_all = rc != 0;
	if (rc != 0) {
		z->counters.failures++;
		rs_buf_deinit(&cs);
		xfr_journal_deinit(&z->journal);
	} else if (z->have) {
		(void)!xfr_journal_add(
				&z->journal, z->pub.serial, serial, &cs); /* empties on failure */
	}
	rs_buf_deinit(&cs);
	z->have = true;
	z->pub.serial = serial;
	z->pub.valid = true;
	z->pub.warming = false;
	z->counters.warming = false;
	if (rc == 0) {
		z->rev = store_revision(z->store);
		z->gen = store_reloads(z->store);
	}
	z->counters.versions++;
	z->counters.serial = serial;
	z->counters.journal_bytes = z->journal.bytes;
	*published = true;
	return rc;
}

int xfr_zone_publish(struct xfr_zone *z, uint64_t wall_ms, bool *published)
{
	if (z->lock != NULL) {
		rs_lockset_write_lock(z->lock);
	}
	int rc = publish(z, wall_ms, published);
	if (z->lock != NULL) {
		rs_lockset_write_unlock(z->lock);
	}
	return rc;
}

void xfr_zone_set_lock(struct xfr_zone *z, struct rs_lockset *lock)
{
	z->lock = lock;
}

/* ---- life cycle and reads ------------------------------------------------------ */

int xfr_zone_new(const struct answer_config *cfg, const struct store *store, size_t journal_max,
		uint64_t wall_ms, uint32_t hold_ms, struct xfr_zone **out)
{
	*out = NULL;
	struct xfr_zone *z = calloc(1, sizeof(*z));
	if (z == NULL) {
		return RS_ENOMEM;
	}
	struct answer_config c = *cfg;
	c.published = NULL;
	c.ixfr_udp = NULL;
	c.report_zone = NULL;
	z->store = store;
	xfr_journal_init(&z->journal, journal_max);
	int rc = answer_new(&c, store, NULL, &z->b);
	if (rc == 0) {
		/* nbuckets only with the table: xfr_zone_free() walks it */
		z->buckets = calloc(BUCKETS_MIN, sizeof(*z->buckets));
		z->nbuckets = z->buckets != NULL ? BUCKETS_MIN : 0;
		rc = z->buckets != NULL ? answer_build_soa(z->b, &z->b->zones[0], 0) : RS_ENOMEM;
	}
	if (rc == 0) {
		const struct answer_prep *soa = &z->b->zones[0].soa;
		z->soa_len = soa->rr[0].len;
		memcpy(z->soa, soa->data.data + soa->rr[0].off, z->soa_len);
		z->soa_serial_off = 10 + z->b->mname_len + z->b->rname_len;
		bool published;
		rc = hold_ms > 0 ? 0 : xfr_zone_publish(z, wall_ms, &published);
	}
	if (rc == 0 && hold_ms > 0) {
		z->pub = (struct answer_published){XFR_HELD_SERIAL(wall_ms, hold_ms), true, true};
		z->counters.serial = z->pub.serial;
		z->counters.warming = true;
	}
	if (rc != 0) {
		xfr_zone_free(z);
		return rc;
	}
	*out = z;
	return 0;
}

void xfr_zone_free(struct xfr_zone *z)
{
	if (z == NULL) {
		return;
	}
	for (size_t i = 0; i < z->nbuckets; i++) {
		for (struct xfr_rrset *r = z->buckets[i], *next; r != NULL; r = next) {
			next = r->next;
			rrset_free(r);
		}
	}
	free(z->buckets);
	xfr_journal_deinit(&z->journal);
	answer_free(z->b);
	free(z);
}

uint32_t xfr_zone_serial(const struct xfr_zone *z)
{
	return z->pub.serial;
}

const struct answer_published *xfr_zone_published(const struct xfr_zone *z)
{
	return &z->pub;
}

const struct xfr_zone_counters *xfr_zone_counters_get(const struct xfr_zone *z)
{
	return &z->counters;
}

size_t xfr_zone_soa(const struct xfr_zone *z, uint32_t serial, uint8_t *out)
{
	memcpy(out, z->soa, z->soa_len);
	rs_wire_store_u32(out + z->soa_serial_off, serial);
	return z->soa_len;
}

void xfr_zone_foreach(
		const struct xfr_zone *z, int (*cb)(const struct xfr_rrset *r, void *ud), void *ud)
{
	for (size_t i = 0; i < z->nbuckets; i++) {
		for (const struct xfr_rrset *r = z->buckets[i]; r != NULL; r = r->next) {
			if (cb(r, ud) != 0) {
				return;
			}
		}
	}
}

size_t xfr_zone_bytes(const struct xfr_zone *z)
{
	return z->counters.zone_bytes;
}

const struct xfr_journal *xfr_zone_journal(const struct xfr_zone *z)
{
	return &z->journal;
}
