/* SPDX-License-Identifier: MIT */
/*
 * manager.c - the VMs, the host, and the policy rounds between them.
 *
 * Calls go down: the manager drives each VM's session (session.h), the
 * host watch (hostwatch.h), qmp_dir discovery (qmpdir.h) and the policy
 * (policy.h). They answer through ops structs the manager implements; the
 * session callbacks are the only writers of a VM's observations (observe.h).
 *
 * Policy rounds run every tick, and early (at most every 100 ms) on a host
 * pressure event, when the host or a guest is short by the policy's own
 * thresholds, and when a guest took memory back.
 */
#include "manager.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostwatch.h"
#include "log.h"
#include "loop.h"
#include "lvconn.h"
#include "observe.h"
#include "qmpdir.h"
#include "session_qmp.h"
#include "util.h"
#include "vm.h"

#define HOUSEKEEPING_MS 100
#define MIN_ROUND_GAP_MS 100
#define DIR_CONNECT_DELAY_MS 50	/* QEMU binds its socket before it listens */

struct manager {
	struct loop *loop;
	const struct logger *log;
	struct daemon_config *cfg;

	struct host_watch host;
	bool pressure_pending;		/* an event since the last round */
	struct policy_host ph;
	uint64_t last_swap_bytes;	/* swap use at the last round */
	bool last_swap_valid;
	struct policy_params params;	/* cfg->params with host marks resolved */

	struct vm_env env;		/* what every VM gets from the manager */
	struct vm **vms;
	struct policy_vm **pol;		/* &vms[i]->pol, for policy_round */
	size_t nvms;

	struct loop_watch *tick_timer;
	struct loop_watch *hk_timer;
	struct loop_watch *round_timer;
	bool round_armed;
	uint64_t last_round_ms;

	struct qmp_dir *qdir;
	struct lv_conn *lv;

	bool paused;
	bool shutting_down;
	void (*shutdown_done)(void *data);
	void *shutdown_data;
	uint64_t shutdown_deadline_ms;

	struct manager_counters counters;
};

static void request_round(struct manager *m);
static void finish_shutdown_if_done(struct manager *m, bool force);

static struct vm *find_vm(const struct manager *m, const char *name)
{
	for (size_t i = 0; i < m->nvms; i++)
		if (strcmp(m->vms[i]->cfg.name, name) == 0)
			return m->vms[i];
	return NULL;
}

static int add_vm(struct manager *m, const struct vm_config *cfg, bool from_dir,
		  uint64_t connect_at_ms)
{
	struct policy_vm **pol;
	struct vm **arr, *v;

	for (size_t i = 0; i < m->nvms; i++) {
		if (strcmp(m->vms[i]->cfg.name, cfg->name) == 0 ||
		    (cfg->qmp_path[0] && strcmp(m->vms[i]->cfg.qmp_path, cfg->qmp_path) == 0))
			return -EEXIST;
	}
	arr = realloc(m->vms, (m->nvms + 1) * sizeof(*arr));
	if (!arr)
		return -ENOMEM;
	m->vms = arr;
	pol = realloc(m->pol, (m->nvms + 1) * sizeof(*pol));
	if (!pol)
		return -ENOMEM;
	m->pol = pol;
	v = vm_new(&m->env, cfg, from_dir, connect_at_ms);
	if (!v)
		return -ENOMEM;
	m->pol[m->nvms] = &v->pol;
	m->vms[m->nvms++] = v;
	m->counters.vms_added++;
	log_info(m->log, "vm %s: added (%s%s)", cfg->name,
		 cfg->qmp_path[0] ? cfg->qmp_path : "libvirt domain",
		 from_dir ? ", found in qmp_dir" : "");
	return 0;
}

static void remove_vm_at(struct manager *m, size_t i, const char *why)
{
	struct vm *v = m->vms[i];

	log_info(m->log, "vm %s: dropped (%s)", v->cfg.name, why);
	memmove(&m->vms[i], &m->vms[i + 1], (m->nvms - i - 1) * sizeof(m->vms[0]));
	memmove(&m->pol[i], &m->pol[i + 1], (m->nvms - i - 1) * sizeof(m->pol[0]));
	m->nvms--;
	m->counters.vms_removed++;
	vm_free(v);
}

/* ------------------------------------------------------------ qmp_dir */

static void on_dir_found(void *owner, const char *name, const char *path)
{
	struct manager *m = owner;
	struct vm_config vc;

	if (find_vm(m, name))
		return;
	config_vm_from_defaults(m->cfg, name, path, &vc);
	add_vm(m, &vc, true, now_ms() + DIR_CONNECT_DELAY_MS);
}

