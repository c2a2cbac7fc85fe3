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
#include "server/dns/dnsio.h"
#include "server/dns/report.h"
#include "server/server.h"

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

struct conn {
	uv_tcp_t tcp;
	uv_timer_t idle;
	struct api *api;
	struct conn *prev, *next;
	struct conn *dirty_next;
	bool dirty;
	bool closing;
	bool close_after_flush;
	int handles;
	struct rs_frame_decoder dec;
	/* Replies held until the batch holding their writes has committed: a
	 * sealed generation first (api_seal(): its batch is being committed),
	 * then the one still being collected. Each counts its bytes of out,
	 * its writes (ids in write_ids) and its requests (of answered). */
	uint8_t *out;
	size_t out_len, out_cap;
	uint64_t *write_ids; /* write requests answered and not yet flushed */
	size_t nwrite_ids, write_ids_cap;
	size_t sealed_len;
	size_t nsealed_ids;
	uint32_t sealed_answered;
	struct watch *watches;
	size_t nwatches;
	struct conn *watch_prev, *watch_next; /* api->watchers, while nwatches > 0 */
	int strikes;
	uint32_t answered;   /* requests answered and not yet flushed */
	bool paused;         /* reading stopped until a flush brings answered down */
	struct conncap_ticket ticket; /* its place under the connection caps */
	char peer[RS_ADDR_TEXT_MAX];
};

struct wreq {
	uv_write_t req;
	uint8_t *buf;
};

struct listener {
	uv_tcp_t tcp;
	struct api *api;
};

struct api {
	struct server *srv;
	struct listener listeners[CONFIG_MAX_LISTEN];
	size_t nlisteners;
	int handles; /* open listener handles */
	struct conn *conns;
	struct conn *watchers; /* connections with at least one watch */
	struct conn *dirty;
	struct api_counters counters;
	struct conncap cap;      /* admission: global and per-source connection caps */
	struct rs_arena scratch; /* per-response encoding scratch */
	bool stopping;
	uint8_t rbuf[65536];     /* every read lands here and is consumed at once */
};

static void api_maybe_free(struct api *api);
static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

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

static int conn_reserve(struct conn *c, size_t need)
{
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
	return 0;
}

