/*
 * The time-driven half of the store: store_tick() turns the expiry wheel,
 * expires leases, holds them in self-preservation, and revives and ages
 * --keep-last's instances (store.h has the model). It sits on top of the
 * other store files and none of them calls it (store_internal.h).
 */
#include "server/registry/store_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* How often, at most, the pending set is searched for holds that ended. A
 * pending instance is not served, so freeing it up to this late changes
 * nothing but memory; pending_revive() checks the hold itself. */
#define PENDING_SWEEP_MS 1000u

static void window_advance(struct store *s, uint64_t now_mono)
{
	uint64_t b = now_mono / store_bucket_ms(s);
	while (s->window_bucket < b) {
		s->window_bucket++;
		s->window_counts[s->window_bucket % PRESERVE_BUCKETS] = 0;
		if (b - s->window_bucket > PRESERVE_BUCKETS) {
			memset(s->window_counts, 0, sizeof(s->window_counts));
			s->window_bucket = b;
		}
	}
}

static uint64_t window_sum(const struct store *s)
{
	uint64_t sum = 0;
	for (int k = 0; k < PRESERVE_BUCKETS; k++) {
		sum += s->window_counts[k];
	}
	return sum;
}

/* Would expiring one more lease now look like a partition? */
static bool expiry_suspicious(const struct store *s)
{
	if (!s->limits.preserve_enabled) {
		return false;
	}
	uint64_t expired = window_sum(s) + 1;
	/* Live leases within the window: those still here (not held overdue)
	 * plus those that expired in it. */
	uint64_t live = (s->sizes.leases - s->noverdue) + expired - 1;
	return expired >= s->limits.preserve_min &&
	       (double)expired > s->limits.preserve_fraction * (double)live;
}

/* Fresh UP instances of @p svc that do not belong to lease @p l. Raises
 * *max_ttl_ms (if not NULL) to the longest TTL of their leases. */
static uint32_t fresh_up_elsewhere(
		const struct store_service *svc, const struct store_lease *l, uint32_t *max_ttl_ms)
{
	uint32_t n = 0;
	for (uint32_t k = 0; k < svc->ninstances; k++) {
		const struct store_instance *i = svc->instances[k];
		if (i->status != STORE_STATUS_UP || i->stale || i->lease == l) {
			continue;
		}
		n++;
		if (max_ttl_ms != NULL && i->lease != NULL && i->lease->ttl_ms > *max_ttl_ms) {
			*max_ttl_ms = i->lease->ttl_ms;
		}
	}
	return n;
}

/* ---- --keep-last: pending instances ------------------------------------ */

/* Free the pending instances whose hold ended. Their removal was already
 * announced and counted when they expired. */
static void pending_sweep(struct store *s, uint64_t now_mono)
{
	if (s->npending == 0 || now_mono < s->pending_sweep_mono) {
		return;
	}
	uint64_t next = UINT64_MAX;
	for (size_t k = 0; k < s->npending;) {
		struct store_instance *i = s->pending[k];
		if (now_mono >= i->pending_until_mono) {
			store_pending_free(s, i); /* moves the last one to k */
			continue;
		}
		if (i->pending_until_mono < next) {
			next = i->pending_until_mono;
		}
		k++;
	}
	s->pending_sweep_mono =
			next > now_mono + PENDING_SWEEP_MS ? next : now_mono + PENDING_SWEEP_MS;
}

/* @p svc has just lost its last fresh UP instance to an expiry (or to a
 * self-preservation hold): its pending instances whose hold has not ended
 * stopped renewing together with it, and are kept with it. */
static void pending_revive(struct store *s, struct store_service *svc, uint64_t now_mono)
{
	struct store_instance *i = svc->pending;
	while (i != NULL) {
		struct store_instance *next = i->lease_next;
		bool live = store_instance_lookup(s, svc, i->host, i->host_len, i->port) != NULL;
		if (now_mono >= i->pending_until_mono || live ||
				s->sizes.instances >= s->limits.max_instances) {
			store_pending_free(s, i);
			i = next;
			continue;
		}
		if (store_service_reserve(svc) < 0 || store_kept_reserve(s) < 0) {
			return; /* out of memory: they stay pending */
		}
		i->kept = 1; /* written as kept, without a lease: a restart keeps it */
		int rc = store_write_instance(s, i, false);
		i->kept = 0;
		if (rc < 0) {
			return; /* a store error: they stay pending */
		}
		store_pending_unlink(s, i);
		i->stale = 1;
		(void)store_instance_link(s, i, svc, NULL); /* room reserved above */
		(void)store_kept_add(s, i, now_mono);
		s->revision++;
		i->revision = s->revision;
		svc->revision = s->revision;
		store_notify(s, STORE_CHANGE_UPSERT, 0, i);
		i = next;
	}
}

