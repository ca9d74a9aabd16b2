/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_fetch.h — Fetch v4: record ranges of whole batches, chosen by the size limits
 * and sent by the send path as pieces spliced from the segment files; long polls wait
 * for the partitions' appends (writer.c's hook) or max_wait_ms, never by polling.
 */
#ifndef PAGEBUS_KAFKA_FETCH_H
#define PAGEBUS_KAFKA_FETCH_H

#include <stdbool.h>

#include "kafka.h"
#include "kafka_request.h"

/* The Fetch handler of kafka_api.c's table (it takes the request's topic names): 0
 * (answered or waiting) or -errno. */
int kafka_fetch_request(struct kconn *c, struct kafka_request *req);
/* A partition with waiting Fetches got new data: they are re-evaluated next turn. */
void kafka_fetch_wake(struct kafka *k, const struct bpart *bp);
/* Re-evaluates woken Fetches; true when any was. */
bool kafka_fetch_turn(struct kafka *k);
/* Frees every Fetch state left (after the loop is gone). */
void kafka_fetch_free_all(struct kafka *k);

#endif
