/* SPDX-License-Identifier: Apache-2.0 */
/*
 * offsets.h — committed offsets of named consumers: (name, topic, partition) -> next
 * offset, persisted in DIR/consumer-offsets (written atomically: write, fsync, rename)
 * before a commit is acknowledged, and restored on start.
 */
#ifndef PAGEBUS_OFFSETS_H
#define PAGEBUS_OFFSETS_H

#include <stdint.h>
#include <stddef.h>

struct offset_entry {
	char *name;
	char *topic;
	int32_t partition;
	int64_t offset;
};

struct offsets {
	char *dir;
	char *path;
	struct offset_entry *v;
	size_t n, cap;
};

/* Loads DIR/consumer-offsets (missing: empty). -EINVAL on a malformed file. */
int offsets_open(struct offsets *o, const char *dir);
void offsets_close(struct offsets *o);
/* Names follow the topic-name rules ([a-zA-Z0-9._-], 1..249). */
int offsets_commit(struct offsets *o, const char *name, const char *topic, int32_t partition,
		   int64_t offset);
/* 0 and *offset, or -ENOENT. */
int offsets_fetch(const struct offsets *o, const char *name, const char *topic, int32_t partition,
		  int64_t *offset);
/* Forgets every offset of a deleted topic (persisted). */
int offsets_drop_topic(struct offsets *o, const char *topic);

#endif
