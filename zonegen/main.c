/*
 * roster-zonegen: inventory -> host, roles and reverse zones, with the checks.
 * Flags and usage errors. Nothing else: the run itself is zonegen/run.c.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/addr.h"
#include "common/error.h"
#include "common/flags.h"
#include "common/name.h"
#include "roster/version.h"
#include "zonegen/run.h"

/* The flags as given; finish() checks the names and fills cfg. */
struct zg_args {
	struct zg_run_config cfg;
	const char *domain, *hostmaster;
	const char *ns[ZG_LIST_MAX];
	size_t nns;
	const char *services_ns[ZG_LIST_MAX]; /* NAME=ADDR, as given */
	size_t nservices_ns;
	uint64_t serial; /* UINT64_MAX: not given */
	bool help, version;
};

/* 1..@p max letters, digits, '-', '_', '.' and the characters of @p more:
 * safe inside a quoted config value or TXT string. */
static bool token_ok(const char *t, size_t max, const char *more)
{
	size_t n = strlen(t);
	if (n == 0 || n > max) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char ch = t[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || strchr("-_.", ch) != NULL ||
			  strchr(more, ch) != NULL;
		if (!ok) {
			return false;
		}
	}
	return true;
}

/* --commit: a TXT string, so a token; its hint is the flag's. */
static int set_commit(void *t, const struct rs_flag *f, const char *v, char *err, size_t errsz)
{
	if (!token_ok(v, 200, "/")) {
		snprintf(err, errsz, "--%s '%s': %s", f->name, v, f->hint);
		return RS_EINVAL;
	}
	*(const char **)((char *)t + f->offset) = v;
	return 0;
}

/* --nsd-pattern, --knot-template: quoted into the include files. */
static int set_include_token(
		void *t, const struct rs_flag *f, const char *v, char *err, size_t errsz)
{
	if (!token_ok(v, 64, "")) {
		snprintf(err, errsz, "--%s '%s': %s", f->name, v, f->hint);
		return RS_EINVAL;
	}
	*(const char **)((char *)t + f->offset) = v;
	return 0;
}

/* --reverse-prefix (octets: 8, 16, 24) and --reverse6-prefix (nibbles:
 * 4..124): a multiple of the flag's min up to its max. */
static int set_prefix(void *t, const struct rs_flag *f, const char *v, char *err, size_t errsz)
{
	uint64_t n = 0;
	if (rs_flags_uint(v, f->min, f->max, &n) < 0 || n % f->min != 0) {
		snprintf(err, errsz, "--%s '%s': %s", f->name, v, f->hint);
		return RS_EINVAL;
	}
	*(unsigned *)((char *)t + f->offset) = (unsigned)n;
	return 0;
}

static int add_notify(void *t, const struct rs_flag *f, const char *v, char *err, size_t errsz)
{
	struct zg_run_config *a = &((struct zg_args *)t)->cfg;
	if (a->nnotify == ZG_LIST_MAX) {
		snprintf(err, errsz, "too many --%s (at most %d)", f->name, ZG_LIST_MAX);
		return RS_EINVAL;
	}
	if (rs_endpoint_parse(v, 53, &a->notify[a->nnotify]) < 0) {
		snprintf(err, errsz, "--%s '%s': %s", f->name, v, f->hint);
		return RS_EINVAL;
	}
	a->notify_text[a->nnotify++] = v;
	return 0;
}

#define ARG(field) .offset = offsetof(struct zg_args, field)

