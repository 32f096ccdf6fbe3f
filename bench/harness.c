/* SPDX-License-Identifier: MIT */
/*
 * harness.c - the autoballoon test harness library (see harness.h).
 */
#include "harness.h"
#include "hx_util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GUARD_MAX_ARG 3800
#define LINE_MAX_BYTES (64 * 1024)
#define DEFAULT_RUN_DIR "build/run"
#define DEFAULT_IMAGE_DIR "build/guest"
#define DEFAULT_QEMU "qemu-system-x86_64"
#define ACCEL_PROBE_MS 20000

/* ------------------------------------------------------------------ misc */

static bool verbose;

void hx_set_verbose(bool on)
{
	verbose = on;
}

bool hx_verbose(void)
{
	return verbose;
}

uint64_t hx_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t hx_now_ms(void)
{
	return hx_now_ns() / 1000000u;
}

int hx_mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	if (hxu_fmt_path(tmp, sizeof(tmp), "%s", path))
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

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

/* ----------------------------------------------------------------- guard */

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
		if (!verbose)
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

/* --------------------------------------------------------------- cgroups */

int hx_cgroup_detect(const char *fs_root, struct hx_cgroup_info *ret)
{
	const char *root = fs_root ? fs_root : "/sys/fs/cgroup";
	char path[PATH_MAX], buf[1024];
	memset(ret, 0, sizeof(*ret));

	if (hxu_fmt_path(path, sizeof(path), "%s/cgroup.controllers", root))
		return -ENAMETOOLONG;
	if (hxu_read_text(path, buf, sizeof(buf)) >= 0) {
		char *save = NULL;
		for (char *w = strtok_r(buf, " \n", &save); w;
		     w = strtok_r(NULL, " \n", &save)) {
			if (!strcmp(w, "memory")) {
				ret->version = HX_CG_V2;
				snprintf(ret->mem_root, sizeof(ret->mem_root),
					 "%s", root);
				snprintf(ret->psi_root, sizeof(ret->psi_root),
					 "%s", root);
				return 0;
			}
		}
	}
	if (hxu_fmt_path(path, sizeof(path), "%s/memory/memory.limit_in_bytes",
		     root))
		return -ENAMETOOLONG;
	if (access(path, F_OK) == 0) {
		ret->version = HX_CG_V1;
		snprintf(ret->mem_root, sizeof(ret->mem_root), "%s/memory",
			 root);
		if (hxu_fmt_path(path, sizeof(path),
				 "%s/blkio/blkio.throttle.read_iops_device",
				 root) == 0 && access(path, F_OK) == 0)
			snprintf(ret->blkio_root, sizeof(ret->blkio_root),
				 "%s/blkio", root);
		if (hxu_fmt_path(path, sizeof(path), "%s/unified/cgroup.pressure",
			     root) == 0 && access(path, F_OK) == 0)
			snprintf(ret->psi_root, sizeof(ret->psi_root),
				 "%s/unified", root);
		else if (hxu_fmt_path(path, sizeof(path),
				  "%s/unified/memory.pressure", root) == 0 &&
			 access(path, F_OK) == 0)
			snprintf(ret->psi_root, sizeof(ret->psi_root),
				 "%s/unified", root);
		return 0;
	}
	return -ENODEV;
}

void hx_slice_default_name(char *buf, size_t len, const char *tag)
{
	snprintf(buf, len, "autoballoon-%s-%d", tag ? tag : "test",
		 (int)getpid());
}

struct hx_slice {
	enum hx_cg_version version;
	char name[256];
	char mem_path[PATH_MAX];
	char psi_dir[PATH_MAX];		/* "" when none (or == mem_path on v2) */
	char psi_file[PATH_MAX];	/* "" when none */
	char blkio_root[512];		/* v1: where the blkio twin goes */
	char io_dir[PATH_MAX];		/* I/O limits: v1 blkio twin, v2 mem_path */
};

static int slice_write_limit(struct hx_slice *s, uint64_t limit)
{
	char path[PATH_MAX + 32], val[32];
	if (s->version == HX_CG_V2) {
		snprintf(path, sizeof(path), "%s/memory.max", s->mem_path);
		if (limit == HX_UNLIMITED)
			snprintf(val, sizeof(val), "max");
		else
			snprintf(val, sizeof(val), "%" PRIu64, limit);
	} else {
		snprintf(path, sizeof(path), "%s/memory.limit_in_bytes",
			 s->mem_path);
		if (limit == HX_UNLIMITED)
			snprintf(val, sizeof(val), "-1");
		else
			snprintf(val, sizeof(val), "%" PRIu64, limit);
	}
	return hxu_write_text(path, val);
}

