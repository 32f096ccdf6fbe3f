/* SPDX-License-Identifier: MIT */
/*
 * policy.c - the "auto" policy and what all policies share.
 *
 * One round of "auto":
 *  1. Bookkeeping per VM: did actual follow the target? A guest whose actual
 *     rose above its target took memory back (deflate-on-oom or
 *     virtio_autoballoon): accept it (target := actual) and cool down. A guest
 *     that makes no progress for uncoop_after_ms is uncooperative: stop
 *     pushing (target := actual) and retry much later.
 *  2. Guest wins: a guest that has used up half its buffer (available memory
 *     under buffer/2) is deflated now to 1.5 buffers of available memory,
 *     up to its max. One the host squeezed that refaults (its disk reads
 *     plus its QEMU's major faults, measured by the host, over a
 *     threshold) gets a buffer of the squeeze back and keeps its size for
 *     keep_ms after its last refault: no reclaim below it (refault_check). Beyond its weight's share of the pool (the host's memory
 *     above low, less what the host uses besides the guests' RAM) a guest
 *     gets only what the host can spare above high: a lying guest cannot
 *     take memory the others need. During its cool-down the host does not
 *     inflate it again: it keeps what it got (or took) and any cache it
 *     grows meanwhile - no reclaim/grant ping-pong.
 *  3. Host takes from excess: when the host (or slice) is pressured - its
 *     available memory under the low mark (projected lead_ms ahead while it
 *     falls, never further ahead than the fall has lasted), a PSI/vmpressure
 *     event, or its swap use growing - reclaim just enough to reach the
 *     high mark (plus what was just swapped out), water-filling on excess
 *     per weight, where
 *     excess = guest available (which counts page cache) - buffer -
 *     inflation in flight; guests in their cool-down are no donors. Never
 *     below min, at most step_inflate per VM per round. Reclaim floor (buffer) and grant
 *     trigger (buffer/2) are apart, so a lean guest does not flip-flop.
 *     Still under low: guests above their share give back toward it
 *     (not one that took memory back itself, in its cool-down).
 *     Where the caller knows what the host backs of a guest (resident),
 *     only that is gained: the target first goes through the unbacked part
 *     (no gain, no cost to the host), a guest with free page reporting
 *     offers only its cache, and the share floor bounds what is backed.
 *     Short for 5 s with nothing backed left to gain: the guests' unbacked
 *     room is the host's risk, and excess is taken as without residency.
 *  4. Give back slowly: once the host has been relaxed (avail above the high
 *     mark) for relax_delay_ms, return up to giveback_bytes per VM per round
 *     from the spare above the high mark, neediest (least excess per
 *     weight) first. Where residency is known, room the guests hold
 *     unbacked (free memory the host does not back; not their data in host
 *     swap) is a promise the host must keep at once when touched: give
 *     only while the host, every promise kept at once, stays above low.
 *     While the neediest guest lags (short of its buffer, or using what
 *     it holds while another guest's excess per weight is above its own by
 *     enough to move a deadband), none to a guest holding a buffer of such
 *     room, and if the promises block it, re-inflate the guest that can
 *     move the most over its room beyond its buffer, up to half the
 *     difference in excess per weight (free memory there): the promise
 *     moves to the guest that uses it.
 */
#include "policy.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define TOL_BYTES MIB	/* actual within this of target: converged */

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
	case VM_CONNECTING:
		return "connecting";
	case VM_OK:
		return "ok";
	case VM_GUEST_DEFLATED:
		return "guest-deflated";
	case VM_UNCOOPERATIVE:
		return "uncooperative";
	case VM_NO_BALLOON:
		return "no-balloon";
	case VM_GONE:
		return "gone";
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

void policy_commit(struct policy_vm *vm, uint64_t target_bytes, uint64_t now_ms)
{
	/* a deflation in flight may still be seen going on up to the old target */
	vm->deflating_to_bytes = vm->actual_bytes < vm->target_bytes ? vm->target_bytes : 0;
	vm->target_bytes = target_bytes;
	vm->target_set_ms = now_ms;
	vm->actual_at_set = vm->actual_bytes;
}

void policy_adopt(struct policy_vm *vm, uint64_t actual_bytes, uint64_t now_ms)
{
	vm->actual_bytes = actual_bytes;
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
	policy_commit(vm, actual_bytes, now_ms);
	vm->deflating_to_bytes = 0;
}

static void set_out(struct policy_vm *v, uint64_t target, enum policy_reason r)
{
	v->set_target = true;
	v->new_target_bytes = target;
	v->reason = r;
}

