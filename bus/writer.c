/* SPDX-License-Identifier: Apache-2.0 */
/*
 * writer.c — the append path's second half: per partition, batches drained from the
 * rings are staged (copied out of the rings, so a client cannot change bytes after they
 * were validated), get their offsets, and go to the log tail as one io_uring write per
 * group, with a linked fdatasync when a durable ack waits (or a group commit every
 * flush.ms). On completion: commit, publish the high watermark, wake readers, ack.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "kafka.h"
#include "logging.h"
#include "pagebus.h"

static int grow(void **p, size_t *cap, size_t want, size_t elem)
{
	if (want <= *cap)
		return 0;
	size_t n = *cap ? *cap : 16;
	while (n < want)
		n *= 2;
	void *q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static void mark_active(struct bpart *bp)
{
	if (!bp->active) {
		bp->active = true;
		list_add_tail(&bp->b->active_parts, &bp->active_link);
	}
}

uint8_t *writer_stage(struct bpart *bp, size_t len)
{
	struct wgroup *g = &bp->g[bp->fill];
	if (grow((void **)&g->buf, &g->cap, g->len + len, 1) < 0)
		return NULL;
	return g->buf + g->len;
}

int writer_stage_batch(struct bpart *bp, const void *src, size_t len, struct rb_header *h)
{
	const struct broker_config *cfg = bp->b->cfg;
	if (len > cfg->max_message_bytes)
		return -EMSGSIZE;
	uint8_t *dst = writer_stage(bp, len);
	if (!dst)
		return -ENOMEM;
	memcpy(dst, src, len);
	long r = rb_validate(dst, len, cfg->verify_crc, h);
	if (r < 0)
		return (int)r;
	if ((uint64_t)r != len)
		return -PAGEBUS_EBADLEN;
	if ((h->attributes & RB_ATTR_CONTROL) || rb_codec(h) > RB_CODEC_ZSTD)
		return -PAGEBUS_EBADRECORD;
	return 0;
}

int writer_add(struct bpart *bp, const struct rb_header *h, size_t len, struct ack_sink *sink,
	       uint64_t cookie, uint8_t acks)
{
	struct wgroup *g = &bp->g[bp->fill];
	if (grow((void **)&g->e, &g->cap_e, g->n + 1, sizeof(*g->e)) < 0)
		return -ENOMEM;
	struct part_reservation r;
	int err = part_reserve(bp->log, h, len, bp->b->now_ms, &r);
	if (err)
		return err;
	/* Every group is written with one write: it must stay inside one segment. A
	 * reservation that rolled starts a new segment, which needs an empty group. */
	if (g->n && r.seg != g->first.seg) {
		part_abort(bp->log, &r);
		return -EBUSY;
	}
	rb_set_base_offset(g->buf + g->len, r.base_offset);
	if (!g->n)
		g->first = r;
	g->last = r;
	g->len += len;
	g->e[g->n++] = (struct wentry){ .sink = sink, .cookie = cookie, .base_offset = r.base_offset, .acks = acks };
	sink->ops->get(sink);
	if (acks == PB_ACKS_DURABLE)
		g->durable = true;
	mark_active(bp);
	return 0;
}

static void ack_entry(struct wentry *e, int err, bool durable)
{
	e->sink->ops->ack(e->sink, e->cookie, err ? -1 : e->base_offset, err, durable);
	e->sink->ops->put(e->sink);
}

static void group_reset(struct wgroup *g)
{
	g->len = 0;
	g->n = 0;
	g->durable = false;
}

static void write_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags);
static void fsync_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags);

static int submit_group(struct bpart *bp)
{
	struct broker *b = bp->b;
	struct wgroup *g = &bp->g[!bp->fill];
	struct iovec iov = { g->buf + bp->written, g->len - bp->written };
	uint64_t off = g->first.pos + bp->written;
	bool link = g->durable && b->cfg->flush_ms == 0;
	int err;
	bp->op_write = (struct uloop_op){ .cb = write_done, .ctx = bp };
	if (link) {
		bp->op_fsync = (struct uloop_op){ .cb = fsync_done, .ctx = bp };
		err = uloop_write_fsync(&b->loop, &bp->op_write, &bp->op_fsync, g->first.seg->fd, &iov, 1,
					off, true);
	} else {
		struct io_uring_sqe *sqe = uloop_sqe(&b->loop, &bp->op_write);
		err = sqe ? 0 : -EBUSY;
		if (sqe)
			io_uring_prep_writev(sqe, g->first.seg->fd, &iov, 1, off);
	}
	if (err)
		return err;
	/* io_uring reads the iovec at submission: submit now, the iov is on our stack */
	uloop_submit(&b->loop);
	bp->writing = true;
	bp->syncing = link;
	b->inflight += link ? 2 : 1;
	return 0;
}

