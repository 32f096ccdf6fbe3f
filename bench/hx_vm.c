/* SPDX-License-Identifier: MIT */
/*
 * hx_vm.c - a running guest (see harness.h): QEMU's serial output read and
 * parsed into AB lines, waiting for lines or the exit, kill, destroy, and
 * the accessors. hx_vm_start.c starts it.
 */
#include "harness.h"
#include "hx_util.h"
#include "hx_vm_priv.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LINE_MAX_BYTES (64 * 1024)

static void vm_add_line(struct hx_vm *vm, char *text, uint64_t now)
{
	size_t len = strlen(text);
	while (len && (text[len - 1] == '\r' || text[len - 1] == '\n'))
		text[--len] = '\0';
	/* a console may emit a stray \r or NUL before the text */
	while (*text == '\r' || *text == '\0') {
		if (!*text)
			return;
		text++;
	}
	if (vm->on_raw_line)
		vm->on_raw_line(vm, text, now, vm->cb_arg);
	if (!strncmp(text, "ABK ", 4)) {
		static const char *const bad[] = {
			"WARNING:", "BUG:", "Oops", "Call Trace",
			"Kernel panic", "general protection fault",
			"refcount_t:", "list_add corruption",
			"list_del corruption", "UBSAN:", "KASAN:",
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			if (strstr(text, bad[i])) {
				vm->kernel_issues++;
				break;
			}
		return;
	}
	if (strncmp(text, "AB ", 3))
		return;
	struct hx_line *l;
	if (hx_line_parse(text, now, &l))
		return;
	if (vm->nlines == vm->lines_cap) {
		size_t cap = vm->lines_cap ? vm->lines_cap * 2 : 64;
		struct hx_line **nl = realloc(vm->lines, cap * sizeof(*nl));
		if (!nl) {
			hx_line_free(l);
			return;
		}
		vm->lines = nl;
		vm->lines_cap = cap;
	}
	vm->lines[vm->nlines++] = l;
	if (!vm->ready_ns && !strcmp(l->event, "ready"))
		vm->ready_ns = now;
	if (vm->on_line)
		vm->on_line(vm, l, vm->cb_arg);
}

static void vm_reaped(struct hx_vm *vm, int status)
{
	vm->exited = true;
	vm->status = status;
	hx_guard_del_pid(vm->pid);
	if (vm->pidfd >= 0) {
		close(vm->pidfd);
		vm->pidfd = -1;
	}
}

int hx_vm_poll(struct hx_vm *vm)
{
	if (!vm->exited) {
		int st;
		pid_t w = waitpid(vm->pid, &st, WNOHANG);
		if (w == vm->pid)
			vm_reaped(vm, st);
		else if (w < 0 && errno == ECHILD)
			vm_reaped(vm, 0);
	}
	if (vm->ino_fd >= 0) {
		char evbuf[4096];
		while (read(vm->ino_fd, evbuf, sizeof(evbuf)) > 0)
			;
	}
	size_t before = vm->nlines;
	uint64_t now = hx_now_ns();
	for (;;) {
		if (vm->pend_cap - vm->pend_len < 4096) {
			size_t cap = vm->pend_cap ? vm->pend_cap * 2 : 16384;
			char *np = realloc(vm->pend, cap);
			if (!np)
				return -ENOMEM;
			vm->pend = np;
			vm->pend_cap = cap;
		}
		ssize_t n = read(vm->serial_fd, vm->pend + vm->pend_len,
				 vm->pend_cap - vm->pend_len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		vm->pend_len += (size_t)n;
		size_t start = 0;
		for (size_t i = vm->pend_len - (size_t)n; i < vm->pend_len; i++) {
			if (vm->pend[i] != '\n')
				continue;
			vm->pend[i] = '\0';
			vm_add_line(vm, vm->pend + start, now);
			start = i + 1;
		}
		memmove(vm->pend, vm->pend + start, vm->pend_len - start);
		vm->pend_len -= start;
		if (vm->pend_len > LINE_MAX_BYTES) {	/* runaway line */
			vm->pend[vm->pend_len] = '\0';
			vm_add_line(vm, vm->pend, now);
			vm->pend_len = 0;
		}
	}
	return (int)(vm->nlines - before);
}

int hx_vm_poll_fd(const struct hx_vm *vm)
{
	return vm->ino_fd;
}

int hx_vms_wait(struct hx_vm *const *vms, size_t n, int timeout_ms)
{
	struct pollfd *fds = calloc(2 * n + 1, sizeof(*fds));
	if (!fds)
		return -ENOMEM;
	size_t nf = 0;
	bool any_exited = false;
	for (size_t i = 0; i < n; i++) {
		if (vms[i]->ino_fd >= 0)
			fds[nf++] = (struct pollfd){ .fd = vms[i]->ino_fd,
						     .events = POLLIN };
		if (vms[i]->pidfd >= 0)
			fds[nf++] = (struct pollfd){ .fd = vms[i]->pidfd,
						     .events = POLLIN };
		if (vms[i]->exited)
			any_exited = true;
	}
	/* inotify may miss nothing, but without it (or pidfds) we must tick */
	int t = timeout_ms < 0 ? 200 : (timeout_ms > 200 ? 200 : timeout_ms);
	if (!any_exited)
		poll(fds, nf, t);
	free(fds);
	int total = 0;
	for (size_t i = 0; i < n; i++) {
		int r = hx_vm_poll(vms[i]);
		if (r > 0)
			total += r;
	}
	return total;
}

static int vm_wait_common(struct hx_vm *vm, int timeout_ms,
			  bool (*done)(struct hx_vm *, void *), void *arg)
{
	uint64_t deadline = hx_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		int r = hx_vm_poll(vm);
		if (r < 0)
			return r;
		if (done(vm, arg))
			return 0;
		if (vm->exited)
			return -ESRCH;
		uint64_t now = hx_now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		uint64_t left = deadline - now;
		struct pollfd fds[2];
		size_t nf = 0;
		if (vm->ino_fd >= 0)
			fds[nf++] = (struct pollfd){ .fd = vm->ino_fd, .events = POLLIN };
		if (vm->pidfd >= 0)
			fds[nf++] = (struct pollfd){ .fd = vm->pidfd, .events = POLLIN };
		int t = left > 200 ? 200 : (int)left;
		if (vm->ino_fd < 0 && t > 50)
			t = 50;
		poll(fds, nf, t);
	}
}

struct wait_line_arg {
	const char *prefix;
	const struct hx_line *found;
};

static bool wait_line_done(struct hx_vm *vm, void *p)
{
	struct wait_line_arg *a = p;
	size_t idx;
	const struct hx_line *l = hx_vm_find_line(vm, a->prefix, vm->cursor, &idx);
	if (!l)
		return false;
	vm->cursor = idx + 1;
	a->found = l;
	return true;
}

int hx_vm_wait_line(struct hx_vm *vm, const char *prefix, int timeout_ms,
		    const struct hx_line **ret)
{
	struct wait_line_arg a = { .prefix = prefix };
	int r = vm_wait_common(vm, timeout_ms, wait_line_done, &a);
	if (r == 0 && ret)
		*ret = a.found;
	return r;
}

const struct hx_line *hx_vm_find_line(const struct hx_vm *vm,
				      const char *prefix, size_t from,
				      size_t *ret_index)
{
	for (size_t i = from; i < vm->nlines; i++) {
		if (hx_line_matches(vm->lines[i], prefix)) {
			if (ret_index)
				*ret_index = i;
			return vm->lines[i];
		}
	}
	return NULL;
}

size_t hx_vm_line_count(const struct hx_vm *vm)
{
	return vm->nlines;
}

const struct hx_line *hx_vm_line(const struct hx_vm *vm, size_t i)
{
	return i < vm->nlines ? vm->lines[i] : NULL;
}

unsigned hx_vm_kernel_issues(const struct hx_vm *vm)
{
	return vm->kernel_issues;
}

static bool exit_done(struct hx_vm *vm, void *arg)
{
	return vm->exited;
}

int hx_vm_wait_exit(struct hx_vm *vm, int timeout_ms, int *ret_status)
{
	int r = vm_wait_common(vm, timeout_ms, exit_done, NULL);
	if (r == -ESRCH)
		r = 0;
	if (r == 0 && ret_status)
		*ret_status = vm->status;
	return r;
}

bool hx_vm_exited(const struct hx_vm *vm, int *ret_status)
{
	if (vm->exited && ret_status)
		*ret_status = vm->status;
	return vm->exited;
}

int hx_vm_kill(struct hx_vm *vm)
{
	if (!vm->exited) {
		kill(vm->pid, SIGKILL);
		int st = 0;
		pid_t w;
		while ((w = waitpid(vm->pid, &st, 0)) < 0 && errno == EINTR)
			;
		vm_reaped(vm, w == vm->pid ? st : 0);
		hxu_vlog("vm %s: killed", vm->name);
	}
	hx_vm_poll(vm);
	return 0;
}

void hx_vm_destroy(struct hx_vm *vm)
{
	if (!vm)
		return;
	hx_vm_kill(vm);
	if (vm->serial_fd >= 0)
		close(vm->serial_fd);
	if (vm->ino_fd >= 0)
		close(vm->ino_fd);
	if (!vm->keep_disks) {
		const char *disks[2] = { vm->data, vm->swap };
		for (int i = 0; i < 2; i++) {
			if (!disks[i][0])
				continue;
			unlink(disks[i]);
			hx_guard_del_file(disks[i]);
		}
	}
	unlink(vm->qmp);
	hx_guard_del_file(vm->qmp);
	for (size_t i = 0; i < vm->nlines; i++)
		hx_line_free(vm->lines[i]);
	free(vm->lines);
	free(vm->pend);
	free(vm);
}

int hx_vm_stats(const struct hx_vm *vm, struct hx_proc_stats *ret)
{
	if (vm->exited)
		return -ESRCH;
	return hx_proc_stats(vm->pid, ret);
}

pid_t hx_vm_pid(const struct hx_vm *vm)
{
	return vm->pid;
}

const char *hx_vm_name(const struct hx_vm *vm)
{
	return vm->name;
}

const char *hx_vm_qmp_path(const struct hx_vm *vm)
{
	return vm->qmp;
}

const char *hx_vm_serial_path(const struct hx_vm *vm)
{
	return vm->serial;
}

const char *hx_vm_accel(const struct hx_vm *vm)
{
	return vm->accel;
}

uint64_t hx_vm_start_ns(const struct hx_vm *vm)
{
	return vm->start_ns;
}

int64_t hx_vm_boot_ms(const struct hx_vm *vm)
{
	if (!vm->ready_ns)
		return -1;
	return (int64_t)((vm->ready_ns - vm->start_ns) / 1000000u);
}

int hx_vm_wait_qmp(struct hx_vm *vm, int timeout_ms)
{
	uint64_t deadline = hx_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		struct stat st;
		if (stat(vm->qmp, &st) == 0 && S_ISSOCK(st.st_mode))
			return 0;
		hx_vm_poll(vm);
		if (vm->exited)
			return -ESRCH;
		if (hx_now_ms() >= deadline)
			return -ETIMEDOUT;
		hxu_sleep_ms(10);
	}
}
