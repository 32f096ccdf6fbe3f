/* SPDX-License-Identifier: MIT */
/*
 * config.h - autoballoond's INI configuration (parsed with inih).
 *
 * Strict: an unknown section or key, a bad value or an inconsistent
 * combination is an error naming file, line and key, and the daemon does not
 * start (a typo must never silently disable ballooning).
 */
#ifndef AB_CONFIG_H
#define AB_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "policy.h"

/* A size given either in bytes or as a percentage of a base (pct_x100 != 0). */
struct size_spec {
	uint64_t bytes;
	uint32_t pct_x100;
	bool set;
};

uint64_t size_spec_resolve(const struct size_spec *s, uint64_t base);

struct vm_config {
	char name[64];
	char qmp_path[PATH_MAX];
	struct size_spec min;		/* % of max */
	struct size_spec max;		/* unset: the VM's boot memory from QEMU */
	struct size_spec buffer;	/* % of max */
	uint32_t weight;
	bool weight_set;
	char balloon_path[256];		/* QOM path of the balloon; "" = find it */
	unsigned line;			/* where [vm NAME] starts */
	/* where these keys were set (0: not in the file), for error messages */
	struct {
		unsigned qmp, min, max, buffer;
	} key_line;
};

enum pressure_mode { PRESSURE_MODE_AUTO, PRESSURE_MODE_PSI,
		     PRESSURE_MODE_VMPRESSURE, PRESSURE_MODE_NONE };

struct daemon_config {
	/* [daemon] */
	enum policy_kind policy;
	uint64_t tick_ms;
	uint64_t stats_poll_ms;		/* qom-get guest-stats cadence */
	uint32_t stats_interval_s;	/* guest-stats-polling-interval we set */
	uint64_t stats_stale_ms;
	uint64_t qmp_timeout_ms;
	uint64_t reconnect_min_ms;
	uint64_t reconnect_max_ms;
	uint64_t max_message_bytes;
	char control_socket[PATH_MAX];
	char qmp_dir[PATH_MAX];		/* watched directory of QMP sockets */
	char metrics_address[64];
	uint16_t metrics_port;		/* 0: off */
	enum log_level log_level;
	bool restore_on_exit;		/* SIGTERM: deflate every VM to max */
	uint64_t restore_timeout_ms;

	/* [host] */
	char cgroup[PATH_MAX];		/* "" = the whole host */
	int cgroup_version;		/* 0 = detect */
	char proc_dir[PATH_MAX];
	enum pressure_mode pressure;
	char psi_path[PATH_MAX];	/* "" = derived from cgroup or proc_dir */
	uint32_t psi_stall_us;
	uint32_t psi_window_us;
	char vmpressure_level[16];
	struct size_spec host_low;	/* % of host total */
	struct size_spec host_high;

	/* [libvirt] */
	char libvirt_uri[256];		/* "" = no libvirt backend */
	char libvirt_pid_dir[PATH_MAX];	/* where libvirt keeps its QEMUs' pidfiles */

	/* [policy] */
	struct policy_params params;	/* host low/high resolved each round */

	/* [defaults] for VMs (also for VMs found in qmp_dir) */
	struct vm_config vm_defaults;

	struct vm_config *vms;
	size_t nvms;
};

void config_init_defaults(struct daemon_config *c);

/* A VM name: 1-63 characters of A-Z a-z 0-9 - _ . */
bool config_valid_vm_name(const char *s);
void config_free(struct daemon_config *c);

/*
 * Load path into c (which config_init_defaults prepared). On error returns a
 * negative errno and writes "FILE:LINE: [section] key: problem" lines into
 * err (every error found, not only the first).
 */
int config_load(const char *path, struct daemon_config *c, char *err,
		size_t errlen);
/* Same from a string (tests). name is used in messages. */
int config_load_string(const char *name, const char *text,
		       struct daemon_config *c, char *err, size_t errlen);

/* A VM config for a socket found at runtime: defaults + name + path. */
void config_vm_from_defaults(const struct daemon_config *c, const char *name,
			     const char *qmp_path, struct vm_config *ret);
const struct vm_config *config_find_vm(const struct daemon_config *c,
				       const char *name);

#endif
