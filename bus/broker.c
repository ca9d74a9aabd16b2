/* SPDX-License-Identifier: Apache-2.0 */
/*
 * broker.c — pagebusd's life: lock the data dir, recover topics, open the control
 * region and the socket, then one io_uring loop that drains producer rings, writes,
 * serves sessions, runs timers (retention, group commit) and stops cleanly on
 * SIGTERM/SIGINT (drain every ring, flush, exit 0).
 */
#include "broker.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "group.h"
#include "kafka.h"
#include "logging.h"
#include "protocol.h"

#define LOOP_ENTRIES 1024

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

struct bpart *broker_part(struct broker *b, uint32_t topic_id, int32_t partition)
{
	struct topic *t = topics_by_id(&b->topics, topic_id);
	if (!t || !t->ctx || partition < 0 || partition >= t->nparts)
		return NULL;
	return &((struct bpart *)t->ctx)[partition];
}

void broker_segments_changed(struct broker *b, struct bpart *bp)
{
	struct partition *p = bp->log;
	int64_t old_active = control_slot(&b->control, bp->slot)->active_base;
	int64_t old_start = control_slot(&b->control, bp->slot)->log_start;
	struct segment *act = p->segs[p->nsegs - 1];
	control_publish_segments(&b->control, bp->slot, p->log_start, act->base, p->generation);
	bp->seen_generation = p->generation;
	if (act->base != old_active)
		session_push_segment_event(b, bp, PBP_SEG_ROLLED, act->base);
	if (p->log_start != old_start)
		session_push_segment_event(b, bp, PBP_SEG_DELETED, old_start);
}

int broker_topic_attach(struct broker *b, struct topic *t)
{
	struct bpart *parts = calloc((size_t)t->nparts, sizeof(*parts));
	if (!parts)
		return -ENOMEM;
	for (int32_t i = 0; i < t->nparts; i++) {
		int slot = control_slot_alloc(&b->control, t->id, i);
		if (slot < 0) {
			log_error("topic %s: no control slot for partition %d (max.partitions = %u)", t->name, i,
				  b->control.nslots);
			while (i--)
				control_slot_free(&b->control, parts[i].slot);
			free(parts);
			return slot;
		}
		struct bpart *bp = &parts[i];
		bp->b = b;
		bp->topic = t;
		bp->log = t->parts[i];
		bp->index = i;
		bp->slot = (uint32_t)slot;
		list_init(&bp->active_link);
		control_publish_segments(&b->control, bp->slot, bp->log->log_start,
					 bp->log->segs[bp->log->nsegs - 1]->base, bp->log->generation);
		bp->seen_generation = bp->log->generation;
		control_publish_hwm(&b->control, bp->slot, bp->log->hwm, 0);
	}
	t->ctx = parts;
	return 0;
}

void broker_topic_detach(struct broker *b, struct topic *t)
{
	struct bpart *parts = t->ctx;
	if (!parts)
		return;
	for (int32_t i = 0; i < t->nparts; i++) {
		control_slot_free(&b->control, parts[i].slot);
		writer_free(&parts[i]);
	}
	free(parts);
	t->ctx = NULL;
}

int broker_topic_create(struct broker *b, const char *name, int32_t partitions, const char *const *keys,
			const char *const *values, int n, const char *by, struct topic **out, char *err,
			size_t errlen)
{
	struct topic *t = NULL;
	*out = NULL;
	int r = topics_create(&b->topics, name, partitions, keys, values, n, &t, err, errlen);
	if (r)
		return r;
	if ((r = broker_topic_attach(b, t)) < 0)
		return config_errf(err, errlen, r, "cannot attach topic '%s': %s", name, strerror(-r));
	log_info("topic %s created (%d partitions) %s", t->name, t->nparts, by);
	*out = t;
	return 0;
}

int broker_topic_delete(struct broker *b, const char *name, const char *by, char *err, size_t errlen)
{
	struct topic *t = topics_find(&b->topics, name);
	if (!t)
		return config_errf(err, errlen, -ENOENT, "unknown topic '%s'", name);
	struct bpart *parts = t->ctx;
	for (int32_t i = 0; parts && i < t->nparts; i++)
		if (!writer_idle(&parts[i]))
			return config_errf(err, errlen, -EBUSY, "topic '%s' has appends in flight; try again", name);
	for (int32_t i = 0; parts && i < t->nparts; i++)
		session_push_segment_event(b, &parts[i], PBP_SEG_TOPIC_DELETED, 0);
	broker_topic_detach(b, t);
	int r = topics_delete(&b->topics, name, err, errlen);
	if (r < 0) {
		broker_topic_attach(b, t); /* the registry still has it: keep serving it */
		return r;
	}
	offsets_drop_topic(&b->offsets, name);
	log_info("topic %s deleted %s", name, by);
	return 0;
}

