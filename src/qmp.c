/* SPDX-License-Identifier: MIT */
#include "qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "loop.h"
#include "util.h"

/* ---------------------------------------------------------------- framing */

void qmp_framer_init(struct qmp_framer *f, size_t max_line)
{
	memset(f, 0, sizeof(*f));
	f->max = max_line ? max_line : QMP_DEFAULT_MAX_LINE;
}

void qmp_framer_free(struct qmp_framer *f)
{
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

static int framer_reserve(struct qmp_framer *f, size_t need)
{
	size_t cap;
	char *p;

	if (need <= f->cap)
		return 0;
	cap = f->cap ? f->cap : 4096;
	while (cap < need)
		cap *= 2;
	p = realloc(f->buf, cap);
	if (!p)
		return -ENOMEM;
	f->buf = p;
	f->cap = cap;
	return 0;
}

static int emit_line(char *line, size_t len, qmp_line_fn fn, void *fn_data)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return 0;
	line[len] = '\0';
	return fn(line, len, fn_data);
}

int qmp_framer_feed(struct qmp_framer *f, const char *data, size_t n,
		    qmp_line_fn fn, void *fn_data)
{
	while (n > 0) {
		const char *nl = memchr(data, '\n', n);
		size_t chunk = nl ? (size_t)(nl - data) : n;
		int r;

		/* +1 for "\r" of "\r\n" not yet stripped. */
		if (f->len + chunk > f->max + 1)
			return -EMSGSIZE;
		r = framer_reserve(f, f->len + chunk + 1);
		if (r < 0)
			return r;
		memcpy(f->buf + f->len, data, chunk);
		f->len += chunk;
		if (!nl)
			return 0;
		data += chunk + 1;
		n -= chunk + 1;
		r = emit_line(f->buf, f->len, fn, fn_data);
		f->len = 0;
		if (r < 0)
			return r;
	}
	return 0;
}

/* --------------------------------------------------------------- messages */

int qmp_json_u64(const json_t *v, uint64_t *ret)
{
	double d;

	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < 0)
			return -EINVAL;
		*ret = (uint64_t)i;
		return 0;
	}
	if (!json_is_real(v))
		return -EINVAL;
	d = json_real_value(v);
	if (d != d || d < 0)
		return -EINVAL;
	if (d >= 9223372036854775808.0)	/* 2^63: u64 -1 and friends */
		return -ENODATA;
	if (d > 9007199254740992.0)	/* 2^53 */
		return -ERANGE;
	if (d != (double)(uint64_t)d)
		return -EINVAL;
	*ret = (uint64_t)d;
	return 0;
}

void qmp_msg_clear(struct qmp_msg *m)
{
	json_decref(m->root);
	memset(m, 0, sizeof(*m));
}

int qmp_msg_parse(const char *line, size_t len, struct qmp_msg *ret)
{
	json_t *root, *v, *id;
	struct qmp_msg m;

	memset(&m, 0, sizeof(m));
	root = json_loadb(line, len, JSON_DECODE_INT_AS_REAL | JSON_REJECT_DUPLICATES,
			  NULL);
	if (!root)
		return -EBADMSG;
	if (!json_is_object(root)) {
		json_decref(root);
		return -EPROTO;
	}
	m.root = root;

	id = json_object_get(root, "id");
	if (id && qmp_json_u64(id, &m.id) == 0)
		m.has_id = true;

	if ((v = json_object_get(root, "return"))) {
		m.kind = QMP_MSG_RETURN;
		m.ret = v;
	} else if ((v = json_object_get(root, "error"))) {
		json_t *cls = json_object_get(v, "class");
		json_t *desc = json_object_get(v, "desc");

		if (!json_is_object(v) || !json_is_string(cls))
			goto proto;
		m.kind = QMP_MSG_ERROR;
		m.err_class = json_string_value(cls);
		m.err_desc = json_is_string(desc) ? json_string_value(desc) : "";
	} else if ((v = json_object_get(root, "event"))) {
		if (!json_is_string(v))
			goto proto;
		m.kind = QMP_MSG_EVENT;
		m.event = json_string_value(v);
		m.data = json_object_get(root, "data");
		if (m.data && !json_is_object(m.data))
			goto proto;
	} else if ((v = json_object_get(root, "QMP"))) {
		if (!json_is_object(v))
			goto proto;
		m.kind = QMP_MSG_GREETING;
	} else {
		goto proto;
	}
	*ret = m;
	return 0;
proto:
	json_decref(root);
	return -EPROTO;
}

