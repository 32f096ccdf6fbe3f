# tests/integration/hardening.mk - the shipped systemd unit lets the daemon
# do its job: contrib/autoballoond.service's confinement (capability bounding
# set, NoNewPrivileges, ProtectProc, reproduced without systemd by
# tests/integration/as-unit) against a QEMU running as another user.
#
#   make check-unit-hardening   1 small TCG guest, ~1 min. Needs root, setpriv,
#                               unshare and capsh, else skipped (exit 77).
#                               AB_UNIT=/lib/systemd/system/autoballoond.service
#                               tests an installed unit instead.
#       flock /tmp/autoballoon-qemu.lock make check-unit-hardening

HARDENING_ITEST := $(ASAN)/tests/integration/test_unit_hardening

$(call aobj,tests/integration/test_unit_hardening.c): SAN_CFLAGS += -Ibench

$(HARDENING_ITEST): $(call aobj,tests/integration/test_unit_hardening.c) $(ITEST_ALIB) \
		$(HX_ALIB) $(ALIB)
	@mkdir -p $(@D)
	$(CC) $(SAN_LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

.PHONY: check-unit-hardening
check-unit-hardening: $(HARDENING_ITEST) $(ASAN)/autoballoond $(GUEST_IMAGE)
	@scripts/run-tests unit-hardening $(HARDENING_ITEST)

PROGRAMS += $(HARDENING_ITEST)
CHECK_STEPS += check-unit-hardening
