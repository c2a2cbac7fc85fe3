#include "zonegen/buf.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"

void zg_buf_init(struct zg_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->failed = false;
}

void zg_buf_deinit(struct zg_buf *b)
{
	if (b == NULL) {
		return;
	}
	free(b->data);
	zg_buf_init(b);
}

void zg_buf_reserve_slow(struct zg_buf *b, size_t more)
{
	if (b->failed || b->cap - b->len >= more) {
		return;
	}
	size_t cap = b->cap < 4096 ? 4096 : b->cap;
	while (cap - b->len < more) {
		cap *= 2;
	}
	char *p = realloc(b->data, cap);
	if (p == NULL) {
		b->failed = true;
		return;
	}
	b->data = p;
	b->cap = cap;
}

int zg_buf_ok(const struct zg_buf *b)
{
	return b->failed ? RS_ENOMEM : 0;
}

void zg_buf_u64(struct zg_buf *b, uint64_t v)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	if (!zg_buf_room(b, n)) {
		return;
	}
	for (size_t i = 0; i < n; i++) {
		b->data[b->len++] = tmp[n - 1 - i];
	}
}

void zg_buf_ipv4(struct zg_buf *b, const uint8_t a[4])
{
	if (!zg_buf_room(b, 16)) {
		return;
	}
	char *p = b->data + b->len;
	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];
		if (v >= 100) {
			*p++ = (char)('0' + v / 100);
			v %= 100;
			*p++ = (char)('0' + v / 10);
		} else if (v >= 10) {
			*p++ = (char)('0' + v / 10);
		}
		*p++ = (char)('0' + v % 10);
		if (i < 3) {
			*p++ = '.';
		}
	}
	b->len = (size_t)(p - b->data);
}

void zg_buf_ipv6(struct zg_buf *b, const uint8_t a[16])
{
	static const char hex[] = "0123456789abcdef";
	uint16_t w[8];
	for (int i = 0; i < 8; i++) {
		w[i] = (uint16_t)(a[2 * i] << 8 | a[2 * i + 1]);
	}
	/* RFC 5952 4.2: the longest run of two or more zero words, the first on a tie */
	int best = -1, best_len = 0;
	for (int i = 0; i < 8;) {
		int j = i;
		while (j < 8 && w[j] == 0) {
			j++;
		}
		if (j - i > best_len && j - i >= 2) {
			best = i;
			best_len = j - i;
		}
		i = j == i ? i + 1 : j;
	}
	if (best == 0 && best_len >= 5) {
		/* IPv4-mapped and -compatible forms: inet_ntop's dotted tail */
		char text[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, a, text, sizeof(text));
		zg_buf_str(b, text);
		return;
	}
	if (!zg_buf_room(b, 40)) {
		return;
	}
	char *p = b->data + b->len;
	for (int i = 0; i < 8; i++) {
		if (i == best) {
			*p++ = ':';
			if (i == 0) {
				*p++ = ':';
			}
			i += best_len - 1;
			continue;
		}
		unsigned v = w[i];
		bool started = false;
		for (int s = 12; s >= 0; s -= 4) {
			unsigned d = (v >> s) & 0xf;
			if (d != 0 || started || s == 0) {
				*p++ = hex[d];
				started = true;
			}
		}
		if (i < 7) {
			*p++ = ':';
		}
	}
	b->len = (size_t)(p - b->data);
}

void zg_buf_printf(struct zg_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !zg_buf_room(b, (size_t)n + 1)) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}
