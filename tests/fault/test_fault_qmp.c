/* SPDX-License-Identifier: MIT */
/*
 * test_fault_qmp.c - autoballoond against misbehaving QMP peers (fakeqmp).
 * Every test runs well-behaved VMs next to the faulty ones and checks both:
 * the faulty VM is handled as specified, the others are served on time.
 *
 *   unresponsive_peers  no reply after the handshake, no greeting, a bad
 *                       greeting: timeouts, reconnects with back-off, the
 *                       other VMs polled on schedule, recovery
 *   late_replies        a reply later than usual but within qmp_timeout
 *                       works; one later than the timeout is a timeout (the
 *                       late reply is counted and dropped)
 *   close_mid_reply     the peer closes in the middle of a reply: reconnect
 *                       with back-off, not in a tight loop
 *   garbage             noise lines between replies are counted and ignored
 *                       (the session stays up); noise instead of replies is
 *                       a timeout; an event flood does not slow the loop
 *   log_flood           500 SHUTDOWN events a second: a few log lines, then
 *                       one every 5 s, with a count of what was left out
 *   oversized_line      a 16 MiB line closes the session (max_message), the
 *                       daemon's memory does not grow with it
 *   bad_numbers         wrong JSON types, negative and huge numbers: the VM
 *                       is not managed on garbage, targets stay within
 *                       [min, max], no other VM pays for the lie
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"

static const char *const small_vms[] = { "--mem", "512M", "--used", "128M", "--cache",
					 "64M", NULL };

/* stats polls the fake saw for vm */
static double polls(const struct fx *f, const char *vm)
{
	return fq_num(&f->fq, vm, "stats_cmds");
}

/*
 * Over ms milliseconds: the well-behaved VMs get every new stats sample
 * (one a second) and the control socket answers quickly. Returns the worst
 * control latency seen.
 */
static double check_served(const struct fx *f, const char *const *good, int ms)
{
	double before[8], worst = 0;
	uint64_t t0 = hx_now_ms();
	int n = 0;

	for (n = 0; good[n]; n++)
		before[n] = polls(f, good[n]);
	while (hx_now_ms() - t0 < (uint64_t)ms) {
		double l = ctl_latency_ms(f);

		worst = l > worst ? l : worst;
		usleep(100000);
	}
	for (int i = 0; i < n; i++) {
		double got = polls(f, good[i]) - before[i];
		/* one new sample a second (stats_interval), each fetched */
		double want = 0.75 * ms / 1000.0;

		if (got < want)
			fail_msg("vm %s: %.0f stats polls in %d ms, want >= %.0f", good[i], got,
				 ms, want);
		/* samples are refreshed once a second (stats_interval) */
		assert_true(dnum(f, good[i], "stats_age_ms") < 2000);
	}
	print_message("    %d good VMs polled on schedule; worst control latency %.1f ms\n",
		      n, worst);
	assert_true(worst < 400);	/* a busy 2-core CI machine included */
	return worst;
}

static void add_good(struct fx *f)
{
	assert_true(fq_ok(&f->fq, "add a"));
	assert_true(fq_ok(&f->fq, "add b"));
	assert_true(fq_ok(&f->fq, "add c"));
}

static void start_daemon(struct fx *f)
{
	char conf[4096];

	fx_config(f, conf, sizeof(conf), false, NULL, NULL, NULL, NULL);
	fx_daemon(f, conf);
	assert_true(wait_state(f, "a", "ok", 5000));
}

static const char *const GOOD[] = { "a", "b", "c", NULL };

