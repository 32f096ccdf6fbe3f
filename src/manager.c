/* SPDX-License-Identifier: MIT */
/*
 * manager.c - VMs, their QMP sessions, the host, and policy rounds.
 *
 * Per VM, once QMP is up: query-memory-size-summary (boot size = max),
 * qom-list to find the balloon device, qom-set guest-stats-polling-interval,
 * query-balloon to adopt the balloon as it is. Then, from a housekeeping
 * timer: qom-get guest-stats every stats_poll_ms and query-balloon while a
 * target is being approached (BALLOON_CHANGE events fill in between).
 *
 * Policy rounds run every tick, and at once (rate-limited) on a host
 * pressure event, on a fresh guest sample showing pressure, and when a guest
 * took memory back.
 */
#include "manager.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "qmp.h"
#include "ratelimit.h"
#include "util.h"

#define HOUSEKEEPING_MS 100
#define MIN_ROUND_GAP_MS 100
#define QUERY_CONVERGING_MS 250
#define QUERY_IDLE_MS 5000
#define NO_BALLOON_RETRY_MS 5000
#define MAX_CONSECUTIVE_TIMEOUTS 3
#define TARGET_FLOOR_BYTES (16 * MIB)
#define GONE_AFTER_MS 5000
/* Guest RAM residency is read with each stats sample; without samples, this often. */
#define RAM_READ_MS 3000
#define REFAULT_MIN_MS 500	/* shorter intervals make noisy rates */
#define DEFAULT_BALLOON_PARENT "/machine/peripheral"
#define ANON_BALLOON_PARENT "/machine/peripheral-anon"

struct manager {
	struct loop *loop;
	const struct logger *log;
	struct daemon_config *cfg;

	struct host_source host;
	struct host_mem hm;
	bool host_ok;
	bool host_err_logged;
	struct pressure_mon pmon;
	struct loop_watch *pressure_watch;
	char psi_avg_path[PATH_MAX + 32];	/* PSI file read for averages */
	struct psi_avgs psi;
	bool psi_ok;
	bool pressure_pending;
	struct policy_host ph;
	uint64_t last_swap_bytes;	/* swap use at the last round */
	bool last_swap_valid;
	struct avail_trend trend;	/* how fast and how long host avail falls */
	struct policy_params params;	/* cfg->params with host marks resolved */

	struct vm **vms;
	size_t nvms;

	struct loop_watch *tick_timer;
	struct loop_watch *hk_timer;
	struct loop_watch *round_timer;
	bool round_armed;
	uint64_t last_round_ms;

	int inotify_fd;
	struct loop_watch *inotify_watch;

	bool paused;
	bool shutting_down;
	void (*shutdown_done)(void *data);
	void *shutdown_data;
	uint64_t shutdown_deadline_ms;

	struct manager_counters counters;
};

static void vm_connect_later(struct vm *v, uint64_t now);
static void read_guest_ram(struct manager *m, struct vm *v, uint64_t now);
static void request_round(struct manager *m);
static void finish_shutdown_if_done(struct manager *m, bool force);

/* ------------------------------------------------------------ VM sizing */

/* Resolve min/max/buffer from the config and QEMU's boot size. */
static void vm_resolve_sizes(struct vm *v)
{
	uint64_t boot = v->boot_bytes, max, min, buffer;

	max = v->cfg.max.set ? v->cfg.max.bytes : boot;
	if (boot && max > boot)
		max = boot;
	max = MAX(max, TARGET_FLOOR_BYTES);
	min = size_spec_resolve(&v->cfg.min, max);
	min = clamp_u64(min, TARGET_FLOOR_BYTES, max);
	buffer = size_spec_resolve(&v->cfg.buffer, max);
	v->pol.max_bytes = max;
	v->pol.min_bytes = min;
	v->pol.buffer_bytes = MIN(buffer, max / 2);
	v->pol.weight = v->cfg.weight ? v->cfg.weight : 1;
}

/* ------------------------------------------------------------ logging */

/*
 * What a peer makes the daemon say about its VM, per kind: 5 messages at
 * once, then one every 5 s; what is held back is counted and said.
 */
static const struct ratelimit_params vm_log_limit = { .burst = 5, .interval_ms = 5000 };

static const char *const vm_log_kind_names[VM_LOG__N] = {
	[VM_LOG_SESSION] = "connection",
	[VM_LOG_COMMAND] = "command",
	[VM_LOG_EVENT] = "guest event",
};

__attribute__((format(printf, 4, 5)))
static void vm_log(struct vm *v, enum vm_log_kind kind, enum log_level level,
		   const char *fmt, ...)
{
	const struct logger *lg = v->mgr->log;
	char msg[768], held_msg[64] = "";
	uint64_t held;
	va_list ap;

	if (lg && level > lg->level)
		return;
	if (!ratelimit_allow(&v->log_limit[kind], &vm_log_limit, now_ms(), &held))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (held)
		snprintf(held_msg, sizeof(held_msg), " (%" PRIu64 " %s messages suppressed)",
			 held, vm_log_kind_names[kind]);
	log_msg(lg, level, "vm %s: %s%s", v->cfg.name, msg, held_msg);
}

/* Held back and not said since, once a message could go out again. */
static void vm_log_flush(struct vm *v, uint64_t now)
{
	for (int k = 0; k < VM_LOG__N; k++) {
		uint64_t n = ratelimit_flush(&v->log_limit[k], &vm_log_limit, now);

		if (n)
			log_warn(v->mgr->log, "vm %s: %" PRIu64 " %s messages suppressed",
				 v->cfg.name, n, vm_log_kind_names[k]);
	}
}

/* ------------------------------------------------------------ QMP replies */

static void set_state(struct vm *v, enum vm_state s)
{
	if (v->pol.state == s)
		return;
	vm_log(v, VM_LOG_SESSION, LOG_LVL_INFO, "%s -> %s", vm_state_name(v->pol.state),
	       vm_state_name(s));
	v->pol.state = s;
}

static void note_failure(struct vm *v, const char *what, const struct qmp_reply *r)
{
	struct manager *m = v->mgr;

	v->qmp_failures++;
	m->counters.qmp_errors++;
	if (r->err == -ETIMEDOUT) {
		v->consecutive_timeouts++;
		vm_log(v, VM_LOG_COMMAND, LOG_LVL_WARN, "%s timed out", what);
		if (v->consecutive_timeouts >= MAX_CONSECUTIVE_TIMEOUTS) {
			vm_log(v, VM_LOG_SESSION, LOG_LVL_WARN, "%u timeouts in a row, reconnecting",
			       v->consecutive_timeouts);
			qmp_client_disconnect(v->qmp, -ETIMEDOUT);
			set_state(v, VM_CONNECTING);
			vm_connect_later(v, now_ms());
		}
	} else if (r->err == -EREMOTEIO) {
		vm_log(v, VM_LOG_COMMAND, LOG_LVL_WARN, "%s failed: %s: %s", what, r->err_class,
		       r->err_desc);
	} else if (r->err != -ECONNRESET && r->err != -ECANCELED) {
		vm_log(v, VM_LOG_COMMAND, LOG_LVL_WARN, "%s failed: %s", what, strerror(-r->err));
	}
}

static void setup_next(struct vm *v);

static int vm_execute(struct vm *v, const char *cmd, json_t *args, qmp_reply_fn fn)
{
	struct manager *m = v->mgr;
	int r;

	r = qmp_client_execute(v->qmp, cmd, args, now_ms(), m->cfg->qmp_timeout_ms,
			       fn, v);
	json_decref(args);
	return r;
}

/* ------------------------------------------------------------ balloon history */

/* Margin for how late we see a change (query-balloon every 250 ms when moving). */
#define SAMPLE_MARGIN_MS 300

/* A size seen (or, with moving, the moment a new target went out). */
static void hist_note(struct vm *v, uint64_t actual, bool moving)
{
	if (v->hist_len && v->hist[v->hist_len - 1].actual == actual && !moving)
		return;
	if (v->hist_len == VM_ACTUAL_HISTORY) {
		memmove(&v->hist[0], &v->hist[1], (VM_ACTUAL_HISTORY - 1) * sizeof(v->hist[0]));
		v->hist_len--;
		v->hist_dropped = true;
	}
	v->hist[v->hist_len++] = (struct actual_obs){ .ms = now_ms(), .actual = actual };
}

/*
 * The balloon size while a guest sample was taken, some time between
 * after_ms and before_ms (monotonic; after_ms 0: not known), or -EAGAIN
 * when it moved then (or it is not known). Between two observations the
 * size lies between them; after the last one it may be heading for the
 * target.
 */
