/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_record_batch.c — RecordBatch v2: byte-exact encoding against Kafka's vectors,
 * round trips through rb_builder / rb_validate / rb_iter, one distinct error per kind
 * of damage, and a mutation run that must never read outside the batch (make asan).
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crc32c.h"
#include "pagebus.h"
#include "record_batch.h"
#include "varint.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* fact sheet 5.5: librdkafka 2.0.2, one record, null key, value "hello" */
/* clang-format off */
static const uint8_t hello_batch[73] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* baseOffset */
	0x00, 0x00, 0x00, 0x3d,				/* batchLength 61 */
	0x00, 0x00, 0x00, 0x00,				/* partitionLeaderEpoch */
	0x02,						/* magic */
	0x87, 0xaf, 0x4d, 0xed,				/* crc */
	0x00, 0x00,					/* attributes */
	0x00, 0x00, 0x00, 0x00,				/* lastOffsetDelta */
	0x00, 0x00, 0x01, 0xa2, 0x13, 0x0e, 0xd5, 0xdf, /* baseTimestamp */
	0x00, 0x00, 0x01, 0xa2, 0x13, 0x0e, 0xd5, 0xdf, /* maxTimestamp */
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* producerId */
	0xff, 0xff,					/* producerEpoch */
	0xff, 0xff, 0xff, 0xff,				/* baseSequence */
	0x00, 0x00, 0x00, 0x01,				/* recordsCount */
	0x16, 0x00, 0x00, 0x00, 0x01,			/* len 11, attrs, ts, offset, null key */
	0x0a, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00,	/* value "hello", 0 headers */
};
/* clang-format on */
#define HELLO_TS 0x1a2130ed5dfll

/* Deterministic PRNG (splitmix64) so a failure reproduces. */
static uint64_t rng_state = 0x5eed0fba7c4ull;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void fix_crc(uint8_t *batch, size_t total)
{
	be32_put(batch + RB_OFF_CRC, rb_compute_crc(batch, total));
}

/* rb_validate on a heap copy of exactly len bytes: ASan sees any read past the end. */
static long validate_exact(const void *src, size_t len, bool check_crc, struct rb_header *h)
{
	uint8_t *copy = malloc(len ? len : 1);
	long r;

	assert_non_null(copy);
	if (len)
		memcpy(copy, src, len);
	r = rb_validate(copy, len, check_crc, h);
	free(copy);
	return r;
}

static long validate(const void *src, size_t len)
{
	struct rb_header h;

	return validate_exact(src, len, true, &h);
}

/* A batch around hand-written record bytes (count records), header as the builder
 * writes it, CRC fixed. out must hold 61 + rec_len bytes; returns the total. */
static size_t craft_batch(uint8_t *out, const void *records, size_t rec_len, int32_t count)
{
	uint8_t tmp[128];
	struct rb_builder b;

	assert_int_equal(rb_builder_init(&b, tmp, sizeof(tmp)), 0);
	assert_int_equal(rb_builder_add(&b, HELLO_TS, NULL, -1, "x", 1, NULL, 0), 0);
	assert_true(rb_builder_finish(&b) > 0);
	memcpy(out, tmp, RB_HEADER_SIZE);
	memcpy(out + RB_HEADER_SIZE, records, rec_len);
	be32_put(out + RB_OFF_LENGTH, (uint32_t)(RB_HEADER_SIZE + rec_len - RB_LOG_OVERHEAD));
	be32_put(out + RB_OFF_LAST_OFFSET_DELTA, (uint32_t)(count - 1));
	be32_put(out + RB_OFF_RECORDS_COUNT, (uint32_t)count);
	fix_crc(out, RB_HEADER_SIZE + rec_len);
	return RB_HEADER_SIZE + rec_len;
}

static long validate_records(const void *records, size_t rec_len, int32_t count)
{
	uint8_t buf[512];

	assert_true(RB_HEADER_SIZE + rec_len <= sizeof(buf));
	return validate(buf, craft_batch(buf, records, rec_len, count));
}

/* ---- encoding against Kafka's bytes --------------------------------------------- */

static void test_builder_matches_librdkafka_vector_byte_for_byte(void **state)
{
	uint8_t buf[128];
	struct rb_builder b;

	(void)state;
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(rb_builder_init(&b, buf, sizeof(buf)), 0);
	assert_int_equal(rb_builder_add(&b, HELLO_TS, NULL, -1, "hello", 5, NULL, 0), 0);
	assert_int_equal(rb_builder_finish(&b), 73);
	assert_memory_equal(buf, hello_batch, sizeof(hello_batch));
	assert_int_equal(validate(hello_batch, sizeof(hello_batch)), 73);
}

static void test_builder_encodes_key_value_header_record_as_kafka(void **state)
{
	static const uint8_t want[] = { 0x1c, 0x00, 0x00, 0x00, 0x04, 0x6b, 0x31, 0x04,
					0x76, 0x31, 0x02, 0x02, 0x68, 0x02, 0x78 };
	const struct rb_kv hdr = { "h", 1, "x", 1 };
	uint8_t buf[128];
	struct rb_builder b;

	(void)state;
	assert_int_equal(rb_builder_init(&b, buf, sizeof(buf)), 0);
	assert_int_equal(rb_builder_add(&b, 42, "k1", 2, "v1", 2, &hdr, 1), 0);
	assert_int_equal(rb_record_size(0, 0, 2, 2, &hdr, 1), sizeof(want));
	assert_int_equal(rb_builder_finish(&b), RB_HEADER_SIZE + sizeof(want));
	assert_memory_equal(buf + RB_HEADER_SIZE, want, sizeof(want));
	assert_int_equal(validate(buf, RB_HEADER_SIZE + sizeof(want)),
			 RB_HEADER_SIZE + sizeof(want));
}

