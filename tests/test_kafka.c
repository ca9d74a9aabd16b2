/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kafka.c — pagebusd's Kafka endpoint, end to end, against kcat (Debian kcat 1.7.1 on
 * librdkafka) and a raw TCP client written here: kcat round trips with keys, headers and
 * timestamps, offsets by timestamp, metadata listings, local and kcat producers
 * interleaved in one partition, Fetch while segments roll, from inside a batch, past the
 * end (long poll) and out of range, zero copy proven by the broker's own counters after
 * a 200 MB fetch, malformed and hostile input, slow clients and many connections.
 * Brokers listen on 127.0.0.1:0 and the test reads the port from their log line. Every
 * socket wait is bounded (SO_RCVTIMEO), every kcat runs under timeout(1), and no case
 * asserts on time: only on bytes, offsets and error codes.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kafka_codec.h"
#include "pagebus.h"
#include "record_batch.h"
#include "testutil.h"

#define WAIT_S 20 /* the longest any socket read waits for the broker */
#define KCAT_TIMEOUT "timeout 60 "

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- a broker with its Kafka endpoint on an ephemeral port ---------------------------- */

struct kb {
	char *root;
	char dir[80];
	char log[600];
	pid_t pid;
	int port;
};

static struct kb *kb_start(const char *tag, const char *const *extra)
{
	struct kb *k = calloc(1, sizeof(*k));
	const char *args[32];
	int n = 0;
	assert_non_null(k);
	k->root = tu_tmpdir(tag);
	snprintf(k->dir, sizeof(k->dir), "%s/data", k->root);
	snprintf(k->log, sizeof(k->log), "%s/pagebusd.log", k->root);
	args[n++] = "--kafka.listen";
	args[n++] = "127.0.0.1:0";
	for (int i = 0; extra && extra[i] && n < 30; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	k->pid = tu_broker_start(k->dir, k->log, args, NULL);
	if (k->pid < 0)
		return k;
	size_t len;
	char *log = (char *)tu_read_file(k->log, &len);
	assert_non_null(log);
	log[len] = '\0';
	const char *at = strstr(log, "kafka endpoint listening on 127.0.0.1:");
	if (at)
		k->port = atoi(at + strlen("kafka endpoint listening on 127.0.0.1:"));
	free(log);
	return k;
}

/* Stops the broker; 0 when it exited 0 (no crash, no sanitizer report). */
static int kb_stop(struct kb *k)
{
	int rc = k->pid > 0 ? tu_broker_stop_clean(k->pid, k->log) : 0;
	k->pid = -1;
	return rc;
}

static void kb_free(struct kb *k)
{
	if (!k)
		return;
	if (k->pid > 0)
		tu_broker_kill(k->pid);
	tu_rmrf(k->root);
	free(k->root);
	free(k);
}

/* The number after `key=` in the broker's kafka stats line (after it stopped), or -1. */
static long long kb_stat(const struct kb *k, const char *key)
{
	size_t len;
	char *log = (char *)tu_read_file(k->log, &len), pat[64];
	long long v = -1;
	if (!log)
		return -1;
	log[len] = '\0';
	const char *at = strstr(log, "kafka endpoint stats:");
	snprintf(pat, sizeof(pat), " %s=", key);
	if (at && (at = strstr(at, pat)))
		v = atoll(at + strlen(pat));
	free(log);
	return v;
}

/* ---- a raw Kafka client --------------------------------------------------------------- */

static int tcp_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = WAIT_S };
	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static int send_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int recv_all(int fd, void *p, size_t n)
{
	uint8_t *b = p;
	while (n) {
		ssize_t r = recv(fd, b, n, 0);
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* One response frame: its bytes after the size prefix (malloc'd), NULL at EOF/timeout. */
static uint8_t *recv_frame(int fd, size_t *len)
{
	uint8_t sz[4];
	if (recv_all(fd, sz, 4) < 0)
		return NULL;
	*len = be32_get(sz);
	uint8_t *b = malloc(*len ? *len : 1);
	assert_non_null(b);
	if (recv_all(fd, b, *len) < 0) {
		free(b);
		return NULL;
	}
	return b;
}

/* 1 when the broker closes the connection (EOF or reset) within WAIT_S. */
static int closed_by_broker(int fd)
{
	char buf[65536];
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return 1;
		if (r < 0)
			return 0; /* timeout */
	}
}

static void req_start(struct kc_writer *w, int16_t key, int16_t version, int32_t corr)
{
	assert_int_equal(kc_writer_init(w, 256), 0);
	kc_w_i32(w, 0);
	kc_w_i16(w, key);
	kc_w_i16(w, version);
	kc_w_i32(w, corr);
	kc_w_cstr(w, "test_kafka");
}

static void req_send(int fd, struct kc_writer *w)
{
	assert_int_equal(w->err, 0);
	kc_w_patch_i32(w, 0, (int32_t)(w->len - 4));
	assert_int_equal(send_all(fd, w->buf, w->len), 0);
	kc_writer_free(w);
}

/* Reads a response and checks its correlation id; the reader is at the body. */
static uint8_t *resp_recv(int fd, int32_t corr, struct kc_reader *r)
{
	size_t len;
	uint8_t *b = recv_frame(fd, &len);
	assert_non_null(b);
	kc_reader_init(r, b, len);
	assert_int_equal(kc_i32(r, "correlation_id"), corr);
	return b;
}

/* ApiVersions v2 on fd: the broker answers with Produce 3-3 and Fetch 4-4 among its APIs. */
static void api_versions_ok(int fd)
{
	struct kc_writer w;
	struct kc_reader r;
	req_start(&w, 18, 2, 77);
	req_send(fd, &w);
	uint8_t *b = resp_recv(fd, 77, &r);
	assert_int_equal(kc_i16(&r, "error"), 0);
	int32_t n = kc_i32(&r, "n");
	bool produce = false, fetch = false;
	for (int32_t i = 0; i < n; i++) {
		int16_t key = kc_i16(&r, "key"), min = kc_i16(&r, "min"), max = kc_i16(&r, "max");
		produce |= key == 0 && min == 3 && max == 3;
		fetch |= key == 1 && min == 4 && max == 4;
	}
	kc_i32(&r, "throttle");
	assert_false(kc_failed(&r));
	assert_true(produce && fetch);
	free(b);
}

/* A fresh connection is served: the broker is alive and answering. */
static void broker_serves(int port)
{
	int fd = tcp_connect(port);
	api_versions_ok(fd);
	close(fd);
}

/* CreateTopics v3 of one topic; cfg: key, value, ..., NULL. Returns the error code. */
static int16_t create_topic(int port, const char *name, int32_t parts, int16_t rf, const char *const *cfg)
{
	int fd = tcp_connect(port);
	struct kc_writer w;
	struct kc_reader r;
	int n = 0;
	while (cfg && cfg[2 * n])
		n++;
	req_start(&w, 19, 3, 5);
	kc_w_i32(&w, 1);
	kc_w_cstr(&w, name);
	kc_w_i32(&w, parts);
	kc_w_i16(&w, rf);
	kc_w_i32(&w, 0); /* assignments */
	kc_w_i32(&w, n);
	for (int i = 0; i < n; i++) {
		kc_w_cstr(&w, cfg[2 * i]);
		kc_w_cstr(&w, cfg[2 * i + 1]);
	}
	kc_w_i32(&w, 5000);
	kc_w_i8(&w, 0); /* validate_only */
	req_send(fd, &w);
	uint8_t *b = resp_recv(fd, 5, &r);
	kc_i32(&r, "throttle");
	assert_int_equal(kc_i32(&r, "n"), 1);
	const char *s;
	int len;
	kc_string(&r, "name", false, &s, &len);
	assert_true(len == (int)strlen(name) && !memcmp(s, name, (size_t)len));
	int16_t err = kc_i16(&r, "error");
	kc_string(&r, "message", true, &s, &len);
	assert_false(kc_failed(&r));
	free(b);
	close(fd);
	return err;
}

/* Produce v3 of one batch; returns the partition's error code, *base its base offset. */
static void produce_send(int fd, int32_t corr, const char *topic, int32_t part, const void *batch, size_t len,
			 int16_t acks)
{
	struct kc_writer w;
	req_start(&w, 0, 3, corr);
	kc_w_string(&w, NULL, -1);
	kc_w_i16(&w, acks);
	kc_w_i32(&w, 30000);
	kc_w_i32(&w, 1);
	kc_w_cstr(&w, topic);
	kc_w_i32(&w, 1);
	kc_w_i32(&w, part);
	kc_w_i32(&w, (int32_t)len);
	kc_w_raw(&w, batch, len);
	req_send(fd, &w);
}

static int16_t produce_recv(int fd, int32_t corr, int64_t *base)
{
	struct kc_reader r;
	const char *s;
	int len;
	uint8_t *b = resp_recv(fd, corr, &r);
	assert_int_equal(kc_i32(&r, "topics"), 1);
	kc_string(&r, "name", false, &s, &len);
	assert_int_equal(kc_i32(&r, "parts"), 1);
	kc_i32(&r, "index");
	int16_t err = kc_i16(&r, "error");
	int64_t off = kc_i64(&r, "base_offset");
	kc_i64(&r, "log_append_time");
	kc_i32(&r, "throttle");
	assert_false(kc_failed(&r));
	if (base)
		*base = off;
	free(b);
	return err;
}

static int16_t produce(int fd, const char *topic, int32_t part, const void *batch, size_t len, int64_t *base)
{
	produce_send(fd, 9, topic, part, batch, len, -1);
	return produce_recv(fd, 9, base);
}

/* ListOffsets v2 of one partition: the offset, with *err and *ts. */
static int64_t list_offset(int fd, const char *topic, int32_t part, int64_t ts, int16_t *err, int64_t *ts_out)
{
	struct kc_writer w;
	struct kc_reader r;
	const char *s;
	int len;
	req_start(&w, 2, 2, 11);
	kc_w_i32(&w, -1);
	kc_w_i8(&w, 0);
	kc_w_i32(&w, 1);
	kc_w_cstr(&w, topic);
	kc_w_i32(&w, 1);
	kc_w_i32(&w, part);
	kc_w_i64(&w, ts);
	req_send(fd, &w);
	uint8_t *b = resp_recv(fd, 11, &r);
	kc_i32(&r, "throttle");
	assert_int_equal(kc_i32(&r, "topics"), 1);
	kc_string(&r, "name", false, &s, &len);
	assert_int_equal(kc_i32(&r, "parts"), 1);
	assert_int_equal(kc_i32(&r, "index"), part);
	*err = kc_i16(&r, "error");
	int64_t t = kc_i64(&r, "timestamp"), off = kc_i64(&r, "offset");
	assert_false(kc_failed(&r));
	if (ts_out)
		*ts_out = t;
	free(b);
	return off;
}

struct fetch_result {
	uint8_t *frame;
	int16_t err;
	int64_t hwm;
	const uint8_t *records;
	int32_t len;
};

/* A Fetch v4 request of one partition, its size patched (free w after sending). */
static void fetch_build(struct kc_writer *w, int32_t corr, const char *topic, int32_t part, int64_t offset,
			int32_t max_wait, int32_t min_bytes, int32_t max_bytes, int32_t part_max)
{
	req_start(w, 1, 4, corr);
	kc_w_i32(w, -1);
	kc_w_i32(w, max_wait);
	kc_w_i32(w, min_bytes);
	kc_w_i32(w, max_bytes);
	kc_w_i8(w, 0);
	kc_w_i32(w, 1);
	kc_w_cstr(w, topic);
	kc_w_i32(w, 1);
	kc_w_i32(w, part);
	kc_w_i64(w, offset);
	kc_w_i32(w, part_max);
	kc_w_patch_i32(w, 0, (int32_t)(w->len - 4));
	assert_int_equal(w->err, 0);
}

static void fetch_send(int fd, int32_t corr, const char *topic, int32_t part, int64_t offset, int32_t max_wait,
		       int32_t min_bytes, int32_t max_bytes, int32_t part_max)
{
	struct kc_writer w;
	fetch_build(&w, corr, topic, part, offset, max_wait, min_bytes, max_bytes, part_max);
	req_send(fd, &w);
}

static void fetch_recv(int fd, int32_t corr, struct fetch_result *fr)
{
	struct kc_reader r;
	const char *s;
	int len;
	fr->frame = resp_recv(fd, corr, &r);
	kc_i32(&r, "throttle");
	assert_int_equal(kc_i32(&r, "topics"), 1);
	kc_string(&r, "topic", false, &s, &len);
	assert_int_equal(kc_i32(&r, "parts"), 1);
	kc_i32(&r, "partition");
	fr->err = kc_i16(&r, "error");
	fr->hwm = kc_i64(&r, "hwm");
	assert_int_equal(kc_i64(&r, "lso"), fr->hwm);
	assert_int_equal(kc_i32(&r, "aborted"), 0);
	kc_bytes(&r, "records", false, &fr->records, &fr->len);
	assert_false(kc_failed(&r));
	assert_int_equal(kc_left(&r), 0);
}

static void fetch(int fd, const char *topic, int32_t part, int64_t offset, int32_t max_wait, int32_t part_max,
		  struct fetch_result *fr)
{
	fetch_send(fd, 21, topic, part, offset, max_wait, 1, 64 << 20, part_max);
	fetch_recv(fd, 21, fr);
}

/* Walks the whole batches of a records blob: calls fn for every record at or after from.
 * Returns the next offset after the last whole batch (from when there is none). */
typedef void record_fn(void *ctx, const struct rb_record *rec);
static int64_t walk_records(const uint8_t *p, size_t len, int64_t from, record_fn *fn, void *ctx)
{
	int64_t next = from;
	while (len >= RB_HEADER_SIZE) {
		struct rb_header h;
		if (rb_header_parse(p, len, &h) < 0)
			break; /* a truncated tail: ignored, as clients do */
		struct rb_iter it;
		struct rb_record rec;
		assert_int_equal(rb_iter_start(&it, p, rb_total_size(&h)), 0);
		while (rb_iter_next(&it, &rec) == 1)
			if (rec.offset >= from && fn)
				fn(ctx, &rec);
		next = rb_last_offset(&h) + 1;
		p += rb_total_size(&h);
		len -= rb_total_size(&h);
	}
	return next;
}

/* The stdout of a command (malloc'd, NUL-terminated). */
static char *output(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *output(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t cap = 1 << 16, len = 0;
	char *out = malloc(cap);
	size_t n;
	while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (cap - len < 2)
			out = realloc(out, cap *= 2);
	}
	out[len] = '\0';
	pclose(p);
	return out;
}

static bool have_kcat(void)
{
	return tu_sh("kcat -V >/dev/null 2>&1") == 0;
}

/* ---- libpagebus on the same broker -------------------------------------------------------- */

static void local_send(struct kb *k, const char *topic, int count, const char *fmt, int first, int64_t ts0)
{
	struct pagebus *pb;
	struct pagebus_producer *p;
	assert_int_equal(pagebus_connect(k->dir, &pb), 0);
	assert_int_equal(pagebus_producer_open(pb, topic, NULL, &p), 0);
	for (int i = 0; i < count; i++) {
		char v[64];
		int n = snprintf(v, sizeof(v), fmt, first + i);
		assert_int_equal(pagebus_send_ex(p, 0, NULL, 0, v, (size_t)n, NULL, 0, ts0 ? ts0 + 10 * i : 0, NULL), 0);
	}
	assert_int_equal(pagebus_flush(p, WAIT_S * 1000), 0);
	pagebus_producer_close(p);
	pagebus_close(pb);
}

/* Reads n messages of topic/0 from the beginning with a local consumer; fn checks each. */
typedef void msg_fn(void *ctx, int i, const struct pagebus_msg *m);
static void local_consume(struct kb *k, const char *topic, int n, msg_fn *fn, void *ctx)
{
	struct pagebus *pb;
	struct pagebus_consumer *c;
	struct pagebus_msg m[256];
	assert_int_equal(pagebus_connect(k->dir, &pb), 0);
	assert_int_equal(pagebus_consumer_open(pb, topic, 0, PAGEBUS_OFFSET_BEGINNING, NULL, &c), 0);
	int got = 0;
	for (int tries = 0; got < n && tries < 1000; tries++) {
		int r = pagebus_poll(c, m, 256, 1000);
		assert_true(r >= 0);
		for (int j = 0; j < r && got < n; j++, got++) {
			assert_int_equal(m[j].offset, got);
			fn(ctx, got, &m[j]);
		}
	}
	assert_int_equal(got, n);
	pagebus_consumer_close(c);
	pagebus_close(pb);
}

/* ---- the shared broker ------------------------------------------------------------------- */

static int group_setup(void **state)
{
	static const char *const args[] = { "--retention.check.interval.ms", "100", NULL };
	struct kb *k = kb_start("kafka", args);
	*state = k;
	return k->pid > 0 && k->port > 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	struct kb *k = *state;
	int rc = kb_stop(k);
	kb_free(k);
	return rc;
}

/* ---- kcat --------------------------------------------------------------------------------- */

struct kcat_line {
	int64_t offset, ts;
};

static const char FOX[] = "the quick brown fox jumps over the lazy dog 0123456789 ABCDEFG";

static void check_10k(void *ctx, int i, const struct pagebus_msg *m)
{
	const int64_t *ts = ctx;
	char key[32], val[128];
	int kl = snprintf(key, sizeof(key), "key-%05d", i);
	int vl = snprintf(val, sizeof(val), "value %d: %.*s", i, i % 61, FOX);
	assert_int_equal(m->timestamp, ts[i]);
	assert_true(m->key_len == (size_t)kl && !memcmp(m->key, key, (size_t)kl));
	assert_true(m->value_len == (size_t)vl && !memcmp(m->value, val, (size_t)vl));
	size_t pos = 0;
	struct pagebus_header h;
	assert_int_equal(pagebus_msg_header(m, &pos, &h), 1);
	assert_true(h.key_len == 5 && !memcmp(h.key, "trace", 5) && h.value_len == 3 && !memcmp(h.value, "abc", 3));
	assert_int_equal(pagebus_msg_header(m, &pos, &h), 1);
	assert_true(h.key_len == 1 && !memcmp(h.key, "n", 1) && h.value_len == 1 && !memcmp(h.value, "1", 1));
	assert_int_equal(pagebus_msg_header(m, &pos, &h), 0);
}

static void test_kafka_kcat_round_trip_10000_messages_with_keys_headers_timestamps(void **state)
{
	struct kb *k = *state;
	if (!have_kcat())
		skip();
	enum { N = 10000 };
	char in[700];
	snprintf(in, sizeof(in), "%s/in10k.txt", k->root);
	FILE *f = fopen(in, "w");
	assert_non_null(f);
	for (int i = 0; i < N; i++)
		fprintf(f, "key-%05d\tvalue %d: %.*s\n", i, i, i % 61, FOX);
	fclose(f);
	int64_t t0 = now_ms();
	assert_int_equal(tu_sh(KCAT_TIMEOUT "kcat -P -b 127.0.0.1:%d -t kc10k -p 0 -K '\\t' -H trace=abc -H n=1 -l %s",
			     k->port, in),
			 0);
	int64_t t1 = now_ms();
	char *out = output(KCAT_TIMEOUT "kcat -C -b 127.0.0.1:%d -t kc10k -p 0 -o beginning -e -q "
					"-f '%%o|%%k|%%s|%%h|%%T\\n'",
			   k->port);
	static int64_t ts[N];
	char *line = out;
	for (int i = 0; i < N; i++) {
		char want[256];
		int n = snprintf(want, sizeof(want), "%d|key-%05d|value %d: %.*s|trace=abc,n=1|", i, i, i, i % 61,
				 FOX);
		if (strncmp(line, want, (size_t)n))
			fail_msg("kcat line %d: '%.120s', want '%s...'", i, line, want);
		ts[i] = strtoll(line + n, &line, 10);
		assert_true(ts[i] >= t0 - 5000 && ts[i] <= t1 + 5000);
		assert_int_equal(*line++, '\n');
	}
	assert_int_equal(*line, '\0'); /* exactly N lines */
	free(out);

	/* the local consumer reads the same bytes: keys, values, headers and timestamps */
	local_consume(k, "kc10k", N, check_10k, ts);
}

static void test_kafka_kcat_query_offset_for_timestamp(void **state)
{
	struct kb *k = *state;
	if (!have_kcat())
		skip();
	local_send(k, "times", 100, "t-%d", 0, 1000000); /* timestamps 1000000, 1000010, ... */
	static const struct {
		long long ts;
		int off;
	} q[] = { { 0, 0 }, { 1000000, 0 }, { 1000001, 1 }, { 1000055, 6 }, { 1000990, 99 }, { 1000991, -1 } };
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		char *out = output(KCAT_TIMEOUT "kcat -Q -b 127.0.0.1:%d -t times:0:%lld", k->port, q[i].ts);
		char want[64];
		snprintf(want, sizeof(want), "times [0] offset %d\n", q[i].off);
		if (!strstr(out, want))
			fail_msg("kcat -Q times:0:%lld printed '%s', want '%s'", q[i].ts, out, want);
		free(out);
	}
}

static void test_kafka_kcat_lists_topics_and_partitions(void **state)
{
	struct kb *k = *state;
	if (!have_kcat())
		skip();
	assert_int_equal(create_topic(k->port, "listed", 3, 1, NULL), 0);
	char *out = output(KCAT_TIMEOUT "kcat -L -b 127.0.0.1:%d -t listed", k->port);
	char broker[64];
	snprintf(broker, sizeof(broker), "broker 0 at 127.0.0.1:%d", k->port);
	if (!strstr(out, broker) || !strstr(out, "topic \"listed\" with 3 partitions:") ||
	    !strstr(out, "partition 0, leader 0, replicas: 0, isrs: 0") || !strstr(out, "partition 2, leader 0"))
		fail_msg("kcat -L printed: %s", out);
	free(out);
	out = output(KCAT_TIMEOUT "kcat -L -b 127.0.0.1:%d", k->port); /* all topics */
	if (!strstr(out, "topic \"listed\" with 3 partitions:"))
		fail_msg("kcat -L printed: %s", out);
	free(out);
}

static void check_mix(void *ctx, int i, const struct pagebus_msg *m)
{
	const char(*want)[32] = ctx;
	assert_true(m->value_len == strlen(want[i]) && !memcmp(m->value, want[i], m->value_len));
}

static void test_kafka_local_and_kcat_producers_interleave_in_one_partition(void **state)
{
	struct kb *k = *state;
	if (!have_kcat())
		skip();
	enum { ROUNDS = 4, PER = 25 };
	char in[700];
	snprintf(in, sizeof(in), "%s/mix.txt", k->root);
	for (int r = 0; r < ROUNDS; r++) {
		local_send(k, "mix", PER, "local-%d", r * PER, 0);
		FILE *f = fopen(in, "w");
		assert_non_null(f);
		for (int i = 0; i < PER; i++)
			fprintf(f, "kcat-%d\n", r * PER + i);
		fclose(f);
		assert_int_equal(tu_sh(KCAT_TIMEOUT "kcat -P -b 127.0.0.1:%d -t mix -p 0 -l %s", k->port, in), 0);
	}
	/* the expected sequence, offset by offset */
	char want[ROUNDS * 2 * PER][32];
	for (int r = 0, o = 0; r < ROUNDS; r++) {
		for (int i = 0; i < PER; i++)
			snprintf(want[o++], 32, "local-%d", r * PER + i);
		for (int i = 0; i < PER; i++)
			snprintf(want[o++], 32, "kcat-%d", r * PER + i);
	}
	/* kcat reads what both wrote, offsets contiguous */
	char *out = output(KCAT_TIMEOUT "kcat -C -b 127.0.0.1:%d -t mix -p 0 -o beginning -e -q -f '%%o %%s\\n'", k->port);
	char *line = out;
	for (int o = 0; o < ROUNDS * 2 * PER; o++) {
		char exp[64];
		int n = snprintf(exp, sizeof(exp), "%d %s\n", o, want[o]);
		if (strncmp(line, exp, (size_t)n))
			fail_msg("kcat offset %d: '%.40s', want '%s'", o, line, exp);
		line += n;
	}
	assert_int_equal(*line, '\0');
	free(out);
	/* and the local consumer too */
	local_consume(k, "mix", ROUNDS * 2 * PER, check_mix, want);
}

/* ---- Fetch semantics, with the raw client ---------------------------------------------------- */

struct expect {
	int64_t next;   /* the offset the next record must have */
	const char *fmt;
	size_t pad;     /* values are padded with 'x' to this length */
	int bad;
};

static void check_record(void *ctx, const struct rb_record *rec)
{
	struct expect *e = ctx;
	char want[256];
	int n = snprintf(want, sizeof(want), e->fmt, (int)rec->offset);
	while ((size_t)n < e->pad)
		want[n++] = 'x';
	if (rec->offset != e->next || rec->value_len != n || memcmp(rec->value, want, (size_t)n))
		e->bad++;
	e->next = rec->offset + 1;
}

struct roll_producer {
	struct kb *k;
	int count;
};

static void *roll_produce(void *arg)
{
	struct roll_producer *rp = arg;
	struct pagebus *pb;
	struct pagebus_producer *p;
	if (pagebus_connect(rp->k->dir, &pb) || pagebus_producer_open(pb, "roll", NULL, &p))
		return (void *)1;
	for (int i = 0; i < rp->count; i++) {
		char v[128];
		int n = snprintf(v, sizeof(v), "roll-%d", i);
		memset(v + n, 'x', 100 - (size_t)n);
		if (pagebus_send(p, 0, NULL, 0, v, 100))
			return (void *)1;
		if (i % 100 == 99 && pagebus_flush(p, WAIT_S * 1000))
			return (void *)1;
	}
	int err = pagebus_flush(p, WAIT_S * 1000);
	pagebus_producer_close(p);
	pagebus_close(pb);
	return (void *)(intptr_t)(err != 0);
}

static void test_kafka_fetch_while_segments_roll(void **state)
{
	struct kb *k = *state;
	static const char *const cfg[] = { "segment.bytes", "16384", NULL };
	assert_int_equal(create_topic(k->port, "roll", 1, 1, cfg), 0);
	enum { N = 3000 };
	struct roll_producer rp = { k, N };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, roll_produce, &rp), 0);
	int fd = tcp_connect(k->port);
	struct expect e = { 0, "roll-%d", 100, 0 };
	for (int i = 0; i < 10000 && e.next < N; i++) {
		struct fetch_result fr;
		fetch(fd, "roll", 0, e.next, 500, 64 << 10, &fr);
		assert_int_equal(fr.err, 0);
		walk_records(fr.records, (size_t)fr.len, e.next, check_record, &e);
		free(fr.frame);
	}
	void *ret;
	pthread_join(th, &ret);
	assert_null(ret);
	assert_int_equal(e.bad, 0);
	assert_int_equal(e.next, N);
	close(fd);
	/* and it did roll: many segments */
	char dir[700];
	snprintf(dir, sizeof(dir), "%s/roll-0", k->dir);
	DIR *d = opendir(dir);
	assert_non_null(d);
	int logs = 0;
	for (struct dirent *de; (de = readdir(d));)
		logs += strstr(de->d_name, ".log") != NULL;
	closedir(d);
	assert_true(logs >= 10);
}

