/* SPDX-License-Identifier: MIT */
/*
 * harness.h - the autoballoon test harness library (prefix hx_).
 *
 * Used by the integration tests, autoballoon-bench and `make demo` to run test
 * guests (guest/image/) under QEMU inside a memory-limited host slice:
 *
 *   cleanup guard  a forked process that removes everything the program
 *                  registered (QEMU PIDs, cgroups, swap files, files) when the
 *                  program exits for any reason, SIGKILL included
 *   host slice     a memory-limited cgroup (v2, or v1 memory + a cgroup2 twin
 *                  for PSI on hybrid hosts)
 *   swap file      fallocate + mkswap + swapon, swapoff + unlink
 *   VM             QEMU with the test image; serial output parsed into
 *                  "AB <event> key=value ..." lines stamped with the host's
 *                  CLOCK_MONOTONIC time
 *   accel          KVM if it boots the image, else TCG (probed once, cached)
 *   readers        host /proc/vmstat, PSI files, a process's RSS
 *
 * Conventions: functions return 0 or a negative errno; they never print,
 * except to stderr when hx_set_verbose(true). Not thread-safe: use the library
 * from one thread. The harness only ever signals PIDs it started.
 *
 * Typical use:
 *
 *	hx_guard_start();
 *	struct hx_slice *slice;
 *	hx_slice_create("autoballoon-test-1234", 1536ull << 20, &slice);
 *	struct hx_vm_opts o = { .name = "g1", .workload = "spike",
 *		.args = "cache=64,burst=128", .data_disk_mib = 256,
 *		.slice = slice };
 *	struct hx_vm *vm;
 *	hx_vm_start(&o, &vm);
 *	const struct hx_line *l;
 *	if (hx_vm_wait_line(vm, "AB result", 60000, &l) == 0)
 *		use(hx_line_get(l, "runtime_ms"));
 *	hx_vm_wait_exit(vm, 10000, NULL);
 *	hx_vm_destroy(vm);
 *	hx_slice_destroy(slice);
 *	hx_guard_stop();
 */
#ifndef AB_HARNESS_H
#define AB_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HX_MIB ((uint64_t)1 << 20)
#define HX_UNLIMITED UINT64_MAX

/* ---- misc (hx_util.c) ---- */

/* Print what the harness does (and why things fail) to stderr. */
void hx_set_verbose(bool on);
bool hx_verbose(void);

/* mkdir -p (mode 0755); 0 or -errno. */
int hx_mkdir_p(const char *path);

uint64_t hx_now_ns(void);	/* CLOCK_MONOTONIC */
uint64_t hx_now_ms(void);

/* ---- cleanup guard (hx_guard.c) ---- */

/*
 * Fork the guard: a process in its own session that ignores SIGINT, SIGTERM,
 * SIGHUP and SIGPIPE, connected to this process by a socket. Resources
 * registered with hx_guard_add_*() are cleaned up by the guard when this
 * process exits in any way (the socket hits EOF), in this order: SIGKILL the
 * registered PIDs (only if their start time still matches), SIGKILL whatever
 * is left in the registered cgroups and rmdir them, swapoff + unlink the swap
 * files, unlink the files.
 *
 * The slice, swap and VM functions register and unregister their resources
 * automatically; without a guard, registration is a no-op, so start the guard
 * first. After fork(), a child does not share its parent's guard: the
 * connection is closed in the child (pthread_atfork), which may start its own.
 * Returns -EALREADY if this process already has one.
 */
int hx_guard_start(void);

/*
 * Normal exit: close the connection and wait until the guard has cleaned up
 * what is still registered (normally nothing) and exited.
 */
int hx_guard_stop(void);

/* PID of this process's guard, or -1. */
pid_t hx_guard_pid(void);

/* Register / unregister one resource. Paths must be shorter than 3800 bytes;
 * cgroup paths must contain "autoballoon" (the guard refuses others). */
