/* SPDX-License-Identifier: Apache-2.0 */
/*
 * protocol.h — the local protocol (version 1) between libpagebus and pagebusd over the
 * Unix SOCK_SEQPACKET socket DIR/pagebus.sock: message types and structs, a bounded
 * writer and reader, one encoder/parser pair per message, and fd passing. docs/protocol.md
 * is the contract; this header and that document change together.
 *
 *   0       4       6       8       12      16                     16 + len
 *   +-------+-------+-------+-------+-------+------------------------+
 *   | magic | type  | flags |  id   |  len  | payload                |  one datagram
 *   +-------+-------+-------+-------+-------+------------------------+
 *
 * All integers are little-endian (the host order on x86-64; the codec still encodes them
 * byte by byte, so nothing depends on the host). A string is u16 length + bytes, no NUL.
 * A REPLY payload starts with i32 status, str message; its fields follow only when
 * status == 0. Parsers treat every byte as untrusted: anything truncated, oversized,
 * counted past the bytes present or followed by leftover bytes is -EPROTO. Nothing here
 * keeps global state: every function is reentrant, and none prints.
 */
#ifndef PAGEBUS_PROTOCOL_H
#define PAGEBUS_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PBP_MAGIC 0x5042534Du /* "PBSM" */
#define PBP_VERSION 1	      /* the only version this code speaks */
#define PBP_VERSION_MIN 1
#define PBP_VERSION_MAX 1
#define PBP_HDR_SIZE 16
#define PBP_MAX_MSG 65536 /* whole datagram, header included */
#define PBP_MAX_STR 4096  /* bytes of one string on the wire */
#define PBP_MAX_FDS 64	  /* fds one message may carry */
#define PBP_SOCKET_NAME "pagebus.sock"

/* Bounds of what a parser accepts (and so of the buffers in the structs below). */
#define PBP_NAME_MAX 255   /* topic, client, consumer and config key names */
#define PBP_VALUE_MAX 1023 /* a config value */
#define PBP_MAX_CONFIGS 64
#define PBP_MAX_PARTITIONS 10000 /* any partition list */
#define PBP_MAX_TOPICS 10000	 /* TOPIC_LIST entries */
#define PBP_MAX_SEGMENTS 64	 /* GET_SEGMENTS entries (one fd each) */
#define PBP_MAX_GROUP_BYTES 32768 /* a member's protocol metadata or assignment */
#define PBP_MAX_PROTOCOLS 16	  /* protocols one JOIN_GROUP offers */
#define PBP_MAX_MEMBERS 1000	  /* members in a JOIN_GROUP or GROUP_DESCRIBE reply */
#define PBP_MAX_GROUPS 10000	  /* GROUP_LIST entries */

/* The broker closes a connection after this many malformed or unknown messages. */
#define PBP_MAX_MALFORMED 8

enum pbp_type {
	PBP_HELLO = 1,
	PBP_TOPIC_CREATE = 2,
	PBP_TOPIC_DELETE = 3,
	PBP_TOPIC_LIST = 4,
	PBP_TOPIC_DESCRIBE = 5,
	PBP_OPEN_PRODUCER = 6,
	PBP_CLOSE_PRODUCER = 7,
	PBP_OPEN_CONSUMER = 8,
	PBP_CLOSE_CONSUMER = 9,
	PBP_GET_SEGMENTS = 10,
	PBP_COMMIT_OFFSET = 11,
	PBP_FETCH_OFFSET = 12,
	PBP_JOIN_GROUP = 13,	 /* the reply may come seconds later: see docs/groups.md */
	PBP_SYNC_GROUP = 14,	 /* likewise */
	PBP_HEARTBEAT = 15,
	PBP_LEAVE_GROUP = 16,
	PBP_GROUP_COMMIT = 17,
	PBP_GROUP_LIST = 18,
	PBP_GROUP_DESCRIBE = 19,
	PBP_REQUEST_LAST = PBP_GROUP_DESCRIBE,
	PBP_SEGMENT_EVENT = 100, /* push */
};

/* Header flags: neither = request (client -> broker). */
#define PBP_F_REPLY 1u
#define PBP_F_PUSH 2u

/* SEGMENT_EVENT.event */
enum pbp_seg_event {
	PBP_SEG_ROLLED = 1,	   /* base_offset: the new active segment */
	PBP_SEG_DELETED = 2,	   /* base_offset: the segment retention removed */
	PBP_SEG_TOPIC_DELETED = 3, /* the topic is gone; base_offset 0 */
};

