// SPDX-License-Identifier: GPL-2.0-only OR Apache-2.0
/*
 * trace.bpf.c — the kernel side of `pagebus trace`: tracepoints only (CO-RE against the
 * running kernel's BTF; kprobes and fentry are not needed), counters only.
 *
 *   io_uring:io_uring_submit_req ──► per opcode: submitted, (write) bytes asked,
 *   io_uring:io_uring_complete        completed, errors, short writes, bytes, latency
 *   io_uring:io_uring_queue_async_work  punted to an io-wq worker
 *   raw_syscalls:sys_exit            bytes by sendfile / splice / read / write
 *   filemap:*, writeback:*, ext4:*   per followed segment file: pages read, mapped,
 *                                    faulted, added (misses vs new tail pages), dirtied,
 *                                    written back
 *
 * The io_uring and syscall events count only for the process target_tgid (its rings are
 * learnt from its own submissions); the page-cache events only for the inodes user space
 * put in `files` (the data dir's segment files), whoever causes them: consumers fault
 * the pages in, the flusher writes them back. Dual-licensed so the kernel takes it as
 * GPL (the tracing helpers need that).
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "trace.h"

#define CQE_F_MORE (1u << 1) /* IORING_CQE_F_MORE: more CQEs of this request follow */

/* include/uapi/linux/io_uring.h opcodes whose completion is a count of bytes written */
#define OP_WRITEV 2
#define OP_WRITE_FIXED 5
#define OP_WRITE 23
#define OP_WRITEV_FIXED 61

const volatile __u32 target_tgid = 0;

struct trace_op ops[TRACE_NOPS] = {};
__u64 sc_bytes[TRACE_NSC] = {};
__u64 sc_calls[TRACE_NSC] = {};

/* The traced process's rings (struct io_ring_ctx *), learnt from its submissions. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u8);
} rings SEC(".maps");

struct inflight {
	__u64 ts;    /* submission, bpf_ktime_get_ns() */
	__u64 asked; /* bytes a write asked for; 0 otherwise */
};

/* Requests in flight (struct io_kiocb *): long multishot ones may fall out (LRU). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct inflight);
} reqs SEC(".maps");

/* The followed files, by inode: filled (and refilled as segments roll) by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TRACE_MAX_FILES);
	__type(key, __u64);
	__type(value, struct trace_file);
} files SEC(".maps");

/*
 * Folios added to followed files and not dirtied yet, with their page counts. An append
 * adds its new tail folio and dirties it at once, though not always from the same task:
 * io_uring first tries the write in the broker's thread (IOCB_NOWAIT), which may add the
 * folio and then punt the write to an io-wq worker, which dirties it. Readers' folios
 * stay here until the LRU drops them.
 */
struct folio_key {
	__u64 ino, index;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct folio_key);
	__type(value, __u64);
} adds SEC(".maps");

/* Per task: the read in progress, whose batches come as several get_pages events. */
struct read_cursor {
	__u64 ino, last, index;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct read_cursor);
} reads SEC(".maps");

static __always_inline bool traced(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

static __always_inline __u32 tid(void)
{
	return (__u32)bpf_get_current_pid_tgid();
}

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0, shift;
	shift = (v > 0xffffffffull) << 5;
	v >>= shift;
	r |= shift;
	shift = (v > 0xffff) << 4;
	v >>= shift;
	r |= shift;
	shift = (v > 0xff) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xf) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	return r | (__u32)(v >> 1);
}

static __always_inline bool is_write(__u8 op)
{
	return op == OP_WRITEV || op == OP_WRITE || op == OP_WRITE_FIXED || op == OP_WRITEV_FIXED;
}

/* The bytes a write asks for: its iov_iter, imported at prep (before submit_req). */
static __always_inline __u64 write_len(void *req)
{
	struct io_async_rw *rw = BPF_CORE_READ((struct io_kiocb *)req, async_data);
	return rw ? BPF_CORE_READ(rw, iter.count) : 0;
}

