#include "server/api/ops_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/error.h"
#include "server/api/convert.h"
#include "server/api/watch.h"
#include "server/stats.h"

typedef Roster__V1__Request Request;
typedef Roster__V1__Response Response;
typedef Roster__V1__Instance PbInstance;

/* ---- answering ----------------------------------------------------------- */

/* Answer with a result (see API_CONVERT_RESULT_APPEND); a reply that cannot
 * be built closes the connection: its client would wait for it forever. */
#define op_result(o_, CASE, field, msg_)                                                           \
	do {                                                                                       \
		if (API_CONVERT_RESULT_APPEND((o_)->out, (o_)->id, CASE, field, (msg_)) < 0) {     \
			(o_)->res->flags |= API_OPS_CLOSE;                                         \
		}                                                                                  \
	} while (0)

/* The reply acknowledges a write: the transport holds it until the commit. */
static void op_wrote(struct op *o)
{
	o->res->flags |= API_OPS_WRITE;
}

/* A one-line description of a failed write, naming the offending value. */
static void op_store_error(struct op *o, int rc, const char *service, const char *protocol,
		const char *host, uint32_t port)
{
	if (api_convert_error_code(rc) == ROSTER__V1__ERROR_CODE__INVALID_NAME) {
		/* Say which of the three names is wrong. */
		const char *which = "host", *value = host;
		if (service == NULL || rs_label_check(service, strlen(service), 0) < 0) {
			which = "service";
			value = service;
		} else if (protocol == NULL || rs_label_check(protocol, strlen(protocol), 0) < 0) {
			which = "protocol";
			value = protocol;
		}
		api_op_error(o, rc, "invalid %s name '%.80s': %s", which,
				value != NULL ? value : "", rs_strerror(rc));
		return;
	}
	switch (rc) {
	case RS_EPORT:
		api_op_error(o, rc, "invalid port %u (1-65535)", port);
		return;
	case RS_ENOENT:
		api_op_error(o, rc, "no instance _%.63s._%.63s %.255s:%u", service, protocol, host,
				port);
		return;
	case RS_EFIXED:
		api_op_error(o, rc,
				"_%.63s._%.63s %.255s:%u is static (this registry's --static file): "
				"not changed through the API; change the file on every registry "
				"of the site and reload them (SIGHUP)",
				service, protocol, host, port);
		return;
	case RS_ELIMIT:
		api_op_error(o, rc, "limit exceeded");
		return;
	default:
		api_op_error(o, rc, "%s", rs_strerror(rc));
		return;
	}
}

/* A refused registration names the limit it hit, with the flag that sets
 * it and the value in force, so that the operator knows what to raise. */
static void op_limit_error(struct op *o, const struct store_limit_hit *hit,
		const struct store_registration *reg)
{
	unsigned long long value = hit->value, max = hit->max;
	const char *svc = reg->service != NULL ? reg->service : "";
	const char *proto = reg->protocol != NULL ? reg->protocol : "";
	const char *host = reg->host != NULL ? reg->host : "";
	switch (hit->kind) {
	case STORE_LIMIT_INSTANCES_PER_LEASE:
		api_op_error(o, RS_ELIMIT,
				"limit exceeded: %llu instances under lease %016llx "
				"(max-instances-per-lease %llu)",
				value, (unsigned long long)reg->lease, max);
		return;
	case STORE_LIMIT_INSTANCES:
		api_op_error(o, RS_ELIMIT,
				"limit exceeded: %llu instances in the registry "
				"(max-instances %llu)",
				value, max);
		return;
	case STORE_LIMIT_METADATA_BYTES:
		api_op_error(o, RS_ELIMIT,
				"limit exceeded: %llu metadata bytes on _%.63s._%.63s %.255s:%u "
				"(max-metadata %llu)",
				value, svc, proto, host, reg->port, max);
		return;
	case STORE_LIMIT_METADATA_ENTRIES:
		api_op_error(o, RS_ELIMIT,
				"limit exceeded: %llu metadata entries on _%.63s._%.63s %.255s:%u "
				"(limit %llu)",
				value, svc, proto, host, reg->port, max);
		return;
	case STORE_LIMIT_ADDRESSES:
		api_op_error(o, RS_ELIMIT,
				"limit exceeded: %llu addresses on _%.63s._%.63s %.255s:%u "
				"(limit %llu)",
				value, svc, proto, host, reg->port, max);
		return;
	case STORE_LIMIT_NONE:
		break;
	}
	api_op_error(o, RS_ELIMIT, "limit exceeded");
}

