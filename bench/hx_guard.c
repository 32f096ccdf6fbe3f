/* SPDX-License-Identifier: MIT */
/*
 * hx_guard.c - the cleanup guard (see harness.h): a forked process that
 * removes what this process registered (PIDs, cgroups, swap files, files,
 * mounts) once the connection to it hits EOF, however this process ended.
 */
#include "harness.h"
#include "hx_util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <unistd.h>

#define GUARD_MAX_ARG 3800

/* Start time (field 22 of /proc/PID/stat) and state; -ESRCH if gone. */
static int proc_start_time(pid_t pid, uint64_t *ret_start, char *ret_state)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	ssize_t n = hxu_read_text(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	char *p = strrchr(buf, ')');
	if (!p)
		return -EINVAL;
	p++;
	/* after ')': field 3 (state) is word 0, field 22 (starttime) word 19 */
	char *save = NULL;
	char *tok = strtok_r(p, " ", &save);
	for (int i = 0; tok && i < 19; i++) {
		if (i == 0 && ret_state)
			*ret_state = tok[0];
		tok = strtok_r(NULL, " ", &save);
	}
	if (!tok)
		return -EINVAL;
	*ret_start = strtoull(tok, NULL, 10);
	return 0;
}

/* Is PID gone (no such process, a zombie, or another process by now)? */
static bool pid_gone(pid_t pid, uint64_t start)
{
	uint64_t st;
	char state = '?';
	if (proc_start_time(pid, &st, &state) < 0)
		return true;
	return state == 'Z' || state == 'X' || (start && st != start);
}

static int guard_fd = -1;
static pid_t guard_pid = -1;
static pid_t guard_owner;

struct guard_entry {
	char kind[8];
	char *arg;
};

struct guard_state {
	struct guard_entry *e;
	size_t n, cap;
};

static bool guard_same(const struct guard_entry *e, const char *kind,
		       const char *arg)
{
	if (strcmp(e->kind, kind))
		return false;
	if (!strcmp(kind, "pid"))	/* "PID START" vs "PID" */
		return atol(e->arg) == atol(arg);
	return !strcmp(e->arg, arg);
}

static void guard_apply(struct guard_state *s, char *line)
{
	/* "<+|-> <kind> <arg>" */
	if ((line[0] != '+' && line[0] != '-') || line[1] != ' ')
		return;
	char *kind = line + 2;
	char *sp = strchr(kind, ' ');
	if (!sp || sp - kind >= 8)
		return;
	*sp = '\0';
	const char *arg = sp + 1;
	for (size_t i = 0; i < s->n; i++) {
		if (!guard_same(&s->e[i], kind, arg))
			continue;
		if (line[0] == '-') {
			free(s->e[i].arg);
			s->e[i] = s->e[--s->n];
		} else if (!strcmp(kind, "pid")) {
			/* same PID again: keep the newest start time */
			char *a = strdup(arg);
			if (a) {
				free(s->e[i].arg);
				s->e[i].arg = a;
			}
		}
		return;
	}
	if (line[0] == '-')
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct guard_entry *ne = realloc(s->e, cap * sizeof(*ne));
		if (!ne)
			return;
		s->e = ne;
		s->cap = cap;
	}
	char *a = strdup(arg);
	if (!a)
		return;
	snprintf(s->e[s->n].kind, sizeof(s->e[s->n].kind), "%s", kind);
	s->e[s->n].arg = a;
	s->n++;
}

static void guard_cleanup(struct guard_state *s)
{
	/* 1. processes */
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->e[i].kind, "pid"))
			continue;
		long pid = 0;
		unsigned long long start = 0;
		if (sscanf(s->e[i].arg, "%ld %llu", &pid, &start) < 1 ||
		    pid <= 1 || pid == getpid())
			continue;
		if (!pid_gone((pid_t)pid, start)) {
			hxu_vlog("guard: SIGKILL %ld", pid);
			kill((pid_t)pid, SIGKILL);
		}
	}
	uint64_t deadline = hx_now_ms() + 5000;
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->e[i].kind, "pid"))
			continue;
		long pid = 0;
		unsigned long long start = 0;
		if (sscanf(s->e[i].arg, "%ld %llu", &pid, &start) < 1 ||
		    pid <= 1)
			continue;
		while (!pid_gone((pid_t)pid, start) && hx_now_ms() < deadline)
			hxu_sleep_ms(20);
	}
	/* 2. cgroups (children first: longest paths first) */
	for (;;) {
		size_t best = SIZE_MAX;
		for (size_t i = 0; i < s->n; i++)
			if (!strcmp(s->e[i].kind, "cg") &&
			    (best == SIZE_MAX ||
			     strlen(s->e[i].arg) > strlen(s->e[best].arg)))
				best = i;
		if (best == SIZE_MAX)
			break;
		if (strstr(s->e[best].arg, "autoballoon")) {
			int r = hx_cgroup_remove(s->e[best].arg, 10000);
			hxu_vlog("guard: remove cgroup %s: %s", s->e[best].arg,
			     r ? strerror(-r) : "ok");
		}
		s->e[best].kind[0] = '\0';
	}
	/* 3. swap files, 4. files */
	for (size_t i = 0; i < s->n; i++) {
		if (!strcmp(s->e[i].kind, "swap")) {
			if (swapoff(s->e[i].arg) < 0 && errno != EINVAL &&
			    errno != ENOENT)
				hxu_vlog("guard: swapoff %s: %m", s->e[i].arg);
			unlink(s->e[i].arg);
			hxu_vlog("guard: removed swap %s", s->e[i].arg);
		}
	}
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->e[i].kind, "file"))
			unlink(s->e[i].arg);
	/* 5. mounts (the bench's storage: its swap and files are gone now) */
	for (size_t i = 0; i < s->n; i++) {
		if (!strcmp(s->e[i].kind, "mnt")) {
			if (umount2(s->e[i].arg, MNT_DETACH) < 0 && errno != EINVAL &&
			    errno != ENOENT)
				hxu_vlog("guard: umount %s: %m", s->e[i].arg);
			rmdir(s->e[i].arg);
		}
	}
}

