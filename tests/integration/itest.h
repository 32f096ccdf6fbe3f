/* SPDX-License-Identifier: MIT */
/*
 * itest.h - helpers for tests that run autoballoond against guests (real
 * QEMU or the fake QMP peer): start and stop the daemon under the harness
 * guard, talk to its control socket, wait for conditions.
 */
#ifndef AB_ITEST_H
#define AB_ITEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct itest_daemon {
	pid_t pid;
	char conf[512];
	char ctl[512];
	char log[512];
};

/*
 * Write config_text to DIR/daemon.conf and start BINARY -c it -v with
 * stderr/stdout to DIR/daemon.log; wait until the control socket DIR/ctl.sock
 * answers (the config must use that control_socket). The PID is registered
 * with the harness guard.
 */
int itest_daemon_start(const char *binary, const char *dir, const char *config_text,
		       struct itest_daemon *d);
/* Send sig and wait up to timeout_ms; *ret_status gets the wait status. */
int itest_daemon_stop(struct itest_daemon *d, int sig, int timeout_ms, int *ret_status);
bool itest_daemon_alive(const struct itest_daemon *d);
/* Print the daemon log (on failure, for the CI log). */
void itest_daemon_show_log(const struct itest_daemon *d, int last_lines);

/* One control request ({"cmd": ...}); returns the reply or NULL. */
json_t *itest_ctl(const char *sock, const char *request);
/* The "vms" entry named name from a fresh dump (new reference) or NULL. */
json_t *itest_vm_dump(const char *sock, const char *name);
/* Number field of a VM (NAN when missing or null). */
double itest_vm_num(const char *sock, const char *name, const char *field);
/* String field of a VM (copied into buf; "" when missing). */
const char *itest_vm_str(const char *sock, const char *name, const char *field,
			 char *buf, size_t len);

/* Absolute path of a file in the build directory (e.g. "asan/autoballoond"). */
const char *itest_build_path(const char *rel, char *buf, size_t len);

#endif
