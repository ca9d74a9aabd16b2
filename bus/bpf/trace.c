/* SPDX-License-Identifier: Apache-2.0 */
/*
 * trace.c — the user side of `pagebus trace`: check that this machine can trace (root,
 * BTF, tracefs, mounted when missing), open the skeleton, set the traced pid, skip the
 * programs whose tracepoints this kernel lacks, load, attach, hand the data dir's
 * segment inodes to the programs (rescanned every second, segments roll), then print a
 * line per second and a summary: io_uring by opcode with latencies, the page cache per
 * segment and partition, and the bytes moved with and without a copy.
 */
#include "trace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loop.h"
#include "trace.skel.h"

#define EXIT_RUNTIME 1
#define EXIT_CANNOT 2 /* this machine cannot trace */
#define EXT4_MAGIC 0xef53
#define TRACEFS "/sys/kernel/tracing"
#define DEBUGFS_TRACING "/sys/kernel/debug/tracing"
#define TOP_OPS 6 /* opcodes in a per-second line */

/* include/uapi/linux/io_uring.h: opcodes whose result counts bytes, by direction */
enum { OP_READV = 1, OP_WRITEV = 2, OP_READ_FIXED = 4, OP_WRITE_FIXED = 5, OP_SENDMSG = 9, OP_RECVMSG = 10,
       OP_READ = 22, OP_WRITE = 23, OP_SEND = 26, OP_RECV = 27, OP_SPLICE = 30, OP_TEE = 33, OP_SEND_ZC = 47,
       OP_SENDMSG_ZC = 48, OP_READ_MULTISHOT = 49, OP_READV_FIXED = 60, OP_WRITEV_FIXED = 61 };

static volatile sig_atomic_t g_stop;
static char g_libbpf_msg[512]; /* libbpf's last warning, for a one-line failure */

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (getenv("PAGEBUS_TRACE_DEBUG"))
		return vfprintf(stderr, fmt, ap);
	if (level == LIBBPF_WARN) {
		vsnprintf(g_libbpf_msg, sizeof(g_libbpf_msg), fmt, ap);
		g_libbpf_msg[strcspn(g_libbpf_msg, "\n")] = 0;
	}
	return 0;
}

