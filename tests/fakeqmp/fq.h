/* SPDX-License-Identifier: MIT */
/*
 * fq.h - run the fake QMP peer (fakeqmp) from a test and drive it over its
 * control socket. Prefix fq_. The process is registered with the harness
 * guard (bench/harness.h), so it goes away with the test, SIGKILL included.
 */
#ifndef AB_FQ_H
#define AB_FQ_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

struct fq_proc {
	pid_t pid;
	char qmp_dir[512];	/* DIR/qmp: the VMs' sockets (NAME.qmp) */
	char ctl[512];		/* DIR/fake.sock */
	char host_dir[512];	/* DIR/host when started with a host model */
	char log[512];		/* DIR/fake.log */
};

/*
 * Start BINARY with --dir DIR/qmp --ctl DIR/fake.sock plus args (a
 * NULL-terminated list, may be NULL); with_host adds --host DIR/host. Waits
 * until the control socket answers. 0 or a negative errno.
 */
int fq_start(const char *binary, const char *dir, bool with_host,
	     const char *const *args, struct fq_proc *ret);
/* Ask it to quit, wait (SIGKILL after 5 s). Returns its wait status or -errno. */
int fq_stop(struct fq_proc *f);

/* One control command (printf format); the reply (new reference) or NULL. */
json_t *fq_cmd(const struct fq_proc *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The same, true when the reply says ok (prints the error otherwise). */
bool fq_ok(const struct fq_proc *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "get NAME" -> the VM object (new reference) or NULL. */
json_t *fq_vm(const struct fq_proc *f, const char *name);
/* A number field of "get NAME" (NAN when missing). */
double fq_num(const struct fq_proc *f, const char *name, const char *field);

/* Path of a VM's socket into buf. */
const char *fq_sock(const struct fq_proc *f, const char *name, char *buf, size_t len);

#endif
