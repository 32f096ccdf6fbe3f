# bench/bench.mk - autoballoon-bench, `make demo`, `make bench`, check-bench.
#
#   build/autoballoon-bench   the benchmark runner (bench/bench*.c + the harness
#                             library + libautoballoon's QMP client)
#   make demo                 4 x 512 MiB guests running `build` in a 1.5 GiB
#                             slice, without and with autoballoond (< 6 min)
#   make bench                the matrix: scenarios x modes x 3 reps, then
#                             docs/benchmarks.md + PNG plots (hours on 2 cores)
#   make bench-report         docs/benchmarks.md again from every scenario's
#                             results in build/bench (no run)
#   make check-bench          smoke run: 2 guests, none + auto, 1 rep (< 3 min)
#
# Anything here boots QEMU and takes no lock itself; while developing run it as
#     flock /tmp/autoballoon-qemu.lock make demo

BENCH_SRCS := bench/bench.c bench/bench_run.c bench/bench_guest.c bench/bench_sample.c \
	bench/bench_results.c bench/bench_demo.c bench/bench_image.c bench/bench_scenario.c \
	bench/bench_report.c bench/bench_targets.c bench/bench_tables.c bench/bench_plot.c
BENCH      := $(B)/autoballoon-bench

$(call obj,$(BENCH_SRCS)): AB_CPPFLAGS += -Ibench

$(BENCH): $(call obj,$(BENCH_SRCS)) $(HX_LIB) $(LIB)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(LINK) -o $@ $^ $(LIBS)

PROGRAMS += $(BENCH)

DEMO_OUT ?= $(B)/demo
demo: programs
	$(BENCH) --demo --scenario demo --mode fpr,auto --reps 1 --out $(DEMO_OUT)

BENCH_OUT       ?= $(B)/bench
BENCH_SCENARIOS ?= seed-small seed-fit spike cache-stream anon-churn
BENCH_MODES     ?= unpressured,none,fpr,static,proxmox,mom,auto,auto+guest
BENCH_REPS      ?= 3
# Where host swap and the guests' disks live (bench/README.md, storage profiles).
BENCH_STORAGE   ?= ssd
# Prefix for every bench invocation, e.g. BENCH_WRAP='flock /tmp/autoballoon-qemu.lock'
# on a shared machine: the lock is then taken per scenario, not for hours.
BENCH_WRAP      ?=
# The command written into docs/benchmarks.md names every variable overridden.
bench_overrides = $(foreach v,BENCH_SCENARIOS BENCH_MODES BENCH_REPS BENCH_STORAGE BENCH_WRAP,$(if \
	$(filter command line environment,$(origin $(v))), $(v)='$(strip $($(v)))'))
# The source revision the binaries are built from, named in the report.
bench_rev := $(shell git describe --always --dirty 2>/dev/null)
# The binaries are copied first: a `make` elsewhere in the tree during the
# hours of the matrix must not change the daemon between modes.
# One invocation per scenario runs the repetitions interleaved (rep 1 of
# every mode, then rep 2, ...): a machine that drifts over the hours then
# slows every mode alike instead of the modes that happen to run last.
bench: programs
	rm -rf $(addprefix $(BENCH_OUT)/,$(BENCH_SCENARIOS) bin)
	mkdir -p $(BENCH_OUT)/bin
	cp $(BENCH) $(B)/autoballoond $(B)/autoballoonctl $(BENCH_OUT)/bin/
	@set -e; for s in $(BENCH_SCENARIOS); do \
		AB_SOURCE_REV='$(bench_rev)' $(BENCH_WRAP) \
			$(BENCH_OUT)/bin/autoballoon-bench --scenario $$s --mode '$(BENCH_MODES)' \
			--reps $(BENCH_REPS) --storage $(BENCH_STORAGE) --status-every 0 --keep \
			--out $(BENCH_OUT)/$$s; \
	done
	$(BENCH_OUT)/bin/autoballoon-bench --report $(addprefix $(BENCH_OUT)/,$(BENCH_SCENARIOS)) \
		--md docs/benchmarks.md --plots docs/benchmarks \
		--command "make bench$(if $(strip $(bench_overrides)), $(strip $(bench_overrides)))"

