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

/* The options hx_vm_start() refuses before it does anything. */
static int vm_check_opts(const struct hx_vm_opts *o)
{
	if (o->workload && !valid_word(o->workload, false))
		return -EINVAL;
	if (o->args && !valid_word(o->args, true))
		return -EINVAL;
	if (o->extra_append && (strchr(o->extra_append, '"') ||
				strchr(o->extra_append, '\n')))
		return -EINVAL;
	if (o->guest_swap && !o->swap_disk_mib)
		return -EINVAL;
	return 0;
}

/* The kernel to boot into `kernel` (see hx_vm_opts.kernel); it and
 * IMAGE_DIR/initrd.img must be readable. */
static int vm_find_image(const struct hx_vm_opts *o, const char *image_dir,
			 char *kernel, size_t len)
{
	char path[PATH_MAX];

	if (o->kernel) {
		if (hxu_fmt_path(kernel, len, "%s", o->kernel))
			return -ENAMETOOLONG;
	} else if (hxu_fmt_path(kernel, len, "%s/vmlinux", image_dir) ||
		   access(kernel, R_OK) < 0) {
		/* no PVH-bootable ELF: the bzImage (decompresses itself) */
		if (hxu_fmt_path(kernel, len, "%s/vmlinuz", image_dir))
			return -ENAMETOOLONG;
	}
	if (access(kernel, R_OK) < 0)
		return -ENOENT;
	if (hxu_fmt_path(path, sizeof(path), "%s/initrd.img", image_dir) ||
	    access(path, R_OK) < 0)
		return -ENOENT;
	return 0;
}

/* A VM with nothing open yet, named o->name or "vmPID-N". */
static int vm_new(const struct hx_vm_opts *o, struct hx_vm **ret)
{
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
	*ret = vm;
	return 0;
}

/* RUN_DIR/NAME.serial, .qmp, .log; the QMP socket is registered with the
 * guard (QEMU creates it). */
static int vm_set_paths(struct hx_vm *vm, const char *run_dir)
{
	int r = hx_mkdir_p(run_dir);
	if (r)
		return r;
	if (hxu_fmt_path(vm->serial, sizeof(vm->serial), "%s/%s.serial", run_dir, vm->name) ||
	    hxu_fmt_path(vm->qmp, sizeof(vm->qmp), "%s/%s.qmp", run_dir, vm->name) ||
	    hxu_fmt_path(vm->log, sizeof(vm->log), "%s/%s.log", run_dir, vm->name))
		return -ENAMETOOLONG;
	if (strlen(vm->qmp) >= 108)	/* sun_path */
		return -ENAMETOOLONG;
	unlink(vm->qmp);
	return hx_guard_add_file(vm->qmp);
}

static int vm_set_accel(const struct hx_vm_opts *o, const char *image_dir,
			struct hx_vm *vm)
{
	const char *accel = o->accel;
	if (!accel) {
		int r = hx_accel_detect(image_dir, &accel);
		if (r)
			return r;
	}
	snprintf(vm->accel, sizeof(vm->accel), "%s", accel);
	return 0;
}

/* The data and swap disks in DISK_DIR; *ret_cache gets QEMU's cache mode
 * for them (o->disk_cache, else "none" where O_DIRECT works). */
static int vm_make_disks(const struct hx_vm_opts *o, struct hx_vm *vm,
			 const char *disk_dir, const char **ret_cache)
{
	const char *cache_mode = o->disk_cache;
	int r;

	if (o->data_disk_mib) {
		if (hxu_fmt_path(vm->data, sizeof(vm->data), "%s/%s.data", disk_dir, vm->name))
			return -ENAMETOOLONG;
		r = make_disk(vm->data, o->data_disk_mib, o->data_fill);
		if (r)
			return r;
		if (!cache_mode)
			cache_mode = odirect_works(vm->data) ? "none" : "writeback";
	}
	if (o->swap_disk_mib) {
		if (hxu_fmt_path(vm->swap, sizeof(vm->swap), "%s/%s.swap", disk_dir, vm->name))
			return -ENAMETOOLONG;
		r = make_disk(vm->swap, o->swap_disk_mib, false);
		if (r)
			return r;
		if (!cache_mode)
			cache_mode = odirect_works(vm->swap) ? "none" : "writeback";
	}
	*ret_cache = cache_mode ? cache_mode : "none";
	return 0;
}

