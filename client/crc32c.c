/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crc32c.c — CRC-32C for RecordBatch v2: a portable slicing-by-8 table fallback and an
 * SSE4.2 path (three interleaved crc32 streams, recombined with zero-shift tables).
 * Tables are built and the implementation chosen once, on first use.
 */
#include <pthread.h>
#include <string.h>

#include "crc32c.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define CRC32C_HAVE_X86 1
#include <nmmintrin.h>
#else
#define CRC32C_HAVE_X86 0
#endif

#define CRC32C_POLY 0x82f63b78u /* reflected Castagnoli polynomial */

/*
 * Internal functions work on the raw CRC register (no init/final XOR); the public ones
 * take and return a finished CRC, so crc32c_extend(crc32c(a), b) == crc32c(a || b).
 */
typedef uint32_t (*crc32c_fn)(uint32_t reg, const uint8_t *p, size_t len);

static uint32_t sw_table[8][256]; /* slicing-by-8 */
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;
static int hw_ok;

static inline uint32_t le32_load(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	return v;
}

static uint32_t sw_update(uint32_t reg, const uint8_t *p, size_t len)
{
	/* Byte at a time up to an 8-byte boundary so the word loads stay aligned. */
	while (len && ((uintptr_t)p & 7)) {
		reg = sw_table[0][(reg ^ *p++) & 0xff] ^ (reg >> 8);
		len--;
	}
	while (len >= 8) {
		uint32_t lo = reg ^ le32_load(p);
		uint32_t hi = le32_load(p + 4);

		reg = sw_table[7][lo & 0xff] ^ sw_table[6][(lo >> 8) & 0xff] ^
		      sw_table[5][(lo >> 16) & 0xff] ^ sw_table[4][lo >> 24] ^
		      sw_table[3][hi & 0xff] ^ sw_table[2][(hi >> 8) & 0xff] ^
		      sw_table[1][(hi >> 16) & 0xff] ^ sw_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		reg = sw_table[0][(reg ^ *p++) & 0xff] ^ (reg >> 8);
	return reg;
}

#if CRC32C_HAVE_X86
/*
 * crc32 has a latency of 3 cycles and a throughput of 1 per cycle, so the hardware
 * path runs three independent streams over adjacent blocks and folds them together:
 * crc(A || B) = shift(crc(A), |B|) ^ crc(B), where shift() appends |B| zero bytes,
 * a linear map applied with four byte-indexed tables. LONG for big buffers (few
 * folds), SHORT for the tail; both powers of two.
 */
#define HW_LONG 8192
#define HW_SHORT 256

static uint32_t hw_long[4][256];
static uint32_t hw_short[4][256];

/* GF(2) matrix (32 columns, column n = image of bit n) times a vector. */
static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
	uint32_t sum = 0;

	for (; vec; vec >>= 1, mat++)
		if (vec & 1)
			sum ^= *mat;
	return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat)
{
	for (int n = 0; n < 32; n++)
		square[n] = gf2_times(mat, mat[n]);
}

/* Tables that append len zero bytes (len a power of two) to a raw CRC register. */
static void zeros_tables(uint32_t tab[4][256], size_t len)
{
	uint32_t op[32], tmp[32];
	uint32_t row = 1;

	/* operator for one zero bit, then square it up to 8 * len bits */
	op[0] = CRC32C_POLY;
	for (int n = 1; n < 32; n++, row <<= 1)
		op[n] = row;
	for (size_t bits = 1; bits < 8 * len; bits <<= 1) {
		gf2_square(tmp, op);
		memcpy(op, tmp, sizeof(op));
	}
	for (uint32_t n = 0; n < 256; n++) {
		tab[0][n] = gf2_times(op, n);
		tab[1][n] = gf2_times(op, n << 8);
		tab[2][n] = gf2_times(op, n << 16);
		tab[3][n] = gf2_times(op, n << 24);
	}
}

