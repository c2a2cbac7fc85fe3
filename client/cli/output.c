#include "client/cli/output.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/jsonify.h"

void output_time(uint64_t ms, char out[32])
{
	if (ms == 0) {
		snprintf(out, 32, "-");
		return;
	}
	time_t t = (time_t)(ms / 1000u);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm);
}

/* A JSON document on one line. Takes the reference. */
static void emit_json(FILE *f, json_t *doc)
{
	if (doc == NULL) {
		fputs("{\"error\":\"out of memory\"}\n", f);
		return;
	}
	json_dumpf(doc, f, JSON_COMPACT);
	fputc('\n', f);
	json_decref(doc);
}

void output_instance_line(FILE *f, const struct roster_instance *inst, bool show_protocol)
{
	char since[32];
	output_time(inst->status_since_ms != 0 ? inst->status_since_ms : inst->registered_at_ms,
			since);
	fprintf(f, "%s:%u  (%s since %s, expires %s%s%s%s)\n", inst->host, inst->port,
			roster_status_name(inst->status), since, jsonify_expiry_name(inst->expiry),
			inst->stale ? ", stale" : "", show_protocol ? ", protocol:" : "",
			show_protocol ? inst->protocol : "");
}

/* The columns of one instance row: "host.:port", "(UP since ..., expires
 * TIMED)", "weight:W", "priority:P", "addresses:A,B", "meta:k=v,k=v". */
struct row {
	char cols[6][512];
};

static void row_fill(struct row *r, const struct roster_instance *inst, bool show_protocol)
{
	char since[32];
	output_time(inst->status_since_ms != 0 ? inst->status_since_ms : inst->registered_at_ms,
			since);
	snprintf(r->cols[0], sizeof(r->cols[0]), "%s:%u", inst->host, inst->port);
	snprintf(r->cols[1], sizeof(r->cols[1]), "(%s since %s, expires %s%s%s%s)",
			roster_status_name(inst->status), since, jsonify_expiry_name(inst->expiry),
			inst->stale ? ", stale" : "", show_protocol ? ", protocol:" : "",
			show_protocol ? inst->protocol : "");
	snprintf(r->cols[2], sizeof(r->cols[2]), "weight:%u", inst->weight);
	snprintf(r->cols[3], sizeof(r->cols[3]), "priority:%u", inst->priority);
	for (int c = 4; c < 6; c++) {
		const char *label = c == 4 ? "addresses:" : "meta:";
		size_t n = (size_t)snprintf(r->cols[c], sizeof(r->cols[c]), "%s", label);
		size_t count = c == 4 ? inst->n_addresses : inst->n_metadata;
		for (size_t i = 0; i < count && n < sizeof(r->cols[c]); i++) {
			n += (size_t)(c == 4 ? snprintf(r->cols[c] + n, sizeof(r->cols[c]) - n,
							       "%s%s", i > 0 ? "," : "",
							       inst->addresses[i])
					     : snprintf(r->cols[c] + n, sizeof(r->cols[c]) - n,
							       "%s%s=%s", i > 0 ? "," : "",
							       inst->metadata[i].key,
							       inst->metadata[i].value));
		}
		if (count == 0) {
			snprintf(r->cols[c] + n, sizeof(r->cols[c]) - n, "-");
		}
	}
}

/* The instances in aligned columns (two spaces between, none trailing). */
static void instance_table(FILE *f, const struct roster_result *r, bool show_protocol)
{
	struct row *rows = calloc(r->n_instances > 0 ? r->n_instances : 1, sizeof(*rows));
	if (rows == NULL) {
		for (size_t i = 0; i < r->n_instances; i++) {
			output_instance_line(f, &r->instances[i], show_protocol);
		}
		return;
	}
	int width[6] = {0};
	for (size_t i = 0; i < r->n_instances; i++) {
		row_fill(&rows[i], &r->instances[i], show_protocol);
		for (int c = 0; c < 6; c++) {
			int w = (int)strlen(rows[i].cols[c]);
			width[c] = w > width[c] ? w : width[c];
		}
	}
	for (size_t i = 0; i < r->n_instances; i++) {
		for (int c = 0; c < 5; c++) {
			fprintf(f, "%-*s  ", width[c], rows[i].cols[c]);
		}
		fprintf(f, "%s\n", rows[i].cols[5]);
	}
	free(rows);
}

/* The protocol to name in a header: the one asked, the only one present, or "*". */
static const char *header_protocol(const char *asked, const struct roster_result *r)
{
	if (asked != NULL && asked[0] != '\0') {
		return asked;
	}
	const char *only = NULL;
	for (size_t i = 0; i < r->n_instances; i++) {
		if (only == NULL) {
			only = r->instances[i].protocol;
		} else if (strcmp(only, r->instances[i].protocol) != 0) {
			return "*";
		}
	}
	return only != NULL ? only : "*";
}

