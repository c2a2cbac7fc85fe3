/*
 * TSIG (RFC 8945): the key file parser, and signing and verifying messages
 * with libsodium's HMAC (server/dns/tsig.h).
 */
#include "server/dns/tsig.h"

#include <errno.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/wire.h"

#define TYPE_TSIG 250
#define CLASS_ANY 255
#define HEADER 12
/* Compression pointers followed per name: a TSIG owner points once, at most. */
#define HOPS_MAX 16
/* A key file larger than this is not a key file. */
#define KEYFILE_MAX (1u << 20)

/* ---- the key file --------------------------------------------------------- */

/* Canonical wire names of the algorithms, by enum tsig_alg. */
static const uint8_t alg_wire[2][13] = {
		{11, 'h', 'm', 'a', 'c', '-', 's', 'h', 'a', '2', '5', '6', 0},
		{11, 'h', 'm', 'a', 'c', '-', 's', 'h', 'a', '5', '1', '2', 0},
};
#define ALG_WIRE_LEN 13u

const char *tsig_alg_name(enum tsig_alg alg)
{
	return alg == TSIG_HMAC_SHA512 ? "hmac-sha512." : "hmac-sha256.";
}

static size_t alg_mac_len(enum tsig_alg alg)
{
	return alg == TSIG_HMAC_SHA512 ? crypto_auth_hmacsha512_BYTES
				       : crypto_auth_hmacsha256_BYTES;
}

enum tok_kind { TOK_END, TOK_WORD, TOK_STRING, TOK_OPEN, TOK_CLOSE, TOK_SEMI, TOK_BAD };

/* The tokenizer: words, "strings", { } ;, with #, // and slash-star comments. */
struct lex {
	const char *p;
	size_t len, pos;
	unsigned line;
	unsigned tok_line;
	char tok[1024];
	const char *label;
	char *err;
	size_t errsz;
};

static bool is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '/' || c == '+' || c == '=';
}

/* Skip blanks and comments. @return false on an unterminated comment. */
static bool lex_skip(struct lex *x)
{
	while (x->pos < x->len) {
		char c = x->p[x->pos];
		char d = x->pos + 1 < x->len ? x->p[x->pos + 1] : '\0';
		if (c == '\n') {
			x->line++;
			x->pos++;
		} else if (c == ' ' || c == '\t' || c == '\r') {
			x->pos++;
		} else if (c == '#' || (c == '/' && d == '/')) {
			while (x->pos < x->len && x->p[x->pos] != '\n') {
				x->pos++;
			}
		} else if (c == '/' && d == '*') {
			x->pos += 2;
			for (;;) {
				if (x->pos + 1 >= x->len) {
					return false;
				}
				if (x->p[x->pos] == '*' && x->p[x->pos + 1] == '/') {
					x->pos += 2;
					break;
				}
				x->line += x->p[x->pos] == '\n';
				x->pos++;
			}
		} else {
			return true;
		}
	}
	return true;
}

static enum tok_kind lex_next(struct lex *x)
{
	x->tok[0] = '\0';
	if (!lex_skip(x)) {
		snprintf(x->tok, sizeof(x->tok), "unterminated comment");
		return TOK_BAD;
	}
	x->tok_line = x->line;
	if (x->pos >= x->len) {
		return TOK_END;
	}
	char c = x->p[x->pos];
	if (c == '{' || c == '}' || c == ';') {
		x->pos++;
		x->tok[0] = c;
		x->tok[1] = '\0';
		return c == '{' ? TOK_OPEN : c == '}' ? TOK_CLOSE : TOK_SEMI;
	}
	size_t n = 0;
	if (c == '"') {
		x->pos++;
		while (x->pos < x->len && x->p[x->pos] != '"' && x->p[x->pos] != '\n') {
			if (n + 1 >= sizeof(x->tok)) {
				snprintf(x->tok, sizeof(x->tok), "string too long");
				return TOK_BAD;
			}
			x->tok[n++] = x->p[x->pos++];
		}
		if (x->pos >= x->len || x->p[x->pos] != '"') {
			snprintf(x->tok, sizeof(x->tok), "unterminated string");
			return TOK_BAD;
		}
		x->pos++;
		x->tok[n] = '\0';
		return TOK_STRING;
	}
	if (!is_word(c)) {
		snprintf(x->tok, sizeof(x->tok), "unexpected character '%c'", c);
		return TOK_BAD;
	}
	while (x->pos < x->len && is_word(x->p[x->pos])) {
		if (n + 1 >= sizeof(x->tok)) {
			snprintf(x->tok, sizeof(x->tok), "word too long");
			return TOK_BAD;
		}
		x->tok[n++] = x->p[x->pos++];
	}
	x->tok[n] = '\0';
	return TOK_WORD;
}

