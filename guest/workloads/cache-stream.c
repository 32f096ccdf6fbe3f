/* cache-stream - page-cache heavy: stream-read the data disk again and again
 * for `duration` seconds (1 MiB requests, wrapping at `size` MiB; 0 = whole
 * disk). When `size` exceeds what the guest can cache, every pass misses.
 *
 * Lines: AB phase name=pass n= ms= mib= (the first 3 passes, then at most one
 *        a second) ; AB result workload=cache-stream
 *        runtime_ms= mib_read= passes= mib_per_s= ...
 */
#include "ablib.h"

#include <inttypes.h>

#define NAME "cache-stream"

int main(int argc, char **argv)
{
	struct ab_opt opts[] = {
		{ "duration", 30, "seconds to stream" },
		{ "size", 0, "MiB region to stream over (0 = whole disk)" },
		{ NULL, 0, NULL },
	};
	ab_parse_opts(NAME, argc, argv, opts);
	struct ab_disk d;
	ab_disk_open(NAME, &d);
	uint64_t region = (uint64_t)ab_opt(opts, "size") * AB_MIB;
	if (!region || region > d.size_bytes)
		region = d.size_bytes;
	uint64_t start = ab_now_ms();
	uint64_t end = start + (uint64_t)ab_opt(opts, "duration") * 1000u;
	uint64_t pos = 0, total = 0, pass_start = start, last_line = 0;
	unsigned passes = 0;
	while (ab_now_ms() < end) {
		ab_disk_read(NAME, &d, pos, AB_MIB, region);
		total += AB_MIB;
		pos += AB_MIB;
		if (pos >= region) {
			uint64_t now = ab_now_ms();
			/* at most about one line a second: passes over cached
			 * data take ~100 ms */
			if (passes < 3 || now - last_line >= 1000) {
				ab_emit("phase", "name=pass n=%u ms=%" PRIu64
					" mib=%" PRIu64, passes, now - pass_start,
					region / AB_MIB);
				last_line = now;
			}
			passes++;
			pos = 0;
			pass_start = now;
		}
	}
	uint64_t ms = ab_now_ms() - start;
	ab_result(NAME, start, "mib_read=%" PRIu64 " passes=%u mib_per_s=%" PRIu64
		  " region_mib=%" PRIu64, total / AB_MIB, passes,
		  ms ? total / AB_MIB * 1000u / ms : 0, region / AB_MIB);
	return 0;
}
