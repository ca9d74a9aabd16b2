/* SPDX-License-Identifier: Apache-2.0 */
/*
 * producer.c — libpagebus producers: records are encoded straight into the shared ring
 * as a RecordBatch v2 (no intermediate buffer), published with a release store of the
 * ring tail (and a doorbell when the broker sleeps), and acked in place by the broker.
 * A background thread publishes batches that waited for an ack or for linger, and
 * reports deliveries.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "atomics.h"
#include "client.h"
#include "record_batch.h"
#include "ring_types.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef FUTEX_32
#define FUTEX_32 2
#endif
struct pb_futex_waitv { /* struct futex_waitv, kernel 5.16+ */
	uint64_t val;
	uint64_t uaddr;
	uint32_t flags;
	uint32_t reserved;
};

#define DEFAULT_BATCH_BYTES (64 * 1024)

struct pending {       /* a published entry waiting for its ack */
	uint64_t pos, end;
	int32_t partition;
	uint32_t count;    /* messages in the batch */
	uint64_t first_msg; /* index of its first message in msg_ctx */
};

struct pagebus_producer {
	struct pagebus *pb;
	struct pagebus_producer_opts opts;
	uint32_t id, topic_id;
	int32_t nparts;
	int fd;
	struct pb_ring_header *hdr;
	uint8_t *data;
	uint32_t cap;
	size_t map_len;
	pthread_mutex_t lock;
	uint64_t tail;          /* published */
	uint64_t freed;         /* ring space released by the broker and harvested */
	/* the batch being built, beyond the tail */
	bool open;
	uint64_t open_pos;      /* where its entry starts (after any pad) */
	uint64_t open_pad;      /* pad bytes before it, published with it */
	int32_t open_part;
	uint64_t open_us;
	uint32_t open_room;     /* bytes reserved for its batch */
	struct rb_builder b;
	/* published, not acked */
	struct pending *pend;
	size_t pend_cap, pend_head, pend_n;
	void **msg_ctx;         /* per message, when there is a delivery callback */
	uint64_t msg_cap, msg_head, msg_n;
	uint64_t seq;
	int first_error;
	int32_t sticky;
	bool broken;
	/* background thread */
	pthread_t thread;
	bool thread_started;
	bool stop;
	uint32_t kick;          /* private futex: wakes the thread for a new batch */
};

static int broker_gone(struct pagebus_producer *p)
{
	if (!p->broken && pb_check_alive(p->pb) < 0)
		p->broken = true;
	return p->broken ? -EPIPE : 0;
}

/* ---- acks ---------------------------------------------------------------------------- */

/* Reports every entry the broker released. Lock held. */
static void harvest(struct pagebus_producer *p)
{
	uint64_t head = load_acquire(&p->hdr->head);
	while (p->pend_n) {
		struct pending *e = &p->pend[p->pend_head];
		if (e->end > head)
			break;
		const struct pb_ring_entry *re = (const void *)(p->data + e->pos % p->cap);
		uint32_t state = load_acquire(&re->ack_state);
		int err = state & PB_ACK_DONE ? re->ack_error : -EPROTO; /* skipped: never appended */
		int64_t base = state & PB_ACK_DONE ? re->ack_offset : -1;
		if (err > 0 || (err == 0 && base < 0))
			err = -EPROTO;
		if (err && !p->first_error)
			p->first_error = err;
		if (p->opts.delivery_cb) {
			for (uint32_t i = 0; i < e->count; i++) {
				void *ctx = p->msg_ctx[(e->first_msg + i) % p->msg_cap];
				p->opts.delivery_cb(p->opts.delivery_ctx, ctx, e->partition, err ? -1 : base + i, err);
			}
			p->msg_head = (e->first_msg + e->count) % p->msg_cap;
			p->msg_n -= e->count;
		}
		p->pend_head = (p->pend_head + 1) % p->pend_cap;
		p->pend_n--;
	}
	/* space before head is free again (pads included) */
	if (head > p->freed && head <= p->tail)
		p->freed = head;
}

