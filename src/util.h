/* SPDX-License-Identifier: MIT */
/* util.h - small helpers shared by every layer: time, sizes, files. */
#ifndef AB_UTIL_H
#define AB_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIB (1024ULL * 1024ULL)
#define KIB 1024ULL
#define PAGE_BYTES 4096ULL

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* CLOCK_MONOTONIC in milliseconds / microseconds. */
uint64_t now_ms(void);
uint64_t now_us(void);

/*
 * Parse a size: "512", "512K", "64M", "2G", "1T" (binary units, optional "iB"
 * or "B" suffix). Plain numbers are bytes. Rejects negatives, overflow and junk.
 */
int parse_size(const char *s, uint64_t *ret_bytes);

/*
 * Parse a size that may also be a percentage ("10%"): *ret_pct_x100 is set to
 * the percentage times 100 and *ret_bytes to 0, or the other way round.
 */
int parse_size_or_pct(const char *s, uint64_t *ret_bytes, uint32_t *ret_pct_x100);

/* Parse a duration: "250ms", "2s", "1m", plain number = milliseconds. */
int parse_duration_ms(const char *s, uint64_t *ret_ms);

int parse_u64(const char *s, uint64_t *ret);
int parse_bool(const char *s, bool *ret);

/* Format a byte count as "123.4 MiB"-style text into buf. */
const char *fmt_bytes(uint64_t bytes, char *buf, size_t len);

/*
 * Read a whole small file (at most max bytes) into a NUL-terminated malloc'd
 * buffer. Returns 0 or -errno (-EFBIG when larger than max).
 */
int read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len);

/* Read a file holding one unsigned integer (cgroup style; "max" -> UINT64_MAX). */
int read_u64_file(const char *path, uint64_t *ret);

/* Write a string to a file (cgroup/proc style control files). */
int write_file(const char *path, const char *s);

/* Raise the open-file soft limit to the hard limit (many VMs, many sockets). */
void raise_nofile(void);

/* Saturating arithmetic on unsigned 64-bit byte counts. */
static inline uint64_t sat_sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

static inline uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static inline uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static inline uint64_t absdiff_u64(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

/* Round down to a whole MiB (balloon targets are set in MiB steps). */
static inline uint64_t round_mib(uint64_t bytes)
{
	return bytes & ~(MIB - 1);
}

#endif
