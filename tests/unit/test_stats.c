/* SPDX-License-Identifier: MIT */
/* Unit tests for guest statistics: decoding, distrust, rates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "stats.h"
#include "util.h"

static json_t *load(const char *s)
{
	json_t *j = json_loads(s, JSON_DECODE_INT_AS_REAL, NULL);

	assert_non_null(j);
	return j;
}

static void test_decode_real_qemu_reply(void **state)
{
	/* A reply as QEMU 7.2 sends it, one stat unknown. */
	json_t *j = load("{\"stats\": {\"stat-swap-out\": 0, \"stat-available-memory\": 430888960,"
			 " \"stat-free-memory\": 342556672, \"stat-minor-faults\": 21817,"
			 " \"stat-major-faults\": 3, \"stat-total-memory\": 479645696,"
			 " \"stat-swap-in\": 0, \"stat-disk-caches\": 109924352,"
			 " \"stat-htlb-pgalloc\": 0, \"stat-htlb-pgfail\": 18446744073709551615},"
			 " \"last-update\": 1764215000}");
	struct guest_stats s;
	unsigned bad = 99;

	assert_int_equal(guest_stats_decode(j, &s, &bad), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(s.last_update_s, 1764215000);
	assert_true(gstat_known(&s, GSTAT_AVAIL));
	assert_int_equal(s.val[GSTAT_AVAIL], 430888960);
	assert_int_equal(s.val[GSTAT_CACHES], 109924352);
	assert_false(gstat_known(&s, GSTAT_HTLB_FAIL));	/* u64 -1: unknown */
	assert_string_equal(gstat_qemu_name(GSTAT_SWAP_IN), "stat-swap-in");
	json_decref(j);
}

