// SPDX-License-Identifier: GPL-2.0
/*
 * vab_balloon.c - pages in and out of the balloon.
 *
 * Inflate toward the host's num_pages, deflate at the host's request or
 * under guest pressure (vab_auto.c, the OOM notifier), tell the host on the
 * inflate and deflate queues, keep config.actual current, and move balloon
 * pages for compaction. Config num_pages/actual are little-endian 4 KiB
 * page counts; PFNs in messages are 4 KiB frame numbers.
 */
#include <linux/delay.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/scatterlist.h>
#include <linux/vmstat.h>
#include <linux/virtio.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>

#include "vab.h"

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

/* ---- set-up and teardown (vab_main.c) ---- */

void vab_balloon_init(struct vab *vb)
{
	INIT_DELAYED_WORK(&vb->size_work, vab_size_work);
	balloon_devinfo_init(&vb->bdev);
#ifdef CONFIG_BALLOON_COMPACTION
	vb->bdev.migratepage = vab_migratepage;
#endif
}

/* Give every page back, telling the host first (remove, freeze). */
void vab_balloon_empty(struct vab *vb)
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
}
