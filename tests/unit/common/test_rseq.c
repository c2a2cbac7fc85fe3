#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/rseq.h>

#include "common/rseq.h"

/* The calling thread's rseq area as glibc registered it. */
static volatile const struct rseq *area(void)
{
	return (const struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
}

struct seen {
	int32_t cpu_before;
	int first, second;
	int32_t cpu_after;
	int getcpu_after;
};

static void *unregister_thread(void *arg)
{
	struct seen *s = arg;
	s->cpu_before = (int32_t)area()->cpu_id;
	s->first = rs_rseq_unregister();
	s->cpu_after = (int32_t)area()->cpu_id;
	s->getcpu_after = sched_getcpu();
	s->second = rs_rseq_unregister();
	return NULL;
}

/* The machine's glibc and kernel register threads (a Roster build host
 * is Debian 12 or later on Linux 4.18 or later): the test checks that,
 * then what leaving does to this thread and no other. */
Test(rseq, a_thread_leaves_its_registration_and_only_its_own)
{
	cr_assert_gt(__rseq_size, 0u, "glibc registered threads with rseq here");
	cr_assert_geq((int32_t)area()->cpu_id, 0, "the main thread is registered");
	struct seen s;
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, unregister_thread, &s), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_expect_geq(s.cpu_before, 0, "registered before");
	cr_expect_eq(s.first, 1, "unregistered: %d", s.first);
	cr_expect_eq(s.cpu_after, RSEQ_CPU_ID_UNINITIALIZED, "the kernel marked the area");
	cr_expect_geq(s.getcpu_after, 0, "sched_getcpu() still answers");
	cr_expect_eq(s.second, -EINVAL, "a second call is refused, not a crash: %d", s.second);
	sched_yield();
	cr_expect_geq((int32_t)area()->cpu_id, 0, "the main thread is still registered");
}
