/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cli.c — the `pagebus` command against a real broker, run as a shell user would:
 * topics, produce with keys and headers, consume with formats, counts, tails, named
 * offsets and follow mode, offsets, stat, and the errors and exit statuses.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h" /* pb_key_partition: where Kafka's partitioner puts a key */
#include "testutil.h"

#define DEADLINE_MS 30000 /* any one command; a bound, never a pace */

static char *g_root;
static char g_dir[600], g_log[600];
static pid_t g_broker = -1;

static const char *cli_path(void)
{
	static char path[4096];
	const char *build = getenv("BUILD");
	snprintf(path, sizeof(path), "%s/pagebus", build && *build ? build : "build");
	return path;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- running the command ------------------------------------------------------------- */

struct proc {
	pid_t pid;
	int in, out, err; /* our ends; -1 once closed */
	char *obuf, *ebuf;
	size_t olen, elen;
};

/* Starts pagebus argv[] (NULL-terminated, without the program), PAGEBUS_DIR = env_dir. */
static void spawn(struct proc *p, const char *const *argv, const char *env_dir)
{
	const char *args[64] = { cli_path() };
	int n = 1;
	while (argv[n - 1] && n < 63) {
		args[n] = argv[n - 1];
		n++;
	}
	args[n] = NULL;
	int in[2], out[2], err[2];
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	*p = (struct proc){ .pid = fork(), .in = in[1], .out = out[0], .err = err[0] };
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		if (env_dir)
			setenv("PAGEBUS_DIR", env_dir, 1);
		else
			unsetenv("PAGEBUS_DIR");
		execv(args[0], (char *const *)args);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	fcntl(p->in, F_SETFL, O_NONBLOCK);
	p->obuf = calloc(1, 1);
	p->ebuf = calloc(1, 1);
}

static void drain(int *fd, char **buf, size_t *len)
{
	char tmp[65536];
	ssize_t n = read(*fd, tmp, sizeof(tmp));
	if (n <= 0) {
		if (n == 0 || errno != EINTR) {
			close(*fd);
			*fd = -1;
		}
		return;
	}
	*buf = realloc(*buf, *len + (size_t)n + 1);
	memcpy(*buf + *len, tmp, (size_t)n);
	*len += (size_t)n;
	(*buf)[*len] = 0;
}

/*
 * Feeds input (closing stdin after it) and collects stdout and stderr until both end or
 * until stdout contains `until` (then returns 1 with the process still running). Fails
 * the test past DEADLINE_MS.
 */
static int pump(struct proc *p, const char **input, size_t *left, const char *until)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	while (p->out >= 0 || p->err >= 0) {
		if (until && strstr(p->obuf, until))
			return 1;
		if (p->in >= 0 && !*left) {
			close(p->in);
			p->in = -1;
		}
		struct pollfd fds[3] = { { p->out, POLLIN, 0 },
					 { p->err, POLLIN, 0 },
					 { p->in, POLLOUT, 0 } };
		int64_t wait = deadline - now_ms();
		if (wait <= 0) {
			kill(p->pid, SIGKILL);
			fail_msg("pagebus did not finish within %d ms; stdout so "
				 "far:\n%s\nstderr:\n%s",
				 DEADLINE_MS, p->obuf, p->ebuf);
		}
		if (poll(fds, 3, (int)wait) < 0)
			continue;
		if (fds[0].revents)
			drain(&p->out, &p->obuf, &p->olen);
		if (fds[1].revents)
			drain(&p->err, &p->ebuf, &p->elen);
		if (fds[2].revents & POLLOUT) {
			ssize_t n = write(p->in, *input, *left);
			if (n > 0) {
				*input += n;
				*left -= (size_t)n;
			}
		} else if (fds[2].revents) { /* it closed stdin early */
			close(p->in);
			p->in = -1;
		}
	}
	return 0;
}

/* Waits for the exit: its status, or 128 + the signal. */
static int reap(struct proc *p)
{
	if (p->in >= 0)
		close(p->in);
	int st;
	int64_t deadline = now_ms() + DEADLINE_MS;
	while (waitpid(p->pid, &st, WNOHANG) == 0) {
		if (now_ms() > deadline) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &st, 0);
			fail_msg("pagebus did not exit within %d ms", DEADLINE_MS);
		}
		usleep(1000);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

struct run {
	int status;
	char *out, *err;
};

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
	*r = (struct run){ 0 };
}

