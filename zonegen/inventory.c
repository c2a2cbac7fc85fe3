#include "zonegen/inventory.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/name.h"
#include "zonegen/naming.h"
#include "zonegen/output.h"

/* More addresses than this on one host is an inventory bug, not a host. */
#define ZG_HOST_ADDR_MAX 64

void zg_inventory_init(struct zg_inventory *inv, const char *domain)
{
	memset(inv, 0, sizeof(*inv));
	rs_arena_init(&inv->arena, 1 << 20);
	inv->domain = domain;
}

void zg_inventory_deinit(struct zg_inventory *inv)
{
	if (inv == NULL) {
		return;
	}
	rs_arena_deinit(&inv->arena);
	free(inv->intern);
	inv->intern = NULL;
	inv->intern_cap = 0;
	inv->interned = 0;
	free(inv->hosts);
	inv->hosts = NULL;
	inv->nhosts = 0;
	inv->cap = 0;
}

static uint32_t intern_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h = (h ^ (uint8_t)rs_ascii_lower((uint8_t)s[i])) * 16777619u;
	}
	return h;
}

static bool same_lower(const char *interned, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (interned[i] != (char)rs_ascii_lower((uint8_t)s[i])) {
			return false;
		}
	}
	return interned[n] == '\0';
}

static char *dup_lower(struct rs_arena *a, const char *s, size_t n);

/* Sites, roles and pools repeat across the fleet: one lower-case copy of
 * each, so the generator compares them by pointer before by text. */
static const char *intern(struct zg_inventory *inv, const char *s, size_t n)
{
	if (inv->interned * 2 >= inv->intern_cap) {
		size_t cap = inv->intern_cap == 0 ? 256 : inv->intern_cap * 2;
		const char **t = calloc(cap, sizeof(*t));
		if (t == NULL) {
			return NULL;
		}
		for (size_t i = 0; i < inv->intern_cap; i++) {
			const char *e = inv->intern[i];
			if (e != NULL) {
				size_t j = intern_hash(e, strlen(e)) & (cap - 1);
				while (t[j] != NULL) {
					j = (j + 1) & (cap - 1);
				}
				t[j] = e;
			}
		}
		free(inv->intern);
		inv->intern = t;
		inv->intern_cap = cap;
	}
	size_t j = intern_hash(s, n) & (inv->intern_cap - 1);
	while (inv->intern[j] != NULL) {
		if (same_lower(inv->intern[j], s, n)) {
			return inv->intern[j];
		}
		j = (j + 1) & (inv->intern_cap - 1);
	}
	char *p = dup_lower(&inv->arena, s, n);
	if (p != NULL) {
		inv->intern[j] = p;
		inv->interned++;
	}
	return p;
}

static char *dup_lower(struct rs_arena *a, const char *s, size_t n)
{
	char *p = rs_arena_alloc(a, n + 1);
	if (p == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		p[i] = (char)rs_ascii_lower((uint8_t)s[i]);
	}
	p[n] = '\0';
	return p;
}

/* One field of a line, whichever parser read it. */
enum fkind {
	F_ABSENT, /* missing or null */
	F_STRING,
	F_LIST,  /* a list of strings */
	F_OTHER, /* any other JSON value */
};

struct field {
	enum fkind kind;
	size_t n;
	const char *s[ZG_HOST_ADDR_MAX + 1]; /* F_STRING: s[0]; F_LIST: n strings */
};

enum {
	K_NAME,
	K_IPV4,
	K_IPV6,
	K_SITE,
	K_ROLE,
	K_POOL,
	K_SOURCE,
	K_COUNT,
};

static const char *const field_keys[K_COUNT] = {
		"name",
		"ipv4",
		"ipv6",
		"site",
		"role",
		"pool",
		"source",
};