static void on_dir_lost(void *owner, const char *name)
{
	struct manager *m = owner;

	for (size_t i = 0; i < m->nvms; i++) {
		struct vm *v = m->vms[i];

		if (!v->from_dir || strcmp(v->cfg.name, name) != 0)
			continue;
		/*
		 * The file went but QEMU may still be there: a guest nobody
		 * manages any more must not stay squeezed. The command is
		 * written before the session closes.
		 */
		if (vm_ready(v) && v->pol.target_bytes < v->pol.max_bytes &&
		    vm_send_target(v, v->pol.max_bytes, REASON_BOUNDS, true) == 0)
			log_info(m->log, "vm %s: socket removed: returning the balloon to max",
				 v->cfg.name);
		remove_vm_at(m, i, "socket removed");
		return;
	}
}

static const struct qmp_dir_ops dir_ops = {
	.found = on_dir_found,
	.lost = on_dir_lost,
};

static int start_qmp_dir(struct manager *m)
{
	int r;

	if (!m->cfg->qmp_dir[0])
		return 0;
	r = qmp_dir_start(m->loop, m->log, m->cfg->qmp_dir, &dir_ops, m, &m->qdir);
	if (r == 0)
		log_info(m->log, "watching %s for QMP sockets", m->cfg->qmp_dir);
	return r;
}

static void stop_qmp_dir(struct manager *m)
{
	qmp_dir_stop(m->qdir);
	m->qdir = NULL;
}

/* ------------------------------------------------------------ libvirt */

/* A [vm] section without qmp names a domain by name or UUID. */
static const struct vm_config *domain_config(const struct manager *m, const char *name,
					     const char *uuid)
{
	const struct vm_config *vc = config_find_vm(m->cfg, name);

	if ((!vc || vc->qmp_path[0]) && uuid[0])
		vc = config_find_vm(m->cfg, uuid);
	return vc && !vc->qmp_path[0] ? vc : NULL;
}

static void on_domain_found(void *owner, const char *name, const char *uuid)
{
	struct manager *m = owner;
	const struct vm_config *dc = domain_config(m, name, uuid);
	struct vm_config vc;

	if (strlen(name) >= sizeof(vc.name)) {
		log_warn(m->log, "libvirt: domain %s: name longer than %zu characters, not managed",
			 name, sizeof(vc.name) - 1);
		return;
	}
	if (find_vm(m, name))
		return;
	if (dc)
		vc = *dc;
	else
		config_vm_from_defaults(m->cfg, name, "", &vc);
	snprintf(vc.name, sizeof(vc.name), "%s", name);
	if (add_vm(m, &vc, false, 0) < 0)
		log_err(m->log, "vm %s: cannot manage the domain", name);
}

static void on_domain_lost(void *owner, const char *name)
{
	struct manager *m = owner;

	for (size_t i = 0; i < m->nvms; i++) {
		if (vm_from_libvirt(m->vms[i]) && strcmp(m->vms[i]->cfg.name, name) == 0) {
			remove_vm_at(m, i, "domain stopped");
			return;
		}
	}
}

static const struct lv_conn_ops lv_ops = {
	.found = on_domain_found,
	.lost = on_domain_lost,
};

static int start_libvirt(struct manager *m)
{
	int r;

	if (!m->cfg->libvirt_uri[0])
		return 0;
	r = lv_conn_start(m->loop, m->log, m->cfg->libvirt_uri, &lv_ops, m, &m->lv);
	m->env.lv = m->lv;
	return r;
}

static void stop_libvirt(struct manager *m)
{
	for (size_t i = 0; i < m->nvms;) {
		if (vm_from_libvirt(m->vms[i]))
			remove_vm_at(m, i, "libvirt connection closed");
		else
			i++;
	}
	lv_conn_stop(m->lv);
	m->lv = m->env.lv = NULL;
}

/* ------------------------------------------------------------ policy round */

static void resolve_params(struct manager *m)
{
	const struct daemon_config *c = m->cfg;
	uint64_t total = m->host.hm.total_bytes;

	m->params = c->params;
	m->params.kind = c->policy;
	m->params.host_low_bytes = size_spec_resolve(&c->host_low, total);
	m->params.host_high_bytes = size_spec_resolve(&c->host_high, total);
	if (m->params.host_high_bytes <= m->params.host_low_bytes)
		m->params.host_high_bytes = m->params.host_low_bytes + 16 * MIB;
}

static uint64_t mib(uint64_t bytes)
{
	return bytes / MIB;
}

