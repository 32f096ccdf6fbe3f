# guest/module/build.mk - virtio_autoballoon.ko, included by guest/build.mk.
#
#   build/guest/module/virtio_autoballoon.ko   built against the guest kernel's
#                                              headers (GUEST_KVER), not uname -r
#   make check-module-sparse                   the same build under sparse (C=2);
#                                              any compiler or sparse warning fails
#
# The sources are copied to build/guest/module*/ first: the source tree stays
# free of Kbuild's products.

GUEST_KVER ?= $(shell guest/image/guest-kver)
GUEST_MODULE_SRCS := guest/module/Kbuild $(wildcard guest/module/*.c guest/module/*.h)
GUEST_MODULE_DIR := $(B)/guest/module
GUEST_MODULE_KO := $(GUEST_MODULE_DIR)/virtio_autoballoon.ko
GUEST_KBUILD = /lib/modules/$(GUEST_KVER)/build

# Kbuild must not see the top Makefile's command-line variables or flags.
vab_kmake = env -u MAKEFLAGS -u MFLAGS -u MAKEOVERRIDES make

$(GUEST_MODULE_KO): $(GUEST_MODULE_SRCS) | deps-ready
	@v='$(GUEST_KVER)'; [ -n "$$v" ] && [ -d "$(GUEST_KBUILD)" ] || \
		{ echo "module: no headers for guest kernel '$$v' (linux-headers-amd64)" >&2; exit 1; }
	@rm -rf $(GUEST_MODULE_DIR) && mkdir -p $(GUEST_MODULE_DIR)
	cp $(GUEST_MODULE_SRCS) $(GUEST_MODULE_DIR)/
	$(vab_kmake) -C $(GUEST_KBUILD) M=$(abspath $(GUEST_MODULE_DIR)) modules

.PHONY: guest-module check-module-sparse
guest-module: $(GUEST_MODULE_KO)

check-module-sparse: | deps-ready
	@rm -rf $(B)/guest/module-sparse && mkdir -p $(B)/guest/module-sparse
	@cp $(GUEST_MODULE_SRCS) $(B)/guest/module-sparse/
	@$(vab_kmake) -C $(GUEST_KBUILD) M=$(abspath $(B)/guest/module-sparse) C=2 modules \
		> $(B)/guest/module-sparse.log 2>&1 || { cat $(B)/guest/module-sparse.log; exit 1; }
	@if grep -E ': (warning|error):' $(B)/guest/module-sparse.log; then \
		echo "check-module-sparse: FAIL (see above)"; exit 1; fi
	@echo "check-module-sparse: sparse and gcc clean ($$(grep -c CHECK $(B)/guest/module-sparse.log) files checked)"

PROGRAMS += $(GUEST_MODULE_KO)
CHECK_STEPS += check-module-sparse
