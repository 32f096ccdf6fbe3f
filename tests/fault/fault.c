/* SPDX-License-Identifier: MIT */
#include "fault.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct fault_ctx FC;

static const char *itest_path(const char *rel, char *buf, size_t len)
{
	char cwd[512];

	if (!getcwd(cwd, sizeof(cwd)))
		snprintf(cwd, sizeof(cwd), ".");
	snprintf(buf, len, "%s/build/%s", cwd, rel);
	return buf;
}

static void rm_rf_mkdir(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, dir);
	assert_int_equal(system(cmd), 0);
}

void fx_init(struct fx *f, const char *name, unsigned limit_mib, const char *const *fargs)
{
	const char *args[32];
	char limit[32];
	int n = 0, r;

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "%s/%s", FC.run, name);
	snprintf(f->ddir, sizeof(f->ddir), "%s", f->dir);
	rm_rf_mkdir(f->dir);
	snprintf(limit, sizeof(limit), "%uM", limit_mib);
	args[n++] = "--limit";
	args[n++] = limit;
	for (int i = 0; fargs && fargs[i] && n < 30; i++)
		args[n++] = fargs[i];
	args[n] = NULL;
	r = fq_start(FC.fake_bin, f->dir, true, args, &f->fq);
	if (r < 0)
		fail_msg("fakeqmp did not start: %s", strerror(-r));
}

void fx_config(const struct fx *f, char *buf, size_t len, bool no_dir,
	       const char *daemon_extra, const char *host_extra,
	       const char *policy_extra, const char *tail)
{
	int n = snprintf(buf, len,
		"[daemon]\n"
		"control_socket = %s/ctl.sock\n"
		"%s%s%s"
		"tick = 200ms\n"
		"stats_poll = 200ms\n"
		"stats_stale = 2s\n"
		"qmp_timeout = 500ms\n"
		"reconnect_min = 100ms\n"
		"reconnect_max = 1s\n"
		"restore_timeout = 3s\n"
		"%s"
		"[host]\n"
		"proc_dir = %s\n"
		"cgroup = %s/slice\n"
		"cgroup_version = 2\n"
		"pressure = none\n"
		"%s"
		"[policy]\n"
		"uncooperative_after = 1s\n"
		"%s"
		"%s",
		f->ddir, no_dir ? "" : "qmp_dir = ", no_dir ? "" : f->fq.qmp_dir,
		no_dir ? "" : "\n", daemon_extra ? daemon_extra : "",
		f->fq.host_dir, f->fq.host_dir, host_extra ? host_extra : "",
		policy_extra ? policy_extra : "", tail ? tail : "");

	assert_true(n > 0 && (size_t)n < len);
}

void fx_daemon(struct fx *f, const char *conf)
{
	int r;

	mkdir(f->ddir, 0755);
	r = hx_daemon_start(FC.daemon_bin, f->ddir, conf, true, &f->d);
	if (r < 0) {
		hx_daemon_show_log(&f->d, 30);
		fail_msg("autoballoond did not start: %s", strerror(-r));
	}
	f->daemon_up = true;
}

void fx_daemon_stop_clean(struct fx *f, int timeout_ms)
{
	int st = 0, r;

	r = hx_daemon_stop(&f->d, SIGTERM, timeout_ms, &st);
	f->daemon_up = false;
	if (r < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		hx_daemon_show_log(&f->d, 60);
		fail_msg("daemon stop: %s, status 0x%x", r < 0 ? strerror(-r) : "exited", st);
	}
}

void fx_done(struct fx *f)
{
	if (f->daemon_up)
		fx_daemon_stop_clean(f, 10000);
	if (f->fq.pid > 0) {
		int st = fq_stop(&f->fq);

		if (st != 0) {
			char cmd[700];

			snprintf(cmd, sizeof(cmd), "tail -n 30 '%s' >&2", f->fq.log);
			if (system(cmd) != 0)
				fprintf(stderr, "(no fakeqmp log)\n");
			fail_msg("fakeqmp exited with status 0x%x", st);
		}
	}
}

