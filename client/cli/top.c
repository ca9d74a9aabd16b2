/* SPDX-License-Identifier: Apache-2.0 */
/*
 * top.c — `pagebus top`: a live view of a broker, one frame a second, built only from
 * what costs the broker nothing or next to nothing: the partitions' offsets from the
 * read-only control region (pagebus_partition_states, no request), one scrape of the
 * metrics endpoint, the broker's /proc entry, cachestat(2) on the segment files and
 * DIR/consumer-offsets. Rates are the difference of two samples over their interval.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "pagebus.h"

#define TOP_INTERVAL_MS 1000
#define SCRAPE_TIMEOUT_MS 1000 /* the metrics endpoint answers in far less */

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the metrics endpoint --------------------------------------------------------------- */

/* One sample: `name{labels}` and its value. */
struct series {
	char *key;
	double v;
};

struct scrape {
	struct series *s; /* sorted by key */
	size_t n;
	char err[160]; /* why there is none */
};

static void scrape_free(struct scrape *sc)
{
	for (size_t i = 0; i < sc->n; i++)
		free(sc->s[i].key);
	free(sc->s);
	*sc = (struct scrape){ 0 };
}

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct series *)a)->key, ((const struct series *)b)->key);
}

/* The value of a series, or NAN when the scrape does not have it. */
__attribute__((format(printf, 2, 3))) static double metric(const struct scrape *sc, const char *fmt, ...)
{
	char key[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	struct series k = { key, 0 }, *hit = sc->n ? bsearch(&k, sc->s, sc->n, sizeof(k), by_key) : NULL;
	return hit ? hit->v : NAN;
}

/* The sample lines of an exposition body: `key value` (comments skipped). */
static void parse_exposition(struct scrape *sc, char *body)
{
	size_t cap = 0;
	for (char *line = strtok(body, "\n"); line; line = strtok(NULL, "\n")) {
		char *sp = strrchr(line, ' ');
		if (*line == '#' || !sp)
			continue;
		*sp = 0;
		if (sc->n == cap)
			sc->s = xrealloc(sc->s, (cap = cap ? cap * 2 : 256) * sizeof(*sc->s));
		sc->s[sc->n].key = strdup(line);
		if (!sc->s[sc->n].key)
			out_of_memory();
		sc->s[sc->n++].v = strtod(sp + 1, NULL);
	}
	qsort(sc->s, sc->n, sizeof(*sc->s), by_key);
}

/* Waits for events on fd until the deadline: 1, or 0 at the deadline. */
static int wait_fd(int fd, short events, double deadline)
{
	struct pollfd p = { fd, events, 0 };
	double left = deadline - now_s();
	return left > 0 && poll(&p, 1, (int)(left * 1000) + 1) > 0;
}

/* GET /metrics from addr ("HOST:PORT", "[V6]:PORT"), bounded by SCRAPE_TIMEOUT_MS. */
static void scrape(struct scrape *sc, const char *addr)
{
	char host[300], port[16];
	const char *colon = strrchr(addr, ':');
	*sc = (struct scrape){ 0 };
	if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof(host)) {
		snprintf(sc->err, sizeof(sc->err), "bad address %s", addr);
		return;
	}
	size_t hl = (size_t)(colon - addr);
	memcpy(host, addr + (*addr == '['), hl - (*addr == '[') * 2);
	host[hl - (*addr == '[') * 2] = 0;
	snprintf(port, sizeof(port), "%s", colon + 1);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *ai;
	if (getaddrinfo(host, port, &hints, &ai)) {
		snprintf(sc->err, sizeof(sc->err), "cannot resolve %s", addr);
		return;
	}
	double deadline = now_s() + SCRAPE_TIMEOUT_MS / 1000.0;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	size_t len = 0, cap = 65536;
	char *buf = NULL;
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: pagebus\r\nUser-Agent: pagebus-top\r\n\r\n";
	if (fd < 0 || (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) ||
	    !wait_fd(fd, POLLOUT, deadline) || send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != sizeof(req) - 1) {
		snprintf(sc->err, sizeof(sc->err), "no answer from %s", addr);
		goto out;
	}
	buf = xrealloc(NULL, cap);
	for (;;) {
		if (!wait_fd(fd, POLLIN, deadline)) {
			snprintf(sc->err, sizeof(sc->err), "%s timed out", addr);
			goto out;
		}
		if (cap - len < 4096)
			buf = xrealloc(buf, cap *= 2);
		ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
		if (r == 0)
			break;
		if (r < 0 && errno != EAGAIN && errno != EINTR) {
			snprintf(sc->err, sizeof(sc->err), "%s: %s", addr, strerror(errno));
			goto out;
		}
		len += r > 0 ? (size_t)r : 0;
	}
	buf[len] = 0;
	char *body = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.1 200 ", 13) || !body)
		snprintf(sc->err, sizeof(sc->err), "%s did not answer 200", addr);
	else
		parse_exposition(sc, body + 4);
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
}

