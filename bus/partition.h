/* SPDX-License-Identifier: Apache-2.0 */
/*
 * partition.h — a partition log: the directory `<topic>-<partition>/` and its segments.
 * One writer (the broker). Appends are two-phase so the broker can write the bytes with
 * io_uring: part_reserve assigns offsets and a file position, the caller writes, then
 * part_commit publishes them (or part_abort takes them back). part_append does all
 * three synchronously. Reads return byte ranges (fd, position, length) of whole batches.
 */
#ifndef PAGEBUS_PARTITION_H
#define PAGEBUS_PARTITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record_batch.h"
#include "segment.h"

struct log_config {
	uint64_t segment_bytes;        /* roll when the next batch would pass this (1 GiB) */
	int64_t segment_ms;            /* roll when the segment's first append is this old (7 d) */
	uint32_t index_interval_bytes; /* bytes between index entries (4096) */
	int64_t retention_bytes;       /* keep at most this many bytes; -1 = unlimited */
	int64_t retention_ms;          /* delete segments whose newest record is older; -1 = keep */
	bool preallocate;              /* fallocate new segments instead of leaving them sparse */
};

/* Kafka's defaults, except retention.ms (-1: pagebus keeps data unless told). */
void log_config_defaults(struct log_config *cfg);
/* Checks ranges: 0 or -EINVAL (and *what names the bad key). */
int log_config_check(const struct log_config *cfg, const char **what);

struct partition {
	char *dir;
	char *name;               /* directory base name, for log lines: "<topic>-<p>" */
	struct log_config cfg;
	struct segment **segs;    /* sorted by base offset; the last one is active */
	size_t nsegs, segs_cap;
	int64_t log_start;        /* first offset still on disk */
	int64_t next_offset;      /* next offset to reserve (log end offset incl. in-flight) */
	int64_t hwm;              /* high watermark: every offset below is committed */
	uint64_t generation;      /* bumped whenever the segment list changes */
};

/* A reserved append: where the batch goes and which offsets it got. */
struct part_reservation {
	struct segment *seg;
	uint64_t pos;
	uint64_t len;
	int64_t base_offset;
	int64_t last_offset;
};

/* A committed byte range of whole batches inside one segment. */
struct part_range {
	struct segment *seg;     /* referenced: release with part_range_release */
	int fd;                  /* the segment's O_RDONLY fd */
	uint64_t pos;
	uint64_t len;
	int64_t first_offset;    /* baseOffset of the first batch (may be < the asked offset) */
	int64_t last_offset;     /* last offset of the last batch */
};

/* Where a batch is. */
struct part_pos {
	struct segment *seg;
	uint64_t pos;
	struct rb_header hdr;
};

/* Opens (creating the directory and a first segment when needed) and recovers. */
int part_open(const char *dir, const struct log_config *cfg, struct partition **out);
/* Writes index entries back and closes; fds stay open while ranges hold segments. */
void part_close(struct partition *p);

/*
 * Reserves room for one validated batch (h from rb_validate, len its total size):
 * rolls first when the batch would not fit, when segment.ms elapsed or when its offsets
 * would not fit a 32-bit relative offset. Rolling needs every earlier reservation
 * committed: otherwise -EBUSY (commit what is in flight, then retry). A batch larger
 * than segment.bytes: -EMSGSIZE. The caller patches baseOffset = r->base_offset into
 * the bytes it writes and writes them at (r->seg->fd, r->pos).
 */
int part_reserve(struct partition *p, const struct rb_header *h, uint64_t len, int64_t now_ms,
		 struct part_reservation *r);
/* Publishes a reservation whose bytes are written. In reservation order. */
void part_commit(struct partition *p, const struct part_reservation *r);

/*
 * A point of the log for durability: a segment (referenced), a byte position in it and
 * the offset that starts there. Take one before issuing an fdatasync (or build one from
 * a reservation whose write the fdatasync follows); when the fdatasync succeeded,
 * part_synced lets the index files point up to it (see seg_synced) and releases it.
 */
struct part_mark {
	struct segment *seg;
	uint64_t pos;
	int64_t next_offset;
};
/* The committed end of the log (active segment, committed bytes, high watermark). */
void part_mark_committed(struct partition *p, struct part_mark *m);
/* res: the fdatasync's result; only 0 moves the mark. Releases m either way. */
void part_synced(struct partition *p, struct part_mark *m, int res);
/* Takes back r and every later reservation (their write failed). */
int part_abort(struct partition *p, const struct part_reservation *r);

/* reserve + pwrite + commit. batch is patched in place (baseOffset). Returns 0 and
 * *base_offset, or -errno (nothing of the batch becomes visible on error). */
int part_append(struct partition *p, void *batch, uint64_t len, int64_t now_ms, int64_t *base_offset);

/*
 * Committed whole batches from the one containing `offset`, up to max_bytes (the first
 * batch is returned whole even when larger), within one segment. Returns 1 with *r
 * filled, 0 when offset == high watermark (nothing yet), -ERANGE when offset is below
 * the log start or above the high watermark.
 */
int part_read(struct partition *p, int64_t offset, uint64_t max_bytes, struct part_range *r);
void part_range_release(struct part_range *r);

/* The batch containing offset (log_start <= offset < hwm): 0, or -ERANGE. */
int part_lookup_offset(struct partition *p, int64_t offset, struct part_pos *out);
/* The first committed batch whose maxTimestamp >= ts: 0, or -ENOENT when none. */
int part_lookup_time(struct partition *p, int64_t ts, struct part_pos *out);
/* The first record with timestamp >= ts: 0 with *offset and *ts_out, or -ENOENT.
 * For a compressed batch, its first offset and maxTimestamp (records not readable). */
int part_offset_for_time(struct partition *p, int64_t ts, int64_t *offset, int64_t *ts_out);

/* Deletes whole non-active segments past retention.bytes / retention.ms, oldest first,
 * advancing the log start. Returns the number of segments deleted or -errno. */
int part_retention(struct partition *p, int64_t now_ms);

/* fdatasync of the active segment; then its index files catch up with it. */
int part_flush(struct partition *p);

/* Bytes of all segments (their tails). */
uint64_t part_bytes(const struct partition *p);

#endif
