/* SPDX-License-Identifier: MIT */
/*
 * bench_scenario.c - scenario files (bench/scenarios/NAME.ini), modes and
 * small statistics for autoballoon-bench. The format is described in
 * bench/README.md.
 */
#include "bench.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- modes */

static const char *const mode_names[BM_COUNT] = {
	[BM_UNPRESSURED] = "unpressured",
	[BM_NONE] = "none",
	[BM_FPR] = "fpr",
	[BM_STATIC] = "static",
	[BM_PROXMOX] = "proxmox",
	[BM_MOM] = "mom",
	[BM_AUTO] = "auto",
	[BM_AUTO_GUEST] = "auto+guest",
};

const char *bench_mode_name(enum bench_mode m)
{
	return m < BM_COUNT ? mode_names[m] : "?";
}

int bench_mode_parse(const char *s, enum bench_mode *ret)
{
	for (int i = 0; i < BM_COUNT; i++) {
		if (strcmp(s, mode_names[i]) == 0) {
			*ret = (enum bench_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *bench_mode_policy(enum bench_mode m)
{
	switch (m) {
	case BM_UNPRESSURED:
	case BM_NONE:
	case BM_FPR:
	case BM_COUNT:
		return NULL;
	case BM_STATIC:
		return "static";
	case BM_PROXMOX:
		return "proxmox";
	case BM_MOM:
		return "mom";
	case BM_AUTO:
	case BM_AUTO_GUEST:
		return "auto";
	}
	return NULL;
}

/* ------------------------------------------------------------ scenarios */

struct scn_ctx {
	struct scenario *s;
	char *err;
	size_t errlen;
	size_t errpos;
	int nerr;
	FILE *f;
	int line;
};

__attribute__((format(printf, 3, 4)))
static void scn_err(struct scn_ctx *c, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	c->nerr++;
	if (!c->err || c->errpos + 1 >= c->errlen)
		return;
	n = snprintf(c->err + c->errpos, c->errlen - c->errpos, "%s:%d: ",
		     c->s->path, line);
	if (n > 0)
		c->errpos += (size_t)n;
	if (c->errpos + 1 >= c->errlen)
		return;
	va_start(ap, fmt);
	n = vsnprintf(c->err + c->errpos, c->errlen - c->errpos, fmt, ap);
	va_end(ap);
	if (n > 0)
		c->errpos += (size_t)n;
	if (c->errpos + 1 < c->errlen) {
		c->err[c->errpos++] = '\n';
		c->err[c->errpos] = '\0';
	} else {
		c->errpos = c->errlen - 1;
	}
}

static int parse_uint(const char *v, unsigned lo, unsigned hi, unsigned *ret)
{
	char *end;
	unsigned long u;

	errno = 0;
	u = strtoul(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || u < lo || u > hi)
		return -EINVAL;
	*ret = (unsigned)u;
	return 0;
}

static int parse_yesno(const char *v, bool *ret)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1") ||
	    !strcasecmp(v, "on")) {
		*ret = true;
		return 0;
	}
	if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0") ||
	    !strcasecmp(v, "off")) {
		*ret = false;
		return 0;
	}
	return -EINVAL;
}

static int copy_str(char *dst, size_t cap, const char *v)
{
	size_t n = strlen(v);

	if (n >= cap)
		return -ENAMETOOLONG;
	memcpy(dst, v, n + 1);
	return 0;
}

/* A workload argument list: one word, no spaces or quotes. */
static bool valid_args(const char *v)
{
	for (; *v; v++) {
		if (*v == ' ' || *v == '\t' || *v == '"' || *v == '\'' || *v == '\\')
			return false;
	}
	return true;
}

/*
 * ssd: a SATA SSD as a host's swap and image store sees it at the low queue
 * depths of page faults: ~100 us a 4 KiB random access (10,000 IOPS) and the
 * ~400 MB/s a SATA link sustains for mixed traffic. hdd: a 7,200 rpm disk,
 * ~4 ms rotation plus ~3 ms seek (150 IOPS) and 120 MB/s sequential.
 */
static const struct storage_profile profiles[] = {
	{ "ram", false, 0, 0 },
	{ "ssd", true, 10000, 400000000 },
	{ "hdd", true, 150, 120000000 },
};

const struct storage_profile *storage_profile_get(const char *name)
{
	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (!strcmp(profiles[i].name, name))
			return &profiles[i];
	return NULL;
}

static const struct {
	const char *key;
	size_t off;
	unsigned lo, hi;
} uint_keys[] = {
	{ "guests", offsetof(struct scenario, guests), 1, 256 },
	{ "guest_mem", offsetof(struct scenario, guest_mem_mib), 64, 1 << 20 },
	{ "slice_mem", offsetof(struct scenario, slice_mem_mib), 64, 1 << 24 },
	{ "swap", offsetof(struct scenario, swap_mib), 0, 1 << 24 },
	{ "timeout", offsetof(struct scenario, timeout_s), 10, 86400 },
	{ "stagger", offsetof(struct scenario, stagger_s), 0, 3600 },
	{ "min_host_cpus", offsetof(struct scenario, min_host_cpus), 0, 4096 },
	{ "min_host_mem", offsetof(struct scenario, min_host_mem_mib), 0, 1u << 30 },
};

static int on_scn_key(void *user, const char *section, const char *key,
		      const char *value, int line)
{
	struct scn_ctx *c = user;
	struct scenario *s = c->s;

	if (!key)
		return 1;
	if (!strcmp(section, "scenario")) {
		if (!strcmp(key, "description")) {
			if (copy_str(s->description, sizeof(s->description), value))
				scn_err(c, line, "[scenario] description: too long");
			return 1;
		}
		if (!strcmp(key, "storage")) {
			if (copy_str(s->storage, sizeof(s->storage), value) ||
			    !storage_profile_get(value))
				scn_err(c, line, "[scenario] storage: expected ram, ssd or hdd");
			return 1;
		}
		if (!strcmp(key, "metric")) {
			if (copy_str(s->metric, sizeof(s->metric), value) || !value[0])
				scn_err(c, line, "[scenario] metric: expected a result key");
			return 1;
		}
		for (size_t i = 0; i < sizeof(uint_keys) / sizeof(uint_keys[0]); i++) {
			if (strcmp(key, uint_keys[i].key))
				continue;
			if (parse_uint(value, uint_keys[i].lo, uint_keys[i].hi,
				       (unsigned *)((char *)s + uint_keys[i].off)))
				scn_err(c, line, "[scenario] %s: expected a whole number %u-%u",
					key, uint_keys[i].lo, uint_keys[i].hi);
			return 1;
		}
		scn_err(c, line, "[scenario] %s: unknown key", key);
		return 1;
	}
	if (!strcmp(section, "workload")) {
		if (!strcmp(key, "name")) {
			if (copy_str(s->workload, sizeof(s->workload), value) ||
			    !value[0] || strchr(value, ','))
				scn_err(c, line, "[workload] name: expected a workload name");
		} else if (!strcmp(key, "args")) {
			if (copy_str(s->args, sizeof(s->args), value) || !valid_args(value))
				scn_err(c, line, "[workload] args: expected A,B,C without spaces");
		} else if (!strcmp(key, "data_disk")) {
			if (parse_uint(value, 0, 1 << 20, &s->data_disk_mib))
				scn_err(c, line, "[workload] data_disk: expected MiB");
		} else if (!strcmp(key, "data_fill")) {
			if (parse_yesno(value, &s->data_fill))
				scn_err(c, line, "[workload] data_fill: expected yes or no");
		} else if (!strcmp(key, "guest_swap")) {
			if (parse_uint(value, 0, 1 << 20, &s->guest_swap_mib))
				scn_err(c, line, "[workload] guest_swap: expected MiB");
		} else {
			scn_err(c, line, "[workload] %s: unknown key", key);
		}
		return 1;
	}
	if (!strncmp(section, "guest ", 6)) {
		unsigned idx;
		struct scenario_guest *g = NULL;

		if (parse_uint(section + 6, 1, 4096, &idx)) {
			scn_err(c, line, "[%s]: expected [guest N] with N >= 1", section);
			return 1;
		}
		for (size_t i = 0; i < s->nguest; i++)
			if (s->guest[i].index == idx)
				g = &s->guest[i];
		if (!g) {
			if (s->nguest >= SCN_MAX_GUEST_SECTIONS) {
				scn_err(c, line, "too many [guest N] sections (max %d)",
					SCN_MAX_GUEST_SECTIONS);
				return 1;
			}
			g = &s->guest[s->nguest++];
			memset(g, 0, sizeof(*g));
			g->index = idx;
		}
		if (!strcmp(key, "name")) {
			if (copy_str(g->workload, sizeof(g->workload), value) || !value[0])
				scn_err(c, line, "[%s] name: expected a workload name", section);
		} else if (!strcmp(key, "args")) {
			if (copy_str(g->args, sizeof(g->args), value) || !valid_args(value))
				scn_err(c, line, "[%s] args: expected A,B,C without spaces", section);
		} else {
			scn_err(c, line, "[%s] %s: unknown key", section, key);
		}
		return 1;
	}
	if (!strncmp(section, "daemon.", 7)) {
		const char *ds = section + 7;

		if (strcmp(ds, "daemon") && strcmp(ds, "host") && strcmp(ds, "policy") &&
		    strcmp(ds, "defaults")) {
			scn_err(c, line, "[%s]: expected daemon.daemon, daemon.host, "
				"daemon.policy or daemon.defaults", section);
			return 1;
		}
		if (s->ndconf >= sizeof(s->dconf) / sizeof(s->dconf[0]) ||
		    copy_str(s->dconf[s->ndconf].section, sizeof(s->dconf[0].section), ds) ||
		    copy_str(s->dconf[s->ndconf].key, sizeof(s->dconf[0].key), key) ||
		    copy_str(s->dconf[s->ndconf].value, sizeof(s->dconf[0].value), value)) {
			scn_err(c, line, "[%s] %s: too many or too long daemon settings",
				section, key);
			return 1;
		}
		s->ndconf++;
		return 1;
	}
	scn_err(c, line, "[%s]: unknown section (scenario, workload, guest N, daemon.*)",
		section);
	return 1;
}

/* inih's reader hook counts lines, so the handler can name them. */
static char *scn_read_line(char *str, int num, void *stream)
{
	struct scn_ctx *c = stream;

	if (!fgets(str, num, c->f))
		return NULL;
	c->line++;
	return str;
}

static int on_scn(void *user, const char *section, const char *key,
		  const char *value)
{
	struct scn_ctx *c = user;

	return on_scn_key(c, section, key, value, c->line);
}

static bool is_path(const char *s)
{
	size_t n = strlen(s);

	return strchr(s, '/') || (n > 4 && !strcmp(s + n - 4, ".ini"));
}

int scenario_load(const char *dir, const char *name_or_path, struct scenario *s,
		  char *err, size_t errlen)
{
	struct scn_ctx c = { .s = s, .err = err, .errlen = errlen };
	const char *base;
	FILE *f;
	int r;

	memset(s, 0, sizeof(*s));
	if (err && errlen)
		err[0] = '\0';
	s->guests = 1;
	snprintf(s->storage, sizeof(s->storage), "ram");
	s->guest_mem_mib = 512;
	s->slice_mem_mib = 1024;
	s->swap_mib = 1024;
	s->timeout_s = 300;
	snprintf(s->workload, sizeof(s->workload), "idle");
	if (is_path(name_or_path)) {
		if (copy_str(s->path, sizeof(s->path), name_or_path))
			return -ENAMETOOLONG;
	} else if (snprintf(s->path, sizeof(s->path), "%s/%s.ini", dir, name_or_path) >=
		   (int)sizeof(s->path)) {
		return -ENAMETOOLONG;
	}
	base = strrchr(s->path, '/');
	base = base ? base + 1 : s->path;
	if (copy_str(s->name, sizeof(s->name), base))
		return -ENAMETOOLONG;
	if (strlen(s->name) > 4 && !strcmp(s->name + strlen(s->name) - 4, ".ini"))
		s->name[strlen(s->name) - 4] = '\0';

	f = fopen(s->path, "r");
	if (!f) {
		r = -errno;
		if (err)
			snprintf(err, errlen, "%s: %s\n", s->path, strerror(-r));
		return r;
	}
	c.f = f;
	r = ini_parse_stream(scn_read_line, &c, on_scn, &c);
	fclose(f);
	if (r > 0)
		scn_err(&c, r, "syntax error");
	return c.nerr ? -EINVAL : 0;
}

/* Expand {i}, {n} and {i*K} (i: 0-based guest index, n = i + 1). */
static void expand_args(const char *in, unsigned i, char *out, size_t cap)
{
	size_t o = 0;

	while (*in && o + 1 < cap) {
		if (*in == '{') {
			const char *close = strchr(in, '}');
			unsigned long k;
			char *end;
			char num[32] = "";

			if (close) {
				if (!strncmp(in, "{i}", 3))
					snprintf(num, sizeof(num), "%u", i);
				else if (!strncmp(in, "{n}", 3))
					snprintf(num, sizeof(num), "%u", i + 1);
				else if (!strncmp(in, "{i*", 3) &&
					 (k = strtoul(in + 3, &end, 10), end == close))
					snprintf(num, sizeof(num), "%lu", k * i);
				if (num[0]) {
					for (const char *p = num; *p && o + 1 < cap; p++)
						out[o++] = *p;
					in = close + 1;
					continue;
				}
			}
		}
		out[o++] = *in++;
	}
	out[o] = '\0';
}

void scenario_guest_workload(const struct scenario *s, unsigned i,
			     char *workload, size_t wlen, char *args, size_t alen)
{
	const char *w = s->workload, *a = s->args;

	for (size_t k = 0; k < s->nguest; k++) {
		if (s->guest[k].index != i + 1)
			continue;
		if (s->guest[k].workload[0]) {
			w = s->guest[k].workload;
			a = "";
		}
		if (s->guest[k].args[0])
			a = s->guest[k].args;
	}
	snprintf(workload, wlen, "%s", w);
	expand_args(a, i, args, alen);
}

/* ----------------------------------------------------------- statistics */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct stat3 stat3_of(const double *v, size_t n)
{
	struct stat3 s = { 0 };
	double *t = malloc((n ? n : 1) * sizeof(*t));
	size_t m = 0;

	if (!t)
		return s;
	for (size_t i = 0; i < n; i++)
		if (!isnan(v[i]))
			t[m++] = v[i];
	if (m) {
		qsort(t, m, sizeof(*t), cmp_double);
		s.valid = true;
		s.n = m;
		s.min = t[0];
		s.max = t[m - 1];
		s.median = m % 2 ? t[m / 2] : (t[m / 2 - 1] + t[m / 2]) / 2;
	}
	free(t);
	return s;
}

json_t *stat3_json(const struct stat3 *s)
{
	if (!s->valid)
		return json_null();
	return json_pack("{s:f,s:f,s:f,s:I}", "median", s->median, "min", s->min,
			 "max", s->max, "n", (json_int_t)s->n);
}