static void run_argv(struct run *r, const char *input, const char *const *argv, const char *env_dir)
{
	struct proc p;
	size_t left = input ? strlen(input) : 0;
	spawn(&p, argv, env_dir);
	pump(&p, &input, &left, NULL);
	r->status = reap(&p);
	r->out = p.obuf;
	r->err = p.ebuf;
}

/* pagebus --dir <the test broker's dir> ARGS..., stdin = input (NULL: empty). */
#define CLI(r, input, ...)                                                                         \
	run_argv(r, input, (const char *const[]){ "--dir", g_dir, __VA_ARGS__, NULL }, NULL)

/* Runs a command that must succeed and returns its stdout (the caller frees). */
#define OK(input, ...)                                                                             \
	({                                                                                         \
		struct run r_;                                                                     \
		CLI(&r_, input, __VA_ARGS__);                                                      \
		if (r_.status != 0) {                                                              \
			char m_[4096];                                                             \
			snprintf(m_, sizeof(m_), "exit %d, stderr: %s", r_.status, r_.err);        \
			run_free(&r_);                                                             \
			fail_msg("%s", m_);                                                        \
		}                                                                                  \
		free(r_.err);                                                                      \
		r_.out;                                                                            \
	})

static void assert_output(char *out, const char *want)
{
	assert_string_equal(out, want);
	free(out);
}

/* ---- fixture: one broker for the whole group, a topic name per case ----------------------- */

static int group_setup(void **state)
{
	(void)state;
	g_root = tu_tmpdir("cli");
	snprintf(g_dir, sizeof(g_dir), "%s/data", g_root);
	snprintf(g_log, sizeof(g_log), "%s/pagebusd.log", g_root);
	static const char *const args[] = { "--kafka.listen", "off", NULL };
	g_broker = tu_broker_start(g_dir, g_log, args, NULL);
	if (g_broker < 0 || access(cli_path(), X_OK) != 0) {
		fprintf(stderr, "no broker (log %s) or no %s\n", g_log, cli_path());
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	int rc = g_broker > 0 ? tu_broker_stop_clean(g_broker, g_log) : 0;
	if (rc == 0)
		tu_rmrf(g_root);
	free(g_root);
	return rc;
}

/* The lag stat shows for a named consumer of topic partition 0, or -1 when absent. */
static long long stat_lag(const char *name, const char *topic, long long *next)
{
	char *out = OK(NULL, "stat");
	long long lag = -1;
	char n[64], t[64];
	int part;
	for (const char *l = strstr(out, "\nconsumer "); l; l = strchr(l + 1, '\n'))
		if (sscanf(l, " %63s %63s %d %lld %lld", n, t, &part, next, &lag) == 5 &&
		    !strcmp(n, name) && !strcmp(t, topic) && part == 0)
			break;
		else
			lag = -1;
	free(out);
	return lag;
}

/* ---- cases ------------------------------------------------------------------------------- */

static void test_cli_round_trip_with_keys_and_headers(void **state)
{
	(void)state;
	assert_output(OK(NULL, "topics", "create", "rt", "-p", "2"),
		      "created topic rt with 2 partitions\n");
	struct run r;
	CLI(&r, "k1:v1\nk2:v:2\nnokey\n:emptykey\nlast:no newline", "produce", "rt", "-p", "1",
	    "-K", ":", "-H", "a=1", "-H", "b=2");
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err,
			    "pagebus: produced 5 messages to rt (partition 1: last offset 4)\n");
	run_free(&r);
	assert_output(OK(NULL, "consume", "rt", "-p", "1", "-o", "beginning", "-e", "-f",
			 "%p %o %k %s %h\\n"),
		      "1 0 k1 v1 a=1,b=2\n"
		      "1 1 k2 v:2 a=1,b=2\n"
		      "1 2  nokey a=1,b=2\n"
		      "1 3  emptykey a=1,b=2\n"
		      "1 4 last no newline a=1,b=2\n");
	/* lengths (-1: null key), topic, escapes, a literal % */
	assert_output(
		OK(NULL, "consume", "rt", "-p", "1", "-e", "-c", "3", "-f", "%t\\t%K %S 100%%\\n"),
		"rt\t2 2 100%\nrt\t2 3 100%\nrt\t-1 5 100%\n");
	/* a timestamp within the last day, in ms */
	char *ts = OK(NULL, "consume", "rt", "-p", "1", "-c", "1", "-f", "%T");
	int64_t t = strtoll(ts, NULL, 10), wall = pb_wall_ms();
	assert_true(t > wall - 86400000 && t <= wall);
	free(ts);
	/* default format: the value and a newline; partition 0 got nothing */
	assert_output(OK(NULL, "consume", "rt", "-p", "1", "-e", "-c", "2"), "v1\nv:2\n");
	assert_output(OK(NULL, "consume", "rt", "-p", "0", "-e"), "");
}

