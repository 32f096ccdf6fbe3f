/* SPDX-License-Identifier: MIT */
/*
 * bench_results.c - what a run leaves in OUT: runs/ID.json (every guest's
 * figures and the run's sums), runs/ID-guests.csv, a line of runs.csv; and
 * over all runs in OUT, summary.json (median, min, max per mode). Also the
 * --check verdict on a run.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench_run.h"

static json_t *jnum(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

static json_t *ju64(uint64_t v)
{
	return json_integer((json_int_t)v);
}

/* One guest's entry in the run's "guests"; max: the guest's memory. */
static json_t *guest_json(const struct run *r, const struct guest *g, uint64_t max)
{
	json_t *gj = json_object();

	json_object_set_new(gj, "name", json_string(g->name));
	json_object_set_new(gj, "workload", json_string(g->workload));
	json_object_set_new(gj, "args", json_string(g->args));
	json_object_set_new(gj, "boot_ms", g->vm && hx_vm_boot_ms(g->vm) >= 0 ?
			    json_integer(hx_vm_boot_ms(g->vm)) : json_null());
	json_object_set_new(gj, "runtime_s", jnum(g->runtime_s));
	json_object_set_new(gj, "finished", json_boolean(!isnan(g->runtime_s)));
	json_object_set_new(gj, "done_status", g->done ? json_integer(g->done_status)
						      : json_null());
	json_object_set_new(gj, "oom_kills", ju64(g->oom_kills));
	json_object_set_new(gj, "jobs_killed", json_integer(g->jobs_failed_sig));
	json_object_set_new(gj, "final_actual_bytes",
			    g->final_known ? ju64(g->final_actual) : json_null());
	json_object_set_new(gj, "final_balloon_bytes",
			    g->final_known ? ju64(max - (g->final_actual < max ?
						      g->final_actual : max))
					   : json_null());
	if (r->daemon_used)
		json_object_set_new(gj, "seen_by_daemon", json_boolean(g->seen_by_daemon));
	json_object_set_new(gj, "min_actual_bytes",
			    g->min_actual ? ju64(g->min_actual) : json_null());
	json_object_set_new(gj, "guest_pswpin", ju64(g->g_pswpin));
	json_object_set_new(gj, "guest_pswpout", ju64(g->g_pswpout));
	json_object_set_new(gj, "guest_pgmajfault", ju64(g->g_majflt));
	if (g->have_cost) {
		json_object_set_new(gj, "host_majflt",
				    ju64(g->qemu_majflt - g->qemu_majflt0));
		json_object_set_new(gj, "disk_read_bytes", ju64(g->rd_bytes - g->rd_bytes0));
		json_object_set_new(gj, "disk_read_ops", ju64(g->rd_ops - g->rd_ops0));
		json_object_set_new(gj, "qemu_cpu_s",
				    json_real((double)(g->cpu_ms - g->cpu_ms0) / 1000.0));
	}
	if (g->error[0])
		json_object_set_new(gj, "error", json_string(g->error));
	if (g->result_kv)
		json_object_set(gj, "result", g->result_kv);
	if (g->sp.seen)
		json_object_set_new(gj, "spike", json_pack(
			"{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:I}",
			"burst_mib", (json_int_t)g->sp.mib,
			"granted", json_boolean(g->sp.granted),
			"grant_latency_ms", jnum(g->sp.grant_ms),
			"first_grant_ms", jnum(g->sp.first_ms),
			"stall_ms", jnum(g->sp.touch_ms),
			"max_chunk_ms", jnum(g->sp.max_chunk_ms),
			"reinflate_s", jnum(g->sp.reinflate_s),
			"actual_at_burst_bytes", (json_int_t)g->sp.a0,
			"need_bytes", (json_int_t)g->sp.need));
	return gj;
}

/* What the run's JSON sums or takes the worst of over its guests. */
struct run_sums {
	double tmax, tsum, grant, stall, reinf, bal_sum, first, wait, metric;
	unsigned finished, unfinished, oom, nbal;
	uint64_t host_majflt, rd_bytes, rd_ops, g_swapin, g_majflt;
};

