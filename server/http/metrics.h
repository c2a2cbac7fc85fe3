/*
 * server/http/metrics.h - what rosterd shows its operators: the Prometheus text
 * exposition of /metrics, the JSON of /v1/services and the HTML status page.
 *
 * Owns: the metric names (a contract: SPEC.md, section HTTP, and
 * docs/operations.md), their HELP and TYPE lines, and the rendering of the
 * registry into text. Every function here is synchronous and reads a stats
 * snapshot (server/stats.h: every module's counters, copied by the owner
 * with server_stats_collect()) and, for the lists of services, the store;
 * nothing here touches a socket, a timer or the disk. The owner
 * (server/server.c's render callback of the HTTP listener) collects the
 * snapshot and calls these; the HTTP transport (server/http/http.c) sends
 * the result.
 *
 * Must not: include another module to read its counters (the API, DNS or
 * HTTP transports): counters reach here only through the snapshot.
 *
 * Output goes into a struct rs_buf (common/buf.h): a growable byte buffer whose first
 * allocation failure is sticky, so renderers append without checking each
 * call and the caller checks once (rs_buf_error()).
 *
 * Threads: main loop only (the store is not thread-safe). A rendering is a
 * picture of one instant: the loop does not run while it is built.
 */
#pragma once

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>

struct stats_snapshot;
struct store;

/**
 * Render /metrics: the Prometheus text exposition format 0.0.4, every
 * family with its HELP and TYPE lines, families of counters that have no
 * sample yet (DNS before the first query) still announced.
 * @param snap borrowed. A module that was not running (no DNS, no HTTP)
 *        gets its families announced without samples; the figures of the
 *        others are as the snapshot holds them (zero without the API or LMDB).
 * @param out appended to.
 * @return 0, or RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int metrics_prometheus_render(
		const struct stats_snapshot *snap, struct rs_buf *out);

/**
 * Render /v1/services: one JSON object with the registry's state (site,
 * zone, revision, mode) and every service with its instances, in the
 * store's stable order. Built with jansson.
 * @param snap the registry's state (borrowed); @p store, the services (borrowed).
 * @return 0, or RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int metrics_services_json(
		const struct stats_snapshot *snap, const struct store *store, struct rs_buf *out);

/**
 * Render / : a self-contained HTML page (no script, no external resource)
 * with the registry's mode, sizes and every service with its instance
 * counts and instances, names HTML-escaped. A service lists at most
 * METRICS_PAGE_INSTANCES instances, then says how many more it has.
 * @param snap the registry's mode and sizes (borrowed); @p store, the
 *        services (borrowed).
 * @return 0, or RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int metrics_status_html(
		const struct stats_snapshot *snap, const struct store *store, struct rs_buf *out);

/** Instances listed per service on the status page. */
#define METRICS_PAGE_INSTANCES 50