/* The serial file: created here so our reader and inotify see QEMU's writes. */
static int vm_open_serial(struct hx_vm *vm)
{
	int sfd = open(vm->serial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (sfd < 0)
		return -errno;
	close(sfd);
	vm->serial_fd = open(vm->serial, O_RDONLY | O_CLOEXEC);
	if (vm->serial_fd < 0)
		return -errno;
	vm->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (vm->ino_fd >= 0 &&
	    inotify_add_watch(vm->ino_fd, vm->serial, IN_MODIFY) < 0) {
		close(vm->ino_fd);
		vm->ino_fd = -1;
	}
	return 0;
}

/* What the child needs to become QEMU, all prepared before fork(). */
struct vm_launch {
	struct argv_b argv;
	char qemu_path[PATH_MAX];
	char procs[HXU_SLICE_PROCS][HXU_PROCS_PATH_MAX];	/* "" = none */
	int logfd;		/* QEMU's stdout and stderr */
	int errpipe[2];		/* the child's errno when it cannot exec QEMU */
	bool thp;
	pid_t parent;
};

static int vm_launch_prepare(const struct hx_vm_opts *o, const struct hx_vm *vm,
			     const char *qemu, struct vm_launch *l)
{
	l->logfd = open(vm->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (l->logfd < 0)
		return -errno;
	if (pipe2(l->errpipe, O_CLOEXEC) < 0)
		return -errno;
	if (o->slice)
		hxu_slice_procs_paths(o->slice, l->procs);
	if (!hxu_find_in_path(qemu, l->qemu_path, sizeof(l->qemu_path)))
		return -ENOENT;
	l->thp = o->thp;
	return 0;
}

static void vm_launch_close(struct vm_launch *l)
{
	argv_free(&l->argv);
	if (l->logfd >= 0)
		close(l->logfd);
	if (l->errpipe[0] >= 0)
		close(l->errpipe[0]);
	if (l->errpipe[1] >= 0)
		close(l->errpipe[1]);
}

/* The child: into the slice, stdio to the log, exec QEMU. Why it failed
 * (an errno) goes up the error pipe. */
__attribute__((noreturn))
static void vm_exec_child(const struct vm_launch *l)
{
	int err = 0;
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	/* See hx_vm_opts.thp: no THP for guest RAM unless asked. */
	if (!l->thp)
		prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	if (getppid() != l->parent)
		_exit(127);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	const int sigs[] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	for (int i = 0; i < HXU_SLICE_PROCS; i++) {
		if (!l->procs[i][0])
			continue;
		int fd = open(l->procs[i], O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0", 1) != 1) {
			if (i != 1) {	/* only the PSI twin is optional */
				err = errno ? errno : EIO;
				(void)!write(l->errpipe[1], &err, sizeof(err));
				_exit(127);
			}
		}
		if (fd >= 0)
			close(fd);
	}
	int nul = open("/dev/null", O_RDONLY);
	if (nul >= 0)
		dup2(nul, 0);
	dup2(l->logfd, 1);
	dup2(l->logfd, 2);
	execv(l->qemu_path, l->argv.v);
	err = errno;
	(void)!write(l->errpipe[1], &err, sizeof(err));
	_exit(127);
}

/*
 * The parent, after fork(): register the PID with the guard and wait until
 * the error pipe closes (QEMU was exec'd) or brings the child's errno. On
 * failure the child is reaped and vm->pid is -1 again.
 */
static int vm_wait_exec(struct hx_vm *vm, struct vm_launch *l)
{
	pid_t pid = vm->pid;
	close(l->errpipe[1]);
	l->errpipe[1] = -1;
	int reg = hx_guard_add_pid(pid);
	int cerr = 0;
	ssize_t n;
	while ((n = read(l->errpipe[0], &cerr, sizeof(cerr))) < 0 && errno == EINTR)
		;
	if (n > 0 || reg) {
		if (n <= 0)
			kill(pid, SIGKILL);
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		hx_guard_del_pid(pid);
		vm->pid = -1;
		return n > 0 ? -cerr : reg;
	}
	return 0;
}

static int vm_spawn(struct hx_vm *vm, struct vm_launch *l)
{
	if (hx_verbose()) {
		fprintf(stderr, "hx[%d]: vm %s:", (int)getpid(), vm->name);
		for (size_t i = 0; i < l->argv.n; i++)
			fprintf(stderr, " %s", l->argv.v[i]);
		fputc('\n', stderr);
	}
	l->parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		vm_exec_child(l);
	vm->start_ns = hx_now_ns();
	vm->pid = pid;
	int r = vm_wait_exec(vm, l);
	if (r)
		return r;
	vm->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	return 0;
}

/* A start that failed: close what is open, remove the files made, free. */
static void vm_discard(struct hx_vm *vm)
{
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
}

int hx_vm_start(const struct hx_vm_opts *o, struct hx_vm **ret)
{
	const char *run_dir = o->run_dir ? o->run_dir : DEFAULT_RUN_DIR;
	const char *image_dir = o->image_dir ? o->image_dir : HXU_DEFAULT_IMAGE_DIR;
	const char *qemu = o->qemu ? o->qemu : HXU_DEFAULT_QEMU;
	struct vm_launch l = { .logfd = -1, .errpipe = { -1, -1 } };
	const char *cache_mode = NULL;
	struct hx_vm *vm = NULL;
	char kernel[PATH_MAX];
	int r;

	r = vm_check_opts(o);
	if (!r)
		r = vm_find_image(o, image_dir, kernel, sizeof(kernel));
	if (!r)
		r = vm_new(o, &vm);
	if (r)
		return r;

	r = vm_set_paths(vm, run_dir);
	if (!r)
		r = vm_set_accel(o, image_dir, vm);
	if (!r)
		r = vm_make_disks(o, vm, o->disk_dir ? o->disk_dir : run_dir, &cache_mode);
	if (!r)
		r = vm_build_argv(o, vm, image_dir, kernel, qemu, cache_mode, &l.argv);
	if (!r)
		r = vm_open_serial(vm);
	if (!r)
		r = vm_launch_prepare(o, vm, qemu, &l);
	if (!r)
		r = vm_spawn(vm, &l);
	vm_launch_close(&l);
	if (r) {
		hxu_vlog("vm %s: start failed: %s", vm->name, strerror(-r));
		vm_discard(vm);
		return r;
	}
	hxu_vlog("vm %s: pid %d, accel %s", vm->name, (int)vm->pid, vm->accel);
	*ret = vm;
	return 0;
}
