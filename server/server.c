#include "server/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "server/api/api.h"
#include "server/backup.h"
#include "server/dns/dnsio.h"
#include "server/dns/notify.h"
#include "server/dns/tsig.h"
#include "server/http/http.h"
#include "server/http/metrics.h"
#include "server/net/acl.h"
#include "server/registry/static.h"
#include "server/stats.h"

/* How often the tick clears dead readers' LMDB slots: once a minute. */
#define READER_CHECK_TICKS (60000u / STORE_TICK_MS)

static void store_changed_cb(const struct store_change *change, void *ud)
{
	struct server *srv = ud;
	if (change->kind == STORE_CHANGE_REMOVE && change->reason == STORE_REMOVED_STALE_AGED) {
		/* Served stale until now (--keep-last): its going is news. */
		const struct store_instance *i = change->instance;
		rs_log_notice("keep-last: removed _%s._%s %s:%u, stale for --keep-last-max-age",
				i->service->name, i->service->protocol, i->host, i->port);
	}
	if (srv->api != NULL) {
		api_on_change(srv->api, change);
	}
}

/* --tsig-keyfile and --xfr-key: the keys, checked before anything opens. */
static int tsig_open(struct server *srv, char *err, size_t errsz)
{
	const struct server_config *cfg = &srv->cfg;
	if (cfg->tsig_keyfile[0] != '\0') {
		char why[1400];
		int rc = tsig_keyring_load(cfg->tsig_keyfile, &srv->tsig, why, sizeof(why));
		if (rc < 0) {
			snprintf(err, errsz, "--tsig-keyfile: %s", why);
			return rc;
		}
		rs_log_info("TSIG: %zu keys from %s", srv->tsig->n, cfg->tsig_keyfile);
	}
	if (cfg->xfr_key[0] != '\0' && tsig_keyring_find(srv->tsig, cfg->xfr_key) == NULL) {
		return rs_error_printf(err, errsz, RS_ECONF, "--xfr-key %s: %s", cfg->xfr_key,
				srv->tsig == NULL ? "no --tsig-keyfile given"
						  : "no such key in the --tsig-keyfile");
	}
	return 0;
}

int server_open(struct server *srv, char *err, size_t errsz)
{
	int rc = tsig_open(srv, err, errsz);
	if (rc < 0) {
		return rc;
	}
	rc = persist_open_flags(srv->cfg.data_dir, srv->cfg.map_size, srv->cfg.map_max,
			srv->cfg.reset_store ? PERSIST_OPEN_RESET : 0, &srv->persist, err, errsz);
	if (rc < 0) {
		return rc;
	}
	if (persist_open_note(srv->persist)[0] != '\0') {
		rs_log_warning("store %s: %s", srv->cfg.data_dir, persist_open_note(srv->persist));
	}
	struct persist_check_stats chk = persist_open_check(srv->persist);
	if (chk.file_bytes > 0) {
		rs_log_info("store %s: damage check passed: %llu records, %llu MiB in %.1f ms",
				srv->cfg.data_dir, (unsigned long long)chk.entries,
				(unsigned long long)(chk.file_bytes >> 20), chk.ms);
	}
	char why[600];
	rc = persist_zone_claim(srv->persist, srv->cfg.zone, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errsz, "%s", why);
		return rc;
	}
	if (rc > 0) {
		rs_log_warning("store %s: %s", srv->cfg.data_dir, why);
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
	if (rc == RS_ENOTSUP) {
		snprintf(err, errsz,
				"data dir %s: the store holds records of format %u, written by a newer "
				"rosterd (this one writes format %u): run that version, or restore a "
				"backup this one wrote; nothing was changed",
				srv->cfg.data_dir, persist_newer_record(srv->persist),
				persist_record_version());
		return RS_ECONF;
	}
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
		const char *kept = persist_dropped_path(srv->persist);
		rs_log_warning("store %s: dropped %llu records that no longer made sense; %s%s%s",
				srv->cfg.data_dir, (unsigned long long)dropped,
				kept[0] != '\0' ? "kept in " : "", kept,
				kept[0] != '\0' ? " (mdb_load -f restores them into a copy)"
						: "they stay in data.mdb (no copy could be written)");
	}
	store_set_listener(srv->store, store_changed_cb, srv);
	return 0;
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

