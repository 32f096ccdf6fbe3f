/* SPDX-License-Identifier: MIT */
#include "lvconn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>

#include "log.h"
#include "loop.h"
#include "lvevent.h"
#include "util.h"

#define RECONNECT_MIN_MS 1000
#define RECONNECT_MAX_MS 30000
#define KEEPALIVE_S 5		/* a ping every 5 s ... */
#define KEEPALIVE_COUNT 3	/* ... 3 unanswered: the connection is dead */

struct lv_conn {
	struct loop *loop;
	const struct logger *log;
	char uri[256];
	const struct lv_conn_ops *ops;
	void *owner;

	virConnectPtr conn;
	int lifecycle_id;
	uint64_t generation;
	struct loop_watch *timer;	/* (re)connect */
	uint64_t backoff_ms;
	bool closed;			/* libvirt said so: drop it at the next timer */
	bool err_logged;
};

const char *lv_error(void)
{
	virErrorPtr e = virGetLastError();

	return e && e->message ? e->message : "unknown libvirt error";
}

/* libvirt prints every error to stderr by default: the caller logs what matters. */
static void quiet(void *data, virErrorPtr e)
{
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail,
			void *opaque)
{
	struct lv_conn *c = opaque;
	char uuid[VIR_UUID_STRING_BUFLEN] = "";
	const char *name = virDomainGetName(dom);

	if (!name)
		return 0;
	if (event == VIR_DOMAIN_EVENT_STARTED) {
		virDomainGetUUIDString(dom, uuid);
		c->ops->found(c->owner, name, uuid);
	} else if (event == VIR_DOMAIN_EVENT_STOPPED) {
		c->ops->lost(c->owner, name);
	}
	return 0;
}

static void on_close(virConnectPtr conn, int reason, void *opaque)
{
	struct lv_conn *c = opaque;

	log_warn(c->log, "libvirt: connection to %s closed (reason %d); reconnecting",
		 c->uri, reason);
	c->closed = true;
	loop_timer_arm(c->timer, 1, 0);
}

static void drop(struct lv_conn *c)
{
	if (!c->conn)
		return;
	if (c->lifecycle_id >= 0)
		virConnectDomainEventDeregisterAny(c->conn, c->lifecycle_id);
	virConnectUnregisterCloseCallback(c->conn, on_close);
	virConnectClose(c->conn);
	c->conn = NULL;
	c->lifecycle_id = -1;
}

static void list_domains(struct lv_conn *c)
{
	virDomainPtr *doms = NULL;
	int n = virConnectListAllDomains(c->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);

	if (n < 0)
		log_warn(c->log, "libvirt: cannot list domains: %s", lv_error());
	else
		log_debug(c->log, "libvirt: %d running domain(s)", n);
	for (int i = 0; i < n; i++) {
		char uuid[VIR_UUID_STRING_BUFLEN] = "";
		const char *name = virDomainGetName(doms[i]);

		virDomainGetUUIDString(doms[i], uuid);
		if (name)
			c->ops->found(c->owner, name, uuid);
		virDomainFree(doms[i]);
	}
	free(doms);
}

static int try_open(struct lv_conn *c)
{
	c->conn = virConnectOpen(c->uri);
	if (!c->conn)
		return -ECONNREFUSED;
	if (virConnectSetKeepAlive(c->conn, KEEPALIVE_S, KEEPALIVE_COUNT) < 0 ||
	    virConnectRegisterCloseCallback(c->conn, on_close, c, NULL) < 0)
		goto fail;
	c->lifecycle_id = virConnectDomainEventRegisterAny(
		c->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
		VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), c, NULL);
	if (c->lifecycle_id < 0)
		goto fail;
	c->generation++;
	c->closed = false;
	c->backoff_ms = 0;
	log_info(c->log, "libvirt: connected to %s", c->uri);
	c->err_logged = false;
	list_domains(c);
	return 0;
fail:
	drop(c);
	return -EIO;
}

static void on_timer(struct loop_watch *w, uint64_t exp, void *data)
{
	struct lv_conn *c = data;

	if (c->closed)
		drop(c);
	if (c->conn)
		return;
	if (try_open(c) == 0)
		return;
	if (!c->err_logged)
		log_warn(c->log, "libvirt: cannot connect to %s: %s; retrying", c->uri,
			 lv_error());
	c->err_logged = true;
	c->backoff_ms = c->backoff_ms ? MIN(c->backoff_ms * 2, RECONNECT_MAX_MS)
				      : RECONNECT_MIN_MS;
	loop_timer_arm(c->timer, c->backoff_ms, 0);
}

int lv_conn_start(struct loop *l, const struct logger *log, const char *uri,
		  const struct lv_conn_ops *ops, void *owner, struct lv_conn **ret)
{
	struct lv_conn *c;
	int r;

	r = lv_events_register(l);
	if (r < 0)
		return r;
	virSetErrorFunc(NULL, quiet);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->loop = l;
	c->log = log;
	snprintf(c->uri, sizeof(c->uri), "%s", uri);
	c->ops = ops;
	c->owner = owner;
	c->lifecycle_id = -1;
	r = loop_add_timer(l, 0, 0, on_timer, c, &c->timer);
	if (r < 0) {
		free(c);
		return r;
	}
	*ret = c;
	return loop_timer_arm(c->timer, 1, 0);	/* the first attempt from the loop */
}

void lv_conn_stop(struct lv_conn *c)
{
	if (!c)
		return;
	drop(c);
	loop_remove(c->timer);
	free(c);
}

virConnectPtr lv_conn_get(const struct lv_conn *c)
{
	return c && !c->closed ? c->conn : NULL;
}

uint64_t lv_conn_generation(const struct lv_conn *c)
{
	return c->generation;
}

const char *lv_conn_uri(const struct lv_conn *c)
{
	return c->uri;
}
