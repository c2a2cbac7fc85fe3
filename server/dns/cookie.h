/*
 * server/dns/cookie.h - DNS Cookies (RFC 7873) with interoperable server cookies
 * (RFC 9018): the secret, the server cookie, and its check.
 *
 * Model
 *   A client puts an 8-octet client cookie in its query's COOKIE option and,
 *   once it has one, the 8-32 octet server cookie we gave it. We answer every
 *   query that carries a well-formed COOKIE option with the client cookie and
 *   a server cookie of RFC 9018's version 1:
 *
 *       version (1) = 1 | reserved (3) = 0 | timestamp (4, s, serial) |
 *       hash (8) = SipHash-2-4(client cookie | version | reserved |
 *                              timestamp | client IP; key = secret)
 *
 *   A server cookie that comes back is valid when it is 16 octets of
 *   version 1, its timestamp is at most an hour old and at most five minutes
 *   ahead of our clock (serial arithmetic, RFC 1982), and its hash matches
 *   under the current or the previous secret, computed over the octets as
 *   received (so reserved octets a client sets are part of the hash, RFC 9018
 *   appendix A.3). A valid cookie younger than half an hour is echoed as it
 *   came; otherwise a fresh one is made with the current secret. We never
 *   require cookies, so an invalid or stale server cookie is not BADCOOKIE:
 *   the query is answered as if it carried the client cookie only, with a
 *   fresh server cookie (RFC 7873 5.2.3).
 *
 *   Secrets: 16 random octets, kept as 32 hex digits on the first line of a
 *   file (by default `<data dir>/dns-cookie-secret`, created 0600 on first
 *   start so cookies outlive a restart). A second line, when present, is the
 *   previous secret, still accepted when checking: the RFC 9018 roll-over.
 *   Servers that share an anycast address share the file.
 *
 * One of the two files that include <sodium.h> (here SipHash-2-4, a
 * constant-time compare, the random secret; tsig.c is the other). cookie_check() is pure and
 * thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define COOKIE_SECRET_LEN 16
#define COOKIE_CLIENT_LEN 8
#define COOKIE_SERVER_LEN 16 /**< what we send (RFC 9018) */
/** A server cookie is valid for an hour, refreshed after half an hour, and
 * may be five minutes ahead of our clock (RFC 9018 4.3). */
#define COOKIE_VALID_S 3600u
#define COOKIE_REFRESH_S 1800u
#define COOKIE_SKEW_S 300u

struct cookie_secrets {
	uint8_t current[COOKIE_SECRET_LEN];
	uint8_t previous[COOKIE_SECRET_LEN];
	bool has_previous;
};

/** What the COOKIE option of a query held. */
enum cookie_result {
	COOKIE_NEW = 0, /**< client cookie only: a fresh server cookie */
	COOKIE_GOOD,    /**< our server cookie, still valid */
	COOKIE_BAD,     /**< a server cookie we do not accept: replaced */
};

/**
 * The server cookie to send back.
 * @param s the secrets.
 * @param opt the COOKIE option's data as received: 8 octets of client
 *        cookie, then 0 or 8..32 octets of server cookie (the pre-validator
 *        checked those lengths).
 * @param len its length.
 * @param client the client's address (AF_INET or AF_INET6; IPv4-mapped IPv6
 *        addresses hash as IPv4); NULL hashes as no address (tests).
 * @param now wall clock, seconds since the epoch (mod 2^32).
 * @param out the server cookie to send, COOKIE_SERVER_LEN octets.
 * @return what the query's cookie was.
 */
enum cookie_result cookie_check(const struct cookie_secrets *s, const uint8_t *opt, size_t len,
		const struct sockaddr *client, uint32_t now, uint8_t out[COOKIE_SERVER_LEN]);

/**
 * Read the secrets from @p path, creating the file with a random secret
 * (mode 0600, through rs_file_replace()) when it does not exist.
 * @param err a one-line reason on failure.
 * @return 0; RS_ECONF (malformed file: not 32 hex digits on the first line,
 *         or a bad second line), or a negative errno (cannot read or create).
 */
__attribute__((warn_unused_result)) int cookie_secrets_load(
		const char *path, struct cookie_secrets *s, char *err, size_t errsz);

/**
 * Parse one secret: 32 hex digits (either case).
 * @return 0 or RS_EINVAL.
 */
__attribute__((warn_unused_result)) int cookie_secret_parse(
		const char *hex, size_t len, uint8_t out[COOKIE_SECRET_LEN]);
