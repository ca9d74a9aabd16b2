/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka.c — the Kafka endpoint's listener and connections on the broker's loop:
 * accept, receive and frame requests (size-checked before a byte of the body is
 * buffered), hand them to kafka_api.c in arrival order, queue the responses in that
 * order and send them: memory bytes with IORING_OP_SEND, record ranges by sendfile(2)
 * when their pages are cached, else by two linked IORING_OP_SPLICEs (segment file →
 * pipe → socket) off the loop, so record bytes never enter user space (except with
 * kafka.fetch.copy, for comparison). A client that sends garbage, lets its responses
 * pile up or stops reading is disconnected with one log line; nothing it does blocks
 * the loop or other clients.
 */
#include "kafka.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kafka_api.h"
#include "kafka_fetch.h"
#include "logging.h"

#define RBUF_MIN (64u * 1024)
#define SWEEP_MS 1000

enum { RETRY_NONE, RETRY_SEND }; /* c->retry: re-run the send step after POLLOUT */

static void conn_send(struct kconn *c);
static void conn_process(struct kconn *c);
static void arm_recv(struct kconn *c);

/* ---- connection lifetime ------------------------------------------------------------- */

static void kresp_free(struct kresp *r)
{
	for (size_t i = 0; i < r->npieces; i++)
		part_range_release(&r->pieces[i].r);
	free(r->pieces);
	kc_writer_free(&r->w);
	free(r);
}

static void kconn_free(struct kconn *c)
{
	list_del(&c->link);
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &c->resps) {
		struct kresp *r = container_of(pos, struct kresp, link);
		if (r->state && r->abort)
			r->abort(r);
		kresp_free(r);
	}
	if (c->fd >= 0)
		close(c->fd);
	if (c->pipe_fd[0] >= 0) {
		close(c->pipe_fd[0]);
		close(c->pipe_fd[1]);
	}
	free(c->rbuf);
	free(c->bounce);
	free(c);
}

static void kconn_put(struct kconn *c)
{
	if (--c->refs == 0)
		kconn_free(c);
}

void kresp_release(struct kresp *r)
{
	list_del(&r->link);
	r->c->nresps--;
	kresp_free(r);
}

void kconn_close(struct kconn *c, int level, const char *fmt, ...)
{
	if (c->dead)
		return;
	struct kafka *k = c->k;
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	pb_log((enum log_level)level, KCONN_FMT ": %s; closing the connection", KCONN_ARGS(c), why);
	if (level <= LOG_WARN)
		k->stats.closed_bad++;
	c->dead = true;
	list_del(&c->link);
	list_add_tail(&k->dying, &c->link); /* until its last reference goes */
	k->nconns--;
	if (c->blocked) {
		list_del(&c->blocked_link);
		c->blocked = false;
	}
	/* shutdown wakes every request on the socket (recv, send, splice, poll) with an
	 * end or an error; the fd itself stays open until the last of them completed */
	shutdown(c->fd, SHUT_RDWR);
	if (c->recv_armed)
		uloop_cancel(&k->b->loop, &c->op_recv, NULL);
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &c->resps) {
		struct kresp *r = container_of(pos, struct kresp, link);
		if (r->state && r->abort)
			r->abort(r);
		/* kept: a response with acks still owed (freed when the last one comes), and
		 * the one being sent while the kernel may still read its buffers (freed with
		 * the connection) */
		if (!r->state && !(pos == c->resps.next && c->send_ops))
			kresp_release(r);
	}
	c->queued = 0;
	kconn_put(c);
}

/* The next SQE for one of c's ops; the op holds a reference on c until it completes. */
static struct io_uring_sqe *conn_sqe(struct kconn *c, struct uloop_op *op, uloop_cb *cb)
{
	*op = (struct uloop_op){ .cb = cb, .ctx = c };
	struct io_uring_sqe *sqe = uloop_sqe(&c->k->b->loop, op);
	if (!sqe) {
		kconn_close(c, LOG_ERROR, "the io_uring submission queue is full");
		return NULL;
	}
	c->refs++;
	return sqe;
}

