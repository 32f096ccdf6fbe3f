/* SPDX-License-Identifier: MIT */
#include "control.h"

#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "manager.h"
#include "qmp.h"
#include "util.h"

/*
 * Requests are handled one line at a time while the peer keeps up with the
 * replies: with more than CONTROL_OUT_HIGHWATER unsent, the daemon stops
 * reading from it (the peer's writes block), so a client that asks and never
 * reads costs neither memory nor time.
 */
#define CONTROL_OUT_HIGHWATER (256 * 1024)
/* Requests handled per wakeup: a client pipelining thousands waits its turn. */
#define CONTROL_REQUESTS_PER_WAKEUP 16

struct client {
	struct control *ctl;
	int fd;
	struct loop_watch *watch;
	char *in;		/* received, not handled yet */
	size_t in_len;
	char *out;
	size_t out_len, out_off, out_cap;
	bool eof;		/* the peer is done sending */
	bool closing;		/* close once out is flushed */
	struct client *next;
};

struct control {
	struct loop *loop;
	const struct logger *log;
	struct manager *mgr;
	char path[108];
	dev_t dev;			/* the socket file we bound: removed at exit */
	ino_t ino;			/* only while it is still ours */
	int fd;
	struct loop_watch *watch;
	struct client *clients;
	unsigned nclients;
};

int control_peer_allowed(uid_t peer, uid_t self)
{
	return peer == 0 || peer == self;
}

static char *reply_line(json_t *reply)
{
	char *s = json_dumps(reply, JSON_COMPACT), *line;
	size_t n;

	json_decref(reply);
	if (!s)
		return NULL;
	n = strlen(s);
	line = realloc(s, n + 2);
	if (!line) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	return line;
}

static char *reply_error(const char *msg)
{
	return reply_line(json_pack("{s:b,s:s}", "ok", 0, "error", msg));
}

/* A "set" value may be a string ("512M") or a number (bytes / weight). */
static int value_string(json_t *v, char *buf, size_t len, const char **ret)
{
	uint64_t u;

	*ret = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		*ret = json_string_value(v);
		return strlen(*ret) < 64 ? 0 : -EINVAL;
	}
	if (qmp_json_u64(v, &u) == 0) {
		snprintf(buf, len, "%llu", (unsigned long long)u);
		*ret = buf;
		return 0;
	}
	return -EINVAL;
}

static char *handle_set(struct manager *m, json_t *req)
{
	static const char *const allowed[] = { "cmd", "vm", "min", "max", "weight" };
	char bmin[32], bmax[32], bw[32], err[256];
	const char *vm = json_string_value(json_object_get(req, "vm"));
	const char *min, *max, *weight;
	const char *key;
	json_t *val;

	json_object_foreach(req, key, val) {
		bool ok = false;

		for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
			ok |= strcmp(key, allowed[i]) == 0;
		if (!ok) {
			snprintf(err, sizeof(err), "set: unknown field \"%.64s\" "
				 "(expected vm, min, max, weight)", key);
			return reply_error(err);
		}
	}
	if (!vm)
		return reply_error("set: \"vm\" (a string) is required");
	if (value_string(json_object_get(req, "min"), bmin, sizeof(bmin), &min) < 0 ||
	    value_string(json_object_get(req, "max"), bmax, sizeof(bmax), &max) < 0 ||
	    value_string(json_object_get(req, "weight"), bw, sizeof(bw), &weight) < 0)
		return reply_error("set: min, max and weight must be sizes or numbers");
	if (!min && !max && !weight)
		return reply_error("set: nothing to set (min=, max=, weight=)");
	if (manager_set_vm(m, vm, min, max, weight, err, sizeof(err)) < 0)
		return reply_error(err);
	return reply_line(json_pack("{s:b}", "ok", 1));
}

