#include "client/cli/args.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/error.h"
#include "common/name.h"

enum opt_id {
	OPT_SERVER = 1,
	OPT_SITE,
	OPT_JSON,
	OPT_TIMEOUT,
	OPT_CACHE,
	OPT_MAX_STALE,
	OPT_HELP,
	OPT_SERVICE,
	OPT_PROTOCOL,
	OPT_HOST,
	OPT_PORT,
	OPT_ADDRESS,
	OPT_TTL,
	OPT_PERMANENT,
	OPT_WEIGHT,
	OPT_PRIORITY,
	OPT_META,
	OPT_STARTING,
	OPT_ALL,
	OPT_KEY,
};

#define C(cmd) (1u << (cmd))
#define GLOBAL 0xffffffffu
#define IDENT (C(ARGS_REGISTER) | C(ARGS_DEREGISTER) | C(ARGS_STATUS))

struct opt {
	const char *name;
	char short_name;
	bool has_arg;
	enum opt_id id;
	uint32_t cmds; /**< commands that take it */
};

static const struct opt opts[] = {
	{"server", 0, true, OPT_SERVER, GLOBAL},
	{"site", 's', true, OPT_SITE, GLOBAL},
	{"json", 0, false, OPT_JSON, GLOBAL},
	{"timeout", 0, true, OPT_TIMEOUT, GLOBAL},
	{"cache", 0, true, OPT_CACHE, GLOBAL},
	{"max-stale", 0, true, OPT_MAX_STALE, GLOBAL},
	{"help", 'h', false, OPT_HELP, GLOBAL},
	{"service", 0, true, OPT_SERVICE, IDENT | C(ARGS_QUERY) | C(ARGS_WATCH) | C(ARGS_RING)},
	{"protocol", 0, true, OPT_PROTOCOL, IDENT | C(ARGS_QUERY) | C(ARGS_RING)},
	{"host", 0, true, OPT_HOST, IDENT},
	{"port", 0, true, OPT_PORT, IDENT},
	{"address", 0, true, OPT_ADDRESS, C(ARGS_REGISTER)},
	{"ttl", 0, true, OPT_TTL, C(ARGS_REGISTER)},
	{"permanent", 0, false, OPT_PERMANENT, C(ARGS_REGISTER)},
	{"weight", 0, true, OPT_WEIGHT, C(ARGS_REGISTER)},
	{"priority", 0, true, OPT_PRIORITY, C(ARGS_REGISTER)},
	{"meta", 0, true, OPT_META, C(ARGS_REGISTER)},
	{"starting", 0, false, OPT_STARTING, C(ARGS_REGISTER)},
	{"all", 0, false, OPT_ALL, C(ARGS_QUERY)},
	{"key", 0, true, OPT_KEY, C(ARGS_RING)},
};

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
	       "--server (repeatable, or comma-separated) and ROSTER_SERVER win over -s SITE,\n"
	       "which reads /etc/roster/sites.conf (ROSTER_SITES overrides the path);\n"
	       "the default is 127.0.0.1:7600. ROSTER_CACHE sets --cache.\n"
	       "exit: 0 ok, 1 not found or no UP endpoint, 2 usage, 3 registry unreachable or "
	       "error\n";
}

static int usage_err(char *err, size_t errsz, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));
static int usage_err(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return 2;
}

/* A decimal number in [lo, hi] with nothing around it. */
static int parse_uint(const char *text, unsigned long lo, unsigned long hi, unsigned long *out)
{
	if (text[0] < '0' || text[0] > '9') {
		return -1;
	}
	char *end;
	errno = 0;
	unsigned long v = strtoul(text, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi) {
		return -1;
	}
	*out = v;
	return 0;
}

