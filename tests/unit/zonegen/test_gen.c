#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zonegen/gen.h"

static const char *const NS[] = {"ns1.example.net."};

struct fixture {
	struct zg_options opt;
	struct zg_inventory inv;
	struct zg_records recs;
	struct zg_diag diag;
	struct zg_gen gen;
};

static int build(struct fixture *f, const char *inventory, const char *records, bool shard)
{
	memset(f, 0, sizeof(*f));
	f->opt = (struct zg_options){.domain = "example.net.",
			.ns = NS,
			.nns = 1,
			.hostmaster = "hostmaster.example.net.",
			.commit = "abc",
			.ttl = 3600,
			.v4_prefix = 16,
			.v6_prefix = 48,
			.shard_large = shard};
	zg_diag_init(&f->diag, NULL);
	zg_inventory_init(&f->inv, f->opt.domain);
	zg_records_init(&f->recs);
	cr_assert_eq(zg_inventory_parse(&f->inv, "inv", inventory, strlen(inventory), &f->diag), 0);
	if (records != NULL) {
		cr_assert_eq(zg_records_parse(&f->recs, "static", records, strlen(records),
					     "ash2.example.net.", 3600, &f->diag),
				0);
	}
	return zg_gen_build(&f->gen, &f->opt, &f->inv, &f->recs, &f->diag);
}

static void teardown(struct fixture *f)
{
	zg_gen_deinit(&f->gen);
	zg_records_deinit(&f->recs);
	zg_inventory_deinit(&f->inv);
}

static const char FLEET[] =
		"{\"name\": \"ash2-web-a1\", \"ipv4\": \"10.2.0.1\", \"ipv6\": \"2001:db8:2::1\"}\n"
		"{\"name\": \"ash2-web-a2\", \"ipv4\": \"10.2.0.2\"}\n"
		"{\"name\": \"ash2-db-b1\", \"ipv4\": \"10.2.1.1\"}\n"
		"{\"name\": \"lon6-web-a1\", \"ipv4\": \"10.6.0.1\"}\n";

static long zone_index(const struct zg_gen *g, const char *name)
{
	for (size_t i = 0; i < g->nzones; i++) {
		if (strcmp(g->zones[i].name, name) == 0) {
			return (long)i;
		}
	}
	return -1;
}

static char *render(const struct zg_gen *g, const char *zone, struct zg_counts *c)
{
	long i = zone_index(g, zone);
	cr_assert_geq(i, 0, "zone %s missing", zone);
	struct rs_buf b;
	rs_buf_init(&b);
	cr_assert_eq(zg_gen_body(g, (size_t)i, &b, c), 0);
	rs_buf_chr(&b, '\0');
	return b.data;
}

static uint64_t count_of(const struct zg_counts *c, const char *type)
{
	for (size_t i = 0; i < c->ntypes; i++) {
		if (strcmp(c->t[i].name, type) == 0) {
			return c->t[i].n;
		}
	}
	return 0;
}

