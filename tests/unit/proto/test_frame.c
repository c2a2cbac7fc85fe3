#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "proto/frame.h"

/* Feed @p len bytes in chunks of @p chunk, collecting frames into @p out
 * (concatenated, each preceded by its length byte). Returns the first error,
 * or the number of frames. */
static int feed(struct rs_frame_decoder *d, const uint8_t *in, size_t len, size_t chunk,
		uint8_t *out, size_t *out_len)
{
	int frames = 0;
	*out_len = 0;
	for (size_t pos = 0; pos < len; pos += chunk) {
		size_t n = len - pos < chunk ? len - pos : chunk;
		const uint8_t *p = in + pos;
		while (n > 0) {
			size_t used = 0;
			const uint8_t *f = NULL;
			size_t fl = 0;
			int rc = rs_frame_decode(d, p, n, &used, &f, &fl);
			if (rc < 0) {
				return rc;
			}
			cr_assert_leq(used, n);
			p += used;
			n -= used;
			if (rc == 1) {
				out[(*out_len)++] = (uint8_t)fl;
				memcpy(out + *out_len, f, fl);
				*out_len += fl;
				frames++;
			} else {
				cr_assert_eq(n, 0, "0 means all input was consumed");
			}
		}
	}
	return frames;
}

static size_t frame(uint8_t *out, const char *body)
{
	size_t n = strlen(body);
	rs_frame_header_write(out, (uint32_t)n);
	memcpy(out + 4, body, n);
	return n + 4;
}

Test(frame, two_frames_in_one_read)
{
	uint8_t in[64], out[64];
	size_t n = frame(in, "hello");
	n += frame(in + n, "world!");
	struct rs_frame_decoder d;
	rs_frame_decoder_init(&d, 1024);
	size_t ol;
	cr_expect_eq(feed(&d, in, n, n, out, &ol), 2);
	cr_expect_eq(ol, 13);
	cr_expect_eq(memcmp(out, "\5hello\6world!", 13), 0);
	cr_expect(rs_frame_decoder_idle(&d));
	rs_frame_decoder_deinit(&d);
}

Test(frame, split_byte_by_byte)
{
	uint8_t in[64], out[64];
	size_t n = frame(in, "hello");
	n += frame(in + n, "world!");
	struct rs_frame_decoder d;
	rs_frame_decoder_init(&d, 1024);
	size_t ol;
	cr_expect_eq(feed(&d, in, n, 1, out, &ol), 2);
	cr_expect_eq(memcmp(out, "\5hello\6world!", 13), 0);
	rs_frame_decoder_deinit(&d);
}

/* Every chunk size from 1 to the whole stream yields the same frames. */
Test(frame, every_chunking_yields_same_frames)
{
	uint8_t in[256], out[256];
	size_t n = 0;
	const char *bodies[] = {"a", "bb", "a longer frame body", "x", "0123456789"};
	for (size_t i = 0; i < 5; i++) {
		n += frame(in + n, bodies[i]);
	}
	for (size_t chunk = 1; chunk <= n; chunk++) {
		struct rs_frame_decoder d;
		rs_frame_decoder_init(&d, 64);
		size_t ol;
		cr_assert_eq(feed(&d, in, n, chunk, out, &ol), 5, "chunk %zu", chunk);
		cr_assert_eq(memcmp(out, "\1a\2bb\23a longer frame body\1x\0120123456789", ol), 0);
		rs_frame_decoder_deinit(&d);
	}
}

Test(frame, zero_length_frame_is_an_error)
{
	uint8_t in[8] = {0, 0, 0, 0, 'x'};
	uint8_t out[8];
	struct rs_frame_decoder d;
	rs_frame_decoder_init(&d, 1024);
	size_t ol;
	cr_expect_eq(feed(&d, in, 5, 5, out, &ol), RS_EFRAME_EMPTY);
	/* sticky: the stream cannot be resynchronised */
	cr_expect_eq(feed(&d, in + 4, 1, 1, out, &ol), RS_EFRAME_EMPTY);
	rs_frame_decoder_deinit(&d);
}

