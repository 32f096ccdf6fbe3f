/* SPDX-License-Identifier: MIT */
/*
 * policy_auto.c - the "auto" policy. Terms: policy.h's glossary. A round:
 *  1. Bookkeeping (policy.c): a guest that took memory back wins and cools
 *     down; one that does not follow its target is left alone a while.
 *  2. The guest wins: a guest under half its buffer is deflated to 1.5
 *     buffers of available memory; one the host squeezed that refaults gets
 *     a buffer of the squeeze back and keeps its size for keep_ms. Beyond
 *     its share a guest gets only what the host spares above high.
 *  3. The host takes from excess when pressured (avail projected under low,
 *     a pressure event, or swap growing): water-filling on gain per weight,
 *     never below min or a keep, a step at most per round; still short,
 *     guests above their share give back toward it.
 *  4. Give back slowly once the host has been relaxed for relax_delay_ms,
 *     neediest first, while every promise kept at once leaves the host
 *     above low.
 * Why each rule is there, and what it costs: docs/policy.md.
 */
#include <stdlib.h>

#include "policy.h"
#include "policy_int.h"
#include "util.h"

#define REFAULT_GAP_MS	5000	/* refaults closer than this: one episode */
#define REFAULT_HELP_MS	15000	/* an episode this long: memory does not help */
#define REFAULT_SETTLE_MS 2000	/* refaults this soon after inflating are its own */

/* What the host does not reclaim below: min, or the keep while it holds. */
static uint64_t reclaim_floor(const struct policy_vm *v, uint64_t now)
{
	return now < v->keep_until_ms ? MAX(v->min_bytes, v->keep_bytes) : v->min_bytes;
}

/*
 * Memory whose loss a guest pays for is not excess. A squeezed guest that
 * refaults over the threshold gets a buffer of the squeeze back (returns
 * true) and keeps its size for keep_ms: no reclaim below it. An unsqueezed,
 * unkept guest reads new data, not lost data. Refaults that go on for
 * REFAULT_HELP_MS whatever it holds (a stream) count for nothing for keep_ms.
 */
static bool refault_check(const struct policy_params *p, uint64_t now, struct policy_vm *v)
{
	uint64_t size = MAX(v->actual_bytes, v->target_bytes);
	double pps;

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
	 * Its disk reads still count.
	 */
	pps = v->refault_pps;
	if (v->inflated_ms && now < v->inflated_ms + REFAULT_SETTLE_MS)
		pps -= v->refault_swapin_pps;
	/* neither squeezed nor kept: it reads new data, not lost data */
	if (pps < p->refault_pps_threshold || now < v->no_help_until_ms ||
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

static uint64_t promised_bytes(struct policy_vm *const *vms, size_t n)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += promised_room(vms[i]);
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
		policy_set_out(d[i].vm, d[i].vm->target_bytes - round_mib(d[i].offset) - d[i].take,
			REASON_HOST_RECLAIM);
		total += d[i].take;
	}
	return total;
}

/*
 * Guests that can give from their excess this round: not one that showed
 * pressure or is in its cool-down (no reclaim/grant ping-pong). The gain is
 * what the host backs beyond the new target; with whole, excess counts as
 * if the host backed all of it (only guests whose residency is known).
 */
