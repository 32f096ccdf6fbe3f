/* SPDX-License-Identifier: MIT */
#include "stats.h"

#include <errno.h>
#include <string.h>

#include "qmp.h"
#include "util.h"

static const char *const qemu_names[GSTAT__N] = {
	[GSTAT_SWAP_IN] = "stat-swap-in",
	[GSTAT_SWAP_OUT] = "stat-swap-out",
	[GSTAT_MAJFLT] = "stat-major-faults",
	[GSTAT_MINFLT] = "stat-minor-faults",
	[GSTAT_FREE] = "stat-free-memory",
	[GSTAT_TOTAL] = "stat-total-memory",
	[GSTAT_AVAIL] = "stat-available-memory",
	[GSTAT_CACHES] = "stat-disk-caches",
	[GSTAT_HTLB_ALLOC] = "stat-htlb-pgalloc",
	[GSTAT_HTLB_FAIL] = "stat-htlb-pgfail",
};

const char *gstat_qemu_name(enum gstat g)
{
	return qemu_names[g];
}

int guest_stats_decode(const json_t *ret, struct guest_stats *out,
		       unsigned *ret_bad)
{
	const json_t *stats = json_object_get(ret, "stats");
	unsigned bad = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(ret) || !json_is_object(stats))
		return -EPROTO;
	r = qmp_json_u64(json_object_get(ret, "last-update"), &out->last_update_s);
	if (r < 0)
		return -EPROTO;
	for (int g = 0; g < GSTAT__N; g++) {
		const json_t *v = json_object_get(stats, qemu_names[g]);

		if (!v)
			continue;
		r = qmp_json_u64(v, &out->val[g]);
		if (r == 0)
			out->known |= 1u << g;
		else if (r != -ENODATA)
			bad++;
	}
	if (ret_bad)
		*ret_bad = bad;
	return 0;
}

static unsigned clamp_known(struct guest_stats *s, enum gstat g, uint64_t hi)
{
	if (gstat_known(s, g) && s->val[g] > hi) {
		s->val[g] = hi;
		return 1;
	}
	return 0;
}

unsigned guest_stats_sanitize(struct guest_stats *s, uint64_t max_bytes)
{
	uint64_t total;
	unsigned n = 0;

	n += clamp_known(s, GSTAT_TOTAL, max_bytes);
	total = gstat_known(s, GSTAT_TOTAL) ? s->val[GSTAT_TOTAL] : max_bytes;
	n += clamp_known(s, GSTAT_FREE, total);
	n += clamp_known(s, GSTAT_AVAIL, total);
	n += clamp_known(s, GSTAT_CACHES, total);
	return n;
}

/* Counter delta per second; false when the counter is unknown or went back. */
static bool counter_rate(const struct guest_stats *a, const struct guest_stats *b,
			 enum gstat g, double dt, double scale, double *ret)
{
	if (!gstat_known(a, g) || !gstat_known(b, g)) {
		*ret = 0;
		return true;
	}
	if (b->val[g] < a->val[g])
		return false;
	*ret = (double)(b->val[g] - a->val[g]) / scale / dt;
	return true;
}

int guest_rates_update(struct rate_state *st, const struct guest_stats *cur,
		       struct guest_rates *out)
{
	const struct guest_stats *prev = &st->prev;
	double dt;

	memset(out, 0, sizeof(*out));
	if (st->have_prev && cur->last_update_s == prev->last_update_s)
		return 0;
	if (!st->have_prev || cur->last_update_s < prev->last_update_s)
		goto reset;
	dt = (double)(cur->last_update_s - prev->last_update_s);
	if (!counter_rate(prev, cur, GSTAT_SWAP_IN, dt, PAGE_BYTES, &out->swapin_pps) ||
	    !counter_rate(prev, cur, GSTAT_SWAP_OUT, dt, PAGE_BYTES, &out->swapout_pps) ||
	    !counter_rate(prev, cur, GSTAT_MAJFLT, dt, 1, &out->majflt_ps))
		goto reset;
	out->interval_s = cur->last_update_s - prev->last_update_s;
	st->prev = *cur;
	return 1;
reset:
	memset(out, 0, sizeof(*out));
	st->prev = *cur;
	st->have_prev = true;
	return -EAGAIN;
}

int blockstats_read_bytes(const json_t *ret, uint64_t *ret_bytes)
{
	const json_t *dev;
	uint64_t sum = 0, v;
	size_t i;

	if (!json_is_array(ret))
		return -EPROTO;
	json_array_foreach(ret, i, dev) {
		const json_t *n = json_object_get(json_object_get(dev, "stats"), "rd_bytes");

		if (qmp_json_u64(n, &v) < 0)
			return -EPROTO;
		if (sum + v < sum)
			return -EPROTO;
		sum += v;
	}
	*ret_bytes = sum;
	return 0;
}

int refault_update(struct refault_state *st, uint64_t now_ms, uint64_t read_bytes,
		   uint64_t majflt, uint64_t min_ms, struct refault_rate *ret)
{
	double dt;

	*ret = (struct refault_rate){ 0 };
	if (st->have_prev && now_ms < st->ms + min_ms)
		return 0;
	if (!st->have_prev || read_bytes < st->read_bytes || majflt < st->majflt ||
	    now_ms <= st->ms) {
		*st = (struct refault_state){ true, now_ms, read_bytes, majflt };
		return -EAGAIN;
	}
	dt = (double)(now_ms - st->ms) / 1000.0;
	ret->read_pps = (double)(read_bytes - st->read_bytes) / PAGE_BYTES / dt;
	ret->swapin_pps = (double)(majflt - st->majflt) / dt;
	*st = (struct refault_state){ true, now_ms, read_bytes, majflt };
	return 1;
}
