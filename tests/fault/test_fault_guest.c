/* SPDX-License-Identifier: MIT */
/*
 * test_fault_guest.c - guests that do not play along, and a host that
 * changes under the daemon (fakeqmp's guest and cgroup v2 models).
 *
 *   no_balloon_driver   no driver (actual never moves, no stats): marked
 *                       uncooperative, no further targets, no CPU spin; no
 *                       balloon device at all: "no-balloon", rare retries
 *   lying_guest         a guest claiming zero available memory forever gets
 *                       at most its max and, when the others need memory,
 *                       its weight's share; the others are not starved
 *   stats_lies          frozen, unknown, huge, negative and mistyped stats:
 *                       clamped or ignored; never a reason to take memory
 *   no_double_reclaim   one stats sample per second, rounds every 100 ms:
 *                       no guest is squeezed below what it uses, no
 *                       reclaim/grant oscillation
 *   host_held_below_low the host short because of something that is not a
 *                       guest, a guest short of its buffer and a liar:
 *                       targets converge (no grant/reclaim ping-pong)
 *   stats_stamped_ahead a sample stamped an hour ahead: polling goes on
 *   clock_stepped_back  every stamp an hour back: samples still fresh and
 *                       matched with the right balloon size
 *   sigkill_readopt     the daemon SIGKILLed and restarted re-adopts the
 *                       balloons as they are; a VM below its min is raised
 *   unbacked_guest_memory  a guest the host backs only in part (its QEMU's
 *                       smaps and status) is not ballooned over the rest;
 *                       fully backed, it is; a status that makes no sense:
 *                       unknown, logged once
 *   slice_limit_runtime the slice limit lowered (reclaim until the host is
 *                       relaxed, nobody below its working set) and raised
 *                       (memory flows back)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fault.h"

#define MIB ((uint64_t)1 << 20)

static double fnum(const struct fx *f, const char *vm, const char *field)
{
	return fq_num(&f->fq, vm, field);
}

static double host_field(const struct fx *f, const char *field)
{
	json_t *r = hx_ctl(f->d.ctl, "{\"cmd\": \"dump\"}");
	double d = json_number_value(json_object_get(json_object_get(json_object_get(r, "dump"),
								       "host"), field));

	json_decref(r);
	return d;
}

static bool host_pressured(const struct fx *f)
{
	json_t *r = hx_ctl(f->d.ctl, "{\"cmd\": \"dump\"}");
	bool p = json_is_true(json_object_get(json_object_get(json_object_get(r, "dump"), "host"),
					      "pressured"));

	json_decref(r);
	return p;
}

static void test_no_balloon_driver(void **state)
{
	static const char *const args[] = { "--mem", "1G", "--used", "256M", NULL };
	struct fx f;
	char conf[4096];
	double cmds, q0, target;
	uint64_t cpu0, cpu1, t0;

	/* 3 x 1 GiB in a 2.5 GiB slice: the daemon must find memory */
	fx_init(&f, "nodriver", 2560, args);
	assert_true(fq_ok(&f.fq, "add a"));
	assert_true(fq_ok(&f.fq, "add nodrv speed=0 stats=none"));
	assert_true(fq_ok(&f.fq, "add nodev balloon=0"));
	fx_config(&f, conf, sizeof(conf), false, NULL, NULL, "uncooperative_retry = 1m\n", NULL);
	fx_daemon(&f, conf);

	assert_true(wait_state(&f, "nodrv", "uncooperative", 8000));
	assert_true(wait_state(&f, "nodev", "no-balloon", 2000));
	cmds = fnum(&f, "nodrv", "balloon_cmds");
	q0 = fnum(&f, "nodev", "query_cmds");
	target = dnum(&f, "nodrv", "target_bytes");
	cpu0 = daemon_cpu_ms(&f);
	t0 = hx_now_ms();
	sleep(4);
	cpu1 = daemon_cpu_ms(&f);
	print_message("    no driver: uncooperative after %.0f targets, target %.0f MiB, "
		      "%.0f more in 4 s; no device: %.0f balloon, %.0f queries in 4 s; "
		      "daemon CPU %.1f%%\n", cmds, target / MIB_D,
		      fnum(&f, "nodrv", "balloon_cmds") - cmds, fnum(&f, "nodev", "balloon_cmds"),
		      fnum(&f, "nodev", "query_cmds") - q0,
		      100.0 * (double)(cpu1 - cpu0) / (double)(hx_now_ms() - t0));
	/* stopped pushing: target = what it has, nothing more sent */
	assert_true(target >= fnum(&f, "nodrv", "actual") - MIB);
	assert_int_equal(fnum(&f, "nodrv", "balloon_cmds"), cmds);
	assert_int_equal(fnum(&f, "nodev", "balloon_cmds"), 0);
	assert_true(fnum(&f, "nodev", "query_cmds") - q0 <= 2);	/* every 5 s */
	/* no spinning (ASan build, 200 ms tick): well under 5% of a core */
	assert_true((double)(cpu1 - cpu0) < 0.05 * (double)(hx_now_ms() - t0));
	/* the memory came from the guest that has a driver */
	assert_true(fnum(&f, "a", "actual") < 1000 * MIB_D);
	fx_done(&f);
}