static size_t excess_donors(const struct policy_params *p, struct policy_vm *const *vms,
			    size_t n, uint64_t now, bool whole, struct donor *d)
{
	size_t nd = 0;

	for (size_t i = 0; i < n; i++) {
		struct policy_vm *v = vms[i];
		uint64_t off, floor;

		if (!policy_actionable(v) || !v->stats_valid || v->guest_pressure ||
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
			  struct policy_vm *const *vms, size_t n)
{
	uint64_t step = MAX(p->step_inflate_bytes / 4, p->deadband_bytes);
	size_t nblind = 0;

	for (size_t i = 0; i < n; i++) {
		const struct policy_vm *v = vms[i];

		if (policy_actionable(v) && v->state == VM_OK && !v->stats_valid &&
		    !v->stats_expected &&
		    h->now_ms >= v->cooldown_until_ms && v->target_bytes > v->min_bytes &&
		    v->actual_bytes <= v->target_bytes + TOL_BYTES)
			nblind++;
	}
	for (size_t i = 0; i < n && nblind && h->unmet_bytes >= p->deadband_bytes; i++) {
		struct policy_vm *v = vms[i];
		uint64_t take;

		if (!policy_actionable(v) || v->state != VM_OK || v->stats_valid ||
		    v->stats_expected ||
		    h->now_ms < v->cooldown_until_ms || v->target_bytes <= v->min_bytes ||
		    v->actual_bytes > v->target_bytes + TOL_BYTES)
			continue;
		take = MIN(MIN(step, v->target_bytes - v->min_bytes),
			   MAX(h->unmet_bytes / nblind, p->deadband_bytes));
		take = round_mib(take);
		if (take < p->deadband_bytes && v->target_bytes - take > v->min_bytes)
			continue;
		policy_set_out(v, v->target_bytes - take, REASON_HOST_RECLAIM);
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
static uint64_t fair_share(struct policy_vm *const *vms, size_t n,
			   const struct policy_vm *v, uint64_t pool)
{
	uint64_t wsum = 0;

	for (size_t i = 0; i < n; i++)
		if (vms[i]->active)
			wsum += vms[i]->weight;
	if (wsum == 0)
		return v->max_bytes;
	return (uint64_t)((double)pool * v->weight / (double)wsum);
}

/*
 * Still below low after the excess is gone: guests above their share give
 * back toward it whatever they claim (guest data is untrusted), largest
 * overshoot per weight first, never below min, only what the host needs
 * to reach low (more would undo step 2's grants). Not a guest that took
 * memory back itself, in its cool-down: it would take it again.
 */
static void share_reclaim(const struct policy_params *p, struct policy_host *h,
			  struct policy_vm *const *vms, size_t n, uint64_t pool, uint64_t need,
			  struct donor *d)
{
	size_t nd = 0;
	uint64_t took;

	for (size_t i = 0; i < n; i++) {
		struct policy_vm *v = vms[i];
		uint64_t floor = MAX(MAX(fair_share(vms, n, v, pool), v->min_bytes),
				     reclaim_floor(v, h->now_ms));
		/* The share bounds what the host backs, not the logical size. */
		uint64_t held = v->resident_valid ? MIN(v->resident_bytes, v->target_bytes)
						  : v->target_bytes;

		if (!policy_actionable(v) || !v->stats_valid || v->state == VM_GUEST_DEFLATED ||
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
 * above low: their workload fills what they were given before their first
 * stats sample arrives. The balloon lands on free memory as soon as the
 * driver is up, costing the guest nothing; never below the guest's share
 * of the pool (or min).
 */
static void boot_room(const struct policy_params *p, struct policy_vm *const *vms, size_t n,
		      uint64_t pool, int64_t eff_avail, struct donor *d)
{
	uint64_t promised = 0, room = (uint64_t)MAX(eff_avail - (int64_t)p->host_low_bytes, 0);
	size_t nd = 0;

	for (size_t i = 0; i < n; i++) {
		struct policy_vm *v = vms[i];
		uint64_t floor, unbacked;

		if (!policy_actionable(v) || !v->booting || !v->resident_valid)
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

#define OVERHEAD_TAU_MS	3000

/*
 * What the host uses besides the guests' RAM (the VMMs themselves - a TCG
 * translation cache, device buffers - and every other process): used memory
 * less what the host backs of each guest where that is known, else all the
 * guest has now (which may overstate it, and so errs low). Kept in h,
 * smoothed: taken at once when it falls, over ~OVERHEAD_TAU_MS when it
 * rises.
 */
static void overhead_update(struct policy_host *h, struct policy_vm *const *vms, size_t n)
{
	uint64_t used = sat_sub(h->total_bytes, h->avail_bytes), ram = 0, over;

	for (size_t i = 0; i < n; i++)
		if (vms[i]->active)
			ram += vms[i]->resident_valid ? vms[i]->resident_bytes :
						      vms[i]->actual_bytes;
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
 * While the promises block give-back: move room to need from the guest
 * whose excess per weight is highest above need's - re-inflate it over its
 * unbacked room beyond its buffer (free memory there: no cost to it, no
 * gain to the host, the promise moves). At most half the difference in
 * excess per weight and a step, never below min; the donor keeps twice its
 * buffer available.
 */
static uint64_t idle_room_donor(const struct policy_params *p, struct policy_vm *const *vms,
				size_t n, const struct policy_vm *need, uint64_t now,
				struct policy_vm **donor)
{
	double need_level = (double)vm_excess(need) / need->weight;
	uint64_t best_take = 0;

	*donor = NULL;
	for (size_t i = 0; i < n; i++) {
		struct policy_vm *v = vms[i];
		double level;
		uint64_t take;

		if (v == need || !policy_actionable(v) || !v->stats_valid ||
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
 * Step 4. Give back only what keeps every promise, all touched at once,
 * above low. While the neediest guest lags (short of its buffer, or
 * without room while another holds room it could move), none to a guest
 * that holds a buffer of room; if the promises block give-back, the room
 * moves (idle_room_donor).
 */
static void giveback(const struct policy_params *p, struct policy_host *h,
		     struct policy_vm *const *vms, size_t n, uint64_t eff_avail, struct donor *d)
{
	uint64_t above_high = eff_avail - p->host_high_bytes;
	uint64_t spare = MIN(above_high, sat_sub(sat_sub(eff_avail, p->host_low_bytes),
						 promised_bytes(vms, n)));
	size_t nd = 0, keep = 0;

	for (size_t i = 0; i < n; i++) {
		struct policy_vm *v = vms[i];

		if (!policy_actionable(v) || v->target_bytes + TOL_BYTES >= v->max_bytes)
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
				policy_set_out(donor, donor->target_bytes - take, REASON_IDLE_ROOM);
		}
	}
	for (size_t i = 0; i < nd && spare >= p->deadband_bytes; i++) {
		struct policy_vm *v = d[i].vm;
		uint64_t give = MIN(MIN(p->giveback_bytes, spare),
				    v->max_bytes - v->target_bytes);

		if (give < p->deadband_bytes && v->target_bytes + give < v->max_bytes)
			continue;
		policy_set_out(v, v->target_bytes + give, REASON_GIVEBACK);
		spare -= give;
		h->giveback_bytes += give;
	}
}

void policy_auto(const struct policy_params *p, struct policy_host *h,
			struct policy_vm *const *vms, size_t n)
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
		policy_bookkeeping(p, now, vms[i]);
		refault[i] = refault_check(p, now, vms[i]);
	}

	/* Host pressure with hysteresis; in-flight changes counted. */
	if (policy_host_short(p, h->avail_bytes, h->avail_fall_bps, h->avail_falling_ms) ||
	    h->pressure_event ||
	    h->swapped_bytes >= p->deadband_bytes)
		h->pressured = true;
	else if (proj + p->deadband_bytes > p->host_high_bytes)
		h->pressured = false;	/* reclaim stops within a deadband of high */
	for (size_t i = 0; i < n; i++) {
		struct policy_vm *v = vms[i];

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
		struct policy_vm *v = vms[i];
		bool took = v->set_target && v->reason == REASON_GUEST_DEFLATED;
		/* eff_avail counts it as coming back; a grant starts from actual */
		int64_t inflating = took ? 0 : MAX(inflight_bytes(v), 0);
		uint64_t grant = 0, base, target, share;
		enum policy_reason why = REASON_GUEST_PRESSURE;

		if ((!policy_actionable(v) && !took) || (!v->stats_valid && !took))
			continue;
		if (policy_avail_short(v))
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
		 * Beyond its share only what the host spares above high: a guest
		 * claiming endless need cannot push the host into pressure, and
		 * share_reclaim does not take the grant back next round. The
		 * grant cancels the guest's own inflation in flight.
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
			policy_set_out(v, target, why);
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

