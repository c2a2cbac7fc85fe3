/*
 * client/cli/main.c - the roster command: arguments, registries, one
 * libroster call per command, output, exit code. Nothing else.
 *
 * Exit codes (SPEC): 0 ok, 1 not found or no UP endpoint, 2 usage,
 * 3 registry unreachable or error.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/cli/args.h"
#include "client/cli/doctor.h"
#include "client/cli/output.h"
#include "client/cli/ringowner.h"
#include "client/cli/sites.h"
#include "common/clock.h"
#include "common/name.h"
#include "client/sites.h"
#include "roster/client.h"

enum {
	EXIT_OK = 0,
	EXIT_NOTFOUND = 1,
	EXIT_USAGE = 2,
	EXIT_SERVER = 3,
};

struct cli {
	struct args a;
	struct roster_client *client;
	char servers[ARGS_MAX_SERVERS][RS_ADDR_TEXT_MAX];
	size_t n_servers;
	/* register: what the engine reported */
	pthread_mutex_t mu;
	uint64_t revision;
	uint64_t lease; /**< the first registry's lease, for --json */
	char first_server[64];
	int registered;
	char refusal[300]; /**< why a registry refused the endpoint, before it was registered */
	/* per registry (index into servers): what happened to the lease there */
	bool held[ARGS_MAX_SERVERS]; /**< a lease was opened: the endpoint may be there */
	int dereg[ARGS_MAX_SERVERS]; /**< 0 no answer, 1 confirmed, 2 lease gone, -1 refused */
	uint64_t dereg_revision[ARGS_MAX_SERVERS];
	char dereg_why[ARGS_MAX_SERVERS][160]; /**< the refusal, when dereg is -1 */
	/* watch: the thread in sigwait, and why the events could not be written */
	pthread_t main_thread;
	int watch_errno;
};

/* One line on stderr, "roster: <command>: <message>", and the exit code. */
static int report(const struct cli *cli, int code, const char *msg)
{
	size_t n = strlen(args_cmd_name(cli->a.cmd));
	if (n > 0 && strncmp(msg, args_cmd_name(cli->a.cmd), n) == 0 &&
			strncmp(msg + n, ": ", 2) == 0) {
		msg += n + 2; /* the library already named the operation */
	}
	fprintf(stderr, "roster: %s%s%s\n", args_cmd_name(cli->a.cmd),
			args_cmd_name(cli->a.cmd)[0] != '\0' ? ": " : "", msg);
	return code;
}

/* The exit code of a library error, after saying what happened. */
static int fail_lib(const struct cli *cli, int rc)
{
	const char *msg = roster_errmsg();
	if (msg[0] == '\0') {
		msg = roster_strerror(rc);
	}
	/* Bad input the registry refused (our own checks passed) counts as a
	 * registry error: only the argument checks give usage errors. */
	return report(cli, rc == ROSTER_ENOENT ? EXIT_NOTFOUND : EXIT_SERVER, msg);
}

/* fail_lib() for a call the command makes on its own behalf (register and
 * watch first ask for the registry's stats, ring queries): the library
 * names that call ("stats: no registry answered"), which is not what the
 * user asked for. @p step is the call's name. */
static int fail_step(const struct cli *cli, int rc, const char *step)
{
	const char *msg = roster_errmsg();
	size_t n = strlen(step);
	if (strncmp(msg, step, n) == 0 && strncmp(msg + n, ": ", 2) == 0) {
		msg += n + 2;
	}
	if (msg[0] == '\0') {
		msg = roster_strerror(rc);
	}
	return report(cli, rc == ROSTER_ENOENT ? EXIT_NOTFOUND : EXIT_SERVER, msg);
}

/*
 * The end of a write sent to every registry (deregister, status, register
 * --permanent), after its line was printed when some registry applied it.
 * A registry that did not apply it gets its own stderr line, and the
 * command exits 3: a change missing at a registry is not a success, and
 * nothing will retry it. With one registry, the library's message is the
 * one line.
 */
