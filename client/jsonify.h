/*
 * client/jsonify.h - instances and results as JSON (jansson).
 *
 * The one JSON shape of an instance, shared by the stale-cache file and the
 * CLI's --json output, so that a cached copy reads like a live answer:
 *   {"service":"metadata","protocol":"hm","host":"h.lon6.example.net.",
 *    "port":1234,"addresses":["10.0.0.1"],"priority":0,"weight":0,
 *    "metadata":{"k":"v"},"status":"UP","registered_at_ms":..,
 *    "status_since_ms":..,"expiry":"TIMED","lease":..,"stale":false}
 *
 * Pure, any thread. The only client files that include <jansson.h> are
 * jsonify.c, cache.c and the CLI's output.c.
 */
#pragma once

#include <jansson.h>

#include "roster/client.h"

/** @return a new JSON object (caller's reference), or NULL (no memory). */
json_t *jsonify_instance(const struct roster_instance *inst);

/**
 * Read an instance written by jsonify_instance() into a packed instance.
 * @return 0, ROSTER_EPROTO (a field is missing or has the wrong type),
 *         ROSTER_ENOMEM.
 */
__attribute__((warn_unused_result)) int jsonify_parse_instance(
		const json_t *obj, struct roster_instance *out);

/**
 * A result as {"revision":..,"preserving":..,"stale":..,"fetched_at_ms":..,
 * "server":..,"instances":[...]}.
 * @return a new JSON object, or NULL.
 */
json_t *jsonify_result(const struct roster_result *r);

/** "TIMED", "NEVER" or "UNSPECIFIED". */
const char *jsonify_expiry_name(enum roster_expiry e);
