/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.h — the broker's configuration: defaults, `key=value` files, command-line flags
 * and per-topic overrides, all driven by one table of keys (config_keys[]) that --help
 * and docs/operations.md are written from. Nothing here prints except config_usage().
 */
#ifndef PAGEBUS_CONFIG_H
#define PAGEBUS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "partition.h"

/* Partitions one topic may have (default.partitions and topic creation). */
#define CONFIG_PARTITIONS_MAX 10000
/* Where the data lives when neither --dir nor $PAGEBUS_DIR says. */
#define CONFIG_DEFAULT_DIR "./pagebus-data"
/* Room for an address value: a 253-byte host name (or a bracketed IPv6), ':' and a port. */
#define CONFIG_ADDR_MAX 264

struct broker_config {
	char *dir;			     /* data directory; NULL until config_parse_args */
	struct log_config log;		     /* broker-wide defaults of the per-topic keys */
	int64_t flush_ms;		     /* 0: durable acks fsync right after their write;
					      * > 0: they wait for a group commit this often */
	uint32_t ring_bytes;		     /* each producer's ring */
	bool auto_create_topics;	     /* produce to an unknown topic creates it */
	int32_t default_partitions;	     /* partitions of an auto-created topic */
	uint32_t max_message_bytes;	     /* largest batch accepted */
	int64_t retention_check_interval_ms; /* how often retention runs */
	int log_level;			     /* enum log_level */
	uint32_t max_partitions;	     /* slots in the control region */
	uint32_t max_clients;		     /* concurrent local sessions */
	uint32_t spin_us;		     /* busy-poll the rings this long before sleeping */
	bool verify_crc;		     /* check each batch's CRC-32C before appending */
	/* the Kafka-protocol endpoint (bus/kafka.c) */
	char kafka_listen[CONFIG_ADDR_MAX];     /* "HOST:PORT" or "off" */
	char kafka_advertised[CONFIG_ADDR_MAX]; /* "HOST:PORT" or "auto" */
	uint32_t kafka_max_request_bytes;       /* larger request frames close the connection */
	uint32_t kafka_max_connections;         /* concurrent Kafka connections */
	uint64_t kafka_send_queue_bytes;        /* response bytes one connection may have queued */
	bool kafka_fetch_copy;                  /* Fetch copies record bytes through user space
						 * instead of splicing them (benchmarks only) */
	char metrics_listen[CONFIG_ADDR_MAX];   /* Prometheus endpoint: "HOST:PORT" or "off" */
	/* the consumer group coordinator (bus/group.c) */
	int64_t group_initial_rebalance_delay_ms; /* an empty group waits this long for more joins */
	int32_t group_min_session_timeout_ms;     /* JoinGroup session timeouts outside these are */
	int32_t group_max_session_timeout_ms;     /* refused (INVALID_SESSION_TIMEOUT) */
};

enum config_type { CONFIG_U32, CONFIG_I32, CONFIG_U64, CONFIG_I64, CONFIG_BOOL, CONFIG_LEVEL, CONFIG_ADDR };

enum config_flags {
	CONFIG_TOPIC = 1 << 0, /* per-topic key: offset is into struct log_config */
	CONFIG_BYTES = 1 << 1, /* a size: accepts a K/M/G (x1024) suffix */
	CONFIG_OFF = 1 << 2,   /* an address that may also be "off" */
	CONFIG_AUTO = 1 << 3,  /* an address that may also be "auto" */
};

/* One key. Integers are checked against min..max (INT64_MAX: no upper bound) and align. */
struct config_key {
	const char *name;
	enum config_type type;
	unsigned flags; /* enum config_flags */
	size_t offset;	/* into struct broker_config, or struct log_config (CONFIG_TOPIC) */
	int64_t min, max;
	uint32_t align;	 /* the value must be a multiple of this (0: any) */
	const char *def; /* default, as text (what config_defaults applies) */
	const char *help;
};

extern const struct config_key config_keys[];
extern const size_t config_nkeys;

/* The key named `name`, or NULL. */
const struct config_key *config_key_find(const char *name);

/* Every field to its default; dir = NULL (config_parse_args sets it). */
void config_defaults(struct broker_config *c);
/* Frees what c owns (dir); c can be reused after config_defaults. */
void config_free(struct broker_config *c);

/*
 * Sets one key from its text. 0, or -EINVAL with a message in err naming the key and
 * what is allowed; c is unchanged on error. err may be NULL (errlen 0).
 */
int config_set(struct broker_config *c, const char *key, const char *value, char *err,
	       size_t errlen);

/*
 * Applies a `key=value` file: one pair per line, whitespace around key and value
 * ignored, blank lines and everything from '#' to the end of the line ignored. All or
 * nothing: on error c is unchanged and err says "<path>:<line>: ...". 0, -EINVAL or
 * -errno when the file cannot be read.
 */
int config_load_file(struct broker_config *c, const char *path, char *err, size_t errlen);

/*
 * pagebusd [--dir DIR] [--config FILE] [--KEY VALUE | --KEY=VALUE ...] [--help] [--version]
 * Config files are applied first (in the order given), then every --KEY flag, whatever
 * their order on the line. DIR: --dir, else $PAGEBUS_DIR, else ./pagebus-data. Returns 0,
 * 1 when --help or --version was printed to stdout (exit 0), or -EINVAL / -errno with
 * err set (c unchanged). Start from config_defaults().
 */
int config_parse_args(struct broker_config *c, int argc, char *const argv[], char *err,
		      size_t errlen);

/* Usage and every key with its type, default and range. */
void config_usage(FILE *f);

/*
 * Applies one per-topic override onto lc (start from the broker's c->log). Only the
 * CONFIG_TOPIC keys are accepted; the result must pass log_config_check. 0 or -EINVAL
 * with err set; lc unchanged on error.
 */
int config_topic_override(struct log_config *lc, const char *key, const char *value, char *err,
			  size_t errlen);

/* Parses a plain decimal integer (no suffix, no spaces): 0, or -EINVAL / -ERANGE. */
int config_parse_i64(const char *s, int64_t *out);

/*
 * Splits an address value "HOST:PORT" (HOST a name, an IPv4 address or a bracketed IPv6
 * address, at most 253 bytes; PORT 0..65535) into host (brackets removed, hostlen >=
 * 254) and *port. 0 or -EINVAL.
 */
int config_parse_addr(const char *s, char *host, size_t hostlen, int *port);

/* Formats a message into err (when err and errlen) and returns code: for `return ...;`. */
int config_errf(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
