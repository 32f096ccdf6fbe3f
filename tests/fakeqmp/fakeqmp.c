/* SPDX-License-Identifier: MIT */
/*
 * fakeqmp - a fake QEMU for autoballoond's fault and scale tests.
 *
 * One process serves many VMs: each is a UNIX socket DIR/NAME.qmp speaking
 * the part of QMP the daemon uses (greeting, qmp_capabilities,
 * query-memory-size-summary, qom-list, qom-set/qom-get guest-stats, balloon,
 * query-balloon, the BALLOON_CHANGE event), backed by a small guest model,
 * with faults that can be switched on and off at run time. Real QEMU stays
 * in the integration tests; this is for faults QEMU cannot be made to
 * produce and for fleets of 1,000 VMs.
 *
 *   fakeqmp --dir DIR --ctl SOCK [--vms N] [--prefix P] [--mem SIZE]
 *           [--used SIZE] [--cache SIZE] [--speed SIZE] [--host HOSTDIR]
 *           [--limit SIZE] [--base SIZE] [--swap-max SIZE]
 *
 * Guest model (per VM). mem is the boot size (QEMU's base-memory and the
 * most the balloon can give back). actual (logical size, what query-balloon
 * returns) moves toward the target set by "balloon" at speed bytes/s; speed 0
 * is a guest without a balloon driver (actual never moves). The guest uses
 * `used` bytes that cannot be reclaimed plus a 32 MiB kernel reserve, and up
 * to `cache` bytes of page cache. Squeezed below that it "swaps": swap-in,
 * swap-out and major-fault counters grow with the shortfall. With doo=1
 * (deflate-on-oom) it takes memory back by itself instead. Stats (qom-get
 * guest-stats) follow the model; last-update advances on the polling
 * interval the client set with qom-set.
 *
 * Host model (--host HOSTDIR): a fake /proc (HOSTDIR/meminfo, 64 GiB
 * machine) and a fake cgroup v2 slice (HOSTDIR/slice/memory.max,
 * memory.current, memory.stat, memory.swap.current) whose usage is base +
 * the sum of the VMs' actual sizes; what does not fit under the limit is in
 * swap (up to swap_max). Point the daemon at it with proc_dir = HOSTDIR,
 * cgroup = HOSTDIR/slice, cgroup_version = 2, pressure = none.
 *
 * Control socket (--ctl): one command per line, one JSON reply per line
 * ({"ok": true, ...} or {"ok": false, "error": ...}):
 *   add NAME [k=v ...]      a new VM (socket DIR/NAME.qmp)
 *   set NAME|* k=v ...      change the model or the faults
 *   get NAME                state and counters of one VM
 *   list                    all VMs, with their counters
 *   unlink NAME             delete the socket file (listener and sessions stay)
 *   relisten NAME           close the listener, bind a new one at the path
 *   drop NAME               close the VM's sessions (QEMU lives on)
 *   kill NAME               close everything and delete the socket (QEMU gone)
 *   host k=v ...            limit=, base=, swap_max= of the fake slice
 *   zero NAME|*             reset the counters
 *   quit
 * VM keys: mem= actual= used= cache= speed= (sizes), doo=0|1, balloon=0|1
 * (device present), late=MS, fault=F, stats=S, stamp=SECONDS (added to the
 * stats' last-update: a QEMU whose clock is ahead, or, negative, a host
 * clock stepped back).
 * Faults F: none, noreply (no reply to any command after the handshake),
 *   nogreeting, badgreeting (garbage instead of the greeting), late (every
 *   reply after late= ms), closemid (half a reply, then close), garbage
 *   (noise lines before every reply), garbageonly (noise instead of replies),
 *   bigline (a 16 MiB line, then silence), wrongtypes (values of the wrong
 *   JSON type in every reply and event), negative, huge (negative / huge
 *   numbers wherever the guest has a say: actual and the stats), eventflood
 *   (bursts of bogus events), shutdownflood (500 SHUTDOWN events a second).
 * Stats S: normal, frozen (last-update stops), zero (a liar: no memory
 *   available, ever), huge, negative, wrongtypes, unknown (all u64 -1), none
 *   (the guest never reports).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "qmp.h"
#include "util.h"

#define RESERVE_BYTES (32 * MIB)	/* guest kernel, never reclaimable */
#define DOO_FLOOR_BYTES (48 * MIB)	/* deflate-on-oom keeps used + this */
#define EVENT_GAP_MS 1000		/* QEMU rate-limits BALLOON_CHANGE */
#define TIMER_MS 20
#define BIGLINE_BYTES (16 * MIB)
#define MAX_CMD_LINE (64 * 1024)
#define MACHINE_BYTES ((uint64_t)64 * 1024 * MIB)
#define U64_UNKNOWN "18446744073709551615"

enum fault {
	F_NONE, F_NOREPLY, F_NOGREETING, F_BADGREETING, F_LATE, F_CLOSEMID,
	F_GARBAGE, F_GARBAGEONLY, F_BIGLINE, F_WRONGTYPES, F_NEGATIVE, F_HUGE,
	F_EVENTFLOOD, F_SHUTDOWNFLOOD, F__N,
};

static const char *const fault_names[F__N] = {
	"none", "noreply", "nogreeting", "badgreeting", "late", "closemid",
	"garbage", "garbageonly", "bigline", "wrongtypes", "negative", "huge",
	"eventflood", "shutdownflood",
};

enum smode { S_NORMAL, S_FROZEN, S_ZERO, S_HUGE, S_NEGATIVE, S_WRONGTYPES,
	     S_UNKNOWN, S_NONE, S__N };

static const char *const smode_names[S__N] = {
	"normal", "frozen", "zero", "huge", "negative", "wrongtypes", "unknown", "none",
};

struct fq;
struct fvm;

struct delayed {
	uint64_t due_ms;
	char *line;
	struct delayed *next;
};

struct conn {
	struct fq *fq;
	struct fvm *vm;		/* NULL: a control client */
	int fd;
	struct loop_watch *w;
	struct qmp_framer in;
	char *out;
	size_t out_len, out_off;
	bool caps;
	bool mute;		/* bigline sent: nothing more on this session */
	uint64_t pad;		/* bigline: filler bytes still to send after out */
	bool closing;		/* close after out is flushed */
	struct delayed *delayed;
	struct conn *next;
};

struct fvm {
	struct fq *fq;
	char name[64];
	char path[PATH_MAX];
	int lfd;
	struct loop_watch *lw;
	struct conn *conns;
	bool linked;		/* the socket file is there */

