/* SPDX-License-Identifier: Apache-2.0 */
/*
 * segment.c — one segment's files: create, open with recovery (walk and validate the
 * tail, rebuild indexes), index book-keeping on append, lookups by offset and time,
 * sealing on roll, and deletion. The .log is read through a read-only shared mapping.
 */
#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "logging.h"
#include "partition.h"
#include "pagebus.h"

static char *seg_path(const char *dir, int64_t base)
{
	char *p;
	if (asprintf(&p, "%s/%020" PRId64, dir, base) < 0)
		return NULL;
	return p;
}

static int open_ext(const struct segment *s, const char *ext, int flags, mode_t mode)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s%s", s->path, ext) >= sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, flags | O_CLOEXEC, mode);
	return fd < 0 ? -errno : fd;
}

static int index_open_ext(struct segment *s, struct index *ix, const char *ext, size_t esize,
			  int *created)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s%s", s->path, ext) >= sizeof(path))
		return -ENAMETOOLONG;
	return index_open(ix, path, esize, created);
}

static struct segment *seg_alloc(const char *dir, int64_t base)
{
	struct segment *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->base = base;
	s->fd = s->ro_fd = s->oix.fd = s->tix.fd = -1;
	s->next_offset = s->synced_next = base;
	s->max_ts = -1;
	s->max_ts_offset = -1;
	s->first_ms = -1;
	s->refs = 1;
	s->path = seg_path(dir, base);
	if (!s->path) {
		free(s);
		return NULL;
	}
	return s;
}

void seg_put(struct segment *s)
{
	if (!s || --s->refs > 0)
		return;
	if (s->map)
		munmap((void *)s->map, s->map_len);
	if (s->fd >= 0)
		close(s->fd);
	if (s->ro_fd >= 0)
		close(s->ro_fd);
	index_close(&s->oix);
	index_close(&s->tix);
	free(s->path);
	free(s);
}

/* (Re)maps the .log read-only over its first len bytes. */
static int seg_map(struct segment *s, uint64_t len)
{
	if (s->map)
		munmap((void *)s->map, s->map_len);
	s->map = NULL;
	s->map_len = 0;
	if (!len)
		return 0;
	void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, s->ro_fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	s->map = m;
	s->map_len = len;
	return 0;
}

/* Sizes the active .log to at least cfg->segment_bytes. */
static int seg_size_file(struct segment *s, const struct log_config *cfg, uint64_t cur)
{
	if (cur >= cfg->segment_bytes) {
		s->alloc = cur;
		return 0;
	}
	if (cfg->preallocate) {
		int r = posix_fallocate(s->fd, 0, (off_t)cfg->segment_bytes);
		if (r)
			return -r;
	} else if (ftruncate(s->fd, (off_t)cfg->segment_bytes) < 0) {
		return -errno;
	}
	s->alloc = cfg->segment_bytes;
	return 0;
}

int seg_create(const char *dir, int64_t base, const struct log_config *cfg, struct segment **out)
{
	*out = NULL;
	struct segment *s = seg_alloc(dir, base);
	int created, err;
	if (!s)
		return -ENOMEM;
	err = s->fd = open_ext(s, ".log", O_RDWR | O_CREAT | O_EXCL, 0644);
	if (err < 0)
		goto err;
	err = s->ro_fd = open_ext(s, ".log", O_RDONLY, 0);
	if (err < 0)
		goto err;
	/* A stale index without its .log is from a deleted segment: start clean. */
	if ((err = index_open_ext(s, &s->oix, ".index", OINDEX_ENTRY, &created)) < 0 ||
	    (err = index_reset(&s->oix)) < 0)
		goto err;
	if ((err = index_open_ext(s, &s->tix, ".timeindex", TINDEX_ENTRY, &created)) < 0 ||
	    (err = index_reset(&s->tix)) < 0)
		goto err;
	if ((err = seg_size_file(s, cfg, 0)) < 0 || (err = seg_map(s, s->alloc)) < 0)
		goto err;
	fsync_dir(dir);
	*out = s;
	return 0;
err:
	seg_unlink(s);
	seg_put(s);
	return err;
}

/* ---- index book-keeping ---------------------------------------------------------- */