static void sink_ack(struct ack_sink *s, uint64_t cookie, int64_t offset, int err, bool durable)
{
	(void)s;
	(void)durable;
	kafka_api_produce_ack(cookie, offset, err);
}

static void sink_get(struct ack_sink *s)
{
	container_of(s, struct kconn, sink)->refs++;
}

static void sink_put(struct ack_sink *s)
{
	kconn_put(container_of(s, struct kconn, sink));
}

static const struct ack_sink_ops conn_sink_ops = { sink_ack, sink_get, sink_put };

/* ---- responses ---------------------------------------------------------------------- */

struct kresp *kresp_new(struct kconn *c, const struct kc_header *h)
{
	struct kresp *r = calloc(1, sizeof(*r));
	if (!r || kc_writer_init(&r->w, 256) < 0) {
		free(r);
		return NULL;
	}
	r->c = c;
	r->api_key = h->api_key;
	r->api_version = h->api_version;
	r->correlation_id = h->correlation_id;
	kc_w_i32(&r->w, 0); /* size, patched by kresp_ready */
	kc_w_i32(&r->w, h->correlation_id);
	list_add_tail(&c->resps, &r->link);
	c->nresps++;
	return r;
}

int kresp_add_piece(struct kresp *r, const struct part_range *range)
{
	struct kpiece *p = realloc(r->pieces, (r->npieces + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	r->pieces = p;
	p[r->npieces++] = (struct kpiece){ .at = r->w.len, .r = *range };
	return 0;
}

static void ready(struct kresp *r);

void kresp_ready(struct kresp *r)
{
	struct kconn *c = r->c;
	c->refs++; /* sending may close it */
	ready(r);
	kconn_put(c);
}

static void ready(struct kresp *r)
{
	struct kconn *c = r->c;
	struct kafka *k = c->k;
	if (c->dead) {
		kresp_release(r);
		return;
	}
	uint64_t total = r->w.len;
	for (size_t i = 0; i < r->npieces; i++)
		total += r->pieces[i].r.len;
	if (r->w.err || total - 4 > INT32_MAX) {
		kconn_close(c, LOG_ERROR, "cannot build a response (%s)", r->w.err ? "out of memory" : "too large");
		return;
	}
	kc_w_patch_i32(&r->w, 0, (int32_t)(total - 4));
	r->total = total;
	r->ready = true;
	if (!r->silent) {
		if (!c->queued)
			c->last_progress_ms = k->b->now_ms;
		c->queued += total;
		r->counted = true;
		/* one response is always allowed, however large; more must be read */
		if (c->queued > k->b->cfg->kafka_send_queue_bytes && c->queued > total) {
			kconn_close(c, LOG_WARN,
				    "it does not read its responses: %" PRIu64
				    " bytes queued, past kafka.send.queue.bytes (%" PRIu64 ")",
				    c->queued, k->b->cfg->kafka_send_queue_bytes);
			return;
		}
	}
	conn_send(c);
}

/* ---- the send path ------------------------------------------------------------------ */

static void arm_sweep(struct kafka *k);

static void progress(struct kconn *c, struct kresp *r, uint64_t n)
{
	c->last_progress_ms = c->k->b->now_ms;
	if (r->counted)
		c->queued -= n;
}

static void poll_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags);

/* After a step of the send path completed: go on, or (the socket was full) wait until
 * it can take bytes and re-run the step. */
static void step_done(struct kconn *c)
{
	if (c->dead || c->send_ops)
		return;
	if (c->retry == RETRY_NONE) {
		conn_send(c);
		return;
	}
	struct io_uring_sqe *sqe = conn_sqe(c, &c->op_poll, poll_done);
	if (!sqe)
		return;
	io_uring_prep_poll_add(sqe, c->fd, POLLOUT);
	c->send_ops++;
}

static void poll_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags)
{
	(void)l;
	(void)flags;
	struct kconn *c = op->ctx;
	c->send_ops--;
	c->retry = RETRY_NONE;
	if (!c->dead && (res < 0 || (res & (POLLERR | POLLHUP))))
		kconn_close(c, LOG_DEBUG, "connection lost while sending");
	step_done(c);
	kconn_put(c);
}