void output_query(FILE *f, bool json, const char *service, const char *protocol,
		const struct roster_result *r, uint64_t now_ms, const char *stale_reason)
{
	uint64_t age_s = r->stale && now_ms > r->fetched_at_ms ? (now_ms - r->fetched_at_ms) / 1000
							       : 0;
	if (json) {
		json_t *doc = jsonify_result(r);
		if (doc != NULL) {
			json_object_set_new(doc, "service", json_string(service));
			json_object_set_new(doc, "protocol",
					protocol != NULL ? json_string(protocol) : json_null());
			if (r->stale) {
				json_object_set_new(doc, "stale_age_seconds",
						json_integer((json_int_t)age_s));
				json_object_set_new(doc, "stale_reason", json_string(stale_reason));
			}
		}
		emit_json(f, doc);
		return;
	}
	const char *proto = header_protocol(protocol, r);
	size_t by_status[4] = {0};
	for (size_t i = 0; i < r->n_instances; i++) {
		by_status[r->instances[i].status & 3]++;
	}
	fprintf(f, "query: service:%s, protocol:%s (%zu endpoint%s", service, proto, r->n_instances,
			r->n_instances == 1 ? "" : "s");
	if (by_status[ROSTER_DOWN] + by_status[ROSTER_STARTING] > 0) {
		/* --all: say how many of them are served. */
		fprintf(f, ": %zu UP, %zu DOWN, %zu STARTING", by_status[ROSTER_UP],
				by_status[ROSTER_DOWN], by_status[ROSTER_STARTING]);
	}
	fputs(")\n", f);
	if (r->stale) {
		char when[32];
		output_time(r->fetched_at_ms, when);
		fprintf(f,
				"stale: no registry answered; last known copy from %s (%" PRIu64
				" s ago, registry %s)\n",
				when, age_s, r->server);
	}
	if (r->preserving) {
		fprintf(f, "note: the registry is in self-preservation: expired endpoints are kept\n");
	}
	fputc('\n', f);
	instance_table(f, r, strcmp(proto, "*") == 0);
}

void output_list(FILE *f, bool json, const struct roster_list *l)
{
	if (json) {
		json_t *arr = json_array();
		for (size_t i = 0; arr != NULL && i < l->n_services; i++) {
			const struct roster_service *s = &l->services[i];
			json_array_append_new(
					arr, json_pack("{s:s, s:s, s:i, s:i, s:i, s:i}", "service",
							     s->service, "protocol", s->protocol,
							     "up", (int)s->up, "down", (int)s->down,
							     "starting", (int)s->starting, "stale",
							     (int)s->stale));
		}
		emit_json(f, json_pack("{s:I, s:s, s:o*}", "revision", (json_int_t)l->revision,
					     "server", l->server, "services", arr));
		return;
	}
	fprintf(f, "list: %zu services (revision %" PRIu64 ")\n\n", l->n_services, l->revision);
	int width = 0;
	for (size_t i = 0; i < l->n_services; i++) {
		int w = (int)(strlen(l->services[i].service) + strlen(l->services[i].protocol));
		width = w > width ? w : width;
	}
	for (size_t i = 0; i < l->n_services; i++) {
		const struct roster_service *s = &l->services[i];
		int pad = width - (int)(strlen(s->service) + strlen(s->protocol));
		fprintf(f, "service:%s, protocol:%s%*s  %4u UP  %4u DOWN  %4u STARTING  %4u stale\n",
				s->service, s->protocol, pad, "", s->up, s->down, s->starting,
				s->stale);
	}
}

void output_backup(FILE *f, bool json, const char *file, uint64_t bytes, uint64_t ms)
{
	if (json) {
		emit_json(f, json_pack("{s:s, s:I, s:I}", "file", file, "bytes", (json_int_t)bytes,
					     "duration_ms", (json_int_t)ms));
		return;
	}
	fprintf(f, "backup %s: %llu bytes in %llu ms\n", file, (unsigned long long)bytes,
			(unsigned long long)ms);
}

