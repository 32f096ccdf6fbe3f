/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lvevent.c: libvirt's event API (virEventAddHandle, ...)
 * dispatched by the daemon's loop, as libvirt's remote driver uses it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <unistd.h>

#include <libvirt/libvirt.h>

#include "loop.h"
#include "lvevent.h"

struct seen {
	int calls;
	int events;
	int frees;
	int remove_id;		/* remove this watch from inside the callback */
};

static void on_handle(int watch, int fd, int events, void *opaque)
{
	struct seen *s = opaque;
	char buf[16];

	s->calls++;
	s->events = events;
	if (events & VIR_EVENT_HANDLE_READABLE)
		(void)!read(fd, buf, sizeof(buf));
	if (s->remove_id)
		virEventRemoveHandle(s->remove_id);
}

static void on_timeout(int timer, void *opaque)
{
	struct seen *s = opaque;

	s->calls++;
	if (s->remove_id)
		virEventRemoveTimeout(s->remove_id);
}

static void on_free(void *opaque)
{
	struct seen *s = opaque;

	s->frees++;
}

static void spin(struct loop *l, int times)
{
	for (int i = 0; i < times; i++)
		loop_iterate(l, 20);
}

static void test_events(void **state)
{
	struct loop *l;
	struct seen a = { 0 }, b = { 0 }, t = { 0 }, t2 = { 0 };
	int p[2], ha, hb, ta, tb;

	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(lv_events_register(l), 0);
	assert_int_equal(lv_events_register(l), 0);	/* once per process, same loop */
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);

	/* two watches on one fd (libvirt does that): each is told */
	ha = virEventAddHandle(p[0], VIR_EVENT_HANDLE_READABLE, on_handle, &a, on_free);
	hb = virEventAddHandle(p[0], 0, on_handle, &b, on_free);
	assert_true(ha > 0 && hb > 0 && ha != hb);
	assert_int_equal(write(p[1], "x", 1), 1);
	spin(l, 3);
	assert_true(a.calls >= 1);
	assert_true(a.events & VIR_EVENT_HANDLE_READABLE);
	/* no events asked: not even a hang-up is reported */
	close(p[1]);
	a.calls = 0;
	virEventUpdateHandle(ha, 0);
	spin(l, 3);
	assert_int_equal(a.calls, 0);
	assert_int_equal(b.calls, 0);
	/* asked again: the hang-up comes */
	virEventUpdateHandle(hb, VIR_EVENT_HANDLE_READABLE);
	spin(l, 2);
	assert_true(b.calls >= 1);
	assert_true(b.events & VIR_EVENT_HANDLE_HANGUP);
	/* removed from its own callback: freed after the dispatch, once */
	b.remove_id = hb;
	spin(l, 3);
	assert_int_equal(b.frees, 1);
	b.calls = 0;
	spin(l, 2);
	assert_int_equal(b.calls, 0);
	assert_int_equal(virEventRemoveHandle(hb), -1);	/* gone */
	assert_int_equal(virEventRemoveHandle(ha), 0);
	spin(l, 2);
	assert_int_equal(a.frees, 1);

	/* timeouts: 0 fires every iteration, -1 never, > 0 after that long */
	ta = virEventAddTimeout(0, on_timeout, &t, on_free);
	tb = virEventAddTimeout(-1, on_timeout, &t2, on_free);
	assert_true(ta > 0 && tb > 0);
	spin(l, 5);
	assert_true(t.calls >= 3);
	assert_int_equal(t2.calls, 0);
	virEventUpdateTimeout(ta, -1);
	t.calls = 0;
	spin(l, 3);
	assert_int_equal(t.calls, 0);
	virEventUpdateTimeout(tb, 30);
	for (int i = 0; i < 20 && !t2.calls; i++)
		loop_iterate(l, 50);
	assert_true(t2.calls >= 1);
	t2.remove_id = tb;
	spin(l, 5);
	assert_int_equal(t2.frees, 1);
	assert_int_equal(virEventRemoveTimeout(ta), 0);
	spin(l, 2);
	assert_int_equal(t.frees, 1);

	close(p[0]);
	loop_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_events),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
