#include "server/config.h"

#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/conf.h"
#include "common/error.h"
#include "common/flags.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/name.h"
#include "roster/version.h"
#include "server/dns/dnsio.h"

enum opt_type {
	OPT_LABEL, /* one DNS label, lower-cased */
	OPT_NAME,  /* a domain name, canonical */
	OPT_NAME_LIST,
	OPT_LISTEN,        /* address:port, repeatable */
	OPT_PREFIX_LIST,   /* CIDR[,CIDR]..., repeatable */
	OPT_ENDPOINT_LIST, /* ADDR[:PORT][,...], port 53 by default, repeatable */
	OPT_PATH,
	OPT_U32,
	OPT_U64_BYTES, /* with K/M/G suffixes */
	OPT_MS,        /* a duration: 500ms, 10s, 5m, 1h; plain numbers are seconds */
	OPT_FRACTION,  /* 0 < x <= 1, or a percentage "15%" */
	OPT_BOOL,
	OPT_LOGLEVEL,
	OPT_LOGFORMAT,
	OPT_DNSIO, /* auto, uring, mmsg */
};

struct opt {
	const char *name;
	enum opt_type type;
	bool reloadable;
	uint64_t min, max; /* for numbers */
	size_t offset;     /* into struct server_config */
	const char *help;
};

#define OFF(f) offsetof(struct server_config, f)

