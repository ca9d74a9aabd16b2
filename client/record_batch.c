/* SPDX-License-Identifier: Apache-2.0 */
/*
 * record_batch.c — Kafka RecordBatch v2: the encoder (rb_builder), the strict validator
 * for untrusted bytes (rb_validate), header accessors and the zero-copy record iterator.
 */
#include <errno.h>
#include <string.h>

#include "crc32c.h"
#include "pagebus.h"
#include "record_batch.h"
#include "varint.h"

/* Smallest legal batchLength: the header after the batchLength field. */
#define RB_MIN_BATCH_LENGTH (RB_HEADER_SIZE - RB_LOG_OVERHEAD)
/* Largest batch in bytes, batchLength and the 12 bytes before it. */
#define RB_MAX_TOTAL_SIZE ((size_t)RB_MAX_BATCH_BYTES + RB_LOG_OVERHEAD)
/* Smallest record: length, attributes, timestampDelta, offsetDelta, keyLength,
 * valueLength and headersCount, one byte each. */
#define RB_MIN_RECORD_SIZE 7

_Static_assert(RB_OFF_RECORDS_COUNT + 4 == RB_HEADER_SIZE, "header layout");

/* Untrusted fields are added with wrap-around, as Kafka's Java longs do, never UB. */
static inline int64_t add_wrap(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a + (uint64_t)b);
}

const char *rb_codec_name(int codec)
{
	static const char *const names[] = {
		[RB_CODEC_NONE] = "none", [RB_CODEC_GZIP] = "gzip", [RB_CODEC_SNAPPY] = "snappy",
		[RB_CODEC_LZ4] = "lz4",	  [RB_CODEC_ZSTD] = "zstd",
	};

	if (codec < 0 || codec >= (int)(sizeof(names) / sizeof(names[0])))
		return "unknown";
	return names[codec];
}

int rb_header_parse(const void *buf, size_t len, struct rb_header *h)
{
	const uint8_t *b = buf;
	int32_t batch_length;

	/* Magic first when it is there: a legacy (v0/v1) message shorter than 61 bytes is
	 * a format mismatch, not a truncation. */
	if (len <= RB_OFF_MAGIC)
		return -PAGEBUS_ETRUNCATED;
	if ((int8_t)b[RB_OFF_MAGIC] != RB_MAGIC)
		return -PAGEBUS_EBADMAGIC;
	if (len < RB_HEADER_SIZE)
		return -PAGEBUS_ETRUNCATED;
	batch_length = (int32_t)be32_get(b + RB_OFF_LENGTH);
	if (batch_length < RB_MIN_BATCH_LENGTH || batch_length > RB_MAX_BATCH_BYTES)
		return -PAGEBUS_EBADLEN;
	if ((size_t)batch_length + RB_LOG_OVERHEAD > len)
		return -PAGEBUS_ETRUNCATED;

	h->base_offset = (int64_t)be64_get(b + RB_OFF_BASE_OFFSET);
	h->batch_length = batch_length;
	h->leader_epoch = (int32_t)be32_get(b + RB_OFF_LEADER_EPOCH);
	h->magic = RB_MAGIC;
	h->crc = be32_get(b + RB_OFF_CRC);
	h->attributes = (int16_t)be16_get(b + RB_OFF_ATTRIBUTES);
	h->last_offset_delta = (int32_t)be32_get(b + RB_OFF_LAST_OFFSET_DELTA);
	h->base_timestamp = (int64_t)be64_get(b + RB_OFF_BASE_TIMESTAMP);
	h->max_timestamp = (int64_t)be64_get(b + RB_OFF_MAX_TIMESTAMP);
	h->producer_id = (int64_t)be64_get(b + RB_OFF_PRODUCER_ID);
	h->producer_epoch = (int16_t)be16_get(b + RB_OFF_PRODUCER_EPOCH);
	h->base_sequence = (int32_t)be32_get(b + RB_OFF_BASE_SEQUENCE);
	h->records_count = (int32_t)be32_get(b + RB_OFF_RECORDS_COUNT);
	return 0;
}

uint32_t rb_compute_crc(const void *batch, size_t total)
{
	return crc32c((const uint8_t *)batch + RB_OFF_ATTRIBUTES, total - RB_OFF_ATTRIBUTES);
}

