#include "server/registry/store.h"
#include "server/registry/store_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/ring.h"

/* ---- hashing ----------------------------------------------------------- */

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

static uint32_t hash_instance(const struct store_service *svc, const char *host, size_t hlen,
		uint16_t port)
{
	uint32_t h = hash_lower(2166136261u, host, hlen);
	uintptr_t p = (uintptr_t)svc;
	h ^= (uint32_t)(p >> 4) * 2654435761u;
	h ^= port * 40503u;
	return h * 2654435761u;
}

static uint32_t hash_u64(uint64_t v)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdULL;
	v ^= v >> 33;
	return (uint32_t)v;
}

static int table_init(struct table *t, size_t n)
{
	t->buckets = calloc(n, sizeof(void *));
	t->nbuckets = n;
	t->count = 0;
	return t->buckets == NULL ? RS_ENOMEM : 0;
}

/* Grow when the load factor passes 1. The chain link of every kind of
 * object is reached through @p next_of, and its hash through @p hash_of. */
static void table_grow(struct table *t, void **(*next_of)(void *), uint32_t (*hash_of)(void *))
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

static void **lease_next(void *e)
{
	return (void **)&((struct store_lease *)e)->hash_next;
}

static uint32_t lease_hash(void *e)
{
	return hash_u64(((struct store_lease *)e)->id);
}

/* ---- journal ----------------------------------------------------------- */

static void journal_drop_oldest(struct journal *j)
{
	free((void *)j->ring[j->head].copy);
	j->ring[j->head].copy = NULL;
	j->head = (j->head + 1) % j->cap;
	j->len--;
}

static struct store_instance *instance_copy(const struct store_instance *src);

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
	for (uint32_t k = 0; k < j->len; k++) {
		const struct store_journal_entry *e = &j->ring[(j->head + k) % j->cap];
		if (e->revision <= since) {
			continue;
		}
		if (cb(e, ud) != 0) {
			break;
		}
	}
	return 0;
}

/* ---- instances --------------------------------------------------------- */

/* One allocation per instance: the struct, then host text, host wire form,
 * addresses, the metadata array and its strings. Keeps RSS per instance
 * small and frees in one call. */
static struct store_instance *instance_alloc(const char *host, size_t host_len,
		const uint8_t *wire, size_t wire_len, const struct rs_addr *addrs, size_t naddrs,
		const struct store_meta *meta, size_t nmeta)
{
	size_t meta_bytes = 0;
	for (size_t i = 0; i < nmeta; i++) {
		meta_bytes += strlen(meta[i].key) + strlen(meta[i].value) + 2;
	}
	size_t size = sizeof(struct store_instance);
	size_t addr_off = size;
	size += naddrs * sizeof(struct rs_addr);
	size = (size + 7) & ~(size_t)7;
	size_t meta_off = size;
	size += nmeta * sizeof(struct store_meta);
	size_t host_off = size;
	size += host_len + 1;
	size_t wire_off = size;
	size += wire_len;
	size_t strs_off = size;
	size += meta_bytes;

	unsigned char *block = malloc(size);
	if (block == NULL) {
		return NULL;
	}
	struct store_instance *inst = (struct store_instance *)block;
	memset(inst, 0, sizeof(*inst));
	struct rs_addr *a = (struct rs_addr *)(block + addr_off);
	if (naddrs > 0) {
		memcpy(a, addrs, naddrs * sizeof(*a));
	}
	inst->addrs = a;
	inst->naddrs = (uint8_t)naddrs;
	struct store_meta *m = (struct store_meta *)(block + meta_off);
	char *strs = (char *)(block + strs_off);
	for (size_t i = 0; i < nmeta; i++) {
		size_t kl = strlen(meta[i].key) + 1;
		size_t vl = strlen(meta[i].value) + 1;
		memcpy(strs, meta[i].key, kl);
		m[i].key = strs;
		strs += kl;
		memcpy(strs, meta[i].value, vl);
		m[i].value = strs;
		strs += vl;
	}
	inst->meta = m;
	inst->nmeta = (uint8_t)nmeta;
	char *h = (char *)(block + host_off);
	memcpy(h, host, host_len);
	h[host_len] = '\0';
	inst->host = h;
	inst->host_len = (uint8_t)host_len;
	uint8_t *w = block + wire_off;
	memcpy(w, wire, wire_len);
	inst->host_wire = w;
	inst->host_wire_len = (uint8_t)wire_len;
	return inst;
}