/* A parse error at the current token's line: "FILE:LINE: message". */
__attribute__((format(printf, 2, 3))) static int lex_fail(struct lex *x, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return rs_error_printf(x->err, x->errsz, RS_ECONF, "%s:%u: %s", x->label, x->tok_line, msg);
}

/* Expect a token of @p kind ("what" names it in the message). */
static int lex_expect(struct lex *x, enum tok_kind kind, const char *what)
{
	enum tok_kind k = lex_next(x);
	if (k == TOK_BAD) {
		return lex_fail(x, "%s", x->tok);
	}
	if (k != kind) {
		return lex_fail(x, "expected %s, found %s", what,
				k == TOK_END ? "the end of the file" : x->tok);
	}
	return 0;
}

static int alg_parse(struct lex *x, enum tsig_alg *alg)
{
	char a[32];
	size_t n = strlen(x->tok);
	if (n > 0 && x->tok[n - 1] == '.') {
		n--; /* "hmac-sha256." as Knot writes it */
	}
	if (n >= sizeof(a)) {
		n = sizeof(a) - 1;
	}
	for (size_t i = 0; i < n; i++) {
		a[i] = (char)rs_ascii_lower((uint8_t)x->tok[i]);
	}
	a[n] = '\0';
	if (strcmp(a, "hmac-sha256") == 0) {
		*alg = TSIG_HMAC_SHA256;
	} else if (strcmp(a, "hmac-sha512") == 0) {
		*alg = TSIG_HMAC_SHA512;
	} else {
		return lex_fail(x,
				"unsupported algorithm '%s' (rosterd supports hmac-sha256 and "
				"hmac-sha512)",
				x->tok);
	}
	return 0;
}

static int secret_parse(struct lex *x, struct tsig_key *k)
{
	size_t n = 0;
	const char *end = NULL;
	if (sodium_base642bin(k->secret, sizeof(k->secret), x->tok, strlen(x->tok), " \t", &n, &end,
			    sodium_base64_VARIANT_ORIGINAL) != 0 ||
			(end != NULL && *end != '\0')) {
		return lex_fail(x, "key %s: the secret is not base64, or over %u octets", k->name,
				TSIG_SECRET_MAX);
	}
	if (n == 0) {
		return lex_fail(x, "key %s: empty secret", k->name);
	}
	k->secret_len = (uint16_t)n;
	return 0;
}

/* The clauses of one key, after its '{', up to its "};". */
static int key_body(struct lex *x, struct tsig_key *k)
{
	bool have_alg = false, have_secret = false;
	unsigned open_line = x->tok_line;
	for (;;) {
		enum tok_kind t = lex_next(x);
		if (t == TOK_CLOSE) {
			break;
		}
		if (t == TOK_BAD) {
			return lex_fail(x, "%s", x->tok);
		}
		if (t != TOK_WORD) {
			return lex_fail(x, "key %s: expected algorithm or secret, found %s",
					k->name, t == TOK_END ? "the end of the file" : x->tok);
		}
		int rc;
		if (strcasecmp(x->tok, "algorithm") == 0) {
			enum tok_kind a = lex_next(x);
			rc = a == TOK_WORD || a == TOK_STRING
					     ? alg_parse(x, &k->alg)
					     : lex_fail(x, "key %s: algorithm without a name",
							       k->name);
			have_alg = true;
		} else if (strcasecmp(x->tok, "secret") == 0) {
			enum tok_kind s = lex_next(x);
			rc = s == TOK_STRING || s == TOK_WORD
					     ? secret_parse(x, k)
					     : lex_fail(x, "key %s: secret without a value",
							       k->name);
			have_secret = true;
		} else {
			return lex_fail(x, "key %s: unknown clause '%s' (want algorithm or secret)",
					k->name, x->tok);
		}
		if (rc == 0) {
			rc = lex_expect(x, TOK_SEMI, "';'");
		}
		if (rc != 0) {
			return rc;
		}
	}
	if (!have_alg || !have_secret) {
		x->tok_line = open_line;
		return lex_fail(x, "key %s: no %s", k->name, have_alg ? "secret" : "algorithm");
	}
	return lex_expect(x, TOK_SEMI, "';' after '}'");
}

