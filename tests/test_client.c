/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_client.c — libpagebus against a real broker: Kafka's murmur2 vectors and key
 * partitioning, option validation, error strings, null keys/values and headers, seek by
 * time, a consumer under segment rolls and retention (reset policies), a consumer across
 * a broker restart, and the load test: 4 producers x 2 partitions x 1,000,000 messages
 * read by 2 consumers per partition, every message exactly once and in order.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "pagebus.h"
#include "testutil.h"

#define WAIT_MS 10000

struct fixture {
	char *root;
	char dir[80];
	char log[600];
	pid_t broker;
	struct pagebus *pb;
};

static int start(struct fixture *f, const char *const *args)
{
	int st = 0;
	f->broker = tu_broker_start(f->dir, f->log, args, &st);
	if (f->broker < 0)
		return -1;
	return pagebus_connect(f->dir, &f->pb);
}

static void stop(struct fixture *f)
{
	pagebus_close(f->pb);
	f->pb = NULL;
	if (f->broker > 0)
		assert_int_equal(tu_broker_stop(f->broker), 0);
	f->broker = -1;
}

static int setup(void **state)
{
	const char *const *args = *state;
	struct fixture *f = calloc(1, sizeof(*f));
	f->root = tu_tmpdir("client");
	snprintf(f->dir, sizeof(f->dir), "%s/d", f->root);
	snprintf(f->log, sizeof(f->log), "%s/broker.log", f->root);
	if (start(f, args) != 0) {
		fprintf(stderr, "broker did not start; log %s\n", f->log);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	stop(f);
	tu_rmrf(f->root);
	free(f->root);
	free(f);
	return 0;
}

/* ---- unit: partitioning and errors ----------------------------------------------------- */

static void test_client_murmur2_matches_kafka_vectors(void **state)
{
	(void)state;
	/* Kafka's UtilsTest values (signed Java ints) */
	static const struct {
		const char *key;
		int32_t hash;
	} v[] = {
		{ "21", -973932308 },
		{ "foobar", -790332482 },
		{ "a-little-bit-long-string", -985981536 },
		{ "a-little-bit-longer-string", -1486304829 },
		{ "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971 },
		{ "abc", 479470107 },
		{ "1", -1993445489 },
		{ "12", 126087238 },
		{ "123", -267702483 },
		{ "1234", -1614185708 },
		{ "12345", -1188365604 },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		assert_int_equal((int32_t)pb_murmur2(v[i].key, strlen(v[i].key)), v[i].hash);
	/* Kafka's partitioner: toPositive(murmur2) % partitions */
	assert_int_equal(pb_key_partition("foobar", 6, 7), (int32_t)((uint32_t)(-790332482) & 0x7fffffff) % 7);
}

static void test_client_strerror_names_every_code(void **state)
{
	(void)state;
	for (int e = PAGEBUS_ERR_FIRST; e < PAGEBUS_ERR_LAST; e++) {
		const char *s = pagebus_strerror(-e);
		assert_non_null(s);
		assert_true(strlen(s) > 5);
		assert_null(strstr(s, "Unknown error"));
	}
	assert_string_equal(pagebus_strerror(0), "success");
	assert_non_null(strstr(pagebus_strerror(-ENOENT), "No such file"));
}

static void test_client_connect_without_broker_is_refused(void **state)
{
	(void)state;
	char *root = tu_tmpdir("nobroker");
	struct pagebus *pb = (void *)1;
	assert_int_equal(pagebus_connect(root, &pb), -ECONNREFUSED);
	assert_null(pb);
	tu_rmrf(root);
	free(root);
}

/* ---- against a broker ------------------------------------------------------------------- */

static void test_client_rejects_bad_options(void **state)
{
	struct fixture *f = *state;
	struct pagebus_producer *p = (void *)1;
	struct pagebus_producer_opts po = PAGEBUS_OPTS(pagebus_producer_opts, .acks = 7);
	assert_int_equal(pagebus_producer_open(f->pb, "t", &po, &p), -EINVAL);
	assert_null(p);
	po = PAGEBUS_OPTS(pagebus_producer_opts, .batch_bytes = 10);
	assert_int_equal(pagebus_producer_open(f->pb, "t", &po, &p), -EINVAL);
	po = PAGEBUS_OPTS(pagebus_producer_opts, .ring_bytes = 1000);
	assert_int_equal(pagebus_producer_open(f->pb, "t", &po, &p), -EINVAL);
	assert_non_null(strstr(pagebus_last_error(f->pb), "ring size"));
	po = PAGEBUS_OPTS(pagebus_producer_opts);
	po.sz = sizeof(po) + 64; /* a newer caller than this library */
	assert_int_equal(pagebus_producer_open(f->pb, "t", &po, &p), -EINVAL);
	struct pagebus_consumer *c = (void *)1;
	struct pagebus_consumer_opts co = PAGEBUS_OPTS(pagebus_consumer_opts, .reset = 9);
	assert_int_equal(pagebus_topic_create(f->pb, "t", 2), 0);
	assert_int_equal(pagebus_consumer_open(f->pb, "t", 0, 0, &co, &c), -EINVAL);
	assert_null(c);
	assert_int_equal(pagebus_consumer_open(f->pb, "t", 5, 0, NULL, &c), -ENOENT);
	assert_int_equal(pagebus_consumer_open(f->pb, "nope", 0, 0, NULL, &c), -ENOENT);
	assert_non_null(strstr(pagebus_last_error(f->pb), "nope"));
	assert_int_equal(pagebus_producer_open(f->pb, "t", NULL, &p), 0);
	assert_int_equal(pagebus_send(p, 2, NULL, 0, "x", 1), -ENOENT);
	assert_int_equal(pagebus_send(p, -5, NULL, 0, "x", 1), -ENOENT);
	pagebus_producer_close(p);
	assert_int_equal(pagebus_topic_create(f->pb, "bad/name", 1), -EINVAL);
	assert_int_equal(pagebus_topic_create(f->pb, "t", 1), -EEXIST);
}

/* Reads exactly n messages (or fails) into a caller-checked callback. */
typedef void msg_check(void *ctx, const struct pagebus_msg *m);
static void consume_n(struct pagebus_consumer *c, long n, msg_check *check, void *ctx)
{
	struct pagebus_msg m[256];
	long got = 0;
	while (got < n) {
		int k = pagebus_poll(c, m, n - got < 256 ? (int)(n - got) : 256, WAIT_MS);
		assert_true(k > 0);
		for (int i = 0; i < k; i++)
			check(ctx, &m[i]);
		got += k;
	}
	assert_int_equal(got, n);
}

static void check_nulls(void *ctx, const struct pagebus_msg *m)
{
	int64_t *i = ctx;
	assert_int_equal(m->offset, *i);
	switch (*i) {
	case 0: /* null key, null value (a tombstone) */
		assert_null(m->key);
		assert_null(m->value);
		break;
	case 1: /* empty key and value are not null */
		assert_non_null(m->key);
		assert_int_equal(m->key_len, 0);
		assert_non_null(m->value);
		assert_int_equal(m->value_len, 0);
		break;
	case 2: {
		assert_memory_equal(m->key, "k", 1);
		assert_memory_equal(m->value, "v", 1);
		assert_int_equal(m->timestamp, 1234567);
		assert_int_equal(m->header_count, 2);
		size_t pos = 0;
		struct pagebus_header h;
		assert_int_equal(pagebus_msg_header(m, &pos, &h), 1);
		assert_int_equal(h.key_len, 2);
		assert_memory_equal(h.key, "h1", 2);
		assert_memory_equal(h.value, "x", 1);
		assert_int_equal(pagebus_msg_header(m, &pos, &h), 1);
		assert_memory_equal(h.key, "h2", 2);
		assert_null(h.value);
		assert_int_equal(pagebus_msg_header(m, &pos, &h), 0);
		break;
	}
	}
	(*i)++;
}

static void test_client_null_empty_keys_values_and_headers_round_trip(void **state)
{
	struct fixture *f = *state;
	struct pagebus_producer *p;
	assert_int_equal(pagebus_producer_open(f->pb, "nulls", NULL, &p), 0);
	assert_int_equal(pagebus_send(p, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(pagebus_send(p, 0, "", 0, "", 0), 0);
	struct pagebus_header hs[2] = { { "h1", 2, "x", 1 }, { "h2", 2, NULL, 0 } };
	assert_int_equal(pagebus_send_ex(p, 0, "k", 1, "v", 1, hs, 2, 1234567, NULL), 0);
	assert_int_equal(pagebus_flush(p, WAIT_MS), 0);
	pagebus_producer_close(p);
	struct pagebus_consumer *c;
	assert_int_equal(pagebus_consumer_open(f->pb, "nulls", 0, PAGEBUS_OFFSET_BEGINNING, NULL, &c), 0);
	int64_t i = 0;
	consume_n(c, 3, check_nulls, &i);
	pagebus_consumer_close(c);
}

struct keyed {
	int32_t nparts;
	int64_t next[8];
};

static void check_keyed(void *ctx, const struct pagebus_msg *m)
{
	struct keyed *k = ctx;
	assert_int_equal(m->partition, pb_key_partition(m->key, m->key_len, k->nparts));
	assert_int_equal(m->offset, k->next[m->partition]++);
}

static void test_client_keyed_sends_land_where_kafka_puts_them(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(pagebus_topic_create(f->pb, "keyed", 5), 0);
	struct pagebus_producer *p;
	assert_int_equal(pagebus_producer_open(f->pb, "keyed", NULL, &p), 0);
	int per[5] = { 0 };
	for (int i = 0; i < 500; i++) {
		char key[32];
		int n = snprintf(key, sizeof(key), "key-%d", i % 50);
		assert_int_equal(pagebus_send(p, PAGEBUS_PARTITION_ANY, key, (size_t)n, "v", 1), 0);
		per[pb_key_partition(key, (size_t)n, 5)]++;
	}
	assert_int_equal(pagebus_flush(p, WAIT_MS), 0);
	pagebus_producer_close(p);
	struct keyed k = { .nparts = 5 };
	for (int32_t part = 0; part < 5; part++) {
		struct pagebus_consumer *c;
		assert_int_equal(pagebus_consumer_open(f->pb, "keyed", part, PAGEBUS_OFFSET_BEGINNING, NULL, &c), 0);
		consume_n(c, per[part], check_keyed, &k);
		struct pagebus_msg m[1];
		assert_int_equal(pagebus_poll(c, m, 1, 0), 0);
		pagebus_consumer_close(c);
	}
}

static void check_time(void *ctx, const struct pagebus_msg *m)
{
	int64_t *want = ctx;
	assert_int_equal(m->offset, *want);
	(*want)++;
}

static void test_client_seek_by_timestamp(void **state)
{
	struct fixture *f = *state;
	struct pagebus_producer *p;
	assert_int_equal(pagebus_producer_open(f->pb, "times", NULL, &p), 0);
	for (int i = 0; i < 1000; i++) /* timestamps 10000, 10010, ... */
		assert_int_equal(pagebus_send_ex(p, 0, NULL, 0, "v", 1, NULL, 0, 10000 + 10 * i, NULL), 0);
	assert_int_equal(pagebus_flush(p, WAIT_MS), 0);
	pagebus_producer_close(p);
	struct pagebus_consumer *c;
	assert_int_equal(pagebus_consumer_open(f->pb, "times", 0, PAGEBUS_OFFSET_END, NULL, &c), 0);
	assert_int_equal(pagebus_position(c), 1000);
	assert_int_equal(pagebus_seek_time(c, 10000 + 10 * 500), 0);
	assert_int_equal(pagebus_position(c), 500);
	assert_int_equal(pagebus_seek_time(c, 10000 + 10 * 500 - 5), 0); /* between two */
	assert_int_equal(pagebus_position(c), 500);
	int64_t want = 500;
	consume_n(c, 10, check_time, &want);
	assert_int_equal(pagebus_seek_time(c, 0), 0); /* before everything */
	assert_int_equal(pagebus_position(c), 0);
	assert_int_equal(pagebus_seek_time(c, 10000 + 10 * 1000), 0); /* after everything */
	assert_int_equal(pagebus_position(c), 1000);
	pagebus_consumer_close(c);
}

static void check_seq(void *ctx, const struct pagebus_msg *m)
{
	int64_t *want = ctx;
	assert_int_equal(m->offset, *want);
	char v[32];
	int n = snprintf(v, sizeof(v), "m-%" PRId64, m->offset);
	assert_int_equal(m->value_len, (size_t)n);
	assert_memory_equal(m->value, v, (size_t)n);
	(*want)++;
}

static void produce_seq(struct pagebus *pb, const char *topic, int64_t from, int n)
{
	struct pagebus_producer *p;
	assert_int_equal(pagebus_producer_open(pb, topic, NULL, &p), 0);
	for (int64_t i = from; i < from + n; i++) {
		char v[300];
		int len = snprintf(v, sizeof(v), "m-%" PRId64, i);
		assert_int_equal(pagebus_send(p, 0, NULL, 0, v, (size_t)len), 0);
		if (i % 50 == 0) /* small batches: many of them, several segments */
			assert_int_equal(pagebus_flush(p, WAIT_MS), 0);
	}
	assert_int_equal(pagebus_flush(p, WAIT_MS), 0);
	pagebus_producer_close(p);
}

static const char *const small_segments[] = { "--segment.bytes", "8192", "--retention.check.interval.ms", "50",
					      NULL };

static void test_client_follows_rolls_and_survives_retention(void **state)
{
	struct fixture *f = *state;
	const char *keys[] = { "retention.bytes" }, *vals[] = { "20000" };
	assert_int_equal(pagebus_topic_create_config(f->pb, "ret", 1, keys, vals, 1), 0);
	struct pagebus_consumer *c, *strict, *late;
	assert_int_equal(pagebus_consumer_open(f->pb, "ret", 0, PAGEBUS_OFFSET_BEGINNING, NULL, &c), 0);
	struct pagebus_consumer_opts so = PAGEBUS_OPTS(pagebus_consumer_opts, .reset = PAGEBUS_RESET_ERROR);
	assert_int_equal(pagebus_consumer_open(f->pb, "ret", 0, PAGEBUS_OFFSET_BEGINNING, &so, &strict), 0);
	struct pagebus_consumer_opts lo = PAGEBUS_OPTS(pagebus_consumer_opts, .reset = PAGEBUS_RESET_LATEST);
	assert_int_equal(pagebus_consumer_open(f->pb, "ret", 0, PAGEBUS_OFFSET_BEGINNING, &lo, &late), 0);
	/* strict holds a message of the first segment across its deletion */
	int64_t want = 0;
	produce_seq(f->pb, "ret", 0, 50);
	struct pagebus_msg held[1], m[8];
	assert_int_equal(pagebus_poll(strict, held, 1, WAIT_MS), 1);
	assert_int_equal(held[0].offset, 0);
	/* c reads in lockstep while segments roll under it and retention (20 KB of 8 KB
	 * segments) deletes the oldest ones behind it: never out of range */
	consume_n(c, 50, check_seq, &want);
	for (int64_t from = 50; from < 3000; from += 50) {
		produce_seq(f->pb, "ret", from, 50);
		consume_n(c, 50, check_seq, &want);
	}
	const struct pb_part_slot *slot = pb_control_slot(f->pb->control, 0);
	int64_t start = 0;
	for (int i = 0; i < 1000 && start == 0; i++) {
		usleep(10000);
		start = __atomic_load_n(&slot->log_start, __ATOMIC_ACQUIRE);
	}
	assert_true(start > 0);
	/* the deleted segment's bytes are still there for the reader that holds them */
	assert_int_equal(held[0].value_len, 3);
	assert_memory_equal(held[0].value, "m-0", 3);
	/* falling behind the log start: the reset policy decides */
	assert_int_equal(pagebus_poll(strict, m, 8, 0), -ERANGE);
	assert_non_null(strstr(pagebus_last_error(f->pb), "below the log start"));
	assert_int_equal(pagebus_poll(late, m, 8, 0), 0);
	assert_int_equal(pagebus_position(late), 3000);
	pagebus_consumer_close(late);
	pagebus_consumer_close(strict);
	pagebus_consumer_close(c);
	/* a fresh reader from the beginning starts at the log start */
	assert_int_equal(pagebus_consumer_open(f->pb, "ret", 0, PAGEBUS_OFFSET_BEGINNING, NULL, &c), 0);
	int k = pagebus_poll(c, m, 8, WAIT_MS);
	assert_true(k > 0);
	assert_true(m[0].offset >= start);
	pagebus_consumer_close(c);
	/* at least a few segments were rolled and some deleted */
	char path[700];
	snprintf(path, sizeof(path), "%s/ret-0/00000000000000000000.log", f->dir);
	assert_int_equal(tu_file_size(path), -1);
}

static void test_client_consumer_resumes_after_broker_restart(void **state)
{
	struct fixture *f = *state;
	produce_seq(f->pb, "restart", 0, 1000);
	struct pagebus_consumer *c;
	assert_int_equal(pagebus_consumer_open(f->pb, "restart", 0, PAGEBUS_OFFSET_BEGINNING, NULL, &c), 0);
	int64_t want = 0;
	consume_n(c, 600, check_seq, &want);
	assert_int_equal(tu_broker_stop(f->broker), 0);
	int st;
	f->broker = tu_broker_start(f->dir, f->log, NULL, &st);
	assert_true(f->broker > 0);
	/* the rest of the old data, then new data from a new connection */
	consume_n(c, 400, check_seq, &want);
	struct pagebus *pb2;
	assert_int_equal(pagebus_connect(f->dir, &pb2), 0);
	produce_seq(pb2, "restart", 1000, 100);
	consume_n(c, 100, check_seq, &want);
	pagebus_close(pb2);
	pagebus_consumer_close(c);
}

static void test_client_full_ring_blocks_or_returns_eagain_and_loses_nothing(void **state)
{
	struct fixture *f = *state;
	struct pagebus_producer *p;
	struct pagebus_producer_opts o = PAGEBUS_OPTS(pagebus_producer_opts, .ring_bytes = 64 * 1024,
						      .batch_bytes = 4096, .nonblock = 1);
	assert_int_equal(pagebus_producer_open(f->pb, "bp", &o, &p), 0);
	/* a frozen broker drains nothing: the ring fills and a non-blocking send says so */
	assert_int_equal(kill(f->broker, SIGSTOP), 0);
	char v[200];
	memset(v, 'x', sizeof(v));
	int sent = 0, err = 0;
	while (sent < 100000 && (err = pagebus_send(p, 0, NULL, 0, v, sizeof(v))) == 0)
		sent++;
	assert_int_equal(err, -EAGAIN);
	assert_true(sent > 100); /* a 64 KiB ring holds a few hundred of these */
	assert_int_equal(kill(f->broker, SIGCONT), 0);
	/* nothing was dropped: every accepted message is appended once the broker runs */
	assert_int_equal(pagebus_flush(p, WAIT_MS), 0);
	pagebus_producer_close(p);
	struct pagebus_consumer *c;
	assert_int_equal(pagebus_consumer_open(f->pb, "bp", 0, PAGEBUS_OFFSET_END, NULL, &c), 0);
	assert_int_equal(pagebus_position(c), sent);
	pagebus_consumer_close(c);
}

/* ---- the load test -------------------------------------------------------------------- */

#define LOAD_PRODUCERS 4
#define LOAD_PARTS 2
#define LOAD_TOTAL 1000000
#define LOAD_PER (LOAD_TOTAL / LOAD_PRODUCERS)

/* Producer k sends value "k:i" for i in 0..LOAD_PER-1, alternating partitions. */
static int load_producer(const char *dir, int k)
{
	struct pagebus *pb;
	struct pagebus_producer *p;
	if (pagebus_connect(dir, &pb) || pagebus_producer_open(pb, "load", NULL, &p))
		return 1;
	for (int i = 0; i < LOAD_PER; i++) {
		char v[32];
		int n = snprintf(v, sizeof(v), "%d:%d", k, i);
		if (pagebus_send(p, i % LOAD_PARTS, NULL, 0, v, (size_t)n))
			return 2;
	}
	int err = pagebus_flush(p, 60000);
	pagebus_producer_close(p);
	pagebus_close(pb);
	return err ? 3 : 0;
}

/* Reads a partition to its end: every producer's messages exactly once and in order. */
static int load_consumer(const char *dir, int32_t part)
{
	struct pagebus *pb;
	struct pagebus_consumer *c;
	if (pagebus_connect(dir, &pb) || pagebus_consumer_open(pb, "load", part, PAGEBUS_OFFSET_BEGINNING, NULL, &c))
		return 1;
	int next[LOAD_PRODUCERS];
	for (int k = 0; k < LOAD_PRODUCERS; k++)
		next[k] = part; /* producer k's values j with j % LOAD_PARTS == part, in order */
	int64_t want = 0, total = LOAD_TOTAL / LOAD_PARTS;
	struct pagebus_msg m[512];
	while (want < total) {
		int n = pagebus_poll(c, m, 512, 30000);
		if (n <= 0)
			return 2;
		for (int i = 0; i < n; i++) {
			int k, j;
			char v[32];
			if (m[i].offset != want++ || m[i].value_len >= sizeof(v))
				return 3;
			memcpy(v, m[i].value, m[i].value_len);
			v[m[i].value_len] = 0;
			if (sscanf(v, "%d:%d", &k, &j) != 2 || k < 0 || k >= LOAD_PRODUCERS || j != next[k] ||
			    j % LOAD_PARTS != part) {
				fprintf(stderr, "partition %d offset %" PRId64 ": '%s', expected %d:%d\n", part,
					m[i].offset, v, k, k >= 0 && k < LOAD_PRODUCERS ? next[k] : -1);
				return 4;
			}
			next[k] += LOAD_PARTS;
		}
	}
	for (int k = 0; k < LOAD_PRODUCERS; k++)
		if (next[k] != LOAD_PER + part) /* the last j of this partition, plus the stride */
			return 5;
	pagebus_consumer_close(c);
	pagebus_close(pb);
	return 0;
}

static void test_client_four_producers_two_partitions_a_million_messages(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(pagebus_topic_create(f->pb, "load", LOAD_PARTS), 0);
	pid_t kids[LOAD_PRODUCERS + 2 * LOAD_PARTS];
	int nk = 0;
	/* consumers first: they read while the producers write */
	for (int32_t part = 0; part < LOAD_PARTS; part++)
		for (int r = 0; r < 2; r++) {
			pid_t pid = fork();
			if (pid == 0) {
				alarm(240);
				_exit(load_consumer(f->dir, part));
			}
			kids[nk++] = pid;
		}
	for (int k = 0; k < LOAD_PRODUCERS; k++) {
		pid_t pid = fork();
		if (pid == 0) {
			alarm(240);
			_exit(load_producer(f->dir, k));
		}
		kids[nk++] = pid;
	}
	for (int i = 0; i < nk; i++) {
		int st;
		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			fail_msg("child %d (%s) ended with status 0x%x", i, i < 2 * LOAD_PARTS ? "consumer" : "producer", st);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_murmur2_matches_kafka_vectors),
		cmocka_unit_test(test_client_strerror_names_every_code),
		cmocka_unit_test(test_client_connect_without_broker_is_refused),
		cmocka_unit_test_setup_teardown(test_client_rejects_bad_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_null_empty_keys_values_and_headers_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_keyed_sends_land_where_kafka_puts_them, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_seek_by_timestamp, setup, teardown),
		cmocka_unit_test_prestate_setup_teardown(test_client_follows_rolls_and_survives_retention, setup,
							 teardown, (void *)small_segments),
		cmocka_unit_test_setup_teardown(test_client_consumer_resumes_after_broker_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_full_ring_blocks_or_returns_eagain_and_loses_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_client_four_producers_two_partitions_a_million_messages, setup,
						teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("client", tests, NULL, NULL);
}
