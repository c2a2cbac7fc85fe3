/* zonegen/gen_check: where a CNAME may point inside the generated zones
 * (hosts, the roles zone, its shards, reverse names parsed back into
 * addresses, the apex and _deploy), and where an --ns server may live.
 * One table row per case: the hand records, the --ns list, and either no
 * error or the one error expected. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zonegen/gen.h"

static const char FLEET[] =
		"{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.2.0.1\", \"ipv6\": \"2001:db8:2::1\"}\n"
		"{\"name\": \"ash2-web-a2\", \"ipv4\": \"10.2.0.2\"}\n"
		"{\"name\": \"ash2-db-b1\", \"ipv4\": \"10.2.1.1\"}\n"
		"{\"name\": \"lon6-web-a1\", \"ipv4\": \"10.6.0.1\"}\n";

/* 2001:db8:2::1 under its /48 reverse zone. */
#define V6_HOST "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"
#define V6_ZONE "2.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."

struct check_case {
	char records[200];
	char ns[60];     /* "" for ns1.example.net. */
	char error[100]; /* "" for none */
};

/* A CNAME named t at @p target, in the ash2 zone. */
#define TO(target) "t IN CNAME " target "\n"
#define MISSING(zone) "which does not exist in zone " zone

static struct check_case cases[] = {
		/* Hosts, the apex, the roles delegation and _deploy. */
		{TO("ash2-web-a1"), "", ""},
		{TO("ash2.example.net."), "", ""},
		{TO("roles.ash2.example.net."), "", ""},
		{TO("_deploy.ash2.example.net."), "", ""},
		{TO("ash2-web-a9"), "", MISSING("ash2.example.net.")},
		{TO("x.ash2-web-a1.ash2.example.net."), "", MISSING("ash2.example.net.")},
		{TO("_deployx.ash2.example.net."), "", MISSING("ash2.example.net.")},
		{TO("roles.lon6.example.net."), "", ""},
		/* Roles, and shards of a role that has none. */
		{TO("web.roles.ash2.example.net."), "", ""},
		{TO("db.roles.ash2.example.net."), "", ""},
		{TO("cache.roles.ash2.example.net."), "", MISSING("roles.ash2.example.net.")},
		{TO("1.web.roles.ash2.example.net."), "", MISSING("roles.ash2.example.net.")},
		{TO("1.nope.roles.ash2.example.net."), "", MISSING("roles.ash2.example.net.")},
		/* IPv4 reverse names: four labels of 0-255, the address known. */
		{TO("1.0.2.10.in-addr.arpa."), "", ""},
		{TO("1.1.2.10.in-addr.arpa."), "", ""},
		{TO("9.9.2.10.in-addr.arpa."), "", MISSING("2.10.in-addr.arpa.")},
		{TO("256.0.2.10.in-addr.arpa."), "", MISSING("2.10.in-addr.arpa.")},
		{TO("1000.0.2.10.in-addr.arpa."), "", MISSING("2.10.in-addr.arpa.")},
		{TO("a.0.2.10.in-addr.arpa."), "", MISSING("2.10.in-addr.arpa.")},
		{TO("0.2.10.in-addr.arpa."), "", MISSING("2.10.in-addr.arpa.")},
		{TO("1.1.0.2.10.in-addr.arpa."), "", MISSING("2.10.in-addr.arpa.")},
		{TO("1..2.10.in-addr.arpa."), "", "bad record"},
		/* IPv6: one hex nibble per label, 20 under a /48. */
		{TO(V6_HOST "." V6_ZONE), "", ""},
		{TO("2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0." V6_ZONE), "", MISSING(V6_ZONE)},
		{TO("10.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0." V6_ZONE), "", MISSING(V6_ZONE)},
		{TO("g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0." V6_ZONE), "", MISSING(V6_ZONE)},
		{TO("0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0." V6_ZONE), "", MISSING(V6_ZONE)},
		{TO("0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0." V6_ZONE), "", MISSING(V6_ZONE)},
		/* Hand records are targets too. */
		{TO("www") "www IN A 10.2.9.9\n", "", ""},
		/* --ns inside a generated zone needs an address there. */
		{"", "ash2-web-a1.ash2.example.net.", ""},
		{"", "ns1.ash2.example.net.",
				"--ns ns1.ash2.example.net. is inside zone "
				"ash2.example.net. but has no address there"},
		{"ns1 IN A 10.2.9.9\n", "ns1.ash2.example.net.", ""},
		{"ns1 IN AAAA 2001:db8:2::99\n", "ns1.ash2.example.net.", ""},
		{"ns1 IN TXT \"no address\"\n", "ns1.ash2.example.net.",
				"but has no address there"},
		{"", "ash2.example.net.",
				"--ns ash2.example.net. is inside zone ash2.example.net."},
		{"", "web.roles.ash2.example.net.", "is inside zone roles.ash2.example.net."},
		{"", "ns.other.org.", ""},
};

ParameterizedTestParameters(gen_check, cname_targets_and_ns_placement)
{
	return cr_make_param_array(struct check_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct check_case *c, gen_check, cname_targets_and_ns_placement)
{
	const char *ns[] = {c->ns[0] != '\0' ? c->ns : "ns1.example.net."};
	struct zg_options opt = {.domain = "example.net.",
			.ns = ns,
			.nns = 1,
			.hostmaster = "hostmaster.example.net.",
			.commit = "abc",
			.ttl = 3600,
			.v4_prefix = 16,
			.v6_prefix = 48};
	struct zg_diag diag;
	struct zg_inventory inv;
	struct zg_records recs;
	struct zg_gen gen;
	zg_diag_init(&diag, NULL);
	zg_inventory_init(&inv, opt.domain);
	zg_records_init(&recs);
	cr_assert_eq(zg_inventory_parse(&inv, "inv", FLEET, strlen(FLEET), &diag), 0);
	cr_assert_eq(zg_records_parse(&recs, "static", c->records, strlen(c->records),
				     "ash2.example.net.", 3600, &diag),
			0);
	cr_assert_eq(zg_gen_build(&gen, &opt, &inv, &recs, &diag), 0);
	if (c->error[0] == '\0') {
		cr_expect_eq(diag.errors, 0, "%s | %s: %s", c->records, c->ns, diag.first);
	} else {
		cr_expect_eq(diag.errors, 1, "%s | %s: %zu errors, first %s", c->records, c->ns,
				diag.errors, diag.first);
		cr_expect_not_null(strstr(diag.first, c->error), "'%s' not in '%s'", c->error,
				diag.first);
	}
	zg_gen_deinit(&gen);
	zg_records_deinit(&recs);
	zg_inventory_deinit(&inv);
}
