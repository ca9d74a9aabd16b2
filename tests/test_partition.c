/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_partition.c — the partition log: appends across rolls, reads, lookups by offset
 * and time at every boundary, crash recovery (torn, corrupt, zero tails, lost
 * indexes), retention, two-phase appends and reopen.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "byteorder.h"
#include "logging.h"
#include "pagebus.h"
#include "partition.h"
#include "record_batch.h"
#include "testutil.h"

struct fixture {
	char *root;
	char dir[4096];
	struct log_config cfg;
	struct partition *p;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->root = tu_tmpdir("part");
	snprintf(f->dir, sizeof(f->dir), "%s/demo-0", f->root);
	log_config_defaults(&f->cfg);
	f->cfg.segment_bytes = 64 * 1024;
	f->cfg.index_interval_bytes = 1024;
	log_set_level(LOG_ERROR);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	part_close(f->p);
	tu_rmrf(f->root);
	free(f->root);
	free(f);
	return 0;
}

static void reopen(struct fixture *f)
{
	part_close(f->p);
	f->p = NULL;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
}

/* Appends n batches of `per` records (value_len bytes), timestamps 1000 + offset. */
static void append_n(struct fixture *f, int n, int per, size_t value_len)
{
	for (int i = 0; i < n; i++) {
		size_t len;
		int64_t next = f->p->next_offset, base = -1;
		uint8_t *b = tu_batch("m", per, value_len, 1000 + next, &len);
		assert_int_equal(part_append(f->p, b, len, 0, &base), 0);
		assert_int_equal(base, next);
		free(b);
	}
}

/* Reads every batch from `from` to the HWM and checks offsets run on without a gap. */
static int64_t read_all(struct partition *p, int64_t from, uint64_t max_bytes)
{
	int64_t next = from, records = 0;
	while (next < p->hwm) {
		struct part_range r;
		assert_int_equal(part_read(p, next, max_bytes, &r), 1);
		assert_true(r.first_offset <= next);
		uint8_t *buf = malloc(r.len);
		assert_int_equal(pread(r.fd, buf, r.len, (off_t)r.pos), (ssize_t)r.len);
		uint64_t at = 0;
		while (at < r.len) {
			struct rb_header h;
			long sz = rb_validate(buf + at, r.len - at, true, &h);
			assert_true(sz > 0);
			if (rb_last_offset(&h) >= next) {
				assert_true(h.base_offset <= next);
				records += rb_last_offset(&h) + 1 - next;
				next = rb_last_offset(&h) + 1;
			}
			at += (uint64_t)sz;
		}
		assert_int_equal(next, r.last_offset + 1);
		free(buf);
		part_range_release(&r);
	}
	return records;
}

static void test_partition_creates_first_segment_sized_for_mapping(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	assert_int_equal(f->p->nsegs, 1);
	assert_int_equal(f->p->log_start, 0);
	assert_int_equal(f->p->hwm, 0);
	assert_int_equal(tu_file_size(tu_seg_file(f->dir, 0, ".log")), (long long)f->cfg.segment_bytes);
	assert_int_equal(tu_file_size(tu_seg_file(f->dir, 0, ".index")), 0);
	assert_int_equal(tu_file_size(tu_seg_file(f->dir, 0, ".timeindex")), 0);
	struct part_range r;
	assert_int_equal(part_read(f->p, 0, 1024, &r), 0);
	assert_int_equal(part_read(f->p, 1, 1024, &r), -ERANGE);
}

static void test_partition_appends_and_reads_across_rolls(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	append_n(f, 300, 5, 100); /* ~ 300 * 640 B = 190 KiB: several 64 KiB segments */
	assert_int_equal(f->p->hwm, 1500);
	assert_true(f->p->nsegs >= 3);
	for (size_t i = 0; i + 1 < f->p->nsegs; i++) {
		struct segment *s = f->p->segs[i];
		assert_true(s->sealed);
		/* sealed: cut to the real length, next segment starts where it ends */
		assert_int_equal(tu_file_size(tu_seg_file(f->dir, s->base, ".log")), (long long)s->size);
		assert_int_equal(f->p->segs[i + 1]->base, s->next_offset);
		assert_true(s->size <= f->cfg.segment_bytes);
	}
	assert_int_equal(read_all(f->p, 0, 4096), 1500);
	assert_int_equal(read_all(f->p, 0, 1), 1500); /* one whole batch per read */
	assert_int_equal(read_all(f->p, 777, 100000), 1500 - 777);
}

