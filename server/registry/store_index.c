/*
 * The store's index: hash tables of services (by name and protocol, and by
 * name alone) and of instances (by identity), each instance's links to its
 * service and lease, the counts, and the sets of kept (--keep-last) and
 * pending (expired, held) instances. See store_internal.h for the layering.
 */
#include "server/registry/store_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"

static uint32_t hash_lower(uint32_t h, const char *s, size_t n)
{
	/* FNV-1a over lower-cased bytes: names compare case-insensitively. */
	for (size_t i = 0; i < n; i++) {
		h ^= rs_ascii_lower((uint8_t)s[i]);
		h *= 16777619u;
	}
	return h;
}

static uint32_t hash_service(const char *name, size_t nlen, const char *proto, size_t plen)
{
	uint32_t h = hash_lower(2166136261u, name, nlen);
	h = hash_lower(h ^ 0xff, proto, plen);
	return h;
}

static uint32_t hash_instance(
		const struct store_service *svc, const char *host, size_t hlen, uint16_t port)
{
	uint32_t h = hash_lower(2166136261u, host, hlen);
	uintptr_t p = (uintptr_t)svc;
	h ^= (uint32_t)(p >> 4) * 2654435761u;
	h ^= port * 40503u;
	return h * 2654435761u;
}

int store_table_init(struct table *t, size_t n)
{
	t->buckets = calloc(n, sizeof(void *));
	t->nbuckets = n;
	t->count = 0;
	return t->buckets == NULL ? RS_ENOMEM : 0;
}

/* Grow when the load factor passes 1. The chain link of every kind of
 * object is reached through @p next_of, and its hash through @p hash_of. */
void store_table_grow(struct table *t, void **(*next_of)(void *), uint32_t (*hash_of)(void *))
{
	if (t->count < t->nbuckets) {
		return;
	}
	size_t n = t->nbuckets * 2;
	void **nb = calloc(n, sizeof(void *));
	if (nb == NULL) {
		return; /* keep working with longer chains */
	}
	for (size_t i = 0; i < t->nbuckets; i++) {
		void *e = t->buckets[i];
		while (e != NULL) {
			void *next = *next_of(e);
			size_t b = hash_of(e) & (n - 1);
			*next_of(e) = nb[b];
			nb[b] = e;
			e = next;
		}
	}
	free(t->buckets);
	t->buckets = nb;
	t->nbuckets = n;
}

static void **svc_next(void *e)
{
	return (void **)&((struct store_service *)e)->hash_next;
}

static uint32_t svc_hash(void *e)
{
	struct store_service *s = e;
	return hash_service(s->name, strlen(s->name), s->protocol, strlen(s->protocol));
}

static uint32_t svc_name_hash(void *e)
{
	struct store_service *s = e;
	return hash_lower(2166136261u, s->name, strlen(s->name));
}

static void **inst_next(void *e)
{
	return (void **)&((struct store_instance *)e)->hash_next;
}

static uint32_t inst_hash(void *e)
{
	struct store_instance *i = e;
	return hash_instance(i->service, i->host, i->host_len, i->port);
}

void store_table_free(struct table *t, void **(*next_of)(void *), void (*free_one)(void *))
{
	for (size_t b = 0; t->buckets != NULL && b < t->nbuckets; b++) {
		void *e = t->buckets[b];
		while (e != NULL) {
			void *next = *next_of(e);
			free_one(e);
			e = next;
		}
	}
}

void store_table_reserve(struct table *t, uint64_t n)
{
	size_t want = t->nbuckets;
	while (want < n) {
		want *= 2;
	}
	if (want == t->nbuckets || t->count != 0) {
		return;
	}
	void **nb = calloc(want, sizeof(void *));
	if (nb == NULL) {
		return;
	}
	free(t->buckets);
	t->buckets = nb;
	t->nbuckets = want;
}

/* ---- services ----------------------------------------------------------- */

struct store_service *store_service_lookup(const struct store *s, const char *name, size_t nlen,
		const char *proto, size_t plen)
{
	uint32_t h = hash_service(name, nlen, proto, plen);
	struct store_service *svc = s->services.buckets[h & (s->services.nbuckets - 1)];
	for (; svc != NULL; svc = svc->hash_next) {
		if (strlen(svc->name) == nlen && strlen(svc->protocol) == plen &&
				strncasecmp(svc->name, name, nlen) == 0 &&
				strncasecmp(svc->protocol, proto, plen) == 0) {
			return svc;
		}
	}
	return NULL;
}

