// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_autoballoon - a driver for the standard virtio balloon device (ID 5)
 * that, when the device offers DEFLATE_ON_OOM, takes balloon pages back by
 * itself when the guest's reclaim struggles (see vab_auto.c and README.md).
 *
 * Written from the virtio 1.x specification (section "Memory Balloon
 * Device") and the kernel's balloon, shrinker, OOM-notifier and page
 * reporting APIs.
 *
 * This file: the device. Queues in order inflateq, deflateq, statsq (when
 * STATS_VQ), free page hint queue (never negotiated, so its slot is empty)
 * and reporting queue (when REPORTING). Config num_pages/actual are
 * little-endian 4 KiB page counts; PFNs in messages are 4 KiB frame numbers.
 */
#include <linux/delay.h>
#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/page_reporting.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmstat.h>
#include <linux/virtio.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>
#include <linux/vmalloc.h>

#include "vab.h"

/* ---- module parameters (the auto-deflate ones are in vab_auto.c) ---- */

static enum vab_mode vab_default_mode = VAB_MODE_AUTO;

static const char * const vab_mode_names[] = {
	[VAB_MODE_OFF] = "off",
	[VAB_MODE_OOM] = "oom",
	[VAB_MODE_AUTO] = "auto",
};

static int vab_parse_mode(const char *buf, enum vab_mode *ret)
{
	int i = sysfs_match_string(vab_mode_names, buf);

	if (i < 0)
		return -EINVAL;
	*ret = i;
	return 0;
}

static int vab_mode_param_set(const char *val, const struct kernel_param *kp)
{
	return vab_parse_mode(val, &vab_default_mode);
}

static int vab_mode_param_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n", vab_mode_names[vab_default_mode]);
}

static const struct kernel_param_ops vab_mode_param_ops = {
	.set = vab_mode_param_set,
	.get = vab_mode_param_get,
};

module_param_cb(mode, &vab_mode_param_ops, NULL, 0644);
MODULE_PARM_DESC(mode, "off, oom or auto (default): mode of devices probed from now on");

/* ---- helpers ---- */

static void vab_queue_size_work(struct vab *vb, unsigned long delay)
{
	unsigned long flags;

	spin_lock_irqsave(&vb->stop_lock, flags);
	if (!vb->stopping)
		mod_delayed_work(system_freezable_wq, &vb->size_work, delay);
	spin_unlock_irqrestore(&vb->stop_lock, flags);
}

void vab_kick_work(struct vab *vb)
{
	vab_queue_size_work(vb, 0);
}

static void vab_ack(struct virtqueue *vq)
{
	struct vab *vb = vq->vdev->priv;

	wake_up(&vb->ack_wq);
}

/* Send vb->pfns[0..n) on vq and wait until the device has used them. */
static void vab_tell_host(struct vab *vb, struct virtqueue *vq, unsigned int n)
{
	struct scatterlist sg;
	unsigned int len;
	int err;

	if (!n)
		return;
	sg_init_one(&sg, vb->pfns, sizeof(vb->pfns[0]) * n);
	err = virtqueue_add_outbuf(vq, &sg, 1, vb, GFP_NOWAIT | __GFP_NOWARN);
	if (WARN_ON_ONCE(err))
		return;
	virtqueue_kick(vq);
	wait_event(vb->ack_wq, virtqueue_get_buf(vq, &len));
}

static unsigned int vab_set_pfns(struct vab *vb, unsigned int idx,
				 struct page *page)
{
	unsigned long pfn = page_to_pfn(page) << (PAGE_SHIFT -
						  VIRTIO_BALLOON_PFN_SHIFT);
	unsigned int i;

	for (i = 0; i < VAB_PPP; i++)
		vb->pfns[idx + i] = cpu_to_virtio32(vb->vdev, pfn + i);
	return idx + VAB_PPP;
}

/* Tell the host about fast-deflated pages. Called with vb->lock held. */
static void vab_flush_pending_locked(struct vab *vb)
{
	unsigned int done = 0, n, i;

	while (done < vb->nr_pending) {
		n = min_t(unsigned int, vb->nr_pending - done, VAB_PFNS_MAX);
		for (i = 0; i < n; i++)
			vb->pfns[i] = cpu_to_virtio32(vb->vdev,
						      vb->pending[done + i]);
		vab_tell_host(vb, vb->deflate_vq, n);
		done += n;
	}
	vb->nr_pending = 0;
}

static void vab_update_actual_locked(struct vab *vb)
{
	u32 actual = vb->nr_pages;

	if (actual == vb->actual_sent)
		return;
	virtio_cwrite_le(vb->vdev, struct virtio_balloon_config, actual,
			 &actual);
	vb->actual_sent = actual;
}