static int v2_enable_memory(const char *root)
{
	char path[PATH_MAX], buf[1024];
	if (hxu_fmt_path(path, sizeof(path), "%s/cgroup.subtree_control", root))
		return -ENAMETOOLONG;
	ssize_t n = hxu_read_text(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	char *save = NULL;
	for (char *w = strtok_r(buf, " \n", &save); w;
	     w = strtok_r(NULL, " \n", &save))
		if (!strcmp(w, "memory"))
			return 0;
	return hxu_write_text(path, "+memory");
}

int hx_slice_create_at(const struct hx_cgroup_info *cg, const char *name,
		       uint64_t limit_bytes, struct hx_slice **ret)
{
	if (!name || !strstr(name, "autoballoon") || strchr(name, '/') ||
	    strlen(name) >= 200)
		return -EINVAL;
	if (cg->version != HX_CG_V1 && cg->version != HX_CG_V2)
		return -ENODEV;
	struct hx_slice *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->version = cg->version;
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->blkio_root, sizeof(s->blkio_root), "%s", cg->blkio_root);
	int r = hxu_fmt_path(s->mem_path, sizeof(s->mem_path), "%s/%s",
			 cg->mem_root, name);
	if (r)
		goto fail_free;
	if (cg->version == HX_CG_V2) {
		r = v2_enable_memory(cg->mem_root);
		if (r)
			goto fail_free;
	}
	r = hx_guard_add_cgroup(s->mem_path);
	if (r)
		goto fail_free;
	if (mkdir(s->mem_path, 0755) < 0) {
		r = -errno;
		hx_guard_del_cgroup(s->mem_path);
		goto fail_free;
	}
	r = slice_write_limit(s, limit_bytes);
	if (r)
		goto fail_remove;

	if (cg->version == HX_CG_V2) {
		snprintf(s->psi_file, sizeof(s->psi_file), "%.4000s/memory.pressure",
			 s->mem_path);
		if (access(s->psi_file, F_OK) < 0)
			s->psi_file[0] = '\0';
	} else if (cg->psi_root[0]) {
		/* hybrid host: a cgroup2 twin gives the slice its own PSI */
		char dir[PATH_MAX];
		if (hxu_fmt_path(dir, sizeof(dir), "%s/%s", cg->psi_root, name) == 0 &&
		    hx_guard_add_cgroup(dir) == 0) {
			if (mkdir(dir, 0755) == 0) {
				snprintf(s->psi_dir, sizeof(s->psi_dir), "%s", dir);
				snprintf(s->psi_file, sizeof(s->psi_file),
					 "%.4000s/memory.pressure", dir);
				if (access(s->psi_file, F_OK) < 0)
					s->psi_file[0] = '\0';
			} else {
				hx_guard_del_cgroup(dir);
			}
		}
	}
	hxu_vlog("slice %s: v%d, limit %" PRIu64 ", psi %s", s->mem_path,
	     (int)s->version, limit_bytes, s->psi_file[0] ? s->psi_file : "none");
	*ret = s;
	return 0;

fail_remove:
	hx_cgroup_remove(s->mem_path, 2000);
	hx_guard_del_cgroup(s->mem_path);
fail_free:
	free(s);
	return r;
}

int hx_slice_create(const char *name, uint64_t limit_bytes,
		    struct hx_slice **ret)
{
	struct hx_cgroup_info cg;
	int r = hx_cgroup_detect(NULL, &cg);
	if (r)
		return r;
	return hx_slice_create_at(&cg, name, limit_bytes, ret);
}

const char *hx_slice_path(const struct hx_slice *s)
{
	return s->mem_path;
}

const char *hx_slice_psi_path(const struct hx_slice *s)
{
	return s->psi_file[0] ? s->psi_file : NULL;
}

enum hx_cg_version hx_slice_version(const struct hx_slice *s)
{
	return s->version;
}

int hx_slice_set_limit(struct hx_slice *s, uint64_t limit_bytes)
{
	return slice_write_limit(s, limit_bytes);
}

int hx_slice_set_swap_limit(struct hx_slice *s, uint64_t bytes)
{
	if (s->version != HX_CG_V2)
		return -EOPNOTSUPP;
	char path[PATH_MAX + 32], val[32];
	snprintf(path, sizeof(path), "%s/memory.swap.max", s->mem_path);
	if (bytes == HX_UNLIMITED)
		snprintf(val, sizeof(val), "max");
	else
		snprintf(val, sizeof(val), "%" PRIu64, bytes);
	return hxu_write_text(path, val);
}

int hx_slice_usage(const struct hx_slice *s, uint64_t *ret_bytes)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/%s", s->mem_path,
		 s->version == HX_CG_V2 ? "memory.current"
					: "memory.usage_in_bytes");
	return hxu_read_u64_file(path, ret_bytes);
}

/*
 * The cgroup.procs files a new member must be written to: the memory
 * cgroup (a must), the PSI twin (best effort), the blkio twin (a must when
 * the slice's I/O is throttled). "" when there is none.
 */
#define SLICE_PROCS 3
static void slice_procs_paths(const struct hx_slice *s,
			      char p[SLICE_PROCS][PATH_MAX + 32])
{
	snprintf(p[0], PATH_MAX + 32, "%s/cgroup.procs", s->mem_path);
	p[1][0] = p[2][0] = '\0';
	if (s->psi_dir[0])
		snprintf(p[1], PATH_MAX + 32, "%s/cgroup.procs", s->psi_dir);
	if (s->version == HX_CG_V1 && s->io_dir[0])
		snprintf(p[2], PATH_MAX + 32, "%s/cgroup.procs", s->io_dir);
}