static int write_result(const struct cli *cli, int rc)
{
	if (rc == 0) {
		return EXIT_OK;
	}
	const struct roster_outcome *o = NULL;
	size_t n = roster_write_outcomes(&o);
	if (rc != ROSTER_EPARTIAL && n <= 1) {
		return fail_lib(cli, rc);
	}
	for (size_t i = 0; i < n && i < cli->n_servers; i++) {
		if (o[i].kind == ROSTER_OUTCOME_APPLIED) {
			continue;
		}
		fprintf(stderr, "roster: %s: %sregistry %s: %s\n", args_cmd_name(cli->a.cmd),
				rc == ROSTER_EPARTIAL ? "warning: not applied at " : "",
				cli->servers[i], o[i].message);
	}
	return rc == ROSTER_ENOENT ? EXIT_NOTFOUND : EXIT_SERVER;
}

/* The last one-shot write's outcomes, for --json; @p names is scratch. */
static struct output_outcomes write_outcomes(
		const struct cli *cli, const char *names[ROSTER_OUTCOMES_MAX])
{
	struct output_outcomes oc = {.servers = names};
	oc.n = roster_write_outcomes(&oc.o);
	if (oc.n > cli->n_servers) {
		oc.n = cli->n_servers;
	}
	for (size_t i = 0; i < oc.n; i++) {
		names[i] = cli->servers[i];
	}
	return oc;
}

static struct roster_instance identity(const struct args *a)
{
	struct roster_instance id = {
			.service = a->service,
			.protocol = a->protocol,
			.host = a->host,
			.port = a->port,
	};
	return id;
}

/* The identity as output shows it: the host as the registry stores it and
 * query prints it (lower case, trailing dot), so that register, status and
 * deregister name an endpoint the same way. @p host holds the text. */
static struct roster_instance identity_shown(const struct args *a, char host[RS_NAME_TEXT_MAX])
{
	struct roster_instance id = identity(a);
	if (a->host != NULL && rs_name_canonical(a->host, 0, host) > 0) {
		id.host = host;
	}
	return id;
}

static int cmd_query(struct cli *cli)
{
	struct args *a = &cli->a;
	struct roster_result *r = NULL;
	int rc = roster_query(
			cli->client, a->service, a->protocol, a->all ? ROSTER_QUERY_ALL : 0, &r);
	if (rc != 0) {
		return fail_lib(cli, rc);
	}
	if (r->stale) {
		fprintf(stderr, "roster: query: warning: %s; answering from the last known copy\n",
				roster_errmsg());
	}
	output_query(stdout, a->json, a->service, a->protocol, r, rs_clock_wall_ms(),
			roster_errmsg());
	size_t up = 0, n = r->n_instances;
	for (size_t i = 0; i < r->n_instances; i++) {
		up += r->instances[i].status == ROSTER_UP ? 1 : 0;
	}
	roster_result_free(r);
	/* --all asks for every endpoint: finding one, UP or not, is success. */
	if (a->all ? n == 0 : up == 0) {
		return report(cli, EXIT_NOTFOUND, a->all ? "no endpoint" : "no UP endpoint");
	}
	return EXIT_OK;
}

static int cmd_list(struct cli *cli)
{
	struct roster_list *l = NULL;
	int rc = roster_list(cli->client, &l);
	if (rc != 0) {
		return fail_lib(cli, rc);
	}
	output_list(stdout, cli->a.json, l);
	roster_list_free(l);
	return EXIT_OK;
}

static int cmd_stats(struct cli *cli, bool reports)
{
	struct roster_stats s;
	int rc = roster_stats(cli->client, &s);
	if (rc != 0) {
		return fail_lib(cli, rc);
	}
	if (reports) {
		output_reports(stdout, cli->a.json, &s);
	} else {
		output_stats(stdout, cli->a.json, &s);
	}
	return EXIT_OK;
}

