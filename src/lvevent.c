/* SPDX-License-Identifier: MIT */
/*
 * lvevent.c - libvirt's event callbacks (virEventRegisterImpl) on the
 * daemon's one loop.
 *
 * libvirt's event API is process-wide and its add/update/remove functions
 * take no context pointer, so the loop they use is the one static here: set
 * once, before the first connection, and never changed (the only global the
 * daemon has; libvirt leaves no other way short of a second thread).
 *
 * What libvirt expects of an implementation: each fd watch may share its fd
 * with another watch (so each gets a dup() of its own: epoll takes an fd
 * once); a watch with no events must not report hang-ups (it leaves epoll
 * until it has events again); a removed watch's free callback runs only
 * after the dispatch it was removed in; a timeout of 0 fires every loop
 * iteration, -1 never.
 */
#include "lvevent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <libvirt/libvirt.h>

#include "loop.h"

struct lv_handle {
	int id;
	int fd;			/* our dup of libvirt's fd */
	int events;		/* VIR_EVENT_HANDLE_* */
	struct loop_watch *w;	/* NULL while events is 0 */
	virEventHandleCallback cb;
	void *opaque;
	virFreeCallback ff;
	bool removed;
};

struct lv_timeout {
	int id;
	int ms;			/* -1: off, 0: every iteration */
	struct loop_watch *w;
	virEventTimeoutCallback cb;
	void *opaque;
	virFreeCallback ff;
	bool removed;
};

struct lv_events {
	struct loop *loop;
	struct lv_handle **h;
	size_t nh;
	struct lv_timeout **t;
	size_t nt;
	int next_id;
	struct loop_watch *reaper;	/* frees removed entries after dispatch */
};

static struct lv_events *lv;	/* see the head of the file */

static uint32_t to_epoll(int ev)
{
	return ((ev & VIR_EVENT_HANDLE_READABLE) ? EPOLLIN : 0) |
	       ((ev & VIR_EVENT_HANDLE_WRITABLE) ? EPOLLOUT : 0);
}

static int from_epoll(uint32_t ev)
{
	return ((ev & EPOLLIN) ? VIR_EVENT_HANDLE_READABLE : 0) |
	       ((ev & EPOLLOUT) ? VIR_EVENT_HANDLE_WRITABLE : 0) |
	       ((ev & EPOLLERR) ? VIR_EVENT_HANDLE_ERROR : 0) |
	       ((ev & EPOLLHUP) ? VIR_EVENT_HANDLE_HANGUP : 0);
}

static void reap_later(void)
{
	loop_timer_arm(lv->reaper, 1, 0);
}

static void on_handle(struct loop_watch *w, uint32_t events, void *data)
{
	struct lv_handle *h = data;

	if (!h->removed)
		h->cb(h->id, h->fd, from_epoll(events), h->opaque);
}

static int handle_watch(struct lv_handle *h)
{
	int r = 0;

	if (!h->events || h->removed) {
		loop_remove(h->w);
		h->w = NULL;
	} else if (h->w) {
		r = loop_watch_set_events(h->w, to_epoll(h->events));
	} else {
		r = loop_add_io(lv->loop, h->fd, to_epoll(h->events), 0, on_handle, h, &h->w);
	}
	return r;
}

static int add_handle(int fd, int events, virEventHandleCallback cb, void *opaque,
		      virFreeCallback ff)
{
	struct lv_handle *h, **arr;

	arr = realloc(lv->h, (lv->nh + 1) * sizeof(*arr));
	if (!arr)
		return -1;
	lv->h = arr;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -1;
	h->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (h->fd < 0) {
		free(h);
		return -1;
	}
	h->id = ++lv->next_id;
	h->events = events;
	h->cb = cb;
	h->opaque = opaque;
	h->ff = ff;
	if (handle_watch(h) < 0) {
		close(h->fd);
		free(h);
		return -1;
	}
	lv->h[lv->nh++] = h;
	return h->id;
}

