/* SPDX-License-Identifier: MIT */
/*
 * metrics.h - Prometheus text metrics over HTTP (libmicrohttpd), served from
 * the daemon's own event loop (MHD's epoll fd is one more watch), rendered
 * from the manager's state. Off unless a port is
 * configured; binds to 127.0.0.1 by default.
 */
#ifndef AB_METRICS_H
#define AB_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct manager;
struct metrics;

int metrics_new(struct loop *l, const char *address, uint16_t port,
		struct manager *m, struct metrics **ret);
void metrics_free(struct metrics *mt);

/* The manager's state as Prometheus text; malloc'd (NULL: out of memory). */
char *metrics_render(const struct manager *m);

/* s as a label value (backslash, quote and newline escaped) into buf. */
void metrics_escape_label(const char *s, char *buf, size_t len);

#endif