/* One "key NAME { ... };" statement, its "key" read. */
static int key_statement(struct lex *x, struct tsig_keyring *kr)
{
	enum tok_kind t = lex_next(x);
	if (t == TOK_BAD) {
		return lex_fail(x, "%s", x->tok);
	}
	if (t != TOK_WORD && t != TOK_STRING) {
		return lex_fail(x, "expected a key name after 'key', found %s",
				t == TOK_END ? "the end of the file" : x->tok);
	}
	struct tsig_key k;
	memset(&k, 0, sizeof(k));
	int n = rs_name_canonical(x->tok, RS_NAME_UNDERSCORE | RS_NAME_NUMERIC_TOP, k.name);
	int w = n < 0 ? n
		      : rs_name_to_wire(x->tok, RS_NAME_UNDERSCORE | RS_NAME_NUMERIC_TOP, k.wire);
	if (n < 0 || w < 0) {
		return lex_fail(x, "invalid key name '%s': %s", x->tok, rs_strerror(n < 0 ? n : w));
	}
	k.wire_len = (uint8_t)w;
	if (tsig_keyring_find(kr, k.name) != NULL) {
		return lex_fail(x, "duplicate key %s", k.name);
	}
	int rc = lex_expect(x, TOK_OPEN, "'{'");
	if (rc == 0) {
		rc = key_body(x, &k);
	}
	if (rc == 0) {
		struct tsig_key *keys = realloc(kr->keys, (kr->n + 1) * sizeof(*keys));
		if (keys == NULL) {
			rc = RS_ENOMEM;
			snprintf(x->err, x->errsz, "%s: out of memory", x->label);
		} else {
			kr->keys = keys;
			kr->keys[kr->n++] = k;
		}
	}
	sodium_memzero(&k, sizeof(k));
	return rc;
}

int tsig_keyring_parse(const char *text, size_t len, const char *label, struct tsig_keyring **out,
		char *err, size_t errsz)
{
	*out = NULL;
	if (errsz > 0) {
		err[0] = '\0';
	}
	if (sodium_init() < 0) {
		snprintf(err, errsz, "%s: libsodium failed to initialise", label);
		return RS_ENOMEM;
	}
	struct tsig_keyring *kr = calloc(1, sizeof(*kr));
	if (kr == NULL) {
		snprintf(err, errsz, "%s: out of memory", label);
		return RS_ENOMEM;
	}
	struct lex x = {text, len, 0, 1, 1, {0}, label, err, errsz};
	int rc = 0;
	for (;;) {
		enum tok_kind t = lex_next(&x);
		if (t == TOK_END) {
			break;
		}
		if (t == TOK_BAD) {
			rc = lex_fail(&x, "%s", x.tok);
		} else if (t == TOK_WORD && strcasecmp(x.tok, "key") == 0) {
			rc = key_statement(&x, kr);
		} else {
			rc = lex_fail(&x,
					"unknown statement '%s' (a key file holds key statements)",
					x.tok);
		}
		if (rc != 0) {
			break;
		}
	}
	if (rc == 0 && kr->n == 0) {
		rc = rs_error_printf(err, errsz, RS_ECONF, "%s: no key statement", label);
	}
	sodium_memzero(x.tok, sizeof(x.tok));
	if (rc != 0) {
		tsig_keyring_free(kr);
		return rc;
	}
	*out = kr;
	return 0;
}

