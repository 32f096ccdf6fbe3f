/* SPDX-License-Identifier: MIT */
/*
 * dump.c - the state as JSON, for `autoballoonctl status` (status_only) and
 * `autoballoonctl dump`. Every number is an integer or a real as it is in
 * the state (scripts read sizes in bytes).
 */
#include <jansson.h>

#include "config.h"
#include "hostwatch.h"
#include "manager.h"
#include "util.h"
#include "vm.h"

static json_t *value_json(struct vm_value x)
{
	if (!x.known)
		return json_null();
	return x.real ? json_real(x.d) : json_integer((json_int_t)x.u);
}

static const struct {
	enum vm_num n;
	const char *key;
	bool status;		/* in the short view too */
} vm_keys[] = {
	{ VN_MAX, "max_bytes", true },
	{ VN_MIN, "min_bytes", true },
	{ VN_TARGET, "target_bytes", true },
	{ VN_ACTUAL, "actual_bytes", true },
	{ VN_AVAIL, "available_bytes", true },
	{ VN_CACHE, "cache_bytes", true },
	{ VN_SWAPIN_PPS, "swapin_pps", true },
	{ VN_MAJFLT_PS, "majflt_ps", true },
	{ VN_REFAULT_PPS, "refault_pps", true },
	{ VN_RESIDENT, "resident_bytes", false },
	{ VN_SWAPPED, "swapped_bytes", false },
	{ VN_FREE, "free_bytes", false },
	{ VN_TOTAL, "total_bytes", false },
	{ VN_SWAPOUT_PPS, "swapout_pps", false },
	{ VN_SWAP_IN, "swap_in_bytes", false },
	{ VN_SWAP_OUT, "swap_out_bytes", false },
	{ VN_MAJFLT, "major_faults", false },
	{ VN_TARGETS_SENT, "targets_sent", false },
	{ VN_GUEST_DEFLATIONS, "guest_deflations", false },
	{ VN_QMP_FAILURES, "qmp_failures", false },
};

static json_t *age(uint64_t ms, uint64_t now)
{
	return ms ? json_integer((json_int_t)(now - ms)) : json_null();
}

static json_t *vm_json(const struct manager *m, const struct vm *v, bool status_only)
{
	const struct daemon_config *cfg = manager_config(m);
	const struct policy_vm *p = &v->pol;
	const struct session_info *si = session_info(v->session);
	const struct session_counters *sc = session_counters(v->session);
	uint64_t now = now_ms();
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(v->cfg.name));
	json_object_set_new(o, "state", json_string(vm_state_label(v)));
	for (size_t i = 0; i < ARRAY_SIZE(vm_keys); i++)
		if (vm_keys[i].status || !status_only)
			json_object_set_new(o, vm_keys[i].key, value_json(
				vm_value(v, vm_keys[i].n, cfg->stats_stale_ms, now)));
	json_object_set_new(o, "keep_bytes", now < p->keep_until_ms ?
			    json_integer((json_int_t)p->keep_bytes) : json_null());
	json_object_set_new(o, "cooldown_ms", json_integer(
		(json_int_t)(p->cooldown_until_ms > now ? p->cooldown_until_ms - now : 0)));
	if (status_only)
		return o;
	json_object_set_new(o, "backend", json_string(v->session->be->name));
	session_dump(v->session, o);
	json_object_set_new(o, "from_qmp_dir", json_boolean(v->from_dir));
	json_object_set_new(o, "balloon_path", json_string(si->balloon));
	json_object_set_new(o, "boot_bytes", json_integer((json_int_t)si->boot_bytes));
	json_object_set_new(o, "qemu_pid", v->ram.known ? json_integer(si->vmm_pid) : json_null());
	json_object_set_new(o, "free_page_reporting", json_boolean(si->free_reporting));
	json_object_set_new(o, "buffer_bytes", json_integer((json_int_t)p->buffer_bytes));
	json_object_set_new(o, "weight", json_integer(p->weight));
	json_object_set_new(o, "stats_age_ms", age(v->obs.stats_rx_ms, now));
	json_object_set_new(o, "last_reason", json_string(policy_reason_name(v->last_reason)));
	json_object_set_new(o, "last_action_age_ms", age(v->last_action_ms, now));
	json_object_set_new(o, "stats_bad_values", json_integer((json_int_t)sc->bad_values));
	json_object_set_new(o, "stats_clamped", json_integer((json_int_t)v->obs.stats_clamped));
	json_object_set_new(o, "stats_bad_replies", json_integer((json_int_t)sc->bad_replies));
	json_object_set_new(o, "stats_moving", json_integer((json_int_t)v->obs.stats_moving));
	return o;
}

