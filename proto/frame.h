/*
 * proto/frame.h - the frame codec of the registration API.
 *
 * A frame is a 4-byte big-endian length N, then N bytes holding one
 * serialized protobuf message. N = 0 is invalid (an empty buffer would decode
 * as an all-default message: never a heartbeat by accident), and N above the
 * decoder's limit is rejected from the prefix alone, before anything is
 * allocated for it (robustness catalogue 3.1, 3.2).
 *
 * The decoder is incremental: feed it whatever a read returned, in any
 * chunking, and it yields whole frames one at a time. It buffers at most one
 * frame; a frame that arrives whole inside one chunk is returned in place,
 * without a copy.
 *
 * Pure, not thread-safe (one decoder per connection), no I/O.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/wire.h"

#define RS_FRAME_HEADER 4
/** Default maximum frame: 1 MiB (SPEC: API limits). */
#define RS_FRAME_MAX_DEFAULT (1024u * 1024u)

struct rs_frame_decoder {
	uint32_t max; /**< largest accepted frame body */
	uint8_t hdr[RS_FRAME_HEADER];
	uint32_t hdr_len;  /**< header bytes gathered so far */
	uint32_t body_len; /**< body length once the header is complete */
	uint8_t *buf;      /**< body being gathered across chunks */
	uint32_t buf_len;  /**< body bytes gathered so far */
	uint32_t buf_cap;
	int error; /**< sticky: once set, the stream is unusable */
};

/**
 * Prepare a decoder in caller's storage. Allocates nothing.
 * @param max the largest frame body accepted, 1..UINT32_MAX.
 */
void rs_frame_decoder_init(struct rs_frame_decoder *d, uint32_t max);

/** Release the decoder's buffer. NULL-safe; the decoder may be reused after init. */
void rs_frame_decoder_deinit(struct rs_frame_decoder *d);

/**
 * Consume input until one frame is complete or the input is used up.
 *
 * Call in a loop over each chunk read: advance the input by *consumed after
 * every call, and handle a frame each time the call returns 1.
 *
 * @param d the decoder.
 * @param in the unconsumed part of the last read.
 * @param len its length.
 * @param consumed set to the bytes of @p in used by this call.
 * @param frame set to the frame body when 1 is returned: a view into @p in or
 *        into the decoder, valid until the next call on @p d.
 * @param frame_len set to the body length when 1 is returned.
 * @return 1 when a frame is complete; 0 when more input is needed (all of
 *         @p in was consumed); RS_EFRAME_EMPTY for a zero-length prefix,
 *         RS_EFRAME_BIG for a prefix over the limit, RS_ENOMEM. Errors are
 *         sticky: the stream cannot be resynchronised, close it.
 */
__attribute__((warn_unused_result)) int rs_frame_decode(struct rs_frame_decoder *d,
		const uint8_t *in, size_t len, size_t *consumed, const uint8_t **frame,
		size_t *frame_len);

/**
 * Is the decoder between frames? At end of stream, false means the peer
 * stopped inside a frame (RS_EFRAME_TRUNC for the caller to report).
 */
int rs_frame_decoder_idle(const struct rs_frame_decoder *d);

/** Write the 4-byte header of a frame of @p len body bytes. */
static inline void rs_frame_header_write(uint8_t out[RS_FRAME_HEADER], uint32_t len)
{
	rs_wire_store_u32(out, len);
}