static int sample_actual(const struct vm *v, uint64_t after_ms, uint64_t before_ms,
			 uint64_t *ret)
{
	uint64_t from = sat_sub(after_ms, SAMPLE_MARGIN_MS);
	uint64_t to = before_ms + SAMPLE_MARGIN_MS;
	uint64_t lo = UINT64_MAX, hi = 0;

	if (!v->hist_len)
		return -EAGAIN;
	if (to <= v->hist[0].ms) {
		/* Before the first size we saw: the daemon had not moved it. */
		if (v->hist_dropped)
			return -EAGAIN;
		*ret = v->hist[0].actual;
		return 0;
	}
	for (unsigned i = 0; i < v->hist_len; i++) {
		bool last = i + 1 == v->hist_len;
		uint64_t end = last ? UINT64_MAX : v->hist[i + 1].ms;
		uint64_t next = last ? v->pol.target_bytes : v->hist[i + 1].actual;

		if (end <= from || v->hist[i].ms >= to)
			continue;
		lo = MIN(lo, MIN(v->hist[i].actual, next));
		hi = MAX(hi, MAX(v->hist[i].actual, next));
		if (last && v->balloon_inflight) {
			lo = MIN(lo, v->req_target);
			hi = MAX(hi, v->req_target);
		}
	}
	if (hi == 0 || hi - lo > MIB)
		return -EAGAIN;
	*ret = v->hist[v->hist_len - 1].actual;
	for (unsigned i = 0; i < v->hist_len; i++)
		if (v->hist[i].ms < to)
			*ret = v->hist[i].actual;
	return 0;
}

static void adopt_actual(struct vm *v, uint64_t actual)
{
	struct manager *m = v->mgr;
	char a[32], mx[32];

	if (!v->boot_bytes) {
		/* No memory-size query: assume the balloon is empty now. */
		v->boot_bytes = actual;
		vm_resolve_sizes(v);
	}
	policy_adopt(&v->pol, actual, now_ms());
	v->hist_len = 0;
	v->hist_dropped = false;
	hist_note(v, actual, false);
	v->adopted_ms = now_ms();
	v->actual_seen_ms = v->adopted_ms;
	v->setup = SETUP_DONE;
	v->backoff_ms = 0;
	v->gone = false;
	vm_log(v, VM_LOG_SESSION, LOG_LVL_INFO, "managed: balloon at %s of max %s%s",
	       fmt_bytes(actual, a, sizeof(a)), fmt_bytes(v->pol.max_bytes, mx, sizeof(mx)),
	       v->stats_supported ? "" : " (no guest stats)");
	request_round(m);
}

/*
 * The balloon's actual size as QEMU reports it (query-balloon, BALLOON_CHANGE).
 * The guest driver writes the number QEMU derives it from, so it is checked
 * like guest data: QEMU computes it as boot RAM minus the balloon, so a value
 * above the boot size is a lie (taken at face value it would look like memory
 * on its way back to the host, and the host would give away what it does not
 * have).
 */
static int read_actual(const struct vm *v, const json_t *obj, uint64_t *ret)
{
	if (qmp_json_u64(json_object_get(obj, "actual"), ret) < 0 || !*ret)
		return -EINVAL;
	if (v->boot_bytes && *ret > v->boot_bytes)
		return -ERANGE;
	return 0;
}

static void note_actual(struct vm *v, uint64_t actual)
{
	v->pol.actual_bytes = actual;
	v->actual_seen_ms = now_ms();
	hist_note(v, actual, false);
}

static void on_query_reply(struct qmp_client *c, const struct qmp_reply *r, void *data)
{
	struct vm *v = data;
	uint64_t actual;

	v->query_inflight = false;
	if (r->err) {
		if (r->err == -EREMOTEIO && strcmp(r->err_class, "DeviceNotActive") == 0) {
			if (v->pol.state != VM_NO_BALLOON)
				vm_log(v, VM_LOG_SESSION, LOG_LVL_WARN,
				       "no active balloon device: %s", r->err_desc);
			set_state(v, VM_NO_BALLOON);
			v->no_balloon_retry_ms = now_ms() + NO_BALLOON_RETRY_MS;
			return;
		}
		note_failure(v, "query-balloon", r);
		return;
	}
	v->consecutive_timeouts = 0;
	if (read_actual(v, r->ret, &actual) < 0) {
		v->stats_bad_replies++;
		vm_log(v, VM_LOG_COMMAND, LOG_LVL_WARN, "query-balloon: bad \"actual\"");
		return;
	}
	if (v->setup == SETUP_QUERY || v->pol.state == VM_NO_BALLOON) {
		adopt_actual(v, actual);
		return;
	}
	if (actual > v->pol.actual_bytes + MIB && actual > v->pol.target_bytes + MIB)
		request_round(v->mgr);	/* the guest took memory: answer now */
	note_actual(v, actual);
	finish_shutdown_if_done(v->mgr, false);
}

static void send_query(struct vm *v)
{
	if (v->query_inflight)
		return;
	if (vm_execute(v, "query-balloon", NULL, on_query_reply) == 0) {
		v->query_inflight = true;
		v->last_query_ms = now_ms();
	}
}

static void on_setup_reply(struct qmp_client *c, const struct qmp_reply *r, void *data)
{
	struct vm *v = data;

	if (r->err == -ECONNRESET || r->err == -ECANCELED)
		return;
	if (r->err && r->err != -EREMOTEIO) {
		note_failure(v, "setup", r);
		/* Retry the step on the next housekeeping pass. */
		return;
	}
	switch (v->setup) {
	case SETUP_MEMSIZE: {
		uint64_t base;

		if (!r->err && qmp_json_u64(json_object_get(r->ret, "base-memory"),
					    &base) == 0 && base) {
			v->boot_bytes = base;
			vm_resolve_sizes(v);
		}
		if (v->cfg.balloon_path[0]) {
			snprintf(v->balloon_path, sizeof(v->balloon_path), "%s",
				 v->cfg.balloon_path);
			v->setup = SETUP_STATS_INTERVAL;
		} else {
			v->setup = SETUP_FIND_BALLOON;
		}
		break;
	}
	case SETUP_FIND_BALLOON:
	case SETUP_FIND_BALLOON_ANON: {
		const char *parent = v->setup == SETUP_FIND_BALLOON ?
			DEFAULT_BALLOON_PARENT : ANON_BALLOON_PARENT;
		size_t i;
		json_t *e;

		v->balloon_path[0] = '\0';
		if (!r->err && json_is_array(r->ret)) {
			json_array_foreach(r->ret, i, e) {
				const char *type = json_string_value(json_object_get(e, "type"));
				const char *name = json_string_value(json_object_get(e, "name"));

				if (type && name && strncmp(type, "child<virtio-balloon", 20) == 0) {
					snprintf(v->balloon_path, sizeof(v->balloon_path),
						 "%s/%s", parent, name);
					break;
				}
			}
		}
		if (v->balloon_path[0])
			v->setup = SETUP_STATS_INTERVAL;
		else if (v->setup == SETUP_FIND_BALLOON)
			v->setup = SETUP_FIND_BALLOON_ANON;
		else
			v->setup = SETUP_QUERY;	/* no stats: ballooning still works */
		break;
	}
	case SETUP_STATS_INTERVAL:
		v->stats_supported = !r->err;
		if (r->err)
			vm_log(v, VM_LOG_SESSION, LOG_LVL_WARN, "cannot enable guest stats on %s: %s",
			       v->balloon_path, r->err_desc);
		v->setup = SETUP_REPORTING;
		break;
	case SETUP_REPORTING:
		/* QEMU before 5.1 has no such property: no reporting. */
		v->free_reporting = !r->err && json_is_true(r->ret);
		vm_log(v, VM_LOG_SESSION, LOG_LVL_INFO, "balloon %s, free page reporting %s",
		       v->balloon_path, v->free_reporting ? "on" : "off");
		v->setup = SETUP_QUERY;
		break;
	case SETUP_QUERY:
	case SETUP_DONE:
		return;
	}
	setup_next(v);
}

static void setup_next(struct vm *v)
{
	json_t *args = NULL;
	const char *cmd = NULL;

	switch (v->setup) {
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
		args = json_pack("{s:s,s:s,s:i}", "path", v->balloon_path, "property",
				 "guest-stats-polling-interval", "value",
				 (int)v->mgr->cfg->stats_interval_s);
		break;
	case SETUP_REPORTING:
		cmd = "qom-get";
		args = json_pack("{s:s,s:s}", "path", v->balloon_path, "property",
				 "free-page-reporting");
		break;
	case SETUP_QUERY:
		send_query(v);
		return;
	case SETUP_DONE:
		return;
	}
	if (vm_execute(v, cmd, args, on_setup_reply) < 0)
		log_debug(v->mgr->log, "vm %s: cannot send %s", v->cfg.name, cmd);
}