static void log_round(const struct manager *m)
{
	const struct policy_host *ph = &m->ph;
	const struct host_mem *hm = &m->host.hm;

	if (ph->pressured || ph->need_bytes || ph->grant_bytes)
		log_debug(m->log, "round: host avail %" PRIu64 " MiB (used %" PRIu64 ", swap %"
			  PRIu64 ")%s, need %" PRIu64 ", reclaim %" PRIu64 ", unmet %" PRIu64
			  ", grant %" PRIu64 " MiB", mib(hm->avail_bytes), mib(hm->used_bytes),
			  mib(hm->swap_used_bytes), ph->pressured ? " (pressured)" : "",
			  mib(ph->need_bytes), mib(ph->reclaim_bytes), mib(ph->unmet_bytes),
			  mib(ph->grant_bytes));
}

static void do_round(struct manager *m)
{
	const struct host_watch *hw = &m->host;
	uint64_t now = now_ms();

	m->last_round_ms = now;
	if (host_watch_read(&m->host, now) < 0 || m->paused || m->shutting_down)
		return;
	resolve_params(m);
	for (size_t i = 0; i < m->nvms; i++)
		vm_fill_observations(m->vms[i], now);
	m->ph.now_ms = now;
	m->ph.total_bytes = hw->hm.total_bytes;
	m->ph.avail_bytes = hw->hm.avail_bytes;
	m->ph.avail_fall_bps = avail_trend_fall_bps(&hw->trend);
	m->ph.avail_falling_ms = avail_trend_falling_ms(&hw->trend);
	m->ph.pressure_event = m->pressure_pending;
	m->pressure_pending = false;
	m->ph.swapped_bytes = m->last_swap_valid ?
		sat_sub(hw->hm.swap_used_bytes, m->last_swap_bytes) : 0;
	m->last_swap_bytes = hw->hm.swap_used_bytes;
	m->last_swap_valid = true;
	policy_round(&m->params, &m->ph, m->pol, m->nvms);
	m->counters.rounds++;
	log_round(m);

	for (size_t i = 0; i < m->nvms; i++) {
		struct vm *v = m->vms[i];

		if (!v->pol.set_target)
			continue;
		if (v->pol.reason == REASON_UNCOOPERATIVE)
			log_warn(m->log, "vm %s: actual does not follow the target: "
				 "uncooperative, leaving it alone", v->cfg.name);
		if (vm_send_target(v, v->pol.new_target_bytes, v->pol.reason, false) < 0)
			log_debug(m->log, "vm %s: target change deferred", v->cfg.name);
	}
}