int hx_guard_add_pid(pid_t pid);
int hx_guard_del_pid(pid_t pid);
int hx_guard_add_cgroup(const char *path);
int hx_guard_del_cgroup(const char *path);
int hx_guard_add_swap(const char *path);
int hx_guard_del_swap(const char *path);
int hx_guard_add_file(const char *path);
/* A mount point: unmounted (lazily) and removed after swap and files. */
int hx_guard_add_mount(const char *path);
int hx_guard_del_mount(const char *path);
int hx_guard_del_file(const char *path);

/* ---- cgroups and the host slice (hx_slice.c) ---- */

enum hx_cg_version {
	HX_CG_NONE = 0,
	HX_CG_V1 = 1,	/* memory controller on a v1 hierarchy */
	HX_CG_V2 = 2,	/* pure cgroup2 with the memory controller */
};

struct hx_cgroup_info {
	enum hx_cg_version version;
	char mem_root[512];	/* where memory cgroups are made */
	char psi_root[512];	/* a cgroup2 root for per-slice PSI, or "" */
	char blkio_root[512];	/* v1: the blkio hierarchy (I/O limits), or "" */
};

/*
 * Look at FS_ROOT (NULL = /sys/fs/cgroup): v2 when FS_ROOT/cgroup.controllers
 * lists memory; else v1 when FS_ROOT/memory/memory.limit_in_bytes exists (plus
 * psi_root = FS_ROOT/unified when that is a cgroup2 tree with
 * cgroup.pressure support); else -ENODEV.
 */
int hx_cgroup_detect(const char *fs_root, struct hx_cgroup_info *ret);

/* "autoballoon-TAG-PID" (TAG NULL = "test"). */
void hx_slice_default_name(char *buf, size_t len, const char *tag);

struct hx_slice;

struct hx_slice_stats {
	uint64_t usage_bytes;	/* memory.current / memory.usage_in_bytes */
	uint64_t limit_bytes;	/* HX_UNLIMITED when unlimited */
	uint64_t peak_bytes;	/* memory.peak / max_usage_in_bytes (0 if unknown) */
	uint64_t anon_bytes;	/* memory.stat anon / total_rss */
	uint64_t file_bytes;	/* memory.stat file / total_cache */
	uint64_t swap_bytes;	/* memory.swap.current / total_swap */
	bool has_psi;
	double psi_some_avg10, psi_full_avg10;
	uint64_t psi_some_total_us, psi_full_total_us;
};

/*
 * Create cgroup NAME (must contain "autoballoon") with memory limit
 * limit_bytes (HX_UNLIMITED = none) under the detected hierarchy; on v1 the
 * memory+swap limit stays unlimited. On hybrid hosts a twin cgroup of the
 * same name is made in the cgroup2 tree so the slice has its own
 * memory.pressure. -EEXIST if the cgroup exists, -ENODEV without cgroups.
 */
int hx_slice_create(const char *name, uint64_t limit_bytes,
		    struct hx_slice **ret);
/* Same under an explicit hierarchy (tests, unusual mounts). */
int hx_slice_create_at(const struct hx_cgroup_info *cg, const char *name,
		       uint64_t limit_bytes, struct hx_slice **ret);

/* The memory cgroup directory: what the daemon's config points at. */
const char *hx_slice_path(const struct hx_slice *s);
/* The slice's memory.pressure file (v2: in the cgroup; hybrid: in the
 * cgroup2 twin), or NULL when there is none. */
const char *hx_slice_psi_path(const struct hx_slice *s);
enum hx_cg_version hx_slice_version(const struct hx_slice *s);

/* Change the memory limit at run time (HX_UNLIMITED = none). On v1 the
 * kernel refuses (-EBUSY) a limit it cannot reclaim down to. */
