/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c — the broker's configuration: the key table, value parsers, config files,
 * pagebusd's command line and per-topic overrides. Every path that sets a key goes
 * through apply(), so a key parses and range-checks the same way wherever it comes from.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logging.h"
#include "record_batch.h"

#ifndef PAGEBUS_VERSION
#define PAGEBUS_VERSION "0.1.0"
#endif

#define MIB (1ll << 20)
#define GIB (1ll << 30)
#define LOGF(f) offsetof(struct log_config, f)
#define BROKERF(f) offsetof(struct broker_config, f)

/* Keep docs/operations.md ("Configuration") in step with this table. One key a block. */
/* clang-format off */
const struct config_key config_keys[] = {
	{ .name = "segment.bytes", .type = CONFIG_U64, .flags = CONFIG_TOPIC | CONFIG_BYTES,
	  .offset = LOGF(segment_bytes), .min = 4096, .max = INT32_MAX, .def = "1G",
	  .help = "roll to a new segment when the next batch would pass this size" },
	{ .name = "segment.ms", .type = CONFIG_I64, .flags = CONFIG_TOPIC,
	  .offset = LOGF(segment_ms), .min = 1, .max = INT64_MAX, .def = "604800000",
	  .help = "roll when the active segment's first append is this old (7 days)" },
	{ .name = "index.interval.bytes", .type = CONFIG_U32, .flags = CONFIG_TOPIC | CONFIG_BYTES,
	  .offset = LOGF(index_interval_bytes), .min = 1, .max = INT32_MAX, .def = "4096",
	  .help = "log bytes between two entries of the sparse indexes" },
	{ .name = "retention.bytes", .type = CONFIG_I64, .flags = CONFIG_TOPIC | CONFIG_BYTES,
	  .offset = LOGF(retention_bytes), .min = -1, .max = INT64_MAX, .def = "-1",
	  .help = "delete the oldest segments while a partition is larger (-1: no limit)" },
	{ .name = "retention.ms", .type = CONFIG_I64, .flags = CONFIG_TOPIC,
	  .offset = LOGF(retention_ms), .min = -1, .max = INT64_MAX, .def = "-1",
	  .help = "delete segments whose newest record is older than this (-1: keep)" },
	{ .name = "segment.preallocate", .type = CONFIG_BOOL, .flags = CONFIG_TOPIC,
	  .offset = LOGF(preallocate), .def = "false",
	  .help = "fallocate new segments instead of leaving them sparse" },
	{ .name = "flush.ms", .type = CONFIG_I64, .offset = BROKERF(flush_ms), .min = 0,
	  .max = 3600000, .def = "0",
	  .help = "durable acks: 0 = fsync right after each write, N = group commit every N ms" },
	{ .name = "ring.bytes", .type = CONFIG_U32, .flags = CONFIG_BYTES,
	  .offset = BROKERF(ring_bytes), .min = 64 * 1024, .max = GIB, .align = 4096,
	  .def = "8M", .help = "size of each producer's shared-memory ring" },
	{ .name = "auto.create.topics", .type = CONFIG_BOOL, .offset = BROKERF(auto_create_topics),
	  .def = "true", .help = "producing to an unknown topic creates it" },
	{ .name = "default.partitions", .type = CONFIG_I32, .offset = BROKERF(default_partitions),
	  .min = 1, .max = CONFIG_PARTITIONS_MAX, .def = "1",
	  .help = "partitions of a topic created without a count (or auto-created)" },
	{ .name = "max.message.bytes", .type = CONFIG_U32, .flags = CONFIG_BYTES,
	  .offset = BROKERF(max_message_bytes), .min = RB_HEADER_SIZE, .max = GIB,
	  .def = "1048588", .help = "largest record batch accepted" },
	{ .name = "retention.check.interval.ms", .type = CONFIG_I64,
	  .offset = BROKERF(retention_check_interval_ms), .min = 1, .max = INT64_MAX,
	  .def = "300000", .help = "how often retention runs over every partition" },
	{ .name = "log.level", .type = CONFIG_LEVEL, .offset = BROKERF(log_level), .def = "info",
	  .help = "drop log lines above this level" },
	{ .name = "max.partitions", .type = CONFIG_U32, .offset = BROKERF(max_partitions),
	  .min = 1, .max = 1000000, .def = "4096",
	  .help = "partitions of all topics together (slots in the control region)" },
	{ .name = "max.clients", .type = CONFIG_U32, .offset = BROKERF(max_clients), .min = 1,
	  .max = 65536, .def = "1024", .help = "local sessions at the same time" },
	{ .name = "spin.us", .type = CONFIG_U32, .offset = BROKERF(spin_us), .min = 0,
	  .max = 100000, .def = "50",
	  .help = "how long the broker busy-polls the rings before it sleeps" },
	{ .name = "verify.crc", .type = CONFIG_BOOL, .offset = BROKERF(verify_crc), .def = "true",
	  .help = "check each batch's CRC-32C before appending it" },
	{ .name = "kafka.listen", .type = CONFIG_ADDR, .flags = CONFIG_OFF,
	  .offset = BROKERF(kafka_listen), .max = sizeof(((struct broker_config *)0)->kafka_listen),
	  .def = "127.0.0.1:9092",
	  .help = "address of the Kafka-protocol endpoint (port 0: any free port; off: none)" },
	{ .name = "kafka.advertised", .type = CONFIG_ADDR, .flags = CONFIG_AUTO,
	  .offset = BROKERF(kafka_advertised),
	  .max = sizeof(((struct broker_config *)0)->kafka_advertised), .def = "auto",
	  .help = "host:port that Metadata tells Kafka clients (auto: the listening one)" },
	{ .name = "kafka.max.request.bytes", .type = CONFIG_U32, .flags = CONFIG_BYTES,
	  .offset = BROKERF(kafka_max_request_bytes), .min = 64 * 1024, .max = GIB, .def = "100M",
	  .help = "largest Kafka request; a larger one closes the connection" },
	{ .name = "kafka.max.connections", .type = CONFIG_U32,
	  .offset = BROKERF(kafka_max_connections), .min = 1, .max = 65536, .def = "1024",
	  .help = "Kafka connections at the same time; more are refused" },
	{ .name = "kafka.send.queue.bytes", .type = CONFIG_U64, .flags = CONFIG_BYTES,
	  .offset = BROKERF(kafka_send_queue_bytes), .min = 64 * 1024, .max = 64 * GIB,
	  .def = "128M",
	  .help = "response bytes a Kafka connection may have queued; past it the client is cut off" },
	{ .name = "kafka.fetch.copy", .type = CONFIG_BOOL, .offset = BROKERF(kafka_fetch_copy),
	  .def = "false",
	  .help = "benchmarks only: Fetch copies record bytes through user space instead of splicing" },
	{ .name = "metrics.listen", .type = CONFIG_ADDR, .flags = CONFIG_OFF,
	  .offset = BROKERF(metrics_listen), .max = sizeof(((struct broker_config *)0)->metrics_listen),
	  .def = "127.0.0.1:9464",
	  .help = "address of the Prometheus endpoint, GET /metrics (port 0: any free port; off: none)" },
	{ .name = "group.initial.rebalance.delay.ms", .type = CONFIG_I64,
	  .offset = BROKERF(group_initial_rebalance_delay_ms), .min = 0, .max = 300000, .def = "3000",
	  .help = "a consumer group that was empty waits this long for more members before its first generation" },
	{ .name = "group.min.session.timeout.ms", .type = CONFIG_I32,
	  .offset = BROKERF(group_min_session_timeout_ms), .min = 1, .max = 3600000, .def = "6000",
	  .help = "shortest session timeout a group member may ask for" },
	{ .name = "group.max.session.timeout.ms", .type = CONFIG_I32,
	  .offset = BROKERF(group_max_session_timeout_ms), .min = 1, .max = 3600000, .def = "1800000",
	  .help = "longest session timeout a group member may ask for" },
};
/* clang-format on */
const size_t config_nkeys = sizeof(config_keys) / sizeof(config_keys[0]);