static bool quick_guest_pressure(const struct vm *v)
{
	const struct policy_params *p = &v->mgr->params;

	return (gstat_known(&v->stats, GSTAT_AVAIL) &&
		v->stats.val[GSTAT_AVAIL] < v->pol.buffer_bytes) ||
	       (v->refault_ms && v->refault_pps >= p->refault_pps_threshold);
}

static void on_stats_reply(struct qmp_client *c, const struct qmp_reply *r, void *data)
{
	struct vm *v = data;
	struct guest_stats s;
	struct guest_rates rates;
	unsigned bad = 0;
	uint64_t at, now = now_ms(), after = v->stats_answered_ms;
	int k;

	v->stats_inflight = false;
	if (r->err) {
		note_failure(v, "qom-get guest-stats", r);
		return;
	}
	v->consecutive_timeouts = 0;
	if (guest_stats_decode(r->ret, &s, &bad) < 0) {
		v->stats_bad_replies++;
		return;
	}
	v->stats_bad_values += bad;
	/* a sample newer than this one comes after this poll was answered */
	v->stats_answered_ms = v->last_stats_poll_ms;
	/*
	 * QEMU has no sample from the guest at all: its balloon driver has not
	 * been probed (a driver sends one at probe, polling on or not) - the
	 * guest is booting, or has no driver. Not said of a guest before the
	 * first reply: a daemon restarted on running guests sees samples.
	 */
	v->stats_none = s.last_update_s == 0;
	if (v->stats_none)
		return;
	v->stats_clamped += guest_stats_sanitize(&s, v->pol.max_bytes);
	/*
	 * Its stamp tells a new sample from the last one (a stamp that went
	 * back is a new one too: the rates start again), and nothing else.
	 * The guest renews it every stats_interval: when this poll went out,
	 * it was there, and the next one will be stats_interval later.
	 */
	k = guest_rates_update(&v->rate_state, &s, &rates);
	if (k == 0)
		return;
	v->stats_due_ms = v->last_stats_poll_ms + (uint64_t)v->mgr->cfg->stats_interval_s * 1000;
	v->rates = rates;
	v->stats_seen_ms = now;
	if (sample_actual(v, after, now, &at) < 0) {
		/*
		 * Taken while the balloon moved: its levels belong to no size.
		 * The last steady sample (corrected for the moves) stays in use.
		 */
		v->stats_moving++;
		if (v->stats_rx_ms)
			v->stats_rx_ms = now_ms();
		if (quick_guest_pressure(v))
			request_round(v->mgr);
		return;
	}
	v->stats = s;
	v->stats_rx_ms = now_ms();
	v->stats_actual = at;
	read_guest_ram(v->mgr, v, v->stats_rx_ms);
	v->stats_resident_known = v->ram.known;
	v->stats_resident = v->ram.resident_bytes;
	v->stats_swapped = v->ram.swapped_bytes;
	if (v->setup == SETUP_DONE && quick_guest_pressure(v))
		request_round(v->mgr);
}

/*
 * The guest's disk reads, with its QEMU's major faults read at the same
 * moment: the refault rate over the interval since the last reply.
 */
static void on_blockstats_reply(struct qmp_client *c, const struct qmp_reply *r, void *data)
{
	struct vm *v = data;
	uint64_t read_bytes, majflt = 0, now = now_ms();
	double bps;

	v->blockstats_inflight = false;
	if (r->err) {
		/* an old QEMU, or a peer that is not one: refaults stay unknown */
		if (r->err == -EREMOTEIO) {
			v->blockstats_off = true;
			vm_log(v, VM_LOG_COMMAND, LOG_LVL_INFO, "no query-blockstats (%s): "
			       "refaults unknown", r->err_desc ? r->err_desc : "error");
		}
		return;
	}
	if (blockstats_read_bytes(r->ret, &read_bytes) < 0) {
		v->stats_bad_replies++;
		return;
	}
	if (v->ram.known && proc_majflt_read(v->mgr->host.proc_dir, v->peer_pid, &majflt) < 0)
		majflt = v->refault.majflt;	/* a failed read is no fault */
	if (refault_update(&v->refault, now, read_bytes, majflt, REFAULT_MIN_MS, &bps) > 0) {
		v->refault_pps = bps / (double)PAGE_BYTES;
		v->refault_ms = now;
		if (v->setup == SETUP_DONE && quick_guest_pressure(v))
			request_round(v->mgr);
	}
}

static void send_stats_poll(struct vm *v)
{
	json_t *args;

	if (!v->blockstats_off && !v->blockstats_inflight &&
	    vm_execute(v, "query-blockstats", NULL, on_blockstats_reply) == 0)
		v->blockstats_inflight = true;

	if (v->stats_inflight || !v->stats_supported)
		return;
	args = json_pack("{s:s,s:s}", "path", v->balloon_path, "property", "guest-stats");
	if (vm_execute(v, "qom-get", args, on_stats_reply) == 0) {
		v->stats_inflight = true;
		v->last_stats_poll_ms = now_ms();
	}
}

static void on_balloon_reply(struct qmp_client *c, const struct qmp_reply *r, void *data)
{
	struct vm *v = data;
	struct manager *m = v->mgr;
	char a[32], b[32];

	v->balloon_inflight = false;
	if (r->err) {
		if (r->err == -EREMOTEIO && strcmp(r->err_class, "DeviceNotActive") == 0)
			set_state(v, VM_NO_BALLOON);
		note_failure(v, "balloon", r);
		return;
	}
	v->consecutive_timeouts = 0;
	log_info(m->log, "vm %s: target %s -> %s (%s)", v->cfg.name,
		 fmt_bytes(v->pol.target_bytes, a, sizeof(a)),
		 fmt_bytes(v->req_target, b, sizeof(b)), policy_reason_name(v->req_reason));
	policy_commit(&v->pol, v->req_target, now_ms());
	v->targets_sent++;
	m->counters.targets_sent++;
	v->last_reason = v->req_reason;
	v->last_action_ms = now_ms();
	if (v->req_reason == REASON_GUEST_DEFLATED)
		v->guest_deflations++;
	send_query(v);
}

static int send_target(struct vm *v, uint64_t target, enum policy_reason reason)
{
	json_t *args;
	int r;

	if (v->balloon_inflight)
		return -EBUSY;
	target = MAX(target, TARGET_FLOOR_BYTES);
	args = json_pack("{s:I}", "value", (json_int_t)target);
	r = qmp_client_execute(v->qmp, "balloon", args, now_ms(),
			       v->mgr->cfg->qmp_timeout_ms, on_balloon_reply, v);
	json_decref(args);
	if (r < 0)
		return r;
	v->balloon_inflight = true;
	v->req_target = target;
	v->req_reason = reason;
	hist_note(v, v->pol.actual_bytes, true);	/* it starts moving now */
	return 0;
}

/* ------------------------------------------------------------ QMP session */

static void on_qmp_ready(struct qmp_client *c, void *data)
{
	struct vm *v = data;

	log_debug(v->mgr->log, "vm %s: QMP ready", v->cfg.name);
	v->ever_connected = true;
	v->peer_pid = MAX(qmp_client_peer_pid(c), 0);
	memset(&v->ram, 0, sizeof(v->ram));
	v->ram_read_ms = 0;
	v->setup = SETUP_MEMSIZE;
	v->consecutive_timeouts = 0;
	memset(&v->rate_state, 0, sizeof(v->rate_state));
	v->stats_none = false;	/* until QEMU's first reply says so */
	v->stats_due_ms = v->stats_answered_ms = 0;
	setup_next(v);
}

static void on_qmp_event(struct qmp_client *c, const char *name, json_t *ev,
			 void *data)
{
	struct vm *v = data;
	uint64_t actual;

	if (strcmp(name, "BALLOON_CHANGE") == 0) {
		if (read_actual(v, ev, &actual) < 0) {
			v->stats_bad_replies++;
			return;
		}
		if (v->setup != SETUP_DONE)
			return;
		if (actual > v->pol.actual_bytes + MIB && actual > v->pol.target_bytes + MIB)
			request_round(v->mgr);
		note_actual(v, actual);
		finish_shutdown_if_done(v->mgr, false);
	} else if (strcmp(name, "SHUTDOWN") == 0) {
		vm_log(v, VM_LOG_EVENT, LOG_LVL_INFO, "guest is shutting down");
	}
}

static void vm_mark_gone(struct vm *v)
{
	v->gone = true;
	set_state(v, VM_GONE);
}

static void on_qmp_closed(struct qmp_client *c, int err, void *data)
{
	struct vm *v = data;
	uint64_t now = now_ms();

	vm_log(v, VM_LOG_SESSION, LOG_LVL_WARN, "QMP connection lost: %s", strerror(-err));
	v->setup = SETUP_MEMSIZE;
	v->stats_inflight = v->query_inflight = v->balloon_inflight = false;
	set_state(v, VM_CONNECTING);
	vm_connect_later(v, now);
	finish_shutdown_if_done(v->mgr, false);
}

