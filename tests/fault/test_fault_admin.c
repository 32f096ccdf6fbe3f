/* SPDX-License-Identifier: MIT */
/*
 * test_fault_admin.c - the daemon's own edges: configuration, control
 * socket, signals, sockets coming and going (fakeqmp as QEMU).
 *
 *   config_errors         a config with errors: no start, exit 2, every
 *                         error named FILE:LINE: [section] key
 *   reload_broken_config  SIGHUP with a broken file keeps the running
 *                         configuration and keeps ballooning (MOM #21);
 *                         a good file is applied
 *   control_abuse         0600 socket; a non-root peer is refused even when
 *                         the mode allows it; garbage, wrong types and an
 *                         oversized request get an error; a client that
 *                         never reads is dropped at the output cap; too many
 *                         clients are turned away; VMs served throughout
 *   sigterm_restore       SIGTERM returns balloons to max, exits at once when
 *                         done and within restore_timeout when a guest is slow
 *                         or stuck (virtio-win #1148)
 *   ctl_json_exact        status --json and dump print sizes exactly
 *   socket_recreated      the socket file deleted (session alive) and
 *                         re-created (QEMU restarted), for a configured VM and
 *                         one found in qmp_dir
 *   qmp_dir_churn         VMs appearing and vanishing fast: the daemon's list
 *                         ends equal to the sockets present
 *   unprivileged          the daemon as user nobody, no capabilities: PSI on
 *                         the real /proc/pressure/memory, VMs managed, root
 *                         still allowed on its control socket
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault.h"

#define MIB ((uint64_t)1 << 20)

static double fnum(const struct fx *f, const char *vm, const char *field)
{
	return fq_num(&f->fq, vm, field);
}

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

/* Run argv, stdout+stderr into out; returns the wait status. */
static int run_capture(const char *const *argv, char *out, size_t len)
{
	int p[2], st = 0;
	size_t n = 0;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	hx_guard_add_pid(pid);
	close(p[1]);
	for (;;) {
		ssize_t r = read(p[0], out + n, len - 1 - n);

		if (r <= 0 || n + (size_t)r >= len - 1) {
			if (r > 0)
				n += (size_t)r;
			break;
		}
		n += (size_t)r;
	}
	out[n] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	hx_guard_del_pid(pid);
	return st;
}

static void expect_in(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("expected \"%s\" in:\n%s", needle, text);
}

static void test_config_errors(void **state)
{
	char dir[512], conf[600], ctl[600], text[2048], out[8192];
	const char *argv[5];
	int st;

	snprintf(dir, sizeof(dir), "%s/config", FC.run);
	mkdir(dir, 0755);
	snprintf(conf, sizeof(conf), "%s/bad.conf", dir);
	snprintf(ctl, sizeof(ctl), "%s/ctl.sock", dir);
	snprintf(text, sizeof(text),
		 "[daemon]\n"			/* 1 */
		 "control_socket = %s\n"	/* 2 */
		 "tik = 1s\n"			/* 3: unknown key */
		 "tick = fast\n"		/* 4: bad value */
		 "[hots]\n"			/* 5 */
		 "low = 5%%\n"			/* 6: unknown section */
		 "[vm web]\n"			/* 7 */
		 "qmp = /run/web.qmp\n"		/* 8 */
		 "min = 2G\n"			/* 9 */
		 "max = 1G\n"			/* 10: min above max (the later) */
		 "[vm db]\n"			/* 11: no qmp */
		 "weight = 0\n",		/* 12: out of range */
		 ctl);
	write_text(conf, text);

	argv[0] = FC.daemon_bin;
	argv[1] = "-c";
	argv[2] = conf;
	argv[3] = NULL;
	st = run_capture(argv, out, sizeof(out));
	print_message("    autoballoond -c bad.conf: exit %d\n%s", WEXITSTATUS(st), out);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 2);
	expect_in(out, "bad.conf:3: [daemon] tik: unknown key");
	expect_in(out, "bad.conf:4: [daemon] tick: expected a duration");
	expect_in(out, "bad.conf:6: [hots]");
	expect_in(out, "bad.conf:10: [vm web] max:");
	expect_in(out, "bad.conf:11: [vm db] qmp: missing");
	expect_in(out, "bad.conf:12: [vm db] weight:");
	assert_int_equal(access(ctl, F_OK), -1);	/* never started */

	argv[1] = "--check-config";
	st = run_capture(argv, out, sizeof(out));
	assert_int_equal(WEXITSTATUS(st), 2);
	expect_in(out, "bad.conf:3: [daemon] tik: unknown key");

	snprintf(conf, sizeof(conf), "%s/missing.conf", dir);
	argv[1] = "-c";
	st = run_capture(argv, out, sizeof(out));
	assert_int_equal(WEXITSTATUS(st), 2);
	expect_in(out, "missing.conf: No such file");
}

