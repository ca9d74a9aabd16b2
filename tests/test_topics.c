/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_topics.c — the topic registry: create, persist and reopen (ids, partitions,
 * overrides, data), name and count validation, delete, ids never reused, malformed
 * topics.meta, and the leftovers of interrupted creates and deletes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "logging.h"
#include "partition.h"
#include "testutil.h"
#include "topics.h"

struct fixture {
	char *root;
	struct broker_config c;
	struct topics t;
	char err[512];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->root = tu_tmpdir("topics");
	config_defaults(&f->c);
	f->c.dir = strdup(f->root);
	f->c.log.segment_bytes = 64 * 1024; /* small sparse segments */
	log_set_level(LOG_ERROR);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	topics_close(&f->t);
	config_free(&f->c);
	tu_rmrf(f->root);
	free(f->root);
	free(f);
	return 0;
}

static void open_ok(struct fixture *f)
{
	if (topics_open(&f->t, &f->c, f->err, sizeof(f->err)))
		fail_msg("topics_open: %s", f->err);
}

static void reopen(struct fixture *f)
{
	topics_close(&f->t);
	open_ok(f);
}

static struct topic *create_ok(struct fixture *f, const char *name, int32_t parts,
			       const char *const *keys, const char *const *values, int n)
{
	struct topic *tp = NULL;
	if (topics_create(&f->t, name, parts, keys, values, n, &tp, f->err, sizeof(f->err)))
		fail_msg("topics_create %s: %s", name, f->err);
	assert_non_null(tp);
	return tp;
}

static int create(struct fixture *f, const char *name, int32_t parts)
{
	struct topic *tp = (struct topic *)1;
	f->err[0] = '\0';
	int r = topics_create(&f->t, name, parts, NULL, NULL, 0, &tp, f->err, sizeof(f->err));
	if (r) {
		assert_null(tp);
		assert_true(f->err[0] != '\0');
	}
	return r;
}

static const char *path_in(struct fixture *f, const char *name)
{
	static char path[2][4096];
	static int which;
	which ^= 1;
	snprintf(path[which], sizeof(path[which]), "%s/%s", f->root, name);
	return path[which];
}

static int exists(struct fixture *f, const char *name)
{
	struct stat st;
	return lstat(path_in(f, name), &st) == 0;
}

static char *read_meta(struct fixture *f)
{
	size_t len;
	char *s = (char *)tu_read_file(path_in(f, "topics.meta"), &len);
	assert_non_null(s);
	s[len] = '\0';
	return s;
}

