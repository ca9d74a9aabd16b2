/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ring_entry.c — the broker's checks of one producer-ring entry (see ring_entry.h).
 */
#include "ring_entry.h"

#include <errno.h>
#include <string.h>

#include "pagebus.h"
#include "record_batch.h"

struct ring_decision ring_entry_check(const uint8_t *data, uint32_t cap, uint64_t pos, uint64_t tail,
				      uint32_t topic_id, struct pb_ring_entry *eh)
{
	uint32_t off = (uint32_t)(pos % cap), room = cap - off;
	uint64_t avail = tail - pos;
	if (room < sizeof(*eh)) {
		/* too little room for a header: the producer pads to the end implicitly */
		if (avail >= room)
			return (struct ring_decision){ RING_PAD, room, 0 };
		return (struct ring_decision){ RING_BROKEN, 0, 0 };
	}
	if (avail < sizeof(*eh)) /* a tail inside an entry header */
		return (struct ring_decision){ RING_BROKEN, 0, 0 };
	/* copy the header out of the client's reach before deciding anything */
	memcpy(eh, data + off, sizeof(*eh));
	if (eh->type == PB_ENTRY_PAD && eh->len == room && room <= avail)
		return (struct ring_decision){ RING_PAD, room, 0 };
	if (eh->type != PB_ENTRY_DATA || eh->len < sizeof(*eh) || eh->len % PB_ENTRY_ALIGN || eh->len > room ||
	    eh->len > avail)
		return (struct ring_decision){ RING_REFUSE_REST, (uint32_t)avail, -PAGEBUS_EBADLEN };
	/* pb_entry_size wraps for a batch_len within 8 of 4 GiB: bound it by the entry first */
	if (eh->batch_len < RB_HEADER_SIZE || eh->batch_len > eh->len - sizeof(*eh) ||
	    pb_entry_size(eh->batch_len) != eh->len)
		return (struct ring_decision){ RING_REFUSE, eh->len, -PAGEBUS_EBADLEN };
	if (eh->acks > PB_ACKS_DURABLE || eh->topic_id != topic_id)
		return (struct ring_decision){ RING_REFUSE, eh->len, -EINVAL };
	return (struct ring_decision){ RING_DATA, eh->len, 0 };
}