	/* model */
	uint64_t mem, target, actual, used, cache, speed;
	bool doo, has_balloon, fpr;
	uint64_t model_ms;
	uint32_t stats_interval_s;
	uint64_t frozen_update_s;
	int64_t stamp_s;	/* added to last-update: a clock ahead or behind */
	double swapin_bytes, swapout_bytes, majflt, minflt;
	enum smode smode;
	enum fault fault;
	uint64_t late_ms;
	uint64_t event_actual, event_ms;
	unsigned variant;

	/* counters */
	uint64_t n_accept, n_cmds, n_caps, n_balloon, n_query, n_stats_get, n_qom_set,
		 n_memsize, n_qom_list, n_other, n_bad_cmds, n_events, n_closemid;
	uint64_t balloon_last, balloon_min, balloon_max;
	uint64_t last_cmd_ms;

	struct fvm *next;
};

struct fq {
	struct loop *loop;
	char dir[PATH_MAX];
	char ctl_path[PATH_MAX];
	int ctl_fd;
	struct loop_watch *ctl_w;
	struct conn *ctl_conns;	/* control clients (vm == NULL) */
	struct loop_watch *timer;
	struct fvm *vms;
	size_t nvms;
	size_t ndelayed;

	/* host model */
	char host_dir[PATH_MAX];
	uint64_t limit, base, swap_max;
	uint64_t host_written_usage, host_written_limit, host_written_swap;
	bool host_dirty;

	/* defaults for --vms and add */
	uint64_t def_mem, def_used, def_cache, def_speed;
};

/* ------------------------------------------------------------ output */

static void conn_close(struct fq *fq, struct conn *c);
static void conn_printf(struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int conn_flush(struct fq *fq, struct conn *c)
{
	static char filler[65536];

	for (;;) {
		while (c->out_off < c->out_len) {
			ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
					 MSG_NOSIGNAL);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN)
					goto wait;
				return -errno;
			}
			c->out_off += (size_t)n;
		}
		c->out_off = c->out_len = 0;
		if (!c->pad)
			break;
		if (!filler[0])
			memset(filler, 'x', sizeof(filler));
		while (c->pad) {
			ssize_t n = send(c->fd, filler, MIN(c->pad, sizeof(filler)), MSG_NOSIGNAL);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN)
					goto wait;
				return -errno;
			}
			c->pad -= (uint64_t)n;
		}
		c->mute = false;
		conn_printf(c, "\"}}\n");
		c->mute = true;
	}
	if (c->closing)
		return -ECONNRESET;
wait:
	return loop_watch_set_events(c->w, EPOLLIN | (c->out_len || c->pad ? EPOLLOUT : 0));
}

static void conn_put(struct conn *c, const char *s, size_t n)
{
	char *p;

	if (c->mute)
		return;
	p = realloc(c->out, c->out_len + n);
	if (!p)
		abort();
	memcpy(p + c->out_len, s, n);
	c->out = p;
	c->out_len += n;
}

__attribute__((format(printf, 2, 3)))
static void conn_printf(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	conn_put(c, s, (size_t)n);
	free(s);
}

/* ------------------------------------------------------------ host model */

static void write_atomic(const char *dir, const char *file, const char *text)
{
	char p[PATH_MAX + 64], tmp[PATH_MAX + 80];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fputs(text, f);
	if (fclose(f) == 0)
		rename(tmp, p);
}

static void host_write(struct fq *fq)
{
	uint64_t sum = fq->base, usage, swap, machine;
	char slice[PATH_MAX + 8], buf[512];

	if (!fq->host_dir[0])
		return;
	for (struct fvm *v = fq->vms; v; v = v->next)
		sum += v->actual;
	usage = MIN(sum, fq->limit);
	swap = MIN(sum - usage, fq->swap_max);
	if (!fq->host_dirty && usage == fq->host_written_usage &&
	    fq->limit == fq->host_written_limit && swap == fq->host_written_swap)
		return;
	fq->host_dirty = false;
	fq->host_written_usage = usage;
	fq->host_written_limit = fq->limit;
	fq->host_written_swap = swap;
	/* the machine around the slice: at least twice the slice */
	machine = MAX((uint64_t)MACHINE_BYTES, 2 * MAX(fq->limit, sum));
	snprintf(buf, sizeof(buf),
		 "MemTotal:       %" PRIu64 " kB\nMemFree:        %" PRIu64 " kB\n"
		 "MemAvailable:   %" PRIu64 " kB\nBuffers:        0 kB\nCached:         0 kB\n"
		 "SwapTotal:      %" PRIu64 " kB\nSwapFree:       %" PRIu64 " kB\n",
		 machine / 1024, (machine - usage) / 1024, (machine - usage) / 1024,
		 fq->swap_max / 1024, (fq->swap_max - swap) / 1024);
	write_atomic(fq->host_dir, "meminfo", buf);
	snprintf(slice, sizeof(slice), "%s/slice", fq->host_dir);
	snprintf(buf, sizeof(buf), "%" PRIu64 "\n", fq->limit);
	write_atomic(slice, "memory.max", buf);
	snprintf(buf, sizeof(buf), "%" PRIu64 "\n", usage);
	write_atomic(slice, "memory.current", buf);
	snprintf(buf, sizeof(buf), "%" PRIu64 "\n", swap);
	write_atomic(slice, "memory.swap.current", buf);
	snprintf(buf, sizeof(buf), "anon %" PRIu64 "\nfile 0\ninactive_file 0\n", usage);
	write_atomic(slice, "memory.stat", buf);
}