/* Fails every entry of both groups (a write failed: nothing of them becomes visible). */
static void fail_groups(struct bpart *bp, int err)
{
	struct wgroup *w = &bp->g[!bp->fill], *f = &bp->g[bp->fill];
	struct part_reservation *from = w->n ? &w->first : &f->first;
	if ((w->n || f->n) && part_abort(bp->log, from) < 0)
		log_error("partition %s: cannot take back a failed write: %s", bp->log->name, strerror(-err));
	log_error("partition %s: write at position %" PRIu64 " failed: %s; %zu batch(es) refused",
		  bp->log->name, from->pos, strerror(-err), w->n + f->n);
	bp->b->stats.errors[BERR_WRITE]++;
	for (size_t i = 0; i < w->n; i++)
		ack_entry(&w->e[i], err, false);
	for (size_t i = 0; i < f->n; i++)
		ack_entry(&f->e[i], err, false);
	group_reset(w);
	group_reset(f);
}

static void publish(struct bpart *bp)
{
	struct broker *b = bp->b;
	/* segments first: a reader that sees the new HWM also sees the segment it is in */
	if (bp->log->generation != bp->seen_generation)
		broker_segments_changed(b, bp);
	control_publish_hwm(&b->control, bp->slot, bp->log->hwm, bp->consumers > 0);
	if (bp->kafka_waiters)
		kafka_part_appended(bp);
}

static void write_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags)
{
	(void)l;
	(void)flags;
	struct bpart *bp = op->ctx;
	struct broker *b = bp->b;
	struct wgroup *g = &bp->g[!bp->fill];
	b->inflight--;
	b->ack_ns = metrics_clock_ns();
	if (res > 0 && (size_t)res < g->len - bp->written) {
		/* short write: the rest goes again (its linked fsync was cancelled) */
		bp->written += (uint64_t)res;
		if (bp->syncing)
			bp->fsync_cancels++;
		if (submit_group(bp) == 0)
			return;
		res = -EIO;
	}
	if (res <= 0) {
		if (bp->syncing)
			bp->fsync_cancels++;
		bp->writing = bp->syncing = false;
		bp->written = 0;
		fail_groups(bp, res ? res : -EIO);
		mark_active(bp);
		return;
	}
	part_commit(bp->log, &g->last); /* reservations commit in order: the last covers all */
	bp->appended_msgs += (uint64_t)(g->last.last_offset + 1 - g->first.base_offset);
	bp->appended_bytes += g->len;
	bp->unsynced = true;
	publish(bp);
	bool linked = bp->syncing;
	if (linked)
		bp->fsync_start_ns = b->ack_ns; /* the linked fdatasync starts now */
	for (size_t i = 0; i < g->n; i++) {
		struct wentry *e = &g->e[i];
		if (e->acks != PB_ACKS_DURABLE) {
			ack_entry(e, 0, false);
		} else if (!linked) { /* group commit: wait for the next flush.ms fsync */
			if (grow((void **)&bp->await, &bp->cap_await, bp->nawait + 1, sizeof(*bp->await)) < 0) {
				ack_entry(e, -ENOMEM, false);
				continue;
			}
			bp->await[bp->nawait++] = *e;
		}
	}
	bp->written = 0;
	if (!linked) {
		bp->writing = false;
		group_reset(g);
	}
	mark_active(bp);
}

