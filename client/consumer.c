/* SPDX-License-Identifier: Apache-2.0 */
/*
 * consumer.c — libpagebus consumers: map each segment file of a partition read-only,
 * follow the high watermark in the control region, and hand out records that point
 * straight into the page cache. Caught up, spin briefly, then FUTEX_WAIT on the
 * partition's word. Each batch's CRC is checked once before any record of it is shown.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomics.h"
#include "client.h"
#include "compression.h"
#include "record_batch.h"

struct cseg {
	int64_t base, end; /* end: next segment's base, -1 while active */
	int fd;
	const uint8_t *map;
	size_t map_len;
};

struct pagebus_consumer {
	struct pagebus *pb;
	struct pagebus_consumer_opts opts;
	char topic[PBP_NAME_MAX + 1];
	uint32_t id, topic_id, slot_epoch;
	uint32_t epoch;        /* pb->epoch when attached: a reconnect re-attaches */
	int32_t partition;
	const struct pb_part_slot *slot;
	struct cseg *segs;
	size_t nsegs;
	size_t cur;            /* segment of the cursor */
	uint64_t pos;          /* next batch's position in segs[cur] */
	bool have_pos;         /* pos is a batch boundary in segs[cur] with only batches below
				* next before it */
	uint64_t verified_end; /* batches below this position of segs[cur] passed their CRC */
	int64_t next;          /* next offset to return */
	struct rb_iter it;     /* the batch being read */
	bool in_batch;
	/* Compressed batches: the records of the batch in it, decompressed (NULL when it is
	 * not compressed), and those of batches finished during this poll, which its
	 * messages may point into. Freed when the next poll starts reading. */
	void *zrecords;
	void **zdone;
	size_t nzdone, zdone_cap;
};

static void seg_unmap(struct cseg *s)
{
	if (s->map)
		munmap((void *)s->map, s->map_len);
	if (s->fd >= 0)
		close(s->fd);
}

/* Asks the broker for the segments from `from` on and maps the ones not known yet. */
static int refresh_segments(struct pagebus_consumer *c, int64_t from)
{
	struct pagebus *pb = c->pb;
	int err = 0;
	for (int rounds = 0; rounds < 1000; rounds++) {
		struct pbp_get_segments m = { c->topic_id, c->partition, from };
		uint8_t req[64];
		struct pbp_wbuf w;
		pbp_w_init(&w, req, sizeof(req));
		int fds[PBP_MAX_FDS], nfds = 0;
		struct pbp_get_segments_reply rep = { 0 };
		pthread_mutex_lock(&pb->lock);
		struct pbp_rbuf r;
		struct pbp_status st;
		err = pb_call(pb, req, pbp_enc_get_segments(&w, pb_next_id(pb), &m), &r, fds, PBP_MAX_FDS, &nfds);
		if (!err)
			err = pb_status(pb, &st, pbp_parse_get_segments_reply(&r, &st, &rep));
		pthread_mutex_unlock(&pb->lock);
		if (!err && (uint32_t)nfds != rep.n)
			err = -EPROTO;
		for (uint32_t i = 0; !err && i < rep.n; i++) {
			struct pbp_segment *sg = &rep.segments[i];
			size_t k = 0;
			while (k < c->nsegs && c->segs[k].base < sg->base_offset)
				k++;
			if (k < c->nsegs && c->segs[k].base == sg->base_offset) {
				c->segs[k].end = sg->end_offset; /* known: just learn its end */
				continue;
			}
			struct stat sb;
			if (fstat(fds[i], &sb) < 0) {
				err = -errno;
				break;
			}
			struct cseg ns = { sg->base_offset, sg->end_offset, fds[i], NULL, (size_t)sb.st_size };
			if (ns.map_len) {
				void *mp = mmap(NULL, ns.map_len, PROT_READ, MAP_SHARED, fds[i], 0);
				if (mp == MAP_FAILED) {
					err = -errno;
					break;
				}
				ns.map = mp;
			}
			struct cseg *v = realloc(c->segs, (c->nsegs + 1) * sizeof(*v));
			if (!v) {
				seg_unmap(&ns);
				fds[i] = -1;
				err = -ENOMEM;
				break;
			}
			c->segs = v;
			memmove(&c->segs[k + 1], &c->segs[k], (c->nsegs - k) * sizeof(*v));
			c->segs[k] = ns;
			if (k <= c->cur && c->nsegs)
				c->cur++;
			c->nsegs++;
			fds[i] = -1; /* kept */
		}
		for (int i = 0; i < nfds; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		bool more = !err && rep.more && rep.n;
		if (more)
			from = rep.segments[rep.n - 1].end_offset;
		pbp_free_get_segments_reply(&rep);
		if (!more)
			break;
	}
	return err;
}

/* Drops segments wholly below the log start (retention removed them). */
static void forget_old(struct pagebus_consumer *c, int64_t log_start)
{
	size_t k = 0;
	while (k + 1 < c->nsegs && c->segs[k].end >= 0 && c->segs[k].end <= log_start && k < c->cur)
		k++;
	if (!k)
		return;
	for (size_t i = 0; i < k; i++)
		seg_unmap(&c->segs[i]);
	memmove(c->segs, c->segs + k, (c->nsegs - k) * sizeof(*c->segs));
	c->nsegs -= k;
	c->cur -= k;
}

/* Points the cursor at the segment holding c->next. */
static int locate(struct pagebus_consumer *c)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		int64_t active = load_acquire(&c->slot->active_base);
		for (size_t i = 0; i < c->nsegs; i++) {
			struct cseg *s = &c->segs[i];
			bool holds = c->next >= s->base && (s->end >= 0 ? c->next < s->end : active <= s->base);
			if (holds && s->map) {
				if (i != c->cur || !c->have_pos) {
					/* start of the segment: every batch before pos is below next */
					c->cur = i;
					c->pos = 0;
					c->verified_end = 0;
					c->have_pos = true;
					c->in_batch = false;
				}
				return 0;
			}
		}
		int err = refresh_segments(c, c->next);
		if (err)
			return err;
	}
	return -EAGAIN; /* the broker has not published the new segment yet */
}