int hx_slice_add_pid(struct hx_slice *s, pid_t pid)
{
	char p[SLICE_PROCS][PATH_MAX + 32], val[32];
	slice_procs_paths(s, p);
	snprintf(val, sizeof(val), "%d", (int)pid);
	int r = hxu_write_text(p[0], val);
	if (r)
		return r;
	if (p[1][0])
		hxu_write_text(p[1], val);	/* PSI twin: best effort */
	return p[2][0] ? hxu_write_text(p[2], val) : 0;
}

/* v2: the io controller must be on in the parent for io.max. */
static int v2_enable_io(const char *mem_path)
{
	char parent[PATH_MAX], path[PATH_MAX + 32], buf[1024];
	snprintf(parent, sizeof(parent), "%s", mem_path);
	char *slash = strrchr(parent, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", parent);
	if (hxu_read_text(path, buf, sizeof(buf)) >= 0) {
		char *save = NULL;
		for (char *w = strtok_r(buf, " \n", &save); w;
		     w = strtok_r(NULL, " \n", &save))
			if (!strcmp(w, "io"))
				return 0;
	}
	return hxu_write_text(path, "+io");
}

int hx_slice_set_io_limits(struct hx_slice *s, unsigned maj, unsigned min,
			   const struct hx_io_limits *l)
{
	char path[PATH_MAX + 64], val[160];
	const uint64_t v[4] = { l->read_bps, l->write_bps, l->read_iops,
				l->write_iops };
	int r;

	if (s->version == HX_CG_V2) {
		char lim[4][24];
		r = v2_enable_io(s->mem_path);
		if (r)
			return r;
		snprintf(s->io_dir, sizeof(s->io_dir), "%s", s->mem_path);
		for (int i = 0; i < 4; i++) {
			if (v[i])
				snprintf(lim[i], sizeof(lim[i]), "%" PRIu64, v[i]);
			else
				snprintf(lim[i], sizeof(lim[i]), "max");
		}
		snprintf(path, sizeof(path), "%s/io.max", s->io_dir);
		snprintf(val, sizeof(val), "%u:%u rbps=%s wbps=%s riops=%s wiops=%s",
			 maj, min, lim[0], lim[1], lim[2], lim[3]);
		return hxu_write_text(path, val);
	}
	if (!s->blkio_root[0])
		return -EOPNOTSUPP;
	if (!s->io_dir[0]) {
		char dir[PATH_MAX];
		if (hxu_fmt_path(dir, sizeof(dir), "%s/%s", s->blkio_root, s->name))
			return -ENAMETOOLONG;
		r = hx_guard_add_cgroup(dir);
		if (r)
			return r;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			hx_guard_del_cgroup(dir);
			return r;
		}
		snprintf(s->io_dir, sizeof(s->io_dir), "%s", dir);
	}
	static const char *const files[4] = {
		"blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
		"blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device",
	};
	/*
	 * v1 charges swap-out writeback to the root group: a page's memory
	 * cgroup has no blkio twin in another hierarchy. The root group gets
	 * the same limits on this device, which only the bench uses.
	 */
	const char *dirs[2] = { s->io_dir, s->blkio_root };
	for (int d = 0; d < 2; d++) {
		for (int i = 0; i < 4; i++) {
			snprintf(path, sizeof(path), "%s/%s", dirs[d], files[i]);
			snprintf(val, sizeof(val), "%u:%u %" PRIu64, maj, min, v[i]);
			r = hxu_write_text(path, val);	/* 0 removes that limit */
			if (r)
				return r;
		}
	}
	return 0;
}

int hx_slice_io_stats(const struct hx_slice *s, unsigned maj, unsigned min,
		      struct hx_io_stats *ret)
{
	char path[PATH_MAX + 64], buf[16384], dev[32];
	char *save = NULL;
	ssize_t n;

	memset(ret, 0, sizeof(*ret));
	if (!s->io_dir[0])
		return -ENOENT;
	snprintf(dev, sizeof(dev), "%u:%u", maj, min);
	if (s->version == HX_CG_V2) {
		/* io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N ..." */
		snprintf(path, sizeof(path), "%s/io.stat", s->io_dir);
		n = hxu_read_text(path, buf, sizeof(buf));
		if (n < 0)
			return (int)n;
		for (char *l = strtok_r(buf, "\n", &save); l;
		     l = strtok_r(NULL, "\n", &save)) {
			unsigned long long rb, wb, ri, wi;
			char d[32];
			if (sscanf(l, "%31s rbytes=%llu wbytes=%llu rios=%llu wios=%llu",
				   d, &rb, &wb, &ri, &wi) == 5 && !strcmp(d, dev)) {
				ret->read_ios = ri;
				ret->write_ios = wi;
				ret->read_bytes = rb;
				ret->write_bytes = wb;
			}
		}
		return 0;	/* no line: no I/O yet */
	}
	/*
	 * v1: "MAJ:MIN Read N" lines, operations in one file, bytes in another;
	 * the slice's twin plus the root group's own (swap-out, see above).
	 */
	static const char *const files[2] = { "blkio.throttle.io_serviced",
					      "blkio.throttle.io_service_bytes" };
	for (int k = 0; k < 4; k++) {
		snprintf(path, sizeof(path), "%s/%s", k < 2 ? s->io_dir : s->blkio_root,
			 files[k % 2]);
		n = hxu_read_text(path, buf, sizeof(buf));
		if (n < 0)
			return (int)n;
		save = NULL;
		for (char *l = strtok_r(buf, "\n", &save); l;
		     l = strtok_r(NULL, "\n", &save)) {
			char d[32], op[16];
			unsigned long long v;
			if (sscanf(l, "%31s %15s %llu", d, op, &v) != 3 || strcmp(d, dev))
				continue;
			if (!strcmp(op, "Read"))
				*(k % 2 ? &ret->read_bytes : &ret->read_ios) += v;
			else if (!strcmp(op, "Write"))
				*(k % 2 ? &ret->write_bytes : &ret->write_ios) += v;
		}
	}
	return 0;
}


