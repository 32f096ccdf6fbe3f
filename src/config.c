/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

uint64_t size_spec_resolve(const struct size_spec *s, uint64_t base)
{
	if (s->pct_x100)
		return (uint64_t)((double)base * s->pct_x100 / 10000.0);
	return s->bytes;
}

void config_init_defaults(struct daemon_config *c)
{
	memset(c, 0, sizeof(*c));
	c->policy = POLICY_AUTO;
	c->tick_ms = 1000;
	c->stats_poll_ms = 500;
	c->stats_interval_s = 1;
	c->stats_stale_ms = 10000;
	c->qmp_timeout_ms = 5000;
	c->reconnect_min_ms = 500;
	c->reconnect_max_ms = 30000;
	c->max_message_bytes = 1024 * 1024;
	snprintf(c->control_socket, sizeof(c->control_socket),
		 "/run/autoballoon/control.sock");
	snprintf(c->metrics_address, sizeof(c->metrics_address), "127.0.0.1");
	c->log_level = LOG_LVL_INFO;
	c->restore_on_exit = true;
	c->restore_timeout_ms = 10000;

	snprintf(c->proc_dir, sizeof(c->proc_dir), "/proc");
	snprintf(c->libvirt_pid_dir, sizeof(c->libvirt_pid_dir), "/run/libvirt/qemu");
	c->pressure = PRESSURE_MODE_AUTO;
	c->psi_stall_us = 100000;
	c->psi_window_us = 1000000;
	snprintf(c->vmpressure_level, sizeof(c->vmpressure_level), "medium");
	c->host_low = (struct size_spec){ .pct_x100 = 600, .set = true };
	c->host_high = (struct size_spec){ .pct_x100 = 1200, .set = true };

	policy_params_default(&c->params, POLICY_AUTO);

	c->vm_defaults.min = (struct size_spec){ .pct_x100 = 2500, .set = true };
	c->vm_defaults.buffer = (struct size_spec){ .pct_x100 = 1000, .set = true };
	c->vm_defaults.weight = 100;
}

void config_free(struct daemon_config *c)
{
	free(c->vms);
	c->vms = NULL;
	c->nvms = 0;
}

/* ------------------------------------------------------------ key table */

enum key_type {
	K_SIZE,		/* struct size_spec, bytes or % */
	K_BYTES,	/* uint64_t bytes (no %) */
	K_DURATION,	/* uint64_t ms */
	K_U32,
	K_U64,
	K_DOUBLE,
	K_BOOL,
	K_PATH,		/* char[PATH_MAX] */
	K_URI,		/* char[256], no spaces */
	K_STR64,	/* char[64] */
	K_POLICY,
	K_LOGLEVEL,
	K_PRESSURE,
	K_PORT,
	K_VMPLEVEL,	/* char[16]: low|medium|critical */
	K_QOMPATH,	/* char[256] */
};

enum section { S_DAEMON, S_HOST, S_POLICY, S_LIBVIRT, S_DEFAULTS, S_VM };

struct key {
	enum section section;
	const char *name;
	enum key_type type;
	size_t offset;		/* in daemon_config, or vm_config for S_VM/S_DEFAULTS */
	double lo, hi;		/* range for numbers (0, 0: none) */
};

#define DC(f) offsetof(struct daemon_config, f)
#define VC(f) offsetof(struct vm_config, f)
#define PP(f) (offsetof(struct daemon_config, params) + offsetof(struct policy_params, f))

