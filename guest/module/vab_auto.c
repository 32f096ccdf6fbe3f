// SPDX-License-Identifier: GPL-2.0
/*
 * vab_auto.c - when does the guest take balloon pages back by itself?
 *
 * A shrinker that frees balloon pages whenever it is called deflates on
 * cache trimming, drop_caches and inflation against page cache alike. Here
 * the shrinker is only a probe that runs inside page reclaim: it tells us
 * that reclaim is running, in which task, and at which priority; the
 * decision then looks at what reclaim has left to work with. The rule
 * (README.md, "Decision rule"):
 *
 *   deflate one bounded step when, in page reclaim (kswapd or direct, never
 *   drop_caches), the guest is short - free memory below the high
 *   watermarks, or swap-outs in reclaim within the last 5 s - and
 *     (a) reclaim wrote anonymous pages to swap since the last step (not
 *         while the host inflates the balloon), or
 *     (b) direct reclaim's priority has fallen to auto_priority, or
 *     (c) page cache (the whole file LRU) is below auto_cache_reserve_mb;
 *   at most one step per auto_interval_ms, steps doubling from auto_step_mb
 *   to auto_max_step_mb during a burst, never below auto_floor_mb; the freed
 *   pages are credited to the reclaim that called.
 *
 * The probe runs after the LRU pass of its reclaim: a kswapd pass that
 * reached the high watermarks by swapping ends above them, so swap-outs are
 * a shortage of their own and stay pending until a step answers them.
 *
 * The OOM notifier stays as the last resort (modes oom and auto).
 */
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/log2.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/moduleparam.h>
#include <linux/nodemask.h>
#include <linux/oom.h>
#include <linux/percpu.h>
#include <linux/ratelimit.h>
#include <linux/sched.h>
#include <linux/swap.h>
#include <linux/vmstat.h>

#include "vab.h"

/*
 * The probe. count_objects() reports a constant 2^18 objects, so the core
 * asks for 2 * (2^18 >> priority) objects per visit (DEFAULT_SEEKS), in
 * batches of 2^(19 - DEF_PRIORITY) = 128: one call per visit at the start
 * priority, 2^(12 - priority) calls when reclaim struggles. Every call
 * claims its whole batch as scanned, so no work is deferred.
 */
#define VAB_PROBE_SHIFT		18
#define VAB_PROBE_COUNT		(1UL << VAB_PROBE_SHIFT)
#define VAB_PROBE_BATCH		(1UL << (VAB_PROBE_SHIFT + 1 - DEF_PRIORITY))

#define VAB_QUIET_NS		(200 * NSEC_PER_MSEC)	/* new episode */
#define VAB_BURST_NS		NSEC_PER_SEC		/* steps keep growing */
#define VAB_SWAP_WINDOW_NS	(5 * NSEC_PER_SEC)
#define VAB_REEVAL_NS		NSEC_PER_MSEC

/* The tunables the rule at the top names (module parameters, 0644). */
static unsigned int vab_auto_floor_mb;
static unsigned int vab_auto_step_mb = 16;
static unsigned int vab_auto_max_step_mb = 64;
static unsigned int vab_auto_interval_ms = 10;
static unsigned int vab_auto_cache_reserve_mb = 16;
static int vab_auto_priority = 9;
static unsigned int vab_oom_pages = 256;

