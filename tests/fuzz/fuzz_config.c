/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config - the configuration file (an admin's typo must be an error,
 * never a crash): the whole text through config_load_string(), and each
 * line's value through the size, percentage, duration and boolean parsers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct daemon_config c;
	char err[4096], *text, *save = NULL;
	uint64_t u;
	uint32_t pct;
	bool b;

	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	config_init_defaults(&c);
	(void)config_load_string("fuzz.conf", text, &c, err, sizeof(err));
	config_free(&c);
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(l, '=');
		const char *v = eq ? eq + 1 : l;

		(void)parse_size(v, &u);
		(void)parse_size_or_pct(v, &u, &pct);
		(void)parse_duration_ms(v, &u);
		(void)parse_u64(v, &u);
		(void)parse_bool(v, &b);
	}
	free(text);
	return 0;
}
