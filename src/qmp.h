/* SPDX-License-Identifier: MIT */
/*
 * qmp.h - QEMU Machine Protocol: line framing, message parsing, an
 * asynchronous client for the event loop and a blocking client for tests.
 *
 * QMP is one JSON object per line. The server greets with {"QMP": ...}; the
 * client must send qmp_capabilities first. Replies ({"return": ...} or
 * {"error": {"class", "desc"}}) echo the command's "id"; events
 * ({"event", "data", "timestamp"}) may arrive at any time, also between a
 * command and its reply.
 *
 * Numbers: QEMU prints u64 values, and a guest stat it does not know is
 * 18446744073709551615 (u64 -1), which does not fit jansson's json_int_t. So
 * every line is decoded with integers as reals and read back through
 * qmp_json_u64(), which tells "unknown" (-ENODATA) from garbage.
 */
#ifndef AB_QMP_H
#define AB_QMP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;

#define QMP_DEFAULT_MAX_LINE (1024 * 1024)

/* ---- framing (pure) ---- */

struct qmp_framer {
	char *buf;
	size_t len;
	size_t cap;
	size_t max;	/* longest line accepted, without the newline */
};

typedef int (*qmp_line_fn)(const char *line, size_t len, void *data);

void qmp_framer_init(struct qmp_framer *f, size_t max_line);
void qmp_framer_free(struct qmp_framer *f);
/*
 * Append data and call fn for every complete line ("\n" or "\r\n" stripped;
 * empty lines skipped). Returns 0, -EMSGSIZE when a line exceeds the maximum
 * (the stream is then unusable), -ENOMEM, or the first negative value fn
 * returned.
 */
int qmp_framer_feed(struct qmp_framer *f, const char *data, size_t n,
		    qmp_line_fn fn, void *fn_data);

/* ---- messages (pure) ---- */

enum qmp_msg_kind {
	QMP_MSG_GREETING,
	QMP_MSG_RETURN,
	QMP_MSG_ERROR,
	QMP_MSG_EVENT,
};

struct qmp_msg {
	enum qmp_msg_kind kind;
	json_t *root;		/* owned */
	json_t *ret;		/* RETURN: the "return" member (borrowed) */
	const char *err_class;	/* ERROR (borrowed) */
	const char *err_desc;	/* ERROR (borrowed) */
	const char *event;	/* EVENT: name (borrowed) */
	json_t *data;		/* EVENT: "data" or NULL (borrowed) */
	bool has_id;
	uint64_t id;
};

/* Parse one line. -EBADMSG for invalid JSON, -EPROTO for a non-QMP object. */
int qmp_msg_parse(const char *line, size_t len, struct qmp_msg *ret);
void qmp_msg_clear(struct qmp_msg *m);

/*
 * Encode {"execute": cmd, "arguments": args, "id": id} plus "\n".
 * args may be NULL and is not stolen. Returns a malloc'd string or NULL.
 */
char *qmp_command_encode(const char *cmd, const json_t *args, uint64_t id);

/*
 * Read a non-negative integer from a JSON number (integer or integral real).
 * Returns 0, -ENODATA for QEMU's "unknown" (u64 -1, or anything >= 2^63),
 * -ERANGE for a value above 2^53 (not exactly representable: a lie),
 * -EINVAL for a non-number, a negative or a fractional value.
 */
int qmp_json_u64(const json_t *v, uint64_t *ret);

/* A non-blocking connection to the unix socket at path (connect may be in progress). */
int qmp_unix_connect(const char *path, int *ret_fd);

/* ---- asynchronous client (one per VM, runs in the loop) ---- */

struct qmp_client;

