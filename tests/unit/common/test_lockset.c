#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>

#include "common/lockset.h"

Test(lockset, slots_on_their_own_cache_lines)
{
	struct rs_lockset l;
	cr_assert_eq(rs_lockset_init(&l, 3), 0);
	cr_expect_eq(l.n, 3);
	for (size_t k = 0; k < l.n; k++) {
		cr_expect_eq((uintptr_t)&l.slots[k] % 64, 0, "slot %zu", k);
	}
	cr_expect_geq((uintptr_t)&l.slots[1] - (uintptr_t)&l.slots[0], 64);
	rs_lockset_destroy(&l);
	cr_expect_null(l.slots);
	rs_lockset_destroy(&l); /* twice is safe */
	rs_lockset_destroy(NULL);
}

/* Two readers check that a pair the writer changes together is never seen
 * half changed; the writer moves it many times. */
struct shared {
	struct rs_lockset lock;
	uint64_t a, b;
	volatile int stop;
	uint64_t torn, reads;
};

struct reader {
	struct shared *s;
	size_t slot;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct shared *s = r->s;
	uint64_t torn = 0, reads = 0;
	while (!s->stop) {
		rs_lockset_read_lock(&s->lock, r->slot);
		uint64_t a = s->a;
		uint64_t b = s->b;
		rs_lockset_read_unlock(&s->lock, r->slot);
		torn += a != b;
		reads++;
	}
	rs_lockset_write_lock(&s->lock); /* the totals, under the writer's side */
	s->torn += torn;
	s->reads += reads;
	rs_lockset_write_unlock(&s->lock);
	return NULL;
}

Test(lockset, writer_excludes_every_reader)
{
	static struct shared s;
	cr_assert_eq(rs_lockset_init(&s.lock, 2), 0);
	struct reader r[2] = {{&s, 0}, {&s, 1}};
	pthread_t t[2];
	for (int k = 0; k < 2; k++) {
		cr_assert_eq(pthread_create(&t[k], NULL, reader_main, &r[k]), 0);
	}
	for (int i = 0; i < 200000; i++) {
		rs_lockset_write_lock(&s.lock);
		s.a++;
		for (volatile int spin = 0; spin < 10; spin++) {
		}
		s.b++;
		rs_lockset_write_unlock(&s.lock);
	}
	s.stop = 1;
	for (int k = 0; k < 2; k++) {
		pthread_join(t[k], NULL);
	}
	cr_expect_eq(s.torn, 0, "a reader saw a half-done change");
	cr_expect_gt(s.reads, 0);
	cr_expect_eq(s.a, 200000);
	rs_lockset_destroy(&s.lock);
}
