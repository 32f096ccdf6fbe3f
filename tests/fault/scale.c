/* SPDX-License-Identifier: MIT */
/*
 * scale - autoballoond (release build) managing N fake VMs (fakeqmp,
 * release build, one process) at a 1 s tick, defaults otherwise (guests
 * refresh their stats every second, the daemon fetches each new sample). Measured over a window after all VMs are managed:
 * daemon CPU (share of one core), RSS, policy round and housekeeping times,
 * missed ticks, how often every VM was polled and how fresh its stats are.
 *
 *   scale N [SECONDS]       (make scale: N = 100 and 1000, 30 s each)
 *
 * Targets: 1,000 VMs < 5% of a core and < 50 MiB RSS, 100 VMs < 0.5%;
 * every round within the tick (round time < tick, no missed tick) and every
 * VM polled on schedule. Exit 0 when met, 1 otherwise; one line per run is
 * appended to build/scale.txt.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fq.h"
#include "harness.h"
#include "hx_daemon.h"

static double dump_counter(json_t *dump, const char *name)
{
	return json_number_value(json_object_get(json_object_get(json_object_get(dump, "dump"),
								   "counters"), name));
}

/* Stats polls per VM from the fake's list: sum, min into *ret_min. */
static double fake_polls(const struct fq_proc *fq, double *ret_min, size_t *ret_n)
{
	json_t *r = fq_cmd(fq, "list"), *vm;
	double sum = 0, mn = INFINITY;
	size_t i, n = 0;

	json_array_foreach(json_object_get(r, "vms"), i, vm) {
		double p = json_number_value(json_object_get(vm, "stats_cmds"));

		sum += p;
		mn = p < mn ? p : mn;
		n++;
	}
	json_decref(r);
	*ret_min = mn;
	*ret_n = n;
	return sum;
}

