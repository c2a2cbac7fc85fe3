#include "zonegen/gen.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/name.h"
#include "common/ring.h"
#include "zonegen/addrtext.h"

enum {
	T_A = 1,
	T_NS = 2,
	T_CNAME = 5,
	T_SOA = 6,
	T_PTR = 12,
	T_TXT = 16,
	T_AAAA = 28,
};

/* A shard is filled to at most this share of a message, so that a few more
 * hosts hashing into one shard do not make the next run reshuffle. */
#define SHARD_FILL_PCT 80
#define SHARDS_MAX 1000

uint64_t zg_rrset_wire_size(size_t owner_wire, uint64_t nrecords, uint64_t rdata_sum)
{
	return 12 + owner_wire + 4 + nrecords * (2 + 10) + rdata_sum;
}

void zg_counts_add(struct zg_counts *c, uint16_t type, const char *name, uint64_t n)
{
	if (n == 0) {
		return;
	}
	c->total += n;
	for (size_t i = 0; i < c->ntypes; i++) {
		if (c->t[i].type == type) {
			c->t[i].n += n;
			return;
		}
	}
	if (c->ntypes == ZG_COUNT_TYPES_MAX) {
		c->t[ZG_COUNT_TYPES_MAX - 1].name = "OTHER";
		c->t[ZG_COUNT_TYPES_MAX - 1].type = 0;
		c->t[ZG_COUNT_TYPES_MAX - 1].n += n;
		return;
	}
	c->t[c->ntypes++] = (struct zg_type_count){.type = type, .name = name, .n = n};
}

/* ---- sorting the inventory ---- */

static int host_cmp(const void *a, const void *b)
{
	const struct zg_host *x = a, *y = b;
	int c = x->site == y->site ? 0 : strcmp(x->site, y->site);
	if (c != 0) {
		return c;
	}
	c = strcmp(x->name, y->name);
	if (c != 0) {
		return c;
	}
	/* duplicates: keep inventory order for stable messages */
	c = strcmp(x->file, y->file);
	return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
}

static int addr_ref_cmp(const void *a, const void *b)
{
	const struct zg_addr_ref *x = a, *y = b;
	int c = rs_addr_cmp(&x->addr, &y->addr);
	return c != 0 ? c : (x->host > y->host) - (x->host < y->host);
}

static int role_host_cmp(const void *a, const void *b, void *hosts)
{
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
	const struct zg_host *x = (const struct zg_host *)hosts + i;
	const struct zg_host *y = (const struct zg_host *)hosts + j;
	int c = x->site == y->site ? 0 : strcmp(x->site, y->site);
	if (c == 0 && x->role != y->role) {
		c = strcmp(x->role, y->role);
	}
	return c != 0 ? c : (i > j) - (i < j);
}

