/* anon-churn - bursts of anonymous memory of random size for `duration`
 * seconds: allocate [min, max] MiB, touch it, hold it up to `hold_ms`, free.
 *
 * Lines: AB result workload=anon-churn runtime_ms= bursts= mib_touched=
 *        max_touch_ms= max_chunk_ms= mib_per_s= ...
 */
#include "ablib.h"

#include <inttypes.h>

#define NAME "anon-churn"

int main(int argc, char **argv)
{
	struct ab_opt opts[] = {
		{ "duration", 30, "seconds to run" },
		{ "min", 16, "smallest burst, MiB" },
		{ "max", 128, "largest burst, MiB" },
		{ "hold_ms", 1000, "longest hold of a burst, ms" },
		{ "seed", 1, "PRNG seed" },
		{ NULL, 0, NULL },
	};
	ab_parse_opts(NAME, argc, argv, opts);
	struct ab_rng r;
	ab_rng_seed(&r, (uint64_t)ab_opt(opts, "seed"));
	uint64_t start = ab_now_ms();
	uint64_t end = start + (uint64_t)ab_opt(opts, "duration") * 1000u;
	uint64_t bursts = 0, mib_total = 0, touch_total_ms = 0;
	uint64_t max_touch = 0, max_chunk = 0;
	while (ab_now_ms() < end) {
		uint64_t mib = ab_rng_range(&r, (uint64_t)ab_opt(opts, "min"),
					    (uint64_t)ab_opt(opts, "max"));
		uint64_t hold = ab_rng_range(&r, 0, (uint64_t)ab_opt(opts, "hold_ms"));
		void *p = ab_anon_alloc(NAME, mib * AB_MIB);
		struct ab_touch_stats ts;
		ab_anon_touch(p, mib * AB_MIB, ab_rng_next(&r), &ts);
		ab_sleep_ms(hold);
		ab_anon_free(p, mib * AB_MIB);
		bursts++;
		mib_total += mib;
		touch_total_ms += ts.ms;
		if (ts.ms > max_touch)
			max_touch = ts.ms;
		if (ts.max_chunk_ms > max_chunk)
			max_chunk = ts.max_chunk_ms;
	}
	ab_result(NAME, start, "bursts=%" PRIu64 " mib_touched=%" PRIu64
		  " max_touch_ms=%" PRIu64 " max_chunk_ms=%" PRIu64
		  " mib_per_s=%" PRIu64, bursts, mib_total, max_touch, max_chunk,
		  touch_total_ms ? mib_total * 1000u / touch_total_ms : 0);
	return 0;
}