/* A page leaves the balloon for the guest's free lists. */
static void vab_release_page(struct vab *vb, struct page *page)
{
	if (!vb->deflate_on_oom)
		adjust_managed_page_count(page, 1);
	put_page(page);
}

/* ---- inflate / deflate ---- */

/* Allocate up to want 4 KiB pages into the balloon; returns how many. */
static unsigned int vab_inflate(struct vab *vb, unsigned int want)
{
	LIST_HEAD(pages);
	struct page *page;
	unsigned int n = 0, idx = 0;

	want = min_t(unsigned int, want, VAB_PFNS_MAX);
	/* Reclaim run by this allocation must not deflate the balloon. */
	WRITE_ONCE(vb->inflater, current);
	WRITE_ONCE(vb->inflate_ns, ktime_get_ns());
	for (n = 0; n + VAB_PPP <= want; n += VAB_PPP) {
		page = balloon_page_alloc();
		if (!page)
			break;
		balloon_page_push(&pages, page);
	}
	WRITE_ONCE(vb->inflater, NULL);
	/* Swap-outs reclaim does for this batch are the inflation's. */
	WRITE_ONCE(vb->inflate_ns, ktime_get_ns());

	mutex_lock(&vb->lock);
	if (!vb->chasing) {
		/* The guest took memory back meanwhile: the host must ask again. */
		while ((page = balloon_page_pop(&pages)))
			put_page(page);
		mutex_unlock(&vb->lock);
		return 0;
	}
	/* Fast-deflated PFNs reach the host before any PFN reused here. */
	vab_flush_pending_locked(vb);
	while ((page = balloon_page_pop(&pages))) {
		balloon_page_enqueue(&vb->bdev, page);
		idx = vab_set_pfns(vb, idx, page);
		if (!vb->deflate_on_oom)
			adjust_managed_page_count(page, -1);
	}
	vab_tell_host(vb, vb->inflate_vq, idx);
	vb->nr_pages += idx;
	vb->inflated += idx;
	vab_update_actual_locked(vb);
	mutex_unlock(&vb->lock);
	return idx;
}

/*
 * Take up to want 4 KiB pages off the balloon list into pages, filling
 * vb->pfns. Called with vb->lock held. Returns the number of 4 KiB pages.
 */
static unsigned int vab_dequeue_locked(struct vab *vb, unsigned int want,
				       struct list_head *pages)
{
	struct page *page;
	unsigned int idx = 0;
	size_t got;

	want = min_t(unsigned int, want, VAB_PFNS_MAX);
	got = balloon_page_list_dequeue(&vb->bdev, pages, want / VAB_PPP);
	if (!got)
		return 0;
	list_for_each_entry(page, pages, lru)
		idx = vab_set_pfns(vb, idx, page);
	return idx;
}

/* Host-requested (and unload) deflate: tell the host, then free. */
static unsigned int vab_deflate_tell_first_locked(struct vab *vb,
						  unsigned int want)
{
	LIST_HEAD(pages);
	struct page *page, *next;
	unsigned int n;

	vab_flush_pending_locked(vb);
	n = vab_dequeue_locked(vb, want, &pages);
	if (!n)
		return 0;
	vab_tell_host(vb, vb->deflate_vq, n);
	list_for_each_entry_safe(page, next, &pages, lru) {
		list_del(&page->lru);
		vab_release_page(vb, page);
	}
	vb->nr_pages -= n;
	return n;
}

static unsigned int vab_deflate_host(struct vab *vb, unsigned int want)
{
	unsigned int n;

	mutex_lock(&vb->lock);
	n = vab_deflate_tell_first_locked(vb, want);
	vb->deflated_host += n;
	vab_update_actual_locked(vb);
	mutex_unlock(&vb->lock);
	return n;
}

/*
 * Deflate under guest memory pressure (auto-deflate, OOM). Called with
 * vb->lock held, from reclaim or the OOM path: no sleeping allocations.
 *
 * Without MUST_TELL_HOST the pages go to the free lists first and their
 * PFNs wait in vb->pending; the work item tells the host afterwards. With
 * MUST_TELL_HOST the host is told before each batch is freed.
 *
 * Returns the number of guest pages (PAGE_SIZE) freed; adds the 4 KiB
 * count to *counter.
 */
