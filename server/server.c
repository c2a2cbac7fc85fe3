#include "server/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/addr.h"
#include "common/error.h"
#include "common/log.h"
#include "server/api/api.h"
#include "server/dns/dnsio.h"
#include "server/http/http.h"
#include "server/http/metrics.h"

/* How often the tick clears dead readers' LMDB slots: once a minute. */
#define READER_CHECK_TICKS (60000u / STORE_TICK_MS)

/* Milliseconds since the Unix epoch (the start time the status page shows). */
static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void store_changed_cb(const struct store_change *change, void *ud)
{
	struct server *srv = ud;
	if (srv->api != NULL) {
		api_on_change(srv->api, change);
	}
}

int server_open(struct server *srv, char *err, size_t errsz)
{
	int rc = persist_open(srv->cfg.data_dir, srv->cfg.map_size, srv->cfg.map_max,
			&srv->persist, err, errsz);
	if (rc < 0) {
		return rc;
	}
	uint64_t now = uv_now(srv->loop);
	srv->store = store_new(&srv->cfg.limits, persist_ops(), srv->persist, now);
	if (srv->store == NULL) {
		snprintf(err, errsz, "out of memory creating the store");
		return RS_ENOMEM;
	}
	uint64_t t0 = uv_hrtime();
	uint64_t ninst, nleases, dropped;
	rc = persist_load(srv->persist, srv->store, now, &ninst, &nleases, &dropped);
	if (rc < 0) {
		snprintf(err, errsz, "data dir %s: cannot load the store: %s", srv->cfg.data_dir,
				rs_strerror(rc));
		return rc;
	}
	rs_log_info("store %s: loaded %llu instances and %llu leases at revision %llu in %.1f ms"
		    "%s",
			srv->cfg.data_dir, (unsigned long long)ninst, (unsigned long long)nleases,
			(unsigned long long)store_revision(srv->store),
			(double)(uv_hrtime() - t0) / 1e6,
			nleases > 0 ? "; every lease has a full TTL of grace" : "");
	if (dropped > 0) {
		rs_log_warning("store %s: dropped %llu records that no longer made sense",
				srv->cfg.data_dir, (unsigned long long)dropped);
	}
	store_set_listener(srv->store, store_changed_cb, srv);
	return 0;
}

bool server_store_grow(struct server *srv)
{
	uint64_t before = persist_map_size(srv->persist);
	int rc = persist_grow(srv->persist);
	if (rc == 0) {
		rs_log_notice("store: map grown from %llu to %llu MiB",
				(unsigned long long)(before >> 20),
				(unsigned long long)(persist_map_size(srv->persist) >> 20));
		return true;
	}
	if (rc == RS_ESTORE_FULL) {
		rs_log_error("store: full at its maximum of %llu MiB: writes are refused "
			     "(raise --map-max)",
				(unsigned long long)(persist_map_size(srv->persist) >> 20));
	} else {
		rs_log_error("store: cannot grow: %s", rs_strerror(rc));
	}
	return false;
}

static void preservation_log(struct server *srv)
{
	bool now = store_preserving(srv->store);
	if (now == srv->preserving_logged) {
		return;
	}
	srv->preserving_logged = now;
	struct store_sizes sz;
	store_sizes_get(srv->store, &sz);
	if (now) {
		rs_log_warning("self-preservation ON: leases are expiring faster than %.0f%% per "
			       "%u ms window; expiry stopped, last known endpoints kept (stale: %llu)",
				srv->cfg.limits.preserve_fraction * 100,
				srv->cfg.limits.preserve_window_ms, (unsigned long long)sz.stale);
	} else {
		rs_log_warning("self-preservation OFF: renewals recovered; %llu leases live",
				(unsigned long long)sz.leases);
	}
}

static void tick_cb(uv_timer_t *t)
{
	struct server *srv = t->data;
	uint32_t expired = 0;
	int rc = store_tick(srv->store, uv_now(srv->loop), &expired);
	if (rc == RS_ESTORE_FULL && server_store_grow(srv)) {
		rc = store_tick(srv->store, uv_now(srv->loop), &expired);
	}
	if (rc < 0) {
		rs_log_error("expiry: store write failed: %s (retrying)", rs_strerror(rc));
	}
	if (expired > 0) {
		rs_log_info("expired %u lease%s", expired, expired == 1 ? "" : "s");
	}
	preservation_log(srv);
	if (++srv->ticks % READER_CHECK_TICKS == 0) {
		int dead = persist_readers_check(srv->persist);
		if (dead > 0) {
			rs_log_notice("store: cleared %d reader slot%s left by dead processes", dead,
					dead == 1 ? "" : "s");
		} else if (dead < 0) {
			rs_log_warning("store: cannot check for dead readers: %s", rs_strerror(dead));
		}
	}
}

