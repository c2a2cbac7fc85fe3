/*
 * rosterd: flags, config, signals, the loop, and the start/stop order.
 * Nothing else lives here: every module hangs off struct server.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>
#ifdef ROSTER_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "common/error.h"
#include "common/log.h"
#include "server/config.h"
#include "server/server.h"

/* Tell the service manager (Type=notify) about a state change; nothing
 * without NOTIFY_SOCKET or without libsystemd. A failed notification is
 * not an error of ours: systemd then times the start out and says so. */
static void notify(const char *state)
{
#ifdef ROSTER_SYSTEMD
	if (sd_notify(0, state) < 0) {
		rs_log_warning("sd_notify: cannot reach NOTIFY_SOCKET");
	}
#else
	(void)state;
#endif
}

/* A failed start's one line: "rosterd: ..." on a terminal or in a file;
 * an error record (priority 3, or a JSON object) for a log collector. */
static void start_failed(const char *what)
{
	if (rs_log_get_format() == RS_LOG_FORMAT_TEXT) {
		fprintf(stderr, "rosterd: %s\n", what);
	} else {
		rs_log_error("%s", what);
	}
}

struct daemon {
	struct server srv;
	uv_signal_t sigterm, sigint, sighup;
};

static void signals_close(struct daemon *d)
{
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->sighup, NULL);
}

static void sigterm_cb(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	rs_log_notice("%s: stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
	notify("STOPPING=1");
	signals_close(d);
	server_stop(&d->srv);
}

static void sighup_cb(uv_signal_t *h, int signum)
{
	(void)signum;
	struct daemon *d = h->data;
	char err[512], changed[512], unapplied[512];
	notify("RELOADING=1");
	if (config_reload(&d->srv.cfg, changed, sizeof(changed), unapplied, sizeof(unapplied), err,
			    sizeof(err)) < 0) {
		rs_log_error("SIGHUP: config not reloaded: %s", err);
		notify("READY=1");
		return;
	}
	rs_log_set_level((enum rs_log_level)d->srv.cfg.log_level);
	server_limits_reload(&d->srv);
	(void)server_static_load(&d->srv); /* it logs its outcome */
	rs_log_notice("SIGHUP: limits and log level reloaded%s%s%s",
			d->srv.cfg.config_file[0] != '\0' ? " from the config file" : "",
			changed[0] != '\0' ? "; changed: " : "", changed);
	if (unapplied[0] != '\0') {
		rs_log_warning("SIGHUP: changed in the config file, applied at a restart only: %s",
				unapplied);
	}
	notify("READY=1");
}

/* Descriptors for every connection the caps admit: the soft limit is
 * raised to the hard one, and a limit still below the caps is said once at
 * start (past it, accept() fails and connections go unanswered, with no
 * UNAVAILABLE frame to explain it). 64 for the store, the log, the
 * listeners and the loop's own. */
static void fd_limit_check(const struct server_config *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit up = {rl.rlim_max, rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &up) == 0) {
			rl = up;
		}
	}
	uint64_t need = (uint64_t)cfg->api_max_conns + cfg->dns_tcp_max_conns +
			cfg->http_max_conns + 64;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		rs_log_warning("file descriptors: the limit is %llu, under the %llu the connection "
			       "caps need (--max-connections %u, --tcp-max-connections %u, "
			       "--http-max-connections %u, and 64): past it connections go "
			       "unanswered; raise LimitNOFILE (ulimit -n) or lower the caps",
				(unsigned long long)rl.rlim_cur, (unsigned long long)need,
				cfg->api_max_conns, cfg->dns_tcp_max_conns, cfg->http_max_conns);
	}
}

