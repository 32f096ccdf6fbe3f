/* SPDX-License-Identifier: MIT */
/*
 * test_unit_hardening.c - the shipped systemd unit lets the daemon do its
 * job: read what the host backs of a guest whose QEMU runs as another user.
 *
 * No systemd needed: tests/integration/as-unit starts the daemon (the ASan
 * build) confined as the unit's [Service] section says - its capability
 * bounding set, NoNewPrivileges, ProtectProc (a mount namespace with /proc
 * mounted again with hidepid=) and UMask - as root, as the unit does. QEMU
 * runs as user nobody (uid 65534, no capabilities), like libvirt's
 * libvirt-qemu; its QMP socket is world-writable in a directory nobody owns,
 * so that connecting needs no capability.
 *
 *   residency_under_unit   one guest booted as nobody, two daemons after
 *                          each other on its QMP socket, policy observe:
 *      (a) confined as the unit was before issue 18 (CapabilityBoundingSet=
 *          CAP_SYS_RESOURCE, ProtectProc=invisible): once guest stats
 *          arrive, residency stays unknown - `dump` shows qemu_pid and
 *          resident_bytes null and the log says "host-backed guest RAM
 *          unknown" (the control: the test can see the failure);
 *      (b) confined as contrib/autoballoond.service (or $AB_UNIT) says:
 *          qemu_pid is QEMU's PID and resident_bytes is known (0 < it <=
 *          the guest's RAM).
 *      For both, the daemon process is checked: NoNewPrivs, its bounding set
 *      (the unit's, less what this machine's own bounding set lacks) and
 *      the hidepid= of its /proc.
 *
 * Exit 77 (skip, with the reason) when not root, or without setpriv,
 * unshare, capsh or mount namespaces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
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

#define MIB (1024.0 * 1024.0)
#define BOOT_MS 120000
#define NOBODY 65534
#define GUEST_MIB 256

struct ctx {
	char run[256];
	char daemon_bin[512];
	char as_unit[512];
	char unit[512];
};

static struct ctx C;

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* The value of "Key:\t..." in /proc/PID/status, copied into buf ("" if none). */
static const char *status_field(pid_t pid, const char *key, char *buf, size_t len)
{
	char path[64], line[512];
	size_t n = strlen(key);
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return buf;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, n) == 0 && line[n] == ':') {
			char *v = line + n + 1;

			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(buf, len, "%s", v);
			break;
		}
	}
	fclose(f);
	return buf;
}

/* "cap_a,cap_b" for a capability mask in hex (capsh --decode), "" for none. */
static void decode_caps(const char *hex, char *buf, size_t len)
{
	char cmd[128], line[2048] = "";
	FILE *p;
	char *eq;

	buf[0] = '\0';
	snprintf(cmd, sizeof(cmd), "capsh --decode=%s", hex);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (!fgets(line, sizeof(line), p))
		line[0] = '\0';
	pclose(p);
	line[strcspn(line, "\n")] = '\0';
	eq = strchr(line, '=');
	snprintf(buf, len, "%s", eq ? eq + 1 : "");
}

static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p && *p;) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);

		if (l == n && strncmp(p, name, n) == 0)
			return true;
		p = c ? c + 1 : NULL;
	}
	return false;
}

/*
 * The capabilities a process confined by UNIT may hold: its
 * CapabilityBoundingSet= names (plain lists, merged) in capsh's spelling,
 * "cap_a,cap_b", less those missing from our own bounding set (noted).
 */
