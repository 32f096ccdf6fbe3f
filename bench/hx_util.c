/* SPDX-License-Identifier: MIT */
/*
 * hx_util.c - the harness's verbosity, clock and mkdir_p (harness.h), and
 * the small file and process helpers its files share (hx_util.h).
 */
#include "hx_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

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

__attribute__((format(printf, 1, 2)))
void hxu_vlog(const char *fmt, ...)
{
	if (!hx_verbose())
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "hx[%d]: ", (int)getpid());
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void hxu_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000u,
			       .tv_nsec = (long)(ms % 1000u) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int hxu_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read a small file into buf (NUL-terminated). Returns length or -errno. */
ssize_t hxu_read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t off = 0;
	while (off + 1 < len) {
		ssize_t n = read(fd, buf + off, len - 1 - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			close(fd);
			return e;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	buf[off] = '\0';
	close(fd);
	return (ssize_t)off;
}

int hxu_write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n;
	do
		n = write(fd, text, strlen(text));
	while (n < 0 && errno == EINTR);
	int e = n < 0 ? -errno : 0;
	if (close(fd) < 0 && !e)
		e = -errno;
	return e;
}

int hxu_read_u64_file(const char *path, uint64_t *ret)
{
	char buf[64];
	ssize_t n = hxu_read_text(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	if (!strncmp(buf, "max", 3)) {
		*ret = HX_UNLIMITED;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 10);
	if (errno || end == buf)
		return -EINVAL;
	*ret = v;
	return 0;
}

__attribute__((format(printf, 3, 4)))
int hxu_fmt_path(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

bool hxu_find_in_path(const char *prog, char *buf, size_t len)
{
	if (strchr(prog, '/')) {
		snprintf(buf, len, "%s", prog);
		return access(prog, X_OK) == 0;
	}
	const char *env = getenv("PATH");
	char path[4096];
	snprintf(path, sizeof(path), "%s:/usr/sbin:/sbin:/usr/bin:/bin",
		 env ? env : "");
	char *save = NULL;
	for (char *d = strtok_r(path, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		if (!d[0])
			continue;
		if (hxu_fmt_path(buf, len, "%s/%s", d, prog) == 0 &&
		    access(buf, X_OK) == 0)
			return true;
	}
	return false;
}

/* fork + exec PROG ARGS..., stdout/stderr to /dev/null unless verbose. */
int hxu_run_prog(const char *prog, char *const argv[])
{
	char full[PATH_MAX];
	if (!hxu_find_in_path(prog, full, sizeof(full)))
		return -ENOENT;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			if (!hx_verbose())
				dup2(nul, 2);
		}
		execv(full, argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(st))
		return -EINTR;
	return WEXITSTATUS(st) == 0 ? 0 : (WEXITSTATUS(st) == 127 ? -ENOENT : -EIO);
}
