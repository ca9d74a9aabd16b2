/* SPDX-License-Identifier: Apache-2.0 */
/*
 * consumer_protocol.h — Kafka's embedded "consumer" group protocol, the bytes a group's
 * members and leader exchange through JoinGroup and SyncGroup: ConsumerProtocolSubscription
 * and ConsumerProtocolAssignment. libpagebus writes version 0 and reads any version (the
 * fields later versions append are skipped), so local members and Kafka clients share a
 * group; the broker reads assignments to describe groups. Big-endian, bounds-checked.
 *
 *   Subscription: i16 version, i32 n, n x (i16 len, topic), i32 user_data len (-1: null), bytes
 *   Assignment:   i16 version, i32 n, n x (i16 len, topic, i32 m, m x i32 partition),
 *                 i32 user_data len (-1: null), bytes
 */
#ifndef PAGEBUS_CONSUMER_PROTOCOL_H
#define PAGEBUS_CONSUMER_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define CP_PROTOCOL_TYPE "consumer"

/* One topic of an assignment: its partitions. */
struct cp_topic_parts {
	const char *topic;
	const int32_t *parts;
	int n;
};

/* Called per topic (not NUL-terminated: len bytes); a non-zero return stops the walk
 * and is returned. */
typedef int cp_topic_fn(void *ctx, const char *topic, size_t len);
/* Called per assigned partition. */
typedef int cp_part_fn(void *ctx, const char *topic, size_t len, int32_t partition);

/* A version-0 subscription to n topics in a malloc'd buffer. 0 or -ENOMEM/-EINVAL. */
int cp_subscription_encode(const char *const *topics, int n, uint8_t **out, size_t *len);
/* Walks a subscription's topics: 0, fn's value, or -EPROTO when malformed. */
int cp_subscription_topics(const uint8_t *b, size_t len, cp_topic_fn *fn, void *ctx);

/* A version-0 assignment of n topics in a malloc'd buffer. 0 or -ENOMEM/-EINVAL. */
int cp_assignment_encode(const struct cp_topic_parts *t, int n, uint8_t **out, size_t *len);
/* Walks an assignment's partitions (empty bytes: none): 0, fn's value, or -EPROTO. */
int cp_assignment_parts(const uint8_t *b, size_t len, cp_part_fn *fn, void *ctx);

#endif
