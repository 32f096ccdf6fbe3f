// SPDX-License-Identifier: GPL-2.0
/*
 * vab_sysfs.c - /sys/bus/virtio/devices/virtioN/autoballoon/: the mode
 * (read-write) and read-only counters of the balloon and of auto-deflate
 * (README.md lists them); the mode names, shared with the mode parameter.
 */
#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/virtio.h>
#include <linux/virtio_balloon.h>
#include <linux/virtio_config.h>

#include "vab.h"

static const char * const vab_mode_names[] = {
	[VAB_MODE_OFF] = "off",
	[VAB_MODE_OOM] = "oom",
	[VAB_MODE_AUTO] = "auto",
};

int vab_parse_mode(const char *buf, enum vab_mode *ret)
{
	int i = sysfs_match_string(vab_mode_names, buf);

	if (i < 0)
		return -EINVAL;
	*ret = i;
	return 0;
}

const char *vab_mode_name(enum vab_mode m)
{
	return (unsigned int)m < ARRAY_SIZE(vab_mode_names) ?
	       vab_mode_names[m] : "?";
}

static struct vab *vab_from_dev(struct device *dev)
{
	return dev_to_virtio(dev)->priv;
}

static ssize_t mode_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%s\n",
			  vab_mode_name(READ_ONCE(vab_from_dev(dev)->mode)));
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

int vab_sysfs_add(struct vab *vb)
{
	return sysfs_create_group(&vb->vdev->dev.kobj, &vab_group);
}

void vab_sysfs_remove(struct vab *vb)
{
	sysfs_remove_group(&vb->vdev->dev.kobj, &vab_group);
}
