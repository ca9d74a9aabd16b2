/* SPDX-License-Identifier: Apache-2.0 */
/*
 * partition.c — a partition log: the ordered list of segments, offset assignment,
 * two-phase appends, rolling, reads as (fd, position, length) ranges, lookups by
 * offset and timestamp, retention and flushing.
 */
#include "partition.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logging.h"
#include "pagebus.h"

void log_config_defaults(struct log_config *cfg)
{
	cfg->segment_bytes = 1ull << 30;
	cfg->segment_ms = 7ll * 24 * 3600 * 1000;
	cfg->index_interval_bytes = 4096;
	cfg->retention_bytes = -1;
	cfg->retention_ms = -1;
	cfg->preallocate = false;
}

int log_config_check(const struct log_config *cfg, const char **what)
{
	if (cfg->segment_bytes < 4096 || cfg->segment_bytes > INT32_MAX) {
		*what = "segment.bytes must be between 4096 and 2147483647";
		return -EINVAL;
	}
	if (cfg->segment_ms < 1) {
		*what = "segment.ms must be at least 1";
		return -EINVAL;
	}
	if (cfg->index_interval_bytes < 1) {
		*what = "index.interval.bytes must be at least 1";
		return -EINVAL;
	}
	if (cfg->retention_bytes < -1 || cfg->retention_ms < -1) {
		*what = "retention.bytes and retention.ms must be -1 (unlimited) or >= 0";
		return -EINVAL;
	}
	return 0;
}

static struct segment *active(const struct partition *p)
{
	return p->segs[p->nsegs - 1];
}

static int push_seg(struct partition *p, struct segment *s)
{
	if (p->nsegs == p->segs_cap) {
		size_t cap = p->segs_cap ? p->segs_cap * 2 : 8;
		struct segment **n = realloc(p->segs, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		p->segs = n;
		p->segs_cap = cap;
	}
	p->segs[p->nsegs++] = s;
	p->generation++;
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Base offsets of the `<20 digits>.log` files in dir, sorted. */
static int list_segments(const char *dir, int64_t **out, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *name = de->d_name;
		if (strlen(name) != 24 || strcmp(name + 20, ".log"))
			continue;
		int64_t base = 0;
		bool digits = true;
		for (int i = 0; i < 20; i++) {
			if (name[i] < '0' || name[i] > '9' || base > (INT64_MAX - 9) / 10) {
				digits = false;
				break;
			}
			base = base * 10 + (name[i] - '0');
		}
		if (!digits)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			int64_t *g = realloc(*out, cap * sizeof(*g));
			if (!g) {
				closedir(d);
				return -ENOMEM;
			}
			*out = g;
		}
		(*out)[(*n)++] = base;
	}
	closedir(d);
	if (*n > 1)
		qsort(*out, *n, sizeof(**out), cmp_i64);
	return 0;
}

int part_open(const char *dir, const struct log_config *cfg, struct partition **out)
{
	*out = NULL;
	const char *what;
	int err = log_config_check(cfg, &what);
	if (err)
		return err;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	struct partition *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cfg = *cfg;
	p->dir = strdup(dir);
	const char *slash = strrchr(dir, '/');
	p->name = strdup(slash ? slash + 1 : dir);
	if (!p->dir || !p->name) {
		err = -ENOMEM;
		goto err;
	}
	int64_t *bases = NULL;
	size_t n = 0;
	if ((err = list_segments(dir, &bases, &n)) < 0)
		goto err;
	for (size_t i = 0; i < n; i++) {
		struct segment *s;
		uint64_t cut;
		bool last = i + 1 == n;
		err = seg_open(dir, bases[i], last, cfg, &s, &cut);
		if (err) {
			log_error("partition %s: cannot open segment %020" PRId64 ": %s", p->name,
				  bases[i], strerror(-err));
			break;
		}
		if ((err = push_seg(p, s)) < 0) {
			seg_put(s);
			break;
		}
		/* Offsets must run on into the next segment; a gap means data was lost
		 * here, and what follows cannot be trusted (Kafka's rule). */
		if (!last && s->next_offset != bases[i + 1]) {
			log_warn("partition %s: segment %020" PRId64 " ends at offset %" PRId64
				 " but the next starts at %" PRId64 "; deleting %zu later segment(s)",
				 p->name, bases[i], s->next_offset, bases[i + 1], n - i - 1);
			for (size_t j = i + 1; j < n; j++) {
				struct segment *gone;
				uint64_t c;
				if (seg_open(dir, bases[j], false, cfg, &gone, &c) == 0) {
					seg_unlink(gone);
					seg_put(gone);
				}
			}
			/* this one becomes the active segment again */
			seg_put(p->segs[--p->nsegs]);
			err = seg_open(dir, bases[i], true, cfg, &s, &cut);
			if (!err && (err = push_seg(p, s)) < 0)
				seg_put(s);
			break;
		}
	}
	free(bases);
	if (err)
		goto err;
	if (!p->nsegs) {
		struct segment *s;
		if ((err = seg_create(dir, 0, cfg, &s)) < 0)
			goto err;
		if ((err = push_seg(p, s)) < 0) {
			seg_put(s);
			goto err;
		}
	}
	p->log_start = p->segs[0]->base;
	p->next_offset = p->hwm = active(p)->next_offset;
	*out = p;
	return 0;
err:
	part_close(p);
	return err;
}

