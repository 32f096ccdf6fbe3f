/* SPDX-License-Identifier: MIT */
/*
 * metrics.h - Prometheus text metrics over HTTP (libmicrohttpd), served from
 * the daemon's own event loop (MHD's epoll fd is one more watch), rendered
 * from the same state dump the control socket returns. Off unless a port is
 * configured; binds to 127.0.0.1 by default.
 */
#ifndef AB_METRICS_H
#define AB_METRICS_H

#include <jansson.h>
#include <stdint.h>

struct loop;
struct manager;
struct metrics;

int metrics_new(struct loop *l, const char *address, uint16_t port,
		struct manager *m, struct metrics **ret);
void metrics_free(struct metrics *mt);

/* Render a manager_dump() (full) as Prometheus text; malloc'd. */
char *metrics_render(const json_t *dump);

#endif
