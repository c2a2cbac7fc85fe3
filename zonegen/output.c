#include "zonegen/output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/file.h"
#include "common/hash.h"

static const char SOA_MARK[] = "\n@\tIN\tSOA\t";
static const char DEPLOY_MARK[] = "_deploy\tIN\tTXT\t";

static int read_all(int fd, char **out, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		/* A directory says so; a FIFO or a device: not a file to read whole. */
		return S_ISDIR(st.st_mode) ? -EISDIR : RS_EINVAL;
	}
	size_t n = (size_t)st.st_size;
	char *data = malloc(n + 1);
	if (data == NULL) {
		return RS_ENOMEM;
	}
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, data + got, n - got);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			int rc = -errno;
			free(data);
			return rc;
		}
		if (r == 0) {
			break; /* the file shrank meanwhile: take what is there */
		}
		got += (size_t)r;
	}
	data[got] = '\0';
	*out = data;
	*len = got;
	return 0;
}

int zg_file_read(const char *path, char **data, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	int rc = read_all(fd, data, len);
	close(fd);
	return rc;
}

static bool is_record_line(const char *p, size_t n)
{
	return n > 0 && p[0] != ';' && p[0] != '$';
}

/* Parse the SOA serial: the third field after "SOA\t" (MNAME RNAME SERIAL). */
static bool parse_serial(const char *data, size_t len, uint32_t *serial)
{
	const char *soa = memmem(data, len, SOA_MARK, sizeof(SOA_MARK) - 1);
	if (soa == NULL) {
		return false;
	}
	const char *p = soa + sizeof(SOA_MARK) - 1;
	for (int i = 0; i < 2; i++) {
		p = strchr(p, ' ');
		if (p == NULL) {
			return false;
		}
		p++;
	}
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(p, &end, 10);
	if (end == p || *end != ' ' || errno != 0 || v > UINT32_MAX) {
		return false;
	}
	*serial = (uint32_t)v;
	return true;
}

int zg_prev_load(const char *path, struct zg_prev *p)
{
	memset(p, 0, sizeof(*p));
	int rc = zg_file_read(path, &p->data, &p->len);
	if (rc == RS_ENOENT) {
		return 0;
	}
	p->exists = true;
	if (rc < 0) {
		return rc;
	}
	const char *nl = memchr(p->data, '\n', p->len);
	size_t first = nl != NULL ? (size_t)(nl - p->data) : p->len;
	if (memmem(p->data, first, ZG_MARK, sizeof(ZG_MARK) - 1) == NULL ||
			!parse_serial(p->data, p->len, &p->serial)) {
		return 0;
	}
	p->ours = true;
	for (size_t off = 0; off < p->len;) {
		const char *e = memchr(p->data + off, '\n', p->len - off);
		size_t n = e != NULL ? (size_t)(e - (p->data + off)) : p->len - off;
		p->records += is_record_line(p->data + off, n);
		p->deploy += n >= sizeof(DEPLOY_MARK) - 1 &&
			     memcmp(p->data + off, DEPLOY_MARK, sizeof(DEPLOY_MARK) - 1) == 0;
		off += n + 1;
	}
	return 0;
}

void zg_prev_deinit(struct zg_prev *p)
{
	if (p == NULL) {
		return;
	}
	free(p->data);
	memset(p, 0, sizeof(*p));
}

bool zg_prev_same(const struct zg_prev *p, const struct rs_buf *head, const struct rs_buf *body)
{
	/* An empty buffer (one whose growth failed) has no data pointer, and
	 * memcmp() must not be given NULL even for no bytes (C11 7.24.1). */
	if (!p->ours || p->len < head->len ||
			(head->len > 0 && memcmp(p->data, head->data, head->len) != 0)) {
		return false;
	}
	const char *rest = p->data + head->len;
	size_t left = p->len - head->len;
	if (left >= sizeof(DEPLOY_MARK) - 1 &&
			memcmp(rest, DEPLOY_MARK, sizeof(DEPLOY_MARK) - 1) == 0) {
		const char *nl = memchr(rest, '\n', left);
		if (nl == NULL) {
			return false;
		}
		left -= (size_t)(nl + 1 - rest);
		rest = nl + 1;
	}
	return left == body->len && (left == 0 || memcmp(rest, body->data, left) == 0);
}

