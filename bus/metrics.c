/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c — the broker's counters as Prometheus text exposition, served at
 * metrics.listen on the broker's io_uring loop. A connection lives through three steps,
 * each one io_uring request with a link timeout, so a client that stalls holds one of
 * METRICS_MAX_CONNECTIONS slots for METRICS_TIMEOUT_MS at most and never the loop:
 *
 *   RECV the request (at most METRICS_MAX_REQUEST bytes, up to the blank line)
 *     → SEND the response (200 GET /metrics; 400 unparsable; 404 anything else; 431 too
 *       large), `Connection: close`
 *     → DRAIN: shutdown(SHUT_WR), read what the client still sends until it closes, so
 *       it reads the response rather than a reset; then close.
 *
 * Formatting reads the broker's structs as they are at that moment, on the loop thread:
 * no locks, and no counter costs more than an add where its event happens.
 */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "atomics.h"
#include "broker.h"
#include "kafka.h"
#include "listener.h"
#include "logging.h"

/* 5 µs .. 2.5 s: the append path's range, from an inline ack to a slow fdatasync. */
const uint64_t hist_bounds_ns[HIST_NBOUNDS] = {
	5000,	   10000,     25000,	 50000,	    100000,    250000,	   500000,     1000000,	   2500000,
	5000000,   10000000,  25000000,	 50000000,  100000000, 250000000, 500000000, 1000000000, 2500000000u,
};

/* Answers, and their counters in pagebus_metrics_requests_total{code}. */
enum { RESP_OK, RESP_BAD, RESP_NOT_FOUND, RESP_TOO_LARGE, NRESP };
static const struct {
	int code;
	const char *reason, *body;
} responses[NRESP] = {
	[RESP_OK] = { 200, "OK", NULL },
	[RESP_BAD] = { 400, "Bad Request", "bad request\n" },
	[RESP_NOT_FOUND] = { 404, "Not Found", "not found: this endpoint serves GET /metrics\n" },
	[RESP_TOO_LARGE] = { 431, "Request Header Fields Too Large", "request too large\n" },
};

/* The most bytes DRAIN reads before it closes anyway. */
#define DRAIN_MAX (1u << 20)

enum mstep { STEP_RECV, STEP_SEND, STEP_DRAIN };

struct mconn {
	struct metrics *m;
	struct list link; /* metrics.conns */
	int fd;
	int ops;	  /* CQEs to come: a step and its link timeout each give one */
	bool dead;	  /* closing: freed when ops reaches 0 */
	enum mstep step;
	struct uloop_op op_io, op_timeout;
	char *out; /* the response */
	size_t out_len, out_off;
	size_t len, drained;
	char req[METRICS_MAX_REQUEST];
};

struct metrics {
	struct broker *b;
	struct listener ls;
	struct list conns;
	uint32_t nconns;
	uint64_t accepted, refused;
	uint64_t answers[NRESP];
};

/* ---- formatting -------------------------------------------------------------------------- */

struct mbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

__attribute__((format(printf, 2, 3))) static void put(struct mbuf *m, const char *fmt, ...)
{
	for (int pass = 0; pass < 2 && !m->oom; pass++) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(m->p ? m->p + m->len : NULL, m->p ? m->cap - m->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			m->oom = true;
			return;
		}
		if (m->p && (size_t)n < m->cap - m->len) {
			m->len += (size_t)n;
			return;
		}
		size_t cap = m->cap ? m->cap : 16384;
		while (cap - m->len <= (size_t)n)
			cap *= 2;
		char *q = realloc(m->p, cap);
		if (!q) {
			m->oom = true;
			return;
		}
		m->p = q;
		m->cap = cap;
	}
}

