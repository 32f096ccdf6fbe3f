/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const level_names[] = {
	[LOG_LVL_ERR] = "error",
	[LOG_LVL_WARN] = "warning",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

/* syslog priorities: err 3, warning 4, info 6, debug 7 */
static const int level_prio[] = {
	[LOG_LVL_ERR] = 3,
	[LOG_LVL_WARN] = 4,
	[LOG_LVL_INFO] = 6,
	[LOG_LVL_DEBUG] = 7,
};

int log_level_parse(const char *s, enum log_level *ret)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*ret = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "warn") == 0) {
		*ret = LOG_LVL_WARN;
		return 0;
	}
	return -1;
}

const char *log_level_name(enum log_level l)
{
	return level_names[l];
}

void log_msg(const struct logger *lg, enum log_level l, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (lg && l > lg->level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);

	if (lg && lg->journal) {
		fprintf(stderr, "<%d>%s\n", level_prio[l], buf);
	} else if (lg && lg->timestamps) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		fprintf(stderr, "[%6ld.%03ld] %s: %s\n", (long)ts.tv_sec,
			ts.tv_nsec / 1000000, level_names[l], buf);
	} else {
		fprintf(stderr, "%s: %s\n", level_names[l], buf);
	}
}
