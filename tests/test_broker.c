/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_broker.c — pagebusd end to end: each case starts a real broker on a temp dir and
 * drives it with real client processes (libpagebus, or the protocol and the ring by
 * hand where a well-behaved library cannot misbehave): start-up and clean stop, many
 * producers into one partition, every kind of ack, SIGTERM under load, a producer
 * killed mid-entry, garbage in a ring, read-only segment and control fds, a second
 * broker refused, restart recovery, bad configuration, hostile control messages,
 * named offsets and a consumer following segment rolls. Every assertion is on bytes,
 * offsets and error codes; every wait is bounded (children run under alarm()).
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "atomics.h"
#include "client.h"
#include "pagebus.h"
#include "protocol.h"
#include "record_batch.h"
#include "ring_types.h"
#include "testutil.h"

#define CHILD_ALARM_S 60 /* a child process never outlives this */
#define WAIT_MS 10000	 /* longest wait for anything the broker owes us */
#define POLL_MAX 256

/* ---- fixture: a temp dir and a broker on DIR = <root>/data ---------------------------------- */

struct fixture {
	char *root;
	char dir[80]; /* the socket path DIR/pagebus.sock must fit a sockaddr_un */
	char log[600];
	pid_t broker;
};

/* The broker's extra arguments come as the case's initial state (NULL: none). */
static int setup(void **state)
{
	const char *const *args = *state;
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->root = tu_tmpdir("broker");
	snprintf(f->dir, sizeof(f->dir), "%s/data", f->root);
	snprintf(f->log, sizeof(f->log), "%s/pagebusd.log", f->root);
	f->broker = tu_broker_start(f->dir, f->log, args, NULL);
	*state = f;
	return f->broker > 0 ? 0 : -1;
}

/* Stops the broker: a case passes only if it then exits 0 (no crash, no sanitizer report). */
static int teardown(void **state)
{
	struct fixture *f = *state;
	int rc = f->broker > 0 ? tu_broker_stop_clean(f->broker, f->log) : 0;
	tu_rmrf(f->root);
	free(f->root);
	free(f);
	return rc;
}

static void stop_broker(struct fixture *f)
{
	pid_t pid = f->broker;
	f->broker = -1;
	assert_int_equal(tu_broker_stop_clean(pid, f->log), 0);
}

static void restart_broker(struct fixture *f)
{
	stop_broker(f);
	f->broker = tu_broker_start(f->dir, f->log, NULL, NULL);
	assert_true(f->broker > 0);
}

static struct pagebus *connect_broker(const struct fixture *f)
{
	struct pagebus *pb = NULL;
	assert_int_equal(pagebus_connect(f->dir, &pb), 0);
	return pb;
}

/* ---- child processes ------------------------------------------------------------------------ */

/* What a child process gets. */
struct child {
	const char *dir;
	const char *topic;
	char tag[16];	  /* it sends values "<tag>-<i>" (see seq_value) */
	int n;		  /* how many */
	size_t value_len; /* padded to this length */
	int fd;		  /* a pipe to write to, or -1 */
};

/* Runs fn(arg) in a child that exits with its result, or dies of SIGALRM. */
static pid_t spawn(int (*fn)(const struct child *), const struct child *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(CHILD_ALARM_S);
		_exit(fn(arg));
	}
	return pid;
}