static void test_reload_broken_config(void **state)
{
	static const char *const args[] = { "--mem", "512M", NULL };
	struct fx f;
	char conf[4096], bad[4200], cmd[1400];
	double polls;
	json_t *r;

	fx_init(&f, "reload", 4096, args);
	assert_true(fq_ok(&f.fq, "add a"));
	fx_config(&f, conf, sizeof(conf), false, NULL, NULL, NULL, NULL);
	fx_daemon(&f, conf);
	assert_true(wait_state(&f, "a", "ok", 5000));

	/* a typo in the file, then SIGHUP */
	snprintf(bad, sizeof(bad), "%s[policy]\nstep_inflte = 64M\n", conf);
	write_text(f.d.conf, bad);
	kill(f.d.pid, SIGHUP);
	usleep(500000);
	polls = fnum(&f, "a", "stats_cmds");
	sleep(3);
	r = hx_ctl(f.d.ctl, "{\"cmd\": \"dump\"}");
	assert_non_null(r);
	print_message("    broken reload: daemon alive %d, vm a %s, %.0f stats polls in 3 s\n",
		      hx_daemon_alive(&f.d),
		      json_string_value(json_object_get(hx_ctl_dump_vm(r, "a"), "state")),
		      fnum(&f, "a", "stats_cmds") - polls);
	json_decref(r);
	assert_true(hx_daemon_alive(&f.d));
	assert_true(fnum(&f, "a", "stats_cmds") - polls >= 2);	/* still at work */
	{
		snprintf(cmd, sizeof(cmd), "grep -q 'daemon.conf:[0-9]*: \\[policy\\] step_inflte: "
			 "unknown key' '%s' && grep -q 'keeping the running configuration' '%s'",
			 f.d.log, f.d.log);
		assert_int_equal(system(cmd), 0);
	}

	/* a good file is applied */
	snprintf(bad, sizeof(bad), "%s[policy]\nstep_inflate = 64M\n", conf);
	{
		char *p = strstr(bad, "tick = 200ms");

		assert_non_null(p);
		memcpy(p, "tick = 500ms", 12);
	}
	write_text(f.d.conf, bad);
	kill(f.d.pid, SIGHUP);
	assert_true(WAIT_FOR(3000, ({
		json_t *d = hx_ctl(f.d.ctl, "{\"cmd\": \"dump\"}");
		double t = json_number_value(json_object_get(json_object_get(json_object_get(
			d, "dump"), "params"), "tick_ms"));
		json_decref(d);
		t == 500;
	})));
	assert_true(wait_state(&f, "a", "ok", 2000));
	fx_done(&f);
}

/* Connect to a UNIX socket; fd or -errno. */
static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

