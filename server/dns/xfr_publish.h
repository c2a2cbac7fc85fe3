/*
 * server/dns/xfr_publish.h - the publisher of zone versions on the loop:
 * when the store has changed, xfr_zone_publish() at most once per interval.
 *
 * Model
 *   Leading edge: the first change after a quiet interval is published on
 *   the next loop turn (a uv_prepare handle, which runs after the timers and
 *   before the loop waits, so the writes of the I/O callbacks of one turn
 *   and of the expiry tick are published before the loop sleeps); later
 *   changes wait for the end of the interval (a timer). After each version
 *   the owner's on_version callback is called with its serial (NOTIFY hangs
 *   there). The work per version is xfr_zone_publish()'s: in proportion to
 *   the services that changed.
 *
 * Threads
 *   The loop thread (the store's).
 *
 * Must not
 *   Build anything itself (xfr_zone.c does), log.
 */
#pragma once

#include <stdint.h>

struct uv_loop_s;
struct xfr_publish;
struct xfr_zone;

/** The default interval between versions, ms (--notify-interval). */
#define XFR_PUBLISH_INTERVAL_DEFAULT_MS 50u

/** Called after a version is published; @p serial is its serial. */
typedef void (*xfr_version_cb)(uint32_t serial, void *ud);

/**
 * Start publishing @p zone's versions on @p loop.
 * @param zone borrowed until xfr_publish_stop().
 * @param interval_ms at least 1 (0 is taken as 1): versions are at least
 *        this far apart.
 * @param hold_ms a zone xfr_zone_new() held: its first version is published
 *        this long after the start (--xfr-warmup), whatever changes before;
 *        0 for a zone with its first version.
 * @param on_version NULL, or called on the loop thread after each version
 *        (not for a first one published by xfr_zone_new()).
 * @param out set to the publisher.
 * @return 0, RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int xfr_publish_start(struct uv_loop_s *loop,
		struct xfr_zone *zone, uint32_t interval_ms, uint32_t hold_ms,
		xfr_version_cb on_version, void *ud, struct xfr_publish **out);

/** Stop: close the handles; the struct is freed by their close callbacks.
 * NULL-safe. */
void xfr_publish_stop(struct xfr_publish *p);
