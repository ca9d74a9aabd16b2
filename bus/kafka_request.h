/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_request.h — the Kafka requests the endpoint answers, parsed: one function per
 * API reads a request body into a struct, and kafka_request_parse() reads a whole frame
 * (the header, which API and version, the body) with one `malformed` exit. It is the only
 * code that reads a request's bytes, and it acts on nothing: kafka_api.c and
 * kafka_fetch.c act on the structs it fills; tests/fuzz/fuzz_kafka_request.c fuzzes it.
 * Versions and fields follow docs/kafka.md and Kafka's message definitions.
 */
#ifndef PAGEBUS_KAFKA_REQUEST_H
#define PAGEBUS_KAFKA_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kafka_codec.h"

/* API keys. */
enum {
	KAFKA_PRODUCE = 0,
	KAFKA_FETCH = 1,
	KAFKA_LIST_OFFSETS = 2,
	KAFKA_METADATA = 3,
	KAFKA_OFFSET_COMMIT = 8,
	KAFKA_OFFSET_FETCH = 9,
	KAFKA_FIND_COORDINATOR = 10,
	KAFKA_JOIN_GROUP = 11,
	KAFKA_HEARTBEAT = 12,
	KAFKA_LEAVE_GROUP = 13,
	KAFKA_SYNC_GROUP = 14,
	KAFKA_DESCRIBE_GROUPS = 15,
	KAFKA_LIST_GROUPS = 16,
	KAFKA_API_VERSIONS = 18,
	KAFKA_CREATE_TOPICS = 19,
	KAFKA_DELETE_TOPICS = 20,
	KAFKA_API_KEYS /* one past the highest */
};

/* What the endpoint advertises for one API: every version in [min, max] is parsed. */
struct kafka_api_info {
	const char *name;       /* NULL: not supported */
	int16_t min, max;
	int16_t first_flexible; /* from this version on the request header is v2 */
};
extern const struct kafka_api_info kafka_apis[KAFKA_API_KEYS];

/* A string of the frame (not NUL-terminated); len -1 = null. */
struct kreq_str {
	const char *s;
	int len;
};

/* Produce v3: per partition, where its records are in the frame. */
struct kreq_produce_part {
	uint32_t topic;    /* index into topics */
	int32_t partition;
	size_t rec_off;    /* offset of the records in the frame */
	int32_t rec_len;   /* -1: null */
};
struct kreq_produce {
	struct kreq_str transactional_id;
	int16_t acks;
	int32_t timeout_ms;
	struct kc_topic *topics; /* names copied (kc_topics_parse) */
	uint32_t ntopics, nparts;
	struct kreq_produce_part *parts;
};

/* Fetch v4. */
struct kreq_fetch_part {
	uint32_t topic;
	int32_t partition;
	int64_t offset;
	int32_t max_bytes;
};
struct kreq_fetch {
	int32_t replica_id, max_wait_ms, min_bytes, max_bytes;
	int8_t isolation_level;
	struct kc_topic *topics;
	uint32_t ntopics, nparts;
	struct kreq_fetch_part *parts;
};

/* ListOffsets v1-v2. */
struct kreq_list_offsets_part {
	uint32_t topic;
	int32_t partition;
	int64_t timestamp; /* -2 earliest, -1 latest, else a time in ms */
};
struct kreq_list_offsets {
	int32_t replica_id;
	int8_t isolation_level; /* v2 */
	struct kc_topic *topics;
	uint32_t ntopics, nparts;
	struct kreq_list_offsets_part *parts;
};

/* Metadata v0-v4. */
struct kreq_metadata {
	int32_t ntopics;          /* -1: null (v1+: every topic) */
	struct kreq_str *topics;
	bool allow_auto_topic_creation; /* v4; true before */
};

/* CreateTopics v0-v3. */
struct kreq_create_topic {
	struct kreq_str name;
	int32_t partitions;
	int16_t replication;
	int32_t nassign;         /* manual assignments (refused; read and skipped) */
	int32_t nconfigs;
	char **keys, **values;   /* NUL-terminated copies; a value may be NULL (null) */
};
struct kreq_create_topics {
	int32_t n;
	struct kreq_create_topic *topics;
	int32_t timeout_ms;
	bool validate_only;      /* v1+ */
};

/* DeleteTopics v0-v3. */
struct kreq_delete_topics {
	int32_t n;
	struct kreq_str *names;
	int32_t timeout_ms;
};