/* Read one line (up to timeout_ms) into buf; length or -errno (0 at EOF). */
static int read_line(int fd, char *buf, size_t len, int timeout_ms)
{
	uint64_t deadline = hx_now_ms() + (uint64_t)timeout_ms;
	size_t n = 0;

	while (n + 1 < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (hx_now_ms() >= deadline)
			return -ETIMEDOUT;
		if (poll(&p, 1, 50) <= 0)
			continue;
		r = read(fd, buf + n, 1);
		if (r <= 0)
			break;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return (int)n;
}

/* As user nobody: connect, read the reply. Returns 1 refused by mode, 2 by
 * the daemon (permission denied), 0 accepted, <0 error. */
static int try_as_nobody(const char *sock)
{
	int p[2], st;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		char buf[256];
		int fd, code;

		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(90);
		fd = unix_connect(sock);
		if (fd == -EACCES) {
			code = 1;
		} else if (fd < 0) {
			code = 91;
		} else {
			/* the daemon may have answered and closed already */
			(void)!send(fd, "{\"cmd\": \"status\"}\n", 18, MSG_NOSIGNAL);
			buf[0] = '\0';
			if (read_line(fd, buf, sizeof(buf), 2000) > 0 &&
			    strstr(buf, "permission denied"))
				code = 2;
			else
				code = strstr(buf, "\"ok\":true") ? 0 : 93;
		}
		_exit(code);
	}
	hx_guard_add_pid(pid);
	waitpid(pid, &st, 0);
	hx_guard_del_pid(pid);
	close(p[0]);
	close(p[1]);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_control_abuse(void **state)
{
	static const char *const args[] = { "--mem", "512M", NULL };
	static const char *const garbage[] = {
		"\x01\x02\xff\xfe\x80 binary",
		"not json",
		"[1, 2, 3]",
		"{}",
		"{\"cmd\": 5}",
		"{\"cmd\": \"shutdown\"}",
		"{\"cmd\": \"set\"}",
		"{\"cmd\": \"set\", \"vm\": \"a\"}",
		"{\"cmd\": \"set\", \"vm\": \"a\", \"min\": \"-5\"}",
		"{\"cmd\": \"set\", \"vm\": \"a\", \"min\": \"101%\"}",
		"{\"cmd\": \"set\", \"vm\": \"a\", \"weight\": 1e300}",
		"{\"cmd\": \"set\", \"vm\": \"a\", \"weight\": -1}",
		"{\"cmd\": \"set\", \"vm\": \"a\", \"max\": \"64T\"}",
		"{\"cmd\": \"set\", \"vm\": \"a\", \"min\": {\"x\": 1}}",
		"{\"cmd\": \"set\", \"vm\": \"nosuchvm\", \"min\": \"1G\"}",
		"{\"cmd\": \"set\", \"vm\": \"a\", \"evil\": 1}",
		"{\"cmd\": \"set\", \"vm\": [\"a\"], \"min\": \"1G\"}",
		"{\"cmd\": \"status\", \"cmd\": \"dump\"}",
		"{\"cmd\": \"st\\u0000atus\"}",
		NULL,
	};
	struct fx f;
	char conf[4096], dir[64], buf[70000];
	struct stat st;
	double polls;
	uint64_t t_start;
	int fd, n, clients[40], nc = 0, refused = 0;

	/* the daemon's socket under /tmp: user nobody can reach the directory */
	snprintf(dir, sizeof(dir), "/tmp/abfault-%d-XXXXXX", (int)getpid());	/* fault_main removes it */
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0755), 0);
	fx_init(&f, "control", 4096, args);
	assert_true(fq_ok(&f.fq, "add a"));
	snprintf(f.ddir, sizeof(f.ddir), "%s", dir);
	fx_config(&f, conf, sizeof(conf), false, NULL, NULL, NULL, NULL);
	fx_daemon(&f, conf);
	assert_true(wait_state(&f, "a", "ok", 5000));
	polls = fnum(&f, "a", "stats_cmds");
	t_start = hx_now_ms();

	/* mode 0600; root only (and the daemon's user) */
	assert_int_equal(stat(f.d.ctl, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	if (geteuid() == 0) {
		assert_int_equal(try_as_nobody(f.d.ctl), 1);	/* the mode says no */
		assert_int_equal(chmod(f.d.ctl, 0666), 0);	/* an admin's mistake */
		assert_int_equal(try_as_nobody(f.d.ctl), 2);	/* the daemon says no */
		assert_int_equal(chmod(f.d.ctl, 0600), 0);
		print_message("    user nobody: refused by the socket mode, and by the daemon "
			      "(SO_PEERCRED) when the mode allows it\n");
	} else {
		print_message("    not root: peer credential check not exercised\n");
	}

	/* garbage, pipelined on one connection: one error each, then it works */
	fd = unix_connect(f.d.ctl);
	assert_true(fd >= 0);
	for (int i = 0; garbage[i]; i++)
		assert_true(dprintf(fd, "%s\n", garbage[i]) > 0);
	for (int i = 0; garbage[i]; i++) {
		n = read_line(fd, buf, sizeof(buf), 2000);
		assert_true(n > 0);
		if (!strstr(buf, "\"ok\":false") || !strstr(buf, "\"error\""))
			fail_msg("request %d (%s): reply %s", i, garbage[i], buf);
	}
	assert_true(dprintf(fd, "{\"cmd\": \"status\"}\n") > 0);
	assert_true(read_line(fd, buf, sizeof(buf), 2000) > 0);
	expect_in(buf, "\"ok\":true");
	close(fd);
	/* none of it changed the VM */
	assert_int_equal(dnum(&f, "a", "min_bytes"), 128 * MIB);
	assert_int_equal(dnum(&f, "a", "weight"), 100);

	/* oversized: an error, then the connection is closed */
	fd = unix_connect(f.d.ctl);
	memset(buf, 'x', 65000);
	for (int i = 0; i < 2; i++)
		assert_int_equal(write(fd, buf, 65000), 65000);
	n = read_line(fd, buf, sizeof(buf), 2000);
	assert_true(n > 0);
	expect_in(buf, "request too long");
	assert_int_equal(read_line(fd, buf, sizeof(buf), 2000), 0);	/* EOF */
	close(fd);

	/*
	 * A client that asks and never reads: the daemon stops reading it once
	 * a few hundred KiB of replies are pending (its writes block), stays
	 * small and quick for everyone else, and loses nothing when it reads.
	 */
	{
		char req[] = "{\"cmd\": \"dump\"}\n";
		uint64_t rss0 = daemon_rss_bytes(&f), t_block = 0, t0 = hx_now_ms();
		double worst = 0, p0 = fnum(&f, "a", "stats_cmds");
		long sent = 0, got = 0;
		int flags;

		fd = unix_connect(f.d.ctl);
		flags = fcntl(fd, F_GETFL);
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
		while (hx_now_ms() - t0 < 15000) {
			ssize_t w = send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL);

			if (w == (ssize_t)sizeof(req) - 1) {
				sent++;
				t_block = 0;
				continue;
			}
			assert_true(w < 0 && errno == EAGAIN);	/* never a partial one here */
			if (!t_block)
				t_block = hx_now_ms();
			if (hx_now_ms() - t_block > 1500)
				break;
			{
				double l = ctl_latency_ms(&f);

				worst = l > worst ? l : worst;
			}
			usleep(100000);
		}
		print_message("    never-reading client: blocked after %ld requests; daemon RSS "
			      "%.0f -> %.0f MiB; others: control %.1f ms, %.0f polls meanwhile\n",
			      sent, rss0 / MIB_D, daemon_rss_bytes(&f) / MIB_D, worst,
			      fnum(&f, "a", "stats_cmds") - p0);
		assert_true(t_block != 0);
		assert_true(daemon_rss_bytes(&f) < rss0 + 32 * MIB);
		assert_true(worst < 100);
		/* now it reads: every request answered */
		fcntl(fd, F_SETFL, flags);
		t0 = hx_now_ms();
		while (got < sent && hx_now_ms() - t0 < 20000) {
			ssize_t r = read(fd, buf, sizeof(buf));

			if (r <= 0)
				break;
			for (ssize_t k = 0; k < r; k++)
				got += buf[k] == '\n';
		}
		print_message("    ... then reads: %ld of %ld replies\n", got, sent);
		assert_int_equal(got, sent);
		close(fd);
	}

	/* too many clients: the extra ones are told, the rest keep working */
	for (int i = 0; i < 40; i++) {
		clients[nc] = unix_connect(f.d.ctl);
		assert_true(clients[nc] >= 0);
		nc++;
	}
	for (int i = 0; i < nc; i++) {
		struct pollfd p = { .fd = clients[i], .events = POLLIN };

		if (poll(&p, 1, 100) > 0 && read_line(clients[i], buf, sizeof(buf), 500) > 0 &&
		    strstr(buf, "too many clients"))
			refused++;
	}
	for (int i = 0; i < nc; i++)
		close(clients[i]);
	print_message("    40 clients at once: %d turned away\n", refused);
	assert_int_equal(refused, 40 - 32);

	/* through all of it: VM a served, the daemon answers */
	assert_true(WAIT_FOR(2000, ctl_latency_ms(&f) < 100));
	/* a new sample a second, each fetched while all this went on */
	assert_true(fnum(&f, "a", "stats_cmds") - polls >= 0.7 * (hx_now_ms() - t_start) / 1000.0);
	assert_true(wait_state(&f, "a", "ok", 1000));
	fx_done(&f);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		assert_int_equal(system(cmd), 0);
	}
}