static void test_lying_guest(void **state)
{
	static const char *const args[] = { "--mem", "1536M", NULL };
	static const char *const honest[] = { "h1", "h2" };
	struct fx f;
	char conf[4096];
	double liar_max = 0, liar, share, low;
	json_t *dump;

	fx_init(&f, "liar", 3072, args);
	assert_true(fq_ok(&f.fq, "add liar actual=900M used=300M stats=zero"));
	assert_true(fq_ok(&f.fq, "add h1 actual=900M used=400M cache=100M"));
	assert_true(fq_ok(&f.fq, "add h2 actual=900M used=400M cache=100M"));
	fx_config(&f, conf, sizeof(conf), false, NULL, "low = 12%\nhigh = 20%\n",
		  "cooldown = 2s\nrelax_delay = 1s\n", NULL);
	fx_daemon(&f, conf);

	/* phase 1: the others idle. The liar may grow, never past its max. */
	for (int i = 0; i < 60; i++) {
		liar = fnum(&f, "liar", "actual");
		liar_max = liar > liar_max ? liar : liar_max;
		assert_true(liar <= 1536 * MIB_D);
		for (int k = 0; k < 2; k++)
			assert_int_equal(fnum(&f, honest[k], "swapin_bytes"), 0);
		usleep(100000);
	}
	print_message("    phase 1: liar up to %.0f MiB (max 1536); h1 %.0f, h2 %.0f MiB\n",
		      liar_max / MIB_D, fnum(&f, "h1", "actual") / MIB_D,
		      fnum(&f, "h2", "actual") / MIB_D);

	/* phase 2: the others need 800 MiB + kernel each: over their share */
	assert_true(fq_ok(&f.fq, "set h1 used=800M"));
	assert_true(fq_ok(&f.fq, "set h2 used=800M"));
	sleep(10);
	dump = hx_ctl(f.d.ctl, "{\"cmd\": \"dump\"}");
	low = json_number_value(json_object_get(json_object_get(json_object_get(dump, "dump"),
								  "host"), "low_bytes"));
	json_decref(dump);
	share = (3072 * MIB_D - low) / 3;
	liar = fnum(&f, "liar", "actual");
	print_message("    phase 2: liar %.0f MiB, h1 %.0f, h2 %.0f MiB (share %.0f MiB); "
		      "h1/h2 short by %.0f/%.0f MiB\n", liar / MIB_D,
		      fnum(&f, "h1", "actual") / MIB_D, fnum(&f, "h2", "actual") / MIB_D,
		      share / MIB_D,
		      fmax(0, 832 * MIB_D - fnum(&f, "h1", "actual")) / MIB_D,
		      fmax(0, 832 * MIB_D - fnum(&f, "h2", "actual")) / MIB_D);
	/* the liar is back at (about) its share, the others got theirs */
	assert_true(liar <= share + 64 * MIB_D);
	for (int k = 0; k < 2; k++)
		assert_true(fnum(&f, honest[k], "actual") >= 832 * MIB_D);
	fx_done(&f);
}