char *control_handle(struct manager *m, const char *line, size_t len)
{
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	const char *cmd;
	char *out;

	if (!req)
		return reply_error("request is not valid JSON");
	if (!json_is_object(req)) {
		json_decref(req);
		return reply_error("request must be a JSON object");
	}
	cmd = json_string_value(json_object_get(req, "cmd"));
	if (!cmd) {
		out = reply_error("request needs \"cmd\" (a string)");
	} else if (strcmp(cmd, "status") == 0) {
		out = reply_line(json_pack("{s:b,s:o}", "ok", 1, "status",
					   manager_dump(m, true)));
	} else if (strcmp(cmd, "dump") == 0) {
		out = reply_line(json_pack("{s:b,s:o}", "ok", 1, "dump",
					   manager_dump(m, false)));
	} else if (strcmp(cmd, "set") == 0) {
		out = handle_set(m, req);
	} else if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0) {
		manager_pause(m, strcmp(cmd, "pause") == 0);
		out = reply_line(json_pack("{s:b,s:b}", "ok", 1, "paused",
					   manager_paused(m)));
	} else {
		out = reply_error("unknown cmd (expected status, dump, set, pause, resume)");
	}
	json_decref(req);
	return out;
}

static void client_free(struct client *cl)
{
	struct control *ctl = cl->ctl;

	for (struct client **pp = &ctl->clients; *pp; pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	}
	ctl->nclients--;
	loop_remove(cl->watch);
	close(cl->fd);
	free(cl->in);
	free(cl->out);
	free(cl);
}

static size_t client_pending(const struct client *cl)
{
	return cl->out_len - cl->out_off;
}

static int client_queue(struct client *cl, char *s)
{
	size_t n;

	if (!s)
		return -ENOMEM;
	n = strlen(s);
	if (client_pending(cl) + n > CONTROL_MAX_OUTPUT) {
		free(s);
		return -ENOBUFS;
	}
	if (cl->out_off) {
		memmove(cl->out, cl->out + cl->out_off, client_pending(cl));
		cl->out_len -= cl->out_off;
		cl->out_off = 0;
	}
	if (cl->out_len + n > cl->out_cap) {
		size_t cap = MAX(cl->out_cap * 2, cl->out_len + n);
		char *p = realloc(cl->out, cap);

		if (!p) {
			free(s);
			return -ENOMEM;
		}
		cl->out = p;
		cl->out_cap = cap;
	}
	memcpy(cl->out + cl->out_len, s, n);
	cl->out_len += n;
	free(s);
	return 0;
}

/* Returns <0 when the client is to be dropped. */
static int client_flush(struct client *cl)
{
	bool reading, more;

	while (cl->out_off < cl->out_len) {
		ssize_t n = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
				 MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		cl->out_off += (size_t)n;
	}
	if (cl->out_off == cl->out_len) {
		cl->out_off = cl->out_len = 0;
		if (cl->closing)
			return -ECONNRESET;
	}
	reading = !cl->closing && !cl->eof && client_pending(cl) < CONTROL_OUT_HIGHWATER &&
		  cl->in_len <= CONTROL_MAX_REQUEST;
	/* Requests already received and not handled: come back next pass (the
	 * socket is writable, so EPOLLOUT fires at once). */
	more = !cl->closing && client_pending(cl) < CONTROL_OUT_HIGHWATER &&
	       memchr(cl->in, '\n', cl->in_len);
	return loop_watch_set_events(cl->watch, (reading ? EPOLLIN : 0) |
				     (client_pending(cl) || more ? EPOLLOUT : 0));
}

/* Handle the complete requests received, while the peer reads the replies. */
static int client_handle_input(struct client *cl)
{
	for (int budget = CONTROL_REQUESTS_PER_WAKEUP;
	     budget > 0 && !cl->closing && client_pending(cl) < CONTROL_OUT_HIGHWATER;
	     budget--) {
		char *nl = memchr(cl->in, '\n', cl->in_len);
		size_t len = nl ? (size_t)(nl - cl->in) : cl->in_len;
		int r = 0;

		if (len > CONTROL_MAX_REQUEST) {
			log_warn(cl->ctl->log, "control: request over %d bytes, closing",
				 CONTROL_MAX_REQUEST);
			cl->closing = true;
			return client_queue(cl, reply_error("request too long"));
		}
		if (!nl)
			return 0;
		if (len > 0 && cl->in[len - 1] == '\r')
			len--;
		if (len > 0)
			r = client_queue(cl, control_handle(cl->ctl->mgr, cl->in, len));
		cl->in_len -= (size_t)(nl + 1 - cl->in);
		memmove(cl->in, nl + 1, cl->in_len);
		if (r < 0)
			return r;
	}
	return 0;
}