/* The decoded header (the wire form is encoded field by field, not memcpy'd). */
struct pbp_hdr {
	uint32_t magic;
	uint16_t type;
	uint16_t flags;
	uint32_t id;  /* chosen by the client, echoed in the reply; 0 for pushes */
	uint32_t len; /* payload bytes = datagram size - 16 */
};

_Static_assert(sizeof(struct pbp_hdr) == PBP_HDR_SIZE, "header is 16 bytes");
_Static_assert(offsetof(struct pbp_hdr, type) == 4 && offsetof(struct pbp_hdr, flags) == 6 &&
		       offsetof(struct pbp_hdr, id) == 8 && offsetof(struct pbp_hdr, len) == 12,
	       "header field offsets match the wire");

/* "HELLO", "SEGMENT_EVENT", ... or "unknown"; static. */
const char *pbp_type_name(unsigned type);

/*
 * Version negotiation (the broker's side of HELLO): the highest version in
 * [min_version, max_version] this code speaks, or -EPROTONOSUPPORT.
 */
int pbp_negotiate(uint32_t min_version, uint32_t max_version);

/* ---- writer --------------------------------------------------------------------- */

/*
 * Writes into caller memory. The first failure sticks in err (-EMSGSIZE: out of room or
 * a string longer than PBP_MAX_STR; -EINVAL: a struct that cannot be encoded) and every
 * later write does nothing, so a message is built without checks and judged once, by
 * pbp_msg_end().
 */
struct pbp_wbuf {
	uint8_t *buf;
	size_t len, cap;
	int err;
};

void pbp_w_init(struct pbp_wbuf *w, void *buf, size_t cap);
void pbp_w_u8(struct pbp_wbuf *w, uint8_t v);
void pbp_w_u16(struct pbp_wbuf *w, uint16_t v);
void pbp_w_u32(struct pbp_wbuf *w, uint32_t v);
void pbp_w_i32(struct pbp_wbuf *w, int32_t v);
void pbp_w_u64(struct pbp_wbuf *w, uint64_t v);
void pbp_w_i64(struct pbp_wbuf *w, int64_t v);
void pbp_w_bytes(struct pbp_wbuf *w, const void *p, size_t n);
/* u16 length + the bytes of s (NULL = ""). */
void pbp_w_str(struct pbp_wbuf *w, const char *s);

/* Restarts w at offset 0 (err cleared) with a header; len is filled by pbp_msg_end. */
void pbp_msg_begin(struct pbp_wbuf *w, uint16_t type, uint16_t flags, uint32_t id);
/*
 * A REPLY header plus status and message. status must be 0 or negative; message NULL
 * means "", and a message longer than PBP_MAX_STR is cut to that length. A success
 * (status 0) carries "": parsers refuse one with a message.
 */
void pbp_reply_begin(struct pbp_wbuf *w, uint16_t type, uint32_t id, int32_t status,
		     const char *message);
/* Fills len. Returns the datagram's size (16..PBP_MAX_MSG) or the writer's error. */
int pbp_msg_end(struct pbp_wbuf *w);

/* ---- reader --------------------------------------------------------------------- */

/*
 * Reads from memory that outlives it. An underflow sets err = -EPROTO, returns 0 and
 * leaves p where the failed read started; later reads fail too. After a failure, `what`
 * names what was malformed, for the broker's error message (static): the field, when a
 * pbp_parse_* function failed ("name", "configs", "value", ...), "header",
 * "trailing bytes" or "status"; NULL after a bare pbp_r_* underflow.
 */
struct pbp_rbuf {
	const uint8_t *p, *end;
	int err;
	const char *what;
};

void pbp_r_init(struct pbp_rbuf *r, const void *buf, size_t len);
uint8_t pbp_r_u8(struct pbp_rbuf *r);
uint16_t pbp_r_u16(struct pbp_rbuf *r);
uint32_t pbp_r_u32(struct pbp_rbuf *r);
int32_t pbp_r_i32(struct pbp_rbuf *r);
uint64_t pbp_r_u64(struct pbp_rbuf *r);
int64_t pbp_r_i64(struct pbp_rbuf *r);
/*
 * Copies a string into out[cap] and NUL-terminates it. Returns its length, or -EPROTO
 * (out = "" when cap > 0) when it is truncated, longer than PBP_MAX_STR or than cap - 1,
 * or holds a NUL byte.
 */
