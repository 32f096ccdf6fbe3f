/* SPDX-License-Identifier: MIT */
/*
 * policy_int.h - shared between the policy files only (policy.c,
 * policy_auto.c, policy_ref.c); the daemon uses policy.h.
 */
#ifndef AB_POLICY_INT_H
#define AB_POLICY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

#define TOL_BYTES MIB	/* actual within this of target: converged */

/* This round's output for v. */
void policy_set_out(struct policy_vm *v, uint64_t target, enum policy_reason r);

/* Can the policy act on v this round at all? */
bool policy_actionable(const struct policy_vm *v);

/* Step 1: follow what the VM did with its target (may set an output). */
void policy_bookkeeping(const struct policy_params *p, uint64_t now, struct policy_vm *v);

/* Available memory under half the buffer: step 2 grants. */
bool policy_avail_short(const struct policy_vm *v);

void policy_auto(const struct policy_params *p, struct policy_host *h,
		 struct policy_vm *const *vms, size_t n);
void policy_ref_round(const struct policy_params *p, struct policy_host *h,
		      struct policy_vm *const *vms, size_t n);

#endif
