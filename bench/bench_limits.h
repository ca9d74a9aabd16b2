/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_limits.h — the machine's limits, measured by pagebus-bench in the same run as
 * the scenario they bound: memcpy and write(2) bandwidth, cross-process futex and
 * cache-line round trips, sendfile of a page-cached file to a loopback TCP socket.
 * Each measurement runs for about `seconds` (a few repetitions, best kept).
 */
#ifndef PAGEBUS_BENCH_LIMITS_H
#define PAGEBUS_BENCH_LIMITS_H

#include <stddef.h>

/* GB/s copying a buffer larger than the caches (64 MiB; 8 MiB when seconds < 0.1). */
double limit_memcpy_gbps(double seconds);
/* MB/s of write(2) calls of `size` bytes each appending to a fresh file in dir. */
double limit_write_mbps(const char *dir, size_t size, double seconds);
/* Round trip in µs (median) between two processes on different CPUs taking turns
 * with FUTEX_WAIT/FUTEX_WAKE (each side sleeps until woken). */
double limit_futex_rtt_us(double seconds);
/* Round trip in µs (median) of a cache line bounced between two spinning processes
 * on different CPUs. */
double limit_cacheline_rtt_us(double seconds);
/* GB/s of sendfile from a page-cached file in dir to a loopback TCP socket (a child
 * process reads and drops), and of the same with pread + write (copy_gbps, may be NULL). */
double limit_sendfile_gbps(const char *dir, double seconds, double *copy_gbps);

#endif