static const struct opt opts[] = {
		{"site", OPT_LABEL, false, 0, 0, OFF(site), "site name (a DNS label), e.g. lon6"},
		{"domain", OPT_NAME, false, 0, 0, OFF(domain), "fleet domain, e.g. example.net"},
		{"dns", OPT_LISTEN, false, 0, 0, OFF(dns), "DNS listener, UDP+TCP (repeatable)"},
		{"api", OPT_LISTEN, false, 0, 0, OFF(api),
				"registration API listener (repeatable)"},
		{"http", OPT_LISTEN, false, 0, 0, OFF(http),
				"HTTP metrics/status listener (repeatable)"},
		{"data", OPT_PATH, false, 0, 0, OFF(data_dir), "data directory (LMDB store)"},
		{"ttl", OPT_U32, false, 0, 86400, OFF(ttl), "TTL of DNS answers, seconds"},
		{"negative-ttl", OPT_U32, false, 0, 86400, OFF(negative_ttl),
				"TTL of NXDOMAIN/NODATA answers, seconds"},
		{"ns", OPT_NAME_LIST, false, 0, 0, OFF(ns),
				"NS name of the zone (repeatable) (default ns1.DOMAIN)"},
		{"report-zone", OPT_NAME, false, 0, 0, OFF(report_zone),
				"zone for client error reports over DNS"},
		{"stable-subsets", OPT_BOOL, false, 0, 0, OFF(stable_subsets),
				"same TCP subset per client address until the set changes"},
		{"xfr-allow", OPT_PREFIX_LIST, false, 0, 0, OFF(xfr_allow),
				"sources allowed zone transfers, CIDR[,CIDR]... (repeatable)"},
		{"notify", OPT_ENDPOINT_LIST, false, 0, 0, OFF(notify),
				"secondaries to NOTIFY of changes, ADDR[:PORT][,...] (repeatable)"},
		{"notify-interval", OPT_MS, false, 1, 3600000, OFF(notify_interval_ms),
				"at most one NOTIFY per secondary per interval"},
		{"xfr-warmup", OPT_MS, false, 0, 3600000, OFF(xfr_warmup_ms),
				"after a start with an empty store, no zone version for the "
				"secondaries for this long (0: none)"},
		{"tsig-keyfile", OPT_PATH, false, 0, 0, OFF(tsig_keyfile),
				"TSIG keys, BIND's key \"name\" { algorithm ...; secret ...; }; syntax"},
		{"xfr-key", OPT_NAME, false, 0, 0, OFF(xfr_key),
				"TSIG key (of --tsig-keyfile) transfers must be signed with"},
		{"api-allow", OPT_PREFIX_LIST, false, 0, 0, OFF(api_allow),
				"sources the API serves, CIDR[,CIDR]... (repeatable; unset: every source)"},
		{"dns-allow", OPT_PREFIX_LIST, false, 0, 0, OFF(dns_allow),
				"sources DNS answers over UDP and TCP, CIDR[,CIDR]... (unset: every source)"},
		{"http-allow", OPT_PREFIX_LIST, false, 0, 0, OFF(http_allow),
				"sources HTTP serves, CIDR[,CIDR]... (repeatable; unset: every source)"},
		{"acl-dry-run", OPT_BOOL, false, 0, 0, OFF(acl_dry_run),
				"serve what the --*-allow lists would refuse; log and count it"},
		{"rrl-rate", OPT_U32, false, 0, 1000000, OFF(rrl_rate),
				"DNS UDP responses per second per /24 or /56 and answer (0: off)"},
		{"rrl-slip", OPT_U32, false, 0, 100, OFF(rrl_slip),
				"every Nth rate-limited response goes out truncated (0: none)"},
		{"rrl-exempt", OPT_PREFIX_LIST, false, 0, 0, OFF(rrl_exempt),
				"sources never rate limited, CIDR[,CIDR]... (repeatable)"},
		{"static", OPT_PATH, true, 0, 0, OFF(static_file),
				"static instances, JSON Lines of Register fields (read again on "
				"SIGHUP)"},
		{"udp-max", OPT_U32, false, 512, 4096, OFF(udp_max), "largest UDP answer, bytes"},
		{"tcp-idle-timeout", OPT_MS, true, 100, 3600000, OFF(dns_tcp_idle_ms),
				"DNS TCP idle timeout"},
		{"tcp-max-connections", OPT_U32, true, 1, 1000000, OFF(dns_tcp_max_conns),
				"DNS TCP connection limit"},
		{"no-dns-cookies", OPT_BOOL, false, 0, 0, OFF(dns_cookies_off),
				"do not answer DNS Cookies (RFC 7873)"},
		{"dns-cookie-secret", OPT_PATH, false, 0, 0, OFF(dns_cookie_secret),
				"file of the DNS Cookie secret (default DATA/dns-cookie-secret)"},
		{"tcp-max-connections-per-source", OPT_U32, true, 1, 1000000,
				OFF(dns_tcp_max_per_source),
				"DNS TCP connections from one IPv4 address or IPv6 /64"},
		{"dns-threads", OPT_U32, false, 0, 64, OFF(dns_threads),
				"DNS UDP worker threads (0: on the main loop)"},
		{"dns-io", OPT_DNSIO, false, 0, 0, OFF(dns_io),
				"the UDP workers' I/O: auto (io_uring if the kernel allows), uring, mmsg"},
		{"report-rate", OPT_U32, true, 1, 1000000, OFF(report_rate),
				"client reports per second per /24 or /56"},
		{"report-log-max", OPT_U64_BYTES, true, 4096, 1ULL << 40, OFF(report_log_max),
				"size cap of the client report log"},
		{"max-connections", OPT_U32, true, 1, 1000000, OFF(api_max_conns),
				"API connection limit"},
		{"max-connections-per-source", OPT_U32, true, 1, 1000000, OFF(api_max_per_source),
				"API connections from one IPv4 address or IPv6 /64"},
		{"max-frame", OPT_U32, true, 64, 64u << 20, OFF(api_max_frame),
				"API frame size limit"},
		{"idle-timeout", OPT_MS, true, 1000, 86400000, OFF(api_idle_ms),
				"API idle connection timeout"},
		{"max-inflight", OPT_U32, true, 1, 1000000, OFF(api_max_inflight),
				"unanswered API requests per connection"},
		{"max-outbuf", OPT_U64_BYTES, true, 65536, 1ULL << 34, OFF(api_max_outbuf),
				"queued reply bytes per API connection before it is dropped"},
		{"http-max-connections", OPT_U32, true, 1, 1000000, OFF(http_max_conns),
				"HTTP connection limit"},
		{"http-idle-timeout", OPT_MS, true, 100, 3600000, OFF(http_idle_ms),
				"HTTP request, response and keep-alive timeout"},
		{"max-instances-per-lease", OPT_U32, true, 1, 10000000,
				OFF(limits.max_instances_per_lease), "instances under one lease"},
		{"max-metadata", OPT_U32, true, 0, 1u << 20, OFF(limits.max_metadata_bytes),
				"metadata bytes per instance"},
		{"max-instances", OPT_U64_BYTES, true, 1, 1ULL << 40, OFF(limits.max_instances),
				"instances in the whole registry"},
		{"preserve-fraction", OPT_FRACTION, true, 0, 0, OFF(limits.preserve_fraction),
				"expiries per window that trigger self-preservation (0.15 or 15%)"},
		{"preserve-min", OPT_U32, true, 1, 100000000, OFF(limits.preserve_min),
				"minimum expiries per window to trigger self-preservation"},
		{"preserve-window", OPT_MS, true, 1000, 86400000, OFF(limits.preserve_window_ms),
				"self-preservation window"},
		{"no-self-preservation", OPT_BOOL, true, 0, 0, 0, "never hold expiring leases"},
		{"keep-last", OPT_BOOL, true, 0, 0, OFF(limits.keep_last),
				"never let expiry alone empty a service"},
		{"keep-last-max-age", OPT_MS, true, 1000, 30ULL * 86400000,
				OFF(limits.keep_last_max_ms),
				"how long --keep-last keeps stale instances"},
		{"journal", OPT_U32, false, 0, 100000000, OFF(limits.journal_max),
				"changes kept for Watch and IXFR"},
		{"map-size", OPT_U64_BYTES, false, 1 << 20, 1ULL << 46, OFF(map_size),
				"initial LMDB map size"},
		{"map-max", OPT_U64_BYTES, false, 1 << 20, 1ULL << 46, OFF(map_max),
				"largest LMDB map size the store grows to"},
		{"reset-store", OPT_BOOL, false, 0, 0, OFF(reset_store),
				"start with an empty store on purpose (the old files are moved aside)"},
		{"restore", OPT_PATH, false, 0, 0, OFF(restore_file),
				"install this backup as the store (checked first), then exit"},
		{"backup-dir", OPT_PATH, false, 0, 0, OFF(backup_dir),
				"directory of scheduled hot backups (none by default)"},
		{"backup-interval", OPT_MS, false, 1000, 30u * 86400000u, OFF(backup_interval_ms),
				"time between scheduled backups"},
		{"backup-keep", OPT_U32, false, 1, 100000, OFF(backup_keep),
				"scheduled backups kept (the oldest are deleted)"},
		{"log-level", OPT_LOGLEVEL, true, 0, 0, OFF(log_level),
				"error, warning, notice, info or debug"},
		{"log-format", OPT_LOGFORMAT, false, 0, 0, OFF(log_format),
				"auto (journal under journald, else text), text, journal or json"},
		{"config", OPT_PATH, false, 0, 0, OFF(config_file),
				"config file (key = value lines)"},
		{"api-tokens", OPT_PATH, false, 0, 0, OFF(api_tokens),
				"API token file (<name> sha256:<hex> <scopes>), reread on SIGHUP"},
		{"api-open", OPT_BOOL, false, 0, 0, OFF(api_open),
				"serve an API without tokens on a non-loopback address"},
		{"api-tokens-dry-run", OPT_BOOL, true, 0, 0, OFF(api_tokens_dry_run),
				"serve what the tokens would refuse, counted and audited"},
		{"audit-log", OPT_PATH, false, 0, 0, OFF(audit_log),
				"JSON Lines log of every accepted or refused API write"},
		{"audit-log-max", OPT_U64_BYTES, true, 4096, 1ULL << 40, OFF(audit_log_max),
				"size cap of the audit log (then .1)"},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))