static void test_kafka_fetch_from_inside_a_batch_returns_the_whole_batch(void **state)
{
	struct kb *k = *state;
	assert_int_equal(create_topic(k->port, "inb", 1, 1, NULL), 0);
	int fd = tcp_connect(k->port);
	size_t l1, l2;
	uint8_t *b1 = tu_batch("inb", 10, 0, now_ms(), &l1), *b2 = tu_batch("inb2", 10, 0, now_ms(), &l2);
	int64_t base;
	assert_int_equal(produce(fd, "inb", 0, b1, l1, &base), 0);
	assert_int_equal(base, 0);
	assert_int_equal(produce(fd, "inb", 0, b2, l2, &base), 0);
	assert_int_equal(base, 10);
	/* offset 5 is inside the first batch: it comes back whole, byte for byte */
	struct fetch_result fr;
	fetch(fd, "inb", 0, 5, 100, 1, &fr); /* partition_max_bytes 1: still the first batch */
	assert_int_equal(fr.err, 0);
	assert_int_equal(fr.hwm, 20);
	assert_int_equal(fr.len, (int32_t)l1);
	assert_memory_equal(fr.records, b1, l1);
	free(fr.frame);
	/* offset 15: the second batch, its baseOffset patched to 10 and nothing else changed */
	fetch(fd, "inb", 0, 15, 100, 1 << 20, &fr);
	assert_int_equal(fr.len, (int32_t)l2);
	rb_set_base_offset(b2, 10);
	assert_memory_equal(fr.records, b2, l2);
	free(fr.frame);
	/* both batches when the limit allows */
	fetch(fd, "inb", 0, 0, 100, 1 << 20, &fr);
	assert_int_equal(fr.len, (int32_t)(l1 + l2));
	free(fr.frame);
	free(b1);
	free(b2);
	close(fd);
}

