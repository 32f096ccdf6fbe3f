/* SPDX-License-Identifier: MIT */
/*
 * session_libvirt.c - a VM session with a libvirt domain (see session.h),
 * through libvirt's own API: no QMP passthrough, nothing added to the
 * domain beyond its <memballoon>.
 *
 * Setup: the boot size (virDomainGetMaxMemory), the guest's stats period
 * (virDomainSetMemoryStatsPeriod, live), free page reporting (the domain
 * XML), the QEMU's pid (libvirt's pidfile), the balloon's size (memory
 * stats' "actual"; none: no balloon). Then from tick(): the memory stats
 * when the guest's next sample is due, the block stats once a second, the
 * balloon's size every 250 ms while it moves. A target goes out with
 * virDomainSetMemoryFlags(LIVE); its answer is reported on the next tick,
 * as a QMP reply would be. The calls are synchronous (milliseconds each)
 * on the daemon's loop.
 */
#include "session_libvirt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>

#include "config.h"
#include "hostmem.h"
#include "util.h"
#include "vmlog.h"

#define MOVING_POLL_MS 250
#define IDLE_POLL_MS 5000
#define BLOCKSTATS_MS 1000
#define NO_BALLOON_RETRY_MS 5000
#define KIB 1024ULL

struct lsession {
	struct session base;
	struct lv_conn *conn;
	const struct daemon_config *cfg;
	const struct vm_config *vc;
	struct vm_log *log;
	const struct session_ops *ops;
	void *owner;

	virDomainPtr dom;
	uint64_t generation;		/* of the connection dom came from */
	enum session_state state;
	struct session_info info;
	struct session_counters counters;
	uint64_t retry_ms;		/* no balloon: look again then */

	uint64_t actual;
	uint64_t target;		/* last acknowledged */
	uint64_t last_actual_ms;
	uint64_t last_stats_ms;
	uint64_t stats_due_ms;
	uint64_t stats_answered_ms;
	uint64_t last_stamp_s;
	uint64_t last_blockstats_ms;
	bool done_pending;		/* a target's answer for the next tick */
	int done_err;
};

static struct lsession *ls_of(struct session *s)
{
	return (struct lsession *)(void *)s;
}

static const struct lsession *cls_of(const struct session *s)
{
	return (const struct lsession *)(const void *)s;
}

static void set_state(struct lsession *l, enum session_state st)
{
	enum session_state old = l->state;

	if (old == st)
		return;
	l->state = st;
	l->ops->state(l->owner, old, st);
}

static void drop_domain(struct lsession *l)
{
	if (l->dom)
		virDomainFree(l->dom);
	l->dom = NULL;
}

static void failed(struct lsession *l, const char *what)
{
	virErrorPtr e = virGetLastError();

	l->counters.failures++;
	l->ops->failure(l->owner);
	vm_log(l->log, VM_LOG_COMMAND, LOG_LVL_WARN, "libvirt %s failed: %s", what, lv_error());
	/* the domain stopped (its lifecycle event drops the VM too) */
	if (e && (e->code == VIR_ERR_NO_DOMAIN || e->code == VIR_ERR_OPERATION_INVALID)) {
		drop_domain(l);
		set_state(l, SESSION_GONE);
	}
}

/* The memory stats as guest_stats (libvirt reports KiB); actual apart. */
static int read_stats(struct lsession *l, struct guest_stats *s, uint64_t *actual)
{
	virDomainMemoryStatStruct st[VIR_DOMAIN_MEMORY_STAT_NR];
	int n = virDomainMemoryStats(l->dom, st, VIR_DOMAIN_MEMORY_STAT_NR, 0);

	memset(s, 0, sizeof(*s));
	*actual = 0;
	if (n < 0)
		return -EIO;
	for (int i = 0; i < n; i++) {
		unsigned long long v = st[i].val;
		int g = -1;

		switch (st[i].tag) {
		case VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON:
			*actual = v * KIB;
			continue;
		case VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE:
			s->last_update_s = v;
			continue;
		case VIR_DOMAIN_MEMORY_STAT_SWAP_IN:
			g = GSTAT_SWAP_IN;
			break;
		case VIR_DOMAIN_MEMORY_STAT_SWAP_OUT:
			g = GSTAT_SWAP_OUT;
			break;
		case VIR_DOMAIN_MEMORY_STAT_UNUSED:
			g = GSTAT_FREE;
			break;
		case VIR_DOMAIN_MEMORY_STAT_AVAILABLE:	/* MemTotal, despite the name */
			g = GSTAT_TOTAL;
			break;
		case VIR_DOMAIN_MEMORY_STAT_USABLE:	/* MemAvailable */
			g = GSTAT_AVAIL;
			break;
		case VIR_DOMAIN_MEMORY_STAT_DISK_CACHES:
			g = GSTAT_CACHES;
			break;
		case VIR_DOMAIN_MEMORY_STAT_MAJOR_FAULT:
			s->val[GSTAT_MAJFLT] = v;
			s->known |= 1u << GSTAT_MAJFLT;
			continue;
		case VIR_DOMAIN_MEMORY_STAT_MINOR_FAULT:
			s->val[GSTAT_MINFLT] = v;
			s->known |= 1u << GSTAT_MINFLT;
			continue;
		default:
			continue;
		}
		/* in KiB: a value that would overflow in bytes is a lie, left unknown */
		if (v > UINT64_MAX / KIB) {
			l->counters.bad_values++;
			continue;
		}
		s->val[g] = v * KIB;
		s->known |= 1u << g;
	}
	return 0;
}