static void family(struct mbuf *m, const char *name, const char *type, const char *help)
{
	put(m, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void histogram(struct mbuf *m, const char *name, const char *help, const struct hist *h)
{
	uint64_t cum = 0;
	family(m, name, "histogram", help);
	for (int i = 0; i < HIST_NBOUNDS; i++) {
		cum += h->bucket[i];
		put(m, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, (double)hist_bounds_ns[i] / 1e9, cum);
	}
	put(m, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum + h->bucket[HIST_NBOUNDS]);
	put(m, "%s_sum %.9f\n%s_count %" PRIu64 "\n", name, (double)h->sum_ns / 1e9, name, h->count);
}

/* Per partition, labels {topic, partition}. Topic names are [a-zA-Z0-9._-] (checked at
 * creation), so label values need no escaping; neither do consumer names. */
enum { PV_MESSAGES, PV_BYTES, PV_HWM, PV_LOG_START, PV_SEGMENTS, PV_LOG_BYTES, PV_CONSUMERS, NPV };
static const struct {
	const char *name, *type, *help;
} part_families[NPV] = {
	[PV_MESSAGES] = { "pagebus_partition_appended_messages_total", "counter",
			  "Records appended to the partition by this broker process (acked as appended)" },
	[PV_BYTES] = { "pagebus_partition_appended_bytes_total", "counter",
		       "Record batch bytes appended to the partition by this broker process" },
	[PV_HWM] = { "pagebus_partition_high_watermark", "gauge",
		     "High watermark: the offset the next appended record gets" },
	[PV_LOG_START] = { "pagebus_partition_log_start_offset", "gauge",
			   "First offset still in the log (retention moves it)" },
	[PV_SEGMENTS] = { "pagebus_partition_segments", "gauge", "Segment files of the partition" },
	[PV_LOG_BYTES] = { "pagebus_partition_log_bytes", "gauge",
			   "Bytes of record batches in the partition's segment files (on disk)" },
	[PV_CONSUMERS] = { "pagebus_partition_local_consumers", "gauge",
			   "Local consumers (libpagebus) attached to the partition" },
};

static uint64_t part_value(const struct bpart *bp, int which)
{
	const struct partition *p = bp->log;
	switch (which) {
	case PV_MESSAGES:
		return bp->appended_msgs;
	case PV_BYTES:
		return bp->appended_bytes;
	case PV_HWM:
		return (uint64_t)p->hwm;
	case PV_LOG_START:
		return (uint64_t)p->log_start;
	case PV_SEGMENTS:
		return p->nsegs;
	case PV_LOG_BYTES:
		return part_bytes(p);
	default:
		return bp->consumers > 0 ? (uint64_t)bp->consumers : 0;
	}
}

static void partitions(struct mbuf *m, struct broker *b)
{
	for (int f = 0; f < NPV; f++) {
		family(m, part_families[f].name, part_families[f].type, part_families[f].help);
		for (size_t t = 0; t < b->topics.n; t++) {
			const struct topic *tp = b->topics.v[t];
			const struct bpart *parts = tp->ctx;
			for (int32_t i = 0; parts && i < tp->nparts; i++)
				put(m, "%s{topic=\"%s\",partition=\"%d\"} %" PRIu64 "\n", part_families[f].name,
				    tp->name, i, part_value(&parts[i], f));
		}
	}
}

/* Per producer ring, labels {producer, topic}. */
enum { RV_USED, RV_CAPACITY, RV_BATCHES, RV_BYTES, RV_ACKS, RV_REFUSED, NRV };
static const struct {
	const char *name, *type, *help;
} ring_families[NRV] = {
	[RV_USED] = { "pagebus_producer_ring_used_bytes", "gauge",
		      "Ring bytes published by the producer and not yet released by the broker" },
	[RV_CAPACITY] = { "pagebus_producer_ring_capacity_bytes", "gauge", "Size of the producer's ring" },
	[RV_BATCHES] = { "pagebus_producer_batches_total", "counter",
			 "Record batches taken from the ring and staged for appending" },
	[RV_BYTES] = { "pagebus_producer_bytes_total", "counter", "Record batch bytes taken from the ring" },
	[RV_ACKS] = { "pagebus_producer_acks_total", "counter",
		      "Acks written into the ring (offsets and errors)" },
	[RV_REFUSED] = { "pagebus_producer_refused_total", "counter",
			 "Ring entries refused with an error ack (malformed or invalid batches)" },
};

static uint64_t ring_value(const struct bproducer *p, int which)
{
	switch (which) {
	case RV_USED: {
		/* tail is the client's to write: clamp what it says to the ring */
		uint64_t tail = load_acquire(&p->hdr->tail);
		return tail > p->head ? (tail - p->head < p->cap ? tail - p->head : p->cap) : 0;
	}
	case RV_CAPACITY:
		return p->cap;
	case RV_BATCHES:
		return p->entries;
	case RV_BYTES:
		return p->bytes;
	case RV_ACKS:
		return p->acks;
	default:
		return p->errors;
	}
}

static void producers(struct mbuf *m, struct broker *b)
{
	for (int f = 0; f < NRV; f++) {
		family(m, ring_families[f].name, ring_families[f].type, ring_families[f].help);
		struct list *pos, *tmp;
		list_for_each_safe(pos, tmp, &b->producers) {
			const struct bproducer *p = container_of(pos, struct bproducer, link);
			const struct topic *t = topics_by_id(&b->topics, p->topic_id);
			put(m, "%s{producer=\"%u\",topic=\"%s\"} %" PRIu64 "\n", ring_families[f].name, p->id,
			    t ? t->name : "", ring_value(p, f));
		}
	}
}

/* Named consumers: their committed offset against the partition's high watermark. */
static void consumers(struct mbuf *m, struct broker *b)
{
	static const char *const names[2] = { "pagebus_consumer_committed_offset", "pagebus_consumer_lag_messages" };
	static const char *const helps[2] = {
		"Next offset a named consumer committed (DIR/consumer-offsets)",
		"Records between a named consumer's committed offset and the high watermark",
	};
	for (int f = 0; f < 2; f++) {
		family(m, names[f], "gauge", helps[f]);
		for (size_t i = 0; i < b->offsets.n; i++) {
			const struct offset_entry *e = &b->offsets.v[i];
			const struct topic *t = topics_find(&b->topics, e->topic);
			const struct bpart *bp = t ? broker_part(b, t->id, e->partition) : NULL;
			if (!bp)
				continue;
			int64_t lag = bp->log->hwm > e->offset ? bp->log->hwm - e->offset : 0;
			put(m, "%s{consumer=\"%s\",topic=\"%s\",partition=\"%d\"} %" PRId64 "\n", names[f], e->name,
			    e->topic, e->partition, f ? lag : e->offset);
		}
	}
}

static void uring(struct mbuf *m, struct broker *b)
{
	const struct uloop_stats *st = uloop_stats(&b->loop);
	static const char *const names[2] = { "pagebus_uring_submissions_total", "pagebus_uring_completions_total" };
	static const char *const helps[2] = { "SQEs the broker's loop handed to the kernel, by opcode",
					      "CQEs the broker's loop reaped, by opcode of their request" };
	for (int f = 0; f < 2; f++) {
		family(m, names[f], "counter", helps[f]);
		for (unsigned op = 0; op < UL_NR_OPCODES; op++) {
			uint64_t v = f ? st->cqes[op] : st->sqes[op];
			const char *name = uloop_opcode_name(op);
			if (!st->sqes[op] && !st->cqes[op])
				continue;
			if (name)
				put(m, "%s{opcode=\"%s\"} %" PRIu64 "\n", names[f], name, v);
			else
				put(m, "%s{opcode=\"OP_%u\"} %" PRIu64 "\n", names[f], op, v);
		}
	}
	family(m, "pagebus_uring_enter_total", "counter",
	       "Submissions of the loop: one io_uring_enter at most each (waits included)");
	put(m, "pagebus_uring_enter_total %" PRIu64 "\n", st->submit_calls);
	family(m, "pagebus_uring_sq_full_total", "counter", "Extra submissions forced by a full submission queue");
	put(m, "pagebus_uring_sq_full_total %" PRIu64 "\n", st->sq_full);
}

static const char *const error_kinds[BERR_NKINDS] = {
	[BERR_REFUSED_BATCH] = "refused_batch", [BERR_RING_BROKEN] = "ring_broken",
	[BERR_WRITE] = "write",			[BERR_FSYNC] = "fsync",
	[BERR_MALFORMED_REQUEST] = "malformed_request", [BERR_RETENTION] = "retention",
};

static void connections(struct mbuf *m, struct broker *b)
{
	const struct kafka *k = b->kafka;
	const struct metrics *me = b->metrics;
	family(m, "pagebus_connections", "gauge", "Open connections, by endpoint");
	put(m, "pagebus_connections{kind=\"local\"} %u\n", b->nsessions);
	put(m, "pagebus_connections{kind=\"kafka\"} %u\n", k ? k->nconns : 0);
	put(m, "pagebus_connections{kind=\"metrics\"} %u\n", me ? me->nconns : 0);
	family(m, "pagebus_connections_accepted_total", "counter", "Connections accepted, by endpoint");
	put(m, "pagebus_connections_accepted_total{kind=\"local\"} %u\n", b->next_session_id);
	put(m, "pagebus_connections_accepted_total{kind=\"kafka\"} %" PRIu64 "\n", k ? k->stats.accepted : 0);
	put(m, "pagebus_connections_accepted_total{kind=\"metrics\"} %" PRIu64 "\n", me ? me->accepted : 0);
	family(m, "pagebus_connections_refused_total", "counter",
	       "Connections closed at once because the endpoint was at its limit");
	put(m, "pagebus_connections_refused_total{kind=\"local\"} %" PRIu64 "\n", b->stats.sessions_refused);
	put(m, "pagebus_connections_refused_total{kind=\"kafka\"} %" PRIu64 "\n", k ? k->stats.refused : 0);
	put(m, "pagebus_connections_refused_total{kind=\"metrics\"} %" PRIu64 "\n", me ? me->refused : 0);
}

static void kafka(struct mbuf *m, struct broker *b)
{
	const struct kafka_stats *s = b->kafka ? &b->kafka->stats : &(struct kafka_stats){ 0 };
	family(m, "pagebus_kafka_fetch_bytes_total", "counter",
	       "Record bytes of Kafka Fetch responses, by how they reached the socket: sendfile and "
	       "splice never enter user space, copy is read into the broker first (kafka.fetch.copy)");
	put(m, "pagebus_kafka_fetch_bytes_total{method=\"sendfile\"} %" PRIu64 "\n", s->fetch_sendfile);
	put(m, "pagebus_kafka_fetch_bytes_total{method=\"splice\"} %" PRIu64 "\n", s->fetch_spliced);
	put(m, "pagebus_kafka_fetch_bytes_total{method=\"copy\"} %" PRIu64 "\n", s->fetch_copied);
	family(m, "pagebus_kafka_sent_memory_bytes_total", "counter",
	       "Bytes sent to Kafka clients from broker memory (headers and non-record responses)");
	put(m, "pagebus_kafka_sent_memory_bytes_total %" PRIu64 "\n", s->mem_bytes);
	family(m, "pagebus_kafka_requests_total", "counter", "Kafka requests received");
	put(m, "pagebus_kafka_requests_total %" PRIu64 "\n", s->requests);
	family(m, "pagebus_kafka_produce_batches_total", "counter", "Record batches appended through Kafka Produce");
	put(m, "pagebus_kafka_produce_batches_total %" PRIu64 "\n", s->produce_batches);
	family(m, "pagebus_kafka_produce_bytes_total", "counter", "Record batch bytes appended through Kafka Produce");
	put(m, "pagebus_kafka_produce_bytes_total %" PRIu64 "\n", s->produce_bytes);
}

int metrics_format(struct broker *b, char **out, size_t *len)
{
	struct mbuf m = { 0 };
	const struct pb_control_header *ch = b->control.base;
	*out = NULL;
	*len = 0;
	family(&m, "pagebus_start_time_seconds", "gauge", "When the broker started (Unix time)");
	put(&m, "pagebus_start_time_seconds %.3f\n", ch ? (double)ch->started_ns / 1e9 : 0.0);
	partitions(&m, b);
	producers(&m, b);
	histogram(&m, "pagebus_append_latency_seconds",
		  "From the loop turn that drained a ring entry to its ack in the ring (fdatasync "
		  "included for durable acks)",
		  &b->stats.append_latency);
	histogram(&m, "pagebus_fsync_latency_seconds", "Each fdatasync of a segment, from its start to its completion",
		  &b->stats.fsync_latency);
	consumers(&m, b);
	connections(&m, b);
	kafka(&m, b);
	uring(&m, b);
	family(&m, "pagebus_errors_total", "counter", "Errors, by kind (the broker's log has one line for each)");
	for (int i = 0; i < BERR_NKINDS; i++)
		put(&m, "pagebus_errors_total{kind=\"%s\"} %" PRIu64 "\n", error_kinds[i], b->stats.errors[i]);
	/* Kafka clients closed for misbehaving: counted by kafka.c */
	put(&m, "pagebus_errors_total{kind=\"kafka_client\"} %" PRIu64 "\n",
	    b->kafka ? b->kafka->stats.closed_bad : 0);
	if (b->metrics) {
		family(&m, "pagebus_metrics_requests_total", "counter", "Requests to this endpoint, by HTTP status");
		for (int i = 0; i < NRESP; i++)
			put(&m, "pagebus_metrics_requests_total{code=\"%d\"} %" PRIu64 "\n", responses[i].code,
			    b->metrics->answers[i]);
	}
	if (m.oom) {
		free(m.p);
		return -ENOMEM;
	}
	*out = m.p;
	*len = m.len;
	return 0;
}

/* ---- HTTP ---------------------------------------------------------------------------------- */

static bool tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* [s, e) without a trailing '\r'. */
static const char *line_end(const char *s, const char *e)
{
	return e > s && e[-1] == '\r' ? e - 1 : e;
}

/*
 * The answer to a complete request (req[0..len) ends with a blank line): a request line
 * `METHOD SP TARGET SP HTTP/1.x`, then header lines `NAME: value`, all without control
 * characters. Only GET of /metrics (a query string is ignored) is served.
 */
static int route(const char *req, size_t len)
{
	const char *end = req + len, *eol = memchr(req, '\n', len);
	const char *le = line_end(req, eol), *s = req;
	while (s < le && tchar(*s))
		s++;
	const char *method_end = s;
	if (s == req || s == le || *s++ != ' ')
		return RESP_BAD;
	const char *target = s;
	while (s < le && *s > ' ' && *s < 0x7f)
		s++;
	const char *target_end = s;
	if (s == target || s == le || *s++ != ' ')
		return RESP_BAD;
	if (le - s != 8 || (memcmp(s, "HTTP/1.1", 8) && memcmp(s, "HTTP/1.0", 8)))
		return RESP_BAD;
	for (const char *l = eol + 1; l < end;) {
		const char *n = memchr(l, '\n', (size_t)(end - l));
		const char *h = l, *hl = line_end(l, n);
		if (hl == l)
			break; /* the blank line */
		while (h < hl && tchar(*h))
			h++;
		if (h == l || h == hl || *h != ':')
			return RESP_BAD;
		for (; h < hl; h++)
			if ((unsigned char)*h < ' ' && *h != '\t')
				return RESP_BAD;
		l = n + 1;
	}
	const char *q = memchr(target, '?', (size_t)(target_end - target));
	size_t plen = (size_t)((q ? q : target_end) - target);
	if (method_end - req == 3 && !memcmp(req, "GET", 3) && plen == 8 && !memcmp(target, "/metrics", 8))
		return RESP_OK;
	return RESP_NOT_FOUND;
}

static void conn_free(struct mconn *c)
{
	list_del(&c->link);
	c->m->nconns--;
	close(c->fd);
	free(c->out);
	free(c);
}

static void conn_close(struct mconn *c)
{
	if (!c->dead) {
		c->dead = true;
		shutdown(c->fd, SHUT_RDWR); /* ends a step in flight now */
	}
	if (!c->ops)
		conn_free(c);
}

static void io_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags);

static void timeout_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags)
{
	(void)l;
	(void)res;
	(void)flags;
	struct mconn *c = op->ctx;
	if (!--c->ops && c->dead)
		conn_free(c);
}

