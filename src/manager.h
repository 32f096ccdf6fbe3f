/* SPDX-License-Identifier: MIT */
/*
 * manager.h - the daemon's state: one struct per VM (QMP session, stats,
 * policy memory) and one for the host; policy rounds driven by a tick,
 * pressure events and guest events. Surfaces (control socket, metrics, logs)
 * all read the same state through manager_dump().
 */
#ifndef AB_MANAGER_H
#define AB_MANAGER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "hostmem.h"
#include "policy.h"
#include "pressure.h"
#include "ratelimit.h"
#include "stats.h"

struct loop;
struct logger;
struct manager;
struct qmp_client;

enum vm_setup {
	SETUP_MEMSIZE,		/* query-memory-size-summary -> max */
	SETUP_FIND_BALLOON,	/* qom-list -> balloon QOM path */
	SETUP_FIND_BALLOON_ANON,
	SETUP_STATS_INTERVAL,	/* qom-set guest-stats-polling-interval */
	SETUP_REPORTING,	/* qom-get free-page-reporting */
	SETUP_QUERY,		/* query-balloon -> adopt */
	SETUP_DONE,
};

#define VM_ACTUAL_HISTORY 16

/* What a VM's log messages are about: each kind is rate-limited apart. */
enum vm_log_kind {
	VM_LOG_SESSION,		/* connecting, handshake, state changes */
	VM_LOG_COMMAND,		/* failed or timed-out commands, bad replies */
	VM_LOG_EVENT,		/* events the guest or QEMU sends */
	VM_LOG__N,
};

struct actual_obs {
	uint64_t ms;		/* CLOCK_MONOTONIC, when seen (or sent: moving) */
	uint64_t actual;
};

struct vm {
	struct manager *mgr;
	struct vm_config cfg;
	bool from_dir;			/* found in qmp_dir (dropped when it goes) */
	struct qmp_client *qmp;

	enum vm_setup setup;
	uint64_t boot_bytes;		/* QEMU base-memory */
	char balloon_path[256];
	bool stats_supported;

	struct policy_vm pol;		/* config, observations, policy memory */
	bool gone;			/* QMP socket refuses connections */

	/* session */
	bool ever_connected;
	uint64_t first_fail_ms;		/* connect failing since */
	uint64_t next_connect_ms;
	uint64_t backoff_ms;
	int last_connect_err;
	unsigned consecutive_timeouts;
	bool stats_inflight, query_inflight, balloon_inflight;
	uint64_t last_stats_poll_ms;	/* when the last stats poll went out */
	uint64_t stats_due_ms;		/* the guest's next sample is there by then */
	uint64_t stats_answered_ms;	/* sent time of the last poll a sample answered */
	uint64_t last_query_ms;
	uint64_t no_balloon_retry_ms;
	uint64_t req_target;		/* balloon command in flight */
	enum policy_reason req_reason;

	/*
	 * The host memory behind the guest's RAM, read from the QMP peer's
	 * smaps (the peer is QEMU when QEMU created the socket): unknown for
	 * a socket a manager (libvirt) made, then the policy assumes the host
	 * backs all of the guest's memory.
	 */
	int peer_pid;
	struct guest_ram_tracker ram;
	uint64_t ram_read_ms;
	int ram_err;			/* last reason it is unknown (logged once) */
	/*
	 * Resident when the guest's stats sample in use arrived: the policy
	 * pairs it with that sample (a guest bursting into unbacked memory is
	 * resident now but has not reported its avail falling yet).
	 */
	bool stats_resident_known;
	uint64_t stats_resident;
	uint64_t stats_swapped;
	bool free_reporting;		/* the balloon has free-page-reporting on */

	/* guest statistics */
	struct guest_stats stats;
	uint64_t stats_rx_ms;		/* when the last new sample arrived */
	/*
	 * A guest sample describes the guest when it was taken, when the
	 * balloon may have had another size than now. Its last-update is a
	 * clock the daemon does not share (QEMU's wall clock, stepped back or
	 * lied about by a peer): it is compared only with the guest's own
	 * earlier stamps, to tell a new sample. When the daemon's own
	 * (monotonic) clock says a new sample was taken - after the poll that
	 * returned the one before went out, before this poll was answered -
	 * is matched with the recent sizes the daemon saw; the sample is used
	 * only when the balloon's size then is known (stats_actual). Levels are
	 * then corrected by what the balloon did since, so a round never takes
	 * (or grants) the same memory twice on one sample.
	 */
	struct actual_obs hist[VM_ACTUAL_HISTORY];
	unsigned hist_len;
	bool hist_dropped;		/* older entries were dropped */
	uint64_t stats_actual;
	uint64_t stats_moving;		/* samples not used: balloon was moving */
	uint64_t stats_seen_ms;		/* when the guest last sent a new sample */
	bool stats_none;		/* QEMU's last reply: no sample from the guest ever */
	uint64_t actual_seen_ms;	/* when actual was last reported */
	uint64_t adopted_ms;
	struct rate_state rate_state;
	struct guest_rates rates;
	/* refaults, host side: disk reads (query-blockstats) + QEMU major faults */
	bool blockstats_inflight;
	bool blockstats_off;		/* the peer does not answer it */
	struct refault_state refault;
	double refault_pps;		/* 4 KiB pages/s */
	uint64_t refault_ms;		/* when refault_pps was measured (0: never) */
	uint64_t stats_bad_values;	/* malformed values dropped */
	uint64_t stats_clamped;		/* values clamped to the VM's size */
	uint64_t stats_bad_replies;

	struct ratelimit log_limit[VM_LOG__N];

	/* history */
	enum policy_reason last_reason;
	uint64_t last_action_ms;
	uint64_t targets_sent;
	uint64_t guest_deflations;
	uint64_t qmp_failures;		/* failed commands (error/timeout) */
};

struct manager_counters {
	uint64_t rounds;
	uint64_t pressure_events;
	uint64_t immediate_rounds;
	uint64_t host_read_errors;
	uint64_t targets_sent;
	uint64_t qmp_errors;
	uint64_t vms_added;
	uint64_t vms_removed;
	/* how long the loop's periodic work takes (scale, latency) */
	uint64_t round_us_last, round_us_max;	/* one policy round, all VMs */
	uint64_t housekeeping_us_max;		/* one pass over all sessions */
	uint64_t ticks_missed;			/* the tick timer fired late */
};

int manager_new(struct loop *l, const struct logger *log,
		struct daemon_config *cfg, struct manager **ret);
void manager_free(struct manager *m);

/* Set up host monitoring, timers and VMs from the configuration. */
int manager_start(struct manager *m);

/* Replace the configuration (SIGHUP). Takes ownership of cfg's VM list. */
int manager_reload(struct manager *m, struct daemon_config *cfg);

/*
 * SIGTERM: stop acting, return every balloon to max if configured, then call
 * done(data) (at once when there is nothing to wait for).
 */
void manager_shutdown(struct manager *m, void (*done)(void *data), void *data);

void manager_pause(struct manager *m, bool paused);
bool manager_paused(const struct manager *m);

/*
 * Runtime override of a VM's bounds/weight (autoballoonctl set). Any of the
 * pointers may be NULL. On error returns -errno and a message in err.
 */
int manager_set_vm(struct manager *m, const char *name, const char *min,
		   const char *max, const char *weight, char *err, size_t errlen);

/* The whole state as JSON (new reference). status_only: a smaller view. */
json_t *manager_dump(const struct manager *m, bool status_only);

const struct manager_counters *manager_counters(const struct manager *m);

#endif
