/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_offsets.c — the committed-offset store (bus/offsets.c): files from before metadata
 * read as they are, any group name and metadata round-tripped through the file, batches
 * stored all or nothing, and malformed files refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "offsets.h"
#include "testutil.h"

static int setup(void **state)
{
	*state = tu_tmpdir("offsets");
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	tu_rmrf(*state);
	free(*state);
	return 0;
}

static void write_file(const char *dir, const char *text)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/consumer-offsets", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *read_file(const char *dir)
{
	char path[4200];
	size_t len;
	snprintf(path, sizeof(path), "%s/consumer-offsets", dir);
	char *s = (char *)tu_read_file(path, &len);
	assert_non_null(s);
	s[len] = '\0';
	return s;
}

static void test_offsets_reads_files_written_before_metadata(void **state)
{
	const char *dir = *state;
	struct offsets o;
	int64_t off;
	const char *meta = "x";
	write_file(dir, "billing orders 0 5\nbilling orders 1 7\n");
	assert_int_equal(offsets_open(&o, dir), 0);
	assert_int_equal(offsets_fetch_meta(&o, "billing", "orders", 1, &off, &meta), 0);
	assert_int_equal(off, 7);
	assert_null(meta);
	assert_int_equal(offsets_fetch(&o, "billing", "orders", 2, &off), -ENOENT);
	offsets_close(&o);
}

/* A Kafka group id and metadata may hold spaces, '%' and any byte but NUL: each field
 * stays one token of the file and comes back byte for byte. */
static void test_offsets_round_trip_any_group_name_and_metadata(void **state)
{
	const char *dir = *state;
	static const char name[] = "my group/\xc3\xbc%20", meta[] = "a b%c\td \xf0\x9f\x98\x80";
	struct offsets o;
	int64_t off;
	const char *got;
	assert_int_equal(offsets_open(&o, dir), 0);
	struct offset_update u[] = { { "orders", 0, 11, meta, strlen(meta) }, { "orders", 1, 12, NULL, 0 } };
	assert_int_equal(offsets_commit_batch(&o, name, u, 2), 0);
	assert_int_equal(offsets_commit(&o, "plain", "orders", 0, 3), 0);
	offsets_close(&o);
	char *file = read_file(dir);
	assert_non_null(strstr(file, "my%20group%2F%C3%BC%2520 orders 0 11 a%20b%25c%09d%20%F0%9F%98%80\n"));
	assert_non_null(strstr(file, "plain orders 0 3\n"));
	free(file);
	assert_int_equal(offsets_open(&o, dir), 0);
	assert_int_equal(offsets_fetch_meta(&o, name, "orders", 0, &off, &got), 0);
	assert_int_equal(off, 11);
	assert_string_equal(got, meta);
	assert_int_equal(offsets_fetch_meta(&o, name, "orders", 1, &off, &got), 0);
	assert_int_equal(off, 12);
	assert_null(got);
	offsets_close(&o);
}

/* A batch is refused whole when one update is bad, and put back whole when the write
 * fails; a negative offset forgets the partition. */
static void test_offsets_batch_is_all_or_nothing(void **state)
{
	const char *dir = *state;
	struct offsets o;
	int64_t off;
	assert_int_equal(offsets_open(&o, dir), 0);
	assert_int_equal(offsets_commit(&o, "g", "t", 0, 1), 0);
	struct offset_update bad[] = { { "t", 0, 2, NULL, 0 }, { "bad topic", 0, 2, NULL, 0 } };
	assert_int_equal(offsets_commit_batch(&o, "g", bad, 2), -EINVAL);
	struct offset_update nul[] = { { "t", 0, 2, "a\0b", 3 } };
	assert_int_equal(offsets_commit_batch(&o, "g", nul, 1), -EINVAL);
	assert_int_equal(offsets_commit_batch(&o, "g\n", nul, 0), -EINVAL);
	assert_int_equal(offsets_fetch(&o, "g", "t", 0, &off), 0);
	assert_int_equal(off, 1);

	/* the write fails: nothing of the batch is kept, the file is as it was */
	char *real = o.dir;
	o.dir = "/nonexistent/pagebus";
	struct offset_update upd[] = { { "t", 0, 9, "m", 1 }, { "t", 1, 9, NULL, 0 }, { "t", 0, 10, "n", 1 } };
	assert_true(offsets_commit_batch(&o, "g", upd, 3) < 0);
	o.dir = real;
	const char *meta;
	assert_int_equal(offsets_fetch_meta(&o, "g", "t", 0, &off, &meta), 0);
	assert_int_equal(off, 1);
	assert_null(meta);
	assert_int_equal(offsets_fetch(&o, "g", "t", 1, &off), -ENOENT);
	assert_int_equal(o.n, 1);

	assert_int_equal(offsets_commit_batch(&o, "g", upd, 3), 0);
	assert_int_equal(offsets_fetch_meta(&o, "g", "t", 0, &off, &meta), 0);
	assert_int_equal(off, 10); /* the last update of a partition wins */
	assert_string_equal(meta, "n");
	struct offset_update forget[] = { { "t", 1, -1, NULL, 0 } };
	assert_int_equal(offsets_commit_batch(&o, "g", forget, 1), 0);
	assert_int_equal(offsets_fetch(&o, "g", "t", 1, &off), -ENOENT);
	offsets_close(&o);
	assert_int_equal(offsets_open(&o, dir), 0);
	assert_int_equal(o.n, 1);
	offsets_close(&o);
}

static void test_offsets_refuses_malformed_files(void **state)
{
	static const char *const bad[] = {
		"g t x 5\n", "g t 0 -1\n", "g t 0\n", "%zz t 0 1\n", "g%00 t 0 1\n", "g bad/topic 0 1\n",
		"g t 0 1 meta extra\n", "g t 0 1 %4\n", "g t 99999999999 1\n",
	};
	struct offsets o;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(*state, bad[i]);
		if (offsets_open(&o, *state) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
	}
	write_file(*state, "\ng t 0 1\n\n");
	assert_int_equal(offsets_open(&o, *state), 0);
	assert_int_equal(o.n, 1);
	offsets_close(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_offsets_reads_files_written_before_metadata, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offsets_round_trip_any_group_name_and_metadata, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offsets_batch_is_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offsets_refuses_malformed_files, setup, teardown),
	};
	return cmocka_run_group_tests_name("offsets", tests, NULL, NULL);
}