/* The child's wait status (the wait is bounded by the child's alarm). */
static int reap(pid_t pid)
{
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void assert_exited_0(int st)
{
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- the protocol by hand ------------------------------------------------------------------- */

static uint32_t next_id(struct pagebus *pb)
{
	pthread_mutex_lock(&pb->lock);
	uint32_t id = pb_next_id(pb);
	pthread_mutex_unlock(&pb->lock);
	return id;
}

/*
 * One request (len bytes, or an encoder's error) and its reply on pb. *r reads the reply
 * (in pb->buf: valid until the next request on pb); fds[0..*nfds) are the caller's.
 */
static int request(struct pagebus *pb, const uint8_t *req, int len, struct pbp_rbuf *r, int *fds,
		   int max_fds, int *nfds)
{
	int tmp;
	pthread_mutex_lock(&pb->lock);
	int err = pb_call(pb, req, len, r, fds, max_fds, nfds ? nfds : &tmp);
	pthread_mutex_unlock(&pb->lock);
	return err;
}

/* TOPIC_DESCRIBE; the caller frees *out with pbp_free_topic_describe_reply. */
static void describe(struct pagebus *pb, const char *topic, struct pbp_topic_describe_reply *out)
{
	struct pbp_topic_describe m;
	snprintf(m.name, sizeof(m.name), "%s", topic);
	uint8_t req[512];
	struct pbp_wbuf w;
	struct pbp_rbuf r;
	struct pbp_status st;
	pbp_w_init(&w, req, sizeof(req));
	assert_int_equal(
		request(pb, req, pbp_enc_topic_describe(&w, next_id(pb), &m), &r, NULL, 0, NULL),
		0);
	assert_int_equal(pbp_parse_topic_describe_reply(&r, &st, out), 0);
	assert_int_equal(st.status, 0);
}

/* The partition's high watermark, as the broker reports it. */
static int64_t part_hwm(struct pagebus *pb, const char *topic, int32_t partition)
{
	struct pbp_topic_describe_reply d;
	describe(pb, topic, &d);
	assert_true(partition < d.partitions);
	int64_t hwm = d.parts[partition].hwm;
	pbp_free_topic_describe_reply(&d);
	return hwm;
}

/* A raw SOCK_SEQPACKET connection to the broker; replies wait at most WAIT_MS. */
static int sock_open(const struct fixture *f)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s", f->dir, PBP_SOCKET_NAME);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	struct timeval tv = { WAIT_MS / 1000, 0 };
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	return fd;
}

/*
 * Receives one datagram on a raw connection: 0 when the broker closed it, else its size
 * (asserted to be a reply) with *st its status and *r reading the rest.
 */
static ssize_t sock_reply(int fd, uint8_t *buf, struct pbp_rbuf *r, struct pbp_status *st, int *fds,
			  int max_fds, int *nfds)
{
	int tmp = 0;
	ssize_t n = pbp_recv(fd, buf, PBP_MAX_MSG, fds, max_fds, nfds ? nfds : &tmp, 0);
	assert_true(n >= 0); /* -EAGAIN here: no reply within WAIT_MS */
	if (n == 0)
		return 0;
	struct pbp_hdr h;
	assert_int_equal(pbp_msg_parse(buf, (size_t)n, &h, r), 0);
	assert_int_equal(h.flags, PBP_F_REPLY);
	st->status = pbp_r_i32(r);
	assert_true(pbp_r_str(r, st->message, sizeof(st->message)) >= 0);
	return n;
}

static void sock_hello(int fd, int *control_fd)
{
	uint8_t buf[PBP_MAX_MSG];
	struct pbp_wbuf w;
	struct pbp_rbuf r;
	struct pbp_status st;
	struct pbp_hello hello = { PBP_VERSION_MIN, PBP_VERSION_MAX, "test_broker raw" };
	pbp_w_init(&w, buf, sizeof(buf));
	int len = pbp_enc_hello(&w, 1, &hello);
	assert_true(len > 0);
	assert_int_equal(pbp_send(fd, buf, (size_t)len, NULL, 0), len);
	int nfds = 0;
	assert_true(sock_reply(fd, buf, &r, &st, control_fd, 1, &nfds) > 0);
	assert_int_equal(st.status, 0);
	assert_int_equal(nfds, 1);
}

/* ---- a producer ring driven by hand --------------------------------------------------------- */

struct raw_ring {
	int fd;
	struct pb_ring_header *hdr;
	uint8_t *data;
	size_t map_len;
	uint32_t cap, topic_id;
	uint64_t tail; /* published */
	uint64_t seq;
};

/* OPEN_PRODUCER with the smallest ring, then maps it. 0 or a negative error (no asserts:
 * children use it too). */
static int raw_open(struct pagebus *pb, const char *topic, struct raw_ring *rr)
{
	struct pbp_open_producer m = { .ring_bytes = PB_RING_MIN_BYTES };
	snprintf(m.topic, sizeof(m.topic), "%s", topic);
	uint8_t req[512];
	struct pbp_wbuf w;
	struct pbp_rbuf r;
	struct pbp_status st;
	struct pbp_open_producer_reply rep;
	int fds[1], nfds = 0;
	memset(rr, 0, sizeof(*rr));
	rr->fd = -1;
	pbp_w_init(&w, req, sizeof(req));
	int err = request(pb, req, pbp_enc_open_producer(&w, next_id(pb), &m), &r, fds, 1, &nfds);
	if (err)
		return err;
	if ((err = pbp_parse_open_producer_reply(&r, &st, &rep)) || (err = st.status) ||
	    nfds != 1) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return err ? err : -EPROTO;
	}
	rr->fd = fds[0];
	rr->cap = rep.ring_bytes;
	rr->topic_id = rep.topic_id;
	rr->map_len = PB_RING_HEADER_SIZE + (size_t)rep.ring_bytes;
	void *map = mmap(NULL, rr->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, rr->fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	rr->hdr = map;
	rr->data = (uint8_t *)map + PB_RING_HEADER_SIZE;
	if (load_acquire(&rr->hdr->magic) != PB_RING_MAGIC || rr->hdr->capacity != rr->cap)
		return -EPROTO;
	rr->tail = load_acquire(&rr->hdr->head);
	return 0;
}

static void raw_close(struct raw_ring *rr)
{
	if (rr->hdr)
		munmap(rr->hdr, rr->map_len);
	if (rr->fd >= 0)
		close(rr->fd);
}

/* A well-formed entry header for a batch of blen bytes. */
static struct pb_ring_entry raw_entry(struct raw_ring *rr, uint32_t blen, int32_t partition,
				      uint32_t acks)
{
	return (struct pb_ring_entry){ .len = pb_entry_size(blen),
				       .type = PB_ENTRY_DATA,
				       .batch_len = blen,
				       .topic_id = rr->topic_id,
				       .partition = partition,
				       .acks = acks,
				       .seq = ++rr->seq,
				       .ack_offset = -1 };
}

/* Copies header eh and the batch `at` bytes past the published tail, publishing nothing;
 * its entry in the ring, or NULL when the bytes would not fit before the end of the data
 * area (tests never wrap). */
static struct pb_ring_entry *raw_write(struct raw_ring *rr, uint32_t at,
				       const struct pb_ring_entry *eh, const void *batch,
				       uint32_t blen)
{
	uint32_t off = (uint32_t)((rr->tail + at) % rr->cap);
	if ((uint64_t)off + sizeof(*eh) + blen > rr->cap)
		return NULL;
	struct pb_ring_entry *e = (void *)(rr->data + off);
	memcpy(e, eh, sizeof(*eh));
	memcpy(e + 1, batch, blen);
	return e;
}

/* Publishes `span` more bytes (release: the entry's bytes before the tail) and rings the
 * doorbell when the broker sleeps, as libpagebus does. */
static void raw_publish(struct raw_ring *rr, uint32_t span)
{
	rr->tail += span;
	store_release(&rr->hdr->tail, rr->tail);
	full_fence(); /* Dekker with the broker: tail store before the sleeping-flag load */
	if (load_relaxed(&rr->hdr->broker_sleeping)) {
		fetch_add_release(&rr->hdr->doorbell, 1);
		pb_futex_wake(&rr->hdr->doorbell);
	}
}

/* Waits (WAIT_MS at most, 1 ms steps) until the broker released the ring up to the tail. */
static int raw_wait_head(struct raw_ring *rr)
{
	for (int i = 0; i < WAIT_MS; i++) {
		if (load_acquire(&rr->hdr->head) >= rr->tail)
			return 0;
		usleep(1000);
	}
	return -ETIME;
}

/*
 * Writes an entry (header eh + batch), publishes span bytes and waits until the broker
 * released them. Returns the entry, whose ack fields are then final, or NULL.
 */
static const struct pb_ring_entry *raw_push(struct raw_ring *rr, const struct pb_ring_entry *eh,
					    const void *batch, uint32_t blen, uint32_t span)
{
	struct pb_ring_entry *e = raw_write(rr, 0, eh, batch, blen);
	if (!e)
		return NULL;
	raw_publish(rr, span);
	return raw_wait_head(rr) ? NULL : e;
}

/* A well-formed entry of batch, pushed and released: the entry. */
static const struct pb_ring_entry *raw_send(struct raw_ring *rr, const void *batch, uint32_t blen,
					    int32_t partition, uint32_t acks)
{
	struct pb_ring_entry eh = raw_entry(rr, blen, partition, acks);
	return raw_push(rr, &eh, batch, blen, eh.len);
}

/* Asserts the broker's ack of an entry: state bits, error, offset. */
static void assert_ack(const struct pb_ring_entry *e, uint32_t state, int err, int64_t offset)
{
	assert_non_null(e);
	assert_int_equal(load_acquire(&e->ack_state), state);
	assert_int_equal(e->ack_error, err);
	assert_int_equal(e->ack_offset, offset);
}

/* A batch of count records "<tag>-<i>" stamped now. */
static uint8_t *batch_of(const char *tag, int count, uint32_t *blen)
{
	size_t len;
	uint8_t *b = tu_batch(tag, count, 0, pb_wall_ms(), &len);
	*blen = (uint32_t)len;
	return b;
}

/* ---- producing and consuming with libpagebus ------------------------------------------------ */

static struct pagebus_producer *producer(struct pagebus *pb, const char *topic,
					 const struct pagebus_producer_opts *opts)
{
	struct pagebus_producer *p = NULL;
	assert_int_equal(pagebus_producer_open(pb, topic, opts, &p), 0);
	return p;
}

typedef void visit_fn(void *ctx, const struct pagebus_msg *m);

/*
 * Reads topic/partition from `from`: asserts each message follows the previous one's
 * offset without a gap, hands it to visit, and stops after n messages, or when nothing
 * more arrives within WAIT_MS. Asserts exactly n were read and none is left behind them.
 */
static void consume(struct pagebus *pb, const char *topic, int32_t partition, int64_t from, int n,
		    visit_fn *visit, void *ctx)
{
	struct pagebus_consumer *c = NULL;
	assert_int_equal(pagebus_consumer_open(pb, topic, partition, from, NULL, &c), 0);
	static struct pagebus_msg msgs[POLL_MAX];
	int64_t next = from == PAGEBUS_OFFSET_BEGINNING ? 0 : from;
	int seen = 0;
	while (seen < n) {
		int max = n - seen < POLL_MAX ? n - seen : POLL_MAX;
		int got = pagebus_poll(c, msgs, max, WAIT_MS);
		assert_true(got >= 0);
		if (got == 0)
			break;
		for (int i = 0; i < got; i++) {
			assert_int_equal(msgs[i].partition, partition);
			assert_int_equal(msgs[i].offset, next);
			next++;
			if (visit)
				visit(ctx, &msgs[i]);
		}
		seen += got;
	}
	assert_int_equal(seen, n);
	assert_int_equal(pagebus_poll(c, msgs, 1, 0), 0);
	pagebus_consumer_close(c);
}

/* The value of m as a NUL-terminated string (static; values here are short text). */
static const char *value_str(const struct pagebus_msg *m)
{
	static char buf[512];
	assert_true(m->value_len < sizeof(buf));
	if (m->value_len)
		memcpy(buf, m->value, m->value_len);
	buf[m->value_len] = 0;
	return buf;
}

#define SEQ_VALUE_MAX 256

/* Value i of a sequence: "<tag>-<i>", padded with 'x' to value_len bytes (as tu_batch). */
static size_t seq_value(char *v, const char *tag, int i, size_t value_len)
{
	size_t n = (size_t)snprintf(v, SEQ_VALUE_MAX, "%s-%d", tag, i);
	if (value_len > n && value_len <= SEQ_VALUE_MAX) {
		memset(v + n, 'x', value_len - n);
		n = value_len;
	}
	return n;
}

/* Sends values 0..n-1 of a sequence to partition, each with msg_ctx i. 0 or the first
 * error (no asserts: children use it). */
static int send_seq(struct pagebus_producer *p, int32_t partition, const char *tag, int n,
		    size_t value_len)
{
	char v[SEQ_VALUE_MAX];
	for (int i = 0; i < n; i++) {
		size_t len = seq_value(v, tag, i, value_len);
		int err = pagebus_send_ex(p, partition, NULL, 0, v, len, NULL, 0, 0,
					  (void *)(uintptr_t)i);
		if (err)
			return err;
	}
	return 0;
}

/* Visitor state: the values must be a sequence's, from next on. */
struct expect_seq {
	const char *tag;
	int next;
	size_t value_len;
};

static void visit_seq(void *ctx, const struct pagebus_msg *m)
{
	struct expect_seq *e = ctx;
	char want[SEQ_VALUE_MAX];
	size_t len = seq_value(want, e->tag, e->next++, e->value_len);
	assert_int_equal(m->value_len, len);
	assert_memory_equal(m->value, want, len);
}

/* Reads n messages of a sequence from offset `from` (see consume). */
static void consume_seq(struct pagebus *pb, const char *topic, int32_t partition, int64_t from,
			const char *tag, int n, size_t value_len)
{
	struct expect_seq e = { tag, 0, value_len };
	consume(pb, topic, partition, from, n, visit_seq, &e);
}

/* ---- 1. start-up and stop ------------------------------------------------------------------- */

static void test_broker_prints_ready_line_and_stops_cleanly_on_sigterm(void **state)
{
	struct fixture *f = *state;
	size_t len;
	char *log = (char *)tu_read_file(f->log, &len);
	assert_non_null(log);
	log[len] = 0;
	char want[1200];
	snprintf(want, sizeof(want), "pagebusd ready dir=%s socket=%s/pagebus.sock\n", f->dir,
		 f->dir);
	char *line = strstr(log, "pagebusd ready");
	assert_non_null(line);
	assert_true(line == log || line[-1] == '\n'); /* a line of its own */
	assert_memory_equal(line, want, strlen(want));
	free(log);

	char sock[600];
	snprintf(sock, sizeof(sock), "%s/pagebus.sock", f->dir);
	struct stat st;
	assert_int_equal(stat(sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);

	stop_broker(f);
	assert_int_equal(stat(sock, &st), -1);
	assert_int_equal(errno, ENOENT);
}

/* ---- 2. many producers into one partition --------------------------------------------------- */

#define MANY_PRODUCERS 4
#define MANY_EACH 5000

struct order_check {
	int64_t last;
	int acked, bad;
};

/* Delivery callback: every offset greater than the one before, no error. */
static void on_delivery_ordered(void *ctx, void *msg_ctx, int32_t partition, int64_t offset,
				int err)
{
	(void)msg_ctx;
	struct order_check *o = ctx;
	if (err || partition != 0 || offset <= o->last)
		o->bad++;
	o->last = offset;
	o->acked++;
}

/* Sends a sequence to partition 0 with acks appended and checks its deliveries: exits 0
 * when every message was acked in order and flush returned 0. */
static int ordered_producer_child(const struct child *a)
{
	struct order_check o = { -1, 0, 0 };
	struct pagebus *pb;
	struct pagebus_producer *p;
	if (pagebus_connect(a->dir, &pb))
		return 10;
	struct pagebus_producer_opts opts = PAGEBUS_OPTS(
		pagebus_producer_opts, .delivery_cb = on_delivery_ordered, .delivery_ctx = &o);
	if (pagebus_producer_open(pb, a->topic, &opts, &p))
		return 11;
	if (send_seq(p, 0, a->tag, a->n, a->value_len))
		return 12;
	if (pagebus_flush(p, -1))
		return 13;
	pagebus_producer_close(p);
	pagebus_close(pb);
	return o.bad ? 14 : o.acked != a->n ? 15 : 0;
}

/* Starts a child that sends the sequence tag to partition 0 of topic (ordered_producer_child). */
static pid_t spawn_producer(const struct fixture *f, const char *topic, const char *tag, int n,
			    size_t value_len)
{
	struct child a = {
		.dir = f->dir, .topic = topic, .n = n, .value_len = value_len, .fd = -1
	};
	snprintf(a.tag, sizeof(a.tag), "%s", tag);
	return spawn(ordered_producer_child, &a);
}

struct many_check {
	int next[MANY_PRODUCERS];
};

static void visit_many(void *ctx, const struct pagebus_msg *m)
{
	struct many_check *c = ctx;
	int k, i;
	assert_int_equal(sscanf(value_str(m), "p%d-%d", &k, &i), 2);
	assert_true(k >= 0 && k < MANY_PRODUCERS);
	assert_int_equal(i, c->next[k]); /* each producer's messages in its order */
	c->next[k]++;
}

static void test_broker_many_producers_one_partition_offsets_without_gap(void **state)
{
	struct fixture *f = *state;
	struct pagebus *pb = connect_broker(f);
	assert_int_equal(pagebus_topic_create(pb, "many", 1), 0);
	pagebus_close(pb);

	pid_t kids[MANY_PRODUCERS];
	for (int k = 0; k < MANY_PRODUCERS; k++) {
		char tag[16];
		snprintf(tag, sizeof(tag), "p%d", k);
		kids[k] = spawn_producer(f, "many", tag, MANY_EACH, 0);
	}
	for (int k = 0; k < MANY_PRODUCERS; k++)
		assert_exited_0(reap(kids[k]));

	pb = connect_broker(f);
	struct many_check c = { { 0 } };
	consume(pb, "many", 0, PAGEBUS_OFFSET_BEGINNING, MANY_PRODUCERS * MANY_EACH, visit_many,
		&c);
	for (int k = 0; k < MANY_PRODUCERS; k++)
		assert_int_equal(c.next[k], MANY_EACH);
	assert_int_equal(part_hwm(pb, "many", 0), MANY_PRODUCERS * MANY_EACH);
	pagebus_close(pb);
}

/* ---- 3. acks of each kind ------------------------------------------------------------------- */

#define ACKS_EACH 300

struct delivery_log {
	int64_t offset[ACKS_EACH];
	int err[ACKS_EACH];
	int calls;
};

static void on_delivery_log(void *ctx, void *msg_ctx, int32_t partition, int64_t offset, int err)
{
	(void)partition;
	struct delivery_log *d = ctx;
	uintptr_t i = (uintptr_t)msg_ctx;
	if (i < ACKS_EACH) {
		d->offset[i] = offset;
		d->err[i] = err;
	}
	d->calls++;
}

/* Message i of kind k: key "k<k>-<i>", a binary value of varying length (zeros included). */
static size_t acks_value(int k, int i, uint8_t *v)
{
	size_t len = (size_t)(i * 37 % 300);
	for (size_t j = 0; j < len; j++)
		v[j] = (uint8_t)(k * 131 + i * 7 + j * 13);
	return len;
}

struct acks_check {
	int k, i;
};

static void visit_acks(void *ctx, const struct pagebus_msg *m)
{
	struct acks_check *c = ctx;
	char key[32];
	uint8_t v[300];
	snprintf(key, sizeof(key), "k%d-%d", c->k, c->i);
	size_t vlen = acks_value(c->k, c->i, v);
	assert_int_equal(m->key_len, strlen(key));
	assert_memory_equal(m->key, key, m->key_len);
	assert_int_equal(m->value_len, vlen);
	assert_non_null(m->value);
	if (vlen)
		assert_memory_equal(m->value, v, vlen);
	if (++c->i == ACKS_EACH) {
		c->i = 0;
		c->k++;
	}
}

static void check_acks_each_kind(struct fixture *f)
{
	static const int kinds[] = { PAGEBUS_ACKS_NONE, PAGEBUS_ACKS_APPENDED,
				     PAGEBUS_ACKS_DURABLE };
	struct pagebus *pb = connect_broker(f);
	assert_int_equal(pagebus_topic_create(pb, "acks", 1), 0);
	static struct delivery_log d;
	for (int k = 0; k < 3; k++) {
		memset(&d, 0, sizeof(d));
		struct pagebus_producer_opts opts =
			PAGEBUS_OPTS(pagebus_producer_opts, .acks = kinds[k],
				     .delivery_cb = on_delivery_log, .delivery_ctx = &d);
		struct pagebus_producer *p = producer(pb, "acks", &opts);
		for (int i = 0; i < ACKS_EACH; i++) {
			char key[32];
			uint8_t v[300];
			int klen = snprintf(key, sizeof(key), "k%d-%d", k, i);
			size_t vlen = acks_value(k, i, v);
			assert_int_equal(pagebus_send_ex(p, 0, key, (size_t)klen, v, vlen, NULL, 0,
							 0, (void *)(uintptr_t)i),
					 0);
		}
		assert_int_equal(pagebus_flush(p, WAIT_MS), 0);
		assert_int_equal(d.calls, ACKS_EACH);
		for (int i = 0; i < ACKS_EACH; i++) {
			assert_int_equal(d.err[i], 0);
			assert_int_equal(d.offset[i], (int64_t)k * ACKS_EACH + i);
		}
		pagebus_producer_close(p);
	}
	struct acks_check c = { 0, 0 };
	consume(pb, "acks", 0, PAGEBUS_OFFSET_BEGINNING, 3 * ACKS_EACH, visit_acks, &c);

	/* in the ring: only a durable ack says durable, and every ack is final and exact */
	struct raw_ring rr;
	assert_int_equal(raw_open(pb, "acks", &rr), 0);
	for (uint32_t acks = PB_ACKS_NONE; acks <= PB_ACKS_DURABLE; acks++) {
		uint32_t blen;
		uint8_t *b = batch_of("raw", 2, &blen);
		const struct pb_ring_entry *e = raw_send(&rr, b, blen, 0, acks);
		assert_ack(e, PB_ACK_DONE | (acks == PB_ACKS_DURABLE ? PB_ACK_DURABLE : 0), 0,
			   3 * ACKS_EACH + 2 * (int64_t)acks);
		free(b);
	}
	raw_close(&rr);
	pagebus_close(pb);
}

static void test_broker_acks_each_kind_report_offsets_and_keep_bytes(void **state)
{
	check_acks_each_kind(*state);
}

static void test_broker_acks_each_kind_with_group_commit(void **state)
{
	check_acks_each_kind(*state);
}

/* ---- 4. SIGTERM under load loses no acked message ------------------------------------------- */

#define SIGTERM_AFTER_ACKS 2000

struct acked {
	int64_t offset, i;
};

static void on_delivery_pipe(void *ctx, void *msg_ctx, int32_t partition, int64_t offset, int err)
{
	(void)partition;
	if (err)
		return; /* not acked: nothing promised */
	struct acked a = { offset, (int64_t)(uintptr_t)msg_ctx };
	if (write(*(const int *)ctx, &a, sizeof(a)) != sizeof(a))
		_exit(20);
}

/* Produces "v-<i>" until the broker goes away; every acked (offset, i) goes to the pipe. */
static int load_child(const struct child *a)
{
	int fd = a->fd;
	struct pagebus *pb;
	struct pagebus_producer *p;
	if (pagebus_connect(a->dir, &pb))
		return 10;
	struct pagebus_producer_opts opts =
		PAGEBUS_OPTS(pagebus_producer_opts, .acks = PAGEBUS_ACKS_APPENDED,
			     .delivery_cb = on_delivery_pipe, .delivery_ctx = &fd);
	if (pagebus_producer_open(pb, "load", &opts, &p))
		return 11;
	int err = 0;
	char v[SEQ_VALUE_MAX];
	for (int i = 0; i < 50000000 && !err; i++) {
		size_t n = seq_value(v, "v", i, 0);
		err = pagebus_send_ex(p, 0, NULL, 0, v, n, NULL, 0, 0, (void *)(uintptr_t)i);
	}
	pagebus_flush(p, WAIT_MS); /* reports what the broker acked before it stopped */
	pagebus_producer_close(p);
	pagebus_close(pb);
	return err == -EPIPE ? 0 : 12;
}

static int read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = read(fd, (uint8_t *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return done ? -EPROTO : 0;
		done += (size_t)n;
	}
	return 1;
}

struct offset_values {
	int64_t *i; /* the i of value "v-<i>" at each offset */
	int64_t n;
};

static void visit_record_i(void *ctx, const struct pagebus_msg *m)
{
	struct offset_values *ov = ctx;
	long long i;
	assert_int_equal(sscanf(value_str(m), "v-%lld", &i), 1);
	ov->i[ov->n++] = i;
}

static void test_broker_sigterm_under_load_loses_no_acked_message(void **state)
{
	struct fixture *f = *state;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t kid = spawn(load_child, &(struct child){ .dir = f->dir, .fd = fds[1] });
	close(fds[1]);

	size_t n = 0, cap = 1 << 16;
	struct acked *acked = malloc(cap * sizeof(*acked));
	assert_non_null(acked);
	bool stopped = false;
	for (;;) {
		if (n == cap) {
			cap *= 2;
			acked = realloc(acked, cap * sizeof(*acked));
			assert_non_null(acked);
		}
		int r = read_full(fds[0], &acked[n], sizeof(*acked));
		assert_true(r >= 0);
		if (r == 0)
			break;
		n++;
		if (n == SIGTERM_AFTER_ACKS) {
			stop_broker(f); /* exit status 0, asserted, with the load still running */
			stopped = true;
		}
	}
	close(fds[0]);
	assert_true(stopped);
	assert_exited_0(reap(kid));
	for (size_t k = 1; k < n; k++) {
		assert_true(acked[k].offset > acked[k - 1].offset);
		assert_true(acked[k].i > acked[k - 1].i);
	}

	f->broker = tu_broker_start(f->dir, f->log, NULL, NULL);
	assert_true(f->broker > 0);
	struct pagebus *pb = connect_broker(f);
	int64_t hwm = part_hwm(pb, "load", 0);
	assert_true(hwm > acked[n - 1].offset);
	struct offset_values ov = { calloc((size_t)hwm, sizeof(int64_t)), 0 };
	assert_non_null(ov.i);
	consume(pb, "load", 0, PAGEBUS_OFFSET_BEGINNING, (int)hwm, visit_record_i, &ov);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(ov.i[acked[k].offset], acked[k].i);
	free(ov.i);
	free(acked);
	pagebus_close(pb);
}

/* ---- 5. a producer killed mid-entry --------------------------------------------------------- */

#define KILLED_SENT 10

/* Sends KILLED_SENT messages, waits for their ack, writes half of another entry past the
 * published tail and dies of SIGKILL. */
static int killed_child(const struct child *a)
{
	struct pagebus *pb;
	struct raw_ring rr;
	if (pagebus_connect(a->dir, &pb) || raw_open(pb, "killed", &rr))
		return 10;
	uint32_t blen;
	uint8_t *b = batch_of("pre", KILLED_SENT, &blen);
	const struct pb_ring_entry *e = raw_send(&rr, b, blen, 0, PB_ACKS_APPENDED);
	if (!e || e->ack_error || e->ack_offset != 0)
		return 11;
	free(b);
	b = batch_of("half", 5, &blen);
	struct pb_ring_entry eh = raw_entry(&rr, blen, 0, PB_ACKS_APPENDED);
	if (!raw_write(&rr, 0, &eh, b, blen / 2))
		return 12;
	raise(SIGKILL);
	return 13;
}

static void test_broker_producer_killed_mid_entry_leaves_no_partial_batch(void **state)
{
	struct fixture *f = *state;
	int st = reap(spawn(killed_child, &(struct child){ .dir = f->dir, .fd = -1 }));
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);

	struct pagebus *pb = connect_broker(f);
	assert_int_equal(part_hwm(pb, "killed", 0), KILLED_SENT);
	consume_seq(pb, "killed", 0, PAGEBUS_OFFSET_BEGINNING, "pre", KILLED_SENT, 0);
	assert_true(tu_broker_alive(f->broker));

	static struct delivery_log d;
	memset(&d, 0, sizeof(d));
	struct pagebus_producer_opts opts = PAGEBUS_OPTS(
		pagebus_producer_opts, .delivery_cb = on_delivery_log, .delivery_ctx = &d);
	struct pagebus_producer *p = producer(pb, "killed", &opts);
	assert_int_equal(send_seq(p, 0, "new", 5, 0), 0);
	assert_int_equal(pagebus_flush(p, WAIT_MS), 0);
	pagebus_producer_close(p);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(d.err[i], 0);
		assert_int_equal(d.offset[i], KILLED_SENT + i);
	}
	consume_seq(pb, "killed", 0, KILLED_SENT, "new", 5, 0);
	pagebus_close(pb);
}

