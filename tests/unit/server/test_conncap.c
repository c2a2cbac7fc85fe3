/*
 * The admission table of the TCP listeners: counts per source and in all,
 * the caps, IPv6 grouped by /64, places given back on release, and a table
 * that stays correct through growth and many deletions.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "server/net/conncap.h"

static struct sockaddr_storage v4(const char *text, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	cr_assert_eq(inet_pton(AF_INET, text, &sin->sin_addr), 1, "%s", text);
	return ss;
}

static struct sockaddr_storage v6(const char *text, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	cr_assert_eq(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1, "%s", text);
	return ss;
}

/* An IPv4 address from a number (10.0.0.0 + n). */
static struct sockaddr_storage v4n(uint32_t n)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(0x0a000000u + n);
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static const struct conncap_limits roomy = {1000000, 1000000};

Test(conncap, admit_counts_and_release_gives_back)
{
	struct conncap cap;
	conncap_init(&cap);
	struct sockaddr_storage a = v4("192.0.2.1", 1000), b = v4("192.0.2.2", 1000);
	struct conncap_ticket t[3] = {0};
	cr_assert_eq(conncap_admit(&cap, SA(a), &roomy, &t[0]), CONNCAP_ADMIT);
	cr_assert_eq(conncap_admit(&cap, SA(a), &roomy, &t[1]), CONNCAP_ADMIT);
	cr_assert_eq(conncap_admit(&cap, SA(b), &roomy, &t[2]), CONNCAP_ADMIT);
	cr_expect(t[0].held && t[1].held && t[2].held);
	cr_expect_eq(cap.open, 3);
	cr_expect_eq(cap.sources, 2);
	/* The port is not part of the source. */
	struct sockaddr_storage a2 = v4("192.0.2.1", 2000);
	cr_expect_eq(conncap_source_open(&cap, SA(a2)), 2);
	cr_expect_eq(conncap_source_open(&cap, SA(b)), 1);
	conncap_release(&cap, &t[0]);
	cr_expect_not(t[0].held);
	cr_expect_eq(conncap_source_open(&cap, SA(a)), 1);
	cr_expect_eq(cap.open, 2);
	/* A second release of the same ticket changes nothing. */
	conncap_release(&cap, &t[0]);
	cr_expect_eq(conncap_source_open(&cap, SA(a)), 1);
	cr_expect_eq(cap.open, 2);
	conncap_release(&cap, &t[1]);
	conncap_release(&cap, &t[2]);
	cr_expect_eq(cap.open, 0);
	cr_expect_eq(cap.sources, 0);
	cr_expect_eq(conncap_source_open(&cap, SA(a)), 0);
	cr_expect_eq(conncap_source_open(&cap, SA(b)), 0);
	conncap_deinit(&cap);
}

Test(conncap, per_source_cap_refuses_that_source_only)
{
	struct conncap cap;
	conncap_init(&cap);
	const struct conncap_limits lim = {100, 2};
	struct sockaddr_storage a = v4("127.0.0.1", 1), b = v4("127.0.0.2", 1);
	struct conncap_ticket t[4] = {0};
	cr_assert_eq(conncap_admit(&cap, SA(a), &lim, &t[0]), CONNCAP_ADMIT);
	cr_assert_eq(conncap_admit(&cap, SA(a), &lim, &t[1]), CONNCAP_ADMIT);
	struct conncap_ticket refused = {0};
	cr_expect_eq(conncap_admit(&cap, SA(a), &lim, &refused), CONNCAP_OVER_SOURCE);
	cr_expect_not(refused.held, "a refused connection holds nothing");
	cr_expect_eq(cap.open, 2);
	cr_expect_eq(conncap_source_open(&cap, SA(a)), 2);
	/* Another source is still served. */
	cr_expect_eq(conncap_admit(&cap, SA(b), &lim, &t[2]), CONNCAP_ADMIT);
	/* Releasing the refused ticket must not free a place. */
	conncap_release(&cap, &refused);
	cr_expect_eq(conncap_source_open(&cap, SA(a)), 2);
	cr_expect_eq(conncap_admit(&cap, SA(a), &lim, &t[3]), CONNCAP_OVER_SOURCE);
	/* A smaller cap (a SIGHUP) refuses new ones; admitted ones stay. */
	const struct conncap_limits one = {100, 1};
	cr_expect_eq(conncap_admit(&cap, SA(b), &one, &t[3]), CONNCAP_OVER_SOURCE);
	cr_expect_eq(conncap_source_open(&cap, SA(b)), 1);
	conncap_deinit(&cap);
}

