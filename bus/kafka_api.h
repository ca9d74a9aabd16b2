/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_api.h — the Kafka requests the endpoint answers, dispatched through one table
 * by api_key: ApiVersions, Metadata, ListOffsets, CreateTopics, DeleteTopics, Produce
 * (here), Fetch (kafka_fetch.c) and the consumer group APIs (kafka_group.c), each acting
 * on the request kafka_request.c parsed.
 * Versions, fields and error codes follow docs/kafka.md and Kafka's message definitions;
 * every version is non-flexible except the ApiVersions v3 probe, which is refused the
 * KIP-511 way.
 */
#ifndef PAGEBUS_KAFKA_API_H
#define PAGEBUS_KAFKA_API_H

#include <stddef.h>
#include <stdint.h>

#include "kafka.h"
#include "kafka_request.h"

/* Error codes (Kafka's Errors.java) used here. */
enum {
	KERR_UNKNOWN_SERVER_ERROR = -1,
	KERR_NONE = 0,
	KERR_OFFSET_OUT_OF_RANGE = 1,
	KERR_CORRUPT_MESSAGE = 2,
	KERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
	KERR_REQUEST_TIMED_OUT = 7,
	KERR_MESSAGE_TOO_LARGE = 10,
	KERR_OFFSET_METADATA_TOO_LARGE = 12,
	KERR_COORDINATOR_NOT_AVAILABLE = 15,
	KERR_NOT_COORDINATOR = 16,
	KERR_INVALID_TOPIC_EXCEPTION = 17,
	KERR_INVALID_REQUIRED_ACKS = 21,
	KERR_ILLEGAL_GENERATION = 22,
	KERR_INCONSISTENT_GROUP_PROTOCOL = 23,
	KERR_INVALID_GROUP_ID = 24,
	KERR_UNKNOWN_MEMBER_ID = 25,
	KERR_INVALID_SESSION_TIMEOUT = 26,
	KERR_REBALANCE_IN_PROGRESS = 27,
	KERR_INVALID_COMMIT_OFFSET_SIZE = 28,
	KERR_UNSUPPORTED_VERSION = 35,
	KERR_TOPIC_ALREADY_EXISTS = 36,
	KERR_INVALID_PARTITIONS = 37,
	KERR_INVALID_REPLICATION_FACTOR = 38,
	KERR_INVALID_CONFIG = 40,
	KERR_INVALID_REQUEST = 42,
	KERR_MEMBER_ID_REQUIRED = 79,
	KERR_GROUP_MAX_SIZE_REACHED = 81,
	KERR_INVALID_RECORD = 87,
};

/* A handler's result besides 0 (answered or queued) and -errno (the connection is
 * closed): the request must be retried on a later loop turn, with nothing after it
 * handled before it (kafka_api_resume). */
#define KAFKA_BLOCKED 1

/* One request frame (after its size prefix). 0, KAFKA_BLOCKED, or < 0 when the
 * connection was closed (malformed, unsupported, out of memory; logged). */
int kafka_api_request(struct kconn *c, const uint8_t *frame, size_t len);
/* Retries the request that returned KAFKA_BLOCKED; frame is the same bytes. */
int kafka_api_resume(struct kconn *c, const uint8_t *frame, size_t len);
/* The writer's ack of a Produce batch (cookie from writer_add). */
void kafka_api_produce_ack(uint64_t cookie, int64_t offset, int err);

#endif
