/*
 * The store's life cycle, its mutations and reads (store.h has the model;
 * store_internal.h the layering of the files below this one).
 */
#include "server/registry/store.h"
#include "server/registry/store_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/name.h"

/* ---- public: life cycle ------------------------------------------------- */

void store_limits_default(struct store_limits *l)
{
	memset(l, 0, sizeof(*l));
	l->max_instances_per_lease = 1000;
	l->max_metadata_bytes = 4096;
	l->max_metadata_entries = 64;
	l->max_addresses = 16;
	l->max_instances = 10000000;
	l->preserve_fraction = 0.15;
	l->preserve_min = 10;
	l->preserve_window_ms = 60000;
	l->preserve_enabled = true;
	l->keep_last = false;
	l->keep_last_max_ms = 3600u * 1000u;
	l->journal_max = 100000;
}

struct store *store_new(const struct store_limits *limits, const struct store_persist_ops *ops,
		void *ops_ctx, uint64_t now_mono)
{
	struct store *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		return NULL;
	}
	s->limits = *limits;
	s->ops = ops;
	s->ops_ctx = ops_ctx;
	s->now_mono = now_mono;
	s->wheel_tick = store_tick_of(now_mono);
	s->window_bucket = now_mono / store_bucket_ms(s);
	s->wheel = calloc(WHEEL_SLOTS, sizeof(*s->wheel));
	if (s->wheel == NULL || store_index_init(s) < 0 || store_lease_table_init(s) < 0 ||
			store_journal_init(s, limits->journal_max) < 0) {
		store_free(s);
		return NULL;
	}
	return s;
}

void store_free(struct store *s)
{
	if (s == NULL) {
		return;
	}
	store_index_free(s);
	store_lease_table_free(s);
	store_journal_free(s);
	free(s->wheel);
	free(s);
}

void store_set_listener(struct store *s, store_change_cb cb, void *ud)
{
	s->listener = cb;
	s->listener_ud = ud;
}

void store_set_lock(struct store *s, struct rs_lockset *lock)
{
	s->lock = lock;
}

void store_set_limits(struct store *s, const struct store_limits *limits)
{
	store_write_lock(s);
	uint32_t journal_max = s->limits.journal_max;
	s->limits = *limits;
	s->limits.journal_max = journal_max; /* the ring is sized at creation */
	/* The window's buckets may have changed size: start counting afresh. */
	memset(s->window_counts, 0, sizeof(s->window_counts));
	s->window_bucket = s->now_mono / store_bucket_ms(s);
	store_write_unlock(s);
}

/* ---- persistence helpers ----------------------------------------------- */

int store_tx_begin(struct store *s)
{
	return s->ops != NULL && s->ops->begin != NULL ? s->ops->begin(s->ops_ctx) : 0;
}

int store_tx_commit(struct store *s)
{
	return s->ops != NULL && s->ops->commit != NULL ? s->ops->commit(s->ops_ctx) : 0;
}

int store_tx_end(struct store *s, int rc)
{
	if (rc == 0) {
		return store_tx_commit(s);
	}
	store_tx_abort(s);
	return rc;
}

int store_write_instance(struct store *s, struct store_instance *i, bool remove)
{
	int rc = store_tx_begin(s);
	if (rc < 0) {
		return rc;
	}
	if (i->fixed) {
		/* The --static file is a static instance's record: only a record
		 * left from before it became static (rec) leaves the disk. */
		rc = i->rec != 0 ? OP(s, instance_del, i) : 0;
	} else {
		rc = remove ? OP(s, instance_del, i) : OP(s, instance_put, i);
	}
	if (rc == 0) {
		rc = OP(s, revision_put, s->revision + 1);
	}
	return store_tx_end(s, rc);
}

void store_tx_abort(struct store *s)
{
	if (s->ops != NULL && s->ops->abort != NULL) {
		s->ops->abort(s->ops_ctx);
	}
}

/* ---- changes shared with store_expiry.c -------------------------------- */

void store_stale_set(struct store *s, struct store_instance *i, bool stale)
{
	if ((bool)i->stale == stale) {
		return;
	}
	store_count_status(s, i, -1);
	i->stale = stale;
	store_count_status(s, i, +1);
	s->revision++;
	i->revision = s->revision;
	i->service->revision = s->revision;
	store_notify(s, STORE_CHANGE_UPSERT, 0, i);
}