static void test_unresponsive_peers(void **state)
{
	struct fx f;
	char buf[64];

	fx_init(&f, "unresponsive", 4096, small_vms);
	add_good(&f);
	assert_true(fq_ok(&f.fq, "add mute fault=noreply"));
	assert_true(fq_ok(&f.fq, "add silent fault=nogreeting"));
	assert_true(fq_ok(&f.fq, "add badgreet fault=badgreeting"));
	start_daemon(&f);

	check_served(&f, GOOD, 4000);
	print_message("    mute: %.0f timeouts, %.0f disconnects, %.0f connections; "
		      "silent: %.0f connections; badgreet: %.0f connections\n",
		      dqmp(&f, "mute", "timeouts"), dqmp(&f, "mute", "disconnects"),
		      fq_num(&f.fq, "mute", "accepts"), fq_num(&f.fq, "silent", "accepts"),
		      fq_num(&f.fq, "badgreet", "accepts"));
	assert_true(dqmp(&f, "mute", "timeouts") >= 3);
	assert_true(dqmp(&f, "mute", "disconnects") >= 1);
	assert_true(fq_num(&f.fq, "mute", "accepts") >= 2);	/* reconnected */
	assert_true(fq_num(&f.fq, "silent", "accepts") >= 2);	/* handshake timeout */
	/* back-off (100 ms doubling to 1 s): a handful, not a tight loop */
	assert_true(fq_num(&f.fq, "badgreet", "accepts") >= 2);
	assert_true(fq_num(&f.fq, "badgreet", "accepts") <= 12);
	for (const char *const *v = (const char *const[]){ "mute", "silent", "badgreet", NULL };
	     *v; v++) {
		assert_string_equal(dstr(&f, *v, "state", buf, sizeof(buf)), "connecting");
		assert_int_equal(fq_num(&f.fq, *v, "balloon_cmds"), 0);
	}

	/* the peers recover: managed again within reconnect_max + set-up */
	assert_true(fq_ok(&f.fq, "set mute fault=none"));
	assert_true(fq_ok(&f.fq, "set silent fault=none"));
	assert_true(fq_ok(&f.fq, "set badgreet fault=none"));
	assert_true(wait_state(&f, "mute", "ok", 4000));
	assert_true(wait_state(&f, "silent", "ok", 4000));
	assert_true(wait_state(&f, "badgreet", "ok", 4000));
	fx_done(&f);
}

static void test_late_replies(void **state)
{
	struct fx f;
	char buf[64];

	fx_init(&f, "late", 4096, small_vms);
	add_good(&f);
	assert_true(fq_ok(&f.fq, "add slow fault=late late=250"));
	assert_true(fq_ok(&f.fq, "add tooslow fault=late late=1200"));
	start_daemon(&f);
	assert_true(wait_state(&f, "slow", "ok", 5000));
	assert_true(WAIT_FOR(3000, !isnan(dnum(&f, "slow", "available_bytes"))));

	check_served(&f, GOOD, 4000);
	print_message("    slow (250 ms): %.0f timeouts; tooslow (1.2 s): %.0f timeouts, "
		      "%.0f late replies dropped, %.0f connections\n",
		      dqmp(&f, "slow", "timeouts"), dqmp(&f, "tooslow", "timeouts"),
		      dqmp(&f, "tooslow", "bad_messages"), fq_num(&f.fq, "tooslow", "accepts"));
	assert_int_equal(dqmp(&f, "slow", "timeouts"), 0);
	assert_string_equal(dstr(&f, "slow", "state", buf, sizeof(buf)), "ok");
	assert_true(dqmp(&f, "tooslow", "timeouts") >= 3);
	assert_true(dqmp(&f, "tooslow", "bad_messages") >= 1);
	assert_true(fq_num(&f.fq, "tooslow", "accepts") >= 2);
	assert_string_equal(dstr(&f, "tooslow", "state", buf, sizeof(buf)), "connecting");
	assert_int_equal(fq_num(&f.fq, "tooslow", "balloon_cmds"), 0);
	fx_done(&f);
}

static void test_close_mid_reply(void **state)
{
	struct fx f;
	double acc;
	char buf[64];

	fx_init(&f, "closemid", 4096, small_vms);
	add_good(&f);
	assert_true(fq_ok(&f.fq, "add cm fault=closemid"));
	start_daemon(&f);

	check_served(&f, GOOD, 4000);
	acc = fq_num(&f.fq, "cm", "accepts");
	print_message("    closemid: %.0f connections, %.0f replies cut, %.0f disconnects\n",
		      acc, fq_num(&f.fq, "cm", "closemid"), dqmp(&f, "cm", "disconnects"));
	assert_true(acc >= 3 && acc <= 15);
	assert_true(fq_num(&f.fq, "cm", "closemid") >= 3);
	assert_string_equal(dstr(&f, "cm", "state", buf, sizeof(buf)), "connecting");
	assert_int_equal(fq_num(&f.fq, "cm", "balloon_cmds"), 0);

	assert_true(fq_ok(&f.fq, "set cm fault=none"));
	assert_true(wait_state(&f, "cm", "ok", 4000));
	fx_done(&f);
}

