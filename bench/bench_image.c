/* SPDX-License-Identifier: MIT */
/*
 * bench_image.c - --workload PATH: a guest image that also holds PATH, as
 * one more cpio archive appended to the stock initrd.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_run.h"

static int cpio_entry(FILE *f, const char *name, unsigned mode, const void *data,
		      size_t len, unsigned ino)
{
	static const char zeros[4];
	size_t nl = strlen(name) + 1;

	fprintf(f, "070701%08X%08X%08X%08X%08X%08X%08zX%08X%08X%08X%08X%08zX%08X",
		ino, mode, 0u, 0u, 1u, 0u, len, 0u, 0u, 0u, 0u, nl, 0u);
	fwrite(name, 1, nl, f);
	fwrite(zeros, 1, (4 - ((110 + nl) % 4)) % 4, f);
	if (len) {
		fwrite(data, 1, len, f);
		fwrite(zeros, 1, (4 - len % 4) % 4, f);
	}
	return ferror(f) ? -EIO : 0;
}

static int copy_file(FILE *dst, const char *src, size_t *ret_len)
{
	char buf[65536];
	size_t n, total = 0;
	FILE *f = fopen(src, "rb");

	if (!f)
		return -errno;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		fwrite(buf, 1, n, dst);
		total += n;
	}
	fclose(f);
	*ret_len = total;
	return ferror(dst) ? -EIO : 0;
}

/*
 * OUT/image: the stock image's kernel (symlinks) and its initrd with one more
 * cpio archive appended that holds /ab/bin/NAME (the kernel unpacks
 * concatenated archives, each starting on a 4-byte boundary).
 */
int make_custom_image(const char *base_dir, const char *out_abs,
			     const char *prog, char *ret_dir, size_t len)
{
	char p[PATH_MAX + 64], src[PATH_MAX], name[64], abspath[PATH_MAX];
	const char *b = strrchr(prog, '/');
	struct stat st;
	FILE *f;
	void *data;
	size_t blen = 0;
	int r;

	snprintf(name, sizeof(name), "%s", b ? b + 1 : prog);
	for (char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.'))
			return -EINVAL;
	if (stat(prog, &st) < 0)
		return -errno;
	if (pathf(ret_dir, len, "%s/image", out_abs))
		return -ENAMETOOLONG;
	r = hx_mkdir_p(ret_dir);
	if (r < 0)
		return r;
	for (int k = 0; k < 2; k++) {
		const char *kn = k ? "vmlinuz" : "vmlinux";

		snprintf(src, sizeof(src), "%s/%s", base_dir, kn);
		snprintf(p, sizeof(p), "%s/%s", ret_dir, kn);
		unlink(p);
		if (realpath(src, abspath) && symlink(abspath, p) < 0)
			return -errno;
	}
	snprintf(p, sizeof(p), "%s/initrd.img", ret_dir);
	f = fopen(p, "wb");
	if (!f)
		return -errno;
	snprintf(src, sizeof(src), "%s/initrd.img", base_dir);
	r = copy_file(f, src, &blen);
	if (r == 0) {
		static const char zeros[4];

		fwrite(zeros, 1, (4 - blen % 4) % 4, f);
		data = malloc((size_t)st.st_size + 1);
		FILE *pf = fopen(prog, "rb");

		if (!data || !pf || fread(data, 1, (size_t)st.st_size, pf) != (size_t)st.st_size) {
			r = -EIO;
		} else {
			char entry[128];

			snprintf(entry, sizeof(entry), "ab/bin/%s", name);
			r = cpio_entry(f, "ab", 040755, NULL, 0, 900001);
			if (!r)
				r = cpio_entry(f, "ab/bin", 040755, NULL, 0, 900002);
			if (!r)
				r = cpio_entry(f, entry, 0100755, data, (size_t)st.st_size, 900003);
			if (!r)
				r = cpio_entry(f, "TRAILER!!!", 0, NULL, 0, 0);
		}
		if (pf)
			fclose(pf);
		free(data);
	}
	if (fclose(f) != 0 && !r)
		r = -EIO;
	return r;
}
