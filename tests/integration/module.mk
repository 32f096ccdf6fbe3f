# tests/integration/module.mk - virtio_autoballoon.ko on real TCG guests (issue 3).
#
#   build/guest/workloads/vab-check        guest side (static; the image picks up
#                                          every program in build/guest/workloads/)
#   build/tests/integration/test_module    host side: harness + QMP
#   make check-module                      run it (boots 10 guests, ~5 min under TCG;
#                                          take /tmp/autoballoon-qemu.lock first;
#                                          the tight-*-daemon cases run
#                                          build/autoballoond)

VAB_CHECK_SRC := tests/integration/guest/vab-check.c
VAB_CHECK_BIN := $(B)/guest/workloads/vab-check
TEST_MODULE_SRC := tests/integration/test_module.c
TEST_MODULE := $(B)/tests/integration/test_module

$(call obj,$(VAB_CHECK_SRC)): AB_CPPFLAGS += -Iguest/workloads
$(VAB_CHECK_BIN): $(call obj,$(VAB_CHECK_SRC)) $(WORKLOAD_LIB)
	@mkdir -p $(@D)
	$(LINK) -static -o $@ $^
$(GUEST_DIR)/initrd.img: $(VAB_CHECK_BIN)

$(call obj,$(TEST_MODULE_SRC)): AB_CPPFLAGS += -Ibench
$(TEST_MODULE): $(call obj,$(TEST_MODULE_SRC)) $(HX_LIB) $(LIB)
	@mkdir -p $(@D)
	$(LINK) -o $@ $^ $(LIBS)

.PHONY: check-module
check-module: $(TEST_MODULE) $(GUEST_IMAGE) $(GUEST_MODULE_KO) $(B)/autoballoond
	@scripts/run-tests integration $(TEST_MODULE)

PROGRAMS += $(VAB_CHECK_BIN) $(TEST_MODULE)
CHECK_STEPS += check-module