static void test_kafka_fetch_past_the_end_long_polls_until_data_arrives(void **state)
{
	struct kb *k = *state;
	local_send(k, "lp", 1, "lp-%d", 0, 0);
	int fd = tcp_connect(k->port), fd2 = tcp_connect(k->port);
	struct fetch_result fr;
	/* at the high watermark: empty records and the HWM once max_wait passes */
	fetch(fd, "lp", 0, 1, 100, 1 << 20, &fr);
	assert_int_equal(fr.err, 0);
	assert_int_equal(fr.hwm, 1);
	assert_int_equal(fr.len, 0);
	free(fr.frame);
	/* a long poll is answered by an append from a local producer ... */
	fetch_send(fd, 31, "lp", 0, 1, 60000, 1, 1 << 20, 1 << 20);
	local_send(k, "lp", 1, "lp-%d", 1, 0);
	fetch_recv(fd, 31, &fr);
	struct expect e = { 1, "lp-%d", 0, 0 };
	assert_int_equal(walk_records(fr.records, (size_t)fr.len, 1, check_record, &e), 2);
	assert_int_equal(e.bad, 0);
	assert_int_equal(fr.hwm, 2);
	free(fr.frame);
	/* ... and by one from a Kafka producer on another connection */
	fetch_send(fd, 32, "lp", 0, 2, 60000, 1, 1 << 20, 1 << 20);
	size_t bl;
	uint8_t *batch = tu_batch("lp", 3, 0, now_ms(), &bl);
	int64_t base;
	assert_int_equal(produce(fd2, "lp", 0, batch, bl, &base), 0);
	assert_int_equal(base, 2);
	fetch_recv(fd, 32, &fr);
	assert_int_equal(fr.len, (int32_t)bl);
	assert_int_equal(fr.hwm, 5);
	free(fr.frame);
	/* min_bytes more than there is: answered at max_wait with what there is */
	fetch_send(fd, 33, "lp", 0, 0, 200, 1 << 20, 1 << 20, 1 << 20);
	fetch_recv(fd, 33, &fr);
	assert_int_equal(walk_records(fr.records, (size_t)fr.len, 0, NULL, NULL), 5);
	free(fr.frame);
	free(batch);
	close(fd);
	close(fd2);
}