_Static_assert(NOPTS <= CONFIG_MAX_SETTINGS, "file_sig holds every setting");

static void listen_loopback(struct config_listen *l, uint16_t port)
{
	memset(l, 0, sizeof(*l));
	struct sockaddr_in *sin = (struct sockaddr_in *)&l->addrs[0];
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l->n = 1;
}

void config_defaults(struct server_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->data_dir, sizeof(cfg->data_dir), "./roster-data");
	cfg->log_level = RS_LOG_INFO;
	cfg->ttl = 5;
	cfg->negative_ttl = 5;
	cfg->udp_max = 1232;
	cfg->dns_threads = 1; /* docs/dns.md "Threads": why one worker */
	cfg->dns_tcp_idle_ms = 10000;
	cfg->dns_tcp_max_conns = 1000;
	cfg->dns_tcp_max_per_source = 100;
	cfg->report_rate = 50;
	cfg->report_log_max = 16u << 20;
	cfg->notify_interval_ms = 50;
	cfg->xfr_warmup_ms = 60000;
	cfg->rrl_slip = 2;
	cfg->audit_log_max = 64u << 20;
	cfg->api_max_conns = 10000;
	cfg->api_max_per_source = 1024;
	cfg->api_max_frame = 1u << 20;
	cfg->api_idle_ms = 60000;
	cfg->api_max_inflight = 1024;
	cfg->api_max_outbuf = 8u << 20;
	cfg->http_max_conns = 256;
	cfg->http_idle_ms = 10000;
	cfg->map_size = 64u << 20;
	cfg->map_max = 64ULL << 30;
	cfg->backup_interval_ms = 3600000;
	cfg->backup_keep = 7;
	store_limits_default(&cfg->limits);
	/* Listeners too, so that --help shows them; the first --dns, --api or
	 * --http (flag or file line) replaces the default, as for every list. */
	listen_loopback(&cfg->dns, 8053);
	listen_loopback(&cfg->api, 7600);
	listen_loopback(&cfg->http, 7680);
}

/* A configuration error: the message in err, RS_ECONF. */
#define fail(err, errsz, ...) rs_error_printf(err, errsz, RS_ECONF, __VA_ARGS__)

static int parse_u64(const char *v, uint64_t *out, bool bytes)
{
	if (v[0] < '0' || v[0] > '9') {
		return RS_EINVAL;
	}
	errno = 0;
	char *end = NULL;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno != 0) {
		return RS_EINVAL;
	}
	uint64_t mul = 1;
	if (bytes && *end != '\0') {
		switch (*end) {
		case 'k':
		case 'K':
			mul = 1ULL << 10;
			break;
		case 'm':
		case 'M':
			mul = 1ULL << 20;
			break;
		case 'g':
		case 'G':
			mul = 1ULL << 30;
			break;
		default:
			return RS_EINVAL;
		}
		end++;
		if (*end == 'i' || *end == 'B') {
			end++;
		}
		if (*end == 'B') {
			end++;
		}
	}
	if (*end != '\0' || (n != 0 && mul > UINT64_MAX / n)) {
		return RS_EINVAL;
	}
	*out = n * mul;
	return 0;
}

static int parse_ms(const char *v, uint64_t *out)
{
	if (v[0] < '0' || v[0] > '9') {
		return RS_EINVAL;
	}
	char *end = NULL;
	errno = 0;
	double n = strtod(v, &end);
	if (errno != 0 || n < 0) {
		return RS_EINVAL;
	}
	double mul = 1000; /* plain numbers are seconds */
	if (strcmp(end, "ms") == 0) {
		mul = 1;
	} else if (strcmp(end, "s") == 0 || *end == '\0') {
		mul = 1000;
	} else if (strcmp(end, "m") == 0) {
		mul = 60000;
	} else if (strcmp(end, "h") == 0) {
		mul = 3600000;
	} else {
		return RS_EINVAL;
	}
	double ms = n * mul;
	if (ms > 1e15) {
		return RS_EINVAL;
	}
	*out = (uint64_t)ms;
	return 0;
}

/* Which list options were given on the command line: they replace, not
 * extend, the file's values. */