Test(conncap, global_cap_is_checked_first_and_keeps_refused_out)
{
	struct conncap cap;
	conncap_init(&cap);
	const struct conncap_limits lim = {3, 2};
	struct conncap_ticket t[3] = {0};
	for (uint32_t k = 0; k < 3; k++) {
		struct sockaddr_storage s = v4n(k);
		cr_assert_eq(conncap_admit(&cap, SA(s), &lim, &t[k]), CONNCAP_ADMIT);
	}
	struct sockaddr_storage fresh = v4n(99), first = v4n(0);
	struct conncap_ticket x = {0};
	cr_expect_eq(conncap_admit(&cap, SA(fresh), &lim, &x), CONNCAP_OVER_TOTAL);
	/* Global before per-source: a source under its own cap gets OVER_TOTAL. */
	cr_expect_eq(conncap_admit(&cap, SA(first), &lim, &x), CONNCAP_OVER_TOTAL);
	cr_expect_eq(cap.sources, 3, "a refused source never enters the table");
	cr_expect_eq(conncap_source_open(&cap, SA(fresh)), 0);
	conncap_release(&cap, &t[1]);
	cr_expect_eq(conncap_admit(&cap, SA(fresh), &lim, &x), CONNCAP_ADMIT);
	cr_expect_eq(cap.open, 3);
	conncap_deinit(&cap);
}

Test(conncap, reuse_after_release)
{
	struct conncap cap;
	conncap_init(&cap);
	const struct conncap_limits lim = {1000, 3};
	struct sockaddr_storage a = v4("198.51.100.7", 53);
	struct conncap_ticket t[3] = {0};
	/* Fill, free, fill again, many times: the count never drifts. */
	for (int round = 0; round < 100; round++) {
		for (int k = 0; k < 3; k++) {
			cr_assert_eq(conncap_admit(&cap, SA(a), &lim, &t[k]), CONNCAP_ADMIT,
					"round %d k %d", round, k);
		}
		struct conncap_ticket x = {0};
		cr_assert_eq(conncap_admit(&cap, SA(a), &lim, &x), CONNCAP_OVER_SOURCE);
		conncap_release(&cap, &t[round % 3]);
		cr_assert_eq(conncap_admit(&cap, SA(a), &lim, &t[round % 3]), CONNCAP_ADMIT);
		for (int k = 0; k < 3; k++) {
			conncap_release(&cap, &t[k]);
		}
		cr_assert_eq(cap.open, 0);
		cr_assert_eq(cap.sources, 0);
	}
	conncap_deinit(&cap);
}

Test(conncap, ipv6_grouped_by_slash_64)
{
	struct conncap cap;
	conncap_init(&cap);
	const struct conncap_limits lim = {1000, 2};
	struct sockaddr_storage a = v6("2001:db8:1:2::1", 1);
	struct sockaddr_storage b = v6("2001:db8:1:2:ffff:eeee:dddd:cccc", 2);
	struct sockaddr_storage c = v6("2001:db8:1:2:1234::9", 3);
	struct sockaddr_storage other = v6("2001:db8:1:3::1", 1); /* the next /64 */
	struct conncap_ticket t[4] = {0};
	cr_assert_eq(conncap_admit(&cap, SA(a), &lim, &t[0]), CONNCAP_ADMIT);
	cr_assert_eq(conncap_admit(&cap, SA(b), &lim, &t[1]), CONNCAP_ADMIT);
	cr_expect_eq(conncap_source_open(&cap, SA(c)), 2, "one /64, one source");
	cr_expect_eq(conncap_admit(&cap, SA(c), &lim, &t[2]), CONNCAP_OVER_SOURCE);
	cr_expect_eq(conncap_admit(&cap, SA(other), &lim, &t[3]), CONNCAP_ADMIT);
	cr_expect_eq(cap.sources, 2);
	struct conncap_source sa, sc;
	conncap_source_of(SA(a), &sa);
	conncap_source_of(SA(c), &sc);
	cr_expect_eq(memcmp(&sa, &sc, sizeof(sa)), 0);
	conncap_deinit(&cap);
}