/* ---- access control (SPEC "Access control and abuse limits") ------------------ */

/* What the audit log names as the request's target. */
static void audit_instance(struct op *o, const char *op, const char *service, const char *protocol,
		const char *host, uint32_t port)
{
	struct api_ops_audit *a = &o->res->audit;
	a->op = op;
	snprintf(a->target, sizeof(a->target), "_%.63s._%.63s %.255s:%u", service ? service : "",
			protocol ? protocol : "", host ? host : "", port);
}

static void audit_lease(struct op *o, const char *op, uint64_t lease)
{
	struct api_ops_audit *a = &o->res->audit;
	a->op = op;
	if (lease != 0) {
		/* The first half only: a lease id is the capability to renew it, and
		 * the audit log is for reading, not for taking leases over. */
		snprintf(a->target, sizeof(a->target), "lease %08llx...",
				(unsigned long long)(lease >> 32));
	}
}

static void op_authenticate(struct op *o, const Roster__V1__AuthenticateRequest *q)
{
	o->res->audit.op = "authenticate";
	const struct api_tokens *set = o->ctx->tokens;
	Roster__V1__AuthenticateResponse ar = ROSTER__V1__AUTHENTICATE_RESPONSE__INIT;
	if (set == NULL) {
		/* An open API: nothing to check, every request allowed. */
		o->res->flags |= API_OPS_AUTH;
		o->res->token = NULL;
		op_result(o, AUTHENTICATE, authenticate, &ar);
		return;
	}
	const char *token = q != NULL && q->token != NULL ? q->token : "";
	uint8_t digest[API_TOKEN_DIGEST];
	api_tokens_digest(token, strlen(token), digest);
	const struct api_token *tok = api_tokens_find(set, digest);
	if (tok == NULL) {
		o->write = true; /* audited: someone tried a token */
		api_op_refuse(o, API_OPS_REFUSED_BAD_TOKEN, "token refused");
		if (o->ctx->tokens_dry_run) {
			/* Answered as an open API would: unauthenticated, served. */
			api_op_refusal_undo(o);
			o->res->flags |= API_OPS_AUTH;
			o->res->token = NULL;
			op_result(o, AUTHENTICATE, authenticate, &ar);
		}
		return;
	}
	o->res->flags |= API_OPS_AUTH;
	o->res->token = tok;
	char *scopes[2 + 64];
	char buf[64][RS_LABEL_MAX + 8];
	size_t n = 0;
	if (tok->scopes & API_SCOPE_ADMIN) {
		scopes[n++] = "admin";
	}
	if (tok->scopes & API_SCOPE_READ) {
		scopes[n++] = "read";
	}
	for (size_t g = 0; g < tok->nglobs && g < 64; g++) {
		snprintf(buf[g], sizeof(buf[g]), "write:%s", tok->globs[g]);
		scopes[n++] = buf[g];
	}
	ar.name = (char *)tok->name;
	ar.scopes = scopes;
	ar.n_scopes = n;
	op_result(o, AUTHENTICATE, authenticate, &ar);
}

/* ---- writes ------------------------------------------------------------------ */

static uint64_t lease_id_random(void)
{
	uint64_t id = 0;
	while (id == 0) {
		if (getrandom(&id, sizeof(id), 0) != sizeof(id)) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			id = (uint64_t)rand() << 32 ^ (uint64_t)rand() ^ (uint64_t)ts.tv_nsec;
		}
	}
	return id;
}

static void op_open_lease(struct op *o, const Roster__V1__OpenLeaseRequest *q)
{
	uint32_t ttl = q != NULL ? q->ttl_seconds : 0;
	const struct store_lease *l = NULL;
	int rc = RS_EEXIST;
	o->write = true;
	audit_lease(o, "open_lease", 0);
	if (!api_op_allowed(o, OP_WRITE, NULL)) {
		return;
	}
	/* A random id that is taken already: draw again. */
	for (int tries = 0; tries < 4 && rc == RS_EEXIST; tries++) {
		rc = store_lease_open(o->ctx->store, ttl, lease_id_random(), o->ctx->now_ms, &l);
	}
	if (rc < 0) {
		if (rc == RS_ETTL) {
			api_op_error(o, rc, "lease TTL %u s out of range (%u-%u)", ttl,
					STORE_TTL_MIN_S, STORE_TTL_MAX_S);
		} else {
			api_op_error(o, rc, "cannot open lease: %s", rs_strerror(rc));
		}
		return;
	}
	store_lease_set_owner(o->ctx->store, l->id, api_op_token_tag(o));
	op_wrote(o);
	audit_lease(o, "open_lease", l->id);
	Roster__V1__OpenLeaseResponse ol = ROSTER__V1__OPEN_LEASE_RESPONSE__INIT;
	ol.lease = l->id;
	ol.ttl_seconds = l->ttl_ms / 1000;
	op_result(o, OPEN_LEASE, open_lease, &ol);
}