static struct lv_handle *find_handle(int id)
{
	for (size_t i = 0; i < lv->nh; i++)
		if (lv->h[i]->id == id && !lv->h[i]->removed)
			return lv->h[i];
	return NULL;
}

static void update_handle(int id, int events)
{
	struct lv_handle *h = find_handle(id);

	if (!h)
		return;
	h->events = events;
	handle_watch(h);
}

static int remove_handle(int id)
{
	struct lv_handle *h = find_handle(id);

	if (!h)
		return -1;
	h->removed = true;
	handle_watch(h);
	reap_later();
	return 0;
}

static void on_timeout(struct loop_watch *w, uint64_t exp, void *data)
{
	struct lv_timeout *t = data;

	if (!t->removed && t->ms >= 0)
		t->cb(t->id, t->opaque);
}

/* 0 ("every iteration") is a 1 ms period: the loop's timers disarm at 0. */
static int arm(struct lv_timeout *t)
{
	uint64_t ms = t->ms < 0 || t->removed ? 0 : (t->ms ? (uint64_t)t->ms : 1);

	return loop_timer_arm(t->w, ms, ms);
}

static int add_timeout(int ms, virEventTimeoutCallback cb, void *opaque, virFreeCallback ff)
{
	struct lv_timeout *t, **arr;

	arr = realloc(lv->t, (lv->nt + 1) * sizeof(*arr));
	if (!arr)
		return -1;
	lv->t = arr;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -1;
	t->id = ++lv->next_id;
	t->ms = ms;
	t->cb = cb;
	t->opaque = opaque;
	t->ff = ff;
	if (loop_add_timer(lv->loop, 0, 0, on_timeout, t, &t->w) < 0 || arm(t) < 0) {
		loop_remove(t->w);
		free(t);
		return -1;
	}
	lv->t[lv->nt++] = t;
	return t->id;
}

static struct lv_timeout *find_timeout(int id)
{
	for (size_t i = 0; i < lv->nt; i++)
		if (lv->t[i]->id == id && !lv->t[i]->removed)
			return lv->t[i];
	return NULL;
}

static void update_timeout(int id, int ms)
{
	struct lv_timeout *t = find_timeout(id);

	if (!t)
		return;
	t->ms = ms;
	arm(t);
}

static int remove_timeout(int id)
{
	struct lv_timeout *t = find_timeout(id);

	if (!t)
		return -1;
	t->removed = true;
	arm(t);
	reap_later();
	return 0;
}

/* After the dispatch that removed them: free callbacks, then our entries. */
static void on_reap(struct loop_watch *w, uint64_t exp, void *data)
{
	for (size_t i = 0; i < lv->nh;) {
		struct lv_handle *h = lv->h[i];

		if (!h->removed) {
			i++;
			continue;
		}
		lv->h[i] = lv->h[--lv->nh];
		if (h->ff)
			h->ff(h->opaque);
		close(h->fd);
		free(h);
	}
	for (size_t i = 0; i < lv->nt;) {
		struct lv_timeout *t = lv->t[i];

		if (!t->removed) {
			i++;
			continue;
		}
		lv->t[i] = lv->t[--lv->nt];
		loop_remove(t->w);
		if (t->ff)
			t->ff(t->opaque);
		free(t);
	}
}

int lv_events_register(struct loop *l)
{
	if (lv)
		return lv->loop == l ? 0 : -EBUSY;
	lv = calloc(1, sizeof(*lv));
	if (!lv)
		return -ENOMEM;
	lv->loop = l;
	if (loop_add_timer(l, 0, 0, on_reap, NULL, &lv->reaper) < 0) {
		free(lv);
		lv = NULL;
		return -ENOMEM;
	}
	virEventRegisterImpl(add_handle, update_handle, remove_handle, add_timeout,
			     update_timeout, remove_timeout);
	return 0;
}
