/* SPDX-License-Identifier: MIT */
/*
 * policy.h - the balloon policies: pure functions from a snapshot of the
 * host and the VMs to new balloon targets.
 *
 * No syscalls, no logging, no clock reads: time is policy_host.now_ms. Each
 * VM's struct policy_vm lives in the daemon's VM record and is passed by
 * pointer: the observations are written by the daemon before a round, the
 * policy memory only by the functions declared here.
 *
 * Sizes are the guest's logical memory, as QMP's "balloon" and
 * "query-balloon" use them: max (boot RAM) minus the balloon.
 *
 * Glossary (the words the code and the docs use):
 *  target    the size the daemon asked for; actual: the size the guest has.
 *  avail     the guest's available memory (free + reclaimable page cache).
 *  buffer    what a guest keeps available; under half of it, it is short.
 *  excess    avail beyond the buffer, less inflation in flight: what a
 *            guest could give without going short.
 *  backed    guest memory the host holds in RAM (its VMM's resident guest
 *            RAM); unbacked memory costs the host nothing until touched.
 *  gain      what the host gets back from a guest's excess: the backed part
 *            (a balloon over unbacked memory gains nothing).
 *  room      unbacked memory inside a guest's size: free for the guest to
 *            touch at any moment.
 *  promise   the sum of the guests' room: what the host must be able to back
 *            at once if they all touched it.
 *  overhead  what the host uses besides the guests' RAM (VMMs, other
 *            processes), smoothed.
 *  pool      the host's memory above its low mark, less overhead: what the
 *            guests may have between them.
 *  share     a guest's part of the pool by weight; a guest beyond its share
 *            gets only what the host spares above its high mark.
 *  need      what the host wants back this round to reach its high mark;
 *            unmet: the part no guest had excess for.
 *  squeeze   memory the host took from a guest (squeezed_from: its size
 *            before); refaults: what it reads back (disk reads + host
 *            swap-ins of its RAM), measured by the host.
 *  keep      a size a refaulting guest keeps for keep_ms: no reclaim below.
 *  grant     memory given to a short guest now; give-back: memory returned
 *            slowly once the host is relaxed.
 */
#ifndef AB_POLICY_H
#define AB_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum policy_kind {
	POLICY_AUTO,		/* autoballoon: guest wins, host takes from excess */
	POLICY_PROXMOX,		/* after PVE AutoBalloon (10 s, shares, 80% goal) */
	POLICY_MOM,		/* after oVirt MOM's balloon policy (15 s, 20% free) */
	POLICY_STATIC,		/* fixed share of the host per weight */
	POLICY_OBSERVE,		/* watch and report, never act */
};

/* How the policy treats a VM (its link to the VMM is the session's: session.h). */
enum vm_state {
	VM_OK,
	VM_GUEST_DEFLATED,	/* the guest took memory back: cool-down */
	VM_UNCOOPERATIVE,	/* actual does not follow target: left alone */
};

enum policy_reason {
	REASON_NONE,
	REASON_GUEST_PRESSURE,	/* guest short of memory: deflate now */
	REASON_GUEST_DEFLATED,	/* accept what the guest took */
	REASON_HOST_RECLAIM,	/* host short: inflate from excess */
	REASON_GIVEBACK,	/* host relaxed: return memory slowly */
	REASON_IDLE_ROOM,	/* move unbacked room to a guest that needs it */
	REASON_REFAULT,		/* the guest refaults: memory now, and keep it */
	REASON_BOOT_ROOM,	/* a booting guest's untouched memory beyond the host's room */
	REASON_BOUNDS,		/* min/max changed */
	REASON_UNCOOPERATIVE,	/* stop pushing: target := actual */
	REASON_BASELINE,	/* reference policy (proxmox, mom, static) */
};