static void test_cli_keys_land_where_murmur2_says(void **state)
{
	(void)state;
	static const char *const keys[] = { "alice", "bob", "carol", "dave", "erin" };
	assert_output(OK(NULL, "topics", "create", "keyed", "-p", "3"),
		      "created topic keyed with 3 partitions\n");
	char *in = OK("alice=1\nbob=2\ncarol=3\ndave=4\nerin=5\n", "produce", "keyed", "-K", "=");
	free(in);
	char want[3][256] = { "", "", "" };
	for (int i = 0; i < 5; i++) {
		int32_t p = pb_key_partition(keys[i], strlen(keys[i]), 3);
		char line[64];
		snprintf(line, sizeof(line), "%s=%d\n", keys[i], i + 1);
		strcat(want[p], line); /* one partition keeps its keys' order */
	}
	for (int p = 0; p < 3; p++)
		assert_true(want[p][0]); /* these keys cover every partition */
	for (int p = 0; p < 3; p++) {
		char part[16];
		snprintf(part, sizeof(part), "%d", p);
		assert_output(OK(NULL, "consume", "keyed", "-p", part, "-e", "-f", "%k=%s\\n"),
			      want[p]);
	}
}

static void test_cli_offsets_and_tails(void **state)
{
	(void)state;
	free(OK("a\nb\nc\nd\ne\n", "produce", "tail"));
	assert_output(OK(NULL, "consume", "tail", "-c", "2"),
		      "a\nb\n"); /* follow mode, stopped by -c */
	assert_output(OK(NULL, "consume", "tail", "-o", "-1", "-e"), "e\n");
	assert_output(OK(NULL, "consume", "tail", "-o", "-2", "-c", "2"), "d\ne\n");
	assert_output(OK(NULL, "consume", "tail", "-o", "-100", "-e", "-c", "1"),
		      "a\n"); /* clamped */
	assert_output(OK(NULL, "consume", "tail", "-o", "3", "-e"), "d\ne\n");
	assert_output(OK(NULL, "consume", "tail", "-o", "end", "-e"), "");
	assert_output(OK(NULL, "consume", "tail", "-o", "@0", "-e", "-c", "1"), "a\n");
	assert_output(OK(NULL, "consume", "tail", "-c", "9", "-e"), "a\nb\nc\nd\ne\n");
	assert_output(OK(NULL, "offsets", "tail"),
		      "partition  log_start  hwm\n0          0          5\n");
	assert_output(OK(NULL, "offsets", "tail", "-p", "0", "--time", "0"),
		      "partition  log_start  hwm  offset_at_0\n0          0          5    0\n");
	/* nothing that late: the high watermark */
	assert_output(OK(NULL, "offsets", "tail", "--time", "99999999999999"),
		      "partition  log_start  hwm  offset_at_99999999999999\n"
		      "0          0          5    5\n");
}

static void test_cli_named_offsets_resume_and_commit(void **state)
{
	(void)state;
	free(OK("1\n2\n3\n4\n5\n", "produce", "named"));
	assert_output(OK(NULL, "consume", "named", "-c", "3", "-g", "g1"), "1\n2\n3\n");
	assert_output(OK(NULL, "consume", "named", "-g", "g1", "-e"), "4\n5\n");
	assert_output(OK(NULL, "consume", "named", "-g", "g1", "-e"), "");
	free(OK("6\n7\n", "produce", "named"));
	long long next;
	assert_int_equal(stat_lag("g1", "named", &next), 2);
	assert_int_equal(next, 5);
	/* a stored offset wins over -o */
	assert_output(OK(NULL, "consume", "named", "-g", "g1", "-o", "beginning", "-e"), "6\n7\n");
	/* a new name starts at -o */
	assert_output(OK(NULL, "consume", "named", "-g", "g2", "-o", "-1", "-e"), "7\n");
	assert_int_equal(stat_lag("g1", "named", &next), 0);
	assert_int_equal(next, 7);
	assert_int_equal(stat_lag("g2", "named", &next), 0);
	assert_int_equal(next, 7);
}

