# tests/integration/daemon.mk - autoballoond against real QEMU guests.
#
#   make check-daemon   2 scenarios, 3 small TCG guests, ~2-3 min. Needs root
#                       and memory cgroups, else skipped (exit 77).

ITEST_LIB_SRCS := tests/integration/itest.c
ITEST_ALIB     := $(ASAN)/libitest.a
DAEMON_ITEST   := $(ASAN)/tests/integration/test_daemon

$(call aobj,$(ITEST_LIB_SRCS) tests/integration/test_daemon.c): SAN_CFLAGS += -Ibench

$(ITEST_ALIB): $(call aobj,$(ITEST_LIB_SRCS))
	@mkdir -p $(@D)
	ar rcs $@ $^

$(DAEMON_ITEST): $(call aobj,tests/integration/test_daemon.c) $(ITEST_ALIB) $(HX_ALIB) $(ALIB)
	@mkdir -p $(@D)
	$(CC) $(SAN_LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

.PHONY: check-daemon
check-daemon: $(DAEMON_ITEST) $(ASAN)/autoballoond $(ASAN)/autoballoonctl $(GUEST_IMAGE)
	@scripts/run-tests daemon $(DAEMON_ITEST)

CHECK_STEPS += check-daemon