static void test_partition_read_returns_whole_batches_within_limit(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	size_t one;
	uint8_t *b = tu_batch("m", 4, 50, 0, &one);
	free(b);
	append_n(f, 20, 4, 50);
	struct part_range r;
	/* limit smaller than a batch: the first batch anyway */
	assert_int_equal(part_read(f->p, 5, 10, &r), 1);
	assert_int_equal(r.first_offset, 4);
	assert_int_equal(r.last_offset, 7);
	assert_int_equal(r.len, one);
	assert_int_equal(r.pos, one);
	part_range_release(&r);
	/* exactly three batches */
	assert_int_equal(part_read(f->p, 0, 3 * one + one - 1, &r), 1);
	assert_int_equal(r.len, 3 * one);
	assert_int_equal(r.last_offset, 11);
	part_range_release(&r);
	/* everything: stops at the high watermark */
	assert_int_equal(part_read(f->p, 0, 1 << 20, &r), 1);
	assert_int_equal(r.len, 20 * one);
	assert_int_equal(r.last_offset, 79);
	part_range_release(&r);
	assert_int_equal(part_read(f->p, 80, 1024, &r), 0);
	assert_int_equal(part_read(f->p, 81, 1024, &r), -ERANGE);
	assert_int_equal(part_read(f->p, -1, 1024, &r), -ERANGE);
}

static void test_partition_offset_lookup_at_every_boundary(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	append_n(f, 200, 3, 200);
	assert_true(f->p->nsegs >= 3);
	struct part_pos at;
	for (int64_t o = 0; o < f->p->hwm; o++) {
		assert_int_equal(part_lookup_offset(f->p, o, &at), 0);
		assert_true(at.hdr.base_offset <= o && rb_last_offset(&at.hdr) >= o);
		assert_true(at.seg->base <= o && o < at.seg->next_offset);
	}
	for (size_t i = 0; i < f->p->nsegs; i++) {
		struct segment *s = f->p->segs[i];
		assert_int_equal(part_lookup_offset(f->p, s->base, &at), 0); /* first of segment */
		assert_int_equal(at.pos, 0);
		assert_ptr_equal(at.seg, s);
		assert_int_equal(part_lookup_offset(f->p, s->next_offset - 1, &at), 0); /* last */
		assert_ptr_equal(at.seg, s);
		assert_int_equal(at.pos + rb_total_size(&at.hdr), s->size);
	}
	assert_int_equal(part_lookup_offset(f->p, -1, &at), -ERANGE);
	assert_int_equal(part_lookup_offset(f->p, f->p->hwm, &at), -ERANGE);
	assert_int_equal(part_lookup_offset(f->p, f->p->hwm + 100, &at), -ERANGE);
}

static void test_partition_time_lookup_at_every_boundary(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	append_n(f, 200, 3, 200); /* record at offset o has timestamp 1000 + o */
	int64_t off, ts;
	for (int64_t o = 0; o < f->p->hwm; o += 7) {
		assert_int_equal(part_offset_for_time(f->p, 1000 + o, &off, &ts), 0);
		assert_int_equal(off, o);
		assert_int_equal(ts, 1000 + o);
	}
	assert_int_equal(part_offset_for_time(f->p, 0, &off, &ts), 0); /* before the first */
	assert_int_equal(off, 0);
	assert_int_equal(part_offset_for_time(f->p, 1000 + 599, &off, &ts), 0); /* the last */
	assert_int_equal(off, 599);
	assert_int_equal(part_offset_for_time(f->p, 1000 + 600, &off, &ts), -ENOENT); /* past */
	for (size_t i = 1; i < f->p->nsegs; i++) { /* between segments */
		struct segment *s = f->p->segs[i];
		struct part_pos at;
		assert_int_equal(part_lookup_time(f->p, 1000 + s->base, &at), 0);
		assert_ptr_equal(at.seg, s);
		assert_int_equal(at.pos, 0);
		assert_int_equal(part_lookup_time(f->p, 1000 + s->base - 1, &at), 0);
		assert_ptr_equal(at.seg, f->p->segs[i - 1]);
	}
}