/* ---- 6. garbage in a ring ------------------------------------------------------------------- */

#define BYSTANDER_MSGS 1000

static void test_broker_ring_garbage_gets_error_acks_others_unaffected(void **state)
{
	struct fixture *f = *state;
	struct pagebus *pb = connect_broker(f);
	assert_int_equal(pagebus_topic_create(pb, "bystander", 1), 0);
	pid_t kid = spawn_producer(f, "bystander", "b", BYSTANDER_MSGS, 0);

	struct raw_ring rr;
	assert_int_equal(raw_open(pb, "garbage", &rr), 0);
	uint32_t blen;
	uint8_t *good = batch_of("g", 5, &blen);
	assert_ack(raw_send(&rr, good, blen, 0, PB_ACKS_APPENDED), PB_ACK_DONE, 0, 0);

	uint8_t *bad = malloc(blen);
	assert_non_null(bad);
	memcpy(bad, good, blen);
	bad[RB_OFF_CRC] ^= 0x5a;
	assert_ack(raw_send(&rr, bad, blen, 0, PB_ACKS_APPENDED), PB_ACK_DONE, -PAGEBUS_EBADCRC,
		   -1);

	struct pb_ring_entry eh = raw_entry(&rr, blen, 0, PB_ACKS_APPENDED);
	eh.len += PB_ENTRY_ALIGN; /* batch_len no longer matches the entry's length */
	assert_ack(raw_push(&rr, &eh, good, blen, eh.len), PB_ACK_DONE, -PAGEBUS_EBADLEN, -1);

	assert_ack(raw_send(&rr, good, blen, 100000, PB_ACKS_APPENDED), PB_ACK_DONE, -ENOENT, -1);

	eh = raw_entry(&rr, blen, 0, PB_ACKS_APPENDED);
	eh.topic_id = rr.topic_id + 1000;
	assert_ack(raw_push(&rr, &eh, good, blen, eh.len), PB_ACK_DONE, -EINVAL, -1);

	/* a length past the capacity: refused, and what was published with it is skipped */
	eh = raw_entry(&rr, blen, 0, PB_ACKS_APPENDED);
	eh.len = rr.cap + PB_ENTRY_ALIGN;
	struct pb_ring_entry *past = raw_write(&rr, 0, &eh, good, blen);
	assert_non_null(past);
	uint32_t span = pb_entry_size(blen);
	struct pb_ring_entry ok = raw_entry(&rr, blen, 0, PB_ACKS_APPENDED); /* published with it */
	struct pb_ring_entry *skipped = raw_write(&rr, span, &ok, good, blen);
	assert_non_null(skipped);
	raw_publish(&rr, 2 * span);
	assert_int_equal(raw_wait_head(&rr), 0);
	assert_ack(past, PB_ACK_DONE, -PAGEBUS_EBADLEN, -1);
	assert_ack(skipped, 0, 0, -1); /* never looked at: no ack */

	/* the ring still works: a valid batch after the garbage lands right after the first */
	assert_ack(raw_send(&rr, good, blen, 0, PB_ACKS_APPENDED), PB_ACK_DONE, 0, 5);
	assert_int_equal(part_hwm(pb, "garbage", 0), 10);
	consume_seq(pb, "garbage", 0, 5, "g", 5, 0);
	raw_close(&rr);
	free(good);
	free(bad);

	assert_exited_0(reap(kid));
	consume_seq(pb, "bystander", 0, PAGEBUS_OFFSET_BEGINNING, "b", BYSTANDER_MSGS, 0);
	assert_true(tu_broker_alive(f->broker));
	pagebus_close(pb);
}