/* FNV-1a 64 of a line: collisions among a zone's lines are negligible for
 * a count shown to operators. */
static uint64_t line_hash(const char *p, size_t n)
{
	return rs_fnv1a64(RS_FNV1A64_BASIS, p, n);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Append the hashes of the record lines of @p text to *out (*n of *cap). */
static int hash_lines(const char *text, size_t len, uint64_t **out, size_t *n, size_t *cap)
{
	for (size_t off = 0; off < len;) {
		const char *e = memchr(text + off, '\n', len - off);
		size_t l = e != NULL ? (size_t)(e - (text + off)) : len - off;
		const char *p = text + off;
		off += l + 1;
		if (!is_record_line(p, l) || (l > 7 && memcmp(p, "@\tIN\tSOA", 8) == 0)) {
			continue;
		}
		if (RS_ARRAY_GROW(*out, *cap, *n + 1) < 0) {
			return RS_ENOMEM;
		}
		(*out)[(*n)++] = line_hash(p, l);
	}
	return 0;
}

int zg_diff_count(const char *old_text, size_t old_len, const struct rs_buf *const *parts,
		size_t nparts, uint64_t *added, uint64_t *removed)
{
	uint64_t *a = NULL, *b = NULL;
	size_t na = 0, nb = 0, capa = 0, capb = 0;
	int rc = hash_lines(old_text, old_len, &a, &na, &capa);
	for (size_t i = 0; i < nparts && rc == 0; i++) {
		rc = hash_lines(parts[i]->data, parts[i]->len, &b, &nb, &capb);
	}
	if (rc < 0) {
		goto out;
	}
	if (na > 0) {
		qsort(a, na, sizeof(*a), u64_cmp);
	}
	if (nb > 0) {
		qsort(b, nb, sizeof(*b), u64_cmp);
	}
	size_t i = 0, j = 0;
	*added = 0;
	*removed = 0;
	while (i < na || j < nb) {
		if (j == nb || (i < na && a[i] < b[j])) {
			(*removed)++;
			i++;
		} else if (i == na || b[j] < a[i]) {
			(*added)++;
			j++;
		} else {
			i++;
			j++;
		}
	}
out:
	free(a);
	free(b);
	return rc;
}

static int to_iovec(const struct rs_buf *const *parts, size_t nparts, struct iovec v[ZG_PARTS_MAX])
{
	if (nparts > ZG_PARTS_MAX) {
		return RS_ERANGE;
	}
	for (size_t i = 0; i < nparts; i++) {
		v[i] = (struct iovec){parts[i]->data, parts[i]->len};
	}
	return 0;
}

int zg_file_replace(
		const char *dir, const char *name, const struct rs_buf *const *parts, size_t nparts)
{
	struct iovec v[ZG_PARTS_MAX];
	int rc = to_iovec(parts, nparts, v);
	return rc < 0 ? rc : rs_file_replace(dir, name, v, nparts, 0644);
}

int zg_file_stage(
		const char *dir, const char *name, const struct rs_buf *const *parts, size_t nparts)
{
	struct iovec v[ZG_PARTS_MAX];
	int rc = to_iovec(parts, nparts, v);
	return rc < 0 ? rc : rs_file_stage(dir, name, v, nparts, 0644);
}

bool zg_file_equals(const char *path, const struct rs_buf *text)
{
	char *data = NULL;
	size_t len = 0;
	bool same = zg_file_read(path, &data, &len) == 0 && len == text->len &&
		    memcmp(data, text->data, len) == 0;
	free(data);
	return same;
}
