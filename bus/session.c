/* SPDX-License-Identifier: Apache-2.0 */
/*
 * session.c — local client sessions on DIR/pagebus.sock: accept, peer credentials,
 * one request per datagram dispatched through a table, replies (with fds) and pushes.
 * Malformed requests get an error reply; PBP_MAX_MALFORMED of them close the session.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker.h"
#include "group.h"
#include "logging.h"
#include "pagebus.h"
#include "protocol.h"

/* What a handler produces: an encoded reply (w) and the fds it carries. */
struct reply {
	struct pbp_wbuf w;
	uint8_t buf[PBP_MAX_MSG];
	int fds[PBP_MAX_FDS];
	int nfds;
	char err[512];
};

/* Records the message of an error reply; returns code. */
__attribute__((format(printf, 3, 4))) static int fail(struct reply *rep, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rep->err, sizeof(rep->err), fmt, ap);
	va_end(ap);
	return code;
}

static void session_free(struct session *s)
{
	list_del(&s->link);
	s->b->nsessions--;
	free(s);
}

static void consumer_free(struct session *s, struct bconsumer *c)
{
	for (uint32_t i = 0; i < c->nparts; i++) {
		struct bpart *bp = broker_part(s->b, c->topic_id, c->parts[i]);
		if (bp)
			bp->consumers--;
	}
	list_del(&c->link);
	free(c->parts);
	free(c);
}

void session_close(struct session *s)
{
	if (s->dead) {
		/* closed before, waiting for its cancelled poll to end; at exit broker_close
		 * clears poll_armed (the loop goes away with that poll): free it now */
		if (!s->poll_armed)
			session_free(s);
		return;
	}
	s->dead = true;
	group_local_session_closed(s); /* its members leave their groups */
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &s->producers)
		producer_close(container_of(pos, struct bproducer, sess_link));
	list_for_each_safe(pos, tmp, &s->consumers)
		consumer_free(s, container_of(pos, struct bconsumer, link));
	log_debug("session %u (pid %d) closed", s->id, (int)s->pid);
	/* shutdown, not just close: an armed io_uring poll holds a reference to the
	 * socket, and the client must see the end now, not when that poll goes */
	shutdown(s->fd, SHUT_RDWR);
	close(s->fd);
	s->fd = -1;
	if (s->poll_armed)
		uloop_cancel(&s->b->loop, &s->op_poll, NULL); /* freed when the poll ends */
	else if (!s->busy)
		session_free(s); /* else poll_done frees it when it is done with it */
}

static struct topic *find_or_create(struct session *s, const char *name, struct reply *rep, int *err)
{
	struct broker *b = s->b;
	struct topic *t = topics_find(&b->topics, name);
	*err = 0;
	if (t)
		return t;
	if (!b->cfg->auto_create_topics) {
		*err = fail(rep, -ENOENT, "unknown topic '%s' (auto.create.topics is off: create it first)", name);
		return NULL;
	}
	*err = broker_topic_create(b, name, b->cfg->default_partitions, NULL, NULL, 0, "automatically", &t,
				   rep->err, sizeof(rep->err));
	return t;
}

/* ---- handlers: parse the request, act, encode the reply; -errno + rep->err on failure */

static int h_hello(struct session *s, struct pbp_rbuf *r, uint32_t id, struct reply *rep)
{
	struct pbp_hello m;
	int err = pbp_parse_hello(r, &m);
	if (err)
		return err;
	int v = pbp_negotiate(m.min_version, m.max_version);
	if (v < 0)
		return fail(rep, v, "protocol versions %u..%u not supported; this broker speaks %d..%d",
			    m.min_version, m.max_version, PBP_VERSION_MIN, PBP_VERSION_MAX);
	s->hello = true;
	struct pbp_hello_reply out = { (uint32_t)v, (uint32_t)getpid(), s->b->control.nslots, s->b->cfg->ring_bytes };
	rep->fds[rep->nfds++] = s->b->control.ro_fd;
	log_debug("session %u: HELLO from pid %d (%s)", s->id, (int)s->pid, m.client_name);
	return pbp_enc_hello_reply(&rep->w, id, &out);
}