/* ---- the data dir: lock and socket ------------------------------------------------------ */

static int lock_dir(struct broker *b)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/pagebus.lock", b->cfg->dir);
	b->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (b->lock_fd < 0) {
		log_error("cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(b->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int err = -errno;
		char pid[32] = "?";
		ssize_t n = pread(b->lock_fd, pid, sizeof(pid) - 1, 0);
		if (n > 0)
			pid[n] = 0;
		pid[strcspn(pid, "\n")] = 0;
		log_error("data dir %s is in use by another pagebusd (pid %s); stop it first or use another --dir",
			  b->cfg->dir, pid);
		return err == -EWOULDBLOCK ? -EBUSY : err;
	}
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(b->lock_fd, 0) < 0 || pwrite(b->lock_fd, pid, (size_t)n, 0) != n)
		log_warn("cannot write the pid into %s: %s", path, strerror(errno));
	return 0;
}

static int open_socket(struct broker *b)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int n = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s", b->cfg->dir, PBP_SOCKET_NAME);
	if (n < 0 || (size_t)n >= sizeof(addr.sun_path)) {
		log_error("socket path %s/%s is longer than %zu bytes: use a shorter --dir", b->cfg->dir,
			  PBP_SOCKET_NAME, sizeof(addr.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	snprintf(b->sock_path, sizeof(b->sock_path), "%s", addr.sun_path);
	/* we hold the lock: a socket file left here is from a broker that died */
	unlink(addr.sun_path);
	b->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (b->listen_fd < 0)
		return -errno;
	if (bind(b->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || chmod(addr.sun_path, 0660) < 0 ||
	    listen(b->listen_fd, 128) < 0) {
		int err = -errno;
		log_error("cannot listen on %s: %s", addr.sun_path, strerror(-err));
		return err;
	}
	return 0;
}

/* ---- loop callbacks ---------------------------------------------------------------------- */

static void arm_accept(struct broker *b);

static void accept_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags)
{
	(void)l;
	struct broker *b = op->ctx;
	if (res >= 0) {
		if (b->stopping)
			close(res);
		else
			session_accept(b, res);
	} else if (res != -ECANCELED && res != -EAGAIN && res != -EINTR) {
		log_warn("accept on %s failed: %s", b->sock_path, strerror(-res));
	}
	if (!(flags & IORING_CQE_F_MORE) && !b->stopping)
		arm_accept(b);
}

static void arm_accept(struct broker *b)
{
	b->op_accept = (struct uloop_op){ .cb = accept_done, .ctx = b };
	struct io_uring_sqe *sqe = uloop_sqe(&b->loop, &b->op_accept);
	if (sqe)
		io_uring_prep_multishot_accept(sqe, b->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
}

static void arm_signal(struct broker *b);

static void signal_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags)
{
	(void)l;
	(void)flags;
	struct broker *b = op->ctx;
	if (res >= (int)sizeof(struct signalfd_siginfo)) {
		struct signalfd_siginfo *si = (void *)b->signal_buf;
		if (!b->stopping)
			log_info("%s received: draining rings, flushing, stopping", strsignal((int)si->ssi_signo));
		b->stopping = true;
	}
	if (!b->stopping)
		arm_signal(b);
}

static void arm_signal(struct broker *b)
{
	b->op_signal = (struct uloop_op){ .cb = signal_done, .ctx = b };
	struct io_uring_sqe *sqe = uloop_sqe(&b->loop, &b->op_signal);
	if (sqe)
		io_uring_prep_read(sqe, b->signal_fd, b->signal_buf, sizeof(b->signal_buf), 0);
}

static void arm_timer(struct broker *b, struct uloop_op *op, int64_t ms);

static void retention_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags)
{
	(void)l;
	(void)flags;
	(void)res;
	struct broker *b = op->ctx;
	int64_t now = wall_ms();
	for (size_t t = 0; t < b->topics.n; t++) {
		struct topic *tp = b->topics.v[t];
		struct bpart *parts = tp->ctx;
		for (int32_t i = 0; parts && i < tp->nparts; i++) {
			int n = part_retention(parts[i].log, now);
			if (n < 0) {
				log_error("partition %s: retention failed: %s", parts[i].log->name, strerror(-n));
				b->stats.errors[BERR_RETENTION]++;
			}
			if (parts[i].log->generation != parts[i].seen_generation)
				broker_segments_changed(b, &parts[i]);
		}
	}
	if (!b->stopping)
		arm_timer(b, &b->op_retention, b->cfg->retention_check_interval_ms);
}

static void gcommit_done(struct uloop *l, struct uloop_op *op, int res, unsigned flags)
{
	(void)l;
	(void)flags;
	(void)res;
	struct broker *b = op->ctx;
	writer_group_commit(b);
	if (!b->stopping)
		arm_timer(b, &b->op_gcommit, b->cfg->flush_ms);
}

static void arm_timer(struct broker *b, struct uloop_op *op, int64_t ms)
{
	op->ctx = b;
	uloop_timeout(&b->loop, op, (uint64_t)ms * 1000000ull);
}

/* ---- open, run, close ---------------------------------------------------------------------- */

int broker_open(struct broker *b, struct broker_config *cfg)
{
	memset(b, 0, sizeof(*b));
	b->cfg = cfg;
	b->lock_fd = b->listen_fd = b->signal_fd = -1;
	list_init(&b->sessions);
	list_init(&b->producers);
	list_init(&b->active_parts);
	log_set_level((enum log_level)cfg->log_level);
	int err;
	char msg[512];
	if (mkdir(cfg->dir, 0755) < 0 && errno != EEXIST) {
		log_error("cannot create data dir %s: %s", cfg->dir, strerror(errno));
		return -errno;
	}
	if ((err = lock_dir(b)) < 0)
		return err;
	if ((err = control_open(&b->control, cfg->max_partitions)) < 0) {
		log_error("cannot create the control region: %s", strerror(-err));
		return err;
	}
	if ((err = topics_open(&b->topics, cfg, msg, sizeof(msg))) < 0) {
		log_error("cannot open topics in %s: %s", cfg->dir, msg);
		return err;
	}
	for (size_t i = 0; i < b->topics.n; i++) {
		struct topic *t = b->topics.v[i];
		if ((err = broker_topic_attach(b, t)) < 0)
			return err;
		log_info("topic %s: %d partition(s) recovered", t->name, t->nparts);
	}
	if ((err = offsets_open(&b->offsets, cfg->dir)) < 0) {
		log_error("cannot read %s/consumer-offsets: %s", cfg->dir, strerror(-err));
		return err;
	}
	if ((err = groups_open(b)) < 0)
		return err;
	if ((err = uloop_init(&b->loop, LOOP_ENTRIES, 0)) < 0) {
		log_error("cannot set up io_uring: %s", strerror(-err));
		return err;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	b->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (b->signal_fd < 0)
		return -errno;
	if ((err = open_socket(b)) < 0)
		return err;
	if ((err = kafka_open(b)) < 0)
		return err;
	if ((err = metrics_open(b)) < 0)
		return err;
	arm_accept(b);
	arm_signal(b);
	b->op_retention.cb = retention_done;
	arm_timer(b, &b->op_retention, cfg->retention_check_interval_ms);
	if (cfg->flush_ms > 0) {
		b->op_gcommit.cb = gcommit_done;
		arm_timer(b, &b->op_gcommit, cfg->flush_ms);
	}
	uloop_submit(&b->loop);
	fprintf(stderr, "pagebusd ready dir=%s socket=%s\n", cfg->dir, b->sock_path);
	return 0;
}

static bool all_writers_idle(struct broker *b)
{
	for (size_t t = 0; t < b->topics.n; t++) {
		struct bpart *parts = b->topics.v[t]->ctx;
		for (int32_t i = 0; parts && i < b->topics.v[t]->nparts; i++)
			if (!writer_idle(&parts[i]))
				return false;
	}
	return true;
}

/* SIGTERM: refuse new work, take what every ring has published by now. */
static void begin_stop(struct broker *b)
{
	uloop_cancel(&b->loop, &b->op_accept, NULL);
	kafka_stop(b);
	metrics_stop(b);
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &b->producers) {
		struct bproducer *p = container_of(pos, struct bproducer, link);
		if (!p->closing)
			p->stop_at = __atomic_load_n(&p->hdr->tail, __ATOMIC_ACQUIRE);
		if (p->wait_armed)
			uloop_cancel(&b->loop, &p->op_wait, NULL);
	}
}

/* One pass over the rings; true when any had entries. */
static bool drain_rings(struct broker *b)
{
	bool work = false;
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &b->producers)
		work |= producer_drain(container_of(pos, struct bproducer, link));
	return work;
}

