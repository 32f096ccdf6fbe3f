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
 *
 * This file: the command line, the host's swap file and throttled disk, the
 * matrix of modes and repetitions, the summary. bench_run.h names the rest.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_run.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

bool bench_interrupted(void)
{
	return interrupted != 0;
}

__attribute__((format(printf, 1, 2)))
void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fflush(stdout);
}

__attribute__((format(printf, 3, 4)))
int pathf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

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

/* `--report DIR...` and its options */
struct report_opts {
	bool on;
	const char *md, *plots, *command;
};

/*
 * The options into o and ro (from getopt_long; optind: the first
 * argument left). 0, 1 after --help, -EINVAL on a usage error (said).
 */
static int parse_args(int argc, char **argv, struct opts *o, struct report_opts *ro)
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
	int c;

	while ((c = getopt_long(argc, argv, "vh", lopts, NULL)) != -1) {
		switch (c) {
		case O_SCENARIO: o->scenario = optarg; break;
		case O_SCNDIR: o->scenario_dir = optarg; break;
		case O_MODE:
			if (parse_modes(optarg, o) < 0)
				return -EINVAL;
			break;
		case O_REPS:
			if (parse_uint_opt("--reps", optarg, &o->reps) < 0 || !o->reps || o->reps > 64)
				return -EINVAL;
			break;
		case O_GUESTS:
			if (parse_uint_opt("--guests", optarg, &o->guests) < 0 || o->guests > 256)
				return -EINVAL;
			break;
		case O_GUEST_MEM:
			if (parse_uint_opt("--guest-mem", optarg, &o->guest_mem) < 0)
				return -EINVAL;
			break;
		case O_SLICE_MEM:
			if (parse_uint_opt("--slice-mem", optarg, &o->slice_mem) < 0)
				return -EINVAL;
			break;
		case O_SWAP:
			if (parse_uint_opt("--swap", optarg, &o->swap) < 0)
				return -EINVAL;
			o->swap_set = true;
			break;
		case O_TIMEOUT:
			if (parse_uint_opt("--timeout", optarg, &o->timeout) < 0)
				return -EINVAL;
			break;
		case O_STATUS:
			if (parse_uint_opt("--status-every", optarg, &o->status_every_s) < 0)
				return -EINVAL;
			break;
		case O_OUT: o->out = optarg; break;
		case O_IMAGE: o->image_dir = optarg; break;
		case O_DAEMON: o->daemon_bin = optarg; break;
		case O_DEMO: o->demo = true; break;
		case O_CHECK: o->check = true; break;
		case O_KEEP: o->keep = true; break;
		case O_STORAGE:
			if (!storage_profile_get(optarg)) {
				fprintf(stderr, "autoballoon-bench: --storage: expected ram, ssd "
					"or hdd, not \"%s\"\n", optarg);
				return -EINVAL;
			}
			o->storage = optarg;
			break;
		case O_DVERB: o->daemon_verbose = true; break;
		case O_REPORT: ro->on = true; break;
		case O_MD: ro->md = optarg; break;
		case O_PLOTS: ro->plots = optarg; break;
		case O_COMMAND: ro->command = optarg; break;
		case O_WORKLOAD:
			/* PATH, and everything after it are its arguments */
			o->workload_path = optarg;
			o->workload_argv = &argv[optind];
			o->workload_argc = argc - optind;
			break;
		case 'v': o->verbose = true; break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return -EINVAL;
		}
		if (o->workload_path)
			break;
	}
	return 0;
}

/* The command line, for the record (summary.json). */
static void record_command(struct opts *o, int argc, char **argv)
{
	size_t cl = 0;

	for (int i = 0; i < argc && cl + 2 < sizeof(o->command); i++) {
		int w = snprintf(o->command + cl, sizeof(o->command) - cl, "%s%s", i ? " " : "",
				 argv[i]);

		if (w < 0)
			break;
		cl += (size_t)w < sizeof(o->command) - cl ? (size_t)w : sizeof(o->command) - cl - 1;
	}
}

