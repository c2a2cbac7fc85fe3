/*
 * common/buf.h - a growable byte buffer, and the growth of a malloc'ed array.
 *
 * Owns: struct rs_buf, a byte buffer that doubles as it fills, with
 * appenders for bytes, strings, decimals and printf text; and
 * rs_array_grow(), the one place where an array of any element type grows
 * (doubling, overflow-checked).
 *
 * An rs_buf's first allocation failure is sticky: the appenders then do
 * nothing, so a renderer appends without checking each call and its caller
 * checks rs_buf_error() once at the end (the contents are incomplete then).
 * A zero-initialised struct rs_buf is a valid empty buffer.
 *
 * Must not: know what the bytes mean (text formats, DNS, frames belong to
 * their modules), or do I/O.
 *
 * Threads: pure; one buffer belongs to one thread at a time.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct rs_buf {
	char *data; /**< not NUL-terminated; NULL until the first growth */
	size_t len; /**< bytes appended */
	size_t cap; /**< bytes allocated */
	int err;    /**< 0, or RS_ENOMEM after a failed growth (sticky) */
};

/** Prepare an empty buffer in caller's storage. Allocates nothing. */
void rs_buf_init(struct rs_buf *b);

/** Free the memory; the buffer is empty (and usable) again. NULL-safe. */
void rs_buf_deinit(struct rs_buf *b);

/** Forget the content and a failure; keep the memory for reuse. */
void rs_buf_reset(struct rs_buf *b);

/**
 * Take the buffer's memory: the caller frees the returned pointer with
 * free(); @p b is empty afterwards (and its failure forgotten).
 * @param len set to the content's length.
 * @return the data, not NUL-terminated; NULL when nothing was ever
 *         reserved. Check rs_buf_error() first: after a failure the data is
 *         incomplete.
 */
char *rs_buf_steal(struct rs_buf *b, size_t *len);

/** @return 0, or RS_ENOMEM if a growth failed since init or the last reset. */
__attribute__((warn_unused_result)) int rs_buf_error(const struct rs_buf *b);

/**
 * Grow so that @p more bytes fit after len (the slow path of
 * rs_buf_reserve()). Sets the sticky failure when out of memory or when
 * len + @p more is over PTRDIFF_MAX.
 * @return false once the buffer has failed.
 */
bool rs_buf_reserve_slow(struct rs_buf *b, size_t more);

/**
 * Make sure @p more bytes fit after len, so that the caller may write up to
 * @p more bytes at data + len and then add what it wrote to len.
 * @return false once the buffer has failed (write nothing then).
 */
static inline bool rs_buf_reserve(struct rs_buf *b, size_t more)
{
	if (b->err == 0 && b->cap - b->len >= more) {
		return true;
	}
	return rs_buf_reserve_slow(b, more);
}

/** Append @p n bytes. */
static inline void rs_buf_add(struct rs_buf *b, const void *p, size_t n)
{
	if (n > 0 && rs_buf_reserve(b, n)) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
	}
}

/** Append a NUL-terminated string (without its NUL). */
static inline void rs_buf_str(struct rs_buf *b, const char *s)
{
	rs_buf_add(b, s, strlen(s));
}

/** Append one byte. */
static inline void rs_buf_chr(struct rs_buf *b, char c)
{
	if (rs_buf_reserve(b, 1)) {
		b->data[b->len++] = c;
	}
}

/** Append an unsigned decimal, without printf. */
void rs_buf_u64(struct rs_buf *b, uint64_t v);

/** Append printf-style text. A format error appends nothing. */
void rs_buf_printf(struct rs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** rs_buf_printf() with a va_list (consumed). */
void rs_buf_vprintf(struct rs_buf *b, const char *fmt, va_list ap)
		__attribute__((format(printf, 2, 0)));

/**
 * Make room for at least @p need elements of @p elem bytes in the malloc'ed
 * array *@p array of *@p cap elements: realloc to the larger of @p need and
 * twice *@p cap (at least 4), so that appending one at a time costs
 * amortised O(1). Does nothing when *@p cap >= @p need.
 * @param array the address of the caller's pointer (any element type; NULL
 *        for an empty array). Use RS_ARRAY_GROW() to pass it typed.
 * @param cap the caller's capacity, in elements; updated on growth.
 * @return 0, or RS_ENOMEM when out of memory or when the size is over
 *         PTRDIFF_MAX bytes;
 *         the array and @p cap are then unchanged (still the caller's).
 */
__attribute__((warn_unused_result)) int rs_array_grow(
		void *array, size_t *cap, size_t need, size_t elem);

/** rs_array_grow() for the array pointer @p arr (an lvalue) of capacity @p cap. */
#define RS_ARRAY_GROW(arr, cap, need) rs_array_grow(&(arr), &(cap), (need), sizeof(*(arr)))
