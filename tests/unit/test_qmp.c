/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for QMP: framing, message parsing, number decoding, and the
 * asynchronous client run on the real event loop against a scripted server
 * socket (the test plays QEMU), plus the blocking client against a forked
 * scripted server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loop.h"
#include "qmp.h"
#include "util.h"

/* ------------------------------------------------------------- framing */

struct lines {
	char got[16][256];
	int n;
	int fail_at;	/* return an error for line number fail_at (1-based) */
};

static int collect(const char *line, size_t len, void *data)
{
	struct lines *l = data;

	assert_int_equal(strlen(line), len);
	if (l->n < 16)
		snprintf(l->got[l->n], sizeof(l->got[0]), "%s", line);
	l->n++;
	return l->n == l->fail_at ? -EIO : 0;
}

static void test_framer_chunks(void **state)
{
	struct qmp_framer f;
	struct lines l = { 0 };

	qmp_framer_init(&f, 64);
	assert_int_equal(qmp_framer_feed(&f, "{\"a\"", 4, collect, &l), 0);
	assert_int_equal(l.n, 0);
	{
		const char *chunk = ":1}\r\n\n\r\n{\"b\":2}\n{\"c";

		assert_int_equal(qmp_framer_feed(&f, chunk, strlen(chunk), collect, &l), 0);
	}
	assert_int_equal(l.n, 2);
	assert_string_equal(l.got[0], "{\"a\":1}");
	assert_string_equal(l.got[1], "{\"b\":2}");
	assert_int_equal(qmp_framer_feed(&f, "\":3}\n", 5, collect, &l), 0);
	assert_string_equal(l.got[2], "{\"c\":3}");
	qmp_framer_free(&f);
}

static void test_framer_limit(void **state)
{
	struct qmp_framer f;
	struct lines l = { 0 };
	char big[200];

	memset(big, 'x', sizeof(big));
	qmp_framer_init(&f, 64);
	/* exactly the maximum is fine, with or without \r */
	assert_int_equal(qmp_framer_feed(&f, big, 64, collect, &l), 0);
	assert_int_equal(qmp_framer_feed(&f, "\r\n", 2, collect, &l), 0);
	assert_int_equal(l.n, 1);
	/* one more byte is not, even when it arrives in pieces */
	assert_int_equal(qmp_framer_feed(&f, big, 40, collect, &l), 0);
	assert_int_equal(qmp_framer_feed(&f, big, 26, collect, &l), -EMSGSIZE);
	qmp_framer_free(&f);
}

static void test_framer_callback_error(void **state)
{
	struct qmp_framer f;
	struct lines l = { .fail_at = 2 };

	qmp_framer_init(&f, 64);
	assert_int_equal(qmp_framer_feed(&f, "a\nb\nc\n", 6, collect, &l), -EIO);
	assert_int_equal(l.n, 2);
	qmp_framer_free(&f);
}

/* ------------------------------------------------------------- parsing */

