/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vab_compat.h - kernel API differences after 6.1.
 *
 * Only Debian's 6.1 is built and tested; the other branches follow the
 * kernel's API changes as its changelogs name them and are compile-untested.
 */
#ifndef VAB_COMPAT_H
#define VAB_COMPAT_H

#include <linux/balloon_compaction.h>
#include <linux/sched.h>
#include <linux/shrinker.h>
#include <linux/swap.h>
#include <linux/version.h>
#include <linux/virtio_config.h>

/* 6.7: shrinkers are allocated by the core (shrinker_alloc/register). */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
#define VAB_SHRINKER_ALLOC 1
#endif

/* 6.11: virtio_find_vqs() takes an array of struct virtqueue_info. */
static inline int vab_find_vqs(struct virtio_device *vdev, unsigned int nvqs,
			       struct virtqueue *vqs[],
			       vq_callback_t *callbacks[],
			       const char * const names[])
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0)
	struct virtqueue_info info[8] = {};
	unsigned int i;

	if (nvqs > ARRAY_SIZE(info))
		return -EINVAL;
	for (i = 0; i < nvqs; i++) {
		info[i].name = names[i];
		info[i].callback = callbacks[i];
	}
	return virtio_find_vqs(vdev, nvqs, vqs, info, NULL);
#else
	return virtio_find_vqs(vdev, nvqs, vqs, callbacks, names, NULL);
#endif
}

/*
 * A page leaves the balloon list for good. Stable kernels (Debian's 6.1.192)
 * carry balloon_page_finalize(); older 6.1 has balloon_page_delete(). Kbuild
 * looks at the headers and defines VAB_HAVE_BALLOON_PAGE_FINALIZE.
 */
static inline void vab_balloon_page_gone(struct page *page)
{
#ifdef VAB_HAVE_BALLOON_PAGE_FINALIZE
	balloon_page_finalize(page);
#else
	balloon_page_delete(page);
#endif
}

/* Credit pages freed by a shrinker to the reclaim that called it. */
static inline void vab_credit_reclaim(unsigned long pages)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
	mm_account_reclaimed_pages(pages);
#else
	if (current->reclaim_state)
		current->reclaim_state->reclaimed_slab += pages;
#endif
}

#endif /* VAB_COMPAT_H */
