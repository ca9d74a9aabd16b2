/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_crc32c.c — CRC-32C: published check values (Kafka's "123456789", RFC 3720
 * B.4), the extend contract, and the SSE4.2 path against the table path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "crc32c.h"

/* Deterministic PRNG (splitmix64) so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rng_next();
}

/* Bit-at-a-time reference, independent of both implementations under test. */
static uint32_t crc32c_ref(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffff;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78 : c >> 1;
	}
	return ~c;
}

static void *first_use_worker(void *arg)
{
	(void)arg;
	return (void *)(uintptr_t)crc32c("123456789", 9);
}

/* Runs first in the group: threads race to trigger the one-time table build. */
static void test_crc32c_first_use_is_thread_safe(void **state)
{
	pthread_t t[8];

	(void)state;
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, first_use_worker, NULL), 0);
	for (int i = 0; i < 8; i++) {
		void *ret;

		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_int_equal((uint32_t)(uintptr_t)ret, 0xE3069283u);
	}
}

static void test_crc32c_check_value_123456789(void **state)
{
	(void)state;
	assert_int_equal(crc32c("123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c_sw(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c_hw(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c_extend(0, "123456789", 9), 0xE3069283u);
}

static void test_crc32c_empty_buffer_is_zero_and_extend_is_identity(void **state)
{
	(void)state;
	assert_int_equal(crc32c(NULL, 0), 0);
	assert_int_equal(crc32c_sw(0, NULL, 0), 0);
	assert_int_equal(crc32c_hw(0, NULL, 0), 0);
	assert_int_equal(crc32c_extend(0xE3069283u, "", 0), 0xE3069283u);
	assert_int_equal(crc32c_sw(0xdeadbeef, "", 0), 0xdeadbeef);
	assert_int_equal(crc32c_hw(0xdeadbeef, "", 0), 0xdeadbeef);
}

static void check_all(const uint8_t *buf, size_t n, uint32_t want)
{
	assert_int_equal(crc32c(buf, n), want);
	assert_int_equal(crc32c_sw(0, buf, n), want);
	assert_int_equal(crc32c_hw(0, buf, n), want);
}

static void test_crc32c_rfc3720_vectors(void **state)
{
	/* RFC 3720 B.4: iSCSI read command PDU */
	/* clang-format off */
	static const uint8_t pdu[48] = {
		0x01, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0x14, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0x14, 0, 0, 0, 0x18,
		0x28, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0,
	};
	/* clang-format on */
	uint8_t buf[32];

	(void)state;
	memset(buf, 0, sizeof(buf));
	check_all(buf, sizeof(buf), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	check_all(buf, sizeof(buf), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	check_all(buf, sizeof(buf), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	check_all(buf, sizeof(buf), 0x113FDB5Cu);
	check_all(pdu, sizeof(pdu), 0xD9963A56u);
}

static void test_crc32c_extend_split_at_every_point(void **state)
{
	uint8_t buf[300];

	(void)state;
	fill_random(buf, sizeof(buf));
	uint32_t whole = crc32c(buf, sizeof(buf));

	assert_int_equal(whole, crc32c_ref(buf, sizeof(buf)));
	for (size_t cut = 0; cut <= sizeof(buf); cut++) {
		uint32_t a = crc32c(buf, cut);

		assert_int_equal(crc32c_extend(a, buf + cut, sizeof(buf) - cut), whole);
		assert_int_equal(crc32c_sw(crc32c_sw(0, buf, cut), buf + cut, sizeof(buf) - cut),
				 whole);
		assert_int_equal(crc32c_hw(crc32c_hw(0, buf, cut), buf + cut, sizeof(buf) - cut),
				 whole);
	}
}

static void test_crc32c_hw_matches_sw_at_every_length_and_alignment(void **state)
{
	enum { MAX = 1024, SLACK = 16 };
	uint8_t *buf = malloc(MAX + SLACK);

	(void)state;
	assert_non_null(buf);
	if (!crc32c_hw_available())
		print_message("note: no SSE4.2 on this CPU, crc32c_hw is the table path\n");
	fill_random(buf, MAX + SLACK);
	for (size_t n = 0; n <= MAX; n++) {
		size_t off = rng_next() % SLACK;
		uint32_t seed = (uint32_t)rng_next();
		uint32_t sw = crc32c_sw(0, buf + off, n);

		assert_int_equal(crc32c_hw(0, buf + off, n), sw);
		assert_int_equal(crc32c(buf + off, n), sw);
		assert_int_equal(crc32c_ref(buf + off, n), sw);
		assert_int_equal(crc32c_hw(seed, buf + off, n), crc32c_sw(seed, buf + off, n));
	}
	free(buf);
}

/* The hardware path folds three streams over 3 x 256 and 3 x 8192 byte blocks:
 * check lengths on and around those boundaries, and large random ones. */
static void test_crc32c_hw_matches_sw_across_interleave_blocks(void **state)
{
	enum { MAX = 3 * 8192 * 3 + 4096 };
	static const size_t lens[] = {
		767,   768,   769,   775,	  776,	       1535,  1536,	   1537,    24575,
		24576, 24577, 24583, 24576 + 768, 24576 + 767, 49152, 49152 + 769, MAX - 8,
	};
	uint8_t *buf = malloc(MAX + 8);

	(void)state;
	assert_non_null(buf);
	fill_random(buf, MAX + 8);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (size_t off = 0; off < 8; off++) {
			uint32_t sw = crc32c_sw(0, buf + off, lens[i]);

			assert_int_equal(crc32c_hw(0, buf + off, lens[i]), sw);
			assert_int_equal(crc32c(buf + off, lens[i]), sw);
		}
	for (int i = 0; i < 200; i++) {
		size_t off = rng_next() % 8, n = rng_next() % MAX;

		assert_int_equal(crc32c_hw(0, buf + off, n), crc32c_sw(0, buf + off, n));
	}
	assert_int_equal(crc32c(buf, MAX), crc32c_ref(buf, MAX));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_first_use_is_thread_safe),
		cmocka_unit_test(test_crc32c_check_value_123456789),
		cmocka_unit_test(test_crc32c_empty_buffer_is_zero_and_extend_is_identity),
		cmocka_unit_test(test_crc32c_rfc3720_vectors),
		cmocka_unit_test(test_crc32c_extend_split_at_every_point),
		cmocka_unit_test(test_crc32c_hw_matches_sw_at_every_length_and_alignment),
		cmocka_unit_test(test_crc32c_hw_matches_sw_across_interleave_blocks),
	};

	return cmocka_run_group_tests_name("crc32c", tests, NULL, NULL);
}
