#include "server/net/conncap.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/clock.h"

/* The first table: enough for a quiet listener without growing. */
#define CONNCAP_SIZE_MIN 64u

/* ---- SipHash-1-3 of one 16-octet source -------------------------------- */

/* Keyed, so that clients who choose their addresses cannot choose their
 * slots (the hash-flooding attacks on unkeyed tables); 1-3 rounds are what
 * Rust's and Python's hash tables settled on for this job. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = ROTL(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = ROTL(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = ROTL(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = ROTL(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = ROTL(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = ROTL(v2, 32);                                                                 \
	} while (0)

static uint32_t source_hash(const struct conncap *cap, const struct conncap_source *s)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ cap->key[0];
	uint64_t v1 = 0x646f72616e646f6dULL ^ cap->key[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ cap->key[0];
	uint64_t v3 = 0x7465646279746573ULL ^ cap->key[1];
	for (int i = 0; i < 2; i++) {
		uint64_t m;
		memcpy(&m, s->b + 8 * i, sizeof(m));
		v3 ^= m;
		SIPROUND;
		v0 ^= m;
	}
	uint64_t last = (uint64_t)16 << 56;
	v3 ^= last;
	SIPROUND;
	v0 ^= last;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	uint64_t h = v0 ^ v1 ^ v2 ^ v3;
	return (uint32_t)(h ^ (h >> 32));
}

/* ---- the table ------------------------------------------------------------- */

void conncap_init(struct conncap *cap)
{
	memset(cap, 0, sizeof(*cap));
	if (getrandom(cap->key, sizeof(cap->key), GRND_NONBLOCK) != (ssize_t)sizeof(cap->key)) {
		uint64_t ns = rs_clock_mono_ns();
		cap->key[0] = ns * 0x9e3779b97f4a7c15ULL ^ (uintptr_t)cap;
		cap->key[1] = (ns >> 30) * 0xbf58476d1ce4e5b9ULL ^ ns;
	}
}

void conncap_deinit(struct conncap *cap)
{
	if (cap == NULL) {
		return;
	}
	free(cap->slots);
	cap->slots = NULL;
	cap->size = 0;
	cap->sources = 0;
	cap->open = 0;
}

void conncap_source_of(const struct sockaddr *sa, struct conncap_source *out)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	memset(out->b, 0, sizeof(out->b));
	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		memcpy(out->b, mapped, sizeof(mapped));
		memcpy(out->b + 12, &sin->sin_addr, 4);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		if (memcmp(sin6->sin6_addr.s6_addr, mapped, sizeof(mapped)) == 0) {
			memcpy(out->b, sin6->sin6_addr.s6_addr, 16); /* an IPv4 peer */
		} else {
			memcpy(out->b, sin6->sin6_addr.s6_addr, 8); /* its /64 */
		}
	} else {
		memset(out->b, 0xff, sizeof(out->b));
	}
}

/* The slot holding @p s, or the empty slot where it would go. The table is
 * never full (at most half), so the probe ends. */
static uint32_t slot_find(const struct conncap *cap, const struct conncap_source *s, uint32_t h)
{
	uint32_t mask = cap->size - 1;
	uint32_t i = h & mask;
	for (;;) {
		const struct conncap_slot *e = &cap->slots[i];
		if (e->n == 0 || (e->hash == h && memcmp(&e->src, s, sizeof(*s)) == 0)) {
			return i;
		}
		i = (i + 1) & mask;
	}
}

static int table_grow(struct conncap *cap)
{
	uint32_t size = cap->size == 0 ? CONNCAP_SIZE_MIN : cap->size * 2;
	if (size < cap->size) {
		return -1;
	}
	struct conncap_slot *slots = calloc(size, sizeof(*slots));
	if (slots == NULL) {
		return -1;
	}
	struct conncap_slot *old = cap->slots;
	uint32_t old_size = cap->size;
	cap->slots = slots;
	cap->size = size;
	for (uint32_t k = 0; k < old_size; k++) {
		if (old[k].n != 0) {
			cap->slots[slot_find(cap, &old[k].src, old[k].hash)] = old[k];
		}
	}
	free(old);
	return 0;
}

/* Backward-shift deletion (Knuth 6.4, algorithm R): pull later members of
 * the probe run into the hole unless that would put them before their home
 * slot, so lookups stay correct without tombstones. */
static void slot_remove(struct conncap *cap, uint32_t i)
{
	uint32_t mask = cap->size - 1;
	uint32_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (cap->slots[j].n == 0) {
			break;
		}
		uint32_t home = cap->slots[j].hash & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			cap->slots[i] = cap->slots[j];
			i = j;
		}
	}
	cap->slots[i].n = 0;
	cap->sources--;
}

enum conncap_verdict conncap_admit(struct conncap *cap, const struct sockaddr *peer,
		const struct conncap_limits *lim, struct conncap_ticket *t)
{
	if (cap->open >= lim->max_total) {
		return CONNCAP_OVER_TOTAL;
	}
	struct conncap_source src;
	conncap_source_of(peer, &src);
	uint32_t h = source_hash(cap, &src);
	if (cap->size > 0) {
		uint32_t i = slot_find(cap, &src, h);
		if (cap->slots[i].n != 0) {
			if (cap->slots[i].n >= lim->max_per_source) {
				return CONNCAP_OVER_SOURCE;
			}
			cap->slots[i].n++;
			goto admitted;
		}
	}
	if (lim->max_per_source == 0) {
		return CONNCAP_OVER_SOURCE;
	}
	/* A new source: keep the table at most half full (short probe runs). */
	if ((uint64_t)(cap->sources + 1) * 2 > cap->size && table_grow(cap) < 0 &&
			cap->sources + 1 >= cap->size) {
		return CONNCAP_NO_MEMORY; /* a fuller table still works; a full one does not */
	}
	uint32_t i = slot_find(cap, &src, h);
	cap->slots[i] = (struct conncap_slot){.src = src, .hash = h, .n = 1};
	cap->sources++;
admitted:
	cap->open++;
	t->src = src;
	t->held = true;
	return CONNCAP_ADMIT;
}

void conncap_release(struct conncap *cap, struct conncap_ticket *t)
{
	if (!t->held) {
		return;
	}
	t->held = false;
	if (cap->size == 0) {
		return; /* deinit came first: nothing to give back */
	}
	uint32_t i = slot_find(cap, &t->src, source_hash(cap, &t->src));
	if (cap->slots[i].n == 0) {
		return;
	}
	cap->open--;
	if (--cap->slots[i].n == 0) {
		slot_remove(cap, i);
	}
}

uint32_t conncap_source_open(const struct conncap *cap, const struct sockaddr *peer)
{
	if (cap->size == 0) {
		return 0;
	}
	struct conncap_source src;
	conncap_source_of(peer, &src);
	return cap->slots[slot_find(cap, &src, source_hash(cap, &src))].n;
}
