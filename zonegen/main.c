/*
 * roster-zonegen: inventory -> host, roles and reverse zones, with the checks.
 * Flags and usage errors. Nothing else: the run itself is zonegen/run.c.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/error.h"
#include "common/name.h"
#include "zonegen/run.h"


static const char usage_text[] =
	"usage: roster-zonegen --domain example.net --out zones/ --inventory fleet.jsonl\n"
	"         [--inventory cloud.jsonl]... [--records static/] [--ns ns1.example.net.]...\n"
	"         [--hostmaster hostmaster.example.net.] [--commit SHA] [--ttl 3600]\n"
	"         [--reverse-prefix 16] [--reverse6-prefix 48] [--serial N]\n"
	"         [--max-drop 10] [--force] [--check] [--shard-large]\n"
	"         [--notify HOST:PORT]... [--metrics FILE] [--zone-path DIR]\n"
	"         [--nsd-pattern NAME] [--knot-template ID] [--quiet]\n"
	"exit: 0 ok, 1 refused or invalid input, 2 usage\n";



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

static bool parse_u32(const char *s, uint64_t max, uint32_t *out)
{
	if (s[0] < '0' || s[0] > '9') {
		return false;
	}
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end != '\0' || errno != 0 || v > max) {
		return false;
	}
	*out = (uint32_t)v;
	return true;
}

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

/* Returns -1 to go on, or an exit code. */
static int parse_args(int argc, char **argv, struct zg_run_config *a)
{
	enum {
		O_DOMAIN = 256, O_OUT, O_INV, O_RECORDS, O_NS, O_HOSTMASTER, O_COMMIT, O_TTL,
		O_REV4, O_REV6, O_SERIAL, O_MAXDROP, O_FORCE, O_CHECK, O_SHARD, O_NOTIFY,
		O_METRICS, O_ZONEPATH, O_NSDPAT, O_KNOTTPL, O_QUIET, O_HELP,
	};
	static const struct option opts[] = {
		{"domain", required_argument, NULL, O_DOMAIN},
		{"out", required_argument, NULL, O_OUT},
		{"inventory", required_argument, NULL, O_INV},
		{"records", required_argument, NULL, O_RECORDS},
		{"ns", required_argument, NULL, O_NS},
		{"hostmaster", required_argument, NULL, O_HOSTMASTER},
		{"commit", required_argument, NULL, O_COMMIT},
		{"ttl", required_argument, NULL, O_TTL},
		{"reverse-prefix", required_argument, NULL, O_REV4},
		{"reverse6-prefix", required_argument, NULL, O_REV6},
		{"serial", required_argument, NULL, O_SERIAL},
		{"max-drop", required_argument, NULL, O_MAXDROP},
		{"force", no_argument, NULL, O_FORCE},
		{"check", no_argument, NULL, O_CHECK},
		{"shard-large", no_argument, NULL, O_SHARD},
		{"notify", required_argument, NULL, O_NOTIFY},
		{"metrics", required_argument, NULL, O_METRICS},
		{"zone-path", required_argument, NULL, O_ZONEPATH},
		{"nsd-pattern", required_argument, NULL, O_NSDPAT},
		{"knot-template", required_argument, NULL, O_KNOTTPL},
		{"quiet", no_argument, NULL, O_QUIET},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	const char *domain = NULL, *hostmaster = NULL;
	const char *ns_text[ZG_LIST_MAX];
	a->ttl = 3600;
	a->v4_prefix = 16;
	a->v6_prefix = 48;
	a->max_drop = 10;
	opterr = 0;
	int c;
	uint32_t v;
	/* "-h" as well as --help: like rosterd and roster, help is not a usage error. */
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_DOMAIN:
			domain = optarg;
			break;
		case O_OUT:
			a->out = optarg;
			break;
		case O_INV:
			if (a->ninventory == ZG_LIST_MAX) {
				return usage_error("too many --inventory files (at most %d)",
						ZG_LIST_MAX);
			}
			a->inventory[a->ninventory++] = optarg;
			break;
		case O_RECORDS:
			a->records = optarg;
			break;
		case O_NS:
			if (a->nns == ZG_LIST_MAX) {
				return usage_error("too many --ns (at most %d)", ZG_LIST_MAX);
			}
			ns_text[a->nns++] = optarg;
			break;
		case O_HOSTMASTER:
			hostmaster = optarg;
			break;
		case O_COMMIT:
			if (!token_ok(optarg, 200, "/")) {
				return usage_error(
						"--commit '%s': use 1-200 letters, digits and -_./",
						optarg);
			}
			a->commit = optarg;
			break;
		case O_TTL:
			if (!parse_u32(optarg, 2147483647, &a->ttl)) {
				return usage_error("--ttl '%s': not a TTL (0..2147483647)", optarg);
			}
			break;
		case O_REV4:
			if (!parse_u32(optarg, 32, &v) || v % 8 != 0 || v == 0 || v == 32) {
				return usage_error("--reverse-prefix '%s': must be a "
						   "multiple of 8: 8, 16 or 24",
						optarg);
			}
			a->v4_prefix = v;
			break;
		case O_REV6:
			if (!parse_u32(optarg, 128, &v) || v % 4 != 0 || v == 0 || v == 128) {
				return usage_error("--reverse6-prefix '%s': must be a "
						   "multiple of 4 (a nibble boundary) from 4 "
						   "to 124",
						optarg);
			}
			a->v6_prefix = v;
			break;
		case O_SERIAL:
			if (!parse_u32(optarg, UINT32_MAX, &a->serial)) {
				return usage_error("--serial '%s': not a serial (0..4294967295)",
						optarg);
			}
			a->serial_given = true;
			break;
		case O_MAXDROP:
			if (!parse_u32(optarg, 100, &v)) {
				return usage_error("--max-drop '%s': must be a percentage 0..100",
						optarg);
			}
			a->max_drop = v;
			break;
		case O_FORCE:
			a->force = true;
			break;
		case O_CHECK:
			a->check = true;
			break;
		case O_SHARD:
			a->shard_large = true;
			break;
		case O_NOTIFY:
			if (a->nnotify == ZG_LIST_MAX) {
				return usage_error("too many --notify (at most %d)", ZG_LIST_MAX);
			}
			if (rs_endpoint_parse(optarg, 53, &a->notify[a->nnotify]) < 0) {
				return usage_error("--notify '%s': not an IP address with "
						   "an optional port (127.0.0.1:53, [::1]:53)",
						optarg);
			}
			a->notify_text[a->nnotify++] = optarg;
			break;
		case O_METRICS:
			a->metrics = optarg;
			break;
		case O_ZONEPATH:
			a->zone_path = optarg;
			break;
		case O_NSDPAT:
		case O_KNOTTPL:
			if (!token_ok(optarg, 64, "")) {
				return usage_error("--%s '%s': use 1-64 letters, digits and -_.",
						c == O_NSDPAT ? "nsd-pattern" : "knot-template",
						optarg);
			}
			*(c == O_NSDPAT ? &a->nsd_pattern : &a->knot_template) = optarg;
			break;
		case O_QUIET:
			a->quiet = true;
			break;
		case 'h':
		case O_HELP:
			fputs(usage_text, stdout);
			return 0;
		default:
			if (optopt >= O_DOMAIN && optopt <= O_HELP) {
				return usage_error("option --%s needs a value",
						opts[optopt - O_DOMAIN].name);
			}
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) {
		return usage_error("unexpected argument '%s'", argv[optind]);
	}
	if (domain == NULL) {
		return usage_error("--domain is required");
	}
	if (a->out == NULL) {
		return usage_error("--out is required");
	}
	if (a->ninventory == 0) {
		return usage_error("at least one --inventory is required");
	}
	int rc = rs_name_canonical(domain, 0, a->domain);
	if (rc < 0) {
		return usage_error("--domain '%s': %s", domain, rs_strerror(rc));
	}
	for (size_t i = 0; i < a->nns; i++) {
		if ((rc = rs_name_canonical(ns_text[i], 0, a->ns_buf[i])) < 0) {
			return usage_error("--ns '%s': %s", ns_text[i], rs_strerror(rc));
		}
		a->ns[i] = a->ns_buf[i];
	}
	if (a->nns == 0) {
		if (!prefixed(a->ns_buf[0], "ns1", a->domain)) {
			return usage_error("--domain '%s' is too long for a default --ns", domain);
		}
		a->ns[0] = a->ns_buf[0];
		a->nns = 1;
	}
	if (hostmaster != NULL) {
		if ((rc = rs_name_canonical(hostmaster, 0, a->hostmaster)) < 0) {
			return usage_error("--hostmaster '%s': %s", hostmaster, rs_strerror(rc));
		}
	} else {
		if (!prefixed(a->hostmaster, "hostmaster", a->domain)) {
			return usage_error("--domain '%s' is too long for a default --hostmaster",
					domain);
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	static struct zg_run_config cfg; /* large (names, endpoints): not on the stack */
	int ex = parse_args(argc, argv, &cfg);
	if (ex >= 0) {
		return ex;
	}
	return zg_run(&cfg, stdout, stderr);
}
