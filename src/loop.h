/* SPDX-License-Identifier: MIT */
/*
 * loop.h - the daemon's single event loop: one epoll instance; file
 * descriptors, timers (timerfd) and signals (signalfd) are all watches.
 *
 * A watch removed while the loop is dispatching is only marked and freed after
 * the current pass, so a callback may remove any watch, itself included.
 */
#ifndef AB_LOOP_H
#define AB_LOOP_H

#include <signal.h>
#include <stdint.h>

struct loop;
struct loop_watch;

/* fd became ready; events are EPOLLIN/EPOLLOUT/EPOLLPRI/EPOLLERR/EPOLLHUP. */
typedef void (*loop_io_fn)(struct loop_watch *w, uint32_t events, void *data);
/* Timer expired (expirations counts missed intervals too). */
typedef void (*loop_timer_fn)(struct loop_watch *w, uint64_t expirations, void *data);
typedef void (*loop_signal_fn)(struct loop_watch *w, int signo, void *data);

int loop_new(struct loop **ret);
void loop_free(struct loop *l);

/* Watch fd for events. The loop does not own fd unless LOOP_OWN_FD is set. */
#define LOOP_OWN_FD 1u
int loop_add_io(struct loop *l, int fd, uint32_t events, unsigned flags,
		loop_io_fn fn, void *data, struct loop_watch **ret);
int loop_watch_set_events(struct loop_watch *w, uint32_t events);
int loop_watch_fd(const struct loop_watch *w);

/*
 * A timer firing first after first_ms, then every interval_ms (0: once).
 * first_ms 0 with interval 0 disarms it.
 */
int loop_add_timer(struct loop *l, uint64_t first_ms, uint64_t interval_ms,
		   loop_timer_fn fn, void *data, struct loop_watch **ret);
int loop_timer_arm(struct loop_watch *w, uint64_t first_ms, uint64_t interval_ms);

/* Block the signals in set and deliver them through a signalfd watch. */
int loop_add_signals(struct loop *l, const sigset_t *set, loop_signal_fn fn,
		     void *data, struct loop_watch **ret);

/* Remove a watch (deferred when called during dispatch). NULL is a no-op. */
void loop_remove(struct loop_watch *w);

/* Run until loop_quit(); returns the code passed to loop_quit(). */
int loop_run(struct loop *l);
/* One iteration, waiting at most timeout_ms (-1: forever). For tests. */
int loop_iterate(struct loop *l, int timeout_ms);
void loop_quit(struct loop *l, int code);

#endif