static void test_garbage(void **state)
{
	struct fx f;
	char buf[64];

	fx_init(&f, "garbage", 4096, small_vms);
	add_good(&f);
	assert_true(fq_ok(&f.fq, "add noisy fault=garbage"));
	assert_true(fq_ok(&f.fq, "add garbler fault=garbageonly"));
	assert_true(fq_ok(&f.fq, "add flood fault=eventflood"));
	start_daemon(&f);
	assert_true(wait_state(&f, "noisy", "ok", 5000));
	assert_true(wait_state(&f, "flood", "ok", 5000));

	check_served(&f, GOOD, 4000);
	print_message("    noisy: %.0f bad lines ignored, %.0f disconnects; garbler: %.0f "
		      "timeouts; flood: %.0f events\n",
		      dqmp(&f, "noisy", "bad_messages"), dqmp(&f, "noisy", "disconnects"),
		      dqmp(&f, "garbler", "timeouts"), fq_num(&f.fq, "flood", "events"));
	/* noise between replies: counted, ignored, the session stays */
	assert_string_equal(dstr(&f, "noisy", "state", buf, sizeof(buf)), "ok");
	assert_int_equal(dqmp(&f, "noisy", "disconnects"), 0);
	assert_true(dqmp(&f, "noisy", "bad_messages") >= 4);
	assert_false(isnan(dnum(&f, "noisy", "available_bytes")));
	/* noise instead of replies: timeouts, never managed */
	assert_true(dqmp(&f, "garbler", "timeouts") >= 3);
	assert_string_equal(dstr(&f, "garbler", "state", buf, sizeof(buf)), "connecting");
	assert_int_equal(fq_num(&f.fq, "garbler", "balloon_cmds"), 0);
	/* thousands of bogus events: still managed, loop still quick */
	assert_true(fq_num(&f.fq, "flood", "events") >= 1000);
	assert_string_equal(dstr(&f, "flood", "state", buf, sizeof(buf)), "ok");
	assert_true(dnum(&f, "flood", "stats_bad_replies") >= 100);
	fx_done(&f);
}

/* Add up the N of "(N guest event messages suppressed)" and "vm x: N guest ...". */
static void sum_suppressed(const char *line, void *data)
{
	const char *p = strstr(line, " guest event messages suppressed");

	while (p > line && p[-1] >= '0' && p[-1] <= '9')
		p--;
	*(double *)data += strtod(p, NULL);
}

/*
 * A peer flooding events (issue 19: every SHUTDOWN was logged, 3,442 lines
 * in 80 s from one peer): a few lines, then one every 5 s, and how many
 * were left out is said - when a line goes out again, and once the flood
 * is over. The other VMs are served meanwhile.
 */
static void test_log_flood(void **state)
{
	struct fx f;
	double received, suppressed = 0;
	int shown, lines;

	fx_init(&f, "logflood", 4096, small_vms);
	add_good(&f);
	assert_true(fq_ok(&f.fq, "add shouter"));
	start_daemon(&f);
	assert_true(wait_state(&f, "shouter", "ok", 5000));
	assert_true(fq_ok(&f.fq, "set shouter fault=shutdownflood"));
	check_served(&f, GOOD, 6000);
	assert_true(fq_ok(&f.fq, "set shouter fault=none"));
	usleep(300000);
	received = dqmp(&f, "shouter", "events");
	shown = fx_log_count(&f, "vm shouter: guest is shutting down", NULL);
	print_message("    SHUTDOWN flood, 6 s: %.0f events received, %d logged\n", received,
		      shown);
	assert_true(received >= 1000);
	assert_true(shown >= 1 && shown <= 5 + 6 / 5 + 1);
	/* the count of what was left out, once the limiter opens again */
	assert_true(WAIT_FOR(8000, fx_log_count(&f, "vm shouter: ", " guest event messages "
						"suppressed\n") >= 1));
	fx_log_lines(&f, "vm shouter: ", " guest event messages suppressed", sum_suppressed,
		     &suppressed);
	lines = fx_log_count(&f, "", NULL);
	print_message("    %.0f counted as suppressed; daemon log %d lines in all\n", suppressed,
		      lines);
	assert_true(shown + suppressed == received);
	assert_true(lines < 200);
	assert_string_equal(dstr(&f, "shouter", "state", (char[16]){ 0 }, 16), "ok");
	fx_done(&f);
}

static void test_oversized_line(void **state)
{
	struct fx f;
	uint64_t rss0, rss1;

	fx_init(&f, "bigline", 4096, small_vms);
	add_good(&f);
	assert_true(fq_ok(&f.fq, "add big fault=bigline"));
	/*
	 * ASan keeps freed memory in quarantine (256 MiB by default): every
	 * discarded megabyte-sized buffer would stay resident and the RSS below
	 * would count ASan's bookkeeping, not what the daemon holds.
	 */
	const char *asan = getenv("ASAN_OPTIONS");
	char *saved = asan ? strdup(asan) : NULL, opts[1024];
	snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=4", asan ? asan : "",
		 asan && *asan ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
	start_daemon(&f);
	if (saved)
		setenv("ASAN_OPTIONS", saved, 1);
	else
		unsetenv("ASAN_OPTIONS");
	free(saved);
	rss0 = daemon_rss_bytes(&f);

	check_served(&f, GOOD, 4000);
	rss1 = daemon_rss_bytes(&f);
	print_message("    16 MiB lines: %.0f connections, %.0f disconnects; daemon RSS "
		      "%.1f -> %.1f MiB\n", fq_num(&f.fq, "big", "accepts"),
		      dqmp(&f, "big", "disconnects"), rss0 / MIB_D, rss1 / MIB_D);
	assert_true(fq_num(&f.fq, "big", "accepts") >= 2);
	assert_true(dqmp(&f, "big", "disconnects") >= 2);
	assert_true(rss1 < rss0 + 8 * 1024 * 1024);
	assert_int_equal(fq_num(&f.fq, "big", "balloon_cmds"), 0);

	assert_true(fq_ok(&f.fq, "set big fault=none"));
	assert_true(wait_state(&f, "big", "ok", 4000));
	fx_done(&f);
}

