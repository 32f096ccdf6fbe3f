/* SPDX-License-Identifier: MIT */
#include "vm.h"

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

	switch (n) {
	case VN_MAX:
		return u64(true, v->pol.max_bytes);
	case VN_MIN:
		return u64(true, v->pol.min_bytes);
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
