/* SPDX-License-Identifier: MIT */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "loop.h"
#include "manager.h"
#include "policy.h"

struct metrics {
	struct MHD_Daemon *mhd;
	struct manager *mgr;
	struct loop_watch *watch;
	struct loop_watch *timer;
};

/* ------------------------------------------------------------- rendering */

struct out {
	char *buf;
	size_t len, cap;
	bool oom;
};

__attribute__((format(printf, 2, 3)))
static void outf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->oom)
		return;
	for (;;) {
		size_t room = o->cap - o->len;

		va_start(ap, fmt);
		n = vsnprintf(o->buf ? o->buf + o->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->oom = true;
			return;
		}
		if ((size_t)n < room) {
			o->len += (size_t)n;
			return;
		}
		{
			size_t cap = o->cap ? o->cap * 2 : 8192;
			char *p;

			while (cap - o->len <= (size_t)n)
				cap *= 2;
			p = realloc(o->buf, cap);
			if (!p) {
				o->oom = true;
				return;
			}
			o->buf = p;
			o->cap = cap;
		}
	}
}

/* Label values: escape backslash, quote and newline. */
static void out_label(struct out *o, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			outf(o, "\\%c", *s);
		else if (*s == '\n')
			outf(o, "\\n");
		else
			outf(o, "%c", *s);
	}
}

static void header(struct out *o, const char *name, const char *type, const char *help)
{
	outf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void host_metric(struct out *o, const json_t *host, const char *key,
			const char *name, const char *help)
{
	const json_t *v = json_object_get(host, key);

	if (!json_is_number(v) && !json_is_boolean(v))
		return;
	header(o, name, "gauge", help);
	outf(o, "%s %.17g\n", name, json_is_boolean(v) ? (json_is_true(v) ? 1.0 : 0.0)
						       : json_number_value(v));
}

static void counter(struct out *o, const json_t *counters, const char *key,
		    const char *name, const char *help)
{
	const json_t *v = json_object_get(counters, key);

	if (!json_is_number(v))
		return;
	header(o, name, "counter", help);
	outf(o, "%s %.17g\n", name, json_number_value(v));
}

static const struct {
	const char *key, *name, *type, *help;
} vm_metrics[] = {
	{ "target_bytes", "autoballoon_vm_target_bytes", "gauge",
	  "Balloon target: guest memory size the daemon asked for" },
	{ "actual_bytes", "autoballoon_vm_actual_bytes", "gauge",
	  "Guest memory size now (boot memory minus balloon)" },
	{ "max_bytes", "autoballoon_vm_max_bytes", "gauge", "Upper bound (boot memory)" },
	{ "min_bytes", "autoballoon_vm_min_bytes", "gauge", "Lower bound" },
	{ "available_bytes", "autoballoon_vm_available_bytes", "gauge",
	  "Guest-reported available memory" },
	{ "cache_bytes", "autoballoon_vm_cache_bytes", "gauge",
	  "Guest-reported page cache" },
	{ "resident_bytes", "autoballoon_vm_resident_bytes", "gauge",
	  "Host memory backing the guest's RAM (its QEMU's resident guest RAM)" },
	{ "swapped_bytes", "autoballoon_vm_swapped_bytes", "gauge",
	  "Guest RAM in the host's swap" },
	{ "swapin_pps", "autoballoon_vm_swapin_pages_per_second", "gauge",
	  "Guest swap-in rate" },
	{ "swapout_pps", "autoballoon_vm_swapout_pages_per_second", "gauge",
	  "Guest swap-out rate" },
	{ "majflt_ps", "autoballoon_vm_major_faults_per_second", "gauge",
	  "Guest major fault rate" },
	{ "targets_sent", "autoballoon_vm_targets_sent_total", "counter",
	  "Balloon targets sent" },
	{ "guest_deflations", "autoballoon_vm_guest_deflations_total", "counter",
	  "Times the guest took memory back by itself" },
	{ "qmp_failures", "autoballoon_vm_qmp_failures_total", "counter",
	  "QMP commands that failed or timed out" },
};

char *metrics_render(const json_t *dump)
{
	const json_t *host = json_object_get(dump, "host");
	const json_t *counters = json_object_get(dump, "counters");
	const json_t *vms = json_object_get(dump, "vms");
	static const char *const states[] = { "connecting", "ok", "guest-deflated",
		"uncooperative", "no-balloon", "gone" };
	struct out o = { 0 };
	size_t i;
	json_t *vm;

	for (size_t k = 0; k < sizeof(vm_metrics) / sizeof(vm_metrics[0]); k++) {
		header(&o, vm_metrics[k].name, vm_metrics[k].type, vm_metrics[k].help);
		json_array_foreach(vms, i, vm) {
			const json_t *v = json_object_get(vm, vm_metrics[k].key);

			if (!json_is_number(v))
				continue;
			outf(&o, "%s{vm=\"", vm_metrics[k].name);
			out_label(&o, json_string_value(json_object_get(vm, "name")));
			outf(&o, "\"} %.17g\n", json_number_value(v));
		}
	}
	header(&o, "autoballoon_vm_state", "gauge", "1 for the VM's current state");
	json_array_foreach(vms, i, vm) {
		const char *st = json_string_value(json_object_get(vm, "state"));

		for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
			outf(&o, "autoballoon_vm_state{vm=\"");
			out_label(&o, json_string_value(json_object_get(vm, "name")));
			outf(&o, "\",state=\"%s\"} %d\n", states[s],
			     st && strcmp(st, states[s]) == 0);
		}
	}
	host_metric(&o, host, "total_bytes", "autoballoon_host_limit_bytes",
		    "Host (or slice) memory limit");
	host_metric(&o, host, "used_bytes", "autoballoon_host_used_bytes",
		    "Host (or slice) memory in use");
	host_metric(&o, host, "available_bytes", "autoballoon_host_available_bytes",
		    "Host (or slice) memory available without swapping");
	host_metric(&o, host, "swap_used_bytes", "autoballoon_host_swap_used_bytes",
		    "Memory of the host (or slice) in swap");
	host_metric(&o, host, "overhead_bytes", "autoballoon_host_overhead_bytes",
		    "Host (or slice) memory in use besides the guests' RAM (auto policy)");
	host_metric(&o, host, "pressured", "autoballoon_host_pressured",
		    "1 while the host is under memory pressure (with hysteresis)");
	host_metric(&o, host, "psi_some_avg10", "autoballoon_host_psi_some_avg10",
		    "Memory PSI some avg10 (percent)");
	counter(&o, counters, "rounds", "autoballoon_policy_rounds_total", "Policy rounds run");
	counter(&o, counters, "pressure_events", "autoballoon_pressure_events_total",
		"Host pressure notifications");
	counter(&o, counters, "qmp_errors", "autoballoon_qmp_errors_total",
		"QMP commands that failed or timed out, all VMs");
	counter(&o, counters, "targets_sent", "autoballoon_targets_sent_total",
		"Balloon targets sent, all VMs");
	header(&o, "autoballoon_paused", "gauge", "1 while balloon changes are paused");
	outf(&o, "autoballoon_paused %d\n", json_is_true(json_object_get(dump, "paused")));
	if (o.oom) {
		free(o.buf);
		return NULL;
	}
	return o.buf ? o.buf : strdup("");
}

