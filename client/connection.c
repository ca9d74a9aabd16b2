/* SPDX-License-Identifier: Apache-2.0 */
/*
 * connection.c — a libpagebus connection: connect to DIR/pagebus.sock, HELLO, map the
 * control region read-only, request/reply (pushes are skipped), topic administration.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "atomics.h"
#include "client.h"

uint64_t pb_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int64_t pb_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pb_futex_wait(const uint32_t *word, uint32_t val, int timeout_ms)
{
	struct timespec ts, *tp = NULL;
	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000;
		tp = &ts;
	}
	long r = syscall(SYS_futex, word, FUTEX_WAIT, val, tp, NULL, 0);
	return r < 0 ? -errno : 0;
}

void pb_futex_wake(uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

uint32_t pb_next_id(struct pagebus *pb)
{
	if (++pb->next_id == 0)
		pb->next_id = 1;
	return pb->next_id;
}

void pb_set_error(struct pagebus *pb, const struct pbp_status *st)
{
	snprintf(pb->last_error, sizeof(pb->last_error), "%s", st->status ? st->message : "");
}

const char *pagebus_last_error(struct pagebus *pb)
{
	return pb ? pb->last_error : "";
}

int pb_call(struct pagebus *pb, const void *req, int len, struct pbp_rbuf *reply, int *fds, int max_fds,
	    int *nfds)
{
	*nfds = 0;
	pb->last_error[0] = 0; /* a message belongs to the request that failed, no other */
	if (len < 0)
		return len; /* the encoder's error */
	if (pb->fd < 0)
		return -EPIPE; /* a reconnect failed: the broker is still away */
	const uint8_t *q = req;
	uint32_t id = (uint32_t)q[8] | (uint32_t)q[9] << 8 | (uint32_t)q[10] << 16 | (uint32_t)q[11] << 24;
	ssize_t n = pbp_send(pb->fd, req, (size_t)len, NULL, 0);
	if (n < 0)
		return n == -ECONNRESET || n == -ENOTCONN ? -EPIPE : (int)n;
	for (;;) {
		*nfds = 0;
		n = pbp_recv(pb->fd, pb->buf, sizeof(pb->buf), fds, max_fds, nfds, 0);
		if (n == 0)
			return -EPIPE;
		if (n < 0)
			return n == -ECONNRESET ? -EPIPE : (int)n;
		struct pbp_hdr h;
		if (pbp_msg_parse(pb->buf, (size_t)n, &h, reply) < 0 || !(h.flags & PBP_F_REPLY) || h.id != id) {
			/* a push (consumers read the control region instead) or a stray reply */
			for (int i = 0; i < *nfds; i++)
				close(fds[i]);
			continue;
		}
		return 0;
	}
}

int pb_check_alive(struct pagebus *pb)
{
	pthread_mutex_lock(&pb->lock);
	int err = pb->fd < 0 ? -EPIPE : 0;
	while (!err) {
		int fds[PBP_MAX_FDS], nfds = 0;
		ssize_t n = pbp_recv(pb->fd, pb->buf, sizeof(pb->buf), fds, PBP_MAX_FDS, &nfds, MSG_DONTWAIT);
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		if (n == -EAGAIN)
			break;
		if (n == 0 || n == -ECONNRESET || n == -EPIPE || n == -ENOTCONN)
			err = -EPIPE;
		/* anything else is a push (or noise): consumers follow the control region */
	}
	pthread_mutex_unlock(&pb->lock);
	return err;
}

int pb_status(struct pagebus *pb, const struct pbp_status *st, int parsed)
{
	if (parsed < 0)
		return parsed;
	pb_set_error(pb, st);
	return st->status;
}

static const char *default_dir(const char *dir)
{
	if (dir && *dir)
		return dir;
	const char *env = getenv("PAGEBUS_DIR");
	return env && *env ? env : "./pagebus-data";
}

