/* SPDX-License-Identifier: MIT */
/*
 * observe.h - what the daemon has seen of one VM, and how that becomes the
 * policy's input for a round. Pure: time is an argument.
 *
 * A guest sample describes the guest when it was taken, when the balloon
 * may have had another size than now. Its stamp is a clock the daemon does
 * not share, so the daemon times a sample by its own monotonic clock - after
 * the poll that returned the sample before it went out, before this poll was
 * answered - and looks up the balloon's size then in the sizes it saw
 * (struct actual_hist). A sample is used only when that size is known; its
 * levels are then corrected by what the balloon did since, so a round never
 * takes (or grants) the same memory twice on one sample.
 */
#ifndef AB_OBSERVE_H
#define AB_OBSERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"
#include "stats.h"

#define ACTUAL_HISTORY 16

/* The balloon sizes seen lately, oldest first. */
struct actual_hist {
	struct {
		uint64_t ms;		/* monotonic: when seen (or sent, when moving) */
		uint64_t actual;
	} e[ACTUAL_HISTORY];
	unsigned len;
	bool dropped;			/* older entries were dropped */
};

/* Forget everything (a balloon adopted anew) and start at actual. */
void hist_reset(struct actual_hist *h, uint64_t now_ms, uint64_t actual);

/* A size seen at now_ms; moving: a new target went out now, from actual. */
void hist_note(struct actual_hist *h, uint64_t now_ms, uint64_t actual, bool moving);

/*
 * The balloon's size while a sample was taken, some time between after_ms
 * and before_ms (after_ms 0: not known). After the last size seen it may be
 * heading for target, and for inflight too (a target in flight, 0: none).
 * Returns -EAGAIN when it moved then, or is not known.
 */
int hist_sample_actual(const struct actual_hist *h, uint64_t after_ms, uint64_t before_ms,
		       uint64_t target, uint64_t inflight, uint64_t *ret);

/* What the daemon keeps about one VM between rounds. */
struct vm_obs {
	uint64_t actual;		/* the balloon's size, last seen */
	uint64_t actual_seen_ms;
	uint64_t adopted_ms;		/* when the balloon was adopted (0: not yet) */
	struct actual_hist hist;

	struct guest_stats stats;	/* the sample in use */
	uint64_t stats_rx_ms;		/* when it (or a moving one after it) arrived */
	uint64_t stats_seen_ms;		/* when the guest last sent a new sample */
	uint64_t stats_actual;		/* the balloon's size when it was taken */
	struct rate_state rate_state;
	struct guest_rates rates;
	uint64_t stats_moving;		/* samples not used: the balloon was moving */
	uint64_t stats_clamped;		/* values clamped to the VM's size */

	/* host memory behind the guest's RAM when the sample was taken */
	bool resident_known;
	uint64_t resident_bytes;
	uint64_t swapped_bytes;

	/* refaults, measured by the host: disk reads + its VMM's major faults */
	struct refault_state refault;
	struct refault_rate refault_rate;
	uint64_t refault_ms;		/* when measured (0: never) */
};

/* What the round needs besides struct vm_obs, as the caller sees it now. */
struct obs_context {
	bool ready;			/* the session manages the balloon */
	bool stats_supported;		/* the guest's statistics are on */
	bool guest_silent;		/* the guest has never sent a sample */
	bool free_reporting;
	bool residency;			/* the policy counts only backed memory */
	bool ram_known;			/* host memory behind the guest's RAM, now */
	uint64_t ram_resident_bytes;
	uint64_t ram_swapped_bytes;
	uint64_t stale_ms;		/* samples older than this are not used */
};

/* Is the sample in use fresh enough to act on? */
bool obs_fresh(const struct vm_obs *o, uint64_t stale_ms, uint64_t now_ms);

/* The policy's observations of this VM for a round at now_ms. */
void obs_fill(struct policy_vm *p, const struct vm_obs *o, const struct obs_context *c,
	      uint64_t now_ms);

#endif