int seg_track(struct segment *s, const struct rb_header *h, uint64_t len, uint32_t interval)
{
	int64_t last = h->base_offset + h->last_offset_delta;
	if (h->max_timestamp > s->max_ts) {
		s->max_ts = h->max_timestamp;
		s->max_ts_offset = last;
	}
	/* Kafka's rule: an entry before a batch once more than `interval` bytes passed
	 * since the last one, keyed by the batch's last offset; the time index gets the
	 * largest timestamp so far at the same moments, when it grew. */
	if (s->since_index > interval) {
		int err = oindex_append(&s->oix, (uint32_t)(last - s->base), (uint32_t)s->size);
		if (err)
			return err;
		if (s->max_ts >= 0 && (!s->tix.n || s->max_ts > tindex_at(&s->tix, s->tix.n - 1)->ts)) {
			err = tindex_append(&s->tix, s->max_ts, (uint32_t)(s->max_ts_offset - s->base));
			if (err)
				return err;
		}
		s->since_index = 0;
	}
	s->since_index += len;
	s->size += len;
	s->next_offset = last + 1;
	return 0;
}

int seg_synced(struct segment *s, uint64_t pos, int64_t next_offset)
{
	if (pos > s->synced)
		s->synced = pos;
	if (next_offset > s->synced_next)
		s->synced_next = next_offset;
	/* entries are in log order: the first one at or past the mark ends each run */
	size_t n = s->oix.flushed;
	while (n < s->oix.n && oindex_at(&s->oix, n)->pos < s->synced)
		n++;
	size_t m = s->tix.flushed;
	while (m < s->tix.n && s->base + (int64_t)tindex_at(&s->tix, m)->rel < s->synced_next)
		m++;
	int err = index_write_upto(&s->oix, n);
	int terr = index_write_upto(&s->tix, m);
	return err ? err : terr;
}

/* ---- recovery ---------------------------------------------------------------------- */

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * Walks and validates batches from s->size up to limit, book-keeping each (seg_track).
 * Stops at the first batch that is incomplete, fails its checks, or does not continue
 * the offsets. Returns why it stopped; *why gets a message for a corrupt stop.
 */
static enum seg_stop seg_walk(struct segment *s, uint64_t limit, uint32_t interval, const char **why)
{
	while (s->size < limit) {
		const uint8_t *p = s->map + s->size;
		uint64_t avail = limit - s->size;
		struct rb_header h;
		long r = rb_validate(p, avail, true, &h);
		if (r < 0) {
			size_t probe = avail < RB_HEADER_SIZE ? (size_t)avail : RB_HEADER_SIZE;
			if (all_zero(p, probe))
				return SEG_STOP_ZEROS;
			*why = pagebus_strerror((int)r);
			return SEG_STOP_CORRUPT;
		}
		if (h.base_offset != s->next_offset) {
			*why = "batch offsets do not continue the log";
			return SEG_STOP_CORRUPT;
		}
		if (rb_last_offset(&h) - s->base > INT32_MAX || s->size + (uint64_t)r > UINT32_MAX) {
			*why = "batch beyond the 32-bit relative offset or position range";
			return SEG_STOP_CORRUPT;
		}
		if (s->first_ms < 0)
			s->first_ms = h.max_timestamp;
		if (seg_track(s, &h, (uint64_t)r, interval) < 0) {
			*why = "out of memory";
			return SEG_STOP_CORRUPT;
		}
	}
	return SEG_STOP_END;
}

static bool oindex_sane(const struct segment *s, uint64_t file_size)
{
	for (size_t i = 0; i < s->oix.n; i++) {
		const struct oindex_entry *e = oindex_at(&s->oix, i);
		if (e->rel > INT32_MAX || e->pos >= file_size)
			return false;
		if (i && (e->rel <= oindex_at(&s->oix, i - 1)->rel || e->pos <= oindex_at(&s->oix, i - 1)->pos))
			return false;
	}
	return true;
}

static bool tindex_sane(const struct segment *s)
{
	for (size_t i = 0; i < s->tix.n; i++) {
		const struct tindex_entry *e = tindex_at(&s->tix, i);
		if (e->rel > INT32_MAX || e->ts < 0)
			return false;
		if (i && (e->ts <= tindex_at(&s->tix, i - 1)->ts || e->rel < tindex_at(&s->tix, i - 1)->rel))
			return false;
	}
	return true;
}

