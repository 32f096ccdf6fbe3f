/* vab-check - guest side of tests/integration/test_module.c.
 *
 *   vab-check basic                 inflate/compact/deflate/rmmod sequence
 *   vab-check burst [mib=300] [hold=3] [cache=0]
 *   vab-check cache [read=400] [stream=20]
 *   vab-check modes [floor=600]     mode off, then auto with auto_floor_mb
 *   vab-check tight [mib=300] [read=400] [passes=1] [rate=0] [hold=3]
 *                                   page cache full, balloon squeezed, burst
 *
 * The host changes the balloon over QMP; this program sees it as the balloon
 * size in /proc/vmstat (balloon_inflate - balloon_deflate, kept by the kernel's
 * balloon API for the stock driver and ours alike) and waits until it
 * settles. Every step prints an "AB vab name=<step> ..." line with the
 * guest's counters and, when virtio_autoballoon is bound, its sysfs counters.
 */
#include "ablib.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NAME "vab-check"
#define SETTLE_MS 1500
#define WAIT_MS 120000

/* ---- readers ---- */

static int64_t file_key(const char *path, const char *key)
{
	FILE *f = fopen(path, "r");
	char k[128];
	long long v;
	int64_t r = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%127s %lld%*[^\n]", k, &v) == 2) {
		size_t n = strlen(k);
		if (n && k[n - 1] == ':')
			k[n - 1] = '\0';
		if (!strcmp(k, key)) {
			r = v;
			break;
		}
	}
	fclose(f);
	return r;
}

static int64_t vmstat(const char *key)
{
	return file_key("/proc/vmstat", key);
}

static int64_t meminfo_kib(const char *key)
{
	return file_key("/proc/meminfo", key);
}

/* Pages in the balloon as the kernel's balloon API counts them. */
static int64_t balloon_pages(void)
{
	return vmstat("balloon_inflate") - vmstat("balloon_deflate");
}

static char sysfs_dir[256];

static bool find_sysfs(void)
{
	glob_t g;

	if (sysfs_dir[0])
		return true;
	if (glob("/sys/bus/virtio/devices/*/autoballoon", 0, NULL, &g))
		return false;
	snprintf(sysfs_dir, sizeof(sysfs_dir), "%s", g.gl_pathv[0]);
	globfree(&g);
	return true;
}

static int64_t mod_counter(const char *name)
{
	char path[512];
	FILE *f;
	long long v;

	if (!find_sysfs())
		return -1;
	snprintf(path, sizeof(path), "%s/%s", sysfs_dir, name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* " m_last=..." from auto_last, spaces made commas (one AB value). */
static size_t mod_last(char *buf, size_t size)
{
	char path[512], line[256];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/auto_last", sysfs_dir);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	for (char *c = line; *c; c++)
		if (*c == ' ')
			*c = ',';
	n = (size_t)snprintf(buf, size, " m_last=%s", line);
	return n < size ? n : size - 1;
}

/* " key=value ..." for every numeric module counter (empty without one). */
static const char *mod_counters(void)
{
	static const char *const names[] = {
		"balloon_pages", "target_pages", "pending_pages",
		"inflated_pages", "deflated_host_pages", "deflated_auto_pages",
		"deflated_oom_pages", "migrated_pages", "auto_steps",
		"auto_steps_swap", "auto_steps_priority", "auto_steps_cache",
		"auto_probes", "auto_none_free", "auto_none_cache",
		"auto_none_rate", "auto_none_busy", "auto_none_floor",
		"auto_swap_pages", "auto_swap_inflate_pages",
		"auto_latency_last_us", "auto_latency_max_us",
		"auto_free_last_us",
	};
	static char buf[2048];
	size_t len = 0;

	buf[0] = '\0';
	if (!find_sysfs())
		return " module=none";
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len,
					" m_%s=%" PRId64, names[i],
					mod_counter(names[i]));
	len += mod_last(buf + len, sizeof(buf) - len);
	return buf;
}

static void write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || write(fd, val, strlen(val)) < 0)
		ab_die(NAME, "write %s: %s", path, strerror(errno));
	close(fd);
}

