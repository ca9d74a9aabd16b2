/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_report.c — result lines of pagebus-bench: ratios, medians over runs, and the
 * two outputs (a human table, JSON lines with a fixed set of fields).
 */
#include "bench_report.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The numeric fields, in JSON order: one table drives init, median and output. */
static const struct {
	const char *name;
	size_t off;
} num_fields[] = {
#define F(x) { #x, offsetof(struct bench_result, x) }
	F(msgs_per_s), F(mb_per_s), F(gb_per_s), F(seconds), F(p50_us), F(p90_us), F(p99_us),
	F(p999_us), F(p9999_us), F(max_us), F(limit_value), F(ratio_to_limit), F(peer_value),
	F(ratio_to_peer), F(peer2_value), F(ratio_to_peer2), F(broker_cpu_s_per_mmsg),
	F(broker_peak_rss_mb), F(broker_rss_mb_per_mmsg), F(headline_min), F(headline_max),
#undef F
};
#define NUM_FIELDS (sizeof(num_fields) / sizeof(num_fields[0]))

static double *num(struct bench_result *r, size_t i)
{
	return (double *)((char *)r + num_fields[i].off);
}

static double num_c(const struct bench_result *r, size_t i)
{
	return *(const double *)((const char *)r + num_fields[i].off);
}

void result_init(struct bench_result *r, const char *scenario)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->scenario, sizeof(r->scenario), "%s", scenario);
	snprintf(r->status, sizeof(r->status), "ok");
	snprintf(r->headline, sizeof(r->headline), "msgs_per_s");
	r->runs = 1;
	for (size_t i = 0; i < NUM_FIELDS; i++)
		*num(r, i) = NAN;
}

void result_param(struct bench_result *r, const char *key, const char *fmt, ...)
{
	size_t len = strlen(r->params);
	if (len + 2 >= sizeof(r->params))
		return;
	len += (size_t)snprintf(r->params + len, sizeof(r->params) - len, "%s%s=", len ? " " : "", key);
	if (len >= sizeof(r->params))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->params + len, sizeof(r->params) - len, fmt, ap);
	va_end(ap);
}

double result_headline(const struct bench_result *r)
{
	for (size_t i = 0; i < NUM_FIELDS; i++)
		if (!strcmp(num_fields[i].name, r->headline))
			return num_c(r, i);
	return NAN;
}

static double ratio(double a, double b)
{
	return isfinite(a) && isfinite(b) && b > 0 ? a / b : NAN;
}

