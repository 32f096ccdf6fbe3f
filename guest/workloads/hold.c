/* hold - allocate and touch `mib` MiB, then hold it for `secs` seconds
 * (0 = forever), re-touching every `retouch` seconds (0 = never).
 *
 * Lines: AB phase name=held mib= touch_ms= ; AB result workload=hold ...
 */
#include "ablib.h"

#include <inttypes.h>

#define NAME "hold"

int main(int argc, char **argv)
{
	struct ab_opt opts[] = {
		{ "mib", 128, "anonymous MiB to allocate and touch" },
		{ "secs", 0, "seconds to hold (0 = forever)" },
		{ "retouch", 0, "re-touch every N seconds (0 = never)" },
		{ NULL, 0, NULL },
	};
	ab_parse_opts(NAME, argc, argv, opts);
	uint64_t start = ab_now_ms();
	uint64_t bytes = (uint64_t)ab_opt(opts, "mib") * AB_MIB;
	uint64_t secs = (uint64_t)ab_opt(opts, "secs");
	uint64_t retouch = (uint64_t)ab_opt(opts, "retouch");
	void *p = ab_anon_alloc(NAME, bytes);
	struct ab_touch_stats ts;
	ab_anon_touch(p, bytes, 1, &ts);
	ab_emit("phase", "name=held mib=%" PRIu64 " touch_ms=%" PRIu64,
		bytes / AB_MIB, ts.ms);
	uint64_t end = start + secs * 1000u;
	uint64_t max_retouch_ms = 0, seed = 2;
	while (!secs || ab_now_ms() < end) {
		uint64_t step = retouch ? retouch * 1000u : 1000u;
		if (secs && ab_now_ms() + step > end)
			step = end - ab_now_ms();
		ab_sleep_ms(step);
		if (retouch) {
			struct ab_touch_stats rt;
			ab_anon_touch(p, bytes, seed++, &rt);
			if (rt.ms > max_retouch_ms)
				max_retouch_ms = rt.ms;
		}
	}
	ab_anon_free(p, bytes);
	ab_result(NAME, start, "mib=%" PRIu64 " touch_ms=%" PRIu64
		  " max_retouch_ms=%" PRIu64, bytes / AB_MIB, ts.ms, max_retouch_ms);
	return 0;
}
