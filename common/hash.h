/*
 * common/hash.h - the one 64-bit hash of byte strings Roster uses: FNV-1a 64
 * and MurmurHash3's fmix64 finaliser.
 *
 * Owns: the FNV-1a 64 loop and the finaliser, for every hash of bytes in
 * the tree that is not a cryptographic one (TSIG, cookies and tokens use
 * libsodium).
 *
 * Why here and not in common/ring.h: the ring is one user among several
 * (rate-limit buckets, transfer tables, stable subsets, shard placement,
 * lease owner tags); a rate limiter or a zone table that includes ring.h
 * would say it depends on the consistent-hash ring, which it does not.
 * ring.h keeps the ring's contract (the token is rs_hash64() >> 32) and
 * defines its hash with these functions.
 *
 *   rs_fnv1a64(h, p, n): for each byte b: h = (h ^ b) * 0x100000001b3
 *                        (start with h = RS_FNV1A64_BASIS, 0xcbf29ce484222325,
 *                        or a seed of the caller's; a result can be passed
 *                        back in to hash a further run of bytes)
 *   rs_fmix64_half(h):   h ^= h >> 33; h *= 0xff51afd7ed558ccd; h ^= h >> 33
 *   rs_fmix64(h):        rs_fmix64_half(h), then
 *                        h *= 0xc4ceb9fe1a85ec53; h ^= h >> 33
 *   rs_hash64(p, n):     rs_fmix64(rs_fnv1a64(RS_FNV1A64_BASIS, p, n))
 *
 * FNV-1a alone mixes its last bytes poorly into the upper bits and its low
 * bits are weak in a power-of-two table; rs_hash64() is the one to use for
 * anything new. Plain rs_fnv1a64() and rs_fmix64_half() exist because values
 * built on them leave the process and must not change: the stable subsets
 * of a client's TCP answer (server/dns/answer_pick.c) and of a transfer
 * (server/dns/xfr_zone.c), which every secondary must agree on.
 *
 * Must not: change. The values are on the wire (`_ring` tokens, zonegen's
 * shards, transferred subsets), reproduced by other implementations
 * (clients/python/roster/ring.py, tests/integration/client_support) and
 * pinned by tests/unit/common/test_hash.c. Not for untrusted keys where
 * collisions are an attack (no secret seed): such tables must bound their
 * chains or probe counts themselves.
 *
 * Pure, no allocation, any thread; the same on every platform (bytes, not
 * words, so endianness does not enter).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/** FNV-1a 64's offset basis: the start value of a plain FNV-1a 64. */
#define RS_FNV1A64_BASIS 0xcbf29ce484222325ULL

/** FNV-1a 64's prime. */
#define RS_FNV1A64_PRIME 0x100000001b3ULL

/**
 * FNV-1a 64 of @p len bytes at @p data (NULL allowed when @p len is 0),
 * continuing from @p h: RS_FNV1A64_BASIS for the plain hash, a caller's seed
 * otherwise, or a previous result to hash a concatenation piece by piece.
 * No finaliser: see rs_fmix64().
 */
static inline uint64_t rs_fnv1a64(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;
	for (size_t i = 0; i < len; i++) {
		h = (h ^ p[i]) * RS_FNV1A64_PRIME;
	}
	return h;
}

/**
 * The first half of MurmurHash3's fmix64 (one shift-multiply-shift round).
 * Only for the transfer subsets of server/dns/xfr_zone.c, whose values
 * must not change; new code uses rs_fmix64().
 */
static inline uint64_t rs_fmix64_half(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/** MurmurHash3's fmix64: every input bit reaches every output bit. A
 * bijection, so it adds no collisions. */
static inline uint64_t rs_fmix64(uint64_t h)
{
	h = rs_fmix64_half(h);
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/** The hash of @p len bytes: FNV-1a 64, then rs_fmix64(). All 64 bits are
 * usable, the low ones as a power-of-two table index, the high ones as a
 * token (rs_ring_hash() is the upper 32). */
static inline uint64_t rs_hash64(const void *data, size_t len)
{
	return rs_fmix64(rs_fnv1a64(RS_FNV1A64_BASIS, data, len));
}
