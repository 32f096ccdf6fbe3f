/* SPDX-License-Identifier: MIT */
/*
 * hx_util.h - helpers shared by the harness's source files (not part of the
 * harness API in harness.h). Return 0 or a negative errno like the rest.
 */
#ifndef AB_HX_UTIL_H
#define AB_HX_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

#endif