/* How often, at most, refusals at --map-max are logged. */
#define FULL_LOG_MS 10000u

/* Writes refused because the map is at --map-max: say so, naming the
 * limit, once in a while rather than once per refused write. */
static void full_log(struct server *srv)
{
	uint64_t refused = persist_refusals(srv->persist);
	uint64_t now = uv_now(srv->loop);
	if (refused == srv->refusals_logged ||
			(srv->full_logged_mono != 0 && now - srv->full_logged_mono < FULL_LOG_MS)) {
		return;
	}
	rs_log_error("store: full at its maximum of %llu MiB (--map-max): %llu write%s refused "
		     "(raise --map-max)",
			(unsigned long long)(persist_map_max(srv->persist) >> 20),
			(unsigned long long)(refused - srv->refusals_logged),
			refused - srv->refusals_logged == 1 ? "" : "s");
	srv->refusals_logged = refused;
	srv->full_logged_mono = now;
}

static void tick_cb(uv_timer_t *t)
{
	struct server *srv = t->data;
	uint32_t expired = 0;
	int rc = store_tick(srv->store, uv_now(srv->loop), &expired);
	if (rc < 0) {
		rs_log_error("expiry: store write failed: %s (retrying)", rs_strerror(rc));
	}
	if (expired > 0) {
		rs_log_info("expired %u lease%s", expired, expired == 1 ? "" : "s");
	}
	preservation_log(srv);
	full_log(srv);
	if (++srv->ticks % READER_CHECK_TICKS == 0) {
		int dead = persist_readers_check(srv->persist);
		if (dead > 0) {
			rs_log_notice("store: cleared %d reader slot%s left by dead processes",
					dead, dead == 1 ? "" : "s");
		} else if (dead < 0) {
			rs_log_warning("store: cannot check for dead readers: %s",
					rs_strerror(dead));
		}
	}
}

static int store_reload_cb(struct store *s, uint64_t now_mono, void *ud)
{
	struct server *srv = ud;
	uint64_t ninst, nleases, dropped;
	return persist_load(srv->persist, s, now_mono, &ninst, &nleases, &dropped);
}

/* Hand the pending writes to the writer when it is free. The replies held
 * now belong to them; when there is nothing to commit, they go at once. */
static void commit_pump(struct server *srv)
{
	if (persist_batch_busy(srv->persist)) {
		return; /* the next batch collects meanwhile */
	}
	uint64_t t = rs_clock_mono_ns();
	int submitted = persist_batch_submit(srv->persist);
	if (srv->api != NULL) {
		size_t writes = api_seal(srv->api);
		if (!submitted) {
			api_flush(srv->api, 0);
		} else if (persist_batch_busy(srv->persist)) {
			srv->ack_start_ns = t; /* timed in commit_done_cb */
			srv->ack_writes = writes;
		}
	}
}

/* The writer is done with a batch: its replies may leave, as errors if it
 * failed, then the next batch goes. */
static void commit_done_cb(const struct persist_result *r, void *ud)
{
	struct server *srv = ud;
	if (r->map_after > r->map_before) {
		rs_log_notice("store: map grown from %llu to %llu MiB",
				(unsigned long long)(r->map_before >> 20),
				(unsigned long long)(r->map_after >> 20));
	}
	if (r->rc < 0) {
		srv->commit_failures++;
		rs_log_error("store commit failed: %s", rs_strerror(r->rc));
		if (r->rc == RS_ESTORE_FULL) {
			rs_log_error("store: full: %s; a batch was refused",
					r->why != NULL && r->why[0] != '\0' ? r->why : "no room");
		}
	}
	if (srv->api != NULL) {
		api_flush(srv->api, r->rc);
		if (r->rc == 0 && srv->ack_writes > 0) {
			rs_hist_observe(&srv->ack_time, rs_clock_mono_ns() - srv->ack_start_ns,
					srv->ack_writes);
		}
		srv->ack_writes = 0;
		if (r->rc < 0) {
			/* The batch collected behind it was discarded with it. */
			api_seal(srv->api);
			api_flush(srv->api, r->rc);
		}
	}
	if (r->rc == RS_ESTORE_PANIC) {
		/* LMDB cannot go on (catalogue 4.4): stop, let the supervisor
		 * restart us on the last committed state. */
		rs_log_error("store is unusable: shutting down");
		srv->exit_code = 1;
		server_stop(srv);
		return;
	}
	if (r->rc < 0) {
		/* The memory state is ahead of the disk: rebuild it in place
		 * from the disk, which holds exactly what was acknowledged. */
		int lrc = store_reload(srv->store, uv_now(srv->loop), store_reload_cb, srv);
		if (lrc < 0) {
			rs_log_error("cannot reload the store after a failed commit: %s: "
				     "shutting down",
					rs_strerror(lrc));
			srv->exit_code = 1;
			server_stop(srv);
			return;
		}
	}
	commit_pump(srv);
}

