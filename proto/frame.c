#include "proto/frame.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

void rs_frame_decoder_init(struct rs_frame_decoder *d, uint32_t max)
{
	memset(d, 0, sizeof(*d));
	d->max = max;
}

void rs_frame_decoder_deinit(struct rs_frame_decoder *d)
{
	if (d == NULL) {
		return;
	}
	free(d->buf);
	d->buf = NULL;
	d->buf_cap = 0;
	d->buf_len = 0;
}

int rs_frame_decoder_idle(const struct rs_frame_decoder *d)
{
	return d->hdr_len == 0 && d->error == 0;
}

int rs_frame_decode(struct rs_frame_decoder *d, const uint8_t *in, size_t len, size_t *consumed,
		const uint8_t **frame, size_t *frame_len)
{
	size_t off = 0;
	*consumed = 0;
	if (d->error != 0) {
		return d->error;
	}
	if (d->hdr_len == 0 && d->buf_cap > 65536) {
		/* Between frames: do not keep a large buffer for a connection
		 * that once sent one big frame. */
		free(d->buf);
		d->buf = NULL;
		d->buf_cap = 0;
	}
	while (d->hdr_len < RS_FRAME_HEADER) {
		if (off == len) {
			*consumed = off;
			return 0;
		}
		d->hdr[d->hdr_len++] = in[off++];
		if (d->hdr_len == RS_FRAME_HEADER) {
			uint32_t n = rs_wire_load_u32(d->hdr);
			if (n == 0) {
				d->error = RS_EFRAME_EMPTY;
			} else if (n > d->max) {
				d->error = RS_EFRAME_BIG;
			}
			if (d->error != 0) {
				*consumed = off;
				return d->error;
			}
			d->body_len = n;
			d->buf_len = 0;
		}
	}
	size_t avail = len - off;
	size_t need = d->body_len - d->buf_len;
	if (d->buf_len == 0 && avail >= need) {
		/* The whole body is in this chunk: hand it out in place. */
		*frame = in + off;
		*frame_len = need;
		*consumed = off + need;
		d->hdr_len = 0;
		return 1;
	}
	if (d->buf_cap < d->body_len) {
		/* Grow to exactly this frame: the prefix is within the limit. */
		uint8_t *nb = realloc(d->buf, d->body_len);
		if (nb == NULL) {
			d->error = RS_ENOMEM;
			return d->error;
		}
		d->buf = nb;
		d->buf_cap = d->body_len;
	}
	size_t take = avail < need ? avail : need;
	memcpy(d->buf + d->buf_len, in + off, take);
	d->buf_len += (uint32_t)take;
	off += take;
	*consumed = off;
	if (d->buf_len < d->body_len) {
		return 0;
	}
	*frame = d->buf;
	*frame_len = d->body_len;
	d->hdr_len = 0;
	d->buf_len = 0;
	return 1;
}
