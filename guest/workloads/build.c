/* build - a build-like workload: staggered start, then rounds like the
 * directories of a tree: read this round's part of the "source tree" from the
 * data disk into the page cache, run compile jobs in parallel (each
 * allocates, touches and computes over anonymous memory and re-reads its part
 * of the round's sources), then "link": write output to the data disk's
 * output region. Sources of earlier rounds and written outputs stay in the
 * page cache unused, as in a real build; hot=1 re-reads the whole tree every
 * round instead (everything stays hot).
 *
 * Options (positional order): delay src jobs total anon_min anon_max out
 * rounds passes compute seed. See --help.
 *
 * Lines: AB phase name=delay-done|read|compile|link ..., AB job ...,
 *        AB result workload=build runtime_ms=N (start delay excluded) ...
 */
#include "ablib.h"

#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define NAME "build"

struct build_cfg {
	uint64_t src_bytes, out_bytes, anon_min, anon_max;
	unsigned jobs, total, rounds, passes, compute;
	uint64_t seed;
	bool hot;
	uint64_t round_off, round_bytes;	/* this round's part of the tree */
};

static void run_job(struct ab_disk *d, const struct build_cfg *c,
		    unsigned round, unsigned id)
{
	struct ab_rng r;
	ab_rng_seed(&r, c->seed * 1000003u + round * 1009u + id);
	uint64_t mib = ab_rng_range(&r, c->anon_min, c->anon_max);
	uint64_t bytes = mib * AB_MIB;
	uint64_t t0 = ab_now_ms();
	/* this job's share of the round's sources, re-read between passes */
	uint64_t share = c->round_bytes / c->total;
	uint64_t share_off = c->round_off + share * id;

	void *p = ab_anon_alloc(NAME, bytes);
	struct ab_touch_stats ts;
	ab_anon_touch(p, bytes, ab_rng_next(&r), &ts);
	uint64_t sum = 0;
	for (unsigned pass = 1; pass < c->passes; pass++) {
		if (share)
			ab_disk_read(NAME, d, share_off, share, d->src_bytes);
		sum += ab_anon_compute(p, bytes, c->compute);
	}
	ab_anon_free(p, bytes);
	ab_emit("job", "round=%u id=%u anon_mib=%" PRIu64 " ms=%" PRIu64
		" touch_ms=%" PRIu64 " max_chunk_ms=%" PRIu64 " sum=%04x",
		round, id, mib, ab_now_ms() - t0, ts.ms, ts.max_chunk_ms,
		(unsigned)(sum & 0xffff));
}

/* Runs `total` jobs, at most `jobs` at a time. Returns the number that failed. */
static unsigned compile(struct ab_disk *d, const struct build_cfg *c,
			unsigned round)
{
	unsigned started = 0, running = 0, failed = 0;
	while (started < c->total || running > 0) {
		while (running < c->jobs && started < c->total) {
			fflush(stdout);
			pid_t pid = fork();
			if (pid < 0)
				ab_die(NAME, "fork failed");
			if (pid == 0) {
				run_job(d, c, round, started);
				_exit(0);
			}
			started++;
			running++;
		}
		int st;
		pid_t w = wait(&st);
		if (w < 0)
			ab_die(NAME, "wait failed");
		running--;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			failed++;
			ab_emit("job-failed", "round=%u status=%s%d", round,
				WIFSIGNALED(st) ? "sig" : "",
				WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		}
	}
	return failed;
}