int tsig_keyring_load(const char *path, struct tsig_keyring **out, char *err, size_t errsz)
{
	*out = NULL;
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		return rs_error_printf(err, errsz, RS_ECONF, "TSIG key file %s: %s", path,
				strerror(errno));
	}
	char *buf = malloc(KEYFILE_MAX);
	if (buf == NULL) {
		fclose(f);
		snprintf(err, errsz, "TSIG key file %s: out of memory", path);
		return RS_ENOMEM;
	}
	size_t n = fread(buf, 1, KEYFILE_MAX, f);
	int rc;
	if (ferror(f)) {
		rc = rs_error_printf(err, errsz, RS_ECONF, "TSIG key file %s: read error", path);
	} else if (n == KEYFILE_MAX) {
		rc = rs_error_printf(err, errsz, RS_ECONF,
				"TSIG key file %s: larger than %u octets", path, KEYFILE_MAX);
	} else {
		rc = tsig_keyring_parse(buf, n, path, out, err, errsz);
	}
	fclose(f);
	sodium_memzero(buf, n);
	free(buf);
	return rc;
}

void tsig_keyring_free(struct tsig_keyring *kr)
{
	if (kr == NULL) {
		return;
	}
	if (kr->keys != NULL) {
		sodium_memzero(kr->keys, kr->n * sizeof(*kr->keys));
	}
	free(kr->keys);
	free(kr);
}

const struct tsig_key *tsig_keyring_find(const struct tsig_keyring *kr, const char *name)
{
	uint8_t w[RS_NAME_WIRE_MAX];
	int n = rs_name_to_wire(name, RS_NAME_UNDERSCORE | RS_NAME_NUMERIC_TOP, w);
	if (kr == NULL || n < 0) {
		return NULL;
	}
	for (size_t i = 0; i < kr->n; i++) {
		if (rs_name_wire_equal(kr->keys[i].wire, kr->keys[i].wire_len, w, (size_t)n)) {
			return &kr->keys[i];
		}
	}
	return NULL;
}

/* ---- HMAC ----------------------------------------------------------------- */

struct hmac {
	enum tsig_alg alg;
	union {
		crypto_auth_hmacsha256_state s256;
		crypto_auth_hmacsha512_state s512;
	} u;
};

static void hmac_init(struct hmac *h, const struct tsig_key *k)
{
	h->alg = k->alg;
	if (k->alg == TSIG_HMAC_SHA512) {
		crypto_auth_hmacsha512_init(&h->u.s512, k->secret, k->secret_len);
	} else {
		crypto_auth_hmacsha256_init(&h->u.s256, k->secret, k->secret_len);
	}
}

static void hmac_add(struct hmac *h, const void *p, size_t n)
{
	if (n == 0) {
		return;
	}
	if (h->alg == TSIG_HMAC_SHA512) {
		crypto_auth_hmacsha512_update(&h->u.s512, p, n);
	} else {
		crypto_auth_hmacsha256_update(&h->u.s256, p, n);
	}
}

static void hmac_add16(struct hmac *h, uint16_t v)
{
	uint8_t b[2];
	rs_wire_store_u16(b, v);
	hmac_add(h, b, 2);
}

static void hmac_add48(struct hmac *h, uint64_t v)
{
	uint8_t b[6];
	rs_wire_store_u16(b, (uint16_t)(v >> 32));
	rs_wire_store_u32(b + 2, (uint32_t)v);
	hmac_add(h, b, 6);
}

/* @return the MAC's length. */
static size_t hmac_final(struct hmac *h, uint8_t *mac)
{
	if (h->alg == TSIG_HMAC_SHA512) {
		crypto_auth_hmacsha512_final(&h->u.s512, mac);
	} else {
		crypto_auth_hmacsha256_final(&h->u.s256, mac);
	}
	sodium_memzero(&h->u, sizeof(h->u));
	return alg_mac_len(h->alg);
}

/* ---- the TSIG RR ---------------------------------------------------------- */

/* A parsed TSIG RR; pointers into the message. */
struct tsig_rr {
	size_t off; /* where the RR starts: the message it signs ends here */
	uint8_t name[RS_NAME_WIRE_MAX];
	uint8_t name_len;
	uint8_t alg[RS_NAME_WIRE_MAX];
	uint8_t alg_len;
	uint64_t time;
	uint16_t fudge;
	uint16_t mac_len;
	const uint8_t *mac;
	uint16_t orig_id;
	uint16_t error;
	uint16_t other_len;
	const uint8_t *other;
};

