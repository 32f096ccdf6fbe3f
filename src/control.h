/* SPDX-License-Identifier: MIT */
/*
 * control.h - the daemon's control socket (autoballoonctl talks to it).
 *
 * A UNIX stream socket, mode 0600; a peer must be root or the daemon's own
 * user (SO_PEERCRED). One JSON object per line each way:
 *   {"cmd": "status"}                       -> {"ok": true, "status": {...}}
 *   {"cmd": "dump"}                         -> {"ok": true, "dump": {...}}
 *   {"cmd": "set", "vm": "NAME", "min": "512M", "max": "2G", "weight": 200}
 *   {"cmd": "pause"} / {"cmd": "resume"}    -> {"ok": true}
 * Errors: {"ok": false, "error": "..."}. A request longer than
 * CONTROL_MAX_REQUEST bytes is answered with an error and the connection is
 * closed.
 */
#ifndef AB_CONTROL_H
#define AB_CONTROL_H

#include <stddef.h>
#include <sys/types.h>

#define CONTROL_MAX_REQUEST (64 * 1024)
#define CONTROL_MAX_CLIENTS 32
#define CONTROL_MAX_OUTPUT (64 * 1024 * 1024)

struct loop;
struct manager;
struct logger;
struct control;

int control_new(struct loop *l, const struct logger *log, const char *path,
		struct manager *m, struct control **ret);
void control_free(struct control *c);

/*
 * Handle one request line; returns the reply line (malloc'd, ending in
 * "\n"). Never NULL unless out of memory. Exposed for tests and fuzzing.
 */
char *control_handle(struct manager *m, const char *line, size_t len);

/* Is a peer with this uid allowed? (root or the daemon's own user) */
int control_peer_allowed(uid_t peer, uid_t self);

#endif
