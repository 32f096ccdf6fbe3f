# guest/build.mk - the test guest: workloads and the initramfs image.
#
#   build/guest/workloads/<name>   static workload binaries
#   build/guest/vmlinuz            the guest kernel (copy of /boot/vmlinuz-$(GUEST_KVER))
#   build/guest/vmlinux            the same, uncompressed, when it is PVH-bootable: the
#                                  harness boots it directly (saves ~3 s per TCG boot)
#   build/guest/initrd.img         initramfs: busybox, /init, virtio modules, workloads
#                                  (+ virtio_autoballoon.ko when guest/module/build.mk
#                                  defines GUEST_MODULE_KO)
#
# GUEST_KVER / GUEST_KERNEL: the Debian kernel booted in guests (newest version with
# both /boot/vmlinuz-X and /lib/modules/X/build); exported for the module build.

GUEST_DIR := $(B)/guest

GUEST_KVER := $(shell guest/image/guest-kver)
ifeq ($(GUEST_KVER),)
# Not installed yet (deps-ready installs it first): look again when a recipe needs it.
GUEST_KVER = $(shell guest/image/guest-kver)
endif
GUEST_KERNEL = /boot/vmlinuz-$(GUEST_KVER)
export GUEST_KVER GUEST_KERNEL

WORKLOADS := build spike cache-stream anon-churn hold idle
WORKLOAD_BINS := $(addprefix $(GUEST_DIR)/workloads/,$(WORKLOADS))
WORKLOAD_LIB := $(call obj,guest/workloads/ablib.c)

$(GUEST_DIR)/workloads/%: $(B)/obj/guest/workloads/%.o $(WORKLOAD_LIB)
	@mkdir -p $(@D)
	$(LINK) -static -o $@ $^

.SECONDARY: $(WORKLOAD_LIB) $(call obj,$(addprefix guest/workloads/,$(addsuffix .c,$(WORKLOADS))))

# The module helper's fragment defines GUEST_MODULE_KO and its rule.
-include guest/module/build.mk

# Rebuild the image when the guest kernel version changes.
$(GUEST_DIR)/kver: FORCE | deps-ready
	@mkdir -p $(@D)
	@v='$(GUEST_KVER)'; [ -n "$$v" ] || { echo "guest: no kernel with headers (linux-image-amd64 + linux-headers-amd64)" >&2; exit 1; }; \
	[ "$$(cat $@ 2>/dev/null)" = "$$v" ] || echo "$$v" > $@

$(GUEST_DIR)/vmlinuz: $(GUEST_DIR)/kver guest/image/extract-vmlinux.sh
	cp /boot/vmlinuz-$$(cat $<) $@.tmp
	guest/image/extract-vmlinux.sh $@.tmp $(GUEST_DIR)/vmlinux
	mv $@.tmp $@

$(GUEST_DIR)/initrd.img: $(GUEST_DIR)/kver guest/image/mkimage.sh guest/image/init \
		$(WORKLOAD_BINS) $(GUEST_MODULE_KO)
	guest/image/mkimage.sh $$(cat $(GUEST_DIR)/kver) $@ $(GUEST_DIR)/workloads $(GUEST_MODULE_KO)

GUEST_IMAGE := $(GUEST_DIR)/vmlinuz $(GUEST_DIR)/initrd.img

.PHONY: guest-image
guest-image: $(GUEST_IMAGE)

PROGRAMS += $(WORKLOAD_BINS) $(GUEST_IMAGE)
