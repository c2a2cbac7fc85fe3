/*
 * tests/fuzz/fuzz_frame.c - libFuzzer target: the API frame decoder
 * (proto/frame.c) on an arbitrary byte stream in arbitrary chunkings.
 *
 * Input: two octets that seed the chunking, one octet for the decoder's
 * limit, then the stream. The stream is decoded twice: whole, in one call
 * sequence over one buffer, and cut into chunks of pseudo-random sizes
 * (1..64 octets, each chunk its own heap copy so that a read past a chunk
 * is an ASan error). The invariant: both yield the same frames, with the
 * same bodies, and end in the same error (or none) at the same point; a
 * call never consumes more than it was given and returns a frame within
 * the limit.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/frame.h"
#include "tests/fuzz/fuzz.h"

/* What a decode of the whole stream produced. */
struct outcome {
	uint8_t *bodies; /* the frames' bodies, concatenated */
	size_t len;
	size_t nframes;
	size_t lens[4096];
	int error;
	size_t error_at; /* stream offset consumed when the error came */
};

static void record(struct outcome *o, const uint8_t *frame, size_t n, uint32_t max)
{
	CHECK(n > 0 && n <= max);
	uint8_t *b = realloc(o->bodies, o->len + n);
	CHECK(b != NULL);
	memcpy(b + o->len, frame, n);
	o->bodies = b;
	o->len += n;
	if (o->nframes < sizeof(o->lens) / sizeof(o->lens[0])) {
		o->lens[o->nframes] = n;
	}
	o->nframes++;
}

/* Feed one chunk; returns false once the decoder failed. */
static bool feed(struct rs_frame_decoder *d, const uint8_t *in, size_t len, size_t base,
		uint32_t max, struct outcome *o)
{
	size_t off = 0;
	while (off < len) {
		size_t used = 0;
		const uint8_t *frame = NULL;
		size_t flen = 0;
		int rc = rs_frame_decode(d, in + off, len - off, &used, &frame, &flen);
		CHECK(used <= len - off);
		if (rc < 0) {
			o->error = rc;
			o->error_at = base + off + used;
			/* Errors are sticky. */
			CHECK(rs_frame_decode(d, in, len, &used, &frame, &flen) == rc);
			CHECK(!rs_frame_decoder_idle(d));
			return false;
		}
		off += used;
		if (rc == 1) {
			record(o, frame, flen, max);
		} else {
			CHECK(rc == 0);
			CHECK(off == len);
		}
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3) {
		return 0;
	}
	uint32_t rng = (uint32_t)data[0] << 8 | data[1];
	/* Small limits make both the in-place and the gathered paths and the
	 * over-limit error reachable from short inputs. */
	uint32_t max = data[2] == 0 ? RS_FRAME_MAX_DEFAULT : data[2];
	const uint8_t *s = data + 3;
	size_t n = size - 3;

	static struct outcome whole, chunked;
	memset(&whole, 0, sizeof(whole));
	memset(&chunked, 0, sizeof(chunked));

	struct rs_frame_decoder d;
	rs_frame_decoder_init(&d, max);
	uint8_t *copy = malloc(n > 0 ? n : 1);
	CHECK(copy != NULL);
	memcpy(copy, s, n);
	bool ok = feed(&d, copy, n, 0, max, &whole);
	bool idle_whole = ok && rs_frame_decoder_idle(&d);
	free(copy);
	rs_frame_decoder_deinit(&d);

	rs_frame_decoder_init(&d, max);
	size_t off = 0;
	while (off < n) {
		size_t c;
		uint8_t *chunk = fuzz_chunk(&rng, s + off, n - off, 64, &c);
		ok = feed(&d, chunk, c, off, max, &chunked);
		free(chunk);
		if (!ok) {
			break;
		}
		off += c;
	}
	bool idle_chunked = ok && rs_frame_decoder_idle(&d);
	rs_frame_decoder_deinit(&d);

	CHECK(whole.nframes == chunked.nframes);
	CHECK(whole.len == chunked.len);
	CHECK(whole.len == 0 || memcmp(whole.bodies, chunked.bodies, whole.len) == 0);
	size_t nl = whole.nframes < 4096 ? whole.nframes : 4096;
	CHECK(memcmp(whole.lens, chunked.lens, nl * sizeof(size_t)) == 0);
	CHECK(whole.error == chunked.error);
	CHECK(whole.error_at == chunked.error_at);
	CHECK(idle_whole == idle_chunked);
	free(whole.bodies);
	free(chunked.bodies);
	return 0;
}
