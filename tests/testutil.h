/* SPDX-License-Identifier: Apache-2.0 */
/* testutil.h — helpers shared by the test programs: temp dirs, batches, files. */
#ifndef PAGEBUS_TESTUTIL_H
#define PAGEBUS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* mkdtemp under $TMPDIR (or /tmp); the caller frees the path and calls tu_rmrf. */
char *tu_tmpdir(const char *tag);
void tu_rmrf(const char *path);

/*
 * Builds a batch of `count` records into a malloc'd buffer: record i has value
 * "<tag>-<i>" padded with 'x' to value_len bytes (value_len 0: just the text) and
 * timestamp ts0 + i. Returns the buffer and sets *len.
 */
uint8_t *tu_batch(const char *tag, int count, size_t value_len, int64_t ts0, size_t *len);

/* Reads a whole file into a malloc'd buffer; *len its size. NULL when missing. */
uint8_t *tu_read_file(const char *path, size_t *len);
/* Size of a file, or -1. */
long long tu_file_size(const char *path);
/* Path "<dir>/<20-digit base><ext>" in a static buffer. */
const char *tu_seg_file(const char *dir, int64_t base, const char *ext);

/* ---- a real broker for integration tests ------------------------------------------ */

/* Path of the pagebusd under test: $PAGEBUSD, else $BUILD/pagebusd, else build/pagebusd. */
const char *tu_pagebusd(void);
/* Path of the pagebus command under test: $BUILD/pagebus, else build/pagebus. */
const char *tu_pagebus(void);

/*
 * Starts pagebusd --dir dir --kafka.listen off --metrics.listen off [args...]
 * (NULL-terminated: args may turn an endpoint on, e.g. on 127.0.0.1:0), stderr to
 * log_path, and waits
 * (at most 20 s) for its ready line. Returns the pid, or -1 when it exited or never got
 * ready (*status then holds its wait status when it exited). The broker gets SIGKILL
 * when the test program dies, so a crashed test never leaves one running.
 */
pid_t tu_broker_start(const char *dir, const char *log_path, const char *const *args, int *status);
/* SIGTERM and wait (at most 30 s, then SIGKILL). Returns the wait status. */
int tu_broker_stop(pid_t pid);
/* tu_broker_stop, then 0 when the broker exited with status 0 (no crash, no sanitizer
 * report); else -1, with its wait status and its log (log_path, or NULL) on stderr. */
int tu_broker_stop_clean(pid_t pid, const char *log_path);
/* SIGKILL and reap. */
void tu_broker_kill(pid_t pid);
/* 1 while pid (a child of ours) has not exited. */
int tu_broker_alive(pid_t pid);
/* 1 when the file contains needle. */
int tu_file_contains(const char *path, const char *needle);
/* Runs a shell command (printf-style); its exit status, or -1 when it did not exit. */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A test case's broker: a temp dir and a broker on <root>/data. */
struct tu_fixture {
	char *root;
	char dir[80]; /* DIR/pagebus.sock must fit a sockaddr_un */
	char log[600];
	pid_t broker;
};
/* Creates $TMPDIR/pagebus-<tag>-XXXXXX and starts a broker on its data dir with args (as
 * tu_broker_start). NULL when the broker did not start (the dir is removed then). */
struct tu_fixture *tu_fixture_start(const char *tag, const char *const *args);
/* Stops the broker (tu_broker_stop_clean), removes the dir and frees f: 0 when the broker
 * exited cleanly. Accepts NULL. */
int tu_fixture_stop(struct tu_fixture *f);
/* The port of the metrics endpoint of the broker of dir (the `metrics HOST:PORT` line of
 * DIR/pagebus.lock), or -1 when it has none. */
int tu_metrics_port(const char *dir);

#endif