/* *acc = the larger of *acc and v, NaN counting as nothing */
static void max_of(double *acc, double v)
{
	if (!isnan(v) && (isnan(*acc) || v > *acc))
		*acc = v;
}

static void sums_add_guest(struct run_sums *t, const struct run *r, const struct guest *g,
			   uint64_t max)
{
	if (!isnan(g->runtime_s)) {
		t->finished++;
		t->tsum += g->runtime_s;
		max_of(&t->tmax, g->runtime_s);
	} else {
		t->unfinished++;
	}
	t->oom += (unsigned)g->oom_kills;
	if (g->final_known) {
		t->bal_sum += (double)(max - (g->final_actual < max ? g->final_actual : max));
		t->nbal++;
	}
	if (g->have_cost) {
		t->host_majflt += g->qemu_majflt - g->qemu_majflt0;
		t->rd_bytes += g->rd_bytes - g->rd_bytes0;
		t->rd_ops += g->rd_ops - g->rd_ops0;
	}
	t->g_swapin += g->g_pswpin;
	t->g_majflt += g->g_majflt;
	if (r->s->metric[0]) {
		json_t *mv = g->result_kv ? json_object_get(g->result_kv, r->s->metric) : NULL;

		t->metric = json_is_number(mv) ? t->metric + json_number_value(mv) : NAN;
	}
	if (g->sp.seen) {
		max_of(&t->grant, g->sp.grant_ms);
		max_of(&t->stall, g->sp.touch_ms);
		max_of(&t->first, g->sp.first_ms);
		max_of(&t->wait, g->sp.max_chunk_ms);
		max_of(&t->reinf, g->sp.reinflate_s);
		if (!g->sp.granted)
			t->grant = INFINITY;	/* never granted: worst */
	}
}

static json_t *run_json(struct run *r)
{
	json_t *j = json_object(), *guests = json_array();
	struct run_sums t = { .tmax = NAN, .grant = NAN, .stall = NAN, .reinf = NAN,
			      .first = NAN, .wait = NAN,
			      .metric = r->s->metric[0] ? 0 : NAN };
	uint64_t max = (uint64_t)(r->o->guest_mem ? r->o->guest_mem : r->s->guest_mem_mib) << 20;

	for (unsigned i = 0; i < r->n; i++) {
		sums_add_guest(&t, r, &r->g[i], max);
		json_array_append_new(guests, guest_json(r, &r->g[i], max));
	}
	if (isinf(t.grant))
		t.grant = NAN;
	json_object_set_new(j, "scenario", json_string(r->s->name));
	json_object_set_new(j, "mode", json_string(bench_mode_name(r->mode)));
	json_object_set_new(j, "rep", json_integer(r->rep));
	json_object_set_new(j, "accel", json_string(r->accel));
	json_object_set_new(j, "wall_s", json_real(r->wall_s));
	json_object_set_new(j, "timed_out", json_boolean(r->timed_out));
	json_object_set_new(j, "host_swap_in_pages", ju64(r->vs1.pswpin - r->vs0.pswpin));
	json_object_set_new(j, "host_swap_out_pages", ju64(r->vs1.pswpout - r->vs0.pswpout));
	json_object_set_new(j, "host_oom_kills", ju64(r->vs1.oom_kill - r->vs0.oom_kill));
	/* what memory cost the guests, summed (see struct guest) */
	json_object_set_new(j, "storage", json_string(r->storage->name));
	json_object_set_new(j, "guests_host_majflt", ju64(t.host_majflt));
	json_object_set_new(j, "guests_disk_read_bytes", ju64(t.rd_bytes));
	json_object_set_new(j, "guests_disk_read_ops", ju64(t.rd_ops));
	json_object_set_new(j, "guests_swapin_pages", ju64(t.g_swapin));
	json_object_set_new(j, "guests_majflt", ju64(t.g_majflt));
	if (r->disk) {
		/* everything the slice did through the throttle: swap and images */
		json_object_set_new(j, "io_read_ops", ju64(r->io_end.read_ios));
		json_object_set_new(j, "io_write_ops", ju64(r->io_end.write_ios));
		json_object_set_new(j, "io_read_bytes", ju64(r->io_end.read_bytes));
		json_object_set_new(j, "io_write_bytes", ju64(r->io_end.write_bytes));
	}
	/* the run's TIME: until the last guest finished its workload; NaN when
	 * a guest did not finish */
	json_object_set_new(j, "workload_time_s", jnum(t.unfinished ? NAN : t.tmax));
	json_object_set_new(j, "workload_time_mean_s",
			    jnum(t.finished ? t.tsum / t.finished : NAN));
	json_object_set_new(j, "oom_kills", json_integer(t.oom));
	json_object_set_new(j, "guests_finished", json_integer(t.finished));
	json_object_set_new(j, "guests_unfinished", json_integer(t.unfinished));
	json_object_set_new(j, "final_balloon_mean_bytes",
			    jnum(t.nbal ? t.bal_sum / t.nbal : NAN));
	if (r->s->metric[0])
		json_object_set_new(j, "workload_metric", jnum(t.metric));
	json_object_set_new(j, "slice_peak_bytes", ju64(r->peak_usage));
	json_object_set_new(j, "grant_latency_ms", jnum(t.grant));
	json_object_set_new(j, "stall_ms", jnum(t.stall));
	json_object_set_new(j, "first_grant_ms", jnum(t.first));
	json_object_set_new(j, "max_wait_ms", jnum(t.wait));
	json_object_set_new(j, "reinflate_s", jnum(t.reinf));
	if (bench_mode_policy(r->mode)) {
		json_t *dj = json_pack("{s:f,s:I}", "cpu_s", r->daemon_cpu_s,
				       "max_rss_bytes", (json_int_t)r->daemon_hwm);

		if (r->daemon_counters)
			json_object_set(dj, "counters", r->daemon_counters);
		json_object_set_new(j, "daemon", dj);
	}
	json_object_set_new(j, "guests", guests);
	return j;
}