unsigned long vab_deflate_pressure_locked(struct vab *vb, unsigned long want,
					  u64 *counter)
{
	LIST_HEAD(pages);
	struct page *page, *next;
	unsigned long done = 0;
	unsigned int n, i;

	while (done < want) {
		n = min_t(unsigned long, want - done, VAB_PFNS_MAX);
		if (vb->tell_first) {
			n = vab_deflate_tell_first_locked(vb, n);
			if (!n)
				break;
			done += n;
			continue;
		}
		if (vb->nr_pending + n > VAB_PENDING_MAX)
			vab_flush_pending_locked(vb);
		n = vab_dequeue_locked(vb, n, &pages);
		if (!n)
			break;
		list_for_each_entry_safe(page, next, &pages, lru) {
			list_del(&page->lru);
			vab_release_page(vb, page);
		}
		for (i = 0; i < n; i++)
			vb->pending[vb->nr_pending++] =
				virtio32_to_cpu(vb->vdev, vb->pfns[i]);
		vb->nr_pages -= n;
		done += n;
	}
	*counter += done;
	/* The guest wins: stop chasing an inflate target until re-sent. */
	if (done) {
		WRITE_ONCE(vb->guest_won, jiffies);
		if (vb->target_pages > vb->nr_pages)
			vb->chasing = false;
	}
	if (done)
		vab_kick_work(vb);
	return done / VAB_PPP;
}

/* ---- following num_pages ---- */

static u32 vab_read_target(struct vab *vb)
{
	u32 num;

	virtio_cread_le(vb->vdev, struct virtio_balloon_config, num_pages,
			&num);
	/* Whole guest pages only. */
	return ALIGN_DOWN(num, VAB_PPP);
}

/*
 * No inflating for this long after the guest took pages back under
 * pressure: a target the host sent while the deflate was still under way
 * is stale (it accepts what it saw, a moment ago); its next one is not.
 */
#define VAB_WON_GRACE	HZ

#define VAB_BACKOFF_MIN	(HZ / 5)
#define VAB_BACKOFF_MAX	(5 * HZ)

static void vab_size_work(struct work_struct *work)
{
	struct vab *vb = container_of(to_delayed_work(work), struct vab,
				      size_work);
	int gen = atomic_read(&vb->cfg_gen);
	unsigned long delay = 0, won;
	bool again = false;
	u32 target, have;
	unsigned int got;

	mutex_lock(&vb->lock);
	vab_flush_pending_locked(vb);
	if (gen != vb->chase_gen) {
		/* The host (re)sent a target: follow it. */
		vb->chase_gen = gen;
		vb->chasing = true;
		vb->backoff_jiffies = 0;
	}
	target = vab_read_target(vb);
	vb->target_pages = target;
	have = vb->nr_pages;
	if (vb->chasing && target == have)
		vb->chasing = false;
	vab_update_actual_locked(vb);
	mutex_unlock(&vb->lock);

	if (!READ_ONCE(vb->chasing))
		return;
	won = READ_ONCE(vb->guest_won);
	if (target > have && won && time_before(jiffies, won + VAB_WON_GRACE)) {
		/* Re-read num_pages when the grace is over. */
		delay = won + VAB_WON_GRACE - jiffies;
		again = true;
	} else if (target > have) {
		got = vab_inflate(vb, target - have);
		if (got < min_t(u32, target - have, VAB_PFNS_MAX)) {
			/* Out of memory for now: retry later, slower each time. */
			vb->backoff_jiffies = clamp(vb->backoff_jiffies * 2,
						    (unsigned long)VAB_BACKOFF_MIN,
						    (unsigned long)VAB_BACKOFF_MAX);
			delay = vb->backoff_jiffies;
		} else {
			vb->backoff_jiffies = 0;
		}
		again = true;
	} else if (target < have) {
		if (!vab_deflate_host(vb, have - target))
			delay = HZ / 10;	/* pages isolated for migration */
		again = true;
	}
	if (again)
		vab_queue_size_work(vb, delay);
}

static void vab_config_changed(struct virtio_device *vdev)
{
	struct vab *vb = vdev->priv;

	atomic_inc(&vb->cfg_gen);
	vab_queue_size_work(vb, 0);
}

/* ---- stats ---- */

static unsigned int vab_stat(struct vab *vb, unsigned int i, u16 tag, u64 val)
{
	vb->stats[i].tag = cpu_to_virtio16(vb->vdev, tag);
	vb->stats[i].val = cpu_to_virtio64(vb->vdev, val);
	return i + 1;
}

