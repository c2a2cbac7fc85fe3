/*
 * Static instances: the --static file read, checked and applied to the
 * store (see static.h). jansson parses each line.
 */
#include "server/registry/static.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/file.h"
#include "common/name.h"

struct static_entry {
	char service[RS_LABEL_MAX + 1]; /* lower case */
	char protocol[RS_LABEL_MAX + 1];
	char host[RS_NAME_TEXT_MAX]; /* canonical */
	uint16_t port;
	uint32_t weight, priority;
	enum store_status status;
	struct rs_addr *addrs;
	size_t naddrs;
	struct store_meta *meta; /* sorted by key; strings owned */
	size_t nmeta;
};

struct static_set {
	struct static_entry *v;
	size_t n, cap;
	struct rs_buf raw; /* the file as read (static_set_save()) */
};

static void entry_deinit(struct static_entry *e)
{
	for (size_t k = 0; k < e->nmeta; k++) {
		free((char *)e->meta[k].key);
		free((char *)e->meta[k].value);
	}
	free(e->meta);
	free(e->addrs);
}

void static_set_free(struct static_set *set)
{
	if (set == NULL) {
		return;
	}
	for (size_t i = 0; i < set->n; i++) {
		entry_deinit(&set->v[i]);
	}
	free(set->v);
	rs_buf_deinit(&set->raw);
	free(set);
}

int static_set_save(const struct static_set *set, const char *dir, const char *name)
{
	if (rs_buf_error(&set->raw) != 0) {
		return RS_ENOMEM;
	}
	struct iovec part = {set->raw.data, set->raw.len};
	return rs_file_replace(dir, name, &part, 1, 0600);
}

size_t static_set_count(const struct static_set *set)
{
	return set != NULL ? set->n : 0;
}

/* A lower-case label into @p out; 0 or RS_ECONF with @p why set. */
static int label_take(const char *in, char out[RS_LABEL_MAX + 1], const char **why)
{
	size_t n = strlen(in);
	if (n > RS_LABEL_MAX || rs_label_check(in, n, 0) < 0 || strchr(in, '_') != NULL) {
		*why = "is not a DNS label (letters, digits, hyphens; no underscore)";
		return RS_ECONF;
	}
	for (size_t i = 0; i <= n; i++) {
		out[i] = (char)rs_ascii_lower((uint8_t)in[i]);
	}
	return 0;
}