static void test_cli_consumes_every_partition_without_p(void **state)
{
	(void)state;
	assert_output(OK(NULL, "topics", "create", "multi", "-p", "3"),
		      "created topic multi with 3 partitions\n");
	free(OK("a\nb\n", "produce", "multi", "-p", "0"));
	free(OK("c\n", "produce", "multi", "-p", "2"));
	char *out = OK(NULL, "consume", "multi", "-e", "-f", "%p:%o:%s\\n");
	/* partitions interleave in any order; each keeps its own */
	assert_int_equal(strlen(out), strlen("0:0:a\n0:1:b\n2:0:c\n"));
	char *a = strstr(out, "0:0:a\n"), *b = strstr(out, "0:1:b\n");
	assert_non_null(a);
	assert_non_null(b);
	assert_true(a < b);
	assert_non_null(strstr(out, "2:0:c\n"));
	free(out);
	assert_output(OK(NULL, "consume", "multi", "-e", "-c", "1", "-p", "2"), "c\n");
}

static void test_cli_follow_sees_new_lines_and_ends_on_sigint(void **state)
{
	(void)state;
	assert_output(OK(NULL, "topics", "create", "follow"),
		      "created topic follow with 1 partition\n");
	struct proc p;
	const char *none = "";
	size_t left = 0;
	spawn(&p,
	      (const char *const[]){ "--dir", g_dir, "consume", "follow", "-g", "f", "-f", "<%s>",
				     NULL },
	      NULL);
	free(OK("hello\n", "produce", "follow"));
	assert_int_equal(pump(&p, &none, &left, "<hello>"), 1);
	free(OK("world\n", "produce", "follow"));
	assert_int_equal(pump(&p, &none, &left, "<world>"), 1);
	kill(p.pid, SIGINT);
	pump(&p, &none, &left, NULL);
	assert_int_equal(reap(&p), 0);
	assert_string_equal(p.obuf, "<hello><world>");
	assert_string_equal(p.ebuf, "");
	free(p.obuf);
	free(p.ebuf);
	long long next;
	assert_int_equal(stat_lag("f", "follow", &next), 0);
	assert_int_equal(next, 2);
}

static void test_cli_produce_acks_and_summary(void **state)
{
	(void)state;
	struct run r;
	CLI(&r, "x\ny\n", "produce", "acks", "--acks", "durable", "-H", "flag");
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err,
			    "pagebus: produced 2 messages to acks (partition 0: last offset 1)\n");
	run_free(&r);
	CLI(&r, "z\n", "produce", "acks", "--acks", "none");
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err,
			    "pagebus: produced 1 message to acks (partition 0: last offset 2)\n");
	run_free(&r);
	CLI(&r, NULL, "produce", "acks", "--acks", "appended");
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "pagebus: produced 0 messages to acks\n");
	run_free(&r);
	/* an empty line is an empty message; a bare -H key has a null value */
	CLI(&r, "\n", "produce", "acks");
	assert_int_equal(r.status, 0);
	run_free(&r);
	assert_output(OK(NULL, "consume", "acks", "-e", "-f", "[%s|%h|%S]\\n"),
		      "[x|flag|1]\n[y|flag|1]\n[z||1]\n[||0]\n");
	CLI(&r, "q\n", "produce", "acks", "-p", "9");
	assert_int_equal(r.status, 1);
	assert_string_equal(
		r.err, "pagebus: produce acks: partition 9 does not exist (the topic has 1)\n");
	run_free(&r);
}

static void test_cli_topics_list_describe_delete(void **state)
{
	(void)state;
	assert_output(OK(NULL, "topics", "create", "adm", "-p", "2", "--config",
			 "retention.ms=60000", "--config", "segment.bytes=1M"),
		      "created topic adm with 2 partitions\n");
	free(OK("m\n", "produce", "adm", "-p", "1"));
	char *out = OK(NULL, "topics", "list");
	assert_true(!strncmp(out, "topic ", 6));
	assert_non_null(strstr(out, "\nadm "));
	free(out);
	out = OK(NULL, "topics", "describe", "adm");
	assert_true(!strncmp(out, "topic       adm\nid          ", 28));
	assert_non_null(strstr(out, "\npartitions  2\n"));
	assert_non_null(strstr(out, "\nconfig      retention.ms=60000\n"));
	assert_non_null(strstr(out, "\nconfig      segment.bytes=1M\n"));
	assert_non_null(strstr(out, "\n\npartition  log_start  hwm  segments  bytes\n"
				    "0          0          0    1         0\n"
				    "1          0          1    1         "));
	free(out);
	struct run r;
	CLI(&r, NULL, "topics", "create", "adm");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "pagebus: topics create adm: "));
	assert_non_null(strstr(r.err, "adm"));
	run_free(&r);
	assert_output(OK(NULL, "topics", "delete", "adm"), "deleted topic adm\n");
	out = OK(NULL, "topics", "list");
	assert_null(strstr(out, "\nadm "));
	free(out);
	CLI(&r, NULL, "topics", "describe", "adm");
	assert_int_equal(r.status, 1);
	assert_string_equal(
		r.err,
		"pagebus: topics describe adm: No such file or directory (unknown topic 'adm')\n");
	run_free(&r);
}