static int h_topic_create(struct session *s, struct pbp_rbuf *r, uint32_t id, struct reply *rep)
{
	struct pbp_topic_create m;
	int err = pbp_parse_topic_create(r, &m);
	if (err) {
		pbp_free_topic_create(&m);
		return err;
	}
	const char *keys[PBP_MAX_CONFIGS], *values[PBP_MAX_CONFIGS];
	for (uint32_t i = 0; i < m.nconfigs; i++) {
		keys[i] = m.configs[i].key;
		values[i] = m.configs[i].value;
	}
	struct topic *t = NULL;
	int32_t parts = m.partitions == -1 ? s->b->cfg->default_partitions : m.partitions;
	char by[32];
	snprintf(by, sizeof(by), "by pid %d", (int)s->pid);
	err = broker_topic_create(s->b, m.name, parts, keys, values, (int)m.nconfigs, by, &t, rep->err,
				  sizeof(rep->err));
	pbp_free_topic_create(&m);
	if (err)
		return err;
	struct pbp_topic_create_reply out = { t->id, t->nparts };
	return pbp_enc_topic_create_reply(&rep->w, id, &out);
}

static int h_topic_delete(struct session *s, struct pbp_rbuf *r, uint32_t id, struct reply *rep)
{
	struct pbp_topic_delete m;
	int err = pbp_parse_topic_delete(r, &m);
	if (err)
		return err;
	char by[32];
	snprintf(by, sizeof(by), "by pid %d", (int)s->pid);
	if ((err = broker_topic_delete(s->b, m.name, by, rep->err, sizeof(rep->err))) < 0)
		return err;
	return pbp_enc_ok_reply(&rep->w, PBP_TOPIC_DELETE, id);
}

static int h_topic_list(struct session *s, struct pbp_rbuf *r, uint32_t id, struct reply *rep)
{
	int err = pbp_parse_topic_list(r);
	if (err)
		return err;
	struct topics *ts = &s->b->topics;
	struct pbp_topic_list_reply out = { 0, NULL };
	out.topics = calloc(ts->n ? ts->n : 1, sizeof(*out.topics));
	if (!out.topics)
		return fail(rep, -ENOMEM, "out of memory");
	for (size_t i = 0; i < ts->n && i < PBP_MAX_TOPICS; i++) {
		snprintf(out.topics[i].name, sizeof(out.topics[i].name), "%s", ts->v[i]->name);
		out.topics[i].topic_id = ts->v[i]->id;
		out.topics[i].partitions = ts->v[i]->nparts;
		out.n++;
	}
	err = pbp_enc_topic_list_reply(&rep->w, id, &out);
	free(out.topics);
	if (err == -EMSGSIZE)
		return fail(rep, err, "too many topics for one reply");
	return err;
}

static int h_topic_describe(struct session *s, struct pbp_rbuf *r, uint32_t id, struct reply *rep)
{
	struct pbp_topic_describe m;
	int err = pbp_parse_topic_describe(r, &m);
	if (err)
		return err;
	struct topic *t = topics_find(&s->b->topics, m.name);
	if (!t)
		return fail(rep, -ENOENT, "unknown topic '%s'", m.name);
	struct pbp_topic_describe_reply out = { t->id, t->nparts, 0, NULL, NULL };
	out.configs = calloc((size_t)t->noverrides + 1, sizeof(*out.configs));
	out.parts = calloc((size_t)t->nparts, sizeof(*out.parts));
	if (!out.configs || !out.parts) {
		free(out.configs);
		free(out.parts);
		return fail(rep, -ENOMEM, "out of memory");
	}
	for (int i = 0; i < t->noverrides && i < PBP_MAX_CONFIGS; i++, out.nconfigs++) {
		snprintf(out.configs[i].key, sizeof(out.configs[i].key), "%s", t->overrides[i].key);
		snprintf(out.configs[i].value, sizeof(out.configs[i].value), "%s", t->overrides[i].value);
	}
	struct bpart *parts = t->ctx;
	for (int32_t i = 0; i < t->nparts; i++) {
		struct partition *p = parts[i].log;
		out.parts[i] = (struct pbp_partition_info){ i, parts[i].slot, p->log_start, p->hwm,
							    (uint32_t)p->nsegs, part_bytes(p) };
	}
	err = pbp_enc_topic_describe_reply(&rep->w, id, &out);
	free(out.configs);
	free(out.parts);
	if (err == -EMSGSIZE)
		return fail(rep, err, "topic has too many partitions to describe in one reply");
	return err;
}