static inline uint32_t zeros_shift(const uint32_t tab[4][256], uint32_t reg)
{
	return tab[0][reg & 0xff] ^ tab[1][(reg >> 8) & 0xff] ^ tab[2][(reg >> 16) & 0xff] ^
	       tab[3][reg >> 24];
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

__attribute__((target("sse4.2"))) static uint32_t hw_update(uint32_t reg, const uint8_t *p,
							    size_t len)
{
	uint64_t c0 = reg, c1, c2;
	const uint8_t *end;

	while (len && ((uintptr_t)p & 7)) {
		c0 = _mm_crc32_u8((uint32_t)c0, *p++);
		len--;
	}
	while (len >= 3 * HW_LONG) {
		c1 = c2 = 0;
		end = p + HW_LONG;
		do {
			c0 = _mm_crc32_u64(c0, load64(p));
			c1 = _mm_crc32_u64(c1, load64(p + HW_LONG));
			c2 = _mm_crc32_u64(c2, load64(p + 2 * HW_LONG));
			p += 8;
		} while (p < end);
		c0 = zeros_shift(hw_long, (uint32_t)c0) ^ c1;
		c0 = zeros_shift(hw_long, (uint32_t)c0) ^ c2;
		p += 2 * HW_LONG;
		len -= 3 * HW_LONG;
	}
	while (len >= 3 * HW_SHORT) {
		c1 = c2 = 0;
		end = p + HW_SHORT;
		do {
			c0 = _mm_crc32_u64(c0, load64(p));
			c1 = _mm_crc32_u64(c1, load64(p + HW_SHORT));
			c2 = _mm_crc32_u64(c2, load64(p + 2 * HW_SHORT));
			p += 8;
		} while (p < end);
		c0 = zeros_shift(hw_short, (uint32_t)c0) ^ c1;
		c0 = zeros_shift(hw_short, (uint32_t)c0) ^ c2;
		p += 2 * HW_SHORT;
		len -= 3 * HW_SHORT;
	}
	for (; len >= 8; p += 8, len -= 8)
		c0 = _mm_crc32_u64(c0, load64(p));
	while (len--)
		c0 = _mm_crc32_u8((uint32_t)c0, *p++);
	return (uint32_t)c0;
}
#endif /* CRC32C_HAVE_X86 */

/* The implementation crc32c_extend() calls; published once the tables are built. */
static uint32_t resolve_update(uint32_t reg, const uint8_t *p, size_t len);
static crc32c_fn crc32c_impl = resolve_update;

static void crc32c_init(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		sw_table[0][n] = c;
	}
	for (uint32_t n = 0; n < 256; n++)
		for (int k = 1; k < 8; k++)
			sw_table[k][n] =
				(sw_table[k - 1][n] >> 8) ^ sw_table[0][sw_table[k - 1][n] & 0xff];

	crc32c_fn impl = sw_update;
#if CRC32C_HAVE_X86
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2")) {
		zeros_tables(hw_long, HW_LONG);
		zeros_tables(hw_short, HW_SHORT);
		hw_ok = 1;
		impl = hw_update;
	}
#endif
	/* release: a thread that loads the pointer also sees the tables behind it */
	__atomic_store_n(&crc32c_impl, impl, __ATOMIC_RELEASE);
}

static uint32_t resolve_update(uint32_t reg, const uint8_t *p, size_t len)
{
	pthread_once(&crc32c_once, crc32c_init);
	return __atomic_load_n(&crc32c_impl, __ATOMIC_ACQUIRE)(reg, p, len);
}

uint32_t crc32c_extend(uint32_t crc, const void *buf, size_t len)
{
	crc32c_fn impl = __atomic_load_n(&crc32c_impl, __ATOMIC_ACQUIRE);

	return ~impl(~crc, buf, len);
}

uint32_t crc32c(const void *buf, size_t len)
{
	return crc32c_extend(0, buf, len);
}

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc32c_once, crc32c_init);
	return ~sw_update(~crc, buf, len);
}

uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc32c_once, crc32c_init);
#if CRC32C_HAVE_X86
	if (hw_ok)
		return ~hw_update(~crc, buf, len);
#endif
	return ~sw_update(~crc, buf, len);
}

int crc32c_hw_available(void)
{
	pthread_once(&crc32c_once, crc32c_init);
	return hw_ok;
}
