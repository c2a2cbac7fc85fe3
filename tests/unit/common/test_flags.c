#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/flags.h"
#include "tests/unit/common/argv_split.h"

/* A program with one flag of every kind. */
struct prog {
	bool verbose, help, color;
	uint16_t port;
	uint32_t ttl;
	uint64_t big;
	uint8_t small;
	const char *name;
	const char *files[3];
	size_t nfiles;
	const char *mode;
	const char *opt; /* CALL_OPT: "(bare)" when given without a value */
	const char *words[4];
	size_t nwords;
};

static int set_mode(void *target, const struct rs_flag *f, const char *v, char *err, size_t errsz)
{
	struct prog *p = target;
	if (strcmp(v, "fast") != 0 && strcmp(v, "slow") != 0) {
		if (strcmp(v, "custom") == 0) {
			snprintf(err, errsz, "--%s custom: not yet", f->name);
		}
		return RS_EINVAL; /* err left empty: the standard message with the hint */
	}
	p->mode = v;
	return 0;
}

static int set_opt(void *target, const struct rs_flag *f, const char *v, char *err, size_t errsz)
{
	(void)f, (void)err, (void)errsz;
	((struct prog *)target)->opt = v != NULL ? v : "(bare)";
	return 0;
}

static const struct rs_flag prog_flags[] = {
		{"verbose", 'v', RS_FLAG_SWITCH, .offset = offsetof(struct prog, verbose),
				.help = "say more"},
		{"color", 0, RS_FLAG_BOOL, .offset = offsetof(struct prog, color),
				.help = "colours"},
		{"port", 'p', RS_FLAG_UINT, RS_FLAG_FIELD(struct prog, port), .min = 1,
				.max = 65535, .help = "the port"},
		{"ttl", 0, RS_FLAG_UINT, RS_FLAG_FIELD(struct prog, ttl), .min = 0, .max = 3600,
				.hint = "0-3600 seconds", .help = "the TTL"},
		{"big", 0, RS_FLAG_UINT, RS_FLAG_FIELD(struct prog, big), .max = UINT64_MAX},
		{"small", 0, RS_FLAG_UINT, RS_FLAG_FIELD(struct prog, small), .max = 255},
		{"name", 'n', RS_FLAG_STRING, .offset = offsetof(struct prog, name),
				.opts = RS_FLAG_REQUIRED, .value_name = "NAME", .help = "the name"},
		{"file", 0, RS_FLAG_LIST, RS_FLAG_ARRAY(struct prog, files, nfiles),
				.help = "a file (repeatable)"},
		{"mode", 0, RS_FLAG_CALL, .offset = 0, .set = set_mode, .hint = "fast or slow",
				.help = "the mode"},
		{"opt", 0, RS_FLAG_CALL_OPT, .set = set_opt},
		{"help", 'h', RS_FLAG_SWITCH, .offset = offsetof(struct prog, help),
				.opts = RS_FLAG_STOP, .help = "this text"},
		{"name-prefix-twin", 0, RS_FLAG_SWITCH, .offset = offsetof(struct prog, verbose)},
};

static int take_word(void *target, const char *arg, char *err, size_t errsz)
{
	struct prog *p = target;
	if (strcmp(arg, "bad") == 0) {
		snprintf(err, errsz, "bad word '%s'", arg);
		return RS_EINVAL;
	}
	if (p->nwords < 4) {
		p->words[p->nwords++] = arg;
	}
	return 0;
}

static const struct rs_flags prog = {
		prog_flags, sizeof(prog_flags) / sizeof(prog_flags[0]), .opts = 0};
static const struct rs_flags prog_abbrev = {
		prog_flags, sizeof(prog_flags) / sizeof(prog_flags[0]), .opts = RS_FLAGS_ABBREV};
static const struct rs_flags prog_words = {
		prog_flags, sizeof(prog_flags) / sizeof(prog_flags[0]), .positional = take_word};