/* --report DIR...: the report from result directories, no run. */
static int report_main(const struct report_opts *ro, char *const *dirs, size_t ndirs)
{
	char plot_buf[PATH_MAX];
	const char *plots = ro->plots;

	if (!ndirs) {
		fprintf(stderr, "autoballoon-bench: --report needs result directories\n");
		return 2;
	}
	if (!plots) {
		char mdcopy[PATH_MAX], *slash;

		snprintf(mdcopy, sizeof(mdcopy), "%s", ro->md);
		slash = strrchr(mdcopy, '/');
		if (slash)
			*slash = '\0';
		else
			snprintf(mdcopy, sizeof(mdcopy), ".");
		if (pathf(plot_buf, sizeof(plot_buf), "%s/benchmarks", mdcopy))
			return 2;
		plots = plot_buf;
	}
	return bench_report(dirs, ndirs, ro->md, plots, ro->command) < 0 ? 1 : 0;
}

/* What main() sets up for the runs and collects from them. */
struct bench {
	struct opts o;
	struct scenario s;
	char daemon_bin[PATH_MAX], ctl_bin[PATH_MAX];
	char out_buf[PATH_MAX], out_abs[PATH_MAX], image_dir[PATH_MAX];
	const char *accel;
	const struct storage_profile *sprof;
	struct hx_storage *disk;	/* NULL for storage ram */
	struct hx_swap *swap;
	struct mode_runs per_mode[BM_COUNT];	/* this invocation's runs */
	uint64_t t_start_ms;
};

/* The scenario, and whether this machine is large enough for it. */
static int bench_load_scenario(struct bench *b)
{
	const struct opts *o = &b->o;
	const struct scenario *s = &b->s;
	char err[4096];

	if (scenario_load(o->scenario_dir, o->scenario, &b->s, err, sizeof(err)) < 0) {
		fprintf(stderr, "autoballoon-bench: scenario: %s", err);
		return 2;
	}
	if (!o->check && ((s->min_host_cpus && sysconf(_SC_NPROCESSORS_ONLN) < s->min_host_cpus) ||
			  (s->min_host_mem_mib &&
			   (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE) <
				   (uint64_t)s->min_host_mem_mib << 20))) {
		fprintf(stderr, "autoballoon-bench: scenario %s needs >= %u CPUs and >= %u MiB "
			"of memory\n", s->name, s->min_host_cpus, s->min_host_mem_mib);
		return 1;
	}
	return 0;
}

/* Guests can run here, the daemon is there when a mode needs it, OUT exists
 * (emptied of earlier results unless --keep). */
static int bench_check_host(struct bench *b)
{
	struct opts *o = &b->o;
	char why[256], runs[PATH_MAX + 16];
	int rc;

	if (!o->out) {
		snprintf(b->out_buf, sizeof(b->out_buf), "build/bench/%s", b->s.name);
		o->out = b->out_buf;
	}
	rc = hx_env_check(o->image_dir, why, sizeof(why));
	if (rc < 0) {
		fprintf(stderr, "autoballoon-bench: cannot run guests here: %s\n", why);
		return (o->check && (rc == -EPERM || rc == -ENODEV)) ? 77 : 1;
	}
	if (access(o->daemon_bin, X_OK) < 0 && (o->modes[BM_STATIC] || o->modes[BM_PROXMOX] ||
	    o->modes[BM_MOM] || o->modes[BM_AUTO] || o->modes[BM_AUTO_GUEST])) {
		fprintf(stderr, "autoballoon-bench: %s: not executable (make first)\n",
			o->daemon_bin);
		return 1;
	}
	if (hx_mkdir_p(o->out) < 0 || !realpath(o->out, b->out_abs)) {
		fprintf(stderr, "autoballoon-bench: cannot create %s\n", o->out);
		return 1;
	}
	if (pathf(runs, sizeof(runs), "%s/runs", b->out_abs) == 0)
		hx_mkdir_p(runs);
	if (!o->keep)
		clear_results(b->out_abs);
	return 0;
}