static void test_varint_encodes_kafka_examples(void **state)
{
	static const struct {
		int64_t v;
		uint8_t bytes[2];
		size_t n;
	} ex[] = {
		{ 0, { 0x00 }, 1 },	   { -1, { 0x01 }, 1 },	       { 1, { 0x02 }, 1 },
		{ -2, { 0x03 }, 1 },	   { 63, { 0x7e }, 1 },	       { -64, { 0x7f }, 1 },
		{ 64, { 0x80, 0x01 }, 2 }, { 300, { 0xd8, 0x04 }, 2 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ex); i++) {
		uint8_t buf[VARINT_MAX64];
		const uint8_t *p = buf;
		int32_t v32;
		int64_t v64;

		assert_int_equal(varint_size(ex[i].v), ex[i].n);
		assert_int_equal(varint_put(buf, ex[i].v), ex[i].n);
		assert_memory_equal(buf, ex[i].bytes, ex[i].n);
		assert_int_equal(varint_get32(&p, buf + ex[i].n, &v32), 0);
		assert_int_equal(v32, ex[i].v);
		assert_ptr_equal(p, buf + ex[i].n);
		p = buf;
		assert_int_equal(varint_get64(&p, buf + ex[i].n, &v64), 0);
		assert_int_equal(v64, ex[i].v);
	}
}

static void test_varint_round_trips_extremes_and_rejects_overlong(void **state)
{
	static const int32_t v32s[] = {
		INT32_MIN, INT32_MIN + 1, -65, 65, INT32_MAX - 1, INT32_MAX
	};
	static const int64_t v64s[] = { INT64_MIN, INT64_MIN + 1, INT32_MIN,
					INT32_MAX, INT64_MAX - 1, INT64_MAX };
	static const uint8_t six[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x00 };
	static const uint8_t big32[] = { 0xff, 0xff, 0xff, 0xff, 0x1f }; /* 35 bits */
	static const uint8_t eleven[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
					  0x80, 0x80, 0x80, 0x80, 0x00 };
	uint8_t buf[VARINT_MAX64];
	const uint8_t *p;
	int32_t v32;
	int64_t v64;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(v32s); i++) {
		size_t n = varint_put(buf, v32s[i]);

		assert_true(n <= VARINT_MAX32);
		p = buf;
		assert_int_equal(varint_get32(&p, buf + n, &v32), 0);
		assert_int_equal(v32, v32s[i]);
		p = buf; /* one byte short */
		assert_int_equal(varint_get32(&p, buf + n - 1, &v32), -1);
		assert_ptr_equal(p, buf);
	}
	assert_int_equal(varint_size(INT32_MIN), 5);
	assert_int_equal(varint_size(INT32_MAX), 5);
	for (size_t i = 0; i < ARRAY_SIZE(v64s); i++) {
		size_t n = varint_put(buf, v64s[i]);

		assert_true(n <= VARINT_MAX64);
		p = buf;
		assert_int_equal(varint_get64(&p, buf + n, &v64), 0);
		assert_int_equal(v64, v64s[i]);
	}
	assert_int_equal(varint_size(INT64_MIN), 10);
	assert_int_equal(varint_size(INT64_MAX), 10);

	p = six;
	assert_int_equal(varint_get32(&p, six + sizeof(six), &v32), -2);
	p = big32;
	assert_int_equal(varint_get32(&p, big32 + sizeof(big32), &v32), -2);
	p = eleven;
	assert_int_equal(varint_get64(&p, eleven + sizeof(eleven), &v64), -2);
}

/* ---- round trips --------------------------------------------------------------- */

struct trec {
	int64_t ts;
	const void *key;
	int32_t key_len;
	const void *value;
	int32_t value_len;
	const struct rb_kv *headers;
	int n_headers;
};

static void assert_bytes(const uint8_t *got, int32_t got_len, const void *want, int32_t want_len)
{
	assert_int_equal(got_len, want_len);
	if (want_len < 0)
		assert_null(got);
	else if (want_len > 0)
		assert_memory_equal(got, want, (size_t)want_len);
}

/* Builds recs into a cap-byte buffer, validates, iterates and compares every field. */
static void round_trip(const struct trec *recs, int n, size_t cap)
{
	uint8_t *buf = malloc(cap);
	struct rb_builder b;
	struct rb_header h;
	struct rb_iter it;
	struct rb_record rec;
	int64_t max_ts = recs[0].ts;
	long total;

	assert_non_null(buf);
	assert_int_equal(rb_builder_init(&b, buf, cap), 0);
	for (int i = 0; i < n; i++) {
		size_t before = b.len;

		assert_int_equal(rb_builder_add(&b, recs[i].ts, recs[i].key, recs[i].key_len,
						recs[i].value, recs[i].value_len, recs[i].headers,
						recs[i].n_headers),
				 0);
		assert_int_equal(
			b.len - before,
			rb_record_size((int64_t)((uint64_t)recs[i].ts - (uint64_t)recs[0].ts), i,
				       recs[i].key_len, recs[i].value_len, recs[i].headers,
				       recs[i].n_headers));
		if (recs[i].ts > max_ts)
			max_ts = recs[i].ts;
	}
	total = rb_builder_finish(&b);
	assert_int_equal(total, b.len);

	assert_int_equal(validate_exact(buf, (size_t)total, true, &h), total);
	assert_int_equal(h.base_offset, 0);
	assert_int_equal(h.batch_length, total - RB_LOG_OVERHEAD);
	assert_int_equal(h.leader_epoch, 0);
	assert_int_equal(h.magic, RB_MAGIC);
	assert_int_equal(h.attributes, 0);
	assert_int_equal(h.last_offset_delta, n - 1);
	assert_int_equal(h.base_timestamp, recs[0].ts);
	assert_int_equal(h.max_timestamp, max_ts);
	assert_int_equal(h.producer_id, -1);
	assert_int_equal(h.producer_epoch, -1);
	assert_int_equal(h.base_sequence, -1);
	assert_int_equal(h.records_count, n);
	assert_int_equal(h.crc, rb_compute_crc(buf, (size_t)total));

	assert_int_equal(rb_iter_start(&it, buf, (size_t)total), 0);
	for (int i = 0; i < n; i++) {
		const uint8_t *hp;
		struct rb_kv kv;

		assert_int_equal(rb_iter_next(&it, &rec), 1);
		assert_int_equal(rec.offset, i);
		assert_int_equal(rec.timestamp, recs[i].ts);
		assert_bytes(rec.key, rec.key_len, recs[i].key, recs[i].key_len);
		assert_bytes(rec.value, rec.value_len, recs[i].value, recs[i].value_len);
		assert_int_equal(rec.header_count, recs[i].n_headers);
		hp = rec.headers;
		for (int k = 0; k < recs[i].n_headers; k++) {
			const struct rb_kv *want = &recs[i].headers[k];

			assert_int_equal(rb_headers_next(&hp, rec.headers + rec.headers_len, &kv),
					 1);
			assert_bytes(kv.key, kv.key_len, want->key, want->key_len);
			assert_bytes(kv.value, kv.value_len, want->value, want->value_len);
		}
		assert_int_equal(rb_headers_next(&hp, rec.headers + rec.headers_len, &kv), 0);
	}
	assert_int_equal(rb_iter_next(&it, &rec), 0);
	assert_int_equal(rb_iter_next(&it, &rec), 0);
	free(buf);
}