static int host_init(struct fq *fq)
{
	char slice[PATH_MAX + 8];

	if (!fq->host_dir[0])
		return 0;
	snprintf(slice, sizeof(slice), "%s/slice", fq->host_dir);
	if (mkdir(fq->host_dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (mkdir(slice, 0755) < 0 && errno != EEXIST)
		return -errno;
	fq->host_dirty = true;
	host_write(fq);
	return 0;
}

/* ------------------------------------------------------------ guest model */

static uint64_t wall_s(void)
{
	return (uint64_t)time(NULL);
}

static void model_update(struct fvm *v, uint64_t now)
{
	double dt = (double)(now - v->model_ms) / 1000.0;
	uint64_t need;

	if (now <= v->model_ms)
		return;
	v->model_ms = now;
	if (v->speed && v->actual != v->target) {
		uint64_t step = (uint64_t)((double)v->speed * dt);

		if (v->actual < v->target)
			v->actual = MIN(v->target, v->actual + MAX(step, 1));
		else
			v->actual = MAX(v->target, v->actual - MIN(MAX(step, 1), v->actual));
	}
	need = v->used + RESERVE_BYTES;
	if (v->doo && v->speed && v->actual < need + DOO_FLOOR_BYTES - MIB)
		v->actual = MIN(v->mem, need + DOO_FLOOR_BYTES);
	if (v->actual < need) {
		double short_b = (double)(need - v->actual);

		v->swapin_bytes += short_b * dt;
		v->swapout_bytes += short_b * dt;
		v->majflt += short_b / 4096.0 * dt;
	}
	v->minflt += 1000.0 * dt;
}

struct gstats {
	uint64_t total, avail, free, cache, last_update;
};

static void model_stats(struct fvm *v, struct gstats *s)
{
	uint64_t room = sat_sub(v->actual, v->used + RESERVE_BYTES);

	s->total = v->actual;
	s->cache = MIN(v->cache, room);
	s->avail = room;
	s->free = room - s->cache;
	if (v->smode == S_NONE || !v->stats_interval_s)
		s->last_update = 0;
	else if (v->smode == S_FROZEN)
		s->last_update = v->frozen_update_s;
	else
		s->last_update = wall_s() / v->stats_interval_s * v->stats_interval_s;
	if (s->last_update && v->smode != S_FROZEN)
		s->last_update = (uint64_t)MAX((int64_t)s->last_update + v->stamp_s, 1);
	if (v->smode == S_ZERO)
		s->avail = s->free = s->cache = 0;
}

/* ------------------------------------------------------------ replies */

static void noise_line(struct conn *c, unsigned k)
{
	static const char *const lines[] = {
		"\x01\x02\xff\xfe garbage \x80\x81",
		"{\"return\": {}, \"id\": 987654321}",
		"[1, 2, 3]",
		"{\"unknown\": 1}",
		"{\"error\": \"not-an-object\"}",
		"{\"error\": {\"class\": 5}}",
		"{\"event\": 42}",
		"{\"event\": \"BALLOON_CHANGE\", \"data\": 5}",
		"{\"QMP\": {}}",
		"{\"return\": {}, \"id\": -1}",
		"{\"return\": {}, \"id\": \"7\"}",
		"{\"return\": ",
		"{\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": \"lots\"}}",
		"{\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": -5}}",
		"{\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 1e308}}",
		"{\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 0}}",
		"{\"a\": 1, \"a\": 2}",
		"null",
		"\"just a string\"",
		"{\"return\": {}, \"id\": 1.5}",
	};
	unsigned n = (unsigned)ARRAY_SIZE(lines) + 2;

	k %= n;
	if (k < ARRAY_SIZE(lines)) {
		conn_printf(c, "%s\n", lines[k]);
	} else if (k == ARRAY_SIZE(lines)) {
		/* deep nesting: parsers must not recurse without bound */
		static char deep[20002];

		if (!deep[0]) {
			memset(deep, '[', 10000);
			memset(deep + 10000, ']', 10000);
			deep[20000] = '\n';
		}
		conn_put(c, deep, 20001);
	} else {
		/* NUL bytes inside a line */
		conn_put(c, "{\"return\"\0: {}}\n", 16);
	}
}

/*
 * A number as the current fault wants it. Wrong JSON types can be anywhere;
 * negative and huge numbers only where the guest has a say: the balloon's
 * actual size (the driver writes it) and the stats. QEMU's own numbers
 * (base-memory) are the host's.
 */
enum num_kind { NUM_QEMU, NUM_GUEST, NUM_STAT };

static void num(char *buf, size_t len, const struct fvm *v, uint64_t val,
		enum num_kind kind)
{
	enum smode sm = kind == NUM_STAT ? v->smode : S_NORMAL;
	bool guest = kind != NUM_QEMU;
	unsigned k = v->variant;

	if ((guest && v->fault == F_NEGATIVE) || sm == S_NEGATIVE) {
		snprintf(buf, len, k % 2 ? "-%" PRIu64 : "-1", val);
	} else if ((guest && v->fault == F_HUGE) || sm == S_HUGE) {
		static const char *const huge[] = {
			"18446744073709551615", "1e300", "9007199254740993",
			"4503599627370496", "18446744073709551616", "1.5e19",
		};
		snprintf(buf, len, "%s", huge[k % ARRAY_SIZE(huge)]);
	} else if (v->fault == F_WRONGTYPES || sm == S_WRONGTYPES) {
		static const char *const wrong[] = {
			"\"1G\"", "null", "true", "[1]", "{\"v\": 1}", "1.5", "\"\"",
		};
		snprintf(buf, len, "%s", wrong[k % ARRAY_SIZE(wrong)]);
	} else if (sm == S_UNKNOWN) {
		snprintf(buf, len, U64_UNKNOWN);
	} else {
		snprintf(buf, len, "%" PRIu64, val);
	}
}

static void reply_ok(struct conn *c, const char *ret, const json_t *id, char **out)
{
	char *ids = id ? json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	int n;

	if (ids)
		n = asprintf(out, "{\"return\": %s, \"id\": %s}\n", ret, ids);
	else
		n = asprintf(out, "{\"return\": %s}\n", ret);
	free(ids);
	if (n < 0)
		abort();
}

static void reply_err(const char *cls, const char *desc, const json_t *id, char **out)
{
	char *ids = id ? json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	int n;

	n = asprintf(out, "{\"error\": {\"class\": \"%s\", \"desc\": \"%s\"}%s%s}\n",
		     cls, desc, ids ? ", \"id\": " : "", ids ? ids : "");
	free(ids);
	if (n < 0)
		abort();
}

