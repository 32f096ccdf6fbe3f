/* spike - page cache first, then a sudden anonymous burst.
 *
 * Reads `cache` MiB from the data disk into the page cache, idles `idle` s,
 * allocates and touches `burst` MiB at once (the time to touch is the stall a
 * guest sees when memory must come back), holds it `hold` s, frees it, idles
 * `idle2` s.
 *
 * Lines: AB phase name=cache-start | cache-done ms= mib= | idle-start secs= |
 *        burst-start mib= | burst-touched touch_ms= max_chunk_ms= |
 *        burst-freed | idle2-start secs= ;
 *        AB result workload=spike runtime_ms= cache_ms= touch_ms= ...
 */
#include "ablib.h"

#include <inttypes.h>

#define NAME "spike"

int main(int argc, char **argv)
{
	struct ab_opt opts[] = {
		{ "cache", 256, "MiB read from the data disk into page cache" },
		{ "idle", 5, "idle seconds before the burst" },
		{ "burst", 256, "anonymous MiB allocated and touched at once" },
		{ "hold", 5, "seconds the burst is held" },
		{ "idle2", 5, "idle seconds after freeing" },
		{ "seed", 1, "PRNG seed" },
		{ NULL, 0, NULL },
	};
	ab_parse_opts(NAME, argc, argv, opts);
	uint64_t cache = (uint64_t)ab_opt(opts, "cache") * AB_MIB;
	uint64_t burst = (uint64_t)ab_opt(opts, "burst") * AB_MIB;
	uint64_t start = ab_now_ms();

	uint64_t cache_ms = 0;
	if (cache) {
		struct ab_disk d;
		ab_disk_open(NAME, &d);
		if (cache > d.size_bytes)
			cache = d.size_bytes;
		ab_emit("phase", "name=cache-start mib=%" PRIu64, cache / AB_MIB);
		uint64_t t = ab_now_ms();
		ab_disk_read(NAME, &d, 0, cache, 0);
		cache_ms = ab_now_ms() - t;
		ab_emit("phase", "name=cache-done ms=%" PRIu64 " mib=%" PRIu64,
			cache_ms, cache / AB_MIB);
	}
	ab_emit("phase", "name=idle-start secs=%" PRId64, ab_opt(opts, "idle"));
	ab_sleep_ms((uint64_t)ab_opt(opts, "idle") * 1000u);

	ab_emit("phase", "name=burst-start mib=%" PRIu64, burst / AB_MIB);
	void *p = ab_anon_alloc(NAME, burst);
	struct ab_touch_stats ts;
	ab_anon_touch(p, burst, (uint64_t)ab_opt(opts, "seed"), &ts);
	ab_emit("phase", "name=burst-touched touch_ms=%" PRIu64
		" max_chunk_ms=%" PRIu64 " mib=%" PRIu64, ts.ms,
		ts.max_chunk_ms, burst / AB_MIB);
	ab_sleep_ms((uint64_t)ab_opt(opts, "hold") * 1000u);
	ab_anon_free(p, burst);
	ab_emit("phase", "name=burst-freed");

	ab_emit("phase", "name=idle2-start secs=%" PRId64, ab_opt(opts, "idle2"));
	ab_sleep_ms((uint64_t)ab_opt(opts, "idle2") * 1000u);
	ab_result(NAME, start,
		  "cache_ms=%" PRIu64 " touch_ms=%" PRIu64 " max_chunk_ms=%" PRIu64
		  " burst_mib=%" PRIu64 " cache_mib=%" PRIu64, cache_ms, ts.ms,
		  ts.max_chunk_ms, burst / AB_MIB, cache / AB_MIB);
	return 0;
}