/* ------------------------------------------------------------- serving */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct metrics *mt = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	unsigned status = MHD_HTTP_OK;
	json_t *dump;
	char *body;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		body = strdup("method not allowed\n");
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else if (strcmp(url, "/metrics") != 0) {
		body = strdup("autoballoond: metrics are at /metrics\n");
		status = MHD_HTTP_NOT_FOUND;
	} else {
		dump = manager_dump(mt->mgr, false);
		body = metrics_render(dump);
		json_decref(dump);
	}
	if (!body)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void on_mhd(struct loop_watch *w, uint32_t events, void *data)
{
	struct metrics *mt = data;

	MHD_run(mt->mhd);
}

static void on_mhd_timer(struct loop_watch *w, uint64_t exp, void *data)
{
	struct metrics *mt = data;

	/* Connection timeouts are handled inside MHD_run. */
	MHD_run(mt->mhd);
}

int metrics_new(struct loop *l, const char *address, uint16_t port,
		struct manager *m, struct metrics **ret)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	const union MHD_DaemonInfo *info;
	struct metrics *mt;
	int r;

	if (inet_pton(AF_INET, address, &sa.sin_addr) != 1)
		return -EINVAL;
	mt = calloc(1, sizeof(*mt));
	if (!mt)
		return -ENOMEM;
	mt->mgr = m;
	mt->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, port, NULL, NULL,
				   on_request, mt,
				   MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				   MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
				   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
				   MHD_OPTION_END);
	if (!mt->mhd) {
		free(mt);
		return -EADDRINUSE;
	}
	info = MHD_get_daemon_info(mt->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		metrics_free(mt);
		return -ENOTSUP;
	}
	r = loop_add_io(l, info->epoll_fd, EPOLLIN, 0, on_mhd, mt, &mt->watch);
	if (r == 0)
		r = loop_add_timer(l, 1000, 1000, on_mhd_timer, mt, &mt->timer);
	if (r < 0) {
		metrics_free(mt);
		return r;
	}
	*ret = mt;
	return 0;
}

void metrics_free(struct metrics *mt)
{
	if (!mt)
		return;
	loop_remove(mt->watch);
	loop_remove(mt->timer);
	if (mt->mhd)
		MHD_stop_daemon(mt->mhd);
	free(mt);
}
