#include "server/api/tokens.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hash.h"
#include "common/name.h"

/* A token file larger than this is a mistake, not a fleet's tokens. */
#define TOKENS_FILE_MAX (1u << 20)

void api_tokens_free(struct api_tokens *t)
{
	if (t == NULL) {
		return;
	}
	for (size_t i = 0; i < t->n; i++) {
		for (size_t g = 0; g < t->v[i].nglobs; g++) {
			free(t->v[i].globs[g]);
		}
		free(t->v[i].globs);
	}
	sodium_memzero(t->v, t->n * sizeof(*t->v));
	free(t->v);
	free(t);
}

void api_tokens_digest(const void *token, size_t len, uint8_t digest[API_TOKEN_DIGEST])
{
	crypto_hash_sha256(digest, token, len);
}

const struct api_token *api_tokens_find(
		const struct api_tokens *t, const uint8_t digest[API_TOKEN_DIGEST])
{
	const struct api_token *hit = NULL;
	if (t == NULL) {
		return NULL;
	}
	/* Every entry is compared, whatever matched before: the time taken
	 * says nothing about which entry (if any) matched. */
	for (size_t i = 0; i < t->n; i++) {
		bool eq = sodium_memcmp(t->v[i].digest, digest, API_TOKEN_DIGEST) == 0;
		hit = eq ? &t->v[i] : hit;
	}
	return hit;
}

bool api_token_can_read(const struct api_token *tok)
{
	return tok != NULL && (tok->scopes & (API_SCOPE_READ | API_SCOPE_WRITE | API_SCOPE_ADMIN));
}

bool api_token_is_admin(const struct api_token *tok)
{
	return tok != NULL && (tok->scopes & API_SCOPE_ADMIN);
}

bool api_token_can_write(const struct api_token *tok, const char *service)
{
	if (tok == NULL) {
		return false;
	}
	if (tok->scopes & API_SCOPE_ADMIN) {
		return true;
	}
	if (service == NULL) {
		return tok->nglobs > 0;
	}
	char lower[RS_LABEL_MAX + 1];
	size_t n = strnlen(service, RS_LABEL_MAX + 1);
	if (n > RS_LABEL_MAX) {
		return false;
	}
	for (size_t k = 0; k < n; k++) {
		lower[k] = (char)rs_ascii_lower((uint8_t)service[k]);
	}
	lower[n] = '\0';
	for (size_t g = 0; g < tok->nglobs; g++) {
		if (fnmatch(tok->globs[g], lower, 0) == 0) {
			return true;
		}
	}
	return false;
}

/* ---- parsing -------------------------------------------------------------- */

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* A glob matches service labels: label characters and fnmatch's * ? [ ] !. */
static bool glob_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '*' || c == '?' || c == '[' || c == ']' || c == '!';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

static int add_glob(struct api_token *tok, const char *g, size_t len)
{
	char **v = realloc(tok->globs, (tok->nglobs + 1) * sizeof(*v));
	if (v == NULL) {
		return RS_ENOMEM;
	}
	tok->globs = v;
	char *s = malloc(len + 1);
	if (s == NULL) {
		return RS_ENOMEM;
	}
	for (size_t k = 0; k < len; k++) {
		s[k] = (char)rs_ascii_lower((uint8_t)g[k]);
	}
	s[len] = '\0';
	tok->globs[tok->nglobs++] = s;
	return 0;
}

/* One scope of a comma-separated list. @return 0, RS_ECONF, RS_ENOMEM. */
static int parse_scope(struct api_token *tok, const char *s, size_t len, char *err, size_t errsz)
{
	if (len == 4 && memcmp(s, "read", 4) == 0) {
		tok->scopes |= API_SCOPE_READ;
		return 0;
	}
	if (len == 5 && memcmp(s, "admin", 5) == 0) {
		tok->scopes |= API_SCOPE_ADMIN;
		return 0;
	}
	if (len > 6 && memcmp(s, "write:", 6) == 0) {
		const char *g = s + 6;
		size_t gl = len - 6;
		if (gl > RS_LABEL_MAX) {
			snprintf(err, errsz, "service glob longer than %d characters",
					RS_LABEL_MAX);
			return RS_ECONF;
		}
		for (size_t k = 0; k < gl; k++) {
			if (!glob_char(g[k])) {
				snprintf(err, errsz,
						"bad character 0x%02x in service glob '%.*s' "
						"(letters, digits, '-', '*', '?', '[', ']', '!')",
						(unsigned char)g[k], (int)gl, g);
				return RS_ECONF;
			}
		}
		tok->scopes |= API_SCOPE_WRITE;
		return add_glob(tok, g, gl);
	}
	snprintf(err, errsz, "unknown scope '%.*s' (read, write:<service-glob>, admin)",
			(int)(len > 64 ? 64 : len), s);
	return RS_ECONF;
}