/* The K_* of a key, or -1: one strcmp per key, not one per known key. */
static int key_index(const char *key)
{
	int k = -1;
	switch (key[0]) {
	case 'n':
		k = K_NAME;
		break;
	case 'i':
		k = key[1] == 'p' && key[2] == 'v' && key[3] == '6' ? K_IPV6 : K_IPV4;
		break;
	case 's':
		k = key[1] == 'o' ? K_SOURCE : K_SITE;
		break;
	case 'r':
		k = K_ROLE;
		break;
	case 'p':
		k = K_POOL;
		break;
	default:
		return -1;
	}
	return strcmp(key, field_keys[k]) == 0 ? k : -1;
}

/* What one line says, before it becomes a host. */
struct line_ctx {
	const char *file;
	uint32_t line;
	const char *name; /* as written, for messages */
	struct zg_diag *diag;
};

/* An optional string field: 1 found, 0 absent, -1 wrong type (reported). */
static int opt_string(const struct field *f, const char *key, struct line_ctx *c, const char **out)
{
	*out = NULL;
	if (f->kind == F_ABSENT) {
		return 0;
	}
	if (f->kind != F_STRING) {
		zg_diag_error(c->diag, "%s:%u: host '%s': field \"%s\" must be a string", c->file,
				c->line, c->name, key);
		return -1;
	}
	*out = f->s[0];
	return 1;
}

/* A label-valued field (site, role, pool): checked and lower-cased.
 * Returns 0, 1 for a fault it reported, or RS_ENOMEM. */
static int label_field(struct zg_inventory *inv, struct line_ctx *c, const char *what,
		const char *text, size_t len, const char **out)
{
	int rc = rs_label_check(text, len, 0);
	if (rc < 0) {
		zg_diag_error(c->diag, "%s:%u: host '%s': bad %s '%.*s': %s", c->file, c->line,
				c->name, what, (int)len, text, rs_strerror(rc));
		return 1;
	}
	*out = intern(inv, text, len);
	return *out == NULL ? RS_ENOMEM : 0;
}

static int addr_cmp_cb(const void *a, const void *b)
{
	return rs_addr_cmp(a, b);
}

/* Collect "ipv4"/"ipv6" (string or list) into @p addrs; -1 on a reported fault. */
static int read_addrs(const struct field *f, const char *key, int family, struct line_ctx *c,
		struct rs_addr *addrs, size_t *n)
{
	if (f->kind == F_ABSENT) {
		return 0;
	}
	if (f->kind == F_OTHER) {
		zg_diag_error(c->diag,
				"%s:%u: host '%s': \"%s\" must be a string or a list of strings",
				c->file, c->line, c->name, key);
		return -1;
	}
	for (size_t i = 0; i < f->n; i++) {
		const char *text = f->s[i];
		struct rs_addr a;
		if (rs_addr_parse(text, &a) < 0 || a.family != family) {
			zg_diag_error(c->diag, "%s:%u: host '%s': bad %s address '%s'", c->file,
					c->line, c->name, key, text);
			return -1;
		}
		if (*n >= ZG_HOST_ADDR_MAX) {
			zg_diag_error(c->diag, "%s:%u: host '%s': more than %d addresses", c->file,
					c->line, c->name, ZG_HOST_ADDR_MAX);
			return -1;
		}
		addrs[(*n)++] = a;
	}
	return 0;
}

/* The name: a short label, or "<short>.<site>.<domain>[.]". Sets short and
 * (for an FQDN) site. -1 on a reported fault. */
