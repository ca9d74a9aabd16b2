/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_compression.c — Kafka's codecs: round trips, known answers (hand-made frames and
 * the gzip/lz4/zstd command-line tools both ways), truncated, corrupt and hostile input,
 * the decompression bound, and compressed batches read end to end through a broker.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <snappy-c.h>
#include <zstd.h>

#include "byteorder.h"
#include "compression.h"
#include "logging.h"
#include "pagebus.h"
#include "partition.h"
#include "record_batch.h"
#include "testutil.h"

static const int all_codecs[] = { RB_CODEC_GZIP, RB_CODEC_SNAPPY, RB_CODEC_LZ4, RB_CODEC_ZSTD };
#define NCODECS ((int)(sizeof(all_codecs) / sizeof(all_codecs[0])))
#define MiB ((size_t)1 << 20)

/* ---- helpers ------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* len bytes alternating runs of text and of random bytes: compressible, not trivially. */
static uint8_t *mixed_input(size_t len)
{
	static const char text[] = "pagebus stores Kafka RecordBatch v2; offsets are deltas. ";
	uint8_t *p = malloc(len ? len : 1);
	assert_non_null(p);
	for (size_t i = 0; i < len; i++) {
		if ((i / 4096) % 3 == 2)
			p[i] = (uint8_t)rng();
		else
			p[i] = (uint8_t)text[i % (sizeof(text) - 1)];
	}
	return p;
}

/* A copy in a buffer of exactly len bytes, so ASan sees any read past the input. */
static uint8_t *exact_copy(const void *src, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);
	assert_non_null(p);
	if (len)
		memcpy(p, src, len);
	return p;
}

/* pb_decompress into *out (freed by the caller when the result is 0). */
static int dec(int codec, const void *in, size_t len, size_t max_out, uint8_t **out,
	       size_t *out_len)
{
	void *o = NULL;
	int r = pb_decompress(codec, in, len, &o, out_len, max_out);
	if (r == 0)
		assert_non_null(o);
	*out = o;
	return r;
}

static void assert_round_trip(int codec, const uint8_t *in, size_t len)
{
	void *z;
	uint8_t *out;
	size_t zlen, out_len;

	assert_int_equal(pb_compress(codec, in, len, &z, &zlen), 0);
	uint8_t *zc = exact_copy(z, zlen);
	free(z);
	assert_int_equal(dec(codec, zc, zlen, pb_codec_bound(zlen), &out, &out_len), 0);
	assert_int_equal(out_len, len);
	if (len)
		assert_memory_equal(out, in, len);
	free(out);
	free(zc);
}

static bool have_tool(const char *name)
{
	return tu_sh("command -v %s >/dev/null 2>&1", name) == 0;
}