/* Append one framed message to the generation being collected. */
static int conn_append(struct conn *c, const ProtobufCMessage *msg)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	size_t need = c->out_len + RS_FRAME_HEADER + n;
	if (conn_reserve(c, need) < 0) {
		return RS_ENOMEM;
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

/* ---- connection life cycle -------------------------------------------------- */

static void conn_free(struct conn *c)
{
	struct api *api = c->api;
	if (c->prev != NULL) {
		c->prev->next = c->next;
	} else {
		api->conns = c->next;
	}
	if (c->next != NULL) {
		c->next->prev = c->prev;
	}
	if (c->dirty) {
		struct conn **pp = &api->dirty;
		while (*pp != c) {
			pp = &(*pp)->dirty_next;
		}
		*pp = c->dirty_next;
	}
	if (c->nwatches > 0) {
		watchers_remove(c);
	}
	rs_frame_decoder_deinit(&c->dec);
	free(c->out);
	free(c->write_ids);
	free(c->watches);
	conncap_release(&api->cap, &c->ticket);
	free(c);
	api->counters.connections--;
	api_maybe_free(api);
}

static void conn_handle_close_cb(uv_handle_t *h)
{
	struct conn *c = h->data;
	if (--c->handles == 0) {
		conn_free(c);
	}
}

static void conn_close(struct conn *c)
{
	if (c->closing) {
		return;
	}
	c->closing = true;
	uv_read_stop((uv_stream_t *)&c->tcp);
	uv_close((uv_handle_t *)&c->tcp, conn_handle_close_cb);
	uv_close((uv_handle_t *)&c->idle, conn_handle_close_cb);
}

static void conn_idle_cb(uv_timer_t *t)
{
	struct conn *c = t->data;
	if (c->nwatches > 0) {
		return; /* a watcher is silent by nature */
	}
	c->api->counters.idle_closed++;
	rs_log_debug("api %s: idle for %u ms, closing", c->peer, c->api->srv->cfg.api_idle_ms);
	conn_close(c);
}

static void write_cb(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = req->data;
	free(w->buf);
	free(w);
	if (status < 0 && !c->closing) {
		rs_log_debug("api %s: write failed: %s", c->peer, uv_strerror(status));
		conn_close(c);
	}
}

/* Write the first @p len bytes held, which answered @p nanswered requests,
 * @p nids of them writes, and forget them. */
static void conn_send(struct conn *c, size_t len, size_t nids, uint32_t nanswered)
{
	struct api *api = c->api;
	if (c->closing) {
		return;
	}
	if (len > 0) {
		struct wreq *w = malloc(sizeof(*w));
		if (w == NULL) {
			conn_close(c);
			return;
		}
		if (len == c->out_len) {
			w->buf = c->out;
			c->out = NULL;
			c->out_len = c->out_cap = 0;
		} else {
			/* A later generation stays behind, still held. */
			w->buf = malloc(len);
			if (w->buf == NULL) {
				free(w);
				conn_close(c);
				return;
			}
			memcpy(w->buf, c->out, len);
			memmove(c->out, c->out + len, c->out_len - len);
			c->out_len -= len;
		}
		w->req.data = c;
		uv_buf_t b = uv_buf_init((char *)w->buf, (unsigned)len);
		int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
		if (rc < 0) {
			/* An error return never calls the callback. */
			free(w->buf);
			free(w);
			conn_close(c);
			return;
		}
	}
	if (nids > 0) {
		c->nwrite_ids -= nids;
		memmove(c->write_ids, c->write_ids + nids, c->nwrite_ids * sizeof(*c->write_ids));
	}
	c->answered -= nanswered;
	c->sealed_len = c->nsealed_ids = 0;
	c->sealed_answered = 0;
	if (c->close_after_flush && c->out_len == 0) {
		conn_close(c);
		return;
	}
	if (c->paused && c->answered < api->srv->cfg.api_max_inflight) {
		c->paused = false;
		uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb);
	}
	/* A client that does not read its replies is cut off before its
	 * queue takes the server's memory (catalogue 3.12). */
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > api->srv->cfg.api_max_outbuf) {
		api->counters.slow_closed++;
		rs_log_notice("api %s: not reading its replies (%zu bytes queued), closing", c->peer,
				uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp));
		conn_close(c);
	}
}

/* Everything held goes: for a connection that waits for no commit. */
static void conn_flush(struct conn *c)
{
	conn_send(c, c->out_len, c->nwrite_ids, c->answered);
}

/* The sealed generation's batch did not reach the disk: none of its replies
 * may be acknowledged. Each of its writers gets an error instead; what was
 * collected after it stays held. */
static void conn_fail_sealed(struct conn *c, int commit_rc)
{
	uint8_t *held = c->out;
	size_t held_len = c->out_len, tail = c->out_len - c->sealed_len;
	c->out = NULL;
	c->out_len = c->out_cap = 0;
	for (size_t k = 0; k < c->nsealed_ids; k++) {
		send_error(c, c->write_ids[k], commit_rc, "store commit failed: %s",
				rs_strerror(commit_rc));
	}
	c->sealed_len = c->out_len;
	if (tail > 0 && conn_reserve(c, c->out_len + tail) == 0) {
		memcpy(c->out + c->out_len, held + held_len - tail, tail);
		c->out_len += tail;
	} else if (tail > 0) {
		c->close_after_flush = true; /* out of memory: its later replies are lost */
	}
	free(held);
}

