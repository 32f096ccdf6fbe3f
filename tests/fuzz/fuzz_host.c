/* SPDX-License-Identifier: MIT */
/*
 * fuzz_host - the host-side text parsers: /proc/meminfo, memory.stat,
 * /proc/pressure/memory.
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
	free(text);
	return 0;
}