/* ---- a sample of the broker ---------------------------------------------------------------- */

struct topic_name {
	uint32_t id;
	char *name;
};

struct sample {
	double t;
	struct pagebus_partition_state *parts;
	int nparts;
	struct scrape m;
	bool proc_ok;
	uint64_t cpu_ticks, rss_pages, start_ticks;
	int threads;
};

struct top {
	const struct top_opts *o;
	struct pagebus *pb;
	int pid;
	char metrics[300]; /* the endpoint, or "" */
	struct topic_name *topics;
	int ntopics;
	FILE *out; /* the frame being built */
};

static void sample_free(struct sample *s)
{
	free(s->parts);
	scrape_free(&s->m);
	*s = (struct sample){ 0 };
}

/* /proc/<pid>/stat (CPU ticks, threads, start) and statm (resident pages). */
static bool read_proc(int pid, struct sample *s)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "re");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* the command name may hold spaces and ')' */
	unsigned long long utime, stime, start;
	long threads;
	/* fields 3.. after the name: state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime priority nice num_threads itrealvalue
	 * starttime */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %ld %*d %llu",
			 &utime, &stime, &threads, &start) != 4)
		return false;
	s->cpu_ticks = utime + stime;
	s->threads = (int)threads;
	s->start_ticks = start;
	snprintf(path, sizeof(path), "/proc/%d/statm", pid);
	f = fopen(path, "re");
	unsigned long long size, rss;
	bool ok = f && fscanf(f, "%llu %llu", &size, &rss) == 2;
	if (f)
		fclose(f);
	s->rss_pages = ok ? rss : 0;
	return ok;
}

static int take_sample(struct top *tp, struct sample *s)
{
	*s = (struct sample){ .t = now_s() };
	int n = pagebus_partition_states(tp->pb, NULL, 0);
	for (int tries = 0; n >= 0 && tries < 4; tries++) {
		s->parts = xrealloc(s->parts, (size_t)(n + 16) * sizeof(*s->parts));
		int got = pagebus_partition_states(tp->pb, s->parts, n + 16);
		if (got <= n + 16) {
			n = got;
			break;
		}
		n = got; /* topics were created meanwhile: room for them */
	}
	if (n < 0)
		return n;
	s->nparts = n;
	s->proc_ok = read_proc(tp->pid, s);
	if (*tp->metrics)
		scrape(&s->m, tp->metrics);
	else
		snprintf(s->m.err, sizeof(s->m.err), "metrics.listen is off");
	return 0;
}

/* Topic names by id, fetched again when a partition of an unknown id shows up. */
static const char *topic_name(struct top *tp, uint32_t id)
{
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < tp->ntopics; i++)
			if (tp->topics[i].id == id)
				return tp->topics[i].name;
		if (pass)
			break;
		struct pagebus_topic_info *v;
		int n;
		if (pagebus_topic_list(tp->pb, &v, &n) < 0)
			break;
		for (int i = 0; i < tp->ntopics; i++)
			free(tp->topics[i].name);
		tp->topics = xrealloc(tp->topics, (size_t)n * sizeof(*tp->topics));
		for (int i = 0; i < n; i++) {
			tp->topics[i].id = v[i].topic_id;
			if (!(tp->topics[i].name = strdup(v[i].name)))
				out_of_memory();
		}
		tp->ntopics = n;
		pagebus_topic_list_free(v);
	}
	return NULL;
}

/* ---- a frame ------------------------------------------------------------------------------- */

