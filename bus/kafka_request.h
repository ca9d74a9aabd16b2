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