/* Remove an expired instance. With --keep-last an UP one is held pending for
 * @p hold_ms, in case the rest of its service follows it. */
static void instance_expire(
		struct store *s, struct store_instance *i, uint32_t hold_ms, uint64_t now_mono)
{
	struct store_service *svc = i->service;
	bool hold = s->limits.keep_last && i->status == STORE_STATUS_UP;
	store_instance_detach(s, i, STORE_REMOVED_EXPIRED);
	s->counters.expirations++;
	if (!hold || !store_pending_add(s, i, hold_ms, now_mono)) {
		free(i);
	}
	store_service_release(s, svc); /* frees it, and i, if it is empty now */
}

/* --keep-last keeps an expiring instance when its service would have no
 * fresh UP instance left. The answer does not change while the lease's own
 * instances are removed one by one, as they are not counted.
 * When it is not kept, *hold_ms (if not NULL; the caller sets it to the
 * lease's TTL) is raised to the longest TTL of the leases of the fresh ones:
 * held pending that long, it is still there when any of them that stopped
 * renewing with it expires too, whatever their TTLs. */
static bool keep_last(const struct store *s, const struct store_instance *i,
		const struct store_lease *l, uint32_t *hold_ms)
{
	return s->limits.keep_last && i->status == STORE_STATUS_UP &&
	       fresh_up_elsewhere(i->service, l, hold_ms) == 0;
}

/* Take a lease out of service: its instances are removed (with --keep-last,
 * held pending), or kept stale by --keep-last when they are the last fresh
 * ones of their service, together with that service's pending instances. */
static int lease_expire(struct store *s, struct store_lease *l, uint64_t now_mono)
{
	int rc = store_tx_begin(s);
	if (rc < 0) {
		return rc;
	}
	uint64_t rev = s->revision;
	for (struct store_instance *i = l->instances; i != NULL && rc == 0; i = i->lease_next) {
		if (keep_last(s, i, l, NULL)) {
			/* Re-written without its lease: a restart keeps it. */
			struct store_lease *saved = i->lease;
			i->lease = NULL;
			i->kept = 1;
			rc = OP(s, instance_put, i);
			i->kept = 0;
			i->lease = saved;
		} else {
			rc = OP(s, instance_del, i);
		}
		rev++;
	}
	if (rc == 0) {
		rc = OP(s, lease_del, l->id);
	}
	if (rc == 0) {
		rc = OP(s, revision_put, rev);
	}
	rc = store_tx_end(s, rc);
	if (rc < 0) {
		return rc;
	}
	/* Services whose pending instances come back: revived after the loop,
	 * once the in-memory revision has caught up with the @c rev written
	 * above, so that their own revisions (and writes) come after it. A
	 * list through the services themselves: nothing to allocate. */
	struct store_service *revive = NULL;
	while (l->instances != NULL) {
		struct store_instance *i = l->instances;
		uint32_t hold_ms = l->ttl_ms;
		if (keep_last(s, i, l, &hold_ms)) {
			store_lease_unlink(i);
			if (store_kept_add(s, i, now_mono) < 0) {
				store_instance_remove(s, i, STORE_REMOVED_EXPIRED);
				s->counters.expirations++;
				continue;
			}
			if (i->stale) {
				/* Already stale (held overdue): bump for the lease change. */
				s->revision++;
				i->revision = s->revision;
				i->service->revision = s->revision;
				store_notify(s, STORE_CHANGE_UPSERT, 0, i);
			} else {
				store_stale_set(s, i, true);
			}
			/* The last fresh one went: those that went shortly before stay too. */
			struct store_service *svc = i->service;
			if (svc->npending > 0 && !svc->revive_queued) {
				svc->revive_queued = 1;
				svc->revive_next = revive;
				revive = svc;
			}
		} else {
			instance_expire(s, i, hold_ms, now_mono);
		}
	}
	while (revive != NULL) {
		struct store_service *svc = revive;
		revive = svc->revive_next;
		svc->revive_queued = 0;
		svc->revive_next = NULL;
		pending_revive(s, svc, now_mono);
	}
	s->counters.leases_expired++;
	store_lease_drop(s, l);
	return 0;
}

