#include "common/rseq.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<sys/rseq.h>)
#include <sys/rseq.h>
#endif
#endif

/* glibc registers at least the original 32-octet area, even where it
 * reports a smaller feature size in __rseq_size (2.40 and later: 20). */
#define RSEQ_AREA_MIN 32u

int rs_rseq_unregister(void)
{
#if defined(RSEQ_SIG) && defined(__NR_rseq)
	if (__rseq_size == 0) {
		return 0;
	}
	void *area = (char *)__builtin_thread_pointer() + __rseq_offset;
	unsigned size = __rseq_size < RSEQ_AREA_MIN ? RSEQ_AREA_MIN : __rseq_size;
	if (syscall(__NR_rseq, area, size, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) != 0) {
		return -errno;
	}
	return 1;
#else
	return 0;
#endif
}
