/* SPDX-License-Identifier: MIT */
/*
 * bench_sample.c - a run's series: once a second the slice's usage, PSI and
 * I/O through the throttled disk, host swap, and every guest's balloon,
 * guest stats, backing memory and cost, as one row of OUT/runs/ID-series.csv.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>

#include "bench_run.h"

double ctr_rate(uint64_t now, uint64_t before, double dt_s)
{
	return now >= before && dt_s > 0 ? (double)(now - before) / dt_s : 0;
}

int run_io(const struct run *r, struct hx_io_stats *ret)
{
	unsigned maj, min;
	int rc;

	if (!r->disk)
		return -ENOENT;
	hx_storage_dev(r->disk, &maj, &min);
	rc = hx_slice_io_stats(r->slice, maj, min, ret);
	if (rc < 0)
		return rc;
	ret->read_ios -= r->io_base.read_ios;
	ret->write_ios -= r->io_base.write_ios;
	ret->read_bytes -= r->io_base.read_bytes;
	ret->write_bytes -= r->io_base.write_bytes;
	return 0;
}

void run_io_exclude(struct run *r, const struct hx_io_stats *before)
{
	struct hx_io_stats now;

	if (run_io(r, &now) < 0)
		return;
	r->io_base.read_ios += now.read_ios - before->read_ios;
	r->io_base.write_ios += now.write_ios - before->write_ios;
	r->io_base.read_bytes += now.read_bytes - before->read_bytes;
	r->io_base.write_bytes += now.write_bytes - before->write_bytes;
}

void run_series_header(struct run *r)
{
	fprintf(r->series, "t_s,host_usage_bytes,host_limit_bytes,host_swap_bytes,"
		"psi_some_avg10,psi_full_avg10,pswpin,pswpout,pswpin_ps,pswpout_ps,"
		"io_read_ops,io_write_ops,io_read_bytes,io_write_bytes,io_read_ops_ps,"
		"io_write_ops_ps");
	for (unsigned i = 0; i < r->n; i++) {
		const char *n = r->g[i].name;

		fprintf(r->series, ",%s_target_bytes,%s_actual_bytes,%s_avail_bytes,"
			"%s_cache_bytes,%s_swapin_pps,%s_swapout_pps,%s_majflt_ps,"
			"%s_resident_bytes,%s_host_majflt_ps,%s_disk_read_mibps,"
			"%s_disk_read_ops_ps,%s_daemon_refault_pps", n, n, n, n, n, n, n, n, n,
			n, n, n);
	}
	fputc('\n', r->series);
}

static void csv_u64(FILE *f, bool have, uint64_t v)
{
	if (have)
		fprintf(f, ",%llu", (unsigned long long)v);
	else
		fputs(",", f);
}

static void csv_d(FILE *f, bool have, double v)
{
	if (have && !isnan(v))
		fprintf(f, ",%.3f", v);
	else
		fputs(",", f);
}

/* The host side of one sample: the slice, PSI, host swap, the disk's I/O. */
struct host_sample {
	struct hx_slice_stats ss;
	bool have_ss;
	struct hx_psi psi;
	bool have_psi;
	struct hx_vmstat vs;
	double in_ps, out_ps;		/* host swap-in/out, pages/s */
	struct hx_io_stats io;
	bool have_io;
	double rio_ps, wio_ps;		/* the disk's read/write ops/s */
};

static void sample_host(struct run *r, uint64_t now_ms, struct host_sample *h)
{
	*h = (struct host_sample){ .in_ps = NAN, .out_ps = NAN, .rio_ps = NAN,
				   .wio_ps = NAN };
	h->have_ss = hx_slice_stats(r->slice, &h->ss) == 0;
	if (h->have_ss && h->ss.has_psi) {
		h->have_psi = true;
		h->psi.some_avg10 = h->ss.psi_some_avg10;
		h->psi.full_avg10 = h->ss.psi_full_avg10;
	} else if (hx_psi_read("/proc/pressure/memory", &h->psi) == 0) {
		h->have_psi = true;
	}
	if (h->have_ss && h->ss.usage_bytes > r->peak_usage)
		r->peak_usage = h->ss.usage_bytes;
	hx_vmstat_read(NULL, &h->vs);
	if (r->vs_prev_ms && now_ms > r->vs_prev_ms) {
		double dt = (double)(now_ms - r->vs_prev_ms) / 1000.0;

		h->in_ps = (double)(h->vs.pswpin - r->vs_prev.pswpin) / dt;
		h->out_ps = (double)(h->vs.pswpout - r->vs_prev.pswpout) / dt;
	}
	r->vs_prev = h->vs;
	r->vs_prev_ms = now_ms;
	if (r->disk) {
		h->have_io = run_io(r, &h->io) == 0;
		if (h->have_io && r->io_prev_ms && now_ms > r->io_prev_ms) {
			double dt = (double)(now_ms - r->io_prev_ms) / 1000.0;

			h->rio_ps = ctr_rate(h->io.read_ios, r->io_prev.read_ios, dt);
			h->wio_ps = ctr_rate(h->io.write_ios, r->io_prev.write_ios, dt);
		}
		if (h->have_io) {
			r->io_prev = h->io;
			r->io_prev_ms = now_ms;
		}
	}
}

