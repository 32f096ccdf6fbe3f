/* SPDX-License-Identifier: MIT */
/*
 * qmp_sync.c - a blocking QMP client for tools and tests (autoballoonctl,
 * the bench), not for the daemon's loop.
 */
#include "qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

struct qmp_sync {
	int fd;
	struct qmp_framer framer;
	uint64_t next_id;
	/* Result slot filled by sync_on_line. */
	struct qmp_msg msg;
	bool have_msg;
};

static int sync_on_line(const char *line, size_t len, void *data)
{
	struct qmp_sync *q = data;
	struct qmp_msg m;
	int r;

	r = qmp_msg_parse(line, len, &m);
	if (r < 0)
		return r;
	if (m.kind == QMP_MSG_EVENT || q->have_msg) {
		qmp_msg_clear(&m);
		return 0;
	}
	q->msg = m;
	q->have_msg = true;
	return 0;
}

/* Read until a non-event message arrives; it is left in q->msg. */
static int sync_read_msg(struct qmp_sync *q, uint64_t deadline_ms)
{
	char buf[8192];

	while (!q->have_msg) {
		uint64_t now = now_ms();
		struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
		ssize_t n;
		int r;

		if (now >= deadline_ms)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)(deadline_ms - now));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		n = recv(q->fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		r = qmp_framer_feed(&q->framer, buf, (size_t)n, sync_on_line, q);
		if (r < 0)
			return r;
	}
	return 0;
}

static int sync_write(struct qmp_sync *q, const char *s, uint64_t deadline_ms)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		struct pollfd pfd = { .fd = q->fd, .events = POLLOUT };
		ssize_t n = send(q->fd, s + off, len - off, MSG_NOSIGNAL);

		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if (now_ms() >= deadline_ms)
			return -ETIMEDOUT;
		poll(&pfd, 1, (int)(deadline_ms - now_ms()));
	}
	return 0;
}

void qmp_sync_close(struct qmp_sync *q)
{
	if (!q)
		return;
	if (q->have_msg)
		qmp_msg_clear(&q->msg);
	qmp_framer_free(&q->framer);
	if (q->fd >= 0)
		close(q->fd);
	free(q);
}

int qmp_sync_execute(struct qmp_sync *q, const char *cmd, const json_t *args,
		     int timeout_ms, json_t **ret_return, char **ret_err)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	uint64_t id = q->next_id++;
	char *line;
	int r;

	line = qmp_command_encode(cmd, args, id);
	if (!line)
		return -ENOMEM;
	r = sync_write(q, line, deadline);
	free(line);
	if (r < 0)
		return r;
	for (;;) {
		r = sync_read_msg(q, deadline);
		if (r < 0)
			return r;
		q->have_msg = false;
		if (q->msg.has_id && q->msg.id == id)
			break;
		qmp_msg_clear(&q->msg);	/* stale reply */
	}
	if (q->msg.kind == QMP_MSG_ERROR) {
		if (ret_err && asprintf(ret_err, "%s: %s", q->msg.err_class,
					q->msg.err_desc) < 0)
			*ret_err = NULL;
		r = -EREMOTEIO;
	} else if (q->msg.kind == QMP_MSG_RETURN) {
		if (ret_return)
			*ret_return = json_incref(q->msg.ret);
		r = 0;
	} else {
		r = -EPROTO;
	}
	qmp_msg_clear(&q->msg);
	return r;
}

int qmp_sync_open(const char *path, int timeout_ms, struct qmp_sync **ret)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	struct qmp_sync *q = calloc(1, sizeof(*q));
	int r;

	if (!q)
		return -ENOMEM;
	q->next_id = 1;
	qmp_framer_init(&q->framer, QMP_DEFAULT_MAX_LINE);
	r = qmp_unix_connect(path, &q->fd);
	if (r < 0) {
		q->fd = -1;
		goto fail;
	}
	r = sync_read_msg(q, deadline);
	if (r < 0)
		goto fail;
	q->have_msg = false;
	if (q->msg.kind != QMP_MSG_GREETING) {
		r = -EPROTO;
		goto fail;
	}
	qmp_msg_clear(&q->msg);
	r = qmp_sync_execute(q, "qmp_capabilities", NULL,
			     (int)(deadline > now_ms() ? deadline - now_ms() : 1),
			     NULL, NULL);
	if (r < 0)
		goto fail;
	*ret = q;
	return 0;
fail:
	qmp_sync_close(q);
	return r;
}

int qmp_sync_query_balloon(struct qmp_sync *q, uint64_t *ret_actual_bytes)
{
	json_t *ret = NULL;
	int r;

	r = qmp_sync_execute(q, "query-balloon", NULL, 5000, &ret, NULL);
	if (r < 0)
		return r;
	r = qmp_json_u64(json_object_get(ret, "actual"), ret_actual_bytes);
	json_decref(ret);
	return r < 0 ? -EPROTO : 0;
}

int qmp_sync_balloon(struct qmp_sync *q, uint64_t target_bytes)
{
	json_t *args = json_pack("{s:I}", "value", (json_int_t)target_bytes);
	int r;

	if (!args)
		return -ENOMEM;
	r = qmp_sync_execute(q, "balloon", args, 5000, NULL, NULL);
	json_decref(args);
	return r;
}
