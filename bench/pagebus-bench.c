/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pagebus-bench — the benchmark harness: `pagebus-bench SCENARIO [options] [--json]`
 * runs a scenario against its own broker (or the one at --dir), next to the machine's
 * limits and the peers measured in the same run; a table on stdout, or JSON lines.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_scenarios.h"
#include "logging.h"
#include "pagebus.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: pagebus-bench SCENARIO|all [options] [--json]\n\nscenarios:\n");
	for (size_t i = 0; i < bench_nscenarios; i++)
		fprintf(f, "  %-9s %s\n", bench_scenarios[i].name, bench_scenarios[i].help);
	fprintf(f, "\noptions:\n"
		   "  --runs N          repeat every case N times: medians and the min-max spread (1)\n"
		   "  --quick           tiny sizes and durations (a smoke run)\n"
		   "  --json            one JSON object per result line instead of the table\n"
		   "  --seconds S       length of each measured case\n"
		   "  --dir DIR         use the broker running on DIR instead of starting one\n"
		   "  --size BYTES      catchup and recovery log size (K, M, G suffixes; 2G / 1G)\n"
		   "  --producers LIST  append: producer processes (1,2,4)\n"
		   "  --sizes LIST      value sizes in bytes (append: 16,64,256,1024,65536; others: 64)\n"
		   "  --acks LIST       append: none,appended,durable\n"
		   "  --rates LIST      latency: msgs/s, k and M suffixes (10k,100k,1M)\n"
		   "  --consumers LIST  fanout (1,2,4,8), catchup (1,2)\n"
		   "  --modes LIST      latency: spin,sleep,pingpong-spin,pingpong-sleep (all)\n"
		   "  --no-peers        skip Redis and ZeroMQ\n"
		   "  --no-limits       skip the machine's limits (to profile the bus alone)\n"
		   "Progress goes to stderr. Peers that are not installed are reported as missing.\n");
}

/* A number with an optional k/K, m/M, g/G suffix (x1000 for rates, x1024 for sizes). */
static int parse_num(const char *s, int binary, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	double k = binary ? 1024 : 1000;
	if (errno || end == s || v < 0)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': v *= k; end++; break;
	case 'm': case 'M': v *= k * k; end++; break;
	case 'g': case 'G': v *= k * k * k; end++; break;
	default: break;
	}
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Comma-separated numbers into v (at most OPT_LIST_MAX); the count or -EINVAL. */
static int parse_list(const char *arg, int binary, double *v)
{
	char buf[512], *save = NULL;
	int n = 0;
	snprintf(buf, sizeof(buf), "%s", arg);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n == OPT_LIST_MAX || parse_num(t, binary, &v[n]))
			return -EINVAL;
		n++;
	}
	return n ? n : -EINVAL;
}

static int parse_words(const char *arg, const char *const *words, int nwords, int *v, int bits)
{
	char buf[256], *save = NULL;
	int n = 0;
	snprintf(buf, sizeof(buf), "%s", arg);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int w = 0;
		while (w < nwords && strcmp(words[w], t))
			w++;
		if (w == nwords || n == OPT_LIST_MAX)
			return -EINVAL;
		if (bits)
			*v |= 1 << w;
		else
			v[n] = w;
		n++;
	}
	return n ? n : -EINVAL;
}

static void emit(void *ctx, const struct bench_result *r)
{
	const struct bench_opts *o = ctx;
	if (o->json)
		report_json(stdout, r);
	else
		report_table(stdout, r);
}

int main(int argc, char **argv)
{
	struct bench_opts o = { .runs = 1 };
	static const struct option longopts[] = {
		{ "runs", required_argument, NULL, 'r' },     { "quick", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },           { "seconds", required_argument, NULL, 's' },
		{ "dir", required_argument, NULL, 'd' },      { "size", required_argument, NULL, 'S' },
		{ "producers", required_argument, NULL, 'p' }, { "sizes", required_argument, NULL, 'z' },
		{ "acks", required_argument, NULL, 'a' },     { "rates", required_argument, NULL, 'R' },
		{ "consumers", required_argument, NULL, 'c' }, { "modes", required_argument, NULL, 'm' },
		{ "no-peers", no_argument, NULL, 'n' },       { "no-limits", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const acks[] = { "none", "appended", "durable" };
	static const char *const modes[] = { "spin", "sleep", "pingpong-spin", "pingpong-sleep" };
	double v[OPT_LIST_MAX], d;
	int c, n;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		n = 1;
		switch (c) {
		case 'r':
			o.runs = atoi(optarg);
			n = o.runs >= 1 && o.runs <= BENCH_MAX_RUNS;
			break;
		case 'q': o.quick = 1; break;
		case 'j': o.json = 1; break;
		case 'n': o.no_peers = 1; break;
		case 'L': o.no_limits = 1; break;
		case 'd': o.dir = optarg; break;
		case 's':
			n = !parse_num(optarg, 0, &d) && d > 0 && d <= 3600;
			o.seconds = d;
			break;
		case 'S':
			n = !parse_num(optarg, 1, &d) && d >= 4096;
			o.size = (uint64_t)d;
			break;
		case 'p':
		case 'c':
			if ((n = parse_list(optarg, 0, v)) > 0)
				for (int i = 0; i < n; i++)
					(c == 'p' ? o.producers : o.consumers)[i] = (int)v[i];
			*(c == 'p' ? &o.nproducers : &o.nconsumers) = n > 0 ? n : 0;
			n = n > 0;
			break;
		case 'z':
			if ((n = parse_list(optarg, 1, v)) > 0)
				for (int i = 0; i < n; i++)
					o.sizes[i] = (size_t)v[i];
			o.nsizes = n > 0 ? n : 0;
			n = n > 0;
			break;
		case 'R':
			if ((n = parse_list(optarg, 0, o.rates)) > 0)
				o.nrates = n;
			for (int i = 0; i < o.nrates; i++)
				n = n > 0 && o.rates[i] >= 1;
			n = n > 0;
			break;
		case 'a':
			n = (o.nacks = parse_words(optarg, acks, 3, o.acks, 0)) > 0;
			break;
		case 'm':
			n = parse_words(optarg, modes, 4, &o.modes, 1) > 0;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (!n) {
			fprintf(stderr, "pagebus-bench: bad value for --%s: %s\n", longopts[0].name, optarg);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	for (int i = 0; i < o.nproducers; i++)
		if (o.producers[i] < 1 || o.producers[i] > 15) {
			fprintf(stderr, "pagebus-bench: --producers: 1..15\n");
			return 2;
		}
	o.emit = emit;
	o.emit_ctx = &o;
	log_set_level(LOG_ERROR);
	const char *name = argv[optind];
	int all = !strcmp(name, "all");
	const struct bench_scenario *s = all ? NULL : bench_scenario_find(name);
	if (!all && !s) {
		fprintf(stderr, "pagebus-bench: no scenario %s\n", name);
		usage(stderr);
		return 2;
	}
	int ret = 0;
	for (size_t i = 0; i < bench_nscenarios; i++) {
		if (s && s != &bench_scenarios[i])
			continue;
		int err = bench_scenarios[i].run(&o);
		if (err) {
			fprintf(stderr, "pagebus-bench: %s: %s\n", bench_scenarios[i].name, pagebus_strerror(err));
			ret = 1;
		}
	}
	return ret;
}
