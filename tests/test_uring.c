/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_uring.c — the io_uring loop (uring/loop.c): callbacks and their order,
 * linked write+fdatasync, timers and cancel, eventfd, accept, registered files,
 * hand-filled futex SQEs across processes, SQPOLL, batching and SQ-full flushes.
 * Timeouts here only bound a hang; no case asserts how fast anything is.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "loop.h"

#define DEADLINE_S 30 /* a hung case fails after this; never a speed assertion */

/* A completion recorder: the op plus what its callback saw. */
struct rec {
	struct uloop_op op;
	int calls;
	int res;
	unsigned cqe_flags;
	int seq; /* global order of its last completion */
};

static int completions;

static void rec_cb(struct uloop *l, struct uloop_op *op, int res, unsigned cqe_flags)
{
	struct rec *r = op->ctx;

	(void)l;
	r->calls++;
	r->res = res;
	r->cqe_flags = cqe_flags;
	r->seq = ++completions;
}

static void rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	r->op.cb = rec_cb;
	r->op.ctx = r;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Turn the loop until `completions` reaches want; fail (not hang) after DEADLINE_S. */
static void run_until(struct uloop *l, int want)
{
	const struct __kernel_timespec tick = {.tv_sec = 1};
	double deadline = now_s() + DEADLINE_S;

	while (completions < want) {
		assert_true(uloop_run(l, &tick) >= 0);
		assert_true(now_s() < deadline);
	}
	assert_int_equal(completions, want);
}

static int tmp_fd(void)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/pagebus-uring-XXXXXX", dir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

static int setup_loop(void **state)
{
	static struct uloop loop;

	completions = 0;
	if (uloop_init(&loop, 64, 0) < 0)
		return -1;
	*state = &loop;
	return 0;
}

static int teardown_loop(void **state)
{
	uloop_exit(*state);
	return 0;
}

static void test_writev_linked_fdatasync_completes_after_write_and_persists(void **state)
{
	struct uloop *l = *state;
	char a[] = "pagebus ", b[] = "segment bytes";
	struct iovec iov[2] = {{a, strlen(a)}, {b, strlen(b)}};
	size_t len = strlen(a) + strlen(b);
	struct rec w, s;
	char back[64] = {0};
	int fd = tmp_fd();

	rec_init(&w);
	rec_init(&s);
	assert_int_equal(uloop_write_fsync(l, &w.op, &s.op, fd, iov, 2, 0, true), 0);
	run_until(l, 2);

	assert_int_equal(w.calls, 1);
	assert_int_equal(s.calls, 1);
	assert_int_equal(w.res, (int)len);
	assert_int_equal(s.res, 0);
	assert_true(w.seq < s.seq);
	assert_int_equal(uloop_stats(l)->cqes[IORING_OP_WRITEV], 1);
	assert_int_equal(uloop_stats(l)->cqes[IORING_OP_FSYNC], 1);

	assert_int_equal(pread(fd, back, sizeof(back), 0), (ssize_t)len);
	assert_memory_equal(back, "pagebus segment bytes", len);
	close(fd);
}

static void test_fsync_is_cancelled_when_linked_write_fails(void **state)
{
	struct uloop *l = *state;
	char a[] = "x";
	struct iovec iov = {a, 1};
	struct rec w, s;
	int rd = open("/dev/null", O_RDONLY);

	/* A write to a read-only fd fails, and the link must not run the fsync. */
	rec_init(&w);
	rec_init(&s);
	assert_int_equal(uloop_write_fsync(l, &w.op, &s.op, rd, &iov, 1, 0, true), 0);
	run_until(l, 2);
	assert_int_equal(w.res, -EBADF);
	assert_int_equal(s.res, -ECANCELED);
	close(rd);
}

static void test_timeout_fires_with_etime(void **state)
{
	struct uloop *l = *state;
	struct rec t;

	rec_init(&t);
	assert_int_equal(uloop_timeout(l, &t.op, 1000000), 0);
	run_until(l, 1);
	assert_int_equal(t.calls, 1);
	assert_int_equal(t.res, -ETIME);
	assert_int_equal(uloop_stats(l)->sqes[IORING_OP_TIMEOUT], 1);
	assert_int_equal(uloop_stats(l)->cqes[IORING_OP_TIMEOUT], 1);
}

