/* SPDX-License-Identifier: MIT */
/*
 * policy.c - what every policy shares: names, defaults, the per-VM
 * bookkeeping of step 1 (did actual follow the target?), the host's
 * avail trend, the thresholds the daemon also uses to call a round early,
 * and policy_round, which runs a policy and then enforces the bounds.
 * The auto policy itself is in policy_auto.c, the reference policies in
 * policy_ref.c.
 */
#include "policy.h"
#include "policy_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static const char *const kind_names[] = {
	[POLICY_AUTO] = "auto",
	[POLICY_PROXMOX] = "proxmox",
	[POLICY_MOM] = "mom",
	[POLICY_STATIC] = "static",
	[POLICY_OBSERVE] = "observe",
};

const char *policy_kind_name(enum policy_kind k)
{
	return kind_names[k];
}

int policy_kind_parse(const char *s, enum policy_kind *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(kind_names); i++) {
		if (strcasecmp(s, kind_names[i]) == 0) {
			*ret = (enum policy_kind)i;
			return 0;
		}
	}
	return -1;
}

const char *vm_state_name(enum vm_state s)
{
	switch (s) {
	case VM_OK:
		return "ok";
	case VM_GUEST_DEFLATED:
		return "guest-deflated";
	case VM_UNCOOPERATIVE:
		return "uncooperative";
	}
	return "?";
}

const char *policy_reason_name(enum policy_reason r)
{
	switch (r) {
	case REASON_NONE:
		return "none";
	case REASON_GUEST_PRESSURE:
		return "guest-pressure";
	case REASON_GUEST_DEFLATED:
		return "guest-deflated";
	case REASON_HOST_RECLAIM:
		return "host-reclaim";
	case REASON_GIVEBACK:
		return "give-back";
	case REASON_IDLE_ROOM:
		return "idle-room";
	case REASON_REFAULT:
		return "refault";
	case REASON_BOOT_ROOM:
		return "boot-room";
	case REASON_BOUNDS:
		return "bounds";
	case REASON_UNCOOPERATIVE:
		return "uncooperative";
	case REASON_BASELINE:
		return "baseline";
	}
	return "?";
}

void policy_params_default(struct policy_params *p, enum policy_kind kind)
{
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->relax_delay_ms = 10000;
	p->deadband_bytes = 8 * MIB;
	p->step_inflate_bytes = 256 * MIB;
	p->giveback_bytes = 16 * MIB;
	p->cooldown_ms = 20000;
	p->uncoop_after_ms = 10000;
	p->uncoop_retry_ms = 120000;
	p->lead_ms = 2000;
	p->refault_pps_threshold = 256;	/* 1 MiB/s */
	p->keep_ms = 60000;
	p->residency = true;
	p->boot_room = true;
	switch (kind) {
	case POLICY_PROXMOX:
		p->interval_ms = 10000;
		break;
	case POLICY_MOM:
		p->interval_ms = 15000;
		break;
	case POLICY_AUTO:
	case POLICY_STATIC:
	case POLICY_OBSERVE:
		p->interval_ms = 0;
		break;
	}
}

void policy_commit(struct policy_vm *vm, uint64_t target_bytes, uint64_t actual_bytes,
		   uint64_t now_ms)
{
	vm->actual_bytes = actual_bytes;
	/* a deflation in flight may still be seen going on up to the old target */
	vm->deflating_to_bytes = actual_bytes < vm->target_bytes ? vm->target_bytes : 0;
	vm->target_bytes = target_bytes;
	vm->target_set_ms = now_ms;
	vm->actual_at_set = actual_bytes;
}

