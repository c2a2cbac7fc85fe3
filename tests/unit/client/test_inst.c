#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "client/inst.h"

Test(inst, pack_copies_everything_into_one_block)
{
	char host[] = "web1.lon6.example.net";
	const char *addrs[] = {"10.0.0.1", "fd00::1"};
	struct roster_meta meta[] = {{"version", "1.2"}, {"zone", "a"}};
	struct roster_instance src = {.service = "web",
			.protocol = "http",
			.host = host,
			.port = 80,
			.addresses = addrs,
			.n_addresses = 2,
			.metadata = meta,
			.n_metadata = 2,
			.weight = 5,
			.priority = 1,
			.status = ROSTER_DOWN};
	struct roster_instance dst;
	cr_assert_eq(inst_pack(&dst, &src), 0);
	host[0] = 'X'; /* the copy does not borrow */
	cr_expect_str_eq(dst.host, "web1.lon6.example.net");
	cr_expect_str_eq(dst.service, "web");
	cr_expect_str_eq(dst.addresses[1], "fd00::1");
	cr_expect_str_eq(dst.metadata[0].key, "version");
	cr_expect_str_eq(dst.metadata[1].value, "a");
	cr_expect_eq(dst.port, 80);
	cr_expect_eq(dst.weight, 5);
	cr_expect_eq(dst.status, ROSTER_DOWN);
	cr_expect_not_null(dst.priv);
	inst_release(&dst);
	cr_expect_null(dst.priv);
	inst_release(NULL);
}

Test(inst, pack_of_null_strings_gives_empty_ones)
{
	struct roster_instance src = {.port = 1};
	struct roster_instance dst;
	cr_assert_eq(inst_pack(&dst, &src), 0);
	cr_expect_str_eq(dst.service, "");
	cr_expect_null(dst.addresses);
	cr_expect_null(dst.metadata);
	inst_release(&dst);
}

/* Arrays, not pointers: criterion runs each case in a fresh process. "-"
 * stands for NULL. */
struct check_case {
	char service[80], protocol[16], host[32];
	unsigned port;
	char address[24];
	int expect;
	char what[16];
};

static const char *opt(const char *s)
{
	return strcmp(s, "-") == 0 ? NULL : s;
}

