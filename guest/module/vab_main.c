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
 * This file: the device - features, queues, probe/remove, suspend, the
 * stats queue and free page reporting. vab_balloon.c moves pages in and out
 * of the balloon, vab_auto.c decides when the guest deflates by itself,
 * vab_sysfs.c shows the counters. Queues in order inflateq, deflateq,
 * statsq (when STATS_VQ), free page hint queue (never negotiated, so its
 * slot is empty) and reporting queue (when REPORTING).
 */
#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/page_reporting.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/vmstat.h>
#include <linux/virtio.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>

#include "vab.h"

/* ---- module parameters (the auto-deflate ones are in vab_auto.c) ---- */

static enum vab_mode vab_default_mode = VAB_MODE_AUTO;

static int vab_mode_param_set(const char *val, const struct kernel_param *kp)
{
	return vab_parse_mode(val, &vab_default_mode);
}

static int vab_mode_param_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n", vab_mode_name(vab_default_mode));
}

static const struct kernel_param_ops vab_mode_param_ops = {
	.set = vab_mode_param_set,
	.get = vab_mode_param_get,
};

module_param_cb(mode, &vab_mode_param_ops, NULL, 0644);
MODULE_PARM_DESC(mode, "off, oom or auto (default): mode of devices probed from now on");

/* ---- queue and config callbacks ---- */

static void vab_ack(struct virtqueue *vq)
{
	struct vab *vb = vq->vdev->priv;

	wake_up(&vb->ack_wq);
}

/* num_pages may have changed: the size work reads it (vab_balloon.c). */
static void vab_config_changed(struct virtio_device *vdev)
{
	struct vab *vb = vdev->priv;

	atomic_inc(&vb->cfg_gen);
	vab_kick_work(vb);
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
	vab_balloon_empty(vb);
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
	INIT_WORK(&vb->stats_work, vab_stats_work);
	vb->stopping = true;
	vb->deflate_on_oom = virtio_has_feature(vdev,
					VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
	vb->tell_first = virtio_has_feature(vdev,
					    VIRTIO_BALLOON_F_MUST_TELL_HOST);
	vb->mode = vb->deflate_on_oom ? READ_ONCE(vab_default_mode) :
		   VAB_MODE_OFF;
	vab_balloon_init(vb);

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
	err = vab_sysfs_add(vb);
	if (err)
		goto err_auto;

	vab_start(vb);
	dev_info(&vdev->dev, "virtio_autoballoon: mode %s%s%s\n",
		 vab_mode_name(vb->mode),
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

	vab_sysfs_remove(vb);
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