static const struct key keys[] = {
	{ S_DAEMON, "policy", K_POLICY, DC(policy), 0, 0 },
	{ S_DAEMON, "tick", K_DURATION, DC(tick_ms), 100, 60000 },
	{ S_DAEMON, "stats_poll", K_DURATION, DC(stats_poll_ms), 100, 60000 },
	{ S_DAEMON, "stats_interval", K_U32, DC(stats_interval_s), 1, 60 },
	{ S_DAEMON, "stats_stale", K_DURATION, DC(stats_stale_ms), 1000, 600000 },
	{ S_DAEMON, "qmp_timeout", K_DURATION, DC(qmp_timeout_ms), 100, 600000 },
	{ S_DAEMON, "reconnect_min", K_DURATION, DC(reconnect_min_ms), 10, 600000 },
	{ S_DAEMON, "reconnect_max", K_DURATION, DC(reconnect_max_ms), 10, 3600000 },
	{ S_DAEMON, "max_message", K_BYTES, DC(max_message_bytes), 65536, 256.0 * MIB },
	{ S_DAEMON, "control_socket", K_PATH, DC(control_socket), 0, 0 },
	{ S_DAEMON, "qmp_dir", K_PATH, DC(qmp_dir), 0, 0 },
	{ S_DAEMON, "metrics_address", K_STR64, DC(metrics_address), 0, 0 },
	{ S_DAEMON, "metrics_port", K_PORT, DC(metrics_port), 0, 65535 },
	{ S_DAEMON, "log_level", K_LOGLEVEL, DC(log_level), 0, 0 },
	{ S_DAEMON, "restore_on_exit", K_BOOL, DC(restore_on_exit), 0, 0 },
	{ S_DAEMON, "restore_timeout", K_DURATION, DC(restore_timeout_ms), 0, 600000 },

	{ S_HOST, "cgroup", K_PATH, DC(cgroup), 0, 0 },
	{ S_HOST, "cgroup_version", K_U32, DC(cgroup_version), 0, 2 },
	{ S_HOST, "proc_dir", K_PATH, DC(proc_dir), 0, 0 },
	{ S_HOST, "pressure", K_PRESSURE, DC(pressure), 0, 0 },
	{ S_HOST, "psi_path", K_PATH, DC(psi_path), 0, 0 },
	{ S_HOST, "psi_stall", K_DURATION, DC(psi_stall_us), 1, 10000 },
	{ S_HOST, "psi_window", K_DURATION, DC(psi_window_us), 500, 10000 },
	{ S_HOST, "vmpressure_level", K_VMPLEVEL, DC(vmpressure_level), 0, 0 },
	{ S_HOST, "low", K_SIZE, DC(host_low), 0, 0 },
	{ S_HOST, "high", K_SIZE, DC(host_high), 0, 0 },

	{ S_POLICY, "cooldown", K_DURATION, PP(cooldown_ms), 0, 3600000 },
	{ S_POLICY, "deadband", K_BYTES, PP(deadband_bytes), 0, 1024.0 * MIB },
	{ S_POLICY, "step_inflate", K_BYTES, PP(step_inflate_bytes), MIB, 1024.0 * 1024 * MIB },
	{ S_POLICY, "giveback_step", K_BYTES, PP(giveback_bytes), MIB, 1024.0 * 1024 * MIB },
	{ S_POLICY, "relax_delay", K_DURATION, PP(relax_delay_ms), 0, 3600000 },
	{ S_POLICY, "refault_threshold", K_DOUBLE, PP(refault_pps_threshold), 0, 1e9 },
	{ S_POLICY, "keep", K_DURATION, PP(keep_ms), 0, 3600000 },
	{ S_POLICY, "uncooperative_after", K_DURATION, PP(uncoop_after_ms), 1000, 3600000 },
	{ S_POLICY, "uncooperative_retry", K_DURATION, PP(uncoop_retry_ms), 1000, 86400000 },
	{ S_POLICY, "interval", K_DURATION, PP(interval_ms), 0, 3600000 },
	{ S_POLICY, "lead", K_DURATION, PP(lead_ms), 0, 60000 },
	{ S_POLICY, "residency", K_BOOL, PP(residency), 0, 0 },
	{ S_POLICY, "boot_room", K_BOOL, PP(boot_room), 0, 0 },

	{ S_LIBVIRT, "uri", K_URI, DC(libvirt_uri), 0, 0 },
	{ S_LIBVIRT, "pid_dir", K_PATH, DC(libvirt_pid_dir), 0, 0 },

	{ S_VM, "qmp", K_PATH, VC(qmp_path), 0, 0 },
	{ S_VM, "min", K_SIZE, VC(min), 0, 0 },
	{ S_VM, "max", K_SIZE, VC(max), 0, 0 },
	{ S_VM, "buffer", K_SIZE, VC(buffer), 0, 0 },
	{ S_VM, "weight", K_U32, VC(weight), 1, 10000 },
	{ S_VM, "balloon_path", K_QOMPATH, VC(balloon_path), 0, 0 },

	{ S_DEFAULTS, "min", K_SIZE, VC(min), 0, 0 },
	{ S_DEFAULTS, "buffer", K_SIZE, VC(buffer), 0, 0 },
	{ S_DEFAULTS, "weight", K_U32, VC(weight), 1, 10000 },
	{ S_DEFAULTS, "balloon_path", K_QOMPATH, VC(balloon_path), 0, 0 },
};

