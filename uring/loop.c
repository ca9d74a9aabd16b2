/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loop.c — the io_uring loop: SQE hand-out, batched submission, completion
 * dispatch to uloop_op callbacks, and the counters. Everything here runs on the
 * loop's thread; the only memory shared with the kernel is liburing's rings.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"

/*
 * A request queued with a reserved user_data is submitted as 1 + opcode, so its
 * completion still lands in the right counter.
 */
#define UL_TAG(opcode) (1u + (opcode))
#define UL_DISPATCH_BATCH 32

int uloop_init(struct uloop *l, unsigned entries, unsigned flags)
{
	struct io_uring_params p;
	int ret;

	memset(l, 0, sizeof(*l));
	if (flags & ~UL_SQPOLL)
		return -EINVAL;

	memset(&p, 0, sizeof(p));
	/* A bad SQE fails alone with a CQE; the rest of the batch still goes in. */
	p.flags = IORING_SETUP_SUBMIT_ALL;
	if (flags & UL_SQPOLL) {
		p.flags |= IORING_SETUP_SQPOLL;
		p.sq_thread_idle = UL_SQPOLL_IDLE_MS;
	} else {
		/*
		 * One thread submits, and completion task work waits until it asks
		 * for completions instead of interrupting it (IPIs, task_work signals).
		 */
		p.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	}
	ret = io_uring_queue_init_params(entries, &l->ring, &p);
	if (ret < 0)
		return ret;

	l->ts = calloc(l->ring.sq.ring_entries, sizeof(*l->ts));
	if (!l->ts) {
		ret = -ENOMEM;
		goto err_ring;
	}
	l->flags = flags;
	return 0;

err_ring:
	io_uring_queue_exit(&l->ring);
	memset(l, 0, sizeof(*l));
	return ret;
}

void uloop_exit(struct uloop *l)
{
	if (!l || !l->ts)
		return;
	io_uring_queue_exit(&l->ring);
	free(l->ts);
	l->ts = NULL;
}

/*
 * Count the SQEs queued since the last submission and stamp their requests with
 * the opcode. liburing hands out SQEs at sq.sqe_tail and publishes them to the
 * kernel from sq.sqe_head on the next submit, so [sqe_head, sqe_tail) is exactly
 * what the kernel has not seen yet and we may still edit.
 */
static void account_sq(struct uloop *l)
{
	struct io_uring_sq *sq = &l->ring.sq;
	unsigned i;

	for (i = sq->sqe_head; i != sq->sqe_tail; i++) {
		struct io_uring_sqe *sqe = &sq->sqes[i & sq->ring_mask];

		l->stats.sqes[sqe->opcode]++;
		if (sqe->user_data < UL_UDATA_RESERVED)
			sqe->user_data = UL_TAG(sqe->opcode);
		else
			((struct uloop_op *)(uintptr_t)sqe->user_data)->opcode = sqe->opcode;
	}
}

static int flush(struct uloop *l)
{
	account_sq(l);
	l->stats.submit_calls++;
	return io_uring_submit(&l->ring);
}

int uloop_submit(struct uloop *l)
{
	return flush(l);
}

int uloop_reserve(struct uloop *l, unsigned nr)
{
	int ret;

	if (nr > l->ring.sq.ring_entries)
		return -EINVAL;
	if (io_uring_sq_space_left(&l->ring) >= nr)
		return 0;

	l->stats.sq_full++;
	ret = flush(l);
	if (ret < 0)
		return ret;
	/* SQPOLL: the SQ drains only as fast as the kernel thread reads it. */
	if ((l->flags & UL_SQPOLL) && io_uring_sq_space_left(&l->ring) < nr) {
		ret = io_uring_sqring_wait(&l->ring);
		if (ret < 0)
			return ret;
	}
	return io_uring_sq_space_left(&l->ring) >= nr ? 0 : -EBUSY;
}