/* Split @p line (no newline) into its three fields. */
static int split_fields(const char *line, size_t len, const char *f[3], size_t fl[3], char *err,
		size_t errsz)
{
	size_t nf = 0, k = 0;
	while (k < len) {
		while (k < len && (line[k] == ' ' || line[k] == '\t')) {
			k++;
		}
		if (k == len) {
			break;
		}
		if (nf == 3) {
			snprintf(err, errsz,
					"more than three fields (<name> sha256:<hex> "
					"<scope>[,<scope>]...)");
			return RS_ECONF;
		}
		f[nf] = line + k;
		while (k < len && line[k] != ' ' && line[k] != '\t') {
			k++;
		}
		fl[nf] = (size_t)(line + k - f[nf]);
		nf++;
	}
	if (nf != 3) {
		snprintf(err, errsz, "expected <name> sha256:<hex> <scope>[,<scope>]...");
		return RS_ECONF;
	}
	return 0;
}

static int parse_digest(struct api_token *tok, const char *s, size_t len, char *err, size_t errsz)
{
	if (len != 7 + 2 * API_TOKEN_DIGEST || memcmp(s, "sha256:", 7) != 0) {
		snprintf(err, errsz, "the second field must be sha256:<64 hex digits>");
		return RS_ECONF;
	}
	for (size_t k = 0; k < API_TOKEN_DIGEST; k++) {
		int hi = hex_value(s[7 + 2 * k]), lo = hex_value(s[8 + 2 * k]);
		if (hi < 0 || lo < 0) {
			snprintf(err, errsz, "the second field must be sha256:<64 hex digits>");
			return RS_ECONF;
		}
		tok->digest[k] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* One line into @p tok (zeroed by the caller). */
static int parse_line(struct api_token *tok, const char *line, size_t len, char *err, size_t errsz)
{
	const char *f[3];
	size_t fl[3];
	int rc = split_fields(line, len, f, fl, err, errsz);
	if (rc < 0) {
		return rc;
	}
	if (fl[0] > API_TOKEN_NAME_MAX) {
		snprintf(err, errsz, "token name longer than %d characters", API_TOKEN_NAME_MAX);
		return RS_ECONF;
	}
	for (size_t k = 0; k < fl[0]; k++) {
		if (!name_char(f[0][k])) {
			snprintf(err, errsz,
					"bad character 0x%02x in the token name (letters, digits, "
					"'.', '_', '-')",
					(unsigned char)f[0][k]);
			return RS_ECONF;
		}
	}
	memcpy(tok->name, f[0], fl[0]);
	tok->name[fl[0]] = '\0';
	tok->tag = rs_hash64(tok->name, fl[0]) | 1;
	rc = parse_digest(tok, f[1], fl[1], err, errsz);
	const char *s = f[2], *end = f[2] + fl[2];
	while (rc == 0) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *e = comma != NULL ? comma : end;
		if (e == s) {
			snprintf(err, errsz, "empty scope in '%.*s'", (int)fl[2], f[2]);
			return RS_ECONF;
		}
		rc = parse_scope(tok, s, (size_t)(e - s), err, errsz);
		if (comma == NULL) {
			break;
		}
		s = comma + 1;
	}
	return rc;
}

/* Is the entry just parsed (the last) a second use of a name or digest? */
static int check_unique(const struct api_tokens *t, char *err, size_t errsz)
{
	const struct api_token *last = &t->v[t->n - 1];
	for (size_t i = 0; i + 1 < t->n; i++) {
		if (strcmp(t->v[i].name, last->name) == 0) {
			snprintf(err, errsz, "token name '%s' used twice", last->name);
			return RS_ECONF;
		}
		if (memcmp(t->v[i].digest, last->digest, API_TOKEN_DIGEST) == 0) {
			snprintf(err, errsz, "token '%s' has the same hash as '%s'", last->name,
					t->v[i].name);
			return RS_ECONF;
		}
	}
	return 0;
}

static int add_line(struct api_tokens *t, size_t *cap, const char *line, size_t len, char *err,
		size_t errsz)
{
	if (t->n == *cap) {
		size_t nc = *cap == 0 ? 8 : *cap * 2;
		struct api_token *v = realloc(t->v, nc * sizeof(*v));
		if (v == NULL) {
			return RS_ENOMEM;
		}
		t->v = v;
		*cap = nc;
	}
	struct api_token *tok = &t->v[t->n++];
	memset(tok, 0, sizeof(*tok));
	int rc = parse_line(tok, line, len, err, errsz);
	return rc == 0 ? check_unique(t, err, errsz) : rc;
}

int api_tokens_parse(const char *text, size_t len, struct api_tokens **out, char *err, size_t errsz)
{
	*out = NULL;
	struct api_tokens *t = calloc(1, sizeof(*t));
	if (t == NULL) {
		snprintf(err, errsz, "out of memory");
		return RS_ENOMEM;
	}
	size_t cap = 0, lineno = 0, pos = 0;
	int rc = 0;
	char msg[256] = "";
	while (pos < len && rc == 0) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t ll = nl != NULL ? (size_t)(nl - line) : len - pos;
		pos += ll + (nl != NULL);
		lineno++;
		if (ll > 0 && line[ll - 1] == '\r') {
			ll--;
		}
		if (memchr(line, '\0', ll) != NULL) {
			snprintf(msg, sizeof(msg), "a NUL byte in the line");
			rc = RS_ECONF;
			break;
		}
		size_t k = 0;
		while (k < ll && (line[k] == ' ' || line[k] == '\t')) {
			k++;
		}
		if (k == ll || line[k] == '#') {
			continue;
		}
		rc = add_line(t, &cap, line, ll, msg, sizeof(msg));
	}
	if (rc < 0) {
		snprintf(err, errsz, "line %zu: %s", lineno,
				rc == RS_ENOMEM ? "out of memory" : msg);
		api_tokens_free(t);
		return rc;
	}
	if (t->n == 0) {
		/* Truncated by a bad config push, most likely: in force, it would
		 * refuse every request, heartbeats too, and empty the site. */
		snprintf(err, errsz,
				"no token in the file: every request would be refused "
				"(for an open API, go without --api-tokens)");
		api_tokens_free(t);
		return RS_ECONF;
	}
	*out = t;
	return 0;
}