void store_instance_detach(
		struct store *s, struct store_instance *i, enum store_remove_reason reason)
{
	store_instance_unlink(s, i);
	s->revision++;
	i->service->revision = s->revision;
	store_notify(s, STORE_CHANGE_REMOVE, reason, i);
}

void store_instance_remove(
		struct store *s, struct store_instance *i, enum store_remove_reason reason)
{
	struct store_service *svc = i->service;
	store_instance_detach(s, i, reason);
	free(i);
	store_service_release(s, svc);
}

/* ---- public: mutations ------------------------------------------------- */

static int lease_open(struct store *s, uint32_t ttl_s, uint64_t id, uint64_t now_mono,
		const struct store_lease **out)
{
	if (ttl_s == 0) {
		ttl_s = STORE_TTL_DEFAULT_S;
	}
	if (ttl_s < STORE_TTL_MIN_S || ttl_s > STORE_TTL_MAX_S) {
		return RS_ETTL;
	}
	if (id == 0 || store_lease_lookup(s, id) != NULL) {
		return RS_EEXIST;
	}
	/* Write first: a lease the disk does not know would not survive a
	 * restart, and its instances could not be persisted. */
	struct store_lease tmp = {.id = id, .ttl_ms = ttl_s * 1000u};
	int rc = store_tx_begin(s);
	if (rc == 0) {
		rc = store_tx_end(s, OP(s, lease_put, &tmp));
	}
	if (rc < 0) {
		return rc;
	}
	struct store_lease *l;
	rc = store_lease_add(s, id, ttl_s * 1000u, now_mono, &l);
	if (rc < 0) {
		return rc; /* the record on disk is harmless: loading drops empty leases */
	}
	*out = l;
	return 0;
}

static void lease_renew(struct store *s, struct store_lease *l, uint64_t now_mono)
{
	l->expires_mono = now_mono + l->ttl_ms;
	s->counters.heartbeats++;
	if (l->overdue) {
		/* Back from the dead: self-preservation held it. Re-file it in
		 * the wheel (it was taken out while overdue). */
		l->overdue = false;
		s->noverdue--;
		store_wheel_insert(s, l);
		for (struct store_instance *i = l->instances; i != NULL; i = i->lease_next) {
			store_stale_set(s, i, false);
		}
	}
	/* Not re-filed in the wheel otherwise: when its old slot comes round,
	 * the tick sees the later deadline and moves it then (one move per TTL
	 * instead of one per heartbeat). */
}

static int lease_close(struct store *s, uint64_t id, uint32_t *removed)
{
	struct store_lease *l = store_lease_lookup(s, id);
	if (l == NULL) {
		return RS_ELEASE;
	}
	int rc = store_tx_begin(s);
	if (rc < 0) {
		return rc;
	}
	for (struct store_instance *i = l->instances; i != NULL && rc == 0; i = i->lease_next) {
		rc = OP(s, instance_del, i);
	}
	if (rc == 0) {
		rc = OP(s, lease_del, id);
	}
	if (rc == 0) {
		rc = OP(s, revision_put, s->revision + l->ninstances);
	}
	rc = store_tx_end(s, rc);
	if (rc < 0) {
		return rc;
	}
	*removed = l->ninstances;
	while (l->instances != NULL) {
		store_instance_remove(s, l->instances, STORE_REMOVED_LEASE_CLOSED);
	}
	s->counters.deregistrations += *removed;
	store_lease_drop(s, l);
	return 0;
}

static bool same_content(const struct store_instance *a, const struct store_instance *b)
{
	if (a->priority != b->priority || a->weight != b->weight || a->status != b->status ||
			a->naddrs != b->naddrs || a->nmeta != b->nmeta) {
		return false;
	}
	if (a->naddrs > 0 && memcmp(a->addrs, b->addrs, a->naddrs * sizeof(*a->addrs)) != 0) {
		return false;
	}
	for (uint8_t k = 0; k < a->nmeta; k++) {
		if (strcmp(a->meta[k].key, b->meta[k].key) != 0 ||
				strcmp(a->meta[k].value, b->meta[k].value) != 0) {
			return false;
		}
	}
	return true;
}