int config_errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

const struct config_key *config_key_find(const char *name)
{
	for (size_t i = 0; i < config_nkeys; i++)
		if (!strcmp(config_keys[i].name, name))
			return &config_keys[i];
	return NULL;
}

/* Decimal, optional '-', then (sizes only) one K/M/G suffix. 0, -EINVAL or -ERANGE. */
static int parse_num(const char *s, bool size, int64_t *out)
{
	const char *p = s + (*s == '-');
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	int64_t mul = 1;
	if (size && *end) {
		switch (*end++) {
		case 'k':
		case 'K':
			mul = 1ll << 10;
			break;
		case 'm':
		case 'M':
			mul = MIB;
			break;
		case 'g':
		case 'G':
			mul = GIB;
			break;
		default:
			return -EINVAL;
		}
	}
	if (*end)
		return -EINVAL;
	if (__builtin_mul_overflow((int64_t)v, mul, out))
		return -ERANGE;
	return 0;
}

int config_parse_i64(const char *s, int64_t *out)
{
	return parse_num(s, false, out);
}

int config_parse_addr(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(s, ':'), *h = s, *he = colon;
	if (!colon || colon == s)
		return -EINVAL;
	if (*s == '[') { /* [IPv6]:PORT */
		h = s + 1;
		he = colon - 1;
		if (he < h || *he != ']' || memchr(h, ']', (size_t)(he - h)))
			return -EINVAL;
	} else if (memchr(s, ':', (size_t)(colon - s))) {
		return -EINVAL; /* a bare IPv6 address needs brackets */
	}
	size_t n = (size_t)(he - h);
	if (!n || n > 253 || n >= hostlen)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (isspace((unsigned char)h[i]) || h[i] == '[' || h[i] == ']' || h[i] == '/')
			return -EINVAL;
	int64_t p;
	if (parse_num(colon + 1, false, &p) || p < 0 || p > 65535 || colon[1] == '-')
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (int)p;
	return 0;
}

