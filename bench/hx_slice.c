/* SPDX-License-Identifier: MIT */
/*
 * hx_slice.c - cgroups and the host slice (see harness.h): detect the
 * hierarchy, make a memory-limited cgroup (with its PSI and blkio twins
 * where the host needs them), move processes in, throttle and count its
 * I/O, read its usage, remove it.
 */
#include "harness.h"
#include "hx_util.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int hx_cgroup_detect(const char *fs_root, struct hx_cgroup_info *ret)
{
	const char *root = fs_root ? fs_root : "/sys/fs/cgroup";
	char path[PATH_MAX], buf[1024];
	memset(ret, 0, sizeof(*ret));

	if (hxu_fmt_path(path, sizeof(path), "%s/cgroup.controllers", root))
		return -ENAMETOOLONG;
	if (hxu_read_text(path, buf, sizeof(buf)) >= 0) {
		char *save = NULL;
		for (char *w = strtok_r(buf, " \n", &save); w;
		     w = strtok_r(NULL, " \n", &save)) {
			if (!strcmp(w, "memory")) {
				ret->version = HX_CG_V2;
				snprintf(ret->mem_root, sizeof(ret->mem_root),
					 "%s", root);
				snprintf(ret->psi_root, sizeof(ret->psi_root),
					 "%s", root);
				return 0;
			}
		}
	}
	if (hxu_fmt_path(path, sizeof(path), "%s/memory/memory.limit_in_bytes",
		     root))
		return -ENAMETOOLONG;
	if (access(path, F_OK) == 0) {
		ret->version = HX_CG_V1;
		snprintf(ret->mem_root, sizeof(ret->mem_root), "%s/memory",
			 root);
		if (hxu_fmt_path(path, sizeof(path),
				 "%s/blkio/blkio.throttle.read_iops_device",
				 root) == 0 && access(path, F_OK) == 0)
			snprintf(ret->blkio_root, sizeof(ret->blkio_root),
				 "%s/blkio", root);
		if (hxu_fmt_path(path, sizeof(path), "%s/unified/cgroup.pressure",
			     root) == 0 && access(path, F_OK) == 0)
			snprintf(ret->psi_root, sizeof(ret->psi_root),
				 "%s/unified", root);
		else if (hxu_fmt_path(path, sizeof(path),
				  "%s/unified/memory.pressure", root) == 0 &&
			 access(path, F_OK) == 0)
			snprintf(ret->psi_root, sizeof(ret->psi_root),
				 "%s/unified", root);
		return 0;
	}
	return -ENODEV;
}

void hx_slice_default_name(char *buf, size_t len, const char *tag)
{
	snprintf(buf, len, "autoballoon-%s-%d", tag ? tag : "test",
		 (int)getpid());
}

struct hx_slice {
	enum hx_cg_version version;
	char name[256];
	char mem_path[PATH_MAX];
	char psi_dir[PATH_MAX];		/* "" when none (or == mem_path on v2) */
	char psi_file[PATH_MAX];	/* "" when none */
	char blkio_root[512];		/* v1: where the blkio twin goes */
	char io_dir[PATH_MAX];		/* I/O limits: v1 blkio twin, v2 mem_path */
};

static int slice_write_limit(struct hx_slice *s, uint64_t limit)
{
	char path[PATH_MAX + 32], val[32];
	if (s->version == HX_CG_V2) {
		snprintf(path, sizeof(path), "%s/memory.max", s->mem_path);
		if (limit == HX_UNLIMITED)
			snprintf(val, sizeof(val), "max");
		else
			snprintf(val, sizeof(val), "%" PRIu64, limit);
	} else {
		snprintf(path, sizeof(path), "%s/memory.limit_in_bytes",
			 s->mem_path);
		if (limit == HX_UNLIMITED)
			snprintf(val, sizeof(val), "-1");
		else
			snprintf(val, sizeof(val), "%" PRIu64, limit);
	}
	return hxu_write_text(path, val);
}

