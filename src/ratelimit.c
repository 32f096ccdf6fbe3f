/* SPDX-License-Identifier: MIT */
#include "ratelimit.h"

#include "util.h"

/* Add the tokens that accrued since the last refill, up to burst. */
static void refill(struct ratelimit *rl, const struct ratelimit_params *p, uint64_t now)
{
	uint64_t interval = MAX(p->interval_ms, 1), add;
	uint32_t burst = MAX(p->burst, 1);

	if (!rl->started) {
		rl->started = true;
		rl->tokens = burst;
		rl->refill_ms = now;
		return;
	}
	if (now <= rl->refill_ms)
		return;
	add = (now - rl->refill_ms) / interval;
	if (!add)
		return;
	if (add >= burst - rl->tokens) {
		rl->tokens = burst;
		rl->refill_ms = now;
	} else {
		rl->tokens += (uint32_t)add;
		rl->refill_ms += add * interval;
	}
}

bool ratelimit_allow(struct ratelimit *rl, const struct ratelimit_params *p,
		     uint64_t now_ms, uint64_t *ret_suppressed)
{
	refill(rl, p, now_ms);
	if (!rl->tokens) {
		rl->suppressed++;
		return false;
	}
	rl->tokens--;
	*ret_suppressed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}

uint64_t ratelimit_flush(struct ratelimit *rl, const struct ratelimit_params *p,
			 uint64_t now_ms)
{
	uint64_t n;

	if (!rl->suppressed)
		return 0;
	refill(rl, p, now_ms);
	if (!rl->tokens)
		return 0;
	rl->tokens--;
	n = rl->suppressed;
	rl->suppressed = 0;
	return n;
}
