/*
 * The per-query order of a prepared RRset: a plain shuffle (SRV, and A/AAAA
 * of equal weights), a weighted shuffle (A/AAAA), and, when the set does not
 * fit in a TCP message, the weighted random subset that does. Runs on every
 * positive answer: no allocation (the scratch is sized when an entry is
 * built), no logarithm for the common small sets.
 */
#include "server/dns/answer_internal.h"

#include <math.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "common/error.h"
#include "common/hash.h"

/* Below this many RRs a weighted order is drawn position by position
 * (O(n^2) additions, no logarithms): cheaper for the common small sets. */
#define WEIGHTED_SMALL 16

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

static void order_sort(struct answer_order *o, size_t n)
{
	/* Shell sort (Ciura's gaps): in place, no allocation, fine to 2,500. */
	static const size_t gaps[] = {1750, 701, 301, 132, 57, 23, 10, 4, 1};
	for (size_t g = 0; g < sizeof(gaps) / sizeof(gaps[0]); g++) {
		size_t gap = gaps[g];
		for (size_t i = gap; i < n; i++) {
			struct answer_order t = o[i];
			size_t j = i;
			while (j >= gap && o[j - gap].key > t.key) {
				o[j] = o[j - gap];
				j -= gap;
			}
			o[j] = t;
		}
	}
}

/* Weighted random order: each position is drawn among the RRs left with
 * probability proportional to their weights, i.e. the same distribution as
 * the key sort below, without a logarithm per RR. */
static void order_weighted_small(struct answer_order *o, const struct answer_prep *p, uint64_t *rng)
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
static void order_weighted(struct answer_order *o, const struct answer_prep *p, uint64_t *rng)
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

static void order_shuffle(struct answer_order *o, uint32_t n, uint64_t *rng)
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

int answer_pick_reserve(struct answer *a, uint32_t n)
{
	if (n > a->order_cap) {
		struct answer_order *o = realloc(a->order, n * sizeof(*o));
		if (o == NULL) {
			return RS_ENOMEM;
		}
		a->order = o;
		a->order_cap = n;
	}
	return 0;
}

/* The weighted order from @p seed, then as many RRs as fit in @p room. */
static uint32_t pick_fit(struct answer *a, const struct answer_prep *p, size_t room, uint64_t *seed)
{
	struct answer_order *o = a->order;
	order_weighted(o, p, seed);
	uint32_t k = 0;
	size_t used = 0;
	while (k < p->n && used + 2 + p->rr[o[k].idx].len <= room) {
		used += 2 + p->rr[o[k].idx].len;
		k++;
	}
	return k;
}

/* A new order for the @p k RRs already chosen in @p o (a stable subset):
 * shuffled per query as a whole answer is (weighted for weighted A/AAAA
 * sets), so that the subset is the client's but its first RR is not. */
static void reorder_chosen(
		struct answer_order *o, uint32_t k, const struct answer_prep *p, uint64_t *rng)
{
	if (p->weighted && !p->uniform) {
		for (uint32_t i = 0; i < k; i++) {
			o[i].key = -log(rng_unit(rng)) / p->rr[o[i].idx].weight;
		}
		order_sort(o, k);
		return;
	}
	for (uint32_t i = k; i > 1; i--) {
		uint32_t j = (uint32_t)(((rng_next(rng) >> 32) * i) >> 32);
		uint32_t t = o[i - 1].idx;
		o[i - 1].idx = o[j].idx;
		o[j].idx = t;
	}
}

/* The stable seed of a set: its revision. */
static uint64_t stable_seed(const struct answer_prep *p)
{
	return p->tag_rev * 0x9e3779b97f4a7c15u;
}

/* A weighted random subset of whole RRs that fits in @p room; with stable
 * subsets, seeded by the client address and the revision of the set, so a
 * client sees the same subset until the set changes, in an order of each
 * query's (SPEC: the same subset, the SRV order shuffled). */
static uint32_t pick_subset(struct answer *a, const struct answer_prep *p, size_t room,
		const struct answer_client *c)
{
	if (!a->stable || c->addr == NULL) {
		return pick_fit(a, p, room, &a->rng);
	}
	const uint8_t *b = (const uint8_t *)c->addr;
	/* the address bytes only: a new connection has a new port */
	size_t from = c->addr->sa_family == AF_INET6 ? offsetof(struct sockaddr_in6, sin6_addr)
						     : offsetof(struct sockaddr_in, sin_addr);
	size_t len = c->addr->sa_family == AF_INET6 ? 16 : 4;
	/* FNV-1a from the revision's seed, no finaliser: the subset a client
	 * sees depends on it, so it stays as it was. */
	uint64_t seed = rs_fnv1a64(stable_seed(p), b + from, len);
	uint32_t k = pick_fit(a, p, room, &seed);
	reorder_chosen(a->order, k, p, &a->rng);
	return k;
}

uint32_t answer_pick_order(struct answer *a, const struct answer_prep *p, size_t room,
		const struct answer_client *c, bool *partial)
{
	struct answer_order *o = a->order;
	*partial = p->total > room;
	if (*partial) {
		return pick_subset(a, p, room, c); /* only over TCP: the writer truncates UDP */
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
