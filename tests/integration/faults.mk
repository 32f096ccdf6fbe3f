# tests/integration/faults.mk - faults real QEMU can produce (issue 5):
# slice limit lowered/raised at run time, the daemon SIGKILLed and restarted
# (re-adoption, min restored), a QEMU SIGKILLed while being inflated, swap
# full. ASan daemon, 4 small guests, ~1.5-4 min. Needs root and memory
# cgroups, else skipped (exit 77). Take /tmp/autoballoon-qemu.lock first.

FAULTS_ITEST := $(ASAN)/tests/integration/test_faults

$(call aobj,tests/integration/test_faults.c): SAN_CFLAGS += -Ibench

$(FAULTS_ITEST): $(call aobj,tests/integration/test_faults.c) $(HX_ALIB) $(ALIB)
	@mkdir -p $(@D)
	$(call msg,LD-SAN,$@)
	$(Q)$(CC) $(SAN_LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

.PHONY: check-faults-qemu
check-faults-qemu: $(FAULTS_ITEST) $(ASAN)/autoballoond $(GUEST_IMAGE)
	@scripts/run-tests faults-qemu $(FAULTS_ITEST)

CHECK_STEPS += check-faults-qemu