/* A number field in [0, max]; absent: @p dflt. */
static int number_take(json_t *obj, const char *key, uint32_t max, uint32_t dflt, uint32_t *out,
		char *why, size_t whysz)
{
	json_t *v = json_object_get(obj, key);
	if (v == NULL) {
		*out = dflt;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			(uint64_t)json_integer_value(v) > max) {
		snprintf(why, whysz, "\"%s\" must be an integer from 0 to %u", key, max);
		return RS_ECONF;
	}
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

static int meta_cmp(const void *a, const void *b)
{
	return strcmp(((const struct store_meta *)a)->key, ((const struct store_meta *)b)->key);
}

/* "metadata": an object of strings, within the limits; sorted by key so
 * that every registry holds the same instance whatever the line's order. */
static int meta_take(json_t *obj, const struct store_limits *limits, struct static_entry *e,
		char *why, size_t whysz)
{
	json_t *m = json_object_get(obj, "metadata");
	if (m == NULL) {
		return 0;
	}
	if (!json_is_object(m)) {
		snprintf(why, whysz, "\"metadata\" must be an object of strings");
		return RS_ECONF;
	}
	size_t n = json_object_size(m), bytes = 0;
	if (n > limits->max_metadata_entries || n > 255) {
		snprintf(why, whysz, "%zu metadata entries (limit %u)", n,
				limits->max_metadata_entries);
		return RS_ECONF;
	}
	e->meta = calloc(n + 1, sizeof(*e->meta));
	if (e->meta == NULL) {
		return RS_ENOMEM;
	}
	const char *key;
	json_t *val;
	json_object_foreach(m, key, val)
	{
		if (!json_is_string(val) || key[0] == '\0') {
			snprintf(why, whysz, "metadata \"%.60s\" must be a string with a name",
					key);
			return RS_ECONF;
		}
		bytes += strlen(key) + json_string_length(val);
		struct store_meta *sm = &e->meta[e->nmeta];
		sm->key = strdup(key);
		sm->value = strdup(json_string_value(val));
		e->nmeta++;
		if (sm->key == NULL || sm->value == NULL) {
			return RS_ENOMEM;
		}
	}
	if (bytes > limits->max_metadata_bytes) {
		snprintf(why, whysz, "%zu metadata bytes (limit %u)", bytes,
				limits->max_metadata_bytes);
		return RS_ECONF;
	}
	qsort(e->meta, e->nmeta, sizeof(*e->meta), meta_cmp);
	return 0;
}

static int addrs_take(json_t *obj, const struct store_limits *limits, struct static_entry *e,
		char *why, size_t whysz)
{
	json_t *a = json_object_get(obj, "addresses");
	if (a == NULL) {
		return 0;
	}
	if (!json_is_array(a)) {
		snprintf(why, whysz, "\"addresses\" must be an array of IP addresses");
		return RS_ECONF;
	}
	size_t n = json_array_size(a);
	if (n > limits->max_addresses || n > 255) {
		snprintf(why, whysz, "%zu addresses (limit %u)", n, limits->max_addresses);
		return RS_ECONF;
	}
	e->addrs = calloc(n + 1, sizeof(*e->addrs));
	if (e->addrs == NULL) {
		return RS_ENOMEM;
	}
	for (size_t k = 0; k < n; k++) {
		json_t *v = json_array_get(a, k);
		if (!json_is_string(v) || rs_addr_parse(json_string_value(v), &e->addrs[k]) < 0) {
			snprintf(why, whysz, "address %zu is not an IPv4 or IPv6 address", k + 1);
			return RS_ECONF;
		}
	}
	e->naddrs = n;
	return 0;
}

static int status_take(json_t *obj, enum store_status *out, char *why, size_t whysz)
{
	static const char *const names[] = {"", "STARTING", "UP", "DOWN"};
	json_t *v = json_object_get(obj, "status");
	*out = STORE_STATUS_UP;
	if (v == NULL) {
		return 0;
	}
	for (int k = STORE_STATUS_STARTING; json_is_string(v) && k <= STORE_STATUS_DOWN; k++) {
		if (strcmp(json_string_value(v), names[k]) == 0) {
			*out = (enum store_status)k;
			return 0;
		}
	}
	snprintf(why, whysz, "\"status\" must be \"UP\", \"STARTING\" or \"DOWN\"");
	return RS_ECONF;
}

/* The identity: names checked and made canonical, as the store keys them. */
static int identity_take(json_t *obj, struct static_entry *e, char *why, size_t whysz)
{
	static const char *const names[] = {"service", "protocol", "host"};
	const char *text[3];
	for (int k = 0; k < 3; k++) {
		json_t *v = json_object_get(obj, names[k]);
		if (!json_is_string(v) || json_string_value(v)[0] == '\0') {
			snprintf(why, whysz, "\"%s\" is missing or not a string", names[k]);
			return RS_ECONF;
		}
		text[k] = json_string_value(v);
	}
	const char *bad = NULL;
	if (label_take(text[0], e->service, &bad) < 0 ||
			label_take(text[1], e->protocol, &bad) < 0) {
		snprintf(why, whysz, "\"%s\" %s", e->service[0] == '\0' ? "service" : "protocol",
				bad);
		return RS_ECONF;
	}
	int hl = rs_name_canonical(text[2], 0, e->host);
	if (hl < 0) {
		snprintf(why, whysz, "\"host\" '%.100s' is not a valid host name", text[2]);
		return RS_ECONF;
	}
	if (rs_name_single_label(e->host)) {
		snprintf(why, whysz, "\"host\" '%.100s': %s", text[2],
				rs_strerror(RS_ENAME_SINGLE));
		return RS_ECONF;
	}
	json_t *port = json_object_get(obj, "port");
	if (!json_is_integer(port) || json_integer_value(port) < 1 ||
			json_integer_value(port) > 65535) {
		snprintf(why, whysz, "\"port\" must be an integer from 1 to 65535");
		return RS_ECONF;
	}
	e->port = (uint16_t)json_integer_value(port);
	return 0;
}

static bool same_identity(const struct static_entry *a, const struct static_entry *b)
{
	return a->port == b->port && strcmp(a->service, b->service) == 0 &&
	       strcmp(a->protocol, b->protocol) == 0 && strcmp(a->host, b->host) == 0;
}

/* One line's object into @p e (zeroed). 0 or RS_ECONF with @p why. */
static int entry_take(json_t *obj, const struct store_limits *limits, struct static_entry *e,
		char *why, size_t whysz)
{
	static const char *const known[] = {"service", "protocol", "host", "port", "addresses",
			"weight", "priority", "metadata", "status"};
	const char *key;
	json_t *val;
	json_object_foreach(obj, key, val)
	{
		size_t k = 0;
		while (k < sizeof(known) / sizeof(known[0]) && strcmp(key, known[k]) != 0) {
			k++;
		}
		if (k == sizeof(known) / sizeof(known[0])) {
			snprintf(why, whysz, "unknown field \"%.60s\"", key);
			return RS_ECONF;
		}
	}
	int rc = identity_take(obj, e, why, whysz);
	if (rc == 0) {
		rc = number_take(obj, "weight", 65535, 0, &e->weight, why, whysz);
	}
	if (rc == 0) {
		rc = number_take(obj, "priority", 65535, 0, &e->priority, why, whysz);
	}
	if (rc == 0) {
		rc = status_take(obj, &e->status, why, whysz);
	}
	if (rc == 0) {
		rc = addrs_take(obj, limits, e, why, whysz);
	}
	if (rc == 0) {
		rc = meta_take(obj, limits, e, why, whysz);
	}
	return rc;
}

/* Parse one non-blank line into the next entry of @p set. */
static int line_take(struct static_set *set, const char *line, const struct store_limits *limits,
		char *why, size_t whysz)
{
	json_error_t jerr;
	json_t *obj = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL || !json_is_object(obj)) {
		snprintf(why, whysz, "not a JSON object%s%s", obj == NULL ? ": " : "",
				obj == NULL ? jerr.text : "");
		json_decref(obj);
		return RS_ECONF;
	}
	if (set->n == set->cap) {
		size_t cap = set->cap == 0 ? 16 : set->cap * 2;
		struct static_entry *v = realloc(set->v, cap * sizeof(*v));
		if (v == NULL) {
			json_decref(obj);
			return RS_ENOMEM;
		}
		set->v = v;
		set->cap = cap;
	}
	struct static_entry *e = &set->v[set->n];
	memset(e, 0, sizeof(*e));
	int rc = entry_take(obj, limits, e, why, whysz);
	json_decref(obj);
	for (size_t i = 0; rc == 0 && i < set->n; i++) {
		if (same_identity(&set->v[i], e)) {
			snprintf(why, whysz, "%.63s/%.63s %.100s:%u is listed twice", e->service,
					e->protocol, e->host, e->port);
			rc = RS_ECONF;
		}
	}
	if (rc < 0) {
		entry_deinit(e);
		return rc;
	}
	set->n++;
	return 0;
}