int pbp_r_str(struct pbp_rbuf *r, char *out, size_t cap);
/* 0 when every byte was read and nothing failed; else err, or -EPROTO for leftovers. */
int pbp_r_done(struct pbp_rbuf *r);

/*
 * Splits one received datagram (buf, n bytes) into *h and a reader over its payload
 * (pointing into buf). -EPROTO unless n >= 16, n <= PBP_MAX_MSG, the magic matches,
 * len == n - 16 and flags is 0, PBP_F_REPLY or PBP_F_PUSH (a push with id 0). On failure *h still holds
 * the fields as read (all zero when n is out of range), so an error reply can echo the
 * id, and the payload reader is failed (err -EPROTO, what "header").
 */
int pbp_msg_parse(const void *buf, size_t n, struct pbp_hdr *h, struct pbp_rbuf *payload);

/*
 * Parses a whole datagram of any known type and direction and throws the result away:
 * 0 when it is a well-formed version 1 message, -EPROTO otherwise. For fuzzers and
 * tests; the broker and the library parse into the structs below.
 */
int pbp_validate(const void *buf, size_t n);

/* ---- messages ------------------------------------------------------------------- */

/* Every reply's head. message is "" on success. */
struct pbp_status {
	int32_t status; /* 0, or -errno / -PAGEBUS_E* */
	char message[PBP_MAX_STR + 1];
};

struct pbp_config {
	char key[PBP_NAME_MAX + 1];
	char value[PBP_VALUE_MAX + 1];
};

/* HELLO: must be the first request of a connection. */
struct pbp_hello {
	uint32_t min_version, max_version;
	char client_name[PBP_NAME_MAX + 1];
};
/* + 1 fd: the control region (read-only). */
struct pbp_hello_reply {
	uint32_t version; /* chosen by the broker within [min_version, max_version] */
	uint32_t broker_pid;
	uint32_t nslots; /* control region slots */
	uint32_t ring_bytes_default;
};

struct pbp_topic_create {
	char name[PBP_NAME_MAX + 1];
	int32_t partitions; /* -1 = broker default */
	uint32_t nconfigs;  /* <= PBP_MAX_CONFIGS */
	struct pbp_config *configs;
};
struct pbp_topic_create_reply {
	uint32_t topic_id;
	int32_t partitions;
};

/* TOPIC_DELETE; its reply has no fields. */
struct pbp_topic_delete {
	char name[PBP_NAME_MAX + 1];
};

/* TOPIC_LIST has no request payload. */
struct pbp_topic_info {
	char name[PBP_NAME_MAX + 1];
	uint32_t topic_id;
	int32_t partitions;
};
struct pbp_topic_list_reply {
	uint32_t n; /* <= PBP_MAX_TOPICS */
	struct pbp_topic_info *topics;
};

struct pbp_topic_describe {
	char name[PBP_NAME_MAX + 1];
};
struct pbp_partition_info {
	int32_t partition;
	uint32_t slot; /* control region slot */
	int64_t log_start, hwm;
	uint32_t segments;
	uint64_t bytes; /* on disk */
};
struct pbp_topic_describe_reply {
	uint32_t topic_id;
	int32_t partitions; /* 0..PBP_MAX_PARTITIONS: also the length of parts[] */
	uint32_t nconfigs;  /* <= PBP_MAX_CONFIGS */
	struct pbp_config *configs;
	struct pbp_partition_info *parts;
};

struct pbp_open_producer {
	char topic[PBP_NAME_MAX + 1];
	uint32_t ring_bytes; /* 0 = broker default */
};
/* + 1 fd: the ring (memfd, read-write). */
struct pbp_open_producer_reply {
	uint32_t producer_id, topic_id;
	int32_t partitions;
	uint32_t ring_bytes;
};

/* CLOSE_PRODUCER; its reply has no fields. */
struct pbp_close_producer {
	uint32_t producer_id;
};

struct pbp_open_consumer {
	char topic[PBP_NAME_MAX + 1];
	uint32_t n; /* 0 = all partitions; <= PBP_MAX_PARTITIONS */
	int32_t *partitions;
};
struct pbp_consumer_slot {
	int32_t partition;
	uint32_t slot, slot_epoch;
};
struct pbp_open_consumer_reply {
	uint32_t consumer_id, topic_id;
	int32_t partitions;
	uint32_t m; /* <= PBP_MAX_PARTITIONS */
	struct pbp_consumer_slot *slots;
};

/* CLOSE_CONSUMER; its reply has no fields. */
struct pbp_close_consumer {
	uint32_t consumer_id;
};

