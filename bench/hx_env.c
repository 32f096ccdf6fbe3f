/* SPDX-License-Identifier: MIT */
/*
 * hx_env.c - what this host can run guests with (see harness.h): the
 * environment check (root, cgroups, QEMU, image) and the accel probe (KVM
 * if it boots the image, else TCG; cached next to the image).
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
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define ACCEL_PROBE_MS 20000

int hx_accel_detect(const char *image_dir, const char **ret_accel)
{
	const char *env = getenv("AB_ACCEL");
	if (env && (!strcmp(env, "tcg") || !strcmp(env, "kvm"))) {
		*ret_accel = !strcmp(env, "kvm") ? "kvm" : "tcg";
		return 0;
	}
	const char *dir = image_dir ? image_dir : HXU_DEFAULT_IMAGE_DIR;
	char cache[PATH_MAX], lockp[PATH_MAX], buf[16];
	if (hxu_fmt_path(cache, sizeof(cache), "%s/accel", dir) ||
	    hxu_fmt_path(lockp, sizeof(lockp), "%s/accel.lock", dir))
		return -ENAMETOOLONG;
	/* the cache is stale when the kernel is newer than the answer */
	char kpath[PATH_MAX];
	struct stat cst, kst;
	if (hxu_fmt_path(kpath, sizeof(kpath), "%s/vmlinuz", dir) == 0 &&
	    stat(cache, &cst) == 0 && stat(kpath, &kst) == 0 &&
	    kst.st_mtime > cst.st_mtime)
		unlink(cache);
	if (hxu_read_text(cache, buf, sizeof(buf)) > 0) {
		if (!strncmp(buf, "kvm", 3) || !strncmp(buf, "tcg", 3)) {
			*ret_accel = !strncmp(buf, "kvm", 3) ? "kvm" : "tcg";
			return 0;
		}
	}
	int lfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lfd < 0)
		return -errno;
	while (flock(lfd, LOCK_EX) < 0 && errno == EINTR)
		;
	const char *ans = "tcg";
	if (hxu_read_text(cache, buf, sizeof(buf)) > 0 &&
	    (!strncmp(buf, "kvm", 3) || !strncmp(buf, "tcg", 3))) {
		ans = !strncmp(buf, "kvm", 3) ? "kvm" : "tcg";
		goto out;
	}
	int kfd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kfd >= 0) {
		close(kfd);
		/* one name: we hold accel.lock; the log stays for debugging */
		struct hx_vm_opts o = {
			.name = "accel-probe",
			.run_dir = dir,
			.image_dir = dir,
			.accel = "kvm",
			.mem_mib = 256,
			.workload = "idle",
			.driver = HX_DRIVER_NONE,
			.no_balloon = true,
		};
		struct hx_vm *vm;
		uint64_t t0 = hx_now_ms();
		if (hx_vm_start(&o, &vm) == 0) {
			if (hx_vm_wait_line(vm, "AB ready", ACCEL_PROBE_MS,
					    NULL) == 0)
				ans = "kvm";
			hx_vm_destroy(vm);
		}
		hxu_vlog("accel probe: KVM %s after %" PRIu64 " ms",
		     !strcmp(ans, "kvm") ? "boots" : "does not boot",
		     hx_now_ms() - t0);
	}
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", cache);
	int cfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (cfd >= 0) {
		char line[8];
		snprintf(line, sizeof(line), "%s\n", ans);
		hxu_write_all(cfd, line, strlen(line));
		close(cfd);
		rename(tmp, cache);
	}
out:
	close(lfd);
	*ret_accel = ans;
	return 0;
}

int hx_env_check(const char *image_dir, char *why, size_t why_len)
{
	char tmp[1];
	if (!why) {
		why = tmp;
		why_len = sizeof(tmp);
	}
	why[0] = '\0';
	if (geteuid() != 0) {
		snprintf(why, why_len, "not root (cgroups, swap and QEMU in a slice need root)");
		return -EPERM;
	}
	struct hx_cgroup_info cg;
	if (hx_cgroup_detect(NULL, &cg)) {
		snprintf(why, why_len, "no memory cgroup (neither cgroup2 with memory nor v1 memory)");
		return -ENODEV;
	}
	char p[PATH_MAX];
	if (!hxu_find_in_path(HXU_DEFAULT_QEMU, p, sizeof(p))) {
		snprintf(why, why_len, "%s not found", HXU_DEFAULT_QEMU);
		return -ENOENT;
	}
	const char *dir = image_dir ? image_dir : HXU_DEFAULT_IMAGE_DIR;
	if (hxu_fmt_path(p, sizeof(p), "%s/initrd.img", dir) || access(p, R_OK) ||
	    hxu_fmt_path(p, sizeof(p), "%s/vmlinuz", dir) || access(p, R_OK)) {
		snprintf(why, why_len, "no guest image in %.200s (make guest-image)", dir);
		return -ENOENT;
	}
	return 0;
}
