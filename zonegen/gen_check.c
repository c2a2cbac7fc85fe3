/*
 * The checks of the hand-maintained records against the generated zones
 * (gen.h): each record in one of our zones, no SOA or apex NS, RRsets that
 * fit a message, CNAMEs alone at their name and pointing at a name that
 * exists, and an address for each --ns inside our zones. "Exists" includes
 * what the generator itself puts there.
 */
#include "zonegen/gen_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Index of the zone named exactly @p name, or -1. */
static long zone_find(const struct zg_gen *g, const char *name)
{
	size_t lo = 0, hi = g->nzones;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(g->zones[mid].name, name);
		if (c == 0) {
			return (long)mid;
		}
		if (c < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return -1;
}

/* The zone holding @p name: the longest of our zone names it ends with. */
static long zone_of(const struct zg_gen *g, const char *name)
{
	for (const char *p = name; *p != '\0';) {
		long z = zone_find(g, p);
		if (z >= 0) {
			return z;
		}
		p = strchr(p, '.');
		if (p == NULL || p[1] == '\0') {
			break;
		}
		p++;
	}
	return -1;
}

static int srec_cmp(const void *a, const void *b)
{
	const struct zg_srec *x = a, *y = b;
	if (x->zone != y->zone) {
		return x->zone < y->zone ? -1 : 1;
	}
	int c = strcmp(x->owner, y->owner);
	if (c != 0) {
		return c;
	}
	if (x->type != y->type) {
		return x->type < y->type ? -1 : 1;
	}
	return strcmp(x->rdata, y->rdata);
}

/* @p name relative to zone @p z: NULL when it is the apex, else the part
 * before ".<zone>" (a view into @p name of length *len). */
static const char *relative(const struct zg_zone *z, const char *name, size_t *len)
{
	size_t nl = strlen(name), zl = strlen(z->name);
	if (nl == zl) {
		*len = 0;
		return NULL;
	}
	*len = nl - zl - 1;
	return name;
}

/* Binary search over [lo, hi) with @p cmp(element index, key) in the
 * element's order; true when an element compares equal. */
static bool range_has(const struct zg_gen *g, size_t lo, size_t hi, const void *key,
		int (*cmp)(const struct zg_gen *g, size_t i, const void *key))
{
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = cmp(g, mid, key);
		if (c == 0) {
			return true;
		}
		if (c < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return false;
}

struct label_key {
	const char *label;
	size_t len;
};

static int host_name_cmp(const struct zg_gen *g, size_t i, const void *key)
{
	const struct label_key *k = key;
	const char *n = g->inv->hosts[i].name;
	int c = strncmp(n, k->label, k->len);
	return c != 0 ? c : (n[k->len] != '\0');
}

static int addr_at_cmp(const struct zg_gen *g, size_t i, const void *key)
{
	return rs_addr_cmp(&g->addrs[i].addr, key);
}

static bool host_exists(
		const struct zg_gen *g, const struct zg_zone *z, const char *label, size_t len)
{
	struct label_key k = {label, len};
	return range_has(g, z->first, z->first + z->count, &k, host_name_cmp);
}

static const struct zg_role *role_find(
		const struct zg_gen *g, const struct zg_zone *z, const char *label, size_t len)
{
	for (size_t i = z->first; i < z->first + z->count; i++) {
		const char *n = g->roles[i].name;
		if (strncmp(n, label, len) == 0 && n[len] == '\0') {
			return &g->roles[i];
		}
	}
	return NULL;
}

/* Parse the relative owner of a reverse zone back into an address and look
 * it up. */
static bool rev_exists(const struct zg_gen *g, const struct zg_zone *z, const char *rel, size_t len)
{
	const struct rs_addr *base = &g->addrs[z->first].addr;
	struct rs_addr a = *base;
	bool v4 = z->kind == ZG_ZONE_REV4;
	unsigned prefix = v4 ? g->opt->v4_prefix : g->opt->v6_prefix;
	unsigned step = v4 ? 8 : 4;
	int pos = (int)(v4 ? 32 : 128) / (int)step - 1; /* the last octet/nibble first */
	size_t off = 0;
	while (off < len) {
		size_t e = off;
		while (e < len && rel[e] != '.') {
			e++;
		}
		if (pos < (int)(prefix / step) || e == off || e - off > 3) {
			return false;
		}
		unsigned v = 0;
		for (size_t k = off; k < e; k++) {
			char c = rel[k];
			unsigned d = (c >= '0' && c <= '9')          ? (unsigned)(c - '0')
				     : (c >= 'a' && c <= 'f' && !v4) ? (unsigned)(c - 'a' + 10)
								     : 99;
			if (d == 99) {
				return false;
			}
			v = v * (v4 ? 10 : 16) + d;
		}
		if (v4) {
			if (v > 255) {
				return false;
			}
			a.bytes[pos] = (uint8_t)v;
		} else {
			if (e - off != 1) {
				return false;
			}
			uint8_t *b = &a.bytes[pos / 2];
			*b = (pos % 2) ? (uint8_t)((*b & 0xf0) | v)
				       : (uint8_t)((*b & 0x0f) | (v << 4));
		}
		pos--;
		off = e + 1;
	}
	if (pos != (int)(prefix / step) - 1) {
		return false;
	}
	return range_has(g, z->first, z->first + z->count, &a, addr_at_cmp);
}

/* Does the generator itself put data at @p name (in zone @p z)? */
static bool generated_exists(const struct zg_gen *g, const struct zg_zone *z, const char *name)
{
	size_t len;
	const char *rel = relative(z, name, &len);
	if (rel == NULL) {
		return true; /* the apex: SOA, NS */
	}
	if (g->opt->commit != NULL && len == 7 && strncmp(rel, "_deploy", 7) == 0) {
		return true;
	}
	const char *dot = memchr(rel, '.', len);
	switch (z->kind) {
	case ZG_ZONE_HOST:
		if (dot != NULL) {
			return false;
		}
		if (z->has_roles && len == 5 && strncmp(rel, "roles", 5) == 0) {
			return true;
		}
		return host_exists(g, z, rel, len);
	case ZG_ZONE_ROLES:
		if (dot == NULL) {
			return role_find(g, z, rel, len) != NULL;
		} else {
			const struct zg_role *r =
					role_find(g, z, dot + 1, len - (size_t)(dot - rel) - 1);
			if (r == NULL || r->shards == 0) {
				return false;
			}
			unsigned long n = strtoul(rel, NULL, 10);
			return rel[0] != '0' && n >= 1 && n <= r->shards &&
			       (size_t)snprintf(NULL, 0, "%lu", n) == (size_t)(dot - rel);
		}
	case ZG_ZONE_REV4:
	case ZG_ZONE_REV6:
		return rev_exists(g, z, rel, len);
	}
	return false;
}

/* Index range [*lo, *hi) of the hand records of zone @p z owned by @p name. */
static void srecs_at(const struct zg_gen *g, const struct zg_zone *z, const char *name,
		size_t *lo_out, size_t *hi_out)
{
	const struct zg_srec *r = g->recs->recs;
	size_t lo = z->sfirst, hi = z->sfirst + z->scount;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (strcmp(r[mid].owner, name) < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	size_t e = lo;
	while (e < z->sfirst + z->scount && strcmp(r[e].owner, name) == 0) {
		e++;
	}
	*lo_out = lo;
	*hi_out = e;
}

static void check_cname(struct zg_gen *g, const struct zg_zone *z, const struct zg_srec *s)
{
	size_t lo, hi;
	srecs_at(g, z, s->owner, &lo, &hi);
	bool other = generated_exists(g, z, s->owner);
	for (size_t i = lo; i < hi && !other; i++) {
		const struct zg_srec *o = &g->recs->recs[i];
		other = o != s && (o->type != T_CNAME || strcmp(o->rdata, s->rdata) != 0);
	}
	if (other) {
		zg_diag_error(g->diag, "%s:%u: CNAME %s has other data at the same name", s->file,
				s->line, s->owner);
	}
	if (s->target == NULL) {
		return;
	}
	long tz = zone_of(g, s->target);
	if (tz < 0) {
		return; /* outside our zones: not ours to check */
	}
	const struct zg_zone *t = &g->zones[tz];
	srecs_at(g, t, s->target, &lo, &hi);
	if (hi == lo && !generated_exists(g, t, s->target)) {
		zg_diag_error(g->diag,
				"%s:%u: CNAME %s points at %s, which does not exist in zone %s",
				s->file, s->line, s->owner, s->target, t->name);
	}
}

void zg_gen_check_records(struct zg_gen *g)
{
	struct zg_records *rs = g->recs;
	for (size_t i = 0; i < rs->n; i++) {
		struct zg_srec *s = &rs->recs[i];
		long z = zone_of(g, s->owner);
		s->zone = z < 0 ? UINT32_MAX : (uint32_t)z;
		if (z < 0) {
			zg_diag_error(g->diag,
					"%s:%u: record %s %s is in none of the generated zones",
					s->file, s->line, s->owner, s->type_name);
		} else if (s->type == T_SOA) {
			zg_diag_error(g->diag, "%s:%u: record %s SOA: the SOA is generated",
					s->file, s->line, s->owner);
		} else if (s->type == T_NS && strcmp(s->owner, g->zones[z].name) == 0) {
			zg_diag_error(g->diag, "%s:%u: record %s NS: apex NS come from --ns",
					s->file, s->line, s->owner);
		}
	}
	if (rs->n > 1) {
		qsort(rs->recs, rs->n, sizeof(*rs->recs), srec_cmp);
	}
	for (size_t i = 0; i < rs->n;) {
		size_t j = i;
		while (j < rs->n && rs->recs[j].zone == rs->recs[i].zone) {
			j++;
		}
		if (rs->recs[i].zone != UINT32_MAX) {
			g->zones[rs->recs[i].zone].sfirst = i;
			g->zones[rs->recs[i].zone].scount = j - i;
		}
		i = j;
	}
	for (size_t i = 0; i < rs->n;) {
		const struct zg_srec *s = &rs->recs[i];
		if (s->zone == UINT32_MAX) {
			break;
		}
		struct zg_zone *z = &g->zones[s->zone];
		/* one RRset: same owner and type */
		size_t j = i;
		uint64_t sum = 0;
		while (j < rs->n && rs->recs[j].zone == s->zone && rs->recs[j].type == s->type &&
				strcmp(rs->recs[j].owner, s->owner) == 0) {
			sum += rs->recs[j].rdlen;
			j++;
		}
		uint64_t size = zg_rrset_wire_size(strlen(s->owner) + 1, j - i, sum);
		if (size > ZG_MSG_MAX) {
			zg_diag_error(g->diag,
					"%s:%u: RRset %s %s is %llu bytes on the wire "
					"(%zu records), over 65,535",
					s->file, s->line, s->owner, s->type_name,
					(unsigned long long)size, j - i);
		}
		zg_gen_note_rrset(z, j - i);
		for (size_t k = i; k < j; k++) {
			if (rs->recs[k].type == T_CNAME) {
				check_cname(g, z, &rs->recs[k]);
			}
		}
		i = j;
	}
}

void zg_gen_check_ns(struct zg_gen *g)
{
	for (size_t i = 0; i < g->opt->nns; i++) {
		const char *ns = g->opt->ns[i];
		long z = zone_of(g, ns);
		if (z < 0) {
			continue;
		}
		const struct zg_zone *zone = &g->zones[z];
		size_t lo, hi;
		srecs_at(g, zone, ns, &lo, &hi);
		bool addr = false;
		for (size_t k = lo; k < hi; k++) {
			uint16_t t = g->recs->recs[k].type;
			addr = addr || t == T_A || t == T_AAAA;
		}
		if (!addr && !(zone->kind == ZG_ZONE_HOST && strcmp(ns, zone->name) != 0 &&
					     generated_exists(g, zone, ns))) {
			zg_diag_error(g->diag, "--ns %s is inside zone %s but has no address there",
					ns, zone->name);
		}
	}
}