Test(conncap, families_and_unknown_peers_are_distinct_sources)
{
	struct conncap cap;
	conncap_init(&cap);
	const struct conncap_limits lim = {1000, 1};
	/* ::1's /64 is ::/64, all zero in its first half: it must not collide
	 * with an IPv4 source nor with the unknown one. */
	struct sockaddr_storage lo6 = v6("::1", 1), lo4 = v4("127.0.0.1", 1);
	struct sockaddr_storage zero4 = v4("0.0.0.0", 1);
	struct sockaddr_storage mapped = v6("::ffff:127.0.0.1", 1);
	struct conncap_ticket t[5] = {0};
	cr_assert_eq(conncap_admit(&cap, SA(lo6), &lim, &t[0]), CONNCAP_ADMIT);
	cr_assert_eq(conncap_admit(&cap, SA(lo4), &lim, &t[1]), CONNCAP_ADMIT);
	cr_assert_eq(conncap_admit(&cap, SA(zero4), &lim, &t[2]), CONNCAP_ADMIT);
	cr_assert_eq(conncap_admit(&cap, NULL, &lim, &t[3]), CONNCAP_ADMIT);
	/* An IPv4-mapped IPv6 peer is its IPv4 address, not ::/64. */
	struct conncap_source sm, s4, s6;
	conncap_source_of(SA(mapped), &sm);
	conncap_source_of(SA(lo4), &s4);
	conncap_source_of(SA(lo6), &s6);
	cr_expect_eq(memcmp(&sm, &s4, sizeof(sm)), 0);
	cr_expect_neq(memcmp(&sm, &s6, sizeof(sm)), 0);
	cr_expect_eq(conncap_admit(&cap, SA(mapped), &lim, &t[4]), CONNCAP_OVER_SOURCE);
	cr_expect_eq(conncap_source_open(&cap, SA(mapped)), 1);
	/* Unknown peers share one source; so does a family we do not know. */
	struct sockaddr_storage unix_sa = {.ss_family = AF_UNIX};
	cr_expect_eq(conncap_admit(&cap, SA(unix_sa), &lim, &t[4]), CONNCAP_OVER_SOURCE);
	cr_expect_eq(cap.sources, 4);
	conncap_deinit(&cap);
}

/* Many distinct sources: the table grows, and every count stays right
 * through deletions in a scattered order (backward-shift deletion must not
 * cut any probe run). */
Test(conncap, many_distinct_sources)
{
	enum { N = 50000 };
	struct conncap cap;
	conncap_init(&cap);
	struct conncap_ticket *t = calloc(2 * N, sizeof(*t));
	cr_assert_not_null(t);
	const struct conncap_limits lim = {3 * N, 2};
	for (uint32_t k = 0; k < N; k++) {
		struct sockaddr_storage s = v4n(k);
		cr_assert_eq(conncap_admit(&cap, SA(s), &lim, &t[2 * k]), CONNCAP_ADMIT, "%u", k);
		if (k % 3 == 0) {
			cr_assert_eq(conncap_admit(&cap, SA(s), &lim, &t[2 * k + 1]),
					CONNCAP_ADMIT);
		}
	}
	cr_expect_eq(cap.sources, N);
	cr_expect_leq(cap.sources * 2, cap.size, "at most half full");
	/* Release every other source, in a scattered order. */
	for (uint32_t j = 0; j < N; j++) {
		/* j * 7919 mod N is a permutation: 7919 is a prime not dividing N. */
		uint32_t k = (uint32_t)(((uint64_t)j * 7919u) % N);
		if (k % 2 == 0) {
			conncap_release(&cap, &t[2 * k]);
			conncap_release(&cap, &t[2 * k + 1]);
		}
	}
	cr_expect_eq(cap.sources, N / 2);
	for (uint32_t k = 0; k < N; k++) {
		struct sockaddr_storage s = v4n(k);
		uint32_t want = k % 2 == 0 ? 0 : (k % 3 == 0 ? 2 : 1);
		cr_assert_eq(conncap_source_open(&cap, SA(s)), want, "source %u", k);
	}
	/* The survivors still hit their cap; the released have room again. */
	struct sockaddr_storage s3 = v4n(3), s4 = v4n(4);
	struct conncap_ticket x = {0};
	cr_expect_eq(conncap_admit(&cap, SA(s3), &lim, &x), CONNCAP_OVER_SOURCE);
	cr_expect_eq(conncap_admit(&cap, SA(s4), &lim, &x), CONNCAP_ADMIT);
	conncap_release(&cap, &x);
	for (uint32_t k = 0; k < N; k++) {
		conncap_release(&cap, &t[2 * k]);
		conncap_release(&cap, &t[2 * k + 1]);
	}
	cr_expect_eq(cap.open, 0);
	cr_expect_eq(cap.sources, 0);
	free(t);
	conncap_deinit(&cap);
}

Test(conncap, deinit_is_null_safe_and_release_after_it_harmless)
{
	conncap_deinit(NULL);
	struct conncap cap;
	conncap_init(&cap);
	struct sockaddr_storage a = v4("192.0.2.9", 1);
	struct conncap_ticket t = {0};
	cr_assert_eq(conncap_admit(&cap, SA(a), &roomy, &t), CONNCAP_ADMIT);
	conncap_deinit(&cap);
	conncap_release(&cap, &t);
	cr_expect_not(t.held);
	cr_expect_eq(cap.open, 0);
	conncap_deinit(&cap);
}
