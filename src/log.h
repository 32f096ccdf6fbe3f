/* SPDX-License-Identifier: MIT */
/*
 * log.h - leveled logging to stderr for the daemon's top layers.
 *
 * Library code (plumbing, policy, protocol) does not log: it returns errors and
 * the caller logs once with context. The level threshold lives in a struct the
 * daemon owns and passes in, not in a global.
 */
#ifndef AB_LOG_H
#define AB_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

struct logger {
	enum log_level level;
	bool timestamps;	/* prefix monotonic seconds (off under systemd) */
	bool journal;		/* emit <N> syslog priority prefixes for journald */
};

int log_level_parse(const char *s, enum log_level *ret);
const char *log_level_name(enum log_level l);

void log_msg(const struct logger *lg, enum log_level l, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_err(lg, ...)   log_msg((lg), LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(lg, ...)  log_msg((lg), LOG_LVL_WARN, __VA_ARGS__)
#define log_info(lg, ...)  log_msg((lg), LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(lg, ...) log_msg((lg), LOG_LVL_DEBUG, __VA_ARGS__)

#endif