/* The name table holds the first service of each name; the others hang off
 * it through name_next. Its chain link is a separate pointer stored in a
 * small node, so a service can sit in both tables. */
struct name_node {
	struct name_node *next;
	struct store_service *first;
};

static void **name_node_next(void *e)
{
	return (void **)&((struct name_node *)e)->next;
}

static uint32_t name_node_hash(void *e)
{
	return svc_name_hash(((struct name_node *)e)->first);
}

static struct name_node *name_lookup(const struct store *s, const char *name, size_t nlen)
{
	uint32_t h = hash_lower(2166136261u, name, nlen);
	struct name_node *n = s->service_names.buckets[h & (s->service_names.nbuckets - 1)];
	for (; n != NULL; n = n->next) {
		if (strlen(n->first->name) == nlen &&
				strncasecmp(n->first->name, name, nlen) == 0) {
			return n;
		}
	}
	return NULL;
}

struct store_service *store_service_get(struct store *s, const struct names *n)
{
	struct store_service *svc = store_service_lookup(
			s, n->service, n->service_len, n->protocol, n->protocol_len);
	if (svc != NULL) {
		return svc;
	}
	svc = calloc(1, sizeof(*svc));
	if (svc == NULL) {
		return NULL;
	}
	memcpy(svc->name, n->service, n->service_len + 1);
	memcpy(svc->protocol, n->protocol, n->protocol_len + 1);
	struct name_node *nn = name_lookup(s, n->service, n->service_len);
	if (nn == NULL) {
		nn = malloc(sizeof(*nn));
		if (nn == NULL) {
			free(svc);
			return NULL;
		}
		nn->first = svc;
		store_table_grow(&s->service_names, name_node_next, name_node_hash);
		size_t b = name_node_hash(nn) & (s->service_names.nbuckets - 1);
		nn->next = s->service_names.buckets[b];
		s->service_names.buckets[b] = nn;
		s->service_names.count++;
	} else {
		svc->name_next = nn->first->name_next;
		nn->first->name_next = svc;
	}
	store_table_grow(&s->services, svc_next, svc_hash);
	size_t b = svc_hash(svc) & (s->services.nbuckets - 1);
	svc->hash_next = s->services.buckets[b];
	s->services.buckets[b] = svc;
	s->services.count++;
	s->sizes.services++;
	return svc;
}

void store_service_release(struct store *s, struct store_service *svc)
{
	if (svc->ninstances > 0) {
		return;
	}
	/* Only the expiry of a fresh instance of this service could bring its
	 * pending instances back, and it has none left. */
	store_pending_drop_all(s, svc);
	size_t b = svc_hash(svc) & (s->services.nbuckets - 1);
	struct store_service **pp = (struct store_service **)&s->services.buckets[b];
	while (*pp != svc) {
		pp = &(*pp)->hash_next;
	}
	*pp = svc->hash_next;
	s->services.count--;

	struct name_node *nn = name_lookup(s, svc->name, strlen(svc->name));
	if (nn->first == svc) {
		if (svc->name_next != NULL) {
			nn->first = svc->name_next;
		} else {
			size_t nb = name_node_hash(nn) & (s->service_names.nbuckets - 1);
			struct name_node **np = (struct name_node **)&s->service_names.buckets[nb];
			while (*np != nn) {
				np = &(*np)->next;
			}
			*np = nn->next;
			s->service_names.count--;
			free(nn);
		}
	} else {
		struct store_service *p = nn->first;
		while (p->name_next != svc) {
			p = p->name_next;
		}
		p->name_next = svc->name_next;
	}
	free(svc->instances);
	free(svc);
	s->sizes.services--;
}

struct store_service *store_service_first(const struct store *s, const char *name, size_t nlen)
{
	struct name_node *n = name_lookup(s, name, nlen);
	return n != NULL ? n->first : NULL;
}

/* ---- instances ---------------------------------------------------------- */