/* The process's settings before anything opens. */
static void process_prepare(const struct server_config *cfg)
{
	/* A write to a client that went away must not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	fd_limit_check(cfg);
}

int main(int argc, char **argv)
{
	static struct daemon d; /* large (config paths): not on the stack */
	char err[1024];
	config_defaults(&d.srv.cfg);
	int rc = config_parse(&d.srv.cfg, argc, argv, err, sizeof(err));
	if (rc == 1) {
		return 0;
	}
	if (rc < 0) {
		start_failed(err);
		return 2;
	}
	rs_log_set_level((enum rs_log_level)d.srv.cfg.log_level);
	rs_log_set_format((enum rs_log_format)d.srv.cfg.log_format);
	if (d.srv.cfg.restore_file[0] != '\0') {
		/* Offline: install the checked backup and exit, so that a
		 * supervisor restarting us never restores it twice. */
		char note[1024];
		rc = persist_restore(d.srv.cfg.data_dir, d.srv.cfg.restore_file, note, sizeof(note),
				err, sizeof(err));
		fprintf(rc < 0 ? stderr : stdout, "rosterd: %s\n", rc < 0 ? err : note);
		return rc < 0 ? 2 : 0;
	}
	/* What start-up opened (the store, each listener) is told once every
	 * listener is bound: a start that fails is one error line naming the
	 * problem (SPEC), not a report of what worked before it. */
	rs_log_hold();
	process_prepare(&d.srv.cfg);

	uv_loop_t loop;
	rc = uv_loop_init(&loop);
	if (rc < 0) {
		rs_log_release(RS_LOG_WARNING);
		fprintf(stderr, "rosterd: cannot create the event loop: %s\n", uv_strerror(rc));
		return 1;
	}
	d.srv.loop = &loop;
	uv_update_time(&loop);
	rc = server_open(&d.srv, err, sizeof(err));
	if (rc < 0) {
		server_close(&d.srv);
		uv_loop_close(&loop);
		rs_log_release(RS_LOG_WARNING);
		start_failed(err);
		return 2;
	}
	/* Signals before listeners: a SIGTERM that arrives as soon as a port
	 * answers must still stop us cleanly. */
	uv_signal_init(&loop, &d.sigterm);
	uv_signal_init(&loop, &d.sigint);
	uv_signal_init(&loop, &d.sighup);
	d.sigterm.data = d.sigint.data = d.sighup.data = &d;
	uv_signal_start(&d.sigterm, sigterm_cb, SIGTERM);
	uv_signal_start(&d.sigint, sigterm_cb, SIGINT);
	uv_signal_start(&d.sighup, sighup_cb, SIGHUP);
	/* The signals do not keep the loop alive: when the server stops by
	 * itself (the store panicked), its handles close, uv_run() returns and
	 * the process exits with the server's code instead of waiting for a
	 * signal nobody sends. */
	uv_unref((uv_handle_t *)&d.sigterm);
	uv_unref((uv_handle_t *)&d.sigint);
	uv_unref((uv_handle_t *)&d.sighup);
	rc = server_start(&d.srv, err, sizeof(err));
	if (rc < 0) {
		signals_close(&d);
		server_stop(&d.srv);
		uv_run(&loop, UV_RUN_DEFAULT);
		server_close(&d.srv);
		uv_loop_close(&loop);
		rs_log_release(RS_LOG_WARNING); /* the listeners that did open: not news */
		start_failed(err);
		return 2;
	}
	rs_log_release(RS_LOG_DEBUG);
	rs_log_notice("rosterd serving %s (site %s): api, dns and http started", d.srv.cfg.zone,
			d.srv.cfg.site);
	/* Every listener is bound and listening (server_start() returned): a
	 * unit ordered after rosterd (Type=notify) can connect from here. */
	notify("READY=1\nSTATUS=serving");

	server_run(&d.srv);

	if (!d.srv.stopping) {
		server_stop(&d.srv);
		uv_run(&loop, UV_RUN_DEFAULT);
	}
	if (!uv_is_closing((uv_handle_t *)&d.sigterm)) {
		signals_close(&d);
		uv_run(&loop, UV_RUN_DEFAULT);
	}
	server_close(&d.srv);
	rc = uv_loop_close(&loop);
	if (rc != 0) {
		rs_log_error("event loop closed with handles left: %s", uv_strerror(rc));
		return 1;
	}
	rs_log_notice("stopped cleanly");
	return d.srv.exit_code;
}
