/*
 * common/rseq.h - leaving glibc's restartable-sequences registration, for
 * a thread that sleeps and wakes many thousand times a second.
 *
 * glibc (2.35 and later) registers every thread with rseq(2). The kernel
 * then updates the thread's rseq area on its way back to user space after
 * each time the thread was scheduled: before Linux 6.19 that costs a few
 * hundred nanoseconds per wake-up (two user-memory accesses with their
 * checks), paid by a DNS worker about once every two queries. Roster never
 * uses rseq, and glibc reads the area only for sched_getcpu(), which falls
 * back to the system call when the area says "unregistered".
 *
 * Owns: nothing; the area stays glibc's.
 * Must not: be called by a thread that uses rseq itself (nothing in Roster
 * does), nor be taken as needed for correctness: it only saves work.
 *
 * Threads: acts on the calling thread only.
 */
#pragma once

/**
 * Unregister the calling thread's rseq area.
 * @return 1 when it was registered and no longer is; 0 when glibc did not
 *         register it (GLIBC_TUNABLES=glibc.pthread.rseq=0, an old kernel
 *         or libc); a negative errno when the kernel refused (the thread
 *         then stays registered, which is harmless).
 */
int rs_rseq_unregister(void);
