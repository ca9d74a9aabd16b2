/* SPDX-License-Identifier: Apache-2.0 */
/*
 * segment.h — one segment of a partition log: `<base>.log` (RecordBatch v2 back to
 * back), `<base>.index` and `<base>.timeindex`, named by the 20-digit base offset.
 * The active segment's .log is sized to segment.bytes when created (sparse, or
 * fallocated) so readers can map it whole; sealing cuts it to its real length.
 */
#ifndef PAGEBUS_SEGMENT_H
#define PAGEBUS_SEGMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "index.h"
#include "record_batch.h"

struct log_config;

struct segment {
	int64_t base;            /* base offset: the file name */
	int fd;                  /* .log, O_RDWR: the broker's write fd */
	int ro_fd;               /* .log, O_RDONLY: the fd handed to readers and mapped */
	const uint8_t *map;      /* read-only shared mapping of the .log (map_len bytes) */
	uint64_t map_len;
	uint64_t size;           /* tail: bytes of batches appended (reserved) */
	uint64_t committed;      /* bytes whose write completed: readers stop here */
	uint64_t synced;         /* bytes known to be on disk (fdatasynced): the index files
				  * hold entries below this only (seg_synced) */
	int64_t synced_next;     /* the offset that follows the synced bytes */
	uint64_t alloc;          /* file size: >= segment.bytes while active, size once sealed */
	int64_t next_offset;     /* last offset appended + 1 (base when empty) */
	int64_t max_ts;          /* largest batch maxTimestamp, -1 when empty */
	int64_t max_ts_offset;   /* last offset of the batch that carried max_ts */
	int64_t first_ms;        /* time of the first append (segment.ms rolls from it) */
	uint64_t since_index;    /* bytes appended since the last index entry */
	struct index oix, tix;
	bool sealed;
	int refs;                /* holders: the partition + readers of ranges */
	char *path;              /* "<dir>/<20-digit base>" (no extension) */
};

/* Why seg_walk stopped. */
enum seg_stop { SEG_STOP_END, SEG_STOP_ZEROS, SEG_STOP_CORRUPT };

/*
 * Creates a new, empty active segment in dir at base offset `base`: the .log sized to
 * cfg->segment_bytes (sparse, or fallocated when cfg->preallocate). Returns 0 or -errno.
 */
int seg_create(const char *dir, int64_t base, const struct log_config *cfg, struct segment **out);

/*
 * Opens an existing segment and recovers it: indexes are checked and rebuilt when
 * missing, short or inconsistent; batches after the last index entry are validated
 * (bounds, CRC, contiguous offsets) and the log is cut at the first invalid one; the
 * bytes after the last good batch of the active segment are cleared when they are not
 * all zeros. What recovery keeps is made durable (the active .log is fdatasynced) before
 * the index files are brought up to it.
 * `active`: the last segment of the partition (kept sized for appends). *cut_bytes
 * tells how many bytes of non-zero garbage were truncated (0 for a clean tail).
 */
int seg_open(const char *dir, int64_t base, bool active, const struct log_config *cfg,
	     struct segment **out, uint64_t *cut_bytes);

/* Reference counting: a segment is freed (fds closed, unmapped) at its last put. */
static inline struct segment *seg_get(struct segment *s)
{
	s->refs++;
	return s;
}
void seg_put(struct segment *s);

/*
 * Book-keeps one batch of `len` bytes appended at s->size (index entries by the
 * index.interval.bytes rule, max timestamp, tail). The bytes themselves are written by
 * the caller.
 */
int seg_track(struct segment *s, const struct rb_header *h, uint64_t len, uint32_t interval);

/* Cuts the tail back to pos (a batch boundary) whose first offset is next_offset:
 * indexes trimmed, max timestamp recomputed, bytes past pos cleared. */
int seg_truncate(struct segment *s, uint64_t pos, int64_t next_offset, uint32_t interval);

/* Writes pending index entries, adds the final time-index entry, cuts the .log to its
 * length and fdatasyncs all three files. The segment takes no more appends. */
int seg_seal(struct segment *s);

/*
 * The .log is on disk up to pos, where offset next_offset starts (an fdatasync issued
 * after those bytes were written completed): index entries below that point go to their
 * files. Index files never run ahead of the synced log, so after a power cut the last
 * entry on disk points at a batch that is there, and recovery's walk from it covers
 * every byte the cut may have torn. Marks only grow. 0, or -errno of an index write
 * (the entries stay pending and go with the next call).
 */
int seg_synced(struct segment *s, uint64_t pos, int64_t next_offset);

/* fdatasync of the .log, then seg_synced up to its committed bytes (whose next offset
 * is committed_next). */
int seg_flush(struct segment *s, int64_t committed_next);

/* Unlinks the three files (the segment stays usable through open fds/mappings). */
void seg_unlink(struct segment *s);

/*
 * Position of the batch containing `offset` (base <= offset < committed next offset):
 * offset index, then a short scan. Returns 0 and fills *pos and *h, or -ENOENT.
 */
int seg_find_offset(const struct segment *s, int64_t offset, uint64_t *pos, struct rb_header *h);

/* First batch whose maxTimestamp >= ts, from the time index and then a scan.
 * Returns 0 and fills *pos and *h, or -ENOENT. */
int seg_find_time(const struct segment *s, int64_t ts, uint64_t *pos, struct rb_header *h);

/* Header of the committed batch at pos (trusted: the log is validated on open). */
int seg_batch_at(const struct segment *s, uint64_t pos, struct rb_header *h);

#endif
