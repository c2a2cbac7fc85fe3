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
#include "server/config_internal.h"
#include "server/dns/dnsio.h"

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
	bool cli_seen[NOPTS];
	bool cleared[NOPTS];
	bool help, version;          /* --help, --version (the flags' STOP switches) */
	const struct rs_flag *flags; /* the command line's: flags[k] is config_opts[k] */
	char *err;
	size_t errsz;
	const char *where; /* "--flag" or "file:line" prefix for messages */
};

static const struct opt *opt_find(const char *name)
{
	for (size_t k = 0; k < NOPTS; k++) {
		if (strcmp(config_opts[k].name, name) == 0) {
			return &config_opts[k];
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
	size_t idx = (size_t)(o - config_opts);
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
	size_t idx = (size_t)(o - config_opts);
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
	size_t idx = (size_t)(o - config_opts);
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
	size_t idx = (size_t)(o - config_opts);
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

/* The octets of a reloadable setting's field (0: not one kept as a plain
 * field: no-self-preservation, which sets limits.preserve_enabled). */
static size_t opt_width(const struct opt *o)
{
	switch (o->type) {
	case OPT_PATH:
		return 4096;
	case OPT_U32:
		return o->offset == OFF(udp_max) ? sizeof(uint16_t) : sizeof(uint32_t);
	case OPT_MS:
		return o->offset == OFF(limits.keep_last_max_ms) ? sizeof(uint64_t)
								 : sizeof(uint32_t);
	case OPT_U64_BYTES:
		return sizeof(uint64_t);
	case OPT_FRACTION:
		return sizeof(double);
	case OPT_BOOL:
		return o->offset != 0 ? sizeof(bool) : 0;
	case OPT_LOGLEVEL:
		return sizeof(int);
	default:
		return 0;
	}
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
	size_t w = opt_width(o);
	if (w == sizeof(uint16_t)) {
		*(uint16_t *)field = (uint16_t)n;
	} else if (w == sizeof(uint32_t)) {
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
	if (!st->from_cli && st->cli_seen[o - config_opts]) {
		/* The command line wins, but a bad line is a bad file all the
		 * same: checked on a scratch copy. */
		struct apply_state scratch = *st;
		scratch.cfg = malloc(sizeof(*scratch.cfg));
		if (scratch.cfg == NULL) {
			return fail(st->err, st->errsz, "out of memory");
		}
		config_defaults(scratch.cfg);
		int rc = setters[o->type](&scratch, o, v);
		free(scratch.cfg);
		return rc;
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
	uint64_t *sig = &st->cfg->file_sig[o - config_opts];
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
	snprintf(where, sizeof(where), "--%s", config_opts[k].name);
	st->where = where;
	st->cli_seen[k] = true;
	return apply(st, &config_opts[k], v);
}

static void flags_build(struct rs_flag flags[NFLAGS])
{
	for (size_t k = 0; k < NOPTS; k++) {
		flags[k] = (struct rs_flag){.name = config_opts[k].name,
				.kind = config_opts[k].type == OPT_BOOL ? RS_FLAG_CALL_OPT
									: RS_FLAG_CALL,
				.set = flag_set,
				.help = config_opts[k].help};
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
		opt_default_format(&config_opts[k], u->def, out, outsz);
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
	cfg->argc = argc;
	cfg->argv = argv;
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

/* Append @p name to the comma-separated list in @p out. */
static void list_add(char *out, size_t outsz, const char *name)
{
	size_t len = strlen(out);
	snprintf(out + len, outsz - len, "%s%s", len > 0 ? ", " : "", name);
}

int config_reload(struct server_config *cfg, char *changed, size_t changedsz, char *unapplied,
		size_t unappliedsz, char *err, size_t errsz)
{
	changed[0] = unapplied[0] = '\0';
	if (cfg->config_file[0] == '\0') {
		return 0;
	}
	struct server_config *now = malloc(sizeof(*now));
	if (now == NULL) {
		return fail(err, errsz, "out of memory");
	}
	config_defaults(now);
	err[0] = '\0';
	int rc = config_parse(now, cfg->argc, cfg->argv, err, errsz);
	for (size_t k = 0; rc == 0 && k < NOPTS; k++) {
		const struct opt *o = &config_opts[k];
		size_t w = opt_width(o);
		const char *was = (const char *)cfg + o->offset,
			   *is = (const char *)now + o->offset;
		if (!o->reloadable) {
			if (now->file_sig[k] != cfg->file_sig[k]) {
				list_add(unapplied, unappliedsz, o->name);
			}
		} else if (w > 0 ? memcmp(was, is, w) != 0
				 : cfg->limits.preserve_enabled != now->limits.preserve_enabled) {
			list_add(changed, changedsz, o->name);
		}
	}
	for (size_t k = 0; rc == 0 && k < NOPTS; k++) {
		const struct opt *o = &config_opts[k];
		if (o->reloadable) {
			memcpy((char *)cfg + o->offset, (const char *)now + o->offset,
					opt_width(o));
		}
	}
	if (rc == 0) {
		cfg->limits.preserve_enabled = now->limits.preserve_enabled;
		memcpy(cfg->file_sig, now->file_sig, sizeof(cfg->file_sig));
	}
	free(now);
	return rc < 0 ? rc : 0;
}
