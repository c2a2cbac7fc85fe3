/*
 * The prepared-answer cache: a chained hash table of (lower-cased qname,
 * qtype) -> struct answer_prep. An entry is tagged with the revisions it was
 * built from and rebuilt (answer_build.c) when a lookup finds the tag out of
 * date; it remembers the store revision at which the tag was last found
 * current, so that while the store has not changed a question is answered
 * from its entry without the store lookups (answer_cache_fresh()).
 *
 * Bounds: entries exist only for names of services that existed. Entries of
 * services that went away linger until the table holds far more entries
 * than there are services, and is then flushed; the table doubles while it
 * holds as many entries as buckets, up to 2^20 buckets.
 */
#include "server/dns/answer_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server/registry/store.h"

#define CACHE_BUCKETS_MIN 256u
#define CACHE_BUCKETS_MAX (1u << 20)

/* The key's hash, eight octets per step (a name is read as whole words with
 * one multiply each, then its tail): lookups run on every query, and inline
 * it and the chain walk below (a call each was measurable per query). */
static inline __attribute__((always_inline)) uint64_t hash_key(
		const uint8_t *name, size_t len, uint16_t qtype)
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
	size_t tail = len - i;
	if (tail != 0 && len >= 8) {
		/* The tail ends the last word of the name: one load, not a call. */
		memcpy(&t, name + len - 8, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		t >>= 8 * (8 - tail);
#else
		t &= ~(uint64_t)0 >> 8 * (8 - tail);
#endif
	} else {
		memcpy(&t, name + i, tail);
	}
	h = (h ^ t) * m;
	return h ^ (h >> 32);
}

static void prep_free(struct answer_prep *p)
{
	if (p != NULL) {
		answer_build_clear(p);
		free(p);
	}
}

int answer_cache_init(struct answer *a)
{
	a->nbuckets = CACHE_BUCKETS_MIN;
	a->buckets = calloc(a->nbuckets, sizeof(*a->buckets));
	return a->buckets != NULL ? 0 : RS_ENOMEM;
}

void answer_cache_flush(struct answer *a)
{
	for (size_t b = 0; b < a->nbuckets; b++) {
		struct answer_prep *p = a->buckets[b];
		while (p != NULL) {
			struct answer_prep *next = p->next;
			prep_free(p);
			p = next;
		}
		a->buckets[b] = NULL;
	}
	a->nentries = 0;
}

void answer_cache_deinit(struct answer *a)
{
	if (a->buckets != NULL) {
		answer_cache_flush(a);
	}
	free(a->buckets);
	a->buckets = NULL;
	a->nbuckets = 0;
}

/* Flush when entries of vanished services dominate; double the table while
 * it holds as many entries as buckets. Called before an entry is added. */
static void cache_trim(struct answer *a)
{
	struct store_sizes sz;
	store_sizes_get(a->store, &sz);
	if (a->nentries > 8 * sz.services + 4096) {
		answer_cache_flush(a);
	}
	if (a->nentries >= a->nbuckets && a->nbuckets < CACHE_BUCKETS_MAX) {
		size_t nb = a->nbuckets * 2;
		struct answer_prep **b = calloc(nb, sizeof(*b));
		if (b == NULL) {
			return; /* longer chains, still correct */
		}
		for (size_t i = 0; i < a->nbuckets; i++) {
			struct answer_prep *p = a->buckets[i];
			while (p != NULL) {
				struct answer_prep *next = p->next;
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

/* The link to the entry for the current question's name and @p qtype in
 * its chain (*link is NULL when there is none). */
static inline __attribute__((always_inline)) struct answer_prep **prep_find(
		struct answer *a, uint16_t qtype, uint64_t hash)
{
	const struct dnswire_query *q = &a->q;
	struct answer_prep **pp = &a->buckets[hash & (a->nbuckets - 1)];
	for (; *pp != NULL; pp = &(*pp)->next) {
		const struct answer_prep *p = *pp;
		if (p->qtype == qtype && p->qlen == q->qname_len &&
				memcmp(p->qname, q->qname_lower, q->qname_len) == 0) {
			break;
		}
	}
	return pp;
}

const struct answer_prep *answer_cache_fresh(struct answer *a, uint16_t qtype)
{
	const struct dnswire_query *q = &a->q;
	const struct answer_prep *p =
			*prep_find(a, qtype, hash_key(q->qname_lower, q->qname_len, qtype));
	return p != NULL && p->seen_rev == store_revision(a->store) ? p : NULL;
}

const struct answer_prep *answer_cache_get(struct answer *a, uint16_t qtype, uint64_t rev,
		uint64_t tag_n, enum answer_prep_kind kind, const struct store_service *svc)
{
	const struct dnswire_query *q = &a->q;
	uint64_t hash = hash_key(q->qname_lower, q->qname_len, qtype);
	struct answer_prep **pp = prep_find(a, qtype, hash);
	if (*pp != NULL) {
		struct answer_prep *p = *pp;
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
	struct answer_prep *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		return NULL;
	}
	p->qtype = qtype;
	p->qlen = (uint8_t)q->qname_len;
	memcpy(p->qname, q->qname_lower, q->qname_len);
	p->tag_rev = rev;
	p->tag_n = tag_n;
	p->seen_rev = store_revision(a->store);
	if (answer_build_rrset(a, p, kind, svc) != 0) {
		prep_free(p);
		return NULL;
	}
	p->next = a->buckets[h];
	a->buckets[h] = p;
	a->nentries++;
	return p;
}
