/* SPDX-License-Identifier: MIT */
/*
 * bench_guest.c - one guest of a run, seen from the host: its balloon and
 * guest-stats over QMP, what its QEMU costs (major faults, disk reads), its
 * AB lines, and a spike's timing (burst start to memory granted, the
 * balloon's return after the burst).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench_run.h"
#include "qmp.h"
#include "util.h"

#define BALLOON_QOM "/machine/peripheral/balloon0"
#define GRANT_TOLERANCE ((uint64_t)8 << 20)
#define REINFLATE_TOLERANCE ((uint64_t)16 << 20)

static double ns_to_ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

void guest_qmp_open(struct guest *g)
{
	struct stat st;

	if (g->q || g->q_dead || !g->vm || g->exited)
		return;
	if (stat(hx_vm_qmp_path(g->vm), &st) < 0 || !S_ISSOCK(st.st_mode))
		return;
	if (qmp_sync_open(hx_vm_qmp_path(g->vm), 2000, &g->q) < 0)
		g->q = NULL;
}

void guest_qmp_close(struct guest *g)
{
	if (g->q)
		qmp_sync_close(g->q);
	g->q = NULL;
}

int guest_query_actual(struct guest *g, uint64_t *ret)
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

void guest_sample_stats(struct guest *g, uint64_t now_ms)
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

void guest_sample_cost(const struct run *r, struct guest *g, uint64_t now_ms)
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

void guest_sample_ram(const struct run *r, struct guest *g, uint64_t now_ms)
{
	uint64_t mem = (uint64_t)(r->o->guest_mem ? r->o->guest_mem : r->s->guest_mem_mib) << 20;

	guest_ram_track(&g->ram, "/proc", (int)hx_vm_pid(g->vm), mem, now_ms);
}

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

void guest_on_line(struct run *r, struct guest *g, const struct hx_line *l)
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

bool spike_track(struct run *r, struct guest *g)
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
