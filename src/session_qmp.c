/* SPDX-License-Identifier: MIT */
/*
 * session_qmp.c - a VM session over QMP.
 *
 * Once the socket is up: query-memory-size-summary (boot size), qom-list to
 * find the balloon device, qom-set guest-stats-polling-interval, qom-get
 * free-page-reporting, query-balloon to adopt the balloon as it is. Then,
 * from tick(): qom-get guest-stats when the guest's next sample is due,
 * query-blockstats once a second, query-balloon every 250 ms while the
 * balloon moves (BALLOON_CHANGE events fill in between) and every 5 s
 * otherwise. Three timeouts in a row, or a lost socket: reconnect with
 * exponential backoff; a socket that refuses after it worked is gone.
 */
#include "session_qmp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "qmp.h"
#include "util.h"
#include "vmlog.h"

#define QUERY_CONVERGING_MS 250
#define QUERY_IDLE_MS 5000
#define BLOCKSTATS_MS 1000
#define NO_BALLOON_RETRY_MS 5000
#define MAX_CONSECUTIVE_TIMEOUTS 3
#define GONE_AFTER_MS 5000
#define TICK_SLACK_MS 50	/* half a housekeeping pass */
#define DEFAULT_BALLOON_PARENT "/machine/peripheral"
#define ANON_BALLOON_PARENT "/machine/peripheral-anon"

enum setup_step {
	SETUP_MEMSIZE,		/* query-memory-size-summary -> boot size */
	SETUP_FIND_BALLOON,	/* qom-list -> balloon QOM path */
	SETUP_FIND_BALLOON_ANON,
	SETUP_STATS_INTERVAL,	/* qom-set guest-stats-polling-interval */
	SETUP_REPORTING,	/* qom-get free-page-reporting */
	SETUP_QUERY,		/* query-balloon -> adopt */
	SETUP_DONE,
};

struct qsession {
	struct session base;
	const struct daemon_config *cfg;
	const struct vm_config *vc;
	struct vm_log *log;
	const struct session_ops *ops;
	void *owner;
	struct qmp_client *qmp;

	enum session_state state;
	enum setup_step setup;
	struct session_info info;
	struct session_counters counters;

	/* connection */
	bool ever_connected;
	uint64_t first_fail_ms;		/* connect failing since */
	uint64_t next_connect_ms;
	uint64_t backoff_ms;
	int last_connect_err;
	unsigned consecutive_timeouts;
	uint64_t no_balloon_retry_ms;

	/* commands in flight and cadence */
	bool stats_inflight, query_inflight, blockstats_inflight;
	unsigned balloon_inflight;	/* balloon commands (a forced one may follow another) */
	uint64_t sent_target;		/* the last one sent */
	bool blockstats_off;		/* the peer does not answer it */
	uint64_t last_stats_poll_ms;	/* when the last stats poll went out */
	uint64_t stats_due_ms;		/* the guest's next sample is there by then */
	uint64_t stats_answered_ms;	/* sent time of the last poll a sample answered */
	uint64_t last_stamp_s;		/* the last sample's own stamp */
	uint64_t last_query_ms;
	uint64_t last_blockstats_ms;
	uint64_t actual;		/* last size seen */
	uint64_t target;		/* last size acknowledged */
};

static struct qsession *qs_of(struct session *s)
{
	return (struct qsession *)(void *)s;
}

static const struct qsession *cqs_of(const struct session *s)
{
	return (const struct qsession *)(const void *)s;
}

static void set_state(struct qsession *q, enum session_state st)
{
	enum session_state old = q->state;

	if (old == st)
		return;
	q->state = st;
	q->ops->state(q->owner, old, st);
}

static void connect_later(struct qsession *q, uint64_t now)
{
	q->backoff_ms = q->backoff_ms ? MIN(q->backoff_ms * 2, q->cfg->reconnect_max_ms)
				      : q->cfg->reconnect_min_ms;
	q->next_connect_ms = now + q->backoff_ms;
}

