/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_peers.c — Redis Streams and ZeroMQ as pagebus-bench drives them: a redis-server
 * of our own with a minimal RESP2 client (commands out, replies walked in place), and
 * ZeroMQ PUSH/PULL and REQ/REP over ipc:// and iceoryx publish/subscribe, each when its
 * library was found at build time.
 */
#include "bench_peers.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_proc.h"

#ifdef PB_HAVE_ZMQ
#include <zmq.h>
#endif
#ifdef PB_HAVE_ICEORYX
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes" /* iox_runtime_shutdown() */
#include <iceoryx_binding_c/runtime.h>
#pragma GCC diagnostic pop
#include <iceoryx_binding_c/enums.h>
#include <iceoryx_binding_c/publisher.h>
#include <iceoryx_binding_c/subscriber.h>
#endif

#define PIPELINE 64
#define STREAM "pagebus-bench"

/* ---- a minimal RESP2 client -------------------------------------------------------- */

struct resp {
	int fd;
	char *buf;
	size_t cap, start, end; /* unread bytes are buf[start..end) */
};

/* Called for every bulk string of a reply, at its nesting depth; p is valid only
 * during the call. */
typedef void resp_cb(void *ctx, int depth, const char *p, size_t len);

static int resp_open(struct resp *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	c->cap = 1 << 20;
	if (!(c->buf = malloc(c->cap)))
		return -ENOMEM;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)))
		return -errno;
	return 0;
}

static void resp_close(struct resp *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
}

static int resp_send(struct resp *c, const char *p, size_t len)
{
	return bench_write_full(c->fd, p, len);
}

/* Makes at least want unread bytes available (growing the buffer when needed). */
static int resp_need(struct resp *c, size_t want)
{
	while (c->end - c->start < want) {
		if (c->start) {
			memmove(c->buf, c->buf + c->start, c->end - c->start);
			c->end -= c->start;
			c->start = 0;
		}
		if (want > c->cap) {
			char *nb = realloc(c->buf, want);
			if (!nb)
				return -ENOMEM;
			c->buf = nb;
			c->cap = want;
		}
		ssize_t n = read(c->fd, c->buf + c->end, c->cap - c->end);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		c->end += (size_t)n;
	}
	return 0;
}

/* The next CRLF-terminated line (without CRLF), consumed. */
static int resp_line(struct resp *c, const char **line, size_t *len)
{
	for (size_t have = 1;; have = c->end - c->start + 1) {
		int err = resp_need(c, have);
		if (err)
			return err;
		char *p = c->buf + c->start, *nl = memmem(p, c->end - c->start, "\r\n", 2);
		if (nl) {
			*line = p;
			*len = (size_t)(nl - p);
			c->start += *len + 2;
			return 0;
		}
	}
}

/* Reads one reply, calling cb for its bulk strings. -EPROTO on an error reply. */
static int resp_reply(struct resp *c, int depth, resp_cb *cb, void *ctx)
{
	const char *line;
	size_t len;
	int err = resp_line(c, &line, &len);
	if (err)
		return err;
	if (!len)
		return -EPROTO;
	long n = strtol(line + 1, NULL, 10);
	switch (line[0]) {
	case '+':
	case ':':
		return 0;
	case '-':
		fprintf(stderr, "pagebus-bench: redis: %.*s\n", (int)len, line);
		return -EPROTO;
	case '$':
		if (n < 0)
			return 0;
		if ((err = resp_need(c, (size_t)n + 2)))
			return err;
		if (cb)
			cb(ctx, depth, c->buf + c->start, (size_t)n);
		c->start += (size_t)n + 2;
		return 0;
	case '*':
		for (long i = 0; i < n; i++)
			if ((err = resp_reply(c, depth + 1, cb, ctx)))
				return err;
		return 0;
	default:
		return -EPROTO;
	}
}

/* Appends one command (argc bulk strings) to out; returns the bytes written. out must
 * hold 16 + the lengths + 24 per argument. */