__attribute__((noreturn))
static void guard_main(int fd)
{
	struct sigaction sa = { .sa_handler = SIG_IGN };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sigaction(SIGTSTP, &sa, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();
	prctl(PR_SET_NAME, "hx-guard", 0, 0, 0);
	int adj = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (adj >= 0) {
		(void)!write(adj, "-1000", 5);
		close(adj);
	}
	/* Hold nothing the parent's readers wait on (pipes to make, tee...). */
	int devnull = open("/dev/null", O_RDWR);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		if (!hx_verbose())
			dup2(devnull, 2);
		if (devnull > 2)
			close(devnull);
	}
	for (int i = 3; i < 1024; i++)
		if (i != fd)
			close(i);

	struct guard_state s = { 0 };
	char buf[8192];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		char *start = buf, *nl;
		while ((nl = memchr(start, '\n', len - (size_t)(start - buf)))) {
			*nl = '\0';
			guard_apply(&s, start);
			start = nl + 1;
		}
		len -= (size_t)(start - buf);
		memmove(buf, start, len);
		if (len == sizeof(buf))
			len = 0;	/* garbage: drop */
	}
	hxu_vlog("guard: parent gone, cleaning %zu resources", s.n);
	guard_cleanup(&s);
	_exit(0);
}

/* A forked child must not hold the connection: the guard would not see its
 * parent's death while the child lives. */
static void guard_atfork_child(void)
{
	if (guard_fd >= 0)
		close(guard_fd);
	guard_fd = -1;
	guard_pid = -1;
}

int hx_guard_start(void)
{
	static bool atfork_done;
	if (!atfork_done) {
		int r = pthread_atfork(NULL, NULL, guard_atfork_child);
		if (r)
			return -r;
		atfork_done = true;
	}
	if (guard_fd >= 0 && guard_owner == getpid())
		return -EALREADY;
	if (guard_fd >= 0) {	/* inherited across fork: not ours */
		close(guard_fd);
		guard_fd = -1;
		guard_pid = -1;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		int e = -errno;
		close(sv[0]);
		close(sv[1]);
		return e;
	}
	if (pid == 0) {
		close(sv[1]);
		guard_main(sv[0]);
	}
	close(sv[0]);
	guard_fd = sv[1];
	guard_pid = pid;
	guard_owner = getpid();
	hxu_vlog("guard started, pid %d", (int)pid);
	return 0;
}

int hx_guard_stop(void)
{
	if (guard_fd < 0 || guard_owner != getpid())
		return 0;
	close(guard_fd);
	guard_fd = -1;
	int st;
	while (waitpid(guard_pid, &st, 0) < 0 && errno == EINTR)
		;
	guard_pid = -1;
	return 0;
}

pid_t hx_guard_pid(void)
{
	return guard_fd >= 0 && guard_owner == getpid() ? guard_pid : -1;
}

static int guard_send(char op, const char *kind, const char *arg)
{
	if (guard_fd < 0 || guard_owner != getpid())
		return 0;
	if (strlen(arg) > GUARD_MAX_ARG || strchr(arg, '\n'))
		return -ENAMETOOLONG;
	char msg[GUARD_MAX_ARG + 32];
	int n = snprintf(msg, sizeof(msg), "%c %s %s\n", op, kind, arg);
	const char *p = msg;
	size_t left = (size_t)n;
	while (left > 0) {
		ssize_t w = send(guard_fd, p, left, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		left -= (size_t)w;
	}
	return 0;
}

int hx_guard_add_pid(pid_t pid)
{
	if (pid <= 1)
		return -EINVAL;
	uint64_t start = 0;
	int r = proc_start_time(pid, &start, NULL);
	if (r < 0)
		return r;
	char arg[64];
	snprintf(arg, sizeof(arg), "%d %" PRIu64, (int)pid, start);
	return guard_send('+', "pid", arg);
}

int hx_guard_del_pid(pid_t pid)
{
	char arg[32];
	snprintf(arg, sizeof(arg), "%d", (int)pid);
	return guard_send('-', "pid", arg);
}

int hx_guard_add_cgroup(const char *path)
{
	if (!strstr(path, "autoballoon"))
		return -EINVAL;
	return guard_send('+', "cg", path);
}

int hx_guard_del_cgroup(const char *path)
{
	return guard_send('-', "cg", path);
}

int hx_guard_add_swap(const char *path)
{
	return guard_send('+', "swap", path);
}

int hx_guard_del_swap(const char *path)
{
	return guard_send('-', "swap", path);
}

int hx_guard_add_mount(const char *path)
{
	return guard_send('+', "mnt", path);
}

int hx_guard_del_mount(const char *path)
{
	return guard_send('-', "mnt", path);
}

int hx_guard_add_file(const char *path)
{
	return guard_send('+', "file", path);
}

int hx_guard_del_file(const char *path)
{
	return guard_send('-', "file", path);
}