int api_tokens_load(const char *path, struct api_tokens **out, char *err, size_t errsz)
{
	*out = NULL;
	if (sodium_init() < 0) {
		snprintf(err, errsz, "%s: libsodium failed to initialise", path);
		return RS_EIO;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errsz, "%s: %s", path, strerror(e));
		return -e;
	}
	char *buf = malloc(TOKENS_FILE_MAX + 1);
	size_t len = 0;
	int rc = buf == NULL ? RS_ENOMEM : 0;
	while (rc == 0) {
		ssize_t n = read(fd, buf + len, TOKENS_FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			rc = -errno;
			snprintf(err, errsz, "%s: %s", path, strerror(errno));
		} else if (n == 0) {
			break;
		} else if ((len += (size_t)n) > TOKENS_FILE_MAX) {
			rc = RS_ECONF;
			snprintf(err, errsz, "%s: larger than %u bytes", path, TOKENS_FILE_MAX);
		}
	}
	close(fd);
	if (rc == 0) {
		char msg[300];
		rc = api_tokens_parse(buf, len, out, msg, sizeof(msg));
		if (rc < 0) {
			snprintf(err, errsz, "%s: %s", path, msg);
		}
	} else if (rc == RS_ENOMEM) {
		snprintf(err, errsz, "%s: out of memory", path);
	}
	if (buf != NULL) {
		sodium_memzero(buf, len);
	}
	free(buf);
	return rc;
}
