/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_config.c — the broker configuration: defaults and the key table, every key set and
 * read back, value errors that name the key, config files, pagebusd's command line
 * (precedence, flag forms, $PAGEBUS_DIR, --help) and per-topic overrides.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "logging.h"
#include "partition.h"
#include "testutil.h"

struct fixture {
	char *root;
	struct broker_config c;
	char err[256];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->root = tu_tmpdir("config");
	config_defaults(&f->c);
	unsetenv("PAGEBUS_DIR");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	config_free(&f->c);
	tu_rmrf(f->root);
	free(f->root);
	free(f);
	return 0;
}

/* Writes text to <root>/<name>; returns the path (static buffer). */
static const char *write_conf(struct fixture *f, const char *name, const char *text)
{
	static char path[4096];
	snprintf(path, sizeof(path), "%s/%s", f->root, name);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	return path;
}

/* Field-by-field, since struct copies need not carry padding. */
static void assert_config_equal(const struct broker_config *a, const struct broker_config *b)
{
	assert_int_equal(a->log.segment_bytes, b->log.segment_bytes);
	assert_int_equal(a->log.segment_ms, b->log.segment_ms);
	assert_int_equal(a->log.index_interval_bytes, b->log.index_interval_bytes);
	assert_int_equal(a->log.retention_bytes, b->log.retention_bytes);
	assert_int_equal(a->log.retention_ms, b->log.retention_ms);
	assert_int_equal(a->log.preallocate, b->log.preallocate);
	assert_int_equal(a->flush_ms, b->flush_ms);
	assert_int_equal(a->ring_bytes, b->ring_bytes);
	assert_int_equal(a->auto_create_topics, b->auto_create_topics);
	assert_int_equal(a->default_partitions, b->default_partitions);
	assert_int_equal(a->max_message_bytes, b->max_message_bytes);
	assert_int_equal(a->retention_check_interval_ms, b->retention_check_interval_ms);
	assert_int_equal(a->log_level, b->log_level);
	assert_int_equal(a->max_partitions, b->max_partitions);
	assert_int_equal(a->max_clients, b->max_clients);
	assert_int_equal(a->spin_us, b->spin_us);
	assert_int_equal(a->verify_crc, b->verify_crc);
	assert_string_equal(a->kafka_listen, b->kafka_listen);
	assert_string_equal(a->kafka_advertised, b->kafka_advertised);
	assert_int_equal(a->kafka_max_request_bytes, b->kafka_max_request_bytes);
	assert_int_equal(a->kafka_max_connections, b->kafka_max_connections);
	assert_int_equal(a->kafka_send_queue_bytes, b->kafka_send_queue_bytes);
	assert_int_equal(a->kafka_fetch_copy, b->kafka_fetch_copy);
	assert_string_equal(a->metrics_listen, b->metrics_listen);
	assert_int_equal(a->group_initial_rebalance_delay_ms, b->group_initial_rebalance_delay_ms);
	assert_int_equal(a->group_min_session_timeout_ms, b->group_min_session_timeout_ms);
	assert_int_equal(a->group_max_session_timeout_ms, b->group_max_session_timeout_ms);
}

static void set_ok(struct fixture *f, const char *key, const char *value)
{
	int r = config_set(&f->c, key, value, f->err, sizeof(f->err));
	if (r)
		fail_msg("%s=%s: %s", key, value, f->err);
}