static void on_client(struct loop_watch *w, uint32_t events, void *data)
{
	struct client *cl = data;
	int r;

	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !cl->closing && !cl->eof &&
	    cl->in_len <= CONTROL_MAX_REQUEST) {
		ssize_t n = recv(cl->fd, cl->in + cl->in_len,
				 CONTROL_MAX_REQUEST + 1 - cl->in_len, 0);

		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			client_free(cl);
			return;
		}
		if (n > 0)
			cl->in_len += (size_t)n;
		if (n == 0)
			cl->eof = true;	/* answer what came, then close */
	}
	r = client_handle_input(cl);
	if (cl->eof && !memchr(cl->in, '\n', cl->in_len))
		cl->closing = true;
	if (r < 0) {
		log_warn(cl->ctl->log, "control: dropping client: %s", strerror(-r));
		client_free(cl);
		return;
	}
	if (client_flush(cl) < 0)
		client_free(cl);
}

static void on_accept(struct loop_watch *w, uint32_t events, void *data)
{
	struct control *ctl = data;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct client *cl;
	int fd;

	fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    !control_peer_allowed(cred.uid, geteuid())) {
		static const char msg[] = "{\"ok\":false,\"error\":\"permission denied\"}\n";

		log_warn(ctl->log, "control: refused peer uid %d pid %d",
			 (int)cred.uid, (int)cred.pid);
		if (send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_debug(ctl->log, "control: cannot tell the peer");
		close(fd);
		return;
	}
	if (ctl->nclients >= CONTROL_MAX_CLIENTS) {
		static const char msg[] = "{\"ok\":false,\"error\":\"too many clients\"}\n";

		if (send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_debug(ctl->log, "control: cannot tell the peer");
		close(fd);
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		close(fd);
		return;
	}
	cl->ctl = ctl;
	cl->fd = fd;
	cl->in = malloc(CONTROL_MAX_REQUEST + 1);
	if (!cl->in) {
		close(fd);
		free(cl);
		return;
	}
	if (loop_add_io(ctl->loop, fd, EPOLLIN, 0, on_client, cl, &cl->watch) < 0) {
		close(fd);
		free(cl->in);
		free(cl);
		return;
	}
	cl->next = ctl->clients;
	ctl->clients = cl;
	ctl->nclients++;
}

int control_new(struct loop *l, const struct logger *log, const char *path,
		struct manager *m, struct control **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct control *ctl;
	char dir[sizeof(sa.sun_path)];
	struct stat st;
	mode_t old;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->loop = l;
	ctl->log = log;
	ctl->mgr = m;
	snprintf(ctl->path, sizeof(ctl->path), "%s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	if (mkdir(dirname(dir), 0755) < 0 && errno != EEXIST) {
		r = -errno;
		free(ctl);
		return r;
	}
	strcpy(sa.sun_path, path);
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->fd < 0) {
		r = -errno;
		free(ctl);
		return r;
	}
	/* a socket nobody answers on is stale; one that answers is another daemon's */
	if (connect(ctl->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN) {
		close(ctl->fd);
		free(ctl);
		return -EADDRINUSE;
	}
	close(ctl->fd);
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->fd < 0) {
		r = -errno;
		free(ctl);
		return r;
	}
	unlink(path);
	old = umask(0177);
	r = bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || chmod(path, 0600) < 0 || listen(ctl->fd, 16) < 0 || stat(path, &st) < 0) {
		r = -errno;
		close(ctl->fd);
		free(ctl);
		return r;
	}
	ctl->dev = st.st_dev;
	ctl->ino = st.st_ino;
	r = loop_add_io(l, ctl->fd, EPOLLIN, 0, on_accept, ctl, &ctl->watch);
	if (r < 0) {
		close(ctl->fd);
		unlink(path);
		free(ctl);
		return r;
	}
	*ret = ctl;
	return 0;
}

void control_free(struct control *ctl)
{
	struct stat st;

	if (!ctl)
		return;
	while (ctl->clients)
		client_free(ctl->clients);
	loop_remove(ctl->watch);
	close(ctl->fd);
	if (stat(ctl->path, &st) == 0 && st.st_dev == ctl->dev && st.st_ino == ctl->ino)
		unlink(ctl->path);
	free(ctl);
}