static struct kresp *head(struct kconn *c)
{
	return list_empty(&c->resps) ? NULL : container_of(c->resps.next, struct kresp, link);
}

static void send_result(struct kconn *c, int res, const char *what)
{
	if (res == -EAGAIN)
		c->retry = RETRY_SEND; /* step_done polls for room */
	else if (!c->dead && res != -ECANCELED)
		kconn_close(c, res == 0 || res == -EPIPE || res == -ECONNRESET ? LOG_DEBUG : LOG_WARN,
			    "%s failed: %s", what, res ? strerror(-res) : "connection closed");
}

/* Bytes reached the socket: from memory (op_send), from the bounce buffer of copy mode
 * (op_send while bounce_len) or from the pipe (op_drain). */
static void out_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags)
{
	(void)l;
	(void)flags;
	struct kconn *c = op->ctx;
	struct kresp *r = head(c);
	struct kafka_stats *st = &c->k->stats;
	bool spliced = op == &c->op_drain;
	c->send_ops--;
	if (!c->dead && res > 0 && r) {
		uint32_t n = (uint32_t)res;
		if (spliced) {
			c->pipe_fill -= n;
			r->piece_off += n;
			st->fetch_spliced += n;
		} else if (c->bounce_len) {
			c->bounce_len -= n;
			memmove(c->bounce, c->bounce + n, c->bounce_len);
			r->piece_off += n;
			st->fetch_copied += n;
		} else {
			r->mem_off += n;
			st->mem_bytes += n;
		}
		progress(c, r, n);
	} else if (!c->dead) {
		send_result(c, res, spliced ? "splice to the socket" : "send");
	}
	step_done(c);
	kconn_put(c);
}

/* Record bytes came from the segment: into the pipe (splice) or the bounce buffer (read). */
static void in_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags)
{
	(void)l;
	(void)flags;
	struct kconn *c = op->ctx;
	c->send_ops--;
	if (res > 0 && c->k->b->cfg->kafka_fetch_copy)
		c->bounce_len = (uint32_t)res;
	else if (res > 0)
		c->pipe_fill += (uint32_t)res; /* short: the linked drain is cancelled, step_done re-drains */
	else if (!c->dead)
		kconn_close(c, LOG_ERROR, "reading a segment failed: %s", res ? strerror(-res) : "end of file");
	step_done(c);
	kconn_put(c);
}

static int open_pipe(struct kconn *c)
{
	/* blocking pipe: the file → pipe splice only ever runs on an empty pipe; the
	 * socket is O_NONBLOCK, which makes the pipe → socket splice non-blocking */
	if (pipe2(c->pipe_fd, O_CLOEXEC) < 0) {
		c->pipe_fd[0] = c->pipe_fd[1] = -1;
		return -errno;
	}
	int n = fcntl(c->pipe_fd[1], F_SETPIPE_SZ, KAFKA_PIPE_BYTES);
	if (n < 0)
		n = fcntl(c->pipe_fd[1], F_GETPIPE_SZ);
	c->pipe_cap = n > 0 ? (uint32_t)n : 65536;
	return 0;
}

/* Drains what the pipe holds into the socket. */
static void submit_drain(struct kconn *c, uint32_t n, bool more)
{
	struct io_uring_sqe *sqe = conn_sqe(c, &c->op_drain, out_done);
	if (!sqe)
		return;
	io_uring_prep_splice(sqe, c->pipe_fd[0], -1, c->fd, -1, n, SPLICE_F_MOVE | (more ? SPLICE_F_MORE : 0));
	c->send_ops++;
}