/* The batch whose last offset is `last`, by its headers below limit from the last
 * offset-index entry before it (unchecked bytes: every header is bounds-checked). */
static bool find_batch(const struct segment *s, int64_t last, uint64_t limit, uint64_t *pos, struct rb_header *h)
{
	long i = last - s->base > INT32_MAX ? -1 : oindex_lookup(&s->oix, (uint32_t)(last - s->base));
	uint64_t p = i < 0 ? 0 : oindex_at(&s->oix, (size_t)i)->pos;
	while (p < limit && rb_header_parse(s->map + p, limit - p, h) == 0) {
		if (rb_last_offset(h) >= last) {
			*pos = p;
			return rb_last_offset(h) == last;
		}
		p += rb_total_size(h);
	}
	return false;
}

/*
 * Restarts the in-memory state at a point recovery can trust, ready for seg_walk to
 * continue from there: the batch that carried the timestamp of the last time-index entry
 * (found through the offset index, checked against that batch's maxTimestamp), where
 * the largest timestamp so far is known exactly. The two index files are written
 * separately and the time index may lag (a crash between the writes, a torn page):
 * resuming from the offset index alone would take an older maximum for the segment's,
 * which time lookups and retention.ms trust. Index files only ever hold entries for
 * fdatasynced bytes, so the point is on disk. Entries from it on are dropped and
 * re-derived by the walk, which writes them back: the next recovery resumes at the same
 * point or later, never earlier (recovery is idempotent). Without a time-index entry to
 * trust, the walk starts at position 0.
 */
static void seg_resume_from_index(struct segment *s, uint64_t limit)
{
	s->size = 0;
	s->next_offset = s->base;
	s->max_ts = -1;
	s->max_ts_offset = -1;
	while (s->oix.n) { /* entries past the last one that points at a real batch go */
		const struct oindex_entry *e = oindex_at(&s->oix, s->oix.n - 1);
		struct rb_header h;
		if (e->pos < limit && rb_header_parse(s->map + e->pos, limit - e->pos, &h) == 0 &&
		    rb_last_offset(&h) == s->base + (int64_t)e->rel)
			break;
		index_truncate(&s->oix, s->oix.n - 1);
	}
	size_t keep = s->tix.n;
	while (keep) {
		const struct tindex_entry *t = tindex_at(&s->tix, keep - 1);
		int64_t off = s->base + (int64_t)t->rel;
		uint64_t pos;
		struct rb_header h;
		if (find_batch(s, off, limit, &pos, &h) && h.max_timestamp == t->ts) {
			s->size = pos;
			s->next_offset = h.base_offset;
			s->max_ts = t->ts; /* the walk meets this batch again: nothing changes */
			s->max_ts_offset = off;
			break;
		}
		keep--;
	}
	index_truncate(&s->tix, keep);
	size_t n = s->oix.n;
	while (n && oindex_at(&s->oix, n - 1)->pos >= s->size)
		n--;
	index_truncate(&s->oix, n);
	/* as seg_track counts: bytes since the last entry, so the walk re-derives the same */
	s->since_index = s->size - (n ? oindex_at(&s->oix, n - 1)->pos : 0);
	/* first_ms: the first batch's maxTimestamp (as Kafka rolls by). */
	struct rb_header first;
	if (limit >= RB_HEADER_SIZE && rb_header_parse(s->map, limit, &first) == 0)
		s->first_ms = first.max_timestamp;
}

/* Clears bytes [pos, end) of the .log: a hole punch, or cut and re-extend. */
static int clear_tail(struct segment *s, uint64_t pos, uint64_t end)
{
	if (end <= pos)
		return 0;
	if (fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)pos, (off_t)(end - pos)) == 0)
		return 0;
	if (ftruncate(s->fd, (off_t)pos) < 0 || ftruncate(s->fd, (off_t)end) < 0)
		return -errno;
	return 0;
}

