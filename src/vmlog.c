/* SPDX-License-Identifier: MIT */
#include "vmlog.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "util.h"

static const struct ratelimit_params vm_log_limit = { .burst = 5, .interval_ms = 5000 };

static const char *const kind_names[VM_LOG__N] = {
	[VM_LOG_SESSION] = "connection",
	[VM_LOG_COMMAND] = "command",
	[VM_LOG_EVENT] = "guest event",
};

void vm_log(struct vm_log *vl, enum vm_log_kind kind, enum log_level level,
	    const char *fmt, ...)
{
	char msg[768], held_msg[64] = "";
	uint64_t held;
	va_list ap;

	if (vl->log && level > vl->log->level)
		return;
	if (!ratelimit_allow(&vl->limit[kind], &vm_log_limit, now_ms(), &held))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (held)
		snprintf(held_msg, sizeof(held_msg), " (%" PRIu64 " %s messages suppressed)",
			 held, kind_names[kind]);
	log_msg(vl->log, level, "vm %s: %s%s", vl->name, msg, held_msg);
}

void vm_log_flush(struct vm_log *vl, uint64_t now)
{
	for (int k = 0; k < VM_LOG__N; k++) {
		uint64_t n = ratelimit_flush(&vl->limit[k], &vm_log_limit, now);

		if (n)
			log_warn(vl->log, "vm %s: %" PRIu64 " %s messages suppressed",
				 vl->name, n, kind_names[k]);
	}
}
