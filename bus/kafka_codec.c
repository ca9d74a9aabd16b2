/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_codec.c — the bounds-checked frame reader, the request header and the response
 * writer of the Kafka endpoint. Nothing here allocates on behalf of a client's counts:
 * an array count is checked against the bytes left before the caller sees it.
 */
#include "kafka_codec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"

int kc_fail(struct kc_reader *r, const char *what)
{
	if (!r->what)
		r->what = what;
	r->p = r->end;
	return -EPROTO;
}

/* The next n bytes, or NULL (and the reader failed). */
static const uint8_t *take(struct kc_reader *r, size_t n, const char *what)
{
	if (r->what || kc_left(r) < n) {
		kc_fail(r, what);
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += n;
	return p;
}

int8_t kc_i8(struct kc_reader *r, const char *what)
{
	const uint8_t *p = take(r, 1, what);
	return p ? (int8_t)p[0] : 0;
}

int16_t kc_i16(struct kc_reader *r, const char *what)
{
	const uint8_t *p = take(r, 2, what);
	return p ? (int16_t)be16_get(p) : 0;
}

int32_t kc_i32(struct kc_reader *r, const char *what)
{
	const uint8_t *p = take(r, 4, what);
	return p ? (int32_t)be32_get(p) : 0;
}

int64_t kc_i64(struct kc_reader *r, const char *what)
{
	const uint8_t *p = take(r, 8, what);
	return p ? (int64_t)be64_get(p) : 0;
}

bool kc_bool(struct kc_reader *r, const char *what)
{
	return kc_i8(r, what) != 0;
}

/* The n bytes a length field announced (-1: null, when nullable). */
static const uint8_t *sized(struct kc_reader *r, const char *what, bool nullable, int32_t n, int32_t *len)
{
	*len = -1;
	if (kc_failed(r))
		return NULL;
	if (n < 0) {
		if (n != -1 || !nullable)
			kc_fail(r, what);
		return NULL;
	}
	const uint8_t *p = take(r, (size_t)n, what);
	if (p)
		*len = n;
	return p;
}

void kc_string(struct kc_reader *r, const char *what, bool nullable, const char **s, int *len)
{
	int32_t n;
	*s = (const char *)sized(r, what, nullable, kc_i16(r, what), &n);
	*len = n;
}

void kc_bytes(struct kc_reader *r, const char *what, bool nullable, const uint8_t **b, int32_t *len)
{
	*b = sized(r, what, nullable, kc_i32(r, what), len);
}

int32_t kc_array(struct kc_reader *r, const char *what, size_t min_elem, bool nullable)
{
	int32_t n = kc_i32(r, what);
	if (kc_failed(r))
		return -1;
	if (n < 0) {
		if (n != -1 || !nullable)
			kc_fail(r, what);
		return -1;
	}
	if ((size_t)n > kc_left(r) / (min_elem ? min_elem : 1) || n > r->elements) {
		kc_fail(r, what);
		return -1;
	}
	r->elements -= n;
	return n;
}

uint32_t kc_uvarint(struct kc_reader *r, const char *what)
{
	uint32_t v = 0;
	for (int shift = 0; shift < 35; shift += 7) {
		const uint8_t *p = take(r, 1, what);
		if (!p)
			return 0;
		if (shift == 28 && (*p & 0xf0)) /* more than 32 bits */
			break;
		v |= (uint32_t)(*p & 0x7f) << shift;
		if (!(*p & 0x80))
			return v;
	}
	kc_fail(r, what);
	return 0;
}

void kc_skip_tags(struct kc_reader *r)
{
	uint32_t n = kc_uvarint(r, "tagged fields");
	for (uint32_t i = 0; i < n && !kc_failed(r); i++) {
		kc_uvarint(r, "tag");
		uint32_t size = kc_uvarint(r, "tag size");
		take(r, size, "tag data");
	}
}

void kc_topics_free(struct kc_topic *topics, uint32_t ntopics)
{
	for (uint32_t i = 0; topics && i < ntopics; i++)
		free(topics[i].name);
	free(topics);
}

int kc_topics_parse(struct kc_reader *r, size_t min_part, size_t elem, kc_part_fn *fn, struct kc_topic **topics,
		    uint32_t *ntopics, void **parts, uint32_t *nparts)
{
	int32_t nt = kc_array(r, "topics", 6, false);
	struct kc_topic *ts = nt > 0 ? calloc((size_t)nt, sizeof(*ts)) : NULL;
	uint8_t *ps = NULL;
	uint32_t n = 0, np_total = 0;
	size_t cap = 0;
	if (nt > 0 && !ts)
		kc_fail(r, "out of memory");
	for (; (int32_t)n < nt && !kc_failed(r); n++) {
		const char *name;
		int len;
		kc_string(r, "topic name", false, &name, &len);
		int32_t np = kc_array(r, "partitions", min_part, false);
		if (kc_failed(r))
			break;
		struct kc_topic *t = &ts[n];
		t->first = np_total;
		t->name = malloc((size_t)len + 1);
		if (np_total + (size_t)np > cap) {
			size_t ncap = 2 * cap + (size_t)np;
			uint8_t *q = realloc(ps, ncap * elem);
			if (q) {
				ps = q;
				cap = ncap;
			}
		}
		if (!t->name || np_total + (size_t)np > cap) {
			n++;
			kc_fail(r, "out of memory");
			break;
		}
		for (int i = 0; i < len; i++) /* '/' is never in a topic name: a NUL byte cannot
						* make it match a shorter one */
			t->name[i] = name[i] ? name[i] : '/';
		t->name[len] = '\0';
		for (int32_t j = 0; j < np && !kc_failed(r); j++, np_total++, t->n++)
			fn(r, ps + (size_t)np_total * elem, n);
	}
	if (kc_failed(r)) {
		kc_topics_free(ts, n);
		free(ps);
		*topics = NULL;
		*parts = NULL;
		*ntopics = *nparts = 0;
		return -EPROTO;
	}
	*topics = ts;
	*ntopics = n;
	*parts = ps;
	*nparts = np_total;
	return 0;
}

int kc_header_parse(struct kc_reader *r, bool flexible, struct kc_header *h)
{
	h->api_key = kc_i16(r, "api_key");
	h->api_version = kc_i16(r, "api_version");
	h->correlation_id = kc_i32(r, "correlation_id");
	kc_string(r, "client_id", true, &h->client_id, &h->client_id_len);
	if (flexible)
		kc_skip_tags(r);
	return kc_failed(r) ? -EPROTO : 0;
}

int kc_header_peek(const void *frame, size_t len, struct kc_header *h)
{
	if (len < 8)
		return -EPROTO;
	const uint8_t *p = frame;
	h->api_key = (int16_t)be16_get(p);
	h->api_version = (int16_t)be16_get(p + 2);
	h->correlation_id = (int32_t)be32_get(p + 4);
	h->client_id = NULL;
	h->client_id_len = -1;
	return 0;
}

/* ---- writer ------------------------------------------------------------------------ */

int kc_writer_init(struct kc_writer *w, size_t cap)
{
	w->len = 0;
	w->err = 0;
	w->cap = cap ? cap : 64;
	w->buf = malloc(w->cap);
	if (!w->buf) {
		w->cap = 0;
		w->err = -ENOMEM;
	}
	return w->err;
}

void kc_writer_free(struct kc_writer *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

size_t kc_w_skip(struct kc_writer *w, size_t n)
{
	if (w->err)
		return SIZE_MAX;
	if (w->cap - w->len < n) {
		size_t cap = w->cap ? w->cap : 64;
		while (cap - w->len < n)
			cap *= 2;
		uint8_t *b = realloc(w->buf, cap);
		if (!b) {
			w->err = -ENOMEM;
			return SIZE_MAX;
		}
		w->buf = b;
		w->cap = cap;
	}
	size_t at = w->len;
	w->len += n;
	return at;
}

void kc_w_raw(struct kc_writer *w, const void *p, size_t n)
{
	size_t at = kc_w_skip(w, n);
	if (at != SIZE_MAX && n)
		memcpy(w->buf + at, p, n);
}

void kc_w_i8(struct kc_writer *w, int8_t v)
{
	kc_w_raw(w, &v, 1);
}

void kc_w_i16(struct kc_writer *w, int16_t v)
{
	uint8_t b[2];
	be16_put(b, (uint16_t)v);
	kc_w_raw(w, b, 2);
}

void kc_w_i32(struct kc_writer *w, int32_t v)
{
	uint8_t b[4];
	be32_put(b, (uint32_t)v);
	kc_w_raw(w, b, 4);
}

void kc_w_i64(struct kc_writer *w, int64_t v)
{
	uint8_t b[8];
	be64_put(b, (uint64_t)v);
	kc_w_raw(w, b, 8);
}

void kc_w_string(struct kc_writer *w, const char *s, int len)
{
	if (!s || len < 0) {
		kc_w_i16(w, -1);
		return;
	}
	if (len > INT16_MAX)
		len = INT16_MAX;
	kc_w_i16(w, (int16_t)len);
	kc_w_raw(w, s, (size_t)len);
}

void kc_w_cstr(struct kc_writer *w, const char *s)
{
	kc_w_string(w, s, s ? (int)strlen(s) : -1);
}

void kc_w_patch_i32(struct kc_writer *w, size_t at, int32_t v)
{
	if (!w->err && at != SIZE_MAX && at + 4 <= w->len)
		be32_put(w->buf + at, (uint32_t)v);
}
