/* SPDX-License-Identifier: MIT */
/*
 * test_harness.c - the harness library and the guest image on real QEMU.
 *
 *   line_parse         AB line parsing (no QEMU)
 *   guard_stop         the guard removes what is still registered on a
 *                      normal stop (no QEMU)
 *   spike_in_slice     a guest in a memory-limited slice with a data disk runs
 *                      a short spike; result line and guest counters parse;
 *                      the stock driver follows a balloon target over QMP
 *   driver_none        ab_driver=none: balloon device present, no driver bound,
 *                      a balloon target over QMP is not followed
 *   guard_sigkill      a child with a slice, a swap file and a guest is
 *                      SIGKILLed; its guard removes all of it
 *
 * Exit 77 (skip) when not root or without memory cgroups. Run from the top of
 * the tree after `make programs` (uses build/guest and build/run).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "qmp.h"

#define BOOT_MS 90000	/* TCG on a busy 2-core machine */

static bool path_exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

static bool pid_alive(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool alive = true;
	if (fgets(buf, sizeof(buf), f)) {
		const char *p = strrchr(buf, ')');
		if (p && (p[2] == 'Z' || p[2] == 'X'))
			alive = false;
	}
	fclose(f);
	return alive;
}

static bool swap_active(const char *path)
{
	FILE *f = fopen("/proc/swaps", "re");
	if (!f)
		return false;
	char line[1024];
	bool found = false;
	char real[4096];
	const char *want = realpath(path, real) ? real : path;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, want, strlen(want)) &&
		    line[strlen(want)] == ' ')
			found = true;
	fclose(f);
	return found;
}

static bool file_contains_pid(const char *path, pid_t pid)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	long p;
	bool found = false;
	while (fscanf(f, "%ld", &p) == 1)
		if (p == pid)
			found = true;
	fclose(f);
	return found;
}

static void expect_u64(const struct hx_line *l, const char *key, uint64_t *ret)
{
	uint64_t v = 0;
	int r = hx_line_get_u64(l, key, &v);
	if (r)
		fail_msg("line '%s': key %s: %s", l->text, key, strerror(-r));
	if (ret)
		*ret = v;
}

/* What a failed test left behind (fail_msg longjmps out): teardown frees it. */
static struct hx_vm *cur_vm;
static struct hx_slice *cur_slice;

static int teardown(void **state)
{
	hx_vm_destroy(cur_vm);
	cur_vm = NULL;
	hx_slice_destroy(cur_slice);
	cur_slice = NULL;
	return 0;
}

/* Set the balloon target and wait up to wait_ms for actual == target; returns
 * the last actual seen. */
static uint64_t balloon_to(struct hx_vm *vm, uint64_t target, int wait_ms)
{
	struct qmp_sync *q;
	int r = qmp_sync_open(hx_vm_qmp_path(vm), 10000, &q);
	if (r)
		fail_msg("qmp open %s: %s", hx_vm_qmp_path(vm), strerror(-r));
	r = qmp_sync_balloon(q, target);
	if (r)
		fail_msg("balloon: %s", strerror(-r));
	uint64_t actual = 0, deadline = hx_now_ms() + (uint64_t)wait_ms;
	do {
		r = qmp_sync_query_balloon(q, &actual);
		if (r)
			fail_msg("query-balloon: %s", strerror(-r));
		if (actual == target)
			break;
		hx_vm_poll(vm);
		usleep(100 * 1000);
	} while (hx_now_ms() < deadline);
	qmp_sync_close(q);
	return actual;
}

/* ------------------------------------------------------------ no QEMU */

static void test_line_parse(void **state)
{
	struct hx_line *l;
	assert_int_equal(hx_line_parse("AB result workload=spike runtime_ms=12 "
				       "x= =y bare oom_kill=0", 42, &l), 0);
	assert_string_equal(l->event, "result");
	assert_int_equal(l->mono_ns, 42);
	assert_string_equal(hx_line_get(l, "workload"), "spike");
	assert_string_equal(hx_line_get(l, "x"), "");
	assert_null(hx_line_get(l, "bare"));
	assert_null(hx_line_get(l, "missing"));
	uint64_t v;
	assert_int_equal(hx_line_get_u64(l, "runtime_ms", &v), 0);
	assert_int_equal(v, 12);
	assert_int_equal(hx_line_get_u64(l, "workload", &v), -EINVAL);
	assert_int_equal(hx_line_get_u64(l, "x", &v), -EINVAL);
	assert_int_equal(hx_line_get_u64(l, "nope", &v), -ENOENT);
	assert_true(hx_line_matches(l, "AB result"));
	assert_true(hx_line_matches(l, "AB result workload=spike"));
	assert_false(hx_line_matches(l, "AB resul"));
	assert_false(hx_line_matches(l, "AB result workload=spik"));
	hx_line_free(l);

	assert_int_equal(hx_line_parse("ABK [1.0] hello", 0, &l), -EINVAL);
	assert_int_equal(hx_line_parse("AB ", 0, &l), -EINVAL);
	assert_int_equal(hx_line_parse("AB done", 0, &l), 0);
	assert_string_equal(l->event, "done");
	assert_int_equal(l->nkv, 0);
	hx_line_free(l);
}

