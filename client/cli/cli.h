/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli.h — the `pagebus` command's modules, linked into the command only (never into
 * libpagebus): aligned tables, page-cache residency of segment files, `top` and the
 * consumer group commands. The commands themselves and their dispatch table live in
 * client/pagebus.c.
 */
#ifndef PAGEBUS_CLI_H
#define PAGEBUS_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct pagebus;
struct pagebus_msg;

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

/* Out of memory: one line on stderr and exit(EXIT_RUNTIME). */
void out_of_memory(void);
/* realloc that never fails (it exits); n = 0 allocates one byte. */
void *xrealloc(void *p, size_t n);
/* "pagebus: <what>: <error> (<broker's message>)" on stderr (pb may be NULL); returns
 * EXIT_RUNTIME. In pagebus.c. */
int fail(struct pagebus *pb, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- aligned tables (table.c) --------------------------------------------------------- */

struct table {
	int ncols;    /* at most 16 */
	char **cells; /* row-major */
	size_t n;
};

/* Starts a table whose header row is the space-separated words of head. */
void table_start(struct table *t, const char *head);
/* Appends one cell (rows fill left to right). */
void cell(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints to f with every column but the last padded to its widest cell, then frees. */
void table_print(struct table *t, FILE *f);

/* ---- page cache (pagecache.c) ------------------------------------------------------------ */

/* Bytes of fd's file in the page cache: cachestat(2) (Linux 6.5+), else, when
 * use_mincore, mincore(2) on a read-only mapping of it. 0 or -errno (-ENOSYS: no
 * cachestat and !use_mincore). */
int file_cached(int fd, bool use_mincore, uint64_t *out);
/* Page-cache bytes of the .log files of DIR/<topic>-<partition>, as file_cached. */
int partition_cached(const char *dir, const char *topic, int32_t partition, bool use_mincore,
		     uint64_t *out);

/* ---- the broker of a data dir (lockfile.c) ----------------------------------------------- */

/*
 * From DIR/pagebus.lock: the broker's pid (the running one's, or the last one's: check
 * it), and into metrics (len bytes, may be NULL) the `metrics HOST:PORT` address, "" when
 * the endpoint is off. 0, or -1 when the file or the pid is missing.
 */
int broker_lock_info(const char *dir, int *pid, char *metrics, size_t len);

/* ---- top (top.c) --------------------------------------------------------------------------- */

struct top_opts {
	const char *dir;     /* the data dir */
	const char *metrics; /* HOST:PORT of the metrics endpoint; NULL: from DIR/pagebus.lock */
	bool once;	     /* print one frame (rates over one second) and return */
};

/* `pagebus top`: frames every second until q, SIGINT or SIGTERM. The exit status. */
int top_run(const struct top_opts *o);

/* ---- consumer groups (groups.c) ----------------------------------------------------------- */

struct group_consume_opts {
	const char *group;
	const char *const *topics;
	int ntopics;
	bool from_end;		     /* partitions without a committed offset start at their end */
	uint64_t count;		     /* exit after this many messages (0: no limit) */
	bool exit_at_end;	     /* exit once every partition it owns is read to its end */
	void (*print)(void *ctx, const char *topic, const struct pagebus_msg *m);
	void *ctx;
	volatile sig_atomic_t *stop; /* set by SIGINT/SIGTERM */
};

/* `consume -G`: a group member printing what it is assigned; commits, leaves and returns
 * the exit status at the end. Assignments go to stderr as `pagebus: assigned: t[0] ...`. */
int group_consume(struct pagebus *pb, const struct group_consume_opts *o);
/* `groups list` and `groups describe GROUP`: the exit status. */
int groups_list_run(struct pagebus *pb);
int groups_describe_run(struct pagebus *pb, const char *group);
/* `stat`'s consumer table: every named consumer and group partition with its committed
 * offset, lag and owner. 0 or the exit status of an error. */
int group_lag_rows(struct pagebus *pb);

#endif