static void op_heartbeat(struct op *o, const Roster__V1__HeartbeatRequest *q)
{
	const struct store_lease *l = NULL;
	uint64_t lease = q != NULL ? q->lease : 0;
	o->write = true;
	o->res->audit.op = "heartbeat";
	if (!api_op_allowed(o, OP_WRITE, NULL) || !api_op_lease_ok(o, lease)) {
		audit_lease(o, "heartbeat", lease);
		return;
	}
	int rc = store_lease_renew(o->ctx->store, lease, o->ctx->now_ms, &l);
	if (rc < 0) {
		api_op_error(o, rc,
				"lease %016llx is unknown or expired: open a new one and register "
				"again",
				(unsigned long long)lease);
		return;
	}
	o->quiet = true; /* heartbeats are the hot path: only refusals are audited */
	Roster__V1__HeartbeatResponse hb = ROSTER__V1__HEARTBEAT_RESPONSE__INIT;
	hb.ttl_seconds = l->ttl_ms / 1000;
	hb.instances = l->ninstances;
	op_result(o, HEARTBEAT, heartbeat, &hb);
}

static void op_register(struct op *o, const Roster__V1__RegisterRequest *q)
{
	o->write = true;
	o->res->audit.op = "register";
	if (q == NULL || q->instance == NULL) {
		api_op_error(o, RS_EINVAL, "register: missing instance");
		return;
	}
	const PbInstance *pi = q->instance;
	audit_instance(o, "register", pi->service, pi->protocol, pi->host, pi->port);
	if (!api_op_allowed(o, OP_WRITE, pi->service)) {
		return;
	}
	struct store_key key = {pi->service, pi->protocol, pi->host, pi->port};
	if (!api_op_owner_ok(o, &key, q->lease) || !api_op_lease_ok(o, q->lease)) {
		return;
	}
	struct store_registration reg;
	char msg[256];
	int rc = api_convert_registration(q->instance, q->lease, o->ctx->limits, o->ctx->scratch,
			&reg, msg, sizeof(msg));
	if (rc < 0) {
		api_op_error(o, rc, "%s", msg);
		return;
	}
	bool created = false;
	uint64_t rev = 0;
	struct store_limit_hit hit = {0};
	rc = store_register_ex(
			o->ctx->store, &reg, o->ctx->now_ms, o->ctx->wall_ms, &created, &rev, &hit);
	if (rc == RS_ELIMIT) {
		op_limit_error(o, &hit, &reg);
		return;
	}
	if (rc == RS_ELEASE) {
		api_op_error(o, rc, "lease %016llx is unknown or expired",
				(unsigned long long)q->lease);
		return;
	}
	if (rc < 0) {
		op_store_error(o, rc, reg.service, reg.protocol, reg.host, reg.port);
		return;
	}
	op_wrote(o);
	Roster__V1__RegisterResponse rr = ROSTER__V1__REGISTER_RESPONSE__INIT;
	rr.revision = rev;
	rr.created = created;
	op_result(o, REGISTER, register_, &rr);
}