int hx_slice_set_limit(struct hx_slice *s, uint64_t limit_bytes);
/* v2 only: memory.swap.max (HX_UNLIMITED = max); -EOPNOTSUPP on v1. */
int hx_slice_set_swap_limit(struct hx_slice *s, uint64_t bytes);
int hx_slice_usage(const struct hx_slice *s, uint64_t *ret_bytes);
/* Move PID (0 = this process) into the slice (and its PSI twin). */
int hx_slice_add_pid(struct hx_slice *s, pid_t pid);
int hx_slice_stats(const struct hx_slice *s, struct hx_slice_stats *ret);

/* Throttle the slice's I/O to block device MAJ:MIN; 0 = that one unlimited. */
struct hx_io_limits {
	uint64_t read_iops, write_iops;
	uint64_t read_bps, write_bps;
};

/*
 * v2: io.max in the slice (the io controller is enabled in its parent). v1:
 * a blkio twin cgroup of the slice's name with the blkio.throttle.* files;
 * PIDs added to the slice afterwards join it too, so call this before
 * starting anything in the slice. v1 charges swap-out writeback to the root
 * group (memory and blkio are separate hierarchies), so the root group gets
 * the same limits on that device. -EOPNOTSUPP without a blkio hierarchy.
 */
int hx_slice_set_io_limits(struct hx_slice *s, unsigned maj, unsigned min,
			   const struct hx_io_limits *l);

/* I/O on MAJ:MIN counted against the slice's limits (on v1 with everything
 * the root group did on it: swap-out; read it before and after what is not
 * the slice's). Counters only grow. */
struct hx_io_stats {
	uint64_t read_ios, write_ios;
	uint64_t read_bytes, write_bytes;
};
int hx_slice_io_stats(const struct hx_slice *s, unsigned maj, unsigned min,
		      struct hx_io_stats *ret);
/* SIGKILL what is left inside, remove the cgroup(s), free. NULL is fine. */
int hx_slice_destroy(struct hx_slice *s);

/* Low-level: SIGKILL every process in cgroup PATH until it is empty, then
 * rmdir it; waits up to timeout_ms. A missing cgroup is success. */
int hx_cgroup_remove(const char *path, int timeout_ms);

/* ---- host and process readers (hx_readers.c) ---- */

struct hx_vmstat {
	uint64_t pswpin, pswpout;	/* pages */
	uint64_t pgmajfault, oom_kill;
};

/* Read PATH (NULL = /proc/vmstat). Missing keys read 0. */
int hx_vmstat_read(const char *path, struct hx_vmstat *ret);

struct hx_psi {
	double some_avg10, some_avg60, some_avg300;
	double full_avg10, full_avg60, full_avg300;
	uint64_t some_total_us, full_total_us;
};

/* Parse a PSI file (/proc/pressure/memory, a cgroup's memory.pressure). */
int hx_psi_read(const char *path, struct hx_psi *ret);

struct hx_proc_stats {
	uint64_t rss_bytes;	/* VmRSS */
	uint64_t hwm_bytes;	/* VmHWM: peak RSS */
	uint64_t swap_bytes;	/* VmSwap */
	uint64_t cpu_ms;	/* utime + stime */
	uint64_t majflt;	/* major faults: host swap-ins, file page-ins */
};

/* Read /proc/PID/status and /proc/PID/stat. -ESRCH when gone. */
int hx_proc_stats(pid_t pid, struct hx_proc_stats *ret);

/* ---- storage: the bench's throttled disk (hx_storage.c) ---- */

struct hx_storage;

/*
 * A file DIR/storage.img of `bytes` (sparse) attached to a loop device
 * (direct I/O where the backing file system allows it, detached when
 * unmounted), formatted ext4 and mounted on DIR/storage.mnt: swap files and
 * disk images put there all do their I/O through one block device, whose
 * number hx_storage_dev() gives for hx_slice_set_io_limits(). Registered
 * with the guard. -EEXIST when DIR/storage.mnt exists, -ENODEV without
 * loop devices, -ENOENT without mkfs.ext4.
 */
