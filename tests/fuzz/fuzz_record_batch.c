/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_record_batch.c — the RecordBatch v2 validator and record iterator on arbitrary
 * bytes (what a producer puts in its ring, what a Kafka client sends, what a consumer
 * maps). Invariants: rb_validate accepts only a batch that lies inside the input, whose
 * counts agree and (with the CRC checked) whose CRC matches; for an accepted
 * uncompressed batch the iterator yields exactly recordsCount records, offsets in order,
 * every field and header inside the batch; on any bytes the iterator and the header walk
 * stay inside the input and end.
 */
#include <string.h>

#include "fuzz.h"
#include "pagebus.h"
#include "record_batch.h"

static void check_inside(const uint8_t *lo, const uint8_t *hi, const uint8_t *p, int32_t len)
{
	if (len <= 0)
		return;
	FUZZ_CHECK(p && p >= lo && p <= hi && len <= hi - p);
}

/* Walks every record the iterator gives (at most `max`); returns how many. */
static int32_t walk(const uint8_t *batch, size_t len, const struct rb_header *h, int32_t max)
{
	struct rb_iter it;
	struct rb_record rec;
	if (rb_iter_start(&it, batch, len) < 0)
		return -1;
	const uint8_t *lo = batch, *hi = batch + rb_total_size(&it.hdr);
	int32_t n = 0;
	int r;
	while (n < max && (r = rb_iter_next(&it, &rec)) == 1) {
		FUZZ_CHECK(rec.offset == (int64_t)((uint64_t)h->base_offset + (uint64_t)n));
		check_inside(lo, hi, rec.key, rec.key_len);
		check_inside(lo, hi, rec.value, rec.value_len);
		FUZZ_CHECK(rec.key_len >= -1 && rec.value_len >= -1);
		check_inside(lo, hi, rec.headers, (int32_t)rec.headers_len);
		const uint8_t *hp = rec.headers, *he = rec.headers + rec.headers_len;
		struct rb_kv kv;
		int32_t nh = 0;
		while (rb_headers_next(&hp, he, &kv) == 1) {
			check_inside(lo, hi, kv.key, kv.key_len);
			check_inside(lo, hi, kv.value, kv.value_len);
			nh++;
		}
		FUZZ_CHECK(nh == rec.header_count && hp == he);
		n++;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rb_header h, hc;
	long n = rb_validate(data, size, false, &h);
	long nc = rb_validate(data, size, true, &hc);
	if (n > 0) {
		FUZZ_CHECK((size_t)n <= size && (size_t)n == rb_total_size(&h) && n >= RB_HEADER_SIZE);
		FUZZ_CHECK(h.records_count >= 1 && (int64_t)h.last_offset_delta + 1 == h.records_count);
		if (rb_codec(&h) == RB_CODEC_NONE)
			FUZZ_CHECK(walk(data, (size_t)n, &h, INT32_MAX) == h.records_count);
		/* the CRC is the only difference between the two */
		FUZZ_CHECK(nc == n || nc == -PAGEBUS_EBADCRC);
		FUZZ_CHECK((nc > 0) == (rb_compute_crc(data, (size_t)n) == h.crc));
	} else {
		/* the same first failure, or the CRC, which is checked before the counts */
		FUZZ_CHECK(n < 0 && (nc == n || nc == -PAGEBUS_EBADCRC));
	}
	/* the iterator on unvalidated bytes: bounded, inside the input */
	if (rb_header_parse(data, size, &h) == 0) {
		FUZZ_CHECK(rb_total_size(&h) <= size);
		walk(data, size, &h, 1 << 16);
	}
	/* records as a decompressed buffer (no header of their own) */
	struct rb_header fake = { .records_count = 3, .last_offset_delta = 2 };
	struct rb_iter it;
	struct rb_record rec;
	if (rb_iter_start_records(&it, &fake, data, size) == 0) {
		int32_t k = 0;
		while (rb_iter_next(&it, &rec) == 1) {
			check_inside(data, data + size, rec.value, rec.value_len);
			k++;
		}
		FUZZ_CHECK(k == 3);
	}
	return 0;
}
