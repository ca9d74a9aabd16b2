/* SPDX-License-Identifier: Apache-2.0 */
/*
 * index.h — a segment's two sparse indexes, in Kafka's file formats:
 *   .index      8-byte entries: int32 relativeOffset, int32 position (big-endian)
 *   .timeindex 12-byte entries: int64 timestamp, int32 relativeOffset
 * The entries live in memory (authoritative while the broker runs) and are written to
 * their files in order, lazily, and only for log bytes already fdatasynced (segment.c,
 * seg_synced): a file may lag behind its log, never run ahead of what is on disk, so
 * recovery's walk from the last entry covers every byte a power cut may have torn.
 */
#ifndef PAGEBUS_INDEX_H
#define PAGEBUS_INDEX_H

#include <stddef.h>
#include <stdint.h>

#define OINDEX_ENTRY 8
#define TINDEX_ENTRY 12

struct oindex_entry {
	uint32_t rel; /* offset - segment base */
	uint32_t pos; /* byte position of a batch in the .log */
};

struct tindex_entry {
	int64_t ts;   /* largest timestamp seen in the segment up to this point */
	uint32_t rel; /* offset of (the batch with) that timestamp - segment base */
};

/* One index file and its entries. Both kinds share this; `esize` tells them apart. */
struct index {
	int fd;
	size_t esize;    /* OINDEX_ENTRY or TINDEX_ENTRY */
	size_t n;        /* entries in memory */
	size_t cap;
	size_t flushed;  /* entries already written to the file */
	void *entries;   /* struct oindex_entry[] or struct tindex_entry[] */
};

/*
 * Opens (creating if absent) the index file at path and loads its entries. A file whose
 * size is not a multiple of the entry size is cut to the last whole entry. Returns 0 or
 * -errno. *created tells whether the file did not exist.
 */
int index_open(struct index *ix, const char *path, size_t esize, int *created);
void index_close(struct index *ix);

/* Drops every entry (memory and file): used before a rebuild. */
int index_reset(struct index *ix);
/* Keeps the first n entries (memory and file). */
int index_truncate(struct index *ix, size_t n);

int oindex_append(struct index *ix, uint32_t rel, uint32_t pos);
int tindex_append(struct index *ix, int64_t ts, uint32_t rel);

static inline const struct oindex_entry *oindex_at(const struct index *ix, size_t i)
{
	return &((const struct oindex_entry *)ix->entries)[i];
}
static inline const struct tindex_entry *tindex_at(const struct index *ix, size_t i)
{
	return &((const struct tindex_entry *)ix->entries)[i];
}

/* Index of the last entry with rel <= target, or -1 when none. */
long oindex_lookup(const struct index *ix, uint32_t rel);
/* Index of the last entry with ts <= target, or -1 when none. */
long tindex_lookup(const struct index *ix, int64_t ts);

/* Writes the entries not yet in the file (one pwrite). Returns 0 or -errno. */
int index_write(struct index *ix);
/* Writes the entries before the n-th that are not in the file yet. 0 or -errno. */
int index_write_upto(struct index *ix, size_t n);
/* index_write, then fdatasync. */
int index_sync(struct index *ix);

#endif
