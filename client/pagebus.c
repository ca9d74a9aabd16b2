/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pagebus.c — the `pagebus` command, kcat-style, on the public libpagebus API only:
 * topic administration, stdin lines to a topic, formatted consumption with named
 * offsets, offsets by time, a stat of the logs (disk, page cache, consumer lag), and
 * the entry points of `top` (client/cli/top.c) and `trace` (BPF, bus/bpf/trace.c).
 * Each error is one stderr line; exit 0 ok, 1 runtime error, 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpf/trace.h"
#include "cli/cli.h"
#include "pagebus.h"

#ifndef PAGEBUS_VERSION
#define PAGEBUS_VERSION "0.1.0"
#endif


struct command {
	const char *name; /* "produce", "topics create" */
	int (*run)(const struct command *cmd, int argc, char **argv);
	const char *synopsis; /* what follows the name in a usage line */
	const char *help;     /* the description and options, for --help */
};

static const char *g_dir;	     /* --dir; NULL: $PAGEBUS_DIR, else ./pagebus-data */
static volatile sig_atomic_t g_stop; /* SIGINT or SIGTERM: finish cleanly */

/* ---- small helpers -------------------------------------------------------------------- */

static const char *data_dir(void)
{
	const char *env = getenv("PAGEBUS_DIR");
	return g_dir && *g_dir ? g_dir : env && *env ? env : "./pagebus-data";
}

/* "pagebus: <what>: <error> (<broker's message>)"; returns EXIT_RUNTIME. */
int fail(struct pagebus *pb, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("pagebus: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	const char *msg = pb ? pagebus_last_error(pb) : "";
	fprintf(stderr, *msg ? ": %s (%s)\n" : ": %s\n", pagebus_strerror(err), msg);
	return EXIT_RUNTIME;
}

__attribute__((format(printf, 2, 3))) static int usage_error(const struct command *cmd,
							     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "pagebus: %s: ", cmd->name);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'pagebus %s --help')\n", cmd->name);
	return EXIT_USAGE;
}

static int help(const struct command *cmd)
{
	printf("usage: pagebus [--dir DIR] %s%s%s\n\n%s", cmd->name, *cmd->synopsis ? " " : "",
	       cmd->synopsis, cmd->help);
	return 0;
}

/* Parses a decimal integer in [min, max], the whole string. */
static bool parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || errno || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static int no_partition(const struct command *cmd, const char *topic, int64_t part, int nparts)
{
	fprintf(stderr, "pagebus: %s %s: partition %" PRId64 " does not exist (the topic has %d)\n",
		cmd->name, topic, part, nparts);
	return EXIT_RUNTIME;
}

static int open_bus(struct pagebus **pb)
{
	int err = pagebus_connect(data_dir(), pb);
	if (err == -ECONNREFUSED) {
		fprintf(stderr,
			"pagebus: cannot connect to the broker of %s: %s (is pagebusd running? "
			"start it with 'pagebusd --dir %s')\n",
			data_dir(), pagebus_strerror(err), data_dir());
		return EXIT_RUNTIME;
	}
	return err ? fail(NULL, err, "cannot connect to the broker of %s", data_dir()) : 0;
}

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

/* SIGINT/SIGTERM end produce and consume cleanly; a second one kills (SA_RESETHAND).
 * No SA_RESTART, so a blocked read of stdin returns. */
static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESETHAND };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* ---- options: getopt_long with one-line errors; --help and --dir everywhere ------------ */

#define OPT_DIR 0x100
#define OPT_ACKS 0x101
#define OPT_CONFIG 0x102
#define OPT_TIME 0x103
#define OPT_ONCE 0x104
#define OPT_METRICS 0x105
#define OPT_PID 0x106
#define OPT_SECONDS 0x107
/* --help and --dir, accepted by every command */
/* clang-format off */
#define COMMON_OPTS { "help", no_argument, NULL, 'h' }, { "dir", required_argument, NULL, OPT_DIR }
/* clang-format on */

/* The next option (or -1), handling --dir; '?' after printing a usage error. */
static int next_opt(const struct command *cmd, int argc, char **argv, const char *shortopts,
		    const struct option *longopts)
{
	opterr = 0;
	for (;;) {
		int c = getopt_long(argc, argv, shortopts, longopts, NULL);
		if (c == OPT_DIR) {
			g_dir = optarg;
			continue;
		}
		if (c != '?' && c != ':')
			return c;
		const char *arg = argv[optind - 1];
		int n = (int)strcspn(arg, "=");
		if (c == ':' && !strncmp(arg, "--", 2))
			usage_error(cmd, "option '%.*s' needs a value", n, arg);
		else if (c == ':')
			usage_error(cmd, "option '-%c' needs a value", optopt);
		else if (optopt && optopt < 0x100)
			usage_error(cmd, "unknown option '-%c'", optopt);
		else
			usage_error(cmd, "unknown option '%.*s'", n, arg);
		return '?';
	}
}

/* Exactly `want` positional arguments left; else a usage error naming them. */
static bool positional(const struct command *cmd, int argc, char **argv, int want,
		       const char *names)
{
	if (argc - optind == want)
		return true;
	if (argc - optind < want)
		usage_error(cmd, "missing %s", names);
	else
		usage_error(cmd, "unexpected argument '%s'", argv[optind + want]);
	return false;
}

/* A command without options of its own: -1 to go on, else the exit status to return. */
static int only_positional(const struct command *cmd, int argc, char **argv, int want,
			   const char *names)
{
	static const struct option opts[] = { COMMON_OPTS, { 0 } };
	int c;
	while ((c = next_opt(cmd, argc, argv, ":h", opts)) != -1)
		if (c == 'h' || c == '?')
			return c == 'h' ? help(cmd) : EXIT_USAGE;
	return positional(cmd, argc, argv, want, names) ? -1 : EXIT_USAGE;
}

