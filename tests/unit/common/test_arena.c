#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "common/arena.h"

Test(arena, allocations_are_aligned_and_distinct)
{
	struct rs_arena a;
	rs_arena_init(&a, 1024);
	char *p = rs_arena_alloc(&a, 3);
	char *q = rs_arena_alloc(&a, 5);
	cr_assert_not_null(p);
	cr_assert_not_null(q);
	cr_expect_neq(p, q);
	cr_expect_eq((uintptr_t)q % _Alignof(max_align_t), 0);
	memset(p, 1, 3);
	memset(q, 2, 5);
	cr_expect_eq(p[2], 1);
	rs_arena_deinit(&a);
}

Test(arena, reset_reuses_blocks)
{
	struct rs_arena a;
	rs_arena_init(&a, 1024);
	void *first = rs_arena_alloc(&a, 100);
	for (int i = 0; i < 100; i++) {
		cr_assert_not_null(rs_arena_alloc(&a, 100));
	}
	rs_arena_reset(&a);
	cr_expect_eq(a.used, 0);
	void *again = rs_arena_alloc(&a, 100);
	cr_expect_not_null(again);
	cr_expect_not_null(a.free, "spare blocks kept for reuse");
	(void)first;
	rs_arena_deinit(&a);
}

Test(arena, oversized_request_gets_its_own_block)
{
	struct rs_arena a;
	rs_arena_init(&a, 256);
	char *big = rs_arena_alloc(&a, 100000);
	cr_assert_not_null(big);
	memset(big, 7, 100000);
	rs_arena_reset(&a);
	rs_arena_deinit(&a);
}