Test(frame, length_over_limit_rejected_before_allocating)
{
	uint8_t in[4] = {0xff, 0xff, 0xff, 0xff};
	uint8_t out[8];
	struct rs_frame_decoder d;
	rs_frame_decoder_init(&d, RS_FRAME_MAX_DEFAULT);
	size_t ol;
	cr_expect_eq(feed(&d, in, 4, 1, out, &ol), RS_EFRAME_BIG);
	cr_expect_null(d.buf, "nothing allocated for the claimed length");
	rs_frame_decoder_deinit(&d);
}

Test(frame, limit_is_inclusive)
{
	uint8_t in[16], out[16];
	size_t n = frame(in, "12345678");
	struct rs_frame_decoder d;
	rs_frame_decoder_init(&d, 8);
	size_t ol;
	cr_expect_eq(feed(&d, in, n, 3, out, &ol), 1);
	rs_frame_decoder_deinit(&d);
	rs_frame_decoder_init(&d, 7);
	cr_expect_eq(feed(&d, in, n, 3, out, &ol), RS_EFRAME_BIG);
	rs_frame_decoder_deinit(&d);
}

Test(frame, truncated_frame_leaves_decoder_not_idle)
{
	uint8_t in[16], out[16];
	size_t n = frame(in, "12345678");
	struct rs_frame_decoder d;
	rs_frame_decoder_init(&d, 64);
	size_t ol;
	cr_expect_eq(feed(&d, in, n - 2, 2, out, &ol), 0);
	cr_expect(!rs_frame_decoder_idle(&d), "EOF now would be RS_EFRAME_TRUNC");
	cr_expect_eq(feed(&d, in + n - 2, 2, 2, out, &ol), 1);
	cr_expect(rs_frame_decoder_idle(&d));
	rs_frame_decoder_deinit(&d);
}

Test(frame, partial_header_is_not_idle)
{
	uint8_t in[2] = {0, 0};
	uint8_t out[4];
	struct rs_frame_decoder d;
	rs_frame_decoder_init(&d, 64);
	size_t ol;
	cr_expect_eq(feed(&d, in, 2, 2, out, &ol), 0);
	cr_expect(!rs_frame_decoder_idle(&d));
	rs_frame_decoder_deinit(&d);
}

/* Garbage: a fixed-seed random stream must end in a defined error or in
 * frames, never in a crash or an over-read (ASan watches). */
Test(frame, garbage_bytes_give_defined_results)
{
	srand(1234);
	for (int round = 0; round < 500; round++) {
		uint8_t in[512];
		size_t n = (size_t)(rand() % (int)sizeof(in));
		for (size_t i = 0; i < n; i++) {
			in[i] = (uint8_t)rand();
		}
		if (round % 2 == 0 && n >= 4) {
			in[0] = 0;
			in[1] = 0; /* plausible small lengths half of the time */
		}
		struct rs_frame_decoder d;
		rs_frame_decoder_init(&d, 300);
		uint8_t out[1024];
		size_t ol;
		int rc = feed(&d, in, n, (size_t)(1 + rand() % 17), out, &ol);
		cr_assert(rc >= 0 || rc == RS_EFRAME_BIG || rc == RS_EFRAME_EMPTY, "rc %d", rc);
		rs_frame_decoder_deinit(&d);
	}
}

Test(frame, big_buffer_released_between_frames)
{
	size_t big = 100000;
	uint8_t *in = malloc(big + 8);
	cr_assert_not_null(in);
	rs_frame_header_write(in, (uint32_t)big);
	memset(in + 4, 'z', big);
	struct rs_frame_decoder d;
	rs_frame_decoder_init(&d, RS_FRAME_MAX_DEFAULT);
	size_t used;
	const uint8_t *f;
	size_t fl;
	/* split so the body must be buffered */
	cr_assert_eq(rs_frame_decode(&d, in, 10, &used, &f, &fl), 0);
	cr_assert_eq(rs_frame_decode(&d, in + 10, big - 6, &used, &f, &fl), 1);
	cr_expect_eq(fl, big);
	cr_expect_not_null(d.buf);
	uint8_t small[5] = {0, 0, 0, 1, 'q'};
	cr_assert_eq(rs_frame_decode(&d, small, 5, &used, &f, &fl), 1);
	cr_expect_null(d.buf);
	free(in);
	rs_frame_decoder_deinit(&d);
}
