#include "client/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/inst.h"
#include "client/jsonify.h"
#include "common/buf.h"

void cache_deinit(struct cache *c)
{
	if (c == NULL) {
		return;
	}
	for (size_t i = 0; i < c->n; i++) {
		free(c->entries[i].service);
		free(c->entries[i].protocol);
		roster_result_free(c->entries[i].result);
	}
	free(c->entries);
	memset(c, 0, sizeof(*c));
}

static struct cache_entry *find(
		const struct cache *c, const char *service, const char *protocol, int all)
{
	protocol = protocol != NULL ? protocol : "";
	for (size_t i = 0; i < c->n; i++) {
		struct cache_entry *e = &c->entries[i];
		if (e->all == (all != 0) && strcmp(e->service, service) == 0 &&
				strcmp(e->protocol, protocol) == 0) {
			return e;
		}
	}
	return NULL;
}

/* The JSON form of a result without what changes on every fetch. */
static json_t *content_of(const struct roster_result *r)
{
	json_t *j = jsonify_result(r);
	if (j != NULL) {
		json_object_del(j, "fetched_at_ms");
		json_object_del(j, "stale");
		json_object_del(j, "revision");
	}
	return j;
}

/* Same answer (server, every instance field)? Not the revision: it is the
 * registry's, which any write anywhere in the site moves, so comparing it
 * would rewrite the file at almost every query of a busy site. When unsure
 * (no memory), say no: a needless write is cheaper than a lost change. */
static bool same_content(const struct roster_result *a, const struct roster_result *b)
{
	if (a->n_instances != b->n_instances || a->preserving != b->preserving ||
			strcmp(a->server, b->server) != 0) {
		return false;
	}
	json_t *ja = content_of(a), *jb = content_of(b);
	bool same = ja != NULL && jb != NULL && json_equal(ja, jb);
	json_decref(ja);
	json_decref(jb);
	return same;
}

/* Takes ownership of @p copy, also on failure. */
static int put_owned(struct cache *c, const char *service, const char *protocol, int all,
		struct roster_result *copy)
{
	struct cache_entry *e = find(c, service, protocol, all);
	if (e != NULL) {
		if (!same_content(e->result, copy)) {
			c->dirty = true;
		}
		roster_result_free(e->result);
		e->result = copy;
		return 0;
	}
	if (RS_ARRAY_GROW(c->entries, c->cap, c->n + 1) < 0) {
		roster_result_free(copy);
		return ROSTER_ENOMEM;
	}
	e = &c->entries[c->n];
	e->service = strdup(service);
	e->protocol = strdup(protocol != NULL ? protocol : "");
	e->all = all != 0;
	e->result = copy;
	e->saved_ms = 0;
	if (e->service == NULL || e->protocol == NULL) {
		free(e->service);
		free(e->protocol);
		roster_result_free(copy);
		return ROSTER_ENOMEM;
	}
	c->n++;
	c->dirty = true;
	return 0;
}

int cache_put(struct cache *c, const char *service, const char *protocol, int all,
		const struct roster_result *r)
{
	struct roster_result *copy = inst_result_dup(r);
	if (copy == NULL) {
		return ROSTER_ENOMEM;
	}
	copy->stale = false;
	return put_owned(c, service, protocol, all, copy);
}

int cache_get(const struct cache *c, const char *service, const char *protocol, int all,
		uint64_t now_ms, uint64_t max_age_ms, struct roster_result **out)
{
	const struct cache_entry *e = find(c, service, protocol, all);
	if (e == NULL) {
		return ROSTER_ENOENT;
	}
	uint64_t fetched = e->result->fetched_at_ms;
	if (now_ms >= fetched ? now_ms - fetched > max_age_ms : fetched - now_ms > CACHE_SKEW_MS) {
		/* Too old, or dated further in the future than a clock step
		 * explains: a copy fetched under a wrong clock, or a damaged
		 * file, would otherwise be served forever. */
		return ROSTER_ENOENT;
	}
	struct roster_result *copy = inst_result_dup(e->result);
	if (copy == NULL) {
		return ROSTER_ENOMEM;
	}
	copy->stale = true;
	*out = copy;
	return 0;
}

