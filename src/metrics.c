/* SPDX-License-Identifier: MIT */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
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
#include "util.h"
#include "vm.h"
#include "hostwatch.h"

struct metrics {
	struct MHD_Daemon *mhd;
	struct manager *mgr;
	struct loop_watch *watch;
	struct loop_watch *timer;
};

/* ------------------------------------------------------------- rendering */

#define VM_NAME_LABEL 160	/* a VM name (< 64), escaped */

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
void metrics_escape_label(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	for (; *s && o + 3 < len; s++) {
		if (*s == '\\' || *s == '"') {
			buf[o++] = '\\';
			buf[o++] = *s;
		} else if (*s == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *s;
		}
	}
	if (len)
		buf[o] = '\0';
}

static void header(struct out *o, const char *name, const char *type, const char *help)
{
	outf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(struct out *o, const char *name, double v, const char *help)
{
	header(o, name, "gauge", help);
	outf(o, "%s %.17g\n", name, v);
}

static void counter(struct out *o, const char *name, uint64_t v, const char *help)
{
	header(o, name, "counter", help);
	outf(o, "%s %" PRIu64 "\n", name, v);
}

static const struct {
	enum vm_num n;
	const char *name, *type, *help;
} vm_metrics[] = {
	{ VN_TARGET, "autoballoon_vm_target_bytes", "gauge",
	  "Balloon target: guest memory size the daemon asked for" },
	{ VN_ACTUAL, "autoballoon_vm_actual_bytes", "gauge",
	  "Guest memory size now (boot memory minus balloon)" },
	{ VN_MAX, "autoballoon_vm_max_bytes", "gauge", "Upper bound (boot memory)" },
	{ VN_MIN, "autoballoon_vm_min_bytes", "gauge", "Lower bound" },
	{ VN_AVAIL, "autoballoon_vm_available_bytes", "gauge",
	  "Guest-reported available memory" },
	{ VN_CACHE, "autoballoon_vm_cache_bytes", "gauge",
	  "Guest-reported page cache" },
	{ VN_RESIDENT, "autoballoon_vm_resident_bytes", "gauge",
	  "Host memory backing the guest's RAM (its QEMU's resident guest RAM)" },
	{ VN_SWAPPED, "autoballoon_vm_swapped_bytes", "gauge",
	  "Guest RAM in the host's swap" },
	{ VN_SWAPIN_PPS, "autoballoon_vm_swapin_pages_per_second", "gauge",
	  "Guest swap-in rate" },
	{ VN_SWAPOUT_PPS, "autoballoon_vm_swapout_pages_per_second", "gauge",
	  "Guest swap-out rate" },
	{ VN_MAJFLT_PS, "autoballoon_vm_major_faults_per_second", "gauge",
	  "Guest major fault rate" },
	{ VN_REFAULT_PPS, "autoballoon_vm_refault_pages_per_second", "gauge",
	  "Refault rate measured by the host: guest disk reads plus host swap-ins" },
	{ VN_TARGETS_SENT, "autoballoon_vm_targets_sent_total", "counter",
	  "Balloon targets sent" },
	{ VN_GUEST_DEFLATIONS, "autoballoon_vm_guest_deflations_total", "counter",
	  "Times the guest took memory back by itself" },
	{ VN_QMP_FAILURES, "autoballoon_vm_qmp_failures_total", "counter",
	  "QMP commands that failed or timed out" },
};

static const char *const vm_states[] = { "connecting", "ok", "guest-deflated",
	"uncooperative", "no-balloon", "gone" };

char *metrics_render(const struct manager *m)
{
	const struct daemon_config *cfg = manager_config(m);
	const struct host_watch *hw = manager_host(m);
	const struct policy_host *ph = manager_last_round(m);
	const struct manager_counters *c = manager_counters(m);
	size_t n = manager_vm_count(m);
	uint64_t now = now_ms();
	struct out o = { 0 };
	char label[VM_NAME_LABEL];

	for (size_t k = 0; k < ARRAY_SIZE(vm_metrics); k++) {
		header(&o, vm_metrics[k].name, vm_metrics[k].type, vm_metrics[k].help);
		for (size_t i = 0; i < n; i++) {
			const struct vm *v = manager_vm(m, i);
			struct vm_value x = vm_value(v, vm_metrics[k].n, cfg->stats_stale_ms, now);

			if (!x.known)
				continue;
			metrics_escape_label(v->cfg.name, label, sizeof(label));
			if (x.real)
				outf(&o, "%s{vm=\"%s\"} %.17g\n", vm_metrics[k].name, label, x.d);
			else
				outf(&o, "%s{vm=\"%s\"} %" PRIu64 "\n", vm_metrics[k].name, label,
				     x.u);
		}
	}
	header(&o, "autoballoon_vm_state", "gauge", "1 for the VM's current state");
	for (size_t i = 0; i < n; i++) {
		const struct vm *v = manager_vm(m, i);
		const char *st = vm_state_label(v);

		metrics_escape_label(v->cfg.name, label, sizeof(label));
		for (size_t s = 0; s < ARRAY_SIZE(vm_states); s++)
			outf(&o, "autoballoon_vm_state{vm=\"%s\",state=\"%s\"} %d\n", label,
			     vm_states[s], strcmp(st, vm_states[s]) == 0);
	}
	if (hw->ok) {
		gauge(&o, "autoballoon_host_limit_bytes", (double)hw->hm.total_bytes,
		      "Host (or slice) memory limit");
		gauge(&o, "autoballoon_host_used_bytes", (double)hw->hm.used_bytes,
		      "Host (or slice) memory in use");
		gauge(&o, "autoballoon_host_available_bytes", (double)hw->hm.avail_bytes,
		      "Host (or slice) memory available without swapping");
		gauge(&o, "autoballoon_host_swap_used_bytes", (double)hw->hm.swap_used_bytes,
		      "Memory of the host (or slice) in swap");
	}
	if (cfg->policy == POLICY_AUTO && ph->overhead_ms)
		gauge(&o, "autoballoon_host_overhead_bytes", (double)ph->overhead_bytes,
		      "Host (or slice) memory in use besides the guests' RAM (auto policy)");
	gauge(&o, "autoballoon_host_pressured", ph->pressured,
	      "1 while the host is under memory pressure (with hysteresis)");
	if (hw->psi_ok)
		gauge(&o, "autoballoon_host_psi_some_avg10", hw->psi.some_avg10,
		      "Memory PSI some avg10 (percent)");
	counter(&o, "autoballoon_policy_rounds_total", c->rounds, "Policy rounds run");
	counter(&o, "autoballoon_pressure_events_total", hw->pressure_events,
		"Host pressure notifications");
	counter(&o, "autoballoon_qmp_errors_total", c->qmp_errors,
		"QMP commands that failed or timed out, all VMs");
	counter(&o, "autoballoon_targets_sent_total", c->targets_sent,
		"Balloon targets sent, all VMs");
	gauge(&o, "autoballoon_paused", manager_paused(m), "1 while balloon changes are paused");
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
	char *body;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		body = strdup("method not allowed\n");
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else if (strcmp(url, "/metrics") != 0) {
		body = strdup("autoballoond: metrics are at /metrics\n");
		status = MHD_HTTP_NOT_FOUND;
	} else {
		body = metrics_render(mt->mgr);
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