struct io_uring_sqe *uloop_sqe(struct uloop *l, struct uloop_op *op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	if (!sqe) {
		if (uloop_reserve(l, 1) < 0)
			return NULL;
		sqe = io_uring_get_sqe(&l->ring);
		if (!sqe)
			return NULL;
	}
	io_uring_sqe_set_data(sqe, op);
	return sqe;
}

static void dispatch(struct uloop *l, const struct io_uring_cqe *cqe)
{
	struct uloop_op *op;

	if (cqe->user_data < UL_UDATA_RESERVED) {
		if (cqe->user_data >= UL_TAG(0) && cqe->user_data < UL_TAG(UL_NR_OPCODES))
			l->stats.cqes[cqe->user_data - UL_TAG(0)]++;
		l->stats.ignored++;
		return;
	}
	op = (struct uloop_op *)(uintptr_t)cqe->user_data;
	l->stats.cqes[op->opcode]++;
	op->cb(l, op, cqe->res, cqe->flags);
}

/*
 * Dispatch the CQEs ready now, not those that callbacks cause, so a callback that
 * keeps resubmitting cannot hold the loop here. CQEs are copied out and the CQ
 * head advanced before their callbacks run, so the kernel can post into the
 * freed slots while callbacks submit.
 */
static int dispatch_ready(struct uloop *l)
{
	struct io_uring_cqe batch[UL_DISPATCH_BATCH];
	unsigned avail = io_uring_cq_ready(&l->ring);
	unsigned done = 0;

	while (done < avail) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0, i;

		io_uring_for_each_cqe(&l->ring, head, cqe)
		{
			if (n == UL_DISPATCH_BATCH || done + n == avail)
				break;
			batch[n++] = *cqe;
		}
		io_uring_cq_advance(&l->ring, n);
		for (i = 0; i < n; i++)
			dispatch(l, &batch[i]);
		done += n;
	}
	return (int)done;
}

int uloop_run(struct uloop *l, const struct __kernel_timespec *timeout)
{
	struct io_uring_cqe *cqe;
	int ret, n;

	account_sq(l);
	l->stats.submit_calls++;
	if (timeout) {
		struct __kernel_timespec ts = *timeout;

		ret = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, &ts, NULL);
	} else {
		ret = io_uring_submit_and_wait(&l->ring, 1);
	}
	if (ret == -ETIME || ret == -EINTR)
		ret = 0;

	/* Reaping may be what a failed submission (-EBUSY) needs: do it anyway. */
	n = dispatch_ready(l);
	return n > 0 || ret >= 0 ? n : ret;
}

const struct uloop_stats *uloop_stats(const struct uloop *l)
{
	return &l->stats;
}

/* include/uapi/linux/io_uring.h, enum io_uring_op, up to Linux 6.18. */
static const char *const opcode_names[] = {
	"NOP", "READV", "WRITEV", "FSYNC", "READ_FIXED", "WRITE_FIXED", "POLL_ADD",
	"POLL_REMOVE", "SYNC_FILE_RANGE", "SENDMSG", "RECVMSG", "TIMEOUT", "TIMEOUT_REMOVE",
	"ACCEPT", "ASYNC_CANCEL", "LINK_TIMEOUT", "CONNECT", "FALLOCATE", "OPENAT", "CLOSE",
	"FILES_UPDATE", "STATX", "READ", "WRITE", "FADVISE", "MADVISE", "SEND", "RECV",
	"OPENAT2", "EPOLL_CTL", "SPLICE", "PROVIDE_BUFFERS", "REMOVE_BUFFERS", "TEE",
	"SHUTDOWN", "RENAMEAT", "UNLINKAT", "MKDIRAT", "SYMLINKAT", "LINKAT", "MSG_RING",
	"FSETXATTR", "SETXATTR", "FGETXATTR", "GETXATTR", "SOCKET", "URING_CMD", "SEND_ZC",
	"SENDMSG_ZC", "READ_MULTISHOT", "WAITID", "FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_WAITV",
	"FIXED_FD_INSTALL", "FTRUNCATE", "BIND", "LISTEN", "RECV_ZC", "EPOLL_WAIT",
	"READV_FIXED", "WRITEV_FIXED", "PIPE",
};
_Static_assert(sizeof(opcode_names) / sizeof(opcode_names[0]) == 63, "IORING_OP_PIPE is 62");