static void test_config_defaults_are_the_documented_ones(void **state)
{
	struct fixture *f = *state;
	struct broker_config want = {
		.flush_ms = 0,
		.ring_bytes = 8 << 20,
		.auto_create_topics = true,
		.default_partitions = 1,
		.max_message_bytes = 1048588,
		.retention_check_interval_ms = 300000,
		.log_level = LOG_INFO,
		.max_partitions = 4096,
		.max_clients = 1024,
		.spin_us = 50,
		.verify_crc = true,
		.kafka_listen = "127.0.0.1:9092",
		.kafka_advertised = "auto",
		.kafka_max_request_bytes = 100 << 20,
		.kafka_max_connections = 1024,
		.kafka_send_queue_bytes = 128 << 20,
		.kafka_fetch_copy = false,
		.metrics_listen = "127.0.0.1:9464",
		.group_initial_rebalance_delay_ms = 3000,
		.group_min_session_timeout_ms = 6000,
		.group_max_session_timeout_ms = 1800000,
	};
	log_config_defaults(&want.log);
	assert_null(f->c.dir);
	assert_config_equal(&f->c, &want);
}

/* The table's default texts are what config_defaults and log_config_defaults give. */
static void test_config_table_defaults_parse_to_the_defaults(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(config_nkeys, 27);
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		struct broker_config c;
		config_defaults(&c);
		assert_ptr_equal(config_key_find(k->name), k);
		assert_non_null(k->help);
		assert_int_equal(config_set(&c, k->name, k->def, f->err, sizeof(f->err)), 0);
		assert_config_equal(&c, &f->c);
		/* ranges fit the field */
		if (k->type == CONFIG_U32 || k->type == CONFIG_U64)
			assert_true(k->min >= 0);
		if (k->type == CONFIG_U32)
			assert_true(k->max <= UINT32_MAX);
		if (k->type == CONFIG_I32)
			assert_true(k->min >= INT32_MIN && k->max <= INT32_MAX);
	}
	assert_null(config_key_find("nope"));
}

static void test_config_sets_and_reads_back_every_key(void **state)
{
	struct fixture *f = *state;
	static const char *const kv[][2] = {
		{ "segment.bytes", "1048576" },
		{ "segment.ms", "60000" },
		{ "index.interval.bytes", "8192" },
		{ "retention.bytes", "1000000000" },
		{ "retention.ms", "3600000" },
		{ "segment.preallocate", "true" },
		{ "flush.ms", "5" },
		{ "ring.bytes", "65536" },
		{ "auto.create.topics", "false" },
		{ "default.partitions", "10000" },
		{ "max.message.bytes", "4096" },
		{ "retention.check.interval.ms", "1000" },
		{ "log.level", "debug" },
		{ "max.partitions", "1000000" },
		{ "max.clients", "7" },
		{ "spin.us", "0" },
		{ "verify.crc", "FALSE" },
		{ "kafka.listen", "[::1]:0" },
		{ "kafka.advertised", "kafka.example.com:19092" },
		{ "kafka.max.request.bytes", "1M" },
		{ "kafka.max.connections", "3" },
		{ "kafka.send.queue.bytes", "4G" },
		{ "kafka.fetch.copy", "true" },
		{ "metrics.listen", "off" },
		{ "group.initial.rebalance.delay.ms", "0" },
		{ "group.min.session.timeout.ms", "1000" },
		{ "group.max.session.timeout.ms", "60000" },
	};
	struct broker_config want = {
		.log = { .segment_bytes = 1048576,
			 .segment_ms = 60000,
			 .index_interval_bytes = 8192,
			 .retention_bytes = 1000000000,
			 .retention_ms = 3600000,
			 .preallocate = true },
		.flush_ms = 5,
		.ring_bytes = 65536,
		.auto_create_topics = false,
		.default_partitions = 10000,
		.max_message_bytes = 4096,
		.retention_check_interval_ms = 1000,
		.log_level = LOG_DEBUG,
		.max_partitions = 1000000,
		.max_clients = 7,
		.spin_us = 0,
		.verify_crc = false,
		.kafka_listen = "[::1]:0",
		.kafka_advertised = "kafka.example.com:19092",
		.kafka_max_request_bytes = 1 << 20,
		.kafka_max_connections = 3,
		.kafka_send_queue_bytes = 4ull << 30,
		.kafka_fetch_copy = true,
		.metrics_listen = "off",
		.group_initial_rebalance_delay_ms = 0,
		.group_min_session_timeout_ms = 1000,
		.group_max_session_timeout_ms = 60000,
	};
	assert_int_equal(sizeof(kv) / sizeof(kv[0]), config_nkeys); /* every key */
	for (size_t i = 0; i < config_nkeys; i++)
		set_ok(f, kv[i][0], kv[i][1]);
	assert_config_equal(&f->c, &want);
	set_ok(f, "log.level", "error");
	set_ok(f, "retention.ms", "-1");
	set_ok(f, "retention.bytes", "-1");
	assert_int_equal(f->c.log_level, LOG_ERROR);
	assert_int_equal(f->c.log.retention_ms, -1);
	assert_int_equal(f->c.log.retention_bytes, -1);
}

