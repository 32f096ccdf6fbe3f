/* idle (also installed as `sleep`) - do nothing for `secs` seconds
 * (0 = return at once), or forever with forever=1.
 *
 * Lines: AB result workload=idle runtime_ms= ...
 */
#include "ablib.h"

#include <inttypes.h>

#define NAME "idle"

int main(int argc, char **argv)
{
	struct ab_opt opts[] = {
		{ "secs", 0, "seconds to idle" },
		{ "forever", 0, "1 = never return" },
		{ NULL, 0, NULL },
	};
	ab_parse_opts(NAME, argc, argv, opts);
	uint64_t start = ab_now_ms();
	while (ab_opt(opts, "forever"))
		ab_sleep_ms(3600u * 1000u);
	ab_sleep_ms((uint64_t)ab_opt(opts, "secs") * 1000u);
	ab_result(NAME, start, "secs=%" PRId64, ab_opt(opts, "secs"));
	return 0;
}