int hx_storage_create(const char *dir, uint64_t bytes, struct hx_storage **ret);
const char *hx_storage_dir(const struct hx_storage *s);	/* the mount point */
void hx_storage_dev(const struct hx_storage *s, unsigned *ret_maj, unsigned *ret_min);
/* Unmount, detach, delete. Files left inside go with it. NULL is fine. */
int hx_storage_destroy(struct hx_storage *s);

/* ---- swap file (hx_swap.c) ---- */

struct hx_swap;

/*
 * Create a swap file of `bytes` at PATH (must not exist): fallocate (or write
 * zeros), mkswap, swapon. Returns -EPERM when swapon is not permitted here
 * (callers skip), -EEXIST if PATH exists. Nothing is left behind on failure.
 */
int hx_swap_create(const char *path, uint64_t bytes, struct hx_swap **ret);
const char *hx_swap_path(const struct hx_swap *s);
/* swapoff + unlink + free. NULL is fine. */
int hx_swap_destroy(struct hx_swap *s);

/* ---- guest output lines (hx_line.c) ---- */

/*
 * One "AB <event> key=value ..." line from a guest. Words without '=' after
 * the event are kept in `text` only. Values never contain spaces.
 */
struct hx_line {
	uint64_t mono_ns;	/* when the harness read it (CLOCK_MONOTONIC) */
	const char *text;	/* the whole line, without line ending */
	const char *event;	/* "ready", "phase", "result", "done", ... */
	size_t nkv;
	const char *const *keys;
	const char *const *vals;
};

/* Parse TEXT (must start with "AB "). -EINVAL otherwise, -ENOMEM. */
int hx_line_parse(const char *text, uint64_t mono_ns, struct hx_line **ret);
void hx_line_free(struct hx_line *l);
/* Value of KEY (first occurrence) or NULL. */
const char *hx_line_get(const struct hx_line *l, const char *key);
/* KEY as a number: -ENOENT if absent, -EINVAL if not a plain decimal u64. */
int hx_line_get_u64(const struct hx_line *l, const char *key, uint64_t *ret);
/* Does the line start with PREFIX followed by a space or the end? */
bool hx_line_matches(const struct hx_line *l, const char *prefix);

/* ---- environment check and accel (hx_env.c) ---- */

/*
 * Can this process run guests in a slice? Checks: root, a usable memory cgroup
 * (v1 or v2), qemu-system-x86_64 in PATH, IMAGE_DIR/vmlinuz and initrd.img
 * (image_dir NULL = "build/guest"). Returns 0, or -EPERM (not root), -ENODEV
 * (no memory cgroup), -ENOENT (no QEMU or no image); `why` (may be NULL) gets
 * a one-line reason. Tests skip (exit 77) on -EPERM and -ENODEV only.
 */
int hx_env_check(const char *image_dir, char *why, size_t why_len);

/*
 * "kvm" or "tcg". $AB_ACCEL (tcg|kvm) wins; else the answer cached in
 * IMAGE_DIR/accel (image_dir NULL = "build/guest"; ignored when older than
 * IMAGE_DIR/vmlinuz); else probe once: boot the
 * image under KVM and wait up to 20 s for "AB ready" (stock guest kernels hang
 * under KVM on some hosts), falling back to TCG, and cache the answer.
 */
int hx_accel_detect(const char *image_dir, const char **ret_accel);

/* ---- VMs (hx_vm_start.c, hx_vm.c) ---- */

enum hx_driver {
	HX_DRIVER_STOCK = 0,	/* virtio_balloon */
	HX_DRIVER_AUTOBALLOON,	/* virtio_autoballoon.ko from the image */
	HX_DRIVER_NONE,		/* no balloon driver: an uncooperative guest */
};

struct hx_vm;

typedef void (*hx_line_fn)(struct hx_vm *vm, const struct hx_line *line,
			   void *arg);
typedef void (*hx_raw_line_fn)(struct hx_vm *vm, const char *text,
			       uint64_t mono_ns, void *arg);

