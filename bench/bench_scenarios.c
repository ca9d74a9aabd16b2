/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_scenarios.c — the scenarios of pagebus-bench. Every case runs --runs times on a
 * fresh broker (or the one at --dir) with forked libpagebus clients, next to the limit
 * and the peers measured in the same run, and is emitted as the median of its runs.
 */
#include "bench_scenarios.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_hist.h"
#include "bench_kafka.h"
#include "bench_limits.h"
#include "bench_peers.h"
#include "bench_proc.h"
#include "pagebus.h"

#define READY_TIMEOUT_MS 20000
#define POLL_MAX 256
#define STAMP_EVERY 16
#define REDIS_LAT_MAX_RATE 100000.0 /* unpipelined XADD cannot follow a faster schedule */

/* What one client process reports, in memory shared with the harness. */
struct member_out {
	uint64_t msgs, bytes, sum;
	double t_start, t_end;
	int err;
	struct bench_hist h;
};

/* Everything a case's client processes need to know. */
struct case_ctx {
	const struct bench_opts *o;
	const char *dir;
	char topic[64], topic2[64];
	size_t value_len;
	int acks;
	double seconds;
	double rate;         /* latency: messages per second */
	int mode;            /* latency: enum lat_mode */
	int verify_crc;
	uint64_t count;      /* messages to send (0: send for `seconds`) */
	int nconsumers;      /* fanout, catchup: members 0..nconsumers-1 consume */
	int stamp;           /* flood producer: stamp some messages with their send time */
	uint64_t *total;     /* shared: what the producer sent, UINT64_MAX until known */
	struct member_out *out;
};

