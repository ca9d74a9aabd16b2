/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pagebus.h — the public API of libpagebus.
 *
 * Every fallible function returns an int (or ssize_t): >= 0 is success, a negative
 * value is an error: either -errno (e.g. -ENOENT, -EAGAIN) or one of the -PAGEBUS_E*
 * codes below for conditions errno has no name for. pagebus_strerror() names both.
 */
#ifndef PAGEBUS_H
#define PAGEBUS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PAGEBUS_API __attribute__((visibility("default")))

/*
 * pagebus-specific error codes, returned negated (-PAGEBUS_EBADCRC). They start at
 * 2000 so they never collide with errno values.
 */
enum pagebus_error {
	PAGEBUS_ERR_FIRST = 2000,
	PAGEBUS_ETRUNCATED = 2000, /* fewer bytes than a length field says */
	PAGEBUS_EBADMAGIC,         /* RecordBatch magic is not 2 */
	PAGEBUS_EBADCRC,           /* CRC-32C does not match the batch */
	PAGEBUS_EBADLEN,           /* a length or size field is out of range */
	PAGEBUS_EBADCOUNT,         /* recordsCount / lastOffsetDelta disagree with the records */
	PAGEBUS_EVARINT,           /* a varint is longer than its type allows */
	PAGEBUS_EBADRECORD,        /* a record field is malformed (bad key/value/header length) */
	PAGEBUS_ECOMPRESSED,       /* compressed batch: records cannot be read without its codec */
	PAGEBUS_EREBALANCE,        /* group: a rebalance is in progress; the member must rejoin */
	PAGEBUS_EUNKNOWN_MEMBER,   /* group: the coordinator does not know this member (any more) */
	PAGEBUS_EGENERATION,       /* group: the member's generation is not the group's */
	PAGEBUS_EGROUP_PROTOCOL,   /* group: no assignment protocol common to every member */
	PAGEBUS_ERR_LAST
};

/* ---- handles and options ----------------------------------------------------------- */

struct pagebus;          /* a connection to the broker of one data dir */
struct pagebus_producer; /* appends to one topic through a shared-memory ring */
struct pagebus_consumer; /* reads partitions of one topic from the page cache */

#define PAGEBUS_PARTITION_ANY (-1)
#define PAGEBUS_OFFSET_BEGINNING (-2)
#define PAGEBUS_OFFSET_END (-1)

enum pagebus_acks {
	PAGEBUS_ACKS_NONE = 0,     /* fire and forget: errors are still reported to the callback */
	PAGEBUS_ACKS_APPENDED = 1, /* in the page cache and visible to consumers (default) */
	PAGEBUS_ACKS_DURABLE = 2,  /* fdatasynced before the ack */
};

/* Options structs start with sz so they can grow; fill them with PAGEBUS_OPTS(). */
#define PAGEBUS_OPTS(type, ...) ((struct type){ .sz = sizeof(struct type), __VA_ARGS__ })

/*
 * Called once per message when its ack arrives, from whichever thread is inside the
 * producer then (pagebus_send, pagebus_flush, pagebus_producer_close) or from the
 * producer's own background thread; never concurrently. ctx is opts->delivery_ctx,
 * msg_ctx the value given to pagebus_send_ex (NULL for pagebus_send), offset the
 * message's offset (-1 on error), err 0 or a negative error.
 */
typedef void pagebus_delivery_cb(void *ctx, void *msg_ctx, int32_t partition, int64_t offset, int err);

struct pagebus_producer_opts {
	size_t sz;
	int acks;                 /* enum pagebus_acks; default APPENDED */
	uint32_t linger_us;       /* wait this long for more messages before publishing (0) */
	uint32_t batch_bytes;     /* largest batch built in the ring (default 64 KiB) */
	uint32_t ring_bytes;      /* 0: the broker's ring.bytes */
	int nonblock;             /* 1: a full ring makes pagebus_send return -EAGAIN */
	pagebus_delivery_cb *delivery_cb;
	void *delivery_ctx;
};

enum pagebus_reset { PAGEBUS_RESET_EARLIEST = 0, PAGEBUS_RESET_LATEST = 1, PAGEBUS_RESET_ERROR = 2 };