/* ---- publishing ------------------------------------------------------------------------- */

static int pend_push(struct pagebus_producer *p, struct pending e)
{
	if (p->pend_n == p->pend_cap) {
		size_t ncap = p->pend_cap ? p->pend_cap * 2 : 64;
		struct pending *n = malloc(ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		for (size_t i = 0; i < p->pend_n; i++)
			n[i] = p->pend[(p->pend_head + i) % p->pend_cap];
		free(p->pend);
		p->pend = n;
		p->pend_cap = ncap;
		p->pend_head = 0;
	}
	p->pend[(p->pend_head + p->pend_n++) % p->pend_cap] = e;
	return 0;
}

/* Publishes the open batch. Lock held. */
static int publish(struct pagebus_producer *p)
{
	if (!p->open)
		return 0;
	long blen = rb_builder_finish(&p->b);
	if (blen < 0)
		return (int)blen;
	if (p->open_pad >= sizeof(struct pb_ring_entry)) {
		struct pb_ring_entry *pad = (void *)(p->data + (p->open_pos - p->open_pad) % p->cap);
		memset(pad, 0, sizeof(*pad));
		pad->len = (uint32_t)p->open_pad;
		pad->type = PB_ENTRY_PAD;
	}
	struct pb_ring_entry *e = (void *)(p->data + p->open_pos % p->cap);
	uint32_t len = pb_entry_size((uint32_t)blen);
	e->len = len;
	e->type = PB_ENTRY_DATA;
	e->batch_len = (uint32_t)blen;
	e->topic_id = p->topic_id;
	e->partition = p->open_part;
	e->acks = (uint32_t)p->opts.acks;
	e->seq = ++p->seq;
	e->ack_offset = -1;
	e->ack_error = 0;
	e->ack_state = 0;
	uint64_t first = p->opts.delivery_cb ? (p->msg_head + p->msg_n - (uint64_t)p->b.count) % p->msg_cap : 0;
	int err = pend_push(p, (struct pending){ p->open_pos, p->open_pos + len, p->open_part, (uint32_t)p->b.count, first });
	if (err)
		return err;
	p->open = false;
	p->tail = p->open_pos + len;
	/* the entry's bytes before the tail that covers them */
	store_release(&p->hdr->tail, p->tail);
	/* Dekker with the broker: it sets broker_sleeping, fences, then re-reads tail */
	full_fence();
	if (load_relaxed(&p->hdr->broker_sleeping)) {
		fetch_add_release(&p->hdr->doorbell, 1);
		pb_futex_wake(&p->hdr->doorbell);
	}
	return 0;
}

/* Waits (lock dropped) until the broker releases ring space or timeout_ms passes. */
static int wait_head(struct pagebus_producer *p, int timeout_ms)
{
	uint32_t seen = load_acquire(&p->hdr->head_futex);
	uint64_t head = load_acquire(&p->hdr->head);
	if (head != p->freed)
		return 0;
	int gone = broker_gone(p);
	if (gone)
		return gone;
	pthread_mutex_unlock(&p->lock);
	int r = pb_futex_wait(&p->hdr->head_futex, seen, timeout_ms);
	pthread_mutex_lock(&p->lock);
	return r == -ETIMEDOUT ? -ETIME : 0;
}

/* Wakes the background thread (a batch opened with a linger, or close). */
static void kick_thread(struct pagebus_producer *p)
{
	__atomic_fetch_add(&p->kick, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &p->kick, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Opens a batch for partition with room for at least `need` bytes. Lock held. */
static int open_batch(struct pagebus_producer *p, int32_t partition, size_t need)
{
	size_t room = p->opts.batch_bytes;
	if (need + RB_HEADER_SIZE > room)
		room = need + RB_HEADER_SIZE;
	size_t entry = pb_entry_size((uint32_t)room);
	if (entry > p->cap / 2)
		return -EMSGSIZE;
	for (;;) {
		harvest(p);
		uint64_t pos = p->tail;
		uint32_t off = (uint32_t)(pos % p->cap), pad = 0;
		if (p->cap - off < entry)
			pad = p->cap - off; /* entries never wrap: pad to the end */
		if (pos + pad + entry - p->freed <= p->cap) {
			p->open_pad = pad;
			p->open_pos = pos + pad;
			break;
		}
		if (p->opts.nonblock)
			return -EAGAIN;
		int err = wait_head(p, 100);
		if (err && err != -ETIME)
			return err;
	}
	p->open = true;
	p->open_part = partition;
	p->open_us = pb_now_us();
	p->open_room = (uint32_t)room;
	rb_builder_init(&p->b, p->data + p->open_pos % p->cap + sizeof(struct pb_ring_entry), room);
	if (p->opts.linger_us)
		kick_thread(p);
	return 0;
}

static int msg_push(struct pagebus_producer *p, void *ctx)
{
	if (!p->opts.delivery_cb)
		return 0;
	if (p->msg_n == p->msg_cap) {
		uint64_t ncap = p->msg_cap ? p->msg_cap * 2 : 1024;
		void **n = malloc(ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		for (uint64_t i = 0; i < p->msg_n; i++)
			n[i] = p->msg_ctx[(p->msg_head + i) % p->msg_cap];
		/* pending entries index messages by position: renumber them */
		for (size_t i = 0; i < p->pend_n; i++) {
			struct pending *e = &p->pend[(p->pend_head + i) % p->pend_cap];
			e->first_msg = (e->first_msg + p->msg_cap - p->msg_head) % p->msg_cap;
		}
		free(p->msg_ctx);
		p->msg_ctx = n;
		p->msg_cap = ncap;
		p->msg_head = 0;
	}
	p->msg_ctx[(p->msg_head + p->msg_n++) % p->msg_cap] = ctx;
	return 0;
}

int pagebus_send_ex(struct pagebus_producer *p, int32_t partition, const void *key, size_t key_len,
		    const void *value, size_t value_len, const struct pagebus_header *headers, int nheaders,
		    int64_t timestamp, void *msg_ctx)
{
	if (!p || nheaders < 0 || nheaders > 1024 || (nheaders && !headers) || key_len > INT32_MAX ||
	    value_len > INT32_MAX)
		return -EINVAL;
	if (partition != PAGEBUS_PARTITION_ANY && (partition < 0 || partition >= p->nparts))
		return -ENOENT;
	struct rb_kv hkv[16], *hv = hkv;
	if (nheaders > 16 && !(hv = malloc(sizeof(*hv) * (size_t)nheaders)))
		return -ENOMEM;
	for (int i = 0; i < nheaders; i++)
		hv[i] = (struct rb_kv){ headers[i].key, (int32_t)headers[i].key_len, headers[i].value,
					headers[i].value ? (int32_t)headers[i].value_len : -1 };
	int32_t klen = key ? (int32_t)key_len : -1, vlen = value ? (int32_t)value_len : -1;
	if (!timestamp)
		timestamp = pb_wall_ms();
	pthread_mutex_lock(&p->lock);
	int err = p->broken ? -EPIPE : 0;
	if (err)
		goto out;
	if (partition == PAGEBUS_PARTITION_ANY) {
		if (key)
			partition = pb_key_partition(key, key_len, p->nparts);
		else
			partition = p->open ? p->open_part : p->sticky;
	}
	if (p->open && p->open_part != partition && (err = publish(p)) < 0)
		goto out;
	for (int tries = 0; tries < 2; tries++) {
		if (!p->open) {
			size_t need = rb_record_size(0, 0, klen, vlen, hv, nheaders);
			if ((err = open_batch(p, partition, need)) < 0)
				goto out;
		}
		err = rb_builder_add(&p->b, timestamp, key, klen, value, vlen, hv, nheaders);
		if (err != -EMSGSIZE)
			break;
		if ((err = publish(p)) < 0) /* full: publish and start another */
			goto out;
		err = -EMSGSIZE;
	}
	if (err)
		goto out;
	if ((err = msg_push(p, msg_ctx)) < 0)
		goto out;
	harvest(p);
	/* linger 0: publish now unless an earlier batch is still in flight, in which case
	 * this one keeps growing until the background thread sees that ack */
	if (!p->opts.linger_us ? p->pend_n == 0 : pb_now_us() - p->open_us >= p->opts.linger_us)
		err = publish(p);
	if (!p->open && !key) /* sticky partition for null keys: move on per batch */
		p->sticky = (p->sticky + 1) % p->nparts;
out:
	pthread_mutex_unlock(&p->lock);
	if (hv != hkv)
		free(hv);
	return err;
}

int pagebus_send(struct pagebus_producer *p, int32_t partition, const void *key, size_t key_len,
		 const void *value, size_t value_len)
{
	return pagebus_send_ex(p, partition, key, key_len, value, value_len, NULL, 0, 0, NULL);
}

int pagebus_flush(struct pagebus_producer *p, int timeout_ms)
{
	if (!p)
		return -EINVAL;
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : pb_now_us() + (uint64_t)timeout_ms * 1000;
	pthread_mutex_lock(&p->lock);
	int err = publish(p);
	while (!err) {
		harvest(p);
		if (!p->pend_n)
			break;
		uint64_t now = pb_now_us();
		if (now >= deadline) {
			err = -ETIME;
			break;
		}
		uint64_t left = (deadline - now) / 1000 + 1;
		err = wait_head(p, left > 100 ? 100 : (int)left);
		if (err == -ETIME)
			err = 0;
	}
	if (!err) {
		err = p->first_error;
		p->first_error = 0;
	}
	pthread_mutex_unlock(&p->lock);
	return err;
}

/* ---- the background thread ------------------------------------------------------------ */

static void *producer_thread(void *arg)
{
	struct pagebus_producer *p = arg;
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		harvest(p);
		if (p->open) {
			uint64_t age = pb_now_us() - p->open_us;
			if (p->opts.linger_us ? age >= p->opts.linger_us : !p->pend_n)
				publish(p);
		}
		/* sleep until the broker releases something, a batch opens, or linger ends */
		uint64_t wait_us = 100000;
		if (p->open && p->opts.linger_us) {
			uint64_t age = pb_now_us() - p->open_us;
			wait_us = age >= p->opts.linger_us ? 0 : p->opts.linger_us - age;
		}
		if (!wait_us)
			continue;
		struct pb_futex_waitv w[2] = {
			{ load_acquire(&p->hdr->head_futex), (uintptr_t)&p->hdr->head_futex, FUTEX_32, 0 },
			{ load_acquire(&p->kick), (uintptr_t)&p->kick, FUTEX_32 | FUTEX_PRIVATE_FLAG, 0 },
		};
		if (load_acquire(&p->hdr->head) != p->freed)
			continue;
		if (p->broken || broker_gone(p))
			wait_us = 100000;
		pthread_mutex_unlock(&p->lock);
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(wait_us / 1000000);
		ts.tv_nsec += (long)(wait_us % 1000000) * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		syscall(SYS_futex_waitv, w, 2, 0, &ts, CLOCK_MONOTONIC);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* ---- open and close ---------------------------------------------------------------------- */

int pagebus_producer_open(struct pagebus *pb, const char *topic, const struct pagebus_producer_opts *opts,
			  struct pagebus_producer **out)
{
	*out = NULL;
	if (!pb || !topic || strlen(topic) > PBP_NAME_MAX)
		return -EINVAL;
	struct pagebus_producer_opts o = { .sz = sizeof(o), .acks = PAGEBUS_ACKS_APPENDED,
					   .batch_bytes = DEFAULT_BATCH_BYTES };
	if (opts) {
		if (opts->sz < sizeof(size_t) || opts->sz > sizeof(o))
			return -EINVAL;
		memcpy(&o, opts, opts->sz);
		o.sz = sizeof(o);
		if (!o.batch_bytes)
			o.batch_bytes = DEFAULT_BATCH_BYTES;
	}
	if (o.acks < PAGEBUS_ACKS_NONE || o.acks > PAGEBUS_ACKS_DURABLE || o.batch_bytes < 256 ||
	    o.batch_bytes > (64u << 20) || o.linger_us > 10000000)
		return -EINVAL;
	struct pagebus_producer *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->pb = pb;
	p->opts = o;
	p->fd = -1;
	pthread_mutex_init(&p->lock, NULL);
	struct pbp_open_producer m = { .ring_bytes = o.ring_bytes };
	snprintf(m.topic, sizeof(m.topic), "%s", topic);
	uint8_t req[512];
	struct pbp_wbuf w;
	pbp_w_init(&w, req, sizeof(req));
	int fds[1], nfds = 0, err;
	pthread_mutex_lock(&pb->lock);
	struct pbp_rbuf r;
	struct pbp_status st;
	struct pbp_open_producer_reply rep = { 0 };
	err = pb_call(pb, req, pbp_enc_open_producer(&w, pb_next_id(pb), &m), &r, fds, 1, &nfds);
	if (!err)
		err = pb_status(pb, &st, pbp_parse_open_producer_reply(&r, &st, &rep));
	pthread_mutex_unlock(&pb->lock);
	if (!err && nfds != 1)
		err = -EPROTO;
	if (err)
		goto err;
	p->fd = fds[0];
	nfds = 0;
	struct stat sb;
	p->map_len = PB_RING_HEADER_SIZE + (size_t)rep.ring_bytes;
	if (fstat(p->fd, &sb) < 0 || (size_t)sb.st_size != p->map_len) {
		err = -EPROTO;
		goto err;
	}
	void *map = mmap(NULL, p->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, p->fd, 0);
	if (map == MAP_FAILED) {
		err = -errno;
		goto err;
	}
	p->hdr = map;
	p->data = (uint8_t *)map + PB_RING_HEADER_SIZE;
	if (load_acquire(&p->hdr->magic) != PB_RING_MAGIC || p->hdr->layout_version != PB_RING_VERSION ||
	    p->hdr->header_size != PB_RING_HEADER_SIZE || p->hdr->capacity != rep.ring_bytes) {
		err = -EPROTO;
		goto err;
	}
	p->cap = rep.ring_bytes;
	p->id = rep.producer_id;
	p->topic_id = rep.topic_id;
	p->nparts = rep.partitions;
	p->tail = p->freed = load_acquire(&p->hdr->head);
	/* the broker wakes this process on every head advance (delivery and flush) */
	store_release(&p->hdr->producer_waiting, 1);
	if (pthread_create(&p->thread, NULL, producer_thread, p) != 0) {
		err = -EAGAIN;
		goto err;
	}
	p->thread_started = true;
	*out = p;
	return 0;
err:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	pagebus_producer_close(p);
	return err;
}

void pagebus_producer_close(struct pagebus_producer *p)
{
	if (!p)
		return;
	if (p->thread_started) {
		pagebus_flush(p, -1);
		pthread_mutex_lock(&p->lock);
		p->stop = true;
		kick_thread(p);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->thread, NULL);
		/* tell the broker; it releases the ring once drained */
		struct pbp_close_producer m = { p->id };
		uint8_t req[64];
		struct pbp_wbuf w;
		pbp_w_init(&w, req, sizeof(req));
		pthread_mutex_lock(&p->pb->lock);
		if (!p->broken)
			pb_simple_request(p->pb, req, pbp_enc_close_producer(&w, pb_next_id(p->pb), &m));
		pthread_mutex_unlock(&p->pb->lock);
	}
	if (p->hdr)
		munmap(p->hdr, p->map_len);
	if (p->fd >= 0)
		close(p->fd);
	pthread_mutex_destroy(&p->lock);
	free(p->pend);
	free(p->msg_ctx);
	free(p);
}
