/* SPDX-License-Identifier: MIT */
/*
 * lvevent.h - libvirt's events on the daemon's loop (virEventRegisterImpl).
 */
#ifndef AB_LVEVENT_H
#define AB_LVEVENT_H

struct loop;

/* Once per process, before the first libvirt connection; -EBUSY for a second loop. */
int lv_events_register(struct loop *l);

#endif