/* ---- 7. read-only fds ----------------------------------------------------------------------- */

static void assert_read_only_fd(int fd, size_t len)
{
	errno = 0;
	assert_ptr_equal(mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), MAP_FAILED);
	assert_int_equal(errno, EACCES);
	errno = 0;
	assert_int_equal(write(fd, "x", 1), -1);
	assert_int_equal(errno, EBADF);
}

static void test_broker_client_cannot_map_segment_or_control_writable(void **state)
{
	struct fixture *f = *state;
	struct pagebus *pb = connect_broker(f);
	struct pagebus_producer *p = producer(pb, "ro", NULL);
	assert_int_equal(send_seq(p, 0, "s", 3, 0), 0);
	assert_int_equal(pagebus_flush(p, WAIT_MS), 0);
	pagebus_producer_close(p);

	struct pbp_topic_describe_reply d;
	describe(pb, "ro", &d);
	struct pbp_get_segments m = { d.topic_id, 0, 0 };
	pbp_free_topic_describe_reply(&d);
	uint8_t req[64];
	struct pbp_wbuf w;
	struct pbp_rbuf r;
	struct pbp_status st;
	struct pbp_get_segments_reply segs;
	int fds[PBP_MAX_FDS], nfds = 0;
	pbp_w_init(&w, req, sizeof(req));
	assert_int_equal(request(pb, req, pbp_enc_get_segments(&w, next_id(pb), &m), &r, fds,
				 PBP_MAX_FDS, &nfds),
			 0);
	assert_int_equal(pbp_parse_get_segments_reply(&r, &st, &segs), 0);
	assert_int_equal(st.status, 0);
	assert_int_equal(segs.n, 1);
	assert_int_equal(nfds, 1);
	assert_int_equal(segs.segments[0].base_offset, 0);
	pbp_free_get_segments_reply(&segs);

	struct stat sb;
	assert_int_equal(fstat(fds[0], &sb), 0);
	size_t len = (size_t)sb.st_size;
	assert_true(len >= RB_HEADER_SIZE);
	assert_read_only_fd(fds[0], len);
	const uint8_t *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fds[0], 0);
	assert_ptr_not_equal(map, MAP_FAILED);
	errno = 0;
	assert_int_equal(mprotect((void *)map, len, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);
	/* the bytes as the producer sent them, whatever its batching */
	size_t pos = 0;
	for (int i = 0; i < 3;) {
		struct rb_header h;
		long blen = rb_validate(map + pos, len - pos, true, &h);
		assert_true(blen > 0);
		assert_int_equal(h.base_offset, i);
		struct rb_iter it;
		struct rb_record rec;
		assert_int_equal(rb_iter_start(&it, map + pos, (size_t)blen), 0);
		while (rb_iter_next(&it, &rec) == 1) {
			char v[SEQ_VALUE_MAX];
			size_t n = seq_value(v, "s", i, 0);
			assert_int_equal(rec.offset, i);
			assert_int_equal(rec.value_len, n);
			assert_memory_equal(rec.value, v, n);
			i++;
		}
		pos += (size_t)blen;
	}
	munmap((void *)map, len);
	close(fds[0]);
	pagebus_close(pb);

	/* the control region handed out by HELLO */
	int sock = sock_open(f), cfd = -1;
	sock_hello(sock, &cfd);
	assert_int_equal(fstat(cfd, &sb), 0);
	len = (size_t)sb.st_size;
	assert_true(len >= PB_CONTROL_HEADER_SIZE);
	assert_read_only_fd(cfd, len);
	const struct pb_control_header *ch = mmap(NULL, len, PROT_READ, MAP_SHARED, cfd, 0);
	assert_ptr_not_equal(ch, MAP_FAILED);
	assert_int_equal(load_acquire(&ch->magic), PB_CONTROL_MAGIC);
	assert_int_equal(ch->broker_pid, f->broker);
	errno = 0;
	assert_int_equal(mprotect((void *)ch, len, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);
	munmap((void *)ch, len);
	close(cfd);
	close(sock);
}

/* ---- 8. one broker per data dir ------------------------------------------------------------- */

static void test_broker_second_broker_on_same_dir_refused(void **state)
{
	struct fixture *f = *state;
	char log[700];
	snprintf(log, sizeof(log), "%s/second.log", f->root);
	int st = 0;
	assert_int_equal(tu_broker_start(f->dir, log, NULL, &st), -1);
	assert_true(WIFEXITED(st));
	assert_int_not_equal(WEXITSTATUS(st), 0);
	assert_true(tu_file_contains(log, "in use"));
	/* the first one is unharmed */
	assert_true(tu_broker_alive(f->broker));
	struct pagebus *pb = connect_broker(f);
	assert_int_equal(pagebus_topic_create(pb, "still-here", 1), 0);
	pagebus_close(pb);
}

/* ---- 9. restart recovery -------------------------------------------------------------------- */

#define RESTART_EACH 200

static void test_broker_restart_recovers_topics_and_data(void **state)
{
	struct fixture *f = *state;
	struct pagebus *pb = connect_broker(f);
	const char *keys[] = { "retention.ms" }, *values[] = { "86400000" };
	assert_int_equal(pagebus_topic_create_config(pb, "kept", 3, keys, values, 1), 0);
	struct pagebus_producer *p = producer(pb, "kept", NULL);
	for (int part = 0; part < 3; part++) {
		char tag[16];
		snprintf(tag, sizeof(tag), "r%d", part);
		assert_int_equal(send_seq(p, part, tag, RESTART_EACH, 0), 0);
	}
	assert_int_equal(pagebus_flush(p, WAIT_MS), 0);
	pagebus_producer_close(p);
	pagebus_close(pb);

	restart_broker(f);
	pb = connect_broker(f);
	assert_int_equal(pagebus_topic_partitions(pb, "kept"), 3);
	struct pbp_topic_describe_reply d;
	describe(pb, "kept", &d);
	assert_int_equal(d.nconfigs, 1);
	assert_string_equal(d.configs[0].key, "retention.ms");
	assert_string_equal(d.configs[0].value, "86400000");
	pbp_free_topic_describe_reply(&d);
	for (int part = 0; part < 3; part++) {
		char tag[16];
		snprintf(tag, sizeof(tag), "r%d", part);
		consume_seq(pb, "kept", part, PAGEBUS_OFFSET_BEGINNING, tag, RESTART_EACH, 0);
	}
	pagebus_close(pb);
}

/* ---- 10. bad configuration ------------------------------------------------------------------ */

static void assert_config_refused(struct fixture *f, const char *const *args, const char *key)
{
	char dir[600], log[700];
	snprintf(dir, sizeof(dir), "%s/bad", f->root);
	snprintf(log, sizeof(log), "%s/bad.log", f->root);
	int st = 0;
	assert_int_equal(tu_broker_start(dir, log, args, &st), -1);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);
	assert_true(tu_file_contains(log, key));
}