static int batch_error(struct pagebus_consumer *c, int err)
{
	snprintf(c->pb->last_error, sizeof(c->pb->last_error),
		 "corrupt batch in topic %s partition %d at offset %lld: %s", c->topic, c->partition,
		 (long long)c->next, pagebus_strerror(err));
	return err;
}

/* Frees the decompressed records no message can point into any more: before a poll
 * returns messages, the previous poll's are invalid. */
static void zrelease(struct pagebus_consumer *c)
{
	for (size_t i = 0; i < c->nzdone; i++)
		free(c->zdone[i]);
	c->nzdone = 0;
	if (!c->in_batch) {
		free(c->zrecords);
		c->zrecords = NULL;
	}
}

/* Leaves the batch in c->it: its decompressed records stay while any of the n messages
 * of this poll may point into them. false: out of memory to keep them. */
static bool zretire(struct pagebus_consumer *c, int n)
{
	if (!c->zrecords)
		return true;
	if (n && c->nzdone == c->zdone_cap) {
		size_t cap = c->zdone_cap ? 2 * c->zdone_cap : 8;
		void **v = realloc(c->zdone, cap * sizeof(*v));
		if (!v)
			return false;
		c->zdone = v;
		c->zdone_cap = cap;
	}
	if (n)
		c->zdone[c->nzdone++] = c->zrecords;
	else
		free(c->zrecords);
	c->zrecords = NULL;
	return true;
}

/* A compressed batch whose records could not be decompressed, codec named. */
static int compressed_error(struct pagebus_consumer *c, const struct rb_header *h, int err)
{
	int codec = rb_codec(h);
	const char *why = "the records do not decompress (corrupt)";
	if (err == -ENOTSUP)
		why = "not supported by this libpagebus";
	else if (err == -EMSGSIZE)
		why = "the records would decompress past the bound (64 x their size, at least 64 MiB)";
	else if (err == -ENOMEM)
		why = "out of memory decompressing the records";
	snprintf(c->pb->last_error, sizeof(c->pb->last_error),
		 "batch in topic %s partition %d at offset %lld: compression codec %d (%s): %s",
		 c->topic, c->partition, (long long)h->base_offset, codec, rb_codec_name(codec), why);
	return err;
}