static void test_stats_lies(void **state)
{
	static const char *const args[] = { "--mem", "512M", "--used", "128M", NULL };
	static const char *const blind[] = { "frozen", "unknown", "neg", "wt", NULL };
	struct fx f;
	char conf[4096];

	/* 5 x 512 MiB + 1 GiB in a 3.2 GiB slice: short, honest can cover it */
	fx_init(&f, "statslies", 3276, args);
	assert_true(fq_ok(&f.fq, "add honest mem=1G"));
	assert_true(fq_ok(&f.fq, "add frozen"));
	assert_true(fq_ok(&f.fq, "add unknown stats=unknown"));
	assert_true(fq_ok(&f.fq, "add huge stats=huge"));
	assert_true(fq_ok(&f.fq, "add neg stats=negative"));
	assert_true(fq_ok(&f.fq, "add wt stats=wrongtypes"));
	fx_config(&f, conf, sizeof(conf), false, NULL, NULL, NULL, NULL);
	fx_daemon(&f, conf);
	assert_true(wait_state(&f, "frozen", "ok", 5000));
	assert_true(WAIT_FOR(3000, !isnan(dnum(&f, "frozen", "available_bytes"))));
	assert_true(fq_ok(&f.fq, "set frozen stats=frozen"));
	sleep(4);	/* > stats_stale (2 s) */

	print_message("    frozen: available %s; unknown: %s; huge: clamped %.0f, available "
		      "%.0f MiB; negative: %.0f bad values; wrong types: %.0f bad values, %.0f "
		      "bad replies\n",
		      isnan(dnum(&f, "frozen", "available_bytes")) ? "null" : "stale!",
		      isnan(dnum(&f, "unknown", "available_bytes")) ? "null" : "set!",
		      dnum(&f, "huge", "stats_clamped"), dnum(&f, "huge", "available_bytes") / MIB_D,
		      dnum(&f, "neg", "stats_bad_values"), dnum(&f, "wt", "stats_bad_values"),
		      dnum(&f, "wt", "stats_bad_replies"));
	assert_true(isnan(dnum(&f, "frozen", "available_bytes")));	/* stale: not used */
	assert_true(isnan(dnum(&f, "unknown", "available_bytes")));
	assert_true(dnum(&f, "huge", "stats_clamped") > 0);
	assert_false(dnum(&f, "huge", "available_bytes") > dnum(&f, "huge", "max_bytes"));
	assert_true(dnum(&f, "neg", "stats_bad_values") > 0);
	assert_true(dnum(&f, "wt", "stats_bad_values") + dnum(&f, "wt", "stats_bad_replies") > 0);
	/* the host was short; the honest guest with excess gave, nobody else */
	assert_true(fnum(&f, "honest", "actual") < 900 * MIB_D);
	for (int k = 0; blind[k]; k++) {
		if (fnum(&f, blind[k], "balloon_cmds") != 0)
			fail_msg("vm %s: %.0f targets from stats it cannot trust", blind[k],
				 fnum(&f, blind[k], "balloon_cmds"));
	}
	fx_done(&f);
}

static void test_no_double_reclaim(void **state)
{
	static const char *const args[] = { "--mem", "1G", "--used", "200M", "--cache", "0",
					    NULL };
	static const char *const vms[] = { "a", "b", "c", NULL };
	struct fx f;
	char conf[4096];
	double lowest = 1e18;

	/* 3 GiB of guests in a 2.5 GiB slice */
	fx_init(&f, "double", 2560, args);
	for (int k = 0; vms[k]; k++)
		assert_true(fq_ok(&f.fq, "add %s", vms[k]));
	fx_config(&f, conf, sizeof(conf), false, NULL, NULL, NULL, NULL);
	fx_daemon(&f, conf);
	for (int i = 0; i < 60; i++) {
		for (int k = 0; vms[k]; k++) {
			double a = fnum(&f, vms[k], "actual");

			lowest = a < lowest ? a : lowest;
		}
		usleep(100000);
	}
	print_message("    lowest guest %.0f MiB (uses 232, buffer 102); final %.0f/%.0f/%.0f "
		      "MiB; targets %.0f/%.0f/%.0f; host available %.0f MiB (low %.0f)\n",
		      lowest / MIB_D, fnum(&f, "a", "actual") / MIB_D,
		      fnum(&f, "b", "actual") / MIB_D, fnum(&f, "c", "actual") / MIB_D,
		      dnum(&f, "a", "targets_sent"), dnum(&f, "b", "targets_sent"),
		      dnum(&f, "c", "targets_sent"),
		      host_field(&f, "available_bytes") / MIB_D, 0.06 * 2560);
	for (int k = 0; vms[k]; k++) {
		assert_int_equal(fnum(&f, vms[k], "swapin_bytes"), 0);
		assert_true(dnum(&f, vms[k], "targets_sent") <= 8);
	}
	/* never below used + kernel + buffer (minus a step's rounding) */
	assert_true(lowest >= (232 + 102 - 16) * MIB_D);
	assert_int_equal(fx_log_count(&f, "guest-pressure", NULL), 0);
	fx_done(&f);
}