/*
 * Wait until the balloon differs from `from` and then stays put for
 * SETTLE_MS. Returns the settled size.
 */
static int64_t wait_settled(int64_t from)
{
	uint64_t end = ab_now_ms() + WAIT_MS, stable_since = 0;
	int64_t last = -1;

	while (ab_now_ms() < end) {
		int64_t b = balloon_pages();

		if (b != last) {
			last = b;
			stable_since = ab_now_ms();
		} else if (b != from && ab_now_ms() - stable_since >= SETTLE_MS) {
			return b;
		}
		ab_sleep_ms(100);
	}
	ab_die(NAME, "balloon did not move from %" PRId64 " (now %" PRId64 ")",
	       from, last);
}

static int64_t opt(int argc, char **argv, const char *key, int64_t def)
{
	size_t n = strlen(key);

	for (int i = 2; i < argc; i++)
		if (!strncmp(argv[i], key, n) && argv[i][n] == '=')
			return strtoll(argv[i] + n + 1, NULL, 10);
	return def;
}

static void ready(void)
{
	ab_emit("vab", "name=ready free_kib=%" PRId64 " total_kib=%" PRId64
		" balloon_pages=%" PRId64 "%s", meminfo_kib("MemFree"),
		meminfo_kib("MemTotal"), balloon_pages(), mod_counters());
}

/* ---- scenarios ---- */

static int basic(void)
{
	const uint64_t chunk = 2 * AB_MIB;
	struct ab_touch_stats ts;
	uint64_t free_b, hold, room, off, n;
	int64_t b1, b2, mig0;
	long rc;
	char *p;

	/*
	 * Touch nearly all free memory, then give most of it back, keeping one
	 * 2 MiB chunk in every n: the balloon (512 MiB) inflates into the holes,
	 * so its pages end up spread over the zone between chunks freed
	 * afterwards, and compaction always finds balloon pages below free
	 * ones.  n is chosen so that 512 MiB plus a margin stays free.
	 */
	free_b = (uint64_t)meminfo_kib("MemFree") * 1024;
	hold = free_b > 64 * AB_MIB ? free_b - 64 * AB_MIB : 0;
	hold -= hold % chunk;
	room = free_b > 640 * AB_MIB ? free_b - 640 * AB_MIB : 0;
	p = NULL;
	if (room >= chunk && hold >= 2 * chunk) {
		n = (hold + room - 1) / room;
		if (n < 2)
			n = 2;
		p = ab_anon_alloc(NAME, hold);
		/* no THP: a partly unmapped huge page is freed only later */
		madvise(p, hold, MADV_NOHUGEPAGE);
		ab_anon_touch(p, hold, 1, &ts);
		for (off = 0; off < hold; off += chunk)
			if ((off / chunk) % n)
				madvise(p + off, chunk, MADV_DONTNEED);
	}
	ready();

	b1 = wait_settled(0);
	ab_emit("vab", "name=inflated balloon_pages=%" PRId64 "%s", b1,
		mod_counters());

	if (p)
		ab_anon_free(p, hold);
	mig0 = vmstat("balloon_migrate");
	for (int i = 0; i < 10 && vmstat("balloon_migrate") == mig0; i++) {
		write_file("/proc/sys/vm/compact_memory", "1");
		ab_sleep_ms(200);
	}
	ab_emit("vab", "name=compacted balloon_migrate=%" PRId64
		" balloon_pages=%" PRId64 " compact_fail=%" PRId64 "%s",
		vmstat("balloon_migrate") - mig0, balloon_pages(),
		vmstat("compact_fail"), mod_counters());

	b2 = wait_settled(b1);
	ab_emit("vab", "name=deflated balloon_pages=%" PRId64 "%s", b2,
		mod_counters());

	rc = syscall(SYS_delete_module, "virtio_autoballoon", O_NONBLOCK);
	ab_emit("vab", "name=rmmod rc=%ld errno=%d balloon_pages=%" PRId64,
		rc, rc ? errno : 0, balloon_pages());
	return rc ? 1 : 0;
}

