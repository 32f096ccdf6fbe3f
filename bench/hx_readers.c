/* SPDX-License-Identifier: MIT */
/*
 * hx_readers.c - host and process readers (see harness.h): /proc/vmstat,
 * PSI files, a process's RSS, swap, CPU time and major faults.
 */
#include "harness.h"
#include "hx_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int hx_vmstat_read(const char *path, struct hx_vmstat *ret)
{
	memset(ret, 0, sizeof(*ret));
	FILE *f = fopen(path ? path : "/proc/vmstat", "re");
	if (!f)
		return -errno;
	char key[128];
	unsigned long long val;
	while (fscanf(f, "%127s %llu", key, &val) == 2) {
		if (!strcmp(key, "pswpin"))
			ret->pswpin = val;
		else if (!strcmp(key, "pswpout"))
			ret->pswpout = val;
		else if (!strcmp(key, "pgmajfault"))
			ret->pgmajfault = val;
		else if (!strcmp(key, "oom_kill"))
			ret->oom_kill = val;
	}
	fclose(f);
	return 0;
}

int hx_proc_stats(pid_t pid, struct hx_proc_stats *ret)
{
	char path[64], buf[4096];
	memset(ret, 0, sizeof(*ret));
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	ssize_t n = hxu_read_text(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	char *save = NULL;
	for (char *l = strtok_r(buf, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		unsigned long long kib;
		if (sscanf(l, "VmRSS: %llu kB", &kib) == 1)
			ret->rss_bytes = kib * 1024u;
		else if (sscanf(l, "VmHWM: %llu kB", &kib) == 1)
			ret->hwm_bytes = kib * 1024u;
		else if (sscanf(l, "VmSwap: %llu kB", &kib) == 1)
			ret->swap_bytes = kib * 1024u;
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = hxu_read_text(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	char *p = strrchr(buf, ')');
	if (!p)
		return -EINVAL;
	/* after ')': majflt is word 9, utime 11, stime 12 (fields 12, 14, 15) */
	unsigned long long ut = 0, stime = 0;
	char *tok = strtok_r(p + 1, " ", &save);
	for (int i = 0; tok && i <= 12; i++) {
		if (i == 9)
			ret->majflt = strtoull(tok, NULL, 10);
		if (i == 11)
			ut = strtoull(tok, NULL, 10);
		if (i == 12)
			stime = strtoull(tok, NULL, 10);
		tok = strtok_r(NULL, " ", &save);
	}
	long hz = sysconf(_SC_CLK_TCK);
	ret->cpu_ms = (ut + stime) * 1000u / (uint64_t)(hz > 0 ? hz : 100);
	return 0;
}

int hx_psi_read(const char *path, struct hx_psi *ret)
{
	char buf[512];
	memset(ret, 0, sizeof(*ret));
	ssize_t n = hxu_read_text(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	int found = 0;
	char *save = NULL;
	for (char *l = strtok_r(buf, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		double a10, a60, a300;
		unsigned long long total;
		char kind[8];
		if (sscanf(l, "%7s avg10=%lf avg60=%lf avg300=%lf total=%llu",
			   kind, &a10, &a60, &a300, &total) != 5)
			continue;
		if (!strcmp(kind, "some")) {
			ret->some_avg10 = a10;
			ret->some_avg60 = a60;
			ret->some_avg300 = a300;
			ret->some_total_us = total;
			found++;
		} else if (!strcmp(kind, "full")) {
			ret->full_avg10 = a10;
			ret->full_avg60 = a60;
			ret->full_avg300 = a300;
			ret->full_total_us = total;
			found++;
		}
	}
	return found ? 0 : -EINVAL;
}
