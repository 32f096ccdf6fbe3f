/* SPDX-License-Identifier: MIT */
/*
 * itest.h - small helpers for the integration tests. Starting autoballoond
 * under the guard and its control socket are in the harness library
 * (bench/hx_daemon.h: hx_daemon_*, hx_ctl_*), shared with autoballoon-bench.
 */
#ifndef AB_ITEST_H
#define AB_ITEST_H

#include <stddef.h>

/* Absolute path of a file in the build directory (e.g. "asan/autoballoond"). */
const char *itest_build_path(const char *rel, char *buf, size_t len);

#endif
