#include "common/name.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"

static bool is_ldh(uint8_t c, unsigned flags)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '-') {
		return true;
	}
	return c == '_' && (flags & RS_NAME_UNDERSCORE);
}

int rs_label_check(const char *label, size_t len, unsigned flags)
{
	if (len == 0) {
		return RS_ENAME_EMPTY;
	}
	if (len > RS_LABEL_MAX) {
		return RS_ENAME_LABEL_LONG;
	}
	for (size_t i = 0; i < len; i++) {
		if (!is_ldh((uint8_t)label[i], flags)) {
			return RS_ENAME_CHAR;
		}
	}
	if (label[0] == '-' || label[len - 1] == '-') {
		return RS_ENAME_HYPHEN;
	}
	return 0;
}

static bool all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return false;
		}
	}
	return true;
}

/* Walks the labels of a text name; the one place that knows the text rules. */
static int walk(const char *text, unsigned flags, uint8_t *wire)
{
	size_t n = strlen(text);
	if (n == 0 || (n == 1 && text[0] == '.')) {
		return RS_ENAME_EMPTY;
	}
	if (text[n - 1] == '.') {
		n--;
	}
	/* Wire form: one length octet per label plus the characters, plus the
	 * root: n + 2 octets for n characters of text. */
	if (n + 2 > RS_NAME_WIRE_MAX) {
		return RS_ENAME_LONG;
	}
	size_t start = 0, off = 0;
	const char *last = text;
	size_t last_len = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && text[i] != '.') {
			continue;
		}
		size_t len = i - start;
		int rc = rs_label_check(text + start, len, flags);
		if (rc < 0) {
			return rc;
		}
		if (wire != NULL) {
			wire[off++] = (uint8_t)len;
			for (size_t k = 0; k < len; k++) {
				wire[off++] = rs_ascii_lower((uint8_t)text[start + k]);
			}
		}
		last = text + start;
		last_len = len;
		start = i + 1;
	}
	if (!(flags & RS_NAME_NUMERIC_TOP) && all_digits(last, last_len)) {
		return RS_ENAME_NUMERIC;
	}
	if (wire != NULL) {
		wire[off++] = 0;
	}
	return (int)(n + 2);
}

int rs_name_check(const char *text, unsigned flags)
{
	int rc = walk(text, flags, NULL);
	return rc < 0 ? rc : 0;
}

int rs_name_canonical(const char *text, unsigned flags, char out[RS_NAME_TEXT_MAX])
{
	int rc = walk(text, flags, NULL);
	if (rc < 0) {
		return rc;
	}
	size_t n = strlen(text);
	if (text[n - 1] == '.') {
		n--;
	}
	for (size_t i = 0; i < n; i++) {
		out[i] = (char)rs_ascii_lower((uint8_t)text[i]);
	}
	out[n] = '.';
	out[n + 1] = '\0';
	return (int)(n + 1);
}

int rs_name_to_wire(const char *text, unsigned flags, uint8_t wire[RS_NAME_WIRE_MAX])
{
	return walk(text, flags, wire);
}

int rs_name_wire_len(const uint8_t *wire, size_t len)
{
	size_t off = 0;
	for (;;) {
		if (off >= len) {
			return RS_EPROTO;
		}
		uint8_t l = wire[off];
		if (l == 0) {
			off++;
			break;
		}
		if (l > RS_LABEL_MAX) {
			return RS_EPROTO; /* a pointer or a reserved label type */
		}
		off += 1u + l;
		if (off >= RS_NAME_WIRE_MAX) {
			return RS_EPROTO;
		}
	}
	return (int)off;
}

int rs_name_from_wire(const uint8_t *wire, size_t len, char *out, size_t outsz)
{
	int wl = rs_name_wire_len(wire, len);
	if (wl < 0) {
		return wl;
	}
	size_t o = 0;
	size_t off = 0;
	if (wire[0] == 0) {
		if (outsz < 2) {
			return RS_ERANGE;
		}
		out[0] = '.';
		out[1] = '\0';
		return 1;
	}
	while (wire[off] != 0) {
		uint8_t l = wire[off++];
		for (uint8_t k = 0; k < l; k++) {
			uint8_t c = wire[off++];
			char esc[8];
			int el;
			if (is_ldh(c, RS_NAME_UNDERSCORE)) {
				esc[0] = (char)c;
				el = 1;
			} else if (c == '.' || c == '\\') {
				esc[0] = '\\';
				esc[1] = (char)c;
				el = 2;
			} else {
				el = snprintf(esc, sizeof(esc), "\\%03u", c);
			}
			if (o + (size_t)el + 2 > outsz) {
				return RS_ERANGE;
			}
			memcpy(out + o, esc, (size_t)el);
			o += (size_t)el;
		}
		out[o++] = '.';
	}
	out[o] = '\0';
	return (int)o;
}

int rs_name_wire_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (alen != blen) {
		return 0;
	}
	for (size_t i = 0; i < alen; i++) {
		if (rs_ascii_lower(a[i]) != rs_ascii_lower(b[i])) {
			return 0;
		}
	}
	return 1;
}

bool rs_name_single_label(const char *text)
{
	const char *dot = strchr(text, '.');
	return dot == NULL || dot[1] == '\0';
}
