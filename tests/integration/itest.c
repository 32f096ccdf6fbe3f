/* SPDX-License-Identifier: MIT */
#include "itest.h"

#include <limits.h>
#include <stdio.h>
#include <unistd.h>

const char *itest_build_path(const char *rel, char *buf, size_t len)
{
	char cwd[PATH_MAX];

	if (!getcwd(cwd, sizeof(cwd)))
		snprintf(cwd, sizeof(cwd), ".");
	snprintf(buf, len, "%s/build/%s", cwd, rel);
	return buf;
}
