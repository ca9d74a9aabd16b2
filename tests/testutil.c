/* SPDX-License-Identifier: Apache-2.0 */
/* testutil.c — helpers shared by the test programs: temp dirs, batches, files. */
#include "testutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "record_batch.h"

char *tu_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *path;
	if (asprintf(&path, "%s/pagebus-%s-XXXXXX", base && *base ? base : "/tmp", tag) < 0)
		abort();
	if (!mkdtemp(path))
		abort();
	return path;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tu_rmrf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

uint8_t *tu_batch(const char *tag, int count, size_t value_len, int64_t ts0, size_t *len)
{
	size_t cap = RB_HEADER_SIZE + (size_t)count * (value_len + 64 + strlen(tag));
	uint8_t *buf = malloc(cap);
	char *val = malloc(value_len + 64 + strlen(tag));
	struct rb_builder b;
	if (!buf || !val || rb_builder_init(&b, buf, cap))
		abort();
	for (int i = 0; i < count; i++) {
		int n = sprintf(val, "%s-%d", tag, i);
		size_t vl = (size_t)n;
		if (value_len > vl) {
			memset(val + n, 'x', value_len - vl);
			vl = value_len;
		}
		if (rb_builder_add(&b, ts0 + i, NULL, -1, val, (int32_t)vl, NULL, 0))
			abort();
	}
	long total = rb_builder_finish(&b);
	if (total <= 0)
		abort();
	free(val);
	*len = (size_t)total;
	return buf;
}

uint8_t *tu_read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	struct stat st;
	fstat(fd, &st);
	uint8_t *buf = malloc((size_t)st.st_size + 1);
	ssize_t r = read(fd, buf, (size_t)st.st_size);
	close(fd);
	*len = r < 0 ? 0 : (size_t)r;
	return buf;
}

long long tu_file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) < 0 ? -1 : (long long)st.st_size;
}

const char *tu_seg_file(const char *dir, int64_t base, const char *ext)
{
	static char path[4096];
	snprintf(path, sizeof(path), "%s/%020" PRId64 "%s", dir, base, ext);
	return path;
}

/* ---- a real broker for integration tests ------------------------------------------ */

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

const char *tu_pagebusd(void)
{
	static char path[4096];
	const char *env = getenv("PAGEBUSD");
	if (env && *env)
		return env;
	const char *build = getenv("BUILD");
	snprintf(path, sizeof(path), "%s/pagebusd", build && *build ? build : "build");
	return path;
}

const char *tu_pagebus(void)
{
	static char path[4096];
	const char *build = getenv("BUILD");
	snprintf(path, sizeof(path), "%s/pagebus", build && *build ? build : "build");
	return path;
}

int tu_file_contains(const char *path, const char *needle)
{
	size_t len;
	uint8_t *buf = tu_read_file(path, &len);
	if (!buf)
		return 0;
	buf[len] = 0;
	int found = strstr((char *)buf, needle) != NULL;
	free(buf);
	return found;
}

pid_t tu_broker_start(const char *dir, const char *log_path, const char *const *args, int *status)
{
	const char *argv[64];
	int n = 0;
	argv[n++] = tu_pagebusd();
	argv[n++] = "--dir";
	argv[n++] = dir;
	/* no Kafka or metrics endpoint on the fixed default ports, which parallel test runs
	 * would share; a case that wants one passes --kafka.listen 127.0.0.1:0 (or
	 * --metrics.listen 127.0.0.1:0): the last value wins */
	argv[n++] = "--kafka.listen";
	argv[n++] = "off";
	argv[n++] = "--metrics.listen";
	argv[n++] = "off";
	for (int i = 0; args && args[i] && n < 62; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	unlink(log_path);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		/* dies with the test program (checked again: the parent may be gone already) */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(127);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 2000; i++) { /* 20 s at most */
		if (tu_file_contains(log_path, "pagebusd ready"))
			return pid;
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			if (status)
				*status = st;
			return -1;
		}
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return -1;
}

int tu_broker_stop(pid_t pid)
{
	int st = 0;
	kill(pid, SIGTERM);
	for (int i = 0; i < 3000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return st;
}

int tu_broker_stop_clean(pid_t pid, const char *log_path)
{
	int st = tu_broker_stop(pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	fprintf(stderr, "pagebusd did not stop cleanly (wait status %#x)%s\n", st,
		log_path ? "; its log:" : "");
	size_t len;
	uint8_t *log = log_path ? tu_read_file(log_path, &len) : NULL;
	if (log)
		fwrite(log, 1, len, stderr);
	free(log);
	return -1;
}

void tu_broker_kill(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

int tu_broker_alive(pid_t pid)
{
	return waitpid(pid, NULL, WNOHANG) == 0;
}

int tu_sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

struct tu_fixture *tu_fixture_start(const char *tag, const char *const *args)
{
	struct tu_fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->root = tu_tmpdir(tag);
	snprintf(f->dir, sizeof(f->dir), "%s/data", f->root);
	snprintf(f->log, sizeof(f->log), "%s/pagebusd.log", f->root);
	f->broker = tu_broker_start(f->dir, f->log, args, NULL);
	if (f->broker > 0)
		return f;
	fprintf(stderr, "pagebusd did not start; its log:\n");
	tu_sh("cat %s >&2", f->log);
	f->broker = -1;
	tu_fixture_stop(f);
	return NULL;
}

int tu_fixture_stop(struct tu_fixture *f)
{
	if (!f)
		return 0;
	int rc = f->broker > 0 ? tu_broker_stop_clean(f->broker, f->log) : 0;
	tu_rmrf(f->root);
	free(f->root);
	free(f);
	return rc;
}

int tu_metrics_port(const char *dir)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/pagebus.lock", dir);
	size_t len;
	char *s = (char *)tu_read_file(path, &len);
	if (!s)
		return -1;
	s[len] = 0;
	const char *m = strstr(s, "\nmetrics ");
	const char *colon = m ? strrchr(m, ':') : NULL;
	int port = colon ? atoi(colon + 1) : -1;
	free(s);
	return port;
}