void output_stats(FILE *f, bool json, const struct roster_stats *s)
{
	if (json) {
		emit_json(f, json_pack("{s:s, s:s, s:s, s:s, s:I, s:b, s:I, s:I, s:I, s:I, s:I, s:I, "
				       "s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
					     "server", s->server, "site", s->site, "domain",
					     s->domain, "zone", s->zone, "revision",
					     (json_int_t)s->revision, "preserving",
					     (int)s->preserving, "leases", (json_int_t)s->leases,
					     "instances", (json_int_t)s->instances, "instances_up",
					     (json_int_t)s->instances_up, "instances_stale",
					     (json_int_t)s->instances_stale, "services",
					     (json_int_t)s->services, "heartbeats_total",
					     (json_int_t)s->heartbeats_total, "registrations_total",
					     (json_int_t)s->registrations_total,
					     "expirations_total", (json_int_t)s->expirations_total,
					     "api_connections", (json_int_t)s->api_connections,
					     "store_bytes", (json_int_t)s->store_bytes, "uptime_ms",
					     (json_int_t)s->uptime_ms, "journal_first_revision",
					     (json_int_t)s->journal_first_revision,
					     "dns_queries_total",
					     (json_int_t)s->dns_queries_total));
		return;
	}
	fprintf(f, "stats: registry %s, zone %s (mode %s)\n\n", s->server, s->zone,
			s->preserving ? "preserving" : "normal");
	fprintf(f,
			"site: %s\ndomain: %s\nrevision: %" PRIu64 "\nleases: %" PRIu64
			"\ninstances: %" PRIu64 " (%" PRIu64 " UP, %" PRIu64
			" stale)\nservices: %" PRIu64 "\n",
			s->site, s->domain, s->revision, s->leases, s->instances, s->instances_up,
			s->instances_stale, s->services);
	fprintf(f,
			"heartbeats_total: %" PRIu64 "\nregistrations_total: %" PRIu64
			"\nexpirations_total: %" PRIu64 "\napi_connections: %" PRIu64
			"\nstore_bytes: %" PRIu64 "\nuptime: %" PRIu64
			" s\njournal_first_revision: %" PRIu64 "\ndns_queries_total: %" PRIu64 "\n",
			s->heartbeats_total, s->registrations_total, s->expirations_total,
			s->api_connections, s->store_bytes, s->uptime_ms / 1000,
			s->journal_first_revision, s->dns_queries_total);
}

void output_reports(FILE *f, bool json, const struct roster_stats *s)
{
	if (json) {
		json_t *codes = json_object();
		for (size_t i = 0; codes != NULL && i < s->n_reports; i++) {
			json_object_set_new(codes, s->reports[i].code,
					json_integer((json_int_t)s->reports[i].count));
		}
		emit_json(f, json_pack("{s:s, s:o*}", "server", s->server, "reports", codes));
		return;
	}
	uint64_t total = 0;
	for (size_t i = 0; i < s->n_reports; i++) {
		total += s->reports[i].count;
	}
	fprintf(f, "reports: %" PRIu64 " client error reports, %zu codes (registry %s)\n\n", total,
			s->n_reports, s->server);
	for (size_t i = 0; i < s->n_reports; i++) {
		fprintf(f, "code:%s  %" PRIu64 "\n", s->reports[i].code, s->reports[i].count);
	}
}

static const char *watch_kind_name(enum roster_watch_kind k)
{
	switch (k) {
	case ROSTER_WATCH_SNAPSHOT_BEGIN:
		return "SNAPSHOT_BEGIN";
	case ROSTER_WATCH_SNAPSHOT_END:
		return "SNAPSHOT_END";
	case ROSTER_WATCH_UPSERT:
		return "UPSERT";
	case ROSTER_WATCH_REMOVE:
		return "REMOVE";
	case ROSTER_WATCH_RESYNC:
		return "RESYNC";
	}
	return "UNKNOWN";
}

bool output_watch_event(FILE *f, bool json, const struct roster_watch_event *ev)
{
	if (json) {
		json_t *doc = json_pack("{s:s, s:I, s:s}", "event", watch_kind_name(ev->kind),
				"revision", (json_int_t)ev->revision, "server", ev->server);
		if (doc != NULL && ev->instance != NULL) {
			json_object_set_new(doc, "instance", jsonify_instance(ev->instance));
		}
		if (doc != NULL && ev->kind == ROSTER_WATCH_REMOVE) {
			json_object_set_new(doc, "reason", json_string(ev->reason));
		}
		emit_json(f, doc);
		return fflush(f) == 0 && !ferror(f);
	}
	fprintf(f, "revision %" PRIu64 "  %s", ev->revision, watch_kind_name(ev->kind));
	if (ev->instance != NULL) {
		fprintf(f, "  service:%s, protocol:%s  ", ev->instance->service,
				ev->instance->protocol);
		if (ev->kind == ROSTER_WATCH_REMOVE) {
			fprintf(f, "%s:%u  (%s)\n", ev->instance->host, ev->instance->port,
					ev->reason[0] != '\0' ? ev->reason : "removed");
		} else {
			output_instance_line(f, ev->instance, false);
		}
	} else if (ev->kind == ROSTER_WATCH_RESYNC) {
		fprintf(f, "  (connection to %s lost; resuming)\n", ev->server);
	} else {
		fputc('\n', f);
	}
	return fflush(f) == 0 && !ferror(f);
}