static const struct qmp_client_ops vm_qmp_ops = {
	.ready = on_qmp_ready,
	.event = on_qmp_event,
	.closed = on_qmp_closed,
};

static void vm_connect_later(struct vm *v, uint64_t now)
{
	const struct daemon_config *cfg = v->mgr->cfg;

	v->backoff_ms = v->backoff_ms ? MIN(v->backoff_ms * 2, cfg->reconnect_max_ms)
				      : cfg->reconnect_min_ms;
	v->next_connect_ms = now + v->backoff_ms;
}

static struct vm *vm_new(struct manager *m, const struct vm_config *cfg, bool from_dir)
{
	struct vm *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->mgr = m;
	v->cfg = *cfg;
	v->from_dir = from_dir;
	v->pol.state = VM_CONNECTING;
	vm_resolve_sizes(v);
	if (qmp_client_new(m->loop, cfg->qmp_path, m->cfg->max_message_bytes,
			   &vm_qmp_ops, v, &v->qmp) < 0) {
		free(v);
		return NULL;
	}
	return v;
}

static void vm_free(struct vm *v)
{
	if (!v)
		return;
	qmp_client_free(v->qmp);
	free(v);
}

static int add_vm(struct manager *m, const struct vm_config *cfg, bool from_dir)
{
	struct vm **arr, *v;

	for (size_t i = 0; i < m->nvms; i++) {
		if (strcmp(m->vms[i]->cfg.name, cfg->name) == 0 ||
		    strcmp(m->vms[i]->cfg.qmp_path, cfg->qmp_path) == 0)
			return -EEXIST;
	}
	v = vm_new(m, cfg, from_dir);
	if (!v)
		return -ENOMEM;
	arr = realloc(m->vms, (m->nvms + 1) * sizeof(*arr));
	if (!arr) {
		vm_free(v);
		return -ENOMEM;
	}
	m->vms = arr;
	m->vms[m->nvms++] = v;
	m->counters.vms_added++;
	log_info(m->log, "vm %s: added (%s%s)", cfg->name, cfg->qmp_path,
		 from_dir ? ", found in qmp_dir" : "");
	return 0;
}

static void remove_vm_at(struct manager *m, size_t i, const char *why)
{
	struct vm *v = m->vms[i];

	log_info(m->log, "vm %s: dropped (%s)", v->cfg.name, why);
	memmove(&m->vms[i], &m->vms[i + 1], (m->nvms - i - 1) * sizeof(m->vms[0]));
	m->nvms--;
	m->counters.vms_removed++;
	vm_free(v);
}

static struct vm *find_vm(const struct manager *m, const char *name)
{
	for (size_t i = 0; i < m->nvms; i++)
		if (strcmp(m->vms[i]->cfg.name, name) == 0)
			return m->vms[i];
	return NULL;
}

/* ------------------------------------------------------------ policy round */

static void fill_observations(struct manager *m, struct vm *v, uint64_t now)
{
	struct policy_vm *p = &v->pol;
	const struct guest_stats *s = &v->stats;
	bool fresh = v->stats_rx_ms && now - v->stats_rx_ms <= m->cfg->stats_stale_ms;
	uint64_t now_size;

	p->actual_seen_ms = v->actual_seen_ms;
	p->active = v->setup == SETUP_DONE && qmp_client_is_ready(v->qmp) &&
		    (p->state == VM_OK || p->state == VM_GUEST_DEFLATED ||
		     p->state == VM_UNCOOPERATIVE);
	p->stats_valid = false;
	p->resident_valid = false;
	/* Stats are on and the guest reports, just no usable sample yet. */
	p->stats_expected = !fresh && v->stats_supported &&
			    ((v->adopted_ms && now - v->adopted_ms <= m->cfg->stats_stale_ms) ||
			     (v->stats_seen_ms && now - v->stats_seen_ms <= m->cfg->stats_stale_ms));
	/* Booting: the residency read every RAM_READ_MS says how much of its
	 * memory the guest has touched. */
	p->booting = p->stats_expected && v->stats_none;
	if (p->booting) {
		p->resident_valid = m->params.residency && v->ram.known;
		p->resident_bytes = v->ram.resident_bytes;
		p->swapped_bytes = v->ram.swapped_bytes;
	}
	if (!fresh)
		return;
	if (gstat_known(s, GSTAT_AVAIL))
		p->avail_bytes = s->val[GSTAT_AVAIL];
	else if (gstat_known(s, GSTAT_FREE) && gstat_known(s, GSTAT_CACHES))
		p->avail_bytes = MIN(s->val[GSTAT_FREE] + s->val[GSTAT_CACHES], p->max_bytes);
	else
		return;
	p->free_bytes = gstat_known(s, GSTAT_FREE) ? s->val[GSTAT_FREE] : 0;
	/*
	 * What the balloon did since the sample was taken (a deflation in
	 * flight counts: the policy grants on top of the target). Without this,
	 * every round until the next sample would take the same excess again
	 * (seen: 512 -> 128 MiB in 0.5 s on one sample, far below what the
	 * guest used), or grant the same shortfall again.
	 */
	now_size = MAX(p->actual_bytes, p->target_bytes);
	if (now_size >= v->stats_actual) {
		p->avail_bytes = MIN(p->avail_bytes + (now_size - v->stats_actual), now_size);
		p->free_bytes = MIN(p->free_bytes + (now_size - v->stats_actual), now_size);
	} else {
		p->avail_bytes = sat_sub(p->avail_bytes, v->stats_actual - now_size);
		p->free_bytes = sat_sub(p->free_bytes, v->stats_actual - now_size);
	}
	p->total_bytes = gstat_known(s, GSTAT_TOTAL) ? s->val[GSTAT_TOTAL] : p->max_bytes;
	/* What the host backed when the guest took this sample. */
	p->resident_valid = m->params.residency && v->stats_resident_known;
	p->resident_bytes = v->stats_resident;
	p->swapped_bytes = v->stats_swapped;
	p->free_reporting = v->free_reporting;
	p->refault_valid = v->refault_ms && now - v->refault_ms <= m->cfg->stats_stale_ms;
	p->refault_pps = v->refault_pps;
	p->refault_ms = v->refault_ms;
	p->stats_valid = true;
}

static void resolve_params(struct manager *m)
{
	const struct daemon_config *c = m->cfg;
	uint64_t total = m->hm.total_bytes;

	m->params = c->params;
	m->params.kind = c->policy;
	m->params.host_low_bytes = size_spec_resolve(&c->host_low, total);
	m->params.host_high_bytes = size_spec_resolve(&c->host_high, total);
	if (m->params.host_high_bytes <= m->params.host_low_bytes)
		m->params.host_high_bytes = m->params.host_low_bytes + 16 * MIB;
}

static uint64_t projected_avail(const struct manager *m)
{
	return policy_projected_avail(&m->params, m->hm.avail_bytes,
				      avail_trend_fall_bps(&m->trend),
				      avail_trend_falling_ms(&m->trend));
}

static int read_host(struct manager *m)
{
	int r = host_mem_read(&m->host, &m->hm);

	if (r < 0) {
		m->counters.host_read_errors++;
		if (!m->host_err_logged)
			log_err(m->log, "cannot read host memory (%s%s): %s; skipping rounds",
				host_kind_name(m->host.kind),
				m->host.kind == HOST_PROC ? "" : m->host.cgroup_dir,
				strerror(-r));
		m->host_err_logged = true;
		m->host_ok = false;
		return r;
	}
	m->psi_ok = m->psi_avg_path[0] && psi_read(m->psi_avg_path, &m->psi) == 0;
	avail_trend_update(&m->trend, now_ms(), m->hm.avail_bytes);
	if (m->host_err_logged)
		log_info(m->log, "host memory readable again");
	m->host_err_logged = false;
	m->host_ok = true;
	return 0;
}

static void do_round(struct manager *m);

static void run_round(struct manager *m)
{
	uint64_t t0 = now_us();

	do_round(m);
	m->counters.round_us_last = now_us() - t0;
	m->counters.round_us_max = MAX(m->counters.round_us_max, m->counters.round_us_last);
}