/* Once per loop iteration, after I/O: make the iteration's writes durable,
 * then let the API send the replies it held. */
static void commit_cb(uv_check_t *h)
{
	struct server *srv = h->data;
	int rc = persist_batch_commit(srv->persist);
	if (rc < 0) {
		srv->commit_failures++;
		rs_log_error("store commit failed: %s", rs_strerror(rc));
	}
	if (srv->api != NULL) {
		api_flush(srv->api, rc);
	}
	if (rc == RS_ESTORE_PANIC) {
		/* LMDB cannot go on (catalogue 4.4): stop, let the supervisor
		 * restart us on the last committed state. */
		rs_log_error("store is unusable: shutting down");
		srv->exit_code = 1;
		server_stop(srv);
	} else if (rc < 0) {
		/* The memory state is ahead of the disk: rebuild it from the
		 * disk, which holds exactly what was acknowledged. */
		store_free(srv->store);
		srv->store = store_new(&srv->cfg.limits, persist_ops(), srv->persist,
				uv_now(srv->loop));
		srv->store_generation++; /* may be at the old address: say it is new */
		uint64_t a, b, c;
		if (srv->store == NULL ||
				persist_load(srv->persist, srv->store, uv_now(srv->loop), &a, &b, &c) < 0) {
			rs_log_error("cannot reload the store after a failed commit: shutting down");
			srv->exit_code = 1;
			server_stop(srv);
			return;
		}
		store_set_listener(srv->store, store_changed_cb, srv);
	}
}

/* ---- the modules' contexts: what each is given, and asks back -------------- */

_Static_assert(CONFIG_MAX_LISTEN <= DNSIO_LISTEN_MAX, "every DNS address fits dnsio");
_Static_assert(CONFIG_MAX_NS <= DNSIO_NS_MAX, "every NS name fits dnsio");

static bool api_store_grow_cb(void *owner)
{
	return server_store_grow(owner);
}

static uint64_t api_dns_queries_cb(void *owner)
{
	const struct server *srv = owner;
	return dnsio_queries_total(srv->dnsio);
}

static const struct report *api_dns_report_cb(void *owner)
{
	const struct server *srv = owner;
	return srv->dnsio != NULL ? dnsio_report(srv->dnsio) : NULL;
}

static int http_render_cb(void *owner, enum http_page page, char **body, size_t *len)
{
	const struct server *srv = owner;
	struct metrics_text out = {0};
	int rc;
	switch (page) {
	case HTTP_PAGE_METRICS:
		rc = metrics_prometheus_render(srv, &out);
		break;
	case HTTP_PAGE_SERVICES:
		rc = metrics_services_json(srv, &out);
		break;
	case HTTP_PAGE_STATUS:
	default:
		rc = metrics_status_html(srv, &out);
		break;
	}
	if (rc < 0) {
		metrics_text_deinit(&out);
		return rc;
	}
	*body = metrics_text_steal(&out, len);
	return 0;
}

static struct api_limits api_limits_of(const struct server_config *cfg)
{
	return (struct api_limits){
		.tcp = {cfg->api_max_conns, cfg->api_max_per_source, cfg->api_idle_ms,
				cfg->api_max_outbuf},
		.max_frame = cfg->api_max_frame,
		.max_inflight = cfg->api_max_inflight,
		.max_addresses = cfg->limits.max_addresses,
		.max_metadata_entries = cfg->limits.max_metadata_entries,
	};
}

static struct dnsio_limits dnsio_limits_of(const struct server_config *cfg)
{
	return (struct dnsio_limits){cfg->dns_tcp_max_conns, cfg->dns_tcp_max_per_source,
			cfg->dns_tcp_idle_ms, cfg->report_rate, cfg->report_log_max};
}

static struct http_limits http_limits_of(const struct server_config *cfg)
{
	return (struct http_limits){cfg->http_max_conns, cfg->http_idle_ms};
}

static int api_open(struct server *srv, char *err, size_t errsz)
{
	const struct server_config *cfg = &srv->cfg;
	const struct api_context ctx = {
		.loop = srv->loop,
		.store = &srv->store,
		.persist = srv->persist,
		.listen = cfg->api.addrs,
		.nlisten = cfg->api.n,
		.limits = api_limits_of(cfg),
		.site = cfg->site,
		.domain = cfg->domain,
		.zone = cfg->zone,
		.start_mono = srv->start_mono,
		.owner = srv,
		.store_grow = api_store_grow_cb,
		.dns_queries = api_dns_queries_cb,
		.dns_report = api_dns_report_cb,
	};
	return api_start(&ctx, &srv->api, err, errsz);
}