static void expected_bounding(const char *unit, char *buf, size_t len)
{
	char line[1024], own_hex[64], own[2048];
	FILE *f = fopen(unit, "re");
	bool service = false;

	assert_non_null(f);
	buf[0] = '\0';
	decode_caps(status_field(getpid(), "CapBnd", own_hex, sizeof(own_hex)), own, sizeof(own));
	while (fgets(line, sizeof(line), f)) {
		const char *k = "CapabilityBoundingSet=";
		char *tok, *save = NULL;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '[')
			service = strcmp(line, "[Service]") == 0;
		if (!service || strncmp(line, k, strlen(k)) != 0)
			continue;
		assert_true(line[strlen(k)] != '~');	/* not used by the units tested */
		if (!line[strlen(k)])
			buf[0] = '\0';
		for (tok = strtok_r(line + strlen(k), " \t", &save); tok;
		     tok = strtok_r(NULL, " \t", &save)) {
			char name[64];

			for (size_t i = 0; i < sizeof(name) - 1; i++) {
				name[i] = (char)tolower((unsigned char)tok[i]);
				if (!tok[i])
					break;
			}
			name[sizeof(name) - 1] = '\0';
			if (!in_list(own, name)) {
				print_message("    note: %s is not in this machine's bounding set: "
					      "the daemon runs without it here\n", name);
				continue;
			}
			if (!in_list(buf, name))
				snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
					 buf[0] ? "," : "", name);
		}
	}
	fclose(f);
}

/* The value of KEY= in UNIT's [Service] section (the last one), or "". */
static void unit_value(const char *unit, const char *key, char *buf, size_t len)
{
	char line[1024];
	FILE *f = fopen(unit, "re");
	bool service = false;
	size_t n = strlen(key);

	assert_non_null(f);
	buf[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '[')
			service = strcmp(line, "[Service]") == 0;
		if (service && strncmp(line, key, n) == 0 && line[n] == '=')
			snprintf(buf, len, "%s", line + n + 1);
	}
	fclose(f);
}

/* The super options of the /proc mount process PID sees (the last one). */
static void proc_mount_options(pid_t pid, char *buf, size_t len)
{
	char path[64], line[1024];
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int)pid);
	f = fopen(path, "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *dash = strstr(line, " - proc ");

		if (!dash || !strstr(line, " /proc "))
			continue;
		/* "... - proc SOURCE OPTIONS" */
		char *opts = strrchr(dash, ' ');

		opts[strcspn(opts, "\n")] = '\0';
		snprintf(buf, len, "%s", opts + 1);
	}
	fclose(f);
}

/* The daemon (pid) is confined as UNIT says. */
static void check_confined(pid_t pid, const char *unit)
{
	char hex[64], have[2048], want[2048], v[64], opts[256], want_opt[80];

	decode_caps(status_field(pid, "CapBnd", hex, sizeof(hex)), have, sizeof(have));
	expected_bounding(unit, want, sizeof(want));
	print_message("    daemon pid %d: bounding set {%s} (unit: {%s}), NoNewPrivs %s, "
		      "uid %s\n", (int)pid, have, want,
		      status_field(pid, "NoNewPrivs", v, sizeof(v)),
		      status_field(pid, "Uid", opts, sizeof(opts)));
	for (const char *p = have; *p;) {
		char name[64];
		size_t l = strcspn(p, ",");

		snprintf(name, sizeof(name), "%.*s", (int)l, p);
		assert_true(in_list(want, name));
		p += l + (p[l] == ',');
	}
	for (const char *p = want; *p;) {
		char name[64];
		size_t l = strcspn(p, ",");

		snprintf(name, sizeof(name), "%.*s", (int)l, p);
		assert_true(in_list(have, name));
		p += l + (p[l] == ',');
	}
	unit_value(unit, "NoNewPrivileges", v, sizeof(v));
	if (strcmp(v, "yes") == 0)
		assert_string_equal(status_field(pid, "NoNewPrivs", v, sizeof(v)), "1");
	unit_value(unit, "ProtectProc", v, sizeof(v));
	if (v[0] && strcmp(v, "default") != 0) {
		proc_mount_options(pid, opts, sizeof(opts));
		snprintf(want_opt, sizeof(want_opt), "hidepid=%s", v);
		print_message("    its /proc: %s\n", opts);
		assert_non_null(strstr(opts, want_opt));
	}
}

static bool json_null_or_missing(const json_t *vm, const char *key)
{
	const json_t *v = json_object_get(vm, key);

	return !v || json_is_null(v);
}

