/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ring_entry.h — the broker's decision on the producer-ring bytes at its drain position,
 * as one pure function: it copies the entry header out of the client's reach, then
 * checks it against the ring's geometry (capacity, what is published) and the ring's
 * topic. The batch behind a data entry is validated separately, after it is copied too
 * (writer_stage_batch). producer.c drains with it; tests/fuzz/ fuzzes it.
 */
#ifndef PAGEBUS_RING_ENTRY_H
#define PAGEBUS_RING_ENTRY_H

#include <stdint.h>

#include "ring_types.h"

enum ring_verdict {
	RING_DATA,        /* a well-addressed data entry: span = its len; the batch follows the
			   * header (batch_len bytes, inside the entry) */
	RING_PAD,         /* padding to the end of the data area (explicit or implied): skip span */
	RING_REFUSE,      /* a data entry whose length is sound but whose fields are not: an
			   * error ack (err), then skip span */
	RING_REFUSE_REST, /* the length cannot be trusted, nor anything published after it: an
			   * error ack (err), then skip to the tail (span) */
	RING_BROKEN,      /* the ring's positions are impossible: close the session */
};

struct ring_decision {
	enum ring_verdict verdict;
	uint32_t span; /* bytes the drain position moves on (0 for RING_BROKEN) */
	int err;       /* for the refusals: -PAGEBUS_EBADLEN or -EINVAL */
};

/*
 * The entry at position pos (drained < pos <= tail, tail - pos published bytes) of the
 * data area `data` (cap bytes) of a ring bound to topic_id. Copies the header into *eh
 * (only when room for one: RING_DATA and RING_REFUSE* leave it filled) and reads nothing
 * else of the ring, nothing outside data[0..cap). The caller has checked
 * 0 < tail - pos <= cap.
 */
struct ring_decision ring_entry_check(const uint8_t *data, uint32_t cap, uint64_t pos, uint64_t tail,
				      uint32_t topic_id, struct pb_ring_entry *eh);

#endif
