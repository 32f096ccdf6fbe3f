/* SPDX-License-Identifier: MIT */
#include "observe.h"

#include <errno.h>
#include <string.h>

#include "util.h"

/* How late the daemon may see a change (query-balloon every 250 ms when moving). */
#define SAMPLE_MARGIN_MS 300

void hist_reset(struct actual_hist *h, uint64_t now, uint64_t actual)
{
	h->len = 0;
	h->dropped = false;
	hist_note(h, now, actual, false);
}

void hist_note(struct actual_hist *h, uint64_t now, uint64_t actual, bool moving)
{
	if (h->len && h->e[h->len - 1].actual == actual && !moving)
		return;
	if (h->len == ACTUAL_HISTORY) {
		memmove(&h->e[0], &h->e[1], (ACTUAL_HISTORY - 1) * sizeof(h->e[0]));
		h->len--;
		h->dropped = true;
	}
	h->e[h->len].ms = now;
	h->e[h->len].actual = actual;
	h->len++;
}

/*
 * Between two sizes seen the balloon lies between them; after the last one
 * it may be heading for the target. The sample is usable when all the sizes
 * possible in its window are within a MiB.
 */
int hist_sample_actual(const struct actual_hist *h, uint64_t after_ms, uint64_t before_ms,
		       uint64_t target, uint64_t inflight, uint64_t *ret)
{
	uint64_t from = sat_sub(after_ms, SAMPLE_MARGIN_MS);
	uint64_t to = before_ms + SAMPLE_MARGIN_MS;
	uint64_t lo = UINT64_MAX, hi = 0;

	if (!h->len)
		return -EAGAIN;
	if (to <= h->e[0].ms) {
		/* before the first size seen: the daemon had not moved it */
		if (h->dropped)
			return -EAGAIN;
		*ret = h->e[0].actual;
		return 0;
	}
	for (unsigned i = 0; i < h->len; i++) {
		bool last = i + 1 == h->len;
		uint64_t end = last ? UINT64_MAX : h->e[i + 1].ms;
		uint64_t next = last ? target : h->e[i + 1].actual;

		if (end <= from || h->e[i].ms >= to)
			continue;
		lo = MIN(lo, MIN(h->e[i].actual, next));
		hi = MAX(hi, MAX(h->e[i].actual, next));
		if (last && inflight) {
			lo = MIN(lo, inflight);
			hi = MAX(hi, inflight);
		}
	}
	if (hi == 0 || hi - lo > MIB)
		return -EAGAIN;
	*ret = h->e[h->len - 1].actual;
	for (unsigned i = 0; i < h->len; i++)
		if (h->e[i].ms < to)
			*ret = h->e[i].actual;
	return 0;
}

bool obs_fresh(const struct vm_obs *o, uint64_t stale_ms, uint64_t now)
{
	return o->stats_rx_ms && now - o->stats_rx_ms <= stale_ms;
}

static bool recent(uint64_t ms, uint64_t stale_ms, uint64_t now)
{
	return ms && now - ms <= stale_ms;
}

/* The sample's levels, moved by what the balloon did since it was taken. */
static void fill_levels(struct policy_vm *p, const struct vm_obs *o)
{
	const struct guest_stats *s = &o->stats;
	/* a deflation in flight counts: the policy grants on top of the target */
	uint64_t now_size = MAX(p->actual_bytes, p->target_bytes);

	p->free_bytes = gstat_known(s, GSTAT_FREE) ? s->val[GSTAT_FREE] : 0;
	if (now_size >= o->stats_actual) {
		p->avail_bytes = MIN(p->avail_bytes + (now_size - o->stats_actual), now_size);
		p->free_bytes = MIN(p->free_bytes + (now_size - o->stats_actual), now_size);
	} else {
		p->avail_bytes = sat_sub(p->avail_bytes, o->stats_actual - now_size);
		p->free_bytes = sat_sub(p->free_bytes, o->stats_actual - now_size);
	}
}

void obs_fill(struct policy_vm *p, const struct vm_obs *o, const struct obs_context *c,
	      uint64_t now)
{
	const struct guest_stats *s = &o->stats;
	bool fresh = obs_fresh(o, c->stale_ms, now);

	p->actual_bytes = o->actual;
	p->actual_seen_ms = o->actual_seen_ms;
	p->active = c->ready;
	p->stats_valid = false;
	p->resident_valid = false;
	p->refault_valid = false;
	/* stats are on and the guest reports, just no usable sample yet */
	p->stats_expected = !fresh && c->stats_supported &&
			    (recent(o->adopted_ms, c->stale_ms, now) ||
			     recent(o->stats_seen_ms, c->stale_ms, now));
	/* booting: the residency read now says how much of its memory it touched */
	p->booting = p->stats_expected && c->guest_silent;
	if (p->booting) {
		p->resident_valid = c->residency && c->ram_known;
		p->resident_bytes = c->ram_resident_bytes;
		p->swapped_bytes = c->ram_swapped_bytes;
	}
	if (!fresh)
		return;
	if (gstat_known(s, GSTAT_AVAIL))
		p->avail_bytes = s->val[GSTAT_AVAIL];
	else if (gstat_known(s, GSTAT_FREE) && gstat_known(s, GSTAT_CACHES))
		p->avail_bytes = MIN(s->val[GSTAT_FREE] + s->val[GSTAT_CACHES], p->max_bytes);
	else
		return;
	fill_levels(p, o);
	p->total_bytes = gstat_known(s, GSTAT_TOTAL) ? s->val[GSTAT_TOTAL] : p->max_bytes;
	/* what the host backed when the guest took this sample */
	p->resident_valid = c->residency && o->resident_known;
	p->resident_bytes = o->resident_bytes;
	p->swapped_bytes = o->swapped_bytes;
	p->free_reporting = c->free_reporting;
	/*
	 * Refaults are measured by the host, but judged only with a sample: a
	 * guest that has not reported yet is booting, and what it reads it
	 * has never held.
	 */
	p->refault_valid = recent(o->refault_ms, c->stale_ms, now);
	p->refault_pps = o->refault_rate.read_pps + o->refault_rate.swapin_pps;
	p->refault_swapin_pps = o->refault_rate.swapin_pps;
	p->refault_ms = o->refault_ms;
	p->stats_valid = true;
}