int static_set_read(const char *path, const struct store_limits *limits, struct static_set **out,
		char *err, size_t errsz)
{
	*out = NULL;
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		int rc = -errno;
		return rs_error_printf(err, errsz, rc, "%s: %s", path, strerror(-rc));
	}
	struct static_set *set = calloc(1, sizeof(*set));
	int rc = set == NULL ? RS_ENOMEM : 0;
	char *line = NULL;
	size_t linecap = 0;
	unsigned lineno = 0;
	ssize_t got;
	while (rc == 0 && (got = getline(&line, &linecap, f)) >= 0) {
		lineno++;
		rs_buf_add(&set->raw, line, (size_t)got);
		const char *p = line + strspn(line, " \t\r\n");
		if (*p == '\0' || *p == '#') {
			continue;
		}
		char why[300];
		rc = line_take(set, p, limits, why, sizeof(why));
		if (rc == RS_ECONF) {
			rs_error_printf(err, errsz, rc, "%s:%u: %s", path, lineno, why);
		}
	}
	if (rc == 0 && ferror(f)) {
		rc = rs_error_printf(err, errsz, RS_EIO, "%s: read error", path);
	}
	if (rc == RS_ENOMEM) {
		rs_error_printf(err, errsz, rc, "%s: out of memory", path);
	}
	free(line);
	fclose(f);
	if (rc < 0) {
		static_set_free(set);
		return rc;
	}
	*out = set;
	return 0;
}

