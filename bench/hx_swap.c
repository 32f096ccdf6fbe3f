/* SPDX-License-Identifier: MIT */
/*
 * hx_swap.c - a host swap file (see harness.h): fallocate (or zeros),
 * mkswap, swapon; swapoff and unlink. Registered with the guard.
 */
#include "harness.h"
#include "hx_util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/swap.h>
#include <unistd.h>

struct hx_swap {
	char path[PATH_MAX];
};

static int fill_zero(int fd, uint64_t bytes)
{
	static const char zero[1 << 16];
	for (uint64_t off = 0; off < bytes;) {
		size_t n = bytes - off < sizeof(zero) ? (size_t)(bytes - off)
						       : sizeof(zero);
		ssize_t w = pwrite(fd, zero, n, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (uint64_t)w;
	}
	return fdatasync(fd) < 0 ? -errno : 0;
}

static int swap_prepare(const char *path, uint64_t bytes, bool zero)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = 0;
	if (zero || fallocate(fd, 0, 0, (off_t)bytes) < 0)
		r = fill_zero(fd, bytes);
	close(fd);
	if (r)
		return r;
	char *const argv[] = { (char *)(uintptr_t)"mkswap",
			       (char *)(uintptr_t)"-q",
			       (char *)(uintptr_t)path, NULL };
	return hxu_run_prog("mkswap", argv);
}

int hx_swap_create(const char *path, uint64_t bytes, struct hx_swap **ret)
{
	if (bytes < 64 * 1024)
		return -EINVAL;
	struct hx_swap *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	int r = hxu_fmt_path(s->path, sizeof(s->path), "%s", path);
	if (r)
		goto fail_free;
	r = hx_guard_add_swap(s->path);
	if (r)
		goto fail_free;
	int fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		hx_guard_del_swap(s->path);
		goto fail_free;
	}
	close(fd);
	r = swap_prepare(s->path, bytes, false);
	if (r)
		goto fail_unlink;
	if (swapon(s->path, 0) < 0) {
		r = -errno;
		if (r == -EINVAL) {	/* some filesystems want real blocks */
			r = swap_prepare(s->path, bytes, true);
			if (!r && swapon(s->path, 0) < 0)
				r = -errno;
		}
		if (r)
			goto fail_unlink;
	}
	hxu_vlog("swap %s: %" PRIu64 " MiB on", s->path, bytes / HX_MIB);
	*ret = s;
	return 0;

fail_unlink:
	unlink(s->path);
	hx_guard_del_swap(s->path);
fail_free:
	hxu_vlog("swap %s: %s", path, strerror(-r));
	free(s);
	return r;
}

const char *hx_swap_path(const struct hx_swap *s)
{
	return s->path;
}

int hx_swap_destroy(struct hx_swap *s)
{
	if (!s)
		return 0;
	int r = 0;
	if (swapoff(s->path) < 0 && errno != EINVAL && errno != ENOENT)
		r = -errno;
	if (unlink(s->path) < 0 && errno != ENOENT && !r)
		r = -errno;
	if (!r)
		hx_guard_del_swap(s->path);
	hxu_vlog("swap %s removed: %s", s->path, r ? strerror(-r) : "ok");
	free(s);
	return r;
}
