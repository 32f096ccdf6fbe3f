/* SPDX-License-Identifier: MIT */
/*
 * test_faults.c - faults that real QEMU can produce, on real guests (TCG),
 * with the ASan build of the daemon. Each guest has two QMP monitors: the
 * harness's (the test watches and pokes the balloon there) and one in the
 * daemon's qmp_dir.
 *
 *   slice_restart_kill  two 384 MiB guests in a memory-limited slice:
 *     (1) the slice limit lowered at run time: the daemon inflates, never
 *         below min; raised again: the memory flows back;
 *     (2) the daemon SIGKILLed and restarted while a guest sits below its
 *         min: the new daemon re-adopts the balloons as they are (no target
 *         for the guest within bounds) and raises the other to its min;
 *     (3) a QEMU SIGKILLed while the daemon inflates it: the daemon stays,
 *         drops that VM, keeps managing the other, exits 0 on SIGTERM with
 *         the survivor's balloon back at max.
 *   swap_full           the swap filled while the daemon is paused (the
 *     slice squeezed under a guest holding 250 MiB of page cache); resumed,
 *     the daemon sees the host short with swap that cannot help, takes the
 *     cache (never below min) until the slice is above its low mark; a
 *     60 MiB burst in the other guest (deflate-on-oom) then fits: no guest
 *     or QEMU is OOM-killed, the daemon exits 0.
 *
 * Needs root and memory cgroups, else exit 77 (skip). Boots 4 guests (~3
 * min under TCG). Take /tmp/autoballoon-qemu.lock first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

#include "harness.h"
#include "hx_daemon.h"
#include "qmp.h"

#define MIB ((uint64_t)1 << 20)
#define MIB_D (1024.0 * 1024.0)
#define BOOT_MS 120000

static struct {
	char run[256];
	char daemon_bin[512];
} C;

static void mkdirs(const char *p)
{
	assert_int_equal(hx_mkdir_p(p), 0);
}

static uint64_t actual_of(struct hx_vm *vm)
{
	struct qmp_sync *q;
	uint64_t a = 0;

	if (qmp_sync_open(hx_vm_qmp_path(vm), 5000, &q) < 0)
		return 0;
	if (qmp_sync_query_balloon(q, &a) < 0)
		a = 0;
	qmp_sync_close(q);
	return a;
}

static int set_balloon(struct hx_vm *vm, uint64_t bytes)
{
	struct qmp_sync *q;
	int r;

	r = qmp_sync_open(hx_vm_qmp_path(vm), 5000, &q);
	if (r < 0)
		return r;
	r = qmp_sync_balloon(q, bytes);
	qmp_sync_close(q);
	return r;
}

static double dnum(const struct hx_daemon *d, const char *vm, const char *field)
{
	return hx_ctl_vm_num(d->ctl, vm, field);
}

static void write_conf_and_start(const char *dir, const char *conf, struct hx_daemon *d)
{
	int r;

	mkdirs(dir);
	r = hx_daemon_start(C.daemon_bin, dir, conf, true, d);
	if (r < 0) {
		hx_daemon_show_log(d, 30);
		fail_msg("autoballoond did not start: %s", strerror(-r));
	}
}

static bool wait_managed(const struct hx_daemon *d, const char *vm, int ms)
{
	uint64_t t0 = hx_now_ms();
	char buf[64];

	while (hx_now_ms() - t0 < (uint64_t)ms) {
		hx_ctl_vm_str(d->ctl, vm, "state", buf, sizeof(buf));
		if (!strcmp(buf, "ok") || !strcmp(buf, "guest-deflated"))
			return true;
		usleep(200000);
	}
	return false;
}

static void start_guest(const char *name, const char *dir, const char *qdir,
			struct hx_slice *slice, const char *workload, const char *args,
			unsigned data_mib, bool doo, struct hx_vm **ret)
{
	/* hx_vm_start copies the arguments into QEMU's command line */
	char qmp_arg[400];
	const char *extra[3] = { "-qmp", qmp_arg, NULL };
	struct hx_vm_opts o = {
		.name = name, .run_dir = dir, .mem_mib = 384, .workload = workload,
		.args = args, .slice = slice, .data_disk_mib = data_mib,
		.deflate_on_oom = doo, .extra_args = extra,
	};

	snprintf(qmp_arg, sizeof(qmp_arg), "unix:%s/%s.qmp,server=on,wait=off", qdir, name);
	assert_int_equal(hx_vm_start(&o, ret), 0);
}

