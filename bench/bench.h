/* SPDX-License-Identifier: MIT */
/*
 * bench.h - autoballoon-bench internals shared by its source files:
 * modes, scenarios (bench/scenarios/NAME.ini), the report generator.
 */
#ifndef AB_BENCH_H
#define AB_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum bench_mode {
	BM_UNPRESSURED,	/* no slice limit (the physical limit), no daemon */
	BM_NONE,	/* no balloon action, free page reporting off */
	BM_FPR,		/* free page reporting only */
	BM_STATIC,	/* autoballoond policy = static */
	BM_PROXMOX,	/* autoballoond policy = proxmox */
	BM_MOM,		/* autoballoond policy = mom */
	BM_AUTO,	/* autoballoond policy = auto, stock guest driver */
	BM_AUTO_GUEST,	/* autoballoond auto + virtio_autoballoon.ko */
	BM_COUNT,
};

const char *bench_mode_name(enum bench_mode m);
int bench_mode_parse(const char *s, enum bench_mode *ret);
/* The daemon's policy name for a mode, or NULL when the mode runs no daemon. */
const char *bench_mode_policy(enum bench_mode m);

/*
 * Where the host swap and the guests' disk images live, and what their I/O
 * costs: `ram` is the machine as it is (here: a disk the hypervisor caches
 * in RAM); the others put both on one loop device whose I/O from the slice
 * is throttled to the profile (bench/README.md says where the figures come
 * from).
 */
struct storage_profile {
	const char *name;
	bool throttled;
	uint64_t iops;		/* read and write, each */
	uint64_t bps;		/* read and write, each */
};

/* NULL when NAME is no profile. */
const struct storage_profile *storage_profile_get(const char *name);

#define SCN_MAX_GUEST_SECTIONS 16

struct scenario_guest {
	unsigned index;		/* 1-based guest number this section is for */
	char workload[64];	/* "" = the [workload] one */
	char args[512];		/* "" = the [workload] one */
};

struct scenario {
	char name[64];
	char path[512];
	char description[512];
	unsigned guests;
	unsigned guest_mem_mib;
	unsigned slice_mem_mib;
	unsigned swap_mib;
	unsigned timeout_s;	/* cap for one run */
	unsigned stagger_s;	/* between QEMU starts */
	unsigned min_host_cpus;	/* refuse to run on smaller machines */
	unsigned min_host_mem_mib;
	char storage[8];	/* a storage_profile name; default "ram" */
	char metric[48];	/* a key of the workloads' result lines, summed over
				 * the guests per run ("" = none) */

	char workload[64];
	char args[512];		/* {i} {n} {i*K} are expanded per guest */
	unsigned data_disk_mib;
	bool data_fill;
	unsigned guest_swap_mib;	/* swap disk inside each guest, 0 = none */

	/* [daemon.SECTION] key = value: extra autoballoond configuration */
	struct { char section[16], key[48], value[128]; } dconf[32];
	size_t ndconf;

	struct scenario_guest guest[SCN_MAX_GUEST_SECTIONS];
	size_t nguest;
};

/*
 * Load a scenario: NAME_OR_PATH is a file path when it contains '/' or ends
 * in .ini, else DIR/NAME.ini. err gets "FILE:LINE: problem" on failure.
 */
int scenario_load(const char *dir, const char *name_or_path, struct scenario *s,
		  char *err, size_t errlen);
/* The workload and expanded args of guest i (0-based). */
void scenario_guest_workload(const struct scenario *s, unsigned i,
			     char *workload, size_t wlen, char *args, size_t alen);

/* ---- statistics ---- */

struct stat3 {
	bool valid;
	double median, min, max;
	size_t n;
};

/* Median/min/max of the non-NaN values. */
struct stat3 stat3_of(const double *v, size_t n);
json_t *stat3_json(const struct stat3 *s);

/* ---- report (bench_report.c) ---- */

/*
 * Read every DIR/summary.json and DIR/runs/ under each of `dirs`, write a
 * Markdown report to md_path and gnuplot PNGs into plot_dir (linked from the
 * report relative to md_path's directory). `command` is quoted verbatim.
 */
int bench_report(char *const *dirs, size_t ndirs, const char *md_path,
		 const char *plot_dir, const char *command);

#endif
