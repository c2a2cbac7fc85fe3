#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "server/config.h"
#include "tests/unit/common/argv_split.h"

static int parse(struct server_config *cfg, const char *line, char *err, size_t errsz)
{
	/* Static: the config keeps argv for config_reload(). */
	static char full[512], buf[512];
	static char *argv[ARGV_SPLIT_MAX + 1];
	snprintf(full, sizeof(full), "rosterd %s", line);
	int argc = argv_split(full, buf, argv);
	config_defaults(cfg);
	return config_parse(cfg, argc, argv, err, errsz);
}

Test(config, defaults_and_derived_fields)
{
	struct server_config cfg;
	char err[512];
	cr_assert_eq(parse(&cfg, "--site LON6 --domain Example.NET", err, sizeof(err)), 0, "%s",
			err);
	cr_expect_str_eq(cfg.site, "lon6");
	cr_expect_str_eq(cfg.domain, "example.net.");
	cr_expect_str_eq(cfg.zone, "services.lon6.example.net.");
	cr_expect_str_eq(cfg.ns[0], "ns1.example.net.");
	cr_expect_eq(cfg.ttl, 5);
	cr_expect_eq(cfg.negative_ttl, 5);
	cr_expect_eq(cfg.udp_max, 1232);
	cr_expect_eq(cfg.dns.n, 1);
	cr_expect_eq(cfg.api.n, 1);
	cr_expect_str_eq(cfg.data_dir, "./roster-data");
	cr_expect_eq(cfg.dns_threads, 1, "UDP on one worker thread by default");
	cr_assert_eq(parse(&cfg, "--site a --domain b --dns-threads 0", err, sizeof(err)), 0, "%s",
			err);
	cr_expect_eq(cfg.dns_threads, 0, "--dns-threads 0: the main loop");
}

