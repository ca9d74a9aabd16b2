/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_proc.c — pagebusd and client processes for pagebus-bench: start, ready line,
 * attach, stop and kill; crews of forked clients with a common start; /proc readings.
 */
#include "bench_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READY_TIMEOUT_S 30.0

double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int bench_tmpdir(const char *tag, char *buf, size_t len)
{
	const char *base = getenv("TMPDIR");
	if ((size_t)snprintf(buf, len, "%s/pagebus-bench-%s-XXXXXX", base && *base ? base : "/tmp",
			     tag) >= len)
		return -ENAMETOOLONG;
	return mkdtemp(buf) ? 0 : -errno;
}

/* One loop for both directions: op is read or write. */
static int xfer_full(int fd, char *p, size_t len, ssize_t (*op)(int, void *, size_t))
{
	while (len) {
		ssize_t n = op(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* write(2) with read(2)'s signature, for xfer_full */
static ssize_t write_op(int fd, void *p, size_t len)
{
	return write(fd, p, len);
}

int bench_write_full(int fd, const void *p, size_t len)
{
	return xfer_full(fd, (char *)p, len, write_op);
}

int bench_read_full(int fd, void *p, size_t len)
{
	return xfer_full(fd, p, len, read);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void bench_rmrf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

double proc_cpu_s(pid_t pid)
{
	clockid_t cid;
	struct timespec ts;
	/* the process CPU clock covers every thread, dead ones too, in ns */
	if (clock_getcpuclockid(pid, &cid) || clock_gettime(cid, &ts))
		return -1;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

long proc_hwm_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

void proc_reset_hwm(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return;
	/* "5" resets the peak RSS to the current RSS (proc(5)) */
	if (write(fd, "5", 1) != 1)
		fprintf(stderr, "pagebus-bench: cannot reset VmHWM of %d\n", (int)pid);
	close(fd);
}

void *bench_shared(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("pagebus-bench: mmap");
		exit(1);
	}
	return p;
}

void bench_shared_free(void *p, size_t len)
{
	if (p)
		munmap(p, len);
}

/* ---- the broker -------------------------------------------------------------------- */

const char *bench_pagebusd(void)
{
	static char path[4096];
	const char *env = getenv("PAGEBUSD");
	if (env && *env)
		return env;
	if (!path[0]) {
		char self[4096];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0)
			return "build/pagebusd";
		self[n] = 0;
		snprintf(path, sizeof(path), "%s/pagebusd", dirname(self));
	}
	return path;
}

pid_t bench_spawn(const char *const *argv, const char *out, int with_stdout, int deathsig)
{
	pid_t parent = getpid(), pid = fork();
	if (pid < 0)
		return -errno;
	if (pid)
		return pid;
	/* checked again after the prctl: the parent may be gone already */
	if (prctl(PR_SET_PDEATHSIG, deathsig) < 0 || getppid() != parent)
		_exit(127);
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0 || null < 0 || dup2(null, 0) < 0 || dup2(with_stdout ? fd : null, 1) < 0 ||
	    dup2(fd, 2) < 0)
		_exit(127);
	execv(argv[0], (char *const *)argv);
	fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Runs argv with stdout and stderr to out (a path); returns the wait status or -1. */
static int run_to_file(const char *const *argv, const char *out)
{
	pid_t pid = bench_spawn(argv, out, 1, SIGKILL);
	int st;
	return pid > 0 && waitpid(pid, &st, 0) == pid ? st : -1;
}

/* Reads a whole small file into a NUL-terminated malloc'd buffer; NULL when missing. */
static char *slurp(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	ssize_t r;
	while (buf && (r = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)r;
		if (cap - len < 2) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb)
				free(buf);
			buf = nb;
		}
	}
	close(fd);
	if (buf)
		buf[len] = 0;
	return buf;
}

int broker_has_key(const char *key)
{
	static char *help;
	if (!help) {
		char tmp[4096];
		if (bench_tmpdir("help", tmp, sizeof(tmp)))
			return 0;
		char out[4200];
		snprintf(out, sizeof(out), "%s/help.txt", tmp);
		const char *argv[] = { bench_pagebusd(), "--help", NULL };
		run_to_file(argv, out);
		help = slurp(out);
		bench_rmrf(tmp);
		if (!help)
			return 0;
	}
	char pat[128];
	snprintf(pat, sizeof(pat), "  %s ", key);
	return strstr(help, pat) != NULL;
}

static void show_log(const char *log)
{
	char *text = slurp(log);
	if (text && *text)
		fprintf(stderr, "--- %s ---\n%s---\n", log, text);
	free(text);
}

/* The pid at the other end of dir/pagebus.sock (SO_PEERCRED), or -1. */
static pid_t socket_peer(const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/pagebus.sock", dir) >=
	    sizeof(sa.sun_path))
		return -1;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0); /* the local protocol's type */
	if (fd < 0)
		return -1;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	pid_t pid = -1;
	if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)) &&
	    !getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl))
		pid = cred.pid;
	close(fd);
	return pid;
}

