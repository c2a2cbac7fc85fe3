#include "zonegen/records.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/name.h"
#include "zonegen/output.h"

void zg_records_init(struct zg_records *r)
{
	memset(r, 0, sizeof(*r));
	rs_arena_init(&r->arena, 64 * 1024);
}

void zg_records_deinit(struct zg_records *r)
{
	if (r == NULL) {
		return;
	}
	rs_arena_deinit(&r->arena);
	free(r->recs);
	r->recs = NULL;
	r->n = 0;
	r->cap = 0;
}

static char *keep(struct zg_records *r, const char *s, size_t n, int lower)
{
	char *p = rs_arena_alloc(&r->arena, n + 1);
	if (p == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		p[i] = lower ? (char)rs_ascii_lower((uint8_t)s[i]) : s[i];
	}
	p[n] = '\0';
	return p;
}

/* ldns_rr2str() writes "owner\tttl\tclass\ttype\trdata\n": the type and the
 * RDATA are taken from there so that every type ldns knows prints the way
 * ldns (and so every other tool) reads it back. */
static int add_rr(struct zg_records *r, ldns_rr *rr, const char *file, uint32_t line,
		struct zg_diag *diag)
{
	int rc = 0;
	char *text = ldns_rr2str(rr);
	char *owner = ldns_rdf2str(ldns_rr_owner(rr));
	char *target = NULL;
	if (text == NULL || owner == NULL) {
		rc = RS_ENOMEM;
		goto out;
	}
	if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) {
		zg_diag_error(diag, "%s:%u: record %s: only class IN is supported", file, line,
				owner);
		goto out;
	}
	char *p = text;
	for (int i = 0; i < 3 && p != NULL; i++) {
		p = strchr(p, '\t');
		p = p != NULL ? p + 1 : NULL;
	}
	if (p == NULL) {
		zg_diag_error(diag, "%s:%u: record %s: cannot print it back", file, line, owner);
		goto out;
	}
	char *tab = strchr(p, '\t');
	size_t tlen = tab != NULL ? (size_t)(tab - p) : strcspn(p, "\n");
	const char *rd = tab != NULL ? tab + 1 : "";
	size_t rdl = strcspn(rd, "\n");
	size_t rdlen = 0;
	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
		rdlen += ldns_rdf_size(ldns_rr_rdf(rr, i));
	}
	if (RS_ARRAY_GROW(r->recs, r->cap, r->n + 1) < 0) {
		rc = RS_ENOMEM;
		goto out;
	}
	struct zg_srec *s = &r->recs[r->n];
	memset(s, 0, sizeof(*s));
	s->owner = keep(r, owner, strlen(owner), 1);
	s->type_name = keep(r, p, tlen, 0);
	s->rdata = keep(r, rd, rdl, 0);
	s->file = file;
	s->line = line;
	s->ttl = ldns_rr_ttl(rr);
	s->type = (uint16_t)ldns_rr_get_type(rr);
	s->rdlen = (uint16_t)(rdlen > 65535 ? 65535 : rdlen);
	if (s->type == LDNS_RR_TYPE_CNAME && ldns_rr_rd_count(rr) == 1) {
		target = ldns_rdf2str(ldns_rr_rdf(rr, 0));
		if (target == NULL) {
			rc = RS_ENOMEM;
			goto out;
		}
		s->target = keep(r, target, strlen(target), 1);
	}
	if (s->owner == NULL || s->type_name == NULL || s->rdata == NULL ||
			(target != NULL && s->target == NULL)) {
		rc = RS_ENOMEM;
		goto out;
	}
	r->n++;
out:
	free(text);
	free(owner);
	free(target);
	return rc;
}

/* Line numbers: ldns counts the lines it consumed, comments and blank lines
 * before a record included, so the line of a record is found from the text
 * itself: the first line with content after where ldns started reading. */
struct line_cursor {
	const char *text;
	size_t len;
	size_t off;    /* a position already counted */
	uint32_t line; /* the line of text[off] */
};

static uint32_t content_line(struct line_cursor *c, size_t from)
{
	bool comment = false;
	while (from < c->len) {
		char ch = c->text[from];
		if (ch == '\n') {
			comment = false;
		} else if (ch == ';') {
			comment = true;
		} else if (!comment && ch != ' ' && ch != '\t' && ch != '\r') {
			break;
		}
		from++;
	}
	for (; c->off < from && c->off < c->len; c->off++) {
		c->line += c->text[c->off] == '\n';
	}
	return c->line;
}