static void test_partition_index_files_use_kafka_layout(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	append_n(f, 300, 5, 100);
	struct segment *s = f->p->segs[0];
	size_t len;
	uint8_t *ix = tu_read_file(tu_seg_file(f->dir, s->base, ".index"), &len);
	assert_non_null(ix);
	assert_true(len >= 8 && len % 8 == 0);
	uint32_t prev_rel = 0, prev_pos = 0;
	for (size_t i = 0; i < len; i += 8) {
		uint32_t rel = be32_get(ix + i), pos = be32_get(ix + i + 4);
		assert_true(i == 0 || (rel > prev_rel && pos > prev_pos));
		/* keyed by the last offset of the batch at pos, as Kafka does */
		struct part_pos at;
		assert_int_equal(part_lookup_offset(f->p, s->base + rel, &at), 0);
		assert_int_equal(at.pos, pos);
		assert_int_equal(rb_last_offset(&at.hdr), s->base + rel);
		prev_rel = rel;
		prev_pos = pos;
	}
	free(ix);
	uint8_t *tix = tu_read_file(tu_seg_file(f->dir, s->base, ".timeindex"), &len);
	assert_true(len >= 12 && len % 12 == 0);
	/* the final entry holds the segment's max timestamp and its offset */
	assert_int_equal((int64_t)be64_get(tix + len - 12), 1000 + s->next_offset - 1);
	assert_int_equal(be32_get(tix + len - 4), s->next_offset - 1 - s->base);
	free(tix);
}

/* Bytes of the log in the active segment, for tail surgery. */
static void tail_info(struct fixture *f, int64_t *base, uint64_t *size, uint64_t *last_pos)
{
	struct segment *s = f->p->segs[f->p->nsegs - 1];
	struct part_pos at;
	*base = s->base;
	*size = s->size;
	assert_int_equal(part_lookup_offset(f->p, f->p->hwm - 1, &at), 0);
	*last_pos = at.pos;
}

static void write_at(const char *path, uint64_t pos, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, (off_t)pos), (ssize_t)len);
	close(fd);
}

static void test_partition_recovers_from_truncated_last_batch(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	append_n(f, 30, 5, 100);
	int64_t base;
	uint64_t size, last_pos;
	tail_info(f, &base, &size, &last_pos);
	int64_t before_last = f->p->hwm - 5;
	part_close(f->p);
	f->p = NULL;
	/* a torn write: the last batch is cut in the middle, the rest of the file zeros */
	const char *log = tu_seg_file(f->dir, base, ".log");
	assert_int_equal(truncate(log, (off_t)(last_pos + 30)), 0);
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	assert_int_equal(f->p->hwm, before_last);
	assert_int_equal(f->p->segs[f->p->nsegs - 1]->size, last_pos);
	assert_int_equal(tu_file_size(log), (long long)f->cfg.segment_bytes);
	assert_int_equal(read_all(f->p, 0, 4096), before_last);
	append_n(f, 1, 5, 100); /* appends continue where the valid log ended */
	assert_int_equal(f->p->hwm, before_last + 5);
	reopen(f);
	assert_int_equal(f->p->hwm, before_last + 5);
}

static void test_partition_recovers_from_flipped_byte_in_last_batch(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	append_n(f, 30, 5, 100);
	int64_t base;
	uint64_t size, last_pos;
	tail_info(f, &base, &size, &last_pos);
	int64_t hwm = f->p->hwm;
	part_close(f->p);
	f->p = NULL;
	const char *log = tu_seg_file(f->dir, base, ".log");
	uint8_t bad = 0xA5;
	write_at(log, last_pos + RB_HEADER_SIZE + 10, &bad, 1); /* inside a record: CRC fails */
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	assert_int_equal(f->p->hwm, hwm - 5);
	assert_int_equal(f->p->segs[f->p->nsegs - 1]->size, last_pos);
	/* the corrupt bytes are gone, not just hidden: the next append is clean */
	size_t len;
	uint8_t *rest = tu_read_file(log, &len);
	for (uint64_t i = last_pos; i < size; i++)
		assert_int_equal(rest[i], 0);
	free(rest);
	append_n(f, 1, 2, 10);
	reopen(f);
	assert_int_equal(f->p->hwm, hwm - 5 + 2);
	assert_int_equal(read_all(f->p, 0, 4096), hwm - 5 + 2);
}