static void note_failure(struct qsession *q, const char *what, const struct qmp_reply *r)
{
	q->counters.failures++;
	q->ops->failure(q->owner);
	if (r->err == -ETIMEDOUT) {
		q->consecutive_timeouts++;
		vm_log(q->log, VM_LOG_COMMAND, LOG_LVL_WARN, "%s timed out", what);
		if (q->consecutive_timeouts >= MAX_CONSECUTIVE_TIMEOUTS) {
			vm_log(q->log, VM_LOG_SESSION, LOG_LVL_WARN,
			       "%u timeouts in a row, reconnecting", q->consecutive_timeouts);
			qmp_client_disconnect(q->qmp, -ETIMEDOUT);
			set_state(q, SESSION_CONNECTING);
			connect_later(q, now_ms());
		}
	} else if (r->err == -EREMOTEIO) {
		vm_log(q->log, VM_LOG_COMMAND, LOG_LVL_WARN, "%s failed: %s: %s", what,
		       r->err_class, r->err_desc);
	} else if (r->err != -ECONNRESET && r->err != -ECANCELED) {
		vm_log(q->log, VM_LOG_COMMAND, LOG_LVL_WARN, "%s failed: %s", what,
		       strerror(-r->err));
	}
}

static int execute(struct qsession *q, const char *cmd, json_t *args, qmp_reply_fn fn)
{
	int r = qmp_client_execute(q->qmp, cmd, args, now_ms(), q->cfg->qmp_timeout_ms,
				   fn, q);

	json_decref(args);
	return r;
}

static bool no_balloon(const struct qmp_reply *r)
{
	return r->err == -EREMOTEIO && strcmp(r->err_class, "DeviceNotActive") == 0;
}

/* ------------------------------------------------------------ balloon size */

/*
 * The balloon's size as QEMU reports it (query-balloon, BALLOON_CHANGE).
 * QEMU derives it from what the guest driver writes, so it is checked like
 * guest data: it is boot RAM minus the balloon, and above the boot size it
 * is a lie (it would look like memory on its way back to the host).
 */
static int read_actual(const struct qsession *q, const json_t *obj, uint64_t *ret)
{
	if (qmp_json_u64(json_object_get(obj, "actual"), ret) < 0 || !*ret)
		return -EINVAL;
	if (q->info.boot_bytes && *ret > q->info.boot_bytes)
		return -ERANGE;
	return 0;
}

static void adopt(struct qsession *q, uint64_t actual)
{
	if (!q->info.boot_bytes)
		q->info.boot_bytes = actual;	/* no size query: assume an empty balloon */
	q->setup = SETUP_DONE;
	q->backoff_ms = 0;
	q->actual = q->target = actual;
	q->ops->adopt(q->owner, actual);
	set_state(q, SESSION_READY);
}

static void on_query_reply(struct qmp_client *c, const struct qmp_reply *r, void *data)
{
	struct qsession *q = data;
	uint64_t actual;

	q->query_inflight = false;
	if (r->err) {
		if (no_balloon(r)) {
			if (q->state != SESSION_NO_BALLOON)
				vm_log(q->log, VM_LOG_SESSION, LOG_LVL_WARN,
				       "no active balloon device: %s", r->err_desc);
			set_state(q, SESSION_NO_BALLOON);
			q->no_balloon_retry_ms = now_ms() + NO_BALLOON_RETRY_MS;
			return;
		}
		note_failure(q, "query-balloon", r);
		return;
	}
	q->consecutive_timeouts = 0;
	if (read_actual(q, r->ret, &actual) < 0) {
		q->counters.bad_replies++;
		vm_log(q->log, VM_LOG_COMMAND, LOG_LVL_WARN, "query-balloon: bad \"actual\"");
		return;
	}
	if (q->setup == SETUP_QUERY || q->state == SESSION_NO_BALLOON) {
		adopt(q, actual);
		return;
	}
	q->actual = actual;
	q->ops->actual(q->owner, actual);
}

