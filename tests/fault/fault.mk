# tests/fault/fault.mk - the fault suite: autoballoond (ASan+UBSan build) as
# a whole process against fakeqmp (tests/fakeqmp), which plays QEMU for
# faults real QEMU cannot be made to produce. Needs no root and no QEMU.
#
#   make check-fault    every tests/fault/test_*.c program, in parallel (~50 s)

FAULT_LIB_SRCS := tests/fault/fault.c
FAULT_ALIB     := $(ASAN)/libfault.a
FAULT_SRCS     := $(wildcard tests/fault/test_*.c)
FAULT_BINS     := $(patsubst tests/fault/%.c,$(ASAN)/tests/fault/%,$(FAULT_SRCS))

$(call aobj,$(FAULT_LIB_SRCS) $(FAULT_SRCS) tests/fault/valgrind_daemon.c): SAN_CFLAGS += -Ibench -Itests/fakeqmp

$(FAULT_ALIB): $(call aobj,$(FAULT_LIB_SRCS))
	@mkdir -p $(@D)
	$(Q)ar rcs $@ $^

$(ASAN)/tests/fault/%: $(ASAN)/obj/tests/fault/%.o $(FAULT_ALIB) $(FQ_ALIB) $(HX_ALIB) $(ALIB)
	@mkdir -p $(@D)
	$(call msg,LD-SAN,$@)
	$(Q)$(CC) $(SAN_LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

.PHONY: check-fault
check-fault: $(FAULT_BINS) $(FAKEQMP_ASAN) $(ASAN)/autoballoond $(ASAN)/autoballoonctl
	@tests/fault/run-parallel fault $(FAULT_BINS)

CHECK_STEPS += check-fault

# One whole daemon run (release build) under valgrind memcheck, against
# fakeqmp (release build): no error, no leak.
VALGRIND_TEST := $(ASAN)/tests/fault/valgrind_daemon

.PHONY: check-valgrind
check-valgrind: $(VALGRIND_TEST) $(FAKEQMP_ASAN) $(B)/autoballoond
	@scripts/run-tests valgrind $(VALGRIND_TEST)

CHECK_STEPS += check-valgrind

# Scale: 100 and 1,000 fake VMs at a 1 s tick (release daemon and fake).
# Prints the figures and appends them to build/scale.txt; not part of make
# check (~3 min). docs/reliability.md has the latest.
SCALE_BIN := $(ASAN)/tests/fault/scale
SCALE_N   ?= 100 1000
SCALE_SECS ?= 30

$(call aobj,tests/fault/scale.c): SAN_CFLAGS += -Ibench -Itests/fakeqmp

.PHONY: scale
scale: $(SCALE_BIN) $(FAKEQMP) $(B)/autoballoond
	@rc=0; for n in $(SCALE_N); do $(SCALE_BIN) $$n $(SCALE_SECS) || rc=1; done; exit $$rc