static void test_config_size_suffixes_only_on_byte_keys(void **state)
{
	struct fixture *f = *state;
	set_ok(f, "segment.bytes", "64K");
	assert_int_equal(f->c.log.segment_bytes, 64 << 10);
	set_ok(f, "ring.bytes", "16m");
	assert_int_equal(f->c.ring_bytes, 16 << 20);
	set_ok(f, "retention.bytes", "3G");
	assert_int_equal(f->c.log.retention_bytes, 3ll << 30);
	set_ok(f, "max.message.bytes", "2M");
	assert_int_equal(f->c.max_message_bytes, 2 << 20);
	set_ok(f, "index.interval.bytes", "1k");
	assert_int_equal(f->c.log.index_interval_bytes, 1024);

	assert_int_equal(config_set(&f->c, "segment.ms", "1K", f->err, sizeof(f->err)), -EINVAL);
	assert_string_equal(
		f->err,
		"segment.ms: '1K' is not a number (K/M/G suffixes are only for byte sizes)");
	assert_int_equal(config_set(&f->c, "max.clients", "1M", f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "max.clients"));
	assert_int_equal(config_set(&f->c, "segment.bytes", "1T", f->err, sizeof(f->err)), -EINVAL);
	assert_int_equal(config_set(&f->c, "segment.bytes", "1KB", f->err, sizeof(f->err)),
			 -EINVAL);
}

/* key=value must fail with -EINVAL, a message naming the key (and `want` when given), and
 * leave the configuration as it was. */
static void set_fails(struct fixture *f, const char *key, const char *value, const char *want)
{
	struct broker_config before = f->c;
	f->err[0] = '\0';
	assert_int_equal(config_set(&f->c, key, value, f->err, sizeof(f->err)), -EINVAL);
	if (!strstr(f->err, key) || (want && !strstr(f->err, want)))
		fail_msg("%s=%s: message '%s' should name the key and say '%s'", key, value, f->err,
			 want ? want : "");
	assert_config_equal(&f->c, &before);
}