static void fsync_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags)
{
	(void)l;
	(void)flags;
	struct bpart *bp = op->ctx;
	bp->b->inflight--;
	if (bp->fsync_cancels && res == -ECANCELED) {
		bp->fsync_cancels--;
		return;
	}
	struct wgroup *g = &bp->g[!bp->fill];
	bp->b->ack_ns = metrics_clock_ns();
	hist_observe(&bp->b->stats.fsync_latency, bp->b->ack_ns - bp->fsync_start_ns);
	if (res < 0) {
		log_error("partition %s: fdatasync failed: %s; durable acks refused", bp->log->name,
			  strerror(-res));
		bp->b->stats.errors[BERR_FSYNC]++;
	}
	/* the group's bytes and everything before them are on disk now */
	struct part_mark m = { seg_get(g->last.seg), g->last.pos + g->last.len, g->last.last_offset + 1 };
	part_synced(bp->log, &m, res);
	for (size_t i = 0; i < g->n; i++)
		if (g->e[i].acks == PB_ACKS_DURABLE)
			ack_entry(&g->e[i], res < 0 ? res : 0, res == 0);
	if (res == 0)
		bp->unsynced = false;
	bp->writing = bp->syncing = false;
	group_reset(g);
	mark_active(bp);
}

/* Submit the collected group of every partition that has no write in flight. */
void writer_submit(struct broker *b)
{
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &b->active_parts) {
		struct bpart *bp = container_of(pos, struct bpart, active_link);
		if (bp->writing)
			continue;
		if (!bp->g[bp->fill].n) {
			list_del(&bp->active_link);
			bp->active = false;
			continue;
		}
		bp->fill = !bp->fill;
		int err = submit_group(bp);
		if (err) { /* the SQ is full: try again next turn */
			bp->fill = !bp->fill;
			continue;
		}
	}
}

static void gsync_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags)
{
	(void)l;
	(void)flags;
	struct bpart *bp = op->ctx;
	bp->b->inflight--;
	bp->b->ack_ns = metrics_clock_ns();
	hist_observe(&bp->b->stats.fsync_latency, bp->b->ack_ns - bp->fsync_start_ns);
	if (res < 0) {
		log_error("partition %s: group commit fdatasync failed: %s", bp->log->name, strerror(-res));
		bp->b->stats.errors[BERR_FSYNC]++;
	}
	part_synced(bp->log, &bp->gsync_mark, res);
	for (size_t i = 0; i < bp->gsync_n; i++)
		ack_entry(&bp->await[i], res < 0 ? res : 0, res == 0);
	/* only when some are left: with no durable entry waiting, await is still NULL */
	if (bp->nawait > bp->gsync_n)
		memmove(bp->await, bp->await + bp->gsync_n, (bp->nawait - bp->gsync_n) * sizeof(*bp->await));
	bp->nawait -= bp->gsync_n;
	bp->gsync_n = 0;
	bp->gsync_busy = false;
}

/* flush.ms timer: fdatasync every partition written since its last sync. */
void writer_group_commit(struct broker *b)
{
	uint64_t now = metrics_clock_ns();
	for (size_t t = 0; t < b->topics.n; t++) {
		struct topic *tp = b->topics.v[t];
		struct bpart *parts = tp->ctx;
		for (int32_t i = 0; parts && i < tp->nparts; i++) {
			struct bpart *bp = &parts[i];
			if (bp->gsync_busy || (!bp->unsynced && !bp->nawait))
				continue;
			bp->op_gsync = (struct uloop_op){ .cb = gsync_done, .ctx = bp };
			struct io_uring_sqe *sqe = uloop_sqe(&b->loop, &bp->op_gsync);
			if (!sqe)
				return;
			io_uring_prep_fsync(sqe, bp->log->segs[bp->log->nsegs - 1]->fd, IORING_FSYNC_DATASYNC);
			/* it covers every write completed by now: the committed end */
			part_mark_committed(bp->log, &bp->gsync_mark);
			bp->gsync_n = bp->nawait;
			bp->gsync_busy = true;
			bp->fsync_start_ns = now;
			bp->unsynced = false;
			b->inflight++;
		}
	}
}

bool writer_idle(const struct bpart *bp)
{
	return !bp->writing && !bp->gsync_busy && !bp->g[0].n && !bp->g[1].n && !bp->nawait;
}

void writer_free(struct bpart *bp)
{
	for (int i = 0; i < 2; i++) {
		free(bp->g[i].buf);
		free(bp->g[i].e);
	}
	free(bp->await);
	part_synced(bp->log, &bp->gsync_mark, -ECANCELED);
	if (bp->active)
		list_del(&bp->active_link);
}
