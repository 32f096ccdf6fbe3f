/* SPDX-License-Identifier: MIT */
/*
 * vmlog.h - what the daemon says about one VM, rate-limited per kind of
 * message, so that a peer cannot flood the log: 5 messages at once, then
 * one every 5 s; what is held back is counted and said.
 */
#ifndef AB_VMLOG_H
#define AB_VMLOG_H

#include <stdint.h>

#include "log.h"
#include "ratelimit.h"

enum vm_log_kind {
	VM_LOG_SESSION,		/* connecting, handshake, state changes */
	VM_LOG_COMMAND,		/* failed or timed-out commands, bad replies */
	VM_LOG_EVENT,		/* events the guest or its VMM sends */
	VM_LOG__N,
};

struct vm_log {
	const struct logger *log;
	const char *name;		/* the VM's name (owned by the caller) */
	struct ratelimit limit[VM_LOG__N];
};

void vm_log(struct vm_log *vl, enum vm_log_kind kind, enum log_level level,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Say how many messages were held back, once one could go out again. */
void vm_log_flush(struct vm_log *vl, uint64_t now_ms);

#endif