struct pagebus_consumer_opts {
	size_t sz;
	int verify_crc;       /* 1 (default): check each batch's CRC-32C once before reading it */
	int reset;            /* enum pagebus_reset: when the offset is below the log start */
	uint32_t spin_us;     /* busy-poll this long before sleeping on the futex (default 50) */
};

struct pagebus_header {
	const void *key;
	size_t key_len;
	const void *value; /* NULL when null */
	size_t value_len;
};

/*
 * One message. key/value point into the read-only segment mapping (zero copy) and stay
 * valid until the next pagebus_poll() on the same consumer (or its close).
 */
struct pagebus_msg {
	int32_t partition;
	int32_t topic_index;   /* pagebus_group_poll: index into the topics[] given to
				* pagebus_consumer_subscribe; 0 from pagebus_poll */
	int64_t offset;
	int64_t timestamp;     /* ms since the epoch */
	const void *key;       /* NULL when the key is null */
	size_t key_len;
	const void *value;     /* NULL when the value is null */
	size_t value_len;
	const void *headers;   /* encoded headers: walk with pagebus_msg_header() */
	size_t headers_len;
	int32_t header_count;
};

/* ---- connection ---------------------------------------------------------------------- */

/* Connects to the broker of dir (NULL: $PAGEBUS_DIR, else ./pagebus-data). *out = NULL
 * on error. One connection may be used from several threads (calls are serialized). */
PAGEBUS_API int pagebus_connect(const char *dir, struct pagebus **out);
/* Closes the connection; producers and consumers must be closed first. Accepts NULL. */
PAGEBUS_API void pagebus_close(struct pagebus *pb);

/* partitions <= 0: the broker's default.partitions. */
PAGEBUS_API int pagebus_topic_create(struct pagebus *pb, const char *topic, int partitions);
/* With per-topic overrides ("retention.ms", "segment.bytes", ...). */
PAGEBUS_API int pagebus_topic_create_config(struct pagebus *pb, const char *topic, int partitions,
					    const char *const *keys, const char *const *values, int n);
PAGEBUS_API int pagebus_topic_delete(struct pagebus *pb, const char *topic);
/* The partition count of topic, or a negative error (-ENOENT). */
PAGEBUS_API int pagebus_topic_partitions(struct pagebus *pb, const char *topic);
/* The message of the broker's last error reply on this connection ("" if none); valid
 * until the next call on pb from any thread. */
PAGEBUS_API const char *pagebus_last_error(struct pagebus *pb);

/* ---- producer ------------------------------------------------------------------------ */

/* Opens a producer on topic (created when the broker has auto.create.topics). Thread-safe
 * handle: sends from several threads are serialized. opts NULL = defaults. */
PAGEBUS_API int pagebus_producer_open(struct pagebus *pb, const char *topic,
				      const struct pagebus_producer_opts *opts,
				      struct pagebus_producer **out);
/*
 * Queues one message (key or value NULL = null). partition PAGEBUS_PARTITION_ANY: by key
 * (Kafka's murmur2, as Kafka's default partitioner) or, without a key, a sticky
 * partition per batch. Returns 0 or an error: -EAGAIN (ring full, nonblock), -EMSGSIZE
 * (larger than a batch), -ENOENT (no such partition), -EPIPE (broker gone). Delivery
 * (offset or error) is reported to the delivery callback and by pagebus_flush.
 */
PAGEBUS_API int pagebus_send(struct pagebus_producer *p, int32_t partition, const void *key,
			     size_t key_len, const void *value, size_t value_len);
/* Like pagebus_send with headers, a timestamp (ms; 0 = now) and a per-message context
 * for the delivery callback. */
PAGEBUS_API int pagebus_send_ex(struct pagebus_producer *p, int32_t partition, const void *key,
				size_t key_len, const void *value, size_t value_len,
				const struct pagebus_header *headers, int nheaders, int64_t timestamp,
				void *msg_ctx);
/* Publishes what is batched and waits until every send so far is acked (timeout_ms < 0:
 * forever). Returns 0, the first delivery error since the last flush, or -ETIME. */
PAGEBUS_API int pagebus_flush(struct pagebus_producer *p, int timeout_ms);
/* Flushes (without a time limit) and closes. Accepts NULL. */
PAGEBUS_API void pagebus_producer_close(struct pagebus_producer *p);

/* ---- consumer ------------------------------------------------------------------------ */

