/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pagecache.c — how much of a partition's segment files is in the page cache, for
 * `pagebus stat` and `pagebus top`: cachestat(2) where the kernel has it (6.5+), else
 * mincore(2) on a read-only mapping.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli.h"

#ifndef SYS_cachestat
#define SYS_cachestat 451
#endif
struct cachestat_range { /* the kernel's, Linux 6.5+ */
	uint64_t off, len;
};
struct cachestat_counts {
	uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

int file_cached(int fd, bool use_mincore, uint64_t *out)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), n = 0;
	struct cachestat_range range = { 0, 0 }; /* len 0: to the end of the file */
	struct cachestat_counts cs;
	if (syscall(SYS_cachestat, fd, &range, &cs, 0) == 0) {
		*out = cs.nr_cache * page;
		return 0;
	}
	if (!use_mincore)
		return -ENOSYS;
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return -errno;
	*out = 0;
	if (!sb.st_size)
		return 0;
	size_t len = (size_t)sb.st_size, pages = (len + page - 1) / page;
	void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	unsigned char *vec = xrealloc(NULL, pages);
	int err = mincore(map, len, vec) < 0 ? -errno : 0;
	for (size_t i = 0; !err && i < pages; i++)
		n += vec[i] & 1;
	free(vec);
	munmap(map, len);
	*out = n * page;
	return err;
}

int partition_cached(const char *dir, const char *topic, int32_t partition, bool use_mincore,
		     uint64_t *out)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s-%d", dir, topic, partition);
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	int err = 0;
	struct dirent *e;
	*out = 0;
	while (!err && (e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < 5 || strcmp(e->d_name + len - 4, ".log"))
			continue;
		int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC);
		uint64_t n = 0;
		if (fd < 0 && errno == ENOENT)
			continue; /* retention removed it meanwhile */
		err = fd < 0 ? -errno : file_cached(fd, use_mincore, &n);
		*out += n;
		if (fd >= 0)
			close(fd);
	}
	closedir(d);
	return err;
}