static unsigned int vab_fill_stats(struct vab *vb)
{
	unsigned long *ev = vb->events;
	unsigned long stall = 0, file;
	struct sysinfo si;
	unsigned int i = 0;
	int z;

	all_vm_events(ev);
	si_meminfo(&si);
	for (z = 0; z < MAX_NR_ZONES; z++)
		stall += ev[ALLOCSTALL_NORMAL - ZONE_NORMAL + z];
	/* Cache reclaimable without I/O: the file LRU (no shmem, no swap cache). */
	file = global_node_page_state(NR_ACTIVE_FILE) +
	       global_node_page_state(NR_INACTIVE_FILE);

	i = vab_stat(vb, i, VIRTIO_BALLOON_S_SWAP_IN,
		     (u64)ev[PSWPIN] << PAGE_SHIFT);
	i = vab_stat(vb, i, VIRTIO_BALLOON_S_SWAP_OUT,
		     (u64)ev[PSWPOUT] << PAGE_SHIFT);
	i = vab_stat(vb, i, VIRTIO_BALLOON_S_MAJFLT, ev[PGMAJFAULT]);
	i = vab_stat(vb, i, VIRTIO_BALLOON_S_MINFLT, ev[PGFAULT]);
	i = vab_stat(vb, i, VIRTIO_BALLOON_S_MEMFREE,
		     (u64)si.freeram * si.mem_unit);
	i = vab_stat(vb, i, VIRTIO_BALLOON_S_MEMTOT,
		     (u64)si.totalram * si.mem_unit);
	i = vab_stat(vb, i, VIRTIO_BALLOON_S_AVAIL,
		     (u64)si_mem_available() << PAGE_SHIFT);
	i = vab_stat(vb, i, VIRTIO_BALLOON_S_CACHES, (u64)file << PAGE_SHIFT);
#ifdef CONFIG_HUGETLB_PAGE
	i = vab_stat(vb, i, VIRTIO_BALLOON_S_HTLB_PGALLOC,
		     ev[HTLB_BUDDY_PGALLOC]);
	i = vab_stat(vb, i, VIRTIO_BALLOON_S_HTLB_PGFAIL,
		     ev[HTLB_BUDDY_PGALLOC_FAIL]);
#endif
	/* Tags of Linux 6.11; devices that do not know them ignore them. */
	i = vab_stat(vb, i, VIRTIO_BALLOON_S_OOM_KILL, ev[OOM_KILL]);
	i = vab_stat(vb, i, VIRTIO_BALLOON_S_ALLOC_STALL, stall);
	i = vab_stat(vb, i, VIRTIO_BALLOON_S_ASYNC_SCAN,
		     (u64)ev[PGSCAN_KSWAPD] << PAGE_SHIFT);
	i = vab_stat(vb, i, VIRTIO_BALLOON_S_DIRECT_SCAN,
		     (u64)ev[PGSCAN_DIRECT] << PAGE_SHIFT);
	i = vab_stat(vb, i, VIRTIO_BALLOON_S_ASYNC_RECLAIM,
		     (u64)ev[PGSTEAL_KSWAPD] << PAGE_SHIFT);
	i = vab_stat(vb, i, VIRTIO_BALLOON_S_DIRECT_RECLAIM,
		     (u64)ev[PGSTEAL_DIRECT] << PAGE_SHIFT);
	return i;
}

static void vab_post_stats(struct vab *vb)
{
	struct scatterlist sg;
	unsigned int n = vab_fill_stats(vb);

	sg_init_one(&sg, vb->stats, sizeof(vb->stats[0]) * n);
	if (!virtqueue_add_outbuf(vb->stats_vq, &sg, 1, vb, GFP_KERNEL))
		virtqueue_kick(vb->stats_vq);
}

static void vab_stats_work(struct work_struct *work)
{
	struct vab *vb = container_of(work, struct vab, stats_work);
	unsigned int len;

	/* The device returned the buffer: it wants fresh numbers. */
	if (!virtqueue_get_buf(vb->stats_vq, &len))
		return;
	vab_post_stats(vb);
}

static void vab_stats_request(struct virtqueue *vq)
{
	struct vab *vb = vq->vdev->priv;
	unsigned long flags;

	spin_lock_irqsave(&vb->stop_lock, flags);
	if (!vb->stopping)
		queue_work(system_freezable_wq, &vb->stats_work);
	spin_unlock_irqrestore(&vb->stop_lock, flags);
}

/* ---- free page reporting ---- */

static int vab_report(struct page_reporting_dev_info *pr,
		      struct scatterlist *sg, unsigned int nents)
{
	struct vab *vb = container_of(pr, struct vab, pr_dev);
	struct virtqueue *vq = vb->report_vq;
	unsigned int len;
	int err;

