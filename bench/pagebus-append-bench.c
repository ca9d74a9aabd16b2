/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pagebus-append-bench — in-process append throughput of the partition log (the
 * storage core alone, no broker), next to the machine's limit measured in the same
 * run: a plain write(2) loop appending the same bytes to a file. Reports medians of
 * --runs runs and the ratio pagebus/limit, for 64-byte and 1 KiB values, with sparse
 * and fallocated segments. The full harness is pagebus-bench.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "logging.h"
#include "partition.h"
#include "record_batch.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rmrf_dir(const char *dir)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", dir);
}

/* One batch of records with value_len-byte values, about batch_bytes in total. */
static uint8_t *make_batch(size_t value_len, size_t batch_bytes, int *records, size_t *len)
{
	size_t cap = batch_bytes + value_len + 128;
	uint8_t *buf = malloc(cap), *val = malloc(value_len);
	struct rb_builder b;
	if (!buf || !val || rb_builder_init(&b, buf, cap))
		exit(1);
	memset(val, 'v', value_len);
	int n = 0;
	while (b.len < batch_bytes || n == 0) {
		if (rb_builder_add(&b, 1700000000000 + n, NULL, -1, val, (int32_t)value_len, NULL, 0))
			break;
		n++;
	}
	*len = (size_t)rb_builder_finish(&b);
	*records = n;
	free(val);
	return buf;
}

/* Appends batches through the partition log until total bytes; returns seconds. */
static double run_pagebus(const char *dir, const struct log_config *cfg, uint8_t *batch, size_t len,
			  uint64_t total)
{
	struct partition *p;
	int err = part_open(dir, cfg, &p);
	if (err) {
		fprintf(stderr, "part_open %s: %s\n", dir, strerror(-err));
		exit(1);
	}
	double t0 = now_s();
	for (uint64_t done = 0; done < total; done += len) {
		if ((err = part_append(p, batch, len, 0, NULL)) < 0) {
			fprintf(stderr, "append: %s\n", strerror(-err));
			exit(1);
		}
	}
	double t = now_s() - t0;
	part_close(p);
	rmrf_dir(dir);
	return t;
}

/* The limit: write(2) of the same buffer at the tail of a plain file. */
static double run_write(const char *dir, const uint8_t *batch, size_t len, uint64_t total)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s.plain", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	double t0 = now_s();
	for (uint64_t done = 0; done < total; done += len)
		if (write(fd, batch, len) != (ssize_t)len) {
			perror("write");
			exit(1);
		}
	double t = now_s() - t0;
	close(fd);
	unlink(path);
	return t;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pagebus-append-bench [--dir DIR] [--mib N] [--runs N] [--batch-bytes N]\n"
		   "  Appends N MiB (default 256) per run through the partition log and through\n"
		   "  a plain write(2) loop, for 64 B and 1 KiB values, sparse and fallocated\n"
		   "  segments; prints medians of --runs (default 5) and pagebus/limit ratios.\n");
}

int main(int argc, char **argv)
{
	const char *base = "/tmp";
	uint64_t mib = 256;
	int runs = 5;
	size_t batch_bytes = 16384;
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },   { "mib", required_argument, NULL, 'm' },
		{ "runs", required_argument, NULL, 'r' },  { "batch-bytes", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },        { NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "d:m:r:b:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': base = optarg; break;
		case 'm': mib = strtoull(optarg, NULL, 10); break;
		case 'r': runs = atoi(optarg); break;
		case 'b': batch_bytes = strtoull(optarg, NULL, 10); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!mib || runs < 1 || runs > 100 || batch_bytes < 128 || batch_bytes > (64 << 20)) {
		usage(stderr);
		return 2;
	}
	log_set_level(LOG_ERROR);
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/pagebus-append-bench-%d", base, (int)getpid());
	uint64_t total = mib << 20;
	static const size_t sizes[] = { 64, 1024 };
	printf("# pagebus-append-bench: %" PRIu64 " MiB per run, %d runs, batches of ~%zu bytes, dir %s\n",
	       mib, runs, batch_bytes, base);
	printf("%-6s %-9s %12s %10s %12s %10s %8s\n", "value", "segments", "msgs/s", "MB/s",
	       "write(2)MB/s", "MB/s-range", "ratio");
	for (size_t si = 0; si < 2; si++) {
		for (int prealloc = 0; prealloc < 2; prealloc++) {
			int records;
			size_t len;
			uint8_t *batch = make_batch(sizes[si], batch_bytes, &records, &len);
			struct log_config cfg;
			log_config_defaults(&cfg);
			cfg.preallocate = prealloc;
			double tp[100], tw[100], ratio[100];
			uint64_t batches = (total + len - 1) / len;
			for (int r = 0; r < runs; r++) {
				/* interleave: both see the same machine state */
				tw[r] = run_write(dir, batch, len, total);
				tp[r] = run_pagebus(dir, &cfg, batch, len, total);
				ratio[r] = tw[r] / tp[r];
			}
			double bytes = (double)batches * (double)len;
			double mbs[100];
			for (int r = 0; r < runs; r++)
				mbs[r] = bytes / tp[r] / 1e6;
			double mt = median(tp, runs), mw = median(tw, runs);
			qsort(mbs, (size_t)runs, sizeof(double), cmp_d);
			char range[64];
			snprintf(range, sizeof(range), "%.0f-%.0f", mbs[0], mbs[runs - 1]);
			printf("%-6zu %-9s %12.0f %10.0f %12.0f %10s %8.2f\n", sizes[si],
			       prealloc ? "fallocate" : "sparse", (double)batches * records / mt,
			       bytes / mt / 1e6, bytes / mw / 1e6, range, median(ratio, runs));
			free(batch);
		}
	}
	return 0;
}
