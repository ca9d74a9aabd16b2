/* SPDX-License-Identifier: Apache-2.0 */
/*
 * index.c — the sparse offset and time indexes of one segment: load, append, binary
 * search, truncate, and lazy write-back to the Kafka-format files.
 */
#include "index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byteorder.h"

static int grow(struct index *ix, size_t want)
{
	if (want <= ix->cap)
		return 0;
	size_t cap = ix->cap ? ix->cap : 64;
	while (cap < want)
		cap *= 2;
	size_t elem = ix->esize == OINDEX_ENTRY ? sizeof(struct oindex_entry) : sizeof(struct tindex_entry);
	void *p = realloc(ix->entries, cap * elem);
	if (!p)
		return -ENOMEM;
	ix->entries = p;
	ix->cap = cap;
	return 0;
}

static void decode(struct index *ix, size_t i, const uint8_t *b)
{
	if (ix->esize == OINDEX_ENTRY) {
		struct oindex_entry *e = &((struct oindex_entry *)ix->entries)[i];
		e->rel = be32_get(b);
		e->pos = be32_get(b + 4);
	} else {
		struct tindex_entry *e = &((struct tindex_entry *)ix->entries)[i];
		e->ts = (int64_t)be64_get(b);
		e->rel = be32_get(b + 8);
	}
}

static void encode(const struct index *ix, size_t i, uint8_t *b)
{
	if (ix->esize == OINDEX_ENTRY) {
		const struct oindex_entry *e = oindex_at(ix, i);
		be32_put(b, e->rel);
		be32_put(b + 4, e->pos);
	} else {
		const struct tindex_entry *e = tindex_at(ix, i);
		be64_put(b, (uint64_t)e->ts);
		be32_put(b + 8, e->rel);
	}
}

int index_open(struct index *ix, const char *path, size_t esize, int *created)
{
	memset(ix, 0, sizeof(*ix));
	ix->esize = esize;
	ix->fd = open(path, O_RDWR | O_CLOEXEC);
	*created = 0;
	if (ix->fd < 0 && errno == ENOENT) {
		ix->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		*created = 1;
	}
	if (ix->fd < 0)
		return -errno;
	struct stat st;
	if (fstat(ix->fd, &st) < 0)
		goto err;
	size_t n = (size_t)st.st_size / esize;
	if ((size_t)st.st_size != n * esize && ftruncate(ix->fd, (off_t)(n * esize)) < 0)
		goto err;
	if (n) {
		uint8_t *buf = malloc(n * esize);
		if (!buf || grow(ix, n) < 0) {
			free(buf);
			errno = ENOMEM;
			goto err;
		}
		ssize_t r = pread(ix->fd, buf, n * esize, 0);
		if (r != (ssize_t)(n * esize)) {
			free(buf);
			errno = r < 0 ? errno : EIO;
			goto err;
		}
		for (size_t i = 0; i < n; i++)
			decode(ix, i, buf + i * esize);
		free(buf);
	}
	ix->n = ix->flushed = n;
	return 0;
err:;
	int e = -errno;
	index_close(ix);
	return e;
}

void index_close(struct index *ix)
{
	if (ix->fd >= 0)
		close(ix->fd);
	free(ix->entries);
	ix->entries = NULL;
	ix->fd = -1;
	ix->n = ix->cap = ix->flushed = 0;
}

int index_truncate(struct index *ix, size_t n)
{
	if (n >= ix->n)
		return 0;
	ix->n = n;
	if (ix->flushed > n) {
		ix->flushed = n;
		if (ftruncate(ix->fd, (off_t)(n * ix->esize)) < 0)
			return -errno;
	}
	return 0;
}

int index_reset(struct index *ix)
{
	ix->n = ix->flushed = 0;
	return ftruncate(ix->fd, 0) < 0 ? -errno : 0;
}

int oindex_append(struct index *ix, uint32_t rel, uint32_t pos)
{
	if (grow(ix, ix->n + 1) < 0)
		return -ENOMEM;
	((struct oindex_entry *)ix->entries)[ix->n++] = (struct oindex_entry){ rel, pos };
	return 0;
}

int tindex_append(struct index *ix, int64_t ts, uint32_t rel)
{
	if (grow(ix, ix->n + 1) < 0)
		return -ENOMEM;
	((struct tindex_entry *)ix->entries)[ix->n++] = (struct tindex_entry){ ts, rel };
	return 0;
}

long oindex_lookup(const struct index *ix, uint32_t rel)
{
	long lo = 0, hi = (long)ix->n - 1, found = -1;
	while (lo <= hi) {
		long mid = lo + (hi - lo) / 2;
		if (oindex_at(ix, (size_t)mid)->rel <= rel) {
			found = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return found;
}

long tindex_lookup(const struct index *ix, int64_t ts)
{
	long lo = 0, hi = (long)ix->n - 1, found = -1;
	while (lo <= hi) {
		long mid = lo + (hi - lo) / 2;
		if (tindex_at(ix, (size_t)mid)->ts <= ts) {
			found = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return found;
}

int index_write(struct index *ix)
{
	return index_write_upto(ix, ix->n);
}

int index_write_upto(struct index *ix, size_t n)
{
	size_t todo = n > ix->flushed && n <= ix->n ? n - ix->flushed : 0;
	if (!todo)
		return 0;
	uint8_t stackbuf[4096];
	uint8_t *buf = todo * ix->esize <= sizeof(stackbuf) ? stackbuf : malloc(todo * ix->esize);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < todo; i++)
		encode(ix, ix->flushed + i, buf + i * ix->esize);
	ssize_t w = pwrite(ix->fd, buf, todo * ix->esize, (off_t)(ix->flushed * ix->esize));
	int err = w < 0 ? -errno : (w != (ssize_t)(todo * ix->esize) ? -EIO : 0);
	if (buf != stackbuf)
		free(buf);
	if (!err)
		ix->flushed += todo;
	return err;
}

int index_sync(struct index *ix)
{
	int err = index_write(ix);
	if (!err && fdatasync(ix->fd) < 0)
		err = -errno;
	return err;
}