static int split_name(struct zg_inventory *inv, struct line_ctx *c, const char *name,
		const char **short_name, size_t *short_len, const char **site, size_t *site_len)
{
	int rc = rs_name_check(name, 0);
	if (rc < 0) {
		zg_diag_error(c->diag, "%s:%u: bad host name '%s': %s", c->file, c->line, name,
				rs_strerror(rc));
		return -1;
	}
	size_t n = strlen(name);
	if (name[n - 1] == '.') {
		n--;
	}
	const char *dot = memchr(name, '.', n);
	*short_name = name;
	*site = NULL;
	*site_len = 0;
	if (dot == NULL) {
		*short_len = n;
		return 0;
	}
	*short_len = (size_t)(dot - name);
	const char *rest = dot + 1;
	size_t rest_len = n - *short_len - 1;
	size_t dlen = strlen(inv->domain) - 1; /* without its trailing dot */
	const char *dot2 = memchr(rest, '.', rest_len);
	if (dot2 == NULL || (size_t)(rest + rest_len - dot2 - 1) != dlen ||
			strncasecmp(dot2 + 1, inv->domain, dlen) != 0) {
		zg_diag_error(c->diag,
				"%s:%u: bad host name '%s': an FQDN must be "
				"<host>.<site>.%s",
				c->file, c->line, name, inv->domain);
		return -1;
	}
	*site = rest;
	*site_len = (size_t)(dot2 - rest);
	return 0;
}

/* The host's site: the "site" field, else its FQDN's, else the naming
 * convention's. @return 0 with *st set, or -1 (reported). */
static int host_site(struct line_ctx *c, const char *name, const char *site_f, const char *fsite,
		size_t fsite_len, const char *conv_site, size_t conv_len, const char **st,
		size_t *st_len)
{
	*st = site_f;
	*st_len = site_f != NULL ? strlen(site_f) : 0;
	if (*st == NULL && fsite != NULL) {
		*st = fsite;
		*st_len = fsite_len;
	} else if (*st != NULL && fsite != NULL &&
			(*st_len != fsite_len || strncasecmp(*st, fsite, *st_len) != 0)) {
		zg_diag_error(c->diag, "%s:%u: host '%s': site \"%s\" does not match its FQDN",
				c->file, c->line, name, site_f);
		return -1;
	}
	if (*st == NULL && conv_site != NULL) {
		*st = conv_site;
		*st_len = conv_len;
	}
	if (*st == NULL) {
		zg_diag_error(c->diag,
				"%s:%u: host '%s': no site: give \"site\" or follow the "
				"naming convention <site>-<role>-<pool><id>",
				c->file, c->line, name);
		return -1;
	}
	return 0;
}

/* The host's addresses, sorted and without duplicates, into @p addrs.
 * @return 0 with *n set, or -1 (reported). */
static int host_addrs(const struct field *fl, struct line_ctx *c, const char *name,
		struct rs_addr addrs[ZG_HOST_ADDR_MAX], size_t *n)
{
	*n = 0;
	if (read_addrs(&fl[K_IPV4], "ipv4", AF_INET, c, addrs, n) < 0 ||
			read_addrs(&fl[K_IPV6], "ipv6", AF_INET6, c, addrs, n) < 0) {
		return -1;
	}
	if (*n == 0) {
		zg_diag_error(c->diag, "%s:%u: host '%s': no ipv4 or ipv6 address", c->file,
				c->line, name);
		return -1;
	}
	qsort(addrs, *n, sizeof(addrs[0]), addr_cmp_cb);
	size_t u = 0;
	for (size_t i = 0; i < *n; i++) {
		if (u == 0 || rs_addr_cmp(&addrs[u - 1], &addrs[i]) != 0) {
			addrs[u++] = addrs[i];
		}
	}
	*n = u;
	return 0;
}

/* Copy @p h's name, addresses and FQDN into the arena and append it.
 * Faults are reported and return 0; only RS_ENOMEM is returned. */