static void test_sigterm_restore(void **state)
{
	struct fx f;
	char conf[4096];
	uint64_t t0, took;
	int st;

	fx_init(&f, "sigterm", 8192, NULL);
	assert_true(fq_ok(&f.fq, "add fast mem=1G actual=300M speed=10G"));
	assert_true(fq_ok(&f.fq, "add fast2 mem=1G actual=400M speed=10G"));
	fx_config(&f, conf, sizeof(conf), false, NULL, NULL, "relax_delay = 1m\n", NULL);
	fx_daemon(&f, conf);
	assert_true(wait_state(&f, "fast", "ok", 5000));
	assert_true(wait_state(&f, "fast2", "ok", 5000));

	/* all cooperative: back to max and out at once, not after the timeout */
	t0 = hx_now_ms();
	assert_int_equal(hx_daemon_stop(&f.d, SIGTERM, 10000, &st), 0);
	took = hx_now_ms() - t0;
	f.daemon_up = false;
	print_message("    cooperative guests: exit %d after %.2f s; actual %.0f/%.0f MiB\n",
		      WEXITSTATUS(st), took / 1000.0, fnum(&f, "fast", "actual") / MIB_D,
		      fnum(&f, "fast2", "actual") / MIB_D);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_true(took < 1500);
	assert_int_equal(fnum(&f, "fast", "actual"), 1024 * MIB);
	assert_int_equal(fnum(&f, "fast2", "actual"), 1024 * MIB);

	/* a slow guest, a stuck one, a silent one: out within restore_timeout */
	assert_true(fq_ok(&f.fq, "add slow mem=2G actual=300M speed=100M"));
	assert_true(fq_ok(&f.fq, "add stuck mem=1G actual=500M"));
	assert_true(fq_ok(&f.fq, "add mute mem=1G actual=500M"));
	assert_true(fq_ok(&f.fq, "set fast actual=300M"));
	snprintf(f.ddir, sizeof(f.ddir), "%s/second", f.dir);
	fx_config(&f, conf, sizeof(conf), false, NULL, NULL, "relax_delay = 1m\n", NULL);
	fx_daemon(&f, conf);
	assert_true(wait_state(&f, "slow", "ok", 5000));
	assert_true(wait_state(&f, "stuck", "ok", 5000));
	assert_true(wait_state(&f, "mute", "ok", 5000));
	assert_true(fq_ok(&f.fq, "set stuck speed=0"));
	assert_true(fq_ok(&f.fq, "set mute fault=noreply"));
	t0 = hx_now_ms();
	assert_int_equal(hx_daemon_stop(&f.d, SIGTERM, 10000, &st), 0);
	took = hx_now_ms() - t0;
	f.daemon_up = false;
	print_message("    slow/stuck/silent guests: exit %d after %.2f s (restore_timeout "
		      "3 s); targets sent: slow %.0f, stuck %.0f MiB; fast back to %.0f MiB\n",
		      WEXITSTATUS(st), took / 1000.0, fnum(&f, "slow", "balloon_last") / MIB_D,
		      fnum(&f, "stuck", "balloon_last") / MIB_D, fnum(&f, "fast", "actual") / MIB_D);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_true(took >= 2500 && took < 4500);
	assert_int_equal(fnum(&f, "slow", "balloon_last"), 2048 * MIB);
	assert_int_equal(fnum(&f, "stuck", "balloon_last"), 1024 * MIB);
	assert_int_equal(fnum(&f, "fast", "actual"), 1024 * MIB);
	assert_true(fnum(&f, "slow", "actual") > 500 * MIB_D);	/* on its way */
	fx_done(&f);
}