static void test_broker_bad_configuration_exits_2_naming_the_key(void **state)
{
	static const char *const bad_value[] = { "--segment.bytes", "12x", NULL };
	static const char *const bad_key[] = { "--no.such.key", "1", NULL };
	assert_config_refused(*state, bad_value, "segment.bytes");
	assert_config_refused(*state, bad_key, "no.such.key");
}

/* ---- 11. hostile control messages ----------------------------------------------------------- */

/* Malformed datagram k (0..PBP_MAX_MALFORMED-1) into buf; its size. Each is wrong in a
 * different way: header, type, direction, or payload. */
static size_t malformed(int k, uint8_t *buf)
{
	struct pbp_wbuf w;
	pbp_w_init(&w, buf, PBP_MAX_MSG);
	switch (k) {
	case 0: /* shorter than a header */
		memcpy(buf, "PBSM!", 5);
		return 5;
	case 1: /* bad magic */
		pbp_msg_begin(&w, PBP_TOPIC_LIST, 0, 2);
		buf[0] ^= 0xff;
		return (size_t)pbp_msg_end(&w);
	case 2: /* length field says more than was sent */
		pbp_msg_begin(&w, PBP_TOPIC_LIST, 0, 3);
		pbp_msg_end(&w);
		buf[12] = 40;
		return PBP_HDR_SIZE;
	case 3: /* unknown type */
		pbp_msg_begin(&w, 77, 0, 4);
		return (size_t)pbp_msg_end(&w);
	case 4: /* a client does not send replies */
		pbp_msg_begin(&w, PBP_TOPIC_LIST, PBP_F_REPLY, 5);
		return (size_t)pbp_msg_end(&w);
	case 5: /* a request with bytes after its payload */
		pbp_msg_begin(&w, PBP_TOPIC_LIST, 0, 6);
		pbp_w_u32(&w, 0xdeadbeef);
		return (size_t)pbp_msg_end(&w);
	case 6: /* a string that runs past the datagram */
		pbp_msg_begin(&w, PBP_TOPIC_DELETE, 0, 7);
		pbp_w_u16(&w, 200);
		pbp_w_bytes(&w, "abc", 3);
		return (size_t)pbp_msg_end(&w);
	default: /* a topic name longer than any name */
		pbp_msg_begin(&w, PBP_TOPIC_DESCRIBE, 0, 8);
		pbp_w_u16(&w, 300);
		for (int i = 0; i < 300; i++)
			pbp_w_u8(&w, 'a');
		return (size_t)pbp_msg_end(&w);
	}
}

