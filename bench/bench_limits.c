/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_limits.c — measures the machine's limits for pagebus-bench: the bandwidths and
 * round trips that bound what a bus on this host can reach.
 */
#include "bench_limits.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_hist.h"
#include "bench_proc.h"

double limit_memcpy_gbps(double seconds)
{
	size_t len = seconds < 0.1 ? 8u << 20 : 64u << 20;
	char *a = malloc(len), *b = malloc(len);
	if (!a || !b) {
		free(a);
		free(b);
		return NAN;
	}
	memset(a, 1, len);
	memset(b, 2, len); /* both faulted in before the clock starts */
	double best = 0, t_end = now_s() + seconds;
	do {
		double t0 = now_s();
		memcpy(b, a, len);
		__asm__ volatile("" : : "r"(b) : "memory"); /* the copy is not dead */
		double gbps = (double)len / (now_s() - t0) / 1e9;
		if (gbps > best)
			best = gbps;
		a[0]++;
	} while (now_s() < t_end);
	free(a);
	free(b);
	return best;
}

double limit_write_mbps(const char *dir, size_t size, double seconds)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/limit-write.%d", dir, (int)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	char *buf = malloc(size);
	if (fd < 0 || !buf) {
		if (fd >= 0)
			close(fd);
		free(buf);
		return NAN;
	}
	unlink(path);
	memset(buf, 'w', size);
	uint64_t bytes = 0;
	double t0 = now_s(), t = t0;
	/* check the clock every few calls only: the clock is not free either */
	while (t - t0 < seconds) {
		for (int i = 0; i < 16; i++) {
			if (write(fd, buf, size) != (ssize_t)size)
				goto out;
			bytes += size;
		}
		t = now_s();
	}
out:
	t = now_s() - t0;
	close(fd);
	free(buf);
	return bytes ? (double)bytes / t / 1e6 : NAN;
}

/* ---- round trips between two processes --------------------------------------------- */

struct pingpong {
	_Alignas(64) uint32_t turn; /* 0: the parent's turn, 1: the child's */
	_Alignas(64) uint32_t stop;
};

static long futex(uint32_t *uaddr, int op, uint32_t val)
{
	return syscall(SYS_futex, uaddr, op, val, NULL, NULL, 0);
}

static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set); /* best effort: one CPU means no pinning */
}

static pid_t fork_child(void)
{
	pid_t parent = getpid(), pid = fork();
	if (pid == 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent))
		_exit(127);
	return pid;
}

/* One side's wait for its turn: futex sleep or spin. */
static void await_turn(struct pingpong *pp, uint32_t mine, int spin)
{
	while (__atomic_load_n(&pp->turn, __ATOMIC_ACQUIRE) != mine &&
	       !__atomic_load_n(&pp->stop, __ATOMIC_ACQUIRE)) {
		if (spin)
			__builtin_ia32_pause();
		else
			futex(&pp->turn, FUTEX_WAIT, mine ^ 1);
	}
}

static void give_turn(struct pingpong *pp, uint32_t to, int spin)
{
	__atomic_store_n(&pp->turn, to, __ATOMIC_RELEASE);
	if (!spin)
		futex(&pp->turn, FUTEX_WAKE, 1);
}

static double pingpong_rtt_us(double seconds, int spin)
{
	struct pingpong *pp = bench_shared(sizeof(*pp));
	struct bench_hist *h = malloc(sizeof(*h));
	int cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	pid_t pid = h ? fork_child() : -1;
	if (pid < 0) {
		free(h);
		bench_shared_free(pp, sizeof(*pp));
		return NAN;
	}
	if (pid == 0) {
		if (cpus > 1)
			pin(1);
		for (;;) {
			await_turn(pp, 1, spin);
			if (__atomic_load_n(&pp->stop, __ATOMIC_ACQUIRE))
				_exit(0);
			give_turn(pp, 0, spin);
		}
	}
	if (cpus > 1)
		pin(0);
	hist_reset(h);
	double t_end = now_s() + seconds;
	for (int i = 0; now_s() < t_end || i < 10; i++) {
		uint64_t t0 = now_ns();
		give_turn(pp, 1, spin);
		await_turn(pp, 0, spin);
		hist_record(h, now_ns() - t0);
	}
	__atomic_store_n(&pp->stop, 1, __ATOMIC_RELEASE);
	give_turn(pp, 1, spin);
	waitpid(pid, NULL, 0);
	if (cpus > 1) { /* back to every CPU */
		cpu_set_t set;
		CPU_ZERO(&set);
		for (int c = 0; c < cpus && c < CPU_SETSIZE; c++)
			CPU_SET(c, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	double us = (double)hist_percentile(h, 50) / 1e3;
	free(h);
	bench_shared_free(pp, sizeof(*pp));
	return us;
}

double limit_futex_rtt_us(double seconds)
{
	return pingpong_rtt_us(seconds, 0);
}

double limit_cacheline_rtt_us(double seconds)
{
	return pingpong_rtt_us(seconds, 1);
}

/* ---- sendfile to a loopback socket ------------------------------------------------- */

/* A child that connects to port and reads everything until EOF. */
static pid_t sink_start(int port)
{
	pid_t pid = fork_child();
	if (pid != 0)
		return pid;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static char buf[1 << 20];
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)))
		_exit(1);
	while (read(s, buf, sizeof(buf)) > 0)
		;
	_exit(0);
}

/* Sends the file over one loopback connection for about seconds; returns GB/s. */
static double send_file_once(int fd, size_t len, double seconds, int copy)
{
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 1) ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl)) {
		if (ls >= 0)
			close(ls);
		return NAN;
	}
	pid_t pid = sink_start(ntohs(sa.sin_port));
	int s = pid > 0 ? accept(ls, NULL, NULL) : -1;
	close(ls);
	if (s < 0) {
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		return NAN;
	}
	char *buf = copy ? malloc(1 << 20) : NULL;
	uint64_t bytes = 0;
	double t0 = now_s();
	int ok = 1;
	while (ok && now_s() - t0 < seconds) {
		off_t off = 0;
		while (ok && (size_t)off < len) {
			ssize_t n;
			if (copy) {
				n = pread(fd, buf, 1 << 20, off);
				if (n > 0 && write(s, buf, (size_t)n) != n)
					n = -1;
				off += n > 0 ? n : 0;
			} else {
				n = sendfile(s, fd, &off, len - (size_t)off);
			}
			if (n <= 0)
				ok = 0;
			else
				bytes += (uint64_t)n;
		}
	}
	close(s);
	int st = 1;
	waitpid(pid, &st, 0); /* the sink has read everything: that is the end of the clock */
	double t = now_s() - t0;
	free(buf);
	return ok && WIFEXITED(st) && !WEXITSTATUS(st) ? (double)bytes / t / 1e9 : NAN;
}

double limit_sendfile_gbps(const char *dir, double seconds, double *copy_gbps)
{
	size_t len = seconds < 0.1 ? 4u << 20 : 64u << 20;
	char path[4200];
	snprintf(path, sizeof(path), "%s/limit-sendfile.%d", dir, (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	char *buf = malloc(1 << 20);
	double gbps = NAN;
	if (copy_gbps)
		*copy_gbps = NAN;
	if (fd < 0 || !buf)
		goto out;
	unlink(path);
	memset(buf, 's', 1 << 20);
	for (size_t off = 0; off < len; off += 1 << 20)
		if (write(fd, buf, 1 << 20) != 1 << 20)
			goto out;
	gbps = send_file_once(fd, len, seconds, 0);
	if (copy_gbps)
		*copy_gbps = send_file_once(fd, len, seconds, 1);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return gbps;
}
