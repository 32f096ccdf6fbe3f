/* SPDX-License-Identifier: MIT */
/*
 * session.h - one VM's link to the program that runs it (its VMM): connect,
 * learn the VM and its balloon, poll the guest's statistics, set the
 * balloon's size, reconnect when the link breaks.
 *
 * The manager holds one session per VM and uses it only through this
 * header: downward through struct session_backend (QMP: session_qmp.c; a
 * libvirt backend would be a second one), upward through struct
 * session_ops, which the manager implements. A session decides nothing
 * about sizes: it carries observations up and targets down.
 */
#ifndef AB_SESSION_H
#define AB_SESSION_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "stats.h"

enum session_state {
	SESSION_CONNECTING,	/* no link yet, or lost: retrying with backoff */
	SESSION_SETUP,		/* linked, learning the VM and its balloon */
	SESSION_READY,		/* the balloon is managed: targets can be sent */
	SESSION_NO_BALLOON,	/* the VM has no active balloon device */
	SESSION_GONE,		/* the VMM is gone (its socket refuses) */
};

/* What the session has learnt about its VM. */
struct session_info {
	uint64_t boot_bytes;		/* RAM at boot (0: not known yet) */
	bool stats_supported;		/* the guest's statistics are switched on */
	bool guest_silent;		/* no sample from the guest ever (its driver is not up) */
	bool free_reporting;		/* the balloon has free page reporting */
	int vmm_pid;			/* the VMM's process, when the link tells (0: not) */
	uint64_t inflight_target;	/* sent, not acknowledged yet (0: none) */
	char balloon[256];		/* the backend's name for the balloon device */
};

struct session_counters {
	uint64_t failures;	/* commands that failed or timed out */
	uint64_t bad_replies;	/* replies that made no sense */
	uint64_t bad_values;	/* malformed guest values dropped */
};

/* Upward calls, to the session's owner. */
struct session_ops {
	void (*state)(void *owner, enum session_state old, enum session_state now);
	/* The balloon was found at this size: manage it from here on. */
	void (*adopt)(void *owner, uint64_t actual_bytes);
	/* The balloon's size as the VMM reports it. */
	void (*actual)(void *owner, uint64_t actual_bytes);
	/* A new guest sample, taken after after_ms (monotonic, 0: not known). */
	void (*sample)(void *owner, const struct guest_stats *s, uint64_t after_ms);
	/* All the guest's disks have read this much so far. */
	void (*disk_reads)(void *owner, uint64_t read_bytes);
	/* A target was acknowledged (err 0) or not. */
	void (*target_done)(void *owner, uint64_t target_bytes, int err);
	/* A command failed or timed out. */
	void (*failure)(void *owner);
};

struct session;

struct session_backend {
	const char *name;
	void (*free)(struct session *s);
	/* Connect, set up, poll: called every housekeeping pass (~100 ms). */
	void (*tick)(struct session *s, uint64_t now_ms);
	/* Ask for a new size; -EBUSY while one is in flight, unless force
	 * (a shutdown's or a removal's last word). */
	int (*set_target)(struct session *s, uint64_t bytes, bool force);
	enum session_state (*state)(const struct session *s);
	const struct session_info *(*info)(const struct session *s);
	const struct session_counters *(*counters)(const struct session *s);
	/* Backend details for `autoballoonctl dump`, set on o. */
	void (*dump)(const struct session *s, json_t *o);
};

struct session {
	const struct session_backend *be;
};

static inline void session_free(struct session *s)
{
	if (s)
		s->be->free(s);
}

static inline void session_tick(struct session *s, uint64_t now_ms)
{
	s->be->tick(s, now_ms);
}

static inline int session_set_target(struct session *s, uint64_t bytes, bool force)
{
	return s->be->set_target(s, bytes, force);
}

static inline enum session_state session_state(const struct session *s)
{
	return s->be->state(s);
}

static inline const struct session_info *session_info(const struct session *s)
{
	return s->be->info(s);
}

static inline const struct session_counters *session_counters(const struct session *s)
{
	return s->be->counters(s);
}

static inline void session_dump(const struct session *s, json_t *o)
{
	s->be->dump(s, o);
}

const char *session_state_name(enum session_state st);

#endif
