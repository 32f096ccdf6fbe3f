/* SPDX-License-Identifier: MIT */
/*
 * bench_plot.c - the report's gnuplot PNGs, one per mode from its first
 * run's series (runs/MODE-REP-series.csv), and the links to them.
 */
#include "bench_report.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PLOT_GUESTS 8

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
void rel_link(char *buf, size_t len, const char *md_path, const char *plot_dir)
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

/* plots of each mode's first run */
void plot_runs(FILE *md, const struct scen_res *r, const char *plot_dir, const char *plot_link)
{
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
