/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_proc.h — the processes of pagebus-bench: a pagebusd it starts (or finds
 * running), the forked client processes of a scenario ("crews") started together,
 * and what /proc says about any of them (CPU seconds, peak RSS).
 */
#ifndef PAGEBUS_BENCH_PROC_H
#define PAGEBUS_BENCH_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CREW_MAX 16

double now_s(void);
uint64_t now_ns(void);
/* mkdtemp "$TMPDIR/pagebus-bench-<tag>-XXXXXX" into buf; 0 or -errno. */
int bench_tmpdir(const char *tag, char *buf, size_t len);
void bench_rmrf(const char *path);
/* Writes or reads exactly len bytes (retrying short transfers and EINTR): 0, -errno, or
 * -EPIPE when the other end closed. */
int bench_write_full(int fd, const void *p, size_t len);
int bench_read_full(int fd, void *p, size_t len);
/* CPU seconds of every thread of pid so far (io_uring workers included); < 0 if gone. */
double proc_cpu_s(pid_t pid);
/* Peak resident set (VmHWM) of pid in KiB, 0 if unknown; proc_reset_hwm restarts it. */
long proc_hwm_kb(pid_t pid);
void proc_reset_hwm(pid_t pid);

/*
 * Forks and execs argv (argv[0] a path): the child gets deathsig when the harness dies,
 * its stderr (and its stdout too with with_stdout; else /dev/null) goes to the file out,
 * truncated. Returns the pid or -errno.
 */
pid_t bench_spawn(const char *const *argv, const char *out, int with_stdout, int deathsig);

struct bench_broker {
	pid_t pid;
	int external;        /* a running broker found at --dir: never stopped by us */
	int own_dir;         /* dir is a temp dir of ours, removed by broker_stop */
	double ready_s;      /* exec to ready line, seconds */
	char dir[4096];
	char log[4200];
};

/* The pagebusd next to this program (or $PAGEBUSD). */
const char *bench_pagebusd(void);
/* 1 when `pagebusd --help` lists key (e.g. "kafka.listen"). */
int broker_has_key(const char *key);
/*
 * Starts pagebusd on dir (NULL: a new temp dir) with args (NULL-terminated, may be
 * NULL) and the harness's defaults, and waits for its ready line (1 ms polling; at most
 * 30 s). When dir already holds a running broker and external is set, attaches to it.
 * 0 or a negative error (the log is shown on stderr).
 */
int broker_start(struct bench_broker *b, const char *dir, const char *const *args);
int broker_attach(struct bench_broker *b, const char *dir);
/* SIGTERM and wait (30 s, then SIGKILL); removes an own dir. External: nothing. */
void broker_stop(struct bench_broker *b);
/* SIGKILL and reap; the dir stays (recovery restarts on it). */
void broker_kill(struct bench_broker *b);
/* The text of the broker's log after "key=" on the ready line, e.g. kafka=HOST:PORT. */
int broker_ready_field(const struct bench_broker *b, const char *key, char *out, size_t len);

/*
 * A crew: n forked processes that each set up (connect, open), report ready, wait for
 * one common start, run, and exit. fn runs in the child; it calls crew_ready() when set
 * up (ok = 0, or a negative error: the parent stops waiting) and returns an exit code.
 */
struct crew {
	int n;
	pid_t pids[CREW_MAX];
	int ready_r, start_w;
};
typedef int crew_fn(int idx, void *ctx);
int crew_fork(struct crew *c, int n, crew_fn *fn, void *ctx);
/* In the child: report set-up done (err 0) or failed, then block until the start. */
void crew_ready(int err);
/* Parent: waits until all are ready; 0, or -1 when one failed or timeout passed. */
int crew_wait_ready(struct crew *c, int timeout_ms);
void crew_start(struct crew *c);
/* Waits for all (killing every one still alive after timeout_s); 0 when all exited 0. */
int crew_reap(struct crew *c, double timeout_s);
/* Zeroed memory shared with the crews forked later (exits on failure); unmapped by
 * bench_shared_free. */
void *bench_shared(size_t len);
void bench_shared_free(void *p, size_t len);

#endif