/* ---- topics ------------------------------------------------------------------------------- */

static int cmd_topics_create(const struct command *cmd, int argc, char **argv)
{
	static const struct option opts[] = { COMMON_OPTS,
					      { "config", required_argument, NULL, OPT_CONFIG },
					      { 0 } };
	int64_t parts = 0;
	int n = 0;
	const char **keys = xrealloc(NULL, (size_t)argc * sizeof(*keys));
	const char **values = xrealloc(NULL, (size_t)argc * sizeof(*values));
	char **kv = xrealloc(NULL, (size_t)argc * sizeof(*kv));
	int c, rc = EXIT_USAGE;
	while ((c = next_opt(cmd, argc, argv, ":hp:", opts)) != -1) {
		if (c == 'h') {
			rc = help(cmd);
			goto out;
		} else if (c == 'p' && !parse_int(optarg, 1, 1000000, &parts)) {
			usage_error(cmd, "-p: '%s' is not a partition count", optarg);
			goto out;
		} else if (c == OPT_CONFIG) {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg) {
				usage_error(cmd, "--config: '%s' is not KEY=VALUE", optarg);
				goto out;
			}
			kv[n] = xrealloc(NULL, (size_t)(eq - optarg) + 1);
			memcpy(kv[n], optarg, (size_t)(eq - optarg));
			kv[n][eq - optarg] = 0;
			keys[n] = kv[n];
			values[n++] = eq + 1;
		} else if (c == '?') {
			goto out;
		}
	}
	if (!positional(cmd, argc, argv, 1, "NAME"))
		goto out;
	const char *name = argv[optind];
	struct pagebus *pb;
	if ((rc = open_bus(&pb)))
		goto out;
	int err = pagebus_topic_create_config(pb, name, (int)parts, keys, values, n);
	if (!err)
		err = pagebus_topic_partitions(pb, name);
	if (err < 0)
		rc = fail(pb, err, "topics create %s", name);
	else
		printf("created topic %s with %d partition%s\n", name, err, err == 1 ? "" : "s");
	pagebus_close(pb);
out:
	for (int i = 0; i < n; i++)
		free(kv[i]);
	free(kv);
	free(keys);
	free(values);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct pagebus_topic_info *)a)->name,
		      ((const struct pagebus_topic_info *)b)->name);
}

/* Every topic, sorted by name. */
static int list_topics(struct pagebus *pb, struct pagebus_topic_info **v, int *n)
{
	int err = pagebus_topic_list(pb, v, n);
	if (err < 0)
		return fail(pb, err, "listing topics");
	if (*n)
		qsort(*v, (size_t)*n, sizeof(**v), by_name);
	return 0;
}

static int cmd_topics_list(const struct command *cmd, int argc, char **argv)
{
	int rc = only_positional(cmd, argc, argv, 0, "");
	if (rc >= 0)
		return rc;
	struct pagebus *pb;
	struct pagebus_topic_info *v = NULL;
	int n = 0;
	if ((rc = open_bus(&pb)) || (rc = list_topics(pb, &v, &n)))
		goto out;
	struct table t;
	table_start(&t, "topic partitions");
	for (int i = 0; i < n; i++) {
		cell(&t, "%s", v[i].name);
		cell(&t, "%d", v[i].partitions);
	}
	table_print(&t, stdout);
out:
	pagebus_topic_list_free(v);
	pagebus_close(pb);
	return rc;
}

/* partition, log_start, hwm, segments, bytes: rows of `topics describe` and `stat`. */
static void partition_rows(struct table *t, const struct pagebus_partition_info *p)
{
	cell(t, "%d", p->partition);
	cell(t, "%" PRId64, p->log_start);
	cell(t, "%" PRId64, p->hwm);
	cell(t, "%u", p->segments);
	cell(t, "%" PRIu64, p->bytes);
}

static int cmd_topics_describe(const struct command *cmd, int argc, char **argv)
{
	int rc = only_positional(cmd, argc, argv, 1, "NAME");
	if (rc >= 0)
		return rc;
	const char *name = argv[optind];
	struct pagebus *pb;
	struct pagebus_topic_desc *d = NULL;
	if ((rc = open_bus(&pb)))
		return rc;
	int err = pagebus_topic_describe(pb, name, &d);
	if (err < 0) {
		rc = fail(pb, err, "topics describe %s", name);
		goto out;
	}
	printf("topic       %s\nid          %u\npartitions  %d\n", d->name, d->topic_id,
	       d->partitions);
	if (!d->nconfigs)
		printf("config      (none: the broker's settings)\n");
	for (int i = 0; i < d->nconfigs; i++)
		printf("config      %s=%s\n", d->configs[i].key, d->configs[i].value);
	printf("\n");
	struct table t;
	table_start(&t, "partition log_start hwm segments bytes");
	for (int32_t i = 0; i < d->partitions; i++)
		partition_rows(&t, &d->parts[i]);
	table_print(&t, stdout);
out:
	pagebus_topic_desc_free(d);
	pagebus_close(pb);
	return rc;
}

static int cmd_topics_delete(const struct command *cmd, int argc, char **argv)
{
	int rc = only_positional(cmd, argc, argv, 1, "NAME");
	if (rc >= 0)
		return rc;
	const char *name = argv[optind];
	struct pagebus *pb;
	if ((rc = open_bus(&pb)))
		return rc;
	int err = pagebus_topic_delete(pb, name);
	if (err < 0)
		rc = fail(pb, err, "topics delete %s", name);
	else
		printf("deleted topic %s\n", name);
	pagebus_close(pb);
	return rc;
}

/* ---- produce ---------------------------------------------------------------------------- */

struct delivery {
	int32_t nparts;
	int64_t *last; /* per partition: last offset acked, -1 none */
	uint64_t acked, failed;
	int first_err;
	uint64_t first_err_line;
};

