/* SPDX-License-Identifier: MIT */
#include "hostmem.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define STAT_FILE_MAX (64 * 1024)

const char *host_kind_name(enum host_kind k)
{
	switch (k) {
	case HOST_PROC:
		return "host";
	case HOST_CGROUP_V1:
		return "cgroup-v1";
	case HOST_CGROUP_V2:
		return "cgroup-v2";
	}
	return "?";
}

static int path_join(char *buf, size_t len, const char *dir, const char *file)
{
	int n = snprintf(buf, len, "%s/%s", dir, file);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int copy_path(char *dst, const char *src)
{
	size_t n = strlen(src);

	if (n >= PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(dst, src, n + 1);
	/* drop trailing slashes but keep "/" */
	while (n > 1 && dst[n - 1] == '/')
		dst[--n] = '\0';
	return 0;
}

int host_source_init(struct host_source *s, const char *proc_dir,
		     const char *cgroup_dir, int version)
{
	char p[PATH_MAX];
	int r;

	memset(s, 0, sizeof(*s));
	r = copy_path(s->proc_dir, proc_dir && *proc_dir ? proc_dir : "/proc");
	if (r < 0)
		return r;
	if (!cgroup_dir || !*cgroup_dir) {
		s->kind = HOST_PROC;
		return 0;
	}
	r = copy_path(s->cgroup_dir, cgroup_dir);
	if (r < 0)
		return r;
	if (version == 0) {
		if (path_join(p, sizeof(p), s->cgroup_dir, "memory.max") == 0 &&
		    access(p, R_OK) == 0)
			version = 2;
		else if (path_join(p, sizeof(p), s->cgroup_dir,
				   "memory.limit_in_bytes") == 0 &&
			 access(p, R_OK) == 0)
			version = 1;
		else
			return -ENOENT;
	}
	if (version != 1 && version != 2)
		return -EINVAL;
	s->kind = version == 2 ? HOST_CGROUP_V2 : HOST_CGROUP_V1;
	return 0;
}

int meminfo_parse(const char *text, struct meminfo *ret)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{ "MemTotal:", offsetof(struct meminfo, total) },
		{ "MemFree:", offsetof(struct meminfo, free) },
		{ "MemAvailable:", offsetof(struct meminfo, available) },
		{ "Buffers:", offsetof(struct meminfo, buffers) },
		{ "Cached:", offsetof(struct meminfo, cached) },
		{ "SwapTotal:", offsetof(struct meminfo, swap_total) },
		{ "SwapFree:", offsetof(struct meminfo, swap_free) },
	};
	unsigned found = 0;
	const char *line = text;

	memset(ret, 0, sizeof(*ret));
	while (line && *line) {
		for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
			size_t kl = strlen(keys[i].key);
			unsigned long long kb;
			char *end;

			if (strncmp(line, keys[i].key, kl) != 0)
				continue;
			errno = 0;
			kb = strtoull(line + kl, &end, 10);
			if (errno || end == line + kl || kb > UINT64_MAX / 1024)
				return -EINVAL;
			*(uint64_t *)((char *)ret + keys[i].off) = kb * 1024;
			found |= 1u << i;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	/* MemTotal and MemAvailable are required. */
	if (!(found & 1u) || !(found & 4u))
		return -ENODATA;
	if (ret->available > ret->total || ret->free > ret->total)
		return -EINVAL;
	return 0;
}

int memstat_get(const char *text, const char *key, uint64_t *ret)
{
	size_t kl = strlen(key);
	const char *line = text;

	while (line && *line) {
		if (strncmp(line, key, kl) == 0 && line[kl] == ' ') {
			char *end;
			unsigned long long v;

			errno = 0;
			v = strtoull(line + kl + 1, &end, 10);
			if (errno || end == line + kl + 1)
				return -EINVAL;
			*ret = v;
			return 0;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return -ENOENT;
}

static int read_meminfo(const char *proc_dir, struct meminfo *mi)
{
	char p[PATH_MAX];
	char *buf;
	int r;

	r = path_join(p, sizeof(p), proc_dir, "meminfo");
	if (r < 0)
		return r;
	r = read_file(p, STAT_FILE_MAX, &buf, NULL);
	if (r < 0)
		return r;
	r = meminfo_parse(buf, mi);
	free(buf);
	return r;
}

static int read_cg_u64(const struct host_source *s, const char *file, uint64_t *v)
{
	char p[PATH_MAX];
	int r = path_join(p, sizeof(p), s->cgroup_dir, file);

	return r < 0 ? r : read_u64_file(p, v);
}

int host_mem_read(const struct host_source *s, struct host_mem *ret)
{
	const char *limit_file = NULL, *usage_file = NULL, *inactive_key = NULL;
	uint64_t limit, usage, inactive = 0, swap = 0;
	struct meminfo mi;
	char p[PATH_MAX];
	char *stat;
	int r;

	r = read_meminfo(s->proc_dir, &mi);
	if (r < 0)
		return r;
	memset(ret, 0, sizeof(*ret));
	ret->swap_total_bytes = mi.swap_total;
	ret->swap_free_bytes = mi.swap_free;

	switch (s->kind) {
	case HOST_PROC:
		ret->total_bytes = mi.total;
		ret->avail_bytes = mi.available;
		ret->used_bytes = mi.total - mi.available;
		ret->swap_used_bytes = sat_sub(mi.swap_total, mi.swap_free);
		return 0;
	case HOST_CGROUP_V1:
		limit_file = "memory.limit_in_bytes";
		usage_file = "memory.usage_in_bytes";
		inactive_key = "total_inactive_file";
		break;
	case HOST_CGROUP_V2:
		limit_file = "memory.max";
		usage_file = "memory.current";
		inactive_key = "inactive_file";
		break;
	}
	r = read_cg_u64(s, limit_file, &limit);
	if (r < 0)
		return r;
	r = read_cg_u64(s, usage_file, &usage);
	if (r < 0)
		return r;
	/* Page cache charged to the slice can be dropped cheaply. */
	r = path_join(p, sizeof(p), s->cgroup_dir, "memory.stat");
	if (r == 0 && read_file(p, STAT_FILE_MAX, &stat, NULL) == 0) {
		if (memstat_get(stat, inactive_key, &inactive) < 0)
			inactive = 0;
		if (s->kind == HOST_CGROUP_V1 && memstat_get(stat, "total_swap", &swap) < 0)
			swap = 0;
		free(stat);
	}
	/* v2 keeps it in a file of its own (absent without swap accounting). */
	if (s->kind == HOST_CGROUP_V2 && read_cg_u64(s, "memory.swap.current", &swap) < 0)
		swap = 0;
	/* v1 "unlimited" is a huge page-aligned number; cap to the machine. */
	limit = MIN(limit, mi.total);
	ret->total_bytes = limit;
	ret->used_bytes = MIN(usage, limit);
	ret->swap_used_bytes = swap;
	ret->avail_bytes = MIN(sat_sub(limit, usage) + MIN(inactive, usage), limit);
	/* The slice can never have more than the machine has free. */
	ret->avail_bytes = MIN(ret->avail_bytes, mi.available);
	return 0;
}

int vmstat_read_swap(const char *proc_dir, struct vmstat_swap *ret)
{
	char p[PATH_MAX];
	char *buf;
	int r;

	r = path_join(p, sizeof(p), proc_dir, "vmstat");
	if (r < 0)
		return r;
	r = read_file(p, STAT_FILE_MAX, &buf, NULL);
	if (r < 0)
		return r;
	r = memstat_get(buf, "pswpin", &ret->pswpin);
	if (r == 0)
		r = memstat_get(buf, "pswpout", &ret->pswpout);
	free(buf);
	return r;
}

#define SMAPS_FILE_MAX (32u << 20)

/* "Key:   N kB" at line (key includes the colon): N in bytes. */
static bool smaps_kb(const char *line, const char *key, uint64_t *ret)
{
	size_t n = strlen(key);
	unsigned long long kb;
	char unit[4];

	if (strncmp(line, key, n) != 0 ||
	    sscanf(line + n, "%llu %3s", &kb, unit) != 2 || strcmp(unit, "kB") != 0 ||
	    kb > UINT64_MAX / 1024)
		return false;
	*ret = kb * 1024;
	return true;
}

int smaps_guest_ram(const char *text, uint64_t min_mapping, struct guest_ram *ret)
{
	bool counting = false;
	const char *line = text;

	memset(ret, 0, sizeof(*ret));
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		unsigned long long start, end;
		char perms[5];
		uint64_t v;

		if (sscanf(line, "%llx-%llx %4s ", &start, &end, perms) == 3 &&
		    strlen(perms) == 4) {
			counting = end > start && end - start >= min_mapping &&
				   perms[0] == 'r' && perms[1] == 'w' && perms[2] != 'x';
			if (counting) {
				ret->mapped_bytes += end - start;
				ret->mappings++;
			}
		} else if (counting) {
			if (smaps_kb(line, "Rss:", &v) ||
			    smaps_kb(line, "Private_Hugetlb:", &v) ||
			    smaps_kb(line, "Shared_Hugetlb:", &v))
				ret->resident_bytes += v;
			else if (smaps_kb(line, "Swap:", &v))
				ret->swap_bytes += v;
		}
		line = nl ? nl + 1 : NULL;
	}
	/* Never more resident than mapped, whatever the text claims. */
	ret->resident_bytes = MIN(ret->resident_bytes, ret->mapped_bytes);
	ret->swap_bytes = MIN(ret->swap_bytes, ret->mapped_bytes - ret->resident_bytes);
	return 0;
}

/* Read PROC_DIR/PID/FILE (at most max bytes) into *buf. */
static int pid_file_read(const char *proc_dir, int pid, const char *file, size_t max,
			 char **buf)
{
	char p[PATH_MAX];

	if (pid <= 0)
		return -EINVAL;
	if (snprintf(p, sizeof(p), "%s/%d/%s", proc_dir, pid, file) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	return read_file(p, max, buf, NULL);
}

int guest_ram_read(const char *proc_dir, int pid, uint64_t min_mapping,
		   struct guest_ram *ret)
{
	char *buf;
	int r = pid_file_read(proc_dir, pid, "smaps", SMAPS_FILE_MAX, &buf);

	if (r < 0)
		return r;
	r = smaps_guest_ram(buf, min_mapping, ret);
	free(buf);
	return r;
}

int stat_majflt_parse(const char *text, uint64_t *ret)
{
	const char *p = strrchr(text, ')');
	unsigned long long v;
	char *end;

	if (!p)
		return -EPROTO;
	/* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt */
	p++;
	for (int field = 3; field <= 12; field++) {
		while (*p == ' ')
			p++;
		if (!*p || *p == '\n')
			return -EPROTO;
		if (field == 12)
			break;
		while (*p && *p != ' ' && *p != '\n')
			p++;
	}
	if (*p < '0' || *p > '9')
		return -EPROTO;
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno || (*end != ' ' && *end != '\n' && *end))
		return -EPROTO;
	*ret = v;
	return 0;
}

int proc_majflt_read(const char *proc_dir, int pid, uint64_t *ret)
{
	char *buf;
	int r = pid_file_read(proc_dir, pid, "stat", 4096, &buf);

	if (r < 0)
		return r;
	r = stat_majflt_parse(buf, ret);
	free(buf);
	return r;
}

/* Value of the line "key N kB" anywhere in a status text. */
static bool status_kb(const char *text, const char *key, uint64_t *ret)
{
	for (const char *line = text; line && *line;) {
		if (smaps_kb(line, key, ret))
			return true;
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	return false;
}

int status_mem_parse(const char *text, struct status_mem *ret)
{
	uint64_t anon, shmem;

	if (!status_kb(text, "RssAnon:", &anon) || !status_kb(text, "RssShmem:", &shmem))
		return -ENOENT;
	ret->rss_bytes = anon + shmem;
	ret->swap_known = status_kb(text, "VmSwap:", &ret->swap_bytes);
	if (!ret->swap_known)
		ret->swap_bytes = 0;
	return 0;
}

static int status_mem_read(const char *proc_dir, int pid, struct status_mem *ret)
{
	char *buf;
	int r = pid_file_read(proc_dir, pid, "status", STAT_FILE_MAX, &buf);

	if (r < 0)
		return r;
	r = status_mem_parse(buf, ret);
	free(buf);
	return r;
}

int guest_ram_track(struct guest_ram_tracker *t, const char *proc_dir, int pid,
		    uint64_t boot_bytes, uint64_t now_ms)
{
	struct status_mem st;
	int64_t est;
	int r;

	if (pid <= 0) {
		t->known = false;
		return -ESRCH;
	}
	r = status_mem_read(proc_dir, pid, &st);
	if (r == 0 && (!t->known || now_ms - t->smaps_ms >= GUEST_RAM_SMAPS_MS)) {
		struct guest_ram g;

		r = guest_ram_read(proc_dir, pid, GUEST_RAM_MIN_MAPPING, &g);
		if (r == 0 && (g.mapped_bytes < boot_bytes / 2 ||
			       g.mapped_bytes > 2 * boot_bytes + GUEST_RAM_MIN_MAPPING))
			r = -EMEDIUMTYPE;
		if (r == 0) {
			t->smaps = g;
			t->smaps_ms = now_ms;
			t->overhead_bytes = (int64_t)st.rss_bytes - (int64_t)g.resident_bytes;
			t->swap_overhead_bytes = (int64_t)st.swap_bytes - (int64_t)g.swap_bytes;
		}
	}
	t->known = r == 0;
	if (r < 0)
		return r;
	est = (int64_t)st.rss_bytes - t->overhead_bytes;
	t->resident_bytes = est < 0 ? 0 : MIN((uint64_t)est, t->smaps.mapped_bytes);
	/* Without VmSwap: nothing known swapped, all unbacked room counts. */
	est = st.swap_known ? (int64_t)st.swap_bytes - t->swap_overhead_bytes : 0;
	t->swapped_bytes = est < 0 ? 0 : MIN((uint64_t)est,
					     t->smaps.mapped_bytes - t->resident_bytes);
	return 0;
}