static int zone_cmp(const void *a, const void *b)
{
	return strcmp(((const struct zg_zone *)a)->name, ((const struct zg_zone *)b)->name);
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

static const char *where(const struct zg_host *h, char *buf, size_t n)
{
	snprintf(buf, n, "%s:%u", h->file, h->line);
	return buf;
}

/* ---- zones ---- */

static int zone_add(struct zg_gen *g, size_t *cap, enum zg_zone_kind kind, const char *name,
		size_t first, size_t count)
{
	if (RS_ARRAY_GROW(g->zones, *cap, g->nzones + 1) < 0) {
		return RS_ENOMEM;
	}
	struct zg_zone *z = &g->zones[g->nzones];
	memset(z, 0, sizeof(*z));
	if ((z->name = strdup(name)) == NULL) {
		return RS_ENOMEM;
	}
	z->kind = kind;
	z->first = first;
	z->count = count;
	g->nzones++;
	return 0;
}

/* The reverse zone of an address: the first prefix bits, reversed. */
static void rev_zone_name(const struct rs_addr *a, unsigned prefix, char *out, size_t n)
{
	size_t o = 0;
	if (a->family == AF_INET) {
		for (int i = (int)(prefix / 8) - 1; i >= 0; i--) {
			o += (size_t)snprintf(out + o, n - o, "%u.", a->bytes[i]);
		}
		snprintf(out + o, n - o, "in-addr.arpa.");
		return;
	}
	static const char hex[] = "0123456789abcdef";
	for (int i = (int)(prefix / 4) - 1; i >= 0; i--) {
		uint8_t b = a->bytes[i / 2];
		out[o++] = hex[(i % 2) ? (b & 0xf) : (b >> 4)];
		out[o++] = '.';
	}
	snprintf(out + o, n - o, "ip6.arpa.");
}

static bool same_prefix(const struct rs_addr *a, const struct rs_addr *b, unsigned bits)
{
	if (a->family != b->family) {
		return false;
	}
	size_t full = bits / 8;
	if (memcmp(a->bytes, b->bytes, full) != 0) {
		return false;
	}
	if (bits % 8 == 0) {
		return true;
	}
	uint8_t mask = (uint8_t)(0xff << (8 - bits % 8));
	return (a->bytes[full] & mask) == (b->bytes[full] & mask);
}

static int build_zones(struct zg_gen *g)
{
	size_t cap = 0;
	const struct zg_inventory *inv = g->inv;
	char name[RS_NAME_TEXT_MAX + 16];
	size_t r = 0;
	for (size_t i = 0; i < inv->nhosts;) {
		const char *site = inv->hosts[i].site;
		size_t j = i;
		while (j < inv->nhosts && inv->hosts[j].site == site) {
			j++;
		}
		snprintf(name, sizeof(name), "%s.%s", site, g->opt->domain);
		if (zone_add(g, &cap, ZG_ZONE_HOST, name, i, j - i) < 0) {
			return RS_ENOMEM;
		}
		size_t host_zone = g->nzones - 1;
		size_t rfirst = r;
		while (r < g->nroles && inv->hosts[g->role_hosts[g->roles[r].first]].site == site) {
			r++;
		}
		if (r > rfirst) {
			g->zones[host_zone].has_roles = true;
			snprintf(name, sizeof(name), "roles.%s.%s", site, g->opt->domain);
			if (zone_add(g, &cap, ZG_ZONE_ROLES, name, rfirst, r - rfirst) < 0) {
				return RS_ENOMEM;
			}
		}
		i = j;
	}
	for (size_t i = 0; i < g->naddrs;) {
		const struct rs_addr *a = &g->addrs[i].addr;
		unsigned bits = a->family == AF_INET ? g->opt->v4_prefix : g->opt->v6_prefix;
		size_t j = i + 1;
		while (j < g->naddrs && same_prefix(a, &g->addrs[j].addr, bits)) {
			j++;
		}
		rev_zone_name(a, bits, name, sizeof(name));
		if (zone_add(g, &cap, a->family == AF_INET ? ZG_ZONE_REV4 : ZG_ZONE_REV6, name, i,
				    j - i) < 0) {
			return RS_ENOMEM;
		}
		i = j;
	}
	if (g->nzones > 1) {
		qsort(g->zones, g->nzones, sizeof(*g->zones), zone_cmp);
	}
	return 0;
}

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

/* ---- the inventory checks ---- */

static void check_hosts(struct zg_gen *g)
{
	char w1[512], w2[512];
	const struct zg_inventory *inv = g->inv;
	for (size_t i = 0; i < inv->nhosts; i++) {
		const struct zg_host *h = &inv->hosts[i];
		if (strcmp(h->name, "roles") == 0) {
			zg_diag_error(g->diag,
					"%s: host name %s is reserved: roles.%s.%s is the "
					"site's roles zone",
					where(h, w1, sizeof(w1)), h->fqdn, h->site, g->opt->domain);
		}
		if (i > 0 && h->site == h[-1].site && strcmp(h->name, h[-1].name) == 0) {
			zg_diag_error(g->diag, "duplicate host %s: %s and %s", h->fqdn,
					where(&h[-1], w1, sizeof(w1)), where(h, w2, sizeof(w2)));
		}
	}
}

static int collect_addrs(struct zg_gen *g)
{
	const struct zg_inventory *inv = g->inv;
	size_t n = 0;
	for (size_t i = 0; i < inv->nhosts; i++) {
		n += inv->hosts[i].naddr;
	}
	g->addrs = malloc((n == 0 ? 1 : n) * sizeof(*g->addrs));
	if (g->addrs == NULL) {
		return RS_ENOMEM;
	}
	for (size_t i = 0; i < inv->nhosts; i++) {
		for (size_t k = 0; k < inv->hosts[i].naddr; k++) {
			g->addrs[g->naddrs].addr = inv->hosts[i].addrs[k];
			g->addrs[g->naddrs].host = (uint32_t)i;
			g->naddrs++;
		}
	}
	if (g->naddrs > 1) {
		qsort(g->addrs, g->naddrs, sizeof(*g->addrs), addr_ref_cmp);
	}
	char w1[512], w2[512], text[RS_ADDR_TEXT_MAX];
	for (size_t i = 1; i < g->naddrs; i++) {
		if (rs_addr_cmp(&g->addrs[i].addr, &g->addrs[i - 1].addr) == 0) {
			const struct zg_host *a = &inv->hosts[g->addrs[i - 1].host];
			const struct zg_host *b = &inv->hosts[g->addrs[i].host];
			rs_addr_format(&g->addrs[i].addr, text);
			zg_diag_error(g->diag, "IP %s claimed by two hosts: %s (%s) and %s (%s)",
					text,
					a->fqdn, where(a, w1, sizeof(w1)), b->fqdn,
					where(b, w2, sizeof(w2)));
		}
	}
	return 0;
}

static int collect_roles(struct zg_gen *g)
{
	const struct zg_inventory *inv = g->inv;
	size_t n = 0;
	for (size_t i = 0; i < inv->nhosts; i++) {
		n += inv->hosts[i].role != NULL;
	}
	g->role_hosts = malloc((n == 0 ? 1 : n) * sizeof(*g->role_hosts));
	g->shard_of = calloc(n == 0 ? 1 : n, sizeof(*g->shard_of));
	g->roles = malloc((n == 0 ? 1 : n) * sizeof(*g->roles));
	if (g->role_hosts == NULL || g->shard_of == NULL || g->roles == NULL) {
		return RS_ENOMEM;
	}
	for (size_t i = 0; i < inv->nhosts; i++) {
		if (inv->hosts[i].role != NULL) {
			g->role_hosts[g->nrole_hosts++] = (uint32_t)i;
		}
	}
	if (g->nrole_hosts > 1) {
		qsort_r(g->role_hosts, g->nrole_hosts, sizeof(*g->role_hosts), role_host_cmp,
				inv->hosts);
	}
	for (size_t i = 0; i < g->nrole_hosts;) {
		const struct zg_host *h = &inv->hosts[g->role_hosts[i]];
		size_t j = i + 1;
		while (j < g->nrole_hosts) {
			const struct zg_host *k = &inv->hosts[g->role_hosts[j]];
			if (k->site != h->site || k->role != h->role) {
				break;
			}
			j++;
		}
		g->roles[g->nroles++] = (struct zg_role){.name = h->role, .first = i,
				.count = j - i};
		i = j;
	}
	return 0;
}

/* ---- RRset sizes of the roles zones, and sharding ---- */

struct rrset_sizes {
	uint64_t n4, n6, nptr; /* records */
	uint64_t a, aaaa, ptr; /* wire sizes */
};

static void role_sizes(const struct zg_gen *g, const struct zg_role *r, size_t owner_wire,
		uint32_t shard, struct rrset_sizes *s)
{
	uint64_t sum_ptr = 0;
	memset(s, 0, sizeof(*s));
	for (size_t i = r->first; i < r->first + r->count; i++) {
		if (shard != 0 && g->shard_of[i] != shard) {
			continue;
		}
		const struct zg_host *h = &g->inv->hosts[g->role_hosts[i]];
		for (size_t k = 0; k < h->naddr; k++) {
			if (h->addrs[k].family == AF_INET) {
				s->n4++;
			} else {
				s->n6++;
			}
		}
		s->nptr++;
		sum_ptr += h->fqdn_len + 1u;
	}
	s->a = zg_rrset_wire_size(owner_wire, s->n4, s->n4 * 4);
	s->aaaa = zg_rrset_wire_size(owner_wire, s->n6, s->n6 * 16);
	s->ptr = zg_rrset_wire_size(owner_wire, s->nptr, sum_ptr);
}

static uint64_t max3(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t m = a > b ? a : b;
	return m > c ? m : c;
}

static void note_rrset(struct zg_zone *z, uint64_t n)
{
	if (n > z->max_rrset) {
		z->max_rrset = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	}
}

static void shard_role(struct zg_gen *g, struct zg_zone *z, struct zg_role *r, size_t owner_wire,
		const struct rrset_sizes *all)
{
	/* Shard owners are "<n>.<role>...": n has at most 4 digits (SHARDS_MAX),
	 * plus its length octet. */
	size_t shard_wire = owner_wire + 5;
	uint64_t biggest = max3(all->a, all->aaaa, all->ptr);
	uint32_t n = (uint32_t)(biggest * 100 / ((uint64_t)ZG_MSG_MAX * SHARD_FILL_PCT) + 1);
	for (; n <= SHARDS_MAX; n++) {
		for (size_t i = r->first; i < r->first + r->count; i++) {
			const struct zg_host *h = &g->inv->hosts[g->role_hosts[i]];
			g->shard_of[i] = (uint16_t)(rs_ring_hash(h->fqdn, h->fqdn_len) % n + 1);
		}
		bool fit = true;
		for (uint32_t s = 1; s <= n && fit; s++) {
			struct rrset_sizes ss;
			role_sizes(g, r, shard_wire, s, &ss);
			fit = max3(ss.a, ss.aaaa, ss.ptr) <= ZG_MSG_MAX;
		}
		if (fit) {
			break;
		}
	}
	r->shards = n;
	r->moved = (uint8_t)((all->a > ZG_MSG_MAX ? ZG_RRSET_A : 0) |
			(all->aaaa > ZG_MSG_MAX ? ZG_RRSET_AAAA : 0) |
			(all->ptr > ZG_MSG_MAX ? ZG_RRSET_PTR : 0));
	for (uint32_t s = 1; s <= n; s++) {
		struct rrset_sizes ss;
		role_sizes(g, r, shard_wire, s, &ss);
		note_rrset(z, max3(ss.n4, ss.n6, ss.nptr));
	}
	note_rrset(z, all->a <= ZG_MSG_MAX ? all->n4 : 0);
	note_rrset(z, all->aaaa <= ZG_MSG_MAX ? all->n6 : 0);
}

static void check_roles(struct zg_gen *g, struct zg_zone *z)
{
	static const char *const type_names[] = {"A", "AAAA", "PTR"};
	for (size_t ri = z->first; ri < z->first + z->count; ri++) {
		struct zg_role *r = &g->roles[ri];
		size_t owner_wire = strlen(r->name) + 1 + strlen(z->name) + 1;
		struct rrset_sizes s;
		role_sizes(g, r, owner_wire, 0, &s);
		uint64_t sizes[3] = {s.a, s.aaaa, s.ptr};
		uint64_t counts[3] = {s.n4, s.n6, s.nptr};
		if (max3(s.a, s.aaaa, s.ptr) <= ZG_MSG_MAX) {
			note_rrset(z, max3(s.n4, s.n6, s.nptr));
			continue;
		}
		if (g->opt->shard_large) {
			shard_role(g, z, r, owner_wire, &s);
			if (r->shards > SHARDS_MAX) {
				zg_diag_error(g->diag, "role %s.%s: cannot shard into %d shards",
						r->name, z->name, SHARDS_MAX);
			}
			continue;
		}
		for (int t = 0; t < 3; t++) {
			if (sizes[t] > ZG_MSG_MAX) {
				zg_diag_error(g->diag,
						"RRset %s.%s %s is %llu bytes on the wire (%llu "
						"records), over 65,535: no server can send it; use "
						"--shard-large or split the role",
						r->name, z->name, type_names[t],
						(unsigned long long)sizes[t],
						(unsigned long long)counts[t]);
			}
		}
		note_rrset(z, max3(s.n4, s.n6, s.nptr));
	}
}

/* ---- hand-maintained records ---- */

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

static bool host_exists(const struct zg_gen *g, const struct zg_zone *z, const char *label,
		size_t len)
{
	struct label_key k = {label, len};
	return range_has(g, z->first, z->first + z->count, &k, host_name_cmp);
}

static const struct zg_role *role_find(const struct zg_gen *g, const struct zg_zone *z,
		const char *label, size_t len)
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
static bool rev_exists(const struct zg_gen *g, const struct zg_zone *z, const char *rel,
		size_t len)
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
			unsigned d = (c >= '0' && c <= '9') ? (unsigned)(c - '0')
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
			const struct zg_role *r = role_find(g, z, dot + 1,
					len - (size_t)(dot - rel) - 1);
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

static void check_srecs(struct zg_gen *g)
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
					s->file,
					s->line, s->owner);
		} else if (s->type == T_NS && strcmp(s->owner, g->zones[z].name) == 0) {
			zg_diag_error(g->diag, "%s:%u: record %s NS: apex NS come from --ns",
					s->file,
					s->line, s->owner);
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
		note_rrset(z, j - i);
		for (size_t k = i; k < j; k++) {
			if (rs->recs[k].type == T_CNAME) {
				check_cname(g, z, &rs->recs[k]);
			}
		}
		i = j;
	}
}

