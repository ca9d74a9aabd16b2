/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pagebus-doorbell-bench — cross-process wake round trip of the two ring doorbells: a
 * broker process asleep in uring/'s loop on IORING_OP_FUTEX_WAIT (shared memfd word) or
 * IORING_OP_READ (eventfd), rung by a producer process that it wakes back by futex.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#define MAX_RUNS 100
#define WARMUP 1000	    /* round trips before the timed ones, per run and design */
#define NOTIFY_CALLS 200000 /* producer notify calls timed with nobody asleep */
#define REPLY_TIMEOUT_S 2   /* the broker process is gone or stuck after this */

enum design { FUTEX, EVENTFD, NDESIGNS };
static const char *const design_name[NDESIGNS] = { "futex", "eventfd" };

/*
 * Where the two processes run. A wake to another CPU costs an IPI (and that CPU's exit
 * from idle); a wake on the same CPU is a context switch. Unpinned, the scheduler
 * picks, per run.
 */
enum placement { SPLIT, SAME, FREE, NPLACEMENTS };
static const char *const placement_name[NPLACEMENTS] = { "split", "same", "free" };
static const char *const placement_desc[NPLACEMENTS] = {
	"producer and broker pinned to two different CPUs",
	"producer and broker pinned to the same CPU",
	"unpinned: the scheduler places them, and may differ per run",
};
static cpu_set_t cpus_all;	   /* the affinity we started with */
static int cpu_a = -1, cpu_b = -1; /* its first two CPUs */

/* The shared page: one cache line each, as in the ring header. */
struct shared {
	uint32_t doorbell; /* (a) producer bumps it, broker FUTEX_WAITs on it */
	uint8_t pad0[60];
	uint32_t reply; /* broker bumps it, producer futex-waits on it */
	uint8_t pad1[60];
};

/* What one run of one design measured. */
struct result {
	double rtt_med, rtt_p99; /* µs */
	double notify_woke;	 /* ns, median notify call with the broker asleep */
	double notify_idle;	 /* ns per notify call with nobody asleep */
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Sorts v in place; returns the value at quantile q (0.5 = median). */
static double quantile(double *v, int n, double q)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	if (n % 2 == 0 && q == 0.5)
		return (v[n / 2 - 1] + v[n / 2]) / 2;
	int i = (int)(q * (n - 1) + 0.5);
	return v[i];
}

/* Shared (not private) futex calls: the other side is another process. */
static long futex(uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, word, op, val, ts, NULL, 0);
}

/* Pins the calling process for placement pl; broker selects its side. */
static int pin(enum placement pl, int broker)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	if (pl == FREE)
		set = cpus_all;
	else
		CPU_SET(pl == SPLIT && broker ? cpu_b : cpu_a, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		perror("sched_setaffinity");
		return -1;
	}
	return 0;
}

/* The producer's doorbell, as client/producer.c rings it. */
static void notify(enum design d, struct shared *sh, int efd)
{
	if (d == FUTEX) {
		__atomic_fetch_add(&sh->doorbell, 1, __ATOMIC_RELEASE);
		futex(&sh->doorbell, FUTEX_WAKE, 1, NULL);
	} else {
		eventfd_write(efd, 1);
	}
}

struct bell {
	struct uloop_op op;
	uint64_t buf; /* the eventfd counter read */
	int res;
	int done;
};

static void bell_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags)
{
	(void)l;
	(void)flags;
	struct bell *b = op->ctx;
	b->res = res;
	b->done = 1;
}

/*
 * The broker side: sleep in io_uring on the doorbell, answer each ring. seen is the
 * doorbell value before the producer's first ring. Never returns.
 */
static void broker_main(enum design d, enum placement pl, struct shared *sh, int efd, uint32_t seen,
			int total)
{
	struct uloop l;
	struct bell b = { .op = { .cb = bell_done, .ctx = &b } };
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (pin(pl, 1))
		_exit(1);
	int err = uloop_init(&l, 8, 0);
	if (err) {
		fprintf(stderr, "broker: uloop_init: %s\n", strerror(-err));
		_exit(1);
	}
	if (d == FUTEX && uloop_op_supported(&l, IORING_OP_FUTEX_WAIT) != 1) {
		fprintf(stderr, "broker: this kernel has no IORING_OP_FUTEX_WAIT (6.7+)\n");
		_exit(3);
	}
	for (int i = 0; i < total; i++) {
		for (;;) {
			struct io_uring_sqe *sqe = uloop_sqe(&l, &b.op);
			if (!sqe)
				_exit(1);
			if (d == FUTEX)
				uloop_prep_futex_wait(sqe, &sh->doorbell, seen,
						      FUTEX_BITSET_MATCH_ANY, FUTEX2_SIZE_U32);
			else
				io_uring_prep_read(sqe, efd, &b.buf, sizeof(b.buf), 0);
			b.done = 0;
			while (!b.done)
				if ((err = uloop_run(&l, NULL)) < 0) {
					fprintf(stderr, "broker: uloop_run: %s\n", strerror(-err));
					_exit(1);
				}
			if (d == EVENTFD) {
				if (b.res != sizeof(b.buf)) {
					fprintf(stderr, "broker: eventfd read: %s\n",
						strerror(-b.res));
					_exit(1);
				}
				break;
			}
			/* 0: woken; -EAGAIN: rung before the wait was armed */
			if (b.res && b.res != -EAGAIN) {
				fprintf(stderr, "broker: FUTEX_WAIT: %s\n", strerror(-b.res));
				_exit(1);
			}
			uint32_t now = __atomic_load_n(&sh->doorbell, __ATOMIC_ACQUIRE);
			if (now != seen) {
				seen = now;
				break;
			} /* else a spurious wake: wait again */
		}
		__atomic_store_n(&sh->reply, (uint32_t)i + 1, __ATOMIC_RELEASE);
		futex(&sh->reply, FUTEX_WAKE, 1, NULL);
	}
	uloop_exit(&l);
	_exit(0);
}