/* A size as the shortest exact text: 4096 -> "4K", 8388608 -> "8M", 1000 -> "1000". */
static void fmt_num(const struct config_key *k, int64_t v, char *buf, size_t len)
{
	static const char suffix[] = "GMK";
	for (int i = 0; (k->flags & CONFIG_BYTES) && v > 0 && i < 3; i++) {
		int64_t unit = 1ll << (10 * (3 - i));
		if (v % unit == 0) {
			snprintf(buf, len, "%lld%c", (long long)(v / unit), suffix[i]);
			return;
		}
	}
	snprintf(buf, len, "%lld", (long long)v);
}

/* What a key accepts, for messages and usage: "4K..2147483647", "true|false". */
static void fmt_range(const struct config_key *k, char *buf, size_t len)
{
	char lo[32], hi[32];
	switch (k->type) {
	case CONFIG_BOOL:
		snprintf(buf, len, "true|false");
		return;
	case CONFIG_LEVEL:
		snprintf(buf, len, "error|warn|info|debug");
		return;
	case CONFIG_ADDR:
		snprintf(buf, len, "HOST:PORT%s%s", k->flags & CONFIG_OFF ? "|off" : "",
			 k->flags & CONFIG_AUTO ? "|auto" : "");
		return;
	default:
		break;
	}
	fmt_num(k, k->min, lo, sizeof(lo));
	fmt_num(k, k->max, hi, sizeof(hi));
	int n = snprintf(buf, len, "%s..%s", lo, k->max == INT64_MAX ? "" : hi);
	if (k->align && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ", multiple of %u", k->align);
}

/* Parses value for k and stores it at base + k->offset; base is untouched on error. */
static int apply(const struct config_key *k, void *base, const char *value, char *err,
		 size_t errlen)
{
	char *field = (char *)base + k->offset;
	char range[64];
	int64_t v;
	int r;

	switch (k->type) {
	case CONFIG_BOOL:
		if (strcasecmp(value, "true") && strcasecmp(value, "false"))
			return config_errf(err, errlen, -EINVAL,
					   "%s: '%.64s' is not a bool (true or false)", k->name,
					   value);
		*(bool *)field = !strcasecmp(value, "true");
		return 0;
	case CONFIG_LEVEL:
		if ((r = log_level_parse(value)) < 0)
			return config_errf(
				err, errlen, -EINVAL,
				"%s: '%.64s' is not a log level (error, warn, info or debug)",
				k->name, value);
		*(int *)field = r;
		return 0;
	case CONFIG_ADDR: {
		char host[CONFIG_ADDR_MAX];
		int port;
		bool word = ((k->flags & CONFIG_OFF) && !strcmp(value, "off")) ||
			    ((k->flags & CONFIG_AUTO) && !strcmp(value, "auto"));
		if (!word && (strlen(value) >= (size_t)k->max ||
			      config_parse_addr(value, host, sizeof(host), &port) < 0)) {
			fmt_range(k, range, sizeof(range));
			return config_errf(err, errlen, -EINVAL,
					   "%s: '%.64s' is not an address (%s; IPv6 in brackets)",
					   k->name, value, range);
		}
		snprintf(field, (size_t)k->max, "%s", value);
		return 0;
	}
	default:
		break;
	}
	r = parse_num(value, k->flags & CONFIG_BYTES, &v);
	if (r == -EINVAL)
		return config_errf(err, errlen, -EINVAL, "%s: '%.64s' is not a number%s", k->name,
				   value,
				   !(k->flags & CONFIG_BYTES) && !parse_num(value, true, &v)
					   ? " (K/M/G suffixes are only for byte sizes)"
					   : "");
	fmt_range(k, range, sizeof(range));
	if (r == -ERANGE || v < k->min || v > k->max)
		return config_errf(err, errlen, -EINVAL, "%s: '%.64s' is out of range (%s)",
				   k->name, value, range);
	if (k->align && v % k->align)
		return config_errf(err, errlen, -EINVAL, "%s: '%.64s' is not a multiple of %u",
				   k->name, value, k->align);
	switch (k->type) {
	case CONFIG_U32:
		*(uint32_t *)field = (uint32_t)v;
		break;
	case CONFIG_I32:
		*(int32_t *)field = (int32_t)v;
		break;
	case CONFIG_U64:
		*(uint64_t *)field = (uint64_t)v;
		break;
	case CONFIG_I64:
		*(int64_t *)field = v;
		break;
	default:
		break;
	}
	return 0;
}