/* FILE is on the registry's host; a relative one is taken from our working
 * directory (right when the registry runs here). */
static int cmd_backup(struct cli *cli)
{
	char path[4096];
	const char *file = cli->a.file;
	if (file[0] != '/') {
		char cwd[3072];
		if (getcwd(cwd, sizeof(cwd)) == NULL ||
				(size_t)snprintf(path, sizeof(path), "%s/%s", cwd, file) >=
						sizeof(path)) {
			return report(cli, EXIT_USAGE,
					"backup: cannot make the FILE path absolute");
		}
		file = path;
	}
	uint64_t bytes = 0, ms = 0;
	int rc = roster_backup(cli->client, file, &bytes, &ms);
	if (rc != 0) {
		/* ENOENT here is the registry's directory, not an endpoint: exit 3
		 * like every other failure of the registry's backup. */
		return fail_lib(cli, rc == ROSTER_ENOENT ? ROSTER_ESERVER : rc);
	}
	output_backup(stdout, cli->a.json, file, bytes, ms);
	return EXIT_OK;
}

static int cmd_deregister(struct cli *cli)
{
	struct roster_instance id = identity(&cli->a);
	uint64_t revision = 0;
	int rc = roster_instance_deregister(cli->client, &id, &revision);
	if (rc != 0 && rc != ROSTER_EPARTIAL) {
		return write_result(cli, rc);
	}
	char host[RS_NAME_TEXT_MAX];
	struct roster_instance shown = identity_shown(&cli->a, host);
	const char *names[ROSTER_OUTCOMES_MAX];
	struct output_outcomes oc = write_outcomes(cli, names);
	output_change(stdout, cli->a.json, "deregistered", &shown, NULL, revision, &oc);
	return write_result(cli, rc);
}

static int cmd_status(struct cli *cli)
{
	struct roster_instance id = identity(&cli->a);
	uint64_t revision = 0;
	int rc = roster_instance_set_status(cli->client, &id, cli->a.status, &revision);
	if (rc != 0 && rc != ROSTER_EPARTIAL) {
		int code = write_result(cli, rc);
		const struct roster_outcome *o = NULL;
		size_t n = roster_write_outcomes(&o);
		bool leased = false; /* refused for the lease, not the token's scope */
		for (size_t i = 0; i < n; i++) {
			leased = leased || strstr(o[i].message, "under lease") != NULL;
		}
		if (rc == ROSTER_EPERM && leased && cli->a.status != ROSTER_STARTING) {
			fprintf(stderr,
					"roster: status: an endpoint held by `roster register --ttl` "
					"changes through that process: kill -%s PID\n",
					cli->a.status == ROSTER_UP ? "USR1" : "USR2");
		}
		return code;
	}
	char host[RS_NAME_TEXT_MAX];
	struct roster_instance shown = identity_shown(&cli->a, host);
	const char *names[ROSTER_OUTCOMES_MAX];
	struct output_outcomes oc = write_outcomes(cli, names);
	output_change(stdout, cli->a.json, "status", &shown, roster_status_name(cli->a.status),
			revision, &oc);
	return write_result(cli, rc);
}

static int cmd_ring(struct cli *cli)
{
	struct args *a = &cli->a;
	struct roster_result *r = NULL;
	int rc = roster_query(cli->client, a->service, a->protocol, 0, &r);
	if (rc != 0) {
		return fail_step(cli, rc, "query");
	}
	struct ringowner o;
	rc = ringowner_find(r, a->key, &o);
	if (rc == 0) {
		output_ring(stdout, a->json, a->service, a->protocol, a->key, r, &o);
	}
	roster_result_free(r);
	if (rc == ROSTER_ENOENT) {
		return report(cli, EXIT_NOTFOUND, "no UP endpoint: the ring is empty");
	}
	return rc == 0 ? EXIT_OK : report(cli, EXIT_SERVER, roster_strerror(rc));
}