/* Reads records from the cursor until max or the high watermark. */
static int read_records(struct pagebus_consumer *c, struct pagebus_msg *msgs, int max, int64_t hwm)
{
	int n = 0;
	zrelease(c);
	while (n < max && c->next < hwm) {
		if (!c->in_batch) {
			int err = locate(c);
			if (err)
				return n ? n : (err == -EAGAIN ? 0 : err);
			struct cseg *s = &c->segs[c->cur];
			if (c->pos >= s->map_len)
				return n ? n : batch_error(c, -PAGEBUS_ETRUNCATED);
			struct rb_header h;
			const uint8_t *b = s->map + c->pos;
			size_t avail = s->map_len - c->pos;
			if (c->opts.verify_crc && c->pos >= c->verified_end) {
				long r = rb_validate(b, avail, true, &h);
				if (r < 0)
					return n ? n : batch_error(c, (int)r);
				c->verified_end = c->pos + (uint64_t)r;
			} else if (rb_header_parse(b, avail, &h) < 0) {
				return n ? n : batch_error(c, -PAGEBUS_ETRUNCATED);
			}
			if (rb_last_offset(&h) < c->next) { /* positioning: skip batches below next */
				c->pos += rb_total_size(&h);
				continue;
			}
			if (!zretire(c, n))
				return n; /* cannot keep the last batch's records: this poll ends here */
			int err2 = rb_iter_start(&c->it, b, rb_total_size(&h));
			if (err2 == -PAGEBUS_ECOMPRESSED) {
				/* decompressed once, into memory the messages then point into */
				size_t clen = rb_total_size(&h) - RB_HEADER_SIZE, rlen;
				err2 = pb_decompress(rb_codec(&h), b + RB_HEADER_SIZE, clen, &c->zrecords,
						     &rlen, pb_codec_bound(clen));
				if (err2)
					return n ? n : compressed_error(c, &h, err2);
				err2 = rb_iter_start_records(&c->it, &h, c->zrecords, rlen);
			}
			if (err2)
				return n ? n : batch_error(c, err2);
			c->in_batch = true;
			c->pos += rb_total_size(&h);
		}
		struct rb_record rec;
		int r = rb_iter_next(&c->it, &rec);
		if (r < 0)
			return n ? n : batch_error(c, r);
		if (r == 0) {
			c->in_batch = false;
			/* control batches and gaps: the next offset is past this batch */
			if (rb_last_offset(&c->it.hdr) >= c->next)
				c->next = rb_last_offset(&c->it.hdr) + 1;
			continue;
		}
		if (rec.offset < c->next || (c->it.hdr.attributes & RB_ATTR_CONTROL))
			continue;
		struct pagebus_msg *m = &msgs[n++];
		m->partition = c->partition;
		m->topic_index = 0;
		m->offset = rec.offset;
		m->timestamp = rec.timestamp;
		m->key = rec.key_len >= 0 ? rec.key : NULL;
		m->key_len = rec.key_len >= 0 ? (size_t)rec.key_len : 0;
		m->value = rec.value_len >= 0 ? rec.value : NULL;
		m->value_len = rec.value_len >= 0 ? (size_t)rec.value_len : 0;
		m->headers = rec.headers;
		m->headers_len = rec.headers_len;
		m->header_count = rec.header_count;
		c->next = rec.offset + 1;
	}
	return n;
}

_Static_assert(offsetof(struct pagebus_msg, offset) == 8 && sizeof(struct pagebus_msg) == 80,
	       "topic_index fills padding: the layout of pagebus_msg stays what it was");

const uint32_t *pb_consumer_futex(const struct pagebus_consumer *c, uint32_t *val)
{
	if (!c->slot)
		return NULL;
	*val = load_acquire(&c->slot->futex);
	return &c->slot->futex;
}

static int broker_gone(struct pagebus_consumer *c)
{
	return pb_check_alive(c->pb);
}