static void test_round_trip_empty_key_null_key_and_null_value(void **state)
{
	const struct trec recs[] = {
		{ 1000, "", 0, "v", 1, NULL, 0 },
		{ 1001, NULL, -1, "value", 5, NULL, 0 },
		{ 1002, "tombstone", 9, NULL, -1, NULL, 0 },
		{ 1003, NULL, -1, NULL, -1, NULL, 0 },
		{ 1004, "", 0, "", 0, NULL, 0 },
	};

	(void)state;
	round_trip(recs, ARRAY_SIZE(recs), 4096);
}

static void test_round_trip_headers_including_null_header_value(void **state)
{
	const struct rb_kv hdrs[] = {
		{ "trace-id", 8, "abc123", 6 },
		{ "empty", 5, "", 0 },
		{ "null", 4, NULL, -1 },
		{ "", 0, "empty key", 9 },
	};
	const struct trec recs[] = {
		{ 5, "k", 1, "v", 1, hdrs, ARRAY_SIZE(hdrs) },
		{ 6, NULL, -1, NULL, -1, hdrs + 2, 1 },
		{ 7, "k", 1, "v", 1, NULL, 0 },
	};

	(void)state;
	round_trip(recs, ARRAY_SIZE(recs), 4096);
}

static void test_round_trip_one_mib_value(void **state)
{
	const int32_t n = 1 << 20;
	uint8_t *value = malloc((size_t)n);
	struct trec rec = { HELLO_TS, "big", 3, value, n, NULL, 0 };

	(void)state;
	assert_non_null(value);
	for (int32_t i = 0; i < n; i++)
		value[i] = (uint8_t)rng_next();
	round_trip(&rec, 1, (size_t)n + 128);
	free(value);
}

static void test_round_trip_ten_thousand_records(void **state)
{
	enum { N = 10000 };
	struct trec *recs = calloc(N, sizeof(*recs));
	char(*keys)[16] = calloc(N, sizeof(*keys));
	static const char payload[64] =
		"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
	const struct rb_kv hdr = { "seq", 3, "x", 1 };

	(void)state;
	assert_non_null(recs);
	assert_non_null(keys);
	for (int i = 0; i < N; i++) {
		recs[i].ts = HELLO_TS + i * 3 - (i % 7); /* not monotonic */
		recs[i].key_len = snprintf(keys[i], sizeof(keys[i]), "key-%d", i);
		recs[i].key = keys[i];
		recs[i].value = payload;
		recs[i].value_len = (int32_t)(rng_next() % sizeof(payload));
		recs[i].headers = i % 3 ? NULL : &hdr;
		recs[i].n_headers = i % 3 ? 0 : 1;
	}
	round_trip(recs, N, (size_t)N * 128);
	free(keys);
	free(recs);
}

static void test_builder_tracks_base_and_max_timestamp(void **state)
{
	const struct trec recs[] = {
		{ 1000, NULL, -1, "a", 1, NULL, 0 },
		{ 500, NULL, -1, "b", 1, NULL, 0 }, /* negative delta */
		{ 3000, NULL, -1, "c", 1, NULL, 0 },
		{ 2000, NULL, -1, "d", 1, NULL, 0 },
	};
	const struct trec extremes[] = {
		{ INT64_MIN, NULL, -1, "a", 1, NULL, 0 },
		{ INT64_MAX, NULL, -1, "b", 1, NULL, 0 }, /* delta wraps, as in Kafka */
		{ -1, NULL, -1, "c", 1, NULL, 0 },
	};

	(void)state;
	round_trip(recs, ARRAY_SIZE(recs), 1024);
	round_trip(extremes, ARRAY_SIZE(extremes), 1024);
}

/* ---- builder limits -------------------------------------------------------------- */

static void test_builder_add_too_big_returns_emsgsize_and_leaves_builder_unchanged(void **state)
{
	const struct rb_kv hdr = { "h", 1, "x", 1 };
	size_t first = rb_record_size(0, 0, 2, 2, &hdr, 1);
	size_t cap = RB_HEADER_SIZE + first + 20;
	uint8_t buf[256], snap[256];
	struct rb_builder b, b_snap;
	char big[20];

	(void)state;
	memset(big, 'z', sizeof(big));
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(rb_builder_init(&b, buf, cap), 0);
	assert_int_equal(rb_builder_add(&b, 7, "k1", 2, "v1", 2, &hdr, 1), 0);
	memcpy(snap, buf, sizeof(buf));
	b_snap = b;

	assert_int_equal(rb_builder_add(&b, 8, "k", 1, big, sizeof(big), NULL, 0), -EMSGSIZE);
	assert_memory_equal(&b, &b_snap, sizeof(b));
	assert_memory_equal(buf, snap, sizeof(buf));

	/* still usable: the batch holds exactly the first record */
	assert_int_equal(rb_builder_finish(&b), RB_HEADER_SIZE + first);
	assert_int_equal(validate(buf, RB_HEADER_SIZE + first), RB_HEADER_SIZE + first);
}

