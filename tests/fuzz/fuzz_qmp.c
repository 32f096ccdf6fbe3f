/* SPDX-License-Identifier: MIT */
/*
 * fuzz_qmp - what a QMP peer sends, through the daemon's QMP code:
 *   1. the framer + message parser + number decoding, fed in chunks whose
 *      sizes come from the input (lines split anywhere);
 *   2. the asynchronous client on the real event loop over a real UNIX
 *      socket: greeting, capabilities, three commands in flight, then the
 *      input as the server's bytes (replies to ids 1-3 reach the reply
 *      path, events the event path), until the client closes or goes idle.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "loop.h"
#include "qmp.h"
#include "stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct loop *L;
static int listen_fd = -1;
static char sock_path[108];

/* ------------------------------------------------------------ pure path */

static int on_line(const char *line, size_t len, void *data)
{
	struct qmp_msg m;
	uint64_t u;

	if (qmp_msg_parse(line, len, &m) < 0)
		return 0;
	switch (m.kind) {
	case QMP_MSG_RETURN: {
		struct guest_stats s;
		unsigned bad;

		(void)qmp_json_u64(json_object_get(m.ret, "actual"), &u);
		(void)qmp_json_u64(json_object_get(m.ret, "base-memory"), &u);
		if (guest_stats_decode(m.ret, &s, &bad) == 0)
			guest_stats_sanitize(&s, 1ULL << 30);
		break;
	}
	case QMP_MSG_EVENT:
		(void)qmp_json_u64(json_object_get(m.data, "actual"), &u);
		break;
	case QMP_MSG_GREETING:
	case QMP_MSG_ERROR:
		break;
	}
	qmp_msg_clear(&m);
	return 0;
}

static void pure(const uint8_t *data, size_t size)
{
	struct qmp_framer f;
	size_t off = 0, step = size ? (data[0] % 61) + 1 : 1;

	qmp_framer_init(&f, 4096);
	while (off < size) {
		size_t n = size - off < step ? size - off : step;

		if (qmp_framer_feed(&f, (const char *)data + off, n, on_line, NULL) < 0)
			break;
		off += n;
	}
	qmp_framer_free(&f);
}

/* ------------------------------------------------------------ client */

struct run {
	bool ready, closed;
	int replies;
};

static void on_reply(struct qmp_client *c, const struct qmp_reply *r, void *data)
{
	struct run *run = data;
	uint64_t u;

	run->replies++;
	if (r->err == 0)
		(void)qmp_json_u64(json_object_get(r->ret, "actual"), &u);
}

static void on_ready(struct qmp_client *c, void *data)
{
	struct run *run = data;

	run->ready = true;
	for (int i = 0; i < 3; i++)
		qmp_client_execute(c, "query-balloon", NULL, 0, 1000000, on_reply, run);
}

static void on_event(struct qmp_client *c, const char *name, json_t *ev, void *data)
{
	uint64_t u;

	(void)qmp_json_u64(json_object_get(ev, "actual"), &u);
}

static void on_closed(struct qmp_client *c, int err, void *data)
{
	struct run *run = data;

	run->closed = true;
}

static const struct qmp_client_ops ops = {
	.ready = on_ready, .event = on_event, .closed = on_closed,
};

static void client(const uint8_t *data, size_t size)
{
	static const char greeting[] = "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n";
	struct qmp_client *c;
	struct run run = { 0 };
	int fd = -1, idle = 0;
	char buf[4096];
	size_t off = 0;

	if (qmp_client_new(L, sock_path, 4096, &ops, &run, &c) < 0)
		return;
	if (qmp_client_connect(c, 0, 1000000) < 0)
		goto out;
	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		goto out;
	if (send(fd, greeting, sizeof(greeting) - 1, MSG_NOSIGNAL) < 0)
		goto out;
	/* capabilities */
	for (int i = 0; i < 20 && !run.ready && !run.closed; i++) {
		loop_iterate(L, 10);
		if (recv(fd, buf, sizeof(buf), 0) > 0)
			(void)!send(fd, "{\"return\": {}, \"id\": 0}\n", 24, MSG_NOSIGNAL);
	}
	while (!run.closed && idle < 3) {
		if (off < size) {
			ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);

			if (n > 0)
				off += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				break;
			if (off == size)
				shutdown(fd, SHUT_WR);
		}
		(void)!recv(fd, buf, sizeof(buf), 0);	/* drain the commands */
		if (loop_iterate(L, off < size ? 1 : 0) == 0)
			idle++;
		else
			idle = 0;
	}
out:
	if (fd >= 0)
		close(fd);
	qmp_client_free(c);
	loop_iterate(L, 0);	/* frees watches removed meanwhile */
}

static void cleanup(void)
{
	unlink(sock_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (loop_new(&L) < 0)
		abort();
	snprintf(sock_path, sizeof(sock_path), "/tmp/ab-fuzz-qmp-%d.sock", (int)getpid());
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	unlink(sock_path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(listen_fd, 4) < 0)
		abort();
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pure(data, size);
	client(data, size);
	return 0;
}
