/* common/procstat: the figures read from /proc agree with what the test
 * process knows of itself (descriptors it opens, the limit it sets, memory
 * it touches, CPU it burns, when it started). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

static uint64_t inode_of(int fd)
{
	struct stat st;
	cr_assert_eq(fstat(fd, &st), 0);
	return (uint64_t)st.st_ino;
}

/* An unread socket with a small receive buffer, sent more than it holds:
 * the kernel's drops are found by its inode, in the IPv4 and IPv6 tables,
 * and no other socket's are added. */
Test(procstat, udp_drops_of_the_sockets_asked_for)
{
	int fam[2] = {AF_INET, AF_INET6};
	uint64_t inodes[3] = {0, 0, 0}; /* the 0 is skipped */
	int fds[2];
	for (int k = 0; k < 2; k++) {
		fds[k] = socket(fam[k], SOCK_DGRAM, 0);
		cr_assert_geq(fds[k], 0);
		int small = 4096;
		cr_assert_eq(setsockopt(fds[k], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
		struct sockaddr_storage ss = {0};
		socklen_t len;
		if (fam[k] == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			a->sin_family = AF_INET;
			a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			len = sizeof(*a);
		} else {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			a->sin6_family = AF_INET6;
			a->sin6_addr = in6addr_loopback;
			len = sizeof(*a);
		}
		cr_assert_eq(bind(fds[k], (struct sockaddr *)&ss, len), 0);
		inodes[k + 1] = inode_of(fds[k]);
	}
	uint64_t drops = 99;
	cr_assert_eq(rs_procstat_udp_drops(inodes, 3, &drops), 0);
	cr_expect_eq(drops, 0, "nothing sent yet");
	int sender[2];
	for (int k = 0; k < 2; k++) {
		struct sockaddr_storage to;
		socklen_t len = sizeof(to);
		cr_assert_eq(getsockname(fds[k], (struct sockaddr *)&to, &len), 0);
		sender[k] = socket(fam[k], SOCK_DGRAM, 0);
		char d[100] = {0};
		for (int i = 0; i < 200; i++) {
			cr_assert_eq(sendto(sender[k], d, sizeof(d), 0, (struct sockaddr *)&to,
						     len),
					(ssize_t)sizeof(d));
		}
	}
	uint64_t v4 = 0, both = 0;
	cr_assert_eq(rs_procstat_udp_drops(inodes, 2, &v4), 0);
	cr_assert_eq(rs_procstat_udp_drops(inodes, 3, &both), 0);
	cr_expect_gt(v4, 100u, "most of 200 datagrams dropped at a 4 KiB buffer: %lu",
			(unsigned long)v4);
	cr_expect_gt(both, v4, "and the IPv6 socket's too");
	uint64_t none = 99;
	uint64_t other = inode_of(sender[0]);
	cr_assert_eq(rs_procstat_udp_drops(&other, 1, &none), 0);
	cr_expect_eq(none, 0, "another socket's drops are not counted");
	for (int k = 0; k < 2; k++) {
		close(fds[k]);
		close(sender[k]);
	}
}
