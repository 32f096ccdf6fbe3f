/* SPDX-License-Identifier: MIT */
/*
 * policy_ref.c - reference policies, for comparison in the benchmark. They
 * follow the projects' published descriptions (Proxmox VE's AutoBalloon,
 * oVirt MOM's balloon policy), not their code:
 *
 * proxmox: every 10 s, goal = 80% of host total - host used; |goal| < 10 MiB
 *   does nothing. A positive goal is shared out by shares (weight) to VMs
 *   below max, pressured VMs (guest free < 10%) first; a negative goal is
 *   taken by shares from VMs above min, first from VMs whose free memory is
 *   over 25% of their min. At most 100 MiB per VM per round. Guest page
 *   cache counts as used (MemFree is the guest's "free").
 * mom: every 15 s, host free = avail / total. Below 20%, every guest may keep
 *   a free share of 20% scaled linearly to 0 at 5% host free (negative below:
 *   guests are pushed into swap); target = max(min, used + share x current)
 *   with used = current - MemFree; steps of at most 5%, changes under 0.25%
 *   skipped. At or above 20%, grow 5% a round up to max.
 * static: each VM gets its weight's share of (host total - high mark),
 *   within [min, max], set once and re-asserted after the cool-down.
 */
#include <stdlib.h>

#include "policy.h"
#include "policy_int.h"
#include "util.h"

#define PVE_MAX_CHANGE (100 * MIB)
#define PVE_MIN_GOAL (10 * MIB)

static void set_ref(struct policy_vm *v, uint64_t target)
{
	if (v->state == VM_UNCOOPERATIVE)
		return;
	target = round_mib(clamp_u64(target, v->min_bytes, v->max_bytes));
	if (target == v->target_bytes)
		return;
	v->set_target = true;
	v->new_target_bytes = target;
	v->reason = REASON_BASELINE;
}

static bool pve_pressured(const struct policy_vm *v)
{
	return v->stats_valid && v->free_bytes * 10 < v->actual_bytes;
}

static bool pve_idle(const struct policy_vm *v)
{
	return v->stats_valid && v->free_bytes * 4 > v->min_bytes;
}

/* One pass of sharing amount among VMs matching pick; returns what is left. */
static uint64_t pve_share(struct policy_vm *const *vms, size_t n, uint64_t amount,
			  bool grow, bool (*pick)(const struct policy_vm *))
{
	uint64_t wsum = 0, left = amount;

	for (size_t i = 0; i < n; i++) {
		struct policy_vm *v = vms[i];

		if (!v->active || (pick && !pick(v)))
			continue;
		if (grow ? v->target_bytes < v->max_bytes : v->target_bytes > v->min_bytes)
			wsum += v->weight;
	}
	if (!wsum)
		return amount;
	for (size_t i = 0; i < n; i++) {
		struct policy_vm *v = vms[i];
		uint64_t cur = v->set_target ? v->new_target_bytes : v->target_bytes;
		uint64_t room, d;

		if (!v->active || (pick && !pick(v)))
			continue;
		room = grow ? sat_sub(v->max_bytes, cur) : sat_sub(cur, v->min_bytes);
		d = MIN(MIN((uint64_t)((double)amount * v->weight / (double)wsum),
			    room), sat_sub(PVE_MAX_CHANGE, absdiff_u64(cur, v->target_bytes)));
		d = MIN(d, left);
		if (!d)
			continue;
		set_ref(v, grow ? cur + d : cur - d);
		left -= d;
	}
	return left;
}

static void policy_proxmox(struct policy_host *h, struct policy_vm *const *vms, size_t n)
{
	uint64_t goal_target = h->total_bytes / 10 * 8;
	uint64_t used = h->total_bytes - MIN(h->avail_bytes, h->total_bytes);

	if (goal_target > used) {
		uint64_t goal = goal_target - used;

		if (goal < PVE_MIN_GOAL)
			return;
		goal = pve_share(vms, n, goal, true, pve_pressured);
		pve_share(vms, n, goal, true, NULL);
	} else {
		uint64_t goal = used - goal_target;

		if (goal < PVE_MIN_GOAL)
			return;
		h->need_bytes = goal;
		goal = pve_share(vms, n, goal, false, pve_idle);
		pve_share(vms, n, goal, false, NULL);
	}
}

static void policy_mom(struct policy_host *h, struct policy_vm *const *vms, size_t n)
{
	double host_free = h->total_bytes ?
		(double)h->avail_bytes / (double)h->total_bytes : 1.0;

	for (size_t i = 0; i < n; i++) {
		struct policy_vm *v = vms[i];
		double cur = (double)v->actual_bytes, t;

		if (!v->active || !v->stats_valid)
			continue;
		if (host_free < 0.20) {
			double share = 0.20 * (host_free - 0.05) / 0.15;
			double used = cur - (double)v->free_bytes;

			t = used + share * cur;
			if (t < (double)v->min_bytes)
				t = (double)v->min_bytes;
			if (t < cur * 0.95)
				t = cur * 0.95;
			if (t > cur * 1.05)
				t = cur * 1.05;
		} else {
			t = cur * 1.05;
		}
		if (t < 0)
			t = 0;
		if (t > cur ? t - cur < cur * 0.0025 : cur - t < cur * 0.0025)
			continue;
		set_ref(v, (uint64_t)t);
	}
}

static void policy_static(const struct policy_params *p, struct policy_host *h,
			  struct policy_vm *const *vms, size_t n)
{
	uint64_t pool = sat_sub(h->total_bytes, p->host_high_bytes);
	uint64_t wsum = 0;

	for (size_t i = 0; i < n; i++)
		if (vms[i]->active)
			wsum += vms[i]->weight;
	for (size_t i = 0; i < n && wsum; i++) {
		struct policy_vm *v = vms[i];
		uint64_t share = (uint64_t)((double)pool * v->weight / (double)wsum);

		share = round_mib(clamp_u64(share, v->min_bytes, v->max_bytes));
		if (!v->active || h->now_ms < v->cooldown_until_ms)
			continue;
		if (absdiff_u64(share, v->target_bytes) > p->deadband_bytes)
			set_ref(v, share);
	}
}

void policy_ref_round(const struct policy_params *p, struct policy_host *h,
		      struct policy_vm *const *vms, size_t n)
{
	if (p->interval_ms && h->last_run_ms &&
	    h->now_ms - h->last_run_ms < p->interval_ms)
		return;
	h->last_run_ms = h->now_ms;
	switch (p->kind) {
	case POLICY_PROXMOX:
		policy_proxmox(h, vms, n);
		break;
	case POLICY_MOM:
		policy_mom(h, vms, n);
		break;
	case POLICY_STATIC:
		policy_static(p, h, vms, n);
		break;
	case POLICY_AUTO:
	case POLICY_OBSERVE:
		break;
	}
}