/* The delivery callback: msg_ctx is the message's input line number. */
static void on_delivery(void *ctx, void *msg_ctx, int32_t partition, int64_t offset, int err)
{
	struct delivery *d = ctx;
	if (err) {
		if (!d->failed++) {
			d->first_err = err;
			d->first_err_line = (uintptr_t)msg_ctx;
		}
		return;
	}
	d->acked++;
	if (partition >= 0 && partition < d->nparts && offset > d->last[partition])
		d->last[partition] = offset;
}

static void produce_summary(const char *topic, const struct delivery *d, uint64_t sent)
{
	fprintf(stderr, "pagebus: produced %" PRIu64, d->acked);
	if (d->acked != sent)
		fprintf(stderr, " of %" PRIu64, sent);
	fprintf(stderr, " message%s to %s", sent == 1 ? "" : "s", topic);
	const char *sep = " (";
	for (int32_t i = 0; i < d->nparts; i++)
		if (d->last[i] >= 0) {
			fprintf(stderr, "%spartition %d: last offset %" PRId64, sep, i, d->last[i]);
			sep = ", ";
		}
	fprintf(stderr, "%s\n", *sep == ',' ? ")" : "");
}

static int cmd_produce(const struct command *cmd, int argc, char **argv)
{
	static const struct option opts[] = { COMMON_OPTS,
					      { "acks", required_argument, NULL, OPT_ACKS },
					      { 0 } };
	static const char *const acks_names[] = { "none", "appended", "durable" };
	int64_t part = PAGEBUS_PARTITION_ANY;
	const char *sep = NULL;
	struct pagebus_header *hdrs = xrealloc(NULL, (size_t)argc * sizeof(*hdrs));
	int nh = 0, acks = PAGEBUS_ACKS_APPENDED, c, rc = EXIT_USAGE;
	while ((c = next_opt(cmd, argc, argv, ":hp:K:H:", opts)) != -1) {
		if (c == 'h') {
			free(hdrs);
			return help(cmd);
		} else if (c == 'p' && !parse_int(optarg, 0, INT32_MAX, &part)) {
			usage_error(cmd, "-p: '%s' is not a partition", optarg);
			goto out_usage;
		} else if (c == 'K') {
			sep = optarg;
			if (!*sep) {
				usage_error(cmd, "-K: the key separator is empty");
				goto out_usage;
			}
		} else if (c == 'H') {
			/* k=v; a bare k is a header with a null value */
			const char *eq = strchr(optarg, '=');
			size_t klen = eq ? (size_t)(eq - optarg) : strlen(optarg);
			hdrs[nh++] = (struct pagebus_header){ optarg, klen, eq ? eq + 1 : NULL,
							      eq ? strlen(eq + 1) : 0 };
		} else if (c == OPT_ACKS) {
			for (acks = 2; acks >= 0 && strcmp(optarg, acks_names[acks]); acks--)
				;
			if (acks < 0) {
				usage_error(cmd, "--acks: '%s' is not none, appended or durable",
					    optarg);
				goto out_usage;
			}
		} else if (c == '?') {
			goto out_usage;
		}
	}
	if (!positional(cmd, argc, argv, 1, "TOPIC"))
		goto out_usage;
	const char *topic = argv[optind];
	struct pagebus *pb;
	if ((rc = open_bus(&pb))) {
		free(hdrs);
		return rc;
	}
	struct delivery d = { 0 };
	struct pagebus_producer_opts po =
		PAGEBUS_OPTS(pagebus_producer_opts, .acks = acks, .delivery_cb = on_delivery,
			     .delivery_ctx = &d);
	struct pagebus_producer *p = NULL;
	char *line = NULL;
	size_t cap = 0;
	uint64_t sent = 0;
	int err = pagebus_producer_open(pb, topic, &po, &p);
	if (err < 0 || (err = pagebus_topic_partitions(pb, topic)) < 0) {
		rc = fail(pb, err, "produce %s", topic);
		goto out;
	}
	d.nparts = err;
	d.last = xrealloc(NULL, (size_t)d.nparts * sizeof(*d.last));
	for (int32_t i = 0; i < d.nparts; i++)
		d.last[i] = -1;
	if (part >= d.nparts) {
		rc = no_partition(cmd, topic, part, d.nparts);
		goto out;
	}
	catch_signals();
	size_t seplen = sep ? strlen(sep) : 0;
	ssize_t len;
	while (!g_stop && (len = getline(&line, &cap, stdin)) >= 0) {
		if (len && line[len - 1] == '\n')
			len--;
		const char *key = NULL, *value = line;
		size_t klen = 0, vlen = (size_t)len;
		char *s = sep ? memmem(line, (size_t)len, sep, seplen) : NULL;
		if (s) { /* key before the first separator; none: the line is the value */
			key = line;
			klen = (size_t)(s - line);
			value = s + seplen;
			vlen -= klen + seplen;
		}
		sent++;
		err = pagebus_send_ex(p, (int32_t)part, key, klen, value, vlen, hdrs, nh, 0,
				      (void *)(uintptr_t)sent);
		if (err < 0) {
			sent--;
			rc = fail(pb, err, "produce %s: line %" PRIu64, topic, sent + 1);
			break;
		}
	}
	if (!rc && ferror(stdin) && !g_stop)
		rc = fail(NULL, -errno, "produce %s: reading stdin", topic);
	err = pagebus_flush(p, -1);
	if (err < 0 && !rc) /* the send error already said it (-EPIPE once) */
		rc = fail(pb, err, "produce %s", topic);
	pagebus_producer_close(p); /* joins the thread that runs on_delivery */
	p = NULL;
	produce_summary(topic, &d, sent);
	if (d.failed && !rc)
		rc = fail(pb, d.first_err,
			  "produce %s: %" PRIu64 " message%s failed, the first from line %" PRIu64,
			  topic, d.failed, d.failed == 1 ? "" : "s", d.first_err_line);
out:
	pagebus_producer_close(p);
	pagebus_close(pb);
	free(line);
	free(d.last);
	free(hdrs);
	return rc;
out_usage:
	free(hdrs);
	return EXIT_USAGE;
}