/* 1234567 -> "1.2M"; bytes in powers of 1024. */
static const char *human(char *buf, size_t len, double v)
{
	static const char units[] = " KMGTP";
	int u = 0;
	if (isnan(v))
		return "n/a";
	while ((v < 0 ? -v : v) >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u)
		snprintf(buf, len, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
	else
		snprintf(buf, len, "%.0f", v);
	return buf;
}

/* A rate over the interval, or "-" before there are two samples; n/a without data. */
static const char *rate(char *buf, size_t len, double cur, double prev, double dt, bool bytes)
{
	if (isnan(cur) || isnan(prev))
		return "n/a";
	if (dt <= 0)
		return "-";
	double r = (cur - prev) / dt;
	if (bytes)
		return human(buf, len, r);
	if (r < 10000)
		snprintf(buf, len, "%.0f", r);
	else if (r < 1e6)
		snprintf(buf, len, "%.0fk", r / 1e3);
	else
		snprintf(buf, len, "%.2fM", r / 1e6);
	return buf;
}

struct bucket {
	double le, cum;
};

static int by_le(const void *a, const void *b)
{
	double x = ((const struct bucket *)a)->le, y = ((const struct bucket *)b)->le;
	return x < y ? -1 : x > y;
}

/* The q-quantile (upper bucket bound) of a histogram's observations between two scrapes:
 * NAN when there were none. */
static double quantile(const struct scrape *cur, const struct scrape *prev, const char *name, double q)
{
	char prefix[128];
	int plen = snprintf(prefix, sizeof(prefix), "%s_bucket{le=\"", name);
	struct bucket b[64];
	int n = 0;
	for (size_t i = 0; i < cur->n && n < 64; i++) {
		if (strncmp(cur->s[i].key, prefix, (size_t)plen))
			continue;
		double was = metric(prev, "%s", cur->s[i].key);
		const char *le = cur->s[i].key + plen;
		b[n].le = !strncmp(le, "+Inf", 4) ? INFINITY : strtod(le, NULL);
		b[n++].cum = cur->s[i].v - (isnan(was) ? 0 : was);
	}
	qsort(b, (size_t)n, sizeof(*b), by_le);
	if (!n || b[n - 1].cum <= 0)
		return NAN;
	for (int i = 0; i < n; i++)
		if (b[i].cum >= q * b[n - 1].cum)
			return b[i].le;
	return INFINITY;
}

static const char *duration(char *buf, size_t len, double s)
{
	if (isnan(s))
		return "-";
	if (isinf(s))
		snprintf(buf, len, ">2.5s");
	else if (s < 1e-3)
		snprintf(buf, len, "%.0fus", s * 1e6);
	else if (s < 1)
		snprintf(buf, len, "%.3gms", s * 1e3);
	else
		snprintf(buf, len, "%.3gs", s);
	return buf;
}

static void header(struct top *tp, const struct sample *cur, const struct sample *prev, double dt)
{
	FILE *f = tp->out;
	char a[32], b[32];
	long tck = sysconf(_SC_CLK_TCK);
	fprintf(f, "pagebus top - %s - broker pid %d", tp->o->dir, tp->pid);
	if (cur->proc_ok) {
		struct timespec up;
		clock_gettime(CLOCK_BOOTTIME, &up);
		double age = (double)up.tv_sec - (double)cur->start_ticks / (double)tck;
		fprintf(f, ", up %dh%02dm%02ds", (int)(age / 3600), (int)(age / 60) % 60, (int)age % 60);
		if (prev && prev->proc_ok && dt > 0)
			fprintf(f, ", cpu %.1f%%", (double)(cur->cpu_ticks - prev->cpu_ticks) / (double)tck / dt * 100);
		else
			fprintf(f, ", cpu -");
		fprintf(f, ", rss %s, threads %d\n", human(a, sizeof(a), (double)cur->rss_pages * (double)sysconf(_SC_PAGESIZE)),
			cur->threads);
	} else {
		fprintf(f, ", cpu n/a, rss n/a (no /proc/%d)\n", tp->pid);
	}
	const struct scrape *m = &cur->m;
	if (!m->n) {
		fprintf(f, "metrics n/a: %s\n", m->err);
		return;
	}
	fprintf(f, "metrics %s - connections local %.0f, kafka %.0f", tp->metrics, metric(m, "pagebus_connections{kind=\"local\"}"),
		metric(m, "pagebus_connections{kind=\"kafka\"}"));
	if (prev && prev->m.n) {
		fprintf(f, " - append latency p50 %s p99 %s",
			duration(a, sizeof(a), quantile(m, &prev->m, "pagebus_append_latency_seconds", 0.5)),
			duration(b, sizeof(b), quantile(m, &prev->m, "pagebus_append_latency_seconds", 0.99)));
		fprintf(f, ", fsync p99 %s", duration(a, sizeof(a), quantile(m, &prev->m, "pagebus_fsync_latency_seconds", 0.99)));
		fprintf(f, " - io_uring enters %s/s", rate(b, sizeof(b), metric(m, "pagebus_uring_enter_total"),
							metric(&prev->m, "pagebus_uring_enter_total"), dt, false));
	}
	fprintf(f, "\n");
}

struct row {
	const char *topic;
	const struct pagebus_partition_state *cur, *prev;
};

static int by_topic(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int c = strcmp(x->topic, y->topic);
	return c ? c : (x->cur->partition > y->cur->partition) - (x->cur->partition < y->cur->partition);
}

static const struct pagebus_partition_state *find_part(const struct sample *s, uint32_t topic, int32_t p)
{
	for (int i = 0; s && i < s->nparts; i++)
		if (s->parts[i].topic_id == topic && s->parts[i].partition == p)
			return &s->parts[i];
	return NULL;
}

static void partitions(struct top *tp, const struct sample *cur, const struct sample *prev, double dt)
{
	struct row *rows = xrealloc(NULL, (size_t)cur->nparts * sizeof(*rows));
	int n = 0;
	for (int i = 0; i < cur->nparts; i++) {
		const char *name = topic_name(tp, cur->parts[i].topic_id);
		if (name)
			rows[n++] = (struct row){ name, &cur->parts[i],
						  find_part(prev, cur->parts[i].topic_id, cur->parts[i].partition) };
	}
	qsort(rows, (size_t)n, sizeof(*rows), by_topic);
	struct table t;
	table_start(&t, "TOPIC PARTITION MSG/S BYTES/S HWM LOG_START BYTES CACHED CACHED% CONSUMERS");
	for (int i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		const struct scrape *m = &cur->m, *pm = prev ? &prev->m : NULL;
		char a[32];
		int32_t p = r->cur->partition;
#define PART_METRIC(s, name) metric(s, "pagebus_partition_" name "{topic=\"%s\",partition=\"%d\"}", r->topic, p)
		double bytes = PART_METRIC(m, "log_bytes"), consumers = PART_METRIC(m, "local_consumers");
		cell(&t, "%s", r->topic);
		cell(&t, "%d", p);
		cell(&t, "%s", r->prev ? rate(a, sizeof(a), (double)r->cur->hwm, (double)r->prev->hwm, dt, false) : "-");
		cell(&t, "%s", !pm ? "-" : rate(a, sizeof(a), PART_METRIC(m, "appended_bytes_total"),
					      PART_METRIC(pm, "appended_bytes_total"), dt, true));
#undef PART_METRIC
		cell(&t, "%" PRId64, r->cur->hwm);
		cell(&t, "%" PRId64, r->cur->log_start);
		cell(&t, "%s", human(a, sizeof(a), bytes));
		uint64_t cached;
		if (partition_cached(tp->o->dir, r->topic, p, false, &cached) < 0) {
			cell(&t, "n/a");
			cell(&t, "n/a");
		} else {
			cell(&t, "%s", human(a, sizeof(a), (double)cached));
			/* the active segment is sized to segment.bytes: cached pages past the data
			 * can only be the partial tail page, so clamp at 100% */
			if (isnan(bytes) || bytes <= 0)
				cell(&t, "n/a");
			else
				cell(&t, "%.0f%%", cached >= bytes ? 100 : (double)cached / bytes * 100);
		}
		cell(&t, isnan(consumers) ? "n/a" : "%.0f", consumers);
	}
	fprintf(tp->out, "\n");
	table_print(&t, tp->out);
	if (!n)
		fprintf(tp->out, "(no topics)\n");
	free(rows);
}

/* Named consumers from DIR/consumer-offsets against the control region's HWMs. */
static void consumers(struct top *tp, const struct sample *cur)
{
	char path[4200], line[1024], name[256], topic[256];
	snprintf(path, sizeof(path), "%s/consumer-offsets", tp->o->dir);
	FILE *f = fopen(path, "re");
	struct table t;
	table_start(&t, "CONSUMER TOPIC PARTITION COMMITTED LAG");
	int32_t part;
	int64_t next;
	int rows = 0;
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%255s %255s %" SCNd32 " %" SCNd64, name, topic, &part, &next) != 4)
			continue;
		const struct pagebus_partition_state *ps = NULL;
		for (int i = 0; i < tp->ntopics && !ps; i++)
			if (!strcmp(tp->topics[i].name, topic))
				ps = find_part(cur, tp->topics[i].id, part);
		cell(&t, "%s", name);
		cell(&t, "%s", topic);
		cell(&t, "%d", part);
		cell(&t, "%" PRId64, next);
		if (ps)
			cell(&t, "%" PRId64, ps->hwm > next ? ps->hwm - next : 0);
		else
			cell(&t, "n/a");
		rows++;
	}
	if (f)
		fclose(f);
	fprintf(tp->out, "\n");
	table_print(&t, tp->out);
	if (!rows)
		fprintf(tp->out, "(no named consumers)\n");
}