static int dnsio_open(struct server *srv, char *err, size_t errsz)
{
	const struct server_config *cfg = &srv->cfg;
	const char *ns[CONFIG_MAX_NS];
	for (size_t i = 0; i < cfg->nns; i++) {
		ns[i] = cfg->ns[i];
	}
	const struct dnsio_context ctx = {
		.loop = srv->loop,
		.store = &srv->store,
		.store_generation = &srv->store_generation,
		.cfg = {
			.listen = cfg->dns.addrs,
			.nlisten = cfg->dns.n,
			.answer = {.zone = cfg->zone,
					.domain = cfg->domain,
					.ns = ns, /* copied by dnsio_start() */
					.nns = cfg->nns,
					.report_zone = cfg->report_zone,
					.ttl = cfg->ttl,
					.negative_ttl = cfg->negative_ttl,
					.udp_max = cfg->udp_max,
					.stable_subsets = cfg->stable_subsets},
			.cookies = !cfg->dns_cookies_off,
			.cookie_secret = cfg->dns_cookie_secret,
			.data_dir = cfg->data_dir,
			.threads = cfg->dns_threads,
			.limits = dnsio_limits_of(cfg),
		},
	};
	return dnsio_start(&ctx, &srv->dnsio, err, errsz);
}

static int http_open(struct server *srv, char *err, size_t errsz)
{
	const struct http_context ctx = {
		.loop = srv->loop,
		.listen = srv->cfg.http.addrs,
		.nlisten = srv->cfg.http.n,
		.limits = http_limits_of(&srv->cfg),
		.render = http_render_cb,
		.owner = srv,
	};
	return http_start(&ctx, &srv->http, err, errsz);
}

void server_limits_reload(struct server *srv)
{
	store_set_limits(srv->store, &srv->cfg.limits);
	struct api_limits al = api_limits_of(&srv->cfg);
	api_limits_set(srv->api, &al);
	struct dnsio_limits dl = dnsio_limits_of(&srv->cfg);
	dnsio_limits_set(srv->dnsio, &dl);
	struct http_limits hl = http_limits_of(&srv->cfg);
	http_limits_set(srv->http, &hl);
}

int server_start(struct server *srv, char *err, size_t errsz)
{
	srv->start_mono = uv_now(srv->loop);
	srv->start_wall_ms = wall_ms();
	uv_timer_init(srv->loop, &srv->tick);
	srv->tick.data = srv;
	uv_timer_start(&srv->tick, tick_cb, STORE_TICK_MS, STORE_TICK_MS);
	uv_check_init(srv->loop, &srv->commit);
	srv->commit.data = srv;
	uv_check_start(&srv->commit, commit_cb);
	int rc = api_open(srv, err, errsz);
	if (rc == 0) {
		rc = dnsio_open(srv, err, errsz);
	}
	if (rc == 0) {
		rc = http_open(srv, err, errsz);
	}
	return rc;
}

void server_run(struct server *srv)
{
	/* The libuv embedding pattern: wait on the backend fd ourselves, then
	 * run one non-blocking iteration. */
	while (dnsio_threaded(srv->dnsio)) {
		dnsio_wait(srv->dnsio, uv_backend_fd(srv->loop), uv_backend_timeout(srv->loop));
		if (uv_run(srv->loop, UV_RUN_NOWAIT) == 0) {
			return;
		}
	}
	uv_run(srv->loop, UV_RUN_DEFAULT);
}

void server_stop(struct server *srv)
{
	if (srv->stopping) {
		return;
	}
	srv->stopping = true;
	/* In reverse of the start order; the API last, so that the writes of
	 * this iteration are committed and their replies sent. */
	http_stop(srv->http);
	srv->http = NULL;
	dnsio_stop(srv->dnsio);
	srv->dnsio = NULL;
	int rc = persist_batch_commit(srv->persist);
	if (srv->api != NULL) {
		api_flush(srv->api, rc);
		api_stop(srv->api);
		srv->api = NULL;
	}
	if (!uv_is_closing((uv_handle_t *)&srv->tick)) {
		uv_close((uv_handle_t *)&srv->tick, NULL);
	}
	if (!uv_is_closing((uv_handle_t *)&srv->commit)) {
		uv_close((uv_handle_t *)&srv->commit, NULL);
	}
}

void server_close(struct server *srv)
{
	int rc = persist_close(srv->persist);
	if (rc < 0) {
		rs_log_error("store: final commit failed: %s", rs_strerror(rc));
	}
	srv->persist = NULL;
	store_free(srv->store);
	srv->store = NULL;
}