void result_ratios(struct bench_result *r)
{
	double h = result_headline(r);
	r->ratio_to_limit = ratio(h, r->limit_value);
	r->ratio_to_peer = ratio(h, r->peer_value);
	r->ratio_to_peer2 = ratio(h, r->peer2_value);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double median_of(double *v, int n)
{
	if (n <= 0)
		return NAN;
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void result_median(const struct bench_result *v, int n, struct bench_result *out)
{
	double vals[BENCH_MAX_RUNS];
	*out = v[0];
	out->runs = n;
	for (size_t i = 0; i < NUM_FIELDS; i++) {
		int k = 0;
		for (int j = 0; j < n && j < BENCH_MAX_RUNS; j++)
			if (isfinite(num_c(&v[j], i)))
				vals[k++] = num_c(&v[j], i);
		*num(out, i) = median_of(vals, k);
	}
	/* ratios are medians of per-run ratios (each against its own run's limit) */
	double lo = NAN, hi = NAN;
	for (int j = 0; j < n; j++) {
		double h = result_headline(&v[j]);
		if (!isfinite(h))
			continue;
		lo = isfinite(lo) && lo < h ? lo : h;
		hi = isfinite(hi) && hi > h ? hi : h;
	}
	out->headline_min = lo;
	out->headline_max = hi;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void report_json(FILE *f, const struct bench_result *r)
{
	const struct {
		const char *name, *value;
	} strs[] = {
		{ "scenario", r->scenario },     { "params", r->params }, { "status", r->status },
		{ "headline", r->headline },     { "limit_name", r->limit_name },
		{ "peer", r->peer },             { "peer2", r->peer2 },
	};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		fprintf(f, "%s\"%s\":", i ? "," : "{", strs[i].name);
		json_str(f, strs[i].value);
	}
	fprintf(f, ",\"runs\":%d", r->runs);
	for (size_t i = 0; i < NUM_FIELDS; i++) {
		double x = num_c(r, i);
		if (isfinite(x))
			fprintf(f, ",\"%s\":%.6g", num_fields[i].name, x);
		else
			fprintf(f, ",\"%s\":null", num_fields[i].name);
	}
	fputs("}\n", f);
	fflush(f);
}

const char *fmt_si(char *buf, size_t len, double v)
{
	if (!isfinite(v))
		snprintf(buf, len, "-");
	else if (fabs(v) >= 1e9)
		snprintf(buf, len, "%.2f G", v / 1e9);
	else if (fabs(v) >= 1e6)
		snprintf(buf, len, "%.2f M", v / 1e6);
	else if (fabs(v) >= 1e4)
		snprintf(buf, len, "%.1f k", v / 1e3);
	else if (fabs(v) >= 100)
		snprintf(buf, len, "%.0f", v);
	else if (fabs(v) >= 10)
		snprintf(buf, len, "%.1f", v);
	else
		snprintf(buf, len, "%.3g", v);
	return buf;
}

#define SI(x) fmt_si((char[24]){ 0 }, 24, (x))

void report_table(FILE *f, const struct bench_result *r)
{
	static char last[16];
	if (strcmp(last, r->scenario)) {
		snprintf(last, sizeof(last), "%s", r->scenario);
		fprintf(f, "\n== %s\n%-40s %-18s %9s %9s %8s %8s %8s %8s  %-22s %9s %6s  %-17s %9s %6s %7s %6s  %s\n",
			r->scenario, "params", "headline", "msgs/s", "MB/s", "p50us", "p99us", "p99.9us",
			"maxus", "limit", "limit-val", "/limit", "peer", "peer-val", "/peer", "cpu-s/M",
			"rssMB", "spread (min..max)");
	}
	if (strcmp(r->status, "ok")) {
		fprintf(f, "%-40s %s\n", r->params, r->status);
		return;
	}
	char spread[48] = "", head[48];
	if (r->runs > 1)
		snprintf(spread, sizeof(spread), "%s..%s (n=%d)", SI(r->headline_min), SI(r->headline_max),
			 r->runs);
	snprintf(head, sizeof(head), "%s=%s", r->headline, SI(result_headline(r)));
	fprintf(f, "%-40s %-18s %9s %9s %8s %8s %8s %8s  %-22s %9s %6s  %-17s %9s %6s %7s %6s  %s\n",
		r->params, head, SI(r->msgs_per_s), SI(r->mb_per_s), SI(r->p50_us), SI(r->p99_us),
		SI(r->p999_us), SI(r->max_us), r->limit_name, SI(r->limit_value), SI(r->ratio_to_limit),
		r->peer[0] ? r->peer : "-",
		!r->peer[0] ? "" : isfinite(r->peer_value) ? SI(r->peer_value) : "missing",
		SI(r->ratio_to_peer), SI(r->broker_cpu_s_per_mmsg), SI(r->broker_peak_rss_mb), spread);
	if (r->peer2[0])
		fprintf(f, "%-40s %-18s %9s %9s %8s %8s %8s %8s  %-22s %9s %6s  %-17s %9s %6s\n", "", "", "",
			"", "", "", "", "", "", "", "", r->peer2,
			isfinite(r->peer2_value) ? SI(r->peer2_value) : "missing", SI(r->ratio_to_peer2));
	fflush(f);
}