static size_t resp_cmd(char *out, int argc, const char *const *argv, const size_t *lens)
{
	size_t n = (size_t)sprintf(out, "*%d\r\n", argc);
	for (int i = 0; i < argc; i++) {
		size_t l = lens ? lens[i] : strlen(argv[i]);
		n += (size_t)sprintf(out + n, "$%zu\r\n", l);
		memcpy(out + n, argv[i], l);
		n += l;
		memcpy(out + n, "\r\n", 2);
		n += 2;
	}
	return n;
}

static int resp_call(struct resp *c, int argc, const char *const *argv, resp_cb *cb, void *ctx)
{
	size_t cap = 64;
	for (int i = 0; i < argc; i++)
		cap += strlen(argv[i]) + 24;
	char *out = malloc(cap);
	if (!out)
		return -ENOMEM;
	int err = resp_send(c, out, resp_cmd(out, argc, argv, NULL));
	free(out);
	return err ? err : resp_reply(c, 0, cb, ctx);
}

/* ---- redis-server ------------------------------------------------------------------ */

static const char *redis_binary(void)
{
	static const char *const paths[] = { "/usr/bin/redis-server", "/usr/local/bin/redis-server" };
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (!access(paths[i], X_OK))
			return paths[i];
	return NULL;
}

int redis_start(struct redis_peer *r)
{
	memset(r, 0, sizeof(*r));
	const char *bin = redis_binary();
	if (!bin)
		return -ENOENT;
	int err = bench_tmpdir("redis", r->dir, sizeof(r->dir));
	if (err)
		return err;
	snprintf(r->sock, sizeof(r->sock), "%s/redis.sock", r->dir);
	char log[4200];
	snprintf(log, sizeof(log), "%s/redis.log", r->dir);
	const char *argv[] = { bin, "--port", "0", "--unixsocket", r->sock, "--unixsocketperm", "700",
			       "--save", "", "--appendonly", "no", "--dir", r->dir, "--logfile", log,
			       "--daemonize", "no", NULL };
	if ((r->pid = bench_spawn(argv, log, 0, SIGKILL)) < 0)
		return r->pid;
	for (double t0 = now_s(); now_s() - t0 < 10;) {
		struct resp c;
		const char *ping[] = { "PING" };
		if (!resp_open(&c, r->sock) && !resp_call(&c, 1, ping, NULL, NULL)) {
			resp_close(&c);
			return 0;
		}
		resp_close(&c);
		if (waitpid(r->pid, NULL, WNOHANG) == r->pid)
			break;
		usleep(2000);
	}
	fprintf(stderr, "pagebus-bench: redis-server did not start (log in %s)\n", r->dir);
	redis_stop(r);
	return -ECHILD;
}

void redis_stop(struct redis_peer *r)
{
	if (r->pid > 0) {
		kill(r->pid, SIGTERM);
		waitpid(r->pid, NULL, 0);
		r->pid = 0;
	}
	if (r->dir[0])
		bench_rmrf(r->dir);
	r->dir[0] = 0;
}

static int redis_del(struct resp *c)
{
	const char *del[] = { "DEL", STREAM };
	return resp_call(c, 2, del, NULL, NULL);
}

/* PIPELINE XADDs of value (whose first 8 bytes the caller may stamp) in one buffer. */
static char *xadd_batch(const char *value, size_t value_len, int count, size_t *len)
{
	const char *argv[] = { "XADD", STREAM, "*", "v", value };
	size_t lens[] = { 4, strlen(STREAM), 1, 1, value_len };
	size_t one = 128 + value_len;
	char *buf = malloc(one * (size_t)count);
	*len = 0;
	for (int i = 0; buf && i < count; i++)
		*len += resp_cmd(buf + *len, 5, argv, lens);
	return buf;
}

/* Writes n entries, PIPELINE at a time; stops at deadline (seconds > 0). Count or < 0. */
static long xadd_n(struct resp *c, size_t value_len, long n, double seconds)
{
	char *value = malloc(value_len ? value_len : 1);
	size_t len;
	char *batch = value ? (memset(value, 'r', value_len), xadd_batch(value, value_len, PIPELINE, &len))
			    : NULL;
	long done = 0;
	int err = batch ? 0 : -ENOMEM;
	double t_end = now_s() + seconds;
	while (!err && done < n && (seconds <= 0 || now_s() < t_end)) {
		if ((err = resp_send(c, batch, len)))
			break;
		for (int i = 0; i < PIPELINE && !err; i++)
			err = resp_reply(c, 0, NULL, NULL);
		done += PIPELINE;
	}
	free(batch);
	free(value);
	return err ? err : done;
}