static void restart_conf(char *buf, size_t len, const char *ddir, const char *qdir,
			 const struct hx_slice *slice, const char *relax)
{
	snprintf(buf, len,
		 "[daemon]\ncontrol_socket = %s/ctl.sock\nqmp_dir = %s\nrestore_on_exit = yes\n"
		 "restore_timeout = 20s\n"
		 "[host]\ncgroup = %s\nlow = 40%%\nhigh = 50%%\n"
		 "[policy]\nrelax_delay = %s\ngiveback_step = 64M\nuncooperative_after = 8s\n"
		 "[defaults]\nmin = 50%%\n", ddir, qdir, hx_slice_path(slice), relax);
}

static void test_slice_restart_kill(void **state)
{
	char dir[300], qdir[320], d1dir[320], d2dir[320], conf[2048];
	struct hx_slice *slice;
	struct hx_vm *a, *b;
	struct hx_daemon d1, d2;
	uint64_t usage = 0, a_before, b_min_seen, t0, a0 = 0, b0 = 0;
	double low_a = 1e18, low_b = 1e18;
	bool killed_mid = false;
	int st;

	snprintf(dir, sizeof(dir), "%s/restart", C.run);
	snprintf(qdir, sizeof(qdir), "%s/qmp", dir);
	snprintf(d1dir, sizeof(d1dir), "%s/d1", dir);
	snprintf(d2dir, sizeof(d2dir), "%s/d2", dir);
	mkdirs(qdir);
	assert_int_equal(hx_slice_create("autoballoon-itest-faults", 1536 * MIB, &slice), 0);
	start_guest("a", dir, qdir, slice, "idle", "forever=1", 0, false, &a);
	start_guest("b", dir, qdir, slice, "idle", "forever=1", 0, false, &b);
	assert_int_equal(hx_vm_wait_line(a, "AB ready", BOOT_MS, NULL), 0);
	assert_int_equal(hx_vm_wait_line(b, "AB ready", BOOT_MS, NULL), 0);

	restart_conf(conf, sizeof(conf), d1dir, qdir, slice, "2s");
	write_conf_and_start(d1dir, conf, &d1);
	assert_true(wait_managed(&d1, "a", 30000));
	assert_true(wait_managed(&d1, "b", 30000));
	sleep(2);

	/* (1) the limit lowered to what is in use (+64 MiB) */
	assert_int_equal(hx_slice_usage(slice, &usage), 0);
	assert_int_equal(hx_slice_set_limit(slice, usage + 64 * MIB), 0);
	a_before = actual_of(a);
	t0 = hx_now_ms();
	while (hx_now_ms() - t0 < 15000) {
		double x = dnum(&d1, "a", "actual_bytes"), y = dnum(&d1, "b", "actual_bytes");

		low_a = x < low_a ? x : low_a;
		low_b = y < low_b ? y : low_b;
		usleep(250000);
	}
	print_message("(1) limit %.0f -> %.0f MiB: guests down to %.0f / %.0f MiB (min 192) in "
		      "15 s\n", 1536.0, (usage + 64 * MIB) / MIB_D, low_a / MIB_D, low_b / MIB_D);
	if (!(low_a < a_before - 32 * MIB_D || low_b < a_before - 32 * MIB_D))
		hx_daemon_show_log(&d1, 40);
	assert_true(low_a < a_before - 32 * MIB_D || low_b < a_before - 32 * MIB_D);
	assert_true(low_a >= 192 * MIB_D && low_b >= 192 * MIB_D);
	/* raised: back toward max */
	assert_int_equal(hx_slice_set_limit(slice, 1536 * MIB), 0);
	t0 = hx_now_ms();
	while (hx_now_ms() - t0 < 30000 &&
	       (dnum(&d1, "a", "actual_bytes") < 370 * MIB_D ||
		dnum(&d1, "b", "actual_bytes") < 370 * MIB_D))
		usleep(250000);
	print_message("(1) limit back to 1536 MiB: guests at %.0f / %.0f MiB after %.1f s\n",
		      dnum(&d1, "a", "actual_bytes") / MIB_D, dnum(&d1, "b", "actual_bytes") / MIB_D,
		      (hx_now_ms() - t0) / 1000.0);
	assert_true(dnum(&d1, "a", "actual_bytes") >= 370 * MIB_D);
	assert_true(dnum(&d1, "b", "actual_bytes") >= 370 * MIB_D);

	/* (2) SIGKILL; meanwhile a is inflated a bit and b below its min */
	assert_int_equal(hx_daemon_stop(&d1, SIGKILL, 5000, &st), 0);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(set_balloon(a, 300 * MIB), 0);
	assert_int_equal(set_balloon(b, 120 * MIB), 0);
	t0 = hx_now_ms();
	while (hx_now_ms() - t0 < 10000 &&
	       ((a0 = actual_of(a)) > 301 * MIB || (b0 = actual_of(b)) > 121 * MIB))
		usleep(200000);
	restart_conf(conf, sizeof(conf), d2dir, qdir, slice, "1m");
	write_conf_and_start(d2dir, conf, &d2);
	assert_true(wait_managed(&d2, "a", 30000));
	t0 = hx_now_ms();
	b_min_seen = 0;
	while (hx_now_ms() - t0 < 15000 && (b_min_seen = actual_of(b)) < 192 * MIB)
		usleep(250000);
	sleep(2);
	print_message("(2) restarted: a adopted at %.0f MiB (QEMU %.0f, %.0f targets sent); b "
		      "%.0f -> %.0f MiB (min 192)\n", dnum(&d2, "a", "target_bytes") / MIB_D,
		      actual_of(a) / MIB_D, dnum(&d2, "a", "targets_sent"), b0 / MIB_D,
		      b_min_seen / MIB_D);
	assert_true(fabs(dnum(&d2, "a", "target_bytes") - (double)a0) <= MIB_D);
	assert_int_equal(dnum(&d2, "a", "targets_sent"), 0);
	assert_true(b_min_seen >= 191 * MIB);

	/* (3) lower the limit again and kill a's QEMU while it is inflated */
	assert_int_equal(hx_slice_usage(slice, &usage), 0);
	assert_int_equal(hx_slice_set_limit(slice, usage + 64 * MIB), 0);
	t0 = hx_now_ms();
	while (hx_now_ms() - t0 < 20000) {
		json_t *vm = hx_ctl_vm_dump(d2.ctl, "a");
		double tg = json_number_value(json_object_get(vm, "target_bytes"));
		double ac = json_number_value(json_object_get(vm, "actual_bytes"));

		json_decref(vm);
		if (tg > 0 && tg < ac - 4 * MIB_D) {
			killed_mid = true;
			break;
		}
		usleep(20000);
	}
	assert_int_equal(hx_vm_kill(a), 0);
	t0 = hx_now_ms();
	while (hx_now_ms() - t0 < 15000) {
		json_t *vm = hx_ctl_vm_dump(d2.ctl, "a");

		if (!vm)
			break;
		json_decref(vm);
		usleep(200000);
	}
	print_message("(3) a's QEMU killed %s: dropped after %.1f s; daemon alive %d, b %.0f "
		      "MiB, stats %.0f ms old\n", killed_mid ? "mid-inflate" : "(no inflate seen)",
		      (hx_now_ms() - t0) / 1000.0, hx_daemon_alive(&d2),
		      dnum(&d2, "b", "actual_bytes") / MIB_D, dnum(&d2, "b", "stats_age_ms"));
	assert_true(hx_daemon_alive(&d2));
	assert_null(hx_ctl_vm_dump(d2.ctl, "a"));
	assert_true(wait_managed(&d2, "b", 2000));
	assert_true(dnum(&d2, "b", "stats_age_ms") < 3000);

	/* SIGTERM: b back to max, clean exit */
	assert_int_equal(hx_slice_set_limit(slice, 1536 * MIB), 0);
	assert_int_equal(hx_daemon_stop(&d2, SIGTERM, 40000, &st), 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		hx_daemon_show_log(&d2, 40);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_true(actual_of(b) >= 383 * MIB);
	hx_vm_kill(b);
	hx_vm_destroy(a);
	hx_vm_destroy(b);
	assert_int_equal(hx_slice_destroy(slice), 0);
}

static double host_num(const struct hx_daemon *d, const char *field)
{
	json_t *r = hx_ctl(d->ctl, "{\"cmd\": \"dump\"}");
	double v = json_number_value(json_object_get(json_object_get(json_object_get(r, "dump"),
								       "host"), field));

	json_decref(r);
	return v;
}

static void ctl_ok(const struct hx_daemon *d, const char *req)
{
	json_t *r = hx_ctl(d->ctl, req);

	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
}

/* Is a swap device active already?  Names the first one in why. */
static bool other_swap_active(char *why, size_t len)
{
	char line[512], name[300];
	bool found = false;
	FILE *f = fopen("/proc/swaps", "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (line[0] == '/' && sscanf(line, "%299s", name) == 1) {
			snprintf(why, len, "swap %.200s is active", name);
			found = true;
		}
	fclose(f);
	return found;
}

static void test_swap_full(void **state)
{
	char dir[300], qdir[320], ddir[320], conf[2048], swapfile[320], why[300];
	struct hx_slice *slice;
	struct hx_swap *swap = NULL;
	struct hx_vm *c, *d;
	struct hx_daemon dm;
	struct hx_slice_stats ss;
	const struct hx_line *l = NULL;
	uint64_t oom = 1, usage = 0, c_before, t0;
	double c_low = 1e18, avail = 0;
	int st, r, xs;

	snprintf(dir, sizeof(dir), "%s/swapfull", C.run);
	snprintf(qdir, sizeof(qdir), "%s/qmp", dir);
	snprintf(ddir, sizeof(ddir), "%s/d", dir);
	snprintf(swapfile, sizeof(swapfile), "%s/swap", dir);
	if (other_swap_active(why, sizeof(why))) {
		print_message("SKIP test_swap_full: %s: the test fills its own 64 MiB "
			      "swap file and needs it to be the host's only swap\n", why);
		skip();
	}
	mkdirs(qdir);
	assert_int_equal(hx_slice_create("autoballoon-itest-swapfull", 1536 * MIB, &slice), 0);
	r = hx_swap_create(swapfile, 64 * MIB, &swap);
	if (r == -EPERM) {
		hx_slice_destroy(slice);
		skip();
	}
	assert_int_equal(r, 0);

	/*
	 * c: 250 MiB of page cache, then idle; d: a 60 MiB burst 50 s in,
	 * with deflate-on-oom (a guest squeezed to its buffer cannot absorb an
	 * instant burst otherwise: the daemon answers in a round, the burst
	 * needs the memory in microseconds)
	 */
	start_guest("c", dir, qdir, slice, "spike", "cache=250,idle=150,burst=0,hold=0,idle2=1",
		    300, false, &c);
	start_guest("d", dir, qdir, slice, "spike", "cache=0,idle=50,burst=60,hold=10,idle2=1",
		    0, true, &d);
	snprintf(conf, sizeof(conf),
		 "[daemon]\ncontrol_socket = %s/ctl.sock\nqmp_dir = %s\nrestore_timeout = 20s\n"
		 "[host]\ncgroup = %s\nlow = 15%%\nhigh = 25%%\n"
		 "[defaults]\nmin = 40%%\n", ddir, qdir, hx_slice_path(slice));
	write_conf_and_start(ddir, conf, &dm);
	ctl_ok(&dm, "{\"cmd\": \"pause\"}");
	assert_int_equal(hx_vm_wait_line(c, "AB phase name=idle-start", BOOT_MS, &l), 0);
	assert_true(wait_managed(&dm, "c", 20000));
	assert_true(wait_managed(&dm, "d", 20000));

	/*
	 * Fill the swap: the slice 58 MiB under what it uses, the daemon
	 * paused. Not the whole 64 MiB: with no swap left at all the memcg OOM
	 * killer takes a QEMU before the daemon resumes (seen once).
	 */
	assert_int_equal(hx_slice_usage(slice, &usage), 0);
	/* v1 refuses (-EBUSY) a limit its reclaim could not reach in one go:
	 * each try swaps more out, a few tries get there */
	for (int tries = 0; (r = hx_slice_set_limit(slice, usage - 58 * MIB)) == -EBUSY &&
			    tries < 10; tries++)
		usleep(500 * 1000);
	assert_int_equal(r, 0);
	sleep(2);
	assert_int_equal(hx_slice_stats(slice, &ss), 0);
	print_message("swap full: slice limit %.0f MiB, its swap %.0f MiB, host swap free "
		      "%.0f of 64 MiB\n", (usage - 58 * MIB) / MIB_D, ss.swap_bytes / MIB_D,
		      host_num(&dm, "swap_free_bytes") / MIB_D);
	assert_true(host_num(&dm, "swap_free_bytes") <= 8 * MIB_D);

	/* the daemon resumes: the host is short and swap cannot help */
	c_before = actual_of(c);
	ctl_ok(&dm, "{\"cmd\": \"resume\"}");
	t0 = hx_now_ms();
	while (hx_now_ms() - t0 < 20000) {
		double x = dnum(&dm, "c", "actual_bytes");

		c_low = x < c_low ? x : c_low;
		avail = host_num(&dm, "available_bytes");
		if (c_low <= c_before - 64 * MIB_D && avail >= host_num(&dm, "low_bytes"))
			break;
		usleep(250000);
	}
	print_message("swap full: daemon took %.0f MiB from c's cache in %.1f s; slice "
		      "available %.0f MiB (low %.0f)\n", (c_before - c_low) / MIB_D,
		      (hx_now_ms() - t0) / 1000.0, avail / MIB_D, host_num(&dm, "low_bytes") / MIB_D);
	assert_true(c_low <= c_before - 64 * MIB_D);
	assert_true(c_low >= 0.4 * 384 * MIB_D - MIB_D);	/* min */
	assert_true(avail >= host_num(&dm, "low_bytes"));

	/* d's burst fits in the room made: nobody is killed */
	r = hx_vm_wait_line(d, "AB result", 120000, &l);
	print_message("swap full: d's burst %s; c %s; daemon alive %d\n",
		      r == 0 ? "done" : "did not finish",
		      hx_vm_exited(c, &xs) ? "exited" : "running", hx_daemon_alive(&dm));
	assert_int_equal(r, 0);
	assert_int_equal(hx_line_get_u64(l, "oom_kill", &oom), 0);
	assert_int_equal(oom, 0);
	assert_false(hx_vm_exited(c, &xs));
	assert_true(hx_daemon_alive(&dm));

	assert_int_equal(hx_slice_set_limit(slice, 1536 * MIB), 0);
	assert_int_equal(hx_daemon_stop(&dm, SIGTERM, 40000, &st), 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		hx_daemon_show_log(&dm, 40);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	hx_vm_kill(c);
	hx_vm_wait_exit(d, 30000, NULL);
	hx_vm_destroy(c);
	hx_vm_destroy(d);
	hx_swap_destroy(swap);
	assert_int_equal(hx_slice_destroy(slice), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slice_restart_kill),
		cmocka_unit_test(test_swap_full),
	};
	char why[256], rel[64];
	int r;

	r = hx_env_check(NULL, why, sizeof(why));
	if (r == -EPERM || r == -ENODEV) {
		printf("SKIP test_faults: %s\n", why);
		return 77;
	}
	if (r < 0) {
		printf("test_faults: %s\n", why);
		return 1;
	}
	{
		char cwd[160];

		if (!getcwd(cwd, sizeof(cwd)))
			return 1;
		snprintf(C.daemon_bin, sizeof(C.daemon_bin), "%s/build/asan/autoballoond", cwd);
		snprintf(rel, sizeof(rel), "build/run/itest-faults-%d", (int)getpid());
		snprintf(C.run, sizeof(C.run), "%s/%s", cwd, rel);
	}
	mkdirs(C.run);
	if (hx_guard_start() < 0)
		return 1;
	r = cmocka_run_group_tests_name("faults", tests, NULL, NULL);
	hx_guard_stop();
	return r;
}
