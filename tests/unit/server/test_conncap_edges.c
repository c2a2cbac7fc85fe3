/*
 * The admission table's edges: caps of zero, a fresh table asked about a
 * source, a ticket from before a deinit given back to a table in use
 * again, and a table that cannot grow (tests/faults/allocfail.h): it keeps
 * admitting new sources while it has an empty slot, refuses them as
 * CONNCAP_NO_MEMORY once it has none, never refuses a known source for
 * it, and grows again once memory is back.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "allocfail.h"
#include "server/net/conncap.h"

#define SA(ss) ((const struct sockaddr *)&(ss))

/* 10.0.0.0 + n */
static struct sockaddr_storage v4n(uint32_t n)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(0x0a000000u + n);
	return ss;
}

Test(conncap_edges, caps_of_zero_refuse_everyone)
{
	struct conncap cap;
	conncap_init(&cap);
	struct sockaddr_storage a = v4n(1);
	struct conncap_ticket t = {0};
	const struct conncap_limits none = {0, 10}, no_source = {10, 0};
	cr_expect_eq(conncap_admit(&cap, SA(a), &none, &t), CONNCAP_OVER_TOTAL);
	cr_expect_eq(conncap_admit(&cap, SA(a), &no_source, &t), CONNCAP_OVER_SOURCE);
	cr_expect_not(t.held);
	cr_expect_eq(cap.open, 0);
	cr_expect_eq(cap.sources, 0);
	cr_expect_eq(cap.size, 0, "a refusal allocates nothing");
	conncap_deinit(&cap);
}

Test(conncap_edges, a_fresh_table_counts_no_one)
{
	struct conncap cap;
	conncap_init(&cap);
	struct sockaddr_storage a = v4n(1);
	cr_expect_eq(conncap_source_open(&cap, SA(a)), 0);
	cr_expect_eq(conncap_source_open(&cap, NULL), 0);
	conncap_deinit(&cap);
}

Test(conncap_edges, a_ticket_from_before_a_deinit_gives_back_nothing)
{
	struct conncap cap;
	conncap_init(&cap);
	const struct conncap_limits lim = {10, 10};
	struct sockaddr_storage a = v4n(1), b = v4n(2);
	struct conncap_ticket ta = {0}, tb = {0};
	cr_assert_eq(conncap_admit(&cap, SA(a), &lim, &ta), CONNCAP_ADMIT);
	conncap_deinit(&cap);
	cr_assert_eq(conncap_admit(&cap, SA(b), &lim, &tb), CONNCAP_ADMIT);
	conncap_release(&cap, &ta); /* its source is not in the new table */
	cr_expect_not(ta.held);
	cr_expect_eq(cap.open, 1, "b's connection is still counted");
	cr_expect_eq(conncap_source_open(&cap, SA(b)), 1);
	conncap_release(&cap, &tb);
	cr_expect_eq(cap.open, 0);
	cr_expect_eq(cap.sources, 0);
	conncap_deinit(&cap);
}

Test(conncap_edges, a_table_that_cannot_grow_admits_until_it_is_full)
{
	enum { N = 80 };
	struct conncap cap;
	conncap_init(&cap);
	const struct conncap_limits lim = {1000, 2};
	struct conncap_ticket t[N + 1];
	memset(t, 0, sizeof(t));
	struct sockaddr_storage s = v4n(0);
	cr_assert_eq(conncap_admit(&cap, SA(s), &lim, &t[0]), CONNCAP_ADMIT);
	uint32_t size = cap.size;
	cr_assert_gt(size, 0);
	allocfail_arm_from(1);
	uint32_t k = 1;
	enum conncap_verdict v = CONNCAP_ADMIT;
	for (; k < N && v == CONNCAP_ADMIT; k++) {
		s = v4n(k);
		v = conncap_admit(&cap, SA(s), &lim, &t[k]);
	}
	bool struck = allocfail_struck();
	cr_expect(struck, "the table tried to grow");
	cr_expect_eq(v, CONNCAP_NO_MEMORY);
	cr_expect_eq(cap.size, size, "it did not grow");
	cr_expect_eq(cap.sources, size - 1, "every slot but one: the probe still ends");
	cr_expect_eq(cap.open, size - 1);
	/* A known source is counted without growing. */
	struct sockaddr_storage first = v4n(0);
	struct conncap_ticket again = {0};
	cr_expect_eq(conncap_admit(&cap, SA(first), &lim, &again), CONNCAP_ADMIT);
	allocfail_disarm();
	s = v4n(N);
	cr_expect_eq(conncap_admit(&cap, SA(s), &lim, &t[N]), CONNCAP_ADMIT, "memory is back");
	cr_expect_gt(cap.size, size);
	for (uint32_t j = 0; j < size - 1; j++) {
		struct sockaddr_storage q = v4n(j);
		cr_expect_eq(conncap_source_open(&cap, SA(q)), j == 0 ? 2 : 1, "source %u", j);
	}
	conncap_release(&cap, &again);
	for (uint32_t j = 0; j <= N; j++) {
		conncap_release(&cap, &t[j]);
	}
	cr_expect_eq(cap.open, 0);
	cr_expect_eq(cap.sources, 0);
	conncap_deinit(&cap);
}