static void test_cli_stat_lists_partitions_and_cache(void **state)
{
	(void)state;
	assert_output(OK(NULL, "topics", "create", "st", "-p", "2"),
		      "created topic st with 2 partitions\n");
	free(OK("one\ntwo\n", "produce", "st", "-p", "1"));
	char *out = OK(NULL, "stat");
	assert_true(!strncmp(out, "topic ", 6));
	assert_non_null(strstr(out, "  partition  log_start  hwm  segments  bytes  cached\n"));
	char *row = strstr(out, "\nst ");
	assert_non_null(row);
	char topic[32], cached[32];
	int part;
	long long start, hwm, segs, bytes;
	assert_int_equal(sscanf(row, " %31s %d %lld %lld %lld %lld %31s", topic, &part, &start,
				&hwm, &segs, &bytes, cached),
			 7);
	assert_int_equal(part, 0);
	assert_int_equal(hwm, 0);
	row = strstr(row + 1, "\nst ");
	assert_non_null(row);
	assert_int_equal(sscanf(row, " %31s %d %lld %lld %lld %lld %31s", topic, &part, &start,
				&hwm, &segs, &bytes, cached),
			 7);
	assert_int_equal(part, 1);
	assert_int_equal(hwm, 2);
	assert_int_equal(segs, 1);
	assert_true(bytes > 0);
	/* the tail just written is in the page cache, or the files are unreadable */
	assert_true(!strcmp(cached, "n/a") || strtoll(cached, NULL, 10) > 0);
	free(out);
}

/* A command line and what it must give: an error is exactly one stderr line. */
struct expect {
	int status;
	const char *err; /* contained in that line; NULL: success, usage on stdout */
	const char *argv[8];
};

static void check(const struct expect *e)
{
	const char *args[12] = { "--dir", g_dir };
	for (int i = 0; e->argv[i]; i++)
		args[i + 2] = e->argv[i];
	struct run r;
	run_argv(&r, NULL, args, NULL);
	bool ok = r.status == e->status;
	if (e->err)
		ok = ok && strstr(r.err, e->err) &&
		     strchr(r.err, '\n') == r.err + strlen(r.err) - 1 && !*r.out;
	else
		ok = ok && !*r.err && !strncmp(r.out, "usage: pagebus [--dir DIR] ", 27);
	if (!ok) {
		char m[4096];
		snprintf(m, sizeof(m), "pagebus %s %s: exit %d (want %d), stderr: %s", e->argv[0],
			 e->argv[1] ? e->argv[1] : "", r.status, e->status, r.err);
		run_free(&r);
		fail_msg("%s", m);
	}
	run_free(&r);
}