static int host_append(struct zg_inventory *inv, struct line_ctx *c, struct zg_host *h,
		const char *sname, size_t slen, const struct rs_addr *addrs, size_t n)
{
	h->naddr = (uint16_t)n;
	h->addrs = rs_arena_alloc(&inv->arena, n * sizeof(addrs[0]));
	h->name = dup_lower(&inv->arena, sname, slen);
	size_t site_len = strlen(h->site), dom_len = strlen(inv->domain);
	size_t flen = slen + 1 + site_len + 1 + dom_len;
	char *fqdn = rs_arena_alloc(&inv->arena, flen + 1);
	if (h->addrs == NULL || h->name == NULL || fqdn == NULL ||
			RS_ARRAY_GROW(inv->hosts, inv->cap, inv->nhosts + 1) < 0) {
		return RS_ENOMEM;
	}
	memcpy(h->addrs, addrs, n * sizeof(addrs[0]));
	memcpy(fqdn, h->name, slen);
	fqdn[slen] = '.';
	memcpy(fqdn + slen + 1, h->site, site_len);
	fqdn[slen + 1 + site_len] = '.';
	memcpy(fqdn + slen + 2 + site_len, inv->domain, dom_len + 1);
	if (flen > RS_NAME_TEXT_MAX - 1) {
		zg_diag_error(c->diag, "%s:%u: host '%s': %s is longer than 255 octets", c->file,
				c->line, c->name, fqdn);
		return 0;
	}
	h->fqdn = fqdn;
	h->fqdn_len = (uint16_t)flen;
	inv->hosts[inv->nhosts++] = *h;
	return 0;
}

/* One parsed JSON object -> one host. Faults are reported and return 0 (the
 * line is skipped); only RS_ENOMEM is returned. */
static int add_host(struct zg_inventory *inv, const struct field *fl, struct line_ctx *c)
{
	if (fl[K_NAME].kind != F_STRING) {
		zg_diag_error(c->diag, "%s:%u: missing or non-string \"name\"", c->file, c->line);
		return 0;
	}
	const char *name = fl[K_NAME].s[0];
	c->name = name;
	const char *sname, *fsite;
	size_t slen, fsite_len;
	if (split_name(inv, c, name, &sname, &slen, &fsite, &fsite_len) < 0) {
		return 0;
	}
	const char *site_f, *role_f, *pool_f, *source_f;
	if (opt_string(&fl[K_SITE], "site", c, &site_f) < 0 ||
			opt_string(&fl[K_ROLE], "role", c, &role_f) < 0 ||
			opt_string(&fl[K_POOL], "pool", c, &pool_f) < 0 ||
			opt_string(&fl[K_SOURCE], "source", c, &source_f) < 0) {
		return 0;
	}
	struct zg_naming nm;
	bool conv = zg_naming_parse(sname, slen, &nm) == 0;
	struct zg_host h;
	memset(&h, 0, sizeof(h));
	h.file = c->file;
	h.line = c->line;
	const char *st;
	size_t st_len;
	if (host_site(c, name, site_f, fsite, fsite_len, conv ? sname : NULL,
			    conv ? nm.site_len : 0, &st, &st_len) < 0) {
		return 0;
	}
	int rc = label_field(inv, c, "site", st, st_len, &h.site);
	if (rc == 0 && (role_f != NULL || conv)) {
		rc = label_field(inv, c, "role", role_f != NULL ? role_f : sname + nm.role_off,
				role_f != NULL ? strlen(role_f) : nm.role_len, &h.role);
	}
	if (rc == 0 && (pool_f != NULL || conv)) {
		rc = label_field(inv, c, "pool", pool_f != NULL ? pool_f : sname + nm.pool_off,
				pool_f != NULL ? strlen(pool_f) : 1, &h.pool);
	}
	if (rc != 0) {
		return rc < 0 ? rc : 0;
	}
	if (source_f != NULL) {
		char *src = rs_arena_alloc(&inv->arena, strlen(source_f) + 1);
		if (src == NULL) {
			return RS_ENOMEM;
		}
		h.source = strcpy(src, source_f);
	}
	struct rs_addr addrs[ZG_HOST_ADDR_MAX];
	size_t n = 0;
	if (host_addrs(fl, c, name, addrs, &n) < 0) {
		return 0;
	}
	return host_append(inv, c, &h, sname, slen, addrs, n);
}

/* The fast path: a flat object whose values are plain ASCII strings without
 * escapes, lists of them, numbers, booleans or null - what inventories are
 * made of. Anything else (escapes, nesting, non-ASCII, any syntax error)
 * returns -1 and the line goes to jansson, which also gives the precise
 * error. */
static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) {
		p++;
	}
	return p;
}

