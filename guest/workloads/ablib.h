/* ablib.h - shared helpers for the guest workloads.
 *
 * Every workload is a small static program run by the guest image's /init.
 * Results go to stdout (the serial console) as single lines
 *
 *     AB <event> key=value key=value ...
 *
 * each written with one write(2) so that lines from parallel processes do not
 * interleave. Arguments are `key=value` words (from the kernel command line's
 * ab_args=A,B,C, split by /init); a word without '=' fills the next option in
 * the workload's documented order. All sizes are MiB, all times seconds unless
 * the key says otherwise.
 */
#ifndef AB_WORKLOAD_LIB_H
#define AB_WORKLOAD_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AB_MIB ((uint64_t)1 << 20)

/* ---- output ---- */

/* Print one line "AB <event> <formatted text>\n" with a single write. */
void ab_emit(const char *event, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Print "AB error workload=<name> msg=<msg>" and exit(2). */
void ab_die(const char *workload, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/* ---- options ---- */

struct ab_opt {
	const char *name;  /* key, e.g. "burst" */
	int64_t val;       /* default on input, parsed value on output */
	const char *help;  /* one line for --help */
};

/* Parse argv[1..] into opts (terminated by an entry with name == NULL).
 * Exits with an `AB error` line on unknown keys or bad numbers. */
void ab_parse_opts(const char *workload, int argc, char **argv,
		   struct ab_opt *opts);

/* Value of option `name` (must exist). */
int64_t ab_opt(const struct ab_opt *opts, const char *name);

/* ---- time ---- */

uint64_t ab_now_ms(void);         /* CLOCK_MONOTONIC, ms */
uint64_t ab_now_us(void);         /* CLOCK_MONOTONIC, us */
void ab_sleep_ms(uint64_t ms);    /* restarts after signals */

/* ---- deterministic PRNG (splitmix64 seeding + xorshift64*) ---- */

struct ab_rng {
	uint64_t s;
};

void ab_rng_seed(struct ab_rng *r, uint64_t seed);
uint64_t ab_rng_next(struct ab_rng *r);
/* Uniform in [lo, hi] (inclusive); lo when hi <= lo. */
uint64_t ab_rng_range(struct ab_rng *r, uint64_t lo, uint64_t hi);

/* ---- data disk ---- */

struct ab_disk {
	int fd;
	char path[288];
	uint64_t size_bytes;
	/* Layout: [0, src_bytes) is the "source" region, the rest the "output"
	 * region (the last quarter of the disk, at least 1 MiB when possible). */
	uint64_t src_bytes;
	uint64_t out_off;
	uint64_t out_bytes;
};

/* Open the data disk read-write (buffered: reads fill the guest page cache).
 * The device is $AB_DATA_DEV, else the virtio disk whose serial is "abdata".
 * Exits with an `AB error` line when there is none. */
void ab_disk_open(const char *workload, struct ab_disk *d);

/* Read `len` bytes starting at `off`, wrapping inside [0, region) (region 0 =
 * whole disk), in 1 MiB requests. Returns bytes read; exits on I/O error. */
uint64_t ab_disk_read(const char *workload, struct ab_disk *d, uint64_t off,
		      uint64_t len, uint64_t region);

/* Write `len` bytes of a seeded pattern into the output region starting at
 * `rel_off` inside it (wrapping), then fdatasync. Returns bytes written. */
uint64_t ab_disk_write_out(const char *workload, struct ab_disk *d,
			   uint64_t rel_off, uint64_t len, uint64_t seed);

/* ---- anonymous memory ---- */

struct ab_touch_stats {
	uint64_t ms;            /* total time */
	uint64_t max_chunk_ms;  /* slowest 1 MiB chunk: a stall indicator */
};

/* mmap `bytes` of private anonymous memory; exits on failure. */
void *ab_anon_alloc(const char *workload, uint64_t bytes);
void ab_anon_free(void *p, uint64_t bytes);

/* Write every 4 KiB page once (fault it in) with a seeded pattern. */
void ab_anon_touch(void *p, uint64_t bytes, uint64_t seed,
		   struct ab_touch_stats *st);

/* One compute pass: read-modify-write every 64-byte line, `rounds` mixing
 * steps per line. Returns a checksum so the work is not optimised away. */
uint64_t ab_anon_compute(void *p, uint64_t bytes, unsigned rounds);

/* ---- guest counters ---- */

struct ab_vmstat {
	uint64_t oom_kill, pswpin, pswpout, pgmajfault;
};

void ab_vmstat_read(struct ab_vmstat *v);

/* Print "AB result workload=<name> runtime_ms=<now-start_ms> <extra>
 * oom_kill=.. pswpin=.. pswpout=.. pgmajfault=..". */
void ab_result(const char *workload, uint64_t start_ms, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