	/* The device discards the memory the buffers point at. */
	err = virtqueue_add_inbuf(vq, sg, nents, vb, GFP_NOWAIT | __GFP_NOWARN);
	if (err)
		return err;
	virtqueue_kick(vq);
	wait_event(vb->ack_wq, virtqueue_get_buf(vq, &len));
	return 0;
}

/* ---- balloon compaction ---- */

#ifdef CONFIG_BALLOON_COMPACTION
/*
 * Compaction moves a balloon page: newpage joins the balloon (the host is
 * told to discard it), page leaves it (the host is told it is back). The
 * core has isolated page and locked both.
 */
static int vab_migratepage(struct balloon_dev_info *bdev,
			   struct page *newpage, struct page *page,
			   enum migrate_mode mode)
{
	struct vab *vb = container_of(bdev, struct vab, bdev);
	unsigned long flags;

	if (!mutex_trylock(&vb->lock))
		return -EAGAIN;

	get_page(newpage);	/* the balloon's reference */
	if (!vb->deflate_on_oom && page_zone(page) != page_zone(newpage)) {
		adjust_managed_page_count(page, 1);
		adjust_managed_page_count(newpage, -1);
	}
	spin_lock_irqsave(&bdev->pages_lock, flags);
	balloon_page_insert(bdev, newpage);
	bdev->isolated_pages--;
	__count_vm_event(BALLOON_MIGRATE);
	spin_unlock_irqrestore(&bdev->pages_lock, flags);

	vab_flush_pending_locked(vb);
	vab_tell_host(vb, vb->inflate_vq, vab_set_pfns(vb, 0, newpage));
	vab_tell_host(vb, vb->deflate_vq, vab_set_pfns(vb, 0, page));
	vb->migrated += VAB_PPP;
	mutex_unlock(&vb->lock);

	vab_balloon_page_gone(page);
	put_page(page);		/* drop the balloon's reference */
	return MIGRATEPAGE_SUCCESS;
}
#endif

/* ---- sysfs ---- */

static struct vab *vab_from_dev(struct device *dev)
{
	return dev_to_virtio(dev)->priv;
}

static ssize_t mode_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%s\n",
			  vab_mode_names[READ_ONCE(vab_from_dev(dev)->mode)]);
}

static ssize_t mode_store(struct device *dev, struct device_attribute *attr,
			  const char *buf, size_t count)
{
	struct vab *vb = vab_from_dev(dev);
	enum vab_mode m;
	int err = vab_parse_mode(buf, &m);

	if (err)
		return err;
	if (m != VAB_MODE_OFF && !vb->deflate_on_oom)
		return -EOPNOTSUPP;	/* the device did not offer bit 2 */
	WRITE_ONCE(vb->mode, m);
	return count;
}
static DEVICE_ATTR_RW(mode);

#define VAB_SHOW(name, expr)						\
static ssize_t name##_show(struct device *dev,				\
			   struct device_attribute *attr, char *buf)	\
{									\
	struct vab *vb = vab_from_dev(dev);				\
									\
	return sysfs_emit(buf, "%llu\n", (unsigned long long)(expr));	\
}									\
static DEVICE_ATTR_RO(name)

VAB_SHOW(balloon_pages, READ_ONCE(vb->nr_pages));
VAB_SHOW(target_pages, READ_ONCE(vb->target_pages));
VAB_SHOW(pending_pages, READ_ONCE(vb->nr_pending));
VAB_SHOW(inflated_pages, READ_ONCE(vb->inflated));
VAB_SHOW(deflated_host_pages, READ_ONCE(vb->deflated_host));
VAB_SHOW(deflated_auto_pages, READ_ONCE(vb->deflated_auto));
VAB_SHOW(deflated_oom_pages, READ_ONCE(vb->deflated_oom));
VAB_SHOW(migrated_pages, READ_ONCE(vb->migrated));
VAB_SHOW(auto_steps, READ_ONCE(vb->au.steps));
VAB_SHOW(auto_steps_swap, READ_ONCE(vb->au.reason[VAB_REASON_SWAP]));
VAB_SHOW(auto_steps_priority, READ_ONCE(vb->au.reason[VAB_REASON_PRIORITY]));
VAB_SHOW(auto_steps_cache, READ_ONCE(vb->au.reason[VAB_REASON_CACHE]));
VAB_SHOW(auto_probes, READ_ONCE(vb->au.probes));
VAB_SHOW(auto_none_free, READ_ONCE(vb->au.none[VAB_NONE_FREE]));
VAB_SHOW(auto_none_cache, READ_ONCE(vb->au.none[VAB_NONE_CACHE]));
VAB_SHOW(auto_none_rate, READ_ONCE(vb->au.none[VAB_NONE_RATE]));
VAB_SHOW(auto_none_busy, READ_ONCE(vb->au.none[VAB_NONE_BUSY]));
VAB_SHOW(auto_none_floor, READ_ONCE(vb->au.none[VAB_NONE_FLOOR]));
VAB_SHOW(auto_swap_pages, READ_ONCE(vb->au.swap_seen));
VAB_SHOW(auto_swap_inflate_pages, READ_ONCE(vb->au.swap_inflate));
VAB_SHOW(auto_latency_last_us, READ_ONCE(vb->au.latency_last_us));
VAB_SHOW(auto_latency_max_us, READ_ONCE(vb->au.latency_max_us));
VAB_SHOW(auto_free_last_us, READ_ONCE(vb->au.free_last_us));