static void test_builder_fills_exactly_to_capacity(void **state)
{
	size_t size0 = rb_record_size(0, 0, 1, 10, NULL, 0);
	size_t size1 = rb_record_size(5, 1, 1, 10, NULL, 0);
	size_t cap = RB_HEADER_SIZE + size0 + size1;
	uint8_t *buf = malloc(cap); /* exact: ASan catches a write past cap */
	struct rb_builder b;

	(void)state;
	assert_non_null(buf);
	assert_int_equal(rb_builder_init(&b, buf, cap), 0);
	assert_int_equal(rb_builder_add(&b, 100, "k", 1, "0123456789", 10, NULL, 0), 0);
	assert_int_equal(rb_builder_add(&b, 105, "k", 1, "0123456789", 10, NULL, 0), 0);
	assert_int_equal(b.len, cap);
	assert_int_equal(rb_builder_add(&b, 106, NULL, -1, NULL, -1, NULL, 0), -EMSGSIZE);
	assert_int_equal(rb_builder_finish(&b), (long)cap);
	assert_int_equal(validate(buf, cap), (long)cap);
	free(buf);
}

static void test_builder_rejects_bad_arguments(void **state)
{
	const struct rb_kv null_key = { NULL, -1, "v", 1 };
	const struct rb_kv bad_value = { "k", 1, "v", -2 };
	uint8_t buf[256];
	struct rb_builder b;

	(void)state;
	assert_int_equal(rb_builder_init(&b, buf, RB_HEADER_SIZE - 1), -EMSGSIZE);
	assert_int_equal(rb_builder_init(&b, buf, sizeof(buf)), 0);
	assert_int_equal(rb_builder_finish(&b), -EINVAL);
	assert_int_equal(rb_builder_add(&b, 0, "k", -2, "v", 1, NULL, 0), -EINVAL);
	assert_int_equal(rb_builder_add(&b, 0, "k", 1, "v", -5, NULL, 0), -EINVAL);
	assert_int_equal(rb_builder_add(&b, 0, NULL, 3, "v", 1, NULL, 0), -EINVAL);
	assert_int_equal(rb_builder_add(&b, 0, "k", 1, "v", 1, NULL, -1), -EINVAL);
	assert_int_equal(rb_builder_add(&b, 0, "k", 1, "v", 1, NULL, 1), -EINVAL);
	assert_int_equal(rb_builder_add(&b, 0, "k", 1, "v", 1, &null_key, 1), -EINVAL);
	assert_int_equal(rb_builder_add(&b, 0, "k", 1, "v", 1, &bad_value, 1), -EINVAL);
	assert_int_equal(b.len, RB_HEADER_SIZE);
	assert_int_equal(b.count, 0);
}

/* ---- one error per kind of damage ------------------------------------------------ */

static void test_validate_rejects_truncated_header(void **state)
{
	(void)state;
	assert_int_equal(validate(hello_batch, 0), -PAGEBUS_ETRUNCATED);
	assert_int_equal(validate(hello_batch, 10), -PAGEBUS_ETRUNCATED);
	assert_int_equal(validate(hello_batch, RB_HEADER_SIZE - 1), -PAGEBUS_ETRUNCATED);
}

static void test_validate_rejects_truncated_batch(void **state)
{
	struct rb_header h;

	(void)state;
	assert_int_equal(validate(hello_batch, sizeof(hello_batch) - 1), -PAGEBUS_ETRUNCATED);
	assert_int_equal(validate_exact(hello_batch, RB_HEADER_SIZE, false, &h),
			 -PAGEBUS_ETRUNCATED);
	assert_int_equal(rb_header_parse(hello_batch, sizeof(hello_batch) - 1, &h),
			 -PAGEBUS_ETRUNCATED);
}

static void test_validate_rejects_bad_magic(void **state)
{
	uint8_t buf[sizeof(hello_batch)];
	struct rb_header h;

	(void)state;
	memcpy(buf, hello_batch, sizeof(buf));
	buf[RB_OFF_MAGIC] = 1;
	assert_int_equal(validate(buf, sizeof(buf)), -PAGEBUS_EBADMAGIC);
	assert_int_equal(rb_header_parse(buf, sizeof(buf), &h), -PAGEBUS_EBADMAGIC);
	/* a legacy message shorter than a v2 header is a format mismatch too */
	buf[RB_OFF_MAGIC] = 0;
	assert_int_equal(validate(buf, 30), -PAGEBUS_EBADMAGIC);
}

static void test_validate_rejects_bad_crc(void **state)
{
	uint8_t buf[sizeof(hello_batch)];
	struct rb_header h;

	(void)state;
	memcpy(buf, hello_batch, sizeof(buf));
	buf[sizeof(buf) - 3] ^= 0x20; /* "hello" -> "heLlo" */
	assert_int_equal(validate(buf, sizeof(buf)), -PAGEBUS_EBADCRC);
	/* without the CRC check the same bytes are structurally fine */
	assert_int_equal(validate_exact(buf, sizeof(buf), false, &h), sizeof(buf));

	memcpy(buf, hello_batch, sizeof(buf));
	buf[RB_OFF_CRC + 3] ^= 1;
	assert_int_equal(validate(buf, sizeof(buf)), -PAGEBUS_EBADCRC);
	memcpy(buf, hello_batch, sizeof(buf));
	buf[RB_OFF_ATTRIBUTES + 1] = RB_ATTR_TIMESTAMP_TYPE; /* covered: needs a new CRC */
	assert_int_equal(validate(buf, sizeof(buf)), -PAGEBUS_EBADCRC);
}

static void test_validate_rejects_batch_length_too_small_or_huge(void **state)
{
	static const int32_t bad[] = { 0,
				       -1,
				       INT32_MIN,
				       RB_HEADER_SIZE - RB_LOG_OVERHEAD - 1,
				       RB_MAX_BATCH_BYTES + 1,
				       INT32_MAX };
	uint8_t buf[sizeof(hello_batch)];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		memcpy(buf, hello_batch, sizeof(buf));
		be32_put(buf + RB_OFF_LENGTH, (uint32_t)bad[i]);
		assert_int_equal(validate(buf, sizeof(buf)), -PAGEBUS_EBADLEN);
	}
	/* in range but beyond the bytes we have */
	be32_put(buf + RB_OFF_LENGTH, RB_MAX_BATCH_BYTES);
	assert_int_equal(validate(buf, sizeof(buf)), -PAGEBUS_ETRUNCATED);
}

