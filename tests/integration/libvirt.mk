# tests/integration/libvirt.mk - the libvirt backend on a real libvirtd
# (starts virtlogd and libvirtd itself when none answers, and stops them).
#
#   flock /tmp/autoballoon-qemu.lock make check-libvirt

.PHONY: check-libvirt
check-libvirt: $(ASAN)/autoballoond $(B)/autoballoonctl $(GUEST_IMAGE)
	@mkdir -p $(B)/run
	@tests/integration/test-libvirt $(ASAN)/autoballoond $(B)/autoballoonctl \
		$(abspath $(B)/guest) $(abspath $(B)/run)

CHECK_STEPS += check-libvirt
