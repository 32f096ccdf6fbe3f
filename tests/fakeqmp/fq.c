/* SPDX-License-Identifier: MIT */
#include "fq.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "hx_daemon.h"

static json_t *ctl_request(const char *sock, const char *line)
{
	return hx_line_request(sock, line, 0);
}

static json_t *vcmd(const struct fq_proc *f, const char *fmt, va_list ap)
{
	char *line;
	json_t *r;

	if (vasprintf(&line, fmt, ap) < 0)
		return NULL;
	r = ctl_request(f->ctl, line);
	free(line);
	return r;
}

json_t *fq_cmd(const struct fq_proc *f, const char *fmt, ...)
{
	va_list ap;
	json_t *r;

	va_start(ap, fmt);
	r = vcmd(f, fmt, ap);
	va_end(ap);
	return r;
}

bool fq_ok(const struct fq_proc *f, const char *fmt, ...)
{
	va_list ap;
	json_t *r;
	bool ok;

	va_start(ap, fmt);
	r = vcmd(f, fmt, ap);
	va_end(ap);
	ok = r && json_is_true(json_object_get(r, "ok"));
	if (!ok)
		fprintf(stderr, "fakeqmp: %s\n", r ? json_string_value(json_object_get(r, "error"))
						   : "no reply");
	json_decref(r);
	return ok;
}

json_t *fq_vm(const struct fq_proc *f, const char *name)
{
	json_t *r = fq_cmd(f, "get %s", name), *vm;

	vm = json_incref(json_object_get(r, "vm"));
	json_decref(r);
	return vm;
}

double fq_num(const struct fq_proc *f, const char *name, const char *field)
{
	json_t *vm = fq_vm(f, name), *v = json_object_get(vm, field);
	double d = json_is_number(v) ? json_number_value(v) : NAN;

	json_decref(vm);
	return d;
}

const char *fq_sock(const struct fq_proc *f, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.qmp", f->qmp_dir, name);
	return buf;
}

int fq_start(const char *binary, const char *dir, bool with_host,
	     const char *const *args, struct fq_proc *ret)
{
	const char *argv[64];
	uint64_t deadline;
	int n = 0, fd;

	memset(ret, 0, sizeof(*ret));
	snprintf(ret->qmp_dir, sizeof(ret->qmp_dir), "%s/qmp", dir);
	snprintf(ret->ctl, sizeof(ret->ctl), "%s/fake.sock", dir);
	snprintf(ret->log, sizeof(ret->log), "%s/fake.log", dir);
	if (with_host)
		snprintf(ret->host_dir, sizeof(ret->host_dir), "%s/host", dir);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (mkdir(ret->qmp_dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	argv[n++] = binary;
	argv[n++] = "--dir";
	argv[n++] = ret->qmp_dir;
	argv[n++] = "--ctl";
	argv[n++] = ret->ctl;
	if (with_host) {
		argv[n++] = "--host";
		argv[n++] = ret->host_dir;
	}
	for (int i = 0; args && args[i] && n < 62; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	ret->pid = fork();
	if (ret->pid < 0)
		return -errno;
	if (ret->pid == 0) {
		fd = open(ret->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(binary, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	hx_guard_add_pid(ret->pid);
	deadline = hx_now_ms() + 10000;
	while (hx_now_ms() < deadline) {
		json_t *r = ctl_request(ret->ctl, "list");
		int st;

		if (r) {
			json_decref(r);
			return 0;
		}
		if (waitpid(ret->pid, &st, WNOHANG) == ret->pid) {
			hx_guard_del_pid(ret->pid);
			ret->pid = 0;
			return -ECHILD;
		}
		usleep(20000);
	}
	return -ETIMEDOUT;
}

int fq_stop(struct fq_proc *f)
{
	uint64_t deadline = hx_now_ms() + 5000;
	json_t *r;
	int st = 0;

	if (f->pid <= 0)
		return -ESRCH;
	r = ctl_request(f->ctl, "quit");
	json_decref(r);
	if (!r)
		kill(f->pid, SIGTERM);
	for (;;) {
		pid_t p = waitpid(f->pid, &st, WNOHANG);

		if (p == f->pid)
			break;
		if (p < 0 || hx_now_ms() >= deadline) {
			kill(f->pid, SIGKILL);
			waitpid(f->pid, &st, 0);
			break;
		}
		usleep(10000);
	}
	hx_guard_del_pid(f->pid);
	f->pid = 0;
	return st;
}