static void write_file(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* ---- round trips and framings -------------------------------------------------------- */

static void test_every_codec_round_trips_empty_small_and_1mib(void **state)
{
	(void)state;
	static const uint8_t small[] = "k1=v1; a small record set, shorter than any block";
	uint8_t *big = mixed_input(MiB);
	uint8_t *noise = malloc(MiB);
	assert_non_null(noise);
	for (size_t i = 0; i < MiB; i++)
		noise[i] = (uint8_t)rng();

	for (int k = 0; k < NCODECS; k++) {
		assert_round_trip(all_codecs[k], NULL, 0);
		assert_round_trip(all_codecs[k], small, sizeof(small));
		assert_round_trip(all_codecs[k], big, MiB);
		assert_round_trip(all_codecs[k], noise, MiB); /* stored/literal blocks */
	}
	free(big);
	free(noise);
}

/* The framings Kafka's Java client writes, checked on our output's first bytes. */
static void test_compress_writes_kafka_framings(void **state)
{
	(void)state;
	uint8_t *in = mixed_input(100 * 1024);
	void *z;
	size_t zlen;

	assert_int_equal(pb_compress(RB_CODEC_GZIP, in, 100 * 1024, &z, &zlen), 0);
	assert_memory_equal(z, "\x1f\x8b\x08", 3); /* gzip member, deflate */
	free(z);

	assert_int_equal(pb_compress(RB_CODEC_SNAPPY, in, 100 * 1024, &z, &zlen), 0);
	assert_memory_equal(z, "\x82SNAPPY\0\0\0\0\1\0\0\0\1", 16); /* xerial, version 1/1 */
	/* 32 KiB blocks: 100 KiB is four of them, each [int32 length][snappy block] */
	size_t pos = 16, blocks = 0;
	while (pos < zlen) {
		uint32_t clen = be32_get((uint8_t *)z + pos);
		size_t ulen = 0;
		assert_true(pos + 4 + clen <= zlen);
		assert_int_equal(snappy_uncompressed_length((char *)z + pos + 4, clen, &ulen),
				 SNAPPY_OK);
		assert_true(ulen <= 32 * 1024);
		pos += 4 + clen;
		blocks++;
	}
	assert_int_equal(pos, zlen);
	assert_int_equal(blocks, 4);
	free(z);

	assert_int_equal(pb_compress(RB_CODEC_LZ4, in, 100 * 1024, &z, &zlen), 0);
	assert_memory_equal(z, "\x04\x22\x4d\x18", 4);	  /* LZ4 frame magic */
	assert_int_equal(((uint8_t *)z)[4] & 0xe0, 0x60); /* version 01, independent blocks */
	assert_int_equal(((uint8_t *)z)[5], 0x40);	  /* 64 KiB blocks */
	free(z);

	assert_int_equal(pb_compress(RB_CODEC_ZSTD, in, 100 * 1024, &z, &zlen), 0);
	assert_memory_equal(z, "\x28\xb5\x2f\xfd", 4); /* zstd frame magic */
	assert_true(ZSTD_getFrameContentSize(z, zlen) == ZSTD_CONTENTSIZE_UNKNOWN);
	free(z);
	free(in);
}

static void test_unknown_codec_is_enotsup_and_none_is_einval(void **state)
{
	(void)state;
	void *out = (void *)&out;
	size_t len = 7;

	for (int codec = 5; codec <= 8; codec++) {
		assert_int_equal(pb_decompress(codec, "x", 1, &out, &len, MiB), -ENOTSUP);
		assert_int_equal(pb_compress(codec, "x", 1, &out, &len), -ENOTSUP);
		assert_false(pb_codec_supported(codec));
	}
	assert_int_equal(pb_decompress(-1, "x", 1, &out, &len, MiB), -ENOTSUP);
	assert_int_equal(pb_decompress(RB_CODEC_NONE, "x", 1, &out, &len, MiB), -EINVAL);
	assert_int_equal(pb_compress(RB_CODEC_NONE, "x", 1, &out, &len), -EINVAL);
	assert_false(pb_codec_supported(RB_CODEC_NONE));
	for (int k = 0; k < NCODECS; k++)
		assert_true(pb_codec_supported(all_codecs[k]));
	/* untouched on error */
	assert_ptr_equal(out, (void *)&out);
	assert_int_equal(len, 7);
}

/* ---- known answers ------------------------------------------------------------------- */

/* `printf 'hello, pagebus\n' | gzip -cn9` */
static const uint8_t gzip_hello[] = {
	0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48,
	0xcd, 0xc9, 0xc9, 0xd7, 0x51, 0x28, 0x48, 0x4c, 0x4f, 0x4d, 0x2a, 0x2d,
	0xe6, 0x02, 0x00, 0xee, 0x6d, 0xd7, 0x1d, 0x0f, 0x00, 0x00, 0x00,
};

static void test_gzip_member_from_gzip_decodes(void **state)
{
	(void)state;
	uint8_t *out, two[2 * sizeof(gzip_hello)];
	size_t len;

	assert_int_equal(dec(RB_CODEC_GZIP, gzip_hello, sizeof(gzip_hello), MiB, &out, &len), 0);
	assert_int_equal(len, 15);
	assert_memory_equal(out, "hello, pagebus\n", 15);
	free(out);

	/* two members read as one stream, as GZIPInputStream does */
	memcpy(two, gzip_hello, sizeof(gzip_hello));
	memcpy(two + sizeof(gzip_hello), gzip_hello, sizeof(gzip_hello));
	assert_int_equal(dec(RB_CODEC_GZIP, two, sizeof(two), MiB, &out, &len), 0);
	assert_int_equal(len, 30);
	assert_memory_equal(out, "hello, pagebus\nhello, pagebus\n", 30);
	free(out);

	/* anything else after the member is corruption */
	memcpy(two + sizeof(gzip_hello), "\0\0\0", 3);
	assert_int_equal(dec(RB_CODEC_GZIP, two, sizeof(gzip_hello) + 3, MiB, &out, &len),
			 -PAGEBUS_EBADRECORD);
	/* a stored CRC-32 that does not match */
	memcpy(two, gzip_hello, sizeof(gzip_hello));
	two[sizeof(gzip_hello) - 8] ^= 1;
	assert_int_equal(dec(RB_CODEC_GZIP, two, sizeof(gzip_hello), MiB, &out, &len),
			 -PAGEBUS_EBADRECORD);
}

/*
 * snappy, built by hand from snappy-java's format: raw "hello" is varint 5, a literal
 * tag (len - 1) << 2, the bytes; xerial wraps it as header + [int32 7][block].
 */
static const uint8_t snappy_raw_hello[] = { 0x05, 0x10, 'h', 'e', 'l', 'l', 'o' };
/* clang-format off */
static const uint8_t xerial_hello[] = {
	0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0x00, 0, 0, 0, 1, 0, 0, 0, 1,
	0, 0, 0, 7, 0x05, 0x10, 'h', 'e', 'l', 'l', 'o',
};
/* clang-format on */

static void test_snappy_xerial_and_raw_decode(void **state)
{
	(void)state;
	uint8_t *out, buf[3 * sizeof(xerial_hello)];
	size_t len;

	assert_int_equal(dec(RB_CODEC_SNAPPY, xerial_hello, sizeof(xerial_hello), MiB, &out, &len),
			 0);
	assert_int_equal(len, 5);
	assert_memory_equal(out, "hello", 5);
	free(out);

	assert_int_equal(
		dec(RB_CODEC_SNAPPY, snappy_raw_hello, sizeof(snappy_raw_hello), MiB, &out, &len),
		0);
	assert_int_equal(len, 5);
	assert_memory_equal(out, "hello", 5);
	free(out);

	/* two blocks, then a second stream (header repeated), as snappy-java reads them */
	size_t n = 0;
	memcpy(buf, xerial_hello, sizeof(xerial_hello));
	n += sizeof(xerial_hello);
	memcpy(buf + n, xerial_hello + 16, sizeof(xerial_hello) - 16);
	n += sizeof(xerial_hello) - 16;
	memcpy(buf + n, xerial_hello, sizeof(xerial_hello));
	n += sizeof(xerial_hello);
	assert_int_equal(dec(RB_CODEC_SNAPPY, buf, n, MiB, &out, &len), 0);
	assert_int_equal(len, 15);
	assert_memory_equal(out, "hellohellohello", 15);
	free(out);

	/* a block length past the input, and a bad block */
	memcpy(buf, xerial_hello, sizeof(xerial_hello));
	buf[19] = 8;
	assert_int_equal(dec(RB_CODEC_SNAPPY, buf, sizeof(xerial_hello), MiB, &out, &len),
			 -PAGEBUS_EBADRECORD);
	buf[19] = 7;
	buf[20] = 0x06; /* declares 6 bytes, holds 5 */
	assert_int_equal(dec(RB_CODEC_SNAPPY, buf, sizeof(xerial_hello), MiB, &out, &len),
			 -PAGEBUS_EBADRECORD);
}

/*
 * Interop with the reference tools, both ways: their streams (gzip; lz4 frames of 4 MiB
 * blocks with a content checksum, or of 64 KiB linked blocks; zstd streamed from a pipe,
 * so without a content size, and at level 19) decode here, and ours decode with them.
 */
static void test_cli_tool_streams_decode_and_ours_decode_with_them(void **state)
{
	(void)state;
	static const struct {
		int codec;
		const char *tool, *compress, *decompress;
	} tools[] = {
		{ RB_CODEC_GZIP, "gzip", "gzip -c <%s >%s", "gzip -dc <%s >%s" },
		{ RB_CODEC_LZ4, "lz4", "lz4 -q -c <%s >%s", "lz4 -q -dc <%s >%s" },
		{ RB_CODEC_LZ4, "lz4", "lz4 -q -c -B4 -BD --no-frame-crc <%s >%s",
		  "lz4 -q -dc <%s >%s" },
		{ RB_CODEC_ZSTD, "zstd", "cat %s | zstd -q -c >%s", "zstd -q -dc <%s >%s" },
		{ RB_CODEC_ZSTD, "zstd", "zstd -q -19 -c <%s >%s", "zstd -q -dc <%s >%s" },
	};
	char *dir = tu_tmpdir("codec-cli");
	char plain[512], packed[512], back[512];
	size_t len = 300 * 1024;
	uint8_t *in = mixed_input(len);
	int ran = 0;

	snprintf(plain, sizeof(plain), "%s/plain", dir);
	snprintf(packed, sizeof(packed), "%s/packed", dir);
	snprintf(back, sizeof(back), "%s/back", dir);
	write_file(plain, in, len);
	for (size_t t = 0; t < sizeof(tools) / sizeof(tools[0]); t++) {
		size_t zlen, out_len;
		uint8_t *z, *out;
		void *ours;

		if (!have_tool(tools[t].tool)) {
			fprintf(stderr, "note: %s not installed, its interop check is skipped\n",
				tools[t].tool);
			continue;
		}
		ran++;
		assert_int_equal(tu_sh(tools[t].compress, plain, packed), 0);
		z = tu_read_file(packed, &zlen);
		assert_non_null(z);
		assert_int_equal(dec(tools[t].codec, z, zlen, pb_codec_bound(zlen), &out, &out_len),
				 0);
		assert_int_equal(out_len, len);
		assert_memory_equal(out, in, len);
		free(out);
		free(z);

		assert_int_equal(pb_compress(tools[t].codec, in, len, &ours, &zlen), 0);
		write_file(packed, ours, zlen);
		free(ours);
		assert_int_equal(tu_sh(tools[t].decompress, packed, back), 0);
		out = tu_read_file(back, &out_len);
		assert_non_null(out);
		assert_int_equal(out_len, len);
		assert_memory_equal(out, in, len);
		free(out);
	}
	free(in);
	tu_rmrf(dir);
	free(dir);
	if (!ran)
		skip();
}

/* ---- hostile input ------------------------------------------------------------------- */

/* A small blob of each codec (one snappy block, one lz4 block). */
static uint8_t *small_blob(int codec, const uint8_t *in, size_t len, size_t *zlen)
{
	void *z;
	assert_int_equal(pb_compress(codec, in, len, &z, zlen), 0);
	return z;
}

static void test_truncation_at_every_byte_is_an_error(void **state)
{
	(void)state;
	size_t len = 700;
	uint8_t *in = mixed_input(len);

	for (int k = 0; k < NCODECS; k++) {
		int codec = all_codecs[k];
		size_t zlen;
		uint8_t *z = small_blob(codec, in, len, &zlen);

		for (size_t cut = 0; cut < zlen; cut++) {
			uint8_t *p = exact_copy(z, cut), *out;
			size_t out_len;
			int r = dec(codec, p, cut, MiB, &out, &out_len);

			if (codec == RB_CODEC_SNAPPY && r == 0) {
				/* xerial has no end mark: cut at a block boundary (here: right
				 * after the header) is a shorter valid stream */
				assert_int_equal(cut, 16);
				assert_int_equal(out_len, 0);
				free(out);
			} else {
				assert_int_equal(r, -PAGEBUS_EBADRECORD);
			}
			free(p);
		}
		free(z);
	}

	/* raw snappy too */
	char raw[1024];
	size_t rlen = sizeof(raw);
	assert_int_equal(snappy_compress((const char *)in, len, raw, &rlen), SNAPPY_OK);
	for (size_t cut = 0; cut < rlen; cut++) {
		uint8_t *p = exact_copy(raw, cut), *out;
		size_t out_len;
		assert_int_equal(dec(RB_CODEC_SNAPPY, p, cut, MiB, &out, &out_len),
				 -PAGEBUS_EBADRECORD);
		free(p);
	}
	free(in);
}

/* Every byte flipped, and random garbage behind each codec's magic: an error or some
 * output within the bound, never a crash (ASan checks every access in `make asan`). */
static void test_corrupt_and_random_input_never_crashes(void **state)
{
	(void)state;
	static const struct {
		const char *magic;
		size_t len;
	} magics[] = {
		[RB_CODEC_GZIP] = { "\x1f\x8b\x08\x00", 4 },
		[RB_CODEC_SNAPPY] = { "\x82SNAPPY\0\0\0\0\1\0\0\0\1", 16 },
		[RB_CODEC_LZ4] = { "\x04\x22\x4d\x18\x60\x40\x82", 7 },
		[RB_CODEC_ZSTD] = { "\x28\xb5\x2f\xfd", 4 },
	};
	const size_t max_out = 256 * 1024;
	size_t len = 2000;
	uint8_t *in = mixed_input(len);

	for (int k = 0; k < NCODECS; k++) {
		int codec = all_codecs[k];
		size_t zlen;
		uint8_t *z = small_blob(codec, in, len, &zlen);

		for (size_t i = 0; i < zlen; i++) {
			for (int flip = 0; flip < 2; flip++) {
				uint8_t *p = exact_copy(z, zlen), *out;
				size_t out_len;
				p[i] ^= flip ? 0xff : 0x01;
				int r = dec(codec, p, zlen, max_out, &out, &out_len);
				assert_true(r == 0 || r == -PAGEBUS_EBADRECORD || r == -EMSGSIZE);
				if (r == 0) {
					assert_true(out_len <= max_out);
					free(out);
				}
				free(p);
			}
		}
		free(z);

		for (int round = 0; round < 2000; round++) {
			size_t n = magics[codec].len + rng() % 300;
			uint8_t *p = malloc(n), *out;
			size_t out_len;
			assert_non_null(p);
			for (size_t i = 0; i < n; i++)
				p[i] = (uint8_t)rng();
			if (round % 2)
				memcpy(p, magics[codec].magic, magics[codec].len);
			int r = dec(codec, p, n, max_out, &out, &out_len);
			assert_true(r == 0 || r == -PAGEBUS_EBADRECORD || r == -EMSGSIZE);
			if (r == 0) {
				assert_true(out_len <= max_out);
				free(out);
			}
			free(p);
		}
	}
	free(in);
}

/* ---- the decompression bound --------------------------------------------------------- */

static void test_decompression_bound_refuses_bombs(void **state)
{
	(void)state;
	assert_int_equal(pb_codec_bound(0), 64 * MiB);
	assert_int_equal(pb_codec_bound(MiB), 64 * MiB);
	assert_int_equal(pb_codec_bound(MiB + 1), 64 * (MiB + 1));
	assert_int_equal(pb_codec_bound(3 * MiB), 192 * MiB);
	assert_int_equal(pb_codec_bound(SIZE_MAX / 2), SIZE_MAX);

	/* 80 MiB of zeros compress to a few hundred KiB at most (snappy excepted): past the
	 * default bound */
	size_t len = 80 * MiB, small = 8 * MiB;
	uint8_t *zeros = calloc(1, len);
	assert_non_null(zeros);
	for (int k = 0; k < NCODECS; k++) {
		int codec = all_codecs[k];
		void *z;
		uint8_t *out;
		size_t zlen, out_len;

		assert_int_equal(pb_compress(codec, zeros, len, &z, &zlen), 0);
		if (codec == RB_CODEC_SNAPPY) /* snappy never beats ~21:1: the 64x bound holds it */
			assert_true(zlen > len / 32);
		else
			assert_true(zlen < MiB);
		assert_int_equal(dec(codec, z, zlen, 64 * MiB, &out, &out_len), -EMSGSIZE);
		if (codec != RB_CODEC_SNAPPY)
			assert_int_equal(dec(codec, z, zlen, pb_codec_bound(zlen), &out, &out_len),
					 -EMSGSIZE);
		free(z);

		/* exactly at the bound decodes, one byte under does not */
		assert_int_equal(pb_compress(codec, zeros, small, &z, &zlen), 0);
		assert_int_equal(dec(codec, z, zlen, small, &out, &out_len), 0);
		assert_int_equal(out_len, small);
		free(out);
		assert_int_equal(dec(codec, z, zlen, small - 1, &out, &out_len), -EMSGSIZE);
		assert_int_equal(dec(codec, z, zlen, 0, &out, &out_len), -EMSGSIZE);
		free(z);
	}
	free(zeros);

	/* headers that lie about sizes are refused before anything is allocated for them */
	uint8_t *out;
	size_t out_len;
	static const uint8_t raw_4g[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00 }; /* 4 GiB - 1 */
	assert_int_equal(dec(RB_CODEC_SNAPPY, raw_4g, sizeof(raw_4g), 64 * MiB, &out, &out_len),
			 -EMSGSIZE);
	uint8_t zframe[64];
	size_t zf = ZSTD_compress(zframe, sizeof(zframe), "abc", 3, 1); /* content size 3 */
	assert_false(ZSTD_isError(zf));
	assert_int_equal(dec(RB_CODEC_ZSTD, zframe, zf, 2, &out, &out_len), -EMSGSIZE);
	assert_int_equal(dec(RB_CODEC_ZSTD, zframe, zf, 3, &out, &out_len), 0);
	assert_memory_equal(out, "abc", 3);
	free(out);
}

/* ---- records of a decompressed batch ------------------------------------------------- */

/* Record i of batch b: some keys and values null, 0-2 headers (one with a null value). */
struct rec {
	int64_t ts;
	char key[32];
	int32_t key_len;
	char *value;
	int32_t value_len;
	struct rb_kv hdrs[2];
	char hval[32];
	int nh;
};

static void make_rec(int b, int i, int64_t ts0, size_t value_len, struct rec *r)
{
	memset(r, 0, sizeof(*r));
	r->ts = ts0 + b * 1000 + i;
	r->key_len = i % 4 == 3 ? -1 : snprintf(r->key, sizeof(r->key), "key-%d-%d", b, i);
	r->value_len = -1;
	if (i % 5 != 4) {
		size_t n = value_len ? value_len : 20 + (size_t)(i * 37 % 200);
		r->value = malloc(n);
		assert_non_null(r->value);
		for (size_t j = 0; j < n; j++)
			r->value[j] = (char)('a' + (b * 7 + i + (int)(j % 11)) % 26);
		snprintf(r->value, n, "value-%d-%d", b, i);
		r->value_len = (int32_t)n;
	}
	r->nh = i % 3;
	snprintf(r->hval, sizeof(r->hval), "v%d.%d", b, i);
	r->hdrs[0] = (struct rb_kv){ "h0", 2, r->hval, (int32_t)strlen(r->hval) };
	r->hdrs[1] = (struct rb_kv){ "trace", 5, NULL, -1 };
}

/* An uncompressed batch of count records (make_rec(b, ...)); malloc'd. */
static uint8_t *build_batch(int b, int count, int64_t ts0, size_t value_len, size_t *len)
{
	size_t cap = RB_HEADER_SIZE + (size_t)count * ((value_len ? value_len : 220) + 96);
	uint8_t *buf = malloc(cap);
	struct rb_builder bld;
	assert_non_null(buf);
	assert_int_equal(rb_builder_init(&bld, buf, cap), 0);
	for (int i = 0; i < count; i++) {
		struct rec r;
		make_rec(b, i, ts0, value_len, &r);
		assert_int_equal(rb_builder_add(&bld, r.ts, r.key, r.key_len, r.value, r.value_len,
						r.hdrs, r.nh),
				 0);
		free(r.value);
	}
	long total = rb_builder_finish(&bld);
	assert_true(total > 0);
	*len = (size_t)total;
	return buf;
}

/* The batch with its records part compressed: attributes = codec, a fresh CRC. */
static uint8_t *compress_batch(const uint8_t *u, size_t ulen, int codec, size_t *len)
{
	void *z;
	size_t zlen;
	assert_int_equal(pb_compress(codec, u + RB_HEADER_SIZE, ulen - RB_HEADER_SIZE, &z, &zlen),
			 0);
	uint8_t *c = malloc(RB_HEADER_SIZE + zlen);
	assert_non_null(c);
	memcpy(c, u, RB_HEADER_SIZE);
	memcpy(c + RB_HEADER_SIZE, z, zlen);
	free(z);
	*len = RB_HEADER_SIZE + zlen;
	be32_put(c + RB_OFF_LENGTH, (uint32_t)(*len - RB_LOG_OVERHEAD));
	be16_put(c + RB_OFF_ATTRIBUTES, (uint16_t)((be16_get(c + RB_OFF_ATTRIBUTES) & ~7) | codec));
	be32_put(c + RB_OFF_CRC, rb_compute_crc(c, *len));
	return c;
}

static void test_iter_over_decompressed_records_matches_batch(void **state)
{
	(void)state;
	size_t ulen;
	uint8_t *u = build_batch(3, 12, 1700000000000, 0, &ulen);
	const uint8_t *recs = u + RB_HEADER_SIZE;
	size_t rlen = ulen - RB_HEADER_SIZE;
	struct rb_iter a, b;
	struct rb_record ra, rb;
	struct rb_header h;

	rb_set_base_offset(u, 1000);
	assert_int_equal(rb_header_parse(u, ulen, &h), 0);
	assert_int_equal(rb_iter_start(&a, u, ulen), 0);
	assert_int_equal(rb_iter_start_records(&b, &h, recs, rlen), 0);
	for (int i = 0;; i++) {
		int x = rb_iter_next(&a, &ra), y = rb_iter_next(&b, &rb);
		assert_int_equal(x, y);
		if (!x) {
			assert_int_equal(i, 12);
			break;
		}
		assert_int_equal(rb.offset, 1000 + i);
		assert_int_equal(ra.timestamp, rb.timestamp);
		assert_ptr_equal(ra.key, rb.key);
		assert_int_equal(ra.key_len, rb.key_len);
		assert_ptr_equal(ra.value, rb.value);
		assert_int_equal(ra.value_len, rb.value_len);
		assert_int_equal(ra.header_count, rb.header_count);
		assert_int_equal(ra.headers_len, rb.headers_len);
	}

	/* records must fill the buffer exactly and match recordsCount */
	uint8_t *more = malloc(rlen + 1);
	assert_non_null(more);
	memcpy(more, recs, rlen);
	more[rlen] = 0;
	assert_int_equal(rb_iter_start_records(&b, &h, more, rlen + 1), -PAGEBUS_EBADCOUNT);
	assert_true(rb_iter_start_records(&b, &h, recs, rlen - 1) < 0);
	struct rb_header h2 = h;
	h2.records_count = 13;
	h2.last_offset_delta = 12;
	assert_int_equal(rb_iter_start_records(&b, &h2, recs, rlen), -PAGEBUS_EBADCOUNT);
	h2.records_count = 11;
	h2.last_offset_delta = 10;
	assert_int_equal(rb_iter_start_records(&b, &h2, recs, rlen), -PAGEBUS_EBADCOUNT);
	h2.last_offset_delta = 11;
	assert_int_equal(rb_iter_start_records(&b, &h2, recs, rlen), -PAGEBUS_EBADCOUNT);
	assert_int_equal(rb_iter_start_records(&b, &h, recs, 0), -PAGEBUS_EBADCOUNT);
	free(more);

	/* a compressed batch passes rb_validate (CRC, counts) and its records decode */
	for (int k = 0; k < NCODECS; k++) {
		size_t clen, dlen;
		uint8_t *c = compress_batch(u, ulen, all_codecs[k], &clen), *d;
		struct rb_header hc;
		assert_int_equal(rb_validate(c, clen, true, &hc), (long)clen);
		assert_int_equal(rb_codec(&hc), all_codecs[k]);
		assert_int_equal(rb_iter_start(&a, c, clen), -PAGEBUS_ECOMPRESSED);
		assert_int_equal(dec(all_codecs[k], c + RB_HEADER_SIZE, clen - RB_HEADER_SIZE, MiB,
				     &d, &dlen),
				 0);
		assert_int_equal(dlen, rlen);
		assert_memory_equal(d, recs, rlen);
		free(d);
		free(c);
	}
	free(u);
}

/* ---- end to end: compressed batches on disk, read by a consumer ---------------------- */

struct e2e {
	char *root;
	char dir[80]; /* DIR/pagebus.sock must fit a sockaddr_un */
	char log[600];
	pid_t broker;
	int64_t ts0;
};

static int e2e_setup(void **state)
{
	struct e2e *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->root = tu_tmpdir("codec");
	snprintf(f->dir, sizeof(f->dir), "%s/data", f->root);
	snprintf(f->log, sizeof(f->log), "%s/pagebusd.log", f->root);
	f->broker = -1;
	f->ts0 = (int64_t)time(NULL) * 1000;
	log_set_level(LOG_ERROR);
	*state = f;
	return 0;
}

static int e2e_teardown(void **state)
{
	struct e2e *f = *state;
	int rc = 0;
	if (f->broker > 0) {
		int st = tu_broker_stop(f->broker);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "pagebusd did not stop cleanly (wait status %#x)\n", st);
			rc = -1;
		}
	}
	tu_rmrf(f->root);
	free(f->root);
	free(f);
	return rc;
}

