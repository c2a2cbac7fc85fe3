/*
 * tests/fuzz/fuzz.h - what every fuzz target shares: libFuzzer's entry
 * points and CHECK(), which aborts (a crash libFuzzer keeps the input of)
 * when an invariant of the code under test does not hold.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,       \
					#cond);                                                    \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/*
 * The next chunk of a byte stream cut at pseudo-random places: a length in
 * 1..@p max from the generator @p rng (seeded from the input, so a run is
 * reproducible), no more than the @p left octets there are, in a heap copy
 * of its own (a read past the chunk is an ASan error). Free it.
 */
static inline uint8_t *fuzz_chunk(
		uint32_t *rng, const uint8_t *p, size_t left, size_t max, size_t *n)
{
	*rng = *rng * 1103515245u + 12345u;
	*n = 1 + (*rng >> 16) % max;
	if (*n > left) {
		*n = left;
	}
	uint8_t *chunk = malloc(*n);
	CHECK(chunk != NULL);
	memcpy(chunk, p, *n);
	return chunk;
}
