/* SPDX-License-Identifier: Apache-2.0 */
/*
 * control_types.h — the control region: a memfd the broker maps read-write and hands
 * to every local client read-only. One slot per partition, holding what a consumer needs
 * to follow the log without asking: the high watermark, the log start, the active
 * segment and a futex word to sleep on.
 *
 *   0                    4096
 *   +--------------------+---------+---------+-----+
 *   | pb_control_header  | slot 0  | slot 1  | ... |   each slot 128 bytes (2 lines)
 *   +--------------------+---------+---------+-----+
 *
 * Publication order (broker): bytes in the page cache -> hwm (release) -> futex
 * (release, then FUTEX_WAKE). A reader that loads hwm with acquire never sees it beyond
 * bytes that are in the file. `seg_generation` changes whenever the slot's segment list
 * does (roll, retention); a slot is reused only after `state` went FREE and `epoch` grew.
 */
#ifndef PAGEBUS_CONTROL_TYPES_H
#define PAGEBUS_CONTROL_TYPES_H

#include <stddef.h>
#include <stdint.h>

#define PB_CONTROL_MAGIC 0x50424354u /* "PBCT" */
#define PB_CONTROL_VERSION 1
#define PB_CONTROL_HEADER_SIZE 4096
#define PB_TOPIC_NAME_MAX 249

struct pb_control_header {
	uint32_t magic;
	uint32_t layout_version;
	uint32_t header_size;
	uint32_t slot_size;
	uint32_t nslots;
	uint32_t broker_pid;
	uint64_t started_ns;   /* broker start time (CLOCK_REALTIME): tells restarts apart */
	uint8_t pad[32];
};

enum pb_slot_state { PB_SLOT_FREE = 0, PB_SLOT_LIVE = 1, PB_SLOT_DELETED = 2 };

struct pb_part_slot {
	/* line 0: hot, written on every publish */
	int64_t hwm;            /* high watermark (release) */
	uint32_t futex;         /* bumped after every hwm change; FUTEX_WAIT here */
	uint32_t state;         /* enum pb_slot_state */
	int64_t log_start;
	int64_t active_base;    /* base offset of the active segment */
	uint64_t seg_generation;
	uint32_t epoch;         /* grows each time the slot is (re)assigned */
	uint8_t pad0[20];
	/* line 1: identity */
	uint32_t topic_id;
	int32_t partition;
	uint8_t pad1[56];
};

_Static_assert(sizeof(struct pb_control_header) == 64, "control header");
_Static_assert(sizeof(struct pb_part_slot) == 128, "control slot: two lines");
_Static_assert(offsetof(struct pb_part_slot, topic_id) == 64, "slot identity on line 1");

static inline struct pb_part_slot *pb_control_slot(void *base, uint32_t i)
{
	return (struct pb_part_slot *)((uint8_t *)base + PB_CONTROL_HEADER_SIZE +
				       (size_t)i * sizeof(struct pb_part_slot));
}

#endif
