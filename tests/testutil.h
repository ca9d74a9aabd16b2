/* SPDX-License-Identifier: Apache-2.0 */
/* testutil.h — helpers shared by the test programs: temp dirs, batches, files. */
#ifndef PAGEBUS_TESTUTIL_H
#define PAGEBUS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* mkdtemp under $TMPDIR (or /tmp); the caller frees the path and calls tu_rmrf. */
char *tu_tmpdir(const char *tag);
void tu_rmrf(const char *path);

/*
 * Builds a batch of `count` records into a malloc'd buffer: record i has value
 * "<tag>-<i>" padded with 'x' to value_len bytes (value_len 0: just the text) and
 * timestamp ts0 + i. Returns the buffer and sets *len.
 */
uint8_t *tu_batch(const char *tag, int count, size_t value_len, int64_t ts0, size_t *len);

/* Reads a whole file into a malloc'd buffer; *len its size. NULL when missing. */
uint8_t *tu_read_file(const char *path, size_t *len);
/* Size of a file, or -1. */
long long tu_file_size(const char *path);
/* Path "<dir>/<20-digit base><ext>" in a static buffer. */
const char *tu_seg_file(const char *dir, int64_t base, const char *ext);

#endif