struct store_instance *store_instance_lookup(const struct store *s, const struct store_service *svc,
		const char *host, size_t hlen, uint16_t port)
{
	uint32_t h = hash_instance(svc, host, hlen, port);
	struct store_instance *i = s->instances.buckets[h & (s->instances.nbuckets - 1)];
	for (; i != NULL; i = i->hash_next) {
		if (i->service == svc && i->port == port && i->host_len == hlen &&
				memcmp(i->host, host, hlen) == 0) {
			return i;
		}
	}
	return NULL;
}

void store_count_status(struct store *s, const struct store_instance *i, int delta)
{
	struct store_service *svc = i->service;
	switch (i->status) {
	case STORE_STATUS_UP:
		svc->nup = (uint32_t)((int64_t)svc->nup + delta);
		s->sizes.up = (uint64_t)((int64_t)s->sizes.up + delta);
		break;
	case STORE_STATUS_DOWN:
		s->sizes.down = (uint64_t)((int64_t)s->sizes.down + delta);
		break;
	default:
		s->sizes.starting = (uint64_t)((int64_t)s->sizes.starting + delta);
		break;
	}
	if (i->stale) {
		svc->nstale = (uint32_t)((int64_t)svc->nstale + delta);
		s->sizes.stale = (uint64_t)((int64_t)s->sizes.stale + delta);
	}
}

static void lease_link(struct store_lease *l, struct store_instance *i)
{
	i->lease = l;
	i->lease_prev = NULL;
	i->lease_next = l->instances;
	if (l->instances != NULL) {
		l->instances->lease_prev = i;
	}
	l->instances = i;
	l->ninstances++;
}

void store_lease_unlink(struct store_instance *i)
{
	struct store_lease *l = i->lease;
	if (l == NULL) {
		return;
	}
	if (i->lease_prev != NULL) {
		i->lease_prev->lease_next = i->lease_next;
	} else {
		l->instances = i->lease_next;
	}
	if (i->lease_next != NULL) {
		i->lease_next->lease_prev = i->lease_prev;
	}
	i->lease = NULL;
	i->lease_prev = i->lease_next = NULL;
	l->ninstances--;
}

/* Room for one more instance in @p svc's array, so that a link cannot fail. */
int store_service_reserve(struct store_service *svc)
{
	return RS_ARRAY_GROW(svc->instances, svc->cap, (size_t)svc->ninstances + 1);
}

/* Link a new instance into the tables, its service and its lease. */
int store_instance_link(struct store *s, struct store_instance *i, struct store_service *svc,
		struct store_lease *l)
{
	int rc = store_service_reserve(svc);
	if (rc < 0) {
		return rc;
	}
	i->service = svc;
	i->service_slot = svc->ninstances;
	svc->instances[svc->ninstances++] = i;
	store_table_grow(&s->instances, inst_next, inst_hash);
	size_t b = inst_hash(i) & (s->instances.nbuckets - 1);
	i->hash_next = s->instances.buckets[b];
	s->instances.buckets[b] = i;
	s->instances.count++;
	s->sizes.instances++;
	if (l != NULL) {
		lease_link(l, i);
	}
	store_count_status(s, i, +1);
	return 0;
}

void store_kept_remove(struct store *s, struct store_instance *i)
{
	i->kept = 0;
	for (size_t k = 0; k < s->nkept; k++) {
		if (s->kept[k] == i) {
			s->kept[k] = s->kept[--s->nkept];
			return;
		}
	}
}

/* Unlink an instance from everything. Does not free it. */
void store_instance_unlink(struct store *s, struct store_instance *i)
{
	struct store_service *svc = i->service;
	store_count_status(s, i, -1);
	store_lease_unlink(i);
	if (i->kept) {
		store_kept_remove(s, i);
	}
	uint32_t slot = i->service_slot;
	svc->instances[slot] = svc->instances[--svc->ninstances];
	svc->instances[slot]->service_slot = slot;
	size_t b = inst_hash(i) & (s->instances.nbuckets - 1);
	struct store_instance **pp = (struct store_instance **)&s->instances.buckets[b];
	while (*pp != i) {
		pp = &(*pp)->hash_next;
	}
	*pp = i->hash_next;
	s->instances.count--;
	s->sizes.instances--;
}
int store_kept_reserve(struct store *s)
{
	return RS_ARRAY_GROW(s->kept, s->kept_cap, s->nkept + 1);
}