/* OPEN_CONSUMER: the partition's control slot on the current connection. */
static int attach(struct pagebus_consumer *c)
{
	struct pagebus *pb = c->pb;
	struct pbp_open_consumer m = { .n = 1, .partitions = &c->partition };
	snprintf(m.topic, sizeof(m.topic), "%s", c->topic);
	uint8_t req[512];
	struct pbp_wbuf w;
	pbp_w_init(&w, req, sizeof(req));
	struct pbp_open_consumer_reply rep = { 0 };
	pthread_mutex_lock(&pb->lock);
	struct pbp_rbuf r;
	struct pbp_status st;
	int nfds, err = pb_call(pb, req, pbp_enc_open_consumer(&w, pb_next_id(pb), &m), &r, NULL, 0, &nfds);
	if (!err)
		err = pb_status(pb, &st, pbp_parse_open_consumer_reply(&r, &st, &rep));
	if (!err && (rep.m != 1 || rep.slots[0].slot >= pb->nslots))
		err = -EPROTO;
	if (!err) {
		c->id = rep.consumer_id;
		c->topic_id = rep.topic_id;
		c->slot = pb_control_slot(pb->control, rep.slots[0].slot);
		c->slot_epoch = rep.slots[0].slot_epoch;
		c->epoch = pb->epoch;
	}
	pthread_mutex_unlock(&pb->lock);
	pbp_free_open_consumer_reply(&rep);
	return err;
}

/* Drops every mapping and the cursor's place in them (not the offset). */
static void forget_segments(struct pagebus_consumer *c)
{
	for (size_t i = 0; i < c->nsegs; i++)
		seg_unmap(&c->segs[i]);
	free(c->segs);
	c->segs = NULL;
	c->nsegs = c->cur = 0;
	c->have_pos = false;
	c->in_batch = false;
	c->verified_end = 0;
}

/*
 * The broker is gone or was restarted: connect again (once per restart, whoever sees
 * it first) and re-attach at the same next offset. 0 when attached again, -ECONNREFUSED
 * while no broker listens, or another error.
 */
static int reattach(struct pagebus_consumer *c)
{
	struct pagebus *pb = c->pb;
	/* called before this poll returned any message: the previous poll's messages
	 * are no longer promised, so the mappings may go */
	pthread_mutex_lock(&pb->lock);
	int err = pb_reconnect(pb, c->epoch);
	pthread_mutex_unlock(&pb->lock);
	if (err)
		return err;
	forget_segments(c);
	return attach(c);
}

/* Applies the reset policy when the cursor fell below the log start. */
static int check_range(struct pagebus_consumer *c, int64_t hwm)
{
	int64_t start = load_acquire(&c->slot->log_start);
	if (c->next >= start && c->next <= hwm)
		return 0;
	if (c->next > hwm) { /* the log was cut below us (recovery): continue at its end */
		c->next = hwm;
	} else if (c->opts.reset == PAGEBUS_RESET_ERROR) {
		snprintf(c->pb->last_error, sizeof(c->pb->last_error),
			 "offset %lld of topic %s partition %d is below the log start %lld (retention)",
			 (long long)c->next, c->topic, c->partition, (long long)start);
		return -ERANGE;
	} else {
		c->next = c->opts.reset == PAGEBUS_RESET_LATEST ? hwm : start;
	}
	c->have_pos = false;
	c->in_batch = false;
	forget_old(c, start);
	return 0;
}

