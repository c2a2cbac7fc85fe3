/*
 * The change journal: a ring of the last --journal changes, each with a
 * detached copy of the instance, which Watch replays (and, later, IXFR);
 * and the change listener. See store_internal.h for the layering.
 */
#include "server/registry/store_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

static void journal_drop_oldest(struct journal *j)
{
	free((void *)j->ring[j->head].copy);
	j->ring[j->head].copy = NULL;
	j->head = (j->head + 1) % j->cap;
	j->len--;
}

static struct store_instance *instance_copy(const struct store_instance *src)
{
	struct store_instance *c = store_instance_alloc(src->host, src->host_len, src->host_wire,
			src->host_wire_len, src->addrs, src->naddrs, src->meta, src->nmeta);
	if (c == NULL) {
		return NULL;
	}
	c->port = src->port;
	c->priority = src->priority;
	c->weight = src->weight;
	c->status = src->status;
	c->stale = src->stale;
	c->registered_at_ms = src->registered_at_ms;
	c->status_since_ms = src->status_since_ms;
	c->revision = src->revision;
	/* A detached copy: no service, no lease, no links. */
	return c;
}

static void journal_append(struct store *s, enum store_change_kind kind,
		enum store_remove_reason reason, const struct store_instance *inst)
{
	struct journal *j = &s->journal;
	if (j->cap == 0) {
		return;
	}
	struct store_instance *copy = instance_copy(inst);
	if (copy == NULL) {
		/* Out of memory: the journal can no longer replay past here.
		 * Empty it, so Watch falls back to a snapshot. */
		while (j->len > 0) {
			journal_drop_oldest(j);
		}
		return;
	}
	if (j->len == j->cap) {
		journal_drop_oldest(j);
	}
	struct store_journal_entry *e = &j->ring[(j->head + j->len) % j->cap];
	e->revision = s->revision;
	e->kind = kind;
	e->reason = reason;
	memcpy(e->service, inst->service->name, sizeof(e->service));
	memcpy(e->protocol, inst->service->protocol, sizeof(e->protocol));
	e->copy = copy;
	j->len++;
}

uint64_t store_journal_first(const struct store *s)
{
	const struct journal *j = &s->journal;
	if (j->len == 0) {
		return s->revision + 1;
	}
	return j->ring[j->head].revision;
}

int store_journal_foreach(const struct store *s, uint64_t since,
		int (*cb)(const struct store_journal_entry *e, void *ud), void *ud)
{
	const struct journal *j = &s->journal;
	if (since < s->revision && since + 1 < store_journal_first(s)) {
		return RS_ERANGE;
	}
	/* Revisions grow along the ring: find the first entry after @p since
	 * by bisection, so a reader that keeps up (the zone publisher, a
	 * watcher) pays for what changed, not for the journal's length. */
	uint32_t lo = 0, hi = j->len;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (j->ring[(j->head + mid) % j->cap].revision <= since) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	for (uint32_t k = lo; k < j->len; k++) {
		const struct store_journal_entry *e = &j->ring[(j->head + k) % j->cap];
		if (cb(e, ud) != 0) {
			break;
		}
	}
	return 0;
}

void store_notify(struct store *s, enum store_change_kind kind, enum store_remove_reason reason,
		const struct store_instance *i)
{
	journal_append(s, kind, reason, i);
	if (s->listener != NULL) {
		struct store_change c = {kind, reason, s->revision, i};
		s->listener(&c, s->listener_ud);
	}
}

int store_journal_init(struct store *s, uint32_t cap)
{
	if (cap == 0) {
		return 0;
	}
	s->journal.ring = calloc(cap, sizeof(*s->journal.ring));
	if (s->journal.ring == NULL) {
		return RS_ENOMEM;
	}
	s->journal.cap = cap;
	return 0;
}

void store_journal_clear(struct store *s)
{
	while (s->journal.len > 0) {
		journal_drop_oldest(&s->journal);
	}
	s->journal.head = 0;
}

void store_journal_free(struct store *s)
{
	store_journal_clear(s);
	free(s->journal.ring);
	memset(&s->journal, 0, sizeof(s->journal));
}
