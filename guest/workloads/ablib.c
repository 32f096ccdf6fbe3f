/* ablib.c - shared helpers for the guest workloads (see ablib.h). */
#include "ablib.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 1024

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

__attribute__((format(printf, 2, 0)))
static void vemit(const char *event, const char *fmt, va_list ap)
{
	char buf[LINE_MAX_BYTES];
	int n = snprintf(buf, sizeof(buf), "AB %s", event);
	if (n < 0)
		return;
	size_t len = (size_t)n;
	if (fmt && fmt[0] && len < sizeof(buf) - 2) {
		buf[len++] = ' ';
		int m = vsnprintf(buf + len, sizeof(buf) - len - 1, fmt, ap);
		if (m > 0)
			len += (size_t)m;
		if (len > sizeof(buf) - 2)
			len = sizeof(buf) - 2;
	}
	buf[len++] = '\n';
	write_all(STDOUT_FILENO, buf, len);
}

void ab_emit(const char *event, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vemit(event, fmt, ap);
	va_end(ap);
}

void ab_die(const char *workload, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* keep the value one word: the AB format is space separated */
	for (char *p = msg; *p; p++)
		if (*p == ' ' || *p == '\t' || *p == '\n')
			*p = '_';
	ab_emit("error", "workload=%s msg=%s", workload, msg);
	exit(2);
}

/* ---- options ---- */

static bool parse_i64(const char *s, int64_t *ret)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 0);
	if (errno || end == s || *end)
		return false;
	*ret = v;
	return true;
}

static void usage(const char *workload, const struct ab_opt *opts)
{
	printf("usage: %s [key=value | value]...\n", workload);
	printf("  positional values fill the keys in this order:\n");
	for (const struct ab_opt *o = opts; o->name; o++)
		printf("  %-12s default %-8" PRId64 " %s\n", o->name, o->val,
		       o->help);
	exit(0);
}

void ab_parse_opts(const char *workload, int argc, char **argv,
		   struct ab_opt *opts)
{
	size_t npos = 0, nopts = 0;
	while (opts[nopts].name)
		nopts++;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!a[0])
			continue;
		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			usage(workload, opts);
		const char *eq = strchr(a, '=');
		struct ab_opt *o = NULL;
		const char *val = a;
		if (eq) {
			size_t klen = (size_t)(eq - a);
			for (size_t k = 0; k < nopts; k++)
				if (strlen(opts[k].name) == klen &&
				    !strncmp(opts[k].name, a, klen))
					o = &opts[k];
			if (!o)
				ab_die(workload, "unknown option %.*s",
				       (int)klen, a);
			val = eq + 1;
		} else {
			if (npos >= nopts)
				ab_die(workload, "too many arguments at %s", a);
			o = &opts[npos++];
		}
		if (!parse_i64(val, &o->val) || o->val < 0)
			ab_die(workload, "bad value %s for %s", val, o->name);
	}
}

int64_t ab_opt(const struct ab_opt *opts, const char *name)
{
	for (const struct ab_opt *o = opts; o->name; o++)
		if (!strcmp(o->name, name))
			return o->val;
	ab_die("ablib", "internal: no option %s", name);
}

/* ---- time ---- */

uint64_t ab_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t ab_now_ms(void)
{
	return ab_now_us() / 1000u;
}

void ab_sleep_ms(uint64_t ms)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ms / 1000u),
		.tv_nsec = (long)(ms % 1000u) * 1000000L,
	};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- PRNG ---- */

void ab_rng_seed(struct ab_rng *r, uint64_t seed)
{
	/* splitmix64 step so that small seeds give well-mixed states */
	uint64_t z = seed + 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	r->s = z ? z : 0x2545f4914f6cdd1dull;
}

uint64_t ab_rng_next(struct ab_rng *r)
{
	uint64_t x = r->s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545f4914f6cdd1dull;
}

uint64_t ab_rng_range(struct ab_rng *r, uint64_t lo, uint64_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + ab_rng_next(r) % (hi - lo + 1);
}

/* ---- data disk ---- */

static bool find_disk_by_serial(const char *serial, char *path, size_t len)
{
	DIR *d = opendir("/sys/block");
	if (!d)
		return false;
	struct dirent *e;
	bool found = false;
	while (!found && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char p[300], buf[64];
		if (strlen(e->d_name) > 200)
			continue;
		snprintf(p, sizeof(p), "/sys/block/%s/serial", e->d_name);
		FILE *f = fopen(p, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f)) {
			buf[strcspn(buf, "\r\n ")] = '\0';
			if (!strcmp(buf, serial)) {
				snprintf(path, len, "/dev/%.200s", e->d_name);
				found = true;
			}
		}
		fclose(f);
	}
	closedir(d);
	return found;
}

void ab_disk_open(const char *workload, struct ab_disk *d)
{
	memset(d, 0, sizeof(*d));
	const char *env = getenv("AB_DATA_DEV");
	if (env && env[0])
		snprintf(d->path, sizeof(d->path), "%s", env);
	else if (!find_disk_by_serial("abdata", d->path, sizeof(d->path)))
		ab_die(workload, "no data disk (serial abdata)");
	d->fd = open(d->path, O_RDWR | O_CLOEXEC);
	if (d->fd < 0)
		ab_die(workload, "open %s: %s", d->path, strerror(errno));
	uint64_t size = 0;
	if (ioctl(d->fd, BLKGETSIZE64, &size) < 0) {
		struct stat st;
		if (fstat(d->fd, &st) < 0)
			ab_die(workload, "size of %s: %s", d->path,
			       strerror(errno));
		size = (uint64_t)st.st_size;
	}
	if (size < 2 * AB_MIB)
		ab_die(workload, "data disk %s too small", d->path);
	d->size_bytes = size & ~(AB_MIB - 1);
	d->out_bytes = (d->size_bytes / 4) & ~(AB_MIB - 1);
	if (d->out_bytes < AB_MIB)
		d->out_bytes = AB_MIB;
	d->out_off = d->size_bytes - d->out_bytes;
	d->src_bytes = d->out_off;
}

