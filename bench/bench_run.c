/* SPDX-License-Identifier: MIT */
/*
 * bench_run.c - one run of a scenario in one mode: the run's slice (its
 * I/O throttled on a storage profile's disk), autoballoond in the modes
 * that have it, the guests started on their stagger and followed until
 * they finish or the run times out, then everything stopped and removed.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_run.h"

#define SAMPLE_MS 1000

static void write_daemon_conf(const struct run *r, char *buf, size_t len)
{
	static const char *const sections[] = { "daemon", "host", "policy", "defaults" };
	size_t o = 0;

	for (size_t k = 0; k < 4; k++) {
		int n = snprintf(buf + o, len - o, "[%s]\n", sections[k]);

		o += (size_t)n < len - o ? (size_t)n : len - o - 1;
		if (k == 0)
			n = snprintf(buf + o, len - o,
				     "policy = %s\ncontrol_socket = %s/ctl.sock\n"
				     "qmp_dir = %s\nrestore_on_exit = no\n",
				     bench_mode_policy(r->mode), r->dir, r->qmp_dir);
		else if (k == 1)
			n = snprintf(buf + o, len - o, "cgroup = %s\n",
				     hx_slice_path(r->slice));
		else
			n = 0;
		o += (size_t)n < len - o ? (size_t)n : len - o - 1;
		for (size_t i = 0; i < r->s->ndconf; i++) {
			if (strcmp(r->s->dconf[i].section, sections[k]))
				continue;
			n = snprintf(buf + o, len - o, "%s = %s\n", r->s->dconf[i].key,
				     r->s->dconf[i].value);
			o += (size_t)n < len - o ? (size_t)n : len - o - 1;
		}
	}
}

static int start_guest(struct run *r, struct guest *g)
{
	const struct opts *o = r->o;
	const struct scenario *s = r->s;
	char rundir[PATH_MAX];
	int rc;

	snprintf(rundir, sizeof(rundir), "%s", r->dir);
	struct hx_vm_opts vo = {
		.name = g->name,
		.run_dir = rundir,
		.image_dir = r->image_dir,
		.accel = r->accel,
		.mem_mib = o->guest_mem ? o->guest_mem : s->guest_mem_mib,
		.workload = g->workload,
		.args = g->args[0] ? g->args : NULL,
		.driver = r->mode == BM_AUTO_GUEST ? HX_DRIVER_AUTOBALLOON : HX_DRIVER_STOCK,
		.deflate_on_oom = true,
		.free_page_reporting = r->mode != BM_NONE,
		.stats_interval_s = 1,
		.data_disk_mib = s->data_disk_mib,
		/* a hole reads as zeros without touching the device: on a
		 * throttled disk the image must be written to cost reads */
		.data_fill = s->data_fill || r->disk,
		.disk_dir = r->disk ? hx_storage_dir(r->disk) : NULL,
		.swap_disk_mib = s->guest_swap_mib,
		.guest_swap = s->guest_swap_mib > 0,
		.slice = r->slice,
		.extra_args = g->extra,
	};

	struct hx_io_stats io0;
	bool have_io0 = run_io(r, &io0) == 0;

	rc = hx_vm_start(&vo, &g->vm);
	if (have_io0)
		run_io_exclude(r, &io0);	/* the images' writing */
	if (rc < 0) {
		fprintf(stderr, "autoballoon-bench: %s: starting guest %s: %s\n", r->id,
			g->name, strerror(-rc));
		return rc;
	}
	g->started = true;
	return 0;
}

static void guest_free(struct guest *g)
{
	guest_qmp_close(g);
	if (g->vm)
		hx_vm_destroy(g->vm);
	g->vm = NULL;
	if (g->daemon_qmp[0]) {
		unlink(g->daemon_qmp);
		hx_guard_del_file(g->daemon_qmp);
	}
	json_decref(g->result_kv);
	g->result_kv = NULL;
}