static int parse(const struct rs_flags *spec, const char *line, struct prog *p, char *err,
		size_t errsz)
{
	static char buf[512];
	static char *argv[ARGV_SPLIT_MAX + 1];
	memset(p, 0, sizeof(*p));
	int argc = argv_split(line, buf, argv);
	return rs_flags_parse(spec, argc, argv, p, err, errsz);
}

Test(flags, every_kind_in_both_syntaxes)
{
	struct prog p;
	char err[200];
	cr_assert_eq(parse(&prog,
				     "-v --color=no --port 80 --ttl=0 --big 18446744073709551615 "
				     "--small 255 --name=a=b --file x --file=y --mode fast --opt",
				     &p, err, sizeof(err)),
			0, "%s", err);
	cr_expect(p.verbose);
	cr_expect_not(p.color);
	cr_expect_eq(p.port, 80);
	cr_expect_eq(p.ttl, 0);
	cr_expect_eq(p.big, UINT64_MAX);
	cr_expect_eq(p.small, 255);
	cr_expect_str_eq(p.name, "a=b");
	cr_expect_eq(p.nfiles, 2);
	cr_expect_str_eq(p.files[1], "y");
	cr_expect_str_eq(p.mode, "fast");
	cr_expect_str_eq(p.opt, "(bare)");
	cr_assert_eq(parse(&prog, "--color --opt=x -p8080 -n n1 --name n2", &p, err, sizeof(err)),
			0, "%s", err);
	cr_expect(p.color);
	cr_expect_str_eq(p.opt, "x");
	cr_expect_eq(p.port, 8080);
	cr_expect_str_eq(p.name, "n2", "the last value wins");
}

Test(flags, values_may_start_with_a_dash_and_double_dash_ends_flags)
{
	struct prog p;
	char err[200];
	cr_assert_eq(parse(&prog_words, "--name -x -- --verbose - w", &p, err, sizeof(err)), 0,
			"%s", err);
	cr_expect_str_eq(p.name, "-x");
	cr_expect_not(p.verbose);
	cr_assert_eq(p.nwords, 3);
	cr_expect_str_eq(p.words[0], "--verbose");
	cr_expect_str_eq(p.words[1], "-");
	cr_expect_str_eq(p.words[2], "w");
}

Test(flags, positional_arguments_come_before_values_are_stored)
{
	struct prog p;
	char err[200];
	cr_assert_eq(parse(&prog_words, "--name n one --port 1 two", &p, err, sizeof(err)), 0, "%s",
			err);
	cr_expect_eq(p.nwords, 2);
	cr_expect_eq(p.port, 1);
}

Test(flags, stop_flag_ends_parsing_and_stores_nothing_else)
{
	struct prog p;
	char err[200];
	cr_expect_eq(parse(&prog, "--port 9 --help --bogus", &p, err, sizeof(err)), 1);
	cr_expect(p.help);
	cr_expect_eq(p.port, 0, "values before --help are not stored");
	cr_expect_eq(parse(&prog, "-h", &p, err, sizeof(err)), 1);
	cr_expect_lt(parse(&prog, "--bogus --help", &p, err, sizeof(err)), 0,
			"a syntax error before it still counts");
}