static int count_ok(json_t *dump, double *ret_max_age)
{
	json_t *vm;
	size_t i;
	int ok = 0;

	*ret_max_age = 0;
	json_array_foreach(json_object_get(json_object_get(dump, "dump"), "vms"), i, vm) {
		const char *st = json_string_value(json_object_get(vm, "state"));
		json_t *age = json_object_get(vm, "stats_age_ms");

		if (st && (!strcmp(st, "ok") || !strcmp(st, "guest-deflated")))
			ok++;
		if (!json_is_number(age))
			*ret_max_age = INFINITY;
		else if (json_number_value(age) > *ret_max_age)
			*ret_max_age = json_number_value(age);
	}
	return ok;
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 1000;
	unsigned secs = argc > 2 ? (unsigned)atoi(argv[2]) : 30;
	char cwd[512], dir[700], fake[700], daemon[700], conf[4096], nvms[16], limit[32];
	const char *args[16];
	struct hx_proc_stats p0, p1, f0, f1;
	struct fq_proc fq;
	struct hx_daemon d;
	double cpu_pct, fake_pct, poll_min0, poll_min1, sum0, sum1, max_age = 0, worst_ctl = 0;
	double rounds0, rounds1, missed0, missed1, round_max = 0, hk_max, per_vm_min;
	uint64_t rss_max = 0, t0, t1;
	size_t nv;
	json_t *dump;
	int rc = 0, ok = 0;
	FILE *out;

	if (n == 0 || secs == 0) {
		fprintf(stderr, "usage: scale N [SECONDS]\n");
		return 2;
	}
	if (!getcwd(cwd, sizeof(cwd)))
		return 1;
	snprintf(dir, sizeof(dir), "%s/build/run/scale-%u-%d", cwd, n, (int)getpid());
	snprintf(fake, sizeof(fake), "%s/build/tests/fakeqmp/fakeqmp", cwd);
	snprintf(daemon, sizeof(daemon), "%s/build/autoballoond", cwd);
	mkdir(dir, 0755);
	if (hx_guard_start() < 0)
		return 1;

	/* N x 1 GiB guests using 256 MiB, in a slice 3% short of them */
	snprintf(nvms, sizeof(nvms), "%u", n);
	snprintf(limit, sizeof(limit), "%lluM", (unsigned long long)n * 1024 * 97 / 100);
	args[0] = "--vms"; args[1] = nvms; args[2] = "--mem"; args[3] = "1G";
	args[4] = "--used"; args[5] = "256M"; args[6] = "--cache"; args[7] = "128M";
	args[8] = "--limit"; args[9] = limit; args[10] = NULL;
	if (fq_start(fake, dir, true, args, &fq) < 0) {
		fprintf(stderr, "scale: fakeqmp did not start\n");
		return 1;
	}
	snprintf(conf, sizeof(conf),
		 "[daemon]\ncontrol_socket = %s/ctl.sock\nqmp_dir = %s\ntick = 1s\n"
		 "log_level = warning\n"
		 "[host]\nproc_dir = %s\ncgroup = %s/slice\ncgroup_version = 2\npressure = none\n",
		 dir, fq.qmp_dir, fq.host_dir, fq.host_dir);
	if (hx_daemon_start(daemon, dir, conf, false, &d) < 0) {
		fprintf(stderr, "scale: autoballoond did not start\n");
		hx_daemon_show_log(&d, 20);
		return 1;
	}

	/* all managed, then a few seconds to settle */
	t0 = hx_now_ms();
	while (hx_now_ms() - t0 < 120000) {
		dump = hx_ctl(d.ctl, "{\"cmd\": \"dump\"}");
		ok = dump ? count_ok(dump, &max_age) : 0;
		json_decref(dump);
		if (ok == (int)n)
			break;
		sleep(1);
	}
	printf("scale: %u VMs managed after %.1f s\n", ok, (hx_now_ms() - t0) / 1000.0);
	if (ok != (int)n) {
		hx_daemon_show_log(&d, 20);
		return 1;
	}
	sleep(5);

	/* the window */
	dump = hx_ctl(d.ctl, "{\"cmd\": \"dump\"}");
	rounds0 = dump_counter(dump, "rounds");
	missed0 = dump_counter(dump, "ticks_missed");
	json_decref(dump);
	sum0 = fake_polls(&fq, &poll_min0, &nv);
	hx_proc_stats(d.pid, &p0);
	hx_proc_stats(fq.pid, &f0);
	t0 = hx_now_ms();
	for (unsigned i = 0; hx_now_ms() - t0 < secs * 1000ULL; i++) {
		struct hx_proc_stats ps;

		/* a full dump every 10 s, like a monitoring agent scraping */
		if (i % 10 == 5) {
			uint64_t c0 = hx_now_ns();

			dump = hx_ctl(d.ctl, "{\"cmd\": \"dump\"}");
			worst_ctl = fmax(worst_ctl, (double)(hx_now_ns() - c0) / 1e6);
			if (dump && dump_counter(dump, "round_us_last") > round_max)
				round_max = dump_counter(dump, "round_us_last");
			json_decref(dump);
		}
		if (hx_proc_stats(d.pid, &ps) == 0 && ps.rss_bytes > rss_max)
			rss_max = ps.rss_bytes;
		usleep(1000000);
	}
	t1 = hx_now_ms();
	hx_proc_stats(d.pid, &p1);
	hx_proc_stats(fq.pid, &f1);
	sum1 = fake_polls(&fq, &poll_min1, &nv);
	dump = hx_ctl(d.ctl, "{\"cmd\": \"dump\"}");
	rounds1 = dump_counter(dump, "rounds");
	missed1 = dump_counter(dump, "ticks_missed");
	hk_max = dump_counter(dump, "housekeeping_us_max");
	/* the slowest round since start (adoption of all VMs included) */
	round_max = fmax(round_max, dump_counter(dump, "round_us_max"));
	count_ok(dump, &max_age);
	json_decref(dump);

	cpu_pct = 100.0 * (double)(p1.cpu_ms - p0.cpu_ms) / (double)(t1 - t0);
	fake_pct = 100.0 * (double)(f1.cpu_ms - f0.cpu_ms) / (double)(t1 - t0);
	/* polls per VM in the window: the least-polled VM (approximation from
	 * the minimum totals) and the average */
	per_vm_min = poll_min1 - poll_min0;
	printf("scale: %u VMs, tick 1 s, guest stats every 1 s, %u s window\n", n, secs);
	printf("  daemon CPU        %.2f%% of one core (%llu ms)\n", cpu_pct,
	       (unsigned long long)(p1.cpu_ms - p0.cpu_ms));
	printf("  daemon RSS        %.1f MiB max in the window, %.1f MiB peak (VmHWM)\n",
	       rss_max / 1048576.0, p1.hwm_bytes / 1048576.0);
	printf("  policy rounds     %.0f in %.0f s; slowest since start %.2f ms; ticks missed %.0f\n",
	       rounds1 - rounds0, (t1 - t0) / 1000.0, round_max / 1000.0, missed1 - missed0);
	printf("  housekeeping      slowest pass %.2f ms (all sessions, every 100 ms)\n",
	       hk_max / 1000.0);
	printf("  stats polls       %.1f per VM on average (one per new sample: %u), oldest "
	       "sample %.0f ms\n", (sum1 - sum0) / (double)nv, secs, max_age);
	printf("  control dump      %.1f ms at most (a full dump every 10 s)\n", worst_ctl);
	printf("  fakeqmp CPU       %.2f%% (not the daemon's)\n", fake_pct);
	(void)per_vm_min;

	if ((n >= 1000 && cpu_pct >= 5.0) || (n <= 100 && cpu_pct >= 0.5)) {
		printf("  FAIL: CPU over target\n");
		rc = 1;
	}
	if (rss_max >= 50ULL << 20) {
		printf("  FAIL: RSS over 50 MiB\n");
		rc = 1;
	}
	if (round_max >= 1e6 || missed1 - missed0 > 0 || rounds1 - rounds0 < 0.9 * secs) {
		printf("  FAIL: rounds late or missed\n");
		rc = 1;
	}
	if ((sum1 - sum0) / (double)nv < 0.9 * secs || max_age > 2500) {
		printf("  FAIL: VMs not polled on schedule\n");
		rc = 1;
	}
	out = fopen("build/scale.txt", "a");
	if (out) {
		fprintf(out, "| %u | %.2f%% | %.1f MiB | %.1f MiB | %.2f ms | %.2f ms | %.0f | %.1f | "
			"%.0f ms | %s |\n", n, cpu_pct, rss_max / 1048576.0,
			p1.hwm_bytes / 1048576.0, round_max / 1000.0, hk_max / 1000.0,
			missed1 - missed0, (sum1 - sum0) / (double)nv, max_age,
			rc ? "FAIL" : "pass");
		fclose(out);
	}
	hx_daemon_stop(&d, SIGTERM, 30000, NULL);
	fq_stop(&fq);
	hx_guard_stop();
	{
		char cmd[800];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (rc == 0 && system(cmd) != 0)
			fprintf(stderr, "scale: could not remove %s\n", dir);
	}
	printf("  %s\n", rc ? "FAIL" : "PASS");
	return rc;
}
