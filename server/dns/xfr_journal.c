/*
 * The journal of zone differences (server/dns/xfr_journal.h): a ring of
 * changesets bounded in octets, and their condensation into one difference
 * with a hash set of RRs.
 */
#include "server/dns/xfr_journal.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hash.h"

void xfr_journal_init(struct xfr_journal *j, size_t max_bytes)
{
	memset(j, 0, sizeof(*j));
	j->max_bytes = max_bytes;
}

static struct xfr_changeset *at(const struct xfr_journal *j, size_t k)
{
	return &j->v[(j->head + k) % j->cap];
}

static void drop_oldest(struct xfr_journal *j)
{
	struct xfr_changeset *c = at(j, 0);
	j->bytes -= c->rrs.len;
	rs_buf_deinit(&c->rrs);
	j->head = (j->head + 1) % j->cap;
	j->len--;
}

void xfr_journal_deinit(struct xfr_journal *j)
{
	if (j == NULL) {
		return;
	}
	while (j->len > 0) {
		drop_oldest(j);
	}
	free(j->v);
	size_t max = j->max_bytes;
	uint64_t dropped = j->dropped;
	memset(j, 0, sizeof(*j));
	j->max_bytes = max;
	j->dropped = dropped;
}

void xfr_changeset_put(struct rs_buf *rrs, unsigned kind, const uint8_t *owner, size_t owner_len,
		const uint8_t *body, size_t body_len)
{
	uint8_t h[2] = {(uint8_t)kind, (uint8_t)owner_len};
	uint8_t l[2] = {(uint8_t)(body_len >> 8), (uint8_t)body_len};
	rs_buf_add(rrs, h, 2);
	rs_buf_add(rrs, owner, owner_len);
	rs_buf_add(rrs, l, 2);
	rs_buf_add(rrs, body, body_len);
}

/* Make room for one more changeset at the end of the ring. */
static int ring_grow(struct xfr_journal *j)
{
	if (j->len < j->cap) {
		return 0;
	}
	size_t cap = j->cap ? j->cap * 2 : 64;
	struct xfr_changeset *v = calloc(cap, sizeof(*v));
	if (v == NULL) {
		return RS_ENOMEM;
	}
	for (size_t k = 0; k < j->len; k++) {
		v[k] = *at(j, k);
	}
	free(j->v);
	j->v = v;
	j->cap = cap;
	j->head = 0;
	return 0;
}

int xfr_journal_add(struct xfr_journal *j, uint32_t from, uint32_t to, struct rs_buf *rrs)
{
	int rc = rs_buf_error(rrs);
	if (rc == 0) {
		rc = ring_grow(j);
	}
	if (rc != 0) {
		rs_buf_deinit(rrs);
		while (j->len > 0) {
			drop_oldest(j);
			j->dropped++;
		}
		return rc;
	}
	struct xfr_changeset *c = at(j, j->len);
	c->from = from;
	c->to = to;
	c->rrs = *rrs;
	rs_buf_init(rrs);
	j->len++;
	j->bytes += c->rrs.len;
	while (j->len > 0 && j->bytes > j->max_bytes) {
		drop_oldest(j);
		j->dropped++;
	}
	return 0;
}

/* ---- condensing ------------------------------------------------------------ */

enum slot_state { SLOT_EMPTY = 0, SLOT_NONE, SLOT_DEL, SLOT_ADD, SLOT_DONE };

struct slot {
	const uint8_t *rec; /* at its owner-length octet */
	uint8_t state;
};

struct rrset_hash {
	struct slot *s;
	size_t mask;
};

/* The record's key: owner length through the end of its body. */
static size_t key_len(const uint8_t *r)
{
	return 3 + xfr_rec_owner_len(r) + xfr_rec_body_len(r);
}