/* Targets the fake received for vm lie within the daemon's [min, max]. */
static void check_bounds(const struct fx *f, const char *vm)
{
	double bmin = fq_num(&f->fq, vm, "balloon_min");
	double bmax = fq_num(&f->fq, vm, "balloon_max");
	double mem = fq_num(&f->fq, vm, "mem");

	if (bmax == 0)
		return;	/* never sent a target */
	if (bmin < 0.25 * mem || bmax > mem)
		fail_msg("vm %s: targets %.0f..%.0f MiB outside [%.0f, %.0f] MiB", vm,
			 bmin / MIB_D, bmax / MIB_D, 0.25 * mem / MIB_D, mem / MIB_D);
}

static void test_bad_numbers(void **state)
{
	static const char *const bad[] = { "wt", "neg", "huge", NULL };
	struct fx f;
	char buf[64];

	/* 5 x 512 MiB in a 2 GiB slice: pressured, the daemon wants to act */
	fx_init(&f, "badnum", 2048, small_vms);
	add_good(&f);
	assert_true(fq_ok(&f.fq, "add wt fault=wrongtypes"));
	assert_true(fq_ok(&f.fq, "add neg fault=negative"));
	assert_true(fq_ok(&f.fq, "add huge fault=huge"));
	start_daemon(&f);

	for (int i = 0; i < 40; i++) {
		for (int k = 0; bad[k]; k++) {
			double a = dnum(&f, bad[k], "actual_bytes");
			double mx = dnum(&f, bad[k], "max_bytes");

			if (!isnan(a) && a > mx)
				fail_msg("vm %s: daemon believes actual %.0f MiB > max %.0f MiB",
					 bad[k], a / MIB_D, mx / MIB_D);
		}
		usleep(100000);
	}
	print_message("    wrongtypes: %.0f bad replies, state %s; negative: %.0f bad "
		      "replies; huge: %.0f bad replies, %.0f targets\n",
		      dnum(&f, "wt", "stats_bad_replies"), dstr(&f, "wt", "state", buf, sizeof(buf)),
		      dnum(&f, "neg", "stats_bad_replies"), dnum(&f, "huge", "stats_bad_replies"),
		      fq_num(&f.fq, "huge", "balloon_cmds"));
	assert_true(hx_daemon_alive(&f.d));
	/* garbage in every reply: never adopted, never pushed */
	assert_string_equal(dstr(&f, "wt", "state", buf, sizeof(buf)), "connecting");
	assert_int_equal(fq_num(&f.fq, "wt", "balloon_cmds"), 0);
	assert_string_equal(dstr(&f, "neg", "state", buf, sizeof(buf)), "connecting");
	assert_int_equal(fq_num(&f.fq, "neg", "balloon_cmds"), 0);
	assert_true(dnum(&f, "neg", "stats_bad_replies") >= 1);
	for (int k = 0; bad[k]; k++)
		check_bounds(&f, bad[k]);
	/* the honest guests were not squeezed below what they use */
	for (int k = 0; GOOD[k]; k++) {
		check_bounds(&f, GOOD[k]);
		assert_int_equal(fq_num(&f.fq, GOOD[k], "swapin_bytes"), 0);
	}

	for (int k = 0; bad[k]; k++)
		assert_true(fq_ok(&f.fq, "set %s fault=none", bad[k]));
	for (int k = 0; bad[k]; k++)
		assert_true(wait_state(&f, bad[k], "ok", 4000));
	fx_done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unresponsive_peers),
		cmocka_unit_test(test_late_replies),
		cmocka_unit_test(test_close_mid_reply),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_log_flood),
		cmocka_unit_test(test_oversized_line),
		cmocka_unit_test(test_bad_numbers),
	};

	return fault_main("fault-qmp", tests, sizeof(tests) / sizeof(tests[0]));
}
