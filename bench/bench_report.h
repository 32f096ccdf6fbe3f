/* SPDX-License-Identifier: MIT */
/*
 * bench_report.h - `autoballoon-bench --report`, shared by its files: one
 * scenario's results as read back, and what each file offers the others.
 *
 *   bench_report.c   the result directories, the helpers over them, the
 *                    document and each scenario's section (bench_report())
 *   bench_targets.c  the Targets section
 *   bench_tables.c   a scenario's residency and cost tables
 *   bench_plot.c     the gnuplot PNGs of each mode's first run
 */
#ifndef AB_BENCH_REPORT_H
#define AB_BENCH_REPORT_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "bench.h"

#define MIB_D (1024.0 * 1024.0)

/* One result directory: its summary.json and runs/MODE-REP.json by mode, by rep. */
struct scen_res {
	char dir[PATH_MAX];
	json_t *summary;
	json_t *runs[BM_COUNT][64];
	size_t nruns[BM_COUNT];
};

/* ---- bench_report.c ---- */

/* The summary's object for mode m (NULL: the mode was not run). */
const json_t *mode_sum(const struct scen_res *r, enum bench_mode m);
/* Its {median, min, max} of key (NULL: none). */
const json_t *stat_of(const struct scen_res *r, enum bench_mode m, const char *key);
/* That median (NAN: none). */
double stat_med(const struct scen_res *r, enum bench_mode m, const char *key);
/* "median (min-max)", the range only when the runs differ; "-": no value. */
void fmt_stat3(char *buf, size_t len, const struct stat3 *st, int dec);
/* The same from a summary's {median, min, max} object, scaled down by div. */
void fmt_stat(char *buf, size_t len, const json_t *s, double div, int dec);
/* The scenario's name ("?" when the summary has none). */
const char *sname(const struct scen_res *r);
/* Median host swap-ins plus median host swap-outs (pages). */
double swap_med(const struct scen_res *r, enum bench_mode m);
/* The storage profile the scenario ran on ("ram" when none is recorded). */
const char *storage_of(const struct scen_res *r);
/* runs/MODE-REP-series.csv of one run */
void series_path(char *buf, size_t len, const struct scen_res *r, enum bench_mode m,
		 const json_t *run);
/* The 1-based column of name in a CSV header line; 0: not there. */
int header_index(const char *header, const char *name);

/* ---- bench_targets.c ---- */

/* "## Targets": every target whose modes were run, met or not. */
void targets(FILE *md, struct scen_res *res, size_t n);

/* ---- bench_tables.c ---- */

/* What the balloons bought: slice usage, balloons, guest RAM backed (means). */
void residency_table(FILE *md, const struct scen_res *r);
/* What memory cost the guests, per mode: where each mode's time went. */
void cost_table(FILE *md, const struct scen_res *r);

/* ---- bench_plot.c ---- */

/* plot_dir relative to the directory of md_path, for the links */
void rel_link(char *buf, size_t len, const char *md_path, const char *plot_dir);
/* A PNG of each mode's first run into plot_dir, linked as plot_link/NAME
 * (or a line saying why there is none). */
void plot_runs(FILE *md, const struct scen_res *r, const char *plot_dir, const char *plot_link);

#endif
