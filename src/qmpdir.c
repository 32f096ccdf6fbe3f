/* SPDX-License-Identifier: MIT */
#include "qmpdir.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "loop.h"

struct qmp_dir {
	const struct logger *log;
	char dir[PATH_MAX];
	const struct qmp_dir_ops *ops;
	void *owner;
	int fd;
	struct loop_watch *watch;
};

bool qmp_dir_vm_name(const char *file, char *name, size_t len)
{
	size_t n = strlen(file);

	if (n > 4 && strcmp(file + n - 4, ".qmp") == 0)
		n -= 4;
	else if (n > 5 && strcmp(file + n - 5, ".sock") == 0)
		n -= 5;
	else
		return false;
	if (n >= len || file[0] == '.')
		return false;
	memcpy(name, file, n);
	name[n] = '\0';
	return config_valid_vm_name(name);
}

static void file_added(struct qmp_dir *d, const char *file)
{
	char path[PATH_MAX], name[64];
	struct stat st;

	if (!qmp_dir_vm_name(file, name, sizeof(name)))
		return;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", d->dir, file) >= sizeof(path))
		return;
	if (stat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return;
	d->ops->found(d->owner, name, path);
}

static void file_removed(struct qmp_dir *d, const char *file)
{
	char name[64];

	if (qmp_dir_vm_name(file, name, sizeof(name)))
		d->ops->lost(d->owner, name);
}

static void scan(struct qmp_dir *d)
{
	DIR *dir = opendir(d->dir);
	struct dirent *e;

	if (!dir) {
		log_warn(d->log, "cannot read qmp_dir %s: %s", d->dir, strerror(errno));
		return;
	}
	while ((e = readdir(dir)))
		file_added(d, e->d_name);
	closedir(dir);
}

static void on_inotify(struct loop_watch *w, uint32_t events, void *data)
{
	struct qmp_dir *d = data;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(d->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)(void *)p;

			if (ev->mask & IN_Q_OVERFLOW)
				scan(d);
			else if (ev->len && (ev->mask & (IN_CREATE | IN_MOVED_TO | IN_ATTRIB)))
				file_added(d, ev->name);
			else if (ev->len && (ev->mask & (IN_DELETE | IN_MOVED_FROM)))
				file_removed(d, ev->name);
			p += sizeof(*ev) + ev->len;
		}
	}
}

int qmp_dir_start(struct loop *l, const struct logger *log, const char *dir,
		  const struct qmp_dir_ops *ops, void *owner, struct qmp_dir **ret)
{
	struct qmp_dir *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return -ENOMEM;
	d->log = log;
	snprintf(d->dir, sizeof(d->dir), "%s", dir);
	d->ops = ops;
	d->owner = owner;
	d->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (d->fd < 0) {
		r = -errno;
		free(d);
		return r;
	}
	if (inotify_add_watch(d->fd, dir, IN_CREATE | IN_DELETE | IN_MOVED_TO |
			      IN_MOVED_FROM | IN_ATTRIB) < 0) {
		r = -errno;
		qmp_dir_stop(d);
		return r;
	}
	r = loop_add_io(l, d->fd, EPOLLIN, 0, on_inotify, d, &d->watch);
	if (r < 0) {
		qmp_dir_stop(d);
		return r;
	}
	*ret = d;
	scan(d);
	return 0;
}

void qmp_dir_stop(struct qmp_dir *d)
{
	if (!d)
		return;
	loop_remove(d->watch);
	if (d->fd >= 0)
		close(d->fd);
	free(d);
}
