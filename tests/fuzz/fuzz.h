/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz.h — what the fuzz targets (tests/fuzz/fuzz_*.c) share. Each target defines
 * LLVMFuzzerTestOneInput and checks its invariants with FUZZ_CHECK, which aborts with a
 * message: libFuzzer (make fuzz) saves the input as a crash, and replay.c (make test)
 * fails on it. A target reads nothing outside data[0..size) and keeps no state between
 * inputs.
 */
#ifndef PAGEBUS_FUZZ_H
#define PAGEBUS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* A bounded reader of the fuzzer's bytes, for targets that draw parameters first. */
struct fuzz_in {
	const uint8_t *p, *end;
};

static inline uint64_t fuzz_take(struct fuzz_in *in, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v = v << 8 | (in->p < in->end ? *in->p++ : 0);
	return v;
}

#endif