module_param_named(auto_floor_mb, vab_auto_floor_mb, uint, 0644);
MODULE_PARM_DESC(auto_floor_mb, "auto-deflate never shrinks the balloon below this (MiB, default 0)");
module_param_named(auto_step_mb, vab_auto_step_mb, uint, 0644);
MODULE_PARM_DESC(auto_step_mb, "first auto-deflate step of a burst (MiB, default 16)");
module_param_named(auto_max_step_mb, vab_auto_max_step_mb, uint, 0644);
MODULE_PARM_DESC(auto_max_step_mb, "largest auto-deflate step (MiB, default 64)");
module_param_named(auto_interval_ms, vab_auto_interval_ms, uint, 0644);
MODULE_PARM_DESC(auto_interval_ms, "minimum time between two auto-deflate steps (ms, default 10)");
module_param_named(auto_cache_reserve_mb, vab_auto_cache_reserve_mb, uint, 0644);
MODULE_PARM_DESC(auto_cache_reserve_mb, "page cache (file LRU) below which cache counts as used up (MiB, default 16)");
module_param_named(auto_priority, vab_auto_priority, int, 0644);
MODULE_PARM_DESC(auto_priority, "deflate when reclaim priority falls to this (12 = start, default 9)");
module_param_named(oom_pages, vab_oom_pages, uint, 0644);
MODULE_PARM_DESC(oom_pages, "pages released per OOM notification (default 256)");

struct vab_signals {
	unsigned long free;		/* pages */
	unsigned long wmark_high;	/* sum over populated zones */
	unsigned long active_file;
	unsigned long inactive_file;
	unsigned long pswpout;		/* cumulative swap-outs */
};

static const char * const vab_reason_names[] = {
	[VAB_REASON_SWAP] = "swap",
	[VAB_REASON_PRIORITY] = "priority",
	[VAB_REASON_CACHE] = "cache",
};

static const char * const vab_none_names[] = {
	[VAB_NONE_FREE] = "free",
	[VAB_NONE_CACHE] = "cache-left",
	[VAB_NONE_RATE] = "rate",
	[VAB_NONE_BUSY] = "busy",
	[VAB_NONE_FLOOR] = "floor",
};

const char *vab_reason_name(enum vab_reason r)
{
	return r < VAB_NR_REASONS ? vab_reason_names[r] : "?";
}

const char *vab_none_name(enum vab_none n)
{
	return n < VAB_NR_NONE ? vab_none_names[n] : "?";
}

/* MiB to 4 KiB balloon pages. */
static unsigned long vab_mb(unsigned int mb)
{
	return (unsigned long)mb << (20 - VIRTIO_BALLOON_PFN_SHIFT);
}

static struct vab *vab_from_shrinker(struct shrinker *s)
{
#ifdef VAB_SHRINKER_ALLOC
	return s->private_data;
#else
	return container_of(s, struct vab, shrinker_store);
#endif
}

static void vab_read_signals(struct vab_signals *s)
{
	int nid, z, cpu;

	memset(s, 0, sizeof(*s));
	for_each_online_node(nid) {
		pg_data_t *pgdat = NODE_DATA(nid);

		for (z = 0; z < MAX_NR_ZONES; z++) {
			struct zone *zone = &pgdat->node_zones[z];

			if (populated_zone(zone))
				s->wmark_high += high_wmark_pages(zone);
		}
	}
	s->free = global_zone_page_state(NR_FREE_PAGES);
	s->active_file = global_node_page_state(NR_ACTIVE_FILE);
	s->inactive_file = global_node_page_state(NR_INACTIVE_FILE);
	for_each_online_cpu(cpu)
		s->pswpout += per_cpu(vm_event_states, cpu).event[PSWPOUT];
}

static bool vab_auto_armed(struct vab *vb)
{
	return READ_ONCE(vb->mode) == VAB_MODE_AUTO &&
	       READ_ONCE(vb->nr_pages) > vab_mb(READ_ONCE(vab_auto_floor_mb));
}

/* Record a decision that took no step; returns 0. */
static unsigned long vab_none(struct vab_auto *a, enum vab_none why)
{
	a->none[why]++;
	a->last.step = false;
	a->last.none = why;
	return 0;
}

/*
 * Is the balloon growing at the host's request? From the first batch until
 * the target is reached (through the retries after failed allocations), and
 * a moment after the last batch while kswapd finishes what it woke for.
 */
