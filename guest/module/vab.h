/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vab.h - shared state of virtio_autoballoon.ko
 *
 * The driver's parts, each calling only those after it:
 *   vab_main.c     the virtio device: features, queues, probe/remove,
 *                  suspend, the stats queue, free page reporting
 *   vab_sysfs.c    the per-device sysfs attributes, the mode names
 *   vab_auto.c     when the guest takes balloon pages back by itself
 *                  (shrinker-driven auto-deflate, the OOM notifier)
 *   vab_balloon.c  pages in and out of the balloon: inflate, deflate,
 *                  following num_pages, compaction
 */
#ifndef VAB_H
#define VAB_H

#include <linux/atomic.h>
#include <linux/balloon_compaction.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/page_reporting.h>
#include <linux/shrinker.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/virtio.h>
#include <linux/virtio_balloon.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "vab_compat.h"

/* Balloon pages per guest page (the device counts 4 KiB pages). */
#define VAB_PPP		(PAGE_SIZE >> VIRTIO_BALLOON_PFN_SHIFT)
/* PFNs per inflate/deflate message (one 1 KiB buffer). */
#define VAB_PFNS_MAX	256
/* Fast-deflated PFNs that may wait for the host to be told (256 MiB). */
#define VAB_PENDING_MAX	65536

/* Stats tags added by Linux 6.11 (not in 6.1's uapi header). */
#ifndef VIRTIO_BALLOON_S_OOM_KILL
#define VIRTIO_BALLOON_S_OOM_KILL	10
#define VIRTIO_BALLOON_S_ALLOC_STALL	11
#define VIRTIO_BALLOON_S_ASYNC_SCAN	12
#define VIRTIO_BALLOON_S_DIRECT_SCAN	13
#define VIRTIO_BALLOON_S_ASYNC_RECLAIM	14
#define VIRTIO_BALLOON_S_DIRECT_RECLAIM	15
#endif
#define VAB_NR_STATS	16

enum vab_mode {
	VAB_MODE_OFF,	/* never take pages back without the host */
	VAB_MODE_OOM,	/* stock behaviour: only from the OOM notifier */
	VAB_MODE_AUTO,	/* auto-deflate when reclaim struggles, OOM last */
};

/* Why an auto-deflate step was taken (see README "decision rule"). */
enum vab_reason {
	VAB_REASON_SWAP,	/* reclaim started writing anon pages to swap */
	VAB_REASON_PRIORITY,	/* reclaim priority fell to auto_priority */
	VAB_REASON_CACHE,	/* cheap page cache is used up */
	VAB_NR_REASONS,
};

/* Why a reclaim probe took no step (sysfs auto_none_*). */
enum vab_none {
	VAB_NONE_FREE,		/* not short: free at the high watermarks, and
				 * no swap-out in reclaim in the last 5 s */
	VAB_NONE_CACHE,		/* no signal: page cache is left */
	VAB_NONE_RATE,		/* a signal, within auto_interval_ms of a step */
	VAB_NONE_BUSY,		/* a signal, but the device lock was busy */
	VAB_NONE_FLOOR,		/* a signal, but the balloon is at the floor */
	VAB_NR_NONE,
};

/* The inputs and outcome of the last decision (sysfs auto_last). */
struct vab_last {
	bool step;		/* a step was taken: reason; else none */
	bool kswapd;
	u8 reason;		/* enum vab_reason */
	u8 none;		/* enum vab_none */
	int prio;
	unsigned long free;	/* pages */
	unsigned long wmark_high;
	unsigned long active_file;
	unsigned long inactive_file;
	unsigned long swapped;	/* pswpout since the previous decision */
};

/* Auto-deflate bookkeeping, under vab->auto_lock. */
struct vab_auto {
	/* Reclaim "visit": count_objects() starts one, scans add units. */
	struct task_struct *visit_task;
	unsigned long visit_units;

	u64 onset_ns;		/* first reclaim call of this episode, 0 = none */
	u64 last_reclaim_ns;	/* last reclaim-context call */
	u64 last_step_ns;	/* last step (reserved when decided) */
	u64 last_eval_ns;
	unsigned long last_pswpout;
	unsigned long step_pages;	/* grows during a sustained burst */
	/* Swap-outs in reclaim not yet answered by a step, and when seen. */
	unsigned long swap_pending;
	u64 swap_ns;
	/* A reserved step: what to restore if it cannot run. */
	u64 prev_step_ns;
	unsigned long prev_step_pages;
	unsigned long answered;