static int v2_enable_memory(const char *root)
{
	char path[PATH_MAX], buf[1024];
	if (hxu_fmt_path(path, sizeof(path), "%s/cgroup.subtree_control", root))
		return -ENAMETOOLONG;
	ssize_t n = hxu_read_text(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	char *save = NULL;
	for (char *w = strtok_r(buf, " \n", &save); w;
	     w = strtok_r(NULL, " \n", &save))
		if (!strcmp(w, "memory"))
			return 0;
	return hxu_write_text(path, "+memory");
}

int hx_slice_create_at(const struct hx_cgroup_info *cg, const char *name,
		       uint64_t limit_bytes, struct hx_slice **ret)
{
	if (!name || !strstr(name, "autoballoon") || strchr(name, '/') ||
	    strlen(name) >= 200)
		return -EINVAL;
	if (cg->version != HX_CG_V1 && cg->version != HX_CG_V2)
		return -ENODEV;
	struct hx_slice *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->version = cg->version;
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->blkio_root, sizeof(s->blkio_root), "%s", cg->blkio_root);
	int r = hxu_fmt_path(s->mem_path, sizeof(s->mem_path), "%s/%s",
			 cg->mem_root, name);
	if (r)
		goto fail_free;
	if (cg->version == HX_CG_V2) {
		r = v2_enable_memory(cg->mem_root);
		if (r)
			goto fail_free;
	}
	r = hx_guard_add_cgroup(s->mem_path);
	if (r)
		goto fail_free;
	if (mkdir(s->mem_path, 0755) < 0) {
		r = -errno;
		hx_guard_del_cgroup(s->mem_path);
		goto fail_free;
	}
	r = slice_write_limit(s, limit_bytes);
	if (r)
		goto fail_remove;

	if (cg->version == HX_CG_V2) {
		snprintf(s->psi_file, sizeof(s->psi_file), "%.4000s/memory.pressure",
			 s->mem_path);
		if (access(s->psi_file, F_OK) < 0)
			s->psi_file[0] = '\0';
	} else if (cg->psi_root[0]) {
		/* hybrid host: a cgroup2 twin gives the slice its own PSI */
		char dir[PATH_MAX];
		if (hxu_fmt_path(dir, sizeof(dir), "%s/%s", cg->psi_root, name) == 0 &&
		    hx_guard_add_cgroup(dir) == 0) {
			if (mkdir(dir, 0755) == 0) {
				snprintf(s->psi_dir, sizeof(s->psi_dir), "%s", dir);
				snprintf(s->psi_file, sizeof(s->psi_file),
					 "%.4000s/memory.pressure", dir);
				if (access(s->psi_file, F_OK) < 0)
					s->psi_file[0] = '\0';
			} else {
				hx_guard_del_cgroup(dir);
			}
		}
	}
	hxu_vlog("slice %s: v%d, limit %" PRIu64 ", psi %s", s->mem_path,
	     (int)s->version, limit_bytes, s->psi_file[0] ? s->psi_file : "none");
	*ret = s;
	return 0;

fail_remove:
	hx_cgroup_remove(s->mem_path, 2000);
	hx_guard_del_cgroup(s->mem_path);
fail_free:
	free(s);
	return r;
}

int hx_slice_create(const char *name, uint64_t limit_bytes,
		    struct hx_slice **ret)
{
	struct hx_cgroup_info cg;
	int r = hx_cgroup_detect(NULL, &cg);
	if (r)
		return r;
	return hx_slice_create_at(&cg, name, limit_bytes, ret);
}

const char *hx_slice_path(const struct hx_slice *s)
{
	return s->mem_path;
}

const char *hx_slice_psi_path(const struct hx_slice *s)
{
	return s->psi_file[0] ? s->psi_file : NULL;
}

enum hx_cg_version hx_slice_version(const struct hx_slice *s)
{
	return s->version;
}

int hx_slice_set_limit(struct hx_slice *s, uint64_t limit_bytes)
{
	return slice_write_limit(s, limit_bytes);
}

int hx_slice_set_swap_limit(struct hx_slice *s, uint64_t bytes)
{
	if (s->version != HX_CG_V2)
		return -EOPNOTSUPP;
	char path[PATH_MAX + 32], val[32];
	snprintf(path, sizeof(path), "%s/memory.swap.max", s->mem_path);
	if (bytes == HX_UNLIMITED)
		snprintf(val, sizeof(val), "max");
	else
		snprintf(val, sizeof(val), "%" PRIu64, bytes);
	return hxu_write_text(path, val);
}