int store_registration_resolve(struct store *s, const struct store_registration *reg,
		struct names *n, struct store_limit_hit *hit, struct store_lease **lease)
{
	int rc = store_registration_check(s, reg, n, hit);
	if (rc < 0) {
		return rc;
	}
	*lease = NULL;
	if (reg->lease != 0) {
		*lease = store_lease_lookup(s, reg->lease);
		if (*lease == NULL) {
			return RS_ELEASE;
		}
	}
	return 0;
}

/* The instance named by @p n and its service (*svc NULL when the service
 * does not exist); NULL when there is no such instance. */
static struct store_instance *instance_of(
		const struct store *s, const struct names *n, struct store_service **svc)
{
	*svc = store_service_lookup(s, n->service, n->service_len, n->protocol, n->protocol_len);
	return *svc != NULL ? store_instance_lookup(s, *svc, n->host, n->host_len, n->port) : NULL;
}

int store_register(struct store *s, const struct store_registration *reg, uint64_t now_mono,
		uint64_t now_wall, bool *created, uint64_t *revision)
{
	return store_register_ex(s, reg, now_mono, now_wall, created, revision, NULL);
}

static int register_ex(struct store *s, const struct store_registration *reg, uint64_t now_mono,
		uint64_t now_wall, bool *created, uint64_t *revision, struct store_limit_hit *hit)
{
	(void)now_mono;
	struct names n;
	struct store_lease *l;
	int rc = store_registration_resolve(s, reg, &n, hit, &l);
	if (rc < 0) {
		return rc;
	}
	if (rs_name_single_label(n.host)) {
		/* "web1." would be published as an SRV target no resolver finds.
		 * New registrations only: a record loaded from disk is kept. */
		return RS_ENAME_SINGLE;
	}
	struct store_service *svc;
	struct store_instance *old = instance_of(s, &n, &svc);
	if ((old != NULL && old->fixed && !reg->fixed) || (reg->fixed && l != NULL)) {
		return RS_EFIXED;
	}
	if (l != NULL && (old == NULL || old->lease != l) &&
			l->ninstances >= s->limits.max_instances_per_lease) {
		return store_limit_exceeded(hit, STORE_LIMIT_INSTANCES_PER_LEASE,
				(uint64_t)l->ninstances + 1, s->limits.max_instances_per_lease);
	}
	if (old == NULL && s->sizes.instances >= s->limits.max_instances) {
		return store_limit_exceeded(hit, STORE_LIMIT_INSTANCES, s->sizes.instances + 1,
				s->limits.max_instances);
	}
	struct store_instance *i = store_instance_build(reg, &n);
	if (i == NULL) {
		return RS_ENOMEM;
	}
	if (old != NULL) {
		i->rec = old->rec; /* the same record is overwritten */
		i->registered_at_ms = old->registered_at_ms;
		i->status_since_ms = old->status == i->status ? old->status_since_ms : now_wall;
		if (old->lease == l && !old->stale && old->fixed == reg->fixed &&
				same_content(old, i)) {
			/* An identical re-registration (a client retrying, or
			 * re-registering after a reconnect): nothing changes. */
			*created = false;
			*revision = old->revision;
			s->counters.registrations++;
			free(i);
			return 0;
		}
	} else {
		i->registered_at_ms = now_wall;
		i->status_since_ms = now_wall;
	}
	if (svc == NULL) {
		svc = store_service_get(s, &n);
		if (svc == NULL) {
			free(i);
			return RS_ENOMEM;
		}
	}
	i->service = svc; /* persist keys the record by service and protocol */
	i->lease = l;     /* and records the lease id */
	i->fixed = reg->fixed;
	rc = store_write_instance(s, i, false);
	i->lease = NULL;
	if (i->fixed) {
		i->rec = 0; /* its old record, if any, is gone */
	}
	if (rc < 0) {
		free(i);
		store_service_release(s, svc); /* only if it was created for this call */
		return rc;
	}
	if (old != NULL) {
		store_instance_unlink(s, old);
		free(old);
	}
	rc = store_instance_link(s, i, svc, l);
	if (rc < 0) {
		/* Only the service's array can fail to grow, and only for a new
		 * slot; the disk already has the record, which a restart loads. */
		free(i);
		store_service_release(s, svc);
		return rc;
	}
	/* Registered again: an expired copy held for --keep-last is obsolete. */
	store_pending_forget(s, svc, i->host, i->host_len, i->port);
	s->revision++;
	i->revision = s->revision;
	svc->revision = s->revision;
	s->counters.registrations++;
	store_notify(s, STORE_CHANGE_UPSERT, 0, i);
	*created = old == NULL;
	*revision = s->revision;
	return 0;
}

