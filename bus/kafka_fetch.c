/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_fetch.c — Fetch v4. Each partition's records are one part_read range of whole
 * batches from the batch holding fetch_offset, within one segment and below the high
 * watermark, cut by partition_max_bytes and the response's max_bytes — except that the
 * first batch of the first partition with data is always whole (KIP-74). The ranges go
 * into the response as pieces, which the send path splices from the segment files.
 *
 * A Fetch with less than min_bytes waits: it counts itself in each partition's
 * kafka_waiters, writer.c's publish() calls kafka_part_appended() when one of them
 * gets data, and the Fetch is re-evaluated on the next loop turn; a timeout op ends the
 * wait at max_wait_ms. A Fetch's state lives until its timer completes.
 */
#include "kafka_fetch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_api.h"
#include "logging.h"

struct kf_part {
	uint32_t topic;       /* index into kfetch.topics */
	int32_t partition;
	int64_t offset;
	int32_t max_bytes;
	uint32_t wait_topic;  /* topic id it waits on (counted in that bpart), 0: none */
};

struct kfetch {
	struct list link;     /* kafka.fetches */
	struct kafka *k;
	struct kresp *r;      /* NULL once answered or aborted */
	int32_t max_wait, min_bytes, max_bytes;
	uint32_t ntopics, nparts;
	struct kc_topic *topics;
	struct kf_part *parts;
	struct part_range *ranges; /* one per partition while evaluating */
	bool waiting;         /* registered with its partitions */
	bool woken;           /* an append happened: re-evaluate next turn */
	bool timer_armed;
	struct uloop_op op_timer;
};

static void fetch_free(struct kfetch *f)
{
	list_del(&f->link);
	kc_topics_free(f->topics, f->ntopics);
	free(f->parts);
	free(f->ranges);
	free(f);
}

static void unwait(struct kfetch *f)
{
	struct broker *b = f->k->b;
	if (f->woken) {
		f->woken = false;
		f->k->nwake--;
	}
	if (!f->waiting)
		return;
	f->waiting = false;
	for (uint32_t i = 0; i < f->nparts; i++) {
		struct kf_part *p = &f->parts[i];
		struct bpart *bp = p->wait_topic ? broker_part(b, p->wait_topic, p->partition) : NULL;
		if (bp && bp->kafka_waiters > 0)
			bp->kafka_waiters--;
		p->wait_topic = 0;
	}
}

/* Answered or aborted: stop waiting; the state goes when its timer is done. */
static void fetch_done(struct kfetch *f)
{
	unwait(f);
	if (f->r) {
		f->r->state = NULL;
		f->r = NULL;
	}
	if (f->timer_armed)
		uloop_cancel(&f->k->b->loop, &f->op_timer, NULL);
	else
		fetch_free(f);
}

static void fetch_abort(struct kresp *r)
{
	struct kfetch *f = r->state;
	f->r = NULL;
	r->state = NULL;
	if (f->k->gone) /* kafka_fetch_free_all takes it */
		return;
	fetch_done(f);
}

/* Records of one partition, or its error. */
static int16_t read_part(struct kfetch *f, uint32_t i, bool *first, uint64_t *budget, int64_t *hwm)
{
	struct broker *b = f->k->b;
	struct kf_part *p = &f->parts[i];
	struct topic *t = topics_find(&b->topics, f->topics[p->topic].name);
	struct bpart *bp = t ? broker_part(b, t->id, p->partition) : NULL;
	*hwm = -1;
	if (!bp)
		return KERR_UNKNOWN_TOPIC_OR_PARTITION;
	struct partition *log = bp->log;
	*hwm = log->hwm;
	if (p->offset < log->log_start || p->offset > log->hwm)
		return KERR_OFFSET_OUT_OF_RANGE;
	uint64_t limit = p->max_bytes > 0 ? (uint64_t)p->max_bytes : 0;
	if (limit > *budget)
		limit = *budget;
	if (p->offset == log->hwm || (!*first && !limit))
		return KERR_NONE;
	int rc = part_read(log, p->offset, limit, &f->ranges[i]);
	if (rc == -ERANGE)
		return KERR_OFFSET_OUT_OF_RANGE;
	if (rc != 1)
		return KERR_NONE;
	/* part_read returns the first batch whole: allowed only for the first partition */
	if (!*first && f->ranges[i].len > limit) {
		part_range_release(&f->ranges[i]);
		return KERR_NONE;
	}
	*first = false;
	*budget -= f->ranges[i].len < *budget ? f->ranges[i].len : *budget;
	return KERR_NONE;
}

static void arm_wait(struct kfetch *f);