const char *uloop_opcode_name(unsigned opcode)
{
	return opcode < sizeof(opcode_names) / sizeof(opcode_names[0]) ? opcode_names[opcode] : NULL;
}

int uloop_op_supported(struct uloop *l, unsigned opcode)
{
	struct io_uring_probe *probe = io_uring_get_probe_ring(&l->ring);
	int ret;

	if (!probe)
		return -ENOMEM;
	ret = io_uring_opcode_supported(probe, (int)opcode);
	io_uring_free_probe(probe);
	return ret;
}

int uloop_register_files(struct uloop *l, unsigned nr)
{
	return io_uring_register_files_sparse(&l->ring, nr);
}

int uloop_file_set(struct uloop *l, unsigned slot, int fd)
{
	int ret = io_uring_register_files_update(&l->ring, slot, &fd, 1);

	/* Returns the number of slots updated. */
	if (ret < 0)
		return ret;
	return ret == 1 ? 0 : -EINVAL;
}

int uloop_file_clear(struct uloop *l, unsigned slot)
{
	return uloop_file_set(l, slot, -1);
}

static struct __kernel_timespec *slot_ts(struct uloop *l, const struct io_uring_sqe *sqe,
					 uint64_t ns)
{
	struct __kernel_timespec *ts = &l->ts[sqe - l->ring.sq.sqes];

	ts->tv_sec = (long long)(ns / 1000000000u);
	ts->tv_nsec = (long long)(ns % 1000000000u);
	return ts;
}

int uloop_timeout(struct uloop *l, struct uloop_op *op, uint64_t ns)
{
	struct io_uring_sqe *sqe = uloop_sqe(l, op);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_timeout(sqe, slot_ts(l, sqe, ns), 0, 0);
	return 0;
}

int uloop_link_timeout(struct uloop *l, struct uloop_op *op, uint64_t ns)
{
	struct io_uring_sq *sq = &l->ring.sq;
	struct io_uring_sqe *prev, *sqe;

	if (sq->sqe_head == sq->sqe_tail)
		return -EINVAL;
	prev = &sq->sqes[(sq->sqe_tail - 1) & sq->ring_mask];
	if (!(prev->flags & (IOSQE_IO_LINK | IOSQE_IO_HARDLINK)))
		return -EINVAL;
	/* Not uloop_sqe(): a flush here would submit prev without its timeout. */
	sqe = io_uring_get_sqe(&l->ring);
	if (!sqe)
		return -EBUSY;
	io_uring_sqe_set_data(sqe, op);
	io_uring_prep_link_timeout(sqe, slot_ts(l, sqe, ns), 0);
	return 0;
}

int uloop_cancel(struct uloop *l, struct uloop_op *target, struct uloop_op *op)
{
	struct io_uring_sqe *sqe = uloop_sqe(l, op);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_cancel(sqe, target, 0);
	return 0;
}

int uloop_write_fsync(struct uloop *l, struct uloop_op *op_write, struct uloop_op *op_fsync, int fd,
		      const struct iovec *iov, unsigned iovcnt, uint64_t off, bool datasync)
{
	struct io_uring_sqe *sqe;
	int ret;

	ret = uloop_reserve(l, 2);
	if (ret < 0)
		return ret;

	sqe = uloop_sqe(l, op_write);
	io_uring_prep_writev(sqe, fd, iov, iovcnt, off);
	sqe->flags |= IOSQE_IO_LINK;

	sqe = uloop_sqe(l, op_fsync);
	io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0);
	return 0;
}
