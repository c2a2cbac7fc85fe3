/*
 * common/hist.h - a latency histogram with fixed buckets, for Prometheus.
 *
 * Model: counts per bucket (not cumulative), their total and the sum of
 * the observed values, in nanoseconds. The buckets are fixed (RS_HIST_BOUNDS,
 * 50 us to 1 s, and +Inf) so that histograms from several threads add up
 * and the renderer needs no configuration. Observing is a few adds and a
 * short scan, no clock read: the caller measures (once per batch on the
 * DNS path) and may count one value for several events.
 *
 * Threads: none of its own. A histogram is written by one thread; another
 * may read it for a snapshot without a lock (a reader can see a count
 * ahead of the sum by one batch; Prometheus tolerates it).
 */
#pragma once

#include <stdint.h>

/** Bucket upper bounds, in ns; a last bucket, +Inf, follows them. */
#define RS_HIST_BOUNDS                                                                             \
	{                                                                                          \
		50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 25000000,      \
				50000000, 100000000, 250000000, 1000000000                         \
	}
#define RS_HIST_NBOUNDS 13

struct rs_hist {
	uint64_t buckets[RS_HIST_NBOUNDS + 1]; /**< per bucket, not cumulative; last: +Inf */
	uint64_t count;
	uint64_t sum_ns;
};

/** Count @p n events that each took @p ns nanoseconds. */
void rs_hist_observe(struct rs_hist *h, uint64_t ns, uint64_t n);

/** Add @p from into @p to (threads' histograms into one). */
void rs_hist_add(struct rs_hist *to, const struct rs_hist *from);

/** The upper bound of bucket @p i in ns (i < RS_HIST_NBOUNDS). */
uint64_t rs_hist_bound(unsigned i);