struct apply_state {
	struct server_config *cfg;
	bool from_cli;
	bool only_reloadable;
	bool cli_seen[NOPTS];
	bool cleared[NOPTS];
	bool help, version;          /* --help, --version (the flags' STOP switches) */
	const struct rs_flag *flags; /* the command line's: flags[k] is opts[k] */
	char *err;
	size_t errsz;
	const char *where; /* "--flag" or "file:line" prefix for messages */
};

static const struct opt *opt_find(const char *name)
{
	for (size_t k = 0; k < NOPTS; k++) {
		if (strcmp(opts[k].name, name) == 0) {
			return &opts[k];
		}
	}
	return NULL;
}

/* The setters, one per option type: check @p v and store it in the field
 * of @p o; RS_ECONF with the message in st->err. */

static int set_label(struct apply_state *st, const struct opt *o, const char *v)
{
	size_t n = strlen(v);
	int rc = rs_label_check(v, n, 0);
	if (rc < 0) {
		return fail(st->err, st->errsz, "%s: invalid %s '%s': %s", st->where, o->name, v,
				rs_strerror(rc));
	}
	char *dst = (char *)st->cfg + o->offset;
	for (size_t i = 0; i <= n; i++) {
		dst[i] = (char)rs_ascii_lower((uint8_t)v[i]);
	}
	return 0;
}

/* OPT_NAME, and each name of OPT_NAME_LIST (--ns: the first one given
 * replaces the defaults). */
static int set_name(struct apply_state *st, const struct opt *o, const char *v)
{
	struct server_config *cfg = st->cfg;
	char canon[RS_NAME_TEXT_MAX];
	/* A TSIG key name may hold '_' (BIND, NSD and Knot accept it). */
	unsigned flags = o->offset == OFF(xfr_key) ? RS_NAME_UNDERSCORE | RS_NAME_NUMERIC_TOP : 0;
	int rc = rs_name_canonical(v, flags, canon);
	if (rc < 0) {
		return fail(st->err, st->errsz, "%s: invalid %s '%s': %s", st->where, o->name, v,
				rs_strerror(rc));
	}
	if (o->type == OPT_NAME) {
		memcpy((char *)cfg + o->offset, canon, (size_t)rc + 1);
		return 0;
	}
	size_t idx = (size_t)(o - opts);
	if (!st->cleared[idx]) {
		cfg->nns = 0;
		st->cleared[idx] = true;
	}
	if (cfg->nns == CONFIG_MAX_NS) {
		return fail(st->err, st->errsz, "%s: at most %d %s names", st->where, CONFIG_MAX_NS,
				o->name);
	}
	memcpy(cfg->ns[cfg->nns++], canon, (size_t)rc + 1);
	return 0;
}

static int set_listen(struct apply_state *st, const struct opt *o, const char *v)
{
	struct config_listen *l = (struct config_listen *)((char *)st->cfg + o->offset);
	size_t idx = (size_t)(o - opts);
	if (!st->cleared[idx]) {
		l->n = 0;
		st->cleared[idx] = true;
	}
	if (l->n == CONFIG_MAX_LISTEN) {
		return fail(st->err, st->errsz, "%s: at most %d %s addresses", st->where,
				CONFIG_MAX_LISTEN, o->name);
	}
	if (rs_endpoint_parse(v, 0, &l->addrs[l->n]) < 0) {
		return fail(st->err, st->errsz,
				"%s: invalid %s address '%s' (want IP:PORT or [IPv6]:PORT)",
				st->where, o->name, v);
	}
	l->n++;
	return 0;
}

/* The list an OPT_PREFIX_LIST option fills, and its count. */
static struct rs_prefix *prefix_list(struct server_config *cfg, const struct opt *o, size_t **n)
{
	if (o->offset == OFF(xfr_allow)) {
		*n = &cfg->nxfr_allow;
		return cfg->xfr_allow;
	}
	struct config_prefixes *l = (struct config_prefixes *)((char *)cfg + o->offset);
	*n = &l->n;
	return l->p;
}

/* OPT_PREFIX_LIST (--xfr-allow, --api-allow...): comma-separated prefixes, appended. */
static int set_prefixes(struct apply_state *st, const struct opt *o, const char *v)
{
	size_t *count;
	struct rs_prefix *list = prefix_list(st->cfg, o, &count);
	size_t idx = (size_t)(o - opts);
	if (!st->cleared[idx]) {
		*count = 0;
		st->cleared[idx] = true;
	}
	const char *p = v;
	for (;;) {
		size_t n = strcspn(p, ",");
		char one[RS_ADDR_TEXT_MAX + 8];
		if (n == 0 || n >= sizeof(one)) {
			return fail(st->err, st->errsz,
					"%s: invalid %s '%s' (want CIDR[,CIDR]..., e.g. 192.0.2.0/24)",
					st->where, o->name, v);
		}
		memcpy(one, p, n);
		one[n] = '\0';
		if (*count == CONFIG_MAX_XFR_ALLOW) {
			return fail(st->err, st->errsz, "%s: at most %d %s prefixes", st->where,
					CONFIG_MAX_XFR_ALLOW, o->name);
		}
		if (rs_prefix_parse(one, &list[*count]) < 0) {
			return fail(st->err, st->errsz,
					"%s: invalid %s prefix '%s' (want CIDR[,CIDR]..., e.g. 192.0.2.0/24)",
					st->where, o->name, one);
		}
		(*count)++;
		if (p[n] == '\0') {
			return 0;
		}
		p += n + 1;
	}
}