/* Read a name at @p off, following pointers strictly backwards, into @p w
 * lower-cased. @return the offset after it as stored, or -1. */
static long name_read(const uint8_t *m, size_t len, size_t off, uint8_t *w, uint8_t *wlen)
{
	size_t n = 0, end = 0, pos = off;
	unsigned hops = 0;
	for (;;) {
		if (pos >= len) {
			return -1;
		}
		uint8_t c = m[pos];
		if ((c & 0xc0) == 0xc0) {
			if (pos + 1 >= len || ++hops > HOPS_MAX) {
				return -1;
			}
			size_t t = ((size_t)(c & 0x3f) << 8) | m[pos + 1];
			if (t < HEADER || t >= pos) {
				return -1;
			}
			end = end ? end : pos + 2;
			pos = t;
			continue;
		}
		if ((c & 0xc0) != 0 || pos + 1u + c > len || n + 1u + c > RS_NAME_WIRE_MAX) {
			return -1;
		}
		w[n++] = c;
		for (unsigned i = 0; i < c; i++) {
			w[n++] = rs_ascii_lower(m[pos + 1 + i]);
		}
		pos += 1u + c;
		if (c == 0) {
			*wlen = (uint8_t)n;
			return (long)(end ? end : pos);
		}
	}
}

/* The offset of the message's last record, or -1 (no records, or the
 * message does not parse up to its counted end). */
static long last_rr(const uint8_t *m, size_t len)
{
	if (len < HEADER) {
		return -1;
	}
	unsigned qd = rs_wire_load_u16(m + 4);
	unsigned rrs = (unsigned)rs_wire_load_u16(m + 6) + rs_wire_load_u16(m + 8) +
		       rs_wire_load_u16(m + 10);
	uint8_t w[RS_NAME_WIRE_MAX];
	uint8_t wl;
	size_t off = HEADER;
	long last = -1;
	for (unsigned i = 0; i < qd + rrs; i++) {
		long r = name_read(m, len, off, w, &wl);
		size_t fixed = i < qd ? 4 : 10;
		if (r < 0 || (size_t)r + fixed > len) {
			return -1;
		}
		if (i >= qd) {
			last = (long)off;
			size_t rdlen = rs_wire_load_u16(m + r + 8);
			if (rdlen > len - (size_t)r - fixed) {
				return -1;
			}
			fixed += rdlen;
		}
		off = (size_t)r + fixed;
	}
	return rs_wire_load_u16(m + 10) > 0 ? last : -1;
}

/* Find and parse the TSIG RR, the message's last record. @return 0 or -1. */
static int tsig_rr_parse(const uint8_t *m, size_t len, struct tsig_rr *t)
{
	long at = last_rr(m, len);
	if (at < 0) {
		return -1;
	}
	t->off = (size_t)at;
	long r = name_read(m, len, t->off, t->name, &t->name_len);
	if (r < 0 || rs_wire_load_u16(m + r) != TYPE_TSIG ||
			rs_wire_load_u16(m + r + 2) != CLASS_ANY) {
		return -1;
	}
	size_t rdlen = rs_wire_load_u16(m + r + 8);
	size_t p = (size_t)r + 10, end = p + rdlen; /* last_rr() checked it is inside */
	r = name_read(m, end, p, t->alg, &t->alg_len);
	if (r < 0 || (size_t)r + 10 > end) {
		return -1;
	}
	p = (size_t)r;
	t->time = ((uint64_t)rs_wire_load_u16(m + p) << 32) | rs_wire_load_u32(m + p + 2);
	t->fudge = rs_wire_load_u16(m + p + 6);
	t->mac_len = rs_wire_load_u16(m + p + 8);
	p += 10;
	if (t->mac_len > end - p || end - p - t->mac_len < 6) {
		return -1;
	}
	t->mac = m + p;
	p += t->mac_len;
	t->orig_id = rs_wire_load_u16(m + p);
	t->error = rs_wire_load_u16(m + p + 2);
	t->other_len = rs_wire_load_u16(m + p + 4);
	p += 6;
	if (t->other_len != end - p) {
		return -1;
	}
	t->other = m + p;
	return 0;
}

/* The message the MAC covers: the header with @p id and ARCOUNT less the
 * TSIG RR, then everything up to it. */