static void test_partition_recovers_from_zero_tail_and_half_header(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	append_n(f, 30, 5, 100);
	int64_t base;
	uint64_t size, last_pos;
	tail_info(f, &base, &size, &last_pos);
	int64_t hwm = f->p->hwm;
	part_close(f->p);
	f->p = NULL;
	const char *log = tu_seg_file(f->dir, base, ".log");
	/* the last batch zeroed out (a write that never reached the disk) */
	uint8_t *zeros = calloc(1, size - last_pos);
	write_at(log, last_pos, zeros, size - last_pos);
	free(zeros);
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	assert_int_equal(f->p->hwm, hwm - 5);
	part_close(f->p);
	f->p = NULL;
	/* half a batch header where the next batch would go */
	uint8_t half[20];
	memset(half, 0, sizeof(half));
	be32_put(half + 8, 500);
	write_at(log, last_pos, half, sizeof(half));
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	assert_int_equal(f->p->hwm, hwm - 5);
	assert_int_equal(read_all(f->p, 0, 4096), hwm - 5);
}

static void test_partition_rebuilds_deleted_or_inconsistent_index(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	append_n(f, 300, 5, 100);
	int64_t hwm = f->p->hwm, seg0 = f->p->segs[0]->base, seg1 = f->p->segs[1]->base;
	size_t len0, tlen0;
	uint8_t *ix0 = tu_read_file(tu_seg_file(f->dir, seg0, ".index"), &len0);
	uint8_t *tx0 = tu_read_file(tu_seg_file(f->dir, seg0, ".timeindex"), &tlen0);
	part_close(f->p);
	f->p = NULL;
	assert_int_equal(unlink(tu_seg_file(f->dir, seg0, ".index")), 0);
	assert_int_equal(unlink(tu_seg_file(f->dir, seg0, ".timeindex")), 0);
	/* garbage in the second segment's index: positions not increasing */
	uint8_t junk[16] = { 0, 0, 0, 9, 0, 0, 0x10, 0, 0, 0, 0, 5, 0, 0, 0, 1 };
	write_at(tu_seg_file(f->dir, seg1, ".index"), 0, junk, sizeof(junk));
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	assert_int_equal(f->p->hwm, hwm);
	size_t len, tlen;
	uint8_t *ix = tu_read_file(tu_seg_file(f->dir, seg0, ".index"), &len);
	uint8_t *tx = tu_read_file(tu_seg_file(f->dir, seg0, ".timeindex"), &tlen);
	assert_int_equal(len, len0); /* rebuilt byte for byte */
	assert_memory_equal(ix, ix0, len);
	assert_int_equal(tlen, tlen0);
	assert_memory_equal(tx, tx0, tlen);
	free(ix);
	free(tx);
	free(ix0);
	free(tx0);
	struct part_pos at;
	for (int64_t o = 0; o < hwm; o += 3)
		assert_int_equal(part_lookup_offset(f->p, o, &at), 0);
	assert_int_equal(read_all(f->p, 0, 8192), hwm);
}

/* Bytes [from, to) of a file set to zero. */
static void zero_at(const char *path, uint64_t from, uint64_t to)
{
	uint8_t *z = calloc(1, to - from);
	write_at(path, from, z, to - from);
	free(z);
}