/* Can the policy act on this VM at all this round? */
static bool vm_actionable(const struct policy_vm *v)
{
	return v->active && !v->set_target &&
	       (v->state == VM_OK || v->state == VM_GUEST_DEFLATED);
}

/*
 * Step 1: follow what the VM did with its target. Returns after producing an
 * output (accepting a guest deflate, giving up on an uncooperative guest).
 */
static void bookkeeping(const struct policy_params *p, uint64_t now,
			struct policy_vm *v)
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
		set_out(v, v->actual_bytes, REASON_GUEST_DEFLATED);
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
		set_out(v, v->actual_bytes, REASON_UNCOOPERATIVE);
	}
}

#define REFAULT_GAP_MS	5000	/* refaults closer than this: one episode */
#define REFAULT_HELP_MS	15000	/* an episode this long: memory does not help */
#define REFAULT_SETTLE_MS 2000	/* refaults this soon after inflating are its own */

/* What the host does not reclaim below: min, or the keep while it holds. */
static uint64_t reclaim_floor(const struct policy_vm *v, uint64_t now)
{
	return now < v->keep_until_ms ? MAX(v->min_bytes, v->keep_bytes) : v->min_bytes;
}

/*
 * Memory whose loss a guest pays for is not excess. A guest the host has
 * squeezed (its balloon inflated from squeezed_from) that refaults faster
 * than the threshold pays for the squeeze: step 2 gives a buffer of it back,
 * and the guest keeps its size for keep_ms after its last refault - no
 * reclaim below it, not even toward its share. A guest the host took
 * nothing from reads new data, not lost data: its reads say nothing.
 * Memory helps a guest when its refaults stop: one that has refaulted for
 * REFAULT_HELP_MS on end, squeezed or kept, whatever it was given, reads
 * more than any size holds (a stream, or a guest reading its disk to hold
 * on to memory), and for keep_ms its refaults count for nothing. Returns
 * whether there is a squeeze to give back this round.
 */
static bool refault_check(const struct policy_params *p, uint64_t now, struct policy_vm *v)
{
	uint64_t size = MAX(v->actual_bytes, v->target_bytes);

	/* the target says it: actual lags behind an inflation for a while */
	if (v->squeezed_from && v->target_bytes + TOL_BYTES >= v->squeezed_from)
		v->squeezed_from = 0;
	if (v->actual_bytes > v->target_bytes + TOL_BYTES)
		v->inflated_ms = now;
	if (!v->active || !v->refault_valid || v->refault_ms == v->refault_used_ms)
		return false;	/* rounds come faster than samples: each acts once */
	v->refault_used_ms = v->refault_ms;
	/*
	 * Inflating, the guest reclaims: it touches memory the host may have
	 * swapped out, and those swap-ins are the inflation's, not a loss.
	 */
	if (v->inflated_ms && now < v->inflated_ms + REFAULT_SETTLE_MS)
		return false;
	/* neither squeezed nor kept: it reads new data, not lost data */
	if (v->refault_pps < p->refault_pps_threshold || now < v->no_help_until_ms ||
	    (!v->squeezed_from && now >= v->keep_until_ms))
		return false;
	if (!v->refault_last_ms || now > v->refault_last_ms + REFAULT_GAP_MS)
		v->refault_since_ms = now;
	v->refault_last_ms = now;
	if (now - v->refault_since_ms >= REFAULT_HELP_MS) {
		/* nor does the cool-down they earned it */
		v->no_help_until_ms = now + p->keep_ms;
		v->keep_until_ms = 0;
		v->cooldown_until_ms = MIN(v->cooldown_until_ms, now);
		v->refault_last_ms = 0;
		return false;
	}
	v->keep_bytes = now < v->keep_until_ms ? MAX(v->keep_bytes, size) : size;
	v->keep_until_ms = now + p->keep_ms;
	return v->squeezed_from != 0;	/* something to give back */
}

/*
 * Free memory of the guest the host does not back, inside its target: a
 * new target must first go below this before the host gains anything (the
 * guest's data in host swap is not free, the balloon does not land on it).
 */
static uint64_t unbacked_within(const struct policy_vm *v, uint64_t size)
{
	return v->resident_valid ?
	       sat_sub(sat_sub(size, v->resident_bytes), v->swapped_bytes) : 0;
}

static uint64_t unbacked_bytes(const struct policy_vm *v)
{
	return unbacked_within(v, v->target_bytes);
}

