/* SPDX-License-Identifier: MIT */
/*
 * bench_report.c - `autoballoon-bench --report`: docs/benchmarks.md and the
 * gnuplot PNGs, from the result directories of real runs (summary.json,
 * runs/MODE-REP.json, runs/MODE-REP-series.csv). Nothing in the report is
 * typed in: every number comes from those files.
 */
#include "bench.h"
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB_D (1024.0 * 1024.0)
#define MAX_PLOT_GUESTS 8
#define MAX_SERIES_GUESTS 128	/* 8 columns each: fits val[] in series_means */

struct scen_res {
	char dir[PATH_MAX];
	json_t *summary;
	json_t *runs[BM_COUNT][64];
	size_t nruns[BM_COUNT];
};

static const json_t *mode_sum(const struct scen_res *r, enum bench_mode m)
{
	return json_object_get(json_object_get(r->summary, "modes"), bench_mode_name(m));
}

static const json_t *stat_of(const struct scen_res *r, enum bench_mode m, const char *key)
{
	const json_t *s = json_object_get(mode_sum(r, m), key);

	return json_is_object(s) ? s : NULL;
}

static double stat_med(const struct scen_res *r, enum bench_mode m, const char *key)
{
	const json_t *s = stat_of(r, m, key);

	return s ? json_number_value(json_object_get(s, "median")) : NAN;
}

/* "median (min-max)", the range only when the runs differ; "-": no value. */
static void fmt_stat3(char *buf, size_t len, const struct stat3 *st, int dec)
{
	if (!st->valid)
		snprintf(buf, len, "-");
	else if (st->min == st->max)
		snprintf(buf, len, "%.*f", dec, st->median);
	else
		snprintf(buf, len, "%.*f (%.*f-%.*f)", dec, st->median, dec, st->min, dec,
			 st->max);
}

/* The same from a summary's {median, min, max} object, scaled down by div. */
static void fmt_stat(char *buf, size_t len, const json_t *s, double div, int dec)
{
	struct stat3 st = { .valid = s != NULL };

	if (s) {
		st.median = json_number_value(json_object_get(s, "median")) / div;
		st.min = json_number_value(json_object_get(s, "min")) / div;
		st.max = json_number_value(json_object_get(s, "max")) / div;
	}
	fmt_stat3(buf, len, &st, dec);
}

static int load_dir(const char *dir, struct scen_res *r)
{
	char p[PATH_MAX + 64];
	DIR *d;
	struct dirent *e;

	memset(r, 0, sizeof(*r));
	snprintf(r->dir, sizeof(r->dir), "%s", dir);
	snprintf(p, sizeof(p), "%s/summary.json", dir);
	r->summary = json_load_file(p, JSON_DECODE_INT_AS_REAL, NULL);
	if (!r->summary || !json_is_object(json_object_get(r->summary, "modes"))) {
		fprintf(stderr, "autoballoon-bench: %s: missing or not a bench summary\n", p);
		json_decref(r->summary);
		r->summary = NULL;
		return -ENOENT;
	}
	snprintf(p, sizeof(p), "%s/runs", dir);
	d = opendir(p);
	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		char q[PATH_MAX + 300];
		json_t *run;
		enum bench_mode m;

		if (n < 6 || strcmp(e->d_name + n - 5, ".json"))
			continue;
		snprintf(q, sizeof(q), "%s/%s", p, e->d_name);
		run = json_load_file(q, JSON_DECODE_INT_AS_REAL, NULL);
		if (!run || bench_mode_parse(json_string_value(json_object_get(run, "mode")) ?
					     json_string_value(json_object_get(run, "mode")) : "",
					     &m) < 0 || r->nruns[m] >= 64) {
			json_decref(run);
			continue;
		}
		r->runs[m][r->nruns[m]++] = run;
	}
	if (d)
		closedir(d);
	/* order by rep */
	for (int m = 0; m < BM_COUNT; m++) {
		for (size_t i = 1; i < r->nruns[m]; i++) {
			for (size_t k = i; k > 0; k--) {
				json_t **a = &r->runs[m][k - 1], **b = &r->runs[m][k];

				if (json_number_value(json_object_get(*a, "rep")) <=
				    json_number_value(json_object_get(*b, "rep")))
					break;
				json_t *t = *a;
				*a = *b;
				*b = t;
			}
		}
	}
	return 0;
}