static void hmac_add_msg(struct hmac *h, const uint8_t *m, size_t upto, uint16_t id)
{
	uint8_t hd[HEADER];
	memcpy(hd, m, HEADER);
	rs_wire_store_u16(hd, id);
	rs_wire_store_u16(hd + 10, (uint16_t)(rs_wire_load_u16(m + 10) - 1));
	hmac_add(h, hd, HEADER);
	hmac_add(h, m + HEADER, upto - HEADER);
}

/* A message not yet signed, its header ID read as @p id (the Original ID
 * the verifier puts back). */
static void hmac_add_unsigned(struct hmac *h, const uint8_t *m, size_t len, uint16_t id)
{
	hmac_add16(h, id);
	hmac_add(h, m + 2, len - 2);
}

/* The TSIG variables (RFC 8945 4.3.3) after the message. */
static void hmac_add_vars(struct hmac *h, const uint8_t *name, size_t name_len, const uint8_t *alg,
		size_t alg_len, uint64_t time, uint16_t fudge, uint16_t error, const uint8_t *other,
		uint16_t other_len)
{
	hmac_add(h, name, name_len);
	hmac_add16(h, CLASS_ANY);
	hmac_add(h, "\0\0\0\0", 4); /* TTL */
	hmac_add(h, alg, alg_len);
	hmac_add48(h, time);
	hmac_add16(h, fudge);
	hmac_add16(h, error);
	hmac_add16(h, other_len);
	hmac_add(h, other, other_len);
}

