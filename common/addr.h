/*
 * common/addr.h - IPv4/IPv6 addresses and host:port endpoints.
 *
 * Pure, no allocation, any thread. Parsing is strict: "10.1.2" or
 * "010.1.2.3" are not addresses here, even where inet_aton() would take them,
 * because an inventory typo must not become a silently different address.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <netinet/in.h>
#include <sys/socket.h>

/** INET6_ADDRSTRLEN plus room for brackets and a port. */
#define RS_ADDR_TEXT_MAX 64

struct rs_addr {
	uint8_t family;    /**< AF_INET or AF_INET6 */
	uint8_t bytes[16]; /**< network order; 4 octets used for AF_INET */
};

/**
 * Parse an IPv4 dotted quad or an IPv6 address (RFC 4291 2.2 text forms).
 * @return 0, or RS_EADDR.
 */
__attribute__((warn_unused_result)) int rs_addr_parse(const char *text, struct rs_addr *out);

/**
 * Write the canonical text form (RFC 5952 for IPv6).
 * @param out buffer of RS_ADDR_TEXT_MAX octets.
 * @return the length written.
 */
int rs_addr_format(const struct rs_addr *addr, char out[RS_ADDR_TEXT_MAX]);

/** Octets of the address: 4 or 16. */
static inline size_t rs_addr_len(const struct rs_addr *addr)
{
	return addr->family == AF_INET ? 4 : 16;
}

/** Compare two addresses: family first, then octets. */
int rs_addr_cmp(const struct rs_addr *a, const struct rs_addr *b);

/**
 * Parse an endpoint: "127.0.0.1:8053", "[::1]:8053", or an address alone
 * when @p default_port is non-zero. Host names are not resolved here.
 * @param text NUL-terminated endpoint.
 * @param default_port the port to use when none is given; 0 makes it required.
 * @param out socket address to fill (sockaddr_in or sockaddr_in6).
 * @return 0, RS_EADDR or RS_EPORT.
 */
__attribute__((warn_unused_result)) int rs_endpoint_parse(
		const char *text, uint16_t default_port, struct sockaddr_storage *out);

/**
 * Format a socket address as "1.2.3.4:53" or "[::1]:53".
 * @return the length written into @p out (RS_ADDR_TEXT_MAX octets).
 */
int rs_endpoint_format(const struct sockaddr *sa, char out[RS_ADDR_TEXT_MAX]);

/**
 * Whether a socket address is on loopback: 127.0.0.0/8, ::1, or
 * ::ffff:127.0.0.0/104.
 */
bool rs_sockaddr_is_loopback(const struct sockaddr_storage *ss);

/**
 * Parse a decimal port 1..65535 with nothing around it.
 * @return the port, or RS_EPORT.
 */
int rs_port_parse(const char *text);

/** An address prefix (CIDR): the address's first @c len bits. */
struct rs_prefix {
	struct rs_addr addr; /**< bits past len are zero */
	uint8_t len;         /**< 0..32 (IPv4), 0..128 (IPv6) */
};

/**
 * Parse "192.0.2.0/24", "2001:db8::/32", or an address alone (a host
 * prefix: /32 or /128). Bits set past the length are an error (a typo
 * more often than not: "10.1.2.3/8").
 * @return 0, or RS_EADDR.
 */
__attribute__((warn_unused_result)) int rs_prefix_parse(const char *text, struct rs_prefix *out);

/**
 * Does @p sa (AF_INET or AF_INET6; an IPv4-mapped IPv6 address counts as
 * its IPv4 address) lie in @p p? NULL or another family: false.
 */
bool rs_prefix_match(const struct rs_prefix *p, const struct sockaddr *sa);