static void test_partition_index_files_never_point_past_synced_log(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	append_n(f, 20, 5, 100);
	int64_t synced_hwm = f->p->hwm;
	struct segment *s = f->p->segs[f->p->nsegs - 1];
	assert_true(s->oix.n > 0);
	const char *ix = tu_seg_file(f->dir, s->base, ".index");
	/* appended, not yet fdatasynced: nothing of it in the index file */
	assert_int_equal(tu_file_size(ix), 0);
	assert_int_equal(part_flush(f->p), 0);
	long long synced_len = tu_file_size(ix);
	assert_int_equal(synced_len, (long long)(s->oix.n * 8));
	append_n(f, 20, 5, 100);
	int64_t base = s->base, hwm = f->p->hwm;
	uint64_t size = s->size;
	/* a power cut: one page past the synced bytes never reached the disk, later ones did */
	struct part_pos at;
	assert_int_equal(part_lookup_offset(f->p, synced_hwm + 10, &at), 0);
	uint64_t hole = (at.pos + 4095) / 4096 * 4096;
	assert_true(hole + 4096 < size);
	int64_t first_lost = -1;
	for (int64_t o = synced_hwm; o < hwm && first_lost < 0; o++) {
		assert_int_equal(part_lookup_offset(f->p, o, &at), 0);
		if (at.pos + rb_total_size(&at.hdr) > hole)
			first_lost = at.hdr.base_offset;
	}
	uint64_t cut = at.pos;
	part_close(f->p); /* no fdatasync: the index files stay where the last one left them */
	f->p = NULL;
	assert_int_equal(tu_file_size(ix), synced_len);
	const char *log = tu_seg_file(f->dir, base, ".log");
	zero_at(log, hole, hole + 4096);
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	/* the walk from the last synced entry meets the torn batch: nothing after it stays */
	assert_int_equal(f->p->hwm, first_lost);
	assert_int_equal(f->p->segs[f->p->nsegs - 1]->size, cut);
	assert_int_equal(read_all(f->p, 0, 4096), first_lost);
	size_t len;
	uint8_t *bytes = tu_read_file(log, &len);
	for (uint64_t i = cut; i < len; i++) /* no stale batch left after the gap */
		assert_int_equal(bytes[i], 0);
	free(bytes);
	append_n(f, 3, 5, 100);
	reopen(f);
	assert_int_equal(f->p->hwm, first_lost + 15);
	assert_int_equal(read_all(f->p, 0, 4096), first_lost + 15);
}

static void test_partition_recovery_keeps_max_timestamp_when_time_index_lags(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	/* the first batch carries the segment's largest timestamp; later ones are older */
	size_t len;
	int64_t base;
	uint8_t *b = tu_batch("new", 5, 100, 900000, &len);
	assert_int_equal(part_append(f->p, b, len, 0, &base), 0);
	free(b);
	append_n(f, 40, 5, 100);
	struct segment *s = f->p->segs[0];
	assert_int_equal(f->p->nsegs, 1);
	assert_int_equal(s->max_ts, 900004);
	assert_int_equal(part_flush(f->p), 0);
	part_close(f->p);
	f->p = NULL;
	/* the offset index reached the disk, the time index did not */
	assert_true(tu_file_size(tu_seg_file(f->dir, 0, ".index")) > 0);
	assert_int_equal(truncate(tu_seg_file(f->dir, 0, ".timeindex"), 0), 0);
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	s = f->p->segs[0];
	assert_int_equal(s->max_ts, 900004);
	assert_int_equal(s->max_ts_offset, 4);
	int64_t off, ts;
	assert_int_equal(part_offset_for_time(f->p, 900002, &off, &ts), 0);
	assert_int_equal(off, 2);
	assert_int_equal(ts, 900002);
	/* a time index whose entry does not match its batch is not trusted either */
	part_close(f->p);
	f->p = NULL;
	uint8_t entry[12];
	be64_put(entry, 5000);
	be32_put(entry + 8, 4);
	const char *tix = tu_seg_file(f->dir, 0, ".timeindex");
	assert_int_equal(truncate(tix, 0), 0);
	write_at(tix, 0, entry, sizeof(entry));
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	assert_int_equal(f->p->segs[0]->max_ts, 900004);
}

/* Found by tests/fuzz/fuzz_recovery.c: the batch the indexes point recovery at is itself
 * corrupt. Nothing taken from the indexes may then outlive the cut. */
