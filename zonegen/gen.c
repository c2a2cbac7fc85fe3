#include "zonegen/gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/name.h"
#include "zonegen/gen_internal.h"

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
					text, a->fqdn, where(a, w1, sizeof(w1)), b->fqdn,
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
		g->roles[g->nroles++] =
				(struct zg_role){.name = h->role, .first = i, .count = j - i};
		i = j;
	}
	return 0;
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
		zg_gen_note_rrset(z, opt->nns);
		if (z->kind == ZG_ZONE_HOST) {
			for (size_t k = z->first; k < z->first + z->count; k++) {
				zg_gen_note_rrset(z, inv->hosts[k].naddr);
			}
		} else if (z->kind == ZG_ZONE_ROLES) {
			zg_gen_check_roles(g, z);
		}
	}
	zg_gen_check_records(g);
	zg_gen_check_ns(g);
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