int store_kept_add(struct store *s, struct store_instance *i, uint64_t now_mono)
{
	int rc = store_kept_reserve(s);
	if (rc < 0) {
		return rc;
	}
	s->kept[s->nkept++] = i;
	i->kept = 1;
	i->stale_since_mono = now_mono;
	return 0;
}

/* ---- --keep-last: pending instances ------------------------------------ */

void store_pending_unlink(struct store *s, struct store_instance *i)
{
	struct store_service *svc = i->service;
	if (i->lease_prev != NULL) {
		i->lease_prev->lease_next = i->lease_next;
	} else {
		svc->pending = i->lease_next;
	}
	if (i->lease_next != NULL) {
		i->lease_next->lease_prev = i->lease_prev;
	}
	i->lease_prev = i->lease_next = NULL;
	svc->npending--;
	uint32_t k = i->service_slot;
	s->pending[k] = s->pending[--s->npending];
	s->pending[k]->service_slot = k;
	i->pending = 0;
	s->sizes.pending--;
}

void store_pending_free(struct store *s, struct store_instance *i)
{
	store_pending_unlink(s, i);
	free(i);
}

/* Hold an expired instance, already detached from everything, for
 * @p hold_ms. @return false when out of memory (the caller frees it). */
bool store_pending_add(
		struct store *s, struct store_instance *i, uint32_t hold_ms, uint64_t now_mono)
{
	if (RS_ARRAY_GROW(s->pending, s->pending_cap, s->npending + 1) < 0) {
		return false;
	}
	struct store_service *svc = i->service;
	i->pending = 1;
	i->stale = 0;
	i->rec = 0; /* its record is gone: a revival writes a new one */
	i->pending_until_mono = now_mono + hold_ms;
	i->service_slot = (uint32_t)s->npending;
	s->pending[s->npending++] = i;
	i->lease_prev = NULL;
	i->lease_next = svc->pending;
	if (svc->pending != NULL) {
		svc->pending->lease_prev = i;
	}
	svc->pending = i;
	svc->npending++;
	s->sizes.pending++;
	if (s->npending == 1 || i->pending_until_mono < s->pending_sweep_mono) {
		s->pending_sweep_mono = i->pending_until_mono;
	}
	return true;
}

void store_pending_forget(struct store *s, struct store_service *svc, const char *host, size_t hlen,
		uint16_t port)
{
	for (struct store_instance *i = svc->pending; i != NULL; i = i->lease_next) {
		if (i->port == port && i->host_len == hlen && memcmp(i->host, host, hlen) == 0) {
			store_pending_free(s, i);
			return; /* at most one: registering forgets the previous copy */
		}
	}
}

void store_pending_drop_all(struct store *s, struct store_service *svc)
{
	while (svc->pending != NULL) {
		store_pending_free(s, svc->pending);
	}
}

/* ---- the whole index ---------------------------------------------------- */

int store_index_init(struct store *s)
{
	if (store_table_init(&s->services, 64) < 0 || store_table_init(&s->service_names, 64) < 0 ||
			store_table_init(&s->instances, 1024) < 0) {
		return RS_ENOMEM;
	}
	return 0;
}

static void service_free(void *e)
{
	struct store_service *v = e;
	free(v->instances);
	free(v);
}

void store_index_free(struct store *s)
{
	store_table_free(&s->instances, inst_next, free);
	store_table_free(&s->services, svc_next, service_free);
	store_table_free(&s->service_names, name_node_next, free);
	free(s->services.buckets);
	free(s->service_names.buckets);
	free(s->instances.buckets);
	for (size_t k = 0; k < s->npending; k++) {
		free(s->pending[k]); /* no longer in the instance table */
	}
	free(s->pending);
	free(s->kept);
	memset(&s->services, 0, sizeof(s->services));
	memset(&s->service_names, 0, sizeof(s->service_names));
	memset(&s->instances, 0, sizeof(s->instances));
	s->pending = NULL;
	s->npending = s->pending_cap = 0;
	s->kept = NULL;
	s->nkept = s->kept_cap = 0;
}
