/*
 * The RRset sizes of the roles zones and, with --shard-large, the sharding
 * of a role whose RRsets do not fit one DNS message (gen.h).
 */
#include "zonegen/gen_internal.h"

#include <string.h>

#include "common/ring.h"

/* A shard is filled to at most this share of a message, so that a few more
 * hosts hashing into one shard do not make the next run reshuffle. */
#define SHARD_FILL_PCT 80
#define SHARDS_MAX 1000

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
		zg_gen_note_rrset(z, max3(ss.n4, ss.n6, ss.nptr));
	}
	zg_gen_note_rrset(z, all->a <= ZG_MSG_MAX ? all->n4 : 0);
	zg_gen_note_rrset(z, all->aaaa <= ZG_MSG_MAX ? all->n6 : 0);
}

void zg_gen_check_roles(struct zg_gen *g, struct zg_zone *z)
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
			zg_gen_note_rrset(z, max3(s.n4, s.n6, s.nptr));
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
		zg_gen_note_rrset(z, max3(s.n4, s.n6, s.nptr));
	}
}