static void test_broker_hostile_control_messages_get_errors_then_disconnect(void **state)
{
	struct fixture *f = *state;
	static uint8_t buf[PBP_MAX_MSG];
	struct pbp_wbuf w;
	struct pbp_rbuf r;
	struct pbp_status st;

	/* a request before HELLO */
	int fd = sock_open(f);
	pbp_w_init(&w, buf, sizeof(buf));
	int len = pbp_enc_topic_list(&w, 1);
	assert_int_equal(pbp_send(fd, buf, (size_t)len, NULL, 0), len);
	assert_true(sock_reply(fd, buf, &r, &st, NULL, 0, NULL) > 0);
	assert_int_equal(st.status, -EPROTO);
	assert_true(strlen(st.message) > 0);
	close(fd);

	/* after HELLO: each malformed datagram is answered -EPROTO, the last one closes */
	fd = sock_open(f);
	int cfd = -1;
	sock_hello(fd, &cfd);
	close(cfd);
	for (int k = 0; k < PBP_MAX_MALFORMED; k++) {
		uint8_t msg[PBP_MAX_MSG];
		size_t n = malformed(k, msg);
		assert_int_equal(pbp_send(fd, msg, n, NULL, 0), (ssize_t)n);
		ssize_t got = sock_reply(fd, buf, &r, &st, NULL, 0, NULL);
		if (k < PBP_MAX_MALFORMED - 1) {
			assert_true(got > 0);
			assert_int_equal(st.status, -EPROTO);
		} else {
			assert_int_equal(got, 0);
		}
	}
	close(fd);

	assert_true(tu_broker_alive(f->broker));
	struct pagebus *pb = connect_broker(f);
	assert_int_equal(pagebus_topic_create(pb, "after-hostile", 2), 0);
	assert_int_equal(pagebus_topic_partitions(pb, "after-hostile"), 2);
	pagebus_close(pb);
}

