/* common/hist: which bucket a value falls in (bounds are inclusive), counts
 * of several events at once, and adding histograms. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "common/hist.h"

/* The one bucket of @p h that is not empty; -1 if none or several. */
static int only_bucket(const struct rs_hist *h)
{
	int found = -1;
	for (int i = 0; i <= RS_HIST_NBOUNDS; i++) {
		if (h->buckets[i] != 0) {
			if (found >= 0) {
				return -1;
			}
			found = i;
		}
	}
	return found;
}

Test(hist, a_value_on_a_bound_falls_in_that_bound_s_bucket)
{
	for (unsigned i = 0; i < RS_HIST_NBOUNDS; i++) {
		struct rs_hist on = {0}, above = {0};
		rs_hist_observe(&on, rs_hist_bound(i), 1);
		rs_hist_observe(&above, rs_hist_bound(i) + 1, 1);
		cr_expect_eq(only_bucket(&on), (int)i, "bound %u", i);
		cr_expect_eq(only_bucket(&above), (int)i + 1, "above bound %u", i);
	}
}

Test(hist, bounds_rise_from_50us_to_1s_then_infinity)
{
	cr_expect_eq(rs_hist_bound(0), 50000);
	cr_expect_eq(rs_hist_bound(RS_HIST_NBOUNDS - 1), 1000000000);
	for (unsigned i = 1; i < RS_HIST_NBOUNDS; i++) {
		cr_expect_gt(rs_hist_bound(i), rs_hist_bound(i - 1));
	}
	cr_expect_eq(rs_hist_bound(RS_HIST_NBOUNDS), UINT64_MAX);
	cr_expect_eq(rs_hist_bound(1000), UINT64_MAX);
}

Test(hist, zero_and_huge_values_land_in_the_end_buckets)
{
	struct rs_hist h = {0};
	rs_hist_observe(&h, 0, 1);
	rs_hist_observe(&h, UINT64_C(5000000000), 1);
	cr_expect_eq(h.buckets[0], 1);
	cr_expect_eq(h.buckets[RS_HIST_NBOUNDS], 1);
	cr_expect_eq(h.count, 2);
	cr_expect_eq(h.sum_ns, UINT64_C(5000000000));
}

Test(hist, n_events_count_n_times_in_bucket_count_and_sum)
{
	struct rs_hist h = {0};
	rs_hist_observe(&h, 200000, 7);
	rs_hist_observe(&h, 60000, 3);
	cr_expect_eq(h.buckets[2], 7);
	cr_expect_eq(h.buckets[1], 3);
	cr_expect_eq(h.count, 10);
	cr_expect_eq(h.sum_ns, 200000 * 7 + 60000 * 3);
	rs_hist_observe(&h, 60000, 0);
	cr_expect_eq(h.count, 10, "zero events count nothing");
}

Test(hist, add_sums_every_bucket_count_and_sum)
{
	struct rs_hist a = {0}, b = {0};
	rs_hist_observe(&a, 10, 1);
	rs_hist_observe(&a, UINT64_C(2000000000), 2);
	rs_hist_observe(&b, 10, 4);
	rs_hist_observe(&b, 3000000, 5);
	struct rs_hist sum = a;
	rs_hist_add(&sum, &b);
	cr_expect_eq(sum.buckets[0], 5);
	cr_expect_eq(sum.buckets[6], 5);
	cr_expect_eq(sum.buckets[RS_HIST_NBOUNDS], 2);
	cr_expect_eq(sum.count, a.count + b.count);
	cr_expect_eq(sum.sum_ns, a.sum_ns + b.sum_ns);
	struct rs_hist zero = {0};
	rs_hist_add(&sum, &zero);
	cr_expect_eq(sum.count, 12);
}