/* ------------------------------------------------------------- parsing */

struct parse_ctx {
	const char *file;
	struct daemon_config *cfg;
	char *err;
	size_t errlen;
	size_t errpos;
	int nerr;
	unsigned line;		/* current line (counted by the reader) */
	unsigned section_line;	/* line of the last [section] header */
	char section[64];	/* its name, for errors the reader finds */
	unsigned key_line[ARRAY_SIZE(keys)];	/* where a key outside [vm] was set */
	bool line_too_long;
	bool interval_set;
	struct vm_config *cur_vm;
	unsigned cur_vm_section_line;
	/* string source */
	const char *text;
};

/* "FILE:LINE: [section] key: ..." (no :LINE for line 0, no key for NULL) */
__attribute__((format(printf, 5, 0)))
static void add_err_va(struct parse_ctx *p, unsigned line, const char *section,
		       const char *key, const char *fmt, va_list ap)
{
	char where[32] = "";
	int n;

	p->nerr++;
	if (!p->err || p->errpos >= p->errlen)
		return;
	if (line)
		snprintf(where, sizeof(where), ":%u", line);
	n = snprintf(p->err + p->errpos, p->errlen - p->errpos, "%s%s: [%s]%s%s: ",
		     p->file, where, section, key ? " " : "", key ? key : "");
	if (n < 0)
		return;
	p->errpos = MIN(p->errpos + (size_t)n, p->errlen - 1);
	n = vsnprintf(p->err + p->errpos, p->errlen - p->errpos, fmt, ap);
	if (n < 0)
		return;
	p->errpos = MIN(p->errpos + (size_t)n, p->errlen - 1);
	if (p->errpos + 1 < p->errlen) {
		p->err[p->errpos++] = '\n';
		p->err[p->errpos] = '\0';
	}
}

/* An error on the line being parsed. */
__attribute__((format(printf, 4, 5)))
static void add_err(struct parse_ctx *p, const char *section, const char *key,
		    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_err_va(p, p->line, section, key, fmt, ap);
	va_end(ap);
}

/* An error about a key set at line (or, for a pair, the later of the two). */
__attribute__((format(printf, 5, 6)))
static void add_err_at(struct parse_ctx *p, unsigned line, const char *section,
		       const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_err_va(p, line, section, key, fmt, ap);
	va_end(ap);
}

static bool in_range(const struct key *k, double v)
{
	return (k->lo == 0 && k->hi == 0) || (v >= k->lo && v <= k->hi);
}

static int set_string(char *dst, size_t cap, const char *value)
{
	size_t n = strlen(value);

	if (n >= cap)
		return -ENAMETOOLONG;
	memcpy(dst, value, n + 1);
	return 0;
}

