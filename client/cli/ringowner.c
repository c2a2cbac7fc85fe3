#include "client/cli/ringowner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/name.h"
#include "common/ring.h"

struct point {
	uint32_t token;
	unsigned vnode;
	size_t inst;
	const char *host; /**< canonical */
	uint16_t port;
};

static int point_cmp(const void *pa, const void *pb)
{
	const struct point *a = pa, *b = pb;
	if (a->token != b->token) {
		return a->token < b->token ? -1 : 1;
	}
	int c = strcmp(a->host, b->host);
	if (c != 0) {
		return c;
	}
	return (int)a->port - (int)b->port;
}

int ringowner_find(const struct roster_result *r, const char *key, struct ringowner *out)
{
	memset(out, 0, sizeof(*out));
	out->key_token = rs_ring_hash(key, strlen(key));
	size_t up = 0;
	for (size_t i = 0; i < r->n_instances; i++) {
		up += r->instances[i].status == ROSTER_UP ? 1 : 0;
	}
	if (up == 0) {
		return ROSTER_ENOENT;
	}
	struct point *pts = calloc(up * RS_RING_VNODES, sizeof(*pts));
	char(*hosts)[RS_NAME_TEXT_MAX] = calloc(up, RS_NAME_TEXT_MAX);
	struct rs_ring_point *ring = calloc(up * RS_RING_VNODES, sizeof(*ring));
	int rc = ROSTER_ENOMEM;
	if (pts == NULL || hosts == NULL || ring == NULL) {
		goto out;
	}
	size_t n = 0, h = 0;
	for (size_t i = 0; i < r->n_instances; i++) {
		const struct roster_instance *in = &r->instances[i];
		if (in->status != ROSTER_UP) {
			continue;
		}
		/* The registry returns canonical names; canonicalise anyway so a
		 * stale copy or another server version agrees too. */
		if (rs_name_canonical(in->host, 0, hosts[h]) < 0) {
			snprintf(hosts[h], RS_NAME_TEXT_MAX, "%s", in->host);
		}
		for (unsigned v = 0; v < RS_RING_VNODES; v++) {
			pts[n++] = (struct point){rs_ring_token(hosts[h], in->port, v), v, i,
					hosts[h], in->port};
		}
		h++;
	}
	qsort(pts, n, sizeof(*pts), point_cmp);
	for (size_t i = 0; i < n; i++) {
		ring[i].token = pts[i].token;
		ring[i].member = (uint32_t)i;
	}
	const struct point *p = &pts[rs_ring_owner(ring, n, out->key_token)];
	out->token = p->token;
	out->vnode = p->vnode;
	out->instance = p->inst;
	out->points = n;
	snprintf(out->host, sizeof(out->host), "%s", p->host);
	rc = 0;
out:
	free(pts);
	free(hosts);
	free(ring);
	return rc;
}