struct policy_params {
	enum policy_kind kind;
	uint64_t host_low_bytes;	/* host pressured when avail below */
	uint64_t host_high_bytes;	/* host relaxed when avail above */
	uint64_t relax_delay_ms;	/* relaxed this long before giving back */
	uint64_t deadband_bytes;	/* smaller changes are not sent */
	uint64_t step_inflate_bytes;	/* max inflate per VM per round */
	uint64_t giveback_bytes;	/* max give-back per VM per round */
	uint64_t cooldown_ms;		/* no inflate after the guest won */
	uint64_t uncoop_after_ms;	/* no progress this long: uncooperative */
	uint64_t uncoop_retry_ms;	/* try an uncooperative VM again after */
	uint64_t interval_ms;		/* proxmox/mom: act at most this often */
	uint64_t lead_ms;		/* project a falling avail this far ahead */
	double refault_pps_threshold;	/* auto: refaulting faster: short of memory */
	uint64_t keep_ms;		/* auto: a refaulting guest keeps its size this long */
	bool residency;			/* auto: count only backed memory (default on) */
	bool boot_room;			/* auto: cap booting guests' untouched memory (on) */
};

/* Defaults for a kind (interval differs per reference policy). */
void policy_params_default(struct policy_params *p, enum policy_kind kind);

struct policy_vm {
	/* configuration */
	uint64_t min_bytes;
	uint64_t max_bytes;
	uint64_t buffer_bytes;
	uint32_t weight;	/* >= 1 */

	/* observations */
	bool active;		/* QMP ready, balloon present, not paused */
	uint64_t actual_bytes;
	uint64_t actual_seen_ms;	/* when actual was observed (0: now) */
	bool stats_valid;	/* recent, sane guest stats below */
	/*
	 * No usable sample right now, but the guest reports stats (just
	 * adopted, or its balloon was moving when it measured): not a blind
	 * donor, wait for the next sample.
	 */
	bool stats_expected;
	/*
	 * Booting: stats are on but the guest has never reported (its balloon
	 * driver is not up yet), just adopted. Most of its memory is
	 * untouched; the host backs only what resident_bytes says.
	 */
	bool booting;
	uint64_t avail_bytes;
	uint64_t free_bytes;
	uint64_t total_bytes;
	/*
	 * Backed memory (its VMM's resident guest RAM) when the guest took the
	 * sample above, not fresher: a guest bursting into unbacked memory is
	 * resident at once but reports its avail falling only next sample.
	 * Inflating returns memory to the host only out of this.
	 */
	bool resident_valid;
	uint64_t resident_bytes;
	/*
	 * Of the unbacked rest, what is in the host's swap (same moment):
	 * guest data, not room - it comes back at the pace the guest reads
	 * it, not all at once like free room a burst lands on.
	 */
	uint64_t swapped_bytes;
	/* The guest reports its free memory (virtio free page reporting):
	 * its free memory is the host's within seconds, balloon or not. */
	bool free_reporting;
	/*
	 * Refaults: how fast memory the guest lost comes back (4 KiB pages/s
	 * over the last stats interval), seen by the host without any guest
	 * driver: reads of its disks (cache it no longer holds) plus its
	 * QEMU's major faults (RAM the host swapped out).
	 */
	bool refault_valid;
	double refault_pps;
	double refault_swapin_pps;	/* the part that is host swap-ins */
	uint64_t refault_ms;	/* when it was measured: one sample, one grant */

	/* policy memory (kept by the caller between rounds) */
	enum vm_state state;	/* VM_OK, VM_GUEST_DEFLATED or VM_UNCOOPERATIVE */
	uint64_t target_bytes;	/* the target QEMU has now */
	uint64_t target_set_ms;	/* when it was set or progress last seen */
	uint64_t actual_at_set;	/* actual at that moment */
	uint64_t deflating_to_bytes;	/* a deflation in flight then was heading here */
	uint64_t cooldown_until_ms;
	uint64_t retry_at_ms;	/* uncooperative: when to try again */
	uint64_t squeezed_from;	/* size before the host inflated the balloon (0: not) */
	uint64_t keep_bytes;	/* keep: no reclaim below this ... */
	uint64_t keep_until_ms;	/* ... until then */
	uint64_t refault_since_ms;	/* the present refault episode began */
	uint64_t refault_last_ms;	/* last sample that showed refaults */
	uint64_t refault_used_ms;	/* the sample last acted on */
	uint64_t inflated_ms;		/* last seen inflating (actual above target) */
	uint64_t no_help_until_ms;	/* memory did not stop its refaults */

	/* outputs of the last round */
	bool set_target;	/* send new_target_bytes to QEMU */
	uint64_t new_target_bytes;
	enum policy_reason reason;
	bool guest_pressure;	/* the guest showed pressure this round */
};

