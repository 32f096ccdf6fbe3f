/* SPDX-License-Identifier: MIT */
/*
 * session_libvirt.h - the VM session with a libvirt domain (see session.h).
 */
#ifndef AB_SESSION_LIBVIRT_H
#define AB_SESSION_LIBVIRT_H

#include "lvconn.h"
#include "session.h"

struct daemon_config;
struct vm_config;
struct vm_log;

/* A session with the domain named vc->name on conn; all must outlive it. */
int session_libvirt_new(struct lv_conn *conn, const struct daemon_config *cfg,
			const struct vm_config *vc, struct vm_log *log,
			const struct session_ops *ops, void *owner, struct session **ret);

#endif
