/* SPDX-License-Identifier: Apache-2.0 */
/*
 * logcheck.c — walks a partition directory with the RecordBatch codec alone and checks
 * it the way a consumer or a Kafka tool would read it (see logcheck.h).
 */
#include "logcheck.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byteorder.h"
#include "record_batch.h"

size_t lc_value(uint64_t id, uint8_t *buf, size_t cap)
{
	size_t len = (size_t)(id * 2654435761u % 300);
	if (len > cap)
		len = cap;
	for (size_t j = 0; j < len; j++)
		buf[j] = (uint8_t)(id * 31 + j * 7);
	return len;
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int list_bases(const char *dir, struct lc_part *p)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		if (strlen(n) != 24 || strcmp(n + 20, ".log") || strspn(n, "0123456789") != 20)
			continue;
		if (p->nsegs == cap) {
			cap = cap ? 2 * cap : 16;
			p->seg_bases = realloc(p->seg_bases, cap * sizeof(*p->seg_bases));
			if (!p->seg_bases)
				abort();
		}
		p->seg_bases[p->nsegs++] = strtoll(n, NULL, 10);
	}
	closedir(d);
	qsort(p->seg_bases, p->nsegs, sizeof(*p->seg_bases), cmp_i64);
	return 0;
}

/* The whole file, mapped read-only (NULL and *len 0 when empty or missing). */
static const uint8_t *map_file(const char *path, size_t *len, bool *missing)
{
	*len = 0;
	*missing = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*missing = errno == ENOENT;
		return NULL;
	}
	struct stat st;
	const uint8_t *m = NULL;
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED)
			m = NULL;
		else
			*len = (size_t)st.st_size;
	}
	close(fd);
	return m;
}

static void push_batch(struct lc_part *p, const struct lc_batch *b, size_t *cap)
{
	if (p->nbatches == *cap) {
		*cap = *cap ? 2 * *cap : 256;
		p->batches = realloc(p->batches, *cap * sizeof(*p->batches));
		if (!p->batches)
			abort();
	}
	p->batches[p->nbatches++] = *b;
}

static void push_id(struct lc_part *p, uint64_t id, size_t *cap)
{
	size_t n = (size_t)(p->end - p->log_start);
	if (n == *cap) {
		*cap = *cap ? 2 * *cap : 4096;
		p->ids = realloc(p->ids, *cap * sizeof(*p->ids));
		if (!p->ids)
			abort();
	}
	p->ids[n] = id;
	p->end++;
}

/* The records of an uncompressed batch: offsets in order, ids and values as written. */
static int check_records(struct lc_part *p, const uint8_t *b, size_t len, const struct rb_header *h,
			 size_t *idcap, char *err, size_t errlen)
{
	struct rb_iter it;
	struct rb_record rec;
	if (rb_codec(h) != RB_CODEC_NONE) {
		for (int32_t i = 0; i < h->records_count; i++)
			push_id(p, LC_NO_ID, idcap);
		return 0;
	}
	if (rb_iter_start(&it, b, len) < 0)
		return fail(err, errlen, "batch at offset %" PRId64 ": records do not start", h->base_offset);
	int r, n = 0;
	while ((r = rb_iter_next(&it, &rec)) == 1) {
		if (rec.offset != p->end)
			return fail(err, errlen, "record offset %" PRId64 " where %" PRId64 " was due", rec.offset,
				    p->end);
		uint64_t id = LC_NO_ID;
		if (rec.key_len == 8) {
			id = be64_get(rec.key);
			uint8_t want[512];
			size_t vlen = lc_value(id, want, sizeof(want));
			if (rec.value_len != (int32_t)vlen || (vlen && memcmp(rec.value, want, vlen)))
				return fail(err, errlen, "offset %" PRId64 ": value of id %#" PRIx64 " is not what was sent",
					    rec.offset, id);
		}
		push_id(p, id, idcap);
		n++;
	}
	if (r < 0 || n != h->records_count)
		return fail(err, errlen, "batch at offset %" PRId64 ": %d of %d records readable", h->base_offset, n,
			    h->records_count);
	return 0;
}

/* Index of the batch of segment `base` starting at pos among batches[from, to), or -1. */
static long batch_at(const struct lc_part *p, size_t from, size_t to, uint64_t pos)
{
	while (from < to) {
		size_t mid = from + (to - from) / 2;
		if (p->batches[mid].pos < pos)
			from = mid + 1;
		else
			to = mid;
	}
	return from < p->nbatches && p->batches[from].pos == pos ? (long)from : -1;
}

