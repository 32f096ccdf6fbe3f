/* SPDX-License-Identifier: MIT */
/*
 * autoballoon-bench - run fleets of test guests in a memory-limited host
 * slice, one scenario in one or more modes, and measure host swap, guest run
 * time, OOM kills, balloon sizes and (spike) how fast memory is granted.
 *
 *   autoballoon-bench --scenario seed-small --mode none,fpr,auto --reps 3 \
 *                     --out build/bench/seed-small
 *   autoballoon-bench --demo --scenario demo --mode fpr,auto --out build/demo
 *   autoballoon-bench --report build/bench/seed-small ... --md docs/benchmarks.md
 *
 * See bench/README.md for modes, scenario files and the output files.
 * Exit status: 0 done, 1 a run failed to run (or --check found a problem),
 * 2 usage, 77 cannot run here (not root, no memory cgroup: --check only),
 * 130 interrupted.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "harness.h"
#include "hostmem.h"
#include "hx_daemon.h"
#include "qmp.h"
#include "util.h"

#define MIB_D (1024.0 * 1024.0)
#define BALLOON_QOM "/machine/peripheral/balloon0"
#define SAMPLE_MS 1000
#define GRANT_TOLERANCE ((uint64_t)8 << 20)
#define REINFLATE_TOLERANCE ((uint64_t)16 << 20)

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

/* ------------------------------------------------------------ options */

struct opts {
	const char *scenario;
	const char *scenario_dir;
	bool modes[BM_COUNT];
	enum bench_mode order[BM_COUNT];
	size_t nmodes;
	unsigned reps;
	unsigned guests, guest_mem, slice_mem, swap;	/* 0 = scenario's */
	bool swap_set;
	unsigned timeout;
	const char *out;
	const char *image_dir;
	const char *daemon_bin;
	const char *ctl_bin;
	bool demo;
	unsigned status_every_s;
	bool daemon_verbose;
	bool verbose;
	bool check;		/* smoke test: validate results, exit 77 to skip */
	bool keep;		/* keep earlier runs in OUT (summaries cover all) */
	const char *storage;	/* --storage: a profile name (NULL: scenario's) */
	const char *workload_path;	/* --workload PATH ARGS... */
	char **workload_argv;		/* the ARGS */
	int workload_argc;
	char command[2048];	/* the command line, for the record */
};

/* ------------------------------------------------------------- guests */

struct spike {
	bool active;		/* burst seen, not yet granted/over */
	bool seen;
	uint64_t t_ns;		/* burst-start line */
	uint64_t mib;
	uint64_t a0;		/* actual at burst start */
	uint64_t need;		/* actual the burst needs */
	uint64_t peak;		/* largest actual seen since the burst */
	bool granted;
	double grant_ms;	/* until actual covers the whole need */
	double first_ms;	/* until the first GRANT_TOLERANCE is given */
	double touch_ms, max_chunk_ms;
	bool freed;
	uint64_t freed_ns;
	bool reinflated;
	double reinflate_s;
};

struct guest {
	unsigned idx;
	char name[16];
	char workload[64];
	char args[512];
	char daemon_qmp[PATH_MAX];
	char qmp_arg[PATH_MAX + 64];
	const char *extra[3];
	struct hx_vm *vm;
	bool started;
	uint64_t start_at_ms;
	struct qmp_sync *q;
	bool q_dead;
	size_t cursor;

	bool ready, result, done, exited;
	uint64_t ready_ns, done_ns;
	int done_status;
	double runtime_s;
	uint64_t oom_kills;
	uint64_t g_pswpin, g_pswpout, g_majflt;
	json_t *result_kv;
	char phase[64];
	char error[160];
	unsigned jobs_failed_sig;

	bool have_actual;
	uint64_t actual, min_actual, final_actual;
	bool final_known;
	bool have_stats;
	uint64_t avail, cache;
	bool have_ctr;
	uint64_t ctr_swapin, ctr_swapout, ctr_majflt, ctr_ms;
	double swapin_ps, swapout_ps, majflt_ps;
	bool have_target;
	uint64_t target;
	double daemon_refault_pps;	/* the daemon's view, NaN: none */
	struct guest_ram_tracker ram;	/* host memory behind the guest's RAM */
	char state[24];
	bool seen_by_daemon;	/* appeared in the daemon's dump */

	/*
	 * What memory costs this guest, seen from the host: its QEMU's major
	 * faults (host swap-ins of guest RAM) and its data disk reads (QMP
	 * query-blockstats). *0: at the first sample; rates over the last one.
	 */
	bool have_cost;
	uint64_t cost_ms, qemu_majflt, rd_bytes, rd_ops, cpu_ms;
	uint64_t qemu_majflt0, rd_bytes0, rd_ops0, cpu_ms0;
	double host_majflt_ps, rd_mibps, rd_ops_ps;

	struct spike sp;
};

struct run {
	const struct opts *o;
	const struct scenario *s;
	enum bench_mode mode;
	unsigned rep;
	char id[64];
	char dir[PATH_MAX];
	char qmp_dir[PATH_MAX];
	const char *image_dir;
	const char *accel;
	struct hx_slice *slice;
	const struct storage_profile *storage;
	struct hx_storage *disk;	/* NULL for ram */
	/*
	 * The slice's I/O through `disk` as counted at the run's start plus
	 * what writing the guests' disk images added (not the workload's):
	 * run_io() subtracts it.
	 */
	struct hx_io_stats io_base;
	struct hx_io_stats io_prev;	/* run_io() at the last sample */
	uint64_t io_prev_ms;
	struct hx_io_stats io_end;
	struct hx_daemon d;
	bool daemon_up;
	bool daemon_used;
	struct guest *g;
	unsigned n;
	uint64_t t0_ms;
	FILE *series;
	struct hx_vmstat vs0, vs1;
	struct hx_vmstat vs_prev;
	uint64_t vs_prev_ms;
	uint64_t peak_usage;
	double daemon_cpu_s;
	uint64_t daemon_hwm;
	json_t *daemon_counters;
	bool timed_out;
	double wall_s;
};

static double ns_to_ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static json_t *jnum(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

static json_t *ju64(uint64_t v)
{
	return json_integer((json_int_t)v);
}

__attribute__((format(printf, 1, 2)))
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fflush(stdout);
}

/* snprintf for paths and other bounded strings: -ENAMETOOLONG when cut */
__attribute__((format(printf, 3, 4)))
static int pathf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* ---------------------------------------------------------------- QMP */

static void guest_qmp_open(struct run *r, struct guest *g)
{
	struct stat st;

	if (g->q || g->q_dead || !g->vm || g->exited)
		return;
	if (stat(hx_vm_qmp_path(g->vm), &st) < 0 || !S_ISSOCK(st.st_mode))
		return;
	if (qmp_sync_open(hx_vm_qmp_path(g->vm), 2000, &g->q) < 0)
		g->q = NULL;
}

static void guest_qmp_close(struct guest *g)
{
	if (g->q)
		qmp_sync_close(g->q);
	g->q = NULL;
}

static int guest_query_actual(struct guest *g, uint64_t *ret)
{
	int r;

	if (!g->q)
		return -ENOTCONN;
	r = qmp_sync_query_balloon(g->q, ret);
	if (r == -EREMOTEIO)
		return r;	/* balloon not active yet */
	if (r < 0) {
		guest_qmp_close(g);
		if (g->exited)
			g->q_dead = true;
		return r;
	}
	g->have_actual = true;
	g->actual = *ret;
	if (!g->min_actual || *ret < g->min_actual)
		g->min_actual = *ret;
	return 0;
}

static uint64_t stat_u64(json_t *stats, const char *key, bool *ok)
{
	uint64_t v = 0;

	if (qmp_json_u64(json_object_get(stats, key), &v) < 0)
		*ok = false;
	return v;
}

