#include "zonegen/addrtext.h"

#include <arpa/inet.h>
#include <stdbool.h>

#include "common/wire.h"

void zg_addrtext_v4(struct rs_buf *b, const uint8_t a[4])
{
	if (!rs_buf_reserve(b, 16)) {
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

void zg_addrtext_v6(struct rs_buf *b, const uint8_t a[16])
{
	static const char hex[] = "0123456789abcdef";
	uint16_t w[8];
	for (int i = 0; i < 8; i++) {
		w[i] = rs_wire_load_u16(a + 2 * i);
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
		rs_buf_str(b, text);
		return;
	}
	if (!rs_buf_reserve(b, 40)) {
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