char *qmp_command_encode(const char *cmd, const json_t *args, uint64_t id)
{
	json_t *o = json_object();
	char *s, *line = NULL;
	size_t n;

	if (!o)
		return NULL;
	if (json_object_set_new(o, "execute", json_string(cmd)) < 0 ||
	    (args && json_object_set(o, "arguments", (json_t *)(uintptr_t)args) < 0) ||
	    json_object_set_new(o, "id", json_integer((json_int_t)id)) < 0) {
		json_decref(o);
		return NULL;
	}
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		return NULL;
	n = strlen(s);
	line = malloc(n + 2);
	if (line) {
		memcpy(line, s, n);
		line[n] = '\n';
		line[n + 1] = '\0';
	}
	free(s);
	return line;
}

int qmp_unix_connect(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
	    errno != EINPROGRESS && errno != EAGAIN) {
		int r = -errno;

		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

/* ------------------------------------------------------------ async client */

#define QMP_MAX_INFLIGHT 16
#define QMP_CAPS_ID 0

enum qmp_state { QMP_DISCONNECTED, QMP_GREETING, QMP_CAPS, QMP_READY };

struct qmp_pending {
	uint64_t id;
	uint64_t deadline_ms;
	qmp_reply_fn fn;
	void *data;
};

struct qmp_client {
	struct loop *loop;
	char *path;
	const struct qmp_client_ops *ops;
	void *data;

	enum qmp_state state;
	struct loop_watch *watch;
	int fd;
	struct qmp_framer framer;
	size_t max_line;
	uint64_t handshake_deadline_ms;

	char *out;		/* unsent bytes */
	size_t out_len;

	struct qmp_pending pending[QMP_MAX_INFLIGHT];
	size_t npending;
	uint64_t next_id;

	struct qmp_client_counters counters;
	int busy;		/* callbacks running: defer free */
	bool free_requested;
};

int qmp_client_new(struct loop *l, const char *path, size_t max_line,
		   const struct qmp_client_ops *ops, void *data,
		   struct qmp_client **ret)
{
	struct qmp_client *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->path = strdup(path);
	if (!c->path) {
		free(c);
		return -ENOMEM;
	}
	c->loop = l;
	c->ops = ops;
	c->data = data;
	c->fd = -1;
	c->max_line = max_line ? max_line : QMP_DEFAULT_MAX_LINE;
	c->next_id = 1;
	*ret = c;
	return 0;
}

static void fail_pending(struct qmp_client *c, int err)
{
	/* Take the list first: callbacks may queue new commands (they fail). */
	struct qmp_pending list[QMP_MAX_INFLIGHT];
	size_t n = c->npending;

	memcpy(list, c->pending, n * sizeof(list[0]));
	c->npending = 0;
	for (size_t i = 0; i < n; i++) {
		struct qmp_reply r = { .err = err };

		list[i].fn(c, &r, list[i].data);
	}
}

static void teardown(struct qmp_client *c)
{
	loop_remove(c->watch);
	c->watch = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	qmp_framer_free(&c->framer);
	free(c->out);
	c->out = NULL;
	c->out_len = 0;
	c->state = QMP_DISCONNECTED;
}

static void client_close(struct qmp_client *c, int err, bool notify)
{
	if (c->state == QMP_DISCONNECTED)
		return;
	c->counters.disconnects++;
	teardown(c);
	c->busy++;
	fail_pending(c, err);
	if (notify && c->ops->closed && !c->free_requested)
		c->ops->closed(c, err, c->data);
	c->busy--;
}

static void client_destroy(struct qmp_client *c)
{
	teardown(c);
	free(c->path);
	free(c);
}

void qmp_client_free(struct qmp_client *c)
{
	if (!c)
		return;
	if (c->busy) {
		c->free_requested = true;
		return;
	}
	/* Pending callbacks are dropped silently: the owner is going away. */
	c->npending = 0;
	client_destroy(c);
}

/* Leave a callback section; performs a deferred free. Returns true if freed. */
static bool client_unbusy(struct qmp_client *c)
{
	c->busy--;
	if (!c->busy && c->free_requested) {
		c->npending = 0;
		client_destroy(c);
		return true;
	}
	return false;
}

static int flush_out(struct qmp_client *c)
{
	while (c->out_len > 0) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	return loop_watch_set_events(c->watch,
				     EPOLLIN | (c->out_len ? EPOLLOUT : 0));
}

static int queue_out(struct qmp_client *c, const char *s)
{
	size_t n = strlen(s);
	char *p = realloc(c->out, c->out_len + n);

	if (!p)
		return -ENOMEM;
	memcpy(p + c->out_len, s, n);
	c->out = p;
	c->out_len += n;
	return flush_out(c);
}

static int send_command(struct qmp_client *c, const char *cmd, const json_t *args,
			uint64_t id)
{
	char *line = qmp_command_encode(cmd, args, id);
	int r;

	if (!line)
		return -ENOMEM;
	r = queue_out(c, line);
	free(line);
	if (r == 0)
		c->counters.commands++;
	return r;
}

static int take_pending(struct qmp_client *c, uint64_t id,
			struct qmp_pending *ret)
{
	for (size_t i = 0; i < c->npending; i++) {
		if (c->pending[i].id == id) {
			*ret = c->pending[i];
			memmove(&c->pending[i], &c->pending[i + 1],
				(c->npending - i - 1) * sizeof(c->pending[0]));
			c->npending--;
			return 0;
		}
	}
	return -ENOENT;
}

static int handle_reply(struct qmp_client *c, const struct qmp_msg *m)
{
	struct qmp_pending p;
	struct qmp_reply r = { 0 };

	if (c->state == QMP_CAPS) {
		if (m->kind != QMP_MSG_RETURN)
			return -EPROTO;
		c->state = QMP_READY;
		if (c->ops->ready)
			c->ops->ready(c, c->data);
		return 0;
	}
	if (!m->has_id || take_pending(c, m->id, &p) < 0) {
		/* A late reply to a timed-out command, or noise. */
		c->counters.bad_messages++;
		return 0;
	}
	c->counters.replies++;
	if (m->kind == QMP_MSG_ERROR) {
		c->counters.errors++;
		r.err = -EREMOTEIO;
		r.err_class = m->err_class;
		r.err_desc = m->err_desc;
	} else {
		r.ret = m->ret;
	}
	p.fn(c, &r, p.data);
	return 0;
}

static int on_line(const char *line, size_t len, void *data)
{
	struct qmp_client *c = data;
	struct qmp_msg m;
	int r;

	r = qmp_msg_parse(line, len, &m);
	if (r < 0) {
		c->counters.bad_messages++;
		/* Before the handshake is done nothing but QMP is acceptable. */
		return c->state == QMP_READY ? 0 : r;
	}
	switch (m.kind) {
	case QMP_MSG_GREETING:
		if (c->state != QMP_GREETING) {
			c->counters.bad_messages++;
			r = 0;
			break;
		}
		c->state = QMP_CAPS;
		r = send_command(c, "qmp_capabilities", NULL, QMP_CAPS_ID);
		break;
	case QMP_MSG_RETURN:
	case QMP_MSG_ERROR:
		r = c->state == QMP_GREETING ? -EPROTO : handle_reply(c, &m);
		break;
	case QMP_MSG_EVENT:
		c->counters.events++;
		if (c->state == QMP_READY && c->ops->event)
			c->ops->event(c, m.event, m.data, c->data);
		r = 0;
		break;
	}
	qmp_msg_clear(&m);
	/* A callback may have freed or closed us: stop parsing this buffer. */
	if (r == 0 && (c->free_requested || c->state == QMP_DISCONNECTED))
		return -ECANCELED;
	return r;
}

static void on_io(struct loop_watch *w, uint32_t events, void *data)
{
	struct qmp_client *c = data;
	char buf[16384];
	int r = 0;

	c->busy++;
	if (events & EPOLLOUT) {
		r = flush_out(c);
		if (r < 0)
			goto fail;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		/* Bounded reads per wakeup so one chatty peer cannot starve others. */
		for (int i = 0; i < 8; i++) {
			ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN)
					break;
				r = -errno;
				goto fail;
			}
			if (n == 0) {
				r = -ECONNRESET;
				goto fail;
			}
			r = qmp_framer_feed(&c->framer, buf, (size_t)n, on_line, c);
			if (r == -ECANCELED)
				break;	/* freed or closed by a callback */
			if (r < 0)
				goto fail;
			/* A short read drained the socket: spare the EAGAIN recv(). */
			if ((size_t)n < sizeof(buf))
				break;
		}
	}
	client_unbusy(c);
	return;