/* The most record bytes one inline sendfile takes (pages checked with one mincore). */
#define INLINE_CHUNK (4u << 20)

/* True when the bytes' pages are in the page cache (mincore on the segment's mapping):
 * a sendfile of them then never waits for the disk. */
static bool cached(const struct part_range *rg, uint64_t off, uint64_t len)
{
	const struct segment *s = rg->seg;
	unsigned char vec[INLINE_CHUNK / 4096 + 1];
	uint64_t at = rg->pos + off, start = at & ~4095ull, pages = (at + len - start + 4095) / 4096;
	if (!s->map || pages > sizeof(vec) || at + len > s->map_len ||
	    mincore((void *)(s->map + start), pages * 4096, vec) < 0)
		return false;
	for (uint64_t i = 0; i < pages; i++)
		if (!(vec[i] & 1))
			return false;
	return true;
}

/*
 * Record bytes whose pages are cached go out inline with sendfile(2): the kernel moves
 * page references to the socket (no copy), and no io-wq worker is involved. Returns the
 * bytes sent, 0 when the range is not all cached (the splices then do it off the loop,
 * where a disk read may wait), -EAGAIN when the socket is full, or another -errno.
 */
static ssize_t sendfile_step(struct kconn *c, struct kresp *r, struct kpiece *pc)
{
	uint64_t left = pc->r.len - r->piece_off;
	size_t n = left < INLINE_CHUNK ? (size_t)left : INLINE_CHUNK;
	if (c->pipe_fill || !cached(&pc->r, r->piece_off, n))
		return 0;
	off_t off = (off_t)(pc->r.pos + r->piece_off);
	ssize_t w = sendfile(c->fd, pc->r.fd, &off, n); /* the socket is O_NONBLOCK */
	if (w <= 0)
		return w < 0 ? -errno : -EPIPE;
	r->piece_off += (uint64_t)w;
	c->k->stats.fetch_sendfile += (uint64_t)w;
	progress(c, r, (uint64_t)w);
	return w;
}

/* Record bytes of a piece: file → pipe → socket, the two splices linked. */
static void splice_step(struct kconn *c, struct kresp *r, struct kpiece *pc, bool more)
{
	if (c->pipe_fd[0] < 0) {
		int err = open_pipe(c);
		if (err < 0) {
			kconn_close(c, LOG_ERROR, "cannot create a pipe: %s", strerror(-err));
			return;
		}
	}
	uint64_t left = pc->r.len - r->piece_off;
	if (c->pipe_fill) { /* what a short drain left behind goes first */
		submit_drain(c, c->pipe_fill, more || left > c->pipe_fill);
		return;
	}
	uint32_t chunk = left < c->pipe_cap ? (uint32_t)left : c->pipe_cap;
	if (uloop_reserve(&c->k->b->loop, 2) < 0) {
		kconn_close(c, LOG_ERROR, "the io_uring submission queue is full");
		return;
	}
	struct io_uring_sqe *sqe = conn_sqe(c, &c->op_fill, in_done);
	if (!sqe)
		return;
	io_uring_prep_splice(sqe, pc->r.fd, (int64_t)(pc->r.pos + r->piece_off), c->pipe_fd[1], -1, chunk,
			     SPLICE_F_MOVE);
	sqe->flags |= IOSQE_IO_LINK; /* a short fill cancels the drain: step_done drains what came */
	c->send_ops++;
	submit_drain(c, chunk, more || left > chunk);
}