/*
 * autoballoonctl status --json and dump print sizes exactly (issue 19:
 * integers were decoded as reals and printed to 6 digits, 2.14748e+09):
 * a VM of 2 GiB + 1 byte.
 */
static void test_ctl_json_exact(void **state)
{
	static const char *const want[] = {
		"\"max_bytes\": 2147483649", "\"target_bytes\": 2147483649",
		"\"actual_bytes\": 2147483649",
	};
	char ctl_bin[600], conf[4096], out[262144];
	const char *argv[6];
	struct fx f;
	int st;

	snprintf(ctl_bin, sizeof(ctl_bin), "%.*sautoballoonctl",
		 (int)(strrchr(FC.daemon_bin, '/') + 1 - FC.daemon_bin), FC.daemon_bin);
	fx_init(&f, "jsonexact", 8192, NULL);
	assert_true(fq_ok(&f.fq, "add big mem=2147483649 actual=2147483649"));
	fx_config(&f, conf, sizeof(conf), false, NULL, NULL, NULL, NULL);
	fx_daemon(&f, conf);
	assert_true(wait_state(&f, "big", "ok", 5000));

	/* status --json, then dump (the dump also has the boot size) */
	for (int cmd = 0; cmd < 2; cmd++) {
		argv[0] = ctl_bin;
		argv[1] = "-s";
		argv[2] = f.d.ctl;
		argv[3] = cmd ? "dump" : "status";
		argv[4] = cmd ? NULL : "--json";
		argv[5] = NULL;
		st = run_capture(argv, out, sizeof(out));
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
			expect_in(out, want[i]);
	}
	expect_in(out, "\"boot_bytes\": 2147483649");
	print_message("    2 GiB + 1 byte VM: status --json and dump print 2147483649\n");
	fx_done(&f);
}