/* The current step as one request, bounded by a link timeout. */
static void submit(struct mconn *c)
{
	struct uloop *l = &c->m->b->loop;
	if (uloop_reserve(l, 2) < 0) {
		conn_close(c);
		return;
	}
	struct io_uring_sqe *sqe = uloop_sqe(l, &c->op_io);
	if (c->step == STEP_RECV)
		io_uring_prep_recv(sqe, c->fd, c->req + c->len, sizeof(c->req) - c->len, 0);
	else if (c->step == STEP_SEND)
		io_uring_prep_send(sqe, c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
	else
		io_uring_prep_recv(sqe, c->fd, c->req, sizeof(c->req), 0);
	sqe->flags |= IOSQE_IO_LINK;
	uloop_link_timeout(l, &c->op_timeout, METRICS_TIMEOUT_MS * 1000000ull); /* room reserved */
	c->ops += 2;
}

static void respond(struct mconn *c, int answer)
{
	struct metrics *m = c->m;
	char *body = NULL;
	size_t blen = 0;
	m->answers[answer]++;
	if (answer == RESP_OK && metrics_format(m->b, &body, &blen) < 0) {
		log_error("metrics endpoint: out of memory formatting the metrics");
		conn_close(c);
		return;
	}
	if (answer != RESP_OK)
		blen = strlen(responses[answer].body);
	char head[256];
	int hlen = snprintf(head, sizeof(head),
			    "HTTP/1.1 %d %s\r\nContent-Type: text/plain; %scharset=utf-8\r\n"
			    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			    responses[answer].code, responses[answer].reason,
			    answer == RESP_OK ? "version=0.0.4; " : "", blen);
	c->out = malloc((size_t)hlen + blen);
	if (!c->out) {
		free(body);
		conn_close(c);
		return;
	}
	memcpy(c->out, head, (size_t)hlen);
	memcpy(c->out + hlen, body ? body : responses[answer].body, blen);
	free(body);
	c->out_len = (size_t)hlen + blen;
	c->step = STEP_SEND;
	submit(c);
}

/* A request is complete at its blank line ("\r\n\r\n", or "\n\n" from lax clients). */
static bool complete(const struct mconn *c, size_t from)
{
	for (size_t i = from; i < c->len; i++)
		if (c->req[i] == '\n' &&
		    ((i >= 1 && c->req[i - 1] == '\n') || (i >= 3 && !memcmp(c->req + i - 3, "\r\n\r\n", 4))))
			return true;
	return false;
}

static void io_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags)
{
	(void)l;
	(void)flags;
	struct mconn *c = op->ctx;
	c->ops--;
	if (c->dead || res <= 0) { /* closed, timed out (-ECANCELED) or failed */
		conn_close(c);
		return;
	}
	switch (c->step) {
	case STEP_RECV: {
		size_t from = c->len;
		c->len += (size_t)res;
		for (size_t i = from; i < c->len; i++)
			if (!c->req[i]) { /* NUL: not text */
				respond(c, RESP_BAD);
				return;
			}
		if (complete(c, from))
			respond(c, route(c->req, c->len));
		else if (c->len == sizeof(c->req))
			respond(c, RESP_TOO_LARGE);
		else
			submit(c);
		return;
	}
	case STEP_SEND:
		c->out_off += (size_t)res;
		if (c->out_off == c->out_len) {
			shutdown(c->fd, SHUT_WR);
			c->step = STEP_DRAIN;
		}
		submit(c);
		return;
	case STEP_DRAIN:
		c->drained += (size_t)res;
		if (c->drained > DRAIN_MAX)
			conn_close(c);
		else
			submit(c);
		return;
	}
}

