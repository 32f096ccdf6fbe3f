/* SPDX-License-Identifier: MIT */
/* Unit tests for the configuration: a full good file and many bad ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

static const char good[] =
	"# a comment\n"
	"[daemon]\n"
	"policy = auto\n"
	"tick = 500ms\n"
	"qmp_timeout = 2s\n"
	"control_socket = /run/ab/ctl.sock\n"
	"metrics_port = 9123\n"
	"log_level = debug\n"
	"restore_on_exit = no\n"
	"\n"
	"[host]\n"
	"cgroup = /sys/fs/cgroup/machine.slice\n"
	"low = 5%\n"
	"high = 1G\n"
	"psi_stall = 50ms\n"
	"psi_window = 1s\n"
	"\n"
	"[policy]\n"
	"cooldown = 20s\n"
	"deadband = 4M\n"
	"refault_threshold = 10.5\n"
	"\n"
	"[defaults]\n"
	"buffer = 15%\n"
	"weight = 50\n"
	"\n"
	"[vm web1]\n"
	"qmp = /run/qemu/web1.qmp\n"
	"min = 512M\n"
	"max = 2G\n"
	"\n"
	"[vm db]\n"
	"qmp = /run/qemu/db.qmp\n"
	"weight = 400\n"
	"buffer = 256MiB\n";

static void test_good(void **state)
{
	struct daemon_config c;
	char err[4096];
	const struct vm_config *v;

	config_init_defaults(&c);
	assert_int_equal(config_load_string("good.conf", good, &c, err, sizeof(err)), 0);
	assert_int_equal(c.policy, POLICY_AUTO);
	assert_int_equal(c.tick_ms, 500);
	assert_int_equal(c.qmp_timeout_ms, 2000);
	assert_string_equal(c.control_socket, "/run/ab/ctl.sock");
	assert_int_equal(c.metrics_port, 9123);
	assert_int_equal(c.log_level, LOG_LVL_DEBUG);
	assert_false(c.restore_on_exit);
	assert_string_equal(c.cgroup, "/sys/fs/cgroup/machine.slice");
	assert_int_equal(c.host_low.pct_x100, 500);
	assert_int_equal(c.host_high.bytes, 1024 * MIB);
	assert_int_equal(c.psi_stall_us, 50000);
	assert_int_equal(c.psi_window_us, 1000000);
	assert_int_equal(c.params.cooldown_ms, 20000);
	assert_int_equal(c.params.deadband_bytes, 4 * MIB);
	assert_true(c.params.refault_pps_threshold == 10.5);
	assert_int_equal(c.nvms, 2);

	v = config_find_vm(&c, "web1");
	assert_non_null(v);
	assert_string_equal(v->qmp_path, "/run/qemu/web1.qmp");
	assert_int_equal(v->min.bytes, 512 * MIB);
	assert_int_equal(v->max.bytes, 2048 * MIB);
	assert_int_equal(v->buffer.pct_x100, 1500);	/* from [defaults] */
	assert_int_equal(v->weight, 50);
	assert_int_equal(v->line, 27);

	v = config_find_vm(&c, "db");
	assert_int_equal(v->weight, 400);
	assert_int_equal(v->buffer.bytes, 256 * MIB);
	assert_false(v->max.set);	/* from QEMU */
	assert_int_equal(size_spec_resolve(&v->min, 1000 * MIB), 250 * MIB);
	config_free(&c);
}

static void test_policy_interval_defaults(void **state)
{
	struct daemon_config c;
	char err[1024];

	config_init_defaults(&c);
	assert_int_equal(config_load_string("p.conf", "[daemon]\npolicy = mom\nqmp_dir = /run/q\n",
					    &c, err, sizeof(err)), 0);
	assert_int_equal(c.params.interval_ms, 15000);
	assert_int_equal(c.params.kind, POLICY_MOM);
	assert_true(c.params.residency);	/* on unless said otherwise */
	config_free(&c);
	config_init_defaults(&c);
	assert_int_equal(config_load_string("p.conf", "[daemon]\npolicy = proxmox\nqmp_dir = /q\n"
					    "[policy]\ninterval = 3s\nresidency = no\n",
					    &c, err, sizeof(err)), 0);
	assert_int_equal(c.params.interval_ms, 3000);
	assert_false(c.params.residency);
	config_free(&c);
}