/* Does the daemon's log contain TEXT? */
static bool log_has(const struct hx_daemon *d, const char *text)
{
	char line[2048];
	bool found = false;
	FILE *f = fopen(d->log, "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, text) != NULL;
	fclose(f);
	return found;
}

/*
 * Start a daemon confined by UNIT (through a wrapper script in DIR) on the
 * guest's QMP socket; wait until it has guest stats (its residency read
 * has run); return its dump entry for the VM (new reference).
 */
static json_t *daemon_with_stats(const char *unit, const char *dir, const char *qmp,
				 struct hx_daemon *d)
{
	char wrapper[600], text[2048], conf[1024];
	uint64_t t0;
	json_t *vm = NULL;

	assert_int_equal(hx_mkdir_p(dir), 0);
	snprintf(wrapper, sizeof(wrapper), "%s/autoballoond-as-unit", dir);
	snprintf(text, sizeof(text), "#!/bin/sh\nexec %s %s %s \"$@\"\n", C.as_unit, unit,
		 C.daemon_bin);
	write_file(wrapper, text, 0755);
	snprintf(conf, sizeof(conf),
		 "[daemon]\npolicy = observe\ncontrol_socket = %s/ctl.sock\n"
		 "[vm g]\nqmp = %s\n", dir, qmp);
	assert_int_equal(hx_daemon_start(wrapper, dir, conf, true, d), 0);
	check_confined(d->pid, unit);

	t0 = hx_now_ms();
	while (hx_now_ms() - t0 < 60000) {
		vm = hx_ctl_vm_dump(d->ctl, "g");
		if (vm && !json_null_or_missing(vm, "stats_age_ms"))
			break;
		json_decref(vm);
		vm = NULL;
		usleep(250000);
	}
	if (!vm)
		hx_daemon_show_log(d, 30);
	assert_non_null(vm);
	/* the residency read runs with each sample: give it two more */
	sleep(3);
	json_decref(vm);
	vm = hx_ctl_vm_dump(d->ctl, "g");
	assert_non_null(vm);
	return vm;
}

static void test_residency_under_unit(void **state)
{
	char qemu_wrapper[600], text[2048], old_unit[600], dir[600], uid[128];
	struct hx_vm *vm;
	struct hx_daemon d;
	json_t *j;
	int st;

	/* QEMU as nobody: owns the run directory, world-writable QMP socket */
	assert_int_equal(chown(C.run, NOBODY, NOBODY), 0);
	snprintf(qemu_wrapper, sizeof(qemu_wrapper), "%s/qemu-as-nobody", C.run);
	snprintf(text, sizeof(text),
		 "#!/bin/sh\n# QEMU as user nobody, no capabilities, no groups; files it\n"
		 "# makes (the QMP socket) world-writable.\n"
		 "chown -R %d:%d '%s'\numask 0\n"
		 "exec setpriv --reuid=%d --regid=%d --clear-groups --inh-caps=-all "
		 "--bounding-set=-all qemu-system-x86_64 \"$@\"\n",
		 NOBODY, NOBODY, C.run, NOBODY, NOBODY);
	write_file(qemu_wrapper, text, 0755);

	struct hx_vm_opts o = {
		.name = "g", .run_dir = C.run, .qemu = qemu_wrapper, .mem_mib = GUEST_MIB,
		.workload = "idle", .args = "forever=1",
	};
	assert_int_equal(hx_vm_start(&o, &vm), 0);
	assert_int_equal(hx_vm_wait_line(vm, "AB ready", BOOT_MS, NULL), 0);
	status_field(hx_vm_pid(vm), "Uid", uid, sizeof(uid));
	print_message("    QEMU pid %d (%s), Uid: %s\n", (int)hx_vm_pid(vm), hx_vm_accel(vm), uid);
	assert_int_equal(atoi(uid), NOBODY);

	/* (a) the unit before issue 18: residency unknown */
	snprintf(old_unit, sizeof(old_unit), "%s/before-issue-18.service", C.run);
	write_file(old_unit,
		   "# contrib/autoballoond.service before issue 18, as far as as-unit goes\n"
		   "[Service]\nCapabilityBoundingSet=CAP_SYS_RESOURCE\nAmbientCapabilities=\n"
		   "NoNewPrivileges=yes\nProtectProc=invisible\nUMask=0077\n", 0644);
	print_message("(a) confined as before issue 18 (%s)\n", old_unit);
	snprintf(dir, sizeof(dir), "%s/before", C.run);
	j = daemon_with_stats(old_unit, dir, hx_vm_qmp_path(vm), &d);
	print_message("    dump: qemu_pid %s, resident_bytes %s; log says residency "
		      "unknown: %s\n",
		      json_null_or_missing(j, "qemu_pid") ? "null" : "set",
		      json_null_or_missing(j, "resident_bytes") ? "null" : "set",
		      log_has(&d, "host-backed guest RAM unknown") ? "yes" : "no");
	assert_true(json_null_or_missing(j, "qemu_pid"));
	assert_true(json_null_or_missing(j, "resident_bytes"));
	assert_true(log_has(&d, "host-backed guest RAM unknown"));
	json_decref(j);
	assert_int_equal(hx_daemon_stop(&d, SIGTERM, 30000, &st), 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* (b) the shipped unit: residency known */
	print_message("(b) confined as %s\n", C.unit);
	snprintf(dir, sizeof(dir), "%s/unit", C.run);
	j = daemon_with_stats(C.unit, dir, hx_vm_qmp_path(vm), &d);
	{
		const json_t *pid = json_object_get(j, "qemu_pid");
		const json_t *res = json_object_get(j, "resident_bytes");

		print_message("    dump: qemu_pid %.0f, resident_bytes %.1f MiB of %d MiB\n",
			      json_is_number(pid) ? json_number_value(pid) : -1.0,
			      json_is_number(res) ? json_number_value(res) / MIB : -1.0,
			      GUEST_MIB);
		if (!json_is_number(pid) || !json_is_number(res))
			hx_daemon_show_log(&d, 30);
		assert_true(json_is_number(pid));
		assert_int_equal((pid_t)json_number_value(pid), hx_vm_pid(vm));
		assert_true(json_is_number(res));
		assert_true(json_number_value(res) > 0);
		assert_true(json_number_value(res) <= GUEST_MIB * MIB);
		assert_true(log_has(&d, "host-backed guest RAM from pid"));
	}
	json_decref(j);
	assert_int_equal(hx_daemon_stop(&d, SIGTERM, 30000, &st), 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	hx_vm_destroy(vm);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_residency_under_unit),
	};
	char rel[64], cwd[400], cmd[700];
	const char *unit = getenv("AB_UNIT");
	int r;

	if (geteuid() != 0) {
		printf("SKIP test_unit_hardening: needs root (QEMU as another user, "
		       "capability bounding sets, mount namespaces)\n");
		return 77;
	}
	if (!getcwd(cwd, sizeof(cwd)))
		return 1;
	snprintf(C.as_unit, sizeof(C.as_unit), "%s/tests/integration/as-unit", cwd);
	snprintf(cmd, sizeof(cmd), "%s --check >&2", C.as_unit);
	r = system(cmd);
	if (r != 0) {
		printf("SKIP test_unit_hardening: as-unit cannot run here (above)\n");
		return 77;
	}
	if (system("capsh --decode=0 >/dev/null 2>&1") != 0) {
		printf("SKIP test_unit_hardening: no capsh (Debian: libcap2-bin)\n");
		return 77;
	}
	if (unit && unit[0] == '/')
		snprintf(C.unit, sizeof(C.unit), "%s", unit);
	else
		snprintf(C.unit, sizeof(C.unit), "%s/%s", cwd,
			 unit ? unit : "contrib/autoballoond.service");
	itest_build_path("asan/autoballoond", C.daemon_bin, sizeof(C.daemon_bin));
	snprintf(rel, sizeof(rel), "run/itest-hardening-%d", (int)getpid());
	itest_build_path(rel, C.run, sizeof(C.run));
	if (hx_mkdir_p(C.run) < 0)
		return 1;
	if (hx_guard_start() < 0)
		return 1;
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	r = cmocka_run_group_tests_name("unit_hardening", tests, NULL, NULL);
	hx_guard_stop();
	if (r == 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", C.run);
		r = system(cmd) == 0 ? 0 : 1;
	} else {
		fprintf(stderr, "test_unit_hardening: logs kept in %s\n", C.run);
	}
	return r;
}