static void test_sigkill_readopt(void **state)
{
	static const char *const args[] = { "--mem", "1G", "--used", "128M", NULL };
	struct fx f;
	char conf[4096];
	int st;

	fx_init(&f, "readopt", 8192, args);
	assert_true(fq_ok(&f.fq, "add a actual=600M"));
	assert_true(fq_ok(&f.fq, "add b actual=600M"));
	assert_true(fq_ok(&f.fq, "add c"));
	fx_config(&f, conf, sizeof(conf), false, "restore_on_exit = yes\n", NULL,
		  "relax_delay = 1m\n", NULL);
	fx_daemon(&f, conf);
	assert_true(wait_state(&f, "a", "ok", 5000));
	assert_true(wait_state(&f, "b", "ok", 5000));
	assert_true(wait_state(&f, "c", "ok", 5000));

	/* SIGKILL: no restore. Meanwhile b ends up below its min (256 MiB). */
	assert_int_equal(hx_daemon_stop(&f.d, SIGKILL, 5000, &st), 0);
	f.daemon_up = false;
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_true(fq_ok(&f.fq, "set b actual=100M"));
	assert_true(fq_ok(&f.fq, "zero *"));
	snprintf(f.ddir, sizeof(f.ddir), "%s/second", f.dir);
	fx_config(&f, conf, sizeof(conf), false, NULL, NULL, "relax_delay = 1m\n", NULL);
	fx_daemon(&f, conf);

	assert_true(wait_state(&f, "a", "ok", 5000));
	assert_true(WAIT_FOR(3000, fnum(&f, "b", "actual") >= 256 * MIB_D));
	sleep(1);
	print_message("    restarted: a adopted at %.0f MiB (%.0f targets), b raised "
		      "100 -> %.0f MiB (min 256), c %.0f MiB (%.0f targets)\n",
		      dnum(&f, "a", "target_bytes") / MIB_D, fnum(&f, "a", "balloon_cmds"),
		      fnum(&f, "b", "actual") / MIB_D, fnum(&f, "c", "actual") / MIB_D,
		      fnum(&f, "c", "balloon_cmds"));
	/* as they were: no reset to max, no targets */
	assert_int_equal(dnum(&f, "a", "target_bytes"), 600 * MIB);
	assert_int_equal(fnum(&f, "a", "actual"), 600 * MIB);
	assert_int_equal(fnum(&f, "a", "balloon_cmds"), 0);
	assert_int_equal(fnum(&f, "c", "balloon_cmds"), 0);
	/* below min: raised to min, not further */
	assert_int_equal(fnum(&f, "b", "balloon_last"), 256 * MIB);
	fx_done(&f);
}

