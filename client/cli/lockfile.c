/* SPDX-License-Identifier: Apache-2.0 */
/* lockfile.c — what DIR/pagebus.lock tells about the broker of a data dir. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int broker_lock_info(const char *dir, int *pid, char *metrics, size_t len)
{
	char path[4200], line[320];
	snprintf(path, sizeof(path), "%s/pagebus.lock", dir);
	FILE *f = fopen(path, "re");
	*pid = 0;
	if (metrics && len)
		*metrics = 0;
	if (!f)
		return -1;
	if (fgets(line, sizeof(line), f))
		*pid = atoi(line);
	while (metrics && fgets(line, sizeof(line), f))
		if (!strncmp(line, "metrics ", 8))
			snprintf(metrics, len, "%.*s", (int)strcspn(line + 8, "\n"), line + 8);
	fclose(f);
	return *pid > 0 ? 0 : -1;
}
