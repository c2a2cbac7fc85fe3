/* common/procstat: the figures read from /proc agree with what the test
 * process knows of itself (descriptors it opens, the limit it sets, memory
 * it touches, CPU it burns, when it started). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/procstat.h"

Test(procstat, reads_every_figure)
{
	struct rs_procstat ps;
	memset(&ps, 0xff, sizeof(ps));
	rs_procstat_read(&ps);
	cr_assert(ps.ok);
	cr_assert(ps.fds_ok);
	cr_expect_gt(ps.resident_bytes, 0);
	cr_expect_geq(ps.virtual_bytes, ps.resident_bytes);
	cr_expect_geq(ps.cpu_seconds, 0.0);
	double now = (double)time(NULL);
	/* This process started moments ago (criterion forks one per test). */
	cr_expect_leq(ps.start_time_seconds, now + 1, "%f", ps.start_time_seconds);
	cr_expect_geq(ps.start_time_seconds, now - 120, "%f", ps.start_time_seconds);
}

Test(procstat, open_descriptors_are_counted_without_the_reader_s_own)
{
	struct rs_procstat before, after;
	rs_procstat_read(&before);
	int fds[3];
	for (int i = 0; i < 3; i++) {
		fds[i] = open("/dev/null", O_RDONLY);
		cr_assert_geq(fds[i], 0);
	}
	rs_procstat_read(&after);
	cr_expect_eq(after.open_fds, before.open_fds + 3);
	/* stdin, stdout and stderr at least, and at most what was opened. */
	cr_expect_geq(before.open_fds, 3);
	cr_expect_lt(before.open_fds, (uint64_t)fds[0] + 1 + 3);
	for (int i = 0; i < 3; i++) {
		close(fds[i]);
	}
}

Test(procstat, max_fds_is_the_soft_limit)
{
	struct rlimit rl;
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = 200;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	struct rs_procstat ps;
	rs_procstat_read(&ps);
	cr_expect_eq(ps.max_fds, 200);
}

Test(procstat, resident_memory_and_cpu_time_grow_with_use)
{
	struct rs_procstat before, after;
	rs_procstat_read(&before);
	size_t n = 64u << 20;
	volatile char *p = malloc(n);
	cr_assert_not_null((void *)p);
	for (size_t i = 0; i < n; i += 4096) {
		p[i] = 1;
	}
	/* Burn CPU until the kernel's tick counter has moved. */
	struct timespec t0, t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	do {
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 50000000L);
	rs_procstat_read(&after);
	cr_expect_geq(after.resident_bytes, before.resident_bytes + (48u << 20));
	cr_expect_gt(after.cpu_seconds, before.cpu_seconds);
	free((void *)p);
}