static void stats_reply(struct fvm *v, const json_t *id, char **out)
{
	struct gstats s;
	char si[64], so[64], mj[64], mn[64], fr[64], to[64], av[64], ca[64], lu[64];
	char ret[1024];

	model_stats(v, &s);
	num(si, sizeof(si), v, (uint64_t)v->swapin_bytes, NUM_STAT);
	num(so, sizeof(so), v, (uint64_t)v->swapout_bytes, NUM_STAT);
	num(mj, sizeof(mj), v, (uint64_t)v->majflt, NUM_STAT);
	num(mn, sizeof(mn), v, (uint64_t)v->minflt, NUM_STAT);
	num(fr, sizeof(fr), v, s.free, NUM_STAT);
	num(to, sizeof(to), v, s.total, NUM_STAT);
	num(av, sizeof(av), v, s.avail, NUM_STAT);
	num(ca, sizeof(ca), v, s.cache, NUM_STAT);
	snprintf(lu, sizeof(lu), "%" PRIu64, s.last_update);
	if (v->fault == F_WRONGTYPES && v->variant % 3 == 1) {
		reply_ok(NULL, "{\"stats\": [1, 2], \"last-update\": \"now\"}", id, out);
		return;
	}
	if (v->fault == F_WRONGTYPES && v->variant % 3 == 2) {
		reply_ok(NULL, "\"guest-stats\"", id, out);
		return;
	}
	if (s.last_update == 0) {
		/* QEMU before the guest's first report: every stat unknown */
		snprintf(si, sizeof(si), U64_UNKNOWN);
		snprintf(so, sizeof(so), U64_UNKNOWN);
		snprintf(mj, sizeof(mj), U64_UNKNOWN);
		snprintf(mn, sizeof(mn), U64_UNKNOWN);
		snprintf(fr, sizeof(fr), U64_UNKNOWN);
		snprintf(to, sizeof(to), U64_UNKNOWN);
		snprintf(av, sizeof(av), U64_UNKNOWN);
		snprintf(ca, sizeof(ca), U64_UNKNOWN);
	}
	snprintf(ret, sizeof(ret),
		 "{\"stats\": {\"stat-swap-out\": %s, \"stat-available-memory\": %s, "
		 "\"stat-free-memory\": %s, \"stat-minor-faults\": %s, "
		 "\"stat-major-faults\": %s, \"stat-total-memory\": %s, "
		 "\"stat-swap-in\": %s, \"stat-disk-caches\": %s, "
		 "\"stat-htlb-pgalloc\": 0, \"stat-htlb-pgfail\": 0}, \"last-update\": %s}",
		 so, av, fr, mn, mj, to, si, ca, lu);
	reply_ok(NULL, ret, id, out);
}

/* Build the reply to one command; *out is malloc'd. */
static void handle_command(struct fvm *v, struct conn *c, const char *cmd,
			   const json_t *args, const json_t *id, char **out)
{
	char ret[512], a[64];

	v->n_cmds++;
	v->variant++;
	v->last_cmd_ms = now_ms();
	if (strcmp(cmd, "qmp_capabilities") == 0) {
		v->n_caps++;
		if (c->caps) {
			reply_err("CommandNotFound", "Capabilities negotiation is already complete, command ignored", id, out);
			return;
		}
		c->caps = true;
		reply_ok(NULL, "{}", id, out);
		return;
	}
	if (!c->caps) {
		reply_err("CommandNotFound",
			  "Expecting capabilities negotiation with 'qmp_capabilities'", id, out);
		return;
	}
	model_update(v, now_ms());
	if (strcmp(cmd, "query-memory-size-summary") == 0) {
		v->n_memsize++;
		num(a, sizeof(a), v, v->mem, NUM_QEMU);
		snprintf(ret, sizeof(ret), "{\"base-memory\": %s, \"plugged-memory\": 0}", a);
		reply_ok(NULL, ret, id, out);
	} else if (strcmp(cmd, "qom-list") == 0) {
		const char *path = json_string_value(json_object_get(args, "path"));

		v->n_qom_list++;
		if (!path) {
			reply_err("GenericError", "Parameter 'path' is missing", id, out);
		} else if (v->fault == F_WRONGTYPES) {
			reply_ok(NULL, v->variant % 2 ? "{\"name\": \"balloon0\"}"
				 : "[{\"name\": 7, \"type\": [\"child<virtio-balloon-pci>\"]}, 5]",
				 id, out);
		} else if (strcmp(path, "/machine/peripheral") == 0 && v->has_balloon) {
			reply_ok(NULL, "[{\"name\": \"type\", \"type\": \"string\"}, "
				 "{\"name\": \"balloon0\", \"type\": \"child<virtio-balloon-pci>\"}]",
				 id, out);
		} else {
			reply_ok(NULL, "[{\"name\": \"type\", \"type\": \"string\"}]", id, out);
		}
	} else if (strcmp(cmd, "qom-set") == 0) {
		const char *prop = json_string_value(json_object_get(args, "property"));
		json_t *val = json_object_get(args, "value");

		v->n_qom_set++;
		if (!v->has_balloon || !prop ||
		    strcmp(prop, "guest-stats-polling-interval") != 0) {
			reply_err("GenericError", "Property not found", id, out);
		} else if (!json_is_integer(val) || json_integer_value(val) < 0 ||
			   json_integer_value(val) > UINT32_MAX) {
			reply_err("GenericError", "Invalid parameter type for 'value', expected: integer", id, out);
		} else {
			v->stats_interval_s = (uint32_t)json_integer_value(val);
			reply_ok(NULL, "{}", id, out);
		}
	} else if (strcmp(cmd, "qom-get") == 0) {
		const char *prop = json_string_value(json_object_get(args, "property"));

		if (v->has_balloon && prop && strcmp(prop, "free-page-reporting") == 0) {
			reply_ok(NULL, v->fpr ? "true" : "false", id, out);
			return;
		}
		v->n_stats_get++;
		if (!v->has_balloon || !prop || strcmp(prop, "guest-stats") != 0)
			reply_err("GenericError", "Property not found", id, out);
		else
			stats_reply(v, id, out);
	} else if (strcmp(cmd, "balloon") == 0) {
		json_t *val = json_object_get(args, "value");
		json_int_t t;

		v->n_balloon++;
		if (!v->has_balloon) {
			reply_err("DeviceNotActive", "No balloon device has been activated", id, out);
			return;
		}
		if (!json_is_integer(val) || (t = json_integer_value(val)) <= 0) {
			reply_err("GenericError", "Parameter 'target' expects a size", id, out);
			return;
		}
		v->balloon_last = (uint64_t)t;
		if (!v->balloon_min || v->balloon_last < v->balloon_min)
			v->balloon_min = v->balloon_last;
		v->balloon_max = MAX(v->balloon_max, v->balloon_last);
		v->target = MIN((uint64_t)t, v->mem);
		reply_ok(NULL, "{}", id, out);
	} else if (strcmp(cmd, "query-balloon") == 0) {
		v->n_query++;
		if (!v->has_balloon) {
			reply_err("DeviceNotActive", "No balloon device has been activated", id, out);
			return;
		}
		if (v->fault == F_WRONGTYPES && v->variant % 3 == 0) {
			reply_ok(NULL, "[]", id, out);
			return;
		}
		num(a, sizeof(a), v, v->actual, NUM_GUEST);
		snprintf(ret, sizeof(ret), "{\"actual\": %s}", a);
		reply_ok(NULL, ret, id, out);
	} else {
		v->n_other++;
		snprintf(ret, sizeof(ret), "The command %.64s has not been found", cmd);
		reply_err("CommandNotFound", ret, id, out);
	}
}