double dnum(const struct fx *f, const char *vm, const char *field)
{
	return hx_ctl_vm_num(f->d.ctl, vm, field);
}

const char *dstr(const struct fx *f, const char *vm, const char *field, char *buf, size_t len)
{
	return hx_ctl_vm_str(f->d.ctl, vm, field, buf, len);
}

double dqmp(const struct fx *f, const char *vm, const char *field)
{
	json_t *v = hx_ctl_vm_dump(f->d.ctl, vm);
	json_t *x = json_object_get(json_object_get(v, "qmp_counters"), field);
	double d = json_is_number(x) ? json_number_value(x) : NAN;

	json_decref(v);
	return d;
}

double dcounter(const struct fx *f, const char *field)
{
	json_t *r = hx_ctl(f->d.ctl, "{\"cmd\": \"dump\"}");
	json_t *x = json_object_get(json_object_get(json_object_get(r, "dump"), "counters"),
				    field);
	double d = json_is_number(x) ? json_number_value(x) : NAN;

	json_decref(r);
	return d;
}

int fx_log_lines(const struct fx *f, const char *a, const char *b,
		 void (*fn)(const char *line, void *data), void *data)
{
	char line[1024];
	FILE *fp = fopen(f->d.log, "r");
	int n = 0;

	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp)) {
		if (!strstr(line, a) || (b && !strstr(line, b)))
			continue;
		n++;
		if (fn)
			fn(line, data);
	}
	fclose(fp);
	return n;
}

int fx_log_count(const struct fx *f, const char *a, const char *b)
{
	return fx_log_lines(f, a, b, NULL, NULL);
}

bool wait_state(const struct fx *f, const char *vm, const char *state, int timeout_ms)
{
	char buf[64];

	return WAIT_FOR(timeout_ms, strcmp(dstr(f, vm, "state", buf, sizeof(buf)), state) == 0);
}

double ctl_latency_ms(const struct fx *f)
{
	uint64_t t0 = hx_now_ns();
	json_t *r = hx_ctl(f->d.ctl, "{\"cmd\": \"status\"}");

	if (!r)
		return 1e9;
	json_decref(r);
	return (double)(hx_now_ns() - t0) / 1e6;
}

uint64_t daemon_cpu_ms(const struct fx *f)
{
	struct hx_proc_stats ps;

	return hx_proc_stats(f->d.pid, &ps) == 0 ? ps.cpu_ms : 0;
}

uint64_t daemon_rss_bytes(const struct fx *f)
{
	struct hx_proc_stats ps;

	return hx_proc_stats(f->d.pid, &ps) == 0 ? ps.rss_bytes : 0;
}

int fault_main(const char *suite, const struct CMUnitTest *tests, size_t n)
{
	char rel[64];
	int r;

	snprintf(rel, sizeof(rel), "run/fault-%s-%d", suite, (int)getpid());
	itest_path(rel, FC.run, sizeof(FC.run));
	itest_path("asan/autoballoond", FC.daemon_bin, sizeof(FC.daemon_bin));
	itest_path("asan/tests/fakeqmp/fakeqmp", FC.fake_bin, sizeof(FC.fake_bin));
	rm_rf_mkdir(FC.run);
	if (hx_guard_start() < 0)
		return 1;
	r = _cmocka_run_group_tests(suite, tests, n, NULL, NULL);
	hx_guard_stop();
	/* directories a test had to put under /tmp, also when it failed */
	snprintf(rel, sizeof(rel), "rm -rf /tmp/abfault-%d-*", (int)getpid());
	if (system(rel) != 0)
		fprintf(stderr, "%s: could not remove /tmp/abfault-%d-*\n", suite, (int)getpid());
	return r;
}