static bool vab_host_inflating(struct vab *vb, u64 now)
{
	u64 inflated = READ_ONCE(vb->inflate_ns);

	if (READ_ONCE(vb->chasing) &&
	    READ_ONCE(vb->target_pages) > READ_ONCE(vb->nr_pages))
		return true;
	return inflated && now - inflated < VAB_QUIET_NS;
}

/*
 * Swap-outs since the previous decision. The probe runs after the LRU pass
 * of its reclaim, so they are that pass's (when the previous decision is
 * recent). While the host inflates they are the host's price, not the
 * guest's need: the inflation drives every allocation into reclaim. The
 * rest stay pending until a step answers them.
 */
static void vab_note_swap(struct vab *vb, const struct vab_signals *s,
			  u64 now)
{
	/* One line per squeeze or so: the counter has the rest. */
	static DEFINE_RATELIMIT_STATE(inflate_rs, 10 * HZ, 1);
	struct vab_auto *a = &vb->au;
	unsigned long delta = s->pswpout - a->last_pswpout;

	a->last.swapped = delta;
	a->last_pswpout = s->pswpout;
	if (!delta || !a->last_eval_ns ||
	    now - a->last_eval_ns >= VAB_SWAP_WINDOW_NS)
		return;
	if (vab_host_inflating(vb, now)) {
		a->swap_inflate += delta;
		if (__ratelimit(&inflate_rs))
			dev_info(&vb->vdev->dev,
				 "%lu pages swapped out while the host inflates: not counted (auto_swap_inflate_pages)\n",
				 delta);
		return;
	}
	a->swap_seen += delta;
	a->swap_pending += delta;
	a->swap_ns = now;
}

/*
 * The decision, under vb->auto_lock. Returns the step in 4 KiB pages (and
 * reserves it against the rate limit), or 0.
 */
static unsigned long vab_decide(struct vab *vb, const struct vab_signals *s,
				int prio, u64 now, enum vab_reason *ret_reason)
{
	struct vab_auto *a = &vb->au;
	unsigned long floor, have, step, base, max;
	u64 interval = (u64)READ_ONCE(vab_auto_interval_ms) * NSEC_PER_MSEC;
	enum vab_reason reason;
	bool swapped, short_free;

	if (a->last_reclaim_ns && now - a->last_reclaim_ns > VAB_QUIET_NS)
		a->onset_ns = 0;
	a->last_reclaim_ns = now;
	a->probes++;
	a->last = (struct vab_last){
		.kswapd = current_is_kswapd(),
		.prio = prio,
		.free = s->free,
		.wmark_high = s->wmark_high,
		.active_file = s->active_file,
		.inactive_file = s->inactive_file,
	};
	vab_note_swap(vb, s, now);
	a->last_eval_ns = now;

	/*
	 * Free memory below the high watermarks says reclaim has not reached
	 * its goal. But a pass that reached it by swapping ends above them,
	 * so swap-outs in the last window say "short" too.
	 */
	swapped = a->swap_ns && now - a->swap_ns < VAB_SWAP_WINDOW_NS;
	if (!swapped)
		a->swap_pending = 0;
	short_free = s->free < s->wmark_high;
	if (!short_free && !swapped) {
		a->onset_ns = 0;
		return vab_none(a, VAB_NONE_FREE);
	}
	if (!a->onset_ns)
		a->onset_ns = now;

	if (a->swap_pending)
		reason = VAB_REASON_SWAP;
	else if (!current_is_kswapd() && prio <= READ_ONCE(vab_auto_priority))
		reason = VAB_REASON_PRIORITY;
	else if ((s->active_file + s->inactive_file) * VAB_PPP <
		 vab_mb(READ_ONCE(vab_auto_cache_reserve_mb)))
		reason = VAB_REASON_CACHE;
	else	/* page cache left: let reclaim trim it */
		return vab_none(a, VAB_NONE_CACHE);
	a->last.reason = reason;

	if (a->last_step_ns && now - a->last_step_ns < interval)
		return vab_none(a, VAB_NONE_RATE);

	/*
	 * Steps double while a burst lasts: the next one within a second, or
	 * one that answers swap-outs that came after the last step (within
	 * the swap window): the last step was too small to prevent them.
	 */
	base = max(vab_mb(READ_ONCE(vab_auto_step_mb)), VAB_PPP);
	max = max(vab_mb(READ_ONCE(vab_auto_max_step_mb)), base);
	if (a->last_step_ns && (now - a->last_step_ns < VAB_BURST_NS ||
	    (reason == VAB_REASON_SWAP &&
	     now - a->last_step_ns < VAB_SWAP_WINDOW_NS)))
		step = clamp(a->step_pages * 2, base, max);
	else
		step = base;
	floor = vab_mb(READ_ONCE(vab_auto_floor_mb));
	have = READ_ONCE(vb->nr_pages);
	if (have <= floor)
		return vab_none(a, VAB_NONE_FLOOR);
	step = min(step, have - floor);

	/* Reserved; vab_unreserve() gives it back if the step cannot run. */
	a->prev_step_ns = a->last_step_ns;
	a->prev_step_pages = a->step_pages;
	a->answered = a->swap_pending;
	a->swap_pending = 0;
	a->step_pages = step;
	a->last_step_ns = now;
	a->last.step = true;
	*ret_reason = reason;
	return step;
}