static void deliver(struct fq *fq, struct conn *c, char *line)
{
	struct fvm *v = c->vm;
	size_t n = strlen(line);

	switch (v->fault) {
	case F_NOREPLY:
		break;
	case F_LATE: {
		struct delayed *d = calloc(1, sizeof(*d)), **pp;

		if (!d)
			abort();
		d->due_ms = now_ms() + v->late_ms;
		d->line = line;
		for (pp = &c->delayed; *pp; pp = &(*pp)->next)
			;
		*pp = d;
		fq->ndelayed++;
		return;
	}
	case F_CLOSEMID:
		conn_put(c, line, n / 2);
		c->closing = true;
		v->n_closemid++;
		break;
	case F_GARBAGE:
		noise_line(c, v->variant);
		conn_put(c, line, n);
		break;
	case F_GARBAGEONLY:
		noise_line(c, v->variant);
		break;
	case F_BIGLINE:
		/* streamed by conn_flush: no 16 MiB buffer per session */
		conn_printf(c, "{\"return\": {\"actual\": \"");
		c->pad = BIGLINE_BYTES;
		c->mute = true;
		break;
	case F_NONE:
	case F_NOGREETING:
	case F_BADGREETING:
	case F_WRONGTYPES:
	case F_NEGATIVE:
	case F_HUGE:
	case F_EVENTFLOOD:
	case F_SHUTDOWNFLOOD:
	case F__N:
		conn_put(c, line, n);
		break;
	}
	free(line);
}

static int on_qmp_line(const char *line, size_t len, void *data)
{
	struct conn *c = data;
	struct fvm *v = c->vm;
	json_t *req = json_loadb(line, len, 0, NULL);
	const char *cmd = json_string_value(json_object_get(req, "execute"));
	json_t *id = json_object_get(req, "id");
	char *out = NULL;

	if (!req || !cmd) {
		v->n_bad_cmds++;
		reply_err("GenericError", "Invalid JSON syntax", NULL, &out);
		conn_put(c, out, strlen(out));
		free(out);
		json_decref(req);
		return 0;
	}
	/* The handshake itself is never faulted (nogreeting and badgreeting do that). */
	handle_command(v, c, cmd, json_object_get(req, "arguments"), id, &out);
	if (strcmp(cmd, "qmp_capabilities") == 0) {
		conn_put(c, out, strlen(out));
		free(out);
	} else {
		deliver(v->fq, c, out);
	}
	json_decref(req);
	return c->closing ? -ECONNRESET : 0;
}

/* ------------------------------------------------------------ sessions */

static void conn_unlink(struct conn **list, struct conn *c)
{
	for (struct conn **pp = list; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			return;
		}
	}
}

static void conn_close(struct fq *fq, struct conn *c)
{
	conn_unlink(c->vm ? &c->vm->conns : &fq->ctl_conns, c);
	while (c->delayed) {
		struct delayed *d = c->delayed;

		c->delayed = d->next;
		free(d->line);
		free(d);
		fq->ndelayed--;
	}
	loop_remove(c->w);
	close(c->fd);
	qmp_framer_free(&c->in);
	free(c->out);
	free(c);
}

static void on_qmp_io(struct loop_watch *w, uint32_t events, void *data)
{
	struct conn *c = data;
	struct fq *fq = c->vm->fq;
	char buf[16384];
	int r = 0;

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			conn_close(fq, c);
			return;
		}
		if (n > 0 && !c->closing)
			r = qmp_framer_feed(&c->in, buf, (size_t)n, on_qmp_line, c);
		if (r < 0 && r != -ECONNRESET) {
			conn_close(fq, c);
			return;
		}
	}
	if (conn_flush(fq, c) < 0)
		conn_close(fq, c);
}

static void send_greeting(struct conn *c)
{
	switch (c->vm->fault) {
	case F_NOGREETING:
		return;
	case F_BADGREETING:
		conn_printf(c, "{\"QMP\": 5}\n");
		return;
	case F_NONE:
	case F_NOREPLY:
	case F_LATE:
	case F_CLOSEMID:
	case F_GARBAGE:
	case F_GARBAGEONLY:
	case F_BIGLINE:
	case F_WRONGTYPES:
	case F_NEGATIVE:
	case F_HUGE:
	case F_EVENTFLOOD:
	case F_SHUTDOWNFLOOD:
	case F__N:
		break;
	}
	conn_printf(c, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, "
		    "\"major\": 7}, \"package\": \"fakeqmp\"}, \"capabilities\": [\"oob\"]}}\n");
}

