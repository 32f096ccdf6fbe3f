/* SPDX-License-Identifier: MIT */
#include "pressure.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util.h"

const char *pressure_kind_name(enum pressure_kind k)
{
	switch (k) {
	case PRESSURE_NONE:
		return "none";
	case PRESSURE_PSI:
		return "psi";
	case PRESSURE_VMPRESSURE:
		return "vmpressure";
	}
	return "?";
}

void pressure_mon_init(struct pressure_mon *m)
{
	memset(m, 0, sizeof(*m));
	m->fd = m->aux_fd[0] = m->aux_fd[1] = -1;
}

static int psi_write_trigger(int fd, uint32_t stall_us, uint32_t window_us)
{
	char trig[64];
	int n = snprintf(trig, sizeof(trig), "some %u %u", stall_us, window_us);

	/* The kernel wants the terminating NUL written too. */
	return write(fd, trig, (size_t)n + 1) < 0 ? -errno : 0;
}

int psi_trigger_open(struct pressure_mon *m, const char *path, uint32_t stall_us,
		     uint32_t window_us)
{
	int fd, r;

	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = psi_write_trigger(fd, stall_us, window_us);
	if (r == -EINVAL && window_us % PSI_UNPRIV_WINDOW_US) {
		/*
		 * Without CAP_SYS_RESOURCE (a container, a dedicated user) the
		 * kernel accepts only windows in multiples of 2 s: keep the
		 * stall ratio and round the window up.
		 */
		uint32_t w = (window_us / PSI_UNPRIV_WINDOW_US + 1) * PSI_UNPRIV_WINDOW_US;

		stall_us = (uint32_t)((uint64_t)stall_us * w / window_us);
		window_us = w;
		r = psi_write_trigger(fd, stall_us, window_us);
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	pressure_mon_close(m);
	m->kind = PRESSURE_PSI;
	m->fd = fd;
	m->poll_events = EPOLLPRI;
	snprintf(m->source, sizeof(m->source), "%s (some %u ms / %u ms)", path,
		 stall_us / 1000, window_us / 1000);
	return 0;
}

int vmpressure_open(struct pressure_mon *m, const char *cgroup_dir,
		    const char *level)
{
	char p[512], line[64];
	int efd = -1, lfd = -1, cfd = -1, r;

	snprintf(p, sizeof(p), "%s/memory.pressure_level", cgroup_dir);
	lfd = open(p, O_RDONLY | O_CLOEXEC);
	if (lfd < 0)
		return -errno;
	snprintf(p, sizeof(p), "%s/cgroup.event_control", cgroup_dir);
	cfd = open(p, O_WRONLY | O_CLOEXEC);
	if (cfd < 0) {
		r = -errno;
		goto fail;
	}
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0) {
		r = -errno;
		goto fail;
	}
	snprintf(line, sizeof(line), "%d %d %s", efd, lfd, level);
	if (write(cfd, line, strlen(line)) < 0) {
		r = -errno;
		goto fail;
	}
	pressure_mon_close(m);
	m->kind = PRESSURE_VMPRESSURE;
	m->fd = efd;
	m->aux_fd[0] = lfd;
	m->aux_fd[1] = cfd;
	m->poll_events = EPOLLIN;
	snprintf(m->source, sizeof(m->source), "%s/memory.pressure_level (%s)",
		 cgroup_dir, level);
	return 0;
fail:
	if (efd >= 0)
		close(efd);
	if (cfd >= 0)
		close(cfd);
	close(lfd);
	return r;
}

void pressure_mon_ack(struct pressure_mon *m)
{
	uint64_t v;

	if (m->kind == PRESSURE_VMPRESSURE && m->fd >= 0)
		while (read(m->fd, &v, sizeof(v)) == sizeof(v))
			;
}

void pressure_mon_close(struct pressure_mon *m)
{
	if (m->fd >= 0)
		close(m->fd);
	for (int i = 0; i < 2; i++)
		if (m->aux_fd[i] >= 0)
			close(m->aux_fd[i]);
	pressure_mon_init(m);
}

int psi_parse(const char *text, struct psi_avgs *ret)
{
	const char *some = strstr(text, "some ");
	const char *full = strstr(text, "full ");
	unsigned long long total;

	memset(ret, 0, sizeof(*ret));
	if (!some || some != text)
		return -EINVAL;
	if (sscanf(some, "some avg10=%lf avg60=%lf avg300=%*f total=%llu",
		   &ret->some_avg10, &ret->some_avg60, &total) != 3)
		return -EINVAL;
	ret->some_total_us = total;
	if (full && sscanf(full, "full avg10=%lf", &ret->full_avg10) != 1)
		return -EINVAL;
	if (ret->some_avg10 < 0 || ret->some_avg10 > 100 || ret->full_avg10 < 0 ||
	    ret->full_avg10 > 100)
		return -ERANGE;
	return 0;
}

int psi_read(const char *path, struct psi_avgs *ret)
{
	char *buf;
	int r;

	r = read_file(path, 4096, &buf, NULL);
	if (r < 0)
		return r;
	r = psi_parse(buf, ret);
	free(buf);
	return r;
}