static void test_socket_recreated(void **state)
{
	static const char *const args[] = { "--mem", "1G", "--used", "200M", NULL };
	struct fx f;
	char conf[4096], tail[1024], buf[64];
	double polls, acc;

	/* 2 GiB of guests in a 1.5 GiB slice: both get inflated */
	fx_init(&f, "recreate", 1536, args);
	assert_true(fq_ok(&f.fq, "add cfg"));
	assert_true(fq_ok(&f.fq, "add dyn"));
	snprintf(tail, sizeof(tail), "[vm cfg]\nqmp = %s/cfg.qmp\n", f.fq.qmp_dir);
	fx_config(&f, conf, sizeof(conf), false, NULL, NULL, NULL, tail);
	fx_daemon(&f, conf);
	assert_true(wait_state(&f, "cfg", "ok", 5000));
	assert_true(wait_state(&f, "dyn", "ok", 5000));
	assert_true(WAIT_FOR(5000, fnum(&f, "dyn", "actual") < 900 * MIB_D &&
			     fnum(&f, "cfg", "actual") < 900 * MIB_D));

	/* the files go, the sessions stay */
	polls = fnum(&f, "cfg", "stats_cmds");
	assert_true(fq_ok(&f.fq, "unlink cfg"));
	assert_true(fq_ok(&f.fq, "unlink dyn"));
	assert_true(WAIT_FOR(3000, hx_ctl_vm_num(f.d.ctl, "dyn", "max_bytes") != 1024 * MIB_D));
	sleep(3);
	print_message("    socket files deleted: cfg %s (%.0f polls in 3 s), dyn dropped, its "
		      "balloon back to %.0f MiB\n", dstr(&f, "cfg", "state", buf, sizeof(buf)),
		      fnum(&f, "cfg", "stats_cmds") - polls, fnum(&f, "dyn", "target") / MIB_D);
	assert_string_equal(dstr(&f, "cfg", "state", buf, sizeof(buf)), "ok");
	assert_true(fnum(&f, "cfg", "stats_cmds") - polls >= 2);
	/* a VM we stop managing is not left squeezed */
	assert_int_equal(fnum(&f, "dyn", "target"), 1024 * MIB);

	/* QEMU restarted: new sockets, old sessions gone */
	acc = fnum(&f, "cfg", "accepts");
	assert_true(fq_ok(&f.fq, "relisten cfg"));
	assert_true(fq_ok(&f.fq, "relisten dyn"));
	assert_true(fq_ok(&f.fq, "drop cfg"));
	assert_true(fq_ok(&f.fq, "drop dyn"));
	assert_true(WAIT_FOR(5000, fnum(&f, "cfg", "accepts") > acc));
	assert_true(wait_state(&f, "cfg", "ok", 5000));
	assert_true(wait_state(&f, "dyn", "ok", 5000));

	/* QEMU gone for a while (configured: kept, reconnect with back-off) */
	assert_true(fq_ok(&f.fq, "kill cfg"));
	assert_true(wait_state(&f, "cfg", "gone", 5000));
	sleep(2);
	assert_true(fq_ok(&f.fq, "relisten cfg"));
	assert_true(wait_state(&f, "cfg", "ok", 3000));
	print_message("    configured VM: gone and back; qmp_dir VM: dropped and re-added\n");
	fx_done(&f);
}