/* Runs on the engine's thread: the first registration is printed by main;
 * everything after it goes to stderr so stdout keeps its first line. */
static void register_event_cb(const struct roster_event *ev, void *ud)
{
	struct cli *cli = ud;
	pthread_mutex_lock(&cli->mu);
	switch (ev->kind) {
	case ROSTER_EVENT_REGISTERED:
		if (!cli->registered) {
			cli->registered = 1;
			cli->revision = ev->revision;
			cli->lease = ev->lease;
			snprintf(cli->first_server, sizeof(cli->first_server), "%s", ev->server);
		} else {
			fprintf(stderr, "roster: register: registered at %s revision %llu\n",
					ev->server, (unsigned long long)ev->revision);
		}
		break;
	case ROSTER_EVENT_REGISTER_FAILED:
		if (!cli->registered) {
			/* main reports it, as the one line of a failed command */
			snprintf(cli->refusal, sizeof(cli->refusal), "registry %s: %s", ev->server,
					ev->message[0] != '\0' ? ev->message
							       : roster_strerror(ev->error));
		} else {
			fprintf(stderr, "roster: register: registry %s refused the endpoint: %s\n",
					ev->server,
					ev->message[0] != '\0' ? ev->message
							       : roster_strerror(ev->error));
		}
		break;
	case ROSTER_EVENT_DISCONNECTED:
		fprintf(stderr, "roster: register: registry %s: connection lost (%s); reconnecting\n",
				ev->server,
				ev->message[0] != '\0' ? ev->message : roster_strerror(ev->error));
		break;
	case ROSTER_EVENT_LEASE:
		if (ev->registry < ARGS_MAX_SERVERS) {
			cli->held[ev->registry] = true;
		}
		break;
	case ROSTER_EVENT_DEREGISTERED:
		/* Only a deregistration the registry confirmed takes the endpoint
		 * out of DNS; an error reply leaves it there until the lease ends,
		 * except "unknown lease": it ended already, and took it along. */
		if (ev->registry < ARGS_MAX_SERVERS) {
			cli->dereg[ev->registry] = ev->error == 0               ? 1
						   : ev->error == ROSTER_ELEASE ? 2
										: -1;
			cli->dereg_revision[ev->registry] = ev->revision;
			snprintf(cli->dereg_why[ev->registry], sizeof(cli->dereg_why[0]), "%s",
					ev->message[0] != '\0' ? ev->message
							       : roster_strerror(ev->error));
		}
		break;
	case ROSTER_EVENT_LEASE_LOST:
		fprintf(stderr, "roster: register: registry %s lost the lease; registering again\n",
				ev->server);
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&cli->mu);
}

/*
 * After the engine stopped: "deregistered ..." on stdout for the first
 * registry that confirmed it (later ones on stderr, as for "registered"),
 * and one stderr line per registry that held a lease but did not confirm:
 * there the endpoint stays in DNS until its lease expires, so the command
 * fails (exit 3) rather than let a script believe it is out of rotation.
 */
static int report_deregistered(struct cli *cli, const struct roster_instance *shown, uint32_t ttl)
{
	int code = EXIT_OK, printed = 0;
	pthread_mutex_lock(&cli->mu);
	for (size_t i = 0; i < cli->n_servers && i < ARGS_MAX_SERVERS; i++) {
		if (cli->dereg[i] == 1 && !printed) {
			output_change(stdout, cli->a.json, "deregistered", shown, NULL,
					cli->dereg_revision[i], NULL);
			printed = 1;
		} else if (cli->dereg[i] == 1) {
			fprintf(stderr, "roster: register: deregistered at %s revision %llu\n",
					cli->servers[i],
					(unsigned long long)cli->dereg_revision[i]);
		} else if (cli->dereg[i] == 2) {
			fprintf(stderr,
					"roster: register: the lease had already expired at %s: the "
					"endpoint is not served there\n",
					cli->servers[i]);
		} else if (cli->held[i]) {
			fprintf(stderr,
					"roster: register: not deregistered at %s (%s); the endpoint "
					"stays until its lease expires (TTL %u s)\n",
					cli->servers[i],
					cli->dereg[i] == 0 ? "unreachable" : cli->dereg_why[i],
					ttl);
			code = EXIT_SERVER;
		}
	}
	pthread_mutex_unlock(&cli->mu);
	return code;
}