static void conn_new(struct listener *ls, int fd)
{
	struct metrics *m = container_of(ls, struct metrics, ls);
	struct mconn *c = m->nconns < METRICS_MAX_CONNECTIONS ? calloc(1, sizeof(*c)) : NULL;
	if (!c) {
		m->refused++;
		close(fd);
		return;
	}
	c->m = m;
	c->fd = fd;
	c->step = STEP_RECV;
	/* set once: the last step's timeout may still be due when the next step goes in */
	c->op_io = (struct uloop_op){ .cb = io_done, .ctx = c };
	c->op_timeout = (struct uloop_op){ .cb = timeout_done, .ctx = c };
	list_add_tail(&m->conns, &c->link);
	m->nconns++;
	m->accepted++;
	submit(c);
}

/* `metrics HOST:PORT` after the pid line of DIR/pagebus.lock (rewritten at every start). */
static void record_address(struct broker *b, const char *addr)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "metrics %s\n", addr);
	off_t end = lseek(b->lock_fd, 0, SEEK_END);
	if (end < 0 || pwrite(b->lock_fd, line, (size_t)n, end) != n)
		log_warn("cannot record the metrics address in %s/pagebus.lock: %s", b->cfg->dir, strerror(errno));
}

int metrics_open(struct broker *b)
{
	b->metrics = NULL;
	if (!strcmp(b->cfg->metrics_listen, "off"))
		return 0;
	struct metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	struct listener_addr bound;
	char err[512], addr[96];
	m->ls.what = "metrics endpoint";
	m->ls.accepted = conn_new;
	if (listener_open(&m->ls, &b->loop, b->cfg->metrics_listen, 64, &bound, err, sizeof(err)) < 0) {
		log_error("metrics endpoint: %s; running without it", err);
		free(m);
		return 0;
	}
	m->b = b;
	list_init(&m->conns);
	listener_format(&bound, addr, sizeof(addr));
	log_info("metrics endpoint listening on %s", addr);
	record_address(b, addr);
	b->metrics = m;
	return 0;
}

void metrics_stop(struct broker *b)
{
	if (b->metrics)
		listener_stop(&b->metrics->ls);
}

void metrics_close(struct broker *b)
{
	struct metrics *m = b->metrics;
	if (!m)
		return;
	/* the loop is gone with its requests: no callback comes any more */
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &m->conns)
		conn_free(container_of(pos, struct mconn, link));
	listener_close(&m->ls);
	free(m);
	b->metrics = NULL;
}