static void run_round(struct manager *m)
{
	uint64_t t0 = now_us();

	do_round(m);
	m->counters.round_us_last = now_us() - t0;
	m->counters.round_us_max = MAX(m->counters.round_us_max, m->counters.round_us_last);
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

static void on_host_pressure(void *owner)
{
	struct manager *m = owner;

	m->pressure_pending = true;
	request_round(m);
}

/* ------------------------------------------------------------ housekeeping */

static void housekeeping(struct manager *m)
{
	const struct host_watch *hw = &m->host;
	uint64_t now = now_ms();

	for (size_t i = 0; i < m->nvms;) {
		struct vm *v = m->vms[i];

		vm_housekeeping(v, now);
		/* A VM found in qmp_dir or libvirt whose QEMU is gone is dropped. */
		if ((v->from_dir || vm_from_libvirt(v)) &&
		    session_state(v->session) == SESSION_GONE) {
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
	if (!m->paused && host_watch_read(&m->host, now) == 0 &&
	    policy_host_short(&m->params, hw->hm.avail_bytes, avail_trend_fall_bps(&hw->trend),
			      avail_trend_falling_ms(&hw->trend)))
		request_round(m);
}

static void on_housekeeping(struct loop_watch *w, uint64_t exp, void *data)
{
	struct manager *m = data;
	uint64_t t0 = now_us();

	housekeeping(m);
	m->counters.housekeeping_us_max = MAX(m->counters.housekeeping_us_max,
					      now_us() - t0);
}

/* ------------------------------------------------------------ lifecycle */

static void on_vm_event(void *owner, struct vm *v, enum vm_event ev)
{
	struct manager *m = owner;

	switch (ev) {
	case VM_EV_ROUND:
		request_round(m);
		break;
	case VM_EV_CHANGED:
		finish_shutdown_if_done(m, false);
		break;
	case VM_EV_FAILURE:
		m->counters.qmp_errors++;
		break;
	case VM_EV_TARGET_SET:
		m->counters.targets_sent++;
		break;
	}
}

int manager_new(struct loop *l, const struct logger *log,
		struct daemon_config *cfg, struct manager **ret)
{
	struct manager *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->loop = l;
	m->log = log;
	m->cfg = cfg;
	host_watch_init(&m->host, l, log, on_host_pressure, m);
	m->env = (struct vm_env){
		.loop = l, .log = log, .cfg = cfg, .params = &m->params,
		.proc_dir = m->host.src.proc_dir, .event = on_vm_event, .owner = m,
	};
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
	free(m->pol);
	loop_remove(m->tick_timer);
	loop_remove(m->hk_timer);
	loop_remove(m->round_timer);
	host_watch_close(&m->host);
	stop_qmp_dir(m);
	lv_conn_stop(m->lv);
	free(m);
}

static int setup_host(struct manager *m)
{
	char a[32], b[32];
	int r;

	r = host_watch_setup(&m->host, m->cfg);
	if (r < 0)
		return r;
	resolve_params(m);
	log_info(m->log, "host: pressured below %s available, relaxed above %s",
		 fmt_bytes(m->params.host_low_bytes, a, sizeof(a)),
		 fmt_bytes(m->params.host_high_bytes, b, sizeof(b)));
	return 0;
}

int manager_start(struct manager *m)
{
	int r;

	r = setup_host(m);
	if (r < 0)
		return r;
	for (size_t i = 0; i < m->cfg->nvms; i++) {
		if (!m->cfg->vms[i].qmp_path[0])
			continue;	/* a libvirt domain's settings */
		r = add_vm(m, &m->cfg->vms[i], false, 0);
		if (r < 0)
			return r;
	}
	r = start_libvirt(m);
	if (r < 0) {
		log_err(m->log, "libvirt: %s: %s", m->cfg->libvirt_uri, strerror(-r));
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
	log_info(m->log, "policy %s, tick %" PRIu64 " ms, %zu VMs configured",
		 policy_kind_name(m->cfg->policy), m->cfg->tick_ms, m->cfg->nvms);
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
	bool lv_changed = strcmp(old->libvirt_uri, cfg->libvirt_uri) != 0;
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
		if (vm_from_libvirt(v)) {
			/* its settings may have changed; the domain stays */
			char uuid[1] = "";
			const struct vm_config *dc = domain_config(m, v->cfg.name, uuid);

			if (dc) {
				v->cfg = *dc;
				vm_resolve_sizes(v);
			}
			i++;
			continue;
		}
		if (!nc || strcmp(nc->qmp_path, v->cfg.qmp_path) != 0) {
			if (vm_ready(v) && v->pol.target_bytes < v->pol.max_bytes)
				vm_send_target(v, v->pol.max_bytes, REASON_BOUNDS, false);
			remove_vm_at(m, i, "no longer configured");
			continue;
		}
		v->cfg = *nc;
		vm_resolve_sizes(v);
		i++;
	}
	for (size_t i = 0; i < old->nvms; i++)
		if (old->vms[i].qmp_path[0] && !find_vm(m, old->vms[i].name))
			add_vm(m, &old->vms[i], false, 0);
	if (lv_changed) {
		stop_libvirt(m);
		r = start_libvirt(m);
		if (r < 0)
			log_err(m->log, "libvirt: %s: %s", old->libvirt_uri, strerror(-r));
	}
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
			const struct vm *v = m->vms[i];

			if (vm_ready(v) && v->obs.actual + MIB < v->pol.max_bytes)
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

			/* even if a change is in flight: this one wins */
			if (vm_ready(v) && vm_send_target(v, v->pol.max_bytes, REASON_BOUNDS, true) == 0)
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
	uint64_t w, boot;

	if (!v) {
		snprintf(err, errlen, "no VM named \"%s\"", name);
		return -ENOENT;
	}
	boot = session_info(v->session)->boot_bytes;
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
	if (boot && nc.max.set && nc.max.bytes > boot) {
		snprintf(err, errlen, "max is above the VM's boot memory (%" PRIu64 " MiB)",
			 mib(boot));
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

/* ------------------------------------------------------------ views */

const struct manager_counters *manager_counters(const struct manager *m)
{
	return &m->counters;
}

size_t manager_vm_count(const struct manager *m)
{
	return m->nvms;
}

const struct vm *manager_vm(const struct manager *m, size_t i)
{
	return m->vms[i];
}

const struct host_watch *manager_host(const struct manager *m)
{
	return &m->host;
}

const struct policy_host *manager_last_round(const struct manager *m)
{
	return &m->ph;
}

const struct policy_params *manager_params(const struct manager *m)
{
	return &m->params;
}

const struct daemon_config *manager_config(const struct manager *m)
{
	return m->cfg;
}
