#include "server/dns/rrl.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/addr.h"
#include "common/error.h"

/* Tokens are counted in thousandths of a response, so that a refill of a
 * few milliseconds at a low rate is not lost to rounding. */
#define MILLI 1000

struct rrl_bucket {
	uint64_t key;      /* the key's hash; 0: empty */
	uint64_t stamp_ms; /* last update */
	int64_t tokens;    /* thousandths of a response */
	uint32_t limited;  /* limited responses, for the slip count */
};

struct rrl {
	uint32_t rate;
	uint32_t slip;
	uint64_t seed;
	size_t nsets; /* a power of two */
	struct rs_prefix *exempt;
	size_t nexempt;
	struct rrl_bucket *buckets; /* nsets * RRL_WAYS */
	pthread_mutex_t locks[RRL_LOCKS];
};

int rrl_new(const struct rrl_config *cfg, struct rrl **out)
{
	*out = NULL;
	size_t slots = cfg->slots != 0 ? cfg->slots : RRL_SLOTS_DEFAULT;
	if (cfg->rate == 0 || slots < RRL_WAYS || (slots & (slots - 1)) != 0) {
		return RS_EINVAL;
	}
	struct rrl *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		return RS_ENOMEM;
	}
	r->buckets = calloc(slots, sizeof(*r->buckets));
	r->exempt = calloc(cfg->nexempt + 1, sizeof(*r->exempt));
	if (r->buckets == NULL || r->exempt == NULL) {
		rrl_free(r);
		return RS_ENOMEM;
	}
	if (cfg->nexempt > 0) {
		memcpy(r->exempt, cfg->exempt, cfg->nexempt * sizeof(*r->exempt));
	}
	r->nexempt = cfg->nexempt;
	r->rate = cfg->rate;
	r->slip = cfg->slip;
	r->nsets = slots / RRL_WAYS;
	r->seed = cfg->seed;
	if (r->seed == 0 &&
			getrandom(&r->seed, sizeof(r->seed), GRND_NONBLOCK) != sizeof(r->seed)) {
		r->seed = 0x5d1e5c0ffee5eedULL; /* still a working table */
	}
	for (size_t i = 0; i < RRL_LOCKS; i++) {
		pthread_mutex_init(&r->locks[i], NULL);
	}
	*out = r;
	return 0;
}

void rrl_free(struct rrl *r)
{
	if (r == NULL) {
		return;
	}
	if (r->buckets != NULL && r->exempt != NULL) {
		for (size_t i = 0; i < RRL_LOCKS; i++) {
			pthread_mutex_destroy(&r->locks[i]);
		}
	}
	free(r->buckets);
	free(r->exempt);
	free(r);
}

/* The end of the question's name from offset 12, or 0 when there is no
 * well-formed uncompressed name there. */
static size_t question_name_end(const uint8_t *m, size_t len)
{
	if (len < 12 || ((m[4] << 8) | m[5]) == 0) {
		return 0;
	}
	size_t off = 12;
	while (off < len && off - 12 < 255) {
		uint8_t l = m[off];
		if (l == 0) {
			return off + 1 - 12 <= 255 ? off + 1 : 0; /* RFC 1035 2.3.4 */
		}
		if (l > 63) {
			return 0;
		}
		off += 1u + l;
	}
	return 0;
}

enum rrl_class rrl_classify(const uint8_t *resp, size_t len)
{
	if (len < 12) {
		return RRL_ERROR;
	}
	unsigned rcode = resp[3] & 0x0f;
	unsigned ancount = (unsigned)(resp[6] << 8) | resp[7];
	if (rcode == 3) {
		return RRL_NXDOMAIN;
	}
	if (rcode != 0) {
		return RRL_ERROR;
	}
	return ancount > 0 ? RRL_POSITIVE : RRL_NODATA;
}

/* A seeded 64-bit hash (multiply-xorshift over 8-octet words). */
static uint64_t mix(uint64_t h, uint64_t w)
{
	h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 31);
}

/* The bucket key of a response to @p src: the source's prefix, the class,
 * and for positive and NODATA answers the qname (and the qtype). False
 * when the source has no prefix (not IPv4 or IPv6). */