static struct store_instance *instance_copy(const struct store_instance *src)
{
	struct store_instance *c = instance_alloc(src->host, src->host_len, src->host_wire,
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

/* Canonical, validated names of a registration or key. */
struct names {
	char service[RS_LABEL_MAX + 1];
	char protocol[RS_LABEL_MAX + 1];
	char host[RS_NAME_TEXT_MAX];
	size_t service_len, protocol_len, host_len;
	uint8_t wire[RS_NAME_WIRE_MAX];
	size_t wire_len;
	uint16_t port;
};

static int label_lower(const char *in, char *out, size_t *len)
{
	size_t n = strlen(in);
	int rc = rs_label_check(in, n, 0);
	if (rc < 0) {
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		out[i] = (char)rs_ascii_lower((uint8_t)in[i]);
	}
	out[n] = '\0';
	*len = n;
	return 0;
}

static int names_from_key(const struct store_key *key, struct names *n)
{
	if (key->service == NULL || key->protocol == NULL || key->host == NULL) {
		return RS_ENAME_EMPTY;
	}
	int rc = label_lower(key->service, n->service, &n->service_len);
	if (rc < 0) {
		return rc;
	}
	rc = label_lower(key->protocol, n->protocol, &n->protocol_len);
	if (rc < 0) {
		return rc;
	}
	rc = rs_name_canonical(key->host, 0, n->host);
	if (rc < 0) {
		return rc;
	}
	n->host_len = (size_t)rc;
	rc = rs_name_to_wire(n->host, 0, n->wire);
	if (rc < 0) {
		return rc;
	}
	n->wire_len = (size_t)rc;
	if (key->port < 1 || key->port > 65535) {
		return RS_EPORT;
	}
	n->port = (uint16_t)key->port;
	return 0;
}

static struct store_service *service_lookup(const struct store *s, const char *name, size_t nlen,
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
		if (strlen(n->first->name) == nlen && strncasecmp(n->first->name, name, nlen) == 0) {
			return n;
		}
	}
	return NULL;
}

static struct store_service *service_get(struct store *s, const struct names *n)
{
	struct store_service *svc =
			service_lookup(s, n->service, n->service_len, n->protocol, n->protocol_len);
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
		table_grow(&s->service_names, name_node_next, name_node_hash);
		size_t b = name_node_hash(nn) & (s->service_names.nbuckets - 1);
		nn->next = s->service_names.buckets[b];
		s->service_names.buckets[b] = nn;
		s->service_names.count++;
	} else {
		svc->name_next = nn->first->name_next;
		nn->first->name_next = svc;
	}
	table_grow(&s->services, svc_next, svc_hash);
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

struct store_instance *store_instance_lookup(const struct store *s,
		const struct store_service *svc, const char *host, size_t hlen, uint16_t port)
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

static void count_status(struct store *s, const struct store_instance *i, int delta)
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
	if (svc->ninstances == svc->cap) {
		uint32_t ncap = svc->cap == 0 ? 4 : svc->cap * 2;
		struct store_instance **na = realloc(svc->instances, ncap * sizeof(*na));
		if (na == NULL) {
			return RS_ENOMEM;
		}
		svc->instances = na;
		svc->cap = ncap;
	}
	return 0;
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
	table_grow(&s->instances, inst_next, inst_hash);
	size_t b = inst_hash(i) & (s->instances.nbuckets - 1);
	i->hash_next = s->instances.buckets[b];
	s->instances.buckets[b] = i;
	s->instances.count++;
	s->sizes.instances++;
	if (l != NULL) {
		lease_link(l, i);
	}
	count_status(s, i, +1);
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
static void instance_unlink(struct store *s, struct store_instance *i)
{
	struct store_service *svc = i->service;
	count_status(s, i, -1);
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

void store_notify(struct store *s, enum store_change_kind kind, enum store_remove_reason reason,
		const struct store_instance *i)
{
	journal_append(s, kind, reason, i);
	if (s->listener != NULL) {
		struct store_change c = {kind, reason, s->revision, i};
		s->listener(&c, s->listener_ud);
	}
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
	rc = remove ? OP(s, instance_del, i) : OP(s, instance_put, i);
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


/* ---- leases and the wheel ---------------------------------------------- */

static struct store_lease *lease_lookup(const struct store *s, uint64_t id)
{
	struct store_lease *l = s->leases.buckets[hash_u64(id) & (s->leases.nbuckets - 1)];
	while (l != NULL && l->id != id) {
		l = l->hash_next;
	}
	return l;
}

static int lease_add(struct store *s, uint64_t id, uint32_t ttl_ms, uint64_t now_mono,
		struct store_lease **out)
{
	if (id == 0 || lease_lookup(s, id) != NULL) {
		return RS_EEXIST;
	}
	struct store_lease *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		return RS_ENOMEM;
	}
	l->id = id;
	l->ttl_ms = ttl_ms;
	l->expires_mono = now_mono + ttl_ms;
	table_grow(&s->leases, lease_next, lease_hash);
	size_t b = lease_hash(l) & (s->leases.nbuckets - 1);
	l->hash_next = s->leases.buckets[b];
	s->leases.buckets[b] = l;
	s->leases.count++;
	s->sizes.leases++;
	store_wheel_insert(s, l);
	*out = l;
	return 0;
}

void store_lease_drop(struct store *s, struct store_lease *l)
{
	store_wheel_remove(s, l);
	size_t b = lease_hash(l) & (s->leases.nbuckets - 1);
	struct store_lease **pp = (struct store_lease **)&s->leases.buckets[b];
	while (*pp != l) {
		pp = &(*pp)->hash_next;
	}
	*pp = l->hash_next;
	s->leases.count--;
	s->sizes.leases--;
	if (l->overdue) {
		s->noverdue--;
	}
	free(l);
}

void store_stale_set(struct store *s, struct store_instance *i, bool stale)
{
	if ((bool)i->stale == stale) {
		return;
	}
	count_status(s, i, -1);
	i->stale = stale;
	count_status(s, i, +1);
	s->revision++;
	i->revision = s->revision;
	i->service->revision = s->revision;
	store_notify(s, STORE_CHANGE_UPSERT, 0, i);
}

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
	if (table_init(&s->services, 64) < 0 || table_init(&s->service_names, 64) < 0 ||
			table_init(&s->instances, 1024) < 0 || table_init(&s->leases, 1024) < 0) {
		goto fail;
	}
	s->wheel = calloc(WHEEL_SLOTS, sizeof(*s->wheel));
	if (s->wheel == NULL) {
		goto fail;
	}
	if (limits->journal_max > 0) {
		s->journal.ring = calloc(limits->journal_max, sizeof(*s->journal.ring));
		if (s->journal.ring == NULL) {
			goto fail;
		}
		s->journal.cap = limits->journal_max;
	}
	return s;
fail:
	store_free(s);
	return NULL;
}

static void service_free(void *e)
{
	struct store_service *v = e;
	free(v->instances);
	free(v);
}

/* Free every entry of a table, through its chain link; not the buckets. */
static void table_free(struct table *t, void **(*next_of)(void *), void (*free_one)(void *))
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

void store_free(struct store *s)
{
	if (s == NULL) {
		return;
	}
	table_free(&s->instances, inst_next, free);
	table_free(&s->services, svc_next, service_free);
	table_free(&s->service_names, name_node_next, free);
	table_free(&s->leases, lease_next, free);
	while (s->journal.len > 0) {
		journal_drop_oldest(&s->journal);
	}
	free(s->journal.ring);
	free(s->services.buckets);
	free(s->service_names.buckets);
	free(s->instances.buckets);
	free(s->leases.buckets);
	for (size_t k = 0; k < s->npending; k++) {
		free(s->pending[k]); /* no longer in the instance table */
	}
	free(s->pending);
	free(s->wheel);
	free(s->kept);
	free(s);
}

void store_set_listener(struct store *s, store_change_cb cb, void *ud)
{
	s->listener = cb;
	s->listener_ud = ud;
}

void store_set_limits(struct store *s, const struct store_limits *limits)
{
	uint32_t journal_max = s->limits.journal_max;
	s->limits = *limits;
	s->limits.journal_max = journal_max; /* the ring is sized at creation */
	/* The window's buckets may have changed size: start counting afresh. */
	memset(s->window_counts, 0, sizeof(s->window_counts));
	s->window_bucket = s->now_mono / store_bucket_ms(s);
}

/* ---- public: loading --------------------------------------------------- */

int store_load_lease(struct store *s, uint64_t id, uint32_t ttl_ms, uint64_t now_mono)
{
	if (ttl_ms < STORE_TTL_MIN_S * 1000u || ttl_ms > STORE_TTL_MAX_S * 1000u) {
		return RS_ETTL;
	}
	struct store_lease *l;
	return lease_add(s, id, ttl_ms, now_mono, &l);
}

void store_load_revision(struct store *s, uint64_t revision)
{
	s->revision = revision;
}

static void table_reserve(struct table *t, uint64_t n)
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

void store_reserve(struct store *s, uint64_t instances, uint64_t leases)
{
	table_reserve(&s->instances, instances);
	table_reserve(&s->leases, leases);
}

/* Note which limit a registration exceeds, for a message that names it. */
static int limit_hit(struct store_limit_hit *hit, enum store_limit kind, uint64_t value,
		uint64_t max)
{
	if (hit != NULL) {
		*hit = (struct store_limit_hit){.kind = kind, .value = value, .max = max};
	}
	return RS_ELIMIT;
}

/* Validation shared by loading and registering. */
static int registration_check(const struct store *s, const struct store_registration *reg,
		struct names *n, struct store_limit_hit *hit)
{
	struct store_key key = {reg->service, reg->protocol, reg->host, reg->port};
	int rc = names_from_key(&key, n);
	if (rc < 0) {
		return rc;
	}
	if (reg->priority > 65535 || reg->weight > 65535) {
		return RS_EINVAL;
	}
	if (reg->status != 0 && reg->status != STORE_STATUS_STARTING &&
			reg->status != STORE_STATUS_UP && reg->status != STORE_STATUS_DOWN) {
		return RS_ESTATUS;
	}
	if (reg->naddrs > s->limits.max_addresses || reg->naddrs > 255) {
		return limit_hit(hit, STORE_LIMIT_ADDRESSES, reg->naddrs,
				s->limits.max_addresses < 255 ? s->limits.max_addresses : 255);
	}
	for (size_t k = 0; k < reg->naddrs; k++) {
		if (reg->addrs[k].family != AF_INET && reg->addrs[k].family != AF_INET6) {
			return RS_EINVAL;
		}
	}
	size_t meta_bytes = 0;
	if (reg->nmeta > s->limits.max_metadata_entries || reg->nmeta > 255) {
		return limit_hit(hit, STORE_LIMIT_METADATA_ENTRIES, reg->nmeta,
				s->limits.max_metadata_entries < 255 ? s->limits.max_metadata_entries
								     : 255);
	}
	for (size_t k = 0; k < reg->nmeta; k++) {
		if (reg->meta[k].key == NULL || reg->meta[k].value == NULL ||
				reg->meta[k].key[0] == '\0') {
			return RS_EINVAL;
		}
		meta_bytes += strlen(reg->meta[k].key) + strlen(reg->meta[k].value);
	}
	if (meta_bytes > s->limits.max_metadata_bytes) {
		return limit_hit(hit, STORE_LIMIT_METADATA_BYTES, meta_bytes,
				s->limits.max_metadata_bytes);
	}
	return 0;
}

static struct store_instance *instance_build(const struct store_registration *reg,
		const struct names *n)
{
	struct store_instance *i = instance_alloc(n->host, n->host_len, n->wire, n->wire_len,
			reg->addrs, reg->naddrs, reg->meta, reg->nmeta);
	if (i == NULL) {
		return NULL;
	}
	i->port = n->port;
	i->priority = (uint16_t)reg->priority;
	i->weight = (uint16_t)reg->weight;
	i->status = reg->status == 0 ? STORE_STATUS_UP : (uint8_t)reg->status;
	return i;
}

int store_kept_reserve(struct store *s)
{
	if (s->nkept == s->kept_cap) {
		size_t ncap = s->kept_cap == 0 ? 16 : s->kept_cap * 2;
		struct store_instance **nk = realloc(s->kept, ncap * sizeof(*nk));
		if (nk == NULL) {
			return RS_ENOMEM;
		}
		s->kept = nk;
		s->kept_cap = ncap;
	}
	return 0;
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

int store_load_instance(struct store *s, const struct store_registration *reg,
		uint64_t registered_at_ms, uint64_t status_since_ms, uint64_t now_mono)
{
	struct names n;
	int rc = registration_check(s, reg, &n, NULL);
	if (rc < 0) {
		return rc;
	}
	struct store_lease *l = NULL;
	if (reg->lease != 0) {
		l = lease_lookup(s, reg->lease);
		if (l == NULL) {
			return RS_ELEASE;
		}
	}
	struct store_service *svc = service_get(s, &n);
	if (svc == NULL) {
		return RS_ENOMEM;
	}
	if (store_instance_lookup(s, svc, n.host, n.host_len, n.port) != NULL) {
		return RS_EEXIST;
	}
	struct store_instance *i = instance_build(reg, &n);
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
		instance_unlink(s, i);
		free(i);
		store_service_release(s, svc);
		return RS_ENOMEM;
	}
	svc->revision = s->revision;
	return 0;
}

/* ---- public: mutations ------------------------------------------------- */

int store_lease_open(struct store *s, uint32_t ttl_s, uint64_t id, uint64_t now_mono,
		const struct store_lease **out)
{
	if (ttl_s == 0) {
		ttl_s = STORE_TTL_DEFAULT_S;
	}
	if (ttl_s < STORE_TTL_MIN_S || ttl_s > STORE_TTL_MAX_S) {
		return RS_ETTL;
	}
	if (id == 0 || lease_lookup(s, id) != NULL) {
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
	rc = lease_add(s, id, ttl_s * 1000u, now_mono, &l);
	if (rc < 0) {
		return rc; /* the record on disk is harmless: loading drops empty leases */
	}
	*out = l;
	return 0;
}

int store_lease_renew(struct store *s, uint64_t id, uint64_t now_mono,
		const struct store_lease **out)
{
	struct store_lease *l = lease_lookup(s, id);
	if (l == NULL) {
		return RS_ELEASE;
	}
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
	if (out != NULL) {
		*out = l;
	}
	return 0;
}

void store_instance_detach(struct store *s, struct store_instance *i,
		enum store_remove_reason reason)
{
	instance_unlink(s, i);
	s->revision++;
	i->service->revision = s->revision;
	store_notify(s, STORE_CHANGE_REMOVE, reason, i);
}

void store_instance_remove(struct store *s, struct store_instance *i,
		enum store_remove_reason reason)
{
	struct store_service *svc = i->service;
	store_instance_detach(s, i, reason);
	free(i);
	store_service_release(s, svc);
}

int store_lease_close(struct store *s, uint64_t id, uint32_t *removed)
{
	struct store_lease *l = lease_lookup(s, id);
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

int store_register(struct store *s, const struct store_registration *reg, uint64_t now_mono,
		uint64_t now_wall, bool *created, uint64_t *revision)
{
	return store_register_ex(s, reg, now_mono, now_wall, created, revision, NULL);
}

int store_register_ex(struct store *s, const struct store_registration *reg, uint64_t now_mono,
		uint64_t now_wall, bool *created, uint64_t *revision, struct store_limit_hit *hit)
{
	(void)now_mono;
	struct names n;
	int rc = registration_check(s, reg, &n, hit);
	if (rc < 0) {
		return rc;
	}
	struct store_lease *l = NULL;
	if (reg->lease != 0) {
		l = lease_lookup(s, reg->lease);
		if (l == NULL) {
			return RS_ELEASE;
		}
	}
	struct store_service *svc =
			service_lookup(s, n.service, n.service_len, n.protocol, n.protocol_len);
	struct store_instance *old =
			svc != NULL ? store_instance_lookup(s, svc, n.host, n.host_len, n.port)
				    : NULL;
	if (l != NULL && (old == NULL || old->lease != l) &&
			l->ninstances >= s->limits.max_instances_per_lease) {
		return limit_hit(hit, STORE_LIMIT_INSTANCES_PER_LEASE, (uint64_t)l->ninstances + 1,
				s->limits.max_instances_per_lease);
	}
	if (old == NULL && s->sizes.instances >= s->limits.max_instances) {
		return limit_hit(hit, STORE_LIMIT_INSTANCES, s->sizes.instances + 1,
				s->limits.max_instances);
	}
	struct store_instance *i = instance_build(reg, &n);
	if (i == NULL) {
		return RS_ENOMEM;
	}
	if (old != NULL) {
		i->rec = old->rec; /* the same record is overwritten */
		i->registered_at_ms = old->registered_at_ms;
		i->status_since_ms = old->status == i->status ? old->status_since_ms : now_wall;
		if (old->lease == l && !old->stale && same_content(old, i)) {
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
		svc = service_get(s, &n);
		if (svc == NULL) {
			free(i);
			return RS_ENOMEM;
		}
	}
	i->service = svc; /* persist keys the record by service and protocol */
	i->lease = l;     /* and records the lease id */
	rc = store_write_instance(s, i, false);
	i->lease = NULL;
	if (rc < 0) {
		free(i);
		store_service_release(s, svc); /* only if it was created for this call */
		return rc;
	}
	if (old != NULL) {
		instance_unlink(s, old);
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
	int rc = names_from_key(key, &n);
	if (rc < 0) {
		return rc;
	}
	struct store_service *svc =
			service_lookup(s, n.service, n.service_len, n.protocol, n.protocol_len);
	struct store_instance *i =
			svc != NULL ? store_instance_lookup(s, svc, n.host, n.host_len, n.port)
				    : NULL;
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
	if (names_from_key(key, &n) < 0) {
		return;
	}
	struct store_service *svc =
			service_lookup(s, n.service, n.service_len, n.protocol, n.protocol_len);
	if (svc != NULL) {
		store_pending_forget(s, svc, n.host, n.host_len, n.port);
	}
}

int store_deregister(struct store *s, const struct store_key *key, uint64_t *revision)
{
	struct store_instance *i;
	int rc = key_find(s, key, &i);
	if (rc == RS_ENOENT) {
		pending_key_forget(s, key);
	}
	if (rc < 0) {
		return rc;
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

int store_status_set(struct store *s, const struct store_key *key, enum store_status status,
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
	if (i->status == status) {
		*revision = i->revision;
		return 0;
	}
	uint8_t old_status = i->status;
	uint64_t old_since = i->status_since_ms;
	/* Persist the changed record; restore the old fields if that fails. */
	count_status(s, i, -1);
	i->status = (uint8_t)status;
	i->status_since_ms = now_wall;
	rc = store_write_instance(s, i, false);
	if (rc < 0) {
		i->status = old_status;
		i->status_since_ms = old_since;
		count_status(s, i, +1);
		return rc;
	}
	count_status(s, i, +1);
	s->revision++;
	i->revision = s->revision;
	i->service->revision = s->revision;
	store_notify(s, STORE_CHANGE_UPSERT, 0, i);
	*revision = s->revision;
	return 0;
}

/* ---- expiry and self-preservation --------------------------------------- */

/* ---- reads -------------------------------------------------------------- */

const struct store_service *store_service_find(const struct store *s, const char *service,
		size_t service_len, const char *protocol, size_t protocol_len)
{
	return service_lookup(s, service, service_len, protocol, protocol_len);
}

const struct store_service *store_service_find_name(const struct store *s, const char *service,
		size_t service_len)
{
	struct name_node *n = name_lookup(s, service, service_len);
	return n != NULL ? n->first : NULL;
}

const struct store_instance *store_instance_find(const struct store *s,
		const struct store_key *key)
{
	struct store_instance *i = NULL;
	if (key_find((struct store *)s, key, &i) < 0) {
		return NULL;
	}
	return i;
}

const struct store_lease *store_lease_find(const struct store *s, uint64_t id)
{
	return lease_lookup(s, id);
}

static int cmp_service(const void *a, const void *b)
{
	const struct store_service *x = *(const struct store_service *const *)a;
	const struct store_service *y = *(const struct store_service *const *)b;
	int c = strcmp(x->name, y->name);
	return c != 0 ? c : strcmp(x->protocol, y->protocol);
}

void store_service_foreach(const struct store *s,
		int (*cb)(const struct store_service *svc, void *ud), void *ud)
{
	size_t n = s->services.count;
	if (n == 0) {
		return;
	}
	const struct store_service **all = malloc(n * sizeof(*all));
	if (all == NULL) {
		return;
	}
	size_t k = 0;
	for (size_t b = 0; b < s->services.nbuckets; b++) {
		for (struct store_service *v = s->services.buckets[b]; v != NULL; v = v->hash_next) {
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