/* ---- applying ------------------------------------------------------------ */

struct gone {
	const struct static_set *set;
	struct static_entry *v; /* identities only */
	size_t n, cap;
	int rc;
};

static bool set_lists(const struct static_set *set, const struct store_instance *i)
{
	for (size_t k = 0; set != NULL && k < set->n; k++) {
		const struct static_entry *e = &set->v[k];
		if (e->port == i->port && strcmp(e->host, i->host) == 0 &&
				strcmp(e->service, i->service->name) == 0 &&
				strcmp(e->protocol, i->service->protocol) == 0) {
			return true;
		}
	}
	return false;
}

/* Collect the static instances @p set does not list (removing them while
 * the store is being walked would break the walk). */
static int gone_collect_cb(const struct store_service *svc, void *ud)
{
	struct gone *g = ud;
	for (uint32_t k = 0; k < svc->ninstances; k++) {
		const struct store_instance *i = svc->instances[k];
		if (!i->fixed || set_lists(g->set, i)) {
			continue;
		}
		if (g->n == g->cap) {
			size_t cap = g->cap == 0 ? 16 : g->cap * 2;
			struct static_entry *v = realloc(g->v, cap * sizeof(*v));
			if (v == NULL) {
				g->rc = RS_ENOMEM;
				return 1;
			}
			g->v = v;
			g->cap = cap;
		}
		struct static_entry *e = &g->v[g->n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->service, sizeof(e->service), "%s", svc->name);
		snprintf(e->protocol, sizeof(e->protocol), "%s", svc->protocol);
		snprintf(e->host, sizeof(e->host), "%s", i->host);
		e->port = i->port;
	}
	return 0;
}

static int remove_unlisted(struct store *s, const struct static_set *set, size_t *changed,
		char *err, size_t errsz)
{
	struct gone g = {.set = set};
	int rc = store_service_foreach(s, gone_collect_cb, &g);
	rc = rc != 0 ? rc : g.rc;
	for (size_t k = 0; rc == 0 && k < g.n; k++) {
		const struct static_entry *e = &g.v[k];
		struct store_key key = {e->service, e->protocol, e->host, e->port};
		uint64_t rev = 0;
		rc = store_fixed_remove(s, &key, &rev);
		if (rc < 0) {
			rs_error_printf(err, errsz, rc, "removing %s/%s %s:%u: %s", e->service,
					e->protocol, e->host, e->port, rs_strerror(rc));
		} else {
			(*changed)++;
		}
	}
	free(g.v);
	return rc;
}

int static_set_apply(struct store *s, const struct static_set *set, uint64_t now_mono,
		uint64_t now_wall, size_t *changed, char *err, size_t errsz)
{
	*changed = 0;
	int rc = remove_unlisted(s, set, changed, err, errsz);
	for (size_t k = 0; rc == 0 && set != NULL && k < set->n; k++) {
		const struct static_entry *e = &set->v[k];
		struct store_registration reg = {.service = e->service,
				.protocol = e->protocol,
				.host = e->host,
				.port = e->port,
				.addrs = e->addrs,
				.naddrs = e->naddrs,
				.priority = e->priority,
				.weight = e->weight,
				.meta = e->meta,
				.nmeta = e->nmeta,
				.status = e->status,
				.fixed = true};
		uint64_t before = store_revision(s), rev = 0;
		bool created = false;
		rc = store_register(s, &reg, now_mono, now_wall, &created, &rev);
		if (rc < 0) {
			rs_error_printf(err, errsz, rc, "%s/%s %s:%u: %s", e->service, e->protocol,
					e->host, e->port, rs_strerror(rc));
		} else if (store_revision(s) != before) {
			(*changed)++;
		}
	}
	return rc;
}
