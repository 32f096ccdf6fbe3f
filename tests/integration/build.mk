# tests/integration/build.mk - tests on real QEMU guests.
#
#   make check-guest   the harness library + guest image on QEMU (boots 3 small
#                      guests under TCG, ~1 min). Needs root and memory cgroups,
#                      else it is skipped (exit 77). It takes no lock itself:
#                      while developing, run it as
#                          flock /tmp/autoballoon-qemu.lock make check-guest

HX_TEST_HARNESS := $(ASAN)/tests/integration/test_harness

$(call aobj,tests/integration/test_harness.c): SAN_CFLAGS += -Ibench

$(HX_TEST_HARNESS): $(call aobj,tests/integration/test_harness.c) $(HX_ALIB) $(ALIB)
	@mkdir -p $(@D)
	$(CC) $(SAN_LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

.PHONY: check-guest
check-guest: $(HX_TEST_HARNESS) $(GUEST_IMAGE)
	@scripts/run-tests guest $(HX_TEST_HARNESS)

CHECK_STEPS += check-guest
