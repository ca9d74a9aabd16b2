/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_kafka.c — Fetch v4 requests out, responses walked in place: the record batches
 * are counted from their headers (baseOffset, batchLength, lastOffsetDelta,
 * recordsCount), as a Kafka consumer would before handing records out.
 */
#include "bench_kafka.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_proc.h"

#define API_FETCH 1
#define FETCH_VERSION 4
#define BATCH_HEADER 61 /* RecordBatch v2 up to and including recordsCount */
#define NO_PROGRESS_S 10.0

static uint8_t *put16(uint8_t *p, int16_t v)
{
	uint16_t be = htons((uint16_t)v);
	memcpy(p, &be, 2);
	return p + 2;
}

static uint8_t *put32(uint8_t *p, int32_t v)
{
	uint32_t be = htonl((uint32_t)v);
	memcpy(p, &be, 4);
	return p + 4;
}

static uint8_t *put64(uint8_t *p, int64_t v)
{
	p = put32(p, (int32_t)((uint64_t)v >> 32));
	return put32(p, (int32_t)(uint32_t)v);
}

static uint8_t *put_str(uint8_t *p, const char *s)
{
	size_t n = strlen(s);
	p = put16(p, (int16_t)n);
	memcpy(p, s, n);
	return p + n;
}

static int32_t get32(const uint8_t *p)
{
	uint32_t be;
	memcpy(&be, p, 4);
	return (int32_t)ntohl(be);
}

static int16_t get16(const uint8_t *p)
{
	uint16_t be;
	memcpy(&be, p, 2);
	return (int16_t)ntohs(be);
}

static int64_t get64(const uint8_t *p)
{
	return (int64_t)(((uint64_t)(uint32_t)get32(p) << 32) | (uint32_t)get32(p + 4));
}

/* One Fetch v4 request for topic partition 0 at offset into out; returns its length. */
static size_t fetch_request(uint8_t *out, int32_t corr, const char *topic, int64_t offset, int32_t max_bytes)
{
	uint8_t *p = out + 4;
	p = put16(p, API_FETCH);
	p = put16(p, FETCH_VERSION);
	p = put32(p, corr);
	p = put_str(p, "pagebus-bench");
	p = put32(p, -1);        /* replica_id: a consumer */
	p = put32(p, 500);       /* max_wait_ms */
	p = put32(p, 1);         /* min_bytes */
	p = put32(p, max_bytes);
	*p++ = 0;                /* isolation_level: read_uncommitted */
	p = put32(p, 1);         /* one topic */
	p = put_str(p, topic);
	p = put32(p, 1);         /* one partition */
	p = put32(p, 0);
	p = put64(p, offset);
	p = put32(p, max_bytes); /* partition_max_bytes */
	put32(out, (int32_t)(p - out - 4));
	return (size_t)(p - out);
}

/* Walks the records of one response; advances *next past every complete batch. */
static int walk_records(const uint8_t *r, size_t len, int64_t *next, struct kfetch_stats *st)
{
	while (len >= BATCH_HEADER) {
		int64_t base = get64(r);
		int32_t blen = get32(r + 8);
		if (blen < BATCH_HEADER - 12 || (size_t)blen + 12 > len)
			break; /* a partial batch at the end of the response */
		int32_t last_delta = get32(r + 23), count = get32(r + 57);
		if (count < 0 || last_delta < 0)
			return -EPROTO;
		if (base + last_delta >= *next) {
			st->msgs += (uint64_t)count;
			*next = base + last_delta + 1;
		}
		r += 12 + blen;
		len -= 12 + (size_t)blen;
	}
	return 0;
}

/* Parses one Fetch v4 response body (after its size). */
static int fetch_response(const uint8_t *b, size_t len, int32_t corr, int64_t *next, struct kfetch_stats *st)
{
	const uint8_t *end = b + len, *p = b;
	size_t tlen;
	/* correlation_id, throttle_time_ms, one topic: name, one partition */
	if (len < 14 || get32(p) != corr || get32(p + 8) != 1)
		return -EPROTO;
	p += 12;
	tlen = (size_t)(uint16_t)get16(p);
	p += 2 + tlen;
	if (p + 4 + 4 + 2 + 8 + 8 + 4 > end || get32(p) != 1)
		return -EPROTO;
	p += 8; /* partitions count, partition index */
	int16_t error = get16(p);
	p += 2 + 8 + 8; /* error, high watermark, last stable offset */
	int32_t aborted = get32(p);
	p += 4 + (aborted > 0 ? (size_t)aborted * 16 : 0);
	if (error) {
		fprintf(stderr, "pagebus-bench: Fetch: Kafka error %d\n", error);
		return -EPROTO;
	}
	if (p + 4 > end)
		return -EPROTO;
	int32_t rlen = get32(p);
	p += 4;
	if (rlen < 0 || p + rlen > end)
		return -EPROTO;
	st->bytes += (uint64_t)rlen;
	return walk_records(p, (size_t)rlen, next, st);
}

int kafka_fetch_all(int port, const char *topic, int64_t end, int32_t max_bytes, struct kfetch_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (strlen(topic) > 255 || max_bytes < 1024)
		return -EINVAL;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	size_t cap = (size_t)max_bytes + 4096;
	uint8_t *buf = malloc(cap), req[512];
	int err = 0;
	if (s < 0 || !buf || connect(s, (struct sockaddr *)&sa, sizeof(sa))) {
		err = s < 0 || buf ? -errno : -ENOMEM;
		goto out;
	}
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int64_t next = 0;
	double progress_at = now_s();
	for (int32_t corr = 1; !err && next < end; corr++) {
		size_t rl = fetch_request(req, corr, topic, next, max_bytes);
		uint8_t hdr[4];
		if ((err = bench_write_full(s, req, rl)) || (err = bench_read_full(s, hdr, 4)))
			break;
		int32_t size = get32(hdr);
		if (size < 0 || (size_t)size > cap) {
			err = -EPROTO;
			break;
		}
		int64_t before = next;
		if (!(err = bench_read_full(s, buf, (size_t)size)))
			err = fetch_response(buf, (size_t)size, corr, &next, st);
		st->fetches++;
		if (next > before)
			progress_at = now_s();
		else if (now_s() - progress_at > NO_PROGRESS_S)
			err = -ETIME;
	}
out:
	if (s >= 0)
		close(s);
	free(buf);
	return err;
}
