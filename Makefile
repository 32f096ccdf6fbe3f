# autoballoon - top-level Makefile
#
#   make              build/autoballoond and build/autoballoonctl (installs no
#                     package: a missing build dependency is named, with the
#                     Debian package that has it)
#   make install      those two, their man pages, the example configuration,
#                     the systemd unit
#   make deb          the Debian packages autoballoon and autoballoon-dkms in
#                     build/deb/ (debian/, scripts/build-deb), lintian-checked
#   make check        every test (unit + fault + fuzz smoke under ASan/UBSan,
#                     lint, integration tests on real QEMU guests)
#   make demo         the main job: 4 guests in a memory-limited slice, with and
#                     without autoballoond, side by side
#   make bench        the benchmark matrix -> docs/benchmarks.md
#   make programs     everything the tree builds: test programs, the bench,
#                     the guest image and module (needs the check packages)
#
# Dependencies (Debian 12 packages; the lists are in scripts/deps):
#   make build-deps   install the missing build packages: compiler, -dev libraries
#   make deps         install every missing package: build + check (QEMU, guest
#                     kernel, busybox, clang, valgrind, sparse, jq, ...) + deb
#                     (debhelper, dkms, lintian)
# Both need root. Before compiling, `make`, `make all`, `make install` and
# build/... targets only look for the build dependencies (scripts/deps probe);
# every other goal (check, check-*, demo, bench, lint, programs, ...) first
# installs what is missing (scripts/deps all), so that on a fresh Debian 12
# machine `make check` and `make demo` need nothing done before.
# INSTALL_DEPS=no|yes overrides that choice.
#
# Variables for packagers:
#   CC                 compiler (default gcc; make's built-in cc is not used)
#   CFLAGS             default -g -O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2
#   CPPFLAGS, LDFLAGS  empty by default
#                      The three come after the project's own flags (-std, the
#                      warnings, -I, -D) and apply to the release build (build/obj).
#                      The ASan/UBSan and fuzz builds of the tests keep their own.
#   WERROR=0           warnings do not fail the build (default: -Werror)
#   VERSION            default `git describe --tags --always --dirty`, outside a
#                      git checkout the VERSION file; autoballoond --version and
#                      autoballoonctl --version print it
#   DESTDIR, PREFIX, SYSTEMDUNITDIR, MANDIR    make install (src/build.mk,
#                      man/build.mk)
#   V=1                show the full commands
#
# Each directory adds its own rules in its build.mk; this file holds the shared
# flags and the top-level targets.

.DEFAULT_GOAL := all
SHELL := /bin/bash
.DELETE_ON_ERROR:

B      := build
ASAN   := $(B)/asan

ifeq ($(origin CC),default)
CC := gcc
endif
# _FORTIFY_SOURCE goes with the optimisation (glibc warns without -O), so
# CFLAGS=-O0 drops both.
CFLAGS ?= -g -O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2
WERROR ?= 1

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wold-style-definition -Wpointer-arith -Wvla \
	-Wundef -Wcast-qual -Wimplicit-fallthrough -Wnull-dereference \
	-Wno-unused-parameter
ifneq ($(WERROR),0)
WARN += -Werror
endif
# The project's own flags; a build.mk adds include directories per object
# with `$(call obj,...): AB_CPPFLAGS += -Idir`.
AB_CPPFLAGS := -D_GNU_SOURCE -Isrc
AB_CFLAGS   := -std=gnu11 $(WARN) -MMD -MP
SAN_CFLAGS  := -g -O1 -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=all
SAN_LDFLAGS := -fsanitize=address,undefined
LIBS := -ljansson -linih -lmicrohttpd -lsystemd -lvirt -lm
# Link a release program: $(LINK) -o $@ $^ $(LIBS)
LINK = $(CC) $(CFLAGS) $(LDFLAGS)

VERSION := $(or $(shell test -e .git && git describe --tags --always --dirty 2>/dev/null),$(shell cat VERSION))

# Each build.mk appends to these.
PROGRAMS     :=
CHECK_STEPS  :=

.PHONY: all programs deps build-deps deps-ready check demo bench clean FORCE
all:
FORCE:

deps:
	@scripts/deps all
build-deps:
	@scripts/deps build

# Every compile waits for deps-ready (order-only): see the head of this file.
ifeq ($(filter-out all install clean $(B)/%,$(MAKECMDGOALS)),)
INSTALL_DEPS ?= no
else
INSTALL_DEPS ?= yes
endif
deps-ready:
ifeq ($(INSTALL_DEPS),no)
	@CC='$(CC)' CPPFLAGS='$(CPPFLAGS)' scripts/deps probe
else
	@scripts/deps all
endif

# `make V=1` shows the full commands.
ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-6s %s\n' $(1) $(2)
endif

# Objects: build/obj/<path>.o (release) and build/asan/obj/<path>.o (sanitized).
$(B)/obj/%.o: %.c | deps-ready
	@mkdir -p $(@D)
	$(call msg,CC,$<)
	$(Q)$(CC) $(AB_CPPFLAGS) $(AB_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<
$(ASAN)/obj/%.o: %.c | deps-ready
	@mkdir -p $(@D)
	$(call msg,CC-SAN,$<)
	$(Q)$(CC) $(AB_CPPFLAGS) $(AB_CFLAGS) $(SAN_CFLAGS) -c -o $@ $<

obj  = $(patsubst %.c,$(B)/obj/%.o,$(1))
aobj = $(patsubst %.c,$(ASAN)/obj/%.o,$(1))

include src/build.mk
include man/build.mk
-include guest/build.mk
-include bench/build.mk
-include bench/bench.mk
-include tests/build.mk

all: $(B)/autoballoond $(B)/autoballoonctl
programs: $(PROGRAMS)

# `make check`: every step in CHECK_STEPS, fast ones first; a failing step
# fails check (after the others ran). Steps not named here run last.
CHECK_ORDER := check-unit check-fault check-fuzz check-lint check-deb check-valgrind \
	check-module-sparse check-guest check-daemon check-unit-hardening check-libvirt \
	check-module check-faults-qemu check-bench
check: programs
	@scripts/run-checks $(filter $(CHECK_STEPS),$(CHECK_ORDER)) \
		$(filter-out $(CHECK_ORDER),$(CHECK_STEPS))

clean:
	rm -rf $(B)

# `make deb`: build/deb/autoballoon_V_ARCH.deb and autoballoon-dkms_V_all.deb,
# built by dpkg-buildpackage in a copy of the tree (scripts/build-deb).
.PHONY: deb
deb: | deps-ready
	@VERSION='$(VERSION)' scripts/build-deb $(B)/deb

-include $(shell find $(B) -name '*.d' 2>/dev/null)
