#include "common/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"

/* The first allocation of a buffer: small enough for a short message, large
 * enough that a page of text takes few doublings. */
#define BUF_MIN 256
/* The smallest array rs_array_grow() allocates, in elements: small, for the
 * many short arrays (a service's instances). */
#define ARRAY_MIN 4
/* No object may be larger than PTRDIFF_MAX bytes (pointer differences must
 * fit); malloc refuses such sizes anyway, so they fail here, early. */
#define SIZE_MOST ((size_t)PTRDIFF_MAX)

void rs_buf_init(struct rs_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void rs_buf_deinit(struct rs_buf *b)
{
	if (b == NULL) {
		return;
	}
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void rs_buf_reset(struct rs_buf *b)
{
	b->len = 0;
	b->err = 0;
}

char *rs_buf_steal(struct rs_buf *b, size_t *len)
{
	char *d = b->data;
	*len = b->len;
	memset(b, 0, sizeof(*b));
	return d;
}

int rs_buf_error(const struct rs_buf *b)
{
	return b->err;
}

bool rs_buf_reserve_slow(struct rs_buf *b, size_t more)
{
	if (b->err != 0) {
		return false;
	}
	if (b->cap - b->len >= more) {
		return true;
	}
	if (more > SIZE_MOST - b->len) {
		b->err = RS_ENOMEM;
		return false;
	}
	size_t need = b->len + more;
	size_t cap = b->cap < BUF_MIN ? BUF_MIN : b->cap;
	while (cap < need) {
		cap = cap > SIZE_MOST / 2 ? need : cap * 2;
	}
	char *d = realloc(b->data, cap);
	if (d == NULL) {
		b->err = RS_ENOMEM;
		return false;
	}
	b->data = d;
	b->cap = cap;
	return true;
}

void rs_buf_u64(struct rs_buf *b, uint64_t v)
{
	char tmp[20]; /* UINT64_MAX has 20 digits */
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	if (!rs_buf_reserve(b, n)) {
		return;
	}
	for (size_t i = 0; i < n; i++) {
		b->data[b->len++] = tmp[n - 1 - i];
	}
}

void rs_buf_vprintf(struct rs_buf *b, const char *fmt, va_list ap)
{
	va_list again;
	va_copy(again, ap);
	/* One vsnprintf into the free space; a second only when it did not fit
	 * (vsnprintf needs room for its NUL, which is not kept). */
	size_t room = b->err == 0 ? b->cap - b->len : 0;
	int n = vsnprintf(room > 0 ? b->data + b->len : NULL, room, fmt, ap);
	if (n >= 0 && (size_t)n < room) {
		b->len += (size_t)n;
	} else if (n >= 0 && rs_buf_reserve(b, (size_t)n + 1)) {
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
		b->len += (size_t)n;
	}
	va_end(again);
}

void rs_buf_printf(struct rs_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rs_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

int rs_array_grow(void *array, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap) {
		return 0;
	}
	if (elem == 0 || need > SIZE_MOST / elem) {
		return RS_ENOMEM;
	}
	size_t most = SIZE_MOST / elem;
	size_t ncap = *cap > most / 2 ? most : *cap * 2;
	if (ncap < ARRAY_MIN) {
		ncap = ARRAY_MIN < most ? ARRAY_MIN : most;
	}
	if (ncap < need) {
		ncap = need;
	}
	/* The caller's pointer is read and written through memcpy: its type is
	 * the caller's (struct x *), not void *; POSIX gives every object
	 * pointer the representation of void *. */
	void *old;
	memcpy(&old, array, sizeof(old));
	void *p = realloc(old, ncap * elem);
	if (p == NULL) {
		return RS_ENOMEM;
	}
	memcpy(array, &p, sizeof(p));
	*cap = ncap;
	return 0;
}