static void test_guard_stop(void **state)
{
	/* a child with its own guard registers a file and stops normally */
	char path[256];
	snprintf(path, sizeof(path), "build/run/guard-stop-%d.tmp", (int)getpid());
	assert_int_equal(system("mkdir -p build/run"), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (hx_guard_start())
			_exit(2);
		int fd = open(path, O_CREAT | O_WRONLY, 0600);
		if (fd < 0 || hx_guard_add_file(path))
			_exit(3);
		close(fd);
		_exit(hx_guard_stop() ? 4 : 0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_false(path_exists(path));
}

/* ------------------------------------------------------------ QEMU */

static void test_spike_in_slice(void **state)
{
	char name[128];
	hx_slice_default_name(name, sizeof(name), "harness");
	struct hx_slice *slice;
	int r = hx_slice_create(name, 1024 * HX_MIB, &slice);
	if (r)
		fail_msg("slice %s: %s", name, strerror(-r));
	cur_slice = slice;
	uint64_t usage;
	assert_int_equal(hx_slice_usage(slice, &usage), 0);

	char vname[64];
	snprintf(vname, sizeof(vname), "harness-spike-%d", (int)getpid());
	struct hx_vm_opts o = {
		.name = vname,
		.mem_mib = 384,
		.workload = "spike",
		.args = "cache=64,idle=3,burst=96,hold=1,idle2=0",
		.data_disk_mib = 128,
		.dmesg = true,
		.deflate_on_oom = true,
		.free_page_reporting = true,
		.slice = slice,
	};
	struct hx_vm *vm;
	r = hx_vm_start(&o, &vm);
	if (r)
		fail_msg("vm start: %s", strerror(-r));
	cur_vm = vm;
	char procs[4200];
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", hx_slice_path(slice));
	assert_true(file_contains_pid(procs, hx_vm_pid(vm)));
	assert_int_equal(hx_vm_wait_qmp(vm, 30000), 0);

	const struct hx_line *l;
	r = hx_vm_wait_line(vm, "AB ready", BOOT_MS, &l);
	if (r)
		fail_msg("no AB ready: %s (see %s)", strerror(-r), hx_vm_serial_path(vm));
	printf("# boot to AB ready: %" PRId64 " ms (accel %s)\n",
	       hx_vm_boot_ms(vm), hx_vm_accel(vm));
	assert_string_equal(hx_line_get(l, "workload"), "spike");
	assert_string_equal(hx_line_get(l, "balloon_driver"), "virtio_balloon");
	const struct hx_line *b = hx_vm_find_line(vm, "AB balloon", 0, NULL);
	assert_non_null(b);
	/* feature bits 2 (DEFLATE_ON_OOM) and 5 (REPORTING) negotiated */
	const char *feat = hx_line_get(b, "features");
	assert_non_null(feat);
	assert_true(strlen(feat) > 5);
	assert_int_equal(feat[2], '1');
	assert_int_equal(feat[5], '1');
	const struct hx_line *d = hx_vm_find_line(vm, "AB disks", 0, NULL);
	assert_non_null(d);
	uint64_t mib;
	expect_u64(d, "data_mib", &mib);
	assert_int_equal(mib, 128);

	/* the stock driver follows a target (spike idles before its burst) */
	uint64_t t0 = hx_now_ms();
	uint64_t actual = balloon_to(vm, 320 * HX_MIB, 20000);
	assert_int_equal(actual, 320 * HX_MIB);
	printf("# balloon 384 -> 320 MiB in %" PRIu64 " ms\n", hx_now_ms() - t0);
	assert_int_equal(balloon_to(vm, 384 * HX_MIB, 20000), 384 * HX_MIB);

	r = hx_vm_wait_line(vm, "AB phase name=burst-touched", 120000, &l);
	if (r)
		fail_msg("no burst-touched: %s", strerror(-r));
	uint64_t touch_ms;
	expect_u64(l, "touch_ms", &touch_ms);
	struct hx_proc_stats ps;
	assert_int_equal(hx_proc_stats(hx_vm_pid(vm), &ps), 0);
	assert_true(ps.rss_bytes > 96 * HX_MIB);
	struct hx_slice_stats ss;
	assert_int_equal(hx_slice_stats(slice, &ss), 0);
	assert_true(ss.usage_bytes >= ps.rss_bytes / 2);
	assert_int_equal(ss.limit_bytes, 1024 * HX_MIB);
	printf("# burst 96 MiB touched in %" PRIu64 " ms; QEMU RSS %" PRIu64
	       " MiB; slice usage %" PRIu64 " MiB\n", touch_ms,
	       ps.rss_bytes / HX_MIB, ss.usage_bytes / HX_MIB);

	r = hx_vm_wait_line(vm, "AB result", 120000, &l);
	if (r)
		fail_msg("no AB result: %s", strerror(-r));
	assert_string_equal(hx_line_get(l, "workload"), "spike");
	uint64_t v;
	expect_u64(l, "runtime_ms", &v);
	assert_true(v > 1000);
	const char *keys[] = { "oom_kill", "pswpin", "pswpout", "pgmajfault" };
	for (size_t i = 0; i < 4; i++)
		expect_u64(l, keys[i], NULL);
	expect_u64(l, "oom_kill", &v);
	assert_int_equal(v, 0);

	r = hx_vm_wait_line(vm, "AB vmstat", 60000, &l);
	assert_int_equal(r, 0);
	for (size_t i = 0; i < 4; i++)
		expect_u64(l, keys[i], NULL);
	r = hx_vm_wait_line(vm, "AB dmesg", 60000, &l);
	assert_int_equal(r, 0);
	expect_u64(l, "issues", &v);
	assert_int_equal(v, 0);
	r = hx_vm_wait_line(vm, "AB done", 60000, &l);
	assert_int_equal(r, 0);
	expect_u64(l, "status", &v);
	assert_int_equal(v, 0);
	int st;
	assert_int_equal(hx_vm_wait_exit(vm, 30000, &st), 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(hx_vm_kernel_issues(vm), 0);
	/* every line is stamped, in order */
	for (size_t i = 1; i < hx_vm_line_count(vm); i++)
		assert_true(hx_vm_line(vm, i)->mono_ns >=
			    hx_vm_line(vm, i - 1)->mono_ns);
	assert_null(hx_vm_find_line(vm, "AB error", 0, NULL));
	hx_vm_destroy(vm);
	cur_vm = NULL;

	char path[4200];
	snprintf(path, sizeof(path), "%s", hx_slice_path(slice));
	cur_slice = NULL;
	assert_int_equal(hx_slice_destroy(slice), 0);
	assert_false(path_exists(path));
}

static void test_driver_none(void **state)
{
	char vname[64];
	snprintf(vname, sizeof(vname), "harness-none-%d", (int)getpid());
	struct hx_vm_opts o = {
		.name = vname,
		.mem_mib = 256,
		.workload = "idle",
		.args = "secs=4",
		.driver = HX_DRIVER_NONE,
	};
	struct hx_vm *vm;
	int r = hx_vm_start(&o, &vm);
	if (r)
		fail_msg("vm start: %s", strerror(-r));
	cur_vm = vm;
	const struct hx_line *l;
	r = hx_vm_wait_line(vm, "AB ready", BOOT_MS, &l);
	if (r)
		fail_msg("no AB ready: %s (see %s)", strerror(-r), hx_vm_serial_path(vm));
	assert_string_equal(hx_line_get(l, "driver"), "none");
	assert_string_equal(hx_line_get(l, "balloon_driver"), "none");
	const struct hx_line *b = hx_vm_find_line(vm, "AB balloon", 0, NULL);
	assert_non_null(b);
	assert_string_not_equal(hx_line_get(b, "device"), "none");
	assert_string_equal(hx_line_get(b, "driver"), "none");
	/* nobody inflates: actual stays at the boot size */
	assert_int_equal(balloon_to(vm, 128 * HX_MIB, 3000), 256 * HX_MIB);
	assert_int_equal(hx_vm_wait_line(vm, "AB done", 60000, NULL), 0);
	assert_int_equal(hx_vm_wait_exit(vm, 30000, NULL), 0);
	hx_vm_destroy(vm);
	cur_vm = NULL;
}

struct child_info {
	pid_t guard, qemu;
	char slice[1024], psi[1024], swap[1024], data[1024];
	int swap_err;
};

__attribute__((noreturn))
static void sigkill_child(int fd)
{
	struct child_info ci;
	memset(&ci, 0, sizeof(ci));
	if (hx_guard_start())
		_exit(10);
	ci.guard = hx_guard_pid();
	char name[128];
	hx_slice_default_name(name, sizeof(name), "guardtest");
	struct hx_slice *slice;
	if (hx_slice_create(name, 768 * HX_MIB, &slice))
		_exit(11);
	snprintf(ci.slice, sizeof(ci.slice), "%s", hx_slice_path(slice));
	if (hx_slice_psi_path(slice))
		snprintf(ci.psi, sizeof(ci.psi), "%s", hx_slice_psi_path(slice));
	snprintf(ci.swap, sizeof(ci.swap), "build/run/guardtest-%d.swap",
		 (int)getpid());
	struct hx_swap *sw = NULL;
	ci.swap_err = hx_swap_create(ci.swap, 32 * HX_MIB, &sw);
	char vname[64];
	snprintf(vname, sizeof(vname), "guardtest-%d", (int)getpid());
	struct hx_vm_opts o = {
		.name = vname,
		.mem_mib = 256,
		.workload = "idle",
		.args = "forever=1",
		.data_disk_mib = 16,
		.slice = slice,
	};
	struct hx_vm *vm;
	if (hx_vm_start(&o, &vm))
		_exit(12);
	ci.qemu = hx_vm_pid(vm);
	snprintf(ci.data, sizeof(ci.data), "build/run/%s.data", vname);
	/* mid-run: the guest has booted and is running its workload */
	if (hx_vm_wait_line(vm, "AB ready", BOOT_MS, NULL))
		_exit(13);
	if (write(fd, &ci, sizeof(ci)) != (ssize_t)sizeof(ci))
		_exit(14);
	for (;;)
		pause();
}

static void test_guard_sigkill(void **state)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(p[0]);
		sigkill_child(p[1]);
	}
	close(p[1]);
	struct child_info ci;
	ssize_t n = read(p[0], &ci, sizeof(ci));
	close(p[0]);
	if (n != (ssize_t)sizeof(ci)) {
		int st;
		waitpid(child, &st, 0);
		fail_msg("child failed before the kill: exit %d",
			 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	assert_true(pid_alive(ci.qemu));
	assert_true(path_exists(ci.slice));
	assert_true(path_exists(ci.data));
	if (ci.swap_err == 0)
		assert_true(swap_active(ci.swap));
	else
		printf("# swap file not possible here (%s): not checked\n",
		       strerror(-ci.swap_err));

	assert_int_equal(kill(child, SIGKILL), 0);
	int st;
	assert_int_equal(waitpid(child, &st, 0), child);
	assert_true(WIFSIGNALED(st));

	/* we are a subreaper: the guard and QEMU are reparented to us */
	uint64_t deadline = hx_now_ms() + 30000;
	bool guard_done = false;
	while (hx_now_ms() < deadline) {
		pid_t w;
		while ((w = waitpid(-1, &st, WNOHANG)) > 0)
			if (w == ci.guard)
				guard_done = true;
		if (guard_done)
			break;
		usleep(50 * 1000);
	}
	assert_true(guard_done);
	assert_false(pid_alive(ci.qemu));
	assert_false(path_exists(ci.slice));
	if (ci.psi[0]) {
		char dir[1024];
		snprintf(dir, sizeof(dir), "%s", ci.psi);
		*strrchr(dir, '/') = '\0';
		assert_false(path_exists(dir));
	}
	assert_false(path_exists(ci.swap));
	assert_false(swap_active(ci.swap));
	assert_false(path_exists(ci.data));
}

int main(void)
{
	char why[256];
	int r = hx_env_check(NULL, why, sizeof(why));
	if (r == -EPERM || r == -ENODEV) {
		printf("SKIP test_harness: %s\n", why);
		return 77;
	}
	if (r) {
		printf("test_harness: cannot run: %s\n", why);
		return 1;
	}
	hx_set_verbose(getenv("HX_VERBOSE") != NULL);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		perror("PR_SET_CHILD_SUBREAPER");
		return 1;
	}
	if (hx_guard_start()) {
		printf("test_harness: cannot start the guard\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_parse),
		cmocka_unit_test(test_guard_stop),
		cmocka_unit_test_teardown(test_spike_in_slice, teardown),
		cmocka_unit_test_teardown(test_driver_none, teardown),
		cmocka_unit_test(test_guard_sigkill),
	};
	r = cmocka_run_group_tests(tests, NULL, NULL);
	hx_guard_stop();
	return r ? 1 : 0;
}