static void write_guests_csv(const char *path, json_t *run)
{
	FILE *f = fopen(path, "w");
	json_t *g;
	size_t i;

	if (!f)
		return;
	fprintf(f, "guest,workload,runtime_s,finished,oom_kills,final_actual_bytes,"
		"final_balloon_bytes,min_actual_bytes,guest_pswpin,guest_pswpout,"
		"grant_latency_ms,stall_ms,reinflate_s\n");
	json_array_foreach(json_object_get(run, "guests"), i, g) {
		json_t *sp = json_object_get(g, "spike");
		const char *keys[] = { "runtime_s", "finished", "oom_kills", "final_actual_bytes",
				       "final_balloon_bytes", "min_actual_bytes",
				       "guest_pswpin", "guest_pswpout" };

		fprintf(f, "%s,%s", json_string_value(json_object_get(g, "name")),
			json_string_value(json_object_get(g, "workload")));
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			json_t *v = json_object_get(g, keys[k]);

			if (json_is_boolean(v))
				fprintf(f, ",%d", json_is_true(v));
			else if (json_is_number(v))
				fprintf(f, ",%.3f", json_number_value(v));
			else
				fputs(",", f);
		}
		const char *sk[] = { "grant_latency_ms", "stall_ms", "reinflate_s" };
		for (size_t k = 0; k < 3; k++) {
			json_t *v = sp ? json_object_get(sp, sk[k]) : NULL;

			if (json_is_number(v))
				fprintf(f, ",%.3f", json_number_value(v));
			else
				fputs(",", f);
		}
		fputc('\n', f);
	}
	fclose(f);
}

static struct stat3 runs_stat(const struct mode_runs *mr, const char *key)
{
	double v[64];

	for (size_t i = 0; i < mr->n; i++) {
		json_t *x = json_object_get(mr->runs[i], key);

		v[i] = json_is_number(x) ? json_number_value(x) : NAN;
	}
	return stat3_of(v, mr->n);
}

