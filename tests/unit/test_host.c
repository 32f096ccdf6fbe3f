/* SPDX-License-Identifier: MIT */
/* Unit tests for host memory and PSI readers, against fake /proc and cgroups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostmem.h"
#include "pressure.h"
#include "util.h"

static const char meminfo[] =
	"MemTotal:       24576000 kB\n"
	"MemFree:        20000000 kB\n"
	"MemAvailable:   22000000 kB\n"
	"Buffers:           1000 kB\n"
	"Cached:         1500000 kB\n"
	"SwapCached:           0 kB\n"
	"SwapTotal:      1048576 kB\n"
	"SwapFree:       1000000 kB\n";

static void put(const char *dir, const char *file, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void unlink_file(const char *dir, const char *file)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	assert_int_equal(unlink(p), 0);
}

static void test_meminfo_parse(void **state)
{
	struct meminfo mi;

	assert_int_equal(meminfo_parse(meminfo, &mi), 0);
	assert_int_equal(mi.total, 24576000ULL * 1024);
	assert_int_equal(mi.available, 22000000ULL * 1024);
	assert_int_equal(mi.swap_free, 1000000ULL * 1024);
	assert_int_equal(meminfo_parse("MemFree: 5 kB\n", &mi), -ENODATA);
	assert_int_equal(meminfo_parse("MemTotal: lots kB\nMemAvailable: 1 kB\n", &mi), -EINVAL);
	assert_int_equal(meminfo_parse("MemTotal: 10 kB\nMemAvailable: 20 kB\n", &mi), -EINVAL);
	assert_int_equal(meminfo_parse("MemTotal: 99999999999999999999 kB\nMemAvailable: 1 kB\n",
				       &mi), -EINVAL);
	assert_int_equal(meminfo_parse("", &mi), -ENODATA);
}

static void test_memstat_get(void **state)
{
	const char *t = "cache 100\nrss 200\ntotal_inactive_file 300\ninactive_file 7\n";
	uint64_t v;

	assert_int_equal(memstat_get(t, "rss", &v), 0);
	assert_int_equal(v, 200);
	assert_int_equal(memstat_get(t, "inactive_file", &v), 0);
	assert_int_equal(v, 7);	/* not the "total_" one */
	assert_int_equal(memstat_get(t, "total_inactive_file", &v), 0);
	assert_int_equal(v, 300);
	assert_int_equal(memstat_get(t, "swap", &v), -ENOENT);
	assert_int_equal(memstat_get("rss x\n", "rss", &v), -EINVAL);
}

struct dirs {
	char root[64];
	char proc[96];
	char cg[96];
};

static int setup(void **state)
{
	struct dirs *d = calloc(1, sizeof(*d));

	snprintf(d->root, sizeof(d->root), "/tmp/abtest-host-XXXXXX");
	assert_non_null(mkdtemp(d->root));
	snprintf(d->proc, sizeof(d->proc), "%s/proc", d->root);
	snprintf(d->cg, sizeof(d->cg), "%s/slice", d->root);
	mkdir(d->proc, 0755);
	mkdir(d->cg, 0755);
	put(d->proc, "meminfo", meminfo);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dirs *d = *state;
	char cmd[200];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", d->root);
	assert_int_equal(system(cmd), 0);
	free(d);
	return 0;
}

static void test_host_proc(void **state)
{
	struct dirs *d = *state;
	struct host_source s;
	struct host_mem m;

	assert_int_equal(host_source_init(&s, d->proc, NULL, 0), 0);
	assert_int_equal(s.kind, HOST_PROC);
	assert_int_equal(host_mem_read(&s, &m), 0);
	assert_int_equal(m.total_bytes, 24576000ULL * 1024);
	assert_int_equal(m.avail_bytes, 22000000ULL * 1024);
	assert_int_equal(m.used_bytes, 2576000ULL * 1024);
	assert_int_equal(m.swap_total_bytes, 1048576ULL * 1024);
	assert_int_equal(m.swap_used_bytes, (1048576ULL - 1000000ULL) * 1024);
}