static int h_open_producer(struct session *s, struct pbp_rbuf *r, uint32_t id, struct reply *rep)
{
	struct pbp_open_producer m;
	int err = pbp_parse_open_producer(r, &m);
	if (err)
		return err;
	uint32_t bytes = m.ring_bytes ? m.ring_bytes : s->b->cfg->ring_bytes;
	if (bytes < PB_RING_MIN_BYTES || bytes > PB_RING_MAX_BYTES || bytes % 4096)
		return fail(rep, -EINVAL, "ring size %u: must be a multiple of 4096 between %u and %u", bytes,
			    PB_RING_MIN_BYTES, PB_RING_MAX_BYTES);
	struct topic *t = find_or_create(s, m.topic, rep, &err);
	if (!t)
		return err;
	struct bproducer *p;
	if ((err = producer_open(s, t, bytes, &p)) < 0)
		return fail(rep, err, "cannot create the ring: %s", strerror(-err));
	rep->fds[rep->nfds++] = p->fd;
	struct pbp_open_producer_reply out = { p->id, t->id, t->nparts, bytes };
	log_debug("session %u: producer %u on topic %s", s->id, p->id, t->name);
	return pbp_enc_open_producer_reply(&rep->w, id, &out);
}

static int h_close_producer(struct session *s, struct pbp_rbuf *r, uint32_t id, struct reply *rep)
{
	struct pbp_close_producer m;
	int err = pbp_parse_close_producer(r, &m);
	if (err)
		return err;
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &s->producers) {
		struct bproducer *p = container_of(pos, struct bproducer, sess_link);
		if (p->id == m.producer_id) {
			producer_close(p);
			return pbp_enc_ok_reply(&rep->w, PBP_CLOSE_PRODUCER, id);
		}
	}
	return fail(rep, -ENOENT, "no producer %u on this connection", m.producer_id);
}

static int h_open_consumer(struct session *s, struct pbp_rbuf *r, uint32_t id, struct reply *rep)
{
	struct pbp_open_consumer m;
	int err = pbp_parse_open_consumer(r, &m);
	if (err) {
		pbp_free_open_consumer(&m);
		return err;
	}
	struct topic *t = topics_find(&s->b->topics, m.topic);
	struct bconsumer *c = NULL;
	struct pbp_open_consumer_reply out = { 0 };
	if (!t) {
		err = fail(rep, -ENOENT, "unknown topic '%s'", m.topic);
		goto out;
	}
	uint32_t n = m.n ? m.n : (uint32_t)t->nparts;
	c = calloc(1, sizeof(*c));
	out.slots = calloc(n, sizeof(*out.slots));
	if (!c || !(c->parts = calloc(n, sizeof(*c->parts))) || !out.slots) {
		err = fail(rep, -ENOMEM, "out of memory");
		goto out;
	}
	struct bpart *parts = t->ctx;
	for (uint32_t i = 0; i < n; i++) {
		int32_t p = m.n ? m.partitions[i] : (int32_t)i;
		if (p < 0 || p >= t->nparts) {
			err = fail(rep, -ENOENT, "topic '%s' has no partition %d (it has %d)", m.topic, p, t->nparts);
			goto out;
		}
		c->parts[i] = p;
		out.slots[i] = (struct pbp_consumer_slot){ p, parts[p].slot,
							    control_slot(&s->b->control, parts[p].slot)->epoch };
	}
	c->nparts = n;
	c->topic_id = t->id;
	c->id = ++s->b->next_consumer_id;
	for (uint32_t i = 0; i < n; i++)
		parts[c->parts[i]].consumers++;
	list_add_tail(&s->consumers, &c->link);
	out.consumer_id = c->id;
	out.topic_id = t->id;
	out.partitions = t->nparts;
	out.m = n;
	err = pbp_enc_open_consumer_reply(&rep->w, id, &out);
	c = NULL;
out:
	if (c) {
		free(c->parts);
		free(c);
	}
	free(out.slots);
	pbp_free_open_consumer(&m);
	return err;
}

static int h_close_consumer(struct session *s, struct pbp_rbuf *r, uint32_t id, struct reply *rep)
{
	struct pbp_close_consumer m;
	int err = pbp_parse_close_consumer(r, &m);
	if (err)
		return err;
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &s->consumers) {
		struct bconsumer *c = container_of(pos, struct bconsumer, link);
		if (c->id == m.consumer_id) {
			consumer_free(s, c);
			return pbp_enc_ok_reply(&rep->w, PBP_CLOSE_CONSUMER, id);
		}
	}
	return fail(rep, -ENOENT, "no consumer %u on this connection", m.consumer_id);
}