static const struct rs_flag zg_flags[] = {
		{"domain", 0, RS_FLAG_STRING, RS_FLAG_REQUIRED, ARG(domain), .value_name = "DOMAIN",
				.help = "the fleet's domain (required)"},
		{"out", 0, RS_FLAG_STRING, RS_FLAG_REQUIRED, ARG(cfg.out), .value_name = "DIR",
				.help = "output directory; the previous output is read from it (required)"},
		{"inventory", 0, RS_FLAG_LIST, RS_FLAG_REQUIRED,
				RS_FLAG_ARRAY(struct zg_args, cfg.inventory, cfg.ninventory),
				.value_name = "FILE",
				.help = "a JSON Lines file; repeatable (at least one)"},
		{"records", 0, RS_FLAG_STRING, ARG(cfg.records), .value_name = "DIR",
				.help = "a directory of hand-maintained records (zone-file syntax)"},
		{"ns", 0, RS_FLAG_LIST, RS_FLAG_ARRAY(struct zg_args, ns, nns),
				.value_name = "NAME",
				.help = "NS of every zone (the first is the MNAME); repeatable"},
		{"hostmaster", 0, RS_FLAG_STRING, ARG(hostmaster), .value_name = "NAME",
				.help = "SOA RNAME (default hostmaster.DOMAIN)"},
		{"commit", 0, RS_FLAG_CALL, ARG(cfg.commit), .set = set_commit, .value_name = "SHA",
				.hint = "use 1-200 letters, digits and -_./",
				.help = "add _deploy TXT \"commit=SHA\" to every zone written"},
		{"ttl", 0, RS_FLAG_UINT, RS_FLAG_FIELD(struct zg_args, cfg.ttl), .max = 2147483647,
				.hint = "a TTL, 0..2147483647", .value_name = "SECONDS",
				.help = "$TTL of generated records (default 3600)"},
		{"reverse-prefix", 0, RS_FLAG_CALL, ARG(cfg.v4_prefix), .min = 8, .max = 24,
				.set = set_prefix, .hint = "must be a multiple of 8: 8, 16 or 24",
				.value_name = "BITS",
				.help = "IPv4 reverse zones split at 8, 16 or 24 bits (default 16)"},
		{"reverse6-prefix", 0, RS_FLAG_CALL, ARG(cfg.v6_prefix), .min = 4, .max = 124,
				.set = set_prefix,
				.hint = "must be a multiple of 4 (a nibble boundary) from 4 to 124",
				.value_name = "BITS",
				.help = "IPv6 reverse zones split at a multiple of 4, 4..124 (default 48)"},
		{"serial", 0, RS_FLAG_UINT, RS_FLAG_FIELD(struct zg_args, serial),
				.max = UINT32_MAX, .hint = "a serial, 0..4294967295",
				.value_name = "N",
				.help = "first serial of a new zone (default today's YYYYMMDD00)"},
		{"max-drop", 0, RS_FLAG_UINT, RS_FLAG_FIELD(struct zg_args, cfg.max_drop),
				.max = 100, .hint = "a percentage, 0..100", .value_name = "PERCENT",
				.help = "refuse a zone that loses more of its records (default 10)"},
		{"force", 0, RS_FLAG_SWITCH, ARG(cfg.force),
				.help = "accept such a drop, and remove zones no longer produced"},
		{"check", 0, RS_FLAG_SWITCH, ARG(cfg.check),
				.help = "run every check, print the summary, write nothing"},
		{"shard-large", 0, RS_FLAG_SWITCH, ARG(cfg.shard_large),
				.help = "split RRsets too large for one DNS message into shards"},
		{"notify", 0, RS_FLAG_CALL, .set = add_notify, .value_name = "HOST:PORT",
				.hint = "not an IP address with an optional port (127.0.0.1:53, [::1]:53)",
				.help = "NOTIFY this IP[:PORT] of every changed zone; repeatable"},
		{"metrics", 0, RS_FLAG_STRING, ARG(cfg.metrics), .value_name = "FILE",
				.help = "also write the summary as a Prometheus textfile"},
		{"zone-path", 0, RS_FLAG_STRING, ARG(cfg.zone_path), .value_name = "DIR",
				.help = "directory the include files name (default: --out, absolute)"},
		{"nsd-pattern", 0, RS_FLAG_CALL, ARG(cfg.nsd_pattern), .set = set_include_token,
				.hint = "use 1-64 letters, digits and -_.", .value_name = "NAME",
				.help = "include-pattern of every zone in the NSD include"},
		{"knot-template", 0, RS_FLAG_CALL, ARG(cfg.knot_template), .set = set_include_token,
				.hint = "use 1-64 letters, digits and -_.", .value_name = "ID",
				.help = "template of every zone in the Knot include"},
		{"services-ns", 0, RS_FLAG_LIST,
				RS_FLAG_ARRAY(struct zg_args, services_ns, nservices_ns),
				.value_name = "NAME=ADDR",
				.help = "delegate services.SITE.DOMAIN to the registry NAME (in "
					"SITE.DOMAIN) with glue ADDR; repeatable"},
		{"quiet", 0, RS_FLAG_SWITCH, ARG(cfg.quiet), .help = "no summary on stdout"},
		/* "-h" as well as --help: like rosterd and roster, help is not a usage error. */
		{"help", 'h', RS_FLAG_SWITCH, RS_FLAG_STOP, ARG(help), .help = "this text"},
		{"version", 0, RS_FLAG_SWITCH, RS_FLAG_STOP, ARG(version),
				.help = "print the version and exit"},
};

/* getopt_long's rules, which roster-zonegen has always had: --ns for --ns,
 * --dom for --domain. */
static const struct rs_flags zg_spec = {
		zg_flags, sizeof(zg_flags) / sizeof(zg_flags[0]), .opts = RS_FLAGS_ABBREV};

static const char synopsis[] =
		"usage: roster-zonegen --domain example.net --out zones/ --inventory fleet.jsonl\n"
		"         [--inventory cloud.jsonl]... [--records static/] [--ns ns1.example.net.]...\n"
		"         [--hostmaster hostmaster.example.net.] [--commit SHA] [--ttl 3600]\n"
		"         [--reverse-prefix 16] [--reverse6-prefix 48] [--serial N]\n"
		"         [--max-drop 10] [--force] [--check] [--shard-large]\n"
		"         [--notify HOST:PORT]... [--metrics FILE] [--zone-path DIR]\n"
		"         [--nsd-pattern NAME] [--knot-template ID] [--services-ns NAME=ADDR]...\n"
		"         [--quiet] [--version]\n\n";