static void start_broker(struct e2e *f)
{
	f->broker = tu_broker_start(f->dir, f->log, NULL, NULL);
	assert_true(f->broker > 0);
}

static void stop_broker(struct e2e *f)
{
	int st = tu_broker_stop(f->broker);
	f->broker = -1;
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Creates the topic through a broker, which is then stopped: its partitions exist. */
static void create_topic(struct e2e *f, const char *topic, int partitions)
{
	struct pagebus *pb;
	start_broker(f);
	assert_int_equal(pagebus_connect(f->dir, &pb), 0);
	assert_int_equal(pagebus_topic_create(pb, topic, partitions), 0);
	pagebus_close(pb);
	stop_broker(f);
}

/* Appends batches to a partition while no broker runs, as a Kafka-fed log would hold. */
static void append_batches(struct e2e *f, const char *topic, int part, uint8_t **batches,
			   const size_t *lens, int n)
{
	char path[256];
	struct log_config cfg;
	struct partition *p;
	snprintf(path, sizeof(path), "%s/%s-%d", f->dir, topic, part);
	log_config_defaults(&cfg);
	assert_int_equal(part_open(path, &cfg, &p), 0);
	for (int i = 0; i < n; i++) {
		int64_t base;
		assert_int_equal(part_append(p, batches[i], lens[i], f->ts0, &base), 0);
	}
	part_close(p);
}

static void assert_msg(const struct pagebus_msg *m, int b, int i, int64_t offset, int64_t ts0,
		       size_t value_len)
{
	struct rec r;
	struct pagebus_header h;
	size_t pos = 0;

	make_rec(b, i, ts0, value_len, &r);
	assert_int_equal(m->offset, offset);
	assert_int_equal(m->partition, 0);
	assert_int_equal(m->timestamp, r.ts);
	if (r.key_len < 0) {
		assert_null(m->key);
	} else {
		assert_int_equal(m->key_len, r.key_len);
		assert_memory_equal(m->key, r.key, m->key_len);
	}
	if (r.value_len < 0) {
		assert_null(m->value);
	} else {
		assert_int_equal(m->value_len, r.value_len);
		assert_memory_equal(m->value, r.value, m->value_len);
	}
	assert_int_equal(m->header_count, r.nh);
	for (int k = 0; k < r.nh; k++) {
		assert_int_equal(pagebus_msg_header(m, &pos, &h), 1);
		assert_int_equal(h.key_len, r.hdrs[k].key_len);
		assert_memory_equal(h.key, r.hdrs[k].key, h.key_len);
		if (r.hdrs[k].value_len < 0) {
			assert_null(h.value);
		} else {
			assert_int_equal(h.value_len, r.hdrs[k].value_len);
			assert_memory_equal(h.value, r.hdrs[k].value, h.value_len);
		}
	}
	assert_int_equal(pagebus_msg_header(m, &pos, &h), 0);
	free(r.value);
}

/* The log of the end-to-end case: batch b holds counts[b] records, compressed with
 * codecs[b] (batch 6 has 1 KiB values, big enough for several codec blocks). */
static const int e2e_codecs[] = { RB_CODEC_NONE, RB_CODEC_GZIP, RB_CODEC_SNAPPY, RB_CODEC_LZ4,
				  RB_CODEC_ZSTD, RB_CODEC_NONE, RB_CODEC_ZSTD,	 RB_CODEC_GZIP };
static const int e2e_counts[] = { 3, 7, 9, 11, 13, 2, 300, 1 };
#define E2E_BATCHES ((int)(sizeof(e2e_counts) / sizeof(e2e_counts[0])))

static size_t e2e_value_len(int b)
{
	return b == 6 ? 1024 : 0;
}

/* Where offset o is in the e2e log: batch and index. */
static void e2e_locate(int64_t o, int *b, int *i)
{
	for (*b = 0; o >= e2e_counts[*b]; (*b)++)
		o -= e2e_counts[*b];
	*i = (int)o;
}

/* Polls until total messages arrived from `from` on, max per poll, checking each. */
static void consume_all(struct pagebus *pb, int64_t from, int max, int64_t total, int64_t ts0)
{
	struct pagebus_consumer *c;
	struct pagebus_msg *msgs = calloc((size_t)max, sizeof(*msgs));
	int64_t next = from < 0 ? 0 : from;

	assert_non_null(msgs);
	assert_int_equal(pagebus_consumer_open(pb, "zip", 0, from, NULL, &c), 0);
	while (next < total) {
		int n = pagebus_poll(c, msgs, max, 5000);
		if (n < 0)
			fprintf(stderr, "poll: %s (%s)\n", pagebus_strerror(n),
				pagebus_last_error(pb));
		assert_true(n > 0);
		/* checked after the poll returned: every message of it, across batches */
		for (int k = 0; k < n; k++) {
			int b, i;
			e2e_locate(next, &b, &i);
			assert_msg(&msgs[k], b, i, next, ts0, e2e_value_len(b));
			next++;
		}
	}
	assert_int_equal(pagebus_poll(c, msgs, max, 0), 0);
	assert_int_equal(pagebus_position(c), total);
	pagebus_consumer_close(c);
	free(msgs);
}

static void test_consumer_reads_every_codec_byte_for_byte(void **state)
{
	struct e2e *f = *state;
	uint8_t *batches[E2E_BATCHES];
	size_t lens[E2E_BATCHES];
	int64_t total = 0;

	create_topic(f, "zip", 1);
	for (int b = 0; b < E2E_BATCHES; b++) {
		size_t ulen;
		uint8_t *u = build_batch(b, e2e_counts[b], f->ts0, e2e_value_len(b), &ulen);
		if (e2e_codecs[b] == RB_CODEC_NONE) {
			batches[b] = u;
			lens[b] = ulen;
		} else {
			batches[b] = compress_batch(u, ulen, e2e_codecs[b], &lens[b]);
			free(u);
		}
		total += e2e_counts[b];
	}
	append_batches(f, "zip", 0, batches, lens, E2E_BATCHES);
	for (int b = 0; b < E2E_BATCHES; b++)
		free(batches[b]);

	start_broker(f);
	struct pagebus *pb;
	assert_int_equal(pagebus_connect(f->dir, &pb), 0);
	consume_all(pb, PAGEBUS_OFFSET_BEGINNING, 1000, total, f->ts0); /* all batches at once */
	consume_all(pb, 0, 4, total, f->ts0); /* polls that end inside batches */
	consume_all(pb, 0, 1, total, f->ts0);
	consume_all(pb, 5, 3, total, f->ts0);	/* from inside the gzip batch */
	consume_all(pb, 30, 64, total, f->ts0); /* from inside the zstd batch */
	consume_all(pb, total - 1, 8, total, f->ts0);
	pagebus_close(pb);
}

/* A compressed batch whose bytes rot on disk: the CRC refuses it before decompression;
 * without CRC checks, the codec refuses it. An unknown codec is -ENOTSUP, named. */
static void test_consumer_refuses_corrupt_and_unknown_compressed_batches(void **state)
{
	struct e2e *f = *state;
	size_t ulen, lens[2];
	uint8_t *batches[2];

	create_topic(f, "zip", 2);
	uint8_t *u = build_batch(1, 5, f->ts0, 0, &ulen);
	batches[0] = compress_batch(u, ulen, RB_CODEC_GZIP, &lens[0]);
	batches[1] = compress_batch(u, ulen, RB_CODEC_GZIP, &lens[1]);
	append_batches(f, "zip", 0, batches, lens, 2);
	free(batches[1]);
	/* partition 1: a well-formed batch with codec 5, which Kafka has not defined */
	batches[1] = compress_batch(u, ulen, RB_CODEC_GZIP, &lens[1]);
	be16_put(batches[1] + RB_OFF_ATTRIBUTES, 5);
	be32_put(batches[1] + RB_OFF_CRC, rb_compute_crc(batches[1], lens[1]));
	append_batches(f, "zip", 1, batches, lens, 2);
	free(batches[1]);
	free(u);

	start_broker(f);
	/* rot: one byte inside the second batch's compressed records */
	char seg[256];
	snprintf(seg, sizeof(seg), "%s/zip-0", f->dir);
	int fd = open(tu_seg_file(seg, 0, ".log"), O_WRONLY);
	assert_true(fd >= 0);
	uint8_t bad = batches[0][RB_HEADER_SIZE + 12] ^ 0x20;
	assert_int_equal(pwrite(fd, &bad, 1, (off_t)(lens[0] + RB_HEADER_SIZE + 12)), 1);
	close(fd);
	free(batches[0]);

	struct pagebus *pb;
	struct pagebus_consumer *c;
	struct pagebus_msg msgs[16];
	assert_int_equal(pagebus_connect(f->dir, &pb), 0);

	assert_int_equal(pagebus_consumer_open(pb, "zip", 0, 0, NULL, &c), 0);
	assert_int_equal(pagebus_poll(c, msgs, 16, 5000), 5); /* the good batch */
	for (int i = 0; i < 5; i++)
		assert_msg(&msgs[i], 1, i, i, f->ts0, 0);
	assert_int_equal(pagebus_poll(c, msgs, 16, 1000), -PAGEBUS_EBADCRC);
	pagebus_consumer_close(c);

	struct pagebus_consumer_opts o = { .sz = sizeof(o), .verify_crc = 0 };
	assert_int_equal(pagebus_consumer_open(pb, "zip", 0, 5, &o, &c), 0);
	assert_int_equal(pagebus_poll(c, msgs, 16, 1000), -PAGEBUS_EBADRECORD);
	assert_non_null(strstr(pagebus_last_error(pb), "gzip"));
	assert_non_null(strstr(pagebus_last_error(pb), "offset 5"));
	pagebus_consumer_close(c);

	assert_int_equal(pagebus_consumer_open(pb, "zip", 1, 0, NULL, &c), 0);
	assert_int_equal(pagebus_poll(c, msgs, 16, 5000), 5);
	assert_int_equal(pagebus_poll(c, msgs, 16, 1000), -ENOTSUP);
	assert_non_null(strstr(pagebus_last_error(pb), "codec 5"));
	pagebus_consumer_close(c);
	pagebus_close(pb);
}

/* A batch whose records would inflate past the bound is refused, not allocated. */
static void test_consumer_refuses_a_decompression_bomb(void **state)
{
	struct e2e *f = *state;
	size_t cap = 80 * MiB, len, zlen;
	uint8_t *buf = malloc(cap), *zeros = calloc(1, 70 * MiB);
	struct rb_builder b;

	assert_non_null(buf);
	assert_non_null(zeros);
	create_topic(f, "zip", 1);
	assert_int_equal(rb_builder_init(&b, buf, cap), 0);
	assert_int_equal(rb_builder_add(&b, f->ts0, NULL, -1, zeros, 70 * MiB, NULL, 0), 0);
	long total = rb_builder_finish(&b);
	assert_true(total > 0);
	free(zeros);
	uint8_t *z = compress_batch(buf, (size_t)total, RB_CODEC_ZSTD, &zlen);
	free(buf);
	len = zlen;
	append_batches(f, "zip", 0, &z, &len, 1);
	free(z);

	start_broker(f);
	struct pagebus *pb;
	struct pagebus_consumer *c;
	struct pagebus_msg m;
	assert_int_equal(pagebus_connect(f->dir, &pb), 0);
	assert_int_equal(pagebus_consumer_open(pb, "zip", 0, 0, NULL, &c), 0);
	assert_int_equal(pagebus_poll(c, &m, 1, 5000), -EMSGSIZE);
	assert_non_null(strstr(pagebus_last_error(pb), "zstd"));
	pagebus_consumer_close(c);
	pagebus_close(pb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_codec_round_trips_empty_small_and_1mib),
		cmocka_unit_test(test_compress_writes_kafka_framings),
		cmocka_unit_test(test_unknown_codec_is_enotsup_and_none_is_einval),
		cmocka_unit_test(test_gzip_member_from_gzip_decodes),
		cmocka_unit_test(test_snappy_xerial_and_raw_decode),
		cmocka_unit_test(test_cli_tool_streams_decode_and_ours_decode_with_them),
		cmocka_unit_test(test_truncation_at_every_byte_is_an_error),
		cmocka_unit_test(test_corrupt_and_random_input_never_crashes),
		cmocka_unit_test(test_decompression_bound_refuses_bombs),
		cmocka_unit_test(test_iter_over_decompressed_records_matches_batch),
		cmocka_unit_test_setup_teardown(test_consumer_reads_every_codec_byte_for_byte,
						e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(
			test_consumer_refuses_corrupt_and_unknown_compressed_batches, e2e_setup,
			e2e_teardown),
		cmocka_unit_test_setup_teardown(test_consumer_refuses_a_decompression_bomb,
						e2e_setup, e2e_teardown),
	};
	return cmocka_run_group_tests_name("compression", tests, NULL, NULL);
}