SEC("tp/io_uring/io_uring_submit_req")
int submit_req(struct trace_event_raw_io_uring_submit_req *ctx)
{
	if (!traced())
		return 0;
	__u64 ring = (__u64)ctx->ctx, req = (__u64)ctx->req;
	__u8 op = ctx->opcode, one = 1;
	if (!bpf_map_lookup_elem(&rings, &ring))
		bpf_map_update_elem(&rings, &ring, &one, BPF_ANY);
	__sync_fetch_and_add(&ops[op].submitted, 1);
	struct inflight f = { bpf_ktime_get_ns(), is_write(op) ? write_len(ctx->req) : 0 };
	bpf_map_update_elem(&reqs, &req, &f, BPF_ANY);
	return 0;
}

SEC("tp/io_uring/io_uring_complete")
int complete(struct trace_event_raw_io_uring_complete *ctx)
{
	__u64 ring = (__u64)ctx->ctx, req = (__u64)ctx->req;
	if (!bpf_map_lookup_elem(&rings, &ring) || !req)
		return 0;
	__u8 op = BPF_CORE_READ((struct io_kiocb *)ctx->req, opcode);
	struct trace_op *o = &ops[op];
	int res = ctx->res;
	__sync_fetch_and_add(&o->completed, 1);
	if (res < 0)
		__sync_fetch_and_add(&o->errors, 1);
	else
		__sync_fetch_and_add(&o->bytes, (__u64)res);
	struct inflight *f = bpf_map_lookup_elem(&reqs, &req);
	if (!f)
		return 0;
	if (f->asked && res >= 0 && (__u64)res < f->asked)
		__sync_fetch_and_add(&o->short_writes, 1);
	if (ctx->cflags & CQE_F_MORE)
		return 0; /* a multishot request goes on: timed at its last CQE */
	__u64 ns = bpf_ktime_get_ns() - f->ts;
	__u32 b = log2_u64(ns);
	if (b >= TRACE_NHIST)
		b = TRACE_NHIST - 1;
	__sync_fetch_and_add(&o->timed, 1);
	__sync_fetch_and_add(&o->lat_sum_ns, ns);
	__sync_fetch_and_add(&o->hist[b], 1);
	if (ns > o->lat_max_ns)
		o->lat_max_ns = ns; /* racy between CPUs; a maximum, not a count */
	bpf_map_delete_elem(&reqs, &req);
	return 0;
}

SEC("tp/io_uring/io_uring_queue_async_work")
int queue_async_work(struct trace_event_raw_io_uring_queue_async_work *ctx)
{
	__u64 ring = (__u64)ctx->ctx;
	if (!bpf_map_lookup_elem(&rings, &ring))
		return 0;
	__u8 op = ctx->opcode;
	__sync_fetch_and_add(&ops[op].punted, 1);
	return 0;
}

SEC("tp/raw_syscalls/sys_exit")
int sys_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (!traced() || ctx->ret <= 0)
		return 0;
	int c;
	switch (ctx->id) {
#if defined(__TARGET_ARCH_x86)
	case 40: /* sendfile */
		c = TRACE_SC_SENDFILE;
		break;
	case 275: /* splice */
	case 276: /* tee */
	case 278: /* vmsplice */
	case 326: /* copy_file_range */
		c = TRACE_SC_SPLICE;
		break;
	case 0:	  /* read */
	case 17:  /* pread64 */
	case 19:  /* readv */
	case 45:  /* recvfrom */
	case 47:  /* recvmsg */
	case 295: /* preadv */
	case 327: /* preadv2 */
		c = TRACE_SC_READ;
		break;
	case 1:	  /* write */
	case 18:  /* pwrite64 */
	case 20:  /* writev */
	case 44:  /* sendto */
	case 46:  /* sendmsg */
	case 296: /* pwritev */
	case 328: /* pwritev2 */
		c = TRACE_SC_WRITE;
		break;
#endif
	default:
		return 0;
	}
	__sync_fetch_and_add(&sc_bytes[c], (__u64)ctx->ret);
	__sync_fetch_and_add(&sc_calls[c], 1);
	return 0;
}