static void guest_sample_stats(struct guest *g, uint64_t now_ms)
{
	json_t *args, *ret = NULL, *stats;
	bool ok = true, ok_ctr = true;
	uint64_t avail, cache, si, so, mf;

	if (!g->q)
		return;
	args = json_pack("{s:s,s:s}", "path", BALLOON_QOM, "property", "guest-stats");
	if (qmp_sync_execute(g->q, "qom-get", args, 2000, &ret, NULL) < 0) {
		json_decref(args);
		return;
	}
	json_decref(args);
	stats = json_object_get(ret, "stats");
	avail = stat_u64(stats, "stat-available-memory", &ok);
	cache = stat_u64(stats, "stat-disk-caches", &ok);
	g->have_stats = ok;
	if (ok) {
		g->avail = avail;
		g->cache = cache;
	}
	si = stat_u64(stats, "stat-swap-in", &ok_ctr);
	so = stat_u64(stats, "stat-swap-out", &ok_ctr);
	mf = stat_u64(stats, "stat-major-faults", &ok_ctr);
	if (ok_ctr) {
		if (g->have_ctr && now_ms > g->ctr_ms) {
			double dt = (double)(now_ms - g->ctr_ms) / 1000.0;

			/* swap counters are bytes in the virtio stats: report pages/s */
			g->swapin_ps = si >= g->ctr_swapin ? (double)(si - g->ctr_swapin) / 4096.0 / dt : 0;
			g->swapout_ps = so >= g->ctr_swapout ? (double)(so - g->ctr_swapout) / 4096.0 / dt : 0;
			g->majflt_ps = mf >= g->ctr_majflt ? (double)(mf - g->ctr_majflt) / dt : 0;
		}
		g->have_ctr = true;
		g->ctr_swapin = si;
		g->ctr_swapout = so;
		g->ctr_majflt = mf;
		g->ctr_ms = now_ms;
	}
	json_decref(ret);
}

/* Rate of a counter that only grows (a reset reads as 0). */
static double ctr_rate(uint64_t now, uint64_t before, double dt_s)
{
	return now >= before && dt_s > 0 ? (double)(now - before) / dt_s : 0;
}

/* The data disk's reads as QEMU counts them (query-blockstats). */
static int guest_query_reads(struct guest *g, uint64_t *ret_bytes, uint64_t *ret_ops)
{
	json_t *ret = NULL, *dev;
	size_t i;
	int rc = -ENOENT;

	if (!g->q || qmp_sync_execute(g->q, "query-blockstats", NULL, 2000, &ret, NULL) < 0)
		return -ENOTCONN;
	json_array_foreach(ret, i, dev) {
		json_t *st = json_object_get(dev, "stats");
		const char *name = json_string_value(json_object_get(dev, "device"));

		if (!name || strcmp(name, "abdata"))
			continue;
		if (qmp_json_u64(json_object_get(st, "rd_bytes"), ret_bytes) == 0 &&
		    qmp_json_u64(json_object_get(st, "rd_operations"), ret_ops) == 0)
			rc = 0;
	}
	json_decref(ret);
	return rc;
}

/* The slice's I/O through the throttled disk since the run started, less
 * the disk images' writing. */
static int run_io(const struct run *r, struct hx_io_stats *ret)
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

/* Add what happened on the disk between *before and now to io_base. */
static void run_io_exclude(struct run *r, const struct hx_io_stats *before)
{
	struct hx_io_stats now;

	if (run_io(r, &now) < 0)
		return;
	r->io_base.read_ios += now.read_ios - before->read_ios;
	r->io_base.write_ios += now.write_ios - before->write_ios;
	r->io_base.read_bytes += now.read_bytes - before->read_bytes;
	r->io_base.write_bytes += now.write_bytes - before->write_bytes;
}

static void guest_sample_cost(const struct run *r, struct guest *g, uint64_t now_ms)
{
	struct hx_proc_stats ps;
	uint64_t rb = 0, ro = 0;

	if (hx_vm_stats(g->vm, &ps) < 0)
		return;
	if (r->s->data_disk_mib && guest_query_reads(g, &rb, &ro) < 0)
		return;
	if (!g->have_cost) {
		g->qemu_majflt0 = ps.majflt;
		g->rd_bytes0 = rb;
		g->rd_ops0 = ro;
		g->cpu_ms0 = ps.cpu_ms;
	} else if (now_ms > g->cost_ms) {
		double dt = (double)(now_ms - g->cost_ms) / 1000.0;

		g->host_majflt_ps = ctr_rate(ps.majflt, g->qemu_majflt, dt);
		g->rd_mibps = ctr_rate(rb, g->rd_bytes, dt) / MIB_D;
		g->rd_ops_ps = ctr_rate(ro, g->rd_ops, dt);
	}
	g->have_cost = true;
	g->cost_ms = now_ms;
	g->qemu_majflt = ps.majflt;
	g->rd_bytes = rb;
	g->rd_ops = ro;
	g->cpu_ms = ps.cpu_ms;
}

/* ------------------------------------------------------- guest events */

static void spike_burst_start(struct run *r, struct guest *g, const struct hx_line *l)
{
	uint64_t mib = 0, a = 0, max = (uint64_t)r->s->guest_mem_mib << 20;

	if (r->o->guest_mem)
		max = (uint64_t)r->o->guest_mem << 20;
	hx_line_get_u64(l, "mib", &mib);
	memset(&g->sp, 0, sizeof(g->sp));
	g->sp.seen = true;
	g->sp.active = true;
	g->sp.t_ns = l->mono_ns;
	g->sp.mib = mib;
	g->sp.grant_ms = NAN;
	g->sp.first_ms = NAN;
	g->sp.touch_ms = NAN;
	g->sp.max_chunk_ms = NAN;
	g->sp.reinflate_s = NAN;
	if (guest_query_actual(g, &a) < 0)
		a = g->have_actual ? g->actual : max;
	g->sp.a0 = a;
	g->sp.peak = a;
	/* used without cache + the burst; capped at the guest's max */
	if (g->have_stats && g->avail <= a)
		g->sp.need = a - g->avail + (mib << 20);
	else
		g->sp.need = a + (mib << 20);
	if (g->sp.need > max)
		g->sp.need = max;
	if (a + GRANT_TOLERANCE >= g->sp.need) {
		g->sp.granted = true;
		g->sp.grant_ms = 0;
		g->sp.first_ms = 0;
		g->sp.active = false;
	}
}

static void guest_on_line(struct run *r, struct guest *g, const struct hx_line *l)
{
	uint64_t v;

	if (hx_line_matches(l, "AB ready")) {
		g->ready = true;
		g->ready_ns = l->mono_ns;
	} else if (hx_line_matches(l, "AB result")) {
		uint64_t a;

		g->result = true;
		if (hx_line_get_u64(l, "runtime_ms", &v) == 0)
			g->runtime_s = (double)v / 1000.0;
		if (hx_line_get_u64(l, "oom_kill", &v) == 0 && v > g->oom_kills)
			g->oom_kills = v;
		if (hx_line_get_u64(l, "pswpin", &v) == 0)
			g->g_pswpin = v;
		if (hx_line_get_u64(l, "pswpout", &v) == 0)
			g->g_pswpout = v;
		if (hx_line_get_u64(l, "pgmajfault", &v) == 0)
			g->g_majflt = v;
		json_decref(g->result_kv);
		g->result_kv = json_object();
		for (size_t i = 0; i < l->nkv; i++) {
			char *end;
			double d = strtod(l->vals[i], &end);

			json_object_set_new(g->result_kv, l->keys[i],
					    *end || end == l->vals[i] ? json_string(l->vals[i])
								      : json_real(d));
		}
		if (guest_query_actual(g, &a) == 0) {
			g->final_actual = a;
			g->final_known = true;
		}
		snprintf(g->phase, sizeof(g->phase), "finished");
	} else if (hx_line_matches(l, "AB vmstat")) {
		if (hx_line_get_u64(l, "oom_kill", &v) == 0 && v > g->oom_kills)
			g->oom_kills = v;
	} else if (hx_line_matches(l, "AB done")) {
		g->done = true;
		g->done_ns = l->mono_ns;
		g->done_status = hx_line_get_u64(l, "status", &v) == 0 ? (int)v : -1;
		if (!g->result && g->done_status == 0 && g->ready)
			g->runtime_s = ns_to_ms(g->done_ns - g->ready_ns) / 1000.0;
		if (!g->final_known && g->have_actual) {
			g->final_actual = g->actual;
			g->final_known = true;
		}
	} else if (hx_line_matches(l, "AB error")) {
		snprintf(g->error, sizeof(g->error), "%s", l->text + 3);
	} else if (hx_line_matches(l, "AB job-failed")) {
		const char *st = hx_line_get(l, "status");

		if (st && !strncmp(st, "sig", 3))
			g->jobs_failed_sig++;
	} else if (hx_line_matches(l, "AB phase")) {
		const char *name = hx_line_get(l, "name");
		const char *round = hx_line_get(l, "round");

		if (!name)
			return;
		snprintf(g->phase, sizeof(g->phase), "%s%s%s", name, round ? " " : "",
			 round ? round : "");
		if (!strcmp(name, "burst-start")) {
			spike_burst_start(r, g, l);
		} else if (!strcmp(name, "burst-touched") && g->sp.seen) {
			if (hx_line_get_u64(l, "touch_ms", &v) == 0)
				g->sp.touch_ms = (double)v;
			if (hx_line_get_u64(l, "max_chunk_ms", &v) == 0)
				g->sp.max_chunk_ms = (double)v;
		} else if (!strcmp(name, "burst-freed") && g->sp.seen) {
			g->sp.active = false;
			g->sp.freed = true;
			g->sp.freed_ns = l->mono_ns;
		}
	}
}