double redis_xadd_rate(struct redis_peer *r, size_t value_len, double seconds)
{
	struct resp c;
	int err = resp_open(&c, r->sock);
	if (err) {
		resp_close(&c);
		return err;
	}
	redis_del(&c);
	/* at most 1 GiB of values: redis keeps them all in memory */
	long cap = (long)((1ull << 30) / (value_len + 64));
	double t0 = now_s();
	long n = xadd_n(&c, value_len, cap, seconds);
	double rate = n > 0 ? (double)n / (now_s() - t0) : (double)n;
	redis_del(&c);
	resp_close(&c);
	return rate;
}

struct xread_state {
	char last_id[64];
	long msgs;
	uint64_t sum;           /* touches every value, so reading is not skipped */
	struct bench_hist *h;   /* latency consumer: value starts with the send time */
	int field;              /* position among an entry's field/value strings */
};

static void xread_cb(void *ctx, int depth, const char *p, size_t len)
{
	struct xread_state *st = ctx;
	if (depth == 4 && len < sizeof(st->last_id)) { /* the entry id */
		memcpy(st->last_id, p, len);
		st->last_id[len] = 0;
		st->field = 0;
	} else if (depth == 5 && st->field++ % 2) { /* a value */
		st->msgs++;
		st->sum += len ? (unsigned char)p[len - 1] : 0;
		if (st->h && len >= 8) {
			uint64_t sent;
			memcpy(&sent, p, 8);
			uint64_t now = now_ns();
			hist_record(st->h, now > sent ? now - sent : 0);
		}
	}
}

/* XREAD [BLOCK ms] COUNT 1024 from st->last_id until st->msgs reaches n or the time
 * is up. */
static int xread_until(struct resp *c, struct xread_state *st, long n, double seconds, int block)
{
	double t_end = now_s() + seconds;
	while (st->msgs < n && now_s() < t_end) {
		const char *argv[] = { "XREAD", "COUNT", "1024", "BLOCK", "100", "STREAMS", STREAM, st->last_id };
		const char *nb[] = { "XREAD", "COUNT", "1024", "STREAMS", STREAM, st->last_id };
		int err = block ? resp_call(c, 8, argv, xread_cb, st) : resp_call(c, 6, nb, xread_cb, st);
		if (err)
			return err;
	}
	return st->msgs >= n ? 0 : -ETIME;
}

double redis_xread_rate(struct redis_peer *r, size_t value_len, long n)
{
	struct resp c;
	int err = resp_open(&c, r->sock);
	struct xread_state st = { .last_id = "0-0" };
	double rate = NAN;
	if (!err) {
		redis_del(&c);
		long wrote = xadd_n(&c, value_len, n, 0);
		double t0 = now_s();
		err = wrote < 0 ? (int)wrote : xread_until(&c, &st, wrote, 60, 0);
		rate = err ? err : (double)st.msgs / (now_s() - t0);
		redis_del(&c);
	}
	resp_close(&c);
	return err ? err : rate;
}

struct redis_lat_ctx {
	struct redis_peer *r;
	size_t value_len;
	double rate, seconds;
	long n;
	struct bench_hist *h; /* shared with the consumer process */
};