__attribute__((format(printf, 2, 3))) static int say(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("pagebus: trace: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return status;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- can this machine trace? ------------------------------------------------------------- */

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Where the tracepoints' ids are, as libbpf looks for them (debugfs first when there). */
static const char *tracefs_root(void)
{
	return access(DEBUGFS_TRACING, F_OK) == 0 ? DEBUGFS_TRACING : TRACEFS;
}

int trace_check(void)
{
	if (geteuid() != 0)
		return say(EXIT_CANNOT, "needs root: loading BPF programs and attaching them to tracepoints "
					"takes CAP_BPF and CAP_PERFMON (run it with sudo)");
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
		return say(EXIT_CANNOT, "this kernel has no BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF): "
					"the CO-RE programs cannot be fitted to it");
	char events[128];
	snprintf(events, sizeof(events), "%s/events", tracefs_root());
	if (is_dir(events))
		return 0;
	if (mount("tracefs", TRACEFS, "tracefs", 0, NULL) != 0)
		return say(EXIT_CANNOT, "tracefs is not mounted at %s and mounting it failed: %s", TRACEFS,
			   strerror(errno));
	if (!is_dir(TRACEFS "/events"))
		return say(EXIT_CANNOT, "tracefs at %s has no events: this kernel has no tracepoints", TRACEFS);
	fprintf(stderr, "pagebus: trace: mounted tracefs at %s\n", TRACEFS);
	return 0;
}

/* The tracepoint category/name of a program's section ("tp/io_uring/x" -> "io_uring/x"). */
static bool tracepoint_exists(const struct bpf_program *p)
{
	const char *sec = bpf_program__section_name(p), *slash = strchr(sec, '/');
	char path[256];
	snprintf(path, sizeof(path), "%s/events/%s", tracefs_root(), slash ? slash + 1 : sec);
	return is_dir(path);
}

/* ---- the followed segment files ------------------------------------------------------------ */

struct seg {
	uint64_t ino;
	uint32_t dev;
	char part[256]; /* "<topic>-<p>" */
	char name[32];	/* "<20 digits>.log" */
	struct trace_file last; /* at the last per-second line */
};

struct tracer {
	const struct trace_opts *o;
	struct trace_bpf *skel;
	int files_fd;
	bool ext4; /* the data dir is on ext4: pages written back come from its tracepoint */
	struct seg *segs;
	size_t nsegs;
	size_t full_warned;
	struct trace_op last_ops[TRACE_NOPS];
	uint64_t last_sc[TRACE_NSC];
	double t0, last_t;
};

/* A "<topic>-<digits>" directory name (not a "*.deleted" leftover). */
static bool partition_dir(const char *name)
{
	const char *dash = strrchr(name, '-');
	if (!dash || dash == name || !dash[1])
		return false;
	for (const char *p = dash + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

static int by_partition(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;
	int c = strcmp(x->part, y->part);
	return c ? c : strcmp(x->name, y->name);
}

/* Puts every .log under DIR/<topic>-<p>/ not followed yet into the files map; segs stay
 * sorted by partition, then segment. */
static void scan_segments(struct tracer *tr)
{
	size_t had = tr->nsegs;
	DIR *d = opendir(tr->o->dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!partition_dir(e->d_name))
			continue;
		char path[4200];
		snprintf(path, sizeof(path), "%s/%s", tr->o->dir, e->d_name);
		DIR *pd = opendir(path);
		struct dirent *f;
		while (pd && (f = readdir(pd))) {
			size_t len = strlen(f->d_name);
			struct stat st;
			if (len != 24 || strcmp(f->d_name + 20, ".log") || fstatat(dirfd(pd), f->d_name, &st, 0) < 0)
				continue;
			bool known = false;
			for (size_t i = 0; i < tr->nsegs && !known; i++)
				known = tr->segs[i].ino == st.st_ino;
			if (known)
				continue;
			/* the kernel's dev_t, as the tracepoints print it */
			struct trace_file v = { .dev = (major(st.st_dev) << 20) | minor(st.st_dev) };
			uint64_t ino = st.st_ino;
			if (bpf_map_update_elem(tr->files_fd, &ino, &v, BPF_NOEXIST) < 0 && errno != EEXIST) {
				if (!tr->full_warned++)
					fprintf(stderr, "pagebus: trace: cannot follow %s/%s: %s\n", path, f->d_name,
						strerror(errno));
				continue;
			}
			struct seg *ns = realloc(tr->segs, (tr->nsegs + 1) * sizeof(*ns));
			if (!ns)
				continue;
			tr->segs = ns;
			ns[tr->nsegs] = (struct seg){ .ino = ino, .dev = v.dev };
			snprintf(ns[tr->nsegs].part, sizeof(ns->part), "%s", e->d_name);
			memcpy(ns[tr->nsegs].name, f->d_name, 25); /* 20 digits, ".log", NUL */
			tr->nsegs++;
		}
		if (pd)
			closedir(pd);
	}
	if (d)
		closedir(d);
	if (tr->nsegs != had)
		qsort(tr->segs, tr->nsegs, sizeof(*tr->segs), by_partition);
}

static struct trace_file file_now(struct tracer *tr, const struct seg *s)
{
	struct trace_file v = { 0 };
	bpf_map_lookup_elem(tr->files_fd, &s->ino, &v);
	return v;
}

/* ---- figures ------------------------------------------------------------------------------ */

static const char *op_name(unsigned op, char *buf, size_t len)
{
	const char *n = uloop_opcode_name(op);
	if (n)
		return n;
	snprintf(buf, len, "OP_%u", op);
	return buf;
}

static const char *bytes(char *buf, size_t len, double v)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;
	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f%s" : "%.0f%s", v, u[i]);
	return buf;
}

static const char *ns_text(char *buf, size_t len, double ns)
{
	if (ns < 1e3)
		snprintf(buf, len, "%.3gns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.3gus", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, len, "%.3gms", ns / 1e6);
	else
		snprintf(buf, len, "%.3gs", ns / 1e9);
	return buf;
}

/* The q-quantile of an opcode's latencies: the upper bound of its log2 bucket, or the
 * largest one seen when that is lower; in ns (0: none). */
static double hist_quantile(const struct trace_op *o, double q)
{
	uint64_t total = 0, cum = 0;
	for (int i = 0; i < TRACE_NHIST; i++)
		total += o->hist[i];
	for (int i = 0; total && i < TRACE_NHIST; i++)
		if ((cum += o->hist[i]) >= q * (double)total)
			return (double)(2ull << i) < (double)o->lat_max_ns ? (double)(2ull << i) : (double)o->lat_max_ns;
	return 0;
}

static struct trace_op op_diff(const struct trace_op *a, const struct trace_op *b)
{
	struct trace_op d = { a->submitted - b->submitted, a->completed - b->completed, a->punted - b->punted,
			      a->errors - b->errors, a->short_writes - b->short_writes, a->bytes - b->bytes,
			      a->timed - b->timed, a->lat_sum_ns - b->lat_sum_ns, a->lat_max_ns, { 0 } };
	for (int i = 0; i < TRACE_NHIST; i++)
		d.hist[i] = a->hist[i] - b->hist[i];
	return d;
}

/* Pages read through the cache and those it had to bring in (reads: added, not new). */
static void cache_figures(const struct trace_file *f, uint64_t *accessed, uint64_t *missed)
{
	*accessed = f->read_pages + f->mapped_pages + f->faults;
	*missed = f->added_pages > f->new_pages ? f->added_pages - f->new_pages : 0;
}

/* a + k * b, field by field: k = 1 sums, k = -1 takes a difference (modulo 2^64). */
static struct trace_file file_plus(const struct trace_file *a, const struct trace_file *b, int k)
{
	uint64_t m = (uint64_t)(int64_t)k;
	return (struct trace_file){ a->dev,
				    0,
				    a->read_pages + m * b->read_pages,
				    a->mapped_pages + m * b->mapped_pages,
				    a->faults + m * b->faults,
				    a->added_pages + m * b->added_pages,
				    a->new_pages + m * b->new_pages,
				    a->dirtied + m * b->dirtied,
				    a->written_ext4 + m * b->written_ext4,
				    a->written_inode + m * b->written_inode };
}

static uint64_t written(const struct tracer *tr, const struct trace_file *f)
{
	return tr->ext4 ? f->written_ext4 : f->written_inode;
}

/* "99.5%" of accesses served from the cache, or "-" without accesses. */
static const char *hit_ratio(char *buf, size_t len, uint64_t accessed, uint64_t missed)
{
	if (!accessed)
		return "-";
	double r = missed >= accessed ? 0 : (double)(accessed - missed) / (double)accessed * 100;
	snprintf(buf, len, "%.1f%%", r);
	return buf;
}

/* Bytes by copy class: io_uring results of data opcodes plus the syscalls. */
struct moved {
	uint64_t sendfile, splice, uring_splice, read, uring_read, write, uring_write;
};

static struct moved moved(const struct trace_op *ops, const uint64_t *sc)
{
	struct moved m = { sc[TRACE_SC_SENDFILE], sc[TRACE_SC_SPLICE], 0, sc[TRACE_SC_READ], 0, sc[TRACE_SC_WRITE], 0 };
	for (unsigned op = 0; op < TRACE_NOPS; op++) {
		switch (op) {
		case OP_SPLICE:
		case OP_TEE:
		case OP_SEND_ZC:
		case OP_SENDMSG_ZC:
			m.uring_splice += ops[op].bytes;
			break;
		case OP_READV:
		case OP_READ_FIXED:
		case OP_RECVMSG:
		case OP_READ:
		case OP_RECV:
		case OP_READ_MULTISHOT:
		case OP_READV_FIXED:
			m.uring_read += ops[op].bytes;
			break;
		case OP_WRITEV:
		case OP_WRITE_FIXED:
		case OP_SENDMSG:
		case OP_WRITE:
		case OP_SEND:
		case OP_WRITEV_FIXED:
			m.uring_write += ops[op].bytes;
			break;
		default:
			break;
		}
	}
	return m;
}

static void read_ops(const struct tracer *tr, struct trace_op *ops, uint64_t *sc)
{
	/* .bss is mapped: the programs' adds show here as they happen */
	memcpy(ops, tr->skel->bss->ops, sizeof(tr->skel->bss->ops));
	memcpy(sc, tr->skel->bss->sc_bytes, sizeof(tr->skel->bss->sc_bytes));
}

/* ---- per second ---------------------------------------------------------------------------- */

struct opdelta {
	unsigned op;
	struct trace_op d;
};

static int by_completions(const void *a, const void *b)
{
	uint64_t x = ((const struct opdelta *)a)->d.completed + ((const struct opdelta *)a)->d.submitted;
	uint64_t y = ((const struct opdelta *)b)->d.completed + ((const struct opdelta *)b)->d.submitted;
	return x < y ? 1 : x > y ? -1 : 0;
}

static void second(struct tracer *tr, double t)
{
	struct trace_op ops[TRACE_NOPS];
	uint64_t sc[TRACE_NSC];
	struct opdelta act[TRACE_NOPS];
	int n = 0;
	char a[32], b[32], c[32], when[16];
	read_ops(tr, ops, sc);
	snprintf(when, sizeof(when), "%6.1fs", t - tr->t0);
	for (unsigned op = 0; op < TRACE_NOPS; op++) {
		struct trace_op d = op_diff(&ops[op], &tr->last_ops[op]);
		if (d.submitted || d.completed || d.punted)
			act[n++] = (struct opdelta){ op, d };
	}
	qsort(act, (size_t)n, sizeof(*act), by_completions);
	printf("%s  io_uring", when);
	if (!n)
		printf("  (idle)");
	for (int i = 0; i < n && i < TOP_OPS; i++) {
		const struct trace_op *d = &act[i].d;
		printf("  %s %" PRIu64 "/%" PRIu64, op_name(act[i].op, a, sizeof(a)), d->submitted, d->completed);
		if (d->punted)
			printf(" punted %" PRIu64, d->punted);
		if (d->short_writes)
			printf(" short %" PRIu64, d->short_writes);
		if (d->timed)
			printf(" p99 %s", ns_text(b, sizeof(b), hist_quantile(d, 0.99)));
	}
	if (n > TOP_OPS)
		printf("  +%d more", n - TOP_OPS);
	printf("\n");

	/* page cache, per partition with activity */
	for (size_t i = 0, j; i < tr->nsegs; i = j) {
		struct trace_file sum = { 0 };
		for (j = i; j < tr->nsegs && !strcmp(tr->segs[j].part, tr->segs[i].part); j++) {
			struct trace_file now = file_now(tr, &tr->segs[j]), d = file_plus(&now, &tr->segs[j].last, -1);
			sum = file_plus(&sum, &d, 1);
			tr->segs[j].last = now;
		}
		uint64_t acc, miss;
		cache_figures(&sum, &acc, &miss);
		if (!acc && !sum.added_pages && !sum.dirtied && !written(tr, &sum))
			continue;
		printf("%s  cache %s  read %" PRIu64 " mapped %" PRIu64 " faults %" PRIu64 " misses %" PRIu64
		       " new %" PRIu64 " hit %s  dirtied %" PRIu64 " written %" PRIu64 "\n",
		       when, tr->segs[i].part, sum.read_pages, sum.mapped_pages, sum.faults, miss, sum.new_pages,
		       hit_ratio(a, sizeof(a), acc, miss), sum.dirtied, written(tr, &sum));
	}

	struct moved now = moved(ops, sc), was = moved(tr->last_ops, tr->last_sc);
	uint64_t zc = now.sendfile + now.splice + now.uring_splice - was.sendfile - was.splice - was.uring_splice;
	printf("%s  bytes  zero-copy %s, copied in %s, copied out %s\n", when, bytes(a, sizeof(a), (double)zc),
	       bytes(b, sizeof(b), (double)(now.read + now.uring_read - was.read - was.uring_read)),
	       bytes(c, sizeof(c), (double)(now.write + now.uring_write - was.write - was.uring_write)));
	fflush(stdout);
	memcpy(tr->last_ops, ops, sizeof(ops));
	memcpy(tr->last_sc, sc, sizeof(sc));
}

/* ---- the summary --------------------------------------------------------------------------- */

static void summary(struct tracer *tr, double t)
{
	struct trace_op ops[TRACE_NOPS];
	uint64_t sc[TRACE_NSC];
	char a[32], b[32], c[32], d[32], e[32], f[32];
	read_ops(tr, ops, sc);
	printf("\npagebus trace: pid %d, data dir %s, %.1f s\n", tr->o->pid, tr->o->dir, t - tr->t0);

	printf("\nio_uring operations (latency: submission to completion; punted: handed to an io-wq "
	       "worker)\n");
	printf("%-16s %10s %10s %8s %7s %6s %10s %8s %8s %8s %8s\n", "OPCODE", "SUBMITTED", "COMPLETED", "PUNTED",
	       "ERRORS", "SHORT", "BYTES", "AVG", "P50", "P99", "MAX");
	bool any = false;
	for (unsigned op = 0; op < TRACE_NOPS; op++) {
		const struct trace_op *o = &ops[op];
		if (!o->submitted && !o->completed)
			continue;
		any = true;
		printf("%-16s %10" PRIu64 " %10" PRIu64 " %8" PRIu64 " %7" PRIu64 " %6" PRIu64 " %10s %8s %8s %8s %8s\n",
		       op_name(op, a, sizeof(a)), o->submitted, o->completed, o->punted, o->errors, o->short_writes,
		       bytes(b, sizeof(b), (double)o->bytes),
		       o->timed ? ns_text(c, sizeof(c), (double)o->lat_sum_ns / (double)o->timed) : "-",
		       o->timed ? ns_text(d, sizeof(d), hist_quantile(o, 0.5)) : "-",
		       o->timed ? ns_text(e, sizeof(e), hist_quantile(o, 0.99)) : "-",
		       o->timed ? ns_text(f, sizeof(f), (double)o->lat_max_ns) : "-");
	}
	if (!any)
		printf("(no io_uring activity of pid %d)\n", tr->o->pid);

	for (unsigned op = 0; op < TRACE_NOPS; op++) {
		const struct trace_op *o = &ops[op];
		uint64_t top = 0;
		int lo = TRACE_NHIST, hi = -1;
		for (int i = 0; i < TRACE_NHIST; i++)
			if (o->hist[i]) {
				top = o->hist[i] > top ? o->hist[i] : top;
				lo = i < lo ? i : lo;
				hi = i;
			}
		if (hi < 0)
			continue;
		printf("\n%s latency\n", op_name(op, a, sizeof(a)));
		for (int i = lo; i <= hi; i++)
			printf("  %8s .. %-8s |%-40.*s| %" PRIu64 "\n", ns_text(b, sizeof(b), (double)(1ull << i)),
			       ns_text(c, sizeof(c), (double)(2ull << i)), (int)(o->hist[i] * 40 / top),
			       "########################################", o->hist[i]);
	}

	printf("\npage cache of segment files (pages; misses: added by readers, new: added by "
	       "appends; written: %s)\n",
	       tr->ext4 ? "ext4 writepages" : "writeback passes");
	printf("%-24s %-24s %10s %8s %8s %7s %7s %7s %7s %7s %8s\n", "PARTITION", "SEGMENT", "INODE", "READ",
	       "MAPPED", "FAULTS", "MISSES", "NEW", "HIT", "DIRTIED", "WRITTEN");
	size_t idle = 0;
	for (size_t i = 0; i < tr->nsegs; i++) {
		struct trace_file v = file_now(tr, &tr->segs[i]);
		uint64_t acc, miss;
		cache_figures(&v, &acc, &miss);
		if (!acc && !v.added_pages && !v.dirtied && !written(tr, &v)) {
			idle++;
			continue;
		}
		printf("%-24s %-24s %10" PRIu64 " %8" PRIu64 " %8" PRIu64 " %7" PRIu64 " %7" PRIu64 " %7" PRIu64
		       " %7s %7" PRIu64 " %8" PRIu64 "\n",
		       tr->segs[i].part, tr->segs[i].name, tr->segs[i].ino, v.read_pages, v.mapped_pages, v.faults,
		       miss, v.new_pages, hit_ratio(a, sizeof(a), acc, miss), v.dirtied, written(tr, &v));
	}
	if (!tr->nsegs)
		printf("(no segment files under %s)\n", tr->o->dir);
	else if (idle)
		printf("(%zu more segment file%s without any of these events)\n", idle, idle == 1 ? "" : "s");

	printf("\nhit ratio per partition\n");
	for (size_t i = 0, j; i < tr->nsegs; i = j) {
		struct trace_file sum = { 0 };
		for (j = i; j < tr->nsegs && !strcmp(tr->segs[j].part, tr->segs[i].part); j++) {
			struct trace_file v = file_now(tr, &tr->segs[j]);
			sum = file_plus(&sum, &v, 1);
		}
		uint64_t acc, miss;
		cache_figures(&sum, &acc, &miss);
		if (!acc && !sum.added_pages && !sum.dirtied && !written(tr, &sum))
			continue;
		printf("  %-24s %7s  (%" PRIu64 " pages accessed, %" PRIu64 " missed, %" PRIu64
		       " new by appends, %" PRIu64 " written back)\n",
		       tr->segs[i].part, hit_ratio(a, sizeof(a), acc, miss), acc, miss, sum.new_pages, written(tr, &sum));
	}

	struct moved m = moved(ops, sc);
	printf("\nbytes moved by pid %d\n", tr->o->pid);
	printf("  zero copy:        %s (sendfile %s, splice %s, io_uring SPLICE/TEE/SEND_ZC %s)\n",
	       bytes(a, sizeof(a), (double)(m.sendfile + m.splice + m.uring_splice)),
	       bytes(b, sizeof(b), (double)m.sendfile), bytes(c, sizeof(c), (double)m.splice),
	       bytes(d, sizeof(d), (double)m.uring_splice));
	printf("  copied in:        %s (read/recv %s, io_uring READ/RECV %s)\n",
	       bytes(a, sizeof(a), (double)(m.read + m.uring_read)), bytes(b, sizeof(b), (double)m.read),
	       bytes(c, sizeof(c), (double)m.uring_read));
	printf("  copied out:       %s (write/send %s, io_uring WRITE/WRITEV/SEND %s)\n",
	       bytes(a, sizeof(a), (double)(m.write + m.uring_write)), bytes(b, sizeof(b), (double)m.write),
	       bytes(c, sizeof(c), (double)m.uring_write));
	fflush(stdout);
}

/* ---- run --------------------------------------------------------------------------------- */

/* Optional programs this kernel has no tracepoint for are left out (named in *skipped). */
static int choose_programs(struct tracer *tr, char *skipped, size_t len)
{
	struct bpf_program *p;
	size_t n = 0;
	skipped[0] = 0;
	bpf_object__for_each_program(p, tr->skel->obj)
	{
		bool want = tracepoint_exists(p);
		const char *sec = bpf_program__section_name(p);
		if (!want && !strncmp(sec, "tp/io_uring/", 12))
			return say(EXIT_CANNOT, "this kernel has no %s tracepoint: io_uring cannot be traced", sec + 3);
		/* written-back pages: ext4's own count on ext4, writeback passes elsewhere */
		if (p == tr->skel->progs.ext4_writepages_result)
			want &= tr->ext4;
		if (p == tr->skel->progs.writeback_single_inode)
			want &= !tr->ext4;
		if (!want && !strstr(sec, "ext4") && !strstr(sec, "writeback_single_inode"))
			n += (size_t)snprintf(skipped + n, n < len ? len - n : 0, " %s", sec + 3);
		bpf_program__set_autoload(p, want);
	}
	return 0;
}

int trace_run(const struct trace_opts *o)
{
	struct tracer tr = { .o = o };
	int rc = trace_check();
	if (rc)
		return rc;
	if (o->pid <= 0 || kill(o->pid, 0) < 0)
		return say(EXIT_RUNTIME, "no process %d to trace (is pagebusd running? --pid names another)", o->pid);
	struct statfs sfs;
	tr.ext4 = statfs(o->dir, &sfs) == 0 && sfs.f_type == EXT4_MAGIC;

	libbpf_set_print(libbpf_print);
	char skipped[512];
	tr.skel = trace_bpf__open();
	if (!tr.skel)
		return say(EXIT_RUNTIME, "cannot open the BPF programs: %s", strerror(errno));
	tr.skel->rodata->target_tgid = (uint32_t)o->pid;
	if ((rc = choose_programs(&tr, skipped, sizeof(skipped))))
		goto out;
	int err = trace_bpf__load(tr.skel);
	if (err) {
		rc = say(EXIT_RUNTIME, "cannot load the BPF programs: %s%s%s", strerror(-err), *g_libbpf_msg ? ": " : "",
			 g_libbpf_msg);
		goto out;
	}
	if ((err = trace_bpf__attach(tr.skel))) {
		rc = say(EXIT_RUNTIME, "cannot attach to the tracepoints: %s%s%s", strerror(-err),
			 *g_libbpf_msg ? ": " : "", g_libbpf_msg);
		goto out;
	}
	tr.files_fd = bpf_map__fd(tr.skel->maps.files);
	scan_segments(&tr);

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	tr.t0 = tr.last_t = now_s();
	fprintf(stderr, "pagebus: trace: tracing pid %d and %zu segment file%s of %s%s%s; %s\n", o->pid, tr.nsegs,
		tr.nsegs == 1 ? "" : "s", o->dir, *skipped ? "; no tracepoint for" : "", skipped,
		o->seconds ? "stops after --seconds" : "Ctrl-C stops");
	double end = o->seconds ? tr.t0 + o->seconds : 0;
	bool gone = false;
	while (!g_stop && !gone) {
		double next = tr.last_t + 1, stop_at = end && end < next ? end : next;
		struct timespec ts;
		double left = stop_at - now_s();
		if (left > 0) {
			ts.tv_sec = (time_t)left;
			ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
			nanosleep(&ts, NULL); /* a signal ends it early */
			continue;
		}
		tr.last_t = now_s();
		if (!o->quiet)
			second(&tr, tr.last_t);
		scan_segments(&tr); /* segments roll */
		gone = kill(o->pid, 0) < 0 && errno == ESRCH;
		if (end && tr.last_t >= end - 1e-3)
			break;
	}
	if (gone)
		fprintf(stderr, "pagebus: trace: pid %d exited\n", o->pid);
	summary(&tr, now_s());
	rc = 0;
out:
	trace_bpf__destroy(tr.skel);
	free(tr.segs);
	return rc;
}