struct pbp_get_segments {
	uint32_t topic_id;
	int32_t partition;
	int64_t from_offset;
};
struct pbp_segment {
	int64_t base_offset;
	int64_t end_offset; /* -1 = the active segment */
};
/* + n fds: the segments' .log files (O_RDONLY), in order. The caller checks nfds == n. */
struct pbp_get_segments_reply {
	uint32_t n; /* <= PBP_MAX_SEGMENTS */
	struct pbp_segment *segments;
	uint8_t more; /* 1: ask again from the last end_offset */
};

/* COMMIT_OFFSET; its reply has no fields. */
struct pbp_commit_offset {
	char name[PBP_NAME_MAX + 1];
	char topic[PBP_NAME_MAX + 1];
	int32_t partition;
	int64_t next_offset;
};

struct pbp_fetch_offset {
	char name[PBP_NAME_MAX + 1];
	char topic[PBP_NAME_MAX + 1];
	int32_t partition;
};
struct pbp_fetch_offset_reply {
	int64_t next_offset; /* -1 = none committed */
};

/*
 * Consumer groups (Kafka's classic rebalance protocol, docs/groups.md). Protocol metadata
 * and assignments are opaque bytes to the broker; libpagebus puts Kafka's "consumer"
 * protocol in them, so local members and Kafka clients can share a group. A status of
 * -PAGEBUS_EREBALANCE, -PAGEBUS_EUNKNOWN_MEMBER, -PAGEBUS_EGENERATION or
 * -PAGEBUS_EGROUP_PROTOCOL carries the coordinator's Kafka error.
 */
struct pbp_group_protocol {
	char name[PBP_NAME_MAX + 1];
	uint32_t len; /* <= PBP_MAX_GROUP_BYTES */
	uint8_t *meta;
};
struct pbp_join_group {
	char group[PBP_NAME_MAX + 1];
	char member_id[PBP_NAME_MAX + 1]; /* "" on the first join */
	char client_id[PBP_NAME_MAX + 1];
	int32_t session_timeout_ms;
	int32_t rebalance_timeout_ms;
	char protocol_type[PBP_NAME_MAX + 1];
	uint32_t nprotocols; /* 1..PBP_MAX_PROTOCOLS */
	struct pbp_group_protocol *protocols;
};
/* A member and its bytes: metadata in JOIN_GROUP's reply, assignment in SYNC_GROUP. */
struct pbp_group_member {
	char member_id[PBP_NAME_MAX + 1];
	uint32_t len; /* <= PBP_MAX_GROUP_BYTES */
	uint8_t *data;
};
struct pbp_join_group_reply {
	int32_t generation;
	char protocol[PBP_NAME_MAX + 1];
	char leader[PBP_NAME_MAX + 1];
	char member_id[PBP_NAME_MAX + 1];
	uint32_t nmembers; /* the leader's reply only; <= PBP_MAX_MEMBERS */
	struct pbp_group_member *members;
};
struct pbp_sync_group {
	char group[PBP_NAME_MAX + 1];
	int32_t generation;
	char member_id[PBP_NAME_MAX + 1];
	uint32_t nassignments; /* the leader's: one per member; the others: 0 */
	struct pbp_group_member *assignments;
};
struct pbp_sync_group_reply {
	uint32_t len; /* <= PBP_MAX_GROUP_BYTES */
	uint8_t *assignment;
};
/* HEARTBEAT; its reply has no fields. */
struct pbp_heartbeat {
	char group[PBP_NAME_MAX + 1];
	int32_t generation;
	char member_id[PBP_NAME_MAX + 1];
};
/* LEAVE_GROUP; its reply has no fields. */
struct pbp_leave_group {
	char group[PBP_NAME_MAX + 1];
	char member_id[PBP_NAME_MAX + 1];
};
struct pbp_group_offset {
	char topic[PBP_NAME_MAX + 1];
	int32_t partition;
	int64_t next_offset;
};
/* GROUP_COMMIT: a member's offsets, stored together or not at all; no reply fields. */
struct pbp_group_commit {
	char group[PBP_NAME_MAX + 1];
	int32_t generation; /* -1 with member_id "": not a member (the group must be empty) */
	char member_id[PBP_NAME_MAX + 1];
	uint32_t n; /* <= PBP_MAX_PARTITIONS */
	struct pbp_group_offset *offsets;
};
/* GROUP_LIST has no request payload. */
struct pbp_group_info {
	char name[PBP_NAME_MAX + 1];
	char state[PBP_NAME_MAX + 1];	      /* Kafka's names: Empty, Stable, ... */
	char protocol_type[PBP_NAME_MAX + 1]; /* "" without members */
	char protocol[PBP_NAME_MAX + 1];
	int32_t generation;
	uint32_t members;
};
struct pbp_group_list_reply {
	uint32_t n; /* <= PBP_MAX_GROUPS */
	struct pbp_group_info *groups;
};
struct pbp_group_describe {
	char group[PBP_NAME_MAX + 1];
};
struct pbp_group_member_info {
	char member_id[PBP_NAME_MAX + 1];
	char client_id[PBP_NAME_MAX + 1];
	char host[PBP_NAME_MAX + 1]; /* "pid N" for a local member */
	uint8_t kafka;		     /* 1: a Kafka client; 0: local */
};
struct pbp_group_partition {
	char topic[PBP_NAME_MAX + 1];
	int32_t partition;
	int32_t member;	   /* index into members[], -1: nobody owns it */
	int64_t committed; /* -1: none */
	int64_t log_start; /* -1: unknown partition */
	int64_t hwm;	   /* -1: unknown partition */
};
struct pbp_group_describe_reply {
	char state[PBP_NAME_MAX + 1];
	char protocol_type[PBP_NAME_MAX + 1];
	char protocol[PBP_NAME_MAX + 1];
	int32_t generation;
	char leader[PBP_NAME_MAX + 1];
	uint32_t nmembers; /* <= PBP_MAX_MEMBERS */
	struct pbp_group_member_info *members;
	uint32_t nparts; /* <= PBP_MAX_PARTITIONS */
	struct pbp_group_partition *parts;
};