/*
 * Opens a consumer of one partition of topic from start: an offset,
 * PAGEBUS_OFFSET_BEGINNING or PAGEBUS_OFFSET_END. Not thread-safe: one thread per consumer.
 */
PAGEBUS_API int pagebus_consumer_open(struct pagebus *pb, const char *topic, int32_t partition,
				      int64_t start, const struct pagebus_consumer_opts *opts,
				      struct pagebus_consumer **out);
/*
 * Fills up to max messages (the previous ones become invalid). Waits up to timeout_ms
 * (0: don't wait, < 0: forever) when nothing is there. Returns the count (0 on timeout)
 * or an error: -ERANGE (offset below the log start with PAGEBUS_RESET_ERROR),
 * -PAGEBUS_EBADCRC / -PAGEBUS_EBADRECORD (corrupt batch, named with topic, partition and
 * offset in pagebus_last_error()), -ENOENT (topic deleted), -ENOTSUP (compressed with a
 * codec not built in), -EMSGSIZE (a compressed batch larger than the decompression
 * bound). When the broker goes away the consumer reconnects by itself: pagebus_poll
 * returns 0 (after timeout_ms) while it is away and resumes at the next offset after it
 * restarts.
 */
PAGEBUS_API int pagebus_poll(struct pagebus_consumer *c, struct pagebus_msg *msgs, int max, int timeout_ms);
/* Next offset the consumer will return. */
PAGEBUS_API int64_t pagebus_position(struct pagebus_consumer *c);
/* Repositions the consumer (offset, PAGEBUS_OFFSET_BEGINNING or PAGEBUS_OFFSET_END). */
PAGEBUS_API int pagebus_seek(struct pagebus_consumer *c, int64_t offset);
PAGEBUS_API int pagebus_seek_time(struct pagebus_consumer *c, int64_t timestamp_ms);
/* Named offsets, persisted by the broker: the next offset to read of the consumer's
 * partition, stored under name. pagebus_committed gives -ENOENT when none is stored. */
PAGEBUS_API int pagebus_commit(struct pagebus_consumer *c, const char *name, int64_t next_offset);
PAGEBUS_API int pagebus_committed(struct pagebus_consumer *c, const char *name, int64_t *next_offset);
PAGEBUS_API void pagebus_consumer_close(struct pagebus_consumer *c);

/* ---- consumer groups (client/group.c) ------------------------------------------------ */

/*
 * A member of a consumer group: the broker's coordinator (Kafka's classic rebalance
 * protocol) shares the partitions of the subscribed topics among the group's members,
 * local and Kafka clients alike (docs/groups.md). Each assigned partition is read zero
 * copy by its own pagebus_consumer, opened at the group's committed offset.
 */
struct pagebus_group_consumer;

enum pagebus_assignor {
	PAGEBUS_ASSIGN_RANGE = 0,      /* "range": per topic, contiguous ranges (default) */
	PAGEBUS_ASSIGN_ROUNDROBIN = 1, /* "roundrobin": every partition dealt out in turn */
};

enum pagebus_rebalance_event {
	PAGEBUS_REBALANCE_REVOKED = 0,  /* these partitions are about to be taken away */
	PAGEBUS_REBALANCE_ASSIGNED = 1, /* these partitions are now the member's */
};

struct pagebus_topic_partition {
	const char *topic;
	int32_t partition;
};

/*
 * Rebalance callback: called on the thread inside pagebus_group_poll() (or
 * pagebus_group_close()). REVOKED comes before the partitions go — after their positions
 * were committed when auto commit is on; the callback may call pagebus_group_commit()
 * itself — and ASSIGNED after new ones are assigned, before any of their messages. parts
 * is valid during the call only.
 */
typedef void pagebus_rebalance_cb(void *ctx, int event, const struct pagebus_topic_partition *parts,
				  int n);

#define PAGEBUS_AUTO_COMMIT_DEFAULT_MS 5000