/* The last decision in reclaim: what it saw and what it did (4 KiB pages). */
static ssize_t auto_last_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	struct vab *vb = vab_from_dev(dev);
	struct vab_last l;

	spin_lock(&vb->auto_lock);
	l = vb->au.last;
	spin_unlock(&vb->auto_lock);
	return sysfs_emit(buf, "%s=%s %s prio=%d free=%lu high=%lu "
			  "active_file=%lu inactive_file=%lu swapped=%lu\n",
			  l.step ? "step" : "none",
			  l.step ? vab_reason_name(l.reason) :
				   vab_none_name(l.none),
			  l.kswapd ? "kswapd" : "direct", l.prio,
			  l.free * VAB_PPP, l.wmark_high * VAB_PPP,
			  l.active_file * VAB_PPP, l.inactive_file * VAB_PPP,
			  l.swapped);
}
static DEVICE_ATTR_RO(auto_last);

static ssize_t features_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	struct vab *vb = vab_from_dev(dev);
	struct virtio_device *vdev = vb->vdev;

	return sysfs_emit(buf, "%s%s%s%s\n",
		virtio_has_feature(vdev, VIRTIO_BALLOON_F_MUST_TELL_HOST) ?
			"must_tell_host " : "",
		virtio_has_feature(vdev, VIRTIO_BALLOON_F_STATS_VQ) ?
			"stats_vq " : "",
		virtio_has_feature(vdev, VIRTIO_BALLOON_F_DEFLATE_ON_OOM) ?
			"deflate_on_oom " : "",
		vb->reporting ? "reporting" : "");
}
static DEVICE_ATTR_RO(features);

static struct attribute *vab_attrs[] = {
	&dev_attr_mode.attr,
	&dev_attr_features.attr,
	&dev_attr_balloon_pages.attr,
	&dev_attr_target_pages.attr,
	&dev_attr_pending_pages.attr,
	&dev_attr_inflated_pages.attr,
	&dev_attr_deflated_host_pages.attr,
	&dev_attr_deflated_auto_pages.attr,
	&dev_attr_deflated_oom_pages.attr,
	&dev_attr_migrated_pages.attr,
	&dev_attr_auto_steps.attr,
	&dev_attr_auto_steps_swap.attr,
	&dev_attr_auto_steps_priority.attr,
	&dev_attr_auto_steps_cache.attr,
	&dev_attr_auto_probes.attr,
	&dev_attr_auto_none_free.attr,
	&dev_attr_auto_none_cache.attr,
	&dev_attr_auto_none_rate.attr,
	&dev_attr_auto_none_busy.attr,
	&dev_attr_auto_none_floor.attr,
	&dev_attr_auto_swap_pages.attr,
	&dev_attr_auto_swap_inflate_pages.attr,
	&dev_attr_auto_last.attr,
	&dev_attr_auto_latency_last_us.attr,
	&dev_attr_auto_latency_max_us.attr,
	&dev_attr_auto_free_last_us.attr,
	NULL,
};

static const struct attribute_group vab_group = {
	.name = "autoballoon",
	.attrs = vab_attrs,
};

/* ---- probe / remove ---- */

enum { VAB_VQ_INFLATE, VAB_VQ_DEFLATE, VAB_VQ_STATS, VAB_VQ_HINT,
	VAB_VQ_REPORT, VAB_NR_VQS };