/* Each bad file must fail with a message naming file:line and the key. */
static void test_bad(void **state)
{
	static const struct {
		const char *text;
		const char *want;	/* substring of the error */
	} cases[] = {
		{ "[daemon]\npolicy = fastest\n[vm a]\nqmp = /x\n",
		  "bad.conf:2: [daemon] policy: expected auto" },
		{ "[daemon]\ntick = soon\n[vm a]\nqmp = /x\n",
		  "bad.conf:2: [daemon] tick: expected a duration" },
		{ "[daemon]\ntick = 5ms\n[vm a]\nqmp = /x\n",
		  "bad.conf:2: [daemon] tick: duration out of range" },
		{ "[daemon]\ntypo_key = 1\n[vm a]\nqmp = /x\n",
		  "bad.conf:2: [daemon] typo_key: unknown key" },
		{ "[deamon]\npolicy = auto\n", "bad.conf:2: [deamon]: unknown section" },
		{ "[vm a]\nqmp = relative/path\n", "bad.conf:2: [vm a] qmp: expected an absolute path" },
		{ "[vm a]\nmin = 1G\nmax = 512M\nqmp = /x\n", "bad.conf:3: [vm a] max: min (1024 MiB) is above max" },
		{ "[vm a]\nmin = lots\nqmp = /x\n", "bad.conf:2: [vm a] min: expected a size" },
		{ "[vm a]\nmin = -5M\nqmp = /x\n", "bad.conf:2: [vm a] min: expected a size" },
		{ "[vm a]\nmin = 150%\nqmp = /x\n", "bad.conf:2: [vm a] min: expected a size" },
		{ "[vm a]\nweight = 0\nqmp = /x\n", "bad.conf:2: [vm a] weight: expected a whole number" },
		{ "[vm a]\nweight = 3.5\nqmp = /x\n", "bad.conf:2: [vm a] weight" },
		{ "[vm a]\nmax = 50%\nqmp = /x\n", "[vm a] max: max must be a size" },
		{ "[vm a]\nmin = 1G\n", "bad.conf:1: [vm a] qmp: missing" },
		{ "[vm a]\nqmp = /x\n[vm a]\nqmp = /y\n", "bad.conf:4: [vm a]: VM defined twice" },
		{ "[vm a]\nqmp = /x\n[vm b]\nqmp = /x\n", "[vm b] qmp: same socket as [vm a]" },
		{ "[vm bad name!]\nqmp = /x\n", "bad.conf:2: [vm bad name!]: VM names" },
		{ "[host]\nlow = 20%\nhigh = 10%\n[vm a]\nqmp = /x\n", "[host] high: low must be below high" },
		{ "[host]\npsi_stall = 2s\npsi_window = 1s\n[vm a]\nqmp = /x\n",
		  "[host] psi_window: psi_stall must be shorter" },
		{ "[daemon]\nmetrics_port = 70000\n[vm a]\nqmp = /x\n",
		  "bad.conf:2: [daemon] metrics_port" },
		{ "[daemon]\nrestore_on_exit = maybe\n[vm a]\nqmp = /x\n",
		  "bad.conf:2: [daemon] restore_on_exit: expected yes or no" },
		{ "[policy]\nrefault_threshold = fast\n[vm a]\nqmp = /x\n",
		  "bad.conf:2: [policy] refault_threshold: expected a number" },
		{ "[policy]\nswapin_threshold = 64\n[vm a]\nqmp = /x\n",
		  "bad.conf:2: [policy] swapin_threshold: replaced by refault_threshold" },
		{ "[daemon]\nlog_level = chatty\n", "bad.conf:2: [daemon] log_level" },
		{ "[host]\nvmpressure_level = huge\n", "bad.conf:2: [host] vmpressure_level" },
		{ "[daemon]\n", "no [vm NAME] sections, no qmp_dir and no [libvirt] uri" },
		{ "just some text\n", "bad.conf:1: [?]: syntax error" },
		{ "[vm a]\nqmp = /x\nballoon_path = machine/x\n", "bad.conf:3: [vm a] balloon_path" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct daemon_config c;
		char err[4096];
		int r;

		config_init_defaults(&c);
		r = config_load_string("bad.conf", cases[i].text, &c, err, sizeof(err));
		if (r == 0 || !strstr(err, cases[i].want))
			fail_msg("case %zu: r=%d, error \"%s\", want \"%s\"", i, r, err,
				 cases[i].want);
		config_free(&c);
	}
}

/*
 * Every check across keys names the line of the key it blames - for a pair
 * the later of the two, wherever each was set (issue 19: they named none).
 * Each case must produce exactly this one error.
 */
static void test_cross_key_lines(void **state)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
		{ "[host]\nlow = 20%\nhigh = 10%\n[vm a]\nqmp = /x\n",
		  "x.conf:3: [host] high: low must be below high (hysteresis)\n" },
		{ "[host]\nhigh = 10%\nlow = 20%\n[vm a]\nqmp = /x\n",
		  "x.conf:3: [host] low: low must be below high (hysteresis)\n" },
		{ "[vm a]\nqmp = /x\n[host]\nlow = 15%\n",	/* high: the default 12% */
		  "x.conf:4: [host] low: low must be below high (hysteresis)\n" },
		{ "[host]\npsi_stall = 2s\npsi_window = 1s\n[vm a]\nqmp = /x\n",
		  "x.conf:3: [host] psi_window: psi_stall must be shorter than psi_window\n" },
		{ "[host]\npsi_window = 1s\n\npsi_stall = 2s\n[vm a]\nqmp = /x\n",
		  "x.conf:4: [host] psi_stall: psi_stall must be shorter than psi_window\n" },
		{ "[host]\npsi_stall = 1s\n[vm a]\nqmp = /x\n",	/* window: 1 s */
		  "x.conf:2: [host] psi_stall: psi_stall must be shorter than psi_window\n" },
		{ "[daemon]\nreconnect_max = 100ms\nreconnect_min = 1s\n[vm a]\nqmp = /x\n",
		  "x.conf:3: [daemon] reconnect_min: reconnect_min is above reconnect_max\n" },
		{ "[daemon]\nreconnect_min = 1s\n# a comment\nreconnect_max = 100ms\n[vm a]\nqmp = /x\n",
		  "x.conf:4: [daemon] reconnect_max: reconnect_min is above reconnect_max\n" },
		{ "[vm a]\nmax = 512M\nqmp = /x\nmin = 1G\n",
		  "x.conf:4: [vm a] min: min (1024 MiB) is above max (512 MiB)\n" },
		{ "[defaults]\nmin = 1G\n[vm a]\nqmp = /x\nmax = 512M\n",
		  "x.conf:5: [vm a] max: min (1024 MiB) is above max (512 MiB)\n" },
		{ "[vm a]\nqmp = /x\nmax = 50%\n",
		  "x.conf:3: [vm a] max: max must be a size, not a percentage\n" },
		{ "[vm a]\nqmp = /x\nbuffer = 95%\n",
		  "x.conf:3: [vm a] buffer: a buffer over 90% leaves nothing to balloon\n" },
		/* from [defaults]: said there, once, not for every VM */
		{ "[defaults]\nbuffer = 95%\n[vm a]\nqmp = /x\n[vm b]\nqmp = /y\n",
		  "x.conf:2: [defaults] buffer: a buffer over 90% leaves nothing to balloon\n" },
		{ "[vm a]\nqmp = /x\n[vm b]\nweight = 5\nqmp = /x\n",
		  "x.conf:5: [vm b] qmp: same socket as [vm a]\n" },
		{ "[vm a]\nmin = 1G\n", "x.conf:1: [vm a] qmp: missing: the VM's QMP socket path "
		  "is required (or a [libvirt] uri, for the domain of this name)\n" },
		{ "[daemon]\ntick = 1s\nqmp_dir =\n",
		  "x.conf:3: [daemon] qmp_dir: no [vm NAME] sections, no qmp_dir and no "
		  "[libvirt] uri: nothing to manage\n" },
		/* the parser's own: a header without "]" is said so, its keys kept */
		{ "[vm a]\nqmp = /x\n[host\nlow = 5%\n",
		  "x.conf:3: [host]: section header without its closing \"]\"\n" },
		{ "[vm a]\nqmp = /x\n[host  \nlow = 20%\nhigh = 10%\n",
		  "x.conf:3: [host]: section header without its closing \"]\"\n"
		  "x.conf:5: [host] high: low must be below high (hysteresis)\n" },
	};

	int bad = 0;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct daemon_config c;
		char err[4096];
		int r;

		config_init_defaults(&c);
		r = config_load_string("x.conf", cases[i].text, &c, err, sizeof(err));
		config_free(&c);
		if (r == 0 || strcmp(err, cases[i].want) != 0) {
			print_error("case %zu: r=%d, error\n%swant\n%s", i, r, err, cases[i].want);
			bad++;
		}
	}
	if (bad)
		fail_msg("%d of %zu cases wrong", bad, ARRAY_SIZE(cases));
}