static void free_dir(struct scen_res *r)
{
	json_decref(r->summary);
	for (int m = 0; m < BM_COUNT; m++)
		for (size_t i = 0; i < r->nruns[m]; i++)
			json_decref(r->runs[m][i]);
}

/* ---------------------------------------------------------------- plots */

static int header_index(const char *header, const char *name)
{
	char buf[65536], *save = NULL, *tok;
	int i = 1;

	snprintf(buf, sizeof(buf), "%s", header);
	buf[strcspn(buf, "\r\n")] = '\0';
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save), i++)
		if (!strcmp(tok, name))
			return i;
	return 0;
}

/* One PNG: per-guest balloon actual (solid) and target (dotted), the slice's
 * usage and limit, host swap-in/out per second on the right axis. */
static int plot_run(const char *csv, const char *png, const char *title)
{
	static const char *const colors[] = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
					      "#9467bd", "#8c564b", "#e377c2", "#17becf" };
	char header[65536], gp[PATH_MAX + 300], col[64];
	FILE *f = fopen(csv, "r"), *g;
	int n = 0, status;
	pid_t pid;

	if (!f)
		return -errno;
	if (!fgets(header, sizeof(header), f)) {
		fclose(f);
		return -EINVAL;
	}
	fclose(f);
	snprintf(gp, sizeof(gp), "%s.gp", png);
	g = fopen(gp, "w");
	if (!g)
		return -errno;
	fprintf(g, "set terminal pngcairo size 960,440 font ',9'\n"
		"set output '%s'\nset datafile separator ','\nset title '%s' noenhanced\n"
		"set xlabel 'time (s)'\nset ylabel 'MiB'\nset y2label 'host swap (pages/s)'\n"
		"set ytics nomirror\nset y2tics\nset yrange [0:*]\nset y2range [0:*]\n"
		"set key outside right top box font ',8'\nset grid\n", png, title);
	fprintf(g, "plot '%s' every ::1 using 1:($%d/1048576) with lines lw 2 lc 'black' "
		"title 'slice usage'", csv, header_index(header, "host_usage_bytes"));
	fprintf(g, ", '' every ::1 using 1:($%d/1048576) with lines dt 2 lc 'black' "
		"title 'slice limit'", header_index(header, "host_limit_bytes"));
	for (int i = 1; i <= MAX_PLOT_GUESTS; i++) {
		int ca, ct;

		snprintf(col, sizeof(col), "g%d_actual_bytes", i);
		ca = header_index(header, col);
		snprintf(col, sizeof(col), "g%d_target_bytes", i);
		ct = header_index(header, col);
		if (!ca)
			break;
		fprintf(g, ", '' every ::1 using 1:($%d/1048576) with lines lw 1.5 lc '%s' "
			"title 'g%d actual'", ca, colors[(i - 1) % 8], i);
		if (ct)
			fprintf(g, ", '' every ::1 using 1:($%d/1048576) with lines dt 3 lc '%s' "
				"title 'g%d target'", ct, colors[(i - 1) % 8], i);
		n++;
	}
	fprintf(g, ", '' every ::1 using 1:%d axes x1y2 with impulses lw 2 lc 'red' "
		"title 'swap-in/s'", header_index(header, "pswpin_ps"));
	fprintf(g, ", '' every ::1 using 1:%d axes x1y2 with impulses lc '#aa6666' "
		"title 'swap-out/s'\n", header_index(header, "pswpout_ps"));
	fclose(g);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", 1);

		if (null >= 0)
			dup2(null, 2);
		execlp("gnuplot", "gnuplot", gp, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -ECHILD;
	unlink(gp);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 && n ? 0 : -EIO;
}