/* Answers now when there is enough (or an error, or final); else waits. */
static void fetch_eval(struct kfetch *f, bool final)
{
	int16_t *errs = calloc(f->nparts ? f->nparts : 1, sizeof(*errs));
	int64_t *hwms = calloc(f->nparts ? f->nparts : 1, sizeof(*hwms));
	if (!errs || !hwms) {
		free(errs);
		free(hwms);
		struct kconn *c = f->r->c;
		kconn_close(c, LOG_ERROR, "out of memory answering a Fetch");
		return;
	}
	/* like Kafka's broker-side fetch.max.bytes: records of one response stay within
	 * half the send queue, so the small answers pipelined behind it still fit */
	uint64_t total = 0, budget = f->max_bytes > 0 ? (uint64_t)f->max_bytes : 0;
	if (budget > f->k->b->cfg->kafka_send_queue_bytes / 2)
		budget = f->k->b->cfg->kafka_send_queue_bytes / 2;
	bool first = true, error = false;
	memset(f->ranges, 0, f->nparts * sizeof(*f->ranges));
	for (uint32_t i = 0; i < f->nparts; i++) {
		errs[i] = read_part(f, i, &first, &budget, &hwms[i]);
		error |= errs[i] != KERR_NONE;
		total += f->ranges[i].seg ? f->ranges[i].len : 0;
	}
	if (!final && !error && f->max_wait > 0 && f->nparts && total < (uint64_t)(f->min_bytes > 0 ? f->min_bytes : 0)) {
		for (uint32_t i = 0; i < f->nparts; i++)
			part_range_release(&f->ranges[i]);
		free(errs);
		free(hwms);
		arm_wait(f);
		return;
	}
	struct kresp *r = f->r;
	struct kc_writer *w = &r->w;
	kc_w_i32(w, 0); /* throttle_time_ms */
	kc_w_i32(w, (int32_t)f->ntopics);
	uint32_t i = 0;
	for (uint32_t t = 0; t < f->ntopics; t++) {
		kc_w_cstr(w, f->topics[t].name);
		kc_w_i32(w, (int32_t)f->topics[t].n);
		for (uint32_t j = 0; j < f->topics[t].n; j++, i++) {
			struct part_range *rg = &f->ranges[i];
			kc_w_i32(w, f->parts[i].partition);
			kc_w_i16(w, errs[i]);
			kc_w_i64(w, hwms[i]);
			kc_w_i64(w, hwms[i]); /* last_stable_offset: no transactions */
			kc_w_i32(w, 0);       /* aborted_transactions: none */
			kc_w_i32(w, rg->seg ? (int32_t)rg->len : 0); /* records: never -1 */
			if (rg->seg && kresp_add_piece(r, rg) < 0) {
				part_range_release(rg);
				w->err = -ENOMEM;
			}
			rg->seg = NULL; /* the response holds it now */
		}
	}
	free(errs);
	free(hwms);
	fetch_done(f);
	kresp_ready(r);
}

static void timer_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags)
{
	(void)l;
	(void)res;
	(void)flags;
	struct kfetch *f = op->ctx;
	f->timer_armed = false;
	if (f->r)
		fetch_eval(f, true); /* max_wait_ms is up: answer with what there is */
	else
		fetch_free(f);
}

static void arm_wait(struct kfetch *f)
{
	struct broker *b = f->k->b;
	if (!f->waiting) {
		f->waiting = true;
		for (uint32_t i = 0; i < f->nparts; i++) {
			struct kf_part *p = &f->parts[i];
			struct topic *t = topics_find(&b->topics, f->topics[p->topic].name);
			struct bpart *bp = t ? broker_part(b, t->id, p->partition) : NULL;
			if (bp) {
				bp->kafka_waiters++;
				p->wait_topic = t->id;
			}
		}
	}
	if (!f->timer_armed) {
		f->op_timer = (struct uloop_op){ .cb = timer_done, .ctx = f };
		if (uloop_timeout(&b->loop, &f->op_timer, (uint64_t)f->max_wait * 1000000ull) == 0)
			f->timer_armed = true;
		else
			fetch_eval(f, true); /* no timer: answer now rather than hang */
	}
}

int kafka_fetch_request(struct kconn *c, struct kafka_request *req)
{
	const struct kreq_fetch *m = &req->u.fetch;
	struct kfetch *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->k = c->k;
	list_init(&f->link);
	f->max_wait = m->max_wait_ms;
	f->min_bytes = m->min_bytes;
	f->max_bytes = m->max_bytes;
	f->parts = calloc(m->nparts ? m->nparts : 1, sizeof(*f->parts));
	f->ranges = calloc(m->nparts ? m->nparts : 1, sizeof(*f->ranges));
	if (!f->parts || !f->ranges) {
		fetch_free(f);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < m->nparts; i++)
		f->parts[i] = (struct kf_part){ m->parts[i].topic, m->parts[i].partition, m->parts[i].offset,
						m->parts[i].max_bytes, 0 };
	f->nparts = m->nparts;
	f->topics = m->topics; /* the state owns the topic names from here */
	f->ntopics = m->ntopics;
	req->u.fetch.topics = NULL;
	req->u.fetch.ntopics = 0;
	f->r = kresp_new(c, &req->h);
	if (!f->r) {
		fetch_free(f);
		return -ENOMEM;
	}
	f->r->state = f;
	f->r->abort = fetch_abort;
	list_add_tail(&c->k->fetches, &f->link);
	fetch_eval(f, false);
	return 0;
}

void kafka_fetch_wake(struct kafka *k, const struct bpart *bp)
{
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &k->fetches) {
		struct kfetch *f = container_of(pos, struct kfetch, link);
		if (!f->waiting || f->woken)
			continue;
		for (uint32_t i = 0; i < f->nparts; i++)
			if (f->parts[i].wait_topic == bp->topic->id && f->parts[i].partition == bp->index) {
				f->woken = true;
				k->nwake++;
				break;
			}
	}
}

bool kafka_fetch_turn(struct kafka *k)
{
	if (!k->nwake)
		return false;
	/* one at a time from the head: answering one may close a connection and free
	 * other fetches of it, so no pointer is kept across an evaluation */
	while (k->nwake) {
		struct kfetch *f = NULL;
		struct list *pos;
		for (pos = k->fetches.next; pos != &k->fetches; pos = pos->next)
			if ((f = container_of(pos, struct kfetch, link))->woken)
				break;
		if (pos == &k->fetches)
			break;
		f->woken = false;
		k->nwake--;
		if (f->r)
			fetch_eval(f, false);
	}
	return true;
}

void kafka_fetch_free_all(struct kafka *k)
{
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &k->fetches) {
		struct kfetch *f = container_of(pos, struct kfetch, link);
		if (f->r)
			f->r->state = NULL;
		fetch_free(f);
	}
}