/* A NUL byte is said to be one (it was "line longer than 198 characters"). */
static void test_nul_byte(void **state)
{
	static const char text[] = "[vm a]\nqmp = /x\nmin = 1\0G\nmax = 2G\n";
	struct daemon_config c;
	char path[] = "/tmp/abtest-conf-XXXXXX", err[1024], want[600];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	config_init_defaults(&c);
	assert_int_not_equal(config_load(path, &c, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s:3: [vm a]: NUL byte in the line\n", path);
	assert_string_equal(err, want);
	/* the lines around it are read as usual */
	assert_int_equal(c.vms[0].max.bytes, 2048 * MIB);
	config_free(&c);
	unlink(path);
}

static void test_all_errors_reported(void **state)
{
	struct daemon_config c;
	char err[4096];

	config_init_defaults(&c);
	assert_int_not_equal(config_load_string("x.conf",
		"[daemon]\ntick = no\npolicy = no\n[vm a]\nweight = no\n", &c, err,
		sizeof(err)), 0);
	assert_non_null(strstr(err, "x.conf:2:"));
	assert_non_null(strstr(err, "x.conf:3:"));
	assert_non_null(strstr(err, "x.conf:5:"));
	assert_non_null(strstr(err, "qmp: missing"));
	config_free(&c);
}

static void test_long_line(void **state)
{
	struct daemon_config c;
	char text[600], err[1024];

	snprintf(text, sizeof(text), "[vm a]\nqmp = /%0400d\n", 0);
	config_init_defaults(&c);
	assert_int_not_equal(config_load_string("l.conf", text, &c, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "l.conf:2: [vm a] qmp: line longer than"));
	config_free(&c);
}

static void test_file_errors(void **state)
{
	struct daemon_config c;
	char path[] = "/tmp/abtest-conf-XXXXXX", err[1024];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "[vm a]\nqmp = /x\n\nmin = 1X\n", 26), 26);
	close(fd);
	config_init_defaults(&c);
	assert_int_not_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_non_null(strstr(err, ":4: [vm a] min:"));
	assert_non_null(strstr(err, path));
	config_free(&c);
	unlink(path);
	config_init_defaults(&c);
	assert_int_not_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "No such file"));
	config_free(&c);
}