int hx_slice_usage(const struct hx_slice *s, uint64_t *ret_bytes)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/%s", s->mem_path,
		 s->version == HX_CG_V2 ? "memory.current"
					: "memory.usage_in_bytes");
	return hxu_read_u64_file(path, ret_bytes);
}

void hxu_slice_procs_paths(const struct hx_slice *s,
			   char p[HXU_SLICE_PROCS][HXU_PROCS_PATH_MAX])
{
	snprintf(p[0], HXU_PROCS_PATH_MAX, "%s/cgroup.procs", s->mem_path);
	p[1][0] = p[2][0] = '\0';
	if (s->psi_dir[0])
		snprintf(p[1], HXU_PROCS_PATH_MAX, "%s/cgroup.procs", s->psi_dir);
	if (s->version == HX_CG_V1 && s->io_dir[0])
		snprintf(p[2], HXU_PROCS_PATH_MAX, "%s/cgroup.procs", s->io_dir);
}

int hx_slice_add_pid(struct hx_slice *s, pid_t pid)
{
	char p[HXU_SLICE_PROCS][HXU_PROCS_PATH_MAX], val[32];
	hxu_slice_procs_paths(s, p);
	snprintf(val, sizeof(val), "%d", (int)pid);
	int r = hxu_write_text(p[0], val);
	if (r)
		return r;
	if (p[1][0])
		hxu_write_text(p[1], val);	/* PSI twin: best effort */
	return p[2][0] ? hxu_write_text(p[2], val) : 0;
}

/* v2: the io controller must be on in the parent for io.max. */
static int v2_enable_io(const char *mem_path)
{
	char parent[PATH_MAX], path[PATH_MAX + 32], buf[1024];
	snprintf(parent, sizeof(parent), "%s", mem_path);
	char *slash = strrchr(parent, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", parent);
	if (hxu_read_text(path, buf, sizeof(buf)) >= 0) {
		char *save = NULL;
		for (char *w = strtok_r(buf, " \n", &save); w;
		     w = strtok_r(NULL, " \n", &save))
			if (!strcmp(w, "io"))
				return 0;
	}
	return hxu_write_text(path, "+io");
}

/* v2: one io.max line in the slice itself ("max" for no limit). */
static int v2_set_io_max(struct hx_slice *s, unsigned maj, unsigned min,
			 const struct hx_io_limits *l)
{
	const uint64_t v[4] = { l->read_bps, l->write_bps, l->read_iops,
				l->write_iops };
	char path[PATH_MAX + 64], val[160], lim[4][24];
	int r = v2_enable_io(s->mem_path);
	if (r)
		return r;
	snprintf(s->io_dir, sizeof(s->io_dir), "%s", s->mem_path);
	for (int i = 0; i < 4; i++) {
		if (v[i])
			snprintf(lim[i], sizeof(lim[i]), "%" PRIu64, v[i]);
		else
			snprintf(lim[i], sizeof(lim[i]), "max");
	}
	snprintf(path, sizeof(path), "%s/io.max", s->io_dir);
	snprintf(val, sizeof(val), "%u:%u rbps=%s wbps=%s riops=%s wiops=%s",
		 maj, min, lim[0], lim[1], lim[2], lim[3]);
	return hxu_write_text(path, val);
}

int hxu_blkio_set_limits(const char *dir, unsigned maj, unsigned min,
			 const struct hx_io_limits *l)
{
	static const char *const files[4] = {
		"blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
		"blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device",
	};
	const uint64_t v[4] = { l->read_bps, l->write_bps, l->read_iops,
				l->write_iops };
	char path[PATH_MAX + 64], val[64];
	int r = 0;

	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		snprintf(val, sizeof(val), "%u:%u %" PRIu64, maj, min, v[i]);
		int w = hxu_write_text(path, val);
		if (w && !r)
			r = w;
	}
	return r;
}

