/* SPDX-License-Identifier: MIT */
/*
 * qmpdir.h - QMP sockets found in a directory (qmp_dir): NAME.qmp or
 * NAME.sock is the VM NAME. inotify reports sockets that appear and go;
 * a full scan runs at start and when inotify's queue overflowed.
 */
#ifndef AB_QMPDIR_H
#define AB_QMPDIR_H

#include <stdbool.h>
#include <stddef.h>

struct loop;
struct logger;
struct qmp_dir;

struct qmp_dir_ops {
	/* A socket is there (again, maybe: the owner ignores names it has). */
	void (*found)(void *owner, const char *name, const char *path);
	/* The socket of VM name went away. */
	void (*lost)(void *owner, const char *name);
};

/* Watch dir and report what is there now. */
int qmp_dir_start(struct loop *l, const struct logger *log, const char *dir,
		  const struct qmp_dir_ops *ops, void *owner, struct qmp_dir **ret);
void qmp_dir_stop(struct qmp_dir *d);

/* The VM name of a socket file name; false when it is not one. */
bool qmp_dir_vm_name(const char *file, char *name, size_t len);

#endif