/* Waits (plain futex wait) until the broker's reply counter reaches want. 0 or -1. */
static int wait_reply(struct shared *sh, uint32_t want)
{
	const struct timespec ts = { REPLY_TIMEOUT_S, 0 };
	uint32_t v;
	while ((v = __atomic_load_n(&sh->reply, __ATOMIC_ACQUIRE)) != want)
		if (futex(&sh->reply, FUTEX_WAIT, v, &ts) < 0 && errno == ETIMEDOUT)
			return -1;
	return 0;
}

/* The notify call alone, nobody asleep on the doorbell: ns per call. */
static double notify_idle_ns(enum design d, struct shared *sh, int efd)
{
	uint64_t t0 = now_ns();
	for (int i = 0; i < NOTIFY_CALLS; i++)
		notify(d, sh, efd);
	double ns = (double)(now_ns() - t0) / NOTIFY_CALLS;
	eventfd_t drain;
	if (d == EVENTFD)
		eventfd_read(efd, &drain);
	return ns;
}

/* One run of one design: a fresh broker process, warm-up, iters timed round trips. */
static int run_design(enum design d, enum placement pl, int iters, double *rtt, double *woke,
		      struct result *out)
{
	int ret = -1, efd = eventfd(0, EFD_CLOEXEC); /* blocking: io_uring polls it */
	int mfd = memfd_create("pagebus-doorbell-bench", MFD_CLOEXEC);
	struct shared *sh = MAP_FAILED;
	if (efd < 0 || mfd < 0 || ftruncate(mfd, 4096) < 0 ||
	    (sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, mfd, 0)) ==
		    MAP_FAILED) {
		perror("eventfd/memfd");
		goto out;
	}
	if (pin(pl, 0))
		goto out;
	out->notify_idle = notify_idle_ns(d, sh, efd);
	/* the doorbell value the broker starts from: read before the first ring */
	uint32_t bell0 = __atomic_load_n(&sh->doorbell, __ATOMIC_ACQUIRE);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		goto out;
	}
	if (pid == 0)
		broker_main(d, pl, sh, efd, bell0, WARMUP + iters);
	for (int i = 0; i < WARMUP + iters; i++) {
		uint64_t t0 = now_ns();
		notify(d, sh, efd);
		uint64_t t1 = now_ns();
		if (wait_reply(sh, (uint32_t)i + 1)) {
			int st;
			if (waitpid(pid, &st, WNOHANG) == pid)
				fprintf(stderr, "%s: broker process exited (status %d)\n",
					design_name[d],
					WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
			else
				fprintf(stderr, "%s: no reply within %d s\n", design_name[d],
					REPLY_TIMEOUT_S);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			goto out;
		}
		uint64_t t2 = now_ns();
		if (i >= WARMUP) {
			rtt[i - WARMUP] = (double)(t2 - t0) / 1e3;
			woke[i - WARMUP] = (double)(t1 - t0);
		}
	}
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "%s: broker process failed\n", design_name[d]);
		goto out;
	}
	out->rtt_p99 = quantile(rtt, iters, 0.99);
	out->rtt_med = quantile(rtt, iters, 0.5);
	out->notify_woke = quantile(woke, iters, 0.5);
	ret = 0;
out:
	if (sh != MAP_FAILED)
		munmap(sh, 4096);
	if (mfd >= 0)
		close(mfd);
	if (efd >= 0)
		close(efd);
	return ret;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pagebus-doorbell-bench [--runs N] [--iters N] [--placement "
		"split|same|free]\n"
		"  Ping-pongs --iters (default 20000) wakes between a producer process and a\n"
		"  broker process asleep in io_uring, on (a) IORING_OP_FUTEX_WAIT on a shared\n"
		"  memfd word and (b) IORING_OP_READ on an eventfd; the broker answers with a "
		"futex\n"
		"  wake either way. Prints median and p99 round trip (µs), the producer's notify\n"
		"  call with the broker asleep and with nobody asleep (ns), and futex/eventfd\n"
		"  ratios: medians of --runs (default 5), designs interleaved. Done for each\n"
		"  placement (default all): split = pinned to two CPUs, same = both on one CPU,\n"
		"  free = unpinned.\n");
}