static void release_rings(struct broker *b)
{
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &b->producers) {
		struct bproducer *p = container_of(pos, struct bproducer, link);
		producer_release(p);
		if (p->closing && p->wait_armed)
			uloop_cancel(&b->loop, &p->op_wait, NULL);
		if (producer_finished(p) && !p->dropped) {
			p->dropped = true; /* the session's reference, dropped once */
			producer_put(p);
		}
	}
}

static bool rings_drained(struct broker *b)
{
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &b->producers) {
		struct bproducer *p = container_of(pos, struct bproducer, link);
		if (p->drain < p->stop_at && p->drain != __atomic_load_n(&p->hdr->tail, __ATOMIC_ACQUIRE))
			return false;
		if (p->qn)
			return false;
	}
	return true;
}

int broker_run(struct broker *b)
{
	static const struct __kernel_timespec zero = { 0, 0 };
	uint64_t idle_since = mono_us();
	bool stop_begun = false;
	for (;;) {
		b->now_ms = wall_ms();
		b->turn_ns = metrics_clock_ns();
		if (b->stopping && !stop_begun) {
			begin_stop(b);
			stop_begun = true;
		}
		bool work = drain_rings(b);
		work |= kafka_turn(b);
		work |= groups_turn(b);
		writer_submit(b);
		release_rings(b);
		if (stop_begun && rings_drained(b) && all_writers_idle(b) && b->inflight == 0)
			break;
		if (work)
			idle_since = mono_us();
		int r;
		if (work || b->inflight || stop_begun) {
			r = uloop_run(&b->loop, work ? &zero : NULL);
		} else if (mono_us() - idle_since < b->cfg->spin_us) {
			r = uloop_run(&b->loop, &zero);
		} else {
			/* idle: tell every ring we sleep, then wait for a doorbell or any event */
			bool sleep = true;
			struct list *pos, *tmp;
			list_for_each_safe(pos, tmp, &b->producers)
				sleep &= producer_prepare_sleep(container_of(pos, struct bproducer, link));
			b->sleeping = sleep;
			r = uloop_run(&b->loop, sleep ? NULL : &zero);
			list_for_each_safe(pos, tmp, &b->producers)
				producer_wake_done(container_of(pos, struct bproducer, link));
			b->sleeping = false;
			idle_since = mono_us();
		}
		if (r < 0 && r != -EINTR && r != -ETIME && r != -EAGAIN && r != -EBUSY) {
			log_error("io_uring loop failed: %s", strerror(-r));
			return r;
		}
	}
	/* flush: every partition's active segment reaches the disk before we exit */
	int err = 0;
	for (size_t t = 0; t < b->topics.n; t++) {
		struct topic *tp = b->topics.v[t];
		for (int32_t i = 0; i < tp->nparts; i++) {
			int e = part_flush(tp->parts[i]);
			if (e < 0) {
				log_error("partition %s: flush failed: %s", tp->parts[i]->name, strerror(-e));
				err = e;
			}
		}
	}
	log_info("stopped cleanly");
	return err;
}

void broker_close(struct broker *b)
{
	struct list *pos, *tmp;
	list_for_each_safe(pos, tmp, &b->sessions) {
		struct session *s = container_of(pos, struct session, link);
		s->poll_armed = false; /* the loop goes away with its requests */
		session_close(s);
	}
	list_for_each_safe(pos, tmp, &b->producers) {
		struct bproducer *p = container_of(pos, struct bproducer, link);
		p->refs = 1;
		producer_put(p);
	}
	if (b->loop.ring.ring_fd > 0)
		uloop_exit(&b->loop);
	kafka_close(b); /* after the loop: none of its requests completes any more */
	groups_close(b); /* after every front end: their waits are cancelled */
	metrics_close(b);
	for (size_t i = 0; i < b->topics.n; i++)
		broker_topic_detach(b, b->topics.v[i]);
	topics_close(&b->topics);
	offsets_close(&b->offsets);
	control_close(&b->control);
	if (b->listen_fd >= 0) {
		close(b->listen_fd);
		unlink(b->sock_path);
	}
	if (b->signal_fd >= 0)
		close(b->signal_fd);
	if (b->lock_fd >= 0)
		close(b->lock_fd);
}