static void test_decode_garbage(void **state)
{
	static const struct {
		const char *json;
		int ret;
		unsigned bad;
		uint32_t known;
	} cases[] = {
		{ "{}", -EPROTO, 0, 0 },
		{ "[]", -EPROTO, 0, 0 },
		{ "{\"stats\": [], \"last-update\": 1}", -EPROTO, 0, 0 },
		{ "{\"stats\": {}}", -EPROTO, 0, 0 },
		{ "{\"stats\": {}, \"last-update\": \"now\"}", -EPROTO, 0, 0 },
		{ "{\"stats\": {}, \"last-update\": -4}", -EPROTO, 0, 0 },
		{ "{\"stats\": {}, \"last-update\": 0}", 0, 0, 0 },
		/* wrong types and values are dropped one by one, counted */
		{ "{\"stats\": {\"stat-available-memory\": \"lots\", \"stat-free-memory\": -1,"
		  " \"stat-total-memory\": 1.5, \"stat-disk-caches\": null,"
		  " \"stat-swap-in\": 7, \"stat-bogus\": 3}, \"last-update\": 5}", 0, 4,
		  1u << GSTAT_SWAP_IN },
		/* absurd but representable: kept here, clamped by sanitize */
		{ "{\"stats\": {\"stat-available-memory\": 9007199254740992},"
		  " \"last-update\": 5}", 0, 0, 1u << GSTAT_AVAIL },
		{ "{\"stats\": {\"stat-available-memory\": 9007199254740999},"
		  " \"last-update\": 5}", 0, 1, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_t *j = load(cases[i].json);
		struct guest_stats s;
		unsigned bad = 0;
		int r = guest_stats_decode(j, &s, &bad);

		if (r != cases[i].ret || (r == 0 && (bad != cases[i].bad ||
						     s.known != cases[i].known)))
			fail_msg("case %zu: r=%d bad=%u known=%#x", i, r, bad, s.known);
		json_decref(j);
	}
	assert_int_equal(guest_stats_decode(NULL, &(struct guest_stats){ 0 }, NULL), -EPROTO);
}

static void test_sanitize(void **state)
{
	struct guest_stats s = { .known = (1u << GSTAT_TOTAL) | (1u << GSTAT_AVAIL) |
					  (1u << GSTAT_FREE) | (1u << GSTAT_CACHES) };

	s.val[GSTAT_TOTAL] = 8 * 1024 * MIB;	/* more than the VM has */
	s.val[GSTAT_AVAIL] = UINT64_MAX / 2;
	s.val[GSTAT_FREE] = 100 * MIB;
	s.val[GSTAT_CACHES] = 600 * MIB;
	assert_int_equal(guest_stats_sanitize(&s, 512 * MIB), 3);
	assert_int_equal(s.val[GSTAT_TOTAL], 512 * MIB);
	assert_int_equal(s.val[GSTAT_AVAIL], 512 * MIB);
	assert_int_equal(s.val[GSTAT_CACHES], 512 * MIB);
	assert_int_equal(s.val[GSTAT_FREE], 100 * MIB);

	/* without a total, the VM's max bounds everything */
	memset(&s, 0, sizeof(s));
	s.known = 1u << GSTAT_AVAIL;
	s.val[GSTAT_AVAIL] = 2048 * MIB;
	assert_int_equal(guest_stats_sanitize(&s, 1024 * MIB), 1);
	assert_int_equal(s.val[GSTAT_AVAIL], 1024 * MIB);
}

static struct guest_stats sample(uint64_t t, uint64_t swapin_pages, uint64_t majflt)
{
	struct guest_stats s = { .last_update_s = t,
				 .known = (1u << GSTAT_SWAP_IN) | (1u << GSTAT_MAJFLT) };

	s.val[GSTAT_SWAP_IN] = swapin_pages * PAGE_BYTES;
	s.val[GSTAT_MAJFLT] = majflt;
	return s;
}

static void test_rates(void **state)
{
	struct rate_state st = { 0 };
	struct guest_rates r;
	struct guest_stats s;

	s = sample(100, 1000, 50);
	assert_int_equal(guest_rates_update(&st, &s, &r), -EAGAIN);	/* first */
	assert_int_equal(guest_rates_update(&st, &s, &r), 0);		/* same sample */
	s = sample(102, 1400, 250);
	assert_int_equal(guest_rates_update(&st, &s, &r), 1);
	assert_true(r.swapin_pps == 200.0);
	assert_true(r.majflt_ps == 100.0);
	assert_int_equal(r.interval_s, 2);
	/* a counter going backwards (guest reboot) resets, no negative rate */
	s = sample(103, 10, 1);
	assert_int_equal(guest_rates_update(&st, &s, &r), -EAGAIN);
	assert_true(r.swapin_pps == 0);
	s = sample(104, 110, 1);
	assert_int_equal(guest_rates_update(&st, &s, &r), 1);
	assert_true(r.swapin_pps == 100.0);
	/* time going backwards too */
	s = sample(50, 200, 1);
	assert_int_equal(guest_rates_update(&st, &s, &r), -EAGAIN);
	/* unknown counters give zero rates, not garbage */
	s = sample(51, 0, 0);
	s.known = 0;
	assert_int_equal(guest_rates_update(&st, &s, &r), 1);
	assert_true(r.swapin_pps == 0 && r.majflt_ps == 0);
}

static void test_blockstats(void **state)
{
	uint64_t b = 0;
	json_t *j = load("[{\"device\": \"abdata\", \"stats\": {\"rd_bytes\": 1048576, "
			 "\"rd_operations\": 1}}, {\"device\": \"\", \"node-name\": \"x\", "
			 "\"stats\": {\"rd_bytes\": 4096}}]");

	assert_int_equal(blockstats_read_bytes(j, &b), 0);
	assert_int_equal(b, 1048576 + 4096);
	json_decref(j);
	j = load("[]");	/* no disks: nothing read */
	assert_int_equal(blockstats_read_bytes(j, &b), 0);
	assert_int_equal(b, 0);
	json_decref(j);
	/* garbage is refused, never half-summed */
	const char *bad[] = { "{}", "[1]", "[{\"stats\": {}}]",
			      "[{\"stats\": {\"rd_bytes\": -1}}]",
			      "[{\"stats\": {\"rd_bytes\": \"12\"}}]",
			      "[{\"stats\": {\"rd_bytes\": 1.5}}]" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = load(bad[i]);
		b = 7;
		assert_int_equal(blockstats_read_bytes(j, &b), -EPROTO);
		assert_int_equal(b, 7);
		json_decref(j);
	}
}

static void test_refault_rate(void **state)
{
	struct refault_state st = { 0 };
	struct refault_rate r;

	assert_int_equal(refault_update(&st, 1000, 0, 10, 500, &r), -EAGAIN);
	assert_int_equal(refault_update(&st, 1200, 4096, 10, 500, &r), 0);	/* too soon */
	/* 2 MiB read (512 pages) and 256 major faults in 2 s */
	assert_int_equal(refault_update(&st, 3000, 2 * MIB, 266, 500, &r), 1);
	assert_true(r.read_pps == 256.0);
	assert_true(r.swapin_pps == 128.0);
	/* a restarted QEMU: counters go back, the baseline resets */
	assert_int_equal(refault_update(&st, 4000, 0, 0, 500, &r), -EAGAIN);
	assert_true(r.read_pps == 0 && r.swapin_pps == 0);
	assert_int_equal(refault_update(&st, 5000, MIB, 0, 500, &r), 1);
	assert_true(r.read_pps == 256.0 && r.swapin_pps == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_real_qemu_reply),
		cmocka_unit_test(test_decode_garbage),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_rates),
		cmocka_unit_test(test_blockstats),
		cmocka_unit_test(test_refault_rate),
	};

	return cmocka_run_group_tests_name("stats", tests, NULL, NULL);
}
