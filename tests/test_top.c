/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_top.c — `pagebus top` against a real broker: `--once` prints one frame whose
 * columns carry the partition's offsets, rates, bytes, page cache and consumers, the
 * named consumers' lag and the broker's pid, CPU and RSS; without metrics the figures
 * that need them say n/a; the live view in a terminal quits on q and gives the terminal
 * back as it was; no broker is one line and exit 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pagebus.h"
#include "testutil.h"

#define WAIT_MS 10000
#define MESSAGES 5000

/* Runs `pagebus --dir DIR top ARGS` (stdin /dev/null); its exit status and output. */
static int run_top(const char *dir, const char *args, char **out)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "timeout 20 %s --dir %s top %s </dev/null 2>&1", tu_pagebus(), dir, args);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	assert_non_null(buf);
	size_t n;
	while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0)
		if ((len += n) + 1 == cap)
			assert_non_null(buf = realloc(buf, cap *= 2));
	buf[len] = 0;
	int st = pclose(p);
	*out = buf;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The line of out that starts with prefix (a malloc'd copy), or NULL. */
static char *line_with(const char *out, const char *prefix)
{
	for (const char *l = out; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
		if (!strncmp(l, prefix, strlen(prefix)))
			return strndup(l, strcspn(l, "\n"));
	return NULL;
}

/* Splits a table row into its space-separated words; returns how many (at most max). */
static int words(char *line, char **w, int max)
{
	int n = 0;
	for (char *t = strtok(line, " "); t && n < max; t = strtok(NULL, " "))
		w[n++] = t;
	return n;
}

/* `MESSAGES` records into topic "demo", and the named consumer "reader" at offset 1000. */
static void load(const char *dir)
{
	struct pagebus *pb;
	struct pagebus_producer *p;
	struct pagebus_consumer *c;
	char value[100];
	memset(value, 'x', sizeof(value));
	assert_int_equal(pagebus_connect(dir, &pb), 0);
	assert_int_equal(pagebus_producer_open(pb, "demo", NULL, &p), 0);
	for (int i = 0; i < MESSAGES; i++)
		assert_int_equal(pagebus_send(p, 0, NULL, 0, value, sizeof(value)), 0);
	assert_int_equal(pagebus_flush(p, WAIT_MS), 0);
	pagebus_producer_close(p);
	assert_int_equal(pagebus_consumer_open(pb, "demo", 0, PAGEBUS_OFFSET_BEGINNING, NULL, &c), 0);
	assert_int_equal(pagebus_commit(c, "reader", 1000), 0);
	pagebus_consumer_close(c);
	pagebus_close(pb);
}

static void check_frame_body(const char *out, bool metrics)
{
	static const char *const cols[] = { "TOPIC",   "PARTITION", "MSG/S",  "BYTES/S", "HWM",
					    "LOG_START", "BYTES",   "CACHED", "CACHED%", "CONSUMERS" };
	char *head = line_with(out, "TOPIC "), *row = line_with(out, "demo "), *w[16];
	assert_non_null(head);
	assert_non_null(row);
	assert_int_equal(words(head, w, 16), 10);
	for (int i = 0; i < 10; i++)
		assert_string_equal(w[i], cols[i]);
	assert_int_equal(words(row, w, 16), 10);
	assert_string_equal(w[1], "0");
	assert_int_equal(atoi(w[4]), MESSAGES); /* HWM, from the control region */
	assert_string_equal(w[5], "0");
	assert_string_equal(w[2], "0"); /* nothing appended during the frame's second */
	if (metrics) {
		assert_string_equal(w[3], "0");
		assert_true(w[6][0] >= '1' && w[6][0] <= '9'); /* bytes on disk: ~600K */
		assert_string_equal(w[9], "0");
	} else {
		assert_string_equal(w[3], "n/a");
		assert_string_equal(w[6], "n/a");
		assert_string_equal(w[8], "n/a");
		assert_string_equal(w[9], "n/a");
	}
	/* CACHED: cachestat(2) on this kernel, the log just written is all in the cache */
	assert_true(!strcmp(w[7], "n/a") || (w[7][0] >= '1' && w[7][0] <= '9'));
	free(head);
	free(row);

	head = line_with(out, "CONSUMER ");
	row = line_with(out, "reader ");
	assert_non_null(head);
	assert_non_null(row);
	assert_int_equal(words(head, w, 16), 5);
	assert_string_equal(w[0], "CONSUMER");
	assert_string_equal(w[4], "LAG");
	assert_int_equal(words(row, w, 16), 5);
	assert_string_equal(w[1], "demo");
	assert_string_equal(w[3], "1000");
	assert_int_equal(atoi(w[4]), MESSAGES - 1000);
	free(head);
	free(row);
}

/* --once: one frame with every column, from a broker with metrics. */
static void test_top_once_prints_every_column(void **state)
{
	(void)state;
	static const char *const args[] = { "--metrics.listen", "127.0.0.1:0", NULL };
	struct tu_fixture *f = tu_fixture_start("top", args);
	assert_non_null(f);
	load(f->dir);
	char *out, want[64];
	assert_int_equal(run_top(f->dir, "--once", &out), 0);
	snprintf(want, sizeof(want), "broker pid %d, up ", (int)f->broker);
	char *first = line_with(out, "pagebus top - ");
	assert_non_null(first);
	assert_non_null(strstr(first, want));
	assert_non_null(strstr(first, ", cpu "));
	assert_non_null(strstr(first, "%, rss "));
	assert_non_null(strstr(first, ", threads "));
	char *second = line_with(out, "metrics 127.0.0.1:");
	assert_non_null(second);
	assert_non_null(strstr(second, "append latency p50 "));
	check_frame_body(out, true);
	assert_null(strchr(out, '\033')); /* no terminal codes in a frame for scripts */
	free(first);
	free(second);
	free(out);
	assert_int_equal(tu_fixture_stop(f), 0);
}

/* metrics.listen off: what needs the metrics is n/a, the rest is there. */
static void test_top_without_metrics_says_na(void **state)
{
	(void)state;
	struct tu_fixture *f = tu_fixture_start("top-nometrics", NULL);
	assert_non_null(f);
	load(f->dir);
	char *out;
	assert_int_equal(run_top(f->dir, "--once", &out), 0);
	assert_non_null(strstr(out, "\nmetrics n/a: metrics.listen is off\n"));
	check_frame_body(out, false);
	free(out);
	assert_int_equal(tu_fixture_stop(f), 0);
}

/* No broker: one line, exit 1. A stray argument: exit 2. */
static void test_top_without_broker_fails_in_one_line(void **state)
{
	(void)state;
	char *root = tu_tmpdir("top-none"), *out;
	assert_int_equal(run_top(root, "--once", &out), 1);
	assert_non_null(strstr(out, "pagebus: top: "));
	assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out));
	free(out);
	assert_int_equal(run_top(root, "--once extra", &out), 2);
	free(out);
	tu_rmrf(root);
	free(root);
}

