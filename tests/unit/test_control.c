/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the control protocol and metrics rendering, on a manager
 * with a fake /proc and one configured VM (whose QEMU does not exist), and
 * for the control socket server itself (real socket, real loop).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "log.h"
#include "loop.h"
#include "manager.h"
#include "metrics.h"
#include "util.h"

struct fx {
	char dir[64];
	char sock[128];
	struct logger log;
	struct daemon_config cfg;
	struct loop *loop;
	struct manager *m;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char conf[1024], err[1024], p[128];
	FILE *fp;

	snprintf(f->dir, sizeof(f->dir), "/tmp/abtest-ctl-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(p, sizeof(p), "%s/meminfo", f->dir);
	fp = fopen(p, "w");
	fprintf(fp, "MemTotal: 4194304 kB\nMemFree: 1048576 kB\nMemAvailable: 2097152 kB\n");
	fclose(fp);
	snprintf(f->sock, sizeof(f->sock), "%s/ctl.sock", f->dir);
	snprintf(conf, sizeof(conf),
		 "[daemon]\ncontrol_socket = %s\n[host]\nproc_dir = %s\npressure = none\n"
		 "[vm alpha]\nqmp = %s/alpha.qmp\nmax = 1G\nmin = 256M\n", f->sock, f->dir, f->dir);
	config_init_defaults(&f->cfg);
	assert_int_equal(config_load_string("t.conf", conf, &f->cfg, err, sizeof(err)), 0);
	f->log.level = LOG_LVL_ERR;
	assert_int_equal(loop_new(&f->loop), 0);
	assert_int_equal(manager_new(f->loop, &f->log, &f->cfg, &f->m), 0);
	assert_int_equal(manager_start(f->m), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	manager_free(f->m);
	loop_free(f->loop);
	config_free(&f->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static json_t *ask(struct fx *f, const char *req)
{
	char *out = control_handle(f->m, req, strlen(req));
	json_t *j;

	assert_non_null(out);
	assert_int_equal(out[strlen(out) - 1], '\n');
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	free(out);
	return j;
}

static void expect_error(struct fx *f, const char *req, const char *substr)
{
	json_t *j = ask(f, req);
	const char *e = json_string_value(json_object_get(j, "error"));

	if (json_is_true(json_object_get(j, "ok")) || !e || !strstr(e, substr))
		fail_msg("request %s: got %s, want error with \"%s\"", req, e ? e : "ok", substr);
	json_decref(j);
}

static void test_status_and_dump(void **state)
{
	struct fx *f = *state;
	json_t *j = ask(f, "{\"cmd\": \"status\"}"), *vm;

	assert_true(json_is_true(json_object_get(j, "ok")));
	vm = json_array_get(json_object_get(json_object_get(j, "status"), "vms"), 0);
	assert_string_equal(json_string_value(json_object_get(vm, "name")), "alpha");
	assert_string_equal(json_string_value(json_object_get(vm, "state")), "connecting");
	assert_int_equal(json_integer_value(json_object_get(vm, "max_bytes")), 1024 * MIB);
	assert_true(json_is_null(json_object_get(vm, "actual_bytes")));
	json_decref(j);

	j = ask(f, "{\"cmd\": \"dump\"}");
	assert_non_null(json_object_get(json_object_get(j, "dump"), "counters"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		json_object_get(j, "dump"), "host"), "kind")), "host");
	json_decref(j);
}

static void test_set_pause_resume(void **state)
{
	struct fx *f = *state;
	json_t *j = ask(f, "{\"cmd\": \"set\", \"vm\": \"alpha\", \"min\": \"512M\", \"weight\": 300}");
	json_t *st, *vm;

	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	st = manager_dump(f->m, false);
	vm = json_array_get(json_object_get(st, "vms"), 0);
	assert_int_equal(json_integer_value(json_object_get(vm, "min_bytes")), 512 * MIB);
	assert_int_equal(json_integer_value(json_object_get(vm, "weight")), 300);
	json_decref(st);

	j = ask(f, "{\"cmd\": \"pause\"}");
	assert_true(json_is_true(json_object_get(j, "paused")));
	json_decref(j);
	assert_true(manager_paused(f->m));
	j = ask(f, "{\"cmd\": \"resume\"}");
	assert_false(json_is_true(json_object_get(j, "paused")));
	json_decref(j);
}

static void test_bad_requests(void **state)
{
	struct fx *f = *state;

	expect_error(f, "not json", "not valid JSON");
	expect_error(f, "[1,2]", "must be a JSON object");
	expect_error(f, "{}", "needs \"cmd\"");
	expect_error(f, "{\"cmd\": 5}", "needs \"cmd\"");
	expect_error(f, "{\"cmd\": \"reboot\"}", "unknown cmd");
	expect_error(f, "{\"cmd\": \"set\"}", "\"vm\"");
	expect_error(f, "{\"cmd\": \"set\", \"vm\": \"nope\", \"min\": \"1G\"}", "no VM named");
	expect_error(f, "{\"cmd\": \"set\", \"vm\": \"alpha\"}", "nothing to set");
	expect_error(f, "{\"cmd\": \"set\", \"vm\": \"alpha\", \"min\": \"huge\"}", "min:");
	expect_error(f, "{\"cmd\": \"set\", \"vm\": \"alpha\", \"min\": \"2G\"}", "above max");
	expect_error(f, "{\"cmd\": \"set\", \"vm\": \"alpha\", \"weight\": 0}", "weight");
	expect_error(f, "{\"cmd\": \"set\", \"vm\": \"alpha\", \"weight\": -4}", "sizes or numbers");
	expect_error(f, "{\"cmd\": \"set\", \"vm\": \"alpha\", \"max\": [1]}", "sizes or numbers");
	expect_error(f, "{\"cmd\": \"set\", \"vm\": \"alpha\", \"colour\": \"red\"}", "unknown field");
	expect_error(f, "{\"cmd\": \"status\", \"cmd\": \"dump\"}", "not valid JSON");
}

static void test_metrics_render(void **state)
{
	struct fx *f = *state;
	char *text = metrics_render(f->m), buf[64];

	assert_non_null(text);
	assert_non_null(strstr(text, "# TYPE autoballoon_vm_max_bytes gauge"));
	assert_non_null(strstr(text, "autoballoon_vm_max_bytes{vm=\"alpha\"} 1073741824"));
	assert_non_null(strstr(text, "autoballoon_vm_min_bytes{vm=\"alpha\"} 268435456"));
	assert_non_null(strstr(text, "autoballoon_vm_state{vm=\"alpha\",state=\"connecting\"} 1"));
	assert_non_null(strstr(text, "autoballoon_vm_state{vm=\"alpha\",state=\"ok\"} 0"));
	assert_non_null(strstr(text, "autoballoon_host_limit_bytes 4294967296"));
	assert_non_null(strstr(text, "autoballoon_host_available_bytes 2147483648"));
	assert_non_null(strstr(text, "autoballoon_policy_rounds_total"));
	assert_non_null(strstr(text, "autoballoon_vm_targets_sent_total{vm=\"alpha\"} 0"));
	assert_null(strstr(text, "autoballoon_vm_actual_bytes{"));	/* unknown: omitted */
	assert_null(strstr(text, "autoballoon_vm_resident_bytes{"));
	free(text);
	/* a hostile label value must not break the exposition format */
	metrics_escape_label("a\"b\\c\nd", buf, sizeof(buf));
	assert_string_equal(buf, "a\\\"b\\\\c\\nd");
	metrics_escape_label("\"\"\"\"", buf, 6);	/* cut between escapes, terminated */
	assert_string_equal(buf, "\\\"\\\"");
}

/* The socket server: a client talks to it while the test runs the loop. */
static int client_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	strcpy(sa.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static ssize_t read_reply(struct fx *f, int fd, char *buf, size_t len)
{
	size_t n = 0;

	for (int i = 0; i < 200 && n < len - 1; i++) {
		ssize_t r;

		loop_iterate(f->loop, 10);
		r = recv(fd, buf + n, len - 1 - n, 0);
		if (r == 0)
			break;
		if (r > 0) {
			n += (size_t)r;
			if (buf[n - 1] == '\n')
				break;
		}
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

static void test_socket_server(void **state)
{
	struct fx *f = *state;
	struct control *ctl;
	struct stat st;
	char buf[65536];
	char *big;
	int fd;

	assert_int_equal(control_new(f->loop, &f->log, f->sock, f->m, &ctl), 0);
	assert_int_equal(stat(f->sock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	{
		/* a second daemon on the same path: refused, the first keeps its socket */
		struct control *other;
		struct stat st2;

		assert_int_equal(control_new(f->loop, &f->log, f->sock, f->m, &other),
				 -EADDRINUSE);
		assert_int_equal(stat(f->sock, &st2), 0);
		assert_true(st2.st_ino == st.st_ino);
	}

	fd = client_connect(f->sock);
	assert_int_equal(send(fd, "{\"cmd\":\"status\"}\n", 17, 0), 17);
	assert_true(read_reply(f, fd, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\"alpha\""));
	/* garbage gets an answer and the connection stays usable */
	assert_int_equal(send(fd, "\x01\x02 junk\n", 8, 0), 8);
	read_reply(f, fd, buf, sizeof(buf));
	assert_non_null(strstr(buf, "not valid JSON"));
	assert_int_equal(send(fd, "{\"cmd\":\"pause\"}\n", 16, 0), 16);
	read_reply(f, fd, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"paused\":true"));
	close(fd);

	/* an oversized request: error, then the server closes */
	fd = client_connect(f->sock);
	big = malloc(CONTROL_MAX_REQUEST + 100);
	memset(big, 'x', CONTROL_MAX_REQUEST + 100);
	for (size_t off = 0; off < CONTROL_MAX_REQUEST + 100;) {
		ssize_t r = send(fd, big + off, CONTROL_MAX_REQUEST + 100 - off, 0);

		if (r > 0)
			off += (size_t)r;
		loop_iterate(f->loop, 10);
		if (r < 0 && errno != EAGAIN)
			break;
	}
	free(big);
	read_reply(f, fd, buf, sizeof(buf));
	assert_non_null(strstr(buf, "request too long"));
	assert_int_equal(read_reply(f, fd, buf, sizeof(buf)), 0);	/* closed */
	close(fd);

	/* peer credentials */
	assert_true(control_peer_allowed(0, 1000));
	assert_true(control_peer_allowed(1000, 1000));
	assert_false(control_peer_allowed(1001, 1000));

	control_free(ctl);
	assert_int_not_equal(stat(f->sock, &st), 0);	/* removed */

	/* a stale socket (its daemon died without removing it) is taken over */
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int s = socket(AF_UNIX, SOCK_STREAM, 0);

		assert_true(strlen(f->sock) < sizeof(sa.sun_path));
		memcpy(sa.sun_path, f->sock, strlen(f->sock) + 1);
		assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(s);
		assert_int_equal(control_new(f->loop, &f->log, f->sock, f->m, &ctl), 0);
		/* replaced behind its back: the file is not its own to remove */
		assert_int_equal(unlink(f->sock), 0);
		s = socket(AF_UNIX, SOCK_STREAM, 0);
		assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
		control_free(ctl);
		assert_int_equal(stat(f->sock, &st), 0);
		close(s);
		unlink(f->sock);
	}
}

/* The HTTP endpoint, served from the daemon's loop, on loopback. */
static void test_metrics_http(void **state)
{
	struct fx *f = *state;
	struct metrics *mt = NULL;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char buf[65536];
	size_t n = 0;
	uint16_t port = 0;
	int fd, r = -1;

	/* find a free port: bind 0, read it, release it */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	{
		socklen_t len = sizeof(sa);

		getsockname(fd, (struct sockaddr *)&sa, &len);
		port = ntohs(sa.sin_port);
	}
	close(fd);
	assert_int_equal(metrics_new(f->loop, "127.0.0.1", port, f->m, &mt), 0);
	assert_int_equal(metrics_new(f->loop, "not-an-address", port, f->m, &(struct metrics *){ 0 }),
			 -EINVAL);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	assert_true(r == 0 || errno == EINPROGRESS);
	for (int i = 0; i < 100 && n == 0; i++) {
		loop_iterate(f->loop, 10);
		if (send(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25, MSG_NOSIGNAL) == 25)
			break;
	}
	for (int i = 0; i < 300; i++) {
		ssize_t k;

		loop_iterate(f->loop, 10);
		k = recv(fd, buf + n, sizeof(buf) - 1 - n, 0);
		if (k == 0)
			break;
		if (k > 0)
			n += (size_t)k;
	}
	buf[n] = '\0';
	close(fd);
	metrics_free(mt);
	assert_non_null(strstr(buf, "200 OK"));
	assert_non_null(strstr(buf, "text/plain; version=0.0.4"));
	assert_non_null(strstr(buf, "autoballoon_vm_max_bytes{vm=\"alpha\"} 1073741824"));
}

static void test_reload(void **state)
{
	struct fx *f = *state;
	struct daemon_config nc;
	char conf[1024], err[1024];
	json_t *st, *vms;

	snprintf(conf, sizeof(conf),
		 "[daemon]\ncontrol_socket = %s\npolicy = observe\n[host]\nproc_dir = %s\n"
		 "pressure = none\n[vm beta]\nqmp = %s/beta.qmp\n[vm gamma]\nqmp = %s/g.qmp\n",
		 f->sock, f->dir, f->dir, f->dir);
	config_init_defaults(&nc);
	assert_int_equal(config_load_string("r.conf", conf, &nc, err, sizeof(err)), 0);
	assert_int_equal(manager_reload(f->m, &nc), 0);
	config_free(&nc);
	st = manager_dump(f->m, true);
	vms = json_object_get(st, "vms");
	assert_int_equal(json_array_size(vms), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(vms, 0), "name")),
			    "beta");
	assert_string_equal(json_string_value(json_object_get(st, "policy")), "observe");
	json_decref(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status_and_dump, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_pause_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_render, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_http, setup, teardown),
	};

	return cmocka_run_group_tests_name("control", tests, NULL, NULL);
}