void api_seal(struct api *api)
{
	for (struct conn *c = api->dirty; c != NULL; c = c->dirty_next) {
		c->sealed_len = c->out_len;
		c->nsealed_ids = c->nwrite_ids;
		c->sealed_answered = c->answered;
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
		if (commit_rc < 0 && c->nsealed_ids > 0) {
			conn_fail_sealed(c, commit_rc);
		}
		if (commit_rc < 0 && c->nwatches > 0) {
			/* Its stream carried events of the lost batch. */
			c->close_after_flush = true;
		}
		if (api->stopping) {
			conn_flush(c); /* the server committed everything before */
		} else {
			conn_send(c, c->sealed_len, c->nsealed_ids, c->sealed_answered);
		}
		if (!c->closing && (c->out_len > 0 || c->paused)) {
			conn_mark_dirty(c); /* a later generation is still held */
		}
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
	if (pb->n_addresses > c->api->srv->cfg.limits.max_addresses) {
		send_error(c, id, RS_ELIMIT, "limit exceeded: %zu addresses on one instance "
				"(limit %u)", pb->n_addresses, c->api->srv->cfg.limits.max_addresses);
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
	if (pb->n_metadata > c->api->srv->cfg.limits.max_metadata_entries) {
		send_error(c, id, RS_ELIMIT, "limit exceeded: %zu metadata entries on one instance "
				"(limit %u)", pb->n_metadata,
				c->api->srv->cfg.limits.max_metadata_entries);
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
	struct server *srv = c->api->srv;
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
		rc = store_lease_open(srv->store, ttl, lid, uv_now(srv->loop), &l);
		if (rc == RS_ESTORE_FULL && !server_store_grow(srv)) {
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
	struct server *srv = c->api->srv;
	const struct store_lease *l = NULL;
	int rc = store_lease_renew(srv->store, q != NULL ? q->lease : 0, uv_now(srv->loop), &l);
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
	struct server *srv = c->api->srv;
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
	int rc = store_register_ex(srv->store, &reg, uv_now(srv->loop), server_wall_ms(), &created,
			&rev, &hit);
	if (rc == RS_ESTORE_FULL && server_store_grow(srv)) {
		rc = store_register_ex(srv->store, &reg, uv_now(srv->loop), server_wall_ms(),
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
	struct server *srv = c->api->srv;
	int rc;
	uint32_t removed = 0;
	uint64_t rev = 0;
	if (q == NULL || q->target_case == ROSTER__V1__DEREGISTER_REQUEST__TARGET__NOT_SET) {
		send_error(c, id, RS_EINVAL, "deregister: give an instance or a lease");
		return;
	}
	if (q->target_case == ROSTER__V1__DEREGISTER_REQUEST__TARGET_LEASE) {
		rc = store_lease_close(srv->store, q->lease, &removed);
		if (rc == RS_ESTORE_FULL && server_store_grow(srv)) {
			rc = store_lease_close(srv->store, q->lease, &removed);
		}
		if (rc < 0) {
			send_error(c, id, rc, "lease %016llx: %s", (unsigned long long)q->lease,
					rs_strerror(rc));
			return;
		}
	} else {
		const Roster__V1__InstanceId *k = q->instance;
		struct store_key key = {k->service, k->protocol, k->host, k->port};
		rc = store_deregister(srv->store, &key, &rev);
		if (rc == RS_ESTORE_FULL && server_store_grow(srv)) {
			rc = store_deregister(srv->store, &key, &rev);
		}
		if (rc < 0) {
			send_store_error(c, id, rc, k->service, k->protocol, k->host, k->port);
			return;
		}
		removed = 1;
	}
	conn_note_write(c, id);
	Roster__V1__DeregisterResponse dr = ROSTER__V1__DEREGISTER_RESPONSE__INIT;
	dr.revision = store_revision(srv->store);
	dr.removed = removed;
	send_result(c, id, DEREGISTER, deregister, &dr);
}

static void op_set_status(struct conn *c, uint64_t id, const Roster__V1__SetStatusRequest *q)
{
	struct server *srv = c->api->srv;
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
	int rc = store_status_set(srv->store, &key, st, server_wall_ms(), &rev);
	if (rc == RS_ESTORE_FULL && server_store_grow(srv)) {
		rc = store_status_set(srv->store, &key, st, server_wall_ms(), &rev);
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
	struct server *srv = c->api->srv;
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
		first = store_service_find(srv->store, q->service, sl, q->protocol,
				strlen(q->protocol));
	} else {
		first = store_service_find_name(srv->store, q->service, sl);
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
	qr.revision = store_revision(srv->store);
	qr.preserving = store_preserving(srv->store);
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
	struct server *srv = c->api->srv;
	struct store_sizes sz;
	store_sizes_get(srv->store, &sz);
	struct list_ctx l = {&c->api->scratch, NULL, 0, sz.services};
	l.items = rs_arena_alloc(l.a, (l.cap + 1) * sizeof(*l.items));
	if (l.items == NULL) {
		send_error(c, id, RS_ENOMEM, "out of memory");
		return;
	}
	store_service_foreach(srv->store, list_one, &l);
	Roster__V1__ListResponse lr = ROSTER__V1__LIST_RESPONSE__INIT;
	lr.services = l.items;
	lr.n_services = l.n;
	lr.revision = store_revision(srv->store);
	send_result(c, id, LIST, list, &lr);
}

/* The client error reports counted by the DNS module, by code. The DNS
 * worker threads count under the report's own mutex. */
static int stats_reports(struct conn *c, Roster__V1__StatsResponse *st)
{
	const struct report *rep =
			c->api->srv->dnsio != NULL ? dnsio_report(c->api->srv->dnsio) : NULL;
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
	struct server *srv = c->api->srv;
	struct store_sizes sz;
	store_sizes_get(srv->store, &sz);
	const struct store_counters *ct = store_counters_get(srv->store);
	Roster__V1__StatsResponse st = ROSTER__V1__STATS_RESPONSE__INIT;
	st.revision = store_revision(srv->store);
	st.preserving = store_preserving(srv->store);
	st.leases = sz.leases;
	st.instances = sz.instances;
	st.instances_up = sz.up;
	st.instances_stale = sz.stale;
	st.services = sz.services;
	st.heartbeats_total = ct->heartbeats;
	st.registrations_total = ct->registrations;
	st.expirations_total = ct->expirations;
	st.api_connections = c->api->counters.connections;
	st.store_bytes = persist_bytes(srv->persist);
	st.uptime_ms = uv_now(srv->loop) - srv->start_mono;
	st.site = srv->cfg.site;
	st.domain = srv->cfg.domain;
	st.zone = srv->cfg.zone;
	st.journal_first_revision = store_journal_first(srv->store);
	st.dns_queries_total = srv->dnsio != NULL ? dnsio_queries_total(srv->dnsio) : 0;
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
	struct server *srv = c->api->srv;
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
	uint64_t rev = store_revision(srv->store);
	if (since == 0 || since > rev ||
			store_journal_foreach(srv->store, since, replay_one, &r) == RS_ERANGE) {
		send_event(c, id, ROSTER__V1__WATCH_EVENT__KIND__SNAPSHOT_BEGIN, rev, NULL, NULL,
				NULL, NULL);
		store_service_foreach(srv->store, snapshot_one, &r);
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
		if (c->closing) {
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

/* ---- reading --------------------------------------------------------------------- */

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct conn *c = h->data;
	buf->base = (char *)c->api->rbuf;
	buf->len = sizeof(c->api->rbuf);
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	if (nread < 0) {
		if (nread != UV_EOF) {
			rs_log_debug("api %s: read error: %s", c->peer, uv_strerror((int)nread));
		} else if (!rs_frame_decoder_idle(&c->dec)) {
			rs_log_debug("api %s: %s", c->peer, rs_strerror(RS_EFRAME_TRUNC));
		}
		conn_close(c);
		return;
	}
	if (nread == 0 || c->close_after_flush) {
		return;
	}
	uv_timer_again(&c->idle);
	const uint8_t *p = (const uint8_t *)buf->base;
	size_t left = (size_t)nread;
	while (left > 0 && !c->close_after_flush) {
		size_t used = 0;
		const uint8_t *frame = NULL;
		size_t flen = 0;
		int rc = rs_frame_decode(&c->dec, p, left, &used, &frame, &flen);
		if (rc < 0) {
			if (rc == RS_EFRAME_BIG) {
				c->api->counters.oversized++;
				send_error(c, 0, rc, "frame larger than the %u-byte limit",
						c->api->srv->cfg.api_max_frame);
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
		}
	}
	/* A client pipelining without bound gets at most --max-inflight
	 * requests answered per iteration (plus what its last read already
	 * held): reading resumes after the flush (catalogue 3.13). */
	if (c->answered >= c->api->srv->cfg.api_max_inflight && !c->paused && !c->closing) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->paused = true;
		conn_mark_dirty(c);
		rs_log_debug("api %s: %u requests in one iteration, reading paused", c->peer,
				c->answered);
	}
	/* The replies go out from the server's check handle, after the
	 * iteration's batch has committed. */
}

static void conn_reject_close_cb(uv_handle_t *h)
{
	free(h->data);
}

static void on_connection_cb(uv_stream_t *server, int status)
{
	struct listener *l = server->data;
	struct api *api = l->api;
	if (status < 0) {
		rs_log_warning("api: accept failed: %s", uv_strerror(status));
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return;
	}
	c->api = api;
	const struct conncap_limits lim = {api->srv->cfg.api_max_conns,
			api->srv->cfg.api_max_per_source};
	struct sockaddr_storage ss;
	int verdict = server_tcp_accept(api->srv, server, &c->tcp, c, &api->cap, &lim, "api", &ss,
			&c->ticket);
	if (verdict < 0) {
		uv_close((uv_handle_t *)&c->tcp, conn_reject_close_cb);
		return;
	}
	uv_timer_init(api->srv->loop, &c->idle);
	c->idle.data = c;
	c->handles = 2;
	c->next = api->conns;
	if (api->conns != NULL) {
		api->conns->prev = c;
	}
	api->conns = c;
	api->counters.connections++;
	api->counters.accepted++;
	rs_frame_decoder_init(&c->dec, api->srv->cfg.api_max_frame);
	if (ss.ss_family != AF_UNSPEC) {
		rs_endpoint_format((struct sockaddr *)&ss, c->peer);
	} else {
		snprintf(c->peer, sizeof(c->peer), "?");
	}
	if (verdict != CONNCAP_ADMIT || api->stopping) {
		/* Over a cap: say so and close (catalogue 3.10). The error frame
		 * is one small write; the client learns why instead of guessing. */
		api->counters.rejected++;
		if (verdict == CONNCAP_OVER_SOURCE) {
			api->counters.rejected_source++;
		}
		send_error(c, 0, RS_EAGAIN, "%s",
				api->stopping                   ? "server shutting down"
				: verdict == CONNCAP_OVER_SOURCE ? "per-source connection limit reached"
								 : "connection limit reached");
		c->close_after_flush = true;
		conn_flush(c);
		c->dirty = false;
		api->dirty = c->dirty_next;
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	uv_timer_start(&c->idle, conn_idle_cb, api->srv->cfg.api_idle_ms, api->srv->cfg.api_idle_ms);
	uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb);
}

/* ---- start / stop ------------------------------------------------------------------ */

static void api_maybe_free(struct api *api)
{
	if (api->stopping && api->handles == 0 && api->conns == NULL) {
		api->srv->api = NULL;
		rs_arena_deinit(&api->scratch);
		conncap_deinit(&api->cap);
		free(api);
	}
}

static void listener_close_cb(uv_handle_t *h)
{
	struct listener *l = h->data;
	l->api->handles--;
	api_maybe_free(l->api);
}

int api_start(struct server *srv, struct api **out, char *err, size_t errsz)
{
	struct api *api = calloc(1, sizeof(*api));
	if (api == NULL) {
		snprintf(err, errsz, "out of memory");
		return RS_ENOMEM;
	}
	api->srv = srv;
	conncap_init(&api->cap);
	rs_arena_init(&api->scratch, 64 * 1024);
	srv->api = api;
	*out = api;
	for (size_t k = 0; k < srv->cfg.api.n; k++) {
		struct listener *l = &api->listeners[k];
		l->api = api;
		api->handles++;
		api->nlisteners++;
		int rc = server_tcp_listen(srv, &l->tcp, l,
				(const struct sockaddr *)&srv->cfg.api.addrs[k], 1024, on_connection_cb,
				"api", err, errsz);
		if (rc < 0) {
			api_stop(api);
			return rc;
		}
		char text[RS_ADDR_TEXT_MAX];
		rs_endpoint_format((const struct sockaddr *)&srv->cfg.api.addrs[k], text);
		rs_log_info("api listening on %s", text);
	}
	return 0;
}

void api_stop(struct api *api)
{
	if (api == NULL || api->stopping) {
		return;
	}
	api->stopping = true;
	for (size_t k = 0; k < api->nlisteners; k++) {
		uv_close((uv_handle_t *)&api->listeners[k].tcp, listener_close_cb);
	}
	/* Replies already collected go out before the connections close. */
	for (struct conn *c = api->conns; c != NULL; c = c->next) {
		c->close_after_flush = true;
		conn_mark_dirty(c);
	}
	api_flush(api, 0);
	api_maybe_free(api);
}

void api_limits_reload(struct api *api)
{
	for (struct conn *c = api->conns; c != NULL; c = c->next) {
		c->dec.max = api->srv->cfg.api_max_frame;
		if (!c->closing) {
			uv_timer_set_repeat(&c->idle, api->srv->cfg.api_idle_ms);
		}
	}
}

const struct api_counters *api_counters_get(const struct api *api)
{
	return &api->counters;
}
