/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fsutil.h — small durable-file helpers for the broker's metadata files (topic
 * registry, consumer offsets) and segment creation.
 */
#ifndef PAGEBUS_FSUTIL_H
#define PAGEBUS_FSUTIL_H

#include <stddef.h>

/* fsync of a directory (makes creates, renames and unlinks in it durable). */
int fsync_dir(const char *dir);

/* Writes all of buf to fd, retrying short writes and EINTR. 0 or -errno. */
int write_all(int fd, const void *buf, size_t len);

/*
 * Replaces dir/name atomically and durably: write dir/name.tmp, fsync it, rename it over
 * dir/name, fsync dir. 0, or -errno with *step naming what failed ("write", "rename"...).
 */
int write_file_atomic(const char *dir, const char *name, const void *buf, size_t len, const char **step);

#endif
