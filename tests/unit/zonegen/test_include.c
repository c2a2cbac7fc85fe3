#include <criterion/criterion.h>
#include <string.h>

#include "zonegen/include.h"

static const char *const NS[] = {"ns1.example.net."};

static struct zg_include_opts opts = {.zone_dir = "/srv/zones"};

static char *render(
		void (*fn)(const struct zg_gen *, const struct zg_include_opts *, struct rs_buf *),
		const struct zg_gen *g)
{
	struct rs_buf b;
	rs_buf_init(&b);
	fn(g, &opts, &b);
	rs_buf_chr(&b, '\0');
	cr_assert_eq(rs_buf_error(&b), 0);
	return b.data;
}

Test(include, three_servers_list_every_zone_and_bind_gets_its_limit)
{
	struct zg_zone zones[2] = {
			{.name = "ash2.example.net.", .max_rrset = 2},
			{.name = "roles.ash2.example.net.", .max_rrset = 2500},
	};
	struct zg_options opt = {.domain = "example.net.", .ns = NS, .nns = 1};
	struct zg_gen g = {.opt = &opt, .zones = zones, .nzones = 2};
	char *t = render(zg_include_bind, &g);
	cr_expect_not_null(strstr(t, "zone \"ash2.example.net\" {\n\ttype primary;\n"
				     "\tfile \"/srv/zones/ash2.example.net.zone\";\n};\n"));
	cr_expect_not_null(strstr(t, "zone \"roles.ash2.example.net\" {\n\ttype primary;\n"
				     "\tfile \"/srv/zones/roles.ash2.example.net.zone\";\n"
				     "\tmax-records-per-type 5000;"));
	free(t);
	t = render(zg_include_nsd, &g);
	cr_expect_not_null(strstr(t, "zone:\n\tname: \"roles.ash2.example.net\"\n"
				     "\tzonefile: \"/srv/zones/roles.ash2.example.net.zone\"\n"));
	free(t);
	t = render(zg_include_knot, &g);
	cr_expect_not_null(strstr(t, "zone:\n  - domain: \"ash2.example.net.\"\n"
				     "    file: \"/srv/zones/ash2.example.net.zone\"\n"));
	free(t);
	opts.nsd_pattern = "secondaries";
	opts.knot_template = "fleet";
	t = render(zg_include_nsd, &g);
	cr_expect_not_null(
			strstr(t, "example.net.zone\"\n\tinclude-pattern: \"secondaries\"\nzone:"));
	free(t);
	t = render(zg_include_knot, &g);
	cr_expect_not_null(strstr(t, "ash2.example.net.zone\"\n    template: fleet\n"));
	free(t);
	g.nzones = 0;
	t = render(zg_include_knot, &g);
	cr_expect_null(strstr(t, "zone:"), "no empty section");
	free(t);
}