static int read_pid(const struct lsession *l)
{
	char path[PATH_MAX + 80];
	uint64_t pid = 0;

	snprintf(path, sizeof(path), "%s/%s.pid", l->cfg->libvirt_pid_dir, l->vc->name);
	if (read_u64_file(path, &pid) < 0 || pid == 0 || pid > INT32_MAX)
		return 0;
	return (int)pid;
}

static bool reporting_on(const struct lsession *l)
{
	char *xml = virDomainGetXMLDesc(l->dom, 0);
	bool on = xml && strstr(xml, "freePageReporting='on'");

	free(xml);
	return on;
}

/* Look the domain up and learn it; ready when it has a balloon. */
static void setup(struct lsession *l, virConnectPtr conn, uint64_t now)
{
	struct guest_stats s;
	unsigned long max_kib;
	uint64_t actual;

	if (!l->dom || l->generation != lv_conn_generation(l->conn)) {
		drop_domain(l);
		l->dom = virDomainLookupByName(conn, l->vc->name);
		if (!l->dom) {
			set_state(l, SESSION_GONE);
			return;
		}
		l->generation = lv_conn_generation(l->conn);
		set_state(l, SESSION_SETUP);
	}
	if (l->state == SESSION_NO_BALLOON && now < l->retry_ms)
		return;
	max_kib = virDomainGetMaxMemory(l->dom);
	if (!max_kib) {
		failed(l, "virDomainGetMaxMemory");
		return;
	}
	l->info.boot_bytes = (uint64_t)max_kib * KIB;
	l->info.stats_supported = virDomainSetMemoryStatsPeriod(
		l->dom, (int)l->cfg->stats_interval_s, VIR_DOMAIN_AFFECT_LIVE) == 0;
	if (!l->info.stats_supported)
		vm_log(l->log, VM_LOG_SESSION, LOG_LVL_WARN, "cannot set the stats period: %s",
		       lv_error());
	l->info.free_reporting = reporting_on(l);
	l->info.vmm_pid = read_pid(l);
	snprintf(l->info.balloon, sizeof(l->info.balloon), "memballoon");
	if (read_stats(l, &s, &actual) < 0 || !actual || actual > l->info.boot_bytes) {
		if (l->state != SESSION_NO_BALLOON)
			vm_log(l->log, VM_LOG_SESSION, LOG_LVL_WARN,
			       "no balloon size from libvirt (no <memballoon>?)");
		set_state(l, SESSION_NO_BALLOON);
		l->retry_ms = now + NO_BALLOON_RETRY_MS;
		return;
	}
	vm_log(l->log, VM_LOG_SESSION, LOG_LVL_INFO, "libvirt domain %s, pid %d, "
	       "free page reporting %s", l->vc->name, l->info.vmm_pid,
	       l->info.free_reporting ? "on" : "off");
	l->actual = l->target = actual;
	l->last_stamp_s = 0;
	l->stats_due_ms = l->stats_answered_ms = 0;
	l->ops->adopt(l->owner, actual);
	set_state(l, SESSION_READY);
}

static void poll_stats(struct lsession *l, uint64_t now)
{
	uint64_t after = l->stats_answered_ms, actual;
	struct guest_stats s;

	l->last_stats_ms = l->last_actual_ms = now;
	if (read_stats(l, &s, &actual) < 0) {
		failed(l, "virDomainMemoryStats");
		return;
	}
	l->stats_answered_ms = now;
	if (actual && actual <= l->info.boot_bytes && actual != l->actual) {
		l->actual = actual;
		l->ops->actual(l->owner, actual);
	}
	l->info.guest_silent = s.last_update_s == 0;
	if (l->info.guest_silent || s.last_update_s == l->last_stamp_s)
		return;
	l->last_stamp_s = s.last_update_s;
	l->stats_due_ms = now + (uint64_t)l->cfg->stats_interval_s * 1000;
	l->ops->sample(l->owner, &s, after);
}