int seg_open(const char *dir, int64_t base, bool active, const struct log_config *cfg,
	     struct segment **out, uint64_t *cut_bytes)
{
	*out = NULL;
	*cut_bytes = 0;
	struct segment *s = seg_alloc(dir, base);
	int err, oc, tc;
	struct stat st;
	if (!s)
		return -ENOMEM;
	if ((err = s->fd = open_ext(s, ".log", O_RDWR, 0)) < 0)
		goto err;
	if ((err = s->ro_fd = open_ext(s, ".log", O_RDONLY, 0)) < 0)
		goto err;
	if (fstat(s->fd, &st) < 0) {
		err = -errno;
		goto err;
	}
	uint64_t file_size = (uint64_t)st.st_size;
	if ((err = index_open_ext(s, &s->oix, ".index", OINDEX_ENTRY, &oc)) < 0 ||
	    (err = index_open_ext(s, &s->tix, ".timeindex", TINDEX_ENTRY, &tc)) < 0)
		goto err;
	if (file_size > UINT32_MAX) /* positions are 32-bit: only the first 4 GiB can be valid */
		file_size = UINT32_MAX;
	if ((err = seg_map(s, file_size)) < 0)
		goto err;

	bool rebuild = oc || tc || !oindex_sane(s, file_size) || !tindex_sane(s);
	if (rebuild) {
		log_info("segment %s: index %s, rebuilding from the log", s->path,
			 oc || tc ? "missing" : "inconsistent");
		index_reset(&s->oix);
		index_reset(&s->tix);
	}
	seg_resume_from_index(s, file_size);
	uint64_t resumed_at = s->size;
	const char *why = NULL;
	enum seg_stop stop = seg_walk(s, file_size, cfg->index_interval_bytes, &why);
	if (stop == SEG_STOP_CORRUPT && resumed_at && s->size == resumed_at) {
		/* the batch the indexes led to is bad itself: the state taken from them
		 * (largest timestamp, entries) is not to be trusted, walk from the start */
		index_reset(&s->oix);
		index_reset(&s->tix);
		seg_resume_from_index(s, file_size);
		stop = seg_walk(s, file_size, cfg->index_interval_bytes, &why);
	}
	if (stop == SEG_STOP_CORRUPT) {
		*cut_bytes = file_size - s->size;
		log_warn("segment %s.log: truncating at position %" PRIu64 " (offset %" PRId64
			 "): %s; %" PRIu64 " bytes after it dropped",
			 s->path, s->size, s->next_offset, why, *cut_bytes);
	} else if (stop == SEG_STOP_ZEROS && !active && s->size < file_size) {
		/* A sealed segment with a zero tail: its roll was cut short. */
		log_info("segment %s.log: trimming %" PRIu64 " zero bytes after the last batch",
			 s->path, file_size - s->size);
	}
	s->committed = s->size;
	if (active) {
		/* After a zero gap, bytes of a torn write may follow (pages reach the disk in
		 * any order): nothing but zeros may stay past the last good batch, or a later
		 * append that ends just before them would make them look like the log's next
		 * batch after another crash. */
		off_t data = stop == SEG_STOP_ZEROS ? lseek(s->fd, (off_t)s->size, SEEK_DATA) : -1;
		if ((stop == SEG_STOP_CORRUPT || (data >= 0 && (uint64_t)data < file_size)) &&
		    (err = clear_tail(s, s->size, file_size)) < 0)
			goto err;
		if ((err = seg_size_file(s, cfg, file_size)) < 0 || (err = seg_map(s, s->alloc)) < 0)
			goto err;
		/* the walked bytes may be only in the page cache (a broker that was killed):
		 * on disk before the index files may point into them */
		if (s->size && fdatasync(s->fd) < 0) {
			err = -errno;
			goto err;
		}
	} else {
		if (s->size < file_size && ftruncate(s->fd, (off_t)s->size) < 0) {
			err = -errno;
			goto err;
		}
		s->alloc = s->size;
		s->sealed = true;
		if ((err = seg_map(s, s->size)) < 0)
			goto err;
		if (s->max_ts >= 0 && (!s->tix.n || s->max_ts > tindex_at(&s->tix, s->tix.n - 1)->ts))
			tindex_append(&s->tix, s->max_ts, (uint32_t)(s->max_ts_offset - s->base));
	}
	/* a sealed segment was fdatasynced when it rolled */
	if ((err = seg_synced(s, s->size, s->next_offset)) < 0)
		goto err;
	*out = s;
	return 0;
err:
	seg_put(s);
	return err;
}

