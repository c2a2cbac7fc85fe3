#include "client/cli/args.h"

#include <stdio.h>
#include <string.h>

#include "common/addr.h"
#include "common/error.h"
#include "common/flags.h"
#include "common/name.h"

/* The commands that take an option (rs_flag.groups); 0: every command. */
#define C(cmd) (1u << (cmd))
#define IDENT (C(ARGS_REGISTER) | C(ARGS_DEREGISTER) | C(ARGS_STATUS))

static const char *const cmd_names[] = {
		[ARGS_QUERY] = "query",
		[ARGS_REGISTER] = "register",
		[ARGS_DEREGISTER] = "deregister",
		[ARGS_STATUS] = "status",
		[ARGS_LIST] = "list",
		[ARGS_WATCH] = "watch",
		[ARGS_RING] = "ring",
		[ARGS_REPORTS] = "reports",
		[ARGS_STATS] = "stats",
		[ARGS_DOCTOR] = "doctor",
		[ARGS_BACKUP] = "backup",
		[ARGS_HELP] = "help",
};

const char *args_cmd_name(enum args_cmd cmd)
{
	if (cmd > ARGS_NONE && cmd <= ARGS_HELP) {
		return cmd_names[cmd];
	}
	return "";
}

const char *args_usage(void)
{
	return "usage: roster [--server HOST:PORT | -s SITE] [--json] [--timeout MS]\n"
	       "              [--cache FILE] [--max-stale SECONDS] [--token-file FILE] COMMAND ...\n"
	       "  query [--service] NAME [--protocol P] [--all]\n"
	       "  register --service NAME --protocol P --host FQDN --port N [--address IP]...\n"
	       "           [--ttl S | --permanent] [--weight W] [--priority P] [--meta K=V]...\n"
	       "           [--starting]\n"
	       "  deregister --service NAME --protocol P --host FQDN --port N\n"
	       "  status --service NAME --protocol P --host FQDN --port N up|down|starting\n"
	       "  list\n"
	       "  watch [--service NAME]\n"
	       "  ring --service NAME --protocol P --key KEY\n"
	       "  reports\n"
	       "  stats\n"
	       "  doctor [--secondary ADDR:PORT]... [--max-lag MS]\n"
	       "  backup FILE\n"
	       "--server (repeatable, or comma-separated) and ROSTER_SERVER win over -s SITE,\n"
	       "which reads /etc/roster/sites.conf (ROSTER_SITES overrides the path);\n"
	       "the default is 127.0.0.1:7600. ROSTER_CACHE sets --cache.\n"
	       "--token-file: the API token (its first line) for registries with --api-tokens;\n"
	       "ROSTER_TOKEN gives the token itself.\n"
	       "exit: 0 ok, 1 not found or no UP endpoint, 2 usage, 3 registry unreachable or "
	       "error\n";
}

