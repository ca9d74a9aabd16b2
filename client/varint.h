/* SPDX-License-Identifier: Apache-2.0 */
/*
 * varint.h — Kafka's variable-length integers: LEB128 (7 bits a byte, low group first),
 * zigzag-encoded for the signed varint/varlong of records, plain for the unsigned
 * lengths of flexible protocol versions. Decoders never read past `end`.
 */
#ifndef PAGEBUS_VARINT_H
#define PAGEBUS_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define VARINT_MAX32 5
#define VARINT_MAX64 10

/* Bytes needed for the unsigned LEB128 encoding of v. */
static inline size_t uvarint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static inline uint64_t zigzag64(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t unzigzag64(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

static inline size_t varint_size(int64_t v) { return uvarint_size(zigzag64(v)); }

/* Writes v at p (room for uvarint_size(v) bytes assumed); returns bytes written. */
static inline size_t uvarint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static inline size_t varint_put(uint8_t *p, int64_t v) { return uvarint_put(p, zigzag64(v)); }

/*
 * Reads an unsigned LEB128 of at most max_bytes bytes from [*pp, end). Returns 0 and
 * advances *pp, or -1 when the input ends first (truncated) or -2 when the varint is
 * longer than max_bytes (overflow). For 32-bit varints (max_bytes 5) the value is also
 * checked to fit in 32 bits.
 */
static inline int uvarint_get(const uint8_t **pp, const uint8_t *end, size_t max_bytes, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;
	for (size_t i = 0; i < max_bytes; i++) {
		if (p >= end)
			return -1;
		uint8_t b = *p++;
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (max_bytes == VARINT_MAX32 && v > 0xffffffffull)
				return -2;
			if (max_bytes == VARINT_MAX64 && i == 9 && b > 1)
				return -2;
			*pp = p;
			*out = v;
			return 0;
		}
	}
	return -2;
}

/* Signed (zigzag) 32-bit varint. Same returns as uvarint_get. */
static inline int varint_get32(const uint8_t **pp, const uint8_t *end, int32_t *out)
{
	uint64_t u;
	int r = uvarint_get(pp, end, VARINT_MAX32, &u);
	if (r == 0)
		*out = (int32_t)((uint32_t)(u >> 1) ^ -(uint32_t)(u & 1));
	return r;
}

/* Signed (zigzag) 64-bit varlong. Same returns as uvarint_get. */
static inline int varint_get64(const uint8_t **pp, const uint8_t *end, int64_t *out)
{
	uint64_t u;
	int r = uvarint_get(pp, end, VARINT_MAX64, &u);
	if (r == 0)
		*out = unzigzag64(u);
	return r;
}

#endif