int pagebus_poll(struct pagebus_consumer *c, struct pagebus_msg *msgs, int max, int timeout_ms)
{
	if (!c || !msgs || max <= 0)
		return -EINVAL;
	uint64_t start = pb_now_us();
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : start + (uint64_t)timeout_ms * 1000;
	bool detached = false; /* the broker went away: wait for it to come back */
	for (;;) {
		uint64_t now = pb_now_us();
		if (detached || c->epoch != c->pb->epoch) {
			int err = reattach(c);
			if (err == -ECONNREFUSED || err == -EPIPE) {
				detached = true;
				if (now >= deadline)
					return 0;
				uint64_t left = (deadline - now) / 1000 + 1;
				usleep(left > 100 ? 100000 : (useconds_t)left * 1000);
				continue;
			}
			if (err)
				return err;
			detached = false;
		}
		if (load_acquire(&c->slot->state) != PB_SLOT_LIVE || c->slot->epoch != c->slot_epoch) {
			if (broker_gone(c)) { /* a stopping broker retires its slots too */
				detached = true;
				continue;
			}
			snprintf(c->pb->last_error, sizeof(c->pb->last_error), "topic %s was deleted", c->topic);
			return -ENOENT;
		}
		uint32_t word = load_acquire(&c->slot->futex);
		int64_t hwm = load_acquire(&c->slot->hwm);
		int err = check_range(c, hwm);
		if (err)
			return err;
		int n = read_records(c, msgs, max, hwm);
		if (n == -EPIPE) {
			detached = true;
			continue;
		}
		if (n)
			return n;
		now = pb_now_us();
		if (now >= deadline)
			return 0;
		if (now - start < c->opts.spin_us) {
			cpu_relax();
			continue;
		}
		if (broker_gone(c)) {
			detached = true;
			continue;
		}
		uint64_t left_ms = deadline == UINT64_MAX ? 100 : (deadline - now) / 1000 + 1;
		pb_futex_wait(&c->slot->futex, word, left_ms > 100 ? 100 : (int)left_ms);
	}
}

int pagebus_msg_header(const struct pagebus_msg *m, size_t *pos, struct pagebus_header *h)
{
	if (!m || !pos || !h || *pos > m->headers_len)
		return -EINVAL;
	const uint8_t *p = (const uint8_t *)m->headers + *pos, *end = (const uint8_t *)m->headers + m->headers_len;
	struct rb_kv kv;
	int r = rb_headers_next(&p, end, &kv);
	if (r <= 0)
		return r;
	*h = (struct pagebus_header){ kv.key, (size_t)kv.key_len, kv.value_len >= 0 ? kv.value : NULL,
				      kv.value_len >= 0 ? (size_t)kv.value_len : 0 };
	*pos = (size_t)(p - (const uint8_t *)m->headers);
	return 1;
}

int64_t pagebus_position(struct pagebus_consumer *c)
{
	return c ? c->next : -EINVAL;
}

int pagebus_seek(struct pagebus_consumer *c, int64_t offset)
{
	if (!c || offset < PAGEBUS_OFFSET_BEGINNING)
		return -EINVAL;
	int64_t hwm = load_acquire(&c->slot->hwm), start = load_acquire(&c->slot->log_start);
	c->next = offset == PAGEBUS_OFFSET_BEGINNING ? start : offset == PAGEBUS_OFFSET_END ? hwm : offset;
	c->have_pos = false;
	c->in_batch = false;
	return 0;
}

int pagebus_seek_time(struct pagebus_consumer *c, int64_t timestamp_ms)
{
	if (!c)
		return -EINVAL;
	int64_t hwm = load_acquire(&c->slot->hwm);
	int err = pagebus_seek(c, PAGEBUS_OFFSET_BEGINNING);
	if (err)
		return err;
	/* walk batch headers (maxTimestamp) to the first batch that may hold the time */
	while (c->next < hwm) {
		if ((err = locate(c)) < 0)
			return err == -EAGAIN ? 0 : err;
		struct cseg *s = &c->segs[c->cur];
		struct rb_header h;
		if (c->pos >= s->map_len || rb_header_parse(s->map + c->pos, s->map_len - c->pos, &h) < 0)
			return batch_error(c, -PAGEBUS_ETRUNCATED);
		if (h.max_timestamp >= timestamp_ms) {
			struct rb_iter it;
			struct rb_record rec;
			c->next = h.base_offset;
			if (rb_iter_start(&it, s->map + c->pos, rb_total_size(&h)) == 0)
				while (rb_iter_next(&it, &rec) == 1)
					if (rec.timestamp >= timestamp_ms) {
						c->next = rec.offset;
						break;
					}
			c->have_pos = false;
			return 0;
		}
		c->next = rb_last_offset(&h) + 1;
		c->pos += rb_total_size(&h);
		c->have_pos = true;
	}
	c->next = hwm; /* nothing that late yet: wait at the end */
	c->have_pos = false;
	return 0;
}

