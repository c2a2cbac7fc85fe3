/*
 * The time-driven half of the store: the expiry wheel, lease expiry,
 * self-preservation and --keep-last aging (see store.h for the model).
 */
#include "server/store_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

uint64_t store_tick_of(uint64_t mono)
{
	return mono / STORE_TICK_MS;
}

void store_wheel_insert(struct store *s, struct store_lease *l)
{
	uint64_t t = store_tick_of(l->expires_mono);
	if (t < s->wheel_tick) {
		t = s->wheel_tick;
	}
	uint32_t slot = (uint32_t)(t & WHEEL_MASK);
	l->wheel_slot = slot;
	l->in_wheel = true;
	l->wheel_prev = NULL;
	l->wheel_next = s->wheel[slot];
	if (l->wheel_next != NULL) {
		l->wheel_next->wheel_prev = l;
	}
	s->wheel[slot] = l;
}

void store_wheel_remove(struct store *s, struct store_lease *l)
{
	if (!l->in_wheel) {
		return;
	}
	l->in_wheel = false;
	if (l->wheel_prev != NULL) {
		l->wheel_prev->wheel_next = l->wheel_next;
	} else {
		s->wheel[l->wheel_slot] = l->wheel_next;
	}
	if (l->wheel_next != NULL) {
		l->wheel_next->wheel_prev = l->wheel_prev;
	}
	l->wheel_prev = l->wheel_next = NULL;
}


uint32_t store_bucket_ms(const struct store *s)
{
	return s->limits.preserve_window_ms / PRESERVE_BUCKETS + 1;
}

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

/* Fresh UP instances of @p svc that do not belong to lease @p l. */
static uint32_t fresh_up_elsewhere(const struct store_service *svc, const struct store_lease *l)
{
	uint32_t n = 0;
	for (uint32_t k = 0; k < svc->ninstances; k++) {
		const struct store_instance *i = svc->instances[k];
		n += i->status == STORE_STATUS_UP && !i->stale && i->lease != l;
	}
	return n;
}

/* --keep-last keeps an expiring instance when its service would have no
 * fresh UP instance left. The answer does not change while the lease's own
 * instances are removed one by one, as they are not counted. */
static bool keep_last(const struct store *s, const struct store_instance *i,
		const struct store_lease *l)
{
	return s->limits.keep_last && i->status == STORE_STATUS_UP &&
	       fresh_up_elsewhere(i->service, l) == 0;
}

/* Take a lease out of service: its instances are removed, or kept stale by
 * --keep-last when they are the last of their service. */
static int lease_expire(struct store *s, struct store_lease *l, uint64_t now_mono)
{
	int rc = store_tx_begin(s);
	if (rc < 0) {
		return rc;
	}
	uint64_t rev = s->revision;
	for (struct store_instance *i = l->instances; i != NULL && rc == 0; i = i->lease_next) {
		if (keep_last(s, i, l)) {
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
	while (l->instances != NULL) {
		struct store_instance *i = l->instances;
		if (keep_last(s, i, l)) {
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
		} else {
			store_instance_remove(s, i, STORE_REMOVED_EXPIRED);
			s->counters.expirations++;
		}
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

int store_tick(struct store *s, uint64_t now_mono, uint32_t *expired_leases)
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