/* kafka.fetch.copy: record bytes of a piece read into the broker, then sent. */
static void copy_step(struct kconn *c, struct kresp *r, struct kpiece *pc, bool more)
{
	if (c->bounce_len) {
		struct io_uring_sqe *sqe = conn_sqe(c, &c->op_send, out_done);
		if (!sqe)
			return;
		io_uring_prep_send(sqe, c->fd, c->bounce, c->bounce_len, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
		c->send_ops++;
		return;
	}
	if (!c->bounce && !(c->bounce = malloc(KAFKA_PIPE_BYTES))) {
		kconn_close(c, LOG_ERROR, "out of memory");
		return;
	}
	uint64_t left = pc->r.len - r->piece_off;
	uint32_t chunk = left < KAFKA_PIPE_BYTES ? (uint32_t)left : KAFKA_PIPE_BYTES;
	struct io_uring_sqe *sqe = conn_sqe(c, &c->op_fill, in_done);
	if (!sqe)
		return;
	io_uring_prep_read(sqe, pc->r.fd, c->bounce, chunk, pc->r.pos + r->piece_off);
	c->send_ops++;
}

/* One step of the head response, when nothing of the send path is in flight. */
static void conn_send(struct kconn *c)
{
	struct kafka *k = c->k;
	size_t inline_sent = 0;
	while (!c->dead && !c->send_ops && c->retry == RETRY_NONE) {
		struct kresp *r = head(c);
		if (!r || !r->ready)
			return;
		if (r->piece < r->npieces && r->mem_off == r->pieces[r->piece].at) {
			struct kpiece *pc = &r->pieces[r->piece];
			if (r->piece_off == pc->r.len) {
				part_range_release(&pc->r); /* sent: the segment may go */
				r->piece++;
				r->piece_off = 0;
				continue;
			}
			bool more = pc->at < r->w.len || r->piece + 1 < r->npieces;
			ssize_t n = k->b->cfg->kafka_fetch_copy ? 0 : sendfile_step(c, r, pc);
			if (n > 0 && (inline_sent += (size_t)n) < KAFKA_INLINE_BUDGET)
				continue;
			if (n > 0 || n == -EAGAIN) {
				/* the socket is full, or the loop has done enough for this
				 * client in one go: go on when the socket can take more */
				c->retry = RETRY_SEND;
				step_done(c);
			} else if (n < 0) {
				send_result(c, (int)n, "sendfile");
			} else if (k->b->cfg->kafka_fetch_copy) {
				copy_step(c, r, pc, more);
			} else {
				splice_step(c, r, pc, more);
			}
			arm_sweep(k);
			return;
		}
		size_t end = r->piece < r->npieces ? r->pieces[r->piece].at : r->w.len;
		if (r->mem_off < end && !r->silent) {
			struct io_uring_sqe *sqe = conn_sqe(c, &c->op_send, out_done);
			if (!sqe)
				return;
			bool more = end < r->w.len || r->piece < r->npieces;
			io_uring_prep_send(sqe, c->fd, r->w.buf + r->mem_off, end - r->mem_off,
					   MSG_NOSIGNAL | (more ? MSG_MORE : 0));
			c->send_ops++;
			arm_sweep(k);
			return;
		}
		/* all of it sent (or nothing to send): the next one */
		kresp_release(r);
		if (c->nresps == KAFKA_MAX_INFLIGHT - 1 && list_empty(&c->resume_link)) {
			/* reading stopped at the limit and requests may be waiting in rbuf: they
			 * are taken next turn, not from inside whatever callback got us here */
			list_add_tail(&k->resume, &c->resume_link);
			c->refs++;
		}
	}
}

/* Every second while anything is being sent: close connections that stopped reading. */
static void sweep_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags)
{
	(void)l;
	(void)res;
	(void)flags;
	struct kafka *k = op->ctx;
	k->sweep_armed = false;
	bool sending = false;
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &k->conns) {
		struct kconn *c = container_of(pos, struct kconn, link);
		struct kresp *r = head(c);
		if (!r || !r->ready || !c->queued)
			continue;
		if (k->b->now_ms - c->last_progress_ms > KAFKA_STALL_MS)
			kconn_close(c, LOG_WARN, "it has not read its responses for %d s (%" PRIu64 " bytes queued)",
				    KAFKA_STALL_MS / 1000, c->queued);
		else
			sending = true;
	}
	if (sending)
		arm_sweep(k);
}

