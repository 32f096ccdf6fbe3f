/* SPDX-License-Identifier: MIT */
/*
 * bench_targets.c - the report's Targets section: each target the bench sets
 * (bench/README.md), checked against the medians of the scenarios' results.
 */
#include "bench_report.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The scenario's figure of merit, higher is better: its metric, or minus its time. */
static double merit_med(const struct scen_res *r, enum bench_mode m, bool has_metric)
{
	return has_metric ? stat_med(r, m, "workload_metric")
			  : -stat_med(r, m, "workload_time_s");
}

/*
 * Guests must not pay for the host's savings: auto at least as good as the
 * better of none and fpr on the scenario's merit (within `slack`, 1.0 =
 * none), and its host swap at most swap_frac of fpr's (skipped when
 * swap_frac is 0).
 */
static void beats_baselines(FILE *md, const struct scen_res *r, double slack, double swap_frac)
{
	const char *metric = json_string_value(json_object_get(
		json_object_get(r->summary, "config"), "metric"));
	bool has_m = metric && metric[0];
	double a = merit_med(r, BM_AUTO, has_m), nm = merit_med(r, BM_NONE, has_m);
	double f = merit_med(r, BM_FPR, has_m), best = isnan(nm) ? f : isnan(f) ? nm : fmax(nm, f);
	double as = swap_med(r, BM_AUTO), fs = swap_med(r, BM_FPR);

	if (!isnan(a) && !isnan(best)) {
		bool ok = has_m ? a >= best * slack : -a <= -best * slack;

		if (has_m)
			fprintf(md, "| %s (%s): auto's %s >= %s the better of none and fpr | "
				"%.0f vs %.0f | %s |\n", sname(r), storage_of(r), metric,
				slack == 1.0 ? "" : "1/1.10 x", a, best, ok ? "yes" : "**no**");
		else
			fprintf(md, "| %s (%s): auto's time <= %.2f x the better of none and fpr | "
				"%.1f vs %.1f s (%.2fx) | %s |\n", sname(r), storage_of(r), slack,
				-a, -best, a / best, ok ? "yes" : "**no**");
	}
	if (swap_frac > 0 && !isnan(as) && !isnan(fs))
		fprintf(md, "| %s (%s): auto's host swap in+out <= %.0f%% of fpr's | %.0f vs %.0f "
			"pages (%.1f%%) | %s |\n", sname(r), storage_of(r), 100 * swap_frac, as, fs,
			fs > 0 ? 100 * as / fs : 0, as <= swap_frac * fs ? "yes" : "**no**");
}

/* The targets on the baselines, by scenario (bench/README.md). */
static void baseline_targets(FILE *md, struct scen_res *res, size_t n)
{
	fprintf(md, "## Targets\n\nChecked by the report generator against the medians "
		"below (a target whose modes were not run is skipped).\n\n"
		"| target | measured | met |\n|---|---|---|\n");
	for (size_t i = 0; i < n; i++) {
		struct scen_res *r = &res[i];
		const char *s = sname(r);
		bool ram = !strcmp(storage_of(r), "ram");
		double v, w;

		if (!strcmp(s, "seed-small") || !strcmp(s, "cache-stream")) {
			/* on this machine's own disk, guest-side work is overpriced:
			 * 10% slack on time, no swap target (bench/README.md) */
			if (ram)
				beats_baselines(md, r, 1.10, 0);
			else
				beats_baselines(md, r, 1.0, 0.10);
		}
		if (!strcmp(s, "seed-fit")) {
			v = swap_med(r, BM_AUTO);
			w = swap_med(r, BM_NONE);
			if (!isnan(v) && !isnan(w))
				fprintf(md, "| seed-fit (%s): auto host swap-in+out <= 1%% of none | "
					"%.0f vs %.0f pages (%.2f%%) | %s |\n", storage_of(r), v, w,
					w > 0 ? 100 * v / w : 0, v <= 0.01 * w ? "yes" : "**no**");
			v = stat_med(r, BM_AUTO, "workload_time_s");
			w = stat_med(r, BM_UNPRESSURED, "workload_time_s");
			if (!isnan(v) && !isnan(w))
				fprintf(md, "| seed-fit (%s): auto time <= 1.05 x unpressured | %.1f s "
					"vs %.1f s (%.2fx) | %s |\n", storage_of(r), v, w, v / w,
					v <= 1.05 * w ? "yes" : "**no**");
		}
	}
}

