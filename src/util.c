/* SPDX-License-Identifier: MIT */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

uint64_t now_ms(void)
{
	return now_us() / 1000;
}

uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Split "123XYZ" into a number (digits, optional fraction) and a unit string. */
static int split_number(const char *s, double *ret_num, const char **ret_unit)
{
	char *end;
	double v;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno == ERANGE || v < 0 || v != v)
		return -ERANGE;
	while (isspace((unsigned char)*end))
		end++;
	*ret_num = v;
	*ret_unit = end;
	return 0;
}

int parse_size(const char *s, uint64_t *ret_bytes)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = {
		{ "", 1 }, { "b", 1 },
		{ "k", KIB }, { "kb", KIB }, { "kib", KIB },
		{ "m", MIB }, { "mb", MIB }, { "mib", MIB },
		{ "g", 1024 * MIB }, { "gb", 1024 * MIB }, { "gib", 1024 * MIB },
		{ "t", 1024 * 1024 * MIB }, { "tb", 1024 * 1024 * MIB },
		{ "tib", 1024 * 1024 * MIB },
	};
	const char *unit;
	double v;
	int r;

	if (!s)
		return -EINVAL;
	r = split_number(s, &v, &unit);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcasecmp(unit, units[i].unit) == 0) {
			double bytes = v * (double)units[i].mult;

			if (bytes >= 18446744073709551616.0)
				return -ERANGE;
			*ret_bytes = (uint64_t)bytes;
			return 0;
		}
	}
	return -EINVAL;
}

int parse_size_or_pct(const char *s, uint64_t *ret_bytes, uint32_t *ret_pct_x100)
{
	size_t n = s ? strlen(s) : 0;

	if (n > 0 && s[n - 1] == '%') {
		char tmp[32];
		const char *unit;
		double v;

		if (n >= sizeof(tmp))
			return -EINVAL;
		memcpy(tmp, s, n - 1);
		tmp[n - 1] = '\0';
		if (split_number(tmp, &v, &unit) < 0 || *unit || v > 100.0)
			return -EINVAL;
		*ret_pct_x100 = (uint32_t)(v * 100.0 + 0.5);
		*ret_bytes = 0;
		return 0;
	}
	*ret_pct_x100 = 0;
	return parse_size(s, ret_bytes);
}

int parse_duration_ms(const char *s, uint64_t *ret_ms)
{
	static const struct {
		const char *unit;
		double mult;
	} units[] = {
		{ "", 1 }, { "ms", 1 }, { "s", 1000 }, { "sec", 1000 },
		{ "m", 60000 }, { "min", 60000 },
	};
	const char *unit;
	double v;
	int r;

	if (!s)
		return -EINVAL;
	r = split_number(s, &v, &unit);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcasecmp(unit, units[i].unit) == 0) {
			double ms = v * units[i].mult;

			if (ms >= 9.2e18)
				return -ERANGE;
			*ret_ms = (uint64_t)ms;
			return 0;
		}
	}
	return -EINVAL;
}

int parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

const char *fmt_bytes(uint64_t bytes, char *buf, size_t len)
{
	if (bytes >= 1024 * MIB)
		snprintf(buf, len, "%.2f GiB", (double)bytes / (1024.0 * MIB));
	else
		snprintf(buf, len, "%.1f MiB", (double)bytes / MIB);
	return buf;
}

int read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
	char *buf;
	size_t len = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(max + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, max + 1 - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			r = -EFBIG;
			break;
		}
	}
	close(fd);
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[len] = '\0';
	*ret_buf = buf;
	if (ret_len)
		*ret_len = len;
	return 0;
}

int read_u64_file(const char *path, uint64_t *ret)
{
	char *buf;
	size_t len;
	int r;

	r = read_file(path, 64, &buf, &len);
	if (r < 0)
		return r;
	while (len > 0 && isspace((unsigned char)buf[len - 1]))
		buf[--len] = '\0';
	if (strcmp(buf, "max") == 0) {
		*ret = UINT64_MAX;
		r = 0;
	} else {
		r = parse_u64(buf, ret);
	}
	free(buf);
	return r;
}

int write_file(const char *path, const char *s)
{
	size_t len = strlen(s);
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, s, len);
	if (n < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	close(fd);
	return (size_t)n == len ? 0 : -EIO;
}

void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}