static void test_cancel_of_pending_timeout_completes_it_with_ecanceled(void **state)
{
	struct uloop *l = *state;
	struct rec t, c;

	rec_init(&t);
	rec_init(&c);
	assert_int_equal(uloop_timeout(l, &t.op, 3600ull * 1000000000ull), 0);
	assert_int_equal(uloop_cancel(l, &t.op, &c.op), 0);
	run_until(l, 2);
	assert_int_equal(c.res, 0);
	assert_int_equal(t.res, -ECANCELED);
	assert_int_equal(t.calls, 1);
	assert_int_equal(c.calls, 1);
}

static void test_cancel_of_unknown_request_reports_enoent(void **state)
{
	struct uloop *l = *state;
	struct rec ghost, c;

	rec_init(&ghost);
	rec_init(&c);
	assert_int_equal(uloop_cancel(l, &ghost.op, &c.op), 0);
	run_until(l, 1);
	assert_int_equal(c.res, -ENOENT);
	assert_int_equal(ghost.calls, 0);
}

static void test_link_timeout_cancels_stuck_read_and_its_null_op_is_ignored(void **state)
{
	struct uloop *l = *state;
	struct io_uring_sqe *sqe;
	struct rec r;
	char buf[8];
	int p[2];

	assert_int_equal(pipe(p), 0);
	rec_init(&r);
	assert_int_equal(uloop_reserve(l, 2), 0);
	sqe = uloop_sqe(l, &r.op);
	io_uring_prep_read(sqe, p[0], buf, sizeof(buf), 0);
	assert_int_equal(uloop_link_timeout(l, NULL, 1000000), -EINVAL); /* no IO_LINK yet */
	sqe->flags |= IOSQE_IO_LINK;
	assert_int_equal(uloop_link_timeout(l, NULL, 1000000), 0);

	/* Nothing is ever written: only the timer can end the read. */
	run_until(l, 1);
	assert_int_equal(r.res, -ECANCELED);
	while (uloop_stats(l)->ignored < 1)
		assert_true(uloop_run(l, &(struct __kernel_timespec){.tv_sec = 1}) >= 0);
	assert_int_equal(uloop_stats(l)->ignored, 1);
	assert_int_equal(uloop_stats(l)->cqes[IORING_OP_LINK_TIMEOUT], 1);
	assert_int_equal(completions, 1);
	close(p[0]);
	close(p[1]);
}

static void *eventfd_writer(void *arg)
{
	eventfd_write(*(int *)arg, 42);
	return NULL;
}

static void test_eventfd_read_completes_after_write_from_another_thread(void **state)
{
	struct uloop *l = *state;
	struct io_uring_sqe *sqe;
	uint64_t val = 0;
	pthread_t th;
	struct rec r;
	int efd = eventfd(0, EFD_CLOEXEC);

	assert_true(efd >= 0);
	rec_init(&r);
	sqe = uloop_sqe(l, &r.op);
	io_uring_prep_read(sqe, efd, &val, sizeof(val), 0);
	assert_true(uloop_submit(l) >= 1);
	assert_int_equal(r.calls, 0);

	assert_int_equal(pthread_create(&th, NULL, eventfd_writer, &efd), 0);
	run_until(l, 1);
	pthread_join(th, NULL);
	assert_int_equal(r.res, (int)sizeof(val));
	assert_int_equal(val, 42);
	close(efd);
}

static void test_accept_on_unix_socket_yields_a_working_connection(void **state)
{
	struct uloop *l = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t salen, crlen = sizeof(struct ucred);
	struct io_uring_sqe *sqe;
	struct ucred cred;
	struct rec acc, snd;
	char msg[] = "hello broker", got[32] = {0};
	int lfd, cfd, afd;

	/* Abstract address: nothing to clean up on disk. */
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "pagebus-test-uring-%d", (int)getpid());
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sa.sun_path + 1));
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, salen), 0);
	assert_int_equal(listen(lfd, 4), 0);

	rec_init(&acc);
	sqe = uloop_sqe(l, &acc.op);
	io_uring_prep_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(uloop_submit(l) >= 1);

	cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(cfd >= 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&sa, salen), 0);
	run_until(l, 1);
	afd = acc.res;
	assert_true(afd >= 0);
	assert_int_equal(getsockopt(afd, SOL_SOCKET, SO_PEERCRED, &cred, &crlen), 0);
	assert_int_equal(cred.pid, getpid());

	rec_init(&snd);
	sqe = uloop_sqe(l, &snd.op);
	io_uring_prep_send(sqe, afd, msg, strlen(msg), 0);
	run_until(l, 2);
	assert_int_equal(snd.res, (int)strlen(msg));
	assert_int_equal(recv(cfd, got, sizeof(got), 0), (ssize_t)strlen(msg));
	assert_string_equal(got, msg);
	close(afd);
	close(cfd);
	close(lfd);
}