struct qmp_client_ops {
	/* Handshake done: commands may be sent. */
	void (*ready)(struct qmp_client *c, void *data);
	void (*event)(struct qmp_client *c, const char *name, json_t *event_data,
		      void *data);
	/*
	 * The connection is gone (err: -ECONNRESET, -EPROTO, -EMSGSIZE,
	 * -ETIMEDOUT during handshake, ...). Pending commands have already been
	 * failed with err. Not called after qmp_client_disconnect().
	 */
	void (*closed)(struct qmp_client *c, int err, void *data);
};

struct qmp_reply {
	int err;		/* 0, -EREMOTEIO (QMP error), -ETIMEDOUT, ... */
	json_t *ret;		/* err == 0: the "return" value (borrowed) */
	const char *err_class;	/* err == -EREMOTEIO */
	const char *err_desc;
};

typedef void (*qmp_reply_fn)(struct qmp_client *c, const struct qmp_reply *r,
			     void *data);

struct qmp_client_counters {
	uint64_t commands;
	uint64_t replies;
	uint64_t errors;	/* QMP error replies */
	uint64_t timeouts;
	uint64_t events;
	uint64_t bad_messages;	/* unparsable, unknown id, wrong shape */
	uint64_t disconnects;
};

int qmp_client_new(struct loop *l, const char *path, size_t max_line,
		   const struct qmp_client_ops *ops, void *data,
		   struct qmp_client **ret);
/* Safe to call from inside any of the client's callbacks. */
void qmp_client_free(struct qmp_client *c);

/*
 * Connect (non-blocking) and start the handshake, which must complete within
 * handshake_timeout_ms. Returns 0 or -errno (e.g. -ENOENT, -ECONNREFUSED).
 */
int qmp_client_connect(struct qmp_client *c, uint64_t now_ms,
		       uint64_t handshake_timeout_ms);
/* Close the connection without calling ops->closed; pending commands fail. */
void qmp_client_disconnect(struct qmp_client *c, int err);
bool qmp_client_is_ready(const struct qmp_client *c);
bool qmp_client_is_connected(const struct qmp_client *c);
size_t qmp_client_pending(const struct qmp_client *c);

/*
 * Send a command; fn is called exactly once with the reply, a timeout after
 * timeout_ms, or the error that closed the connection. args may be NULL and
 * is not stolen. Returns -ENOTCONN before the handshake is done, -EBUSY when
 * too many commands are in flight.
 */
int qmp_client_execute(struct qmp_client *c, const char *cmd, const json_t *args,
		       uint64_t now_ms, uint64_t timeout_ms, qmp_reply_fn fn,
		       void *data);

/* Expire timed-out commands (call periodically). */
void qmp_client_tick(struct qmp_client *c, uint64_t now_ms);

const struct qmp_client_counters *qmp_client_counters(const struct qmp_client *c);
const char *qmp_client_path(const struct qmp_client *c);
/*
 * The pid of the process that listens on the socket (SO_PEERCRED): QEMU
 * when QEMU created the socket, the manager that did (libvirt) otherwise.
 * Negative errno when not connected.
 */
int qmp_client_peer_pid(const struct qmp_client *c);

/* ---- blocking client (tests, harness, benchmark) ---- */

struct qmp_sync;

/* Connect to a QMP socket and complete the handshake within timeout_ms. */
int qmp_sync_open(const char *path, int timeout_ms, struct qmp_sync **ret);
void qmp_sync_close(struct qmp_sync *q);
/*
 * Execute cmd and wait for its reply. On success *ret_return (if non-NULL)
 * holds a new reference to the "return" value. On a QMP error returns
 * -EREMOTEIO and, if ret_err is non-NULL, a malloc'd "Class: desc" string.
 * Events received meanwhile are skipped.
 */
int qmp_sync_execute(struct qmp_sync *q, const char *cmd, const json_t *args,
		     int timeout_ms, json_t **ret_return, char **ret_err);
int qmp_sync_query_balloon(struct qmp_sync *q, uint64_t *ret_actual_bytes);
int qmp_sync_balloon(struct qmp_sync *q, uint64_t target_bytes);

#endif