# Rewrite docs/benchmarks.md from every scenario's results in $(BENCH_OUT)
# (e.g. after `make bench BENCH_SCENARIOS=...` runs done one after the other);
# each scenario's section names the run that produced it and its date.
BENCH_REPORT_SCENARIOS ?= seed-small seed-fit spike cache-stream anon-churn seed
bench-report: $(BENCH)
	$(BENCH) --report $(patsubst %/summary.json,%,$(wildcard $(addprefix $(BENCH_OUT)/,$(addsuffix /summary.json,$(BENCH_REPORT_SCENARIOS))))) \
		--md docs/benchmarks.md --plots docs/benchmarks --command "make bench-report"

# check-bench on storage ssd: swap-out writes (a bio a page or a few) and the
# guests' image reads both counted by the throttle
SSD_CHECK := .storage == "ssd" and .io_read_ops > 0 and .io_write_ops > 0 and \
	.host_swap_out_pages > 0 and .io_write_ops >= .host_swap_out_pages / 8 and \
	.guests_disk_read_bytes > 0 and .io_read_bytes >= .guests_disk_read_bytes
SSD_SHOW  := {storage, io_read_ops, io_write_ops, io_read_bytes, host_swap_out_pages, \
	guests_disk_read_bytes}

.PHONY: bench-report check-bench
check-bench: $(BENCH) $(B)/autoballoond $(B)/autoballoonctl $(GUEST_IMAGE)
	$(BENCH) --check --scenario smoke --mode none,auto --reps 1 --guests 2 \
		--status-every 10 --out $(B)/check-bench
	@# --keep (make bench, bench/ab): a second auto run is numbered after the first
	$(BENCH) --check --scenario smoke --mode auto --reps 1 --guests 2 --keep \
		--status-every 10 --out $(B)/check-bench
	@test -f $(B)/check-bench/runs/auto-1.json && test -f $(B)/check-bench/runs/auto-2.json && \
		jq -e '.modes.auto.runs == 2 and .modes.none.runs == 1' \
			$(B)/check-bench/summary.json >/dev/null || \
		{ echo "check-bench: --keep did not keep the first auto run" >&2; exit 1; }
	@# --storage ssd: the host's swap and the guests' reads go through the throttle.
	@# Mode none and a slice well below what two booted guests touch, so the host
	@# swaps on any machine (smoke's own 480 MiB is borderline: a fast run fits).
	$(BENCH) --check --scenario smoke --mode none --reps 1 --guests 2 --storage ssd \
		--slice-mem 300 --status-every 0 --out $(B)/check-bench-ssd
	@jq -e '$(SSD_CHECK)' $(B)/check-bench-ssd/runs/none-1.json >/dev/null || \
		{ echo "check-bench: storage ssd: swap or disk reads missed the throttle" >&2; \
		  jq '$(SSD_SHOW)' $(B)/check-bench-ssd/runs/none-1.json >&2; exit 1; }
	@# bench/ab: arm B's daemon gets the setting, arm A's does not; both in the report
	AB_BENCH=$(BENCH) bench/ab --modes auto --reps 1 --out $(B)/check-ab smoke policy.boot_room=no
	@grep -qx 'boot_room = no' $(B)/check-ab/B/runs/auto-1/daemon.conf && \
		! grep -q boot_room $(B)/check-ab/A/runs/auto-1/daemon.conf && \
		grep -q '^## smoke-A' $(B)/check-ab/ab.md && grep -q '^## smoke-B' $(B)/check-ab/ab.md || \
		{ echo "check-bench: bench/ab did not run the two arms as asked" >&2; exit 1; }

CHECK_STEPS += check-bench
