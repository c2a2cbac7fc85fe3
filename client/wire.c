#include "client/wire.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/inst.h"
#include "common/clock.h"
#include "common/name.h"
#include "proto/frame.h"
#include "proto/roster.pb-c.h"

int wire_error_from_code(int code)
{
	switch (code) {
	case ROSTER__V1__ERROR_CODE__OK:
		return 0;
	case ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT:
		return ROSTER_EINVAL;
	case ROSTER__V1__ERROR_CODE__INVALID_NAME:
		return ROSTER_ENAME;
	case ROSTER__V1__ERROR_CODE__UNKNOWN_LEASE:
		return ROSTER_ELEASE;
	case ROSTER__V1__ERROR_CODE__NOT_FOUND:
		return ROSTER_ENOENT;
	case ROSTER__V1__ERROR_CODE__LIMIT_EXCEEDED:
	case ROSTER__V1__ERROR_CODE__FRAME_TOO_LARGE: /* our request: as refused locally */
		return ROSTER_ELIMIT;
	case ROSTER__V1__ERROR_CODE__MALFORMED:
		return ROSTER_EPROTO;
	case ROSTER__V1__ERROR_CODE__STORAGE_FULL:
	case ROSTER__V1__ERROR_CODE__STORAGE_ERROR:
		return ROSTER_ESTORE;
	case ROSTER__V1__ERROR_CODE__UNAVAILABLE:
		return ROSTER_EAGAIN;
	case ROSTER__V1__ERROR_CODE__UNSUPPORTED:
		return ROSTER_ENOTSUP;
	case ROSTER__V1__ERROR_CODE__PERMISSION_DENIED:
		return ROSTER_EPERM;
	default:
		return ROSTER_ESERVER;
	}
}

/* The identity of @p inst as an InstanceId borrowing its strings. */
static void id_view(Roster__V1__InstanceId *id, const struct roster_instance *inst)
{
	roster__v1__instance_id__init(id);
	id->service = (char *)inst->service;
	id->protocol = (char *)inst->protocol;
	id->host = (char *)inst->host;
	id->port = inst->port;
}

/*
 * A request being encoded and the sub-messages it points to: they live
 * together until the request is packed. One builder per request kind fills
 * its part and points the request at it.
 */
struct req_msg {
	Roster__V1__Request req;
	Roster__V1__OpenLeaseRequest open;
	Roster__V1__HeartbeatRequest hb;
	Roster__V1__RegisterRequest reg;
	Roster__V1__Instance inst;
	Roster__V1__DeregisterRequest dereg;
	Roster__V1__InstanceId id;
	Roster__V1__SetStatusRequest st;
	Roster__V1__QueryRequest q;
	Roster__V1__ListRequest list;
	Roster__V1__WatchRequest w;
	Roster__V1__StatsRequest stats;
	Roster__V1__CancelWatchRequest cw;
	Roster__V1__AuthenticateRequest auth;
	Roster__V1__BackupRequest backup;
	Roster__V1__Instance__MetadataEntry *meta, **meta_ptrs; /**< REGISTER: owned */
};

static int build_open_lease(struct req_msg *m, const struct wire_request *rq)
{
	m->open.ttl_seconds = rq->ttl_seconds;
	m->req.op_case = ROSTER__V1__REQUEST__OP_OPEN_LEASE;
	m->req.open_lease = &m->open;
	return 0;
}

static int build_heartbeat(struct req_msg *m, const struct wire_request *rq)
{
	m->hb.lease = rq->lease;
	m->req.op_case = ROSTER__V1__REQUEST__OP_HEARTBEAT;
	m->req.heartbeat = &m->hb;
	return 0;
}