static const struct opt *opt_find(const char *arg, const char **value)
{
	*value = NULL;
	if (arg[0] == '-' && arg[1] == '-') {
		const char *name = arg + 2;
		const char *eq = strchr(name, '=');
		size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
		for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
			if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0) {
				*value = eq != NULL ? eq + 1 : NULL;
				return &opts[i];
			}
		}
		return NULL;
	}
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		if (opts[i].short_name != 0 && arg[1] == opts[i].short_name) {
			*value = arg[2] != '\0' ? arg + 2 : NULL;
			return &opts[i];
		}
	}
	return NULL;
}

static int add_servers(struct args *a, const char *value, char *err, size_t errsz)
{
	/* "a,b" lists several registries; each is checked here, so that a typo
	 * is a usage error and not an unreachable registry. */
	const char *p = value;
	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		char one[RS_ADDR_TEXT_MAX];
		struct sockaddr_storage ss;
		if (len == 0 || len >= sizeof(one)) {
			return usage_err(err, errsz, "invalid --server '%s' (expected HOST:PORT)", value);
		}
		memcpy(one, p, len);
		one[len] = '\0';
		int rc = rs_endpoint_parse(one, 0, &ss);
		if (rc != 0) {
			return usage_err(err, errsz,
					"invalid --server '%s': %s (expected ADDRESS:PORT, e.g. "
					"127.0.0.1:7600)",
					one, rc == RS_EPORT ? "bad or missing port" : "not an IP address");
		}
		if (a->n_servers == ARGS_MAX_SERVERS) {
			return usage_err(err, errsz, "too many --server (at most %d)", ARGS_MAX_SERVERS);
		}
		a->servers[a->n_servers++] = p;
		p += len + (comma != NULL ? 1 : 0);
		if (comma != NULL && *p == '\0') {
			return usage_err(err, errsz, "invalid --server '%s' (trailing comma)", value);
		}
	}
	return 0;
}

static int set_label(const char **field, const char *what, const char *v, char *err, size_t errsz)
{
	if (rs_label_check(v, strlen(v), 0) != 0) {
		return usage_err(err, errsz,
				"invalid --%s '%s': a DNS label of letters, digits and hyphens, "
				"without underscore, at most 63 characters",
				what, v);
	}
	*field = v;
	return 0;
}

