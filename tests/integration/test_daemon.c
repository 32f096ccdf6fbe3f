/* SPDX-License-Identifier: MIT */
/*
 * test_daemon.c - autoballoond against real QEMU guests in a memory-limited
 * slice (the ASan build of the daemon, so memory errors fail the test too).
 *
 *   cache_inflate_burst_sigterm   one 512 MiB guest reads 380 MiB into its page
 *                                 cache inside a 420 MiB slice while the
 *                                 daemon is paused (the kernel swaps), then
 *                                 the daemon, told to keep 45-60% of the
 *                                 slice free, is resumed:
 *      (a) the daemon inflates its balloon and the QEMU process's memory
 *          (RSS + swap: swapping alone does not lower it) drops;
 *      (b) the guest then allocates 250 MiB at once and gets memory back
 *          (actual rises by >= 64 MiB and to >= 300 MiB), no OOM kill;
 *      (d) SIGTERM: the daemon returns the balloon to max and exits 0.
 *   nodriver_and_sigkill          two guests found through qmp_dir:
 *      (e) one without a balloon driver becomes "uncooperative" and is no
 *          longer pushed;
 *      (c) the other one's QEMU is SIGKILLed: the daemon keeps running and
 *          drops the VM.
 *   guest_driver_wins             a guest with virtio_autoballoon.ko, inflated
 *                                 by the daemon, bursts: the driver gives
 *                                 memory back by itself; the daemon shows the
 *                                 VM "guest-deflated", accepts the new size and
 *                                 does not inflate it again before the
 *                                 cool-down is over (never fights the guest).
 *
 * Exit 77 (skip, with the reason) when not root or without memory cgroups.
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
#include "itest.h"
#include "qmp.h"

#define MIB (1024.0 * 1024.0)
#define BOOT_MS 120000

struct ctx {
	char run[256];
	char daemon_bin[512];
};

static struct ctx C;

static void mkdirs(const char *p)
{
	assert_int_equal(hx_mkdir_p(p), 0);
}

static uint64_t qemu_mem(pid_t pid)
{
	struct hx_proc_stats ps;

	if (hx_proc_stats(pid, &ps) < 0)
		return 0;
	return ps.rss_bytes + ps.swap_bytes;
}

static uint64_t actual_now(struct qmp_sync *q)
{
	uint64_t a = 0;

	assert_int_equal(qmp_sync_query_balloon(q, &a), 0);
	return a;
}

static void ctl_ok(const char *sock, const char *req)
{
	json_t *r = hx_ctl(sock, req);

	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
}

static void test_cache_inflate_burst_sigterm(void **state)
{
	char dir[300], daemon_qmp_dir[320], qmp_arg[400], conf[2048], swapfile[320];
	const char *extra[3] = { "-qmp", qmp_arg, NULL };
	struct hx_slice *slice;
	struct hx_swap *swap = NULL;
	struct hx_vm *vm;
	struct qmp_sync *q;
	struct hx_daemon d;
	const struct hx_line *l;
	uint64_t mem_before, mem_after = 0, usage_before, usage_after = 0;
	uint64_t a, a_min, a_burst, t0;
	uint64_t oom = 1;
	int st, r;

	snprintf(dir, sizeof(dir), "%s/t1", C.run);
	snprintf(daemon_qmp_dir, sizeof(daemon_qmp_dir), "%s/qmp", dir);
	mkdirs(daemon_qmp_dir);
	snprintf(qmp_arg, sizeof(qmp_arg), "unix:%s/a.qmp,server=on,wait=off", daemon_qmp_dir);
	snprintf(swapfile, sizeof(swapfile), "%s/swap", dir);

	assert_int_equal(hx_slice_create("autoballoon-itest-daemon", 420 * (uint64_t)MIB,
					 &slice), 0);
	r = hx_swap_create(swapfile, 1024 * (uint64_t)MIB, &swap);
	if (r == -EPERM) {
		hx_slice_destroy(slice);
		skip();	/* swapon not permitted here */
	}
	assert_int_equal(r, 0);

	struct hx_vm_opts o = {
		.name = "a", .run_dir = dir, .mem_mib = 512,
		.workload = "spike", .args = "cache=380,idle=30,burst=250,hold=10,idle2=12",
		.deflate_on_oom = true, .free_page_reporting = true,
		.data_disk_mib = 400, .slice = slice, .extra_args = extra,
	};
	assert_int_equal(hx_vm_start(&o, &vm), 0);

	snprintf(conf, sizeof(conf),
		 "[daemon]\ncontrol_socket = %s/ctl.sock\nrestore_timeout = 30s\n"
		 "[host]\ncgroup = %s\nlow = 45%%\nhigh = 60%%\n"
		 "[vm a]\nqmp = %s/a.qmp\n",
		 dir, hx_slice_path(slice), daemon_qmp_dir);
	assert_int_equal(hx_daemon_start(C.daemon_bin, dir, conf, true, &d), 0);
	ctl_ok(d.ctl, "{\"cmd\": \"pause\"}");
	assert_int_equal(hx_vm_wait_qmp(vm, 20000), 0);
	assert_int_equal(qmp_sync_open(hx_vm_qmp_path(vm), 5000, &q), 0);

	/* (a) the cache is in, the slice is short, the kernel has swapped: resume */
	assert_int_equal(hx_vm_wait_line(vm, "AB phase name=idle-start", BOOT_MS, &l), 0);
	sleep(1);
	mem_before = qemu_mem(hx_vm_pid(vm));
	hx_slice_usage(slice, &usage_before);
	a_min = actual_now(q);
	assert_int_equal(a_min, 512 * (uint64_t)MIB);	/* paused: nothing done */
	ctl_ok(d.ctl, "{\"cmd\": \"resume\"}");
	t0 = hx_now_ms();
	while (hx_now_ms() - t0 < 20000) {
		a = actual_now(q);
		a_min = a < a_min ? a : a_min;
		mem_after = qemu_mem(hx_vm_pid(vm));
		hx_slice_usage(slice, &usage_after);
		if (a_min <= 400 * MIB && mem_after + 100 * MIB <= mem_before)
			break;
		usleep(250000);
	}
	print_message("(a) resumed: actual 512 -> %.0f MiB in %.1f s; QEMU RSS+swap "
		      "%.0f -> %.0f MiB; slice usage %.0f -> %.0f MiB\n",
		      a_min / MIB, (hx_now_ms() - t0) / 1000.0, mem_before / MIB,
		      mem_after / MIB, usage_before / MIB, usage_after / MIB);
	if (a_min > 400 * MIB || mem_after + 100 * MIB > mem_before)
		hx_daemon_show_log(&d, 40);
	assert_true(a_min <= 400 * MIB);
	assert_true(mem_after + 100 * MIB <= mem_before);

	/* (b) the burst: the guest wins, at once */
	assert_int_equal(hx_vm_wait_line(vm, "AB phase name=burst-start", 60000, &l), 0);
	a_burst = actual_now(q);
	t0 = hx_now_ms();
	a = a_burst;
	/* 250 MiB of anon plus the kernel do not fit in less than 300 MiB */
	while (hx_now_ms() - t0 < 20000 && (a < a_burst + 64 * MIB || a < 300 * MIB)) {
		usleep(100000);
		a = actual_now(q);
	}
	print_message("(b) burst: actual %.0f -> %.0f MiB, %.0f ms after the burst line\n",
		      a_burst / MIB, a / MIB, (double)(hx_now_ms() - t0));
	assert_true(a >= a_burst + 64 * MIB && a >= 300 * MIB);

	/* (d) SIGTERM during the idle after the burst: balloon back to max */
	assert_int_equal(hx_vm_wait_line(vm, "AB phase name=idle2-start", 60000, &l), 0);
	assert_int_equal(hx_daemon_stop(&d, SIGTERM, 40000, &st), 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	a = actual_now(q);
	print_message("(d) after SIGTERM: actual %.0f MiB (max 512), daemon exit %d\n",
		      a / MIB, WEXITSTATUS(st));
	assert_true(a >= 511 * MIB);

	assert_int_equal(hx_vm_wait_line(vm, "AB result", 60000, &l), 0);
	assert_int_equal(hx_line_get_u64(l, "oom_kill", &oom), 0);
	assert_int_equal(oom, 0);
	assert_int_equal(hx_vm_wait_exit(vm, 30000, NULL), 0);

	qmp_sync_close(q);
	hx_vm_destroy(vm);
	hx_swap_destroy(swap);
	assert_int_equal(hx_slice_destroy(slice), 0);
}

