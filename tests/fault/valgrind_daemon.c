/* SPDX-License-Identifier: MIT */
/*
 * valgrind_daemon - one whole autoballoond run (the release build, -O2)
 * under valgrind memcheck, against fakeqmp: VMs added and removed, a host
 * going short and relaxed again, faulty peers (garbage, cut replies, no
 * reply, lying stats), control requests, metrics over HTTP, SIGHUP with a
 * broken and a good file, SIGTERM with the balloons returned. Passes when
 * the daemon exits 0 and memcheck reports no error and no leak
 * (definite or indirect).
 *
 *   make check-valgrind   (~40 s)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault.h"

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

/* GET /metrics; returns the number of bytes received (0 on failure). */
static size_t http_get(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	char buf[65536];
	size_t total = 0;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	dprintf(fd, "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n");
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += (size_t)n;
	close(fd);
	return total;
}

static void test_valgrind_run(void **state)
{
	static const char *const args[] = { "--mem", "1G", "--used", "256M", NULL };
	char conf[4096], good[4800], cmd[1200], vglog[600], wrap[480];
	uint16_t port = (uint16_t)(20000 + getpid() % 20000);
	struct fx f;
	json_t *r;
	int st;

	fx_init(&f, "valgrind", 2560, args);
	assert_true(fq_ok(&f.fq, "add a"));
	assert_true(fq_ok(&f.fq, "add b actual=600M"));
	assert_true(fq_ok(&f.fq, "add noisy fault=garbage"));
	assert_true(fq_ok(&f.fq, "add liar stats=zero"));
	assert_true(fq_ok(&f.fq, "add huge stats=huge"));
	assert_true(fq_ok(&f.fq, "add cut fault=closemid"));
	assert_true(fq_ok(&f.fq, "add mute fault=noreply"));

	/* the daemon binary is a wrapper that runs the release build in memcheck */
	snprintf(vglog, sizeof(vglog), "%s/valgrind.log", f.dir);
	snprintf(wrap, sizeof(wrap), "%s/autoballoond-vg", f.dir);
	snprintf(cmd, sizeof(cmd),
		 "#!/bin/sh\nexec valgrind --tool=memcheck --leak-check=full "
		 "--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect "
		 "--error-exitcode=99 --track-fds=no --log-file=%s %s/build/autoballoond \"$@\"\n",
		 vglog, getenv("PWD") ? getenv("PWD") : ".");
	write_text(wrap, cmd);
	assert_int_equal(chmod(wrap, 0755), 0);
	snprintf(FC.daemon_bin, sizeof(FC.daemon_bin), "%s", wrap);

	snprintf(conf, sizeof(conf),
		 "[daemon]\ncontrol_socket = %s/ctl.sock\nqmp_dir = %s\ntick = 500ms\n"
		 "stats_poll = 500ms\nstats_stale = 3s\nqmp_timeout = 2s\nreconnect_min = 200ms\n"
		 "reconnect_max = 2s\nrestore_timeout = 5s\nmetrics_port = %u\n"
		 "[host]\nproc_dir = %s\ncgroup = %s/slice\ncgroup_version = 2\npressure = none\n"
		 "[policy]\nuncooperative_after = 2s\nrelax_delay = 1s\n",
		 f.ddir, f.fq.qmp_dir, port, f.fq.host_dir, f.fq.host_dir);
	fx_daemon(&f, conf);
	assert_true(wait_state(&f, "a", "ok", 20000));
	assert_true(wait_state(&f, "noisy", "ok", 10000));

	/* the host: short (7 x 1 GiB in 2.5 GiB), then room again */
	sleep(4);
	assert_true(fq_ok(&f.fq, "host limit=8G"));
	sleep(3);

	/* VMs come and go, sockets are re-created */
	assert_true(fq_ok(&f.fq, "add late1"));
	assert_true(fq_ok(&f.fq, "kill b"));
	assert_true(fq_ok(&f.fq, "unlink huge"));
	assert_true(fq_ok(&f.fq, "relisten huge"));
	assert_true(fq_ok(&f.fq, "drop huge"));
	sleep(3);

	/* control and metrics */
	r = hx_ctl(f.d.ctl, "{\"cmd\": \"set\", \"vm\": \"a\", \"min\": \"300M\", \"weight\": 300}");
	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	r = hx_ctl(f.d.ctl, "{\"cmd\": \"set\", \"vm\": \"a\", \"min\": \"x\"}");
	assert_non_null(r);
	json_decref(r);
	r = hx_ctl(f.d.ctl, "garbage");
	json_decref(r);
	r = hx_ctl(f.d.ctl, "{\"cmd\": \"pause\"}");
	json_decref(r);
	r = hx_ctl(f.d.ctl, "{\"cmd\": \"resume\"}");
	json_decref(r);
	assert_true(http_get(port) > 1000);

	/* SIGHUP: broken file (kept), then a good one */
	snprintf(good, sizeof(good), "%s[policy]\nbogus = 1\n", conf);
	write_text(f.d.conf, good);
	kill(f.d.pid, SIGHUP);
	sleep(2);
	snprintf(good, sizeof(good), "%s[vm extra]\nqmp = %s/extra.qmp\n", conf, f.fq.qmp_dir);
	write_text(f.d.conf, good);
	kill(f.d.pid, SIGHUP);
	sleep(3);
	assert_true(hx_daemon_alive(&f.d));

	/* SIGTERM: balloons back, clean exit, memcheck happy */
	assert_int_equal(hx_daemon_stop(&f.d, SIGTERM, 30000, &st), 0);
	f.daemon_up = false;
	snprintf(cmd, sizeof(cmd), "grep -E 'ERROR SUMMARY|in use at exit|definitely|indirectly|"
		 "Invalid|uninitialised' %s | sed 's/^==[0-9]*== /    memcheck: /' | head -20",
		 vglog);
	if (system(cmd) != 0)
		print_message("    (no valgrind report lines)\n");
	print_message("    autoballoond under memcheck: exit %d\n",
		      WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(cmd, sizeof(cmd), "cat %s >&2", vglog);
		if (system(cmd) != 0)
			print_message("    (no valgrind log)\n");
		hx_daemon_show_log(&f.d, 40);
	}
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	snprintf(cmd, sizeof(cmd), "grep -q 'ERROR SUMMARY: 0 errors from 0 contexts' %s", vglog);
	assert_int_equal(system(cmd), 0);
	fx_done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valgrind_run),
	};

	if (system("valgrind --version >/dev/null 2>&1") != 0) {
		printf("SKIP valgrind_daemon: valgrind is not installed\n");
		return 77;
	}
	return fault_main("valgrind", tests, sizeof(tests) / sizeof(tests[0]));
}
