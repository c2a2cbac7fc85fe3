/*
 * common/procstat.h - the process's own resource figures, from /proc, for
 * Prometheus's standard process_* families.
 *
 * Model: one call reads /proc/self/stat, /proc/stat (boot time),
 * /proc/self/fd and RLIMIT_NOFILE into a plain struct; a figure that
 * cannot be read is left 0 and its flag false, so a renderer omits it
 * rather than report a wrong value.
 *
 * Threads: any; a few small reads of /proc (no disk), cheap enough for the
 * loop thread at scrape time.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rs_procstat {
	bool ok;                   /**< /proc/self/stat was read: the next four are set */
	double cpu_seconds;        /**< user + system CPU time */
	uint64_t resident_bytes;   /**< resident set size */
	uint64_t virtual_bytes;    /**< virtual memory size */
	double start_time_seconds; /**< since the Unix epoch (needs /proc/stat's btime) */
	bool fds_ok;
	uint64_t open_fds; /**< entries of /proc/self/fd */
	uint64_t max_fds;  /**< RLIMIT_NOFILE's soft limit */
};

/** Read the figures of the calling process into @p out (see the header). */
void rs_procstat_read(struct rs_procstat *out);

/**
 * Datagrams the kernel dropped at the UDP sockets whose inodes are @p inodes
 * (a full receive buffer, a bad checksum): the "drops" column of
 * /proc/net/udp and /proc/net/udp6 (this network namespace's), summed.
 * @param inodes @p n socket inodes (fstat()'s st_ino); 0s are skipped.
 * @param drops set on success.
 * @return 0, or a negative errno when neither file could be read.
 */
int rs_procstat_udp_drops(const uint64_t *inodes, size_t n, uint64_t *drops);