static int h_get_segments(struct session *s, struct pbp_rbuf *r, uint32_t id, struct reply *rep)
{
	struct pbp_get_segments m;
	int err = pbp_parse_get_segments(r, &m);
	if (err)
		return err;
	struct bpart *bp = broker_part(s->b, m.topic_id, m.partition);
	if (!bp)
		return fail(rep, -ENOENT, "no partition %d in topic %u", m.partition, m.topic_id);
	struct partition *p = bp->log;
	size_t i = 0;
	while (i + 1 < p->nsegs && p->segs[i + 1]->base <= m.from_offset)
		i++;
	struct pbp_segment segs[PBP_MAX_SEGMENTS];
	struct pbp_get_segments_reply out = { 0, segs, 0 };
	for (; i < p->nsegs && out.n < PBP_MAX_SEGMENTS; i++) {
		struct segment *sg = p->segs[i];
		segs[out.n++] = (struct pbp_segment){ sg->base, i + 1 < p->nsegs ? p->segs[i + 1]->base : -1 };
		rep->fds[rep->nfds++] = sg->ro_fd;
	}
	out.more = i < p->nsegs;
	return pbp_enc_get_segments_reply(&rep->w, id, &out);
}

static int h_commit_offset(struct session *s, struct pbp_rbuf *r, uint32_t id, struct reply *rep)
{
	struct pbp_commit_offset m;
	int err = pbp_parse_commit_offset(r, &m);
	if (err)
		return err;
	struct topic *t = topics_find(&s->b->topics, m.topic);
	if (!t || m.partition < 0 || m.partition >= t->nparts)
		return fail(rep, -ENOENT, "unknown topic or partition '%s' %d", m.topic, m.partition);
	if (!topics_name_valid(m.name) || m.next_offset < 0)
		return fail(rep, -EINVAL, "consumer name must be [a-zA-Z0-9._-]{1,249} and the offset >= 0");
	if ((err = offsets_commit(&s->b->offsets, m.name, m.topic, m.partition, m.next_offset)) < 0)
		return fail(rep, err, "cannot persist the offset: %s", strerror(-err));
	return pbp_enc_ok_reply(&rep->w, PBP_COMMIT_OFFSET, id);
}

static int h_fetch_offset(struct session *s, struct pbp_rbuf *r, uint32_t id, struct reply *rep)
{
	struct pbp_fetch_offset m;
	int err = pbp_parse_fetch_offset(r, &m);
	if (err)
		return err;
	struct pbp_fetch_offset_reply out = { -1 };
	offsets_fetch(&s->b->offsets, m.name, m.topic, m.partition, &out.next_offset);
	return pbp_enc_fetch_offset_reply(&rep->w, id, &out);
}

/* The group requests: group_local.c (JOIN_GROUP and SYNC_GROUP are answered later). */
#define GROUP_HANDLER(name, type)                                                                  \
	static int h_##name(struct session *s, struct pbp_rbuf *r, uint32_t id, struct reply *rep) \
	{                                                                                          \
		return group_local_request(s, type, r, id, &rep->w, rep->err, sizeof(rep->err));   \
	}
GROUP_HANDLER(join_group, PBP_JOIN_GROUP)
GROUP_HANDLER(sync_group, PBP_SYNC_GROUP)
GROUP_HANDLER(heartbeat, PBP_HEARTBEAT)
GROUP_HANDLER(leave_group, PBP_LEAVE_GROUP)
GROUP_HANDLER(group_commit, PBP_GROUP_COMMIT)
GROUP_HANDLER(group_list, PBP_GROUP_LIST)
GROUP_HANDLER(group_describe, PBP_GROUP_DESCRIBE)

typedef int handler_fn(struct session *s, struct pbp_rbuf *r, uint32_t id, struct reply *rep);