static int redis_lat_member(int idx, void *arg)
{
	struct redis_lat_ctx *x = arg;
	struct resp c;
	int err = resp_open(&c, x->r->sock);
	crew_ready(err);
	if (idx == 0) { /* the consumer */
		struct xread_state st = { .last_id = "0-0", .h = x->h };
		err = xread_until(&c, &st, x->n, x->seconds + 10, 1);
		resp_close(&c);
		return err ? 1 : 0;
	}
	char *value = calloc(1, x->value_len < 8 ? 8 : x->value_len);
	size_t vlen = x->value_len < 8 ? 8 : x->value_len, len;
	uint64_t t0 = now_ns(), interval = (uint64_t)(1e9 / x->rate);
	for (long i = 0; value && !err && i < x->n; i++) {
		uint64_t intended = t0 + (uint64_t)i * interval;
		while (now_ns() < intended)
			;
		memcpy(value, &intended, 8);
		char *cmd = xadd_batch(value, vlen, 1, &len);
		err = cmd ? resp_send(&c, cmd, len) : -ENOMEM;
		free(cmd);
		if (!err)
			err = resp_reply(&c, 0, NULL, NULL);
	}
	free(value);
	resp_close(&c);
	return err ? 1 : 0;
}

int redis_latency(struct redis_peer *r, size_t value_len, double rate, double seconds,
		  struct bench_hist *h)
{
	struct resp c;
	int err = resp_open(&c, r->sock);
	if (!err)
		err = redis_del(&c);
	resp_close(&c);
	if (err)
		return err;
	struct bench_hist *sh = bench_shared(sizeof(*sh));
	hist_reset(sh);
	struct redis_lat_ctx x = { r, value_len, rate, seconds, (long)(rate * seconds), sh };
	if (x.n < 1)
		x.n = 1;
	struct crew crew;
	err = crew_fork(&crew, 2, redis_lat_member, &x);
	if (!err && !(err = crew_wait_ready(&crew, 10000)))
		crew_start(&crew);
	if (crew_reap(&crew, seconds + 30) && !err)
		err = -EIO;
	if (!err)
		hist_merge(h, sh);
	bench_shared_free(sh, sizeof(*sh));
	return err;
}

/* ---- ZeroMQ ------------------------------------------------------------------------ */

#ifdef PB_HAVE_ZMQ
int zmq_available(void)
{
	return 1;
}

struct zmq_result {
	long msgs;
	double t_first, t_end; /* the first message (after the connection is up) and the end */
};

/* A child: PULL (count until an empty message) or REP (echo until an empty one). */
static pid_t zmq_child(const char *ep, int type, struct zmq_result *res)
{
	pid_t parent = getpid(), pid = fork();
	if (pid)
		return pid;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, type);
	if (!s || zmq_bind(s, ep))
		_exit(1);
	zmq_msg_t m;
	zmq_msg_init(&m);
	long n = 0;
	for (;;) {
		int len = zmq_msg_recv(&m, s, 0);
		if (len < 0)
			_exit(1);
		if (type == ZMQ_REP && zmq_send(s, zmq_msg_data(&m), (size_t)len, 0) < 0)
			_exit(1);
		if (!len)
			break;
		if (!n++)
			res->t_first = now_s();
	}
	res->msgs = n;
	res->t_end = now_s();
	zmq_msg_close(&m);
	zmq_close(s);
	zmq_ctx_term(ctx);
	_exit(0);
}

static double zmq_run(const char *dir, size_t value_len, double seconds, int rtt)
{
	char ep[4300];
	snprintf(ep, sizeof(ep), "ipc://%s/zmq-%d.ipc", dir, (int)getpid());
	struct zmq_result *res = bench_shared(sizeof(*res));
	pid_t pid = zmq_child(ep, rtt ? ZMQ_REP : ZMQ_PULL, res);
	void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, rtt ? ZMQ_REQ : ZMQ_PUSH);
	char *val = calloc(1, value_len ? value_len : 1);
	struct bench_hist *h = rtt ? malloc(sizeof(*h)) : NULL;
	double out = -EIO;
	int ivl = 1; /* the child may bind after our connect: retry at once, not in 100 ms */
	int ok = pid > 0 && s && val && (!rtt || h) &&
		 !zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl)) && !zmq_connect(s, ep);
	if (h)
		hist_reset(h);
	/* one message first: the clock starts with the connection up */
	ok = ok && zmq_send(s, val, value_len, 0) >= 0 && (!rtt || zmq_recv(s, val, value_len, 0) >= 0);
	long sent = 1;
	double t0 = now_s();
	while (ok && now_s() - t0 < seconds) {
		for (int i = 0; ok && i < (rtt ? 1 : 256); i++) {
			uint64_t ts = now_ns();
			ok = zmq_send(s, val, value_len, 0) >= 0;
			if (ok && rtt) {
				ok = zmq_recv(s, val, value_len, 0) >= 0;
				hist_record(h, now_ns() - ts);
			}
			sent++;
		}
	}
	if (ok) /* the end marker; REQ must also take its echo */
		ok = zmq_send(s, "", 0, 0) >= 0 && (!rtt || zmq_recv(s, val, value_len, 0) >= 0);
	int st = 1;
	if (pid > 0) {
		if (!ok)
			kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	if (ok && WIFEXITED(st) && !WEXITSTATUS(st) && res->msgs == sent)
		out = rtt ? (double)hist_percentile(h, 50) / 1e3
			  : (double)(sent - 1) / (res->t_end - res->t_first);
	free(h);
	free(val);
	if (s) {
		int linger = 0;
		zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
		zmq_close(s);
	}
	zmq_ctx_term(ctx);
	bench_shared_free(res, sizeof(*res));
	return out;
}