/* The guests' names, workloads and the QMP sockets the daemon uses. */
static int run_init_guests(struct run *r)
{
	const struct opts *o = r->o;
	const struct scenario *s = r->s;

	r->g = calloc(r->n, sizeof(*r->g));
	if (!r->g)
		return -ENOMEM;
	for (unsigned i = 0; i < r->n; i++) {
		struct guest *g = &r->g[i];

		g->idx = i;
		snprintf(g->name, sizeof(g->name), "g%u", i + 1);
		g->runtime_s = NAN;
		g->daemon_refault_pps = NAN;
		g->done_status = -1;
		g->start_at_ms = (uint64_t)i * s->stagger_s * 1000;
		if (o->workload_path) {
			const char *b = strrchr(o->workload_path, '/');
			size_t al = 0;

			snprintf(g->workload, sizeof(g->workload), "%s",
				 b ? b + 1 : o->workload_path);
			for (int k = 0; k < o->workload_argc; k++) {
				int w = snprintf(g->args + al, sizeof(g->args) - al, "%s%s",
						 k > 0 ? "," : "", o->workload_argv[k]);

				if (w < 0 || (size_t)w >= sizeof(g->args) - al)
					break;
				al += (size_t)w;
			}
		} else {
			scenario_guest_workload(s, i, g->workload, sizeof(g->workload),
						g->args, sizeof(g->args));
		}
		if (pathf(g->daemon_qmp, sizeof(g->daemon_qmp), "%s/%s.qmp", r->qmp_dir, g->name) ||
		    strlen(g->daemon_qmp) >= 108 || strlen(r->dir) + 16 >= 108) {
			fprintf(stderr, "autoballoon-bench: %s: socket path too long for "
				"UNIX sockets; use a shorter --out\n", g->daemon_qmp);
			free(r->g);
			r->g = NULL;
			return -ENAMETOOLONG;
		}
		snprintf(g->qmp_arg, sizeof(g->qmp_arg), "unix:%s,server=on,wait=off",
			 g->daemon_qmp);
		g->extra[0] = "-qmp";
		g->extra[1] = g->qmp_arg;
		g->extra[2] = NULL;
		unlink(g->daemon_qmp);
		hx_guard_add_file(g->daemon_qmp);
	}
	return 0;
}

/* The run's directories (OUT/runs/ID, its qmp/) and its guests. */
static int run_init(struct run *r, const char *out_abs)
{
	const struct opts *o = r->o;

	snprintf(r->id, sizeof(r->id), "%s-%u", bench_mode_name(r->mode), r->rep);
	if (snprintf(r->dir, sizeof(r->dir), "%s/runs/%s", out_abs, r->id) >= (int)sizeof(r->dir) ||
	    snprintf(r->qmp_dir, sizeof(r->qmp_dir), "%s/qmp", r->dir) >= (int)sizeof(r->qmp_dir))
		return -ENAMETOOLONG;
	if (hx_mkdir_p(r->qmp_dir) < 0) {
		fprintf(stderr, "autoballoon-bench: cannot create %s\n", r->qmp_dir);
		return -EIO;
	}
	r->n = o->guests ? o->guests : r->s->guests;
	return run_init_guests(r);
}

/* The run's slice (unlimited in mode unpressured), its I/O throttled to the
 * storage profile when there is a disk. */
static int run_make_slice(struct run *r)
{
	const struct storage_profile *sp = r->storage;
	unsigned slice_mib = r->o->slice_mem ? r->o->slice_mem : r->s->slice_mem_mib;
	int rc;

	snprintf(r->slice_name, sizeof(r->slice_name), "autoballoon-bench-%d-%s-%u",
		 (int)getpid(), r->mode == BM_AUTO_GUEST ? "autoguest" : bench_mode_name(r->mode),
		 r->rep);
	rc = hx_slice_create(r->slice_name, r->mode == BM_UNPRESSURED ? HX_UNLIMITED
						: (uint64_t)slice_mib << 20, &r->slice);
	if (rc < 0) {
		fprintf(stderr, "autoballoon-bench: creating slice %s: %s\n", r->slice_name,
			strerror(-rc));
		return rc;
	}
	if (r->disk) {
		struct hx_io_limits lim = { sp->iops, sp->iops, sp->bps, sp->bps };
		unsigned maj, min;

		hx_storage_dev(r->disk, &maj, &min);
		rc = hx_slice_set_io_limits(r->slice, maj, min, &lim);
		if (rc < 0) {
			fprintf(stderr, "autoballoon-bench: %s: throttling the slice's I/O "
				"(storage %s): %s\n", r->id, sp->name, strerror(-rc));
			return rc;
		}
		hx_slice_io_stats(r->slice, maj, min, &r->io_base);
	}
	return 0;
}