void rb_set_base_offset(void *batch, int64_t base_offset)
{
	be64_put((uint8_t *)batch + RB_OFF_BASE_OFFSET, (uint64_t)base_offset);
}

void rb_set_leader_epoch(void *batch, int32_t epoch)
{
	be32_put((uint8_t *)batch + RB_OFF_LEADER_EPOCH, (uint32_t)epoch);
}

/* ---- decoding ------------------------------------------------------------------ */

/*
 * A varint that fails inside a record: too long is EVARINT; running out of the
 * record's bytes means its length does not match its fields.
 */
static inline int record_varint_err(int r)
{
	return r == -2 ? -PAGEBUS_EVARINT : -PAGEBUS_EBADRECORD;
}

/* A length-prefixed byte string (-1 = null, data NULL) inside [*pp, end). */
static inline int get_bytes(const uint8_t **pp, const uint8_t *end, const uint8_t **data,
			    int32_t *len)
{
	int r = varint_get32(pp, end, len);

	if (r)
		return record_varint_err(r);
	if (*len < 0) {
		if (*len != -1)
			return -PAGEBUS_EBADRECORD;
		*data = NULL;
		return 0;
	}
	if (*len > end - *pp)
		return -PAGEBUS_EBADRECORD;
	*data = *pp;
	*pp += *len;
	return 0;
}

int rb_headers_next(const uint8_t **pp, const uint8_t *end, struct rb_kv *kv)
{
	const uint8_t *p = *pp, *key, *value;
	int r;

	if (p >= end)
		return 0;
	r = get_bytes(&p, end, &key, &kv->key_len);
	if (r)
		return r;
	if (!key) /* header keys are never null */
		return -PAGEBUS_EBADRECORD;
	r = get_bytes(&p, end, &value, &kv->value_len);
	if (r)
		return r;
	kv->key = key;
	kv->value = value;
	*pp = p;
	return 1;
}

/*
 * Parses one record, its length varint first, from [*pp, end) (end = end of the
 * batch) and advances *pp past it. index is the offsetDelta it must carry. Every
 * field is checked against the record's own length, headers included.
 */
static int parse_record(const uint8_t **pp, const uint8_t *end, int32_t index,
			const struct rb_header *hdr, struct rb_record *rec)
{
	const uint8_t *p = *pp, *rend;
	int32_t rec_len, offset_delta, n;
	int64_t ts_delta;
	struct rb_kv kv;
	int r;

	r = varint_get32(&p, end, &rec_len);
	if (r) /* cut by the end of the batch: the records overrun batchLength */
		return r == -2 ? -PAGEBUS_EVARINT : -PAGEBUS_EBADLEN;
	if (rec_len < 0)
		return -PAGEBUS_EBADRECORD;
	if (rec_len > end - p)
		return -PAGEBUS_EBADLEN;
	rend = p + rec_len;

	if (p == rend)
		return -PAGEBUS_EBADRECORD;
	p++; /* attributes: unused, ignored as Kafka does */
	r = varint_get64(&p, rend, &ts_delta);
	if (r)
		return record_varint_err(r);
	r = varint_get32(&p, rend, &offset_delta);
	if (r)
		return record_varint_err(r);
	if (offset_delta != index)
		return -PAGEBUS_EBADRECORD;
	r = get_bytes(&p, rend, &rec->key, &rec->key_len);
	if (r)
		return r;
	r = get_bytes(&p, rend, &rec->value, &rec->value_len);
	if (r)
		return r;
	r = varint_get32(&p, rend, &n);
	if (r)
		return record_varint_err(r);
	/* a header takes at least two bytes: bounds the walk before it starts */
	if (n < 0 || n > (rend - p) / 2)
		return -PAGEBUS_EBADRECORD;
	rec->headers = p;
	for (int32_t i = 0; i < n; i++) {
		r = rb_headers_next(&p, rend, &kv);
		if (r <= 0)
			return r ? r : -PAGEBUS_EBADRECORD;
	}
	if (p != rend)
		return -PAGEBUS_EBADRECORD;

	rec->header_count = n;
	rec->headers_len = (size_t)(rend - rec->headers);
	rec->offset = add_wrap(hdr->base_offset, offset_delta);
	rec->timestamp = add_wrap(hdr->base_timestamp, ts_delta);
	*pp = rend;
	return 0;
}