static uint64_t skew(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

/* Does the RR's algorithm name the key's? */
static bool alg_is(const struct tsig_rr *t, const struct tsig_key *k)
{
	return t->alg_len == ALG_WIRE_LEN && memcmp(t->alg, alg_wire[k->alg], ALG_WIRE_LEN) == 0;
}

enum tsig_verdict tsig_request_verify(const struct tsig_keyring *kr, const uint8_t *msg, size_t len,
		uint64_t now, struct tsig_state *st)
{
	memset(st, 0, sizeof(*st));
	struct tsig_rr t;
	if (tsig_rr_parse(msg, len, &t) != 0) {
		return TSIG_FORMERR;
	}
	memcpy(st->name, t.name, t.name_len);
	st->name_len = t.name_len;
	memcpy(st->alg_name, t.alg, t.alg_len);
	st->alg_name_len = t.alg_len;
	st->orig_id = t.orig_id;
	st->time_signed = t.time;
	for (size_t i = 0; kr != NULL && i < kr->n; i++) {
		const struct tsig_key *k = &kr->keys[i];
		if (rs_name_wire_equal(k->wire, k->wire_len, t.name, t.name_len) && alg_is(&t, k)) {
			st->key = k;
			break;
		}
	}
	if (st->key == NULL) {
		st->error = TSIG_BADKEY; /* RFC 8945 5.2.1 */
		return TSIG_FAIL;
	}
	size_t full = alg_mac_len(st->key->alg);
	size_t min = full / 2 > 10 ? full / 2 : 10;
	if (t.mac_len > full || t.mac_len < min) {
		return TSIG_FORMERR; /* RFC 8945 5.2.2.1 */
	}
	struct hmac h;
	uint8_t mac[TSIG_MAC_MAX];
	hmac_init(&h, st->key);
	hmac_add_msg(&h, msg, t.off, t.orig_id);
	hmac_add_vars(&h, t.name, t.name_len, t.alg, t.alg_len, t.time, t.fudge, t.error, t.other,
			t.other_len);
	hmac_final(&h, mac);
	int bad = sodium_memcmp(mac, t.mac, t.mac_len);
	sodium_memzero(mac, sizeof(mac));
	if (bad != 0) {
		st->error = TSIG_BADSIG; /* 5.2.2 */
		return TSIG_FAIL;
	}
	memcpy(st->mac, t.mac, t.mac_len);
	st->mac_len = t.mac_len;
	uint64_t fudge = t.fudge < TSIG_FUDGE ? t.fudge : TSIG_FUDGE;
	if (skew(now, t.time) > fudge) {
		st->error = TSIG_BADTIME; /* 5.2.3 */
		return TSIG_FAIL;
	}
	if (t.mac_len < full) {
		st->error = TSIG_BADTRUNC; /* 5.2.4: our policy is the full MAC */
		return TSIG_FAIL;
	}
	return TSIG_OK;
}

/* Does the next TSIG RR of @p st carry a MAC? Not for a BADKEY or BADSIG
 * answer (RFC 8945 5.3.2). */
static bool signs(const struct tsig_state *st)
{
	return st->key != NULL && st->error != TSIG_BADKEY && st->error != TSIG_BADSIG;
}

size_t tsig_size(const struct tsig_state *st)
{
	size_t mac = signs(st) ? alg_mac_len(st->key->alg) : 0;
	size_t name = st->key != NULL ? st->key->wire_len : st->name_len;
	size_t alg = st->key != NULL ? ALG_WIRE_LEN : st->alg_name_len;
	return name + 10 + alg + 16 + mac + (st->error == TSIG_BADTIME ? 6 : 0);
}

/* Write the TSIG RR at msg + *len and count it in ARCOUNT. */
static void rr_write(uint8_t *msg, size_t *len, const uint8_t *name, size_t name_len,
		const uint8_t *alg, size_t alg_len, uint64_t time, const uint8_t *mac,
		size_t mac_len, uint16_t orig_id, uint16_t error, const uint8_t *other,
		uint16_t other_len)
{
	uint8_t *p = msg + *len;
	memcpy(p, name, name_len);
	p += name_len;
	rs_wire_store_u16(p, TYPE_TSIG);
	rs_wire_store_u16(p + 2, CLASS_ANY);
	rs_wire_store_u32(p + 4, 0);
	rs_wire_store_u16(p + 8, (uint16_t)(alg_len + 16 + mac_len + other_len));
	p += 10;
	memcpy(p, alg, alg_len);
	p += alg_len;
	rs_wire_store_u16(p, (uint16_t)(time >> 32));
	rs_wire_store_u32(p + 2, (uint32_t)time);
	rs_wire_store_u16(p + 6, TSIG_FUDGE);
	rs_wire_store_u16(p + 8, (uint16_t)mac_len);
	p += 10;
	if (mac_len > 0) {
		memcpy(p, mac, mac_len);
	}
	p += mac_len;
	rs_wire_store_u16(p, orig_id);
	rs_wire_store_u16(p + 2, error);
	rs_wire_store_u16(p + 4, other_len);
	p += 6;
	if (other_len > 0) {
		memcpy(p, other, other_len);
	}
	p += other_len;
	*len = (size_t)(p - msg);
	rs_wire_store_u16(msg + 10, (uint16_t)(rs_wire_load_u16(msg + 10) + 1));
}

int tsig_response_sign(struct tsig_state *st, uint8_t *msg, size_t *len, size_t cap, uint64_t now)
{
	size_t need = tsig_size(st);
	if (*len < HEADER || cap < *len || cap - *len < need) {
		return RS_ENOSPC;
	}
	if (!signs(st)) {
		/* BADKEY, BADSIG: unsigned, the request's names echoed. */
		const uint8_t *name = st->key != NULL ? st->key->wire : st->name;
		size_t name_len = st->key != NULL ? st->key->wire_len : st->name_len;
		const uint8_t *alg = st->key != NULL ? alg_wire[st->key->alg] : st->alg_name;
		size_t alg_len = st->key != NULL ? ALG_WIRE_LEN : st->alg_name_len;
		rr_write(msg, len, name, name_len, alg, alg_len, now, NULL, 0, st->orig_id,
				st->error, NULL, 0);
		st->messages++;
		return 0;
	}
	const struct tsig_key *k = st->key;
	uint8_t other[6];
	uint16_t other_len = 0;
	uint64_t time = now;
	if (st->error == TSIG_BADTIME) {
		/* RFC 8945 5.2.3: the request's time, so the client can verify
		 * the answer; ours in Other Data. */
		time = st->time_signed;
		rs_wire_store_u16(other, (uint16_t)(now >> 32));
		rs_wire_store_u32(other + 2, (uint32_t)now);
		other_len = 6;
	}
	struct hmac h;
	uint8_t mac[TSIG_MAC_MAX];
	hmac_init(&h, k);
	hmac_add16(&h, st->mac_len); /* the request's MAC, or the previous message's */
	hmac_add(&h, st->mac, st->mac_len);
	hmac_add_unsigned(&h, msg, *len, st->orig_id);
	if (st->messages == 0) {
		hmac_add_vars(&h, k->wire, k->wire_len, alg_wire[k->alg], ALG_WIRE_LEN, time,
				TSIG_FUDGE, st->error, other, other_len);
	} else {
		hmac_add48(&h, time); /* RFC 8945 5.3.1: the timers only */
		hmac_add16(&h, TSIG_FUDGE);
	}
	size_t mac_len = hmac_final(&h, mac);
	rr_write(msg, len, k->wire, k->wire_len, alg_wire[k->alg], ALG_WIRE_LEN, time, mac, mac_len,
			st->orig_id, st->error, other, other_len);
	memcpy(st->mac, mac, mac_len);
	st->mac_len = (uint16_t)mac_len;
	st->messages++;
	return 0;
}

int tsig_request_sign(const struct tsig_key *key, struct tsig_state *st, uint8_t *msg, size_t *len,
		size_t cap, uint64_t now)
{
	memset(st, 0, sizeof(*st));
	st->key = key;
	size_t need = tsig_size(st);
	if (*len < HEADER || cap < *len || cap - *len < need) {
		return RS_ENOSPC;
	}
	st->orig_id = rs_wire_load_u16(msg);
	st->time_signed = now;
	struct hmac h;
	hmac_init(&h, key);
	hmac_add_unsigned(&h, msg, *len, st->orig_id);
	hmac_add_vars(&h, key->wire, key->wire_len, alg_wire[key->alg], ALG_WIRE_LEN, now,
			TSIG_FUDGE, 0, NULL, 0);
	size_t mac_len = hmac_final(&h, st->mac);
	st->mac_len = (uint16_t)mac_len;
	rr_write(msg, len, key->wire, key->wire_len, alg_wire[key->alg], ALG_WIRE_LEN, now, st->mac,
			mac_len, st->orig_id, 0, NULL, 0);
	return 0;
}

enum tsig_verdict tsig_response_verify(
		struct tsig_state *st, const uint8_t *msg, size_t len, uint64_t now)
{
	struct tsig_rr t;
	if (st->key == NULL || tsig_rr_parse(msg, len, &t) != 0) {
		return TSIG_FORMERR;
	}
	const struct tsig_key *k = st->key;
	if (!rs_name_wire_equal(k->wire, k->wire_len, t.name, t.name_len) || !alg_is(&t, k)) {
		st->error = TSIG_BADKEY;
		return TSIG_FAIL;
	}
	if (t.error != TSIG_NOERROR && t.error != TSIG_BADTIME) {
		st->error = t.error; /* the server's word, unsigned (5.3.2) */
		return TSIG_FAIL;
	}
	size_t full = alg_mac_len(k->alg);
	if (t.mac_len != full) {
		st->error = TSIG_BADSIG;
		return TSIG_FAIL;
	}
	struct hmac h;
	uint8_t mac[TSIG_MAC_MAX];
	hmac_init(&h, k);
	hmac_add16(&h, st->mac_len);
	hmac_add(&h, st->mac, st->mac_len);
	hmac_add_msg(&h, msg, t.off, t.orig_id);
	if (st->messages == 0) {
		hmac_add_vars(&h, t.name, t.name_len, t.alg, t.alg_len, t.time, t.fudge, t.error,
				t.other, t.other_len);
	} else {
		hmac_add48(&h, t.time);
		hmac_add16(&h, t.fudge);
	}
	hmac_final(&h, mac);
	int bad = sodium_memcmp(mac, t.mac, full);
	sodium_memzero(mac, sizeof(mac));
	if (bad != 0) {
		st->error = TSIG_BADSIG;
		return TSIG_FAIL;
	}
	memcpy(st->mac, t.mac, full);
	st->mac_len = (uint16_t)full;
	st->messages++;
	uint64_t fudge = t.fudge < TSIG_FUDGE ? t.fudge : TSIG_FUDGE;
	if (t.error == TSIG_BADTIME || skew(now, t.time) > fudge) {
		st->error = TSIG_BADTIME;
		return TSIG_FAIL;
	}
	return TSIG_OK;
}