static void test_config_bad_values_name_the_key_and_change_nothing(void **state)
{
	struct fixture *f = *state;
	set_fails(f, "segment.bytes", "12x", "segment.bytes: '12x' is not a number");
	set_fails(f, "segment.bytes", "", "is not a number");
	set_fails(f, "segment.bytes", " 12", "is not a number");
	set_fails(f, "segment.bytes", "+12", "is not a number");
	set_fails(f, "segment.bytes", "0x1000", "is not a number");
	set_fails(f, "segment.bytes", "-", "is not a number");
	set_fails(f, "segment.bytes", "1024",
		  "segment.bytes: '1024' is out of range (4K..2147483647)");
	set_fails(f, "segment.bytes", "2G", "out of range");
	set_fails(f, "segment.ms", "0", "out of range (1..)");
	set_fails(f, "segment.ms", "99999999999999999999", "out of range");
	set_fails(f, "retention.bytes", "8589934592G", "out of range");
	set_fails(f, "retention.ms", "-2", "out of range (-1..)");
	set_fails(f, "index.interval.bytes", "0", "out of range");
	set_fails(f, "flush.ms", "-1", "out of range (0..3600000)");
	set_fails(f, "ring.bytes", "32K", "out of range (64K..1G, multiple of 4096)");
	set_fails(f, "ring.bytes", "2G", "out of range");
	set_fails(f, "ring.bytes", "65537", "ring.bytes: '65537' is not a multiple of 4096");
	set_fails(f, "default.partitions", "0", "out of range (1..10000)");
	set_fails(f, "default.partitions", "10001", "out of range");
	set_fails(f, "max.message.bytes", "60", "out of range (61..1G)");
	set_fails(f, "max.partitions", "1000001", "out of range");
	set_fails(f, "max.clients", "0", "out of range");
	set_fails(f, "spin.us", "100001", "out of range (0..100000)");
	set_fails(f, "retention.check.interval.ms", "0", "out of range");
	set_fails(f, "verify.crc", "yes", "verify.crc: 'yes' is not a bool (true or false)");
	set_fails(f, "auto.create.topics", "1", "not a bool");
	set_fails(f, "segment.preallocate", "", "not a bool");
	set_fails(f, "log.level", "loud", "log.level: 'loud' is not a log level");
	set_fails(f, "kafka.listen", "9092", "kafka.listen: '9092' is not an address (HOST:PORT|off");
	set_fails(f, "kafka.listen", "localhost:65536", "not an address");
	set_fails(f, "kafka.listen", "localhost:-1", "not an address");
	set_fails(f, "kafka.listen", ":9092", "not an address");
	set_fails(f, "kafka.listen", "::1:9092", "not an address");
	set_fails(f, "kafka.listen", "auto", "not an address");
	set_fails(f, "kafka.advertised", "off", "(HOST:PORT|auto;");
	set_fails(f, "metrics.listen", "9464", "metrics.listen: '9464' is not an address (HOST:PORT|off");
	set_fails(f, "metrics.listen", "auto", "not an address");
	set_fails(f, "kafka.max.request.bytes", "1K", "out of range (64K..1G)");
	set_fails(f, "kafka.max.connections", "0", "out of range");

	struct broker_config before = f->c;
	assert_int_equal(config_set(&f->c, "foo", "1", f->err, sizeof(f->err)), -EINVAL);
	assert_string_equal(f->err, "unknown config key 'foo'");
	assert_int_equal(config_set(&f->c, "Segment.Bytes", "1G", f->err, sizeof(f->err)), -EINVAL);
	assert_config_equal(&f->c, &before);
	/* no message buffer: still an error, no crash */
	assert_int_equal(config_set(&f->c, "foo", "1", NULL, 0), -EINVAL);
}