/* autoballoond, in the modes that have one. */
static int run_start_daemon(struct run *r)
{
	const struct opts *o = r->o;
	char conf[8192];
	int rc;

	if (!bench_mode_policy(r->mode))
		return 0;
	write_daemon_conf(r, conf, sizeof(conf));
	rc = hx_daemon_start(o->daemon_bin, r->dir, conf, o->daemon_verbose, &r->d);
	if (rc < 0) {
		fprintf(stderr, "autoballoon-bench: %s: starting %s: %s\n", r->id,
			o->daemon_bin, strerror(-rc));
		hx_daemon_show_log(&r->d, 20);
		if (r->d.pid > 0)
			hx_daemon_stop(&r->d, SIGKILL, 2000, NULL);
		return rc;
	}
	r->daemon_up = true;
	r->daemon_used = true;
	return 0;
}

/* Slice, daemon and the series file; then the run's first line on stdout. */
static int run_setup(struct run *r, const char *out_abs)
{
	const struct opts *o = r->o;
	const struct scenario *s = r->s;
	unsigned slice_mib = o->slice_mem ? o->slice_mem : s->slice_mem_mib;
	char path[PATH_MAX + 64];
	int rc;

	rc = run_make_slice(r);
	if (rc < 0)
		return rc;
	rc = run_start_daemon(r);
	if (rc < 0)
		return rc;
	if (pathf(path, sizeof(path), "%s/runs/%s-series.csv", out_abs, r->id) == 0)
		r->series = fopen(path, "w");
	if (!r->series)
		return -EIO;
	run_series_header(r);

	say("== %s: %s, %u x %u MiB guests, slice %s MiB, %s\n", s->name, r->id, r->n,
	    o->guest_mem ? o->guest_mem : s->guest_mem_mib,
	    r->mode == BM_UNPRESSURED ? "unlimited" : (snprintf(path, sizeof(path), "%u",
								slice_mib), path),
	    bench_mode_policy(r->mode) ? "autoballoond" : "no daemon");
	return 0;
}

/*
 * Start the guests whose time has come and collect the running ones' VMs
 * in live[]. False once every guest has exited.
 */
static bool run_start_due(struct run *r, uint64_t now, struct hx_vm **live, size_t cap,
			  size_t *ret_nlive)
{
	bool all_exited = true;
	size_t nlive = 0;

	for (unsigned i = 0; i < r->n; i++) {
		struct guest *g = &r->g[i];

		if (!g->started && now - r->t0_ms >= g->start_at_ms) {
			if (start_guest(r, g) < 0) {
				snprintf(g->error, sizeof(g->error), "QEMU did not start");
				g->exited = true;
			}
		}
		if (!g->started || g->exited) {
			if (!g->started)
				all_exited = false;
			continue;
		}
		all_exited = false;
		if (nlive < cap)
			live[nlive++] = g->vm;
	}
	*ret_nlive = nlive;
	return !all_exited;
}

/* Every guest's new AB lines, its spike's tracking, its QEMU's exit. */
static void run_follow_guests(struct run *r)
{
	for (unsigned i = 0; i < r->n; i++) {
		struct guest *g = &r->g[i];

		if (!g->started || !g->vm)
			continue;
		if (!g->q)
			guest_qmp_open(g);
		while (g->cursor < hx_vm_line_count(g->vm))
			guest_on_line(r, g, hx_vm_line(g->vm, g->cursor++));
		spike_track(r, g);
		if (!g->exited && hx_vm_exited(g->vm, NULL)) {
			g->exited = true;
			guest_qmp_close(g);
			g->q_dead = true;
		}
	}
}

/* Until every guest exited, the timeout or an interruption: start guests
 * on their stagger, follow them, sample every SAMPLE_MS. */