int broker_attach(struct bench_broker *b, const char *dir)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->dir, sizeof(b->dir), "%s", dir);
	b->pid = socket_peer(dir);
	b->external = 1;
	return b->pid > 0 ? 0 : -ECONNREFUSED;
}

/* Waits for the ready line in b->log, polling every millisecond. */
static int wait_ready(struct bench_broker *b, double t0)
{
	while (now_s() - t0 < READY_TIMEOUT_S) {
		char *text = slurp(b->log);
		int ready = text && strstr(text, "pagebusd ready");
		free(text);
		if (ready) {
			b->ready_s = now_s() - t0;
			return 0;
		}
		int st;
		if (waitpid(b->pid, &st, WNOHANG) == b->pid) {
			fprintf(stderr, "pagebus-bench: pagebusd exited before it was ready (status %d)\n",
				WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
			show_log(b->log);
			b->pid = 0;
			return -ECHILD;
		}
		usleep(1000);
	}
	fprintf(stderr, "pagebus-bench: pagebusd not ready after %.0f s\n", READY_TIMEOUT_S);
	show_log(b->log);
	broker_kill(b);
	return -ETIME;
}

int broker_start(struct bench_broker *b, const char *dir, const char *const *args)
{
	int err;
	memset(b, 0, sizeof(*b));
	if (dir) {
		snprintf(b->dir, sizeof(b->dir), "%s", dir);
	} else {
		if ((err = bench_tmpdir("broker", b->dir, sizeof(b->dir))))
			return err;
		b->own_dir = 1;
	}
	/* the log sits beside the dir, so it survives a failed start for show_log */
	snprintf(b->log, sizeof(b->log), "%s.log", b->dir);
	const char *argv[64];
	int n = 0;
	argv[n++] = bench_pagebusd();
	argv[n++] = "--dir";
	argv[n++] = b->dir;
	argv[n++] = "--log.level";
	argv[n++] = "warn";
	/* never the shared default ports: brokers of tests and benchmarks run side by side */
	static const char *const listeners[] = { "kafka.listen", "metrics.listen" };
	static char opts[2][32];
	for (size_t i = 0; i < 2; i++)
		if (broker_has_key(listeners[i])) {
			snprintf(opts[i], sizeof(opts[i]), "--%s", listeners[i]);
			argv[n++] = opts[i];
			argv[n++] = "off";
		}
	for (int i = 0; args && args[i] && n < 62; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	unlink(b->log); /* a restart must not see the last broker's ready line */
	double t0 = now_s();
	b->pid = bench_spawn(argv, b->log, 0, SIGKILL);
	err = b->pid < 0 ? b->pid : wait_ready(b, t0);
	if (err && b->own_dir) { /* the log was shown: leave nothing behind */
		bench_rmrf(b->dir);
		unlink(b->log);
	}
	return err;
}

void broker_kill(struct bench_broker *b)
{
	if (b->external || b->pid <= 0)
		return;
	kill(b->pid, SIGKILL);
	waitpid(b->pid, NULL, 0);
	b->pid = 0;
}

void broker_stop(struct bench_broker *b)
{
	if (b->external)
		return;
	if (b->pid > 0) {
		int st;
		kill(b->pid, SIGTERM);
		double t0 = now_s();
		while (waitpid(b->pid, &st, WNOHANG) != b->pid) {
			if (now_s() - t0 > 30) {
				broker_kill(b);
				break;
			}
			usleep(2000);
		}
		b->pid = 0;
	}
	if (b->own_dir) {
		bench_rmrf(b->dir);
		unlink(b->log);
	}
}

int broker_ready_field(const struct bench_broker *b, const char *key, char *out, size_t len)
{
	char *text = slurp(b->log);
	char *line = text ? strstr(text, "pagebusd ready") : NULL, pat[64];
	int err = -ENOENT;
	snprintf(pat, sizeof(pat), " %s=", key);
	char *eol = line ? strchrnul(line, '\n') : NULL, *f = line ? strstr(line, pat) : NULL;
	if (f && f < eol) {
		f += strlen(pat);
		size_t n = strcspn(f, " \n");
		if (n < len) {
			memcpy(out, f, n);
			out[n] = 0;
			err = 0;
		}
	}
	free(text);
	return err;
}

/* ---- crews ------------------------------------------------------------------------- */

static int child_ready_w = -1, child_start_r = -1;

int crew_fork(struct crew *c, int n, crew_fn *fn, void *ctx)
{
	int ready[2], start[2];
	memset(c, 0, sizeof(*c));
	c->ready_r = c->start_w = -1;
	if (n < 1 || n > CREW_MAX)
		return -EINVAL;
	if (pipe2(ready, O_CLOEXEC))
		return -errno;
	if (pipe2(start, O_CLOEXEC)) {
		close(ready[0]);
		close(ready[1]);
		return -errno;
	}
	fflush(NULL); /* nothing buffered is printed twice */
	pid_t parent = getpid();
	for (; c->n < n; c->n++) {
		pid_t pid = fork();
		if (pid < 0)
			break;
		if (pid == 0) {
			if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
				_exit(127);
			close(ready[0]);
			close(start[1]);
			child_ready_w = ready[1];
			child_start_r = start[0];
			_exit(fn(c->n, ctx));
		}
		c->pids[c->n] = pid;
	}
	close(ready[1]);
	close(start[0]);
	c->ready_r = ready[0];
	c->start_w = start[1];
	return c->n == n ? 0 : -EAGAIN;
}

void crew_ready(int err)
{
	char ch = err ? 'E' : 0;
	if (write(child_ready_w, &ch, 1) != 1)
		_exit(1);
	close(child_ready_w);
	if (err)
		_exit(1);
	/* the parent closes its end to start everyone at once: read returns 0 */
	while (read(child_start_r, &ch, 1) < 0 && errno == EINTR)
		;
	close(child_start_r);
}

int crew_wait_ready(struct crew *c, int timeout_ms)
{
	struct pollfd pfd = { c->ready_r, POLLIN, 0 };
	char ch;
	for (int got = 0; got < c->n; got++)
		if (poll(&pfd, 1, timeout_ms) != 1 || read(c->ready_r, &ch, 1) != 1 || ch)
			return -1;
	return 0;
}

void crew_start(struct crew *c)
{
	if (c->start_w >= 0)
		close(c->start_w);
	c->start_w = -1;
}

int crew_reap(struct crew *c, double timeout_s)
{
	double t0 = now_s();
	int left = c->n, bad = 0;
	crew_start(c); /* a crew that never started must not block forever */
	while (left) {
		for (int i = 0; i < c->n; i++) {
			int st;
			/* by pid: waitpid(-1) could reap the broker too */
			if (c->pids[i] > 0 && waitpid(c->pids[i], &st, WNOHANG) == c->pids[i]) {
				c->pids[i] = 0;
				left--;
				bad |= !WIFEXITED(st) || WEXITSTATUS(st);
			}
		}
		if (!left)
			break;
		if (now_s() - t0 > timeout_s) {
			fprintf(stderr, "pagebus-bench: clients still running after %.0f s: killing them\n",
				timeout_s);
			for (int i = 0; i < c->n; i++)
				if (c->pids[i] > 0) {
					kill(c->pids[i], SIGKILL);
					waitpid(c->pids[i], NULL, 0);
					c->pids[i] = 0;
				}
			bad = 1;
			break;
		}
		usleep(1000);
	}
	if (c->ready_r >= 0)
		close(c->ready_r);
	c->ready_r = -1;
	return bad ? -1 : 0;
}
