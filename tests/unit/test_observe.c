/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for observe.c: which balloon size a guest sample belongs to,
 * and how the observations become the policy's input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "observe.h"
#include "util.h"

#define M(x) ((uint64_t)(x) * MIB)

static void test_hist_steady_and_moving(void **state)
{
	struct actual_hist h = { 0 };
	uint64_t at = 0;

	assert_int_equal(hist_sample_actual(&h, 0, 1000, M(512), 0, &at), -EAGAIN);
	hist_reset(&h, 10000, M(1024));
	/* taken before anything was seen: the daemon had not moved it */
	assert_int_equal(hist_sample_actual(&h, 0, 9000, M(1024), 0, &at), 0);
	assert_int_equal(at, M(1024));
	/* steady since: the same size */
	assert_int_equal(hist_sample_actual(&h, 11000, 12000, M(1024), 0, &at), 0);
	assert_int_equal(at, M(1024));
	/* a target went out at 13 s and the balloon moved to 800 by 14 s */
	hist_note(&h, 13000, M(1024), true);
	hist_note(&h, 14000, M(800), false);
	assert_int_equal(hist_sample_actual(&h, 12500, 13500, M(800), 0, &at), -EAGAIN);
	/* settled at 800: a sample taken well after is at 800 */
	assert_int_equal(hist_sample_actual(&h, 15000, 16000, M(800), 0, &at), 0);
	assert_int_equal(at, M(800));
	/* ... unless a new target is in flight */
	assert_int_equal(hist_sample_actual(&h, 15000, 16000, M(800), M(600), &at), -EAGAIN);
	/* the same size seen again adds nothing */
	hist_note(&h, 17000, M(800), false);
	assert_int_equal(h.len, 3);
}

static void test_hist_drops_oldest(void **state)
{
	struct actual_hist h = { 0 };
	uint64_t at;

	hist_reset(&h, 1000, M(1024));
	for (unsigned i = 1; i <= ACTUAL_HISTORY; i++)
		hist_note(&h, 1000 + i * 1000, M(1024) - M(i), false);
	assert_int_equal(h.len, ACTUAL_HISTORY);
	assert_true(h.dropped);
	/* before the oldest size kept: unknown now */
	assert_int_equal(hist_sample_actual(&h, 0, 500, M(1000), 0, &at), -EAGAIN);
}

static struct vm_obs obs_at(uint64_t now, uint64_t sample_actual, uint64_t avail)
{
	struct vm_obs o = { .actual = sample_actual, .actual_seen_ms = now,
			    .adopted_ms = 1000, .stats_rx_ms = now, .stats_seen_ms = now,
			    .stats_actual = sample_actual };

	o.stats.val[GSTAT_AVAIL] = avail;
	o.stats.val[GSTAT_FREE] = avail / 2;
	o.stats.val[GSTAT_TOTAL] = sample_actual;
	o.stats.known = 1u << GSTAT_AVAIL | 1u << GSTAT_FREE | 1u << GSTAT_TOTAL;
	return o;
}

static const struct obs_context ctx = {
	.ready = true, .stats_supported = true, .residency = true, .stale_ms = 5000,
};

static void test_fill_corrects_for_moves(void **state)
{
	struct policy_vm p = { .max_bytes = M(1024), .target_bytes = M(1024) };
	struct vm_obs o = obs_at(20000, M(1024), M(500));

	obs_fill(&p, &o, &ctx, 20000);
	assert_true(p.stats_valid);
	assert_int_equal(p.avail_bytes, M(500));
	assert_int_equal(p.free_bytes, M(250));
	/* the balloon took 200 MiB since the sample: that much less available */
	o.actual = M(824);
	p.target_bytes = M(824);
	obs_fill(&p, &o, &ctx, 21000);
	assert_int_equal(p.actual_bytes, M(824));
	assert_int_equal(p.avail_bytes, M(300));
	assert_int_equal(p.free_bytes, M(50));
	/* a deflation in flight counts as given */
	p.target_bytes = M(924);
	obs_fill(&p, &o, &ctx, 21000);
	assert_int_equal(p.avail_bytes, M(400));
}

static void test_fill_stale_and_booting(void **state)
{
	struct policy_vm p = { .max_bytes = M(1024), .target_bytes = M(1024) };
	struct vm_obs o = obs_at(20000, M(1024), M(500));
	struct obs_context c = ctx;

	/* too old: not used, and a guest that reported lately is expected back */
	obs_fill(&p, &o, &c, 26000);
	assert_false(p.stats_valid);
	assert_false(p.stats_expected);	/* seen 6 s ago: no longer */
	o.stats_seen_ms = 25000;
	obs_fill(&p, &o, &c, 26000);
	assert_true(p.stats_expected);
	assert_false(p.booting);
	/* never reported, just adopted: booting, residency from the reading now */
	o = (struct vm_obs){ .actual = M(1024), .adopted_ms = 25000 };
	c.guest_silent = true;
	c.ram_known = true;
	c.ram_resident_bytes = M(90);
	obs_fill(&p, &o, &c, 26000);
	assert_true(p.booting);
	assert_true(p.resident_valid);
	assert_int_equal(p.resident_bytes, M(90));
	/* residency off: not used */
	c.residency = false;
	obs_fill(&p, &o, &c, 26000);
	assert_false(p.resident_valid);
}

static void test_fill_refaults_need_a_sample(void **state)
{
	struct policy_vm p = { .max_bytes = M(1024), .target_bytes = M(1024) };
	struct vm_obs o = obs_at(20000, M(1024), M(500));

	o.refault_ms = 20000;
	o.refault_rate = (struct refault_rate){ .read_pps = 300, .swapin_pps = 100 };
	obs_fill(&p, &o, &ctx, 21000);
	assert_true(p.refault_valid);
	assert_true(p.refault_pps == 400);
	assert_true(p.refault_swapin_pps == 100);
	/* no usable sample (a booting guest): not judged */
	o.stats_rx_ms = 0;
	obs_fill(&p, &o, &ctx, 21000);
	assert_false(p.stats_valid);
	assert_false(p.refault_valid);
	/* an old measurement is not used either */
	o.stats_rx_ms = 26000;
	obs_fill(&p, &o, &ctx, 26000);
	assert_true(p.stats_valid);
	assert_false(p.refault_valid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_steady_and_moving),
		cmocka_unit_test(test_hist_drops_oldest),
		cmocka_unit_test(test_fill_corrects_for_moves),
		cmocka_unit_test(test_fill_stale_and_booting),
		cmocka_unit_test(test_fill_refaults_need_a_sample),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
