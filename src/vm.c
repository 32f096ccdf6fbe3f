/* SPDX-License-Identifier: MIT */
/*
 * vm.c - one VM: its session's callbacks (the only writers of its
 * observations), its sizes, the targets sent to it, and the values the
 * surfaces show. Calls to the manager go through vm_env.event.
 */
#include "vm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session_libvirt.h"
#include "session_qmp.h"
#include "util.h"

#define TARGET_FLOOR_BYTES (16 * MIB)
#define REFAULT_MIN_MS 500	/* shorter intervals make noisy rates */
/* Guest RAM residency is read with each stats sample; without samples, this often. */
#define RAM_READ_MS 3000

static void vm_event(struct vm *v, enum vm_event ev)
{
	v->env->event(v->env->owner, v, ev);
}

/* min/max/buffer from the config and the VM's boot size (0: not known yet). */
void vm_resolve_sizes(struct vm *v)
{
	uint64_t boot = session_info(v->session)->boot_bytes, max, min, buffer;

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

bool vm_ready(const struct vm *v)
{
	return session_state(v->session) == SESSION_READY;
}

int vm_send_target(struct vm *v, uint64_t target, enum policy_reason reason, bool force)
{
	int r;

	target = MAX(target, TARGET_FLOOR_BYTES);
	r = session_set_target(v->session, target, force);
	if (r < 0)
		return r;
	v->req_reason = reason;
	hist_note(&v->obs.hist, now_ms(), v->obs.actual, true);	/* it starts moving now */
	return 0;
}

/*
 * What the host backs of the guest's RAM, from its VMM's smaps. The pid
 * must be the VM's QEMU: guest RAM mappings of about its boot size (a
 * manager that made the socket, such as libvirt, has none).
 */
static void vm_read_guest_ram(struct vm *v, uint64_t now)
{
	const struct session_info *si = session_info(v->session);
	bool was = v->ram.known;
	int r;

	v->ram_read_ms = now;
	r = guest_ram_track(&v->ram, v->env->proc_dir, si->vmm_pid, si->boot_bytes,
			    now);
	if (r == 0) {
		if (!was)
			vm_log(&v->log, VM_LOG_SESSION, LOG_LVL_INFO, "host-backed guest RAM from "
			       "pid %d: %u mapping(s), %" PRIu64 " MiB, %" PRIu64 " MiB resident",
			       si->vmm_pid, v->ram.smaps.mappings,
			       (uint64_t)(v->ram.smaps.mapped_bytes / MIB),
			       (uint64_t)(v->ram.resident_bytes / MIB));
		v->ram_err = 0;
	} else if (r != v->ram_err) {
		vm_log(&v->log, VM_LOG_SESSION, LOG_LVL_INFO, "host-backed guest RAM unknown "
		       "(pid %d: %s); assuming the host backs all of it", si->vmm_pid,
		       r == -EMEDIUMTYPE ? "no guest RAM mappings of the VM's size" :
		       strerror(-r));
		v->ram_err = r;
	}
}

/* The policy's observations of v, now (between rounds too). */
void vm_fill_observations(struct vm *v, uint64_t now)
{
	const struct session_info *si = session_info(v->session);
	struct obs_context c = {
		.ready = vm_ready(v),
		.stats_supported = si->stats_supported,
		.guest_silent = si->guest_silent,
		.free_reporting = si->free_reporting,
		.residency = v->env->params->residency,
		.ram_known = v->ram.known,
		.ram_resident_bytes = v->ram.resident_bytes,
		.ram_swapped_bytes = v->ram.swapped_bytes,
		.stale_ms = v->env->cfg->stats_stale_ms,
	};

	obs_fill(&v->pol, &v->obs, &c, now);
}

/* A guest short of memory by the policy's threshold gets its round now. */
static void check_guest_short(struct vm *v)
{
	if (!vm_ready(v))
		return;
	vm_fill_observations(v, now_ms());
	if (policy_guest_short(v->env->params, &v->pol))
		vm_event(v, VM_EV_ROUND);
}

/* ------------------------------------------------------------ session callbacks */

static void on_session_state(void *owner, enum session_state old, enum session_state now)
{
	struct vm *v = owner;

	/* (ready is said by on_session_adopt) */
	if (now != SESSION_READY && strcmp(session_state_name(old), session_state_name(now)))
		vm_log(&v->log, VM_LOG_SESSION, LOG_LVL_INFO, "%s -> %s",
		       session_state_name(old), session_state_name(now));
	if (now == SESSION_SETUP) {
		memset(&v->ram, 0, sizeof(v->ram));
		v->ram_read_ms = 0;
		memset(&v->obs.rate_state, 0, sizeof(v->obs.rate_state));
	}
	vm_event(v, VM_EV_CHANGED);
}

static void on_session_adopt(void *owner, uint64_t actual)
{
	struct vm *v = owner;
	uint64_t now = now_ms();
	char a[32], mx[32];

	vm_resolve_sizes(v);
	policy_adopt(&v->pol, actual, now);
	v->obs.actual = actual;
	v->obs.actual_seen_ms = v->obs.adopted_ms = now;
	hist_reset(&v->obs.hist, now, actual);
	vm_log(&v->log, VM_LOG_SESSION, LOG_LVL_INFO, "managed: balloon at %s of max %s%s",
	       fmt_bytes(actual, a, sizeof(a)), fmt_bytes(v->pol.max_bytes, mx, sizeof(mx)),
	       session_info(v->session)->stats_supported ? "" : " (no guest stats)");
	vm_event(v, VM_EV_ROUND);
}

static void on_session_actual(void *owner, uint64_t actual)
{
	struct vm *v = owner;

	if (actual > v->obs.actual + MIB && actual > v->pol.target_bytes + MIB)
		vm_event(v, VM_EV_ROUND);	/* the guest took memory: answer now */
	v->obs.actual = actual;
	v->obs.actual_seen_ms = now_ms();
	hist_note(&v->obs.hist, v->obs.actual_seen_ms, actual, false);
	vm_event(v, VM_EV_CHANGED);
}

static void on_session_sample(void *owner, const struct guest_stats *sample, uint64_t after)
{
	struct vm *v = owner;
	struct vm_obs *o = &v->obs;
	struct guest_stats s = *sample;
	struct guest_rates rates;
	uint64_t at, now = now_ms();

	o->stats_clamped += guest_stats_sanitize(&s, v->pol.max_bytes);
	if (guest_rates_update(&o->rate_state, &s, &rates) == 0)
		return;		/* the same sample again */
	o->rates = rates;
	o->stats_seen_ms = now;
	if (hist_sample_actual(&o->hist, after, now, v->pol.target_bytes,
			       session_info(v->session)->inflight_target, &at) < 0) {
		/* Taken while the balloon moved: its levels belong to no size.
		 * The last steady sample (corrected for the moves) stays in use. */
		o->stats_moving++;
		if (o->stats_rx_ms)
			o->stats_rx_ms = now;
		check_guest_short(v);
		return;
	}
	o->stats = s;
	o->stats_rx_ms = now;
	o->stats_actual = at;
	vm_read_guest_ram(v, now);
	o->resident_known = v->ram.known;
	o->resident_bytes = v->ram.resident_bytes;
	o->swapped_bytes = v->ram.swapped_bytes;
	check_guest_short(v);
}

/* The guest's disk reads, with its QEMU's major faults read at the same moment. */
static void on_session_disk_reads(void *owner, uint64_t read_bytes)
{
	struct vm *v = owner;
	const struct session_info *si = session_info(v->session);
	uint64_t majflt = v->obs.refault.majflt, now = now_ms();

	if (v->ram.known &&
	    proc_majflt_read(v->env->proc_dir, si->vmm_pid, &majflt) < 0)
		majflt = v->obs.refault.majflt;	/* a failed read is no fault */
	if (refault_update(&v->obs.refault, now, read_bytes, majflt, REFAULT_MIN_MS,
			   &v->obs.refault_rate) > 0) {
		v->obs.refault_ms = now;
		check_guest_short(v);
	}
}

static void on_session_target_done(void *owner, uint64_t target, int err)
{
	struct vm *v = owner;
	char a[32], b[32];

	if (err)
		return;		/* the session said why */
	log_info(v->env->log, "vm %s: target %s -> %s (%s)", v->cfg.name,
		 fmt_bytes(v->pol.target_bytes, a, sizeof(a)), fmt_bytes(target, b, sizeof(b)),
		 policy_reason_name(v->req_reason));
	policy_commit(&v->pol, target, v->obs.actual, now_ms());
	v->targets_sent++;
	vm_event(v, VM_EV_TARGET_SET);
	v->last_reason = v->req_reason;
	v->last_action_ms = now_ms();
	if (v->req_reason == REASON_GUEST_DEFLATED)
		v->guest_deflations++;
}

static void on_session_failure(void *owner)
{
	vm_event(owner, VM_EV_FAILURE);
}

static const struct session_ops vm_session_ops = {
	.state = on_session_state,
	.adopt = on_session_adopt,
	.actual = on_session_actual,
	.sample = on_session_sample,
	.disk_reads = on_session_disk_reads,
	.target_done = on_session_target_done,
	.failure = on_session_failure,
};

struct vm *vm_new(const struct vm_env *env, const struct vm_config *cfg, bool from_dir,
		  uint64_t connect_at_ms)
{
	struct vm *v = calloc(1, sizeof(*v));
	int r;

	if (!v)
		return NULL;
	v->env = env;
	v->cfg = *cfg;
	v->from_dir = from_dir;
	v->log.log = env->log;
	v->log.name = v->cfg.name;
	v->pol.state = VM_OK;
	if (!vm_from_libvirt(v))
		r = session_qmp_new(env->loop, env->cfg, &v->cfg, &v->log, &vm_session_ops, v,
				    connect_at_ms, &v->session);
	else if (env->lv)
		r = session_libvirt_new(env->lv, env->cfg, &v->cfg, &v->log, &vm_session_ops, v,
					&v->session);
	else
		r = -EINVAL;
	if (r < 0) {
		free(v);
		return NULL;
	}
	vm_resolve_sizes(v);
	return v;
}

void vm_free(struct vm *v)
{
	if (!v)
		return;
	session_free(v->session);
	free(v);
}

void vm_housekeeping(struct vm *v, uint64_t now)
{
	session_tick(v->session, now);
	if (vm_ready(v) && now - v->ram_read_ms >= RAM_READ_MS)
		vm_read_guest_ram(v, now);
	vm_log_flush(&v->log, now);
}

/* ------------------------------------------------------------ views */

const char *vm_state_label(const struct vm *v)
{
	enum session_state st = session_state(v->session);

	return st == SESSION_READY ? vm_state_name(v->pol.state) : session_state_name(st);
}

const char *session_state_name(enum session_state st)
{
	switch (st) {
	case SESSION_CONNECTING:
	case SESSION_SETUP:
		return "connecting";
	case SESSION_READY:
		return "ready";
	case SESSION_NO_BALLOON:
		return "no-balloon";
	case SESSION_GONE:
		return "gone";
	}
	return "?";
}

static struct vm_value u64(bool known, uint64_t u)
{
	return (struct vm_value){ .known = known, .u = u };
}

static struct vm_value real(bool known, double d)
{
	return (struct vm_value){ .known = known, .real = true, .d = d };
}

static struct vm_value gstat(const struct vm *v, bool fresh, enum gstat g)
{
	return u64(fresh && gstat_known(&v->obs.stats, g), v->obs.stats.val[g]);
}

struct vm_value vm_value(const struct vm *v, enum vm_num n, uint64_t stale_ms, uint64_t now)
{
	bool fresh = obs_fresh(&v->obs, stale_ms, now);
	bool ready = session_state(v->session) == SESSION_READY;
	/* max is the boot size unless configured: unknown before the VMM says */
	bool sized = v->cfg.max.set || session_info(v->session)->boot_bytes;

	switch (n) {
	case VN_MAX:
		return u64(sized, v->pol.max_bytes);
	case VN_MIN:
		return u64(sized, v->pol.min_bytes);
	case VN_TARGET:
		return u64(ready, v->pol.target_bytes);
	case VN_ACTUAL:
		return u64(ready, v->obs.actual);
	case VN_AVAIL:
		return gstat(v, fresh, GSTAT_AVAIL);
	case VN_CACHE:
		return gstat(v, fresh, GSTAT_CACHES);
	case VN_FREE:
		return gstat(v, fresh, GSTAT_FREE);
	case VN_TOTAL:
		return gstat(v, fresh, GSTAT_TOTAL);
	case VN_SWAP_IN:
		return gstat(v, fresh, GSTAT_SWAP_IN);
	case VN_SWAP_OUT:
		return gstat(v, fresh, GSTAT_SWAP_OUT);
	case VN_MAJFLT:
		return gstat(v, fresh, GSTAT_MAJFLT);
	case VN_SWAPIN_PPS:
		return real(fresh, v->obs.rates.swapin_pps);
	case VN_SWAPOUT_PPS:
		return real(fresh, v->obs.rates.swapout_pps);
	case VN_MAJFLT_PS:
		return real(fresh, v->obs.rates.majflt_ps);
	case VN_REFAULT_PPS:
		return real(v->pol.refault_valid, v->pol.refault_pps);
	case VN_RESIDENT:
		return u64(v->ram.known, v->ram.resident_bytes);
	case VN_SWAPPED:
		return u64(v->ram.known, v->ram.swapped_bytes);
	case VN_TARGETS_SENT:
		return u64(true, v->targets_sent);
	case VN_GUEST_DEFLATIONS:
		return u64(true, v->guest_deflations);
	case VN_QMP_FAILURES:
		return u64(true, session_counters(v->session)->failures);
	case VN__N:
		break;
	}
	return u64(false, 0);
}