struct pagebus_subscribe_opts {
	size_t sz;
	int assignor;             /* enum pagebus_assignor, used when this member leads */
	int auto_commit_ms;       /* commit positions this often from the poll path; 0: off
				   * (commit with pagebus_group_commit). NULL opts: 5000 */
	int session_timeout_ms;   /* 0: 10000; poll at least this often or be removed */
	int rebalance_timeout_ms; /* how long a rebalance waits for members (0: 60000) */
	int reset;                /* enum pagebus_reset: a partition without a committed
				   * offset starts at its beginning (default) or its end */
	const char *client_id;    /* in the member id and `pagebus groups describe`; NULL:
				   * "pagebus" */
	pagebus_rebalance_cb *rebalance_cb;
	void *rebalance_ctx;
};

/*
 * Joins group (1..249 bytes, no control characters) subscribed to ntopics topics. The
 * group's traffic goes over a second connection of the member's own, opened here on pb's
 * data dir: the member lives as long as that connection, so a process that dies leaves
 * its group at once. Assigned partitions are read through pb. Returns at once; the join
 * completes inside pagebus_group_poll(). Not thread-safe: one thread polls, commits and
 * closes a member (pb itself may be shared). topics are copied.
 */
PAGEBUS_API int pagebus_consumer_subscribe(struct pagebus *pb, const char *group,
					   const char *const *topics, int ntopics,
					   const struct pagebus_subscribe_opts *opts,
					   struct pagebus_group_consumer **out);
/*
 * Runs the membership (join, sync, heartbeats, auto commit, rebalance callbacks) and
 * fills up to max messages of the assigned partitions, waiting up to timeout_ms (0: no
 * wait, < 0: forever) when there are none. Messages point into the segment mappings and
 * stay valid until the next pagebus_group_poll(), pagebus_group_close() or a rebalance
 * callback's REVOKED of their partition. Call it at least every session timeout / 3:
 * heartbeats are sent from here. Returns the count (0: nothing yet, also while the
 * group rebalances or the broker is away) or an error: -PAGEBUS_EGROUP_PROTOCOL (the
 * group's members share no assignor), -EINVAL (the broker refused the session timeout),
 * or a consumer error of pagebus_poll().
 */
PAGEBUS_API int pagebus_group_poll(struct pagebus_group_consumer *g, struct pagebus_msg *msgs, int max,
				   int timeout_ms);
/*
 * Commits, durably, the position of every assigned partition (the offset after the last
 * message returned) under the group's name, checked against the member's generation.
 * 0, or -PAGEBUS_EREBALANCE / -PAGEBUS_EUNKNOWN_MEMBER / -PAGEBUS_EGENERATION (the member
 * lost the partitions; the next poll rejoins), -EPIPE.
 */
PAGEBUS_API int pagebus_group_commit(struct pagebus_group_consumer *g);
/* The partitions assigned now: fills up to max entries (topic strings owned by g, valid
 * until the next poll) and returns how many there are. */
PAGEBUS_API int pagebus_group_assignment(struct pagebus_group_consumer *g,
					 struct pagebus_topic_partition *out, int max);
/* The member id the coordinator gave ("" before the first join); owned by g. */
PAGEBUS_API const char *pagebus_group_member_id(struct pagebus_group_consumer *g);
/* Commits (when auto commit is on), revokes (callback), leaves the group and frees.
 * Accepts NULL. */
PAGEBUS_API void pagebus_group_close(struct pagebus_group_consumer *g);

/* Walks a message's headers: *pos starts at 0. 1 = *h filled, 0 = end, < 0 malformed. */
PAGEBUS_API int pagebus_msg_header(const struct pagebus_msg *m, size_t *pos, struct pagebus_header *h);

/* A static, human-readable description of err (a -errno or -PAGEBUS_E* value). */
PAGEBUS_API const char *pagebus_strerror(int err);

/* ---- administration (client/admin.c) ------------------------------------------------- */

/* One topic of pagebus_topic_list(). */
struct pagebus_topic_info {
	const char *name;    /* NUL-terminated, inside the list's allocation */
	uint32_t topic_id;
	int32_t partitions;
};

/*
 * Every topic the broker has, in its order. *out is one malloc'd array of *n entries
 * (NULL when there are none), names included, owned by the caller until
 * pagebus_topic_list_free(). *out = NULL and *n = 0 on error.
 */
PAGEBUS_API int pagebus_topic_list(struct pagebus *pb, struct pagebus_topic_info **out, int *n);
/* Accepts NULL. */
PAGEBUS_API void pagebus_topic_list_free(struct pagebus_topic_info *topics);

