/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_recovery.c — partition recovery (part_open) over arbitrary segment and index
 * files. The input is a small header (up to three segment base offsets, the index
 * interval) and then files: [u8 kind][u8 segment][u16 length][bytes] with kind 0 = .log,
 * 1 = .index, 2 = .timeindex. They are written into a fresh partition directory, which
 * is then opened. Invariants, for any bytes:
 *   - recovery succeeds, the segments run on (each ends where the next begins), the high
 *     watermark is the active segment's end;
 *   - index entries increase, lie inside their segment's log, and the last one names
 *     the batch that ends at its offset; time-index entries increase and name offsets of
 *     the segment;
 *   - from the last index entry on, every batch passes rb_validate with its CRC and the
 *     offsets continue to the segment's end; a sealed segment's file ends there, an
 *     active one holds only zeros after it;
 *   - opening again changes nothing, and an append after recovery survives a reopen and
 *     reads back.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "logging.h"
#include "partition.h"
#include "record_batch.h"

static char dir[PATH_MAX];

static void clear_dir(void);

static void remove_dir(void)
{
	clear_dir();
	rmdir(dir);
	*strrchr(dir, '/') = '\0';
	rmdir(dir);
}

static void make_dir(void)
{
	if (dir[0])
		return;
	const char *tmp = getenv("TMPDIR");
	char root[PATH_MAX - 16];
	snprintf(root, sizeof(root), "%s/pagebus-fuzz-recovery-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	FUZZ_CHECK(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/t-0", root);
	FUZZ_CHECK(mkdir(dir, 0755) == 0);
	atexit(remove_dir);
	log_set_level(LOG_ERROR); /* recovery's warnings are expected here */
}

static void clear_dir(void)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		char p[PATH_MAX + 300];
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
}

static void write_file(int64_t base, int kind, const uint8_t *b, size_t n)
{
	static const char *const ext[] = { ".log", ".index", ".timeindex" };
	char p[PATH_MAX + 64];
	snprintf(p, sizeof(p), "%s/%020" PRId64 "%s", dir, base, ext[kind]);
	int fd = open(p, O_WRONLY | O_CREAT | O_APPEND, 0644);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(write(fd, b, n) == (ssize_t)n);
	close(fd);
}

static uint64_t file_size(int fd)
{
	struct stat st;
	FUZZ_CHECK(fstat(fd, &st) == 0);
	return (uint64_t)st.st_size;
}

static void check_segment(const struct partition *p, size_t i, const struct log_config *cfg)
{
	const struct segment *s = p->segs[i];
	bool active = i + 1 == p->nsegs;
	FUZZ_CHECK(s->committed == s->size && s->next_offset >= s->base);
	for (size_t k = 0; k < s->oix.n; k++) {
		const struct oindex_entry *e = oindex_at(&s->oix, k);
		FUZZ_CHECK(e->pos < s->size && e->rel <= INT32_MAX);
		if (k)
			FUZZ_CHECK(e->rel > oindex_at(&s->oix, k - 1)->rel && e->pos > oindex_at(&s->oix, k - 1)->pos);
	}
	if (s->oix.n) {
		const struct oindex_entry *e = oindex_at(&s->oix, s->oix.n - 1);
		struct rb_header h;
		FUZZ_CHECK(rb_header_parse(s->map + e->pos, s->size - e->pos, &h) == 0);
		FUZZ_CHECK(rb_last_offset(&h) == s->base + (int64_t)e->rel);
	}
	/* recovery trusts what comes before the batch that carried the last time-index
	 * entry's timestamp (the point a walk resumes at) and validated everything after */
	uint64_t pos = 0;
	int64_t next = s->base;
	if (s->tix.n) {
		const struct tindex_entry *t = tindex_at(&s->tix, s->tix.n - 1);
		int64_t carrier = s->base + (int64_t)t->rel;
		long k = oindex_lookup(&s->oix, t->rel);
		uint64_t at = k < 0 ? 0 : oindex_at(&s->oix, (size_t)k)->pos;
		struct rb_header h;
		while (at < s->size && rb_header_parse(s->map + at, s->size - at, &h) == 0 && rb_last_offset(&h) < carrier)
			at += rb_total_size(&h);
		FUZZ_CHECK(at < s->size && rb_last_offset(&h) == carrier && h.max_timestamp == t->ts);
		pos = at;
		next = h.base_offset;
	}
	while (pos < s->size) { /* the part recovery validated */
		struct rb_header h;
		long n = rb_validate(s->map + pos, s->size - pos, true, &h);
		FUZZ_CHECK(n > 0 && h.base_offset == next);
		pos += (uint64_t)n;
		next = rb_last_offset(&h) + 1;
	}
	FUZZ_CHECK(pos == s->size && next == s->next_offset);
	for (size_t k = 0; k < s->tix.n; k++) {
		const struct tindex_entry *t = tindex_at(&s->tix, k);
		FUZZ_CHECK(s->base + (int64_t)t->rel < s->next_offset && t->ts <= s->max_ts);
		if (k)
			FUZZ_CHECK(t->ts > tindex_at(&s->tix, k - 1)->ts && t->rel >= tindex_at(&s->tix, k - 1)->rel);
	}
	uint64_t fsize = file_size(s->fd);
	if (!active) {
		FUZZ_CHECK(s->sealed && fsize == s->size);
		return;
	}
	FUZZ_CHECK(fsize >= cfg->segment_bytes && s->map_len >= s->size);
	uint8_t buf[4096];
	for (uint64_t at = s->size; at < fsize; at += sizeof(buf)) {
		size_t want = fsize - at < sizeof(buf) ? (size_t)(fsize - at) : sizeof(buf);
		FUZZ_CHECK(pread(s->fd, buf, want, (off_t)at) == (ssize_t)want);
		for (size_t k = 0; k < want; k++)
			FUZZ_CHECK(buf[k] == 0);
	}
}