static int vab_init_vqs(struct vab *vb)
{
	struct virtio_device *vdev = vb->vdev;
	struct virtqueue *vqs[VAB_NR_VQS] = {};
	vq_callback_t *callbacks[VAB_NR_VQS] = {};
	const char *names[VAB_NR_VQS] = {};
	int err;

	/*
	 * An absent queue gets a NULL name and the transport packs the rest:
	 * with the hint queue never negotiated, reporting lands on index 3,
	 * where QEMU puts it too.
	 */
	names[VAB_VQ_INFLATE] = "inflate";
	callbacks[VAB_VQ_INFLATE] = vab_ack;
	names[VAB_VQ_DEFLATE] = "deflate";
	callbacks[VAB_VQ_DEFLATE] = vab_ack;
	if (virtio_has_feature(vdev, VIRTIO_BALLOON_F_STATS_VQ)) {
		names[VAB_VQ_STATS] = "stats";
		callbacks[VAB_VQ_STATS] = vab_stats_request;
	}
	if (virtio_has_feature(vdev, VIRTIO_BALLOON_F_REPORTING)) {
		names[VAB_VQ_REPORT] = "reporting";
		callbacks[VAB_VQ_REPORT] = vab_ack;
	}
	err = vab_find_vqs(vdev, VAB_NR_VQS, vqs, callbacks, names);
	if (err)
		return err;
	vb->inflate_vq = vqs[VAB_VQ_INFLATE];
	vb->deflate_vq = vqs[VAB_VQ_DEFLATE];
	vb->stats_vq = vqs[VAB_VQ_STATS];
	vb->report_vq = vqs[VAB_VQ_REPORT];
	return 0;
}

/* Device is ready: post the first stats buffer, start following. */
static void vab_start(struct vab *vb)
{
	unsigned long flags;

	spin_lock_irqsave(&vb->stop_lock, flags);
	vb->stopping = false;
	spin_unlock_irqrestore(&vb->stop_lock, flags);
	if (vb->stats_vq)
		vab_post_stats(vb);
	atomic_inc(&vb->cfg_gen);
	vab_kick_work(vb);
}

static void vab_stop_work(struct vab *vb)
{
	unsigned long flags;

	spin_lock_irqsave(&vb->stop_lock, flags);
	vb->stopping = true;
	spin_unlock_irqrestore(&vb->stop_lock, flags);
	cancel_delayed_work_sync(&vb->size_work);
	cancel_work_sync(&vb->stats_work);
}

/* Give every page back, telling the host; then reset the device. */
static void vab_empty_and_reset(struct vab *vb)
{
	mutex_lock(&vb->lock);
	vab_flush_pending_locked(vb);
	while (vb->nr_pages) {
		unsigned int n = vab_deflate_tell_first_locked(vb, vb->nr_pages);

		if (!n) {
			/* Pages isolated by compaction come back shortly. */
			mutex_unlock(&vb->lock);
			msleep(20);
			mutex_lock(&vb->lock);
			continue;
		}
		vb->deflated_host += n;
	}
	vab_update_actual_locked(vb);
	mutex_unlock(&vb->lock);

	virtio_reset_device(vb->vdev);
	vb->vdev->config->del_vqs(vb->vdev);
}

static int vab_reporting_start(struct vab *vb)
{
	int err;

	if (!virtio_has_feature(vb->vdev, VIRTIO_BALLOON_F_REPORTING))
		return 0;
	vb->pr_dev.report = vab_report;
	err = page_reporting_register(&vb->pr_dev);
	if (err) {
		/* Another device already reports (-EBUSY): carry on without. */
		dev_warn(&vb->vdev->dev, "free page reporting off: %d\n", err);
		return 0;
	}
	vb->reporting = true;
	return 0;
}

static void vab_reporting_stop(struct vab *vb)
{
	if (vb->reporting)
		page_reporting_unregister(&vb->pr_dev);
	vb->reporting = false;
}

static int vab_validate(struct virtio_device *vdev)
{
	if (!vdev->config->get) {
		dev_err(&vdev->dev, "config access disabled\n");
		return -EINVAL;
	}
	/* PFNs are guest-physical frames, never IOMMU addresses. */
	__virtio_clear_bit(vdev, VIRTIO_F_ACCESS_PLATFORM);
	/*
	 * Reported pages read back as zeroes; with page poisoning that breaks
	 * the poison check, and this driver does not offer PAGE_POISON.
	 */
	if (page_poisoning_enabled_static())
		__virtio_clear_bit(vdev, VIRTIO_BALLOON_F_REPORTING);
	return 0;
}