static bool bucket_key(const struct rrl *r, const struct sockaddr *src, const uint8_t *resp,
		size_t len, uint64_t *key)
{
	uint8_t k[16 + 256 + 16] = {0}; /* 8-padded past the longest key */
	size_t n;
	if (src->sa_family == AF_INET) {
		k[0] = 4;
		memcpy(k + 1, &((const struct sockaddr_in *)src)->sin_addr, 3); /* /24 */
	} else if (src->sa_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)src)->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a)) {
			k[0] = 4;
			memcpy(k + 1, a + 12, 3);
		} else {
			k[0] = 6;
			memcpy(k + 1, a, 7); /* /56 */
		}
	} else {
		return false;
	}
	enum rrl_class c = rrl_classify(resp, len);
	k[8] = (uint8_t)c;
	n = 16;
	size_t end = c == RRL_POSITIVE || c == RRL_NODATA ? question_name_end(resp, len) : 0;
	if (end != 0) {
		for (size_t i = 12; i < end; i++) {
			uint8_t b = resp[i];
			k[n++] = b >= 'A' && b <= 'Z' ? (uint8_t)(b + 32) : b;
		}
		if (c == RRL_POSITIVE && end + 2 <= len) {
			k[n++] = resp[end];
			k[n++] = resp[end + 1];
		}
	}
	uint64_t h = r->seed;
	for (size_t i = 0; i < n; i += 8) {
		uint64_t w;
		memcpy(&w, k + i, 8); /* k is zero past n, and 8-padded */
		h = mix(h, w);
	}
	h = mix(h, n);
	*key = h != 0 ? h : 1;
	return true;
}

/* Under the set's lock: find or take the bucket of @p key in @p set, and
 * spend a token. True when the response may go. */
static bool bucket_spend(struct rrl *r, struct rrl_bucket *set, uint64_t key, uint64_t now_ms,
		uint32_t *limited)
{
	struct rrl_bucket *b = NULL;
	struct rrl_bucket *victim = NULL; /* an empty way, else the least recently used */
	for (size_t w = 0; w < RRL_WAYS; w++) {
		if (set[w].key == key) {
			b = &set[w];
			break;
		}
		if (victim == NULL ||
				(victim->key != 0 &&
						(set[w].key == 0 ||
								set[w].stamp_ms <
										victim->stamp_ms))) {
			victim = &set[w];
		}
	}
	const int64_t cap = (int64_t)r->rate * MILLI;
	if (b == NULL) {
		b = victim;
		*b = (struct rrl_bucket){.key = key, .stamp_ms = now_ms, .tokens = cap};
	} else if (now_ms > b->stamp_ms) {
		uint64_t dt = now_ms - b->stamp_ms;
		b->tokens += (int64_t)(dt > MILLI ? MILLI : dt) * r->rate;
		b->tokens = b->tokens > cap ? cap : b->tokens;
		b->stamp_ms = now_ms;
	}
	if (b->tokens >= MILLI) {
		b->tokens -= MILLI;
		return true;
	}
	*limited = ++b->limited;
	return false;
}

/* TC=1, no records, the question alone (RFC 2181 9: a client that sees TC
 * retries over TCP). */
static void slip_rewrite(uint8_t *resp, size_t *len)
{
	size_t end = question_name_end(resp, *len);
	resp[2] |= 0x02;
	memset(resp + 6, 0, 6);
	if (end != 0 && end + 4 <= *len) {
		resp[4] = 0;
		resp[5] = 1;
		*len = end + 4;
	} else {
		resp[4] = resp[5] = 0;
		*len = 12;
	}
}

enum rrl_action rrl_apply(struct rrl *r, const struct sockaddr *src, uint8_t *resp, size_t *len,
		uint64_t now_ms)
{
	if (src == NULL || *len < 12) {
		return RRL_SEND;
	}
	for (size_t i = 0; i < r->nexempt; i++) {
		if (rs_prefix_match(&r->exempt[i], src)) {
			return RRL_SEND;
		}
	}
	uint64_t key;
	if (!bucket_key(r, src, resp, *len, &key)) {
		return RRL_SEND;
	}
	size_t set = (size_t)(key >> 32) & (r->nsets - 1);
	pthread_mutex_t *lock = &r->locks[set % RRL_LOCKS];
	uint32_t limited = 0;
	pthread_mutex_lock(lock);
	bool go = bucket_spend(r, &r->buckets[set * RRL_WAYS], key, now_ms, &limited);
	pthread_mutex_unlock(lock);
	if (go) {
		return RRL_SEND;
	}
	if (r->slip == 0 || limited % r->slip != 0) {
		return RRL_DROP;
	}
	slip_rewrite(resp, len);
	return RRL_SLIP;
}