static void test_kafka_fetch_out_of_range_before_log_start_and_past_hwm(void **state)
{
	struct kb *k = *state;
	static const char *const cfg[] = { "segment.bytes", "4096", "retention.bytes", "4096", NULL };
	assert_int_equal(create_topic(k->port, "oor", 1, 1, cfg), 0);
	int fd = tcp_connect(k->port);
	for (int i = 0; i < 60; i++) {
		size_t bl;
		uint8_t *b = tu_batch("oor", 1, 200, now_ms(), &bl);
		assert_int_equal(produce(fd, "oor", 0, b, bl, NULL), 0);
		free(b);
	}
	/* retention (every 100 ms here) deletes old segments: the log start moves */
	int16_t err;
	int64_t start = 0;
	for (int i = 0; i < 400 && start == 0; i++) {
		start = list_offset(fd, "oor", 0, -2, &err, NULL);
		assert_int_equal(err, 0);
		if (!start)
			usleep(50000);
	}
	assert_true(start > 0);
	int64_t hwm = list_offset(fd, "oor", 0, -1, &err, NULL);
	assert_int_equal(hwm, 60);
	struct fetch_result fr;
	fetch(fd, "oor", 0, 0, 100, 1 << 20, &fr);
	assert_int_equal(fr.err, 1); /* OFFSET_OUT_OF_RANGE */
	assert_int_equal(fr.hwm, 60);
	assert_int_equal(fr.len, 0);
	free(fr.frame);
	fetch(fd, "oor", 0, hwm + 5, 100, 1 << 20, &fr);
	assert_int_equal(fr.err, 1);
	free(fr.frame);
	fetch(fd, "oor", 0, start, 100, 1 << 20, &fr);
	assert_int_equal(fr.err, 0);
	assert_true(fr.len > 0);
	free(fr.frame);
	/* unknown topic and partition */
	fetch(fd, "no-such-topic", 0, 0, 100, 1 << 20, &fr);
	assert_int_equal(fr.err, 3);
	assert_int_equal(fr.hwm, -1);
	free(fr.frame);
	fetch(fd, "oor", 7, 0, 100, 1 << 20, &fr);
	assert_int_equal(fr.err, 3);
	free(fr.frame);
	close(fd);
}