static void send_query(struct qsession *q)
{
	if (q->query_inflight)
		return;
	if (execute(q, "query-balloon", NULL, on_query_reply) == 0) {
		q->query_inflight = true;
		q->last_query_ms = now_ms();
	}
}

static void on_balloon_reply(struct qmp_client *c, const struct qmp_reply *r, void *data)
{
	struct qsession *q = data;
	uint64_t target = q->sent_target;	/* the last one sent wins */

	if (q->balloon_inflight && --q->balloon_inflight == 0)
		q->info.inflight_target = 0;
	if (r->err) {
		if (no_balloon(r))
			set_state(q, SESSION_NO_BALLOON);
		note_failure(q, "balloon", r);
		q->ops->target_done(q->owner, target, r->err);
		return;
	}
	q->consecutive_timeouts = 0;
	q->target = target;
	q->ops->target_done(q->owner, target, 0);
	send_query(q);
}

static int qs_set_target(struct session *s, uint64_t bytes, bool force)
{
	struct qsession *q = qs_of(s);
	json_t *args;
	int r;

	if (q->balloon_inflight && !force)
		return -EBUSY;
	args = json_pack("{s:I}", "value", (json_int_t)bytes);
	r = execute(q, "balloon", args, on_balloon_reply);
	if (r < 0)
		return r;
	q->balloon_inflight++;
	q->sent_target = q->info.inflight_target = bytes;
	return 0;
}

/* ------------------------------------------------------------ setup */

static void setup_next(struct qsession *q);

static void find_balloon(struct qsession *q, const json_t *ret)
{
	const char *parent = q->setup == SETUP_FIND_BALLOON ? DEFAULT_BALLOON_PARENT
							    : ANON_BALLOON_PARENT;
	size_t i;
	json_t *e;

	q->info.balloon[0] = '\0';
	if (json_is_array(ret)) {
		json_array_foreach(ret, i, e) {
			const char *type = json_string_value(json_object_get(e, "type"));
			const char *name = json_string_value(json_object_get(e, "name"));

			if (type && name && strncmp(type, "child<virtio-balloon", 20) == 0) {
				snprintf(q->info.balloon, sizeof(q->info.balloon), "%s/%s",
					 parent, name);
				break;
			}
		}
	}
	if (q->info.balloon[0])
		q->setup = SETUP_STATS_INTERVAL;
	else if (q->setup == SETUP_FIND_BALLOON)
		q->setup = SETUP_FIND_BALLOON_ANON;
	else
		q->setup = SETUP_QUERY;	/* no stats: ballooning still works */
}

static void on_setup_reply(struct qmp_client *c, const struct qmp_reply *r, void *data)
{
	struct qsession *q = data;
	uint64_t base;

	if (r->err == -ECONNRESET || r->err == -ECANCELED)
		return;
	if (r->err && r->err != -EREMOTEIO) {
		note_failure(q, "setup", r);
		return;		/* tick() sends the step again */
	}
	switch (q->setup) {
	case SETUP_MEMSIZE:
		if (!r->err && qmp_json_u64(json_object_get(r->ret, "base-memory"), &base) == 0 &&
		    base)
			q->info.boot_bytes = base;
		if (q->vc->balloon_path[0]) {
			snprintf(q->info.balloon, sizeof(q->info.balloon), "%s",
				 q->vc->balloon_path);
			q->setup = SETUP_STATS_INTERVAL;
		} else {
			q->setup = SETUP_FIND_BALLOON;
		}
		break;
	case SETUP_FIND_BALLOON:
	case SETUP_FIND_BALLOON_ANON:
		find_balloon(q, r->err ? NULL : r->ret);
		break;
	case SETUP_STATS_INTERVAL:
		q->info.stats_supported = !r->err;
		if (r->err)
			vm_log(q->log, VM_LOG_SESSION, LOG_LVL_WARN,
			       "cannot enable guest stats on %s: %s", q->info.balloon,
			       r->err_desc);
		q->setup = SETUP_REPORTING;
		break;
	case SETUP_REPORTING:
		/* QEMU before 5.1 has no such property: no reporting. */
		q->info.free_reporting = !r->err && json_is_true(r->ret);
		vm_log(q->log, VM_LOG_SESSION, LOG_LVL_INFO, "balloon %s, free page reporting %s",
		       q->info.balloon, q->info.free_reporting ? "on" : "off");
		q->setup = SETUP_QUERY;
		break;
	case SETUP_QUERY:
	case SETUP_DONE:
		return;
	}
	setup_next(q);
}