static void test_validate_rejects_records_count_mismatch(void **state)
{
	uint8_t buf[256];
	struct rb_builder b;
	long total;

	(void)state;
	assert_int_equal(rb_builder_init(&b, buf, sizeof(buf)), 0);
	/* 18-byte records: a third one would still fit the minimum-size bound */
	assert_int_equal(rb_builder_add(&b, 1, "a", 1, "1111111111", 10, NULL, 0), 0);
	assert_int_equal(rb_builder_add(&b, 2, "b", 1, "2222222222", 10, NULL, 0), 0);
	total = rb_builder_finish(&b);
	assert_int_equal(validate(buf, (size_t)total), total);

	static const struct {
		int32_t count, last_offset_delta;
	} cases[] = {
		{ 3, 1 },	     /* count != lastOffsetDelta + 1 */
		{ 2, 0 },	     /* same, the other field */
		{ 0, -1 },	     /* empty batch */
		{ -5, -6 },	     /* negative */
		{ 3, 2 },	     /* consistent, but only two records in the bytes */
		{ 1, 0 },	     /* consistent, but a second record left over */
		{ 1000000, 999999 }, /* more records than the bytes could hold */
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint8_t copy[256];

		memcpy(copy, buf, (size_t)total);
		be32_put(copy + RB_OFF_RECORDS_COUNT, (uint32_t)cases[i].count);
		be32_put(copy + RB_OFF_LAST_OFFSET_DELTA, (uint32_t)cases[i].last_offset_delta);
		fix_crc(copy, (size_t)total);
		assert_int_equal(validate(copy, (size_t)total), -PAGEBUS_EBADCOUNT);
	}

	/* one stray byte after the last record */
	static const uint8_t rec_plus_one[] = {
		0x0e, 0x00, 0x00, 0x00, 0x01, 0x02, 0x78, 0x00, 0x00
	};
	assert_int_equal(validate_records(rec_plus_one, sizeof(rec_plus_one) - 1, 1),
			 RB_HEADER_SIZE + sizeof(rec_plus_one) - 1);
	assert_int_equal(validate_records(rec_plus_one, sizeof(rec_plus_one), 1),
			 -PAGEBUS_EBADCOUNT);
}

static void test_validate_rejects_varint_overflow(void **state)
{
	/* timestampDelta as an 11-byte varlong; length 16 matches the fields */
	static const uint8_t long_ts[] = { 0x20, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
					   0x80, 0x80, 0x80, 0x00, 0x00, 0x01, 0x01, 0x00 };
	/* offsetDelta as a 6-byte varint */
	static const uint8_t long_off[] = { 0x16, 0x00, 0x00, 0x80, 0x80, 0x80,
					    0x80, 0x80, 0x00, 0x01, 0x01, 0x00 };
	/* the record length itself as a 6-byte varint */
	static const uint8_t long_len[] = { 0x8c, 0x80, 0x80, 0x80, 0x80, 0x00,
					    0x00, 0x00, 0x00, 0x01, 0x01, 0x00 };
	/* key length that does not fit in 32 bits */
	static const uint8_t big_key[] = { 0x14, 0x00, 0x00, 0x00, 0xff, 0xff,
					   0xff, 0xff, 0x7f, 0x01, 0x00 };

	(void)state;
	assert_int_equal(validate_records(long_ts, sizeof(long_ts), 1), -PAGEBUS_EVARINT);
	assert_int_equal(validate_records(long_off, sizeof(long_off), 1), -PAGEBUS_EVARINT);
	assert_int_equal(validate_records(long_len, sizeof(long_len), 1), -PAGEBUS_EVARINT);
	assert_int_equal(validate_records(big_key, sizeof(big_key), 1), -PAGEBUS_EVARINT);
}

static void test_validate_rejects_negative_key_and_value_length(void **state)
{
	static const uint8_t key_minus5[] = { 0x0c, 0x00, 0x00, 0x00, 0x09, 0x01, 0x00 };
	static const uint8_t value_minus2[] = { 0x0c, 0x00, 0x00, 0x00, 0x01, 0x03, 0x00 };
	static const uint8_t header_value_minus3[] = { 0x12, 0x00, 0x00, 0x00, 0x01,
						       0x01, 0x02, 0x02, 0x68, 0x05 };

	(void)state;
	assert_int_equal(validate_records(key_minus5, sizeof(key_minus5), 1), -PAGEBUS_EBADRECORD);
	assert_int_equal(validate_records(value_minus2, sizeof(value_minus2), 1),
			 -PAGEBUS_EBADRECORD);
	assert_int_equal(validate_records(header_value_minus3, sizeof(header_value_minus3), 1),
			 -PAGEBUS_EBADRECORD);
}