/* FindCoordinator v0-v2. */
struct kreq_find_coordinator {
	struct kreq_str key;
	int8_t key_type; /* v1+; 0 (group) before */
};

/* A group member's request: group_id, generation_id (-1 where the request has none),
 * member_id, group_instance_id (v3+ of Heartbeat and SyncGroup, v5+ of JoinGroup; null
 * otherwise). Heartbeat v0-v3 and LeaveGroup v0-v1 are just this. */
struct kreq_member {
	struct kreq_str group_id;
	int32_t generation_id;
	struct kreq_str member_id;
	struct kreq_str group_instance_id;
};

/* JoinGroup v0-v5. */
struct kreq_protocol {
	struct kreq_str name;
	const uint8_t *meta; /* into the frame */
	int32_t meta_len;
};
struct kreq_join_group {
	struct kreq_member m;     /* generation_id -1 */
	int32_t session_timeout_ms;
	int32_t rebalance_timeout_ms; /* v1+; the session timeout before */
	struct kreq_str protocol_type;
	int32_t nprotocols;
	struct kreq_protocol *protocols;
};

/* SyncGroup v0-v3. */
struct kreq_assignment {
	struct kreq_str member_id;
	const uint8_t *bytes; /* into the frame */
	int32_t len;
};
struct kreq_sync_group {
	struct kreq_member m;
	int32_t n;
	struct kreq_assignment *assignments;
};

/* OffsetCommit v2-v5. */
struct kreq_offset_commit_part {
	uint32_t topic;
	int32_t partition;
	int64_t offset;
	struct kreq_str metadata; /* may be null */
};
struct kreq_offset_commit {
	struct kreq_member m;
	int64_t retention_time_ms; /* v2-v4; -1 after */
	struct kc_topic *topics;
	uint32_t ntopics, nparts;
	struct kreq_offset_commit_part *parts;
};

/* OffsetFetch v1-v4. */
struct kreq_offset_fetch_part {
	uint32_t topic;
	int32_t partition;
};
struct kreq_offset_fetch {
	struct kreq_str group_id;
	bool all; /* v2+: topics null, every partition the group committed */
	struct kc_topic *topics;
	uint32_t ntopics, nparts;
	struct kreq_offset_fetch_part *parts;
};

/* DescribeGroups v0-v2 (ListGroups v0-v2 has no body). */
struct kreq_describe_groups {
	int32_t n;
	struct kreq_str *groups;
};

/* One request frame, parsed. Pointers into the frame live as long as the frame. */
struct kafka_request {
	const uint8_t *frame;    /* what was parsed (offsets like rec_off are into it) */
	size_t len;
	struct kc_header h;
	union {
		struct kreq_produce produce;
		struct kreq_fetch fetch;
		struct kreq_list_offsets list_offsets;
		struct kreq_metadata metadata;
		struct kreq_create_topics create_topics;
		struct kreq_delete_topics delete_topics;
		struct kreq_find_coordinator find_coordinator;
		struct kreq_join_group join_group;
		struct kreq_sync_group sync_group;
		struct kreq_member member; /* Heartbeat, LeaveGroup */
		struct kreq_offset_commit offset_commit;
		struct kreq_offset_fetch offset_fetch;
		struct kreq_describe_groups describe_groups;
	} u;                     /* by h.api_key; ApiVersions v0-v2 has no body */
};

/* kafka_request_parse's results besides 0 (parsed) and -ENOMEM. */
#define KREQ_UNKNOWN_API -1000  /* no such API key here: *what says which */
#define KREQ_BAD_VERSION -1001  /* a version outside the API's range */
#define KREQ_PROBE -1002        /* an ApiVersions above ours: answer the KIP-511 way
				 * (the header is parsed, the body is not) */
#define KREQ_MALFORMED -1003    /* bytes that do not make the request: *what names the
				 * field that broke first */
#define KREQ_BAD_HEADER -1004   /* the same, in the request header */

/*
 * Parses the frame (len bytes after its size prefix). On every result the header's key,
 * version and correlation id are in req->h (as far as the frame holds them), so an
 * answer or a log line can name them; req's arrays are allocated only on 0 (free them
 * with kafka_request_free; on errors nothing is left allocated).
 */
int kafka_request_parse(const uint8_t *frame, size_t len, struct kafka_request *req, const char **what);
void kafka_request_free(struct kafka_request *req);

#endif