/* v1: the blkio twin (made on first use) and the root group. */
static int v1_set_blkio(struct hx_slice *s, unsigned maj, unsigned min,
			const struct hx_io_limits *l)
{
	int r;

	if (!s->blkio_root[0])
		return -EOPNOTSUPP;
	if (!s->io_dir[0]) {
		char dir[PATH_MAX];
		if (hxu_fmt_path(dir, sizeof(dir), "%s/%s", s->blkio_root, s->name))
			return -ENAMETOOLONG;
		r = hx_guard_add_cgroup(dir);
		if (r)
			return r;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			hx_guard_del_cgroup(dir);
			return r;
		}
		snprintf(s->io_dir, sizeof(s->io_dir), "%s", dir);
	}
	/*
	 * v1 charges swap-out writeback to the root group: a page's memory
	 * cgroup has no blkio twin in another hierarchy. The root group gets
	 * the same limits on this device, which only the bench uses.
	 */
	r = hxu_blkio_set_limits(s->io_dir, maj, min, l);
	if (r)
		return r;
	return hxu_blkio_set_limits(s->blkio_root, maj, min, l);
}

int hx_slice_set_io_limits(struct hx_slice *s, unsigned maj, unsigned min,
			   const struct hx_io_limits *l)
{
	if (s->version == HX_CG_V2)
		return v2_set_io_max(s, maj, min, l);
	return v1_set_blkio(s, maj, min, l);
}

int hx_slice_io_stats(const struct hx_slice *s, unsigned maj, unsigned min,
		      struct hx_io_stats *ret)
{
	char path[PATH_MAX + 64], buf[16384], dev[32];
	char *save = NULL;
	ssize_t n;

	memset(ret, 0, sizeof(*ret));
	if (!s->io_dir[0])
		return -ENOENT;
	snprintf(dev, sizeof(dev), "%u:%u", maj, min);
	if (s->version == HX_CG_V2) {
		/* io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N ..." */
		snprintf(path, sizeof(path), "%s/io.stat", s->io_dir);
		n = hxu_read_text(path, buf, sizeof(buf));
		if (n < 0)
			return (int)n;
		for (char *l = strtok_r(buf, "\n", &save); l;
		     l = strtok_r(NULL, "\n", &save)) {
			unsigned long long rb, wb, ri, wi;
			char d[32];
			if (sscanf(l, "%31s rbytes=%llu wbytes=%llu rios=%llu wios=%llu",
				   d, &rb, &wb, &ri, &wi) == 5 && !strcmp(d, dev)) {
				ret->read_ios = ri;
				ret->write_ios = wi;
				ret->read_bytes = rb;
				ret->write_bytes = wb;
			}
		}
		return 0;	/* no line: no I/O yet */
	}
	/*
	 * v1: "MAJ:MIN Read N" lines, operations in one file, bytes in another;
	 * the slice's twin plus the root group's own (swap-out, see above).
	 */
	static const char *const files[2] = { "blkio.throttle.io_serviced",
					      "blkio.throttle.io_service_bytes" };
	for (int k = 0; k < 4; k++) {
		snprintf(path, sizeof(path), "%s/%s", k < 2 ? s->io_dir : s->blkio_root,
			 files[k % 2]);
		n = hxu_read_text(path, buf, sizeof(buf));
		if (n < 0)
			return (int)n;
		save = NULL;
		for (char *l = strtok_r(buf, "\n", &save); l;
		     l = strtok_r(NULL, "\n", &save)) {
			char d[32], op[16];
			unsigned long long v;
			if (sscanf(l, "%31s %15s %llu", d, op, &v) != 3 || strcmp(d, dev))
				continue;
			if (!strcmp(op, "Read"))
				*(k % 2 ? &ret->read_bytes : &ret->read_ios) += v;
			else if (!strcmp(op, "Write"))
				*(k % 2 ? &ret->write_bytes : &ret->write_ios) += v;
		}
	}
	return 0;
}