static void arm_sweep(struct kafka *k)
{
	if (k->sweep_armed || k->stopping)
		return;
	k->op_sweep = (struct uloop_op){ .cb = sweep_done, .ctx = k };
	if (uloop_timeout(&k->b->loop, &k->op_sweep, SWEEP_MS * 1000000ull) == 0)
		k->sweep_armed = true;
}

/* ---- receiving and framing ------------------------------------------------------------ */

static void conn_process(struct kconn *c)
{
	struct kafka *k = c->k;
	uint32_t max = k->b->cfg->kafka_max_request_bytes;
	c->processing = true; /* no recv may move rbuf, no nested call may take a frame */
	while (!c->dead && !c->blocked && !k->stopping && c->nresps < KAFKA_MAX_INFLIGHT) {
		size_t avail = c->rlen - c->rpos;
		if (avail < 4)
			break;
		uint32_t size = be32_get(c->rbuf + c->rpos);
		if (size > max) {
			kconn_close(c, LOG_WARN, "request size %" PRIu32 " is past kafka.max.request.bytes (%" PRIu32 ")",
				    size, max);
			break;
		}
		if (size < 8) {
			kconn_close(c, LOG_WARN, "request of %" PRIu32 " bytes is too short for a request header", size);
			break;
		}
		if (avail - 4 < size)
			break;
		k->stats.requests++;
		int rc = kafka_api_request(c, c->rbuf + c->rpos + 4, size);
		if (c->dead || rc < 0)
			break;
		if (rc == KAFKA_BLOCKED) {
			c->blocked = true;
			list_add_tail(&k->blocked, &c->blocked_link);
			break;
		}
		c->rpos += 4 + (size_t)size;
	}
	c->processing = false;
	if (!c->blocked && c->rpos == c->rlen)
		c->rpos = c->rlen = 0;
}

static void recv_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags)
{
	(void)l;
	(void)flags;
	struct kconn *c = op->ctx;
	c->recv_armed = false;
	if (!c->dead) {
		if (res > 0) {
			c->rlen += (size_t)res;
			conn_process(c);
			arm_recv(c);
		} else if (res == 0 || res == -ECONNRESET) {
			kconn_close(c, LOG_DEBUG, "the client closed it");
		} else if (res != -ECANCELED) {
			kconn_close(c, LOG_WARN, "receive failed: %s", strerror(-res));
		}
	}
	kconn_put(c);
}