static void on_qmp_accept(struct loop_watch *w, uint32_t events, void *data)
{
	struct fvm *v = data;
	struct conn *c;
	int fd;

	for (int i = 0; i < 16; i++) {
		fd = accept4(v->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		c = calloc(1, sizeof(*c));
		if (!c)
			abort();
		c->fq = v->fq;
		c->vm = v;
		c->fd = fd;
		qmp_framer_init(&c->in, MAX_CMD_LINE);
		if (loop_add_io(v->fq->loop, fd, EPOLLIN, 0, on_qmp_io, c, &c->w) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = v->conns;
		v->conns = c;
		v->n_accept++;
		send_greeting(c);
		if (conn_flush(v->fq, c) < 0)
			conn_close(v->fq, c);
	}
}

static int listen_unix(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

static void vm_stop_listening(struct fvm *v)
{
	loop_remove(v->lw);
	v->lw = NULL;
	if (v->lfd >= 0)
		close(v->lfd);
	v->lfd = -1;
}

static int vm_listen(struct fvm *v)
{
	int r;

	vm_stop_listening(v);
	r = listen_unix(v->path, &v->lfd);
	if (r < 0)
		return r;
	r = loop_add_io(v->fq->loop, v->lfd, EPOLLIN, 0, on_qmp_accept, v, &v->lw);
	if (r < 0)
		return r;
	v->linked = true;
	return 0;
}

static void vm_drop_sessions(struct fvm *v)
{
	while (v->conns)
		conn_close(v->fq, v->conns);
}

static struct fvm *find_vm(struct fq *fq, const char *name)
{
	for (struct fvm *v = fq->vms; v; v = v->next)
		if (strcmp(v->name, name) == 0)
			return v;
	return NULL;
}

/* ------------------------------------------------------------ settings */

static int parse_kv(struct fvm *v, const char *kv, char *err, size_t errlen)
{
	const char *eq = strchr(kv, '=');
	char key[32];
	const char *val;
	uint64_t u;

	if (!eq || (size_t)(eq - kv) >= sizeof(key)) {
		snprintf(err, errlen, "expected key=value, got \"%.64s\"", kv);
		return -EINVAL;
	}
	memcpy(key, kv, (size_t)(eq - kv));
	key[eq - kv] = '\0';
	val = eq + 1;
	if (!strcmp(key, "mem") || !strcmp(key, "actual") || !strcmp(key, "used") ||
	    !strcmp(key, "cache") || !strcmp(key, "speed") || !strcmp(key, "target")) {
		if (parse_size(val, &u) < 0)
			goto bad;
		model_update(v, now_ms());
		if (!strcmp(key, "mem")) {
			v->mem = u;
			v->actual = MIN(v->actual, u);
			v->target = MIN(v->target, u);
		} else if (!strcmp(key, "actual")) {
			v->actual = MIN(u, v->mem);
			v->target = v->actual;
		} else if (!strcmp(key, "target")) {
			v->target = MIN(u, v->mem);
		} else if (!strcmp(key, "used")) {
			v->used = u;
		} else if (!strcmp(key, "cache")) {
			v->cache = u;
		} else {
			v->speed = u;
		}
		return 0;
	}
	if (!strcmp(key, "doo") || !strcmp(key, "balloon") || !strcmp(key, "fpr")) {
		bool b;

		if (parse_bool(val, &b) < 0)
			goto bad;
		if (!strcmp(key, "doo"))
			v->doo = b;
		else if (!strcmp(key, "fpr"))
			v->fpr = b;
		else
			v->has_balloon = b;
		return 0;
	}
	if (!strcmp(key, "late")) {
		if (parse_duration_ms(val, &v->late_ms) < 0)
			goto bad;
		return 0;
	}
	if (!strcmp(key, "stamp")) {
		char *end;
		long long sec = strtoll(val, &end, 10);

		if (end == val || *end)
			goto bad;
		v->stamp_s = sec;
		return 0;
	}
	if (!strcmp(key, "fault")) {
		for (int i = 0; i < F__N; i++) {
			if (!strcmp(val, fault_names[i])) {
				v->fault = (enum fault)i;
				return 0;
			}
		}
		goto bad;
	}
	if (!strcmp(key, "stats")) {
		for (int i = 0; i < S__N; i++) {
			if (!strcmp(val, smode_names[i])) {
				struct gstats s;

				v->smode = S_NORMAL;
				model_stats(v, &s);
				v->frozen_update_s = s.last_update;
				v->smode = (enum smode)i;
				return 0;
			}
		}
		goto bad;
	}
	snprintf(err, errlen, "unknown key \"%s\"", key);
	return -EINVAL;
bad:
	snprintf(err, errlen, "bad value for %s: \"%.64s\"", key, val);
	return -EINVAL;
}

static int vm_add(struct fq *fq, const char *name, char **kv, int nkv, char *err,
		  size_t errlen)
{
	struct fvm *v, **pp;
	int r;

	if (!name[0] || strlen(name) >= sizeof(v->name) || strchr(name, '/')) {
		snprintf(err, errlen, "bad name");
		return -EINVAL;
	}
	if (find_vm(fq, name)) {
		snprintf(err, errlen, "VM %s exists", name);
		return -EEXIST;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		abort();
	v->fq = fq;
	v->lfd = -1;
	snprintf(v->name, sizeof(v->name), "%s", name);
	if ((size_t)snprintf(v->path, sizeof(v->path), "%s/%s.qmp", fq->dir, name) >=
	    sizeof(v->path)) {
		free(v);
		snprintf(err, errlen, "path too long");
		return -ENAMETOOLONG;
	}
	v->mem = v->target = v->actual = fq->def_mem;
	v->used = fq->def_used;
	v->cache = fq->def_cache;
	v->speed = fq->def_speed;
	v->has_balloon = true;
	v->model_ms = now_ms();
	v->event_actual = v->actual;
	for (int i = 0; i < nkv; i++) {
		r = parse_kv(v, kv[i], err, errlen);
		if (r < 0) {
			free(v);
			return r;
		}
	}
	v->event_actual = v->actual;
	r = vm_listen(v);
	if (r < 0) {
		snprintf(err, errlen, "listen on %.180s: %s", v->path, strerror(-r));
		vm_stop_listening(v);
		free(v);
		return r;
	}
	/* Append: "list" keeps the order of creation. */
	for (pp = &fq->vms; *pp; pp = &(*pp)->next)
		;
	*pp = v;
	fq->nvms++;
	fq->host_dirty = true;
	return 0;
}

static void vm_zero(struct fvm *v)
{
	v->n_accept = v->n_cmds = v->n_caps = v->n_balloon = v->n_query = 0;
	v->n_stats_get = v->n_qom_set = v->n_memsize = v->n_qom_list = 0;
	v->n_other = v->n_bad_cmds = v->n_events = v->n_closemid = 0;
	v->balloon_last = v->balloon_min = v->balloon_max = 0;
}

static json_t *vm_json(struct fvm *v)
{
	struct gstats s;
	json_t *o;
	size_t sessions = 0;

	model_update(v, now_ms());
	model_stats(v, &s);
	for (struct conn *c = v->conns; c; c = c->next)
		sessions++;
	o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:b,s:s,s:s,s:I,s:I,s:I,s:b}",
		      "name", v->name, "path", v->path,
		      "mem", (json_int_t)v->mem, "target", (json_int_t)v->target,
		      "actual", (json_int_t)v->actual, "used", (json_int_t)v->used,
		      "cache", (json_int_t)v->cache, "speed", (json_int_t)v->speed,
		      "doo", v->doo, "balloon", v->has_balloon,
		      "fault", fault_names[v->fault], "stats", smode_names[v->smode],
		      "stats_interval", (json_int_t)v->stats_interval_s,
		      "avail", (json_int_t)s.avail, "swapin_bytes", (json_int_t)v->swapin_bytes,
		      "linked", v->linked);
	json_object_update_new(o, json_pack(
		"{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		"sessions", (json_int_t)sessions, "accepts", (json_int_t)v->n_accept,
		"cmds", (json_int_t)v->n_cmds, "caps", (json_int_t)v->n_caps,
		"balloon_cmds", (json_int_t)v->n_balloon, "query_cmds", (json_int_t)v->n_query,
		"stats_cmds", (json_int_t)v->n_stats_get, "qom_set_cmds", (json_int_t)v->n_qom_set,
		"memsize_cmds", (json_int_t)v->n_memsize, "qom_list_cmds", (json_int_t)v->n_qom_list,
		"other_cmds", (json_int_t)v->n_other, "bad_cmds", (json_int_t)v->n_bad_cmds,
		"events", (json_int_t)v->n_events, "closemid", (json_int_t)v->n_closemid,
		"balloon_last", (json_int_t)v->balloon_last,
		"balloon_min", (json_int_t)v->balloon_min,
		"balloon_max", (json_int_t)v->balloon_max,
		"last_cmd_age_ms", v->last_cmd_ms ? (json_int_t)(now_ms() - v->last_cmd_ms) : (json_int_t)-1));
	return o;
}

/* ------------------------------------------------------------ timer */

static void send_event_named(struct conn *c, const char *name, const char *data_json)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	conn_printf(c, "{\"timestamp\": {\"seconds\": %ld, \"microseconds\": %ld}, "
		    "\"event\": \"%s\", \"data\": %s}\n",
		    (long)ts.tv_sec, ts.tv_nsec / 1000, name, data_json);
}

static void send_event(struct conn *c, const char *data_json)
{
	send_event_named(c, "BALLOON_CHANGE", data_json);
}

static void vm_timer(struct fq *fq, struct fvm *v, uint64_t now)
{
	for (struct conn *c = v->conns, *next; c; c = next) {
		bool wrote = false;

		next = c->next;
		while (c->delayed && c->delayed->due_ms <= now) {
			struct delayed *d = c->delayed;

			c->delayed = d->next;
			fq->ndelayed--;
			conn_put(c, d->line, strlen(d->line));
			free(d->line);
			free(d);
			wrote = true;
		}
		if (v->fault == F_EVENTFLOOD && c->caps) {
			for (int i = 0; i < 50; i++)
				send_event(c, i % 2 ? "{\"actual\": \"flood\"}" : "{\"actual\": -1}");
			v->n_events += 50;
			wrote = true;
		}
		if (v->fault == F_SHUTDOWNFLOOD && c->caps) {
			for (int i = 0; i < 10; i++)
				send_event_named(c, "SHUTDOWN", "{\"guest\": true, "
						 "\"reason\": \"guest-shutdown\"}");
			v->n_events += 10;
			wrote = true;
		}
		if (wrote && conn_flush(fq, c) < 0)
			conn_close(fq, c);
	}
}

static void vm_events(struct fq *fq, struct fvm *v, uint64_t now)
{
	char data[96], a[64];

	model_update(v, now);
	if (v->actual == v->event_actual || now - v->event_ms < EVENT_GAP_MS)
		return;
	v->event_actual = v->actual;
	v->event_ms = now;
	num(a, sizeof(a), v, v->actual, NUM_GUEST);
	snprintf(data, sizeof(data), "{\"actual\": %s}", a);
	for (struct conn *c = v->conns, *next; c; c = next) {
		next = c->next;
		if (!c->caps || (v->fault == F_NOREPLY))
			continue;
		send_event(c, data);
		v->n_events++;
		if (conn_flush(fq, c) < 0)
			conn_close(fq, c);
	}
}

static void on_timer(struct loop_watch *w, uint64_t exp, void *data)
{
	struct fq *fq = data;
	uint64_t now = now_ms();
	static unsigned tick;

	tick++;
	for (struct fvm *v = fq->vms; v; v = v->next) {
		if (fq->ndelayed || v->fault == F_EVENTFLOOD || v->fault == F_SHUTDOWNFLOOD)
			vm_timer(fq, v, now);
		/* Every 100 ms: the model moves, events go out. */
		if (tick % 5 == 0)
			vm_events(fq, v, now);
	}
	if (tick % 5 == 0)
		host_write(fq);
}

/* ------------------------------------------------------------ control */

static char *ctl_reply(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT), *line;

	json_decref(o);
	if (!s || asprintf(&line, "%s\n", s) < 0)
		abort();
	free(s);
	return line;
}