/* Push, broker -> client, id 0. */
struct pbp_segment_event {
	uint32_t topic_id;
	int32_t partition;
	uint32_t event; /* enum pbp_seg_event */
	int64_t base_offset;
};

/*
 * Messages with a payload struct, as X(name, type). For each request in PBP_REQUESTS:
 *
 *   int pbp_enc_NAME(struct pbp_wbuf *w, uint32_t id, const struct pbp_NAME *in);
 *	the whole request datagram in w: its size, or -EMSGSIZE / -EINVAL (a string not
 *	NUL-terminated within its buffer, a count over its bound, NULL items with n > 0).
 *   int pbp_parse_NAME(struct pbp_rbuf *r, struct pbp_NAME *out);
 *	the payload reader from pbp_msg_parse(): 0, -EPROTO (malformed; r->what says
 *	where) or -ENOMEM. On failure *out is all zeros (nothing to free). On success
 *	its arrays are malloc'd and owned by *out until:
 *   void pbp_free_NAME(struct pbp_NAME *m);
 *	frees those arrays and zeroes their counts; a no-op on a zeroed struct.
 *
 * and for each reply in PBP_REPLIES:
 *
 *   int pbp_enc_NAME_reply(struct pbp_wbuf *w, uint32_t id,
 *			    const struct pbp_NAME_reply *in);          (status 0)
 *   int pbp_parse_NAME_reply(struct pbp_rbuf *r, struct pbp_status *st,
 *			      struct pbp_NAME_reply *out);
 *	-EPROTO / -ENOMEM as above; else 0 with st->status the broker's answer and *out
 *	filled only when st->status == 0 (zeroed otherwise).
 *   void pbp_free_NAME_reply(struct pbp_NAME_reply *m);
 */
#define PBP_REQUESTS(X)                                                                            \
	X(hello, PBP_HELLO)                                                                        \
	X(topic_create, PBP_TOPIC_CREATE)                                                          \
	X(topic_delete, PBP_TOPIC_DELETE)                                                          \
	X(topic_describe, PBP_TOPIC_DESCRIBE)                                                      \
	X(open_producer, PBP_OPEN_PRODUCER)                                                        \
	X(close_producer, PBP_CLOSE_PRODUCER)                                                      \
	X(open_consumer, PBP_OPEN_CONSUMER)                                                        \
	X(close_consumer, PBP_CLOSE_CONSUMER)                                                      \
	X(get_segments, PBP_GET_SEGMENTS)                                                          \
	X(commit_offset, PBP_COMMIT_OFFSET)                                                        \
	X(fetch_offset, PBP_FETCH_OFFSET)                                                          \
	X(join_group, PBP_JOIN_GROUP)                                                              \
	X(sync_group, PBP_SYNC_GROUP)                                                              \
	X(heartbeat, PBP_HEARTBEAT)                                                                \
	X(leave_group, PBP_LEAVE_GROUP)                                                            \
	X(group_commit, PBP_GROUP_COMMIT)                                                          \
	X(group_describe, PBP_GROUP_DESCRIBE)