/* Every running guest: QMP, guest stats, backing memory, cost, and what
 * the daemon's dump says of it (its target and state). */
static void sample_guests(struct run *r, uint64_t now_ms)
{
	json_t *dump = NULL;

	if (r->daemon_up)
		dump = hx_ctl(r->d.ctl, "{\"cmd\": \"dump\"}");
	for (unsigned i = 0; i < r->n; i++) {
		struct guest *g = &r->g[i];
		uint64_t a;
		json_t *vm;

		if (!g->started || g->exited)
			continue;
		guest_qmp_open(g);
		guest_query_actual(g, &a);
		guest_sample_stats(g, now_ms);
		guest_sample_ram(r, g, now_ms);
		guest_sample_cost(r, g, now_ms);
		vm = dump ? hx_ctl_dump_vm(dump, g->name) : NULL;
		if (vm) {
			json_t *t = json_object_get(vm, "target_bytes");
			const char *st = json_string_value(json_object_get(vm, "state"));

			g->seen_by_daemon = true;
			g->daemon_refault_pps = json_is_number(json_object_get(vm, "refault_pps")) ?
				json_number_value(json_object_get(vm, "refault_pps")) : NAN;
			if (json_is_number(t)) {
				g->have_target = true;
				g->target = (uint64_t)json_number_value(t);
			}
			snprintf(g->state, sizeof(g->state), "%s", st ? st : "");
		} else if (!r->daemon_up) {
			/* no daemon: the target is the boot size, never changed */
			g->have_target = true;
			g->target = (uint64_t)(r->o->guest_mem ? r->o->guest_mem
							    : r->s->guest_mem_mib) << 20;
		}
	}
	json_decref(dump);
}

/* The series' row: host columns, then each guest's (empty when it does
 * not run). */
static void series_row(struct run *r, uint64_t now_ms, const struct host_sample *h)
{
	fprintf(r->series, "%.1f", (double)(now_ms - r->t0_ms) / 1000.0);
	csv_u64(r->series, h->have_ss, h->ss.usage_bytes);
	csv_u64(r->series, h->have_ss && h->ss.limit_bytes != HX_UNLIMITED, h->ss.limit_bytes);
	csv_u64(r->series, h->have_ss, h->ss.swap_bytes);
	csv_d(r->series, h->have_psi, h->psi.some_avg10);
	csv_d(r->series, h->have_psi, h->psi.full_avg10);
	csv_u64(r->series, true, h->vs.pswpin - r->vs0.pswpin);
	csv_u64(r->series, true, h->vs.pswpout - r->vs0.pswpout);
	csv_d(r->series, true, h->in_ps);
	csv_d(r->series, true, h->out_ps);
	csv_u64(r->series, h->have_io, h->io.read_ios);
	csv_u64(r->series, h->have_io, h->io.write_ios);
	csv_u64(r->series, h->have_io, h->io.read_bytes);
	csv_u64(r->series, h->have_io, h->io.write_bytes);
	csv_d(r->series, h->have_io, h->rio_ps);
	csv_d(r->series, h->have_io, h->wio_ps);
	for (unsigned i = 0; i < r->n; i++) {
		struct guest *g = &r->g[i];
		bool live = g->started && !g->exited;

		csv_u64(r->series, live && g->have_target, g->target);
		csv_u64(r->series, live && g->have_actual, g->actual);
		csv_u64(r->series, live && g->have_stats, g->avail);
		csv_u64(r->series, live && g->have_stats, g->cache);
		csv_d(r->series, live && g->have_ctr, g->swapin_ps);
		csv_d(r->series, live && g->have_ctr, g->swapout_ps);
		csv_d(r->series, live && g->have_ctr, g->majflt_ps);
		csv_u64(r->series, live && g->ram.known, g->ram.resident_bytes);
		csv_d(r->series, live && g->have_cost, g->host_majflt_ps);
		csv_d(r->series, live && g->have_cost && r->s->data_disk_mib, g->rd_mibps);
		csv_d(r->series, live && g->have_cost && r->s->data_disk_mib, g->rd_ops_ps);
		csv_d(r->series, live && !isnan(g->daemon_refault_pps), g->daemon_refault_pps);
	}
	fputc('\n', r->series);
	fflush(r->series);
}

void run_sample(struct run *r, uint64_t now_ms)
{
	struct host_sample h;

	sample_host(r, now_ms, &h);
	sample_guests(r, now_ms);
	series_row(r, now_ms, &h);
}