void policy_adopt(struct policy_vm *vm, uint64_t actual_bytes, uint64_t now_ms)
{
	vm->state = VM_OK;
	vm->cooldown_until_ms = 0;
	vm->retry_at_ms = 0;
	/* below max, from before: the host took it, for all the daemon knows */
	vm->squeezed_from = actual_bytes + TOL_BYTES < vm->max_bytes ? vm->max_bytes : 0;
	vm->keep_bytes = 0;
	vm->keep_until_ms = 0;
	vm->refault_since_ms = 0;
	vm->refault_last_ms = 0;
	vm->refault_used_ms = 0;
	vm->inflated_ms = 0;
	vm->no_help_until_ms = 0;
	policy_commit(vm, actual_bytes, actual_bytes, now_ms);
	vm->deflating_to_bytes = 0;
}

void policy_set_out(struct policy_vm *v, uint64_t target, enum policy_reason r)
{
	v->set_target = true;
	v->new_target_bytes = target;
	v->reason = r;
}

/* Can the policy act on this VM at all this round? */
bool policy_actionable(const struct policy_vm *v)
{
	return v->active && !v->set_target &&
	       (v->state == VM_OK || v->state == VM_GUEST_DEFLATED);
}

/*
 * Step 1: follow what the VM did with its target. Returns after producing an
 * output (accepting a guest deflate, giving up on an uncooperative guest).
 */
void policy_bookkeeping(const struct policy_params *p, uint64_t now, struct policy_vm *v)
{
	uint64_t dist_now, dist_then;

	if (!v->active)
		return;
	if (now >= v->cooldown_until_ms && v->state == VM_GUEST_DEFLATED)
		v->state = VM_OK;
	if (v->state == VM_UNCOOPERATIVE) {
		if (now < v->retry_at_ms)
			return;
		v->state = VM_OK;
		v->target_set_ms = now;
		v->actual_at_set = v->actual_bytes;
	}
	if (v->state != VM_OK && v->state != VM_GUEST_DEFLATED)
		return;

	/* No driver up yet to follow a target: its clock starts with the driver. */
	if (v->booting || absdiff_u64(v->actual_bytes, v->target_bytes) <= TOL_BYTES) {
		v->target_set_ms = now;
		v->actual_at_set = v->actual_bytes;
		return;
	}
	/* (not a deflation still seen going on after a lower target was set) */
	if (v->actual_bytes > v->target_bytes + TOL_BYTES &&
	    v->actual_bytes > MAX(v->actual_at_set, v->deflating_to_bytes) + TOL_BYTES) {
		/* The guest took memory back on its own: it wins. */
		v->state = VM_GUEST_DEFLATED;
		v->cooldown_until_ms = now + p->cooldown_ms;
		policy_set_out(v, v->actual_bytes, REASON_GUEST_DEFLATED);
		return;
	}
	dist_now = absdiff_u64(v->actual_bytes, v->target_bytes);
	dist_then = absdiff_u64(v->actual_at_set, v->target_bytes);
	if (dist_now + TOL_BYTES <= dist_then) {
		v->target_set_ms = now;
		v->actual_at_set = v->actual_bytes;
		return;
	}
	/*
	 * No progress for uncoop_after, as seen after that time: an observation
	 * from before (the daemon was not scheduled, a reply was slow) proves
	 * nothing.
	 */
	if (now - v->target_set_ms >= p->uncoop_after_ms &&
	    (v->actual_seen_ms ? v->actual_seen_ms : now) >= v->target_set_ms + p->uncoop_after_ms) {
		v->state = VM_UNCOOPERATIVE;
		v->retry_at_ms = now + p->uncoop_retry_ms;
		policy_set_out(v, v->actual_bytes, REASON_UNCOOPERATIVE);
	}
}

#define FALL_FLOOR_BPS	(8.0 * MIB)
#define FALL_GAP_MS	300