static const struct {
	const char *name;
	handler_fn *handle;
} handlers[] = {
	[PBP_HELLO] = { "HELLO", h_hello },
	[PBP_TOPIC_CREATE] = { "TOPIC_CREATE", h_topic_create },
	[PBP_TOPIC_DELETE] = { "TOPIC_DELETE", h_topic_delete },
	[PBP_TOPIC_LIST] = { "TOPIC_LIST", h_topic_list },
	[PBP_TOPIC_DESCRIBE] = { "TOPIC_DESCRIBE", h_topic_describe },
	[PBP_OPEN_PRODUCER] = { "OPEN_PRODUCER", h_open_producer },
	[PBP_CLOSE_PRODUCER] = { "CLOSE_PRODUCER", h_close_producer },
	[PBP_OPEN_CONSUMER] = { "OPEN_CONSUMER", h_open_consumer },
	[PBP_CLOSE_CONSUMER] = { "CLOSE_CONSUMER", h_close_consumer },
	[PBP_GET_SEGMENTS] = { "GET_SEGMENTS", h_get_segments },
	[PBP_COMMIT_OFFSET] = { "COMMIT_OFFSET", h_commit_offset },
	[PBP_FETCH_OFFSET] = { "FETCH_OFFSET", h_fetch_offset },
	[PBP_JOIN_GROUP] = { "JOIN_GROUP", h_join_group },
	[PBP_SYNC_GROUP] = { "SYNC_GROUP", h_sync_group },
	[PBP_HEARTBEAT] = { "HEARTBEAT", h_heartbeat },
	[PBP_LEAVE_GROUP] = { "LEAVE_GROUP", h_leave_group },
	[PBP_GROUP_COMMIT] = { "GROUP_COMMIT", h_group_commit },
	[PBP_GROUP_LIST] = { "GROUP_LIST", h_group_list },
	[PBP_GROUP_DESCRIBE] = { "GROUP_DESCRIBE", h_group_describe },
};
_Static_assert(sizeof(handlers) / sizeof(handlers[0]) == PBP_REQUEST_LAST + 1, "one handler per request");

static void send_reply(struct session *s, struct reply *rep, int len)
{
	ssize_t w = pbp_send(s->fd, rep->buf, (size_t)len, rep->fds, rep->nfds);
	if (w < 0) {
		log_warn("session %u (pid %d): cannot send a reply (%s); closing it", s->id, (int)s->pid,
			 w == -EAGAIN ? "the client does not read its socket" : strerror((int)-w));
		session_close(s);
	}
}

int session_send(struct session *s, const void *buf, size_t len)
{
	if (s->dead)
		return -EPIPE;
	ssize_t w = pbp_send(s->fd, buf, len, NULL, 0);
	if (w < 0) {
		log_warn("session %u (pid %d): cannot send a reply (%s); closing it", s->id, (int)s->pid,
			 w == -EAGAIN ? "the client does not read its socket" : strerror((int)-w));
		session_close(s);
		return (int)w;
	}
	return 0;
}

/* One datagram from the client. */
static void handle(struct session *s, const uint8_t *buf, size_t n)
{
	static struct reply rep; /* 64 KiB: one loop, one request at a time */
	struct pbp_hdr h;
	struct pbp_rbuf r;
	int err = pbp_msg_parse(buf, n, &h, &r);
	rep.nfds = 0;
	rep.err[0] = 0;
	pbp_w_init(&rep.w, rep.buf, sizeof(rep.buf));
	if (err || h.flags != 0) {
		err = fail(&rep, -EPROTO, "malformed message: bad header (magic, length or flags)");
		h.type = 0;
	} else if (h.type >= sizeof(handlers) / sizeof(handlers[0]) || !handlers[h.type].handle) {
		err = fail(&rep, -EPROTO, "unknown request type %u", h.type);
	} else if (!s->hello && h.type != PBP_HELLO) {
		err = fail(&rep, -EPROTO, "send HELLO first");
	} else {
		err = handlers[h.type].handle(s, &r, h.id, &rep);
		if (err == -EPROTO && !rep.err[0])
			fail(&rep, err, "malformed %s request (%s)", handlers[h.type].name, r.what ? r.what : "?");
	}
	if (err == -EPROTO)
		s->b->stats.errors[BERR_MALFORMED_REQUEST]++;
	if (err == -EPROTO && ++s->malformed >= PBP_MAX_MALFORMED) {
		log_warn("session %u (pid %d): %d malformed messages; disconnecting (last: %s)", s->id, (int)s->pid,
			 s->malformed, rep.err);
		session_close(s);
		return;
	}
	if (err < 0) {
		rep.nfds = 0;
		if (!rep.err[0])
			snprintf(rep.err, sizeof(rep.err), "%s", pagebus_strerror(err));
		err = pbp_enc_error_reply(&rep.w, h.type, h.id, err, rep.err);
	}
	if (err > 0)
		send_reply(s, &rep, err);
}