/* The instance's metadata as entries borrowing its strings. */
static int build_metadata(struct req_msg *m, const struct roster_instance *in)
{
	if (in->n_metadata == 0) {
		return 0;
	}
	m->meta = calloc(in->n_metadata, sizeof(*m->meta));
	m->meta_ptrs = calloc(in->n_metadata, sizeof(*m->meta_ptrs));
	if (m->meta == NULL || m->meta_ptrs == NULL) {
		return ROSTER_ENOMEM;
	}
	for (size_t i = 0; i < in->n_metadata; i++) {
		roster__v1__instance__metadata_entry__init(&m->meta[i]);
		m->meta[i].key = (char *)in->metadata[i].key;
		m->meta[i].value = (char *)in->metadata[i].value;
		m->meta_ptrs[i] = &m->meta[i];
	}
	m->inst.n_metadata = in->n_metadata;
	m->inst.metadata = m->meta_ptrs;
	return 0;
}

static int build_register(struct req_msg *m, const struct wire_request *rq)
{
	const struct roster_instance *in = rq->inst;
	m->inst.service = (char *)in->service;
	m->inst.protocol = (char *)in->protocol;
	m->inst.host = (char *)in->host;
	m->inst.port = in->port;
	m->inst.n_addresses = in->n_addresses;
	m->inst.addresses = (char **)in->addresses;
	m->inst.priority = in->priority;
	m->inst.weight = in->weight;
	m->inst.status = (Roster__V1__Status)in->status;
	int rc = build_metadata(m, in);
	if (rc != 0) {
		return rc;
	}
	m->reg.instance = &m->inst;
	m->reg.lease = rq->lease;
	m->req.op_case = ROSTER__V1__REQUEST__OP_REGISTER;
	m->req.register_ = &m->reg;
	return 0;
}

static int build_deregister_instance(struct req_msg *m, const struct wire_request *rq)
{
	id_view(&m->id, rq->inst);
	m->dereg.target_case = ROSTER__V1__DEREGISTER_REQUEST__TARGET_INSTANCE;
	m->dereg.instance = &m->id;
	/* The lease it is registered under: rosterd changes an instance of a
	 * lease only through that lease. */
	m->dereg.owner_lease = rq->lease;
	m->req.op_case = ROSTER__V1__REQUEST__OP_DEREGISTER;
	m->req.deregister = &m->dereg;
	return 0;
}

static int build_deregister_lease(struct req_msg *m, const struct wire_request *rq)
{
	m->dereg.target_case = ROSTER__V1__DEREGISTER_REQUEST__TARGET_LEASE;
	m->dereg.lease = rq->lease;
	m->req.op_case = ROSTER__V1__REQUEST__OP_DEREGISTER;
	m->req.deregister = &m->dereg;
	return 0;
}

static int build_set_status(struct req_msg *m, const struct wire_request *rq)
{
	id_view(&m->id, rq->inst);
	m->st.instance = &m->id;
	m->st.status = (Roster__V1__Status)rq->status;
	m->st.lease = rq->lease;
	m->req.op_case = ROSTER__V1__REQUEST__OP_SET_STATUS;
	m->req.set_status = &m->st;
	return 0;
}

static int build_query(struct req_msg *m, const struct wire_request *rq)
{
	m->q.service = (char *)(rq->service != NULL ? rq->service : "");
	m->q.protocol = (char *)(rq->protocol != NULL ? rq->protocol : "");
	m->q.include_down = rq->include_down != 0;
	m->req.op_case = ROSTER__V1__REQUEST__OP_QUERY;
	m->req.query = &m->q;
	return 0;
}

static int build_list(struct req_msg *m, const struct wire_request *rq)
{
	(void)rq;
	m->req.op_case = ROSTER__V1__REQUEST__OP_LIST;
	m->req.list = &m->list;
	return 0;
}

static int build_watch(struct req_msg *m, const struct wire_request *rq)
{
	m->w.service = (char *)(rq->service != NULL ? rq->service : "");
	m->w.since_revision = rq->since_revision;
	m->req.op_case = ROSTER__V1__REQUEST__OP_WATCH;
	m->req.watch = &m->w;
	return 0;
}

static int build_stats(struct req_msg *m, const struct wire_request *rq)
{
	(void)rq;
	m->req.op_case = ROSTER__V1__REQUEST__OP_STATS;
	m->req.stats = &m->stats;
	return 0;
}