static void check_partition(const struct partition *p, const struct log_config *cfg)
{
	FUZZ_CHECK(p->nsegs >= 1 && p->log_start == p->segs[0]->base);
	for (size_t i = 0; i < p->nsegs; i++) {
		if (i + 1 < p->nsegs)
			FUZZ_CHECK(p->segs[i]->next_offset == p->segs[i + 1]->base);
		check_segment(p, i, cfg);
	}
	FUZZ_CHECK(p->hwm == p->next_offset && p->hwm == p->segs[p->nsegs - 1]->next_offset);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	make_dir();
	clear_dir();
	struct fuzz_in in = { data, data + size };
	/* up to three segments; the top bit of a base puts it near the end of the offsets */
	int64_t base[3];
	for (int i = 0; i < 3; i++) {
		uint64_t v = fuzz_take(&in, 4);
		base[i] = v & 0x80000000u ? INT64_MAX - (int64_t)(v & 0x7fffffff) : (int64_t)v;
	}
	struct log_config cfg;
	log_config_defaults(&cfg);
	cfg.segment_bytes = 16384;
	cfg.index_interval_bytes = (uint32_t)(1 + fuzz_take(&in, 2) % 2048);
	bool wrote[3] = { false };
	while (in.p < in.end) {
		int kind = (int)(fuzz_take(&in, 1) % 3), seg = (int)(fuzz_take(&in, 1) % 3);
		size_t n = (size_t)fuzz_take(&in, 2);
		if (n > (size_t)(in.end - in.p))
			n = (size_t)(in.end - in.p);
		write_file(base[seg], kind, in.p, n);
		in.p += n;
		wrote[seg] |= kind == 0;
	}
	for (int i = 0; i < 3; i++) /* a segment is its .log: give each index file one */
		if (!wrote[i])
			write_file(base[i], 0, NULL, 0);

	struct partition *p = NULL;
	FUZZ_CHECK(part_open(dir, &cfg, &p) == 0);
	check_partition(p, &cfg);
	size_t nsegs = p->nsegs;
	int64_t hwm = p->hwm, start = p->log_start;
	uint64_t active_size = p->segs[nsegs - 1]->size;
	part_close(p);

	/* recovery is idempotent */
	FUZZ_CHECK(part_open(dir, &cfg, &p) == 0);
	FUZZ_CHECK(p->nsegs == nsegs && p->hwm == hwm && p->log_start == start &&
		   p->segs[nsegs - 1]->size == active_size);
	check_partition(p, &cfg);

	/* and the log takes appends where it ended */
	uint8_t buf[256];
	struct rb_builder b;
	FUZZ_CHECK(rb_builder_init(&b, buf, sizeof(buf)) == 0);
	FUZZ_CHECK(rb_builder_add(&b, 1000, "k", 1, "value", 5, NULL, 0) == 0);
	FUZZ_CHECK(rb_builder_add(&b, 1001, "k", 1, "value", 5, NULL, 0) == 0);
	long len = rb_builder_finish(&b);
	int64_t at = -1;
	int err = part_append(p, buf, (uint64_t)len, 2000, &at);
	if (err == 0) {
		FUZZ_CHECK(at == hwm && p->hwm == hwm + 2);
		FUZZ_CHECK(part_flush(p) == 0);
		part_close(p);
		FUZZ_CHECK(part_open(dir, &cfg, &p) == 0);
		FUZZ_CHECK(p->hwm == hwm + 2);
		check_partition(p, &cfg);
		struct part_range r;
		FUZZ_CHECK(part_read(p, hwm, 4096, &r) == 1);
		FUZZ_CHECK(r.first_offset == hwm && r.last_offset == hwm + 1 && r.len == (uint64_t)len);
		part_range_release(&r);
	} else {
		/* only a log at the end of the offset space may refuse it */
		FUZZ_CHECK(err == -EOVERFLOW && hwm > INT64_MAX - 2);
	}
	part_close(p);
	return 0;
}
