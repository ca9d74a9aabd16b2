/* SPDX-License-Identifier: Apache-2.0 */
/*
 * topics.h — the topic registry: which topics exist (id, name, partition count, per-topic
 * overrides), persisted in DIR/topics.meta, and the open partition logs of each. One
 * owner (the broker's loop); nothing here prints: errors come back as -errno + message.
 */
#ifndef PAGEBUS_TOPICS_H
#define PAGEBUS_TOPICS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "partition.h"

#define TOPIC_NAME_MAX 249 /* Kafka's limit */

struct topic_override {
	char *key;   /* a per-topic config key (CONFIG_TOPIC) */
	char *value; /* as given, already validated */
};

struct topic {
	uint32_t id; /* >= 1, never reused */
	char *name;
	int32_t nparts;
	struct log_config cfg;		  /* effective: broker defaults + overrides */
	struct topic_override *overrides; /* in the order given at creation */
	int noverrides;
	struct partition **parts; /* nparts open logs, DIR/<name>-<p> */
	void *ctx;		  /* the broker's; topics never touches it */
};

struct topics {
	char *dir;
	const struct broker_config *cfg; /* must outlive the registry */
	struct topic **v;		 /* in creation order */
	size_t n;
	uint32_t next_id;
};

/*
 * Reads DIR/topics.meta (missing: no topics) and opens every partition with its topic's
 * effective log_config; removes `*.deleted` leftovers of an interrupted delete and a
 * stale topics.meta.tmp. t is the caller's storage. 0, or -errno with err set (a
 * malformed registry: -EINVAL, naming the line) and nothing left open.
 */
int topics_open(struct topics *t, const struct broker_config *cfg, char *err, size_t errlen);
/* Closes every partition and frees every topic; t may be zeroed or half-opened. */
void topics_close(struct topics *t);

/*
 * Creates a topic of `partitions` partitions (1..CONFIG_PARTITIONS_MAX; the caller maps
 * "unspecified" to default.partitions) with n per-topic overrides keys[i]=values[i].
 * The registry is on disk (fsynced) before it returns 0 and *out points at the topic
 * (owned by t). Errors, with err set: -EINVAL (name, count, override), -EEXIST (a topic
 * of that name, or a stray partition directory of that name on disk), -ENOSPC (past
 * max.partitions or out of ids), -errno from the file system.
 */
int topics_create(struct topics *t, const char *name, int32_t partitions, const char *const *keys,
		  const char *const *values, int n, struct topic **out, char *err, size_t errlen);

/*
 * Deletes a topic: persists the registry without it (the point of no return), closes
 * its partitions, renames each directory to `<dir>.deleted` and removes it. The topic
 * pointer (and its ctx, which the broker must release first) is freed. 0, -ENOENT, or
 * -errno when the registry cannot be written (the topic stays). A failure after the
 * registry is written still returns 0: leftovers are removed by the next topics_open.
 */
int topics_delete(struct topics *t, const char *name, char *err, size_t errlen);

/* Lookups; the topic stays valid until it is deleted or t closed. NULL when absent. */
struct topic *topics_find(const struct topics *t, const char *name);
struct topic *topics_by_id(const struct topics *t, uint32_t id);

/* 1 when name is a valid topic name ([a-zA-Z0-9._-], 1..249 chars, not "." or ".."). */
int topics_name_valid(const char *name);

#endif
