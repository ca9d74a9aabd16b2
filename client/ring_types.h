/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ring_types.h — the producer ring: a memfd shared by one producer and the broker
 * (types only; both sides include it). The producer appends entries and publishes
 * `tail`; the broker drains them, writes each entry's ack in place, and publishes
 * `head` when the entry's space may be reused.
 *
 *   0        4096                                                 4096 + capacity
 *   +--------+--------------------------------------------------------+
 *   | header | entry | entry | ... | PAD (fills to end) | entry | ... |
 *   +--------+--------------------------------------------------------+
 *   header: line 0 identity (broker-written, read-only by convention)
 *           line 1 tail, producer_waiting           (producer-written)
 *           line 2 head                             (broker-written)
 *           line 3 broker_sleeping, doorbell        (broker-written; doorbell bumped
 *                                                    by the producer to wake it)
 *           line 4 head_futex                       (broker-written)
 *
 * Positions (tail, head) are byte counters that only grow; an entry lives at
 * `pos % capacity`. Invariants: head <= tail <= head + capacity; entries are 8-byte
 * aligned and never wrap (a PAD entry fills the end of the data area). Everything the
 * producer writes is untrusted: the broker copies an entry header before deciding on it.
 */
#ifndef PAGEBUS_RING_TYPES_H
#define PAGEBUS_RING_TYPES_H

#include <stddef.h>
#include <stdint.h>

#define PB_RING_MAGIC 0x50425247u /* "PBRG" */
#define PB_RING_VERSION 1
#define PB_RING_HEADER_SIZE 4096
#define PB_RING_MIN_BYTES (64 * 1024)
#define PB_RING_MAX_BYTES (1u << 30)

struct pb_ring_header {
	/* line 0: identity, written once by the broker */
	uint32_t magic;
	uint32_t layout_version;
	uint32_t header_size;
	uint32_t capacity;     /* data bytes after the header */
	uint32_t broker_pid;
	uint32_t topic_id;     /* the topic this producer ring is bound to */
	uint32_t partitions;   /* partition count at open */
	uint32_t producer_id;
	uint8_t pad0[32];
	/* line 1: producer */
	uint64_t tail;             /* bytes published (release) */
	uint32_t producer_waiting; /* producer sleeps on head_futex: wake it */
	uint8_t pad1[52];
	/* line 2: broker */
	uint64_t head;             /* bytes released: acks before it are final (release) */
	uint8_t pad2[56];
	/* line 3: broker sleep/wake */
	uint32_t broker_sleeping;  /* set by the broker before it waits on doorbell */
	uint32_t doorbell;         /* futex word: producer bumps and wakes when sleeping */
	uint8_t pad3[56];
	/* line 4: broker -> producer wake */
	uint32_t head_futex;       /* bumped by the broker with every head advance */
	uint8_t pad4[60];
};

_Static_assert(sizeof(struct pb_ring_header) == 320, "ring header lines");
_Static_assert(offsetof(struct pb_ring_header, tail) == 64, "tail on line 1");
_Static_assert(offsetof(struct pb_ring_header, head) == 128, "head on line 2");
_Static_assert(offsetof(struct pb_ring_header, broker_sleeping) == 192, "sleep on line 3");
_Static_assert(offsetof(struct pb_ring_header, head_futex) == 256, "head futex on line 4");

enum pb_entry_type { PB_ENTRY_DATA = 1, PB_ENTRY_PAD = 2 };

/* Acks requested per entry. */
enum pb_acks { PB_ACKS_NONE = 0, PB_ACKS_APPENDED = 1, PB_ACKS_DURABLE = 2 };

/* ack_state bits, written by the broker before it releases the entry via head. */
#define PB_ACK_DONE 1u    /* ack_offset / ack_error are final */
#define PB_ACK_DURABLE 2u /* the batch was fdatasynced before this ack */

/*
 * One entry: this header, then batch_len bytes of one RecordBatch v2, padded to a
 * multiple of 8. `len` covers header + batch + padding.
 */
struct pb_ring_entry {
	uint32_t len;
	uint32_t type;        /* enum pb_entry_type */
	uint32_t batch_len;
	uint32_t topic_id;
	int32_t partition;
	uint32_t acks;        /* enum pb_acks */
	uint64_t seq;         /* client sequence, echoed in the ack */
	/* written by the broker */
	int64_t ack_offset;   /* base offset assigned to the batch */
	int32_t ack_error;    /* 0, or -errno / -PAGEBUS_E* */
	uint32_t ack_state;   /* PB_ACK_* */
};

_Static_assert(sizeof(struct pb_ring_entry) == 48, "ring entry header");
#define PB_ENTRY_ALIGN 8

static inline uint32_t pb_entry_size(uint32_t batch_len)
{
	return (uint32_t)((sizeof(struct pb_ring_entry) + batch_len + PB_ENTRY_ALIGN - 1) &
			  ~(uint32_t)(PB_ENTRY_ALIGN - 1));
}

#endif
