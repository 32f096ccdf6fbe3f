/* SPDX-License-Identifier: MIT */
/*
 * fuzz_stats - guest statistics as a guest (through QEMU) reports them:
 * qom-get guest-stats return values decoded, sanitised against a VM size
 * taken from the input, and fed twice to the rate computation (counters
 * going backwards, time standing still, absurd intervals).
 */
#include <stdint.h>
#include <string.h>

#include "qmp.h"
#include "stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_stats s, prev;
	struct rate_state st;
	struct guest_rates r;
	uint64_t max = 1ULL << 30, u;
	unsigned bad;
	json_t *j;

	if (size >= 8) {
		memcpy(&max, data, 8);
		data += 8;
		size -= 8;
	}
	j = json_loadb((const char *)data, size, JSON_DECODE_INT_AS_REAL, NULL);
	if (!j)
		return 0;
	(void)qmp_json_u64(j, &u);
	memset(&st, 0, sizeof(st));
	if (guest_stats_decode(j, &s, &bad) == 0) {
		guest_stats_sanitize(&s, max);
		prev = s;
		(void)guest_rates_update(&st, &s, &r);
		/* the same sample again, then one with the counters turned */
		(void)guest_rates_update(&st, &s, &r);
		for (int g = 0; g < GSTAT__N; g++)
			s.val[g] = ~prev.val[g];
		s.last_update_s = prev.last_update_s + (max & 0xffff);
		(void)guest_rates_update(&st, &s, &r);
	}
	json_decref(j);
	return 0;
}