static void test_validate_rejects_record_length_mismatch(void **state)
{
	/* the hello record claims 12 bytes, fields use 11 (a spare byte follows) */
	static const uint8_t too_long[] = { 0x18, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x68,
					    0x65, 0x6c, 0x6c, 0x6f, 0x00, 0x00 };
	/* claims 10 bytes: headersCount falls outside the record */
	static const uint8_t too_short[] = { 0x14, 0x00, 0x00, 0x00, 0x01, 0x0a,
					     0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00 };
	/* value length runs past the record */
	static const uint8_t value_past[] = { 0x0e, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x68, 0x00 };
	/* record claims more bytes than the batch has */
	static const uint8_t past_batch[] = { 0x18, 0x00, 0x00, 0x00, 0x01, 0x0a,
					      0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00 };
	/* negative record length */
	static const uint8_t negative[] = { 0x01, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00 };
	/* empty record: not even the attributes byte */
	static const uint8_t empty[] = { 0x00 };

	(void)state;
	assert_int_equal(validate_records(too_long, sizeof(too_long), 1), -PAGEBUS_EBADRECORD);
	assert_int_equal(validate_records(too_short, sizeof(too_short), 1), -PAGEBUS_EBADRECORD);
	assert_int_equal(validate_records(value_past, sizeof(value_past), 1), -PAGEBUS_EBADRECORD);
	assert_int_equal(validate_records(past_batch, sizeof(past_batch), 1), -PAGEBUS_EBADLEN);
	assert_int_equal(validate_records(negative, sizeof(negative), 1), -PAGEBUS_EBADRECORD);
	assert_int_equal(validate_records(empty, sizeof(empty), 1), -PAGEBUS_EBADCOUNT);
	/* 7 bytes so the size precheck passes: the empty record itself is rejected */
	static const uint8_t empty_then_pad[] = { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
	assert_int_equal(validate_records(empty_then_pad, sizeof(empty_then_pad), 1),
			 -PAGEBUS_EBADRECORD);
}

static void test_validate_rejects_bad_offset_delta_and_header_fields(void **state)
{
	static const uint8_t offset_one[] = { 0x0c, 0x00, 0x00, 0x02, 0x01, 0x01, 0x00 };
	static const uint8_t null_header_key[] = { 0x10, 0x00, 0x00, 0x00, 0x01,
						   0x01, 0x02, 0x01, 0x01 };
	static const uint8_t negative_headers[] = { 0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0x01 };
	static const uint8_t missing_header[] = { 0x10, 0x00, 0x00, 0x00, 0x01,
						  0x01, 0x04, 0x00, 0x01 };
	/* two records, the second with offsetDelta 0 again */
	static const uint8_t repeated[] = { 0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00,
					    0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00 };

	(void)state;
	assert_int_equal(validate_records(offset_one, sizeof(offset_one), 1), -PAGEBUS_EBADRECORD);
	assert_int_equal(validate_records(null_header_key, sizeof(null_header_key), 1),
			 -PAGEBUS_EBADRECORD);
	assert_int_equal(validate_records(negative_headers, sizeof(negative_headers), 1),
			 -PAGEBUS_EBADRECORD);
	assert_int_equal(validate_records(missing_header, sizeof(missing_header), 1),
			 -PAGEBUS_EBADRECORD);
	assert_int_equal(validate_records(repeated, sizeof(repeated), 2), -PAGEBUS_EBADRECORD);
	assert_int_equal(validate_records(repeated, 7, 1), RB_HEADER_SIZE + 7);
}

/* ---- never outside the buffer ----------------------------------------------------- */

/* A batch with every record shape, used as the seed of the prefix and mutation runs. */
static size_t build_sample(uint8_t *buf, size_t cap)
{
	const struct rb_kv hdrs[] = { { "h", 1, "x", 1 }, { "n", 1, NULL, -1 }, { "", 0, "", 0 } };
	struct rb_builder b;

	assert_int_equal(rb_builder_init(&b, buf, cap), 0);
	assert_int_equal(rb_builder_add(&b, HELLO_TS, "k1", 2, "v1", 2, hdrs, 1), 0);
	assert_int_equal(rb_builder_add(&b, HELLO_TS + 300, NULL, -1, "hello", 5, NULL, 0), 0);
	assert_int_equal(rb_builder_add(&b, HELLO_TS - 70, "key", 3, NULL, -1, hdrs, 3), 0);
	assert_int_equal(rb_builder_add(&b, HELLO_TS, "", 0, "", 0, hdrs + 1, 2), 0);
	return (size_t)rb_builder_finish(&b);
}

static void test_validate_rejects_every_prefix_as_truncated(void **state)
{
	uint8_t buf[512];
	size_t total = build_sample(buf, sizeof(buf));
	struct rb_header h;

	(void)state;
	assert_int_equal(validate(buf, total), (long)total);
	for (size_t len = 0; len < total; len++) {
		uint8_t *copy = malloc(len ? len : 1);
		struct rb_iter it;

		assert_non_null(copy);
		memcpy(copy, buf, len);
		assert_int_equal(rb_validate(copy, len, true, &h), -PAGEBUS_ETRUNCATED);
		assert_int_equal(rb_validate(copy, len, false, &h), -PAGEBUS_ETRUNCATED);
		assert_int_equal(rb_iter_start(&it, copy, len), -PAGEBUS_ETRUNCATED);
		free(copy);
	}
}

/* Damages 1-4 bytes of a copy of a valid batch (sometimes also cutting it short) and
 * mostly recomputes the CRC, so the damage reaches the structural checks. Returns the
 * number of bytes to hand to the decoder. */
static size_t mutate(uint8_t *work, size_t total)
{
	static const uint8_t specials[] = { 0x00, 0x01, 0x02, 0x7f, 0x80, 0xff, 0xfe, 0x81 };
	size_t len = total, rec_bytes = total - RB_HEADER_SIZE;
	int flips = 1 + (int)(rng_next() % 4);

	for (int i = 0; i < flips; i++) {
		size_t pos = rng_next() % total;

		switch (rng_next() % 5) {
		case 0:
			work[pos] = (uint8_t)rng_next();
			break;
		case 1:
			work[pos] = specials[rng_next() % sizeof(specials)];
			break;
		case 2: /* aim at the records, where the varints are */
			pos = RB_HEADER_SIZE + rng_next() % rec_bytes;
			work[pos] = specials[rng_next() % sizeof(specials)];
			break;
		case 3: /* a run of continuation bytes: overlong varints */
			pos = RB_HEADER_SIZE + rng_next() % rec_bytes;
			for (size_t k = pos, run = 4 + rng_next() % 8; k < pos + run && k < total;
			     k++)
				work[k] = rng_next() % 2 ? 0x80 : 0xff;
			break;
		default:
			work[pos] ^= (uint8_t)(1u << (rng_next() % 8));
			break;
		}
	}
	if (rng_next() % 8 == 0)
		len = RB_HEADER_SIZE + rng_next() % rec_bytes;

	int32_t blen = (int32_t)be32_get(work + RB_OFF_LENGTH);
	size_t claimed = blen >= 0 ? (size_t)blen + RB_LOG_OVERHEAD : 0;

	if (rng_next() % 16 == 0)
		return len; /* stale CRC now and then, to exercise that check too */
	if (claimed >= RB_HEADER_SIZE && claimed <= len)
		fix_crc(work, claimed);
	else if (rng_next() % 2)
		fix_crc(work, len);
	return len;
}

/* Validates and iterates exactly len bytes on the heap; returns rb_validate's result.
 * The iterator must be as safe as the validator on the same bytes, and agree with it
 * when the batch is valid. */
static long check_mutant(const uint8_t *work, size_t len)
{
	uint8_t *copy = malloc(len);
	struct rb_header h;
	struct rb_iter it;
	struct rb_record rec;
	int32_t n = 0;
	long r;
	int s;

	assert_non_null(copy);
	memcpy(copy, work, len);
	r = rb_validate(copy, len, true, &h);
	if (r >= 0)
		assert_true(r >= RB_HEADER_SIZE && (size_t)r <= len);
	else
		assert_true(r <= -PAGEBUS_ERR_FIRST && r > -PAGEBUS_ERR_LAST);

	s = rb_iter_start(&it, copy, len);
	if (s == 0) {
		while ((s = rb_iter_next(&it, &rec)) == 1) {
			assert_true(rec.key_len == -1 ||
				    (rec.key >= copy && rec.key + rec.key_len <= copy + len));
			assert_true(rec.value_len == -1 ||
				    (rec.value >= copy && rec.value + rec.value_len <= copy + len));
			n++;
		}
		if (r >= 0) {
			assert_int_equal(s, 0);
			assert_int_equal(n, h.records_count);
		}
	} else if (r >= 0) {
		assert_int_equal(s, -PAGEBUS_ECOMPRESSED);
	}
	free(copy);
	return r;
}

static void test_validate_survives_random_mutations(void **state)
{
	enum { ROUNDS = 20000 };
	uint8_t seed[512], work[512];
	size_t total = build_sample(seed, sizeof(seed));
	unsigned ok = 0, by_code[PAGEBUS_ERR_LAST - PAGEBUS_ERR_FIRST] = { 0 };

	(void)state;
	for (int round = 0; round < ROUNDS; round++) {
		memcpy(work, seed, total);
		long r = check_mutant(work, mutate(work, total));

		if (r >= 0)
			ok++;
		else
			by_code[-r - PAGEBUS_ERR_FIRST]++;
	}
	print_message("%u of %d mutants valid; rejected as TRUNCATED %u MAGIC %u CRC %u LEN %u "
		      "COUNT %u VARINT %u RECORD %u\n",
		      ok, ROUNDS, by_code[0], by_code[1], by_code[2], by_code[3], by_code[4],
		      by_code[5], by_code[6]);
	/* the run reached every check, the record walker included */
	for (int code = PAGEBUS_ERR_FIRST; code < PAGEBUS_ECOMPRESSED; code++)
		assert_true(by_code[code - PAGEBUS_ERR_FIRST] > 0);
}

/* ---- batch kinds and header fields -------------------------------------------------- */

static void test_compressed_batch_validates_but_cannot_be_iterated(void **state)
{
	uint8_t buf[sizeof(hello_batch)];
	struct rb_header h;
	struct rb_iter it;

	(void)state;
	memcpy(buf, hello_batch, sizeof(buf));
	be16_put(buf + RB_OFF_ATTRIBUTES, RB_CODEC_GZIP);
	fix_crc(buf, sizeof(buf));
	assert_int_equal(validate_exact(buf, sizeof(buf), true, &h), sizeof(buf));
	assert_int_equal(rb_codec(&h), RB_CODEC_GZIP);
	assert_string_equal(rb_codec_name(rb_codec(&h)), "gzip");
	assert_int_equal(rb_iter_start(&it, buf, sizeof(buf)), -PAGEBUS_ECOMPRESSED);

	/* the payload is opaque: garbage that would fail the record walk is fine */
	memset(buf + RB_HEADER_SIZE, 0xff, sizeof(buf) - RB_HEADER_SIZE);
	be16_put(buf + RB_OFF_ATTRIBUTES, RB_CODEC_ZSTD);
	fix_crc(buf, sizeof(buf));
	assert_int_equal(validate(buf, sizeof(buf)), sizeof(buf));
	/* but the header, CRC and counts are still checked */
	buf[RB_HEADER_SIZE] ^= 1;
	assert_int_equal(validate(buf, sizeof(buf)), -PAGEBUS_EBADCRC);
	be32_put(buf + RB_OFF_RECORDS_COUNT, 2);
	fix_crc(buf, sizeof(buf));
	assert_int_equal(validate(buf, sizeof(buf)), -PAGEBUS_EBADCOUNT);
}

static void test_control_batch_is_accepted_structurally(void **state)
{
	/* COMMIT marker: key = version 0, type 1; value = version 0, coordinator epoch 0 */
	static const uint8_t key[] = { 0, 0, 0, 1 }, value[] = { 0, 0, 0, 0, 0, 0 };
	uint8_t buf[128];
	struct rb_builder b;
	struct rb_header h;
	long total;

	(void)state;
	assert_int_equal(rb_builder_init(&b, buf, sizeof(buf)), 0);
	assert_int_equal(rb_builder_add(&b, HELLO_TS, key, 4, value, 6, NULL, 0), 0);
	total = rb_builder_finish(&b);
	be16_put(buf + RB_OFF_ATTRIBUTES, RB_ATTR_CONTROL | RB_ATTR_TRANSACTIONAL);
	fix_crc(buf, (size_t)total);
	assert_int_equal(validate_exact(buf, (size_t)total, true, &h), total);
	assert_int_equal(h.attributes, RB_ATTR_CONTROL | RB_ATTR_TRANSACTIONAL);
}

static void test_set_base_offset_and_leader_epoch_keep_crc_valid(void **state)
{
	uint8_t buf[512];
	size_t total = build_sample(buf, sizeof(buf));
	struct rb_header h;
	struct rb_iter it;
	struct rb_record rec;
	int64_t want = 1000;

	(void)state;
	rb_set_base_offset(buf, 1000);
	rb_set_leader_epoch(buf, 7);
	assert_int_equal(validate_exact(buf, total, true, &h), (long)total);
	assert_int_equal(h.base_offset, 1000);
	assert_int_equal(h.leader_epoch, 7);
	assert_int_equal(rb_last_offset(&h), 1000 + 3);
	assert_int_equal(rb_total_size(&h), total);
	assert_int_equal(rb_iter_start(&it, buf, total), 0);
	while (rb_iter_next(&it, &rec) == 1)
		assert_int_equal(rec.offset, want++);
	assert_int_equal(want, 1004);

	rb_set_base_offset(buf, INT64_MAX); /* offsets wrap rather than trap */
	assert_int_equal(validate(buf, total), (long)total);
}

static void test_header_parse_skips_crc_and_records(void **state)
{
	uint8_t buf[sizeof(hello_batch) + 16];
	struct rb_header h;

	(void)state;
	memcpy(buf, hello_batch, sizeof(hello_batch));
	memset(buf + sizeof(hello_batch), 0xee, 16); /* the next batch, partly here */
	buf[RB_OFF_CRC] ^= 0xff;
	assert_int_equal(rb_header_parse(buf, sizeof(buf), &h), 0);
	assert_int_equal(rb_total_size(&h), sizeof(hello_batch));
	assert_int_equal(h.base_timestamp, HELLO_TS);
	/* validate reports only this batch's size when more bytes follow */
	buf[RB_OFF_CRC] ^= 0xff;
	assert_int_equal(validate(buf, sizeof(buf)), sizeof(hello_batch));
}

static void test_codec_names(void **state)
{
	(void)state;
	assert_string_equal(rb_codec_name(RB_CODEC_NONE), "none");
	assert_string_equal(rb_codec_name(RB_CODEC_GZIP), "gzip");
	assert_string_equal(rb_codec_name(RB_CODEC_SNAPPY), "snappy");
	assert_string_equal(rb_codec_name(RB_CODEC_LZ4), "lz4");
	assert_string_equal(rb_codec_name(RB_CODEC_ZSTD), "zstd");
	assert_string_equal(rb_codec_name(5), "unknown");
	assert_string_equal(rb_codec_name(-1), "unknown");
}

static void test_strerror_names_every_code_distinctly(void **state)
{
	const char *msgs[PAGEBUS_ERR_LAST - PAGEBUS_ERR_FIRST];

	(void)state;
	for (int code = PAGEBUS_ERR_FIRST; code < PAGEBUS_ERR_LAST; code++) {
		const char *m = pagebus_strerror(-code);

		assert_non_null(m);
		assert_true(m[0] != '\0');
		for (int k = PAGEBUS_ERR_FIRST; k < code; k++)
			assert_string_not_equal(m, msgs[k - PAGEBUS_ERR_FIRST]);
		assert_string_not_equal(m, pagebus_strerror(-EINVAL));
		msgs[code - PAGEBUS_ERR_FIRST] = m;
	}
	assert_non_null(strstr(pagebus_strerror(-PAGEBUS_EBADCRC), "CRC-32C mismatch"));
	assert_string_equal(pagebus_strerror(0), "success");
	assert_string_equal(pagebus_strerror(-ENOENT), "No such file or directory");
	assert_string_equal(pagebus_strerror(-EMSGSIZE), "Message too long");
	static const int odd[] = { -99999, INT_MIN, 1, PAGEBUS_EBADCRC, -PAGEBUS_ERR_LAST };
	for (size_t i = 0; i < ARRAY_SIZE(odd); i++) {
		assert_non_null(pagebus_strerror(odd[i]));
		assert_true(pagebus_strerror(odd[i])[0] != '\0');
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builder_matches_librdkafka_vector_byte_for_byte),
		cmocka_unit_test(test_builder_encodes_key_value_header_record_as_kafka),
		cmocka_unit_test(test_varint_encodes_kafka_examples),
		cmocka_unit_test(test_varint_round_trips_extremes_and_rejects_overlong),
		cmocka_unit_test(test_round_trip_empty_key_null_key_and_null_value),
		cmocka_unit_test(test_round_trip_headers_including_null_header_value),
		cmocka_unit_test(test_round_trip_one_mib_value),
		cmocka_unit_test(test_round_trip_ten_thousand_records),
		cmocka_unit_test(test_builder_tracks_base_and_max_timestamp),
		cmocka_unit_test(
			test_builder_add_too_big_returns_emsgsize_and_leaves_builder_unchanged),
		cmocka_unit_test(test_builder_fills_exactly_to_capacity),
		cmocka_unit_test(test_builder_rejects_bad_arguments),
		cmocka_unit_test(test_validate_rejects_truncated_header),
		cmocka_unit_test(test_validate_rejects_truncated_batch),
		cmocka_unit_test(test_validate_rejects_bad_magic),
		cmocka_unit_test(test_validate_rejects_bad_crc),
		cmocka_unit_test(test_validate_rejects_batch_length_too_small_or_huge),
		cmocka_unit_test(test_validate_rejects_records_count_mismatch),
		cmocka_unit_test(test_validate_rejects_varint_overflow),
		cmocka_unit_test(test_validate_rejects_negative_key_and_value_length),
		cmocka_unit_test(test_validate_rejects_record_length_mismatch),
		cmocka_unit_test(test_validate_rejects_bad_offset_delta_and_header_fields),
		cmocka_unit_test(test_validate_rejects_every_prefix_as_truncated),
		cmocka_unit_test(test_validate_survives_random_mutations),
		cmocka_unit_test(test_compressed_batch_validates_but_cannot_be_iterated),
		cmocka_unit_test(test_control_batch_is_accepted_structurally),
		cmocka_unit_test(test_set_base_offset_and_leader_epoch_keep_crc_valid),
		cmocka_unit_test(test_header_parse_skips_crc_and_records),
		cmocka_unit_test(test_codec_names),
		cmocka_unit_test(test_strerror_names_every_code_distinctly),
	};

	return cmocka_run_group_tests_name("record_batch", tests, NULL, NULL);
}