static int build_cancel_watch(struct req_msg *m, const struct wire_request *rq)
{
	m->cw.watch_id = rq->watch_id;
	m->req.op_case = ROSTER__V1__REQUEST__OP_CANCEL_WATCH;
	m->req.cancel_watch = &m->cw;
	return 0;
}

static int build_authenticate(struct req_msg *m, const struct wire_request *rq)
{
	m->auth.token = (char *)(rq->token != NULL ? rq->token : "");
	m->req.op_case = ROSTER__V1__REQUEST__OP_AUTHENTICATE;
	m->req.authenticate = &m->auth;
	return 0;
}

static int build_backup(struct req_msg *m, const struct wire_request *rq)
{
	m->backup.path = (char *)(rq->path != NULL ? rq->path : "");
	m->req.op_case = ROSTER__V1__REQUEST__OP_BACKUP;
	m->req.backup = &m->backup;
	return 0;
}

/* The builder of each request kind, by enum wire_op. */
static int (*const request_builders[])(struct req_msg *, const struct wire_request *) = {
		[WIRE_OPEN_LEASE] = build_open_lease,
		[WIRE_HEARTBEAT] = build_heartbeat,
		[WIRE_REGISTER] = build_register,
		[WIRE_DEREGISTER_INSTANCE] = build_deregister_instance,
		[WIRE_DEREGISTER_LEASE] = build_deregister_lease,
		[WIRE_SET_STATUS] = build_set_status,
		[WIRE_QUERY] = build_query,
		[WIRE_LIST] = build_list,
		[WIRE_WATCH] = build_watch,
		[WIRE_STATS] = build_stats,
		[WIRE_CANCEL_WATCH] = build_cancel_watch,
		[WIRE_AUTHENTICATE] = build_authenticate,
		[WIRE_BACKUP] = build_backup,
};

/* Pack @p req as one frame, or only size it when @p frame is NULL. */
static int request_frame(const Roster__V1__Request *req, uint8_t **frame, size_t *len)
{
	size_t body = roster__v1__request__get_packed_size(req);
	*len = RS_FRAME_HEADER + body;
	if (body > RS_FRAME_MAX_DEFAULT) {
		return ROSTER_ELIMIT;
	}
	if (frame == NULL) {
		return 0; /* the size alone */
	}
	uint8_t *buf = malloc(RS_FRAME_HEADER + body);
	if (buf == NULL) {
		return ROSTER_ENOMEM;
	}
	rs_frame_header_write(buf, (uint32_t)body);
	roster__v1__request__pack(req, buf + RS_FRAME_HEADER);
	*frame = buf;
	return 0;
}

int wire_request_encode(const struct wire_request *rq, uint8_t **frame, size_t *len)
{
	size_t n = sizeof(request_builders) / sizeof(request_builders[0]);
	if ((size_t)rq->op >= n || request_builders[rq->op] == NULL) {
		return ROSTER_EINVAL;
	}
	struct req_msg m = {
			.req = ROSTER__V1__REQUEST__INIT,
			.open = ROSTER__V1__OPEN_LEASE_REQUEST__INIT,
			.hb = ROSTER__V1__HEARTBEAT_REQUEST__INIT,
			.reg = ROSTER__V1__REGISTER_REQUEST__INIT,
			.inst = ROSTER__V1__INSTANCE__INIT,
			.dereg = ROSTER__V1__DEREGISTER_REQUEST__INIT,
			.id = ROSTER__V1__INSTANCE_ID__INIT,
			.st = ROSTER__V1__SET_STATUS_REQUEST__INIT,
			.q = ROSTER__V1__QUERY_REQUEST__INIT,
			.list = ROSTER__V1__LIST_REQUEST__INIT,
			.w = ROSTER__V1__WATCH_REQUEST__INIT,
			.stats = ROSTER__V1__STATS_REQUEST__INIT,
			.cw = ROSTER__V1__CANCEL_WATCH_REQUEST__INIT,
			.auth = ROSTER__V1__AUTHENTICATE_REQUEST__INIT,
			.backup = ROSTER__V1__BACKUP_REQUEST__INIT,
	};
	m.req.id = rq->id;
	int rc = request_builders[rq->op](&m, rq);
	if (rc == 0) {
		rc = request_frame(&m.req, frame, len);
	}
	free(m.meta);
	free(m.meta_ptrs);
	return rc;
}

