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

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                         \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,    \
					#cond);                                             \
			abort();                                                            \
		}                                                                           \
	} while (0)