static json_t *host_json(const struct manager *m, bool status_only)
{
	const struct host_watch *hw = manager_host(m);
	const struct policy_params *pp = manager_params(m);
	const struct policy_host *ph = manager_last_round(m);
	json_t *host = json_object();

	json_object_set_new(host, "kind", json_string(host_kind_name(hw->src.kind)));
	json_object_set_new(host, "cgroup", json_string(hw->src.cgroup_dir));
	json_object_set_new(host, "readable", json_boolean(hw->ok));
	json_object_set_new(host, "total_bytes", json_integer((json_int_t)hw->hm.total_bytes));
	json_object_set_new(host, "used_bytes", json_integer((json_int_t)hw->hm.used_bytes));
	json_object_set_new(host, "available_bytes", json_integer((json_int_t)hw->hm.avail_bytes));
	json_object_set_new(host, "available_fall_bytes_per_s",
			    json_integer((json_int_t)avail_trend_fall_bps(&hw->trend)));
	json_object_set_new(host, "available_falling_ms",
			    json_integer((json_int_t)avail_trend_falling_ms(&hw->trend)));
	json_object_set_new(host, "available_projected_bytes", json_integer((json_int_t)
		policy_projected_avail(pp, hw->hm.avail_bytes, avail_trend_fall_bps(&hw->trend),
				       avail_trend_falling_ms(&hw->trend))));
	json_object_set_new(host, "low_bytes", json_integer((json_int_t)pp->host_low_bytes));
	json_object_set_new(host, "high_bytes", json_integer((json_int_t)pp->host_high_bytes));
	json_object_set_new(host, "pressured", json_boolean(ph->pressured));
	/* auto: what the shares are taken from (the rest of the host's use) */
	if (pp->kind == POLICY_AUTO && ph->overhead_ms)
		json_object_set_new(host, "overhead_bytes",
				    json_integer((json_int_t)ph->overhead_bytes));
	json_object_set_new(host, "psi_some_avg10", hw->psi_ok ? json_real(hw->psi.some_avg10)
							       : json_null());
	json_object_set_new(host, "pressure_source", json_string(
		hw->pmon.kind == PRESSURE_NONE ? "none" : hw->pmon.source));
	if (status_only)
		return host;
	json_object_set_new(host, "swap_used_bytes", json_integer((json_int_t)hw->hm.swap_used_bytes));
	json_object_set_new(host, "swap_total_bytes", json_integer((json_int_t)hw->hm.swap_total_bytes));
	json_object_set_new(host, "swap_free_bytes", json_integer((json_int_t)hw->hm.swap_free_bytes));
	return host;
}

json_t *manager_dump(const struct manager *m, bool status_only)
{
	const struct daemon_config *cfg = manager_config(m);
	const struct policy_params *pp = manager_params(m);
	const struct policy_host *ph = manager_last_round(m);
	const struct manager_counters *c = manager_counters(m);
	const struct host_watch *hw = manager_host(m);
	json_t *root = json_object(), *vms = json_array();

	for (size_t i = 0; i < manager_vm_count(m); i++)
		json_array_append_new(vms, vm_json(m, manager_vm(m, i), status_only));
	json_object_set_new(root, "host", host_json(m, status_only));
	json_object_set_new(root, "policy", json_string(policy_kind_name(cfg->policy)));
	json_object_set_new(root, "paused", json_boolean(manager_paused(m)));
	json_object_set_new(root, "vms", vms);
	if (status_only)
		return root;
	json_object_set_new(root, "last_round", json_pack("{s:I,s:I,s:I,s:I,s:I}",
		"need_bytes", (json_int_t)ph->need_bytes,
		"unmet_bytes", (json_int_t)ph->unmet_bytes,
		"reclaim_bytes", (json_int_t)ph->reclaim_bytes,
		"grant_bytes", (json_int_t)ph->grant_bytes,
		"giveback_bytes", (json_int_t)ph->giveback_bytes));
	json_object_set_new(root, "params", json_pack(
		"{s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:I,s:I,s:I,s:I,s:I}",
		"deadband_bytes", (json_int_t)pp->deadband_bytes,
		"step_inflate_bytes", (json_int_t)pp->step_inflate_bytes,
		"giveback_bytes", (json_int_t)pp->giveback_bytes,
		"cooldown_ms", (json_int_t)pp->cooldown_ms,
		"relax_delay_ms", (json_int_t)pp->relax_delay_ms,
		"interval_ms", (json_int_t)pp->interval_ms,
		"refault_pps_threshold", pp->refault_pps_threshold,
		"keep_ms", (json_int_t)pp->keep_ms,
		"uncooperative_after_ms", (json_int_t)pp->uncoop_after_ms,
		"uncooperative_retry_ms", (json_int_t)pp->uncoop_retry_ms,
		"tick_ms", (json_int_t)cfg->tick_ms,
		"stats_poll_ms", (json_int_t)cfg->stats_poll_ms));
	json_object_set_new(root, "counters", json_pack(
		"{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		"round_us_last", (json_int_t)c->round_us_last,
		"round_us_max", (json_int_t)c->round_us_max,
		"housekeeping_us_max", (json_int_t)c->housekeeping_us_max,
		"ticks_missed", (json_int_t)c->ticks_missed,
		"rounds", (json_int_t)c->rounds,
		"immediate_rounds", (json_int_t)c->immediate_rounds,
		"pressure_events", (json_int_t)hw->pressure_events,
		"host_read_errors", (json_int_t)hw->read_errors,
		"targets_sent", (json_int_t)c->targets_sent,
		"qmp_errors", (json_int_t)c->qmp_errors,
		"vms_added", (json_int_t)c->vms_added,
		"vms_removed", (json_int_t)c->vms_removed));
	return root;
}