static int vab_probe(struct virtio_device *vdev)
{
	struct vab *vb;
	int err;

	vb = kzalloc(sizeof(*vb), GFP_KERNEL);
	if (!vb)
		return -ENOMEM;
	vdev->priv = vb;
	vb->vdev = vdev;
	mutex_init(&vb->lock);
	spin_lock_init(&vb->stop_lock);
	spin_lock_init(&vb->auto_lock);
	init_waitqueue_head(&vb->ack_wq);
	atomic_set(&vb->cfg_gen, 0);
	INIT_DELAYED_WORK(&vb->size_work, vab_size_work);
	INIT_WORK(&vb->stats_work, vab_stats_work);
	vb->stopping = true;
	vb->deflate_on_oom = virtio_has_feature(vdev,
					VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
	vb->tell_first = virtio_has_feature(vdev,
					    VIRTIO_BALLOON_F_MUST_TELL_HOST);
	vb->mode = vb->deflate_on_oom ? READ_ONCE(vab_default_mode) :
		   VAB_MODE_OFF;
	balloon_devinfo_init(&vb->bdev);
#ifdef CONFIG_BALLOON_COMPACTION
	vb->bdev.migratepage = vab_migratepage;
#endif

	err = -ENOMEM;
	vb->events = kcalloc(NR_VM_EVENT_ITEMS, sizeof(*vb->events),
			     GFP_KERNEL);
	if (!vb->events)
		goto err_free_vb;
	vb->pending = kvcalloc(VAB_PENDING_MAX, sizeof(*vb->pending),
			       GFP_KERNEL);
	if (!vb->pending)
		goto err_free_events;

	err = vab_init_vqs(vb);
	if (err)
		goto err_free_pending;

	virtio_device_ready(vdev);

	err = vab_reporting_start(vb);
	if (err)
		goto err_reset;
	err = vab_auto_register(vb);
	if (err)
		goto err_reporting;
	err = sysfs_create_group(&vdev->dev.kobj, &vab_group);
	if (err)
		goto err_auto;

	vab_start(vb);
	dev_info(&vdev->dev, "virtio_autoballoon: mode %s%s%s\n",
		 vab_mode_names[vb->mode],
		 vb->tell_first ? ", must-tell-host" : ", fast deflate",
		 vb->reporting ? ", free page reporting" : "");
	return 0;

err_auto:
	vab_auto_unregister(vb);
err_reporting:
	vab_reporting_stop(vb);
err_reset:
	virtio_reset_device(vdev);
	vdev->config->del_vqs(vdev);
err_free_pending:
	kvfree(vb->pending);
err_free_events:
	kfree(vb->events);
err_free_vb:
	kfree(vb);
	vdev->priv = NULL;
	return err;
}

static void vab_remove(struct virtio_device *vdev)
{
	struct vab *vb = vdev->priv;

	sysfs_remove_group(&vdev->dev.kobj, &vab_group);
	vab_auto_unregister(vb);
	vab_reporting_stop(vb);
	vab_stop_work(vb);
	vab_empty_and_reset(vb);
	kvfree(vb->pending);
	kfree(vb->events);
	kfree(vb);
	vdev->priv = NULL;
}

#ifdef CONFIG_PM_SLEEP
static int vab_freeze(struct virtio_device *vdev)
{
	struct vab *vb = vdev->priv;

	/* The shrinker stays registered; with no pages it has nothing to do. */
	vab_reporting_stop(vb);
	vab_stop_work(vb);
	vab_empty_and_reset(vb);
	return 0;
}

static int vab_restore(struct virtio_device *vdev)
{
	struct vab *vb = vdev->priv;
	int err;

	err = vab_init_vqs(vb);
	if (err)
		return err;
	virtio_device_ready(vdev);
	vab_reporting_start(vb);
	vab_start(vb);
	return 0;
}
#endif

static unsigned int vab_features[] = {
	VIRTIO_BALLOON_F_MUST_TELL_HOST,
	VIRTIO_BALLOON_F_STATS_VQ,
	VIRTIO_BALLOON_F_DEFLATE_ON_OOM,
	VIRTIO_BALLOON_F_REPORTING,
};

static const struct virtio_device_id vab_id_table[] = {
	{ VIRTIO_ID_BALLOON, VIRTIO_DEV_ANY_ID },
	{ 0 },
};
MODULE_DEVICE_TABLE(virtio, vab_id_table);

static struct virtio_driver vab_driver = {
	.driver.name = KBUILD_MODNAME,
	.driver.owner = THIS_MODULE,
	.feature_table = vab_features,
	.feature_table_size = ARRAY_SIZE(vab_features),
	.id_table = vab_id_table,
	.validate = vab_validate,
	.probe = vab_probe,
	.remove = vab_remove,
	.config_changed = vab_config_changed,
#ifdef CONFIG_PM_SLEEP
	.freeze = vab_freeze,
	.restore = vab_restore,
#endif
};
module_virtio_driver(vab_driver);

MODULE_DESCRIPTION("Virtio balloon driver with non-eager auto-deflate");
MODULE_LICENSE("GPL");