/* Returns NULL on success or a message. */
static const char *parse_value(const struct key *k, void *base, const char *value)
{
	void *f = (char *)base + k->offset;
	uint64_t u;
	double d;
	char *end;

	switch (k->type) {
	case K_SIZE: {
		struct size_spec *s = f;

		if (parse_size_or_pct(value, &s->bytes, &s->pct_x100) < 0)
			return "expected a size (e.g. 512M, 2G) or a percentage (e.g. 10%)";
		s->set = true;
		return NULL;
	}
	case K_BYTES:
		if (parse_size(value, &u) < 0)
			return "expected a size (e.g. 8M)";
		if (!in_range(k, (double)u))
			return "size out of range";
		*(uint64_t *)f = u;
		return NULL;
	case K_DURATION:
		if (parse_duration_ms(value, &u) < 0)
			return "expected a duration (e.g. 500ms, 2s)";
		if (!in_range(k, (double)u))
			return "duration out of range";
		/* psi_stall/psi_window are stored in microseconds */
		if (k->offset == DC(psi_stall_us) || k->offset == DC(psi_window_us))
			*(uint32_t *)f = (uint32_t)(u * 1000);
		else
			*(uint64_t *)f = u;
		return NULL;
	case K_U32:
	case K_PORT:
		if (parse_u64(value, &u) < 0 || !in_range(k, (double)u) || u > UINT32_MAX)
			return "expected a whole number in range";
		if (k->type == K_PORT)
			*(uint16_t *)f = (uint16_t)u;
		else if (k->offset == DC(cgroup_version))
			*(int *)f = (int)u;
		else
			*(uint32_t *)f = (uint32_t)u;
		return NULL;
	case K_U64:
		if (parse_u64(value, &u) < 0 || !in_range(k, (double)u))
			return "expected a whole number in range";
		*(uint64_t *)f = u;
		return NULL;
	case K_DOUBLE:
		d = strtod(value, &end);
		if (end == value || *end || d != d || !in_range(k, d))
			return "expected a number in range";
		*(double *)f = d;
		return NULL;
	case K_BOOL:
		if (parse_bool(value, (bool *)f) < 0)
			return "expected yes or no";
		return NULL;
	case K_PATH:
		if (value[0] && value[0] != '/')
			return "expected an absolute path";
		return set_string(f, PATH_MAX, value) < 0 ? "path too long" : NULL;
	case K_STR64:
		return set_string(f, 64, value) < 0 ? "value too long" : NULL;
	case K_URI:
		if (!value[0] || strpbrk(value, " \t"))
			return "expected a URI such as qemu:///system";
		return set_string(f, 256, value) < 0 ? "URI too long" : NULL;
	case K_QOMPATH:
		if (value[0] != '/')
			return "expected a QOM path starting with /";
		return set_string(f, 256, value) < 0 ? "value too long" : NULL;
	case K_POLICY:
		if (policy_kind_parse(value, (enum policy_kind *)f) < 0)
			return "expected auto, proxmox, mom, static or observe";
		return NULL;
	case K_LOGLEVEL:
		if (log_level_parse(value, (enum log_level *)f) < 0)
			return "expected error, warning, info or debug";
		return NULL;
	case K_PRESSURE: {
		static const char *const names[] = { "auto", "psi", "vmpressure", "none" };

		for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
			if (strcasecmp(value, names[i]) == 0) {
				*(enum pressure_mode *)f = (enum pressure_mode)i;
				return NULL;
			}
		}
		return "expected auto, psi, vmpressure or none";
	}
	case K_VMPLEVEL:
		if (strcmp(value, "low") && strcmp(value, "medium") &&
		    strcmp(value, "critical"))
			return "expected low, medium or critical";
		return set_string(f, 16, value) < 0 ? "value too long" : NULL;
	}
	return "internal: unknown key type";
}

bool config_valid_vm_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

static struct vm_config *vm_for_section(struct parse_ctx *p, const char *section)
{
	const char *name = section + 3;
	struct daemon_config *c = p->cfg;
	struct vm_config *v;

	while (*name == ' ' || *name == '\t')
		name++;
	if (p->cur_vm && strcmp(p->cur_vm->name, name) == 0 &&
	    p->cur_vm_section_line == p->section_line)
		return p->cur_vm;
	if (!config_valid_vm_name(name)) {
		add_err(p, section, NULL,
			"VM names are 1-63 characters of A-Z a-z 0-9 - _ .");
		return NULL;
	}
	for (size_t i = 0; i < c->nvms; i++) {
		if (strcmp(c->vms[i].name, name) == 0) {
			add_err(p, section, NULL, "VM defined twice (first at line %u)",
				c->vms[i].line);
			return NULL;
		}
	}
	v = realloc(c->vms, (c->nvms + 1) * sizeof(*v));
	if (!v) {
		add_err(p, section, NULL, "out of memory");
		return NULL;
	}
	c->vms = v;
	v = &c->vms[c->nvms++];
	*v = c->vm_defaults;
	v->qmp_path[0] = '\0';
	v->max = (struct size_spec){ 0 };
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->line = p->section_line ? p->section_line : p->line;
	p->cur_vm = v;
	p->cur_vm_section_line = p->section_line;
	return v;
}