static void check_ns(struct zg_gen *g)
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

int zg_gen_build(struct zg_gen *g, const struct zg_options *opt, struct zg_inventory *inv,
		struct zg_records *recs, struct zg_diag *diag)
{
	memset(g, 0, sizeof(*g));
	g->opt = opt;
	g->inv = inv;
	g->recs = recs;
	g->diag = diag;
	if (inv->nhosts > 1) {
		qsort(inv->hosts, inv->nhosts, sizeof(*inv->hosts), host_cmp);
	}
	check_hosts(g);
	if (collect_addrs(g) < 0 || collect_roles(g) < 0 || build_zones(g) < 0) {
		return RS_ENOMEM;
	}
	for (size_t i = 0; i < g->nzones; i++) {
		struct zg_zone *z = &g->zones[i];
		note_rrset(z, opt->nns);
		if (z->kind == ZG_ZONE_HOST) {
			for (size_t k = z->first; k < z->first + z->count; k++) {
				note_rrset(z, inv->hosts[k].naddr);
			}
		} else if (z->kind == ZG_ZONE_ROLES) {
			check_roles(g, z);
		}
	}
	check_srecs(g);
	check_ns(g);
	return 0;
}

void zg_gen_deinit(struct zg_gen *g)
{
	if (g == NULL) {
		return;
	}
	for (size_t i = 0; i < g->nzones; i++) {
		free(g->zones[i].name);
	}
	free(g->zones);
	free(g->addrs);
	free(g->role_hosts);
	free(g->shard_of);
	free(g->roles);
	memset(g, 0, sizeof(*g));
}

