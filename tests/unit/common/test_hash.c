#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "common/hash.h"
#include "common/ring.h"

/* Known answers pin common/hash.h: ring tokens, zonegen's shards and the
 * transferred stable subsets are built on these functions, so a change here
 * remaps what clients and secondaries see. These values must never change.
 * Computed by an independent implementation (Python, arbitrary-precision
 * integers masked to 64 bits); the FNV-1a ones are also the published
 * FNV-1a 64 test vectors. */

Test(hash, fnv1a64_known_answers)
{
	cr_expect_eq(rs_fnv1a64(RS_FNV1A64_BASIS, "", 0), 0xcbf29ce484222325ULL);
	cr_expect_eq(rs_fnv1a64(RS_FNV1A64_BASIS, NULL, 0), RS_FNV1A64_BASIS);
	cr_expect_eq(rs_fnv1a64(RS_FNV1A64_BASIS, "a", 1), 0xaf63dc4c8601ec8cULL);
	cr_expect_eq(rs_fnv1a64(RS_FNV1A64_BASIS, "foobar", 6), 0x85944171f73967e8ULL);
	const uint8_t b[8] = {0, 1, 2, 3, 4, 5, 6, 7};
	cr_expect_eq(rs_fnv1a64(RS_FNV1A64_BASIS, b, sizeof(b)), 0xa4dc49e2b28ecb7dULL);
}

Test(hash, fnv1a64_seeded_and_continued)
{
	/* answer_pick.c: the revision's seed, then the client's address */
	const uint8_t v4[4] = {192, 0, 2, 1};
	cr_expect_eq(rs_fnv1a64(7 * 0x9e3779b97f4a7c15ULL, v4, 4), 0xc693eb103d27fefeULL);
	/* xfr_zone.c: the basis xor the RR type, then the owner */
	cr_expect_eq(rs_fnv1a64(RS_FNV1A64_BASIS ^ 28, "\3www\7example", 12),
			0xa1bbd738b6ce0a64ULL);
	/* a result passed back in hashes the concatenation */
	cr_expect_eq(rs_fnv1a64(rs_fnv1a64(RS_FNV1A64_BASIS, "foo", 3), "bar", 3),
			rs_fnv1a64(RS_FNV1A64_BASIS, "foobar", 6));
}

Test(hash, finalisers_known_answers)
{
	cr_expect_eq(rs_fmix64(0), 0);
	cr_expect_eq(rs_fmix64(1), 0xb456bcfc34c2cb2cULL);
	cr_expect_eq(rs_fmix64(UINT64_MAX), 0x64b5720b4b825f21ULL);
	cr_expect_eq(rs_fmix64_half(1), 0xff51afd792fd5b26ULL);
	cr_expect_eq(rs_fmix64_half(0xaf63dc4c8601ec8cULL), 0xed8170de1919a24dULL);
	cr_expect_eq(rs_fmix64_half(0x85944171f73967e8ULL), 0x6916ce8b48d4bc55ULL);
}

Test(hash, hash64_known_answers)
{
	cr_expect_eq(rs_hash64("", 0), 0xefd01f60ba992926ULL);
	cr_expect_eq(rs_hash64("a", 1), 0x82a2a958a9bece5bULL);
	cr_expect_eq(rs_hash64("foobar", 6), 0x2c22194922d1672bULL);
	cr_expect_eq(rs_hash64("user-42", 7), 0xa39532c7ab051e8dULL);
	cr_expect_eq(rs_hash64("\7_status", 8), 0x1459005eafb2f3bcULL);
}

Test(hash, ring_hash_is_upper_half_of_hash64)
{
	const char *keys[] = {"", "a", "user-42", "web1.lon6.example.net.:8080#3"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		size_t n = strlen(keys[i]);
		cr_expect_eq(rs_ring_hash(keys[i], n), (uint32_t)(rs_hash64(keys[i], n) >> 32),
				"%s", keys[i]);
	}
}