/* ---- Produce and the other APIs --------------------------------------------------------------- */

static void test_kafka_produce_validates_like_rings_and_acks_zero_sends_nothing(void **state)
{
	struct kb *k = *state;
	assert_int_equal(create_topic(k->port, "pv", 1, 1, NULL), 0);
	int fd = tcp_connect(k->port);
	size_t bl;
	uint8_t *b = tu_batch("pv", 5, 0, now_ms(), &bl);
	int16_t err;
	/* a bad CRC, a control batch, a truncated batch, two batches, no batch: refused */
	b[bl - 1] ^= 0xff;
	assert_int_equal(produce(fd, "pv", 0, b, bl, NULL), 2); /* CORRUPT_MESSAGE */
	b[bl - 1] ^= 0xff;
	uint8_t *c = malloc(2 * bl);
	memcpy(c, b, bl);
	c[22] |= RB_ATTR_CONTROL; /* attributes low byte; the CRC then fails too */
	be32_put(c + RB_OFF_CRC, rb_compute_crc(c, bl));
	assert_int_equal(produce(fd, "pv", 0, c, bl, NULL), 87); /* INVALID_RECORD */
	assert_int_equal(produce(fd, "pv", 0, b, bl - 3, NULL), 2);
	memcpy(c, b, bl);
	memcpy(c + bl, b, bl);
	assert_int_equal(produce(fd, "pv", 0, c, 2 * bl, NULL), 2);
	assert_int_equal(produce(fd, "pv", 0, b, 0, NULL), 87);
	assert_int_equal(produce(fd, "nope", 0, b, bl, NULL), 3); /* UNKNOWN_TOPIC_OR_PARTITION */
	assert_int_equal(list_offset(fd, "pv", 0, -1, &err, NULL), 0); /* nothing was appended */
	/* acks 5: INVALID_REQUIRED_ACKS */
	produce_send(fd, 41, "pv", 0, b, bl, 5);
	assert_int_equal(produce_recv(fd, 41, NULL), 21);
	/* acks 0 is appended with no response at all: the next answer is for acks 1, whose
	 * batch went after it */
	produce_send(fd, 42, "pv", 0, b, bl, 0);
	produce_send(fd, 43, "pv", 0, b, bl, 1);
	int64_t base;
	assert_int_equal(produce_recv(fd, 43, &base), 0);
	assert_int_equal(base, 5);
	assert_int_equal(list_offset(fd, "pv", 0, -1, &err, NULL), 10);
	free(b);
	free(c);
	close(fd);
}

/* Pipelined Produce requests into a partition that keeps rolling: a batch that must wait
 * for a write in flight before the roll (writer_add -EBUSY) is retried, and nothing
 * behind it goes first: base offsets follow request order. */
static void test_kafka_pipelined_produce_across_rolls_keeps_request_order(void **state)
{
	struct kb *k = *state;
	static const char *const cfg[] = { "segment.bytes", "8192", NULL };
	assert_int_equal(create_topic(k->port, "prord", 1, 1, cfg), 0);
	enum { N = 200, PER = 10 };
	size_t bl;
	uint8_t *b = tu_batch("prord", PER, 40, now_ms(), &bl);
	int fd = tcp_connect(k->port);
	struct kc_writer all;
	assert_int_equal(kc_writer_init(&all, 1 << 16), 0);
	for (int i = 0; i < N; i++) {
		struct kc_writer w;
		req_start(&w, 0, 3, 1000 + i);
		kc_w_string(&w, NULL, -1);
		kc_w_i16(&w, i % 2 ? 1 : -1);
		kc_w_i32(&w, 30000);
		kc_w_i32(&w, 1);
		kc_w_cstr(&w, "prord");
		kc_w_i32(&w, 1);
		kc_w_i32(&w, 0);
		kc_w_i32(&w, (int32_t)bl);
		kc_w_raw(&w, b, bl);
		kc_w_patch_i32(&w, 0, (int32_t)(w.len - 4));
		kc_w_raw(&all, w.buf, w.len);
		kc_writer_free(&w);
	}
	assert_int_equal(send_all(fd, all.buf, all.len), 0);
	kc_writer_free(&all);
	for (int i = 0; i < N; i++) {
		int64_t base;
		assert_int_equal(produce_recv(fd, 1000 + i, &base), 0);
		assert_int_equal(base, (int64_t)i * PER);
	}
	/* every record is there, in order */
	struct fetch_result fr;
	int64_t next = 0;
	for (int i = 0; i < 1000 && next < N * PER; i++) {
		fetch(fd, "prord", 0, next, 100, 1 << 20, &fr);
		assert_int_equal(fr.err, 0);
		next = walk_records(fr.records, (size_t)fr.len, next, NULL, NULL);
		free(fr.frame);
	}
	assert_int_equal(next, N * PER);
	free(b);
	close(fd);
}