static int key_find(struct store *s, const struct store_key *key, struct store_instance **out)
{
	struct names n;
	int rc = store_names_from_key(key, &n);
	if (rc < 0) {
		return rc;
	}
	struct store_service *svc;
	struct store_instance *i = instance_of(s, &n, &svc);
	if (i == NULL) {
		return RS_ENOENT;
	}
	*out = i;
	return 0;
}

/* An identity with no live instance may still have an expired copy held
 * for --keep-last: a deregistration says it is gone for good. */
static void pending_key_forget(struct store *s, const struct store_key *key)
{
	struct names n;
	if (store_names_from_key(key, &n) < 0) {
		return;
	}
	struct store_service *svc = store_service_lookup(
			s, n.service, n.service_len, n.protocol, n.protocol_len);
	if (svc != NULL) {
		store_pending_forget(s, svc, n.host, n.host_len, n.port);
	}
}

/* store_deregister() (fixed false: refuses a static instance) and
 * store_fixed_remove() (fixed true: only a static one). */
static int deregister(struct store *s, const struct store_key *key, bool fixed, uint64_t *revision)
{
	struct store_instance *i;
	int rc = key_find(s, key, &i);
	if (rc == RS_ENOENT) {
		pending_key_forget(s, key);
	}
	if (rc < 0) {
		return rc;
	}
	if ((bool)i->fixed != fixed) {
		return fixed ? RS_ENOENT : RS_EFIXED;
	}
	rc = store_write_instance(s, i, true);
	if (rc < 0) {
		return rc;
	}
	store_instance_remove(s, i, STORE_REMOVED_DEREGISTERED);
	s->counters.deregistrations++;
	*revision = s->revision;
	return 0;
}

static int status_set(struct store *s, const struct store_key *key, enum store_status status,
		uint64_t now_wall, uint64_t *revision)
{
	if (status != STORE_STATUS_STARTING && status != STORE_STATUS_UP &&
			status != STORE_STATUS_DOWN) {
		return RS_ESTATUS;
	}
	struct store_instance *i;
	int rc = key_find(s, key, &i);
	if (rc < 0) {
		return rc;
	}
	if (i->fixed) {
		return RS_EFIXED;
	}
	if (i->status == status) {
		*revision = i->revision;
		return 0;
	}
	uint8_t old_status = i->status;
	uint64_t old_since = i->status_since_ms;
	/* Persist the changed record; restore the old fields if that fails. */
	store_count_status(s, i, -1);
	i->status = (uint8_t)status;
	i->status_since_ms = now_wall;
	rc = store_write_instance(s, i, false);
	if (rc < 0) {
		i->status = old_status;
		i->status_since_ms = old_since;
		store_count_status(s, i, +1);
		return rc;
	}
	store_count_status(s, i, +1);
	s->revision++;
	i->revision = s->revision;
	i->service->revision = s->revision;
	store_notify(s, STORE_CHANGE_UPSERT, 0, i);
	*revision = s->revision;
	return 0;
}

/* ---- public: mutations, each under the write lock (store_set_lock()) ---- */

int store_lease_open(struct store *s, uint32_t ttl_s, uint64_t id, uint64_t now_mono,
		const struct store_lease **out)
{
	store_write_lock(s);
	int rc = lease_open(s, ttl_s, id, now_mono, out);
	store_write_unlock(s);
	return rc;
}

int store_lease_renew(
		struct store *s, uint64_t id, uint64_t now_mono, const struct store_lease **out)
{
	struct store_lease *l = store_lease_lookup(s, id);
	if (l == NULL) {
		return RS_ELEASE;
	}
	if (l->overdue) {
		store_write_lock(s);
		lease_renew(s, l, now_mono);
		store_write_unlock(s);
	} else {
		lease_renew(s, l, now_mono); /* the deadline and a counter: no reader sees them */
	}
	if (out != NULL) {
		*out = l;
	}
	return 0;
}

