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
	       "              [--cache FILE] [--max-stale SECONDS] COMMAND ...\n"
	       "  query --service NAME [--protocol P] [--all]\n"
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
	       "  backup FILE\n"
	       "--server (repeatable, or comma-separated) and ROSTER_SERVER win over -s SITE,\n"
	       "which reads /etc/roster/sites.conf (ROSTER_SITES overrides the path);\n"
	       "the default is 127.0.0.1:7600. ROSTER_CACHE sets --cache.\n"
	       "exit: 0 ok, 1 not found or no UP endpoint, 2 usage, 3 registry unreachable or "
	       "error\n";
}

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
		{"server", 0, RS_FLAG_CALL, .set = add_servers},
		{"site", 's', RS_FLAG_CALL, ARG(site), .set = set_site},
		{"json", 0, RS_FLAG_SWITCH, ARG(json)},
		{"timeout", 0, RS_FLAG_UINT, RS_FLAG_FIELD(struct args, timeout_ms), .min = 1,
				.max = 600000, .hint = "1-600000 ms"},
		{"cache", 0, RS_FLAG_STRING, ARG(cache)},
		{"max-stale", 0, RS_FLAG_UINT, RS_FLAG_FIELD(struct args, max_stale), .min = 1,
				.max = 30u * 86400u, .hint = "1-2592000 s"},
		{"help", 'h', RS_FLAG_SWITCH, RS_FLAG_STOP, ARG(help)},
		{"service", 0, RS_FLAG_CALL, ARG(service), .set = set_label,
				.groups = IDENT | C(ARGS_QUERY) | C(ARGS_WATCH) | C(ARGS_RING)},
		{"protocol", 0, RS_FLAG_CALL, ARG(protocol), .set = set_label,
				.groups = IDENT | C(ARGS_QUERY) | C(ARGS_RING)},
		{"host", 0, RS_FLAG_CALL, ARG(host), .set = set_host, .groups = IDENT},
		{"port", 0, RS_FLAG_UINT, RS_FLAG_FIELD(struct args, port), .min = 1, .max = 65535,
				.groups = IDENT},
		{"address", 0, RS_FLAG_CALL, .set = add_address, .groups = C(ARGS_REGISTER)},
		{"ttl", 0, RS_FLAG_UINT, RS_FLAG_FIELD(struct args, ttl), .min = 1, .max = 3600,
				.hint = "1-3600 seconds", .groups = C(ARGS_REGISTER)},
		{"permanent", 0, RS_FLAG_SWITCH, ARG(permanent), .groups = C(ARGS_REGISTER)},
		{"weight", 0, RS_FLAG_UINT, RS_FLAG_FIELD(struct args, weight), .max = 65535,
				.groups = C(ARGS_REGISTER)},
		{"priority", 0, RS_FLAG_UINT, RS_FLAG_FIELD(struct args, priority), .max = 65535,
				.groups = C(ARGS_REGISTER)},
		{"meta", 0, RS_FLAG_CALL, .set = add_meta, .groups = C(ARGS_REGISTER)},
		{"starting", 0, RS_FLAG_SWITCH, ARG(starting), .groups = C(ARGS_REGISTER)},
		{"all", 0, RS_FLAG_SWITCH, ARG(all), .groups = C(ARGS_QUERY)},
		{"key", 0, RS_FLAG_CALL, ARG(key), .set = set_key, .groups = C(ARGS_RING)},
};

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
		return usage_err(err, errsz,
				"no command (query, register, deregister, status, "
				"list, watch, ring, reports, stats, backup)");
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
		out->cmd = ARGS_HELP; /* -h or --help, wherever it is */
		err[0] = '\0';
		return 0;
	}
	if (rc < 0 || check_complete(out, err, errsz) < 0) {
		return 2;
	}
	err[0] = '\0';
	return 0;
}