struct policy_host {
	/* input */
	uint64_t now_ms;
	uint64_t total_bytes;
	uint64_t avail_bytes;
	bool pressure_event;	/* PSI/vmpressure fired since the last round */
	uint64_t swapped_bytes;	/* swap use grew this much since the last round */
	uint64_t avail_fall_bps;	/* avail is falling this fast (bytes/s), 0: not */
	uint64_t avail_falling_ms;	/* ... and has been falling this long */

	/* policy memory */
	bool pressured;
	uint64_t relaxed_since_ms;
	uint64_t unmet_since_ms;	/* reclaim wanted and not found since */
	uint64_t last_run_ms;	/* proxmox/mom cadence */
	/*
	 * auto: what the host uses besides the guests' RAM (the VMMs, other
	 * processes), smoothed: falls at once, rises over ~OVERHEAD_TAU_MS (a
	 * guest's residency is read with its stats sample, so a guest touching
	 * memory looks like overhead until its next sample).
	 */
	uint64_t overhead_bytes;
	uint64_t overhead_ms;	/* when it was last updated (0: never) */

	/* outputs of the last round */
	uint64_t need_bytes;	/* reclaim wanted */
	uint64_t unmet_bytes;	/* reclaim wanted but no VM had excess */
	uint64_t reclaim_bytes;
	uint64_t grant_bytes;
	uint64_t giveback_bytes;
};

/*
 * How fast the host's available memory falls (EWMA over ~1 s of every host
 * sample, negative: rising) and for how long it has been falling: a fall is
 * over once no sample has seen avail fall faster than 8 MiB/s for 300 ms (a
 * guest reading its disk falls in steps; one that finished touching an
 * allocation stays flat).
 */
struct avail_trend {
	double fall_bps;
	uint64_t ms;			/* last sample */
	uint64_t avail;
	bool valid;
	uint64_t fall_start_ms;		/* first sample of the present fall */
	uint64_t fall_last_ms;		/* last sample that saw avail fall */
};

void avail_trend_update(struct avail_trend *t, uint64_t now_ms, uint64_t avail_bytes);
uint64_t avail_trend_fall_bps(const struct avail_trend *t);	/* 0: not falling */
uint64_t avail_trend_falling_ms(const struct avail_trend *t);	/* 0: not falling */

/*
 * The host's available memory lead_ms from now if it keeps falling at
 * fall_bps: what the auto policy judges pressure by, so that reclaim starts
 * while there is still time for guests to give memory back. A trend is
 * extrapolated no further ahead than it has lasted (falling_ms): a guest
 * touching a 100 MiB allocation makes avail fall fast for a few hundred
 * ms and then stop, and is no reason to take 200 MiB from the others.
 */
uint64_t policy_projected_avail(const struct policy_params *p, uint64_t avail_bytes,
				uint64_t fall_bps, uint64_t falling_ms);

/* Run one round: sets set_target/new_target_bytes/reason on each VM. */
void policy_round(const struct policy_params *p, struct policy_host *h,
		  struct policy_vm *const *vms, size_t n);

/*
 * A target was sent and acknowledged: record it in the VM's policy memory.
 * (Split from policy_round so a failed QMP command leaves the memory as is.)
 */
void policy_commit(struct policy_vm *vm, uint64_t target_bytes, uint64_t actual_bytes,
		   uint64_t now_ms);

/* A VM (re)appeared: adopt its current balloon as the target. */
void policy_adopt(struct policy_vm *vm, uint64_t actual_bytes, uint64_t now_ms);

/*
 * The thresholds, for the daemon to call a round early: a guest short of
 * memory (step 2 would grant: under half its buffer, or refaulting faster
 * than the threshold), the host short (avail, projected, under low).
 */
bool policy_guest_short(const struct policy_params *p, const struct policy_vm *v);
bool policy_host_short(const struct policy_params *p, uint64_t avail_bytes,
		       uint64_t fall_bps, uint64_t falling_ms);

const char *policy_kind_name(enum policy_kind k);
int policy_kind_parse(const char *s, enum policy_kind *ret);
const char *vm_state_name(enum vm_state s);
const char *policy_reason_name(enum policy_reason r);

#endif
