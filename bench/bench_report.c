/* SPDX-License-Identifier: MIT */
/*
 * bench_report.c - `autoballoon-bench --report`: docs/benchmarks.md and the
 * gnuplot PNGs, from the result directories of real runs (summary.json,
 * runs/MODE-REP.json, runs/MODE-REP-series.csv). Nothing in the report is
 * typed in: every number comes from those files. This file reads the
 * directories, offers the other report files their helpers over what it
 * read (bench_report.h), and writes the document and each scenario's
 * section.
 */
#include "bench_report.h"
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const json_t *mode_sum(const struct scen_res *r, enum bench_mode m)
{
	return json_object_get(json_object_get(r->summary, "modes"), bench_mode_name(m));
}

const json_t *stat_of(const struct scen_res *r, enum bench_mode m, const char *key)
{
	const json_t *s = json_object_get(mode_sum(r, m), key);

	return json_is_object(s) ? s : NULL;
}

double stat_med(const struct scen_res *r, enum bench_mode m, const char *key)
{
	const json_t *s = stat_of(r, m, key);

	return s ? json_number_value(json_object_get(s, "median")) : NAN;
}

/* "median (min-max)", the range only when the runs differ; "-": no value. */
void fmt_stat3(char *buf, size_t len, const struct stat3 *st, int dec)
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
void fmt_stat(char *buf, size_t len, const json_t *s, double div, int dec)
{
	struct stat3 st = { .valid = s != NULL };

	if (s) {
		st.median = json_number_value(json_object_get(s, "median")) / div;
		st.min = json_number_value(json_object_get(s, "min")) / div;
		st.max = json_number_value(json_object_get(s, "max")) / div;
	}
	fmt_stat3(buf, len, &st, dec);
}

/* runs/MODE-REP-series.csv of one run */
void series_path(char *buf, size_t len, const struct scen_res *r, enum bench_mode m,
		 const json_t *run)
{
	snprintf(buf, len, "%s/runs/%s-%.0f-series.csv", r->dir, bench_mode_name(m),
		 json_number_value(json_object_get(run, "rep")));
}

int header_index(const char *header, const char *name)
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

const char *sname(const struct scen_res *r)
{
	const char *s = json_string_value(json_object_get(r->summary, "scenario"));

	return s ? s : "?";
}

double swap_med(const struct scen_res *r, enum bench_mode m)
{
	return stat_med(r, m, "host_swap_in_pages") + stat_med(r, m, "host_swap_out_pages");
}

const char *storage_of(const struct scen_res *r)
{
	const char *st = json_string_value(json_object_get(json_object_get(r->summary,
									  "config"), "storage"));

	return st ? st : "ram";
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

	plot_runs(md, r, plot_dir, plot_link);
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