/* The followed file of (ino, dev), or NULL. */
static __always_inline struct trace_file *file_of(__u64 ino, __u32 dev)
{
	struct trace_file *f = bpf_map_lookup_elem(&files, &ino);
	return f && f->dev == dev ? f : NULL;
}

SEC("tp/filemap/mm_filemap_get_pages")
int get_pages(struct trace_event_raw_mm_filemap_op_page_cache_range *ctx)
{
	__u64 ino = ctx->i_ino, index = ctx->index, last = ctx->last_index;
	struct trace_file *f = file_of(ino, ctx->s_dev);
	if (!f || last < index)
		return 0;
	__u32 t = tid();
	struct read_cursor *c = bpf_map_lookup_elem(&reads, &t);
	if (c && c->ino == ino && c->last == last && index > c->index && index <= last) {
		c->index = index; /* the next batch of a read already counted */
		return 0;
	}
	struct read_cursor nc = { ino, last, index };
	bpf_map_update_elem(&reads, &t, &nc, BPF_ANY);
	__sync_fetch_and_add(&f->read_pages, last - index + 1);
	return 0;
}

SEC("tp/filemap/mm_filemap_map_pages")
int map_pages(struct trace_event_raw_mm_filemap_op_page_cache_range *ctx)
{
	__u64 index = ctx->index, last = ctx->last_index;
	struct trace_file *f = file_of(ctx->i_ino, ctx->s_dev);
	if (f && last >= index)
		__sync_fetch_and_add(&f->mapped_pages, last - index + 1);
	return 0;
}

SEC("tp/filemap/mm_filemap_fault")
int filemap_fault(struct trace_event_raw_mm_filemap_fault *ctx)
{
	struct trace_file *f = file_of(ctx->i_ino, ctx->s_dev);
	if (f)
		__sync_fetch_and_add(&f->faults, 1);
	return 0;
}

SEC("tp/filemap/mm_filemap_add_to_page_cache")
int add_to_page_cache(struct trace_event_raw_mm_filemap_op_page_cache *ctx)
{
	__u64 ino = ctx->i_ino;
	struct trace_file *f = file_of(ino, ctx->s_dev);
	if (!f)
		return 0;
	__u64 pages = 1;
	if (bpf_core_field_exists(ctx->order))
		pages = 1ull << (ctx->order & 31);
	__sync_fetch_and_add(&f->added_pages, pages);
	struct folio_key k = { ino, ctx->index };
	bpf_map_update_elem(&adds, &k, &pages, BPF_ANY);
	return 0;
}

/* A folio dirtied after it was added: a write's new page, not a miss. */
SEC("tp/writeback/writeback_dirty_folio")
int dirty_folio(struct trace_event_raw_writeback_folio_template *ctx)
{
	__u64 ino = ctx->ino;
	struct trace_file *f = bpf_map_lookup_elem(&files, &ino); /* no dev in this event */
	if (!f)
		return 0;
	__sync_fetch_and_add(&f->dirtied, 1);
	struct folio_key k = { ino, ctx->index };
	__u64 *pages = bpf_map_lookup_elem(&adds, &k);
	if (pages) {
		__sync_fetch_and_add(&f->new_pages, *pages);
		bpf_map_delete_elem(&adds, &k);
	}
	return 0;
}

SEC("tp/ext4/ext4_writepages_result")
int ext4_writepages_result(struct trace_event_raw_ext4_writepages_result *ctx)
{
	struct trace_file *f = file_of(ctx->ino, ctx->dev);
	if (f && ctx->pages_written > 0)
		__sync_fetch_and_add(&f->written_ext4, (__u64)ctx->pages_written);
	return 0;
}

SEC("tp/writeback/writeback_single_inode")
int writeback_single_inode(struct trace_event_raw_writeback_single_inode_template *ctx)
{
	__u64 ino = ctx->ino;
	struct trace_file *f = bpf_map_lookup_elem(&files, &ino);
	if (f && ctx->wrote)
		__sync_fetch_and_add(&f->written_inode, ctx->wrote);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
