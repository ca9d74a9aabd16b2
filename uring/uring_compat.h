/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uring_compat.h — the io_uring ABI this project uses beyond what the packaged
 * liburing (2.3) knows: opcode numbers, FUTEX2 flags and hand-filled SQE preps.
 * Every constant the project needs and the packaged headers lack is defined here
 * and nowhere else, each behind #ifndef so newer headers win.
 */
#ifndef PAGEBUS_URING_COMPAT_H
#define PAGEBUS_URING_COMPAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <linux/futex.h>
#include <liburing.h>

/*
 * liburing 2.3 ships no io_uring_version.h; 2.4 and later do. The opcode numbers
 * are enumerators in liburing/io_uring.h, invisible to #ifdef, so the version
 * decides: liburing < 2.6 lacks IORING_OP_FUTEX_*.
 */
#if defined(__has_include)
#if __has_include(<liburing/io_uring_version.h>)
#include <liburing/io_uring_version.h>
#endif
#endif

#if !defined(IO_URING_VERSION_MAJOR) || (IO_URING_VERSION_MAJOR == 2 && IO_URING_VERSION_MINOR < 6)
/* Kernel 6.7+. Numbers from include/uapi/linux/io_uring.h, enum io_uring_op. */
#ifndef IORING_OP_FUTEX_WAIT
#define IORING_OP_FUTEX_WAIT 51
#endif
#ifndef IORING_OP_FUTEX_WAKE
#define IORING_OP_FUTEX_WAKE 52
#endif
/* The installed enum must stop short of the numbers defined above. */
_Static_assert(IORING_OP_SENDMSG_ZC == 48, "io_uring opcode enum differs from the UAPI");
_Static_assert(IORING_OP_LAST <= IORING_OP_FUTEX_WAIT, "liburing knows FUTEX ops: fix the gate");
#else
_Static_assert(IORING_OP_FUTEX_WAIT == 51 && IORING_OP_FUTEX_WAKE == 52, "futex opcodes");
#endif

/* IORING_OP_SEND_ZC (6.0) and IORING_CQE_F_NOTIF are already in liburing 2.3. */

/* futex2 flags (include/uapi/linux/futex.h, 6.7+); sqe->fd of the futex ops. */
#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#endif
#ifndef FUTEX2_PRIVATE
#define FUTEX2_PRIVATE FUTEX_PRIVATE_FLAG
#endif
#ifndef FUTEX_BITSET_MATCH_ANY
#define FUTEX_BITSET_MATCH_ANY 0xffffffffu
#endif

/*
 * The SQE fields the hand-filled preps write, at their UAPI offsets. 2.3's struct
 * names the op-flags word rw_flags (the kernel also calls it futex_flags).
 */
_Static_assert(sizeof(struct io_uring_sqe) == 64, "sqe size");
_Static_assert(offsetof(struct io_uring_sqe, fd) == 4, "sqe->fd");
_Static_assert(offsetof(struct io_uring_sqe, addr2) == 8, "sqe->addr2");
_Static_assert(offsetof(struct io_uring_sqe, addr) == 16, "sqe->addr");
_Static_assert(offsetof(struct io_uring_sqe, len) == 24, "sqe->len");
_Static_assert(offsetof(struct io_uring_sqe, rw_flags) == 28, "sqe op flags");
_Static_assert(offsetof(struct io_uring_sqe, user_data) == 32, "sqe->user_data");
_Static_assert(offsetof(struct io_uring_sqe, addr3) == 48, "sqe->addr3");

/*
 * Kernel contract (io_uring/futex.c, io_futex_prep): addr = futex word, addr2 =
 * value, addr3 = bitset mask (0 fails with -EINVAL), fd = FUTEX2_* flags, and len,
 * buf_index, file_index and the op-flags word must be 0. The preps keep the
 * user_data that uloop_sqe() stored and clear everything else, IOSQE flags too.
 */
static inline void uloop_prep_futex(struct io_uring_sqe *sqe, uint8_t opcode, const uint32_t *uaddr,
				    uint64_t val, uint64_t mask, uint32_t futex2_flags)
{
	uint64_t user_data = sqe->user_data;

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = opcode;
	sqe->fd = (int32_t)futex2_flags;
	sqe->addr = (uint64_t)(uintptr_t)uaddr;
	sqe->addr2 = val;
	sqe->addr3 = mask;
	sqe->user_data = user_data;
}

/*
 * Wait while *uaddr == val; completes with 0 when woken, -EAGAIN if the word
 * already differs at issue, -ECANCELED if cancelled. For a word in a mapping
 * shared between processes, futex2_flags must be FUTEX2_SIZE_U32 without
 * FUTEX2_PRIVATE: a private futex is keyed by this mm and never sees another
 * process's wake.
 */
static inline void uloop_prep_futex_wait(struct io_uring_sqe *sqe, const uint32_t *uaddr,
					 uint32_t val, uint32_t mask, uint32_t futex2_flags)
{
	uloop_prep_futex(sqe, IORING_OP_FUTEX_WAIT, uaddr, val, mask, futex2_flags);
}

/* Wake up to nr waiters whose mask intersects mask; completes with the number woken. */
static inline void uloop_prep_futex_wake(struct io_uring_sqe *sqe, const uint32_t *uaddr,
					 uint32_t nr, uint32_t mask, uint32_t futex2_flags)
{
	uloop_prep_futex(sqe, IORING_OP_FUTEX_WAKE, uaddr, nr, mask, futex2_flags);
}

#endif /* PAGEBUS_URING_COMPAT_H */
