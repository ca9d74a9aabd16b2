/* SPDX-License-Identifier: Apache-2.0 */
/*
 * record_batch.h — Kafka RecordBatch v2 (magic 2): the one format pagebus stores,
 * carries in producer rings, maps for consumers and splices to Kafka clients.
 * Encoder (rb_builder), strict validator for untrusted bytes (rb_validate), header
 * accessors and a record iterator. Shared by libpagebus and pagebusd.
 *
 *   0  baseOffset int64        | not covered by the CRC: the broker patches
 *   8  batchLength int32       | baseOffset and partitionLeaderEpoch in place
 *  12  partitionLeaderEpoch    |
 *  16  magic int8 (= 2)        |
 *  17  crc uint32 (CRC-32C of bytes 21..end)
 *  21  attributes int16   23 lastOffsetDelta int32   27 baseTimestamp int64
 *  35  maxTimestamp int64 43 producerId int64        51 producerEpoch int16
 *  53  baseSequence int32 57 recordsCount int32      61 records...
 * All integers big-endian; records use zigzag varints (varint.h).
 */
#ifndef PAGEBUS_RECORD_BATCH_H
#define PAGEBUS_RECORD_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "byteorder.h"

#define RB_HEADER_SIZE 61
#define RB_LOG_OVERHEAD 12 /* baseOffset + batchLength: bytes not counted by batchLength */
#define RB_MAGIC 2

#define RB_OFF_BASE_OFFSET 0
#define RB_OFF_LENGTH 8
#define RB_OFF_LEADER_EPOCH 12
#define RB_OFF_MAGIC 16
#define RB_OFF_CRC 17
#define RB_OFF_ATTRIBUTES 21
#define RB_OFF_LAST_OFFSET_DELTA 23
#define RB_OFF_BASE_TIMESTAMP 27
#define RB_OFF_MAX_TIMESTAMP 35
#define RB_OFF_PRODUCER_ID 43
#define RB_OFF_PRODUCER_EPOCH 51
#define RB_OFF_BASE_SEQUENCE 53
#define RB_OFF_RECORDS_COUNT 57

#define RB_ATTR_COMPRESSION_MASK 0x07
#define RB_ATTR_TIMESTAMP_TYPE 0x08
#define RB_ATTR_TRANSACTIONAL 0x10
#define RB_ATTR_CONTROL 0x20

enum rb_codec { RB_CODEC_NONE = 0, RB_CODEC_GZIP, RB_CODEC_SNAPPY, RB_CODEC_LZ4, RB_CODEC_ZSTD };

/* Upper bound on one batch pagebus accepts (batchLength is an int32). */
#define RB_MAX_BATCH_BYTES (INT32_MAX - RB_LOG_OVERHEAD)

/* The decoded 61-byte header. */
struct rb_header {
	int64_t base_offset;
	int32_t batch_length;
	int32_t leader_epoch;
	int8_t magic;
	uint32_t crc;
	int16_t attributes;
	int32_t last_offset_delta;
	int64_t base_timestamp;
	int64_t max_timestamp;
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	int32_t records_count;
};

/* Total bytes of the batch (batchLength + 12). */
static inline size_t rb_total_size(const struct rb_header *h)
{
	return (size_t)h->batch_length + RB_LOG_OVERHEAD;
}

static inline int64_t rb_last_offset(const struct rb_header *h)
{
	return h->base_offset + h->last_offset_delta;
}

static inline enum rb_codec rb_codec(const struct rb_header *h)
{
	return (enum rb_codec)(h->attributes & RB_ATTR_COMPRESSION_MASK);
}

/* "none", "gzip", "snappy", "lz4", "zstd" or "unknown". */
const char *rb_codec_name(int codec);

/*
 * Decodes the header of the batch at buf (len bytes available) without checking the
 * CRC or the records: len >= 61, magic 2, batchLength >= 49 and the whole batch inside
 * len. Returns 0 or -PAGEBUS_ETRUNCATED / -PAGEBUS_EBADMAGIC / -PAGEBUS_EBADLEN.
 */
int rb_header_parse(const void *buf, size_t len, struct rb_header *h);

/*
 * Full validation of untrusted bytes: the header as rb_header_parse, recordsCount >= 1
 * and == lastOffsetDelta + 1, the CRC (when check_crc), and for an uncompressed batch
 * every record walked and bounds-checked (lengths, varints, offsetDelta sequence,
 * headers). Reads nothing outside buf[0..len). Fills *h. Returns the batch's total size
 * (> 0), or a negative -PAGEBUS_E* naming the first failure.
 */