Test(config, connection_caps_defaults_and_flags)
{
	struct server_config cfg;
	char err[512];
	cr_assert_eq(parse(&cfg, "--site a --domain b", err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cfg.dns_tcp_max_per_source, 100);
	cr_expect_eq(cfg.api_max_per_source, 1024);
	cr_expect_eq(cfg.http_max_conns, 256);
	cr_expect_eq(cfg.http_idle_ms, 10000);
	cr_assert_eq(parse(&cfg,
				     "--site a --domain b --tcp-max-connections-per-source 7 "
				     "--max-connections-per-source 9 --http-max-connections 3 "
				     "--http-idle-timeout 1500ms",
				     err, sizeof(err)),
			0, "%s", err);
	cr_expect_eq(cfg.dns_tcp_max_per_source, 7);
	cr_expect_eq(cfg.api_max_per_source, 9);
	cr_expect_eq(cfg.http_max_conns, 3);
	cr_expect_eq(cfg.http_idle_ms, 1500);
}

Test(config, several_listeners_and_ns)
{
	struct server_config cfg;
	char err[512];
	cr_assert_eq(parse(&cfg,
				     "--site a --domain b.c --dns 127.0.0.1:53 --dns [::1]:53 "
				     "--ns ns1.b.c --ns ns2.b.c --ttl 30 --keep-last "
				     "--preserve-fraction 20% --preserve-window 30s",
				     err, sizeof(err)),
			0, "%s", err);
	cr_expect_eq(cfg.dns.n, 2);
	cr_expect_eq(cfg.nns, 2);
	cr_expect_str_eq(cfg.ns[1], "ns2.b.c.");
	cr_expect_eq(cfg.ttl, 30);
	cr_expect(cfg.limits.keep_last);
	cr_expect_float_eq(cfg.limits.preserve_fraction, 0.2, 1e-9);
	cr_expect_eq(cfg.limits.preserve_window_ms, 30000);
}

Test(config, acl_and_rrl_defaults_and_flags)
{
	struct server_config cfg;
	char err[512];
	cr_assert_eq(parse(&cfg, "--site a --domain b", err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cfg.api_allow.n + cfg.dns_allow.n + cfg.http_allow.n, 0, "all allowed");
	cr_expect(!cfg.acl_dry_run);
	cr_expect_eq(cfg.rrl_rate, 0, "off");
	cr_expect_eq(cfg.rrl_slip, 2);
	cr_assert_eq(parse(&cfg,
				     "--site a --domain b --dns-allow 10.0.0.0/8,2001:db8::/32 "
				     "--dns-allow 127.0.0.1 --api-allow 192.0.2.0/24 --acl-dry-run "
				     "--rrl-rate 20 --rrl-slip 0 --rrl-exempt 10.1.0.0/16",
				     err, sizeof(err)),
			0, "%s", err);
	cr_expect_eq(cfg.dns_allow.n, 3, "a repeated list flag appends");
	cr_expect_eq(cfg.dns_allow.p[1].len, 32);
	cr_expect_eq(cfg.dns_allow.p[2].len, 32, "an address alone is a host prefix");
	cr_expect_eq(cfg.api_allow.n, 1);
	cr_expect_eq(cfg.http_allow.n, 0);
	cr_expect_eq(cfg.nxfr_allow, 0, "the lists are separate");
	cr_expect(cfg.acl_dry_run);
	cr_expect_eq(cfg.rrl_rate, 20);
	cr_expect_eq(cfg.rrl_slip, 0);
	cr_expect_eq(cfg.rrl_exempt.n, 1);
}

struct bad_flag {
	char line[400];
	char word[40];
};

ParameterizedTestParameters(config, bad_flags_name_the_problem)
{
	static struct bad_flag cases[] = {
			{"--domain example.net", "--site"},
			{"--site lon6", "--domain"},
			{"--site lon_6 --domain x.net", "site"},
			{"--site lon6 --domain x..net", "domain"},
			{"--site a --domain b --dns localhost:53", "dns"},
			{"--site a --domain b --api 127.0.0.1:99999", "api"},
			{"--site a --domain b --ttl -1", "ttl"},
			{"--site a --domain b --ttl 1h", "ttl"},
			{"--site a --domain b --udp-max 100", "udp-max"},
			{"--site a --domain b --log-level loud", "log-level"},
			{"--site a --domain b --preserve-fraction 2", "preserve-fraction"},
			{"--site a --domain b --tcp-max-connections-per-source 0",
					"tcp-max-connections-per-source"},
			{"--site a --domain b --max-connections-per-source x",
					"max-connections-per-source"},
			{"--site a --domain b --http-max-connections 0", "http-max-connections"},
			{"--site a --domain b --http-idle-timeout 5ms", "http-idle-timeout"},
			{"--site a --domain b --bogus", "--bogus"},
			{"--site a --domain b extra", "extra"},
			{"--site a --domain b --config /nonexistent/roster.conf", "/nonexistent"},
			{"--site a --domain b --ttl", "option '--ttl' needs a value"},
			{"--site a --domain b --max 5", "ambiguous option '--max'"},
			{"--site a --domain b --keep-last=maybe", "invalid keep-last 'maybe'"},
			{"--site a --domain b --keep-last false", "unexpected argument 'false'"},
			{"--site a --domain b --help=x", "option '--help' takes no value"},
			{"--site a --domain b -x", "unknown option '-x'"},
			{"--site a --domain b --notify localhost",
					"invalid notify target 'localhost'"},
			{"--site a --domain b --notify 192.0.2.1:99999", "'192.0.2.1:99999'"},
			{"--site a --domain b --notify 192.0.2.1:0", "'192.0.2.1:0'"},
			{"--site a --domain b --notify 192.0.2.1:", "'192.0.2.1:'"},
			{"--site a --domain b --notify 192.0.2.1,", "invalid notify '192.0.2.1,'"},
			{"--site a --domain b --notify ,192.0.2.1", "invalid notify ',192.0.2.1'"},
			{"--site a --domain b --notify 192.0.2.1,,::1", "invalid notify"},
			{"--site a --domain b --notify [::1", "'[::1'"},
			{"--site a --domain b --notify [::1]x", "'[::1]x'"},
			{"--site a --domain b --notify 192.0.2.0/24", "'192.0.2.0/24'"},
			{"--site a --domain b --notify 10.1.2", "'10.1.2'"},
			{"--site a --domain b --notify", "option '--notify' needs a value"},
			{"--site a --domain b --notify-interval 0", "invalid notify-interval '0'"},
			{"--site a --domain b --notify-interval 5x",
					"invalid notify-interval '5x'"},
			{"--site a --domain b --notify-interval 2h",
					"invalid notify-interval '2h'"},
			{"--site a --domain b --notify-interval -1ms", "notify-interval"},
			{"--site a --domain b --dns-allow 10.0.0.1/8",
					"dns-allow prefix '10.0.0.1/8'"},
			{"--site a --domain b --dns-allow localhost",
					"dns-allow prefix 'localhost'"},
			{"--site a --domain b --api-allow 10.0.0.0/33", "api-allow prefix"},
			{"--site a --domain b --http-allow ,10.0.0.0/8", "invalid http-allow"},
			{"--site a --domain b --http-allow 10.0.0.0/8,", "invalid http-allow"},
			{"--site a --domain b --rrl-exempt 300.1.1.1", "rrl-exempt prefix"},
			{"--site a --domain b --rrl-exempt 2001:db8::/129", "rrl-exempt prefix"},
			{"--site a --domain b --rrl-rate -1", "invalid rrl-rate '-1'"},
			{"--site a --domain b --rrl-rate 2000000", "invalid rrl-rate"},
			{"--site a --domain b --rrl-rate 5/s", "invalid rrl-rate"},
			{"--site a --domain b --rrl-slip 101", "invalid rrl-slip"},
			{"--site a --domain b --acl-dry-run=maybe", "invalid acl-dry-run 'maybe'"},
			{"--site a --domain b --backup-interval 10ms", "backup-interval"},
			{"--site a --domain b --backup-keep 0", "backup-keep"},
			{"--site a --domain b --map-size x", "map-size"},
			{"--site a --domain b --map-size 99999999999999999999", "map-size"},
			{"--site a --domain b --map-size 1X", "map-size"},
			{"--site a --domain b --map-size 1GiBx", "map-size"},
			{"--site a --domain b --map-size 18446744073709551615G", "map-size"},
			{"--site a --domain b --idle-timeout x", "idle-timeout"},
			{"--site a --domain b --idle-timeout 1e999", "idle-timeout"},
			{"--site a --domain b --idle-timeout 5d", "idle-timeout"},
			{"--site a --domain b --idle-timeout 999999999999h", "idle-timeout"},
			{"--site a --domain b --preserve-fraction abc", "preserve-fraction"},
			{"--site a --domain b --preserve-fraction 50%x", "preserve-fraction"},
			{"--site a --domain b --log-format fancy", "log-format"},
			{"--site a --domain b --dns-io magic", "dns-io"},
			{"--site a --domain b --xfr-allow ,", "invalid xfr-allow"},
			{"--site a --domain b --notify 192.0.2.1", "--notify needs --xfr-allow"},
			{"--site a --domain b --report-zone services.a.b",
					"overlaps the services zone"},
			{"--site a --domain b --report-zone Services.A.B.",
					"overlaps the services zone"},
			{"--site a --domain b --report-zone b", "--report-zone b. overlaps"},
			{"--site a --domain b --report-zone .", "invalid report-zone"},
			{"--site a --domain b --report-zone x.services.a.b",
					"overlaps the services zone"},
			{"--site a --domain b --ns a.b --ns c.d --ns e.f --ns g.h --ns i.j --ns k.l "
			 "--ns m.n --ns o.p --ns q.r",
					"at most 8 ns names"},
			{"--site a --domain b --api 127.0.0.1:1 --api 127.0.0.1:2 --api 127.0.0.1:3 "
			 "--api 127.0.0.1:4 --api 127.0.0.1:5 --api 127.0.0.1:6 --api 127.0.0.1:7 "
			 "--api 127.0.0.1:8 --api 127.0.0.1:9",
					"at most 8 api addresses"},
			{"--site a --domain aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
					"is not a valid DNS name (too long?)"},
	};
	return cr_make_param_array(struct bad_flag, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_flag *c, config, bad_flags_name_the_problem)
{
	struct server_config cfg;
	char err[512] = "";
	int rc = parse(&cfg, c->line, err, sizeof(err));
	cr_expect_lt(rc, 0, "'%s' accepted", c->line);
	cr_expect(strstr(err, c->word) != NULL, "'%s' -> '%s' does not name '%s'", c->line, err,
			c->word);
	cr_expect(strchr(err, '\n') == NULL, "one line");
}

Test(config, report_zone_beside_the_services_zone)
{
	struct server_config cfg;
	char err[512];
	/* A sibling, a name that only ends in the same letters, another domain. */
	const char *ok[] = {"errors.a.b", "errors.b", "xservices.a.b", "reports.example.org"};
	for (size_t k = 0; k < sizeof(ok) / sizeof(ok[0]); k++) {
		char line[128];
		snprintf(line, sizeof(line), "--site a --domain b --report-zone %s", ok[k]);
		cr_expect_eq(parse(&cfg, line, err, sizeof(err)), 0, "%s: %s", ok[k], err);
	}
}

Test(config, notify_targets_and_interval)
{
	struct server_config cfg;
	char err[512];
	cr_assert_eq(parse(&cfg, "--site a --domain b", err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cfg.nnotify, 0, "no NOTIFY target by default");
	cr_expect_eq(cfg.notify_interval_ms, 50);
	cr_assert_eq(parse(&cfg,
				     "--site a --domain b --xfr-allow 192.0.2.0/24 "
				     "--notify 192.0.2.1,[2001:db8::1]:5300,::1 "
				     "--notify 192.0.2.2:5301 --notify-interval 200ms",
				     err, sizeof(err)),
			0, "%s", err);
	cr_assert_eq(cfg.nnotify, 4);
	const char *want[] = {"192.0.2.1:53", "[2001:db8::1]:5300", "[::1]:53", "192.0.2.2:5301"};
	for (size_t k = 0; k < 4; k++) {
		char text[RS_ADDR_TEXT_MAX];
		rs_endpoint_format((const struct sockaddr *)&cfg.notify[k], text);
		cr_expect_str_eq(text, want[k]);
	}
	cr_expect_eq(cfg.notify_interval_ms, 200);
	cr_assert_eq(parse(&cfg, "--site a --domain b --notify-interval 1s", err, sizeof(err)), 0);
	cr_expect_eq(cfg.notify_interval_ms, 1000, "the duration syntax of every other flag");

	char path[] = "/tmp/rosterd-conf-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	const char *text = "site = a\ndomain = b\nnotify = 127.0.0.1:5300\nnotify = [::1]\n"
			   "notify-interval = 100ms\nxfr-allow = 127.0.0.1\n";
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	char line[300];
	snprintf(line, sizeof(line), "--config %s", path);
	cr_assert_eq(parse(&cfg, line, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cfg.nnotify, 2, "the config keys notify and notify-interval");
	cr_expect_eq(cfg.notify_interval_ms, 100);
	unlink(path);
	cr_expect_lt(parse(&cfg, "--site a --domain b --notify 192.0.2.1", err, sizeof(err)), 0,
			"--notify without --xfr-allow");
	cr_expect(strstr(err, "--notify needs --xfr-allow") != NULL, "%s", err);
}

/* getopt_long's rules, which rosterd has always followed: an unambiguous
 * prefix names its flag, an exact name wins over longer ones, a switch
 * takes "=WORD", "--" ends the flags. */
Test(config, abbreviations_switch_words_and_exact_names)
{
	struct server_config cfg;
	char err[512];
	cr_assert_eq(parse(&cfg,
				     "--sit a --dom b --keep-last=no --stable-sub --no-self "
				     "--max-connections 7 --dns 127.0.0.1:1",
				     err, sizeof(err)),
			0, "%s", err);
	cr_expect_str_eq(cfg.site, "a");
	cr_expect_not(cfg.limits.keep_last);
	cr_expect(cfg.stable_subsets);
	cr_expect_not(cfg.limits.preserve_enabled);
	cr_expect_eq(cfg.api_max_conns, 7, "--max-connections is exact, not a prefix");
	cr_expect_eq(cfg.dns.n, 1, "--dns is exact although --dns-threads exists");
	cr_expect_lt(parse(&cfg, "--site a --domain b -- --ttl 5", err, sizeof(err)), 0);
	cr_expect(strstr(err, "unexpected argument '--ttl'") != NULL, "%s", err);
}

Test(config, file_values_and_command_line_wins)
{
	char path[] = "/tmp/rosterd-conf-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	const char *text = "site = lon6\ndomain = example.net\nttl = 7\n"
			   "dns = 127.0.0.1:5353\ndns = [::1]:5353\nkeep-last = true\n";
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct server_config cfg;
	char err[512], line[300];
	snprintf(line, sizeof(line), "--config %s --ttl 9", path);
	cr_assert_eq(parse(&cfg, line, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cfg.ttl, 9, "the command line wins");
	cr_expect_eq(cfg.dns.n, 2);
	cr_expect(cfg.limits.keep_last);
	snprintf(line, sizeof(line), "--config %s --dns 127.0.0.1:1", path);
	cr_assert_eq(parse(&cfg, line, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cfg.dns.n, 1, "a list on the command line replaces the file's");
	unlink(path);
}

Test(config, bad_file_line_is_named)
{
	char path[] = "/tmp/rosterd-conf-XXXXXX";
	int fd = mkstemp(path);
	const char *text = "site = lon6\nwhatever = 1\n";
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct server_config cfg;
	char err[512], line[300];
	snprintf(line, sizeof(line), "--domain x.net --config %s", path);
	cr_expect_lt(parse(&cfg, line, err, sizeof(err)), 0);
	cr_expect(strstr(err, ":2:") != NULL && strstr(err, "whatever") != NULL, "%s", err);
	unlink(path);
}

static char *usage_text(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cr_assert_not_null(f);
	config_usage(f);
	fclose(f);
	return text;
}

/* The line of --help that documents @p flag ("--ttl VALUE"), or "". */
static void usage_line(const char *text, const char *flag, char *out, size_t outsz)
{
	char key[80];
	snprintf(key, sizeof(key), "  %s ", flag);
	const char *p = strstr(text, key);
	out[0] = '\0';
	if (p != NULL) {
		size_t n = strcspn(p, "\n");
		snprintf(out, outsz, "%.*s", (int)n, p);
	}
}

struct help_default {
	char flag[40];
	char shown[60];
};

ParameterizedTestParameters(config, help_shows_each_default_in_its_flag_syntax)
{
	static struct help_default cases[] = {
			{"--site VALUE", "(required)"},
			{"--domain VALUE", "(required)"},
			{"--dns VALUE", "(default 127.0.0.1:8053)"},
			{"--api VALUE", "(default 127.0.0.1:7600)"},
			{"--data VALUE", "(default ./roster-data)"},
			{"--ttl VALUE", "TTL of DNS answers, seconds (default 5)"},
			{"--udp-max VALUE", "(default 1232)"},
			{"--tcp-idle-timeout VALUE", "(default 10s)"},
			{"--keep-last-max-age VALUE", "(default 1h)"},
			{"--map-size VALUE", "(default 64M)"},
			{"--map-max VALUE", "(default 64G)"},
			{"--report-log-max VALUE", "(default 16M)"},
			{"--preserve-fraction VALUE", "(default 15%)"},
			{"--log-level VALUE", "(default info)"},
			{"--notify-interval VALUE", "(default 50ms)"},
	};
	return cr_make_param_array(struct help_default, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct help_default *c, config, help_shows_each_default_in_its_flag_syntax)
{
	char *text = usage_text();
	char line[300];
	usage_line(text, c->flag, line, sizeof(line));
	cr_expect(strstr(line, c->shown) != NULL, "'%s' does not show '%s'", line, c->shown);
	free(text);
}

Test(config, help_omits_switches_that_are_off_and_unset_names)
{
	char *text = usage_text();
	const char *quiet[] = {"--keep-last", "--stable-subsets", "--no-self-preservation",
			"--no-dns-cookies", "--report-zone VALUE", "--config VALUE"};
	for (size_t k = 0; k < sizeof(quiet) / sizeof(quiet[0]); k++) {
		char line[300];
		usage_line(text, quiet[k], line, sizeof(line));
		cr_expect(line[0] != '\0', "%s missing from --help", quiet[k]);
		cr_expect(strstr(line, "(default") == NULL, "'%s' shows a default", line);
	}
	free(text);
}

/* Every default --help shows, given back as that flag, parses to exactly the
 * configuration the defaults give: the text is derived from
 * config_defaults(), in the syntax the flag accepts. */
Test(config, help_defaults_parse_back_to_the_defaults)
{
	char *text = usage_text();
	char err[512];
	struct server_config want, got;
	cr_assert_eq(parse(&want, "--site a --domain b.c", err, sizeof(err)), 0, "%s", err);
	int checked = 0;
	for (const char *p = strstr(text, "\n  --"); p != NULL; p = strstr(p + 1, "\n  --")) {
		char flag[64], value[200];
		if (sscanf(p + 3, "%63s", flag) != 1) {
			continue;
		}
		const char *eol = strchr(p + 1, '\n');
		const char *d = strstr(p, "(default ");
		if (d == NULL || (eol != NULL && d > eol)) {
			continue;
		}
		size_t n = strcspn(d + 9, ")");
		snprintf(value, sizeof(value), "%.*s", (int)n, d + 9);
		if (strstr(value, "DATA") != NULL || strstr(value, "DOMAIN") != NULL) {
			continue; /* derived at start-up, not a value */
		}
		char line[400];
		snprintf(line, sizeof(line), "--site a --domain b.c %s %s", flag, value);
		cr_assert_eq(parse(&got, line, err, sizeof(err)), 0, "%s: %s", line, err);
		got.argc = want.argc; /* the command line itself, kept for SIGHUP */
		cr_expect(memcmp(&got, &want, sizeof(got)) == 0, "%s is not the default", line);
		checked++;
	}
	cr_expect_geq(checked, 25, "only %d defaults shown", checked);
	free(text);
}

/* --tsig-keyfile is a path; --xfr-key a key name (canonical, '_' allowed as
 * BIND, NSD and Knot allow it); the key file itself is read at start. */
Test(config, tsig_keyfile_and_xfr_key)
{
	struct server_config cfg;
	char err[512];
	cr_assert_eq(parse(&cfg, "--site a --domain b", err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(cfg.tsig_keyfile, "");
	cr_expect_str_eq(cfg.xfr_key, "");
	cr_assert_eq(parse(&cfg,
				     "--site a --domain b --tsig-keyfile /etc/roster/xfr.key "
				     "--xfr-key Roster_XFR",
				     err, sizeof(err)),
			0, "%s", err);
	cr_expect_str_eq(cfg.tsig_keyfile, "/etc/roster/xfr.key");
	cr_expect_str_eq(cfg.xfr_key, "roster_xfr.");
	cr_expect_neq(parse(&cfg, "--site a --domain b --xfr-key a..b", err, sizeof(err)), 0);
	cr_expect(strstr(err, "xfr-key") != NULL, "%s", err);
}

Test(config, store_file_flags)
{
	struct server_config cfg;
	char err[512];
	cr_assert_eq(parse(&cfg, "--site a --domain b", err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cfg.backup_interval_ms, 3600000);
	cr_expect_eq(cfg.backup_keep, 7);
	cr_expect_not(cfg.reset_store);
	cr_expect_str_empty(cfg.backup_dir);
	cr_assert_eq(parse(&cfg,
				     "--site a --domain b --backup-dir /b --backup-interval 15m "
				     "--backup-keep 3 --reset-store",
				     err, sizeof(err)),
			0, "%s", err);
	cr_expect_str_eq(cfg.backup_dir, "/b");
	cr_expect_eq(cfg.backup_interval_ms, 900000);
	cr_expect_eq(cfg.backup_keep, 3);
	cr_expect(cfg.reset_store);
	/* --restore is offline: no site or domain needed. */
	cr_assert_eq(parse(&cfg, "--data /d --restore /b/x.mdb", err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(cfg.restore_file, "/b/x.mdb");
}

/* Write @p text to a new temporary file named in @p path (its template). */
static void write_file(char *path, const char *text)
{
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void rewrite_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fputs(text, f) >= 0, true);
	fclose(f);
}

Test(config, reload_applies_the_reloadable_settings_only)
{
	char path[] = "/tmp/rosterd-conf-XXXXXX";
	write_file(path, "max-connections = 7\nttl = 60\n");
	struct server_config cfg;
	char err[512], line[300], un[512], ch[512];
	snprintf(line, sizeof(line), "--site a --domain b.net --config %s", path);
	cr_assert_eq(parse(&cfg, line, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cfg.api_max_conns, 7);
	cr_expect_eq(cfg.ttl, 60);
	rewrite_file(path, "max-connections = 9\nttl = 99\nsite = other\n");
	cr_assert_eq(config_reload(&cfg, ch, sizeof(ch), un, sizeof(un), err, sizeof(err)), 0, "%s",
			err);
	cr_expect_eq(cfg.api_max_conns, 9, "a limit is reloaded");
	cr_expect_eq(cfg.ttl, 60, "the TTL is not reloadable");
	cr_expect_str_eq(cfg.site, "a", "nor the site");
	/* What a restart alone applies is named: changed or new, not a limit. */
	cr_expect_str_eq(un, "site, ttl");
	cr_expect_str_eq(ch, "max-connections");
	cr_assert_eq(config_reload(&cfg, ch, sizeof(ch), un, sizeof(un), err, sizeof(err)), 0, "%s",
			err);
	cr_expect_str_eq(un, "", "the same file again: nothing new to say");
	cr_expect_str_eq(ch, "");
	unlink(path);
}

/* SIGHUP parses the settings as the start did: a setting taken out of the
 * file goes back to its default (the documented way to end
 * api-tokens-dry-run is to drop it from the file), and a flag on the
 * command line still wins over the file. */
Test(config, reload_reverts_what_the_file_no_longer_says)
{
	char path[] = "/tmp/rosterd-conf-XXXXXX";
	write_file(path, "api-tokens-dry-run = true\nmax-connections-per-source = 2\n"
			 "no-self-preservation = true\nmax-inflight = 9\nlog-level = debug\n");
	struct server_config cfg;
	char err[512], line[300], un[512], ch[512];
	snprintf(line, sizeof(line), "--site a --domain b.net --max-inflight 5 --config %s", path);
	cr_assert_eq(parse(&cfg, line, err, sizeof(err)), 0, "%s", err);
	cr_expect(cfg.api_tokens_dry_run && !cfg.limits.preserve_enabled);
	cr_expect_eq(cfg.api_max_per_source, 2);
	cr_expect_eq(cfg.api_max_inflight, 5, "the flag wins");
	rewrite_file(path, "max-inflight = 11\n");
	cr_assert_eq(config_reload(&cfg, ch, sizeof(ch), un, sizeof(un), err, sizeof(err)), 0, "%s",
			err);
	struct server_config def;
	config_defaults(&def);
	cr_expect(!cfg.api_tokens_dry_run, "dry run ended");
	cr_expect(cfg.limits.preserve_enabled, "self-preservation back on");
	cr_expect_eq(cfg.api_max_per_source, def.api_max_per_source);
	cr_expect_eq(cfg.log_level, def.log_level);
	cr_expect_eq(cfg.api_max_inflight, 5, "the flag still wins");
	cr_expect_str_eq(ch, "max-connections-per-source, no-self-preservation, log-level, "
			     "api-tokens-dry-run");
	cr_expect_str_eq(un, "");
	unlink(path);
}

Test(config, reload_of_a_bad_or_missing_file_keeps_the_settings)
{
	char path[] = "/tmp/rosterd-conf-XXXXXX";
	write_file(path, "max-connections = 7\n");
	struct server_config cfg;
	char err[512], line[300], un[512], ch[512];
	snprintf(line, sizeof(line), "--site a --domain b.net --config %s", path);
	cr_assert_eq(parse(&cfg, line, err, sizeof(err)), 0, "%s", err);
	struct server_config before = cfg;

	/* A value out of range after one that is fine: neither applied. */
	rewrite_file(path, "max-inflight = 3\nmax-connections = 0\n");
	cr_expect_eq(config_reload(&cfg, ch, sizeof(ch), un, sizeof(un), err, sizeof(err)),
			RS_ECONF);
	cr_expect(strstr(err, ":2:") != NULL && strstr(err, "max-connections") != NULL, "%s", err);
	cr_expect_eq(memcmp(&cfg, &before, sizeof(cfg)), 0, "nothing applied");

	/* An unknown setting. */
	rewrite_file(path, "max-connections = 8\nwhatever = 1\n");
	cr_expect_eq(config_reload(&cfg, ch, sizeof(ch), un, sizeof(un), err, sizeof(err)),
			RS_ECONF);
	cr_expect_not_null(strstr(err, "whatever"), "%s", err);
	cr_expect_eq(cfg.api_max_conns, 7);

	/* The file gone: its name and the reason. */
	unlink(path);
	cr_expect_eq(config_reload(&cfg, ch, sizeof(ch), un, sizeof(un), err, sizeof(err)),
			RS_ECONF);
	cr_expect_eq(strncmp(err, "config ", 7), 0, "%s", err);
	cr_expect_not_null(strstr(err, path), "%s", err);
	cr_expect_eq(memcmp(&cfg, &before, sizeof(cfg)), 0, "nothing applied");
}

Test(config, reload_without_a_config_file_changes_nothing)
{
	struct server_config cfg;
	char err[512], un[64], ch[64];
	cr_assert_eq(parse(&cfg, "--site a --domain b.net --max-connections 5", err, sizeof(err)),
			0, "%s", err);
	struct server_config before = cfg;
	cr_expect_eq(config_reload(&cfg, ch, sizeof(ch), un, sizeof(un), err, sizeof(err)), 0);
	cr_expect_eq(memcmp(&cfg, &before, sizeof(cfg)), 0);
}

Test(config, a_missing_config_file_or_config_inside_one_is_refused)
{
	struct server_config cfg;
	char err[512];
	cr_expect_eq(parse(&cfg, "--site a --domain b.net --config /nonexistent/roster.conf", err,
				     sizeof(err)),
			RS_ECONF);
	cr_expect_eq(strncmp(err, "config ", 7), 0, "%s", err);
	cr_expect_not_null(strstr(err, "/nonexistent/roster.conf"), "%s", err);

	char path[] = "/tmp/rosterd-conf-XXXXXX";
	write_file(path, "config = /etc/other.conf\n");
	char line[300];
	snprintf(line, sizeof(line), "--site a --domain b.net --config %s", path);
	cr_expect_eq(parse(&cfg, line, err, sizeof(err)), RS_ECONF);
	cr_expect_not_null(strstr(err, "'config' cannot be set inside a config file"), "%s", err);
	cr_expect_not_null(strstr(err, ":1:"), "%s", err);
	unlink(path);
}

struct api_guard_case {
	char args[120];
	bool ok;
};

ParameterizedTestParameters(config, an_open_api_listens_on_loopback_only)
{
	static struct api_guard_case cases[] = {
			{"--api 127.0.0.2:7600", true},
			{"--api [::1]:7600", true},
			{"--api [::ffff:127.0.0.1]:7600", true},
			{"--api 10.0.0.1:7600", false},
			{"--api [::ffff:10.0.0.1]:7600", false},
			{"--api [2001:db8::1]:7600", false},
			{"--api 127.0.0.1:7600 --api 192.0.2.1:7600", false},
			{"--api 10.0.0.1:7600 --api-open", true},
			{"--api [2001:db8::1]:7600 --api-tokens /etc/roster/tokens", true},
	};
	return cr_make_param_array(struct api_guard_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct api_guard_case *c, config, an_open_api_listens_on_loopback_only)
{
	struct server_config cfg;
	char err[512] = "", line[300];
	snprintf(line, sizeof(line), "--site a --domain b.net %s", c->args);
	int rc = parse(&cfg, line, err, sizeof(err));
	if (c->ok) {
		cr_expect_eq(rc, 0, "%s: %s", c->args, err);
	} else {
		cr_expect_eq(rc, RS_ECONF, "%s", c->args);
		cr_expect_not_null(strstr(err, "is not a loopback address"), "%s", err);
		cr_expect_not_null(strstr(err, "--api-open"), "%s", err);
	}
}

Test(config, byte_units_durations_and_fractions)
{
	static const struct {
		const char *arg;
		uint64_t map_size;
	} sizes[] = {
			{"2M", 2ULL << 20},
			{"2MiB", 2ULL << 20},
			{"2MB", 2ULL << 20},
			{"2Mi", 2ULL << 20},
			{"3g", 3ULL << 30},
			{"2048k", 2ULL << 20},
			{"2097152", 2ULL << 20},
	};
	struct server_config cfg;
	char err[512], line[300];
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(line, sizeof(line), "--site a --domain b.net --map-size %s", sizes[i].arg);
		cr_assert_eq(parse(&cfg, line, err, sizeof(err)), 0, "%s: %s", sizes[i].arg, err);
		cr_expect_eq(cfg.map_size, sizes[i].map_size, "%s", sizes[i].arg);
	}
	static const char *bad[] = {"--map-size 2X", "--map-size 2MiBB", "--map-size 2MBi",
			"--map-size 99999999999999999G", "--map-size 99999999999999999999999",
			"--idle-timeout 1e999", "--idle-timeout -5", "--idle-timeout 5x",
			"--preserve-fraction 0", "--preserve-fraction 150%",
			"--preserve-fraction %"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "--site a --domain b.net %s", bad[i]);
		cr_expect_eq(parse(&cfg, line, err, sizeof(err)), RS_ECONF, "%s", bad[i]);
		char flag[40];
		sscanf(bad[i], "%39s", flag);
		cr_expect_not_null(strstr(err, flag + 2), "%s: %s", bad[i], err);
	}
	cr_assert_eq(parse(&cfg, "--site a --domain b.net --preserve-fraction 50% --idle-timeout 1.5",
				     err, sizeof(err)),
			0, "%s", err);
	cr_expect_float_eq(cfg.limits.preserve_fraction, 0.5, 1e-9);
	cr_expect_eq(cfg.api_idle_ms, 1500);
}

Test(config, a_map_limit_below_the_map_size_is_raised_to_it)
{
	struct server_config cfg;
	char err[512];
	cr_assert_eq(parse(&cfg, "--site a --domain b.net --map-size 8M --map-max 2M", err,
				     sizeof(err)),
			0, "%s", err);
	cr_expect_eq(cfg.map_size, 8ULL << 20);
	cr_expect_eq(cfg.map_max, 8ULL << 20);
}

Test(config, version_and_help_end_the_parse, .init = cr_redirect_stdout)
{
	struct server_config cfg;
	char err[512];
	cr_expect_eq(parse(&cfg, "--version", err, sizeof(err)), 1);
	cr_expect_eq(parse(&cfg, "--help", err, sizeof(err)), 1);
	fflush(stdout);
	cr_expect_stdout_neq_str("");
}

/* The list flags hold at most 64 entries, each within an address's length;
 * a path is neither empty nor longer than PATH_MAX. Arguments built here:
 * parse()'s line is too short for them. */
static int parse_argv(struct server_config *cfg, const char *flag, const char *value, char *err,
		size_t errsz)
{
	char *argv[] = {"rosterd", "--site", "a", "--domain", "b.net", "--xfr-allow", "10.0.0.0/8",
			(char *)flag, (char *)value, NULL};
	config_defaults(cfg);
	err[0] = '\0';
	return config_parse(cfg, 9, argv, err, errsz);
}

Test(config, list_and_path_limits_are_refused)
{
	static struct server_config cfg;
	char err[512];
	static char list[65 * 20], big[5000];
	list[0] = '\0';
	for (int k = 0; k < 64; k++) {
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s10.0.%d.0/24",
				k > 0 ? "," : "", k);
	}
	cr_assert_eq(parse_argv(&cfg, "--api-allow", list, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cfg.api_allow.n, 64, "64 prefixes fit");
	strcat(list, ",10.1.0.0/16");
	cr_expect_eq(parse_argv(&cfg, "--api-allow", list, err, sizeof(err)), RS_ECONF);
	cr_expect_not_null(strstr(err, "at most 64 api-allow prefixes"), "%s", err);

	memset(big, '1', 100);
	big[100] = '\0';
	cr_expect_eq(parse_argv(&cfg, "--api-allow", big, err, sizeof(err)), RS_ECONF);
	cr_expect_not_null(strstr(err, "invalid api-allow"), "%s", err);
	cr_expect_eq(parse_argv(&cfg, "--notify", big, err, sizeof(err)), RS_ECONF);
	cr_expect_not_null(strstr(err, "invalid notify"), "%s", err);

	list[0] = '\0';
	for (int k = 0; k < 64; k++) {
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s10.0.0.%d",
				k > 0 ? "," : "", k + 1);
	}
	cr_assert_eq(parse_argv(&cfg, "--notify", list, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cfg.nnotify, 64, "64 targets fit");
	strcat(list, ",10.0.1.1");
	cr_expect_eq(parse_argv(&cfg, "--notify", list, err, sizeof(err)), RS_ECONF);
	cr_expect_not_null(strstr(err, "at most 64 notify targets"), "%s", err);

	cr_expect_eq(parse_argv(&cfg, "--api-tokens", "", err, sizeof(err)), RS_ECONF);
	cr_expect_not_null(strstr(err, "invalid api-tokens path"), "%s", err);
	memset(big, 'p', 4096);
	big[0] = '/';
	big[4096] = '\0';
	cr_expect_eq(parse_argv(&cfg, "--api-tokens", big, err, sizeof(err)), RS_ECONF);
	cr_expect_not_null(strstr(err, "invalid api-tokens path"), "%s", err);
	big[4095] = '\0';
	cr_expect_eq(parse_argv(&cfg, "--api-tokens", big, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(strlen(cfg.api_tokens), 4095, "a path of 4095 octets fits");
}

/* The command line wins over the file, but a bad line is a bad file all
 * the same: at start and on SIGHUP. */
Test(config, a_bad_line_is_refused_where_the_command_line_wins)
{
	char path[] = "/tmp/rosterd-conf-XXXXXX";
	write_file(path, "max-inflight = lots\n");
	struct server_config cfg;
	char err[512], line[300], un[512], ch[512];
	snprintf(line, sizeof(line), "--site a --domain b.net --max-inflight 5 --config %s", path);
	cr_expect_eq(parse(&cfg, line, err, sizeof(err)), RS_ECONF);
	cr_expect_not_null(strstr(err, "invalid max-inflight 'lots'"), "%s", err);
	rewrite_file(path, "max-inflight = 7\n");
	cr_assert_eq(parse(&cfg, line, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cfg.api_max_inflight, 5);
	rewrite_file(path, "max-inflight = lots\n");
	cr_expect_eq(config_reload(&cfg, ch, sizeof(ch), un, sizeof(un), err, sizeof(err)),
			RS_ECONF);
	cr_expect_eq(cfg.api_max_inflight, 5);
	unlink(path);
}