static int burst(int argc, char **argv)
{
	uint64_t bytes = (uint64_t)opt(argc, argv, "mib", 300) * AB_MIB;
	uint64_t hold_ms = (uint64_t)opt(argc, argv, "hold", 3) * 1000u;
	uint64_t cache_bytes = (uint64_t)opt(argc, argv, "cache", 0) * AB_MIB;
	struct ab_touch_stats ts;
	struct ab_disk d;
	int64_t b0, swo, swi, oom, defl, stall;

	if (cache_bytes)
		ab_disk_open(NAME, &d);
	ready();
	b0 = wait_settled(0);
	ab_emit("vab", "name=settled balloon_pages=%" PRId64 " free_kib=%"
		PRId64 " swap_out=%" PRId64 "%s", b0, meminfo_kib("MemFree"),
		vmstat("pswpout"), mod_counters());
	if (cache_bytes) {
		/* Page cache the burst can take first (read once: inactive). */
		ab_disk_read(NAME, &d, 0, cache_bytes, 0);
		ab_emit("vab", "name=cached mib=%" PRIu64 " buffers_kib=%" PRId64
			" cached_kib=%" PRId64 " free_kib=%" PRId64,
			cache_bytes / AB_MIB, meminfo_kib("Buffers"),
			meminfo_kib("Cached"), meminfo_kib("MemFree"));
	}
	ab_sleep_ms(1000);

	swo = vmstat("pswpout");
	swi = vmstat("pswpin");
	oom = vmstat("oom_kill");
	defl = vmstat("balloon_deflate");
	stall = vmstat("allocstall_dma32") + vmstat("allocstall_normal");
	void *p = ab_anon_alloc(NAME, bytes);
	ab_anon_touch(p, bytes, 7, &ts);
	ab_emit("vab", "name=burst mib=%" PRIu64 " touch_ms=%" PRIu64
		" max_chunk_ms=%" PRIu64 " swap_out=%" PRId64 " swap_in=%" PRId64
		" oom_kill=%" PRId64 " deflated=%" PRId64 " alloc_stall=%" PRId64
		" balloon_pages=%" PRId64 "%s", bytes / AB_MIB, ts.ms,
		ts.max_chunk_ms, vmstat("pswpout") - swo, vmstat("pswpin") - swi,
		vmstat("oom_kill") - oom, vmstat("balloon_deflate") - defl,
		vmstat("allocstall_dma32") + vmstat("allocstall_normal") - stall,
		balloon_pages(), mod_counters());
	ab_sleep_ms(hold_ms);
	ab_anon_free(p, bytes);
	ab_emit("vab", "name=done balloon_pages=%" PRId64, balloon_pages());
	return 0;
}

static int cache(int argc, char **argv)
{
	uint64_t read_bytes = (uint64_t)opt(argc, argv, "read", 400) * AB_MIB;
	uint64_t stream_ms = (uint64_t)opt(argc, argv, "stream", 20) * 1000u;
	struct ab_disk d;
	int64_t b0, b1, b2, b3;
	uint64_t pos = 0, total = 0, end;

	ab_disk_open(NAME, &d);
	ready();
	b0 = wait_settled(0);
	ab_emit("vab", "name=settled balloon_pages=%" PRId64 "%s", b0,
		mod_counters());

	ab_disk_read(NAME, &d, 0, read_bytes, 0);
	b1 = balloon_pages();
	ab_emit("vab", "name=read balloon_pages=%" PRId64 " mib=%" PRIu64
		" cached_kib=%" PRId64 " buffers_kib=%" PRId64 "%s", b1,
		read_bytes / AB_MIB, meminfo_kib("Cached"),
		meminfo_kib("Buffers"), mod_counters());

	sync();
	write_file("/proc/sys/vm/drop_caches", "3");
	ab_sleep_ms(1000);
	b2 = balloon_pages();
	ab_emit("vab", "name=drop_caches balloon_pages=%" PRId64
		" free_kib=%" PRId64 "%s", b2, meminfo_kib("MemFree"),
		mod_counters());

	end = ab_now_ms() + stream_ms;
	while (ab_now_ms() < end) {
		ab_disk_read(NAME, &d, pos, AB_MIB, 0);
		pos = (pos + AB_MIB) % d.size_bytes;
		total += AB_MIB;
	}
	b3 = balloon_pages();
	ab_emit("vab", "name=stream balloon_pages=%" PRId64 " mib=%" PRIu64
		" swap_out=%" PRId64 " refault_file=%" PRId64
		" activate_file=%" PRId64 "%s", b3, total / AB_MIB,
		vmstat("pswpout"), vmstat("workingset_refault_file"),
		vmstat("workingset_activate_file"), mod_counters());
	return 0;
}

