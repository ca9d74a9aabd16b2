/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_hist.c — the HDR-style histogram of pagebus-bench: bucket index arithmetic,
 * percentiles, merging and coordinated-omission correction.
 */
#include "bench_hist.h"

#include <string.h>

void hist_reset(struct bench_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

/* Values below 2 * SUB are their own bucket; above, the top SUB_BITS + 1 bits pick it. */
static unsigned bucket_of(uint64_t v)
{
	if (v < 2 * HIST_SUB)
		return (unsigned)v;
	unsigned shift = (unsigned)(63 - __builtin_clzll(v)) - HIST_SUB_BITS;
	return (shift + 1) * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
}

/* The lowest value that falls in bucket b. */
static uint64_t bucket_low(unsigned b)
{
	if (b < 2 * HIST_SUB)
		return b;
	unsigned shift = b / HIST_SUB - 1;
	return ((uint64_t)(b % HIST_SUB) + HIST_SUB) << shift;
}

void hist_record_n(struct bench_hist *h, uint64_t v, uint64_t n)
{
	if (!n)
		return;
	h->counts[bucket_of(v)] += n;
	h->count += n;
	h->sum += (double)v * (double)n;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void hist_record(struct bench_hist *h, uint64_t v)
{
	hist_record_n(h, v, 1);
}

void hist_record_corrected(struct bench_hist *h, uint64_t v, uint64_t expected_interval)
{
	hist_record(h, v);
	if (!expected_interval || v <= expected_interval)
		return;
	for (uint64_t missing = v - expected_interval; missing >= expected_interval;
	     missing -= expected_interval)
		hist_record(h, missing);
}

void hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	if (!src->count)
		return;
	for (unsigned b = 0; b < HIST_BUCKETS; b++)
		dst->counts[b] += src->counts[b];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t hist_percentile(const struct bench_hist *h, double pct)
{
	if (!h->count)
		return 0;
	if (pct >= 100)
		return h->max;
	if (pct < 0)
		pct = 0;
	/* rank of the sample we want, 1-based: ceil(pct% of count), at least 1 */
	double want = pct / 100.0 * (double)h->count;
	uint64_t rank = (uint64_t)want;
	if ((double)rank < want)
		rank++;
	if (!rank)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		seen += h->counts[b];
		if (seen >= rank) {
			uint64_t v = bucket_low(b);
			return v < h->min ? h->min : v > h->max ? h->max : v;
		}
	}
	return h->max;
}

double hist_mean(const struct bench_hist *h)
{
	return h->count ? h->sum / (double)h->count : 0;
}