uint64_t ab_disk_read(const char *workload, struct ab_disk *d, uint64_t off,
		      uint64_t len, uint64_t region)
{
	static char buf[AB_MIB];
	if (!region || region > d->size_bytes)
		region = d->size_bytes;
	uint64_t done = 0;
	while (done < len) {
		uint64_t pos = (off + done) % region;
		uint64_t n = len - done;
		if (n > sizeof(buf))
			n = sizeof(buf);
		if (n > region - pos)
			n = region - pos;
		ssize_t r = pread(d->fd, buf, n, (off_t)pos);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			ab_die(workload, "read %s at %" PRIu64 ": %s", d->path,
			       pos, r < 0 ? strerror(errno) : "EOF");
		done += (uint64_t)r;
	}
	return done;
}

uint64_t ab_disk_write_out(const char *workload, struct ab_disk *d,
			   uint64_t rel_off, uint64_t len, uint64_t seed)
{
	static uint64_t buf[AB_MIB / sizeof(uint64_t)];
	struct ab_rng r;
	ab_rng_seed(&r, seed);
	uint64_t done = 0;
	while (done < len) {
		uint64_t pos = (rel_off + done) % d->out_bytes;
		uint64_t n = len - done;
		if (n > sizeof(buf))
			n = sizeof(buf);
		if (n > d->out_bytes - pos)
			n = d->out_bytes - pos;
		for (size_t i = 0; i < n / sizeof(uint64_t); i++)
			buf[i] = ab_rng_next(&r);
		ssize_t w = pwrite(d->fd, buf, n, (off_t)(d->out_off + pos));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			ab_die(workload, "write %s: %s", d->path,
			       w < 0 ? strerror(errno) : "short");
		done += (uint64_t)w;
	}
	if (fdatasync(d->fd) < 0)
		ab_die(workload, "fdatasync %s: %s", d->path, strerror(errno));
	return done;
}

/* ---- anonymous memory ---- */

void *ab_anon_alloc(const char *workload, uint64_t bytes)
{
	void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		ab_die(workload, "mmap %" PRIu64 " MiB: %s", bytes / AB_MIB,
		       strerror(errno));
	return p;
}

void ab_anon_free(void *p, uint64_t bytes)
{
	if (p)
		munmap(p, bytes ? bytes : 1);
}

void ab_anon_touch(void *p, uint64_t bytes, uint64_t seed,
		   struct ab_touch_stats *st)
{
	volatile uint64_t *w = p;
	const uint64_t page_words = 4096 / sizeof(uint64_t);
	const uint64_t chunk = AB_MIB / sizeof(uint64_t);
	uint64_t nwords = bytes / sizeof(uint64_t);
	uint64_t t0 = ab_now_us(), max_us = 0;
	uint64_t x = seed | 1;
	for (uint64_t c = 0; c < nwords; c += chunk) {
		uint64_t c0 = ab_now_us();
		uint64_t end = c + chunk < nwords ? c + chunk : nwords;
		for (uint64_t i = c; i < end; i += page_words) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			w[i] = x;
		}
		uint64_t dt = ab_now_us() - c0;
		if (dt > max_us)
			max_us = dt;
	}
	if (st) {
		st->ms = (ab_now_us() - t0) / 1000u;
		st->max_chunk_ms = max_us / 1000u;
	}
}

uint64_t ab_anon_compute(void *p, uint64_t bytes, unsigned rounds)
{
	uint64_t *w = p;
	uint64_t nwords = bytes / sizeof(uint64_t);
	uint64_t sum = 0;
	for (uint64_t i = 0; i < nwords; i += 8) {
		uint64_t v = w[i] + i;
		for (unsigned k = 0; k < rounds; k++) {
			v ^= v >> 33;
			v *= 0xff51afd7ed558ccdull;
		}
		w[i] = v;
		sum += v;
	}
	return sum;
}

/* ---- guest counters ---- */

void ab_vmstat_read(struct ab_vmstat *v)
{
	memset(v, 0, sizeof(*v));
	FILE *f = fopen("/proc/vmstat", "r");
	if (!f)
		return;
	char key[64];
	unsigned long long val;
	while (fscanf(f, "%63s %llu", key, &val) == 2) {
		if (!strcmp(key, "oom_kill"))
			v->oom_kill = val;
		else if (!strcmp(key, "pswpin"))
			v->pswpin = val;
		else if (!strcmp(key, "pswpout"))
			v->pswpout = val;
		else if (!strcmp(key, "pgmajfault"))
			v->pgmajfault = val;
	}
	fclose(f);
}

void ab_result(const char *workload, uint64_t start_ms, const char *fmt, ...)
{
	char extra[768] = "";
	if (fmt && fmt[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(extra, sizeof(extra), fmt, ap);
		va_end(ap);
	}
	struct ab_vmstat v;
	ab_vmstat_read(&v);
	ab_emit("result",
		"workload=%s runtime_ms=%" PRIu64 "%s%s oom_kill=%" PRIu64
		" pswpin=%" PRIu64 " pswpout=%" PRIu64 " pgmajfault=%" PRIu64,
		workload, ab_now_ms() - start_ms, extra[0] ? " " : "", extra,
		v.oom_kill, v.pswpin, v.pswpout, v.pgmajfault);
}