static void poll_actual(struct lsession *l, uint64_t now)
{
	virDomainInfo di;
	uint64_t actual;

	l->last_actual_ms = now;
	if (virDomainGetInfo(l->dom, &di) < 0) {
		failed(l, "virDomainGetInfo");
		return;
	}
	actual = (uint64_t)di.memory * KIB;
	if (actual && actual <= l->info.boot_bytes && actual != l->actual) {
		l->actual = actual;
		l->ops->actual(l->owner, actual);
	}
}

/* The guest's disk reads: the sum of rd.bytes over its block devices. */
static void poll_blockstats(struct lsession *l, uint64_t now)
{
	virDomainPtr doms[2] = { l->dom, NULL };
	virDomainStatsRecordPtr *rec = NULL;
	uint64_t sum = 0;
	int n;

	l->last_blockstats_ms = now;
	n = virDomainListGetStats(doms, VIR_DOMAIN_STATS_BLOCK, &rec, 0);
	if (n < 1) {
		virDomainStatsRecordListFree(rec);
		return;
	}
	for (int i = 0; i < rec[0]->nparams; i++) {
		const virTypedParameter *p = &rec[0]->params[i];
		size_t len = strlen(p->field);

		if (len > 9 && strncmp(p->field, "block.", 6) == 0 &&
		    strcmp(p->field + len - 9, ".rd.bytes") == 0 &&
		    p->type == VIR_TYPED_PARAM_ULLONG)
			sum += p->value.ul;
	}
	virDomainStatsRecordListFree(rec);
	l->ops->disk_reads(l->owner, sum);
}

static void ls_tick(struct session *s, uint64_t now)
{
	struct lsession *l = ls_of(s);
	virConnectPtr conn = lv_conn_get(l->conn);
	bool moving;

	if (l->done_pending) {
		l->done_pending = false;
		l->info.inflight_target = 0;
		l->ops->target_done(l->owner, l->target, l->done_err);
	}
	if (!conn) {
		drop_domain(l);
		set_state(l, SESSION_CONNECTING);
		return;
	}
	if (l->state != SESSION_READY || l->generation != lv_conn_generation(l->conn)) {
		setup(l, conn, now);
		return;
	}
	moving = absdiff_u64(l->actual, l->target) > MIB;
	if (l->info.stats_supported && now - l->last_stats_ms >= l->cfg->stats_poll_ms &&
	    now + 50 >= l->stats_due_ms)
		poll_stats(l, now);
	if (l->dom && now - l->last_actual_ms >= (moving ? MOVING_POLL_MS : IDLE_POLL_MS))
		poll_actual(l, now);
	if (l->dom && now - l->last_blockstats_ms >= BLOCKSTATS_MS)
		poll_blockstats(l, now);
}

static int ls_set_target(struct session *s, uint64_t bytes, bool force)
{
	struct lsession *l = ls_of(s);

	if (!l->dom || l->state != SESSION_READY)
		return -ENOTCONN;
	if (l->done_pending && !force)
		return -EBUSY;
	l->done_err = virDomainSetMemoryFlags(l->dom, (unsigned long)(bytes / KIB),
					      VIR_DOMAIN_AFFECT_LIVE) < 0 ? -EIO : 0;
	if (l->done_err)
		failed(l, "virDomainSetMemoryFlags");
	else
		l->target = bytes;
	l->done_pending = true;
	l->info.inflight_target = bytes;
	return 0;
}

static enum session_state ls_state(const struct session *s)
{
	return cls_of(s)->state;
}

static const struct session_info *ls_info(const struct session *s)
{
	return &cls_of(s)->info;
}

static const struct session_counters *ls_counters(const struct session *s)
{
	return &cls_of(s)->counters;
}

static void ls_dump(const struct session *s, json_t *o)
{
	const struct lsession *l = cls_of(s);

	json_object_set_new(o, "libvirt", json_string(lv_conn_uri(l->conn)));
	json_object_set_new(o, "connected", json_boolean(l->state == SESSION_READY));
}

static void ls_free(struct session *s)
{
	struct lsession *l = ls_of(s);

	drop_domain(l);
	free(l);
}

static const struct session_backend libvirt_backend = {
	.name = "libvirt",
	.free = ls_free,
	.tick = ls_tick,
	.set_target = ls_set_target,
	.state = ls_state,
	.info = ls_info,
	.counters = ls_counters,
	.dump = ls_dump,
};

int session_libvirt_new(struct lv_conn *conn, const struct daemon_config *cfg,
			const struct vm_config *vc, struct vm_log *log,
			const struct session_ops *ops, void *owner, struct session **ret)
{
	struct lsession *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->base.be = &libvirt_backend;
	l->conn = conn;
	l->cfg = cfg;
	l->vc = vc;
	l->log = log;
	l->ops = ops;
	l->owner = owner;
	*ret = &l->base;
	return 0;
}
