/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka.h — the Kafka-protocol TCP endpoint of pagebusd, on the broker's one io_uring
 * loop: the listener, connections (framing, requests handled in arrival order,
 * responses queued in that order), and the send path, which writes a response's
 * memory bytes with SEND and moves its record ranges from the segment files to the
 * socket without copying them: sendfile when their pages are cached, splices through a
 * pipe otherwise. The request handlers live in kafka_api.c and kafka_fetch.c.
 *
 *   recv → frames → kafka_api_request() ─┬─ answer now ──────────┐
 *                                        ├─ Produce: acks later ─┼→ kresp queue (request order)
 *                                        └─ Fetch: long poll ────┘   → SEND + sendfile / SPLICE
 */
#ifndef PAGEBUS_KAFKA_H
#define PAGEBUS_KAFKA_H

#include <stdbool.h>
#include <stdint.h>

#include "broker.h"
#include "kafka_codec.h"

/* Requests one connection may have in progress (queued responses); past it the broker
 * reads no more from that client until responses go out. */
#define KAFKA_MAX_INFLIGHT 256
/* A connection whose queued response makes no progress this long is closed. */
#define KAFKA_STALL_MS 30000
/* Bytes moved per splice round (the pipe is sized to this when the kernel allows). */
#define KAFKA_PIPE_BYTES (1u << 20)
/* Record bytes one connection may send inline (sendfile) before the loop turns. */
#define KAFKA_INLINE_BUDGET (8u << 20)

/* What the endpoint has done since start; logged when the broker stops. */
struct kafka_stats {
	uint64_t accepted, refused, closed_bad;
	uint64_t requests;
	/* record bytes of Fetch responses, by how they reached the socket; the first two
	 * never enter user space */
	uint64_t fetch_sendfile; /* sendfile(2) inline: their pages were cached */
	uint64_t fetch_spliced;  /* IORING_OP_SPLICE file → pipe → socket, off the loop */
	uint64_t fetch_copied;   /* read into the broker, then sent (kafka.fetch.copy only) */
	uint64_t mem_bytes;     /* bytes sent from broker memory: headers and other responses */
	uint64_t produce_batches, produce_bytes;
};

/* A byte range of a segment inserted into a response at memory offset `at`. */
struct kpiece {
	size_t at;
	struct part_range r; /* holds a segment reference until the response is freed */
};

struct kconn;

/*
 * One response, queued in request order. The frame is w's bytes with the pieces
 * inserted at their offsets; w starts with the 4-byte size prefix and the correlation
 * id. A response is sent once it is ready and every earlier one has been sent.
 */
struct kresp {
	struct list link;        /* kconn.resps */
	struct kconn *c;
	int16_t api_key, api_version;
	int32_t correlation_id;
	bool ready;              /* final: may go out when at the head */
	bool silent;             /* nothing is sent (Produce with acks = 0) */
	bool counted;            /* its bytes are in c->queued */
	struct kc_writer w;
	struct kpiece *pieces;
	size_t npieces;
	uint64_t total;          /* frame bytes: memory + pieces */
	size_t mem_off;          /* send progress: memory bytes sent */
	size_t piece;            /* the piece being sent */
	uint64_t piece_off;      /* its bytes sent */
	void *state;             /* the handler's pending work (Produce acks, a waiting Fetch) */
	void (*abort)(struct kresp *r); /* drops state when the connection closes; may leave
					 * r->state set while acks are still owed */
};

struct kafka {
	struct broker *b;
	int listen_fd;
	struct uloop_op op_accept, op_sweep;
	bool accept_armed, sweep_armed, stopping;
	bool gone;             /* kafka_close: the loop is gone, nothing completes any more */
	char adv_host[CONFIG_ADDR_MAX]; /* what Metadata advertises */
	int adv_port;
	struct list conns;
	struct list dying;     /* closed connections still referenced by requests in flight */
	uint32_t nconns, next_id;
	struct list blocked;   /* connections whose current request retries next turn */
	struct list resume;    /* connections to take requests from again next turn */
	struct list fetches;   /* every Fetch with pending state (kafka_fetch.c) */
	int nwake;             /* fetches woken by appends, re-evaluated next turn */
	uint32_t last_refuse_log;
	struct kafka_stats stats;
};

struct kconn {
	struct kafka *k;
	struct list link;        /* kafka.conns, then kafka.dying once closed */
	struct list blocked_link;
	struct list resume_link; /* on kafka.resume (holding a reference) */
	struct ack_sink sink;    /* Produce batches are acked here */
	uint32_t id;
	int fd;
	char peer[64];           /* "ip:port", for log lines */
	int refs;                /* 1 while open, + ops in flight, + the writer's sink refs */
	bool dead;
	bool blocked;            /* the request at rpos must be retried (kafka_api_resume) */
	bool processing;         /* conn_process is taking frames from rbuf */
	/* receive: frames in rbuf[rpos..rlen) */
	uint8_t *rbuf;
	size_t rpos, rlen, rcap;
	bool recv_armed;
	struct uloop_op op_recv;
	/* responses */
	struct list resps;
	uint32_t nresps;
	uint64_t queued;         /* bytes of ready responses not yet sent */
	/* send path: one step in flight at a time */
	int send_ops;
	struct uloop_op op_send, op_fill, op_drain, op_poll;
	int pipe_fd[2];
	uint32_t pipe_cap, pipe_fill;
	uint8_t *bounce;         /* kafka.fetch.copy: record bytes pass through here */
	uint32_t bounce_len;     /* bytes read into it */
	int retry;               /* what to re-issue after POLLOUT */
	int64_t last_progress_ms;
	uint32_t last_bad_log;   /* rate limit of refused-batch lines: second of the last */
	uint64_t bad_batches;
};

/* ---- the broker's side ------------------------------------------------------------- */

/* Opens the endpoint per kafka.listen (nothing for "off") and logs
 * `kafka endpoint listening on HOST:PORT`. 0 or -errno (logged). */
int kafka_open(struct broker *b);
/* SIGTERM: stop accepting and reading; connections stay until kafka_close. */
void kafka_stop(struct broker *b);
/* After the loop is gone: closes every connection, frees everything, logs the stats. */
void kafka_close(struct broker *b);
/* Once per loop turn, before writer_submit: retries Produce requests that found a
 * partition busy and re-evaluates woken Fetches. True when it did work. */
bool kafka_turn(struct broker *b);
/* writer.c, after a partition published a new high watermark with Fetches waiting. */
void kafka_part_appended(struct bpart *bp);

/* ---- for the handlers (kafka_api.c, kafka_fetch.c) ------------------------------------ */

/* A new response at the tail of c's queue, its size prefix and correlation id written. */
struct kresp *kresp_new(struct kconn *c, const struct kc_header *h);
/* Adds a segment range at the current end of r->w (r takes over the range's reference). */
int kresp_add_piece(struct kresp *r, const struct part_range *range);
/* The response is complete: patch its size and send what can be sent. On -ENOMEM the
 * connection is closed. */
void kresp_ready(struct kresp *r);
/* A response whose state became free after its connection closed. */
void kresp_release(struct kresp *r);
/* Closes c with one log line at level (log_warn for misbehaving clients). */
void kconn_close(struct kconn *c, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Log lines about a client name it as "kafka client ip:port (#id)". */
#define KCONN_FMT "kafka client %s (#%u)"
#define KCONN_ARGS(c) (c)->peer, (c)->id

#endif