/* A packed copy of a wire Instance. An identity a registry would have
 * refused (service, protocol, host, port) is ROSTER_EPROTO: rosterd never
 * sends one, and the names go to terminals and caches as they are. */
static int instance_from_pb(struct roster_instance *dst, const Roster__V1__Instance *pb)
{
	if (pb->port < 1 || pb->port > 65535 || inst_label_check(pb->service) != 0 ||
			inst_label_check(pb->protocol) != 0 || pb->host == NULL ||
			rs_name_check(pb->host, 0) != 0) {
		return ROSTER_EPROTO;
	}
	struct roster_meta stack_meta[16];
	struct roster_meta *meta = stack_meta;
	if (pb->n_metadata > 16) {
		meta = calloc(pb->n_metadata, sizeof(*meta));
		if (meta == NULL) {
			return ROSTER_ENOMEM;
		}
	}
	for (size_t i = 0; i < pb->n_metadata; i++) {
		meta[i].key = pb->metadata[i]->key;
		meta[i].value = pb->metadata[i]->value;
	}
	struct roster_instance view = {
			.service = pb->service,
			.protocol = pb->protocol,
			.host = pb->host,
			.port = (uint16_t)pb->port,
			.addresses = (const char *const *)pb->addresses,
			.n_addresses = pb->n_addresses,
			.priority = (uint16_t)pb->priority,
			.weight = (uint16_t)pb->weight,
			.metadata = meta,
			.n_metadata = pb->n_metadata,
			.status = (int)pb->status >= 0 && (int)pb->status <= (int)ROSTER_DOWN
						  ? (enum roster_status)pb->status
						  : ROSTER_STATUS_UNSPECIFIED,
			.registered_at_ms = pb->registered_at_ms,
			.status_since_ms = pb->status_since_ms,
			.expiry = (int)pb->expiry >= 0 && (int)pb->expiry <= (int)ROSTER_STATIC
						  ? (enum roster_expiry)pb->expiry
						  : ROSTER_EXPIRY_UNSPECIFIED,
			.lease = pb->lease,
			.stale = pb->stale,
	};
	int rc = inst_pack(dst, &view);
	if (meta != stack_meta) {
		free(meta);
	}
	return rc;
}

static int query_from_pb(struct wire_response *out, const Roster__V1__QueryResponse *pb)
{
	struct roster_result *r = inst_result_new(pb->n_instances);
	if (r == NULL) {
		return ROSTER_ENOMEM;
	}
	out->query = r;
	r->revision = pb->revision;
	r->preserving = pb->preserving;
	r->fetched_at_ms = rs_clock_wall_ms();
	out->revision = pb->revision;
	for (size_t i = 0; i < pb->n_instances; i++) {
		int rc = instance_from_pb(&r->instances[i], pb->instances[i]);
		if (rc != 0) {
			return rc;
		}
		r->n_instances++;
	}
	return 0;
}

static int list_from_pb(struct wire_response *out, const Roster__V1__ListResponse *pb)
{
	/* One block: the array, then the strings. Names as instance_from_pb(). */
	size_t strings = 0;
	for (size_t i = 0; i < pb->n_services; i++) {
		if (inst_label_check(pb->services[i]->service) != 0 ||
				inst_label_check(pb->services[i]->protocol) != 0) {
			return ROSTER_EPROTO;
		}
		strings += strlen(pb->services[i]->service) + strlen(pb->services[i]->protocol) + 2;
	}
	size_t arr = pb->n_services * sizeof(struct roster_service);
	struct roster_list *l = calloc(1, sizeof(*l) + arr + strings);
	if (l == NULL) {
		return ROSTER_ENOMEM;
	}
	l->services = (struct roster_service *)(l + 1);
	l->n_services = pb->n_services;
	l->revision = pb->revision;
	char *pos = (char *)l->services + arr;
	for (size_t i = 0; i < pb->n_services; i++) {
		const Roster__V1__ServiceSummary *s = pb->services[i];
		struct roster_service *d = &l->services[i];
		size_t n = strlen(s->service) + 1;
		memcpy(pos, s->service, n);
		d->service = pos;
		pos += n;
		n = strlen(s->protocol) + 1;
		memcpy(pos, s->protocol, n);
		d->protocol = pos;
		pos += n;
		d->up = s->up;
		d->down = s->down;
		d->starting = s->starting;
		d->stale = s->stale;
	}
	out->list = l;
	out->revision = pb->revision;
	return 0;
}