/*
 * Three readings of "memory granted": the first 8 MiB given and the whole
 * burst covered (both bounded below by the time the guest takes to use up
 * its own free memory and cache and to touch the burst: see stall in
 * `unpressured`), and the longest the guest waited for any 1 MiB of it (what
 * the guest feels; part of it is its own touching speed, see `unpressured`).
 */
static void spike_targets(FILE *md, struct scen_res *r)
{
	static const struct { enum bench_mode m; double limit_ms; } t[] = {
		{ BM_AUTO, 1000 }, { BM_AUTO_GUEST, 100 } };
	static const struct { const char *key, *what; } k[] = {
		{ "first_grant_ms", "first 8 MiB" },
		{ "grant_latency_ms", "the whole need" },
		{ "max_wait_ms", "longest wait for 1 MiB of the burst" } };

	for (size_t i = 0; i < 2; i++) {
		if (!r->nruns[t[i].m])
			continue;
		for (size_t j = 0; j < sizeof(k) / sizeof(k[0]); j++) {
			double v = stat_med(r, t[i].m, k[j].key);

			if (!stat_of(r, t[i].m, k[j].key))
				continue;	/* older result files */
			if (isnan(v))
				fprintf(md, "| spike: memory granted within %.0f ms with %s (%s) | "
					"not granted in the median run | **no** |\n",
					t[i].limit_ms, bench_mode_name(t[i].m), k[j].what);
			else
				fprintf(md, "| spike: memory granted within %.0f ms with %s (%s) | "
					"%.0f ms | %s |\n", t[i].limit_ms,
					bench_mode_name(t[i].m), k[j].what, v,
					v <= t[i].limit_ms ? "yes" : "**no**");
		}
	}
}

static void auto_vs_fpr(FILE *md, struct scen_res *r)
{
	double as = swap_med(r, BM_AUTO), fs = swap_med(r, BM_FPR);
	double at = stat_med(r, BM_AUTO, "workload_time_s");
	double ft = stat_med(r, BM_FPR, "workload_time_s");
	/* the scenario's own figure of merit (MiB/s: higher is better) */
	const char *metric = json_string_value(json_object_get(
		json_object_get(r->summary, "config"), "metric"));
	double am = stat_med(r, BM_AUTO, "workload_metric");
	double fm = stat_med(r, BM_FPR, "workload_metric");
	bool has_m = metric && metric[0] && !isnan(am) && !isnan(fm);
	char mtxt[128] = "";

	if (isnan(as) || isnan(fs))
		return;
	/*
	 * A scenario with a figure of merit runs its workload for a fixed
	 * duration: its time is that duration, and the merit is compared
	 * instead.
	 */
	if (has_m)
		snprintf(mtxt, sizeof(mtxt), ", %s %.0f vs %.0f (time: fixed duration, "
			 "%.1f vs %.1f s)", metric, am, fm, at, ft);
	else
		snprintf(mtxt, sizeof(mtxt), ", time %.1f vs %.1f s", at, ft);
	fprintf(md, "| %s: auto at least as good as fpr | swap %.0f vs %.0f pages%s | %s |\n",
		sname(r), as, fs, mtxt,
		as <= fs && (has_m ? am >= fm : isnan(ft) || isnan(at) || at <= ft) ?
		"yes" : "**no**");
}

static void zero_oom(FILE *md, struct scen_res *res, size_t n)
{
	for (int m = 0; m < BM_COUNT; m++) {
		double worst = 0;
		bool any = false;

		for (size_t i = 0; i < n; i++) {
			const json_t *s = stat_of(&res[i], (enum bench_mode)m, "oom_kills");

			if (!s)
				continue;
			any = true;
			if (json_number_value(json_object_get(s, "max")) > worst)
				worst = json_number_value(json_object_get(s, "max"));
		}
		if (any)
			fprintf(md, "| zero guest OOM kills with %s (every run, every scenario) | "
				"at most %.0f | %s |\n", bench_mode_name((enum bench_mode)m), worst,
				worst == 0 ? "yes" : "**no**");
	}
}

/* The Targets section: its table, a row per target whose modes were run. */
void targets(FILE *md, struct scen_res *res, size_t n)
{
	baseline_targets(md, res, n);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(sname(&res[i]), "spike"))
			spike_targets(md, &res[i]);
		auto_vs_fpr(md, &res[i]);
	}
	zero_oom(md, res, n);
	fprintf(md, "\n");
}