static void test_qmp_dir_churn(void **state)
{
	static const char *const args[] = { "--mem", "256M", "--used", "64M", NULL };
	struct fx f;
	char conf[4096], name[16];
	bool alive[60] = { false };
	unsigned seed = 1;
	int nalive = 0, nvms = 0;
	json_t *r, *vm;
	size_t i;

	fx_init(&f, "churn", 65536, args);
	fx_config(&f, conf, sizeof(conf), false, NULL, NULL, NULL, NULL);
	fx_daemon(&f, conf);
	for (int round = 0; round < 300; round++) {
		int k = (int)(rand_r(&seed) % 60);

		snprintf(name, sizeof(name), "x%02d", k);
		if (!alive[k]) {
			json_t *rr = fq_cmd(&f.fq, "add %s", name);

			if (!json_is_true(json_object_get(rr, "ok")))
				assert_true(fq_ok(&f.fq, "relisten %s", name));
			json_decref(rr);
		} else {
			assert_true(fq_ok(&f.fq, "kill %s", name));
		}
		alive[k] = !alive[k];
		if (round % 50 == 0)
			usleep(100000);
	}
	for (int k = 0; k < 60; k++)
		nalive += alive[k];
	sleep(2);
	r = hx_ctl(f.d.ctl, "{\"cmd\": \"dump\"}");
	assert_non_null(r);
	json_array_foreach(json_object_get(json_object_get(r, "dump"), "vms"), i, vm) {
		const char *n = json_string_value(json_object_get(vm, "name"));
		int k = n && n[0] == 'x' ? atoi(n + 1) : -1;

		if (k < 0 || k >= 60 || !alive[k])
			fail_msg("daemon still has %s", n ? n : "?");
		nvms++;
	}
	print_message("    300 sockets created/deleted: %d present, daemon has %d (added %.0f, "
		      "removed %.0f)\n", nalive, nvms,
		      json_number_value(json_object_get(json_object_get(json_object_get(r, "dump"),
							"counters"), "vms_added")),
		      json_number_value(json_object_get(json_object_get(json_object_get(r, "dump"),
							"counters"), "vms_removed")));
	json_decref(r);
	assert_int_equal(nvms, nalive);
	for (int k = 0; k < 60; k++) {
		if (!alive[k])
			continue;
		snprintf(name, sizeof(name), "x%02d", k);
		assert_true(wait_state(&f, name, "ok", 3000));
	}
	fx_done(&f);
}

/* A script running BINARY as user nobody (no capabilities, no groups). */
static void nobody_wrapper(const char *path, const char *binary)
{
	char text[1200];

	snprintf(text, sizeof(text), "#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 "
		 "--clear-groups --inh-caps=-all --bounding-set=-all %s \"$@\"\n", binary);
	write_text(path, text);
	assert_int_equal(chmod(path, 0755), 0);
}