/* A string at p (on the opening quote): NUL-terminated in @p scratch,
 * which mirrors the line. */
static const char *fast_string(
		const char *p, const char *end, const char *line, char *scratch, const char **out)
{
	if (p >= end || *p != '"') {
		return NULL;
	}
	const char *q = ++p;
	while (q < end && *q != '"') {
		if ((uint8_t)*q < 0x20 || (uint8_t)*q > 0x7e || *q == '\\') {
			return NULL;
		}
		q++;
	}
	if (q >= end) {
		return NULL;
	}
	char *s = scratch + (p - line);
	memcpy(s, p, (size_t)(q - p));
	s[q - p] = '\0';
	*out = s;
	return q + 1;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A JSON number (RFC 8259 6), true or false at @p p: the end, or NULL. */
static const char *fast_scalar(const char *p, const char *end)
{
	if ((size_t)(end - p) >= 4 && memcmp(p, "true", 4) == 0) {
		return p + 4;
	}
	if ((size_t)(end - p) >= 5 && memcmp(p, "false", 5) == 0) {
		return p + 5;
	}
	if (p < end && *p == '-') {
		p++;
	}
	if (p >= end || !is_digit(*p)) {
		return NULL;
	}
	if (*p == '0') {
		p++;
	} else {
		while (p < end && is_digit(*p)) {
			p++;
		}
	}
	if (p < end && *p == '.') {
		if (++p >= end || !is_digit(*p)) {
			return NULL;
		}
		while (p < end && is_digit(*p)) {
			p++;
		}
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-')) {
			p++;
		}
		if (p >= end || !is_digit(*p)) {
			return NULL;
		}
		while (p < end && is_digit(*p)) {
			p++;
		}
	}
	return p;
}

static int fast_line(const char *line, size_t len, char *scratch, struct field *fl)
{
	const char *p = line, *end = line + len;
	for (int k = 0; k < K_COUNT; k++) {
		fl[k].kind = F_ABSENT;
		fl[k].n = 0;
	}
	p = skip_ws(p, end);
	if (p >= end || *p++ != '{') {
		return -1;
	}
	p = skip_ws(p, end);
	if (p < end && *p == '}') {
		p++;
		return skip_ws(p, end) == end ? 0 : -1;
	}
	for (;;) {
		const char *key;
		p = fast_string(skip_ws(p, end), end, line, scratch, &key);
		if (p == NULL) {
			return -1;
		}
		p = skip_ws(p, end);
		if (p >= end || *p++ != ':') {
			return -1;
		}
		p = skip_ws(p, end);
		struct field tmp, *f = &tmp;
		int k = key_index(key);
		if (k >= 0) {
			f = &fl[k];
		}
		f->n = 0;
		if (p < end && *p == '"') {
			f->kind = F_STRING;
			f->n = 1;
			p = fast_string(p, end, line, scratch, &f->s[0]);
		} else if (p < end && *p == '[') {
			f->kind = F_LIST;
			p = skip_ws(p + 1, end);
			if (p < end && *p == ']') {
				p++;
			} else {
				for (;;) {
					const char *v;
					p = fast_string(skip_ws(p, end), end, line, scratch, &v);
					if (p == NULL || f->n > ZG_HOST_ADDR_MAX) {
						return -1;
					}
					f->s[f->n++] = v;
					p = skip_ws(p, end);
					if (p < end && *p == ',') {
						p++;
						continue;
					}
					if (p < end && *p == ']') {
						p++;
						break;
					}
					return -1;
				}
			}
		} else if ((size_t)(end - p) >= 4 && memcmp(p, "null", 4) == 0) {
			f->kind = F_ABSENT;
			p += 4;
		} else {
			/* numbers and booleans: fine for keys we ignore ("rack": 12),
			 * a type error for ours (reported as such) */
			p = fast_scalar(p, end);
			f->kind = F_OTHER;
		}
		if (p == NULL) {
			return -1;
		}
		p = skip_ws(p, end);
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (p < end && *p == '}') {
			p++;
			return skip_ws(p, end) == end ? 0 : -1;
		}
		return -1;
	}
}

