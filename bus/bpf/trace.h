/* SPDX-License-Identifier: Apache-2.0 */
/*
 * trace.h — what the BPF programs of `pagebus trace` (trace.bpf.c) count and the user
 * side (trace.c) reads: fixed-width counters only, in the programs' .bss (per io_uring
 * opcode, per syscall class) and in one hash map per segment file (key: inode). The
 * kernel side adds with atomic adds; the user side takes a snapshot each second and
 * prints differences, so nothing is queued and nothing can be lost.
 */
#ifndef PAGEBUS_BPF_TRACE_H
#define PAGEBUS_BPF_TRACE_H

#ifndef __bpf__
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#endif

#define TRACE_NOPS 256	  /* every u8 opcode has a slot */
#define TRACE_NHIST 32	  /* latency buckets: [2^i, 2^(i+1)) ns, the last open-ended */
#define TRACE_MAX_FILES 65536 /* segment files followed at once */

/* One io_uring opcode of the traced process's rings. */
struct trace_op {
	uint64_t submitted;    /* io_uring:io_uring_submit_req */
	uint64_t completed;    /* io_uring:io_uring_complete (every CQE, multishot included) */
	uint64_t punted;	    /* io_uring:io_uring_queue_async_work: handed to an io-wq worker */
	uint64_t errors;	    /* completions with res < 0 */
	uint64_t short_writes; /* WRITE/WRITEV done with 0 <= res < the bytes asked */
	uint64_t bytes;	    /* sum of res >= 0 (a byte count for data opcodes only) */
	uint64_t timed;	    /* final completions whose submission was seen: in lat_* */
	uint64_t lat_sum_ns;
	uint64_t lat_max_ns;
	uint64_t hist[TRACE_NHIST];
};

/* Bytes the traced process moved with syscalls, by how (x86-64 syscall numbers). */
enum trace_sc {
	TRACE_SC_SENDFILE, /* sendfile: page references to the socket, no copy */
	TRACE_SC_SPLICE,   /* splice, tee, vmsplice, copy_file_range */
	TRACE_SC_READ,	   /* read, pread, readv, recv*: copied into user space */
	TRACE_SC_WRITE,	   /* write, pwrite, writev, send*: copied from user space */
	TRACE_NSC
};

/* One followed file (a segment's .log); the key is its inode number. */
struct trace_file {
	uint32_t dev;	     /* the kernel's dev_t (major << 20 | minor): events of other
			      * file systems with the same inode number are ignored */
	uint32_t pad;
	uint64_t read_pages;    /* pages asked for by read/splice/sendfile (each read once) */
	uint64_t mapped_pages;  /* pages of fault-around windows over mappings (map_pages) */
	uint64_t faults;	     /* page faults that needed filemap_fault */
	uint64_t added_pages;   /* pages added to the page cache */
	uint64_t new_pages;     /* of those, dirtied after they were added: appends */
	uint64_t dirtied;	     /* folios dirtied (writeback_dirty_folio) */
	uint64_t written_ext4;  /* pages written back (ext4_writepages_result) */
	uint64_t written_inode; /* pages written by a writeback pass (writeback_single_inode) */
};

#ifndef __bpf__
/* `pagebus trace`: what to trace and for how long. */
struct trace_opts {
	const char *dir; /* the data dir: its segment files are followed */
	int pid;	 /* the process whose io_uring and syscalls are traced */
	int seconds;	 /* 0: until SIGINT/SIGTERM */
	bool quiet;	 /* the summary only, no per-second lines */
};

/*
 * Whether this machine can trace: root, the kernel's BTF, tracefs (mounted at
 * /sys/kernel/tracing when missing). 0, or 2 after one line on stderr saying why not.
 */
int trace_check(void);

/*
 * trace_check, then loads the programs, attaches them, prints a line per second and a
 * summary at the end. The exit status: 0; 1 when the process is not there or a program
 * does not load; 2 as trace_check.
 */
int trace_run(const struct trace_opts *o);
#endif

#endif