/* Builds the frame in memory and writes it at once (no flicker). */
static void frame(struct top *tp, const struct sample *cur, const struct sample *prev, bool screen)
{
	char *buf = NULL;
	size_t len = 0;
	tp->out = open_memstream(&buf, &len);
	if (!tp->out)
		out_of_memory();
	double dt = prev ? cur->t - prev->t : 0;
	if (screen)
		fputs("\033[H\033[2J", tp->out); /* home, clear */
	header(tp, cur, prev, dt);
	partitions(tp, cur, prev, dt);
	consumers(tp, cur);
	if (screen)
		fputs("\nq quits", tp->out);
	fclose(tp->out);
	tp->out = NULL;
	fwrite(buf, 1, len, stdout);
	fflush(stdout);
	free(buf);
}

/* ---- the terminal -------------------------------------------------------------------------- */

static struct termios g_saved;
static bool g_raw, g_screen;

static void restore_terminal(void)
{
	if (g_raw)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved);
	if (g_screen)
		fputs("\033[?25h\033[?1049l", stdout); /* cursor back, main screen back */
	fflush(stdout);
	g_raw = g_screen = false;
}

/* Keys without Enter and without echo; Ctrl-C still signals. Restored at exit. */
static void raw_terminal(void)
{
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &g_saved) == 0) {
		struct termios t = g_saved;
		t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		t.c_cc[VMIN] = 0;
		t.c_cc[VTIME] = 0;
		g_raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
	}
	if (isatty(STDOUT_FILENO)) {
		fputs("\033[?1049h\033[?25l", stdout); /* alternate screen, no cursor */
		g_screen = true;
	}
	atexit(restore_terminal);
}