static void test_host_cgroup_v2(void **state)
{
	struct dirs *d = *state;
	struct host_source s;
	struct host_mem m;

	put(d->cg, "memory.max", "1073741824\n");
	put(d->cg, "memory.current", "1000000000\n");
	put(d->cg, "memory.stat", "anon 900000000\nfile 100000000\ninactive_file 50000000\n");
	assert_int_equal(host_source_init(&s, d->proc, d->cg, 0), 0);
	assert_int_equal(s.kind, HOST_CGROUP_V2);
	assert_int_equal(host_mem_read(&s, &m), 0);
	assert_int_equal(m.total_bytes, 1073741824);
	assert_int_equal(m.used_bytes, 1000000000);
	assert_int_equal(m.avail_bytes, 1073741824 - 1000000000 + 50000000);
	put(d->cg, "memory.swap.current", "20000000\n");
	assert_int_equal(host_mem_read(&s, &m), 0);
	assert_int_equal(m.swap_used_bytes, 20000000);
	unlink_file(d->cg, "memory.swap.current");

	/* "max": the machine bounds it */
	put(d->cg, "memory.max", "max\n");
	assert_int_equal(host_mem_read(&s, &m), 0);
	assert_int_equal(m.total_bytes, 24576000ULL * 1024);
	assert_true(m.avail_bytes <= 22000000ULL * 1024);

	/* usage above the limit (it happens transiently): no underflow */
	put(d->cg, "memory.max", "500000000\n");
	put(d->cg, "memory.stat", "garbage\n");
	assert_int_equal(host_mem_read(&s, &m), 0);
	assert_int_equal(m.used_bytes, 500000000);
	assert_int_equal(m.avail_bytes, 0);

	put(d->cg, "memory.current", "a lot\n");
	assert_int_not_equal(host_mem_read(&s, &m), 0);
}

static void test_host_cgroup_v1(void **state)
{
	struct dirs *d = *state;
	struct host_source s;
	struct host_mem m;

	put(d->cg, "memory.limit_in_bytes", "9223372036854771712\n");	/* unlimited */
	put(d->cg, "memory.usage_in_bytes", "2000000000\n");
	put(d->cg, "memory.stat", "cache 10\ninactive_file 1\ntotal_inactive_file 100000000\n"
	    "swap 5\ntotal_swap 300000000\n");
	assert_int_equal(host_source_init(&s, d->proc, d->cg, 0), 0);
	assert_int_equal(s.kind, HOST_CGROUP_V1);
	assert_int_equal(host_mem_read(&s, &m), 0);
	assert_int_equal(m.total_bytes, 24576000ULL * 1024);
	put(d->cg, "memory.limit_in_bytes", "3000000000\n");
	assert_int_equal(host_mem_read(&s, &m), 0);
	assert_int_equal(m.total_bytes, 3000000000ULL);
	assert_int_equal(m.swap_used_bytes, 300000000ULL);
	assert_int_equal(m.avail_bytes, 1000000000ULL + 100000000ULL);
	/* a directory that is no cgroup */
	assert_int_equal(host_source_init(&s, d->proc, d->root, 0), -ENOENT);
	assert_int_equal(host_source_init(&s, d->proc, d->cg, 3), -EINVAL);
}

static void test_psi_parse(void **state)
{
	struct psi_avgs a;

	assert_int_equal(psi_parse("some avg10=1.50 avg60=0.20 avg300=0.00 total=123456\n"
				   "full avg10=0.75 avg60=0.00 avg300=0.00 total=100\n", &a), 0);
	assert_true(a.some_avg10 == 1.5);
	assert_true(a.full_avg10 == 0.75);
	assert_int_equal(a.some_total_us, 123456);
	assert_int_equal(psi_parse("some avg10=1.50 avg60=0.20 avg300=0.00 total=1\n", &a), 0);
	assert_int_not_equal(psi_parse("", &a), 0);
	assert_int_not_equal(psi_parse("full avg10=1 avg60=0 avg300=0 total=1\n", &a), 0);
	assert_int_not_equal(psi_parse("some avg10=x\n", &a), 0);
	assert_int_not_equal(psi_parse("some avg10=500.0 avg60=0 avg300=0 total=1\n", &a), 0);
}

static void test_vmstat(void **state)
{
	struct dirs *d = *state;
	struct vmstat_swap v;

	put(d->proc, "vmstat", "nr_free_pages 1\npswpin 42\npswpout 4242\n");
	assert_int_equal(vmstat_read_swap(d->proc, &v), 0);
	assert_int_equal(v.pswpin, 42);
	assert_int_equal(v.pswpout, 4242);
}