static void test_kafka_create_delete_topics_and_metadata(void **state)
{
	struct kb *k = *state;
	assert_int_equal(create_topic(k->port, "ct", 2, 1, NULL), 0);
	assert_int_equal(create_topic(k->port, "ct", 2, 1, NULL), 36);  /* TOPIC_ALREADY_EXISTS */
	assert_int_equal(create_topic(k->port, "bad/name", 1, 1, NULL), 17);
	assert_int_equal(create_topic(k->port, "ct3", 1, 3, NULL), 38);  /* INVALID_REPLICATION_FACTOR */
	assert_int_equal(create_topic(k->port, "ct0", 0, 1, NULL), 37);  /* INVALID_PARTITIONS */
	assert_int_equal(create_topic(k->port, "ctd", -1, -1, NULL), 0); /* the defaults, as kafkajs asks */
	static const char *const bad[] = { "segment.bytes", "12", NULL };
	assert_int_equal(create_topic(k->port, "ctc", 1, 1, bad), 40); /* INVALID_CONFIG */
	static const char *const unknown[] = { "cleanup.policy", "compact", NULL };
	assert_int_equal(create_topic(k->port, "ctc", 1, 1, unknown), 40);

	int fd = tcp_connect(k->port);
	struct kc_writer w;
	struct kc_reader r;
	const char *s;
	int len;
	/* Metadata v1 for [ct, missing]: 2 partitions led by node 0, then an unknown topic */
	req_start(&w, 3, 1, 51);
	kc_w_i32(&w, 2);
	kc_w_cstr(&w, "ct");
	kc_w_cstr(&w, "missing.v1");
	req_send(fd, &w);
	uint8_t *b = resp_recv(fd, 51, &r);
	assert_int_equal(kc_i32(&r, "brokers"), 1);
	assert_int_equal(kc_i32(&r, "node"), 0);
	kc_string(&r, "host", false, &s, &len);
	assert_true(len == 9 && !memcmp(s, "127.0.0.1", 9));
	assert_int_equal(kc_i32(&r, "port"), k->port);
	kc_string(&r, "rack", true, &s, &len);
	assert_int_equal(kc_i32(&r, "controller"), 0);
	assert_int_equal(kc_i32(&r, "topics"), 2);
	assert_int_equal(kc_i16(&r, "error"), 0);
	kc_string(&r, "name", false, &s, &len);
	kc_i8(&r, "internal");
	assert_int_equal(kc_i32(&r, "parts"), 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(kc_i16(&r, "error"), 0);
		assert_int_equal(kc_i32(&r, "index"), i);
		assert_int_equal(kc_i32(&r, "leader"), 0);
		assert_int_equal(kc_i32(&r, "nrep"), 1);
		kc_i32(&r, "rep");
		assert_int_equal(kc_i32(&r, "nisr"), 1);
		kc_i32(&r, "isr");
	}
	/* v1 creates a missing topic (auto.create.topics), like Kafka for versions < 4 */
	assert_int_equal(kc_i16(&r, "error"), 0);
	kc_string(&r, "name", false, &s, &len);
	kc_i8(&r, "internal");
	assert_int_equal(kc_i32(&r, "parts"), 1);
	free(b);
	/* Metadata v4, allow_auto_topic_creation false: unknown */
	req_start(&w, 3, 4, 52);
	kc_w_i32(&w, 1);
	kc_w_cstr(&w, "missing.v4");
	kc_w_i8(&w, 0);
	req_send(fd, &w);
	b = resp_recv(fd, 52, &r);
	kc_i32(&r, "throttle");
	assert_int_equal(kc_i32(&r, "brokers"), 1);
	kc_i32(&r, "node");
	kc_string(&r, "host", false, &s, &len);
	kc_i32(&r, "port");
	kc_string(&r, "rack", true, &s, &len);
	kc_string(&r, "cluster", true, &s, &len);
	kc_i32(&r, "controller");
	assert_int_equal(kc_i32(&r, "topics"), 1);
	assert_int_equal(kc_i16(&r, "error"), 3);
	free(b);

	/* DeleteTopics v1: ct goes, nope is unknown; then Fetch from ct is UNKNOWN_TOPIC */
	req_start(&w, 20, 1, 53);
	kc_w_i32(&w, 2);
	kc_w_cstr(&w, "ct");
	kc_w_cstr(&w, "nope");
	kc_w_i32(&w, 5000);
	req_send(fd, &w);
	b = resp_recv(fd, 53, &r);
	kc_i32(&r, "throttle");
	assert_int_equal(kc_i32(&r, "n"), 2);
	kc_string(&r, "name", false, &s, &len);
	assert_int_equal(kc_i16(&r, "error"), 0);
	kc_string(&r, "name", false, &s, &len);
	assert_int_equal(kc_i16(&r, "error"), 3);
	assert_false(kc_failed(&r));
	free(b);
	struct fetch_result fr;
	fetch(fd, "ct", 0, 0, 0, 1 << 20, &fr);
	assert_int_equal(fr.err, 3);
	free(fr.frame);
	assert_int_equal(create_topic(k->port, "ct", 1, 1, NULL), 0); /* the name is free again */
	close(fd);
}

static void test_kafka_pipelined_requests_are_answered_in_order(void **state)
{
	struct kb *k = *state;
	local_send(k, "pipe", 3, "p-%d", 0, 0);
	int fd = tcp_connect(k->port);
	/* far more than a connection may have in progress (256), in one write: ApiVersions,
	 * Metadata, and Fetches that long-poll at the end of the log */
	enum { N = 1000 };
	struct kc_writer all;
	assert_int_equal(kc_writer_init(&all, 1 << 16), 0);
	for (int i = 0; i < N; i++) {
		struct kc_writer w;
		if (i % 3 == 0) {
			req_start(&w, 18, i % 2 ? 2 : 0, i);
		} else if (i % 3 == 1) {
			req_start(&w, 3, 4, i);
			kc_w_i32(&w, 1);
			kc_w_cstr(&w, "pipe");
			kc_w_i8(&w, 0);
		} else { /* some wait at the end of the log */
			fetch_build(&w, i, "pipe", 0, i % 10 == 2 ? 3 : 0, i % 10 == 2 ? 50 : 0, 1, 1 << 20, 1 << 20);
		}
		kc_w_patch_i32(&w, 0, (int32_t)(w.len - 4));
		kc_w_raw(&all, w.buf, w.len);
		kc_writer_free(&w);
	}
	assert_int_equal(all.err, 0);
	assert_int_equal(send_all(fd, all.buf, all.len), 0);
	kc_writer_free(&all);
	for (int i = 0; i < N; i++) {
		size_t len;
		uint8_t *b = recv_frame(fd, &len);
		assert_non_null(b);
		assert_int_equal((int32_t)be32_get(b), i); /* correlation ids come back in order */
		free(b);
	}
	close(fd);
}

/* ---- hostile input -------------------------------------------------------------------------- */

/* Sends raw bytes on a new connection; 1 when the broker closed it. */
static int send_raw_expect_close(int port, const void *bytes, size_t len)
{
	int fd = tcp_connect(port);
	assert_int_equal(send_all(fd, bytes, len), 0);
	int closed = closed_by_broker(fd);
	close(fd);
	return closed;
}