ParameterizedTestParameters(inst, check_table)
{
	static struct check_case cases[] = {
			{"web", "http", "web1.example.net", 80, "-", 0, ""},
			{"web", "http", "web1.example.net.", 65535, "fd00::1", 0, ""},
			{"Web-2", "h2", "WEB1.Example.NET", 1, "10.0.0.1", 0, ""},
			{"", "http", "web1.example.net", 80, "-", ROSTER_ENAME, "service"},
			{"-", "http", "web1.example.net", 80, "-", ROSTER_ENAME, "service"},
			{"_web", "http", "web1.example.net", 80, "-", ROSTER_ENAME, "service"},
			{"we b", "http", "web1.example.net", 80, "-", ROSTER_ENAME, "service"},
			{"web.x", "http", "web1.example.net", 80, "-", ROSTER_ENAME, "service"},
			{"-web", "http", "web1.example.net", 80, "-", ROSTER_ENAME, "service"},
			{"web", "_tcp", "web1.example.net", 80, "-", ROSTER_ENAME, "protocol"},
			{"web", "", "web1.example.net", 80, "-", ROSTER_ENAME, "protocol"},
			{"web", "http", "", 80, "-", ROSTER_ENAME, "host"},
			{"web", "http", "a..b", 80, "-", ROSTER_ENAME, "host"},
			{"web", "http", "10.0.0.1", 80, "-", ROSTER_ENAME, "host"},
			{"web", "http", "web_1.example.net", 80, "-", ROSTER_ENAME, "host"},
			{"web", "http", "web1.example.net", 0, "-", ROSTER_EPORT, "port"},
			{"web", "http", "web1.example.net", 80, "10.0.0.256", ROSTER_EADDR,
					"address"},
			{"web", "http", "web1.example.net", 80, "host.example.net", ROSTER_EADDR,
					"address"},
	};
	return cr_make_param_array(struct check_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct check_case *c, inst, check_table)
{
	const char *addrs[] = {opt(c->address)};
	struct roster_instance in = {.service = opt(c->service),
			.protocol = c->protocol,
			.host = c->host,
			.port = (uint16_t)c->port,
			.addresses = addrs,
			.n_addresses = addrs[0] != NULL ? 1 : 0};
	const char *what = NULL;
	cr_expect_eq(inst_check(&in, 0, &what), c->expect, "%s/%s/%s:%u", c->service, c->protocol,
			c->host, c->port);
	cr_expect_str_eq(what, c->what);
}

Test(inst, check_rejects_empty_metadata_key_and_bad_status)
{
	struct roster_meta meta[] = {{"", "v"}};
	struct roster_instance in = {.service = "a",
			.protocol = "b",
			.host = "h.example.net",
			.port = 1,
			.metadata = meta,
			.n_metadata = 1};
	cr_expect_eq(inst_check(&in, 0, NULL), ROSTER_EINVAL);
	cr_expect_eq(inst_check(&in, 1, NULL), 0); /* identity only */
	in.n_metadata = 0;
	in.status = (enum roster_status)7;
	cr_expect_eq(inst_check(&in, 0, NULL), ROSTER_EINVAL);
}

Test(inst, identity_ignores_case_and_trailing_dot)
{
	struct roster_instance a = {.service = "Web",
			.protocol = "HTTP",
			.host = "Web1.Example.net",
			.port = 80};
	struct roster_instance b = {.service = "web",
			.protocol = "http",
			.host = "web1.example.net.",
			.port = 80};
	cr_expect(inst_same_identity(&a, &b));
	b.port = 81;
	cr_expect_not(inst_same_identity(&a, &b));
	b.port = 80;
	b.host = "web1.example.ne";
	cr_expect_not(inst_same_identity(&a, &b));
}

Test(inst, result_dup_is_deep)
{
	struct roster_result *r = inst_result_new(2);
	cr_assert_not_null(r);
	struct roster_instance a = {
			.service = "s", .protocol = "p", .host = "a.example.net.", .port = 1};
	cr_assert_eq(inst_pack(&r->instances[0], &a), 0);
	r->n_instances = 1;
	r->revision = 9;
	snprintf(r->server, sizeof(r->server), "127.0.0.1:1");
	struct roster_result *d = inst_result_dup(r);
	cr_assert_not_null(d);
	roster_result_free(r);
	cr_expect_eq(d->n_instances, 1);
	cr_expect_eq(d->revision, 9);
	cr_expect_str_eq(d->instances[0].host, "a.example.net.");
	cr_expect_str_eq(d->server, "127.0.0.1:1");
	roster_result_free(d);
	roster_result_free(NULL);
}

Test(inst, check_names_a_missing_host_address_or_value)
{
	const char *what = NULL;
	struct roster_instance in = {.service = "web", .protocol = "http", .port = 80};
	cr_expect_eq(inst_check(&in, 0, &what), ROSTER_ENAME, "no host");
	cr_expect_str_eq(what, "host");
	const char *addrs[] = {NULL};
	in.host = "web1.example.net";
	in.addresses = addrs;
	in.n_addresses = 1;
	cr_expect_eq(inst_check(&in, 0, &what), ROSTER_EADDR, "a NULL address");
	in.n_addresses = 0;
	struct roster_meta meta[] = {{"k", NULL}};
	in.metadata = meta;
	in.n_metadata = 1;
	cr_expect_eq(inst_check(&in, 0, NULL), ROSTER_EINVAL, "a NULL metadata value");
}

Test(inst, identity_ignores_the_trailing_dot_on_either_side)
{
	struct roster_instance a = {.service = "web",
			.protocol = "http",
			.host = "web1.example.net.",
			.port = 80};
	struct roster_instance b = {.service = "web",
			.protocol = "http",
			.host = "web1.example.net",
			.port = 80};
	cr_expect(inst_same_identity(&a, &b));
	cr_expect(inst_same_identity(&b, &a));
	b.host = "web1.example.net..";
	cr_expect_not(inst_same_identity(&a, &b));
}
