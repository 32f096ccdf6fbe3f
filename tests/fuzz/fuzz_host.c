/* SPDX-License-Identifier: MIT */
/*
 * fuzz_host - the host-side text parsers: /proc/meminfo, memory.stat,
 * /proc/pressure/memory, a QEMU's /proc/PID/smaps and /proc/PID/status.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hostmem.h"
#include "pressure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct meminfo mi;
	struct psi_avgs psi;
	struct guest_ram g;
	struct status_mem st;
	uint64_t v;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	(void)meminfo_parse(text, &mi);
	(void)memstat_get(text, "inactive_file", &v);
	(void)memstat_get(text, "total_swap", &v);
	(void)psi_parse(text, &psi);
	if (smaps_guest_ram(text, 4096, &g) == 0 &&
	    (g.resident_bytes > g.mapped_bytes ||
	     g.swap_bytes > g.mapped_bytes - g.resident_bytes))
		abort();	/* never more resident (or swapped) than mapped */
	if (status_mem_parse(text, &st) == 0 && !st.swap_known && st.swap_bytes)
		abort();	/* no VmSwap line: nothing swapped */
	free(text);
	return 0;
}