/* Remember where a VM key that a check across keys may blame was set. */
static void note_vm_key_line(struct vm_config *v, size_t offset, unsigned line)
{
	if (offset == VC(qmp_path))
		v->key_line.qmp = line;
	else if (offset == VC(min))
		v->key_line.min = line;
	else if (offset == VC(max))
		v->key_line.max = line;
	else if (offset == VC(buffer))
		v->key_line.buffer = line;
}

static int on_key(void *user, const char *section, const char *name,
		  const char *value)
{
	struct parse_ctx *p = user;
	enum section sec;
	void *base;
	const char *msg;

	if (!name)
		return 1;
	if (p->line_too_long) {
		add_err(p, section, name, "line longer than %d characters", INI_MAX_LINE - 2);
		return 1;
	}
	if (strcmp(section, "daemon") == 0) {
		sec = S_DAEMON;
	} else if (strcmp(section, "host") == 0) {
		sec = S_HOST;
	} else if (strcmp(section, "policy") == 0) {
		sec = S_POLICY;
	} else if (strcmp(section, "libvirt") == 0) {
		sec = S_LIBVIRT;
	} else if (strcmp(section, "defaults") == 0) {
		sec = S_DEFAULTS;
	} else if (strncmp(section, "vm", 2) == 0 &&
		   (section[2] == ' ' || section[2] == '\t')) {
		sec = S_VM;
	} else {
		add_err(p, section, NULL,
			"unknown section (expected daemon, host, policy, libvirt, defaults or \"vm NAME\")");
		return 1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const struct key *k = &keys[i];

		if (k->section != sec || strcmp(k->name, name) != 0)
			continue;
		if (sec == S_VM) {
			base = vm_for_section(p, section);
			if (!base)
				return 1;
		} else if (sec == S_DEFAULTS) {
			base = &p->cfg->vm_defaults;
		} else {
			base = p->cfg;
		}
		msg = parse_value(k, base, value);
		if (msg) {
			add_err(p, section, name, "%s, got \"%s\"", msg, value);
			return 1;
		}
		if (sec == S_VM || sec == S_DEFAULTS)
			note_vm_key_line(base, k->offset, p->line);
		else
			p->key_line[i] = p->line;
		if (sec == S_VM && k->type == K_U32)
			((struct vm_config *)base)->weight_set = true;
		if (k->offset == PP(interval_ms) && sec == S_POLICY)
			p->interval_set = true;
		return 1;
	}
	if (!strcmp(section, "policy") &&
	    (!strcmp(name, "swapin_threshold") || !strcmp(name, "majflt_threshold")))
		add_err(p, section, name, "replaced by refault_threshold (the guest's disk "
			"reads and host swap-ins, measured by the host)");
	else
		add_err(p, section, name, "unknown key");
	return 1;
}

/*
 * Every line on its way to inih: count it, note a section header, and
 * catch what inih would misreport. A header without its "]" (inih keeps
 * the previous section and blames the keys under it) is reported here and
 * closed, so that its keys are read in the section meant; a line with a
 * NUL byte is reported and dropped.
 */
static void check_line(struct parse_ctx *p, char *str, size_t cap, bool nul)
{
	char *t = str;
	size_t n;

	p->line++;
	if (nul) {
		add_err(p, p->section, NULL, "NUL byte in the line");
		p->line_too_long = false;
		snprintf(str, cap, "\n");
		return;
	}
	while (*t == ' ' || *t == '\t')
		t++;
	if (*t != '[')
		return;
	p->section_line = p->line;
	n = strcspn(t + 1, "]\r\n");
	if (t[1 + n] == ']') {
		snprintf(p->section, sizeof(p->section), "%.*s", (int)n, t + 1);
		return;
	}
	while (n && (t[n] == ' ' || t[n] == '\t'))
		n--;
	snprintf(p->section, sizeof(p->section), "%.*s", (int)n, t + 1);
	add_err(p, p->section, NULL, "section header without its closing \"]\"");
	if ((size_t)(t - str) + n + 4 <= cap)
		memcpy(t + 1 + n, "]\n", 3);
}

