/* SPDX-License-Identifier: Apache-2.0 */
/*
 * producer.c — the broker's side of a producer ring (layout in ring_types.h): create
 * the memfd, drain published entries (copying each header before deciding on it and
 * each batch before validating it), answer bad entries with error acks, write acks in
 * place, release ring space in order, and sleep/wake on the doorbell futex.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "atomics.h"
#include "broker.h"
#include "logging.h"
#include "pagebus.h"
#include "ring_entry.h"

/* Most entries taken from one ring per loop turn, so one busy producer cannot starve
 * the others. */
#define DRAIN_BUDGET 4096

static void sink_ack(struct ack_sink *s, uint64_t cookie, int64_t offset, int err, bool durable)
{
	producer_ack(container_of(s, struct bproducer, sink), cookie, offset, err, durable);
}

static void sink_get(struct ack_sink *s)
{
	container_of(s, struct bproducer, sink)->refs++;
}

static void sink_put(struct ack_sink *s)
{
	producer_put(container_of(s, struct bproducer, sink));
}

static const struct ack_sink_ops ring_sink_ops = { sink_ack, sink_get, sink_put };

int producer_open(struct session *s, struct topic *t, uint32_t ring_bytes, struct bproducer **out)
{
	struct broker *b = s->b;
	*out = NULL;
	struct bproducer *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	int err;
	p->sink.ops = &ring_sink_ops;
	p->b = b;
	p->sess = s;
	p->topic_id = t->id;
	p->cap = ring_bytes;
	p->map_len = PB_RING_HEADER_SIZE + (size_t)ring_bytes;
	p->refs = 1;
	p->stop_at = UINT64_MAX;
	p->fd = memfd_create("pagebus-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (p->fd < 0)
		goto err_errno;
	if (ftruncate(p->fd, (off_t)p->map_len) < 0)
		goto err_errno;
	/* The client shares this memfd: the seals stop it from shrinking the ring under
	 * the broker's mapping (which would SIGBUS the broker). */
	if (fcntl(p->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto err_errno;
	void *m = mmap(NULL, p->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, p->fd, 0);
	if (m == MAP_FAILED)
		goto err_errno;
	p->hdr = m;
	p->data = (uint8_t *)m + PB_RING_HEADER_SIZE;
	p->id = ++b->next_producer_id;
	p->hdr->layout_version = PB_RING_VERSION;
	p->hdr->header_size = PB_RING_HEADER_SIZE;
	p->hdr->capacity = ring_bytes;
	p->hdr->broker_pid = (uint32_t)getpid();
	p->hdr->topic_id = t->id;
	p->hdr->partitions = (uint32_t)t->nparts;
	p->hdr->producer_id = p->id;
	/* magic last: a client that sees it sees the whole header */
	store_release(&p->hdr->magic, PB_RING_MAGIC);
	list_add_tail(&b->producers, &p->link);
	list_add_tail(&s->producers, &p->sess_link);
	*out = p;
	return 0;
err_errno:
	err = -errno;
	if (p->fd >= 0)
		close(p->fd);
	free(p);
	return err;
}

void producer_put(struct bproducer *p)
{
	if (--p->refs > 0)
		return;
	list_del(&p->link);
	munmap(p->hdr, p->map_len);
	close(p->fd);
	free(p->q);
	free(p);
}

void producer_close(struct bproducer *p)
{
	if (p->closing)
		return;
	p->closing = true;
	/* What was fully published is appended; a half-written entry is past the
	 * tail and is discarded with the ring. */
	uint64_t tail = load_acquire(&p->hdr->tail);
	p->stop_at = tail >= p->drain && tail - p->head <= p->cap ? tail : p->drain;
	if (p->sess)
		list_del(&p->sess_link);
	p->sess = NULL;
}

bool producer_finished(const struct bproducer *p)
{
	return p->closing && p->qn == 0 && p->drain >= p->stop_at && !p->wait_armed;
}

/* One warning line per second per producer at most; the count says how many. */
static void log_bad(struct bproducer *p, uint64_t pos, const char *what, int err)
{
	p->errors++;
	p->b->stats.errors[BERR_REFUSED_BATCH]++;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if ((uint32_t)ts.tv_sec == p->last_error_log && p->errors > 1)
		return;
	p->last_error_log = (uint32_t)ts.tv_sec;
	log_warn("producer %u (pid %d): entry at ring position %" PRIu64 " refused: %s (%s); %" PRIu64
		 " refused so far",
		 p->id, p->sess ? (int)p->sess->pid : -1, pos, what, pagebus_strerror(err), p->errors);
}

static struct ackq_item *queue_at(struct bproducer *p, uint64_t qseq)
{
	return &p->q[(p->qhead + (qseq - p->qbase)) % p->qcap];
}

static int queue_push(struct bproducer *p, uint64_t pos, uint64_t end, bool has_ack, uint64_t *qseq)
{
	if (p->qn == p->qcap) {
		size_t ncap = p->qcap ? p->qcap * 2 : 256;
		struct ackq_item *nq = malloc(ncap * sizeof(*nq));
		if (!nq)
			return -ENOMEM;
		for (size_t i = 0; i < p->qn; i++)
			nq[i] = p->q[(p->qhead + i) % p->qcap];
		free(p->q);
		p->q = nq;
		p->qcap = ncap;
		p->qhead = 0;
	}
	*qseq = p->qbase + p->qn;
	p->qn++;
	*queue_at(p, *qseq) = (struct ackq_item){ pos, end, !has_ack, has_ack, p->b->turn_ns };
	return 0;
}

void producer_ack(struct bproducer *p, uint64_t qseq, int64_t offset, int err, bool durable)
{
	if (qseq < p->qbase || qseq - p->qbase >= p->qn)
		return;
	struct ackq_item *it = queue_at(p, qseq);
	if (it->has_ack) {
		struct pb_ring_entry *e = (struct pb_ring_entry *)(p->data + it->pos % p->cap);
		store_relaxed(&e->ack_offset, offset);
		store_relaxed(&e->ack_error, err);
		/* The client reads the ack after it sees head pass the entry (head is a
		 * release store after this), or polls ack_state: release here too. */
		store_release(&e->ack_state, PB_ACK_DONE | (durable ? PB_ACK_DURABLE : 0u));
		p->acks++;
		/* the writer set ack_ns when its completion came; error acks are not appends */
		if (!err)
			hist_observe(&p->b->stats.append_latency, p->b->ack_ns - it->drained_ns);
	}
	it->done = true;
}

static void futex_wake(uint32_t *word)
{
	/* shared (not private): the waiter is the producer process */
	syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

void producer_release(struct bproducer *p)
{
	uint64_t head = p->head;
	while (p->qn && p->q[p->qhead].done) {
		head = p->q[p->qhead].end;
		p->qhead = (p->qhead + 1) % p->qcap;
		p->qn--;
		p->qbase++;
	}
	if (head == p->head)
		return;
	p->head = head;
	store_release(&p->hdr->head, head);
	fetch_add_release(&p->hdr->head_futex, 1);
	/* Dekker with the producer: it sets producer_waiting, then re-reads head */
	full_fence();
	if (load_relaxed(&p->hdr->producer_waiting))
		futex_wake(&p->hdr->head_futex);
}

/* Broken ring bookkeeping (tail behind the broker or past capacity): the ring cannot
 * be trusted any further; the session is closed. */
static void ring_broken(struct bproducer *p, uint64_t tail)
{
	log_error("producer %u (pid %d): ring is inconsistent (tail %" PRIu64 ", drained %" PRIu64
		  ", head %" PRIu64 ", capacity %u); closing the session",
		  p->id, p->sess ? (int)p->sess->pid : -1, tail, p->drain, p->head, p->cap);
	p->b->stats.errors[BERR_RING_BROKEN]++;
	struct session *s = p->sess;
	p->stop_at = p->drain;
	if (s)
		session_close(s);
}

bool producer_drain(struct bproducer *p)
{
	uint64_t tail = load_acquire(&p->hdr->tail);
	if (tail > p->stop_at)
		tail = p->stop_at;
	if (tail == p->drain)
		return false;
	if (tail < p->drain || tail - p->head > p->cap) {
		ring_broken(p, tail);
		return false;
	}
	p->stalled = false;
	int budget = DRAIN_BUDGET;
	while (p->drain < tail && budget--) {
		uint64_t pos = p->drain, qseq;
		struct pb_ring_entry eh; /* the broker's copy: the client cannot change it */
		struct ring_decision d = ring_entry_check(p->data, p->cap, pos, tail, p->topic_id, &eh);
		if (d.verdict == RING_BROKEN) {
			ring_broken(p, tail);
			return true;
		}
		if (d.verdict == RING_PAD) {
			queue_push(p, pos, pos + d.span, false, &qseq);
			p->drain += d.span;
			continue;
		}
		if (d.verdict == RING_REFUSE_REST) {
			/* The entry's length cannot be trusted, so neither can anything after
			 * it that was published: refuse this entry and skip to the tail. */
			if (queue_push(p, pos, tail, true, &qseq) < 0)
				return true;
			log_bad(p, pos, "entry type or length out of range; skipping what was published after it", d.err);
			producer_ack(p, qseq, -1, d.err, false);
			p->drain = tail;
			break;
		}
		if (queue_push(p, pos, pos + d.span, true, &qseq) < 0)
			return true;
		p->drain += d.span;
		struct bpart *bp = NULL;
		int err = d.err;
		if (!err && !(bp = broker_part(p->b, eh.topic_id, eh.partition)))
			err = -ENOENT;
		struct rb_header h;
		if (!err) /* validates the broker's copy: what is checked is what gets written */
			err = writer_stage_batch(bp, p->data + pos % p->cap + sizeof(eh), eh.batch_len, &h);
		if (!err)
			err = writer_add(bp, &h, eh.batch_len, &p->sink, qseq, (uint8_t)eh.acks);
		if (err == -EBUSY) {
			/* the partition must finish a write before it can roll: retry later */
			p->qn--;
			p->drain = pos;
			p->stalled = true;
			return true;
		}
		if (err) {
			log_bad(p, pos, "bad batch", err);
			producer_ack(p, qseq, -1, err, false);
			continue;
		}
		p->entries++;
		p->bytes += eh.batch_len;
	}
	return true;
}

static void wait_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags)
{
	(void)l;
	(void)res;
	(void)flags;
	struct bproducer *p = op->ctx;
	p->wait_armed = false;
	producer_put(p);
}

bool producer_prepare_sleep(struct bproducer *p)
{
	store_relaxed(&p->hdr->broker_sleeping, 1);
	/* Order the flag store before the loads below; the producer does the mirror:
	 * store tail, fence, load broker_sleeping (then bump the doorbell and wake). */
	full_fence();
	uint32_t bell = load_acquire(&p->hdr->doorbell);
	uint64_t tail = load_acquire(&p->hdr->tail);
	if (tail != p->drain && p->drain < p->stop_at) {
		store_relaxed(&p->hdr->broker_sleeping, 0);
		return false;
	}
	if (!p->wait_armed && !p->closing) {
		p->op_wait = (struct uloop_op){ .cb = wait_done, .ctx = p };
		struct io_uring_sqe *sqe = uloop_sqe(&p->b->loop, &p->op_wait);
		if (!sqe)
			return false;
		uloop_prep_futex_wait(sqe, &p->hdr->doorbell, bell, FUTEX_BITSET_MATCH_ANY, FUTEX2_SIZE_U32);
		p->wait_armed = true;
		p->refs++;
	}
	return true;
}

void producer_wake_done(struct bproducer *p)
{
	store_relaxed(&p->hdr->broker_sleeping, 0);
}