/* ---- text ---- */

void zg_gen_head(const struct zg_gen *g, size_t zone, uint32_t serial, struct rs_buf *out)
{
	const struct zg_zone *z = &g->zones[zone];
	rs_buf_printf(out,
			"; %s - generated by roster-zonegen from the inventory; do not edit\n"
			"$ORIGIN %s\n$TTL %u\n@\tIN\tSOA\t%s %s %u %u %u %u %u\n",
			z->name, z->name, g->opt->ttl, g->opt->ns[0], g->opt->hostmaster, serial,
			ZG_SOA_REFRESH, ZG_SOA_RETRY, ZG_SOA_EXPIRE, ZG_SOA_MINIMUM);
}

void zg_gen_deploy(const struct zg_gen *g, struct rs_buf *out)
{
	if (g->opt->commit != NULL) {
		rs_buf_printf(out, "_deploy\tIN\tTXT\t\"commit=%s\"\n", g->opt->commit);
	}
}

static void line(struct rs_buf *b, const char *owner, size_t olen, const char *type_tab)
{
	rs_buf_add(b, owner, olen);
	rs_buf_str(b, type_tab);
}

static void ns_lines(const struct zg_gen *g, const char *owner, struct rs_buf *b)
{
	for (size_t i = 0; i < g->opt->nns; i++) {
		line(b, owner, strlen(owner), "\tIN\tNS\t");
		rs_buf_str(b, g->opt->ns[i]);
		rs_buf_chr(b, '\n');
	}
}

