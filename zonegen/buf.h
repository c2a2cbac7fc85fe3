/*
 * zonegen/buf.h - a growable byte buffer with the few fast appenders the zone
 * writer needs (strings, decimals, IPv4 dotted quads).
 *
 * Owns its memory. Pure, no I/O, one thread. Appenders never fail visibly:
 * an allocation failure sets a sticky flag that zg_buf_ok() reports, so hot
 * loops append without checking every call and check once at the end.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct zg_buf {
	char *data;
	size_t len;
	size_t cap;
	bool failed; /**< an allocation failed; contents are incomplete */
};

/** Prepare an empty buffer in caller's storage. Allocates nothing. */
void zg_buf_init(struct zg_buf *b);

/** Free the memory; the buffer is empty and usable again. NULL-safe. */
void zg_buf_deinit(struct zg_buf *b);

/** Make room for @p more bytes; sets the failed flag when out of memory. */
void zg_buf_reserve_slow(struct zg_buf *b, size_t more);

/** @return 0, or RS_ENOMEM if any append failed since zg_buf_init(). */
__attribute__((warn_unused_result)) int zg_buf_ok(const struct zg_buf *b);

/** Make sure @p more bytes fit after len. @return false once an allocation failed. */
static inline bool zg_buf_room(struct zg_buf *b, size_t more)
{
	if (b->cap - b->len < more) {
		zg_buf_reserve_slow(b, more);
	}
	return !b->failed;
}

/** Append @p n bytes. */
static inline void zg_buf_add(struct zg_buf *b, const void *p, size_t n)
{
	if (zg_buf_room(b, n)) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
	}
}

/** Append a NUL-terminated string (without its NUL). */
static inline void zg_buf_str(struct zg_buf *b, const char *s)
{
	zg_buf_add(b, s, strlen(s));
}

/** Append one character. */
static inline void zg_buf_chr(struct zg_buf *b, char c)
{
	if (zg_buf_room(b, 1)) {
		b->data[b->len++] = c;
	}
}

/** Append an unsigned decimal. */
void zg_buf_u64(struct zg_buf *b, uint64_t v);

/** Append an IPv4 address (4 octets, network order) as a dotted quad. */
void zg_buf_ipv4(struct zg_buf *b, const uint8_t a[4]);

/**
 * Append an IPv6 address (16 octets) in RFC 5952 form, exactly as
 * inet_ntop() writes it (lower case, longest zero run as "::").
 */
void zg_buf_ipv6(struct zg_buf *b, const uint8_t a[16]);

/** Append printf-style text; for the rare, non-hot lines. */
void zg_buf_printf(struct zg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