static void test_unprivileged(void **state)
{
	struct fx f;
	char dir[64], sub[200], conf[4096], fakew[200], daemonw[200], saved_daemon[512];
	struct stat st;
	json_t *r;
	const char *src;

	if (geteuid() != 0 || system("setpriv --version >/dev/null 2>&1") != 0) {
		print_message("    not root or no setpriv: skipped\n");
		skip();
	}
	snprintf(dir, sizeof(dir), "/tmp/abfault-%d-XXXXXX", (int)getpid());
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/f", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	snprintf(sub, sizeof(sub), "%s/f/qmp", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	snprintf(sub, sizeof(sub), "%s/d", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	snprintf(sub, sizeof(sub), "chown -R 65534:65534 '%s' && chmod 755 '%s'", dir, dir);
	assert_int_equal(system(sub), 0);

	snprintf(fakew, sizeof(fakew), "%s/fakeqmp-nobody", dir);
	snprintf(daemonw, sizeof(daemonw), "%s/autoballoond-nobody", dir);
	nobody_wrapper(fakew, FC.fake_bin);
	nobody_wrapper(daemonw, FC.daemon_bin);
	snprintf(saved_daemon, sizeof(saved_daemon), "%s", FC.daemon_bin);

	/* the fake (QEMU stand-in) as nobody too, in a directory nobody owns */
	memset(&f, 0, sizeof(f));
	snprintf(f.dir, sizeof(f.dir), "%s/f", dir);
	snprintf(f.ddir, sizeof(f.ddir), "%s/d", dir);
	assert_int_equal(fq_start(fakew, f.dir, false,
				  (const char *const[]){ "--mem", "512M", NULL }, &f.fq), 0);
	assert_true(fq_ok(&f.fq, "add a"));
	assert_true(fq_ok(&f.fq, "add b"));
	snprintf(conf, sizeof(conf),
		 "[daemon]\ncontrol_socket = %s/ctl.sock\nqmp_dir = %s\ntick = 200ms\n"
		 "stats_poll = 200ms\n[host]\npressure = psi\n", f.ddir, f.fq.qmp_dir);
	snprintf(FC.daemon_bin, sizeof(FC.daemon_bin), "%s", daemonw);
	fx_daemon(&f, conf);
	snprintf(FC.daemon_bin, sizeof(FC.daemon_bin), "%s", saved_daemon);

	assert_true(wait_state(&f, "a", "ok", 5000));
	assert_true(wait_state(&f, "b", "ok", 5000));
	assert_int_equal(stat(f.d.ctl, &st), 0);
	r = hx_ctl(f.d.ctl, "{\"cmd\": \"dump\"}");
	assert_non_null(r);
	src = json_string_value(json_object_get(json_object_get(json_object_get(r, "dump"),
								  "host"), "pressure_source"));
	print_message("    as nobody: control socket uid %d mode %o; pressure source %s; "
		      "VMs managed; root's requests accepted\n", (int)st.st_uid,
		      st.st_mode & 0777, src ? src : "?");
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_non_null(src);
	assert_non_null(strstr(src, "/proc/pressure/memory"));
	json_decref(r);
	{
		char path[64], line[256];
		FILE *fp;
		bool no_caps = false;

		assert_true(hx_daemon_alive(&f.d));
		snprintf(path, sizeof(path), "/proc/%d/status", (int)f.d.pid);
		fp = fopen(path, "r");
		assert_non_null(fp);
		while (fgets(line, sizeof(line), fp))
			if (!strncmp(line, "CapEff:", 7))
				no_caps = strstr(line, "0000000000000000") != NULL;
		fclose(fp);
		assert_true(no_caps);
	}
	fx_done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_ctl_json_exact),
		cmocka_unit_test(test_reload_broken_config),
		cmocka_unit_test(test_control_abuse),
		cmocka_unit_test(test_sigterm_restore),
		cmocka_unit_test(test_socket_recreated),
		cmocka_unit_test(test_qmp_dir_churn),
		cmocka_unit_test(test_unprivileged),
	};

	return fault_main("fault-admin", tests, sizeof(tests) / sizeof(tests[0]));
}