static void op_deregister(struct op *o, const Roster__V1__DeregisterRequest *q)
{
	uint32_t removed = 0;
	o->write = true;
	o->res->audit.op = "deregister";
	if (q == NULL || q->target_case == ROSTER__V1__DEREGISTER_REQUEST__TARGET__NOT_SET) {
		api_op_error(o, RS_EINVAL, "deregister: give an instance or a lease");
		return;
	}
	if (q->target_case == ROSTER__V1__DEREGISTER_REQUEST__TARGET_LEASE) {
		audit_lease(o, "deregister", q->lease);
		if (!api_op_allowed(o, OP_WRITE, NULL) || !api_op_lease_ok(o, q->lease)) {
			return;
		}
		int rc = store_lease_close(o->ctx->store, q->lease, &removed);
		if (rc < 0) {
			api_op_error(o, rc, "lease %016llx: %s", (unsigned long long)q->lease,
					rs_strerror(rc));
			return;
		}
	} else {
		const Roster__V1__InstanceId *k = q->instance;
		struct store_key key = {k->service, k->protocol, k->host, k->port};
		audit_instance(o, "deregister", k->service, k->protocol, k->host, k->port);
		if (!api_op_allowed(o, OP_WRITE, k->service) ||
				!api_op_owner_ok(o, &key, q->owner_lease) ||
				!api_op_lease_ok(o, q->owner_lease)) {
			return;
		}
		uint64_t rev = 0;
		int rc = store_deregister(o->ctx->store, &key, &rev);
		if (rc < 0) {
			op_store_error(o, rc, k->service, k->protocol, k->host, k->port);
			return;
		}
		removed = 1;
	}
	op_wrote(o);
	Roster__V1__DeregisterResponse dr = ROSTER__V1__DEREGISTER_RESPONSE__INIT;
	/* The store's revision after the removal: a lease may have taken
	 * several instances with it, each its own revision. */
	dr.revision = store_revision(o->ctx->store);
	dr.removed = removed;
	op_result(o, DEREGISTER, deregister, &dr);
}

static void op_set_status(struct op *o, const Roster__V1__SetStatusRequest *q)
{
	o->write = true;
	o->res->audit.op = "set_status";
	if (q == NULL || q->instance == NULL) {
		api_op_error(o, RS_EINVAL, "set_status: missing instance");
		return;
	}
	const Roster__V1__InstanceId *k = q->instance;
	struct store_key key = {k->service, k->protocol, k->host, k->port};
	audit_instance(o, "set_status", k->service, k->protocol, k->host, k->port);
	if (!api_op_allowed(o, OP_WRITE, k->service) || !api_op_owner_ok(o, &key, q->lease) ||
			!api_op_lease_ok(o, q->lease)) {
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
		api_op_error(o, RS_ESTATUS, "status must be STARTING, UP or DOWN");
		return;
	}
	uint64_t rev = 0;
	int rc = store_status_set(o->ctx->store, &key, st, o->ctx->wall_ms, &rev);
	if (rc < 0) {
		op_store_error(o, rc, k->service, k->protocol, k->host, k->port);
		return;
	}
	op_wrote(o);
	Roster__V1__SetStatusResponse sr = ROSTER__V1__SET_STATUS_RESPONSE__INIT;
	sr.revision = rev;
	op_result(o, SET_STATUS, set_status, &sr);
}

/* ---- reads ----------------------------------------------------------------- */

static bool served(const struct store_instance *i, bool include_down)
{
	return include_down || i->status == STORE_STATUS_UP;
}