static struct slot *slot_find(struct rrset_hash *t, const uint8_t *r)
{
	size_t n = key_len(r);
	for (size_t i = rs_hash64(r, n) & t->mask;; i = (i + 1) & t->mask) {
		struct slot *s = &t->s[i];
		if (s->state == SLOT_EMPTY || (key_len(s->rec) == n && memcmp(s->rec, r, n) == 0)) {
			if (s->state == SLOT_EMPTY) {
				s->rec = r;
			}
			return s;
		}
	}
}

/* Visit the records of changesets k0.. of @p j. */
#define EACH_RECORD(j, k0, c, r)                                                                   \
	for (size_t k_ = (k0); k_ < (j)->len; k_++)                                                \
		for (const struct xfr_changeset *c = at((j), k_); c != NULL; c = NULL)             \
			for (const uint8_t *r = (const uint8_t *)c->rrs.data;                      \
					r < (const uint8_t *)c->rrs.data + c->rrs.len;             \
					r += 1 + key_len(r + 1))

static int lists_fill(
		const struct xfr_journal *j, size_t k0, struct rrset_hash *t, struct xfr_diff *out)
{
	size_t n = 0;
	EACH_RECORD(j, k0, c, r)
	{
		struct slot *s = slot_find(t, r + 1);
		n += s->state == SLOT_DEL || s->state == SLOT_ADD;
		(void)c;
	}
	out->del = malloc((n + 1) * sizeof(*out->del));
	out->add = malloc((n + 1) * sizeof(*out->add));
	if (out->del == NULL || out->add == NULL) {
		return RS_ENOMEM;
	}
	/* Each RR once, at its last record (the one its slot points at). */
	EACH_RECORD(j, k0, c, r)
	{
		struct slot *s = slot_find(t, r + 1);
		if ((s->state == SLOT_DEL || s->state == SLOT_ADD) && s->rec == r + 1) {
			size_t sz = key_len(r + 1) - 1;
			if (s->state == SLOT_DEL) {
				out->del[out->ndel++] = r + 1;
			} else {
				out->add[out->nadd++] = r + 1;
			}
			out->bytes += sz;
			s->state = SLOT_DONE;
		}
		(void)c;
	}
	return 0;
}

int xfr_journal_diff(const struct xfr_journal *j, uint32_t from, struct xfr_diff *out)
{
	memset(out, 0, sizeof(*out));
	size_t k0 = 0;
	while (k0 < j->len && at(j, k0)->from != from) {
		k0++;
	}
	if (k0 == j->len) {
		return RS_ENOENT;
	}
	size_t n = 0;
	EACH_RECORD(j, k0, c, r)
	{
		n++;
		(void)c;
		(void)r;
	}
	size_t cap = 16;
	while (cap < 2 * n) {
		cap *= 2;
	}
	struct rrset_hash t = {calloc(cap, sizeof(struct slot)), cap - 1};
	if (t.s == NULL) {
		return RS_ENOMEM;
	}
	/* Net effect of each RR over the range: deleting what was added, or
	 * adding back what was deleted, cancels out (RFC 1995 4). The slot
	 * keeps the record of the RR's last change. */
	EACH_RECORD(j, k0, c, r)
	{
		struct slot *s = slot_find(&t, r + 1);
		bool add = r[0] == XFR_RR_ADD;
		if (s->state == SLOT_EMPTY || s->state == SLOT_NONE) {
			s->state = add ? SLOT_ADD : SLOT_DEL;
		} else {
			s->state = SLOT_NONE; /* ADD then DEL, or DEL then ADD */
		}
		s->rec = r + 1;
		(void)c;
	}
	int rc = lists_fill(j, k0, &t, out);
	free(t.s);
	if (rc != 0) {
		xfr_diff_free(out);
	}
	return rc;
}

void xfr_diff_free(struct xfr_diff *d)
{
	if (d == NULL) {
		return;
	}
	free(d->del);
	free(d->add);
	memset(d, 0, sizeof(*d));
}
