/* SPDX-License-Identifier: MIT */
/*
 * bench_run.h - autoballoon-bench's runner, shared by its files: the
 * options, one run's state, and what each file offers the others.
 *
 *   bench.c          the command line, the host's swap and disk, the matrix
 *   bench_run.c      one run: slice, daemon, guests, the loop, teardown
 *   bench_guest.c    one guest: QMP queries, its AB lines, a spike's timing
 *   bench_sample.c   the run's series (a CSV row a second), its disk I/O
 *   bench_results.c  a run's JSON and CSVs, the summary over runs, --check
 *   bench_demo.c     progress lines, `make demo`'s with/without table
 *   bench_image.c    --workload: the guest image with the program added
 */
#ifndef AB_BENCH_RUN_H
#define AB_BENCH_RUN_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "bench.h"
#include "harness.h"
#include "hostmem.h"
#include "hx_daemon.h"

#define MIB_D (1024.0 * 1024.0)

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
	char slice_name[128];
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

/* Runs of each mode, as read back from OUT/runs/ (bench_results.c). */
struct mode_runs {
	json_t *runs[64];
	size_t n;
};

/* ---- bench.c ---- */

/* printf to stdout, flushed */
__attribute__((format(printf, 1, 2)))
void say(const char *fmt, ...);
/* snprintf for paths and other bounded strings: -ENAMETOOLONG when cut */
__attribute__((format(printf, 3, 4)))
int pathf(char *buf, size_t len, const char *fmt, ...);
/* SIGINT, SIGTERM or SIGHUP came: stop after the current step. */
bool bench_interrupted(void);

/* ---- bench_run.c ---- */

/*
 * Run one (mode, rep). Returns the run's JSON (also written to
 * OUT/runs/ID.json), or NULL when the run could not be set up.
 */
json_t *run_one(const struct opts *o, const struct scenario *s,
		const char *out_abs, const char *image_dir, const char *accel,
		const struct storage_profile *sp, struct hx_storage *disk,
		enum bench_mode mode, unsigned rep);

/* ---- bench_guest.c ---- */

/* Connect to the guest's QMP socket once QEMU made it (quietly: later). */
void guest_qmp_open(struct guest *g);
void guest_qmp_close(struct guest *g);
/* The balloon's actual size; updates have_actual, actual, min_actual. */
int guest_query_actual(struct guest *g, uint64_t *ret);
/* The balloon driver's guest-stats: available memory, cache, counters. */
void guest_sample_stats(struct guest *g, uint64_t now_ms);
/* Host memory behind the guest's RAM (as the daemon reads it). */
void guest_sample_ram(const struct run *r, struct guest *g, uint64_t now_ms);
/* QEMU's major faults and CPU time, the data disk's reads. */
void guest_sample_cost(const struct run *r, struct guest *g, uint64_t now_ms);
/* One of the guest's AB lines. */
void guest_on_line(struct run *r, struct guest *g, const struct hx_line *l);
/* Fast balloon polling while a burst waits for memory or the balloon is
 * expected to come back. Returns true while something is being tracked. */
bool spike_track(struct run *r, struct guest *g);

/* ---- bench_sample.c ---- */

/* Rate of a counter that only grows (a reset reads as 0). */
double ctr_rate(uint64_t now, uint64_t before, double dt_s);
/* The slice's I/O through the throttled disk since the run started, less
 * the disk images' writing. */
int run_io(const struct run *r, struct hx_io_stats *ret);
/* Add what happened on the disk between *before and now to io_base. */
void run_io_exclude(struct run *r, const struct hx_io_stats *before);
/* The series' CSV header, then one row a run_sample(). */
void run_series_header(struct run *r);
void run_sample(struct run *r, uint64_t now_ms);

/* ---- bench_results.c ---- */

/* The run's JSON, written to OUT/runs/ID.json and OUT/runs/ID-guests.csv. */
json_t *run_results(struct run *r, const char *out_abs);
/* Every OUT/runs/MODE-REP.json, grouped by mode (per_mode[BM_COUNT]). */
void load_runs(const char *out_abs, struct mode_runs *per_mode);
/* A fresh result directory: earlier runs' result files go (logs stay). */
void clear_results(const char *out_abs);
/* One line of OUT/runs.csv (with the header when the file is new). */
void append_runs_csv(const char *out_abs, json_t *run);
/* The summary over per_mode's runs, with the machine and the command. */
json_t *summary_json(const struct opts *o, const struct scenario *s,
		     const char *accel, struct mode_runs *per_mode);
/* --check: every guest finished; with a daemon, the daemon managed every
 * one. -1 (and why on stderr) otherwise. */
int check_run(json_t *run);

/* ---- bench_demo.c ---- */

/* The progress line (and with --demo, autoballoonctl status). */
void run_print_progress(const struct run *r, uint64_t now_ms);
/* --demo: OUT/summary.json as {"with", "without"} and the table on stdout. */
void demo_write(const char *out_abs, json_t *without, json_t *with, double total_s);

/* ---- bench_image.c ---- */

/*
 * OUT/image: BASE_DIR's kernel and initrd with PROG added as /ab/bin/NAME;
 * its directory into ret_dir.
 */
int make_custom_image(const char *base_dir, const char *out_abs,
		      const char *prog, char *ret_dir, size_t len);

#endif
