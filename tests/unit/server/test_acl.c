/*
 * The address ACL of a listener: what it allows, refuses and serves under
 * a dry run, what it counts, and its log: once per source per minute, at
 * most ACL_LOG_BURST lines a second, a fixed table under a flood of
 * sources, exact counts from several threads.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/addr.h"
#include "common/error.h"
#include "common/log.h"
#include "server/net/acl.h"

static struct sockaddr_storage sa(const char *text)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		cr_assert_eq(inet_pton(AF_INET6, text, &s6->sin6_addr), 1, "%s", text);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		cr_assert_eq(inet_pton(AF_INET, text, &s4->sin_addr), 1, "%s", text);
	}
	return ss;
}

/* 10.0.0.0 + n */
static struct sockaddr_storage sa_n(uint32_t n)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	s4->sin_family = AF_INET;
	s4->sin_addr.s_addr = htonl(0x0a000000u + n);
	return ss;
}

static struct acl *acl_of(const char *const *texts, size_t n, bool dry)
{
	struct rs_prefix p[8];
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(rs_prefix_parse(texts[i], &p[i]), 0, "%s", texts[i]);
	}
	struct acl *acl = NULL;
	cr_assert_eq(acl_new("dns", "--dns-allow", p, n, dry, &acl), 0);
	return acl;
}

static enum acl_verdict check(struct acl *acl, const char *text, uint64_t now)
{
	struct sockaddr_storage s = sa(text);
	return acl_check(acl, (struct sockaddr *)&s, now);
}

static void quiet(void)
{
	rs_log_set_level(RS_LOG_ERROR); /* the lines are counted, not read */
}

TestSuite(acl, .init = quiet);

Test(acl, allows_inside_refuses_outside_and_counts_refusals)
{
	const char *allow[] = {"127.0.0.1", "10.0.0.0/8", "2001:db8::/32"};
	struct acl *acl = acl_of(allow, 3, false);
	cr_expect_eq(check(acl, "127.0.0.1", 1000), ACL_ALLOW);
	cr_expect_eq(check(acl, "10.200.3.4", 1000), ACL_ALLOW);
	cr_expect_eq(check(acl, "2001:db8:1::5", 1000), ACL_ALLOW);
	cr_expect_eq(check(acl, "::ffff:10.1.1.1", 1000), ACL_ALLOW, "IPv4-mapped is IPv4");
	cr_expect_eq(check(acl, "127.0.0.2", 1000), ACL_REFUSE);
	cr_expect_eq(check(acl, "11.0.0.1", 1000), ACL_REFUSE);
	cr_expect_eq(check(acl, "2001:db9::1", 1000), ACL_REFUSE);
	cr_expect_eq(check(acl, "::ffff:127.0.0.2", 1000), ACL_REFUSE);
	cr_expect_eq(acl_check(acl, NULL, 1000), ACL_REFUSE, "an unknown source is outside");
	struct acl_counters c;
	acl_counters_get(acl, &c);
	cr_expect_eq(c.refused, 5);
	cr_expect_eq(c.dry_run, 0);
	struct sockaddr_storage in = sa("10.0.0.1"), out = sa("192.0.2.1");
	cr_expect(acl_admit(acl, (struct sockaddr *)&in));
	cr_expect(!acl_admit(acl, (struct sockaddr *)&out));
	acl_free(acl);
	acl_free(NULL);
}

Test(acl, dry_run_serves_what_it_would_refuse_and_counts_it_apart)
{
	const char *allow[] = {"127.0.0.1"};
	struct acl *acl = acl_of(allow, 1, true);
	cr_expect_eq(check(acl, "127.0.0.1", 1000), ACL_ALLOW);
	cr_expect_eq(check(acl, "127.0.0.2", 1000), ACL_DRY_RUN);
	cr_expect_eq(check(acl, "127.0.0.3", 1000), ACL_DRY_RUN);
	struct sockaddr_storage out = sa("127.0.0.4");
	cr_expect(acl_admit(acl, (struct sockaddr *)&out), "a dry run admits");
	struct acl_counters c;
	acl_counters_get(acl, &c);
	cr_expect_eq(c.refused, 0);
	cr_expect_eq(c.dry_run, 3);
	cr_expect_eq(c.logged, 3, "each source logged once");
	acl_free(acl);
}

Test(acl, an_empty_list_is_no_acl)
{
	struct acl *acl = (struct acl *)1;
	cr_expect_eq(acl_new("api", "--api-allow", NULL, 0, false, &acl), RS_EINVAL);
	cr_expect_null(acl);
}