static void test_psi_trigger_on_real_kernel(void **state)
{
	struct pressure_mon m;
	int r;

	pressure_mon_init(&m);
	r = psi_trigger_open(&m, "/proc/pressure/memory", 100000, 1000000);
	if (r == -ENOENT || r == -EACCES || r == -EPERM || r == -EOPNOTSUPP)
		skip();	/* cmocka prints SKIPPED: no PSI here */
	assert_int_equal(r, 0);
	assert_int_equal(m.kind, PRESSURE_PSI);
	print_message("PSI trigger: %s\n", m.source);
	pressure_mon_close(&m);
	/* a trigger the kernel refuses (stall longer than the window) */
	assert_int_not_equal(psi_trigger_open(&m, "/proc/pressure/memory", 5000000, 2000000), 0);
}

static const char smaps_qemu[] =
	/* the guest's RAM: 512 MiB, 300 resident, 10 swapped */
	"7f0000000000-7f0020000000 rw-p 00000000 00:00 0 \n"
	"Size:             524288 kB\n"
	"Rss:              307200 kB\n"
	"Anonymous:        307200 kB\n"
	"Swap:              10240 kB\n"
	"VmFlags: rd wr mr mw me ac sd \n"
	/* TCG's code buffer: executable, not guest RAM */
	"7f1000000000-7f1004000000 rwxp 00000000 00:00 0 \n"
	"Size:              65536 kB\n"
	"Rss:               20480 kB\n"
	/* the heap: small */
	"55d000000000-55d000a00000 rw-p 00000000 00:00 0          [heap]\n"
	"Size:              10240 kB\n"
	"Rss:               10240 kB\n"
	/* a DIMM backed by hugetlbfs: Rss 0, the huge pages count */
	"7f2000000000-7f2010000000 rw-s 00000000 00:10 42         /dev/hugepages/dimm0 (deleted)\n"
	"Size:             262144 kB\n"
	"Rss:                   0 kB\n"
	"Shared_Hugetlb:   131072 kB\n"
	"Private_Hugetlb:       0 kB\n"
	"Swap:                  0 kB\n"
	/* a large read-only file mapping */
	"7f3000000000-7f3040000000 r--p 00000000 08:01 7          /usr/share/x\n"
	"Rss:              900000 kB\n";

static void test_smaps_guest_ram(void **state)
{
	struct dirs *d = *state;
	struct guest_ram g;
	char pid_dir[600];

	assert_int_equal(smaps_guest_ram(smaps_qemu, 64 * MIB, &g), 0);
	assert_int_equal(g.mappings, 2);
	assert_int_equal(g.mapped_bytes, 768 * MIB);
	assert_int_equal(g.resident_bytes, (300 + 128) * MIB);
	assert_int_equal(g.swap_bytes, 10 * MIB);
	/* a lower threshold picks up the heap too */
	assert_int_equal(smaps_guest_ram(smaps_qemu, 8 * MIB, &g), 0);
	assert_int_equal(g.mappings, 3);
	/* garbage: nothing counted, no crash, never more resident than mapped */
	assert_int_equal(smaps_guest_ram("", MIB, &g), 0);
	assert_int_equal(g.mappings, 0);
	assert_int_equal(smaps_guest_ram("zz-yy rw-p\nRss: -5 kB\nRss: x\n", MIB, &g), 0);
	assert_int_equal(g.resident_bytes, 0);
	assert_int_equal(smaps_guest_ram("0-100000 rw-p 0 0:0 0\nRss: 99999999 kB\n"
					 "Swap: 99999999 kB\n", MIB, &g), 0);
	assert_int_equal(g.resident_bytes, MIB);
	assert_int_equal(g.swap_bytes, 0);

	/* the reader: /proc/PID/smaps under an injectable proc dir */
	snprintf(pid_dir, sizeof(pid_dir), "%s/4242", d->proc);
	assert_int_equal(mkdir(pid_dir, 0755), 0);
	put(pid_dir, "smaps", smaps_qemu);
	assert_int_equal(guest_ram_read(d->proc, 4242, 64 * MIB, &g), 0);
	assert_int_equal(g.resident_bytes, (300 + 128) * MIB);
	assert_int_equal(guest_ram_read(d->proc, 4243, 64 * MIB, &g), -ENOENT);
	assert_int_equal(guest_ram_read(d->proc, 0, 64 * MIB, &g), -EINVAL);
}

