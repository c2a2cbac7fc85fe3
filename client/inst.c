#include "client/inst.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/addr.h"
#include "common/name.h"

static size_t str_size(const char *s)
{
	return s != NULL ? strlen(s) + 1 : 1;
}

/* Copy a string into the block at *pos; NULL becomes "". */
static const char *str_put(char **pos, const char *s)
{
	char *out = *pos;
	size_t n = str_size(s);
	if (s != NULL) {
		memcpy(out, s, n);
	} else {
		out[0] = '\0';
	}
	*pos += n;
	return out;
}

int inst_pack(struct roster_instance *dst, const struct roster_instance *src)
{
	size_t strings = str_size(src->service) + str_size(src->protocol) + str_size(src->host);
	for (size_t i = 0; i < src->n_addresses; i++) {
		strings += str_size(src->addresses[i]);
	}
	for (size_t i = 0; i < src->n_metadata; i++) {
		strings += str_size(src->metadata[i].key) + str_size(src->metadata[i].value);
	}
	/* Arrays first: they need pointer alignment, strings do not. */
	size_t addr_bytes = src->n_addresses * sizeof(char *);
	size_t meta_bytes = src->n_metadata * sizeof(struct roster_meta);
	char *block = malloc(meta_bytes + addr_bytes + strings);
	if (block == NULL) {
		memset(dst, 0, sizeof(*dst));
		return ROSTER_ENOMEM;
	}
	*dst = *src;
	struct roster_meta *meta = (struct roster_meta *)block;
	const char **addrs = (const char **)(block + meta_bytes);
	char *pos = block + meta_bytes + addr_bytes;
	dst->service = str_put(&pos, src->service);
	dst->protocol = str_put(&pos, src->protocol);
	dst->host = str_put(&pos, src->host);
	for (size_t i = 0; i < src->n_addresses; i++) {
		addrs[i] = str_put(&pos, src->addresses[i]);
	}
	for (size_t i = 0; i < src->n_metadata; i++) {
		meta[i].key = str_put(&pos, src->metadata[i].key);
		meta[i].value = str_put(&pos, src->metadata[i].value);
	}
	dst->addresses = src->n_addresses > 0 ? addrs : NULL;
	dst->metadata = src->n_metadata > 0 ? meta : NULL;
	dst->priv = block;
	return 0;
}

void inst_release(struct roster_instance *inst)
{
	if (inst == NULL) {
		return;
	}
	free(inst->priv);
	memset(inst, 0, sizeof(*inst));
}

int inst_label_check(const char *label)
{
	if (label == NULL || rs_label_check(label, strlen(label), 0) != 0) {
		return ROSTER_ENAME;
	}
	return 0;
}

int inst_check(const struct roster_instance *inst, int identity_only, const char **what)
{
	const char *dummy;
	if (what == NULL) {
		what = &dummy;
	}
	*what = "service";
	if (inst_label_check(inst->service) != 0) {
		return ROSTER_ENAME;
	}
	*what = "protocol";
	if (inst_label_check(inst->protocol) != 0) {
		return ROSTER_ENAME;
	}
	*what = "host";
	if (inst->host == NULL || rs_name_check(inst->host, 0) != 0) {
		return ROSTER_ENAME;
	}
	*what = "port";
	if (inst->port == 0) {
		return ROSTER_EPORT;
	}
	if (identity_only) {
		*what = "";
		return 0;
	}
	*what = "address";
	for (size_t i = 0; i < inst->n_addresses; i++) {
		struct rs_addr a;
		if (inst->addresses[i] == NULL || rs_addr_parse(inst->addresses[i], &a) != 0) {
			return ROSTER_EADDR;
		}
	}
	*what = "metadata";
	for (size_t i = 0; i < inst->n_metadata; i++) {
		if (inst->metadata[i].key == NULL || inst->metadata[i].key[0] == '\0' ||
				inst->metadata[i].value == NULL) {
			return ROSTER_EINVAL;
		}
	}
	*what = "status";
	if (inst->status > ROSTER_DOWN) {
		return ROSTER_EINVAL;
	}
	*what = "";
	return 0;
}

/* Host names compare without case and without their trailing dot. */
static int host_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 0 && a[la - 1] == '.') {
		la--;
	}
	if (lb > 0 && b[lb - 1] == '.') {
		lb--;
	}
	return la == lb && strncasecmp(a, b, la) == 0;
}

int inst_same_identity(const struct roster_instance *a, const struct roster_instance *b)
{
	return a->port == b->port && strcasecmp(a->service, b->service) == 0 &&
	       strcasecmp(a->protocol, b->protocol) == 0 && host_equal(a->host, b->host);
}

struct roster_result *inst_result_new(size_t n)
{
	struct roster_result *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		return NULL;
	}
	if (n > 0) {
		r->instances = calloc(n, sizeof(*r->instances));
		if (r->instances == NULL) {
			free(r);
			return NULL;
		}
	}
	return r;
}

struct roster_result *inst_result_dup(const struct roster_result *r)
{
	struct roster_result *d = inst_result_new(r->n_instances);
	if (d == NULL) {
		return NULL;
	}
	struct roster_instance *arr = d->instances;
	*d = *r;
	d->instances = arr;
	d->n_instances = 0;
	for (size_t i = 0; i < r->n_instances; i++) {
		if (inst_pack(&d->instances[i], &r->instances[i]) != 0) {
			roster_result_free(d);
			return NULL;
		}
		d->n_instances++;
	}
	return d;
}

void roster_result_free(struct roster_result *r)
{
	if (r == NULL) {
		return;
	}
	for (size_t i = 0; i < r->n_instances; i++) {
		inst_release(&r->instances[i]);
	}
	free(r->instances);
	free(r);
}

void roster_list_free(struct roster_list *l)
{
	free(l); /* one block: see wire.c */
}