static void test_write_through_registered_file_slot(void **state)
{
	struct uloop *l = *state;
	struct io_uring_sqe *sqe;
	struct rec w, bad;
	char msg[] = "via slot 2", back[32] = {0};
	int fd = tmp_fd();

	assert_int_equal(uloop_register_files(l, 4), 0);
	assert_int_equal(uloop_file_set(l, 2, fd), 0);

	rec_init(&w);
	sqe = uloop_sqe(l, &w.op);
	io_uring_prep_write(sqe, 2, msg, strlen(msg), 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	run_until(l, 1);
	assert_int_equal(w.res, (int)strlen(msg));
	assert_int_equal(pread(fd, back, sizeof(back), 0), (ssize_t)strlen(msg));
	assert_string_equal(back, msg);

	/* A cleared slot no longer reaches the file. */
	assert_int_equal(uloop_file_clear(l, 2), 0);
	rec_init(&bad);
	sqe = uloop_sqe(l, &bad.op);
	io_uring_prep_write(sqe, 2, msg, strlen(msg), 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	run_until(l, 2);
	assert_int_equal(bad.res, -EBADF);
	close(fd);
}

static uint32_t *shared_word(void)
{
	uint32_t *w =
	    mmap(NULL, sizeof(*w), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(w != MAP_FAILED);
	*w = 0;
	return w;
}

static void skip_without_futex_ops(struct uloop *l)
{
	if (uloop_op_supported(l, IORING_OP_FUTEX_WAIT) != 1) {
		print_message("kernel lacks IORING_OP_FUTEX_WAIT (6.7+)\n");
		skip();
	}
}

static void test_futex_wait_is_woken_by_futex_syscall_in_forked_child(void **state)
{
	struct uloop *l = *state;
	struct io_uring_sqe *sqe;
	uint32_t *word = shared_word();
	struct rec r;
	int status;
	pid_t pid;

	skip_without_futex_ops(l);
	rec_init(&r);
	sqe = uloop_sqe(l, &r.op);
	uloop_prep_futex_wait(sqe, word, 0, FUTEX_BITSET_MATCH_ANY, FUTEX2_SIZE_U32);
	/* Issued inline: when submit returns, the wait is queued on the futex. */
	assert_int_equal(uloop_submit(l), 1);
	assert_int_equal(r.calls, 0);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		long n;

		__atomic_store_n(word, 1, __ATOMIC_RELEASE);
		n = syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
		_exit(n < 0 ? 255 : (int)n);
	}
	run_until(l, 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1); /* the child woke exactly our wait */
	assert_int_equal(r.res, 0);
	assert_int_equal(__atomic_load_n(word, __ATOMIC_ACQUIRE), 1);
	assert_int_equal(uloop_stats(l)->cqes[IORING_OP_FUTEX_WAIT], 1);
	munmap(word, sizeof(*word));
}

static void test_futex_wait_on_changed_word_fails_and_ring_wake_wakes(void **state)
{
	struct uloop *l = *state;
	struct io_uring_sqe *sqe;
	uint32_t *word = shared_word();
	struct rec stale, wait, wake;

	skip_without_futex_ops(l);
	/* addr2 is the expected value: a mismatch must fail, not sleep. */
	rec_init(&stale);
	sqe = uloop_sqe(l, &stale.op);
	uloop_prep_futex_wait(sqe, word, 7, FUTEX_BITSET_MATCH_ANY, FUTEX2_SIZE_U32);
	run_until(l, 1);
	assert_int_equal(stale.res, -EAGAIN);

	/* In one batch: the wait is queued, then the wake finds it. */
	rec_init(&wait);
	rec_init(&wake);
	sqe = uloop_sqe(l, &wait.op);
	uloop_prep_futex_wait(sqe, word, 0, FUTEX_BITSET_MATCH_ANY, FUTEX2_SIZE_U32);
	sqe = uloop_sqe(l, &wake.op);
	uloop_prep_futex_wake(sqe, word, 1, FUTEX_BITSET_MATCH_ANY, FUTEX2_SIZE_U32);
	run_until(l, 3);
	assert_int_equal(wake.res, 1);
	assert_int_equal(wait.res, 0);
	munmap(word, sizeof(*word));
}

static void test_sqpoll_loop_completes_a_write(void **state)
{
	struct uloop sl;
	struct io_uring_sqe *sqe;
	struct rec w;
	char msg[] = "polled", back[16] = {0};
	int fd, ret;

	(void)state;
	completions = 0;
	ret = uloop_init(&sl, 8, UL_SQPOLL);
	if (ret == -EPERM) {
		print_message("kernel refuses SQPOLL here (EPERM)\n");
		skip();
	}
	assert_int_equal(ret, 0);
	fd = tmp_fd();
	rec_init(&w);
	sqe = uloop_sqe(&sl, &w.op);
	io_uring_prep_write(sqe, fd, msg, strlen(msg), 0);
	run_until(&sl, 1);
	assert_int_equal(w.res, (int)strlen(msg));
	assert_int_equal(pread(fd, back, sizeof(back), 0), (ssize_t)strlen(msg));
	assert_string_equal(back, msg);
	uloop_exit(&sl);
	close(fd);
}

static void test_nops_queued_in_one_turn_go_in_one_submission(void **state)
{
	struct uloop *l = *state;
	const struct __kernel_timespec bound = {.tv_sec = 5};
	const struct uloop_stats *st = uloop_stats(l);
	struct rec r[48];
	uint64_t submits = st->submit_calls;
	int i;

	for (i = 0; i < 48; i++) {
		rec_init(&r[i]);
		io_uring_prep_nop(uloop_sqe(l, &r[i].op));
	}
	/* NOPs complete during submission, so one turn sees them all. */
	assert_int_equal(uloop_run(l, &bound), 48);
	assert_int_equal(completions, 48);
	assert_int_equal(st->submit_calls - submits, 1);
	assert_int_equal(st->sq_full, 0);
	assert_int_equal(st->sqes[IORING_OP_NOP], 48);
	assert_int_equal(st->cqes[IORING_OP_NOP], 48);
	for (i = 0; i < 48; i++)
		assert_int_equal(r[i].calls, 1);
}

static void test_full_sq_is_flushed_instead_of_refusing_sqes(void **state)
{
	struct uloop small;
	struct rec r[10];
	int i;

	(void)state;
	completions = 0;
	assert_int_equal(uloop_init(&small, 4, 0), 0);
	for (i = 0; i < 10; i++) {
		struct io_uring_sqe *sqe;

		rec_init(&r[i]);
		sqe = uloop_sqe(&small, &r[i].op);
		assert_non_null(sqe);
		io_uring_prep_nop(sqe);
	}
	/* 10 CQEs overflow the 8-entry CQ: none may be lost. */
	run_until(&small, 10);
	assert_int_equal(uloop_stats(&small)->sq_full, 2);
	assert_int_equal(uloop_stats(&small)->sqes[IORING_OP_NOP], 10);
	assert_int_equal(uloop_stats(&small)->cqes[IORING_OP_NOP], 10);
	for (i = 0; i < 10; i++)
		assert_int_equal(r[i].calls, 1);
	uloop_exit(&small);
}

static void test_init_rejects_unknown_flags_and_exit_accepts_failed_loop(void **state)
{
	struct uloop bad;

	(void)state;
	assert_int_equal(uloop_init(&bad, 8, 1u << 7), -EINVAL);
	uloop_exit(&bad);
	uloop_exit(NULL);
}

int main(void)
{
#define LOOP_TEST(f) cmocka_unit_test_setup_teardown(f, setup_loop, teardown_loop)
	const struct CMUnitTest tests[] = {
	    LOOP_TEST(test_writev_linked_fdatasync_completes_after_write_and_persists),
	    LOOP_TEST(test_fsync_is_cancelled_when_linked_write_fails),
	    LOOP_TEST(test_timeout_fires_with_etime),
	    LOOP_TEST(test_cancel_of_pending_timeout_completes_it_with_ecanceled),
	    LOOP_TEST(test_cancel_of_unknown_request_reports_enoent),
	    LOOP_TEST(test_link_timeout_cancels_stuck_read_and_its_null_op_is_ignored),
	    LOOP_TEST(test_eventfd_read_completes_after_write_from_another_thread),
	    LOOP_TEST(test_accept_on_unix_socket_yields_a_working_connection),
	    LOOP_TEST(test_write_through_registered_file_slot),
	    LOOP_TEST(test_futex_wait_is_woken_by_futex_syscall_in_forked_child),
	    LOOP_TEST(test_futex_wait_on_changed_word_fails_and_ring_wake_wakes),
	    LOOP_TEST(test_nops_queued_in_one_turn_go_in_one_submission),
	    cmocka_unit_test(test_sqpoll_loop_completes_a_write),
	    cmocka_unit_test(test_full_sq_is_flushed_instead_of_refusing_sqes),
	    cmocka_unit_test(test_init_rejects_unknown_flags_and_exit_accepts_failed_loop),
	};

	return cmocka_run_group_tests_name("uring", tests, NULL, NULL);
}