static void test_kafka_malformed_input_is_answered_or_disconnected_and_the_broker_serves_on(void **state)
{
	struct kb *k = *state;
	uint8_t buf[256];
	/* a size of 2 GiB, of INT32_MAX, too short for a header */
	be32_put(buf, 0x80000000u);
	assert_true(send_raw_expect_close(k->port, buf, 4));
	be32_put(buf, 0x7fffffffu);
	assert_true(send_raw_expect_close(k->port, buf, 4));
	be32_put(buf, 4);
	be32_put(buf + 4, 0x00120000);
	assert_true(send_raw_expect_close(k->port, buf, 8));
	/* an unknown API key; a version we do not advertise */
	struct kc_writer w;
	req_start(&w, 999, 0, 1);
	int fd = tcp_connect(k->port);
	req_send(fd, &w);
	assert_true(closed_by_broker(fd));
	close(fd);
	fd = tcp_connect(k->port);
	req_start(&w, 3, 9, 1); /* Metadata v9 (flexible) */
	kc_w_i8(&w, 0);
	req_send(fd, &w);
	assert_true(closed_by_broker(fd));
	close(fd);
	broker_serves(k->port);

	/* a truncated frame, then the client goes away */
	fd = tcp_connect(k->port);
	be32_put(buf, 100);
	memset(buf + 4, 0, 10);
	assert_int_equal(send_all(fd, buf, 14), 0);
	close(fd);

	/* garbage after a valid header: a count larger than the frame */
	fd = tcp_connect(k->port);
	req_start(&w, 3, 4, 2);
	kc_w_i32(&w, 0x7fffffff);
	req_send(fd, &w);
	assert_true(closed_by_broker(fd));
	close(fd);
	fd = tcp_connect(k->port);
	req_start(&w, 1, 4, 2); /* Fetch with a string running past the frame */
	kc_w_i32(&w, -1);
	kc_w_i32(&w, 100);
	kc_w_i32(&w, 1);
	kc_w_i32(&w, 1000);
	kc_w_i8(&w, 0);
	kc_w_i32(&w, 1);
	kc_w_i16(&w, 3000);
	kc_w_raw(&w, "abc", 3);
	req_send(fd, &w);
	assert_true(closed_by_broker(fd));
	close(fd);
	fd = tcp_connect(k->port);
	req_start(&w, 0, 3, 2); /* Produce whose records are random bytes: answered with an error */
	kc_w_string(&w, NULL, -1);
	kc_w_i16(&w, -1);
	kc_w_i32(&w, 1000);
	kc_w_i32(&w, 1);
	kc_w_cstr(&w, "pv");
	kc_w_i32(&w, 1);
	kc_w_i32(&w, 0);
	kc_w_i32(&w, 200);
	for (int i = 0; i < 200; i++)
		kc_w_i8(&w, (int8_t)(i * 37 + 11));
	req_send(fd, &w);
	assert_int_not_equal(produce_recv(fd, 2, NULL), 0);
	api_versions_ok(fd); /* and the connection is still served */
	close(fd);

	/* more array elements than one request may hold (100 000): closed; 1000 are fine */
	for (int many = 1000; many <= 100001; many += 99001) {
		fd = tcp_connect(k->port);
		req_start(&w, 1, 4, 7);
		kc_w_i32(&w, -1);
		kc_w_i32(&w, 0);
		kc_w_i32(&w, 0);
		kc_w_i32(&w, 1 << 20);
		kc_w_i8(&w, 0);
		kc_w_i32(&w, 1);
		kc_w_cstr(&w, "pv");
		kc_w_i32(&w, many - 1); /* with the topic: `many` elements */
		for (int i = 0; i < many - 1; i++) {
			kc_w_i32(&w, 0);
			kc_w_i64(&w, 0);
			kc_w_i32(&w, 100);
		}
		req_send(fd, &w);
		if (many == 1000) {
			struct kc_reader r1;
			uint8_t *b = resp_recv(fd, 7, &r1);
			kc_i32(&r1, "throttle");
			assert_int_equal(kc_i32(&r1, "topics"), 1);
			free(b);
		} else {
			assert_true(closed_by_broker(fd));
		}
		close(fd);
	}

	/* ApiVersions v3 (a flexible probe): KIP-511 refusal, byte for byte; then v0 works */
	fd = tcp_connect(k->port);
	req_start(&w, 18, 3, 0x01020304);
	kc_w_i8(&w, 0); /* header tags */
	kc_w_i8(&w, 11);
	kc_w_raw(&w, "librdkafka", 10);
	kc_w_i8(&w, 6);
	kc_w_raw(&w, "2.0.2", 5);
	kc_w_i8(&w, 0);
	req_send(fd, &w);
	static const uint8_t refusal[] = { 0, 0, 0, 0x10, 1, 2, 3, 4, 0, 0x23, 0, 0, 0, 1, 0, 0x12, 0, 0, 0, 2 };
	uint8_t got[sizeof(refusal)];
	assert_int_equal(recv_all(fd, got, sizeof(got)), 0);
	assert_memory_equal(got, refusal, sizeof(refusal));
	req_start(&w, 18, 0, 3);
	req_send(fd, &w);
	struct kc_reader r;
	uint8_t *b = resp_recv(fd, 3, &r);
	assert_int_equal(kc_i16(&r, "error"), 0);
	free(b);
	close(fd);

	/* random frames with valid sizes and real API keys */
	srand(5);
	static const int16_t keys[] = { 0, 1, 2, 3, 18, 19, 20 };
	static const int16_t maxv[] = { 3, 4, 2, 4, 2, 3, 3 };
	for (int i = 0; i < 300; i++) {
		size_t n = 8 + (size_t)(rand() % 120);
		int which = rand() % 7;
		be32_put(buf, (uint32_t)n);
		be16_put(buf + 4, (uint16_t)keys[which]);
		be16_put(buf + 6, (uint16_t)(rand() % (maxv[which] + 1)));
		for (size_t j = 8; j < n + 4; j++)
			buf[j] = (uint8_t)rand();
		if (rand() % 2)
			be16_put(buf + 12, 4); /* a plausible client id length */
		fd = tcp_connect(k->port);
		assert_int_equal(send_all(fd, buf, n + 4), 0);
		shutdown(fd, SHUT_WR);
		closed_by_broker(fd); /* answered or not, it ends */
		close(fd);
	}
	broker_serves(k->port);
	assert_true(tu_broker_alive(k->pid));
	assert_true(tu_file_contains(k->log, "is past kafka.max.request.bytes"));
	assert_true(tu_file_contains(k->log, "unknown API key 999"));
}

/* ---- zero copy -------------------------------------------------------------------------------- */

/* Fetches everything of topic/0 from offset 0 to hwm; returns the record bytes received. */
static uint64_t fetch_all(int port, const char *topic, int64_t hwm, int64_t *records)
{
	int fd = tcp_connect(port);
	uint64_t bytes = 0;
	int64_t next = 0;
	while (next < hwm) {
		struct fetch_result fr;
		fetch(fd, topic, 0, next, 1000, 16 << 20, &fr);
		assert_int_equal(fr.err, 0);
		assert_true(fr.len > 0);
		bytes += (uint64_t)fr.len;
		next = walk_records(fr.records, (size_t)fr.len, next, NULL, NULL);
		free(fr.frame);
	}
	assert_int_equal(next, hwm);
	*records = next;
	close(fd);
	return bytes;
}

static void produce_local_bulk(struct kb *k, const char *topic, int count, size_t value_len)
{
	struct pagebus *pb;
	struct pagebus_producer *p;
	char *v = malloc(value_len);
	memset(v, 'z', value_len);
	assert_int_equal(pagebus_connect(k->dir, &pb), 0);
	assert_int_equal(pagebus_producer_open(pb, topic, NULL, &p), 0);
	for (int i = 0; i < count; i++)
		assert_int_equal(pagebus_send(p, 0, NULL, 0, v, value_len), 0);
	assert_int_equal(pagebus_flush(p, 60000), 0);
	pagebus_producer_close(p);
	pagebus_close(pb);
	free(v);
}

/* Writes a partition's segments to disk and drops them from the page cache (pages the
 * broker's mappings hold stay), so the next Fetch finds them cold. Returns true when the
 * first segment's first 64 KiB did leave the cache (not so on tmpfs, say). */
