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
				     "\"rack\": 12, \"up\": true, \"w\": -1.5e3, \"tags\": null}\n"),
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
	cr_expect_eq(h->line, 4, "numbers and booleans of other keys are ignored");
	zg_inventory_deinit(&inv);
	zg_inventory_deinit(NULL);
}

Test(inventory, escaped_strings_go_through_jansson)
{
	struct zg_inventory inv;
	struct zg_diag d;
	cr_assert_eq(load(&inv, &d, "{\"name\": \"ash2-web-\\u0061\\u0031\", \"ipv4\": \"10.0.0.1\"}"),
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
			{"{\"ipv4\": \"10.0.0.1\"}",
					"fleet.jsonl:2: missing or non-string \"name\""},
			{"{\"name\": 7, \"ipv4\": \"10.0.0.1\"}", "missing or non-string \"name\""},
			{"{\"name\": \"ash2_web-a1\", \"ipv4\": \"10.0.0.1\"}",
					"bad host name 'ash2_web-a1'"},
			{"{\"name\": \"-web\", \"ipv4\": \"10.0.0.1\"}", "bad host name '-web'"},
			{"{\"name\": \"a.b.other.org\", \"ipv4\": \"10.0.0.1\"}",
					"an FQDN must be"},
			{"{\"name\": \"web1\", \"ipv4\": \"10.0.0.1\"}", "host 'web1': no site"},
			{"{\"name\": \"ash2-web-a1\"}",
					"host 'ash2-web-a1': no ipv4 or ipv6 address"},
			{"{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.0.0.256\"}",
					"bad ipv4 address '10.0.0.256'"},
			{"{\"name\": \"ash2-web-a1\", \"ipv4\": \"010.0.0.1\"}",
					"bad ipv4 address '010.0.0.1'"},
			{"{\"name\": \"ash2-web-a1\", \"ipv4\": \"2001:db8::1\"}",
					"bad ipv4 address"},
			{"{\"name\": \"ash2-web-a1\", \"ipv6\": \"10.0.0.1\"}", "bad ipv6 address"},
			{"{\"name\": \"ash2-web-a1\", \"ipv4\": 10}",
					"\"ipv4\" must be a string or a list"},
			{"{\"name\": \"ash2-web-a1\", \"ipv4\": [\"10.0.0.1\", 3]}",
					"must be a string or a list"},
			{"{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.0.0.1\", \"site\": 3}",
					"field \"site\" must be a string"},
			{"{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.0.0.1\", \"role\": \"bad role\"}",
					"bad role 'bad role'"},
			{"{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.0.0.1\", \"pool\": false}",
					"field \"pool\" must be a string"},
			{"{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.0.0.1\", \"rack\": 01}",
					"fleet.jsonl:2: malformed JSON"},
			{"{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.0.0.1\", \"rack\": 1.}",
					"fleet.jsonl:2: malformed JSON"},
			{"{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.0.0.1\"} x",
					"fleet.jsonl:2: malformed JSON"},
			{"{\"name\": \"web1\", \"site\": \"ash_2\", \"ipv4\": \"10.0.0.1\"}",
					"bad site 'ash_2'"},
			{"{\"name\": \"web1.ash2.example.net\", \"site\": \"lon6\", \"ipv4\": "
			 "\"10.0.0.1\"}",
					"does not match its FQDN"},
			{"{}", "fleet.jsonl:2: missing or non-string \"name\""},
			{" { } ", "fleet.jsonl:2: missing or non-string \"name\""},
			{"{\"name\" \"ash2-web-a1\", \"ipv4\": \"10.0.0.1\"}",
					"fleet.jsonl:2: malformed JSON"},
			{"{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.0.0.1\", \"w\": 1e}",
					"fleet.jsonl:2: malformed JSON"},
			{"{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.0.0.1\", \"w\": 2e+}",
					"fleet.jsonl:2: malformed JSON"},
			{"{\"name\": \"ash2-web-a1\", \"ipv4\": [\"10.0.0.1\" \"10.0.0.2\"]}",
					"fleet.jsonl:2: malformed JSON"},
			{"{\"name\": \"ash2-web-a1\", \"ipv4\": [\"10.0.0.1\",]}",
					"fleet.jsonl:2: malformed JSON"},
			{"{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.0.0.1\", \"note\": \"a\tb\"}",
					"fleet.jsonl:2: malformed JSON"},
			/* jansson's words name its flag: ours name the fault. */
			{"{\"name\": \"ash2-w\\u0000b\", \"ipv4\": \"10.0.0.1\"}",
					"malformed JSON: a NUL character (\\u0000) in a string"},
	};
	return cr_make_param_array(struct bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *c, inventory, bad_lines)
{
	char text[512];
	/* a good line first: faults name their own line, and loading goes on */
	snprintf(text, sizeof(text),
			"{\"name\": \"ash2-ok-a1\", \"ipv4\": \"10.9.9.9\"}\n%s\n"
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

/* RFC 8259 8.1: a byte order mark at the start (an editor on Windows) is
 * skipped, not a malformed first line; one elsewhere is still malformed. */
Test(inventory, a_leading_byte_order_mark_is_skipped)
{
	struct zg_inventory inv;
	struct zg_diag d;
	cr_assert_eq(load(&inv, &d,
				     "\xef\xbb\xbf{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.0.0.1\"}\n"
				     "\xef\xbb\xbf{\"name\": \"ash2-web-a2\", \"ipv4\": \"10.0.0.2\"}"),
			0);
	cr_expect_eq(inv.nhosts, 1);
	cr_expect_eq(d.errors, 1, "a mark inside the file is a fault");
	cr_expect_not_null(strstr(d.first, "fleet.jsonl:2: malformed JSON"), "%s", d.first);
	zg_inventory_deinit(&inv);
}

/* The fast path and jansson must read a line the same way: each line is read
 * as written (fast path) and with its name's first letter escaped as \u00XX,
 * which only jansson takes. */
Test(inventory, fast_path_reads_lines_as_jansson_does)
{
	static const char *const lines[] = {
			"{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.0.0.1\"}",
			"  {  \"name\" :\"ash2-web-a1\" ,\"ipv4\":[ \"10.0.0.1\" , "
			"\"10.0.0.2\" ] }  ",
			"{\"name\": \"ash2-web-a1\", \"ipv4\": [], \"ipv6\": \"2001:db8::1\", "
			"\"role\": null}",
			"{\"rack\": -0.5E+2, \"name\": \"ash2-web-a1\", \"ok\": false, "
			"\"ipv4\": \"10.0.0.1\"}",
			"{\"name\": \"x\", \"name\": \"ash2-web-a1\", \"ipv4\": \"10.0.0.1\", "
			"\"site\": \"lon6\"}",
			"{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.0.0.1\", \"role\": \"db\", "
			"\"pool\": \"z\"}",
			"{\"name\":\"ash2-web-a1\",\"ipv4\":\"10.0.0.1\",\"n\":12,\"t\":true}",
			"{\"name\": \"ash2-web-a1\",\t\"ipv4\": [ ],\r \"ipv6\": [\"2001:db8::1\"], "
			"\"w\": 1e5, \"z\": -1.25e-3, \"q\": 7E-1}",
			"{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.0.0.1\", \"source\": \"vm\", "
			"\"tags\": null}",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		char esc[300];
		const char *n = strstr(lines[i], "\"ash2");
		cr_assert_not_null(n);
		size_t off = (size_t)(n - lines[i]) + 1;
		snprintf(esc, sizeof(esc), "%.*s\\u%04x%s", (int)off, lines[i], lines[i][off],
				lines[i] + off + 1);
		struct zg_inventory a, b;
		struct zg_diag da, db;
		cr_assert_eq(load(&a, &da, lines[i]), 0);
		cr_assert_eq(load(&b, &db, esc), 0);
		cr_assert_eq(da.errors, 0, "%s: %s", lines[i], da.first);
		cr_assert_eq(db.errors, 0, "%s: %s", esc, db.first);
		cr_assert_eq(a.nhosts, 1);
		cr_assert_eq(b.nhosts, 1);
		const struct zg_host *x = &a.hosts[0], *y = &b.hosts[0];
		cr_expect_str_eq(x->fqdn, y->fqdn, "%s", lines[i]);
		cr_expect_str_eq(x->site, y->site);
		cr_expect_eq(x->role == NULL, y->role == NULL);
		if (x->role != NULL && y->role != NULL) {
			cr_expect_str_eq(x->role, y->role);
		}
		cr_expect_str_eq(x->pool, y->pool);
		cr_assert_eq(x->naddr, y->naddr, "%s", lines[i]);
		cr_expect_eq(memcmp(x->addrs, y->addrs, x->naddr * sizeof(*x->addrs)), 0);
		zg_inventory_deinit(&a);
		zg_inventory_deinit(&b);
	}
}

/* 64 addresses at most per host, whichever way they are split between
 * ipv4 and ipv6, and whichever parser reads the line. */
Test(inventory, more_than_64_addresses_are_refused)
{
	for (int n4 = 0; n4 <= 65; n4 += 13) {
		for (int extra = 0; extra < 2; extra++) {
			int total = 64 + extra, n6 = total - n4 < 0 ? 0 : total - n4;
			if (n4 > total) {
				continue;
			}
			char line[8192];
			int o = snprintf(line, sizeof(line),
					"{\"name\": \"ash2-web-a1\", \"ipv4\": [");
			for (int k = 0; k < n4; k++) {
				o += snprintf(line + o, sizeof(line) - (size_t)o,
						"%s\"10.0.%d.%d\"", k ? ", " : "", k / 200,
						k % 200 + 1);
			}
			o += snprintf(line + o, sizeof(line) - (size_t)o, "], \"ipv6\": [");
			for (int k = 0; k < n6; k++) {
				o += snprintf(line + o, sizeof(line) - (size_t)o,
						"%s\"2001:db8::%x\"", k ? ", " : "", k + 1);
			}
			snprintf(line + o, sizeof(line) - (size_t)o, "]}");
			struct zg_inventory inv;
			struct zg_diag d;
			cr_assert_eq(load(&inv, &d, line), 0);
			if (extra == 0) {
				cr_expect_eq(d.errors, 0, "%d+%d: %s", n4, n6, d.first);
				cr_expect_eq(inv.nhosts, 1);
				cr_expect_eq(inv.nhosts == 1 ? inv.hosts[0].naddr : 0, 64);
			} else {
				cr_expect_eq(d.errors, 1, "%d+%d", n4, n6);
				cr_expect_eq(inv.nhosts, 0);
				cr_expect(strstr(d.first, "more than 64 addresses") != NULL ||
								strstr(d.first, "must be a string or a "
										"list") != NULL,
						"%d+%d: %s", n4, n6, d.first);
			}
			zg_inventory_deinit(&inv);
		}
	}
}