/* Once per loop iteration, after I/O: the iteration's writes go to the
 * writer if it is free (else they wait for the batch in flight). */
static void commit_cb(uv_check_t *h)
{
	commit_pump(h->data);
}

/* ---- the modules' contexts: what each is given, and asks back -------------- */

_Static_assert(CONFIG_MAX_LISTEN <= DNSIO_LISTEN_MAX, "every DNS address fits dnsio");
_Static_assert(CONFIG_MAX_NS <= DNSIO_NS_MAX, "every NS name fits dnsio");

/* The API's Stats: the snapshot of every module's counters. */
static void api_stats_cb(struct stats_snapshot *out, void *owner)
{
	server_stats_collect(owner, out);
}

/* The HTTP pages: rendered from a snapshot (and, for the lists, the store). */
static int http_render_cb(void *owner, enum http_page page, char **body, size_t *len)
{
	const struct server *srv = owner;
	struct stats_snapshot snap;
	server_stats_collect(srv, &snap);
	struct rs_buf out = {0};
	int rc;
	switch (page) {
	case HTTP_PAGE_METRICS:
		server_stats_collect_os(srv, &snap);
		rc = metrics_prometheus_render(&snap, &out);
		break;
	case HTTP_PAGE_SERVICES:
		rc = metrics_services_json(&snap, srv->store, &out);
		break;
	case HTTP_PAGE_STATUS:
	default:
		rc = metrics_status_html(&snap, srv->store, &out);
		break;
	}
	if (rc < 0) {
		rs_buf_deinit(&out);
		return rc;
	}
	*body = rs_buf_steal(&out, len);
	return 0;
}