static void do_round(struct manager *m)
{
	uint64_t now = now_ms();
	struct policy_vm *pv;

	m->last_round_ms = now;
	if (read_host(m) < 0 || m->paused || m->shutting_down)
		return;
	resolve_params(m);
	pv = calloc(m->nvms ? m->nvms : 1, sizeof(*pv));
	if (!pv)
		return;
	for (size_t i = 0; i < m->nvms; i++) {
		fill_observations(m, m->vms[i], now);
		pv[i] = m->vms[i]->pol;
	}
	m->ph.now_ms = now;
	m->ph.total_bytes = m->hm.total_bytes;
	m->ph.avail_bytes = m->hm.avail_bytes;
	m->ph.avail_fall_bps = avail_trend_fall_bps(&m->trend);
	m->ph.avail_falling_ms = avail_trend_falling_ms(&m->trend);
	m->ph.pressure_event = m->pressure_pending;
	m->pressure_pending = false;
	m->ph.swapped_bytes = m->last_swap_valid ?
		sat_sub(m->hm.swap_used_bytes, m->last_swap_bytes) : 0;
	m->last_swap_bytes = m->hm.swap_used_bytes;
	m->last_swap_valid = true;
	policy_round(&m->params, &m->ph, pv, m->nvms);
	m->counters.rounds++;
	if (m->ph.pressured || m->ph.need_bytes || m->ph.grant_bytes)
		log_debug(m->log, "round: host avail %llu MiB (used %llu, swap %llu)%s, "
			  "need %llu, reclaim %llu, unmet %llu, grant %llu MiB",
			  (unsigned long long)(m->hm.avail_bytes / MIB),
			  (unsigned long long)(m->hm.used_bytes / MIB),
			  (unsigned long long)(m->hm.swap_used_bytes / MIB),
			  m->ph.pressured ? " (pressured)" : "",
			  (unsigned long long)(m->ph.need_bytes / MIB),
			  (unsigned long long)(m->ph.reclaim_bytes / MIB),
			  (unsigned long long)(m->ph.unmet_bytes / MIB),
			  (unsigned long long)(m->ph.grant_bytes / MIB));

	for (size_t i = 0; i < m->nvms; i++) {
		struct vm *v = m->vms[i];

		v->pol = pv[i];
		if (!pv[i].set_target)
			continue;
		if (pv[i].reason == REASON_UNCOOPERATIVE)
			log_warn(m->log, "vm %s: actual does not follow the target: "
				 "uncooperative, leaving it alone", v->cfg.name);
		if (send_target(v, pv[i].new_target_bytes, pv[i].reason) < 0)
			log_debug(m->log, "vm %s: target change deferred", v->cfg.name);
	}
	free(pv);
}

static void on_round_timer(struct loop_watch *w, uint64_t exp, void *data)
{
	struct manager *m = data;

	m->round_armed = false;
	m->counters.immediate_rounds++;
	run_round(m);
}

static void request_round(struct manager *m)
{
	uint64_t now = now_ms(), at;

	if (m->round_armed || !m->round_timer)
		return;
	at = m->last_round_ms + MIN_ROUND_GAP_MS;
	loop_timer_arm(m->round_timer, at > now ? at - now : 1, 0);
	m->round_armed = true;
}

static void on_tick(struct loop_watch *w, uint64_t exp, void *data)
{
	struct manager *m = data;

	if (exp > 1)
		m->counters.ticks_missed += exp - 1;
	run_round(m);
}

/* ------------------------------------------------------------ housekeeping */

/*
 * What the host backs of the guest's RAM. The QMP peer must look like the
 * VM's QEMU: guest RAM mappings of about its boot size (a manager that made
 * the socket, such as libvirt, has none).
 */
static void read_guest_ram(struct manager *m, struct vm *v, uint64_t now)
{
	bool was = v->ram.known;
	int r;

	v->ram_read_ms = now;
	r = guest_ram_track(&v->ram, m->host.proc_dir, v->peer_pid, v->boot_bytes, now);
	if (r == 0) {
		if (!was)
			vm_log(v, VM_LOG_SESSION, LOG_LVL_INFO, "host-backed guest RAM from pid %d: "
			       "%u mapping(s), %" PRIu64 " MiB, %" PRIu64 " MiB resident",
			       v->peer_pid, v->ram.smaps.mappings,
			       (uint64_t)(v->ram.smaps.mapped_bytes / MIB),
			       (uint64_t)(v->ram.resident_bytes / MIB));
		v->ram_err = 0;
	} else if (r != v->ram_err) {
		vm_log(v, VM_LOG_SESSION, LOG_LVL_INFO, "host-backed guest RAM unknown (QMP peer "
		       "pid %d: %s); assuming the host backs all of it", v->peer_pid,
		       r == -EMEDIUMTYPE ? "no guest RAM mappings of the VM's size" :
		       strerror(-r));
		v->ram_err = r;
	}
}

static void vm_housekeeping(struct manager *m, struct vm *v, uint64_t now)
{
	int r;

	if (!qmp_client_is_connected(v->qmp)) {
		if (now < v->next_connect_ms)
			return;
		r = qmp_client_connect(v->qmp, now, m->cfg->qmp_timeout_ms);
		if (r < 0) {
			if (v->last_connect_err != r)
				vm_log(v, VM_LOG_SESSION, LOG_LVL_WARN, "cannot connect to %s: %s",
				       v->cfg.qmp_path, strerror(-r));
			v->last_connect_err = r;
			if (!v->first_fail_ms)
				v->first_fail_ms = now;
			/* A socket that refuses us after it worked, or for long: gone. */
			if ((r == -ECONNREFUSED || r == -ENOENT) &&
			    (v->ever_connected || now - v->first_fail_ms >= GONE_AFTER_MS))
				vm_mark_gone(v);
			vm_connect_later(v, now);
		} else {
			v->last_connect_err = 0;
			v->first_fail_ms = 0;
		}
		return;
	}
	qmp_client_tick(v->qmp, now);
	if (!qmp_client_is_ready(v->qmp))
		return;
	if (v->setup != SETUP_DONE) {
		/* A setup step failed transiently: re-issue it. */
		if (!qmp_client_pending(v->qmp) && v->pol.state != VM_NO_BALLOON)
			setup_next(v);
		else if (v->pol.state == VM_NO_BALLOON && now >= v->no_balloon_retry_ms)
			send_query(v);
		return;
	}
	if (v->pol.state == VM_NO_BALLOON) {
		if (now >= v->no_balloon_retry_ms)
			send_query(v);
		return;
	}
	if (now - v->ram_read_ms >= RAM_READ_MS)
		read_guest_ram(m, v, now);
	/*
	 * The guest renews its sample every stats_interval: before the next
	 * one is due a poll can only return the same sample again (half the
	 * polls at the defaults). Due by the daemon's own clock (a tick's
	 * jitter early at most), never by the guest's stamp: one stamped an
	 * hour ahead, or a host clock stepped back, stopped the polls.
	 */
	if (now - v->last_stats_poll_ms >= m->cfg->stats_poll_ms &&
	    now + HOUSEKEEPING_MS / 2 >= v->stats_due_ms)
		send_stats_poll(v);
	if (now - v->last_query_ms >=
	    (absdiff_u64(v->pol.actual_bytes, v->pol.target_bytes) > MIB ||
	     m->shutting_down ? QUERY_CONVERGING_MS : QUERY_IDLE_MS))
		send_query(v);
}

static void housekeeping(struct manager *m);

static void on_housekeeping(struct loop_watch *w, uint64_t exp, void *data)
{
	struct manager *m = data;
	uint64_t t0 = now_us();

	housekeeping(m);
	m->counters.housekeeping_us_max = MAX(m->counters.housekeeping_us_max,
					      now_us() - t0);
}

static void housekeeping(struct manager *m)
{
	uint64_t now = now_ms();

	for (size_t i = 0; i < m->nvms;) {
		struct vm *v = m->vms[i];

		vm_housekeeping(m, v, now);
		vm_log_flush(v, now);
		/* A VM found in qmp_dir whose QEMU is gone is dropped. */
		if (v->from_dir && v->gone && !qmp_client_is_connected(v->qmp)) {
			remove_vm_at(m, i, "QEMU gone");
			continue;
		}
		i++;
	}
	if (m->shutting_down) {
		finish_shutdown_if_done(m, now >= m->shutdown_deadline_ms);
		return;
	}
	/*
	 * Sample the host between ticks: a guest filling its page cache can
	 * eat the headroom in a fraction of a second, before the kernel's
	 * pressure notification (which comes once reclaim has started).
	 */
	if (!m->paused && read_host(m) == 0 &&
	    projected_avail(m) < m->params.host_low_bytes)
		request_round(m);
}

/* ------------------------------------------------------------ host pressure */

static void on_pressure(struct loop_watch *w, uint32_t events, void *data)
{
	struct manager *m = data;

	if (events & EPOLLERR) {
		log_warn(m->log, "pressure monitor %s went away; using the tick only",
			 m->pmon.source);
		loop_remove(m->pressure_watch);
		m->pressure_watch = NULL;
		pressure_mon_close(&m->pmon);
		return;
	}
	pressure_mon_ack(&m->pmon);
	m->counters.pressure_events++;
	m->pressure_pending = true;
	log_debug(m->log, "host memory pressure event");
	request_round(m);
}

