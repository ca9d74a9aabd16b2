/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_metrics.c — pagebusd's Prometheus endpoint against a real broker: scrapes taken
 * while a libpagebus producer appends pass `promtool check metrics` and never see a
 * counter go back; once the load is acked the counters moved by exactly what was
 * produced; named-consumer lag; the HTTP handler's 400, 404 and 431 answers; a stalled
 * client neither blocks a scrape nor keeps its connection; an address in use or `off`.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pagebus.h"
#include "testutil.h"

#define WAIT_MS 10000 /* the longest wait for anything the broker owes us */
#define MESSAGES 100000
#define ROUND 1000 /* messages acked between two scrapes */
#define VALUE_LEN 100

struct fixture {
	struct tu_fixture *t;
	int port; /* of the metrics endpoint */
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int setup(void **state)
{
	static const char *const args[] = { "--metrics.listen", "127.0.0.1:0", NULL };
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f || !(f->t = tu_fixture_start("metrics", args))) {
		free(f);
		return -1;
	}
	f->port = tu_metrics_port(f->t->dir);
	*state = f;
	return f->port > 0 ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int rc = tu_fixture_stop(f->t);
	free(f);
	return rc;
}

/* ---- an HTTP client ------------------------------------------------------------------------ */

static int connect_port(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Reads until the server closes (bounded by WAIT_MS); a malloc'd, NUL-terminated buffer. */
static char *read_all(int fd, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	int64_t end = now_ms() + WAIT_MS;
	assert_non_null(buf);
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		int left = (int)(end - now_ms());
		assert_true(left > 0); /* the server owes us an answer and a close */
		if (poll(&p, 1, left) <= 0)
			continue;
		if (cap - n < 4096)
			assert_non_null(buf = realloc(buf, cap *= 2));
		ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = 0;
	*len = n;
	return buf;
}

/* Sends req (len bytes) and returns the HTTP status; *body (may be NULL) gets the body. */
static int http(int port, const char *req, size_t len, char **body)
{
	int fd = connect_port(port);
	assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	size_t n;
	char *resp = read_all(fd, &n);
	close(fd);
	int status = 0;
	assert_int_equal(sscanf(resp, "HTTP/1.1 %d ", &status), 1);
	char *sep = strstr(resp, "\r\n\r\n");
	assert_non_null(sep);
	/* Content-Length says exactly what follows */
	char *cl = strcasestr(resp, "\r\nContent-Length: ");
	assert_true(cl && cl < sep);
	assert_int_equal(strtoull(cl + 18, NULL, 10), n - (size_t)(sep + 4 - resp));
	if (body)
		*body = strdup(sep + 4);
	free(resp);
	return status;
}

static char *scrape(int port)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n";
	char *body = NULL;
	assert_int_equal(http(port, req, sizeof(req) - 1, &body), 200);
	return body;
}