static void test_parse_kinds(void **state)
{
	static const struct {
		const char *line;
		int ret;
		enum qmp_msg_kind kind;
	} cases[] = {
		{ "{\"QMP\": {\"version\": {}, \"capabilities\": []}}", 0, QMP_MSG_GREETING },
		{ "{\"return\": {}, \"id\": 7}", 0, QMP_MSG_RETURN },
		{ "{\"return\": [1, 2]}", 0, QMP_MSG_RETURN },
		{ "{\"error\": {\"class\": \"GenericError\", \"desc\": \"x\"}, \"id\": 3}", 0,
		  QMP_MSG_ERROR },
		{ "{\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 1}, "
		  "\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}", 0, QMP_MSG_EVENT },
		{ "{\"event\": \"STOP\"}", 0, QMP_MSG_EVENT },
		/* garbage */
		{ "", -EBADMSG, 0 },
		{ "{", -EBADMSG, 0 },
		{ "nonsense", -EBADMSG, 0 },
		{ "[1, 2, 3]", -EPROTO, 0 },
		{ "42", -EBADMSG, 0 },
		{ "{}", -EPROTO, 0 },
		{ "{\"hello\": 1}", -EPROTO, 0 },
		{ "{\"error\": \"oops\"}", -EPROTO, 0 },
		{ "{\"error\": {\"desc\": \"no class\"}}", -EPROTO, 0 },
		{ "{\"event\": 5}", -EPROTO, 0 },
		{ "{\"event\": \"X\", \"data\": [1]}", -EPROTO, 0 },
		{ "{\"QMP\": 1}", -EPROTO, 0 },
		{ "{\"return\": 1, \"return\": 2}", -EBADMSG, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct qmp_msg m;
		int r = qmp_msg_parse(cases[i].line, strlen(cases[i].line), &m);

		if (r != cases[i].ret)
			fail_msg("case %zu \"%s\": got %d, want %d", i, cases[i].line, r,
				 cases[i].ret);
		if (r == 0) {
			assert_int_equal(m.kind, cases[i].kind);
			qmp_msg_clear(&m);
		}
	}
}

static void test_parse_fields(void **state)
{
	const char *err = "{\"error\": {\"class\": \"DeviceNotActive\", \"desc\": \"No balloon\"}, \"id\": 12}";
	const char *ev = "{\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 18446744073709551615}}";
	struct qmp_msg m;
	uint64_t v;

	assert_int_equal(qmp_msg_parse(err, strlen(err), &m), 0);
	assert_string_equal(m.err_class, "DeviceNotActive");
	assert_string_equal(m.err_desc, "No balloon");
	assert_true(m.has_id);
	assert_int_equal(m.id, 12);
	qmp_msg_clear(&m);

	/* u64 -1 must not break parsing: it decodes as "unknown" */
	assert_int_equal(qmp_msg_parse(ev, strlen(ev), &m), 0);
	assert_string_equal(m.event, "BALLOON_CHANGE");
	assert_int_equal(qmp_json_u64(json_object_get(m.data, "actual"), &v), -ENODATA);
	qmp_msg_clear(&m);
}

static void test_json_u64(void **state)
{
	static const struct {
		const char *json;
		int ret;
		uint64_t val;
	} cases[] = {
		{ "0", 0, 0 },
		{ "536870912", 0, 536870912 },
		{ "9007199254740992", 0, 9007199254740992ULL },
		{ "18446744073709551615", -ENODATA, 0 },
		{ "9223372036854775808", -ENODATA, 0 },
		{ "9007199254740994", -ERANGE, 0 },
		{ "-1", -EINVAL, 0 },
		{ "1.5", -EINVAL, 0 },
		{ "1e3", 0, 1000 },
		{ "\"12\"", -EINVAL, 0 },
		{ "null", -EINVAL, 0 },
		{ "true", -EINVAL, 0 },
		{ "[]", -EINVAL, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL,
				       NULL);
		uint64_t out = 12345;
		int r;

		assert_non_null(v);
		r = qmp_json_u64(v, &out);
		if (r != cases[i].ret)
			fail_msg("case %s: got %d, want %d", cases[i].json, r, cases[i].ret);
		if (r == 0)
			assert_int_equal(out, cases[i].val);
		json_decref(v);
	}
	/* plain jansson integers too */
	{
		json_t *v = json_integer(77);
		uint64_t out;

		assert_int_equal(qmp_json_u64(v, &out), 0);
		assert_int_equal(out, 77);
		json_decref(v);
		v = json_integer(-5);
		assert_int_equal(qmp_json_u64(v, &out), -EINVAL);
		json_decref(v);
	}
	assert_int_equal(qmp_json_u64(NULL, &(uint64_t){ 0 }), -EINVAL);
}

static void test_command_encode(void **state)
{
	json_t *args = json_pack("{s:I}", "value", (json_int_t)1073741824);
	char *s = qmp_command_encode("balloon", args, 42);
	json_t *o;

	assert_non_null(s);
	assert_int_equal(s[strlen(s) - 1], '\n');
	o = json_loads(s, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "execute")), "balloon");
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 42);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "arguments"),
							    "value")), 1073741824);
	json_decref(o);
	json_decref(args);
	free(s);
	s = qmp_command_encode("query-balloon", NULL, 1);
	assert_null(strstr(s, "arguments"));
	free(s);
}

/* ------------------------------------------------------- async client */

struct fixture {
	char dir[64];
	char path[128];
	int listen_fd;
	int srv;		/* accepted server side */
	struct loop *loop;
	struct qmp_client *c;
	/* observations */
	int ready;
	int closed;
	int closed_err;
	int events;
	char last_event[64];
	int replies;
	int reply_err;
	char reply_class[64];
	uint64_t reply_actual;
	bool free_in_reply;
};