static void usage(FILE *out)
{
	fputs(synopsis, out);
	rs_flags_help(out, &zg_spec, NULL, NULL);
	fputs("\nexit: 0 ok, 1 refused or invalid input, 2 usage\n", out);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("roster-zonegen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(" (see --help)\n", stderr);
	va_end(ap);
	return ZG_EXIT_USAGE;
}

/* "<label>.<domain>" into @p out; false when it would be too long. */
static bool prefixed(char out[RS_NAME_TEXT_MAX], const char *label, const char *domain)
{
	size_t l = strlen(label), d = strlen(domain);
	if (l + 1 + d + 1 > RS_NAME_TEXT_MAX) {
		return false;
	}
	memcpy(out, label, l);
	out[l] = '.';
	memcpy(out + l + 1, domain, d + 1);
	return true;
}

/* --services-ns NAME=ADDR: NAME canonical, at least two labels below
 * --domain (a host of a site: the first label above the domain is the
 * site), ADDR an IP address. Returns -1 to go on, or an exit code. */
static int services_ns_parse(const char *v, const char *domain, struct zg_services_ns *out)
{
	const char *eq = strchr(v, '=');
	char name[RS_NAME_TEXT_MAX];
	size_t nl = eq != NULL ? (size_t)(eq - v) : 0;
	if (eq == NULL || nl == 0 || nl >= sizeof(name)) {
		return usage_error("--services-ns '%s': expected NAME=ADDRESS", v);
	}
	memcpy(name, v, nl);
	name[nl] = '\0';
	int rc = rs_name_canonical(name, 0, out->name);
	if (rc < 0) {
		return usage_error("--services-ns '%s': %s", v, rs_strerror(rc));
	}
	if (rs_addr_parse(eq + 1, &out->addr) != 0) {
		return usage_error("--services-ns '%s': '%s' is not an IP address", v, eq + 1);
	}
	size_t n = strlen(out->name), dl = strlen(domain);
	const char *site = out->name + n - dl - 1;
	bool below = n > dl + 1 && strcmp(out->name + n - dl, domain) == 0 && *site == '.';
	if (below) {
		while (site > out->name && site[-1] != '.') {
			site--; /* to the start of the site label */
		}
	}
	if (!below || site == out->name) {
		return usage_error("--services-ns '%s': NAME must be a host of a site zone "
				   "(e.g. roster1.lon6.%s)",
				v, domain);
	}
	return -1;
}

/* The names canonical, and their defaults. Returns -1 to go on, or an exit code. */
static int finish(struct zg_args *g)
{
	struct zg_run_config *a = &g->cfg;
	int rc = rs_name_canonical(g->domain, 0, a->domain);
	if (rc < 0) {
		return usage_error("--domain '%s': %s", g->domain, rs_strerror(rc));
	}
	for (a->nns = 0; a->nns < g->nns; a->nns++) {
		if ((rc = rs_name_canonical(g->ns[a->nns], 0, a->ns_buf[a->nns])) < 0) {
			return usage_error("--ns '%s': %s", g->ns[a->nns], rs_strerror(rc));
		}
		a->ns[a->nns] = a->ns_buf[a->nns];
	}
	if (a->nns == 0) {
		if (!prefixed(a->ns_buf[0], "ns1", a->domain)) {
			return usage_error(
					"--domain '%s' is too long for a default --ns", g->domain);
		}
		a->ns[a->nns++] = a->ns_buf[0];
	}
	if (g->hostmaster != NULL) {
		if ((rc = rs_name_canonical(g->hostmaster, 0, a->hostmaster)) < 0) {
			return usage_error("--hostmaster '%s': %s", g->hostmaster, rs_strerror(rc));
		}
	} else if (!prefixed(a->hostmaster, "hostmaster", a->domain)) {
		return usage_error(
				"--domain '%s' is too long for a default --hostmaster", g->domain);
	}
	for (size_t i = 0; i < g->nservices_ns; i++) {
		int ex = services_ns_parse(g->services_ns[i], a->domain, &a->services_ns[i]);
		if (ex >= 0) {
			return ex;
		}
	}
	a->nservices_ns = g->nservices_ns;
	a->serial_given = g->serial != UINT64_MAX;
	a->serial = (uint32_t)g->serial;
	return -1;
}

int main(int argc, char **argv)
{
	static struct zg_args g; /* large (names, endpoints): not on the stack */
	g.cfg.ttl = 3600;
	g.cfg.v4_prefix = 16;
	g.cfg.v6_prefix = 48;
	g.cfg.max_drop = 10;
	g.serial = UINT64_MAX;
	char err[512];
	int rc = rs_flags_parse(&zg_spec, argc - 1, argv + 1, &g, err, sizeof(err));
	if (rc == 1) {
		if (g.version) {
			printf("roster-zonegen %s\n", ROSTER_VERSION);
		} else {
			usage(stdout);
		}
		return ZG_EXIT_OK;
	}
	if (rc < 0) {
		return usage_error("%s", err);
	}
	int ex = finish(&g);
	if (ex >= 0) {
		return ex;
	}
	return zg_run(&g.cfg, stdout, stderr);
}
