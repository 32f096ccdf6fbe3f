/* SPDX-License-Identifier: MIT */
/*
 * stats.h - guest memory statistics as QEMU reports them (qom-get
 * guest-stats), sanitised, and the rates derived from successive samples.
 *
 * Everything a guest says is untrusted: unknown values (u64 -1) stay
 * unknown, malformed ones are dropped, and the rest is clamped to what the VM
 * can possibly have.
 */
#ifndef AB_STATS_H
#define AB_STATS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum gstat {
	GSTAT_SWAP_IN,		/* bytes, cumulative */
	GSTAT_SWAP_OUT,		/* bytes, cumulative */
	GSTAT_MAJFLT,		/* count, cumulative */
	GSTAT_MINFLT,		/* count, cumulative */
	GSTAT_FREE,		/* bytes */
	GSTAT_TOTAL,		/* bytes */
	GSTAT_AVAIL,		/* bytes */
	GSTAT_CACHES,		/* bytes */
	GSTAT_HTLB_ALLOC,
	GSTAT_HTLB_FAIL,
	GSTAT__N,
};

struct guest_stats {
	uint64_t val[GSTAT__N];
	uint32_t known;		/* bit (1 << GSTAT_x) set when val is valid */
	uint64_t last_update_s;	/* QEMU's wall clock (s): compared only with itself */
};

struct guest_rates {
	double swapin_pps;	/* pages per second */
	double swapout_pps;
	double majflt_ps;
	uint64_t interval_s;	/* between the two samples */
};

struct rate_state {
	struct guest_stats prev;
	bool have_prev;
};

static inline bool gstat_known(const struct guest_stats *s, enum gstat g)
{
	return s->known & (1u << g);
}

const char *gstat_qemu_name(enum gstat g);	/* "stat-swap-in", ... */

/*
 * Decode the return value of qom-get guest-stats. Returns -EPROTO when the
 * shape is wrong ({"stats": {...}, "last-update": N} required). Individual
 * bad values are not fatal: they are left unknown and counted in *ret_bad.
 */
int guest_stats_decode(const json_t *ret, struct guest_stats *out,
		       unsigned *ret_bad);

/*
 * Clamp to what a VM of max_bytes can have: total <= max, free/avail/caches
 * <= total (avail >= free is not required: the guest's own view). Returns the
 * number of values that had to be clamped (a guest that needs clamping is
 * lying or confused; callers may flag it).
 */
unsigned guest_stats_sanitize(struct guest_stats *s, uint64_t max_bytes);

/*
 * Feed a sample. Returns 1 when it is a new sample (last-update advanced) and
 * *out holds rates over the interval, 0 when it is the same sample again,
 * -EAGAIN for the first sample or after a counter went backwards (guest
 * reboot: the baseline is reset).
 */
int guest_rates_update(struct rate_state *st, const struct guest_stats *cur,
		       struct guest_rates *out);

/*
 * Refaults: memory a guest lost coming back, seen from the host - the
 * reads of its disks (QMP query-blockstats) and its QEMU's major faults
 * (the host swapping its RAM back in). Timed by the daemon's monotonic
 * clock: nothing the guest says goes into it.
 */
struct refault_state {
	bool have_prev;
	uint64_t ms;		/* previous reading */
	uint64_t read_bytes;
	uint64_t majflt;
};

/* Sum of rd_bytes over the devices of a query-blockstats reply; -EPROTO
 * when it is not a list of {"stats": {"rd_bytes": N}}. */
int blockstats_read_bytes(const json_t *ret, uint64_t *ret_bytes);

/* Refault rates over one interval, in 4 KiB pages per second. */
struct refault_rate {
	double read_pps;	/* the guest's disk reads */
	double swapin_pps;	/* its QEMU's major faults: host swap-ins */
};

/*
 * Feed cumulative counters read at now_ms. Returns 1 with *ret over the
 * time since the previous reading, 0 when less than min_ms passed (nothing
 * changes), -EAGAIN for the first reading or after a counter went
 * backwards (a restarted QEMU): the baseline is reset.
 */
int refault_update(struct refault_state *st, uint64_t now_ms, uint64_t read_bytes,
		   uint64_t majflt, uint64_t min_ms, struct refault_rate *ret);

#endif
