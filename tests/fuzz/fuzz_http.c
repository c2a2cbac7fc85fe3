/*
 * tests/fuzz/fuzz_http.c - libFuzzer target: the HTTP request-head parser
 * http_request_parse() (server/http/http.c) on arbitrary bytes, with pipelined
 * heads parsed one after another as the listener does.
 *
 * Every parse reads a heap buffer of exactly the bytes given, so a read
 * past them is an ASan error. Invariants of a complete head:
 *   - head_len is within the buffer and the path view inside the head,
 *     starting with '/'; the version is 1.0 or 1.1;
 *   - parsing exactly the head gives the same result (a head does not
 *     depend on what follows it);
 *   - a proper prefix of it is RS_EAGAIN: a request that arrives in pieces
 *     is never refused for the cut (the listener parses after each read).
 * Any other return is one of RS_EAGAIN, RS_EPROTO, RS_ENOTSUP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server/http/http.h"
#include "tests/fuzz/fuzz.h"

/* Parse a heap copy of exactly @p len bytes. */
static int parse_copy(const uint8_t *b, size_t len, struct http_request *req)
{
	char *c = malloc(len > 0 ? len : 1);
	CHECK(c != NULL);
	memcpy(c, b, len);
	int rc = http_request_parse(c, len, req);
	if (rc == 0) {
		/* The views point into the copy: turn the path into an offset. */
		req->path = (const char *)b + (req->path - c);
	}
	free(c);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size > 0 ? size : 1);
	CHECK(buf != NULL);
	memcpy(buf, data, size);
	size_t off = 0;
	for (int heads = 0; heads < 64 && off < size; heads++) {
		const uint8_t *b = data + off;
		size_t len = size - off;
		struct http_request req;
		int rc = http_request_parse(buf + off, len, &req);
		if (rc != 0) {
			CHECK(rc == RS_EAGAIN || rc == RS_EPROTO || rc == RS_ENOTSUP);
			break;
		}
		CHECK(req.head_len > 0 && req.head_len <= len);
		CHECK(req.path != NULL && req.path >= buf + off && req.path_len > 0);
		CHECK(req.path + req.path_len <= buf + off + req.head_len);
		CHECK(req.path[0] == '/');
		CHECK(req.minor <= 1);
		CHECK(req.method == HTTP_METHOD_OTHER || req.method == HTTP_METHOD_GET ||
				req.method == HTTP_METHOD_HEAD);

		struct http_request again;
		CHECK(parse_copy(b, req.head_len, &again) == 0);
		CHECK(again.head_len == req.head_len);
		CHECK(again.method == req.method && again.minor == req.minor);
		CHECK(again.keep_alive == req.keep_alive && again.has_body == req.has_body);
		CHECK(again.path_len == req.path_len &&
				again.path == (const char *)b + (req.path - (buf + off)));

		/* Two cuts: just before the end, and one inside (FNV of the head). */
		uint32_t h = 2166136261u;
		for (size_t i = 0; i < req.head_len; i++) {
			h = (h ^ b[i]) * 16777619u;
		}
		size_t cuts[2] = {req.head_len - 1, h % req.head_len};
		for (int k = 0; k < 2; k++) {
			struct http_request part;
			int prc = parse_copy(b, cuts[k], &part);
			if (prc != RS_EAGAIN) {
				fprintf(stderr,
						"fuzz_http: a %zu-byte prefix of a %zu-byte head "
						"gives %d\n",
						cuts[k], req.head_len, prc);
				abort();
			}
		}
		off += req.head_len;
	}
	free(buf);
	return 0;
}
