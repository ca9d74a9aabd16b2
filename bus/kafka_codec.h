/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_codec.h — Kafka's wire encoding as the endpoint needs it: a bounds-checked
 * reader over one request frame (classic types, plus the uvarints and tagged fields of
 * flexible headers), the request header, and a growable writer for responses.
 *
 * Reader contract: every length and count a client sends is checked against the bytes
 * that remain before it is used, and all the array counts of one request together may
 * not pass KC_MAX_ELEMENTS, so no request can make the broker allocate much more than
 * its own size. The first failure records which field broke in
 * r->what and empties the reader, so later reads return zeros; a handler parses
 * everything, then checks kc_failed() once (one `malformed` exit).
 */
#ifndef PAGEBUS_KAFKA_CODEC_H
#define PAGEBUS_KAFKA_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Array elements one request may hold, all arrays together (a Fetch of 100 000
 * partitions is far beyond any real client). */
#define KC_MAX_ELEMENTS 100000

struct kc_reader {
	const uint8_t *base; /* the frame: offsets of fields are p - base */
	const uint8_t *p, *end;
	const char *what; /* the field that failed first; NULL while all is well */
	int32_t elements; /* array elements still allowed (KC_MAX_ELEMENTS) */
};

static inline void kc_reader_init(struct kc_reader *r, const void *buf, size_t len)
{
	r->base = r->p = buf;
	r->end = r->p + len;
	r->what = NULL;
	r->elements = KC_MAX_ELEMENTS;
}

static inline bool kc_failed(const struct kc_reader *r)
{
	return r->what != NULL;
}

static inline size_t kc_left(const struct kc_reader *r)
{
	return (size_t)(r->end - r->p);
}

/* Marks the reader failed at `what` (the first failure wins). Returns -EPROTO. */
int kc_fail(struct kc_reader *r, const char *what);

int8_t kc_i8(struct kc_reader *r, const char *what);
int16_t kc_i16(struct kc_reader *r, const char *what);
int32_t kc_i32(struct kc_reader *r, const char *what);
int64_t kc_i64(struct kc_reader *r, const char *what);
bool kc_bool(struct kc_reader *r, const char *what);

/* A string into the frame (not NUL-terminated). STRING: *s, *len >= 0. NULLABLE_STRING
 * (nullable): also *s = NULL, *len = -1 for null. */
void kc_string(struct kc_reader *r, const char *what, bool nullable, const char **s, int *len);
/* BYTES / NULLABLE_BYTES / RECORDS: *b = NULL, *len = -1 for null when nullable. */
void kc_bytes(struct kc_reader *r, const char *what, bool nullable, const uint8_t **b, int32_t *len);

/*
 * An ARRAY count. Each element takes at least min_elem bytes (>= 1), so a count larger
 * than the bytes left could hold fails here, before anything is allocated for it, as
 * does one past what is left of the request's KC_MAX_ELEMENTS.
 * Returns the count, or -1 for a null array (only when nullable) and on failure.
 */
int32_t kc_array(struct kc_reader *r, const char *what, size_t min_elem, bool nullable);

/* Unsigned LEB128 (flexible versions), at most 5 bytes here. */
uint32_t kc_uvarint(struct kc_reader *r, const char *what);
/* Skips a tagged-field section: count, then (tag, size, bytes) per field. */
void kc_skip_tags(struct kc_reader *r);

/*
 * The shape most requests share, `[{name STRING, partitions [P]}]`: the topic names are
 * copied NUL-terminated (a NUL byte inside becomes '/', so it matches no topic), and each
 * partition is read by fn into its elem-byte slot of one array, in request order.
 * min_part is P's smallest wire size (for the count check). On success *topics and
 * *parts are malloc'd (NULL when empty); on failure (the reader failed: check r->what,
 * "out of memory" included) nothing is left allocated. Free with kc_topics_free.
 */
struct kc_topic {
	char *name;
	uint32_t first, n; /* its partitions: parts[first .. first + n) */
};
typedef void kc_part_fn(struct kc_reader *r, void *part, uint32_t topic);
int kc_topics_parse(struct kc_reader *r, size_t min_part, size_t elem, kc_part_fn *fn, struct kc_topic **topics,
		    uint32_t *ntopics, void **parts, uint32_t *nparts);
void kc_topics_free(struct kc_topic *topics, uint32_t ntopics);

/* ---- request header -------------------------------------------------------------- */

struct kc_header {
	int16_t api_key;
	int16_t api_version;
	int32_t correlation_id;
	const char *client_id; /* into the frame, client_id_len bytes; NULL when null */
	int client_id_len;
};

/*
 * Header v1 (key, version, correlation id, client_id) and, when flexible (header v2),
 * its tagged-field section; r is left at the body. The client_id keeps its int16
 * length in v2 too, so key, version and id always read the same way. 0 or -EPROTO.
 */
int kc_header_parse(struct kc_reader *r, bool flexible, struct kc_header *h);
/* Reads only api_key, api_version and correlation_id: enough to refuse a request. */
int kc_header_peek(const void *frame, size_t len, struct kc_header *h);

/* ---- writer ---------------------------------------------------------------------- */

/* A growable response buffer. Allocation failure sets err (-ENOMEM); later writes do
 * nothing, so a handler writes everything and checks err once. */
struct kc_writer {
	uint8_t *buf;
	size_t len, cap;
	int err;
};

int kc_writer_init(struct kc_writer *w, size_t cap);
void kc_writer_free(struct kc_writer *w);

/* Room for n bytes at the end: returns their offset (for a later patch) or SIZE_MAX. */
size_t kc_w_skip(struct kc_writer *w, size_t n);
void kc_w_raw(struct kc_writer *w, const void *p, size_t n);
void kc_w_i8(struct kc_writer *w, int8_t v);
void kc_w_i16(struct kc_writer *w, int16_t v);
void kc_w_i32(struct kc_writer *w, int32_t v);
void kc_w_i64(struct kc_writer *w, int64_t v);
/* STRING / NULLABLE_STRING: s with len bytes; len -1 = null. */
void kc_w_string(struct kc_writer *w, const char *s, int len);
/* A NUL-terminated string, or null for NULL. */
void kc_w_cstr(struct kc_writer *w, const char *s);
void kc_w_patch_i32(struct kc_writer *w, size_t at, int32_t v);

#endif