bool cache_save_due(const struct cache *c, uint64_t refresh_ms)
{
	if (c->dirty) {
		return true;
	}
	for (size_t i = 0; i < c->n; i++) {
		const struct cache_entry *e = &c->entries[i];
		uint64_t fetched = e->result->fetched_at_ms;
		if (e->saved_ms == 0 ||
				(fetched > e->saved_ms && fetched - e->saved_ms > refresh_ms)) {
			return true;
		}
		/* The file's copy is dated after one fetched just now: written
		 * under a clock that was ahead. Every process would refuse it
		 * (CACHE_SKEW_MS), so it must be replaced, not kept. */
		if (e->saved_ms > fetched && e->saved_ms - fetched > refresh_ms) {
			return true;
		}
	}
	return false;
}

int cache_save(struct cache *c, const char *path)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr != NULL && i < c->n; i++) {
		const struct cache_entry *e = &c->entries[i];
		json_array_append_new(arr, json_pack("{s:s, s:s, s:b, s:o*}", "service", e->service,
							   "protocol", e->protocol, "all", e->all,
							   "result", jsonify_result(e->result)));
	}
	json_t *doc = json_pack("{s:i, s:o*}", "version", 1, "entries", arr);
	char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (text == NULL) {
		return ROSTER_ENOMEM;
	}
	char tmp[4096];
	int rc = 0;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp)) {
		free(text);
		return -ENAMETOOLONG;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		free(text);
		return -errno;
	}
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	/* The data must be on disk before the rename makes it the cache. */
	if (rc == 0 && fsync(fd) != 0) {
		rc = -errno;
	}
	if (close(fd) != 0 && rc == 0) {
		rc = -errno;
	}
	if (rc == 0 && rename(tmp, path) != 0) {
		rc = -errno;
	}
	if (rc != 0) {
		unlink(tmp);
	} else {
		c->dirty = false;
		for (size_t i = 0; i < c->n; i++) {
			c->entries[i].saved_ms = c->entries[i].result->fetched_at_ms;
		}
	}
	free(text);
	return rc;
}

static int load_result(const json_t *obj, struct roster_result **out)
{
	json_int_t revision, fetched;
	int preserving, stale;
	const char *server;
	json_t *arr;
	if (json_unpack((json_t *)obj, "{s:I, s:b, s:b, s:I, s:s, s:o}", "revision", &revision,
			    "preserving", &preserving, "stale", &stale, "fetched_at_ms", &fetched,
			    "server", &server, "instances", &arr) != 0 ||
			!json_is_array(arr)) {
		return ROSTER_EPROTO;
	}
	struct roster_result *r = inst_result_new(json_array_size(arr));
	if (r == NULL) {
		return ROSTER_ENOMEM;
	}
	r->revision = (uint64_t)revision;
	r->preserving = preserving != 0;
	r->fetched_at_ms = (uint64_t)fetched;
	snprintf(r->server, sizeof(r->server), "%s", server);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		int rc = jsonify_parse_instance(json_array_get(arr, i), &r->instances[i]);
		if (rc != 0) {
			roster_result_free(r);
			return rc;
		}
		r->n_instances++;
	}
	*out = r;
	return 0;
}

int cache_load(struct cache *c, const char *path)
{
	json_error_t err;
	json_t *doc = json_load_file(path, 0, &err);
	if (doc == NULL) {
		return access(path, F_OK) != 0 ? ROSTER_ENOENT : ROSTER_EPROTO;
	}
	json_t *entries;
	int version, rc = 0;
	bool dirty = c->dirty;
	if (json_unpack(doc, "{s:i, s:o}", "version", &version, "entries", &entries) != 0 ||
			version != 1 || !json_is_array(entries)) {
		rc = ROSTER_EPROTO;
		goto out;
	}
	for (size_t i = 0; i < json_array_size(entries); i++) {
		const char *service, *protocol;
		int all;
		json_t *res;
		struct roster_result *r = NULL;
		if (json_unpack(json_array_get(entries, i), "{s:s, s:s, s:b, s:o}", "service",
				    &service, "protocol", &protocol, "all", &all, "result",
				    &res) != 0) {
			rc = ROSTER_EPROTO;
			goto out;
		}
		if (find(c, service, protocol, all) != NULL) {
			continue;
		}
		rc = load_result(res, &r);
		if (rc == 0) {
			uint64_t fetched = r->fetched_at_ms;
			rc = put_owned(c, service, protocol, all, r);
			if (rc == 0) {
				find(c, service, protocol, all)->saved_ms =
						fetched; /* in the file */
			}
		}
		if (rc != 0) {
			goto out;
		}
	}
out:
	/* What came from the file is in the file; entries merged in from
	 * memory before (already there) keep their own state. */
	c->dirty = dirty;
	json_decref(doc);
	return rc;
}
