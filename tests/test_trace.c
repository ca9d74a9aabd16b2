/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_trace.c — `pagebus trace` (BPF on tracepoints) against a real broker. Root only
 * (exit 77 otherwise, saying so): a 3-second trace while a producer appends and a
 * consumer reads sees the broker's io_uring writes, and after the segment is evicted from
 * the page cache (posix_fadvise DONTNEED) reading it again shows as misses on that
 * segment's inode; Ctrl-C ends a trace with its summary; without root it is one line
 * and exit 2; without tracefs it mounts it; without a broker it is exit 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pagebus.h"
#include "testutil.h"

#define WAIT_MS 20000 /* the longest wait for a trace to attach or to end */
#define MESSAGES 20000

struct trace {
	pid_t pid;
	char out[700], err[700];
};

/* Starts `[prefix...] pagebus --dir DIR trace ARGS...` with stdout and stderr to files in
 * root; prefix (NULL-terminated, may be NULL) runs before it (setpriv, unshare). */
static void trace_start(struct trace *t, const char *root, const char *dir, const char *const *prefix,
			const char *const *args)
{
	snprintf(t->out, sizeof(t->out), "%s/trace.out", root);
	snprintf(t->err, sizeof(t->err), "%s/trace.err", root);
	const char *argv[32];
	int n = 0;
	for (int i = 0; prefix && prefix[i]; i++)
		argv[n++] = prefix[i];
	argv[n++] = tu_pagebus();
	argv[n++] = "--dir";
	argv[n++] = dir;
	argv[n++] = "trace";
	for (int i = 0; args && args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	fflush(NULL);
	t->pid = fork();
	assert_true(t->pid >= 0);
	if (t->pid == 0) {
		int o = open(t->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(t->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(127);
		alarm(120); /* never outlives a stuck test */
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
}

/* Bounded wait for the line saying the programs are attached; false if it exited. */
static bool trace_attached(struct trace *t)
{
	for (int i = 0; i < WAIT_MS / 10; i++) {
		if (tu_file_contains(t->err, "tracing pid "))
			return true;
		if (waitpid(t->pid, NULL, WNOHANG) == t->pid) {
			t->pid = -1;
			return false;
		}
		usleep(10000);
	}
	return false;
}

/* Bounded wait for the exit; its status (-1: still running, killed). */
static int trace_wait(struct trace *t)
{
	int st;
	for (int i = 0; i < WAIT_MS / 10; i++) {
		if (waitpid(t->pid, &st, WNOHANG) == t->pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		usleep(10000);
	}
	kill(t->pid, SIGKILL);
	waitpid(t->pid, &st, 0);
	return -1;
}

static char *slurp(const char *path)
{
	size_t len;
	char *s = (char *)tu_read_file(path, &len);
	assert_non_null(s);
	s[len] = 0;
	return s;
}

/* The whitespace-separated fields of the first line of s that starts with prefix (or,
 * with anywhere, contains it), or 0 when there is none. */
static int row(const char *s, const char *prefix, bool anywhere, char **w, int max, char *buf, size_t len)
{
	for (const char *l = s; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		size_t n = strcspn(l, "\n");
		if (anywhere ? !memmem(l, n, prefix, strlen(prefix)) : strncmp(l, prefix, strlen(prefix)))
			continue;
		snprintf(buf, len, "%.*s", (int)n, l);
		int k = 0;
		for (char *t = strtok(buf, " "); t && k < max; t = strtok(NULL, " "))
			w[k++] = t;
		return k;
	}
	return 0;
}

static void produce(const char *dir, const char *topic, int n, int acks)
{
	struct pagebus *pb;
	struct pagebus_producer *p;
	struct pagebus_producer_opts o = PAGEBUS_OPTS(pagebus_producer_opts, .acks = acks);
	char value[200];
	memset(value, 'v', sizeof(value));
	assert_int_equal(pagebus_connect(dir, &pb), 0);
	assert_int_equal(pagebus_producer_open(pb, topic, &o, &p), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(pagebus_send(p, 0, NULL, 0, value, sizeof(value)), 0);
	assert_int_equal(pagebus_flush(p, WAIT_MS), 0);
	pagebus_producer_close(p);
	pagebus_close(pb);
}

static void consume(const char *dir, const char *topic, int n)
{
	struct pagebus *pb;
	struct pagebus_consumer *c;
	struct pagebus_msg m[256];
	assert_int_equal(pagebus_connect(dir, &pb), 0);
	assert_int_equal(pagebus_consumer_open(pb, topic, 0, PAGEBUS_OFFSET_BEGINNING, NULL, &c), 0);
	for (int got = 0; got < n;) {
		int r = pagebus_poll(c, m, 256, WAIT_MS);
		assert_true(r > 0);
		got += r;
	}
	pagebus_consumer_close(c);
	pagebus_close(pb);
}

/* The broker's first segment of topic-0: its path. */
static const char *segment(const char *dir, const char *topic)
{
	static char path[700];
	snprintf(path, sizeof(path), "%s/%s-0/%020d.log", dir, topic, 0);
	return path;
}

/* Drops the segment from the page cache, then reads its data back: page-cache misses. */
static void evict_and_read(const char *path, off_t len)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fdatasync(fd), 0); /* dirty pages are not dropped */
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	char *buf = malloc(1 << 20);
	assert_non_null(buf);
	for (off_t at = 0; at < len;) {
		ssize_t r = pread(fd, buf, 1 << 20, at);
		assert_true(r > 0);
		at += r;
	}
	free(buf);
	close(fd);
}

/* While a 3-second trace runs: appends, a consumer, an eviction and a re-read. */
static void test_trace_sees_broker_writes_and_page_cache_misses(void **state)
{
	(void)state;
	struct tu_fixture *f = tu_fixture_start("trace", NULL);
	assert_non_null(f);
	produce(f->dir, "traced", 1000, PAGEBUS_ACKS_APPENDED); /* the segment exists before */
	struct stat st;
	assert_int_equal(stat(segment(f->dir, "traced"), &st), 0);

	struct trace t;
	static const char *const args[] = { "--seconds", "3", NULL };
	trace_start(&t, f->root, f->dir, NULL, args);
	assert_true(trace_attached(&t));
	produce(f->dir, "traced", MESSAGES, PAGEBUS_ACKS_DURABLE);
	consume(f->dir, "traced", 1000 + MESSAGES);
	struct pagebus *pb;
	struct pagebus_topic_desc *d;
	assert_int_equal(pagebus_connect(f->dir, &pb), 0);
	assert_int_equal(pagebus_topic_describe(pb, "traced", &d), 0);
	evict_and_read(segment(f->dir, "traced"), (off_t)d->parts[0].bytes);
	pagebus_topic_desc_free(d);
	pagebus_close(pb);
	/* all of it inside the trace's 3 s: this load takes a fraction of that */
	if (waitpid(t.pid, NULL, WNOHANG) == t.pid)
		fail_msg("the load outlasted the 3-second trace");
	assert_int_equal(trace_wait(&t), 0);

	char *out = slurp(t.out), *w[16], buf[512], ino[32];
	/* per-second lines, then the summary */
	assert_non_null(strstr(out, "   1.0s  io_uring"));
	assert_non_null(strstr(out, "\nio_uring operations"));
	/* the broker's appends: io_uring WRITEVs (and their linked FSYNCs, acks durable) */
	assert_true(row(out, "WRITEV ", false, w, 16, buf, sizeof(buf)) == 11);
	assert_true(atoll(w[1]) > 0 && atoll(w[2]) > 0); /* submitted, completed */
	assert_true(row(out, "FSYNC ", false, w, 16, buf, sizeof(buf)) == 11);
	assert_true(atoll(w[2]) > 0);
	/* page-cache misses on the evicted segment's inode */
	snprintf(ino, sizeof(ino), " %" PRIu64 " ", (uint64_t)st.st_ino);
	assert_true(row(out, ino, true, w, 16, buf, sizeof(buf)) == 11);
	assert_string_equal(w[0], "traced-0");
	assert_string_equal(w[1], "00000000000000000000.log");
	if (atoll(w[6]) <= 0)
		fail_msg("no page-cache misses on inode%s:\n%s", ino, out);
	assert_true(atoll(w[3]) > 0); /* the read asked for its pages */
	assert_non_null(strstr(out, "\nhit ratio per partition\n  traced-0 "));
	assert_non_null(strstr(out, "\nbytes moved by pid "));
	free(out);
	assert_int_equal(tu_fixture_stop(f), 0);
}

/* Without --seconds it runs until SIGINT, then prints its summary and exits 0. */
static void test_trace_ends_at_sigint_with_a_summary(void **state)
{
	(void)state;
	struct tu_fixture *f = tu_fixture_start("trace-int", NULL);
	assert_non_null(f);
	struct trace t;
	static const char *const args[] = { "-q", NULL };
	trace_start(&t, f->root, f->dir, NULL, args);
	assert_true(trace_attached(&t));
	produce(f->dir, "quiet", 100, PAGEBUS_ACKS_APPENDED);
	kill(t.pid, SIGINT);
	assert_int_equal(trace_wait(&t), 0);
	char *out = slurp(t.out);
	assert_null(strstr(out, "1.0s  io_uring")); /* -q: no per-second lines */
	assert_non_null(strstr(out, "pagebus trace: pid "));
	assert_non_null(strstr(out, "\nWRITEV "));
	free(out);
	assert_int_equal(tu_fixture_stop(f), 0);
}

/* Not root: one line on stderr, nothing on stdout, exit 2. */
static void test_trace_not_root_is_one_line_and_exit_2(void **state)
{
	(void)state;
	if (tu_sh("command -v setpriv >/dev/null") != 0)
		skip();
	char *root = tu_tmpdir("trace-user");
	chmod(root, 0755);
	struct trace t;
	static const char *const prefix[] = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", NULL };
	trace_start(&t, root, root, prefix, NULL);
	assert_int_equal(trace_wait(&t), 2);
	char *err = slurp(t.err), *out = slurp(t.out);
	assert_non_null(strstr(err, "pagebus: trace: needs root"));
	assert_int_equal(strchr(err, '\n') - err + 1, (long)strlen(err));
	assert_string_equal(out, "");
	free(err);
	free(out);
	tu_rmrf(root);
	free(root);
}

/* tracefs not mounted (in a mount namespace of our own): trace mounts it and runs. */
static void test_trace_mounts_tracefs_when_missing(void **state)
{
	(void)state;
	if (tu_sh("command -v unshare >/dev/null && unshare -m true") != 0)
		skip();
	struct tu_fixture *f = tu_fixture_start("trace-mnt", NULL);
	assert_non_null(f);
	struct trace t;
	char script[4096];
	snprintf(script, sizeof(script),
		 "umount /sys/kernel/debug/tracing 2>/dev/null; umount /sys/kernel/tracing 2>/dev/null; "
		 "test ! -d /sys/kernel/tracing/events && exec \"$0\" \"$@\"");
	const char *const prefix[] = { "unshare", "-m", "--propagation", "private", "sh", "-c", script, NULL };
	static const char *const args[] = { "--seconds", "1", "-q", NULL };
	trace_start(&t, f->root, f->dir, prefix, args);
	assert_int_equal(trace_wait(&t), 0);
	assert_true(tu_file_contains(t.err, "pagebus: trace: mounted tracefs at /sys/kernel/tracing"));
	assert_true(tu_file_contains(t.out, "pagebus trace: pid "));
	assert_int_equal(tu_fixture_stop(f), 0);
}

/* No broker on DIR, or no such --pid: exit 1. */
static void test_trace_without_a_process_exits_1(void **state)
{
	(void)state;
	char *root = tu_tmpdir("trace-none");
	struct trace t;
	trace_start(&t, root, root, NULL, NULL);
	assert_int_equal(trace_wait(&t), 1);
	assert_true(tu_file_contains(t.err, "pagebus: trace: no broker pid in "));
	static const char *const args[] = { "--pid", "2147483647", "--seconds", "1", NULL };
	trace_start(&t, root, root, NULL, args);
	assert_int_equal(trace_wait(&t), 1);
	assert_true(tu_file_contains(t.err, "pagebus: trace: no process 2147483647 to trace"));
	tu_rmrf(root);
	free(root);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("test_trace: needs root to load BPF programs: skipped\n");
		return 77;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		printf("test_trace: this kernel has no BTF (/sys/kernel/btf/vmlinux): skipped\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trace_sees_broker_writes_and_page_cache_misses),
		cmocka_unit_test(test_trace_ends_at_sigint_with_a_summary),
		cmocka_unit_test(test_trace_not_root_is_one_line_and_exit_2),
		cmocka_unit_test(test_trace_mounts_tracefs_when_missing),
		cmocka_unit_test(test_trace_without_a_process_exits_1),
	};
	return cmocka_run_group_tests_name("trace", tests, NULL, NULL);
}