static int offset_request(struct pagebus_consumer *c, const char *name, int64_t *io, bool commit)
{
	if (!c || !name || strlen(name) > PBP_NAME_MAX)
		return -EINVAL;
	struct pagebus *pb = c->pb;
	uint8_t req[1024];
	struct pbp_wbuf w;
	pbp_w_init(&w, req, sizeof(req));
	pthread_mutex_lock(&pb->lock);
	int len;
	if (commit) {
		struct pbp_commit_offset m = { .partition = c->partition, .next_offset = *io };
		snprintf(m.name, sizeof(m.name), "%s", name);
		snprintf(m.topic, sizeof(m.topic), "%s", c->topic);
		len = pbp_enc_commit_offset(&w, pb_next_id(pb), &m);
	} else {
		struct pbp_fetch_offset m = { .partition = c->partition };
		snprintf(m.name, sizeof(m.name), "%s", name);
		snprintf(m.topic, sizeof(m.topic), "%s", c->topic);
		len = pbp_enc_fetch_offset(&w, pb_next_id(pb), &m);
	}
	struct pbp_rbuf r;
	struct pbp_status st;
	struct pbp_fetch_offset_reply out;
	int nfds, err = commit ? pb_simple_request(pb, req, len) : pb_call(pb, req, len, &r, NULL, 0, &nfds);
	if (!commit && !err && !(err = pb_status(pb, &st, pbp_parse_fetch_offset_reply(&r, &st, &out))))
		*io = out.next_offset;
	pthread_mutex_unlock(&pb->lock);
	return err;
}

int pagebus_commit(struct pagebus_consumer *c, const char *name, int64_t next_offset)
{
	if (next_offset < 0)
		return -EINVAL;
	return offset_request(c, name, &next_offset, true);
}

int pagebus_committed(struct pagebus_consumer *c, const char *name, int64_t *next_offset)
{
	if (!next_offset)
		return -EINVAL;
	int64_t v = -1;
	int err = offset_request(c, name, &v, false);
	if (err)
		return err;
	if (v < 0)
		return -ENOENT;
	*next_offset = v;
	return 0;
}

int pagebus_consumer_open(struct pagebus *pb, const char *topic, int32_t partition, int64_t start,
			  const struct pagebus_consumer_opts *opts, struct pagebus_consumer **out)
{
	*out = NULL;
	if (!pb || !topic || strlen(topic) > PBP_NAME_MAX || partition < 0 || start < PAGEBUS_OFFSET_BEGINNING)
		return -EINVAL;
	struct pagebus_consumer_opts o = { .sz = sizeof(o), .verify_crc = 1, .reset = PAGEBUS_RESET_EARLIEST,
					   .spin_us = 50 };
	if (opts) {
		if (opts->sz < sizeof(size_t) || opts->sz > sizeof(o))
			return -EINVAL;
		memcpy(&o, opts, opts->sz);
		o.sz = sizeof(o);
	}
	if (o.reset < PAGEBUS_RESET_EARLIEST || o.reset > PAGEBUS_RESET_ERROR || o.spin_us > 1000000)
		return -EINVAL;
	struct pagebus_consumer *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->pb = pb;
	c->opts = o;
	c->partition = partition;
	snprintf(c->topic, sizeof(c->topic), "%s", topic);
	int err = attach(c);
	if (err) {
		free(c);
		return err;
	}
	if ((err = pagebus_seek(c, start)) < 0) {
		pagebus_consumer_close(c);
		return err;
	}
	*out = c;
	return 0;
}

void pagebus_consumer_close(struct pagebus_consumer *c)
{
	if (!c)
		return;
	struct pbp_close_consumer m = { c->id };
	uint8_t req[64];
	struct pbp_wbuf w;
	pbp_w_init(&w, req, sizeof(req));
	pthread_mutex_lock(&c->pb->lock);
	pb_simple_request(c->pb, req, pbp_enc_close_consumer(&w, pb_next_id(c->pb), &m));
	pthread_mutex_unlock(&c->pb->lock);
	forget_segments(c);
	c->in_batch = false; /* the last messages go too */
	zrelease(c);
	free(c->zdone);
	free(c);
}