/* Fast balloon polling while a burst waits for memory or the balloon is
 * expected to come back. Returns true while something is being tracked. */
static bool spike_track(struct run *r, struct guest *g)
{
	uint64_t a;
	uint64_t now = hx_now_ns();

	if (!g->sp.seen || g->exited)
		return false;
	if (g->sp.active && !g->sp.granted) {
		if (guest_query_actual(g, &a) < 0)
			return true;
		g->sp.peak = MAX(g->sp.peak, a);
		if (isnan(g->sp.first_ms) && a >= g->sp.a0 + GRANT_TOLERANCE)
			g->sp.first_ms = ns_to_ms(now - g->sp.t_ns);
		if (a + GRANT_TOLERANCE >= g->sp.need) {
			g->sp.granted = true;
			g->sp.grant_ms = ns_to_ms(now - g->sp.t_ns);
			if (isnan(g->sp.first_ms))
				g->sp.first_ms = g->sp.grant_ms;
			g->sp.active = false;
		}
		return true;
	}
	if (g->sp.freed && !g->sp.reinflated) {
		uint64_t max = (uint64_t)r->s->guest_mem_mib << 20;

		if (r->o->guest_mem)
			max = (uint64_t)r->o->guest_mem << 20;
		if (g->sp.a0 + REINFLATE_TOLERANCE >= max)
			return false;	/* never inflated before: nothing to come back */
		if (guest_query_actual(g, &a) < 0)
			return false;
		/* taken back all but a tenth of what the burst got (16 MiB at least) */
		g->sp.peak = MAX(g->sp.peak, a);
		if (a <= g->sp.a0 + MAX(REINFLATE_TOLERANCE, sat_sub(g->sp.peak, g->sp.a0) / 10)) {
			g->sp.reinflated = true;
			g->sp.reinflate_s = ns_to_ms(now - g->sp.freed_ns) / 1000.0;
		}
		return false;	/* seconds resolution is enough */
	}
	return false;
}

/* ------------------------------------------------------------- sampling */

static void series_header(struct run *r)
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

/*
 * What the host backs of the guest's RAM, in every mode, read the same way
 * as the daemon does (smaps every 10 s, status in between).
 */
static void guest_sample_ram(const struct run *r, struct guest *g, uint64_t now_ms)
{
	uint64_t mem = (uint64_t)(r->o->guest_mem ? r->o->guest_mem : r->s->guest_mem_mib) << 20;

	guest_ram_track(&g->ram, "/proc", (int)hx_vm_pid(g->vm), mem, now_ms);
}

