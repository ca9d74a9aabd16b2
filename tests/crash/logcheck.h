/* SPDX-License-Identifier: Apache-2.0 */
/*
 * logcheck.h — an independent reader of a partition directory for the crash tests: it
 * walks every segment file with the RecordBatch codec (never with the broker's own
 * segment code) and checks what recovery promises: every batch passes its CRC and its
 * records parse, offsets run on without a gap from segment to segment, a sealed .log
 * ends at its last batch and an active one holds only zeros after it, and every .index
 * / .timeindex entry agrees with the log. It hands back the records it read (offset,
 * key id) and where each batch is, for the ack checks and for tail surgery.
 */
#ifndef PAGEBUS_LOGCHECK_H
#define PAGEBUS_LOGCHECK_H

#include <stddef.h>
#include <stdint.h>

/* The id of a record: its key when that is 8 bytes (big-endian), else LC_NO_ID. */
#define LC_NO_ID UINT64_MAX

struct lc_batch {
	int64_t seg_base;   /* the segment holding it */
	uint64_t pos, len;  /* where in that segment's .log */
	int64_t base_offset, last_offset;
};

struct lc_part {
	int64_t log_start;  /* base of the first segment */
	int64_t end;        /* next offset: the last batch's last offset + 1 */
	uint64_t *ids;      /* ids[o - log_start] for every offset o in [log_start, end) */
	struct lc_batch *batches;
	size_t nbatches;
	int64_t *seg_bases; /* every segment, sorted; the last one is active */
	size_t nsegs;
	uint64_t active_size; /* bytes of batches in the active .log */
	uint64_t torn;      /* with LC_TORN_OK: bytes after them that are not all zeros */
	uint64_t index_entries; /* .index entries checked, all segments */
};

/* lc_read flags */
#define LC_TORN_OK 1 /* the active .log may end in a torn write (a broker was killed
		      * mid-write and has not recovered yet): counted in torn, not an error */

/*
 * Reads and checks the partition directory dir. 0 and *out filled, or -1 with the first
 * violation described in err. lc_free either way.
 */
int lc_read(const char *dir, unsigned flags, struct lc_part *out, char *err, size_t errlen);
void lc_free(struct lc_part *p);

/* The batch holding offset, or NULL. */
const struct lc_batch *lc_batch_of(const struct lc_part *p, int64_t offset);

/* The key id of message (iteration, writer, seq) and its deterministic value bytes. */
static inline uint64_t lc_id(uint32_t round, uint32_t writer, uint32_t seq)
{
	return (uint64_t)round << 44 | (uint64_t)writer << 32 | seq;
}
size_t lc_value(uint64_t id, uint8_t *buf, size_t cap);

#endif