/* Each command's synopsis (as in args_usage()) and what it does. */
static const struct {
	const char *synopsis, *what;
} cmd_help[] = {
		[ARGS_QUERY] = {"query [--service] NAME [--protocol P] [--all]",
				"Print the service's UP endpoints (--all: DOWN and STARTING too) in "
				"columns:\nhost:port, status, weight, priority, addresses, metadata.\n"
				"exit: 0 some endpoint UP (--all: any endpoint), 1 none"},
		[ARGS_REGISTER] = {"register --service NAME --protocol P --host FQDN --port N "
				   "[--address IP]...\n"
				   "           [--ttl S | --permanent] [--weight W] [--priority P] "
				   "[--meta K=V]...\n"
				   "           [--starting]",
				"Register an endpoint. With a TTL (the default) hold its lease with "
				"heartbeats\nuntil SIGINT/SIGTERM, then deregister it; meanwhile "
				"SIGUSR1 marks it UP\n(ready, after --starting) and SIGUSR2 DOWN "
				"(draining). --permanent returns at once."},
		[ARGS_DEREGISTER] = {"deregister --service NAME --protocol P --host FQDN --port N",
				"Remove an endpoint from every registry."},
		[ARGS_STATUS] = {"status --service NAME --protocol P --host FQDN --port N "
				 "up|down|starting",
				"Mark an endpoint UP (served), DOWN (draining, not served) or STARTING."},
		[ARGS_LIST] = {"list", "Every service with its UP/DOWN/STARTING/stale counts."},
		[ARGS_WATCH] = {"watch [--service NAME]",
				"Print changes as they happen, until interrupted."},
		[ARGS_RING] = {"ring --service NAME --protocol P --key KEY",
				"The UP endpoint that owns KEY on the service's consistent-hash ring."},
		[ARGS_REPORTS] = {"reports",
				"The client error reports the registry received over DNS, by code."},
		[ARGS_STATS] = {"stats",
				"The registry's zone, revision, leases, instances and mode."},
		[ARGS_DOCTOR] = {"doctor [--secondary ADDR:PORT]... [--max-lag MS]",
				"Check every registry of the site from the outside, one line per "
				"check:\nits API, DNS over UDP and TCP, HTTP; that they hold the same "
				"instances,\nserve clock-based serials and an NS RRset naming them; "
				"that each secondary\nserves the newest serial. sites.conf may give "
				"dns=ADDR:PORT and http=ADDR:PORT\nafter a registry (default: its "
				"address, ports 53 and 7680).\nexit: 0 every check passed, 1 one "
				"failed"},
		[ARGS_BACKUP] = {"backup FILE",
				"Have the registry write a consistent copy of its store to FILE, on "
				"its own host\n(a relative FILE is taken from this directory); "
				"rosterd --restore FILE puts it back."},
		[ARGS_HELP] = {"help [COMMAND]", "This text, or COMMAND's."},
};

/* A usage error: the message in err, RS_EINVAL (args_parse() exits 2). */
#define usage_err(err, errsz, ...) rs_error_printf(err, errsz, RS_EINVAL, __VA_ARGS__)

/* The flag's const char * field in struct args. */
static const char **field(void *a, const struct rs_flag *f)
{
	return (const char **)((char *)a + f->offset);
}

static int add_servers(void *t, const struct rs_flag *f, const char *value, char *err, size_t errsz)
{
	/* "a,b" lists several registries; each is checked here, so that a typo
	 * is a usage error and not an unreachable registry. */
	struct args *a = t;
	(void)f;
	const char *p = value;
	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		char one[RS_ADDR_TEXT_MAX];
		struct sockaddr_storage ss;
		if (len == 0 || len >= sizeof(one)) {
			return usage_err(err, errsz, "invalid --server '%s' (expected HOST:PORT)",
					value);
		}
		memcpy(one, p, len);
		one[len] = '\0';
		int rc = rs_endpoint_parse(one, 0, &ss);
		if (rc != 0) {
			return usage_err(err, errsz,
					"invalid --server '%s': %s (expected ADDRESS:PORT, e.g. "
					"127.0.0.1:7600)",
					one,
					rc == RS_EPORT ? "bad or missing port"
						       : "not an IP address");
		}
		if (a->n_servers == ARGS_MAX_SERVERS) {
			return usage_err(err, errsz, "too many --server (at most %d)",
					ARGS_MAX_SERVERS);
		}
		a->servers[a->n_servers++] = p;
		p += len + (comma != NULL ? 1 : 0);
		if (comma != NULL && *p == '\0') {
			return usage_err(err, errsz, "invalid --server '%s' (trailing comma)",
					value);
		}
	}
	return 0;
}

static int set_site(void *t, const struct rs_flag *f, const char *v, char *err, size_t errsz)
{
	if (rs_label_check(v, strlen(v), 0) != 0) {
		return usage_err(err, errsz, "invalid site name '%s'", v);
	}
	*field(t, f) = v;
	return 0;
}

/* --service, --protocol. */
static int set_label(void *t, const struct rs_flag *f, const char *v, char *err, size_t errsz)
{
	if (rs_label_check(v, strlen(v), 0) != 0) {
		return usage_err(err, errsz,
				"invalid --%s '%s': a DNS label of letters, digits and hyphens, "
				"without underscore, at most 63 characters",
				f->name, v);
	}
	*field(t, f) = v;
	return 0;
}