/* Walks h's records_count records in [p, end), which they must fill exactly. */
static int walk_records(const struct rb_header *h, const uint8_t *p, const uint8_t *end)
{
	struct rb_record rec;
	int r;

	if ((size_t)h->records_count > (size_t)(end - p) / RB_MIN_RECORD_SIZE)
		return -PAGEBUS_EBADCOUNT;
	for (int32_t i = 0; i < h->records_count; i++) {
		if (p == end)
			return -PAGEBUS_EBADCOUNT;
		r = parse_record(&p, end, i, h, &rec);
		if (r)
			return r;
	}
	return p == end ? 0 : -PAGEBUS_EBADCOUNT;
}

long rb_validate(const void *buf, size_t len, bool check_crc, struct rb_header *h)
{
	const uint8_t *b = buf;
	size_t total;
	int r;

	r = rb_header_parse(buf, len, h);
	if (r)
		return r;
	total = rb_total_size(h);
	/* CRC before the counts: damaged bytes are reported as damage (Kafka's
	 * CORRUPT_MESSAGE), not as whatever field the damage happened to hit. */
	if (check_crc && rb_compute_crc(b, total) != h->crc)
		return -PAGEBUS_EBADCRC;
	if (h->records_count < 1 || (int64_t)h->last_offset_delta + 1 != h->records_count)
		return -PAGEBUS_EBADCOUNT;
	if (rb_codec(h) != RB_CODEC_NONE) /* records are an opaque compressed blob */
		return (long)total;
	r = walk_records(h, b + RB_HEADER_SIZE, b + total);
	return r ? r : (long)total;
}

int rb_iter_start(struct rb_iter *it, const void *buf, size_t len)
{
	int r = rb_header_parse(buf, len, &it->hdr);

	if (r)
		return r;
	if (rb_codec(&it->hdr) != RB_CODEC_NONE)
		return -PAGEBUS_ECOMPRESSED;
	it->p = (const uint8_t *)buf + RB_HEADER_SIZE;
	it->end = (const uint8_t *)buf + rb_total_size(&it->hdr);
	it->index = 0;
	return 0;
}

int rb_iter_start_records(struct rb_iter *it, const struct rb_header *h, const void *records,
			  size_t len)
{
	const uint8_t *p = records;
	int r;

	if (h->records_count < 1 || (int64_t)h->last_offset_delta + 1 != h->records_count)
		return -PAGEBUS_EBADCOUNT;
	r = walk_records(h, p, p + len);
	if (r)
		return r;
	it->hdr = *h;
	it->p = p;
	it->end = p + len;
	it->index = 0;
	return 0;
}

/* Bounds-checked like rb_validate, so it is safe on unvalidated bytes; an error does
 * not advance the iterator, so it repeats on the next call. */
int rb_iter_next(struct rb_iter *it, struct rb_record *rec)
{
	int r;

	if (it->index >= it->hdr.records_count)
		return 0;
	if (it->p >= it->end)
		return -PAGEBUS_EBADCOUNT;
	r = parse_record(&it->p, it->end, it->index, &it->hdr, rec);
	if (r)
		return r;
	it->index++;
	return 1;
}

/* ---- encoding ------------------------------------------------------------------ */

static inline uint64_t bytes_size(int32_t len)
{
	return varint_size(len) + (len > 0 ? (uint64_t)len : 0);
}

/* Record size after its length varint. */
static inline uint64_t record_body_size(int64_t ts_delta, int32_t offset_delta, int32_t key_len,
					int32_t value_len, const struct rb_kv *headers,
					int n_headers)
{
	uint64_t body = 1 + varint_size(ts_delta) + varint_size(offset_delta) +
			bytes_size(key_len) + bytes_size(value_len) + varint_size(n_headers);

	for (int i = 0; i < n_headers; i++)
		body += bytes_size(headers[i].key_len) + bytes_size(headers[i].value_len);
	return body;
}

size_t rb_record_size(int64_t timestamp_delta, int32_t offset_delta, int32_t key_len,
		      int32_t value_len, const struct rb_kv *headers, int n_headers)
{
	uint64_t body = record_body_size(timestamp_delta, offset_delta, key_len, value_len, headers,
					 n_headers);

	return (size_t)(varint_size((int64_t)body) + body);
}