/* Hold a lease past its deadline (self-preservation). */
static void lease_hold(struct store *s, struct store_lease *l, uint64_t now_mono)
{
	l->overdue = true;
	s->noverdue++;
	s->last_overdue_mono = now_mono;
	for (struct store_instance *i = l->instances; i != NULL; i = i->lease_next) {
		store_stale_set(s, i, true);
		if (i->service->npending > 0 && keep_last(s, i, l, NULL)) {
			/* Its service's last fresh instance went stale: keep those of
			 * its instances that expired shortly before, too. */
			pending_revive(s, i->service, now_mono);
		}
	}
}

/* Leaving self-preservation: expire the leases still held. They are the
 * accepted loss, so they do not count towards the next window: the new
 * baseline is the set of leases that kept renewing. */
static int preserve_leave(struct store *s, uint64_t now_mono, uint32_t *expired)
{
	for (size_t b = 0; b < s->leases.nbuckets; b++) {
		struct store_lease *l = s->leases.buckets[b];
		while (l != NULL) {
			struct store_lease *next = l->hash_next;
			if (l->overdue) {
				int rc = lease_expire(s, l, now_mono);
				if (rc < 0) {
					return rc;
				}
				(*expired)++;
			}
			l = next;
		}
	}
	memset(s->window_counts, 0, sizeof(s->window_counts));
	s->preserving = false;
	return 0;
}

static int tick(struct store *s, uint64_t now_mono, uint32_t *expired_leases)
{
	*expired_leases = 0;
	s->now_mono = now_mono;
	window_advance(s, now_mono);
	uint64_t target = store_tick_of(now_mono);
	int rc = 0;
	/* Process every tick strictly before the current one: a lease filed
	 * in tick t has its deadline before (t + 1) * TICK <= now. */
	while (s->wheel_tick < target && rc == 0) {
		uint32_t slot = (uint32_t)(s->wheel_tick & WHEEL_MASK);
		struct store_lease *l = s->wheel[slot];
		s->wheel[slot] = NULL;
		/* Advance first, so that leases filed again from this slot land
		 * in a later one. */
		s->wheel_tick++;
		while (l != NULL) {
			struct store_lease *next = l->wheel_next;
			l->wheel_prev = l->wheel_next = NULL;
			l->in_wheel = false;
			if (rc != 0 || l->expires_mono > now_mono) {
				/* Renewed since it was filed, or we stopped on a
				 * store error and retry on the next tick. */
				store_wheel_insert(s, l);
			} else if (s->preserving || expiry_suspicious(s)) {
				if (!s->preserving) {
					s->preserving = true;
					s->counters.preserve_entered++;
				}
				lease_hold(s, l, now_mono);
			} else {
				rc = lease_expire(s, l, now_mono);
				if (rc == 0) {
					s->window_counts[s->window_bucket % PRESERVE_BUCKETS]++;
					(*expired_leases)++;
				} else {
					store_wheel_insert(s, l);
				}
			}
			l = next;
		}
	}
	if (rc < 0) {
		return rc;
	}
	if (s->preserving) {
		if (s->noverdue == 0) {
			/* Everything held came back: the partition healed. */
			s->preserving = false;
			memset(s->window_counts, 0, sizeof(s->window_counts));
		} else if (s->sizes.leases > s->noverdue &&
				now_mono - s->last_overdue_mono >= s->limits.preserve_window_ms) {
			/* Renewals have recovered: for a whole window no further
			 * lease went overdue while others kept renewing. */
			rc = preserve_leave(s, now_mono, expired_leases);
			if (rc < 0) {
				return rc;
			}
		}
	}
	pending_sweep(s, now_mono);
	/* --keep-last: age out instances kept stale too long. */
	for (size_t k = 0; k < s->nkept;) {
		struct store_instance *i = s->kept[k];
		if (now_mono - i->stale_since_mono < s->limits.keep_last_max_ms) {
			k++;
			continue;
		}
		rc = store_write_instance(s, i, true);
		if (rc < 0) {
			return rc;
		}
		store_instance_remove(s, i, STORE_REMOVED_STALE_AGED); /* removes it from kept */
		s->counters.expirations++;
	}
	return 0;
}

int store_tick(struct store *s, uint64_t now_mono, uint32_t *expired_leases)
{
	store_write_lock(s);
	int rc = tick(s, now_mono, expired_leases);
	store_write_unlock(s);
	return rc;
}
