/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pagebus-fetch-bench — remote consume throughput of pagebusd's Kafka endpoint over
 * loopback: one Fetch v4 client (pagebus-bench's, bench_kafka.c) reads a page-cached
 * partition from offset 0 to its end, with 100-byte and 1 KiB records, once with the
 * broker splicing record bytes (the default) and once copying them through user space
 * (kafka.fetch.copy=true), next to the machine's limits measured in the same run:
 * sendfile(2) of a page-cached file to a loopback socket, and pread+write of it.
 * Prints medians of --runs runs: MB/s, msgs/s, and the broker's CPU seconds per GB
 * (io_uring workers included). The broker's own counters confirm each path moved the
 * bytes the way it claims (spliced vs copied).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_kafka.h"
#include "bench_limits.h"
#include "bench_proc.h"
#include "pagebus.h"

#define MAX_RUNS 64

struct opts {
	int runs;
	bool cold;           /* evict the log from the page cache before every pass */
	uint64_t mib;        /* log size per record size */
	int32_t fetch_bytes; /* max_bytes and partition_max_bytes of each Fetch */
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Writes the log's segments to disk and drops them from the page cache. */
static void evict(const char *dir, const char *topic)
{
	char pdir[4400], path[4700];
	snprintf(pdir, sizeof(pdir), "%s/%s-0", dir, topic);
	DIR *d = opendir(pdir);
	for (struct dirent *de; d && (de = readdir(d));) {
		if (!strstr(de->d_name, ".log"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", pdir, de->d_name);
		int fd = open(path, O_RDONLY);
		if (fd >= 0) {
			fdatasync(fd);
			posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			close(fd);
		}
	}
	if (d)
		closedir(d);
}

/* Writes count records of value_len bytes into topic/0 through the local path. */
static int write_log(const char *dir, const char *topic, uint64_t count, size_t value_len)
{
	struct pagebus *pb;
	struct pagebus_producer *p;
	char *v = malloc(value_len);
	int err = v ? pagebus_connect(dir, &pb) : -ENOMEM;
	if (err) {
		free(v);
		return err;
	}
	memset(v, 'v', value_len);
	if (!(err = pagebus_topic_create(pb, topic, 1)) && !(err = pagebus_producer_open(pb, topic, NULL, &p))) {
		for (uint64_t i = 0; i < count && !err; i++)
			err = pagebus_send(p, 0, NULL, 0, v, value_len);
		if (!err)
			err = pagebus_flush(p, 120000);
		pagebus_producer_close(p);
	}
	pagebus_close(pb);
	free(v);
	return err;
}

/* The number after `pat` on the broker's log line holding `line` (the last such), or -1:
 * the port it listens on, the counters of its stats line at exit. */
static long long log_num(const char *log, const char *line_has, const char *pat)
{
	FILE *f = fopen(log, "r");
	char line[1024];
	long long v = -1;
	while (f && fgets(line, sizeof(line), f)) {
		const char *at = strstr(line, line_has);
		if (at && (at = strstr(at, pat)))
			v = atoll(at + strlen(pat));
	}
	if (f)
		fclose(f);
	return v;
}

static long long log_stat(const char *log, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), " %s=", key);
	return log_num(log, "kafka endpoint stats:", pat);
}

struct result {
	double mbps[MAX_RUNS], msgps[MAX_RUNS], cpu_per_gb[MAX_RUNS];
	uint64_t bytes;
	long long zero_copy, copied; /* the broker's counters: sendfile + splice, and copied */
};

/* --runs Fetch passes over the whole log with one broker on dir. */
static int measure(const struct opts *o, const char *dir, const char *topic, uint64_t count, bool copy,
		   struct result *res)
{
	struct bench_broker b;
	const char *args[] = { "--kafka.listen", "127.0.0.1:0", "--kafka.fetch.copy", copy ? "true" : "false",
			       "--log.level", "info", NULL };
	int err = broker_start(&b, dir, args);
	if (err)
		return err;
	int port = (int)log_num(b.log, "kafka endpoint listening on", "127.0.0.1:");
	for (int r = 0; r < o->runs && !err; r++) {
		struct kfetch_stats st;
		if (o->cold)
			evict(dir, topic);
		double cpu0 = proc_cpu_s(b.pid), t0 = now_s();
		err = kafka_fetch_all(port, topic, (int64_t)count, o->fetch_bytes, &st);
		double t = now_s() - t0, cpu = proc_cpu_s(b.pid) - cpu0;
		if (err)
			break;
		if (st.msgs != count) {
			fprintf(stderr, "fetched %llu records, want %llu\n", (unsigned long long)st.msgs,
				(unsigned long long)count);
			err = -EPROTO;
			break;
		}
		res->mbps[r] = (double)st.bytes / t / 1e6;
		res->msgps[r] = (double)st.msgs / t;
		res->cpu_per_gb[r] = cpu / ((double)st.bytes / 1e9);
		res->bytes += st.bytes;
	}
	broker_stop(&b);
	res->zero_copy = log_stat(b.log, "fetch_bytes_sendfile") + log_stat(b.log, "fetch_bytes_spliced");
	res->copied = log_stat(b.log, "fetch_bytes_copied");
	unlink(b.log);
	return err;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pagebus-fetch-bench [--runs N] [--mib M] [--fetch-bytes B] [--cold]\n"
		   "  --runs N         passes per case; medians are reported (5, at most %d)\n"
		   "  --cold           drop the log from the page cache before every pass\n"
		   "  --mib M          log size per record size, MiB (256)\n"
		   "  --fetch-bytes B  max_bytes and partition_max_bytes of each Fetch (8388608)\n",
		MAX_RUNS);
}

int main(int argc, char **argv)
{
	struct opts o = { .runs = 5, .mib = 256, .fetch_bytes = 8 << 20 };
	static const struct option lo[] = { { "runs", 1, 0, 'r' }, { "mib", 1, 0, 'm' },
					    { "fetch-bytes", 1, 0, 'f' }, { "cold", 0, 0, 'c' }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 } };
	for (int c; (c = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
		switch (c) {
		case 'r':
			o.runs = atoi(optarg);
			break;
		case 'm':
			o.mib = strtoull(optarg, NULL, 10);
			break;
		case 'f':
			o.fetch_bytes = atoi(optarg);
			break;
		case 'c':
			o.cold = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (o.runs < 1 || o.runs > MAX_RUNS || !o.mib || o.fetch_bytes < 1024) {
		usage(stderr);
		return 2;
	}
	if (!broker_has_key("kafka.fetch.copy")) {
		fprintf(stderr, "pagebus-fetch-bench: %s has no Kafka endpoint\n", bench_pagebusd());
		return 1;
	}
	char tmp[4096];
	if (bench_tmpdir("fetch", tmp, sizeof(tmp))) {
		perror("pagebus-fetch-bench: temp dir");
		return 1;
	}
	printf("pagebus-fetch-bench: %llu MiB per record size, Fetch max_bytes %d, medians of %d runs, log %s\n\n",
	       (unsigned long long)o.mib, o.fetch_bytes, o.runs, o.cold ? "cold (evicted before each pass)" : "page-cached");
	printf("%-8s %-9s %10s %12s %16s %14s %14s\n", "record", "path", "MB/s", "msgs/s", "broker CPU s/GB",
	       "zero-copy B", "copied B");
	static const size_t values[] = { 100, 1024 };
	int rc = 0;
	for (size_t v = 0; v < sizeof(values) / sizeof(values[0]) && !rc; v++) {
		char dir[4200], topic[32];
		snprintf(dir, sizeof(dir), "%s/v%zu", tmp, values[v]);
		snprintf(topic, sizeof(topic), "fetch%zu", values[v]);
		uint64_t count = (o.mib << 20) / values[v];
		struct bench_broker b;
		if (broker_start(&b, dir, NULL) || write_log(dir, topic, count, values[v])) {
			fprintf(stderr, "pagebus-fetch-bench: cannot write the %zu-byte log\n", values[v]);
			rc = 1;
			break;
		}
		broker_stop(&b);
		unlink(b.log);
		for (int copy = 0; copy < 2 && !rc; copy++) {
			static struct result res;
			memset(&res, 0, sizeof(res));
			int err = measure(&o, dir, topic, count, copy, &res);
			if (err) {
				fprintf(stderr, "pagebus-fetch-bench: %zu B %s: %s\n", values[v], copy ? "copy" : "zero-copy",
					strerror(-err));
				rc = 1;
				break;
			}
			printf("%-8zu %-9s %10.0f %12.0f %16.2f %14lld %14lld\n", values[v], copy ? "copy" : "zero-copy",
			       median(res.mbps, o.runs), median(res.msgps, o.runs), median(res.cpu_per_gb, o.runs),
			       res.zero_copy, res.copied);
		}
	}
	/* the same machine's limits, in the same run */
	double sf[MAX_RUNS], cp[MAX_RUNS];
	for (int r = 0; r < o.runs; r++) {
		sf[r] = limit_sendfile_gbps(tmp, 1.0, &cp[r]) * 1e3;
		cp[r] *= 1e3;
	}
	printf("%-8s %-9s %10.0f\n", "file", "sendfile", median(sf, o.runs));
	printf("%-8s %-9s %10.0f\n", "file", "pread+wr", median(cp, o.runs));
	bench_rmrf(tmp);
	return rc;
}