static void test_slice_limit_runtime(void **state)
{
	static const char *const args[] = { "--mem", "1G", "--used", "200M", "--cache", "0",
					    NULL };
	static const char *const vms[] = { "a", "b", "c", NULL };
	struct fx f;
	char conf[4096];
	uint64_t t0;
	bool relaxed;

	fx_init(&f, "slicelimit", 4096, args);
	for (int k = 0; vms[k]; k++)
		assert_true(fq_ok(&f.fq, "add %s", vms[k]));
	fx_config(&f, conf, sizeof(conf), false, NULL, NULL,
		  "relax_delay = 1s\ngiveback_step = 64M\n", NULL);
	fx_daemon(&f, conf);
	assert_true(wait_state(&f, "c", "ok", 5000));
	sleep(1);
	assert_int_equal(dnum(&f, "a", "targets_sent"), 0);	/* nothing to do */

	/* lowered to 2.5 GiB: 3 GiB of guests do not fit */
	assert_true(fq_ok(&f.fq, "host limit=2560M"));
	t0 = hx_now_ms();
	relaxed = WAIT_FOR(6000, host_field(&f, "total_bytes") == 2560 * MIB_D &&
			   host_field(&f, "available_bytes") >= host_field(&f, "low_bytes") &&
			   !host_pressured(&f));
	print_message("    limit 4 -> 2.5 GiB: relaxed again after %.1f s; guests %.0f/%.0f/%.0f "
		      "MiB\n", (hx_now_ms() - t0) / 1000.0, fnum(&f, "a", "actual") / MIB_D,
		      fnum(&f, "b", "actual") / MIB_D, fnum(&f, "c", "actual") / MIB_D);
	assert_true(relaxed);
	for (int k = 0; vms[k]; k++) {
		assert_int_equal(fnum(&f, vms[k], "swapin_bytes"), 0);
		assert_true(fnum(&f, vms[k], "actual") >= 256 * MIB_D);	/* min */
	}

	/* raised to 4 GiB again: the memory flows back */
	assert_true(fq_ok(&f.fq, "host limit=4G"));
	t0 = hx_now_ms();
	assert_true(WAIT_FOR(15000, fnum(&f, "a", "actual") >= 0.9 * 1024 * MIB_D &&
			     fnum(&f, "b", "actual") >= 0.9 * 1024 * MIB_D &&
			     fnum(&f, "c", "actual") >= 0.9 * 1024 * MIB_D));
	print_message("    limit 2.5 -> 4 GiB: guests back to %.0f/%.0f/%.0f MiB after %.1f s\n",
		      fnum(&f, "a", "actual") / MIB_D, fnum(&f, "b", "actual") / MIB_D,
		      fnum(&f, "c", "actual") / MIB_D, (hx_now_ms() - t0) / 1000.0);
	fx_done(&f);
}

/*
 * One stats sample stamped an hour ahead (issue 19: the poll waited for the
 * daemon's wall clock to pass last-update + stats_interval, so that VM was
 * never polled again): polls go on by the daemon's own clock, the samples
 * after it are used.
 */
static void test_stats_stamped_ahead(void **state)
{
	struct fx f;
	char conf[4096];
	double polls, age, avail;

	fx_init(&f, "stampahead", 8192, NULL);
	assert_true(fq_ok(&f.fq, "add ahead"));
	assert_true(fq_ok(&f.fq, "add ref"));
	fx_config(&f, conf, sizeof(conf), false, NULL, NULL, NULL, NULL);
	fx_daemon(&f, conf);
	assert_true(wait_state(&f, "ahead", "ok", 5000));
	assert_true(WAIT_FOR(3000, !isnan(dnum(&f, "ahead", "available_bytes"))));
	/* one sample an hour ahead, fetched, then the clock is right again */
	polls = fnum(&f, "ahead", "stats_cmds");
	assert_true(fq_ok(&f.fq, "set ahead stamp=3600"));
	assert_true(WAIT_FOR(3000, fnum(&f, "ahead", "stats_cmds") >= polls + 1));
	assert_true(fq_ok(&f.fq, "set ahead stamp=0 used=400M"));
	polls = fnum(&f, "ahead", "stats_cmds");
	sleep(5);
	polls = fnum(&f, "ahead", "stats_cmds") - polls;
	age = dnum(&f, "ahead", "stats_age_ms");
	avail = dnum(&f, "ahead", "available_bytes");
	print_message("    after a sample stamped 1 h ahead: %.0f polls in 5 s, sample age "
		      "%.0f ms, available %.0f MiB (the guest now says %.0f); ref %.0f polls\n",
		      polls, age, avail / MIB_D, fnum(&f, "ahead", "avail") / MIB_D,
		      fnum(&f, "ref", "stats_cmds"));
	assert_true(polls >= 4);		/* one a second, stats_interval */
	assert_true(age < 2000);
	assert_true(avail == fnum(&f, "ahead", "avail"));	/* the new level, in use */
	fx_done(&f);
}

/*
 * The host clock stepped back an hour: every VM's last-update jumps back
 * (QEMU stamps with the host's wall clock). The daemon's timing runs on its
 * monotonic clock, a stamp is only compared with the guest's own earlier
 * ones: the samples after the step are new samples, matched with the
 * balloon sizes the daemon saw when they were taken - not the size at
 * adoption (1 GiB, 270 MiB above), which made the guests look short.
 */