#define PBP_REPLIES(X)                                                                             \
	X(hello, PBP_HELLO)                                                                        \
	X(topic_create, PBP_TOPIC_CREATE)                                                          \
	X(topic_list, PBP_TOPIC_LIST)                                                              \
	X(topic_describe, PBP_TOPIC_DESCRIBE)                                                      \
	X(open_producer, PBP_OPEN_PRODUCER)                                                        \
	X(open_consumer, PBP_OPEN_CONSUMER)                                                        \
	X(get_segments, PBP_GET_SEGMENTS)                                                          \
	X(fetch_offset, PBP_FETCH_OFFSET)                                                          \
	X(join_group, PBP_JOIN_GROUP)                                                              \
	X(sync_group, PBP_SYNC_GROUP)                                                              \
	X(group_list, PBP_GROUP_LIST)                                                              \
	X(group_describe, PBP_GROUP_DESCRIBE)

#define PBP_DECLARE_REQUEST(name, type)                                                            \
	int pbp_enc_##name(struct pbp_wbuf *w, uint32_t id, const struct pbp_##name *in);          \
	int pbp_parse_##name(struct pbp_rbuf *r, struct pbp_##name *out);                          \
	void pbp_free_##name(struct pbp_##name *m);
#define PBP_DECLARE_REPLY(name, type)                                                              \
	int pbp_enc_##name##_reply(struct pbp_wbuf *w, uint32_t id,                                \
				   const struct pbp_##name##_reply *in);                           \
	int pbp_parse_##name##_reply(struct pbp_rbuf *r, struct pbp_status *st,                    \
				     struct pbp_##name##_reply *out);                              \
	void pbp_free_##name##_reply(struct pbp_##name##_reply *m);
PBP_REQUESTS(PBP_DECLARE_REQUEST)
PBP_REPLIES(PBP_DECLARE_REPLY)

/* TOPIC_LIST and GROUP_LIST, the requests without a payload. */
int pbp_enc_topic_list(struct pbp_wbuf *w, uint32_t id);
int pbp_parse_topic_list(struct pbp_rbuf *r);
int pbp_enc_group_list(struct pbp_wbuf *w, uint32_t id);
int pbp_parse_group_list(struct pbp_rbuf *r);

/* A reply without fields: success (TOPIC_DELETE, CLOSE_*, COMMIT_OFFSET, HEARTBEAT,
 * LEAVE_GROUP, GROUP_COMMIT) or any error. */
int pbp_enc_ok_reply(struct pbp_wbuf *w, uint16_t type, uint32_t id);
int pbp_enc_error_reply(struct pbp_wbuf *w, uint16_t type, uint32_t id, int32_t status,
			const char *message);
/* Reads the status head of a reply without fields; -EPROTO if anything else follows. */
int pbp_parse_status_reply(struct pbp_rbuf *r, struct pbp_status *st);

/* The push. */
int pbp_enc_segment_event(struct pbp_wbuf *w, const struct pbp_segment_event *in);
int pbp_parse_segment_event(struct pbp_rbuf *r, struct pbp_segment_event *out);

/* ---- transport ------------------------------------------------------------------ */

/*
 * Sends one datagram with nfds (0..PBP_MAX_FDS) fds attached (SCM_RIGHTS); the fds stay
 * open and owned by the caller. MSG_NOSIGNAL, EINTR retried. Returns len or -errno
 * (-EPIPE: the peer is gone; -EINVAL: too many fds).
 */
ssize_t pbp_send(int fd, const void *buf, size_t len, const int *fds, int nfds);

/*
 * Receives one datagram into buf[cap] and the fds it carries (close-on-exec) into
 * fds[max_fds], *nfds their count; flags go to recvmsg (e.g. MSG_DONTWAIT). EINTR is
 * retried. Returns the datagram's size, 0 when the peer closed (the protocol never sends
 * an empty datagram), or -errno: -EMSGSIZE
 * when it did not fit in cap (or its fds did not fit), -EPROTO when it carried more than
 * max_fds fds; on any error every fd it carried is closed and *nfds = 0. The caller owns
 * the fds returned. fds and nfds may be NULL when max_fds is 0.
 */
ssize_t pbp_recv(int fd, void *buf, size_t cap, int *fds, int max_fds, int *nfds, int flags);

#endif /* PAGEBUS_PROTOCOL_H */
