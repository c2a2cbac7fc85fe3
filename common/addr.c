#include "common/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

int rs_addr_parse(const char *text, struct rs_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (strchr(text, ':') != NULL) {
		if (inet_pton(AF_INET6, text, out->bytes) == 1) {
			out->family = AF_INET6;
			return 0;
		}
		return RS_EADDR;
	}
	/* inet_pton(AF_INET) already refuses short forms and octal; refuse
	 * leading zeros too ("010.0.0.1" reads as ten in some tools, eight in
	 * others). */
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '0' && (p == text || p[-1] == '.') && p[1] >= '0' && p[1] <= '9') {
			return RS_EADDR;
		}
	}
	if (inet_pton(AF_INET, text, out->bytes) == 1) {
		out->family = AF_INET;
		return 0;
	}
	return RS_EADDR;
}

int rs_addr_format(const struct rs_addr *addr, char out[RS_ADDR_TEXT_MAX])
{
	int af = addr->family == AF_INET ? AF_INET : AF_INET6;
	if (inet_ntop(af, addr->bytes, out, RS_ADDR_TEXT_MAX) == NULL) {
		out[0] = '\0';
		return 0;
	}
	return (int)strlen(out);
}

int rs_addr_cmp(const struct rs_addr *a, const struct rs_addr *b)
{
	if (a->family != b->family) {
		return a->family < b->family ? -1 : 1;
	}
	return memcmp(a->bytes, b->bytes, a->family == AF_INET ? 4 : 16);
}

int rs_port_parse(const char *text)
{
	if (text[0] < '0' || text[0] > '9' || strlen(text) > 5) {
		return RS_EPORT;
	}
	char *end = NULL;
	long v = strtol(text, &end, 10);
	if (*end != '\0' || v < 1 || v > 65535) {
		return RS_EPORT;
	}
	return (int)v;
}

int rs_endpoint_parse(const char *text, uint16_t default_port, struct sockaddr_storage *out)
{
	char host[RS_ADDR_TEXT_MAX];
	const char *port_text = NULL;
	size_t n = strlen(text);
	if (n == 0 || n >= sizeof(host)) {
		return RS_EADDR;
	}
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (close == NULL) {
			return RS_EADDR;
		}
		size_t hl = (size_t)(close - text - 1);
		memcpy(host, text + 1, hl);
		host[hl] = '\0';
		if (close[1] == ':') {
			port_text = close + 2;
		} else if (close[1] != '\0') {
			return RS_EADDR;
		}
	} else {
		const char *colon = strrchr(text, ':');
		if (colon != NULL && strchr(text, ':') == colon) {
			/* exactly one colon: IPv4 with a port */
			size_t hl = (size_t)(colon - text);
			memcpy(host, text, hl);
			host[hl] = '\0';
			port_text = colon + 1;
		} else {
			memcpy(host, text, n + 1); /* IPv4 or bare IPv6 without port */
		}
	}
	int port = default_port;
	if (port_text != NULL) {
		port = rs_port_parse(port_text);
		if (port < 0) {
			return port;
		}
	} else if (default_port == 0) {
		return RS_EPORT;
	}
	struct rs_addr a;
	if (rs_addr_parse(host, &a) < 0) {
		return RS_EADDR;
	}
	memset(out, 0, sizeof(*out));
	if (a.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		memcpy(&sin->sin_addr, a.bytes, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		memcpy(&sin6->sin6_addr, a.bytes, 16);
	}
	return 0;
}

int rs_endpoint_format(const struct sockaddr *sa, char out[RS_ADDR_TEXT_MAX])
{
	char host[INET6_ADDRSTRLEN];
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		return snprintf(out, RS_ADDR_TEXT_MAX, "%s:%u", host, ntohs(sin->sin_port));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		return snprintf(out, RS_ADDR_TEXT_MAX, "[%s]:%u", host, ntohs(sin6->sin6_port));
	}
	return snprintf(out, RS_ADDR_TEXT_MAX, "?");
}

int rs_prefix_parse(const char *text, struct rs_prefix *out)
{
	char buf[RS_ADDR_TEXT_MAX + 8];
	size_t n = strlen(text);
	if (n == 0 || n >= sizeof(buf)) {
		return RS_EADDR;
	}
	memcpy(buf, text, n + 1);
	char *slash = strchr(buf, '/');
	long len = -1;
	if (slash != NULL) {
		*slash = '\0';
		const char *d = slash + 1;
		if (d[0] < '0' || d[0] > '9' || strlen(d) > 3 || (d[0] == '0' && d[1] != '\0')) {
			return RS_EADDR;
		}
		char *end = NULL;
		len = strtol(d, &end, 10);
		if (*end != '\0') {
			return RS_EADDR;
		}
	}
	if (rs_addr_parse(buf, &out->addr) < 0) {
		return RS_EADDR;
	}
	long max = out->addr.family == AF_INET ? 32 : 128;
	if (len < 0) {
		len = max;
	}
	if (len > max) {
		return RS_EADDR;
	}
	out->len = (uint8_t)len;
	for (long bit = len; bit < max; bit++) {
		if (out->addr.bytes[bit / 8] & (0x80u >> (bit % 8))) {
			return RS_EADDR; /* host bits set */
		}
	}
	return 0;
}

bool rs_prefix_match(const struct rs_prefix *p, const struct sockaddr *sa)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const uint8_t *b;
	int family;
	if (sa == NULL) {
		return false;
	}
	if (sa->sa_family == AF_INET) {
		b = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		family = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		b = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		family = AF_INET6;
		if (p->addr.family == AF_INET && memcmp(b, mapped, 12) == 0) {
			b += 12;
			family = AF_INET;
		}
	} else {
		return false;
	}
	if (family != p->addr.family) {
		return false;
	}
	size_t whole = p->len / 8u;
	if (memcmp(b, p->addr.bytes, whole) != 0) {
		return false;
	}
	unsigned rest = p->len % 8u;
	if (rest == 0) {
		return true;
	}
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (b[whole] & mask) == p->addr.bytes[whole];
}

bool rs_sockaddr_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
	if (ss->ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
		return a->sin6_addr.s6_addr[12] == 127;
	}
	return ss->ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
}
