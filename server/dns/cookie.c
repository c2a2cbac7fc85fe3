#include "server/dns/cookie.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/file.h"
#include "common/wire.h"

#define COOKIE_VERSION 1
/* client cookie | version | reserved | timestamp | client IP (up to 16) */
#define HASH_INPUT_MAX (COOKIE_CLIENT_LEN + 8 + 16)

static size_t client_ip(const struct sockaddr *sa, const uint8_t **ip)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (sa == NULL) {
		return 0;
	}
	if (sa->sa_family == AF_INET) {
		*ip = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		return 4;
	}
	if (sa->sa_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (memcmp(a, v4mapped, sizeof(v4mapped)) == 0) {
			*ip = a + 12; /* an IPv4 client on a dual-stack socket */
			return 4;
		}
		*ip = a;
		return 16;
	}
	return 0;
}

/* The 8-octet hash over client cookie | the first 8 octets of a server
 * cookie (version, reserved, timestamp) | client IP. */
static void cookie_hash(const uint8_t key[COOKIE_SECRET_LEN], const uint8_t *client_cookie,
		const uint8_t *head, const uint8_t *ip, size_t iplen, uint8_t out[8])
{
	uint8_t in[HASH_INPUT_MAX];
	memcpy(in, client_cookie, COOKIE_CLIENT_LEN);
	memcpy(in + COOKIE_CLIENT_LEN, head, 8);
	if (iplen > 0) {
		memcpy(in + COOKIE_CLIENT_LEN + 8, ip, iplen);
	}
	crypto_shorthash_siphash24(out, in, COOKIE_CLIENT_LEN + 8 + iplen, key);
}

/* Is the hash of @p server (16 octets) right under @p key? */
static bool hash_ok(const uint8_t key[COOKIE_SECRET_LEN], const uint8_t *client_cookie,
		const uint8_t *server, const uint8_t *ip, size_t iplen)
{
	uint8_t h[8];
	cookie_hash(key, client_cookie, server, ip, iplen, h);
	return sodium_memcmp(h, server + 8, 8) == 0;
}

enum cookie_result cookie_check(const struct cookie_secrets *s, const uint8_t *opt, size_t len,
		const struct sockaddr *client, uint32_t now, uint8_t out[COOKIE_SERVER_LEN])
{
	const uint8_t *ip = NULL;
	size_t iplen = client_ip(client, &ip);
	enum cookie_result res = COOKIE_NEW;
	if (len == COOKIE_CLIENT_LEN + COOKIE_SERVER_LEN &&
			opt[COOKIE_CLIENT_LEN] == COOKIE_VERSION) {
		const uint8_t *server = opt + COOKIE_CLIENT_LEN;
		/* Serial arithmetic (RFC 1982): the age wraps with the clock. */
		uint32_t age = now - rs_wire_load_u32(server + 4);
		bool ahead = (uint32_t)-age <= COOKIE_SKEW_S;
		bool cur = false, prev = false;
		if (age <= COOKIE_VALID_S || ahead) {
			cur = hash_ok(s->current, opt, server, ip, iplen);
			prev = !cur && s->has_previous &&
			       hash_ok(s->previous, opt, server, ip, iplen);
		}
		if (!cur && !prev) {
			res = COOKIE_BAD;
		} else {
			res = COOKIE_GOOD;
			if (cur && (age < COOKIE_REFRESH_S || ahead)) {
				memcpy(out, server, COOKIE_SERVER_LEN);
				return res;
			}
		}
	} else if (len > COOKIE_CLIENT_LEN) {
		res = COOKIE_BAD; /* another version or length: not one of ours */
	}
	out[0] = COOKIE_VERSION;
	out[1] = out[2] = out[3] = 0;
	rs_wire_store_u32(out + 4, now);
	cookie_hash(s->current, opt, out, ip, iplen, out + 8);
	return res;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	c = (char)(c | 0x20);
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	return -1;
}

int cookie_secret_parse(const char *hex, size_t len, uint8_t out[COOKIE_SECRET_LEN])
{
	if (len != 2 * COOKIE_SECRET_LEN) {
		return RS_EINVAL;
	}
	for (size_t i = 0; i < COOKIE_SECRET_LEN; i++) {
		int hi = hexval(hex[2 * i]);
		int lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			return RS_EINVAL;
		}
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* A fresh random secret in a new file, written with rs_file_replace() so
 * that a crash never leaves a half-written secret behind. */
static int secret_create(const char *path, struct cookie_secrets *s, char *err, size_t errsz)
{
	if (sodium_init() < 0) {
		snprintf(err, errsz, "cookie secret %s: libsodium failed to initialise", path);
		return RS_EIO;
	}
	randombytes_buf(s->current, COOKIE_SECRET_LEN);
	s->has_previous = false;
	char line[2 * COOKIE_SECRET_LEN + 2];
	for (size_t i = 0; i < COOKIE_SECRET_LEN; i++) {
		snprintf(line + 2 * i, 3, "%02x", s->current[i]);
	}
	line[2 * COOKIE_SECRET_LEN] = '\n';
	char dir[4096];
	const char *slash = strrchr(path, '/');
	const char *name = slash != NULL ? slash + 1 : path;
	size_t dlen = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
	if (dlen >= sizeof(dir) || *name == '\0') {
		snprintf(err, errsz, "cookie secret %s: not a file name", path);
		return RS_EINVAL;
	}
	memcpy(dir, slash != NULL ? path : ".", slash != NULL ? dlen : 1);
	dir[slash != NULL ? dlen : 1] = '\0';
	struct iovec v = {line, 2 * COOKIE_SECRET_LEN + 1};
	int rc = rs_file_replace(dir, name, &v, 1, 0600);
	if (rc == 0) {
		rc = rs_dir_sync(dir);
	}
	if (rc < 0) {
		snprintf(err, errsz, "cannot write cookie secret %s: %s", path, strerror(-rc));
	}
	sodium_memzero(line, sizeof(line));
	return rc;
}

int cookie_secrets_load(const char *path, struct cookie_secrets *s, char *err, size_t errsz)
{
	memset(s, 0, sizeof(*s));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			return secret_create(path, s, err, errsz);
		}
		int rc = -errno;
		snprintf(err, errsz, "cannot read cookie secret %s: %s", path, strerror(-rc));
		return rc;
	}
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int rc = n < 0 ? -errno : 0;
	close(fd);
	if (rc < 0) {
		snprintf(err, errsz, "cannot read cookie secret %s: %s", path, strerror(-rc));
		return rc;
	}
	buf[n] = '\0';
	/* One secret per line: the current one, then optionally the previous. */
	char *line = buf;
	for (int i = 0; i < 2 && *line != '\0'; i++) {
		size_t len = strcspn(line, "\r\n");
		uint8_t *dst = i == 0 ? s->current : s->previous;
		if (cookie_secret_parse(line, len, dst) < 0) {
			snprintf(err, errsz, "cookie secret %s line %d: expected 32 hex digits",
					path, i + 1);
			sodium_memzero(buf, sizeof(buf));
			sodium_memzero(s, sizeof(*s));
			return RS_ECONF;
		}
		s->has_previous = i == 1;
		line += len;
		line += strspn(line, "\r\n");
	}
	bool bad = buf[0] == '\0' || *line != '\0';
	sodium_memzero(buf, sizeof(buf));
	if (bad) {
		snprintf(err, errsz, "cookie secret %s: expected one or two lines of 32 hex digits",
				path);
		sodium_memzero(s, sizeof(*s));
		return RS_ECONF;
	}
	return 0;
}