/* Zero means default everywhere, so `struct hx_vm_opts o = { ... }` works. */
struct hx_vm_opts {
	const char *name;	/* file names RUN_DIR/NAME.*; default "vmPID-N" */
	const char *run_dir;	/* default "build/run" (created) */
	const char *image_dir;	/* vmlinux|vmlinuz, initrd.img; default "build/guest" */
	const char *kernel;	/* default IMAGE_DIR/vmlinux (uncompressed, PVH
				 * boot: ~3 s faster under TCG) if present, else
				 * IMAGE_DIR/vmlinuz */
	const char *qemu;	/* default "qemu-system-x86_64" */
	const char *accel;	/* "kvm" / "tcg"; default hx_accel_detect() */
	unsigned mem_mib;	/* default 512 */
	unsigned smp;		/* default 1 */
	unsigned tb_size_mib;	/* TCG translation cache; default 64 */
	/*
	 * Let QEMU back guest RAM with transparent huge pages (it asks for
	 * them with madvise). Default off (PR_SET_THP_DISABLE): a balloon
	 * gives 4 KiB pages back, and inside a huge page they only return to
	 * the host when the kernel splits it under reclaim (deferred split),
	 * so with THP the host sees ballooned memory late.
	 */
	bool thp;

	const char *workload;	/* ab_workload; default "idle" */
	const char *args;	/* ab_args "A,B,C" (no spaces); default none */
	enum hx_driver driver;	/* ab_driver */
	bool guest_swap;	/* ab_swap=1: swapon the swap disk in the guest */
	bool dmesg;		/* ab_dmesg=1: kernel log as "ABK " lines */
	int loglevel;		/* kernel console loglevel; 0 = 2 (panics, oopses) */
	const char *extra_append; /* appended to the kernel command line */

	bool no_balloon;	/* no virtio-balloon device at all */
	bool deflate_on_oom;	/* device property deflate-on-oom=on */
	bool free_page_reporting; /* device property free-page-reporting=on */
	unsigned stats_interval_s; /* guest-stats-polling-interval, 0 = off */

	unsigned data_disk_mib;	/* raw data disk (serial abdata), 0 = none */
	bool data_fill;		/* fill it with pseudo-random bytes (default:
				 * sparse, reads as zeros) */
	unsigned swap_disk_mib;	/* raw swap disk (serial abswap), 0 = none */
	const char *disk_dir;	/* where the disk files go; default run_dir */
	const char *disk_cache;	/* QEMU cache= mode; default "none" when
				 * O_DIRECT works in run_dir, else "writeback" */
	bool keep_disks;	/* do not delete the disk files on destroy */

	struct hx_slice *slice;	/* start QEMU inside this slice */
	const char *const *extra_args; /* NULL-terminated extra QEMU arguments */

	hx_line_fn on_line;	/* called for every new AB line */
	hx_raw_line_fn on_raw_line; /* called for every serial line */
	void *cb_arg;
};

/*
 * Create the disks, fork, move the child into the slice, exec QEMU:
 *   qemu-system-x86_64 -name NAME -nodefaults -no-user-config -display none
 *     -no-reboot -m MEM -smp N -accel tcg,tb-size=64 | -accel kvm
 *     -kernel IMAGE/vmlinux -initrd IMAGE/initrd.img -append "console=ttyS0
 *     panic=-1 loglevel=2 ab_workload=... ab_driver=..."
 *     -serial file:RUN/NAME.serial -qmp unix:RUN/NAME.qmp,server=on,wait=off
 *     -device virtio-balloon-pci,id=balloon0,deflate-on-oom=..,free-page-reporting=..
 *     -drive file=RUN/NAME.data,format=raw,if=none,id=abdata,cache=..
 *     -device virtio-blk-pci,drive=abdata,serial=abdata  (same for abswap)
 * QEMU's stdout/stderr go to RUN/NAME.log. The child gets SIGKILL when this
 * process dies (PR_SET_PDEATHSIG) and the PID is registered with the guard.
 * Returns -ENOENT when QEMU cannot be executed, -EINVAL for bad options.
 */
