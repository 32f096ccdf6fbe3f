/* SPDX-License-Identifier: MIT */
/*
 * hx_storage.c - one throttled disk for the bench's storage profiles (see
 * harness.h): a sparse image file on a loop device, ext4 on it, mounted.
 * What goes through it (host swap, guest disk images) can be throttled per
 * slice with hx_slice_set_io_limits().
 */
#include "harness.h"
#include "hx_util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct hx_storage {
	char img[PATH_MAX];
	char mnt[PATH_MAX];
	char dev[64];
	unsigned maj, min;
};

/*
 * Attach IMG to a free loop device; the device detaches itself when its last
 * user (the mount) goes. Returns the open device fd.
 */
static int loop_attach(const char *img, char *dev, size_t devlen)
{
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return errno == ENOENT ? -ENODEV : -errno;
	int bfd = open(img, O_RDWR | O_CLOEXEC);
	if (bfd < 0) {
		int e = -errno;
		close(ctl);
		return e;
	}
	int r = -EBUSY;
	for (int tries = 0; tries < 8 && r == -EBUSY; tries++) {
		int nr = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (nr < 0) {
			r = -errno;
			break;
		}
		snprintf(dev, devlen, "/dev/loop%d", nr);
		/* containers may lack the node of a new device */
		if (access(dev, F_OK) < 0 &&
		    mknod(dev, S_IFBLK | 0600, makedev(7, (unsigned)nr)) < 0 &&
		    errno != EEXIST) {
			r = -errno;
			break;
		}
		int lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0) {
			r = -errno;
			break;
		}
		if (ioctl(lfd, LOOP_SET_FD, bfd) < 0) {
			r = -errno;	/* EBUSY: taken meanwhile, try the next */
			close(lfd);
			continue;
		}
		struct loop_info64 info = { .lo_flags = LO_FLAGS_AUTOCLEAR };
		/* the name is for losetup -l only: its tail is what tells */
		size_t il = strlen(img), cap = sizeof(info.lo_file_name) - 1;
		memcpy(info.lo_file_name, img + (il > cap ? il - cap : 0),
		       il > cap ? cap : il);
		if (ioctl(lfd, LOOP_SET_STATUS64, &info) < 0) {
			r = -errno;
			ioctl(lfd, LOOP_CLR_FD, 0);
			close(lfd);
			break;
		}
		/* no second page cache behind the device, where allowed */
		if (ioctl(lfd, LOOP_SET_DIRECT_IO, 1UL) < 0)
			hxu_vlog("storage: %s without direct I/O: %m", dev);
		r = lfd;
	}
	close(bfd);
	close(ctl);
	return r;
}

int hx_storage_create(const char *dir, uint64_t bytes, struct hx_storage **ret)
{
	struct hx_storage *s = calloc(1, sizeof(*s));
	struct stat st;
	int r, lfd = -1;

	if (!s)
		return -ENOMEM;
	if (hxu_fmt_path(s->img, sizeof(s->img), "%s/storage.img", dir) ||
	    hxu_fmt_path(s->mnt, sizeof(s->mnt), "%s/storage.mnt", dir)) {
		free(s);
		return -ENAMETOOLONG;
	}
	if (access(s->mnt, F_OK) == 0) {
		free(s);
		return -EEXIST;
	}
	r = hx_guard_add_file(s->img);
	if (r)
		goto fail_free;
	int fd = open(s->img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		goto fail_img;
	}
	if (ftruncate(fd, (off_t)bytes) < 0) {
		r = -errno;
		close(fd);
		goto fail_img;
	}
	close(fd);
	lfd = loop_attach(s->img, s->dev, sizeof(s->dev));
	if (lfd < 0) {
		r = lfd;
		goto fail_img;
	}
	if (fstat(lfd, &st) < 0) {
		r = -errno;
		goto fail_loop;
	}
	s->maj = major(st.st_rdev);
	s->min = minor(st.st_rdev);
	/* no journal: the throttle should price the workload's I/O, not ext4's */
	char *const mkfs[] = { "mkfs.ext4", "-q", "-F", "-O", "^has_journal",
			       "-E", "nodiscard,lazy_itable_init=0", s->dev, NULL };
	r = hxu_run_prog("mkfs.ext4", mkfs);
	if (r)
		goto fail_loop;
	r = hx_guard_add_mount(s->mnt);
	if (r)
		goto fail_loop;
	if (mkdir(s->mnt, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		goto fail_mnt;
	}
	if (mount(s->dev, s->mnt, "ext4", MS_NOATIME, NULL) < 0) {
		r = -errno;
		rmdir(s->mnt);
		goto fail_mnt;
	}
	close(lfd);	/* the mount holds the device now */
	/* the device keeps the image open: its name can go at once */
	unlink(s->img);
	hx_guard_del_file(s->img);
	hxu_vlog("storage: %s on %s (%u:%u), %" PRIu64 " MiB", s->mnt, s->dev,
		 s->maj, s->min, bytes >> 20);
	*ret = s;
	return 0;

fail_mnt:
	hx_guard_del_mount(s->mnt);
fail_loop:
	ioctl(lfd, LOOP_CLR_FD, 0);
	close(lfd);
fail_img:
	unlink(s->img);
	hx_guard_del_file(s->img);
fail_free:
	free(s);
	return r;
}

const char *hx_storage_dir(const struct hx_storage *s)
{
	return s->mnt;
}

void hx_storage_dev(const struct hx_storage *s, unsigned *ret_maj, unsigned *ret_min)
{
	*ret_maj = s->maj;
	*ret_min = s->min;
}

/*
 * The root group's limits on the device (hx_slice_set_io_limits on v1) would
 * outlive it: the loop device stays, only detached, and its next user would
 * be throttled. 0 removes a limit.
 */
static void clear_root_limits(const struct hx_storage *s)
{
	static const struct hx_io_limits none;
	struct hx_cgroup_info cg;

	if (hx_cgroup_detect(NULL, &cg) < 0 || !cg.blkio_root[0])
		return;
	hxu_blkio_set_limits(cg.blkio_root, s->maj, s->min, &none);
}

int hx_storage_destroy(struct hx_storage *s)
{
	int r = 0;

	if (!s)
		return 0;
	clear_root_limits(s);
	if (umount2(s->mnt, 0) < 0 && umount2(s->mnt, MNT_DETACH) < 0)
		r = -errno;
	else
		hx_guard_del_mount(s->mnt);
	rmdir(s->mnt);
	hxu_vlog("storage: %s removed: %s", s->mnt, r ? strerror(-r) : "ok");
	free(s);
	return r;
}