static void addr_line(struct rs_buf *b, const char *owner, size_t olen, const struct rs_addr *a)
{
	if (a->family == AF_INET) {
		line(b, owner, olen, "\tIN\tA\t");
		zg_addrtext_v4(b, a->bytes);
	} else {
		line(b, owner, olen, "\tIN\tAAAA\t");
		zg_addrtext_v6(b, a->bytes);
	}
	rs_buf_chr(b, '\n');
}

static void count_addrs(struct zg_counts *c, uint64_t n4, uint64_t n6)
{
	zg_counts_add(c, T_A, "A", n4);
	zg_counts_add(c, T_AAAA, "AAAA", n6);
}

static void body_host(const struct zg_gen *g, const struct zg_zone *z, struct rs_buf *b,
		struct zg_counts *c)
{
	uint64_t n4 = 0, n6 = 0;
	if (z->has_roles) {
		ns_lines(g, "roles", b);
		zg_counts_add(c, T_NS, "NS", g->opt->nns);
	}
	for (size_t i = z->first; i < z->first + z->count; i++) {
		const struct zg_host *h = &g->inv->hosts[i];
		size_t nl = strlen(h->name);
		for (size_t k = 0; k < h->naddr; k++) {
			addr_line(b, h->name, nl, &h->addrs[k]);
			if (h->addrs[k].family == AF_INET) {
				n4++;
			} else {
				n6++;
			}
		}
	}
	count_addrs(c, n4, n6);
}