static int open_pressure(struct manager *m)
{
	const struct daemon_config *c = m->cfg;
	char psi[PATH_MAX + 32];
	enum pressure_mode mode = c->pressure;
	int r = -ENOENT;

	loop_remove(m->pressure_watch);
	m->pressure_watch = NULL;
	pressure_mon_close(&m->pmon);
	m->psi_avg_path[0] = '\0';
	if (mode == PRESSURE_MODE_NONE)
		return 0;

	if (c->psi_path[0])
		snprintf(psi, sizeof(psi), "%s", c->psi_path);
	else if (m->host.kind == HOST_CGROUP_V2)
		snprintf(psi, sizeof(psi), "%s/memory.pressure", m->host.cgroup_dir);
	else
		snprintf(psi, sizeof(psi), "%s/pressure/memory", c->proc_dir);
	snprintf(m->psi_avg_path, sizeof(m->psi_avg_path), "%s", psi);

	if (mode == PRESSURE_MODE_VMPRESSURE ||
	    (mode == PRESSURE_MODE_AUTO && m->host.kind == HOST_CGROUP_V1)) {
		r = vmpressure_open(&m->pmon, m->host.cgroup_dir, c->vmpressure_level);
		if (r < 0 && mode == PRESSURE_MODE_VMPRESSURE)
			return r;
	}
	if (r < 0)
		r = psi_trigger_open(&m->pmon, psi, c->psi_stall_us, c->psi_window_us);
	if (r < 0) {
		if (mode == PRESSURE_MODE_PSI)
			return r;
		log_warn(m->log, "no pressure notifications (%s: %s); using the tick only",
			 psi, strerror(-r));
		return 0;
	}
	r = loop_add_io(m->loop, m->pmon.fd, m->pmon.poll_events, 0, on_pressure, m,
			&m->pressure_watch);
	if (r < 0)
		return r;
	log_info(m->log, "pressure notifications: %s on %s",
		 pressure_kind_name(m->pmon.kind), m->pmon.source);
	return 0;
}

/* ------------------------------------------------------------ qmp_dir */

static bool vm_name_from_file(const char *file, char *name, size_t len)
{
	size_t n = strlen(file);

	if (n > 4 && strcmp(file + n - 4, ".qmp") == 0)
		n -= 4;
	else if (n > 5 && strcmp(file + n - 5, ".sock") == 0)
		n -= 5;
	else
		return false;
	if (n == 0 || n >= len || file[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = file[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
			return false;
	}
	memcpy(name, file, n);
	name[n] = '\0';
	return true;
}

static void dir_add(struct manager *m, const char *file)
{
	char path[PATH_MAX], name[64];
	struct vm_config vc;
	struct stat st;

	if (!vm_name_from_file(file, name, sizeof(name)))
		return;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", m->cfg->qmp_dir, file) >=
	    sizeof(path))
		return;
	if (stat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return;
	if (find_vm(m, name))
		return;
	config_vm_from_defaults(m->cfg, name, path, &vc);
	if (add_vm(m, &vc, true) < 0)
		return;
	/* QEMU binds before it listens: the first connect may be refused. */
	m->vms[m->nvms - 1]->next_connect_ms = now_ms() + 50;
}

static void dir_remove(struct manager *m, const char *file)
{
	char name[64];

	if (!vm_name_from_file(file, name, sizeof(name)))
		return;
	for (size_t i = 0; i < m->nvms; i++) {
		struct vm *v = m->vms[i];

		if (!v->from_dir || strcmp(v->cfg.name, name) != 0)
			continue;
		/*
		 * The file went but QEMU may still be there (the session is
		 * alive): a guest nobody manages any more must not stay
		 * squeezed. The command is written before the session closes.
		 */
		if (v->setup == SETUP_DONE && qmp_client_is_ready(v->qmp) &&
		    v->pol.state != VM_NO_BALLOON && v->pol.target_bytes < v->pol.max_bytes) {
			v->balloon_inflight = false;
			if (send_target(v, v->pol.max_bytes, REASON_BOUNDS) == 0)
				log_info(m->log, "vm %s: socket removed: returning the balloon to max",
					 v->cfg.name);
		}
		remove_vm_at(m, i, "socket removed");
		return;
	}
}

static void dir_scan(struct manager *m)
{
	DIR *d = opendir(m->cfg->qmp_dir);
	struct dirent *e;

	if (!d) {
		log_warn(m->log, "cannot read qmp_dir %s: %s", m->cfg->qmp_dir,
			 strerror(errno));
		return;
	}
	while ((e = readdir(d)))
		dir_add(m, e->d_name);
	closedir(d);
}

static void on_inotify(struct loop_watch *w, uint32_t events, void *data)
{
	struct manager *m = data;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(m->inotify_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)(void *)p;

			if (ev->mask & IN_Q_OVERFLOW)
				dir_scan(m);
			else if (ev->len && (ev->mask & (IN_CREATE | IN_MOVED_TO | IN_ATTRIB)))
				dir_add(m, ev->name);
			else if (ev->len && (ev->mask & (IN_DELETE | IN_MOVED_FROM)))
				dir_remove(m, ev->name);
			p += sizeof(*ev) + ev->len;
		}
	}
}

static int start_qmp_dir(struct manager *m)
{
	int r;

	if (!m->cfg->qmp_dir[0])
		return 0;
	m->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (m->inotify_fd < 0)
		return -errno;
	if (inotify_add_watch(m->inotify_fd, m->cfg->qmp_dir,
			      IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM |
			      IN_ATTRIB) < 0) {
		r = -errno;
		close(m->inotify_fd);
		m->inotify_fd = -1;
		return r;
	}
	r = loop_add_io(m->loop, m->inotify_fd, EPOLLIN, 0, on_inotify, m,
			&m->inotify_watch);
	if (r < 0)
		return r;
	dir_scan(m);
	log_info(m->log, "watching %s for QMP sockets", m->cfg->qmp_dir);
	return 0;
}

static void stop_qmp_dir(struct manager *m)
{
	loop_remove(m->inotify_watch);
	m->inotify_watch = NULL;
	if (m->inotify_fd >= 0)
		close(m->inotify_fd);
	m->inotify_fd = -1;
}

/* ------------------------------------------------------------ lifecycle */

int manager_new(struct loop *l, const struct logger *log,
		struct daemon_config *cfg, struct manager **ret)
{
	struct manager *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->loop = l;
	m->log = log;
	m->cfg = cfg;
	m->inotify_fd = -1;
	pressure_mon_init(&m->pmon);
	*ret = m;
	return 0;
}

void manager_free(struct manager *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nvms; i++)
		vm_free(m->vms[i]);
	free(m->vms);
	loop_remove(m->tick_timer);
	loop_remove(m->hk_timer);
	loop_remove(m->round_timer);
	loop_remove(m->pressure_watch);
	pressure_mon_close(&m->pmon);
	stop_qmp_dir(m);
	free(m);
}

static int setup_host(struct manager *m)
{
	const struct daemon_config *c = m->cfg;
	char a[32], b[32];
	int r;

	r = host_source_init(&m->host, c->proc_dir, c->cgroup, c->cgroup_version);
	if (r < 0) {
		log_err(m->log, "host: cannot use %s: %s", c->cgroup[0] ? c->cgroup : c->proc_dir,
			strerror(-r));
		return r;
	}
	r = read_host(m);
	if (r < 0)
		return r;
	resolve_params(m);
	log_info(m->log, "host: %s%s%s, %s total, %s available", host_kind_name(m->host.kind),
		 m->host.kind == HOST_PROC ? "" : " ", m->host.cgroup_dir,
		 fmt_bytes(m->hm.total_bytes, a, sizeof(a)),
		 fmt_bytes(m->hm.avail_bytes, b, sizeof(b)));
	log_info(m->log, "host: pressured below %s available, relaxed above %s",
		 fmt_bytes(m->params.host_low_bytes, a, sizeof(a)),
		 fmt_bytes(m->params.host_high_bytes, b, sizeof(b)));
	return open_pressure(m);
}

int manager_start(struct manager *m)
{
	int r;

	r = setup_host(m);
	if (r < 0)
		return r;
	for (size_t i = 0; i < m->cfg->nvms; i++) {
		r = add_vm(m, &m->cfg->vms[i], false);
		if (r < 0)
			return r;
	}
	r = start_qmp_dir(m);
	if (r < 0) {
		log_err(m->log, "cannot watch qmp_dir %s: %s", m->cfg->qmp_dir, strerror(-r));
		return r;
	}
	r = loop_add_timer(m->loop, m->cfg->tick_ms, m->cfg->tick_ms, on_tick, m,
			   &m->tick_timer);
	if (r == 0)
		r = loop_add_timer(m->loop, 1, HOUSEKEEPING_MS, on_housekeeping, m,
				   &m->hk_timer);
	if (r == 0)
		r = loop_add_timer(m->loop, 0, 0, on_round_timer, m, &m->round_timer);
	log_info(m->log, "policy %s, tick %llu ms, %zu VMs configured",
		 policy_kind_name(m->cfg->policy), (unsigned long long)m->cfg->tick_ms,
		 m->cfg->nvms);
	return r;
}