/* How long `register` waits for the first registration: two exchanges
 * (OpenLease, Register) of up to @p timeout_ms each, plus a second for the
 * connect and the registry's group commit. */
static uint32_t register_wait_ms(uint32_t timeout_ms)
{
	return timeout_ms * 2 + 1000;
}

/* Block the stop signals in every thread; main waits for them with
 * sigwait. @p status_signals: SIGUSR1 and SIGUSR2 too (a held lease's
 * endpoint marked UP or DOWN, hold_lease()). */
static void block_signals(sigset_t *set, bool status_signals)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	if (status_signals) {
		sigaddset(set, SIGUSR1);
		sigaddset(set, SIGUSR2);
	}
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

/*
 * Hold the lease of `register --ttl` until SIGINT, SIGTERM or SIGHUP. The
 * endpoint is this lease's, so another `roster status` may not change it
 * (SPEC's ownership): SIGUSR1 marks it UP (the service is ready, after
 * --starting), SIGUSR2 DOWN (draining), through the lease, at every
 * registry; the registry's answer is reported like any re-registration.
 */
static void hold_lease(struct cli *cli, struct roster_client *engine,
		const struct roster_instance *inst, const sigset_t *set)
{
	for (;;) {
		int sig = 0;
		sigwait(set, &sig);
		if (sig != SIGUSR1 && sig != SIGUSR2) {
			return;
		}
		enum roster_status st = sig == SIGUSR1 ? ROSTER_UP : ROSTER_DOWN;
		int rc = roster_endpoint_set_status(engine, inst, st);
		if (rc != 0) {
			fprintf(stderr, "roster: register: cannot mark the endpoint %s: %s\n",
					roster_status_name(st), roster_strerror(rc));
		} else if (!cli->a.json) {
			fprintf(stderr, "roster: register: %s: marking the endpoint %s\n",
					sig == SIGUSR1 ? "SIGUSR1" : "SIGUSR2",
					roster_status_name(st));
		}
	}
}

