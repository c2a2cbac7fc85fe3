#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "client/cli/ringowner.h"
#include "client/inst.h"
#include "common/ring.h"

static struct roster_result *ring_of(const char *const hosts[], size_t n, enum roster_status st)
{
	struct roster_result *r = inst_result_new(n);
	for (size_t i = 0; i < n; i++) {
		struct roster_instance in = {.service = "s",
				.protocol = "p",
				.host = hosts[i],
				.port = 1234,
				.status = st};
		cr_assert_eq(inst_pack(&r->instances[i], &in), 0);
		r->n_instances++;
	}
	return r;
}

Test(ringowner, owner_is_the_first_point_at_or_after_the_key)
{
	const char *hosts[] = {"a.example.net.", "b.example.net.", "c.example.net."};
	struct roster_result *r = ring_of(hosts, 3, ROSTER_UP);
	struct ringowner o;
	cr_assert_eq(ringowner_find(r, "d34db33f", &o), 0);
	cr_expect_eq(o.points, 3 * RS_RING_VNODES);
	cr_expect_eq(o.key_token, rs_ring_hash("d34db33f", 8));
	/* Brute force: the smallest token >= key, else the smallest token. */
	uint32_t best = UINT32_MAX, lowest = UINT32_MAX;
	const char *best_host = NULL, *low_host = NULL;
	for (size_t i = 0; i < 3; i++) {
		for (unsigned v = 0; v < RS_RING_VNODES; v++) {
			uint32_t t = rs_ring_token(hosts[i], 1234, v);
			if (t >= o.key_token && t < best) {
				best = t;
				best_host = hosts[i];
			}
			if (t < lowest) {
				lowest = t;
				low_host = hosts[i];
			}
		}
	}
	cr_expect_eq(o.token, best_host != NULL ? best : lowest);
	cr_expect_str_eq(o.host, best_host != NULL ? best_host : low_host);
	cr_expect_eq(rs_ring_token(o.host, 1234, o.vnode), o.token);
	roster_result_free(r);
}

Test(ringowner, host_names_are_canonicalised_and_down_is_off_the_ring)
{
	const char *upper[] = {"A.Example.NET"};
	const char *canon[] = {"a.example.net."};
	struct roster_result *r1 = ring_of(upper, 1, ROSTER_UP);
	struct roster_result *r2 = ring_of(canon, 1, ROSTER_UP);
	struct ringowner o1, o2;
	cr_assert_eq(ringowner_find(r1, "k", &o1), 0);
	cr_assert_eq(ringowner_find(r2, "k", &o2), 0);
	cr_expect_eq(o1.token, o2.token);
	cr_expect_str_eq(o1.host, "a.example.net.");
	roster_result_free(r1);
	roster_result_free(r2);
	struct roster_result *down = ring_of(canon, 1, ROSTER_DOWN);
	cr_expect_eq(ringowner_find(down, "k", &o1), ROSTER_ENOENT);
	roster_result_free(down);
}