int manager_reload(struct manager *m, struct daemon_config *cfg)
{
	struct daemon_config *old = m->cfg;
	bool host_changed = strcmp(old->cgroup, cfg->cgroup) ||
			    strcmp(old->proc_dir, cfg->proc_dir) ||
			    old->cgroup_version != cfg->cgroup_version ||
			    old->pressure != cfg->pressure ||
			    strcmp(old->psi_path, cfg->psi_path) ||
			    old->psi_stall_us != cfg->psi_stall_us ||
			    old->psi_window_us != cfg->psi_window_us;
	bool dir_changed = strcmp(old->qmp_dir, cfg->qmp_dir) != 0;
	int r;

	/* Swap the configuration contents in place: VMs keep pointing at m->cfg. */
	config_free(old);
	*old = *cfg;
	cfg->vms = NULL;
	cfg->nvms = 0;

	/* Drop configured VMs that are gone or changed socket; update the rest. */
	for (size_t i = 0; i < m->nvms;) {
		struct vm *v = m->vms[i];
		const struct vm_config *nc = config_find_vm(old, v->cfg.name);

		if (v->from_dir && !dir_changed) {
			i++;
			continue;
		}
		if (!nc || strcmp(nc->qmp_path, v->cfg.qmp_path) != 0) {
			if (v->setup == SETUP_DONE && v->pol.target_bytes < v->pol.max_bytes)
				send_target(v, v->pol.max_bytes, REASON_BOUNDS);
			remove_vm_at(m, i, "no longer configured");
			continue;
		}
		v->cfg = *nc;
		vm_resolve_sizes(v);
		i++;
	}
	for (size_t i = 0; i < old->nvms; i++)
		if (!find_vm(m, old->vms[i].name))
			add_vm(m, &old->vms[i], false);
	if (dir_changed) {
		stop_qmp_dir(m);
		r = start_qmp_dir(m);
		if (r < 0)
			log_err(m->log, "cannot watch qmp_dir %s: %s", old->qmp_dir,
				strerror(-r));
	}
	loop_timer_arm(m->tick_timer, old->tick_ms, old->tick_ms);
	if (host_changed) {
		r = setup_host(m);
		if (r < 0)
			return r;
	}
	log_info(m->log, "configuration reloaded: policy %s, %zu VMs",
		 policy_kind_name(old->policy), m->nvms);
	request_round(m);
	return 0;
}

void manager_pause(struct manager *m, bool paused)
{
	if (m->paused != paused)
		log_info(m->log, "%s", paused ? "paused: no balloon changes until resume"
					      : "resumed");
	m->paused = paused;
	if (!paused)
		request_round(m);
}

bool manager_paused(const struct manager *m)
{
	return m->paused;
}

static void finish_shutdown_if_done(struct manager *m, bool force)
{
	void (*done)(void *data);

	if (!m->shutting_down || !m->shutdown_done)
		return;
	if (!force && m->cfg->restore_on_exit) {
		for (size_t i = 0; i < m->nvms; i++) {
			struct vm *v = m->vms[i];

			if (v->setup == SETUP_DONE && qmp_client_is_ready(v->qmp) &&
			    v->pol.state != VM_NO_BALLOON &&
			    v->pol.actual_bytes + MIB < v->pol.max_bytes)
				return;
		}
	}
	if (force)
		log_warn(m->log, "restore timeout: exiting with balloons still deflating");
	done = m->shutdown_done;
	m->shutdown_done = NULL;
	done(m->shutdown_data);
}

void manager_shutdown(struct manager *m, void (*done)(void *data), void *data)
{
	m->shutting_down = true;
	m->shutdown_done = done;
	m->shutdown_data = data;
	m->shutdown_deadline_ms = now_ms() + m->cfg->restore_timeout_ms;
	if (m->cfg->restore_on_exit) {
		for (size_t i = 0; i < m->nvms; i++) {
			struct vm *v = m->vms[i];

			if (v->setup != SETUP_DONE || !qmp_client_is_ready(v->qmp) ||
			    v->pol.state == VM_NO_BALLOON)
				continue;
			/* Even if a change is in flight: this one wins. */
			v->balloon_inflight = false;
			if (send_target(v, v->pol.max_bytes, REASON_BOUNDS) == 0)
				log_info(m->log, "vm %s: returning the balloon to max", v->cfg.name);
		}
	}
	finish_shutdown_if_done(m, false);
}

int manager_set_vm(struct manager *m, const char *name, const char *min,
		   const char *max, const char *weight, char *err, size_t errlen)
{
	struct vm *v = find_vm(m, name);
	struct vm_config nc;
	uint64_t w;

	if (!v) {
		snprintf(err, errlen, "no VM named \"%s\"", name);
		return -ENOENT;
	}
	nc = v->cfg;
	if (min && parse_size_or_pct(min, &nc.min.bytes, &nc.min.pct_x100) < 0) {
		snprintf(err, errlen, "min: expected a size or a percentage, got \"%s\"", min);
		return -EINVAL;
	}
	if (max) {
		nc.max.pct_x100 = 0;
		if (parse_size(max, &nc.max.bytes) < 0) {
			snprintf(err, errlen, "max: expected a size, got \"%s\"", max);
			return -EINVAL;
		}
		nc.max.set = true;
	}
	if (weight) {
		if (parse_u64(weight, &w) < 0 || w < 1 || w > 10000) {
			snprintf(err, errlen, "weight: expected 1-10000, got \"%s\"", weight);
			return -EINVAL;
		}
		nc.weight = (uint32_t)w;
	}
	if (min)
		nc.min.set = true;
	if (nc.min.set && nc.max.set && !nc.min.pct_x100 && nc.min.bytes > nc.max.bytes) {
		snprintf(err, errlen, "min is above max");
		return -EINVAL;
	}
	if (v->boot_bytes && nc.max.set && nc.max.bytes > v->boot_bytes) {
		snprintf(err, errlen, "max is above the VM's boot memory (%llu MiB)",
			 (unsigned long long)(v->boot_bytes / MIB));
		return -EINVAL;
	}
	v->cfg = nc;
	vm_resolve_sizes(v);
	log_info(m->log, "vm %s: set%s%s%s%s%s%s", name, min ? " min=" : "", min ? min : "",
		 max ? " max=" : "", max ? max : "", weight ? " weight=" : "",
		 weight ? weight : "");
	request_round(m);
	return 0;
}

const struct manager_counters *manager_counters(const struct manager *m)
{
	return &m->counters;
}

/* ------------------------------------------------------------ dump */

static json_t *vm_json(const struct manager *m, const struct vm *v, bool status_only)
{
	const struct policy_vm *p = &v->pol;
	uint64_t now = now_ms();
	bool fresh = v->stats_rx_ms && now - v->stats_rx_ms <= m->cfg->stats_stale_ms;
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(v->cfg.name));
	json_object_set_new(o, "state", json_string(vm_state_name(p->state)));
	json_object_set_new(o, "max_bytes", json_integer((json_int_t)p->max_bytes));
	json_object_set_new(o, "min_bytes", json_integer((json_int_t)p->min_bytes));
	json_object_set_new(o, "target_bytes", v->setup == SETUP_DONE ?
			    json_integer((json_int_t)p->target_bytes) : json_null());
	json_object_set_new(o, "actual_bytes", v->setup == SETUP_DONE ?
			    json_integer((json_int_t)p->actual_bytes) : json_null());
