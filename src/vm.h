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

struct loop;
struct lv_conn;
struct vm;

/* What a VM tells its owner (the manager). */
enum vm_event {
	VM_EV_ROUND,		/* a policy round is wanted now */
	VM_EV_CHANGED,		/* its size or session changed (shutdown waits on it) */
	VM_EV_FAILURE,		/* a command to its VMM failed */
	VM_EV_TARGET_SET,	/* a new target was acknowledged */
};

/* What the owner gives every VM; must outlive them. */
struct vm_env {
	struct loop *loop;
	const struct logger *log;
	const struct daemon_config *cfg;
	const struct policy_params *params;
	const char *proc_dir;
	struct lv_conn *lv;		/* libvirt, when configured (NULL: none) */
	void (*event)(void *owner, struct vm *v, enum vm_event ev);
	void *owner;
};

struct vm {
	const struct vm_env *env;
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

/*
 * A VM: a libvirt domain when cfg has no QMP socket (env->lv set), else a
 * QEMU through its QMP socket, first tried at connect_at_ms.
 */
struct vm *vm_new(const struct vm_env *env, const struct vm_config *cfg, bool from_dir,
		  uint64_t connect_at_ms);
void vm_free(struct vm *v);

/* min/max/buffer from its config and its boot size (once known). */
void vm_resolve_sizes(struct vm *v);

/* The session manages its balloon: targets can be sent. */
bool vm_ready(const struct vm *v);

/* Send a target (at least 16 MiB); -EBUSY while one is in flight, unless force. */
int vm_send_target(struct vm *v, uint64_t target, enum policy_reason reason, bool force);

/* The policy's observations of v, now. */
void vm_fill_observations(struct vm *v, uint64_t now_ms);

/* Every housekeeping pass: the session's work, the residency read, the log. */
void vm_housekeeping(struct vm *v, uint64_t now_ms);

/* A libvirt domain (no QMP socket configured): dropped when it stops. */
static inline bool vm_from_libvirt(const struct vm *v)
{
	return !v->cfg.qmp_path[0];
}

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
