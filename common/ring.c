#include "common/ring.h"

#include <stdio.h>

#include "common/hash.h"

uint32_t rs_ring_hash(const void *data, size_t len)
{
	return (uint32_t)(rs_hash64(data, len) >> 32);
}

uint32_t rs_ring_token(const char *host, uint16_t port, unsigned vnode)
{
	char buf[320];
	int n = snprintf(buf, sizeof(buf), "%s:%u#%u", host, port, vnode);
	if (n < 0) {
		n = 0;
	} else if ((size_t)n >= sizeof(buf)) {
		n = (int)sizeof(buf) - 1; /* host is at most 255 octets: cannot happen */
	}
	return rs_ring_hash(buf, (size_t)n);
}

size_t rs_ring_owner(const struct rs_ring_point *points, size_t n, uint32_t key_token)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (points[mid].token < key_token) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo == n ? 0 : lo;
}
