/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loop.h — the broker's one io_uring: submission with per-request completion
 * callbacks, one io_uring_enter per loop turn, registered files, timeouts, cancel
 * and per-opcode counters. Single-threaded: only the thread that called
 * uloop_init() may call into the loop.
 */
#ifndef PAGEBUS_URING_LOOP_H
#define PAGEBUS_URING_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <liburing.h>

#include "uring_compat.h"

struct uloop;
struct uloop_op;

/*
 * Completion callback: res is cqe->res (>= 0 or -errno), cqe_flags is cqe->flags.
 * Called once per CQE: more than once for multishot requests and SEND_ZC (look
 * for IORING_CQE_F_MORE / IORING_CQE_F_NOTIF). The callback may free the op
 * (the loop does not touch it afterwards), queue new SQEs and call
 * uloop_submit(), but must not call uloop_run().
 */
typedef void uloop_cb(struct uloop *l, struct uloop_op *op, int res, unsigned cqe_flags);

/*
 * One in-flight request, embedded by the caller, which owns its storage until
 * the last completion. One op per in-flight request: the loop records the
 * request's opcode in it at submission, for the completion counters.
 */
struct uloop_op {
	uloop_cb *cb;
	void *ctx;
	uint8_t opcode; /* written by the loop */
};

/*
 * user_data values below UL_UDATA_RESERVED are never pointers: their completions
 * are counted and dropped without a callback. uloop_sqe(l, NULL) gives such an
 * SQE. The loop rewrites them to tags of its own when it submits.
 */
#define UL_UDATA_RESERVED 4096u

#define UL_SQPOLL (1u << 0)  /* a kernel thread polls the SQ; no enter to submit */
#define UL_SQPOLL_IDLE_MS 20 /* that thread sleeps after this long without work */

#define UL_NR_OPCODES 256 /* sqe->opcode is a u8: every opcode has a slot */

struct uloop_stats {
	uint64_t sqes[UL_NR_OPCODES]; /* SQEs handed to the kernel, by opcode */
	uint64_t cqes[UL_NR_OPCODES]; /* CQEs reaped, by opcode of their request */
	uint64_t submit_calls;	      /* submissions: one io_uring_enter at most each */
	uint64_t sq_full;	      /* extra submissions forced by a full SQ */
	uint64_t ignored;	      /* CQEs dropped for a reserved user_data */
};

struct uloop {
	struct io_uring ring;
	struct __kernel_timespec *ts; /* one per SQ slot, see uloop_timeout() */
	unsigned flags;
	struct uloop_stats stats;
};

/*
 * Set up a ring of entries SQEs (a power of two is best; the CQ gets twice as
 * many). flags: 0 or UL_SQPOLL. Without SQPOLL the ring is single-issuer with
 * deferred task work (completions are run only when the loop waits in
 * uloop_run(), so they never interrupt the loop); needs kernel 6.1+.
 * Returns 0 or -errno (-EPERM: SQPOLL refused).
 */
int uloop_init(struct uloop *l, unsigned entries, unsigned flags);

/*
 * Tear down the ring. In-flight requests are cancelled by the kernel and their
 * callbacks never run. Accepts NULL and a loop whose init failed.
 */
void uloop_exit(struct uloop *l);

/*
 * The next free SQE, with user_data = op (NULL: completion ignored). If the SQ
 * is full, the queued SQEs are submitted first. Fill the SQE (any liburing prep
 * or the ones in uring_compat.h, then sqe->flags) before the next call into the
 * loop; the kernel sees it at the next uloop_submit()/uloop_run(). Returns NULL
 * only when the ring cannot take a submission (treat as -EBUSY).
 */
struct io_uring_sqe *uloop_sqe(struct uloop *l, struct uloop_op *op);

/*
 * Make room for nr SQEs without a submission in between: call before building a
 * chain of nr IOSQE_IO_LINK'd SQEs, which a flush in the middle would cut.
 * Returns 0, -EINVAL if nr exceeds the SQ size, -EBUSY or -errno.
 */