static void machine_json(json_t *root, const char *accel)
{
	struct utsname u;
	char model[256] = "", line[512];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned long long memkb = 0;
	FILE *f = fopen("/proc/cpuinfo", "r");
	time_t now = time(NULL);
	char date[64];

	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
			snprintf(model, sizeof(model), "%s", strchr(line, ':') + 2);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
	f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &memkb) == 1)
			break;
	if (f)
		fclose(f);
	uname(&u);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S %Z", localtime(&now));
	json_object_set_new(root, "machine", json_pack(
		"{s:s,s:I,s:I,s:s,s:s,s:s}", "cpu", model, "cpus", (json_int_t)cpus,
		"mem_mib", (json_int_t)(memkb / 1024), "kernel", u.release,
		"accel", accel, "hostname", u.nodename));
	json_object_set_new(root, "date", json_string(date));
	/* `make bench` names the source revision it built from */
	json_object_set_new(root, "source", json_string(getenv("AB_SOURCE_REV") &&
							*getenv("AB_SOURCE_REV") ?
							getenv("AB_SOURCE_REV") : "unknown"));
}

json_t *summary_json(const struct opts *o, const struct scenario *s,
			    const char *accel, struct mode_runs *per_mode)
{
	json_t *root = json_object(), *modes = json_object();
	static const char *const keys[] = {
		"host_swap_in_pages", "host_swap_out_pages", "workload_time_s",
		"workload_time_mean_s", "oom_kills", "guests_unfinished",
		"final_balloon_mean_bytes", "slice_peak_bytes", "grant_latency_ms",
		"stall_ms", "reinflate_s", "workload_metric", "first_grant_ms",
		"max_wait_ms", "guests_host_majflt", "guests_disk_read_bytes",
		"guests_disk_read_ops", "guests_swapin_pages", "guests_majflt", "io_read_ops",
		"io_write_ops", "io_read_bytes", "io_write_bytes",
	};

	json_object_set_new(root, "scenario", json_string(s->name));
	json_object_set_new(root, "description", json_string(s->description));
	json_object_set_new(root, "config", json_pack(
		"{s:I,s:I,s:I,s:I,s:s,s:s,s:I,s:I}",
		"guests", (json_int_t)(o->guests ? o->guests : s->guests),
		"guest_mem_mib", (json_int_t)(o->guest_mem ? o->guest_mem : s->guest_mem_mib),
		"slice_mem_mib", (json_int_t)(o->slice_mem ? o->slice_mem : s->slice_mem_mib),
		"swap_mib", (json_int_t)(o->swap_set ? o->swap : s->swap_mib),
		"workload", o->workload_path ? o->workload_path : s->workload,
		"args", s->args,
		"timeout_s", (json_int_t)(o->timeout ? o->timeout : s->timeout_s),
		"stagger_s", (json_int_t)s->stagger_s));
	json_object_set_new(json_object_get(root, "config"), "metric", json_string(s->metric));
	json_object_set_new(json_object_get(root, "config"), "storage", json_string(s->storage));
	json_object_set_new(root, "command", json_string(o->command));
	machine_json(root, accel);
	for (int k = 0; k < BM_COUNT; k++) {
		enum bench_mode m = (enum bench_mode)k;
		struct mode_runs *mr = &per_mode[m];
		json_t *mj;

		if (!mr->n)
			continue;
		mj = json_object();
		json_object_set_new(mj, "runs", json_integer((json_int_t)mr->n));
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			struct stat3 st = runs_stat(mr, keys[i]);

			if (strstr(keys[i], "grant") || strstr(keys[i], "stall") ||
			    strstr(keys[i], "reinflate") || strstr(keys[i], "metric") ||
			    !strncmp(keys[i], "io_", 3)) {
				if (!st.valid)
					continue;
			}
			json_object_set_new(mj, keys[i], stat3_json(&st));
		}
		json_object_set_new(modes, bench_mode_name(m), mj);
	}
	json_object_set_new(root, "modes", modes);
	return root;
}

static bool is_run_json(const char *name)
{
	size_t n = strlen(name);

	return n > 5 && !strcmp(name + n - 5, ".json");
}

static bool is_run_file(const char *name)
{
	size_t n = strlen(name);

	return is_run_json(name) || (n > 11 && !strcmp(name + n - 11, "-series.csv")) ||
	       (n > 11 && !strcmp(name + n - 11, "-guests.csv"));
}

