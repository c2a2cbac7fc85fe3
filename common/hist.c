#include "common/hist.h"

static const uint64_t bounds[RS_HIST_NBOUNDS] = RS_HIST_BOUNDS;

void rs_hist_observe(struct rs_hist *h, uint64_t ns, uint64_t n)
{
	unsigned i = 0;
	while (i < RS_HIST_NBOUNDS && ns > bounds[i]) {
		i++;
	}
	h->buckets[i] += n;
	h->count += n;
	h->sum_ns += ns * n;
}

void rs_hist_add(struct rs_hist *to, const struct rs_hist *from)
{
	for (unsigned i = 0; i <= RS_HIST_NBOUNDS; i++) {
		to->buckets[i] += from->buckets[i];
	}
	to->count += from->count;
	to->sum_ns += from->sum_ns;
}

uint64_t rs_hist_bound(unsigned i)
{
	return i < RS_HIST_NBOUNDS ? bounds[i] : UINT64_MAX;
}