static int set_host(void *t, const struct rs_flag *f, const char *v, char *err, size_t errsz)
{
	if (rs_name_check(v, 0) != 0) {
		return usage_err(err, errsz, "invalid --host '%s': not a valid host name", v);
	}
	*field(t, f) = v;
	return 0;
}

/* The host is the SRV target, absolute: "web1" would be published as
 * "web1.", which no resolver finds, so register refuses it (as the registry
 * does). deregister and status take it: an older registry may hold one. */
static int register_host_check(const struct args *a, char *err, size_t errsz)
{
	if (!rs_name_single_label(a->host)) {
		return 0;
	}
	return usage_err(err, errsz,
			"invalid --host '%s': a single label is not a fully qualified name; give "
			"the FQDN (e.g. %.*s.lon6.example.net)",
			a->host, (int)strcspn(a->host, "."), a->host);
}

static int add_address(void *t, const struct rs_flag *f, const char *v, char *err, size_t errsz)
{
	struct args *a = t;
	struct rs_addr addr;
	(void)f;
	if (rs_addr_parse(v, &addr) != 0) {
		return usage_err(err, errsz, "invalid --address '%s': not an IPv4 or IPv6 address",
				v);
	}
	if (a->n_addresses == ARGS_MAX_ADDRESSES) {
		return usage_err(err, errsz, "too many --address (at most %d)", ARGS_MAX_ADDRESSES);
	}
	a->addresses[a->n_addresses++] = v;
	return 0;
}

static int add_meta(void *t, const struct rs_flag *f, const char *v, char *err, size_t errsz)
{
	struct args *a = t;
	(void)f;
	const char *eq = strchr(v, '=');
	size_t klen = eq != NULL ? (size_t)(eq - v) : 0;
	if (eq == NULL || klen == 0 || klen >= sizeof(a->meta_keys[0])) {
		return usage_err(err, errsz, "invalid --meta '%s' (expected KEY=VALUE)", v);
	}
	if (a->n_meta == ARGS_MAX_META) {
		return usage_err(err, errsz, "too many --meta (at most %d)", ARGS_MAX_META);
	}
	memcpy(a->meta_keys[a->n_meta], v, klen);
	a->meta_keys[a->n_meta][klen] = '\0';
	a->meta[a->n_meta].key = a->meta_keys[a->n_meta];
	a->meta[a->n_meta].value = eq + 1;
	a->n_meta++;
	return 0;
}

static int add_secondary(void *t, const struct rs_flag *f, const char *v, char *err, size_t errsz)
{
	struct args *a = t;
	struct sockaddr_storage ss;
	(void)f;
	if (rs_endpoint_parse(v, 0, &ss) != 0) {
		return usage_err(err, errsz, "invalid --secondary '%s' (expected ADDRESS:PORT)", v);
	}
	if (a->n_secondaries == ARGS_MAX_SERVERS) {
		return usage_err(err, errsz, "too many --secondary (at most %d)", ARGS_MAX_SERVERS);
	}
	a->secondaries[a->n_secondaries++] = v;
	return 0;
}

static int set_key(void *t, const struct rs_flag *f, const char *v, char *err, size_t errsz)
{
	if (v[0] == '\0') {
		return usage_err(err, errsz, "empty --key");
	}
	*field(t, f) = v;
	return 0;
}

#define ARG(f) .offset = offsetof(struct args, f)