int seg_truncate(struct segment *s, uint64_t pos, int64_t next_offset, uint32_t interval)
{
	uint64_t old = s->size;
	/* drop index entries at or past the cut, then rebuild the state up to it */
	size_t n = s->oix.n;
	while (n && oindex_at(&s->oix, n - 1)->pos >= pos)
		n--;
	index_truncate(&s->oix, n);
	size_t m = s->tix.n;
	while (m && s->base + (int64_t)tindex_at(&s->tix, m - 1)->rel >= next_offset)
		m--;
	index_truncate(&s->tix, m);
	seg_resume_from_index(s, pos);
	const char *why = NULL;
	if (seg_walk(s, pos, interval, &why) != SEG_STOP_END || s->next_offset != next_offset)
		return -EIO;
	if (s->committed > pos)
		s->committed = pos;
	return clear_tail(s, pos, old);
}

/* ---- roll, flush, delete --------------------------------------------------------- */

int seg_seal(struct segment *s)
{
	if (s->sealed)
		return 0;
	if (s->max_ts >= 0 && (!s->tix.n || s->max_ts > tindex_at(&s->tix, s->tix.n - 1)->ts)) {
		int err = tindex_append(&s->tix, s->max_ts, (uint32_t)(s->max_ts_offset - s->base));
		if (err)
			return err;
	}
	int err = 0;
	if (ftruncate(s->fd, (off_t)s->size) < 0 || fdatasync(s->fd) < 0)
		err = -errno;
	if (!err) {
		s->synced = s->size;
		s->synced_next = s->next_offset;
		err = index_sync(&s->oix);
	}
	if (!err)
		err = index_sync(&s->tix);
	if (err)
		return err;
	s->alloc = s->size;
	s->sealed = true;
	return 0;
}

int seg_flush(struct segment *s, int64_t committed_next)
{
	uint64_t upto = s->committed;
	if (fdatasync(s->fd) < 0)
		return -errno;
	return seg_synced(s, upto, committed_next);
}

void seg_unlink(struct segment *s)
{
	static const char *const exts[] = { ".log", ".index", ".timeindex" };
	char path[PATH_MAX];
	for (size_t i = 0; i < 3; i++)
		if ((size_t)snprintf(path, sizeof(path), "%s%s", s->path, exts[i]) < sizeof(path))
			unlink(path);
}

/* ---- lookups ----------------------------------------------------------------------- */

int seg_batch_at(const struct segment *s, uint64_t pos, struct rb_header *h)
{
	if (pos >= s->committed)
		return -ENOENT;
	return rb_header_parse(s->map + pos, s->committed - pos, h) ? -EIO : 0;
}

int seg_find_offset(const struct segment *s, int64_t offset, uint64_t *pos, struct rb_header *h)
{
	if (offset < s->base || offset - s->base > INT32_MAX)
		return -ENOENT;
	long i = oindex_lookup(&s->oix, (uint32_t)(offset - s->base));
	uint64_t p = 0;
	/* entries may point past committed bytes (reserved, in flight): step back */
	while (i >= 0 && oindex_at(&s->oix, (size_t)i)->pos >= s->committed)
		i--;
	if (i >= 0)
		p = oindex_at(&s->oix, (size_t)i)->pos;
	while (p < s->committed) {
		if (seg_batch_at(s, p, h) < 0)
			return -EIO;
		if (rb_last_offset(h) >= offset) {
			*pos = p;
			return 0;
		}
		p += rb_total_size(h);
	}
	return -ENOENT;
}

int seg_find_time(const struct segment *s, int64_t ts, uint64_t *pos, struct rb_header *h)
{
	long i = tindex_lookup(&s->tix, ts);
	int64_t from = i < 0 ? s->base : s->base + (int64_t)tindex_at(&s->tix, (size_t)i)->rel;
	uint64_t p = 0;
	if (from > s->base && seg_find_offset(s, from, &p, h) < 0)
		p = 0;
	while (p < s->committed) {
		if (seg_batch_at(s, p, h) < 0)
			return -EIO;
		if (h->max_timestamp >= ts) {
			*pos = p;
			return 0;
		}
		p += rb_total_size(h);
	}
	return -ENOENT;
}