/* Per scenario: the peer processes and the shared result slots. */
struct scen_env {
	const struct bench_opts *o;
	struct redis_peer redis;
	int have_redis;
	struct member_out *out;
	uint64_t *total;
	char tmp[4096];      /* for limit files and ipc sockets */
};

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("pagebus-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static double limit_s(const struct bench_opts *o)
{
	return o->quick ? 0.02 : 0.25;
}

static double case_s(const struct bench_opts *o, double def)
{
	return o->seconds > 0 ? o->seconds : o->quick ? 0.05 : def;
}

static const char *acks_name(int acks)
{
	return acks == PAGEBUS_ACKS_NONE ? "none" : acks == PAGEBUS_ACKS_DURABLE ? "durable" : "appended";
}

static int env_open(struct scen_env *e, const struct bench_opts *o)
{
	memset(e, 0, sizeof(*e));
	e->o = o;
	int err = bench_tmpdir("limits", e->tmp, sizeof(e->tmp));
	if (err)
		return err;
	e->out = bench_shared(sizeof(*e->out) * CREW_MAX);
	e->total = bench_shared(sizeof(*e->total));
	if (!o->no_peers)
		e->have_redis = !redis_start(&e->redis);
	return 0;
}

static void env_close(struct scen_env *e)
{
	if (e->have_redis)
		redis_stop(&e->redis);
	bench_shared_free(e->out, sizeof(*e->out) * CREW_MAX);
	bench_shared_free(e->total, sizeof(*e->total));
	bench_rmrf(e->tmp);
}

static void env_reset(struct scen_env *e)
{
	for (int i = 0; i < CREW_MAX; i++) {
		memset(&e->out[i], 0, offsetof(struct member_out, h));
		hist_reset(&e->out[i].h);
	}
	*e->total = UINT64_MAX;
}

static int open_broker(const struct bench_opts *o, struct bench_broker *b, const char *const *args)
{
	return o->dir ? broker_attach(b, o->dir) : broker_start(b, NULL, args);
}

static void unique_topic(char *buf, size_t len, const char *tag)
{
	static int seq;
	snprintf(buf, len, "%s-%d-%d", tag, (int)getpid(), seq++);
}

static int create_topic(const char *dir, const char *topic)
{
	struct pagebus *pb;
	int err = pagebus_connect(dir, &pb);
	if (err)
		return err;
	err = pagebus_topic_create(pb, topic, 1);
	if (err == -EEXIST)
		err = 0;
	if (err)
		progress("topic %s: %s (%s)", topic, pagebus_strerror(err), pagebus_last_error(pb));
	pagebus_close(pb);
	return err;
}

/* The broker's CPU and peak RSS over a measured window. */
struct window {
	pid_t pid;
	double cpu0;
};

static void window_start(struct window *w, const struct bench_broker *b)
{
	w->pid = b->pid;
	proc_reset_hwm(w->pid);
	w->cpu0 = proc_cpu_s(w->pid);
}

static void window_end(const struct window *w, struct bench_result *r, double msgs)
{
	double cpu = proc_cpu_s(w->pid);
	double rss = (double)proc_hwm_kb(w->pid) / 1024.0;
	if (msgs <= 0)
		return;
	if (cpu >= 0 && w->cpu0 >= 0)
		r->broker_cpu_s_per_mmsg = (cpu - w->cpu0) / (msgs / 1e6);
	if (rss > 0) {
		r->broker_peak_rss_mb = rss;
		r->broker_rss_mb_per_mmsg = rss / (msgs / 1e6);
	}
}

static void fail(struct bench_result *r, const char *what, int err)
{
	snprintf(r->status, sizeof(r->status), "error: %s: %s", what, pagebus_strerror(err));
}

/* Runs a crew of n members of fn over ctx: ready, start, reap. */
static int run_crew(int n, crew_fn *fn, void *ctx, double timeout_s)
{
	struct crew c;
	int err = crew_fork(&c, n, fn, ctx);
	if (!err && crew_wait_ready(&c, READY_TIMEOUT_MS))
		err = -ETIME;
	if (!err)
		crew_start(&c);
	if (crew_reap(&c, timeout_s) && !err)
		err = -EIO;
	return err;
}

/* Runs `runs` repetitions of one case and emits the median. */
typedef int case_fn(struct scen_env *e, void *ctx, struct bench_result *r);

static void run_case(struct scen_env *e, const char *scenario, case_fn *fn, void *ctx)
{
	const struct bench_opts *o = e->o;
	struct bench_result res[BENCH_MAX_RUNS], med;
	int n = 0;
	for (int i = 0; i < o->runs; i++) {
		result_init(&res[n], scenario);
		env_reset(e);
		int err = fn(e, ctx, &res[n]);
		if (i == 0 || o->runs > 1)
			progress("%s %s: run %d/%d %s", scenario, res[n].params, i + 1, o->runs,
				 err ? res[n].status : "done");
		if (err || strcmp(res[n].status, "ok")) {
			o->emit(o->emit_ctx, &res[n]); /* no numbers to take a median of */
			return;
		}
		result_ratios(&res[n]);
		n++;
	}
	result_median(res, n, &med);
	o->emit(o->emit_ctx, &med);
}

/* ---- client processes -------------------------------------------------------------- */

static int open_producer(const struct case_ctx *x, const char *topic, struct pagebus **pb,
			 struct pagebus_producer **p)
{
	uint32_t batch = x->value_len >= 16384 ? 1u << 20 : 0;
	struct pagebus_producer_opts po = PAGEBUS_OPTS(pagebus_producer_opts, .acks = x->acks,
						       .batch_bytes = batch);
	*p = NULL;
	int err = pagebus_connect(x->dir, pb);
	if (!err && (err = pagebus_producer_open(*pb, topic, &po, p)))
		pagebus_close(*pb);
	return err;
}

/* spin_us: a busy-spinning consumer (1 s: it never sleeps while the case runs), a
 * sleeping one (0: straight to the futex) or the library's default. */
static int open_consumer(const struct case_ctx *x, const char *topic, uint32_t spin_us,
			 struct pagebus **pb, struct pagebus_consumer **c)
{
	struct pagebus_consumer_opts co = PAGEBUS_OPTS(pagebus_consumer_opts, .verify_crc = x->verify_crc,
						       .spin_us = spin_us);
	*c = NULL;
	int err = pagebus_connect(x->dir, pb);
	if (!err && (err = pagebus_consumer_open(*pb, topic, 0, PAGEBUS_OFFSET_BEGINNING, &co, c)))
		pagebus_close(*pb);
	return err;
}

#define SPIN_FOREVER_US 1000000
#define SPIN_DEFAULT_US 50

static uint32_t mode_spin_us(int mode)
{
	if (mode & (LAT_SPIN | LAT_PINGPONG_SPIN))
		return SPIN_FOREVER_US;
	return mode & (LAT_SLEEP | LAT_PINGPONG_SLEEP) ? 0 : SPIN_DEFAULT_US;
}

/* A value of at least 16 bytes: [send time ns][spare][filler]. */
static char *make_value(size_t len)
{
	char *v = malloc(len < 16 ? 16 : len);
	if (v)
		memset(v, 'p', len < 16 ? 16 : len);
	return v;
}

/*
 * Sleeps until the absolute CLOCK_MONOTONIC time t when it is still ahead; returns the
 * time it woke (0 when it did not sleep). Never spins: on 2 CPUs a spinning producer
 * takes the CPU the broker needs.
 */
static uint64_t sleep_until(uint64_t t)
{
	if (now_ns() >= t)
		return 0;
	struct timespec ts = { (time_t)(t / 1000000000u), (long)(t % 1000000000u) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	return now_ns();
}

/*
 * Producer: x->count messages, or as many as fit in x->seconds (with x->stamp, one in
 * STAMP_EVERY carries the time it was sent); or, with a rate (the latency scenario's
 * open loop), message i is due
 * at t0 + i / rate and carries that due time, so a stall counts against every message
 * it delays (coordinated-omission correction by construction; only the sleep timer's
 * own lateness is forgiven).
 */
static int producer_member(int idx, void *arg)
{
	struct case_ctx *x = arg;
	struct member_out *mo = &x->out[idx];
	struct pagebus *pb = NULL;
	struct pagebus_producer *p = NULL;
	char *val = make_value(x->value_len);
	int err = val ? open_producer(x, x->topic, &pb, &p) : -ENOMEM;
	prctl(PR_SET_TIMERSLACK, 1UL); /* paced: wake on time, not 50 µs late */
	crew_ready(err);
	uint64_t i = 0, next_report = 256ull << 20;
	uint64_t interval = x->rate > 0 ? (uint64_t)(1e9 / x->rate) : 0, t0 = now_ns() + 1000000;
	uint64_t last_wake = 0;
	mo->t_start = now_s();
	double deadline = mo->t_start + x->seconds;
	for (; !err; i++) {
		if (x->count ? i >= x->count : !(i & 255) && now_s() >= deadline)
			break;
		/* stamped: every message on a schedule, one in STAMP_EVERY of a flood (reading
		 * the clock per message would cost the producer more than the send) */
		uint64_t stamp = 0;
		if (interval) {
			/* due time, except that the timer's lateness is ours, not the bus's: a
			 * message due while we overslept counts from our wake-up; one due while
			 * a send was blocked counts from when it was due */
			uint64_t due = t0 + i * interval, woke = sleep_until(due);
			last_wake = woke ? woke : last_wake;
			stamp = due > last_wake ? due : last_wake;
		} else if (x->stamp && !(i % STAMP_EVERY)) {
			stamp = now_ns();
		}
		if (x->value_len >= 8)
			memcpy(val, &stamp, 8);
		err = pagebus_send(p, 0, NULL, 0, val, x->value_len);
		if (x->count && i * x->value_len >= next_report) {
			progress("  wrote %" PRIu64 " MiB of %" PRIu64, next_report >> 20,
				 (x->count * x->value_len) >> 20);
			next_report += 256ull << 20;
		}
	}
	if (!err)
		err = pagebus_flush(p, 120000);
	mo->t_end = now_s();
	mo->msgs = i;
	mo->bytes = i * x->value_len;
	mo->err = err;
	if (x->total && !interval)
		__atomic_store_n(x->total, i, __ATOMIC_RELEASE);
	pagebus_producer_close(p);
	pagebus_close(pb);
	free(val);
	return err ? 1 : 0;
}

/* Consumer: reads until *x->total messages (or 60 s past the case), touching each value;
 * stamped values (8 bytes of send time, not 0) go into the latency histogram. */
static int consumer_member(int idx, void *arg)
{
	struct case_ctx *x = arg;
	struct member_out *mo = &x->out[idx];
	struct pagebus *pb = NULL;
	struct pagebus_consumer *c = NULL;
	struct pagebus_msg *m = malloc(sizeof(*m) * POLL_MAX);
	int err = m ? open_consumer(x, x->topic, mode_spin_us(x->mode), &pb, &c) : -ENOMEM;
	crew_ready(err);
	mo->t_start = now_s();
	double deadline = mo->t_start + x->seconds + 60;
	while (mo->msgs < __atomic_load_n(x->total, __ATOMIC_ACQUIRE)) {
		if (now_s() > deadline) {
			err = -ETIME;
			break;
		}
		int n = pagebus_poll(c, m, POLL_MAX, 100);
		if (n < 0) {
			err = n;
			break;
		}
		uint64_t now = n && x->value_len >= 8 ? now_ns() : 0;
		for (int i = 0; i < n; i++) {
			const unsigned char *v = m[i].value;
			mo->bytes += m[i].value_len;
			mo->sum += m[i].value_len ? v[m[i].value_len - 1] : 0;
			uint64_t sent;
			if (now && (memcpy(&sent, v, 8), sent)) /* 0: not stamped */
				hist_record(&mo->h, now > sent ? now - sent : 0);
		}
		mo->msgs += (uint64_t)n;
	}
	mo->t_end = now_s();
	mo->err = err;
	pagebus_consumer_close(c);
	pagebus_close(pb);
	free(m);
	return err ? 1 : 0;
}

/* Ping-pong: member 0 pings on topic and waits for the pong on topic2 (paced at rate,
 * RTT recorded with coordinated-omission correction); member 1 answers. */
static int pingpong_member(int idx, void *arg)
{
	struct case_ctx *x = arg;
	struct member_out *mo = &x->out[idx];
	struct pagebus *pbp = NULL, *pbc = NULL;
	struct pagebus_producer *p = NULL;
	struct pagebus_consumer *c = NULL;
	struct pagebus_msg m[16];
	char *val = make_value(x->value_len);
	int err = val ? open_producer(x, idx ? x->topic2 : x->topic, &pbp, &p) : -ENOMEM;
	if (!err)
		err = open_consumer(x, idx ? x->topic : x->topic2, mode_spin_us(x->mode), &pbc, &c);
	prctl(PR_SET_TIMERSLACK, 1UL);
	crew_ready(err);
	uint64_t interval = (uint64_t)(1e9 / x->rate), t0 = now_ns() + 1000000, i;
	double deadline = now_s() + x->seconds + 30;
	for (i = 0; i < x->count && !err; i++) {
		if (!idx) {
			sleep_until(t0 + i * interval);
			uint64_t sent = now_ns();
			if ((err = pagebus_send(p, 0, NULL, 0, val, x->value_len)))
				break;
			int n;
			while (!(n = pagebus_poll(c, m, 1, 100)) && now_s() < deadline)
				;
			if (n <= 0) {
				err = n ? n : -ETIME;
				break;
			}
			hist_record_corrected(&mo->h, now_ns() - sent, interval);
		} else {
			int n;
			while (!(n = pagebus_poll(c, m, 1, 100)) && now_s() < deadline)
				;
			if (n <= 0 || (err = pagebus_send(p, 0, NULL, 0, val, x->value_len))) {
				err = n < 0 ? n : err ? err : -ETIME;
				break;
			}
		}
	}
	mo->msgs = i;
	mo->err = err;
	pagebus_consumer_close(c);
	pagebus_producer_close(p);
	pagebus_close(pbc);
	pagebus_close(pbp);
	free(val);
	return err ? 1 : 0;
}

/* ---- append ------------------------------------------------------------------------ */

struct append_case {
	int producers, acks;
	size_t size;
};

static int append_run(struct scen_env *e, void *arg, struct bench_result *r)
{
	const struct append_case *a = arg;
	const struct bench_opts *o = e->o;
	result_param(r, "producers", "%d", a->producers);
	result_param(r, "value", "%zu", a->size);
	result_param(r, "acks", "%s", acks_name(a->acks));
	snprintf(r->headline, sizeof(r->headline), "mb_per_s");
	snprintf(r->limit_name, sizeof(r->limit_name), "write(2) %zu B MB/s", a->size);
	r->limit_value = o->no_limits ? NAN : limit_write_mbps(e->tmp, a->size, limit_s(o));
	struct bench_broker b;
	int err = open_broker(o, &b, NULL);
	if (err) {
		fail(r, "broker", err);
		return err;
	}
	struct case_ctx x = { .o = o, .dir = b.dir, .value_len = a->size, .acks = a->acks,
			      .seconds = case_s(o, 0.5), .out = e->out };
	unique_topic(x.topic, sizeof(x.topic), "append");
	if ((err = create_topic(b.dir, x.topic))) {
		fail(r, "topic", err);
		goto out;
	}
	struct window w;
	window_start(&w, &b);
	double t0 = now_s();
	if ((err = run_crew(a->producers, producer_member, &x, x.seconds + 180))) {
		fail(r, "producers", err);
		goto out;
	}
	double t1 = 0, msgs = 0;
	for (int i = 0; i < a->producers; i++) {
		msgs += (double)e->out[i].msgs;
		t1 = e->out[i].t_end > t1 ? e->out[i].t_end : t1;
	}
	window_end(&w, r, msgs);
	r->seconds = t1 - t0;
	r->msgs_per_s = msgs / r->seconds;
	r->mb_per_s = msgs * (double)a->size / r->seconds / 1e6;
	if (!o->no_peers) {
		snprintf(r->peer, sizeof(r->peer), "redis XADD");
		if (e->have_redis) {
			double rate = redis_xadd_rate(&e->redis, a->size, case_s(o, 0.5));
			r->peer_value = rate > 0 ? rate * (double)a->size / 1e6 : NAN;
		}
		snprintf(r->peer2, sizeof(r->peer2), "zmq PUSH/PULL");
		double zr = zmq_pushpull_rate(e->tmp, a->size, case_s(o, 0.5));
		r->peer2_value = zr > 0 ? zr * (double)a->size / 1e6 : NAN;
	}
out:
	broker_stop(&b);
	return err;
}

static int scen_append(const struct bench_opts *o)
{
	static const int def_prod[] = { 1, 2, 4 }, quick_prod[] = { 1 };
	static const size_t def_sizes[] = { 16, 64, 256, 1024, 65536 }, quick_sizes[] = { 64, 65536 };
	static const int def_acks[] = { PAGEBUS_ACKS_NONE, PAGEBUS_ACKS_APPENDED, PAGEBUS_ACKS_DURABLE },
			 quick_acks[] = { PAGEBUS_ACKS_APPENDED };
	const int *prod = o->nproducers ? o->producers : o->quick ? quick_prod : def_prod;
	int np = o->nproducers ? o->nproducers : o->quick ? 1 : 3;
	const size_t *sizes = o->nsizes ? o->sizes : o->quick ? quick_sizes : def_sizes;
	int ns = o->nsizes ? o->nsizes : o->quick ? 2 : 5;
	const int *acks = o->nacks ? o->acks : o->quick ? quick_acks : def_acks;
	int na = o->nacks ? o->nacks : o->quick ? 1 : 3;
	struct scen_env e;
	int err = env_open(&e, o);
	if (err)
		return err;
	for (int ai = 0; ai < na; ai++)
		for (int pi = 0; pi < np; pi++)
			for (int si = 0; si < ns; si++) {
				struct append_case a = { prod[pi], acks[ai], sizes[si] };
				run_case(&e, "append", append_run, &a);
			}
	env_close(&e);
	return 0;
}

/* ---- latency ----------------------------------------------------------------------- */

struct latency_case {
	int mode;
	double rate;
	size_t size;
};

static const char *mode_name(int mode)
{
	switch (mode) {
	case LAT_SPIN: return "spin";
	case LAT_SLEEP: return "sleep";
	case LAT_PINGPONG_SPIN: return "pingpong-spin";
	default: return "pingpong-sleep";
	}
}

static void fill_percentiles(struct bench_result *r, const struct bench_hist *h)
{
	r->p50_us = (double)hist_percentile(h, 50) / 1e3;
	r->p90_us = (double)hist_percentile(h, 90) / 1e3;
	r->p99_us = (double)hist_percentile(h, 99) / 1e3;
	r->p999_us = (double)hist_percentile(h, 99.9) / 1e3;
	r->p9999_us = (double)hist_percentile(h, 99.99) / 1e3;
	r->max_us = (double)h->max / 1e3;
}

/* Open loop: member 0 consumes, member 1 produces on schedule. */
static int latency_member_dispatch(int idx, void *arg)
{
	return idx ? producer_member(idx, arg) : consumer_member(idx, arg);
}

static int latency_run(struct scen_env *e, void *arg, struct bench_result *r)
{
	const struct latency_case *l = arg;
	const struct bench_opts *o = e->o;
	int pingpong = l->mode & (LAT_PINGPONG_SPIN | LAT_PINGPONG_SLEEP);
	int spin = l->mode & (LAT_SPIN | LAT_PINGPONG_SPIN);
	result_param(r, "mode", "%s", mode_name(l->mode));
	result_param(r, "rate", "%.0f", l->rate);
	result_param(r, "value", "%zu", l->size);
	snprintf(r->headline, sizeof(r->headline), "p50_us");
	snprintf(r->limit_name, sizeof(r->limit_name), "%s RTT us", spin ? "cache-line" : "futex");
	r->limit_value = o->no_limits ? NAN
		       : spin ? limit_cacheline_rtt_us(limit_s(o)) : limit_futex_rtt_us(limit_s(o));
	struct bench_broker b;
	int err = open_broker(o, &b, NULL);
	if (err) {
		fail(r, "broker", err);
		return err;
	}
	struct case_ctx x = { .o = o, .dir = b.dir, .value_len = l->size, .acks = PAGEBUS_ACKS_APPENDED,
			      .seconds = case_s(o, 1.0), .rate = l->rate, .mode = l->mode,
			      .verify_crc = 1, .total = e->total, .out = e->out };
	x.count = (uint64_t)(l->rate * x.seconds);
	if (x.count < 20)
		x.count = 20;
	*e->total = x.count;
	unique_topic(x.topic, sizeof(x.topic), "lat");
	unique_topic(x.topic2, sizeof(x.topic2), "pong");
	if ((err = create_topic(b.dir, x.topic)) || (pingpong && (err = create_topic(b.dir, x.topic2)))) {
		fail(r, "topic", err);
		goto out;
	}
	struct window w;
	window_start(&w, &b);
	double t0 = now_s();
	/* member 0 consumes (or pings), member 1 produces (or answers) */
	if ((err = run_crew(2, pingpong ? pingpong_member : latency_member_dispatch, &x, x.seconds + 120))) {
		fail(r, pingpong ? "ping-pong" : "clients", err);
		goto out;
	}
	double msgs = (double)x.count * (pingpong ? 2 : 1);
	window_end(&w, r, msgs);
	r->seconds = now_s() - t0;
	r->msgs_per_s = (double)x.count / x.seconds;
	r->mb_per_s = r->msgs_per_s * (double)l->size / 1e6;
	fill_percentiles(r, &e->out[0].h);
	if (!o->no_peers && pingpong) {
		snprintf(r->peer, sizeof(r->peer), "zmq REQ/REP RTT");
		double rtt = zmq_reqrep_rtt_us(e->tmp, l->size, case_s(o, 0.5));
		r->peer_value = rtt > 0 ? rtt : NAN;
	} else if (!o->no_peers) {
		if (l->rate <= REDIS_LAT_MAX_RATE) {
			snprintf(r->peer, sizeof(r->peer), "redis XADD>XREAD");
			struct bench_hist *h = malloc(sizeof(*h));
			if (h && e->have_redis) {
				hist_reset(h);
				if (!redis_latency(&e->redis, l->size, l->rate, x.seconds, h) && h->count)
					r->peer_value = (double)hist_percentile(h, 50) / 1e3;
			}
			free(h);
		}
		snprintf(r->peer2, sizeof(r->peer2), "zmq REQ/REP RTT/2");
		double rtt = zmq_reqrep_rtt_us(e->tmp, l->size, case_s(o, 0.5));
		r->peer2_value = rtt > 0 ? rtt / 2 : NAN;
	}
out:
	broker_stop(&b);
	return err;
}

static int scen_latency(const struct bench_opts *o)
{
	static const double def_rates[] = { 10000, 100000, 1000000 }, quick_rates[] = { 10000 };
	const double *rates = o->nrates ? o->rates : o->quick ? quick_rates : def_rates;
	int nr = o->nrates ? o->nrates : o->quick ? 1 : 3;
	int modes = o->modes ? o->modes : LAT_SPIN | LAT_SLEEP | LAT_PINGPONG_SPIN | LAT_PINGPONG_SLEEP;
	size_t size = o->nsizes ? o->sizes[0] : 64;
	struct scen_env e;
	int err = env_open(&e, o);
	if (err)
		return err;
	for (int mode = LAT_SPIN; mode <= LAT_SLEEP; mode <<= 1)
		for (int i = 0; i < nr && (modes & mode); i++) {
			struct latency_case l = { mode, rates[i], size };
			run_case(&e, "latency", latency_run, &l);
		}
	/* ping-pong: one message in flight, paced at the lowest rate asked for */
	for (int mode = LAT_PINGPONG_SPIN; mode <= LAT_PINGPONG_SLEEP; mode <<= 1)
		if (modes & mode) {
			struct latency_case l = { mode, rates[0], size };
			run_case(&e, "latency", latency_run, &l);
		}
	env_close(&e);
	return 0;
}

/* ---- fanout ------------------------------------------------------------------------ */

struct fanout_case {
	int consumers;
	size_t size;
};

/* Members 0..n-1 consume, member n produces. */
static int fanout_member(int idx, void *arg)
{
	struct case_ctx *x = arg;
	return idx < x->nconsumers ? consumer_member(idx, arg) : producer_member(idx, arg);
}

static int fanout_run(struct scen_env *e, void *arg, struct bench_result *r)
{
	const struct fanout_case *f = arg;
	const struct bench_opts *o = e->o;
	result_param(r, "consumers", "%d", f->consumers);
	result_param(r, "value", "%zu", f->size);
	snprintf(r->headline, sizeof(r->headline), "mb_per_s");
	snprintf(r->limit_name, sizeof(r->limit_name), "memcpy MB/s");
	r->limit_value = o->no_limits ? NAN : limit_memcpy_gbps(limit_s(o)) * 1e3;
	struct bench_broker b;
	int err = open_broker(o, &b, NULL);
	if (err) {
		fail(r, "broker", err);
		return err;
	}
	struct case_ctx x = { .o = o, .dir = b.dir, .value_len = f->size, .acks = PAGEBUS_ACKS_APPENDED,
			      .seconds = case_s(o, 1.0), .verify_crc = 1, .nconsumers = f->consumers, .stamp = 1, .total = e->total, .out = e->out };
	unique_topic(x.topic, sizeof(x.topic), "fanout");
	if ((err = create_topic(b.dir, x.topic))) {
		fail(r, "topic", err);
		goto out;
	}
	struct window w;
	window_start(&w, &b);
	if ((err = run_crew(f->consumers + 1, fanout_member, &x, x.seconds + 120))) {
		fail(r, "clients", err);
		goto out;
	}
	struct bench_hist *h = malloc(sizeof(*h));
	if (!h) {
		err = -ENOMEM;
		fail(r, "memory", err);
		goto out;
	}
	hist_reset(h);
	double rate = 0, msgs = (double)*e->total;
	for (int i = 0; i < f->consumers; i++) {
		rate += (double)e->out[i].msgs / (e->out[i].t_end - e->out[i].t_start);
		hist_merge(h, &e->out[i].h);
	}
	window_end(&w, r, msgs);
	r->seconds = x.seconds;
	r->msgs_per_s = rate / f->consumers;
	r->mb_per_s = r->msgs_per_s * (double)f->size / 1e6;
	fill_percentiles(r, h);
	free(h);
	if (!o->no_peers) {
		snprintf(r->peer, sizeof(r->peer), "redis XREAD");
		if (e->have_redis) {
			double rr = redis_xread_rate(&e->redis, f->size, o->quick ? 10000 : 200000);
			r->peer_value = rr > 0 ? rr * (double)f->size / 1e6 : NAN;
		}
		snprintf(r->peer2, sizeof(r->peer2), "zmq PUSH/PULL");
		double zr = zmq_pushpull_rate(e->tmp, f->size, case_s(o, 0.5));
		r->peer2_value = zr > 0 ? zr * (double)f->size / 1e6 : NAN;
	}
out:
	broker_stop(&b);
	return err;
}

static int scen_fanout(const struct bench_opts *o)
{
	static const int def_cons[] = { 1, 2, 4, 8 }, quick_cons[] = { 1, 2 };
	const int *cons = o->nconsumers ? o->consumers : o->quick ? quick_cons : def_cons;
	int nc = o->nconsumers ? o->nconsumers : o->quick ? 2 : 4;
	size_t size = o->nsizes ? o->sizes[0] : 64;
	struct scen_env e;
	int err = env_open(&e, o);
	if (err)
		return err;
	for (int i = 0; i < nc; i++) {
		if (cons[i] < 1 || cons[i] >= CREW_MAX) {
			progress("fanout: %d consumers: 1..%d", cons[i], CREW_MAX - 1);
			continue;
		}
		struct fanout_case f = { cons[i], size };
		run_case(&e, "fanout", fanout_run, &f);
	}
	env_close(&e);
	return 0;
}

/* ---- catchup ----------------------------------------------------------------------- */

#define CATCHUP_VALUE 1024

struct catchup_case {
	struct bench_broker *b;
	const char *topic;
	uint64_t msgs;
	int consumers, verify_crc;
};

static int catchup_run(struct scen_env *e, void *arg, struct bench_result *r)
{
	const struct catchup_case *c = arg;
	const struct bench_opts *o = e->o;
	result_param(r, "consumers", "%d", c->consumers);
	result_param(r, "log_mib", "%g", (double)(c->msgs * CATCHUP_VALUE) / (1 << 20));
	result_param(r, "value", "%d", CATCHUP_VALUE);
	result_param(r, "crc", "%s", c->verify_crc ? "on" : "off");
	snprintf(r->headline, sizeof(r->headline), "gb_per_s");
	snprintf(r->limit_name, sizeof(r->limit_name), "memcpy GB/s");
	r->limit_value = o->no_limits ? NAN : limit_memcpy_gbps(limit_s(o));
	struct case_ctx x = { .o = o, .dir = c->b->dir, .value_len = CATCHUP_VALUE, .verify_crc = c->verify_crc,
			      .seconds = 60, .nconsumers = c->consumers, .total = e->total, .out = e->out };
	snprintf(x.topic, sizeof(x.topic), "%s", c->topic);
	*e->total = c->msgs;
	struct window w;
	window_start(&w, c->b);
	int err = run_crew(c->consumers, consumer_member, &x, 300);
	if (err) {
		fail(r, "consumers", err);
		return err;
	}
	double gbps = 0, t = 0;
	for (int i = 0; i < c->consumers; i++) {
		double dt = e->out[i].t_end - e->out[i].t_start;
		gbps += (double)e->out[i].bytes / dt / 1e9;
		t = dt > t ? dt : t;
	}
	window_end(&w, r, (double)c->msgs * c->consumers);
	r->seconds = t;
	r->gb_per_s = gbps / c->consumers;
	r->mb_per_s = r->gb_per_s * 1e3;
	r->msgs_per_s = r->gb_per_s * 1e9 / CATCHUP_VALUE;
	if (!o->no_peers) {
		snprintf(r->peer, sizeof(r->peer), "redis XREAD");
		if (e->have_redis) {
			double rr = redis_xread_rate(&e->redis, CATCHUP_VALUE, o->quick ? 10000 : 200000);
			r->peer_value = rr > 0 ? rr * CATCHUP_VALUE / 1e9 : NAN;
		}
	}
	return 0;
}

static int scen_catchup(const struct bench_opts *o)
{
	static const int def_cons[] = { 1, 2 }, quick_cons[] = { 1 };
	const int *cons = o->nconsumers ? o->consumers : o->quick ? quick_cons : def_cons;
	int nc = o->nconsumers ? o->nconsumers : o->quick ? 1 : 2;
	uint64_t bytes = o->size ? o->size : o->quick ? 8u << 20 : 2ull << 30;
	struct scen_env e;
	int err = env_open(&e, o);
	if (err)
		return err;
	struct bench_broker b;
	char topic[64];
	struct bench_result r;
	result_init(&r, "catchup");
	unique_topic(topic, sizeof(topic), "catchup");
	if ((err = open_broker(o, &b, NULL))) {
		fail(&r, "broker", err);
		o->emit(o->emit_ctx, &r);
		env_close(&e);
		return 0;
	}
	/* the log, written once: every run reads it from the page cache */
	struct case_ctx x = { .o = o, .dir = b.dir, .value_len = CATCHUP_VALUE, .acks = PAGEBUS_ACKS_APPENDED,
			      .count = bytes / CATCHUP_VALUE, .out = e.out };
	snprintf(x.topic, sizeof(x.topic), "%s", topic);
	progress("catchup: writing %" PRIu64 " MiB", bytes >> 20);
	env_reset(&e);
	if ((err = create_topic(b.dir, topic)) || (err = run_crew(1, producer_member, &x, 600))) {
		fail(&r, "writing the log", err);
		o->emit(o->emit_ctx, &r);
	} else {
		for (int crc = 1; crc >= 0; crc--)
			for (int i = 0; i < nc; i++) {
				if (cons[i] < 1 || cons[i] > CREW_MAX)
					continue;
				struct catchup_case c = { &b, topic, x.count, cons[i], crc };
				run_case(&e, "catchup", catchup_run, &c);
			}
	}
	broker_stop(&b);
	env_close(&e);
	return 0;
}

/* ---- remote ------------------------------------------------------------------------ */

/* A free loopback TCP port (bound, read, released). */
static int free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int port = -1;
	if (s >= 0 && !bind(s, (struct sockaddr *)&sa, sizeof(sa)) &&
	    !getsockname(s, (struct sockaddr *)&sa, &sl))
		port = ntohs(sa.sin_port);
	if (s >= 0)
		close(s);
	return port;
}

static int tcp_connects(int port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int ok = s >= 0 && !connect(s, (struct sockaddr *)&sa, sizeof(sa));
	if (s >= 0)
		close(s);
	return ok;
}

#define REMOTE_VALUE 1024
#define REMOTE_FETCH_BYTES (8 << 20)

struct remote_case {
	int copy, port;
	const char *dir, *topic;
	uint64_t msgs;
};

/* The remote path's limit: the same bytes by sendfile (splice path) or pread + write
 * (copy path) to a loopback socket, measured now. */
static void remote_limit(struct scen_env *e, const struct remote_case *rc, struct bench_result *r)
{
	snprintf(r->limit_name, sizeof(r->limit_name), "%s MB/s", rc->copy ? "pread+write>TCP" : "sendfile>TCP");
	if (e->o->no_limits)
		return;
	double copy_gbps, sf = limit_sendfile_gbps(e->tmp, limit_s(e->o), &copy_gbps);
	r->limit_value = (rc->copy ? copy_gbps : sf) * 1e3;
}

static int remote_run(struct scen_env *e, void *arg, struct bench_result *r)
{
	const struct remote_case *rc = arg;
	result_param(r, "path", "%s", rc->copy ? "copy" : "splice");
	result_param(r, "value", "%d", REMOTE_VALUE);
	result_param(r, "log_mib", "%g", (double)(rc->msgs * REMOTE_VALUE) / (1 << 20));
	snprintf(r->headline, sizeof(r->headline), "mb_per_s");
	remote_limit(e, rc, r);
	struct bench_broker b;
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", rc->port);
	const char *args[] = { "--kafka.listen", addr, "--kafka.fetch.copy", rc->copy ? "true" : "false", NULL };
	int err = broker_start(&b, rc->dir, args);
	if (err) {
		fail(r, "broker", err);
		return err;
	}
	struct kfetch_stats st;
	struct window w;
	window_start(&w, &b);
	double t0 = now_s();
	err = kafka_fetch_all(rc->port, rc->topic, (int64_t)rc->msgs, REMOTE_FETCH_BYTES, &st);
	double t = now_s() - t0;
	if (err) {
		fail(r, "Fetch", err);
	} else {
		window_end(&w, r, (double)st.msgs);
		r->seconds = t;
		r->msgs_per_s = (double)st.msgs / t;
		r->mb_per_s = (double)st.bytes / t / 1e6;
		r->gb_per_s = r->mb_per_s / 1e3;
	}
	broker_stop(&b);
	return err;
}

static int scen_remote(const struct bench_opts *o)
{
	struct scen_env e;
	int err = env_open(&e, o);
	if (err)
		return err;
	uint64_t bytes = o->size ? o->size : o->quick ? 4u << 20 : 512u << 20;
	const char *why = NULL;
	char dir[4096], topic[64], port_s[16];
	int port = free_port();
	struct bench_broker b;
	snprintf(port_s, sizeof(port_s), "127.0.0.1:%d", port);
	const char *args[] = { "--kafka.listen", port_s, NULL };
	unique_topic(topic, sizeof(topic), "remote");
	struct case_ctx x = { .o = o, .dir = dir, .value_len = REMOTE_VALUE, .acks = PAGEBUS_ACKS_APPENDED,
			      .count = bytes / REMOTE_VALUE, .out = e.out };
	snprintf(x.topic, sizeof(x.topic), "%s", topic);
	dir[0] = 0;
	if (!broker_has_key("kafka.listen") || !broker_has_key("kafka.fetch.copy"))
		why = "not available in this build (no kafka.listen)";
	else if (o->dir)
		why = "needs its own broker (not with --dir)";
	else if ((err = bench_tmpdir("remote", dir, sizeof(dir))) || (err = broker_start(&b, dir, args)))
		why = "error: broker did not start";
	else {
		/* the log, written once through the local path; the Fetches read it */
		if (!tcp_connects(port))
			why = "not available in this build (nothing listens on kafka.listen)";
		else if ((err = create_topic(dir, topic)) || (err = run_crew(1, producer_member, &x, 600)))
			why = "error: writing the log";
		broker_stop(&b);
	}
	for (int copy = 0; copy < 2; copy++) {
		struct remote_case rc = { copy, port, dir, topic, x.count };
		if (!why) {
			run_case(&e, "remote", remote_run, &rc);
			continue;
		}
		struct bench_result r;
		result_init(&r, "remote");
		result_param(&r, "path", "%s", copy ? "copy" : "splice");
		snprintf(r.headline, sizeof(r.headline), "mb_per_s");
		remote_limit(&e, &rc, &r);
		snprintf(r.status, sizeof(r.status), "%s", why);
		o->emit(o->emit_ctx, &r);
	}
	if (dir[0]) {
		char log[4200];
		snprintf(log, sizeof(log), "%s.log", dir);
		unlink(log);
		bench_rmrf(dir);
	}
	env_close(&e);
	return 0;
}

/* ---- recovery ---------------------------------------------------------------------- */

#define RECOVERY_VALUE 1024

struct recovery_case {
	const char *layout;   /* "large-active" or "many-segments" */
	uint64_t bytes, segment_bytes;
};

/* The broker's high watermark of topic partition 0, read by a consumer at the end. */
static int64_t topic_hwm(const char *dir, const char *topic)
{
	struct pagebus *pb;
	struct pagebus_consumer *c;
	int64_t hwm = -1;
	int err = pagebus_connect(dir, &pb);
	if (err) {
		progress("recovery: connect %s: %s", dir, pagebus_strerror(err));
		return -1;
	}
	err = pagebus_consumer_open(pb, topic, 0, PAGEBUS_OFFSET_END, NULL, &c);
	if (!err) {
		hwm = pagebus_position(c);
		pagebus_consumer_close(c);
	} else {
		progress("recovery: reading back %s: %s (%s)", topic, pagebus_strerror(err), pagebus_last_error(pb));
	}
	pagebus_close(pb);
	return hwm;
}

static int recovery_run(struct scen_env *e, void *arg, struct bench_result *r)
{
	const struct recovery_case *rc = arg;
	const struct bench_opts *o = e->o;
	char segbytes[32];
	snprintf(segbytes, sizeof(segbytes), "%" PRIu64, rc->segment_bytes);
	const char *args[] = { "--segment.bytes", segbytes, NULL };
	result_param(r, "layout", "%s", rc->layout);
	result_param(r, "log_mib", "%g", (double)rc->bytes / (1 << 20));
	result_param(r, "segments", "%" PRIu64, (rc->bytes + rc->segment_bytes - 1) / rc->segment_bytes);
	snprintf(r->headline, sizeof(r->headline), "seconds");
	snprintf(r->limit_name, sizeof(r->limit_name), "empty-dir start s");
	if (o->dir) {
		snprintf(r->status, sizeof(r->status), "needs its own broker (not with --dir)");
		return 0;
	}
	struct bench_broker b;
	int err = broker_start(&b, NULL, args);
	if (err) {
		fail(r, "broker", err);
		return err;
	}
	r->limit_value = b.ready_s; /* this broker started on an empty dir */
	struct case_ctx x = { .o = o, .dir = b.dir, .value_len = RECOVERY_VALUE, .acks = PAGEBUS_ACKS_APPENDED,
			      .count = rc->bytes / RECOVERY_VALUE, .out = e->out };
	unique_topic(x.topic, sizeof(x.topic), "recovery");
	if ((err = create_topic(b.dir, x.topic)) || (err = run_crew(1, producer_member, &x, 600))) {
		fail(r, "writing the log", err);
		broker_stop(&b);
		return err;
	}
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", b.dir);
	broker_kill(&b); /* kill -9 with everything acked in the page cache, nothing closed */
	if ((err = broker_start(&b, dir, args))) {
		fail(r, "restart", err);
	} else {
		double cpu = proc_cpu_s(b.pid);
		long hwm_kb = proc_hwm_kb(b.pid);
		r->seconds = b.ready_s;
		if (cpu >= 0)
			r->broker_cpu_s_per_mmsg = cpu / ((double)x.count / 1e6);
		r->broker_peak_rss_mb = (double)hwm_kb / 1024;
		r->broker_rss_mb_per_mmsg = r->broker_peak_rss_mb / ((double)x.count / 1e6);
		r->msgs_per_s = (double)x.count / r->seconds; /* messages brought back per second */
		r->mb_per_s = (double)rc->bytes / r->seconds / 1e6;
		int64_t hwm = topic_hwm(dir, x.topic);
		if (hwm != (int64_t)x.count) {
			snprintf(r->status, sizeof(r->status), "error: %" PRId64 " messages after restart, %" PRIu64
				 " acked", hwm, x.count);
			err = -EIO;
		}
		broker_stop(&b);
	}
	bench_rmrf(dir);
	char log[4200];
	snprintf(log, sizeof(log), "%s.log", dir);
	unlink(log);
	return err;
}

static int scen_recovery(const struct bench_opts *o)
{
	uint64_t bytes = o->size ? o->size : o->quick ? 4u << 20 : 1ull << 30;
	struct recovery_case cases[] = {
		{ "large-active", bytes, bytes + (1u << 20) },
		{ "many-segments", bytes, o->quick ? 64u << 10 : 1u << 20 },
	};
	if (cases[0].segment_bytes > 2147483647u)
		cases[0].segment_bytes = 2147483647u;
	struct bench_opts no_peers = *o;
	no_peers.no_peers = 1; /* no peer restarts from a log */
	struct scen_env e;
	int err = env_open(&e, &no_peers);
	if (err)
		return err;
	for (size_t i = 0; i < 2; i++)
		run_case(&e, "recovery", recovery_run, &cases[i]);
	env_close(&e);
	return 0;
}

/* ---- limits and peers, raw ---------------------------------------------------------- */

static void emit_limit(const struct bench_opts *o, const char *name, const char *headline, double v)
{
	struct bench_result r;
	result_init(&r, "limits");
	result_param(&r, "what", "%s", name);
	snprintf(r.headline, sizeof(r.headline), "%s", headline);
	if (!isfinite(v) || v <= 0)
		snprintf(r.status, sizeof(r.status), "%s", v == -ENOENT ? "missing" : v == -EBUSY ? "busy (another RouDi runs)" : "failed");
	else if (!strcmp(headline, "gb_per_s"))
		r.gb_per_s = v, r.mb_per_s = v * 1e3;
	else if (!strcmp(headline, "mb_per_s"))
		r.mb_per_s = v;
	else if (!strcmp(headline, "msgs_per_s"))
		r.msgs_per_s = v;
	else
		r.p50_us = v;
	r.headline_min = r.headline_max = v;
	o->emit(o->emit_ctx, &r);
}

static int scen_limits(const struct bench_opts *o)
{
	struct scen_env e;
	int err = env_open(&e, o);
	if (err)
		return err;
	double s = limit_s(o), copy;
	emit_limit(o, "memcpy", "gb_per_s", limit_memcpy_gbps(s));
	static const size_t def_sizes[] = { 16, 64, 256, 1024, 65536 };
	const size_t *sizes = o->nsizes ? o->sizes : def_sizes;
	int ns = o->nsizes ? o->nsizes : 5;
	char name[64];
	for (int i = 0; i < ns; i++) {
		snprintf(name, sizeof(name), "write(2)-%zu", sizes[i]);
		emit_limit(o, name, "mb_per_s", limit_write_mbps(e.tmp, sizes[i], s));
	}
	emit_limit(o, "futex-rtt", "p50_us", limit_futex_rtt_us(s));
	emit_limit(o, "cacheline-rtt", "p50_us", limit_cacheline_rtt_us(s));
	emit_limit(o, "sendfile-tcp", "gb_per_s", limit_sendfile_gbps(e.tmp, s, &copy));
	emit_limit(o, "pread+write-tcp", "gb_per_s", copy);
	if (!o->no_peers) {
		struct iox_peer iox;
		int iox_err = iox_start(&iox);
		for (int i = 0; i < ns; i++) {
			snprintf(name, sizeof(name), "redis-xadd-%zu", sizes[i]);
			emit_limit(o, name, "msgs_per_s", e.have_redis ? redis_xadd_rate(&e.redis, sizes[i], s) : -ENOENT);
			snprintf(name, sizeof(name), "zmq-pushpull-%zu", sizes[i]);
			emit_limit(o, name, "msgs_per_s", zmq_pushpull_rate(e.tmp, sizes[i], s));
			snprintf(name, sizeof(name), "iceoryx-pubsub-%zu", sizes[i]);
			emit_limit(o, name, "msgs_per_s", iox_err ? iox_err : iox_pubsub_rate(&iox, sizes[i], s));
		}
		iox_stop(&iox);
		emit_limit(o, "redis-xread-64", "msgs_per_s",
			   e.have_redis ? redis_xread_rate(&e.redis, 64, o->quick ? 10000 : 200000) : -ENOENT);
		emit_limit(o, "zmq-reqrep-rtt-64", "p50_us", zmq_reqrep_rtt_us(e.tmp, 64, s));
	}
	env_close(&e);
	return 0;
}

const struct bench_scenario bench_scenarios[] = {
	{ "append", "N producer processes x value sizes x acks: msgs/s, MB/s vs write(2)", scen_append },
	{ "latency", "producer->consumer latency, open loop at fixed rates and ping-pong", scen_latency },
	{ "fanout", "one producer, 1/2/4/8 consumers: per-consumer msgs/s and latency", scen_fanout },
	{ "catchup", "consumers reading a written log from the page cache: GB/s vs memcpy", scen_catchup },
	{ "remote", "Kafka Fetch over loopback, splice vs copy, vs sendfile", scen_remote },
	{ "recovery", "restart after kill -9: large active segment, many segments", scen_recovery },
	{ "limits", "the machine's limits and the peers' raw numbers", scen_limits },
};
const size_t bench_nscenarios = sizeof(bench_scenarios) / sizeof(bench_scenarios[0]);

const struct bench_scenario *bench_scenario_find(const char *name)
{
	for (size_t i = 0; i < bench_nscenarios; i++)
		if (!strcmp(bench_scenarios[i].name, name))
			return &bench_scenarios[i];
	return NULL;
}
