/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_report.h — one result line of pagebus-bench: the measurement, its limit and
 * its peers as ratios, the broker's cost; medians over --runs; the human table and
 * the one-object-per-line JSON.
 */
#ifndef PAGEBUS_BENCH_REPORT_H
#define PAGEBUS_BENCH_REPORT_H

#include <stdio.h>

#define BENCH_MAX_RUNS 50

/* Every double is NAN when it does not apply (JSON null, "-" in the table). */
struct bench_result {
	char scenario[16];
	char params[160];        /* "key=value ..." */
	char status[64];         /* "ok", or why there is no number ("not available in this build") */
	char headline[16];       /* the field --runs gives min and max of */
	int runs;
	double msgs_per_s, mb_per_s, gb_per_s, seconds;
	double p50_us, p90_us, p99_us, p999_us, p9999_us, max_us;
	char limit_name[48];
	double limit_value;      /* in the headline's unit (latency: the limit's RTT in µs) */
	double ratio_to_limit;   /* headline / limit */
	char peer[32];           /* "" when there is no comparable peer */
	double peer_value;       /* the peer's number in the headline's unit; NAN: missing */
	double ratio_to_peer;    /* headline / peer */
	char peer2[32];
	double peer2_value;
	double ratio_to_peer2;
	double broker_cpu_s_per_mmsg; /* broker CPU seconds per million messages */
	double broker_peak_rss_mb;    /* broker VmHWM over the measured window */
	double broker_rss_mb_per_mmsg;
	double headline_min, headline_max;
};

/* An empty result of scenario with every number NAN and status "ok". */
void result_init(struct bench_result *r, const char *scenario);
/* Appends " key=value" to r->params (printf-style value). */
void result_param(struct bench_result *r, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The value of the headline field. */
double result_headline(const struct bench_result *r);
/* Fills the ratios from the values (NAN where either side is missing). */
void result_ratios(struct bench_result *r);
/*
 * out = the median over runs of every number of v[0..n) (NANs ignored), text fields
 * from v[0], headline_min/max the spread of the headline.
 */
void result_median(const struct bench_result *v, int n, struct bench_result *out);

/* Output: JSON lines or the table, to f. A title line starts each scenario's table. */
void report_json(FILE *f, const struct bench_result *r);
void report_table(FILE *f, const struct bench_result *r);
/* "12.3 M" style, for humans. */
const char *fmt_si(char *buf, size_t len, double v);
double median_of(double *v, int n);

#endif
