/* SPDX-License-Identifier: MIT */
#include "loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

enum watch_kind { WATCH_IO, WATCH_TIMER, WATCH_SIGNAL };

struct loop_watch {
	struct loop *loop;
	enum watch_kind kind;
	int fd;
	bool own_fd;
	bool removed;
	uint32_t events;	/* what epoll watches now (I/O watches) */
	union {
		loop_io_fn io;
		loop_timer_fn timer;
		loop_signal_fn signal;
	} fn;
	void *data;
	struct loop_watch *next_dead;
};

struct loop {
	int epfd;
	bool running;
	int quit_code;
	int dispatching;
	struct loop_watch *dead;
};

int loop_new(struct loop **ret)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int r = -errno;

		free(l);
		return r;
	}
	*ret = l;
	return 0;
}

static void watch_destroy(struct loop_watch *w)
{
	if (w->own_fd && w->fd >= 0)
		close(w->fd);
	free(w);
}

static void free_dead(struct loop *l)
{
	while (l->dead) {
		struct loop_watch *w = l->dead;

		l->dead = w->next_dead;
		watch_destroy(w);
	}
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	free_dead(l);
	close(l->epfd);
	free(l);
}

static int add_watch(struct loop *l, int fd, uint32_t events, bool own,
		     enum watch_kind kind, void *data, struct loop_watch **ret)
{
	struct epoll_event ev = { .events = events };
	struct loop_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->loop = l;
	w->kind = kind;
	w->fd = fd;
	w->own_fd = own;
	w->data = data;
	w->events = events;
	ev.data.ptr = w;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int r = -errno;

		free(w);
		return r;
	}
	*ret = w;
	return 0;
}

int loop_add_io(struct loop *l, int fd, uint32_t events, unsigned flags,
		loop_io_fn fn, void *data, struct loop_watch **ret)
{
	struct loop_watch *w;
	int r;

	r = add_watch(l, fd, events, flags & LOOP_OWN_FD, WATCH_IO, data, &w);
	if (r < 0)
		return r;
	w->fn.io = fn;
	if (ret)
		*ret = w;
	return 0;
}

int loop_watch_set_events(struct loop_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	/* Callers set the events after every send: skip the no-op syscall. */
	if (w->events == events)
		return 0;
	if (epoll_ctl(w->loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
		return -errno;
	w->events = events;
	return 0;
}

int loop_watch_fd(const struct loop_watch *w)
{
	return w->fd;
}

static void ms_to_timespec(uint64_t ms, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000L;
}

int loop_timer_arm(struct loop_watch *w, uint64_t first_ms, uint64_t interval_ms)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	ms_to_timespec(first_ms, &its.it_value);
	ms_to_timespec(interval_ms, &its.it_interval);
	/* A zero it_value disarms: fire "now" by using 1 ns instead. */
	if (first_ms == 0 && interval_ms != 0)
		its.it_value.tv_nsec = 1;
	if (timerfd_settime(w->fd, 0, &its, NULL) < 0)
		return -errno;
	return 0;
}

int loop_add_timer(struct loop *l, uint64_t first_ms, uint64_t interval_ms,
		   loop_timer_fn fn, void *data, struct loop_watch **ret)
{
	struct loop_watch *w;
	int fd, r;

	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = add_watch(l, fd, EPOLLIN, true, WATCH_TIMER, data, &w);
	if (r < 0) {
		close(fd);
		return r;
	}
	w->fn.timer = fn;
	r = loop_timer_arm(w, first_ms, interval_ms);
	if (r < 0) {
		loop_remove(w);
		return r;
	}
	if (ret)
		*ret = w;
	return 0;
}

int loop_add_signals(struct loop *l, const sigset_t *set, loop_signal_fn fn,
		     void *data, struct loop_watch **ret)
{
	struct loop_watch *w;
	int fd, r;

	if (sigprocmask(SIG_BLOCK, set, NULL) < 0)
		return -errno;
	fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = add_watch(l, fd, EPOLLIN, true, WATCH_SIGNAL, data, &w);
	if (r < 0) {
		close(fd);
		return r;
	}
	w->fn.signal = fn;
	if (ret)
		*ret = w;
	return 0;
}

void loop_remove(struct loop_watch *w)
{
	struct loop *l;

	if (!w || w->removed)
		return;
	l = w->loop;
	w->removed = true;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	if (w->own_fd) {
		close(w->fd);
		w->fd = -1;
	}
	if (l->dispatching) {
		w->next_dead = l->dead;
		l->dead = w;
	} else {
		watch_destroy(w);
	}
}

static void dispatch(struct loop_watch *w, uint32_t events)
{
	switch (w->kind) {
	case WATCH_IO:
		w->fn.io(w, events, w->data);
		break;
	case WATCH_TIMER: {
		uint64_t exp = 0;

		if (read(w->fd, &exp, sizeof(exp)) != sizeof(exp))
			return;	/* spurious or re-armed meanwhile */
		w->fn.timer(w, exp, w->data);
		break;
	}
	case WATCH_SIGNAL: {
		struct signalfd_siginfo si;

		while (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
			w->fn.signal(w, (int)si.ssi_signo, w->data);
			if (w->removed)
				break;
		}
		break;
	}
	}
}

int loop_iterate(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[64];
	int n;

	n = epoll_wait(l->epfd, evs, (int)ARRAY_LEN(evs), timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	l->dispatching++;
	for (int i = 0; i < n; i++) {
		struct loop_watch *w = evs[i].data.ptr;

		/* A watch removed earlier in this pass is on the dead list. */
		if (w->removed)
			continue;
		dispatch(w, evs[i].events);
	}
	l->dispatching--;
	if (!l->dispatching)
		free_dead(l);
	return n;
}

int loop_run(struct loop *l)
{
	l->running = true;
	while (l->running) {
		int r = loop_iterate(l, -1);

		if (r < 0)
			return r;
	}
	return l->quit_code;
}

void loop_quit(struct loop *l, int code)
{
	l->running = false;
	l->quit_code = code;
}