static void test_clock_stepped_back(void **state)
{
	static const char *const args[] = { "--mem", "1G", "--used", "500M", "--cache", "0",
					    NULL };
	static const char *const vms[] = { "a", "b", NULL };
	struct fx f;
	char conf[4096];
	int pressure0;
	bool fresh = true;

	/* 2 GiB of guests in a 1.7 GiB slice: both are inflated */
	fx_init(&f, "clockback", 1740, args);
	for (int k = 0; vms[k]; k++)
		assert_true(fq_ok(&f.fq, "add %s", vms[k]));
	fx_config(&f, conf, sizeof(conf), false, NULL, NULL, NULL, NULL);
	fx_daemon(&f, conf);
	assert_true(WAIT_FOR(8000, fnum(&f, "a", "actual") < 900 * MIB_D &&
			     fnum(&f, "b", "actual") < 900 * MIB_D));
	sleep(3);
	pressure0 = fx_log_count(&f, "guest-pressure", NULL);
	assert_true(fq_ok(&f.fq, "set * stamp=-3600"));
	for (int i = 0; i < 12; i++) {
		usleep(500000);
		for (int k = 0; vms[k]; k++)
			fresh = fresh && dnum(&f, vms[k], "stats_age_ms") < 2000 &&
				!isnan(dnum(&f, vms[k], "available_bytes"));
	}
	print_message("    clock stepped back 1 h: samples %s; guest-pressure targets %d before, "
		      "%d after; a %.0f MiB, b %.0f MiB; samples not used (balloon moving) "
		      "%.0f/%.0f\n", fresh ? "fresh" : "STALE", pressure0,
		      fx_log_count(&f, "guest-pressure", NULL) - pressure0,
		      fnum(&f, "a", "actual") / MIB_D, fnum(&f, "b", "actual") / MIB_D,
		      dnum(&f, "a", "stats_moving"), dnum(&f, "b", "stats_moving"));
	assert_true(fresh);
	assert_int_equal(fx_log_count(&f, "guest-pressure", NULL), pressure0);
	for (int k = 0; vms[k]; k++)
		assert_int_equal(fnum(&f, vms[k], "swapin_bytes"), 0);
	fx_done(&f);
}

/* "1.37 GiB" / "515.0 MiB" (fmt_bytes) in MiB */
static double log_size_mib(double v, const char *unit)
{
	return strcmp(unit, "GiB") == 0 ? v * 1024 : v;
}

struct turns {
	int dir, nturn, most, targets;
	double window_s, turn_t[64];
};

/* One "vm NAME: target A -> B (reason)" line: count direction changes. */
static void count_turn(const char *line, void *data)
{
	struct turns *t = data;
	const char *p = strstr(line, ": target ");
	char unit_a[8], unit_b[8];
	double ts, a, b;
	int d;

	if (!p || strstr(line, "(bounds)") || sscanf(line, "[%lf]", &ts) != 1 ||
	    sscanf(p + 9, "%lf %7s -> %lf %7s", &a, unit_a, &b, unit_b) != 4)
		return;
	t->targets++;
	d = log_size_mib(b, unit_b) > log_size_mib(a, unit_a) ? 1 : -1;
	if (t->dir && d != t->dir && t->nturn < 64) {
		int in_window = 1;

		t->turn_t[t->nturn++] = ts;
		for (int k = t->nturn - 2; k >= 0 && ts - t->turn_t[k] < t->window_s; k--)
			in_window++;
		t->most = in_window > t->most ? in_window : t->most;
	}
	t->dir = d;
}

/*
 * The targets the daemon set for vm (from its log): the most direction
 * changes within any window of window_s seconds, and how many targets.
 */
static int target_turns(const struct fx *f, const char *vm, double window_s, int *ret_targets)
{
	struct turns t = { .window_s = window_s };
	char want[96];

	snprintf(want, sizeof(want), "vm %s: target ", vm);
	fx_log_lines(f, want, NULL, count_turn, &t);
	*ret_targets = t.targets;
	return t.most;
}

/*
 * The host held below low by something that is not a guest (issue 19: the
 * slice's other use leaves 102 MiB available, low is 128 MiB), a guest
 * short of its buffer and a liar above its share. Over 10 s targets
 * converge: at most one direction change per cool-down (2 s), the host
 * back above low, the liar not taken for a guest that deflated itself.
 */