static const struct rs_flag cli_flags[] = {
		{"server", 0, RS_FLAG_CALL, .set = add_servers, .value_name = "HOST:PORT",
				.help = "a registry; repeatable or comma-separated (default "
					"ROSTER_SERVER, else 127.0.0.1:7600)"},
		{"site", 's', RS_FLAG_CALL, ARG(site), .set = set_site, .value_name = "SITE",
				.help = "the registries of SITE in /etc/roster/sites.conf "
					"(ROSTER_SITES: another file)"},
		{"json", 0, RS_FLAG_SWITCH, ARG(json),
				.help = "JSON output instead of text (64-bit ids as strings)"},
		{"timeout", 0, RS_FLAG_UINT, RS_FLAG_FIELD(struct args, timeout_ms), .min = 1,
				.max = 600000, .hint = "1-600000 ms", .value_name = "MS",
				.help = "per-request and connect timeout (default 2000)"},
		{"cache", 0, RS_FLAG_STRING, ARG(cache), .value_name = "FILE",
				.help = "last-known-good copy of query answers (default "
					"ROSTER_CACHE, else none)"},
		{"token-file", 0, RS_FLAG_STRING, ARG(token_file), .value_name = "FILE",
				.help = "the API token, the file's first line (default ROSTER_TOKEN)"},
		{"max-stale", 0, RS_FLAG_UINT, RS_FLAG_FIELD(struct args, max_stale), .min = 1,
				.max = 30u * 86400u, .hint = "1-2592000 s", .value_name = "SECONDS",
				.help = "how long a stale cached answer is served (default 3600)"},
		{"help", 'h', RS_FLAG_SWITCH, RS_FLAG_STOP, ARG(help),
				.help = "this text; `roster COMMAND --help` lists a command's own "
					"flags"},
		{"version", 0, RS_FLAG_SWITCH, RS_FLAG_STOP, ARG(version),
				.help = "print the version and exit"},
		{"service", 0, RS_FLAG_CALL, ARG(service), .set = set_label,
				.groups = IDENT | C(ARGS_QUERY) | C(ARGS_WATCH) | C(ARGS_RING),
				.value_name = "NAME",
				.help = "the service: a DNS label, no underscore (required but by "
					"watch, which watches every service without it)"},
		{"protocol", 0, RS_FLAG_CALL, ARG(protocol), .set = set_label,
				.groups = IDENT | C(ARGS_QUERY) | C(ARGS_RING), .value_name = "P",
				.help = "the protocol label (required but by query, which shows "
					"every protocol without it)"},
		{"host", 0, RS_FLAG_CALL, ARG(host), .set = set_host, .groups = IDENT,
				.value_name = "FQDN",
				.help = "the endpoint's fully qualified host name (the SRV target)"},
		{"port", 0, RS_FLAG_UINT, RS_FLAG_FIELD(struct args, port), .min = 1, .max = 65535,
				.groups = IDENT, .value_name = "N",
				.help = "the endpoint's port, 1-65535"},
		{"address", 0, RS_FLAG_CALL, .set = add_address, .groups = C(ARGS_REGISTER),
				.value_name = "IP",
				.help = "an IPv4 or IPv6 address served as A/AAAA; repeatable "
					"(default none)"},
		{"ttl", 0, RS_FLAG_UINT, RS_FLAG_FIELD(struct args, ttl), .min = 1, .max = 3600,
				.hint = "1-3600 seconds", .groups = C(ARGS_REGISTER),
				.value_name = "S",
				.help = "lease TTL, 1-3600 s: held with heartbeats until interrupted, "
					"then deregistered (default 10)"},
		{"permanent", 0, RS_FLAG_SWITCH, ARG(permanent), .groups = C(ARGS_REGISTER),
				.help = "register without a lease, until deregistered; returns at "
					"once (default: a lease)"},
		{"weight", 0, RS_FLAG_UINT, RS_FLAG_FIELD(struct args, weight), .max = 65535,
				.groups = C(ARGS_REGISTER), .value_name = "W",
				.help = "SRV weight, also weights A/AAAA shuffles, 0-65535 (default 0)"},
		{"priority", 0, RS_FLAG_UINT, RS_FLAG_FIELD(struct args, priority), .max = 65535,
				.groups = C(ARGS_REGISTER), .value_name = "P",
				.help = "SRV priority, lower is preferred, 0-65535 (default 0)"},
		{"meta", 0, RS_FLAG_CALL, .set = add_meta, .groups = C(ARGS_REGISTER),
				.value_name = "K=V",
				.help = "a metadata entry, shown by query and the API (not served in "
					"DNS); repeatable (default none)"},
		{"starting", 0, RS_FLAG_SWITCH, ARG(starting), .groups = C(ARGS_REGISTER),
				.help = "register as STARTING, not served until marked UP (SIGUSR1 "
					"with --ttl, `roster status ... up` with --permanent) (default "
					"UP)"},
		{"all", 0, RS_FLAG_SWITCH, ARG(all), .groups = C(ARGS_QUERY),
				.help = "also show DOWN and STARTING endpoints (default UP only)"},
		{"key", 0, RS_FLAG_CALL, ARG(key), .set = set_key, .groups = C(ARGS_RING),
				.value_name = "KEY", .help = "the key to place on the hash ring"},
		{"secondary", 0, RS_FLAG_CALL, .set = add_secondary, .groups = C(ARGS_DOCTOR),
				.value_name = "ADDR:PORT",
				.help = "a secondary that must serve the newest serial; repeatable "
					"(default none)"},
		{"max-lag", 0, RS_FLAG_UINT, RS_FLAG_FIELD(struct args, max_lag_ms), .min = 1,
				.max = 86400000, .hint = "1-86400000 ms", .groups = C(ARGS_DOCTOR),
				.value_name = "MS",
				.help = "how far behind the registries' serial a secondary may be "
					"(default 5000)"},
};

