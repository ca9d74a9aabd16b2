/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.h — what pagebusd counts and how it is read. The counters live in the
 * broker's own structs (struct bpart, bproducer, broker_stats) and are plain adds on the
 * loop thread where the events happen; this module only formats them, as Prometheus
 * text exposition served at metrics.listen (GET /metrics) by a small HTTP/1.1 handler
 * on the broker's io_uring loop. docs/observability.md lists every metric.
 */
#ifndef PAGEBUS_METRICS_H
#define PAGEBUS_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct broker;

/* ---- what the broker's modules count -------------------------------------------------- */

/* A latency histogram: bucket[i] counts observations <= hist_bounds_ns[i] (and above the
 * bound before it); bucket[HIST_NBOUNDS] counts the rest (+Inf). */
#define HIST_NBOUNDS 18
extern const uint64_t hist_bounds_ns[HIST_NBOUNDS];

struct hist {
	uint64_t bucket[HIST_NBOUNDS + 1];
	uint64_t count;
	uint64_t sum_ns;
};

static inline void hist_observe(struct hist *h, uint64_t ns)
{
	unsigned i = 0;
	while (i < HIST_NBOUNDS && ns > hist_bounds_ns[i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum_ns += ns;
}

/* pagebus_errors_total{kind=...}: one counter per kind, named in metrics.c. */
enum broker_error {
	BERR_REFUSED_BATCH,	/* a producer ring entry answered with an error ack */
	BERR_RING_BROKEN,	/* a ring whose bookkeeping was impossible: session closed */
	BERR_WRITE,		/* a segment write failed: its batches were refused */
	BERR_FSYNC,		/* an fdatasync failed: its durable acks were refused */
	BERR_MALFORMED_REQUEST, /* a local protocol request that did not parse */
	BERR_RETENTION,		/* a retention pass that failed on a partition */
	BERR_NKINDS
};

/* Broker-wide counters (struct broker.stats). */
struct broker_stats {
	struct hist append_latency; /* ring entry drained -> its ack written in the ring */
	struct hist fsync_latency;  /* fdatasync started -> completed */
	uint64_t errors[BERR_NKINDS];
	uint64_t sessions_refused;  /* local connections past max.clients */
};

/* CLOCK_MONOTONIC in ns: the clock of every latency above. */
static inline uint64_t metrics_clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the endpoint ---------------------------------------------------------------------- */

/* Requests one connection may send: larger ones are answered 431 and closed. */
#define METRICS_MAX_REQUEST 8192
/* Connections at the same time; more are closed at once. */
#define METRICS_MAX_CONNECTIONS 16
/* A connection that takes longer than this to send its request (or to take the
 * response) is closed. */
#define METRICS_TIMEOUT_MS 5000

/*
 * Opens the endpoint per metrics.listen (nothing for "off"), logs `metrics endpoint
 * listening on HOST:PORT` and records that address as the line `metrics HOST:PORT` after
 * the pid in DIR/pagebus.lock (where `pagebus top` finds it). An address that cannot be
 * bound is logged as an error and the broker runs without the endpoint: metrics are not
 * worth refusing service for. 0 or -ENOMEM.
 */
int metrics_open(struct broker *b);
/* SIGTERM: stop accepting; connections in progress end with the loop. */
void metrics_stop(struct broker *b);
/* After the loop is gone: closes every connection and frees the endpoint. */
void metrics_close(struct broker *b);

/*
 * The exposition text of everything the broker counts now, in a malloc'd buffer (*out,
 * *len; the caller frees it). 0 or -ENOMEM.
 */
int metrics_format(struct broker *b, char **out, size_t *len);

#endif
