/* SPDX-License-Identifier: MIT */
/*
 * bench_tables.c - two tables of a scenario's section in the report: what
 * the balloons bought (the slice's usage, the balloons and the guest RAM
 * the host backs, from the runs' series) and what memory cost the guests.
 */
#include "bench_report.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES_GUESTS 128	/* 8 columns each: fits val[] in series_means */

/*
 * Means over one run's series, over the samples in which every guest's
 * balloon was known (every guest's QEMU running): the slice's usage, the
 * balloons' sum (guest max - actual) and, where the series has it, the
 * guest RAM the host backs (sum over guests; NAN when not recorded). With
 * free page reporting a balloon over memory the host no longer backs
 * returns nothing: the columns side by side show what ballooning bought.
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

/* What the balloons bought: slice usage, balloons, guest RAM backed (means). */
void residency_table(FILE *md, const struct scen_res *r)
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

/* What memory cost the guests, per mode: where each mode's time went. */
void cost_table(FILE *md, const struct scen_res *r)
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