void part_close(struct partition *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nsegs; i++) {
		seg_synced(p->segs[i], 0, 0); /* what an index write left pending */
		seg_put(p->segs[i]);
	}
	free(p->segs);
	free(p->dir);
	free(p->name);
	free(p);
}

static int roll(struct partition *p, int64_t now_ms)
{
	struct segment *old = active(p), *s;
	int err = seg_seal(old);
	if (err) {
		log_error("partition %s: cannot seal segment %020" PRId64 ": %s", p->name, old->base,
			  strerror(-err));
		return err;
	}
	if ((err = seg_create(p->dir, p->next_offset, &p->cfg, &s)) < 0) {
		log_error("partition %s: cannot create segment %020" PRId64 ": %s", p->name,
			  p->next_offset, strerror(-err));
		return err;
	}
	if ((err = push_seg(p, s)) < 0) {
		seg_unlink(s);
		seg_put(s);
		return err;
	}
	s->first_ms = now_ms;
	log_debug("partition %s: rolled to segment %020" PRId64, p->name, s->base);
	return 0;
}

int part_reserve(struct partition *p, const struct rb_header *h, uint64_t len, int64_t now_ms,
		 struct part_reservation *r)
{
	if (len > p->cfg.segment_bytes || len < RB_HEADER_SIZE)
		return -EMSGSIZE;
	struct segment *s = active(p);
	int64_t last = p->next_offset + h->last_offset_delta;
	bool full = s->size + len > p->cfg.segment_bytes;
	bool old = s->size && s->first_ms >= 0 && now_ms - s->first_ms >= p->cfg.segment_ms;
	bool far = last - s->base > INT32_MAX;
	if (s->size && (full || old || far)) {
		if (p->hwm != p->next_offset)
			return -EBUSY;
		int err = roll(p, now_ms);
		if (err)
			return err;
		s = active(p);
	}
	struct rb_header patched = *h;
	patched.base_offset = p->next_offset;
	r->seg = s;
	r->pos = s->size;
	r->len = len;
	r->base_offset = p->next_offset;
	r->last_offset = last;
	if (!s->size && s->first_ms < 0)
		s->first_ms = now_ms;
	int err = seg_track(s, &patched, len, p->cfg.index_interval_bytes);
	if (err)
		return err;
	p->next_offset = last + 1;
	return 0;
}

void part_commit(struct partition *p, const struct part_reservation *r)
{
	p->hwm = r->last_offset + 1;
	if (r->seg->committed < r->pos + r->len)
		r->seg->committed = r->pos + r->len;
	/* the index files wait for an fdatasync to cover these bytes (part_synced) */
}

void part_mark_committed(struct partition *p, struct part_mark *m)
{
	struct segment *s = active(p);
	*m = (struct part_mark){ seg_get(s), s->committed, p->hwm };
}

void part_synced(struct partition *p, struct part_mark *m, int res)
{
	(void)p;
	if (!m->seg)
		return;
	if (res == 0)
		seg_synced(m->seg, m->pos, m->next_offset);
	seg_put(m->seg);
	m->seg = NULL;
}

int part_abort(struct partition *p, const struct part_reservation *r)
{
	if (r->seg != active(p))
		return -EINVAL;
	int err = seg_truncate(r->seg, r->pos, r->base_offset, p->cfg.index_interval_bytes);
	p->next_offset = r->base_offset;
	return err;
}

int part_append(struct partition *p, void *batch, uint64_t len, int64_t now_ms, int64_t *base_offset)
{
	struct rb_header h;
	int err = rb_header_parse(batch, len, &h);
	if (err)
		return err;
	if (rb_total_size(&h) != len)
		return -PAGEBUS_EBADLEN;
	struct part_reservation r;
	if ((err = part_reserve(p, &h, len, now_ms, &r)) < 0)
		return err;
	rb_set_base_offset(batch, r.base_offset);
	uint64_t done = 0;
	while (done < len) {
		ssize_t w = pwrite(r.seg->fd, (uint8_t *)batch + done, len - done, (off_t)(r.pos + done));
		if (w <= 0) {
			err = w < 0 ? -errno : -EIO;
			if (err == -EINTR)
				continue;
			part_abort(p, &r);
			return err;
		}
		done += (uint64_t)w;
	}
	part_commit(p, &r);
	if (base_offset)
		*base_offset = r.base_offset;
	return 0;
}