static char *ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *ctl_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ctl_reply(json_pack("{s:b,s:s}", "ok", 0, "error", msg));
}

static char *ctl_ok(void)
{
	return ctl_reply(json_pack("{s:b}", "ok", 1));
}

static char *ctl_command(struct fq *fq, char *line, bool *quit)
{
	char *argv[64], *save = NULL, err[256];
	int argc = 0;
	struct fvm *v = NULL;

	for (char *t = strtok_r(line, " \t", &save); t && argc < 64;
	     t = strtok_r(NULL, " \t", &save))
		argv[argc++] = t;
	if (argc == 0)
		return ctl_error("empty command");
	if (!strcmp(argv[0], "quit")) {
		*quit = true;
		return ctl_ok();
	}
	if (!strcmp(argv[0], "list")) {
		json_t *a = json_array();

		for (v = fq->vms; v; v = v->next)
			json_array_append_new(a, vm_json(v));
		return ctl_reply(json_pack("{s:b,s:o}", "ok", 1, "vms", a));
	}
	if (!strcmp(argv[0], "host")) {
		for (int i = 1; i < argc; i++) {
			char *eq = strchr(argv[i], '=');
			uint64_t u;

			if (!eq || parse_size(eq + 1, &u) < 0)
				return ctl_error("host: expected limit=|base=|swap_max=SIZE");
			*eq = '\0';
			if (!strcmp(argv[i], "limit"))
				fq->limit = u;
			else if (!strcmp(argv[i], "base"))
				fq->base = u;
			else if (!strcmp(argv[i], "swap_max"))
				fq->swap_max = u;
			else
				return ctl_error("host: unknown key %s", argv[i]);
		}
		fq->host_dirty = true;
		host_write(fq);
		return ctl_ok();
	}
	if (argc < 2)
		return ctl_error("%s: which VM?", argv[0]);
	if (!strcmp(argv[0], "add")) {
		if (vm_add(fq, argv[1], argv + 2, argc - 2, err, sizeof(err)) < 0)
			return ctl_error("add: %s", err);
		host_write(fq);
		return ctl_ok();
	}
	if (strcmp(argv[1], "*") != 0) {
		v = find_vm(fq, argv[1]);
		if (!v)
			return ctl_error("no VM %s", argv[1]);
	}
	if (!strcmp(argv[0], "set") || !strcmp(argv[0], "zero")) {
		for (struct fvm *x = v ? v : fq->vms; x; x = v ? NULL : x->next) {
			if (!strcmp(argv[0], "zero")) {
				vm_zero(x);
				continue;
			}
			for (int i = 2; i < argc; i++)
				if (parse_kv(x, argv[i], err, sizeof(err)) < 0)
					return ctl_error("set: %s", err);
		}
		return ctl_ok();
	}
	if (!v)
		return ctl_error("%s: needs one VM", argv[0]);
	if (!strcmp(argv[0], "get"))
		return ctl_reply(json_pack("{s:b,s:o}", "ok", 1, "vm", vm_json(v)));
	if (!strcmp(argv[0], "unlink")) {
		unlink(v->path);
		v->linked = false;
		return ctl_ok();
	}
	if (!strcmp(argv[0], "relisten")) {
		int r = vm_listen(v);

		return r < 0 ? ctl_error("relisten: %s", strerror(-r)) : ctl_ok();
	}
	if (!strcmp(argv[0], "drop")) {
		vm_drop_sessions(v);
		return ctl_ok();
	}
	if (!strcmp(argv[0], "kill")) {
		vm_drop_sessions(v);
		vm_stop_listening(v);
		unlink(v->path);
		v->linked = false;
		return ctl_ok();
	}
	return ctl_error("unknown command %s", argv[0]);
}