int hx_psi_read(const char *path, struct hx_psi *ret)
{
	char buf[512];
	memset(ret, 0, sizeof(*ret));
	ssize_t n = hxu_read_text(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	int found = 0;
	char *save = NULL;
	for (char *l = strtok_r(buf, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		double a10, a60, a300;
		unsigned long long total;
		char kind[8];
		if (sscanf(l, "%7s avg10=%lf avg60=%lf avg300=%lf total=%llu",
			   kind, &a10, &a60, &a300, &total) != 5)
			continue;
		if (!strcmp(kind, "some")) {
			ret->some_avg10 = a10;
			ret->some_avg60 = a60;
			ret->some_avg300 = a300;
			ret->some_total_us = total;
			found++;
		} else if (!strcmp(kind, "full")) {
			ret->full_avg10 = a10;
			ret->full_avg60 = a60;
			ret->full_avg300 = a300;
			ret->full_total_us = total;
			found++;
		}
	}
	return found ? 0 : -EINVAL;
}

int hx_slice_stats(const struct hx_slice *s, struct hx_slice_stats *ret)
{
	char path[PATH_MAX + 32];
	memset(ret, 0, sizeof(*ret));
	int r = hx_slice_usage(s, &ret->usage_bytes);
	if (r)
		return r;
	bool v2 = s->version == HX_CG_V2;
	snprintf(path, sizeof(path), "%s/%s", s->mem_path,
		 v2 ? "memory.max" : "memory.limit_in_bytes");
	if (hxu_read_u64_file(path, &ret->limit_bytes) == 0 &&
	    ret->limit_bytes >= ((uint64_t)1 << 62))
		ret->limit_bytes = HX_UNLIMITED;
	snprintf(path, sizeof(path), "%s/%s", s->mem_path,
		 v2 ? "memory.peak" : "memory.max_usage_in_bytes");
	if (hxu_read_u64_file(path, &ret->peak_bytes))
		ret->peak_bytes = 0;

	snprintf(path, sizeof(path), "%s/memory.stat", s->mem_path);
	FILE *f = fopen(path, "re");
	if (f) {
		char key[128];
		unsigned long long val;
		bool total_rss = false, total_cache = false, total_swap = false;
		while (fscanf(f, "%127s %llu", key, &val) == 2) {
			if (v2) {
				if (!strcmp(key, "anon"))
					ret->anon_bytes = val;
				else if (!strcmp(key, "file"))
					ret->file_bytes = val;
				continue;
			}
			if (!strcmp(key, "total_rss")) {
				ret->anon_bytes = val;
				total_rss = true;
			} else if (!strcmp(key, "rss") && !total_rss) {
				ret->anon_bytes = val;
			} else if (!strcmp(key, "total_cache")) {
				ret->file_bytes = val;
				total_cache = true;
			} else if (!strcmp(key, "cache") && !total_cache) {
				ret->file_bytes = val;
			} else if (!strcmp(key, "total_swap")) {
				ret->swap_bytes = val;
				total_swap = true;
			} else if (!strcmp(key, "swap") && !total_swap) {
				ret->swap_bytes = val;
			}
		}
		fclose(f);
	}
	if (v2) {
		snprintf(path, sizeof(path), "%s/memory.swap.current",
			 s->mem_path);
		if (hxu_read_u64_file(path, &ret->swap_bytes))
			ret->swap_bytes = 0;
	}
	struct hx_psi psi;
	if (s->psi_file[0] && hx_psi_read(s->psi_file, &psi) == 0) {
		ret->has_psi = true;
		ret->psi_some_avg10 = psi.some_avg10;
		ret->psi_full_avg10 = psi.full_avg10;
		ret->psi_some_total_us = psi.some_total_us;
		ret->psi_full_total_us = psi.full_total_us;
	}
	return 0;
}

int hx_cgroup_remove(const char *path, int timeout_ms)
{
	char procs[PATH_MAX];
	if (hxu_fmt_path(procs, sizeof(procs), "%s/cgroup.procs", path))
		return -ENAMETOOLONG;
	uint64_t deadline = hx_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		if (rmdir(path) == 0 || errno == ENOENT)
			return 0;
		int e = -errno;
		if (e != -EBUSY && e != -ENOTEMPTY)
			return e;
		FILE *f = fopen(procs, "re");
		if (f) {
			long pid;
			while (fscanf(f, "%ld", &pid) == 1)
				if (pid > 1 && pid != getpid())
					kill((pid_t)pid, SIGKILL);
			fclose(f);
		}
		if (hx_now_ms() >= deadline)
			return e;
		hxu_sleep_ms(20);
	}
}

int hx_slice_destroy(struct hx_slice *s)
{
	if (!s)
		return 0;
	int r = hx_cgroup_remove(s->mem_path, 10000);
	if (r == 0)
		hx_guard_del_cgroup(s->mem_path);
	if (s->version == HX_CG_V1 && s->io_dir[0]) {
		int r2 = hx_cgroup_remove(s->io_dir, 10000);
		if (r2 == 0)
			hx_guard_del_cgroup(s->io_dir);
		else if (!r)
			r = r2;
	}
	if (s->psi_dir[0]) {
		int r2 = hx_cgroup_remove(s->psi_dir, 10000);
		if (r2 == 0)
			hx_guard_del_cgroup(s->psi_dir);
		else if (!r)
			r = r2;
	}
	hxu_vlog("slice %s removed: %s", s->mem_path, r ? strerror(-r) : "ok");
	free(s);
	return r;
}

/* --------------------------------------------------------------- readers */

int hx_vmstat_read(const char *path, struct hx_vmstat *ret)
{
	memset(ret, 0, sizeof(*ret));
	FILE *f = fopen(path ? path : "/proc/vmstat", "re");
	if (!f)
		return -errno;
	char key[128];
	unsigned long long val;
	while (fscanf(f, "%127s %llu", key, &val) == 2) {
		if (!strcmp(key, "pswpin"))
			ret->pswpin = val;
		else if (!strcmp(key, "pswpout"))
			ret->pswpout = val;
		else if (!strcmp(key, "pgmajfault"))
			ret->pgmajfault = val;
		else if (!strcmp(key, "oom_kill"))
			ret->oom_kill = val;
	}
	fclose(f);
	return 0;
}

int hx_proc_stats(pid_t pid, struct hx_proc_stats *ret)
{
	char path[64], buf[4096];
	memset(ret, 0, sizeof(*ret));
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	ssize_t n = hxu_read_text(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	char *save = NULL;
	for (char *l = strtok_r(buf, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		unsigned long long kib;
		if (sscanf(l, "VmRSS: %llu kB", &kib) == 1)
			ret->rss_bytes = kib * 1024u;
		else if (sscanf(l, "VmHWM: %llu kB", &kib) == 1)
			ret->hwm_bytes = kib * 1024u;
		else if (sscanf(l, "VmSwap: %llu kB", &kib) == 1)
			ret->swap_bytes = kib * 1024u;
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = hxu_read_text(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	char *p = strrchr(buf, ')');
	if (!p)
		return -EINVAL;
	/* after ')': majflt is word 9, utime 11, stime 12 (fields 12, 14, 15) */
	unsigned long long ut = 0, stime = 0;
	char *tok = strtok_r(p + 1, " ", &save);
	for (int i = 0; tok && i <= 12; i++) {
		if (i == 9)
			ret->majflt = strtoull(tok, NULL, 10);
		if (i == 11)
			ut = strtoull(tok, NULL, 10);
		if (i == 12)
			stime = strtoull(tok, NULL, 10);
		tok = strtok_r(NULL, " ", &save);
	}
	long hz = sysconf(_SC_CLK_TCK);
	ret->cpu_ms = (ut + stime) * 1000u / (uint64_t)(hz > 0 ? hz : 100);
	return 0;
}

/* ------------------------------------------------------------------ swap */

struct hx_swap {
	char path[PATH_MAX];
};

static int fill_zero(int fd, uint64_t bytes)
{
	static const char zero[1 << 16];
	for (uint64_t off = 0; off < bytes;) {
		size_t n = bytes - off < sizeof(zero) ? (size_t)(bytes - off)
						       : sizeof(zero);
		ssize_t w = pwrite(fd, zero, n, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (uint64_t)w;
	}
	return fdatasync(fd) < 0 ? -errno : 0;
}

static int swap_prepare(const char *path, uint64_t bytes, bool zero)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = 0;
	if (zero || fallocate(fd, 0, 0, (off_t)bytes) < 0)
		r = fill_zero(fd, bytes);
	close(fd);
	if (r)
		return r;
	char *const argv[] = { (char *)(uintptr_t)"mkswap",
			       (char *)(uintptr_t)"-q",
			       (char *)(uintptr_t)path, NULL };
	return hxu_run_prog("mkswap", argv);
}

int hx_swap_create(const char *path, uint64_t bytes, struct hx_swap **ret)
{
	if (bytes < 64 * 1024)
		return -EINVAL;
	struct hx_swap *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	int r = hxu_fmt_path(s->path, sizeof(s->path), "%s", path);
	if (r)
		goto fail_free;
	r = hx_guard_add_swap(s->path);
	if (r)
		goto fail_free;
	int fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		hx_guard_del_swap(s->path);
		goto fail_free;
	}
	close(fd);
	r = swap_prepare(s->path, bytes, false);
	if (r)
		goto fail_unlink;
	if (swapon(s->path, 0) < 0) {
		r = -errno;
		if (r == -EINVAL) {	/* some filesystems want real blocks */
			r = swap_prepare(s->path, bytes, true);
			if (!r && swapon(s->path, 0) < 0)
				r = -errno;
		}
		if (r)
			goto fail_unlink;
	}
	hxu_vlog("swap %s: %" PRIu64 " MiB on", s->path, bytes / HX_MIB);
	*ret = s;
	return 0;

fail_unlink:
	unlink(s->path);
	hx_guard_del_swap(s->path);
fail_free:
	hxu_vlog("swap %s: %s", path, strerror(-r));
	free(s);
	return r;
}

const char *hx_swap_path(const struct hx_swap *s)
{
	return s->path;
}

int hx_swap_destroy(struct hx_swap *s)
{
	if (!s)
		return 0;
	int r = 0;
	if (swapoff(s->path) < 0 && errno != EINVAL && errno != ENOENT)
		r = -errno;
	if (unlink(s->path) < 0 && errno != ENOENT && !r)
		r = -errno;
	if (!r)
		hx_guard_del_swap(s->path);
	hxu_vlog("swap %s removed: %s", s->path, r ? strerror(-r) : "ok");
	free(s);
	return r;
}

/* ----------------------------------------------------------------- lines */

struct line_priv {
	struct hx_line pub;
	char *text;
	char *words;
	char **keys;
	char **vals;
};

void hx_line_free(struct hx_line *l)
{
	if (!l)
		return;
	struct line_priv *p = (struct line_priv *)l;
	free(p->text);
	free(p->words);
	free(p->keys);
	free(p->vals);
	free(p);
}

int hx_line_parse(const char *text, uint64_t mono_ns, struct hx_line **ret)
{
	if (strncmp(text, "AB ", 3))
		return -EINVAL;
	struct line_priv *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->text = strdup(text);
	p->words = strdup(text + 3);
	size_t max = 1;
	for (const char *c = text; *c; c++)
		if (*c == '=')
			max++;
	p->keys = calloc(max, sizeof(char *));
	p->vals = calloc(max, sizeof(char *));
	if (!p->text || !p->words || !p->keys || !p->vals) {
		hx_line_free(&p->pub);
		return -ENOMEM;
	}
	char *save = NULL;
	char *ev = strtok_r(p->words, " ", &save);
	if (!ev) {
		hx_line_free(&p->pub);
		return -EINVAL;
	}
	size_t n = 0;
	for (char *w = strtok_r(NULL, " ", &save); w;
	     w = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(w, '=');
		if (!eq || eq == w)
			continue;
		*eq = '\0';
		p->keys[n] = w;
		p->vals[n] = eq + 1;
		n++;
	}
	p->pub.mono_ns = mono_ns;
	p->pub.text = p->text;
	p->pub.event = ev;
	p->pub.nkv = n;
	p->pub.keys = (const char *const *)p->keys;
	p->pub.vals = (const char *const *)p->vals;
	*ret = &p->pub;
	return 0;
}

const char *hx_line_get(const struct hx_line *l, const char *key)
{
	for (size_t i = 0; i < l->nkv; i++)
		if (!strcmp(l->keys[i], key))
			return l->vals[i];
	return NULL;
}

int hx_line_get_u64(const struct hx_line *l, const char *key, uint64_t *ret)
{
	const char *v = hx_line_get(l, key);
	if (!v)
		return -ENOENT;
	if (!isdigit((unsigned char)v[0]))
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*ret = x;
	return 0;
}

static bool text_matches(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	return !strncmp(text, prefix, n) &&
	       (text[n] == '\0' || text[n] == ' ' || (n && prefix[n - 1] == ' '));
}

bool hx_line_matches(const struct hx_line *l, const char *prefix)
{
	return text_matches(l->text, prefix);
}

/* ----------------------------------------------------------------- accel */

int hx_accel_detect(const char *image_dir, const char **ret_accel)
{
	const char *env = getenv("AB_ACCEL");
	if (env && (!strcmp(env, "tcg") || !strcmp(env, "kvm"))) {
		*ret_accel = !strcmp(env, "kvm") ? "kvm" : "tcg";
		return 0;
	}
	const char *dir = image_dir ? image_dir : DEFAULT_IMAGE_DIR;
	char cache[PATH_MAX], lockp[PATH_MAX], buf[16];
	if (hxu_fmt_path(cache, sizeof(cache), "%s/accel", dir) ||
	    hxu_fmt_path(lockp, sizeof(lockp), "%s/accel.lock", dir))
		return -ENAMETOOLONG;
	/* the cache is stale when the kernel is newer than the answer */
	char kpath[PATH_MAX];
	struct stat cst, kst;
	if (hxu_fmt_path(kpath, sizeof(kpath), "%s/vmlinuz", dir) == 0 &&
	    stat(cache, &cst) == 0 && stat(kpath, &kst) == 0 &&
	    kst.st_mtime > cst.st_mtime)
		unlink(cache);
	if (hxu_read_text(cache, buf, sizeof(buf)) > 0) {
		if (!strncmp(buf, "kvm", 3) || !strncmp(buf, "tcg", 3)) {
			*ret_accel = !strncmp(buf, "kvm", 3) ? "kvm" : "tcg";
			return 0;
		}
	}
	int lfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lfd < 0)
		return -errno;
	while (flock(lfd, LOCK_EX) < 0 && errno == EINTR)
		;
	const char *ans = "tcg";
	if (hxu_read_text(cache, buf, sizeof(buf)) > 0 &&
	    (!strncmp(buf, "kvm", 3) || !strncmp(buf, "tcg", 3))) {
		ans = !strncmp(buf, "kvm", 3) ? "kvm" : "tcg";
		goto out;
	}
	int kfd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kfd >= 0) {
		close(kfd);
		/* one name: we hold accel.lock; the log stays for debugging */
		struct hx_vm_opts o = {
			.name = "accel-probe",
			.run_dir = dir,
			.image_dir = dir,
			.accel = "kvm",
			.mem_mib = 256,
			.workload = "idle",
			.driver = HX_DRIVER_NONE,
			.no_balloon = true,
		};
		struct hx_vm *vm;
		uint64_t t0 = hx_now_ms();
		if (hx_vm_start(&o, &vm) == 0) {
			if (hx_vm_wait_line(vm, "AB ready", ACCEL_PROBE_MS,
					    NULL) == 0)
				ans = "kvm";
			hx_vm_destroy(vm);
		}
		hxu_vlog("accel probe: KVM %s after %" PRIu64 " ms",
		     !strcmp(ans, "kvm") ? "boots" : "does not boot",
		     hx_now_ms() - t0);
	}
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", cache);
	int cfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (cfd >= 0) {
		char line[8];
		snprintf(line, sizeof(line), "%s\n", ans);
		hxu_write_all(cfd, line, strlen(line));
		close(cfd);
		rename(tmp, cache);
	}
out:
	close(lfd);
	*ret_accel = ans;
	return 0;
}

/* -------------------------------------------------------------------- VM */

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

int hx_vm_start(const struct hx_vm_opts *o, struct hx_vm **ret)
{
	const char *run_dir = o->run_dir ? o->run_dir : DEFAULT_RUN_DIR;
	const char *image_dir = o->image_dir ? o->image_dir : DEFAULT_IMAGE_DIR;
	const char *qemu = o->qemu ? o->qemu : DEFAULT_QEMU;
	char path[PATH_MAX];
	int r;

	if (o->workload && !valid_word(o->workload, false))
		return -EINVAL;
	if (o->args && !valid_word(o->args, true))
		return -EINVAL;
	if (o->extra_append && (strchr(o->extra_append, '"') ||
				strchr(o->extra_append, '\n')))
		return -EINVAL;
	if (o->guest_swap && !o->swap_disk_mib)
		return -EINVAL;
	char kernel[PATH_MAX];
	if (o->kernel) {
		if (hxu_fmt_path(kernel, sizeof(kernel), "%s", o->kernel))
			return -ENAMETOOLONG;
	} else if (hxu_fmt_path(kernel, sizeof(kernel), "%s/vmlinux", image_dir) ||
		   access(kernel, R_OK) < 0) {
		/* no PVH-bootable ELF: the bzImage (decompresses itself) */
		if (hxu_fmt_path(kernel, sizeof(kernel), "%s/vmlinuz", image_dir))
			return -ENAMETOOLONG;
	}
	if (access(kernel, R_OK) < 0)
		return -ENOENT;
	if (hxu_fmt_path(path, sizeof(path), "%s/initrd.img", image_dir) ||
	    access(path, R_OK) < 0)
		return -ENOENT;

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

	struct argv_b a = { 0 };
	int logfd = -1, errpipe[2] = { -1, -1 };
	r = hx_mkdir_p(run_dir);
	if (r)
		goto fail;
	if (hxu_fmt_path(vm->serial, sizeof(vm->serial), "%s/%s.serial", run_dir, vm->name) ||
	    hxu_fmt_path(vm->qmp, sizeof(vm->qmp), "%s/%s.qmp", run_dir, vm->name) ||
	    hxu_fmt_path(vm->log, sizeof(vm->log), "%s/%s.log", run_dir, vm->name)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	if (strlen(vm->qmp) >= 108) {	/* sun_path */
		r = -ENAMETOOLONG;
		goto fail;
	}
	unlink(vm->qmp);
	r = hx_guard_add_file(vm->qmp);
	if (r)
		goto fail;

	const char *accel = o->accel;
	if (!accel) {
		r = hx_accel_detect(image_dir, &accel);
		if (r)
			goto fail;
	}
	snprintf(vm->accel, sizeof(vm->accel), "%s", accel);

	const char *cache_mode = o->disk_cache;
	const char *disk_dir = o->disk_dir ? o->disk_dir : run_dir;
	if (o->data_disk_mib) {
		if (hxu_fmt_path(vm->data, sizeof(vm->data), "%s/%s.data", disk_dir, vm->name)) {
			r = -ENAMETOOLONG;
			goto fail;
		}
		r = make_disk(vm->data, o->data_disk_mib, o->data_fill);
		if (r)
			goto fail;
		if (!cache_mode)
			cache_mode = odirect_works(vm->data) ? "none" : "writeback";
	}
	if (o->swap_disk_mib) {
		if (hxu_fmt_path(vm->swap, sizeof(vm->swap), "%s/%s.swap", disk_dir, vm->name)) {
			r = -ENAMETOOLONG;
			goto fail;
		}
		r = make_disk(vm->swap, o->swap_disk_mib, false);
		if (r)
			goto fail;
		if (!cache_mode)
			cache_mode = odirect_works(vm->swap) ? "none" : "writeback";
	}
	if (!cache_mode)
		cache_mode = "none";

	r = vm_build_argv(o, vm, image_dir, kernel, qemu, cache_mode, &a);
	if (r)
		goto fail;

	/* serial file: created here so our reader and inotify see QEMU's writes */
	int sfd = open(vm->serial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (sfd < 0) {
		r = -errno;
		goto fail;
	}
	close(sfd);
	vm->serial_fd = open(vm->serial, O_RDONLY | O_CLOEXEC);
	if (vm->serial_fd < 0) {
		r = -errno;
		goto fail;
	}
	vm->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (vm->ino_fd >= 0 &&
	    inotify_add_watch(vm->ino_fd, vm->serial, IN_MODIFY) < 0) {
		close(vm->ino_fd);
		vm->ino_fd = -1;
	}
	logfd = open(vm->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd < 0) {
		r = -errno;
		goto fail;
	}
	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}

	char procs[SLICE_PROCS][PATH_MAX + 32] = { "", "", "" };
	if (o->slice)
		slice_procs_paths(o->slice, procs);
	char qemu_path[PATH_MAX];
	if (!hxu_find_in_path(qemu, qemu_path, sizeof(qemu_path))) {
		r = -ENOENT;
		goto fail;
	}
	if (verbose) {
		fprintf(stderr, "hx[%d]: vm %s:", (int)getpid(), vm->name);
		for (size_t i = 0; i < a.n; i++)
			fprintf(stderr, " %s", a.v[i]);
		fputc('\n', stderr);
	}

	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		r = -errno;
		goto fail;
	}
	if (pid == 0) {
		int err = 0;
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		/* See hx_vm_opts.thp: no THP for guest RAM unless asked. */
		if (!o->thp)
			prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
		if (getppid() != parent)
			_exit(127);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		const int sigs[] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD };
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		for (int i = 0; i < SLICE_PROCS; i++) {
			if (!procs[i][0])
				continue;
			int fd = open(procs[i], O_WRONLY | O_CLOEXEC);
			if (fd < 0 || write(fd, "0", 1) != 1) {
				if (i != 1) {	/* only the PSI twin is optional */
					err = errno ? errno : EIO;
					(void)!write(errpipe[1], &err, sizeof(err));
					_exit(127);
				}
			}
			if (fd >= 0)
				close(fd);
		}
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		execv(qemu_path, a.v);
		err = errno;
		(void)!write(errpipe[1], &err, sizeof(err));
		_exit(127);
	}
	vm->start_ns = hx_now_ns();
	vm->pid = pid;
	close(errpipe[1]);
	errpipe[1] = -1;
	int reg = hx_guard_add_pid(pid);
	int cerr = 0;
	ssize_t n;
	while ((n = read(errpipe[0], &cerr, sizeof(cerr))) < 0 && errno == EINTR)
		;
	if (n > 0 || reg) {
		if (n <= 0)
			kill(pid, SIGKILL);
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		hx_guard_del_pid(pid);
		vm->pid = -1;
		r = n > 0 ? -cerr : reg;
		goto fail;
	}
	vm->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	close(errpipe[0]);
	close(logfd);
	argv_free(&a);
	hxu_vlog("vm %s: pid %d, accel %s", vm->name, (int)pid, vm->accel);
	*ret = vm;
	return 0;

fail:
	hxu_vlog("vm %s: start failed: %s", vm->name, strerror(-r));
	argv_free(&a);
	if (logfd >= 0)
		close(logfd);
	if (errpipe[0] >= 0)
		close(errpipe[0]);
	if (errpipe[1] >= 0)
		close(errpipe[1]);
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
	return r;
}

/* ------------------------------------------------------------ env check */

int hx_env_check(const char *image_dir, char *why, size_t why_len)
{
	char tmp[1];
	if (!why) {
		why = tmp;
		why_len = sizeof(tmp);
	}
	why[0] = '\0';
	if (geteuid() != 0) {
		snprintf(why, why_len, "not root (cgroups, swap and QEMU in a slice need root)");
		return -EPERM;
	}
	struct hx_cgroup_info cg;
	if (hx_cgroup_detect(NULL, &cg)) {
		snprintf(why, why_len, "no memory cgroup (neither cgroup2 with memory nor v1 memory)");
		return -ENODEV;
	}
	char p[PATH_MAX];
	if (!hxu_find_in_path(DEFAULT_QEMU, p, sizeof(p))) {
		snprintf(why, why_len, "%s not found", DEFAULT_QEMU);
		return -ENOENT;
	}
	const char *dir = image_dir ? image_dir : DEFAULT_IMAGE_DIR;
	if (hxu_fmt_path(p, sizeof(p), "%s/initrd.img", dir) || access(p, R_OK) ||
	    hxu_fmt_path(p, sizeof(p), "%s/vmlinuz", dir) || access(p, R_OK)) {
		snprintf(why, why_len, "no guest image in %.200s (make guest-image)", dir);
		return -ENOENT;
	}
	return 0;
}