static int setup(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/abtest-qmp-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/vm.qmp", f->dir);
	strcpy(sa.sun_path, f->path);
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->listen_fd, 4), 0);
	assert_int_equal(loop_new(&f->loop), 0);
	f->srv = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	qmp_client_free(f->c);
	loop_free(f->loop);
	if (f->srv >= 0)
		close(f->srv);
	close(f->listen_fd);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void on_ready(struct qmp_client *c, void *data)
{
	((struct fixture *)data)->ready++;
}

static void on_event(struct qmp_client *c, const char *name, json_t *ev, void *data)
{
	struct fixture *f = data;

	f->events++;
	snprintf(f->last_event, sizeof(f->last_event), "%s", name);
}

static void on_closed(struct qmp_client *c, int err, void *data)
{
	struct fixture *f = data;

	f->closed++;
	f->closed_err = err;
}

static const struct qmp_client_ops ops = {
	.ready = on_ready, .event = on_event, .closed = on_closed,
};

static void on_reply(struct qmp_client *c, const struct qmp_reply *r, void *data)
{
	struct fixture *f = data;

	f->replies++;
	f->reply_err = r->err;
	f->reply_class[0] = '\0';
	if (r->err == -EREMOTEIO)
		snprintf(f->reply_class, sizeof(f->reply_class), "%s", r->err_class);
	if (!r->err)
		qmp_json_u64(json_object_get(r->ret, "actual"), &f->reply_actual);
	if (f->free_in_reply) {
		qmp_client_free(f->c);
		f->c = NULL;
	}
}

static void srv_send(struct fixture *f, const char *s)
{
	assert_int_equal(write(f->srv, s, strlen(s)), (ssize_t)strlen(s));
}