fail:
	client_close(c, r, true);
	client_unbusy(c);
}

int qmp_client_connect(struct qmp_client *c, uint64_t now_ms,
		       uint64_t handshake_timeout_ms)
{
	int fd = -1, r;

	if (c->state != QMP_DISCONNECTED)
		return -EISCONN;
	r = qmp_unix_connect(c->path, &fd);
	if (r < 0)
		return r;
	r = loop_add_io(c->loop, fd, EPOLLIN, 0, on_io, c, &c->watch);
	if (r < 0) {
		close(fd);
		return r;
	}
	c->fd = fd;
	qmp_framer_init(&c->framer, c->max_line);
	c->state = QMP_GREETING;
	c->handshake_deadline_ms = now_ms + handshake_timeout_ms;
	return 0;
}

void qmp_client_disconnect(struct qmp_client *c, int err)
{
	c->busy++;
	client_close(c, err ? err : -ECANCELED, false);
	client_unbusy(c);
}

bool qmp_client_is_ready(const struct qmp_client *c)
{
	return c->state == QMP_READY;
}

int qmp_client_peer_pid(const struct qmp_client *c)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (c->state == QMP_DISCONNECTED)
		return -ENOTCONN;
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	return cred.pid > 0 ? (int)cred.pid : -ESRCH;
}