static void test_partition_recovery_distrusts_indexes_when_their_batch_is_corrupt(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	append_n(f, 40, 5, 100);
	assert_int_equal(part_flush(f->p), 0);
	struct segment *s = f->p->segs[f->p->nsegs - 1];
	assert_true(s->tix.n > 0 && s->oix.n > 0);
	int64_t carrier = s->base + (int64_t)tindex_at(&s->tix, s->tix.n - 1)->rel, base = s->base;
	struct part_pos at;
	assert_int_equal(part_lookup_offset(f->p, carrier, &at), 0);
	part_close(f->p);
	f->p = NULL;
	uint8_t bad = 0x5a;
	write_at(tu_seg_file(f->dir, base, ".log"), at.pos + RB_HEADER_SIZE + 3, &bad, 1);
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	s = f->p->segs[f->p->nsegs - 1];
	assert_int_equal(f->p->hwm, at.hdr.base_offset);
	assert_int_equal(s->size, at.pos);
	for (size_t i = 0; i < s->oix.n; i++)
		assert_true(oindex_at(&s->oix, i)->pos < s->size);
	for (size_t i = 0; i < s->tix.n; i++)
		assert_true(s->base + (int64_t)tindex_at(&s->tix, i)->rel < f->p->hwm);
	assert_int_equal(s->max_ts, 1000 + f->p->hwm - 1); /* append_n: timestamp 1000 + offset */
	assert_int_equal(read_all(f->p, 0, 4096), f->p->hwm);
}

static void test_partition_retention_by_bytes_deletes_oldest_segments_only(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	append_n(f, 500, 5, 100);
	size_t n = f->p->nsegs;
	assert_true(n >= 5);
	uint64_t active = f->p->segs[n - 1]->size, s1 = f->p->segs[n - 2]->size;
	/* keep exactly the newest two segments: anything less than their sum + 1 byte
	 * of the third would force deleting more */
	f->p->cfg.retention_bytes = (int64_t)(active + s1);
	int64_t expect_start = f->p->segs[n - 2]->base;
	int64_t gone = f->p->segs[0]->base;
	assert_int_equal(part_retention(f->p, 0), (int)n - 2);
	assert_int_equal(f->p->nsegs, 2);
	assert_int_equal(f->p->log_start, expect_start);
	assert_int_equal(tu_file_size(tu_seg_file(f->dir, gone, ".log")), -1);
	assert_int_equal(tu_file_size(tu_seg_file(f->dir, gone, ".index")), -1);
	struct part_range r;
	assert_int_equal(part_read(f->p, expect_start - 1, 100, &r), -ERANGE);
	assert_int_equal(read_all(f->p, expect_start, 4096), f->p->hwm - expect_start);
	/* never the active segment, even with a budget of 0 */
	f->p->cfg.retention_bytes = 0;
	assert_int_equal(part_retention(f->p, 0), 1);
	assert_int_equal(f->p->nsegs, 1);
	reopen(f);
	assert_int_equal(f->p->log_start, f->p->segs[0]->base);
}

static void test_partition_retention_by_time_uses_newest_record_of_segment(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	append_n(f, 300, 5, 100); /* timestamps 1000 .. 2499 */
	assert_true(f->p->nsegs >= 3);
	struct segment *s0 = f->p->segs[0], *s1 = f->p->segs[1];
	f->p->cfg.retention_ms = 100;
	/* at now = s0's newest + 100: not older than retention yet */
	assert_int_equal(part_retention(f->p, s0->max_ts + 100), 0);
	int64_t s1_base = s1->base, s1_max = s1->max_ts;
	assert_int_equal(part_retention(f->p, s0->max_ts + 101), 1);
	assert_int_equal(f->p->log_start, s1_base);
	assert_int_equal(part_retention(f->p, s1_max + 101), 1);
	assert_int_equal(part_retention(f->p, INT64_MAX / 2), (int)f->p->nsegs - 1);
	assert_int_equal(f->p->nsegs, 1);
}

static void test_partition_rolls_on_segment_ms(void **state)
{
	struct fixture *f = *state;
	f->cfg.segment_ms = 1000;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	size_t len;
	uint8_t *b = tu_batch("t", 1, 10, 0, &len);
	assert_int_equal(part_append(f->p, b, len, 5000, NULL), 0);
	assert_int_equal(part_append(f->p, b, len, 5999, NULL), 0);
	assert_int_equal(f->p->nsegs, 1);
	assert_int_equal(part_append(f->p, b, len, 6000, NULL), 0);
	assert_int_equal(f->p->nsegs, 2);
	assert_int_equal(f->p->segs[1]->base, 2);
	free(b);
}

