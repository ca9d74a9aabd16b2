/* SPDX-License-Identifier: Apache-2.0 */
/*
 * control.c — creates the control region memfd, hands out partition slots and
 * publishes high watermarks and segment changes into them for local readers.
 */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "atomics.h"

int control_open(struct control *c, uint32_t nslots)
{
	memset(c, 0, sizeof(*c));
	c->fd = c->ro_fd = -1;
	c->nslots = nslots;
	c->size = PB_CONTROL_HEADER_SIZE + (size_t)nslots * sizeof(struct pb_part_slot);
	int err;
	c->fd = memfd_create("pagebus-control", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (c->fd < 0)
		return -errno;
	if (ftruncate(c->fd, (off_t)c->size) < 0)
		goto err;
	/* Clients get a read-only fd; the seals stop anyone resizing the region under us. */
	if (fcntl(c->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto err;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", c->fd);
	c->ro_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (c->ro_fd < 0)
		goto err;
	c->base = mmap(NULL, c->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, c->fd, 0);
	if (c->base == MAP_FAILED) {
		c->base = NULL;
		goto err;
	}
	c->free_list = malloc(sizeof(*c->free_list) * nslots);
	if (!c->free_list) {
		errno = ENOMEM;
		goto err;
	}
	for (uint32_t i = 0; i < nslots; i++)
		c->free_list[i] = nslots - 1 - i; /* slot 0 handed out first */
	c->nfree = nslots;
	struct pb_control_header *h = c->base;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	h->layout_version = PB_CONTROL_VERSION;
	h->header_size = PB_CONTROL_HEADER_SIZE;
	h->slot_size = sizeof(struct pb_part_slot);
	h->nslots = nslots;
	h->broker_pid = (uint32_t)getpid();
	h->started_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	/* magic last: a reader that sees it sees a complete header */
	store_release(&h->magic, PB_CONTROL_MAGIC);
	return 0;
err:
	err = -errno;
	control_close(c);
	return err;
}

void control_close(struct control *c)
{
	if (c->base)
		munmap(c->base, c->size);
	if (c->fd >= 0)
		close(c->fd);
	if (c->ro_fd >= 0)
		close(c->ro_fd);
	free(c->free_list);
	memset(c, 0, sizeof(*c));
	c->fd = c->ro_fd = -1;
}

static void futex_wake_all(uint32_t *word)
{
	/* not FUTEX_PRIVATE: the waiters are other processes mapping the same memfd */
	syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

int control_slot_alloc(struct control *c, uint32_t topic_id, int32_t partition)
{
	if (!c->nfree)
		return -ENOSPC;
	uint32_t i = c->free_list[--c->nfree];
	struct pb_part_slot *s = control_slot(c, i);
	s->topic_id = topic_id;
	s->partition = partition;
	s->hwm = 0;
	s->log_start = 0;
	s->active_base = 0;
	s->seg_generation = 0;
	s->epoch++;
	/* identity before state: a reader that sees LIVE sees who the slot is for */
	store_release(&s->state, (uint32_t)PB_SLOT_LIVE);
	return (int)i;
}

void control_slot_free(struct control *c, uint32_t slot)
{
	struct pb_part_slot *s = control_slot(c, slot);
	store_release(&s->state, (uint32_t)PB_SLOT_DELETED);
	fetch_add_release(&s->futex, 1);
	futex_wake_all(&s->futex);
	c->free_list[c->nfree++] = slot;
}

void control_publish_hwm(struct control *c, uint32_t slot, int64_t hwm, int wake)
{
	struct pb_part_slot *s = control_slot(c, slot);
	/* The bytes below hwm are in the page cache (the write completed) before this
	 * release store, so an acquiring reader never sees a HWM past the file. */
	store_release(&s->hwm, hwm);
	fetch_add_release(&s->futex, 1);
	if (wake)
		futex_wake_all(&s->futex);
}

void control_publish_segments(struct control *c, uint32_t slot, int64_t log_start,
			      int64_t active_base, uint64_t generation)
{
	struct pb_part_slot *s = control_slot(c, slot);
	store_release(&s->log_start, log_start);
	store_release(&s->active_base, active_base);
	store_release(&s->seg_generation, generation);
}