int rb_builder_init(struct rb_builder *b, void *buf, size_t cap)
{
	if (cap < RB_HEADER_SIZE)
		return -EMSGSIZE;
	b->buf = buf;
	/* never build a batch batchLength cannot describe */
	b->cap = cap < RB_MAX_TOTAL_SIZE ? cap : RB_MAX_TOTAL_SIZE;
	b->len = RB_HEADER_SIZE;
	b->count = 0;
	b->base_timestamp = 0;
	b->max_timestamp = 0;
	return 0;
}

static inline uint8_t *put_bytes(uint8_t *p, const void *data, int32_t len)
{
	p += varint_put(p, len);
	if (len > 0) {
		memcpy(p, data, (size_t)len);
		p += len;
	}
	return p;
}

static inline bool bytes_ok(const void *data, int32_t len, bool nullable)
{
	return len >= (nullable ? -1 : 0) && (len == 0 || len == -1 || data);
}

int rb_builder_add(struct rb_builder *b, int64_t timestamp, const void *key, int32_t key_len,
		   const void *value, int32_t value_len, const struct rb_kv *headers, int n_headers)
{
	int64_t ts_delta;
	uint64_t body, size;
	uint8_t *p;

	if (!bytes_ok(key, key_len, true) || !bytes_ok(value, value_len, true) || n_headers < 0 ||
	    (n_headers && !headers))
		return -EINVAL;
	for (int i = 0; i < n_headers; i++)
		if (!bytes_ok(headers[i].key, headers[i].key_len, false) ||
		    !bytes_ok(headers[i].value, headers[i].value_len, true))
			return -EINVAL;

	/* wraps like Kafka's long arithmetic; the decoder adds it back the same way */
	ts_delta = b->count ? (int64_t)((uint64_t)timestamp - (uint64_t)b->base_timestamp) : 0;
	body = record_body_size(ts_delta, b->count, key_len, value_len, headers, n_headers);
	size = varint_size((int64_t)body) + body;
	if (size > b->cap - b->len)
		return -EMSGSIZE;

	p = b->buf + b->len;
	p += varint_put(p, (int64_t)body);
	*p++ = 0; /* attributes */
	p += varint_put(p, ts_delta);
	p += varint_put(p, b->count);
	p = put_bytes(p, key, key_len);
	p = put_bytes(p, value, value_len);
	p += varint_put(p, n_headers);
	for (int i = 0; i < n_headers; i++) {
		p = put_bytes(p, headers[i].key, headers[i].key_len);
		p = put_bytes(p, headers[i].value, headers[i].value_len);
	}

	if (!b->count)
		b->base_timestamp = b->max_timestamp = timestamp;
	else if (timestamp > b->max_timestamp)
		b->max_timestamp = timestamp;
	b->count++;
	b->len += size;
	return 0;
}

long rb_builder_finish(struct rb_builder *b)
{
	uint8_t *h = b->buf;

	if (!b->count)
		return -EINVAL;
	be64_put(h + RB_OFF_BASE_OFFSET, 0);
	be32_put(h + RB_OFF_LENGTH, (uint32_t)(b->len - RB_LOG_OVERHEAD));
	be32_put(h + RB_OFF_LEADER_EPOCH, 0);
	h[RB_OFF_MAGIC] = RB_MAGIC;
	be16_put(h + RB_OFF_ATTRIBUTES, 0);
	be32_put(h + RB_OFF_LAST_OFFSET_DELTA, (uint32_t)(b->count - 1));
	be64_put(h + RB_OFF_BASE_TIMESTAMP, (uint64_t)b->base_timestamp);
	be64_put(h + RB_OFF_MAX_TIMESTAMP, (uint64_t)b->max_timestamp);
	be64_put(h + RB_OFF_PRODUCER_ID, (uint64_t)-1);
	be16_put(h + RB_OFF_PRODUCER_EPOCH, (uint16_t)-1);
	be32_put(h + RB_OFF_BASE_SEQUENCE, (uint32_t)-1);
	be32_put(h + RB_OFF_RECORDS_COUNT, (uint32_t)b->count);
	be32_put(h + RB_OFF_CRC, rb_compute_crc(h, b->len));
	return (long)b->len;
}
