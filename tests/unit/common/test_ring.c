#include <criterion/criterion.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "common/ring.h"

/* Known answers pin the hash: changing it would silently remap every key of
 * every client, so these values must never change. */
Test(ring, hash_known_answers)
{
	/* Computed from the formula in ring.h by an independent implementation
	 * (Python, arbitrary-precision integers masked to 64 bits). */
	cr_expect_eq(rs_ring_hash("", 0), 0xefd01f60u);
	cr_expect_eq(rs_ring_hash("a", 1), 0x82a2a958u);
	cr_expect_eq(rs_ring_hash("user-42", 7), 0xa39532c7u);
	cr_expect_eq(rs_ring_token("web1.lon6.example.net.", 8080, 3), 0x20397b0bu);
}

Test(ring, token_is_hash_of_documented_text)
{
	const char *t = "web1.lon6.example.net.:8080#3";
	cr_expect_eq(rs_ring_token("web1.lon6.example.net.", 8080, 3), rs_ring_hash(t, strlen(t)));
}

static int cmp_point(const void *a, const void *b)
{
	const struct rs_ring_point *x = a, *y = b;
	return x->token < y->token ? -1 : x->token > y->token;
}

Test(ring, owner_wraps_and_finds_successor)
{
	struct rs_ring_point p[3] = {{100, 0}, {200, 1}, {300, 2}};
	cr_expect_eq(rs_ring_owner(p, 3, 0), 0);
	cr_expect_eq(rs_ring_owner(p, 3, 100), 0);
	cr_expect_eq(rs_ring_owner(p, 3, 101), 1);
	cr_expect_eq(rs_ring_owner(p, 3, 300), 2);
	cr_expect_eq(rs_ring_owner(p, 3, 301), 0, "wraps to the first point");
}

/* Eight virtual nodes spread keys within reason over 10 instances. */
Test(ring, load_is_spread)
{
	enum { N = 10, K = 20000 };
	struct rs_ring_point pts[N * RS_RING_VNODES];
	char host[64];
	for (unsigned i = 0; i < N; i++) {
		snprintf(host, sizeof(host), "web%u.lon6.example.net.", i);
		for (unsigned v = 0; v < RS_RING_VNODES; v++) {
			pts[i * RS_RING_VNODES + v] =
					(struct rs_ring_point){rs_ring_token(host, 8080, v), i};
		}
	}
	qsort(pts, N * RS_RING_VNODES, sizeof(pts[0]), cmp_point);
	unsigned count[N] = {0};
	char key[32];
	for (unsigned k = 0; k < K; k++) {
		int n = snprintf(key, sizeof(key), "user-%u", k);
		size_t o = rs_ring_owner(pts, N * RS_RING_VNODES, rs_ring_hash(key, (size_t)n));
		count[pts[o].member]++;
	}
	for (unsigned i = 0; i < N; i++) {
		cr_expect_gt(count[i], K / N / 3, "instance %u got %u keys", i, count[i]);
		cr_expect_lt(count[i], K / N * 3, "instance %u got %u keys", i, count[i]);
	}
}