/* Read one line the client sent; returns its "id" (or -1). */
static long srv_recv_cmd(struct fixture *f, char *cmd, size_t cmdlen)
{
	char buf[4096];
	size_t n = 0;
	json_t *o;
	long id = -1;

	while (n < sizeof(buf) - 1) {
		assert_int_equal(read(f->srv, buf + n, 1), 1);
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	o = json_loads(buf, 0, NULL);
	assert_non_null(o);
	if (cmd)
		snprintf(cmd, cmdlen, "%s", json_string_value(json_object_get(o, "execute")));
	if (json_is_integer(json_object_get(o, "id")))
		id = (long)json_integer_value(json_object_get(o, "id"));
	json_decref(o);
	return id;
}

static void spin(struct fixture *f, int iterations)
{
	for (int i = 0; i < iterations; i++)
		loop_iterate(f->loop, 20);
}

/* Connect and complete the handshake. */
static void handshake(struct fixture *f)
{
	char cmd[64], reply[64];
	long id;

	assert_int_equal(qmp_client_new(f->loop, f->path, 4096, &ops, f, &f->c), 0);
	assert_int_equal(qmp_client_connect(f->c, now_ms(), 1000), 0);
	f->srv = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(f->srv >= 0);
	srv_send(f, "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7}}, \"capabilities\": []}}\r\n");
	spin(f, 3);
	id = srv_recv_cmd(f, cmd, sizeof(cmd));
	assert_string_equal(cmd, "qmp_capabilities");
	assert_false(qmp_client_is_ready(f->c));
	snprintf(reply, sizeof(reply), "{\"return\": {}, \"id\": %ld}\r\n", id);
	srv_send(f, reply);
	spin(f, 3);
	assert_int_equal(f->ready, 1);
	assert_true(qmp_client_is_ready(f->c));
}

static void test_client_handshake_and_reply(void **state)
{
	struct fixture *f = *state;
	char cmd[64], line[256];
	long id;

	handshake(f);
	assert_int_equal(qmp_client_execute(f->c, "query-balloon", NULL, now_ms(), 1000,
					    on_reply, f), 0);
	spin(f, 2);
	id = srv_recv_cmd(f, cmd, sizeof(cmd));
	assert_string_equal(cmd, "query-balloon");
	/* an event between the command and its reply, and a stray reply */
	srv_send(f, "{\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 1024}}\r\n");
	srv_send(f, "{\"return\": {\"actual\": 1}, \"id\": 99999}\r\n");
	snprintf(line, sizeof(line), "{\"return\": {\"actual\": 536870912}, \"id\": %ld}\r\n", id);
	srv_send(f, line);
	spin(f, 3);
	assert_int_equal(f->events, 1);
	assert_string_equal(f->last_event, "BALLOON_CHANGE");
	assert_int_equal(f->replies, 1);
	assert_int_equal(f->reply_err, 0);
	assert_int_equal(f->reply_actual, 536870912);
	assert_int_equal(qmp_client_counters(f->c)->bad_messages, 1);
	assert_int_equal(qmp_client_pending(f->c), 0);
}

static void test_client_error_reply(void **state)
{
	struct fixture *f = *state;
	char line[256];
	long id;

	handshake(f);
	assert_int_equal(qmp_client_execute(f->c, "balloon", NULL, now_ms(), 1000,
					    on_reply, f), 0);
	spin(f, 2);
	id = srv_recv_cmd(f, NULL, 0);
	snprintf(line, sizeof(line), "{\"error\": {\"class\": \"DeviceNotActive\", "
		 "\"desc\": \"No balloon device has been activated\"}, \"id\": %ld}\n", id);
	srv_send(f, line);
	spin(f, 3);
	assert_int_equal(f->reply_err, -EREMOTEIO);
	assert_string_equal(f->reply_class, "DeviceNotActive");
}

static void test_client_timeout_then_late_reply(void **state)
{
	struct fixture *f = *state;
	char line[256];
	long id;

	handshake(f);
	/* time is a parameter: issued at t=1000 with a 50 ms timeout */
	assert_int_equal(qmp_client_execute(f->c, "query-balloon", NULL, 1000, 50,
					    on_reply, f), 0);
	spin(f, 2);
	id = srv_recv_cmd(f, NULL, 0);
	qmp_client_tick(f->c, 1049);
	assert_int_equal(f->replies, 0);
	qmp_client_tick(f->c, 1050);
	assert_int_equal(f->replies, 1);
	assert_int_equal(f->reply_err, -ETIMEDOUT);
	/* the answer arrives after all: ignored, connection stays up */
	snprintf(line, sizeof(line), "{\"return\": {\"actual\": 5}, \"id\": %ld}\n", id);
	srv_send(f, line);
	spin(f, 3);
	assert_int_equal(f->replies, 1);
	assert_true(qmp_client_is_ready(f->c));
	assert_int_equal(qmp_client_counters(f->c)->timeouts, 1);
}

static void test_client_close_mid_reply(void **state)
{
	struct fixture *f = *state;

	handshake(f);
	assert_int_equal(qmp_client_execute(f->c, "query-balloon", NULL, now_ms(), 1000,
					    on_reply, f), 0);
	spin(f, 2);
	srv_recv_cmd(f, NULL, 0);
	srv_send(f, "{\"return\": {\"actu");
	close(f->srv);
	f->srv = -1;
	spin(f, 3);
	assert_int_equal(f->replies, 1);
	assert_int_equal(f->reply_err, -ECONNRESET);
	assert_int_equal(f->closed, 1);
	assert_int_equal(f->closed_err, -ECONNRESET);
	assert_false(qmp_client_is_connected(f->c));
	/* and it can connect again */
	assert_int_equal(qmp_client_connect(f->c, now_ms(), 1000), 0);
}

static void test_client_oversized_line(void **state)
{
	struct fixture *f = *state;
	char big[8192];

	handshake(f);
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[0] = '{';
	srv_send(f, big);	/* max_line is 4096 */
	spin(f, 3);
	assert_int_equal(f->closed, 1);
	assert_int_equal(f->closed_err, -EMSGSIZE);
}

static void test_client_garbage_before_handshake(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(qmp_client_new(f->loop, f->path, 4096, &ops, f, &f->c), 0);
	assert_int_equal(qmp_client_connect(f->c, now_ms(), 1000), 0);
	f->srv = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	srv_send(f, "HTTP/1.1 200 OK\r\n");
	spin(f, 3);
	assert_int_equal(f->closed, 1);
	assert_int_equal(f->closed_err, -EBADMSG);
	assert_int_equal(f->ready, 0);
}

static void test_client_handshake_timeout(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(qmp_client_new(f->loop, f->path, 4096, &ops, f, &f->c), 0);
	assert_int_equal(qmp_client_connect(f->c, now_ms(), 100), 0);
	f->srv = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	qmp_client_tick(f->c, now_ms() + 101);
	assert_int_equal(f->closed, 1);
	assert_int_equal(f->closed_err, -ETIMEDOUT);
}

static void test_client_not_ready_and_busy(void **state)
{
	struct fixture *f = *state;
	int r = 0, n = 0;

	assert_int_equal(qmp_client_new(f->loop, f->path, 4096, &ops, f, &f->c), 0);
	assert_int_equal(qmp_client_execute(f->c, "x", NULL, 0, 10, on_reply, f), -ENOTCONN);
	qmp_client_free(f->c);
	f->c = NULL;
	handshake(f);
	while ((r = qmp_client_execute(f->c, "query-balloon", NULL, now_ms(), 1000,
				       on_reply, f)) == 0)
		n++;
	assert_int_equal(r, -EBUSY);
	assert_true(n >= 4);
}

static void test_client_free_inside_callback(void **state)
{
	struct fixture *f = *state;
	char line[256];
	long id;

	handshake(f);
	assert_int_equal(qmp_client_execute(f->c, "query-balloon", NULL, now_ms(), 1000,
					    on_reply, f), 0);
	assert_int_equal(qmp_client_execute(f->c, "query-balloon", NULL, now_ms(), 1000,
					    on_reply, f), 0);
	spin(f, 2);
	id = srv_recv_cmd(f, NULL, 0);
	srv_recv_cmd(f, NULL, 0);
	f->free_in_reply = true;
	/* two replies in one read: the client is freed after the first */
	snprintf(line, sizeof(line), "{\"return\": {}, \"id\": %ld}\n{\"return\": {}, \"id\": %ld}\n",
		 id, id + 1);
	srv_send(f, line);
	spin(f, 3);
	assert_int_equal(f->replies, 1);
	assert_null(f->c);
}

/* ------------------------------------------------------- blocking client */

static void scripted_server(int lfd)
{
	char buf[4096];
	int fd = accept(lfd, NULL, NULL);
	FILE *in;

	if (fd < 0)
		_exit(1);
	in = fdopen(dup(fd), "r");
	dprintf(fd, "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n");
	while (fgets(buf, sizeof(buf), in)) {
		json_t *o = json_loads(buf, 0, NULL);
		const char *cmd = json_string_value(json_object_get(o, "execute"));
		json_int_t id = json_integer_value(json_object_get(o, "id"));

		if (strcmp(cmd, "qmp_capabilities") == 0) {
			dprintf(fd, "{\"return\": {}, \"id\": %lld}\r\n", (long long)id);
		} else if (strcmp(cmd, "query-balloon") == 0) {
			dprintf(fd, "{\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 1}}\r\n");
			dprintf(fd, "{\"return\": {\"actual\": 268435456}, \"id\": %lld}\r\n",
				(long long)id);
		} else if (strcmp(cmd, "balloon") == 0) {
			dprintf(fd, "{\"error\": {\"class\": \"GenericError\", "
				"\"desc\": \"Parameter 'target' expects a size\"}, \"id\": %lld}\r\n",
				(long long)id);
		} else {
			/* never answer: the client must time out */
		}
		json_decref(o);
	}
	_exit(0);
}

static void test_sync_client(void **state)
{
	struct fixture *f = *state;
	struct qmp_sync *q;
	uint64_t actual = 0;
	char *err = NULL;
	pid_t pid;
	int st;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		scripted_server(f->listen_fd);
	assert_int_equal(qmp_sync_open(f->path, 2000, &q), 0);
	assert_int_equal(qmp_sync_query_balloon(q, &actual), 0);
	assert_int_equal(actual, 268435456);
	assert_int_equal(qmp_sync_execute(q, "balloon", NULL, 2000, NULL, &err), -EREMOTEIO);
	assert_non_null(strstr(err, "GenericError"));
	free(err);
	assert_int_equal(qmp_sync_execute(q, "stop", NULL, 100, NULL, NULL), -ETIMEDOUT);
	qmp_sync_close(q);
	waitpid(pid, &st, 0);
	assert_true(WIFEXITED(st));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_framer_chunks),
		cmocka_unit_test(test_framer_limit),
		cmocka_unit_test(test_framer_callback_error),
		cmocka_unit_test(test_parse_kinds),
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_json_u64),
		cmocka_unit_test(test_command_encode),
		cmocka_unit_test_setup_teardown(test_client_handshake_and_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_error_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_timeout_then_late_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_close_mid_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_oversized_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_garbage_before_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_handshake_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_not_ready_and_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_free_inside_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_client, setup, teardown),
	};

	return cmocka_run_group_tests_name("qmp", tests, NULL, NULL);
}