/*
 * Room of this guest the host has promised and does not back: memory
 * inside its balloon's current size (a deflation in flight is counted as
 * such already) neither resident nor the guest's own data in host swap.
 */
static uint64_t promised_room(const struct policy_vm *v)
{
	return v->active ? unbacked_within(v, MIN(v->actual_bytes, v->target_bytes)) : 0;
}

static uint64_t promised_bytes(const struct policy_vm *vms, size_t n)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += promised_room(&vms[i]);
	return sum;
}

/*
 * Inflation in flight: memory the host will get back without asking again
 * (only what is resident above the target). A deflation in flight counts
 * as memory the host gives.
 */
static int64_t inflight_bytes(const struct policy_vm *v)
{
	uint64_t gain;

	if (v->actual_bytes <= v->target_bytes)
		return (int64_t)v->actual_bytes - (int64_t)v->target_bytes;
	gain = v->actual_bytes - v->target_bytes;
	if (v->resident_valid)
		gain = MIN(gain, sat_sub(v->resident_bytes, v->target_bytes));
	return (int64_t)gain;
}

/*
 * Memory this guest could give without going under its buffer, counting
 * inflation in flight.
 */
static uint64_t vm_excess(const struct policy_vm *v)
{
	uint64_t ex = sat_sub(v->avail_bytes, v->buffer_bytes);

	if (v->actual_bytes > v->target_bytes)
		ex = sat_sub(ex, v->actual_bytes - v->target_bytes);
	return ex;
}

/*
 * What the host gains from this guest's excess: the balloon has to cover
 * the unbacked memory first. A guest that reports its free memory gives
 * that back by itself within seconds, so only its reclaimable cache (what
 * it has available beyond free memory) counts.
 */
static uint64_t vm_gain(const struct policy_vm *v)
{
	uint64_t g = sat_sub(vm_excess(v), unbacked_bytes(v));

	if (v->resident_valid && v->free_reporting)
		g = MIN(g, sat_sub(v->avail_bytes, v->free_bytes));
	return g;
}

/*
 * A donor gives up to cap of its excess (per weight, largest first); its
 * target drops by offset (unbacked memory, no gain) plus what it gives.
 */
struct donor {
	struct policy_vm *vm;
	double excess;
	double weight;
	double cap;
	uint64_t offset;
	uint64_t take;	/* water_fill's result */
};

static double fill_amount(const struct donor *d, size_t n, double level)
{
	double sum = 0;

	for (size_t i = 0; i < n; i++) {
		double t = d[i].excess - level * d[i].weight;

		if (t > 0)
			sum += t < d[i].cap ? t : d[i].cap;
	}
	return sum;
}

/*
 * Take need bytes from donors, largest excess per weight first: find the
 * level L with sum(min(cap, excess - L * weight)) == need. Shares below
 * the deadband are not sent; together they go to the donor with the most
 * room left, or a need split over many guests would never be met (and the
 * host would stay pressured just short of its high mark).
 */