static void poll_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags)
{
	struct session *s = op->ctx;
	if (!(flags & IORING_CQE_F_MORE))
		s->poll_armed = false;
	if (s->dead) {
		if (!s->poll_armed)
			session_free(s);
		return;
	}
	if (res < 0 || (res & (POLLERR | POLLHUP | POLLNVAL)) || !(res & POLLIN)) {
		if (res & POLLIN)
			goto read; /* read what is left, the next recv sees the hangup */
		session_close(s);
		return;
	}
read:;
	static uint8_t buf[PBP_MAX_MSG];
	s->busy = true; /* a request may close the session: it stays allocated until below */
	for (int i = 0; i < 32 && !s->dead; i++) { /* bounded: other sessions get their turn */
		int fds[PBP_MAX_FDS], nfds = 0;
		ssize_t n = pbp_recv(s->fd, buf, sizeof(buf), fds, PBP_MAX_FDS, &nfds, MSG_DONTWAIT);
		for (int k = 0; k < nfds; k++) /* clients never send fds */
			close(fds[k]);
		if (n == -EAGAIN)
			break;
		if (n == 0 || (n < 0 && n != -EMSGSIZE && n != -EPROTO)) {
			session_close(s);
			break;
		}
		if (n < 0)
			handle(s, (const uint8_t *)"", 0); /* counts as malformed, answers -EPROTO */
		else
			handle(s, buf, (size_t)n);
	}
	s->busy = false;
	if (s->dead) {
		if (!s->poll_armed)
			session_free(s);
		return;
	}
	if (!s->poll_armed) {
		struct io_uring_sqe *sqe = uloop_sqe(l, &s->op_poll);
		if (!sqe) {
			session_close(s);
			return;
		}
		io_uring_prep_poll_multishot(sqe, s->fd, POLLIN);
		s->poll_armed = true;
	}
}

int session_accept(struct broker *b, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		close(fd);
		return -errno;
	}
	if (b->nsessions >= b->cfg->max_clients) {
		log_warn("refusing a session from pid %d: max.clients (%u) reached", (int)cred.pid,
			 b->cfg->max_clients);
		b->stats.sessions_refused++;
		close(fd);
		return -EMFILE;
	}
	struct session *s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	s->b = b;
	s->fd = fd;
	s->id = ++b->next_session_id;
	s->pid = cred.pid;
	s->uid = cred.uid;
	list_init(&s->producers);
	list_init(&s->consumers);
	s->op_poll = (struct uloop_op){ .cb = poll_done, .ctx = s };
	struct io_uring_sqe *sqe = uloop_sqe(&b->loop, &s->op_poll);
	if (!sqe) {
		close(fd);
		free(s);
		return -EBUSY;
	}
	io_uring_prep_poll_multishot(sqe, fd, POLLIN);
	s->poll_armed = true;
	list_add_tail(&b->sessions, &s->link);
	b->nsessions++;
	log_debug("session %u: pid %d uid %d connected", s->id, (int)s->pid, (int)s->uid);
	return 0;
}

void session_push_segment_event(struct broker *b, struct bpart *bp, uint32_t event, int64_t base)
{
	if (!bp->consumers)
		return;
	uint8_t buf[128];
	struct pbp_wbuf w;
	pbp_w_init(&w, buf, sizeof(buf));
	struct pbp_segment_event ev = { bp->topic->id, bp->index, event, base };
	int len = pbp_enc_segment_event(&w, &ev);
	if (len < 0)
		return;
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &b->sessions) {
		struct session *s = container_of(pos, struct session, link);
		struct list *cp, *ct;
		bool wants = false;
		list_for_each_safe(cp, ct, &s->consumers) {
			struct bconsumer *c = container_of(cp, struct bconsumer, link);
			for (uint32_t i = 0; c->topic_id == bp->topic->id && i < c->nparts; i++)
				wants |= c->parts[i] == bp->index;
		}
		if (wants && !s->dead && pbp_send(s->fd, buf, (size_t)len, NULL, 0) < 0) {
			log_warn("session %u (pid %d): cannot push a segment event (socket full); closing it", s->id,
				 (int)s->pid);
			session_close(s);
		}
	}
}
