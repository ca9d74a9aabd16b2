/* SPDX-License-Identifier: Apache-2.0 */
/*
 * logging.c — formats one log line per event to stderr with a UTC timestamp and a level.
 * Each line is written with a single write(2) so lines never interleave.
 */
#include "logging.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level max_level = LOG_INFO;
static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

void log_set_level(enum log_level level)
{
	max_level = level;
}

int log_level_parse(const char *s)
{
	for (int i = 0; i <= LOG_DEBUG; i++)
		if (!strcasecmp(s, level_names[i]) || (i == LOG_WARN && !strcasecmp(s, "warning")))
			return i;
	return -EINVAL;
}

void pb_log(enum log_level level, const char *fmt, ...)
{
	if (level > max_level)
		return;
	char line[1024];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %-5s ", ts.tv_nsec / 1000000,
			      level_names[level]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += (size_t)m;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2; /* truncated: keep the newline */
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w; /* nowhere left to report a failed log write */
}
