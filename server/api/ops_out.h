/*
 * server/api/ops_out.h - the registration API's output buffer: response
 * frames appended one after the other.
 *
 * Model
 *   A plain growable byte buffer, zero-initialised empty. The operations
 *   (server/api/ops.c), the Watch events (server/api/watch.c) and the
 *   framing of one message (server/api/convert.c) append to it; the
 *   transport (server/api/api.c) holds one per connection and sends its
 *   bytes. A header of its own so that those files share the type without
 *   including each other.
 *
 * Must not: include anything of rosterd's.
 *
 * Threads: any; one buffer is used by one thread at a time.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/** A growable buffer of response frames. Zero-initialised is empty. */
struct api_ops_out {
	uint8_t *data; /**< frames, each a 4-byte length and a Response; free() it */
	size_t len;
	size_t cap;
};

/**
 * Make room for @p need bytes in all (len included): at least 4 KiB, then
 * the larger of @p need and twice the capacity (rs_array_grow()).
 * @return 0, or RS_ENOMEM (the buffer is unchanged).
 */
__attribute__((warn_unused_result)) int api_ops_out_reserve(struct api_ops_out *out, size_t need);

/** Free the buffer's memory; the struct is empty again. NULL-safe. */
void api_ops_out_deinit(struct api_ops_out *out);