/* The length of the well-formed UTF-8 sequence at @p s (RFC 3629: no
 * overlong forms, no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s)
{
	static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t n = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
	if (n == 0 || s[0] > 0xF4) {
		return 0;
	}
	uint32_t cp = s[0] & (0x7Fu >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80) {
			return 0; /* the NUL at the end stops here too */
		}
		cp = cp << 6 | (s[i] & 0x3Fu);
	}
	if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
		return 0;
	}
	return n;
}

/*
 * Copy a registry's free text (a message, a site name, a report code) into
 * a char[@p dstsz] for people and JSON: control characters (C0, DEL, and
 * the C1 range, where CSI lives) and bytes that are not UTF-8 become '?',
 * so that no registry can move a terminal's cursor or forge an output line,
 * and a cut never splits a character.
 */
static void copy_str(char *dst, size_t dstsz, const char *src)
{
	const unsigned char *s = (const unsigned char *)(src != NULL ? src : "");
	size_t n = 0;
	while (*s != '\0' && n + 1 < dstsz) {
		size_t len = *s < 0x80 ? 1 : utf8_len(s);
		bool c1 = len == 2 && s[0] == 0xC2 && s[1] < 0xA0;
		if (len == 0 || c1 || (len == 1 && (*s < 0x20 || *s == 0x7F))) {
			dst[n++] = '?';
			s += len > 0 ? len : 1;
			continue;
		}
		if (n + len + 1 > dstsz) {
			break;
		}
		memcpy(dst + n, s, len);
		n += len;
		s += len;
	}
	dst[n] = '\0';
}

static void stats_from_pb(struct roster_stats *d, const Roster__V1__StatsResponse *s)
{
	d->revision = s->revision;
	d->preserving = s->preserving;
	d->leases = s->leases;
	d->instances = s->instances;
	d->instances_up = s->instances_up;
	d->instances_stale = s->instances_stale;
	d->services = s->services;
	d->heartbeats_total = s->heartbeats_total;
	d->registrations_total = s->registrations_total;
	d->expirations_total = s->expirations_total;
	d->api_connections = s->api_connections;
	d->store_bytes = s->store_bytes;
	d->uptime_ms = s->uptime_ms;
	d->journal_first_revision = s->journal_first_revision;
	d->dns_queries_total = s->dns_queries_total;
	copy_str(d->site, sizeof(d->site), s->site);
	copy_str(d->domain, sizeof(d->domain), s->domain);
	copy_str(d->zone, sizeof(d->zone), s->zone);
	/* Keep the largest counts when there are more codes than room. */
	for (size_t i = 0; i < s->n_client_reports; i++) {
		const Roster__V1__StatsResponse__ClientReportsEntry *e = s->client_reports[i];
		size_t slot = d->n_reports;
		if (slot == ROSTER_STATS_MAX_REPORTS) {
			slot = 0;
			for (size_t j = 1; j < d->n_reports; j++) {
				slot = d->reports[j].count < d->reports[slot].count ? j : slot;
			}
			if (d->reports[slot].count >= e->value) {
				continue;
			}
		} else {
			d->n_reports++;
		}
		copy_str(d->reports[slot].code, sizeof(d->reports[slot].code), e->key);
		d->reports[slot].count = e->value;
	}
}

