/* SPDX-License-Identifier: Apache-2.0 */
/*
 * replay.c — main() for a fuzz target built with the normal compiler and flags
 * (build/tests/fuzz/replay_<target>): runs LLVMFuzzerTestOneInput once on every file of
 * the target's corpus, tests/fuzz/corpus/<target>/ (seeds and every crash make fuzz ever
 * found), or on the files and directories given as arguments. Exits 0 when every input
 * passed (a broken invariant aborts); one test case for tests/run-tests.sh.
 *   replay_<target> [PATH...]     $FUZZ_CORPUS replaces tests/fuzz/corpus
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int files;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 1 << 16, len = 0;
	uint8_t *buf = malloc(cap);
	for (size_t n; buf && (n = fread(buf + len, 1, cap - len, f)) > 0;) {
		len += n;
		if (len == cap && !(buf = realloc(buf, cap *= 2)))
			break;
	}
	fclose(f);
	if (!buf)
		return -1;
	/* an exact-size copy, so a read past the input is one past an allocation */
	uint8_t *in = malloc(len ? len : 1);
	memcpy(in, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(in, len);
	free(in);
	files++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str); /* the same order every run */
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", path, names[i]);
		rc |= run_file(p);
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	const char *self = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	const char *target = strncmp(self, "replay_", 7) ? self : self + 7;
	int rc = 0;
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			rc |= run_path(argv[i]);
	} else {
		const char *root = getenv("FUZZ_CORPUS");
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s/%s", root && *root ? root : "tests/fuzz/corpus", target);
		rc = run_path(dir);
		if (!rc && !files) {
			fprintf(stderr, "%s: no corpus\n", dir);
			rc = -1;
		}
	}
	printf("%s: %d input(s) replayed%s\n", target, files, rc ? ", some unreadable" : "");
	return rc ? 1 : 0;
}
