#include "common/procstat.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* /proc/stat's "btime": the boot time, seconds since the epoch; 0 if unread. */
static uint64_t boot_time(void)
{
	FILE *f = fopen("/proc/stat", "re");
	if (f == NULL) {
		return 0;
	}
	char line[256];
	unsigned long long bt = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "btime %llu", &bt) == 1) {
			break;
		}
	}
	fclose(f);
	return bt;
}

/* proc(5) /proc/self/stat: fields 14-15 utime, stime; 22 starttime (clock
 * ticks since boot); 23 vsize (bytes); 24 rss (pages). The command name (2)
 * may hold spaces and parentheses: parse after its last ')'. */
static void read_stat(struct rs_procstat *out)
{
	FILE *f = fopen("/proc/self/stat", "re");
	if (f == NULL) {
		return;
	}
	char buf[1024];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	unsigned long long utime, stime, start, vsize;
	long long rss;
	if (p == NULL || sscanf(p + 2,
					 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
					 "%*d %*d %*d %*d %*d %*d %llu %llu %lld",
					 &utime, &stime, &start, &vsize, &rss) != 5) {
		return;
	}
	double hz = (double)sysconf(_SC_CLK_TCK);
	long page = sysconf(_SC_PAGESIZE);
	out->cpu_seconds = (double)(utime + stime) / hz;
	out->virtual_bytes = vsize;
	out->resident_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page : 0;
	uint64_t bt = boot_time();
	out->start_time_seconds = bt > 0 ? (double)bt + (double)start / hz : 0;
	out->ok = true;
}

static void read_fds(struct rs_procstat *out)
{
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL) {
		return;
	}
	uint64_t n = 0;
	for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
		n += e->d_name[0] != '.' ? 1 : 0;
	}
	closedir(d);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		return;
	}
	out->open_fds = n > 0 ? n - 1 : 0; /* not the directory's own descriptor */
	out->max_fds = (uint64_t)rl.rlim_cur;
	out->fds_ok = true;
}

void rs_procstat_read(struct rs_procstat *out)
{
	memset(out, 0, sizeof(*out));
	read_stat(out);
	read_fds(out);
}

/* One table of proc(5) /proc/net/udp{,6}: after a header line, one socket
 * a line, "sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref
 * pointer drops". @return 0, or -errno when the file cannot be opened. */
static int udp_table_drops(const char *path, const uint64_t *inodes, size_t n, uint64_t *sum)
{
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		return -errno;
	}
	char line[512];
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long long inode, drops;
		if (sscanf(line, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %*s %*s %llu", &inode,
				    &drops) != 2) {
			continue; /* the header, or a line we do not know */
		}
		for (size_t k = 0; k < n; k++) {
			if (inodes[k] != 0 && inodes[k] == inode) {
				*sum += drops;
				break;
			}
		}
	}
	fclose(f);
	return 0;
}

int rs_procstat_udp_drops(const uint64_t *inodes, size_t n, uint64_t *drops)
{
	uint64_t sum = 0;
	int r4 = udp_table_drops("/proc/net/udp", inodes, n, &sum);
	int r6 = udp_table_drops("/proc/net/udp6", inodes, n, &sum);
	if (r4 < 0 && r6 < 0) {
		return r4;
	}
	*drops = sum;
	return 0;
}