/* ---- consume ---------------------------------------------------------------------------- */

/*
 * A FORMAT compiled: escapes resolved, % codes checked. The result keeps "%x" pairs
 * (an escape never yields '%', so they stay unambiguous) for format_msg to expand.
 */
static int format_compile(const char *in, char **out, const char **bad)
{
	char *o = *out = xrealloc(NULL, strlen(in) + 1);
	for (const char *s = in; *s; s++) {
		if (*s == '%') {
			if (!s[1] || !strchr("tpokshTKS%", s[1])) {
				*bad = s;
				return -1;
			}
			*o++ = *s++;
			*o++ = *s;
		} else if (*s == '\\') {
			static const char from[] = "ntr0\\", to[] = "\n\t\r\0\\";
			const char *e = s[1] ? strchr(from, s[1]) : NULL;
			if (!e) {
				*bad = s;
				return -1;
			}
			/* \0 would end the string: keep it as the code %0 */
			if (*e == '0') {
				*o++ = '%';
				*o++ = '0';
			} else {
				*o++ = to[e - from];
			}
			s++;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
	return 0;
}

static void put_len(const void *p, size_t len, FILE *f)
{
	fprintf(f, "%lld", p ? (long long)len : -1LL);
}

static void format_msg(const char *fmt, const char *topic, const struct pagebus_msg *m, FILE *f)
{
	for (const char *s = fmt; *s; s++) {
		if (*s != '%') {
			size_t n = strcspn(s, "%");
			fwrite(s, 1, n, f);
			s += n - 1;
			continue;
		}
		switch (*++s) {
		case 't':
			fputs(topic, f);
			break;
		case 'p':
			fprintf(f, "%d", m->partition);
			break;
		case 'o':
			fprintf(f, "%" PRId64, m->offset);
			break;
		case 'T':
			fprintf(f, "%" PRId64, m->timestamp);
			break;
		case 'k':
			if (m->key_len) /* a null key or value prints as nothing */
				fwrite(m->key, 1, m->key_len, f);
			break;
		case 's':
			if (m->value_len)
				fwrite(m->value, 1, m->value_len, f);
			break;
		case 'K':
			put_len(m->key, m->key_len, f);
			break;
		case 'S':
			put_len(m->value, m->value_len, f);
			break;
		case 'h': {
			size_t pos = 0;
			struct pagebus_header h;
			for (int i = 0; pagebus_msg_header(m, &pos, &h) == 1; i++) {
				if (i)
					putc(',', f);
				if (h.key_len)
					fwrite(h.key, 1, h.key_len, f);
				if (h.value)
					putc('=', f);
				if (h.value_len)
					fwrite(h.value, 1, h.value_len, f);
			}
			break;
		}
		case '0':
			putc(0, f);
			break;
		default: /* %% */
			putc('%', f);
		}
	}
}

/* -o: where each partition starts when no named offset is stored. */
struct start {
	enum { START_BEGINNING, START_END, START_OFFSET, START_TAIL, START_TIME } kind;
	int64_t v;
};

static bool parse_start(const char *s, struct start *st)
{
	st->v = 0;
	if (!strcmp(s, "beginning")) {
		st->kind = START_BEGINNING;
		return true;
	}
	if (!strcmp(s, "end")) {
		st->kind = START_END;
		return true;
	}
	st->kind = *s == '@' ? START_TIME : *s == '-' ? START_TAIL : START_OFFSET;
	if (st->kind == START_OFFSET)
		return parse_int(s, 0, INT64_MAX, &st->v);
	return parse_int(s + 1, st->kind == START_TAIL ? 1 : 0, INT64_MAX, &st->v);
}

struct cursor {
	struct pagebus_consumer *c;
	int32_t partition;
	bool at_end;	   /* -e: caught up with the high watermark */
	int64_t committed; /* the stored named offset, -1 none */
};

/* Opens k->partition at the named offset, else where st says. */
static int cursor_open(struct pagebus *pb, const char *topic, struct cursor *k,
		       const struct start *st, const char *name)
{
	int64_t at = st->kind == START_OFFSET			       ? st->v
		     : st->kind == START_END || st->kind == START_TAIL ? PAGEBUS_OFFSET_END
								       : PAGEBUS_OFFSET_BEGINNING;
	k->committed = -1;
	int err = pagebus_consumer_open(pb, topic, k->partition, at, NULL, &k->c);
	if (err < 0)
		return fail(pb, err, "consume %s: partition %d", topic, k->partition);
	int64_t next;
	if (name && !(err = pagebus_committed(k->c, name, &next))) {
		k->committed = next;
		err = pagebus_seek(k->c, next);
	} else if (name && err != -ENOENT) {
		return fail(pb, err, "consume %s: named offset %s of partition %d", topic, name,
			    k->partition);
	} else if (st->kind == START_TAIL) {
		int64_t end = pagebus_position(k->c);
		err = pagebus_seek(k->c, end > st->v ? end - st->v
						     : 0); /* below the log start: reset to it */
	} else if (st->kind == START_TIME) {
		err = pagebus_seek_time(k->c, st->v);
	} else {
		err = 0;
	}
	return err < 0 ? fail(pb, err, "consume %s: positioning partition %d", topic, k->partition)
		       : 0;
}

/* -e: marks k at_end when its position reached the partition's high watermark. */
static int check_end(struct pagebus *pb, const char *topic, struct cursor *k)
{
	struct pagebus_topic_desc *d;
	int err = pagebus_topic_describe(pb, topic, &d);
	if (err < 0)
		return fail(pb, err, "consume %s", topic);
	k->at_end = k->partition < d->partitions &&
		    pagebus_position(k->c) >= d->parts[k->partition].hwm;
	pagebus_topic_desc_free(d);
	return 0;
}

static int commit(struct pagebus *pb, const char *topic, struct cursor *k, const char *name)
{
	int64_t next = pagebus_position(k->c);
	if (!name || next == k->committed)
		return 0;
	int err = pagebus_commit(k->c, name, next);
	if (err < 0)
		return fail(pb, err,
			    "consume %s: committing %s at offset %" PRId64 " of partition %d",
			    topic, name, next, k->partition);
	k->committed = next;
	return 0;
}

/* Flushes stdout: 0, 1 when the reader went away (a quiet end), or an error. */
static int flush_stdout(bool *closed)
{
	if (fflush(stdout) == 0)
		return 0;
	if (errno == EPIPE) {
		*closed = true;
		return 0;
	}
	return fail(NULL, -errno, "writing to stdout");
}

/* consume -G prints through format_msg with the compiled FORMAT as ctx. */
static void print_msg(void *ctx, const char *topic, const struct pagebus_msg *m)
{
	format_msg(ctx, topic, m, stdout);
}

static int cmd_consume(const struct command *cmd, int argc, char **argv)
{
	static const struct option opts[] = { COMMON_OPTS, { 0 } };
	int64_t part = -1, count = 0;
	struct start st = { START_BEGINNING, 0 };
	const char *fmt_arg = "%s\\n", *name = NULL, *group = NULL;
	bool exit_at_end = false;
	int c;
	while ((c = next_opt(cmd, argc, argv, ":hp:o:c:ef:g:G:", opts)) != -1) {
		if (c == 'h')
			return help(cmd);
		if (c == '?')
			return EXIT_USAGE;
		if (c == 'p' && !parse_int(optarg, 0, INT32_MAX, &part))
			return usage_error(cmd, "-p: '%s' is not a partition", optarg);
		if (c == 'o' && !parse_start(optarg, &st))
			return usage_error(cmd,
					   "-o: '%s' is not beginning, end, N, -N or @TIMESTAMP_MS",
					   optarg);
		if (c == 'c' && !parse_int(optarg, 1, INT64_MAX, &count))
			return usage_error(cmd, "-c: '%s' is not a count", optarg);
		exit_at_end |= c == 'e';
		fmt_arg = c == 'f' ? optarg : fmt_arg;
		name = c == 'g' ? optarg : name;
		group = c == 'G' ? optarg : group;
	}
	if (group && (part >= 0 || name || (st.kind != START_BEGINNING && st.kind != START_END)))
		return usage_error(cmd, "-G: the group assigns partitions and keeps offsets (no -p or -g; "
				   "-o only beginning or end)");
	if (!(group && argc > optind) && !positional(cmd, argc, argv, 1, "TOPIC"))
		return EXIT_USAGE;
	const char *topic = argv[optind], *bad;
	char *fmt;
	if (format_compile(fmt_arg, &fmt, &bad) < 0) {
		free(fmt);
		return usage_error(
			cmd,
			"-f: unknown code '%.2s' (known: %%t %%p %%o %%k %%s %%T %%h %%K %%S %%%%, "
			"\\n \\t \\r \\0 \\\\)",
			bad);
	}
	struct pagebus *pb;
	struct cursor *cur = NULL;
	int ncur = 0, rc = open_bus(&pb);
	if (rc) {
		free(fmt);
		return rc;
	}
	if (group) { /* a group member: cli/groups.c */
		struct group_consume_opts go = { group, (const char *const *)argv + optind, argc - optind,
						 st.kind == START_END, (uint64_t)count, exit_at_end, print_msg,
						 fmt, &g_stop };
		catch_signals();
		rc = group_consume(pb, &go);
		goto out;
	}
	int nparts = pagebus_topic_partitions(pb, topic);
	/* following a topic nobody created yet: wait for it, as Kafka consumers do */
	for (bool said = false; nparts == -ENOENT && !exit_at_end && !g_stop; nparts = pagebus_topic_partitions(pb, topic)) {
		if (!said)
			fprintf(stderr, "pagebus: waiting for topic %s to be created\n", topic);
		said = true;
		usleep(200000);
	}
	if (nparts < 0) {
		rc = g_stop ? 0 : fail(pb, nparts, "consume %s", topic);
		goto out;
	}
	if (part >= nparts) {
		rc = no_partition(cmd, topic, part, nparts);
		goto out;
	}
	/* without -p: every partition, one consumer each, polled round-robin */
	int want = part >= 0 ? 1 : nparts;
	cur = xrealloc(NULL, (size_t)want * sizeof(*cur));
	for (; ncur < want; ncur++) {
		cur[ncur] = (struct cursor){ .partition = part >= 0 ? (int32_t)part : ncur };
		if ((rc = cursor_open(pb, topic, &cur[ncur], &st, name))) {
			pagebus_consumer_close(cur[ncur].c);
			goto out;
		}
	}
	catch_signals();
	struct pagebus_msg msgs[256];
	uint64_t left = count ? (uint64_t)count : UINT64_MAX;
	int active = ncur;
	bool idle = false, closed = false;
	while (!g_stop && !closed && left && active) {
		bool got = false;
		for (int i = 0; i < ncur && !g_stop && !closed && left; i++) {
			struct cursor *k = &cur[i];
			if (k->at_end)
				continue;
			/* a whole round found nothing: wait, short enough to keep the round fair */
			int timeout = !idle ? 0 : active == 1 ? 200 : 50 / active + 1;
			int n = pagebus_poll(k->c, msgs, left < 256 ? (int)left : 256, timeout);
			if (n == -ENOENT) {
				fprintf(stderr, "pagebus: consume %s: the topic was deleted\n",
					topic);
				rc = EXIT_RUNTIME;
				goto out;
			}
			if (n < 0) {
				rc = fail(pb, n, "consume %s: partition %d at offset %" PRId64,
					  topic, k->partition, pagebus_position(k->c));
				goto out;
			}
			if (!n) {
				if (exit_at_end &&
				    ((rc = check_end(pb, topic, k)) || (k->at_end && !--active)))
					break;
				continue;
			}
			got = true;
			for (int j = 0; j < n; j++)
				format_msg(fmt, topic, &msgs[j], stdout);
			left -= (uint64_t)n;
			/* only what reached stdout is committed */
			if ((rc = flush_stdout(&closed)) ||
			    (!closed && (rc = commit(pb, topic, k, name))))
				goto out;
		}
		if (rc)
			goto out;
		idle = !got;
	}
	for (int i = 0; i < ncur && !closed && !rc; i++)
		rc = commit(pb, topic, &cur[i], name);
out:
	for (int i = 0; i < ncur; i++)
		pagebus_consumer_close(cur[i].c);
	free(cur);
	free(fmt);
	pagebus_close(pb);
	return rc;
}

/* ---- offsets ------------------------------------------------------------------------------ */

static int cmd_offsets(const struct command *cmd, int argc, char **argv)
{
	static const struct option opts[] = { COMMON_OPTS,
					      { "time", required_argument, NULL, OPT_TIME },
					      { 0 } };
	int64_t part = -1, when = -1;
	int c;
	while ((c = next_opt(cmd, argc, argv, ":hp:", opts)) != -1) {
		if (c == 'h')
			return help(cmd);
		if (c == '?')
			return EXIT_USAGE;
		if (c == 'p' && !parse_int(optarg, 0, INT32_MAX, &part))
			return usage_error(cmd, "-p: '%s' is not a partition", optarg);
		if (c == OPT_TIME && !parse_int(optarg, 0, INT64_MAX, &when))
			return usage_error(cmd, "--time: '%s' is not a timestamp in ms", optarg);
	}
	if (!positional(cmd, argc, argv, 1, "TOPIC"))
		return EXIT_USAGE;
	const char *topic = argv[optind];
	struct pagebus *pb;
	struct pagebus_topic_desc *d = NULL;
	int err, rc = open_bus(&pb);
	if (rc)
		return rc;
	if ((err = pagebus_topic_describe(pb, topic, &d)) < 0) {
		rc = fail(pb, err, "offsets %s", topic);
		goto out;
	}
	if (part >= d->partitions) {
		rc = no_partition(cmd, topic, part, d->partitions);
		goto out;
	}
	struct table t;
	table_start(&t, "partition log_start hwm");
	if (when >= 0) {
		t.ncols++;
		cell(&t, "offset_at_%" PRId64, when);
	}
	for (int32_t i = 0; i < d->partitions; i++) {
		if (part >= 0 && i != part)
			continue;
		cell(&t, "%d", i);
		cell(&t, "%" PRId64, d->parts[i].log_start);
		cell(&t, "%" PRId64, d->parts[i].hwm);
		if (when < 0)
			continue;
		struct pagebus_consumer *cons;
		if ((err = pagebus_consumer_open(pb, topic, i, PAGEBUS_OFFSET_BEGINNING, NULL,
						 &cons)) < 0 ||
		    (err = pagebus_seek_time(cons, when)) < 0) {
			pagebus_consumer_close(cons);
			table_print(&t, stdout);
			rc = fail(pb, err, "offsets %s: partition %d at time %" PRId64, topic, i,
				  when);
			goto out;
		}
		cell(&t, "%" PRId64, pagebus_position(cons));
		pagebus_consumer_close(cons);
	}
	table_print(&t, stdout);
out:
	pagebus_topic_desc_free(d);
	pagebus_close(pb);
	return rc;
}

/* ---- stat --------------------------------------------------------------------------------- */

static int cmd_stat(const struct command *cmd, int argc, char **argv)
{
	int rc = only_positional(cmd, argc, argv, 0, "");
	if (rc >= 0)
		return rc;
	struct pagebus *pb;
	struct pagebus_topic_info *v = NULL;
	struct pagebus_topic_desc **descs = NULL;
	int n = 0;
	if ((rc = open_bus(&pb)) || (rc = list_topics(pb, &v, &n)))
		goto out;
	descs = xrealloc(NULL, (size_t)n * sizeof(*descs));
	struct table t;
	table_start(&t, "topic partition log_start hwm segments bytes cached");
	for (int i = 0; i < n; i++) {
		int err = pagebus_topic_describe(pb, v[i].name, &descs[i]);
		if (err == -ENOENT)
			continue; /* deleted since the list */
		if (err < 0) {
			table_print(&t, stdout);
			n = i;
			rc = fail(pb, err, "stat: topic %s", v[i].name);
			goto out;
		}
		for (int32_t p = 0; p < descs[i]->partitions; p++) {
			uint64_t cached;
			cell(&t, "%s", v[i].name);
			partition_rows(&t, &descs[i]->parts[p]);
			if (partition_cached(data_dir(), v[i].name, p, true, &cached) < 0)
				cell(&t, "n/a");
			else
				cell(&t, "%" PRIu64, cached);
		}
	}
	table_print(&t, stdout);
	printf("\n");
	rc = group_lag_rows(pb);
out:
	for (int i = 0; descs && i < n; i++)
		pagebus_topic_desc_free(descs[i]);
	free(descs);
	pagebus_topic_list_free(v);
	pagebus_close(pb);
	return rc;
}

/* ---- groups ------------------------------------------------------------------------------- */

static int cmd_groups_list(const struct command *cmd, int argc, char **argv)
{
	struct pagebus *pb;
	int rc = only_positional(cmd, argc, argv, 0, "");
	if (rc >= 0 || (rc = open_bus(&pb)))
		return rc;
	rc = groups_list_run(pb);
	pagebus_close(pb);
	return rc;
}

static int cmd_groups_describe(const struct command *cmd, int argc, char **argv)
{
	struct pagebus *pb;
	int rc = only_positional(cmd, argc, argv, 1, "GROUP");
	if (rc >= 0 || (rc = open_bus(&pb)))
		return rc;
	rc = groups_describe_run(pb, argv[optind]);
	pagebus_close(pb);
	return rc;
}

/* ---- top ------------------------------------------------------------------------------------ */

static int cmd_top(const struct command *cmd, int argc, char **argv)
{
	static const struct option opts[] = { COMMON_OPTS,
					      { "once", no_argument, NULL, OPT_ONCE },
					      { "metrics", required_argument, NULL, OPT_METRICS },
					      { 0 } };
	struct top_opts o = { 0 };
	int c;
	while ((c = next_opt(cmd, argc, argv, ":h", opts)) != -1) {
		if (c == 'h')
			return help(cmd);
		if (c == '?')
			return EXIT_USAGE;
		o.once |= c == OPT_ONCE;
		o.metrics = c == OPT_METRICS ? optarg : o.metrics;
	}
	if (!positional(cmd, argc, argv, 0, ""))
		return EXIT_USAGE;
	o.dir = data_dir();
	return top_run(&o);
}

/* ---- trace ---------------------------------------------------------------------------------- */

static int cmd_trace(const struct command *cmd, int argc, char **argv)
{
	static const struct option opts[] = { COMMON_OPTS,
					      { "pid", required_argument, NULL, OPT_PID },
					      { "seconds", required_argument, NULL, OPT_SECONDS },
					      { "quiet", no_argument, NULL, 'q' },
					      { 0 } };
	int64_t pid = 0, seconds = 0;
	bool quiet = false;
	int c;
	while ((c = next_opt(cmd, argc, argv, ":hq", opts)) != -1) {
		if (c == 'h')
			return help(cmd);
		if (c == '?')
			return EXIT_USAGE;
		if (c == OPT_PID && !parse_int(optarg, 1, INT32_MAX, &pid))
			return usage_error(cmd, "--pid: '%s' is not a process id", optarg);
		if (c == OPT_SECONDS && !parse_int(optarg, 1, 86400, &seconds))
			return usage_error(cmd, "--seconds: '%s' is not 1..86400", optarg);
		quiet |= c == 'q';
	}
	if (!positional(cmd, argc, argv, 0, ""))
		return EXIT_USAGE;
	int rc = trace_check(); /* why this machine cannot trace comes first */
	if (rc)
		return rc;
	int lock_pid = 0;
	if (!pid && broker_lock_info(data_dir(), &lock_pid, NULL, 0) < 0) {
		fprintf(stderr, "pagebus: trace: no broker pid in %s/pagebus.lock (is pagebusd running? "
				"--pid names a process)\n",
			data_dir());
		return EXIT_RUNTIME;
	}
	struct trace_opts o = { data_dir(), pid ? (int)pid : lock_pid, (int)seconds, quiet };
	return trace_run(&o);
}

/* ---- commands and main -------------------------------------------------------------------- */

static const struct command commands[] = {
	{ "topics create", cmd_topics_create, "NAME [-p N] [--config KEY=VALUE ...]",
	  "Creates topic NAME.\n\n"
	  "  -p N                  partitions (default: the broker's default.partitions)\n"
	  "  --config KEY=VALUE    a per-topic override (retention.ms, segment.bytes, ...); "
	  "repeatable\n" },
	{ "topics list", cmd_topics_list, "", "Lists every topic with its partition count.\n" },
	{ "topics describe", cmd_topics_describe, "NAME",
	  "Shows topic NAME: its overrides, and per partition the log start, high watermark,\n"
	  "segment files and bytes on disk.\n" },
	{ "topics delete", cmd_topics_delete, "NAME", "Deletes topic NAME and its data.\n" },
	{ "produce", cmd_produce,
	  "TOPIC [-p PART] [-K SEP] [-H KEY=VALUE ...] [--acks none|appended|durable]",
	  "Sends one message per line of stdin (the newline stripped) and prints a summary\n"
	  "to stderr at the end: the count and the last offset per partition.\n\n"
	  "  -p PART           partition (default: by key, Kafka's murmur2; without a key, "
	  "sticky)\n"
	  "  -K SEP            the key is the part of a line before the first SEP (none: no key)\n"
	  "  -H KEY=VALUE      a header on every message; repeatable (-H KEY: a null value)\n"
	  "  --acks LEVEL      none, appended (default: in the page cache) or durable "
	  "(fdatasynced)\n" },
	{ "consume", cmd_consume,
	  "TOPIC [-p PART] [-o beginning|end|N|-N|@TIMESTAMP_MS] [-c COUNT] [-e] [-f FORMAT] [-g "
	  "NAME] | -G GROUP TOPIC...",
	  "Prints messages of TOPIC. Without -p every partition is read (round-robin).\n\n"
	  "  -p PART        partition\n"
	  "  -o OFFSET      start: beginning (default), end, offset N, -N (N before the end),\n"
	  "                 @TIMESTAMP_MS (the first message at or after that time)\n"
	  "  -c COUNT       exit after COUNT messages\n"
	  "  -e             exit at the end of the log instead of waiting for more\n"
	  "  -f FORMAT      output format (default '%s\\n'): %t topic, %p partition, %o offset,\n"
	  "                 %k key, %s value, %T timestamp (ms), %h headers (k=v,k=v),\n"
	  "                 %K key length, %S value length (-1: null), %% a %;\n"
	  "                 escapes \\n \\t \\r \\0 \\\\\n"
	  "  -g NAME        resume from the named offset NAME (else from -o) and commit it\n"
	  "                 after each batch written to stdout and at exit\n"
	  "  -G GROUP       join consumer group GROUP (with Kafka clients too) subscribed to\n"
	  "                 the TOPICs: read the partitions it assigns from their committed\n"
	  "                 offsets (else from -o beginning or end), commit what reached stdout\n"
	  "                 every 5 s and at exit; -e: exit once the partitions it owns are\n"
	  "                 read to their end. Assignments are reported on stderr.\n" },
	{ "offsets", cmd_offsets, "TOPIC [-p PART] [--time MS]",
	  "Prints each partition's log start and high watermark.\n\n"
	  "  -p PART        only this partition\n"
	  "  --time MS      also the offset of the first message at or after MS (ms since the\n"
	  "                 epoch); the high watermark when none is that late\n" },
	{ "stat", cmd_stat, "",
	  "Per topic and partition: log start, high watermark, segments, bytes on disk and bytes\n"
	  "in the page cache (\"n/a\" when the segment files cannot be read); then every named\n"
	  "consumer and consumer group partition with its next offset, lag and owner.\n" },
	{ "groups list", cmd_groups_list, "",
	  "Lists consumer groups (local and Kafka members alike, and names with committed\n"
	  "offsets): state, members, assignment protocol and generation.\n" },
	{ "groups describe", cmd_groups_describe, "GROUP",
	  "Shows consumer group GROUP: its members, and per partition the member that owns it,\n"
	  "the committed offset, the high watermark and the lag.\n" },
	{ "top", cmd_top, "[--once] [--metrics HOST:PORT]",
	  "A live view of the broker, refreshed every second (q quits): per partition the\n"
	  "append rate (messages and bytes per second), high watermark, log start, bytes on\n"
	  "disk, bytes in the page cache (cachestat(2); \"n/a\" where the kernel lacks it)\n"
	  "and local consumers; named consumers and their lag; the broker's CPU, RSS and\n"
	  "threads, append and fsync latency. It reads the control region, /proc and the\n"
	  "metrics endpoint (found in DIR/pagebus.lock): nothing that slows the broker.\n\n"
	  "  --once             print one frame (rates over one second) and exit\n"
	  "  --metrics ADDR     the metrics endpoint (default: the broker's metrics.listen)\n" },
	{ "trace", cmd_trace, "[--pid PID] [--seconds N] [-q]",
	  "The kernel side of the broker, with BPF programs on tracepoints (needs root, BTF and\n"
	  "tracefs): its io_uring operations by opcode (latency, punts to io-wq workers, short\n"
	  "writes), the page cache of the data dir's segment files (reads, faults, misses, new\n"
	  "pages, hit ratio per partition, writeback) and the bytes it moved with and without a\n"
	  "copy. A line per second, a summary at the end.\n\n"
	  "  --pid PID       trace this process (default: the broker of DIR, from its lock file)\n"
	  "  --seconds N     stop after N seconds (default: at Ctrl-C)\n"
	  "  -q, --quiet     no per-second lines, the summary only\n"
	  "Exit status 2 with one line when this machine cannot trace.\n" },
};

static void main_usage(FILE *f)
{
	fprintf(f, "usage: pagebus [--dir DIR] COMMAND [ARGS]\n\n"
		   "  --dir DIR   the broker's data directory (default: $PAGEBUS_DIR, else "
		   "./pagebus-data)\n\n"
		   "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %s%s%s\n", commands[i].name, *commands[i].synopsis ? " " : "",
			commands[i].synopsis);
	fprintf(f, "\n'pagebus COMMAND --help' describes a command. Exit status: 0 ok, 1 error, 2 "
		   "usage.\n");
}

static bool is_help(const char *s)
{
	return !strcmp(s, "--help") || !strcmp(s, "-h");
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN); /* a closed stdout or socket is an error return, not a death */
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
			g_dir = argv[++i];
		} else if (!strncmp(argv[i], "--dir=", 6)) {
			g_dir = argv[i] + 6;
		} else if (is_help(argv[i])) {
			main_usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("pagebus %s\n", PAGEBUS_VERSION);
			return 0;
		} else {
			fprintf(stderr, "pagebus: %s '%s' (see 'pagebus --help')\n",
				strcmp(argv[i], "--dir") ? "unknown option" : "missing a value for",
				argv[i]);
			return EXIT_USAGE;
		}
	}
	if (i == argc) {
		fprintf(stderr, "pagebus: missing COMMAND (see 'pagebus --help')\n");
		return EXIT_USAGE;
	}
	char name[64];
	bool topics = !strcmp(argv[i], "topics"), group = topics || !strcmp(argv[i], "groups");
	if (group && i + 1 == argc) {
		fprintf(stderr, "pagebus: %s: missing %s (see 'pagebus %s --help')\n", argv[i],
			topics ? "create, list, describe or delete" : "list or describe", argv[i]);
		return EXIT_USAGE;
	}
	if (group && is_help(argv[i + 1])) {
		for (size_t j = 0; j < sizeof(commands) / sizeof(commands[0]); j++)
			if (!strncmp(commands[j].name, argv[i], strlen(argv[i])) &&
			    commands[j].name[strlen(argv[i])] == ' ')
				printf("usage: pagebus [--dir DIR] %s%s%s\n", commands[j].name,
				       *commands[j].synopsis ? " " : "", commands[j].synopsis);
		return 0;
	}
	snprintf(name, sizeof(name), "%s%s%s", argv[i], group ? " " : "", group ? argv[i + 1] : "");
	i += group;
	for (size_t j = 0; j < sizeof(commands) / sizeof(commands[0]); j++)
		if (!strcmp(commands[j].name, name))
			return commands[j].run(&commands[j], argc - i, argv + i);
	fprintf(stderr, "pagebus: unknown command '%s' (see 'pagebus --help')\n", name);
	return EXIT_USAGE;
}
