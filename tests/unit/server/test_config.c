#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "server/config.h"

static int parse(struct server_config *cfg, const char *line, char *err, size_t errsz)
{
	char buf[1024];
	snprintf(buf, sizeof(buf), "rosterd %s", line);
	char *argv[32];
	int argc = 0;
	for (char *tok = strtok(buf, " "); tok != NULL && argc < 31; tok = strtok(NULL, " ")) {
		argv[argc++] = tok;
	}
	argv[argc] = NULL;
	config_defaults(cfg);
	return config_parse(cfg, argc, argv, err, errsz);
}

Test(config, defaults_and_derived_fields)
{
	struct server_config cfg;
	char err[512];
	cr_assert_eq(parse(&cfg, "--site LON6 --domain Example.NET", err, sizeof(err)), 0, "%s", err);
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
	cr_assert_eq(parse(&cfg, "--site a --domain b.c --dns 127.0.0.1:53 --dns [::1]:53 "
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

struct bad_flag {
	char line[200];
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
		{"--site a --domain b --max-connections-per-source x", "max-connections-per-source"},
		{"--site a --domain b --http-max-connections 0", "http-max-connections"},
		{"--site a --domain b --http-idle-timeout 5ms", "http-idle-timeout"},
		{"--site a --domain b --bogus", "--bogus"},
		{"--site a --domain b extra", "extra"},
		{"--site a --domain b --config /nonexistent/roster.conf", "/nonexistent"},
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
