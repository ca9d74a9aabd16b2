/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_bench.c — the benchmark harness itself: histogram percentiles of known
 * distributions, coordinated-omission correction of a stalled series, and a smoke run
 * of every pagebus-bench scenario at tiny sizes whose JSON must be complete and sane
 * (never fast: no assertion here depends on timing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_hist.h"

#define SMOKE_TIMEOUT_S 120

static struct bench_hist *new_hist(void)
{
	struct bench_hist *h = malloc(sizeof(*h));
	assert_non_null(h);
	hist_reset(h);
	return h;
}

/* v within the histogram's precision (1/128) of want. */
static void assert_close(uint64_t v, uint64_t want)
{
	double d = fabs((double)v - (double)want);
	if (d > (double)want / 128 + 1) {
		fprintf(stderr, "got %llu, want %llu\n", (unsigned long long)v, (unsigned long long)want);
		fail();
	}
}

static void test_hist_uniform_percentiles(void **state)
{
	(void)state;
	struct bench_hist *h = new_hist();
	for (uint64_t v = 1; v <= 100000; v++)
		hist_record(h, v);
	assert_int_equal(h->count, 100000);
	assert_close(hist_percentile(h, 50), 50000);
	assert_close(hist_percentile(h, 90), 90000);
	assert_close(hist_percentile(h, 99), 99000);
	assert_close(hist_percentile(h, 99.9), 99900);
	assert_int_equal(hist_percentile(h, 100), 100000);
	assert_int_equal(hist_percentile(h, 0), 1);
	assert_true(fabs(hist_mean(h) - 50000.5) < 1e-6);
	free(h);
}

static void test_hist_constant_is_exact(void **state)
{
	(void)state;
	struct bench_hist *h = new_hist();
	hist_record_n(h, 4242, 10000);
	static const double pcts[] = { 0, 1, 50, 90, 99, 99.9, 99.99, 100 };
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		assert_int_equal(hist_percentile(h, pcts[i]), 4242);
	free(h);
}

static void test_hist_two_point(void **state)
{
	(void)state;
	struct bench_hist *h = new_hist();
	for (int i = 0; i < 900; i++)
		hist_record(h, 10);
	for (int i = 0; i < 100; i++)
		hist_record(h, 1000);
	assert_int_equal(hist_percentile(h, 50), 10);
	assert_int_equal(hist_percentile(h, 90), 10);   /* the 900th of 1000 */
	assert_int_equal(hist_percentile(h, 90.1), 1000);
	assert_int_equal(hist_percentile(h, 99), 1000);
	assert_int_equal(h->min, 10);
	assert_int_equal(h->max, 1000);
	free(h);
}

static void test_hist_empty_and_huge(void **state)
{
	(void)state;
	struct bench_hist *h = new_hist();
	assert_int_equal(hist_percentile(h, 50), 0);
	hist_record(h, UINT64_MAX);
	hist_record(h, 0);
	assert_int_equal(hist_percentile(h, 100), UINT64_MAX);
	assert_int_equal(hist_percentile(h, 50), 0);
	free(h);
}

static void test_hist_merge_equals_whole(void **state)
{
	(void)state;
	struct bench_hist *a = new_hist(), *b = new_hist(), *all = new_hist();
	for (uint64_t v = 1; v <= 20000; v += 3) {
		hist_record(v % 2 ? a : b, v * 37);
		hist_record(all, v * 37);
	}
	hist_merge(a, b);
	assert_int_equal(a->count, all->count);
	assert_int_equal(a->min, all->min);
	assert_int_equal(a->max, all->max);
	assert_memory_equal(a->counts, all->counts, sizeof(a->counts));
	free(a);
	free(b);
	free(all);
}

/*
 * A closed loop meant to sample every 10 µs: 99 samples of 1 µs, then one that stalled
 * for 1 ms. Without correction the stall is 1 % of the samples; corrected, the 99
 * samples the stall kept from being taken (990 µs, 980 µs, ... 10 µs) are added.
 */
static void test_co_correction_of_a_stall(void **state)
{
	(void)state;
	const uint64_t interval = 10000, stall = 1000000;
	struct bench_hist *raw = new_hist(), *co = new_hist();
	for (int i = 0; i < 99; i++) {
		hist_record(raw, 1000);
		hist_record_corrected(co, 1000, interval);
	}
	hist_record(raw, stall);
	hist_record_corrected(co, stall, interval);
	assert_int_equal(raw->count, 100);
	assert_int_equal(hist_percentile(raw, 99), 1000); /* the stall hides in the tail */
	assert_int_equal(co->count, 100 + 99);
	assert_int_equal(co->max, stall);
	assert_int_equal(co->min, 1000);
	/* rank 100 of 199 is the first corrected sample, 10 µs; rank 150 is 510 µs */
	assert_close(hist_percentile(co, 50), 10000);
	assert_close(hist_percentile(co, 75), 510000);
	assert_close(hist_percentile(co, 99), 980000);
	double want_sum = 99 * 1000.0 + stall;
	for (uint64_t m = stall - interval; m >= interval; m -= interval)
		want_sum += (double)m;
	assert_true(fabs(co->sum - want_sum) < 1);
	free(raw);
	free(co);
}

static void test_co_correction_leaves_fast_samples_alone(void **state)
{
	(void)state;
	struct bench_hist *h = new_hist();
	hist_record_corrected(h, 5000, 10000);   /* within the interval */
	hist_record_corrected(h, 10000, 10000);  /* exactly the interval */
	hist_record_corrected(h, 50000, 0);      /* no interval: no correction */
	assert_int_equal(h->count, 3);
	hist_record_corrected(h, 25000, 10000);  /* adds 15000 only (5000 < interval) */
	assert_int_equal(h->count, 5);
	free(h);
}

/* ---- smoke runs of pagebus-bench ---------------------------------------------------- */

static const char *bench_path(void)
{
	static char path[4096];
	const char *build = getenv("BUILD");
	snprintf(path, sizeof(path), "%s/pagebus-bench", build && *build ? build : "build");
	return path;
}

/* Runs pagebus-bench with args (NULL-terminated), returns its stdout (malloc'd); the
 * child is killed after SMOKE_TIMEOUT_S. */
static char *run_bench(const char *const *args, int *status)
{
	int out[2];
	assert_int_equal(pipe(out), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const char *argv[32];
		int n = 0;
		argv[n++] = bench_path();
		for (int i = 0; args[i] && n < 31; i++)
			argv[n++] = args[i];
		argv[n] = NULL;
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	time_t end = time(NULL) + SMOKE_TIMEOUT_S;
	for (;;) {
		struct pollfd pfd = { out[0], POLLIN, 0 };
		if (time(NULL) > end) {
			kill(pid, SIGKILL);
			fprintf(stderr, "pagebus-bench %s: killed after %d s\n", args[0], SMOKE_TIMEOUT_S);
			break;
		}
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		if (cap - len < 4096) {
			buf = realloc(buf, cap *= 2);
			assert_non_null(buf);
		}
		ssize_t r = read(out[0], buf + len, cap - len - 1);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	buf[len] = 0;
	close(out[0]);
	waitpid(pid, status, 0);
	return buf;
}

/* The raw text of "key": in a flat JSON object line, or NULL. */
static const char *json_field(const char *line, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = strstr(line, pat);
	return p ? p + strlen(pat) : NULL;
}

static int json_is_null(const char *v)
{
	return !strncmp(v, "null", 4);
}

/* Every field the issue requires, and the harness's own. */
static const char *const string_fields[] = { "scenario", "params", "status", "headline",
					     "limit_name", "peer" };
static const char *const number_fields[] = {
	"msgs_per_s", "mb_per_s", "p50_us", "p99_us", "p999_us", "max_us", "limit_value",
	"ratio_to_limit", "peer_value", "broker_cpu_s_per_mmsg", "broker_peak_rss_mb",
};

/* Checks one result line; returns 1 when its status is "ok". */
static int check_line(const char *line, const char *scenario)
{
	for (size_t i = 0; i < sizeof(string_fields) / sizeof(string_fields[0]); i++) {
		const char *v = json_field(line, string_fields[i]);
		if (!v || *v != '"') {
			fprintf(stderr, "%s: no string %s in %s\n", scenario, string_fields[i], line);
			fail();
		}
	}
	char want[64];
	snprintf(want, sizeof(want), "\"%s\"", scenario);
	assert_true(!strncmp(json_field(line, "scenario"), want, strlen(want)));
	for (size_t i = 0; i < sizeof(number_fields) / sizeof(number_fields[0]); i++) {
		const char *v = json_field(line, number_fields[i]);
		if (!v) {
			fprintf(stderr, "%s: no field %s in %s\n", scenario, number_fields[i], line);
			fail();
		}
		if (json_is_null(v))
			continue;
		char *end;
		double x = strtod(v, &end);
		if (end == v || !isfinite(x) || x < 0) {
			fprintf(stderr, "%s: %s is not a finite number >= 0 in %s\n", scenario,
				number_fields[i], line);
			fail();
		}
	}
	const char *status = json_field(line, "status");
	if (strncmp(status, "\"ok\"", 4)) {
		/* only these may lack numbers: never an error */
		if (strncmp(status, "\"not available in this build", 28) && strncmp(status, "\"missing\"", 9)) {
			fprintf(stderr, "%s: bad status in %s\n", scenario, line);
			fail();
		}
		return 0;
	}
	/* an ok line has its headline, positive and finite */
	const char *h = json_field(line, "headline");
	char key[32];
	size_t n = strcspn(h + 1, "\"");
	assert_true(n < sizeof(key));
	memcpy(key, h + 1, n);
	key[n] = 0;
	const char *v = json_field(line, key);
	assert_non_null(v);
	double x = strtod(v, NULL);
	if (json_is_null(v) || !isfinite(x) || x <= 0) {
		fprintf(stderr, "%s: headline %s not positive in %s\n", scenario, key, line);
		fail();
	}
	return 1;
}

/* Runs one scenario with --quick --json and checks every line; returns ok lines. */
static int smoke(const char *scenario, const char *const *extra, int want_broker_cost, int want_limit)
{
	const char *args[16] = { scenario, "--quick", "--json" };
	int n = 3;
	for (int i = 0; extra && extra[i]; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	int status;
	char *out = run_bench(args, &status);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	int lines = 0, ok = 0;
	char *save = NULL;
	for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		lines++;
		int good = check_line(line, scenario);
		ok += good;
		if (good && want_broker_cost) {
			assert_false(json_is_null(json_field(line, "broker_cpu_s_per_mmsg")));
			assert_false(json_is_null(json_field(line, "broker_peak_rss_mb")));
		}
		if (good && want_limit)
			assert_false(json_is_null(json_field(line, "limit_value")));
	}
	free(out);
	if (!lines) {
		fprintf(stderr, "%s: no result lines\n", scenario);
		fail();
	}
	return ok;
}

static const char *const no_peers[] = { "--no-peers", NULL };

static void test_smoke_append(void **state)
{
	(void)state;
	static const char *const args[] = { "--sizes", "64,65536", NULL };
	assert_int_equal(smoke("append", args, 1, 1), 2);
}

static void test_smoke_latency(void **state)
{
	(void)state;
	static const char *const args[] = { "--no-peers", "--rates", "2000", NULL };
	assert_int_equal(smoke("latency", args, 1, 1), 4);
}

static void test_smoke_fanout(void **state)
{
	(void)state;
	assert_int_equal(smoke("fanout", no_peers, 1, 1), 2);
}

static void test_smoke_catchup(void **state)
{
	(void)state;
	static const char *const args[] = { "--no-peers", "--size", "1M", NULL };
	assert_int_equal(smoke("catchup", args, 1, 1), 2);
}

static void test_smoke_remote(void **state)
{
	(void)state;
	smoke("remote", no_peers, 1, 1); /* "not available in this build" until the endpoint is */
}

static void test_smoke_recovery(void **state)
{
	(void)state;
	static const char *const args[] = { "--size", "256K", NULL };
	assert_int_equal(smoke("recovery", args, 1, 1), 2);
}

static void test_smoke_limits(void **state)
{
	(void)state;
	/* the peers run in the append smoke; here no machine-wide iceoryx RouDi is started */
	static const char *const args[] = { "--sizes", "64", "--no-peers", NULL };
	/* memcpy, write(2), futex, cache line, sendfile, copy */
	assert_int_equal(smoke("limits", args, 0, 0), 6);
}

static void test_rejects_unknown_scenario_and_bad_options(void **state)
{
	(void)state;
	static const char *const bad[][3] = {
		{ "nosuch", NULL, NULL }, { "append", "--runs", "0" }, { "latency", "--modes", "fast" },
		{ "append", "--acks", "maybe" }, { "catchup", "--size", "1x" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[4] = { bad[i][0], bad[i][1], bad[i][2], NULL };
		int status;
		free(run_bench(args, &status));
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 2);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_uniform_percentiles),
		cmocka_unit_test(test_hist_constant_is_exact),
		cmocka_unit_test(test_hist_two_point),
		cmocka_unit_test(test_hist_empty_and_huge),
		cmocka_unit_test(test_hist_merge_equals_whole),
		cmocka_unit_test(test_co_correction_of_a_stall),
		cmocka_unit_test(test_co_correction_leaves_fast_samples_alone),
		cmocka_unit_test(test_rejects_unknown_scenario_and_bad_options),
		cmocka_unit_test(test_smoke_append),
		cmocka_unit_test(test_smoke_latency),
		cmocka_unit_test(test_smoke_fanout),
		cmocka_unit_test(test_smoke_catchup),
		cmocka_unit_test(test_smoke_remote),
		cmocka_unit_test(test_smoke_recovery),
		cmocka_unit_test(test_smoke_limits),
	};
	return cmocka_run_group_tests_name("bench", tests, NULL, NULL);
}
