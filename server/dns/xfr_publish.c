/*
 * The publisher of zone versions on the loop (server/dns/xfr_publish.h): a
 * prepare handle that notices a changed store on every loop turn, and a
 * timer for the end of an interval.
 */
#include "server/dns/xfr_publish.h"

#include <stdbool.h>
#include <stdlib.h>
#include <uv.h>

#include "common/clock.h"
#include "common/error.h"
#include "server/dns/xfr_zone.h"

struct xfr_publish {
	uv_prepare_t prepare;
	uv_timer_t timer;
	struct xfr_zone *zone;
	uint32_t interval_ms;
	xfr_version_cb on_version;
	void *ud;
	uint64_t last_ms; /* uv_now() of the last version */
	uint64_t hold_ms; /* uv_now() before which nothing is published */
	int open;         /* handles not yet closed */
};

static void publish_now(struct xfr_publish *p)
{
	bool published = false;
	/* A failure still published a version (xfr_zone.h); it is counted. */
	(void)!xfr_zone_publish(p->zone, rs_clock_wall_ms(), &published);
	if (published) {
		p->last_ms = uv_now(p->prepare.loop);
		if (p->on_version != NULL) {
			p->on_version(xfr_zone_serial(p->zone), p->ud);
		}
	}
}

static void timer_cb(uv_timer_t *t)
{
	struct xfr_publish *p = t->data;
	if (xfr_zone_stale(p->zone)) {
		publish_now(p);
	}
}

/* Every loop turn, before the loop waits: a changed store is published now
 * when the interval since the last version has passed, else at its end. */
static void prepare_cb(uv_prepare_t *h)
{
	struct xfr_publish *p = h->data;
	if (!xfr_zone_stale(p->zone) || uv_is_active((uv_handle_t *)&p->timer)) {
		return;
	}
	uint64_t now = uv_now(h->loop);
	uint64_t due = p->last_ms + p->interval_ms;
	due = due > p->hold_ms ? due : p->hold_ms;
	if (now >= due) {
		publish_now(p);
	} else {
		uv_timer_start(&p->timer, timer_cb, due - now, 0);
	}
}

int xfr_publish_start(struct uv_loop_s *loop, struct xfr_zone *zone, uint32_t interval_ms,
		uint32_t hold_ms, xfr_version_cb on_version, void *ud, struct xfr_publish **out)
{
	*out = NULL;
	struct xfr_publish *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		return RS_ENOMEM;
	}
	p->zone = zone;
	p->interval_ms = interval_ms > 0 ? interval_ms : 1;
	p->on_version = on_version;
	p->ud = ud;
	uv_prepare_init(loop, &p->prepare);
	uv_timer_init(loop, &p->timer);
	p->prepare.data = p->timer.data = p;
	p->open = 2;
	p->last_ms = uv_now(loop);
	p->hold_ms = p->last_ms + hold_ms;
	uv_prepare_start(&p->prepare, prepare_cb);
	/* The prepare handle must not keep the loop alive on its own. */
	uv_unref((uv_handle_t *)&p->prepare);
	*out = p;
	return 0;
}

static void close_cb(uv_handle_t *h)
{
	struct xfr_publish *p = h->data;
	if (--p->open == 0) {
		free(p);
	}
}

void xfr_publish_stop(struct xfr_publish *p)
{
	if (p == NULL) {
		return;
	}
	uv_close((uv_handle_t *)&p->prepare, close_cb);
	uv_close((uv_handle_t *)&p->timer, close_cb);
}