/* A per-topic key onto a log_config: applied to a copy, kept only if log_config_check agrees. */
static int apply_log(const struct config_key *k, struct log_config *lc, const char *value,
		     char *err, size_t errlen)
{
	struct log_config tmp = *lc;
	const char *what;
	int r = apply(k, &tmp, value, err, errlen);
	if (r)
		return r;
	if (log_config_check(&tmp, &what))
		return config_errf(err, errlen, -EINVAL, "%s: %s", k->name, what);
	*lc = tmp;
	return 0;
}

void config_defaults(struct broker_config *c)
{
	memset(c, 0, sizeof(*c));
	log_config_defaults(&c->log);
	/* the table's default texts are the defaults; test_config checks that they parse
	 * and that the per-topic ones match log_config_defaults() */
	for (size_t i = 0; i < config_nkeys; i++)
		if (!(config_keys[i].flags & CONFIG_TOPIC))
			apply(&config_keys[i], c, config_keys[i].def, NULL, 0);
}

void config_free(struct broker_config *c)
{
	if (!c)
		return;
	free(c->dir);
	c->dir = NULL;
}

int config_set(struct broker_config *c, const char *key, const char *value, char *err,
	       size_t errlen)
{
	const struct config_key *k = config_key_find(key);
	if (!k)
		return config_errf(err, errlen, -EINVAL, "unknown config key '%.64s'", key);
	if (k->flags & CONFIG_TOPIC)
		return apply_log(k, &c->log, value, err, errlen);
	return apply(k, c, value, err, errlen);
}

int config_topic_override(struct log_config *lc, const char *key, const char *value, char *err,
			  size_t errlen)
{
	const struct config_key *k = config_key_find(key);
	if (k && (k->flags & CONFIG_TOPIC))
		return apply_log(k, lc, value, err, errlen);
	char list[256];
	size_t n = 0;
	list[0] = '\0';
	for (size_t i = 0; i < config_nkeys && n < sizeof(list); i++)
		if (config_keys[i].flags & CONFIG_TOPIC)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "",
					      config_keys[i].name);
	return config_errf(err, errlen, -EINVAL,
			   "%s '%.64s' is not a per-topic key (those are: %s)",
			   k ? "broker key" : "unknown config key", key, list);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

int config_load_file(struct broker_config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return config_errf(err, errlen, -errno, "%s: %s", path, strerror(errno));
	struct broker_config tmp = *c; /* all or nothing; tmp shares c->dir, never touched */
	char *line = NULL, msg[256];
	size_t cap = 0;
	int r = 0, lineno = 0;
	while (getline(&line, &cap, f) >= 0) {
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = trim(line), *eq = strchr(s, '=');
		if (!*s)
			continue;
		if (!eq) {
			r = config_errf(err, errlen, -EINVAL,
					"%s:%d: expected key=value, got '%.64s'", path, lineno, s);
			break;
		}
		*eq = '\0';
		if ((r = config_set(&tmp, trim(s), trim(eq + 1), msg, sizeof(msg))) < 0) {
			config_errf(err, errlen, r, "%s:%d: %s", path, lineno, msg);
			break;
		}
	}
	if (!r && ferror(f))
		r = config_errf(err, errlen, -EIO, "%s: read error", path);
	free(line);
	fclose(f);
	if (!r)
		*c = tmp;
	return r;
}

