/* SPDX-License-Identifier: Apache-2.0 */
/*
 * control.h — the broker's side of the control region (layout in control_types.h):
 * a memfd mapped read-write here and handed to clients read-only, one slot per
 * partition. Publishing a high watermark is a release store, a futex bump and a wake.
 */
#ifndef PAGEBUS_CONTROL_H
#define PAGEBUS_CONTROL_H

#include <stdint.h>

#include "control_types.h"

struct control {
	int fd;      /* read-write memfd */
	int ro_fd;   /* the same region, opened O_RDONLY: what clients receive */
	void *base;
	size_t size;
	uint32_t nslots;
	uint32_t *free_list; /* stack of free slot numbers */
	uint32_t nfree;
};

int control_open(struct control *c, uint32_t nslots);
void control_close(struct control *c);

/* Assigns a free slot to (topic_id, partition): -ENOSPC when max.partitions are used. */
int control_slot_alloc(struct control *c, uint32_t topic_id, int32_t partition);
/* Marks the slot deleted (readers see it), wakes its waiters, and frees it for reuse. */
void control_slot_free(struct control *c, uint32_t slot);

static inline struct pb_part_slot *control_slot(struct control *c, uint32_t slot)
{
	return pb_control_slot(c->base, slot);
}

/* New high watermark: release store, futex bump, and FUTEX_WAKE when `wake`. */
void control_publish_hwm(struct control *c, uint32_t slot, int64_t hwm, int wake);
/* Segment list changed: log start, active segment base, generation. */
void control_publish_segments(struct control *c, uint32_t slot, int64_t log_start,
			      int64_t active_base, uint64_t generation);

#endif
