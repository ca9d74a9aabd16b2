/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pagebus-produce-bench — produce throughput through a real pagebusd: forked libpagebus
 * producers into one partition, verify.crc on vs off run interleaved (the ratio is the
 * CRC cost on the append path), and the broker's CPU seconds per million messages.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "pagebus.h"

#define MAX_RUNS 100
#define MAX_PRODUCERS 64
#define TOPIC "bench"
#define READY_TIMEOUT_MS 20000		   /* broker ready line, producers connected */
#define RUN_TIMEOUT_MS 120000		   /* one run's sends and flushes */
#define DEFAULT_VALUE_BYTES (256ull << 20) /* values per producer and run, by default */

struct opts {
	int runs;
	uint64_t messages; /* per producer; 0: msgs_for(size) */
	size_t sizes[2];
	int nsizes;
	int producers;
	int acks;
	const char *acks_name;
	const char *pagebusd;
};

/* What one run measured. */
struct sample {
	double wall; /* s, start signal to the last flush */
	double cpu;  /* broker CPU s over the same window */
};

/* Written by each producer process into a shared page. */
struct child_result {
	double t_end; /* when its flush returned */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Sorts v in place; returns the median. */
static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static void rmrf(const char *dir)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", dir);
}

/* Last lines of the broker's log, to explain a failure. */
static void show_log(const char *path)
{
	char cmd[4200];
	fprintf(stderr, "--- %s (tail) ---\n", path);
	snprintf(cmd, sizeof(cmd), "tail -n 20 '%s' >&2", path);
	if (system(cmd) != 0)
		fprintf(stderr, "(no log)\n");
}

static int file_contains(const char *path, const char *needle)
{
	char buf[8192];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return strstr(buf, needle) != NULL;
}

/*
 * CPU time of every thread of pid, io_uring workers included (dead ones too), in
 * seconds: the process CPU clock (ns resolution), which is utime + stime unscaled.
 * Falls back to utime + stime from /proc/PID/stat (clock ticks).
 */