Test(gen, zones_of_a_small_fleet)
{
	struct fixture f;
	cr_assert_eq(build(&f, FLEET, "www 300 IN CNAME ash2-web-a1\n", false), 0);
	cr_assert_eq(f.diag.errors, 0, "%s", f.diag.first);
	const char *want[] = {"2.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", "2.10.in-addr.arpa.",
			"6.10.in-addr.arpa.", "ash2.example.net.", "lon6.example.net.",
			"roles.ash2.example.net.", "roles.lon6.example.net."};
	cr_assert_eq(f.gen.nzones, 7);
	for (size_t i = 0; i < 7; i++) {
		cr_expect_str_eq(f.gen.zones[i].name, want[i]);
	}
	struct zg_counts c;
	char *t = render(&f.gen, "ash2.example.net.", &c);
	cr_expect_not_null(strstr(t, "ash2-web-a1\tIN\tA\t10.2.0.1\n"));
	cr_expect_not_null(strstr(t, "ash2-web-a1\tIN\tAAAA\t2001:db8:2::1\n"));
	cr_expect_not_null(strstr(t, "roles\tIN\tNS\tns1.example.net.\n"));
	cr_expect_not_null(strstr(t, "www\t300\tIN\tCNAME\tash2-web-a1.ash2.example.net.\n"));
	cr_expect_eq(count_of(&c, "A"), 3);
	cr_expect_eq(count_of(&c, "AAAA"), 1);
	cr_expect_eq(count_of(&c, "CNAME"), 1);
	cr_expect_eq(count_of(&c, "SOA"), 1);
	free(t);
	t = render(&f.gen, "roles.ash2.example.net.", &c);
	cr_expect_not_null(strstr(t, "web\tIN\tA\t10.2.0.1\nweb\tIN\tA\t10.2.0.2\n"));
	cr_expect_not_null(strstr(t, "web\tIN\tPTR\tash2-web-a1.ash2.example.net.\n"));
	cr_expect_not_null(strstr(t, "db\tIN\tPTR\tash2-db-b1.ash2.example.net.\n"));
	cr_expect_eq(count_of(&c, "PTR"), 3);
	free(t);
	t = render(&f.gen, "2.10.in-addr.arpa.", &c);
	cr_expect_not_null(strstr(t, "1.1\tIN\tPTR\tash2-db-b1.ash2.example.net.\n"));
	free(t);
	t = render(&f.gen, "2.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", &c);
	cr_expect_not_null(strstr(t, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0\tIN\tPTR\t"
				     "ash2-web-a1.ash2.example.net.\n"));
	free(t);
	teardown(&f);
}

struct check_case {
	char inventory[600];
	char records[300];
	bool shard;
	char message[120]; /* a part of the one error expected */
};

#define H(n, ip) "{\"name\": \"" n "\", \"ipv4\": \"" ip "\"}\n"

ParameterizedTestParameters(gen, every_check)
{
	static struct check_case cases[] = {
			{H("ash2-web-a1", "10.2.0.1") H("ash2-web-a1.ash2.example.net", "10.2.0.2"),
					"", false,
					"duplicate host ash2-web-a1.ash2.example.net.: "
					"inv:1 and inv:2"},
			{H("ash2-web-a1", "10.2.0.1") H("ash2-web-a2", "10.2.0.1"), "", false,
					"IP 10.2.0.1 claimed by two hosts: ash2-web-a1.ash2.example.net. "
					"(inv:1)"},
			{"{\"name\": \"roles\", \"site\": \"ash2\", \"ipv4\": \"10.2.0.1\"}\n", "",
					false, "host name roles.ash2.example.net. is reserved"},
			{H("ash2-web-a1", "10.2.0.1"), "ash2-web-a1 IN CNAME elsewhere.org.\n",
					false,
					"CNAME ash2-web-a1.ash2.example.net. has other data"},
			{H("ash2-web-a1", "10.2.0.1"),
					"x IN CNAME y.example.org.\nx IN TXT \"t\"\n", false,
					"CNAME x.ash2.example.net. has other data"},
			{H("ash2-web-a1", "10.2.0.1"), "www IN CNAME ash2-web-a9\n", false,
					"CNAME www.ash2.example.net. points at "
					"ash2-web-a9.ash2.example.net., "
					"which does not exist in zone ash2.example.net."},
			{H("ash2-web-a1", "10.2.0.1"),
					"www IN CNAME nope.roles.ash2.example.net.\n", false,
					"which does not exist in zone roles.ash2.example.net."},
			{H("ash2-web-a1", "10.2.0.1"), "www.other.org. IN A 10.0.0.1\n", false,
					"record www.other.org. A is in none of the generated zones"},
			{H("ash2-web-a1", "10.2.0.1"), "@ IN SOA a. b. 1 2 3 4 5\n", false,
					"the SOA is generated"},
			{H("ash2-web-a1", "10.2.0.1"), "@ IN NS ns9.example.org.\n", false,
					"apex NS come from --ns"},
			{H("ash2-web-a1", "10.2.0.1"), "x IN BOGUS 1\n", false,
					"static:1: bad record"},
			{H("ash2-web-a1", "10.2.0.1"), "$INCLUDE /etc/passwd\n", false, "$INCLUDE"},
	};
	return cr_make_param_array(struct check_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct check_case *c, gen, every_check)
{
	struct fixture f;
	cr_assert_eq(build(&f, c->inventory, c->records[0] ? c->records : NULL, c->shard), 0);
	cr_expect_eq(f.diag.errors, 1, "%zu errors, first: %s", f.diag.errors, f.diag.first);
	cr_expect_not_null(strstr(f.diag.first, c->message), "'%s' not in '%s'", c->message,
			f.diag.first);
	teardown(&f);
}

Test(gen, good_cnames_pass)
{
	struct fixture f;
	cr_assert_eq(build(&f, FLEET,
				     "www IN CNAME ash2-web-a1\n"
				     "api IN CNAME web.roles.ash2.example.net.\n"
				     "rev IN CNAME 1.0.2.10.in-addr.arpa.\n"
				     "ext IN CNAME www.example.org.\n"
				     "alias IN CNAME www\n",
				     false),
			0);
	cr_expect_eq(f.diag.errors, 0, "%s", f.diag.first);
	teardown(&f);
}

/* The article's role: 2,500 hosts whose PTR RRset cannot fit one message. */
static char *big_role(size_t n)
{
	char *s = malloc(n * 120);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		o += (size_t)sprintf(s + o,
				"{\"name\": \"lon4-hadoopslave-a%zu\", \"ipv4\": "
				"\"10.4.%zu.%zu\"}\n",
				i, i / 250, i % 250 + 1);
	}
	return s;
}

