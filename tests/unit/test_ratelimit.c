/* SPDX-License-Identifier: MIT */
/* Unit tests for the log rate limiter: a token bucket with time passed in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ratelimit.h"

static const struct ratelimit_params P = { .burst = 3, .interval_ms = 1000 };

static void test_burst_then_held_back(void **state)
{
	struct ratelimit rl = { 0 };
	uint64_t sup = 99;

	for (int i = 0; i < 3; i++) {
		assert_true(ratelimit_allow(&rl, &P, 5000, &sup));
		assert_int_equal(sup, 0);
	}
	for (int i = 0; i < 10; i++)
		assert_false(ratelimit_allow(&rl, &P, 5000 + (uint64_t)i * 10, &sup));
	assert_int_equal(rl.suppressed, 10);
	/* a token comes back after interval: the next one passes with the count */
	assert_false(ratelimit_allow(&rl, &P, 5999, &sup));
	assert_true(ratelimit_allow(&rl, &P, 6000, &sup));
	assert_int_equal(sup, 11);
	assert_false(ratelimit_allow(&rl, &P, 6001, &sup));
}

static void test_refills_to_burst_only(void **state)
{
	struct ratelimit rl = { 0 };
	uint64_t sup;
	int passed = 0;

	assert_true(ratelimit_allow(&rl, &P, 0, &sup));
	/* an hour of silence gives back burst tokens, not 3,600 */
	for (int i = 0; i < 10; i++)
		passed += ratelimit_allow(&rl, &P, 3600000, &sup);
	assert_int_equal(passed, 3);
}

static void test_flood_rate(void **state)
{
	struct ratelimit rl = { 0 };
	uint64_t sup, held = 0, passed = 0, reported = 0;

	/* 100 messages a second for 60 s: burst + one a second pass */
	for (uint64_t t = 0; t < 60000; t += 10) {
		if (ratelimit_allow(&rl, &P, t, &sup)) {
			passed++;
			reported += sup;
		} else {
			held++;
		}
	}
	assert_int_equal(passed, 3 + 59);
	assert_int_equal(held + passed, 6000);
	/* everything held back is reported, but for the last second's */
	assert_int_equal(reported + rl.suppressed, held);
}

static void test_flush_reports_once_refilled(void **state)
{
	struct ratelimit rl = { 0 };
	uint64_t sup;

	assert_int_equal(ratelimit_flush(&rl, &P, 0), 0);	/* nothing held */
	for (int i = 0; i < 8; i++)
		ratelimit_allow(&rl, &P, 100, &sup);
	assert_int_equal(ratelimit_flush(&rl, &P, 500), 0);	/* no token yet */
	assert_int_equal(ratelimit_flush(&rl, &P, 1100), 5);
	assert_int_equal(ratelimit_flush(&rl, &P, 1200), 0);	/* said once */
	/* the summary used the token */
	assert_false(ratelimit_allow(&rl, &P, 1200, &sup));
}

static void test_odd_params(void **state)
{
	const struct ratelimit_params zero = { 0 };
	struct ratelimit rl = { 0 };
	uint64_t sup;

	/* burst 0 and interval 0 act as 1: one message, then one per ms */
	assert_true(ratelimit_allow(&rl, &zero, 10, &sup));
	assert_false(ratelimit_allow(&rl, &zero, 10, &sup));
	assert_true(ratelimit_allow(&rl, &zero, 11, &sup));
	assert_int_equal(sup, 1);
	/* time standing still or going back: no new tokens, no wrap */
	assert_false(ratelimit_allow(&rl, &zero, 5, &sup));
	assert_false(ratelimit_allow(&rl, &zero, 11, &sup));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_held_back),
		cmocka_unit_test(test_refills_to_burst_only),
		cmocka_unit_test(test_flood_rate),
		cmocka_unit_test(test_flush_reports_once_refilled),
		cmocka_unit_test(test_odd_params),
	};

	return cmocka_run_group_tests_name("ratelimit", tests, NULL, NULL);
}