void avail_trend_update(struct avail_trend *t, uint64_t now_ms, uint64_t avail_bytes)
{
	const double tau_s = 1.0;

	if (t->valid && now_ms <= t->ms)
		return;	/* same millisecond: keep the older reference */
	if (t->valid) {
		double dt = (double)(now_ms - t->ms) / 1000.0;
		double rate = ((double)t->avail - (double)avail_bytes) / dt;

		t->fall_bps += dt / (dt + tau_s) * (rate - t->fall_bps);
		if (rate >= FALL_FLOOR_BPS) {
			if (!t->fall_last_ms || t->ms - t->fall_last_ms > FALL_GAP_MS)
				t->fall_start_ms = t->ms;
			t->fall_last_ms = now_ms;
		}
	}
	t->ms = now_ms;
	t->avail = avail_bytes;
	t->valid = true;
}

uint64_t avail_trend_fall_bps(const struct avail_trend *t)
{
	return t->fall_bps > 0 ? (uint64_t)t->fall_bps : 0;
}

uint64_t avail_trend_falling_ms(const struct avail_trend *t)
{
	if (!t->fall_last_ms || t->ms - t->fall_last_ms > FALL_GAP_MS)
		return 0;
	return t->ms - t->fall_start_ms;
}

uint64_t policy_projected_avail(const struct policy_params *p, uint64_t avail_bytes,
				uint64_t fall_bps, uint64_t falling_ms)
{
	double fall = (double)fall_bps * (double)MIN(p->lead_ms, falling_ms) / 1000.0;

	return fall >= (double)avail_bytes ? 0 : avail_bytes - (uint64_t)fall;
}

bool policy_avail_short(const struct policy_vm *v)
{
	return v->stats_valid && v->avail_bytes < v->buffer_bytes / 2;
}

bool policy_guest_short(const struct policy_params *p, const struct policy_vm *v)
{
	return policy_avail_short(v) ||
	       (v->refault_valid && v->refault_pps >= p->refault_pps_threshold);
}

bool policy_host_short(const struct policy_params *p, uint64_t avail_bytes,
		       uint64_t fall_bps, uint64_t falling_ms)
{
	return policy_projected_avail(p, avail_bytes, fall_bps, falling_ms) < p->host_low_bytes;
}

void policy_round(const struct policy_params *p, struct policy_host *h,
		  struct policy_vm *const *vms, size_t n)
{
	h->need_bytes = h->unmet_bytes = h->reclaim_bytes = 0;
	h->grant_bytes = h->giveback_bytes = 0;
	for (size_t i = 0; i < n; i++) {
		vms[i]->set_target = false;
		vms[i]->reason = REASON_NONE;
		vms[i]->guest_pressure = false;
	}
	switch (p->kind) {
	case POLICY_OBSERVE:
		return;
	case POLICY_AUTO:
		policy_auto(p, h, vms, n);
		break;
	case POLICY_PROXMOX:
	case POLICY_MOM:
	case POLICY_STATIC:
		policy_ref_round(p, h, vms, n);
		break;
	}
	/* Bounds always hold, whoever decided. */
	for (size_t i = 0; i < n; i++) {
		struct policy_vm *v = vms[i];
		uint64_t t = v->set_target ? v->new_target_bytes : v->target_bytes;

		if (!v->active || v->state == VM_UNCOOPERATIVE)
			continue;
		if (t < v->min_bytes || t > v->max_bytes) {
			t = clamp_u64(t, v->min_bytes, v->max_bytes);
			policy_set_out(v, t, v->set_target ? v->reason : REASON_BOUNDS);
		}
		if (v->set_target && v->new_target_bytes == v->target_bytes &&
		    v->reason != REASON_GUEST_DEFLATED)
			v->set_target = false;
		/*
		 * Where the host began taking memory the guest used (its excess,
		 * cache included): what refaults can win back. Boot room and idle
		 * room take room the guest has not used; what it reads next is new.
		 */
		if (v->set_target && v->new_target_bytes < v->target_bytes && !v->squeezed_from &&
		    v->reason == REASON_HOST_RECLAIM)
			v->squeezed_from = v->target_bytes;
	}
}