static void setup_next(struct qsession *q)
{
	json_t *args = NULL;
	const char *cmd = NULL;

	switch (q->setup) {
	case SETUP_MEMSIZE:
		cmd = "query-memory-size-summary";
		break;
	case SETUP_FIND_BALLOON:
		cmd = "qom-list";
		args = json_pack("{s:s}", "path", DEFAULT_BALLOON_PARENT);
		break;
	case SETUP_FIND_BALLOON_ANON:
		cmd = "qom-list";
		args = json_pack("{s:s}", "path", ANON_BALLOON_PARENT);
		break;
	case SETUP_STATS_INTERVAL:
		cmd = "qom-set";
		args = json_pack("{s:s,s:s,s:i}", "path", q->info.balloon, "property",
				 "guest-stats-polling-interval", "value",
				 (int)q->cfg->stats_interval_s);
		break;
	case SETUP_REPORTING:
		cmd = "qom-get";
		args = json_pack("{s:s,s:s}", "path", q->info.balloon, "property",
				 "free-page-reporting");
		break;
	case SETUP_QUERY:
		send_query(q);
		return;
	case SETUP_DONE:
		return;
	}
	if (execute(q, cmd, args, on_setup_reply) < 0)
		vm_log(q->log, VM_LOG_COMMAND, LOG_LVL_DEBUG, "cannot send %s", cmd);
}

/* ------------------------------------------------------------ polls */

static void on_stats_reply(struct qmp_client *c, const struct qmp_reply *r, void *data)
{
	struct qsession *q = data;
	uint64_t after = q->stats_answered_ms;
	struct guest_stats s;
	unsigned bad = 0;

	q->stats_inflight = false;
	if (r->err) {
		note_failure(q, "qom-get guest-stats", r);
		return;
	}
	q->consecutive_timeouts = 0;
	if (guest_stats_decode(r->ret, &s, &bad) < 0) {
		q->counters.bad_replies++;
		return;
	}
	q->counters.bad_values += bad;
	/* a sample newer than this one comes after this poll was answered */
	q->stats_answered_ms = q->last_stats_poll_ms;
	/*
	 * No sample at all: the guest's balloon driver has not been probed (a
	 * driver sends one at probe) - the guest is booting, or has no driver.
	 */
	q->info.guest_silent = s.last_update_s == 0;
	if (q->info.guest_silent || s.last_update_s == q->last_stamp_s)
		return;
	/*
	 * The stamp tells a new sample from the last one, nothing else (it is
	 * the guest's clock). The guest renews its sample every
	 * stats_interval: the next one is there that long after this poll.
	 */
	q->last_stamp_s = s.last_update_s;
	q->stats_due_ms = q->last_stats_poll_ms + (uint64_t)q->cfg->stats_interval_s * 1000;
	q->ops->sample(q->owner, &s, after);
}

/* The guest's disk reads: what the owner's refault rate is made of. */
static void on_blockstats_reply(struct qmp_client *c, const struct qmp_reply *r, void *data)
{
	struct qsession *q = data;
	uint64_t read_bytes;

	q->blockstats_inflight = false;
	if (r->err) {
		/* an old QEMU, or a peer that is not one: refaults stay unknown */
		if (r->err == -EREMOTEIO) {
			q->blockstats_off = true;
			vm_log(q->log, VM_LOG_COMMAND, LOG_LVL_INFO,
			       "no query-blockstats (%s): refaults unknown",
			       r->err_desc ? r->err_desc : "error");
		}
		return;
	}
	if (blockstats_read_bytes(r->ret, &read_bytes) < 0) {
		q->counters.bad_replies++;
		return;
	}
	q->ops->disk_reads(q->owner, read_bytes);
}

