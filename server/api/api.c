#include "server/api/api.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <uv.h>

#include "common/addr.h"
#include "common/arena.h"
#include "common/error.h"
#include "common/log.h"
#include "proto/frame.h"
#include "roster.pb-c.h"
#include "server/dns/report.h"
#include "server/net/tcp.h"
#include "server/registry/persist.h"

/* Malformed frames a connection may send before it is closed. */
#define API_STRIKES 3
/* A Request may unpack into at most this many times its frame size: bounds
 * protobuf-c's allocations (robustness catalogue 3.8). */
#define UNPACK_BUDGET_FACTOR 8
#define UNPACK_BUDGET_MIN 65536

typedef Roster__V1__Request Request;
typedef Roster__V1__Response Response;
typedef Roster__V1__Instance PbInstance;

struct watch {
	uint64_t id;
	char service[RS_LABEL_MAX + 1]; /* "" for every service */
};

/* A connection's state (net_tcp_conn_data()). */
struct conn {
	struct net_tcp_conn *tcp;
	struct api *api;
	const char *peer;    /* net_tcp_conn_peer_text(), for messages */
	struct conn *dirty_next;
	bool dirty;
	bool close_after_flush;
	struct rs_frame_decoder dec;
	uint8_t *out;
	size_t out_len, out_cap;
	uint64_t *write_ids; /* write requests answered this iteration */
	size_t nwrite_ids, write_ids_cap;
	struct watch *watches;
	size_t nwatches;
	struct conn *watch_prev, *watch_next; /* api->watchers, while nwatches > 0 */
	int strikes;
	uint32_t answered;   /* requests answered this iteration */
	bool paused;         /* reading stopped until the iteration's flush */
};

struct api {
	struct api_context ctx;
	struct api_limits lim;
	struct net_tcp *tcp;   /* the listeners and connections (server/net/tcp.h) */
	struct conn *watchers; /* connections with at least one watch */
	struct conn *dirty;
	struct api_counters counters;
	struct rs_arena scratch; /* per-response encoding scratch */
	uint8_t rbuf[65536];     /* every read lands here and is consumed at once */
};

/* ---- protobuf-c allocator with a budget ---------------------------------- */

struct budget {
	size_t left;
};

static void *budget_alloc(void *data, size_t size)
{
	struct budget *b = data;
	if (size > b->left) {
		return NULL;
	}
	size_t *p = malloc(size + sizeof(size_t));
	if (p == NULL) {
		return NULL;
	}
	b->left -= size;
	p[0] = size;
	return p + 1;
}

static void budget_free(void *data, void *ptr)
{
	struct budget *b = data;
	if (ptr == NULL) {
		return;
	}
	size_t *p = (size_t *)ptr - 1;
	b->left += p[0];
	free(p);
}

/* ---- error mapping ------------------------------------------------------- */

static Roster__V1__ErrorCode error_code(int rc)
{
	switch (rc) {
	case RS_ENAME_EMPTY:
	case RS_ENAME_LABEL_LONG:
	case RS_ENAME_LONG:
	case RS_ENAME_CHAR:
	case RS_ENAME_HYPHEN:
	case RS_ENAME_NUMERIC:
		return ROSTER__V1__ERROR_CODE__INVALID_NAME;
	case RS_EPORT:
	case RS_EINVAL:
	case RS_ETTL:
	case RS_ESTATUS:
	case RS_EADDR:
		return ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT;
	case RS_ELEASE:
		return ROSTER__V1__ERROR_CODE__UNKNOWN_LEASE;
	case RS_ENOENT:
		return ROSTER__V1__ERROR_CODE__NOT_FOUND;
	case RS_ELIMIT:
		return ROSTER__V1__ERROR_CODE__LIMIT_EXCEEDED;
	case RS_EFRAME_BIG:
		return ROSTER__V1__ERROR_CODE__FRAME_TOO_LARGE;
	case RS_EFRAME_EMPTY:
	case RS_EPROTO:
		return ROSTER__V1__ERROR_CODE__MALFORMED;
	case RS_ESTORE_FULL:
	case RS_ENOSPC: /* a full disk: the store is as full as at --map-max */
		return ROSTER__V1__ERROR_CODE__STORAGE_FULL;
	case RS_ESTORE:
	case RS_ESTORE_PANIC:
	case RS_EIO:
		return ROSTER__V1__ERROR_CODE__STORAGE_ERROR;
	case RS_ENOMEM:
	case RS_EAGAIN:
		return ROSTER__V1__ERROR_CODE__UNAVAILABLE;
	case RS_ENOTSUP:
		return ROSTER__V1__ERROR_CODE__UNSUPPORTED;
	default:
		return ROSTER__V1__ERROR_CODE__INTERNAL;
	}
}

/* ---- output ---------------------------------------------------------------- */

static void conn_mark_dirty(struct conn *c)
{
	if (!c->dirty) {
		c->dirty = true;
		c->dirty_next = c->api->dirty;
		c->api->dirty = c;
	}
}

/* Append one framed message to the connection's iteration buffer. */
static int conn_append(struct conn *c, const ProtobufCMessage *msg)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	size_t need = c->out_len + RS_FRAME_HEADER + n;
	if (need > c->out_cap) {
		size_t cap = c->out_cap == 0 ? 4096 : c->out_cap;
		while (cap < need) {
			cap *= 2;
		}
		uint8_t *nb = realloc(c->out, cap);
		if (nb == NULL) {
			return RS_ENOMEM;
		}
		c->out = nb;
		c->out_cap = cap;
	}
	rs_frame_header_write(c->out + c->out_len, (uint32_t)n);
	protobuf_c_message_pack(msg, c->out + c->out_len + RS_FRAME_HEADER);
	c->out_len = need;
	conn_mark_dirty(c);
	return 0;
}