int main(int argc, char **argv)
{
	struct ab_opt opts[] = {
		{ "delay", 0, "start delay (stagger), s" },
		{ "src", 128, "source tree MiB read from the data disk" },
		{ "jobs", 2, "parallel jobs" },
		{ "total", 8, "jobs per round" },
		{ "anon_min", 50, "per-job anon MiB, lower bound" },
		{ "anon_max", 150, "per-job anon MiB, upper bound" },
		{ "out", 32, "output MiB written per round" },
		{ "rounds", 4, "rounds (read, compile, link)" },
		{ "passes", 4, "passes over each job's memory (touch + compute)" },
		{ "compute", 16, "mixing steps per 64-byte line per pass" },
		{ "seed", 1, "PRNG seed" },
		{ "hot", 0, "1 = re-read the whole tree every round" },
		{ NULL, 0, NULL },
	};
	ab_parse_opts(NAME, argc, argv, opts);
	struct build_cfg c = {
		.src_bytes = (uint64_t)ab_opt(opts, "src") * AB_MIB,
		.out_bytes = (uint64_t)ab_opt(opts, "out") * AB_MIB,
		.anon_min = (uint64_t)ab_opt(opts, "anon_min"),
		.anon_max = (uint64_t)ab_opt(opts, "anon_max"),
		.jobs = (unsigned)ab_opt(opts, "jobs"),
		.total = (unsigned)ab_opt(opts, "total"),
		.rounds = (unsigned)ab_opt(opts, "rounds"),
		.passes = (unsigned)ab_opt(opts, "passes"),
		.compute = (unsigned)ab_opt(opts, "compute"),
		.seed = (uint64_t)ab_opt(opts, "seed"),
		.hot = ab_opt(opts, "hot") != 0,
	};
	if (c.jobs < 1)
		c.jobs = 1;
	if (c.total < 1)
		c.total = 1;
	if (c.passes < 1)
		c.passes = 1;
	if (c.anon_max < c.anon_min)
		c.anon_max = c.anon_min;

	uint64_t delay_ms = (uint64_t)ab_opt(opts, "delay") * 1000u;
	ab_sleep_ms(delay_ms);
	ab_emit("phase", "name=delay-done delay_ms=%" PRIu64, delay_ms);

	struct ab_disk d;
	ab_disk_open(NAME, &d);
	if (c.src_bytes > d.src_bytes)
		c.src_bytes = d.src_bytes;

	uint64_t start = ab_now_ms();
	uint64_t read_ms = 0, compile_ms = 0, link_ms = 0;
	unsigned failed = 0;
	for (unsigned round = 0; round < c.rounds; round++) {
		uint64_t t = ab_now_ms();
		if (c.hot) {
			c.round_off = 0;
			c.round_bytes = c.src_bytes;
		} else {
			c.round_bytes = c.src_bytes / c.rounds;
			c.round_off = c.round_bytes * round;
		}
		ab_disk_read(NAME, &d, c.round_off, c.round_bytes, d.src_bytes);
		uint64_t dt = ab_now_ms() - t;
		read_ms += dt;
		ab_emit("phase", "name=read round=%u ms=%" PRIu64 " mib=%" PRIu64,
			round, dt, c.round_bytes / AB_MIB);

		t = ab_now_ms();
		unsigned f = compile(&d, &c, round);
		failed += f;
		dt = ab_now_ms() - t;
		compile_ms += dt;
		ab_emit("phase", "name=compile round=%u ms=%" PRIu64
			" jobs=%u failed=%u", round, dt, c.total, f);

		t = ab_now_ms();
		if (c.out_bytes)
			ab_disk_write_out(NAME, &d, round * c.out_bytes,
					  c.out_bytes, c.seed + round);
		dt = ab_now_ms() - t;
		link_ms += dt;
		ab_emit("phase", "name=link round=%u ms=%" PRIu64 " mib=%" PRIu64,
			round, dt, c.out_bytes / AB_MIB);
	}
	ab_result(NAME, start,
		  "delay_ms=%" PRIu64 " read_ms=%" PRIu64 " compile_ms=%" PRIu64
		  " link_ms=%" PRIu64 " rounds=%u jobs_total=%u jobs_failed=%u",
		  delay_ms, read_ms, compile_ms, link_ms, c.rounds,
		  c.rounds * c.total, failed);
	return failed ? 1 : 0;
}