/* The documented example must stay valid: only "nothing to manage". */
static void test_example_file(void **state)
{
	struct daemon_config c;
	char err[4096], *text, *with_vm;
	size_t len;
	FILE *f = fopen("etc/autoballoond.conf.example", "r");

	assert_non_null(f);
	text = calloc(1, 65536);
	len = fread(text, 1, 65535, f);
	fclose(f);
	assert_true(len > 1000);
	config_init_defaults(&c);
	assert_int_not_equal(config_load_string("example", text, &c, err, sizeof(err)), 0);
	assert_string_equal(err, "example: [daemon] qmp_dir: no [vm NAME] sections, no "
			    "qmp_dir and no [libvirt] uri: nothing to manage\n");
	config_free(&c);
	with_vm = calloc(1, len + 64);
	snprintf(with_vm, len + 64, "%s\n[vm x]\nqmp = /run/x.qmp\n", text);
	config_init_defaults(&c);
	assert_int_equal(config_load_string("example", with_vm, &c, err, sizeof(err)), 0);
	/* the example shows the defaults */
	{
		struct daemon_config d;

		config_init_defaults(&d);
		assert_int_equal(c.tick_ms, d.tick_ms);
		assert_int_equal(c.params.cooldown_ms, d.params.cooldown_ms);
		assert_int_equal(c.params.residency, d.params.residency);
		assert_int_equal(c.params.step_inflate_bytes, d.params.step_inflate_bytes);
		assert_int_equal(c.host_low.pct_x100, d.host_low.pct_x100);
		assert_int_equal(c.host_high.pct_x100, d.host_high.pct_x100);
		assert_int_equal(c.vm_defaults.min.pct_x100, d.vm_defaults.min.pct_x100);
		assert_int_equal(c.vm_defaults.buffer.pct_x100, d.vm_defaults.buffer.pct_x100);
		assert_int_equal(c.psi_stall_us, d.psi_stall_us);
		assert_int_equal(c.stats_poll_ms, d.stats_poll_ms);
		assert_true(c.params.refault_pps_threshold == d.params.refault_pps_threshold);
		assert_true(c.params.keep_ms == d.params.keep_ms);
	}
	config_free(&c);
	free(with_vm);
	free(text);
}

