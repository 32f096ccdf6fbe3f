/* SPDX-License-Identifier: MIT */
/*
 * hx_vm_priv.h - struct hx_vm, shared by the harness's VM files only:
 * hx_vm_start.c fills it in, hx_vm.c reads QEMU's serial output into it
 * and waits on it. Not part of the harness API.
 */
#ifndef AB_HX_VM_PRIV_H
#define AB_HX_VM_PRIV_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"

struct hx_vm {
	char name[80];
	char serial[PATH_MAX];
	char qmp[PATH_MAX];
	char log[PATH_MAX];
	char data[PATH_MAX];
	char swap[PATH_MAX];
	char accel[8];
	bool keep_disks;

	pid_t pid;
	int pidfd;
	bool exited;
	int status;

	int serial_fd;
	int ino_fd;
	char *pend;
	size_t pend_len, pend_cap;

	struct hx_line **lines;
	size_t nlines, lines_cap;
	size_t cursor;
	unsigned kernel_issues;

	uint64_t start_ns;
	uint64_t ready_ns;

	hx_line_fn on_line;
	hx_raw_line_fn on_raw_line;
	void *cb_arg;
};

#endif