int hx_slice_stats(const struct hx_slice *s, struct hx_slice_stats *ret)
{
	char path[PATH_MAX + 32];
	memset(ret, 0, sizeof(*ret));
	int r = hx_slice_usage(s, &ret->usage_bytes);
	if (r)
		return r;
	bool v2 = s->version == HX_CG_V2;
	snprintf(path, sizeof(path), "%s/%s", s->mem_path,
		 v2 ? "memory.max" : "memory.limit_in_bytes");
	if (hxu_read_u64_file(path, &ret->limit_bytes) == 0 &&
	    ret->limit_bytes >= ((uint64_t)1 << 62))
		ret->limit_bytes = HX_UNLIMITED;
	snprintf(path, sizeof(path), "%s/%s", s->mem_path,
		 v2 ? "memory.peak" : "memory.max_usage_in_bytes");
	if (hxu_read_u64_file(path, &ret->peak_bytes))
		ret->peak_bytes = 0;

	snprintf(path, sizeof(path), "%s/memory.stat", s->mem_path);
	FILE *f = fopen(path, "re");
	if (f) {
		char key[128];
		unsigned long long val;
		bool total_rss = false, total_cache = false, total_swap = false;
		while (fscanf(f, "%127s %llu", key, &val) == 2) {
			if (v2) {
				if (!strcmp(key, "anon"))
					ret->anon_bytes = val;
				else if (!strcmp(key, "file"))
					ret->file_bytes = val;
				continue;
			}
			if (!strcmp(key, "total_rss")) {
				ret->anon_bytes = val;
				total_rss = true;
			} else if (!strcmp(key, "rss") && !total_rss) {
				ret->anon_bytes = val;
			} else if (!strcmp(key, "total_cache")) {
				ret->file_bytes = val;
				total_cache = true;
			} else if (!strcmp(key, "cache") && !total_cache) {
				ret->file_bytes = val;
			} else if (!strcmp(key, "total_swap")) {
				ret->swap_bytes = val;
				total_swap = true;
			} else if (!strcmp(key, "swap") && !total_swap) {
				ret->swap_bytes = val;
			}
		}
		fclose(f);
	}
	if (v2) {
		snprintf(path, sizeof(path), "%s/memory.swap.current",
			 s->mem_path);
		if (hxu_read_u64_file(path, &ret->swap_bytes))
			ret->swap_bytes = 0;
	}
	struct hx_psi psi;
	if (s->psi_file[0] && hx_psi_read(s->psi_file, &psi) == 0) {
		ret->has_psi = true;
		ret->psi_some_avg10 = psi.some_avg10;
		ret->psi_full_avg10 = psi.full_avg10;
		ret->psi_some_total_us = psi.some_total_us;
		ret->psi_full_total_us = psi.full_total_us;
	}
	return 0;
}

int hx_cgroup_remove(const char *path, int timeout_ms)
{
	char procs[PATH_MAX];
	if (hxu_fmt_path(procs, sizeof(procs), "%s/cgroup.procs", path))
		return -ENAMETOOLONG;
	uint64_t deadline = hx_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		if (rmdir(path) == 0 || errno == ENOENT)
			return 0;
		int e = -errno;
		if (e != -EBUSY && e != -ENOTEMPTY)
			return e;
		FILE *f = fopen(procs, "re");
		if (f) {
			long pid;
			while (fscanf(f, "%ld", &pid) == 1)
				if (pid > 1 && pid != getpid())
					kill((pid_t)pid, SIGKILL);
			fclose(f);
		}
		if (hx_now_ms() >= deadline)
			return e;
		hxu_sleep_ms(20);
	}
}

int hx_slice_destroy(struct hx_slice *s)
{
	if (!s)
		return 0;
	int r = hx_cgroup_remove(s->mem_path, 10000);
	if (r == 0)
		hx_guard_del_cgroup(s->mem_path);
	if (s->version == HX_CG_V1 && s->io_dir[0]) {
		int r2 = hx_cgroup_remove(s->io_dir, 10000);
		if (r2 == 0)
			hx_guard_del_cgroup(s->io_dir);
		else if (!r)
			r = r2;
	}
	if (s->psi_dir[0]) {
		int r2 = hx_cgroup_remove(s->psi_dir, 10000);
		if (r2 == 0)
			hx_guard_del_cgroup(s->psi_dir);
		else if (!r)
			r = r2;
	}
	hxu_vlog("slice %s removed: %s", s->mem_path, r ? strerror(-r) : "ok");
	free(s);
	return r;
}
