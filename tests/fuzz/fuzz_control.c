/* SPDX-License-Identifier: MIT */
/*
 * fuzz_control - the control protocol: every input line is one request to
 * control_handle() on a started manager (fake /proc, two configured VMs
 * whose QEMU does not exist), so "set", "pause", "dump" and the error paths
 * all run; the reply must always be one JSON object per line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "log.h"
#include "loop.h"
#include "manager.h"
#include "metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct loop *L;
static struct manager *M;
static struct daemon_config C;
static struct logger G = { .level = LOG_LVL_ERR };
static char dir[64];

static void cleanup(void)
{
	char p[128];

	manager_free(M);
	config_free(&C);
	loop_free(L);
	snprintf(p, sizeof(p), "%s/meminfo", dir);
	unlink(p);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char conf[1024], err[1024], p[128];
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/ab-fuzz-ctl-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	snprintf(p, sizeof(p), "%s/meminfo", dir);
	f = fopen(p, "w");
	if (!f)
		abort();
	fprintf(f, "MemTotal: 4194304 kB\nMemFree: 1048576 kB\nMemAvailable: 2097152 kB\n");
	fclose(f);
	snprintf(conf, sizeof(conf),
		 "[daemon]\ncontrol_socket = %s/ctl.sock\n[host]\nproc_dir = %s\npressure = none\n"
		 "[vm alpha]\nqmp = %s/alpha.qmp\nmax = 1G\nmin = 256M\n"
		 "[vm beta]\nqmp = %s/beta.qmp\n", dir, dir, dir, dir);
	config_init_defaults(&C);
	if (config_load_string("fuzz.conf", conf, &C, err, sizeof(err)) < 0 ||
	    loop_new(&L) < 0 || manager_new(L, &G, &C, &M) < 0 || manager_start(M) < 0)
		abort();
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *out = control_handle(M, p, len);
		json_t *j;

		if (!out)
			abort();
		/* one line, valid JSON, with "ok" */
		if (!*out || out[strlen(out) - 1] != '\n' || strchr(out, '\n') != out + strlen(out) - 1)
			abort();
		j = json_loads(out, 0, NULL);
		if (!j || !json_is_boolean(json_object_get(j, "ok")))
			abort();
		json_decref(j);
		free(out);
		p += len + 1;
	}
	/* rendering the state as metrics must hold up after any of it */
	{
		json_t *d = manager_dump(M, false);

		free(metrics_render(M));
		json_decref(d);
	}
	manager_pause(M, false);
	return 0;
}
