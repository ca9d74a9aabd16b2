/* SPDX-License-Identifier: Apache-2.0 */
/*
 * client.h — libpagebus internals shared by its modules (not installed): the
 * connection, request/reply over the local socket, and futex helpers.
 */
#ifndef PAGEBUS_CLIENT_H
#define PAGEBUS_CLIENT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "control_types.h"
#include "pagebus.h"
#include "protocol.h"

struct pagebus {
	int fd;
	char *dir;
	pthread_mutex_t lock;    /* one request/reply at a time */
	uint32_t next_id;
	void *control;           /* read-only mapping of the control region */
	size_t control_len;
	uint32_t nslots;
	uint32_t broker_pid;
	uint32_t ring_bytes_default;
	uint64_t broker_started_ns;
	uint32_t epoch;          /* bumped by every (re)connect: handles re-open their state */
	void **retired;          /* control mappings of earlier brokers: (addr, len) pairs,
				  * kept until pagebus_close since readers may still look */
	size_t nretired;
	uint8_t buf[PBP_MAX_MSG];
	char last_error[PBP_MAX_STR + 1];
};

/*
 * Sends the request datagram req (len bytes, or len < 0: the encoder's error, returned)
 * and waits for its reply, skipping pushes. *reply reads the reply's payload from
 * pb->buf (valid until the next request); fds[0..*nfds) are the fds it carried, owned
 * by the caller. Returns 0 or -errno (-EPIPE: the broker is gone). pb->lock held.
 */
int pb_call(struct pagebus *pb, const void *req, int len, struct pbp_rbuf *reply, int *fds, int max_fds,
	    int *nfds);
/* parsed < 0: returned. Else records st's message for pagebus_last_error() and returns
 * the broker's status. pb->lock held. */
int pb_status(struct pagebus *pb, const struct pbp_status *st, int parsed);
/*
 * Reads and drops the pushes waiting on the socket (they must not pile up: the broker
 * disconnects a client whose socket is full) and tells whether the broker is still
 * there: 0, or -EPIPE. Takes pb->lock.
 */
int pb_check_alive(struct pagebus *pb);
/* A request whose reply has no fields: 0 or the broker's status. pb->lock held. */
int pb_simple_request(struct pagebus *pb, const uint8_t *req, int len);
/*
 * The broker went away (or restarted): connect again if nobody did since seen_epoch.
 * 0 (pb->epoch moved on) or -errno (-ECONNREFUSED: not back yet). pb->lock held.
 */
int pb_reconnect(struct pagebus *pb, uint32_t seen_epoch);
/* Next request id (pb->lock held). */
uint32_t pb_next_id(struct pagebus *pb);
/* Records a reply's status message as pagebus_last_error() (pb->lock held). */
void pb_set_error(struct pagebus *pb, const struct pbp_status *st);

/*
 * The futex word a caught-up consumer sleeps on (in the control region) and its value
 * now, for waiting on several consumers at once (a group member); NULL when it has no
 * slot. Sample before reading the consumer, so an append in between is not missed.
 */
const uint32_t *pb_consumer_futex(const struct pagebus_consumer *c, uint32_t *val);

/* futex on a shared (not private) word: other processes map it too. */
int pb_futex_wait(const uint32_t *word, uint32_t val, int timeout_ms);
void pb_futex_wake(uint32_t *word);

/* Monotonic clock in microseconds, and wall clock in ms. */
uint64_t pb_now_us(void);
int64_t pb_wall_ms(void);

/* Kafka's murmur2 (the Java client's variant, seed 0x9747b28c) and partition choice. */
uint32_t pb_murmur2(const void *key, size_t len);
static inline int32_t pb_key_partition(const void *key, size_t len, int32_t nparts)
{
	return (int32_t)((pb_murmur2(key, len) & 0x7fffffff) % (uint32_t)nparts);
}

#endif