void args_command_usage(FILE *out, enum args_cmd cmd)
{
	if (cmd <= ARGS_NONE || cmd > ARGS_HELP) {
		fputs(args_usage(), out);
		return;
	}
	fprintf(out, "usage: roster [GLOBAL OPTIONS] %s\n\n%s\n", cmd_help[cmd].synopsis,
			cmd_help[cmd].what);
	/* The command's own options, then the global ones, each from the table. */
	struct rs_flag own[sizeof(cli_flags) / sizeof(cli_flags[0])];
	struct rs_flag global[sizeof(cli_flags) / sizeof(cli_flags[0])];
	size_t n_own = 0, n_global = 0;
	for (size_t k = 0; k < sizeof(cli_flags) / sizeof(cli_flags[0]); k++) {
		if (cli_flags[k].groups == 0) {
			global[n_global++] = cli_flags[k];
		} else if (cli_flags[k].groups & C(cmd)) {
			own[n_own++] = cli_flags[k];
		}
	}
	if (n_own > 0) {
		fputs("\noptions:\n", out);
		rs_flags_help(out, &(struct rs_flags){own, n_own}, NULL, NULL);
	}
	fputs("\nglobal options:\n", out);
	rs_flags_help(out, &(struct rs_flags){global, n_global}, NULL, NULL);
}

static int parse_status_word(struct args *a, const char *w, char *err, size_t errsz)
{
	if (strcmp(w, "up") == 0) {
		a->status = ROSTER_UP;
	} else if (strcmp(w, "down") == 0) {
		a->status = ROSTER_DOWN;
	} else if (strcmp(w, "starting") == 0) {
		a->status = ROSTER_STARTING;
	} else {
		return usage_err(err, errsz, "invalid status '%s' (up, down or starting)", w);
	}
	return 0;
}

/* Required options and combinations, once everything is read. */
static int check_complete(struct args *a, char *err, size_t errsz)
{
	uint32_t mask = C(a->cmd);
	if (a->cmd == ARGS_HELP) {
		return 0;
	}
	if (a->cmd == ARGS_NONE) {
		char names[256] = "";
		size_t len = 0;
		for (int c = ARGS_NONE + 1; c < ARGS_HELP && len < sizeof(names); c++) {
			/* from the table, so that a new command is never left out */
			len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
					len > 0 ? ", " : "", cmd_names[c]);
		}
		return usage_err(err, errsz, "no command (%s)", names);
	}
	if (a->service_arg != NULL) {
		if (a->service != NULL && strcmp(a->service, a->service_arg) != 0) {
			return usage_err(err, errsz, "two services: '%s' and --service '%s'",
					a->service_arg, a->service);
		}
		a->service = a->service_arg;
	}
	if ((mask & (IDENT | C(ARGS_QUERY) | C(ARGS_RING))) && a->service == NULL) {
		return usage_err(err, errsz, "%s needs --service", args_cmd_name(a->cmd));
	}
	if ((mask & (IDENT | C(ARGS_RING))) && a->protocol == NULL) {
		return usage_err(err, errsz, "%s needs --protocol", args_cmd_name(a->cmd));
	}
	if ((mask & IDENT) && a->host == NULL) {
		return usage_err(err, errsz, "%s needs --host", args_cmd_name(a->cmd));
	}
	if ((mask & IDENT) && a->port == 0) {
		return usage_err(err, errsz, "%s needs --port", args_cmd_name(a->cmd));
	}
	if (a->cmd == ARGS_REGISTER) {
		int rc = register_host_check(a, err, errsz);
		if (rc != 0) {
			return rc;
		}
	}
	if (a->cmd == ARGS_BACKUP && a->file == NULL) {
		return usage_err(err, errsz, "backup needs a FILE");
	}
	if (a->cmd == ARGS_RING && a->key == NULL) {
		return usage_err(err, errsz, "ring needs --key");
	}
	if (a->cmd == ARGS_STATUS && a->status == ROSTER_STATUS_UNSPECIFIED) {
		return usage_err(err, errsz, "status needs up, down or starting");
	}
	if (a->permanent && a->ttl != 0) {
		return usage_err(err, errsz, "--ttl and --permanent exclude each other");
	}
	return 0;
}

