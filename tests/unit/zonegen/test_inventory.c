#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "zonegen/inventory.h"

static int load(struct zg_inventory *inv, struct zg_diag *d, const char *text)
{
	zg_diag_init(d, NULL);
	zg_inventory_init(inv, "example.net.");
	return zg_inventory_parse(inv, "fleet.jsonl", text, strlen(text), d);
}

Test(inventory, convention_fills_missing_fields)
{
	struct zg_inventory inv;
	struct zg_diag d;
	cr_assert_eq(load(&inv, &d,
			"{\"name\": \"ash2-dnsresolver-a1337\", \"ipv4\": \"10.2.0.7\"}\n"
			"\n"
			"{\"name\": \"ASH2-Web-b2.ash2.example.net.\", \"ipv6\": [\"2001:db8::2\", "
			"\"2001:db8::1\", \"2001:db8::2\"], \"ipv4\": [\"10.2.0.8\"], \"source\": "
			"\"cloud\"}\n"
			"{\"name\": \"db1\", \"site\": \"lon6\", \"ipv4\": \"10.6.0.1\", "
			"\"rack\": 12}\n"),
			0);
	cr_assert_eq(d.errors, 0, "%s", d.first);
	cr_assert_eq(inv.nhosts, 3);
	const struct zg_host *h = &inv.hosts[0];
	cr_expect_str_eq(h->name, "ash2-dnsresolver-a1337");
	cr_expect_str_eq(h->site, "ash2");
	cr_expect_str_eq(h->role, "dnsresolver");
	cr_expect_str_eq(h->pool, "a");
	cr_expect_str_eq(h->fqdn, "ash2-dnsresolver-a1337.ash2.example.net.");
	cr_expect_eq(h->line, 1);
	h = &inv.hosts[1];
	cr_expect_str_eq(h->name, "ash2-web-b2");
	cr_expect_str_eq(h->site, "ash2");
	cr_expect_str_eq(h->role, "web");
	cr_expect_str_eq(h->source, "cloud");
	cr_expect_eq(h->naddr, 3, "duplicates within a host are merged");
	cr_expect_eq(h->line, 3);
	cr_expect(inv.hosts[0].site == inv.hosts[1].site, "sites are interned");
	h = &inv.hosts[2];
	cr_expect_str_eq(h->site, "lon6");
	cr_expect_null(h->role);
	cr_expect_eq(h->line, 4, "a numeric field goes through jansson and still loads");
	zg_inventory_deinit(&inv);
	zg_inventory_deinit(NULL);
}

Test(inventory, escaped_strings_go_through_jansson)
{
	struct zg_inventory inv;
	struct zg_diag d;
	cr_assert_eq(load(&inv, &d,
			"{\"name\": \"ash2-web-\\u0061\\u0031\", \"ipv4\": \"10.0.0.1\"}"),
			0);
	cr_assert_eq(d.errors, 0, "%s", d.first);
	cr_assert_eq(inv.nhosts, 1);
	cr_expect_str_eq(inv.hosts[0].name, "ash2-web-a1");
	zg_inventory_deinit(&inv);
}

struct bad_case {
	char line[200];
	char message[120]; /* a part of the message that must appear */
};

ParameterizedTestParameters(inventory, bad_lines)
{
	static struct bad_case cases[] = {
		{"{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.0.0.1\"",
				"fleet.jsonl:2: malformed JSON"},
		{"not json", "fleet.jsonl:2: malformed JSON"},
		{"[1, 2]", "fleet.jsonl:2: not a JSON object"},
		{"{\"ipv4\": \"10.0.0.1\"}", "fleet.jsonl:2: missing or non-string \"name\""},
		{"{\"name\": 7, \"ipv4\": \"10.0.0.1\"}", "missing or non-string \"name\""},
		{"{\"name\": \"ash2_web-a1\", \"ipv4\": \"10.0.0.1\"}",
				"bad host name 'ash2_web-a1'"},
		{"{\"name\": \"-web\", \"ipv4\": \"10.0.0.1\"}", "bad host name '-web'"},
		{"{\"name\": \"a.b.other.org\", \"ipv4\": \"10.0.0.1\"}", "an FQDN must be"},
		{"{\"name\": \"web1\", \"ipv4\": \"10.0.0.1\"}", "host 'web1': no site"},
		{"{\"name\": \"ash2-web-a1\"}", "host 'ash2-web-a1': no ipv4 or ipv6 address"},
		{"{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.0.0.256\"}",
				"bad ipv4 address '10.0.0.256'"},
		{"{\"name\": \"ash2-web-a1\", \"ipv4\": \"010.0.0.1\"}",
				"bad ipv4 address '010.0.0.1'"},
		{"{\"name\": \"ash2-web-a1\", \"ipv4\": \"2001:db8::1\"}", "bad ipv4 address"},
		{"{\"name\": \"ash2-web-a1\", \"ipv6\": \"10.0.0.1\"}", "bad ipv6 address"},
		{"{\"name\": \"ash2-web-a1\", \"ipv4\": 10}",
				"\"ipv4\" must be a string or a list"},
		{"{\"name\": \"ash2-web-a1\", \"ipv4\": [\"10.0.0.1\", 3]}",
				"must be a string or a list"},
		{"{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.0.0.1\", \"site\": 3}",
				"field \"site\" must be a string"},
		{"{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.0.0.1\", \"role\": \"bad role\"}",
				"bad role 'bad role'"},
		{"{\"name\": \"web1\", \"site\": \"ash_2\", \"ipv4\": \"10.0.0.1\"}",
				"bad site 'ash_2'"},
		{"{\"name\": \"web1.ash2.example.net\", \"site\": \"lon6\", \"ipv4\": "
		"\"10.0.0.1\"}",
				"does not match its FQDN"},
	};
	return cr_make_param_array(struct bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *c, inventory, bad_lines)
{
	char text[512];
	/* a good line first: faults name their own line, and loading goes on */
	snprintf(text, sizeof(text), "{\"name\": \"ash2-ok-a1\", \"ipv4\": \"10.9.9.9\"}\n%s\n"
				     "{\"name\": \"ash2-ok-a2\", \"ipv4\": \"10.9.9.8\"}\n",
			c->line);
	struct zg_inventory inv;
	struct zg_diag d;
	cr_assert_eq(load(&inv, &d, text), 0);
	cr_expect_eq(d.errors, 1, "%s: %zu errors", c->line, d.errors);
	cr_expect_not_null(strstr(d.first, c->message), "'%s' not in '%s'", c->message, d.first);
	cr_expect_not_null(strstr(d.first, "fleet.jsonl:2"), "'%s' lacks the line", d.first);
	cr_expect_eq(inv.nhosts, 2);
	zg_inventory_deinit(&inv);
}
