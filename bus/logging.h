/* SPDX-License-Identifier: Apache-2.0 */
/*
 * logging.h — the broker's log: one line per event on stderr,
 * `<UTC time> <LEVEL> <message>`. The library (client/) never prints; bus/ does.
 */
#ifndef PAGEBUS_LOGGING_H
#define PAGEBUS_LOGGING_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Lines above this level are dropped (default LOG_INFO). */
void log_set_level(enum log_level level);
/* Parses "error", "warn", "info" or "debug"; returns the level or -EINVAL. */
int log_level_parse(const char *s);

void pb_log(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) pb_log(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) pb_log(LOG_WARN, __VA_ARGS__)
#define log_info(...) pb_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...) pb_log(LOG_DEBUG, __VA_ARGS__)

#endif
