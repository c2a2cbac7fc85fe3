#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client/cli/sites.h"

static char path[64];

static void write_sites(const char *text)
{
	snprintf(path, sizeof(path), "/tmp/roster-sites-XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void cleanup(void)
{
	unlink(path);
}

Test(sites, precedence_server_then_env_then_site_then_default, .fini = cleanup)
{
	write_sites("# registries\nlon6 10.0.0.5:7600\n\nash2 10.1.0.5:7600  # comment\n"
		    "lon6 [2001:db8::5]:7600\n");
	char out[ARGS_MAX_SERVERS][RS_ADDR_TEXT_MAX], err[256];
	size_t n;
	struct args a = {0};
	cr_assert_eq(sites_resolve(&a, NULL, path, out, &n, err, sizeof(err)), 0);
	cr_expect_eq(n, 1);
	cr_expect_str_eq(out[0], "127.0.0.1:7600");

	a.site = "lon6";
	cr_assert_eq(sites_resolve(&a, NULL, path, out, &n, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(n, 2, "a site on two lines has two registries");
	cr_expect_str_eq(out[0], "10.0.0.5:7600");
	cr_expect_str_eq(out[1], "[2001:db8::5]:7600");

	cr_assert_eq(sites_resolve(&a, "127.0.0.1:1,127.0.0.1:2", path, out, &n, err, sizeof(err)),
			0);
	cr_expect_eq(n, 2);
	cr_expect_str_eq(out[1], "127.0.0.1:2");

	a.servers[0] = "127.0.0.1:9,127.0.0.1:10";
	a.servers[1] = "127.0.0.1:10";
	a.n_servers = 2;
	cr_assert_eq(sites_resolve(&a, "127.0.0.1:1", path, out, &n, err, sizeof(err)), 0);
	cr_expect_eq(n, 2);
	cr_expect_str_eq(out[0], "127.0.0.1:9");
	cr_expect_str_eq(out[1], "127.0.0.1:10");
}

Test(sites, errors_are_one_line_and_name_the_problem, .fini = cleanup)
{
	write_sites("lon6 10.0.0.5:7600\nash2\n");
	char out[ARGS_MAX_SERVERS][RS_ADDR_TEXT_MAX], err[256];
	size_t n;
	struct args a = {.site = "fra1"};
	cr_expect_eq(sites_resolve(&a, NULL, "/nonexistent/sites.conf", out, &n, err, sizeof(err)),
			2);
	cr_expect(strstr(err, "unknown site 'fra1': cannot read /nonexistent/sites.conf") != NULL,
			"%s", err);
	cr_expect_eq(sites_resolve(&a, NULL, path, out, &n, err, sizeof(err)), 2);
	char want[128];
	snprintf(want, sizeof(want), "%s:2: expected 'SITE ADDRESS:PORT'", path);
	cr_expect_str_eq(err, want);
	cleanup();
	write_sites("lon6 10.0.0.5:7600\nlon6 registry.example.net:7600\n");
	a.site = "lon6";
	cr_expect_eq(sites_resolve(&a, NULL, path, out, &n, err, sizeof(err)), 2);
	cr_expect(strstr(err, ":2: invalid registry address 'registry.example.net:7600'") != NULL,
			"%s", err);
	a.site = "ash2";
	cr_expect_eq(sites_resolve(&a, NULL, path, out, &n, err, sizeof(err)), 2);
	snprintf(want, sizeof(want), "unknown site 'ash2' (not in %s)", path);
	cr_expect_str_eq(err, want);
	a.site = NULL;
	cr_expect_eq(sites_resolve(&a, "nonsense", path, out, &n, err, sizeof(err)), 2);
	cr_expect(strstr(err, "ROSTER_SERVER: invalid registry address 'nonsense'") != NULL);
}
