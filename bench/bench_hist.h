/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_hist.h — an HDR-style latency histogram: log-bucketed (128 linear sub-buckets
 * per power of two, so any value is kept within 1/128 of itself), fixed size and
 * pointer-free so it can live in memory shared with forked client processes.
 */
#ifndef PAGEBUS_BENCH_HIST_H
#define PAGEBUS_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
/* values 0 .. 2^(SUB_BITS+1)-1 exactly, then SUB buckets per octave up to 2^64 */
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct bench_hist {
	uint64_t count;
	uint64_t min, max;      /* exact */
	double sum;
	uint64_t counts[HIST_BUCKETS];
};

/* Empties h (also the way to initialise it). */
void hist_reset(struct bench_hist *h);
void hist_record(struct bench_hist *h, uint64_t v);
void hist_record_n(struct bench_hist *h, uint64_t v, uint64_t n);
/*
 * Coordinated-omission correction for a closed-loop series sampled every
 * expected_interval (HdrHistogram's recordValueWithExpectedInterval): records v and,
 * when v stalled the loop past the interval, the samples the stall kept from being
 * taken: v - interval, v - 2 * interval, ... down to interval. 0 = no correction.
 */
void hist_record_corrected(struct bench_hist *h, uint64_t v, uint64_t expected_interval);
/* Adds every sample of src to dst. */
void hist_merge(struct bench_hist *dst, const struct bench_hist *src);
/*
 * The smallest recorded value v such that at least pct % of the samples are <= v
 * (pct in 0..100; 100 gives the max), to the histogram's precision and clamped to the
 * exact min and max. 0 when empty.
 */
uint64_t hist_percentile(const struct bench_hist *h, double pct);
double hist_mean(const struct bench_hist *h);

#endif