long rb_validate(const void *buf, size_t len, bool check_crc, struct rb_header *h);

/* Patch the fields outside the CRC, in place (what the broker does on append). */
void rb_set_base_offset(void *batch, int64_t base_offset);
void rb_set_leader_epoch(void *batch, int32_t epoch);

/* CRC-32C the batch should carry (over bytes 21..total). total >= 61. */
uint32_t rb_compute_crc(const void *batch, size_t total);

/* ---- encoding ------------------------------------------------------------------ */

/* One record header (key never null; value_len -1 = null value). */
struct rb_kv {
	const void *key;
	int32_t key_len;
	const void *value;
	int32_t value_len;
};

/*
 * Builds an uncompressed batch in caller memory (e.g. straight into a producer ring).
 * rb_builder_init, then rb_builder_add per record, then rb_builder_finish.
 */
struct rb_builder {
	uint8_t *buf;
	size_t cap;
	size_t len; /* bytes used, header included */
	int32_t count;
	int64_t base_timestamp;
	int64_t max_timestamp;
};

/* buf must hold at least RB_HEADER_SIZE bytes; returns -EMSGSIZE otherwise. */
int rb_builder_init(struct rb_builder *b, void *buf, size_t cap);

/* Encoded size of one record with these fields (what rb_builder_add consumes). */
size_t rb_record_size(int64_t timestamp_delta, int32_t offset_delta, int32_t key_len,
		      int32_t value_len, const struct rb_kv *headers, int n_headers);

/*
 * Appends a record. key_len / value_len -1 = null (pointer ignored). The first record's
 * timestamp becomes baseTimestamp. Returns 0, -EMSGSIZE when it does not fit in the
 * remaining capacity (the builder is unchanged), or -EINVAL for a bad argument.
 */
int rb_builder_add(struct rb_builder *b, int64_t timestamp, const void *key, int32_t key_len,
		   const void *value, int32_t value_len, const struct rb_kv *headers, int n_headers);

/*
 * Writes the header (baseOffset 0, epoch 0, producerId/epoch/sequence -1, attributes 0)
 * and the CRC. Returns the batch's total size, or -EINVAL for an empty builder.
 */
long rb_builder_finish(struct rb_builder *b);

/* ---- decoding records ---------------------------------------------------------- */

/* One record, pointing into the batch's bytes (zero copy). */
struct rb_record {
	int64_t offset;    /* baseOffset + offsetDelta */
	int64_t timestamp; /* baseTimestamp + timestampDelta */
	const uint8_t *key;
	int32_t key_len;   /* -1 = null */
	const uint8_t *value;
	int32_t value_len; /* -1 = null */
	int32_t header_count;
	const uint8_t *headers; /* header_count encoded headers, walk with rb_headers_next */
	size_t headers_len;
};

/* Iterates the records of one batch. The batch bytes must outlive the iterator. */
struct rb_iter {
	struct rb_header hdr;
	const uint8_t *p, *end;
	int32_t index;
};

/*
 * Starts iterating the batch at buf (len bytes). Parses the header; a compressed batch
 * gives -PAGEBUS_ECOMPRESSED (rb_codec() names it). CRC is not checked here.
 */
int rb_iter_start(struct rb_iter *it, const void *buf, size_t len);

/*
 * Starts iterating records that are not inside the batch's bytes: those of a compressed
 * batch, decompressed into records[0..len). h is the batch's header (offsets, timestamps
 * and recordsCount come from it). Walks every record once, as rb_validate does for an
 * uncompressed batch: 0, or -PAGEBUS_E* when the records are malformed, fewer or more
 * than recordsCount, or do not fill len exactly. records must outlive the iterator.
 */
int rb_iter_start_records(struct rb_iter *it, const struct rb_header *h, const void *records,
			  size_t len);

/* 1 = *rec filled, 0 = no more records, < 0 = malformed (-PAGEBUS_E*). */
int rb_iter_next(struct rb_iter *it, struct rb_record *rec);

/* Walks a record's headers: *pp starts at rec->headers, end = headers + headers_len.
 * 1 = *kv filled, 0 = end, < 0 = malformed. */
int rb_headers_next(const uint8_t **pp, const uint8_t *end, struct rb_kv *kv);

#endif