static bool evict(const struct kb *k, const char *part_dir)
{
	char dir[700], path[1000];
	bool cold = false;
	snprintf(dir, sizeof(dir), "%s/%s", k->dir, part_dir);
	DIR *d = opendir(dir);
	assert_non_null(d);
	for (struct dirent *de; (de = readdir(d));) {
		if (!strstr(de->d_name, ".log"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		int fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		fdatasync(fd);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		if (strstr(de->d_name, "00000000000000000000.log")) {
			unsigned char vec[16];
			void *m = mmap(NULL, sizeof(vec) * 4096, PROT_READ, MAP_SHARED, fd, 0);
			assert_true(m != MAP_FAILED);
			assert_int_equal(mincore(m, sizeof(vec) * 4096, vec), 0);
			for (size_t i = 0; i < sizeof(vec); i++)
				cold |= !(vec[i] & 1);
			munmap(m, sizeof(vec) * 4096);
		}
		close(fd);
	}
	closedir(d);
	return cold;
}

static void test_kafka_fetch_is_zero_copy_by_the_brokers_counters(void **state)
{
	(void)state;
	/* 200 MB through Fetch, twice: from the page cache (sendfile inline), then cold
	 * (splices off the loop); not one record byte is copied through user space */
	struct kb *k = kb_start("kafka0c", NULL);
	assert_true(k->pid > 0 && k->port > 0);
	enum { N = 200000 };
	produce_local_bulk(k, "zc", N, 1000);
	int64_t records;
	uint64_t bytes = fetch_all(k->port, "zc", N, &records);
	assert_true(bytes >= 200000000ull);
	print_message("fetched %" PRIu64 " record bytes of %" PRId64 " records, twice\n", bytes, records);
	bool cold = evict(k, "zc-0");
	assert_int_equal(fetch_all(k->port, "zc", N, &records), bytes);
	assert_int_equal(kb_stop(k), 0);
	long long sendfile = kb_stat(k, "fetch_bytes_sendfile"), spliced = kb_stat(k, "fetch_bytes_spliced");
	print_message("broker: %lld bytes by sendfile, %lld by splice, %lld copied\n", sendfile, spliced,
		      kb_stat(k, "fetch_bytes_copied"));
	assert_int_equal(kb_stat(k, "fetch_bytes_copied"), 0);
	assert_int_equal(sendfile + spliced, (long long)(2 * bytes));
	assert_true(sendfile > 0);
	if (cold) /* the first Fetch after the eviction found pages missing: splices */
		assert_true(spliced > 0);
	kb_free(k);

	/* the counters tell the paths apart: kafka.fetch.copy moves the same bytes by copy */
	static const char *const copy[] = { "--kafka.fetch.copy", "true", NULL };
	k = kb_start("kafkacp", copy);
	assert_true(k->pid > 0 && k->port > 0);
	produce_local_bulk(k, "cp", 2000, 1000);
	bytes = fetch_all(k->port, "cp", 2000, &records);
	assert_int_equal(kb_stop(k), 0);
	assert_int_equal(kb_stat(k, "fetch_bytes_spliced") + kb_stat(k, "fetch_bytes_sendfile"), 0);
	assert_int_equal(kb_stat(k, "fetch_bytes_copied"), (long long)bytes);
	kb_free(k);
}

/* ---- many clients, slow clients -------------------------------------------------------------- */

static void test_kafka_slow_client_is_cut_off_while_others_are_served(void **state)
{
	(void)state;
	/* responses of at most 512 KiB of records (half the queue); 40 of them are far more
	 * than the kernel's socket buffers hold */
	static const char *const args[] = { "--kafka.send.queue.bytes", "1M", "--kafka.max.connections", "40", NULL };
	struct kb *k = kb_start("kafkaslow", args);
	assert_true(k->pid > 0 && k->port > 0);
	produce_local_bulk(k, "slow", 4000, 1000); /* 4 MB */

	/* a client that asks and never reads */
	int slow = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int small = 4096;
	setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)k->port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(slow, (struct sockaddr *)&a, sizeof(a)), 0);
	struct timeval tv = { .tv_sec = WAIT_S };
	setsockopt(slow, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int sent = 0;
	for (int i = 0; i < 40; i++) {
		struct kc_writer w;
		fetch_build(&w, 100 + i, "slow", 0, 0, 100, 1, 1 << 20, 1 << 20);
		sent += send_all(slow, w.buf, w.len) == 0; /* fails once the broker cut it off */
		kc_writer_free(&w);
	}
	assert_true(sent >= 2);

	/* many others at the same time are served */
	int fds[30];
	for (int i = 0; i < 30; i++)
		fds[i] = tcp_connect(k->port);
	for (int i = 0; i < 30; i++) {
		api_versions_ok(fds[i]);
		struct fetch_result fr;
		fetch(fds[i], "slow", 0, (int64_t)i * 100, 100, 1 << 16, &fr);
		assert_int_equal(fr.err, 0);
		assert_true(fr.len > 0);
		free(fr.frame);
	}
	/* past kafka.max.connections (40) a connection is closed at once; the others answer */
	int extra[12], refused = 0;
	for (int i = 0; i < 12; i++)
		extra[i] = tcp_connect(k->port);
	for (int i = 0; i < 12; i++) {
		struct kc_writer w;
		req_start(&w, 18, 0, 1);
		kc_w_patch_i32(&w, 0, (int32_t)(w.len - 4));
		size_t len;
		uint8_t *b = send_all(extra[i], w.buf, w.len) == 0 ? recv_frame(extra[i], &len) : NULL;
		kc_writer_free(&w);
		refused += !b; /* closed at once: no answer */
		free(b);
	}
	assert_true(refused >= 2 && refused <= 3); /* 30 + these + the slow one, if not cut off yet */
	for (int i = 0; i < 12; i++)
		close(extra[i]);
	for (int i = 0; i < 30; i++)
		close(fds[i]);

	/* the slow client was cut off: draining its socket ends in EOF, well short of 20 MiB */
	uint64_t got = 0;
	char buf[65536];
	for (;;) {
		ssize_t n = recv(slow, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		got += (uint64_t)n;
	}
	assert_true(got < 40ull * (512 << 10));
	close(slow);
	assert_true(tu_file_contains(k->log, "does not read its responses"));
	assert_true(tu_file_contains(k->log, "kafka.max.connections (40) reached"));
	broker_serves(k->port);
	assert_int_equal(kb_stop(k), 0);
	kb_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kafka_kcat_round_trip_10000_messages_with_keys_headers_timestamps),
		cmocka_unit_test(test_kafka_kcat_query_offset_for_timestamp),
		cmocka_unit_test(test_kafka_kcat_lists_topics_and_partitions),
		cmocka_unit_test(test_kafka_local_and_kcat_producers_interleave_in_one_partition),
		cmocka_unit_test(test_kafka_fetch_while_segments_roll),
		cmocka_unit_test(test_kafka_fetch_from_inside_a_batch_returns_the_whole_batch),
		cmocka_unit_test(test_kafka_fetch_past_the_end_long_polls_until_data_arrives),
		cmocka_unit_test(test_kafka_fetch_out_of_range_before_log_start_and_past_hwm),
		cmocka_unit_test(test_kafka_produce_validates_like_rings_and_acks_zero_sends_nothing),
		cmocka_unit_test(test_kafka_pipelined_produce_across_rolls_keeps_request_order),
		cmocka_unit_test(test_kafka_create_delete_topics_and_metadata),
		cmocka_unit_test(test_kafka_pipelined_requests_are_answered_in_order),
		cmocka_unit_test(test_kafka_malformed_input_is_answered_or_disconnected_and_the_broker_serves_on),
		cmocka_unit_test(test_kafka_fetch_is_zero_copy_by_the_brokers_counters),
		cmocka_unit_test(test_kafka_slow_client_is_cut_off_while_others_are_served),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("kafka", tests, group_setup, group_teardown);
}