Test(gen, oversized_rrset_is_an_error_naming_it)
{
	struct fixture f;
	char *inv = big_role(2500);
	cr_assert_eq(build(&f, inv, NULL, false), 0);
	cr_expect_eq(f.diag.errors, 1, "%s", f.diag.first);
	cr_expect_not_null(
			strstr(f.diag.first, "RRset hadoopslave.roles.lon4.example.net. PTR is "));
	cr_expect_not_null(strstr(f.diag.first, "(2500 records), over 65,535"));
	teardown(&f);
	free(inv);
}

Test(gen, shard_large_splits_into_shards_that_fit)
{
	struct fixture f;
	char *inv = big_role(2500);
	cr_assert_eq(build(&f, inv, NULL, true), 0);
	cr_assert_eq(f.diag.errors, 0, "%s", f.diag.first);
	long zi = zone_index(&f.gen, "roles.lon4.example.net.");
	const struct zg_role *r = &f.gen.roles[f.gen.zones[zi].first];
	cr_assert_geq(r->shards, 2u);
	cr_expect_eq(r->moved, ZG_RRSET_PTR, "only the PTR RRset is too large");
	struct zg_counts c;
	char *t = render(&f.gen, "roles.lon4.example.net.", &c);
	cr_expect_eq(count_of(&c, "PTR"), 2500, "every host in exactly one shard");
	cr_expect_eq(count_of(&c, "A"), 2 * 2500, "A at the role and in the shards");
	cr_expect_null(strstr(t, "\nhadoopslave\tIN\tPTR"));
	cr_expect_not_null(strstr(t, "\n1.hadoopslave\tIN\tPTR\t"));
	cr_expect_not_null(strstr(t, "hadoopslave\tIN\tTXT\t\"shards="));
	/* every shard's PTR RRset fits one message */
	for (uint32_t s = 1; s <= r->shards; s++) {
		char owner[64];
		int ol = snprintf(owner, sizeof(owner), "\n%u.hadoopslave\tIN\tPTR\t", s);
		uint64_t n = 0, sum = 0;
		for (const char *p = strstr(t, owner); p != NULL; p = strstr(p + 1, owner)) {
			const char *e = strchr(p + ol, '\n');
			n++;
			sum += (uint64_t)(e - (p + ol)) + 1;
		}
		cr_expect_gt(n, 0u);
		cr_expect_leq(zg_rrset_wire_size(40, n, sum), 65535u, "shard %u", s);
	}
	cr_expect_geq(f.gen.zones[zi].max_rrset, 2500u, "A RRset at the role counts for BIND");
	free(t);
	teardown(&f);
	free(inv);
}

Test(gen, wire_size_rule)
{
	/* 12 header + owner + 4 question + per record 2 + 10 + rdata */
	cr_expect_eq(zg_rrset_wire_size(20, 0, 0), 36u);
	cr_expect_eq(zg_rrset_wire_size(20, 2, 8), 36u + 24u + 8u);
}