int hx_vm_start(const struct hx_vm_opts *opts, struct hx_vm **ret);

/*
 * Read new serial output, parse complete lines, run the callbacks, and reap
 * QEMU if it exited (the output is drained after the exit is seen, so no line
 * is lost). Returns the number of new AB lines, or a negative errno.
 */
int hx_vm_poll(struct hx_vm *vm);

/* An fd that becomes readable when there may be new output (inotify on the
 * serial file), for poll/epoll loops; -1 if unavailable (then poll every
 * ~50 ms). Call hx_vm_poll() when it is readable. */
int hx_vm_poll_fd(const struct hx_vm *vm);

/* Wait up to timeout_ms until any of the VMs has new output or exits, then
 * hx_vm_poll() each. Returns the total number of new AB lines (0 on timeout). */
int hx_vms_wait(struct hx_vm *const *vms, size_t n, int timeout_ms);

/*
 * Wait for the next line matching PREFIX (e.g. "AB done", "AB phase
 * name=burst-touched") after the line the previous hx_vm_wait_line() returned
 * (a cursor; hx_vm_find_line() searches all lines). -ETIMEDOUT, or -ESRCH when
 * QEMU exited without printing it. *ret (may be NULL) stays valid until
 * hx_vm_destroy().
 */
int hx_vm_wait_line(struct hx_vm *vm, const char *prefix, int timeout_ms,
		    const struct hx_line **ret);

/* First line at index >= from matching PREFIX, or NULL; *ret_index (may be
 * NULL) gets its index. No waiting, no polling. */
const struct hx_line *hx_vm_find_line(const struct hx_vm *vm,
				      const char *prefix, size_t from,
				      size_t *ret_index);
size_t hx_vm_line_count(const struct hx_vm *vm);
const struct hx_line *hx_vm_line(const struct hx_vm *vm, size_t i);

/* "ABK " lines (with ab_dmesg=1) that look like kernel trouble: WARNING:,
 * BUG:, Oops, Call Trace, Kernel panic, general protection fault, ... */
unsigned hx_vm_kernel_issues(const struct hx_vm *vm);

/* Wait for QEMU to exit. *ret_status (may be NULL) gets the waitpid status.
 * 0, or -ETIMEDOUT. */
int hx_vm_wait_exit(struct hx_vm *vm, int timeout_ms, int *ret_status);
/* Has QEMU exited (after the last poll)? */
bool hx_vm_exited(const struct hx_vm *vm, int *ret_status);

/* SIGKILL QEMU (if still running) and reap it. */
int hx_vm_kill(struct hx_vm *vm);

/* Kill if needed, reap, delete the disks (unless keep_disks) and the QMP
 * socket, free. The serial log and QEMU log stay in run_dir. NULL is fine. */
void hx_vm_destroy(struct hx_vm *vm);

/* QEMU's RSS, peak RSS, swap and CPU time (hx_proc_stats of its PID);
 * -ESRCH once it exited. */
int hx_vm_stats(const struct hx_vm *vm, struct hx_proc_stats *ret);

pid_t hx_vm_pid(const struct hx_vm *vm);
const char *hx_vm_name(const struct hx_vm *vm);
const char *hx_vm_qmp_path(const struct hx_vm *vm);
const char *hx_vm_serial_path(const struct hx_vm *vm);
const char *hx_vm_accel(const struct hx_vm *vm);
uint64_t hx_vm_start_ns(const struct hx_vm *vm);	/* when QEMU was started */
/* Milliseconds from start to "AB ready", or -1 when not seen (yet). */
int64_t hx_vm_boot_ms(const struct hx_vm *vm);
/* Wait until the QMP socket exists (QEMU has set up its monitor). */
int hx_vm_wait_qmp(struct hx_vm *vm, int timeout_ms);

#endif
