/* SPDX-License-Identifier: MIT */
#include "hostwatch.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "config.h"
#include "log.h"
#include "loop.h"
#include "util.h"

void host_watch_init(struct host_watch *h, struct loop *l, const struct logger *log,
		     void (*on_pressure)(void *owner), void *owner)
{
	memset(h, 0, sizeof(*h));
	h->loop = l;
	h->log = log;
	h->on_pressure = on_pressure;
	h->owner = owner;
	pressure_mon_init(&h->pmon);
}

static void close_pressure(struct host_watch *h)
{
	loop_remove(h->pressure_watch);
	h->pressure_watch = NULL;
	pressure_mon_close(&h->pmon);
}

void host_watch_close(struct host_watch *h)
{
	close_pressure(h);
}

int host_watch_read(struct host_watch *h, uint64_t now)
{
	int r = host_mem_read(&h->src, &h->hm);

	if (r < 0) {
		h->read_errors++;
		if (!h->err_logged)
			log_err(h->log, "cannot read host memory (%s%s): %s; skipping rounds",
				host_kind_name(h->src.kind),
				h->src.kind == HOST_PROC ? "" : h->src.cgroup_dir, strerror(-r));
		h->err_logged = true;
		h->ok = false;
		return r;
	}
	h->psi_ok = h->psi_avg_path[0] && psi_read(h->psi_avg_path, &h->psi) == 0;
	avail_trend_update(&h->trend, now, h->hm.avail_bytes);
	if (h->err_logged)
		log_info(h->log, "host memory readable again");
	h->err_logged = false;
	h->ok = true;
	return 0;
}

static void on_pressure(struct loop_watch *w, uint32_t events, void *data)
{
	struct host_watch *h = data;

	if (events & EPOLLERR) {
		log_warn(h->log, "pressure monitor %s went away; using the tick only",
			 h->pmon.source);
		close_pressure(h);
		return;
	}
	pressure_mon_ack(&h->pmon);
	h->pressure_events++;
	log_debug(h->log, "host memory pressure event");
	h->on_pressure(h->owner);
}

/* cgroup v1: vmpressure; otherwise a PSI trigger; neither: the tick alone. */
static int open_pressure(struct host_watch *h, const struct daemon_config *c)
{
	char psi[PATH_MAX + 32];
	enum pressure_mode mode = c->pressure;
	int r = -ENOENT;

	close_pressure(h);
	h->psi_avg_path[0] = '\0';
	if (mode == PRESSURE_MODE_NONE)
		return 0;
	if (c->psi_path[0])
		snprintf(psi, sizeof(psi), "%s", c->psi_path);
	else if (h->src.kind == HOST_CGROUP_V2)
		snprintf(psi, sizeof(psi), "%s/memory.pressure", h->src.cgroup_dir);
	else
		snprintf(psi, sizeof(psi), "%s/pressure/memory", c->proc_dir);
	snprintf(h->psi_avg_path, sizeof(h->psi_avg_path), "%s", psi);

	if (mode == PRESSURE_MODE_VMPRESSURE ||
	    (mode == PRESSURE_MODE_AUTO && h->src.kind == HOST_CGROUP_V1)) {
		r = vmpressure_open(&h->pmon, h->src.cgroup_dir, c->vmpressure_level);
		if (r < 0 && mode == PRESSURE_MODE_VMPRESSURE)
			return r;
	}
	if (r < 0)
		r = psi_trigger_open(&h->pmon, psi, c->psi_stall_us, c->psi_window_us);
	if (r < 0) {
		if (mode == PRESSURE_MODE_PSI)
			return r;
		log_warn(h->log, "no pressure notifications (%s: %s); using the tick only",
			 psi, strerror(-r));
		return 0;
	}
	r = loop_add_io(h->loop, h->pmon.fd, h->pmon.poll_events, 0, on_pressure, h,
			&h->pressure_watch);
	if (r < 0)
		return r;
	log_info(h->log, "pressure notifications: %s on %s",
		 pressure_kind_name(h->pmon.kind), h->pmon.source);
	return 0;
}

int host_watch_setup(struct host_watch *h, const struct daemon_config *c)
{
	char a[32], b[32];
	int r;

	r = host_source_init(&h->src, c->proc_dir, c->cgroup, c->cgroup_version);
	if (r < 0) {
		log_err(h->log, "host: cannot use %s: %s", c->cgroup[0] ? c->cgroup : c->proc_dir,
			strerror(-r));
		return r;
	}
	r = host_watch_read(h, now_ms());
	if (r < 0)
		return r;
	log_info(h->log, "host: %s%s%s, %s total, %s available", host_kind_name(h->src.kind),
		 h->src.kind == HOST_PROC ? "" : " ", h->src.cgroup_dir,
		 fmt_bytes(h->hm.total_bytes, a, sizeof(a)),
		 fmt_bytes(h->hm.avail_bytes, b, sizeof(b)));
	return open_pressure(h, c);
}