static int cmd_register(struct cli *cli, const struct roster_config *base)
{
	struct args *a = &cli->a;
	struct roster_instance inst = identity(a);
	inst.addresses = a->addresses;
	inst.n_addresses = a->n_addresses;
	inst.weight = a->weight;
	inst.priority = a->priority;
	inst.metadata = a->meta;
	inst.n_metadata = a->n_meta;
	inst.status = a->starting ? ROSTER_STARTING : ROSTER_UP;

	char host[RS_NAME_TEXT_MAX];
	struct roster_instance shown = inst;
	shown.host = identity_shown(a, host).host;
	struct roster_stats s;
	int rc = roster_stats(cli->client, &s); /* the zone, for the first line */
	if (rc != 0) {
		return fail_step(cli, rc, "stats");
	}
	if (a->permanent) {
		uint64_t revision = 0;
		rc = roster_instance_register_permanent(cli->client, &inst, &revision);
		if (rc != 0 && rc != ROSTER_EPARTIAL) {
			return write_result(cli, rc);
		}
		const char *names[ROSTER_OUTCOMES_MAX];
		struct output_outcomes oc = write_outcomes(cli, names);
		output_registered(
				stdout, a->json, &shown, s.zone, revision, s.server, true, 0, &oc);
		return write_result(cli, rc);
	}

	/* A lease: hold it until interrupted. The engine gets its own client so
	 * that its thread starts with the signals already blocked. */
	sigset_t set;
	block_signals(&set, true);
	struct roster_config cfg = *base;
	cfg.ttl_seconds = a->ttl > 0 ? a->ttl : 10;
	cfg.event_cb = register_event_cb;
	cfg.event_ud = cli;
	struct roster_client *engine = NULL;
	rc = roster_client_new(&cfg, &engine);
	if (rc == 0) {
		rc = roster_endpoint_add(engine, &inst);
	}
	if (rc == 0) {
		rc = roster_client_start(engine);
	}
	if (rc == 0) {
		/* Connect, OpenLease and Register: the library's effective
		 * timeout, not cfg's (0 unless --timeout was given). */
		rc = roster_client_wait(engine, register_wait_ms(roster_client_timeout_ms(engine)));
	}
	pthread_mutex_lock(&cli->mu);
	int ok = cli->registered;
	uint64_t revision = cli->revision, lease = cli->lease;
	char server[64];
	snprintf(server, sizeof(server), "%s", cli->first_server);
	char refusal[sizeof(cli->refusal)];
	snprintf(refusal, sizeof(refusal), "%s", cli->refusal);
	pthread_mutex_unlock(&cli->mu);
	if (!ok) {
		int code = refusal[0] != '\0' ? report(cli, EXIT_SERVER, refusal)
			   : rc != 0          ? fail_lib(cli, rc)
					      : report(cli, EXIT_SERVER,
								"no registry accepted the endpoint");
		roster_client_free(engine);
		return code;
	}
	output_registered(stdout, a->json, &shown, s.zone, revision, server, false, lease, NULL);
	if (!a->json) {
		fprintf(stderr,
				"roster: register: holding the lease (TTL %u s); interrupt to "
				"deregister; SIGUSR1 marks it UP, SIGUSR2 DOWN (pid %ld)\n",
				cfg.ttl_seconds, (long)getpid());
	}
	hold_lease(cli, engine, &inst, &set);
	roster_client_free(engine); /* deregisters the lease at every connected registry */
	return report_deregistered(cli, &shown, cfg.ttl_seconds);
}

/* On the engine's thread. An event that cannot be written (a full disk, a
 * reader gone: `roster watch | head -1`) ends the watch: the main thread is
 * woken from its sigwait, once. */
static void watch_cb(const struct roster_watch_event *ev, void *ud)
{
	struct cli *cli = ud;
	if (output_watch_event(stdout, cli->a.json, ev)) {
		return;
	}
	int err = errno != 0 ? errno : EIO;
	pthread_mutex_lock(&cli->mu);
	if (cli->watch_errno == 0) {
		cli->watch_errno = err;
		pthread_kill(cli->main_thread, SIGTERM);
	}
	pthread_mutex_unlock(&cli->mu);
}

static int cmd_watch(struct cli *cli)
{
	struct roster_stats s;
	int rc = roster_stats(cli->client, &s); /* fail fast when unreachable */
	if (rc != 0) {
		return fail_step(cli, rc, "stats");
	}
	sigset_t set;
	block_signals(&set, false);
	cli->main_thread = pthread_self();
	struct roster_watch *w = NULL;
	rc = roster_watch_start(cli->client, cli->a.service, watch_cb, cli, &w);
	if (rc == 0) {
		rc = roster_client_start(cli->client);
	}
	if (rc != 0) {
		return fail_lib(cli, rc);
	}
	if (!cli->a.json) {
		fprintf(stderr, "roster: watch: watching %s%s at %s; interrupt to stop\n",
				cli->a.service != NULL ? "service:" : "every service",
				cli->a.service != NULL ? cli->a.service : "", cli->servers[0]);
	}
	int sig = 0;
	sigwait(&set, &sig);
	roster_client_stop(cli->client);
	roster_watch_cancel(cli->client, w);
	pthread_mutex_lock(&cli->mu);
	int err = cli->watch_errno;
	pthread_mutex_unlock(&cli->mu);
	if (err == EPIPE) {
		return EXIT_SERVER; /* the reader went away: nobody to tell */
	}
	if (err != 0) {
		char msg[160];
		snprintf(msg, sizeof(msg), "cannot write the events: %s", strerror(err));
		return report(cli, EXIT_SERVER, msg);
	}
	return EXIT_OK;
}

