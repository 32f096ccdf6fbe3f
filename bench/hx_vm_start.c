/* SPDX-License-Identifier: MIT */
/*
 * hx_vm_start.c - hx_vm_start() (see harness.h): check the options, make
 * the run files and disks, build QEMU's command line, fork, move the child
 * into the slice and exec QEMU.
 */
#include "harness.h"
#include "hx_util.h"
#include "hx_vm_priv.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_RUN_DIR "build/run"

static unsigned vm_counter;

static bool valid_word(const char *s, bool allow_comma_eq)
{
	if (!s || !s[0] || strlen(s) > 1000)
		return false;
	for (const char *c = s; *c; c++) {
		if (isalnum((unsigned char)*c) || *c == '-' || *c == '_' ||
		    *c == '.')
			continue;
		if (allow_comma_eq && (*c == ',' || *c == '=' || *c == ':' ||
				       *c == '/' || *c == '+'))
			continue;
		return false;
	}
	return true;
}

struct argv_b {
	char **v;
	size_t n, cap;
	bool oom;
};

__attribute__((format(printf, 2, 3)))
static void argv_add(struct argv_b *a, const char *fmt, ...)
{
	if (a->oom)
		return;
	if (a->n + 2 > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		char **nv = realloc(a->v, cap * sizeof(char *));
		if (!nv) {
			a->oom = true;
			return;
		}
		a->v = nv;
		a->cap = cap;
	}
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s) {
		a->oom = true;
		return;
	}
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

static void argv_free(struct argv_b *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
}

/* Create a raw disk of `mib` MiB (sparse, or filled with a pattern). */
static int make_disk(const char *path, unsigned mib, bool fill)
{
	int r = hx_guard_add_file(path);
	if (r)
		return r;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	uint64_t bytes = (uint64_t)mib * HX_MIB;
	if (ftruncate(fd, (off_t)bytes) < 0) {
		r = -errno;
		goto out;
	}
	if (fill) {
		static uint64_t buf[HX_MIB / sizeof(uint64_t)];
		uint64_t x = 0x9e3779b97f4a7c15ull ^ mib;
		for (uint64_t off = 0; off < bytes; off += HX_MIB) {
			for (size_t i = 0; i < HX_MIB / sizeof(uint64_t); i++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				buf[i] = x;
			}
			if (pwrite(fd, buf, HX_MIB, (off_t)off) != (ssize_t)HX_MIB) {
				r = errno ? -errno : -EIO;
				goto out;
			}
		}
		fdatasync(fd);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	}
out:
	close(fd);
	return r;
}