static void test_cli_errors_and_exit_statuses(void **state)
{
	(void)state;
	static const struct expect cases[] = {
		{ 2,
		  "pagebus: unknown command 'frobnicate' (see 'pagebus --help')\n",
		  { "frobnicate" } },
		{ 2, "pagebus: unknown option '--bogus' (see 'pagebus --help')\n", { "--bogus" } },
		{ 2, "pagebus: topics: missing create, list, describe or delete", { "topics" } },
		{ 2,
		  "pagebus: consume: missing TOPIC (see 'pagebus consume --help')\n",
		  { "consume" } },
		{ 2, "pagebus: consume: unknown option '-x' (see", { "consume", "t", "-x" } },
		{ 2, "pagebus: consume: unexpected argument 'b'", { "consume", "a", "b" } },
		{ 2, "unknown code '%z'", { "consume", "t", "-f", "%z" } },
		{ 2, "-o: 'soon' is not beginning, end", { "consume", "t", "-o", "soon" } },
		{ 2,
		  "--acks: 'maybe' is not none, appended or durable",
		  { "produce", "t", "--acks", "maybe" } },
		{ 2, "-p: '0' is not a partition count", { "topics", "create", "x", "-p", "0" } },
		{ 2,
		  "--config: 'retention' is not KEY=VALUE",
		  { "topics", "create", "x", "--config", "retention" } },
		{ 2,
		  "pagebus: offsets: option '--time' needs a value (see 'pagebus offsets "
		  "--help')\n",
		  { "offsets", "t", "--time" } },
		{ 1,
		  "pagebus: consume nosuchtopic: No such file or directory (unknown topic "
		  "'nosuchtopic')\n",
		  { "consume", "nosuchtopic", "-e" } },
		{ 1, "pagebus: offsets nosuchtopic: ", { "offsets", "nosuchtopic" } },
		{ 1,
		  "pagebus: topics delete nosuchtopic: ",
		  { "topics", "delete", "nosuchtopic" } },
		{ 1,
		  "pagebus: topics create bad/name: Invalid argument",
		  { "topics", "create", "bad/name" } },
		{ 0, NULL, { "--help" } },
		{ 0, NULL, { "topics", "--help" } },
		{ 0, NULL, { "topics", "create", "--help" } },
		{ 0, NULL, { "topics", "list", "--help" } },
		{ 0, NULL, { "topics", "describe", "-h" } },
		{ 0, NULL, { "topics", "delete", "--help" } },
		{ 0, NULL, { "produce", "--help" } },
		{ 0, NULL, { "consume", "--help" } },
		{ 0, NULL, { "offsets", "--help" } },
		{ 0, NULL, { "stat", "--help" } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(&cases[i]);
}

static void test_cli_empty_broker_lists_nothing(void **state)
{
	(void)state;
	char dir[700], log[700];
	snprintf(dir, sizeof(dir), "%s/empty", g_root);
	snprintf(log, sizeof(log), "%s/empty.log", g_root);
	static const char *const args[] = { "--kafka.listen", "off", NULL };
	pid_t broker = tu_broker_start(dir, log, args, NULL);
	assert_true(broker > 0);
	struct run r;
	run_argv(&r, NULL, (const char *const[]){ "--dir", dir, "topics", "list", NULL }, NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "topic  partitions\n");
	run_free(&r);
	run_argv(&r, NULL, (const char *const[]){ "--dir", dir, "stat", NULL }, NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "topic  partition  log_start  hwm  segments  bytes  cached\n\n"
				   "no named consumers\n");
	assert_string_equal(r.err, "");
	run_free(&r);
	assert_int_equal(tu_broker_stop_clean(broker, log), 0);
}

static void test_cli_dir_from_env_and_no_broker(void **state)
{
	(void)state;
	struct run r;
	run_argv(&r, NULL, (const char *const[]){ "topics", "list", NULL }, g_dir);
	assert_int_equal(r.status, 0);
	assert_true(!strncmp(r.out, "topic ", 6));
	run_free(&r);
	char empty[700];
	snprintf(empty, sizeof(empty), "%s/nobroker", g_root);
	run_argv(&r, NULL, (const char *const[]){ "--dir", empty, "topics", "list", NULL }, g_dir);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "is pagebusd running?"));
	assert_non_null(strstr(r.err, empty));
	assert_ptr_equal(strchr(r.err, '\n'), r.err + strlen(r.err) - 1); /* one line */
	run_free(&r);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cli_round_trip_with_keys_and_headers),
		cmocka_unit_test(test_cli_keys_land_where_murmur2_says),
		cmocka_unit_test(test_cli_offsets_and_tails),
		cmocka_unit_test(test_cli_named_offsets_resume_and_commit),
		cmocka_unit_test(test_cli_consumes_every_partition_without_p),
		cmocka_unit_test(test_cli_follow_sees_new_lines_and_ends_on_sigint),
		cmocka_unit_test(test_cli_produce_acks_and_summary),
		cmocka_unit_test(test_cli_topics_list_describe_delete),
		cmocka_unit_test(test_cli_stat_lists_partitions_and_cache),
		cmocka_unit_test(test_cli_errors_and_exit_statuses),
		cmocka_unit_test(test_cli_empty_broker_lists_nothing),
		cmocka_unit_test(test_cli_dir_from_env_and_no_broker),
	};
	return cmocka_run_group_tests_name("cli", tests, group_setup, group_teardown);
}