/*
 * The guest's figures before a burst: what it could give the burst without
 * the balloon is its free memory plus the file LRU (page cache reclaimable
 * without swap). need_kib is the rest.
 */
static void emit_room(const char *step, uint64_t burst_bytes)
{
	int64_t free_kib = meminfo_kib("MemFree");
	int64_t afile = meminfo_kib("Active(file)");
	int64_t ifile = meminfo_kib("Inactive(file)");
	int64_t room = free_kib + afile + ifile;
	int64_t need = (int64_t)(burst_bytes / 1024) - room;

	ab_emit("vab", "name=%s balloon_pages=%" PRId64 " free_kib=%" PRId64
		" active_file_kib=%" PRId64 " inactive_file_kib=%" PRId64
		" anon_kib=%" PRId64 " need_kib=%" PRId64 " swap_out=%" PRId64
		"%s", step, balloon_pages(), free_kib, afile, ifile,
		meminfo_kib("Active(anon)") + meminfo_kib("Inactive(anon)"),
		need > 0 ? need : 0, vmstat("pswpout"), mod_counters());
}

/* Touch like ab_anon_touch(), at most `rate` MiB/s when rate > 0. */
static void touch_paced(char *p, uint64_t bytes, uint64_t rate,
			struct ab_touch_stats *ts)
{
	uint64_t t0 = ab_now_ms(), off, due, now;
	struct ab_touch_stats c;

	if (!rate) {
		ab_anon_touch(p, bytes, 11, ts);
		return;
	}
	ts->max_chunk_ms = 0;
	for (off = 0; off < bytes; off += AB_MIB) {
		ab_anon_touch(p + off, AB_MIB, 11 + off, &c);
		if (c.max_chunk_ms > ts->max_chunk_ms)
			ts->max_chunk_ms = c.max_chunk_ms;
		due = t0 + (off + AB_MIB) / AB_MIB * 1000u / rate;
		now = ab_now_ms();
		if (due > now)
			ab_sleep_ms(due - now);
	}
	ts->ms = ab_now_ms() - t0;
}

/*
 * A small guest whose page cache is full meets a burst larger than its free
 * memory and cache together (issue 16). The host sets a loose target first;
 * the guest reads `read` MiB, drops its caches and reads `passes` times more
 * (twice or more: the pages are on the active list); the host squeezes the
 * balloon; once it settled the guest touches `mib` MiB at once.
 */
