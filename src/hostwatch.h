/* SPDX-License-Identifier: MIT */
/*
 * hostwatch.h - the host (or the slice the guests run in) as the daemon
 * watches it: its memory read on demand, how fast its available memory
 * falls, and the kernel's pressure notifications (PSI trigger or cgroup v1
 * vmpressure) as a watch in the daemon's loop.
 */
#ifndef AB_HOSTWATCH_H
#define AB_HOSTWATCH_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "hostmem.h"
#include "policy.h"
#include "pressure.h"

struct daemon_config;
struct logger;
struct loop;
struct loop_watch;

struct host_watch {
	struct loop *loop;
	const struct logger *log;
	void (*on_pressure)(void *owner);	/* a notification arrived */
	void *owner;

	struct host_source src;
	struct host_mem hm;		/* the last reading */
	bool ok;			/* the last read worked */
	bool err_logged;
	struct avail_trend trend;
	struct pressure_mon pmon;
	struct loop_watch *pressure_watch;
	char psi_avg_path[PATH_MAX + 32];	/* PSI file read for averages */
	struct psi_avgs psi;
	bool psi_ok;
	uint64_t pressure_events;
	uint64_t read_errors;
};

void host_watch_init(struct host_watch *h, struct loop *l, const struct logger *log,
		     void (*on_pressure)(void *owner), void *owner);

/* (Re)open the memory source and the pressure notifications from c. */
int host_watch_setup(struct host_watch *h, const struct daemon_config *c);

/* Read the host's memory now; logs the first failure and the recovery. */
int host_watch_read(struct host_watch *h, uint64_t now_ms);

void host_watch_close(struct host_watch *h);

#endif
