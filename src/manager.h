/* SPDX-License-Identifier: MIT */
/*
 * manager.h - the daemon's state: the VMs (vm.h), the host (hostwatch.h),
 * and the policy rounds that connect them, driven by a tick, host pressure
 * events and what the sessions report. The surfaces (control socket,
 * metrics) read the state through the views below.
 */
#ifndef AB_MANAGER_H
#define AB_MANAGER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "policy.h"

struct host_watch;
struct loop;
struct logger;
struct manager;
struct vm;

struct manager_counters {
	uint64_t rounds;
	uint64_t immediate_rounds;
	uint64_t targets_sent;
	uint64_t qmp_errors;
	uint64_t vms_added;
	uint64_t vms_removed;
	/* how long the loop's periodic work takes (scale, latency) */
	uint64_t round_us_last, round_us_max;	/* one policy round, all VMs */
	uint64_t housekeeping_us_max;		/* one pass over all sessions */
	uint64_t ticks_missed;			/* the tick timer fired late */
};

int manager_new(struct loop *l, const struct logger *log,
		struct daemon_config *cfg, struct manager **ret);
void manager_free(struct manager *m);

/* Set up host monitoring, timers and VMs from the configuration. */
int manager_start(struct manager *m);

/* Replace the configuration (SIGHUP). Takes ownership of cfg's VM list. */
int manager_reload(struct manager *m, struct daemon_config *cfg);

/*
 * SIGTERM: stop acting, return every balloon to max if configured, then call
 * done(data) (at once when there is nothing to wait for).
 */
void manager_shutdown(struct manager *m, void (*done)(void *data), void *data);

void manager_pause(struct manager *m, bool paused);
bool manager_paused(const struct manager *m);

/*
 * Runtime override of a VM's bounds/weight (autoballoonctl set). Any of the
 * pointers may be NULL. On error returns -errno and a message in err.
 */
int manager_set_vm(struct manager *m, const char *name, const char *min,
		   const char *max, const char *weight, char *err, size_t errlen);

/* The whole state as JSON (new reference; dump.c). status_only: a smaller view. */
json_t *manager_dump(const struct manager *m, bool status_only);

/* Read-only views of the state, for the surfaces (dump.c, metrics.c). */
const struct manager_counters *manager_counters(const struct manager *m);
size_t manager_vm_count(const struct manager *m);
const struct vm *manager_vm(const struct manager *m, size_t i);
const struct host_watch *manager_host(const struct manager *m);
const struct policy_host *manager_last_round(const struct manager *m);
const struct policy_params *manager_params(const struct manager *m);
const struct daemon_config *manager_config(const struct manager *m);

#endif
