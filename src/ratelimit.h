/* SPDX-License-Identifier: MIT */
/*
 * ratelimit.h - a token bucket for repeated log messages (one per VM and
 * kind of message), so that a peer cannot flood the log.
 *
 * Pure: no clock reads, time is an argument (CLOCK_MONOTONIC ms). Up to
 * burst messages pass at once, then one every interval_ms; what is held
 * back is counted and handed to the caller with the next message that
 * passes (or by ratelimit_flush once the bucket has refilled), so the log
 * says how much it left out.
 */
#ifndef AB_RATELIMIT_H
#define AB_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct ratelimit_params {
	uint32_t burst;		/* messages that pass at once (>= 1) */
	uint64_t interval_ms;	/* one more token every interval_ms (>= 1) */
};

struct ratelimit {
	bool started;
	uint32_t tokens;
	uint64_t refill_ms;	/* when the last token was added */
	uint64_t suppressed;	/* held back since the last message passed */
};

/*
 * May a message go out at now_ms? true: yes, and *ret_suppressed is how
 * many were held back before it (the count starts again). false: it is
 * held back and counted.
 */
bool ratelimit_allow(struct ratelimit *rl, const struct ratelimit_params *p,
		     uint64_t now_ms, uint64_t *ret_suppressed);

/*
 * Messages were held back and the bucket has a token again: take it and
 * return how many (to log a summary); 0 otherwise.
 */
uint64_t ratelimit_flush(struct ratelimit *rl, const struct ratelimit_params *p,
			 uint64_t now_ms);

#endif
