#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"

Test(buf, appenders_and_steal)
{
	struct rs_buf b;
	rs_buf_init(&b);
	rs_buf_str(&b, "ttl=");
	rs_buf_u64(&b, 0);
	rs_buf_chr(&b, ' ');
	rs_buf_u64(&b, UINT64_MAX);
	rs_buf_add(&b, " x", 2);
	rs_buf_printf(&b, " %s=%d", "n", -5);
	cr_assert_eq(rs_buf_error(&b), 0);
	const char want[] = "ttl=0 18446744073709551615 x n=-5";
	cr_expect_eq(b.len, strlen(want));
	cr_expect(memcmp(b.data, want, b.len) == 0);
	size_t len = 0;
	char *d = rs_buf_steal(&b, &len);
	cr_expect_eq(len, strlen(want));
	cr_expect_null(b.data, "empty after steal");
	cr_expect_eq(b.len, 0);
	free(d);
	rs_buf_deinit(&b);
}

Test(buf, zero_initialised_is_empty_and_steal_of_nothing_is_null)
{
	struct rs_buf b = {0};
	size_t len = 9;
	cr_expect_null(rs_buf_steal(&b, &len));
	cr_expect_eq(len, 0);
	rs_buf_deinit(&b);
	rs_buf_deinit(NULL);
}

Test(buf, printf_larger_than_the_free_space_grows_once_and_is_whole)
{
	struct rs_buf b;
	rs_buf_init(&b);
	char big[5000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	rs_buf_str(&b, "<");
	rs_buf_printf(&b, "%s>", big);
	cr_assert_eq(rs_buf_error(&b), 0);
	cr_expect_eq(b.len, 1 + 4999 + 1);
	cr_expect_eq(b.data[0], '<');
	cr_expect_eq(b.data[4999], 'a');
	cr_expect_eq(b.data[5000], '>');
	rs_buf_deinit(&b);
}

Test(buf, reset_keeps_memory_and_forgets_failure)
{
	struct rs_buf b;
	rs_buf_init(&b);
	rs_buf_str(&b, "hello");
	char *mem = b.data;
	rs_buf_reset(&b);
	cr_expect_eq(b.len, 0);
	cr_expect_eq(b.data, mem);
	b.err = RS_ENOMEM;
	rs_buf_reset(&b);
	cr_expect_eq(rs_buf_error(&b), 0);
	rs_buf_deinit(&b);
}

Test(buf, failure_is_sticky_and_appends_nothing)
{
	struct rs_buf b;
	rs_buf_init(&b);
	rs_buf_str(&b, "ok");
	cr_expect_not(rs_buf_reserve(&b, SIZE_MAX), "len + more overflows");
	cr_expect_eq(rs_buf_error(&b), RS_ENOMEM);
	rs_buf_reset(&b);
	rs_buf_str(&b, "ok");
	cr_expect_not(rs_buf_reserve(&b, (size_t)PTRDIFF_MAX - 1), "over the largest object");
	cr_expect_eq(rs_buf_error(&b), RS_ENOMEM);
	rs_buf_str(&b, "more");
	rs_buf_chr(&b, 'x');
	rs_buf_u64(&b, 12);
	rs_buf_printf(&b, "%d", 7);
	cr_expect_eq(b.len, 2, "nothing appended after a failure");
	cr_expect_not(rs_buf_reserve(&b, 1));
	rs_buf_deinit(&b);
}

Test(buf, reserve_lets_the_caller_write_in_place)
{
	struct rs_buf b;
	rs_buf_init(&b);
	cr_assert(rs_buf_reserve(&b, 10000));
	cr_expect_geq(b.cap, 10000);
	memset(b.data, 'z', 10000);
	b.len = 10000;
	cr_assert(rs_buf_reserve(&b, 1));
	cr_expect_eq(b.data[9999], 'z');
	rs_buf_deinit(&b);
}

struct elem {
	uint64_t a, b;
};

Test(array, grows_by_doubling_and_keeps_contents)
{
	struct elem *v = NULL;
	size_t cap = 0, n = 0;
	size_t caps_seen = 0, last_cap = 0;
	for (size_t i = 0; i < 1000; i++) {
		cr_assert_eq(RS_ARRAY_GROW(v, cap, n + 1), 0);
		if (cap != last_cap) {
			caps_seen++;
			last_cap = cap;
		}
		v[n++] = (struct elem){i, 2 * i};
	}
	cr_expect_geq(cap, 1000);
	cr_expect_leq(caps_seen, 9, "4, 8, ... 1024: doubling, not one per append");
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(v[i].a, i);
		cr_assert_eq(v[i].b, 2 * i);
	}
	free(v);
}

Test(array, a_large_need_is_met_at_once_and_small_needs_do_nothing)
{
	int *v = NULL;
	size_t cap = 0;
	cr_assert_eq(RS_ARRAY_GROW(v, cap, 5000), 0);
	cr_expect_eq(cap, 5000);
	int *same = v;
	cr_assert_eq(RS_ARRAY_GROW(v, cap, 10), 0);
	cr_expect_eq(v, same);
	cr_expect_eq(cap, 5000);
	free(v);
}

struct overflow_case {
	size_t cap;
	size_t need;
	size_t elem;
};

ParameterizedTestParameters(array, overflowing_sizes_are_refused_and_change_nothing)
{
	static struct overflow_case cases[] = {
			{0, SIZE_MAX, 1},         /* more than any allocation */
			{0, SIZE_MAX / 8 + 1, 8}, /* need * elem overflows */
			{0, (SIZE_MAX >> 1) + 2, 2},
			{0, (size_t)PTRDIFF_MAX / 4 + 1, 4}, /* over the largest object */
			{0, 1, 0}, /* a zero-size element is a caller's bug, not a crash */
	};
	return cr_make_param_array(struct overflow_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct overflow_case *c, array, overflowing_sizes_are_refused_and_change_nothing)
{
	void *p = NULL;
	size_t cap = c->cap;
	cr_expect_eq(rs_array_grow(&p, &cap, c->need, c->elem), RS_ENOMEM);
	cr_expect_null(p);
	cr_expect_eq(cap, c->cap);
}
