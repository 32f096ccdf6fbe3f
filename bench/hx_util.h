/* SPDX-License-Identifier: MIT */
/*
 * hx_util.h - what the harness's source files share beyond harness.h:
 * small file and process helpers, and the few internals one file offers
 * another (defaults, a slice's cgroup.procs files, blkio limits). Not part
 * of the harness API. Return 0 or a negative errno like the rest.
 */
#ifndef AB_HX_UTIL_H
#define AB_HX_UTIL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct hx_io_limits;
struct hx_slice;

#define HXU_DEFAULT_IMAGE_DIR "build/guest"
#define HXU_DEFAULT_QEMU "qemu-system-x86_64"

/* To stderr when hx_set_verbose(true), else nothing. */
__attribute__((format(printf, 1, 2)))
void hxu_vlog(const char *fmt, ...);
void hxu_sleep_ms(unsigned ms);
int hxu_write_all(int fd, const void *buf, size_t len);
/* Read a small file into buf (NUL-terminated). Returns length or -errno. */
ssize_t hxu_read_text(const char *path, char *buf, size_t len);
int hxu_write_text(const char *path, const char *text);
/* A decimal number, or "max" (HX_UNLIMITED). */
int hxu_read_u64_file(const char *path, uint64_t *ret);
/* snprintf that fails with -ENAMETOOLONG instead of cutting. */
__attribute__((format(printf, 3, 4)))
int hxu_fmt_path(char *buf, size_t len, const char *fmt, ...);
/* PROG's full path in buf: as given when it has a '/', else from $PATH
 * (plus the sbin directories). */
bool hxu_find_in_path(const char *prog, char *buf, size_t len);
/* fork + exec PROG ARGV, stdout/stderr to /dev/null unless verbose; 0 when
 * it exits 0, -ENOENT when it cannot be run, -EIO for another exit. */
int hxu_run_prog(const char *prog, char *const argv[]);

/* ---- hx_slice.c ---- */

/*
 * The cgroup.procs files a new member of slice S must be written to: [0]
 * the memory cgroup (a must), [1] the PSI twin (best effort), [2] the blkio
 * twin (a must when the slice's I/O is throttled). "" when there is none.
 * hx_vm_start() has QEMU's child write itself into them before exec.
 */
#define HXU_SLICE_PROCS 3
#define HXU_PROCS_PATH_MAX (PATH_MAX + 32)
void hxu_slice_procs_paths(const struct hx_slice *s,
			   char p[HXU_SLICE_PROCS][HXU_PROCS_PATH_MAX]);

/*
 * v1: write L's four limits on device MAJ:MIN into the blkio.throttle.*
 * files of cgroup DIR (0 removes that limit). Every file is written; the
 * first error is returned.
 */
int hxu_blkio_set_limits(const char *dir, unsigned maj, unsigned min,
			 const struct hx_io_limits *l);

#endif