/* One partition of pagebus_topic_describe(), as the broker saw it when it answered. */
struct pagebus_partition_info {
	int32_t partition;
	int64_t log_start;  /* first offset still in the log (retention moves it) */
	int64_t hwm;        /* high watermark: the offset the next append gets */
	uint32_t segments;  /* segment files */
	uint64_t bytes;     /* log bytes of those segments */
};

/* A per-topic override of a broker setting ("retention.ms" = "60000"). */
struct pagebus_config_entry {
	const char *key;
	const char *value;
};

struct pagebus_topic_desc {
	const char *name;
	uint32_t topic_id;
	int32_t partitions;                   /* entries in parts[], indexed by partition */
	const struct pagebus_partition_info *parts;
	int nconfigs;                         /* entries in configs[]: the topic's overrides */
	const struct pagebus_config_entry *configs;
};

/*
 * The topic's partitions (log start, high watermark, segments, bytes) and overrides.
 * *out is one allocation owned by the caller until pagebus_topic_desc_free(); NULL on
 * error (-ENOENT: no such topic, with pagebus_last_error() naming it).
 */
PAGEBUS_API int pagebus_topic_describe(struct pagebus *pb, const char *topic,
				       struct pagebus_topic_desc **out);
/* Accepts NULL. */
PAGEBUS_API void pagebus_topic_desc_free(struct pagebus_topic_desc *desc);

/* One live partition as the broker's control region shows it. */
struct pagebus_partition_state {
	uint32_t topic_id;  /* as in pagebus_topic_list() */
	int32_t partition;
	int64_t log_start;
	int64_t hwm;
};

/*
 * Every live partition as the control region shows it right now: a read of the mapping
 * the broker shares read-only, no request to the broker, so a monitor may call it as
 * often as it likes. Fills up to max entries of out (in the broker's slot order) and
 * returns how many live partitions there are (more than max: call again with more room),
 * or a negative error. After the broker restarted the values are its predecessor's until
 * a request on pb reconnects.
 */
PAGEBUS_API int pagebus_partition_states(struct pagebus *pb, struct pagebus_partition_state *out,
					 int max);

/* ---- consumer groups: inspection (client/group_admin.c) ------------------------------- */

/* One group of pagebus_group_list(): active groups and names with committed offsets. */
struct pagebus_group_info {
	const char *name;
	const char *state;         /* "Empty", "PreparingRebalance", "CompletingRebalance", "Stable" */
	const char *protocol_type; /* "consumer"; "" without members */
	const char *protocol;      /* the assignor chosen ("range", "roundrobin", ...) */
	int32_t generation;
	int members;
};
/* Every group, sorted by name; one allocation owned by the caller until
 * pagebus_group_list_free(). *out = NULL and *n = 0 on error. */
PAGEBUS_API int pagebus_group_list(struct pagebus *pb, struct pagebus_group_info **out, int *n);
PAGEBUS_API void pagebus_group_list_free(struct pagebus_group_info *groups);

struct pagebus_group_member_desc {
	const char *member_id;
	const char *client_id;
	const char *host;          /* "pid N" for a local member, "/IP" for a Kafka client */
	int kafka;                 /* 1: a Kafka client */
};
struct pagebus_group_partition_desc {
	const char *topic;
	int32_t partition;
	int member;                /* index into members[] of its owner, -1: nobody */
	int64_t committed;         /* next offset committed, -1: none */
	int64_t log_start, hwm;    /* -1: the partition is gone */
	int64_t lag;               /* hwm - committed, -1 when either is unknown */
};
struct pagebus_group_desc {
	const char *name, *state, *protocol_type, *protocol;
	const char *leader;        /* member id, "" without members */
	int32_t generation;
	int nmembers;
	const struct pagebus_group_member_desc *members;
	int npartitions;           /* assigned or committed, by topic and partition */
	const struct pagebus_group_partition_desc *partitions;
};
/* The group's members, assignment and committed offsets with lag; one allocation owned
 * by the caller until pagebus_group_desc_free(). -ENOENT: no such group. */
PAGEBUS_API int pagebus_group_describe(struct pagebus *pb, const char *group,
				       struct pagebus_group_desc **out);
PAGEBUS_API void pagebus_group_desc_free(struct pagebus_group_desc *desc);

#ifdef __cplusplus
}
#endif
#endif /* PAGEBUS_H */