/*
 * Reads the option at argv[*i] and moves *i past it (and past its value when that is the
 * next argument). name gets the option without "--"; *value is NULL for --help/--version.
 */
static int next_opt(int argc, char *const argv[], int *i, char *name, size_t cap,
		    const char **value, char *err, size_t errlen)
{
	const char *a = argv[(*i)++];
	if (!strcmp(a, "-h"))
		a = "--help";
	if (strncmp(a, "--", 2) || !a[2])
		return config_errf(err, errlen, -EINVAL, "unexpected argument '%.64s' (see --help)",
				   a);
	a += 2;
	const char *eq = strchr(a, '=');
	size_t n = eq ? (size_t)(eq - a) : strlen(a);
	if (n >= cap)
		return config_errf(err, errlen, -EINVAL, "unknown option '--%.64s' (see --help)",
				   a);
	memcpy(name, a, n);
	name[n] = '\0';
	*value = NULL;
	if (!strcmp(name, "help") || !strcmp(name, "version"))
		return eq ? config_errf(err, errlen, -EINVAL, "--%s takes no value", name) : 0;
	if (eq)
		*value = eq + 1;
	else if (*i < argc)
		*value = argv[(*i)++];
	else
		return config_errf(err, errlen, -EINVAL, "--%s needs a value", name);
	return 0;
}

int config_parse_args(struct broker_config *c, int argc, char *const argv[], char *err,
		      size_t errlen)
{
	struct broker_config tmp = *c;
	const char *dir = NULL, *value = NULL;
	bool help = false, version = false;
	char name[64];
	int r;

	/* pass 0: syntax, --help/--version/--dir, unknown options; 1: files; 2: keys */
	for (int pass = 0; pass < 3; pass++) {
		for (int i = 1; i < argc;) {
			if ((r = next_opt(argc, argv, &i, name, sizeof(name), &value, err, errlen)))
				return r;
			bool is_config = !strcmp(name, "config");
			bool is_key = !is_config && value && strcmp(name, "dir");
			if (pass == 0) {
				help |= !strcmp(name, "help");
				version |= !strcmp(name, "version");
				if (!strcmp(name, "dir"))
					dir = value;
				if (is_key && !config_key_find(name))
					return config_errf(err, errlen, -EINVAL,
							   "unknown option '--%s' (see --help)",
							   name);
			} else if (pass == 1 && is_config) {
				if ((r = config_load_file(&tmp, value, err, errlen)))
					return r;
			} else if (pass == 2 && is_key) {
				if ((r = config_set(&tmp, name, value, err, errlen)))
					return r;
			}
		}
		if (pass == 0 && (help || version)) {
			if (help)
				config_usage(stdout);
			else
				printf("pagebusd %s\n", PAGEBUS_VERSION);
			return 1;
		}
	}
	if (!dir) {
		const char *env = getenv("PAGEBUS_DIR");
		dir = env && *env ? env : CONFIG_DEFAULT_DIR;
	}
	char *d = strdup(dir);
	if (!d)
		return config_errf(err, errlen, -ENOMEM, "out of memory");
	free(c->dir);
	*c = tmp;
	c->dir = d;
	return 0;
}

static const char *type_name(const struct config_key *k)
{
	switch (k->type) {
	case CONFIG_BOOL:
		return "bool";
	case CONFIG_LEVEL:
		return "level";
	case CONFIG_ADDR:
		return "addr";
	default:
		return k->flags & CONFIG_BYTES ? "size" : "int";
	}
}

void config_usage(FILE *f)
{
	char range[64];
	fprintf(f,
		"usage: pagebusd [--dir DIR] [--config FILE] [--KEY VALUE | --KEY=VALUE ...]\n"
		"                [--help] [--version]\n\n"
		"  --dir DIR      data directory (default: $PAGEBUS_DIR, else %s)\n"
		"  --config FILE  key=value lines, '#' comments; applied before every --KEY\n"
		"  --help         print this and exit\n"
		"  --version      print the version and exit\n\n"
		"keys (sizes take a K, M or G suffix, x1024; * = also per topic):\n"
		"  %-29s %-6s %-10s %s\n",
		CONFIG_DEFAULT_DIR, "KEY", "TYPE", "DEFAULT", "RANGE");
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		fmt_range(k, range, sizeof(range));
		fprintf(f, "  %-27s %c %-6s %-10s %s\n      %s\n", k->name,
			k->flags & CONFIG_TOPIC ? '*' : ' ', type_name(k), k->def, range, k->help);
	}
}
