#include "server/api/ops_out.h"

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

/* The first allocation: a reply or two without a second realloc. */
#define OUT_MIN 4096u

int api_ops_out_reserve(struct api_ops_out *out, size_t need)
{
	if (need <= out->cap) {
		return 0;
	}
	return RS_ARRAY_GROW(out->data, out->cap, need < OUT_MIN ? OUT_MIN : need);
}

void api_ops_out_deinit(struct api_ops_out *out)
{
	if (out == NULL) {
		return;
	}
	free(out->data);
	memset(out, 0, sizeof(*out));
}
