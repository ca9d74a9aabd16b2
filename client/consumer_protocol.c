/* SPDX-License-Identifier: Apache-2.0 */
/*
 * consumer_protocol.c — encoder and bounds-checked readers of Kafka's consumer group
 * protocol (subscriptions and assignments), shared by libpagebus and pagebusd.
 */
#include "consumer_protocol.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"

#define CP_TOPIC_MAX 32767 /* an int16 length */

/* ---- reading: every length is checked against what is left ----------------------------- */

struct cp_reader {
	const uint8_t *p, *end;
	bool bad;
};

static const uint8_t *take(struct cp_reader *r, size_t n)
{
	if (r->bad || n > (size_t)(r->end - r->p)) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += n;
	return p;
}

static int16_t rd16(struct cp_reader *r)
{
	const uint8_t *p = take(r, 2);
	return p ? (int16_t)be16_get(p) : 0;
}

static int32_t rd32(struct cp_reader *r)
{
	const uint8_t *p = take(r, 4);
	return p ? (int32_t)be32_get(p) : 0;
}

/* A non-null STRING: its bytes and length, or NULL (the reader failed). */
static const char *rdstr(struct cp_reader *r, size_t *len)
{
	int16_t n = rd16(r);
	if (n < 0)
		r->bad = true;
	const uint8_t *s = r->bad ? NULL : take(r, (size_t)n);
	*len = s ? (size_t)n : 0;
	return (const char *)s;
}

/* An array count: each element needs at least min bytes. -1 on failure. */
static int32_t rdcount(struct cp_reader *r, size_t min)
{
	int32_t n = rd32(r);
	if (r->bad || n < 0 || (size_t)n > (size_t)(r->end - r->p) / min) {
		r->bad = true;
		return -1;
	}
	return n;
}

int cp_subscription_topics(const uint8_t *b, size_t len, cp_topic_fn *fn, void *ctx)
{
	struct cp_reader r = { b, b + len, false };
	if (rd16(&r) < 0)
		return -EPROTO;
	int32_t n = rdcount(&r, 2);
	for (int32_t i = 0; i < n && !r.bad; i++) {
		size_t tl;
		const char *t = rdstr(&r, &tl);
		int rc = t ? fn(ctx, t, tl) : 0;
		if (rc)
			return rc;
	}
	/* user data and later versions' fields follow: not needed */
	return r.bad ? -EPROTO : 0;
}

int cp_assignment_parts(const uint8_t *b, size_t len, cp_part_fn *fn, void *ctx)
{
	if (len == 0)
		return 0; /* a member the leader gave nothing */
	struct cp_reader r = { b, b + len, false };
	if (rd16(&r) < 0)
		return -EPROTO;
	int32_t n = rdcount(&r, 6);
	for (int32_t i = 0; i < n && !r.bad; i++) {
		size_t tl;
		const char *t = rdstr(&r, &tl);
		int32_t m = rdcount(&r, 4);
		for (int32_t j = 0; j < m && !r.bad; j++) {
			int32_t p = rd32(&r);
			int rc = r.bad ? 0 : fn(ctx, t, tl, p);
			if (rc)
				return rc;
		}
	}
	return r.bad ? -EPROTO : 0;
}

/* ---- writing ------------------------------------------------------------------------------ */

static uint8_t *put16(uint8_t *p, int16_t v)
{
	be16_put(p, (uint16_t)v);
	return p + 2;
}

static uint8_t *put32(uint8_t *p, int32_t v)
{
	be32_put(p, (uint32_t)v);
	return p + 4;
}

static uint8_t *putstr(uint8_t *p, const char *s, size_t n)
{
	p = put16(p, (int16_t)n);
	memcpy(p, s, n);
	return p + n;
}

int cp_subscription_encode(const char *const *topics, int n, uint8_t **out, size_t *len)
{
	*out = NULL;
	size_t size = 2 + 4 + 4;
	for (int i = 0; i < n; i++) {
		size_t tl = strlen(topics[i]);
		if (tl > CP_TOPIC_MAX)
			return -EINVAL;
		size += 2 + tl;
	}
	uint8_t *b = malloc(size), *p = b;
	if (!b)
		return -ENOMEM;
	p = put16(p, 0);
	p = put32(p, n);
	for (int i = 0; i < n; i++)
		p = putstr(p, topics[i], strlen(topics[i]));
	put32(p, -1); /* no user data */
	*out = b;
	*len = size;
	return 0;
}

int cp_assignment_encode(const struct cp_topic_parts *t, int n, uint8_t **out, size_t *len)
{
	*out = NULL;
	size_t size = 2 + 4 + 4;
	for (int i = 0; i < n; i++) {
		size_t tl = strlen(t[i].topic);
		if (tl > CP_TOPIC_MAX || t[i].n < 0)
			return -EINVAL;
		size += 2 + tl + 4 + 4 * (size_t)t[i].n;
	}
	uint8_t *b = malloc(size), *p = b;
	if (!b)
		return -ENOMEM;
	p = put16(p, 0);
	p = put32(p, n);
	for (int i = 0; i < n; i++) {
		p = putstr(p, t[i].topic, strlen(t[i].topic));
		p = put32(p, t[i].n);
		for (int j = 0; j < t[i].n; j++)
			p = put32(p, t[i].parts[j]);
	}
	put32(p, -1); /* no user data */
	*out = b;
	*len = size;
	return 0;
}
