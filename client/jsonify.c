#include "client/jsonify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/inst.h"

const char *jsonify_expiry_name(enum roster_expiry e)
{
	switch (e) {
	case ROSTER_TIMED:
		return "TIMED";
	case ROSTER_NEVER:
		return "NEVER";
	case ROSTER_STATIC:
		return "STATIC";
	default:
		return "UNSPECIFIED";
	}
}

json_t *jsonify_instance(const struct roster_instance *inst)
{
	json_t *addrs = json_array();
	json_t *meta = json_object();
	for (size_t i = 0; addrs != NULL && i < inst->n_addresses; i++) {
		json_array_append_new(addrs, json_string(inst->addresses[i]));
	}
	for (size_t i = 0; meta != NULL && i < inst->n_metadata; i++) {
		json_object_set_new(
				meta, inst->metadata[i].key, json_string(inst->metadata[i].value));
	}
	/* "o" steals the references, also on failure. The lease id is a random
	 * 64-bit number: as a JSON number it would be negative past 2^63 and
	 * rounded past 2^53 by most readers (jq, JavaScript), so it is a
	 * decimal string. */
	char lease[24];
	snprintf(lease, sizeof(lease), "%" PRIu64, inst->lease);
	return json_pack("{s:s, s:s, s:s, s:i, s:o*, s:i, s:i, s:o*, s:s, s:I, s:I, s:s, s:s, s:b}",
			"service", inst->service, "protocol", inst->protocol, "host", inst->host,
			"port", (int)inst->port, "addresses", addrs, "priority",
			(int)inst->priority, "weight", (int)inst->weight, "metadata", meta,
			"status", roster_status_name(inst->status), "registered_at_ms",
			(json_int_t)inst->registered_at_ms, "status_since_ms",
			(json_int_t)inst->status_since_ms, "expiry",
			jsonify_expiry_name(inst->expiry), "lease", lease, "stale",
			(int)inst->stale);
}

/* A lease id: a decimal string (what jsonify_instance() writes), or a
 * JSON integer (cache files written before). */
static int lease_parse(const json_t *v, uint64_t *out)
{
	if (json_is_integer(v)) {
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	const char *t = json_string_value(v);
	if (t == NULL || t[0] < '0' || t[0] > '9' || strlen(t) > 20) {
		return ROSTER_EPROTO;
	}
	char *end = NULL;
	errno = 0;
	unsigned long long n = strtoull(t, &end, 10);
	if (errno != 0 || *end != '\0') {
		return ROSTER_EPROTO;
	}
	*out = n;
	return 0;
}

static enum roster_status status_from_name(const char *s)
{
	for (int st = ROSTER_STARTING; st <= ROSTER_DOWN; st++) {
		if (strcmp(s, roster_status_name((enum roster_status)st)) == 0) {
			return (enum roster_status)st;
		}
	}
	return ROSTER_STATUS_UNSPECIFIED;
}

int jsonify_parse_instance(const json_t *obj, struct roster_instance *out)
{
	const char *service, *protocol, *host, *status, *expiry;
	int port, priority, weight, stale;
	json_int_t reg_at, since;
	uint64_t lease = 0;
	json_t *addrs, *meta, *lease_v;
	json_error_t err;
	memset(out, 0, sizeof(*out));
	if (json_unpack_ex((json_t *)obj, &err, 0,
			    "{s:s, s:s, s:s, s:i, s:o, s:i, s:i, s:o, s:s, s:I, s:I, s:s, s:o, s:b}",
			    "service", &service, "protocol", &protocol, "host", &host, "port",
			    &port, "addresses", &addrs, "priority", &priority, "weight", &weight,
			    "metadata", &meta, "status", &status, "registered_at_ms", &reg_at,
			    "status_since_ms", &since, "expiry", &expiry, "lease", &lease_v,
			    "stale", &stale) != 0 ||
			lease_parse(lease_v, &lease) != 0 || !json_is_array(addrs) ||
			!json_is_object(meta) || port < 1 || port > 65535) {
		return ROSTER_EPROTO;
	}
	size_t na = json_array_size(addrs), nm = json_object_size(meta);
	const char **av = calloc(na + 1, sizeof(*av));
	struct roster_meta *mv = calloc(nm + 1, sizeof(*mv));
	int rc = ROSTER_ENOMEM;
	if (av == NULL || mv == NULL) {
		goto out;
	}
	rc = ROSTER_EPROTO;
	for (size_t i = 0; i < na; i++) {
		av[i] = json_string_value(json_array_get(addrs, i));
		if (av[i] == NULL) {
			goto out;
		}
	}
	const char *k;
	json_t *v;
	size_t i = 0;
	json_object_foreach(meta, k, v)
	{
		mv[i].key = k;
		mv[i].value = json_string_value(v);
		if (mv[i].value == NULL) {
			goto out;
		}
		i++;
	}
	struct roster_instance view = {
			.service = service,
			.protocol = protocol,
			.host = host,
			.port = (uint16_t)port,
			.addresses = av,
			.n_addresses = na,
			.priority = (uint16_t)priority,
			.weight = (uint16_t)weight,
			.metadata = mv,
			.n_metadata = nm,
			.status = status_from_name(status),
			.registered_at_ms = (uint64_t)reg_at,
			.status_since_ms = (uint64_t)since,
			.expiry = strcmp(expiry, "TIMED") == 0    ? ROSTER_TIMED
				  : strcmp(expiry, "NEVER") == 0  ? ROSTER_NEVER
				  : strcmp(expiry, "STATIC") == 0 ? ROSTER_STATIC
								  : ROSTER_EXPIRY_UNSPECIFIED,
			.lease = lease,
			.stale = stale != 0,
	};
	rc = inst_pack(out, &view);
out:
	free(av);
	free(mv);
	return rc;
}

json_t *jsonify_result(const struct roster_result *r)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr != NULL && i < r->n_instances; i++) {
		json_array_append_new(arr, jsonify_instance(&r->instances[i]));
	}
	return json_pack("{s:I, s:b, s:b, s:I, s:s, s:o*}", "revision", (json_int_t)r->revision,
			"preserving", (int)r->preserving, "stale", (int)r->stale, "fetched_at_ms",
			(json_int_t)r->fetched_at_ms, "server", r->server, "instances", arr);
}