void load_runs(const char *out_abs, struct mode_runs *per_mode)
{
	char dir[PATH_MAX + 16], p[PATH_MAX + 300];
	struct dirent *e;
	DIR *d;

	memset(per_mode, 0, sizeof(*per_mode) * BM_COUNT);
	if (pathf(dir, sizeof(dir), "%s/runs", out_abs))
		return;
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		json_t *run;
		enum bench_mode m;
		const char *mode;

		if (!is_run_json(e->d_name) || pathf(p, sizeof(p), "%s/%s", dir, e->d_name))
			continue;
		run = json_load_file(p, JSON_DECODE_INT_AS_REAL, NULL);
		mode = run ? json_string_value(json_object_get(run, "mode")) : NULL;
		if (!mode || bench_mode_parse(mode, &m) < 0 || per_mode[m].n >= 64) {
			json_decref(run);
			continue;
		}
		per_mode[m].runs[per_mode[m].n++] = run;
	}
	if (d)
		closedir(d);
}

void clear_results(const char *out_abs)
{
	char dir[PATH_MAX + 16], p[PATH_MAX + 300];
	struct dirent *e;
	DIR *d;

	if (pathf(dir, sizeof(dir), "%s/runs", out_abs))
		return;
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		if (is_run_file(e->d_name) && pathf(p, sizeof(p), "%s/%s", dir, e->d_name) == 0)
			unlink(p);
	}
	if (d)
		closedir(d);
	if (pathf(p, sizeof(p), "%s/runs.csv", out_abs) == 0)
		unlink(p);
	if (pathf(p, sizeof(p), "%s/summary.json", out_abs) == 0)
		unlink(p);
}

void append_runs_csv(const char *out_abs, json_t *run)
{
	char path[PATH_MAX + 32];
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "%s/runs.csv", out_abs);
	bool fresh = stat(path, &st) < 0;

	f = fopen(path, "a");
	if (!f)
		return;
	if (fresh)
		fprintf(f, "scenario,mode,rep,workload_time_s,host_swap_in_pages,"
			"host_swap_out_pages,oom_kills,guests_unfinished,"
			"final_balloon_mean_bytes,grant_latency_ms,wall_s\n");
	fprintf(f, "%s,%s,%lld", json_string_value(json_object_get(run, "scenario")),
		json_string_value(json_object_get(run, "mode")),
		(long long)json_integer_value(json_object_get(run, "rep")));
	const char *keys[] = { "workload_time_s", "host_swap_in_pages", "host_swap_out_pages",
			       "oom_kills", "guests_unfinished", "final_balloon_mean_bytes",
			       "grant_latency_ms", "wall_s" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = json_object_get(run, keys[i]);

		if (json_is_integer(v))
			fprintf(f, ",%lld", (long long)json_integer_value(v));
		else if (json_is_number(v))
			fprintf(f, ",%.3f", json_number_value(v));
		else
			fputs(",", f);
	}
	fputc('\n', f);
	fclose(f);
}

int check_run(json_t *run)
{
	json_t *g;
	size_t i;
	int bad = 0;

	json_array_foreach(json_object_get(run, "guests"), i, g) {
		const char *name = json_string_value(json_object_get(g, "name"));
		json_t *seen = json_object_get(g, "seen_by_daemon");

		if (!json_is_true(json_object_get(g, "finished"))) {
			fprintf(stderr, "check: %s: guest %s did not finish its workload%s%s\n",
				json_string_value(json_object_get(run, "mode")), name,
				json_object_get(g, "error") ? ": " : "",
				json_object_get(g, "error") ?
					json_string_value(json_object_get(g, "error")) : "");
			bad = -1;
		}
		if (seen && !json_is_true(seen)) {
			fprintf(stderr, "check: %s: the daemon never listed guest %s\n",
				json_string_value(json_object_get(run, "mode")), name);
			bad = -1;
		}
	}
	return bad;
}

json_t *run_results(struct run *r, const char *out_abs)
{
	char path[PATH_MAX + 64];
	json_t *j = run_json(r);

	if (pathf(path, sizeof(path), "%s/runs/%s.json", out_abs, r->id) == 0)
		json_dump_file(j, path, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
	if (pathf(path, sizeof(path), "%s/runs/%s-guests.csv", out_abs, r->id) == 0)
		write_guests_csv(path, j);
	return j;
}