static bool odirect_works(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static const char *driver_name(enum hx_driver d)
{
	switch (d) {
	case HX_DRIVER_STOCK:
		return "stock";
	case HX_DRIVER_AUTOBALLOON:
		return "autoballoon";
	case HX_DRIVER_NONE:
		return "none";
	}
	return "stock";
}

static int vm_build_argv(const struct hx_vm_opts *o, struct hx_vm *vm,
			 const char *image_dir, const char *kernel,
			 const char *qemu, const char *cache_mode,
			 struct argv_b *a)
{
	unsigned mem = o->mem_mib ? o->mem_mib : 512;
	unsigned smp = o->smp ? o->smp : 1;
	unsigned tb = o->tb_size_mib ? o->tb_size_mib : 64;
	int loglevel = o->loglevel ? o->loglevel : 2;

	argv_add(a, "%s", qemu);
	argv_add(a, "-name");
	argv_add(a, "guest=%s,process=qemu-%s", vm->name, vm->name);
	argv_add(a, "-nodefaults");
	argv_add(a, "-no-user-config");
	argv_add(a, "-display");
	argv_add(a, "none");
	argv_add(a, "-no-reboot");
	argv_add(a, "-m");
	argv_add(a, "%u", mem);
	argv_add(a, "-smp");
	argv_add(a, "%u", smp);
	argv_add(a, "-accel");
	if (!strcmp(vm->accel, "kvm"))
		argv_add(a, "kvm");
	else
		argv_add(a, "tcg,tb-size=%u", tb);
	argv_add(a, "-kernel");
	argv_add(a, "%s", kernel);
	argv_add(a, "-initrd");
	argv_add(a, "%s/initrd.img", image_dir);
	argv_add(a, "-append");
	argv_add(a, "console=ttyS0 panic=-1 loglevel=%d ab_workload=%s "
		 "ab_driver=%s%s%s%s%s%s%s", loglevel,
		 o->workload ? o->workload : "idle", driver_name(o->driver),
		 o->args ? " ab_args=" : "", o->args ? o->args : "",
		 o->guest_swap ? " ab_swap=1" : "",
		 o->dmesg ? " ab_dmesg=1" : "",
		 o->extra_append ? " " : "",
		 o->extra_append ? o->extra_append : "");
	argv_add(a, "-serial");
	argv_add(a, "file:%s", vm->serial);
	argv_add(a, "-qmp");
	argv_add(a, "unix:%s,server=on,wait=off", vm->qmp);
	if (!o->no_balloon) {
		argv_add(a, "-device");
		char extra[64] = "";
		if (o->stats_interval_s)
			snprintf(extra, sizeof(extra),
				 ",guest-stats-polling-interval=%u",
				 o->stats_interval_s);
		argv_add(a, "virtio-balloon-pci,id=balloon0,deflate-on-oom=%s,"
			 "free-page-reporting=%s%s",
			 o->deflate_on_oom ? "on" : "off",
			 o->free_page_reporting ? "on" : "off", extra);
	}
	const char *disks[2][2] = { { vm->data, "abdata" },
				    { vm->swap, "abswap" } };
	for (int i = 0; i < 2; i++) {
		if (!disks[i][0][0])
			continue;
		argv_add(a, "-drive");
		argv_add(a, "file=%s,format=raw,if=none,id=%s,cache=%s%s",
			 disks[i][0], disks[i][1], cache_mode,
			 !strcmp(cache_mode, "none") ? ",aio=threads" : "");
		argv_add(a, "-device");
		argv_add(a, "virtio-blk-pci,drive=%s,serial=%s", disks[i][1],
			 disks[i][1]);
	}
	for (const char *const *e = o->extra_args; e && *e; e++)
		argv_add(a, "%s", *e);
	return a->oom ? -ENOMEM : 0;
}

int hx_vm_start(const struct hx_vm_opts *o, struct hx_vm **ret)
{
	const char *run_dir = o->run_dir ? o->run_dir : DEFAULT_RUN_DIR;
	const char *image_dir = o->image_dir ? o->image_dir : HXU_DEFAULT_IMAGE_DIR;
	const char *qemu = o->qemu ? o->qemu : HXU_DEFAULT_QEMU;
	char path[PATH_MAX];
	int r;

	if (o->workload && !valid_word(o->workload, false))
		return -EINVAL;
	if (o->args && !valid_word(o->args, true))
		return -EINVAL;
	if (o->extra_append && (strchr(o->extra_append, '"') ||
				strchr(o->extra_append, '\n')))
		return -EINVAL;
	if (o->guest_swap && !o->swap_disk_mib)
		return -EINVAL;
	char kernel[PATH_MAX];
	if (o->kernel) {
		if (hxu_fmt_path(kernel, sizeof(kernel), "%s", o->kernel))
			return -ENAMETOOLONG;
	} else if (hxu_fmt_path(kernel, sizeof(kernel), "%s/vmlinux", image_dir) ||
		   access(kernel, R_OK) < 0) {
		/* no PVH-bootable ELF: the bzImage (decompresses itself) */
		if (hxu_fmt_path(kernel, sizeof(kernel), "%s/vmlinuz", image_dir))
			return -ENAMETOOLONG;
	}
	if (access(kernel, R_OK) < 0)
		return -ENOENT;
	if (hxu_fmt_path(path, sizeof(path), "%s/initrd.img", image_dir) ||
	    access(path, R_OK) < 0)
		return -ENOENT;

	struct hx_vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->pid = -1;
	vm->pidfd = -1;
	vm->serial_fd = -1;
	vm->ino_fd = -1;
	vm->keep_disks = o->keep_disks;
	vm->on_line = o->on_line;
	vm->on_raw_line = o->on_raw_line;
	vm->cb_arg = o->cb_arg;
	if (o->name)
		snprintf(vm->name, sizeof(vm->name), "%s", o->name);
	else
		snprintf(vm->name, sizeof(vm->name), "vm%d-%u", (int)getpid(),
			 vm_counter++);
	if (!valid_word(vm->name, false) || strlen(o->name ? o->name : "") >= 64) {
		free(vm);
		return -EINVAL;
	}

	struct argv_b a = { 0 };
	int logfd = -1, errpipe[2] = { -1, -1 };
	r = hx_mkdir_p(run_dir);
	if (r)
		goto fail;
	if (hxu_fmt_path(vm->serial, sizeof(vm->serial), "%s/%s.serial", run_dir, vm->name) ||
	    hxu_fmt_path(vm->qmp, sizeof(vm->qmp), "%s/%s.qmp", run_dir, vm->name) ||
	    hxu_fmt_path(vm->log, sizeof(vm->log), "%s/%s.log", run_dir, vm->name)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	if (strlen(vm->qmp) >= 108) {	/* sun_path */
		r = -ENAMETOOLONG;
		goto fail;
	}
	unlink(vm->qmp);
	r = hx_guard_add_file(vm->qmp);
	if (r)
		goto fail;

	const char *accel = o->accel;
	if (!accel) {
		r = hx_accel_detect(image_dir, &accel);
		if (r)
			goto fail;
	}
	snprintf(vm->accel, sizeof(vm->accel), "%s", accel);

	const char *cache_mode = o->disk_cache;
	const char *disk_dir = o->disk_dir ? o->disk_dir : run_dir;
	if (o->data_disk_mib) {
		if (hxu_fmt_path(vm->data, sizeof(vm->data), "%s/%s.data", disk_dir, vm->name)) {
			r = -ENAMETOOLONG;
			goto fail;
		}
		r = make_disk(vm->data, o->data_disk_mib, o->data_fill);
		if (r)
			goto fail;
		if (!cache_mode)
			cache_mode = odirect_works(vm->data) ? "none" : "writeback";
	}
	if (o->swap_disk_mib) {
		if (hxu_fmt_path(vm->swap, sizeof(vm->swap), "%s/%s.swap", disk_dir, vm->name)) {
			r = -ENAMETOOLONG;
			goto fail;
		}
		r = make_disk(vm->swap, o->swap_disk_mib, false);
		if (r)
			goto fail;
		if (!cache_mode)
			cache_mode = odirect_works(vm->swap) ? "none" : "writeback";
	}
	if (!cache_mode)
		cache_mode = "none";

	r = vm_build_argv(o, vm, image_dir, kernel, qemu, cache_mode, &a);
	if (r)
		goto fail;

	/* serial file: created here so our reader and inotify see QEMU's writes */
	int sfd = open(vm->serial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (sfd < 0) {
		r = -errno;
		goto fail;
	}
	close(sfd);
	vm->serial_fd = open(vm->serial, O_RDONLY | O_CLOEXEC);
	if (vm->serial_fd < 0) {
		r = -errno;
		goto fail;
	}
	vm->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (vm->ino_fd >= 0 &&
	    inotify_add_watch(vm->ino_fd, vm->serial, IN_MODIFY) < 0) {
		close(vm->ino_fd);
		vm->ino_fd = -1;
	}
	logfd = open(vm->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd < 0) {
		r = -errno;
		goto fail;
	}
	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}

	char procs[HXU_SLICE_PROCS][HXU_PROCS_PATH_MAX] = { "", "", "" };
	if (o->slice)
		hxu_slice_procs_paths(o->slice, procs);
	char qemu_path[PATH_MAX];
	if (!hxu_find_in_path(qemu, qemu_path, sizeof(qemu_path))) {
		r = -ENOENT;
		goto fail;
	}
	if (hx_verbose()) {
		fprintf(stderr, "hx[%d]: vm %s:", (int)getpid(), vm->name);
		for (size_t i = 0; i < a.n; i++)
			fprintf(stderr, " %s", a.v[i]);
		fputc('\n', stderr);
	}

	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		r = -errno;
		goto fail;
	}
	if (pid == 0) {
		int err = 0;
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		/* See hx_vm_opts.thp: no THP for guest RAM unless asked. */
		if (!o->thp)
			prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
		if (getppid() != parent)
			_exit(127);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		const int sigs[] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD };
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		for (int i = 0; i < HXU_SLICE_PROCS; i++) {
			if (!procs[i][0])
				continue;
			int fd = open(procs[i], O_WRONLY | O_CLOEXEC);
			if (fd < 0 || write(fd, "0", 1) != 1) {
				if (i != 1) {	/* only the PSI twin is optional */
					err = errno ? errno : EIO;
					(void)!write(errpipe[1], &err, sizeof(err));
					_exit(127);
				}
			}
			if (fd >= 0)
				close(fd);
		}
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		execv(qemu_path, a.v);
		err = errno;
		(void)!write(errpipe[1], &err, sizeof(err));
		_exit(127);
	}
	vm->start_ns = hx_now_ns();
	vm->pid = pid;
	close(errpipe[1]);
	errpipe[1] = -1;
	int reg = hx_guard_add_pid(pid);
	int cerr = 0;
	ssize_t n;
	while ((n = read(errpipe[0], &cerr, sizeof(cerr))) < 0 && errno == EINTR)
		;
	if (n > 0 || reg) {
		if (n <= 0)
			kill(pid, SIGKILL);
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		hx_guard_del_pid(pid);
		vm->pid = -1;
		r = n > 0 ? -cerr : reg;
		goto fail;
	}
	vm->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	close(errpipe[0]);
	close(logfd);
	argv_free(&a);
	hxu_vlog("vm %s: pid %d, accel %s", vm->name, (int)pid, vm->accel);
	*ret = vm;
	return 0;

fail:
	hxu_vlog("vm %s: start failed: %s", vm->name, strerror(-r));
	argv_free(&a);
	if (logfd >= 0)
		close(logfd);
	if (errpipe[0] >= 0)
		close(errpipe[0]);
	if (errpipe[1] >= 0)
		close(errpipe[1]);
	if (vm->serial_fd >= 0)
		close(vm->serial_fd);
	if (vm->ino_fd >= 0)
		close(vm->ino_fd);
	const char *files[3] = { vm->data, vm->swap, vm->qmp };
	for (int i = 0; i < 3; i++) {
		if (files[i][0]) {
			unlink(files[i]);
			hx_guard_del_file(files[i]);
		}
	}
	free(vm);
	return r;
}