static void test_host_held_below_low(void **state)
{
	struct fx f;
	char conf[4096], st[64];
	int turns_good, turns_liar, n_good, n_liar;
	double avail, low;

	fx_init(&f, "heldlow", 4096, (const char *const[]){ "--base", "2079M", NULL });
	assert_true(fq_ok(&f.fq, "add good mem=1G actual=515M used=440M cache=0"));
	assert_true(fq_ok(&f.fq, "add liar mem=2G actual=1400M used=300M stats=zero"));
	fx_config(&f, conf, sizeof(conf), false, NULL, "low = 128M\nhigh = 256M\n",
		  "cooldown = 2s\n", NULL);
	fx_daemon(&f, conf);
	sleep(10);
	turns_good = target_turns(&f, "good", 2.0, &n_good);
	turns_liar = target_turns(&f, "liar", 2.0, &n_liar);
	avail = host_field(&f, "available_bytes");
	low = host_field(&f, "low_bytes");
	print_message("    10 s: good %d targets, liar %d; most direction changes in 2 s: "
		      "good %d, liar %d; host available %.0f MiB (low %.0f); liar %s at "
		      "%.0f MiB; good %.0f MiB, swapped %.0f MiB\n", n_good, n_liar, turns_good,
		      turns_liar, avail / MIB_D, low / MIB_D,
		      dstr(&f, "liar", "state", st, sizeof(st)),
		      fnum(&f, "liar", "actual") / MIB_D, fnum(&f, "good", "actual") / MIB_D,
		      fnum(&f, "good", "swapin_bytes") / MIB_D);
	assert_true(turns_good <= 1);
	assert_true(turns_liar <= 1);
	assert_true(avail + 8 * MIB_D >= low);
	assert_string_equal(st, "ok");
	assert_int_equal(fnum(&f, "good", "swapin_bytes"), 0);
	fx_done(&f);
}

/*
 * Stand in for the fake QEMU's /proc/PID/{smaps,status} (the daemon reads
 * them under its proc_dir, for the QMP peer's pid).
 */
static void put_proc(const struct fx *f, const char *file, const char *text)
{
	char dir[600], tmp[700], path[700];
	FILE *fp;

	snprintf(dir, sizeof(dir), "%s/%d", f->fq.host_dir, (int)f->fq.pid);
	mkdir(dir, 0755);
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, file);
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fp = fopen(tmp, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(rename(tmp, path), 0);	/* the daemon never reads half */
}

/* One guest RAM mapping of mem_mib, rss_mib of it resident, plus a heap. */
static void put_guest_ram(const struct fx *f, unsigned mem_mib, unsigned rss_mib)
{
	char text[512];

	snprintf(text, sizeof(text), "RssAnon:\t%u kB\nRssFile:\t1000 kB\nRssShmem:\t0 kB\n",
		 (rss_mib + 10) * 1024);
	put_proc(f, "status", text);
	snprintf(text, sizeof(text),
		 "7f0000000000-%llx rw-p 00000000 00:00 0 \n"
		 "Size: %u kB\nRss: %u kB\nSwap: 0 kB\n"
		 "55d000000000-55d000a00000 rw-p 00000000 00:00 0          [heap]\n"
		 "Size: 10240 kB\nRss: 10240 kB\n",
		 0x7f0000000000ULL + (unsigned long long)mem_mib * MIB, mem_mib * 1024,
		 rss_mib * 1024);
	put_proc(f, "smaps", text);
}