/* Room for the frame being received (its size is checked already) and a recv. */
static void arm_recv(struct kconn *c)
{
	struct kafka *k = c->k;
	if (c->dead || c->recv_armed || c->blocked || c->processing || k->stopping ||
	    c->nresps >= KAFKA_MAX_INFLIGHT)
		return;
	if (c->rpos) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	size_t need = RBUF_MIN;
	if (c->rlen >= 4 && 4 + (size_t)be32_get(c->rbuf) > need)
		need = 4 + (size_t)be32_get(c->rbuf);
	/* grow for a large frame; give the memory back once it is handled */
	if (c->rcap < need || (c->rcap > need && c->rcap > 4 * RBUF_MIN && c->rlen <= need)) {
		uint8_t *nb = realloc(c->rbuf, need);
		if (!nb) {
			kconn_close(c, LOG_ERROR, "out of memory for a %zu-byte request", need);
			return;
		}
		c->rbuf = nb;
		c->rcap = need;
	}
	struct io_uring_sqe *sqe = conn_sqe(c, &c->op_recv, recv_done);
	if (!sqe)
		return;
	io_uring_prep_recv(sqe, c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
	c->recv_armed = true;
}

/* ---- accepting -------------------------------------------------------------------------- */

static void peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
			    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(buf, len, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

static void conn_new(struct kafka *k, int fd)
{
	if (k->nconns >= k->b->cfg->kafka_max_connections) {
		char peer[64];
		peer_name(fd, peer, sizeof(peer));
		k->stats.refused++;
		uint32_t now = (uint32_t)(k->b->now_ms / 1000);
		if (now != k->last_refuse_log) { /* at most one line a second */
			k->last_refuse_log = now;
			log_warn("refusing kafka client %s: kafka.max.connections (%u) reached; %" PRIu64
				 " refused so far",
				 peer, k->b->cfg->kafka_max_connections, k->stats.refused);
		}
		close(fd);
		return;
	}
	struct kconn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->k = k;
	c->fd = fd;
	c->id = ++k->next_id;
	c->refs = 1;
	c->pipe_fd[0] = c->pipe_fd[1] = -1;
	c->sink.ops = &conn_sink_ops;
	list_init(&c->resps);
	list_init(&c->blocked_link);
	list_init(&c->resume_link);
	peer_name(fd, c->peer, sizeof(c->peer));
	list_add_tail(&k->conns, &c->link);
	k->nconns++;
	k->stats.accepted++;
	log_debug(KCONN_FMT ": connected", KCONN_ARGS(c));
	arm_recv(c);
}

static void arm_accept(struct kafka *k);

static void accept_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags)
{
	(void)l;
	struct kafka *k = op->ctx;
	if (res >= 0) {
		if (k->stopping)
			close(res);
		else
			conn_new(k, res);
	} else if (res != -ECANCELED && res != -EAGAIN && res != -EINTR) {
		log_warn("kafka endpoint: accept failed: %s", strerror(-res));
	}
	if (!(flags & IORING_CQE_F_MORE)) {
		k->accept_armed = false;
		if (!k->stopping)
			arm_accept(k);
	}
}

static void arm_accept(struct kafka *k)
{
	k->op_accept = (struct uloop_op){ .cb = accept_done, .ctx = k };
	struct io_uring_sqe *sqe = uloop_sqe(&k->b->loop, &k->op_accept);
	if (!sqe)
		return;
	io_uring_prep_multishot_accept(sqe, k->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	k->accept_armed = true;
}

/* ---- the broker's side ------------------------------------------------------------------ */

static int is_wildcard(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (sa->sa_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, &in6addr_any, sizeof(in6addr_any));
	return 0;
}

/* Binds the listener per kafka.listen; fills the advertised host and port. */
static int listen_on(struct kafka *k, const struct broker_config *cfg)
{
	char host[CONFIG_ADDR_MAX], port[8];
	int p;
	if (config_parse_addr(cfg->kafka_listen, host, sizeof(host), &p) < 0)
		return -EINVAL;
	snprintf(port, sizeof(port), "%d", p);
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM }, *ai, *a;
	int gai = getaddrinfo(host, port, &hints, &ai);
	if (gai) {
		log_error("kafka.listen %s: %s", cfg->kafka_listen, gai_strerror(gai));
		return -EINVAL;
	}
	int err = -EADDRNOTAVAIL;
	for (a = ai; a; a = a->ai_next) {
		int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 1024) == 0) {
			k->listen_fd = fd;
			break;
		}
		err = -errno;
		close(fd);
	}
	if (k->listen_fd < 0) {
		freeaddrinfo(ai);
		log_error("kafka endpoint: cannot listen on %s: %s", cfg->kafka_listen, strerror(-err));
		return err;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char num[INET6_ADDRSTRLEN] = "?", bound[8] = "0";
	getsockname(k->listen_fd, (struct sockaddr *)&ss, &sl);
	getnameinfo((struct sockaddr *)&ss, sl, num, sizeof(num), bound, sizeof(bound),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	int real_port = atoi(bound);
	log_info(ss.ss_family == AF_INET6 ? "kafka endpoint listening on [%s]:%d" : "kafka endpoint listening on %s:%d",
		 num, real_port);
	/* what clients are told to connect to */
	k->adv_port = real_port;
	if (strcmp(cfg->kafka_advertised, "auto")) {
		config_parse_addr(cfg->kafka_advertised, k->adv_host, sizeof(k->adv_host), &k->adv_port);
		if (!k->adv_port)
			k->adv_port = real_port;
	} else if (is_wildcard((struct sockaddr *)&ss)) {
		if (gethostname(k->adv_host, sizeof(k->adv_host)) < 0)
			snprintf(k->adv_host, sizeof(k->adv_host), "localhost");
	} else {
		snprintf(k->adv_host, sizeof(k->adv_host), "%s", host);
	}
	if (strcmp(k->adv_host, host) || k->adv_port != real_port)
		log_info("kafka endpoint advertises %s:%d", k->adv_host, k->adv_port);
	freeaddrinfo(ai);
	return 0;
}

int kafka_open(struct broker *b)
{
	b->kafka = NULL;
	if (!strcmp(b->cfg->kafka_listen, "off"))
		return 0;
	struct kafka *k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->b = b;
	k->listen_fd = -1;
	list_init(&k->conns);
	list_init(&k->dying);
	list_init(&k->blocked);
	list_init(&k->resume);
	list_init(&k->fetches);
	int err = listen_on(k, b->cfg);
	if (err < 0) {
		free(k);
		return err;
	}
	b->kafka = k;
	arm_accept(k);
	return 0;
}

void kafka_stop(struct broker *b)
{
	struct kafka *k = b->kafka;
	if (!k || k->stopping)
		return;
	k->stopping = true;
	if (k->accept_armed)
		uloop_cancel(&b->loop, &k->op_accept, NULL);
}

void kafka_close(struct broker *b)
{
	struct kafka *k = b->kafka;
	if (!k)
		return;
	const struct kafka_stats *s = &k->stats;
	log_info("kafka endpoint stats: connections=%" PRIu64 " refused=%" PRIu64 " closed_bad=%" PRIu64
		 " requests=%" PRIu64 " produce_batches=%" PRIu64 " produce_bytes=%" PRIu64
		 " fetch_bytes_sendfile=%" PRIu64 " fetch_bytes_spliced=%" PRIu64 " fetch_bytes_copied=%" PRIu64
		 " memory_bytes_sent=%" PRIu64,
		 s->accepted, s->refused, s->closed_bad, s->requests, s->produce_batches, s->produce_bytes,
		 s->fetch_sendfile, s->fetch_spliced, s->fetch_copied, s->mem_bytes);
	/* the loop is gone with its requests: no callback comes any more */
	k->gone = true;
	kafka_fetch_free_all(k);
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &k->conns)
		kconn_free(container_of(pos, struct kconn, link));
	list_for_each_safe(pos, tmp, &k->dying)
		kconn_free(container_of(pos, struct kconn, link));
	if (k->listen_fd >= 0)
		close(k->listen_fd);
	free(k);
	b->kafka = NULL;
}

bool kafka_turn(struct broker *b)
{
	struct kafka *k = b->kafka;
	if (!k)
		return false;
	bool work = false;
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &k->blocked) {
		struct kconn *c = container_of(pos, struct kconn, blocked_link);
		uint32_t size = be32_get(c->rbuf + c->rpos);
		c->refs++; /* the request may close it */
		int rc = kafka_api_resume(c, c->rbuf + c->rpos + 4, size);
		if (!c->dead && rc != KAFKA_BLOCKED) {
			list_del(&c->blocked_link);
			c->blocked = false;
			c->rpos += 4 + (size_t)size;
			work = true;
			conn_process(c);
			arm_recv(c);
		}
		kconn_put(c);
	}
	list_for_each_safe(pos, tmp, &k->resume) {
		struct kconn *c = container_of(pos, struct kconn, resume_link);
		list_del(&c->resume_link);
		conn_process(c);
		arm_recv(c);
		kconn_put(c);
		work = true;
	}
	work |= kafka_fetch_turn(k);
	return work;
}

void kafka_part_appended(struct bpart *bp)
{
	if (bp->b->kafka)
		kafka_fetch_wake(bp->b->kafka, bp);
}