int uloop_reserve(struct uloop *l, unsigned nr);

/* Submit the queued SQEs without waiting. Returns the number submitted or -errno. */
int uloop_submit(struct uloop *l);

/*
 * One loop turn: submit the queued SQEs and wait until at least one CQE is
 * ready or the timeout (relative; NULL = none) passes, with one io_uring_enter;
 * then run the callback of every CQE ready at that point. Returns the number of
 * CQEs dispatched: 0 if the timeout passed or a signal interrupted the wait;
 * -errno if submission failed and nothing was dispatched.
 */
int uloop_run(struct uloop *l, const struct __kernel_timespec *timeout);

/* The loop's counters; the pointer is valid until uloop_exit(). */
const struct uloop_stats *uloop_stats(const struct uloop *l);

/*
 * The kernel's name of an opcode, as the io_uring tracepoints print it ("WRITEV",
 * "FUTEX_WAIT"), or NULL for a number this table does not know (newer than 6.18).
 */
const char *uloop_opcode_name(unsigned opcode);

/* 1 if the running kernel supports opcode, 0 if not, or -errno. */
int uloop_op_supported(struct uloop *l, unsigned opcode);

/*
 * Registered files: a sparse table of nr slots (all empty), then set or clear a
 * slot. A request on a slot passes the slot number as its fd and sets
 * IOSQE_FIXED_FILE. The table holds its own reference: the caller may close fd
 * after uloop_file_set(). Return 0 or -errno.
 */
int uloop_register_files(struct uloop *l, unsigned nr);
int uloop_file_set(struct uloop *l, unsigned slot, int fd);
int uloop_file_clear(struct uloop *l, unsigned slot);

/*
 * A relative timer of ns nanoseconds (IORING_OP_TIMEOUT): op's callback gets
 * -ETIME when it fires, -ECANCELED if cancelled. The timespec lives in the loop
 * (one per SQ slot, read by the kernel at submission), so the caller keeps
 * nothing alive but op. Returns 0 or -EBUSY.
 */
int uloop_timeout(struct uloop *l, struct uloop_op *op, uint64_t ns);

/*
 * Bound the SQE just queued, which must carry IOSQE_IO_LINK, by ns nanoseconds
 * (IORING_OP_LINK_TIMEOUT): if it has not completed by then it is cancelled and
 * completes with -ECANCELED; op (may be NULL) gets -ETIME, or -ECANCELED if the
 * request finished first. Never splits the chain: -EBUSY if the SQ is full (use
 * uloop_reserve(l, 2) before the linked SQE), -EINVAL if there is no linked SQE
 * queued.
 */
int uloop_link_timeout(struct uloop *l, struct uloop_op *op, uint64_t ns);

/*
 * Cancel the in-flight request of target (IORING_OP_ASYNC_CANCEL on its
 * user_data). op (may be NULL) gets 0 if it was found and cancelled, -ENOENT if
 * not found, -EALREADY if it is already running; target then completes with
 * -ECANCELED (or its own result if it was too late). Returns 0 or -EBUSY.
 */
int uloop_cancel(struct uloop *l, struct uloop_op *target, struct uloop_op *op);

/*
 * A WRITEV of iov at offset off in fd, linked to an FSYNC (IORING_FSYNC_DATASYNC
 * if datasync) that starts only after the write succeeded in full: op_write gets
 * the bytes written, then op_fsync gets 0 or -errno; a failed or short write
 * fails the fsync with -ECANCELED. iov[] must stay valid until submission, the
 * buffers until op_write completes. Returns 0 or -EBUSY.
 */
int uloop_write_fsync(struct uloop *l, struct uloop_op *op_write, struct uloop_op *op_fsync, int fd,
		      const struct iovec *iov, unsigned iovcnt, uint64_t off, bool datasync);

#endif /* PAGEBUS_URING_LOOP_H */