/* ---- 12. named offsets ---------------------------------------------------------------------- */

static struct pagebus_consumer *consumer(struct pagebus *pb, const char *topic)
{
	struct pagebus_consumer *c = NULL;
	assert_int_equal(pagebus_consumer_open(pb, topic, 0, PAGEBUS_OFFSET_BEGINNING, NULL, &c),
			 0);
	return c;
}

static void test_broker_named_offsets_round_trip_and_survive_restart(void **state)
{
	struct fixture *f = *state;
	struct pagebus *pb = connect_broker(f);
	assert_int_equal(pagebus_topic_create(pb, "named", 1), 0);
	struct pagebus_consumer *c = consumer(pb, "named");
	int64_t v = -7;
	assert_int_equal(pagebus_committed(c, "reader", &v), -ENOENT);
	assert_int_equal(v, -7);
	assert_int_equal(pagebus_commit(c, "reader", 2), 0);
	assert_int_equal(pagebus_commit(c, "reader", 42), 0); /* the last commit wins */
	assert_int_equal(pagebus_commit(c, "other", 7), 0);
	assert_int_equal(pagebus_committed(c, "reader", &v), 0);
	assert_int_equal(v, 42);
	pagebus_consumer_close(c);
	pagebus_close(pb);

	restart_broker(f);
	pb = connect_broker(f);
	c = consumer(pb, "named");
	assert_int_equal(pagebus_committed(c, "reader", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(pagebus_committed(c, "other", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(pagebus_committed(c, "nobody", &v), -ENOENT);
	pagebus_consumer_close(c);
	pagebus_close(pb);
}

/* ---- 13. a consumer across segment rolls ---------------------------------------------------- */

#define ROLL_MSGS 2000
#define ROLL_VALUE 200

static int count_files(const char *dir, const char *ext)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	size_t k = strlen(ext);
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		n += len > k && !strcmp(e->d_name + len - k, ext);
	}
	closedir(d);
	return n;
}

static void test_broker_consumer_follows_segment_rolls(void **state)
{
	struct fixture *f = *state;
	struct pagebus *pb = connect_broker(f);
	assert_int_equal(pagebus_topic_create(pb, "rolls", 1), 0);
	pid_t kid = spawn_producer(f, "rolls", "m", ROLL_MSGS, ROLL_VALUE);
	/* reads while the child writes: from the first segment through every roll */
	consume_seq(pb, "rolls", 0, PAGEBUS_OFFSET_BEGINNING, "m", ROLL_MSGS, ROLL_VALUE);
	assert_exited_0(reap(kid));
	char part[700];
	snprintf(part, sizeof(part), "%s/rolls-0", f->dir);
	assert_true(count_files(part, ".log") >= 3);
	pagebus_close(pb);
}

/* ---- the cases ------------------------------------------------------------------------------ */

static const char *const group_commit_args[] = { "--flush.ms", "20", NULL };
static const char *const small_segment_args[] = { "--segment.bytes", "65536", NULL };

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
#define T_ARGS(name, args)                                                                         \
	cmocka_unit_test_prestate_setup_teardown(name, setup, teardown, (void *)(args))

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_broker_prints_ready_line_and_stops_cleanly_on_sigterm),
		T(test_broker_many_producers_one_partition_offsets_without_gap),
		T(test_broker_acks_each_kind_report_offsets_and_keep_bytes),
		T_ARGS(test_broker_acks_each_kind_with_group_commit, group_commit_args),
		T(test_broker_sigterm_under_load_loses_no_acked_message),
		T(test_broker_producer_killed_mid_entry_leaves_no_partial_batch),
		T(test_broker_ring_garbage_gets_error_acks_others_unaffected),
		T(test_broker_client_cannot_map_segment_or_control_writable),
		T(test_broker_second_broker_on_same_dir_refused),
		T(test_broker_restart_recovers_topics_and_data),
		T(test_broker_bad_configuration_exits_2_naming_the_key),
		T(test_broker_hostile_control_messages_get_errors_then_disconnect),
		T(test_broker_named_offsets_round_trip_and_survive_restart),
		T_ARGS(test_broker_consumer_follows_segment_rolls, small_segment_args),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("broker", tests, NULL, NULL);
}
