/* SPDX-License-Identifier: Apache-2.0 */
/* fsutil.c — durable-file helpers: directory fsync, full writes, atomic replace. */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int write_file_atomic(const char *dir, const char *name, const void *buf, size_t len, const char **step)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name) >= sizeof(tmp)) {
		*step = "build the path";
		return -ENAMETOOLONG;
	}
	int r, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	*step = "create the temporary file";
	if (fd < 0)
		return -errno;
	*step = "write";
	if ((r = write_all(fd, buf, len)) == 0) {
		*step = "fsync";
		r = fsync(fd) < 0 ? -errno : 0;
	}
	close(fd);
	if (r == 0) {
		*step = "rename";
		r = rename(tmp, path) < 0 ? -errno : 0;
	}
	if (r) {
		unlink(tmp);
		return r;
	}
	*step = "fsync the directory";
	return fsync_dir(dir);
}