Test(flags, abbreviations_only_when_asked_and_exact_names_win)
{
	struct prog p;
	char err[200];
	cr_expect_lt(parse(&prog, "--verb --name n", &p, err, sizeof(err)), 0);
	cr_expect_str_eq(err, "unknown option '--verb'");
	cr_assert_eq(parse(&prog_abbrev, "--verb --po=7 --name n", &p, err, sizeof(err)), 0, "%s",
			err);
	cr_expect(p.verbose);
	cr_expect_eq(p.port, 7);
	cr_assert_eq(parse(&prog_abbrev, "--name n", &p, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(p.name, "n", "--name is exact although --name-prefix-twin exists");
}

struct bad {
	int abbrev;
	char line[120];
	char message[120];
};

ParameterizedTestParameters(flags, bad_input_names_the_flag)
{
	static struct bad cases[] = {
			{0, "--bogus --name n", "unknown option '--bogus'"},
			{0, "--bogus=1 --name n", "unknown option '--bogus=1'"},
			{0, "-x --name n", "unknown option '-x'"},
			{0, "-xyz --name n", "unknown option '-xyz'"},
			{0, "--=1 --name n", "unknown option '--=1'"},
			{1, "--n x", "ambiguous option '--n'"},
			{1, "--=1", "unknown option '--=1'"},
			{0, "--name", "option '--name' needs a value"},
			{0, "-n", "option '-n' needs a value"},
			{0, "--name n --port", "option '--port' needs a value"},
			{0, "--name n --verbose=1", "option '--verbose' takes no value"},
			{0, "--name n -vv", "option '--verbose' takes no value"},
			{0, "--name n --color=maybe", "invalid --color 'maybe' (true or false)"},
			{0, "--name n --port 0", "invalid --port '0' (1-65535)"},
			{0, "--name n --port 65536", "invalid --port '65536' (1-65535)"},
			{0, "--name n --port -1", "invalid --port '-1' (1-65535)"},
			{0, "--name n --port +1", "invalid --port '+1' (1-65535)"},
			{0, "--name n --port 1x", "invalid --port '1x' (1-65535)"},
			{0, "--name n --port=", "invalid --port '' (1-65535)"},
			{0, "--name n --port 0x10", "invalid --port '0x10' (1-65535)"},
			{0, "--name n --ttl 3601", "invalid --ttl '3601' (0-3600 seconds)"},
			{0, "--name n --big 18446744073709551616",
					"invalid --big '18446744073709551616'"},
			{0, "--name n --small 256", "invalid --small '256' (0-255)"},
			{0, "--name n --mode warp", "invalid --mode 'warp' (fast or slow)"},
			{0, "--name n --mode custom", "--mode custom: not yet"},
			{0, "--name n --file a --file b --file c --file d",
					"too many --file (at most 3)"},
			{0, "--port 1", "--name is required"},
			{0, "--name n extra", "unexpected argument 'extra'"},
			{0, "extra --name n --port 0", "invalid --port '0'"},
			{0, "", "--name is required"},
	};
	return cr_make_param_array(struct bad, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad *c, flags, bad_input_names_the_flag)
{
	struct prog p;
	char err[200];
	int rc = parse(c->abbrev ? &prog_abbrev : &prog, c->line, &p, err, sizeof(err));
	cr_expect_lt(rc, 0, "'%s' accepted", c->line);
	cr_expect(strstr(err, c->message) != NULL, "'%s': got '%s', want '%s'", c->line, err,
			c->message);
	cr_expect(strchr(err, '\n') == NULL, "one line");
}

Test(flags, positional_callback_errors_stop_the_parse)
{
	struct prog p;
	char err[200];
	cr_expect_eq(parse(&prog_words, "--name n bad --bogus", &p, err, sizeof(err)), RS_EINVAL);
	cr_expect_str_eq(err, "bad word 'bad'");
}

static const uint32_t CMD_A = 1;

static int only_group_a(void *target, const struct rs_flag *f, char *err, size_t errsz)
{
	(void)target;
	if (f->groups != 0 && !(f->groups & CMD_A)) {
		snprintf(err, errsz, "option '--%s' does not apply", f->name);
		return RS_EINVAL;
	}
	return 0;
}

Test(flags, allow_callback_sees_every_flag_before_it_is_stored)
{
	static const struct rs_flag fl[] = {
			{"a", 0, RS_FLAG_SWITCH, .offset = offsetof(struct prog, verbose),
					.groups = 1},
			{"b", 0, RS_FLAG_SWITCH, .offset = offsetof(struct prog, color),
					.groups = 2},
	};
	static const struct rs_flags spec = {fl, 2, .allow = only_group_a};
	struct prog p;
	char err[200];
	cr_expect_eq(parse(&spec, "--a", &p, err, sizeof(err)), 0);
	cr_expect(p.verbose);
	cr_expect_lt(parse(&spec, "--a --b", &p, err, sizeof(err)), 0);
	cr_expect_str_eq(err, "option '--b' does not apply");
	cr_expect_not(p.color);
}

ParameterizedTestParameters(flags, uint_parser_refuses_all_but_plain_decimals)
{
	static char cases[][24] = {"", " 1", "+1", "-1", "1 ", "1.0", "0x1", "1e3",
			"18446744073709551616", "99999999999999999999"};
	return cr_make_param_array(char[24], cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(char (*text)[24], flags, uint_parser_refuses_all_but_plain_decimals)
{
	uint64_t v = 42;
	cr_expect_eq(rs_flags_uint(*text, 0, UINT64_MAX, &v), RS_EINVAL, "'%s'", *text);
	cr_expect_eq(v, 42, "untouched");
}

Test(flags, uint_parser_ranges)
{
	uint64_t v = 0;
	cr_expect_eq(rs_flags_uint("007", 0, 10, &v), 0);
	cr_expect_eq(v, 7);
	cr_expect_eq(rs_flags_uint("11", 0, 10, &v), RS_ERANGE);
	cr_expect_eq(rs_flags_uint("0", 1, 10, &v), RS_ERANGE);
	cr_expect_eq(rs_flags_uint("18446744073709551615", 0, UINT64_MAX, &v), 0);
	cr_expect_eq(v, UINT64_MAX);
}

Test(flags, bool_words)
{
	const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
	for (int i = 0; i < 4; i++) {
		cr_expect_eq(rs_flags_bool(yes[i]), 1, "%s", yes[i]);
		cr_expect_eq(rs_flags_bool(no[i]), 0, "%s", no[i]);
	}
	const char *bad[] = {"", "TRUE", "y", "2", "off "};
	for (int i = 0; i < 5; i++) {
		cr_expect_eq(rs_flags_bool(bad[i]), RS_EINVAL, "'%s'", bad[i]);
	}
}

Test(flags, find_is_exact)
{
	cr_expect_eq(rs_flags_find(&prog_abbrev, "port"), &prog_flags[2]);
	cr_expect_null(rs_flags_find(&prog_abbrev, "por"));
}

static void show_default(const struct rs_flag *f, const void *ud, char *out, size_t outsz)
{
	if (strcmp(f->name, "port") == 0) {
		snprintf(out, outsz, "(default %s)", (const char *)ud);
	}
}

Test(flags, help_lists_the_table)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cr_assert_not_null(f);
	rs_flags_help(f, &prog, show_default, "7600");
	fclose(f);
	/* A one-letter alias is listed before the long name. */
	cr_expect(strstr(text, "  -v, --verbose                    say more\n") != NULL, "%s",
			text);
	cr_expect(strstr(text, "  -p, --port VALUE                 the port (default 7600)\n") !=
					NULL,
			"%s", text);
	cr_expect(strstr(text, "  -n, --name NAME ") != NULL, "%s", text);
	cr_expect(strstr(text, "--big") == NULL, "flags without help are not listed");
	cr_expect(strstr(text, "  -h, --help ") != NULL, "%s", text);
	free(text);
}

Test(flags, help_puts_a_long_flag_on_its_own_line)
{
	static const struct rs_flag fl[] = {
			{"a-very-long-flag-name-indeed-yes", 0, RS_FLAG_STRING, .help = "long"},
	};
	static const struct rs_flags spec = {fl, 1};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	rs_flags_help(f, &spec, NULL, NULL);
	fclose(f);
	cr_expect_str_eq(text, "  --a-very-long-flag-name-indeed-yes VALUE\n"
			       "                                   long\n");
	free(text);
}