static void polls(struct qsession *q, uint64_t now)
{
	bool moving = absdiff_u64(q->actual, q->target) > MIB || q->balloon_inflight;
	json_t *args;

	if (!q->blockstats_off && !q->blockstats_inflight &&
	    now - q->last_blockstats_ms >= BLOCKSTATS_MS &&
	    execute(q, "query-blockstats", NULL, on_blockstats_reply) == 0) {
		q->blockstats_inflight = true;
		q->last_blockstats_ms = now;
	}
	/*
	 * Before the guest's next sample is due a poll returns the same one
	 * again. Due by the daemon's own clock, never by the guest's stamp:
	 * one stamped an hour ahead, or a host clock stepped back, would stop
	 * the polls.
	 */
	if (q->info.stats_supported && !q->stats_inflight &&
	    now - q->last_stats_poll_ms >= q->cfg->stats_poll_ms &&
	    now + TICK_SLACK_MS >= q->stats_due_ms) {
		args = json_pack("{s:s,s:s}", "path", q->info.balloon, "property", "guest-stats");
		if (execute(q, "qom-get", args, on_stats_reply) == 0) {
			q->stats_inflight = true;
			q->last_stats_poll_ms = now;
		}
	}
	if (now - q->last_query_ms >= (moving ? QUERY_CONVERGING_MS : QUERY_IDLE_MS))
		send_query(q);
}

/* ------------------------------------------------------------ connection */

static void on_qmp_ready(struct qmp_client *c, void *data)
{
	struct qsession *q = data;

	vm_log(q->log, VM_LOG_SESSION, LOG_LVL_DEBUG, "QMP ready");
	q->ever_connected = true;
	q->info.vmm_pid = MAX(qmp_client_peer_pid(c), 0);
	q->setup = SETUP_MEMSIZE;
	q->consecutive_timeouts = 0;
	q->info.guest_silent = false;	/* until QEMU's first reply says so */
	q->last_stamp_s = 0;
	q->stats_due_ms = q->stats_answered_ms = 0;
	set_state(q, SESSION_SETUP);
	setup_next(q);
}

static void on_qmp_event(struct qmp_client *c, const char *name, json_t *ev, void *data)
{
	struct qsession *q = data;
	uint64_t actual;

	if (strcmp(name, "BALLOON_CHANGE") == 0) {
		if (read_actual(q, ev, &actual) < 0) {
			q->counters.bad_replies++;
			return;
		}
		if (q->setup != SETUP_DONE)
			return;
		q->actual = actual;
		q->ops->actual(q->owner, actual);
	} else if (strcmp(name, "SHUTDOWN") == 0) {
		vm_log(q->log, VM_LOG_EVENT, LOG_LVL_INFO, "guest is shutting down");
	}
}

static void on_qmp_closed(struct qmp_client *c, int err, void *data)
{
	struct qsession *q = data;

	vm_log(q->log, VM_LOG_SESSION, LOG_LVL_WARN, "QMP connection lost: %s",
	       strerror(-err));
	q->setup = SETUP_MEMSIZE;
	q->stats_inflight = q->query_inflight = q->blockstats_inflight = false;
	q->balloon_inflight = 0;
	q->info.inflight_target = 0;
	connect_later(q, now_ms());
	set_state(q, SESSION_CONNECTING);
}

static const struct qmp_client_ops qsession_qmp_ops = {
	.ready = on_qmp_ready,
	.event = on_qmp_event,
	.closed = on_qmp_closed,
};

