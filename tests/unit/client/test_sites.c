#include <criterion/criterion.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client/cli/sites.h"
#include "client/sites.h"
#include "roster/client.h"

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

Test(sites, a_registry_listed_twice_for_a_site_is_refused_naming_the_line, .fini = cleanup)
{
	write_sites("lon6 10.0.0.5:7600\nash2 10.0.0.5:7600\nlon6 10.0.0.5:7600\n");
	char out[ARGS_MAX_SERVERS][RS_ADDR_TEXT_MAX], err[256];
	size_t n;
	struct args a = {.site = "lon6"};
	cr_expect_eq(sites_resolve(&a, NULL, path, out, &n, err, sizeof(err)), 2);
	char want[200];
	snprintf(want, sizeof(want), "%s:3: registry 10.0.0.5:7600 is listed twice for site 'lon6'",
			path);
	cr_expect_str_eq(err, want);
	a.site = "ash2"; /* the same address at another site is another site's business */
	cr_expect_eq(sites_resolve(&a, NULL, path, out, &n, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(n, 1);
}

Test(sites, more_registries_than_the_cli_holds_is_an_error, .fini = cleanup)
{
	char text[1024] = "";
	for (int i = 0; i < ARGS_MAX_SERVERS + 1; i++) {
		char line[64];
		snprintf(line, sizeof(line), "lon6 10.0.0.%d:7600\n", i + 1);
		strcat(text, line);
	}
	write_sites(text);
	char out[ARGS_MAX_SERVERS][RS_ADDR_TEXT_MAX], err[256];
	size_t n;
	struct args a = {.site = "lon6"};
	cr_expect_eq(sites_resolve(&a, NULL, path, out, &n, err, sizeof(err)), 2);
	cr_expect(strstr(err, "more than 8 registries") != NULL, "%s", err);
}

Test(sites, libroster_reads_the_same_list_as_the_cli, .fini = cleanup)
{
	write_sites("lon6 127.0.0.1:7600 # first\nash2 10.1.0.5:7600\nlon6 [::1]:7601\n");
	char **list = NULL;
	size_t n = 0;
	cr_assert_eq(roster_site_servers("lon6", path, &list, &n), 0, "%s", roster_errmsg());
	cr_assert_eq(n, 2);
	cr_expect_str_eq(list[0], "127.0.0.1:7600");
	cr_expect_str_eq(list[1], "[::1]:7601");
	/* The list goes straight into a client's configuration. */
	struct roster_config cfg = {.servers = (const char *const *)list, .n_servers = n};
	struct roster_client *c = NULL;
	cr_expect_eq(roster_client_new(&cfg, &c), 0, "%s", roster_errmsg());
	roster_client_free(c);
	roster_site_servers_free(list, n);

	cr_expect_eq(roster_site_servers("fra1", path, &list, &n), ROSTER_ENOENT);
	cr_expect(strstr(roster_errmsg(), "unknown site 'fra1'") != NULL, "%s", roster_errmsg());
	cr_expect_null(list);
	cr_expect_eq(n, 0);
	setenv("ROSTER_SITES", path, 1);
	cr_expect_eq(roster_site_servers("ash2", NULL, &list, &n), 0,
			"ROSTER_SITES is the default");
	cr_expect_eq(n, 1);
	roster_site_servers_free(list, n);
	unsetenv("ROSTER_SITES");
	cr_expect_lt(roster_site_servers("lon6", "/nonexistent/sites.conf", &list, &n), 0);
	cr_expect(strstr(roster_errmsg(), "cannot read /nonexistent/sites.conf") != NULL);
}

Test(sites, where_fields_other_than_dns_and_http_are_refused, .fini = cleanup)
{
	write_sites("lon6 10.0.0.5:7600 dns=10.0.0.5:53 http=10.0.0.5:7680\n"
		    "lon6 10.0.0.6:7600 smtp=10.0.0.6:25\n");
	char **list = NULL, err[256];
	char *(*where)[2] = NULL;
	size_t n = 9;
	cr_expect_eq(sites_read_where("lon6", path, &list, &where, &n, err, sizeof(err)),
			ROSTER_EINVAL);
	cr_expect(strstr(err, ":2: expected 'SITE ADDRESS:PORT [dns=ADDRESS:PORT] "
			      "[http=ADDRESS:PORT]', not 'smtp=10.0.0.6:25'") != NULL,
			"%s", err);
	cr_expect_null(list);
	cr_expect_eq(n, 0);
	sites_where_free(where, n);
}

Test(sites, no_site_is_an_error_and_an_empty_path_is_the_default, .fini = cleanup)
{
	char **list = NULL, err[256];
	size_t n = 9;
	cr_expect_eq(sites_read("", "/nonexistent", &list, &n, err, sizeof(err)), ROSTER_EINVAL);
	cr_expect_str_eq(err, "no site named");
	cr_expect_eq(sites_read(NULL, "/nonexistent", &list, &n, err, sizeof(err)), ROSTER_EINVAL);
	/* No /etc/roster/sites.conf on a test machine: the error names it. */
	cr_expect_neq(sites_read("lon6", "", &list, &n, err, sizeof(err)), 0);
	cr_expect(strstr(err, "cannot read /etc/roster/sites.conf") != NULL, "%s", err);
	cr_expect_null(list);
}
