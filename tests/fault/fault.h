/* SPDX-License-Identifier: MIT */
/*
 * fault.h - shared set-up for the fault suite: one fakeqmp (many fake VMs,
 * a fake cgroup v2 host) and one autoballoond (the ASan build) per test,
 * both under the harness guard, in build/run/fault-PID/TEST/.
 */
#ifndef AB_FAULT_H
#define AB_FAULT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "fq.h"
#include "harness.h"
#include "hx_daemon.h"

#define MIB_D (1024.0 * 1024.0)

struct fx {
	char dir[400];
	char ddir[440];		/* the daemon's directory (config, log, ctl.sock) */
	struct fq_proc fq;
	struct hx_daemon d;
	bool daemon_up;
};

struct fault_ctx {
	char run[300];
	char daemon_bin[512];
	char fake_bin[512];
};

extern struct fault_ctx FC;

/*
 * Fresh directory for test NAME, fakeqmp started with the host model
 * (limit_mib slice) and the given extra arguments (NULL-terminated, may be
 * NULL).
 */
void fx_init(struct fx *f, const char *name, unsigned limit_mib, const char *const *fargs);

/*
 * The daemon configuration used by the suite: fast timings, the fake host,
 * qmp_dir = the fake's socket directory (unless no_dir). Each *_extra is
 * appended to its section; tail after everything (e.g. [vm NAME] sections).
 */
void fx_config(const struct fx *f, char *buf, size_t len, bool no_dir,
	       const char *daemon_extra, const char *host_extra,
	       const char *policy_extra, const char *tail);

/* Start the daemon with config text; fails the test when it does not come up. */
void fx_daemon(struct fx *f, const char *conf);
/* Stop it with SIGTERM; assert a clean exit (0: no sanitizer report). */
void fx_daemon_stop_clean(struct fx *f, int timeout_ms);
/* Stop everything, show the daemon log when the test failed. */
void fx_done(struct fx *f);

/* The daemon's view of a VM. */
double dnum(const struct fx *f, const char *vm, const char *field);
const char *dstr(const struct fx *f, const char *vm, const char *field, char *buf, size_t len);
/* qmp_counters.<field> of a VM in the daemon's dump. */
double dqmp(const struct fx *f, const char *vm, const char *field);
/* A top-level counters.<field> of the dump. */
double dcounter(const struct fx *f, const char *field);

/*
 * The daemon log's lines that contain a (and b, unless NULL): how many
 * (-1: no log); fn, unless NULL, is called with each.
 */
int fx_log_lines(const struct fx *f, const char *a, const char *b,
		 void (*fn)(const char *line, void *data), void *data);
int fx_log_count(const struct fx *f, const char *a, const char *b);

/* Wait until vm's state is `state` (timeout ms); true when it happened. */
bool wait_state(const struct fx *f, const char *vm, const char *state, int timeout_ms);

/* Milliseconds one {"cmd":"status"} takes (a large number when no reply). */
double ctl_latency_ms(const struct fx *f);
/* CPU time (ms) the daemon used so far. */
uint64_t daemon_cpu_ms(const struct fx *f);
uint64_t daemon_rss_bytes(const struct fx *f);

/* Poll cond every 50 ms for up to ms; evaluates to whether it became true. */
#define WAIT_FOR(ms, cond) ({						\
	uint64_t _t0 = hx_now_ms();					\
	bool _ok;							\
	while (!(_ok = (cond)) && hx_now_ms() - _t0 < (uint64_t)(ms))	\
		usleep(50000);						\
	_ok;								\
})

struct CMUnitTest;
/* main() of a fault test program: paths, guard, run the tests. */
int fault_main(const char *suite, const struct CMUnitTest *tests, size_t n);

#endif