static void plot_name(char *buf, size_t len, const char *scen, enum bench_mode m)
{
	char mode[32];

	snprintf(mode, sizeof(mode), "%s", bench_mode_name(m));
	for (char *c = mode; *c; c++)
		if (*c == '+')
			*c = '-';
	snprintf(buf, len, "%s-%s.png", scen, mode);
}

/* plot_dir relative to the directory of md_path, for the links */
static void rel_link(char *buf, size_t len, const char *md_path, const char *plot_dir)
{
	char md_abs[PATH_MAX], pd_abs[PATH_MAX], mdd[PATH_MAX], *slash;

	snprintf(mdd, sizeof(mdd), "%s", md_path);
	slash = strrchr(mdd, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(mdd, sizeof(mdd), ".");
	if (realpath(mdd, md_abs) && realpath(plot_dir, pd_abs)) {
		size_t n = strlen(md_abs);

		if (!strncmp(pd_abs, md_abs, n) && pd_abs[n] == '/') {
			snprintf(buf, len, "%s", pd_abs + n + 1);
			return;
		}
		snprintf(buf, len, "%s", pd_abs);
		return;
	}
	snprintf(buf, len, "%s", plot_dir);
}

/* --------------------------------------------------------------- report */

static const char *sname(const struct scen_res *r)
{
	const char *s = json_string_value(json_object_get(r->summary, "scenario"));

	return s ? s : "?";
}

static double swap_med(const struct scen_res *r, enum bench_mode m)
{
	return stat_med(r, m, "host_swap_in_pages") + stat_med(r, m, "host_swap_out_pages");
}

/* The scenario's figure of merit, higher is better: its metric, or minus its time. */
static double merit_med(const struct scen_res *r, enum bench_mode m, bool has_metric)
{
	return has_metric ? stat_med(r, m, "workload_metric")
			  : -stat_med(r, m, "workload_time_s");
}

static const char *storage_of(const struct scen_res *r)
{
	const char *st = json_string_value(json_object_get(json_object_get(r->summary,
									  "config"), "storage"));

	return st ? st : "ram";
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

static void targets(FILE *md, struct scen_res *res, size_t n)
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
	double as = stat_med(r, BM_AUTO, "host_swap_in_pages") +
		    stat_med(r, BM_AUTO, "host_swap_out_pages");
	double fs = stat_med(r, BM_FPR, "host_swap_in_pages") +
		    stat_med(r, BM_FPR, "host_swap_out_pages");
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

/* runs/MODE-REP-series.csv of one run */
static void series_path(char *buf, size_t len, const struct scen_res *r, enum bench_mode m,
			const json_t *run)
{
	snprintf(buf, len, "%s/runs/%s-%.0f-series.csv", r->dir, bench_mode_name(m),
		 json_number_value(json_object_get(run, "rep")));
}

/*
 * From one run's series: the slice's mean usage and the mean of the
 * balloons' sum (guest max - actual), over the samples in which every
 * guest's balloon was known (every guest's QEMU running). With free
 * page reporting a balloon over memory the host no longer backs returns
 * nothing: the two columns side by side show what ballooning bought.
 */
/*
 * Means over a run's series (rows where every guest runs): slice usage, the
 * balloons' sum and, where the series has it, the guest RAM the host backs
 * (sum over guests; NAN when not recorded).
 */
static int series_means(const char *csv, double guest_bytes, double *usage, double *balloons,
			double *resident)
{
	char line[65536];
	int cu, ca[MAX_SERIES_GUESTS], cr[MAX_SERIES_GUESTS], na = 0;
	double su = 0, sb = 0, sr = 0;
	size_t rows = 0, rrows = 0;
	FILE *f = fopen(csv, "r");

	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return -EINVAL;
	}
	cu = header_index(line, "host_usage_bytes");
	for (int i = 1; i <= MAX_SERIES_GUESTS; i++) {
		char col[64];
		int c;

		snprintf(col, sizeof(col), "g%d_actual_bytes", i);
		c = header_index(line, col);
		if (!c)
			break;
		snprintf(col, sizeof(col), "g%d_resident_bytes", i);
		cr[na] = header_index(line, col);
		ca[na++] = c;
	}
	while (cu && na && fgets(line, sizeof(line), f)) {
		char *p = line, *tok;
		double val[2048], b = 0, rs = 0;
		int col = 0;
		bool ok = true, rok = true;

		line[strcspn(line, "\r\n")] = '\0';
		/* strsep keeps empty fields: a guest not up yet leaves one */
		while ((tok = strsep(&p, ",")) && col < 2047)
			val[++col] = *tok ? strtod(tok, NULL) : NAN;
		if (cu > col || isnan(val[cu]))
			continue;
		for (int i = 0; i < na && ok; i++) {
			ok = ca[i] <= col && !isnan(val[ca[i]]);
			if (ok)
				b += guest_bytes - val[ca[i]];
			rok = rok && cr[i] && cr[i] <= col && !isnan(val[cr[i]]);
			if (rok)
				rs += val[cr[i]];
		}
		if (!ok)
			continue;
		su += val[cu];
		sb += b;
		rows++;
		if (rok) {
			sr += rs;
			rrows++;
		}
	}
	fclose(f);
	if (!rows)
		return -ENODATA;
	*usage = su / (double)rows;
	*balloons = sb / (double)rows;
	*resident = rrows ? sr / (double)rrows : NAN;
	return 0;
}

static void residency_table(FILE *md, const struct scen_res *r)
{
	const json_t *cfg = json_object_get(r->summary, "config");
	double gb = json_number_value(json_object_get(cfg, "guest_mem_mib")) * MIB_D;

	fprintf(md, "| RUN | slice usage (MiB, mean) | balloons (MiB, sum over guests, mean) "
		"| guest RAM the host backs (MiB, sum, mean) |\n|---|---|---|---|\n");
	for (int m = 0; m < BM_COUNT; m++) {
		double u[64], b[64], g[64];
		struct stat3 su, sb, sg;
		char a[96], c[96], e[96];

		if (!r->nruns[m])
			continue;
		for (size_t i = 0; i < r->nruns[m]; i++) {
			char csv[PATH_MAX + 64];

			series_path(csv, sizeof(csv), r, (enum bench_mode)m, r->runs[m][i]);
			if (series_means(csv, gb, &u[i], &b[i], &g[i]) < 0)
				u[i] = b[i] = g[i] = NAN;
			u[i] /= MIB_D;
			b[i] /= MIB_D;
			g[i] /= MIB_D;
		}
		su = stat3_of(u, r->nruns[m]);
		sb = stat3_of(b, r->nruns[m]);
		sg = stat3_of(g, r->nruns[m]);
		if (!su.valid)
			continue;	/* no series: nothing to show */
		fmt_stat3(a, sizeof(a), &su, 0);
		fmt_stat3(c, sizeof(c), &sb, 0);
		fmt_stat3(e, sizeof(e), &sg, 0);
		fprintf(md, "| %s | %s | %s | %s |\n", bench_mode_name((enum bench_mode)m), a, c,
			e);
	}
	fprintf(md, "\nWhat the balloons bought: the slice's usage next to the memory "
		"the balloons held, both averaged over the seconds in which every guest's "
		"QEMU was running. Where free page reporting is on, a balloon over memory "
		"the guest had freed (and reporting had already returned to the host) "
		"buys the host nothing. The last column is the guests' RAM the host "
		"actually backs (resident in QEMU's guest RAM mappings, from "
		"/proc/PID/smaps): the slice's usage is that plus each QEMU's own "
		"memory and its share of the host's page cache.\n\n");
}

/* Median (min-max) of run["daemon"][key] / div over a mode's runs. */
static void fmt_daemon(char *buf, size_t len, const struct scen_res *r, enum bench_mode m,
		       const char *key, double div, int dec)
{
	double v[64];
	struct stat3 st;

	for (size_t i = 0; i < r->nruns[m]; i++) {
		json_t *x = json_object_get(json_object_get(r->runs[m][i], "daemon"), key);

		v[i] = json_is_number(x) ? json_number_value(x) / div : NAN;
	}
	st = stat3_of(v, r->nruns[m]);
	fmt_stat3(buf, len, &st, dec);
}

/* What memory cost the guests, per mode: where each mode's time went. */
static void cost_table(FILE *md, const struct scen_res *r)
{
	char a[96], b[96], c[96], d[96], e[96], f[96];
	bool io = false;

	for (int m = 0; m < BM_COUNT; m++)
		io |= stat_of(r, (enum bench_mode)m, "io_read_ops") != NULL;
	fprintf(md, "| RUN | host swap-ins by the guests' QEMUs (major faults) | guest disk "
		"reads (MiB) | guest disk reads (ops) | guest swap-ins (pages) | guest major "
		"faults |%s\n|---|---|---|---|---|---|%s\n",
		io ? " slice I/O through the throttle, read / write (ops) |" : "",
		io ? "---|" : "");
	for (int m = 0; m < BM_COUNT; m++) {
		enum bench_mode mm = (enum bench_mode)m;

		if (!stat_of(r, mm, "guests_host_majflt"))
			continue;
		fmt_stat(a, sizeof(a), stat_of(r, mm, "guests_host_majflt"), 1, 0);
		fmt_stat(b, sizeof(b), stat_of(r, mm, "guests_disk_read_bytes"), MIB_D, 0);
		fmt_stat(c, sizeof(c), stat_of(r, mm, "guests_disk_read_ops"), 1, 0);
		fmt_stat(d, sizeof(d), stat_of(r, mm, "guests_swapin_pages"), 1, 0);
		fmt_stat(e, sizeof(e), stat_of(r, mm, "guests_majflt"), 1, 0);
		fprintf(md, "| %s | %s | %s | %s | %s | %s |", bench_mode_name(mm), a, b, c, d, e);
		if (io) {
			fmt_stat(a, sizeof(a), stat_of(r, mm, "io_read_ops"), 1, 0);
			fmt_stat(f, sizeof(f), stat_of(r, mm, "io_write_ops"), 1, 0);
			fprintf(md, " %s / %s |", a, f);
		}
		fprintf(md, "\n");
	}
	fprintf(md, "\nWhat memory cost the guests, summed over them (medians): a page the "
		"host swapped out comes back as a major fault of its QEMU; cache a guest "
		"lost comes back as a read of its data disk (QMP `query-blockstats`); its "
		"own swap and file refaults are its swap-ins and major faults. Per second "
		"in the runs' `-series.csv` (`gN_host_majflt_ps`, `gN_disk_read_mibps`, "
		"`gN_disk_read_ops_ps`, `gN_swapin_pps`, `gN_majflt_ps`, `io_*`).\n\n");
}

static void scenario_section(FILE *md, struct scen_res *r, const char *plot_dir,
			     const char *plot_link)
{
	const json_t *cfg = json_object_get(r->summary, "config");
	bool spike = false;
	char a[96], b[96], c[96], d[96], e[96], f[96];

	for (int m = 0; m < BM_COUNT; m++)
		if (stat_of(r, (enum bench_mode)m, "grant_latency_ms"))
			spike = true;
	fprintf(md, "## %s\n\n%s\n\n", sname(r),
		json_string_value(json_object_get(r->summary, "description")));
	const char *storage = json_string_value(json_object_get(cfg, "storage"));

	fprintf(md, "Storage: **%s**%s\n\n", storage ? storage : "ram",
		!storage || !strcmp(storage, "ram") ?
		" (host swap and guest disk images where the machine keeps them)" :
		" (host swap and guest disk images on one loop device, the slice's I/O "
		"to it throttled to the profile: bench/README.md)");
	fprintf(md, "%lld guests x %lld MiB, slice %lld MiB, swap %lld MiB, workload `%s %s`, "
		"stagger %lld s, run cap %lld s. Last runner invocation (runs kept from "
		"earlier ones into the same directory count too): `%s`.\n\n",
		(long long)json_number_value(json_object_get(cfg, "guests")),
		(long long)json_number_value(json_object_get(cfg, "guest_mem_mib")),
		(long long)json_number_value(json_object_get(cfg, "slice_mem_mib")),
		(long long)json_number_value(json_object_get(cfg, "swap_mib")),
		json_string_value(json_object_get(cfg, "workload")),
		json_string_value(json_object_get(cfg, "args")),
		(long long)json_number_value(json_object_get(cfg, "stagger_s")),
		(long long)json_number_value(json_object_get(cfg, "timeout_s")),
		json_string_value(json_object_get(r->summary, "command")));
	const char *metric = json_string_value(json_object_get(cfg, "metric"));
	bool has_metric = metric && metric[0];

	fprintf(md, "| RUN | TIME(s) | SWAP IN | SWAP OUT | OOM kills | unfinished | "
		"final balloon (MiB/guest)%s%s%s%s |\n|---|---|---|---|---|---|---|%s%s\n",
		spike ? " | first grant (ms) | grant (ms) | longest wait (ms) | stall (ms) | "
		"re-inflate (s)" : "",
		has_metric ? " | " : "", has_metric ? metric : "",
		has_metric ? " (sum)" : "",
		spike ? "---|---|---|---|---|" : "", has_metric ? "---|" : "");
	for (int m = 0; m < BM_COUNT; m++) {
		enum bench_mode mm = (enum bench_mode)m;

		if (!mode_sum(r, mm))
			continue;
		fmt_stat(a, sizeof(a), stat_of(r, mm, "workload_time_s"), 1, 1);
		fmt_stat(b, sizeof(b), stat_of(r, mm, "host_swap_in_pages"), 1, 0);
		fmt_stat(c, sizeof(c), stat_of(r, mm, "host_swap_out_pages"), 1, 0);
		fmt_stat(d, sizeof(d), stat_of(r, mm, "oom_kills"), 1, 0);
		fmt_stat(e, sizeof(e), stat_of(r, mm, "guests_unfinished"), 1, 0);
		fmt_stat(f, sizeof(f), stat_of(r, mm, "final_balloon_mean_bytes"), MIB_D, 0);
		fprintf(md, "| %s (%lld runs) | %s | %s | %s | %s | %s | %s", bench_mode_name(mm),
			(long long)json_number_value(json_object_get(mode_sum(r, mm), "runs")),
			a, b, c, d, e, f);
		if (spike) {
			fmt_stat(a, sizeof(a), stat_of(r, mm, "first_grant_ms"), 1, 0);
			fmt_stat(b, sizeof(b), stat_of(r, mm, "grant_latency_ms"), 1, 0);
			fmt_stat(c, sizeof(c), stat_of(r, mm, "max_wait_ms"), 1, 0);
			fmt_stat(d, sizeof(d), stat_of(r, mm, "stall_ms"), 1, 0);
			fmt_stat(e, sizeof(e), stat_of(r, mm, "reinflate_s"), 1, 1);
			fprintf(md, " | %s | %s | %s | %s | %s", a, b, c, d, e);
		}
		if (has_metric) {
			fmt_stat(a, sizeof(a), stat_of(r, mm, "workload_metric"), 1, 1);
			fprintf(md, " | %s", a);
		}
		fprintf(md, " |\n");
	}
	fprintf(md, "\n| RUN | daemon CPU (s) | daemon peak RSS (MiB) |\n|---|---|---|\n");
	for (int m = 0; m < BM_COUNT; m++) {
		enum bench_mode mm = (enum bench_mode)m;

		if (!bench_mode_policy(mm) || !r->nruns[m])
			continue;
		fmt_daemon(a, sizeof(a), r, mm, "cpu_s", 1, 2);
		fmt_daemon(b, sizeof(b), r, mm, "max_rss_bytes", MIB_D, 1);
		fprintf(md, "| %s | %s | %s |\n", bench_mode_name(mm), a, b);
	}
	fprintf(md, "\nMedians over the runs, (min-max) when they differ. TIME: until the "
		"last guest finished its workload (\"-\": a guest did not finish within the "
		"cap). SWAP IN/OUT: host pages (`/proc/vmstat`, host-wide). Final balloon: "
		"guest max minus its logical memory when its workload ended, mean over the "
		"guests.%s\n\n", spike ? " Spike: *first grant*: burst start to the "
		"balloon's actual 8 MiB above where it was; *grant*: to actual covering the "
		"burst on top of what the guest used without cache; *longest wait*: the "
		"slowest 1 MiB of the burst to touch (the guest's worst stall on one "
		"allocation); *stall*: touching the whole burst (in `unpressured` that is "
		"the guest's own speed, a floor for *grant*); *re-inflate*: burst freed to "
		"the balloon back where it was (within a tenth of what the burst took, "
		"16 MiB at least); \"-\": not before the guest ended. With free page "
		"reporting the host has the freed burst back first (`g1_resident_bytes` "
		"in the series); `auto` re-inflates when another guest needs the room "
		"the idle one holds." : "");
	residency_table(md, r);
	cost_table(md, r);

	/* the seed's table shape, every run */
	fprintf(md, "<details><summary>Every run</summary>\n\n");
	for (int m = 0; m < BM_COUNT; m++) {
		if (!r->nruns[m])
			continue;
		fprintf(md, "%s:\n\n    RUN TIME(s) SWAP IN SWAP OUT  OOM  final actual per guest (MiB)\n",
			bench_mode_name((enum bench_mode)m));
		for (size_t i = 0; i < r->nruns[m]; i++) {
			json_t *run = r->runs[m][i], *g;
			json_t *t = json_object_get(run, "workload_time_s");
			size_t k;

			fprintf(md, "    %3.0f %7s %7.0f %8.0f %4.0f  ",
				json_number_value(json_object_get(run, "rep")),
				json_is_number(t) ? (snprintf(a, sizeof(a), "%.1f",
							      json_number_value(t)), a) : "-",
				json_number_value(json_object_get(run, "host_swap_in_pages")),
				json_number_value(json_object_get(run, "host_swap_out_pages")),
				json_number_value(json_object_get(run, "oom_kills")));
			json_array_foreach(json_object_get(run, "guests"), k, g) {
				json_t *fa = json_object_get(g, "final_actual_bytes");

				if (k >= 12) {
					fprintf(md, " ...");
					break;
				}
				if (json_is_number(fa))
					fprintf(md, " %.0f", json_number_value(fa) / MIB_D);
				else
					fprintf(md, " -");
			}
			fprintf(md, "\n");
		}
		fprintf(md, "\n");
	}
	fprintf(md, "</details>\n\n");

	/* plots of each mode's first run */
	for (int m = 0; m < BM_COUNT; m++) {
		char csv[PATH_MAX + 64], png[PATH_MAX + 64], name[128], title[256];
		json_t *run = r->nruns[m] ? r->runs[m][0] : NULL;

		if (!run)
			continue;
		series_path(csv, sizeof(csv), r, (enum bench_mode)m, run);
		plot_name(name, sizeof(name), sname(r), (enum bench_mode)m);
		snprintf(png, sizeof(png), "%s/%s", plot_dir, name);
		snprintf(title, sizeof(title), "%s, %s, run %.0f: balloon actual (solid) and "
			 "target (dotted) per guest, slice usage, host swap",
			 sname(r), bench_mode_name((enum bench_mode)m),
			 json_number_value(json_object_get(run, "rep")));
		if (plot_run(csv, png, title) == 0)
			fprintf(md, "![%s %s](%s/%s)\n\n", sname(r),
				bench_mode_name((enum bench_mode)m), plot_link, name);
		else
			fprintf(md, "(no plot for %s: %s missing or gnuplot failed)\n\n",
				bench_mode_name((enum bench_mode)m), csv);
	}
}

/* Name the scenarios in bench/scenarios/ this report does not cover. */
static void not_run(FILE *md, struct scen_res *res, size_t n)
{
	static const char *const never[] = { "demo", "smoke" };	/* not bench runs */
	DIR *d = opendir("bench/scenarios");
	struct dirent *e;
	bool first = true;

	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		bool skip = len < 5 || strcmp(e->d_name + len - 4, ".ini");

		for (size_t i = 0; !skip && i < sizeof(never) / sizeof(never[0]); i++)
			skip = len - 4 == strlen(never[i]) && !strncmp(e->d_name, never[i], len - 4);
		for (size_t i = 0; !skip && i < n; i++)
			skip = len - 4 == strlen(sname(&res[i])) &&
			       !strncmp(e->d_name, sname(&res[i]), len - 4);
		if (skip)
			continue;
		fprintf(md, "%s `%.*s`", first ? "- Not in this report:" :
			",", (int)(len - 4), e->d_name);
		first = false;
	}
	if (!first)
		fputc('\n', md);
	closedir(d);
}