/* The accel, and with --workload the image that holds the program. */
static int bench_prepare_image(struct bench *b)
{
	const struct opts *o = &b->o;
	int rc;

	snprintf(b->image_dir, sizeof(b->image_dir), "%s", o->image_dir);
	rc = hx_accel_detect(o->image_dir, &b->accel);
	if (rc < 0) {
		fprintf(stderr, "autoballoon-bench: accel detection: %s\n", strerror(-rc));
		return 1;
	}
	if (!o->workload_path)
		return 0;
	for (int k = 0; k < o->workload_argc; k++) {
		if (strpbrk(o->workload_argv[k], ", \t\"'\\")) {
			fprintf(stderr, "autoballoon-bench: --workload: arguments cannot "
				"contain commas, spaces or quotes: \"%s\"\n",
				o->workload_argv[k]);
			return 2;
		}
	}
	rc = make_custom_image(o->image_dir, b->out_abs, o->workload_path, b->image_dir,
			       sizeof(b->image_dir));
	if (rc < 0) {
		fprintf(stderr, "autoballoon-bench: --workload %s: %s\n",
			o->workload_path, strerror(-rc));
		return 1;
	}
	return 0;
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * The storage profile's disk (a throttled loop device, room for the swap
 * and one run's disks) and the host swap file, on it or in OUT. Returns 0
 * or the exit status (nothing left behind).
 */
static int bench_host_setup(struct bench *b)
{
	const struct opts *o = &b->o;
	const struct scenario *s = &b->s;
	unsigned swap_mib = o->swap_set ? o->swap : s->swap_mib;
	unsigned ng = o->guests ? o->guests : s->guests;
	int rc;

	if (b->sprof->throttled) {
		uint64_t mib = swap_mib + 512 +
			       (uint64_t)ng * (s->data_disk_mib + s->guest_swap_mib);

		rc = hx_storage_create(b->out_abs, mib << 20, &b->disk);
		if (rc < 0) {
			fprintf(stderr, "autoballoon-bench: storage %s: a loop device "
				"in %s: %s\n", b->sprof->name, b->out_abs, strerror(-rc));
			return (o->check && (rc == -ENODEV || rc == -EPERM)) ? 77 : 1;
		}
	}
	if (swap_mib) {
		char sp[PATH_MAX + 32];

		snprintf(sp, sizeof(sp), "%s/swapfile",
			 b->disk ? hx_storage_dir(b->disk) : b->out_abs);
		unlink(sp);
		rc = hx_swap_create(sp, (uint64_t)swap_mib << 20, &b->swap);
		if (rc < 0) {
			fprintf(stderr, "autoballoon-bench: swap file %s: %s\n", sp,
				strerror(-rc));
			hx_storage_destroy(b->disk);
			b->disk = NULL;
			return (o->check && rc == -EPERM) ? 77 : 1;
		}
	}
	return 0;
}

/* --keep: new runs are numbered after the kept ones, not over them. */
static void kept_reps(const char *out_abs, unsigned rep_base[BM_COUNT])
{
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

/* A run's line on stdout. */
static void say_run(json_t *run)
{
	char t[64];

	say("   %s: time %s s, host swap in %lld out %lld pages, OOM kills %lld, "
	    "unfinished %lld, wall %.0f s\n",
	    json_string_value(json_object_get(run, "mode")),
	    json_is_number(json_object_get(run, "workload_time_s")) ?
		    (snprintf(t, sizeof(t), "%.1f", json_number_value(
			     json_object_get(run, "workload_time_s"))), t) : "-",
	    (long long)json_integer_value(json_object_get(run, "host_swap_in_pages")),
	    (long long)json_integer_value(json_object_get(run, "host_swap_out_pages")),
	    (long long)json_integer_value(json_object_get(run, "oom_kills")),
	    (long long)json_integer_value(json_object_get(run, "guests_unfinished")),
	    json_number_value(json_object_get(run, "wall_s")));
}

/*
 * Every repetition of every mode, interleaved (rep 1 of each mode, then
 * rep 2, ...). Returns 1 when a run could not run or failed --check.
 */
static int bench_matrix(struct bench *b)
{
	const struct opts *o = &b->o;
	unsigned rep_base[BM_COUNT] = { 0 };
	int status = 0;

	if (o->keep)
		kept_reps(b->out_abs, rep_base);
	for (unsigned rep = 1; rep <= o->reps && !interrupted; rep++) {
		for (size_t k = 0; k < o->nmodes && !interrupted; k++) {
			enum bench_mode m = o->order[k];
			struct mode_runs *mr = &b->per_mode[m];
			json_t *run = run_one(o, &b->s, b->out_abs, b->image_dir, b->accel,
					      b->sprof, b->disk, m, rep_base[m] + rep);

			if (!run) {
				status = 1;
				continue;
			}
			if (interrupted) {
				json_decref(run);
				break;
			}
			say_run(run);
			if (o->check && check_run(run) < 0)
				status = 1;
			append_runs_csv(b->out_abs, run);
			if (mr->n < 64)
				mr->runs[mr->n++] = run;
			else
				json_decref(run);
		}
	}
	return status;
}

/*
 * OUT/summary.json over every run in OUT; with --demo that goes to
 * bench-summary.json and summary.json is the demo's with/without. Returns
 * 1 when the demo lacks one of its two runs.
 */
static int bench_summary(struct bench *b)
{
	const struct opts *o = &b->o;
	double total_s;
	struct mode_runs all[BM_COUNT];
	json_t *sum;
	char p[PATH_MAX + 32];
	int status = 0;

	load_runs(b->out_abs, all);
	sum = summary_json(o, &b->s, b->accel, all);
	for (int m = 0; m < BM_COUNT; m++)
		for (size_t i = 0; i < all[m].n; i++)
			json_decref(all[m].runs[i]);

	total_s = (double)(hx_now_ms() - b->t_start_ms) / 1000.0;
	if (o->demo) {
		const struct mode_runs *wo = &b->per_mode[o->order[0]];
		const struct mode_runs *wi = &b->per_mode[o->order[1]];

		snprintf(p, sizeof(p), "%s/bench-summary.json", b->out_abs);
		json_dump_file(sum, p, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
		if (wo->n && wi->n)
			demo_write(b->out_abs, wo->runs[0], wi->runs[0], total_s);
		else
			status = 1;
	} else {
		snprintf(p, sizeof(p), "%s/summary.json", b->out_abs);
		json_dump_file(sum, p, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
		say("written: %s (and runs/, runs.csv); %.0f s\n", p, total_s);
	}
	json_decref(sum);
	return status;
}

/* Scenario, host checks, image; signals caught. 0 or the exit status. */
static int bench_prepare(struct bench *b, int argc, char **argv)
{
	const struct opts *o = &b->o;
	int rc;

	if (optind < argc && !o->workload_path) {
		fprintf(stderr, "autoballoon-bench: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (o->demo && (o->nmodes != 2 || o->reps != 1)) {
		fprintf(stderr, "autoballoon-bench: --demo runs two modes (without, with) once\n");
		return 2;
	}
	hx_set_verbose(o->verbose);
	rc = bench_load_scenario(b);
	if (!rc)
		rc = bench_check_host(b);
	if (!rc)
		rc = bench_prepare_image(b);
	if (!rc)
		catch_signals();
	return rc;
}

int main(int argc, char **argv)
{
	struct bench b = { .o = { .scenario = "seed-small", .scenario_dir = "bench/scenarios",
				  .reps = 1, .image_dir = "build/guest", .status_every_s = 5 } };
	struct report_opts ro = { .md = "docs/benchmarks.md", .command = "make bench" };
	int rc, status;

	record_command(&b.o, argc, argv);
	parse_modes("none,fpr,auto", &b.o);
	sibling_binary("autoballoond", b.daemon_bin, sizeof(b.daemon_bin));
	sibling_binary("autoballoonctl", b.ctl_bin, sizeof(b.ctl_bin));
	b.o.daemon_bin = b.daemon_bin;
	b.o.ctl_bin = b.ctl_bin;
	rc = parse_args(argc, argv, &b.o, &ro);
	if (rc)
		return rc > 0 ? 0 : 2;
	if (ro.on)
		return report_main(&ro, &argv[optind], (size_t)(argc - optind));
	status = bench_prepare(&b, argc, argv);
	if (status)
		return status;

	rc = hx_guard_start();
	if (rc < 0) {
		fprintf(stderr, "autoballoon-bench: cleanup guard: %s\n", strerror(-rc));
		return 1;
	}
	b.t_start_ms = hx_now_ms();
	if (b.o.storage)
		snprintf(b.s.storage, sizeof(b.s.storage), "%s", b.o.storage);
	b.sprof = storage_profile_get(b.s.storage);
	status = bench_host_setup(&b);
	if (status) {
		hx_guard_stop();
		return status;
	}
	say("autoballoon-bench: scenario %s (%s), modes", b.s.name, b.s.description);
	for (size_t k = 0; k < b.o.nmodes; k++)
		say(" %s", bench_mode_name(b.o.order[k]));
	say(", %u rep(s), accel %s, storage %s, out %s\n", b.o.reps, b.accel,
	    b.sprof->name, b.o.out);

	status = bench_matrix(&b);
	if (b.swap)
		hx_swap_destroy(b.swap);
	hx_storage_destroy(b.disk);
	if (!interrupted && bench_summary(&b))
		status = 1;
	for (int m = 0; m < BM_COUNT; m++)
		for (size_t i = 0; i < b.per_mode[m].n; i++)
			json_decref(b.per_mode[m].runs[i]);
	hx_guard_stop();
	if (interrupted) {
		fprintf(stderr, "autoballoon-bench: interrupted; cleaned up\n");
		return 130;
	}
	return status;
}