static char *read_line_file(char *str, int num, void *stream)
{
	struct parse_ctx *p = stream;
	FILE *f = (FILE *)(uintptr_t)p->text;
	size_t n = 0;
	bool nul = false;
	int ch = EOF;

	p->line_too_long = false;
	while (n + 1 < (size_t)num && (ch = getc(f)) != EOF) {
		str[n++] = (char)ch;
		nul |= ch == '\0';
		if (ch == '\n')
			break;
	}
	if (!n)
		return NULL;
	str[n] = '\0';
	if (ch != '\n' && ch != EOF && (ch = getc(f)) != EOF && ch != '\n') {
		p->line_too_long = true;
		while ((ch = getc(f)) != EOF && ch != '\n')
			;
	}
	check_line(p, str, (size_t)num, nul);
	return str;
}

static char *read_line_string(char *str, int num, void *stream)
{
	struct parse_ctx *p = stream;
	const char *nl;
	size_t n;

	p->line_too_long = false;
	if (!*p->text)
		return NULL;
	nl = strchr(p->text, '\n');
	n = nl ? (size_t)(nl - p->text) + 1 : strlen(p->text);
	if (n >= (size_t)num) {
		p->line_too_long = true;
		memcpy(str, p->text, (size_t)num - 1);
		str[num - 1] = '\0';
	} else {
		memcpy(str, p->text, n);
		str[n] = '\0';
	}
	p->text += n;
	check_line(p, str, (size_t)num, false);
	return str;
}

/* Of two keys that clash, the one set later in the file (0: not set). */
static const char *later_key(unsigned line_a, const char *a, unsigned line_b,
			     const char *b, unsigned *ret_line)
{
	*ret_line = MAX(line_a, line_b);
	return line_b > line_a ? b : a;
}

#define BUFFER_MAX_PCT_X100 9000

static void validate_vm(struct parse_ctx *p, const struct vm_config *v)
{
	const struct vm_config *d = &p->cfg->vm_defaults;
	char section[80];
	const char *key;
	unsigned line;

	snprintf(section, sizeof(section), "vm %s", v->name);
	/* without qmp: the libvirt domain of that name (or UUID) */
	if (!v->qmp_path[0] && !p->cfg->libvirt_uri[0])
		add_err_at(p, v->line, section, "qmp",
			   "missing: the VM's QMP socket path is required "
			   "(or a [libvirt] uri, for the domain of this name)");
	if (v->min.set && v->max.set && !v->min.pct_x100 && !v->max.pct_x100 &&
	    v->min.bytes > v->max.bytes) {
		key = later_key(v->key_line.min, "min", v->key_line.max, "max", &line);
		add_err_at(p, line ? line : v->line, section, key,
			   "min (%llu MiB) is above max (%llu MiB)",
			   (unsigned long long)(v->min.bytes / MIB),
			   (unsigned long long)(v->max.bytes / MIB));
	}
	if (v->max.set && v->max.pct_x100)
		add_err_at(p, v->key_line.max, section, "max",
			   "max must be a size, not a percentage");
	/* one from [defaults] is reported there, once */
	if (v->buffer.pct_x100 > BUFFER_MAX_PCT_X100 &&
	    (v->key_line.buffer != d->key_line.buffer || !d->key_line.buffer))
		add_err_at(p, v->key_line.buffer, section, "buffer",
			   "a buffer over 90%% leaves nothing to balloon");
	for (const struct vm_config *o = p->cfg->vms; o < v; o++)
		if (strcmp(o->qmp_path, v->qmp_path) == 0 && v->qmp_path[0])
			add_err_at(p, MAX(o->key_line.qmp, v->key_line.qmp), section, "qmp",
				   "same socket as [vm %s]", o->name);
}

/* Where a key outside [vm] was set in the file (0: it was not). */
static unsigned line_of(const struct parse_ctx *p, enum section sec, const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (keys[i].section == sec && strcmp(keys[i].name, name) == 0)
			return p->key_line[i];
	return 0;
}