static void test_config_file_with_comments_and_whitespace(void **state)
{
	struct fixture *f = *state;
	const char *path = write_conf(f, "pagebus.conf",
				      "# pagebus test config\n"
				      "\n"
				      "segment.bytes=2M\n"
				      "   retention.ms   =   1000   \n"
				      "\tflush.ms\t=\t10\t# group commit every 10 ms\n"
				      "verify.crc = false\r\n"
				      "    # indented comment\n"
				      "log.level=warn\n"
				      "retention.ms=2000\n" /* later lines win */
				      "spin.us=7");	    /* no final newline */
	assert_int_equal(config_load_file(&f->c, path, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->c.log.segment_bytes, 2 << 20);
	assert_int_equal(f->c.log.retention_ms, 2000);
	assert_int_equal(f->c.flush_ms, 10);
	assert_false(f->c.verify_crc);
	assert_int_equal(f->c.log_level, LOG_WARN);
	assert_int_equal(f->c.spin_us, 7);

	path = write_conf(f, "empty.conf", "");
	assert_int_equal(config_load_file(&f->c, path, f->err, sizeof(f->err)), 0);
}

static void test_config_file_errors_name_file_and_line_and_change_nothing(void **state)
{
	struct fixture *f = *state;
	char want[4096 + 64];
	struct broker_config before = f->c;
	const char *path = write_conf(f, "bad.conf",
				      "# ok so far\n"
				      "segment.bytes=2M\n"
				      "\n"
				      "segment.ms=12x\n");
	assert_int_equal(config_load_file(&f->c, path, f->err, sizeof(f->err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:4: segment.ms: '12x' is not a number", path);
	assert_string_equal(f->err, want);
	assert_config_equal(&f->c, &before); /* line 2 was not kept */

	path = write_conf(f, "noeq.conf", "flush.ms 5\n");
	assert_int_equal(config_load_file(&f->c, path, f->err, sizeof(f->err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:1: expected key=value, got 'flush.ms 5'", path);
	assert_string_equal(f->err, want);

	path = write_conf(f, "unknown.conf", "flush.ms=5\nfoo.bar = 1\n");
	assert_int_equal(config_load_file(&f->c, path, f->err, sizeof(f->err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: unknown config key 'foo.bar'", path);
	assert_string_equal(f->err, want);
	assert_config_equal(&f->c, &before);

	snprintf(want, sizeof(want), "%s/missing.conf", f->root);
	assert_int_equal(config_load_file(&f->c, want, f->err, sizeof(f->err)), -ENOENT);
	assert_non_null(strstr(f->err, "missing.conf"));
}

#define ARGV(...) ((char *const[]){ "pagebusd", __VA_ARGS__ })
#define ARGC(...) ((int)(sizeof((char *[]){ "pagebusd", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(f, ...)                                                                              \
	config_parse_args(&(f)->c, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (f)->err, sizeof((f)->err))

static void test_config_flags_override_the_file_whatever_the_order(void **state)
{
	struct fixture *f = *state;
	char path[4096];
	snprintf(path, sizeof(path), "%s",
		 write_conf(f, "p.conf", "segment.ms=9\nflush.ms=7\nspin.us=3\n"));

	assert_int_equal(PARSE(f, "--segment.ms", "5", "--config", path, "--spin.us=4"), 0);
	assert_int_equal(f->c.log.segment_ms, 5);
	assert_int_equal(f->c.flush_ms, 7);
	assert_int_equal(f->c.spin_us, 4);

	config_free(&f->c);
	config_defaults(&f->c);
	assert_int_equal(PARSE(f, "--config", path, "--segment.ms=6"), 0);
	assert_int_equal(f->c.log.segment_ms, 6);
	assert_int_equal(f->c.spin_us, 3);

	/* two files: in order, both before the flags */
	config_free(&f->c);
	config_defaults(&f->c);
	char second[4096];
	snprintf(second, sizeof(second), "%s", write_conf(f, "q.conf", "spin.us=11\n"));
	assert_int_equal(PARSE(f, "--spin.us=1", "--config", path,
			       "--config="
			       "x",
			       "--dir", "d"),
			 -ENOENT); /* "x" is missing */
	assert_non_null(strstr(f->err, "x: "));
	assert_int_equal(f->c.spin_us, 50); /* unchanged on error */
	assert_null(f->c.dir);
	assert_int_equal(PARSE(f, "--config", path, "--config", second), 0);
	assert_int_equal(f->c.spin_us, 11);
	assert_int_equal(f->c.flush_ms, 7);
}

static void test_config_flag_forms_and_errors(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(PARSE(f, "--retention.ms", "-1", "--retention.bytes=1G", "--verify.crc",
			       "false", "--log.level=debug", "--dir=/tmp/x"),
			 0);
	assert_int_equal(f->c.log.retention_ms, -1);
	assert_int_equal(f->c.log.retention_bytes, 1 << 30);
	assert_false(f->c.verify_crc);
	assert_int_equal(f->c.log_level, LOG_DEBUG);
	assert_string_equal(f->c.dir, "/tmp/x");
	/* a value that contains '=' after the first one */
	assert_int_equal(PARSE(f, "--dir=a=b"), 0);
	assert_string_equal(f->c.dir, "a=b");

	assert_int_equal(PARSE(f, "--segment.ms"), -EINVAL);
	assert_string_equal(f->err, "--segment.ms needs a value");
	assert_int_equal(PARSE(f, "--nope", "1"), -EINVAL);
	assert_string_equal(f->err, "unknown option '--nope' (see --help)");
	assert_int_equal(PARSE(f, "stray"), -EINVAL);
	assert_string_equal(f->err, "unexpected argument 'stray' (see --help)");
	assert_int_equal(PARSE(f, "-x"), -EINVAL);
	assert_int_equal(PARSE(f, "--"), -EINVAL);
	assert_int_equal(PARSE(f, "--help=1"), -EINVAL);
	assert_int_equal(PARSE(f, "--ring.bytes=1000"), -EINVAL);
	assert_string_equal(f->err,
			    "ring.bytes: '1000' is out of range (64K..1G, multiple of 4096)");
	assert_int_equal(PARSE(f, "--config"), -EINVAL);
	assert_string_equal(f->c.dir, "a=b"); /* errors leave c as it was */
	assert_int_equal(f->c.log_level, LOG_DEBUG);
}

static void test_config_dir_from_flag_then_env_then_default(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(PARSE(f, "--spin.us", "1"), 0);
	assert_string_equal(f->c.dir, CONFIG_DEFAULT_DIR);
	assert_string_equal(f->c.dir, "./pagebus-data");
	setenv("PAGEBUS_DIR", "/var/lib/pagebus", 1);
	assert_int_equal(PARSE(f, "--spin.us", "1"), 0);
	assert_string_equal(f->c.dir, "/var/lib/pagebus");
	assert_int_equal(PARSE(f, "--dir", "/srv/bus"), 0);
	assert_string_equal(f->c.dir, "/srv/bus");
	setenv("PAGEBUS_DIR", "", 1); /* empty = unset */
	assert_int_equal(config_parse_args(&f->c, 1, ARGV(NULL), f->err, sizeof(f->err)), 0);
	assert_string_equal(f->c.dir, "./pagebus-data");
	unsetenv("PAGEBUS_DIR");
}

/* Runs PARSE with stdout in a file; returns what was printed (malloc'd). */
static char *parse_capturing(struct fixture *f, int argc, char *const argv[], int *rc)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/stdout", f->root);
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, STDOUT_FILENO);
	close(fd);
	*rc = config_parse_args(&f->c, argc, argv, f->err, sizeof(f->err));
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	size_t len;
	uint8_t *out = tu_read_file(path, &len);
	out[len] = '\0';
	return (char *)out;
}

static void test_config_help_and_version_print_and_return_1(void **state)
{
	struct fixture *f = *state;
	int rc;
	char *out = parse_capturing(f, ARGC("--spin.us", "1", "--help"),
				    ARGV("--spin.us", "1", "--help"), &rc);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out, "usage: pagebusd [--dir DIR] [--config FILE]"));
	assert_non_null(strstr(out, "$PAGEBUS_DIR"));
	for (size_t i = 0; i < config_nkeys; i++) {
		const char *at = strstr(out, config_keys[i].name);
		if (!at || !strstr(at, config_keys[i].def) || !strstr(out, config_keys[i].help))
			fail_msg("--help lacks %s, its default or its help", config_keys[i].name);
	}
	assert_int_equal(f->c.spin_us, 50); /* nothing applied */
	free(out);

	out = parse_capturing(f, ARGC("-h"), ARGV("-h"), &rc);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out, "usage:"));
	free(out);

	out = parse_capturing(f, ARGC("--version"), ARGV("--version"), &rc);
	assert_int_equal(rc, 1);
	assert_true(!strncmp(out, "pagebusd ", 9) && strchr(out, '.'));
	free(out);
}

static void test_config_topic_override_accepts_only_topic_keys(void **state)
{
	struct fixture *f = *state;
	struct log_config lc = f->c.log;
	static const char *const ok[][2] = {
		{ "segment.bytes", "1M" },	  { "segment.ms", "1000" },
		{ "index.interval.bytes", "2K" }, { "retention.bytes", "10G" },
		{ "retention.ms", "86400000" },	  { "segment.preallocate", "true" },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_int_equal(
			config_topic_override(&lc, ok[i][0], ok[i][1], f->err, sizeof(f->err)), 0);
	assert_int_equal(lc.segment_bytes, 1 << 20);
	assert_int_equal(lc.segment_ms, 1000);
	assert_int_equal(lc.index_interval_bytes, 2048);
	assert_int_equal(lc.retention_bytes, 10ll << 30);
	assert_int_equal(lc.retention_ms, 86400000);
	assert_true(lc.preallocate);

	/* every non-topic key is refused, with the list of those that are allowed */
	size_t refused = 0;
	for (size_t i = 0; i < config_nkeys; i++) {
		if (config_keys[i].flags & CONFIG_TOPIC)
			continue;
		struct log_config before = lc;
		assert_int_equal(config_topic_override(&lc, config_keys[i].name, config_keys[i].def,
						       f->err, sizeof(f->err)),
				 -EINVAL);
		assert_non_null(strstr(f->err, config_keys[i].name));
		assert_non_null(strstr(f->err, "not a per-topic key"));
		assert_non_null(strstr(f->err, "segment.preallocate"));
		assert_memory_equal(&lc, &before, sizeof(lc));
		refused++;
	}
	assert_int_equal(refused, 21);
	assert_int_equal(config_topic_override(&lc, "foo", "1", f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "unknown config key 'foo'"));
	assert_int_equal(config_topic_override(&lc, "retention.ms", "soon", f->err, sizeof(f->err)),
			 -EINVAL);
	assert_string_equal(f->err, "retention.ms: 'soon' is not a number");
	assert_int_equal(lc.retention_ms, 86400000);
}

/* docs/operations.md has a table row for every key, with its default. */
static void test_config_docs_list_every_key_with_its_default(void **state)
{
	(void)state;
	size_t len;
	char *doc = (char *)tu_read_file("docs/operations.md", &len);
	if (!doc)
		skip(); /* not run from the source tree */
	doc[len] = '\0';
	for (size_t i = 0; i < config_nkeys; i++) {
		char row[128], def[64];
		snprintf(row, sizeof(row), "\n| `%s` |", config_keys[i].name);
		snprintf(def, sizeof(def), "| `%s` |", config_keys[i].def);
		const char *at = strstr(doc, row);
		const char *eol = at ? strchr(at + 1, '\n') : NULL;
		const char *d = at ? strstr(at, def) : NULL;
		if (!at || !d || (eol && d > eol))
			fail_msg("docs/operations.md: no row `| `%s` | ... | `%s` |`",
				 config_keys[i].name, config_keys[i].def);
	}
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_config_defaults_are_the_documented_ones),
		T(test_config_table_defaults_parse_to_the_defaults),
		T(test_config_sets_and_reads_back_every_key),
		T(test_config_size_suffixes_only_on_byte_keys),
		T(test_config_bad_values_name_the_key_and_change_nothing),
		T(test_config_file_with_comments_and_whitespace),
		T(test_config_file_errors_name_file_and_line_and_change_nothing),
		T(test_config_flags_override_the_file_whatever_the_order),
		T(test_config_flag_forms_and_errors),
		T(test_config_dir_from_flag_then_env_then_default),
		T(test_config_help_and_version_print_and_return_1),
		T(test_config_topic_override_accepts_only_topic_keys),
		T(test_config_docs_list_every_key_with_its_default),
#undef T
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