static void send_error(struct conn *c, uint64_t id, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void send_error(struct conn *c, uint64_t id, int rc, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	Response r = ROSTER__V1__RESPONSE__INIT;
	r.id = id;
	r.error = error_code(rc);
	r.message = msg;
	c->api->counters.errors++;
	if (conn_append(c, &r.base) < 0) {
		c->close_after_flush = true;
	}
}

/* Send a successful Response whose oneof result is the @p field member
 * (case @p CASE) pointing at @p msg_: the envelope every operation shares.
 * Evaluates to conn_append()'s result. */
#define send_result(conn_, id_, CASE, field, msg_)                                          \
	({                                                                                  \
		Response r_ = ROSTER__V1__RESPONSE__INIT;                                   \
		r_.id = (id_);                                                              \
		r_.result_case = ROSTER__V1__RESPONSE__RESULT_##CASE;                       \
		r_.field = (msg_);                                                          \
		conn_append((conn_), &r_.base);                                             \
	})

static void watchers_add(struct conn *c)
{
	struct api *api = c->api;
	c->watch_prev = NULL;
	c->watch_next = api->watchers;
	if (api->watchers != NULL) {
		api->watchers->watch_prev = c;
	}
	api->watchers = c;
}

static void watchers_remove(struct conn *c)
{
	if (c->watch_prev != NULL) {
		c->watch_prev->watch_next = c->watch_next;
	} else {
		c->api->watchers = c->watch_next;
	}
	if (c->watch_next != NULL) {
		c->watch_next->watch_prev = c->watch_prev;
	}
	c->watch_prev = c->watch_next = NULL;
}

/* ---- connection life cycle (the TCP layer's callbacks) ---------------------- */

static struct store *api_store(const struct api *api)
{
	return *api->ctx.store;
}

/* Make room after RS_ESTORE_FULL: true when the write should be retried. */
static bool api_store_grow(const struct api *api)
{
	return api->ctx.store_grow(api->ctx.owner);
}

/* Milliseconds since the Unix epoch (registrations' and statuses' times). */
static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* What the connection holds besides its bytes: from its close callback
 * (ops->closed), or from a harness that made the connection itself. */
static void conn_release(struct conn *c)
{
	struct api *api = c->api;
	if (c->dirty) {
		struct conn **pp = &api->dirty;
		while (*pp != c) {
			pp = &(*pp)->dirty_next;
		}
		*pp = c->dirty_next;
		c->dirty = false;
	}
	if (c->nwatches > 0) {
		watchers_remove(c);
	}
	rs_frame_decoder_deinit(&c->dec);
	free(c->out);
	free(c->write_ids);
	free(c->watches);
}

static void conn_closed(struct net_tcp_conn *tc, enum net_tcp_close_reason why)
{
	struct conn *c = net_tcp_conn_data(tc);
	if (c->api == NULL) {
		return; /* opened failed before anything was held */
	}
	if (why == NET_TCP_CLOSE_EOF && !rs_frame_decoder_idle(&c->dec)) {
		rs_log_debug("api %s: %s", c->peer, rs_strerror(RS_EFRAME_TRUNC));
	}
	conn_release(c);
}

static bool conn_expired(struct net_tcp_conn *tc)
{
	struct conn *c = net_tcp_conn_data(tc);
	if (c->nwatches > 0) {
		return false; /* a watcher is silent by nature */
	}
	rs_log_debug("api %s: no whole frame for %u ms, closing", c->peer, c->api->lim.tcp.idle_ms);
	return true;
}

/* Hand the iteration's replies to the TCP layer, which writes what the
 * socket takes and queues the rest; past max_outbuf queued it cuts a client
 * that does not read its replies off (catalogue 3.12). */
static void conn_flush(struct conn *c)
{
	if (net_tcp_conn_closing(c->tcp)) {
		return;
	}
	if (c->out_len > 0) {
		int rc = net_tcp_conn_send(c->tcp, c->out, c->out_len);
		/* What the socket did not take was copied: an idle connection
		 * holds no reply memory. */
		free(c->out);
		c->out = NULL;
		c->out_len = c->out_cap = 0;
		if (rc < 0) {
			return; /* closing: a write error, or a slow reader */
		}
	}
	c->nwrite_ids = 0;
	c->answered = 0;
	if (c->close_after_flush) {
		net_tcp_conn_close(c->tcp);
		return;
	}
	if (c->paused) {
		c->paused = false;
		net_tcp_conn_read_pause(c->tcp, false);
	}
}

void api_flush(struct api *api, int commit_rc)
{
	struct conn *c = api->dirty;
	api->dirty = NULL;
	while (c != NULL) {
		struct conn *next = c->dirty_next;
		c->dirty = false;
		c->dirty_next = NULL;
		if (commit_rc < 0 && c->nwrite_ids > 0) {
			/* The batch did not reach the disk: nothing collected this
			 * iteration may be acknowledged. Tell every writer. */
			c->out_len = 0;
			size_t n = c->nwrite_ids;
			c->nwrite_ids = 0;
			for (size_t k = 0; k < n; k++) {
				send_error(c, c->write_ids[k], commit_rc, "store commit failed: %s",
						rs_strerror(commit_rc));
			}
			c->dirty = false; /* send_error marked it again */
			api->dirty = NULL;
		}
		if (commit_rc < 0 && c->nwatches > 0) {
			/* Its stream carried events of the lost batch. */
			c->close_after_flush = true;
		}
		conn_flush(c);
		c = next;
	}
}

/* ---- conversions -------------------------------------------------------------- */

static char *arena_strdup(struct rs_arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = rs_arena_alloc(a, n);
	if (d != NULL) {
		memcpy(d, s, n);
	}
	return d;
}

static Roster__V1__Status status_to_pb(uint8_t st)
{
	switch (st) {
	case STORE_STATUS_STARTING:
		return ROSTER__V1__STATUS__STARTING;
	case STORE_STATUS_DOWN:
		return ROSTER__V1__STATUS__DOWN;
	default:
		return ROSTER__V1__STATUS__UP;
	}
}

/* Fill @p pb from @p i; strings live in the arena until its reset. */
static int instance_to_pb(struct rs_arena *a, const char *service, const char *protocol,
		const struct store_instance *i, PbInstance *pb)
{
	roster__v1__instance__init(pb);
	pb->service = (char *)service;
	pb->protocol = (char *)protocol;
	pb->host = (char *)i->host;
	pb->port = i->port;
	pb->priority = i->priority;
	pb->weight = i->weight;
	pb->status = status_to_pb(i->status);
	pb->registered_at_ms = i->registered_at_ms;
	pb->status_since_ms = i->status_since_ms;
	pb->expiry = i->lease != NULL ? ROSTER__V1__EXPIRY_KIND__TIMED
				      : ROSTER__V1__EXPIRY_KIND__NEVER;
	pb->lease = i->lease != NULL ? i->lease->id : 0;
	pb->stale = i->stale;
	if (i->naddrs > 0) {
		pb->addresses = rs_arena_alloc(a, i->naddrs * sizeof(char *));
		if (pb->addresses == NULL) {
			return RS_ENOMEM;
		}
		for (uint8_t k = 0; k < i->naddrs; k++) {
			char text[RS_ADDR_TEXT_MAX];
			rs_addr_format(&i->addrs[k], text);
			pb->addresses[k] = arena_strdup(a, text);
			if (pb->addresses[k] == NULL) {
				return RS_ENOMEM;
			}
		}
		pb->n_addresses = i->naddrs;
	}
	if (i->nmeta > 0) {
		pb->metadata = rs_arena_alloc(a, i->nmeta * sizeof(*pb->metadata));
		Roster__V1__Instance__MetadataEntry *e =
				rs_arena_alloc(a, i->nmeta * sizeof(*e));
		if (pb->metadata == NULL || e == NULL) {
			return RS_ENOMEM;
		}
		for (uint8_t k = 0; k < i->nmeta; k++) {
			roster__v1__instance__metadata_entry__init(&e[k]);
			e[k].key = (char *)i->meta[k].key;
			e[k].value = (char *)i->meta[k].value;
			pb->metadata[k] = &e[k];
		}
		pb->n_metadata = i->nmeta;
	}
	return 0;
}

/* A registration from the wire; addresses and metadata in the arena. */
static int registration_from_pb(struct conn *c, uint64_t id, const PbInstance *pb,
		uint64_t lease, struct store_registration *reg)
{
	struct rs_arena *a = &c->api->scratch;
	memset(reg, 0, sizeof(*reg));
	reg->service = pb->service;
	reg->protocol = pb->protocol;
	reg->host = pb->host;
	reg->port = pb->port;
	reg->priority = pb->priority;
	reg->weight = pb->weight;
	reg->lease = lease;
	switch (pb->status) {
	case ROSTER__V1__STATUS__STATUS_UNSPECIFIED:
	case ROSTER__V1__STATUS__UP:
		reg->status = STORE_STATUS_UP;
		break;
	case ROSTER__V1__STATUS__STARTING:
		reg->status = STORE_STATUS_STARTING;
		break;
	case ROSTER__V1__STATUS__DOWN:
		reg->status = STORE_STATUS_DOWN;
		break;
	default:
		send_error(c, id, RS_ESTATUS, "unknown status %d", pb->status);
		return RS_ESTATUS;
	}
	if (pb->n_addresses > c->api->lim.max_addresses) {
		send_error(c, id, RS_ELIMIT, "limit exceeded: %zu addresses on one instance "
				"(limit %u)", pb->n_addresses, c->api->lim.max_addresses);
		return RS_ELIMIT;
	}
	struct rs_addr *addrs = rs_arena_alloc(a, (pb->n_addresses + 1) * sizeof(*addrs));
	if (addrs == NULL) {
		send_error(c, id, RS_ENOMEM, "out of memory");
		return RS_ENOMEM;
	}
	for (size_t k = 0; k < pb->n_addresses; k++) {
		if (rs_addr_parse(pb->addresses[k], &addrs[k]) < 0) {
			send_error(c, id, RS_EADDR, "address '%.64s' is not an IPv4 or IPv6 address",
					pb->addresses[k]);
			return RS_EADDR;
		}
	}
	reg->addrs = addrs;
	reg->naddrs = pb->n_addresses;
	if (pb->n_metadata > c->api->lim.max_metadata_entries) {
		send_error(c, id, RS_ELIMIT, "limit exceeded: %zu metadata entries on one instance "
				"(limit %u)", pb->n_metadata,
				c->api->lim.max_metadata_entries);
		return RS_ELIMIT;
	}
	struct store_meta *meta = rs_arena_alloc(a, (pb->n_metadata + 1) * sizeof(*meta));
	if (meta == NULL) {
		send_error(c, id, RS_ENOMEM, "out of memory");
		return RS_ENOMEM;
	}
	for (size_t k = 0; k < pb->n_metadata; k++) {
		meta[k].key = pb->metadata[k]->key;
		meta[k].value = pb->metadata[k]->value;
	}
	reg->meta = meta;
	reg->nmeta = pb->n_metadata;
	return 0;
}

/* A one-line description of a failed write, naming the offending value. */
static void send_store_error(struct conn *c, uint64_t id, int rc, const char *service,
		const char *protocol, const char *host, uint32_t port)
{
	switch (rc) {
	case RS_ENAME_EMPTY:
	case RS_ENAME_LABEL_LONG:
	case RS_ENAME_LONG:
	case RS_ENAME_CHAR:
	case RS_ENAME_HYPHEN:
	case RS_ENAME_NUMERIC: {
		/* Say which of the three names is wrong. */
		const char *which = "host", *value = host;
		if (service == NULL || rs_label_check(service, strlen(service), 0) < 0) {
			which = "service";
			value = service;
		} else if (protocol == NULL || rs_label_check(protocol, strlen(protocol), 0) < 0) {
			which = "protocol";
			value = protocol;
		}
		send_error(c, id, rc, "invalid %s name '%.80s': %s", which,
				value != NULL ? value : "", rs_strerror(rc));
		return;
	}
	case RS_EPORT:
		send_error(c, id, rc, "invalid port %u (1-65535)", port);
		return;
	case RS_ENOENT:
		send_error(c, id, rc, "no instance _%.63s._%.63s %.255s:%u", service, protocol,
				host, port);
		return;
	case RS_ELIMIT:
		send_error(c, id, rc, "limit exceeded");
		return;
	default:
		send_error(c, id, rc, "%s", rs_strerror(rc));
		return;
	}
}

/* A refused registration names the limit it hit, with the flag that sets
 * it and the value in force, so that the operator knows what to raise. */
static void send_limit_error(struct conn *c, uint64_t id, const struct store_limit_hit *hit,
		const struct store_registration *reg)
{
	unsigned long long value = hit->value, max = hit->max;
	const char *svc = reg->service != NULL ? reg->service : "";
	const char *proto = reg->protocol != NULL ? reg->protocol : "";
	const char *host = reg->host != NULL ? reg->host : "";
	switch (hit->kind) {
	case STORE_LIMIT_INSTANCES_PER_LEASE:
		send_error(c, id, RS_ELIMIT,
				"limit exceeded: %llu instances under lease %016llx "
				"(max-instances-per-lease %llu)",
				value, (unsigned long long)reg->lease, max);
		return;
	case STORE_LIMIT_INSTANCES:
		send_error(c, id, RS_ELIMIT,
				"limit exceeded: %llu instances in the registry (max-instances %llu)",
				value, max);
		return;
	case STORE_LIMIT_METADATA_BYTES:
		send_error(c, id, RS_ELIMIT,
				"limit exceeded: %llu metadata bytes on _%.63s._%.63s %.255s:%u "
				"(max-metadata %llu)",
				value, svc, proto, host, reg->port, max);
		return;
	case STORE_LIMIT_METADATA_ENTRIES:
		send_error(c, id, RS_ELIMIT,
				"limit exceeded: %llu metadata entries on _%.63s._%.63s %.255s:%u "
				"(limit %llu)",
				value, svc, proto, host, reg->port, max);
		return;
	case STORE_LIMIT_ADDRESSES:
		send_error(c, id, RS_ELIMIT,
				"limit exceeded: %llu addresses on _%.63s._%.63s %.255s:%u (limit %llu)",
				value, svc, proto, host, reg->port, max);
		return;
	case STORE_LIMIT_NONE:
		break;
	}
	send_error(c, id, RS_ELIMIT, "limit exceeded");
}

/* ---- operations ------------------------------------------------------------ */

static void conn_note_write(struct conn *c, uint64_t id)
{
	if (c->nwrite_ids == c->write_ids_cap) {
		size_t cap = c->write_ids_cap == 0 ? 16 : c->write_ids_cap * 2;
		uint64_t *n = realloc(c->write_ids, cap * sizeof(*n));
		if (n == NULL) {
			return; /* worst case: one writer is not told of a failed commit */
		}
		c->write_ids = n;
		c->write_ids_cap = cap;
	}
	c->write_ids[c->nwrite_ids++] = id;
}

static void op_open_lease(struct conn *c, uint64_t id, const Roster__V1__OpenLeaseRequest *q)
{
	const struct api *api = c->api;
	uint32_t ttl = q != NULL ? q->ttl_seconds : 0;
	const struct store_lease *l = NULL;
	int rc = RS_EEXIST;
	for (int tries = 0; tries < 4 && (rc == RS_EEXIST || rc == RS_ESTORE_FULL); tries++) {
		uint64_t lid = 0;
		while (lid == 0) {
			if (getrandom(&lid, sizeof(lid), 0) != sizeof(lid)) {
				lid = (uint64_t)rand() << 32 ^ (uint64_t)rand() ^ uv_hrtime();
			}
		}
		rc = store_lease_open(api_store(api), ttl, lid, uv_now(api->ctx.loop), &l);
		if (rc == RS_ESTORE_FULL && !api_store_grow(api)) {
			break;
		}
	}
	if (rc < 0) {
		if (rc == RS_ETTL) {
			send_error(c, id, rc, "lease TTL %u s out of range (%u-%u)", ttl,
					STORE_TTL_MIN_S, STORE_TTL_MAX_S);
		} else {
			send_error(c, id, rc, "cannot open lease: %s", rs_strerror(rc));
		}
		return;
	}
	conn_note_write(c, id);
	Roster__V1__OpenLeaseResponse ol = ROSTER__V1__OPEN_LEASE_RESPONSE__INIT;
	ol.lease = l->id;
	ol.ttl_seconds = l->ttl_ms / 1000;
	send_result(c, id, OPEN_LEASE, open_lease, &ol);
}

static void op_heartbeat(struct conn *c, uint64_t id, const Roster__V1__HeartbeatRequest *q)
{
	const struct api *api = c->api;
	const struct store_lease *l = NULL;
	int rc = store_lease_renew(api_store(api), q != NULL ? q->lease : 0, uv_now(api->ctx.loop),
			&l);
	if (rc < 0) {
		send_error(c, id, rc, "lease %016llx is unknown or expired: open a new one and "
				      "register again",
				q != NULL ? (unsigned long long)q->lease : 0ULL);
		return;
	}
	Roster__V1__HeartbeatResponse hb = ROSTER__V1__HEARTBEAT_RESPONSE__INIT;
	hb.ttl_seconds = l->ttl_ms / 1000;
	hb.instances = l->ninstances;
	send_result(c, id, HEARTBEAT, heartbeat, &hb);
}

static void op_register(struct conn *c, uint64_t id, const Roster__V1__RegisterRequest *q)
{
	const struct api *api = c->api;
	if (q == NULL || q->instance == NULL) {
		send_error(c, id, RS_EINVAL, "register: missing instance");
		return;
	}
	struct store_registration reg;
	if (registration_from_pb(c, id, q->instance, q->lease, &reg) < 0) {
		return;
	}
	bool created = false;
	uint64_t rev = 0;
	struct store_limit_hit hit = {0};
	int rc = store_register_ex(api_store(api), &reg, uv_now(api->ctx.loop), wall_ms(), &created,
			&rev, &hit);
	if (rc == RS_ESTORE_FULL && api_store_grow(api)) {
		rc = store_register_ex(api_store(api), &reg, uv_now(api->ctx.loop), wall_ms(),
				&created, &rev, &hit);
	}
	if (rc < 0) {
		if (rc == RS_ELIMIT) {
			send_limit_error(c, id, &hit, &reg);
		} else if (rc == RS_ELEASE) {
			send_error(c, id, rc, "lease %016llx is unknown or expired",
					(unsigned long long)q->lease);
		} else {
			send_store_error(c, id, rc, reg.service, reg.protocol, reg.host, reg.port);
		}
		return;
	}
	conn_note_write(c, id);
	Roster__V1__RegisterResponse rr = ROSTER__V1__REGISTER_RESPONSE__INIT;
	rr.revision = rev;
	rr.created = created;
	send_result(c, id, REGISTER, register_, &rr);
}

static void op_deregister(struct conn *c, uint64_t id, const Roster__V1__DeregisterRequest *q)
{
	const struct api *api = c->api;
	int rc;
	uint32_t removed = 0;
	uint64_t rev = 0;
	if (q == NULL || q->target_case == ROSTER__V1__DEREGISTER_REQUEST__TARGET__NOT_SET) {
		send_error(c, id, RS_EINVAL, "deregister: give an instance or a lease");
		return;
	}
	if (q->target_case == ROSTER__V1__DEREGISTER_REQUEST__TARGET_LEASE) {
		rc = store_lease_close(api_store(api), q->lease, &removed);
		if (rc == RS_ESTORE_FULL && api_store_grow(api)) {
			rc = store_lease_close(api_store(api), q->lease, &removed);
		}
		if (rc < 0) {
			send_error(c, id, rc, "lease %016llx: %s", (unsigned long long)q->lease,
					rs_strerror(rc));
			return;
		}
	} else {
		const Roster__V1__InstanceId *k = q->instance;
		struct store_key key = {k->service, k->protocol, k->host, k->port};
		rc = store_deregister(api_store(api), &key, &rev);
		if (rc == RS_ESTORE_FULL && api_store_grow(api)) {
			rc = store_deregister(api_store(api), &key, &rev);
		}
		if (rc < 0) {
			send_store_error(c, id, rc, k->service, k->protocol, k->host, k->port);
			return;
		}
		removed = 1;
	}
	conn_note_write(c, id);
	Roster__V1__DeregisterResponse dr = ROSTER__V1__DEREGISTER_RESPONSE__INIT;
	dr.revision = store_revision(api_store(api));
	dr.removed = removed;
	send_result(c, id, DEREGISTER, deregister, &dr);
}

static void op_set_status(struct conn *c, uint64_t id, const Roster__V1__SetStatusRequest *q)
{
	const struct api *api = c->api;
	if (q == NULL || q->instance == NULL) {
		send_error(c, id, RS_EINVAL, "set_status: missing instance");
		return;
	}
	enum store_status st;
	switch (q->status) {
	case ROSTER__V1__STATUS__STARTING:
		st = STORE_STATUS_STARTING;
		break;
	case ROSTER__V1__STATUS__UP:
		st = STORE_STATUS_UP;
		break;
	case ROSTER__V1__STATUS__DOWN:
		st = STORE_STATUS_DOWN;
		break;
	default:
		send_error(c, id, RS_ESTATUS, "status must be STARTING, UP or DOWN");
		return;
	}
	const Roster__V1__InstanceId *k = q->instance;
	struct store_key key = {k->service, k->protocol, k->host, k->port};
	uint64_t rev = 0;
	int rc = store_status_set(api_store(api), &key, st, wall_ms(), &rev);
	if (rc == RS_ESTORE_FULL && api_store_grow(api)) {
		rc = store_status_set(api_store(api), &key, st, wall_ms(), &rev);
	}
	if (rc < 0) {
		send_store_error(c, id, rc, k->service, k->protocol, k->host, k->port);
		return;
	}
	conn_note_write(c, id);
	Roster__V1__SetStatusResponse sr = ROSTER__V1__SET_STATUS_RESPONSE__INIT;
	sr.revision = rev;
	send_result(c, id, SET_STATUS, set_status, &sr);
}

static bool served(const struct store_instance *i, bool include_down)
{
	return include_down || i->status == STORE_STATUS_UP;
}

static void op_query(struct conn *c, uint64_t id, const Roster__V1__QueryRequest *q)
{
	const struct api *api = c->api;
	struct rs_arena *a = &c->api->scratch;
	if (q == NULL || q->service == NULL || q->service[0] == '\0') {
		send_error(c, id, RS_EINVAL, "query: missing service");
		return;
	}
	size_t sl = strlen(q->service);
	int rc = rs_label_check(q->service, sl, 0);
	if (rc == 0 && q->protocol != NULL && q->protocol[0] != '\0') {
		rc = rs_label_check(q->protocol, strlen(q->protocol), 0);
	}
	if (rc < 0) {
		send_error(c, id, rc, "invalid service or protocol name: %s", rs_strerror(rc));
		return;
	}
	const struct store_service *first;
	bool one = q->protocol != NULL && q->protocol[0] != '\0';
	if (one) {
		first = store_service_find(api_store(api), q->service, sl, q->protocol,
				strlen(q->protocol));
	} else {
		first = store_service_find_name(api_store(api), q->service, sl);
	}
	size_t n = 0;
	for (const struct store_service *s = first; s != NULL; s = one ? NULL : s->name_next) {
		n += s->ninstances;
	}
	PbInstance **list = rs_arena_alloc(a, (n + 1) * sizeof(*list));
	PbInstance *pbs = rs_arena_alloc(a, (n + 1) * sizeof(*pbs));
	if (list == NULL || pbs == NULL) {
		send_error(c, id, RS_ENOMEM, "out of memory");
		return;
	}
	size_t k = 0;
	for (const struct store_service *s = first; s != NULL; s = one ? NULL : s->name_next) {
		for (uint32_t j = 0; j < s->ninstances; j++) {
			const struct store_instance *i = s->instances[j];
			if (!served(i, q->include_down)) {
				continue;
			}
			if (instance_to_pb(a, s->name, s->protocol, i, &pbs[k]) < 0) {
				send_error(c, id, RS_ENOMEM, "out of memory");
				return;
			}
			list[k] = &pbs[k];
			k++;
		}
	}
	Roster__V1__QueryResponse qr = ROSTER__V1__QUERY_RESPONSE__INIT;
	qr.instances = list;
	qr.n_instances = k;
	qr.revision = store_revision(api_store(api));
	qr.preserving = store_preserving(api_store(api));
	if (send_result(c, id, QUERY, query, &qr) < 0) {
		send_error(c, id, RS_ENOMEM, "out of memory");
	}
}

struct list_ctx {
	struct rs_arena *a;
	Roster__V1__ServiceSummary **items;
	size_t n, cap;
};

static int list_one(const struct store_service *s, void *ud)
{
	struct list_ctx *l = ud;
	if (l->n == l->cap) {
		return 1;
	}
	Roster__V1__ServiceSummary *ss = rs_arena_alloc(l->a, sizeof(*ss));
	if (ss == NULL) {
		return 1;
	}
	roster__v1__service_summary__init(ss);
	ss->service = (char *)s->name;
	ss->protocol = (char *)s->protocol;
	for (uint32_t j = 0; j < s->ninstances; j++) {
		const struct store_instance *i = s->instances[j];
		ss->up += i->status == STORE_STATUS_UP;
		ss->down += i->status == STORE_STATUS_DOWN;
		ss->starting += i->status == STORE_STATUS_STARTING;
		ss->stale += i->stale;
	}
	l->items[l->n++] = ss;
	return 0;
}

static void op_list(struct conn *c, uint64_t id)
{
	const struct api *api = c->api;
	struct store_sizes sz;
	store_sizes_get(api_store(api), &sz);
	struct list_ctx l = {&c->api->scratch, NULL, 0, sz.services};
	l.items = rs_arena_alloc(l.a, (l.cap + 1) * sizeof(*l.items));
	if (l.items == NULL) {
		send_error(c, id, RS_ENOMEM, "out of memory");
		return;
	}
	store_service_foreach(api_store(api), list_one, &l);
	Roster__V1__ListResponse lr = ROSTER__V1__LIST_RESPONSE__INIT;
	lr.services = l.items;
	lr.n_services = l.n;
	lr.revision = store_revision(api_store(api));
	send_result(c, id, LIST, list, &lr);
}

/* The client error reports counted by the DNS module, by code. The DNS
 * worker threads count under the report's own mutex. */
static int stats_reports(struct conn *c, Roster__V1__StatsResponse *st)
{
	const struct api *api = c->api;
	const struct report *rep =
			api->ctx.dns_report != NULL ? api->ctx.dns_report(api->ctx.owner) : NULL;
	if (rep == NULL) {
		return 0;
	}
	struct rs_arena *a = &c->api->scratch;
	typedef Roster__V1__StatsResponse__ClientReportsEntry Entry;
	Entry **list = rs_arena_alloc(a, (REPORT_MAX_CODES + 2) * sizeof(*list));
	Entry *e = rs_arena_alloc(a, (REPORT_MAX_CODES + 2) * sizeof(*e));
	if (list == NULL || e == NULL) {
		return RS_ENOMEM;
	}
	size_t n = 0;
	int rc = 0;
	pthread_mutex_lock((pthread_mutex_t *)&rep->mu);
	for (size_t k = 0; k < rep->ncodes && rc == 0; k++) {
		roster__v1__stats_response__client_reports_entry__init(&e[n]);
		e[n].key = arena_strdup(a, rep->codes[k].code);
		e[n].value = rep->codes[k].count;
		rc = e[n].key == NULL ? RS_ENOMEM : 0;
		list[n] = &e[n];
		n++;
	}
	if (rep->other != 0 && rc == 0) {
		roster__v1__stats_response__client_reports_entry__init(&e[n]);
		e[n].key = "other";
		e[n].value = rep->other;
		list[n] = &e[n];
		n++;
	}
	pthread_mutex_unlock((pthread_mutex_t *)&rep->mu);
	st->client_reports = list;
	st->n_client_reports = n;
	return rc;
}

static void op_stats(struct conn *c, uint64_t id)
{
	struct api *api = c->api;
	struct store_sizes sz;
	store_sizes_get(api_store(api), &sz);
	const struct store_counters *ct = store_counters_get(api_store(api));
	Roster__V1__StatsResponse st = ROSTER__V1__STATS_RESPONSE__INIT;
	st.revision = store_revision(api_store(api));
	st.preserving = store_preserving(api_store(api));
	st.leases = sz.leases;
	st.instances = sz.instances;
	st.instances_up = sz.up;
	st.instances_stale = sz.stale;
	st.services = sz.services;
	st.heartbeats_total = ct->heartbeats;
	st.registrations_total = ct->registrations;
	st.expirations_total = ct->expirations;
	st.api_connections = api_counters_get(api)->connections;
	st.store_bytes = api->ctx.persist != NULL ? persist_bytes(api->ctx.persist) : 0;
	st.uptime_ms = uv_now(api->ctx.loop) - api->ctx.start_mono;
	st.site = (char *)api->ctx.site;
	st.domain = (char *)api->ctx.domain;
	st.zone = (char *)api->ctx.zone;
	st.journal_first_revision = store_journal_first(api_store(api));
	st.dns_queries_total =
			api->ctx.dns_queries != NULL ? api->ctx.dns_queries(api->ctx.owner) : 0;
	if (stats_reports(c, &st) < 0) {
		send_error(c, id, RS_ENOMEM, "out of memory");
		return;
	}
	send_result(c, id, STATS, stats, &st);
}

/* ---- watch ------------------------------------------------------------------ */

static bool watch_matches(const struct watch *w, const char *service)
{
	return w->service[0] == '\0' || strcmp(w->service, service) == 0;
}

static void send_event(struct conn *c, uint64_t watch_id, Roster__V1__WatchEvent__Kind kind,
		uint64_t revision, const char *service, const char *protocol,
		const struct store_instance *i, const char *reason)
{
	struct rs_arena *a = &c->api->scratch;
	Roster__V1__WatchEvent ev = ROSTER__V1__WATCH_EVENT__INIT;
	PbInstance pb;
	ev.kind = kind;
	ev.revision = revision;
	if (i != NULL) {
		if (instance_to_pb(a, service, protocol, i, &pb) < 0) {
			c->close_after_flush = true; /* cannot keep the stream whole */
			return;
		}
		ev.instance = &pb;
	}
	ev.reason = (char *)(reason != NULL ? reason : "");
	if (send_result(c, watch_id, WATCH_EVENT, watch_event, &ev) < 0) {
		c->close_after_flush = true;
	}
	c->api->counters.watch_events++;
	rs_arena_reset(a);
}

static const char *reason_text(enum store_remove_reason r)
{
	switch (r) {
	case STORE_REMOVED_DEREGISTERED:
		return "deregistered";
	case STORE_REMOVED_EXPIRED:
		return "expired";
	case STORE_REMOVED_LEASE_CLOSED:
		return "lease-closed";
	case STORE_REMOVED_STALE_AGED:
		return "stale-aged";
	default:
		return "";
	}
}

struct replay_ctx {
	struct conn *c;
	const struct watch *w;
};

static int replay_one(const struct store_journal_entry *e, void *ud)
{
	struct replay_ctx *r = ud;
	if (!watch_matches(r->w, e->service)) {
		return 0;
	}
	send_event(r->c, r->w->id,
			e->kind == STORE_CHANGE_UPSERT ? ROSTER__V1__WATCH_EVENT__KIND__UPSERT
						       : ROSTER__V1__WATCH_EVENT__KIND__REMOVE,
			e->revision, e->service, e->protocol, e->copy,
			e->kind == STORE_CHANGE_REMOVE ? reason_text(e->reason) : NULL);
	return r->c->close_after_flush ? 1 : 0;
}

static int snapshot_one(const struct store_service *s, void *ud)
{
	struct replay_ctx *r = ud;
	if (!watch_matches(r->w, s->name)) {
		return 0;
	}
	for (uint32_t j = 0; j < s->ninstances; j++) {
		send_event(r->c, r->w->id, ROSTER__V1__WATCH_EVENT__KIND__UPSERT, s->instances[j]->revision,
				s->name, s->protocol, s->instances[j], NULL);
	}
	return r->c->close_after_flush ? 1 : 0;
}

static void op_watch(struct conn *c, uint64_t id, const Roster__V1__WatchRequest *q)
{
	const struct api *api = c->api;
	struct watch w = {.id = id};
	if (q != NULL && q->service != NULL && q->service[0] != '\0') {
		size_t n = strlen(q->service);
		int rc = rs_label_check(q->service, n, 0);
		if (rc < 0) {
			send_error(c, id, rc, "invalid service name: %s", rs_strerror(rc));
			return;
		}
		for (size_t k = 0; k <= n; k++) {
			w.service[k] = (char)rs_ascii_lower((uint8_t)q->service[k]);
		}
	}
	if (c->nwatches >= 64) {
		send_error(c, id, RS_ELIMIT, "at most 64 watches per connection");
		return;
	}
	struct watch *nw = realloc(c->watches, (c->nwatches + 1) * sizeof(*nw));
	if (nw == NULL) {
		send_error(c, id, RS_ENOMEM, "out of memory");
		return;
	}
	c->watches = nw;
	struct replay_ctx r = {c, &w};
	uint64_t since = q != NULL ? q->since_revision : 0;
	uint64_t rev = store_revision(api_store(api));
	if (since == 0 || since > rev ||
			store_journal_foreach(api_store(api), since, replay_one, &r) == RS_ERANGE) {
		send_event(c, id, ROSTER__V1__WATCH_EVENT__KIND__SNAPSHOT_BEGIN, rev, NULL, NULL,
				NULL, NULL);
		store_service_foreach(api_store(api), snapshot_one, &r);
		send_event(c, id, ROSTER__V1__WATCH_EVENT__KIND__SNAPSHOT_END, rev, NULL, NULL, NULL,
				NULL);
	}
	if (c->nwatches++ == 0) {
		watchers_add(c);
	}
	c->watches[c->nwatches - 1] = w;
}

static void op_cancel_watch(struct conn *c, uint64_t id, const Roster__V1__CancelWatchRequest *q)
{
	uint64_t wid = q != NULL ? q->watch_id : 0;
	for (size_t k = 0; k < c->nwatches; k++) {
		if (c->watches[k].id == wid) {
			c->watches[k] = c->watches[--c->nwatches];
			if (c->nwatches == 0) {
				watchers_remove(c);
			}
			Roster__V1__CancelWatchResponse cw = ROSTER__V1__CANCEL_WATCH_RESPONSE__INIT;
			send_result(c, id, CANCEL_WATCH, cancel_watch, &cw);
			return;
		}
	}
	send_error(c, id, RS_ENOENT, "no watch with id %llu", (unsigned long long)wid);
}

void api_on_change(struct api *api, const struct store_change *ch)
{
	const struct store_instance *i = ch->instance;
	const char *svc = i->service->name;
	for (struct conn *c = api->watchers; c != NULL; c = c->watch_next) {
		if (net_tcp_conn_closing(c->tcp)) {
			continue;
		}
		for (size_t k = 0; k < c->nwatches; k++) {
			if (!watch_matches(&c->watches[k], svc)) {
				continue;
			}
			send_event(c, c->watches[k].id,
					ch->kind == STORE_CHANGE_UPSERT
							? ROSTER__V1__WATCH_EVENT__KIND__UPSERT
							: ROSTER__V1__WATCH_EVENT__KIND__REMOVE,
					ch->revision, svc, i->service->protocol, i,
					ch->kind == STORE_CHANGE_REMOVE ? reason_text(ch->reason) : NULL);
		}
	}
}

/* ---- dispatch ------------------------------------------------------------------ */

static void dispatch(struct conn *c, const uint8_t *frame, size_t len)
{
	struct api *api = c->api;
	size_t budget_bytes = len * UNPACK_BUDGET_FACTOR;
	if (budget_bytes < UNPACK_BUDGET_MIN) {
		budget_bytes = UNPACK_BUDGET_MIN;
	}
	struct budget budget = {budget_bytes};
	ProtobufCAllocator alloc = {budget_alloc, budget_free, &budget};
	Request *q = roster__v1__request__unpack(&alloc, len, frame);
	api->counters.requests++;
	if (q == NULL) {
		api->counters.malformed++;
		c->strikes++;
		send_error(c, 0, RS_EPROTO, "malformed request (%zu bytes): not a roster.v1.Request",
				len);
		if (c->strikes >= API_STRIKES) {
			rs_log_notice("api %s: %d malformed frames, closing", c->peer, c->strikes);
			c->close_after_flush = true;
		}
		return;
	}
	switch (q->op_case) {
	case ROSTER__V1__REQUEST__OP_OPEN_LEASE:
		op_open_lease(c, q->id, q->open_lease);
		break;
	case ROSTER__V1__REQUEST__OP_HEARTBEAT:
		op_heartbeat(c, q->id, q->heartbeat);
		break;
	case ROSTER__V1__REQUEST__OP_REGISTER:
		op_register(c, q->id, q->register_);
		break;
	case ROSTER__V1__REQUEST__OP_DEREGISTER:
		op_deregister(c, q->id, q->deregister);
		break;
	case ROSTER__V1__REQUEST__OP_SET_STATUS:
		op_set_status(c, q->id, q->set_status);
		break;
	case ROSTER__V1__REQUEST__OP_QUERY:
		op_query(c, q->id, q->query);
		break;
	case ROSTER__V1__REQUEST__OP_LIST:
		op_list(c, q->id);
		break;
	case ROSTER__V1__REQUEST__OP_WATCH:
		op_watch(c, q->id, q->watch);
		break;
	case ROSTER__V1__REQUEST__OP_STATS:
		op_stats(c, q->id);
		break;
	case ROSTER__V1__REQUEST__OP_CANCEL_WATCH:
		op_cancel_watch(c, q->id, q->cancel_watch);
		break;
	default:
		/* An empty envelope or an operation from a newer client. */
		send_error(c, q->id, RS_ENOTSUP, "unsupported or missing operation");
		break;
	}
	rs_arena_reset(&api->scratch);
	roster__v1__request__free_unpacked(q, &alloc);
}

/* ---- reading ------------------------------------------------------------------- */

/* Decode and answer the frames in @p p (the replies are collected, to be
 * sent by api_flush()). Returns the frames that arrived whole. Separate from
 * the TCP layer's callback so that the fuzz target can drive it. */
static size_t conn_read(struct conn *c, const uint8_t *p, size_t left)
{
	size_t frames = 0;
	while (left > 0 && !c->close_after_flush) {
		size_t used = 0;
		const uint8_t *frame = NULL;
		size_t flen = 0;
		int rc = rs_frame_decode(&c->dec, p, left, &used, &frame, &flen);
		if (rc < 0) {
			if (rc == RS_EFRAME_BIG) {
				c->api->counters.oversized++;
				send_error(c, 0, rc, "frame larger than the %u-byte limit",
						c->api->lim.max_frame);
			} else {
				c->api->counters.malformed++;
				send_error(c, 0, rc, "%s", rs_strerror(rc));
			}
			rs_log_notice("api %s: %s, closing", c->peer, rs_strerror(rc));
			c->close_after_flush = true;
			break;
		}
		p += used;
		left -= used;
		if (rc == 1) {
			dispatch(c, frame, flen);
			c->answered++;
			frames++;
		}
	}
	return frames;
}

static void conn_alloc(struct net_tcp_conn *tc, char **base, size_t *len)
{
	struct conn *c = net_tcp_conn_data(tc);
	*base = (char *)c->api->rbuf;
	*len = sizeof(c->api->rbuf);
}

static void conn_read_op(struct net_tcp_conn *tc, const char *data, size_t len)
{
	struct conn *c = net_tcp_conn_data(tc);
	if (c->close_after_flush) {
		return; /* it broke the stream: nothing more is read from it */
	}
	/* The deadline restarts on whole frames only: a frame must arrive
	 * within the idle time, however its bytes are spread. */
	if (conn_read(c, (const uint8_t *)data, len) > 0) {
		net_tcp_conn_frame_done(tc);
	}
	/* A client pipelining without bound gets at most --max-inflight
	 * requests answered per iteration (plus what its last read already
	 * held): reading resumes after the flush (catalogue 3.13). */
	if (c->answered >= c->api->lim.max_inflight && !c->paused && !net_tcp_conn_closing(tc)) {
		net_tcp_conn_read_pause(tc, true);
		c->paused = true;
		conn_mark_dirty(c);
		rs_log_debug("api %s: %u requests in one iteration, reading paused", c->peer,
				c->answered);
	}
	/* The replies go out from api_flush(), after the iteration's batch
	 * has committed. */
}

static int conn_opened(struct net_tcp_conn *tc)
{
	struct conn *c = net_tcp_conn_data(tc);
	c->tcp = tc;
	c->api = net_tcp_conn_user(tc);
	c->peer = net_tcp_conn_peer_text(tc);
	rs_frame_decoder_init(&c->dec, c->api->lim.max_frame);
	return 0;
}

/* Over a cap: say so before the layer closes it (catalogue 3.10). The error
 * frame is one small write; the client learns why instead of guessing. */
static void conn_refused(struct net_tcp_conn *tc, enum net_tcp_refusal why)
{
	struct api *api = net_tcp_conn_user(tc);
	Response r = ROSTER__V1__RESPONSE__INIT;
	r.error = error_code(RS_EAGAIN);
	r.message = why == NET_TCP_REFUSED_SOURCE   ? "per-source connection limit reached"
		    : why == NET_TCP_REFUSED_DENIED ? "not admitted"
						    : "connection limit reached";
	uint8_t buf[RS_FRAME_HEADER + 128];
	size_t n = protobuf_c_message_get_packed_size(&r.base);
	if (n > sizeof(buf) - RS_FRAME_HEADER) {
		return;
	}
	rs_frame_header_write(buf, (uint32_t)n);
	protobuf_c_message_pack(&r.base, buf + RS_FRAME_HEADER);
	api->counters.errors++;
	(void)net_tcp_conn_send(tc, buf, RS_FRAME_HEADER + n);
}

static const struct net_tcp_ops api_tcp_ops = {
	.opened = conn_opened,
	.refused = conn_refused,
	.alloc = conn_alloc,
	.read = conn_read_op,
	.expired = conn_expired,
	.closed = conn_closed,
};

/* ---- start / stop ------------------------------------------------------------------ */

static void api_tcp_stopped(void *user)
{
	struct api *api = user;
	rs_arena_deinit(&api->scratch);
	free(api);
}

int api_start(const struct api_context *ctx, struct api **out, char *err, size_t errsz)
{
	*out = NULL;
	struct api *api = calloc(1, sizeof(*api));
	if (api == NULL) {
		snprintf(err, errsz, "api: out of memory");
		return RS_ENOMEM;
	}
	api->ctx = *ctx;
	api->lim = ctx->limits;
	rs_arena_init(&api->scratch, 64 * 1024);
	const struct net_tcp_config tc = {
		.name = "api",
		.addrs = ctx->listen,
		.naddrs = ctx->nlisten,
		.backlog = 1024,
		.limits = ctx->limits.tcp,
		.overflow = NET_TCP_OVERFLOW_CLOSE,
		.conn_size = sizeof(struct conn),
		.ops = &api_tcp_ops,
		.user = api,
		.stopped = api_tcp_stopped,
	};
	int rc = net_tcp_start(ctx->loop, &tc, &api->tcp, err, errsz);
	if (rc < 0) {
		if (api->tcp == NULL) {
			api_tcp_stopped(api);
		} else {
			net_tcp_stop(api->tcp); /* frees api once its handles closed */
		}
		return rc;
	}
	*out = api;
	return 0;
}

static void conn_close_after_flush(struct net_tcp_conn *tc, void *arg)
{
	(void)arg;
	struct conn *c = net_tcp_conn_data(tc);
	c->close_after_flush = true;
	conn_mark_dirty(c);
}

void api_stop(struct api *api)
{
	if (api == NULL) {
		return;
	}
	/* Replies already collected go out before the connections close. */
	net_tcp_foreach(api->tcp, conn_close_after_flush, NULL);
	api_flush(api, 0);
	net_tcp_stop(api->tcp);
}

static void conn_limits_apply(struct net_tcp_conn *tc, void *arg)
{
	struct conn *c = net_tcp_conn_data(tc);
	c->dec.max = *(const uint32_t *)arg;
}

void api_limits_set(struct api *api, const struct api_limits *lim)
{
	if (api == NULL) {
		return;
	}
	api->lim = *lim;
	net_tcp_limits_set(api->tcp, &lim->tcp);
	net_tcp_foreach(api->tcp, conn_limits_apply, &api->lim.max_frame);
}

const struct api_counters *api_counters_get(struct api *api)
{
	const struct net_tcp_counters *t = net_tcp_counters_get(api->tcp);
	api->counters.connections = t->open;
	api->counters.accepted = t->accepted;
	api->counters.rejected = t->rejected + t->denied;
	api->counters.rejected_source = t->rejected_source;
	api->counters.idle_closed = t->timed_out;
	api->counters.slow_closed = t->slow_closed;
	return &api->counters;
}