static void put_status_swap(const char *dir, unsigned anon_mib, unsigned shmem_mib,
			    unsigned swap_mib)
{
	char text[256];

	snprintf(text, sizeof(text), "Name:\tqemu-g1\nVmRSS:\t  999 kB\nRssAnon:\t  %u kB\n"
		 "RssFile:\t   85144 kB\nRssShmem:\t  %u kB\nVmSwap:\t  %u kB\n",
		 anon_mib * 1024, shmem_mib * 1024, swap_mib * 1024);
	put(dir, "status", text);
}

/* QEMU with 10 MiB of guest RAM (smaps_qemu) and 2 of its own in swap */
static void put_status(const char *dir, unsigned anon_mib, unsigned shmem_mib)
{
	put_status_swap(dir, anon_mib, shmem_mib, 12);
}

static void test_guest_ram_tracker(void **state)
{
	struct dirs *d = *state;
	struct guest_ram_tracker t = { 0 };
	struct status_mem st;
	char pid_dir[600];

	assert_int_equal(status_mem_parse("RssAnon:\t 10 kB\nRssShmem:\t 2 kB\n"
					  "VmSwap:\t 7 kB\n", &st), 0);
	assert_int_equal(st.rss_bytes, 12 * 1024);
	assert_true(st.swap_known);
	assert_int_equal(st.swap_bytes, 7 * 1024);
	/* no VmSwap (an old kernel): rss only, swap unknown */
	assert_int_equal(status_mem_parse("RssShmem:\t 2 kB\nRssAnon:\t 10 kB\n", &st), 0);
	assert_int_equal(st.rss_bytes, 12 * 1024);
	assert_false(st.swap_known);
	assert_int_equal(st.swap_bytes, 0);
	assert_int_equal(status_mem_parse("RssAnon:\t 10 kB\n", &st), -ENOENT);
	assert_int_equal(status_mem_parse("", &st), -ENOENT);

	snprintf(pid_dir, sizeof(pid_dir), "%s/77", d->proc);
	assert_int_equal(mkdir(pid_dir, 0755), 0);
	/* no status: unknown */
	assert_int_equal(guest_ram_track(&t, d->proc, 77, 512 * MIB, 1000), -ENOENT);
	assert_false(t.known);
	/* 512 MiB guest (in smaps_qemu: 300 resident + 128 hugetlb of a DIMM);
	 * status counts 100 MiB of QEMU's own on top */
	put(pid_dir, "smaps", smaps_qemu);
	put_status(pid_dir, 400, 128);
	assert_int_equal(guest_ram_track(&t, d->proc, 77, 512 * MIB, 1000), 0);
	assert_true(t.known);
	assert_int_equal(t.resident_bytes, 428 * MIB);
	assert_int_equal(t.swapped_bytes, 10 * MIB);
	/* the guest touches 50 MiB: status shows it at once, smaps is not reread */
	put(pid_dir, "smaps", "garbage\n");
	put_status(pid_dir, 450, 128);
	assert_int_equal(guest_ram_track(&t, d->proc, 77, 512 * MIB, 2000), 0);
	assert_int_equal(t.resident_bytes, 478 * MIB);
	/* the host swaps out 100 MiB of it: status shows that too */
	put_status_swap(pid_dir, 350, 128, 112);
	assert_int_equal(guest_ram_track(&t, d->proc, 77, 512 * MIB, 2500), 0);
	assert_int_equal(t.resident_bytes, 378 * MIB);
	assert_int_equal(t.swapped_bytes, 110 * MIB);
	/* QEMU's own swap going back in does not make it negative */
	put_status_swap(pid_dir, 350, 128, 0);
	assert_int_equal(guest_ram_track(&t, d->proc, 77, 512 * MIB, 2600), 0);
	assert_int_equal(t.swapped_bytes, 0);
	/* reported 400 MiB back: down to what QEMU itself holds, not below 0 */
	put_status(pid_dir, 20, 128);
	assert_int_equal(guest_ram_track(&t, d->proc, 77, 512 * MIB, 3000), 0);
	assert_int_equal(t.resident_bytes, 48 * MIB);
	put_status(pid_dir, 0, 0);
	assert_int_equal(guest_ram_track(&t, d->proc, 77, 512 * MIB, 4000), 0);
	assert_int_equal(t.resident_bytes, 0);
	/* never more than the guest RAM mapped */
	put_status(pid_dir, 4000, 0);
	assert_int_equal(guest_ram_track(&t, d->proc, 77, 512 * MIB, 5000), 0);
	assert_int_equal(t.resident_bytes, 768 * MIB);
	assert_int_equal(t.swapped_bytes, 0);	/* nothing left unbacked to be in swap */
	/* GUEST_RAM_SMAPS_MS later smaps is read again: garbage, not a QEMU */
	assert_int_equal(guest_ram_track(&t, d->proc, 77, 512 * MIB, 1000 + GUEST_RAM_SMAPS_MS),
			 -EMEDIUMTYPE);
	assert_false(t.known);
	/* a QEMU again, but with a 4 GiB guest: 768 MiB of RAM mappings is no match */
	put(pid_dir, "smaps", smaps_qemu);
	assert_int_equal(guest_ram_track(&t, d->proc, 77, 4096 * MIB, 20000), -EMEDIUMTYPE);
	/* the right size: known, the calibration redone at once */
	put_status(pid_dir, 330, 128);
	assert_int_equal(guest_ram_track(&t, d->proc, 77, 768 * MIB, 20001), 0);
	assert_int_equal(t.resident_bytes, 428 * MIB);
	assert_int_equal(guest_ram_track(&t, d->proc, 0, 768 * MIB, 20002), -ESRCH);
	assert_false(t.known);
}

