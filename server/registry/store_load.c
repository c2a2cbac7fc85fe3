/*
 * Loading the store from disk: persist_load() calls these at start, and
 * store_reload() empties the store in place before it loads again (see
 * store_internal.h for the layering).
 */
#include "server/registry/store.h"
#include "server/registry/store_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

int store_load_lease(struct store *s, uint64_t id, uint32_t ttl_ms, uint64_t now_mono)
{
	if (ttl_ms < STORE_TTL_MIN_S * 1000u || ttl_ms > STORE_TTL_MAX_S * 1000u) {
		return RS_ETTL;
	}
	struct store_lease *l;
	return store_lease_add(s, id, ttl_ms, now_mono, &l);
}

void store_load_revision(struct store *s, uint64_t revision)
{
	s->revision = revision;
}

void store_reserve(struct store *s, uint64_t instances, uint64_t leases)
{
	store_table_reserve(&s->instances, instances);
	store_table_reserve(&s->leases, leases);
}

int store_load_instance(struct store *s, const struct store_registration *reg,
		uint64_t registered_at_ms, uint64_t status_since_ms, uint64_t now_mono)
{
	struct names n;
	struct store_lease *l;
	int rc = store_registration_resolve(s, reg, &n, NULL, &l);
	if (rc < 0) {
		return rc;
	}
	struct store_service *svc = store_service_get(s, &n);
	if (svc == NULL) {
		return RS_ENOMEM;
	}
	if (store_instance_lookup(s, svc, n.host, n.host_len, n.port) != NULL) {
		return RS_EEXIST;
	}
	struct store_instance *i = store_instance_build(reg, &n);
	if (i == NULL) {
		store_service_release(s, svc);
		return RS_ENOMEM;
	}
	i->registered_at_ms = registered_at_ms;
	i->status_since_ms = status_since_ms;
	i->revision = s->revision;
	i->rec = reg->rec;
	if (reg->kept && l == NULL) {
		i->stale = 1;
	}
	rc = store_instance_link(s, i, svc, l);
	if (rc < 0) {
		free(i);
		store_service_release(s, svc);
		return rc;
	}
	if (i->stale && store_kept_add(s, i, now_mono) < 0) {
		store_instance_unlink(s, i);
		free(i);
		store_service_release(s, svc);
		return RS_ENOMEM;
	}
	svc->revision = s->revision;
	return 0;
}

/* Back to what store_new() made, keeping the address, the limits, the hooks,
 * the listener, the counters and the journal's ring. */
static int store_empty(struct store *s, uint64_t now_mono)
{
	store_index_free(s);
	store_lease_table_free(s);
	store_journal_clear(s);
	memset(s->wheel, 0, WHEEL_SLOTS * sizeof(*s->wheel));
	memset(&s->sizes, 0, sizeof(s->sizes));
	s->revision = 0;
	s->now_mono = now_mono;
	s->wheel_tick = store_tick_of(now_mono);
	s->pending_sweep_mono = 0;
	s->preserving = false;
	memset(s->window_counts, 0, sizeof(s->window_counts));
	s->window_bucket = now_mono / store_bucket_ms(s);
	s->last_overdue_mono = 0;
	s->noverdue = 0;
	if (store_index_init(s) < 0 || store_lease_table_init(s) < 0) {
		return RS_ENOMEM;
	}
	return 0;
}

int store_reload(struct store *s, uint64_t now_mono, store_load_cb load, void *ud)
{
	store_write_lock(s);
	s->reloads++;
	int rc = store_empty(s, now_mono);
	if (rc == 0) {
		rc = load(s, now_mono, ud);
	}
	store_write_unlock(s);
	return rc;
}

uint64_t store_reloads(const struct store *s)
{
	return s->reloads;
}