static void run_loop(struct run *r)
{
	const struct opts *o = r->o;
	unsigned timeout_s = o->timeout ? o->timeout : r->s->timeout_s;
	uint64_t next_sample = 0, next_progress = 0, t_end;

	hx_vmstat_read(NULL, &r->vs0);
	r->vs_prev = r->vs0;
	r->t0_ms = hx_now_ms();
	r->vs_prev_ms = r->t0_ms;
	t_end = r->t0_ms + (uint64_t)timeout_s * 1000;
	for (;;) {
		struct hx_vm *live[256];
		size_t nlive = 0;
		bool tracking = false;
		uint64_t now = hx_now_ms();

		if (bench_interrupted())
			break;
		if (!run_start_due(r, now, live, sizeof(live) / sizeof(live[0]), &nlive))
			break;
		if (now >= t_end) {
			r->timed_out = true;
			break;
		}
		for (unsigned i = 0; i < r->n; i++)
			tracking |= r->g[i].sp.active;
		if (nlive)
			hx_vms_wait(live, nlive, tracking ? 20 : 100);
		else
			usleep(100000);
		run_follow_guests(r);
		now = hx_now_ms();
		if (now >= next_sample) {
			run_sample(r, now);
			next_sample = now + SAMPLE_MS;
		}
		if (o->status_every_s && now >= next_progress) {
			if (next_progress)
				run_print_progress(r, now);
			next_progress = now + (uint64_t)o->status_every_s * 1000;
		}
	}
	r->wall_s = (double)(hx_now_ms() - r->t0_ms) / 1000.0;
}

/* Stop what is left, so its swap is counted and freed; the last counters;
 * the daemon's counters, CPU time and peak RSS, then the daemon. */
static void run_stop(struct run *r)
{
	for (unsigned i = 0; i < r->n; i++) {
		struct guest *g = &r->g[i];

		if (g->vm && !g->exited) {
			while (g->cursor < hx_vm_line_count(g->vm))
				guest_on_line(r, g, hx_vm_line(g->vm, g->cursor++));
			guest_qmp_close(g);
			hx_vm_kill(g->vm);
			g->exited = true;
		}
	}
	hx_vmstat_read(NULL, &r->vs1);
	run_io(r, &r->io_end);
	if (r->daemon_up) {
		struct hx_proc_stats ps;
		json_t *dump = hx_ctl(r->d.ctl, "{\"cmd\": \"dump\"}");

		if (dump) {
			r->daemon_counters = json_incref(json_object_get(
				json_object_get(dump, "dump"), "counters"));
			json_decref(dump);
		}
		if (hx_proc_stats(r->d.pid, &ps) == 0) {
			r->daemon_cpu_s = (double)ps.cpu_ms / 1000.0;
			r->daemon_hwm = ps.hwm_bytes;
		}
		if (!hx_daemon_alive(&r->d)) {
			fprintf(stderr, "autoballoon-bench: %s: autoballoond died during the run\n",
				r->id);
			hx_daemon_show_log(&r->d, 20);
		}
		hx_daemon_stop(&r->d, SIGTERM, 15000, NULL);
		r->daemon_up = false;
	}
}

static void run_free(struct run *r)
{
	if (r->daemon_up)
		hx_daemon_stop(&r->d, SIGTERM, 15000, NULL);
	if (r->series)
		fclose(r->series);
	for (unsigned i = 0; i < r->n; i++)
		guest_free(&r->g[i]);
	free(r->g);
	json_decref(r->daemon_counters);
	if (r->slice) {
		int rc = hx_slice_destroy(r->slice);

		if (rc < 0)
			fprintf(stderr, "autoballoon-bench: removing slice %s: %s\n",
				r->slice_name, strerror(-rc));
	}
	rmdir(r->qmp_dir);
}

json_t *run_one(const struct opts *o, const struct scenario *s,
		const char *out_abs, const char *image_dir, const char *accel,
		const struct storage_profile *sp, struct hx_storage *disk,
		enum bench_mode mode, unsigned rep)
{
	struct run r = { .o = o, .s = s, .mode = mode, .rep = rep,
			 .image_dir = image_dir, .accel = accel, .storage = sp,
			 .disk = disk };
	json_t *j = NULL;

	if (run_init(&r, out_abs) < 0)
		return NULL;
	if (run_setup(&r, out_abs) == 0) {
		run_loop(&r);
		run_stop(&r);
		j = run_results(&r, out_abs);
	}
	run_free(&r);
	return j;
}