static struct api_limits api_limits_of(const struct server_config *cfg)
{
	return (struct api_limits){
			.tcp = {cfg->api_max_conns, cfg->api_max_per_source, cfg->api_idle_ms,
					cfg->api_max_outbuf},
			.max_frame = cfg->api_max_frame,
			.max_inflight = cfg->api_max_inflight,
			.registration = cfg->limits,
			.audit_max = cfg->audit_log_max,
			.tokens_dry_run = cfg->api_tokens_dry_run,
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

static void backup_api_done_cb(
		int rc, uint64_t bytes, uint64_t duration_ms, const char *msg, void *ud)
{
	struct server *srv = ud;
	api_backup_done(srv->api, rc, bytes, duration_ms, msg);
}

/* The API's Backup: a hot backup whose end answers the request. */
static int api_backup_cb(const char *path, void *ud)
{
	struct server *srv = ud;
	return backup_run(srv->backup, path, backup_api_done_cb, srv);
}

static int api_open(struct server *srv, char *err, size_t errsz)
{
	const struct server_config *cfg = &srv->cfg;
	const struct api_context ctx = {
			.loop = srv->loop,
			.store = srv->store,
			.listen = cfg->api.addrs,
			.nlisten = cfg->api.n,
			.limits = api_limits_of(cfg),
			.stats = api_stats_cb,
			.stats_ud = srv,
			.admit = srv->acl[STATS_LISTENER_API] != NULL ? acl_admit : NULL,
			.admit_user = srv->acl[STATS_LISTENER_API],
			.tokens_path = cfg->api_tokens,
			.audit_path = cfg->audit_log,
			.backup = api_backup_cb,
			.backup_ud = srv,
	};
	int rc = api_start(&ctx, &srv->api, err, errsz);
	for (size_t i = 0; rc == 0 && cfg->api_tokens[0] == '\0' && i < cfg->api.n; i++) {
		if (!rs_sockaddr_is_loopback(&cfg->api.addrs[i])) {
			/* --api-open: said once, where an operator reading the log
			 * at start looks. */
			char text[RS_ADDR_TEXT_MAX];
			rs_endpoint_format((const struct sockaddr *)&cfg->api.addrs[i], text);
			rs_log_warning("api: %s is open (--api-open, no --api-tokens): whoever "
				       "reaches it can register, change and remove any endpoint",
					text);
		}
	}
	return rc;
}

/* A new zone version (server/dns/xfr_publish.h): the secondaries hear of
 * it. At most one per --notify-interval, so NOTIFY coalesces nothing more. */
static void version_cb(uint32_t serial, void *ud)
{
	struct server *srv = ud;
	notify_zone_changed(srv->notify, serial);
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
			.store = srv->store,
			.cfg =
					{
							.listen = cfg->dns.addrs,
							.nlisten = cfg->dns.n,
							.answer = {.zone = cfg->zone,
									.domain = cfg->domain,
									.ns = ns, /* copied by
										     dnsio_start()
										   */
									.nns = cfg->nns,
									.report_zone = cfg->report_zone,
									.ttl = cfg->ttl,
									.negative_ttl = cfg->negative_ttl,
									.udp_max = cfg->udp_max,
									.stable_subsets =
											cfg->stable_subsets,
									.xfr_allow = cfg->xfr_allow,
									.nxfr_allow = cfg->nxfr_allow,
									.tsig_keys = srv->tsig,
									.xfr_key = tsig_keyring_find(
											srv->tsig,
											cfg->xfr_key)},
							.cookies = !cfg->dns_cookies_off,
							.cookie_secret = cfg->dns_cookie_secret,
							.data_dir = cfg->data_dir,
							.threads = cfg->dns_threads,
							.io = (enum dnsio_io)cfg->dns_io,
							.limits = dnsio_limits_of(cfg),
							.xfr_interval_ms = cfg->notify_interval_ms,
							.xfr_hold_ms = srv->xfr_hold_ms,
							.on_version = version_cb,
							.on_version_ud = srv,
							.acl = srv->acl[STATS_LISTENER_DNS],
							.rrl = {.rate = cfg->rrl_rate,
									.slip = cfg->rrl_slip,
									.exempt = cfg->rrl_exempt.p,
									.nexempt = cfg->rrl_exempt.n},
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
			.admit = srv->acl[STATS_LISTENER_HTTP] != NULL ? acl_admit : NULL,
			.admit_user = srv->acl[STATS_LISTENER_HTTP],
	};
	return http_start(&ctx, &srv->http, err, errsz);
}

/* NOTIFY to --notify targets (none: no module). The SOA it carries is the
 * answer engine's (answer.c builds it from the same settings). */
/* NOTIFY signed with --xfr-key (RFC 8945 through server/dns/tsig.h): the
 * module keeps each message's request MAC, which is all the answer's
 * verification needs beside the key. */
static int notify_sign_cb(
		void *ctx, uint8_t *msg, size_t *len, size_t cap, uint8_t *mac, size_t *mac_len)
{
	struct tsig_state st;
	int rc = tsig_request_sign(ctx, &st, msg, len, cap, rs_clock_wall_ms() / 1000);
	if (rc == 0) {
		memcpy(mac, st.mac, st.mac_len);
		*mac_len = st.mac_len;
	}
	return rc;
}

static int notify_verify_cb(
		void *ctx, const uint8_t *msg, size_t len, const uint8_t *mac, size_t mac_len)
{
	struct tsig_state st = {.key = ctx, .mac_len = (uint16_t)mac_len};
	if (mac_len > sizeof(st.mac)) {
		return RS_EINVAL;
	}
	memcpy(st.mac, mac, mac_len);
	return tsig_response_verify(&st, msg, len, rs_clock_wall_ms() / 1000) == TSIG_OK
			       ? 0
			       : RS_EINVAL;
}

static int notify_open(struct server *srv, char *err, size_t errsz)
{
	const struct server_config *cfg = &srv->cfg;
	if (cfg->nnotify == 0) {
		return 0;
	}
	char rname[RS_NAME_TEXT_MAX + 16];
	snprintf(rname, sizeof(rname), "hostmaster.%s", cfg->domain);
	const struct notify_config nc = {
			.zone = cfg->zone,
			.mname = cfg->ns[0],
			.rname = rname,
			.ttl = answer_soa_ttl(cfg->ttl, cfg->negative_ttl),
			.refresh = ANSWER_SOA_REFRESH,
			.retry = ANSWER_SOA_RETRY,
			.expire = ANSWER_SOA_EXPIRE,
			.minimum = cfg->negative_ttl,
			.targets = cfg->notify,
			.ntargets = cfg->nnotify,
			.interval_ms = cfg->notify_interval_ms,
	};
	int rc = notify_new(&nc, &srv->notify, err, errsz);
	if (rc == 0) {
		const struct tsig_key *key =
				srv->tsig != NULL && cfg->xfr_key[0] != '\0'
						? tsig_keyring_find(srv->tsig, cfg->xfr_key)
						: NULL;
		const struct notify_signer signer = {notify_sign_cb, notify_verify_cb, (void *)key};
		rc = notify_start(srv->notify, srv->loop, key != NULL ? &signer : NULL, err, errsz);
	}
	if (rc == 0) {
		rs_log_info("notify: %zu secondar%s, at most one NOTIFY each per %u ms",
				cfg->nnotify, cfg->nnotify == 1 ? "y" : "ies",
				cfg->notify_interval_ms);
		/* As BIND does on load: the secondaries learn the serial now
		 * (after a restart they may be behind); a held zone has none to
		 * give, its first version will say it. */
		if (srv->xfr_hold_ms == 0) {
			notify_zone_changed(srv->notify, dnsio_zone_serial(srv->dnsio));
		}
	}
	return rc;
}

_Static_assert(sizeof(((struct server *)0)->acl) / sizeof(struct acl *) == STATS_LISTENERS,
		"one ACL per listener");

/* The address ACLs of the listeners that have a list (none: no ACL, no
 * cost); said once at start, so that a dry run is never forgotten. */
static int acls_open(struct server *srv, char *err, size_t errsz)
{
	const struct server_config *cfg = &srv->cfg;
	static const char *const names[STATS_LISTENERS] = {"api", "dns", "http"};
	static const char *const flags[STATS_LISTENERS] = {
			"--api-allow", "--dns-allow", "--http-allow"};
	const struct config_prefixes *lists[STATS_LISTENERS] = {
			&cfg->api_allow, &cfg->dns_allow, &cfg->http_allow};
	for (size_t k = 0; k < STATS_LISTENERS; k++) {
		if (lists[k]->n == 0) {
			continue;
		}
		int rc = acl_new(names[k], flags[k], lists[k]->p, lists[k]->n, cfg->acl_dry_run,
				&srv->acl[k]);
		if (rc < 0) {
			snprintf(err, errsz, "acl %s: %s", names[k], rs_strerror(rc));
			return rc;
		}
		rs_log_info("acl: %s serves %zu prefix%s of %s%s", names[k], lists[k]->n,
				lists[k]->n == 1 ? "" : "es", flags[k],
				cfg->acl_dry_run
						? " (--acl-dry-run: what it would refuse is served, "
						  "logged and counted)"
						: "");
	}
	if (cfg->acl_dry_run && cfg->api_allow.n + cfg->dns_allow.n + cfg->http_allow.n == 0) {
		rs_log_warning("acl: --acl-dry-run without --api-allow, --dns-allow or "
			       "--http-allow: nothing to check");
	}
	if (cfg->rrl_rate > 0) {
		rs_log_info("dns: response rate limit %u/s per /24 or /56 and answer over UDP, "
			    "slip %u, %zu exempt prefix%s",
				cfg->rrl_rate, cfg->rrl_slip, cfg->rrl_exempt.n,
				cfg->rrl_exempt.n == 1 ? "" : "es");
	}
	return 0;
}

void server_limits_reload(struct server *srv)
{
	store_set_limits(srv->store, &srv->cfg.limits);
	struct api_limits al = api_limits_of(&srv->cfg);
	api_limits_set(srv->api, &al);
	char err[768];
	if (api_tokens_reload(srv->api, err, sizeof(err)) < 0) {
		/* The old tokens stay in force (roster_api_token_reload_failures_total). */
		rs_log_error("SIGHUP: tokens not reloaded, the old ones stay: %s", err);
	}
	struct dnsio_limits dl = dnsio_limits_of(&srv->cfg);
	dnsio_limits_set(srv->dnsio, &dl);
	struct http_limits hl = http_limits_of(&srv->cfg);
	http_limits_set(srv->http, &hl);
}

int server_start(struct server *srv, char *err, size_t errsz)
{
	srv->start_mono = uv_now(srv->loop);
	srv->start_wall_ms = rs_clock_wall_ms();
	uv_timer_init(srv->loop, &srv->tick);
	srv->tick.data = srv;
	uv_timer_start(&srv->tick, tick_cb, STORE_TICK_MS, STORE_TICK_MS);
	uv_check_init(srv->loop, &srv->commit);
	srv->commit.data = srv;
	uv_check_start(&srv->commit, commit_cb);
	int rc = persist_start(srv->persist, srv->loop, commit_done_cb, srv);
	if (rc < 0) {
		snprintf(err, errsz, "store: cannot start the writer thread: %s", rs_strerror(rc));
		return rc;
	}
	rc = acls_open(srv, err, errsz);
	if (rc == 0) {
		rc = backup_start(srv->loop, srv->persist, srv->cfg.backup_dir,
				srv->cfg.backup_interval_ms, srv->cfg.backup_keep, &srv->backup,
				err, errsz);
	}
	if (rc == 0) {
		/* Before the listeners: the first answer already has them. A bad
		 * file does not stop the registry (its leased instances matter
		 * more): it starts without static instances, says so, and counts
		 * it. */
		struct store_sizes sz;
		store_sizes_get(srv->store, &sz);
		if (srv->cfg.nxfr_allow > 0 && sz.instances == 0 && sz.leases == 0) {
			srv->xfr_hold_ms = srv->cfg.xfr_warmup_ms;
		}
		(void)server_static_load(srv);
		rc = api_open(srv, err, errsz);
	}
	if (rc == 0) {
		rc = dnsio_open(srv, err, errsz);
	}
	for (size_t i = 0; rc == 0 && i < srv->cfg.nns; i++) {
		if (config_ns_in_zone(&srv->cfg, i)) {
			rs_log_warning("dns: NS %s is inside %s, which serves no glue: resolvers "
				       "find its address only if a service of that name is registered "
				       "with the registries' addresses",
					srv->cfg.ns[i], srv->cfg.zone);
		}
	}
	if (rc == 0 && srv->xfr_hold_ms > 0) {
		rs_log_notice("dns: the store started empty: the secondaries get no zone version "
			      "from this registry for --xfr-warmup %u ms, and keep following the "
			      "site's others while its clients register again",
				srv->xfr_hold_ms);
	}
	if (rc == 0) {
		rc = http_open(srv, err, errsz);
	}
	if (rc == 0) {
		rc = notify_open(srv, err, errsz);
	}
	return rc;
}

void server_run(struct server *srv)
{
	uv_run(srv->loop, UV_RUN_DEFAULT);
}

void server_stop(struct server *srv)
{
	if (srv->stopping) {
		return;
	}
	srv->stopping = true;
	/* In reverse of the start order; the API last, so that every write is
	 * committed (the batch in flight, then what is pending) and every reply
	 * sent, each once its batch committed (commit_done_cb). */
	notify_stop(srv->notify); /* freed by server_close() */
	http_stop(srv->http);
	srv->http = NULL;
	backup_stop(srv->backup); /* one that runs finishes as the loop drains */
	srv->backup = NULL;
	dnsio_stop(srv->dnsio);
	srv->dnsio = NULL;
	commit_pump(srv);
	while (persist_batch_busy(srv->persist)) {
		(void)persist_batch_wait(srv->persist);
	}
	if (srv->api != NULL) {
		api_stop(srv->api);
		srv->api = NULL;
	}
	persist_stop(srv->persist);
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
	notify_free(srv->notify);
	static_set_free(srv->statics);
	srv->statics = NULL;
	srv->notify = NULL;
	for (size_t k = 0; k < STATS_LISTENERS; k++) {
		acl_free(srv->acl[k]);
		srv->acl[k] = NULL;
	}
	store_free(srv->store);
	srv->store = NULL;
	tsig_keyring_free(srv->tsig);
	srv->tsig = NULL;
}

/* ---- the stats snapshot ------------------------------------------------------ */

static void stats_dns_collect(const struct dnsio *io, struct stats_dns *out)
{
	out->running = true;
	dnsio_answer_counters(io, &out->answers);
	struct dnsio_counters d;
	dnsio_counters_get(io, &d);
	struct stats_dns_transport *t = &out->transport;
	for (size_t k = 0; k < 2; k++) {
		t->bytes_in[k] = d.bytes_in[k];
		t->bytes_out[k] = d.bytes_out[k];
	}
	t->udp_send_dropped = d.udp_send_dropped;
	t->tcp_connections = d.tcp_connections;
	t->tcp_accepted = d.tcp_accepted;
	t->tcp_rejected = d.tcp_rejected;
	t->tcp_rejected_source = d.tcp_rejected_source;
	t->tcp_idle_closed = d.tcp_idle_closed;
	t->tcp_bad_length = d.tcp_bad_length;
	t->tcp_read_paused = d.tcp_read_paused;
	t->udp_answer_time = d.udp_answer_time;
	t->rrl_dropped = d.rrl_dropped;
	t->rrl_slipped = d.rrl_slipped;
	report_counters_get(dnsio_report(io), &out->reports);
	dnsio_zone_counters(io, &out->zone);
}

_Static_assert(HTTP_STATUS_COUNT <= STATS_HTTP_STATUSES, "stats_http holds every status");

static void stats_http_collect(struct http *http, struct stats_http *out)
{
	const struct http_counters *h = http_counters_get(http);
	out->running = true;
	out->connections = h->connections;
	out->accepted = h->accepted;
	out->rejected = h->rejected;
	out->timed_out = h->timed_out;
	for (size_t k = 0; k < HTTP_STATUS_COUNT; k++) {
		out->responses[k].code = http_status_code((enum http_status)k);
		out->responses[k].count = h->responses[k];
	}
	out->nresponses = HTTP_STATUS_COUNT;
}

void server_stats_collect(const struct server *srv, struct stats_snapshot *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->site, sizeof(out->site), "%s", srv->cfg.site);
	snprintf(out->domain, sizeof(out->domain), "%s", srv->cfg.domain);
	snprintf(out->zone, sizeof(out->zone), "%s", srv->cfg.zone);
	uint64_t now = uv_now(srv->loop);
	out->uptime_ms = now > srv->start_mono ? now - srv->start_mono : 0;
	out->start_wall_ms = srv->start_wall_ms;
	struct stats_store *st = &out->store;
	store_sizes_get(srv->store, &st->sizes);
	st->counters = *store_counters_get(srv->store);
	st->revision = store_revision(srv->store);
	st->journal_first = store_journal_first(srv->store);
	st->preserving = store_preserving(srv->store);
	if (srv->persist != NULL) {
		out->persist.bytes = persist_bytes(srv->persist);
		out->persist.map_bytes = persist_map_size(srv->persist);
		out->persist.commits = persist_commits(srv->persist);
		out->persist.map_max = persist_map_max(srv->persist);
	}
	out->persist.commit_failures = srv->commit_failures;
	out->persist.ack_time = srv->ack_time;
	struct backup_counters bc = backup_counters_get(srv->backup);
	out->persist.backups = bc.done;
	out->persist.backup_failures = bc.failures;
	out->persist.backup_last_wall_ms = bc.last_wall_ms;
	out->persist.backup_last_duration_ms = bc.last_duration_ms;
	out->persist.backup_last_bytes = bc.last_bytes;
	if (srv->api != NULL) {
		out->api = *api_counters_get(srv->api);
	}
	if (srv->dnsio != NULL) {
		stats_dns_collect(srv->dnsio, &out->dns);
	}
	if (srv->http != NULL) {
		stats_http_collect(srv->http, &out->http);
	}
	if (srv->notify != NULL) {
		struct notify_counters nc;
		notify_counters_get(srv->notify, &nc);
		out->notify = (struct stats_notify){true, nc.sent, nc.retried, nc.acked, nc.failed};
	}
	for (size_t k = 0; k < STATS_LISTENERS; k++) {
		if (srv->acl[k] != NULL) {
			struct acl_counters c;
			acl_counters_get(srv->acl[k], &c);
			out->acl.refused[k] = c.refused;
			out->acl.dry_run[k] = c.dry_run;
		}
	}
	out->statics = (struct stats_static){srv->cfg.static_file[0] != '\0', srv->static_ok,
			static_set_count(srv->statics), srv->static_loads, srv->static_load_errors};
}

void server_stats_collect_os(const struct server *srv, struct stats_snapshot *out)
{
	rs_procstat_read(&out->process);
	if (srv->dnsio != NULL) {
		out->dns.transport.udp_receive_drops = dnsio_udp_receive_drops(srv->dnsio);
	}
}

/* The --static file that loaded last, kept in the data dir: a start that
 * finds the file bad serves it, as SIGHUP keeps the old set. */
#define STATIC_LAST_GOOD "static-last-good.jsonl"

/* At a start with a bad --static file: the last good copy, if any. */
static struct static_set *static_last_good(struct server *srv, const char *why)
{
	char path[sizeof(srv->cfg.data_dir) + sizeof(STATIC_LAST_GOOD) + 1];
	snprintf(path, sizeof(path), "%s/%s", srv->cfg.data_dir, STATIC_LAST_GOOD);
	struct static_set *set = NULL;
	char err[512];
	if (access(path, F_OK) != 0 ||
			static_set_read(path, &srv->cfg.limits, &set, err, sizeof(err)) < 0) {
		rs_log_error("static: %s; no static instances are served (no good copy of an "
			     "earlier one in the data dir)",
				why);
		return NULL;
	}
	rs_log_error("static: %s; serving the %zu static instances of the last good copy, %s", why,
			static_set_count(set), path);
	return set;
}

int server_static_load(struct server *srv)
{
	const char *path = srv->cfg.static_file;
	char err[512];
	struct static_set *set = NULL;
	int rc = 0;
	if (path[0] != '\0') {
		rc = static_set_read(path, &srv->cfg.limits, &set, err, sizeof(err));
		if (rc < 0) {
			srv->static_ok = false;
			srv->static_load_errors++;
			if (srv->statics == NULL && (set = static_last_good(srv, err)) != NULL) {
				size_t changed = 0;
				/* Applied as any set; still counted as refused. */
				int arc = static_set_apply(srv->store, set, uv_now(srv->loop),
						rs_clock_wall_ms(), &changed, err, sizeof(err));
				if (arc < 0) {
					rs_log_error("static: the last good copy: not every instance "
						     "applied: %s",
							err);
				}
				srv->statics = set;
				return arc < 0 ? arc : rc;
			}
			if (srv->statics != NULL) {
				rs_log_error("static: %s; still serving the %zu static instances read "
					     "before",
						err, static_set_count(srv->statics));
			}
			return rc;
		}
	} else if (srv->statics == NULL) {
		return 0;
	}
	size_t changed = 0;
	rc = static_set_apply(srv->store, set, uv_now(srv->loop), rs_clock_wall_ms(), &changed, err,
			sizeof(err));
	/* Even a partly applied set is the one to serve: applying it again
	 * (the next SIGHUP) completes it. */
	static_set_free(srv->statics);
	srv->statics = set;
	srv->static_ok = rc == 0;
	if (rc < 0) {
		srv->static_load_errors++;
		rs_log_error("static: %s: not every instance applied: %s", path, err);
		return rc;
	}
	srv->static_loads++;
	rs_log_notice("static: %s: %zu static instances, %zu added, changed or removed",
			path[0] != '\0' ? path : "(none)", static_set_count(set), changed);
	if (set != NULL && (rc = static_set_save(set, srv->cfg.data_dir, STATIC_LAST_GOOD)) < 0) {
		rs_log_warning("static: cannot keep a copy of %s in %s: %s (a start that finds the "
			       "file bad would serve none)",
				path, srv->cfg.data_dir, rs_strerror(rc));
	}
	return 0;
}
