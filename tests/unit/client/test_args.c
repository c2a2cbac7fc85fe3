#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "client/cli/args.h"
#include "tests/unit/common/argv_split.h"

struct bad_case {
	char line[200];
	char message[100];
};

ParameterizedTestParameters(args, bad_input_table)
{
	static struct bad_case cases[] = {
			{"", "no command"},
			{"--json", "no command"},
			{"frobnicate", "unknown command 'frobnicate'"},
			{"query", "query needs --service"},
			{"query --service", "option '--service' needs a value"},
			{"query --service bad_name", "invalid --service 'bad_name'"},
			{"query --service a.b", "invalid --service 'a.b'"},
			{"query --service -web", "invalid --service '-web'"},
			{"query --service web --protocol _tcp", "invalid --protocol '_tcp'"},
			{"query --service web --port 80",
					"option '--port' does not apply to query"},
			{"list --service web", "option '--service' does not apply to list"},
			{"query --service web --bogus", "unknown option '--bogus'"},
			{"query --service web -x", "unknown option '-x'"},
			{"query --service web extra", "two services: 'extra' and --service 'web'"},
			{"query web extra", "unexpected argument 'extra'"},
			{"register --service w --protocol p --host web1 --port 1",
					"invalid --host 'web1': a single label"},
			{"register --service w --protocol p --host web1. --port 1",
					"invalid --host 'web1.': a single label"},
			{"query --service web --all=yes", "option '--all' takes no value"},
			{"register --service w --protocol p --host h.example.net",
					"register needs --port"},
			{"register --service w --protocol p --port 1", "register needs --host"},
			{"register --service w --host h.example.net --port 1",
					"register needs --protocol"},
			{"register --service w --protocol p --host h.example.net --port 0",
					"invalid --port '0' (1-65535)"},
			{"register --service w --protocol p --host h.example.net --port 65536",
					"invalid --port '65536'"},
			{"register --service w --protocol p --host h.example.net --port -1",
					"invalid --port '-1'"},
			{"register --service w --protocol p --host h.example.net --port 80x",
					"invalid --port '80x'"},
			{"register --service w --protocol p --host h.example.net --port +80",
					"invalid --port '+80'"},
			{"register --service w --protocol p --host h..net --port 1",
					"invalid --host 'h..net'"},
			{"register --service w --protocol p --host 10.0.0.1 --port 1",
					"invalid --host '10.0.0.1'"},
			{"register --service w --protocol p --host h.example.net --port 1 --ttl 0",
					"invalid --ttl '0'"},
			{"register --service w --protocol p --host h.example.net --port 1 --ttl 3601",
					"invalid --ttl '3601'"},
			{"register --service w --protocol p --host h.example.net --port 1 --ttl 5 --permanent",
					"--ttl and --permanent exclude each other"},
			{"register --service w --protocol p --host h.example.net --port 1 --weight 70000",
					"invalid --weight '70000'"},
			{"register --service w --protocol p --host h.example.net --port 1 --priority x",
					"invalid --priority 'x'"},
			{"register --service w --protocol p --host h.example.net --port 1 --address 1.2.3",
					"invalid --address '1.2.3'"},
			{"register --service w --protocol p --host h.example.net --port 1 --meta =v",
					"invalid --meta '=v'"},
			{"register --service w --protocol p --host h.example.net --port 1 --meta k",
					"invalid --meta 'k'"},
			{"status --service w --protocol p --host h.example.net --port 1",
					"status needs up, down or starting"},
			{"status --service w --protocol p --host h.example.net --port 1 UP",
					"invalid status 'UP'"},
			{"status --service w --protocol p --host h.example.net --port 1 up down",
					"unexpected argument 'down'"},
			{"ring --service w --protocol p", "ring needs --key"},
			{"ring --service w --key k", "ring needs --protocol"},
			{"ring --service w --protocol p --key=", "empty --key"},
			{"--server 127.0.0.1 list", "invalid --server '127.0.0.1'"},
			{"--server 127.0.0.1:0 list", "invalid --server '127.0.0.1:0'"},
			{"--server host:7600 list", "invalid --server 'host:7600': not an IP"},
			{"--server 127.0.0.1:1, list", "trailing comma"},
			{"-s bad_site list", "invalid site name 'bad_site'"},
			{"--timeout 0 list", "invalid --timeout '0'"},
			{"--max-stale -5 list", "invalid --max-stale '-5'"},
			{"--port 80 query --service web",
					"option '--port' does not apply to query"},
			{"query --service web -s", "option '-s' needs a value"},
			{"query --service web --json=1", "option '--json' takes no value"},
			{"query --service web -hx", "option '--help' takes no value"},
			{"query --service web --timeout 600001",
					"invalid --timeout '600001' (1-600000 ms)"},
			{"query -- --service web", "invalid service '--service'"},
			{"query --serv web", "unknown option '--serv'"},
	};
	return cr_make_param_array(struct bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *c, args, bad_input_table)
{
	char buf[512], err[256];
	char *argv[ARGV_SPLIT_MAX + 1];
	int argc = argv_split(c->line, buf, argv);
	struct args a;
	cr_expect_eq(args_parse(argc, argv, &a, err, sizeof(err)), 2, "'%s'", c->line);
	cr_expect(strstr(err, c->message) != NULL, "'%s': got '%s'", c->line, err);
	cr_expect(strchr(err, '\n') == NULL, "one line");
}

Test(args, register_with_everything)
{
	char buf[512], err[256];
	char *argv[ARGV_SPLIT_MAX + 1];
	int argc = argv_split("--json register --service web --protocol http "
			      "--host Web1.example.net --port 8080 --address 10.0.0.1 "
			      "--address fd00::1 --ttl 30 --weight 5 --priority 2 "
			      "--meta version=1.2=x --starting",
			buf, argv);
	struct args a;
	cr_assert_eq(args_parse(argc, argv, &a, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(a.cmd, ARGS_REGISTER);
	cr_expect(a.json);
	cr_expect_str_eq(a.service, "web");
	cr_expect_str_eq(a.host, "Web1.example.net");
	cr_expect_eq(a.port, 8080);
	cr_expect_eq(a.n_addresses, 2);
	cr_expect_str_eq(a.addresses[1], "fd00::1");
	cr_expect_eq(a.ttl, 30);
	cr_expect_eq(a.weight, 5);
	cr_expect_eq(a.priority, 2);
	cr_expect_eq(a.n_meta, 1);
	cr_expect_str_eq(a.meta[0].key, "version");
	cr_expect_str_eq(a.meta[0].value, "1.2=x");
	cr_expect(a.starting);
	cr_expect_not(a.permanent);
}

Test(args, global_options_anywhere_and_equals_form)
{
	char buf[512], err[256];
	char *argv[ARGV_SPLIT_MAX + 1];
	int argc = argv_split("query --service=web --server 127.0.0.1:1,[::1]:2 -s lon6 --all "
			      "--json --timeout=250 --max-stale 60 --cache /tmp/c",
			buf, argv);
	struct args a;
	cr_assert_eq(args_parse(argc, argv, &a, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(a.cmd, ARGS_QUERY);
	cr_expect_str_eq(a.service, "web");
	cr_expect_eq(a.n_servers, 2);
	cr_expect_str_eq(a.site, "lon6");
	cr_expect(a.all && a.json);
	cr_expect_eq(a.timeout_ms, 250);
	cr_expect_eq(a.max_stale, 60);
	cr_expect_str_eq(a.cache, "/tmp/c");
	argc = argv_split("-- list", buf, argv);
	cr_assert_eq(args_parse(argc, argv, &a, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(a.cmd, ARGS_LIST);
	argc = argv_split("-slon6 list", buf, argv);
	cr_assert_eq(args_parse(argc, argv, &a, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(a.site, "lon6");
}

Test(args, status_words_and_help)
{
	char buf[512], err[256];
	char *argv[ARGV_SPLIT_MAX + 1];
	struct args a;
	const char *words[] = {"up", "down", "starting"};
	enum roster_status want[] = {ROSTER_UP, ROSTER_DOWN, ROSTER_STARTING};
	for (int i = 0; i < 3; i++) {
		char line[200];
		snprintf(line, sizeof(line),
				"status %s --service w --protocol p --host h.example.net --port 1",
				words[i]);
		int argc = argv_split(line, buf, argv);
		cr_assert_eq(args_parse(argc, argv, &a, err, sizeof(err)), 0, "%s", err);
		cr_expect_eq(a.status, want[i]);
	}
	int argc = argv_split("--help", buf, argv);
	cr_expect_eq(args_parse(argc, argv, &a, err, sizeof(err)), 0);
	cr_expect_eq(a.cmd, ARGS_HELP);
	argc = argv_split("query -h", buf, argv);
	cr_expect_eq(args_parse(argc, argv, &a, err, sizeof(err)), 0);
	cr_expect_eq(a.cmd, ARGS_HELP);
	argc = argv_split("query --port 1 -h --bogus", buf, argv);
	cr_expect_eq(args_parse(argc, argv, &a, err, sizeof(err)), 0,
			"help wins over what follows");
	cr_expect_eq(a.cmd, ARGS_HELP);
	argc = argv_split("help", buf, argv);
	cr_expect_eq(args_parse(argc, argv, &a, err, sizeof(err)), 0);
	cr_expect_eq(a.cmd, ARGS_HELP);
	cr_expect(strstr(args_usage(), "ring --service NAME --protocol P --key KEY") != NULL);
}

Test(args, every_command_parses)
{
	const char *lines[] = {"list", "stats", "reports", "watch", "watch --service web",
			"ring --service a --protocol b --key k",
			"deregister --service a --protocol b --host h.example.net --port 9"};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		char buf[512], err[256];
		char *argv[ARGV_SPLIT_MAX + 1];
		int argc = argv_split(lines[i], buf, argv);
		struct args a;
		cr_expect_eq(args_parse(argc, argv, &a, err, sizeof(err)), 0, "'%s': %s", lines[i],
				err);
		cr_expect_str_eq(args_cmd_name(a.cmd), argv[0]);
	}
}
