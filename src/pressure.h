/* SPDX-License-Identifier: MIT */
/*
 * pressure.h - kernel memory-pressure notifications that wake the loop.
 *
 * PSI: open /proc/pressure/memory or a cgroup v2 memory.pressure read-write,
 * write "some <stall_us> <window_us>", poll for EPOLLPRI (EPOLLERR: the
 * monitored group is gone). cgroup v1 vmpressure: an eventfd registered in
 * cgroup.event_control against memory.pressure_level for a level.
 */
#ifndef AB_PRESSURE_H
#define AB_PRESSURE_H

#include <stdint.h>

#define PSI_UNPRIV_WINDOW_US 2000000u

enum pressure_kind { PRESSURE_NONE, PRESSURE_PSI, PRESSURE_VMPRESSURE };

struct pressure_mon {
	enum pressure_kind kind;
	int fd;			/* poll this: EPOLLPRI (PSI) or EPOLLIN (eventfd) */
	int aux_fd[2];		/* vmpressure: memory.pressure_level, event_control */
	uint32_t poll_events;	/* what to wait for on fd */
	char source[256];	/* file the trigger is on, for logs and dumps */
};

void pressure_mon_init(struct pressure_mon *m);

/*
 * PSI trigger on path ("some" stall_us within window_us). When the kernel
 * refuses the window (unprivileged: multiples of 2 s only), the window is
 * rounded up and the stall scaled with it; m->source says what was used.
 */
int psi_trigger_open(struct pressure_mon *m, const char *path, uint32_t stall_us,
		     uint32_t window_us);
/* cgroup v1 vmpressure at level "low", "medium" or "critical". */
int vmpressure_open(struct pressure_mon *m, const char *cgroup_dir,
		    const char *level);
/* Consume a notification (reads the eventfd; no-op for PSI). */
void pressure_mon_ack(struct pressure_mon *m);
void pressure_mon_close(struct pressure_mon *m);
const char *pressure_kind_name(enum pressure_kind k);

struct psi_avgs {
	double some_avg10, some_avg60;
	double full_avg10;
	uint64_t some_total_us;
};

/* Parse a PSI file's text (pure). */
int psi_parse(const char *text, struct psi_avgs *ret);
int psi_read(const char *path, struct psi_avgs *ret);

#endif
