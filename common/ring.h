/*
 * common/ring.h - the consistent-hash ring of a service (the `_ring` TXT
 * records of rosterd and `roster ring`).
 *
 * Pure, no allocation, any thread.
 *
 * The hash, stable across versions and platforms, so that any client in any
 * language can reproduce it:
 *
 *   h64   = FNV-1a 64 over the bytes (offset basis 0xcbf29ce484222325,
 *           prime 0x100000001b3)
 *   h64  ^= h64 >> 33; h64 *= 0xff51afd7ed558ccd;
 *   h64  ^= h64 >> 33; h64 *= 0xc4ceb9fe1a85ec53;
 *   h64  ^= h64 >> 33                 (MurmurHash3's fmix64 finaliser)
 *   token = h64 >> 32                 (the upper 32 bits)
 *
 * FNV-1a alone mixes its last input bytes poorly into the upper bits; the
 * finaliser fixes that at the cost of three multiplications. The token is
 * rs_hash64() >> 32 (common/hash.h), the one implementation of both steps.
 *
 * Every instance owns RS_RING_VNODES points; point i of an instance has the
 * token of the text "<host>:<port>#<i>", host in canonical form (lower case,
 * trailing dot), port and i in decimal: "web1.lon6.example.net.:8080#3".
 * A key's token is the hash of its bytes as given. The key's owner is the
 * point with the smallest token >= the key's token, wrapping to the first
 * point; equal tokens order by host text, then port.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/** Virtual nodes per instance. Eight keep a 75-instance ring within one TCP
 * message (600 TXT strings) while spreading load within a few percent. */
#define RS_RING_VNODES 8

/** One point on the ring. */
struct rs_ring_point {
	uint32_t token;
	uint32_t member; /**< caller's index of the owning instance */
};

/** The ring hash of @p len bytes (see the header comment). */
uint32_t rs_ring_hash(const void *data, size_t len);

/**
 * Token of virtual node @p vnode of an instance.
 * @param host canonical host name (lower case, trailing dot).
 */
uint32_t rs_ring_token(const char *host, uint16_t port, unsigned vnode);

/**
 * Index of the point owning @p key_token in @p points, sorted by token.
 * @return an index < @p n, or 0 when @p n is 0 (callers check n first).
 */
size_t rs_ring_owner(const struct rs_ring_point *points, size_t n, uint32_t key_token);
