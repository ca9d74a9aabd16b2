/* SPDX-License-Identifier: Apache-2.0 */
/*
 * broker.h — pagebusd's process-local state, shared by its modules: the loop, the
 * topics and their broker-side partitions (write groups), local sessions, producer
 * rings and consumers. Single-threaded: everything runs on the one io_uring loop.
 */
#ifndef PAGEBUS_BROKER_H
#define PAGEBUS_BROKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "control.h"
#include "loop.h"
#include "metrics.h"
#include "offsets.h"
#include "partition.h"
#include "ring_types.h"
#include "topics.h"

struct broker;
struct session;
struct groups;
struct bproducer;

/* Intrusive doubly-linked list. */
struct list {
	struct list *prev, *next;
};
static inline void list_init(struct list *l) { l->prev = l->next = l; }
static inline bool list_empty(const struct list *l) { return l->next == l; }
static inline void list_add_tail(struct list *l, struct list *n)
{
	n->prev = l->prev;
	n->next = l;
	l->prev->next = n;
	l->prev = n;
}
static inline void list_del(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}
#define container_of(p, type, member) ((type *)((char *)(p) - __builtin_offsetof(type, member)))
#define list_for_each_safe(pos, tmp, head) \
	for (pos = (head)->next, tmp = pos->next; pos != (head); pos = tmp, tmp = pos->next)

/* ---- write groups: batches of one partition gathered into one write ------------------ */

/*
 * Who hears how a staged batch ended: a producer ring, a Kafka connection. The writer
 * holds a reference (get/put) while the batch is pending and calls ack exactly once:
 * offset = the batch's base offset (err 0) or -1 with err < 0; durable when an fdatasync
 * covered it.
 */
struct ack_sink {
	const struct ack_sink_ops *ops;
};
struct ack_sink_ops {
	void (*ack)(struct ack_sink *s, uint64_t cookie, int64_t offset, int err, bool durable);
	void (*get)(struct ack_sink *s);
	void (*put)(struct ack_sink *s);
};

struct wentry {
	struct ack_sink *sink;  /* referenced while the entry is pending */
	uint64_t cookie;        /* the sink's own tag (a producer's ack-queue slot) */
	int64_t base_offset;
	uint8_t acks;           /* enum pb_acks */
};

struct wgroup {
	uint8_t *buf;           /* staged batch bytes, offsets patched: what gets written */
	size_t len, cap;
	struct wentry *e;
	size_t n, cap_e;
	struct part_reservation first, last;
	bool durable;           /* holds an entry with acks = durable */
};

/* A partition as the broker runs it. */
struct bpart {
	struct broker *b;
	struct topic *topic;
	struct partition *log;
	int32_t index;
	uint32_t slot;              /* control region slot */
	struct wgroup g[2];         /* g[fill] collects; the other one is being written */
	int fill;
	bool writing;               /* a write (and its fsync) is in flight */
	bool syncing;               /* the linked fsync of the write in flight */
	uint64_t written;           /* bytes of the in-flight group written so far */
	int fsync_cancels;          /* linked fsyncs cancelled by short writes: ignore them */
	struct uloop_op op_write, op_fsync, op_gsync;
	/* group commit (flush.ms > 0): durable entries written, waiting for an fsync */
	struct wentry *await;
	size_t nawait, cap_await, gsync_n;
	bool gsync_busy;
	struct part_mark gsync_mark; /* where the log ended when that fsync was issued */
	bool unsynced;              /* bytes written since the last fsync */
	uint64_t seen_generation;   /* segment-list generation last published */
	int consumers;              /* local consumers attached: wake only then */
	int kafka_waiters;          /* Kafka Fetches waiting for its appends (kafka_fetch.c) */
	uint64_t appended_msgs, appended_bytes; /* committed by this broker (metrics.c) */
	uint64_t fsync_start_ns;    /* when the fdatasync in flight started */
	struct list active_link;    /* in broker.active_parts while it has work */
	bool active;
};

/* ---- producer rings ------------------------------------------------------------------- */

struct ackq_item {
	uint64_t pos;  /* ring position of the entry */
	uint64_t end;  /* just past it */
	bool done;     /* its ack is written (or it needs none): head may pass it */
	bool has_ack;  /* a real entry whose ack fields the broker writes */
	uint64_t drained_ns; /* broker.turn_ns of the turn that drained it */
};

struct bproducer {
	struct ack_sink sink;       /* how the writer acks this ring's entries */
	struct broker *b;
	struct session *sess;       /* NULL once the session closed (ring drains, then goes) */
	struct list link;           /* broker.producers */
	struct list sess_link;      /* session.producers */
	uint32_t id;
	uint32_t topic_id;
	int fd;
	struct pb_ring_header *hdr;
	uint8_t *data;
	uint32_t cap;
	size_t map_len;
	uint64_t drain;             /* next ring position to read */
	uint64_t head;              /* released up to here */
	uint64_t stop_at;           /* closing or shutting down: drain no further */
	struct ackq_item *q;        /* drained entries in ring order */
	size_t qcap, qhead, qn;
	uint64_t qbase;             /* qseq of q[qhead] */
	int refs;
	bool closing;
	bool dropped;               /* the session's reference is gone */
	bool stalled;               /* a partition must finish a write first */
	bool wait_armed;
	struct uloop_op op_wait;
	uint64_t entries, bytes, errors, acks; /* counters */
	uint32_t last_error_log;     /* rate limit: seconds of the last log line */
};