int store_lease_close(struct store *s, uint64_t id, uint32_t *removed)
{
	store_write_lock(s);
	int rc = lease_close(s, id, removed);
	store_write_unlock(s);
	return rc;
}

int store_register_ex(struct store *s, const struct store_registration *reg, uint64_t now_mono,
		uint64_t now_wall, bool *created, uint64_t *revision, struct store_limit_hit *hit)
{
	store_write_lock(s);
	int rc = register_ex(s, reg, now_mono, now_wall, created, revision, hit);
	store_write_unlock(s);
	return rc;
}

int store_deregister(struct store *s, const struct store_key *key, uint64_t *revision)
{
	store_write_lock(s);
	int rc = deregister(s, key, false, revision);
	store_write_unlock(s);
	return rc;
}

int store_fixed_remove(struct store *s, const struct store_key *key, uint64_t *revision)
{
	store_write_lock(s);
	int rc = deregister(s, key, true, revision);
	store_write_unlock(s);
	return rc;
}

int store_status_set(struct store *s, const struct store_key *key, enum store_status status,
		uint64_t now_wall, uint64_t *revision)
{
	store_write_lock(s);
	int rc = status_set(s, key, status, now_wall, revision);
	store_write_unlock(s);
	return rc;
}

/* ---- reads -------------------------------------------------------------- */

const struct store_service *store_service_find(const struct store *s, const char *service,
		size_t service_len, const char *protocol, size_t protocol_len)
{
	return store_service_lookup(s, service, service_len, protocol, protocol_len);
}

const struct store_service *store_service_find_name(
		const struct store *s, const char *service, size_t service_len)
{
	return store_service_first(s, service, service_len);
}

const struct store_instance *store_instance_find(const struct store *s, const struct store_key *key)
{
	struct store_instance *i = NULL;
	if (key_find((struct store *)s, key, &i) < 0) {
		return NULL;
	}
	return i;
}

int store_owner_check(
		const struct store *s, const struct store_key *key, uint64_t lease, uint64_t *owner)
{
	struct store_instance *i = NULL;
	int rc = key_find((struct store *)s, key, &i);
	if (rc == RS_ENOENT) {
		return 0;
	}
	if (rc < 0) {
		return rc;
	}
	if (i->lease == NULL || i->lease->id == lease || i->lease->overdue) {
		return 0;
	}
	if (owner != NULL) {
		*owner = i->lease->id;
	}
	return RS_EPERM;
}

const struct store_lease *store_lease_find(const struct store *s, uint64_t id)
{
	return store_lease_lookup(s, id);
}

void store_lease_set_owner(struct store *s, uint64_t id, uint64_t tag)
{
	struct store_lease *l = store_lease_lookup(s, id);
	if (l != NULL) {
		l->owner_tag = tag;
	}
}

static int cmp_service(const void *a, const void *b)
{
	const struct store_service *x = *(const struct store_service *const *)a;
	const struct store_service *y = *(const struct store_service *const *)b;
	int c = strcmp(x->name, y->name);
	return c != 0 ? c : strcmp(x->protocol, y->protocol);
}

int store_service_foreach(const struct store *s,
		int (*cb)(const struct store_service *svc, void *ud), void *ud)
{
	size_t n = s->services.count;
	if (n == 0) {
		return 0;
	}
	const struct store_service **all = malloc(n * sizeof(*all));
	if (all == NULL) {
		return RS_ENOMEM; /* never a silent empty walk: callers refuse */
	}
	size_t k = 0;
	for (size_t b = 0; b < s->services.nbuckets; b++) {
		for (struct store_service *v = s->services.buckets[b]; v != NULL;
				v = v->hash_next) {
			all[k++] = v;
		}
	}
	qsort(all, n, sizeof(*all), cmp_service);
	for (k = 0; k < n; k++) {
		if (cb(all[k], ud) != 0) {
			break;
		}
	}
	free(all);
	return 0;
}

uint64_t store_revision(const struct store *s)
{
	return s->revision;
}

bool store_preserving(const struct store *s)
{
	return s->preserving;
}

void store_sizes_get(const struct store *s, struct store_sizes *out)
{
	*out = s->sizes;
}

const struct store_counters *store_counters_get(const struct store *s)
{
	return &s->counters;
}