static void sample(struct run *r, uint64_t now_ms)
{
	struct hx_slice_stats ss = { 0 };
	struct hx_vmstat vs = { 0 };
	struct hx_psi psi = { 0 };
	bool have_ss = hx_slice_stats(r->slice, &ss) == 0;
	bool have_psi = false;
	json_t *dump = NULL;
	double in_ps = NAN, out_ps = NAN, rio_ps = NAN, wio_ps = NAN;
	struct hx_io_stats io = { 0 };
	bool have_io = false;

	if (have_ss && ss.has_psi) {
		have_psi = true;
		psi.some_avg10 = ss.psi_some_avg10;
		psi.full_avg10 = ss.psi_full_avg10;
	} else if (hx_psi_read("/proc/pressure/memory", &psi) == 0) {
		have_psi = true;
	}
	if (have_ss && ss.usage_bytes > r->peak_usage)
		r->peak_usage = ss.usage_bytes;
	hx_vmstat_read(NULL, &vs);
	if (r->vs_prev_ms && now_ms > r->vs_prev_ms) {
		double dt = (double)(now_ms - r->vs_prev_ms) / 1000.0;

		in_ps = (double)(vs.pswpin - r->vs_prev.pswpin) / dt;
		out_ps = (double)(vs.pswpout - r->vs_prev.pswpout) / dt;
	}
	r->vs_prev = vs;
	r->vs_prev_ms = now_ms;
	if (r->disk) {
		have_io = run_io(r, &io) == 0;
		if (have_io && r->io_prev_ms && now_ms > r->io_prev_ms) {
			double dt = (double)(now_ms - r->io_prev_ms) / 1000.0;

			rio_ps = ctr_rate(io.read_ios, r->io_prev.read_ios, dt);
			wio_ps = ctr_rate(io.write_ios, r->io_prev.write_ios, dt);
		}
		if (have_io) {
			r->io_prev = io;
			r->io_prev_ms = now_ms;
		}
	}
	if (r->daemon_up)
		dump = hx_ctl(r->d.ctl, "{\"cmd\": \"dump\"}");

	for (unsigned i = 0; i < r->n; i++) {
		struct guest *g = &r->g[i];
		uint64_t a;
		json_t *vm;

		if (!g->started || g->exited)
			continue;
		guest_qmp_open(r, g);
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

	fprintf(r->series, "%.1f", (double)(now_ms - r->t0_ms) / 1000.0);
	csv_u64(r->series, have_ss, ss.usage_bytes);
	csv_u64(r->series, have_ss && ss.limit_bytes != HX_UNLIMITED, ss.limit_bytes);
	csv_u64(r->series, have_ss, ss.swap_bytes);
	csv_d(r->series, have_psi, psi.some_avg10);
	csv_d(r->series, have_psi, psi.full_avg10);
	csv_u64(r->series, true, vs.pswpin - r->vs0.pswpin);
	csv_u64(r->series, true, vs.pswpout - r->vs0.pswpout);
	csv_d(r->series, true, in_ps);
	csv_d(r->series, true, out_ps);
	csv_u64(r->series, have_io, io.read_ios);
	csv_u64(r->series, have_io, io.write_ios);
	csv_u64(r->series, have_io, io.read_bytes);
	csv_u64(r->series, have_io, io.write_bytes);
	csv_d(r->series, have_io, rio_ps);
	csv_d(r->series, have_io, wio_ps);
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

/* --------------------------------------------------------- demo output */

static void run_ctl_status(const struct run *r)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execl(r->o->ctl_bin, r->o->ctl_bin, "-s", r->d.ctl, "status", (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, &st, 0);
}

static void print_progress(const struct run *r, uint64_t now_ms)
{
	struct hx_slice_stats ss = { 0 };
	struct hx_vmstat vs = { 0 };

	hx_slice_stats(r->slice, &ss);
	hx_vmstat_read(NULL, &vs);
	say("[%s %3.0fs] slice %4.0f MiB", r->id, (double)(now_ms - r->t0_ms) / 1000.0,
	    ss.usage_bytes / MIB_D);
	if (ss.limit_bytes != HX_UNLIMITED)
		say(" of %.0f", ss.limit_bytes / MIB_D);
	say(", host swap in %llu out %llu pages |",
	    (unsigned long long)(vs.pswpin - r->vs0.pswpin),
	    (unsigned long long)(vs.pswpout - r->vs0.pswpout));
	for (unsigned i = 0; i < r->n; i++) {
		const struct guest *g = &r->g[i];

		if (!g->started)
			say(" %s waiting", g->name);
		else if (g->done || g->exited)
			say(" %s done", g->name);
		else if (!g->ready)
			say(" %s booting", g->name);
		else
			say(" %s %s %.0fM", g->name, g->phase[0] ? g->phase : "run",
			    g->have_actual ? g->actual / MIB_D : NAN);
	}
	say("\n");
	if (r->o->demo && r->daemon_up)
		run_ctl_status(r);
}

/* ----------------------------------------------------------- one run */

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

static json_t *run_json(struct run *r)
{
	json_t *j = json_object(), *guests = json_array();
	double tmax = NAN, tsum = 0, grant = NAN, stall = NAN, reinf = NAN, bal_sum = 0;
	double first = NAN, wait = NAN;
	double metric = r->s->metric[0] ? 0 : NAN;
	unsigned finished = 0, unfinished = 0, oom = 0, nbal = 0;
	uint64_t host_majflt = 0, rd_bytes = 0, rd_ops = 0, g_swapin = 0, g_majflt = 0;
	uint64_t max = (uint64_t)(r->o->guest_mem ? r->o->guest_mem : r->s->guest_mem_mib) << 20;

	for (unsigned i = 0; i < r->n; i++) {
		struct guest *g = &r->g[i];
		json_t *gj = json_object();
		bool fin = !isnan(g->runtime_s);

		if (fin) {
			finished++;
			tsum += g->runtime_s;
			if (isnan(tmax) || g->runtime_s > tmax)
				tmax = g->runtime_s;
		} else {
			unfinished++;
		}
		oom += (unsigned)g->oom_kills;
		json_object_set_new(gj, "name", json_string(g->name));
		json_object_set_new(gj, "workload", json_string(g->workload));
		json_object_set_new(gj, "args", json_string(g->args));
		json_object_set_new(gj, "boot_ms", g->vm && hx_vm_boot_ms(g->vm) >= 0 ?
				    json_integer(hx_vm_boot_ms(g->vm)) : json_null());
		json_object_set_new(gj, "runtime_s", jnum(g->runtime_s));
		json_object_set_new(gj, "finished", json_boolean(fin));
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
		if (g->final_known) {
			bal_sum += (double)(max - (g->final_actual < max ? g->final_actual : max));
			nbal++;
		}
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
			host_majflt += g->qemu_majflt - g->qemu_majflt0;
			rd_bytes += g->rd_bytes - g->rd_bytes0;
			rd_ops += g->rd_ops - g->rd_ops0;
		}
		g_swapin += g->g_pswpin;
		g_majflt += g->g_majflt;
		if (g->error[0])
			json_object_set_new(gj, "error", json_string(g->error));
		if (g->result_kv)
			json_object_set(gj, "result", g->result_kv);
		if (r->s->metric[0]) {
			json_t *mv = g->result_kv ? json_object_get(g->result_kv, r->s->metric) : NULL;

			metric = json_is_number(mv) ? metric + json_number_value(mv) : NAN;
		}
		if (g->sp.seen) {
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
			if (!isnan(g->sp.grant_ms) && (isnan(grant) || g->sp.grant_ms > grant))
				grant = g->sp.grant_ms;
			if (!isnan(g->sp.touch_ms) && (isnan(stall) || g->sp.touch_ms > stall))
				stall = g->sp.touch_ms;
			if (!isnan(g->sp.first_ms) && (isnan(first) || g->sp.first_ms > first))
				first = g->sp.first_ms;
			if (!isnan(g->sp.max_chunk_ms) &&
			    (isnan(wait) || g->sp.max_chunk_ms > wait))
				wait = g->sp.max_chunk_ms;
			if (!isnan(g->sp.reinflate_s) && (isnan(reinf) || g->sp.reinflate_s > reinf))
				reinf = g->sp.reinflate_s;
			if (!g->sp.granted)
				grant = INFINITY;	/* never granted: worst */
		}
		json_array_append_new(guests, gj);
	}
	if (isinf(grant))
		grant = NAN;
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
	json_object_set_new(j, "guests_host_majflt", ju64(host_majflt));
	json_object_set_new(j, "guests_disk_read_bytes", ju64(rd_bytes));
	json_object_set_new(j, "guests_disk_read_ops", ju64(rd_ops));
	json_object_set_new(j, "guests_swapin_pages", ju64(g_swapin));
	json_object_set_new(j, "guests_majflt", ju64(g_majflt));
	if (r->disk) {
		/* everything the slice did through the throttle: swap and images */
		json_object_set_new(j, "io_read_ops", ju64(r->io_end.read_ios));
		json_object_set_new(j, "io_write_ops", ju64(r->io_end.write_ios));
		json_object_set_new(j, "io_read_bytes", ju64(r->io_end.read_bytes));
		json_object_set_new(j, "io_write_bytes", ju64(r->io_end.write_bytes));
	}
	/* the run's TIME: until the last guest finished its workload; NaN when
	 * a guest did not finish */
	json_object_set_new(j, "workload_time_s", jnum(unfinished ? NAN : tmax));
	json_object_set_new(j, "workload_time_mean_s", jnum(finished ? tsum / finished : NAN));
	json_object_set_new(j, "oom_kills", json_integer(oom));
	json_object_set_new(j, "guests_finished", json_integer(finished));
	json_object_set_new(j, "guests_unfinished", json_integer(unfinished));
	json_object_set_new(j, "final_balloon_mean_bytes", jnum(nbal ? bal_sum / nbal : NAN));
	if (r->s->metric[0])
		json_object_set_new(j, "workload_metric", jnum(metric));
	json_object_set_new(j, "slice_peak_bytes", ju64(r->peak_usage));
	json_object_set_new(j, "grant_latency_ms", jnum(grant));
	json_object_set_new(j, "stall_ms", jnum(stall));
	json_object_set_new(j, "first_grant_ms", jnum(first));
	json_object_set_new(j, "max_wait_ms", jnum(wait));
	json_object_set_new(j, "reinflate_s", jnum(reinf));
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

/*
 * Run one (mode, rep). Returns the run's JSON (also written to
 * OUT/runs/ID.json), or NULL when the run could not be set up.
 */
static json_t *run_one(const struct opts *o, const struct scenario *s,
		       const char *out_abs, const char *image_dir, const char *accel,
		       const struct storage_profile *sp, struct hx_storage *disk,
		       enum bench_mode mode, unsigned rep)
{
	struct run R = { .o = o, .s = s, .mode = mode, .rep = rep,
			 .image_dir = image_dir, .accel = accel, .storage = sp,
			 .disk = disk };
	struct run *r = &R;
	char path[PATH_MAX + 64], slice_name[128], conf[8192];
	unsigned n = o->guests ? o->guests : s->guests;
	unsigned slice_mib = o->slice_mem ? o->slice_mem : s->slice_mem_mib;
	unsigned timeout_s = o->timeout ? o->timeout : s->timeout_s;
	uint64_t next_sample = 0, next_progress = 0, t_end;
	json_t *j = NULL;
	int rc;

	snprintf(r->id, sizeof(r->id), "%s-%u", bench_mode_name(mode), rep);
	if (snprintf(r->dir, sizeof(r->dir), "%s/runs/%s", out_abs, r->id) >= (int)sizeof(r->dir) ||
	    snprintf(r->qmp_dir, sizeof(r->qmp_dir), "%s/qmp", r->dir) >= (int)sizeof(r->qmp_dir))
		return NULL;
	if (hx_mkdir_p(r->qmp_dir) < 0) {
		fprintf(stderr, "autoballoon-bench: cannot create %s\n", r->qmp_dir);
		return NULL;
	}
	r->n = n;
	r->g = calloc(n, sizeof(*r->g));
	if (!r->g)
		return NULL;
	for (unsigned i = 0; i < n; i++) {
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
			return NULL;
		}
		snprintf(g->qmp_arg, sizeof(g->qmp_arg), "unix:%s,server=on,wait=off",
			 g->daemon_qmp);
		g->extra[0] = "-qmp";
		g->extra[1] = g->qmp_arg;
		g->extra[2] = NULL;
		unlink(g->daemon_qmp);
		hx_guard_add_file(g->daemon_qmp);
	}

	snprintf(slice_name, sizeof(slice_name), "autoballoon-bench-%d-%s-%u", (int)getpid(),
		 mode == BM_AUTO_GUEST ? "autoguest" : bench_mode_name(mode), rep);
	rc = hx_slice_create(slice_name, mode == BM_UNPRESSURED ? HX_UNLIMITED
					  : (uint64_t)slice_mib << 20, &r->slice);
	if (rc < 0) {
		fprintf(stderr, "autoballoon-bench: creating slice %s: %s\n", slice_name,
			strerror(-rc));
		goto out;
	}
	if (r->disk) {
		struct hx_io_limits lim = { sp->iops, sp->iops, sp->bps, sp->bps };
		unsigned maj, min;

		hx_storage_dev(r->disk, &maj, &min);
		rc = hx_slice_set_io_limits(r->slice, maj, min, &lim);
		if (rc < 0) {
			fprintf(stderr, "autoballoon-bench: %s: throttling the slice's I/O "
				"(storage %s): %s\n", r->id, sp->name, strerror(-rc));
			goto out;
		}
		hx_slice_io_stats(r->slice, maj, min, &r->io_base);
	}
	if (bench_mode_policy(mode)) {
		write_daemon_conf(r, conf, sizeof(conf));
		rc = hx_daemon_start(o->daemon_bin, r->dir, conf, o->daemon_verbose, &r->d);
		if (rc < 0) {
			fprintf(stderr, "autoballoon-bench: %s: starting %s: %s\n", r->id,
				o->daemon_bin, strerror(-rc));
			hx_daemon_show_log(&r->d, 20);
			if (r->d.pid > 0)
				hx_daemon_stop(&r->d, SIGKILL, 2000, NULL);
			goto out;
		}
		r->daemon_up = true;
		r->daemon_used = true;
	}
	if (pathf(path, sizeof(path), "%s/runs/%s-series.csv", out_abs, r->id) == 0)
		r->series = fopen(path, "w");
	if (!r->series)
		goto out;
	series_header(r);

	say("== %s: %s, %u x %u MiB guests, slice %s MiB, %s\n", s->name, r->id, n,
	    o->guest_mem ? o->guest_mem : s->guest_mem_mib,
	    mode == BM_UNPRESSURED ? "unlimited" : (snprintf(path, sizeof(path), "%u",
							     slice_mib), path),
	    bench_mode_policy(mode) ? "autoballoond" : "no daemon");
	hx_vmstat_read(NULL, &r->vs0);
	r->vs_prev = r->vs0;
	r->t0_ms = hx_now_ms();
	r->vs_prev_ms = r->t0_ms;
	t_end = r->t0_ms + (uint64_t)timeout_s * 1000;
	for (;;) {
		struct hx_vm *live[256];
		size_t nlive = 0;
		bool tracking = false, all_exited = true;
		uint64_t now = hx_now_ms();

		if (interrupted)
			break;
		for (unsigned i = 0; i < n; i++) {
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
			if (nlive < sizeof(live) / sizeof(live[0]))
				live[nlive++] = g->vm;
		}
		if (all_exited)
			break;
		if (now >= t_end) {
			r->timed_out = true;
			break;
		}
		for (unsigned i = 0; i < n; i++)
			tracking |= r->g[i].sp.active;
		if (nlive)
			hx_vms_wait(live, nlive, tracking ? 20 : 100);
		else
			usleep(100000);
		for (unsigned i = 0; i < n; i++) {
			struct guest *g = &r->g[i];

			if (!g->started || !g->vm)
				continue;
			if (!g->q)
				guest_qmp_open(r, g);
			while (g->cursor < hx_vm_line_count(g->vm))
				guest_on_line(r, g, hx_vm_line(g->vm, g->cursor++));
			spike_track(r, g);
			if (!g->exited && hx_vm_exited(g->vm, NULL)) {
				g->exited = true;
				guest_qmp_close(g);
				g->q_dead = true;
			}
		}
		now = hx_now_ms();
		if (now >= next_sample) {
			sample(r, now);
			next_sample = now + SAMPLE_MS;
		}
		if (o->status_every_s && now >= next_progress) {
			if (next_progress)
				print_progress(r, now);
			next_progress = now + (uint64_t)o->status_every_s * 1000;
		}
	}
	r->wall_s = (double)(hx_now_ms() - r->t0_ms) / 1000.0;
	/* stop what is left, so its swap is counted and freed */
	for (unsigned i = 0; i < n; i++) {
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
	j = run_json(r);
	if (pathf(path, sizeof(path), "%s/runs/%s.json", out_abs, r->id) == 0)
		json_dump_file(j, path, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
	if (pathf(path, sizeof(path), "%s/runs/%s-guests.csv", out_abs, r->id) == 0)
		write_guests_csv(path, j);
out:
	if (r->daemon_up)
		hx_daemon_stop(&r->d, SIGTERM, 15000, NULL);
	if (r->series)
		fclose(r->series);
	for (unsigned i = 0; i < n; i++)
		guest_free(&r->g[i]);
	free(r->g);
	json_decref(r->daemon_counters);
	if (r->slice) {
		rc = hx_slice_destroy(r->slice);
		if (rc < 0)
			fprintf(stderr, "autoballoon-bench: removing slice %s: %s\n",
				slice_name, strerror(-rc));
	}
	rmdir(r->qmp_dir);
	return j;
}

/* ---------------------------------------------------- custom workloads */

static int cpio_entry(FILE *f, const char *name, unsigned mode, const void *data,
		      size_t len, unsigned ino)
{
	static const char zeros[4];
	size_t nl = strlen(name) + 1;

	fprintf(f, "070701%08X%08X%08X%08X%08X%08X%08zX%08X%08X%08X%08X%08zX%08X",
		ino, mode, 0u, 0u, 1u, 0u, len, 0u, 0u, 0u, 0u, nl, 0u);
	fwrite(name, 1, nl, f);
	fwrite(zeros, 1, (4 - ((110 + nl) % 4)) % 4, f);
	if (len) {
		fwrite(data, 1, len, f);
		fwrite(zeros, 1, (4 - len % 4) % 4, f);
	}
	return ferror(f) ? -EIO : 0;
}

static int copy_file(FILE *dst, const char *src, size_t *ret_len)
{
	char buf[65536];
	size_t n, total = 0;
	FILE *f = fopen(src, "rb");

	if (!f)
		return -errno;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		fwrite(buf, 1, n, dst);
		total += n;
	}
	fclose(f);
	*ret_len = total;
	return ferror(dst) ? -EIO : 0;
}

/*
 * OUT/image: the stock image's kernel (symlinks) and its initrd with one more
 * cpio archive appended that holds /ab/bin/NAME (the kernel unpacks
 * concatenated archives, each starting on a 4-byte boundary).
 */
static int make_custom_image(const char *base_dir, const char *out_abs,
			     const char *prog, char *ret_dir, size_t len)
{
	char p[PATH_MAX + 64], src[PATH_MAX], name[64], abspath[PATH_MAX];
	const char *b = strrchr(prog, '/');
	struct stat st;
	FILE *f;
	void *data;
	size_t blen = 0;
	int r;

	snprintf(name, sizeof(name), "%s", b ? b + 1 : prog);
	for (char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.'))
			return -EINVAL;
	if (stat(prog, &st) < 0)
		return -errno;
	if (pathf(ret_dir, len, "%s/image", out_abs))
		return -ENAMETOOLONG;
	r = hx_mkdir_p(ret_dir);
	if (r < 0)
		return r;
	for (int k = 0; k < 2; k++) {
		const char *kn = k ? "vmlinuz" : "vmlinux";

		snprintf(src, sizeof(src), "%s/%s", base_dir, kn);
		snprintf(p, sizeof(p), "%s/%s", ret_dir, kn);
		unlink(p);
		if (realpath(src, abspath) && symlink(abspath, p) < 0)
			return -errno;
	}
	snprintf(p, sizeof(p), "%s/initrd.img", ret_dir);
	f = fopen(p, "wb");
	if (!f)
		return -errno;
	snprintf(src, sizeof(src), "%s/initrd.img", base_dir);
	r = copy_file(f, src, &blen);
	if (r == 0) {
		static const char zeros[4];

		fwrite(zeros, 1, (4 - blen % 4) % 4, f);
		data = malloc((size_t)st.st_size + 1);
		FILE *pf = fopen(prog, "rb");

		if (!data || !pf || fread(data, 1, (size_t)st.st_size, pf) != (size_t)st.st_size) {
			r = -EIO;
		} else {
			char entry[128];

			snprintf(entry, sizeof(entry), "ab/bin/%s", name);
			r = cpio_entry(f, "ab", 040755, NULL, 0, 900001);
			if (!r)
				r = cpio_entry(f, "ab/bin", 040755, NULL, 0, 900002);
			if (!r)
				r = cpio_entry(f, entry, 0100755, data, (size_t)st.st_size, 900003);
			if (!r)
				r = cpio_entry(f, "TRAILER!!!", 0, NULL, 0, 0);
		}
		if (pf)
			fclose(pf);
		free(data);
	}
	if (fclose(f) != 0 && !r)
		r = -EIO;
	return r;
}

/* ------------------------------------------------------------ summary */

struct mode_runs {
	json_t *runs[64];
	size_t n;
};

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

static json_t *summary_json(const struct opts *o, const struct scenario *s,
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

/* Every OUT/runs/MODE-REP.json, grouped by mode. */
static void load_runs(const char *out_abs, struct mode_runs *per_mode)
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

/* A fresh result directory: earlier runs' result files go (logs stay). */
static void clear_results(const char *out_abs)
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

static void append_runs_csv(const char *out_abs, json_t *run)
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

/* --check: every guest finished; with a daemon, the daemon managed every one */
static int check_run(json_t *run)
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

/* ----------------------------------------------------------------- demo */

static json_t *demo_side(json_t *run)
{
	json_t *side = json_object(), *rt = json_array(), *bal = json_array(),
	       *act = json_array(), *g;
	size_t i;

	json_array_foreach(json_object_get(run, "guests"), i, g) {
		json_array_append(rt, json_object_get(g, "runtime_s"));
		json_array_append(bal, json_object_get(g, "final_balloon_bytes"));
		json_array_append(act, json_object_get(g, "final_actual_bytes"));
	}
	json_object_set(side, "mode", json_object_get(run, "mode"));
	json_object_set(side, "host_swap_in_pages", json_object_get(run, "host_swap_in_pages"));
	json_object_set(side, "host_swap_out_pages", json_object_get(run, "host_swap_out_pages"));
	json_object_set(side, "oom_kills", json_object_get(run, "oom_kills"));
	json_object_set_new(side, "guest_runtime_s", rt);
	json_object_set_new(side, "final_balloon_bytes", bal);
	json_object_set_new(side, "final_actual_bytes", act);
	json_object_set(side, "guests_unfinished", json_object_get(run, "guests_unfinished"));
	json_object_set(side, "wall_s", json_object_get(run, "wall_s"));
	return side;
}

static void fmt_num(char *buf, size_t len, json_t *v, int decimals, double div)
{
	if (json_is_number(v))
		snprintf(buf, len, "%.*f", decimals, json_number_value(v) / div);
	else
		snprintf(buf, len, "%s", json_is_null(v) ? "did not finish" : "-");
}

static void demo_table(json_t *without, json_t *with, double total_s)
{
	char a[64], b[64];
	json_t *gw = json_object_get(without, "guests"), *gi = json_object_get(with, "guests");
	double in_wo = json_number_value(json_object_get(without, "host_swap_in_pages"));
	double in_w = json_number_value(json_object_get(with, "host_swap_in_pages"));

	say("\n%-30s %22s %22s\n", "", "WITHOUT the daemon", "WITH autoballoond");
	say("%-30s %22s %22s\n", "", bench_mode_name(BM_FPR), bench_mode_name(BM_AUTO));
	fmt_num(a, sizeof(a), json_object_get(without, "host_swap_in_pages"), 0, 1);
	fmt_num(b, sizeof(b), json_object_get(with, "host_swap_in_pages"), 0, 1);
	say("%-30s %22s %22s\n", "host swap-in (pages)", a, b);
	fmt_num(a, sizeof(a), json_object_get(without, "host_swap_out_pages"), 0, 1);
	fmt_num(b, sizeof(b), json_object_get(with, "host_swap_out_pages"), 0, 1);
	say("%-30s %22s %22s\n", "host swap-out (pages)", a, b);
	fmt_num(a, sizeof(a), json_object_get(without, "oom_kills"), 0, 1);
	fmt_num(b, sizeof(b), json_object_get(with, "oom_kills"), 0, 1);
	say("%-30s %22s %22s\n", "guest OOM kills", a, b);
	for (size_t i = 0; i < json_array_size(gw) || i < json_array_size(gi); i++) {
		json_t *x = json_array_get(gw, i), *y = json_array_get(gi, i);
		char label[64];

		snprintf(label, sizeof(label), "%s run time (s)",
			 json_string_value(json_object_get(x ? x : y, "name")));
		fmt_num(a, sizeof(a), json_object_get(x, "runtime_s"), 1, 1);
		fmt_num(b, sizeof(b), json_object_get(y, "runtime_s"), 1, 1);
		say("%-30s %22s %22s\n", label, a, b);
	}
	for (size_t i = 0; i < json_array_size(gw) || i < json_array_size(gi); i++) {
		json_t *x = json_array_get(gw, i), *y = json_array_get(gi, i);
		char label[64], a2[32], b2[32];

		snprintf(label, sizeof(label), "%s final balloon (MiB)",
			 json_string_value(json_object_get(x ? x : y, "name")));
		fmt_num(a2, sizeof(a2), json_object_get(x, "final_balloon_bytes"), 0, MIB_D);
		fmt_num(b2, sizeof(b2), json_object_get(y, "final_balloon_bytes"), 0, MIB_D);
		snprintf(a, sizeof(a), "%s", a2);
		snprintf(b, sizeof(b), "%s", b2);
		if (json_is_number(json_object_get(x, "final_actual_bytes")))
			snprintf(a, sizeof(a), "%s (guest %.0f)", a2,
				 json_number_value(json_object_get(x, "final_actual_bytes")) / MIB_D);
		if (json_is_number(json_object_get(y, "final_actual_bytes")))
			snprintf(b, sizeof(b), "%s (guest %.0f)", b2,
				 json_number_value(json_object_get(y, "final_actual_bytes")) / MIB_D);
		say("%-30s %22s %22s\n", label, a, b);
	}
	fmt_num(a, sizeof(a), json_object_get(without, "wall_s"), 0, 1);
	fmt_num(b, sizeof(b), json_object_get(with, "wall_s"), 0, 1);
	say("%-30s %22s %22s\n", "run wall time (s)", a, b);
	if (in_wo > 0)
		say("\nhost swap-in with the daemon: %.2f%% of without (goal: at most 10%%); "
		    "demo total %.0f s\n", 100.0 * in_w / in_wo, total_s);
	else
		say("\nthe run without the daemon did not swap in (slice too large for the "
		    "workload?); demo total %.0f s\n", total_s);
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: autoballoon-bench [OPTIONS] [--workload PATH [ARGS...]]\n"
		"       autoballoon-bench --report DIR... [--md FILE] [--plots DIR] [--command CMD]\n"
		"Run test guests in a memory-limited host slice and measure ballooning.\n\n"
		"  --scenario NAME       bench/scenarios/NAME.ini, or a path (default seed-small)\n"
		"  --mode M[,M...]       unpressured none fpr static proxmox mom auto auto+guest\n"
		"                        (default none,fpr,auto)\n"
		"  --reps N              repetitions per mode (default 1)\n"
		"  --guests N            override the scenario's guest count\n"
		"  --guest-mem MIB       override the guests' memory\n"
		"  --slice-mem MIB       override the slice's memory limit\n"
		"  --swap MIB            override the host swap file size (0 = none)\n"
		"  --storage ram|ssd|hdd where host swap and guest disks live: as they are\n"
		"                        (ram), or one loop device throttled to an SSD's or\n"
		"                        a disk's IOPS and bandwidth (default: scenario's)\n"
		"  --timeout S           override the cap on one run\n"
		"  --out DIR             output directory (default build/bench/SCENARIO)\n"
		"  --keep                keep the runs already in DIR (same scenario): new\n"
		"                        runs are numbered after them and the summary covers\n"
		"                        them all (default: start afresh)\n"
		"  --image-dir DIR       guest image (default build/guest)\n"
		"  --daemon PATH         autoballoond (default: next to this program)\n"
		"  --status-every S      print progress every S seconds (0 = off; default 5)\n"
		"  --demo                `make demo`: show autoballoonctl status while the\n"
		"                        daemon runs, print the with/without table, write\n"
		"                        OUT/summary.json as {\"with\": ..., \"without\": ...}\n"
		"  --check               smoke test: fail when a guest did not finish; exit\n"
		"                        77 when guests cannot run here (not root, no cgroup)\n"
		"  --daemon-verbose      run autoballoond with -v (debug log in the run dir)\n"
		"  -v, --verbose         harness messages on stderr\n"
		"  --workload PATH [ARGS...]  run this static program or script in every\n"
		"                        guest instead of the scenario's workload (must be\n"
		"                        last; ARGS are passed as its arguments)\n"
		"  -h, --help\n");
}

static int parse_modes(const char *arg, struct opts *o)
{
	char buf[256], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", arg);
	memset(o->modes, 0, sizeof(o->modes));
	o->nmodes = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		enum bench_mode m;

		if (bench_mode_parse(tok, &m) < 0) {
			fprintf(stderr, "autoballoon-bench: unknown mode \"%s\"\n", tok);
			return -EINVAL;
		}
		if (!o->modes[m])
			o->order[o->nmodes++] = m;
		o->modes[m] = true;
	}
	return o->nmodes ? 0 : -EINVAL;
}

static int parse_uint_opt(const char *name, const char *v, unsigned *ret)
{
	char *end;
	unsigned long u;

	errno = 0;
	u = strtoul(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || u > 1u << 30) {
		fprintf(stderr, "autoballoon-bench: %s: expected a whole number\n", name);
		return -EINVAL;
	}
	*ret = (unsigned)u;
	return 0;
}

static void sibling_binary(const char *name, char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0) {
		snprintf(buf, len, "build/%s", name);
		return;
	}
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	if (pathf(buf, len, "%s/%s", self, name))
		snprintf(buf, len, "build/%s", name);
}

int main(int argc, char **argv)
{
	enum { O_SCENARIO = 256, O_MODE, O_REPS, O_GUESTS, O_GUEST_MEM, O_SLICE_MEM, O_SWAP,
	       O_OUT, O_WORKLOAD, O_IMAGE, O_DAEMON, O_DEMO, O_STATUS, O_CHECK, O_DVERB,
	       O_TIMEOUT, O_REPORT, O_MD, O_PLOTS, O_COMMAND, O_SCNDIR, O_KEEP,
	       O_STORAGE };
	static const struct option lopts[] = {
		{ "scenario", required_argument, NULL, O_SCENARIO },
		{ "scenario-dir", required_argument, NULL, O_SCNDIR },
		{ "mode", required_argument, NULL, O_MODE },
		{ "reps", required_argument, NULL, O_REPS },
		{ "guests", required_argument, NULL, O_GUESTS },
		{ "guest-mem", required_argument, NULL, O_GUEST_MEM },
		{ "slice-mem", required_argument, NULL, O_SLICE_MEM },
		{ "swap", required_argument, NULL, O_SWAP },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "out", required_argument, NULL, O_OUT },
		{ "workload", required_argument, NULL, O_WORKLOAD },
		{ "image-dir", required_argument, NULL, O_IMAGE },
		{ "daemon", required_argument, NULL, O_DAEMON },
		{ "demo", no_argument, NULL, O_DEMO },
		{ "status-every", required_argument, NULL, O_STATUS },
		{ "check", no_argument, NULL, O_CHECK },
		{ "keep", no_argument, NULL, O_KEEP },
		{ "storage", required_argument, NULL, O_STORAGE },
		{ "daemon-verbose", no_argument, NULL, O_DVERB },
		{ "report", no_argument, NULL, O_REPORT },
		{ "md", required_argument, NULL, O_MD },
		{ "plots", required_argument, NULL, O_PLOTS },
		{ "command", required_argument, NULL, O_COMMAND },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .scenario = "seed-small", .scenario_dir = "bench/scenarios",
			  .reps = 1, .image_dir = "build/guest", .status_every_s = 5 };
	char daemon_bin[PATH_MAX], ctl_bin[PATH_MAX], out_buf[PATH_MAX], out_abs[PATH_MAX];
	char err[4096], image_dir[PATH_MAX], why[256];
	const char *md = "docs/benchmarks.md", *plots = NULL, *report_cmd = "make bench";
	bool report = false;
	struct scenario s;
	struct hx_swap *swap = NULL;
	struct hx_storage *disk = NULL;
	const struct storage_profile *sprof;
	struct mode_runs per_mode[BM_COUNT];
	const char *accel = NULL;
	int c, rc, status = 0;
	uint64_t t_start;
	size_t cl = 0;

	memset(per_mode, 0, sizeof(per_mode));
	for (int i = 0; i < argc && cl + 2 < sizeof(o.command); i++) {
		int w = snprintf(o.command + cl, sizeof(o.command) - cl, "%s%s", i ? " " : "",
				 argv[i]);

		if (w < 0)
			break;
		cl += (size_t)w < sizeof(o.command) - cl ? (size_t)w : sizeof(o.command) - cl - 1;
	}
	parse_modes("none,fpr,auto", &o);
	sibling_binary("autoballoond", daemon_bin, sizeof(daemon_bin));
	sibling_binary("autoballoonctl", ctl_bin, sizeof(ctl_bin));
	o.daemon_bin = daemon_bin;
	o.ctl_bin = ctl_bin;
	while ((c = getopt_long(argc, argv, "vh", lopts, NULL)) != -1) {
		switch (c) {
		case O_SCENARIO: o.scenario = optarg; break;
		case O_SCNDIR: o.scenario_dir = optarg; break;
		case O_MODE:
			if (parse_modes(optarg, &o) < 0)
				return 2;
			break;
		case O_REPS:
			if (parse_uint_opt("--reps", optarg, &o.reps) < 0 || !o.reps || o.reps > 64)
				return 2;
			break;
		case O_GUESTS:
			if (parse_uint_opt("--guests", optarg, &o.guests) < 0 || o.guests > 256)
				return 2;
			break;
		case O_GUEST_MEM:
			if (parse_uint_opt("--guest-mem", optarg, &o.guest_mem) < 0)
				return 2;
			break;
		case O_SLICE_MEM:
			if (parse_uint_opt("--slice-mem", optarg, &o.slice_mem) < 0)
				return 2;
			break;
		case O_SWAP:
			if (parse_uint_opt("--swap", optarg, &o.swap) < 0)
				return 2;
			o.swap_set = true;
			break;
		case O_TIMEOUT:
			if (parse_uint_opt("--timeout", optarg, &o.timeout) < 0)
				return 2;
			break;
		case O_STATUS:
			if (parse_uint_opt("--status-every", optarg, &o.status_every_s) < 0)
				return 2;
			break;
		case O_OUT: o.out = optarg; break;
		case O_IMAGE: o.image_dir = optarg; break;
		case O_DAEMON: o.daemon_bin = optarg; break;
		case O_DEMO: o.demo = true; break;
		case O_CHECK: o.check = true; break;
		case O_KEEP: o.keep = true; break;
		case O_STORAGE:
			if (!storage_profile_get(optarg)) {
				fprintf(stderr, "autoballoon-bench: --storage: expected ram, ssd "
					"or hdd, not \"%s\"\n", optarg);
				return 2;
			}
			o.storage = optarg;
			break;
		case O_DVERB: o.daemon_verbose = true; break;
		case O_REPORT: report = true; break;
		case O_MD: md = optarg; break;
		case O_PLOTS: plots = optarg; break;
		case O_COMMAND: report_cmd = optarg; break;
		case O_WORKLOAD:
			/* PATH, and everything after it are its arguments */
			o.workload_path = optarg;
			o.workload_argv = &argv[optind];
			o.workload_argc = argc - optind;
			break;
		case 'v': o.verbose = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (o.workload_path)
			break;
	}
	if (report) {
		char plot_buf[PATH_MAX];

		if (optind >= argc) {
			fprintf(stderr, "autoballoon-bench: --report needs result directories\n");
			return 2;
		}
		if (!plots) {
			char mdcopy[PATH_MAX], *slash;

			snprintf(mdcopy, sizeof(mdcopy), "%s", md);
			slash = strrchr(mdcopy, '/');
			if (slash)
				*slash = '\0';
			else
				snprintf(mdcopy, sizeof(mdcopy), ".");
			if (pathf(plot_buf, sizeof(plot_buf), "%s/benchmarks", mdcopy))
				return 2;
			plots = plot_buf;
		}
		return bench_report(&argv[optind], (size_t)(argc - optind), md, plots,
				    report_cmd) < 0 ? 1 : 0;
	}
	if (optind < argc && !o.workload_path) {
		fprintf(stderr, "autoballoon-bench: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (o.demo && (o.nmodes != 2 || o.reps != 1)) {
		fprintf(stderr, "autoballoon-bench: --demo runs two modes (without, with) once\n");
		return 2;
	}
	hx_set_verbose(o.verbose);
	rc = scenario_load(o.scenario_dir, o.scenario, &s, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "autoballoon-bench: scenario: %s", err);
		return 2;
	}
	if (!o.check && ((s.min_host_cpus && sysconf(_SC_NPROCESSORS_ONLN) < s.min_host_cpus) ||
			 (s.min_host_mem_mib &&
			  (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE) <
				  (uint64_t)s.min_host_mem_mib << 20))) {
		fprintf(stderr, "autoballoon-bench: scenario %s needs >= %u CPUs and >= %u MiB "
			"of memory\n", s.name, s.min_host_cpus, s.min_host_mem_mib);
		return 1;
	}
	if (!o.out) {
		snprintf(out_buf, sizeof(out_buf), "build/bench/%s", s.name);
		o.out = out_buf;
	}
	rc = hx_env_check(o.image_dir, why, sizeof(why));
	if (rc < 0) {
		fprintf(stderr, "autoballoon-bench: cannot run guests here: %s\n", why);
		return (o.check && (rc == -EPERM || rc == -ENODEV)) ? 77 : 1;
	}
	if (access(o.daemon_bin, X_OK) < 0 && (o.modes[BM_STATIC] || o.modes[BM_PROXMOX] ||
	    o.modes[BM_MOM] || o.modes[BM_AUTO] || o.modes[BM_AUTO_GUEST])) {
		fprintf(stderr, "autoballoon-bench: %s: not executable (make first)\n",
			o.daemon_bin);
		return 1;
	}
	if (hx_mkdir_p(o.out) < 0 || !realpath(o.out, out_abs)) {
		fprintf(stderr, "autoballoon-bench: cannot create %s\n", o.out);
		return 1;
	}
	if (pathf(err, sizeof(err), "%s/runs", out_abs) == 0)
		hx_mkdir_p(err);
	if (!o.keep)
		clear_results(out_abs);
	snprintf(image_dir, sizeof(image_dir), "%s", o.image_dir);
	rc = hx_accel_detect(o.image_dir, &accel);
	if (rc < 0) {
		fprintf(stderr, "autoballoon-bench: accel detection: %s\n", strerror(-rc));
		return 1;
	}
	if (o.workload_path) {
		for (int k = 0; k < o.workload_argc; k++) {
			if (strpbrk(o.workload_argv[k], ", \t\"'\\")) {
				fprintf(stderr, "autoballoon-bench: --workload: arguments cannot "
					"contain commas, spaces or quotes: \"%s\"\n",
					o.workload_argv[k]);
				return 2;
			}
		}
		rc = make_custom_image(o.image_dir, out_abs, o.workload_path, image_dir,
				       sizeof(image_dir));
		if (rc < 0) {
			fprintf(stderr, "autoballoon-bench: --workload %s: %s\n",
				o.workload_path, strerror(-rc));
			return 1;
		}
	}

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = hx_guard_start();
	if (rc < 0) {
		fprintf(stderr, "autoballoon-bench: cleanup guard: %s\n", strerror(-rc));
		return 1;
	}
	t_start = hx_now_ms();
	if (o.storage)
		snprintf(s.storage, sizeof(s.storage), "%s", o.storage);
	sprof = storage_profile_get(s.storage);
	{
		unsigned swap_mib = o.swap_set ? o.swap : s.swap_mib;
		unsigned ng = o.guests ? o.guests : s.guests;

		if (sprof->throttled) {
			/* room for the swap and one run's disks */
			uint64_t mib = swap_mib + 512 +
				       (uint64_t)ng * (s.data_disk_mib + s.guest_swap_mib);

			rc = hx_storage_create(out_abs, mib << 20, &disk);
			if (rc < 0) {
				fprintf(stderr, "autoballoon-bench: storage %s: a loop device "
					"in %s: %s\n", sprof->name, out_abs, strerror(-rc));
				hx_guard_stop();
				return (o.check && (rc == -ENODEV || rc == -EPERM)) ? 77 : 1;
			}
		}
		if (swap_mib) {
			char sp[PATH_MAX + 32];

			snprintf(sp, sizeof(sp), "%s/swapfile", disk ? hx_storage_dir(disk) : out_abs);
			unlink(sp);
			rc = hx_swap_create(sp, (uint64_t)swap_mib << 20, &swap);
			if (rc < 0) {
				fprintf(stderr, "autoballoon-bench: swap file %s: %s\n", sp,
					strerror(-rc));
				hx_storage_destroy(disk);
				hx_guard_stop();
				return (o.check && rc == -EPERM) ? 77 : 1;
			}
		}
	}
	say("autoballoon-bench: scenario %s (%s), modes", s.name, s.description);
	for (size_t k = 0; k < o.nmodes; k++)
		say(" %s", bench_mode_name(o.order[k]));
	say(", %u rep(s), accel %s, storage %s, out %s\n", o.reps, accel, sprof->name, o.out);

	/* --keep: new runs are numbered after the kept ones, not over them */
	unsigned rep_base[BM_COUNT] = { 0 };

	if (o.keep) {
		struct mode_runs kept[BM_COUNT];

		load_runs(out_abs, kept);
		for (int m = 0; m < BM_COUNT; m++) {
			for (size_t i = 0; i < kept[m].n; i++) {
				double r = json_number_value(json_object_get(kept[m].runs[i], "rep"));

				if (r > rep_base[m] && r < 1e6)
					rep_base[m] = (unsigned)r;
				json_decref(kept[m].runs[i]);
			}
		}
	}
	for (unsigned rep = 1; rep <= o.reps && !interrupted; rep++) {
		for (size_t k = 0; k < o.nmodes && !interrupted; k++) {
			enum bench_mode m = o.order[k];
			json_t *run = run_one(&o, &s, out_abs, image_dir, accel, sprof, disk,
					      m, rep_base[m] + rep);

			if (!run) {
				status = 1;
				continue;
			}
			if (interrupted) {
				json_decref(run);
				break;
			}
			say("   %s: time %s s, host swap in %lld out %lld pages, OOM kills %lld, "
			    "unfinished %lld, wall %.0f s\n",
			    json_string_value(json_object_get(run, "mode")),
			    json_is_number(json_object_get(run, "workload_time_s")) ?
				    (snprintf(err, sizeof(err), "%.1f", json_number_value(
					     json_object_get(run, "workload_time_s"))), err) : "-",
			    (long long)json_integer_value(json_object_get(run, "host_swap_in_pages")),
			    (long long)json_integer_value(json_object_get(run, "host_swap_out_pages")),
			    (long long)json_integer_value(json_object_get(run, "oom_kills")),
			    (long long)json_integer_value(json_object_get(run, "guests_unfinished")),
			    json_number_value(json_object_get(run, "wall_s")));
			if (o.check && check_run(run) < 0)
				status = 1;
			append_runs_csv(out_abs, run);
			if (per_mode[m].n < 64)
				per_mode[m].runs[per_mode[m].n++] = run;
			else
				json_decref(run);
		}
	}
	if (swap)
		hx_swap_destroy(swap);
	hx_storage_destroy(disk);

	if (!interrupted) {
		struct mode_runs all[BM_COUNT];
		json_t *sum;
		char p[PATH_MAX + 32];

		load_runs(out_abs, all);
		sum = summary_json(&o, &s, accel, all);
		for (int m = 0; m < BM_COUNT; m++)
			for (size_t i = 0; i < all[m].n; i++)
				json_decref(all[m].runs[i]);

		if (o.demo) {
			json_t *wo = per_mode[o.order[0]].n ? per_mode[o.order[0]].runs[0] : NULL;
			json_t *wi = per_mode[o.order[1]].n ? per_mode[o.order[1]].runs[0] : NULL;

			snprintf(p, sizeof(p), "%s/bench-summary.json", out_abs);
			json_dump_file(sum, p, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
			if (wo && wi) {
				json_t *d = json_pack("{s:o,s:o}", "with", demo_side(wi),
						      "without", demo_side(wo));

				snprintf(p, sizeof(p), "%s/summary.json", out_abs);
				json_dump_file(d, p, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
				json_decref(d);
				demo_table(wo, wi, (double)(hx_now_ms() - t_start) / 1000.0);
				say("written: %s\n", p);
			} else {
				status = 1;
			}
		} else {
			snprintf(p, sizeof(p), "%s/summary.json", out_abs);
			json_dump_file(sum, p, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
			say("written: %s (and runs/, runs.csv); %.0f s\n", p,
			    (double)(hx_now_ms() - t_start) / 1000.0);
		}
		json_decref(sum);
	}
	for (int m = 0; m < BM_COUNT; m++)
		for (size_t i = 0; i < per_mode[m].n; i++)
			json_decref(per_mode[m].runs[i]);
	hx_guard_stop();
	if (interrupted) {
		fprintf(stderr, "autoballoon-bench: interrupted; cleaned up\n");
		return 130;
	}
	return status;
}