/* OPT_ENDPOINT_LIST (--notify): comma-separated addresses, each with an
 * optional port (53 by default; an IPv6 address with a port in brackets),
 * appended. */
static int set_endpoints(struct apply_state *st, const struct opt *o, const char *v)
{
	struct server_config *cfg = st->cfg;
	size_t idx = (size_t)(o - opts);
	if (!st->cleared[idx]) {
		cfg->nnotify = 0;
		st->cleared[idx] = true;
	}
	for (const char *p = v;; p++) {
		size_t n = strcspn(p, ",");
		char one[RS_ADDR_TEXT_MAX];
		if (n == 0 || n >= sizeof(one)) {
			return fail(st->err, st->errsz,
					"%s: invalid %s '%s' (want ADDR[:PORT][,...], e.g. "
					"192.0.2.1:5300 or [2001:db8::1]:53)",
					st->where, o->name, v);
		}
		memcpy(one, p, n);
		one[n] = '\0';
		if (cfg->nnotify == CONFIG_MAX_NOTIFY) {
			return fail(st->err, st->errsz, "%s: at most %d %s targets", st->where,
					CONFIG_MAX_NOTIFY, o->name);
		}
		if (rs_endpoint_parse(one, 53, &cfg->notify[cfg->nnotify]) < 0) {
			return fail(st->err, st->errsz,
					"%s: invalid %s target '%s' (want ADDR[:PORT][,...], e.g. "
					"192.0.2.1:5300 or [2001:db8::1]:53)",
					st->where, o->name, one);
		}
		cfg->nnotify++;
		p += n;
		if (*p == '\0') {
			return 0;
		}
	}
}

static int set_path(struct apply_state *st, const struct opt *o, const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n >= 4096) {
		return fail(st->err, st->errsz, "%s: invalid %s path", st->where, o->name);
	}
	memcpy((char *)st->cfg + o->offset, v, n + 1);
	return 0;
}

/* OPT_U32, OPT_U64_BYTES, OPT_MS: a number in [min, max], stored at the
 * width of its field. */
static int set_number(struct apply_state *st, const struct opt *o, const char *v)
{
	uint64_t n = 0;
	int rc = o->type == OPT_MS ? parse_ms(v, &n) : parse_u64(v, &n, o->type == OPT_U64_BYTES);
	if (rc < 0 || n < o->min || n > o->max) {
		return fail(st->err, st->errsz, "%s: invalid %s '%s' (range %llu..%llu%s)",
				st->where, o->name, v, (unsigned long long)o->min,
				(unsigned long long)o->max, o->type == OPT_MS ? " ms" : "");
	}
	char *field = (char *)st->cfg + o->offset;
	if (o->type == OPT_U32 && o->offset == OFF(udp_max)) {
		st->cfg->udp_max = (uint16_t)n;
	} else if (o->type == OPT_U32 ||
			(o->type == OPT_MS && o->offset != OFF(limits.keep_last_max_ms))) {
		*(uint32_t *)field = (uint32_t)n;
	} else {
		*(uint64_t *)field = n;
	}
	return 0;
}

static int set_fraction(struct apply_state *st, const struct opt *o, const char *v)
{
	char *end = NULL;
	double f = strtod(v, &end);
	if (end != v && *end == '%') {
		f /= 100;
		end++;
	}
	if (end == v || *end != '\0' || !(f > 0 && f <= 1)) {
		return fail(st->err, st->errsz, "%s: invalid %s '%s' (0 < x <= 1, or 1%%..100%%)",
				st->where, o->name, v);
	}
	*(double *)((char *)st->cfg + o->offset) = f;
	return 0;
}

/* A switch: bare on the command line (@p v NULL), or a boolean word. */
static int set_bool(struct apply_state *st, const struct opt *o, const char *v)
{
	int b = v != NULL ? rs_flags_bool(v) : 1;
	if (b < 0) {
		return fail(st->err, st->errsz, "%s: invalid %s '%s' (true or false)", st->where,
				o->name, v);
	}
	if (strcmp(o->name, "no-self-preservation") == 0) {
		st->cfg->limits.preserve_enabled = b == 0;
	} else {
		*(bool *)((char *)st->cfg + o->offset) = b == 1;
	}
	return 0;
}

static int set_log_level(struct apply_state *st, const struct opt *o, const char *v)
{
	(void)o;
	int rc = rs_log_level_parse(v);
	if (rc < 0) {
		return fail(st->err, st->errsz,
				"%s: invalid log-level '%s' (error, warning, notice, info, debug)",
				st->where, v);
	}
	st->cfg->log_level = rc;
	return 0;
}

static int set_log_format(struct apply_state *st, const struct opt *o, const char *v)
{
	(void)o;
	int rc = rs_log_format_parse(v);
	if (rc < 0) {
		return fail(st->err, st->errsz,
				"%s: invalid log-format '%s' (auto, text, journal, json)",
				st->where, v);
	}
	st->cfg->log_format = rc;
	return 0;
}

static int set_dns_io(struct apply_state *st, const struct opt *o, const char *v)
{
	(void)o;
	for (int i = DNSIO_IO_AUTO; i <= DNSIO_IO_MMSG; i++) {
		if (strcmp(v, dnsio_io_name((enum dnsio_io)i)) == 0) {
			st->cfg->dns_io = i;
			return 0;
		}
	}
	return fail(st->err, st->errsz, "%s: invalid dns-io '%s' (auto, uring, mmsg)", st->where,
			v);
}

