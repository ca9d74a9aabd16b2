/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_ring_entry.c — the broker's drain decisions (ring_entry_check) over an arbitrary
 * producer ring: capacity, drained position, published tail and data bytes all come
 * from the input. The loop drains as producer.c does. Invariants: every step either
 * stops (a broken ring) or moves forward without passing the tail; a data entry lies
 * inside the data area and inside what was published, without wrapping, its batch (at
 * least a batch header) inside the entry; refusals carry an error; pads end the area.
 */
#include <string.h>

#include "fuzz.h"
#include "record_batch.h"
#include "ring_entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, data + size };
	/* any multiple of 8 from 8 bytes to 16 KiB (the real minimum is 64 KiB; a small
	 * area makes wrap-arounds and pads common) */
	uint32_t cap = (uint32_t)(8 + fuzz_take(&in, 2) % 2048 * 8);
	uint64_t drain = fuzz_take(&in, 8);
	uint64_t span = fuzz_take(&in, 4) % ((uint64_t)cap + 1);
	uint64_t tail = drain + span;
	if (tail < drain)
		return 0; /* wrapped around 2^64: the broker refuses tail < drain before this */
	uint32_t topic = (uint32_t)fuzz_take(&in, 1);
	uint8_t *ring = calloc(1, cap);
	size_t have = (size_t)(in.end - in.p) < cap ? (size_t)(in.end - in.p) : cap;
	memcpy(ring, in.p, have);
	uint64_t pos = drain;
	for (int steps = 0; pos < tail; steps++) {
		FUZZ_CHECK(steps <= (int)cap); /* every step moves 8 bytes at least */
		struct pb_ring_entry eh;
		uint32_t off = (uint32_t)(pos % cap), room = cap - off;
		struct ring_decision d = ring_entry_check(ring, cap, pos, tail, topic, &eh);
		if (d.verdict == RING_BROKEN) {
			FUZZ_CHECK(d.span == 0);
			break;
		}
		FUZZ_CHECK(d.span > 0 && d.span <= tail - pos);
		switch (d.verdict) {
		case RING_PAD:
			FUZZ_CHECK(d.span == room && d.err == 0);
			break;
		case RING_DATA:
		case RING_REFUSE:
			FUZZ_CHECK(d.span == eh.len && eh.len <= room && eh.len % PB_ENTRY_ALIGN == 0);
			FUZZ_CHECK(memcmp(&eh, ring + off, sizeof(eh)) == 0);
			if (d.verdict == RING_REFUSE) {
				FUZZ_CHECK(d.err < 0);
				break;
			}
			FUZZ_CHECK(d.err == 0 && eh.type == PB_ENTRY_DATA && eh.topic_id == topic);
			FUZZ_CHECK(eh.batch_len >= RB_HEADER_SIZE);
			/* the batch the writer copies: inside the entry, so inside the ring */
			FUZZ_CHECK((uint64_t)sizeof(eh) + eh.batch_len <= eh.len);
			break;
		case RING_REFUSE_REST:
			FUZZ_CHECK(d.err < 0 && d.span == tail - pos);
			break;
		default:
			FUZZ_CHECK(0);
		}
		pos += d.span;
	}
	FUZZ_CHECK(pos <= tail);
	free(ring);
	return 0;
}