/* A --cache (or ROSTER_CACHE) whose directory cannot be written keeps no
 * copy for an outage, silently in libroster (only a cache): said here. */
static void cache_writable_check(const char *cache)
{
	if (cache == NULL || cache[0] == '\0') {
		return;
	}
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", cache);
	char *slash = strrchr(dir, '/');
	const char *d = slash == NULL ? "." : slash == dir ? "/" : (*slash = '\0', dir);
	if (access(d, W_OK) != 0) {
		fprintf(stderr,
				"roster: warning: --cache %s: cannot write in %s (%s): no copy is kept "
				"for when no registry answers\n",
				cache, d, strerror(errno));
	}
}

/* The API token: the first line of --token-file (surrounding blanks cut),
 * else ROSTER_TOKEN, else none (*out NULL). A file that gives no token is a
 * usage error: a typo must not quietly run unauthenticated. */
static int token_get(const char *path, char *buf, size_t bufsz, const char **out, char *err,
		size_t errsz)
{
	*out = NULL;
	if (path == NULL) {
		const char *env = getenv("ROSTER_TOKEN");
		*out = env != NULL && env[0] != '\0' ? env : NULL;
		return 0;
	}
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		snprintf(err, errsz, "--token-file %s: %s", path, strerror(errno));
		return -1;
	}
	size_t n = 0;
	if (fgets(buf, (int)bufsz, f) != NULL) {
		n = strcspn(buf, "\r\n");
	}
	fclose(f);
	size_t start = 0;
	while (start < n && (buf[start] == ' ' || buf[start] == '\t')) {
		start++;
	}
	while (n > start && (buf[n - 1] == ' ' || buf[n - 1] == '\t')) {
		n--;
	}
	buf[n] = '\0';
	if (n == start) {
		snprintf(err, errsz, "--token-file %s: no token on its first line", path);
		return -1;
	}
	*out = buf + start;
	return 0;
}

/* roster doctor: the site's registries with their DNS and HTTP addresses
 * (sites.conf's dns= and http=, else the registry's address on 53 and
 * 7680). */
static int cmd_doctor(struct cli *cli, const char *sites, const char *token)
{
	struct doctor_registry regs[ARGS_MAX_SERVERS];
	char **list = NULL, *(*where)[2] = NULL;
	size_t n = 0;
	char err[512];
	bool from_file = cli->a.site != NULL && cli->a.n_servers == 0 &&
			 (getenv("ROSTER_SERVER") == NULL || getenv("ROSTER_SERVER")[0] == '\0');
	if (from_file && sites_read_where(cli->a.site, sites, &list, &where, &n, err,
					 sizeof(err)) != 0) {
		return report(cli, EXIT_USAGE, err);
	}
	if (!from_file) {
		n = cli->n_servers;
	}
	for (size_t i = 0; i < n && i < ARGS_MAX_SERVERS; i++) {
		struct doctor_registry *r = &regs[i];
		snprintf(r->api, sizeof(r->api), "%.63s", cli->servers[i]);
		char host[RS_ADDR_TEXT_MAX];
		snprintf(host, sizeof(host), "%.63s", cli->servers[i]);
		char *colon = strrchr(host, ':');
		if (colon != NULL) {
			*colon = '\0';
		}
		const char *dns = where != NULL ? where[i][0] : NULL;
		const char *http = where != NULL ? where[i][1] : NULL;
		snprintf(r->dns, sizeof(r->dns), "%.63s%s", dns != NULL ? dns : host,
				dns != NULL ? "" : ":53");
		snprintf(r->http, sizeof(r->http), "%.63s%s", http != NULL ? http : host,
				http != NULL ? "" : ":7680");
	}
	sites_where_free(where, n);
	sites_free(list, n);
	return doctor_run(
			&cli->a, regs, n < ARGS_MAX_SERVERS ? n : ARGS_MAX_SERVERS, token, stdout);
}

