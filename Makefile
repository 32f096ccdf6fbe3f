# autoballoon - top-level Makefile
#
#   make          build everything into build/
#   make check    run every test (unit + fault + fuzz smoke under ASan/UBSan,
#                 integration tests on real QEMU guests)
#   make demo     the main job: 4 guests in a memory-limited slice, with and
#                 without autoballoond, side by side
#   make bench    the benchmark matrix -> docs/benchmarks.md
#
# Every target first runs scripts/deps, which installs missing Debian packages.
# Each directory adds its own rules in its build.mk; this file holds the shared
# flags and the top-level targets.

.DEFAULT_GOAL := all
SHELL := /bin/bash
.DELETE_ON_ERROR:

B      := build
ASAN   := $(B)/asan
CC     := gcc

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wold-style-definition -Wpointer-arith -Wvla \
	-Wundef -Wcast-qual -Wimplicit-fallthrough -Wnull-dereference \
	-Wno-unused-parameter
BASE_CFLAGS := -std=gnu11 -g $(WARN) -D_GNU_SOURCE -Isrc -MMD -MP
CFLAGS      := $(BASE_CFLAGS) -O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2
SAN_CFLAGS  := $(BASE_CFLAGS) -O1 -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=all
SAN_LDFLAGS := -fsanitize=address,undefined
LIBS := -ljansson -linih -lmicrohttpd -lsystemd -lm

# Each build.mk appends to these.
PROGRAMS     :=
CHECK_STEPS  :=

.PHONY: all deps check demo bench clean
all:

deps:
	@scripts/deps

# `make V=1` shows the full commands.
ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-6s %s\n' $(1) $(2)
endif

# Objects: build/obj/<path>.o (release) and build/asan/obj/<path>.o (sanitized).
$(B)/obj/%.o: %.c | deps
	@mkdir -p $(@D)
	$(call msg,CC,$<)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<
$(ASAN)/obj/%.o: %.c | deps
	@mkdir -p $(@D)
	$(call msg,CC-SAN,$<)
	$(Q)$(CC) $(SAN_CFLAGS) -c -o $@ $<

obj  = $(patsubst %.c,$(B)/obj/%.o,$(1))
aobj = $(patsubst %.c,$(ASAN)/obj/%.o,$(1))

include src/build.mk
-include guest/build.mk
-include bench/build.mk
-include bench/bench.mk
-include tests/build.mk

all: $(PROGRAMS)

# `make check`: every step in CHECK_STEPS, fast ones first; a failing step
# fails check (after the others ran). Steps not named here run last.
CHECK_ORDER := check-unit check-fault check-fuzz check-lint check-valgrind check-module-sparse \
	check-guest check-daemon check-module check-faults-qemu check-bench
check: all
	@scripts/run-checks $(filter $(CHECK_STEPS),$(CHECK_ORDER)) \
		$(filter-out $(CHECK_ORDER),$(CHECK_STEPS))

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