int bench_report(char *const *dirs, size_t ndirs, const char *md_path,
		 const char *plot_dir, const char *command)
{
	struct scen_res *res = calloc(ndirs ? ndirs : 1, sizeof(*res));
	char tmp[PATH_MAX + 8], link[PATH_MAX];
	const json_t *machine = NULL;
	size_t n = 0;
	FILE *md;

	if (!res)
		return -ENOMEM;
	for (size_t i = 0; i < ndirs; i++) {
		if (load_dir(dirs[i], &res[n]) == 0)
			n++;
	}
	if (!n) {
		free(res);
		return -ENOENT;
	}
	if (hx_mkdir_p(plot_dir) < 0) {
		free(res);
		return -EIO;
	}
	rel_link(link, sizeof(link), md_path, plot_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", md_path);
	md = fopen(tmp, "w");
	if (!md) {
		free(res);
		return -errno;
	}
	machine = json_object_get(res[0].summary, "machine");
	fprintf(md, "# Benchmarks\n\n"
		"Generated by `%s` (`autoballoon-bench`, then `autoballoon-bench --report`) "
		"from the result files in its output directories; no number here is typed in.\n\n",
		command);
	fprintf(md, "- Machine: %s, %.0f CPUs, %.0f MiB, kernel %s, guests under %s\n",
		json_string_value(json_object_get(machine, "cpu")),
		json_number_value(json_object_get(machine, "cpus")),
		json_number_value(json_object_get(machine, "mem_mib")),
		json_string_value(json_object_get(machine, "kernel")),
		json_string_value(json_object_get(machine, "accel")));
	for (size_t i = 0; i < n; i++) {
		const char *src = json_string_value(json_object_get(res[i].summary, "source"));

		fprintf(md, "- %s: run %s, source %s\n", sname(&res[i]),
			json_string_value(json_object_get(res[i].summary, "date")),
			src ? src : "unknown");
	}
	not_run(md, res, n);
	fprintf(md, "\nModes: `unpressured` (no slice limit), `none` (no balloon action, free "
		"page reporting off), `fpr` (free page reporting only), `static`, `proxmox`, "
		"`mom` (autoballoond running the reference policies), `auto` (autoballoond, stock "
		"guest driver), `auto+guest` (autoballoond + `virtio_autoballoon.ko`). Every mode "
		"boots the same guests with the same QEMU options (deflate-on-oom on, stats every "
		"1 s, two QMP sockets); only free page reporting (off in `none`), the slice limit "
		"(none in `unpressured`), the daemon and the guest driver differ. Host swap is "
		"counted host-wide from `/proc/vmstat` (pswpin/pswpout) over the run: anything "
		"else swapping on the machine at the time would count too.\n\n");
	targets(md, res, n);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(sname(&res[i]), "spike"))
			spike_targets(md, &res[i]);
		auto_vs_fpr(md, &res[i]);
	}
	zero_oom(md, res, n);
	fprintf(md, "\n");
	for (size_t i = 0; i < n; i++)
		scenario_section(md, &res[i], plot_dir, link);
	if (fclose(md) != 0 || rename(tmp, md_path) < 0) {
		for (size_t i = 0; i < n; i++)
			free_dir(&res[i]);
		free(res);
		return -EIO;
	}
	printf("written: %s (plots in %s)\n", md_path, plot_dir);
	for (size_t i = 0; i < n; i++)
		free_dir(&res[i]);
	free(res);
	return 0;
}
