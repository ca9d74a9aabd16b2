/* SPDX-License-Identifier: Apache-2.0 */
/*
 * offsets.h — committed offsets of named consumers and consumer groups (a group's name
 * is its offset name): (name, topic, partition) -> next offset and a metadata string,
 * persisted in DIR/consumer-offsets (written atomically: write, fsync, rename) before a
 * commit is acknowledged, and restored on start.
 */
#ifndef PAGEBUS_OFFSETS_H
#define PAGEBUS_OFFSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of a name (a Kafka group id may hold any printable byte) and of metadata. */
#define OFFSETS_NAME_MAX 249
#define OFFSETS_METADATA_MAX 4096

struct offset_entry {
	char *name;
	char *topic;
	int32_t partition;
	int64_t offset;
	char *metadata; /* NULL when none (committed as null or "") */
};

struct offsets {
	char *dir;
	char *path;
	struct offset_entry *v;
	size_t n, cap;
};

/* One partition of offsets_commit_batch(). offset < 0 forgets the stored offset. */
struct offset_update {
	const char *topic;      /* NUL-terminated */
	int32_t partition;
	int64_t offset;
	const char *metadata;   /* NULL or metadata_len bytes (not NUL-terminated) */
	size_t metadata_len;
};

/*
 * Loads DIR/consumer-offsets (missing: empty). -EINVAL on a malformed file. The file has
 * one line per entry, `<name> <topic> <partition> <offset> [<metadata>]`, name and
 * metadata percent-encoded (every byte outside [A-Za-z0-9._-] as %XX); files written
 * before metadata existed are read as they are.
 */
int offsets_open(struct offsets *o, const char *dir);
void offsets_close(struct offsets *o);
/* A usable name: 1..OFFSETS_NAME_MAX bytes, no control characters. */
bool offsets_name_valid(const char *name);
/* A named consumer's commit (no metadata): valid name and topic, offset >= 0. */
int offsets_commit(struct offsets *o, const char *name, const char *topic, int32_t partition,
		   int64_t offset);
/*
 * Every update of one request stored with one durable write, or none of them: 0, or
 * -EINVAL (a bad name, topic or partition, metadata past OFFSETS_METADATA_MAX),
 * -ENOMEM or the write's -errno, with the table as it was.
 */
int offsets_commit_batch(struct offsets *o, const char *name, const struct offset_update *u, size_t n);
/* 0 and *offset (and *metadata, NULL when none; valid until the next change), or -ENOENT. */
int offsets_fetch(const struct offsets *o, const char *name, const char *topic, int32_t partition,
		  int64_t *offset);
int offsets_fetch_meta(const struct offsets *o, const char *name, const char *topic, int32_t partition,
		       int64_t *offset, const char **metadata);
/* Forgets every offset of a deleted topic (persisted). */
int offsets_drop_topic(struct offsets *o, const char *topic);

#endif