/* The value of the sample `series` (name and labels, exactly as exposed), or -1. */
static double value(const char *body, const char *series)
{
	size_t len = strlen(series);
	for (const char *l = body; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
		if (!strncmp(l, series, len) && l[len] == ' ')
			return strtod(l + len + 1, NULL);
	return -1;
}

__attribute__((format(printf, 2, 3))) static double valuef(const char *body, const char *fmt, ...)
{
	char series[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(series, sizeof(series), fmt, ap);
	va_end(ap);
	return value(body, series);
}

static bool have_promtool(void)
{
	return tu_sh("command -v promtool >/dev/null 2>&1") == 0;
}

/* promtool check metrics: the exposition parses and passes its lint. */
static void promtool_check(const struct fixture *f, const char *body)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/scrape.txt", f->t->root);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(body, fp);
	fclose(fp);
	if (tu_sh("promtool check metrics < %s >%s.out 2>&1", path, path) != 0) {
		tu_sh("cat %s.out >&2", path);
		fail_msg("promtool check metrics refused the scrape (%s)", path);
	}
}

/* ---- load ------------------------------------------------------------------------------------ */

struct load {
	struct pagebus_producer *p; /* stays open after the load: its counters are read */
	int err;
	int scrapes; /* taken by the main thread so far (atomic) */
	bool done;   /* atomic */
};

static void *produce(void *arg)
{
	struct load *ld = arg;
	char value[VALUE_LEN];
	memset(value, 'v', sizeof(value));
	/* in rounds, each acked and then scraped before the next: scrapes see the load
	 * in the middle, whatever the speed of either side */
	for (int i = 0; !ld->err && i < MESSAGES; i++) {
		ld->err = pagebus_send(ld->p, 0, NULL, 0, value, sizeof(value));
		if (ld->err || (i + 1) % ROUND)
			continue;
		ld->err = pagebus_flush(ld->p, WAIT_MS);
		int seen = __atomic_load_n(&ld->scrapes, __ATOMIC_ACQUIRE);
		for (int64_t end = now_ms() + WAIT_MS; __atomic_load_n(&ld->scrapes, __ATOMIC_ACQUIRE) == seen;)
			if (now_ms() > end) {
				ld->err = -ETIME;
				break;
			} else {
				usleep(100);
			}
	}
	__atomic_store_n(&ld->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Counters of the partition and of the one producer. */
struct snap {
	double msgs, bytes, hwm, log_bytes, batches, pbytes, acks, lat_count;
};

static struct snap snap(const char *body)
{
	return (struct snap){
		value(body, "pagebus_partition_appended_messages_total{topic=\"load\",partition=\"0\"}"),
		value(body, "pagebus_partition_appended_bytes_total{topic=\"load\",partition=\"0\"}"),
		value(body, "pagebus_partition_high_watermark{topic=\"load\",partition=\"0\"}"),
		value(body, "pagebus_partition_log_bytes{topic=\"load\",partition=\"0\"}"),
		valuef(body, "pagebus_producer_batches_total{producer=\"%d\",topic=\"load\"}", 1),
		valuef(body, "pagebus_producer_bytes_total{producer=\"%d\",topic=\"load\"}", 1),
		valuef(body, "pagebus_producer_acks_total{producer=\"%d\",topic=\"load\"}", 1),
		value(body, "pagebus_append_latency_seconds_count"),
	};
}

/* Scrapes during the load pass promtool and counters only grow; afterwards they moved by
 * exactly what was produced. */
static void test_metrics_count_exactly_what_was_produced(void **state)
{
	struct fixture *f = *state;
	struct pagebus *pb;
	assert_int_equal(pagebus_connect(f->t->dir, &pb), 0);
	assert_int_equal(pagebus_topic_create(pb, "load", 1), 0);
	char *body = scrape(f->port);
	struct snap before = snap(body);
	assert_true(before.msgs == 0 && before.bytes == 0 && before.hwm == 0);
	if (have_promtool())
		promtool_check(f, body);
	free(body);

	struct load ld = { 0 };
	struct pagebus_producer_opts o = PAGEBUS_OPTS(pagebus_producer_opts, .batch_bytes = 16384);
	assert_int_equal(pagebus_producer_open(pb, "load", &o, &ld.p), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, produce, &ld), 0);
	struct snap last = before;
	char *mid[3] = { NULL }; /* scrapes taken in the middle of the load, for promtool */
	int nmid = 0;
	while (!__atomic_load_n(&ld.done, __ATOMIC_ACQUIRE)) {
		body = scrape(f->port);
		struct snap s = snap(body);
		assert_true(s.msgs >= last.msgs && s.bytes >= last.bytes && s.hwm >= last.hwm);
		assert_true(s.msgs <= MESSAGES && s.hwm == s.msgs); /* a fresh topic: all ours */
		last = s;
		__atomic_fetch_add(&ld.scrapes, 1, __ATOMIC_RELEASE);
		if (nmid < 3 && s.msgs > 0 && s.msgs < MESSAGES)
			mid[nmid++] = body;
		else
			free(body);
	}
	pthread_join(th, NULL);
	assert_int_equal(ld.err, 0);
	assert_int_equal(nmid, 3); /* the rounds wait for scrapes */
	for (int i = 0; i < nmid; i++) {
		if (have_promtool())
			promtool_check(f, mid[i]);
		free(mid[i]);
	}

	/* every message acked: the counters say exactly what was produced */
	body = scrape(f->port);
	struct snap s = snap(body);
	struct pagebus_topic_desc *d;
	assert_int_equal(pagebus_topic_describe(pb, "load", &d), 0);
	assert_true(s.msgs == MESSAGES);
	assert_true(s.hwm == MESSAGES);
	assert_true(s.bytes == (double)d->parts[0].bytes); /* every byte of the log is ours */
	assert_true(s.log_bytes == s.bytes);
	assert_true(s.pbytes == s.bytes);	 /* one producer, one ring */
	assert_true(s.batches > 0 && s.acks == s.batches); /* acks = appended: one per batch */
	assert_true(s.lat_count == s.batches); /* one latency per successful ack */
	assert_true(value(body, "pagebus_producer_refused_total{producer=\"1\",topic=\"load\"}") == 0);
	assert_true(value(body, "pagebus_uring_submissions_total{opcode=\"WRITEV\"}") > 0);
	assert_true(value(body, "pagebus_errors_total{kind=\"refused_batch\"}") == 0);
	pagebus_topic_desc_free(d);
	free(body);
	pagebus_producer_close(ld.p);
	pagebus_close(pb);
}

/* A named consumer's lag is the high watermark minus its committed offset. */
static void test_metrics_named_consumer_lag(void **state)
{
	struct fixture *f = *state;
	struct pagebus *pb;
	struct pagebus_producer *p;
	struct pagebus_consumer *c;
	assert_int_equal(pagebus_connect(f->t->dir, &pb), 0);
	assert_int_equal(pagebus_producer_open(pb, "lagging", NULL, &p), 0);
	for (int i = 0; i < 50; i++)
		assert_int_equal(pagebus_send(p, 0, NULL, 0, "m", 1), 0);
	assert_int_equal(pagebus_flush(p, WAIT_MS), 0);
	assert_int_equal(pagebus_consumer_open(pb, "lagging", 0, PAGEBUS_OFFSET_BEGINNING, NULL, &c), 0);
	assert_int_equal(pagebus_commit(c, "reader", 12), 0);
	char *body = scrape(f->port);
	assert_true(value(body, "pagebus_consumer_committed_offset{consumer=\"reader\",topic=\"lagging\",partition=\"0\"}") == 12);
	assert_true(value(body, "pagebus_consumer_lag_messages{consumer=\"reader\",topic=\"lagging\",partition=\"0\"}") == 38);
	assert_true(value(body, "pagebus_partition_local_consumers{topic=\"lagging\",partition=\"0\"}") == 1);
	assert_true(value(body, "pagebus_connections{kind=\"local\"}") >= 1);
	free(body);
	pagebus_consumer_close(c);
	pagebus_producer_close(p);
	pagebus_close(pb);
}

static int send_str(int port, const char *req)
{
	return http(port, req, strlen(req), NULL);
}

/* Requests that do not parse get 400 and are counted; the endpoint goes on serving. */
static void test_metrics_bad_requests_get_400(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"garbage\r\n\r\n",
		"GET\r\n\r\n",
		"GET /metrics\r\n\r\n",
		"GET  /metrics HTTP/1.1\r\n\r\n",
		"GET /metrics HTTP/2.0\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
		"GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n",
		"GET /met\x01rics HTTP/1.1\r\n\r\n",
		"\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (send_str(f->port, bad[i]) != 400)
			fail_msg("request %zu was not answered 400", i);
	static const char nul[] = "GET /metrics HTTP/1.1\r\nX: a\0b\r\n\r\n";
	assert_int_equal(http(f->port, nul, sizeof(nul) - 1, NULL), 400);
	char *body = scrape(f->port);
	assert_true(value(body, "pagebus_metrics_requests_total{code=\"400\"}") == 10);
	free(body);
}

/* Anything but GET /metrics is 404; a query string and HTTP/1.0 are fine. */
static void test_metrics_other_paths_get_404(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(send_str(f->port, "GET / HTTP/1.1\r\n\r\n"), 404);
	assert_int_equal(send_str(f->port, "GET /metricsx HTTP/1.1\r\n\r\n"), 404);
	assert_int_equal(send_str(f->port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), 404);
	assert_int_equal(send_str(f->port, "HEAD /metrics HTTP/1.1\r\n\r\n"), 404);
	assert_int_equal(send_str(f->port, "GET http://x/metrics HTTP/1.1\r\n\r\n"), 404);
	assert_int_equal(send_str(f->port, "GET /metrics?debug=1 HTTP/1.0\r\n\r\n"), 200);
	assert_int_equal(send_str(f->port, "GET /metrics HTTP/1.1\n\n"), 200);
	char *body = scrape(f->port);
	assert_true(value(body, "pagebus_metrics_requests_total{code=\"404\"}") == 5);
	free(body);
}

/* A request past METRICS_MAX_REQUEST (8 KiB) gets 431 — read whole by the client, not a
 * reset — and the endpoint still serves. */
static void test_metrics_oversized_request_gets_431(void **state)
{
	struct fixture *f = *state;
	size_t n = 256 * 1024;
	char *req = malloc(n + 64);
	assert_non_null(req);
	int h = sprintf(req, "GET /metrics HTTP/1.1\r\nX-Big: ");
	memset(req + h, 'a', n);
	strcpy(req + h + n, "\r\n\r\n");
	assert_int_equal(http(f->port, req, strlen(req), NULL), 431);
	/* just past the limit, without ever ending its headers */
	memset(req, 'b', 8193);
	assert_int_equal(http(f->port, req, 8193, NULL), 431);
	free(req);
	char *body = scrape(f->port);
	assert_true(value(body, "pagebus_metrics_requests_total{code=\"431\"}") == 2);
	free(body);
}

/* A client that connects and says nothing: scrapes go on, and its connection is closed
 * after the endpoint's timeout. */
static void test_metrics_stalled_client_is_closed(void **state)
{
	struct fixture *f = *state;
	int idle = connect_port(f->port);
	assert_int_equal(send(idle, "GET /met", 8, MSG_NOSIGNAL), 8);
	char *body = scrape(f->port);
	assert_true(value(body, "pagebus_connections{kind=\"metrics\"}") == 2); /* it and us */
	free(body);
	size_t n;
	char *rest = read_all(idle, &n); /* the close comes within WAIT_MS */
	assert_int_equal(n, 0);
	free(rest);
	close(idle);
}

/* metrics.listen off: no endpoint, no line in the lock file. An address in use: the broker
 * says so and runs without the endpoint. */
static void test_metrics_off_and_address_in_use(void **state)
{
	struct fixture *f = *state;
	struct tu_fixture *off = tu_fixture_start("metrics-off", NULL); /* tu_broker_start: off */
	assert_non_null(off);
	assert_int_equal(tu_metrics_port(off->dir), -1);
	assert_int_equal(tu_fixture_stop(off), 0);

	char taken[64];
	snprintf(taken, sizeof(taken), "127.0.0.1:%d", f->port);
	const char *const args[] = { "--metrics.listen", taken, NULL };
	struct tu_fixture *busy = tu_fixture_start("metrics-busy", args);
	assert_non_null(busy);
	assert_true(tu_file_contains(busy->log, "metrics endpoint: cannot listen on"));
	assert_int_equal(tu_metrics_port(busy->dir), -1);
	struct pagebus *pb;
	assert_int_equal(pagebus_connect(busy->dir, &pb), 0); /* serving all the same */
	pagebus_close(pb);
	assert_int_equal(tu_fixture_stop(busy), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_metrics_count_exactly_what_was_produced),
		T(test_metrics_named_consumer_lag),
		T(test_metrics_bad_requests_get_400),
		T(test_metrics_other_paths_get_404),
		T(test_metrics_oversized_request_gets_431),
		T(test_metrics_stalled_client_is_closed),
		T(test_metrics_off_and_address_in_use),
#undef T
	};
	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