static bool has_text(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* The services a Query names: one (service, protocol) pair, or every
 * protocol of the service (a chain through name_next). */
static const struct store_service *query_first(
		const struct store *store, const Roster__V1__QueryRequest *q, bool one)
{
	size_t sl = strlen(q->service);
	if (one) {
		return store_service_find(store, q->service, sl, q->protocol, strlen(q->protocol));
	}
	return store_service_find_name(store, q->service, sl);
}

static void op_query(struct op *o, const Roster__V1__QueryRequest *q)
{
	struct rs_arena *a = o->ctx->scratch;
	if (q == NULL || !has_text(q->service)) {
		api_op_error(o, RS_EINVAL, "query: missing service");
		return;
	}
	/* The server checks the names itself: a client that does not is
	 * answered INVALID_NAME, not an empty list. */
	bool one = has_text(q->protocol);
	int rc = rs_label_check(q->service, strlen(q->service), 0);
	if (rc == 0 && one) {
		rc = rs_label_check(q->protocol, strlen(q->protocol), 0);
	}
	if (rc < 0) {
		api_op_error(o, rc, "invalid service or protocol name: %s", rs_strerror(rc));
		return;
	}
	const struct store_service *first = query_first(o->ctx->store, q, one);
	size_t n = 0;
	for (const struct store_service *s = first; s != NULL; s = one ? NULL : s->name_next) {
		n += s->ninstances;
	}
	PbInstance **list = rs_arena_alloc(a, (n + 1) * sizeof(*list));
	PbInstance *pbs = rs_arena_alloc(a, (n + 1) * sizeof(*pbs));
	if (list == NULL || pbs == NULL) {
		api_op_error(o, RS_ENOMEM, "out of memory");
		return;
	}
	size_t k = 0;
	for (const struct store_service *s = first; s != NULL; s = one ? NULL : s->name_next) {
		for (uint32_t j = 0; j < s->ninstances; j++) {
			const struct store_instance *i = s->instances[j];
			if (!served(i, q->include_down)) {
				continue;
			}
			if (api_convert_instance_to_pb(a, s->name, s->protocol, i, &pbs[k]) < 0) {
				api_op_error(o, RS_ENOMEM, "out of memory");
				return;
			}
			list[k] = &pbs[k];
			k++;
		}
	}
	Roster__V1__QueryResponse qr = ROSTER__V1__QUERY_RESPONSE__INIT;
	qr.instances = list;
	qr.n_instances = k;
	qr.revision = store_revision(o->ctx->store);
	qr.preserving = store_preserving(o->ctx->store);
	if (API_CONVERT_RESULT_APPEND(o->out, o->id, QUERY, query, &qr) < 0) {
		/* A large answer may not fit where a short error does. */
		api_op_error(o, RS_ENOMEM, "out of memory");
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

static void op_list(struct op *o)
{
	struct store_sizes sz;
	store_sizes_get(o->ctx->store, &sz);
	struct list_ctx l = {o->ctx->scratch, NULL, 0, sz.services};
	l.items = rs_arena_alloc(l.a, (l.cap + 1) * sizeof(*l.items));
	if (l.items == NULL) {
		api_op_error(o, RS_ENOMEM, "out of memory");
		return;
	}
	if (store_service_foreach(o->ctx->store, list_one, &l) != 0) {
		api_op_error(o, RS_ENOMEM, "out of memory"); /* never a shorter list */
		return;
	}
	Roster__V1__ListResponse lr = ROSTER__V1__LIST_RESPONSE__INIT;
	lr.services = l.items;
	lr.n_services = l.n;
	lr.revision = store_revision(o->ctx->store);
	op_result(o, LIST, list, &lr);
}

/* The client error reports by code, then "other" for the codes past the
 * first REPORT_MAX_CODES. The keys point into @p snap. */
static int stats_reports(struct rs_arena *a, const struct stats_snapshot *snap,
		Roster__V1__StatsResponse *st)
{
	if (!snap->dns.running) {
		return 0;
	}
	const struct report_counters *rep = &snap->dns.reports;
	typedef Roster__V1__StatsResponse__ClientReportsEntry Entry;
	Entry **list = rs_arena_alloc(a, (REPORT_MAX_CODES + 2) * sizeof(*list));
	Entry *e = rs_arena_alloc(a, (REPORT_MAX_CODES + 2) * sizeof(*e));
	if (list == NULL || e == NULL) {
		return RS_ENOMEM;
	}
	size_t n = 0;
	for (size_t k = 0; k < rep->ncodes; k++, n++) {
		roster__v1__stats_response__client_reports_entry__init(&e[n]);
		e[n].key = (char *)rep->codes[k].code;
		e[n].value = rep->codes[k].count;
		list[n] = &e[n];
	}
	if (rep->other != 0) {
		roster__v1__stats_response__client_reports_entry__init(&e[n]);
		e[n].key = "other";
		e[n].value = rep->other;
		list[n] = &e[n];
		n++;
	}
	st->client_reports = list;
	st->n_client_reports = n;
	return 0;
}

static uint64_t dns_queries_total(const struct stats_snapshot *snap)
{
	const struct answer_counters *a = &snap->dns.answers;
	uint64_t n = 0;
	for (int t = 0; t < ANSWER_Q_COUNT; t++) {
		n += a->queries[t][ANSWER_UDP] + a->queries[t][ANSWER_TCP];
	}
	return n;
}

static void op_stats(struct op *o)
{
	if (o->ctx->stats == NULL) {
		api_op_error(o, RS_ENOTSUP, "stats are not available here");
		return;
	}
	struct stats_snapshot snap;
	o->ctx->stats(&snap, o->ctx->stats_ud);
	const struct stats_store *store = &snap.store;
	Roster__V1__StatsResponse st = ROSTER__V1__STATS_RESPONSE__INIT;
	st.revision = store->revision;
	st.preserving = store->preserving;
	st.leases = store->sizes.leases;
	st.instances = store->sizes.instances;
	st.instances_up = store->sizes.up;
	st.instances_stale = store->sizes.stale;
	st.services = store->sizes.services;
	st.heartbeats_total = store->counters.heartbeats;
	st.registrations_total = store->counters.registrations;
	st.expirations_total = store->counters.expirations;
	st.api_connections = snap.api.connections;
	st.store_bytes = snap.persist.bytes;
	st.uptime_ms = snap.uptime_ms;
	st.site = snap.site;
	st.domain = snap.domain;
	st.zone = snap.zone;
	st.journal_first_revision = store->journal_first;
	st.dns_queries_total = dns_queries_total(&snap);
	if (stats_reports(o->ctx->scratch, &snap, &st) < 0) {
		api_op_error(o, RS_ENOMEM, "out of memory");
		return;
	}
	op_result(o, STATS, stats, &st);
}

/* ---- watch ------------------------------------------------------------------ */

static void op_watch(struct op *o, const Roster__V1__WatchRequest *q)
{
	struct api_watch w = {.id = o->id};
	if (q != NULL && has_text(q->service)) {
		size_t n = strlen(q->service);
		int rc = rs_label_check(q->service, n, 0);
		if (rc < 0) {
			api_op_error(o, rc, "invalid service name: %s", rs_strerror(rc));
			return;
		}
		for (size_t k = 0; k <= n; k++) {
			w.service[k] = (char)rs_ascii_lower((uint8_t)q->service[k]);
		}
	}
	if (o->ctx->nwatches >= API_OPS_MAX_WATCHES) {
		api_op_error(o, RS_ELIMIT, "at most %d watches per connection",
				API_OPS_MAX_WATCHES);
		return;
	}
	struct api_watch_sink sink = {o->out, o->ctx->scratch, &o->ctx->counters->watch_events};
	if (api_watch_open(o->ctx->store, &w, q != NULL ? q->since_revision : 0, &sink) < 0) {
		o->res->flags |= API_OPS_CLOSE; /* a stream with a gap must not go on */
		return;
	}
	o->res->flags |= API_OPS_WATCH_START;
	o->res->watch = w;
}

static void op_cancel_watch(struct op *o, const Roster__V1__CancelWatchRequest *q)
{
	uint64_t wid = q != NULL ? q->watch_id : 0;
	for (size_t k = 0; k < o->ctx->nwatches; k++) {
		if (o->ctx->watches[k].id == wid) {
			o->res->flags |= API_OPS_WATCH_CANCEL;
			o->res->cancel_id = wid;
			Roster__V1__CancelWatchResponse cw =
					ROSTER__V1__CANCEL_WATCH_RESPONSE__INIT;
			op_result(o, CANCEL_WATCH, cancel_watch, &cw);
			return;
		}
	}
	api_op_error(o, RS_ENOENT, "no watch with id %llu", (unsigned long long)wid);
}

/* ---- backup ------------------------------------------------------------------ */

static void op_backup(struct op *o, const Roster__V1__BackupRequest *q)
{
	o->res->audit.op = "backup";
	if (!api_op_allowed(o, OP_ADMIN, NULL)) {
		return;
	}
	if (o->ctx->backup == NULL) {
		api_op_error(o, RS_ENOTSUP, "backups are not available here");
		return;
	}
	const char *path = q != NULL && q->path != NULL ? q->path : "";
	if (path[0] != '/') {
		api_op_error(o, RS_EINVAL,
				"backup: the path must be absolute (a file on the registry's "
				"host), not '%s'",
				path);
		return;
	}
	int rc = o->ctx->backup(path, o->ctx->backup_ud);
	if (rc == RS_EBUSY) {
		api_op_error(o, rc, "backup: another backup is running; try again when it is done");
	} else if (rc < 0) {
		api_op_error(o, rc, "backup %s: cannot start: %s", path, rs_strerror(rc));
	} else {
		o->res->flags |= API_OPS_DEFERRED;
	}
}

int api_ops_backup_append(struct api_ops_out *out, uint64_t id, int rc, uint64_t bytes,
		uint64_t duration_ms, const char *msg)
{
	if (rc < 0) {
		return api_ops_error_append(out, id, rc, msg);
	}
	Roster__V1__BackupResponse br = ROSTER__V1__BACKUP_RESPONSE__INIT;
	br.bytes = bytes;
	br.duration_ms = duration_ms;
	return API_CONVERT_RESULT_APPEND(out, id, BACKUP, backup, &br);
}

/* ---- dispatch ------------------------------------------------------------------ */

/* Operations that read: each needs a read scope (any scope implies it). */
static bool op_reads(int op_case)
{
	switch (op_case) {
	case ROSTER__V1__REQUEST__OP_QUERY:
	case ROSTER__V1__REQUEST__OP_LIST:
	case ROSTER__V1__REQUEST__OP_WATCH:
	case ROSTER__V1__REQUEST__OP_STATS:
	case ROSTER__V1__REQUEST__OP_CANCEL_WATCH:
		return true;
	default:
		return false;
	}
}

static void op_run(struct op *o, const Request *q)
{
	if (op_reads(q->op_case) && !api_op_allowed(o, OP_READ, NULL)) {
		o->res->audit.op = "read";
		return;
	}
	switch (q->op_case) {
	case ROSTER__V1__REQUEST__OP_AUTHENTICATE:
		op_authenticate(o, q->authenticate);
		break;
	case ROSTER__V1__REQUEST__OP_OPEN_LEASE:
		op_open_lease(o, q->open_lease);
		break;
	case ROSTER__V1__REQUEST__OP_HEARTBEAT:
		op_heartbeat(o, q->heartbeat);
		break;
	case ROSTER__V1__REQUEST__OP_REGISTER:
		op_register(o, q->register_);
		break;
	case ROSTER__V1__REQUEST__OP_DEREGISTER:
		op_deregister(o, q->deregister);
		break;
	case ROSTER__V1__REQUEST__OP_SET_STATUS:
		op_set_status(o, q->set_status);
		break;
	case ROSTER__V1__REQUEST__OP_QUERY:
		op_query(o, q->query);
		break;
	case ROSTER__V1__REQUEST__OP_LIST:
		op_list(o);
		break;
	case ROSTER__V1__REQUEST__OP_WATCH:
		op_watch(o, q->watch);
		break;
	case ROSTER__V1__REQUEST__OP_STATS:
		op_stats(o);
		break;
	case ROSTER__V1__REQUEST__OP_CANCEL_WATCH:
		op_cancel_watch(o, q->cancel_watch);
		break;
	case ROSTER__V1__REQUEST__OP_BACKUP:
		op_backup(o, q->backup);
		break;
	default:
		/* An empty envelope or an operation from a newer client. */
		api_op_error(o, RS_ENOTSUP, "unsupported or missing operation");
		break;
	}
}

void api_ops_dispatch(const struct api_ops_ctx *ctx, const uint8_t *frame, size_t len,
		struct api_ops_out *out, struct api_ops_result *res)
{
	memset(res, 0, sizeof(*res));
	struct op o = {ctx, out, res, 0, 0, false, false, out->len};
	struct api_convert_request req;
	char msg[160];
	int urc = api_convert_request_unpack(&req, frame, len);
	ctx->counters->requests++;
	if (urc == RS_ENOMEM) {
		/* Not the client's fault and not a strike: nothing was run, the
		 * request may be sent again (UNAVAILABLE). */
		o.id = res->id = api_convert_request_id(frame, len);
		api_op_error(&o, RS_ENOMEM, "out of memory unpacking the request: not run");
	} else if (urc < 0) {
		ctx->counters->malformed++;
		res->flags |= API_OPS_MALFORMED;
		api_op_error(&o, RS_EPROTO,
				"malformed request (%zu bytes): not a roster.v1.Request", len);
		if (ctx->strikes + 1 >= API_OPS_STRIKES) {
			res->flags |= API_OPS_CLOSE;
		}
	} else if (api_convert_request_strings_check(frame, len, msg, sizeof(msg)) < 0) {
		/* protobuf-c ends strings at their first NUL: refuse it here,
		 * before a name is cut short (SPEC: refused, never cut). */
		o.id = res->id = req.q->id;
		api_op_error(&o, RS_ENAME_CHAR, "%s", msg);
	} else {
		o.id = res->id = req.q->id;
		op_run(&o, req.q);
		rs_arena_reset(ctx->scratch);
	}
	api_convert_request_free(&req);
	if ((o.write && !o.quiet) || res->audit.refusal != API_OPS_REFUSED_NONE) {
		res->flags |= API_OPS_AUDIT;
		res->audit.rc = o.rc;
		if (res->audit.op == NULL) {
			res->audit.op = "request";
		}
	}
}