/* Two keys of [daemon] or [host] that do not go together: blame the later one. */
static void add_pair_err(struct parse_ctx *p, enum section sec, const char *a,
			 const char *b, const char *msg)
{
	unsigned line;
	const char *key = later_key(line_of(p, sec, a), a, line_of(p, sec, b), b, &line);

	add_err_at(p, line, sec == S_HOST ? "host" : "daemon", key, "%s", msg);
}

static int parse_common(struct parse_ctx *p, ini_reader reader)
{
	struct daemon_config *c = p->cfg;
	int r;

	r = ini_parse_stream(reader, p, on_key, p);
	if (r > 0 && p->nerr == 0) {
		p->line = (unsigned)r;
		add_err(p, "?", NULL, "syntax error (expected [section] or key = value)");
	} else if (r < 0 && p->nerr == 0) {
		add_err(p, "?", NULL, "cannot parse");
	}
	/* Each policy has its own cadence unless [policy] interval is given. */
	if (!p->interval_set) {
		struct policy_params d;

		policy_params_default(&d, c->policy);
		c->params.interval_ms = d.interval_ms;
	}
	c->params.kind = c->policy;

	if (c->vm_defaults.buffer.pct_x100 > BUFFER_MAX_PCT_X100 && c->vm_defaults.key_line.buffer)
		add_err_at(p, c->vm_defaults.key_line.buffer, "defaults", "buffer",
			   "a buffer over 90%% leaves nothing to balloon");
	for (size_t i = 0; i < c->nvms; i++)
		validate_vm(p, &c->vms[i]);
	if (c->host_low.set && c->host_high.set &&
	    !!c->host_low.pct_x100 == !!c->host_high.pct_x100 &&
	    (c->host_low.pct_x100 ? c->host_low.pct_x100 >= c->host_high.pct_x100
				  : c->host_low.bytes >= c->host_high.bytes))
		add_pair_err(p, S_HOST, "low", "high", "low must be below high (hysteresis)");
	if (c->psi_stall_us >= c->psi_window_us)
		add_pair_err(p, S_HOST, "psi_stall", "psi_window",
			     "psi_stall must be shorter than psi_window");
	if (c->reconnect_min_ms > c->reconnect_max_ms)
		add_pair_err(p, S_DAEMON, "reconnect_min", "reconnect_max",
			     "reconnect_min is above reconnect_max");
	if (c->nvms == 0 && !c->qmp_dir[0] && !c->libvirt_uri[0])
		add_err_at(p, line_of(p, S_DAEMON, "qmp_dir"), "daemon", "qmp_dir",
			   "no [vm NAME] sections, no qmp_dir and no [libvirt] uri: "
			   "nothing to manage");
	return p->nerr ? -EINVAL : 0;
}

int config_load(const char *path, struct daemon_config *c, char *err,
		size_t errlen)
{
	struct parse_ctx p = { .file = path, .cfg = c, .err = err, .errlen = errlen };
	FILE *f;
	int r;

	if (err && errlen)
		err[0] = '\0';
	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		if (err)
			snprintf(err, errlen, "%s: %s\n", path, strerror(-r));
		return r;
	}
	p.text = (const char *)(uintptr_t)f;
	r = parse_common(&p, read_line_file);
	fclose(f);
	return r;
}

int config_load_string(const char *name, const char *text,
		       struct daemon_config *c, char *err, size_t errlen)
{
	struct parse_ctx p = { .file = name, .cfg = c, .err = err, .errlen = errlen,
			       .text = text };

	if (err && errlen)
		err[0] = '\0';
	return parse_common(&p, read_line_string);
}

void config_vm_from_defaults(const struct daemon_config *c, const char *name,
			     const char *qmp_path, struct vm_config *ret)
{
	*ret = c->vm_defaults;
	snprintf(ret->name, sizeof(ret->name), "%s", name);
	snprintf(ret->qmp_path, sizeof(ret->qmp_path), "%s", qmp_path);
	ret->max = (struct size_spec){ 0 };
	ret->line = 0;
}

const struct vm_config *config_find_vm(const struct daemon_config *c,
				       const char *name)
{
	for (size_t i = 0; i < c->nvms; i++)
		if (strcmp(c->vms[i].name, name) == 0)
			return &c->vms[i];
	return NULL;
}
