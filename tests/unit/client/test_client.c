/* The public calls of client.c that need no registry. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "roster/client.h"

Test(client, timeout_ms_is_the_effective_value)
{
	struct roster_client *c = NULL;
	cr_assert_eq(roster_client_new(NULL, &c), 0);
	cr_expect_eq(roster_client_timeout_ms(c), 2000, "the default applies to 0");
	roster_client_free(c);
	struct roster_config cfg = {.timeout_ms = 350};
	cr_assert_eq(roster_client_new(&cfg, &c), 0);
	cr_expect_eq(roster_client_timeout_ms(c), 350);
	roster_client_free(c);
}

static struct roster_instance ep_of(const char *host, unsigned port)
{
	struct roster_instance ep = {
			.service = "web", .protocol = "http", .host = host, .port = port};
	return ep;
}

Test(client, bad_endpoints_are_refused_naming_the_field)
{
	struct roster_client *c = NULL;
	cr_assert_eq(roster_client_new(NULL, &c), 0);
	struct roster_instance ep = ep_of("web_1.example.net", 80);
	cr_expect_eq(roster_endpoint_add(c, &ep), ROSTER_ENAME);
	cr_expect(strstr(roster_errmsg(), "invalid host 'web_1.example.net'") != NULL, "%s",
			roster_errmsg());
	ep = ep_of("web1.example.net", 0);
	cr_expect_eq(roster_endpoint_add(c, &ep), ROSTER_EPORT);
	cr_expect_str_eq(roster_errmsg(), "invalid port 0 (1-65535)");
	ep = ep_of("web1.example.net", 80);
	ep.protocol = "ht tp";
	cr_expect_eq(roster_endpoint_remove(c, &ep), ROSTER_ENAME);
	cr_expect(strstr(roster_errmsg(), "invalid protocol 'ht tp'") != NULL, "%s",
			roster_errmsg());
	/* Permanent registrations are checked the same way, before any send. */
	ep = ep_of("web1.example.net", 0);
	cr_expect_eq(roster_instance_register_permanent(c, &ep, NULL), ROSTER_EPORT);
	const struct roster_outcome *o = NULL;
	cr_expect_eq(roster_write_outcomes(&o), 0, "nothing was sent");
	roster_client_free(c);
}

Test(client, an_endpoint_removed_is_gone_until_added_again)
{
	struct roster_client *c = NULL;
	cr_assert_eq(roster_client_new(NULL, &c), 0);
	struct roster_instance ep = ep_of("web1.example.net", 80);
	cr_expect_eq(roster_endpoint_remove(c, &ep), ROSTER_ENOENT);
	cr_assert_eq(roster_endpoint_add(c, &ep), 0);
	cr_assert_eq(roster_endpoint_add(c, &ep), 0, "added again: an update");
	cr_expect_eq(roster_endpoint_remove(c, &ep), 0);
	cr_expect_eq(roster_endpoint_remove(c, &ep), ROSTER_ENOENT, "not twice");
	cr_expect_eq(roster_endpoint_set_status(c, &ep, ROSTER_DOWN), ROSTER_ENOENT);
	roster_client_free(c);
}

Test(client, calls_that_do_not_fit_the_state_are_refused)
{
	struct roster_client *c = NULL;
	cr_assert_eq(roster_client_new(NULL, &c), 0);
	cr_expect_eq(roster_client_wait(c, 10), ROSTER_ESTATE, "not started");
	cr_expect_eq(roster_client_start_loop(c, NULL), ROSTER_EINVAL);
	cr_expect_str_eq(roster_errmsg(), "no loop");
	roster_client_stop(NULL);
	roster_client_stop(c); /* never started: nothing to do */
	roster_watch_cancel(c, NULL);
	struct roster_watch *w = NULL;
	cr_expect_eq(roster_watch_start(c, "we_b", NULL, NULL, &w), ROSTER_ENAME);
	roster_client_free(c);
	roster_client_free(NULL);
}

Test(client, bad_configurations_are_refused)
{
	struct roster_client *c = NULL;
	struct roster_config cfg = {.n_servers = 1};
	cr_expect_eq(roster_client_new(&cfg, &c), ROSTER_EINVAL);
	cfg = (struct roster_config){.ttl_seconds = 3601};
	cr_expect_eq(roster_client_new(&cfg, &c), ROSTER_EINVAL);
	const char *servers[] = {NULL};
	cfg = (struct roster_config){.servers = servers, .n_servers = 1};
	cr_expect_eq(roster_client_new(&cfg, &c), ROSTER_EADDR);
	const char *noport[] = {"127.0.0.1:99999"};
	cfg = (struct roster_config){.servers = noport, .n_servers = 1};
	cr_expect_eq(roster_client_new(&cfg, &c), ROSTER_EPORT);
	cr_expect_null(c);
}

Test(client, a_backup_request_over_the_frame_limit_is_not_sent)
{
	/* No registry listens: the verdict comes before any connection. */
	const char *servers[] = {"127.0.0.1:1"};
	struct roster_config cfg = {.servers = servers, .n_servers = 1};
	struct roster_client *c = NULL;
	cr_assert_eq(roster_client_new(&cfg, &c), 0);
	size_t len = 2u << 20;
	char *path = malloc(len + 1);
	cr_assert_not_null(path);
	memset(path, 'a', len);
	path[0] = '/';
	path[len] = '\0';
	cr_expect_eq(roster_backup(c, path, NULL, NULL), ROSTER_ELIMIT);
	cr_expect(strstr(roster_errmsg(), "over the") != NULL &&
					strstr(roster_errmsg(), "not sent") != NULL,
			"%s", roster_errmsg());
	cr_expect_eq(roster_backup(c, "", NULL, NULL), ROSTER_EINVAL);
	cr_expect_eq(roster_backup(c, "/tmp/x.mdb", NULL, NULL), ROSTER_EUNREACHABLE);
	free(path);
	roster_client_free(c);
}