/* One role's (or one shard's) A, AAAA and PTR lines, selected by @p types. */
static void role_lines(const struct zg_gen *g, const struct zg_role *r, uint32_t shard,
		const char *owner, uint8_t types, struct rs_buf *b, struct zg_counts *c)
{
	size_t ol = strlen(owner);
	uint64_t n4 = 0, n6 = 0, np = 0;
	for (int family = AF_INET; family != 0; family = family == AF_INET ? AF_INET6 : 0) {
		uint8_t bit = family == AF_INET ? ZG_RRSET_A : ZG_RRSET_AAAA;
		if (!(types & bit)) {
			continue;
		}
		for (size_t i = r->first; i < r->first + r->count; i++) {
			if (shard != 0 && g->shard_of[i] != shard) {
				continue;
			}
			const struct zg_host *h = &g->inv->hosts[g->role_hosts[i]];
			for (size_t k = 0; k < h->naddr; k++) {
				if (h->addrs[k].family == family) {
					addr_line(b, owner, ol, &h->addrs[k]);
					*(family == AF_INET ? &n4 : &n6) += 1;
				}
			}
		}
	}
	if (types & ZG_RRSET_PTR) {
		for (size_t i = r->first; i < r->first + r->count; i++) {
			if (shard != 0 && g->shard_of[i] != shard) {
				continue;
			}
			const struct zg_host *h = &g->inv->hosts[g->role_hosts[i]];
			line(b, owner, ol, "\tIN\tPTR\t");
			rs_buf_add(b, h->fqdn, h->fqdn_len);
			rs_buf_chr(b, '\n');
			np++;
		}
	}
	count_addrs(c, n4, n6);
	zg_counts_add(c, T_PTR, "PTR", np);
}

static void body_roles(const struct zg_gen *g, const struct zg_zone *z, struct rs_buf *b,
		struct zg_counts *c)
{
	const uint8_t all = ZG_RRSET_A | ZG_RRSET_AAAA | ZG_RRSET_PTR;
	for (size_t ri = z->first; ri < z->first + z->count; ri++) {
		const struct zg_role *r = &g->roles[ri];
		role_lines(g, r, 0, r->name, (uint8_t)(all & ~r->moved), b, c);
		if (r->shards == 0) {
			continue;
		}
		rs_buf_printf(b, "%s\tIN\tTXT\t\"shards=%u\"\n", r->name, r->shards);
		zg_counts_add(c, T_TXT, "TXT", 1);
		for (uint32_t s = 1; s <= r->shards; s++) {
			char owner[RS_NAME_TEXT_MAX + 16];
			snprintf(owner, sizeof(owner), "%u.%s", s, r->name);
			role_lines(g, r, s, owner, all, b, c);
		}
	}
}