static double proc_cpu_s(pid_t pid)
{
	clockid_t cid;
	struct timespec ts;
	if (!clock_getcpuclockid(pid, &cid) && !clock_gettime(cid, &ts))
		return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	char path[64], buf[2048];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	/* fields after "(comm)": state is field 3, utime 14, stime 15 */
	char *p = strrchr(buf, ')');
	unsigned long long ut, st;
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Starts pagebusd on dir, stderr to log; waits for its ready line. Returns its pid or -1. */
static pid_t broker_start(const struct opts *o, const char *dir, const char *log, int crc)
{
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0)
			dup2(fd, 2);
		execl(o->pagebusd, o->pagebusd, "--dir", dir, "--verify.crc",
		      crc ? "true" : "false", "--log.level", "warn", (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", o->pagebusd, strerror(errno));
		_exit(127);
	}
	for (int ms = 0; ms < READY_TIMEOUT_MS; ms += 5) {
		if (file_contains(log, "pagebusd ready"))
			return pid;
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			fprintf(stderr, "pagebusd exited before it was ready (status %d)\n",
				WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
			show_log(log);
			return -1;
		}
		usleep(5000);
	}
	fprintf(stderr, "pagebusd not ready after %d ms\n", READY_TIMEOUT_MS);
	show_log(log);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/* SIGTERM (the broker drains and exits 0); SIGKILL after 30 s. Returns 0 on a clean exit. */
static int broker_stop(pid_t pid)
{
	int st = 0;
	kill(pid, SIGTERM);
	for (int i = 0; i < 3000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/* Messages per producer: --messages, else 256 MiB of values (100k to 4M messages). */
static uint64_t msgs_for(const struct opts *o, size_t size)
{
	if (o->messages)
		return o->messages;
	uint64_t n = DEFAULT_VALUE_BYTES / (size ? size : 1);
	return n < 100000 ? 100000 : n > 4000000 ? 4000000 : n;
}

/* One producer process: connect, open, say ready, wait for the start, send, flush. */
static void producer_main(const struct opts *o, const char *dir, size_t size, int ready_w,
			  int start_r, struct child_result *res)
{
	struct pagebus *pb;
	struct pagebus_producer *p = NULL;
	struct pagebus_producer_opts po = PAGEBUS_OPTS(pagebus_producer_opts, .acks = o->acks);
	char *val = malloc(size ? size : 1), c = 0;
	int err = val ? pagebus_connect(dir, &pb) : -ENOMEM;
	if (!err && (err = pagebus_producer_open(pb, TOPIC, &po, &p)) < 0)
		fprintf(stderr, "producer open: %s (%s)\n", pagebus_strerror(err),
			pagebus_last_error(pb));
	else if (err)
		fprintf(stderr, "connect %s: %s\n", dir, pagebus_strerror(err));
	if (err) {
		c = 'E'; /* tells the parent not to wait for the others */
		ssize_t w = write(ready_w, &c, 1);
		(void)w;
		_exit(1);
	}
	memset(val, 'v', size);
	if (write(ready_w, &c, 1) != 1 || read(start_r, &c, 1) < 0)
		_exit(1);
	for (uint64_t i = 0, n = msgs_for(o, size); i < n && !err; i++)
		err = pagebus_send(p, 0, NULL, 0, val, size);
	if (!err)
		err = pagebus_flush(p, RUN_TIMEOUT_MS);
	res->t_end = now_s();
	if (err)
		fprintf(stderr, "producer: send/flush: %s\n", pagebus_strerror(err));
	pagebus_producer_close(p);
	pagebus_close(pb);
	_exit(err ? 1 : 0);
}

/* Creates the topic up front, so topic creation is not part of the timed window. */
static int create_topic(const char *dir)
{
	struct pagebus *pb;
	int err = pagebus_connect(dir, &pb);
	if (err) {
		fprintf(stderr, "connect %s: %s\n", dir, pagebus_strerror(err));
		return -1;
	}
	err = pagebus_topic_create(pb, TOPIC, 1);
	if (err < 0 && err != -EEXIST)
		fprintf(stderr, "topic create: %s (%s)\n", pagebus_strerror(err),
			pagebus_last_error(pb));
	pagebus_close(pb);
	return err < 0 && err != -EEXIST ? -1 : 0;
}

/* Waits for every producer (killing them all past the deadline). 0 when all exited 0. */
static int reap_producers(pid_t *kids, int n, double deadline)
{
	int left = n, bad = 0;
	while (left) {
		/* by pid: waitpid(-1) could reap the broker too */
		for (int i = 0; i < n; i++) {
			int st;
			if (kids[i] > 0 && waitpid(kids[i], &st, WNOHANG) == kids[i]) {
				kids[i] = 0;
				left--;
				bad |= !WIFEXITED(st) || WEXITSTATUS(st);
			}
		}
		if (!left)
			break;
		if (now_s() > deadline) {
			fprintf(stderr, "producers still running after %d s: killing them\n",
				RUN_TIMEOUT_MS / 1000);
			for (int i = 0; i < n; i++)
				if (kids[i] > 0) {
					kill(kids[i], SIGKILL);
					waitpid(kids[i], NULL, 0);
				}
			return -1;
		}
		usleep(1000);
	}
	return bad ? -1 : 0;
}

/* One run: a fresh broker and dir, the producers, the timing. 0 or -1. */
static int run_once(const struct opts *o, size_t size, int crc, struct sample *out)
{
	const char *tmp = getenv("TMPDIR");
	char dir[4096], log[4200];
	snprintf(dir, sizeof(dir), "%s/pagebus-produce-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return -1;
	}
	/* the log sits next to the data dir, not in it, so a failure can still show it */
	snprintf(log, sizeof(log), "%s.log", dir);
	int ret = -1, ready[2] = { -1, -1 }, start[2] = { -1, -1 }, n = 0;
	pid_t kids[MAX_PRODUCERS] = { 0 };
	struct child_result *res = mmap(NULL, sizeof(*res) * MAX_PRODUCERS, PROT_READ | PROT_WRITE,
					MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t broker = -1;
	if (res == MAP_FAILED || (broker = broker_start(o, dir, log, crc)) < 0)
		goto out;
	if (create_topic(dir) || pipe(ready) || pipe(start))
		goto out_broker;
	for (; n < o->producers; n++) {
		res[n].t_end = 0;
		if ((kids[n] = fork()) < 0) {
			perror("fork");
			break;
		}
		if (kids[n] == 0) {
			close(ready[0]);
			close(start[1]);
			producer_main(o, dir, size, ready[1], start[0], &res[n]);
		}
	}
	close(ready[1]);
	close(start[0]);
	ready[1] = start[0] = -1;
	/* every producer connected with its ring open, or one failed (EOF) */
	int got = 0;
	char c;
	struct pollfd pfd = { ready[0], POLLIN, 0 };
	while (got < n && poll(&pfd, 1, READY_TIMEOUT_MS) == 1 && read(ready[0], &c, 1) == 1 && !c)
		got++;
	if (got < o->producers) {
		fprintf(stderr, "only %d of %d producers got ready\n", got, o->producers);
		close(start[1]);
		start[1] = -1;
		reap_producers(kids, n, now_s() + 5);
		goto out_broker;
	}
	double cpu0 = proc_cpu_s(broker), t0 = now_s();
	close(start[1]); /* EOF on every producer's read: go */
	start[1] = -1;
	int bad = reap_producers(kids, n, t0 + RUN_TIMEOUT_MS / 1000.0);
	double cpu1 = proc_cpu_s(broker), t_end = 0;
	for (int i = 0; i < n; i++)
		if (res[i].t_end > t_end)
			t_end = res[i].t_end;
	if (bad || cpu0 < 0 || cpu1 < 0) {
		fprintf(stderr, "run failed (size %zu, verify.crc %s)\n", size,
			crc ? "true" : "false");
		show_log(log);
		goto out_broker;
	}
	out->wall = t_end - t0;
	out->cpu = cpu1 - cpu0;
	ret = 0;
out_broker:
	if (broker > 0 && broker_stop(broker)) {
		fprintf(stderr, "pagebusd did not stop cleanly\n");
		show_log(log);
		ret = -1;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (ready[i] >= 0)
			close(ready[i]);
		if (start[i] >= 0)
			close(start[i]);
	}
	if (res != MAP_FAILED)
		munmap(res, sizeof(*res) * MAX_PRODUCERS);
	rmrf(dir);
	if (!ret)
		unlink(log);
	return ret;
}

/* "median (min-max)" of v, which gets sorted. */
static const char *fmt_range(char *buf, size_t len, double *v, int n, const char *fmt)
{
	char a[32], b[32], m[32];
	double med = median(v, n);
	snprintf(m, sizeof(m), fmt, med);
	snprintf(a, sizeof(a), fmt, v[0]);
	snprintf(b, sizeof(b), fmt, v[n - 1]);
	snprintf(buf, len, "%s (%s-%s)", m, a, b);
	return buf;
}

static void report(const struct opts *o, size_t size, int crc, const struct sample *s)
{
	double msgs = (double)msgs_for(o, size) * o->producers, rate[MAX_RUNS], mbs[MAX_RUNS],
	       cpu[MAX_RUNS];
	for (int r = 0; r < o->runs; r++) {
		rate[r] = msgs / s[r].wall;
		mbs[r] = msgs * (double)size / s[r].wall / 1e6;
		cpu[r] = s[r].cpu / msgs * 1e6;
	}
	char b1[128], b2[128], b3[128];
	printf("%-6zu %-4s %28s %20s %18s\n", size, crc ? "on" : "off",
	       fmt_range(b1, sizeof(b1), rate, o->runs, "%.0f"),
	       fmt_range(b2, sizeof(b2), mbs, o->runs, "%.1f"),
	       fmt_range(b3, sizeof(b3), cpu, o->runs, "%.2f"));
}

/* The floor under the CRC cost: crc32c() alone, in this process, on 64 KiB batches. */
static void crc_speed(void)
{
	size_t len = 64 * 1024;
	uint8_t *buf = malloc(len);
	if (!buf)
		return;
	memset(buf, 0x5a, len);
	uint32_t acc = 0;
	int reps = 4096; /* 256 MiB */
	double t0 = now_s();
	for (int i = 0; i < reps; i++)
		acc ^= crc32c(buf, len);
	double t = now_s() - t0, gbs = (double)len * reps / t / 1e9;
	printf("# crc32c alone (%s, hot 64 KiB buffer): %.1f GB/s = %.0f ns per 1 KiB value "
	       "(x%u)\n",
	       crc32c_hw_available() ? "sse4.2" : "software", gbs, 1024 / gbs, acc & 1);
	free(buf);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pagebus-produce-bench [--runs N] [--messages N] [--size BYTES] "
		"[--producers N]\n"
		"                             [--acks none|appended|durable] [--pagebusd PATH]\n"
		"  Starts a real pagebusd on a fresh temp dir ($TMPDIR or /tmp) per run, forks N\n"
		"  producers (default 1) that each send --messages values of --size bytes\n"
		"  (default: 64 and 1024; messages default to 256 MiB of values, 100k-4M) to one\n"
		"  partition and flush, and reports\n"
		"  msgs/s, MB/s of values and the broker's CPU s per million messages: medians of\n"
		"  --runs (default 5) with min-max, for verify.crc on and off run interleaved,\n"
		"  and the on/off ratios (the CRC cost). --pagebusd defaults to build/pagebusd.\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "runs", required_argument, NULL, 'r' },
		{ "messages", required_argument, NULL, 'm' },
		{ "size", required_argument, NULL, 's' },
		{ "producers", required_argument, NULL, 'p' },
		{ "acks", required_argument, NULL, 'a' },
		{ "pagebusd", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	*o = (struct opts){ .runs = 5,
			    .messages = 0,
			    .sizes = { 64, 1024 },
			    .nsizes = 2,
			    .producers = 1,
			    .acks = PAGEBUS_ACKS_APPENDED,
			    .acks_name = "appended",
			    .pagebusd = "build/pagebusd" };
	uint64_t v = 0;
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'r':
		case 'p':
			if (parse_u64(optarg, 1, c == 'r' ? MAX_RUNS : MAX_PRODUCERS, &v))
				goto bad;
			*(c == 'r' ? &o->runs : &o->producers) = (int)v;
			break;
		case 'm':
			if (parse_u64(optarg, 1, UINT32_MAX, &o->messages))
				goto bad;
			break;
		case 's':
			if (parse_u64(optarg, 0, 512 * 1024, &v))
				goto bad;
			o->sizes[0] = v;
			o->nsizes = 1;
			break;
		case 'a':
			o->acks_name = optarg;
			if (!strcmp(optarg, "none"))
				o->acks = PAGEBUS_ACKS_NONE;
			else if (!strcmp(optarg, "appended"))
				o->acks = PAGEBUS_ACKS_APPENDED;
			else if (!strcmp(optarg, "durable"))
				o->acks = PAGEBUS_ACKS_DURABLE;
			else
				goto bad;
			break;
		case 'b':
			o->pagebusd = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pagebus-produce-bench: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (access(o->pagebusd, X_OK)) {
		fprintf(stderr,
			"pagebus-produce-bench: %s: %s (build it, or pass --pagebusd PATH)\n",
			o->pagebusd, strerror(errno));
		return -1;
	}
	return 0;
bad:
	for (v = 0; lo[v].val != c; v++)
		;
	fprintf(stderr, "pagebus-produce-bench: bad value '%s' for --%s (see --help)\n", optarg,
		lo[v].name);
	return -1;
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse_opts(argc, argv, &o))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	printf("# pagebus-produce-bench: %d producer(s), acks %s, %d runs (verify.crc on/off "
	       "interleaved), broker %s\n",
	       o.producers, o.acks_name, o.runs, o.pagebusd);
	crc_speed();
	printf("# msgs/s and MB/s (value bytes) of all producers together; CPU = broker "
	       "utime+stime\n");
	printf("%-6s %-4s %28s %20s %18s\n", "value", "crc", "msgs/s (min-max)", "MB/s (min-max)",
	       "CPU s/M msgs");
	for (int si = 0; si < o.nsizes; si++) {
		size_t size = o.sizes[si];
		struct sample s[2][MAX_RUNS];
		double tput[MAX_RUNS], cpu[MAX_RUNS];
		/* one discarded run first: the first pass over fresh page-cache memory is
		 * much slower here (a VM's first touch) and would land on one side only */
		if (run_once(&o, size, 1, &s[1][0]))
			return 1;
		for (int r = 0; r < o.runs; r++) {
			/* interleave, alternating which goes first, so both see the same machine */
			for (int k = 0; k < 2; k++) {
				int crc = (r + k) % 2 == 0;
				if (run_once(&o, size, crc, &s[crc][r]))
					return 1;
			}
			tput[r] = s[0][r].wall / s[1][r].wall; /* on/off throughput */
			cpu[r] = s[1][r].cpu / (s[0][r].cpu > 0 ? s[0][r].cpu : 1e-9);
		}
		report(&o, size, 1, s[1]);
		report(&o, size, 0, s[0]);
		char b1[128], b2[128];
		printf("%-6zu on/off: throughput %s, broker CPU %s (medians of per-run ratios; "
		       "%" PRIu64 " msgs per producer per run)\n",
		       size, fmt_range(b1, sizeof(b1), tput, o.runs, "%.3f"),
		       fmt_range(b2, sizeof(b2), cpu, o.runs, "%.3f"), msgs_for(&o, size));
		fflush(stdout);
	}
	return 0;
}