double zmq_pushpull_rate(const char *dir, size_t value_len, double seconds)
{
	return zmq_run(dir, value_len, seconds, 0);
}

double zmq_reqrep_rtt_us(const char *dir, size_t value_len, double seconds)
{
	return zmq_run(dir, value_len, seconds, 1);
}
#else
int zmq_available(void)
{
	return 0;
}

double zmq_pushpull_rate(const char *dir, size_t value_len, double seconds)
{
	(void)dir;
	(void)value_len;
	(void)seconds;
	return -ENOENT;
}

double zmq_reqrep_rtt_us(const char *dir, size_t value_len, double seconds)
{
	(void)dir;
	(void)value_len;
	(void)seconds;
	return -ENOENT;
}
#endif

/* ---- iceoryx ----------------------------------------------------------------------- */

#ifdef PB_HAVE_ICEORYX
#define IOX_END UINT64_MAX /* first 8 bytes of the last chunk */

int iox_start(struct iox_peer *x)
{
	static const char *const bin = "/usr/bin/iox-roudi";
	char dir[4096];
	memset(x, 0, sizeof(*x));
	if (access(bin, X_OK))
		return -ENOENT;
	int err = bench_tmpdir("roudi", dir, sizeof(dir));
	if (err)
		return err;
	snprintf(x->log, sizeof(x->log), "%s/roudi.log", dir);
	/* SIGTERM, not SIGKILL, if we die: RouDi then releases its shared memory */
	const char *argv[] = { bin, "--log-level", "info", NULL };
	if ((x->roudi = bench_spawn(argv, x->log, 1, SIGTERM)) < 0)
		return x->roudi;
	for (double t0 = now_s(); now_s() - t0 < 10; usleep(2000)) {
		char buf[16384] = "";
		int fd = open(x->log, O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;
		if (fd >= 0)
			close(fd);
		buf[n > 0 ? n : 0] = 0;
		if (strstr(buf, "RouDi is ready for clients"))
			return 0;
		if (waitpid(x->roudi, NULL, WNOHANG) == x->roudi) {
			x->roudi = 0;
			fprintf(stderr, "pagebus-bench: iox-roudi exited (another RouDi running?):\n%s", buf);
			return -EBUSY;
		}
	}
	iox_stop(x);
	return -ETIME;
}

void iox_stop(struct iox_peer *x)
{
	if (x->roudi > 0) {
		kill(x->roudi, SIGTERM); /* it releases its shared memory and exits */
		waitpid(x->roudi, NULL, 0);
		x->roudi = 0;
	}
	if (x->log[0]) {
		char dir[4200];
		snprintf(dir, sizeof(dir), "%s", x->log);
		*strrchr(dir, '/') = 0;
		bench_rmrf(dir);
		x->log[0] = 0;
	}
}

struct iox_result {   /* shared with the subscriber process */
	long msgs;
	uint64_t sum;         /* one byte of every value: the reads are not optimised away */
	double t_first, t_end;
};

struct iox_ctx {
	size_t value_len;
	double seconds;
	struct iox_result *res;
};

/* Member 0 subscribes and counts until the end chunk; member 1 publishes. Both leave
 * with exit(), not _exit(): iceoryx deregisters from RouDi in its destructors. */
static int iox_member(int idx, void *arg)
{
	struct iox_ctx *c = arg;
	char name[64];
	snprintf(name, sizeof(name), "pagebus-bench-%s-%d", idx ? "pub" : "sub", (int)getpid());
	iox_runtime_init(name);
	if (idx == 0) {
		iox_sub_options_t o;
		iox_sub_options_init(&o);
		o.queueCapacity = 256;
		o.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
		iox_sub_storage_t st;
		iox_sub_t sub = iox_sub_init(&st, "pagebus", "bench", "data", &o);
		crew_ready(0);
		long n = 0;
		for (double deadline = now_s() + c->seconds + 30; now_s() < deadline;) {
			const void *chunk;
			if (iox_sub_take_chunk(sub, &chunk) != ChunkReceiveResult_SUCCESS)
				continue; /* busy-polling, like a spinning pagebus consumer */
			uint64_t head;
			memcpy(&head, chunk, 8);
			c->res->sum += ((const unsigned char *)chunk)[c->value_len - 1];
			iox_sub_release_chunk(sub, chunk);
			if (head == IOX_END) {
				c->res->msgs = n;
				c->res->t_end = now_s();
				break;
			}
			if (!n++)
				c->res->t_first = now_s();
		}
		iox_sub_deinit(sub);
		iox_runtime_shutdown();
		exit(c->res->msgs ? 0 : 1);
	}
	iox_pub_options_t o;
	iox_pub_options_init(&o);
	o.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
	iox_pub_storage_t st;
	iox_pub_t pub = iox_pub_init(&st, "pagebus", "bench", "data", &o);
	char *val = malloc(c->value_len);
	int err = val ? 0 : -ENOMEM;
	for (double t0 = now_s(); !err && !iox_pub_has_subscribers(pub); usleep(1000))
		if (now_s() - t0 > 10)
			err = -ETIME;
	crew_ready(err);
	memset(val, 'i', c->value_len);
	uint64_t head = 0;
	memcpy(val, &head, 8);
	double t_end = now_s() + c->seconds;
	for (int last = 0; !last;) {
		last = now_s() >= t_end;
		for (int i = 0; i < (last ? 1 : 64); i++) {
			void *chunk;
			while (iox_pub_loan_chunk(pub, &chunk, (uint32_t)c->value_len) != AllocationResult_SUCCESS)
				; /* every chunk is with the subscriber: wait for one back */
			memcpy(chunk, val, c->value_len); /* the producer writes its value in place */
			if (last) {
				head = IOX_END;
				memcpy(chunk, &head, 8);
			}
			iox_pub_publish_chunk(pub, chunk);
		}
	}
	free(val);
	iox_pub_deinit(pub);
	iox_runtime_shutdown();
	exit(0);
}

double iox_pubsub_rate(struct iox_peer *x, size_t value_len, double seconds)
{
	if (x->roudi <= 0)
		return -ENOENT;
	struct iox_ctx c = { value_len < 8 ? 8 : value_len, seconds, NULL };
	c.res = bench_shared(sizeof(*c.res));
	struct crew crew;
	int err = crew_fork(&crew, 2, iox_member, &c);
	if (!err && crew_wait_ready(&crew, 20000))
		err = -ETIME;
	if (!err)
		crew_start(&crew);
	if (crew_reap(&crew, seconds + 60) && !err)
		err = -EIO;
	double rate = err || c.res->msgs < 2 ? (err ? err : -EIO)
					     : (double)(c.res->msgs - 1) / (c.res->t_end - c.res->t_first);
	bench_shared_free(c.res, sizeof(*c.res));
	return rate;
}
#else
int iox_start(struct iox_peer *x)
{
	x->roudi = 0;
	x->log[0] = 0;
	return -ENOENT;
}

void iox_stop(struct iox_peer *x)
{
	(void)x;
}

double iox_pubsub_rate(struct iox_peer *x, size_t value_len, double seconds)
{
	(void)x;
	(void)value_len;
	(void)seconds;
	return -ENOENT;
}
#endif