static int check_indexes(struct lc_part *p, const char *dir, int64_t base, size_t first, const int64_t *max_ts,
			 char *err, size_t errlen)
{
	char path[4200];
	size_t len, last = p->nbatches;
	bool missing;
	snprintf(path, sizeof(path), "%s/%020" PRId64 ".index", dir, base);
	const uint8_t *ix = map_file(path, &len, &missing);
	int rc = 0;
	if (len % 8) {
		rc = fail(err, errlen, "%s: %zu bytes, not whole entries", path, len);
		goto out;
	}
	for (size_t i = 0; i < len; i += 8) {
		uint32_t rel = be32_get(ix + i), pos = be32_get(ix + i + 4);
		long k = batch_at(p, first, last, pos);
		if (i && (rel <= be32_get(ix + i - 8) || pos <= be32_get(ix + i - 4))) {
			rc = fail(err, errlen, "%s: entry %zu does not increase", path, i / 8);
			goto out;
		}
		if (k < 0 || p->batches[k].last_offset != base + (int64_t)rel) {
			rc = fail(err, errlen,
				  "%s: entry %zu (offset %" PRId64 ", position %u) does not point at a batch ending there",
				  path, i / 8, base + (int64_t)rel, pos);
			goto out;
		}
		p->index_entries++;
	}
	if (ix)
		munmap((void *)ix, len);
	snprintf(path, sizeof(path), "%s/%020" PRId64 ".timeindex", dir, base);
	ix = map_file(path, &len, &missing);
	if (len % 12) {
		rc = fail(err, errlen, "%s: %zu bytes, not whole entries", path, len);
		goto out;
	}
	for (size_t i = 0; i < len; i += 12) {
		int64_t ts = (int64_t)be64_get(ix + i), off = base + (int64_t)be32_get(ix + i + 8);
		if (i && ts <= (int64_t)be64_get(ix + i - 12)) {
			rc = fail(err, errlen, "%s: entry %zu: timestamps do not increase", path, i / 12);
			goto out;
		}
		/* (T, O): O is the last offset of the batch that carried the largest timestamp
		 * so far, T */
		size_t k = first;
		while (k < last && p->batches[k].last_offset != off)
			k++;
		if (k == last || max_ts[k - first] != ts) {
			rc = fail(err, errlen, "%s: entry %zu (%" PRId64 ", offset %" PRId64 ") names no batch with that maximum",
				  path, i / 12, ts, off);
			goto out;
		}
		for (size_t j = first; j < k; j++)
			if (max_ts[j - first] > ts) {
				rc = fail(err, errlen, "%s: entry %zu: an earlier batch has a larger timestamp", path, i / 12);
				goto out;
			}
	}
out:
	if (ix)
		munmap((void *)ix, len);
	return rc;
}

int lc_read(const char *dir, unsigned flags, struct lc_part *p, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	size_t bcap = 0, idcap = 0;
	if (list_bases(dir, p) < 0)
		return fail(err, errlen, "cannot list %s: %s", dir, strerror(errno));
	if (!p->nsegs)
		return fail(err, errlen, "%s: no segment", dir);
	p->log_start = p->end = p->seg_bases[0];
	for (size_t s = 0; s < p->nsegs; s++) {
		int64_t base = p->seg_bases[s];
		bool active = s + 1 == p->nsegs, missing;
		if (base != p->end)
			return fail(err, errlen, "%s: segment %020" PRId64 " starts at %" PRId64 " but the log ends at %" PRId64,
				    dir, base, base, p->end);
		char path[4200];
		snprintf(path, sizeof(path), "%s/%020" PRId64 ".log", dir, base);
		size_t len;
		const uint8_t *m = map_file(path, &len, &missing);
		if (missing)
			return fail(err, errlen, "%s: missing", path);
		size_t first = p->nbatches, cap_ts = 64, nts = 0;
		int64_t *max_ts = malloc(cap_ts * sizeof(*max_ts));
		uint64_t pos = 0;
		int rc = 0;
		while (pos < len && !rc) {
			struct rb_header h;
			long n = rb_validate(m + pos, len - pos, true, &h);
			if (n < 0)
				break;
			if (h.base_offset != p->end) {
				rc = fail(err, errlen, "%s: batch at position %" PRIu64 " has offset %" PRId64 ", %" PRId64 " was due",
					  path, pos, h.base_offset, p->end);
				break;
			}
			push_batch(p, &(struct lc_batch){ base, pos, (uint64_t)n, h.base_offset, rb_last_offset(&h) }, &bcap);
			if (nts == cap_ts && !(max_ts = realloc(max_ts, (cap_ts *= 2) * sizeof(*max_ts))))
				abort();
			max_ts[nts++] = h.max_timestamp;
			rc = check_records(p, m + pos, (size_t)n, &h, &idcap, err, errlen);
			pos += (uint64_t)n;
		}
		if (!rc && pos < len) {
			/* only the active segment may go on, and then with zeros only */
			bool zeros = active;
			for (uint64_t i = pos; zeros && i < len; i++)
				zeros = m[i] == 0;
			if (!zeros && active && (flags & LC_TORN_OK))
				p->torn = len - pos;
			else if (!zeros)
				rc = fail(err, errlen, "%s: %" PRIu64 " bytes after the last good batch (position %" PRIu64
					  ") are not a clean %s", path, len - pos, pos, active ? "zero tail" : "end");
		}
		if (active)
			p->active_size = pos;
		if (m)
			munmap((void *)m, len);
		if (!rc)
			rc = check_indexes(p, dir, base, first, max_ts, err, errlen);
		free(max_ts);
		if (rc)
			return rc;
	}
	return 0;
}

void lc_free(struct lc_part *p)
{
	free(p->ids);
	free(p->batches);
	free(p->seg_bases);
	memset(p, 0, sizeof(*p));
}

const struct lc_batch *lc_batch_of(const struct lc_part *p, int64_t offset)
{
	size_t lo = 0, hi = p->nbatches;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->batches[mid].last_offset < offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < p->nbatches && p->batches[lo].base_offset <= offset ? &p->batches[lo] : NULL;
}