static void test_sizes_and_durations(void **state)
{
	static const struct {
		const char *s;
		int ok;
		uint64_t v;
	} sizes[] = {
		{ "0", 1, 0 }, { "512", 1, 512 }, { "4k", 1, 4096 }, { "64M", 1, 64 * MIB },
		{ "64MiB", 1, 64 * MIB }, { "1.5G", 1, 1536 * MIB }, { "2 GB", 1, 2048 * MIB },
		{ "", 0, 0 }, { "M", 0, 0 }, { "-1", 0, 0 }, { "1Q", 0, 0 }, { "99999999T", 0, 0 },
		{ "nan", 0, 0 }, { "1e400", 0, 0 },
	};
	uint64_t v;
	uint32_t pct;

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		int r = parse_size(sizes[i].s, &v);

		if ((r == 0) != sizes[i].ok || (r == 0 && v != sizes[i].v))
			fail_msg("size \"%s\": r=%d v=%llu", sizes[i].s, r, (unsigned long long)v);
	}
	assert_int_equal(parse_size_or_pct("12.5%", &v, &pct), 0);
	assert_int_equal(pct, 1250);
	assert_int_not_equal(parse_size_or_pct("101%", &v, &pct), 0);
	assert_int_not_equal(parse_size_or_pct("%", &v, &pct), 0);
	assert_int_equal(parse_duration_ms("250ms", &v), 0);
	assert_int_equal(v, 250);
	assert_int_equal(parse_duration_ms("2s", &v), 0);
	assert_int_equal(v, 2000);
	assert_int_equal(parse_duration_ms("1.5m", &v), 0);
	assert_int_equal(v, 90000);
	assert_int_not_equal(parse_duration_ms("2 hours", &v), 0);
}

/* [libvirt]: a [vm] without qmp is the domain of that name. */
static void test_libvirt_section(void **state)
{
	struct daemon_config c;
	char err[2048];

	config_init_defaults(&c);
	assert_string_equal(c.libvirt_pid_dir, "/run/libvirt/qemu");
	assert_int_equal(config_load_string("lv.conf", "[libvirt]\nuri = qemu:///system\n"
					    "[vm web]\nmax = 2G\nweight = 3\n", &c, err,
					    sizeof(err)), 0);
	assert_string_equal(c.libvirt_uri, "qemu:///system");
	assert_int_equal(c.nvms, 1);
	assert_string_equal(c.vms[0].qmp_path, "");
	config_free(&c);
	/* alone it manages every running domain */
	config_init_defaults(&c);
	assert_int_equal(config_load_string("lv.conf", "[libvirt]\nuri = qemu:///system\n",
					    &c, err, sizeof(err)), 0);
	config_free(&c);
	/* without it a [vm] needs its socket */
	config_init_defaults(&c);
	assert_int_not_equal(config_load_string("lv.conf", "[vm web]\nmax = 2G\n", &c, err,
						sizeof(err)), 0);
	assert_non_null(strstr(err, "lv.conf:1: [vm web] qmp: missing"));
	config_free(&c);
	config_init_defaults(&c);
	assert_int_not_equal(config_load_string("lv.conf", "[libvirt]\nuri = qemu :///x\n",
						&c, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "lv.conf:2: [libvirt] uri: expected a URI"));
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_policy_interval_defaults),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_cross_key_lines),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_libvirt_section),
		cmocka_unit_test(test_sizes_and_durations),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