struct ctl_line_ctx {
	struct fq *fq;
	struct conn *c;
	bool quit;
};

static int on_ctl_line(const char *line, size_t len, void *data)
{
	struct ctl_line_ctx *x = data;
	char *copy = strndup(line, len), *out;

	if (!copy)
		abort();
	out = ctl_command(x->fq, copy, &x->quit);
	free(copy);
	conn_put(x->c, out, strlen(out));
	free(out);
	return 0;
}

static void on_ctl_io(struct loop_watch *w, uint32_t events, void *data)
{
	struct conn *c = data;
	struct fq *fq = c->fq;
	struct ctl_line_ctx x = { .fq = fq, .c = c };
	char buf[4096];

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			conn_close(fq, c);
			return;
		}
		if (n > 0 && qmp_framer_feed(&c->in, buf, (size_t)n, on_ctl_line, &x) < 0) {
			conn_close(fq, c);
			return;
		}
	}
	if (conn_flush(fq, c) < 0) {
		conn_close(fq, c);
		return;
	}
	if (x.quit)
		loop_quit(fq->loop, 0);
}

static void on_ctl_accept(struct loop_watch *w, uint32_t events, void *data)
{
	struct fq *fq = data;
	struct conn *c;
	int fd;

	fd = accept4(fq->ctl_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->fq = fq;
	c->fd = fd;
	qmp_framer_init(&c->in, MAX_CMD_LINE);
	if (loop_add_io(fq->loop, fd, EPOLLIN, 0, on_ctl_io, c, &c->w) < 0) {
		close(fd);
		free(c);
		return;
	}
	c->next = fq->ctl_conns;
	fq->ctl_conns = c;
}

static void on_signal(struct loop_watch *w, int signo, void *data)
{
	struct fq *fq = data;

	loop_quit(fq->loop, 0);
}

static void usage(FILE *f)
{
	fputs("Usage: fakeqmp --dir DIR --ctl SOCK [--vms N] [--prefix P] [--mem SIZE]\n"
	      "               [--used SIZE] [--cache SIZE] [--speed SIZE]\n"
	      "               [--host DIR] [--limit SIZE] [--base SIZE] [--swap-max SIZE]\n"
	      "A fake QEMU (QMP balloon) for autoballoond's fault and scale tests.\n"
	      "See the comment at the top of tests/fakeqmp/fakeqmp.c.\n", f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "ctl", required_argument, NULL, 'c' },
		{ "vms", required_argument, NULL, 'n' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "mem", required_argument, NULL, 'm' },
		{ "used", required_argument, NULL, 'u' },
		{ "cache", required_argument, NULL, 'C' },
		{ "speed", required_argument, NULL, 's' },
		{ "host", required_argument, NULL, 'H' },
		{ "limit", required_argument, NULL, 'l' },
		{ "base", required_argument, NULL, 'b' },
		{ "swap-max", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct fq fq = {
		.ctl_fd = -1, .def_mem = 1024 * MIB, .def_used = 256 * MIB,
		.def_cache = 128 * MIB, .def_speed = 1024 * MIB,
		.limit = 4096 * MIB,
	};
	struct loop_watch *sigw = NULL;
	const char *prefix = "vm";
	unsigned long nvms = 0;
	char err[256];
	sigset_t sigs;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		uint64_t *size = NULL;

		switch (c) {
		case 'd':
			snprintf(fq.dir, sizeof(fq.dir), "%s", optarg);
			break;
		case 'c':
			snprintf(fq.ctl_path, sizeof(fq.ctl_path), "%s", optarg);
			break;
		case 'n':
			nvms = strtoul(optarg, NULL, 10);
			break;
		case 'p':
			prefix = optarg;
			break;
		case 'H':
			snprintf(fq.host_dir, sizeof(fq.host_dir), "%s", optarg);
			break;
		case 'm': size = &fq.def_mem; break;
		case 'u': size = &fq.def_used; break;
		case 'C': size = &fq.def_cache; break;
		case 's': size = &fq.def_speed; break;
		case 'l': size = &fq.limit; break;
		case 'b': size = &fq.base; break;
		case 'S': size = &fq.swap_max; break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (size && parse_size(optarg, size) < 0) {
			fprintf(stderr, "fakeqmp: bad size \"%s\"\n", optarg);
			return 2;
		}
	}
	if (!fq.dir[0] || !fq.ctl_path[0] || optind < argc) {
		usage(stderr);
		return 2;
	}
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	if (loop_new(&fq.loop) < 0)
		return 1;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	if (loop_add_signals(fq.loop, &sigs, on_signal, &fq, &sigw) < 0)
		return 1;
	for (unsigned long i = 0; i < nvms; i++) {
		char name[64];

		snprintf(name, sizeof(name), "%s%04lu", prefix, i);
		if (vm_add(&fq, name, NULL, 0, err, sizeof(err)) < 0) {
			fprintf(stderr, "fakeqmp: %s: %s\n", name, err);
			return 1;
		}
	}
	r = host_init(&fq);
	if (r < 0) {
		fprintf(stderr, "fakeqmp: host %s: %s\n", fq.host_dir, strerror(-r));
		return 1;
	}
	r = listen_unix(fq.ctl_path, &fq.ctl_fd);
	if (r == 0)
		r = loop_add_io(fq.loop, fq.ctl_fd, EPOLLIN, 0, on_ctl_accept, &fq, &fq.ctl_w);
	if (r == 0)
		r = loop_add_timer(fq.loop, TIMER_MS, TIMER_MS, on_timer, &fq, &fq.timer);
	if (r < 0) {
		fprintf(stderr, "fakeqmp: %s: %s\n", fq.ctl_path, strerror(-r));
		return 1;
	}
	r = loop_run(fq.loop);

	while (fq.ctl_conns)
		conn_close(&fq, fq.ctl_conns);
	while (fq.vms) {
		struct fvm *v = fq.vms;

		fq.vms = v->next;
		vm_drop_sessions(v);
		vm_stop_listening(v);
		if (v->linked)
			unlink(v->path);
		free(v);
	}
	loop_remove(fq.ctl_w);
	close(fq.ctl_fd);
	unlink(fq.ctl_path);
	loop_remove(fq.timer);
	loop_remove(sigw);
	loop_free(fq.loop);
	return r < 0 ? 1 : 0;
}