int wire_response_decode(const uint8_t *buf, size_t len, struct wire_response *out)
{
	memset(out, 0, sizeof(*out));
	Roster__V1__Response *m = roster__v1__response__unpack(NULL, len, buf);
	if (m == NULL) {
		return ROSTER_EPROTO;
	}
	int rc = 0;
	out->id = m->id;
	out->error = wire_error_from_code((int)m->error);
	out->too_large = m->error == ROSTER__V1__ERROR_CODE__FRAME_TOO_LARGE;
	copy_str(out->message, sizeof(out->message), m->message);
	switch (m->result_case) {
	case ROSTER__V1__RESPONSE__RESULT_OPEN_LEASE:
		out->result = WIRE_RESULT_OPEN_LEASE;
		out->lease = m->open_lease->lease;
		out->ttl_seconds = m->open_lease->ttl_seconds;
		break;
	case ROSTER__V1__RESPONSE__RESULT_HEARTBEAT:
		out->result = WIRE_RESULT_HEARTBEAT;
		out->ttl_seconds = m->heartbeat->ttl_seconds;
		out->count = m->heartbeat->instances;
		break;
	case ROSTER__V1__RESPONSE__RESULT_REGISTER:
		out->result = WIRE_RESULT_REGISTER;
		out->revision = m->register_->revision;
		out->created = m->register_->created;
		break;
	case ROSTER__V1__RESPONSE__RESULT_DEREGISTER:
		out->result = WIRE_RESULT_DEREGISTER;
		out->revision = m->deregister->revision;
		out->count = m->deregister->removed;
		break;
	case ROSTER__V1__RESPONSE__RESULT_SET_STATUS:
		out->result = WIRE_RESULT_SET_STATUS;
		out->revision = m->set_status->revision;
		break;
	case ROSTER__V1__RESPONSE__RESULT_QUERY:
		out->result = WIRE_RESULT_QUERY;
		rc = query_from_pb(out, m->query);
		break;
	case ROSTER__V1__RESPONSE__RESULT_LIST:
		out->result = WIRE_RESULT_LIST;
		rc = list_from_pb(out, m->list);
		break;
	case ROSTER__V1__RESPONSE__RESULT_WATCH_EVENT: {
		const Roster__V1__WatchEvent *e = m->watch_event;
		out->result = WIRE_RESULT_WATCH_EVENT;
		out->watch_kind = (enum roster_watch_kind)e->kind;
		out->revision = e->revision;
		copy_str(out->reason, sizeof(out->reason), e->reason);
		if (e->instance != NULL) {
			rc = instance_from_pb(&out->watch_inst, e->instance);
		}
		if (e->kind < ROSTER__V1__WATCH_EVENT__KIND__SNAPSHOT_BEGIN ||
				e->kind > ROSTER__V1__WATCH_EVENT__KIND__REMOVE) {
			rc = rc != 0 ? rc : ROSTER_EPROTO;
		}
		break;
	}
	case ROSTER__V1__RESPONSE__RESULT_STATS:
		out->result = WIRE_RESULT_STATS;
		stats_from_pb(&out->stats, m->stats);
		break;
	case ROSTER__V1__RESPONSE__RESULT_CANCEL_WATCH:
		out->result = WIRE_RESULT_CANCEL_WATCH;
		break;
	case ROSTER__V1__RESPONSE__RESULT_BACKUP:
		out->result = WIRE_RESULT_BACKUP;
		out->backup_bytes = m->backup->bytes;
		out->backup_ms = m->backup->duration_ms;
		break;
	default:
		out->result = WIRE_RESULT_NONE;
		break;
	}
	roster__v1__response__free_unpacked(m, NULL);
	if (rc != 0) {
		wire_response_deinit(out);
	}
	return rc;
}

void wire_response_deinit(struct wire_response *r)
{
	if (r == NULL) {
		return;
	}
	roster_result_free(r->query);
	r->query = NULL;
	roster_list_free(r->list);
	r->list = NULL;
	inst_release(&r->watch_inst);
}
