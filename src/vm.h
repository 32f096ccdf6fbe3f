/* SPDX-License-Identifier: MIT */
/*
 * vm.h - one managed VM as the manager keeps it. Each part has one owner:
 * the session (session.h) owns the link to the VMM, the observations
 * (observe.h) are written only by the manager's session callbacks, the
 * policy's per-VM memory (struct policy_vm) only by the policy functions.
 * The surfaces (dump.c, metrics.c) only read.
 */
#ifndef AB_VM_H
#define AB_VM_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "hostmem.h"
#include "observe.h"
#include "policy.h"
#include "session.h"
#include "vmlog.h"

struct manager;

struct vm {
	struct manager *mgr;
	struct vm_config cfg;
	bool from_dir;			/* found in qmp_dir (dropped when it goes) */
	struct vm_log log;
	struct session *session;

	struct vm_obs obs;
	/*
	 * The host memory behind the guest's RAM, read from its VMM's smaps
	 * when the session knows the VMM's pid (unknown for a socket a
	 * manager such as libvirt made: then the policy assumes the host
	 * backs all of the guest's memory).
	 */
	struct guest_ram_tracker ram;
	uint64_t ram_read_ms;
	int ram_err;			/* last reason it is unknown (logged once) */

	struct policy_vm pol;

	/* a target sent and not acknowledged yet: why */
	enum policy_reason req_reason;
	/* history, for the surfaces */
	enum policy_reason last_reason;
	uint64_t last_action_ms;
	uint64_t targets_sent;
	uint64_t guest_deflations;
};

/* The state the surfaces show: the session's until it is ready, then the policy's. */
const char *vm_state_label(const struct vm *v);

/* The numbers the surfaces show of a VM: one reader for JSON and metrics. */
enum vm_num {
	VN_MAX, VN_MIN, VN_TARGET, VN_ACTUAL,
	VN_AVAIL, VN_CACHE, VN_FREE, VN_TOTAL,			/* the guest's sample */
	VN_SWAP_IN, VN_SWAP_OUT, VN_MAJFLT,
	VN_SWAPIN_PPS, VN_SWAPOUT_PPS, VN_MAJFLT_PS,
	VN_REFAULT_PPS,						/* measured by the host */
	VN_RESIDENT, VN_SWAPPED,
	VN_TARGETS_SENT, VN_GUEST_DEFLATIONS, VN_QMP_FAILURES,	/* counters */
	VN__N,
};

struct vm_value {
	bool known;		/* false: unknown or stale, shown as null / left out */
	bool real;		/* d, else u */
	uint64_t u;
	double d;
};

/* Value n of v at now_ms; guest values older than stale_ms are unknown. */
struct vm_value vm_value(const struct vm *v, enum vm_num n, uint64_t stale_ms, uint64_t now_ms);

#endif