/* Connects pb->fd, says HELLO and maps the control region. pb->lock held (or pb new). */
static int open_session(struct pagebus *pb)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if ((size_t)snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s", pb->dir, PBP_SOCKET_NAME) >=
	    sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	int err, fds[1], nfds = 0;
	pb->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (pb->fd < 0)
		return -errno;
	if (connect(pb->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		/* no socket, or nobody listening: the broker is not running */
		err = errno == ENOENT || errno == ECONNREFUSED ? -ECONNREFUSED : -errno;
		snprintf(pb->last_error, sizeof(pb->last_error), "cannot connect to %s (is pagebusd running?)",
			 addr.sun_path);
		goto err;
	}
	uint8_t req[512];
	struct pbp_wbuf w;
	pbp_w_init(&w, req, sizeof(req));
	struct pbp_hello hello = { PBP_VERSION_MIN, PBP_VERSION_MAX, "" };
	snprintf(hello.client_name, sizeof(hello.client_name), "libpagebus pid %d", (int)getpid());
	struct pbp_rbuf r;
	struct pbp_status st;
	struct pbp_hello_reply hr;
	if ((err = pb_call(pb, req, pbp_enc_hello(&w, pb_next_id(pb), &hello), &r, fds, 1, &nfds)) < 0)
		goto err;
	if ((err = pb_status(pb, &st, pbp_parse_hello_reply(&r, &st, &hr))) < 0)
		goto err_fds;
	struct stat sb;
	if (nfds != 1 || fstat(fds[0], &sb) < 0 || (size_t)sb.st_size < PB_CONTROL_HEADER_SIZE) {
		err = -EPROTO;
		goto err_fds;
	}
	size_t len = (size_t)sb.st_size;
	void *control = mmap(NULL, len, PROT_READ, MAP_SHARED, fds[0], 0);
	close(fds[0]);
	nfds = 0;
	if (control == MAP_FAILED) {
		err = -errno;
		goto err;
	}
	const struct pb_control_header *ch = control;
	if (load_acquire(&ch->magic) != PB_CONTROL_MAGIC || ch->layout_version != PB_CONTROL_VERSION ||
	    ch->header_size != PB_CONTROL_HEADER_SIZE || ch->slot_size != sizeof(struct pb_part_slot) ||
	    PB_CONTROL_HEADER_SIZE + (size_t)ch->nslots * ch->slot_size > len) {
		munmap(control, len);
		err = -EPROTO;
		goto err;
	}
	if (pb->control) { /* a reconnect: readers may still look at the old region */
		void **old = realloc(pb->retired, (pb->nretired + 1) * 2 * sizeof(*old));
		if (!old) {
			munmap(control, len);
			err = -ENOMEM;
			goto err;
		}
		pb->retired = old;
		pb->retired[pb->nretired * 2] = pb->control;
		pb->retired[pb->nretired * 2 + 1] = (void *)(uintptr_t)pb->control_len;
		pb->nretired++;
	}
	pb->control = control;
	pb->control_len = len;
	pb->nslots = ch->nslots;
	pb->broker_pid = hr.broker_pid;
	pb->broker_started_ns = ch->started_ns;
	pb->ring_bytes_default = hr.ring_bytes_default;
	pb->epoch++;
	return 0;
err_fds:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
err:
	close(pb->fd);
	pb->fd = -1;
	return err;
}

int pb_reconnect(struct pagebus *pb, uint32_t seen_epoch)
{
	if (pb->epoch != seen_epoch && pb->fd >= 0)
		return 0; /* another thread did it already */
	if (pb->fd >= 0)
		close(pb->fd);
	pb->fd = -1;
	return open_session(pb);
}

int pagebus_connect(const char *dir, struct pagebus **out)
{
	*out = NULL;
	struct pagebus *pb = calloc(1, sizeof(*pb));
	if (!pb)
		return -ENOMEM;
	pthread_mutex_init(&pb->lock, NULL);
	pb->fd = -1;
	pb->dir = strdup(default_dir(dir));
	int err = pb->dir ? open_session(pb) : -ENOMEM;
	if (err) {
		pagebus_close(pb);
		return err;
	}
	*out = pb;
	return 0;
}

void pagebus_close(struct pagebus *pb)
{
	if (!pb)
		return;
	if (pb->control)
		munmap(pb->control, pb->control_len);
	for (size_t i = 0; i < pb->nretired; i++)
		munmap(pb->retired[i * 2], (size_t)(uintptr_t)pb->retired[i * 2 + 1]);
	free(pb->retired);
	if (pb->fd >= 0)
		close(pb->fd);
	pthread_mutex_destroy(&pb->lock);
	free(pb->dir);
	free(pb);
}

int pb_simple_request(struct pagebus *pb, const uint8_t *req, int len)
{
	struct pbp_rbuf r;
	struct pbp_status st;
	int nfds, err = pb_call(pb, req, len, &r, NULL, 0, &nfds);
	return err ? err : pb_status(pb, &st, pbp_parse_status_reply(&r, &st));
}

int pagebus_topic_create_config(struct pagebus *pb, const char *topic, int partitions, const char *const *keys,
				const char *const *values, int n)
{
	if (!pb || !topic || n < 0 || n > PBP_MAX_CONFIGS || strlen(topic) > PBP_NAME_MAX)
		return -EINVAL;
	struct pbp_config cfgs[PBP_MAX_CONFIGS];
	struct pbp_topic_create m = { .partitions = partitions > 0 ? partitions : -1, .nconfigs = (uint32_t)n,
				      .configs = cfgs };
	snprintf(m.name, sizeof(m.name), "%s", topic);
	for (int i = 0; i < n; i++) {
		if (strlen(keys[i]) > PBP_NAME_MAX || strlen(values[i]) > PBP_VALUE_MAX)
			return -EINVAL;
		snprintf(cfgs[i].key, sizeof(cfgs[i].key), "%s", keys[i]);
		snprintf(cfgs[i].value, sizeof(cfgs[i].value), "%s", values[i]);
	}
	pthread_mutex_lock(&pb->lock);
	uint8_t req[PBP_MAX_MSG];
	struct pbp_wbuf w;
	pbp_w_init(&w, req, sizeof(req));
	struct pbp_rbuf r;
	struct pbp_status st;
	struct pbp_topic_create_reply out;
	int nfds, err = pb_call(pb, req, pbp_enc_topic_create(&w, pb_next_id(pb), &m), &r, NULL, 0, &nfds);
	if (!err)
		err = pb_status(pb, &st, pbp_parse_topic_create_reply(&r, &st, &out));
	pthread_mutex_unlock(&pb->lock);
	return err;
}

int pagebus_topic_create(struct pagebus *pb, const char *topic, int partitions)
{
	return pagebus_topic_create_config(pb, topic, partitions, NULL, NULL, 0);
}

int pagebus_topic_delete(struct pagebus *pb, const char *topic)
{
	if (!pb || !topic || strlen(topic) > PBP_NAME_MAX)
		return -EINVAL;
	struct pbp_topic_delete m;
	snprintf(m.name, sizeof(m.name), "%s", topic);
	uint8_t req[512];
	struct pbp_wbuf w;
	pbp_w_init(&w, req, sizeof(req));
	pthread_mutex_lock(&pb->lock);
	int err = pb_simple_request(pb, req, pbp_enc_topic_delete(&w, pb_next_id(pb), &m));
	pthread_mutex_unlock(&pb->lock);
	return err;
}

int pagebus_topic_partitions(struct pagebus *pb, const char *topic)
{
	struct pagebus_topic_desc *d;
	int err = pagebus_topic_describe(pb, topic, &d);
	if (err)
		return err;
	err = d->partitions;
	pagebus_topic_desc_free(d);
	return err;
}

/* Kafka's murmur2: the Java client's Utils.murmur2, which its default partitioner uses. */
uint32_t pb_murmur2(const void *key, size_t len)
{
	const uint8_t *data = key;
	const uint32_t m = 0x5bd1e995;
	const int r = 24;
	uint32_t h = 0x9747b28cu ^ (uint32_t)len;
	size_t len4 = len / 4;
	for (size_t i = 0; i < len4; i++) {
		size_t i4 = i * 4;
		uint32_t k = (uint32_t)data[i4] | (uint32_t)data[i4 + 1] << 8 | (uint32_t)data[i4 + 2] << 16 |
			     (uint32_t)data[i4 + 3] << 24;
		k *= m;
		k ^= k >> r;
		k *= m;
		h *= m;
		h ^= k;
	}
	switch (len % 4) {
	case 3:
		h ^= (uint32_t)data[(len & ~(size_t)3) + 2] << 16;
		/* fall through */
	case 2:
		h ^= (uint32_t)data[(len & ~(size_t)3) + 1] << 8;
		/* fall through */
	case 1:
		h ^= data[len & ~(size_t)3];
		h *= m;
	}
	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;
	return h;
}
