/* SPDX-License-Identifier: MIT */
#include "hx_daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

json_t *hx_line_request(const char *sock, const char *request, size_t json_flags)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t cap = 1 << 16, n = 0;
	char *buf;
	json_t *reply = NULL;
	uint64_t deadline = hx_now_ms() + 5000;
	int fd;

	if (strlen(sock) >= sizeof(sa.sun_path))
		return NULL;
	strcpy(sa.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    dprintf(fd, "%s\n", request) < 0) {
		close(fd);
		return NULL;
	}
	buf = malloc(cap);
	while (buf && hx_now_ms() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 200) <= 0)
			continue;
		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap *= 2);

			if (!nb)
				break;
			buf = nb;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r <= 0)
			break;
		n += (size_t)r;
		if (buf[n - 1] == '\n') {
			buf[n] = '\0';
			reply = json_loads(buf, json_flags, NULL);
			break;
		}
	}
	free(buf);
	close(fd);
	return reply;
}

json_t *hx_ctl(const char *sock, const char *request)
{
	return hx_line_request(sock, request, JSON_DECODE_INT_AS_REAL);
}

json_t *hx_ctl_dump_vm(json_t *dump_reply, const char *name)
{
	json_t *vm;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(dump_reply, "dump"), "vms"),
			   i, vm) {
		const char *n = json_string_value(json_object_get(vm, "name"));

		if (n && strcmp(n, name) == 0)
			return vm;
	}
	return NULL;
}

json_t *hx_ctl_vm_dump(const char *sock, const char *name)
{
	json_t *r = hx_ctl(sock, "{\"cmd\": \"dump\"}"), *vm;

	if (!r)
		return NULL;
	vm = hx_ctl_dump_vm(r, name);
	if (vm)
		json_incref(vm);
	json_decref(r);
	return vm;
}

double hx_ctl_vm_num(const char *sock, const char *name, const char *field)
{
	json_t *vm = hx_ctl_vm_dump(sock, name);
	json_t *v = vm ? json_object_get(vm, field) : NULL;
	double d = json_is_number(v) ? json_number_value(v) : NAN;

	json_decref(vm);
	return d;
}

const char *hx_ctl_vm_str(const char *sock, const char *name, const char *field,
			  char *buf, size_t len)
{
	json_t *vm = hx_ctl_vm_dump(sock, name);
	const char *s = vm ? json_string_value(json_object_get(vm, field)) : NULL;

	snprintf(buf, len, "%s", s ? s : "");
	json_decref(vm);
	return buf;
}

int hx_daemon_start(const char *binary, const char *dir, const char *config_text,
		    bool verbose, struct hx_daemon *d)
{
	uint64_t deadline;
	FILE *f;
	int fd;

	memset(d, 0, sizeof(*d));
	if (snprintf(d->conf, sizeof(d->conf), "%s/daemon.conf", dir) >= (int)sizeof(d->conf) ||
	    snprintf(d->ctl, sizeof(d->ctl), "%s/ctl.sock", dir) >= (int)sizeof(d->ctl) ||
	    snprintf(d->log, sizeof(d->log), "%s/daemon.log", dir) >= (int)sizeof(d->log))
		return -ENAMETOOLONG;
	f = fopen(d->conf, "w");
	if (!f)
		return -errno;
	fputs(config_text, f);
	if (fclose(f) != 0)
		return -EIO;
	fflush(NULL);
	d->pid = fork();
	if (d->pid < 0)
		return -errno;
	if (d->pid == 0) {
		fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (verbose)
			execl(binary, binary, "-c", d->conf, "-v", (char *)NULL);
		else
			execl(binary, binary, "-c", d->conf, (char *)NULL);
		_exit(127);
	}
	hx_guard_add_pid(d->pid);
	deadline = hx_now_ms() + 10000;
	while (hx_now_ms() < deadline) {
		json_t *r = hx_ctl(d->ctl, "{\"cmd\": \"status\"}");

		if (r) {
			json_decref(r);
			return 0;
		}
		if (!hx_daemon_alive(d))
			return -ECHILD;
		usleep(50000);
	}
	return -ETIMEDOUT;
}

bool hx_daemon_alive(const struct hx_daemon *d)
{
	int st;

	if (d->pid <= 0)
		return false;
	return waitpid(d->pid, &st, WNOHANG) == 0;
}

int hx_daemon_stop(struct hx_daemon *d, int sig, int timeout_ms, int *ret_status)
{
	uint64_t deadline = hx_now_ms() + (uint64_t)timeout_ms;
	int st = 0;

	if (d->pid <= 0)
		return -ESRCH;
	kill(d->pid, sig);
	for (;;) {
		pid_t r = waitpid(d->pid, &st, WNOHANG);

		if (r == d->pid)
			break;
		if (r < 0)
			return -errno;
		if (hx_now_ms() >= deadline) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, &st, 0);
			hx_guard_del_pid(d->pid);
			d->pid = 0;
			return -ETIMEDOUT;
		}
		usleep(20000);
	}
	hx_guard_del_pid(d->pid);
	d->pid = 0;
	if (ret_status)
		*ret_status = st;
	return 0;
}

void hx_daemon_show_log(const struct hx_daemon *d, int last_lines)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd), "tail -n %d '%s' | sed 's/^/    daemon| /' >&2",
		 last_lines, d->log);
	if (system(cmd) != 0)
		fprintf(stderr, "(no daemon log)\n");
}