Test(acl, each_source_is_logged_at_most_once_a_minute)
{
	const char *allow[] = {"127.0.0.1"};
	struct acl *acl = acl_of(allow, 1, false);
	struct acl_counters c;
	uint64_t t0 = 5000000;
	check(acl, "127.0.0.2", t0);
	for (int i = 1; i < 100; i++) {
		check(acl, "127.0.0.2", t0 + (uint64_t)i * 500); /* 50 s of refusals */
	}
	acl_counters_get(acl, &c);
	cr_expect_eq(c.refused, 100);
	cr_expect_eq(c.logged, 1, "one line for the first minute");
	check(acl, "127.0.0.3", t0 + 1000);
	check(acl, "2001:db8::7", t0 + 1000);
	acl_counters_get(acl, &c);
	cr_expect_eq(c.logged, 3, "other sources have lines of their own");
	check(acl, "127.0.0.2", t0 + ACL_LOG_INTERVAL_MS - 1);
	acl_counters_get(acl, &c);
	cr_expect_eq(c.logged, 3, "not before the minute is over");
	check(acl, "127.0.0.2", t0 + ACL_LOG_INTERVAL_MS);
	acl_counters_get(acl, &c);
	cr_expect_eq(c.logged, 4, "again after a minute");
	acl_free(acl);
}

Test(acl, lines_per_second_are_capped_and_the_rest_counted)
{
	const char *allow[] = {"127.0.0.1"};
	struct acl *acl = acl_of(allow, 1, false);
	for (uint32_t n = 0; n < ACL_LOG_BURST + 30; n++) {
		struct sockaddr_storage s = sa_n(n);
		acl_check(acl, (struct sockaddr *)&s, 7000); /* one second */
	}
	struct acl_counters c;
	acl_counters_get(acl, &c);
	cr_expect_eq(c.logged, ACL_LOG_BURST);
	cr_expect_eq(c.log_suppressed, 30);
	struct sockaddr_storage s = sa_n(ACL_LOG_BURST + 5); /* not logged yet */
	acl_check(acl, (struct sockaddr *)&s, 8000);
	acl_counters_get(acl, &c);
	cr_expect_eq(c.logged, ACL_LOG_BURST + 1, "the next second has a new budget");
	acl_free(acl);
}

Test(acl, a_flood_of_spoofed_sources_is_counted_in_fixed_memory)
{
	const char *allow[] = {"192.0.2.0/24"};
	struct acl *acl = acl_of(allow, 1, false);
	const uint32_t n = 200000;
	for (uint32_t i = 0; i < n; i++) {
		struct sockaddr_storage s = sa_n(i * 7919u);
		cr_assert_eq(acl_check(acl, (struct sockaddr *)&s, 1000 + i / 100), ACL_REFUSE);
	}
	struct acl_counters c;
	acl_counters_get(acl, &c);
	cr_expect_eq(c.refused, n);
	/* 2 s of flood (ms 1000 to 2999): at most ACL_LOG_BURST lines in each second. */
	cr_expect_leq(c.logged, 2 * ACL_LOG_BURST);
	cr_expect_eq(c.logged + c.log_suppressed, n, "every refusal is a line or counted");
	acl_free(acl);
}

struct flood {
	struct acl *acl;
	uint32_t base;
};

static void *flood_main(void *arg)
{
	struct flood *f = arg;
	for (uint32_t i = 0; i < 20000; i++) {
		struct sockaddr_storage s = sa_n(f->base + i % 300);
		acl_check(f->acl, (struct sockaddr *)&s, 1000 + i / 10);
	}
	return NULL;
}