static void test_partition_two_phase_append_and_abort(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	append_n(f, 3, 2, 10);
	size_t len;
	uint8_t *b = tu_batch("r", 4, 30, 0, &len);
	struct rb_header h;
	assert_true(rb_validate(b, len, true, &h) > 0);
	struct part_reservation r1, r2;
	assert_int_equal(part_reserve(f->p, &h, len, 0, &r1), 0);
	assert_int_equal(part_reserve(f->p, &h, len, 0, &r2), 0);
	assert_int_equal(r1.base_offset, 6);
	assert_int_equal(r2.base_offset, 10);
	assert_int_equal(r2.pos, r1.pos + len);
	assert_int_equal(f->p->hwm, 6); /* nothing visible before commit */
	struct part_range rr;
	assert_int_equal(part_read(f->p, 6, 100, &rr), 0);
	assert_int_equal(part_read(f->p, 7, 100, &rr), -ERANGE);
	rb_set_base_offset(b, r1.base_offset);
	assert_int_equal(pwrite(r1.seg->fd, b, len, (off_t)r1.pos), (ssize_t)len);
	part_commit(f->p, &r1);
	assert_int_equal(f->p->hwm, 10);
	/* the second write "failed": take it back */
	assert_int_equal(part_abort(f->p, &r2), 0);
	assert_int_equal(f->p->next_offset, 10);
	assert_int_equal(part_read(f->p, 6, 1 << 20, &rr), 1);
	assert_int_equal(rr.last_offset, 9);
	part_range_release(&rr);
	append_n(f, 1, 1, 10);
	assert_int_equal(f->p->hwm, 11);
	reopen(f);
	assert_int_equal(f->p->hwm, 11);
	assert_int_equal(read_all(f->p, 0, 100), 11);
	free(b);
}

static void test_partition_roll_waits_for_inflight_and_rejects_oversize(void **state)
{
	struct fixture *f = *state;
	f->cfg.segment_bytes = 4096;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	size_t len;
	uint8_t *b = tu_batch("big", 1, 1500, 0, &len);
	struct rb_header h;
	assert_true(rb_validate(b, len, true, &h) > 0);
	struct part_reservation r1, r2, r3;
	assert_int_equal(part_reserve(f->p, &h, len, 0, &r1), 0);
	assert_int_equal(part_reserve(f->p, &h, len, 0, &r2), 0);
	assert_int_equal(part_reserve(f->p, &h, len, 0, &r3), -EBUSY);
	part_commit(f->p, &r1);
	part_commit(f->p, &r2);
	assert_int_equal(part_reserve(f->p, &h, len, 0, &r3), 0);
	assert_int_equal(f->p->nsegs, 2);
	assert_int_equal(r3.pos, 0);
	part_commit(f->p, &r3);
	free(b);
	b = tu_batch("huge", 1, 5000, 0, &len);
	assert_int_equal(part_append(f->p, b, len, 0, NULL), -EMSGSIZE);
	free(b);
}

static void test_partition_reopen_after_10000_appends_keeps_offsets_and_bytes(void **state)
{
	struct fixture *f = *state;
	f->cfg.segment_bytes = 256 * 1024;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	append_n(f, 10000, 1, 16);
	assert_int_equal(f->p->hwm, 10000);
	size_t nsegs = f->p->nsegs;
	uint64_t bytes = part_bytes(f->p);
	/* checksum every record's offset and value */
	uint64_t sum_before = 0;
	for (int pass = 0; pass < 2; pass++) {
		uint64_t sum = 0;
		for (int64_t o = 0; o < f->p->hwm;) {
			struct part_range r;
			assert_int_equal(part_read(f->p, o, 65536, &r), 1);
			const uint8_t *m = r.seg->map + r.pos;
			struct rb_iter it;
			struct rb_record rec;
			for (uint64_t at = 0; at < r.len;) {
				assert_int_equal(rb_iter_start(&it, m + at, r.len - at), 0);
				while (rb_iter_next(&it, &rec) == 1) {
					assert_int_equal(rec.offset, o);
					sum = sum * 31 + (uint64_t)rec.offset;
					for (int32_t i = 0; i < rec.value_len; i++)
						sum = sum * 131 + rec.value[i];
					o++;
				}
				at += rb_total_size(&it.hdr);
			}
			part_range_release(&r);
		}
		if (pass == 0) {
			sum_before = sum;
			reopen(f);
			assert_int_equal(f->p->hwm, 10000);
			assert_int_equal(f->p->nsegs, nsegs);
			assert_int_equal(part_bytes(f->p), bytes);
		} else {
			assert_int_equal(sum, sum_before);
		}
	}
}