static void test_nodriver_and_sigkill(void **state)
{
	char dir[300], qdir[320], arg_b[400], arg_c[400], conf[2048], buf[64];
	const char *extra_b[3] = { "-qmp", arg_b, NULL };
	const char *extra_c[3] = { "-qmp", arg_c, NULL };
	struct hx_slice *slice;
	struct hx_vm *b, *c;
	struct hx_daemon d;
	double sent, target;
	uint64_t t0;
	int st;

	snprintf(dir, sizeof(dir), "%s/t2", C.run);
	snprintf(qdir, sizeof(qdir), "%s/qmp", dir);
	mkdirs(qdir);
	snprintf(arg_b, sizeof(arg_b), "unix:%s/b.qmp,server=on,wait=off", qdir);
	snprintf(arg_c, sizeof(arg_c), "unix:%s/c.qmp,server=on,wait=off", qdir);
	assert_int_equal(hx_slice_create("autoballoon-itest-daemon2", 1024 * (uint64_t)MIB,
					 &slice), 0);

	/* The host marks are set so high that the slice is always "short". */
	snprintf(conf, sizeof(conf),
		 "[daemon]\ncontrol_socket = %s/ctl.sock\nqmp_dir = %s\nrestore_on_exit = no\n"
		 "[host]\ncgroup = %s\nlow = 85%%\nhigh = 90%%\n"
		 "[policy]\nuncooperative_after = 5s\n",
		 dir, qdir, hx_slice_path(slice));
	assert_int_equal(hx_daemon_start(C.daemon_bin, dir, conf, true, &d), 0);

	struct hx_vm_opts ob = {
		.name = "b", .run_dir = dir, .mem_mib = 384, .workload = "idle",
		.args = "forever=1", .slice = slice, .extra_args = extra_b,
	};
	struct hx_vm_opts oc = ob;

	oc.name = "c";
	oc.driver = HX_DRIVER_NONE;
	oc.extra_args = extra_c;
	assert_int_equal(hx_vm_start(&ob, &b), 0);
	assert_int_equal(hx_vm_start(&oc, &c), 0);
	assert_int_equal(hx_vm_wait_line(b, "AB ready", BOOT_MS, NULL), 0);
	assert_int_equal(hx_vm_wait_line(c, "AB ready", BOOT_MS, NULL), 0);

	/* both found through qmp_dir; b is not to give anything */
	t0 = hx_now_ms();
	while (hx_now_ms() - t0 < 20000 &&
	     (isnan(hx_ctl_vm_num(d.ctl, "b", "actual_bytes")) ||
	      isnan(hx_ctl_vm_num(d.ctl, "c", "actual_bytes"))))
		usleep(200000);
	ctl_ok(d.ctl, "{\"cmd\": \"set\", \"vm\": \"b\", \"min\": \"100%\"}");

	/* (e) c is pushed (no stats: donor of last resort), does not follow */
	t0 = hx_now_ms();
	while (hx_now_ms() - t0 < 40000 &&
	       strcmp(hx_ctl_vm_str(d.ctl, "c", "state", buf, sizeof(buf)), "uncooperative"))
		usleep(250000);
	print_message("(e) no driver: state \"%s\" after %.1f s\n", buf,
		      (hx_now_ms() - t0) / 1000.0);
	if (strcmp(buf, "uncooperative"))
		hx_daemon_show_log(&d, 40);
	assert_string_equal(buf, "uncooperative");
	sent = hx_ctl_vm_num(d.ctl, "c", "targets_sent");
	target = hx_ctl_vm_num(d.ctl, "c", "target_bytes");
	assert_true(target >= 383 * MIB);	/* stopped pushing: target = actual */
	sleep(8);
	assert_true(hx_ctl_vm_num(d.ctl, "c", "targets_sent") == sent);
	assert_string_equal(hx_ctl_vm_str(d.ctl, "c", "state", buf, sizeof(buf)),
			    "uncooperative");
	print_message("(e) no further targets in 8 s (sent %.0f, target %.0f MiB)\n",
		      sent, target / MIB);

	/* (c) SIGKILL b's QEMU: the daemon stays and drops b */
	assert_int_equal(hx_vm_kill(b), 0);
	t0 = hx_now_ms();
	for (;;) {
		json_t *vm = hx_ctl_vm_dump(d.ctl, "b");

		if (!vm)
			break;
		json_decref(vm);
		assert_true(hx_now_ms() - t0 < 15000);
		usleep(200000);
	}
	print_message("(c) QEMU killed: VM dropped after %.1f s; daemon alive: %d\n",
		      (hx_now_ms() - t0) / 1000.0, hx_daemon_alive(&d));
	assert_true(hx_daemon_alive(&d));
	assert_string_equal(hx_ctl_vm_str(d.ctl, "c", "state", buf, sizeof(buf)),
			    "uncooperative");

	assert_int_equal(hx_daemon_stop(&d, SIGTERM, 20000, &st), 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	hx_vm_kill(c);
	hx_vm_destroy(b);
	hx_vm_destroy(c);
	assert_int_equal(hx_slice_destroy(slice), 0);
}

static void test_guest_driver_wins(void **state)
{
	char dir[300], qdir[320], qmp_arg[400], conf[2048], buf[64];
	const char *extra[3] = { "-qmp", qmp_arg, NULL };
	struct hx_slice *slice;
	struct hx_vm *vm;
	struct qmp_sync *q;
	struct hx_daemon d;
	const struct hx_line *l;
	uint64_t a, a_before, a_max, t_burst, t_deflated = 0, t_reinflate = 0, t0;
	bool seen_state = false;
	int st;

	snprintf(dir, sizeof(dir), "%s/t3", C.run);
	snprintf(qdir, sizeof(qdir), "%s/qmp", dir);
	mkdirs(qdir);
	snprintf(qmp_arg, sizeof(qmp_arg), "unix:%s/g.qmp,server=on,wait=off", qdir);
	assert_int_equal(hx_slice_create("autoballoon-itest-daemon3", 1024 * (uint64_t)MIB,
					 &slice), 0);

	struct hx_vm_opts o = {
		.name = "g", .run_dir = dir, .mem_mib = 512, .driver = HX_DRIVER_AUTOBALLOON,
		.workload = "spike", .args = "cache=300,idle=25,burst=250,hold=20,idle2=5",
		.deflate_on_oom = true, .free_page_reporting = true, .dmesg = true,
		.data_disk_mib = 320, .slice = slice, .extra_args = extra,
	};
	assert_int_equal(hx_vm_start(&o, &vm), 0);
	/*
	 * Keep 60-70% of the slice free: the guest's cache has to go. No lead:
	 * with low at 60% the boot alone looks like a host heading for
	 * pressure, and a guest squeezed before it reads its cache never
	 * holds the cache this test is about.
	 */
	snprintf(conf, sizeof(conf),
		 "[daemon]\ncontrol_socket = %s/ctl.sock\nrestore_on_exit = no\n"
		 "[host]\ncgroup = %s\nlow = 60%%\nhigh = 70%%\n"
		 "[policy]\ncooldown = 15s\nlead = 0\n"
		 "[vm g]\nqmp = %s/g.qmp\n",
		 dir, hx_slice_path(slice), qdir);
	assert_int_equal(hx_daemon_start(C.daemon_bin, dir, conf, true, &d), 0);
	assert_int_equal(hx_vm_wait_qmp(vm, 20000), 0);
	assert_int_equal(qmp_sync_open(hx_vm_qmp_path(vm), 5000, &q), 0);
	assert_int_equal(hx_vm_wait_line(vm, "AB ready", BOOT_MS, &l), 0);
	assert_string_equal(hx_line_get(l, "balloon_driver"), "virtio_autoballoon");

	assert_int_equal(hx_vm_wait_line(vm, "AB phase name=burst-start", 90000, &l), 0);
	t_burst = l->mono_ns / 1000000;
	a_before = actual_now(q);
	print_message("(g) before the burst the daemon had inflated the guest to %.0f MiB\n",
		      a_before / MIB);
	if (a_before > 350 * MIB)
		hx_daemon_show_log(&d, 60);
	assert_true(a_before <= 350 * MIB);

	/*
	 * Watch 14 s from the burst: the guest takes memory, the daemon accepts.
	 * How much the driver takes depends on how much cache the guest still
	 * holds when the burst starts (a guest left at 330 MiB covers most of
	 * a 250 MiB burst from its own cache), so the mark is the driver's
	 * first step (auto_step_mb, 16 MiB): any step at all counts, and the
	 * state check below says it was the guest's, not the daemon's.
	 */
	a_max = a_before;
	while ((t0 = hx_now_ms()) - t_burst < 14000) {
		a = actual_now(q);
		if (a >= a_before + 16 * MIB && !t_deflated)
			t_deflated = t0;
		if (a > a_max)
			a_max = a;
		if (t_deflated && a + 16 * MIB < a_max && !t_reinflate)
			t_reinflate = t0;
		if (!strcmp(hx_ctl_vm_str(d.ctl, "g", "state", buf, sizeof(buf)), "guest-deflated"))
			seen_state = true;
		usleep(100000);
	}
	print_message("(g) driver gave back %.0f MiB, %.0f ms after the burst line; state "
		      "guest-deflated seen: %d; re-inflated within the cool-down: %s\n",
		      (a_max - a_before) / MIB, t_deflated ? (double)(t_deflated - t_burst) : -1.0,
		      seen_state, t_reinflate ? "YES" : "no");
	if (!seen_state || t_reinflate)
		hx_daemon_show_log(&d, 40);
	assert_true(t_deflated != 0);
	assert_true(seen_state);
	assert_true(hx_ctl_vm_num(d.ctl, "g", "target_bytes") >= a_max - MIB);
	assert_int_equal(t_reinflate, 0);

	assert_int_equal(hx_vm_wait_line(vm, "AB result", 60000, &l), 0);
	assert_int_equal(hx_line_get_u64(l, "oom_kill", &a), 0);
	assert_int_equal(a, 0);
	assert_int_equal(hx_vm_wait_line(vm, "AB done", 60000, NULL), 0);
	assert_int_equal(hx_vm_kernel_issues(vm), 0);
	assert_int_equal(hx_daemon_stop(&d, SIGTERM, 20000, &st), 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	qmp_sync_close(q);
	hx_vm_wait_exit(vm, 30000, NULL);
	hx_vm_destroy(vm);
	assert_int_equal(hx_slice_destroy(slice), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_inflate_burst_sigterm),
		cmocka_unit_test(test_nodriver_and_sigkill),
		cmocka_unit_test(test_guest_driver_wins),
	};
	char why[256];
	int r;

	r = hx_env_check(NULL, why, sizeof(why));
	if (r == -EPERM || r == -ENODEV) {
		printf("SKIP test_daemon: %s\n", why);
		return 77;
	}
	if (r < 0) {
		printf("test_daemon: %s\n", why);
		return 1;
	}
	itest_build_path("asan/autoballoond", C.daemon_bin, sizeof(C.daemon_bin));
	{
		char rel[64];

		snprintf(rel, sizeof(rel), "run/itest-daemon-%d", (int)getpid());
		itest_build_path(rel, C.run, sizeof(C.run));
	}
	mkdirs(C.run);
	if (hx_guard_start() < 0)
		return 1;
	if (argc > 1)	/* one test by name pattern, e.g. "*driver*" */
		cmocka_set_test_filter(argv[1]);
	r = cmocka_run_group_tests_name("daemon", tests, NULL, NULL);
	hx_guard_stop();
	return r;
}
