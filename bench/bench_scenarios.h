/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_scenarios.h — the scenarios of pagebus-bench (append, latency, fanout, catchup,
 * remote, recovery, limits) and the options that select their cases. Each scenario
 * starts its own broker and client processes, measures the limits and peers it is
 * compared with in the same run, and emits one result per case (median of --runs).
 */
#ifndef PAGEBUS_BENCH_SCENARIOS_H
#define PAGEBUS_BENCH_SCENARIOS_H

#include <stddef.h>
#include <stdint.h>

#include "bench_report.h"

#define OPT_LIST_MAX 16

enum lat_mode { LAT_SPIN = 1, LAT_SLEEP = 2, LAT_PINGPONG_SPIN = 4, LAT_PINGPONG_SLEEP = 8 };

struct bench_opts {
	int runs;
	int quick;              /* tiny sizes and durations: a smoke run */
	int json;
	int no_peers;
	int no_limits;          /* skip the limits (when profiling the bus alone) */
	double seconds;         /* per measured case (0: the scenario's default) */
	const char *dir;        /* a running broker's data dir, instead of our own */
	uint64_t size;          /* catchup / recovery log bytes (0: default) */
	int nproducers, producers[OPT_LIST_MAX];
	int nsizes;
	size_t sizes[OPT_LIST_MAX];
	int nacks, acks[OPT_LIST_MAX];
	int nrates;
	double rates[OPT_LIST_MAX];
	int nconsumers, consumers[OPT_LIST_MAX];
	int modes;              /* enum lat_mode bits; 0: the default set */
	/* where results go: called once per case with the median of its runs */
	void (*emit)(void *ctx, const struct bench_result *r);
	void *emit_ctx;
};

struct bench_scenario {
	const char *name;
	const char *help;
	/* 0, or a negative error when the scenario could not run at all */
	int (*run)(const struct bench_opts *o);
};

extern const struct bench_scenario bench_scenarios[];
extern const size_t bench_nscenarios;
const struct bench_scenario *bench_scenario_find(const char *name);

#endif