static uint64_t water_fill(const struct policy_params *p, struct donor *d,
			   size_t n, uint64_t need)
{
	double lo = 0, hi = 0, level;
	uint64_t total = 0, small = 0, room, best_room = 0;
	size_t best = n;

	if (n == 0 || need == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (d[i].excess / d[i].weight > hi)
			hi = d[i].excess / d[i].weight;
	if (fill_amount(d, n, 0) <= (double)need) {
		level = 0;
	} else {
		for (int it = 0; it < 60; it++) {
			double mid = (lo + hi) / 2;

			if (fill_amount(d, n, mid) > (double)need)
				lo = mid;
			else
				hi = mid;
		}
		level = hi;
	}
	for (size_t i = 0; i < n; i++) {
		double t = d[i].excess - level * d[i].weight;

		d[i].take = t > 0 ? round_mib((uint64_t)(t < d[i].cap ? t : d[i].cap)) : 0;
		if (d[i].take < p->deadband_bytes) {
			small += d[i].take;
			d[i].take = 0;
		}
		room = round_mib((uint64_t)MIN(d[i].excess, d[i].cap)) - d[i].take;
		if (room > best_room) {
			best_room = room;
			best = i;
		}
	}
	if (best < n && d[best].take + MIN(small, best_room) >= p->deadband_bytes)
		d[best].take += MIN(small, best_room);
	for (size_t i = 0; i < n; i++) {
		if (!d[i].take)
			continue;
		set_out(d[i].vm, d[i].vm->target_bytes - round_mib(d[i].offset) - d[i].take,
			REASON_HOST_RECLAIM);
		total += d[i].take;
	}
	return total;
}

/*
 * Guests that can give from their excess this round: not one that showed
 * pressure, and not one in its cool-down (it just won memory; taking it
 * back at once is a reclaim/grant ping-pong). By default the gain is what
 * the host backs beyond the new target (the target first goes through the
 * unbacked part, offset); with whole set, excess is taken as if the host
 * backed all of the guest (only guests whose residency is known: the
 * others were offered it all already).
 */
static size_t excess_donors(const struct policy_params *p, struct policy_vm *vms,
			    size_t n, uint64_t now, bool whole, struct donor *d)
{
	size_t nd = 0;

	for (size_t i = 0; i < n; i++) {
		struct policy_vm *v = &vms[i];
		uint64_t off, floor;

		if (!vm_actionable(v) || !v->stats_valid || v->guest_pressure ||
		    now < v->cooldown_until_ms || (whole && !v->resident_valid))
			continue;
		off = whole ? 0 : unbacked_bytes(v);
		floor = reclaim_floor(v, now);
		if (v->target_bytes <= floor + off)
			continue;
		d[nd++] = (struct donor){ .vm = v, .weight = v->weight, .offset = off,
			.excess = (double)(whole ? vm_excess(v) : vm_gain(v)),
			.cap = (double)MIN(p->step_inflate_bytes,
					   v->target_bytes - floor - off) };
	}
	return nd;
}

/*
 * Still short after every guest that reports stats gave its excess: VMs
 * without stats (stats disabled, no or a broken driver) give in small steps,
 * toward min. A VM that does not follow becomes uncooperative and is left
 * alone; one that does was simply blind.
 */
static void blind_reclaim(const struct policy_params *p, struct policy_host *h,
			  struct policy_vm *vms, size_t n)
{
	uint64_t step = MAX(p->step_inflate_bytes / 4, p->deadband_bytes);
	size_t nblind = 0;

	for (size_t i = 0; i < n; i++) {
		const struct policy_vm *v = &vms[i];

		if (vm_actionable(v) && v->state == VM_OK && !v->stats_valid &&
		    !v->stats_expected &&
		    h->now_ms >= v->cooldown_until_ms && v->target_bytes > v->min_bytes &&
		    v->actual_bytes <= v->target_bytes + TOL_BYTES)
			nblind++;
	}
	for (size_t i = 0; i < n && nblind && h->unmet_bytes >= p->deadband_bytes; i++) {
		struct policy_vm *v = &vms[i];
		uint64_t take;

		if (!vm_actionable(v) || v->state != VM_OK || v->stats_valid ||
		    v->stats_expected ||
		    h->now_ms < v->cooldown_until_ms || v->target_bytes <= v->min_bytes ||
		    v->actual_bytes > v->target_bytes + TOL_BYTES)
			continue;
		take = MIN(MIN(step, v->target_bytes - v->min_bytes),
			   MAX(h->unmet_bytes / nblind, p->deadband_bytes));
		take = round_mib(take);
		if (take < p->deadband_bytes && v->target_bytes - take > v->min_bytes)
			continue;
		set_out(v, v->target_bytes - take, REASON_HOST_RECLAIM);
		h->reclaim_bytes += take;
		h->unmet_bytes = sat_sub(h->unmet_bytes, take);
	}
}

static int cmp_giveback(const void *a, const void *b)
{
	const struct donor *x = a, *y = b;

	return (x->excess / x->weight > y->excess / y->weight) -
	       (x->excess / x->weight < y->excess / y->weight);
}

/* Weighted share of the memory the guests can have between them. */
static uint64_t fair_share(const struct policy_vm *vms, size_t n,
			   const struct policy_vm *v, uint64_t pool)
{
	uint64_t wsum = 0;

	for (size_t i = 0; i < n; i++)
		if (vms[i].active)
			wsum += vms[i].weight;
	if (wsum == 0)
		return v->max_bytes;
	return (uint64_t)((double)pool * v->weight / (double)wsum);
}

/*
 * Still below the low mark after the excess is gone: guests above their
 * weight's share give back toward it, whatever they claim (guest data is
 * untrusted: a guest claiming endless need keeps at most its share while
 * the host is short), largest overshoot per weight first, never below min.
 * Only need (what keeps the host at its low mark) is taken: beyond its
 * share step 2 grants a guest only what keeps the host above high, and
 * taking more would take that grant back the next round. Not a guest that
 * took memory back itself (deflate-on-oom, virtio_autoballoon) during its
 * cool-down: pushed back, it would be at its OOM point again and take the
 * memory again - a fight every round that only the guest's stalls pay for.
 */
static void share_reclaim(const struct policy_params *p, struct policy_host *h,
			  struct policy_vm *vms, size_t n, uint64_t pool, uint64_t need,
			  struct donor *d)
{
	size_t nd = 0;
	uint64_t took;

	for (size_t i = 0; i < n; i++) {
		struct policy_vm *v = &vms[i];
		uint64_t floor = MAX(MAX(fair_share(vms, n, v, pool), v->min_bytes),
				     reclaim_floor(v, h->now_ms));
		/* The share bounds what the host backs, not the logical size. */
		uint64_t held = v->resident_valid ? MIN(v->resident_bytes, v->target_bytes)
						  : v->target_bytes;

		if (!vm_actionable(v) || !v->stats_valid || v->state == VM_GUEST_DEFLATED ||
		    held < floor + p->deadband_bytes)
			continue;
		d[nd++] = (struct donor){ .vm = v, .weight = v->weight,
			.excess = (double)(held - floor), .offset = unbacked_bytes(v),
			.cap = (double)p->step_inflate_bytes };
	}
	took = water_fill(p, d, nd, MIN(need, h->unmet_bytes));
	h->reclaim_bytes += took;
	h->unmet_bytes = sat_sub(h->unmet_bytes, took);
}

/*
 * Booting guests hold no more untouched memory than the host has room for
 * above its low mark. A guest that boots touches little, then its workload
 * fills what it was given - page cache at a hundred MiB/s and more - while
 * its first stats sample is still on the way: reclaim that waits for stats
 * comes seconds after the host's memory ran out (seen on spike: most of a
 * run's host swap came in its first 15 s). The balloon set
 * now lands on free memory as soon as the driver is up, costing the guest
 * nothing it uses and the host nothing it backs; the guest's workload then
 * fills its target and shows its need in its stats like any other guest.
 * Never below the guest's weighted share of the pool (or min): a booting
 * guest is not starved, it is held to what it would get on a full host.
 */
static void boot_room(const struct policy_params *p, struct policy_vm *vms, size_t n,
		      uint64_t pool, int64_t eff_avail, struct donor *d)
{
	uint64_t promised = 0, room = (uint64_t)MAX(eff_avail - (int64_t)p->host_low_bytes, 0);
	size_t nd = 0;

	for (size_t i = 0; i < n; i++) {
		struct policy_vm *v = &vms[i];
		uint64_t floor, unbacked;

		if (!vm_actionable(v) || !v->booting || !v->resident_valid)
			continue;
		floor = MAX(fair_share(vms, n, v, pool), v->min_bytes);
		unbacked = unbacked_bytes(v);
		promised += unbacked;
		if (v->target_bytes < floor + p->deadband_bytes)
			continue;
		d[nd++] = (struct donor){ .vm = v, .weight = v->weight,
			.excess = (double)MIN(v->target_bytes - floor, unbacked),
			.cap = (double)p->step_inflate_bytes };
	}
	if (promised < room + p->deadband_bytes)
		return;
	water_fill(p, d, nd, promised - room);
	for (size_t i = 0; i < nd; i++)
		if (d[i].vm->set_target)
			d[i].vm->reason = REASON_BOOT_ROOM;
}

#define UNMET_SQUEEZE_MS 5000
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

#define OVERHEAD_TAU_MS	3000

/*
 * What the host uses besides the guests' RAM (the VMMs themselves - a TCG
 * translation cache, device buffers - and every other process): used memory
 * less what the host backs of each guest where that is known, else all the
 * guest has now (which may overstate it, and so errs low). Kept in h,
 * smoothed: taken at once when it falls, over ~OVERHEAD_TAU_MS when it
 * rises.
 */
static void overhead_update(struct policy_host *h, const struct policy_vm *vms, size_t n)
{
	uint64_t used = sat_sub(h->total_bytes, h->avail_bytes), ram = 0, over;

	for (size_t i = 0; i < n; i++)
		if (vms[i].active)
			ram += vms[i].resident_valid ? vms[i].resident_bytes :
						      vms[i].actual_bytes;
	over = sat_sub(used, ram);
	if (!h->overhead_ms || over <= h->overhead_bytes) {
		h->overhead_bytes = over;
	} else if (h->now_ms > h->overhead_ms) {
		double dt = (double)(h->now_ms - h->overhead_ms);

		h->overhead_bytes += (uint64_t)((double)(over - h->overhead_bytes) *
						dt / (dt + OVERHEAD_TAU_MS));
	}
	h->overhead_ms = h->now_ms;
}

/* A guest short of its buffer: it would use memory given to it. */
static bool vm_short(const struct policy_vm *v)
{
	return v->stats_valid && vm_excess(v) < v->buffer_bytes;
}

/*
 * Room to move from another guest to need, the neediest give-back
 * candidate, while the promises block give-back: of the guests whose
 * excess per weight is above need's, the one that can move the most,
 * re-inflated over the room the host does not back beyond its buffer. That room is free memory there - taking
 * it costs the guest nothing it uses and gains the host nothing - but it
 * moves the promise to the guest that would use it. Half the difference in
 * excess per weight at most (the two end level, as water-filling leaves
 * them), a step at most, never below min; the donor keeps twice its buffer
 * available: it does not become short itself and get the room back.
 */
static uint64_t idle_room_donor(const struct policy_params *p, struct policy_vm *vms,
				size_t n, const struct policy_vm *need, uint64_t now,
				struct policy_vm **donor)
{
	double need_level = (double)vm_excess(need) / need->weight;
	uint64_t best_take = 0;

	*donor = NULL;
	for (size_t i = 0; i < n; i++) {
		struct policy_vm *v = &vms[i];
		double level;
		uint64_t take;

		if (v == need || !vm_actionable(v) || !v->stats_valid ||
		    now < v->cooldown_until_ms)
			continue;
		level = (double)vm_excess(v) / v->weight;
		if (level <= need_level)
			continue;
		/* x from v to need levels them: level - x/w_v = need_level + x/w_need */
		take = (uint64_t)((level - need_level) /
				  (1.0 / v->weight + 1.0 / need->weight));
		take = MIN(take, sat_sub(promised_room(v), v->buffer_bytes));
		take = MIN(take, sat_sub(vm_excess(v), v->buffer_bytes));
		take = MIN(MIN(take, p->step_inflate_bytes),
			   sat_sub(v->target_bytes, v->min_bytes));
		if (take > best_take) {
			*donor = v;
			best_take = take;
		}
	}
	return best_take;
}

/*
 * Step 4. Room a guest holds unbacked is a promise: the host must back it
 * the moment the guest touches it. Give back only as much as keeps every
 * promise, all touched at once, above low. While the neediest guest lags -
 * short of its buffer, or holding no buffer of room itself while another
 * holds room it could move to it - none to a guest holding a buffer of
 * such room (it would only be more promise, and that room is what the one
 * lagging needs); if the promises block give-back, the room moves. Idle
 * guests that all hold room do not lag: on a relaxed host they go back to
 * max as the promises allow.
 */
static void giveback(const struct policy_params *p, struct policy_host *h,
		     struct policy_vm *vms, size_t n, uint64_t eff_avail, struct donor *d)
{
	uint64_t above_high = eff_avail - p->host_high_bytes;
	uint64_t spare = MIN(above_high, sat_sub(sat_sub(eff_avail, p->host_low_bytes),
						 promised_bytes(vms, n)));
	size_t nd = 0, keep = 0;

	for (size_t i = 0; i < n; i++) {
		struct policy_vm *v = &vms[i];

		if (!vm_actionable(v) || v->target_bytes + TOL_BYTES >= v->max_bytes)
			continue;
		d[nd++] = (struct donor){ .vm = v, .weight = v->weight,
			.excess = v->stats_valid ? (double)vm_excess(v) : 0 };
	}
	qsort(d, nd, sizeof(*d), cmp_giveback);
	if (nd && d[0].vm->stats_valid) {
		struct policy_vm *need = d[0].vm, *donor;
		uint64_t take = idle_room_donor(p, vms, n, need, h->now_ms, &donor);

		if (vm_short(need) || (take >= p->deadband_bytes &&
				       promised_room(need) < need->buffer_bytes)) {
			for (size_t i = 0; i < nd; i++)
				if (promised_room(d[i].vm) < d[i].vm->buffer_bytes)
					d[keep++] = d[i];
			nd = keep;
			if (spare < p->deadband_bytes && above_high >= p->deadband_bytes &&
			    take >= p->deadband_bytes)
				set_out(donor, donor->target_bytes - take, REASON_IDLE_ROOM);
		}
	}
	for (size_t i = 0; i < nd && spare >= p->deadband_bytes; i++) {
		struct policy_vm *v = d[i].vm;
		uint64_t give = MIN(MIN(p->giveback_bytes, spare),
				    v->max_bytes - v->target_bytes);

		if (give < p->deadband_bytes && v->target_bytes + give < v->max_bytes)
			continue;
		set_out(v, v->target_bytes + give, REASON_GIVEBACK);
		spare -= give;
		h->giveback_bytes += give;
	}
}

static void policy_auto(const struct policy_params *p, struct policy_host *h,
			struct policy_vm *vms, size_t n)
{
	uint64_t now = h->now_ms, pool, grants = 0;
	/*
	 * Judge the host by where its available memory is heading: guests
	 * filling memory at 100 MiB/s eat the margin below the low mark
	 * faster than balloons can be inflated after the fact.
	 */
	uint64_t proj = policy_projected_avail(p, h->avail_bytes, h->avail_fall_bps,
					       h->avail_falling_ms);
	int64_t eff_avail = (int64_t)proj, below_low;
	struct donor *d;
	size_t nd = 0;

	bool *refault = calloc(n ? n : 1, sizeof(*refault));

	if (!refault)
		return;	/* nothing decided this round */
	for (size_t i = 0; i < n; i++) {
		bookkeeping(p, now, &vms[i]);
		refault[i] = refault_check(p, now, &vms[i]);
	}

	/* Host pressure with hysteresis; in-flight changes counted. */
	if (proj < p->host_low_bytes || h->pressure_event ||
	    h->swapped_bytes >= p->deadband_bytes)
		h->pressured = true;
	else if (proj + p->deadband_bytes > p->host_high_bytes)
		h->pressured = false;	/* reclaim stops within a deadband of high */
	for (size_t i = 0; i < n; i++) {
		struct policy_vm *v = &vms[i];

		if (v->active && v->state != VM_UNCOOPERATIVE && !v->set_target)
			eff_avail += inflight_bytes(v);
	}
	/*
	 * What the guests may have between them, shared out by weight: the
	 * host above its low mark less its other use. With the host at low
	 * the shares add up to what the guests hold.
	 */
	overhead_update(h, vms, n);
	pool = sat_sub(sat_sub(h->total_bytes, p->host_low_bytes), h->overhead_bytes);

	/* Step 2: the guest wins (also on top of memory it just took itself). */
	for (size_t i = 0; i < n; i++) {
		struct policy_vm *v = &vms[i];
		bool took = v->set_target && v->reason == REASON_GUEST_DEFLATED;
		/* eff_avail counts it as coming back; a grant starts from actual */
		int64_t inflating = took ? 0 : MAX(inflight_bytes(v), 0);
		uint64_t grant = 0, base, target, share;
		enum policy_reason why = REASON_GUEST_PRESSURE;

		if ((!vm_actionable(v) && !took) || (!v->stats_valid && !took))
			continue;
		if (v->stats_valid && v->avail_bytes < v->buffer_bytes / 2)
			grant = v->buffer_bytes + v->buffer_bytes / 2 - v->avail_bytes;
		base = MAX(v->actual_bytes, v->target_bytes);
		/* Deflating on its own (the stock driver does it only at OOM):
		 * a buffer's worth on top, now; refaulting: a buffer of the
		 * squeeze back. */
		if (took)
			grant = MAX(grant, v->buffer_bytes);
		if (refault[i] && !grant)
			why = REASON_REFAULT;
		if (refault[i])
			grant = MAX(grant, MIN(v->buffer_bytes, sat_sub(v->squeezed_from, base)));
		if (!grant)
			continue;
		v->guest_pressure = true;
		v->cooldown_until_ms = now + p->cooldown_ms;
		target = MIN(v->max_bytes, base + round_mib(grant + MIB - 1));
		/*
		 * Beyond its share a guest gets only what the host spares above
		 * its high mark, so that a guest claiming endless need does not
		 * push the host into pressure, and a host short of its low mark
		 * does not take the grant back the next round (share_reclaim):
		 * between the two marks an error in the estimate - an actual
		 * seen a round late - leads to no grant/reclaim ping-pong. The
		 * grant cancels the guest's own inflation in flight: no spare
		 * for it, and a cost to the host.
		 */
		share = MAX(fair_share(vms, n, v, pool), base);
		if (target > share) {
			int64_t spare = eff_avail - (int64_t)grants - inflating -
					(int64_t)p->host_high_bytes;

			target = MAX(share, MIN(target, base + (uint64_t)MAX(spare, 0)));
		}
		/*
		 * A squeeze the guest pays for in refaults comes back whatever the
		 * share: the host took it, and the refaults are real I/O, not a
		 * claim (a guest that keeps reading is stopped by refault_check).
		 */
		if (refault[i])
			target = MAX(target, MIN(MIN(v->squeezed_from, v->max_bytes),
						 base + round_mib(v->buffer_bytes)));
		if (target > base + TOL_BYTES) {
			set_out(v, target, why);
			grants += target - base + (uint64_t)inflating;
			if (refault[i])		/* what it is given for its refaults is kept too */
				v->keep_bytes = MAX(v->keep_bytes, target);
		}
	}
	eff_avail -= (int64_t)grants;
	h->grant_bytes = grants;

	free(refault);
	d = calloc(n ? n : 1, sizeof(*d));
	if (!d)
		return;	/* nothing decided this round */
	/* Booting guests: no more untouched memory than the host has room for. */
	if (p->boot_room)
		boot_room(p, vms, n, pool, eff_avail, d);

	/* Step 3: the host takes from excess. */
	h->need_bytes = 0;
	if (h->pressured || eff_avail < (int64_t)p->host_low_bytes)
		h->need_bytes = (uint64_t)MAX((int64_t)p->host_high_bytes - eff_avail, 0);
	/* What the kernel just swapped out is wanted back too. */
	if (h->swapped_bytes >= p->deadband_bytes)
		h->need_bytes += h->swapped_bytes;
	if (h->need_bytes)
		nd = excess_donors(p, vms, n, now, false, d);
	h->reclaim_bytes = water_fill(p, d, nd, h->need_bytes);
	h->unmet_bytes = sat_sub(h->need_bytes, h->reclaim_bytes);
	below_low = (int64_t)p->host_low_bytes - eff_avail - (int64_t)h->reclaim_bytes;
	if (h->unmet_bytes >= p->deadband_bytes && below_low >= (int64_t)p->deadband_bytes)
		share_reclaim(p, h, vms, n, pool, (uint64_t)below_low, d);
	if (h->unmet_bytes >= p->deadband_bytes)
		blind_reclaim(p, h, vms, n);
	/*
	 * Short for UNMET_SQUEEZE_MS and nothing backed left to gain: what the
	 * guests hold unbacked is the host's risk (a guest touching it needs
	 * the host at once): take it as plain excess, as without residency.
	 * A burst's short shortage passes before this.
	 */
	if (h->unmet_bytes < p->deadband_bytes) {
		h->unmet_since_ms = 0;
	} else if (!h->unmet_since_ms) {
		h->unmet_since_ms = now;
	} else if (now - h->unmet_since_ms >= UNMET_SQUEEZE_MS) {
		nd = excess_donors(p, vms, n, now, true, d);
		/* what it takes is not gained now: unmet stays as it is */
		water_fill(p, d, nd, h->unmet_bytes);
	}

	/* Step 4: give back slowly when relaxed. */
	h->giveback_bytes = 0;
	if (h->pressured || eff_avail <= (int64_t)p->host_high_bytes)
		h->relaxed_since_ms = 0;
	else if (!h->relaxed_since_ms)
		h->relaxed_since_ms = now;
	else if (now - h->relaxed_since_ms >= p->relax_delay_ms)
		giveback(p, h, vms, n, (uint64_t)eff_avail, d);
	free(d);
}

void policy_round(const struct policy_params *p, struct policy_host *h,
		  struct policy_vm *vms, size_t n)
{
	h->need_bytes = h->unmet_bytes = h->reclaim_bytes = 0;
	h->grant_bytes = h->giveback_bytes = 0;
	for (size_t i = 0; i < n; i++) {
		vms[i].set_target = false;
		vms[i].reason = REASON_NONE;
		vms[i].guest_pressure = false;
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
		struct policy_vm *v = &vms[i];
		uint64_t t = v->set_target ? v->new_target_bytes : v->target_bytes;

		if (!v->active || v->state == VM_UNCOOPERATIVE)
			continue;
		if (t < v->min_bytes || t > v->max_bytes) {
			t = clamp_u64(t, v->min_bytes, v->max_bytes);
			set_out(v, t, v->set_target ? v->reason : REASON_BOUNDS);
		}
		if (v->set_target && v->new_target_bytes == v->target_bytes &&
		    v->reason != REASON_GUEST_DEFLATED)
			v->set_target = false;
		/* where the host began taking: what refaults can win back */
		if (v->set_target && v->new_target_bytes < v->target_bytes && !v->squeezed_from &&
		    (v->reason == REASON_HOST_RECLAIM || v->reason == REASON_BOOT_ROOM ||
		     v->reason == REASON_IDLE_ROOM))
			v->squeezed_from = v->target_bytes;
	}
}