void output_ring(FILE *f, bool json, const char *service, const char *protocol, const char *key,
		const struct roster_result *r, const struct ringowner *o)
{
	const struct roster_instance *in = &r->instances[o->instance];
	char key_token[9], token[9];
	snprintf(key_token, sizeof(key_token), "%08x", o->key_token);
	snprintf(token, sizeof(token), "%08x", o->token);
	if (json) {
		emit_json(f, json_pack("{s:s, s:s, s:s, s:s, s:i, s:b, s:{s:s, s:i, s:s, s:i}}",
					     "service", service, "protocol", protocol, "key", key,
					     "key_token", key_token, "points", (int)o->points,
					     "stale", (int)r->stale, "owner", "host", o->host,
					     "port", (int)in->port, "token", token, "vnode",
					     (int)o->vnode));
		return;
	}
	fprintf(f, "ring: service:%s, protocol:%s, key:%s (token %s, %zu points)\n", service,
			protocol, key, key_token, o->points);
	if (r->stale) {
		fprintf(f, "stale: no registry answered; computed from the last known copy\n");
	}
	fprintf(f, "\n%s:%u  (owner: point %u, token %s)\n", o->host, in->port, o->vnode, token);
}

/* "outcomes": one object per registry, added to @p doc (NULL: none). */
static json_t *with_outcomes(json_t *doc, const struct output_outcomes *oc)
{
	if (doc == NULL || oc == NULL) {
		return doc;
	}
	static const char *const kinds[] = {[ROSTER_OUTCOME_APPLIED] = "applied",
			[ROSTER_OUTCOME_NOT_FOUND] = "not_found",
			[ROSTER_OUTCOME_UNREACHABLE] = "unreachable",
			[ROSTER_OUTCOME_REFUSED] = "refused"};
	json_t *arr = json_array();
	for (size_t i = 0; arr != NULL && i < oc->n; i++) {
		const struct roster_outcome *o = &oc->o[i];
		bool applied = o->kind == ROSTER_OUTCOME_APPLIED;
		json_t *one = applied ? json_pack("{s:s, s:s, s:I}", "server", oc->servers[i],
							"result", kinds[o->kind], "revision",
							(json_int_t)o->revision)
				      : json_pack("{s:s, s:s, s:s}", "server", oc->servers[i],
							"result", kinds[o->kind], "error",
							o->message);
		if (one == NULL || json_array_append_new(arr, one) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	if (arr == NULL || json_object_set_new(doc, "outcomes", arr) != 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

void output_registered(FILE *f, bool json, const struct roster_instance *inst, const char *zone,
		uint64_t revision, const char *server, bool permanent, uint64_t lease,
		const struct output_outcomes *oc)
{
	char name[600];
	size_t zl = strlen(zone);
	snprintf(name, sizeof(name), "_%s._%s.%.*s", inst->service, inst->protocol,
			(int)(zl > 0 && zone[zl - 1] == '.' ? zl - 1 : zl), zone);
	if (json) {
		char lease_text[24]; /* a 64-bit id: a string (see jsonify_instance()) */
		snprintf(lease_text, sizeof(lease_text), "%" PRIu64, lease);
		emit_json(f, with_outcomes(json_pack("{s:s, s:s, s:i, s:s, s:s, s:I, s:s, s:b, s:s}",
							   "event", "registered", "host",
							   inst->host, "port", (int)inst->port,
							   "service", inst->service, "name", name,
							   "revision", (json_int_t)revision,
							   "server", server, "permanent",
							   (int)permanent, "lease", lease_text),
					     oc));
		fflush(f);
		return;
	}
	fprintf(f, "registered %s:%u as %s revision %" PRIu64 "\n", inst->host, inst->port, name,
			revision);
	fflush(f);
}

void output_change(FILE *f, bool json, const char *verb, const struct roster_instance *id,
		const char *status, uint64_t revision, const struct output_outcomes *oc)
{
	if (json) {
		emit_json(f, with_outcomes(json_pack("{s:s, s:s, s:s, s:s, s:i, s:s*, s:I}",
							   "event", verb, "service", id->service,
							   "protocol", id->protocol, "host",
							   id->host, "port", (int)id->port,
							   "status", status, "revision",
							   (json_int_t)revision),
					     oc));
		return;
	}
	fprintf(f, "%s %s:%u of service:%s, protocol:%s%s%s revision %" PRIu64 "\n", verb, id->host,
			id->port, id->service, id->protocol, status != NULL ? " to " : "",
			status != NULL ? status : "", revision);
}