/* One setting, from the command line or the file (st->from_cli). */
static int apply(struct apply_state *st, const struct opt *o, const char *v)
{
	static int (*const setters[])(struct apply_state *, const struct opt *, const char *) = {
			[OPT_LABEL] = set_label,
			[OPT_NAME] = set_name,
			[OPT_NAME_LIST] = set_name,
			[OPT_LISTEN] = set_listen,
			[OPT_PREFIX_LIST] = set_prefixes,
			[OPT_ENDPOINT_LIST] = set_endpoints,
			[OPT_PATH] = set_path,
			[OPT_U32] = set_number,
			[OPT_U64_BYTES] = set_number,
			[OPT_MS] = set_number,
			[OPT_FRACTION] = set_fraction,
			[OPT_BOOL] = set_bool,
			[OPT_LOGLEVEL] = set_log_level,
			[OPT_LOGFORMAT] = set_log_format,
			[OPT_DNSIO] = set_dns_io,
	};
	if (st->only_reloadable && !o->reloadable) {
		return 0;
	}
	if (!st->from_cli && st->cli_seen[o - opts]) {
		return 0; /* the command line wins */
	}
	return setters[o->type](st, o, v);
}

static int file_cb(const char *key, const char *value, unsigned line, void *ud)
{
	struct apply_state *st = ud;
	char where[4200];
	snprintf(where, sizeof(where), "%s:%u", st->cfg->config_file, line);
	st->where = where;
	const struct opt *o = opt_find(key);
	if (o == NULL) {
		fail(st->err, st->errsz, "%s: unknown setting '%s'", where, key);
		return RS_ECONF;
	}
	uint64_t *sig = &st->cfg->file_sig[o - opts];
	*sig = rs_fnv1a64(*sig != 0 ? *sig : RS_FNV1A64_BASIS, (const uint8_t *)value,
			strlen(value) + 1);
	if (strcmp(key, "config") == 0) {
		fail(st->err, st->errsz, "%s: 'config' cannot be set inside a config file", where);
		return RS_ECONF;
	}
	return apply(st, o, value);
}

static int load_file(struct apply_state *st)
{
	char ferr[512] = "";
	char *saved = st->err;
	int rc = rs_conf_parse_file(st->cfg->config_file, file_cb, st, ferr, sizeof(ferr));
	if (rc < 0 && rc != RS_ECONF) {
		/* A syntax error has its message from file_cb; others from conf. */
		if (saved[0] == '\0') {
			snprintf(saved, st->errsz, "config %s", ferr);
		}
		return RS_ECONF;
	}
	if (rc == RS_ECONF && saved[0] == '\0') {
		snprintf(saved, st->errsz, "%s", ferr);
	}
	return rc < 0 ? RS_ECONF : 0;
}

/* SPEC: without --api-tokens the API is open, so it listens on loopback
 * only unless the operator says otherwise (--api-open). */
static int api_guard_check(const struct server_config *cfg, char *err, size_t errsz)
{
	if (cfg->api_tokens[0] != '\0' || cfg->api_open) {
		return 0;
	}
	for (size_t i = 0; i < cfg->api.n; i++) {
		if (!rs_sockaddr_is_loopback(&cfg->api.addrs[i])) {
			char text[RS_ADDR_TEXT_MAX + 8];
			rs_endpoint_format((const struct sockaddr *)&cfg->api.addrs[i], text);
			return fail(err, errsz,
					"--api %s is not a loopback address and the API has no "
					"tokens: give --api-tokens FILE, or --api-open to let "
					"anyone who reaches it write",
					text);
		}
	}
	return 0;
}

/* Is canonical @p name (trailing dot, not the root: OPT_NAME refuses it)
 * @p zone or a name below it? */
static bool name_at_or_below(const char *name, const char *zone)
{
	size_t n = strlen(name), z = strlen(zone);
	return n >= z && strcmp(name + n - z, zone) == 0 && (n == z || name[n - z - 1] == '.');
}

bool config_ns_in_zone(const struct server_config *cfg, size_t i)
{
	return i < cfg->nns && name_at_or_below(cfg->ns[i], cfg->zone);
}

static int finish(struct server_config *cfg, char *err, size_t errsz)
{
	if (cfg->restore_file[0] != '\0') {
		return 0; /* offline: only --data and --restore matter */
	}
	if (cfg->site[0] == '\0') {
		return fail(err, errsz, "missing --site (e.g. --site lon6)");
	}
	if (cfg->domain[0] == '\0') {
		return fail(err, errsz, "missing --domain (e.g. --domain example.net)");
	}
	char zone[2 * RS_NAME_TEXT_MAX];
	snprintf(zone, sizeof(zone), "services.%s.%s", cfg->site, cfg->domain);
	if (rs_name_canonical(zone, 0, cfg->zone) < 0) {
		return fail(err, errsz, "services.%s.%s is not a valid DNS name (too long?)",
				cfg->site, cfg->domain);
	}
	if (cfg->report_zone[0] != '\0' &&
			(name_at_or_below(cfg->zone, cfg->report_zone) ||
					name_at_or_below(cfg->report_zone, cfg->zone))) {
		/* One would shadow the other: reports answered as services, or
		 * every name of the services zone (or the domain) NXDOMAIN. */
		return fail(err, errsz,
				"--report-zone %s overlaps the services zone %s; give it a zone of "
				"its own (e.g. errors.%s)",
				cfg->report_zone, cfg->zone, cfg->domain);
	}
	if (cfg->nns == 0) {
		char ns[RS_NAME_TEXT_MAX + 8];
		snprintf(ns, sizeof(ns), "ns1.%s", cfg->domain);
		if (rs_name_canonical(ns, 0, cfg->ns[0]) < 0) {
			return fail(err, errsz, "default NS ns1.%s is not a valid name; give --ns",
					cfg->domain);
		}
		cfg->nns = 1;
	}
	if (cfg->map_max < cfg->map_size) {
		cfg->map_max = cfg->map_size;
	}
	if (cfg->nnotify > 0 && cfg->nxfr_allow == 0) {
		/* A NOTIFY asks the secondary to transfer, which only --xfr-allow
		 * lets it do; and without it no zone versions are published. */
		return fail(err, errsz,
				"--notify needs --xfr-allow: the secondaries it names "
				"must be allowed to transfer the zone");
	}
	return api_guard_check(cfg, err, errsz);
}