static void write_meta(struct fixture *f, const char *text)
{
	FILE *fp = fopen(path_in(f, "topics.meta"), "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void append(struct partition *p, const char *tag, int records)
{
	size_t len;
	int64_t base;
	uint8_t *b = tu_batch(tag, records, 100, 1000, &len);
	assert_int_equal(part_append(p, b, len, 0, &base), 0);
	free(b);
}

static void test_topics_missing_registry_means_no_topics(void **state)
{
	struct fixture *f = *state;
	open_ok(f);
	assert_int_equal(f->t.n, 0);
	assert_int_equal(f->t.next_id, 1);
	assert_null(topics_find(&f->t, "demo"));
	assert_null(topics_by_id(&f->t, 1));
	assert_false(exists(f, "topics.meta"));
	/* a data directory that does not exist yet is created */
	topics_close(&f->t);
	free(f->c.dir);
	f->c.dir = strdup(path_in(f, "sub"));
	open_ok(f);
	assert_true(exists(f, "sub"));
}

static void test_topics_create_persists_and_reopen_restores_everything(void **state)
{
	struct fixture *f = *state;
	static const char *const keys[] = { "retention.ms", "segment.bytes" };
	static const char *const values[] = { "1000", "128K" };
	open_ok(f);
	struct topic *demo = create_ok(f, "demo", 3, keys, values, 2);
	struct topic *orders = create_ok(f, "orders.v1_x-y", 1, NULL, NULL, 0);
	assert_int_equal(demo->id, 1);
	assert_int_equal(orders->id, 2);
	assert_int_equal(demo->nparts, 3);
	assert_int_equal(demo->cfg.retention_ms, 1000);
	assert_int_equal(demo->cfg.segment_bytes, 128 * 1024);
	assert_int_equal(demo->cfg.index_interval_bytes, f->c.log.index_interval_bytes);
	assert_int_equal(orders->cfg.segment_bytes, 64 * 1024); /* the broker's */
	assert_int_equal(orders->cfg.retention_ms, -1);
	for (int p = 0; p < 3; p++)
		assert_non_null(demo->parts[p]);
	assert_true(exists(f, "demo-0") && exists(f, "demo-2") && !exists(f, "demo-3"));
	assert_true(exists(f, "orders.v1_x-y-0"));
	assert_int_equal(tu_file_size(tu_seg_file(path_in(f, "demo-1"), 0, ".log")), 128 * 1024);
	assert_ptr_equal(topics_find(&f->t, "demo"), demo);
	assert_ptr_equal(topics_by_id(&f->t, 2), orders);

	/* on disk before create returned */
	char *meta = read_meta(f);
	assert_non_null(strstr(meta, "\nregistry version=1 next_id=3\n"));
	assert_non_null(strstr(meta, "\ntopic id=1 name=demo partitions=3 retention.ms=1000 "
				     "segment.bytes=128K\n"));
	assert_non_null(strstr(meta, "\ntopic id=2 name=orders.v1_x-y partitions=1\n"));
	assert_false(exists(f, "topics.meta.tmp"));
	free(meta);

	append(demo->parts[2], "a", 5);
	append(demo->parts[2], "b", 3);
	append(orders->parts[0], "c", 1);
	demo->ctx = f; /* the broker's pointer: not persisted */

	reopen(f);
	assert_int_equal(f->t.n, 2);
	assert_int_equal(f->t.next_id, 3);
	demo = topics_find(&f->t, "demo");
	orders = topics_by_id(&f->t, 2);
	assert_non_null(demo);
	assert_non_null(orders);
	assert_string_equal(orders->name, "orders.v1_x-y");
	assert_int_equal(demo->id, 1);
	assert_int_equal(demo->nparts, 3);
	assert_null(demo->ctx);
	assert_int_equal(demo->cfg.retention_ms, 1000);
	assert_int_equal(demo->cfg.segment_bytes, 128 * 1024);
	assert_int_equal(demo->noverrides, 2);
	assert_string_equal(demo->overrides[0].key, "retention.ms");
	assert_string_equal(demo->overrides[0].value, "1000");
	assert_string_equal(demo->overrides[1].key, "segment.bytes");
	assert_string_equal(demo->overrides[1].value, "128K");
	assert_int_equal(demo->parts[0]->hwm, 0);
	assert_int_equal(demo->parts[2]->hwm, 8);
	assert_int_equal(demo->parts[2]->cfg.retention_ms, 1000);
	assert_int_equal(orders->parts[0]->hwm, 1);
	assert_int_equal(orders->noverrides, 0);

	/* a topic without overrides follows the broker's defaults across restarts */
	f->c.log.retention_ms = 5000;
	reopen(f);
	assert_int_equal(topics_find(&f->t, "orders.v1_x-y")->cfg.retention_ms, 5000);
	assert_int_equal(topics_find(&f->t, "demo")->cfg.retention_ms, 1000);
}

static void test_topics_rejects_invalid_names(void **state)
{
	struct fixture *f = *state;
	char long_name[251];
	open_ok(f);
	memset(long_name, 'a', 250);
	long_name[250] = '\0';
	static const char *const bad[] = { "",	    ".",	   "..",  "a/b", "sp ace",
					   "tab\t", "caf\xc3\xa9", "a:b", "a*",	 "../x",
					   "/" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(topics_name_valid(bad[i]));
		assert_int_equal(create(f, bad[i], 1), -EINVAL);
	}
	assert_false(topics_name_valid(long_name));
	assert_int_equal(create(f, long_name, 1), -EINVAL);
	assert_string_equal(f->err, "topic name is 250 characters long (at most 249)");
	assert_int_equal(create(f, "a/b", 1), -EINVAL);
	assert_string_equal(f->err,
			    "topic name has an invalid character (byte 0x2f) at position 2: "
			    "only a-z A-Z 0-9 . _ - are allowed");
	assert_int_equal(create(f, "sp ace", 1), -EINVAL);
	assert_non_null(strstr(f->err, "0x20"));
	assert_int_equal(create(f, "..", 1), -EINVAL);
	assert_string_equal(f->err, "topic name cannot be '.' or '..'");
	assert_int_equal(f->t.n, 0);
	assert_false(exists(f, "topics.meta"));

	/* the longest name works end to end, including delete */
	long_name[249] = '\0';
	assert_true(topics_name_valid(long_name));
	assert_true(topics_name_valid("..."));
	assert_true(topics_name_valid("a..b"));
	assert_true(topics_name_valid("_-."));
	create_ok(f, long_name, 2, NULL, NULL, 0);
	reopen(f);
	assert_non_null(topics_find(&f->t, long_name));
	assert_int_equal(topics_delete(&f->t, long_name, f->err, sizeof(f->err)), 0);
	char dir[260];
	snprintf(dir, sizeof(dir), "%s-1", long_name);
	assert_false(exists(f, dir));
}

static void test_topics_duplicate_is_eexist(void **state)
{
	struct fixture *f = *state;
	open_ok(f);
	create_ok(f, "demo", 2, NULL, NULL, 0);
	assert_int_equal(create(f, "demo", 2), -EEXIST);
	assert_string_equal(f->err, "topic 'demo' already exists");
	assert_int_equal(create(f, "Demo", 1), 0); /* names are case-sensitive, like Kafka's */
	reopen(f);
	assert_int_equal(create(f, "demo", 5), -EEXIST);
	assert_int_equal(f->t.n, 2);
}

static void test_topics_partition_count_and_max_partitions(void **state)
{
	struct fixture *f = *state;
	open_ok(f);
	assert_int_equal(create(f, "x", 0), -EINVAL);
	assert_string_equal(f->err, "topic 'x': partitions must be 1..10000, not 0");
	assert_int_equal(create(f, "x", -1), -EINVAL);
	assert_int_equal(create(f, "x", 10001), -EINVAL);
	assert_int_equal(create(f, "x", INT32_MIN), -EINVAL);
	f->c.max_partitions = 5;
	create_ok(f, "a", 3, NULL, NULL, 0);
	assert_int_equal(create(f, "b", 3), -ENOSPC);
	assert_non_null(strstr(f->err, "max.partitions=5"));
	create_ok(f, "b", 2, NULL, NULL, 0);
	assert_int_equal(create(f, "c", 1), -ENOSPC);
	assert_int_equal(topics_delete(&f->t, "a", f->err, sizeof(f->err)), 0);
	create_ok(f, "c", 3, NULL, NULL, 0);
	assert_false(exists(f, "x-0"));
}

static void test_topics_bad_overrides_create_nothing(void **state)
{
	struct fixture *f = *state;
	struct topic *tp;
	open_ok(f);
	static const char *const k1[] = { "retention.ms", "flush.ms" };
	static const char *const v1[] = { "1000", "5" };
	assert_int_equal(topics_create(&f->t, "demo", 1, k1, v1, 2, &tp, f->err, sizeof(f->err)),
			 -EINVAL);
	assert_non_null(strstr(f->err, "flush.ms"));
	assert_non_null(strstr(f->err, "not a per-topic key"));
	static const char *const k2[] = { "segment.bytes" };
	static const char *const v2[] = { "12x" };
	assert_int_equal(topics_create(&f->t, "demo", 1, k2, v2, 1, &tp, f->err, sizeof(f->err)),
			 -EINVAL);
	assert_string_equal(f->err, "segment.bytes: '12x' is not a number");
	static const char *const k3[] = { "retention.ms", "retention.ms" };
	static const char *const v3[] = { "1", "2" };
	assert_int_equal(topics_create(&f->t, "demo", 1, k3, v3, 2, &tp, f->err, sizeof(f->err)),
			 -EINVAL);
	assert_string_equal(f->err, "retention.ms: given twice");
	static const char *const k4[] = { "nope" };
	assert_int_equal(topics_create(&f->t, "demo", 1, k4, v2, 1, &tp, f->err, sizeof(f->err)),
			 -EINVAL);
	assert_null(tp);
	assert_int_equal(f->t.n, 0);
	assert_false(exists(f, "demo-0"));
	assert_false(exists(f, "topics.meta"));
	/* nothing consumed an id */
	assert_int_equal(create_ok(f, "demo", 1, NULL, NULL, 0)->id, 1);
}

static void test_topics_delete_removes_dirs_and_registry_line(void **state)
{
	struct fixture *f = *state;
	open_ok(f);
	struct topic *a = create_ok(f, "a", 2, NULL, NULL, 0);
	create_ok(f, "b", 1, NULL, NULL, 0);
	append(a->parts[1], "x", 4);
	assert_int_equal(topics_delete(&f->t, "a", f->err, sizeof(f->err)), 0);
	assert_null(topics_find(&f->t, "a"));
	assert_null(topics_by_id(&f->t, 1));
	assert_int_equal(f->t.n, 1);
	assert_false(exists(f, "a-0") || exists(f, "a-1"));
	assert_false(exists(f, "a-0.deleted") || exists(f, "a-1.deleted"));
	char *meta = read_meta(f);
	assert_null(strstr(meta, "name=a "));
	assert_non_null(strstr(meta, "topic id=2 name=b partitions=1\n"));
	free(meta);

	reopen(f);
	assert_null(topics_find(&f->t, "a"));
	assert_non_null(topics_find(&f->t, "b"));
	assert_false(exists(f, "a-0"));
	assert_int_equal(topics_delete(&f->t, "a", f->err, sizeof(f->err)), -ENOENT);
	assert_string_equal(f->err, "unknown topic 'a'");

	/* a deleted name can be created again, empty, under a new id */
	struct topic *again = create_ok(f, "a", 1, NULL, NULL, 0);
	assert_int_equal(again->id, 3);
	assert_int_equal(again->parts[0]->hwm, 0);
}

static void test_topics_ids_not_reused_after_delete_and_reopen(void **state)
{
	struct fixture *f = *state;
	open_ok(f);
	create_ok(f, "a", 1, NULL, NULL, 0);
	create_ok(f, "b", 1, NULL, NULL, 0);
	create_ok(f, "c", 1, NULL, NULL, 0);
	assert_int_equal(topics_delete(&f->t, "c", f->err, sizeof(f->err)), 0);
	assert_int_equal(topics_delete(&f->t, "b", f->err, sizeof(f->err)), 0);
	reopen(f);
	assert_int_equal(create_ok(f, "d", 1, NULL, NULL, 0)->id, 4);
	assert_int_equal(topics_delete(&f->t, "a", f->err, sizeof(f->err)), 0);
	assert_int_equal(topics_delete(&f->t, "d", f->err, sizeof(f->err)), 0);
	reopen(f); /* no topics left, next_id still remembered */
	assert_int_equal(f->t.n, 0);
	assert_int_equal(create_ok(f, "e", 1, NULL, NULL, 0)->id, 5);
	/* a failed create does not hand out its id either way */
	assert_int_equal(create(f, "e", 1), -EEXIST);
	assert_int_equal(create_ok(f, "f", 1, NULL, NULL, 0)->id, 6);
}

static void meta_fails(struct fixture *f, const char *text, const char *want)
{
	char full[1024];
	write_meta(f, text);
	topics_close(&f->t);
	f->err[0] = '\0';
	assert_int_equal(topics_open(&f->t, &f->c, f->err, sizeof(f->err)), -EINVAL);
	snprintf(full, sizeof(full), "%s/topics.meta%s", f->root, want);
	if (strncmp(f->err, full, strlen(full)))
		fail_msg("for:\n%s\ngot '%s'\nwant '%s...'", text, f->err, full);
	assert_int_equal(f->t.n, 0);
	assert_null(f->t.dir);
}

static void test_topics_malformed_registry_is_einval_naming_the_line(void **state)
{
	struct fixture *f = *state;
	const char *hdr = "registry version=1 next_id=9\n";
	char text[1024];
	meta_fails(f, "", ": no 'registry version=1' line");
	meta_fails(f, "# only a comment\n", ": no 'registry version=1' line");
	meta_fails(f, "topic id=1 name=a partitions=1\n",
		   ":1: 'topic' before the 'registry version=1' line");
	meta_fails(f, "registry version=2 next_id=1\n",
		   ":1: registry version 2 is not supported (this broker reads version 1)");
	meta_fails(f, "registry version=1\n", ":1: next_id missing or out of range");
	meta_fails(f, "registry version=1 next_id=x\n", ":1: 'next_id' is not key=number");
#define BAD(line, want)                                                                            \
	do {                                                                                       \
		snprintf(text, sizeof(text), "# c\n%s%s", hdr, line);                              \
		meta_fails(f, text, ":4: " want);                                                  \
	} while (0)
	BAD("topic id=1 name=a partitions=1\ngarbage here\n", "unexpected line 'garbage'");
	BAD("topic id=1 name=a partitions=1\nregistry version=1 next_id=9\n",
	    "unexpected line 'registry'");
	BAD("topic id=1 name=a partitions=1\ntopic id=1 name=b partitions=1\n",
	    "topic 'b' or id 1 listed twice");
	BAD("topic id=1 name=a partitions=1\ntopic id=2 name=a partitions=1\n",
	    "topic 'a' or id 2 listed twice");
	BAD("topic id=1 name=a partitions=1\ntopic id=x name=b partitions=1\n", "id: 'x'");
	BAD("topic id=1 name=a partitions=1\ntopic id=0 name=b partitions=1\n", "id: '0'");
	BAD("topic id=1 name=a partitions=1\ntopic id=2 name=b partitions=0\n", "partitions: '0'");
	BAD("topic id=1 name=a partitions=1\ntopic id=2 name=b partitions=10001\n",
	    "partitions: '10001'");
	BAD("topic id=1 name=a partitions=1\ntopic id=2 name=b\n",
	    "a topic needs id=, name= and partitions=");
	BAD("topic id=1 name=a partitions=1\ntopic id=2 name=a/b partitions=1\n",
	    "topic name has an invalid character");
	BAD("topic id=1 name=a partitions=1\ntopic id=2 name=b name=c partitions=1\n",
	    "name: repeated");
	BAD("topic id=1 name=a partitions=1\ntopic id=2 name=b partitions=1 flush.ms=5\n",
	    "broker key 'flush.ms' is not a per-topic key");
	BAD("topic id=1 name=a partitions=1\ntopic id=2 name=b partitions=1 retention.ms=soon\n",
	    "retention.ms: 'soon' is not a number");
	BAD("topic id=1 name=a partitions=1\ntopic id=2 name=b partitions=1 bare\n",
	    "'bare' is not key=value");
#undef BAD
	/* nothing of a rejected registry was opened or created */
	assert_false(exists(f, "a-0"));
}

static void test_topics_reads_a_hand_written_registry(void **state)
{
	struct fixture *f = *state;
	write_meta(f, "# written by hand\n"
		      "\n"
		      "registry  next_id=2\tversion=1\n"
		      "   # indented comment\n"
		      "topic partitions=2 name=hand id=7 segment.preallocate=true\r\n"
		      "topic id=3 name=low partitions=1\n");
	open_ok(f);
	struct topic *tp = topics_by_id(&f->t, 7);
	assert_non_null(tp);
	assert_string_equal(tp->name, "hand");
	assert_int_equal(tp->nparts, 2);
	assert_true(tp->cfg.preallocate);
	assert_true(exists(f, "hand-1")); /* partitions missing on disk are created */
	/* ids at or past next_id push it on, so they are never handed out again */
	assert_int_equal(f->t.next_id, 8);
	assert_int_equal(create_ok(f, "new", 1, NULL, NULL, 0)->id, 8);
	char *meta = read_meta(f);
	assert_non_null(strstr(meta, "registry version=1 next_id=9\n"));
	assert_non_null(
		strstr(meta, "topic id=7 name=hand partitions=2 segment.preallocate=true\n"));
	free(meta);
}

static void test_topics_interrupted_delete_leftovers_are_removed(void **state)
{
	struct fixture *f = *state;
	open_ok(f);
	struct topic *tp = create_ok(f, "keep", 1, NULL, NULL, 0);
	append(tp->parts[0], "k", 2);
	topics_close(&f->t);
	/* a delete that renamed its directories but did not finish removing them */
	assert_int_equal(mkdir(path_in(f, "gone-0.deleted"), 0755), 0);
	assert_int_equal(mkdir(path_in(f, "gone-0.deleted/sub"), 0755), 0);
	FILE *fp = fopen(path_in(f, "gone-0.deleted/sub/00000000000000000000.log"), "w");
	fputs("data", fp);
	fclose(fp);
	assert_int_equal(mkdir(path_in(f, "gone-1.deleted"), 0755), 0);
	/* and a registry write that stopped before its rename */
	fp = fopen(path_in(f, "topics.meta.tmp"), "w");
	fputs("registry version=1 next_id=1\n", fp);
	fclose(fp);
	open_ok(f);
	assert_false(exists(f, "gone-0.deleted"));
	assert_false(exists(f, "gone-1.deleted"));
	assert_false(exists(f, "topics.meta.tmp"));
	assert_int_equal(f->t.next_id, 2); /* the real registry was read, not the tmp file */
	assert_int_equal(topics_find(&f->t, "keep")->parts[0]->hwm, 2);
	assert_true(exists(f, "keep-0"));
}

static void test_topics_stray_partition_dir_is_not_adopted(void **state)
{
	struct fixture *f = *state;
	open_ok(f);
	/* a directory the registry does not know (a delete that stopped after writing the
	 * registry, or a copy): creating over it must not resurrect its data */
	assert_int_equal(mkdir(path_in(f, "x-1"), 0755), 0);
	assert_int_equal(create(f, "x", 2), -EEXIST);
	assert_non_null(strstr(f->err, "x-1 exists but topic 'x' is not registered"));
	assert_false(exists(f, "x-0"));
	assert_int_equal(create(f, "x", 1), 0); /* x-0 only: no clash */
}

static void test_topics_interrupted_create_is_completed_on_open(void **state)
{
	struct fixture *f = *state;
	/* the registry is written before the partitions are created: a crash in between
	 * leaves a registered topic with no directories, which open creates */
	write_meta(f, "registry version=1 next_id=2\ntopic id=1 name=half partitions=2\n");
	open_ok(f);
	struct topic *tp = topics_find(&f->t, "half");
	assert_non_null(tp);
	assert_true(exists(f, "half-0") && exists(f, "half-1"));
	append(tp->parts[1], "h", 1);
	reopen(f);
	assert_int_equal(topics_find(&f->t, "half")->parts[1]->hwm, 1);
}

static void test_topics_close_is_safe_on_zeroed_and_closed(void **state)
{
	struct fixture *f = *state;
	struct topics z;
	memset(&z, 0, sizeof(z));
	topics_close(&z);
	topics_close(NULL);
	open_ok(f);
	topics_close(&f->t);
	topics_close(&f->t);
	free(f->c.dir);
	f->c.dir = NULL;
	assert_int_equal(topics_open(&f->t, &f->c, f->err, sizeof(f->err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_topics_missing_registry_means_no_topics),
		T(test_topics_create_persists_and_reopen_restores_everything),
		T(test_topics_rejects_invalid_names),
		T(test_topics_duplicate_is_eexist),
		T(test_topics_partition_count_and_max_partitions),
		T(test_topics_bad_overrides_create_nothing),
		T(test_topics_delete_removes_dirs_and_registry_line),
		T(test_topics_ids_not_reused_after_delete_and_reopen),
		T(test_topics_malformed_registry_is_einval_naming_the_line),
		T(test_topics_reads_a_hand_written_registry),
		T(test_topics_interrupted_delete_leftovers_are_removed),
		T(test_topics_stray_partition_dir_is_not_adopted),
		T(test_topics_interrupted_create_is_completed_on_open),
		T(test_topics_close_is_safe_on_zeroed_and_closed),
#undef T
	};
	return cmocka_run_group_tests_name("topics", tests, NULL, NULL);
}
