/* SPDX-License-Identifier: MIT */
/*
 * bench_demo.c - what autoballoon-bench shows people: a progress line every
 * --status-every seconds (with --demo also `autoballoonctl status`), and
 * the demo's with/without table and OUT/summary.json.
 */
#include <math.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_run.h"

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

void run_print_progress(const struct run *r, uint64_t now_ms)
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

void demo_write(const char *out_abs, json_t *without, json_t *with, double total_s)
{
	char p[PATH_MAX + 32];
	json_t *d = json_pack("{s:o,s:o}", "with", demo_side(with), "without",
			      demo_side(without));

	snprintf(p, sizeof(p), "%s/summary.json", out_abs);
	json_dump_file(d, p, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
	json_decref(d);
	demo_table(without, with, total_s);
	say("written: %s\n", p);
}