static void body_rev(const struct zg_gen *g, const struct zg_zone *z, struct rs_buf *b,
		struct zg_counts *c)
{
	static const char hex[] = "0123456789abcdef";
	bool v4 = z->kind == ZG_ZONE_REV4;
	unsigned prefix = v4 ? g->opt->v4_prefix : g->opt->v6_prefix;
	for (size_t i = z->first; i < z->first + z->count; i++) {
		const struct zg_addr_ref *ar = &g->addrs[i];
		const struct zg_host *h = &g->inv->hosts[ar->host];
		char owner[80];
		size_t o = 0;
		if (v4) {
			for (int k = 3; k >= (int)(prefix / 8); k--) {
				uint8_t v = ar->addr.bytes[k];
				if (v >= 100) {
					owner[o++] = (char)('0' + v / 100);
				}
				if (v >= 10) {
					owner[o++] = (char)('0' + v / 10 % 10);
				}
				owner[o++] = (char)('0' + v % 10);
				owner[o++] = '.';
			}
		} else {
			for (int k = 31; k >= (int)(prefix / 4); k--) {
				uint8_t v = ar->addr.bytes[k / 2];
				owner[o++] = hex[(k % 2) ? (v & 0xf) : (v >> 4)];
				owner[o++] = '.';
			}
		}
		line(b, owner, o - 1, "\tIN\tPTR\t");
		rs_buf_add(b, h->fqdn, h->fqdn_len);
		rs_buf_chr(b, '\n');
	}
	zg_counts_add(c, T_PTR, "PTR", z->count);
}

static void body_srecs(const struct zg_gen *g, const struct zg_zone *z, struct rs_buf *b,
		struct zg_counts *c)
{
	size_t zl = strlen(z->name);
	const struct zg_srec *prev = NULL;
	for (size_t i = z->sfirst; i < z->sfirst + z->scount; i++) {
		const struct zg_srec *s = &g->recs->recs[i];
		if (prev != NULL && prev->type == s->type && strcmp(prev->owner, s->owner) == 0 &&
				strcmp(prev->rdata, s->rdata) == 0) {
			continue; /* an RRset is a set: the same record twice is one */
		}
		prev = s;
		size_t ol = strlen(s->owner);
		if (ol == zl) {
			rs_buf_chr(b, '@');
		} else {
			rs_buf_add(b, s->owner, ol - zl - 1);
		}
		rs_buf_printf(b, "\t%u\tIN\t%s\t%s\n", s->ttl, s->type_name, s->rdata);
		zg_counts_add(c, s->type, s->type_name, 1);
	}
}

int zg_gen_body(const struct zg_gen *g, size_t zone, struct rs_buf *out, struct zg_counts *counts)
{
	const struct zg_zone *z = &g->zones[zone];
	memset(counts, 0, sizeof(*counts));
	/* A guess at the size (a record line is about 50 octets, a host has two
	 * addresses, a role three records per host) saves most of the copying
	 * of a doubling buffer. */
	size_t guess = z->kind == ZG_ZONE_HOST ? z->count * 2 : z->count;
	if (z->kind == ZG_ZONE_ROLES && z->count > 0) {
		const struct zg_role *last = &g->roles[z->first + z->count - 1];
		guess = (last->first + last->count - g->roles[z->first].first) * 3;
	}
	rs_buf_reserve(out, (guess + z->scount + 16) * 56);
	zg_counts_add(counts, T_SOA, "SOA", 1);
	ns_lines(g, "@", out);
	zg_counts_add(counts, T_NS, "NS", g->opt->nns);
	if (g->opt->commit != NULL) {
		zg_counts_add(counts, T_TXT, "TXT", 1);
	}
	switch (z->kind) {
	case ZG_ZONE_HOST:
		body_host(g, z, out, counts);
		break;
	case ZG_ZONE_ROLES:
		body_roles(g, z, out, counts);
		break;
	case ZG_ZONE_REV4:
	case ZG_ZONE_REV6:
		body_rev(g, z, out, counts);
		break;
	}
	body_srecs(g, z, out, counts);
	return rs_buf_error(out);
}
