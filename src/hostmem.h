/* SPDX-License-Identifier: MIT */
/*
 * hostmem.h - how much memory the "host" has and uses. The host is either
 * the whole machine (/proc/meminfo) or one cgroup (a libvirt machine.slice, a
 * test slice): v2 memory.max/memory.current/memory.stat or v1
 * memory.limit_in_bytes/memory.usage_in_bytes/memory.stat.
 *
 * Every path is given by the caller, so tests feed temp files.
 */
#ifndef AB_HOSTMEM_H
#define AB_HOSTMEM_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

enum host_kind { HOST_PROC, HOST_CGROUP_V1, HOST_CGROUP_V2 };

struct host_source {
	enum host_kind kind;
	char proc_dir[PATH_MAX];	/* "/proc" normally */
	char cgroup_dir[PATH_MAX];	/* HOST_CGROUP_*: the slice */
};

struct host_mem {
	uint64_t total_bytes;	/* MemTotal, or the cgroup limit (capped to MemTotal) */
	uint64_t used_bytes;	/* MemTotal - MemAvailable, or cgroup usage */
	/* What can be had without swapping: MemAvailable, or for a cgroup
	 * limit - usage + inactive file pages charged to it. */
	uint64_t avail_bytes;
	/* Memory in swap: the cgroup's, or the whole host's. Its growth
	 * means the kernel is swapping now: pressure, whatever avail says. */
	uint64_t swap_used_bytes;
	uint64_t swap_total_bytes;
	uint64_t swap_free_bytes;
};

struct meminfo {
	uint64_t total, free, available, buffers, cached, swap_total, swap_free;
};

struct vmstat_swap {
	uint64_t pswpin, pswpout;	/* pages */
};

/*
 * Set up a source. cgroup_dir NULL or "" means the whole host. version 0
 * detects v1/v2 from the files present in cgroup_dir.
 */
int host_source_init(struct host_source *s, const char *proc_dir,
		     const char *cgroup_dir, int version);
int host_mem_read(const struct host_source *s, struct host_mem *ret);
const char *host_kind_name(enum host_kind k);

/* Pure parsers (exported for tests). Values in bytes. */
int meminfo_parse(const char *text, struct meminfo *ret);
/* Value of "key N" in a memory.stat style text; -ENOENT when absent. */
int memstat_get(const char *text, const char *key, uint64_t *ret);
int vmstat_read_swap(const char *proc_dir, struct vmstat_swap *ret);

/*
 * The host memory behind one VM's guest RAM: QEMU's guest RAM blocks are
 * its large writable, non-executable mappings (anonymous, memfd, shared
 * memory or hugetlbfs); everything else QEMU maps is far smaller, and the
 * TCG code buffer is executable. From /proc/PID/smaps.
 */
struct guest_ram {
	uint64_t mapped_bytes;		/* size of the mappings counted */
	uint64_t resident_bytes;	/* Rss (+ hugetlb pages) in them */
	uint64_t swap_bytes;		/* of them, in the host's swap */
	unsigned mappings;
};

/*
 * Mappings this large are guest RAM: QEMU's own largest writable ones are
 * glibc's malloc arenas (at most 64 MiB each).
 */
#define GUEST_RAM_MIN_MAPPING ((64ULL << 20) + 4096)

/* Parse smaps text: mappings of at least min_mapping bytes count. */
int smaps_guest_ram(const char *text, uint64_t min_mapping, struct guest_ram *ret);
/*
 * Read /proc/PID/smaps under proc_dir. -ENOENT when the process is gone,
 * -EACCES when it is not ours to read.
 */
int guest_ram_read(const char *proc_dir, int pid, uint64_t min_mapping,
		   struct guest_ram *ret);

/* A /proc/PID/status text: RssAnon + RssShmem, and VmSwap when shown. */
struct status_mem {
	uint64_t rss_bytes;
	bool swap_known;
	uint64_t swap_bytes;
};

/* -ENOENT without RssAnon and RssShmem. */
int status_mem_parse(const char *text, struct status_mem *ret);

/*
 * A process's major faults (/proc/PID/stat field 12): for a QEMU, mostly
 * the guest touching RAM the host had swapped out. -EPROTO on a malformed
 * text; the comm field may hold spaces and parentheses.
 */
int stat_majflt_parse(const char *text, uint64_t *ret);
int proc_majflt_read(const char *proc_dir, int pid, uint64_t *ret);

/*
 * What the host backs of one guest, kept fresh cheaply: smaps costs
 * milliseconds for a large guest (the kernel walks its page tables), status
 * microseconds. So smaps is read every GUEST_RAM_SMAPS_MS to learn how much
 * of QEMU's anonymous and shared memory is not guest RAM (its heap, TCG's
 * buffer), and in between the guest's resident RAM is status' RssAnon +
 * RssShmem minus that; likewise its RAM in the host's swap is status'
 * VmSwap minus what of QEMU's own memory smaps showed swapped.
 */
#define GUEST_RAM_SMAPS_MS 10000

struct guest_ram_tracker {
	bool known;
	uint64_t resident_bytes;	/* estimate, when known */
	struct guest_ram smaps;		/* the last smaps reading */
	uint64_t swapped_bytes;		/* estimate of guest RAM in host swap */
	int64_t overhead_bytes;		/* status Rss - smaps resident, then */
	int64_t swap_overhead_bytes;	/* status VmSwap - smaps swap, then */
	uint64_t smaps_ms;		/* when smaps was read (0: never) */
};

/*
 * Update t for the process pid, whose guest has boot_bytes of RAM. Returns 0
 * (t->known), or a negative errno: -EMEDIUMTYPE when the process has no guest
 * RAM mappings of about that size (it is not the guest's QEMU).
 */
int guest_ram_track(struct guest_ram_tracker *t, const char *proc_dir, int pid,
		    uint64_t boot_bytes, uint64_t now_ms);

#endif