/* The command word, then (for status) the status word. */
static int positional(void *t, const char *arg, char *err, size_t errsz)
{
	struct args *a = t;
	if (a->cmd == ARGS_HELP && a->help_cmd == ARGS_NONE) {
		for (int c = ARGS_QUERY; c <= ARGS_HELP; c++) {
			if (strcmp(arg, cmd_names[c]) == 0) {
				a->help_cmd = (enum args_cmd)c; /* roster help COMMAND */
				return 0;
			}
		}
		return usage_err(err, errsz, "unknown command '%s'", arg);
	}
	if (a->cmd == ARGS_NONE) {
		for (int c = ARGS_QUERY; c <= ARGS_HELP; c++) {
			if (strcmp(arg, cmd_names[c]) == 0) {
				a->cmd = (enum args_cmd)c;
				return 0;
			}
		}
		return usage_err(err, errsz, "unknown command '%s'", arg);
	}
	if (a->cmd == ARGS_STATUS && a->status == ROSTER_STATUS_UNSPECIFIED) {
		return parse_status_word(a, arg, err, errsz);
	}
	if (a->cmd == ARGS_BACKUP && a->file == NULL) {
		a->file = arg;
		return 0;
	}
	if (a->cmd == ARGS_QUERY && a->service_arg == NULL) {
		/* roster query web: the service, as --service gives it. */
		if (rs_label_check(arg, strlen(arg), 0) != 0) {
			return usage_err(err, errsz,
					"invalid service '%s': a DNS label of letters, digits and "
					"hyphens, without underscore, at most 63 characters",
					arg);
		}
		a->service_arg = arg;
		return 0;
	}
	return usage_err(err, errsz, "unexpected argument '%s'", arg);
}

/* Options may come before the command: they are applied once it is known
 * (rs_flags_parse() reads every positional argument first). */
static int allow(void *t, const struct rs_flag *f, char *err, size_t errsz)
{
	const struct args *a = t;
	if (f->groups == 0 || a->cmd == ARGS_NONE || a->cmd == ARGS_HELP ||
			(f->groups & C(a->cmd))) {
		return 0;
	}
	return usage_err(err, errsz, "option '--%s' does not apply to %s", f->name,
			args_cmd_name(a->cmd));
}

static const struct rs_flags cli_spec = {cli_flags, sizeof(cli_flags) / sizeof(cli_flags[0]),
		.positional = positional, .allow = allow};

int args_parse(int argc, char *const argv[], struct args *out, char *err, size_t errsz)
{
	memset(out, 0, sizeof(*out));
	int rc = rs_flags_parse(&cli_spec, argc, argv, out, err, errsz);
	if (rc == 1) {
		/* -h, --help or --version, wherever it is; after a command word,
		 * that command's help. */
		if (out->help_cmd == ARGS_NONE && out->cmd != ARGS_HELP) {
			out->help_cmd = out->cmd;
		}
		out->cmd = ARGS_HELP;
		err[0] = '\0';
		return 0;
	}
	if (rc < 0 || check_complete(out, err, errsz) < 0) {
		return 2;
	}
	err[0] = '\0';
	return 0;
}