Test(acl, counts_are_exact_from_several_threads)
{
	const char *allow[] = {"127.0.0.1"};
	struct acl *acl = acl_of(allow, 1, false);
	pthread_t th[4];
	struct flood f[4];
	for (int i = 0; i < 4; i++) {
		f[i] = (struct flood){acl, (uint32_t)i * 1000};
		cr_assert_eq(pthread_create(&th[i], NULL, flood_main, &f[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
	}
	struct acl_counters c;
	acl_counters_get(acl, &c);
	cr_expect_eq(c.refused, 80000);
	/* 1,200 sources over ms 1000..2999 (three seconds, the threads' clocks
	 * interleaved): the line budget holds whatever the order. */
	cr_expect_leq(c.logged, 3 * ACL_LOG_BURST);
	acl_free(acl);
}

/* ---- edges: prefixes refused at parse, other families, a clock going back --- */

Test(acl, prefix_typos_are_refused_at_parse)
{
	static const char *const bad[] = {"10.1.2.3/8", "10.0.0.0/33", "2001:db8::/129",
			"2001:db8::1/64", "10.0.0.0/", "10.0.0.0/8x", "/8", "", "host.example",
			"10.0.0.0/-1", "10.0.0.256"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rs_prefix p;
		cr_expect_eq(rs_prefix_parse(bad[i], &p), RS_EADDR, "\"%s\" parsed", bad[i]);
	}
	struct rs_prefix p;
	cr_assert_eq(rs_prefix_parse("0.0.0.0/0", &p), 0);
	cr_expect_eq(p.len, 0);
	cr_assert_eq(rs_prefix_parse("::/0", &p), 0);
	cr_expect_eq(p.len, 0);
	cr_assert_eq(rs_prefix_parse("2001:db8::", &p), 0);
	cr_expect_eq(p.len, 128, "an address alone is a host prefix");
}

Test(acl, a_peer_of_another_family_is_refused_and_counted)
{
	const char *allow[] = {"0.0.0.0/0", "::/0"};
	struct acl *acl = acl_of(allow, 2, false);
	struct sockaddr_storage un;
	memset(&un, 0, sizeof(un));
	un.ss_family = AF_UNIX;
	cr_expect_eq(acl_check(acl, (struct sockaddr *)&un, 1000), ACL_REFUSE,
			"not inside any IP prefix");
	cr_expect_eq(acl_check(acl, (struct sockaddr *)&un, 2000), ACL_REFUSE);
	struct acl_counters c;
	acl_counters_get(acl, &c);
	cr_expect_eq(c.refused, 2);
	cr_expect_eq(c.logged, 1, "the unknown source is one source");
	cr_expect_not(acl_admit(acl, (struct sockaddr *)&un));
	acl_free(acl);
	/* IPv6 sources near the IPv4-mapped form are IPv6 ones. */
	const char *v4only[] = {"0.0.0.0/0"};
	acl = acl_of(v4only, 1, false);
	cr_expect_eq(check(acl, "::1", 1000), ACL_REFUSE);
	cr_expect_eq(check(acl, "0:0:1::", 1000), ACL_REFUSE);
	cr_expect_eq(check(acl, "::fffe:10.0.0.1", 1000), ACL_REFUSE);
	cr_expect_eq(check(acl, "::ffff:10.0.0.1", 1000), ACL_ALLOW);
	acl_free(acl);
}

Test(acl, a_clock_that_goes_back_counts_as_no_time_passed)
{
	const char *allow[] = {"127.0.0.1"};
	struct acl *acl = acl_of(allow, 1, false);
	uint64_t t0 = 10u * ACL_LOG_INTERVAL_MS;
	check(acl, "127.0.0.2", t0);
	check(acl, "127.0.0.2", t0 - 5000); /* another thread's older reading */
	check(acl, "127.0.0.2", t0 - ACL_LOG_INTERVAL_MS);
	struct acl_counters c;
	acl_counters_get(acl, &c);
	cr_expect_eq(c.refused, 3);
	cr_expect_eq(c.logged, 1, "an earlier time never logs the source again");
	check(acl, "127.0.0.2", t0 + ACL_LOG_INTERVAL_MS);
	acl_counters_get(acl, &c);
	cr_expect_eq(c.logged, 2);
	acl_free(acl);
}

/* ---- the lines themselves (stderr, captured) -------------------------------- */

static void loud(void)
{
	rs_log_set_level(RS_LOG_NOTICE);
	cr_redirect_stderr();
}

TestSuite(acl_lines, .init = loud);

/* Everything written to stderr so far. */
static char *stderr_text(void)
{
	static char text[8192];
	fflush(stderr);
	FILE *f = cr_get_redirected_stderr();
	size_t len = fread(text, 1, sizeof(text) - 1, f);
	text[len] = '\0';
	return text;
}

Test(acl_lines, a_refusal_line_names_the_listener_source_and_flag)
{
	const char *allow[] = {"127.0.0.1"};
	struct acl *acl = acl_of(allow, 1, false);
	uint64_t t0 = 5000000;
	check(acl, "192.0.2.7", t0);
	for (int i = 1; i <= 4; i++) {
		check(acl, "192.0.2.7", t0 + (uint64_t)i * 1000);
	}
	check(acl, "192.0.2.7", t0 + ACL_LOG_INTERVAL_MS);
	const char *text = stderr_text();
	cr_expect(strstr(text, "acl: dns refused 192.0.2.7 (outside --dns-allow)") != NULL, "%s",
			text);
	cr_expect(strstr(text, "; 4 more from it, 0 from sources not logged") != NULL,
			"the second line counts the refusals it stood for: %s", text);
	cr_expect(strstr(text, "would refuse") == NULL);
	acl_free(acl);
}

Test(acl_lines, a_dry_run_line_says_it_served)
{
	const char *allow[] = {"10.0.0.0/8"};
	struct acl *acl = acl_of(allow, 1, true);
	cr_expect_eq(check(acl, "2001:db8::9", 1000), ACL_DRY_RUN);
	struct sockaddr_storage un;
	memset(&un, 0, sizeof(un));
	un.ss_family = AF_UNIX;
	cr_expect_eq(acl_check(acl, (struct sockaddr *)&un, 1000), ACL_DRY_RUN);
	const char *text = stderr_text();
	cr_expect(strstr(text, "acl: dns would refuse 2001:db8::9 (outside --dns-allow; "
			       "--acl-dry-run: served)") != NULL,
			"%s", text);
	cr_expect(strstr(text, "would refuse ? (outside") != NULL, "an unknown source: %s", text);
	cr_expect(strstr(text, " refused ") == NULL, "a dry run never says refused");
	acl_free(acl);
}
