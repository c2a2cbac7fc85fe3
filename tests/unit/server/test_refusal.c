/*
 * The refusal log's rate limit (server/dns/refusal.c): once a minute per
 * source address and reason, and a bounded table.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "server/dns/refusal.h"

static struct sockaddr_storage v4(const char *text, uint16_t port)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	cr_assert_eq(inet_pton(AF_INET, text, &sin->sin_addr), 1);
	return ss;
}

Test(refusal, once_a_minute_per_source_and_reason)
{
	struct refusal_log l;
	refusal_init(&l);
	struct sockaddr_storage a = v4("192.0.2.1", 1000), a2 = v4("192.0.2.1", 2000);
	struct sockaddr_storage b = v4("192.0.2.2", 1000);
	struct sockaddr_in6 six = {.sin6_family = AF_INET6};
	inet_pton(AF_INET6, "2001:db8::1", &six.sin6_addr);
	const struct sockaddr *sa = (const struct sockaddr *)&a;
	cr_expect(refusal_admit(&l, sa, 5, 1000));
	cr_expect_not(refusal_admit(&l, sa, 5, 2000), "again within the minute");
	cr_expect_not(refusal_admit(&l, (const struct sockaddr *)&a2, 5, 2000), "another port");
	cr_expect(refusal_admit(&l, sa, 6, 2000), "another reason");
	cr_expect(refusal_admit(&l, (const struct sockaddr *)&b, 5, 2000), "another source");
	cr_expect(refusal_admit(&l, (const struct sockaddr *)&six, 5, 2000), "IPv6");
	cr_expect_not(refusal_admit(&l, sa, 5, 1000 + REFUSAL_QUIET_MS - 1));
	cr_expect(refusal_admit(&l, sa, 5, 1000 + REFUSAL_QUIET_MS), "a minute later");
	cr_expect_not(refusal_admit(&l, NULL, 5, 1000));
	cr_expect_eq(l.suppressed, 0);
	refusal_deinit(&l);
}

/* A flood from more sources than slots: at most REFUSAL_SLOTS lines a
 * minute, the rest counted; a minute later the slots are reused. */
Test(refusal, a_full_table_suppresses)
{
	struct refusal_log l;
	refusal_init(&l);
	unsigned admitted = 0;
	for (unsigned i = 0; i < 3 * REFUSAL_SLOTS; i++) {
		char text[32];
		snprintf(text, sizeof(text), "10.0.%u.%u", i / 256, i % 256);
		struct sockaddr_storage s = v4(text, 53);
		admitted += refusal_admit(&l, (const struct sockaddr *)&s, 1, 5000 + i);
	}
	cr_expect_eq(admitted, REFUSAL_SLOTS);
	cr_expect_eq(l.suppressed, 2 * REFUSAL_SLOTS);
	struct sockaddr_storage s = v4("10.9.9.9", 53);
	cr_expect(refusal_admit(&l, (const struct sockaddr *)&s, 1, 5000 + REFUSAL_QUIET_MS));
	refusal_deinit(&l);
}
