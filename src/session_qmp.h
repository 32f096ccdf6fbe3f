/* SPDX-License-Identifier: MIT */
/*
 * session_qmp.h - the VM session over QEMU's QMP socket (see session.h).
 */
#ifndef AB_SESSION_QMP_H
#define AB_SESSION_QMP_H

#include <stdint.h>

#include "session.h"

struct daemon_config;
struct loop;
struct vm_config;
struct vm_log;

/*
 * A session with the QEMU behind vc->qmp_path; the first connection is tried
 * at connect_at_ms (monotonic; 0: at the first tick). cfg, vc and log must
 * outlive it (cfg is read at each use: a reload changes it in place).
 */
int session_qmp_new(struct loop *l, const struct daemon_config *cfg,
		    const struct vm_config *vc, struct vm_log *log,
		    const struct session_ops *ops, void *owner, uint64_t connect_at_ms,
		    struct session **ret);

#endif