/* Index of the segment holding offset (greatest base <= offset). */
static size_t seg_index_for(const struct partition *p, int64_t offset)
{
	size_t lo = 0, hi = p->nsegs;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->segs[mid]->base <= offset)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

int part_lookup_offset(struct partition *p, int64_t offset, struct part_pos *out)
{
	if (offset < p->log_start || offset >= p->hwm)
		return -ERANGE;
	struct segment *s = p->segs[seg_index_for(p, offset)];
	int err = seg_find_offset(s, offset, &out->pos, &out->hdr);
	if (err)
		return err == -ENOENT ? -ERANGE : err;
	out->seg = s;
	return 0;
}

int part_read(struct partition *p, int64_t offset, uint64_t max_bytes, struct part_range *r)
{
	if (offset == p->hwm && offset >= p->log_start)
		return 0;
	struct part_pos at;
	int err = part_lookup_offset(p, offset, &at);
	if (err)
		return err;
	struct segment *s = at.seg;
	uint64_t end = at.pos + rb_total_size(&at.hdr), limit = at.pos + max_bytes;
	int64_t last = rb_last_offset(&at.hdr);
	/* jump ahead through the index to the last entry that still fits, then scan */
	if (end < limit) {
		size_t lo = 0, hi = s->oix.n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (oindex_at(&s->oix, mid)->pos <= limit)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo) {
			const struct oindex_entry *e = oindex_at(&s->oix, lo - 1);
			struct rb_header h;
			if (e->pos > end && e->pos < s->committed && seg_batch_at(s, e->pos, &h) == 0 &&
			    e->pos + rb_total_size(&h) <= limit) {
				end = e->pos + rb_total_size(&h);
				last = rb_last_offset(&h);
			}
		}
	}
	while (end < s->committed) {
		struct rb_header h;
		if (seg_batch_at(s, end, &h) < 0 || end + rb_total_size(&h) > limit)
			break;
		end += rb_total_size(&h);
		last = rb_last_offset(&h);
	}
	r->seg = seg_get(s);
	r->fd = s->ro_fd;
	r->pos = at.pos;
	r->len = end - at.pos;
	r->first_offset = at.hdr.base_offset;
	r->last_offset = last;
	return 1;
}

void part_range_release(struct part_range *r)
{
	seg_put(r->seg);
	r->seg = NULL;
}

int part_lookup_time(struct partition *p, int64_t ts, struct part_pos *out)
{
	for (size_t i = 0; i < p->nsegs; i++) {
		struct segment *s = p->segs[i];
		if (s->max_ts < ts)
			continue;
		if (seg_find_time(s, ts, &out->pos, &out->hdr) == 0) {
			out->seg = s;
			return 0;
		}
	}
	return -ENOENT;
}

int part_offset_for_time(struct partition *p, int64_t ts, int64_t *offset, int64_t *ts_out)
{
	struct part_pos at;
	int err = part_lookup_time(p, ts, &at);
	if (err)
		return err;
	struct rb_iter it;
	struct rb_record rec;
	if (rb_iter_start(&it, at.seg->map + at.pos, rb_total_size(&at.hdr)) == 0) {
		while (rb_iter_next(&it, &rec) == 1) {
			if (rec.timestamp >= ts) {
				*offset = rec.offset;
				*ts_out = rec.timestamp;
				return 0;
			}
		}
	}
	/* compressed (or, impossibly, no record at or past ts): the batch's bounds */
	*offset = at.hdr.base_offset;
	*ts_out = at.hdr.max_timestamp;
	return 0;
}

int part_retention(struct partition *p, int64_t now_ms)
{
	int deleted = 0;
	uint64_t total = part_bytes(p);
	while (p->nsegs > 1) {
		struct segment *s = p->segs[0];
		bool by_bytes = p->cfg.retention_bytes >= 0 &&
				total - s->size >= (uint64_t)p->cfg.retention_bytes;
		bool by_time = p->cfg.retention_ms >= 0 && s->max_ts >= 0 &&
			       now_ms - s->max_ts > p->cfg.retention_ms;
		if (!by_bytes && !by_time)
			break;
		log_info("partition %s: retention deletes segment %020" PRId64 " (%" PRIu64
			 " bytes, by %s)", p->name, s->base, s->size, by_bytes ? "size" : "time");
		seg_unlink(s);
		total -= s->size;
		memmove(p->segs, p->segs + 1, (p->nsegs - 1) * sizeof(*p->segs));
		p->nsegs--;
		p->generation++;
		seg_put(s);
		deleted++;
	}
	p->log_start = p->segs[0]->base;
	return deleted;
}

int part_flush(struct partition *p)
{
	return seg_flush(active(p), p->hwm);
}

uint64_t part_bytes(const struct partition *p)
{
	uint64_t total = 0;
	for (size_t i = 0; i < p->nsegs; i++)
		total += p->segs[i]->size;
	return total;
}