	/* Counters (sysfs). */
	u64 probes;		/* decisions taken in reclaim */
	u64 steps;
	u64 reason[VAB_NR_REASONS];
	u64 none[VAB_NR_NONE];
	u64 swap_seen;		/* pages swapped out in reclaim, counted */
	u64 swap_inflate;	/* of a host inflation: not counted */
	struct vab_last last;
	u64 latency_last_us;
	u64 latency_max_us;
	u64 free_last_us;	/* of which: dequeue and free the step */
};

struct vab {
	struct virtio_device *vdev;
	struct virtqueue *inflate_vq;
	struct virtqueue *deflate_vq;
	struct virtqueue *stats_vq;
	struct virtqueue *report_vq;

	/* Balloon pages, through the kernel's balloon API (compaction). */
	struct balloon_dev_info bdev;

	/*
	 * Protects the balloon size, the PFN buffer, the pending list and the
	 * inflate/deflate queues. Never held while allocating memory; the
	 * shrinker and migration only try it.
	 */
	struct mutex lock;
	u32 nr_pages;		/* pages in the balloon (4 KiB units) */
	u32 target_pages;	/* num_pages last read from the device */
	u32 actual_sent;	/* last value written to config.actual */
	bool chasing;		/* moving toward target_pages */
	unsigned long guest_won;	/* jiffies of the last pressure deflate */
	int chase_gen;		/* cfg_gen the current chase belongs to */
	__virtio32 pfns[VAB_PFNS_MAX];
	u32 *pending;		/* freed, host not yet told (fast deflate) */
	unsigned int nr_pending;

	wait_queue_head_t ack_wq;	/* a virtqueue returned a buffer */
	atomic_t cfg_gen;		/* bumped on every config change */

	/* Work: follow num_pages, tell the host about fast deflates. */
	struct delayed_work size_work;
	unsigned long backoff_jiffies;
	struct work_struct stats_work;
	spinlock_t stop_lock;	/* protects stopping vs. queueing work */
	bool stopping;

	/* Task allocating balloon pages: its reclaim must not deflate. */
	struct task_struct *inflater;
	u64 inflate_ns;		/* last inflation batch (ktime ns) */

	/* Stats queue buffer and a scratch copy of the vm events. */
	struct virtio_balloon_stat stats[VAB_NR_STATS];
	unsigned long *events;

	struct page_reporting_dev_info pr_dev;
	bool reporting;

	enum vab_mode mode;
	bool deflate_on_oom;	/* bit 2 negotiated */
	bool tell_first;	/* MUST_TELL_HOST negotiated */

	struct shrinker *shrinker;
#ifndef VAB_SHRINKER_ALLOC
	struct shrinker shrinker_store;
#endif
	bool shrinker_registered;
	struct notifier_block oom_nb;
	bool oom_registered;

	spinlock_t auto_lock;
	struct vab_auto au;

	/* Counters (4 KiB pages), updated under lock. */
	u64 inflated;
	u64 deflated_host;
	u64 deflated_auto;
	u64 deflated_oom;
	u64 migrated;
};

/* vab_sysfs.c */
int vab_parse_mode(const char *buf, enum vab_mode *ret);
const char *vab_mode_name(enum vab_mode m);
int vab_sysfs_add(struct vab *vb);
void vab_sysfs_remove(struct vab *vb);

/* vab_auto.c */
int vab_auto_register(struct vab *vb);
void vab_auto_unregister(struct vab *vb);
const char *vab_reason_name(enum vab_reason r);
const char *vab_none_name(enum vab_none n);

/* vab_balloon.c */
void vab_balloon_init(struct vab *vb);
void vab_balloon_empty(struct vab *vb);
/* Follow num_pages now (and tell the host about fast deflates). */
void vab_kick_work(struct vab *vb);
/* Pressure deflate, called with vab->lock held. */
unsigned long vab_deflate_pressure_locked(struct vab *vb, unsigned long want,
					  u64 *counter);

#endif /* VAB_H */