/* In a terminal: frames until q, then the terminal's modes are what they were. */
static void test_top_live_quits_on_q_and_restores_the_terminal(void **state)
{
	(void)state;
	struct tu_fixture *f = tu_fixture_start("top-live", NULL);
	assert_non_null(f);
	int master;
	struct termios before, after;
	pid_t pid = forkpty(&master, NULL, NULL, NULL);
	assert_true(pid >= 0);
	if (pid == 0) {
		execl(tu_pagebus(), "pagebus", "--dir", f->dir, "top", (char *)NULL);
		_exit(127);
	}
	/* the first frame comes at once; then q */
	char buf[65536] = "";
	size_t len = 0;
	for (int64_t i = 0; i < WAIT_MS / 10 && !strstr(buf, "q quits"); i++) {
		struct pollfd p = { master, POLLIN, 0 };
		if (poll(&p, 1, 10) > 0) {
			ssize_t r = read(master, buf + len, sizeof(buf) - len - 1);
			if (r > 0)
				len += (size_t)r;
		}
		buf[len] = 0;
	}
	assert_non_null(strstr(buf, "q quits"));
	assert_non_null(strstr(buf, "\033[?1049h")); /* the alternate screen */
	assert_int_equal(tcgetattr(master, &before), 0);
	assert_int_equal(before.c_lflag & ICANON, 0); /* raw while it runs */
	assert_int_equal(write(master, "q", 1), 1);
	int st = 0;
	for (int i = 0; i < WAIT_MS / 10 && waitpid(pid, &st, WNOHANG) == 0; i++) {
		struct pollfd p = { master, POLLIN, 0 };
		if (poll(&p, 1, 10) > 0 && read(master, buf, sizeof(buf)) <= 0)
			usleep(1000);
	}
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(tcgetattr(master, &after), 0);
	assert_true(after.c_lflag & ICANON); /* cooked again */
	assert_true(after.c_lflag & ECHO);
	close(master);
	assert_int_equal(tu_fixture_stop(f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_top_once_prints_every_column),
		cmocka_unit_test(test_top_without_metrics_says_na),
		cmocka_unit_test(test_top_without_broker_fails_in_one_line),
		cmocka_unit_test(test_top_live_quits_on_q_and_restores_the_terminal),
	};
	return cmocka_run_group_tests_name("top", tests, NULL, NULL);
}