static void field_from_json(json_t *v, struct field *f)
{
	f->n = 0;
	if (v == NULL || json_is_null(v)) {
		f->kind = F_ABSENT;
	} else if (json_is_string(v)) {
		f->kind = F_STRING;
		f->s[f->n++] = json_string_value(v);
	} else if (json_is_array(v) && json_array_size(v) <= ZG_HOST_ADDR_MAX + 1) {
		f->kind = F_LIST;
		for (size_t i = 0; i < json_array_size(v); i++) {
			json_t *e = json_array_get(v, i);
			if (!json_is_string(e)) {
				f->kind = F_OTHER;
				return;
			}
			f->s[f->n++] = json_string_value(e);
		}
	} else {
		f->kind = F_OTHER;
	}
}

/* jansson: every line the fast path does not take, and the error messages. */
static int slow_line(struct zg_inventory *inv, const char *line, size_t len, struct line_ctx *c,
		struct field *fl)
{
	json_error_t jerr;
	json_t *obj = json_loadb(line, len, JSON_DECODE_ANY, &jerr);
	if (obj == NULL) {
		/* jansson names its flag for a \u0000: say what is wrong instead. */
		bool nul = strstr(jerr.text, "JSON_ALLOW_NUL") != NULL;
		zg_diag_error(c->diag, "%s:%u: malformed JSON: %s (column %d)", c->file, c->line,
				nul ? "a NUL character (\\u0000) in a string" : jerr.text,
				jerr.column);
		return 0;
	}
	int rc = 0;
	if (!json_is_object(obj)) {
		zg_diag_error(c->diag, "%s:%u: not a JSON object", c->file, c->line);
	} else {
		for (int k = 0; k < K_COUNT; k++) {
			field_from_json(json_object_get(obj, field_keys[k]), &fl[k]);
		}
		c->name = "";
		rc = add_host(inv, fl, c);
	}
	json_decref(obj);
	return rc;
}

int zg_inventory_parse(struct zg_inventory *inv, const char *file, const char *text, size_t len,
		struct zg_diag *diag)
{
	size_t flen = strlen(file);
	char *fcopy = rs_arena_alloc(&inv->arena, flen + 1);
	if (fcopy == NULL) {
		return RS_ENOMEM;
	}
	memcpy(fcopy, file, flen + 1);
	struct line_ctx c = {.file = fcopy, .line = 0, .name = "", .diag = diag};
	/* RFC 8259 8.1: a byte order mark may be ignored (editors on Windows
	 * write one). */
	size_t off = len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
	int rc = 0;
	/* the fast path NUL-terminates strings in a copy of the line */
	char *scratch = malloc(len + 1);
	if (scratch == NULL) {
		return RS_ENOMEM;
	}
	while (off < len) {
		const char *start = text + off;
		rc = 0;
		const char *nl = memchr(start, '\n', len - off);
		size_t ll = nl != NULL ? (size_t)(nl - start) : len - off;
		off += ll + 1;
		c.line++;
		size_t k = 0;
		while (k < ll && (start[k] == ' ' || start[k] == '\t' || start[k] == '\r')) {
			k++;
		}
		if (k == ll) {
			continue;
		}
		struct field fl[K_COUNT];
		if (fast_line(start + k, ll - k, scratch, fl) == 0) {
			c.name = "";
			rc = add_host(inv, fl, &c);
		} else {
			rc = slow_line(inv, start, ll, &c, fl);
		}
		if (rc < 0) {
			goto out;
		}
	}
out:
	free(scratch);
	return rc;
}

int zg_inventory_load(struct zg_inventory *inv, const char *path, struct zg_diag *diag)
{
	char *data = NULL;
	size_t len = 0;
	int rc = zg_file_read(path, &data, &len);
	if (rc == 0) {
		rc = zg_inventory_parse(inv, path, data, len, diag);
	}
	free(data);
	return rc;
}