static int parse_int(const char *s, long min, long max, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

/* "median (min-max)" over runs of the field at offset off. */
static void print_stat(const char *name, struct result r[][MAX_RUNS], int runs, size_t off,
		       const char *fmt)
{
	printf("%-28s", name);
	for (int d = 0; d < NDESIGNS; d++) {
		double v[MAX_RUNS];
		char cell[96], a[24], b[24], m[24];
		for (int i = 0; i < runs; i++)
			v[i] = *(const double *)((const char *)&r[d][i] + off);
		snprintf(m, sizeof(m), fmt, quantile(v, runs, 0.5));
		snprintf(a, sizeof(a), fmt, v[0]);
		snprintf(b, sizeof(b), fmt, v[runs - 1]);
		snprintf(cell, sizeof(cell), "%s (%s-%s)", m, a, b);
		printf(" %24s", cell);
	}
	double ratio[MAX_RUNS];
	for (int i = 0; i < runs; i++)
		ratio[i] = *(const double *)((const char *)&r[FUTEX][i] + off) /
			   *(const double *)((const char *)&r[EVENTFD][i] + off);
	printf(" %13.2f\n", quantile(ratio, runs, 0.5));
}

/* All runs of one placement, then its table. 0 or -1. */
static int bench_placement(enum placement pl, int runs, int iters, double *rtt, double *woke)
{
	static struct result res[NDESIGNS][MAX_RUNS];
	for (int r = 0; r < runs; r++)
		for (int k = 0; k < NDESIGNS; k++) { /* alternate which design goes first */
			enum design d = (enum design)((r + k) % NDESIGNS);
			if (run_design(d, pl, iters, rtt, woke, &res[d][r]))
				return -1;
		}
	printf("\n## placement %s: %s", placement_name[pl], placement_desc[pl]);
	if (pl != FREE)
		printf(" (producer CPU %d, broker CPU %d)", cpu_a, pl == SPLIT ? cpu_b : cpu_a);
	printf("\n%-28s %24s %24s %13s\n", "median over runs (min-max)", "futex (FUTEX_WAIT)",
	       "eventfd (READ)", "futex/eventfd");
	print_stat("round trip median, us", res, runs, offsetof(struct result, rtt_med), "%.1f");
	print_stat("round trip p99, us", res, runs, offsetof(struct result, rtt_p99), "%.1f");
	print_stat("notify, broker asleep, ns", res, runs, offsetof(struct result, notify_woke),
		   "%.0f");
	print_stat("notify, nobody asleep, ns", res, runs, offsetof(struct result, notify_idle),
		   "%.0f");
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "runs", required_argument, NULL, 'r' },
		{ "iters", required_argument, NULL, 'i' },
		{ "placement", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int runs = 5, iters = 20000, only = -1, c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (parse_int(optarg, 1, MAX_RUNS, &runs))
				goto bad;
			break;
		case 'i':
			if (parse_int(optarg, 100, 10000000, &iters))
				goto bad;
			break;
		case 'p':
			for (int i = 0; i < NPLACEMENTS; i++)
				if (!strcmp(optarg, placement_name[i]))
					only = i;
			if (only < 0)
				goto bad;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pagebus-doorbell-bench: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (sched_getaffinity(0, sizeof(cpus_all), &cpus_all) < 0) {
		perror("sched_getaffinity");
		return 1;
	}
	for (int i = 0; i < CPU_SETSIZE && cpu_b < 0; i++)
		if (CPU_ISSET(i, &cpus_all)) {
			if (cpu_a < 0)
				cpu_a = i;
			else
				cpu_b = i;
		}
	if (only == SPLIT && cpu_b < 0) {
		fprintf(stderr, "pagebus-doorbell-bench: placement split needs two CPUs\n");
		return 1;
	}
	double *rtt = malloc(sizeof(double) * (size_t)iters),
	       *woke = malloc(sizeof(double) * (size_t)iters);
	if (!rtt || !woke) {
		fprintf(stderr, "pagebus-doorbell-bench: out of memory\n");
		return 1;
	}
	printf("# pagebus-doorbell-bench: %d round trips (+%d warm-up) per run, %d runs, designs "
	       "interleaved;\n# the broker answers with FUTEX_WAKE in both; a fresh broker process "
	       "per run\n",
	       iters, WARMUP, runs);
	int ret = 0;
	for (int pl = 0; pl < NPLACEMENTS && !ret; pl++) {
		if ((only >= 0 && pl != only) || (pl == SPLIT && cpu_b < 0))
			continue;
		ret = bench_placement((enum placement)pl, runs, iters, rtt, woke);
	}
	free(rtt);
	free(woke);
	return ret ? 1 : 0;
bad:
	fprintf(stderr, "pagebus-doorbell-bench: bad value '%s' for --%s (see --help)\n", optarg,
		c == 'r'   ? "runs"
		: c == 'i' ? "iters"
			   : "placement");
	return 2;
}