#define STAT_OR_NULL(g) (fresh && gstat_known(&v->stats, (g)) ? \
	json_integer((json_int_t)v->stats.val[(g)]) : json_null())
	json_object_set_new(o, "available_bytes", STAT_OR_NULL(GSTAT_AVAIL));
	json_object_set_new(o, "cache_bytes", STAT_OR_NULL(GSTAT_CACHES));
	json_object_set_new(o, "swapin_pps", fresh ? json_real(v->rates.swapin_pps) : json_null());
	json_object_set_new(o, "majflt_ps", fresh ? json_real(v->rates.majflt_ps) : json_null());
	json_object_set_new(o, "refault_pps", v->pol.refault_valid ?
			    json_real(v->refault_pps) : json_null());
	json_object_set_new(o, "keep_bytes", now_ms() < v->pol.keep_until_ms ?
			    json_integer((json_int_t)v->pol.keep_bytes) : json_null());
	json_object_set_new(o, "cooldown_ms", json_integer(
		(json_int_t)(p->cooldown_until_ms > now ? p->cooldown_until_ms - now : 0)));
	if (status_only)
		return o;
	json_object_set_new(o, "qmp", json_string(v->cfg.qmp_path));
	json_object_set_new(o, "from_qmp_dir", json_boolean(v->from_dir));
	json_object_set_new(o, "connected", json_boolean(qmp_client_is_ready(v->qmp)));
	json_object_set_new(o, "balloon_path", json_string(v->balloon_path));
	json_object_set_new(o, "boot_bytes", json_integer((json_int_t)v->boot_bytes));
	json_object_set_new(o, "qemu_pid", v->ram.known ? json_integer(v->peer_pid) : json_null());
	json_object_set_new(o, "resident_bytes", v->ram.known ?
			    json_integer((json_int_t)v->ram.resident_bytes) : json_null());
	json_object_set_new(o, "swapped_bytes", v->ram.known ?
			    json_integer((json_int_t)v->ram.swapped_bytes) : json_null());
	json_object_set_new(o, "free_page_reporting", json_boolean(v->free_reporting));
	json_object_set_new(o, "buffer_bytes", json_integer((json_int_t)p->buffer_bytes));
	json_object_set_new(o, "weight", json_integer(p->weight));
	json_object_set_new(o, "free_bytes", STAT_OR_NULL(GSTAT_FREE));
	json_object_set_new(o, "total_bytes", STAT_OR_NULL(GSTAT_TOTAL));
	json_object_set_new(o, "swapout_pps", fresh ? json_real(v->rates.swapout_pps) : json_null());
	json_object_set_new(o, "swap_in_bytes", STAT_OR_NULL(GSTAT_SWAP_IN));
	json_object_set_new(o, "swap_out_bytes", STAT_OR_NULL(GSTAT_SWAP_OUT));
	json_object_set_new(o, "major_faults", STAT_OR_NULL(GSTAT_MAJFLT));
#undef STAT_OR_NULL
	json_object_set_new(o, "stats_age_ms", v->stats_rx_ms ?
			    json_integer((json_int_t)(now - v->stats_rx_ms)) : json_null());
	json_object_set_new(o, "last_reason", json_string(policy_reason_name(v->last_reason)));
	json_object_set_new(o, "last_action_age_ms", v->last_action_ms ?
			    json_integer((json_int_t)(now - v->last_action_ms)) : json_null());
	json_object_set_new(o, "targets_sent", json_integer((json_int_t)v->targets_sent));
	json_object_set_new(o, "guest_deflations", json_integer((json_int_t)v->guest_deflations));
	json_object_set_new(o, "qmp_failures", json_integer((json_int_t)v->qmp_failures));
	json_object_set_new(o, "stats_bad_values", json_integer((json_int_t)v->stats_bad_values));
	json_object_set_new(o, "stats_clamped", json_integer((json_int_t)v->stats_clamped));
	json_object_set_new(o, "stats_bad_replies", json_integer((json_int_t)v->stats_bad_replies));
	json_object_set_new(o, "stats_moving", json_integer((json_int_t)v->stats_moving));
	{
		const struct qmp_client_counters *qc = qmp_client_counters(v->qmp);

		json_object_set_new(o, "qmp_counters", json_pack(
			"{s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
			"commands", (json_int_t)qc->commands, "replies", (json_int_t)qc->replies,
			"errors", (json_int_t)qc->errors, "timeouts", (json_int_t)qc->timeouts,
			"events", (json_int_t)qc->events, "bad_messages", (json_int_t)qc->bad_messages,
			"disconnects", (json_int_t)qc->disconnects));
	}
	return o;
}

json_t *manager_dump(const struct manager *m, bool status_only)
{
	json_t *root = json_object(), *vms = json_array(), *host = json_object();
	const struct policy_host *ph = &m->ph;

	for (size_t i = 0; i < m->nvms; i++)
		json_array_append_new(vms, vm_json(m, m->vms[i], status_only));
	json_object_set_new(host, "kind", json_string(host_kind_name(m->host.kind)));
	json_object_set_new(host, "cgroup", json_string(m->host.cgroup_dir));
	json_object_set_new(host, "readable", json_boolean(m->host_ok));
	json_object_set_new(host, "total_bytes", json_integer((json_int_t)m->hm.total_bytes));
	json_object_set_new(host, "used_bytes", json_integer((json_int_t)m->hm.used_bytes));
	json_object_set_new(host, "available_bytes", json_integer((json_int_t)m->hm.avail_bytes));
	json_object_set_new(host, "available_fall_bytes_per_s",
			    json_integer((json_int_t)avail_trend_fall_bps(&m->trend)));
	json_object_set_new(host, "available_falling_ms",
			    json_integer((json_int_t)avail_trend_falling_ms(&m->trend)));
	json_object_set_new(host, "available_projected_bytes",
			    json_integer((json_int_t)projected_avail(m)));
	json_object_set_new(host, "low_bytes", json_integer((json_int_t)m->params.host_low_bytes));
	json_object_set_new(host, "high_bytes", json_integer((json_int_t)m->params.host_high_bytes));
	json_object_set_new(host, "pressured", json_boolean(ph->pressured));
	/* auto: what the shares are taken from (the rest of the host's use) */
	if (m->cfg->policy == POLICY_AUTO && ph->overhead_ms)
		json_object_set_new(host, "overhead_bytes",
				    json_integer((json_int_t)ph->overhead_bytes));
	json_object_set_new(host, "psi_some_avg10", m->psi_ok ? json_real(m->psi.some_avg10)
							       : json_null());
	json_object_set_new(host, "pressure_source", json_string(
		m->pmon.kind == PRESSURE_NONE ? "none" : m->pmon.source));
	json_object_set_new(root, "host", host);
	json_object_set_new(root, "policy", json_string(policy_kind_name(m->cfg->policy)));
	json_object_set_new(root, "paused", json_boolean(m->paused));
	json_object_set_new(root, "vms", vms);
	if (status_only)
		return root;
	json_object_set_new(host, "swap_used_bytes", json_integer((json_int_t)m->hm.swap_used_bytes));
	json_object_set_new(host, "swap_total_bytes", json_integer((json_int_t)m->hm.swap_total_bytes));
	json_object_set_new(host, "swap_free_bytes", json_integer((json_int_t)m->hm.swap_free_bytes));
	json_object_set_new(root, "last_round", json_pack("{s:I,s:I,s:I,s:I,s:I}",
		"need_bytes", (json_int_t)ph->need_bytes,
		"unmet_bytes", (json_int_t)ph->unmet_bytes,
		"reclaim_bytes", (json_int_t)ph->reclaim_bytes,
		"grant_bytes", (json_int_t)ph->grant_bytes,
		"giveback_bytes", (json_int_t)ph->giveback_bytes));
	json_object_set_new(root, "params", json_pack(
		"{s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:I,s:I,s:I,s:I,s:I}",
		"deadband_bytes", (json_int_t)m->params.deadband_bytes,
		"step_inflate_bytes", (json_int_t)m->params.step_inflate_bytes,
		"giveback_bytes", (json_int_t)m->params.giveback_bytes,
		"cooldown_ms", (json_int_t)m->params.cooldown_ms,
		"relax_delay_ms", (json_int_t)m->params.relax_delay_ms,
		"interval_ms", (json_int_t)m->params.interval_ms,
		"refault_pps_threshold", m->params.refault_pps_threshold,
		"keep_ms", (json_int_t)m->params.keep_ms,
		"uncooperative_after_ms", (json_int_t)m->params.uncoop_after_ms,
		"uncooperative_retry_ms", (json_int_t)m->params.uncoop_retry_ms,
		"tick_ms", (json_int_t)m->cfg->tick_ms,
		"stats_poll_ms", (json_int_t)m->cfg->stats_poll_ms));
	json_object_set_new(root, "counters", json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		"round_us_last", (json_int_t)m->counters.round_us_last,
		"round_us_max", (json_int_t)m->counters.round_us_max,
		"housekeeping_us_max", (json_int_t)m->counters.housekeeping_us_max,
		"ticks_missed", (json_int_t)m->counters.ticks_missed,
		"rounds", (json_int_t)m->counters.rounds,
		"immediate_rounds", (json_int_t)m->counters.immediate_rounds,
		"pressure_events", (json_int_t)m->counters.pressure_events,
		"host_read_errors", (json_int_t)m->counters.host_read_errors,
		"targets_sent", (json_int_t)m->counters.targets_sent,
		"qmp_errors", (json_int_t)m->counters.qmp_errors,
		"vms_added", (json_int_t)m->counters.vms_added,
		"vms_removed", (json_int_t)m->counters.vms_removed));
	return root;
}