static int parse_text(struct zg_records *r, const char *file, const char *text, size_t len,
		const char *origin_text, uint32_t ttl, struct zg_diag *diag)
{
	int rc = 0;
	ldns_rdf *origin = NULL;
	ldns_rdf *prev = NULL;
	int ldns_line = 1;
	uint32_t default_ttl = ttl;
	struct line_cursor cur = {.text = text, .len = len, .off = 0, .line = 1};
	if (ldns_str2rdf_dname(&origin, origin_text) != LDNS_STATUS_OK) {
		zg_diag_error(diag, "%s: bad default origin %s", file, origin_text);
		return 0;
	}
	FILE *fp = fmemopen((void *)text, len, "r");
	if (fp == NULL) {
		ldns_rdf_deep_free(origin);
		return len == 0 ? 0 : RS_ENOMEM; /* glibc refuses a zero-length buffer */
	}
	for (;;) {
		ldns_rr *rr = NULL;
		long start = ftell(fp);
		ldns_status st = ldns_rr_new_frm_fp_l(
				&rr, fp, &default_ttl, &origin, &prev, &ldns_line);
		uint32_t line = content_line(&cur, start < 0 ? cur.off : (size_t)start);
		if (st == LDNS_STATUS_OK) {
			rc = add_rr(r, rr, file, line, diag);
			ldns_rr_free(rr);
			if (rc < 0) {
				break;
			}
			continue;
		}
		if (st == LDNS_STATUS_SYNTAX_EMPTY || st == LDNS_STATUS_SYNTAX_TTL ||
				st == LDNS_STATUS_SYNTAX_ORIGIN) {
			if (feof(fp)) {
				break;
			}
			continue;
		}
		if (st == LDNS_STATUS_SYNTAX_INCLUDE) {
			zg_diag_error(diag, "%s:%u: $INCLUDE is not supported in --records files",
					file, line);
		} else {
			zg_diag_error(diag, "%s:%u: bad record: %s", file, line,
					ldns_get_errorstr_by_id(st));
		}
		if (feof(fp)) {
			break;
		}
	}
	fclose(fp);
	ldns_rdf_deep_free(origin);
	ldns_rdf_deep_free(prev);
	return rc;
}

static const char *keep_file(struct zg_records *r, const char *file)
{
	return keep(r, file, strlen(file), 0);
}

int zg_records_parse(struct zg_records *r, const char *file, const char *text, size_t len,
		const char *origin, uint32_t ttl, struct zg_diag *diag)
{
	const char *f = keep_file(r, file);
	if (f == NULL) {
		return RS_ENOMEM;
	}
	return parse_text(r, f, text, len, origin, ttl, diag);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The default $ORIGIN of a file: its name without ".zone" when that is the
 * domain or under it. */
static void file_origin(const char *base, const char *domain, char out[RS_NAME_TEXT_MAX])
{
	char tmp[RS_NAME_TEXT_MAX];
	size_t n = strlen(base);
	if (n > 5 && strcmp(base + n - 5, ".zone") == 0) {
		n -= 5;
	}
	snprintf(out, RS_NAME_TEXT_MAX, "%s", domain);
	if (n == 0 || n >= sizeof(tmp)) {
		return;
	}
	memcpy(tmp, base, n);
	tmp[n] = '\0';
	char canon[RS_NAME_TEXT_MAX];
	int cl = rs_name_canonical(tmp, RS_NAME_UNDERSCORE | RS_NAME_NUMERIC_TOP, canon);
	size_t dl = strlen(domain);
	if (cl < 0 || (size_t)cl < dl || strcmp(canon + (size_t)cl - dl, domain) != 0) {
		return;
	}
	if ((size_t)cl == dl || canon[(size_t)cl - dl - 1] == '.') {
		memcpy(out, canon, (size_t)cl + 1);
	}
}

int zg_records_load_dir(struct zg_records *r, const char *dir, const char *domain, uint32_t ttl,
		struct zg_diag *diag)
{
	int rc = 0;
	char **names = NULL;
	size_t n = 0, cap = 0;
	DIR *d = opendir(dir);
	if (d == NULL) {
		rc = -errno;
		zg_diag_error(diag, "--records %s: %s", dir, rs_strerror(rc));
		return rc;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (e->d_name[0] == '.' || e->d_name[l - 1] == '~') {
			continue;
		}
		if (RS_ARRAY_GROW(names, cap, n + 1) < 0) {
			rc = RS_ENOMEM;
			goto out;
		}
		if ((names[n] = strdup(e->d_name)) == NULL) {
			rc = RS_ENOMEM;
			goto out;
		}
		n++;
	}
	if (n > 1) {
		qsort(names, n, sizeof(*names), name_cmp);
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		struct stat st;
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
			continue;
		}
		char *text = NULL;
		size_t len = 0;
		if ((rc = zg_file_read(path, &text, &len)) < 0) {
			zg_diag_error(diag, "%s: %s", path, rs_strerror(rc));
			break;
		}
		char origin[RS_NAME_TEXT_MAX];
		file_origin(names[i], domain, origin);
		rc = zg_records_parse(r, path, text, len, origin, ttl, diag);
		free(text);
	}
out:
	for (size_t i = 0; i < n; i++) {
		free(names[i]);
	}
	free(names);
	closedir(d);
	return rc;
}