/* The reserved step could not run: the next probe may try again. */
static void vab_unreserve(struct vab_auto *a)
{
	a->last_step_ns = a->prev_step_ns;
	a->step_pages = a->prev_step_pages;
	a->swap_pending += a->answered;
	a->answered = 0;
	vab_none(a, VAB_NONE_BUSY);
}

static unsigned long vab_count(struct shrinker *s, struct shrink_control *sc)
{
	struct vab *vb = vab_from_shrinker(s);

	if (!vab_auto_armed(vb))
		return 0;
	/* A visit starts: scans from this task add to its units. */
	WRITE_ONCE(vb->au.visit_task, current);
	WRITE_ONCE(vb->au.visit_units, 0);
	return VAB_PROBE_COUNT;
}

static unsigned long vab_scan(struct shrinker *s, struct shrink_control *sc)
{
	struct vab *vb = vab_from_shrinker(s);
	struct vab_auto *a = &vb->au;
	enum vab_reason reason = VAB_REASON_CACHE;
	struct vab_signals sig;
	struct vab_last seen;
	int prio = DEF_PRIORITY;
	unsigned long units, step, freed;
	u64 now, t_lock, lat_us;

	/* Nothing is really scanned; claim the batch so nothing is deferred. */
	sc->nr_scanned = sc->nr_to_scan;

	/* Only page reclaim counts: not drop_caches, not our own inflation. */
	if (!(current->flags & PF_MEMALLOC) ||
	    READ_ONCE(vb->inflater) == current || !vab_auto_armed(vb))
		return 0;

	now = ktime_get_ns();
	if (READ_ONCE(a->visit_task) == current) {
		units = READ_ONCE(a->visit_units) + sc->nr_to_scan;
		WRITE_ONCE(a->visit_units, units);
		prio = VAB_PROBE_SHIFT + 1 - ilog2(units);
		/* Decide on the first call and whenever priority drops. */
		if (units > sc->nr_to_scan &&
		    ilog2(units - sc->nr_to_scan) == ilog2(units))
			return 0;
	} else if (now - READ_ONCE(a->last_eval_ns) < VAB_REEVAL_NS) {
		return 0;
	}

	vab_read_signals(&sig);
	spin_lock(&vb->auto_lock);
	step = vab_decide(vb, &sig, prio, now, &reason);
	seen = a->last;
	spin_unlock(&vb->auto_lock);
	if (!step)
		return 0;

	/* Inflation or a host message in flight: try again on the next call. */
	if (!mutex_trylock(&vb->lock))
		goto busy;
	t_lock = ktime_get_ns();
	freed = vab_deflate_pressure_locked(vb, step, &vb->deflated_auto);
	mutex_unlock(&vb->lock);
	if (!freed)
		goto busy;

	/* Reclaim counts these pages as its own progress. */
	vab_credit_reclaim(freed);

	spin_lock(&vb->auto_lock);
	now = ktime_get_ns();
	lat_us = a->onset_ns ? div_u64(now - a->onset_ns, NSEC_PER_USEC) : 0;
	a->free_last_us = div_u64(now - t_lock, NSEC_PER_USEC);
	a->onset_ns = 0;
	a->latency_last_us = lat_us;
	if (lat_us > a->latency_max_us)
		a->latency_max_us = lat_us;
	a->steps++;
	a->reason[reason]++;
	spin_unlock(&vb->auto_lock);
	dev_info_ratelimited(&vb->vdev->dev,
			     "auto-deflate %lu KiB (%s): %s prio %d, swapped %lu pages, free %lu KiB, high %lu KiB, page cache %lu KiB, %llu us\n",
			     freed << (PAGE_SHIFT - 10), vab_reason_name(reason),
			     seen.kswapd ? "kswapd" : "direct", seen.prio,
			     seen.swapped, seen.free << (PAGE_SHIFT - 10),
			     seen.wmark_high << (PAGE_SHIFT - 10),
			     (seen.active_file + seen.inactive_file) <<
			     (PAGE_SHIFT - 10), lat_us);
	return freed;

busy:
	spin_lock(&vb->auto_lock);
	vab_unreserve(a);
	spin_unlock(&vb->auto_lock);
	return 0;
}