/* Against this kernel's smaps: a mapping of ours, half touched. */
static void test_guest_ram_on_real_kernel(void **state)
{
	size_t len = 96 * MIB;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct guest_ram g;

	assert_true(p != MAP_FAILED);
	memset(p, 1, len / 2);
	assert_int_equal(guest_ram_read("/proc", (int)getpid(), 80 * MIB, &g), 0);
	/* ours, and maybe the sanitizers' large shadow mappings */
	assert_true(g.mappings >= 1);
	assert_true(g.resident_bytes >= len / 2);
	assert_true(g.mapped_bytes >= len);
	munmap(p, len);
}

static void test_stat_majflt(void **state)
{
	uint64_t v = 0;

	/* a comm with spaces and a parenthesis, as /proc shows it */
	assert_int_equal(stat_majflt_parse("4242 (qemu (x) 1) S 1 4242 4242 0 -1 4194560 "
					   "123456 0 789 0 50 60 0 0 20 0 5 0 1000\n", &v), 0);
	assert_int_equal(v, 789);
	assert_int_equal(stat_majflt_parse("1 (a) S 1 1 1 0 -1 0 5 0", &v), -EPROTO);
	assert_int_equal(stat_majflt_parse("1 (a) S 1 1 1 0 -1 0 5 0 x 0", &v), -EPROTO);
	assert_int_equal(stat_majflt_parse("no parenthesis", &v), -EPROTO);
	assert_int_equal(v, 789);
	/* this process: a number */
	assert_int_equal(proc_majflt_read("/proc", (int)getpid(), &v), 0);
	assert_int_equal(proc_majflt_read("/nonexistent", 1, &v) < 0, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_meminfo_parse),
		cmocka_unit_test(test_memstat_get),
		cmocka_unit_test_setup_teardown(test_host_proc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_cgroup_v2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_cgroup_v1, setup, teardown),
		cmocka_unit_test(test_psi_parse),
		cmocka_unit_test_setup_teardown(test_vmstat, setup, teardown),
		cmocka_unit_test(test_psi_trigger_on_real_kernel),
		cmocka_unit_test_setup_teardown(test_smaps_guest_ram, setup, teardown),
		cmocka_unit_test(test_guest_ram_on_real_kernel),
		cmocka_unit_test(test_stat_majflt),
		cmocka_unit_test_setup_teardown(test_guest_ram_tracker, setup, teardown),
	};

	return cmocka_run_group_tests_name("host", tests, NULL, NULL);
}
