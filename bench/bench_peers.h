/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_peers.h — the peers pagebus-bench compares against, driven in the same run:
 * Redis Streams (a redis-server of our own on a Unix socket, spoken to by a minimal
 * RESP client) and ZeroMQ ipc:// sockets (compiled in only where zmq.h is installed).
 * A peer that is not installed is reported missing (-ENOENT), never estimated.
 */
#ifndef PAGEBUS_BENCH_PEERS_H
#define PAGEBUS_BENCH_PEERS_H

#include <stddef.h>
#include <sys/types.h>

#include "bench_hist.h"

struct redis_peer {
	pid_t pid;
	char dir[4096];
	char sock[4200];
};

/* Starts redis-server (no persistence) on a Unix socket in a temp dir; -ENOENT when
 * redis-server is not installed. */
int redis_start(struct redis_peer *r);
/* Stops it and removes its dir. Accepts a peer that never started. */
void redis_stop(struct redis_peer *r);
/* XADD throughput (pipelined, 64 commands in flight) of value_len-byte values for about
 * seconds: msgs/s, or a negative error. The stream is deleted afterwards. */
double redis_xadd_rate(struct redis_peer *r, size_t value_len, double seconds);
/* XREAD throughput of a consumer reading a stream of n value_len-byte entries written
 * beforehand, COUNT 1024 per call: msgs/s, or a negative error. */
double redis_xread_rate(struct redis_peer *r, size_t value_len, long n);
/*
 * End-to-end latency: a producer process XADDs at rate msgs/s (open loop, each value
 * carrying its intended send time) for seconds, a consumer process XREAD BLOCKs; h gets
 * each message's latency from its intended send time, in ns (coordinated omission
 * corrected by construction). 0 or a negative error.
 */
int redis_latency(struct redis_peer *r, size_t value_len, double rate, double seconds,
		  struct bench_hist *h);

/*
 * iceoryx (2.x, C binding): its RouDi daemon is one per machine, started and stopped by
 * iox_start/iox_stop (-ENOENT when not compiled in or not installed, -EBUSY when
 * another RouDi runs).
 */
struct iox_peer {
	pid_t roudi;
	char log[4200];
};
int iox_start(struct iox_peer *x);
void iox_stop(struct iox_peer *x);
/* Publisher and subscriber processes, zero-copy chunks of value_len bytes (written by
 * the publisher), a busy-polling subscriber, nothing lost: msgs/s, or a negative error. */
double iox_pubsub_rate(struct iox_peer *x, size_t value_len, double seconds);

/* ZeroMQ: 1 when compiled in. */
int zmq_available(void);
/* PUSH/PULL over ipc:// between two processes: msgs/s, or -ENOENT when not compiled in. */
double zmq_pushpull_rate(const char *dir, size_t value_len, double seconds);
/* REQ/REP round trip over ipc://: the median in µs, or -ENOENT. */
double zmq_reqrep_rtt_us(const char *dir, size_t value_len, double seconds);

#endif