static int apply(struct args *a, const struct opt *o, const char *v, char *err, size_t errsz)
{
	unsigned long n;
	switch (o->id) {
	case OPT_SERVER:
		return add_servers(a, v, err, errsz);
	case OPT_SITE:
		if (rs_label_check(v, strlen(v), 0) != 0) {
			return usage_err(err, errsz, "invalid site name '%s'", v);
		}
		a->site = v;
		return 0;
	case OPT_JSON:
		a->json = true;
		return 0;
	case OPT_TIMEOUT:
		if (parse_uint(v, 1, 600000, &n) != 0) {
			return usage_err(err, errsz, "invalid --timeout '%s' (1-600000 ms)", v);
		}
		a->timeout_ms = (uint32_t)n;
		return 0;
	case OPT_CACHE:
		a->cache = v;
		return 0;
	case OPT_MAX_STALE:
		if (parse_uint(v, 1, 30u * 86400u, &n) != 0) {
			return usage_err(err, errsz, "invalid --max-stale '%s' (1-2592000 s)", v);
		}
		a->max_stale = (uint32_t)n;
		return 0;
	case OPT_HELP:
		a->cmd = ARGS_HELP;
		return 0;
	case OPT_SERVICE:
		return set_label(&a->service, "service", v, err, errsz);
	case OPT_PROTOCOL:
		return set_label(&a->protocol, "protocol", v, err, errsz);
	case OPT_HOST:
		if (rs_name_check(v, 0) != 0) {
			return usage_err(err, errsz, "invalid --host '%s': not a valid host name", v);
		}
		a->host = v;
		return 0;
	case OPT_PORT:
		if (parse_uint(v, 1, 65535, &n) != 0) {
			return usage_err(err, errsz, "invalid --port '%s' (1-65535)", v);
		}
		a->port = (uint16_t)n;
		return 0;
	case OPT_ADDRESS: {
		struct rs_addr addr;
		if (rs_addr_parse(v, &addr) != 0) {
			return usage_err(err, errsz, "invalid --address '%s': not an IPv4 or IPv6 address",
					v);
		}
		if (a->n_addresses == ARGS_MAX_ADDRESSES) {
			return usage_err(err, errsz, "too many --address (at most %d)",
					ARGS_MAX_ADDRESSES);
		}
		a->addresses[a->n_addresses++] = v;
		return 0;
	}
	case OPT_TTL:
		if (parse_uint(v, 1, 3600, &n) != 0) {
			return usage_err(err, errsz, "invalid --ttl '%s' (1-3600 seconds)", v);
		}
		a->ttl = (uint32_t)n;
		return 0;
	case OPT_PERMANENT:
		a->permanent = true;
		return 0;
	case OPT_WEIGHT:
	case OPT_PRIORITY:
		if (parse_uint(v, 0, 65535, &n) != 0) {
			return usage_err(err, errsz, "invalid --%s '%s' (0-65535)", o->name, v);
		}
		*(o->id == OPT_WEIGHT ? &a->weight : &a->priority) = (uint16_t)n;
		return 0;
	case OPT_META: {
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
	case OPT_STARTING:
		a->starting = true;
		return 0;
	case OPT_ALL:
		a->all = true;
		return 0;
	case OPT_KEY:
		if (v[0] == '\0') {
			return usage_err(err, errsz, "empty --key");
		}
		a->key = v;
		return 0;
	}
	return usage_err(err, errsz, "internal: unhandled option");
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
		return usage_err(err, errsz, "no command (query, register, deregister, status, list, "
					     "watch, ring, reports, stats)");
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

int args_parse(int argc, char *const argv[], struct args *out, char *err, size_t errsz)
{
	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	const struct opt *deferred[64];
	const char *deferred_val[64];
	size_t n_deferred = 0;
	bool only_positional = false;
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		if (only_positional || arg[0] != '-' || arg[1] == '\0') {
			if (out->cmd == ARGS_NONE) {
				for (int c = ARGS_QUERY; c <= ARGS_HELP; c++) {
					if (strcmp(arg, cmd_names[c]) == 0) {
						out->cmd = (enum args_cmd)c;
					}
				}
				if (out->cmd == ARGS_NONE) {
					return usage_err(err, errsz, "unknown command '%s'", arg);
				}
			} else if (out->cmd == ARGS_STATUS && out->status == ROSTER_STATUS_UNSPECIFIED) {
				if (parse_status_word(out, arg, err, errsz) != 0) {
					return 2;
				}
			} else {
				return usage_err(err, errsz, "unexpected argument '%s'", arg);
			}
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_positional = true;
			continue;
		}
		const char *value;
		const struct opt *o = opt_find(arg, &value);
		if (o == NULL) {
			return usage_err(err, errsz, "unknown option '%s'", arg);
		}
		if (o->has_arg && value == NULL) {
			if (i + 1 >= argc) {
				return usage_err(err, errsz, "option '%s' needs a value", arg);
			}
			value = argv[++i];
		} else if (!o->has_arg && value != NULL) {
			return usage_err(err, errsz, "option '--%s' takes no value", o->name);
		}
		if (n_deferred == 64) {
			return usage_err(err, errsz, "too many options");
		}
		/* The command may come later: apply once it is known. */
		deferred[n_deferred] = o;
		deferred_val[n_deferred++] = value;
	}
	for (size_t i = 0; i < n_deferred; i++) {
		const struct opt *o = deferred[i];
		if (o->cmds != GLOBAL && out->cmd != ARGS_NONE && out->cmd != ARGS_HELP &&
				!(o->cmds & C(out->cmd))) {
			return usage_err(err, errsz, "option '--%s' does not apply to %s", o->name,
					args_cmd_name(out->cmd));
		}
		if (apply(out, o, deferred_val[i], err, errsz) != 0) {
			return 2;
		}
	}
	return check_complete(out, err, errsz);
}