static void try_connect(struct qsession *q, uint64_t now)
{
	int r;

	if (now < q->next_connect_ms)
		return;
	r = qmp_client_connect(q->qmp, now, q->cfg->qmp_timeout_ms);
	if (r == 0) {
		q->last_connect_err = 0;
		q->first_fail_ms = 0;
		return;
	}
	if (q->last_connect_err != r)
		vm_log(q->log, VM_LOG_SESSION, LOG_LVL_WARN, "cannot connect to %s: %s",
		       q->vc->qmp_path, strerror(-r));
	q->last_connect_err = r;
	if (!q->first_fail_ms)
		q->first_fail_ms = now;
	/* A socket that refuses us after it worked, or for long: gone. */
	if ((r == -ECONNREFUSED || r == -ENOENT) &&
	    (q->ever_connected || now - q->first_fail_ms >= GONE_AFTER_MS))
		set_state(q, SESSION_GONE);
	connect_later(q, now);
}

static void qs_tick(struct session *s, uint64_t now)
{
	struct qsession *q = qs_of(s);

	if (!qmp_client_is_connected(q->qmp)) {
		try_connect(q, now);
		return;
	}
	qmp_client_tick(q->qmp, now);
	if (!qmp_client_is_ready(q->qmp))
		return;
	if (q->state == SESSION_NO_BALLOON) {
		if (now >= q->no_balloon_retry_ms)
			send_query(q);
		return;
	}
	if (q->setup != SETUP_DONE) {
		/* a setup step failed transiently: send it again */
		if (!qmp_client_pending(q->qmp))
			setup_next(q);
		return;
	}
	polls(q, now);
}

/* ------------------------------------------------------------ the rest */

static enum session_state qs_state(const struct session *s)
{
	const struct qsession *q = cqs_of(s);

	/* ready only while the link is (a timeout disconnects before closed()) */
	if (q->state == SESSION_READY && !qmp_client_is_ready(q->qmp))
		return SESSION_CONNECTING;
	return q->state;
}

static const struct session_info *qs_info(const struct session *s)
{
	return &cqs_of(s)->info;
}

static const struct session_counters *qs_counters(const struct session *s)
{
	return &cqs_of(s)->counters;
}

static void qs_dump(const struct session *s, json_t *o)
{
	const struct qsession *q = cqs_of(s);
	const struct qmp_client_counters *qc = qmp_client_counters(q->qmp);

	json_object_set_new(o, "qmp", json_string(q->vc->qmp_path));
	json_object_set_new(o, "connected", json_boolean(qmp_client_is_ready(q->qmp)));
	json_object_set_new(o, "qmp_counters", json_pack(
		"{s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		"commands", (json_int_t)qc->commands, "replies", (json_int_t)qc->replies,
		"errors", (json_int_t)qc->errors, "timeouts", (json_int_t)qc->timeouts,
		"events", (json_int_t)qc->events, "bad_messages", (json_int_t)qc->bad_messages,
		"disconnects", (json_int_t)qc->disconnects));
}

static void qs_free(struct session *s)
{
	struct qsession *q = qs_of(s);

	qmp_client_free(q->qmp);
	free(q);
}

static const struct session_backend qmp_backend = {
	.name = "qmp",
	.free = qs_free,
	.tick = qs_tick,
	.set_target = qs_set_target,
	.state = qs_state,
	.info = qs_info,
	.counters = qs_counters,
	.dump = qs_dump,
};

int session_qmp_new(struct loop *l, const struct daemon_config *cfg,
		    const struct vm_config *vc, struct vm_log *log,
		    const struct session_ops *ops, void *owner, uint64_t connect_at_ms,
		    struct session **ret)
{
	struct qsession *q = calloc(1, sizeof(*q));
	int r;

	if (!q)
		return -ENOMEM;
	q->base.be = &qmp_backend;
	q->cfg = cfg;
	q->vc = vc;
	q->log = log;
	q->ops = ops;
	q->owner = owner;
	q->next_connect_ms = connect_at_ms;
	r = qmp_client_new(l, vc->qmp_path, cfg->max_message_bytes, &qsession_qmp_ops, q,
			   &q->qmp);
	if (r < 0) {
		free(q);
		return r;
	}
	*ret = &q->base;
	return 0;
}