int main(int argc, char **argv)
{
	struct cli cli;
	memset(&cli, 0, sizeof(cli));
	pthread_mutex_init(&cli.mu, NULL);
	char err[512];
	if (args_parse(argc - 1, argv + 1, &cli.a, err, sizeof(err)) != 0) {
		fprintf(stderr, "roster: %s (roster --help for usage)\n", err);
		return EXIT_USAGE;
	}
	if (cli.a.cmd == ARGS_HELP) {
		if (cli.a.version) {
			printf("roster %s\n", ROSTER_VERSION);
		} else {
			args_command_usage(stdout, cli.a.help_cmd);
		}
		return fflush(stdout) == 0 ? EXIT_OK : EXIT_SERVER;
	}
	const char *sites = getenv("ROSTER_SITES");
	if (sites_resolve(&cli.a, getenv("ROSTER_SERVER"),
			    sites != NULL && sites[0] != '\0' ? sites : SITES_DEFAULT_PATH,
			    cli.servers, &cli.n_servers, err, sizeof(err)) != 0) {
		return report(&cli, EXIT_USAGE, err);
	}
	const char *servers[ARGS_MAX_SERVERS];
	for (size_t i = 0; i < cli.n_servers; i++) {
		servers[i] = cli.servers[i];
	}
	const char *cache = cli.a.cache != NULL ? cli.a.cache : getenv("ROSTER_CACHE");
	cache_writable_check(cache);
	char token[4096];
	const char *tok = NULL;
	if (token_get(cli.a.token_file, token, sizeof(token), &tok, err, sizeof(err)) != 0) {
		return report(&cli, EXIT_USAGE, err);
	}
	struct roster_config cfg = {
			.servers = servers,
			.n_servers = cli.n_servers,
			.timeout_ms = cli.a.timeout_ms,
			.max_stale_seconds = cli.a.max_stale,
			.cache_path = cache != NULL && cache[0] != '\0' ? cache : NULL,
			.token = tok,
	};
	int rc = roster_client_new(&cfg, &cli.client);
	if (rc != 0) {
		return report(&cli, EXIT_USAGE, roster_errmsg());
	}
	int code;
	switch (cli.a.cmd) {
	case ARGS_QUERY:
		code = cmd_query(&cli);
		break;
	case ARGS_REGISTER:
		code = cmd_register(&cli, &cfg);
		break;
	case ARGS_DEREGISTER:
		code = cmd_deregister(&cli);
		break;
	case ARGS_STATUS:
		code = cmd_status(&cli);
		break;
	case ARGS_LIST:
		code = cmd_list(&cli);
		break;
	case ARGS_WATCH:
		code = cmd_watch(&cli);
		break;
	case ARGS_RING:
		code = cmd_ring(&cli);
		break;
	case ARGS_REPORTS:
		code = cmd_stats(&cli, true);
		break;
	case ARGS_STATS:
		code = cmd_stats(&cli, false);
		break;
	case ARGS_DOCTOR:
		code = cmd_doctor(&cli,
				sites != NULL && sites[0] != '\0' ? sites : SITES_DEFAULT_PATH,
				tok);
		break;
	case ARGS_BACKUP:
		code = cmd_backup(&cli);
		break;
	default:
		code = report(&cli, EXIT_USAGE, "no command");
		break;
	}
	roster_client_free(cli.client);
	memset(token, 0, sizeof(token));
	pthread_mutex_destroy(&cli.mu);
	if (fflush(stdout) != 0 && code == EXIT_OK) {
		code = EXIT_SERVER;
	}
	return code;
}
