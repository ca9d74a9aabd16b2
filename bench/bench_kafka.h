/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_kafka.h — a minimal Kafka Fetch v4 client for pagebus-bench's remote scenario:
 * one loopback TCP connection reading one partition from an offset to an end offset,
 * as a remote consumer would, counting records and bytes.
 */
#ifndef PAGEBUS_BENCH_KAFKA_H
#define PAGEBUS_BENCH_KAFKA_H

#include <stdint.h>

struct kfetch_stats {
	uint64_t msgs;     /* records in the complete batches received */
	uint64_t bytes;    /* records bytes received (batches, partial tails included) */
	uint64_t fetches;
};

/*
 * Fetches topic partition 0 from offset 0 until offset end over a new connection to
 * 127.0.0.1:port, max_bytes per response. 0, or a negative error (-EPROTO: a reply we
 * do not understand or a Kafka error code, -ETIME: no progress for 10 s).
 */
int kafka_fetch_all(int port, const char *topic, int64_t end, int32_t max_bytes, struct kfetch_stats *st);

#endif