/* Waits until the deadline; true when q was pressed or a signal came. */
static bool wait_key(double deadline)
{
	while (!g_stop) {
		double left = deadline - now_s();
		if (left <= 0)
			return false;
		struct pollfd p = { STDIN_FILENO, POLLIN, 0 };
		int r = poll(&p, g_raw ? 1 : 0, (int)(left * 1000) + 1);
		char c;
		if (r > 0 && read(STDIN_FILENO, &c, 1) == 1 && (c == 'q' || c == 'Q'))
			return true;
		if (r > 0 && (p.revents & (POLLHUP | POLLERR)))
			g_raw = false; /* stdin went away: only signals stop us now */
	}
	return true;
}

int top_run(const struct top_opts *o)
{
	struct top tp = { .o = o };
	if (broker_lock_info(o->dir, &tp.pid, tp.metrics, sizeof(tp.metrics)) < 0) {
		fprintf(stderr, "pagebus: top: no broker pid in %s/pagebus.lock (is pagebusd running?)\n", o->dir);
		return EXIT_RUNTIME;
	}
	if (o->metrics)
		snprintf(tp.metrics, sizeof(tp.metrics), "%s", o->metrics);
	int err = pagebus_connect(o->dir, &tp.pb);
	if (err < 0) {
		fprintf(stderr, "pagebus: top: cannot connect to the broker of %s: %s\n", o->dir, pagebus_strerror(err));
		return EXIT_RUNTIME;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	struct sample prev = { 0 }, cur = { 0 };
	int rc = 0;
	if ((err = take_sample(&tp, &prev)) < 0)
		goto fail;
	if (o->once) {
		/* one frame, with rates over one interval */
		if (!wait_key(prev.t + TOP_INTERVAL_MS / 1000.0) && (err = take_sample(&tp, &cur)) < 0)
			goto fail;
		if (cur.t)
			frame(&tp, &cur, &prev, false);
		goto out;
	}
	raw_terminal();
	frame(&tp, &prev, NULL, g_screen);
	while (!wait_key(prev.t + TOP_INTERVAL_MS / 1000.0)) {
		if ((err = take_sample(&tp, &cur)) < 0)
			goto fail;
		if (!cur.proc_ok && kill(tp.pid, 0) < 0 && errno == ESRCH) {
			restore_terminal();
			fprintf(stderr, "pagebus: top: the broker (pid %d) stopped\n", tp.pid);
			rc = EXIT_RUNTIME;
			goto out;
		}
		frame(&tp, &cur, &prev, g_screen);
		sample_free(&prev);
		prev = cur;
		cur = (struct sample){ 0 };
	}
	goto out;
fail:
	restore_terminal();
	fprintf(stderr, "pagebus: top: %s\n", pagebus_strerror(err));
	rc = EXIT_RUNTIME;
out:
	restore_terminal();
	sample_free(&prev);
	sample_free(&cur);
	for (int i = 0; i < tp.ntopics; i++)
		free(tp.topics[i].name);
	free(tp.topics);
	pagebus_close(tp.pb);
	return rc;
}