static void test_unbacked_guest_memory(void **state)
{
	static const char *const args[] = { "--mem", "1G", "--used", "200M", "--cache", "0",
					    NULL };
	struct fx f;
	char conf[4096];
	bool pressured;

	/* 1 GiB guest in a 900 MiB slice: the host is short */
	fx_init(&f, "unbacked", 900, args);
	put_guest_ram(&f, 1024, 300);	/* the host backs 300 MiB of it */
	assert_true(fq_ok(&f.fq, "add a"));
	fx_config(&f, conf, sizeof(conf), false, NULL, NULL, "residency = yes\n", NULL);
	fx_daemon(&f, conf);
	assert_true(wait_state(&f, "a", "ok", 5000));
	assert_true(WAIT_FOR(4000, dnum(&f, "a", "resident_bytes") == 300 * MIB_D));
	sleep(2);
	pressured = host_pressured(&f);
	print_message("    300 of 1024 MiB backed: host pressured %s, %.0f targets, actual "
		      "%.0f MiB, qemu_pid %.0f\n", pressured ? "yes" : "no",
		      fnum(&f, "a", "balloon_cmds"), fnum(&f, "a", "actual") / MIB_D,
		      dnum(&f, "a", "qemu_pid"));
	/* ballooning over memory the host does not back would buy nothing */
	assert_true(pressured);
	assert_int_equal(fnum(&f, "a", "balloon_cmds"), 0);
	assert_int_equal(dnum(&f, "a", "qemu_pid"), (double)f.fq.pid);
	assert_int_equal(fx_log_count(&f, "host-backed guest RAM from pid", NULL), 1);

	/* all of it backed now (status shows it, smaps is reread only every
	 * 10 s): the same guest is reclaimed from */
	put_proc(&f, "status", "RssAnon:\t1058816 kB\nRssShmem:\t0 kB\n");
	assert_true(WAIT_FOR(6000, fnum(&f, "a", "actual") < 900 * MIB_D));

	/* a status that is not a process's: unknown, said once, the daemon
	 * carries on (smaps that are not a QEMU's: test_host.c) */
	put_proc(&f, "status", "garbage\n\x01\x02 no Rss here\n");
	assert_true(WAIT_FOR(4000, isnan(dnum(&f, "a", "resident_bytes"))));
	sleep(1);
	print_message("    after a garbage status: resident null, state %s\n",
		      dstr(&f, "a", "state", conf, sizeof(conf)));
	assert_int_equal(fx_log_count(&f, "host-backed guest RAM unknown", NULL), 1);
	assert_true(hx_daemon_alive(&f.d));
	fx_done(&f);
}

/*
 * A guest QEMU has no stats sample from (its balloon driver is not up: it
 * is booting) that has touched 200 of its 1 GiB, on a host with ~150 MiB
 * above its low mark: its balloon is set over its untouched memory while
 * it boots (boot-room), before any stats come. A guest that reports from
 * the start is never treated so: test_unbacked_guest_memory, 0 targets.
 */
static void test_booting_guest(void **state)
{
	static const char *const args[] = { "--mem", "1G", "--used", "200M", "--cache", "0",
					    NULL };
	struct fx f;
	char conf[4096];

	fx_init(&f, "booting", 1300, args);
	put_guest_ram(&f, 1024, 200);
	assert_true(fq_ok(&f.fq, "add a stats=none"));
	fx_config(&f, conf, sizeof(conf), false, NULL, NULL, "residency = yes\n", NULL);
	fx_daemon(&f, conf);
	assert_true(WAIT_FOR(3000, fx_log_count(&f, "vm a: target", "(boot-room)") >= 1));
	assert_true(WAIT_FOR(3000, fnum(&f, "a", "actual") < 1000 * MIB_D));
	print_message("    booting, 200 of 1024 MiB touched: %d boot-room target(s), actual "
		      "%.0f MiB, host pressured %s\n",
		      fx_log_count(&f, "vm a: target", "(boot-room)"),
		      fnum(&f, "a", "actual") / MIB_D, host_pressured(&f) ? "yes" : "no");
	/* never below what it touched: the balloon lands on free memory */
	assert_true(fnum(&f, "a", "actual") >= 200 * MIB_D);
	assert_true(hx_daemon_alive(&f.d));
	fx_done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_balloon_driver),
		cmocka_unit_test(test_lying_guest),
		cmocka_unit_test(test_unbacked_guest_memory),
		cmocka_unit_test(test_booting_guest),
		cmocka_unit_test(test_stats_lies),
		cmocka_unit_test(test_no_double_reclaim),
		cmocka_unit_test(test_host_held_below_low),
		cmocka_unit_test(test_stats_stamped_ahead),
		cmocka_unit_test(test_clock_stepped_back),
		cmocka_unit_test(test_sigkill_readopt),
		cmocka_unit_test(test_slice_limit_runtime),
	};

	return fault_main("fault-guest", tests, sizeof(tests) / sizeof(tests[0]));
}