/* ---- local sessions ------------------------------------------------------------------- */

struct bconsumer {
	uint32_t id;
	uint32_t topic_id;
	struct list link;           /* session.consumers */
	int32_t *parts;
	uint32_t nparts;
};

struct session {
	struct broker *b;
	struct list link;           /* broker.sessions */
	int fd;
	uint32_t id;
	pid_t pid;
	uid_t uid;
	bool hello;
	int malformed;
	struct uloop_op op_poll;
	bool poll_armed;
	bool busy;                  /* poll_done is reading it: close must not free it */
	bool dead;
	struct list producers, consumers;
};

/* ---- the broker ----------------------------------------------------------------------- */

struct broker {
	struct broker_config *cfg;
	struct uloop loop;
	struct topics topics;
	struct control control;
	struct offsets offsets;
	int lock_fd;
	int listen_fd;
	int signal_fd;
	char sock_path[108];
	struct uloop_op op_accept, op_signal, op_retention, op_gcommit;
	uint64_t signal_buf[16];
	struct list sessions, producers, active_parts;
	uint32_t next_session_id, next_producer_id, next_consumer_id;
	uint32_t nsessions;
	bool stopping;              /* SIGTERM/SIGINT seen: drain, flush, exit */
	bool sleeping;
	int inflight;               /* writes and fsyncs in flight */
	int64_t now_ms;             /* wall clock at the start of the loop turn */
	uint64_t turn_ns;           /* metrics_clock_ns() at the start of the loop turn */
	uint64_t ack_ns;            /* metrics_clock_ns() of the completion being acked */
	struct broker_stats stats;  /* counters of metrics.h */
	struct metrics *metrics;    /* the metrics endpoint (metrics.c); NULL when off */
	struct kafka *kafka;        /* the Kafka endpoint (kafka.c); NULL when off */
	struct groups *groups;      /* the consumer group coordinator (group.c) */
};

int broker_open(struct broker *b, struct broker_config *cfg);
int broker_run(struct broker *b);
void broker_close(struct broker *b);

/* bpart of (topic, partition index), or NULL. */
struct bpart *broker_part(struct broker *b, uint32_t topic_id, int32_t partition);
/* Set up / tear down the broker-side state of a topic's partitions. */
int broker_topic_attach(struct broker *b, struct topic *t);
void broker_topic_detach(struct broker *b, struct topic *t);
/* Tell consumers of a partition, and the control region, that its segments changed. */
void broker_segments_changed(struct broker *b, struct bpart *bp);
/*
 * Creates a topic (registry, partitions, broker state) for any front end (callers map
 * "unspecified" to default.partitions); n per-topic overrides keys[i]=values[i]; `by`
 * says who asked, for the log line. 0 and *out, or -errno with err set (topics_create).
 */
int broker_topic_create(struct broker *b, const char *name, int32_t partitions, const char *const *keys,
			const char *const *values, int n, const char *by, struct topic **out, char *err,
			size_t errlen);
/* Deletes a topic: -ENOENT, -EBUSY (appends in flight: retry), or -errno with err set. */
int broker_topic_delete(struct broker *b, const char *name, const char *by, char *err, size_t errlen);

/* writer.c */
uint8_t *writer_stage(struct bpart *bp, size_t len);
/*
 * The one validation of an untrusted batch, for every producer path (rings, Kafka
 * Produce): at most max.message.bytes, copied into the partition's staging memory (so
 * what is checked is what gets written), rb_validate on the copy (CRC when verify.crc),
 * exactly one whole batch, no control batch, a known codec. 0 with *h filled, then call
 * writer_add; or -EMSGSIZE / -ENOMEM / -PAGEBUS_E*.
 */
int writer_stage_batch(struct bpart *bp, const void *src, size_t len, struct rb_header *h);
/* Stages a validated batch (already copied to writer_stage's memory) for the partition:
 * offsets assigned, baseOffset patched. 0, -EBUSY (roll needs in-flight writes to finish:
 * retry later) or another -errno (the batch is refused; the sink is not called). */
int writer_add(struct bpart *bp, const struct rb_header *h, size_t len, struct ack_sink *sink,
	       uint64_t cookie, uint8_t acks);
void writer_submit(struct broker *b);
void writer_group_commit(struct broker *b);
void writer_free(struct bpart *bp);
bool writer_idle(const struct bpart *bp);

/* producer.c */
int producer_open(struct session *s, struct topic *t, uint32_t ring_bytes, struct bproducer **out);
void producer_close(struct bproducer *p);      /* drains what was published, then frees */
bool producer_drain(struct bproducer *p);      /* true when it found work */
void producer_ack(struct bproducer *p, uint64_t qseq, int64_t offset, int err, bool durable);
void producer_release(struct bproducer *p);    /* publish head past finished entries */
void producer_put(struct bproducer *p);
bool producer_prepare_sleep(struct bproducer *p); /* false: new data arrived, don't sleep */
void producer_wake_done(struct bproducer *p);
bool producer_finished(const struct bproducer *p);

/* session.c */
int session_accept(struct broker *b, int fd);
void session_close(struct session *s);
/* Sends one datagram on a session (a reply that came later); closes it when the socket
 * cannot take it. 0 or -errno. */
int session_send(struct session *s, const void *buf, size_t len);
void session_push_segment_event(struct broker *b, struct bpart *bp, uint32_t event, int64_t base);

#endif
