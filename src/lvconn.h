/* SPDX-License-Identifier: MIT */
/*
 * lvconn.h - the daemon's connection to libvirt: running domains appear
 * and vanish with lifecycle events; keepalive and a close callback notice
 * a libvirtd that went away, and the connection is opened again with
 * backoff (the VMs keep their state meanwhile).
 */
#ifndef AB_LVCONN_H
#define AB_LVCONN_H

#include <stdbool.h>
#include <stdint.h>

#include <libvirt/libvirt.h>

struct logger;
struct loop;
struct lv_conn;

struct lv_conn_ops {
	/* A running domain (at connect, or started since); again after a reconnect. */
	void (*found)(void *owner, const char *name, const char *uuid);
	/* The domain stopped. */
	void (*lost)(void *owner, const char *name);
};

int lv_conn_start(struct loop *l, const struct logger *log, const char *uri,
		  const struct lv_conn_ops *ops, void *owner, struct lv_conn **ret);
void lv_conn_stop(struct lv_conn *c);

/* The connection, NULL while there is none. */
virConnectPtr lv_conn_get(const struct lv_conn *c);
/* Counts (re)connections: a domain handle from an older one is stale. */
uint64_t lv_conn_generation(const struct lv_conn *c);
const char *lv_conn_uri(const struct lv_conn *c);

/* libvirt's last error as text (never NULL). */
const char *lv_error(void);

#endif