bool qmp_client_is_connected(const struct qmp_client *c)
{
	return c->state != QMP_DISCONNECTED;
}

size_t qmp_client_pending(const struct qmp_client *c)
{
	return c->npending;
}

int qmp_client_execute(struct qmp_client *c, const char *cmd, const json_t *args,
		       uint64_t now_ms, uint64_t timeout_ms, qmp_reply_fn fn,
		       void *data)
{
	struct qmp_pending *p;
	int r;

	if (c->state != QMP_READY)
		return -ENOTCONN;
	if (c->npending >= QMP_MAX_INFLIGHT)
		return -EBUSY;
	p = &c->pending[c->npending];
	p->id = c->next_id++;
	p->deadline_ms = now_ms + timeout_ms;
	p->fn = fn;
	p->data = data;
	r = send_command(c, cmd, args, p->id);
	if (r < 0)
		return r;	/* connection state is checked by the caller's tick */
	c->npending++;
	return 0;
}

void qmp_client_tick(struct qmp_client *c, uint64_t now_ms)
{
	if (c->state == QMP_DISCONNECTED)
		return;
	c->busy++;
	if (c->state != QMP_READY && now_ms >= c->handshake_deadline_ms) {
		client_close(c, -ETIMEDOUT, true);
		client_unbusy(c);
		return;
	}
	for (size_t i = 0; i < c->npending && !c->free_requested;) {
		struct qmp_pending p = c->pending[i];
		struct qmp_reply r = { .err = -ETIMEDOUT };

		if (now_ms < p.deadline_ms) {
			i++;
			continue;
		}
		memmove(&c->pending[i], &c->pending[i + 1],
			(c->npending - i - 1) * sizeof(c->pending[0]));
		c->npending--;
		c->counters.timeouts++;
		p.fn(c, &r, p.data);
		if (c->state == QMP_DISCONNECTED)
			break;
	}
	client_unbusy(c);
}

const struct qmp_client_counters *qmp_client_counters(const struct qmp_client *c)
{
	return &c->counters;
}

const char *qmp_client_path(const struct qmp_client *c)
{
	return c->path;
}