/* A number in the syntax its flag accepts, with the largest unit that
 * divides it exactly: "10s", "500ms", "1h"; "64M", "16K", "12345". */
static void format_scaled(char *out, size_t outsz, uint64_t n, bool ms)
{
	static const struct {
		uint64_t mul;
		const char *unit;
	} durations[] = {{3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}},
	  bytes[] = {{1ULL << 30, "G"}, {1ULL << 20, "M"}, {1ULL << 10, "K"}, {1, ""}};
	const size_t nunits = 4;
	if (n == 0) {
		snprintf(out, outsz, "0");
		return;
	}
	for (size_t k = 0; k < nunits; k++) {
		uint64_t mul = ms ? durations[k].mul : bytes[k].mul;
		if (n % mul == 0) {
			snprintf(out, outsz, "%llu%s", (unsigned long long)(n / mul),
					ms ? durations[k].unit : bytes[k].unit);
			return;
		}
	}
}

/* The values of a list option (--ns, --dns...), comma-separated. */
static void list_format(const struct opt *o, const struct server_config *def, char *v, size_t vsz)
{
	const struct config_listen *l = NULL;
	size_t n = def->nns;
	if (o->type == OPT_LISTEN) {
		l = (const struct config_listen *)((const char *)def + o->offset);
		n = l->n;
	}
	v[0] = '\0';
	for (size_t k = 0; k < n; k++) {
		char a[RS_ADDR_TEXT_MAX];
		if (l != NULL) {
			rs_endpoint_format((const struct sockaddr *)&l->addrs[k], a);
		}
		size_t len = strlen(v);
		snprintf(v + len, vsz - len, "%s%s", k > 0 ? ", " : "", l != NULL ? a : def->ns[k]);
	}
}

/* The default of @p o as --help shows it, read from @p def (filled by
 * config_defaults()) the way apply() writes it: "(default 10s)",
 * "(required)", or "" when there is nothing to show (an unset name or
 * path, a switch that is off, a default the help text derives). */
static void opt_default_format(
		const struct opt *o, const struct server_config *def, char *out, size_t outsz)
{
	const char *base = (const char *)def;
	char v[CONFIG_MAX_LISTEN * (RS_ADDR_TEXT_MAX + 2) + RS_NAME_TEXT_MAX];
	v[0] = '\0';
	out[0] = '\0';
	switch (o->type) {
	case OPT_LABEL:
	case OPT_NAME:
	case OPT_PATH:
		snprintf(v, sizeof(v), "%s", base + o->offset);
		if (v[0] == '\0' && (o->offset == OFF(site) || o->offset == OFF(domain))) {
			snprintf(out, outsz, "(required)"); /* finish() insists on both */
			return;
		}
		break;
	case OPT_NAME_LIST:
	case OPT_LISTEN:
		list_format(o, def, v, sizeof(v));
		break;
	case OPT_PREFIX_LIST:
	case OPT_ENDPOINT_LIST:
		break; /* none by default */
	case OPT_U32:
		snprintf(v, sizeof(v), "%u",
				o->offset == OFF(udp_max) ? def->udp_max
							  : *(const uint32_t *)(base + o->offset));
		break;
	case OPT_U64_BYTES:
		format_scaled(v, sizeof(v), *(const uint64_t *)(base + o->offset), false);
		break;
	case OPT_MS:
		format_scaled(v, sizeof(v),
				o->offset == OFF(limits.keep_last_max_ms)
						? def->limits.keep_last_max_ms
						: *(const uint32_t *)(base + o->offset),
				true);
		break;
	case OPT_FRACTION:
		snprintf(v, sizeof(v), "%g%%", *(const double *)(base + o->offset) * 100);
		break;
	case OPT_BOOL: {
		bool on = strcmp(o->name, "no-self-preservation") == 0
					  ? !def->limits.preserve_enabled
					  : *(const bool *)(base + o->offset);
		if (on) {
			snprintf(v, sizeof(v), "on");
		}
		break;
	}
	case OPT_LOGLEVEL:
		snprintf(v, sizeof(v), "%s", rs_log_level_name(def->log_level));
		break;
	case OPT_LOGFORMAT:
		snprintf(v, sizeof(v), "%s", rs_log_format_name(def->log_format));
		break;
	case OPT_DNSIO:
		snprintf(v, sizeof(v), "%s", dnsio_io_name((enum dnsio_io)def->dns_io));
		break;
	}
	if (v[0] != '\0') {
		snprintf(out, outsz, "(default %s)", v);
	}
}