static void test_partition_range_outlives_deleted_segment(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	append_n(f, 300, 5, 100);
	struct part_range r;
	assert_int_equal(part_read(f->p, 0, 4096, &r), 1);
	f->p->cfg.retention_bytes = 0;
	assert_true(part_retention(f->p, 0) > 0);
	/* the reader's fd and bytes stay valid until it lets go */
	uint8_t buf[RB_HEADER_SIZE];
	assert_int_equal(pread(r.fd, buf, sizeof(buf), (off_t)r.pos), (ssize_t)sizeof(buf));
	assert_int_equal((int64_t)be64_get(buf), 0);
	part_range_release(&r);
}


/* The bytes docs/format.md shows: one record (key "k1", value "hello", header h=x,
 * timestamp 1764000000000) as it lands at offset 0 of a segment. Computed
 * independently of the codec (by hand from Kafka's layout, CRC included). */
static const uint8_t documented_batch[79] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x43, 0x00, 0x00,
	0x00, 0x00, 0x02, 0xa9, 0xba, 0x8e, 0x4d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x01, 0x9a, 0xb6, 0x97, 0xe8, 0x00, 0x00, 0x00, 0x01, 0x9a, 0xb6, 0x97, 0xe8,
	0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0x00, 0x00, 0x00, 0x01, 0x22, 0x00, 0x00, 0x00, 0x04, 0x6b, 0x31, 0x0a, 0x68,
	0x65, 0x6c, 0x6c, 0x6f, 0x02, 0x02, 0x68, 0x02, 0x78,
};

static void test_partition_one_record_batch_matches_documented_bytes(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(part_open(f->dir, &f->cfg, &f->p), 0);
	uint8_t buf[256];
	struct rb_builder b;
	struct rb_kv hdr = { "h", 1, "x", 1 };
	assert_int_equal(rb_builder_init(&b, buf, sizeof(buf)), 0);
	assert_int_equal(rb_builder_add(&b, 1764000000000, "k1", 2, "hello", 5, &hdr, 1), 0);
	long len = rb_builder_finish(&b);
	assert_int_equal(len, sizeof(documented_batch));
	int64_t base = -1;
	assert_int_equal(part_append(f->p, buf, (uint64_t)len, 0, &base), 0);
	assert_int_equal(base, 0);
	part_close(f->p);
	f->p = NULL;
	size_t flen;
	uint8_t *log = tu_read_file(tu_seg_file(f->dir, 0, ".log"), &flen);
	assert_true(flen >= sizeof(documented_batch));
	assert_memory_equal(log, documented_batch, sizeof(documented_batch));
	for (size_t i = sizeof(documented_batch); i < flen; i++) /* the rest: still a hole */
		assert_int_equal(log[i], 0);
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_partition_creates_first_segment_sized_for_mapping),
		T(test_partition_appends_and_reads_across_rolls),
		T(test_partition_read_returns_whole_batches_within_limit),
		T(test_partition_offset_lookup_at_every_boundary),
		T(test_partition_time_lookup_at_every_boundary),
		T(test_partition_index_files_use_kafka_layout),
		T(test_partition_recovers_from_truncated_last_batch),
		T(test_partition_recovers_from_flipped_byte_in_last_batch),
		T(test_partition_recovers_from_zero_tail_and_half_header),
		T(test_partition_rebuilds_deleted_or_inconsistent_index),
		T(test_partition_index_files_never_point_past_synced_log),
		T(test_partition_recovery_keeps_max_timestamp_when_time_index_lags),
		T(test_partition_recovery_distrusts_indexes_when_their_batch_is_corrupt),
		T(test_partition_retention_by_bytes_deletes_oldest_segments_only),
		T(test_partition_retention_by_time_uses_newest_record_of_segment),
		T(test_partition_rolls_on_segment_ms),
		T(test_partition_two_phase_append_and_abort),
		T(test_partition_roll_waits_for_inflight_and_rejects_oversize),
		T(test_partition_reopen_after_10000_appends_keeps_offsets_and_bytes),
		T(test_partition_range_outlives_deleted_segment),
		T(test_partition_one_record_batch_matches_documented_bytes),
#undef T
	};
	return cmocka_run_group_tests_name("partition", tests, NULL, NULL);
}