static int vab_oom_notify(struct notifier_block *nb, unsigned long dummy,
			  void *parm)
{
	struct vab *vb = container_of(nb, struct vab, oom_nb);
	unsigned long *freed = parm;

	if (READ_ONCE(vb->mode) == VAB_MODE_OFF)
		return NOTIFY_OK;
	mutex_lock(&vb->lock);
	*freed += vab_deflate_pressure_locked(vb, READ_ONCE(vab_oom_pages),
					      &vb->deflated_oom);
	mutex_unlock(&vb->lock);
	return NOTIFY_OK;
}

int vab_auto_register(struct vab *vb)
{
	const char *name = dev_name(&vb->vdev->dev);
	struct shrinker *s;
	int err;

	if (!vb->deflate_on_oom)
		return 0;	/* the host forbids taking pages back */

#ifdef VAB_SHRINKER_ALLOC
	s = shrinker_alloc(0, "virtio-autoballoon-%s", name);
	if (!s)
		return -ENOMEM;
	s->private_data = vb;
#else
	s = &vb->shrinker_store;
#endif
	s->count_objects = vab_count;
	s->scan_objects = vab_scan;
	s->seeks = DEFAULT_SEEKS;
	s->batch = VAB_PROBE_BATCH;
	vb->shrinker = s;
#ifdef VAB_SHRINKER_ALLOC
	shrinker_register(s);
#else
	err = register_shrinker(s, "virtio-autoballoon-%s", name);
	if (err)
		return err;
#endif
	vb->shrinker_registered = true;

	vb->oom_nb.notifier_call = vab_oom_notify;
	vb->oom_nb.priority = 0;
	err = register_oom_notifier(&vb->oom_nb);
	if (err) {
		vab_auto_unregister(vb);
		return err;
	}
	vb->oom_registered = true;
	return 0;
}

void vab_auto_unregister(struct vab *vb)
{
	if (vb->oom_registered)
		unregister_oom_notifier(&vb->oom_nb);
	vb->oom_registered = false;
	if (vb->shrinker_registered) {
#ifdef VAB_SHRINKER_ALLOC
		shrinker_free(vb->shrinker);
#else
		unregister_shrinker(vb->shrinker);
#endif
	}
	vb->shrinker_registered = false;
}