/* The command line's flags: one per option, every one a CALL into apply()
 * (a switch takes "=WORD" too), then --help and --version. */
#define NFLAGS (NOPTS + 2)

static int flag_set(void *target, const struct rs_flag *f, const char *v, char *err, size_t errsz)
{
	(void)err, (void)errsz; /* apply() writes st->err, the same buffer */
	struct apply_state *st = target;
	size_t k = (size_t)(f - st->flags);
	char where[80];
	snprintf(where, sizeof(where), "--%s", opts[k].name);
	st->where = where;
	st->cli_seen[k] = true;
	return apply(st, &opts[k], v);
}

static void flags_build(struct rs_flag flags[NFLAGS])
{
	for (size_t k = 0; k < NOPTS; k++) {
		flags[k] = (struct rs_flag){.name = opts[k].name,
				.kind = opts[k].type == OPT_BOOL ? RS_FLAG_CALL_OPT : RS_FLAG_CALL,
				.set = flag_set,
				.help = opts[k].help};
	}
	flags[NOPTS] = (struct rs_flag){.name = "help",
			.short_name = 'h',
			.kind = RS_FLAG_SWITCH,
			.opts = RS_FLAG_STOP,
			.offset = offsetof(struct apply_state, help),
			.help = "this text"};
	flags[NOPTS + 1] = (struct rs_flag){.name = "version",
			.short_name = 'V',
			.kind = RS_FLAG_SWITCH,
			.opts = RS_FLAG_STOP,
			.offset = offsetof(struct apply_state, version),
			.help = "print the version"};
}

struct usage_ctx {
	const struct rs_flag *flags;
	const struct server_config *def; /* config_defaults(); NULL: none shown */
};

/* rs_flags_help()'s default column, for the options (not --help, --version). */
static void flag_default(const struct rs_flag *f, const void *ud, char *out, size_t outsz)
{
	const struct usage_ctx *u = ud;
	size_t k = (size_t)(f - u->flags);
	out[0] = '\0';
	if (k < NOPTS && u->def != NULL) {
		opt_default_format(&opts[k], u->def, out, outsz);
	}
}

void config_usage(FILE *out)
{
	fprintf(out, "usage: rosterd --site SITE --domain DOMAIN [options]\n\n"
		     "Roster's registry: registrations over a protobuf TCP API, answers over DNS\n"
		     "for services.SITE.DOMAIN. Every option may also be set in the --config\n"
		     "file as 'name = value' (flags on the command line win).\n\n");
	/* The defaults come from config_defaults() itself, never a copy here. */
	struct server_config *def = malloc(sizeof(*def));
	if (def != NULL) {
		config_defaults(def);
	}
	struct rs_flag flags[NFLAGS];
	flags_build(flags);
	struct rs_flags spec = {flags, NFLAGS};
	struct usage_ctx u = {flags, def};
	rs_flags_help(out, &spec, flag_default, &u);
	free(def);
}

int config_parse(struct server_config *cfg, int argc, char **argv, char *err, size_t errsz)
{
	struct rs_flag flags[NFLAGS];
	flags_build(flags);
	/* getopt_long's rules, which rosterd has always had: --dom for --domain. */
	struct rs_flags spec = {flags, NFLAGS, .opts = RS_FLAGS_ABBREV};
	struct apply_state st = {
			.cfg = cfg, .from_cli = true, .err = err, .errsz = errsz, .flags = flags};
	int rc = rs_flags_parse(&spec, argc - 1, argv + 1, &st, err, errsz);
	if (rc == 1) {
		if (st.help) {
			config_usage(stdout);
		} else {
			printf("rosterd %s\n", ROSTER_VERSION);
		}
		return 1;
	}
	if (rc == RS_EINVAL) {
		/* The flag syntax (unknown, no value...): apply()'s own are RS_ECONF. */
		size_t n = strlen(err);
		snprintf(err + n, errsz - n, " (see --help)");
		return RS_ECONF;
	}
	if (rc < 0) {
		return rc;
	}
	if (cfg->config_file[0] != '\0') {
		/* List options from the command line replace the file's. */
		st.from_cli = false;
		memcpy(st.cleared, st.cli_seen, sizeof(st.cleared));
		rc = load_file(&st);
		if (rc < 0) {
			return rc;
		}
	}
	return finish(cfg, err, errsz);
}

int config_reload(struct server_config *cfg, char *unapplied, size_t unappliedsz, char *err,
		size_t errsz)
{
	unapplied[0] = '\0';
	if (cfg->config_file[0] == '\0') {
		return 0;
	}
	struct server_config copy = *cfg; /* its file_sig: the file as it is now */
	memset(copy.file_sig, 0, sizeof(copy.file_sig));
	struct apply_state st = {&copy, false, true, .err = err, .errsz = errsz};
	err[0] = '\0';
	int rc = load_file(&st);
	for (size_t k = 0, len = 0; rc == 0 && k < NOPTS && len < unappliedsz; k++) {
		if (!opts[k].reloadable && copy.file_sig[k] != cfg->file_sig[k]) {
			len += (size_t)snprintf(unapplied + len, unappliedsz - len, "%s%s",
					len > 0 ? ", " : "", opts[k].name);
		}
	}
	if (rc == 0) {
		*cfg = copy;
	}
	return rc;
}
