/* SPDX-License-Identifier: MIT */
/*
 * hx_daemon.h - part of the test harness library (libabharness.a): run
 * autoballoond under the harness guard and talk to its control socket.
 *
 * Used by the integration tests (tests/integration/test_daemon.c) and by
 * autoballoon-bench / `make demo`. Same conventions as harness.h: 0 or a
 * negative errno, no printing (except hx_daemon_show_log()).
 */
#ifndef AB_HX_DAEMON_H
#define AB_HX_DAEMON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct hx_daemon {
	pid_t pid;
	char conf[512];		/* DIR/daemon.conf */
	char ctl[512];		/* DIR/ctl.sock: the config must use it */
	char log[512];		/* DIR/daemon.log (stdout + stderr) */
};

/*
 * Write config_text to DIR/daemon.conf and start BINARY -c it [-v] with
 * stdout/stderr to DIR/daemon.log; wait up to 10 s until the control socket
 * DIR/ctl.sock answers {"cmd":"status"} (the config must set that
 * control_socket). The PID is registered with the harness guard.
 * -ECHILD when the daemon died during start-up (see its log), -ETIMEDOUT.
 */
int hx_daemon_start(const char *binary, const char *dir, const char *config_text,
		    bool verbose, struct hx_daemon *d);
/* Send sig and wait up to timeout_ms (then SIGKILL: -ETIMEDOUT); *ret_status
 * (may be NULL) gets the wait status. The PID is unregistered. */
int hx_daemon_stop(struct hx_daemon *d, int sig, int timeout_ms, int *ret_status);
bool hx_daemon_alive(const struct hx_daemon *d);
/* Print the last lines of the daemon log to stderr (for failure reports). */
void hx_daemon_show_log(const struct hx_daemon *d, int last_lines);

/*
 * Send one line to a line-JSON UNIX socket and read one JSON line back
 * (5 s at most); NULL on any failure. json_flags go to json_loads().
 */
json_t *hx_line_request(const char *sock, const char *request, size_t json_flags);
/* One control request line ({"cmd": ...}) to SOCK; the reply (new reference,
 * decoded with integers as reals) or NULL (no answer within 5 s). */
json_t *hx_ctl(const char *sock, const char *request);
/* The "vms" entry named NAME of a fresh dump (new reference), or NULL. */
json_t *hx_ctl_vm_dump(const char *sock, const char *name);
/* The same entry from an already fetched dump reply (borrowed), or NULL. */
json_t *hx_ctl_dump_vm(json_t *dump_reply, const char *name);
/* Number field of a VM (NAN when missing or null). */
double hx_ctl_vm_num(const char *sock, const char *name, const char *field);
/* String field of a VM, copied into buf ("" when missing). */
const char *hx_ctl_vm_str(const char *sock, const char *name, const char *field,
			  char *buf, size_t len);

#endif