static int tight(int argc, char **argv)
{
	uint64_t bytes = (uint64_t)opt(argc, argv, "mib", 300) * AB_MIB;
	uint64_t read_bytes = (uint64_t)opt(argc, argv, "read", 400) * AB_MIB;
	int64_t passes = opt(argc, argv, "passes", 1);
	uint64_t rate = (uint64_t)opt(argc, argv, "rate", 0);
	uint64_t hold_ms = (uint64_t)opt(argc, argv, "hold", 3) * 1000u;
	struct ab_touch_stats ts;
	struct ab_disk d;
	int64_t b0, b1, swo, swi, oom, defl, auto0;

	ab_disk_open(NAME, &d);
	ready();
	b0 = wait_settled(0);
	ab_disk_read(NAME, &d, 0, read_bytes, 0);
	sync();
	write_file("/proc/sys/vm/drop_caches", "3");
	for (int64_t i = 0; i < passes; i++)
		ab_disk_read(NAME, &d, 0, read_bytes, 0);
	ab_emit("vab", "name=cached loose_pages=%" PRId64 " balloon_pages=%"
		PRId64 " mib=%" PRIu64 " passes=%" PRId64 "%s", b0,
		balloon_pages(), read_bytes / AB_MIB, passes, mod_counters());

	b1 = wait_settled(balloon_pages());
	ab_sleep_ms(1000);
	emit_room("tight", bytes);

	swo = vmstat("pswpout");
	swi = vmstat("pswpin");
	oom = vmstat("oom_kill");
	defl = vmstat("balloon_deflate");
	auto0 = mod_counter("deflated_auto_pages");
	void *p = ab_anon_alloc(NAME, bytes);
	touch_paced(p, bytes, rate, &ts);
	ab_emit("vab", "name=burst mib=%" PRIu64 " touch_ms=%" PRIu64
		" max_chunk_ms=%" PRIu64 " squeezed_pages=%" PRId64
		" swap_out=%" PRId64 " swap_in=%" PRId64 " oom_kill=%" PRId64
		" deflated=%" PRId64 " deflated_auto=%" PRId64
		" balloon_pages=%" PRId64 "%s", bytes / AB_MIB, ts.ms,
		ts.max_chunk_ms, b1, vmstat("pswpout") - swo,
		vmstat("pswpin") - swi, vmstat("oom_kill") - oom,
		vmstat("balloon_deflate") - defl,
		mod_counter("deflated_auto_pages") - auto0, balloon_pages(),
		mod_counters());
	ab_sleep_ms(hold_ms);
	ab_anon_free(p, bytes);
	ab_emit("vab", "name=done balloon_pages=%" PRId64, balloon_pages());
	return 0;
}

/* Touch `mib` MiB, free it; print how the balloon moved. */
static void modes_burst(const char *step, uint64_t mib)
{
	int64_t b0 = balloon_pages(), swo = vmstat("pswpout");
	struct ab_touch_stats ts;
	void *p = ab_anon_alloc(NAME, mib * AB_MIB);

	ab_anon_touch(p, mib * AB_MIB, 3, &ts);
	ab_sleep_ms(500);
	ab_emit("vab", "name=%s mib=%" PRIu64 " before=%" PRId64
		" balloon_pages=%" PRId64 " swap_out=%" PRId64
		" oom_kill=%" PRId64 "%s", step, mib, b0, balloon_pages(),
		vmstat("pswpout") - swo, vmstat("oom_kill"), mod_counters());
	ab_anon_free(p, mib * AB_MIB);
}

static int modes(int argc, char **argv)
{
	char path[512], val[32];

	ready();
	wait_settled(0);
	if (!find_sysfs())
		ab_die(NAME, "virtio_autoballoon is not bound");
	snprintf(path, sizeof(path), "%s/mode", sysfs_dir);
	write_file(path, "off");
	modes_burst("off", 200);

	snprintf(val, sizeof(val), "%" PRId64, opt(argc, argv, "floor", 600));
	write_file("/sys/module/virtio_autoballoon/parameters/auto_floor_mb",
		   val);
	write_file(path, "auto");
	modes_burst("floor", 300);
	return 0;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";

	if (!strcmp(what, "basic"))
		return basic();
	if (!strcmp(what, "burst"))
		return burst(argc, argv);
	if (!strcmp(what, "cache"))
		return cache(argc, argv);
	if (!strcmp(what, "modes"))
		return modes(argc, argv);
	if (!strcmp(what, "tight"))
		return tight(argc, argv);
	ab_die(NAME, "usage: vab-check basic|burst|cache|modes|tight "
	       "[key=value ...]");
}
